//! A tiny W3C WebDriver client for end-to-end browser tests: Debian's
//! `chromedriver` (package `chromium-driver`) drives headless `chromium`
//! over HTTP, with ureq and serde_json.
//!
//! Test harness only: included with `#[path]` by
//! `crates/cli/tests/it/browser_harness.rs` (and the console's e2e test).
//! Failed look-ups save `failure-<n>.png` next to the other screenshots.

#![allow(dead_code)]

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `$env`, else the first of `names` on PATH, else the first fixed path.
fn locate(env: &str, names: &[&str], fixed: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    names.iter().find_map(|n| in_path(n)).or_else(|| fixed.iter().map(PathBuf::from).find(|p| p.is_file()))
}

fn chromedriver() -> Option<PathBuf> {
    locate("CHROMEDRIVER", &["chromedriver"], &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
}

fn chromium() -> Option<PathBuf> {
    locate("CHROMIUM", &["chromium"], &["/usr/bin/chromium", "/usr/lib/chromium/chromium"])
}

/// `None` when chromedriver and chromium are both installed, else why not
/// (so tests can skip on dev machines and fail in CI).
pub fn available() -> Option<String> {
    let mut missing = Vec::new();
    if chromedriver().is_none() {
        missing.push("chromedriver (Debian package chromium-driver)");
    }
    if chromium().is_none() {
        missing.push("chromium (Debian package chromium, or set CHROMIUM)");
    }
    (!missing.is_empty()).then(|| format!("missing {}", missing.join(", ")))
}

#[derive(Debug, Clone)]
pub struct Options {
    /// W3C `acceptInsecureCerts`: for a server whose CA the browser doesn't know.
    pub accept_insecure_certs: bool,
    pub page_load_timeout: Duration,
    pub window: (u32, u32),
}

impl Default for Options {
    fn default() -> Self {
        Options { accept_insecure_certs: false, page_load_timeout: Duration::from_secs(30), window: (1366, 768) }
    }
}

/// One chromedriver process with one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    out_dir: PathBuf,
    /// TMPDIR of chromedriver and chromium, holding the profile; removed on drop.
    scratch: PathBuf,
    failures: Cell<u32>,
}

impl Browser {
    pub fn start(out_dir: &Path) -> Result<Browser> {
        Browser::start_with(out_dir, Options::default())
    }

