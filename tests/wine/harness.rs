//! Running the cross-built Windows agent under Wine: finding the tools,
//! building the agent and the `bcryptprimitives.dll` shim, a fresh prefix
//! seeded with `seed.reg`, and Wine commands that are killed on a timeout.
//!
//! Test harness only (std only, no product code): included with `#[path]` by
//! `crates/cli/tests/it/wine.rs` and `crates/bench/benches/wine.rs`.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const TARGET: &str = "x86_64-pc-windows-gnu";
pub const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// The workspace root, from a crate's `CARGO_MANIFEST_DIR` (`crates/<name>`).
pub fn workspace_root(manifest_dir: &str) -> PathBuf {
    let dir = Path::new(manifest_dir);
    dir.parent().and_then(Path::parent).unwrap_or(dir).to_path_buf()
}

/// This directory (`tests/wine`): the shim's source and the registry seed.
pub fn harness_dir(root: &Path) -> PathBuf {
    root.join("tests").join("wine")
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn first_existing(names: &[&str], fixed: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| in_path(n)).or_else(|| fixed.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// The programs the harness needs.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The 64-bit loader (`wine64`; Debian keeps it in /usr/lib/wine).
    pub wine: PathBuf,
    pub wineserver: PathBuf,
    pub gcc: PathBuf,
}

impl Tools {
    /// Finds wine64, wineserver and the mingw C compiler; `Err` lists what
    /// is missing and how CI installs it.
    pub fn find() -> Result<Tools, String> {
        let wine = first_existing(&["wine64"], &["/usr/lib/wine/wine64", "/usr/lib64/wine/wine64", "/opt/wine-stable/bin/wine64"])
            .or_else(|| in_path("wine"));
        let wineserver =
            first_existing(&["wineserver"], &["/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver", "/opt/wine-stable/bin/wineserver"]);
        let gcc = in_path(MINGW_GCC);
        let mut missing = Vec::new();
        if wine.is_none() {
            missing.push("wine64");
        }
        if wineserver.is_none() {
            missing.push("wineserver");
        }
        if gcc.is_none() {
            missing.push(MINGW_GCC);
        }
        match (wine, wineserver, gcc) {
            (Some(wine), Some(wineserver), Some(gcc)) => Ok(Tools { wine, wineserver, gcc }),
            _ => Err(format!(
                "{} not found (apt-get install --no-install-recommends wine wine64 gcc-mingw-w64-x86-64; `bash .ci/run` does this)",
                missing.join(", ")
            )),
        }
    }
}

/// What a finished (or killed) command left behind.
pub struct Ran {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed after the timeout".to_string(),
        };
        format!("{status} after {:.1} s\n--- stdout ---\n{}\n--- stderr ---\n{}", self.elapsed.as_secs_f64(), self.stdout, self.stderr)
    }
}

/// Runs `cmd` to the end, or kills it after `timeout` (status `None`).
/// Output goes to files, so a chatty child cannot block on a full pipe.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration, scratch: &Path) -> std::io::Result<Ran> {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = scratch.join(format!("cmd-{n}.stdout"));
    let err_path = scratch.join(format!("cmd-{n}.stderr"));
    let start = Instant::now();
    let mut child: Child =
        cmd.stdin(Stdio::null()).stdout(std::fs::File::create(&out_path)?).stderr(std::fs::File::create(&err_path)?).spawn()?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let read = |p: &Path| {
        let mut s = Vec::new();
        let _ = std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut s));
        String::from_utf8_lossy(&s).into_owned()
    };
    Ok(Ran { status, stdout: read(&out_path), stderr: read(&err_path), elapsed })
}

/// `cargo build [--release] -p lanward-agent --target x86_64-pc-windows-gnu`
/// into `target_dir`; returns the path of `lanward-agent.exe`.
pub fn build_agent(root: &Path, target_dir: &Path, release: bool, scratch: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "-p", "lanward-agent", "--target", TARGET, "--target-dir"]).arg(target_dir);
    if release {
        cmd.arg("--release");
    }
    // What cargo sets for a running test or bench describes *that* package;
    // ring's build script tracks CARGO_MANIFEST_DIR, so passing these on
    // would rebuild ring, rustls and the agent on every run.
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_"].iter().any(|p| k.starts_with(p))
            || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&k)
        {
            cmd.env_remove(&key);
        }
    }
    // A cold build of the agent and its dependencies on 2 cores takes minutes.
    let ran = run_with_timeout(&mut cmd, Duration::from_secs(1200), scratch).map_err(|e| format!("cannot run cargo: {e}"))?;
    if !ran.ok() {
        return Err(format!("cargo build of the Windows agent failed: {}", ran.describe()));
    }
    let exe = target_dir.join(TARGET).join(if release { "release" } else { "debug" }).join("lanward-agent.exe");
    if !exe.is_file() {
        return Err(format!("{} is missing after the build", exe.display()));
    }
    Ok(exe)
}

/// Compiles the `ProcessPrng` shim into `out_dir/bcryptprimitives.dll`.
pub fn build_shim(tools: &Tools, root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let src = harness_dir(root);
    let dll = out_dir.join("bcryptprimitives.dll");
    let mut cmd = Command::new(&tools.gcc);
    cmd.args(["-shared", "-O2", "-s", "-Wall", "-o"])
        .arg(&dll)
        .arg(src.join("bcryptprimitives.c"))
        .arg(src.join("bcryptprimitives.def"))
        .arg("-ladvapi32");
    let ran = run_with_timeout(&mut cmd, Duration::from_secs(120), out_dir).map_err(|e| format!("cannot run {MINGW_GCC}: {e}"))?;
    if !ran.ok() {
        return Err(format!("building bcryptprimitives.dll failed: {}", ran.describe()));
    }
    Ok(dll)
}

