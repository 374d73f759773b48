//! E-mail for operation-log alerts, when `DATA/mail.json` exists.
//!
//! Ingest never waits for mail: the alerts it has stored are put on a
//! bounded queue ([`Mailer::enqueue`], never blocks; a full queue drops and
//! counts) and one task collects them per rule for a short window
//! (`batch_seconds`), then sends one mail per rule and window that lists
//! them (at most [`MAX_LISTED`], and says how many more). Each mail is sent
//! by its own task, with retries and back-off; every failed attempt is in
//! the log and the audit log (`alert.mail_failed`), a sent mail in the
//! audit log (`alert.mail_sent`). The alerts themselves are in the store
//! before anything is queued: a mail that never goes out loses no alert.
//!
//! The SMTP password is never in the file: `password_env` names the
//! environment variable that holds it, as `directory.json` does for its
//! service account.

use crate::SharedState;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lanward_oplog::EventKind;
use lanward_store::{AlertRule, NewAlert};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

pub const CONFIG_FILE: &str = "mail.json";
/// Alerts listed in one mail; the rest are counted.
pub const MAX_LISTED: usize = 30;
/// Alerts waiting for the mail task; more are dropped (and counted).
const QUEUE: usize = 10_000;
/// Addresses on one rule.
pub const MAX_RECIPIENTS: usize = 20;
/// Mails being handed to the SMTP server at once.
const CONCURRENT_SENDS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (refused if the server cannot).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only to a loopback address (a local relay).
    None,
}

/// `DATA/mail.json`, checked. The password comes from the environment.
#[derive(Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub from: Mailbox,
    /// (user name, password).
    credentials: Option<(String, String)>,
    pub password_env: Option<String>,
    /// PEM of CA certificates trusted besides the system's (`ca_file`).
    pub ca_pem: Option<Vec<u8>>,
    /// `https://lanward.suido.local:8443`: where the mail's link points.
    pub console_url: Option<String>,
    /// Name given in EHLO.
    pub helo_name: Option<String>,
    pub batch_window: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .field("console_url", &self.console_url)
            .field("batch_window", &self.batch_window)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

