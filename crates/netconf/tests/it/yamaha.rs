//! YAMAHA RTX `show config` parsing: exact model facts from fixtures,
//! line accounting, and robustness against mutated input.

use lanward_netconf::{parse_config, AclEntry, Device, Interface, InterfaceKind, LineClass, StaticRoute, Vendor};

const BRANCH: &str = include_str!("../fixtures/yamaha/rtx1210-branch.txt");
const PUMP: &str = include_str!("../fixtures/yamaha/rtx830-jousui.txt");

fn parse(file: &str, text: &str) -> Device {
    parse_config(file, text.as_bytes()).unwrap()
}

fn iface<'a>(d: &'a Device, name: &str) -> &'a Interface {
    d.interfaces.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no interface {name}: {:?}", d.interfaces.iter().map(|i| &i.name).collect::<Vec<_>>()))
}

fn acls(i: &Interface) -> Vec<(&str, &str)> {
    i.acls.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect()
}

fn route(prefix: &str, next_hop: Option<&str>, interface: Option<&str>, line: usize) -> StaticRoute {
    StaticRoute { prefix: prefix.into(), next_hop: next_hop.map(Into::into), interface: interface.map(Into::into), vrf: None, distance: None, line }
}

fn entries<'a>(d: &'a Device, name: &str) -> &'a [AclEntry] {
    &d.acls.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no filter {name}")).entries
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.trim() == needle).unwrap_or_else(|| panic!("{needle:?} not in fixture")) + 1
}

#[test]
fn rtx1210_branch_interfaces() {
    let d = parse("kita.conf", BRANCH);
    assert_eq!(d.vendor, Vendor::YamahaRtx);
    assert_eq!(d.hostname, "KITA-JOSUI");
    let names: Vec<&str> = d.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["LAN1", "LAN1/1", "LAN1/2", "LAN3", "pp 1", "tunnel 1"]);

    let lan1 = iface(&d, "LAN1");
    assert_eq!(lan1.kind, InterfaceKind::Physical);
    assert_eq!(lan1.addresses, ["192.168.10.1/24"]);
    assert_eq!(lan1.description.as_deref(), Some("kita josui office"));
    assert_eq!(acls(lan1), [("100", "in"), ("101", "in"), ("102", "in"), ("110", "out"), ("111", "out")]);
    assert!(!lan1.shutdown);

    let v20 = iface(&d, "LAN1/1");
    assert_eq!((v20.kind, v20.svi_vlan), (InterfaceKind::Svi, Some(20)));
    assert_eq!(v20.addresses, ["192.168.20.1/24"]);
    assert_eq!(v20.description.as_deref(), Some("SCADA monitoring"));
    assert_eq!(acls(v20), [("120", "in"), ("121", "in")]);
    assert_eq!(iface(&d, "LAN1/2").svi_vlan, Some(30));
    assert_eq!(d.vlans.iter().map(|v| v.id).collect::<Vec<_>>(), [20, 30]);

    assert!(iface(&d, "LAN3").shutdown);

    let pp = iface(&d, "pp 1");
    assert_eq!(pp.kind, InterfaceKind::Pp);
    assert_eq!(pp.line, line_of(BRANCH, "pp select 1"));
    assert_eq!(pp.description.as_deref(), Some("FLETS NEXT PPPoE"));
    assert_eq!(pp.addresses, ["203.0.113.18/32"]);
    assert!(!pp.shutdown, "pp enable 1");
    let pp_in = ["200003", "200020", "200021", "200030", "200032", "200080", "200081", "200082"].map(|n| (n, "in"));
    let pp_out = ["200013", "200020", "200021", "200026", "200099"].map(|n| (n, "out"));
    assert_eq!(acls(pp), [&pp_in[..], &pp_out[..]].concat());

    let tun = iface(&d, "tunnel 1");
    assert_eq!(tun.kind, InterfaceKind::Tunnel);
    assert_eq!(tun.addresses, ["10.255.1.2/30"]);
    assert_eq!(tun.description.as_deref(), Some("HQ honkyoku"));
    assert_eq!(acls(tun), [("400", "in"), ("401", "in")]);
    assert!(!tun.shutdown);
}

