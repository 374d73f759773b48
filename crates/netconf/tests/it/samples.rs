//! The real public configs of `../shared/netconf-samples/` (copied as they
//! are, with their licences, to `tests/fixtures/samples/`) and the facts
//! their README lists (captured `show ip route` / `show interfaces` are the
//! ground truth).

use lanward_netconf::analysis::{self, Prefix};
use lanward_netconf::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples")
}

fn load(rel: &str) -> Device {
    let path = samples().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_config(rel, &bytes).unwrap()
}

const ROUTERS: [&str; 4] = ["BR1", "BR2", "LAN-RTR", "WAN-RTR"];

/// `C`/`L`/`S` lines of `show ip route`: (code, prefix, next hop or interface).
fn ground_truth_routes(router: &str) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(samples().join(format!("ios_basic_vrrp/{router}/show_ip_route.txt"))).unwrap();
    let mut out = BTreeSet::new();
    let mut last_static = String::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            // An equal-cost next hop continues the route above.
            [_metric, "via", hop] if !last_static.is_empty() => {
                out.insert(("S".into(), last_static.clone(), hop.trim_end_matches(',').to_string()));
                continue;
            }
            [code @ ("C" | "L"), prefix, "is", "directly", "connected,", iface] => {
                out.insert((code.to_string(), prefix.to_string(), iface.to_string()));
            }
            ["S" | "S*", prefix, _metric, "via", hop] => {
                out.insert(("S".into(), prefix.to_string(), hop.trim_end_matches(',').to_string()));
                last_static = prefix.to_string();
                continue;
            }
            _ => {}
        }
        last_static.clear();
    }
    out
}

#[test]
fn connected_local_and_static_routes_equal_the_routers_own_tables() {
    for r in ROUTERS {
        let d = load(&format!("ios_basic_vrrp/{r}/show_running-config.txt"));
        assert_eq!(d.hostname, r);
        assert_eq!(d.vendor, Vendor::CiscoIos);
        let mine: BTreeSet<(String, String, String)> = analysis::routes(&d)
            .into_iter()
            .filter_map(|x| match x.protocol.as_str() {
                "connected" => Some(("C".into(), x.prefix, x.interface.unwrap_or_default())),
                "local" => Some(("L".into(), x.prefix, x.interface.unwrap_or_default())),
                "static" => Some(("S".into(), x.prefix, x.next_hop.or(x.interface).unwrap_or_default())),
                _ => None,
            })
            .collect();
        assert_eq!(mine, ground_truth_routes(r), "{r}");
        assert_eq!(d.coverage.unrecognised, 0, "{r}: {:?}", d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect::<Vec<_>>());
    }
}

#[test]
fn every_address_of_show_interfaces_is_on_the_same_interface() {
    for r in ROUTERS {
        let d = load(&format!("ios_basic_vrrp/{r}/show_running-config.txt"));
        let text = std::fs::read_to_string(samples().join(format!("ios_basic_vrrp/{r}/show_interfaces.txt"))).unwrap();
        let mut current = String::new();
        let mut checked = 0;
        for line in text.lines() {
            if !line.starts_with(' ') && line.contains(" is ") {
                current = line.split_whitespace().next().unwrap_or("").to_string();
            }
            if let Some(addr) = line.trim().strip_prefix("Internet address is ") {
                let iface = d.interfaces.iter().find(|i| i.name == current).unwrap_or_else(|| panic!("{r}: no {current}"));
                assert!(iface.addresses.contains(&addr.trim().to_string()), "{r} {current}: {addr} not in {:?}", iface.addresses);
                checked += 1;
            }
        }
        assert!(checked >= 2, "{r}: addresses checked");
    }
}

#[test]
fn layer3_adjacency_matches_shared_connected_prefixes() {
    let devices: Vec<Device> = ROUTERS.iter().map(|r| load(&format!("ios_basic_vrrp/{r}/show_running-config.txt"))).collect();
    let mine: BTreeSet<(String, String)> = analysis::l3_edges(&devices)
        .into_iter()
        .map(|e| if e.a.device < e.b.device { (e.a.device, e.b.device) } else { (e.b.device, e.a.device) })
        .collect();
    let mut truth = BTreeSet::new();
    let connected: Vec<(String, BTreeSet<String>)> = ROUTERS
        .iter()
        .map(|r| (r.to_string(), ground_truth_routes(r).into_iter().filter(|(c, _, _)| c == "C").map(|(_, p, _)| p).collect()))
        .collect();
    for x in 0..connected.len() {
        for y in x + 1..connected.len() {
            if !connected[x].1.is_disjoint(&connected[y].1) {
                let (a, b) = (connected[x].0.clone(), connected[y].0.clone());
                truth.insert(if a < b { (a, b) } else { (b, a) });
            }
        }
    }
    assert_eq!(mine, truth);
    assert!(Prefix::parse("10.1.11.0/30").is_some());
}

#[test]
fn catalyst_access_switch_facts() {
    let d = load("cisco_c9200l/show_running-config.txt");
    let iface = |n: &str| d.interfaces.iter().find(|i| i.name == n).unwrap_or_else(|| panic!("no {n}"));
    assert_eq!((iface("GigabitEthernet1/0/1").mode, iface("GigabitEthernet1/0/1").access_vlan), (Some(SwitchportMode::Access), Some(2)));
    assert_eq!((iface("GigabitEthernet1/0/2").mode, iface("GigabitEthernet1/0/2").access_vlan), (Some(SwitchportMode::Access), Some(3)));
    let trunk = iface("GigabitEthernet1/0/24");
    assert_eq!((trunk.mode, trunk.trunk_vlans.clone(), trunk.trunk_all), (Some(SwitchportMode::Trunk), vec![2, 3], false));
    assert_eq!(iface("Vlan2").addresses, vec!["10.42.11.42/24".to_string()]);
    let vlans: Vec<u16> = d.vlans.iter().map(|v| v.id).collect();
    assert!(vlans.contains(&2) && vlans.contains(&3), "{vlans:?}");
    let unrecognised: Vec<_> = d.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect();
    assert!(unrecognised.is_empty(), "{unrecognised:#?}");
}
