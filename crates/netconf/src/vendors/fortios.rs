//! FortiGate FortiOS 6.x/7.x configurations (`show full-configuration`,
//! backup files): `config <path>` … `end` tables holding `edit <name>` …
//! `next` entries and `set <key> <values…>` lines.
//!
//! Two stages. [`build_tree`] knows only the syntax: it builds the block
//! tree, marks comments and blank lines, and reports whatever breaks the
//! structure (a stray `end`, `edit` outside a table, unknown verbs) as
//! unrecognised. The semantic pass then reads the known sections; a final
//! sweep classes every line it did not claim, so each line is accounted
//! exactly once (`Accounting::mark`: the first mark wins, which is why
//! secrets are marked before anything else).
//!
//! Secrets (`ENC …` values, passwords, pre-shared keys, private keys,
//! certificate blocks) are marked ignored and never copied into the model.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::model::{mask_len, Accounting, Acl, AclEntry, Device, DhcpScope, Interface, InterfaceKind, LineClass, NatRule, RoutingNetwork, StaticRoute};

/// Deeper nesting than any real configuration has; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;
/// A quoted value spanning lines (certificates, replacement messages) may run this long.
const MAX_CONTINUATION: usize = 5000;
/// A policy's entries are the product of its sources, destinations and
/// services; bounded so a hostile file cannot make the model explode.
const MAX_ENTRIES_PER_POLICY: usize = 4096;
/// Resolving and expanding policies, all told (addresses, services and
/// entries counted alike): bounds the work a hostile file can cause.
const MAX_POLICY_WORK: usize = 1 << 20;
/// Groups may nest (and, in a broken file, loop).
const MAX_GROUP_DEPTH: usize = 16;

/// The first words of every top-level `config` path FortiOS 6.x/7.x writes.
/// A table outside these is not FortiOS as we know it: unrecognised.
const KNOWN_NAMESPACES: &[&str] = &[
    "system", "firewall", "router", "vpn", "user", "log", "report", "wireless-controller", "switch-controller", "webfilter", "antivirus", "ips",
    "application", "dlp", "dnsfilter", "emailfilter", "spamfilter", "waf", "icap", "endpoint-control", "wanopt", "web-proxy", "certificate",
    "alertemail", "extender-controller", "extension-controller", "voip", "ssh-filter", "file-filter", "videofilter", "authentication",
    "credential-store", "gui", "ftp-proxy", "cifs", "sctp-filter", "virtual-patch", "casb", "ztna", "dpdk", "automation", "nsxt", "monitoring",
    "hardware",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Set,
    /// `unset`, `append`, `select`, `unselect`: known syntax, never modelled.
    Other,
}

#[derive(Debug)]
struct SetLine {
    verb: Verb,
    key: String,
    values: Vec<String>,
    line: usize,
    /// Last line of a value quoted across lines (== `line` otherwise).
    last: usize,
}

/// A `config` table or an `edit` entry; the root is a table with no words.
#[derive(Debug)]
struct Block {
    words: Vec<String>,
    edit: bool,
    line: usize,
    /// The `end`/`next` line; `None` when the file left the block open.
    close: Option<usize>,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Set(SetLine),
    Block(Block),
}

impl Block {
    fn new(words: Vec<String>, edit: bool, line: usize) -> Block {
        Block { words, edit, line, close: None, items: Vec::new() }
    }

    fn path(&self) -> String {
        self.words.join(" ").to_ascii_lowercase()
    }

    fn name(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    fn sets(&self) -> impl Iterator<Item = &SetLine> {
        self.items.iter().filter_map(|i| match i {
            Item::Set(s) => Some(s),
            Item::Block(_) => None,
        })
    }

    fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.items.iter().filter_map(|i| match i {
            Item::Block(b) => Some(b),
            Item::Set(_) => None,
        })
    }

    fn edits(&self) -> impl Iterator<Item = &Block> {
        self.blocks().filter(|b| b.edit)
    }

    /// The effective `set` of a key: the last one wins, as on the device.
    /// Secrets are never returned, so they cannot reach the model.
    fn get(&self, key: &str) -> Option<&SetLine> {
        self.sets().filter(|s| s.verb == Verb::Set && s.key.eq_ignore_ascii_case(key) && !is_secret(s)).last()
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|s| s.values.first()).map(String::as_str)
    }

    fn values(&self, key: &str) -> &[String] {
        self.get(key).map(|s| s.values.as_slice()).unwrap_or(&[])
    }

    /// A nested table (`config secondaryip`, `config network`).
    fn sub(&self, path: &str) -> Option<&Block> {
        self.blocks().filter(|b| !b.edit && b.path() == path).last()
    }
}