const FIELDS: &[&str] = &["host", "port", "security", "from", "username", "password_env", "ca_file", "console_url", "helo_name", "batch_seconds", "timeout_secs", "retries"];

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Reads the checked configuration from the JSON text of `path` (named in
/// every error, with the field). `env` gives environment variables.
pub fn parse(path: &Path, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<MailConfig, String> {
    let file = path.display();
    let value: Value = serde_json::from_str(text).map_err(|e| format!("{file}: JSON として読めません ({} 行 {} 列: {e})", e.line(), e.column()))?;
    let Value::Object(obj) = value else {
        return Err(format!("{file}: JSON のオブジェクト ({{ ... }}) にしてください"));
    };
    let fail = |field: &str, msg: String| format!("{file}: {field}: {msg}");
    if obj.contains_key("password") {
        return Err(fail("password", "パスワードはファイルに書けません。password_env にパスワードを入れた環境変数の名前を書いてください".into()));
    }
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(fail(k, format!("知らない項目です (書ける項目: {})", FIELDS.join(", "))));
    }
    let text_field = |obj: &Map<String, Value>, key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(fail(key, "空です".into())),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(fail(key, "文字列で書いてください".into())),
        }
    };
    let number = |obj: &Map<String, Value>, key: &str, min: u64, max: u64| -> Result<Option<u64>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(fail(key, format!("{min} から {max} までの整数で書いてください"))),
            },
        }
    };
    let required = |key: &str, v: Option<String>| v.ok_or_else(|| fail(key, "必須の項目がありません".into()));

    let host = required("host", text_field(&obj, "host")?)?;
    if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(fail("host", format!("ホスト名か IP アドレスだけを書いてください ({host})")));
    }
    let security = match required("security", text_field(&obj, "security")?)?.as_str() {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => return Err(fail("security", format!("\"starttls\"、\"tls\"、\"none\" のどれかです ({other} は使えません)"))),
    };
    if security == Security::None && !is_loopback(&host) {
        return Err(fail("security", format!("\"none\" (暗号化なし) はループバック (127.0.0.1、::1、localhost) のサーバーにだけ使えます。{host} には \"starttls\" か \"tls\" を指定してください")));
    }
    let default_port = match security {
        Security::StartTls => 587,
        Security::Tls => 465,
        Security::None => 25,
    };
    let port = number(&obj, "port", 1, 65535)?.map(|p| p as u16).unwrap_or(default_port);
    let from_text = required("from", text_field(&obj, "from")?)?;
    let from: Mailbox = from_text.parse().map_err(|e| fail("from", format!("送信元のメールアドレスとして正しくありません ({from_text}: {e})")))?;
    let username = text_field(&obj, "username")?;
    let password_env = text_field(&obj, "password_env")?;
    let credentials = match (username, &password_env) {
        (None, None) => None,
        (Some(_), None) => return Err(fail("password_env", "username があるときは、パスワードを入れた環境変数の名前が必要です".into())),
        (None, Some(_)) => return Err(fail("username", "password_env があるときは、SMTP 認証のユーザー名が必要です".into())),
        (Some(u), Some(var)) => match env(var) {
            Some(p) if !p.is_empty() => Some((u, p)),
            _ => return Err(fail("password_env", format!("環境変数 {var} が設定されていないか空です"))),
        },
    };
    let ca_pem = match text_field(&obj, "ca_file")? {
        None => None,
        Some(p) => {
            let pem = std::fs::read(&p).map_err(|e| fail("ca_file", format!("{p} を読めません ({e})")))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(fail("ca_file", format!("{p} に PEM 形式の証明書がありません")));
            }
            Some(pem)
        }
    };
    let console_url = text_field(&obj, "console_url")?.map(|u| u.trim_end_matches('/').to_string());
    if let Some(u) = &console_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(char::is_whitespace) {
            return Err(fail("console_url", format!("https:// で始まるコンソールの URL を書いてください ({u})")));
        }
    }
    let helo_name = text_field(&obj, "helo_name")?;
    if let Some(h) = &helo_name {
        if !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return Err(fail("helo_name", format!("ホスト名 (英数字、.、-) で書いてください ({h})")));
        }
    }
    Ok(MailConfig {
        host,
        port,
        security,
        from,
        credentials,
        password_env,
        ca_pem,
        console_url,
        helo_name,
        batch_window: Duration::from_secs(number(&obj, "batch_seconds", 1, 3600)?.unwrap_or(60)),
        timeout: Duration::from_secs(number(&obj, "timeout_secs", 1, 120)?.unwrap_or(20)),
        retries: number(&obj, "retries", 0, 10)?.unwrap_or(4) as u32,
    })
}

fn transport(cfg: &MailConfig, file: &Path) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(cfg.host.clone());
        if let Some(pem) = &cfg.ca_pem {
            let cert = Certificate::from_pem(pem).map_err(|e| format!("{}: ca_file: 証明書を読めません ({e})", file.display()))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| format!("{}: TLS の設定を作れません ({e})", file.display()))
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone()).port(cfg.port).timeout(Some(cfg.timeout));
    b = match cfg.security {
        Security::StartTls => b.tls(Tls::Required(tls()?)),
        Security::Tls => b.tls(Tls::Wrapper(tls()?)),
        Security::None => b.tls(Tls::None),
    };
    if let Some((u, p)) = &cfg.credentials {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    if let Some(h) = &cfg.helo_name {
        b = b.hello_name(ClientId::Domain(h.clone()));
    }
    Ok(b.build())
}

