//! Alert e-mail end to end: the real server with `DATA/mail.json`, agents'
//! event batches that raise alerts, and a real SMTP server (Python's
//! aiosmtpd, `apt-get install python3-aiosmtpd`) that writes each message
//! it receives, decoded by Python's own `email` package, to a directory.

use crate::support::*;
use lanward_agent::client::ServerClient;
use lanward_proto::oplog::{Detail, Event, EventAck, EventBatch, EventKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Receives mail on 127.0.0.1 and writes `NNNN.json` per message:
/// envelope, raw and decoded subject, decoded text body.
const SINK: &str = r#"
import email, email.policy, json, os, ssl, sys, time
from aiosmtpd.controller import Controller

out, port = sys.argv[1], int(sys.argv[2])
tls = {}
if len(sys.argv) > 4:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    tls = {"tls_context": ctx, "require_starttls": True}

class Sink:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.n += 1
        raw = email.message_from_bytes(envelope.content)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw_subject": str(raw["Subject"]),
            "subject": str(msg["Subject"]),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "body": part.get_content() if part is not None else "",
        }
        tmp = os.path.join(out, ".%04d.tmp" % Sink.n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(out, "%04d.json" % Sink.n))
        return "250 OK"

c = Controller(Sink(), hostname="127.0.0.1", port=port, **tls)
c.start()
open(os.path.join(out, "ready"), "w").close()
while True:
    time.sleep(3600)
"#;

