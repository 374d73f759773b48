use crate::support::*;

/// The whole path over HTTPS: token, enrolment with CA pinning, a real
/// inventory of this machine, and the API/CLI views of it.
#[test]
fn https_enrol_inventory_and_list() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), true, &[]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let token = server.create_token("HQ", "1h", 5);
    assert!(token.starts_with("lwt1."));
    let fingerprint = token.rsplit('.').next().unwrap();
    assert_eq!(fingerprint.len(), 64);

    let a = tmp.path().join("agent");
    let out = agent(&["enroll", "--server", &server.url, "--token", &token], &a);
    assert!(out.status.success(), "enrol: {}", stderr(&out));
    let out = agent(&["run", "--splay", "0", "--checkins", "1"], &a);
    assert!(out.status.success(), "run: {}", stderr(&out));

    let assets = server.assets();
    assert_eq!(assets.len(), 1);
    let asset = &assets[0];
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(asset["hostname"], hostname.as_str());
    assert_eq!(asset["site"], "HQ");
    assert_eq!(asset["kind"], "server");
    assert_eq!(asset["os"]["family"], "linux");
    assert!(!asset["os"]["name"].as_str().unwrap().is_empty());
    assert!(asset["hardware"]["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(asset["hardware"]["memory_bytes"].as_u64().unwrap() > 100 << 20);
    assert!(asset["hardware"]["nics"].as_array().unwrap().iter().any(|n| n["mac"].is_string()));
    assert!(asset["software"].as_array().unwrap().iter().any(|s| s["name"] == "dpkg" && s["version"].is_string()));
    assert!(asset["last_seen"].is_string());

    // The single-asset view and the table agree.
    let id = asset["id"].as_i64().unwrap();
    let one = server.get_json(&format!("/api/v1/assets/{id}"));
    assert_eq!(one["hostname"], asset["hostname"]);
    let table = server.cli_ok(&["assets", "list"]);
    assert!(table.contains(&hostname) && table.contains("ホスト名"), "{table}");

    // A second run sends nothing new: the stored sections keep their time.
    let before = one["sections"]["software"]["received_at"].clone();
    let out = agent(&["run", "--splay", "0", "--checkins", "1"], &a);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = server.get_json(&format!("/api/v1/assets/{id}"));
    assert_eq!(after["sections"]["software"]["received_at"], before);

    // The OpenAPI document and health need no token.
    let http = server.http();
    let doc: serde_json::Value = http.get(&format!("{}/api/v1/openapi.json", server.url)).call().unwrap().into_json().unwrap();
    assert!(doc["paths"]["/api/v1/assets"].is_object());
    assert_eq!(http.get(&format!("{}/api/v1/health", server.url)).call().unwrap().status(), 200);
    // Admin routes do.
    match http.get(&format!("{}/api/v1/assets", server.url)).call() {
        Err(ureq::Error::Status(401, _)) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    // Token creation and enrolment are in the audit log, chained.
    let audit = server.get_json("/api/v1/audit");
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"enrollment_token.create") && actions.contains(&"agent.enroll"), "{actions:?}");
    assert_eq!(audit["chain_intact"], true);
}

#[test]
fn bad_tokens_enrol_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), true, &[]);
    let good = server.create_token("KUN", "1h", 1);

    // Forged secret.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    parts[2] = "forgedsecretforgedsecret".into();
    let out = agent(&["enroll", "--server", &server.url, "--token", &parts.join(".")], &tmp.path().join("a1"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("token_invalid"), "{}", stderr(&out));

    // A fingerprint that is not this server's CA: the agent stops before enrolling.
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    parts[3] = "0".repeat(64);
    let out = agent(&["enroll", "--server", &server.url, "--token", &parts.join(".")], &tmp.path().join("a2"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("指紋"), "{}", stderr(&out));

    // Used once, then used up.
    let out = agent(&["enroll", "--server", &server.url, "--token", &good], &tmp.path().join("a3"));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent(&["enroll", "--server", &server.url, "--token", &good], &tmp.path().join("a4"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("token_used_up"), "{}", stderr(&out));

    // Expired.
    let short = server.create_token("KUN", "1s", 10);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = agent(&["enroll", "--server", &server.url, "--token", &short], &tmp.path().join("a5"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("token_expired"), "{}", stderr(&out));

    let agents = server.get_json("/api/v1/agents");
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1, "only the one good enrolment is stored");
    assert_eq!(server.assets().len(), 1);
}

#[test]
fn revoked_agent_is_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let a = tmp.path().join("agent");
    assert!(agent(&["enroll", "--server", &server.url, "--token", &token], &a).status.success());
    assert!(agent(&["run", "--splay", "0", "--checkins", "1"], &a).status.success());
    let agents = server.get_json("/api/v1/agents");
    let id = agents["agents"][0]["id"].as_str().unwrap().to_string();
    let before = server.assets()[0]["sections"].clone();

    let out = server.cli_ok(&["agent", "revoke", &id]);
    assert!(out.contains("失効しました"), "{out}");
    // Force a full inventory: the agent tries to send everything and is refused.
    std::fs::remove_file(a.join("state.json")).unwrap();
    let out = agent(&["run", "--splay", "0", "--checkins", "1"], &a);
    assert!(stderr(&out).contains("401") || stderr(&out).contains("失効"), "{}", stderr(&out));
    assert_eq!(server.assets()[0]["sections"], before, "nothing of a revoked agent is stored");
    let agents = server.get_json("/api/v1/agents");
    assert!(agents["agents"][0]["revoked_at"].is_string());
    // Revocation survives a restart (it is in the store, not only the cache).
    let mut server = server;
    server.restart();
    let out = agent(&["run", "--splay", "0", "--checkins", "1"], &a);
    assert!(stderr(&out).contains("agent_revoked"), "{}", stderr(&out));
}

#[test]
fn plain_http_only_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(lanward_bin())
        .args(["serve", "--data"])
        .arg(tmp.path())
        .args(["--listen", "0.0.0.0:0", "--insecure-http"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ループバック"), "{}", String::from_utf8_lossy(&out.stderr));
    // And the agent refuses a plain-HTTP server that is not on loopback.
    let out = agent(&["enroll", "--server", "http://192.0.2.1:8080", "--token", &format!("lwt1.a.b.{}", "0".repeat(64))], &tmp.path().join("a"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
}
