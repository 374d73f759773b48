//! Physical links between devices, and what they make possible: checks
//! that need both ends of a cable (native VLAN mismatch, a VLAN allowed on
//! one end of a trunk only) and layer-2 domains (which devices a VLAN
//! really spans).
//!
//! Links come from LLDP/CDP neighbour tables supplied beside the configs,
//! from a cabling file the operator keeps (`device,port,peer,peer_port`),
//! or from interface descriptions that name the peer device.

use crate::analysis::Check;
use crate::changes::find_port;
use crate::model::*;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkEnd {
    pub device: String,
    /// `None` when only the device is known (a description naming it).
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub a: LinkEnd,
    pub b: LinkEnd,
    /// `lldp`, `cabling`, `description`.
    pub source: String,
}

/// `show lldp neighbors` / `show cdp neighbors` tables of `device`: rows
/// under the header with "Device ID" and "Local Intf"; the local port is
/// resolved against the device's interfaces (`Gi1/0/24`).
pub fn parse_neighbors(device: &Device, text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.contains("Device ID") && (line.contains("Local Intf") || line.contains("Local Interface")) {
            in_table = true;
            continue;
        }
        if !in_table || line.trim().is_empty() || line.starts_with("Total") {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 3 {
            continue;
        }
        // Local ports may be written with a space (`Gig 1/0/24`).
        let (peer, local, rest) = if t.len() >= 4 && t[2].chars().next().is_some_and(|c| c.is_ascii_digit()) && !t[1].chars().any(|c| c.is_ascii_digit()) {
            (t[0], format!("{}{}", t[1], t[2]), &t[3..])
        } else {
            (t[0], t[1].to_string(), &t[2..])
        };
        let peer_port = match rest {
            [.., a, b] if b.chars().next().is_some_and(|c| c.is_ascii_digit()) && !a.chars().any(|c| c.is_ascii_digit()) => format!("{a}{b}"),
            [.., last] => last.to_string(),
            [] => continue,
        };
        let port = find_port(device, &local).map(|i| i.name.clone()).unwrap_or(local);
        // CDP writes the peer's domain: `SW-HQ-2F.suido.local`.
        let peer = peer.split('.').next().unwrap_or(peer).to_string();
        out.push(Link { a: LinkEnd { device: device.hostname.clone(), port: Some(port) }, b: LinkEnd { device: peer, port: Some(peer_port) }, source: "lldp".into() });
    }
    out
}

/// The operator's cabling file: `device,port,peer_device,peer_port` per
/// line (a header line and `#` comments allowed). Errors name the line.
pub fn parse_cabling(text: &str) -> Result<Vec<Link>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() || (i == 0 && l.to_ascii_lowercase().starts_with("device")) {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let [a, ap, b, bp] = f.as_slice() else {
            return Err(format!("配線表 {} 行目: 「機器,ポート,相手機器,相手ポート」の 4 列が必要です", i + 1));
        };
        out.push(Link { a: LinkEnd { device: a.to_string(), port: Some(ap.to_string()) }, b: LinkEnd { device: b.to_string(), port: Some(bp.to_string()) }, source: "cabling".into() });
    }
    Ok(out)
}

/// Interface descriptions that name another device (`uplink to SW-HQ-CORE`).
/// Descriptions are cut into words (a hostname is one word: letters,
/// digits, `-`, `_`, `.`) looked up in a table of hostnames, so 10,000
/// devices cost one pass, not 10,000 per description.
pub fn from_descriptions(devices: &[Device]) -> Vec<Link> {
    let by_name: std::collections::HashMap<String, &str> = devices.iter().filter(|d| d.hostname.len() >= 3).map(|d| (d.hostname.to_ascii_uppercase(), d.hostname.as_str())).collect();
    let mut out = Vec::new();
    for d in devices {
        for i in &d.interfaces {
            let Some(desc) = &i.description else { continue };
            let mut seen: Vec<&str> = Vec::new();
            for word in desc.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
                let word = word.trim_matches('.');
                let Some(peer) = by_name.get(&word.to_ascii_uppercase()) else { continue };
                if *peer == d.hostname || seen.contains(peer) {
                    continue;
                }
                seen.push(peer);
                out.push(Link { a: LinkEnd { device: d.hostname.clone(), port: Some(i.name.clone()) }, b: LinkEnd { device: peer.to_string(), port: None }, source: "description".into() });
            }
        }
    }
    out
}