pub fn parse(lines: &[&str]) -> Device {
    let mut device = Device::default();
    let mut acc = Accounting::new(lines.len());
    let root = build_tree(lines, &mut acc);
    mark_secrets(&root, &mut acc);
    let sections = flatten(&root, &mut acc);

    let objects = Objects::collect(&sections, &mut acc);
    for s in &sections {
        match s.path().as_str() {
            "system global" => global(s, &mut device, &mut acc),
            "system interface" => interfaces(s, &mut device, &mut acc),
            "router static" => static_routes(s, &objects, &mut device, &mut acc),
            "router ospf" => routing_networks(s, "ospf", &mut device, &mut acc),
            "router bgp" => routing_networks(s, "bgp", &mut device, &mut acc),
            "router rip" => routing_networks(s, "rip", &mut device, &mut acc),
            "system dhcp server" => dhcp(s, &mut device, &mut acc),
            "firewall vip" => vips(s, &mut device, &mut acc),
            "firewall ippool" => ippools(s, &mut device, &mut acc),
            _ => {}
        }
    }
    // After the interfaces: policies attach themselves to them.
    let mut work = MAX_POLICY_WORK;
    for s in sections.iter().filter(|s| s.path() == "firewall policy") {
        policies(s, &objects, &mut work, &mut device, &mut acc);
    }
    device.vrfs = {
        let mut v: Vec<String> = device.interfaces.iter().filter_map(|i| i.vrf.clone()).chain(device.static_routes.iter().filter_map(|r| r.vrf.clone())).collect();
        v.sort();
        v.dedup();
        v
    };

    for s in &sections {
        let known = s.words.first().is_some_and(|w| KNOWN_NAMESPACES.contains(&w.to_ascii_lowercase().as_str()));
        mark_all(s, &mut acc, if known { LineClass::Unmodelled } else { LineClass::Unrecognised });
    }
    // Whatever is left (sets directly inside `config global`, say) broke the structure.
    mark_all(&root, &mut acc, LineClass::Unrecognised);
    acc.finish(lines, &mut device);
    device
}

// ---------------------------------------------------------------- front end

/// Words of a line: whitespace-separated, `"…"` quoting, `\` escaping the
/// next character. Also says whether a quote is left open at the end.
fn tokenize(s: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut have) = (false, false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
                have = true;
            }
            '"' => {
                quoted = !quoted;
                // `""` is an empty value, still a word.
                have = true;
            }
            c if c.is_whitespace() && !quoted => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    (out, quoted)
}

/// Whether a quote is open after `s`, given whether one was open before it.
fn quote_open_after(s: &str, mut open: bool) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => open = !open,
            _ => {}
        }
    }
    open
}

/// Builds the block tree. Never fails: what does not fit the structure is
/// marked unrecognised and left out; blocks the file leaves open are closed
/// at the end of input (or by the next `edit`/`end` that implies it).
fn build_tree(lines: &[&str], acc: &mut Accounting) -> Block {
    let mut stack: Vec<Block> = vec![Block::new(Vec::new(), false, 0)];
    // Tables opened past MAX_DEPTH, still open: skipped whole, `end` for `end`.
    let mut overflow = 0usize;
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let text = lines.get(i).copied().unwrap_or("").trim();
        i += 1;
        // `#config-version=…`, `#conf_file_ver=…`, `#buildno=…` and comments.
        if text.is_empty() || text.starts_with('#') {
            acc.mark(n, LineClass::Ignored);
            continue;
        }
        let (mut words, open) = tokenize(text);
        let verb = words.first().map(|w| w.to_ascii_lowercase()).unwrap_or_default();
        if overflow > 0 || (verb == "config" && stack.len() > MAX_DEPTH) {
            match verb.as_str() {
                "config" => overflow += 1,
                "end" => overflow -= 1,
                _ => {}
            }
            acc.mark(n, LineClass::Unrecognised);
            continue;
        }
        let in_table = stack.len() > 1;
        let top_is_edit = stack.last().is_some_and(|b| b.edit);
        match verb.as_str() {
            "config" if words.len() > 1 => {
                words.remove(0);
                stack.push(Block::new(words, false, n));
            }
            "edit" if words.len() > 1 && in_table => {
                // An `edit` without the previous entry's `next`: close it.
                if top_is_edit {
                    close_top(&mut stack, None);
                }
                words.remove(0);
                stack.push(Block::new(words, true, n));
            }
            "next" if top_is_edit => close_top(&mut stack, Some(n)),
            "end" if in_table => {
                // `end` with the last entry's `next` missing closes both.
                if top_is_edit {
                    close_top(&mut stack, None);
                }
                if stack.len() > 1 {
                    close_top(&mut stack, Some(n));
                } else {
                    acc.mark(n, LineClass::Unrecognised);
                }
            }
            "set" | "unset" | "append" | "select" | "unselect" if in_table && words.len() > 1 => {
                let mut last = n;
                if open {
                    // A value quoted across lines: find the line that closes it.
                    let end = lines.len().min(i + MAX_CONTINUATION);
                    let mut state = true;
                    let close = (i..end).find(|&j| {
                        state = quote_open_after(lines.get(j).copied().unwrap_or(""), state);
                        !state
                    });
                    // Never closed: take the line alone rather than swallow the file.
                    if let Some(j) = close {
                        let joined = lines.get(i - 1..=j).map(|ls| ls.join("\n")).unwrap_or_default();
                        words = tokenize(joined.trim()).0;
                        last = j + 1;
                        i = j + 1;
                    }
                }
                let mut it = words.into_iter().skip(1);
                let key = it.next().unwrap_or_default();
                let values = it.collect();
                let verb = if verb == "set" { Verb::Set } else { Verb::Other };
                if let Some(top) = stack.last_mut() {
                    top.items.push(Item::Set(SetLine { verb, key, values, line: n, last }));
                }
            }
            _ => acc.mark(n, LineClass::Unrecognised),
        }
    }
    while stack.len() > 1 {
        close_top(&mut stack, None);
    }
    stack.pop().unwrap_or_else(|| Block::new(Vec::new(), false, 0))
}

