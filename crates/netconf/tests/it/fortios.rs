//! FortiOS parser: fixtures in `tests/fixtures/fortios/`, written for these
//! tests in the style of `show full-configuration` / backup files.

use lanward_netconf::*;

const BRANCH: &[u8] = include_bytes!("../fixtures/fortios/fgt60f-branch.conf");
const JOSUIJO: &[u8] = include_bytes!("../fixtures/fortios/fg200f-josuijo.conf");

fn parse(file: &str, bytes: &[u8]) -> Device {
    parse_config(file, bytes).unwrap()
}

/// A FortiOS file from lines (the header makes detection certain).
fn conf(lines: &[&str]) -> Vec<u8> {
    let mut s = String::from("#config-version=FG60FT-7.0.12-FW-build0523-230613:opmode=0:vdom=0:user=admin\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.into_bytes()
}

fn total(c: &Coverage) -> usize {
    c.modelled + c.ignored + c.unmodelled + c.unrecognised
}

fn intf<'a>(d: &'a Device, name: &str) -> &'a Interface {
    d.interfaces.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no interface {name}"))
}

fn acl<'a>(d: &'a Device, name: &str) -> &'a Acl {
    d.acls.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no acl {name}"))
}

fn class_of(d: &Device, line: usize) -> Option<LineClass> {
    d.line_notes.iter().find(|n| n.line == line).map(|n| n.class)
}

/// (action, protocol, source, destination, ports).
type Entry<'a> = (&'a str, &'a str, &'a str, &'a str, Option<(u16, u16)>);

fn entries(a: &Acl) -> Vec<Entry<'_>> {
    a.entries.iter().map(|e| (e.action.as_str(), e.protocol.as_str(), e.source.as_str(), e.destination.as_str(), e.ports)).collect()
}

#[test]
fn branch_60f_interfaces() {
    let d = parse("fgt60f-branch.conf", BRANCH);
    assert_eq!(d.vendor, Vendor::FortiOs);
    assert_eq!(d.hostname, "KITA-SHISHO-FGT01");
    let names: Vec<&str> = d.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["dmz", "wan1", "wan2", "internal", "ssl.root", "vlan10", "vlan20", "vlan30", "to-HQ", "lo-mgmt"]);

    let wan1 = intf(&d, "wan1");
    assert_eq!((wan1.kind, wan1.addresses.clone(), wan1.description.as_deref(), wan1.line), (InterfaceKind::Physical, vec!["203.0.113.2/29".to_string()], Some("WAN-FLETS"), 31));
    let wan2 = intf(&d, "wan2");
    assert!(wan2.shutdown);
    assert!(wan2.addresses.is_empty(), "DHCP client: no configured address");
    assert_eq!(intf(&d, "internal").kind, InterfaceKind::Other, "hard-switch");
    assert_eq!(intf(&d, "to-HQ").kind, InterfaceKind::Tunnel);
    assert_eq!(intf(&d, "lo-mgmt").kind, InterfaceKind::Loopback);
    assert_eq!(intf(&d, "lo-mgmt").addresses, ["10.255.0.12/32"]);

    // vlan10 says `set type vlan`; vlan20/30 leave it out as `show` does.
    for (name, vlan, addr) in [("vlan10", 10, "192.168.10.1/24"), ("vlan20", 20, "192.168.20.1/24"), ("vlan30", 30, "172.16.30.1/24")] {
        let i = intf(&d, name);
        assert_eq!((i.kind, i.svi_vlan, i.addresses.clone()), (InterfaceKind::Svi, Some(vlan), vec![addr.to_string()]), "{name}");
    }
    assert_eq!(intf(&d, "vlan30").description.as_deref(), Some("Pump station telemetry \"SCADA\""), "escaped quotes");
    assert_eq!(intf(&d, "vlan10").description.as_deref(), Some("Office PCs"));
}

#[test]
fn branch_60f_routes_dhcp_nat() {
    let d = parse("fgt60f-branch.conf", BRANCH);
    let routes: Vec<_> = d.static_routes.iter().map(|r| (r.prefix.as_str(), r.next_hop.as_deref(), r.interface.as_deref(), r.distance, r.line)).collect();
    assert_eq!(
        routes,
        [
            ("0.0.0.0/0", Some("203.0.113.1"), Some("wan1"), None, 283),
            ("10.1.0.0/16", None, Some("to-HQ"), None, 287),
            ("10.1.0.0/16", None, Some("blackhole"), Some(254), 292),
        ]
    );
    let scopes: Vec<_> = d.dhcp_scopes.iter().map(|s| (s.name.as_str(), s.network.as_deref(), s.gateway.as_deref())).collect();
    assert_eq!(scopes, [("vlan10", Some("192.168.10.0/24"), Some("192.168.10.1")), ("vlan20", Some("192.168.20.0/24"), Some("192.168.20.1"))]);
    assert_eq!(d.nat.len(), 1);
    assert_eq!(d.nat[0].text, "policy 1: source NAT to \"wan1\" (interface address)");
    assert!(d.routing_networks.is_empty());
}

