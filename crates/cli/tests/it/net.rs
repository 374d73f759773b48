//! `lanward net analyze DIR --json` on the real sample configs: one JSON
//! document in the documented shape; files that are not configs are listed
//! as errors and the rest is analysed.

use crate::support::lanward_bin;
use std::process::Command;

#[test]
fn analyze_prints_the_documented_json_and_keeps_going_past_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../netconf/tests/fixtures/samples");
    for r in ["BR1", "WAN-RTR"] {
        std::fs::copy(samples.join(format!("ios_basic_vrrp/{r}/show_running-config.txt")), dir.path().join(format!("{r}.cfg"))).unwrap();
    }
    std::fs::copy(samples.join("cisco_c9200l/show_running-config.txt"), dir.path().join("sw.cfg")).unwrap();
    std::fs::write(dir.path().join("garbage.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let out = Command::new(lanward_bin()).args(["net", "analyze", "--json"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    let br1 = devices.iter().find(|d| d["hostname"] == "BR1").unwrap();
    assert_eq!(br1["vendor"], "cisco_ios");
    let g01 = br1["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == "GigabitEthernet0/1").unwrap();
    assert_eq!(g01["addresses"], serde_json::json!(["10.1.11.1/30"]));
    assert_eq!(g01["mode"], "routed");
    assert!(br1["routes"].as_array().unwrap().iter().any(|r| r["prefix"] == "192.168.2.0/24" && r["protocol"] == "static" && r["next_hop"] == "10.1.11.2"));
    assert_eq!(br1["coverage"]["unrecognised"], 0);
    let sw = devices.iter().find(|d| d["file"] == "sw.cfg").unwrap();
    let trunk = sw["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == "GigabitEthernet1/0/24").unwrap();
    assert_eq!((trunk["mode"].as_str(), trunk["trunk_vlans"].clone()), (Some("trunk"), serde_json::json!([2, 3])));
    let edge = &v["l3_edges"][0];
    assert!(edge["a"]["device"].is_string() && edge["b"]["interface"].is_string() && edge["subnet"].is_string(), "{edge}");
    assert!(v["l3_edges"].as_array().unwrap().iter().any(|e| e["subnet"] == "10.1.11.0/30"));
    assert!(v["checks"].is_array());
    assert_eq!(v["errors"][0]["file"], "garbage.bin");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("garbage.bin"));
}