/// Pops the innermost block into its parent (never the root).
fn close_top(stack: &mut Vec<Block>, close: Option<usize>) {
    if stack.len() < 2 {
        return;
    }
    if let Some(mut b) = stack.pop() {
        b.close = close;
        if let Some(parent) = stack.last_mut() {
            parent.items.push(Item::Block(b));
        }
    }
}

/// The sections to read: top-level tables, with multi-VDOM files' `config
/// global` and `config vdom` / `edit <vdom>` wrappers looked through (their
/// sections are merged into one device).
fn flatten<'a>(root: &'a Block, acc: &mut Accounting) -> Vec<&'a Block> {
    let mut out = Vec::new();
    for b in root.blocks() {
        match b.path().as_str() {
            "global" => {
                mark_frame(b, acc, LineClass::Ignored);
                out.extend(b.blocks().filter(|c| !c.edit));
            }
            "vdom" => {
                mark_frame(b, acc, LineClass::Ignored);
                for e in b.edits() {
                    mark_frame(e, acc, LineClass::Ignored);
                    out.extend(e.blocks().filter(|c| !c.edit));
                }
            }
            _ => out.push(b),
        }
    }
    out
}

// ---------------------------------------------------------------- accounting

fn mark_set(s: &SetLine, acc: &mut Accounting, class: LineClass) {
    for l in s.line..=s.last {
        acc.mark(l, class);
    }
}

fn mark_opt(s: Option<&SetLine>, acc: &mut Accounting, class: LineClass) {
    if let Some(s) = s {
        mark_set(s, acc, class);
    }
}

/// The block's own `config`/`edit` and `end`/`next` lines.
fn mark_frame(b: &Block, acc: &mut Accounting, class: LineClass) {
    acc.mark(b.line, class);
    if let Some(c) = b.close {
        acc.mark(c, class);
    }
}

fn mark_all(b: &Block, acc: &mut Accounting, class: LineClass) {
    mark_frame(b, acc, class);
    for item in &b.items {
        match item {
            Item::Set(s) => mark_set(s, acc, class),
            Item::Block(c) => mark_all(c, acc, class),
        }
    }
}

fn is_secret(s: &SetLine) -> bool {
    let k = s.key.to_ascii_lowercase();
    const WORDS: &[&str] = &["password", "passwd", "psksecret", "secret", "passphrase", "pwd", "private-key", "md5-key", "auth-key", "authentication-key", "key-string"];
    k == "key"
        || WORDS.iter().any(|w| k.contains(w))
        || s.values.first().is_some_and(|v| v == "ENC")
        || s.values.iter().any(|v| v.contains("-----BEGIN"))
}

fn mark_secrets(b: &Block, acc: &mut Accounting) {
    for item in &b.items {
        match item {
            Item::Set(s) if is_secret(s) => mark_set(s, acc, LineClass::Ignored),
            Item::Set(_) => {}
            Item::Block(c) => mark_secrets(c, acc),
        }
    }
}

// ---------------------------------------------------------------- values

/// `A.B.C.D M.M.M.M` or `A.B.C.D/len`.
fn ip_mask(values: &[String]) -> Option<(Ipv4Addr, u8)> {
    let first = values.first()?;
    if let Some((a, l)) = first.split_once('/') {
        let len: u8 = l.parse().ok()?;
        return (len <= 32).then_some((a.parse().ok()?, len));
    }
    Some((first.parse().ok()?, mask_len(values.get(1)?)?))
}

fn network(addr: Ipv4Addr, len: u8) -> String {
    let mask = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
    format!("{}/{}", Ipv4Addr::from(u32::from(addr) & mask), len)
}

