//! Ledger fields: people edit them, every change is kept with who, when,
//! old and new value, and bad values are refused naming the field.

use crate::support::*;

#[test]
fn ledger_fields_are_edited_checked_and_kept_in_history() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 1);
    lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0123", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let id = server.assets()[0]["id"].as_i64().unwrap().to_string();

    let out = server.cli_ok(&["assets", "set", &id, "department=配水課", "room=3F-301", "warranty_end=2029-03-31", "mac_addresses=00-1b-21-aa-bb-cc"]);
    assert!(out.contains("4 項目"), "{out}");
    let out = server.cli_ok(&["assets", "set", &id, "room=", "status=repair", "department=配水課"]);
    assert!(out.contains("2 項目"), "only real changes count: {out}");

    let asset = server.get_json(&format!("/api/v1/assets/{id}"));
    assert_eq!(asset["ledger"]["department"], "配水課");
    assert_eq!(asset["ledger"]["mac_addresses"], "00:1B:21:AA:BB:CC");
    assert_eq!(asset["ledger"]["status"], "repair");
    assert!(asset["ledger"]["room"].is_null());

    let history = server.get_json(&format!("/api/v1/assets/{id}/history"))["history"].as_array().unwrap().clone();
    assert_eq!(history.len(), 6);
    let room: Vec<_> = history.iter().filter(|h| h["field"] == "room").collect();
    assert_eq!((room[0]["old_value"].clone(), room[0]["new_value"].clone()), (serde_json::Value::Null, "3F-301".into()));
    assert_eq!((room[1]["old_value"].clone(), room[1]["new_value"].clone()), ("3F-301".into(), serde_json::Value::Null));
    assert!(history.iter().all(|h| h["actor"] == "user:admin" && h["at"].is_string()));
    let table = server.cli_ok(&["assets", "history", &id]);
    assert!(table.contains("配水課") && table.contains("変更前"), "{table}");

    // Bad values are refused, naming the field, and nothing of the request is kept.
    for (arg, field) in [("warranty_end=2029-02-30", "warranty_end"), ("status=lost", "status"), ("owner=x", "owner"), ("ip_addresses=10.0.0.300", "ip_addresses")] {
        let out = server.cli(&["assets", "set", &id, "building=本庁舎", arg]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field) && err.contains("field_invalid"), "{arg}: {err}");
    }
    assert!(server.get_json(&format!("/api/v1/assets/{id}"))["ledger"]["building"].is_null(), "nothing half-applied");
    assert_eq!(server.get_json(&format!("/api/v1/assets/{id}/history"))["history"].as_array().unwrap().len(), 6);
    let out = server.cli(&["assets", "set", "9999", "room=x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));

    let audit = server.get_json("/api/v1/audit");
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "asset.update" && e["target"] == format!("asset:{id}").as_str()));
}

