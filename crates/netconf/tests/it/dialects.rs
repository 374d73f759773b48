//! AlliedWare Plus, ALAXALA AX and NEC IX: the Cisco-like dialects of
//! `vendors/cisco.rs`, from hand-written fixtures of bureau-like devices
//! (written from each vendor's documented syntax). Exact model facts, line
//! accounting, and robustness against mutated input.

use lanward_netconf::*;

const AWPLUS: &str = include_str!("../fixtures/awplus/x530-honkan-core.cfg");
const ALAXALA: &str = include_str!("../fixtures/alaxala/ax2630s-kita-floor.cfg");
const NECIX: &str = include_str!("../fixtures/necix/ix2215-nishi-branch.cfg");

fn parse(file: &str, text: &str) -> Device {
    parse_config(file, text.as_bytes()).unwrap()
}

fn iface<'a>(d: &'a Device, name: &str) -> &'a Interface {
    d.interfaces.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no interface {name}: {:?}", d.interfaces.iter().map(|i| &i.name).collect::<Vec<_>>()))
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.trim() == needle).unwrap_or_else(|| panic!("{needle:?} not in fixture")) + 1
}

fn unrecognised(d: &Device) -> Vec<&LineNote> {
    d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect()
}

fn route(prefix: &str, next_hop: Option<&str>, interface: Option<&str>, line: usize) -> StaticRoute {
    StaticRoute { prefix: prefix.into(), next_hop: next_hop.map(Into::into), interface: interface.map(Into::into), vrf: None, distance: None, line }
}

fn total(c: Coverage) -> usize {
    c.modelled + c.ignored + c.unmodelled + c.unrecognised
}

#[test]
fn each_fixture_is_detected_as_its_vendor() {
    assert_eq!(detect_vendor(AWPLUS), Vendor::AlliedWarePlus);
    assert_eq!(detect_vendor(ALAXALA), Vendor::AlaxalaAx);
    assert_eq!(detect_vendor(NECIX), Vendor::NecIx);
    // Markers of a dialect win over the many `!` lines all of them write.
    assert_eq!(detect_vendor("!\n!\n!\n!\n!\n!\nhostname X\n!\ninterface port1.0.1\n switchport\n!\n"), Vendor::AlliedWarePlus);
    assert_eq!(detect_vendor("!\n!\n!\n!\n!\nhostname \"X\"\n!\ninterface vlan 10\n  ip address 10.0.0.1 255.255.255.0\n!\n"), Vendor::AlaxalaAx);
    assert_eq!(detect_vendor("!\n!\n!\n!\n!\nhostname X\n!\ninterface GigaEthernet1.0\n  ip address 10.0.0.1/24\n!\n"), Vendor::NecIx);
    // Only family lines: IOS.
    assert_eq!(detect_vendor("hostname R1\n!\ninterface Vlan1\n ip address 10.0.0.1 255.255.255.0\n!\nip route 0.0.0.0 0.0.0.0 10.0.0.254\n"), Vendor::CiscoIos);
    // YAMAHA's `ip route default gateway` is not IX's `ip route default`.
    assert_eq!(detect_vendor("ip route default gateway pp 1\nip lan1 address 192.168.0.1/24\n"), Vendor::YamahaRtx);
    for rel in ["cisco_c9200l/show_running-config.txt", "ios_basic_vrrp/BR1/show_running-config.txt", "ios_basic_vrrp/LAN-RTR/show_running-config.txt"] {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples/").to_string() + rel).unwrap();
        assert_eq!(detect_vendor(&text), Vendor::CiscoIos, "{rel}");
    }
}