fn quoted(values: &[String]) -> String {
    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------- objects

#[derive(Debug, Clone, PartialEq)]
struct Svc {
    protocol: String,
    ports: Option<(u16, u16)>,
}

impl Svc {
    fn new(protocol: &str, ports: Option<(u16, u16)>) -> Svc {
        Svc { protocol: protocol.to_string(), ports }
    }
}

/// Named objects policies and routes refer to.
#[derive(Default)]
struct Objects {
    /// Address name → `10.0.0.0/24` or `any`.
    addresses: HashMap<String, String>,
    address_groups: HashMap<String, Vec<String>>,
    services: HashMap<String, Vec<Svc>>,
    service_groups: HashMap<String, Vec<String>>,
    /// Zone → member interfaces (policies name zones as interfaces).
    zones: HashMap<String, Vec<String>>,
}

impl Objects {
    fn collect(sections: &[&Block], acc: &mut Accounting) -> Objects {
        let mut o = Objects::default();
        for s in sections {
            match s.path().as_str() {
                "firewall address" => {
                    mark_frame(s, acc, LineClass::Modelled);
                    for e in s.edits() {
                        let ty = e.value("type").unwrap_or("ipmask").to_ascii_lowercase();
                        // Only plain subnets become prefixes; ranges, FQDNs and
                        // geography stay names (unmodelled).
                        if !matches!(ty.as_str(), "ipmask" | "interface-subnet") {
                            continue;
                        }
                        let subnet = e.get("subnet");
                        let prefix = match subnet.map(|s| ip_mask(&s.values)) {
                            Some(Some((a, l))) => Some(if l == 0 { "any".to_string() } else { format!("{a}/{l}") }),
                            Some(None) => {
                                mark_opt(subnet, acc, LineClass::Unrecognised);
                                None
                            }
                            // The default subnet is 0.0.0.0/0 (`all`).
                            None => Some("any".to_string()),
                        };
                        if let Some(p) = prefix {
                            mark_frame(e, acc, LineClass::Modelled);
                            mark_opt(subnet, acc, LineClass::Modelled);
                            mark_opt(e.get("type"), acc, LineClass::Modelled);
                            o.addresses.insert(e.name().to_string(), p);
                        }
                    }
                }
                "firewall addrgrp" => {
                    for e in s.edits() {
                        o.address_groups.insert(e.name().to_string(), e.values("member").to_vec());
                    }
                }
                "firewall service custom" => {
                    mark_frame(s, acc, LineClass::Modelled);
                    for e in s.edits() {
                        if let Some(svcs) = custom_service(e, acc) {
                            mark_frame(e, acc, LineClass::Modelled);
                            o.services.insert(e.name().to_string(), svcs);
                        }
                    }
                }
                "firewall service group" => {
                    for e in s.edits() {
                        o.service_groups.insert(e.name().to_string(), e.values("member").to_vec());
                    }
                }
                "system zone" => {
                    for e in s.edits() {
                        o.zones.insert(e.name().to_string(), e.values("interface").to_vec());
                    }
                }
                _ => {}
            }
        }
        o
    }

    /// Address names → (prefix or the name itself, resolved?).
    fn resolve_address(&self, name: &str, depth: usize, out: &mut Vec<(String, bool)>) {
        if out.len() >= MAX_ENTRIES_PER_POLICY {
            return;
        }
        if name.eq_ignore_ascii_case("all") || name.eq_ignore_ascii_case("any") {
            out.push(("any".into(), true));
        } else if let Some(p) = self.addresses.get(name) {
            out.push((p.clone(), true));
        } else if let (Some(members), true) = (self.address_groups.get(name), depth < MAX_GROUP_DEPTH) {
            for m in members {
                self.resolve_address(m, depth + 1, out);
            }
        } else {
            out.push((name.to_string(), false));
        }
    }

    /// Service names → protocol/ports (the name as protocol when unknown).
    fn resolve_service(&self, name: &str, depth: usize, out: &mut Vec<(Svc, bool)>) {
        if out.len() >= MAX_ENTRIES_PER_POLICY {
            return;
        }
        if let Some(svcs) = self.services.get(name).cloned().or_else(|| predefined_service(name)) {
            out.extend(svcs.into_iter().map(|s| (s, true)));
        } else if let (Some(members), true) = (self.service_groups.get(name), depth < MAX_GROUP_DEPTH) {
            for m in members {
                self.resolve_service(m, depth + 1, out);
            }
        } else {
            out.push((Svc::new(name, None), false));
        }
    }
}

/// FortiOS's predefined services, for files (`show`, not `show
/// full-configuration`) that do not list them.
fn predefined_service(name: &str) -> Option<Vec<Svc>> {
    let tcp = |lo, hi| Svc::new("tcp", Some((lo, hi)));
    let udp = |lo, hi| Svc::new("udp", Some((lo, hi)));
    Some(match name.to_ascii_uppercase().as_str() {
        "ALL" => vec![Svc::new("ip", None)],
        "ALL_TCP" => vec![Svc::new("tcp", None)],
        "ALL_UDP" => vec![Svc::new("udp", None)],
        "ALL_ICMP" | "PING" => vec![Svc::new("icmp", None)],
        "HTTP" => vec![tcp(80, 80)],
        "HTTPS" => vec![tcp(443, 443)],
        "WEB ACCESS" => vec![tcp(80, 80), tcp(443, 443)],
        "SSH" => vec![tcp(22, 22)],
        "TELNET" => vec![tcp(23, 23)],
        "FTP" => vec![tcp(21, 21)],
        "SMTP" => vec![tcp(25, 25)],
        "SMTPS" => vec![tcp(465, 465)],
        "POP3" => vec![tcp(110, 110)],
        "POP3S" => vec![tcp(995, 995)],
        "IMAP" => vec![tcp(143, 143)],
        "IMAPS" => vec![tcp(993, 993)],
        "DNS" => vec![tcp(53, 53), udp(53, 53)],
        "NTP" => vec![tcp(123, 123), udp(123, 123)],
        "RDP" => vec![tcp(3389, 3389)],
        "SMB" => vec![tcp(445, 445)],
        "SAMBA" => vec![tcp(139, 139)],
        "LDAP" => vec![tcp(389, 389)],
        "KERBEROS" => vec![tcp(88, 88), udp(88, 88)],
        "SNMP" => vec![tcp(161, 162), udp(161, 162)],
        "SYSLOG" => vec![udp(514, 514)],
        "DHCP" => vec![udp(67, 68)],
        "TFTP" => vec![udp(69, 69)],
        "MS-SQL" => vec![tcp(1433, 1434)],
        "MYSQL" => vec![tcp(3306, 3306)],
        "VNC" => vec![tcp(5900, 5900)],
        _ => return None,
    })
}

/// `80`, `8080-8090`, `443:1024-65535` (destination[:source]) → ports.
fn port_range(token: &str) -> Option<Option<(u16, u16)>> {
    let dst = token.split(':').next()?;
    let (lo, hi) = match dst.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p: u16 = dst.parse().ok()?;
            (p, p)
        }
    };
    if lo > hi {
        return None;
    }
    // The whole range is "any port".
    Some(if lo <= 1 && hi == u16::MAX { None } else { Some((lo, hi)) })
}

