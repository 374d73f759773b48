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