#[test]
fn branch_60f_policies() {
    let d = parse("fgt60f-branch.conf", BRANCH);
    let names: Vec<&str> = d.acls.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["1", "2", "3", "4"]);

    // Group expanded, `all` → any, DNS is tcp and udp 53.
    let p1 = entries(acl(&d, "1"));
    assert_eq!(p1.len(), 2 * 4);
    assert!(p1.contains(&("permit", "tcp", "192.168.10.0/24", "any", Some((443, 443)))));
    assert!(p1.contains(&("permit", "udp", "192.168.20.0/24", "any", Some((53, 53)))));
    assert!(p1.contains(&("permit", "tcp", "192.168.20.0/24", "any", Some((80, 80)))));
    assert_eq!(
        entries(acl(&d, "2")),
        [("permit", "tcp", "192.168.10.0/24", "10.1.20.15/32", Some((445, 445))), ("permit", "tcp", "192.168.10.0/24", "10.1.20.15/32", Some((139, 139)))]
    );
    // A custom service from the file and a predefined one.
    assert_eq!(
        entries(acl(&d, "3")),
        [("permit", "tcp", "10.1.0.0/16", "172.16.30.0/24", Some((502, 502))), ("permit", "icmp", "10.1.0.0/16", "172.16.30.0/24", None)]
    );
    // No `set action`: the default, deny.
    assert_eq!(entries(acl(&d, "4")), [("deny", "ip", "any", "any", None)]);
    assert_eq!(acl(&d, "4").entries[0].line, 270);

    let attached = |n: &str| intf(&d, n).acls.iter().map(|(a, dir)| format!("{a}/{dir}")).collect::<Vec<_>>();
    assert_eq!(attached("vlan10"), ["1/in", "2/in"]);
    assert_eq!(attached("vlan20"), ["1/in"]);
    assert_eq!(attached("to-HQ"), ["3/in"]);
    assert_eq!(attached("vlan30"), ["4/in"]);
    assert!(attached("wan1").is_empty());
}

#[test]
fn branch_60f_accounting_and_secrets() {
    let d = parse("fgt60f-branch.conf", BRANCH);
    let lines = BRANCH.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(total(&d.coverage), lines);
    assert_eq!(d.coverage.unrecognised, 0, "{:?}", d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect::<Vec<_>>());
    assert!(d.coverage.modelled > 100);
    // Header lines and secrets: ignored (not in the notes at all).
    for line in [1, 2, 3, 4, 130, 219] {
        assert_eq!(class_of(&d, line), None, "line {line} should be ignored or modelled");
    }
    // Known but not modelled: allowaccess, vdom, IPsec, addrgrp.
    for line in [24, 26, 210, 211, 223, 195] {
        assert_eq!(class_of(&d, line), Some(LineClass::Unmodelled), "line {line}");
    }
    let json = serde_json::to_string(&d).unwrap();
    assert!(!json.contains("ENC"), "a secret reached the model or the notes");
    assert!(!json.contains("SH2dGk0"));
    assert!(!json.contains("k3JmX8p"));
}