#[test]
fn rtx1210_branch_routes_nat_dhcp() {
    let d = parse("kita.conf", BRANCH);
    let l = |s| line_of(BRANCH, s);
    let hide = l("ip route 172.16.0.0/16 gateway tunnel 1 hide gateway 192.168.30.254 weight 1");
    assert_eq!(
        d.static_routes,
        [
            route("0.0.0.0/0", None, Some("pp 1"), l("ip route default gateway pp 1")),
            route("10.0.0.0/8", None, Some("tunnel 1"), l("ip route 10.0.0.0/8 gateway tunnel 1")),
            route("172.16.0.0/16", None, Some("tunnel 1"), hide),
            route("172.16.0.0/16", Some("192.168.30.254"), None, hide),
            route("192.168.200.0/24", Some("192.168.30.254"), None, l("ip route 192.168.200.0/24 gateway 192.168.30.254 keepalive 1")),
        ]
    );

    let nat: Vec<&str> = d.nat.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        nat,
        [
            "pp 1: ip pp nat descriptor 1000",
            "nat descriptor type 1000 masquerade",
            "nat descriptor address outer 1000 ipcp",
            "nat descriptor address inner 1000 192.168.10.1-192.168.30.254",
            "nat descriptor masquerade static 1000 1 192.168.10.1 udp 500",
            "nat descriptor masquerade static 1000 2 192.168.10.1 esp",
        ]
    );

    let scopes: Vec<(&str, Option<&str>, Option<&str>)> = d.dhcp_scopes.iter().map(|s| (s.name.as_str(), s.network.as_deref(), s.gateway.as_deref())).collect();
    assert_eq!(scopes, [("1", Some("192.168.10.0/24"), None), ("2", Some("192.168.20.0/24"), Some("192.168.20.1"))]);
    assert_eq!(d.dhcp_scopes[0].line, l("dhcp scope 1 192.168.10.100-192.168.10.199/24"));
}

#[test]
fn rtx1210_branch_filters() {
    let d = parse("kita.conf", BRANCH);
    let names: Vec<&str> = d.acls.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), 22, "{names:?}");
    let e = |n| entries(&d, n);
    let facts = |es: &[AclEntry]| es.iter().map(|e| (e.action.clone(), e.protocol.clone(), e.source.clone(), e.destination.clone(), e.ports)).collect::<Vec<_>>();
    let f = |a: &str, p: &str, s: &str, dst: &str, ports| (a.to_string(), p.to_string(), s.to_string(), dst.to_string(), ports);

    assert_eq!(facts(e("100")), [f("permit", "ip", "192.168.10.0/24", "any", None)]);
    assert_eq!(facts(e("101")), [f("deny", "tcp", "any", "any", Some((137, 139)))]);
    // `192.168.10.*` is a /24; a port list is one entry per port.
    assert_eq!(facts(e("102")), [f("permit", "tcp", "192.168.10.0/24", "10.0.0.0/8", Some((80, 80))), f("permit", "tcp", "192.168.10.0/24", "10.0.0.0/8", Some((443, 443)))]);
    assert_eq!(facts(e("110")), [f("permit", "icmp", "any", "192.168.10.0/24", None)]);
    // Source ports do not limit the destination ports.
    assert_eq!(facts(e("111")), [f("permit", "tcp", "any", "192.168.10.0/24", None)]);
    assert_eq!(facts(e("120")), [f("permit", "tcp", "192.168.20.0/24", "10.1.5.10/32", Some((502, 502)))]);
    assert_eq!(facts(e("121")), [f("deny", "ip", "any", "any", None)]);
    assert_eq!(facts(e("200020")), [f("deny", "udp,tcp", "any", "any", None)]);
    assert_eq!(facts(e("200021")), [f("deny", "udp,tcp", "any", "any", Some((135, 135)))]);
    assert_eq!(
        facts(e("200026")),
        [f("permit", "tcpfin", "any", "any", Some((80, 80))), f("permit", "tcpfin", "any", "any", Some((21, 21))), f("permit", "tcpfin", "any", "any", Some((119, 119)))]
    );
    assert_eq!(facts(e("200081")), [f("permit", "udp", "any", "203.0.113.18/32", Some((4500, 4500)))]);
    assert_eq!(facts(e("400")), [f("permit", "ip", "10.0.0.0/8", "192.168.10.0/24,192.168.20.0/24", None)]);
    let e101 = &e("101")[0];
    assert_eq!(e101.text, "ip filter 101 reject * * tcp * netbios_ns-netbios_ssn");
    assert_eq!(e101.line, line_of(BRANCH, "ip filter 101 reject * * tcp * netbios_ns-netbios_ssn"));
}

#[test]
fn rtx1210_branch_coverage() {
    let d = parse("kita.conf", BRANCH);
    let c = d.coverage;
    assert_eq!(c.unrecognised, 0, "{:#?}", d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect::<Vec<_>>());
    assert_eq!(c.modelled + c.ignored + c.unmodelled + c.unrecognised, BRANCH.lines().count());
    let unmodelled = |needle: &str| d.line_notes.iter().any(|n| n.class == LineClass::Unmodelled && n.text.trim() == needle);
    for l in ["ip filter dynamic 300 * * ftp", "pppoe use lan2", "ipsec tunnel 101", "lan type lan2 auto", "dns server pp 1", "dhcp service server", "syslog host 192.168.10.250", "ip keepalive 1 icmp-echo 10 3 192.168.30.254"] {
        assert!(unmodelled(l), "{l} should be unmodelled");
    }
    // Secrets are never kept, not even as notes.
    let json = serde_json::to_string(&d).unwrap();
    for secret in ["HimitsuPass99", "Sup3rSecretPSK", "AbCdEfGh0123456789"] {
        assert!(!json.contains(secret), "{secret} leaked");
    }
}

