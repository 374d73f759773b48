//! Links from LLDP tables, cabling files and descriptions; the checks that
//! need both ends; layer-2 domains.

use lanward_netconf::links::*;
use lanward_netconf::*;

fn sw(name: &str, body: &str) -> Device {
    parse_config(&format!("{name}.cfg"), format!("hostname {name}\n{body}").as_bytes()).unwrap()
}

#[test]
fn both_ends_of_a_trunk_are_compared_and_vlans_grouped() {
    let core = sw("SW-HQ-CORE", "vlan 10\nvlan 20\nvlan 30\ninterface GigabitEthernet1/0/1\n description to SW-HQ-3F\n switchport mode trunk\n switchport trunk allowed vlan 10,20,30\n switchport trunk native vlan 99\n");
    let floor = sw("SW-HQ-3F", "vlan 10\nvlan 20\nvlan 30\ninterface GigabitEthernet1/0/49\n switchport mode trunk\n switchport trunk allowed vlan 10,20\ninterface GigabitEthernet1/0/5\n switchport mode access\n switchport access vlan 30\n");
    let lldp = "Capability codes:\n    (R) Router, (B) Bridge\n\nDevice ID           Local Intf     Hold-time  Capability      Port ID\nSW-HQ-CORE          Gi1/0/49       120        B               Gi1/0/1\n\nTotal entries displayed: 1\n";
    let from_lldp = parse_neighbors(&floor, lldp);
    assert_eq!(from_lldp.len(), 1);
    assert_eq!(from_lldp[0].a.port.as_deref(), Some("GigabitEthernet1/0/49"));
    let devices = vec![core, floor];
    let mut all = from_lldp;
    all.extend(from_descriptions(&devices));
    let links = merge(&devices, all);
    assert_eq!(links.len(), 1, "the description and LLDP name the same cable: {links:#?}");
    let checks = link_checks(&devices, &links);
    let msgs: Vec<&str> = checks.iter().map(|c| c.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("native VLAN mismatch") && m.contains("99")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("SW-HQ-CORE GigabitEthernet1/0/1") && m.contains("VLAN 30") && m.contains("one end only")), "{msgs:?}");
    let domains = l2_domains(&devices, &links);
    assert_eq!(domains[&10].len(), 1, "VLAN 10 spans both switches: {domains:?}");
    assert_eq!(domains[&30].len(), 2, "VLAN 30 is split (not allowed on the 3F uplink): {domains:?}");
}

#[test]
fn cabling_file_rows_and_errors() {
    let links = parse_cabling("device,port,peer,peer_port\nSW-A,Gi1/0/1,SW-B,Gi1/0/2 # 2F\n").unwrap();
    assert_eq!((links[0].b.device.as_str(), links[0].b.port.as_deref()), ("SW-B", Some("Gi1/0/2")));
    let e = parse_cabling("SW-A,Gi1/0/1,SW-B\n").unwrap_err();
    assert!(e.contains("1 行目"), "{e}");
}