#[test]
fn awplus_core_switch_ports_ranges_and_lags() {
    let d = parse("honkan.cfg", AWPLUS);
    assert_eq!((d.vendor, d.hostname.as_str()), (Vendor::AlliedWarePlus, "HONKAN-CORE01"));
    assert!(unrecognised(&d).is_empty(), "{:#?}", unrecognised(&d));
    // `port1.0.1-1.0.20`, `1.0.21-1.0.22`, `1.0.23,port1.0.24`, `1.0.27-1.0.28`: one interface per port.
    let ports: Vec<String> = d.interfaces.iter().filter(|i| i.name.starts_with("port")).map(|i| i.name.clone()).collect();
    assert_eq!(ports, (1..=28).map(|n| format!("port1.0.{n}")).collect::<Vec<_>>());
    assert_eq!(d.interfaces.len(), 28 + 2 + 4);

    let header = line_of(AWPLUS, "interface port1.0.1-1.0.20");
    for n in 1..=20 {
        let p = iface(&d, &format!("port1.0.{n}"));
        assert_eq!((p.kind, p.mode, p.access_vlan, p.line), (InterfaceKind::Physical, Some(SwitchportMode::Access), Some(10), header), "port1.0.{n}");
        assert_eq!(p.description.as_deref(), Some("総務課 執務室"));
        assert!(!p.shutdown && p.lag.is_none());
    }
    for n in [21, 22] {
        let p = iface(&d, &format!("port1.0.{n}"));
        assert_eq!((p.mode, p.access_vlan), (Some(SwitchportMode::Access), Some(30)));
        assert_eq!(p.description.as_deref(), Some("浄水管理 監視端末"));
    }
    for (n, lag, vlans) in [(23, "sa1", vec![10, 20]), (24, "sa1", vec![10, 20]), (25, "po2", vec![10, 20, 30]), (26, "po2", vec![10, 20, 30])] {
        let p = iface(&d, &format!("port1.0.{n}"));
        assert_eq!((p.mode, p.trunk_vlans.clone(), p.trunk_all, p.native_vlan, p.lag.as_deref()), (Some(SwitchportMode::Trunk), vlans, false, None, Some(lag)), "port1.0.{n}");
    }
    for n in [27, 28] {
        let p = iface(&d, &format!("port1.0.{n}"));
        assert!(p.shutdown);
        assert_eq!((p.mode, p.access_vlan), (Some(SwitchportMode::Access), None));
    }

    let sa1 = iface(&d, "sa1");
    assert_eq!((sa1.kind, sa1.mode, sa1.trunk_vlans.clone(), sa1.native_vlan), (InterfaceKind::Lag, Some(SwitchportMode::Trunk), vec![10, 20], None));
    assert_eq!(sa1.description.as_deref(), Some("2F フロアSW"));
    let po2 = iface(&d, "po2");
    assert_eq!((po2.kind, po2.trunk_vlans.clone()), (InterfaceKind::Lag, vec![10, 20, 30]));

    for (name, vlan, addr) in [("vlan10", 10, "10.1.10.1/24"), ("vlan20", 20, "10.1.20.1/24"), ("vlan30", 30, "10.1.30.1/24"), ("vlan99", 99, "10.1.99.1/24")] {
        let s = iface(&d, name);
        assert_eq!((s.kind, s.svi_vlan, s.addresses.clone(), s.mode), (InterfaceKind::Svi, Some(vlan), vec![addr.to_string()], None), "{name}");
    }
    assert_eq!(iface(&d, "vlan10").description.as_deref(), Some("総務課"));
}

#[test]
fn awplus_vlans_routes_dhcp_and_accounting() {
    let d = parse("honkan.cfg", AWPLUS);
    // `vlan 10,20,30,99 state enable` then one `name` line each: four VLANs, named.
    let db = line_of(AWPLUS, "vlan 10,20,30,99 state enable");
    let vlans: Vec<(u16, Option<&str>, usize)> = d.vlans.iter().map(|v| (v.id, v.name.as_deref(), v.line)).collect();
    assert_eq!(vlans, [(10, Some("SOMU"), db), (20, Some("SUIDO-KANRI"), db), (30, Some("SCADA"), db), (99, Some("MGMT"), db)]);
    assert_eq!(
        d.static_routes,
        [route("0.0.0.0/0", Some("10.1.0.1"), None, line_of(AWPLUS, "ip route 0.0.0.0/0 10.1.0.1")), route("192.168.50.0/24", Some("10.1.99.254"), None, line_of(AWPLUS, "ip route 192.168.50.0/24 10.1.99.254"))]
    );
    assert_eq!(
        d.dhcp_scopes,
        [
            DhcpScope { name: "SOMU-POOL".into(), network: Some("10.1.10.0/24".into()), gateway: Some("10.1.10.1".into()), line: line_of(AWPLUS, "ip dhcp pool SOMU-POOL") },
            DhcpScope { name: "KANRI-POOL".into(), network: Some("10.1.20.0/24".into()), gateway: Some("10.1.20.1".into()), line: line_of(AWPLUS, "ip dhcp pool KANRI-POOL") },
        ]
    );
    assert!(d.acls.is_empty());
    assert_eq!(total(d.coverage), AWPLUS.lines().count());
    let class_of = |needle: &str| {
        let line = line_of(AWPLUS, needle);
        d.line_notes.iter().find(|n| n.line == line).map_or(LineClass::Modelled, |n| n.class)
    };
    for l in ["log host 10.1.99.20", "ssh server allow-users manager", "lacp system-priority 1", "ip dhcp-relay server-address 10.1.99.10", "range 10.1.10.100 10.1.10.199", "spanning-tree mode rstp", "aaa authentication login default local"] {
        assert_eq!(class_of(l), LineClass::Unmodelled, "{l}");
    }
    assert_eq!(class_of("switchport trunk native vlan none"), LineClass::Modelled);
    // The password hash is a secret: ignored, never in the notes.
    assert!(!d.line_notes.iter().any(|n| n.text.contains("$1$")), "{:?}", d.line_notes);
}