/// `Z:\…` for a path on the Linux side (Wine maps Z: to `/`).
pub fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display().to_string().replace('/', "\\"))
}

/// A Wine prefix of our own; its wineserver is killed on drop.
pub struct Wine {
    pub tools: Tools,
    pub prefix: PathBuf,
    /// Where command output files go.
    pub scratch: PathBuf,
}

impl Wine {
    /// A Wine command with this prefix's environment: no debug output, no
    /// Mono/Gecko installers, no display.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", &self.prefix)
            .env("WINEARCH", "win64")
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            // Processes Wine starts itself (services, wineboot) need the same loader.
            .env("WINELOADER", &self.tools.wine)
            .env("WINESERVER", &self.tools.wineserver)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// `wine64 <args>`, killed (with everything in the prefix) after `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Result<Ran, String> {
        let mut cmd = self.command(&self.tools.wine);
        cmd.args(args);
        let ran = run_with_timeout(&mut cmd, timeout, &self.scratch).map_err(|e| format!("cannot run wine {args:?}: {e}"))?;
        if ran.status.is_none() {
            self.kill();
        }
        Ok(ran)
    }

    /// Like [`Wine::run`], but a failure is an `Err` with the output.
    pub fn run_ok(&self, args: &[&str], timeout: Duration) -> Result<Ran, String> {
        let ran = self.run(args, timeout)?;
        if ran.ok() {
            Ok(ran)
        } else {
            Err(format!("wine {args:?}: {}", ran.describe()))
        }
    }

    /// Creates a fresh prefix reporting Windows 10 (the slow part: ~10–30 s).
    pub fn create(tools: Tools, prefix: PathBuf, scratch: PathBuf) -> Result<Wine, String> {
        let wine = Wine { tools, prefix, scratch };
        wine.run_ok(&["wineboot", "--init"], Duration::from_secs(180))?;
        // `winecfg /v` writes the version Wine reports *and* the matching
        // CurrentVersion registry values (CurrentBuild 18362 and the version
        // DWORDs); `reg add HKCU\Software\Wine /v Version` alone would leave
        // the registry saying Windows 7, build 7601.
        wine.run_ok(&["winecfg", "/v", "win10"], Duration::from_secs(60))?;
        Ok(wine)
    }

    /// Imports a `.reg` text (UTF-8 here, UTF-16LE with a BOM for `reg
    /// import`, so Japanese names survive whatever the locale is).
    pub fn import_reg(&self, text: &str) -> Result<(), String> {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.scratch.join(format!("import-{n}.reg"));
        let mut bytes = vec![0xff, 0xfe];
        for unit in text.replace("\r\n", "\n").replace('\n', "\r\n").encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        self.run_ok(&["reg", "import", &windows_path(&path)], Duration::from_secs(60))?;
        Ok(())
    }

    /// The SID of the prefix's user (the `HKEY_USERS` key besides `.Default`).
    pub fn user_sid(&self) -> Result<String, String> {
        let ran = self.run_ok(&["reg", "query", "HKU"], Duration::from_secs(60))?;
        ran.stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("HKEY_USERS\\"))
            .find(|k| k.starts_with("S-1-5-21-") && !k.ends_with("_Classes"))
            .map(str::to_string)
            .ok_or_else(|| format!("no user SID under HKEY_USERS: {}", ran.stdout))
    }

    /// Waits until every process of the prefix has ended (registry saved).
    pub fn wait_idle(&self, timeout: Duration) -> Result<(), String> {
        let mut cmd = self.command(&self.tools.wineserver);
        cmd.arg("-w");
        let ran = run_with_timeout(&mut cmd, timeout, &self.scratch).map_err(|e| format!("wineserver -w: {e}"))?;
        if ran.status.is_none() {
            self.kill();
            return Err(format!("wineserver -w did not return within {timeout:?}"));
        }
        Ok(())
    }

    /// Keeps the prefix's services running, as a logged-on desktop does on a
    /// PC: Wine ends services when the last ordinary process exits. The
    /// keeper (a console waiting for a key) starts only once wineboot's
    /// wineserver has gone, or services become invisible to it. Kill the
    /// returned child when done.
    pub fn keep_alive(&self) -> Result<Child, String> {
        self.wait_idle(Duration::from_secs(60))?;
        self.command(&self.tools.wine)
            .args(["cmd", "/c", "pause"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the keeper process: {e}"))
    }

    /// Kills the prefix's wineserver and every Windows process in it.
    pub fn kill(&self) {
        let mut cmd = self.command(&self.tools.wineserver);
        cmd.arg("-k");
        let _ = run_with_timeout(&mut cmd, Duration::from_secs(30), &self.scratch);
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The exe and the shim side by side in `dir`; returns the exe's path there.
pub fn stage(exe: &Path, shim: &Path, dir: &Path) -> Result<PathBuf, String> {
    let dest = dir.join("lanward-agent.exe");
    std::fs::copy(exe, &dest).map_err(|e| format!("copy {}: {e}", exe.display()))?;
    if shim.parent() != Some(dir) {
        std::fs::copy(shim, dir.join("bcryptprimitives.dll")).map_err(|e| format!("copy {}: {e}", shim.display()))?;
    }
    Ok(dest)
}