    pub fn start_with(out_dir: &Path, opts: Options) -> Result<Browser> {
        if let Some(reason) = available() {
            bail!("cannot start the browser: {reason}");
        }
        let (driver_bin, chromium_bin) = (chromedriver().unwrap_or_default(), chromium().unwrap_or_default());
        std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        // Ask the OS for a free port; chromedriver has no "port 0" mode.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = out_dir.join("chromedriver.log");
        // Chromium leaves its profile and singleton socket in TMPDIR even after
        // a clean quit (chromium 156): keep them in a directory we delete.
        let scratch = std::env::temp_dir().join(format!("lanward-browser-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let driver = Command::new(&driver_bin)
            .env("TMPDIR", &scratch)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", driver_bin.display()))?;
        // Reads can last as long as a page load; leave a margin on top.
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(opts.page_load_timeout + Duration::from_secs(30))
            .build();
        let base = format!("http://127.0.0.1:{port}");
        // From here on, `Drop` kills the driver if anything fails.
        let mut browser = Browser {
            driver,
            agent,
            session: String::new(),
            out_dir: out_dir.to_path_buf(),
            scratch: scratch.clone(),
            failures: Cell::new(0),
        };
        browser.wait_ready(&base).with_context(|| format!("chromedriver log: {}", log.display()))?;

        let (w, h) = opts.window;
        let mut args = vec![
            // Chromium ≥ 132 has only the "new" headless; the flag keeps older ones alike.
            "--headless=new".to_string(),
            // CI runs as root, where the sandbox refuses to start.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            // Small containers give /dev/shm 64 MB, which crashes tabs.
            "--disable-dev-shm-usage".into(),
            format!("--window-size={w},{h}"),
            "--lang=ja".into(),
            format!("--user-data-dir={}", scratch.join("profile").display()),
        ];
        if opts.accept_insecure_certs {
            args.push("--ignore-certificate-errors".into());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": opts.accept_insecure_certs,
            "timeouts": {"pageLoad": opts.page_load_timeout.as_millis() as u64, "script": 30_000},
            "goog:chromeOptions": {
                "binary": chromium_bin.to_string_lossy(),
                "args": args,
                // --lang alone does not set Accept-Language on Linux.
                "prefs": {"intl.accept_languages": "ja,en"},
            },
        }}});
        let created = call(&browser.agent, "POST", &format!("{base}/session"), Some(caps))
            .with_context(|| format!("creating a session (chromedriver log: {})", log.display()))?;
        let id = created["sessionId"].as_str().ok_or_else(|| anyhow!("no sessionId in {created}"))?;
        browser.session = format!("{base}/session/{id}");
        Ok(browser)
    }

    fn wait_ready(&mut self, base: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(v) = call(&self.agent, "GET", &format!("{base}/status"), None) {
                if v["ready"] == true {
                    return Ok(());
                }
            }
            if let Some(status) = self.driver.try_wait()? {
                bail!("chromedriver exited early: {status}");
            }
            if Instant::now() > deadline {
                bail!("chromedriver not ready after 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A command on this session; returns the response's `value`.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.cmd_as(method, path, path, body)
    }

    /// `label` replaces `path` in errors (element ids are long and useless).
    fn cmd_as(&self, method: &str, path: &str, label: &str, body: Option<Value>) -> Result<Value> {
        call(&self.agent, method, &format!("{}{path}", self.session), body).with_context(|| format!("{method} {label}"))
    }

    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Navigates and waits for the load; fails on network errors too.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({"url": url}))).with_context(|| format!("goto {url}"))?;
        // chromedriver reports success for a refused connection or a TLS error
        // and shows Chromium's error page, whose document is chrome-error://.
        let doc = self.execute("return document.documentURI", vec![])?;
        if doc.as_str().is_some_and(|d| d.starts_with("chrome-error:")) {
            let reason = self.execute("return document.body.innerText", vec![]).unwrap_or_default();
            let reason = reason.as_str().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
            return Err(self.failure(format!("goto {url}: the browser shows an error page: {reason}")));
        }
        Ok(())
    }

    pub fn current_url(&self) -> Result<String> {
        string(self.cmd("GET", "/url", None)?)
    }

    pub fn title(&self) -> Result<String> {
        string(self.cmd("GET", "/title", None)?)
    }

    pub fn page_source(&self) -> Result<String> {
        string(self.cmd("GET", "/source", None)?)
    }

    /// Runs `js` as a function body (use `arguments[i]`, `return …`).
    pub fn execute(&self, js: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd("POST", "/execute/sync", Some(json!({"script": js, "args": args})))
    }

    fn try_find(&self, css: &str) -> Result<Element<'_>> {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})))?;
        self.element(&v, css)
    }

    fn element(&self, v: &Value, css: &str) -> Result<Element<'_>> {
        let id = v[ELEMENT_KEY].as_str().ok_or_else(|| anyhow!("not an element reference: {v}"))?;
        Ok(Element { browser: self, id: id.to_string(), css: css.to_string() })
    }

    /// The first element matching `css`, now (no waiting).
    pub fn find(&self, css: &str) -> Result<Element<'_>> {
        self.try_find(css).map_err(|e| self.failure(format!("find `{css}`: {e:#}")))
    }

    /// Every element matching `css` (possibly none).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css})))?;
        let list = v.as_array().ok_or_else(|| anyhow!("find_all `{css}`: not a list: {v}"))?;
        list.iter().map(|e| self.element(e, css)).collect()
    }

    /// Polls until an element matches `css`.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_find(css) {
                Ok(el) => return Ok(el),
                Err(e) if Instant::now() > deadline => {
                    return Err(self.failure(format!("wait_for `{css}` ({timeout:?}): {e:#}")))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Polls until an element matching `css` has text containing `needle`.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<Element<'_>> {
        let deadline = Instant::now() + timeout;
        loop {
            // The element may be replaced between find and text: retry either.
            let last = match self.try_find(css).and_then(|el| Ok((el.text()?, el))) {
                Ok((text, el)) if text.contains(needle) => return Ok(el),
                Ok((text, _)) => format!("last text: {text:?}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                return Err(self.failure(format!("wait_for_text `{css}` contains {needle:?} ({timeout:?}): {last}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves `<out_dir>/<name>.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let b64 = string(self.cmd("GET", "/screenshot", None)?)?;
        let png = base64::engine::general_purpose::STANDARD.decode(b64).context("screenshot is not base64")?;
        let path = self.out_dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    pub fn cookies(&self) -> Result<Vec<Value>> {
        match self.cmd("GET", "/cookie", None)? {
            Value::Array(list) => Ok(list),
            other => bail!("cookies: not a list: {other}"),
        }
    }

    /// Adds a cookie for the current page's domain (navigate there first).
    pub fn add_cookie(&self, name: &str, value: &str) -> Result<()> {
        self.cmd("POST", "/cookie", Some(json!({"cookie": {"name": name, "value": value}}))).map(drop)
    }

    /// A failure error that names a fresh `failure-<n>.png` (or why there is none).
    fn failure(&self, msg: String) -> anyhow::Error {
        let n = self.failures.get() + 1;
        self.failures.set(n);
        match self.screenshot(&format!("failure-{n}")) {
            Ok(path) => anyhow!("{msg}\n  screenshot: {}", path.display()),
            Err(e) => anyhow!("{msg}\n  (no screenshot: {e:#})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session quits chromium; killing only the driver would orphan it.
        if !self.session.is_empty() {
            let _ = self.cmd("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// An element found by `css` (kept for error messages).
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    css: String,
}

impl Element<'_> {
    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/element/{}/{what}", self.id);
        self.browser.cmd_as(method, &path, &format!("{what} on `{}`", self.css), body)
    }

    pub fn click(&self) -> Result<()> {
        self.cmd("POST", "click", Some(json!({}))).map(drop)
    }

    pub fn clear(&self) -> Result<()> {
        self.cmd("POST", "clear", Some(json!({}))).map(drop)
    }

    /// Types `text` (any Unicode; W3C sends it as one string).
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.cmd("POST", "value", Some(json!({"text": text}))).map(drop)
    }

    /// The rendered (visible) text.
    pub fn text(&self) -> Result<String> {
        string(self.cmd("GET", "text", None)?)
    }

    /// An HTML attribute; `None` when absent.
    pub fn attr(&self, name: &str) -> Result<Option<String>> {
        Ok(self.cmd("GET", &format!("attribute/{name}"), None)?.as_str().map(str::to_string))
    }

    /// The live `value` property of an input (not the initial attribute).
    pub fn value(&self) -> Result<String> {
        string(self.cmd("GET", "property/value", None)?)
    }

    pub fn selector(&self) -> &str {
        &self.css
    }
}

fn string(v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        other => bail!("expected a string, got {other}"),
    }
}

/// One WebDriver HTTP call; unwraps `value` and turns W3C errors into
/// "HTTP <code> <error>: <message>" (callers add what they were doing).
fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let req = agent.request(method, url);
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let json: Value = match res {
        Ok(r) => r.into_json().context("bad JSON response")?,
        Err(ureq::Error::Status(code, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            let (err, msg) = (&v["value"]["error"], &v["value"]["message"]);
            // chromedriver's messages carry a long native stack trace after the first line.
            let (err, msg) = (err.as_str().unwrap_or("?"), msg.as_str().and_then(|m| m.lines().next()).unwrap_or(""));
            let msg = msg.strip_prefix(err).map_or(msg, |m| m.trim_start_matches(": "));
            bail!("HTTP {code} {err}{}{msg}", if msg.is_empty() { "" } else { ": " });
        }
        Err(e) => bail!("{e}"),
    };
    Ok(json.get("value").cloned().unwrap_or(Value::Null))
}
