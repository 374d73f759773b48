//! Stored versions: secrets redacted, volatile lines dropped, and the
//! changes between two versions in words.

use lanward_netconf::history::{normalize, semantic_diff, text_diff, REDACTED};
use lanward_netconf::*;

fn sample(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/samples/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn secrets_are_redacted_and_volatile_lines_dropped() {
    let br1 = normalize(Vendor::CiscoIos, &sample("ios_basic_vrrp/BR1/show_running-config.txt"));
    assert!(br1.contains(&format!("username cisco privilege 15 password 0 {REDACTED}")), "{br1}");
    assert!(!br1.contains("password 0 cisco\n"));
    assert!(!br1.contains("Current configuration"), "byte count is volatile");
    let sw = sample("cisco_c9200l/show_running-config.txt");
    let stored = normalize(Vendor::CiscoIos, &sw);
    let secret_line = sw.lines().find(|l| l.starts_with("enable secret")).expect("sample has enable secret");
    assert!(!stored.contains(secret_line));
    assert!(stored.contains(&format!("enable secret 9 {REDACTED}")), "{stored}");
    // Two captures that differ only in volatile lines store the same text.
    let again = sw.replace("Building configuration...", "Building configuration...\n! Last configuration change at 09:12:01 JST Mon Dec 1 2026 by admin");
    assert_eq!(normalize(Vendor::CiscoIos, &again), stored);
    // YAMAHA and FortiOS secrets.
    let y = normalize(Vendor::YamahaRtx, "# RTX1210 Rev.14.01.38 (Fri Jul 10 2020)\nlogin password hunter2\npp auth myname user@isp secretpw\nipsec ike pre-shared-key 1 text himitsu\n");
    assert!(!y.contains("hunter2") && !y.contains("secretpw") && !y.contains("himitsu") && !y.contains("Rev."), "{y}");
    let f = normalize(Vendor::FortiOs, "#config-version=FG60F-7.2.5-FW-build1517:opmode=0\nconfig system admin\n    edit \"admin\"\n        set password ENC SH2abc\n    next\nend\n");
    assert!(!f.contains("SH2abc") && !f.contains("config-version"), "{f}");
}

#[test]
fn a_port_moved_to_another_vlan_and_a_vlan_added_are_named() {
    let old_text = sample("cisco_c9200l/show_running-config.txt");
    let new_text = old_text
        .replacen("switchport access vlan 2", "switchport access vlan 3", 1)
        .replacen("switchport trunk allowed vlan 2,3", "switchport trunk allowed vlan 2-4", 1)
        .replacen("vlan 2\n", "vlan 4\n name NEW\n!\nvlan 2\n", 1);
    let old = parse_config("sw.cfg", old_text.as_bytes()).unwrap();
    let new = parse_config("sw.cfg", new_text.as_bytes()).unwrap();
    let changes = semantic_diff(&old, &new);
    let kinds: Vec<(&str, &str)> = changes.iter().map(|c| (c.kind.as_str(), c.subject.as_str())).collect();
    assert!(kinds.contains(&("port_vlan", "GigabitEthernet1/0/1")), "{changes:#?}");
    let moved = changes.iter().find(|c| c.kind == "port_vlan").unwrap();
    assert_eq!((moved.before.as_deref(), moved.after.as_deref()), (Some("2"), Some("3")));
    assert!(moved.message.contains("VLAN 2 から VLAN 3"), "{}", moved.message);
    assert!(kinds.contains(&("vlan_added", "4")) && kinds.contains(&("trunk_vlans", "GigabitEthernet1/0/24")), "{kinds:?}");
    assert_eq!(semantic_diff(&old, &old), vec![], "no change, no changes");
    let diff = text_diff("v1", &normalize(Vendor::CiscoIos, &old_text), "v2", &normalize(Vendor::CiscoIos, &new_text));
    assert!(diff.contains("- switchport access vlan 2") && diff.contains("+ switchport access vlan 3"), "{diff}");
}
