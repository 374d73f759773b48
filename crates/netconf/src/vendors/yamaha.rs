//! YAMAHA RTX routers (RTX830, RTX1210, RTX1220, RTX3500): `show config`
//! output.
//!
//! The syntax is flat: one command a line, with two selection contexts,
//! `pp select N` … `pp select none` and `tunnel select N` … `tunnel select
//! none`, in which `ip pp …` / `ip tunnel …` commands apply to the selected
//! peer. Interface names are written as the model's convention for YAMAHA:
//! `LAN1`, `LAN1/2` (802.1Q sub-interface), `pp 1`, `tunnel 1`.
//!
//! Every line is classed: what fits the model is `Modelled`; comments,
//! cosmetic settings and anything holding a secret are `Ignored` (so the
//! secret never reaches `line_notes`); known commands the model has no
//! place for are `Unmodelled`; the rest `Unrecognised`. A line is parsed
//! completely before anything from it enters the model, so a half-understood
//! line never leaves half a fact behind.

use std::net::Ipv4Addr;

use crate::model::{
    mask_len, Accounting, Acl, AclEntry, Device, DhcpScope, Interface, InterfaceKind, LineClass, NatRule, RoutingNetwork,
    StaticRoute, Vlan,
};

use LineClass::{Ignored, Modelled, Unmodelled, Unrecognised};

pub fn parse(lines: &[&str]) -> Device {
    let mut p = Parser { device: Device::default(), ctx: None, ospf: Vec::new() };
    let mut acct = Accounting::new(lines.len());
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        if let Some(class) = p.line(raw.trim(), n) {
            acct.mark(n, class);
        }
    }
    // `ip lanN ospf area A` needs the interface's address, which may be
    // set on a later line; resolved once everything is read.
    for (iface, area, n) in std::mem::take(&mut p.ospf) {
        let network = p.device.interfaces.iter().find(|i| i.name == iface).and_then(|i| i.addresses.first()).and_then(|a| network_of(a));
        match network {
            Some(prefix) => {
                p.device.routing_networks.push(RoutingNetwork { protocol: "ospf".into(), prefix, area: Some(area), line: n });
                acct.mark(n, Modelled);
            }
            // No address: the interface is in OSPF but there is no network
            // to name. A line with an OSPF key stays out of the notes.
            None if ospf_key(lines.get(n - 1).copied().unwrap_or_default()) => acct.mark(n, Ignored),
            None => acct.mark(n, Unmodelled),
        }
    }
    p.device.routing_networks.sort_by_key(|r| r.line);
    let mut device = p.device;
    acct.finish(lines, &mut device);
    device
}

struct Parser {
    device: Device,
    /// The interface selected by `pp select` / `tunnel select`.
    ctx: Option<String>,
    /// Deferred `ip IF ospf area A`: (interface, area, line).
    ospf: Vec<(String, String, usize)>,
}

/// First tokens of known commands that the model has no place for.
const UNMODELLED_HEADS: &[&str] = &[
    "ipsec", "l2tp", "ppp", "pppoe", "ospf", "bgp", "rip", "dns", "syslog", "schedule", "sntpd", "ntpdate", "snmp", "snmpv2c",
    "snmpv3", "telnetd", "sshd", "sftpd", "httpd", "tftp", "security", "user", "ipv6", "ngn", "bridge", "netvolante-dns", "upnp",
    "switch", "lan-map", "mail", "ethernet", "ip6", "radius", "ddns", "queue", "speed", "pptp", "sip", "nat46", "wlan", "url",
    "http", "cooperation", "heartbeat", "vrrp", "provider", "keepalive", "auth",
];

/// First tokens of settings with no bearing on the network (display,
/// statistics, clock).
const IGNORED_HEADS: &[&str] = &["console", "timezone", "statistics", "operation", "alarm", "external-memory", "show", "clear", "date", "time", "login", "administrator", "save", "description-ja"];

