//! Cisco IOS/IOS-XE and the dialects that write the same indented syntax
//! (Allied Telesis AlliedWare Plus, ALAXALA AX, NEC UNIVERGE IX): one
//! indentation-tree front end, one set of command handlers, small dialect
//! differences (`ip address A/len`, `ip route default`, AW+'s
//! `vlan database`) handled where they occur.

use crate::model::*;

/// A top-level command and its indented children (1-based line numbers).
struct Block<'a> {
    line: usize,
    text: &'a str,
    children: Vec<(usize, &'a str)>,
}

/// Splits the config into top-level blocks; banners (`banner motd ^C ...
/// ^C`) are consumed whole and marked ignored.
fn blocks<'a>(lines: &[&'a str], acc: &mut Accounting) -> Vec<Block<'a>> {
    let mut out: Vec<Block<'a>> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line = i + 1;
        let trimmed = raw.trim();
        if let Some(rest) = trimmed.strip_prefix("banner ") {
            // banner TYPE DELIM text... DELIM — the delimiter is the first token after the type.
            let delim_part = rest.split_whitespace().nth(1).unwrap_or("");
            let delim: String = if delim_part.starts_with('^') { delim_part.chars().take(2).collect() } else { delim_part.chars().take(1).collect() };
            acc.mark(line, LineClass::Ignored);
            let after_open = delim_part.get(delim.len()..).unwrap_or("");
            let closed_here = !delim.is_empty() && after_open.contains(delim.as_str());
            i += 1;
            if !closed_here && !delim.is_empty() {
                while i < lines.len() {
                    acc.mark(i + 1, LineClass::Ignored);
                    let done = lines[i].contains(delim.as_str());
                    i += 1;
                    if done {
                        break;
                    }
                }
            }
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented && (trimmed.is_empty() || trimmed.starts_with('!')) {
            // A separator inside a block does not end the block.
            acc.mark(line, LineClass::Ignored);
        } else if indented {
            match out.last_mut() {
                Some(b) => b.children.push((line, trimmed)),
                None => acc.mark(line, LineClass::Unrecognised),
            }
        } else {
            out.push(Block { line, text: trimmed, children: Vec::new() });
        }
        i += 1;
    }
    out
}

fn kind_of(name: &str) -> InterfaceKind {
    let l = name.to_ascii_lowercase();
    if l.starts_with("vlan") {
        InterfaceKind::Svi
    } else if l.starts_with("port-channel") || l.starts_with("po") && l[2..].chars().next().is_some_and(|c| c.is_ascii_digit()) || l.starts_with("sa") && l[2..].chars().all(|c| c.is_ascii_digit()) {
        InterfaceKind::Lag
    } else if l.starts_with("tunnel") {
        InterfaceKind::Tunnel
    } else if l.starts_with("loopback") {
        InterfaceKind::Loopback
    } else if l.starts_with("null") || l.starts_with("bdi") || l.starts_with("nve") || l.starts_with("dialer") || l.starts_with("virtual") {
        InterfaceKind::Other
    } else {
        InterfaceKind::Physical
    }
}

/// `A.B.C.D M.M.M.M` or `A.B.C.D/len` → `A.B.C.D/len`.
fn address(tokens: &[&str]) -> Option<String> {
    let first = tokens.first()?;
    if let Some((ip, len)) = first.split_once('/') {
        let _: std::net::Ipv4Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        return Some(format!("{ip}/{len}"));
    }
    let _: std::net::Ipv4Addr = first.parse().ok()?;
    let len = mask_len(tokens.get(1)?)?;
    Some(format!("{first}/{len}"))
}

/// The network of an address: `10.1.2.3/24` → `10.1.2.0/24`.
pub fn network_of(addr: &str) -> Option<String> {
    let (ip, len) = addr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some(format!("{}/{len}", std::net::Ipv4Addr::from(u32::from(ip) & mask)))
}

