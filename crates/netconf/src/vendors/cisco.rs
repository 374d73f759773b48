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

/// NEC IX's address: `any`, `A.B.C.D/len` or a bare host `A.B.C.D`.
fn ix_addr(tok: &str) -> Option<String> {
    if tok == "any" {
        return Some("any".into());
    }
    if tok.contains('/') {
        return network_of(tok);
    }
    let a: std::net::Ipv4Addr = tok.parse().ok()?;
    Some(format!("{a}/32"))
}

/// NEC IX entry after the list's name: `permit|deny PROTO src A [sport
/// any|OP P] dest B [dport any|OP P]`. Keywords, unlike IOS's positions.
fn ix_acl_entry(t: &[&str], text: &str, line: usize) -> Option<AclEntry> {
    let action = *t.first()?;
    if action != "permit" && action != "deny" {
        return None;
    }
    let protocol = t.get(1)?.to_string();
    let (mut source, mut destination, mut ports) = (None, None, None);
    let mut i = 2;
    while let Some(&kw) = t.get(i) {
        match kw {
            "src" => {
                source = Some(ix_addr(t.get(i + 1)?)?);
                i += 2;
            }
            "dest" => {
                destination = Some(ix_addr(t.get(i + 1)?)?);
                i += 2;
            }
            "sport" | "dport" => {
                i += 1;
                let p = if t.get(i) == Some(&"any") {
                    i += 1;
                    None
                } else {
                    // Same operators as IOS (`eq 80`, `range 1024 65535`).
                    let before = i;
                    let p = acl_ports(t, &mut i)?;
                    if i == before {
                        return None;
                    }
                    p
                };
                if kw == "dport" {
                    ports = p;
                }
            }
            _ => return None,
        }
    }
    Some(AclEntry { action: action.into(), protocol, source: source?, destination: destination?, ports, text: text.to_string(), line })
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

/// Top-level commands only a dialect writes, known and not modelled. Kept
/// apart from the IOS lists so IOS's accounting does not change.
fn dialect_top(vendor: Vendor, lower: &str) -> Option<LineClass> {
    let (ignored, unmodelled): (&[&str], &[&str]) = match vendor {
        Vendor::AlliedWarePlus => (&[], &["log", "ssh", "ip domain-lookup", "no ip domain-lookup", "lacp", "atmf", "ecofriendly", "loop-protection", "no spanning-tree", "ip dhcp-relay", "no lldp"]),
        Vendor::AlaxalaAx => (&[], &["axrp", "loop-detection", "efmoam", "lacp", "no spanning-tree", "gsrp", "flow"]),
        Vendor::NecIx => (
            &["timezone"],
            &["ip ufs-cache", "ike", "ipsec", "ppp", "proxy-dns", "telnet-server", "http-server", "ssh-server", "device", "watch-group", "network-monitor", "syslog", "snmp-agent", "ip dhcp enable", "ip dhcp profile", "ip napt", "nat", "ip host", "web-console", "dns", "ip fragment-cache"],
        ),
        _ => return None,
    };
    if starts_with_any(lower, ignored) {
        return Some(LineClass::Ignored);
    }
    if starts_with_any(lower, unmodelled) {
        // IX writes pre-shared keys on the line itself (`ike policy P peer A key K`): a secret, kept out of the notes.
        let secret = lower.split_whitespace().any(|w| matches!(w, "key" | "password" | "secret"));
        return Some(if secret { LineClass::Ignored } else { LineClass::Unmodelled });
    }
    None
}

/// Interface sub-commands only a dialect writes, known and not modelled.
fn dialect_iface_unmodelled(vendor: Vendor, text: &str) -> bool {
    let list: &[&str] = match vendor {
        Vendor::AlliedWarePlus => &["ip dhcp-relay", "thrash-limiting", "loop-protection", "lacp", "polarity", "ecofriendly", "switchport enable"],
        Vendor::AlaxalaAx => &["loop-detection", "lacp", "efmoam", "axrp", "switchport mac", "switchport isolation", "mac access-group"],
        Vendor::NecIx => &["ip unnumbered", "ipsec", "ip napt", "ip dhcp", "ppp", "pppoe-client", "ike", "bridge-group", "auto-connect", "ip ufs-cache"],
        _ => return false,
    };
    starts_with_any(text, list)
}

/// AW+ names several ports in one header (`port1.0.1-1.0.24,port1.0.26`):
/// one name per port. `None` if a range is malformed; other names, and
/// every name of the other vendors, are returned as written.
fn expand_ports(name: &str, vendor: Vendor) -> Option<Vec<String>> {
    // A mutated header must not make millions of interfaces.
    const MAX_PORTS: usize = 4096;
    if vendor != Vendor::AlliedWarePlus || name.contains(' ') {
        return Some(vec![name.to_string()]);
    }
    let mut out = Vec::new();
    for part in name.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Only `NAME<digits>-<digits or NAME>` is a range; other names with a dash are kept as written.
        let range = part.split_once('-').and_then(|(from, to)| from.find(|c: char| c.is_ascii_digit()).map(|p| (from, to, p)));
        let is_range = |(from, to, p): &(&str, &str, usize)| to.starts_with(|c: char| c.is_ascii_digit()) || *p > 0 && from.get(..*p).is_some_and(|prefix| to.starts_with(prefix));
        let Some((from, to, prefix_len)) = range.filter(is_range) else {
            out.push(part.to_string());
            continue;
        };
        // `port1.0.1-1.0.24`: same stack member and slot, a run of the last number.
        let (prefix, from_num) = from.split_at_checked(prefix_len)?;
        let to_num = to.strip_prefix(prefix).unwrap_or(to);
        let (from_head, a) = from_num.rsplit_once('.').unwrap_or(("", from_num));
        let (to_head, b) = to_num.rsplit_once('.').unwrap_or(("", to_num));
        let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
        if from_head != to_head || a > b || (b - a) as usize >= MAX_PORTS {
            return None;
        }
        let head = if from_head.is_empty() { String::new() } else { format!("{from_head}.") };
        out.extend((a..=b).map(|n| format!("{prefix}{head}{n}")));
        if out.len() > MAX_PORTS {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

pub fn parse(lines: &[&str], vendor: Vendor) -> Device {
    let mut acc = Accounting::new(lines.len());
    let mut d = Device::default();
    for b in blocks(lines, &mut acc) {
        let t: Vec<&str> = b.text.split_whitespace().collect();
        let lower = b.text.to_ascii_lowercase();
        let first = t.first().copied().unwrap_or("");
        let dialect_class = dialect_top(vendor, &lower);
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
                    let names = expand_ports(&name, vendor);
                    let first = names.as_ref().and_then(|n| n.first()).map_or(name.as_str(), String::as_str);
                    // Parsed once: the block's settings are every named port's.
                    let iface = interface(first, &b, &mut acc, vendor);
                    match names {
                        Some(names) => {
                            acc.mark(b.line, LineClass::Modelled);
                            for n in names {
                                d.interfaces.push(Interface { name: n, ..iface.clone() });
                            }
                        }
                        None => acc.mark(b.line, LineClass::Unrecognised),
                    }
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
                            // `vlan 10,20 state enable` then `vlan 10 name X`: one VLAN, named by the later line.
                            for id in ids {
                                match d.vlans.iter_mut().find(|v| v.id == id) {
                                    Some(v) => {
                                        if name.is_some() {
                                            v.name = name.clone();
                                        }
                                    }
                                    None => d.vlans.push(Vlan { id, name: name.clone(), line: *line }),
                                }
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
            // NEC IX: one entry per line, `ip access-list NAME permit PROTO src A sport P dest B dport Q`.
            "ip" if vendor == Vendor::NecIx && t.get(1) == Some(&"access-list") && t.len() >= 4 => match ix_acl_entry(&t[3..], b.text, b.line) {
                Some(e) => {
                    let name = t[2].to_string();
                    match d.acls.iter_mut().find(|a| a.name == name) {
                        Some(a) => a.entries.push(e),
                        None => d.acls.push(Acl { name, entries: vec![e] }),
                    }
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
            _ if dialect_class.is_some() => {
                let class = dialect_class.unwrap_or(LineClass::Unmodelled);
                acc.mark(b.line, class);
                for (line, c) in &b.children {
                    // `authentication password USER PASS` under IX's `ppp profile`.
                    let secret = c.split_whitespace().any(|w| matches!(w, "password" | "key" | "secret"));
                    acc.mark(*line, if secret { LineClass::Ignored } else { class });
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
            // AW+ trunks may carry no untagged VLAN at all.
            ["switchport", "trunk", "native", "vlan", "none"] if vendor == Vendor::AlliedWarePlus => {
                iface.native_vlan = None;
                LineClass::Modelled
            }
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
            // NEC IX applies an access list as `ip filter NAME SEQ in|out`; several sequence numbers may name the same list.
            ["ip", "filter", name, seq, dir @ ("in" | "out")] if vendor == Vendor::NecIx && seq.parse::<u32>().is_ok() => {
                let applied = (name.to_string(), dir.to_string());
                if !iface.acls.contains(&applied) {
                    iface.acls.push(applied);
                }
                LineClass::Modelled
            }
            _ if starts_with_any(c, IFACE_UNMODELLED) || dialect_iface_unmodelled(vendor, c) => LineClass::Unmodelled,
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