fn custom_service(e: &Block, acc: &mut Accounting) -> Option<Vec<Svc>> {
    let proto_line = e.get("protocol");
    let proto = e.value("protocol").unwrap_or("TCP/UDP/SCTP").to_ascii_uppercase();
    let mut out = Vec::new();
    match proto.as_str() {
        "TCP/UDP/SCTP" | "TCP/UDP/UDP-LITE/SCTP" => {
            for (key, name) in [("tcp-portrange", "tcp"), ("udp-portrange", "udp"), ("sctp-portrange", "sctp")] {
                let Some(s) = e.get(key) else { continue };
                let ranges: Option<Vec<_>> = s.values.iter().map(|t| port_range(t)).collect();
                match ranges {
                    Some(r) => {
                        out.extend(r.into_iter().map(|p| Svc::new(name, p)));
                        mark_set(s, acc, LineClass::Modelled);
                    }
                    None => mark_set(s, acc, LineClass::Unrecognised),
                }
            }
        }
        "ICMP" => out.push(Svc::new("icmp", None)),
        "IP" | "ALL" => {
            let n = e.get("protocol-number");
            match n.and_then(|s| s.values.first()).map(|v| v.parse::<u8>()) {
                None | Some(Ok(0)) => out.push(Svc::new("ip", None)),
                Some(Ok(p)) => out.push(Svc::new(&p.to_string(), None)),
                Some(Err(_)) => {
                    mark_opt(n, acc, LineClass::Unrecognised);
                    return None;
                }
            }
            mark_opt(n, acc, LineClass::Modelled);
        }
        // ICMP6 and the explicit-proxy kinds do not fit an IPv4 filter entry.
        _ => return None,
    }
    if out.is_empty() {
        return None;
    }
    mark_opt(proto_line, acc, LineClass::Modelled);
    Some(out)
}

// ---------------------------------------------------------------- sections

fn global(s: &Block, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    if let Some(h) = s.get("hostname") {
        device.hostname = h.values.join(" ");
        mark_set(h, acc, LineClass::Modelled);
    }
}

fn interface_kind(ty: &str) -> Option<InterfaceKind> {
    Some(match ty {
        "physical" => InterfaceKind::Physical,
        "vlan" | "switch-vlan" => InterfaceKind::Svi,
        "aggregate" | "redundant" => InterfaceKind::Lag,
        "tunnel" | "vxlan" | "geneve" => InterfaceKind::Tunnel,
        "loopback" => InterfaceKind::Loopback,
        // Hardware and software switches, wireless, EMAC VLANs and the rest.
        "hard-switch" | "switch" | "vap-switch" | "emac-vlan" | "wl-mesh" | "fext-wan" | "fctrl-trunk" | "lan-extension" | "ssl" => InterfaceKind::Other,
        _ => return None,
    })
}