fn port_number(name: &str) -> Option<u16> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    Some(match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "www" | "http" => 80,
        "pop3" => 110,
        "sunrpc" => 111,
        "ntp" => 123,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ss" => 139,
        "snmp" => 161,
        "snmptrap" => 162,
        "bgp" => 179,
        "ldap" => 389,
        "https" => 443,
        "isakmp" => 500,
        "syslog" => 514,
        _ => return None,
    })
}

/// Parses `any` | `host A` | `A W` | `A/len` at `t[*i]`; advances `i`.
fn acl_addr(t: &[&str], i: &mut usize) -> Option<String> {
    let first = *t.get(*i)?;
    if first == "any" {
        *i += 1;
        return Some("any".into());
    }
    if first == "host" {
        let a: std::net::Ipv4Addr = t.get(*i + 1)?.parse().ok()?;
        *i += 2;
        return Some(format!("{a}/32"));
    }
    if first.contains('/') {
        *i += 1;
        return network_of(first);
    }
    let a: std::net::Ipv4Addr = first.parse().ok()?;
    match t.get(*i + 1).and_then(|w| wildcard_len(w)) {
        Some(len) => {
            *i += 2;
            network_of(&format!("{a}/{len}"))
        }
        None => {
            // Standard ACLs allow a bare address.
            *i += 1;
            Some(format!("{a}/32"))
        }
    }
}

/// `eq P` | `range A B` | `gt P` | `lt P` | `neq P` (neq kept as any).
fn acl_ports(t: &[&str], i: &mut usize) -> Option<Option<(u16, u16)>> {
    match t.get(*i).copied() {
        Some("eq") => {
            let p = port_number(t.get(*i + 1)?)?;
            *i += 2;
            Some(Some((p, p)))
        }
        Some("range") => {
            let (a, b) = (port_number(t.get(*i + 1)?)?, port_number(t.get(*i + 2)?)?);
            *i += 3;
            Some(Some((a.min(b), a.max(b))))
        }
        Some("gt") => {
            let p = port_number(t.get(*i + 1)?)?;
            *i += 2;
            Some(Some((p.saturating_add(1), u16::MAX)))
        }
        Some("lt") => {
            let p = port_number(t.get(*i + 1)?)?;
            *i += 2;
            Some(Some((0, p.saturating_sub(1))))
        }
        Some("neq") => {
            port_number(t.get(*i + 1)?)?;
            *i += 2;
            Some(None)
        }
        _ => Some(None),
    }
}

/// `permit tcp any host 10.0.0.5 eq 445` (standard: `permit 10.0.0.0 0.0.0.255`).
fn acl_entry(text: &str, line: usize, standard: bool) -> Option<AclEntry> {
    let t: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    // Numbered entries inside named lists start with a sequence number.
    if t.first().is_some_and(|s| s.chars().all(|c| c.is_ascii_digit())) {
        i += 1;
    }
    let action = *t.get(i)?;
    if action != "permit" && action != "deny" {
        return None;
    }
    i += 1;
    if standard {
        let source = acl_addr(&t, &mut i)?;
        return Some(AclEntry { action: action.into(), protocol: "ip".into(), source, destination: "any".into(), ports: None, text: text.to_string(), line });
    }
    let protocol = t.get(i)?.to_string();
    i += 1;
    let source = acl_addr(&t, &mut i)?;
    acl_ports(&t, &mut i)?;
    let destination = acl_addr(&t, &mut i)?;
    let ports = acl_ports(&t, &mut i)?;
    Some(AclEntry { action: action.into(), protocol, source, destination, ports, text: text.to_string(), line })
}

