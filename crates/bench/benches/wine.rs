//! `cargo bench -p lanward-bench --bench wine`: the release Windows agent,
//! cross-built with mingw: its size, and how long `lanward-agent.exe
//! collect` takes under Wine in a prepared prefix (seeded like a bureau PC
//! with `tests/wine/seed.reg`). Prints a Markdown table.
//!
//! Wine is not Windows: registry and WMI calls go to wineserver and Wine's
//! builtin WMI, so the figures say "small and quick enough", not what a
//! bureau PC will measure. Knob: LANWARD_BENCH_WINE_RUNS (default 5).
//! Skipped (with a message) when Wine or mingw is missing.

#[path = "../../../tests/wine/harness.rs"]
mod harness;

use harness::{windows_path, Tools, Wine};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SIZE_TARGET_MB: f64 = 10.0;
const WALL_TARGET_S: f64 = 2.0;

/// `<target>/release/deps/wine-…` → `<target>`, so the nested build shares it.
fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors().nth(3).map(Path::to_path_buf).ok_or_else(|| anyhow::anyhow!("no target dir above {}", exe.display()))
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system) of every live process of this prefix
/// (wineserver, services.exe, …), by pid, from /proc.
fn prefix_cpu(prefix: &Path) -> std::collections::HashMap<u32, f64> {
    let needle = format!("WINEPREFIX={}", prefix.display());
    let ticks = clock_ticks();
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        if !env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // Fields after the command name (which may contain spaces): state is
        // field 3, utime 14, stime 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(u), Some(s)) = (f.get(11).and_then(|v| v.parse::<f64>().ok()), f.get(12).and_then(|v| v.parse::<f64>().ok())) {
            out.insert(pid, (u + s) / ticks);
        }
    }
    out
}

struct Sample {
    wall: f64,
    agent_cpu: f64,
    wine_cpu: f64,
    rss_kib: i64,
}

