//! Analyses over parsed devices: routing tables from config, layer-3
//! adjacency by shared subnet, the VLAN table, and configuration checks.
//! The result serializes as the `lanward net analyze --json` document.

use crate::model::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// An IPv4 prefix: network address and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub net: u32,
    pub len: u8,
}

impl Prefix {
    pub fn parse(text: &str) -> Option<Prefix> {
        if text == "any" {
            return Some(Prefix { net: 0, len: 0 });
        }
        let (ip, len) = text.split_once('/').unwrap_or((text, "32"));
        let ip: Ipv4Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        Some(Prefix { net: u32::from(ip) & Self::mask(len), len })
    }
    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }
    pub fn contains(&self, ip: u32) -> bool {
        ip & Self::mask(self.len) == self.net
    }
    /// Whether `other` lies inside this prefix.
    pub fn covers(&self, other: &Prefix) -> bool {
        other.len >= self.len && self.contains(other.net)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.len)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub prefix: String,
    /// `connected`, `local`, `static`, `ospf`, `bgp`, ...
    pub protocol: String,
    pub next_hop: Option<String>,
    pub interface: Option<String>,
}

/// The routing table the config alone implies: connected and local (/32)
/// routes of every interface that is up, static routes, and the networks
/// given to dynamic routing.
pub fn routes(d: &Device) -> Vec<Route> {
    let mut out = Vec::new();
    for i in d.interfaces.iter().filter(|i| !i.shutdown) {
        for a in &i.addresses {
            let Some(p) = Prefix::parse(a) else { continue };
            if p.len < 32 {
                out.push(Route { prefix: p.to_string(), protocol: "connected".into(), next_hop: None, interface: Some(i.name.clone()) });
            }
            let host = a.split('/').next().unwrap_or(a);
            out.push(Route { prefix: format!("{host}/32"), protocol: "local".into(), next_hop: None, interface: Some(i.name.clone()) });
        }
    }
    for r in &d.static_routes {
        out.push(Route { prefix: r.prefix.clone(), protocol: "static".into(), next_hop: r.next_hop.clone(), interface: r.interface.clone() });
    }
    for n in &d.routing_networks {
        out.push(Route { prefix: n.prefix.clone(), protocol: n.protocol.clone(), next_hop: None, interface: None });
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct End {
    pub device: String,
    pub interface: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L3Edge {
    pub a: End,
    pub b: End,
    pub subnet: String,
}

/// Interfaces that share a subnet (both up), pairwise, across devices.
pub fn l3_edges(devices: &[Device]) -> Vec<L3Edge> {
    let mut by_subnet: BTreeMap<Prefix, Vec<(usize, &str)>> = BTreeMap::new();
    for (di, d) in devices.iter().enumerate() {
        for i in d.interfaces.iter().filter(|i| !i.shutdown) {
            for a in &i.addresses {
                if let Some(p) = Prefix::parse(a).filter(|p| p.len < 32) {
                    by_subnet.entry(p).or_default().push((di, i.name.as_str()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (subnet, ends) in by_subnet {
        for x in 0..ends.len() {
            for y in x + 1..ends.len() {
                let ((da, ia), (db, ib)) = (ends[x], ends[y]);
                if da == db {
                    continue;
                }
                out.push(L3Edge {
                    a: End { device: devices[da].hostname.clone(), interface: ia.to_string() },
                    b: End { device: devices[db].hostname.clone(), interface: ib.to_string() },
                    subnet: subnet.to_string(),
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VlanRow {
    pub id: u16,
    pub names: Vec<String>,
    /// Subnets of the VLAN's SVIs.
    pub subnets: Vec<String>,
    /// SVI addresses: the VLAN's gateways (device, address).
    pub gateways: Vec<(String, String)>,
    /// (device, port) where the VLAN is the access VLAN.
    pub access_ports: Vec<(String, String)>,
    /// (device, port) trunks that carry it.
    pub trunk_ports: Vec<(String, String)>,
    pub defined_on: Vec<String>,
}

/// One row per VLAN seen anywhere: defined, used on a port or an SVI.
pub fn vlan_table(devices: &[Device]) -> Vec<VlanRow> {
    let mut rows: BTreeMap<u16, VlanRow> = BTreeMap::new();
    fn row(rows: &mut BTreeMap<u16, VlanRow>, id: u16) -> &mut VlanRow {
        rows.entry(id).or_insert_with(|| VlanRow { id, names: vec![], subnets: vec![], gateways: vec![], access_ports: vec![], trunk_ports: vec![], defined_on: vec![] })
    }
    for d in devices {
        for v in &d.vlans {
            let r = row(&mut rows, v.id);
            r.defined_on.push(d.hostname.clone());
            if let Some(n) = &v.name {
                if !r.names.contains(n) {
                    r.names.push(n.clone());
                }
            }
        }
        for i in &d.interfaces {
            if let Some(v) = i.access_vlan.filter(|_| i.mode != Some(SwitchportMode::Trunk)) {
                let r = row(&mut rows, v);
                r.access_ports.push((d.hostname.clone(), i.name.clone()));
            }
            if i.mode == Some(SwitchportMode::Trunk) {
                for v in &i.trunk_vlans {
                    let r = row(&mut rows, *v);
                    r.trunk_ports.push((d.hostname.clone(), i.name.clone()));
                }
            }
            if let Some(v) = i.svi_vlan {
                let r = row(&mut rows, v);
                for a in &i.addresses {
                    if let Some(p) = Prefix::parse(a) {
                        let s = p.to_string();
                        if !r.subnets.contains(&s) {
                            r.subnets.push(s);
                        }
                        r.gateways.push((d.hostname.clone(), a.split('/').next().unwrap_or(a).to_string()));
                    }
                }
            }
        }
    }
    rows.into_values().collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `error`, `warning`, `info`.
    pub severity: String,
    pub device: String,
    pub line: Option<usize>,
    pub message: String,
}

fn check(severity: &str, device: &str, line: Option<usize>, message: String) -> Check {
    Check { severity: severity.into(), device: device.into(), line, message }
}

/// Configuration problems the config alone shows.
pub fn checks(devices: &[Device]) -> Vec<Check> {
    let mut out = Vec::new();
    // Address → (device, interface, line) of everyone using it.
    type Users<'a> = Vec<(&'a str, &'a str, usize)>;
    let mut addresses: HashMap<u32, Users> = HashMap::new();
    let mut subnets: Vec<(Prefix, &str, &str, usize)> = Vec::new();
    for d in devices {
        let defined: Vec<u16> = d.vlans.iter().map(|v| v.id).collect();
        let acl_names: Vec<&str> = d.acls.iter().map(|a| a.name.as_str()).collect();
        let switch = !defined.is_empty();
        for i in &d.interfaces {
            for (acl, dir) in &i.acls {
                if !acl_names.contains(&acl.as_str()) {
                    out.push(check("error", &d.hostname, Some(i.line), format!("{} に未定義の ACL {acl} ({dir}) が適用されています (undefined ACL)", i.name)));
                }
            }
            if switch {
                // VLAN 1 exists on every switch without being configured.
                if let Some(v) = i.access_vlan.filter(|v| *v != 1 && !defined.contains(v)) {
                    out.push(check("error", &d.hostname, Some(i.line), format!("{} のアクセス VLAN {v} が定義されていません (undefined VLAN)", i.name)));
                }
                if i.kind == InterfaceKind::Svi {
                    if let Some(v) = i.svi_vlan.filter(|v| *v != 1 && !defined.contains(v)) {
                        out.push(check("warning", &d.hostname, Some(i.line), format!("{} の VLAN {v} が定義されていません (SVI without its VLAN)", i.name)));
                    }
                }
            }
            if i.shutdown {
                continue;
            }
            for a in &i.addresses {
                let Some(p) = Prefix::parse(a) else { continue };
                let host: Option<Ipv4Addr> = a.split('/').next().and_then(|h| h.parse().ok());
                if let Some(h) = host {
                    addresses.entry(u32::from(h)).or_default().push((&d.hostname, &i.name, i.line));
                }
                if p.len < 32 {
                    subnets.push((p, &d.hostname, &i.name, i.line));
                }
            }
        }
        // VLANs defined but on no port, trunk or SVI of this device.
        for v in &d.vlans {
            let used = d.interfaces.iter().any(|i| i.access_vlan == Some(v.id) || i.svi_vlan == Some(v.id) || i.trunk_all || i.trunk_vlans.contains(&v.id) || i.native_vlan == Some(v.id));
            if !used && v.id != 1 {
                out.push(check("info", &d.hostname, Some(v.line), format!("VLAN {} は定義されていますが使われていません (unused VLAN)", v.id)));
            }
        }
        for acl in &d.acls {
            shadowed(acl, &d.hostname, &mut out);
        }
    }
    let mut dup: Vec<(&u32, &Users)> = addresses.iter().filter(|(_, v)| v.len() > 1).collect();
    dup.sort();
    for (ip, users) in dup {
        let list: Vec<String> = users.iter().map(|(d, i, _)| format!("{d} {i}")).collect();
        out.push(check("error", users[0].0, Some(users[0].2), format!("IP アドレス {} が重複しています: {} (duplicate address)", Ipv4Addr::from(*ip), list.join(", "))));
    }
    // Sorted by network then length, a prefix overlaps those after it that
    // it covers: a stack of open prefixes makes this one pass (10,000
    // devices would be 10^8 pairs otherwise).
    subnets.sort();
    let mut open: Vec<&(Prefix, &str, &str, usize)> = Vec::new();
    for s in &subnets {
        while open.last().is_some_and(|top| !top.0.covers(&s.0)) {
            open.pop();
        }
        if let Some(top) = open.iter().rev().find(|t| t.0 != s.0) {
            out.push(check("warning", top.1, Some(top.3), format!("サブネットが重なっています: {} {} ({}) と {} {} ({}) (overlapping subnets)", top.1, top.2, top.0, s.1, s.2, s.0)));
        }
        open.push(s);
    }
    out
}

/// An ACL line that can never match because an earlier line matches
/// everything it would.
fn shadowed(acl: &Acl, device: &str, out: &mut Vec<Check>) {
    for (k, e) in acl.entries.iter().enumerate() {
        let (Some(es), Some(ed)) = (Prefix::parse(&e.source), Prefix::parse(&e.destination)) else { continue };
        for earlier in &acl.entries[..k] {
            let (Some(ps), Some(pd)) = (Prefix::parse(&earlier.source), Prefix::parse(&earlier.destination)) else { continue };
            let proto = earlier.protocol == "ip" || earlier.protocol == e.protocol;
            let ports = match (earlier.ports, e.ports) {
                (None, _) => true,
                (Some((a, b)), Some((c, d))) => a <= c && d <= b,
                (Some(_), None) => false,
            };
            if proto && ports && ps.covers(&es) && pd.covers(&ed) {
                out.push(check("warning", device, Some(e.line), format!("ACL {} の「{}」は {} 行目の「{}」に隠れて一致しません (shadowed ACL line)", acl.name, e.text, earlier.line, earlier.text)));
                break;
            }
        }
    }
}

/// The whole analysis, as `lanward net analyze --json` prints it.
#[derive(Debug, Serialize)]
pub struct Analysis {
    pub devices: Vec<DeviceOut>,
    pub l3_edges: Vec<L3Edge>,
    pub vlans: Vec<VlanRow>,
    pub checks: Vec<Check>,
    /// Physical links (LLDP/CDP tables, cabling file, descriptions).
    pub links: Vec<crate::links::Link>,
    /// Per VLAN, the groups of devices it connects (more than one: split).
    pub l2_domains: BTreeMap<u16, Vec<Vec<String>>>,
    /// Files that could not be parsed, with why (the rest is analysed).
    pub errors: Vec<FileError>,
}

#[derive(Debug, Serialize)]
pub struct FileError {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct DeviceOut {
    #[serde(flatten)]
    pub device: Device,
    pub routes: Vec<Route>,
}

pub fn analyse(devices: Vec<Device>, errors: Vec<FileError>) -> Analysis {
    analyse_with_links(devices, errors, Vec::new())
}

/// [`analyse`] with links the operator supplied (LLDP tables, cabling);
/// links named by interface descriptions are added.
pub fn analyse_with_links(devices: Vec<Device>, errors: Vec<FileError>, mut links: Vec<crate::links::Link>) -> Analysis {
    let l3_edges = l3_edges(&devices);
    let vlans = vlan_table(&devices);
    let mut checks = checks(&devices);
    links.extend(crate::links::from_descriptions(&devices));
    let links = crate::links::merge(&devices, links);
    checks.extend(crate::links::link_checks(&devices, &links));
    let l2_domains = crate::links::l2_domains(&devices, &links);
    let devices = devices.into_iter().map(|d| DeviceOut { routes: routes(&d), device: d }).collect();
    Analysis { devices, l3_edges, vlans, checks, links, l2_domains, errors }
}
