//! Shared pieces of the benchmarks: an in-process server and helpers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct BenchServer {
    pub url: String,
    pub data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BenchServer {
    /// Starts the real server (plain HTTP on loopback) with its own runtime.
    pub fn start(data: &Path, database: Option<String>) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr: SocketAddr = listener.local_addr()?;
        drop(listener);
        let mut config = lanward_server::ServerConfig::new(data.to_path_buf(), addr);
        config.insecure_http = true;
        config.database_url = database;
        config.splay_secs = 0;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            if let Err(e) = rt.block_on(lanward_server::serve(config, async {
                let _ = rx.await;
            })) {
                eprintln!("server failed: {e:#}");
            }
        });
        let url = format!("http://{addr}");
        for _ in 0..600 {
            if ureq::get(&format!("{url}/api/v1/health")).call().is_ok() {
                return Ok(BenchServer { url, data: data.to_path_buf(), stop: Some(tx), thread: Some(thread) });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("server did not start")
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token")).unwrap_or_default().trim().to_string()
    }

    pub fn create_token(&self, site: &str, uses: u32) -> anyhow::Result<String> {
        let r: serde_json::Value = ureq::post(&format!("{}/api/v1/enrollment-tokens", self.url))
            .set("authorization", &format!("Bearer {}", self.admin_token()))
            .send_json(serde_json::json!({"site": site, "expires_in_secs": 86400, "max_uses": uses}))?
            .into_json()?;
        Ok(r["token"].as_str().unwrap_or_default().to_string())
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CPU seconds (user + system) and peak RSS (KiB) of finished children.
pub fn children_usage() -> (f64, i64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the provided struct.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss)
}

/// Runs a command and returns (cpu seconds, peak RSS KiB) of it alone, via wait4.
pub fn measure(cmd: &mut std::process::Command) -> anyhow::Result<(f64, i64, std::process::ExitStatus)> {
    use std::os::unix::process::ExitStatusExt;
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r < 0 {
        anyhow::bail!("wait4 failed");
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss, std::process::ExitStatus::from_raw(status)))
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