/// Loads `DATA/mail.json`, if there is one. A file that exists but is
/// wrong stops the server: alerts must not silently stop going out.
/// Without `helo_name`, the first `--tls-name` is the EHLO name.
pub fn load(data_dir: &Path, tls_names: &[String]) -> anyhow::Result<Option<Mailer>> {
    let path = data_dir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: 読めません ({e})", path.display()))?;
    let mut cfg = parse(&path, &text, |name| std::env::var(name).ok()).map_err(|e| anyhow::anyhow!("メールの設定が正しくありません: {e}"))?;
    if cfg.helo_name.is_none() {
        cfg.helo_name = tls_names.iter().find(|n| n.contains('.') && n.parse::<IpAddr>().is_err()).cloned();
    }
    let transport = transport(&cfg, &path).map_err(|e| anyhow::anyhow!("メールの設定が正しくありません: {e}"))?;
    tracing::info!(host = %cfg.host, port = cfg.port, security = ?cfg.security, "alert e-mail configured");
    let (tx, rx) = mpsc::channel(QUEUE);
    Ok(Some(Mailer { cfg, transport, tx, rx: Mutex::new(Some(rx)), dropped: AtomicU64::new(0), link_base: OnceLock::new() }))
}

/// Checks the addresses of a rule: each a plain address (`name@domain`),
/// at most [`MAX_RECIPIENTS`], duplicates dropped. `Err((ja, en))`.
pub fn check_recipients(list: &[String]) -> Result<Vec<String>, (String, String)> {
    let mut out: Vec<String> = Vec::new();
    for raw in list {
        let a = raw.trim();
        if a.is_empty() {
            continue;
        }
        if a.parse::<Address>().is_err() || a.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',') {
            return Err((format!("宛先 {a} はメールアドレス (名前@ドメイン) として正しくありません"), format!("recipient {a} is not an e-mail address")));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_string());
        }
    }
    if out.len() > MAX_RECIPIENTS {
        return Err((format!("宛先は {MAX_RECIPIENTS} 件までです"), format!("at most {MAX_RECIPIENTS} recipients")));
    }
    Ok(out)
}

/// One stored alert on its way to the mail task.
#[derive(Debug, Clone)]
pub struct Queued {
    pub alert_id: i64,
    pub rule_id: i64,
    pub rule_name: String,
    pub recipients: Vec<String>,
    pub at_ms: i64,
    pub pc: String,
    pub user: Option<String>,
    pub kind: String,
    pub summary: String,
}

/// The alerts of one rule that go out in one mail.
#[derive(Debug, Clone)]
pub struct Batch {
    pub rule_id: i64,
    pub rule_name: String,
    pub recipients: Vec<String>,
    /// The first [`MAX_LISTED`], oldest first.
    pub listed: Vec<Queued>,
    pub total: usize,
    pub first_id: i64,
    pub last_id: i64,
    pcs: Vec<String>,
    due: Instant,
}

impl Batch {
    fn new(q: Queued, due: Instant) -> Batch {
        Batch {
            rule_id: q.rule_id,
            rule_name: q.rule_name.clone(),
            recipients: q.recipients.clone(),
            first_id: q.alert_id,
            last_id: q.alert_id,
            total: 1,
            pcs: vec![q.pc.clone()],
            listed: vec![q],
            due,
        }
    }

    fn add(&mut self, q: Queued) {
        self.total += 1;
        self.first_id = self.first_id.min(q.alert_id);
        self.last_id = self.last_id.max(q.alert_id);
        if !self.pcs.contains(&q.pc) && self.pcs.len() < 1000 {
            self.pcs.push(q.pc.clone());
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push(q);
        }
    }
}

pub struct Mailer {
    cfg: MailConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    tx: mpsc::Sender<Queued>,
    rx: Mutex<Option<mpsc::Receiver<Queued>>>,
    /// Alerts that found the queue full since the last report.
    dropped: AtomicU64,
    /// The console's address when `console_url` is not given.
    link_base: OnceLock<String>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn config(&self) -> &MailConfig {
        &self.cfg
    }