#[test]
fn rtx830_japanese_descriptions_ospf_dhcp_wan() {
    let d = parse("minami.conf", PUMP);
    assert_eq!(d.hostname, "MINAMI-PUMP");
    let lan1 = iface(&d, "LAN1");
    assert_eq!(lan1.description.as_deref(), Some("南ポンプ場 監視LAN"));
    assert_eq!(acls(lan1), [("1010", "in"), ("1011", "in")]);
    let lan2 = iface(&d, "LAN2");
    assert_eq!(lan2.description.as_deref(), Some("上水道課 広域イーサ"));
    assert!(lan2.addresses.is_empty(), "address from DHCP");
    assert_eq!(acls(lan2), [("2000", "in"), ("2001", "in"), ("2002", "in"), ("2010", "out")]);
    assert!(d.line_notes.iter().any(|n| n.class == LineClass::Unmodelled && n.text == "ip lan2 address dhcp" && n.line == line_of(PUMP, "ip lan2 address dhcp")));

    assert_eq!(
        d.static_routes,
        [route("0.0.0.0/0", None, Some("LAN2"), line_of(PUMP, "ip route default gateway dhcp lan2")), route("10.20.0.0/16", Some("192.168.50.254"), None, line_of(PUMP, "ip route 10.20.0.0/16 gateway 192.168.50.254"))]
    );
    let ospf: Vec<(&str, &str, Option<&str>)> = d.routing_networks.iter().map(|r| (r.protocol.as_str(), r.prefix.as_str(), r.area.as_deref())).collect();
    assert_eq!(ospf, [("ospf", "192.168.50.0/24", Some("0"))]);
    assert_eq!(entries(&d, "2002")[0].ports, Some((22, 22)));
    assert_eq!(entries(&d, "2001")[0].protocol, "icmp");
    assert_eq!(d.nat.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["ip lan2 nat descriptor 200", "nat descriptor type 200 masquerade", "nat descriptor address outer 200 primary"]);
    assert_eq!(d.dhcp_scopes.len(), 1);
    assert_eq!(d.dhcp_scopes[0].network.as_deref(), Some("192.168.50.0/24"));
    assert_eq!(d.coverage.unrecognised, 0, "{:#?}", d.line_notes);
    assert!(!serde_json::to_string(&d).unwrap().contains("minamiRO"), "SNMP community leaked");
}

#[test]
fn rtx830_in_shift_jis_decodes_the_same() {
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(PUMP);
    assert!(!unmappable);
    let d = parse_config("minami.conf", &sjis).unwrap();
    assert_eq!(d, parse("minami.conf", PUMP));
}

#[test]
fn garbage_is_unrecognised_with_its_line() {
    let text = "ip lan1 address 192.168.1.1/24\nthis is not a yamaha command\nip lan1 address 999.1.1.1/24\nip filter 10 allow * * * * *\nip pp address 10.0.0.1/32\npp select 1\nip route default gateway pp 1 bogus\n";
    let d = parse("x.conf", text);
    let bad: Vec<(usize, LineClass)> = d.line_notes.iter().map(|n| (n.line, n.class)).collect();
    // Line 5: `ip pp` outside `pp select` names no interface.
    assert_eq!(bad, [(2, LineClass::Unrecognised), (3, LineClass::Unrecognised), (4, LineClass::Unrecognised), (5, LineClass::Unrecognised), (7, LineClass::Unrecognised)]);
    assert_eq!(d.line_notes[0].text, "this is not a yamaha command");
    assert_eq!(d.coverage.modelled, 2);
    // Nothing half-parsed enters the model.
    assert_eq!(iface(&d, "LAN1").addresses, ["192.168.1.1/24"]);
    assert!(d.acls.is_empty() && d.static_routes.is_empty());
    // No console prompt: parse_config names the device after its file.
    assert_eq!(d.hostname, "x");
}

#[test]
fn pp_without_enable_is_down_and_route_variants() {
    let text = "pp select 2\n description pp backup\npp select none\nip route 10.9.0.0/255.255.0.0 gateway null\nip route 10.8.8.8 gateway pp 2 filter 1 2 metric 3\nip filter 5 pass-nolog 10.0.0.0/255.0.0.0 * tcp * 1024-\nip filter 6 pass * * tcp * nosuchport\n";
    let d = parse("y.conf", text);
    assert!(iface(&d, "pp 2").shutdown, "no pp enable");
    assert_eq!(d.static_routes, [route("10.9.0.0/16", None, Some("null"), 4), route("10.8.8.8/32", None, Some("pp 2"), 5)]);
    assert_eq!(entries(&d, "5")[0].source, "10.0.0.0/8");
    assert_eq!(entries(&d, "5")[0].ports, Some((1024, 65535)));
    // A port name this parser does not know: a known command, no entry guessed.
    assert!(d.acls.iter().all(|a| a.name != "6"));
    assert_eq!(d.line_notes.iter().map(|n| (n.line, n.class)).collect::<Vec<_>>(), [(7, LineClass::Unmodelled)]);
}