/// Runs `cmd` (stdout to `stdout_file`), killing it after `timeout`;
/// returns wall time, its own CPU time and peak RSS (wait4), and the CPU
/// the prefix's other processes used meanwhile.
/// Output goes to files, never pipes: Wine's services started by the first
/// run inherit the handles and would keep a pipe open forever.
fn measure(cmd: &mut Command, prefix: &Path, stdout_file: &Path, timeout: Duration) -> anyhow::Result<(Sample, ExitStatus, String)> {
    use std::os::unix::process::ExitStatusExt;
    let stderr_file = stdout_file.with_extension("stderr");
    let before = prefix_cpu(prefix);
    let start = Instant::now();
    let mut child =
        cmd.stdin(Stdio::null()).stdout(std::fs::File::create(stdout_file)?).stderr(std::fs::File::create(&stderr_file)?).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 {
            anyhow::bail!("wait4 failed: {}", std::io::Error::last_os_error());
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed().as_secs_f64();
    let after = prefix_cpu(prefix);
    let wine_cpu: f64 = after.iter().map(|(pid, cpu)| cpu - before.get(pid).copied().unwrap_or(0.0)).filter(|d| *d > 0.0).sum();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let sample = Sample { wall, agent_cpu: secs(ru.ru_utime) + secs(ru.ru_stime), wine_cpu, rss_kib: ru.ru_maxrss };
    let stderr = String::from_utf8_lossy(&std::fs::read(&stderr_file).unwrap_or_default()).into_owned();
    Ok((sample, ExitStatus::from_raw(status), stderr))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() -> anyhow::Result<()> {
    let tools = match Tools::find() {
        Ok(t) => t,
        Err(e) => {
            println!("\n### Windows agent under Wine\n\nskipped: {e}");
            return Ok(());
        }
    };
    let runs = std::env::var("LANWARD_BENCH_WINE_RUNS").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(5).max(1);
    let root = harness::workspace_root(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir()?;
    let scratch = tmp.path().join("scratch");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&scratch)?;
    std::fs::create_dir_all(&bin)?;

    eprintln!("[wine] cargo build --release -p lanward-agent --target {}", harness::TARGET);
    let built = harness::build_agent(&root, &target_dir()?, true, &scratch).map_err(anyhow::Error::msg)?;
    let size = std::fs::metadata(&built)?.len();
    let shim = harness::build_shim(&tools, &root, &bin).map_err(anyhow::Error::msg)?;
    let exe = harness::stage(&built, &shim, &bin).map_err(anyhow::Error::msg)?;

    eprintln!("[wine] preparing a prefix");
    let prefix = tmp.path().join("prefix");
    let wine = Wine::create(tools.clone(), prefix.clone(), scratch.clone()).map_err(anyhow::Error::msg)?;
    let seed = std::fs::read_to_string(harness::harness_dir(&root).join("seed.reg"))?;
    wine.import_reg(&seed).map_err(anyhow::Error::msg)?;
    let data = tmp.path().join("agent-data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("collect.json"), r#"{"registry_values":["HKLM\\SOFTWARE\\Policies\\Lanward\\Test\\Department"]}"#)?;
    wine.wait_idle(Duration::from_secs(60)).map_err(anyhow::Error::msg)?;

    // A persistent wineserver of our own, as Windows is already running when
    // the agent starts; the first run also starts Wine's services.
    let mut server =
        wine.command(&tools.wineserver).args(["-f", "-p"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    std::thread::sleep(Duration::from_millis(300));

    let data_arg = windows_path(&data);
    let out_file = scratch.join("collect.json.out");
    let run = || -> anyhow::Result<Sample> {
        let mut cmd = wine.command(&tools.wine);
        cmd.arg(&exe).args(["collect", "--data", &data_arg]).env("LANWARD_LOG", "warn");
        let (sample, status, stderr) = measure(&mut cmd, &prefix, &out_file, Duration::from_secs(120))?;
        if !status.success() {
            anyhow::bail!("lanward-agent.exe collect under Wine: {status}\n{stderr}");
        }
        Ok(sample)
    };
    let result = (|| -> anyhow::Result<(Sample, Vec<Sample>)> {
        let cold = run()?;
        let samples = (0..runs).map(|_| run()).collect::<anyhow::Result<Vec<_>>>()?;
        Ok((cold, samples))
    })();
    // `wineserver -k` first: it takes Wine's services down with the server
    // (a server killed directly would leave them running).
    drop(wine);
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(server.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    let (cold, samples) = result?;

    // The inventory is real (not an error object): count what it found.
    let inv: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_file)?)?;
    let count = |k: &str| inv[k].as_array().map_or(0, Vec::len);
    let sections = inv.as_object().map_or(0, |o| o.len());

    let wall = median(samples.iter().map(|s| s.wall).collect());
    let min = samples.iter().map(|s| s.wall).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|s| s.wall).fold(0.0, f64::max);
    let agent_cpu = median(samples.iter().map(|s| s.agent_cpu).collect());
    let wine_cpu = median(samples.iter().map(|s| s.wine_cpu).collect());
    let rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let mb = size as f64 / (1024.0 * 1024.0);
    let verdict = |ok: bool| if ok { "✓" } else { "✗" };

    println!(
        "\n### Windows agent under Wine ({} cores, release build, `collect` in a prepared prefix)\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| lanward-agent.exe size (x86_64-pc-windows-gnu, stripped) | {mb:.1} MB ({size} bytes) | < {SIZE_TARGET_MB:.0} MB {} |",
        verdict(mb < SIZE_TARGET_MB)
    );
    println!(
        "| `collect` wall time, median of {runs} after one warm-up (min / max) | {wall:.2} s ({min:.2} / {max:.2}) | < {WALL_TARGET_S:.0} s {} |",
        verdict(wall < WALL_TARGET_S)
    );
    println!("| `collect` CPU, agent process (median) | {agent_cpu:.2} s | |");
    println!("| `collect` CPU, Wine's own processes meanwhile (wineserver, services; median) | {wine_cpu:.2} s | |");
    println!("| peak RSS of the agent process (Wine's DLLs included) | {:.0} MB | |", rss as f64 / 1024.0);
    println!("| warm-up run (Wine starting its services first) | {:.2} s wall, {:.2} s CPU | |", cold.wall, cold.agent_cpu + cold.wine_cpu);
    println!(
        "| inventory collected | {sections} sections, {} Uninstall entries, {} hotfixes, {} antivirus products, {} notes | |",
        count("software"),
        count("hotfixes"),
        inv["antivirus"]["products"].as_array().map_or(0, Vec::len),
        count("diagnostics")
    );
    Ok(())
}