    /// Queues the stored alerts (`ids[i]` is `alerts[i]`'s id) whose rule
    /// has recipients. Never waits: a full queue drops and counts.
    pub fn enqueue(&self, rules: &[AlertRule], ids: &[i64], alerts: &[NewAlert]) {
        for (id, a) in ids.iter().zip(alerts) {
            let Some(rule) = rules.iter().find(|r| r.id == a.rule_id).filter(|r| !r.recipients.is_empty()) else {
                continue;
            };
            let q = Queued {
                alert_id: *id,
                rule_id: a.rule_id,
                rule_name: a.rule_name.clone(),
                recipients: rule.recipients.clone(),
                at_ms: a.at_ms,
                pc: a.pc.clone(),
                user: a.user_name.clone(),
                kind: a.kind.clone(),
                summary: a.summary.clone(),
            };
            match self.tx.try_send(q) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!("alert e-mail queue is full; alerts stay in the console but are not mailed");
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => tracing::warn!(alert = id, "alert e-mail task has stopped; alert not mailed"),
            }
        }
    }

    fn link(&self, b: &Batch) -> String {
        let base = self.cfg.console_url.clone().or_else(|| self.link_base.get().cloned()).unwrap_or_default();
        if b.total == 1 {
            format!("{base}/alerts#alert-{}", b.first_id)
        } else {
            format!("{base}/alerts")
        }
    }
}

/// The console's address from the listening socket, when `console_url`
/// is not set: a wildcard address becomes the first `--tls-name`.
pub fn server_url(scheme: &str, local: SocketAddr, tls_names: &[String]) -> String {
    let host = match tls_names.first() {
        Some(name) if local.ip().is_unspecified() => name.clone(),
        _ => match local.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        },
    };
    format!("{scheme}://{host}:{}", local.port())
}

/// Starts the mail task, if mail is configured. `url` is the server's own
/// address (used for links when `console_url` is not set).
pub fn start(state: &SharedState, url: String) {
    let Some(mailer) = state.mail.clone() else {
        return;
    };
    if mailer.cfg.console_url.is_none() {
        tracing::info!(%url, "mail.json has no console_url; links in alert e-mail use the server's address");
    }
    let _ = mailer.link_base.set(url);
    let Some(rx) = mailer.rx.lock().ok().and_then(|mut r| r.take()) else {
        return;
    };
    tokio::spawn(run(state.clone(), mailer, rx));
}

async fn audit(state: &SharedState, action: &str, target: String, detail: String) {
    if let Err(e) = crate::api::audit(state, "system".into(), action, target, detail, String::new()).await {
        tracing::error!(error = ?e, action, "cannot write the audit entry of an alert e-mail");
    }
}

/// Collects queued alerts per rule for `batch_window` from the first one,
/// then hands each rule's batch to its own sending task.
async fn run(state: SharedState, mailer: Arc<Mailer>, mut rx: mpsc::Receiver<Queued>) {
    let sends = Arc::new(Semaphore::new(CONCURRENT_SENDS));
    let mut pending: HashMap<i64, Batch> = HashMap::new();
    loop {
        let next = pending.values().map(|b| b.due).min();
        tokio::select! {
            got = rx.recv() => match got {
                Some(q) => match pending.get_mut(&q.rule_id) {
                    Some(b) => b.add(q),
                    None => {
                        pending.insert(q.rule_id, Batch::new(q, Instant::now() + mailer.cfg.batch_window));
                    }
                },
                None => break,
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
        }
        let now = Instant::now();
        let due: Vec<i64> = pending.iter().filter(|(_, b)| b.due <= now).map(|(k, _)| *k).collect();
        for rule in due {
            if let Some(b) = pending.remove(&rule) {
                tokio::spawn(deliver(state.clone(), mailer.clone(), sends.clone(), b));
            }
        }
        let dropped = mailer.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::error!(dropped, "alerts not mailed: the e-mail queue was full");
            audit(&state, "alert.mail_dropped", "mail".into(), format!("メールの送信待ちがいっぱいのため {dropped} 件の警告をメールしませんでした (警告はコンソールにあります)")).await;
        }
    }
}

/// Waiting time before retry `n` (1-based): 30 s, doubling, at most 15 min.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs((30u64 << n.saturating_sub(1).min(10)).min(900))
}

