//! SVG diagrams. [`logical`] is in the nwdiag style operators in Japan
//! know from 設計書: one horizontal band per subnet, devices as boxes in
//! columns, a vertical line from each device to every band it has an
//! address on, labelled with the address. [`physical`] groups devices by
//! site and draws the links between them.
//!
//! Layout is computed, not solved: sorted orders and fixed grid steps, so
//! the same analysis always draws the same picture. Text widths are
//! estimated (see `text_width`); boxes are sized from them.

use super::{physical_links, sites, subnets, text_width, vlan_label, xml_escape, LinkKind};
use crate::analysis::Analysis;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A subnet band: subnet, VLAN label, and the (device, interface, address) ends on it.
type Band<'a> = (String, Option<String>, &'a Vec<(usize, String, String)>);
/// A site frame: name, members, x, y, width, height.
type Frame<'a> = (&'a String, &'a Vec<usize>, usize, usize, usize, usize);

const FONT: &str = "IPAexGothic, 'Noto Sans CJK JP', sans-serif";
const BAND_COLOURS: [&str; 6] = ["#4f81bd", "#9bbb59", "#f79646", "#8064a2", "#4bacc6", "#c0504d"];

fn open(width: usize, height: usize, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{}" font-size="12">"#,
        xml_escape(FONT)
    );
    let _ = writeln!(s, r#"<title>{}</title>"#, xml_escape(title));
    let _ = writeln!(s, r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##);
    let _ = writeln!(s, r#"<text x="16" y="28" font-size="16" font-weight="bold">{}</text>"#, xml_escape(title));
    s
}

/// A device box's hover text: vendor, file and every interface with its
/// addresses and description (the picture itself stays uncluttered).
fn device_tooltip(a: &Analysis, i: usize) -> String {
    let d = &a.devices[i].device;
    let mut t = format!("{} ({}, {})", d.hostname, d.vendor.label(), d.file);
    for iface in &d.interfaces {
        let _ = write!(t, "\n{}", iface.name);
        if !iface.addresses.is_empty() {
            let _ = write!(t, " {}", iface.addresses.join(", "));
        }
        if let Some(desc) = &iface.description {
            let _ = write!(t, " — {desc}");
        }
        if iface.shutdown {
            t.push_str(" (shutdown)");
        }
    }
    t
}

/// A rounded box with hostname and vendor, centred at (cx, top + h/2).
fn device_box(s: &mut String, a: &Analysis, i: usize, cx: usize, top: usize, w: usize) {
    let d = &a.devices[i].device;
    let x = cx.saturating_sub(w / 2);
    let _ = writeln!(s, r#"<g class="device" id="device-{i}">"#);
    let _ = writeln!(s, r#"<title>{}</title>"#, xml_escape(&device_tooltip(a, i)));
    let _ = writeln!(s, r##"<rect x="{x}" y="{top}" width="{w}" height="44" rx="6" fill="#eef3fa" stroke="#2f4f7f" stroke-width="1.5"/>"##);
    let _ = writeln!(s, r#"<text x="{cx}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#, top + 19, xml_escape(&d.hostname));
    let _ = writeln!(s, r##"<text x="{cx}" y="{}" text-anchor="middle" font-size="10" fill="#555555">{}</text>"##, top + 35, xml_escape(d.vendor.label()));
    let _ = writeln!(s, "</g>");
}

fn box_width(a: &Analysis, i: usize) -> usize {
    let d = &a.devices[i].device;
    (text_width(&d.hostname) + 24).max(text_width(d.vendor.label()) * 6 / 7 + 20).max(120)
}

/// The logical (layer-3) diagram: bands per subnet, sorted by address;
/// devices in columns ordered by the first band they are on, each box
/// just below that band; a dot marks each connection so a line that only
/// passes a band is not read as one.
pub fn logical(a: &Analysis) -> String {
    let nets = subnets(a);
    let bands: Vec<Band> = nets.iter().map(|(p, ends)| (p.to_string(), vlan_label(a, &p.to_string()), ends)).collect();
    let n = a.devices.len();
    // Per device: band index → addresses on it.
    let mut on: Vec<BTreeMap<usize, Vec<String>>> = vec![BTreeMap::new(); n];
    for (b, (_, _, ends)) in bands.iter().enumerate() {
        for (d, _, addr) in ends.iter() {
            if let Some(m) = on.get_mut(*d) {
                m.entry(b).or_default().push(addr.clone());
            }
        }
    }
    let first = |d: usize| on[d].keys().next().copied().unwrap_or(bands.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|x, y| first(*x).cmp(&first(*y)).then_with(|| a.devices[*x].device.hostname.cmp(&a.devices[*y].device.hostname)));

    let label_w = bands.iter().map(|(s, v, _)| text_width(s).max(v.as_deref().map_or(0, text_width))).max().unwrap_or(0).max(120) + 24;
    let col_w: Vec<usize> = order
        .iter()
        .map(|&d| {
            let addr = on[d].values().map(|v| text_width(&v.join(", "))).max().unwrap_or(0);
            (box_width(a, d) + 30).max(2 * (addr + 12))
        })
        .collect();
    // A band with boxes hanging below it needs room for them; one without
    // only for the address labels.
    let top = 70usize;
    let mut ys = Vec::with_capacity(bands.len() + 1);
    let mut y = top;
    let hangs: std::collections::BTreeSet<usize> = order.iter().map(|&d| first(d)).collect();
    for b in 0..=bands.len() {
        ys.push(y);
        y += if hangs.contains(&b) { 120 } else { 50 };
    }
    let band_y = |b: usize| ys.get(b).copied().unwrap_or(top);
    let width = label_w + col_w.iter().sum::<usize>() + 24;
    let last_row = order.iter().map(|&d| first(d)).max().unwrap_or(0);
    let height = band_y(last_row) + 38 + 44 + 30;

    let title = format!("論理構成図 (機器 {} 台, サブネット {} 個)", n, bands.len());
    let mut s = open(width, height.max(top + 40), &title);
    // Bands first so the device lines and boxes draw over them.
    for (b, (subnet, vlan, _)) in bands.iter().enumerate() {
        let y = band_y(b);
        let colour = BAND_COLOURS[b % BAND_COLOURS.len()];
        let _ = writeln!(s, r#"<g class="network" id="network-{b}">"#);
        let _ = writeln!(s, r#"<rect x="{label_w}" y="{}" width="{}" height="8" rx="3" fill="{colour}"/>"#, y - 4, width - label_w - 12);
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#, label_w - 8, y + 4, xml_escape(subnet));
        if let Some(v) = vlan {
            let _ = writeln!(s, r##"<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#333333">{}</text>"##, label_w - 8, y + 19, xml_escape(v));
        }
        let _ = writeln!(s, "</g>");
    }
    let mut x = label_w;
    for (k, &d) in order.iter().enumerate() {
        let cx = x + col_w[k] / 2;
        x += col_w[k];
        let row = first(d);
        let box_top = band_y(row) + 38;
        if let (Some(&lo), Some(&hi)) = (on[d].keys().next(), on[d].keys().next_back()) {
            let bottom = band_y(hi).max(box_top);
            let _ = writeln!(s, r##"<line x1="{cx}" y1="{}" x2="{cx}" y2="{bottom}" stroke="#333333" stroke-width="1.5"/>"##, band_y(lo));
            for (b, addrs) in &on[d] {
                let y = band_y(*b);
                let _ = writeln!(s, r##"<circle cx="{cx}" cy="{y}" r="4" fill="#333333"/>"##);
                // Below the band for the one the box hangs from, above it for the rest.
                let ty = if *b == row { y + 20 } else { y - 8 };
                let _ = writeln!(s, r#"<text x="{}" y="{ty}" font-size="11">{}</text>"#, cx + 6, xml_escape(&addrs.join(", ")));
            }
        }
        device_box(&mut s, a, d, cx, box_top, box_width(a, d));
    }
    s.push_str("</svg>\n");
    s
}

/// The physical diagram: one dashed frame per site (from `site_map`,
/// hostname → site, or guessed from hostnames), devices in a grid inside,
/// and links between box centres: solid for shared subnets, dashed for
/// links found in interface descriptions, labelled with the ports.
pub fn physical(a: &Analysis, site_map: Option<&BTreeMap<String, String>>) -> String {
    let groups = sites(a, site_map);
    let (cell_w, cell_h, pad, head) = (250usize, 140usize, 20usize, 40usize);
    let per_row = (groups.len() as f64).sqrt().ceil().max(1.0) as usize;
    let mut frames: Vec<Frame> = Vec::new();
    let mut centre: Vec<(usize, usize)> = vec![(0, 0); a.devices.len()];
    let (mut x, mut y, mut row_h, mut width) = (pad, 60usize, 0usize, 0usize);
    for (k, (name, members)) in groups.iter().enumerate() {
        if k > 0 && k % per_row == 0 {
            x = pad;
            y += row_h + pad;
            row_h = 0;
        }
        let cols = members.len().clamp(1, 3);
        let rows = members.len().div_ceil(cols).max(1);
        let w = (cols * cell_w).max(text_width(name) + 40);
        let h = head + rows * cell_h;
        for (m, &d) in members.iter().enumerate() {
            centre[d] = (x + (m % cols) * cell_w + cell_w / 2, y + head + (m / cols) * cell_h + cell_h / 2 - 10);
        }
        frames.push((name, members, x, y, w, h));
        x += w + pad;
        width = width.max(x);
        row_h = row_h.max(h);
    }
    let height = y + row_h + pad;
    let title = format!("物理構成図 (機器 {} 台, 拠点 {} 箇所)", a.devices.len(), groups.len());
    let width = width.max(text_width(&title) + 40);
    let mut s = open(width, height.max(100), &title);
    for (name, _, x, y, w, h) in &frames {
        let _ = writeln!(s, r##"<g class="site"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="#f7f7f7" stroke="#888888" stroke-dasharray="6 4"/>"##);
        let _ = writeln!(s, r#"<text x="{}" y="{}" font-weight="bold">{}</text></g>"#, x + 10, y + 20, xml_escape(name));
    }
    let links = physical_links(a);
    for l in &links {
        let ((x1, y1), (x2, y2)) = (centre[l.a.0], centre[l.b.0]);
        let dash = if l.kind == LinkKind::Description { r#" stroke-dasharray="5 3""# } else { "" };
        let _ = writeln!(s, r##"<line class="link" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#c0504d" stroke-width="2"{dash}><title>{}</title></line>"##, xml_escape(&l.label()));
    }
    for (_, members, ..) in &frames {
        for &d in members.iter() {
            let (cx, cy) = centre[d];
            device_box(&mut s, a, d, cx, cy - 22, box_width(a, d).min(cell_w - 16));
        }
    }
    // Port names last, haloed in white, just outside each end's box, so
    // lines and boxes do not hide them; the full label is the line's tooltip.
    for l in &links {
        let ((x1, y1), (x2, y2)) = (centre[l.a.0], centre[l.b.0]);
        for (end, from, to) in [(&l.a, (x1, y1), (x2, y2)), (&l.b, (x2, y2), (x1, y1))] {
            let Some(port) = &end.1 else { continue };
            let half_w = box_width(a, end.0).min(cell_w - 16) as f64 / 2.0;
            let (x, y) = beside_box(from, to, half_w);
            let _ = writeln!(
                s,
                r##"<text x="{x:.0}" y="{:.0}" text-anchor="middle" font-size="10" stroke="#ffffff" stroke-width="3" paint-order="stroke" fill="#222222">{}</text>"##,
                y + 4.0,
                xml_escape(&short_port(port))
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Where a port label goes: on the line from `from` towards `to`, just
/// past the edge of the box (half width `half_w`, half height 22) at `from`.
fn beside_box(from: (usize, usize), to: (usize, usize), half_w: f64) -> (f64, f64) {
    let (x1, y1) = (from.0 as f64, from.1 as f64);
    let (dx, dy) = (to.0 as f64 - x1, to.1 as f64 - y1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return (x1, y1 + 34.0);
    }
    let exit = (if dx.abs() > 0.0 { half_w / dx.abs() } else { f64::INFINITY }).min(if dy.abs() > 0.0 { 22.0 / dy.abs() } else { f64::INFINITY });
    // Far enough out to clear the box, never past the middle of the line.
    let t = (exit + 16.0 / len).min(0.45);
    (x1 + dx * t, y1 + dy * t)
}

/// Cisco-style short port names for labels (`GigabitEthernet1/0/1` →
/// `Gi1/0/1`); other names as they are.
fn short_port(name: &str) -> String {
    const SHORT: [(&str, &str); 8] = [
        ("HundredGigE", "Hu"),
        ("FortyGigabitEthernet", "Fo"),
        ("TwentyFiveGigE", "Twe"),
        ("TenGigabitEthernet", "Te"),
        ("GigabitEthernet", "Gi"),
        ("FastEthernet", "Fa"),
        ("Port-channel", "Po"),
        ("Ethernet", "Eth"),
    ];
    for (long, short) in SHORT {
        if let Some(rest) = name.strip_prefix(long) {
            return format!("{short}{}", rest.trim_start());
        }
    }
    name.to_string()
}