/// `ip IF <sub>` settings known but not modelled.
const IP_IF_UNMODELLED: &[&str] = &[
    "mtu", "proxyarp", "rip", "intrusion", "tcp", "remote", "icmp", "wol", "forward", "host", "igmp", "vrrp", "routing", "inbound",
    "traffic", "arp", "mru", "dhcp", "filter", "policy", "flow", "mss", "directed-broadcast", "rebound", "keepalive",
];

/// Global `ip <sub>` settings known but not modelled.
const IP_UNMODELLED: &[&str] = &["routing", "icmp", "keepalive", "host", "stealth", "fragment", "tos", "simple-service", "policy", "forward", "flow", "interface", "multicast", "tcp"];

impl Parser {
    /// The class of one trimmed line; `None` when decided after the last line.
    fn line(&mut self, line: &str, n: usize) -> Option<LineClass> {
        if line.is_empty() || line.starts_with('#') {
            return Some(Ignored);
        }
        if holds_secret(line) {
            return Some(Ignored);
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let class = match t.as_slice() {
            ["console", "prompt", ..] => {
                let prompt = unquote(rest_after(line, 2));
                if prompt.is_empty() {
                    Ignored
                } else {
                    self.device.hostname = prompt.to_string();
                    Modelled
                }
            }
            ["ip", "route", rest @ ..] => self.route(rest, n),
            ["ip", "filter", rest @ ..] => self.filter(rest, line, n),
            ["ip", sub, ..] if IP_UNMODELLED.contains(sub) => Unmodelled,
            ["ip", iface, rest @ ..] => self.ip_iface(iface, rest, line, n)?,
            ["description", iface, ..] => self.description(iface, unquote(rest_after(line, 2)), n),
            ["vlan", "port", ..] => Unmodelled,
            ["vlan", sub, "802.1q", vid, opts @ ..] => self.vlan(sub, vid, opts, n),
            ["lan", "shutdown", iface] => match lan_name(iface) {
                Some((name, kind)) => {
                    self.iface(&name, kind, n).shutdown = true;
                    Modelled
                }
                None => Unrecognised,
            },
            ["lan", "type" | "keepalive" | "link-aggregation" | "port-mirroring" | "count-limit" | "receive-buffer-size" | "backup" | "linkup" | "port" | "map", ..] => Unmodelled,
            ["pp", "select", id] => self.select("pp", id, n),
            ["pp", act @ ("enable" | "disable"), id] => self.enable("pp", act, id, n),
            // `pp name` is the older firmware's `description pp`.
            ["pp", "name", _, ..] => self.description("pp", unquote(rest_after(line, 2)), n),
            ["pp", "always-on" | "keepalive" | "auth" | "backup" | "bind", ..] => Unmodelled,
            ["tunnel", "select", id] => self.select("tunnel", id, n),
            ["tunnel", act @ ("enable" | "disable"), id] => self.enable("tunnel", act, id, n),
            ["tunnel", "name", _, ..] => match &self.ctx {
                Some(ctx) if ctx.starts_with("tunnel ") => {
                    let ctx = ctx.clone();
                    self.iface(&ctx, InterfaceKind::Tunnel, n).description = Some(unquote(rest_after(line, 2)).to_string());
                    Modelled
                }
                _ => Unrecognised,
            },
            ["tunnel", "encapsulation" | "endpoint" | "backup" | "template" | "ngn" | "type" | "bandwidth", ..] => Unmodelled,
            ["nat", "descriptor", sub, _, ..] => self.nat(sub, line, n),
            ["dhcp", "scope", id, range, opts @ ..] if id.parse::<u32>().is_ok() => self.dhcp_scope(id, range, opts, n),
            ["dhcp", "service" | "server" | "scope" | "relay" | "client" | "duplicate", ..] => Unmodelled,
            [head, ..] if UNMODELLED_HEADS.contains(head) => Unmodelled,
            [head, ..] if IGNORED_HEADS.contains(head) => Ignored,
            _ => Unrecognised,
        };
        Some(class)
    }

    /// The interface named `name`, created (with `line` as its header) on first mention.
    fn iface(&mut self, name: &str, kind: InterfaceKind, line: usize) -> &mut Interface {
        let ifs = &mut self.device.interfaces;
        let pos = match ifs.iter().position(|i| i.name == name) {
            Some(pos) => pos,
            None => {
                let mut i = Interface::new(name, kind, line);
                // A pp or tunnel runs only once `pp enable` / `tunnel enable` says so.
                i.shutdown = matches!(kind, InterfaceKind::Pp | InterfaceKind::Tunnel);
                ifs.push(i);
                ifs.len() - 1
            }
        };
        // In range: found by `position` or just pushed.
        &mut ifs[pos]
    }

    /// `pp select N` / `tunnel select N` / `… select none`.
    fn select(&mut self, what: &str, id: &str, n: usize) -> LineClass {
        if id == "none" {
            self.ctx = None;
            return Modelled;
        }
        let Some((name, kind)) = peer_name(what, id) else {
            self.ctx = None;
            return Unrecognised;
        };
        self.iface(&name, kind, n);
        self.ctx = Some(name);
        Modelled
    }

    fn enable(&mut self, what: &str, act: &str, id: &str, n: usize) -> LineClass {
        let shutdown = act == "disable";
        if id == "all" {
            let prefix = format!("{what} ");
            self.device.interfaces.iter_mut().filter(|i| i.name.starts_with(&prefix)).for_each(|i| i.shutdown = shutdown);
            return Modelled;
        }
        match peer_name(what, id) {
            Some((name, kind)) => {
                self.iface(&name, kind, n).shutdown = shutdown;
                Modelled
            }
            None => Unrecognised,
        }
    }

    /// The interface an `ip IF …` / `description IF …` names: `lanN`,
    /// `lanN/M`, `loopbackN`, `bridgeN`, or `pp`/`tunnel` (the selected one).
    fn resolve(&self, token: &str) -> Option<(String, InterfaceKind)> {
        match token {
            "pp" | "tunnel" => {
                let ctx = self.ctx.as_deref()?;
                let kind = if token == "pp" { InterfaceKind::Pp } else { InterfaceKind::Tunnel };
                ctx.starts_with(&format!("{token} ")).then(|| (ctx.to_string(), kind))
            }
            _ => lan_name(token),
        }
    }

    fn ip_iface(&mut self, token: &str, rest: &[&str], line: &str, n: usize) -> Option<LineClass> {
        let Some((name, kind)) = self.resolve(token) else {
            return Some(Unrecognised);
        };
        let class = match rest {
            ["address", "dhcp"] => {
                // The address comes from a DHCP server: not knowable from the config.
                self.iface(&name, kind, n);
                Unmodelled
            }
            ["address", addr] => match prefix(addr) {
                Some((ip, len)) => {
                    let text = format!("{ip}/{len}");
                    let i = self.iface(&name, kind, n);
                    // `ip IF address` replaces the primary; secondaries stay.
                    match i.addresses.first_mut() {
                        Some(first) => *first = text,
                        None => i.addresses.push(text),
                    }
                    Modelled
                }
                None => Unrecognised,
            },
            ["secondary", "address", addr] => match prefix(addr) {
                Some((ip, len)) => {
                    self.iface(&name, kind, n).addresses.push(format!("{ip}/{len}"));
                    Modelled
                }
                None => Unrecognised,
            },
            ["secure", "filter", dir @ ("in" | "out"), nums @ ..] => {
                // Static filters come first; those after `dynamic` are
                // stateful inspection rules (`ip filter dynamic`), not ACLs.
                let (stat, dynamic) = match nums.iter().position(|t| *t == "dynamic") {
                    Some(at) => nums.split_at(at),
                    None => (nums, &[][..]),
                };
                let valid = stat.iter().chain(dynamic.iter().skip(1)).all(|t| t.parse::<u32>().is_ok());
                if !valid || stat.is_empty() && dynamic.is_empty() {
                    Unrecognised
                } else {
                    let i = self.iface(&name, kind, n);
                    i.acls.extend(stat.iter().map(|t| (t.to_string(), dir.to_string())));
                    Modelled
                }
            }
            // Named filter sets (RTX3500): the set's direction is in its definition.
            ["secure", "filter", "name", _] => {
                self.iface(&name, kind, n);
                Unmodelled
            }
            ["nat", "descriptor", nums @ ..] if !nums.is_empty() && nums.iter().all(|t| t.parse::<u32>().is_ok()) => {
                self.iface(&name, kind, n);
                // Context lines (`ip pp …`) name their interface only through the selection.
                let text = if matches!(kind, InterfaceKind::Pp | InterfaceKind::Tunnel) { format!("{name}: {line}") } else { line.to_string() };
                self.device.nat.push(NatRule { text, line: n });
                Modelled
            }
            ["ospf", "area", area, ..] => {
                self.iface(&name, kind, n);
                self.ospf.push((name, area.to_string(), n));
                return None;
            }
            [sub, ..] if IP_IF_UNMODELLED.contains(sub) || *sub == "ospf" => Unmodelled,
            _ => Unrecognised,
        };
        Some(class)
    }

    fn description(&mut self, token: &str, text: &str, n: usize) -> LineClass {
        match self.resolve(token) {
            Some((name, kind)) if !text.is_empty() => {
                self.iface(&name, kind, n).description = Some(text.to_string());
                Modelled
            }
            _ => Unrecognised,
        }
    }

    /// `vlan lanN/M 802.1q vid=V [name=X]`.
    fn vlan(&mut self, sub: &str, vid: &str, opts: &[&str], n: usize) -> LineClass {
        let id = vid.strip_prefix("vid=").and_then(|v| v.parse::<u16>().ok()).filter(|v| (1..=4094).contains(v));
        let name = match opts {
            [] => None,
            [o] => match o.strip_prefix("name=") {
                Some(v) => Some(unquote(v).to_string()),
                None => return Unrecognised,
            },
            _ => return Unrecognised,
        };
        match (id, lan_name(sub)) {
            (Some(id), Some((ifname, InterfaceKind::Svi))) => {
                let i = self.iface(&ifname, InterfaceKind::Svi, n);
                i.svi_vlan = Some(id);
                if !self.device.vlans.iter().any(|v| v.id == id) {
                    self.device.vlans.push(Vlan { id, name, line: n });
                }
                Modelled
            }
            _ => Unrecognised,
        }
    }

    /// `ip route DEST gateway GW [modifiers] [gateway GW …]`: one static route per gateway.
    fn route(&mut self, t: &[&str], n: usize) -> LineClass {
        let Some((dest, rest)) = t.split_first() else {
            return Unrecognised;
        };
        let prefix = match *dest {
            "default" => "0.0.0.0/0".to_string(),
            d => match network_of(d).filter(|_| d.contains('/')).or_else(|| d.parse::<Ipv4Addr>().ok().map(|ip| format!("{ip}/32"))) {
                Some(p) => p,
                None => return Unrecognised,
            },
        };
        let mut routes = Vec::new();
        let mut i = 0;
        while let Some(tok) = rest.get(i) {
            if *tok != "gateway" {
                return Unrecognised;
            }
            i += 1;
            let (next_hop, interface) = match (rest.get(i).copied(), rest.get(i + 1).copied()) {
                (Some(w @ ("pp" | "tunnel")), Some(id)) => match peer_name(w, id) {
                    Some((name, _)) => {
                        i += 2;
                        (None, Some(name))
                    }
                    None => return Unrecognised,
                },
                (Some("dhcp"), Some(lan)) => match lan_name(lan) {
                    Some((name, _)) => {
                        i += 2;
                        (None, Some(name))
                    }
                    None => return Unrecognised,
                },
                (Some("null"), _) => {
                    i += 1;
                    (None, Some("null".to_string()))
                }
                (Some(g), _) => {
                    i += 1;
                    match (g.parse::<Ipv4Addr>(), lan_name(g)) {
                        (Ok(ip), _) => (Some(ip.to_string()), None),
                        (_, Some((name, _))) => (None, Some(name)),
                        _ => return Unrecognised,
                    }
                }
                (None, _) => return Unrecognised,
            };
            routes.push(StaticRoute { prefix: prefix.clone(), next_hop, interface, vrf: None, distance: None, line: n });
            // Modifiers of this gateway, up to the next `gateway`.
            while let Some(m) = rest.get(i) {
                match *m {
                    "gateway" => break,
                    "hide" => i += 1,
                    "filter" => {
                        i += 1;
                        while rest.get(i).is_some_and(|f| f.parse::<u32>().is_ok()) {
                            i += 1;
                        }
                    }
                    "keepalive" | "metric" | "weight" => {
                        if rest.get(i + 1).is_none_or(|v| v.parse::<u32>().is_err()) {
                            return Unrecognised;
                        }
                        i += 2;
                    }
                    _ => return Unrecognised,
                }
            }
        }
        if routes.is_empty() {
            return Unrecognised;
        }
        self.device.static_routes.extend(routes);
        Modelled
    }

    /// `ip filter N ACTION SRC [DST [PROTO [SRCPORT [DSTPORT]]]]`.
    fn filter(&mut self, t: &[&str], line: &str, n: usize) -> LineClass {
        let (num, rest) = match t.split_first() {
            Some((num, rest)) if num.parse::<u32>().is_ok() => (*num, rest),
            // `ip filter dynamic`, `source-route`, `directed-broadcast`, `set`, …
            Some((sub, _)) if matches!(*sub, "dynamic" | "source-route" | "directed-broadcast" | "set") => return Unmodelled,
            _ => return Unrecognised,
        };
        let [act, fields @ ..] = rest else {
            return Unrecognised;
        };
        // `restrict` passes while the line is already up (it only refuses to
        // dial for the packet): for always-on links that is a pass.
        let action = match act.trim_end_matches("-log").trim_end_matches("-nolog") {
            "pass" | "restrict" => "permit",
            "reject" => "deny",
            _ => return Unrecognised,
        };
        if fields.is_empty() || fields.len() > 5 {
            return Unrecognised;
        }
        // Omitted fields mean `*`.
        let field = |i: usize| fields.get(i).copied().unwrap_or("*");
        let (Some(source), Some(destination)) = (address_field(field(0)), address_field(field(1))) else {
            return Unrecognised;
        };
        let proto = field(2).to_ascii_lowercase();
        if !proto.split(',').all(known_protocol) {
            return Unrecognised;
        }
        let protocol = if proto == "*" { "ip".to_string() } else { proto };
        // For ICMP the port fields carry type and code, not ports.
        let icmp = protocol.starts_with("icmp");
        if !icmp && ports(field(3)).is_none() {
            return unknown_port(field(3));
        }
        let dst_ports = if icmp { Some(vec![None]) } else { ports(field(4)) };
        let Some(dst_ports) = dst_ports else {
            return unknown_port(field(4));
        };
        let entries: Vec<AclEntry> = dst_ports
            .into_iter()
            .map(|ports| AclEntry {
                action: action.into(),
                protocol: protocol.clone(),
                source: source.clone(),
                destination: destination.clone(),
                ports,
                text: line.to_string(),
                line: n,
            })
            .collect();
        // A filter number is defined once; a repeat replaces it, as on the device.
        self.device.acls.retain(|a| a.name != num);
        self.device.acls.push(Acl { name: num.to_string(), entries });
        Modelled
    }

    /// `nat descriptor …`: the translation rules as text.
    fn nat(&mut self, sub: &str, line: &str, n: usize) -> LineClass {
        match sub {
            "type" | "address" | "masquerade" | "static" => {
                self.device.nat.push(NatRule { text: line.to_string(), line: n });
                Modelled
            }
            "timer" | "log" | "sip" | "ftp" | "backward-compatibility" | "hairpinning" => Unmodelled,
            _ => Unrecognised,
        }
    }

    /// `dhcp scope N A-B/len [except X …] [gateway G] [expire T] [maxexpire T]`.
    fn dhcp_scope(&mut self, id: &str, range: &str, opts: &[&str], n: usize) -> LineClass {
        let Some((span, len)) = range.split_once('/') else {
            return Unrecognised;
        };
        let first = span.split_once('-').map_or(span, |(a, _)| a);
        let last_ok = span.split_once('-').is_none_or(|(_, b)| b.parse::<Ipv4Addr>().is_ok());
        let Some(network) = network_of(&format!("{first}/{len}")).filter(|_| last_ok) else {
            return Unrecognised;
        };
        let mut gateway = None;
        let mut i = 0;
        while let Some(o) = opts.get(i) {
            match (*o, opts.get(i + 1)) {
                ("gateway", Some(g)) if g.parse::<Ipv4Addr>().is_ok() => gateway = Some(g.to_string()),
                ("expire" | "maxexpire", Some(_)) => {}
                // Excluded addresses and ranges, up to the next keyword.
                ("except", Some(_)) => {
                    let start = i + 1;
                    i = start;
                    while opts.get(i).is_some_and(|x| x.split('-').all(|a| a.parse::<Ipv4Addr>().is_ok())) {
                        i += 1;
                    }
                    if i == start {
                        return Unrecognised;
                    }
                    continue;
                }
                _ => return Unrecognised,
            }
            i += 2;
        }
        self.device.dhcp_scopes.push(DhcpScope { name: id.to_string(), network: Some(network), gateway, line: n });
        Modelled
    }
}

/// Lines whose value is a password, key or community: never kept, not
/// even in `line_notes`.
fn holds_secret(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["password", "pre-shared-key", "community", "secret", "auth myname", "auth username", "login user", "xauth", "auth on", "server user", "smtp-auth"]
        .iter()
        .any(|k| l.contains(k))
}

/// `ip IF ospf area A authkey=K` / `md5key=K`: kept out of the notes, but
/// the area itself is still modelled.
fn ospf_key(line: &str) -> bool {
    line.contains("authkey=") || line.contains("md5key=")
}

/// Text after the first `n` whitespace-separated words.
fn rest_after(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r).trim_start();
    }
    rest.trim_end()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

