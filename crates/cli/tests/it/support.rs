use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn lanward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lanward"))
}

/// `lanward-agent` lives in another package: it is built beside us by
/// `cargo test --workspace` (the agent package has integration tests too).
pub fn agent_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let bin = dir.join(format!("lanward-agent{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run `cargo test --workspace` (or `cargo build -p lanward-agent`) first", bin.display());
    bin
}

pub struct Server {
    pub data: PathBuf,
    pub url: String,
    pub child: Option<Child>,
    extra: Vec<String>,
    listen: String,
    /// A command the server runs under (`ip netns exec NS`).
    wrapper: Vec<String>,
}

impl Server {
    /// Starts `lanward serve` on a free loopback port; `https` decides TLS.
    pub fn start(data: &Path, https: bool, extra: &[&str]) -> Server {
        let mut s = Server {
            data: data.to_path_buf(),
            url: String::new(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            listen: "127.0.0.1:0".into(),
            wrapper: Vec::new(),
        };
        if !https {
            s.extra.push("--insecure-http".into());
        }
        s.spawn();
        // Keep the same port across restarts.
        s.listen = s.url.split("://").nth(1).unwrap_or_default().to_string();
        s
    }

    /// Starts the server under `wrapper` (e.g. in a network namespace),
    /// listening on `listen`, with HTTPS.
    pub fn start_wrapped(data: &Path, wrapper: &[&str], listen: &str, extra: &[&str]) -> Server {
        let mut s = Server {
            data: data.to_path_buf(),
            url: String::new(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            listen: listen.into(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.data.join("server.url"));
        let log = std::fs::File::create(self.data.with_extension("log")).expect("log file");
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(lanward_bin());
                c
            }
            None => Command::new(lanward_bin()),
        };
        let child = cmd
            .args(["serve", "--data"])
            .arg(&self.data)
            .args(["--listen", &self.listen, "--checkin-interval", "300", "--splay", "0"])
            .args(&self.extra)
            .env("LANWARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start lanward serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Complete only with its newline (older servers wrote it in place).
            if let Ok(url) = std::fs::read_to_string(self.data.join("server.url")) {
                if url.ends_with('\n') {
                    self.url = url.trim().to_string();
                    break;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("server exited with {status}: {}", std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL: no chance to flush or clean up.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token")).expect("admin-token").trim().to_string()
    }

    /// Runs `lanward <args>` against this server as the administrator.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(lanward_bin());
        cmd.args(args).env("LANWARD_SERVER", &self.url).env("LANWARD_TOKEN", self.token()).env("LANWARD_LOG", "warn");
        if self.url.starts_with("https://") {
            cmd.env("LANWARD_CA_FILE", self.data.join("ca.pem"));
        }
        cmd.output().expect("run lanward")
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "lanward {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn create_token(&self, site: &str, expires: &str, max_uses: u32) -> String {
        self.cli_ok(&["token", "create", "--site", site, "--expires", expires, "--max-uses", &max_uses.to_string()]).trim().to_string()
    }

    pub fn assets(&self) -> Vec<Value> {
        serde_json::from_str(&self.cli_ok(&["assets", "list", "--format", "json"])).expect("assets json")
    }

    /// An HTTP client that trusts this server's CA.
    pub fn http(&self) -> ureq::Agent {
        let mut b = ureq::AgentBuilder::new().timeout(Duration::from_secs(30));
        if self.url.starts_with("https://") {
            let pem = std::fs::read_to_string(self.data.join("ca.pem")).expect("ca.pem");
            b = b.tls_config(lanward_agent::client::pinned_tls(&pem).expect("tls"));
        }
        b.build()
    }

    pub fn get_json(&self, path: &str) -> Value {
        self.http()
            .get(&format!("{}{}", self.url, path))
            .set("authorization", &format!("Bearer {}", self.token()))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .expect("json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn agent(args: &[&str], data: &Path) -> Output {
    Command::new(agent_bin()).args(args).arg("--data").arg(data).env("LANWARD_LOG", "info").output().expect("run lanward-agent")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