#[test]
fn josuijo_japanese_vdom_lag_zone() {
    let d = parse("fg200f-josuijo.conf", JOSUIJO);
    assert_eq!(d.hostname, "MINAMI-JOSUI-FGT200F");
    let lines = JOSUIJO.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(total(&d.coverage), lines);
    assert_eq!(d.coverage.unrecognised, 0, "{:?}", d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect::<Vec<_>>());

    assert_eq!(intf(&d, "port1").description.as_deref(), Some("WAN回線（フレッツ光 固定IP）"));
    // The description wins over the alias; the alias stands in without one.
    assert_eq!(intf(&d, "port2").description.as_deref(), Some("事務棟LAN"));
    assert_eq!(intf(&d, "port5").description.as_deref(), Some("予備ポート"));
    assert!(intf(&d, "port5").shutdown);
    // `a.b.c.d/len` form and a secondary address.
    assert_eq!(intf(&d, "port2").addresses, ["10.20.10.1/24", "10.20.11.1/24"]);
    assert_eq!(intf(&d, "agg1").kind, InterfaceKind::Lag);
    assert_eq!(intf(&d, "port3").lag.as_deref(), Some("agg1"));
    assert_eq!(intf(&d, "port4").lag.as_deref(), Some("agg1"));
    assert_eq!(intf(&d, "port1").lag, None);
    let v100 = intf(&d, "vlan100");
    assert_eq!((v100.kind, v100.svi_vlan, v100.description.as_deref()), (InterfaceKind::Svi, Some(100), Some("監視制御（中央監視盤）")));

    // Policy 40's source is a zone: attached to its members.
    assert_eq!(intf(&d, "agg1").acls, [("40".to_string(), "in".to_string())]);
    assert_eq!(intf(&d, "vlan100").acls, [("40".to_string(), "in".to_string())]);
    assert_eq!(intf(&d, "port2").acls, [("10".to_string(), "in".to_string()), ("20".to_string(), "in".to_string())]);

    // A service group; and a VIP as destination stays a name (unmodelled line).
    assert_eq!(
        entries(acl(&d, "20")),
        [
            ("permit", "tcp", "10.20.10.0/23", "10.20.100.0/24", Some((4840, 4840))),
            ("permit", "icmp", "10.20.10.0/23", "10.20.100.0/24", None),
            ("permit", "tcp", "10.20.10.0/23", "10.20.100.0/24", Some((22, 22))),
        ]
    );
    assert_eq!(entries(acl(&d, "30")), [("permit", "tcp", "any", "VIP-KENSA-WEB", Some((443, 443)))]);
    assert_eq!(class_of(&d, 218), Some(LineClass::Unmodelled));

    let nets: Vec<_> = d.routing_networks.iter().map(|n| (n.protocol.as_str(), n.prefix.as_str(), n.area.as_deref())).collect();
    assert_eq!(nets, [("ospf", "10.20.0.0/24", Some("0.0.0.0")), ("ospf", "10.20.100.0/24", Some("0.0.0.0")), ("bgp", "10.20.0.0/16", None)]);
    assert_eq!(d.static_routes.len(), 1);
    assert_eq!((d.static_routes[0].distance, d.static_routes[0].next_hop.as_deref()), (Some(10), Some("198.51.100.1")));

    let nat: Vec<&str> = d.nat.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        nat,
        [
            "vip \"VIP-KENSA-WEB\": 198.51.100.11:443 -> 10.20.50.10:443/tcp on \"port1\"",
            "ippool \"POOL-OUT\": 198.51.100.12-198.51.100.12 overload",
            "policy 10: source NAT to \"port1\" (ippool \"POOL-OUT\")",
        ]
    );

    // The private key and certificate blocks (lines 104-112): ignored, and nowhere in the output.
    for line in 104..=112 {
        assert_ne!(class_of(&d, line), Some(LineClass::Unmodelled), "line {line}");
        assert_ne!(class_of(&d, line), Some(LineClass::Unrecognised), "line {line}");
    }
    let json = serde_json::to_string(&d).unwrap();
    for secret in ["BEGIN", "MIIF", "ENC", "bXlUZXN0"] {
        assert!(!json.contains(secret), "{secret} leaked");
    }
    // The Japanese comment line and the VDOM wrappers are ignored.
    for line in [5, 6, 7, 8, 9, 10, 116, 117, 118, 274, 275] {
        assert_eq!(class_of(&d, line), None, "line {line}");
    }
}

#[test]
fn shift_jis_file_decodes() {
    let text = "#config-version=FG60FT-7.0.12-FW-build0523-230613:opmode=0:vdom=0:user=admin\nconfig system interface\n    edit \"port1\"\n        set description \"配水管理\"\n    next\nend\n";
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
    let d = parse("sjis.conf", &sjis);
    assert_eq!(intf(&d, "port1").description.as_deref(), Some("配水管理"));
    assert_eq!(d.coverage.unrecognised, 0);
}

