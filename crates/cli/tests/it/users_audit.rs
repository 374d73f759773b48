//! `lanward user add|list` and `lanward audit verify`.

use crate::support::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn user_add(server: &Server, args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(lanward_bin())
        .args(["user", "add"])
        .args(args)
        .env("LANWARD_SERVER", &server.url)
        .env("LANWARD_TOKEN", server.token())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_are_created_with_roles_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let ok = user_add(&server, &["alice", "--role", "auditor", "--display-name", "監査 花子"], "correct horse battery staple\n");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let list = server.cli_ok(&["user", "list"]);
    assert!(list.contains("alice") && list.contains("auditor") && list.contains("監査 花子"), "{list}");
    for (args, password, code) in [
        (&["alice", "--role", "auditor"][..], "another long password", "user_exists"),
        (&["bob", "--role", "boss"][..], "another long password", "role_invalid"),
        (&["carol", "--role", "operator"][..], "short", "password_too_short"),
        (&["da ve", "--role", "operator"][..], "another long password", "username_invalid"),
    ] {
        let out = user_add(&server, args, password);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(String::from_utf8_lossy(&out.stderr).contains(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let users = server.get_json("/api/v1/users");
    assert_eq!(users["users"].as_array().unwrap().len(), 2, "admin and alice only");
    assert!(users.to_string().find("argon2").is_none(), "no password hashes in the API");
    let audit = server.get_json("/api/v1/audit");
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "user.create" && e["target"] == "user:alice"));
}

fn verify(data: &std::path::Path) -> std::process::Output {
    Command::new(lanward_bin()).args(["audit", "verify", "--data"]).arg(data).output().unwrap()
}

fn sql(db: &std::path::Path, statement: &str) {
    let st = Command::new("python3")
        .args(["-c", &format!("import sqlite3;c=sqlite3.connect({:?});c.execute({:?});c.commit()", db.display().to_string(), statement)])
        .status()
        .unwrap();
    assert!(st.success());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn audit_verify_detects_edits_and_deletions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("srv");
    let mut server = Server::start(&data, false, &[]);
    for site in ["HQ", "KUN", "ORO"] {
        server.create_token(site, "1h", 5);
    }
    server.kill();

    let out = verify(&data);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("正常"), "{}", String::from_utf8_lossy(&out.stdout));

    let edited = tmp.path().join("edited");
    copy_dir(&data, &edited);
    sql(&edited.join("lanward.db"), "UPDATE audit_log SET detail = 'site=XX' WHERE seq = 3");
    let out = verify(&edited);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seq 3"), "{}", String::from_utf8_lossy(&out.stderr));

    let deleted = tmp.path().join("deleted");
    copy_dir(&data, &deleted);
    sql(&deleted.join("lanward.db"), "DELETE FROM audit_log WHERE seq = 2");
    let out = verify(&deleted);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seq 2"), "{}", String::from_utf8_lossy(&out.stderr));

    let out = verify(&tmp.path().join("nothing-here"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lanward.db"));
}

fn status_of(r: Result<ureq::Response, ureq::Error>) -> u16 {
    match r {
        Ok(resp) => resp.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("transport error: {e}"),
    }
}

/// A person makes an API token for a script in their session (CSRF
/// needed), the script uses it with the person's role, and revoking it
/// ends it; expired or revoked tokens are refused and the refusal audited.
#[test]
fn people_make_and_revoke_api_tokens_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let out = user_add(&server, &["hanako", "--role", "helpdesk"], "correct horse battery staple\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let http = server.http();
    let login: serde_json::Value = http
        .post(&format!("{}/api/v1/session", server.url))
        .send_json(serde_json::json!({"username": "hanako", "password": "correct horse battery staple"}))
        .unwrap()
        .into_json()
        .unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_string();
    // The cookie comes back in Set-Cookie; ureq 2 without the cookies feature does not keep it.
    let resp = http.post(&format!("{}/api/v1/session", server.url)).send_json(serde_json::json!({"username": "hanako", "password": "correct horse battery staple"})).unwrap();
    let cookie = resp.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let login2: serde_json::Value = resp.into_json().unwrap();
    let csrf2 = login2["csrf_token"].as_str().unwrap().to_string();
    assert_ne!(csrf, csrf2, "each session has its own CSRF token");

    let url = format!("{}/api/v1/api-tokens", server.url);
    let without_csrf = http.post(&url).set("cookie", &cookie).send_json(serde_json::json!({"name": "棚卸しスクリプト"}));
    assert_eq!(status_of(without_csrf), 403);
    let made: serde_json::Value =
        http.post(&url).set("cookie", &cookie).set("x-csrf-token", &csrf2).send_json(serde_json::json!({"name": "棚卸しスクリプト", "expires_in_days": 30})).unwrap().into_json().unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("lwa_"));

    // The script reads with hanako's role, and cannot do what helpdesk may not.
    let assets = http.get(&format!("{}/api/v1/assets", server.url)).set("authorization", &format!("Bearer {token}")).call();
    assert_eq!(status_of(assets), 200);
    let users = http.post(&format!("{}/api/v1/users", server.url)).set("authorization", &format!("Bearer {token}")).send_json(serde_json::json!({"username": "x", "role": "administrator", "password": "0123456789abcdef"}));
    assert_eq!(status_of(users), 403);
    // hanako sees only her own tokens; the bootstrap token is not among them.
    let mine: serde_json::Value = http.get(&url).set("authorization", &format!("Bearer {token}")).call().unwrap().into_json().unwrap();
    assert_eq!(mine["tokens"].as_array().unwrap().len(), 1, "{mine}");
    assert!(!mine.to_string().contains(&token), "secrets are never listed");

    let revoke = http.post(&format!("{url}/{id}/revoke")).set("authorization", &format!("Bearer {token}")).send_json(serde_json::json!({}));
    assert_eq!(status_of(revoke), 200);
    let after = http.get(&format!("{}/api/v1/assets", server.url)).set("authorization", &format!("Bearer {token}")).call();
    assert_eq!(status_of(after), 401);

    let audit = server.get_json("/api/v1/audit?limit=1000");
    let actions: Vec<(String, String)> = audit["entries"].as_array().unwrap().iter().map(|e| (e["action"].as_str().unwrap().to_string(), e["source"].as_str().unwrap().to_string())).collect();
    for wanted in ["login", "api_token.create", "api_token.revoke", "access.denied", "csrf.rejected", "auth.rejected"] {
        assert!(actions.iter().any(|(a, src)| a == wanted && src == "127.0.0.1"), "{wanted} with source 127.0.0.1 in {actions:?}");
    }
}