/// Top-level commands known and deliberately not modelled (no facts for
/// the analyses), or ignored outright (noise, secrets).
const IGNORED_TOP: &[&str] = &["!", "end", "version", "service", "boot-start-marker", "boot-end-marker", "building configuration", "current configuration", "last configuration change", "nvram config last updated", "ntp clock-period", "exit", "enable secret", "enable password", "username", "clock", "no service"];
const UNMODELLED_TOP: &[&str] = &[
    "aaa", "no aaa", "mmi", "no mmi", "no ip", "ip domain", "ip domain-name", "ip name-server", "ip cef", "no ipv6", "ipv6", "multilink", "redundancy", "no cdp", "cdp", "lldp", "ip tcp", "ip forward-protocol", "ip http", "ip ssh", "control-plane", "line", "no scheduler", "scheduler", "logging", "snmp-server", "ntp", "spanning-tree", "vtp", "errdisable", "archive", "crypto", "license", "diagnostic", "memory", "transceiver", "system", "port-channel", "call-home", "platform", "ip dhcp snooping", "ip dhcp excluded-address", "ip arp", "ip igmp", "ip multicast-routing", "ip sla", "track", "key chain", "class-map", "policy-map", "route-map", "ip prefix-list", "ip community-list", "ip as-path", "tacacs", "radius", "dot1x", "mac address-table", "vlan internal", "ip default-gateway", "ip scp", "login", "file", "no logging", "no ip domain lookup", "hw-module", "stack", "switch", "power", "alias", "event", "ip ftp", "ip tftp", "netconf", "restconf", "telemetry", "no platform", "no device-tracking", "device-tracking", "authentication", "service-policy", "monitor", "macro", "qos", "mls", "wrr-queue", "udld", "no errdisable", "no vstack", "vstack", "ip routing", "no ip routing", "ipv6 unicast-routing", "router-id", "boot", "ip tacacs", "ip radius", "snmp", "ip access-list log-update", "ip bootp", "ip source-route", "no ip source-route", "no ip bootp", "ip icmp", "no ip http", "ip finger", "no ip finger", "ip options", "vlan dot1q", "no vlan", "cts", "pnp", "wsma", "ip ssh", "ip subnet-zero", "ip classless", "ip dns", "ip host", "no ip gratuitous-arps", "transport", "no banner", "privilege", "enable", "ip admission", "ip auth-proxy", "parameter-map", "zone", "zone-pair", "object-group", "template", "l2tp-class", "pseudowire-class", "xconnect", "bfd", "bridge", "interface range",
];

