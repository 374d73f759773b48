//! `lanward net diff` and `lanward net move` on the real sample switch.

use crate::support::lanward_bin;
use std::process::Command;

#[test]
fn diff_names_the_moved_port_and_move_writes_commands_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../netconf/tests/fixtures/samples/cisco_c9200l/show_running-config.txt");
    let text = std::fs::read_to_string(&sample).unwrap();
    let (old, new) = (dir.path().join("v1.cfg"), dir.path().join("v2.cfg"));
    std::fs::write(&old, &text).unwrap();
    std::fs::write(&new, text.replacen("switchport access vlan 2", "switchport access vlan 3", 1)).unwrap();
    let out = Command::new(lanward_bin()).args(["net", "diff"]).arg(&old).arg(&new).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("+ switchport access vlan 3") && stdout.contains("VLAN 2 から VLAN 3"), "{stdout}");
    assert!(!stdout.contains("enable secret 9 $"), "secrets never printed: {stdout}");

    let host = text.lines().find_map(|l| l.strip_prefix("hostname ")).unwrap().trim().to_string();
    let cfgs = dir.path().join("net");
    std::fs::create_dir_all(&cfgs).unwrap();
    std::fs::write(cfgs.join("sw.cfg"), &text).unwrap();
    let out = Command::new(lanward_bin()).args(["net", "move"]).arg(&cfgs).args(["--move", &format!("{host} Gi1/0/2 120"), "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cmds: Vec<&str> = plan["devices"][0]["commands"].as_array().unwrap().iter().filter_map(|c| c.as_str()).collect();
    assert!(cmds.contains(&" switchport access vlan 120") && cmds.contains(&"vlan 120"), "{cmds:?}");
    assert!(plan["new_checks"].as_array().unwrap().iter().any(|c| c["message"].as_str().unwrap_or("").contains("GigabitEthernet1/0/24")));
    let out = Command::new(lanward_bin()).args(["net", "move"]).arg(&cfgs).args(["--move", "NO-SUCH-SW Gi1/0/2 120"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NO-SUCH-SW"));
}
