//! Renderers (issue §5) on the real Cisco samples: well-formed SVG with
//! every subnet band and device, escaped text, every layer-3 edge in DOT,
//! and xlsx files that open with the documented sheets.

use lanward_netconf::analysis::{self, Analysis, Prefix};
use lanward_netconf::render::{self, svg, xlsx};
use lanward_netconf::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

fn samples() -> Vec<Device> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    let mut files: Vec<String> = ["BR1", "BR2", "LAN-RTR", "WAN-RTR"].iter().map(|r| format!("ios_basic_vrrp/{r}/show_running-config.txt")).collect();
    files.push("cisco_c9200l/show_running-config.txt".into());
    files.iter().map(|f| parse_config(f, &std::fs::read(base.join(f)).unwrap()).unwrap()).collect()
}

fn analysed(devices: Vec<Device>) -> Analysis {
    analysis::analyse(devices, vec![])
}

/// Parses the whole document; panics on the first XML error.
fn assert_well_formed(xml: &str) {
    let mut r = quick_xml::Reader::from_str(xml);
    r.config_mut().check_end_names = true;
    let mut depth = 0i32;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::GeneralRef(e)) => {
                // Only entities XML predefines (no DTD here).
                let name = e.xml10_content().to_string();
                assert!(["lt", "gt", "amp", "quot", "apos"].contains(&name.as_str()) || e.is_char_ref(), "entity &{name};");
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}", r.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "unclosed elements");
}

