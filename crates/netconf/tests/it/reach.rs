//! Reachability through routes and ACLs.

use lanward_netconf::reach::{reach, Flow};
use lanward_netconf::*;

fn load(rel: &str) -> Device {
    let b = std::fs::read(format!("{}/tests/fixtures/samples/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    parse_config(rel, &b).unwrap()
}

#[test]
fn the_lab_routes_lan_to_lan_through_the_wan_router() {
    let devices: Vec<Device> = ["BR1", "BR2", "LAN-RTR", "WAN-RTR"].iter().map(|r| load(&format!("ios_basic_vrrp/{r}/show_running-config.txt"))).collect();
    let r = reach(&devices, &Flow { src: "192.168.1.50".parse().unwrap(), dst: "192.168.2.10".parse().unwrap(), proto: "tcp", port: Some(445) });
    assert!(r.reachable, "{r:#?}");
    let path: Vec<&str> = r.hops.iter().map(|h| h.device.as_str()).collect();
    assert_eq!(path.last(), Some(&"WAN-RTR"), "{r:#?}");
    assert_eq!(path.len(), 2, "{r:#?}");
    let r = reach(&devices, &Flow { src: "192.168.1.50".parse().unwrap(), dst: "172.16.0.1".parse().unwrap(), proto: "tcp", port: Some(445) });
    assert!(!r.reachable && r.reason.as_deref().unwrap_or("").contains("経路がありません"), "{r:#?}");
}

#[test]
fn an_acl_drops_smb_and_says_which_line() {
    let cfg = b"hostname R1\ninterface GigabitEthernet0/0\n ip address 10.1.20.1 255.255.255.0\n ip access-group NO-SMB in\ninterface GigabitEthernet0/1\n ip address 10.0.5.1 255.255.255.0\nip access-list extended NO-SMB\n deny tcp any any eq 445\n permit ip any any\n";
    let d = parse_config("r1.cfg", cfg).unwrap();
    let flow = |port| Flow { src: "10.1.20.15".parse().unwrap(), dst: "10.0.5.10".parse().unwrap(), proto: "tcp", port: Some(port) };
    let blocked = reach(std::slice::from_ref(&d), &flow(445));
    assert!(!blocked.reachable);
    let reason = blocked.reason.unwrap();
    assert!(reason.contains("NO-SMB") && reason.contains("8 行目") && reason.contains("deny tcp any any eq 445"), "{reason}");
    let ok = reach(&[d], &flow(443));
    assert!(ok.reachable, "{ok:#?}");
    assert!(ok.hops[0].note.contains("9 行目で許可"), "{ok:#?}");
}