fn interfaces(s: &Block, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    // (aggregate, its members): a member may be defined after the aggregate.
    let mut lags: Vec<(String, Vec<String>)> = Vec::new();
    for e in s.edits() {
        let ty_line = e.get("type");
        // `show` leaves out `set type vlan`: a VLAN ID on a parent says it.
        let implied = if e.get("vlanid").is_some() && e.get("interface").is_some() { "vlan" } else { "physical" };
        let ty = e.value("type").unwrap_or(implied).to_ascii_lowercase();
        let kind = match interface_kind(&ty) {
            Some(k) => {
                mark_opt(ty_line, acc, LineClass::Modelled);
                k
            }
            None => InterfaceKind::Other,
        };
        mark_frame(e, acc, LineClass::Modelled);
        let mut intf = Interface::new(e.name(), kind, e.line);

        if let Some(v) = e.get("vlanid") {
            match v.values.first().and_then(|x| x.parse::<u16>().ok()) {
                Some(id @ 1..=4094) if kind == InterfaceKind::Svi => {
                    intf.svi_vlan = Some(id);
                    mark_set(v, acc, LineClass::Modelled);
                }
                Some(_) => {}
                None => mark_set(v, acc, LineClass::Unrecognised),
            }
        }
        let add_address = |set: &SetLine, intf: &mut Interface, acc: &mut Accounting| match ip_mask(&set.values) {
            Some((a, l)) => {
                // `0.0.0.0 0.0.0.0` is how full-configuration writes "no address".
                if !a.is_unspecified() {
                    intf.addresses.push(format!("{a}/{l}"));
                }
                mark_set(set, acc, LineClass::Modelled);
            }
            None => mark_set(set, acc, LineClass::Unrecognised),
        };
        if let Some(ip) = e.get("ip") {
            add_address(ip, &mut intf, acc);
        }
        if let Some(sec) = e.sub("secondaryip") {
            mark_frame(sec, acc, LineClass::Modelled);
            for se in sec.edits() {
                if let Some(ip) = se.get("ip") {
                    add_address(ip, &mut intf, acc);
                    mark_frame(se, acc, LineClass::Modelled);
                }
            }
        }
        // The description wins; the alias (the GUI's name) stands in without one.
        let desc = e.get("description").filter(|d| !d.values.concat().is_empty());
        let alias = e.get("alias").filter(|d| !d.values.concat().is_empty());
        if let Some(d) = desc.or(alias) {
            intf.description = Some(d.values.join(" "));
            mark_set(d, acc, LineClass::Modelled);
        }
        if let Some(st) = e.get("status") {
            match st.values.first().map(|v| v.to_ascii_lowercase()).as_deref() {
                Some("down") => {
                    intf.shutdown = true;
                    mark_set(st, acc, LineClass::Modelled);
                }
                Some("up") => mark_set(st, acc, LineClass::Modelled),
                _ => mark_set(st, acc, LineClass::Unrecognised),
            }
        }
        if let Some(v) = e.get("vrf") {
            match v.values.first().map(|x| x.parse::<u16>()) {
                // VRF 0 is the default table.
                Some(Ok(0)) => mark_set(v, acc, LineClass::Modelled),
                Some(Ok(n)) => {
                    intf.vrf = Some(n.to_string());
                    mark_set(v, acc, LineClass::Modelled);
                }
                _ => mark_set(v, acc, LineClass::Unrecognised),
            }
        }
        if kind == InterfaceKind::Lag {
            if let Some(m) = e.get("member") {
                lags.push((intf.name.clone(), m.values.clone()));
                mark_set(m, acc, LineClass::Modelled);
            }
        }
        device.interfaces.push(intf);
    }
    for (lag, members) in lags {
        for intf in device.interfaces.iter_mut().filter(|i| members.contains(&i.name)) {
            intf.lag = Some(lag.clone());
        }
    }
}

fn static_routes(s: &Block, objects: &Objects, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    for e in s.edits() {
        // A disabled route is not in the routing table: leave it unmodelled.
        if e.value("status").is_some_and(|v| v.eq_ignore_ascii_case("disable")) {
            continue;
        }
        let mut prefix = Some("0.0.0.0/0".to_string());
        if let Some(d) = e.get("dst") {
            prefix = ip_mask(&d.values).map(|(a, l)| format!("{a}/{l}"));
            mark_set(d, acc, if prefix.is_some() { LineClass::Modelled } else { LineClass::Unrecognised });
        } else if let Some(d) = e.get("dstaddr") {
            // A named address as destination.
            prefix = d.values.first().and_then(|n| objects.addresses.get(n)).map(|p| if p == "any" { "0.0.0.0/0".to_string() } else { p.clone() });
            if prefix.is_some() {
                mark_set(d, acc, LineClass::Modelled);
            }
        }
        let Some(prefix) = prefix else { continue };
        let mut route = StaticRoute { prefix, next_hop: None, interface: None, vrf: None, distance: None, line: e.line };
        if let Some(g) = e.get("gateway") {
            match g.values.first().and_then(|v| v.parse::<Ipv4Addr>().ok()) {
                Some(a) => {
                    route.next_hop = (!a.is_unspecified()).then(|| a.to_string());
                    mark_set(g, acc, LineClass::Modelled);
                }
                None => mark_set(g, acc, LineClass::Unrecognised),
            }
        }
        if let Some(d) = e.get("device") {
            route.interface = d.values.first().cloned().filter(|v| !v.is_empty());
            mark_set(d, acc, LineClass::Modelled);
        }
        if let Some(b) = e.get("blackhole").filter(|b| b.values.first().is_some_and(|v| v.eq_ignore_ascii_case("enable"))) {
            // A discard route: no next hop, no device.
            route.interface = Some("blackhole".to_string());
            mark_set(b, acc, LineClass::Modelled);
        }
        if let Some(d) = e.get("distance") {
            route.distance = d.values.first().and_then(|v| v.parse().ok());
            mark_set(d, acc, if route.distance.is_some() { LineClass::Modelled } else { LineClass::Unrecognised });
        }
        if let Some(v) = e.get("vrf") {
            if let Some(n) = v.values.first().and_then(|x| x.parse::<u16>().ok()) {
                route.vrf = (n != 0).then(|| n.to_string());
                mark_set(v, acc, LineClass::Modelled);
            }
        }
        mark_frame(e, acc, LineClass::Modelled);
        device.static_routes.push(route);
    }
}