/// `lanN` → `LAN1` (Physical), `lanN/M` → `LAN1/2` (802.1Q sub-interface),
/// `loopbackN`, `bridgeN`.
fn lan_name(token: &str) -> Option<(String, InterfaceKind)> {
    let numeric = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = token.strip_prefix("lan") {
        return match rest.split_once('/') {
            Some((a, b)) if numeric(a) && numeric(b) => Some((format!("LAN{a}/{b}"), InterfaceKind::Svi)),
            None if numeric(rest) => Some((format!("LAN{rest}"), InterfaceKind::Physical)),
            _ => None,
        };
    }
    for (word, kind) in [("loopback", InterfaceKind::Loopback), ("bridge", InterfaceKind::Other)] {
        if let Some(rest) = token.strip_prefix(word) {
            return numeric(rest).then(|| (format!("{}{rest}", word.to_ascii_uppercase()), kind));
        }
    }
    None
}

/// `pp 1`, `pp anonymous`, `tunnel 3`.
fn peer_name(what: &str, id: &str) -> Option<(String, InterfaceKind)> {
    let ok = id.parse::<u16>().is_ok() || what == "pp" && id == "anonymous";
    let kind = if what == "pp" { InterfaceKind::Pp } else { InterfaceKind::Tunnel };
    ok.then(|| (format!("{what} {id}"), kind))
}