#[test]
fn awplus_malformed_port_ranges_are_named_not_guessed() {
    for bad in ["port1.0.9-1.0.2", "port1.0.1-2.0.4", "port1.0.1-1.0.99999999999", "port1.0.x-1.0.4", "port1.0.1-1.0.5000"] {
        let text = format!("interface port1.0.1\n switchport\n!\ninterface {bad}\n switchport mode access\n switchport access vlan 10\n");
        let d = parse("x.cfg", &text);
        assert_eq!(d.vendor, Vendor::AlliedWarePlus);
        assert_eq!(d.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["port1.0.1"], "{bad}");
        assert_eq!(unrecognised(&d).iter().map(|n| n.line).collect::<Vec<_>>(), [4], "{bad}");
        assert_eq!(total(d.coverage), 6);
    }
    // A dash that is no range keeps the name as written.
    let d = parse("x.cfg", "interface port1.0.1\n switchport\n!\ninterface eth-mgmt\n ip address 192.168.1.1/24\n");
    assert_eq!(d.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["port1.0.1", "eth-mgmt"]);
    assert!(unrecognised(&d).is_empty(), "{:?}", d.line_notes);
    // Ranges that are fine, mixed with single ports and another member's ports.
    let d = parse("x.cfg", "interface port1.0.1\n switchport\n!\ninterface port1.0.2-port1.0.3,port2.0.1,port2.0.5-2.0.6\n switchport mode access\n");
    assert_eq!(d.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["port1.0.1", "port1.0.2", "port1.0.3", "port2.0.1", "port2.0.5", "port2.0.6"]);
}

#[test]
fn alaxala_floor_switch() {
    let d = parse("kita.cfg", ALAXALA);
    assert_eq!((d.vendor, d.hostname.as_str()), (Vendor::AlaxalaAx, "KITA-FL2-SW01"));
    assert!(unrecognised(&d).is_empty(), "{:#?}", unrecognised(&d));
    let names: Vec<&str> = d.interfaces.iter().map(|i| i.name.as_str()).collect();
    // Names as AX writes them, with the space.
    assert_eq!(names, ["gigabitethernet 0/1", "gigabitethernet 0/2", "gigabitethernet 0/3", "gigabitethernet 0/25", "gigabitethernet 0/27", "gigabitethernet 0/28", "port-channel 1", "vlan 1", "vlan 99"]);
    let g1 = iface(&d, "gigabitethernet 0/1");
    assert_eq!((g1.kind, g1.mode, g1.access_vlan, g1.description.as_deref()), (InterfaceKind::Physical, Some(SwitchportMode::Access), Some(10), Some("総務課 プリンタ")));
    assert_eq!(g1.line, line_of(ALAXALA, "interface gigabitethernet 0/1"));
    assert_eq!(iface(&d, "gigabitethernet 0/2").access_vlan, Some(20));
    let g3 = iface(&d, "gigabitethernet 0/3");
    assert!(g3.shutdown);
    assert_eq!(g3.access_vlan, Some(99));
    let up = iface(&d, "gigabitethernet 0/25");
    assert_eq!((up.mode, up.trunk_vlans.clone(), up.trunk_all, up.native_vlan), (Some(SwitchportMode::Trunk), vec![10, 20], false, Some(1)));
    assert_eq!(up.description.as_deref(), Some("uplink HONKAN-CORE01"));
    for p in ["gigabitethernet 0/27", "gigabitethernet 0/28"] {
        let m = iface(&d, p);
        assert_eq!((m.lag.as_deref(), m.trunk_vlans.clone()), (Some("port-channel 1"), vec![10, 20, 99]), "{p}");
    }
    let lag = iface(&d, "port-channel 1");
    assert_eq!((lag.kind, lag.mode, lag.trunk_vlans.clone()), (InterfaceKind::Lag, Some(SwitchportMode::Trunk), vec![10, 20, 99]));
    // Every member names a LAG that exists.
    assert!(d.interfaces.iter().filter_map(|i| i.lag.as_deref()).all(|l| d.interfaces.iter().any(|i| i.name == l)));
    let v1 = iface(&d, "vlan 1");
    assert_eq!((v1.kind, v1.svi_vlan, v1.addresses.len()), (InterfaceKind::Svi, Some(1), 0));
    let v99 = iface(&d, "vlan 99");
    assert_eq!((v99.kind, v99.svi_vlan, v99.addresses.clone()), (InterfaceKind::Svi, Some(99), vec!["10.3.99.11/24".to_string()]));
    let vlans: Vec<(u16, Option<&str>)> = d.vlans.iter().map(|v| (v.id, v.name.as_deref())).collect();
    assert_eq!(vlans, [(1, Some("VLAN0001")), (10, Some("SOMU")), (20, Some("KANRI")), (99, Some("MGMT"))]);
    assert_eq!(d.static_routes, [route("0.0.0.0/0", Some("10.3.99.1"), None, line_of(ALAXALA, "ip route 0.0.0.0 0.0.0.0 10.3.99.1"))]);
    // `#` comments are ignored; `spanning-tree mode pvst` is known, not modelled.
    for l in ["#Last modified by operator at Tue Apr  2 09:12:33 2024 with version 4.10.A", "# 監視サーバ"] {
        assert!(!d.line_notes.iter().any(|n| n.line == line_of(ALAXALA, l)), "{l}");
    }
    assert!(d.line_notes.iter().any(|n| n.line == line_of(ALAXALA, "spanning-tree mode pvst") && n.class == LineClass::Unmodelled));
    assert_eq!(total(d.coverage), ALAXALA.lines().count());
}

