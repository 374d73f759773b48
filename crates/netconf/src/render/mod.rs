//! Drawings and documents from an [`Analysis`] (issue §5): the nwdiag-style
//! logical diagram and a physical diagram as SVG ([`svg`]), Graphviz DOT
//! ([`dot`]), draw.io ([`drawio`]) and the Excel design documents
//! ([`xlsx`]).
//!
//! Everything here is pure and deterministic: the same analysis gives the
//! same bytes (sorted by name, no hash-map order), so outputs can be kept
//! in version control and diffed.

pub mod svg;
pub mod xlsx;

use crate::analysis::{Analysis, Prefix};
use crate::model::InterfaceKind;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

/// Text for XML content and attribute values: the five predefined
/// entities; line breaks and tabs as character references (an attribute
/// would otherwise turn them into spaces); other control characters (not
/// allowed in XML 1.0) dropped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Approximate rendered width in pixels at 12px: Latin half, CJK full width
/// (no font metrics available; boxes are sized from this).
pub(crate) fn text_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 7 } else { 13 }).sum()
}

/// How a link between two devices was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkKind {
    /// Both interfaces have an address in this subnet.
    Subnet(String),
    /// A cable: from LLDP/CDP, the cabling file, or a description naming
    /// the other device's hostname.
    Description,
}

/// A connection between two devices (device index into `Analysis::devices`,
/// interface name when known).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub a: (usize, Option<String>),
    pub b: (usize, Option<String>),
    pub kind: LinkKind,
}

impl Link {
    /// `Gi0/1 — Gi0/0`, with the subnet when there is one.
    pub fn label(&self) -> String {
        let ends = match (&self.a.1, &self.b.1) {
            (Some(x), Some(y)) => format!("{x} — {y}"),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => String::new(),
        };
        match &self.kind {
            LinkKind::Subnet(s) if ends.is_empty() => s.clone(),
            LinkKind::Subnet(s) => format!("{ends} ({s})"),
            LinkKind::Description => ends,
        }
    }
}

/// The physical links the analysis found (LLDP/CDP tables, the cabling
/// file, descriptions naming the peer; `links::merge` has already joined
/// the two ends of a cable), as links between device indices. Ends on
/// devices outside the analysed configs are left out.
pub fn description_links(a: &Analysis) -> Vec<Link> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, d) in a.devices.iter().enumerate() {
        // Two devices with one name: the first keeps it (the checks report duplicates elsewhere).
        index.entry(d.device.hostname.to_ascii_lowercase()).or_insert(i);
    }
    let mut out: Vec<Link> = a
        .links
        .iter()
        .filter_map(|l| {
            let x = (*index.get(&l.a.device.to_ascii_lowercase())?, l.a.port.clone());
            let y = (*index.get(&l.b.device.to_ascii_lowercase())?, l.b.port.clone());
            let (a, b) = if x.0 <= y.0 { (x, y) } else { (y, x) };
            (a.0 != b.0).then_some(Link { a, b, kind: LinkKind::Description })
        })
        .collect();
    out.sort();
    out
}

/// Layer-3 adjacencies as links (device names resolved to indices).
pub fn subnet_links(a: &Analysis) -> Vec<Link> {
    let index: BTreeMap<&str, usize> = a.devices.iter().enumerate().map(|(i, d)| (d.device.hostname.as_str(), i)).collect();
    let mut out: Vec<Link> = a
        .l3_edges
        .iter()
        .filter_map(|e| {
            let (x, y) = (*index.get(e.a.device.as_str())?, *index.get(e.b.device.as_str())?);
            Some(Link { a: (x, Some(e.a.interface.clone())), b: (y, Some(e.b.interface.clone())), kind: LinkKind::Subnet(e.subnet.clone()) })
        })
        .collect();
    out.sort();
    out
}

/// Links for the physical view: description links, then subnet links
/// between devices that no description link already joins on the same
/// interface (a shared /30 and a `to X` description are one cable).
pub fn physical_links(a: &Analysis) -> Vec<Link> {
    let mut out = description_links(a);
    // (device pair, one end) of every description link.
    type Cabled<'a> = ((usize, usize), (usize, &'a str));
    let mut cabled: HashSet<Cabled> = HashSet::new();
    for d in &out {
        for end in [&d.a, &d.b] {
            if let Some(i) = &end.1 {
                cabled.insert(((d.a.0.min(d.b.0), d.a.0.max(d.b.0)), (end.0, i.as_str())));
            }
        }
    }
    let same_cable = |l: &Link| {
        let pair = (l.a.0.min(l.b.0), l.a.0.max(l.b.0));
        [&l.a, &l.b].iter().any(|end| end.1.as_deref().is_some_and(|i| cabled.contains(&(pair, (end.0, i)))))
    };
    let extra: Vec<Link> = subnet_links(a).into_iter().filter(|l| !same_cable(l)).collect();
    out.extend(extra);
    out
}