/// `A.B.C.D/len` or `A.B.C.D/255.255.255.0`.
fn prefix(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len = match len.parse::<u8>() {
        Ok(l) if l <= 32 => l,
        Ok(_) => return None,
        Err(_) => mask_len(len)?,
    };
    Some((ip, len))
}

/// `192.168.10.1/24` → `192.168.10.0/24`.
fn network_of(text: &str) -> Option<String> {
    let (ip, len) = prefix(text)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Some(format!("{}/{len}", Ipv4Addr::from(u32::from(ip) & mask)))
}

/// A filter's address field: `*` → `any`; `A` → `A/32`; `A/len`; `A.B.C.*`
/// → `A.B.C.0/24`; ranges `A-B` and lists `A,B` as written.
fn address_field(text: &str) -> Option<String> {
    if text == "*" {
        return Some("any".into());
    }
    if text.contains(',') || text.contains('-') {
        let ok = text.split([',', '-']).all(|p| p.is_empty() || p.parse::<Ipv4Addr>().is_ok() || prefix(p).is_some() || wildcard(p).is_some());
        return ok.then(|| text.to_string());
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Some(format!("{ip}/32"));
    }
    if text.contains('/') {
        return prefix(text).map(|(ip, len)| format!("{ip}/{len}"));
    }
    wildcard(text)
}