#[test]
fn garbage_line_is_unrecognised_with_its_number() {
    let d = parse(
        "g.conf",
        &conf(&[
            "config system global",           // 2
            "    set hostname \"FGT-G\"",     // 3
            "end",                            // 4
            "this is not fortios",            // 5
            "config system interface",        // 6
            "    edit \"port1\"",             // 7
            "        frobnicate the widget",  // 8
            "        set ip 10.0.0.1 255.255.255.0", // 9
            "    next",                       // 10
            "end",                            // 11
        ]),
    );
    let unrec: Vec<(usize, &str)> = d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).map(|n| (n.line, n.text.as_str())).collect();
    assert_eq!(unrec, [(5, "this is not fortios"), (8, "        frobnicate the widget")]);
    assert_eq!(d.hostname, "FGT-G");
    assert_eq!(intf(&d, "port1").addresses, ["10.0.0.1/24"]);
    assert_eq!(total(&d.coverage), 11);
}

#[test]
fn unbalanced_blocks() {
    let d = parse(
        "u.conf",
        &conf(&[
            "end",                                 // 2: nothing open
            "next",                                // 3: nothing open
            "edit 5",                              // 4: outside a table
            "config system interface",             // 5
            "    edit \"port1\"",                  // 6
            "        set ip 10.0.0.1 255.255.255.0",
            "    edit \"port2\"",                  // 8: `next` missing
            "        set status down",
            "end",                                 // 10: closes port2 and the table
            "end",                                 // 11: one too many
            "config router static",                // 12
            "    edit 1",
            "        set gateway 10.0.0.254",
            "        set device \"port1\"",
            // No `next`/`end`: the file stops here.
        ]),
    );
    let unrec: Vec<usize> = d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).map(|n| n.line).collect();
    assert_eq!(unrec, [2, 3, 4, 11]);
    assert_eq!(intf(&d, "port1").addresses, ["10.0.0.1/24"]);
    assert!(intf(&d, "port2").shutdown);
    assert_eq!(d.static_routes.len(), 1);
    assert_eq!(d.static_routes[0].next_hop.as_deref(), Some("10.0.0.254"));
    assert_eq!(total(&d.coverage), 15);
}

#[test]
fn unknown_section_and_unterminated_quote() {
    let d = parse(
        "q.conf",
        &conf(&[
            "config frobnitz widgets",           // 2: not a FortiOS table
            "    set colour blue",
            "end",                               // 4
            "config vpn certificate local",      // 5
            "    edit \"x\"",
            "        set certificate \"-----BEGIN CERTIFICATE-----", // 7: never closed
            "    next",
            "end",
            "config system global",              // 10
            "    set hostname \"after\"",
            "end",
        ]),
    );
    let unrec: Vec<usize> = d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).map(|n| n.line).collect();
    assert_eq!(unrec, [2, 3, 4]);
    assert_eq!(class_of(&d, 7), None, "certificate line ignored");
    assert_eq!(d.hostname, "after", "an unclosed quote does not swallow the rest");
}

#[test]
fn policy_with_unknown_objects_and_negation() {
    let d = parse(
        "p.conf",
        &conf(&[
            "config system interface",
            "    edit \"port1\"",
            "    next",
            "end",
            "config firewall policy",
            "    edit 7",                        // 7
            "        set srcintf \"port1\"",
            "        set dstintf \"port2\"",
            "        set srcaddr \"NOT-DEFINED\"", // 10
            "        set dstaddr \"all\"",
            "        set action accept",
            "        set service \"MYSTERY\"",    // 13
            "    next",
            "    edit 8",
            "        set srcintf \"any\"",        // 16
            "        set srcaddr \"all\"",
            "        set srcaddr-negate enable",
            "        set dstaddr \"all\"",
            "        set service \"ALL\"",
            "        set action accept",
            "    next",
            "end",
        ]),
    );
    assert_eq!(entries(acl(&d, "7")), [("permit", "MYSTERY", "NOT-DEFINED", "any", None)]);
    assert_eq!(class_of(&d, 10), Some(LineClass::Unmodelled));
    assert_eq!(class_of(&d, 13), Some(LineClass::Unmodelled));
    assert!(acl(&d, "8").entries.is_empty(), "negation is not written as entries");
    assert_eq!(class_of(&d, 16), Some(LineClass::Unmodelled), "`any` attaches nowhere");
    assert_eq!(intf(&d, "port1").acls, [("7".to_string(), "in".to_string())]);
    assert_eq!(d.coverage.unrecognised, 0);
}

