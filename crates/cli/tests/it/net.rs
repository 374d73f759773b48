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

/// `lanward net report DIR --out OUT` on the fixtures: six non-empty files,
/// an unparsable input reported without stopping the rest, and a
/// non-empty OUT refused unless `--force`.
#[test]
fn report_writes_the_six_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("configs");
    std::fs::create_dir(&input).unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../netconf/tests/fixtures");
    for r in ["BR1", "BR2", "LAN-RTR", "WAN-RTR"] {
        std::fs::copy(fixtures.join(format!("samples/ios_basic_vrrp/{r}/show_running-config.txt")), input.join(format!("{r}.cfg"))).unwrap();
    }
    std::fs::copy(fixtures.join("samples/cisco_c9200l/show_running-config.txt"), input.join("sw.cfg")).unwrap();
    std::fs::copy(fixtures.join("yamaha/rtx830-jousui.txt"), input.join("rtx830.txt")).unwrap();
    std::fs::copy(fixtures.join("fortios/fg200f-josuijo.conf"), input.join("fg200f.conf")).unwrap();
    std::fs::write(input.join("garbage.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let out_dir = dir.path().join("report");
    let out = Command::new(lanward_bin()).args(["net", "report"]).arg(&input).arg("--out").arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("garbage.bin"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for f in ["logical.svg", "physical.svg", "network.dot", "network.drawio", "ネットワーク基本設計書.xlsx", "ポートマップ.xlsx"] {
        let meta = std::fs::metadata(out_dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 0, "{f} is empty");
        assert!(stdout.contains(f), "{f} not in {stdout}");
    }
    let logical = std::fs::read_to_string(out_dir.join("logical.svg")).unwrap();
    assert!(logical.contains("10.1.11.0/30") && logical.contains("MINAMI-JOSUI-FGT200F"));
    // Not over a report that is already there, unless asked.
    let again = Command::new(lanward_bin()).args(["net", "report"]).arg(&input).arg("--out").arg(&out_dir).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = Command::new(lanward_bin()).args(["net", "report", "--force", "--site", "BR1=本庁舎"]).arg(&input).arg("--out").arg(&out_dir).output().unwrap();
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert!(std::fs::read_to_string(out_dir.join("physical.svg")).unwrap().contains("本庁舎"));
}