/// `192.168.1.*` → `192.168.1.0/24`.
fn wildcard(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let fixed = parts.iter().take_while(|p| **p != "*").count();
    if parts.iter().skip(fixed).any(|p| *p != "*") || fixed == 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(parts.iter().take(fixed)) {
        *o = p.parse().ok()?;
    }
    Some(format!("{}/{}", Ipv4Addr::from(octets), fixed * 8))
}

fn known_protocol(p: &str) -> bool {
    matches!(
        p,
        "*" | "tcp" | "udp" | "icmp" | "icmp-error" | "icmp-info" | "tcpfin" | "tcprst" | "tcpsyn" | "established" | "tcpflag" | "gre"
            | "esp" | "ah" | "ipv6" | "ospf" | "ip"
    ) || p.parse::<u8>().is_ok()
}

/// A port field: `*` → one `None`; `80`, `www`, `1024-65535`, `1024-`,
/// `netbios_ns-netbios_ssn`, lists `135,445` → one range each. `None` if
/// a part is not a port this parser knows.
fn ports(text: &str) -> Option<Vec<Option<(u16, u16)>>> {
    if text == "*" {
        return Some(vec![None]);
    }
    text.split(',')
        .map(|part| {
            let range = match part.split_once('-') {
                Some((a, b)) => {
                    let a = if a.is_empty() { 0 } else { port(a)? };
                    let b = if b.is_empty() { u16::MAX } else { port(b)? };
                    (a <= b).then_some((a, b))?
                }
                None => {
                    let p = port(part)?;
                    (p, p)
                }
            };
            Some(Some(range))
        })
        .collect()
}