/// Ports written as the peer writes them (`Gi1/0/1`) are resolved to the
/// device's own interface names, then links seen from both ends (and by
/// several sources) are merged into one each.
pub fn merge(devices: &[Device], mut links: Vec<Link>) -> Vec<Link> {
    for l in &mut links {
        for e in [&mut l.a, &mut l.b] {
            let full = devices.iter().find(|d| d.hostname.eq_ignore_ascii_case(&e.device)).and_then(|d| e.port.as_deref().and_then(|p| find_port(d, p))).map(|i| i.name.clone());
            if let Some(full) = full {
                e.port = Some(full);
            }
        }
    }
    dedupe(links)
}

fn dedupe(links: Vec<Link>) -> Vec<Link> {
    // Only links between the same two devices can be the same cable.
    let mut by_pair: std::collections::HashMap<(String, String), Vec<usize>> = std::collections::HashMap::new();
    let mut out: Vec<Link> = Vec::new();
    for l in links {
        let key = if l.a.device <= l.b.device { (l.a.device.clone(), l.b.device.clone()) } else { (l.b.device.clone(), l.a.device.clone()) };
        let same = |x: &Link| {
            let fits = |p: &Option<String>, q: &Option<String>| p == q || p.is_none() || q.is_none();
            let fwd = x.a.device == l.a.device && x.b.device == l.b.device && fits(&x.a.port, &l.a.port) && fits(&x.b.port, &l.b.port);
            let rev = x.a.device == l.b.device && x.b.device == l.a.device && fits(&x.a.port, &l.b.port) && fits(&x.b.port, &l.a.port);
            fwd || rev
        };
        let slot = by_pair.entry(key).or_default();
        match slot.iter().copied().find(|k| same(&out[*k])) {
            // Keep the most precise ends.
            Some(k) => {
                let x = &mut out[k];
                if x.a.device == l.a.device {
                    x.a.port = x.a.port.take().or(l.a.port);
                    x.b.port = x.b.port.take().or(l.b.port);
                } else {
                    x.a.port = x.a.port.take().or(l.b.port);
                    x.b.port = x.b.port.take().or(l.a.port);
                }
            }
            None => {
                slot.push(out.len());
                out.push(l);
            }
        }
    }
    out
}

fn end_iface<'a>(devices: &'a [Device], e: &LinkEnd) -> Option<(&'a Device, &'a Interface)> {
    let d = devices.iter().find(|d| d.hostname.eq_ignore_ascii_case(&e.device))?;
    let i = find_port(d, e.port.as_deref()?)?;
    Some((d, i))
}

/// VLANs a port carries: its access VLAN, or a trunk's allowed list
/// (`None` for "all").
fn carried(i: &Interface) -> Option<Vec<u16>> {
    match i.mode {
        Some(SwitchportMode::Trunk) if i.trunk_all => None,
        Some(SwitchportMode::Trunk) => Some(i.trunk_vlans.clone()),
        _ => Some(i.access_vlan.map(|v| vec![v]).unwrap_or_else(|| vec![1])),
    }
}