fn all_subnets(a: &Analysis) -> BTreeSet<String> {
    a.devices
        .iter()
        .flat_map(|d| d.device.interfaces.iter().filter(|i| !i.shutdown).flat_map(|i| i.addresses.iter()))
        .filter_map(|x| Prefix::parse(x).filter(|p| p.len < 32))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn logical_svg_has_a_band_per_subnet_and_every_device() {
    let a = analysed(samples());
    let s = svg::logical(&a);
    assert_well_formed(&s);
    assert!(s.contains("IPAexGothic, &apos;Noto Sans CJK JP&apos;, sans-serif"), "font fallback");
    let subnets = all_subnets(&a);
    assert!(subnets.len() >= 5, "{subnets:?}");
    for net in &subnets {
        assert!(s.contains(&format!(">{net}</text>")), "band {net}");
    }
    assert_eq!(s.matches(r#"class="network""#).count(), subnets.len());
    for d in &a.devices {
        assert!(s.contains(&format!(">{}</text>", d.device.hostname)), "device {}", d.device.hostname);
        // Every address is written on its device's line.
        for i in d.device.interfaces.iter().filter(|i| !i.shutdown) {
            for addr in i.addresses.iter().filter(|x| Prefix::parse(x).is_some_and(|p| p.len < 32)) {
                assert!(s.contains(addr.split('/').next().unwrap()), "{addr}");
            }
        }
    }
    // The switch's SVI subnet is labelled with its VLAN.
    assert!(s.contains(">10.42.11.0/24</text>") && s.contains(">VLAN 2"), "VLAN label");
    // Deterministic.
    assert_eq!(s, svg::logical(&analysed(samples())));
}

#[test]
fn svg_escapes_text_from_the_configs() {
    let mut devices = samples();
    devices[0].interfaces[0].description = Some("to <core> & \"WAN\"".into());
    devices[0].hostname = "BR1<&>".into();
    let a = analysed(devices);
    for s in [svg::logical(&a), svg::physical(&a, None)] {
        assert_well_formed(&s);
        assert!(s.contains("to &lt;core&gt; &amp; &quot;WAN&quot;"));
        assert!(s.contains("BR1&lt;&amp;&gt;"));
        assert!(!s.contains("<core>"));
    }
    assert_well_formed(&render::drawio(&a));
}

#[test]
fn physical_svg_groups_by_site_and_finds_description_links() {
    let mut devices = samples();
    devices[0].hostname = "SW-HQ-2F".into();
    devices[1].hostname = "SW-HQ-CORE".into();
    devices[2].hostname = "RT-KITA-01".into();
    devices[0].interfaces[0].description = Some("uplink SW-HQ-CORE Gi1/0/1".into());
    let a = analysed(devices);
    let links = render::description_links(&a);
    assert_eq!(links.len(), 1, "{links:?}");
    let names: BTreeSet<&str> = [links[0].a.0, links[0].b.0].iter().map(|i| a.devices[*i].device.hostname.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["SW-HQ-2F", "SW-HQ-CORE"]));
    let s = svg::physical(&a, None);
    assert_well_formed(&s);
    assert!(s.contains(">HQ</text>") && s.contains(">KITA</text>"), "guessed sites");
    assert!(s.contains(r#"stroke-dasharray="5 3""#), "description link drawn dashed");
    // A given map wins over guessing.
    let map: BTreeMap<String, String> = a.devices.iter().map(|d| (d.device.hostname.clone(), "本庁舎".to_string())).collect();
    let s = svg::physical(&a, Some(&map));
    assert!(s.contains(">本庁舎</text>") && !s.contains(">HQ</text>"));
    assert_eq!(s.matches(r#"class="site""#).count(), 1);
}

#[test]
fn site_guess_drops_roles_and_numbers() {
    assert_eq!(render::guess_site("SW-HQ-2F").as_deref(), Some("HQ"));
    assert_eq!(render::guess_site("MINAMI-JOSUI-FGT200F").as_deref(), Some("MINAMI-JOSUI"));
    assert_eq!(render::guess_site("BR1"), None);
}

#[test]
fn dot_and_drawio_have_every_edge() {
    let a = analysed(samples());
    assert!(!a.l3_edges.is_empty());
    let dot = render::dot(&a);
    assert!(dot.starts_with("graph network {") && dot.trim_end().ends_with('}'));
    for e in &a.l3_edges {
        let line = format!("\"{}\" -- \"{}\" [label=\"{} — {} ({})\"];", e.a.device, e.b.device, e.a.interface, e.b.interface, e.subnet);
        assert!(dot.contains(&line), "missing {line}\n{dot}");
    }
    for d in &a.devices {
        assert!(dot.contains(&format!("\"{}\" [label=", d.device.hostname)));
    }
    let io = render::drawio(&a);
    assert_well_formed(&io);
    assert!(io.contains("<mxGraphModel") && io.contains(r#"<mxCell id="0"/>"#));
    assert_eq!(io.matches(r#"edge="1""#).count(), a.l3_edges.len() + render::description_links(&a).len());
    assert_eq!(io.matches(r#"id="dev-"#).count(), a.devices.len());
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for k in 0..z.len() {
        let mut f = z.by_index(k).unwrap();
        let mut s = String::new();
        if f.read_to_string(&mut s).is_ok() {
            out.insert(f.name().unwrap().to_string(), s);
        }
    }
    out
}

#[test]
fn design_document_opens_with_the_documented_sheets() {
    let a = analysis::analyse(samples(), vec![analysis::FileError { file: "broken.cfg".into(), message: "broken.cfg: 空のファイルです".into() }]);
    let bytes = xlsx::design_document_dated(&a, "2026-04-01").unwrap();
    let files = unzip(&bytes);
    let book = &files["xl/workbook.xml"];
    let sheets = ["表紙", "VLAN一覧", "IPアドレス", "ルーティング", "ACL", "ポートマップ", "指摘事項"];
    let mut at = 0;
    for s in sheets {
        let pos = book.find(&format!("name=\"{s}\"")).unwrap_or_else(|| panic!("sheet {s}: {book}"));
        assert!(pos >= at, "sheet order");
        at = pos;
    }
    let strings = &files["xl/sharedStrings.xml"];
    for s in ["ネットワーク基本設計書", "2026-04-01", "サブネット", "ネクストホップ", "接続先", "10.42.11.0/24", "GigabitEthernet1/0/24", "2-3", "broken.cfg"] {
        assert!(strings.contains(s), "{s} not in shared strings");
    }
    // VLAN一覧 (sheet2): VLAN 2 and 3 as numbers, a frozen bold header, an autofilter.
    let vlan_sheet = &files["xl/worksheets/sheet2.xml"];
    assert!(vlan_sheet.contains("<v>2</v>") && vlan_sheet.contains("<v>3</v>"), "{vlan_sheet}");
    assert!(vlan_sheet.contains("<autoFilter") && vlan_sheet.contains("state=\"frozen\"") && vlan_sheet.contains("<cols>"));
    assert!(files["xl/styles.xml"].contains("<b/>"));
}

#[test]
fn port_map_alone() {
    let a = analysed(samples());
    let files = unzip(&xlsx::port_map(&a).unwrap());
    assert!(files["xl/workbook.xml"].contains("name=\"ポートマップ\""));
    let strings = &files["xl/sharedStrings.xml"];
    for s in ["機器", "ポート", "モード", "接続先", "LAB-SW123_9200L", "oxidized test one", "trunk"] {
        assert!(strings.contains(s), "{s}");
    }
    // The routers' shared subnets fill 接続先: BR1's uplink names WAN-RTR.
    assert!(strings.contains("WAN-RTR GigabitEthernet"), "{strings}");
}

#[test]
fn renderers_survive_an_empty_analysis() {
    let a = analysed(vec![]);
    assert_well_formed(&svg::logical(&a));
    assert_well_formed(&svg::physical(&a, None));
    assert_well_formed(&render::drawio(&a));
    assert!(render::dot(&a).contains("graph network"));
    xlsx::design_document(&a).unwrap();
    xlsx::port_map(&a).unwrap();
}

#[test]
fn description_links_match_whole_names_and_pair_both_ends() {
    let mut devices = samples();
    devices[0].hostname = "SW-HQ".into();
    devices[1].hostname = "SW-HQ-2F".into();
    devices[2].hostname = "SW-HQ-CORE".into();
    // Names SW-HQ-2F only (SW-HQ is a prefix of it, not a match), lower case.
    devices[2].interfaces[0].description = Some("to sw-hq-2f.".into());
    // SW-HQ-2F names SW-HQ-CORE back: one link with both ports.
    devices[1].interfaces[1].description = Some("uplink SW-HQ-CORE Gi1/0/1".into());
    devices[3].interfaces[0].description = Some("SW-HQ2 is not a device".into());
    let a = analysed(devices);
    let links = render::description_links(&a);
    assert_eq!(links.len(), 1, "{links:?}");
    let l = &links[0];
    assert_eq!((l.a.0, l.b.0), (1, 2));
    assert_eq!(l.a.1.as_deref(), Some(a.devices[1].device.interfaces[1].name.as_str()));
    assert_eq!(l.b.1.as_deref(), Some(a.devices[2].device.interfaces[0].name.as_str()));
    let dot = render::dot(&a);
    assert!(dot.contains("\"SW-HQ-2F\" -- \"SW-HQ-CORE\"") && dot.contains("style=dashed"), "{dot}");
}
