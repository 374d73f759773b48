//! Port moves for a reorganisation: commands, rollback, port map, checks.

use lanward_netconf::changes::{find_port, parse_moves, plan};
use lanward_netconf::*;

fn switch() -> Device {
    let text = std::fs::read(format!("{}/tests/fixtures/samples/cisco_c9200l/show_running-config.txt", env!("CARGO_MANIFEST_DIR"))).unwrap();
    parse_config("sw.cfg", &text).unwrap()
}

#[test]
fn moving_ports_writes_commands_rollback_and_finds_the_trunk_that_blocks_it() {
    let sw = switch();
    let host = sw.hostname.clone();
    assert_eq!(find_port(&sw, "Gi1/1/3").map(|p| p.name.as_str()), Some("GigabitEthernet1/1/3"));
    assert!(find_port(&sw, "Te1/1/3").is_none());
    let moves = parse_moves(&format!("# 4月の組織改正\n{host} Gi1/0/1 3\n{host},Gi1/0/2,120\n{host} Gi1/0/99 3\n{host} Gi1/0/24 3\n")).unwrap();
    let p = plan(&[sw], &moves);
    let d = &p.devices[0];
    assert_eq!(d.commands.first().map(String::as_str), Some("configure terminal"));
    let body = d.commands.join("\n");
    assert!(body.contains("interface GigabitEthernet1/0/1\n switchport access vlan 3\n exit"), "{body}");
    assert!(body.contains("vlan 120\n exit\ninterface GigabitEthernet1/0/2\n switchport access vlan 120"), "VLAN 120 is created first: {body}");
    assert!(body.ends_with("end\nwrite memory"));
    let back = d.rollback.join("\n");
    assert!(back.contains("interface GigabitEthernet1/0/1\n switchport access vlan 2\n exit"), "{back}");
    assert!(back.contains("interface GigabitEthernet1/0/2\n switchport access vlan 3\n exit"), "{back}");
    assert!(back.find("switchport access vlan 3").unwrap() < back.find("no vlan 120").unwrap(), "ports are restored before the VLAN goes: {back}");
    assert_eq!(p.port_map.len(), 2);
    assert_eq!((p.port_map[1].vlan_before, p.port_map[1].vlan_after), (Some(3), Some(120)));
    // VLAN 120 does not cross the uplink trunk (allowed 2,3); VLAN 3 does.
    assert!(p.new_checks.iter().any(|c| c.message.contains("VLAN 120") && c.message.contains("GigabitEthernet1/0/24")), "{:#?}", p.new_checks);
    assert!(!p.new_checks.iter().any(|c| c.message.contains("VLAN 3 ")), "{:#?}", p.new_checks);
    assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
    assert!(p.errors[0].contains("Gi1/0/99") && p.errors[1].contains("アクセスポートではありません"), "{:?}", p.errors);
}

#[test]
fn bad_move_lines_name_their_line() {
    let e = parse_moves("SW1 Gi1/0/1 10\nSW1 Gi1/0/2\n").unwrap_err();
    assert!(e.starts_with("2 行目"), "{e}");
    let e = parse_moves("SW1 Gi1/0/1 5000\n").unwrap_err();
    assert!(e.contains("5000"), "{e}");
}