/// Problems only both ends of a cable show.
pub fn link_checks(devices: &[Device], links: &[Link]) -> Vec<Check> {
    let mut out = Vec::new();
    for l in links {
        let (Some((da, ia)), Some((db, ib))) = (end_iface(devices, &l.a), end_iface(devices, &l.b)) else { continue };
        let trunk = |i: &Interface| i.mode == Some(SwitchportMode::Trunk);
        if trunk(ia) && trunk(ib) {
            let (na, nb) = (ia.native_vlan.unwrap_or(1), ib.native_vlan.unwrap_or(1));
            if na != nb {
                out.push(Check { severity: "error".into(), device: da.hostname.clone(), line: Some(ia.line), message: format!("ネイティブ VLAN が一致しません: {} {} は {na}、{} {} は {nb} (native VLAN mismatch)", da.hostname, ia.name, db.hostname, ib.name) });
            }
            if let (Some(va), Some(vb)) = (carried(ia), carried(ib)) {
                let only_a: Vec<u16> = va.iter().filter(|v| !vb.contains(v)).copied().collect();
                let only_b: Vec<u16> = vb.iter().filter(|v| !va.contains(v)).copied().collect();
                for (d, i, other, only) in [(da, ia, db, only_a), (db, ib, da, only_b)] {
                    if !only.is_empty() {
                        let list: Vec<String> = only.iter().map(u16::to_string).collect();
                        out.push(Check { severity: "warning".into(), device: d.hostname.clone(), line: Some(i.line), message: format!("トランク {} {} だけで許可されている VLAN {} ({} 側では許可されていません) (VLAN allowed on one end only)", d.hostname, i.name, list.join(","), other.hostname) });
                    }
                }
            }
        } else if trunk(ia) != trunk(ib) && ia.mode.is_some() && ib.mode.is_some() && ia.mode != Some(SwitchportMode::Routed) && ib.mode != Some(SwitchportMode::Routed) {
            out.push(Check { severity: "warning".into(), device: da.hostname.clone(), line: Some(ia.line), message: format!("リンクの片側だけがトランクです: {} {} と {} {} (trunk/access mismatch)", da.hostname, ia.name, db.hostname, ib.name) });
        } else if ia.mode == Some(SwitchportMode::Access) && ib.mode == Some(SwitchportMode::Access) && ia.access_vlan.unwrap_or(1) != ib.access_vlan.unwrap_or(1) {
            out.push(Check { severity: "warning".into(), device: da.hostname.clone(), line: Some(ia.line), message: format!("アクセス VLAN が違います: {} {} と {} {} (access VLAN mismatch joins two VLANs)", da.hostname, ia.name, db.hostname, ib.name) });
        }
    }
    out
}

/// Per VLAN, the groups of devices that VLAN connects over the links
/// (union-find over (device, VLAN)): more than one group means the VLAN
/// is split.
pub fn l2_domains(devices: &[Device], links: &[Link]) -> BTreeMap<u16, Vec<Vec<String>>> {
    let mut parent: BTreeMap<(String, u16), (String, u16)> = BTreeMap::new();
    fn find(p: &mut BTreeMap<(String, u16), (String, u16)>, x: &(String, u16)) -> (String, u16) {
        let mut cur = x.clone();
        let mut steps = 0;
        while let Some(next) = p.get(&cur).cloned() {
            if next == cur || steps > 100_000 {
                break;
            }
            cur = next;
            steps += 1;
        }
        p.insert(x.clone(), cur.clone());
        cur
    }
    for d in devices {
        let mut vlans: Vec<u16> = d.vlans.iter().map(|v| v.id).collect();
        vlans.extend(d.interfaces.iter().filter_map(|i| i.access_vlan.or(i.svi_vlan)));
        for v in vlans {
            parent.entry((d.hostname.clone(), v)).or_insert((d.hostname.clone(), v));
        }
    }
    for l in links {
        let (Some((da, ia)), Some((db, ib))) = (end_iface(devices, &l.a), end_iface(devices, &l.b)) else { continue };
        let both: Vec<u16> = match (carried(ia), carried(ib)) {
            (None, None) => parent.keys().filter(|(d, _)| *d == da.hostname).map(|(_, v)| *v).collect(),
            (Some(x), None) | (None, Some(x)) => x,
            (Some(x), Some(y)) => x.into_iter().filter(|v| y.contains(v)).collect(),
        };
        for v in both {
            let ka = (da.hostname.clone(), v);
            let kb = (db.hostname.clone(), v);
            parent.entry(ka.clone()).or_insert(ka.clone());
            parent.entry(kb.clone()).or_insert(kb.clone());
            let (ra, rb) = (find(&mut parent, &ka), find(&mut parent, &kb));
            if ra != rb {
                parent.insert(ra, rb);
            }
        }
    }
    let keys: Vec<(String, u16)> = parent.keys().cloned().collect();
    let mut groups: BTreeMap<u16, BTreeMap<(String, u16), Vec<String>>> = BTreeMap::new();
    for k in keys {
        let root = find(&mut parent, &k);
        groups.entry(k.1).or_default().entry(root).or_default().push(k.0);
    }
    groups.into_iter().map(|(v, g)| (v, g.into_values().collect())).collect()
}
