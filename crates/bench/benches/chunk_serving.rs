//! `cargo bench -p lanward-bench --bench chunk_serving`: how fast the real
//! server hands package content to an agent, beside nginx serving the same
//! chunk files on loopback (issue 6: "no less than 80% of nginx").
//!
//! Set-up: a release `lanward serve --insecure-http` on loopback, an agent
//! identity enrolled with `lanward-agent enroll` (its deploy worker never
//! runs, so nothing else downloads), a package of random bytes, and a
//! deployment to that agent. Once the target is `downloading`, N client
//! threads fetch the package's chunks round robin with signed
//! `GET /api/v1/agent/chunks/{sha256}` (`ServerClient::get_bytes`, the
//! agent's own code), and the same number of threads fetch the same files
//! from nginx with plain GETs through an identically configured ureq agent.
//! The two sides run in turn, several rounds, interleaved (the order flips
//! every round); the table shows medians. Server CPU per chunk comes from
//! /proc (lanward: the server process; nginx: master and workers).
//!
//! Knobs (environment): LANWARD_BENCH_CHUNK_SECS (seconds per run, default
//! 5), LANWARD_BENCH_CHUNK_ROUNDS (default 5), LANWARD_BENCH_CHUNK_CONC
//! (default `1,4,16`), LANWARD_BENCH_CHUNK_MB (package size in MiB, default
//! 64), NGINX (path of nginx). Skipped (with a message) without nginx.
//! Running as root, nginx is started as `nobody`, so it is unprivileged.

use lanward_agent::client::ServerClient;
use lanward_agent::identity::Identity;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 0.80;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// `<target>/release/deps/chunk_serving-…` → `<target>`.
fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("no target dir above {}", exe.display()))
}

/// Builds the release `lanward` and `lanward-agent` into our target dir.
fn build_binaries() -> anyhow::Result<(PathBuf, PathBuf)> {
    let target = target_dir()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("[chunk] cargo build --release -p lanward -p lanward-agent");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "-p", "lanward", "-p", "lanward-agent"])
        .env("CARGO_TARGET_DIR", &target);
    // What cargo sets for a running bench describes *this* package; ring's
    // build script tracks CARGO_MANIFEST_DIR, so passing these on would
    // rebuild ring and everything above it on every run (as in
    // tests/wine/harness.rs `build_agent`).
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_"]
            .iter()
            .any(|p| k.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&k)
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "cargo build failed: {status}");
    let bin = |n: &str| {
        target
            .join("release")
            .join(format!("{n}{}", std::env::consts::EXE_SUFFIX))
    };
    Ok((bin("lanward"), bin("lanward-agent")))
}

fn find_nginx() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Lanward {
    bin: PathBuf,
    url: String,
    token: String,
    proc: Proc,
}