/// Deterministic mutations of the fixtures (and random lines): no panic,
/// every line accounted for exactly once.
#[test]
fn mutated_configs_never_panic_and_account_every_line() {
    let seeds: Vec<&str> = BRANCH.lines().chain(PUMP.lines()).collect();
    let alphabet: Vec<char> = " \t/-,.*=\"#0123456789abcdefilnpstuv!:_南\u{3000}".chars().collect();
    let words = ["pp", "select", "tunnel", "ip", "lan1", "lan1/", "route", "gateway", "filter", "secure", "in", "out", "dynamic", "nat", "descriptor", "dhcp", "scope", "vlan", "802.1q", "vid=", "ospf", "area", "none", "default", "*", "/", "-", "255.255.255.255", "65535", "99999999999", ""];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut parsed = 0;
    for round in 0..400 {
        let mut lines: Vec<String> = Vec::new();
        for _ in 0..(next() % 40 + 1) {
            let mut chars: Vec<char> = seeds[(next() as usize) % seeds.len()].chars().collect();
            for _ in 0..(next() % 5) {
                let at = (next() as usize) % (chars.len() + 1);
                match next() % 4 {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    2 => {
                        for c in words[(next() as usize) % words.len()].chars().rev() {
                            chars.insert(at, c);
                        }
                    }
                    _ if at < chars.len() => chars[at] = alphabet[(next() as usize) % alphabet.len()],
                    _ => {}
                }
            }
            if round % 7 == 0 {
                // Whole random lines of words as well.
                chars = (0..next() % 8).map(|_| words[(next() as usize) % words.len()]).collect::<Vec<_>>().join(" ").chars().collect();
            }
            lines.push(chars.into_iter().collect());
        }
        // Always something YAMAHA-looking so the vendor is detected.
        lines.insert(0, "pp select 1".into());
        let text = lines.join("\n");
        let d = match parse_config("fuzz.conf", text.as_bytes()) {
            Ok(d) => d,
            Err(_) => continue,
        };
        if d.vendor != Vendor::YamahaRtx {
            continue;
        }
        parsed += 1;
        let c = d.coverage;
        // parse_config drops the empty "line" after a final newline.
        let count = text.split('\n').count() - usize::from(text.ends_with('\n'));
        assert_eq!(c.modelled + c.ignored + c.unmodelled + c.unrecognised, count, "{text}");
        assert!(d.line_notes.iter().all(|n| n.line >= 1 && n.line <= count));
    }
    assert!(parsed > 300, "only {parsed} mutated configs reached the YAMAHA parser");
}

#[test]
fn older_and_rarer_forms() {
    let text = "pp select 3\n pp name PRV/1/1/5/0/0/0:isp\n ip pp address 198.51.100.7/32\n ip pp ospf area 0 authkey=ospfKey1\npp select none\nip lan1 ospf area 0.0.0.1 md5key=1,md5Key2\ndhcp scope 1 192.168.1.2-192.168.1.200/24 except 192.168.1.50 192.168.1.60-192.168.1.69 gateway 192.168.1.1 expire 72:00\nip lan1 secure filter name LAN-IN\nbgp use on\nbgp import 65001 static filter 1\n";
    let d = parse("z.conf", text);
    assert_eq!(iface(&d, "pp 3").description.as_deref(), Some("PRV/1/1/5/0/0/0:isp"));
    let ospf: Vec<(&str, Option<&str>, usize)> = d.routing_networks.iter().map(|r| (r.prefix.as_str(), r.area.as_deref(), r.line)).collect();
    assert_eq!(ospf, [("198.51.100.7/32", Some("0"), 4)]);
    assert_eq!(d.dhcp_scopes[0].gateway.as_deref(), Some("192.168.1.1"));
    // LAN1 has no address here, so its OSPF line is not modelled, and its key is not kept.
    let notes: Vec<(usize, LineClass)> = d.line_notes.iter().map(|n| (n.line, n.class)).collect();
    assert_eq!(notes, [(8, LineClass::Unmodelled), (9, LineClass::Unmodelled), (10, LineClass::Unmodelled)]);
    let json = serde_json::to_string(&d).unwrap();
    assert!(!json.contains("ospfKey1") && !json.contains("md5Key2"));
}