/// `config router ospf|bgp|rip` → `config network` → `edit N` → `set prefix A M` (+ `set area` for OSPF).
fn routing_networks(s: &Block, protocol: &str, device: &mut Device, acc: &mut Accounting) {
    let Some(net) = s.sub("network") else { return };
    mark_frame(s, acc, LineClass::Modelled);
    mark_frame(net, acc, LineClass::Modelled);
    for e in net.edits() {
        let Some(p) = e.get("prefix") else { continue };
        let Some((a, l)) = ip_mask(&p.values) else {
            mark_set(p, acc, LineClass::Unrecognised);
            continue;
        };
        let area_line = e.get("area").filter(|_| protocol == "ospf");
        mark_opt(area_line, acc, LineClass::Modelled);
        // `show` leaves out the default area, the backbone.
        let area = match (protocol, area_line.and_then(|a| a.values.first())) {
            ("ospf", Some(a)) => Some(a.clone()),
            ("ospf", None) => Some("0.0.0.0".to_string()),
            _ => None,
        };
        mark_set(p, acc, LineClass::Modelled);
        mark_frame(e, acc, LineClass::Modelled);
        device.routing_networks.push(RoutingNetwork {
            protocol: protocol.to_string(),
            prefix: format!("{a}/{l}"),
            area,
            line: e.line,
        });
    }
}

fn dhcp(s: &Block, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    for e in s.edits() {
        let intf = e.get("interface");
        let gw_line = e.get("default-gateway");
        let gateway = gw_line.and_then(|g| g.values.first()).and_then(|v| v.parse::<Ipv4Addr>().ok()).filter(|a| !a.is_unspecified());
        let mask_line = e.get("netmask");
        let len = mask_line.and_then(|m| m.values.first()).and_then(|m| mask_len(m));
        // The network from the gateway, or else from the first range's start.
        let start = e.sub("ip-range").and_then(|r| r.edits().next()).and_then(|r| r.get("start-ip"));
        let start_ip = start.and_then(|s| s.values.first()).and_then(|v| v.parse::<Ipv4Addr>().ok());
        let network = match (gateway.or(start_ip), len) {
            (Some(base), Some(l)) => {
                mark_opt(mask_line, acc, LineClass::Modelled);
                if gateway.is_none() {
                    mark_opt(start, acc, LineClass::Modelled);
                }
                Some(network(base, l))
            }
            _ => None,
        };
        if gateway.is_some() {
            mark_opt(gw_line, acc, LineClass::Modelled);
        }
        mark_opt(intf, acc, LineClass::Modelled);
        mark_frame(e, acc, LineClass::Modelled);
        let name = intf.and_then(|i| i.values.first()).cloned().unwrap_or_else(|| e.name().to_string());
        device.dhcp_scopes.push(DhcpScope { name, network, gateway: gateway.map(|g| g.to_string()), line: e.line });
    }
}

fn vips(s: &Block, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    for e in s.edits() {
        let ext = e.value("extip").unwrap_or("?");
        let mapped = e.values("mappedip").join(",");
        let mut text = format!("vip \"{}\": {ext}", e.name());
        let forward = e.value("portforward").is_some_and(|v| v.eq_ignore_ascii_case("enable"));
        if forward {
            text += &format!(":{}", e.value("extport").unwrap_or("?"));
        }
        text += &format!(" -> {}", if mapped.is_empty() { "?" } else { &mapped });
        if forward {
            text += &format!(":{}/{}", e.value("mappedport").or(e.value("extport")).unwrap_or("?"), e.value("protocol").unwrap_or("tcp"));
        }
        if let Some(i) = e.value("extintf") {
            text += &format!(" on \"{i}\"");
        }
        for key in ["extip", "mappedip", "extintf", "portforward", "extport", "mappedport", "protocol"] {
            mark_opt(e.get(key), acc, LineClass::Modelled);
        }
        mark_frame(e, acc, LineClass::Modelled);
        device.nat.push(NatRule { text, line: e.line });
    }
}

fn ippools(s: &Block, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    for e in s.edits() {
        let text = format!(
            "ippool \"{}\": {}-{} {}",
            e.name(),
            e.value("startip").unwrap_or("?"),
            e.value("endip").unwrap_or("?"),
            e.value("type").unwrap_or("overload")
        );
        for key in ["startip", "endip", "type"] {
            mark_opt(e.get(key), acc, LineClass::Modelled);
        }
        mark_frame(e, acc, LineClass::Modelled);
        device.nat.push(NatRule { text, line: e.line });
    }
}