impl Lanward {
    fn start(bin: &Path, data: &Path) -> anyhow::Result<Lanward> {
        std::fs::create_dir_all(data)?;
        let log = std::fs::File::create(data.with_extension("log"))?;
        let child = Command::new(bin)
            .args([
                "serve",
                "--insecure-http",
                "--listen",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(data)
            .args([
                "--deploy-poll",
                "1",
                "--checkin-interval",
                "300",
                "--splay",
                "0",
            ])
            .env("LANWARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            // Complete only with its newline.
            if let Ok(u) = std::fs::read_to_string(data.join("server.url")) {
                if u.ends_with('\n') {
                    break u.trim().to_string();
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "lanward serve did not start; see {}",
                data.with_extension("log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let token = std::fs::read_to_string(data.join("admin-token"))?
            .trim()
            .to_string();
        Ok(Lanward {
            bin: bin.to_path_buf(),
            url,
            token,
            proc,
        })
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .args(args)
            .env("LANWARD_SERVER", &self.url)
            .env("LANWARD_TOKEN", &self.token)
            .env("LANWARD_LOG", "warn")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "lanward {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        Ok(ureq::get(&format!("{}{}", self.url, path))
            .set("authorization", &format!("Bearer {}", self.token))
            .call()?
            .into_json()?)
    }
}

struct Nginx {
    url: String,
    proc: Proc,
}

impl Nginx {
    /// nginx in the foreground with a config of its own, serving `docroot`.
    fn start(bin: &Path, prefix: &Path, docroot: &Path) -> anyhow::Result<Nginx> {
        std::fs::create_dir_all(prefix.join("tmp"))?;
        let port = free_port()?;
        let p = prefix.display();
        let conf = format!(
            "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  keepalive_timeout 65;\n\
             \x20 default_type application/octet-stream;\n\
             \x20 client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  fastcgi_temp_path {p}/tmp/fastcgi;\n\
             \x20 uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ }}\n  }}\n}}\n",
            root = docroot.display()
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(prefix.join("error.log"));
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(prefix.join("stderr.log"))?);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Unprivileged: nobody owns the prefix and reads the docroot.
            use std::os::unix::process::CommandExt;
            chown_tree(prefix, 65534, 65534)?;
            cmd.uid(65534).gid(65534);
        }
        let proc = Proc(cmd.spawn()?);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ureq::get(&format!("{url}/"))
                .call()
                .map(|_| true)
                .unwrap_or_else(|e| matches!(e, ureq::Error::Status(..)))
            {
                return Ok(Nginx { url, proc });
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers; a SIGKILL would
    /// orphan them, still listening.
    fn drop(&mut self) {
        let workers = with_children(self.proc.0.id());
        // SAFETY: kill has no memory preconditions; the pid is our child, not yet reaped.
        unsafe { libc::kill(self.proc.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !matches!(self.proc.0.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Any worker the master left behind.
        for pid in workers.into_iter().skip(1) {
            if std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with("nginx: worker"))
            {
                // SAFETY: as above; checked to still be an nginx worker.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            chown_tree(&e.path(), uid, gid)?;
        } else {
            std::os::unix::fs::chown(e.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// CPU seconds (user + system) of `pids` from /proc.
fn cpu_secs(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    };
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .sum()
}

/// `pid` and its direct children (nginx's workers).
fn with_children(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// One way of fetching a chunk: returns its bytes or an error text.
trait Fetcher: Send {
    fn fetch(&mut self, chunk: usize) -> Result<Vec<u8>, String>;
}

struct LanwardFetcher {
    client: ServerClient,
    paths: Arc<Vec<String>>,
}

impl Fetcher for LanwardFetcher {
    fn fetch(&mut self, chunk: usize) -> Result<Vec<u8>, String> {
        self.client
            .get_bytes(&self.paths[chunk])
            .map_err(|e| e.to_string())
    }
}

struct NginxFetcher {
    http: ureq::Agent,
    urls: Arc<Vec<String>>,
}

impl NginxFetcher {
    fn new(urls: Arc<Vec<String>>) -> Self {
        // The same settings as the agent's own client (client.rs `http_agent`).
        NginxFetcher {
            http: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
                .build(),
            urls,
        }
    }
}

impl Fetcher for NginxFetcher {
    fn fetch(&mut self, chunk: usize) -> Result<Vec<u8>, String> {
        let resp = self
            .http
            .get(&self.urls[chunk])
            .call()
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        resp.into_reader()
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }
}

struct RunResult {
    mb_per_s: f64,
    cpu_ms_per_chunk: f64,
    chunks: u64,
    errors: u64,
    first_error: Option<String>,
}

/// `conc` threads fetch chunks round robin for `secs`; each thread first
/// fetches one chunk (not counted) to open its keep-alive connection.
fn run(
    make: &dyn Fn() -> Box<dyn Fetcher>,
    sizes: &[u64],
    conc: usize,
    secs: f64,
    server_pids: &dyn Fn() -> Vec<u32>,
) -> RunResult {
    let bytes = Arc::new(AtomicU64::new(0));
    let chunks = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    // Warm-ups done → main notes the clock and CPU → go.
    let ready = Arc::new(std::sync::Barrier::new(conc + 1));
    let barrier = Arc::new(std::sync::Barrier::new(conc + 1));
    let start_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let sizes = Arc::new(sizes.to_vec());
    let mut threads = Vec::new();
    for t in 0..conc {
        let mut f = make();
        let (bytes, chunks, errors, first_error, ready, barrier, start_at, sizes) = (
            bytes.clone(),
            chunks.clone(),
            errors.clone(),
            first_error.clone(),
            ready.clone(),
            barrier.clone(),
            start_at.clone(),
            sizes.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let n = sizes.len();
            let mut i = t % n;
            let _ = f.fetch(i);
            ready.wait();
            barrier.wait();
            let deadline = start_at
                .lock()
                .ok()
                .and_then(|s| *s)
                .unwrap_or_else(Instant::now)
                + Duration::from_secs_f64(secs);
            while Instant::now() < deadline {
                i = (i + 1) % n;
                match f.fetch(i) {
                    Ok(b) if b.len() as u64 == sizes[i] => {
                        bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        chunks.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut e) = first_error.lock() {
                            e.get_or_insert_with(|| match other {
                                Ok(b) => {
                                    format!("chunk {i}: {} bytes, expected {}", b.len(), sizes[i])
                                }
                                Err(e) => e,
                            });
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        }));
    }
    ready.wait();
    let pids = server_pids();
    let cpu0 = cpu_secs(&pids);
    let t0 = Instant::now();
    if let Ok(mut s) = start_at.lock() {
        *s = Some(t0);
    }
    barrier.wait();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(&pids) - cpu0;
    let n = chunks.load(Ordering::Relaxed);
    let first_error = first_error.lock().ok().and_then(|e| e.clone());
    RunResult {
        mb_per_s: bytes.load(Ordering::Relaxed) as f64 / 1e6 / elapsed,
        cpu_ms_per_chunk: if n > 0 {
            cpu * 1000.0 / n as f64
        } else {
            f64::NAN
        },
        chunks: n,
        errors: errors.load(Ordering::Relaxed),
        first_error,
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn main() -> anyhow::Result<()> {
    let Some(nginx_bin) = find_nginx() else {
        println!("\n### Chunk serving vs nginx\n\nskipped: nginx not found (apt-get install nginx-light, or set NGINX)");
        return Ok(());
    };
    let secs = env_num("LANWARD_BENCH_CHUNK_SECS", 5) as f64;
    let rounds = env_num("LANWARD_BENCH_CHUNK_ROUNDS", 5).max(1) as usize;
    let mib = env_num("LANWARD_BENCH_CHUNK_MB", 64).max(1);
    let concs: Vec<usize> = std::env::var("LANWARD_BENCH_CHUNK_CONC")
        .unwrap_or_else(|_| "1,4,16".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();

    let (lanward_bin, agent_bin) = build_binaries()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("srv");
    let server = Lanward::start(&lanward_bin, &data)?;
    eprintln!("[chunk] lanward at {}", server.url);

    // An agent identity; its deploy worker never runs.
    let token = server
        .cli(&[
            "token",
            "create",
            "--site",
            "HQ",
            "--expires",
            "1h",
            "--max-uses",
            "1",
        ])?
        .trim()
        .to_string();
    let agent_dir = tmp.path().join("agent");
    let out = Command::new(&agent_bin)
        .args([
            "enroll",
            "--server",
            &server.url,
            "--token",
            &token,
            "--data",
        ])
        .arg(&agent_dir)
        .env("LANWARD_LOG", "warn")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "lanward-agent enroll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let identity = Identity::load(&agent_dir)?;
    let assets: serde_json::Value =
        serde_json::from_str(&server.cli(&["assets", "list", "--format", "json"])?)?;
    let host = assets
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|a| a["agent_id"].is_string() || a["has_agent"] == true)
                .or(a.first())
        })
        .and_then(|a| a["hostname"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no asset for the enrolled agent: {assets}"))?
        .to_string();

    // A package of random bytes (incompressible, like an installer).
    let pkg = tmp.path().join("bench-payload.bin");
    let payload: Vec<u8> = (0..mib * 1024 * 1024)
        .map(|_| rand::random::<u8>())
        .collect();
    std::fs::write(&pkg, &payload)?;
    let pkg_arg = pkg
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("temp path is not UTF-8"))?;
    let added = server.cli(&[
        "package",
        "add",
        pkg_arg,
        "--name",
        "bench-chunks",
        "--version",
        "1",
        "--command",
        "/bin/true {file}",
        "--detection",
        "none",
    ])?;
    eprintln!("[chunk] {}", added.trim());
    let out = server.cli(&[
        "deploy",
        "create",
        "--package",
        "bench-chunks",
        "--targets",
        &host,
    ])?;
    let deployment: i64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("deployment id in {out:?}"))?;

    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = server.get_json(&format!("/api/v1/deployments/{deployment}"))?;
        if view["targets"][0]["state"] == "downloading" {
            break view;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "target never reached downloading: {}",
            view["targets"]
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let package_id = view["deployment"]["package_id"]
        .as_i64()
        .or_else(|| view["package"]["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("package id in {view}"))?;
    let manifest = server.get_json(&format!("/api/v1/packages/{package_id}/manifest"))?;
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    for c in manifest["content"]["chunks"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no content.chunks in manifest"))?
    {
        let id = c["id"]
            .as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| anyhow::anyhow!("chunk id in {c}"))?;
        ids.push(id.to_string());
        sizes.push(
            c["size"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("chunk size in {c}"))?,
        );
    }
    anyhow::ensure!(!ids.is_empty(), "the package has no chunks");

    // nginx serves copies of the very chunk files, from a docroot nobody can read.
    let docroot = tmp.path().join("www");
    std::fs::create_dir_all(&docroot)?;
    for hex in &ids {
        std::fs::copy(
            data.join("chunks").join(&hex[..2]).join(hex),
            docroot.join(hex),
        )?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&docroot, std::fs::Permissions::from_mode(0o755))?;
        for id in &ids {
            std::fs::set_permissions(docroot.join(id), std::fs::Permissions::from_mode(0o644))?;
        }
    }
    let nginx = Nginx::start(&nginx_bin, &tmp.path().join("nginx"), &docroot)?;
    eprintln!("[chunk] nginx at {}", nginx.url);

    let paths: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("/api/v1/agent/chunks/{id}"))
            .collect(),
    );
    let urls: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|id| format!("{}/{id}", nginx.url)).collect());

    // Both sides return the package's bytes, in order (and the files are
    // now in the page cache).
    let mut check_l = LanwardFetcher {
        client: ServerClient::for_identity(&identity)?,
        paths: paths.clone(),
    };
    let mut check_n = NginxFetcher::new(urls.clone());
    let mut offset = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        let expected = payload
            .get(offset..offset + *size as usize)
            .ok_or_else(|| anyhow::anyhow!("chunk sizes exceed the package"))?;
        offset += *size as usize;
        let a = check_l
            .fetch(i)
            .map_err(|e| anyhow::anyhow!("lanward chunk {i}: {e}"))?;
        let b = check_n
            .fetch(i)
            .map_err(|e| anyhow::anyhow!("nginx chunk {i}: {e}"))?;
        anyhow::ensure!(
            a == expected && b == expected,
            "chunk {i} differs from the package's bytes"
        );
    }
    anyhow::ensure!(
        offset == payload.len(),
        "chunks cover {offset} of {} bytes",
        payload.len()
    );
    drop(payload);
    eprintln!("[chunk] {} chunks ({} bytes) verified on both sides; {rounds} rounds × {secs} s per side and concurrency", ids.len(), sizes.iter().sum::<u64>());

    let lanward_pid = server.proc.0.id();
    let nginx_pids = with_children(nginx.proc.0.id());
    let make_l = || -> Box<dyn Fetcher> {
        Box::new(LanwardFetcher {
            client: ServerClient::for_identity(&identity)
                .expect("agent client from the enrolled identity"),
            paths: paths.clone(),
        })
    };
    let make_n = || -> Box<dyn Fetcher> { Box::new(NginxFetcher::new(urls.clone())) };

    struct Row {
        conc: usize,
        l: Vec<f64>,
        n: Vec<f64>,
        l_cpu: Vec<f64>,
        n_cpu: Vec<f64>,
        l_err: u64,
        n_err: u64,
        ratios: Vec<f64>,
    }
    let mut rows = Vec::new();
    let mut first_errors = Vec::new();
    for &conc in &concs {
        let mut row = Row {
            conc,
            l: vec![],
            n: vec![],
            l_cpu: vec![],
            n_cpu: vec![],
            l_err: 0,
            n_err: 0,
            ratios: vec![],
        };
        for r in 0..rounds {
            let mut one = |lanward: bool| {
                let res = if lanward {
                    run(&make_l, &sizes, conc, secs, &|| vec![lanward_pid])
                } else {
                    run(&make_n, &sizes, conc, secs, &|| nginx_pids.clone())
                };
                eprintln!(
                    "[chunk] c={conc:<2} round {} {:<7} {:>8.1} MB/s  {:>5} chunks  cpu {:>5.2} ms/chunk  errors {}",
                    r + 1,
                    if lanward { "lanward" } else { "nginx" },
                    res.mb_per_s,
                    res.chunks,
                    res.cpu_ms_per_chunk,
                    res.errors
                );
                if let Some(e) = &res.first_error {
                    first_errors.push(format!(
                        "{} c={conc}: {e}",
                        if lanward { "lanward" } else { "nginx" }
                    ));
                }
                res
            };
            // Flip the order each round so drift on a shared machine hits both sides.
            let (l, n) = if r % 2 == 0 {
                let l = one(true);
                (l, one(false))
            } else {
                let n = one(false);
                (one(true), n)
            };
            row.ratios.push(l.mb_per_s / n.mb_per_s);
            row.l.push(l.mb_per_s);
            row.n.push(n.mb_per_s);
            row.l_cpu.push(l.cpu_ms_per_chunk);
            row.n_cpu.push(n.cpu_ms_per_chunk);
            row.l_err += l.errors;
            row.n_err += n.errors;
        }
        rows.push(row);
    }

    // Still a download in progress: no measurement ran against a refusal.
    let after = server.get_json(&format!("/api/v1/deployments/{deployment}"))?;
    let state = after["targets"][0]["state"]
        .as_str()
        .unwrap_or("?")
        .to_string();

    let chunk_mib = sizes.first().copied().unwrap_or(0) as f64 / (1024.0 * 1024.0);
    println!("\n### Chunk serving: lanward vs nginx on loopback ({} chunks of {chunk_mib:.0} MiB, {rounds} rounds × {secs} s, medians; MB = 10^6 bytes)\n", ids.len());
    println!("| clients | lanward MB/s (min–max) | nginx MB/s (min–max) | ratio (median of rounds) | lanward CPU ms/chunk | nginx CPU ms/chunk | errors l/n |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut worst: f64 = f64::INFINITY;
    for row in &rows {
        let (llo, lhi) = min_max(&row.l);
        let (nlo, nhi) = min_max(&row.n);
        let ratio = median(&row.ratios);
        worst = worst.min(ratio);
        println!(
            "| {} | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {:.0}% | {:.2} | {:.2} | {}/{} |",
            row.conc,
            median(&row.l),
            llo,
            lhi,
            median(&row.n),
            nlo,
            nhi,
            ratio * 100.0,
            median(&row.l_cpu),
            median(&row.n_cpu),
            row.l_err,
            row.n_err
        );
    }
    let errors: u64 = rows.iter().map(|r| r.l_err + r.n_err).sum();
    println!();
    for e in &first_errors {
        println!("first error: {e}");
    }
    println!("target state after the runs: {state}");
    let pass = worst >= TARGET_RATIO && errors == 0 && state == "downloading";
    println!(
        "verdict: {} — lowest lanward/nginx ratio {:.0}% (target ≥ {:.0}%)",
        if pass { "PASS" } else { "FAIL" },
        worst * 100.0,
        TARGET_RATIO * 100.0
    );
    Ok(())
}