#[test]
fn necix_branch_router() {
    let d = parse("nishi.cfg", NECIX);
    assert_eq!((d.vendor, d.hostname.as_str()), (Vendor::NecIx, "IX-BR01"));
    assert!(unrecognised(&d).is_empty(), "{:#?}", unrecognised(&d));
    let names: Vec<&str> = d.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["GigaEthernet0.0", "GigaEthernet1.0", "GigaEthernet1.1", "GigaEthernet1.2", "Loopback0.0", "Null0.0", "Tunnel0.0"]);
    let wan = iface(&d, "GigaEthernet0.0");
    assert_eq!((wan.kind, wan.mode, wan.addresses.clone(), wan.shutdown), (InterfaceKind::Physical, Some(SwitchportMode::Routed), vec!["203.0.113.2/30".to_string()], false));
    assert_eq!(wan.acls, [("web-only".to_string(), "in".to_string())]);
    assert_eq!(wan.description.as_deref(), Some("WAN 光回線"));
    let lan = iface(&d, "GigaEthernet1.0");
    assert_eq!((lan.addresses.clone(), lan.svi_vlan), (vec!["10.2.0.1/24".to_string()], None));
    assert_eq!(lan.acls, [("branch-in".to_string(), "in".to_string())]);
    // Sub-interfaces: `encapsulation dot1q N tpid 8100` tags them.
    let s1 = iface(&d, "GigaEthernet1.1");
    assert_eq!((s1.svi_vlan, s1.addresses.clone(), s1.shutdown), (Some(10), vec!["10.2.10.1/24".to_string()], false));
    let s2 = iface(&d, "GigaEthernet1.2");
    assert_eq!((s2.svi_vlan, s2.addresses.clone(), s2.shutdown), (Some(20), vec!["10.2.20.1/24".to_string()], true));
    assert_eq!(iface(&d, "Loopback0.0").kind, InterfaceKind::Loopback);
    assert_eq!(iface(&d, "Null0.0").kind, InterfaceKind::Other);
    let tun = iface(&d, "Tunnel0.0");
    assert_eq!((tun.kind, tun.addresses.len(), tun.description.as_deref()), (InterfaceKind::Tunnel, 0, Some("本庁 IPsec")));

    assert_eq!(
        d.static_routes,
        [route("0.0.0.0/0", Some("203.0.113.1"), None, line_of(NECIX, "ip route default 203.0.113.1")), route("10.0.0.0/8", None, Some("Tunnel0.0"), line_of(NECIX, "ip route 10.0.0.0/8 Tunnel0.0"))]
    );
}

