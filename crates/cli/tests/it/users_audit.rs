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