/// Tokens of a hostname that describe the device rather than its place:
/// roles, and anything with a digit (models, floors, numbers).
fn role_token(t: &str) -> bool {
    const ROLES: [&str; 20] = ["SW", "L2SW", "L3SW", "RT", "RTR", "ROUTER", "FW", "UTM", "CORE", "DIST", "EDGE", "ACC", "AP", "GW", "FGT", "RTX", "CSW", "ASW", "DSW", "POE"];
    let u = t.to_ascii_uppercase();
    u.is_empty() || ROLES.contains(&u.as_str()) || t.chars().any(|c| c.is_ascii_digit())
}

/// The site a hostname suggests: its tokens (split on `-`, `_`, `.`)
/// without roles and numbered parts. `SW-HQ-2F` → `HQ`,
/// `MINAMI-JOSUI-FGT200F` → `MINAMI-JOSUI`, `BR1` → none.
pub fn guess_site(hostname: &str) -> Option<String> {
    let tokens: Vec<&str> = hostname.split(['-', '_', '.']).filter(|t| !role_token(t)).collect();
    (!tokens.is_empty()).then(|| tokens.join("-").to_ascii_uppercase())
}

/// Devices (indices) by site, sorted: from the given map (hostname → site)
/// when there is one, else guessed from hostnames; devices without a site
/// go to `その他`. With no site known for anyone, one group `ネットワーク`.
pub fn sites(a: &Analysis, map: Option<&BTreeMap<String, String>>) -> BTreeMap<String, Vec<usize>> {
    let site = |h: &str| match map {
        Some(m) => m.get(h).cloned(),
        None => guess_site(h),
    };
    let named: Vec<Option<String>> = a.devices.iter().map(|d| site(&d.device.hostname)).collect();
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let any = named.iter().any(Option::is_some);
    for (i, s) in named.into_iter().enumerate() {
        let key = match s {
            Some(s) => s,
            None if any => "その他".to_string(),
            None => "ネットワーク".to_string(),
        };
        out.entry(key).or_default().push(i);
    }
    for v in out.values_mut() {
        v.sort_by(|x, y| a.devices[*x].device.hostname.cmp(&a.devices[*y].device.hostname));
    }
    out
}

/// Every subnet with an address on an interface that is up, sorted, with
/// the (device index, interface, address) ends on it.
pub(crate) fn subnets(a: &Analysis) -> BTreeMap<Prefix, Vec<(usize, String, String)>> {
    let mut out: BTreeMap<Prefix, Vec<(usize, String, String)>> = BTreeMap::new();
    for (di, d) in a.devices.iter().enumerate() {
        for i in d.device.interfaces.iter().filter(|i| !i.shutdown) {
            for addr in &i.addresses {
                if let Some(p) = Prefix::parse(addr).filter(|p| p.len < 32) {
                    let host = addr.split('/').next().unwrap_or(addr).to_string();
                    out.entry(p).or_default().push((di, i.name.clone(), host));
                }
            }
        }
    }
    out
}

/// `VLAN 10 (jimu)` for a subnet some SVI's VLAN has, else nothing.
pub(crate) fn vlan_label(a: &Analysis, subnet: &str) -> Option<String> {
    let row = a.vlans.iter().find(|v| v.subnets.iter().any(|s| s == subnet))?;
    Some(match row.names.first() {
        Some(n) => format!("VLAN {} ({n})", row.id),
        None => format!("VLAN {}", row.id),
    })
}