async fn deliver(state: SharedState, mailer: Arc<Mailer>, sends: Arc<Semaphore>, b: Batch) {
    let target = format!("alert_rule:{}", b.rule_id);
    let ids = if b.first_id == b.last_id { format!("alert:{}", b.first_id) } else { format!("alert:{}..{}", b.first_id, b.last_id) };
    let message = match compose(&mailer.cfg, &b, &mailer.link(&b)) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(rule = b.rule_id, error = %e, "alert e-mail could not be composed");
            audit(&state, "alert.mail_failed", target, format!("メールを作れません: {e} ({ids}, {} 件)", b.total)).await;
            return;
        }
    };
    let to = b.recipients.join(",");
    let attempts = mailer.cfg.retries + 1;
    for attempt in 1..=attempts {
        let result = {
            let _permit = sends.acquire().await.ok();
            // lettre's timeout is per command; this bounds the whole exchange.
            tokio::time::timeout(mailer.cfg.timeout * 4, mailer.transport.send(message.clone())).await
        };
        let error = match result {
            Ok(Ok(_)) => {
                tracing::info!(rule = b.rule_id, alerts = b.total, %to, "alert e-mail sent");
                audit(&state, "alert.mail_sent", target, format!("宛先={to} 警告={} 件 ({ids})", b.total)).await;
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("{} 秒以内に送信が終わりませんでした", (mailer.cfg.timeout * 4).as_secs()),
        };
        let next = (attempt < attempts).then(|| backoff(attempt));
        tracing::warn!(rule = b.rule_id, attempt, attempts, %error, retry_in = ?next, "alert e-mail not sent");
        let what = match next {
            Some(d) => format!("{} 秒後に再送します", d.as_secs()),
            None => "送信をあきらめました (警告はコンソールにあります)".to_string(),
        };
        let detail = format!("試行 {attempt}/{attempts} 失敗: {error}; {what} (宛先={to} {ids}, {} 件, SMTP {}:{})", b.total, mailer.cfg.host, mailer.cfg.port);
        audit(&state, "alert.mail_failed", target.clone(), detail).await;
        match next {
            Some(d) => tokio::time::sleep(d).await,
            None => return,
        }
    }
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn kind_text(kind: &str) -> String {
    match EventKind::parse(kind) {
        Some(k) => format!("{} ({kind})", k.label_ja()),
        None => kind.to_string(),
    }
}

/// `[lanward 警告] rule — PC (kind)`, or with the count for a batch.
pub fn subject(b: &Batch) -> String {
    let rule = one_line(&b.rule_name);
    match b.listed.first() {
        Some(q) if b.total == 1 => format!("[lanward 警告] {rule} — {} ({})", one_line(&q.pc), EventKind::parse(&q.kind).map(|k| k.label_ja()).unwrap_or(&q.kind)),
        Some(q) if b.pcs.len() == 1 => format!("[lanward 警告] {rule} — {} 件 ({})", b.total, one_line(&q.pc)),
        Some(q) => format!("[lanward 警告] {rule} — {} 件 ({} ほか {} 台)", b.total, one_line(&q.pc), b.pcs.len() - 1),
        None => format!("[lanward 警告] {rule}"),
    }
}

/// The text of the mail: each listed alert with its time in Japan time,
/// PC, user, kind and details, then the link to the console.
pub fn body(b: &Batch, link: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "操作ログの警告ルール「{}」に一致するイベントが {} 件ありました。\n", one_line(&b.rule_name), b.total);
    for (i, q) in b.listed.iter().enumerate() {
        let _ = writeln!(s, "[{}] {} (日本時間)", i + 1, crate::api::view::jst_seconds(q.at_ms));
        let _ = writeln!(s, "    PC: {}", one_line(&q.pc));
        let _ = writeln!(s, "    ユーザー: {}", q.user.as_deref().map(one_line).unwrap_or_else(|| "(不明)".into()));
        let _ = writeln!(s, "    種類: {}", kind_text(&q.kind));
        let _ = writeln!(s, "    内容: {}\n", one_line(&q.summary));
    }
    if b.total > b.listed.len() {
        let _ = writeln!(s, "ほかに {} 件あります (このメールには最初の {} 件だけを載せています)。すべてはコンソールで確認してください。\n", b.total - b.listed.len(), b.listed.len());
    }
    if b.pcs.len() > 1 {
        let _ = writeln!(s, "PC: {} 台 ({})\n", b.pcs.len(), b.pcs.iter().take(10).map(|p| one_line(p)).collect::<Vec<_>>().join("、"));
    }
    let _ = writeln!(s, "コンソールの警告ページ:\n{link}\n");
    let _ = writeln!(s, "--");
    let id_range = if b.first_id == b.last_id { format!("警告番号 {}", b.first_id) } else { format!("警告番号 {}〜{}", b.first_id, b.last_id) };
    let _ = writeln!(s, "lanward が自動で送信したメールです ({id_range})。返信しても届きません。");
    let _ = writeln!(s, "宛先はコンソールの「警告」ページのルールで変えられます (ルールを作り直してください)。");
    s
}