/// A small deterministic generator: the test must be reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "config", "edit", "next", "end", "set", "unset", "append", "\"", "\\", "\\\"", "system", "interface", "firewall", "policy", "address", "router",
    "static", "ospf", "bgp", "network", "prefix", "ip", "255.255.255.0", "10.0.0.1", "0.0.0.0", "/33", "vlanid", "type", "vlan", "aggregate", "member",
    "srcaddr", "dstaddr", "service", "ALL", "all", "srcintf", "action", "accept", "deny", "dst", "gateway", "distance", "999", "-1", "65536",
    "dhcp", "server", "ip-range", "start-ip", "netmask", "default-gateway", "vip", "ippool", "extip", "password", "ENC", "-----BEGIN", "global",
    "vdom", "root", "addrgrp", "custom", "tcp-portrange", "80-70", "1-65535", "443:1024", "zone", "secondaryip", "status", "down", "#", "水道", "",
];

#[test]
fn mutated_input_never_panics_and_accounts_every_line() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let bases: Vec<Vec<String>> = [BRANCH, JOSUIJO].iter().map(|b| String::from_utf8(b.to_vec()).unwrap().lines().map(String::from).collect()).collect();
    for round in 0..600 {
        let mut lines: Vec<String> = if round % 5 == 4 {
            // Pure token soup.
            (0..rng.below(80)).map(|_| (0..rng.below(6)).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")).collect()
        } else {
            bases[round % 2].clone()
        };
        for _ in 0..rng.below(40) {
            let len = lines.len();
            let at = rng.below(len + 1);
            match rng.below(7) {
                0 if len > 0 => {
                    lines.remove(at.min(len - 1));
                }
                1 if len > 0 => {
                    let l = lines[at.min(len - 1)].clone();
                    lines.insert(at, l);
                }
                2 => lines.insert(at, (0..rng.below(6)).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")),
                3 if len > 0 => {
                    // Cut a line at a character boundary.
                    let l = &mut lines[at.min(len - 1)];
                    let cut = l.char_indices().map(|(i, _)| i).nth(rng.below(l.chars().count() + 1)).unwrap_or(l.len());
                    l.truncate(cut);
                }
                4 if len > 1 => {
                    let b = rng.below(len);
                    lines.swap(at.min(len - 1), b);
                }
                5 if len > 0 => {
                    let l = &mut lines[at.min(len - 1)];
                    l.push_str(WORDS[rng.below(WORDS.len())]);
                }
                _ => lines.insert(at, "end".into()),
            }
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let bytes = conf(&refs);
        if let Ok(d) = parse_config("m.conf", &bytes) {
            assert_eq!(d.vendor, Vendor::FortiOs);
            assert_eq!(total(&d.coverage), lines.len() + 1, "round {round}");
            assert!(d.line_notes.iter().all(|n| n.line >= 1 && n.line <= lines.len() + 1));
        }
    }
}

#[test]
fn deep_nesting_is_skipped_and_balanced() {
    let mut lines: Vec<String> = (0..200).map(|i| format!("config system x{i}")).collect();
    lines.extend((0..200).map(|_| "end".to_string()));
    lines.extend(["config system global", "    set hostname \"deep\"", "end"].map(String::from));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let d = parse("deep.conf", &conf(&refs));
    assert_eq!(total(&d.coverage), lines.len() + 1);
    assert_eq!(d.hostname, "deep", "the skipped tables' `end`s do not close the wrong blocks");
    // Past the depth limit: unrecognised, `config` and `end` alike.
    assert_eq!(class_of(&d, 2 + 100), Some(LineClass::Unrecognised));
    assert_eq!(class_of(&d, 2 + 250), Some(LineClass::Unrecognised));
    assert_eq!(class_of(&d, 2), Some(LineClass::Unmodelled));
}

#[test]
fn group_loops_and_huge_products_are_bounded() {
    let mut lines: Vec<String> = ["config firewall addrgrp", "    edit \"G\"", "        set member \"G\" \"G\" \"G\"", "    next", "end", "config firewall policy"].map(String::from).to_vec();
    for id in 1..=2000 {
        lines.extend([format!("    edit {id}"), "        set srcaddr \"G\"".into(), "        set dstaddr \"G\"".into(), "        set service \"ALL\" \"DNS\"".into(), "    next".into()]);
    }
    lines.push("end".into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let d = parse("bomb.conf", &conf(&refs));
    assert_eq!(total(&d.coverage), lines.len() + 1);
    assert_eq!(d.acls.len(), 2000);
    assert!(d.acls.iter().all(|a| a.entries.len() <= 4096));
    assert!(d.acls.iter().map(|a| a.entries.len()).sum::<usize>() <= 1 << 20);
}
