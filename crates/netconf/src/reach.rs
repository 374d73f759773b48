//! "Can 10.1.20.15 reach 10.0.5.10 on TCP 445?": walks the routes and
//! ACLs the configs define, hop by hop, and explains the path or where
//! the packet is dropped.

use crate::analysis::{routes, Prefix};
use crate::model::*;
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub device: String,
    pub ingress: Option<String>,
    pub egress: Option<String>,
    /// What happened here, in words.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub reachable: bool,
    pub hops: Vec<Hop>,
    /// Why it stops (when not reachable).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// `tcp`, `udp`, `icmp`, `ip`.
    pub proto: &'static str,
    pub port: Option<u16>,
}

/// The first entry of `acl` that matches, or `None` (implicit deny).
fn evaluate<'a>(acl: &'a Acl, f: &Flow) -> Option<&'a AclEntry> {
    acl.entries.iter().find(|e| {
        let proto = e.protocol == "ip" || e.protocol == "any" || e.protocol == f.proto;
        let within = |text: &str, ip: Ipv4Addr| Prefix::parse(text).is_some_and(|p| p.contains(u32::from(ip)));
        let ports = match (e.ports, f.port) {
            (None, _) => true,
            (Some((a, b)), Some(p)) => a <= p && p <= b,
            (Some(_), None) => false,
        };
        proto && within(&e.source, f.src) && within(&e.destination, f.dst) && ports
    })
}

/// Checks the ACLs applied on `iface` in `dir`; `Err(reason)` when dropped.
fn pass(d: &Device, iface: &Interface, dir: &str, f: &Flow) -> Result<Option<String>, String> {
    let mut note = None;
    for (name, _) in iface.acls.iter().filter(|(_, d)| d == dir) {
        let Some(acl) = d.acls.iter().find(|a| &a.name == name) else { continue };
        match evaluate(acl, f) {
            Some(e) if e.action == "permit" => note = Some(format!("ACL {name} ({dir}) の {} 行目で許可", e.line)),
            Some(e) => return Err(format!("{} の {} で ACL {name} ({dir}) の {} 行目「{}」により破棄", d.hostname, iface.name, e.line, e.text.trim())),
            None => return Err(format!("{} の {} で ACL {name} ({dir}) のどの行にも一致せず破棄 (implicit deny)", d.hostname, iface.name)),
        }
    }
    Ok(note)
}

fn iface_with_address(devices: &[Device], ip: Ipv4Addr) -> Option<(usize, usize)> {
    for (di, d) in devices.iter().enumerate() {
        for (ii, i) in d.interfaces.iter().enumerate() {
            if !i.shutdown && i.addresses.iter().any(|a| a.split('/').next() == Some(&ip.to_string())) {
                return Some((di, ii));
            }
        }
    }
    None
}

/// The interface of `d` whose subnet contains `ip`.
fn connected_iface(d: &Device, ip: Ipv4Addr) -> Option<usize> {
    d.interfaces.iter().position(|i| !i.shutdown && i.addresses.iter().filter_map(|a| Prefix::parse(a)).any(|p| p.len < 32 && p.contains(u32::from(ip))))
}

pub fn reach(devices: &[Device], f: &Flow) -> Reach {
    let mut hops = Vec::new();
    let stop = |hops: Vec<Hop>, reason: String| Reach { reachable: false, hops, reason: Some(reason) };
    // The first hop: the gateway of the source's subnet.
    let Some((mut di, mut ingress)) = devices.iter().enumerate().find_map(|(di, d)| connected_iface(d, f.src).map(|ii| (di, ii))) else {
        return stop(hops, format!("{} を収容するサブネットがどの機器にもありません (no device has the source's subnet)", f.src));
    };
    for _ in 0..32 {
        let d = &devices[di];
        let inif = &d.interfaces[ingress];
        let mut notes = Vec::new();
        match pass(d, inif, "in", f) {
            Ok(n) => notes.extend(n),
            Err(reason) => {
                hops.push(Hop { device: d.hostname.clone(), ingress: Some(inif.name.clone()), egress: None, note: reason.clone() });
                return stop(hops, reason);
            }
        }
        // Longest prefix match over the config's own table.
        let table = routes(d);
        let best = table
            .iter()
            .filter(|r| r.protocol == "connected" || r.protocol == "static")
            .filter_map(|r| Prefix::parse(&r.prefix).filter(|p| p.contains(u32::from(f.dst))).map(|p| (p.len, r)))
            .max_by_key(|(len, r)| (*len, r.protocol == "connected"));
        let Some((_, route)) = best else {
            let reason = format!("{} に {} への経路がありません (no route)", d.hostname, f.dst);
            hops.push(Hop { device: d.hostname.clone(), ingress: Some(inif.name.clone()), egress: None, note: reason.clone() });
            return stop(hops, reason);
        };
        let (egress, next_hop) = match route.protocol.as_str() {
            "connected" => (route.interface.as_deref().and_then(|n| d.interfaces.iter().position(|i| i.name == n)), None),
            _ => {
                let nh: Option<Ipv4Addr> = route.next_hop.as_deref().and_then(|h| h.parse().ok());
                let out = nh.and_then(|h| connected_iface(d, h)).or_else(|| route.interface.as_deref().and_then(|n| d.interfaces.iter().position(|i| i.name == n)));
                (out, nh)
            }
        };
        let Some(egress) = egress else {
            let reason = format!("{} の経路 {} の出口が見つかりません", d.hostname, route.prefix);
            hops.push(Hop { device: d.hostname.clone(), ingress: Some(inif.name.clone()), egress: None, note: reason.clone() });
            return stop(hops, reason);
        };
        let outif = &d.interfaces[egress];
        match pass(d, outif, "out", f) {
            Ok(n) => notes.extend(n),
            Err(reason) => {
                hops.push(Hop { device: d.hostname.clone(), ingress: Some(inif.name.clone()), egress: Some(outif.name.clone()), note: reason.clone() });
                return stop(hops, reason);
            }
        }
        notes.push(format!("経路 {} ({})", route.prefix, route.protocol));
        hops.push(Hop { device: d.hostname.clone(), ingress: Some(inif.name.clone()), egress: Some(outif.name.clone()), note: notes.join("; ") });
        let Some(nh) = next_hop else {
            // Delivered onto the destination's subnet.
            return Reach { reachable: true, hops, reason: None };
        };
        match iface_with_address(devices, nh) {
            Some((ndi, nii)) => {
                di = ndi;
                ingress = nii;
            }
            None => {
                let reason = format!("次ホップ {nh} の機器の設定がありません (next hop outside the analysed configs)");
                return stop(hops, reason);
            }
        }
    }
    stop(hops, "経路がループしています (routing loop)".into())
}