/// One ACL per policy, in the order FortiOS evaluates them (as written, not
/// by id); entries are sources × destinations × services.
fn policies(s: &Block, objects: &Objects, work: &mut usize, device: &mut Device, acc: &mut Accounting) {
    mark_frame(s, acc, LineClass::Modelled);
    for e in s.edits() {
        let id = e.name().to_string();
        let action_line = e.get("action");
        let action = match action_line.and_then(|a| a.values.first()).map(|a| a.to_ascii_lowercase()).as_deref() {
            // Without `set action` the policy denies (the FortiOS default).
            None | Some("deny") => "deny",
            // `ipsec`: policy-based VPN, traffic is let through the tunnel.
            Some("accept") | Some("ipsec") => "permit",
            Some(_) => {
                mark_opt(action_line, acc, LineClass::Unrecognised);
                continue;
            }
        };
        mark_opt(action_line, acc, LineClass::Modelled);
        // Negated matches cannot be written as entries: left unmodelled.
        let negated = ["srcaddr-negate", "dstaddr-negate", "service-negate"].iter().any(|k| e.value(k).is_some_and(|v| v.eq_ignore_ascii_case("enable")));

        let mut entries = Vec::new();
        // Past the work budget a policy keeps its name, not its entries (lines unmodelled).
        if !negated && *work > 0 {
            let resolve_addrs = |key: &str, acc: &mut Accounting| {
                let mut all = Vec::new();
                let mut ok = true;
                for name in e.values(key) {
                    let mut out = Vec::new();
                    objects.resolve_address(name, 0, &mut out);
                    ok &= out.iter().all(|(_, r)| *r);
                    all.extend(out.into_iter().map(|(p, _)| (name.clone(), p)));
                }
                mark_opt(e.get(key), acc, if ok { LineClass::Modelled } else { LineClass::Unmodelled });
                all
            };
            let sources = resolve_addrs("srcaddr", acc);
            let destinations = resolve_addrs("dstaddr", acc);
            let mut services = Vec::new();
            let mut ok = true;
            for name in e.values("service") {
                let mut out = Vec::new();
                objects.resolve_service(name, 0, &mut out);
                ok &= out.iter().all(|(_, r)| *r);
                services.extend(out.into_iter().map(|(s, _)| (name.clone(), s)));
            }
            mark_opt(e.get("service"), acc, if ok { LineClass::Modelled } else { LineClass::Unmodelled });

            *work = work.saturating_sub(sources.len() + destinations.len() + services.len());
            let srcintf = e.values("srcintf").join(",");
            let dstintf = e.values("dstintf").join(",");
            'product: for (sn, sp) in &sources {
                for (dn, dp) in &destinations {
                    for (svn, svc) in &services {
                        if entries.len() >= MAX_ENTRIES_PER_POLICY || *work == 0 {
                            break 'product;
                        }
                        *work -= 1;
                        entries.push(AclEntry {
                            action: action.to_string(),
                            protocol: svc.protocol.clone(),
                            source: sp.clone(),
                            destination: dp.clone(),
                            ports: svc.ports,
                            text: format!("policy {id}: {srcintf} -> {dstintf} srcaddr \"{sn}\" dstaddr \"{dn}\" service \"{svn}\" {action}"),
                            line: e.line,
                        });
                    }
                }
            }
        }
        mark_frame(e, acc, LineClass::Modelled);

        let enabled = !e.value("status").is_some_and(|v| v.eq_ignore_ascii_case("disable"));
        if let (Some(si), true) = (e.get("srcintf"), enabled) {
            // Zones stand for their member interfaces; `any` attaches nowhere.
            let names: Vec<&String> = si.values.iter().flat_map(|n| objects.zones.get(n).map(|m| m.iter().collect()).unwrap_or_else(|| vec![n])).collect();
            let mut all_found = !names.is_empty();
            for n in names {
                match device.interfaces.iter_mut().find(|i| &i.name == n) {
                    Some(intf) => {
                        let acl = (id.clone(), "in".to_string());
                        if !intf.acls.contains(&acl) {
                            intf.acls.push(acl);
                        }
                    }
                    None => all_found = false,
                }
            }
            mark_set(si, acc, if all_found { LineClass::Modelled } else { LineClass::Unmodelled });
        }

        if e.value("nat").is_some_and(|v| v.eq_ignore_ascii_case("enable")) {
            let pool = e.value("ippool").is_some_and(|v| v.eq_ignore_ascii_case("enable"));
            let how = if pool { format!("ippool {}", quoted(e.values("poolname"))) } else { "interface address".to_string() };
            device.nat.push(NatRule { text: format!("policy {id}: source NAT to {} ({how})", quoted(e.values("dstintf"))), line: e.line });
            for key in ["nat", "ippool", "poolname"] {
                mark_opt(e.get(key), acc, LineClass::Modelled);
            }
        }
        device.acls.push(Acl { name: id, entries });
    }
}