/// A Python that has aiosmtpd: Debian's (`python3-aiosmtpd`) or the one on PATH.
fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "python3"].into_iter().map(PathBuf::from).find(|p| {
        Command::new(p).args(["-c", "import aiosmtpd"]).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct SmtpSink {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl SmtpSink {
    /// `None` (test skipped) when aiosmtpd is missing, except in CI.
    fn start(dir: &Path) -> Option<SmtpSink> {
        Self::start_with(dir, None)
    }

    /// With `(cert, key)`: STARTTLS offered and required.
    fn start_with(dir: &Path, tls: Option<(&Path, &Path)>) -> Option<SmtpSink> {
        let Some(py) = python() else {
            assert!(std::env::var_os("CI").is_none(), "CI installs python3-aiosmtpd (.ci/run)");
            eprintln!("skipped: no Python with aiosmtpd (apt-get install python3-aiosmtpd)");
            return None;
        };
        std::fs::create_dir_all(dir).unwrap();
        let script = dir.join("sink.py");
        std::fs::write(&script, SINK).unwrap();
        let port = free_port();
        let mut cmd = Command::new(py);
        cmd.arg(&script).arg(dir).arg(port.to_string());
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        // aiosmtpd logs refused handshakes with tracebacks: kept beside the mail.
        let log = std::fs::File::create(dir.join("sink.log")).unwrap();
        let child = cmd.stdout(Stdio::null()).stderr(log).spawn().expect("start aiosmtpd");
        let mut sink = SmtpSink { child, dir: dir.to_path_buf(), port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.join("ready").exists() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("aiosmtpd exited with {status}: {}", std::fs::read_to_string(dir.join("sink.log")).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    fn mails(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let mut m: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                let body = m["body"].as_str().unwrap_or_default().replace("\r\n", "\n");
                m["body"] = Value::String(body);
                m
            })
            .collect()
    }

    /// Waits until there are at least `n` messages.
    fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.mails();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} mails, got {}: {got:?}", got.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data: &Path, mail: Value) -> Server {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("mail.json"), serde_json::to_string_pretty(&mail).unwrap()).unwrap();
    Server::start(data, false, &[])
}

fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    match server.http().post(&format!("{}{path}", server.url)).set("authorization", &format!("Bearer {}", server.token())).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_json().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

/// An enrolled agent that sends event batches itself (the sender's path).
fn agent(server: &Server, host: &str) -> ServerClient {
    let token = server.create_token("HQ", "1h", 1);
    let id = lanward_agent::client::enroll(&server.url, &token, host, "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone()))
}

fn usb(seq: u64) -> Event {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    Event {
        seq,
        at_ms: now,
        kind: EventKind::DeviceConnect,
        session_id: Some(1),
        user: Some("SUIDO\\tanaka".into()),
        detail: Some(Detail { device_class: Some("usb_storage".into()), vendor: Some("BUFFALO".into()), product: Some("RUF3-K32GA".into()), serial: Some(format!("SN{seq:05}")), ..Default::default() }),
    }
}

fn send(client: &ServerClient, seqs: std::ops::RangeInclusive<u64>) -> EventAck {
    client.post_json("/api/v1/agent/events", &EventBatch { events: seqs.map(usb).collect(), dropped: None }).unwrap()
}

fn audit_actions(server: &Server, action: &str) -> Vec<Value> {
    server.get_json("/api/v1/audit?limit=5000")["entries"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

/// One alert: a mail to the rule's recipients with a Japanese subject
/// (MIME encoded-words) and the PC, user, time and link in the body; a
/// rule without recipients sends nothing. Then 500 alerts in a burst: one
/// mail that lists the first ones and counts the rest.
#[test]
fn alert_mail_reaches_the_recipients_and_a_burst_is_one_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(smtp) = SmtpSink::start(&tmp.path().join("smtp")) else { return };
    let window = 4;
    let server = start_server(
        &tmp.path().join("srv"),
        json!({"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "lanward <lanward@suido.example.jp>", "batch_seconds": window, "retries": 1}),
    );
    let (code, body) = post(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "配水課の USB メモリ", "kind": "device_connect", "device_class": "usb_storage", "recipients": ["haisui@suido.example.jp", "joho@suido.example.jp"]}),
    );
    assert_eq!(code, 201, "{body}");
    let (code, err) = post(&server, "/api/v1/alert-rules", json!({"name": "宛先の誤り", "kind": "device_connect", "recipients": ["haisui"]}));
    assert_eq!((code, err["code"].as_str()), (400, Some("recipients_invalid")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("haisui"), "{err}");
    // The console form: addresses separated by Japanese commas; this rule
    // matches the same events but nobody is mailed for it.
    let no_redirects = ureq::AgentBuilder::new().redirects(0).build();
    for fields in [
        [("name", "USB (記録だけ)"), ("kind", "device_connect"), ("device_class", "usb_storage"), ("recipients", "")],
        [("name", "印刷の監視"), ("kind", "print_job"), ("device_class", ""), ("recipients", "a@suido.example.jp、 b@suido.example.jp")],
    ] {
        let r = no_redirects.post(&format!("{}/alerts/rules", server.url)).set("authorization", &format!("Bearer {}", server.token())).send_form(&fields);
        assert_eq!(r.as_ref().map(|r| r.status()).ok(), Some(303), "console form: {r:?}");
    }
    let rules = server.get_json("/api/v1/alert-rules");
    let recipients: Vec<Value> = rules["rules"].as_array().unwrap().iter().map(|r| r["recipients"].clone()).collect();
    assert_eq!(recipients, [json!(["haisui@suido.example.jp", "joho@suido.example.jp"]), json!([]), json!(["a@suido.example.jp", "b@suido.example.jp"])]);

    let pc = agent(&server, "SUIDO-PC-0301");
    assert_eq!(send(&pc, 1..=1).stored, 1);
    let mails = smtp.wait_for(1, Duration::from_secs(window + 20));
    let alerts = server.get_json("/api/v1/alerts");
    let list = alerts["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 2, "one alert per rule: {alerts}");
    let mailed = list.iter().find(|a| a["rule"] == "配水課の USB メモリ").unwrap()["id"].as_i64().unwrap();
    let m = &mails[0];
    assert_eq!(m["rcpt_tos"], json!(["haisui@suido.example.jp", "joho@suido.example.jp"]), "{m}");
    assert_eq!(m["mail_from"], "lanward@suido.example.jp");
    let raw_subject = m["raw_subject"].as_str().unwrap();
    assert!(raw_subject.contains("=?utf-8?"), "the subject travels as MIME encoded-words: {raw_subject}");
    assert_eq!(m["subject"], "[lanward 警告] 配水課の USB メモリ — SUIDO-PC-0301 (デバイス接続)");
    let text = m["body"].as_str().unwrap();
    for part in ["「配水課の USB メモリ」", "1 件", "PC: SUIDO-PC-0301", "ユーザー: SUIDO\\tanaka", "デバイス接続 (device_connect)", "BUFFALO", "(日本時間)", &format!("{}/alerts#alert-{mailed}", server.url)] {
        assert!(text.contains(part), "{part:?} missing from\n{text}");
    }
    // The link's anchor exists on the console page.
    let page = server.http().get(&format!("{}/alerts", server.url)).set("authorization", &format!("Bearer {}", server.token())).call().unwrap().into_string().unwrap();
    assert!(page.contains(&format!("id=\"alert-{mailed}\"")), "console row for the mailed alert");

    // 500 alerts within the window: one mail.
    let started = Instant::now();
    for chunk in 0..5u64 {
        let ack = send(&pc, (2 + chunk * 100)..=(101 + chunk * 100));
        assert_eq!(ack.stored, 100);
    }
    assert!(started.elapsed() < Duration::from_secs(window), "the burst must fit in one window for this test ({:?})", started.elapsed());
    let mails = smtp.wait_for(2, Duration::from_secs(window + 20));
    std::thread::sleep(Duration::from_secs(window + 2));
    assert_eq!(smtp.mails().len(), 2, "one mail for the whole burst");
    let m = &mails[1];
    assert_eq!(m["subject"], "[lanward 警告] 配水課の USB メモリ — 500 件 (SUIDO-PC-0301)", "{m}");
    let text = m["body"].as_str().unwrap();
    assert!(text.contains("500 件ありました"), "{text}");
    assert!(text.contains("ほかに 470 件あります"), "{text}");
    assert_eq!(text.matches("PC: SUIDO-PC-0301").count(), 30, "the list is capped");
    assert!(text.contains(&format!("{}/alerts\n", server.url)), "{text}");
    assert_eq!(server.get_json("/api/v1/alerts?limit=5000")["alerts"].as_array().unwrap().len(), 1002, "every alert is in the console");
    let sent = audit_actions(&server, "alert.mail_sent");
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1]["detail"].as_str().unwrap().contains("500 件"), "{sent:?}");
    assert!(audit_actions(&server, "alert.mail_failed").is_empty());
}

/// An SMTP server that accepts connections but never answers: ingest does
/// not wait for it, the alert is in the console at once, and the failed
/// attempt is in the audit log (with the retry to come).
#[test]
fn an_unreachable_mail_server_neither_blocks_ingest_nor_loses_the_alert() {
    let tmp = tempfile::tempdir().unwrap();
    // Connections complete in the kernel's backlog; nobody ever speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let server = start_server(
        &tmp.path().join("srv"),
        json!({"host": "127.0.0.1", "port": port, "security": "none", "from": "lanward@suido.example.jp", "batch_seconds": 1, "timeout_secs": 1, "retries": 2, "console_url": "https://lanward.suido.local:8443"}),
    );
    let (code, _) = post(&server, "/api/v1/alert-rules", json!({"name": "USB メモリ", "kind": "device_connect", "recipients": ["joho@suido.example.jp"]}));
    assert_eq!(code, 201);
    let pc = agent(&server, "SUIDO-PC-0302");
    assert_eq!(send(&pc, 1..=1).stored, 1);
    let alerts = server.get_json("/api/v1/alerts");
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "stored before any mail: {alerts}");
    // While the mail task waits for the silent server, agents are answered.
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    assert_eq!(send(&pc, 2..=51).stored, 50);
    assert!(t.elapsed() < Duration::from_secs(2), "ingest waited for SMTP: {:?}", t.elapsed());
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let f = audit_actions(&server, "alert.mail_failed");
        if !f.is_empty() {
            break f;
        }
        assert!(Instant::now() < deadline, "no alert.mail_failed in the audit log");
        std::thread::sleep(Duration::from_millis(200));
    };
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(detail.contains("試行 1/3 失敗") && detail.contains("30 秒後に再送") && detail.contains("joho@suido.example.jp"), "{detail}");
    assert_eq!(failed[0]["actor"], "system");
    assert_eq!(failed[0]["target"], "alert_rule:1");
    assert_eq!(server.get_json("/api/v1/alerts?limit=100")["alerts"].as_array().unwrap().len(), 51, "no alert lost");
    let log = std::fs::read_to_string(tmp.path().join("srv.log")).unwrap();
    assert!(log.contains("alert e-mail not sent"), "the server log says so too");
    assert!(audit_actions(&server, "alert.mail_sent").is_empty());
    drop(silent);
}

/// A wrong `mail.json` stops the server with a Japanese message that
/// names the file and the field.
#[test]
fn a_bad_mail_json_stops_the_server_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("srv");
    for (mail, field, words) in [
        (json!({"host": "smtp.suido.local", "security": "none", "from": "lanward@suido.example.jp"}), "security", "ループバック"),
        (json!({"host": "smtp.suido.local", "security": "starttls", "from": "lanward@suido.example.jp", "username": "lanward", "password_env": "LANWARD_TEST_NO_SUCH_VARIABLE"}), "password_env", "LANWARD_TEST_NO_SUCH_VARIABLE"),
        (json!({"host": "smtp.suido.local", "security": "tls", "from": "lanward@suido.example.jp", "password": "x"}), "password", "書けません"),
    ] {
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("mail.json"), mail.to_string()).unwrap();
        let out = Command::new(lanward_bin())
            .args(["serve", "--data"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--insecure-http"])
            .env("LANWARD_LOG", "warn")
            .env_remove("LANWARD_TEST_NO_SUCH_VARIABLE")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{mail}: started");
        let expected = format!("{}: {field}:", data.join("mail.json").display());
        assert!(err.contains(&expected) && err.contains(words), "{expected} / {words} in: {err}");
    }
}

/// STARTTLS: the mail goes out when the server's certificate is trusted
/// (`ca_file`), and not at all when it is not (no fallback to plain text).
#[test]
fn starttls_needs_a_trusted_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("smtp-cert.pem"), tmp.path().join("smtp-key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.map(|s| s.success()).unwrap_or(false) {
        assert!(std::env::var_os("CI").is_none(), "openssl is needed for the STARTTLS test");
        eprintln!("skipped: no openssl to make a test certificate");
        return;
    }
    let Some(smtp) = SmtpSink::start_with(&tmp.path().join("smtp"), Some((&cert, &key))) else { return };
    for (name, trusted) in [("trusted", true), ("untrusted", false)] {
        let mut mail = json!({"host": "127.0.0.1", "port": smtp.port, "security": "starttls", "from": "lanward@suido.example.jp", "batch_seconds": 1, "retries": 0});
        if trusted {
            mail["ca_file"] = json!(cert.display().to_string());
        }
        let server = start_server(&tmp.path().join(name), mail);
        let (code, _) = post(&server, "/api/v1/alert-rules", json!({"name": "USB メモリ", "kind": "device_connect", "recipients": ["joho@suido.example.jp"]}));
        assert_eq!(code, 201);
        let pc = agent(&server, "SUIDO-PC-0303");
        assert_eq!(send(&pc, 1..=1).stored, 1);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (sent, failed) = (audit_actions(&server, "alert.mail_sent"), audit_actions(&server, "alert.mail_failed"));
            if trusted && !sent.is_empty() {
                let mails = smtp.wait_for(1, Duration::from_secs(5));
                assert!(mails[0]["body"].as_str().unwrap().contains("PC: SUIDO-PC-0303"));
                break;
            }
            if !trusted && !failed.is_empty() {
                let detail = failed[0]["detail"].as_str().unwrap();
                assert!(detail.contains("試行 1/1 失敗") && detail.contains("送信をあきらめました"), "{detail}");
                assert_eq!(smtp.mails().len(), 1, "nothing more was delivered");
                break;
            }
            assert!(failed.is_empty() || !trusted, "trusted certificate refused: {failed:?}");
            assert!(Instant::now() < deadline, "{name}: neither sent nor failed");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