/// A filter line whose port is neither a number nor a known name: the
/// command is known, the port is not, so no entry is guessed.
fn unknown_port(text: &str) -> LineClass {
    let plausible = text.split([',', '-']).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if plausible {
        Unmodelled
    } else {
        Unrecognised
    }
}

/// A port number or one of the names YAMAHA's filter syntax accepts.
fn port(name: &str) -> Option<u16> {
    if let Ok(p) = name.parse::<u16>() {
        return Some(p);
    }
    Some(match name {
        "ftpdata" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "gopher" => 70,
        "finger" => 79,
        "www" | "http" => 80,
        "pop3" => 110,
        "sunrpc" => 111,
        "ident" => 113,
        "nntp" => 119,
        "ntp" => 123,
        "epmap" | "loc-srv" => 135,
        "netbios_ns" => 137,
        "netbios_dgm" => 138,
        "netbios_ssn" => 139,
        "imap" => 143,
        "snmp" => 161,
        "snmptrap" => 162,
        "bgp" => 179,
        "irc" => 194,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "ike" | "isakmp" => 500,
        "exec" => 512,
        "login" => 513,
        "shell" | "syslog" => 514,
        "printer" => 515,
        "route" | "rip" => 520,
        "submission" => 587,
        "imaps" => 993,
        "pop3s" => 995,
        "socks" => 1080,
        "ms-sql-s" => 1433,
        "l2tp" => 1701,
        "pptp" => 1723,
        "radius" => 1812,
        "radacct" => 1813,
        "nfs" => 2049,
        "rdp" => 3389,
        "nat-t" | "ipsec-nat-t" => 4500,
        "sip" => 5060,
        _ => return None,
    })
}