fn starts_with_any(text: &str, list: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    // A whole word (or words) at the start: `ip http` matches `ip http server`, not `ip https`.
    list.iter().any(|p| lower.strip_prefix(p).is_some_and(|rest| rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')))
}

pub fn parse(lines: &[&str], vendor: Vendor) -> Device {
    let mut acc = Accounting::new(lines.len());
    let mut d = Device::default();
    for b in blocks(lines, &mut acc) {
        let t: Vec<&str> = b.text.split_whitespace().collect();
        let lower = b.text.to_ascii_lowercase();
        let first = t.first().copied().unwrap_or("");
        if b.text.is_empty() || b.text.starts_with('!') || b.text.starts_with('#') {
            acc.mark(b.line, LineClass::Ignored);
            continue;
        }
        match first {
            "hostname" => {
                if let Some(h) = t.get(1) {
                    d.hostname = h.trim_matches('"').to_string();
                    acc.mark(b.line, LineClass::Modelled);
                }
            }
            "interface" => {
                let name = t[1..].join(" ");
                if name.is_empty() {
                    acc.mark(b.line, LineClass::Unrecognised);
                } else {
                    let iface = interface(&name, &b, &mut acc, vendor);
                    acc.mark(b.line, LineClass::Modelled);
                    d.interfaces.push(iface);
                }
            }
            "vlan" if t.get(1).is_some_and(|s| s.chars().next().is_some_and(|c| c.is_ascii_digit())) => {
                match t.get(1).and_then(|l| expand_vlan_list(l)) {
                    Some(ids) => {
                        acc.mark(b.line, LineClass::Modelled);
                        let mut name = None;
                        for (line, c) in &b.children {
                            if let Some(n) = c.strip_prefix("name ") {
                                name = Some(n.trim().trim_matches('"').to_string());
                                acc.mark(*line, LineClass::Modelled);
                            } else {
                                acc.mark(*line, LineClass::Unmodelled);
                            }
                        }
                        for id in ids {
                            if !d.vlans.iter().any(|v| v.id == id) {
                                d.vlans.push(Vlan { id, name: name.clone(), line: b.line });
                            }
                        }
                    }
                    None => acc.mark(b.line, LineClass::Unrecognised),
                }
            }
            // AlliedWare Plus: `vlan database` / ` vlan 10 name Sales state enable`.
            "vlan" if t.get(1) == Some(&"database") => {
                acc.mark(b.line, LineClass::Modelled);
                for (line, c) in &b.children {
                    let ct: Vec<&str> = c.split_whitespace().collect();
                    match (ct.first(), ct.get(1).and_then(|l| expand_vlan_list(l))) {
                        (Some(&"vlan"), Some(ids)) => {
                            let name = ct.iter().position(|w| *w == "name").and_then(|p| ct.get(p + 1)).map(|n| n.trim_matches('"').to_string());
                            for id in ids {
                                d.vlans.push(Vlan { id, name: name.clone(), line: *line });
                            }
                            acc.mark(*line, LineClass::Modelled);
                        }
                        _ => acc.mark(*line, LineClass::Unrecognised),
                    }
                }
            }
            "ip" if t.get(1) == Some(&"route") => match static_route(&t[2..], b.line) {
                Some(r) => {
                    d.static_routes.push(r);
                    acc.mark(b.line, LineClass::Modelled);
                }
                None => acc.mark(b.line, LineClass::Unrecognised),
            },
            "ip" if t.get(1) == Some(&"access-list") && t.len() >= 4 => {
                let standard = t[2] == "standard";
                let name = t[3].to_string();
                acc.mark(b.line, LineClass::Modelled);
                let mut acl = Acl { name, entries: Vec::new() };
                for (line, c) in &b.children {
                    if c.starts_with("remark") {
                        acc.mark(*line, LineClass::Ignored);
                    } else if let Some(e) = acl_entry(c, *line, standard) {
                        acl.entries.push(e);
                        acc.mark(*line, LineClass::Modelled);
                    } else {
                        acc.mark(*line, LineClass::Unrecognised);
                    }
                }
                d.acls.push(acl);
            }
            "access-list" if t.len() >= 3 => {
                let name = t[1].to_string();
                let number: u32 = name.parse().unwrap_or(0);
                let standard = (1..=99).contains(&number) || (1300..=1999).contains(&number);
                if t[2] == "remark" {
                    acc.mark(b.line, LineClass::Ignored);
                } else {
                    match acl_entry(&t[2..].join(" "), b.line, standard) {
                        Some(e) => {
                            match d.acls.iter_mut().find(|a| a.name == name) {
                                Some(a) => a.entries.push(e),
                                None => d.acls.push(Acl { name, entries: vec![e] }),
                            }
                            acc.mark(b.line, LineClass::Modelled);
                        }
                        None => acc.mark(b.line, LineClass::Unrecognised),
                    }
                }
            }
            "router" if t.len() >= 2 => {
                let protocol = t[1].to_string();
                acc.mark(b.line, LineClass::Modelled);
                for (line, c) in &b.children {
                    let ct: Vec<&str> = c.split_whitespace().collect();
                    if ct.first() != Some(&"network") {
                        acc.mark(*line, LineClass::Unmodelled);
                        continue;
                    }
                    let net = match (protocol.as_str(), ct.get(1), ct.get(2), ct.get(3)) {
                        ("ospf", Some(a), Some(w), _) if ct.get(3) == Some(&"area") => wildcard_len(w).and_then(|l| network_of(&format!("{a}/{l}"))).map(|p| (p, ct.get(4).map(|s| s.to_string()))),
                        ("bgp", Some(a), Some(&"mask"), Some(m)) => mask_len(m).and_then(|l| network_of(&format!("{a}/{l}"))).map(|p| (p, None)),
                        ("bgp", Some(a), None, _) => network_of(&format!("{a}/{}", classful_len(a))).map(|p| (p, None)),
                        (_, Some(a), Some(w), _) if wildcard_len(w).is_some() => wildcard_len(w).and_then(|l| network_of(&format!("{a}/{l}"))).map(|p| (p, None)),
                        (_, Some(a), Some(w), _) if w.contains('/') => network_of(&format!("{a}/{}", w.trim_start_matches('/'))).map(|p| (p, None)),
                        (_, Some(a), None, _) => network_of(&format!("{a}/{}", classful_len(a))).map(|p| (p, None)),
                        _ => None,
                    };
                    match net {
                        Some((prefix, area)) => {
                            d.routing_networks.push(RoutingNetwork { protocol: protocol.clone(), prefix, area, line: *line });
                            acc.mark(*line, LineClass::Modelled);
                        }
                        None => acc.mark(*line, LineClass::Unrecognised),
                    }
                }
            }
            "ip" if t.get(1) == Some(&"dhcp") && t.get(2) == Some(&"pool") && t.len() >= 4 => {
                let mut scope = DhcpScope { name: t[3].to_string(), network: None, gateway: None, line: b.line };
                acc.mark(b.line, LineClass::Modelled);
                for (line, c) in &b.children {
                    let ct: Vec<&str> = c.split_whitespace().collect();
                    match ct.first().copied() {
                        Some("network") => {
                            scope.network = address(&ct[1..]).and_then(|a| network_of(&a));
                            acc.mark(*line, if scope.network.is_some() { LineClass::Modelled } else { LineClass::Unrecognised });
                        }
                        Some("default-router") => {
                            scope.gateway = ct.get(1).map(|s| s.to_string());
                            acc.mark(*line, LineClass::Modelled);
                        }
                        _ => acc.mark(*line, LineClass::Unmodelled),
                    }
                }
                d.dhcp_scopes.push(scope);
            }
            "ip" if t.get(1) == Some(&"nat") => {
                d.nat.push(NatRule { text: b.text.to_string(), line: b.line });
                acc.mark(b.line, LineClass::Modelled);
                for (line, _) in &b.children {
                    acc.mark(*line, LineClass::Unmodelled);
                }
            }
            "vrf" | "ip" if (first == "vrf" && t.get(1) == Some(&"definition")) || (first == "ip" && t.get(1) == Some(&"vrf")) => {
                if let Some(name) = t.get(2) {
                    d.vrfs.push(name.to_string());
                    acc.mark(b.line, LineClass::Modelled);
                }
                for (line, _) in &b.children {
                    acc.mark(*line, LineClass::Unmodelled);
                }
            }
            _ if starts_with_any(&lower, IGNORED_TOP) => {
                acc.mark(b.line, LineClass::Ignored);
                for (line, _) in &b.children {
                    acc.mark(*line, LineClass::Ignored);
                }
            }
            _ if starts_with_any(&lower, UNMODELLED_TOP) => {
                acc.mark(b.line, LineClass::Unmodelled);
                for (line, c) in &b.children {
                    // Passwords under `line vty` etc. are secrets, not facts.
                    let class = if c.starts_with("password") || c.contains(" password ") || c.starts_with("key ") { LineClass::Ignored } else { LineClass::Unmodelled };
                    acc.mark(*line, class);
                }
            }
            _ => {
                acc.mark(b.line, LineClass::Unrecognised);
                for (line, _) in &b.children {
                    acc.mark(*line, LineClass::Unrecognised);
                }
            }
        }
    }
    Accounting::finish(acc, lines, &mut d);
    d
}

fn classful_len(a: &str) -> u8 {
    match a.split('.').next().and_then(|o| o.parse::<u8>().ok()) {
        Some(0..=127) => 8,
        Some(128..=191) => 16,
        _ => 24,
    }
}

fn static_route(t: &[&str], line: usize) -> Option<StaticRoute> {
    let mut i = 0;
    let mut vrf = None;
    if t.first() == Some(&"vrf") {
        vrf = Some(t.get(1)?.to_string());
        i = 2;
    }
    // NEC IX: `ip route default GW`; IX and AW+: `ip route A/len GW`.
    let prefix = if t.get(i) == Some(&"default") {
        i += 1;
        "0.0.0.0/0".to_string()
    } else if t.get(i)?.contains('/') {
        i += 1;
        network_of(t.get(i - 1)?)?
    } else {
        let p = network_of(&address(&t[i..])?)?;
        i += 2;
        p
    };
    let mut r = StaticRoute { prefix, next_hop: None, interface: None, vrf, distance: None, line };
    while let Some(tok) = t.get(i) {
        if tok.parse::<std::net::Ipv4Addr>().is_ok() {
            if r.next_hop.is_none() {
                r.next_hop = Some(tok.to_string());
            }
        } else if let Ok(n) = tok.parse::<u8>() {
            r.distance = Some(n);
        } else if matches!(*tok, "name" | "tag" | "track") {
            i += 1;
        } else if *tok == "permanent" || *tok == "global" {
        } else if r.interface.is_none() && r.next_hop.is_none() {
            r.interface = Some(tok.to_string());
        } else {
            return None;
        }
        i += 1;
    }
    (r.next_hop.is_some() || r.interface.is_some()).then_some(r)
}

/// Sub-commands of an interface that are known and not modelled.
const IFACE_UNMODELLED: &[&str] = &[
    "duplex", "speed", "media-type", "negotiation", "vrrp", "standby", "spanning-tree", "storm-control", "ip helper-address", "ip nat", "cdp", "no cdp", "lldp", "load-interval", "keepalive", "mtu", "bandwidth", "ip ospf", "ipv6", "no ipv6", "ip mtu", "ip tcp", "ip redirects", "no ip redirects", "ip unreachables", "no ip unreachables", "ip proxy-arp", "no ip proxy-arp", "ip directed-broadcast", "no ip route-cache", "ip route-cache", "service-policy", "power", "authentication", "dot1x", "mab", "switchport port-security", "switchport nonegotiate", "switchport voice", "switchport trunk encapsulation", "ip dhcp snooping", "ip arp", "udld", "flowcontrol", "logging", "snmp", "carrier-delay", "delay", "hold-queue", "mls", "priority-queue", "trust", "qos", "tunnel", "crypto", "ip virtual-reassembly", "ip verify", "source", "macro", "device-tracking", "auto", "pppoe", "ppp", "dialer", "encapsulation ppp", "ip pim", "ip igmp", "channel-protocol", "lacp", "switchport protected", "switchport block", "no switchport", "no keepalive", "no negotiation", "no mop", "mop", "no snmp", "ip flow", "arp", "link", "vlan-range",
];

fn interface(name: &str, b: &Block, acc: &mut Accounting, vendor: Vendor) -> Interface {
    let mut iface = Interface::new(name, kind_of(name), b.line);
    if iface.kind == InterfaceKind::Svi {
        iface.svi_vlan = name.trim_start_matches(|c: char| !c.is_ascii_digit()).parse().ok();
    }
    let mut allowed_given = false;
    for (line, c) in &b.children {
        let ct: Vec<&str> = c.split_whitespace().collect();
        let class = match ct.as_slice() {
            ["description", ..] => {
                iface.description = Some(c["description".len()..].trim().trim_matches('"').to_string());
                LineClass::Modelled
            }
            ["shutdown"] => {
                iface.shutdown = true;
                LineClass::Modelled
            }
            ["no", "shutdown"] | ["no", "ip", "address"] => LineClass::Modelled,
            ["ip", "address", rest @ ..] | ["ipv4", "address", rest @ ..] => match address(rest) {
                Some(a) => {
                    if rest.contains(&"secondary") {
                        iface.addresses.push(a);
                    } else {
                        iface.addresses.insert(0, a);
                    }
                    if iface.mode.is_none() && iface.kind == InterfaceKind::Physical {
                        iface.mode = Some(SwitchportMode::Routed);
                    }
                    LineClass::Modelled
                }
                // `ip address dhcp`, `ip address negotiated`.
                None if rest.first().is_some_and(|w| matches!(*w, "dhcp" | "negotiated")) => LineClass::Unmodelled,
                None => LineClass::Unrecognised,
            },
            ["no", "switchport"] => {
                iface.mode = Some(SwitchportMode::Routed);
                LineClass::Modelled
            }
            ["switchport"] => LineClass::Modelled,
            ["switchport", "mode", m, ..] => match *m {
                "access" => {
                    iface.mode = Some(SwitchportMode::Access);
                    LineClass::Modelled
                }
                "trunk" => {
                    iface.mode = Some(SwitchportMode::Trunk);
                    LineClass::Modelled
                }
                _ => LineClass::Unmodelled,
            },
            ["switchport", "access", "vlan", v] => match v.parse::<u16>() {
                Ok(v) => {
                    iface.access_vlan = Some(v);
                    LineClass::Modelled
                }
                Err(_) => LineClass::Unrecognised,
            },
            ["switchport", "trunk", "native", "vlan", v] => match v.parse::<u16>() {
                Ok(v) => {
                    iface.native_vlan = Some(v);
                    LineClass::Modelled
                }
                Err(_) => LineClass::Unrecognised,
            },
            ["switchport", "trunk", "allowed", "vlan", rest @ ..] => {
                allowed_given = true;
                trunk_allowed(&mut iface, rest)
            }
            ["channel-group", n, ..] => {
                // AW+ and AX write `channel-group N mode active` too; name the LAG as each does.
                iface.lag = Some(match vendor {
                    Vendor::AlliedWarePlus => format!("po{n}"),
                    Vendor::AlaxalaAx => format!("port-channel {n}"),
                    _ => format!("Port-channel{n}"),
                });
                LineClass::Modelled
            }
            ["static-channel-group", n, ..] => {
                iface.lag = Some(format!("sa{n}"));
                LineClass::Modelled
            }
            ["vrf", "forwarding", v] | ["ip", "vrf", "forwarding", v] | ["vrf", "member", v] => {
                iface.vrf = Some(v.to_string());
                LineClass::Modelled
            }
            ["ip", "access-group", name, dir] => {
                iface.acls.push((name.to_string(), dir.to_string()));
                LineClass::Modelled
            }
            ["encapsulation", enc, v, ..] if enc.eq_ignore_ascii_case("dot1q") => match v.parse::<u16>() {
                Ok(v) => {
                    iface.svi_vlan = Some(v);
                    LineClass::Modelled
                }
                Err(_) => LineClass::Unrecognised,
            },
            _ if starts_with_any(c, IFACE_UNMODELLED) => LineClass::Unmodelled,
            _ => LineClass::Unrecognised,
        };
        acc.mark(*line, class);
    }
    // A trunk without an allowed list carries every VLAN.
    if iface.mode == Some(SwitchportMode::Trunk) && !allowed_given {
        iface.trunk_all = true;
    }
    iface
}

fn trunk_allowed(iface: &mut Interface, rest: &[&str]) -> LineClass {
    match rest {
        ["all"] => {
            iface.trunk_all = true;
            iface.trunk_vlans.clear();
        }
        ["none"] => {
            iface.trunk_all = false;
            iface.trunk_vlans.clear();
        }
        ["add", list] => match expand_vlan_list(list) {
            Some(ids) => {
                iface.trunk_all = false;
                iface.trunk_vlans.extend(ids);
                iface.trunk_vlans.sort_unstable();
                iface.trunk_vlans.dedup();
            }
            None => return LineClass::Unrecognised,
        },
        ["remove", list] => match expand_vlan_list(list) {
            Some(ids) => iface.trunk_vlans.retain(|v| !ids.contains(v)),
            None => return LineClass::Unrecognised,
        },
        ["except", _] => return LineClass::Unmodelled,
        [list] => match expand_vlan_list(list) {
            Some(ids) => {
                iface.trunk_all = false;
                iface.trunk_vlans = ids;
            }
            None => return LineClass::Unrecognised,
        },
        _ => return LineClass::Unrecognised,
    }
    LineClass::Modelled
}