#[test]
fn necix_access_lists_and_secrets() {
    let d = parse("nishi.cfg", NECIX);
    let names: Vec<&str> = d.acls.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["web-only", "branch-in"]);
    let web = &d.acls[0].entries;
    let got: Vec<_> = web.iter().map(|e| (e.action.as_str(), e.protocol.as_str(), e.source.as_str(), e.destination.as_str(), e.ports)).collect();
    assert_eq!(
        got,
        [("permit", "tcp", "any", "10.0.0.0/8", Some((80, 80))), ("permit", "udp", "10.2.0.0/24", "10.1.99.10/32", Some((53, 53))), ("deny", "ip", "any", "any", None)]
    );
    let first = "ip access-list web-only permit tcp src any sport any dest 10.0.0.0/8 dport eq 80";
    assert_eq!((web[0].text.as_str(), web[0].line), (first, line_of(NECIX, first)));
    let b = &d.acls[1].entries;
    assert_eq!((b.len(), b[0].source.as_str(), b[0].destination.as_str(), b[0].ports), (1, "10.0.0.0/8", "10.2.0.0/24", None));
    // Every list applied with `ip filter` exists.
    for i in &d.interfaces {
        for (name, _) in &i.acls {
            assert!(d.acls.iter().any(|a| &a.name == name), "{}: {name}", i.name);
        }
    }
    // Pre-shared keys, PPP passwords and the admin hash stay out of the notes.
    for secret in ["Kanri#Secret", "Fl3tsPass", "5B0C2D9E7F1A3B44"] {
        assert!(!d.line_notes.iter().any(|n| n.text.contains(secret)), "{secret} in notes");
    }
    let class_of = |needle: &str| d.line_notes.iter().find(|n| n.line == line_of(NECIX, needle)).map(|n| n.class);
    for l in ["ip ufs-cache enable", "ike proposal ike-prop encryption aes-256 hash sha2-256 group 2048-bit", "ipsec autokey-map ipsec-map sec-list peer 198.51.100.1 ipsec-prop", "proxy-dns ip enable", "telnet-server ip enable", "http-server ip enable", "ppp profile flets-prof", "ip unnumbered GigaEthernet1.0", "tunnel mode ipsec", "ntp server 10.1.99.10 priority 10", "logging buffered 131072"] {
        assert_eq!(class_of(l), Some(LineClass::Unmodelled), "{l}");
    }
    // The `!` header is comment: ignored, so not in the notes.
    assert_eq!(class_of("! NEC Portable Internetwork Core Operating System Software"), None);
    assert_eq!(total(d.coverage), NECIX.lines().count());
}

#[test]
fn necix_access_list_forms() {
    let text = "hostname R\nip access-list a permit tcp src 10.0.0.1 sport range 1024 65535 dest any dport range 8080 8000\nip access-list a permit udp src any sport any dest any dport any\nip access-list a permit tcp src any dest any dport gt 1023\nip access-list b permit tcp src any sport eq dest any\nip access-list b deny ip src any\nip access-list b permit ip src any dest any bogus\nip access-list b allow ip src any dest any\ninterface GigaEthernet0.0\n  ip filter a 1 in\n  ip filter a 2 in\n  ip filter b 10 out\n  ip filter c x in\n";
    let d = parse("r.cfg", text);
    assert_eq!(d.vendor, Vendor::NecIx);
    let a: Vec<(&str, Option<(u16, u16)>)> = d.acls[0].entries.iter().map(|e| (e.source.as_str(), e.ports)).collect();
    assert_eq!(a, [("10.0.0.1/32", Some((8000, 8080))), ("any", None), ("any", Some((1024, u16::MAX)))]);
    assert_eq!(d.acls.len(), 1, "every `b` line is malformed");
    assert_eq!(unrecognised(&d).iter().map(|n| n.line).collect::<Vec<_>>(), [5, 6, 7, 8, 13]);
    assert_eq!(iface(&d, "GigaEthernet0.0").acls, [("a".to_string(), "in".to_string()), ("b".to_string(), "out".to_string())]);
}

#[test]
fn mutated_dialect_configs_never_panic_and_every_line_is_counted() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in [AWPLUS, ALAXALA, NECIX] {
        for _ in 0..300 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..(next() % 40 + 1) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                match next() % 5 {
                    0 => bytes[at] = b" \n!#/-,.0123456789portvlansrcdest\t"[(next() % 34) as usize],
                    1 => bytes.insert(at, b' '),
                    2 => {
                        bytes.remove(at);
                    }
                    // Duplicate a slice: repeated blocks, headers cut into other lines.
                    3 => {
                        let end = (at + (next() as usize % 80)).min(bytes.len());
                        let chunk = bytes[at..end].to_vec();
                        let to = (next() as usize) % bytes.len();
                        bytes.splice(to..to, chunk);
                    }
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(d) = parse_config("m.cfg", &bytes) {
                let text = decode("m.cfg", &bytes).unwrap();
                let lines = text.split('\n').count() - usize::from(text.ends_with('\n'));
                assert_eq!(total(d.coverage), lines);
                assert!(d.interfaces.len() <= 4096 * lines.max(1));
            }
        }
    }
}
