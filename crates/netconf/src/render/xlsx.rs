//! Excel documents: the network design document (ネットワーク基本設計書)
//! as municipal IT sections hand it to vendors and auditors, and the port
//! map alone. Every table sheet has a bold header row, an autofilter,
//! a frozen header and column widths from its content.

use super::{description_links, is_port, subnet_links, Link};
use crate::analysis::Analysis;
use crate::model::SwitchportMode;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, Worksheet};
use std::collections::HashMap;

pub use rust_xlsxwriter::XlsxError;

/// A cell: numbers stay numbers so filters and sorts work in Excel.
enum Cell {
    Text(String),
    Number(f64),
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

fn num(n: impl Into<f64>) -> Cell {
    Cell::Number(n.into())
}

/// Display width in Excel's character units (full-width counts two).
fn width(s: &str) -> usize {
    s.lines().map(|l| l.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()).max().unwrap_or(0)
}

fn header_format() -> Format {
    Format::new().set_bold().set_background_color(Color::RGB(0xDDEBF7)).set_border_bottom(FormatBorder::Thin)
}

/// One table sheet: headers, rows, and the usual finish.
fn table(book: &mut Workbook, name: &str, headers: &[&str], rows: Vec<Vec<Cell>>) -> Result<(), XlsxError> {
    let sheet: &mut Worksheet = book.add_worksheet();
    sheet.set_name(name)?;
    let bold = header_format();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let last_row = rows.len();
    for (r, row) in rows.into_iter().enumerate() {
        // Excel's row limit is about a million; u32 holds it.
        let r = u32::try_from(r + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (c, cell) in row.into_iter().enumerate() {
            let col = c as u16;
            let w = match cell {
                Cell::Text(s) if s.is_empty() => 0,
                Cell::Text(s) => {
                    sheet.write_string(r, col, &s)?;
                    width(&s)
                }
                Cell::Number(n) => {
                    sheet.write_number(r, col, n)?;
                    n.to_string().len()
                }
            };
            if let Some(m) = widths.get_mut(c) {
                *m = (*m).max(w);
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w).clamp(6, 60) as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let last_col = (headers.len().max(1) - 1) as u16;
    let last_row = u32::try_from(last_row).map_err(|_| XlsxError::RowColumnLimitError)?;
    sheet.autofilter(0, 0, last_row, last_col)?;
    Ok(())
}

/// VLAN IDs as ranges: `2-4,10`.
fn vlan_ranges(ids: &[u16]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut k = 0;
    while k < ids.len() {
        let start = ids[k];
        let mut end = start;
        while k + 1 < ids.len() && ids[k + 1] == end.saturating_add(1) {
            k += 1;
            end = ids[k];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        k += 1;
    }
    parts.join(",")
}

fn severity_ja(s: &str) -> &str {
    match s {
        "error" => "重大",
        "warning" => "警告",
        "info" => "情報",
        other => other,
    }
}

/// Today in JST (UTC+9, no DST), `YYYY-MM-DD`, from the system clock.
fn today_jst() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 9 * 3600;
    // Civil-from-days (Howard Hinnant's algorithm): no date crate needed here.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (device index, interface) → the far ends, from links (both directions),
/// without repeats.
fn far_ends(a: &Analysis) -> HashMap<(usize, String), Vec<String>> {
    let mut out: HashMap<(usize, String), Vec<String>> = HashMap::new();
    let name = |i: usize| a.devices[i].device.hostname.clone();
    let mut add = |l: &Link| {
        let show = |end: &(usize, Option<String>)| match &end.1 {
            Some(i) => format!("{} {i}", name(end.0)),
            None => name(end.0),
        };
        for (here, there) in [(&l.a, &l.b), (&l.b, &l.a)] {
            if let Some(i) = &here.1 {
                let v = out.entry((here.0, i.clone())).or_default();
                let far = show(there);
                if !v.contains(&far) {
                    v.push(far);
                }
            }
        }
    };
    // Description links first: they name the cable; subnets may be shared by many.
    for l in description_links(a).iter().chain(subnet_links(a).iter()) {
        add(l);
    }
    out
}

fn port_rows(a: &Analysis) -> Vec<Vec<Cell>> {
    let ends = far_ends(a);
    let mut rows = Vec::new();
    for (di, d) in a.devices.iter().enumerate() {
        for i in d.device.interfaces.iter().filter(|i| is_port(i.kind)) {
            let mode = match i.mode {
                Some(SwitchportMode::Access) => "access",
                Some(SwitchportMode::Trunk) => "trunk",
                Some(SwitchportMode::Routed) => "routed",
                None => "",
            };
            let mut vlan = match i.mode {
                Some(SwitchportMode::Trunk) if i.trunk_all => "all".to_string(),
                Some(SwitchportMode::Trunk) => vlan_ranges(&i.trunk_vlans),
                _ => i.access_vlan.map(|v| v.to_string()).unwrap_or_default(),
            };
            if let (Some(SwitchportMode::Trunk), Some(n)) = (i.mode, i.native_vlan) {
                vlan.push_str(&format!(" (native {n})"));
            }
            let mut desc = i.description.clone().unwrap_or_default();
            if i.shutdown {
                desc = if desc.is_empty() { "(shutdown)".into() } else { format!("{desc} (shutdown)") };
            }
            if let Some(lag) = &i.lag {
                desc = if desc.is_empty() { format!("LAG {lag}") } else { format!("{desc} / LAG {lag}") };
            }
            let far = ends.get(&(di, i.name.clone())).map(|v| v.join(", ")).unwrap_or_default();
            rows.push(vec![d.device.hostname.as_str().into(), i.name.as_str().into(), mode.into(), vlan.into(), desc.into(), far.into()]);
        }
    }
    rows
}

const PORT_HEADERS: [&str; 6] = ["機器", "ポート", "モード", "VLAN", "説明", "接続先"];

/// The port map alone (ポートマップ.xlsx): every physical port, LAG and
/// line interface with its mode, VLANs, description and far end.
pub fn port_map(a: &Analysis) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    table(&mut book, "ポートマップ", &PORT_HEADERS, port_rows(a))?;
    book.save_to_buffer()
}

/// The design document dated today (JST).
pub fn design_document(a: &Analysis) -> Result<Vec<u8>, XlsxError> {
    design_document_dated(a, &today_jst())
}

/// The design document (ネットワーク基本設計書) with the given date on the
/// cover: 表紙, VLAN一覧, IPアドレス, ルーティング, ACL, ポートマップ, 指摘事項.
pub fn design_document_dated(a: &Analysis, date: &str) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    cover(&mut book, a, date)?;

    let vlans = a
        .vlans
        .iter()
        .map(|v| {
            let mut devices: Vec<&str> = v.defined_on.iter().chain(v.gateways.iter().map(|g| &g.0)).chain(v.access_ports.iter().map(|p| &p.0)).chain(v.trunk_ports.iter().map(|p| &p.0)).map(String::as_str).collect();
            devices.sort_unstable();
            devices.dedup();
            let gateways: Vec<String> = v.gateways.iter().map(|(d, ip)| format!("{ip} ({d})")).collect();
            let trunks: Vec<String> = v.trunk_ports.iter().map(|(d, p)| format!("{d} {p}")).collect();
            vec![num(v.id), v.names.join(", ").into(), v.subnets.join(", ").into(), gateways.join(", ").into(), devices.join(", ").into(), num(v.access_ports.len() as u32), trunks.join(", ").into()]
        })
        .collect();
    table(&mut book, "VLAN一覧", &["ID", "名称", "サブネット", "ゲートウェイ", "機器", "アクセスポート数", "トランク"], vlans)?;

    let mut addresses = Vec::new();
    for d in &a.devices {
        for i in &d.device.interfaces {
            for addr in &i.addresses {
                let subnet = crate::analysis::Prefix::parse(addr).map(|p| p.to_string()).unwrap_or_default();
                addresses.push(vec![d.device.hostname.as_str().into(), i.name.as_str().into(), addr.as_str().into(), subnet.into(), i.description.clone().unwrap_or_default().into()]);
            }
        }
    }
    table(&mut book, "IPアドレス", &["機器", "インターフェース", "アドレス", "サブネット", "説明"], addresses)?;

    let mut routes = Vec::new();
    for d in &a.devices {
        for r in &d.routes {
            routes.push(vec![d.device.hostname.as_str().into(), r.prefix.as_str().into(), r.protocol.as_str().into(), r.next_hop.clone().unwrap_or_default().into(), r.interface.clone().unwrap_or_default().into()]);
        }
    }
    table(&mut book, "ルーティング", &["機器", "宛先", "種別", "ネクストホップ", "インターフェース"], routes)?;

    let mut acls = Vec::new();
    for d in &a.devices {
        for acl in &d.device.acls {
            let applied: Vec<String> = d.device.interfaces.iter().flat_map(|i| i.acls.iter().filter(|(n, _)| *n == acl.name).map(move |(_, dir)| format!("{} {dir}", i.name))).collect();
            for (k, e) in acl.entries.iter().enumerate() {
                let ports = match e.ports {
                    None => "any".to_string(),
                    Some((x, y)) if x == y => x.to_string(),
                    Some((x, y)) => format!("{x}-{y}"),
                };
                acls.push(vec![d.device.hostname.as_str().into(), acl.name.as_str().into(), num((k + 1) as u32), e.action.as_str().into(), e.protocol.as_str().into(), e.source.as_str().into(), e.destination.as_str().into(), ports.into(), applied.join(", ").into()]);
            }
        }
    }
    table(&mut book, "ACL", &["機器", "ACL", "順番", "動作", "プロトコル", "送信元", "宛先", "ポート", "適用先"], acls)?;

    table(&mut book, "ポートマップ", &PORT_HEADERS, port_rows(a))?;

    let mut findings: Vec<Vec<Cell>> = a
        .checks
        .iter()
        .map(|c| vec![severity_ja(&c.severity).into(), c.device.as_str().into(), c.line.map(|l| num(l as f64)).unwrap_or_else(|| "".into()), c.message.as_str().into()])
        .collect();
    // Files that could not be read are findings too: the document is incomplete without them.
    findings.extend(a.errors.iter().map(|e| vec!["重大".into(), e.file.as_str().into(), "".into(), e.message.as_str().into()]));
    table(&mut book, "指摘事項", &["重要度", "機器", "行", "内容"], findings)?;

    book.save_to_buffer()
}

fn cover(book: &mut Workbook, a: &Analysis, date: &str) -> Result<(), XlsxError> {
    let sheet = book.add_worksheet();
    sheet.set_name("表紙")?;
    let title = Format::new().set_bold().set_font_size(20);
    let label = Format::new().set_bold();
    sheet.set_column_width(0, 20)?;
    sheet.set_column_width(1, 60)?;
    sheet.write_string_with_format(1, 0, "ネットワーク基本設計書", &title)?;
    let subnets = super::subnets(a).len();
    let facts: [(&str, String); 7] = [
        ("作成日", date.to_string()),
        ("機器台数", a.devices.len().to_string()),
        ("VLAN 数", a.vlans.len().to_string()),
        ("サブネット数", subnets.to_string()),
        ("L3 隣接数", a.l3_edges.len().to_string()),
        ("指摘事項", a.checks.len().to_string()),
        ("読めなかったファイル", a.errors.len().to_string()),
    ];
    for (k, (l, v)) in facts.iter().enumerate() {
        let r = 3 + k as u32;
        sheet.write_string_with_format(r, 0, *l, &label)?;
        sheet.write_string(r, 1, v)?;
    }
    let mut r = 3 + facts.len() as u32 + 1;
    sheet.write_string_with_format(r, 0, "対象機器", &label)?;
    for d in &a.devices {
        let line = format!("{} ({}, {})", d.device.hostname, d.device.vendor.label(), d.device.file);
        sheet.write_string(r, 1, &line)?;
        r += 1;
    }
    sheet.write_string(r + 1, 0, "lanward により設定ファイルから自動生成")?;
    Ok(())
}