fn compose(cfg: &MailConfig, b: &Batch, link: &str) -> Result<Message, String> {
    let mut m = Message::builder()
        .from(cfg.from.clone())
        .subject(subject(b))
        .message_id(Some(format!("<{}@{}>", uuid::Uuid::new_v4(), cfg.from.email.domain())))
        .header(ContentType::TEXT_PLAIN);
    for r in &b.recipients {
        let to: Mailbox = r.parse().map_err(|e| format!("宛先 {r} が正しくありません ({e})"))?;
        m = m.to(to);
    }
    m.body(body(b, link)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/var/lib/lanward/mail.json")
    }

    const SAMPLE: &str = r#"{
        "host": "smtp.suido.local", "security": "starttls", "from": "lanward <lanward@suido.example.jp>",
        "username": "lanward", "password_env": "LANWARD_SMTP_PASSWORD", "console_url": "https://lanward.suido.local:8443/"
    }"#;

    #[test]
    fn sample_reads_with_the_password_from_the_environment() {
        let cfg = parse(p(), SAMPLE, |n| (n == "LANWARD_SMTP_PASSWORD").then(|| "s3cret".to_string())).expect("valid");
        assert_eq!((cfg.port, cfg.security, cfg.retries), (587, Security::StartTls, 4));
        assert_eq!(cfg.batch_window, Duration::from_secs(60));
        assert_eq!(cfg.console_url.as_deref(), Some("https://lanward.suido.local:8443"));
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert!(transport(&cfg, p()).is_ok());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let err = |text: &str| parse(p(), text, |_| Some("x".into())).expect_err("refused");
        let e = parse(p(), SAMPLE, |_| None).expect_err("no env");
        assert!(e.contains("mail.json") && e.contains("password_env") && e.contains("LANWARD_SMTP_PASSWORD"), "{e}");
        let e = err(&SAMPLE.replace("\"starttls\"", "\"ssl\""));
        assert!(e.starts_with("/var/lib/lanward/mail.json: security:"), "{e}");
        let e = err(&SAMPLE.replace("\"security\": \"starttls\"", "\"security\": \"none\""));
        assert!(e.contains("security") && e.contains("ループバック"), "{e}");
        assert!(parse(p(), r#"{"host": "127.0.0.1", "port": 2525, "security": "none", "from": "a@b.jp"}"#, |_| None).is_ok());
        assert!(err(&SAMPLE.replace("\"host\"", "\"hots\"")).contains("hots: 知らない項目"));
        assert!(err(&SAMPLE.replace("\"password_env\"", "\"password\"")).contains("password: パスワードはファイルに書けません"));
        assert!(err(&SAMPLE.replace("lanward@suido.example.jp", "lanward")).contains("from:"));
        assert!(err(r#"{"security": "tls", "from": "a@b.jp"}"#).contains("host: 必須"));
        assert!(err(&SAMPLE.replace("\"host\": \"smtp.suido.local\",", "\"host\": \"smtp.suido.local\", \"port\": 0,")).contains("port:"));
        assert!(err("{\"host\": ").contains("JSON として読めません"));
        assert!(err(&SAMPLE.replace("\"username\": \"lanward\",", "")).contains("username:"));
    }

    #[test]
    fn recipients_are_checked() {
        let ok = check_recipients(&["haisui@suido.example.jp".into(), " HAISUI@suido.example.jp".into(), "".into(), "joho@suido.example.jp".into()]).expect("valid");
        assert_eq!(ok, ["haisui@suido.example.jp", "joho@suido.example.jp"]);
        assert!(check_recipients(&["haisui".into()]).is_err());
        assert!(check_recipients(&["a@b.jp, c@d.jp".into()]).is_err());
        assert!(check_recipients(&["a@b.jp\nBcc: x@y.jp".into()]).is_err());
        assert!(check_recipients(&(0..21).map(|i| format!("u{i}@suido.example.jp")).collect::<Vec<_>>()).is_err());
    }

    fn q(id: i64, pc: &str) -> Queued {
        Queued {
            alert_id: id,
            rule_id: 3,
            rule_name: "配水課の USB メモリ".into(),
            recipients: vec!["haisui@suido.example.jp".into()],
            at_ms: 1_764_400_000_000,
            pc: pc.into(),
            user: Some("SUIDO\\tanaka".into()),
            kind: "device_connect".into(),
            summary: "BUFFALO / RUF3-K32GA".into(),
        }
    }

    #[test]
    fn one_alert_and_a_capped_batch() {
        let now = Instant::now();
        let one = Batch::new(q(7, "SUIDO-PC-0201"), now);
        assert_eq!(subject(&one), "[lanward 警告] 配水課の USB メモリ — SUIDO-PC-0201 (デバイス接続)");
        let text = body(&one, "https://x/alerts#alert-7");
        for part in ["2025-11-29 16:06:40 (日本時間)", "PC: SUIDO-PC-0201", "ユーザー: SUIDO\\tanaka", "デバイス接続 (device_connect)", "BUFFALO", "https://x/alerts#alert-7"] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let mut many = Batch::new(q(10, "SUIDO-PC-0201"), now);
        for i in 11..110 {
            many.add(q(i, if i % 2 == 0 { "SUIDO-PC-0201" } else { "SUIDO-PC-0202" }));
        }
        assert_eq!((many.total, many.listed.len(), many.first_id, many.last_id), (100, MAX_LISTED, 10, 109));
        assert_eq!(subject(&many), "[lanward 警告] 配水課の USB メモリ — 100 件 (SUIDO-PC-0201 ほか 1 台)");
        let text = body(&many, "https://x/alerts");
        assert!(text.contains(&format!("ほかに {} 件あります", 100 - MAX_LISTED)), "{text}");
        assert!(text.contains("警告番号 10〜109"));
        let m = compose(&parse(p(), r#"{"host": "::1", "security": "none", "from": "lanward@suido.example.jp"}"#, |_| None).expect("cfg"), &many, "https://x/alerts").expect("mail");
        let raw = String::from_utf8_lossy(&m.formatted()).into_owned();
        assert!(raw.contains("Subject: [lanward =?utf-8?b?"), "encoded-word subject: {raw}");
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!([1, 2, 3, 4, 6, 30].map(|n| backoff(n).as_secs()), [30, 60, 120, 240, 900, 900]);
    }

    #[test]
    fn links_without_console_url() {
        let names = vec!["lanward.suido.local".to_string()];
        assert_eq!(server_url("https", "0.0.0.0:8443".parse().expect("addr"), &names), "https://lanward.suido.local:8443");
        assert_eq!(server_url("http", "127.0.0.1:8080".parse().expect("addr"), &names), "http://127.0.0.1:8080");
        assert_eq!(server_url("https", "[::1]:8443".parse().expect("addr"), &[]), "https://[::1]:8443");
    }
}
