//! The WebDriver harness itself (`tests/browser/webdriver.rs`): headless
//! Chromium fills in a Japanese form served by a tiny HTTP server in this
//! test, submits it, reads the echoed text back and takes a screenshot.
//!
//! Needs chromium and chromium-driver. Without them the test fails when
//! `CI` is set and is skipped otherwise.

#[path = "../../../../tests/browser/webdriver.rs"]
mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use webdriver::Browser;

const FORM: &str = r#"<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>ログイン</title></head>
<body><h1>ログイン</h1><form method="post" action="/login">
<label>利用者名 <input id="user" name="user"></label>
<label>パスワード <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">ログインする</button></form></body></html>"#;

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `application/x-www-form-urlencoded` value → text.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn field(body: &str, name: &str) -> String {
    body.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| url_decode(v)).unwrap_or_default()
}

/// One request, one response, connection closed.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let request = line.trim_end().to_string();
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body);
    let (status, page) = if request.starts_with("GET / ") {
        ("200 OK", FORM.to_string())
    } else if request.starts_with("POST /login ") {
        let who = html_escape(&field(&body, "user"));
        let pw = field(&body, "password").chars().count();
        let page = format!(
            r#"<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>ようこそ</title></head>
<body><p id="welcome">ようこそ、{who}さん</p><p id="pw">パスワード {pw} 文字</p></body></html>"#
        );
        ("200 OK", page)
    } else {
        ("404 Not Found", "not found".to_string())
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    )?;
    out.flush()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `<target>/browser/<name>`: kept after the run for looking at screenshots.
fn out_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    let dir = target.join("browser").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn webdriver_drives_a_form() -> anyhow::Result<()> {
    if let Some(reason) = webdriver::available() {
        if in_ci() {
            panic!("browser tests need Chromium in CI: {reason}");
        }
        eprintln!("skipped: {reason}");
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    // The thread ends with the test process.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve(stream);
        }
    });

    let start = Instant::now();
    let dir = out_dir("harness");
    let browser = Browser::start(&dir)?;
    eprintln!("[browser {:4.1} s] session started", start.elapsed().as_secs_f64());
    browser.goto(&format!("{base}/"))?;
    assert_eq!(browser.title()?, "ログイン");
    assert_eq!(browser.find("h1")?.text()?, "ログイン");
    assert_eq!(browser.execute("return navigator.language", vec![])?, "ja");

    let user = browser.wait_for("#user", Duration::from_secs(5))?;
    user.send_keys("xx")?;
    user.clear()?;
    user.send_keys("田中")?;
    assert_eq!(user.value()?, "田中");
    assert_eq!(user.attr("name")?.as_deref(), Some("user"));
    assert_eq!(user.attr("nonexistent")?, None);
    browser.find("#password")?.send_keys("秘密pass 1")?;
    browser.screenshot("form")?;
    browser.find("#submit")?.click()?;

    let welcome = browser.wait_for_text("#welcome", "田中", Duration::from_secs(10))?;
    assert_eq!(welcome.text()?, "ようこそ、田中さん");
    assert_eq!(browser.find("#pw")?.text()?, "パスワード 8 文字");
    assert!(browser.current_url()?.ends_with("/login"));
    assert_eq!(browser.find_all("p")?.len(), 2);

    let shot = browser.screenshot("welcome")?;
    let png = std::fs::read(&shot)?;
    assert!(png.len() > 8 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {}", shot.display());

    // A failed look-up names the selector and leaves a screenshot behind.
    let err = format!("{:#}", browser.wait_for("#nope", Duration::from_millis(300)).err().expect("no #nope"));
    assert!(err.contains("#nope") && err.contains("no such element"), "{err}");
    assert!(dir.join("failure-1.png").is_file(), "{err}");
    eprintln!("[browser {:4.1} s] done; screenshots in {}", start.elapsed().as_secs_f64(), dir.display());
    Ok(())
}