fn send(server: &Server, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let req = server.http().request(method, &format!("{}{}", server.url, path)).set("authorization", &format!("Bearer {}", server.token()));
    match req.send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// Devices without agents are registered by hand; an agent installed later
/// on a registered PC takes over that asset (matched by serial) instead of
/// creating a second one; what the agent reports is not editable by people.
#[test]
fn agentless_assets_and_agents_that_match_them() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    assert_eq!(send(&server, "POST", "/api/v1/sites", serde_json::json!({"code": "hq", "name": "本庁舎"})).0, 200);
    let (code, body) = send(&server, "POST", "/api/v1/assets", serde_json::json!({"hostname": "SUIDO-RT-HQ01", "kind": "ルーター", "site": "本庁舎", "fields": {"ip_addresses": "10.1.90.1"}}));
    assert_eq!(code, 201, "{body}");
    let router = body["id"].as_i64().unwrap();
    let router_asset = server.get_json(&format!("/api/v1/assets/{router}"));
    assert_eq!((router_asset["kind"].as_str(), router_asset["site"].as_str()), (Some("router"), Some("HQ")), "kind and site by their Japanese names");
    for (body, field) in [
        (serde_json::json!({"hostname": "X", "kind": "toaster", "site": "HQ"}), "kind"),
        (serde_json::json!({"hostname": "X", "kind": "printer", "site": "ZZZ"}), "site"),
        (serde_json::json!({"hostname": "", "kind": "printer", "site": "HQ"}), "hostname"),
        (serde_json::json!({"hostname": "X", "kind": "printer", "site": "HQ", "fields": {"ip_addresses": "10.1.1.999"}}), "ip_addresses"),
    ] {
        let (code, err) = send(&server, "POST", "/api/v1/assets", body);
        assert_eq!(code, 400);
        assert!(err["message"].as_str().unwrap().contains(field), "{err}");
    }

    // A PC registered from the Excel ledger, then its agent.
    let (_, pc) = send(&server, "POST", "/api/v1/assets", serde_json::json!({"hostname": "SUIDO-PC-0042", "kind": "pc", "site": "HQ", "fields": {"department": "配水課", "user": "田中 太郎", "serial": "JPC4201X"}}));
    let pc = pc["id"].as_i64().unwrap();
    let token = server.create_token("HQ", "1h", 5);
    lanward_agent::client::enroll(&server.url, &token, "suido-pc-0042-new", "windows", (Some("JPC4201X".into()), vec!["00-1B-21-AA-00-42".into()]), lanward_agent::identity::generate_key()).unwrap();
    let asset = server.get_json(&format!("/api/v1/assets/{pc}"));
    assert!(asset["agent_id"].is_string(), "the agent took the registered asset: {asset}");
    assert_eq!(asset["ledger"]["user"], "田中 太郎", "people's fields stay");
    assert_eq!(asset["hostname"], "suido-pc-0042-new");
    assert_eq!(server.get_json("/api/v1/assets")["total"], 2, "no second asset");
    let audit = server.get_json("/api/v1/audit");
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "agent.enroll" && e["detail"].as_str().unwrap().contains("matched_by=serial")));

    // The agent's hostname and serial are its own; kind and site are people's.
    let (code, err) = send(&server, "PATCH", &format!("/api/v1/assets/{pc}"), serde_json::json!({"fields": {"hostname": "OTHER"}}));
    assert_eq!(code, 400, "{err}");
    assert!(err["message"].as_str().unwrap().contains("エージェント"));
    // A VM guest names a VM host, and only a VM host.
    let (code, _) = send(&server, "PATCH", &format!("/api/v1/assets/{pc}"), serde_json::json!({"fields": {"kind": "vm_guest", "vm_host": router.to_string()}}));
    assert_eq!(code, 400, "a router is not a VM host");
    let (_, host) = send(&server, "POST", "/api/v1/assets", serde_json::json!({"hostname": "SUIDO-HV01", "kind": "vm_host", "site": "HQ"}));
    let (code, _) = send(&server, "PATCH", &format!("/api/v1/assets/{pc}"), serde_json::json!({"fields": {"kind": "vm_guest", "vm_host": host["id"].as_i64().unwrap().to_string()}}));
    assert_eq!(code, 200);
    let history = server.get_json(&format!("/api/v1/assets/{pc}/history"))["history"].as_array().unwrap().clone();
    assert!(history.iter().any(|h| h["field"] == "kind" && h["old_value"] == "pc" && h["new_value"] == "vm_guest" && h["actor"] == "user:admin"));
    assert!(history.iter().any(|h| h["field"] == "hostname" && h["new_value"] == "suido-pc-0042-new" && h["actor"].as_str().unwrap().starts_with("agent:")), "{history:?}");

    // Filtered listing and the dashboard counts.
    let list = server.get_json("/api/v1/assets?kind=router&view=summary");
    assert_eq!(list["total"], 1);
    let list = server.get_json(&format!("/api/v1/assets?q={}&view=summary", "%E7%94%B0%E4%B8%AD"));
    assert_eq!(list["assets"][0]["id"], pc, "search by the user's name");
    let summary = server.get_json("/api/v1/summary");
    assert_eq!(summary["total"], 3);
}