/// A DOT double-quoted string's content.
fn dot_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            '\n' => "\\n".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Graphviz DOT: devices in one cluster per site, every layer-3 adjacency
/// as a solid edge labelled with interfaces and subnet, description links
/// dashed.
pub fn dot(a: &Analysis) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "graph network {{");
    let _ = writeln!(s, "  graph [fontname=\"IPAexGothic\", rankdir=TB];");
    let _ = writeln!(s, "  node [shape=box, style=rounded, fontname=\"IPAexGothic\"];");
    let _ = writeln!(s, "  edge [fontname=\"IPAexGothic\", fontsize=10];");
    for (k, (site, members)) in sites(a, None).iter().enumerate() {
        let _ = writeln!(s, "  subgraph cluster_{k} {{");
        let _ = writeln!(s, "    label=\"{}\";", dot_escape(site));
        for &i in members {
            let d = &a.devices[i].device;
            let _ = writeln!(s, "    \"{}\" [label=\"{}\\n{}\"];", dot_escape(&d.hostname), dot_escape(&d.hostname), dot_escape(d.vendor.label()));
        }
        let _ = writeln!(s, "  }}");
    }
    let name = |i: usize| dot_escape(&a.devices[i].device.hostname);
    for l in subnet_links(a) {
        let _ = writeln!(s, "  \"{}\" -- \"{}\" [label=\"{}\"];", name(l.a.0), name(l.b.0), dot_escape(&l.label()));
    }
    for l in description_links(a) {
        let _ = writeln!(s, "  \"{}\" -- \"{}\" [label=\"{}\", style=dashed];", name(l.a.0), name(l.b.0), dot_escape(&l.label()));
    }
    let _ = writeln!(s, "}}");
    s
}

/// draw.io (diagrams.net) file, uncompressed: one rounded box per device
/// laid out in a grid by site, one edge per link (description links dashed).
pub fn drawio(a: &Analysis) -> String {
    let mut cells = String::new();
    let (w, h, gap_x, gap_y) = (160, 60, 60, 100);
    let mut id_of = vec![String::new(); a.devices.len()];
    let mut y = 40;
    for (site, members) in sites(a, None) {
        let row_w = members.len() * (w + gap_x) + gap_x;
        let _ = writeln!(
            cells,
            r#"        <mxCell id="site-{y}" value="{}" style="rounded=1;dashed=1;fillColor=none;verticalAlign=top;align=left;spacingLeft=8;" vertex="1" parent="1"><mxGeometry x="20" y="{}" width="{row_w}" height="{}" as="geometry"/></mxCell>"#,
            xml_escape(&site),
            y - 30,
            h + 60
        );
        for (k, &i) in members.iter().enumerate() {
            let d = &a.devices[i].device;
            let id = format!("dev-{i}");
            let x = 20 + gap_x + k * (w + gap_x);
            let _ = writeln!(
                cells,
                r#"        <mxCell id="{id}" value="{}" style="rounded=1;whiteSpace=wrap;html=0;fillColor=#dae8fc;strokeColor=#6c8ebf;" vertex="1" parent="1"><mxGeometry x="{x}" y="{y}" width="{w}" height="{h}" as="geometry"/></mxCell>"#,
                xml_escape(&format!("{}\n{}", d.hostname, d.vendor.label())),
            );
            id_of[i] = id;
        }
        y += h + gap_y;
    }
    let links = subnet_links(a).into_iter().chain(description_links(a));
    for (n, l) in links.enumerate() {
        let dashed = if l.kind == LinkKind::Description { "dashed=1;" } else { "" };
        let _ = writeln!(
            cells,
            r#"        <mxCell id="link-{n}" value="{}" style="endArrow=none;html=0;{dashed}" edge="1" parent="1" source="{}" target="{}"><mxGeometry relative="1" as="geometry"/></mxCell>"#,
            xml_escape(&l.label()),
            id_of[l.a.0],
            id_of[l.b.0]
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mxfile host=\"lanward\" type=\"device\">\n  <diagram id=\"network\" name=\"ネットワーク構成\">\n    <mxGraphModel dx=\"1200\" dy=\"800\" grid=\"1\" gridSize=\"10\" guides=\"1\" page=\"0\" math=\"0\" shadow=\"0\">\n      <root>\n        <mxCell id=\"0\"/>\n        <mxCell id=\"1\" parent=\"0\"/>\n{cells}      </root>\n    </mxGraphModel>\n  </diagram>\n</mxfile>\n"
    )
}

/// Ports worth a row in a port map: physical ports and LAGs, plus PP and
/// tunnel interfaces (a router's lines out).
pub(crate) fn is_port(kind: InterfaceKind) -> bool {
    matches!(kind, InterfaceKind::Physical | InterfaceKind::Lag | InterfaceKind::Pp | InterfaceKind::Tunnel | InterfaceKind::Other)
}
