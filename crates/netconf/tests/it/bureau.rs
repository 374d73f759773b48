//! A synthetic network like the bureau's (BUREAU.md): 9 routers (a Cisco
//! city-WAN router and a FortiGate at HQ, YAMAHA RTX at the branches), 6 L3
//! switches (Cisco cores at HQ, ALAXALA at branches), 26 L2 switches
//! (AlliedWare Plus and Cisco), addressed 10.<site>.<vlan>.0/24. Its VLAN
//! table, L3 adjacency, port map and links are known by construction and
//! checked in full; then two faults are injected and found.

use lanward_netconf::analysis::{self, Analysis};
use lanward_netconf::*;
use std::collections::BTreeSet;

/// (code, site number, has L3 switch, L2 switches)
const SITES: &[(&str, u8, bool, usize)] = &[("KUN", 2, true, 2), ("ORO", 3, true, 2), ("KJO", 4, false, 2), ("NJO", 5, false, 2), ("FJO", 6, false, 2), ("MJO", 7, true, 3), ("CCH", 9, true, 1)];
const PC_VLANS: [u16; 4] = [20, 21, 50, 90];

fn l2_switch(name: &str, site: u8, k: usize, uplink_to: &str, aw: bool) -> String {
    let mgmt = format!("10.{site}.90.{}", 10 + k);
    if aw {
        format!(
            "hostname {name}\n!\nvlan database\n vlan 20,21,50,90,99 state enable\n!\ninterface port1.0.1-1.0.10\n switchport\n switchport mode access\n switchport access vlan 20\n!\ninterface port1.0.11-1.0.20\n switchport\n switchport mode access\n switchport access vlan 21\n!\ninterface port1.0.21-1.0.24\n switchport\n switchport mode access\n switchport access vlan 50\n!\ninterface port1.0.25\n description uplink to {uplink_to}\n switchport\n switchport mode trunk\n switchport trunk allowed vlan add 20,21,50,90\n switchport trunk native vlan 99\n!\ninterface vlan90\n ip address {mgmt}/24\n!\nip route 0.0.0.0/0 10.{site}.90.1\n!\nend\n"
        )
    } else {
        let mut c = format!("hostname {name}\n!\nvlan 20\n name PC-A\nvlan 21\n name PC-B\nvlan 50\n name PRINTER\nvlan 90\n name MGMT\nvlan 99\n name NATIVE\n!\n");
        for p in 1..=24 {
            let v = match p {
                1..=10 => 20,
                11..=20 => 21,
                _ => 50,
            };
            c += &format!("interface GigabitEthernet1/0/{p}\n switchport mode access\n switchport access vlan {v}\n spanning-tree portfast\n!\n");
        }
        c += &format!("interface GigabitEthernet1/0/25\n description uplink to {uplink_to}\n switchport mode trunk\n switchport trunk allowed vlan 20,21,50,90\n switchport trunk native vlan 99\n!\ninterface Vlan90\n ip address {mgmt} 255.255.255.0\n!\nip default-gateway 10.{site}.90.1\nend\n");
        c
    }
}

/// An L3 switch: routed uplink, SVI gateways, one trunk down to each L2.
fn l3_switch(name: &str, site: u8, up: (&str, &str), l2: &[String], ax: bool, hq_servers: bool) -> String {
    let (ifname, svi) = if ax { ("gigabitethernet 0/", "vlan ") } else { ("GigabitEthernet1/0/", "Vlan") };
    let mut vlans: Vec<u16> = PC_VLANS.to_vec();
    if hq_servers {
        vlans.insert(0, 10);
    }
    let mut c = format!("hostname {}\n!\n", if ax { format!("\"{name}\"") } else { name.to_string() });
    for v in vlans.iter().chain([99u16].iter()) {
        c += &format!("vlan {v}\n name V{v}\n!\n");
    }
    c += &format!("interface {ifname}48\n description uplink to {}\n no switchport\n ip address {} 255.255.255.252\n!\n", up.0, up.1);
    for (k, sw) in l2.iter().enumerate() {
        c += &format!("interface {ifname}{}\n description to {sw}\n switchport mode trunk\n switchport trunk allowed vlan 20,21,50,90\n switchport trunk native vlan 99\n!\n", k + 1);
    }
    for v in &vlans {
        c += &format!("interface {svi}{v}\n ip address 10.{site}.{v}.1 255.255.255.0\n!\n");
    }
    // Default route to the other end of the /30 uplink.
    let gw = up.1.rsplit_once('.').and_then(|(net, host)| host.parse::<u8>().ok().map(|h| format!("{net}.{}", h - 1))).unwrap_or_default();
    c += &format!("ip route 0.0.0.0 0.0.0.0 {gw}\nend\n");
    c
}

fn yamaha_router(name: &str, site: u8, lan: &str) -> String {
    format!("# RTX1210 Rev.14.01.38 (Fri Jul 10 2020)\nconsole prompt \"{name}\"\nip route default gateway 172.16.{site}.1\nip lan2 address 172.16.{site}.2/30\ndescription lan2 \"市 WAN\"\n{lan}")
}

/// The network, as (file name, text).
fn network() -> Vec<(String, String)> {
    let mut files = Vec::new();
    // HQ: city-WAN router, FortiGate, two cores, 12 floor switches.
    let hq_l2: Vec<String> = (1..=12).map(|f| format!("SW-HQ-{f:02}F")).collect();
    let mut wan = "hostname HQ-RT-WAN\n!\ninterface GigabitEthernet0/0\n description to HQ-CORE-1\n ip address 10.1.0.1 255.255.255.252\n!\n".to_string();
    for (k, (code, site, _, _)) in SITES.iter().enumerate() {
        wan += &format!("interface GigabitEthernet0/{}\n description to RT-{code}\n ip address 172.16.{site}.1 255.255.255.252\n!\n", k + 1);
    }
    for (_, site, _, _) in SITES {
        wan += &format!("ip route 10.{site}.0.0 255.255.0.0 172.16.{site}.2\n");
    }
    wan += "ip route 0.0.0.0 0.0.0.0 10.1.0.2\nend\n";
    files.push(("HQ-RT-WAN.cfg".into(), wan));
    files.push((
        "HQ-FW.conf".into(),
        "#config-version=FG100F-7.2.5-FW-build1517-230606:opmode=0:vdom=0\nconfig system global\n    set hostname \"HQ-FW\"\nend\nconfig system interface\n    edit \"wan1\"\n        set ip 203.0.113.2 255.255.255.248\n        set alias \"インターネット\"\n    next\n    edit \"port2\"\n        set ip 10.1.0.5 255.255.255.252\n        set description \"to HQ-CORE-1\"\n    next\nend\nconfig router static\n    edit 1\n        set gateway 203.0.113.1\n        set device \"wan1\"\n    next\n    edit 2\n        set dst 10.0.0.0 255.0.0.0\n        set gateway 10.1.0.6\n        set device \"port2\"\n    next\nend\n".into(),
    ));
    let (core1_l2, core2_l2) = hq_l2.split_at(6);
    let mut core1 = l3_switch("HQ-CORE-1", 1, ("HQ-RT-WAN", "10.1.0.2"), core1_l2, false, true);
    core1 = core1.replacen("end\n", "interface GigabitEthernet1/0/47\n description to HQ-FW\n no switchport\n ip address 10.1.0.6 255.255.255.252\n!\nend\n", 1);
    files.push(("HQ-CORE-1.cfg".into(), core1));
    // The second core routes floors 7-12 as their own subnets (10.11.x.0/24).
    files.push(("HQ-CORE-2.cfg".into(), l3_switch("HQ-CORE-2", 11, ("HQ-CORE-1", "10.1.0.10"), core2_l2, false, false)));
    for (k, sw) in hq_l2.iter().enumerate() {
        let (site, up) = if k < 6 { (1, "HQ-CORE-1") } else { (11, "HQ-CORE-2") };
        files.push((format!("{sw}.cfg"), l2_switch(sw, site, k % 6, up, k % 2 == 0)));
    }
    // Branches.
    for (code, site, has_l3, n_l2) in SITES {
        let l2: Vec<String> = (1..=*n_l2).map(|k| format!("SW-{code}-{k}")).collect();
        let rt = format!("RT-{code}");
        if *has_l3 {
            let l3 = format!("L3-{code}");
            files.push((format!("{rt}.txt"), yamaha_router(&rt, *site, &format!("ip lan1 address 10.{site}.0.1/30\ndescription lan1 \"to {l3}\"\nip route 10.{site}.0.0/16 gateway 10.{site}.0.2\n"))));
            files.push((format!("{l3}.cfg"), l3_switch(&l3, *site, (&rt, &format!("10.{site}.0.2")), &l2, true, false)));
            for (k, sw) in l2.iter().enumerate() {
                files.push((format!("{sw}.cfg"), l2_switch(sw, *site, k, &l3, k % 2 == 1)));
            }
        } else {
            let mut lan = String::new();
            for (k, v) in PC_VLANS.iter().enumerate() {
                lan += &format!("vlan lan1/{} 802.1q vid={v}\nip lan1/{} address 10.{site}.{v}.1/24\n", k + 1, k + 1);
            }
            files.push((format!("{rt}.txt"), yamaha_router(&rt, *site, &lan)));
            for (k, sw) in l2.iter().enumerate() {
                files.push((format!("{sw}.cfg"), l2_switch(sw, *site, k, &rt, k % 2 == 0)));
            }
        }
    }
    // HQ-CORE-2's uplink address on CORE-1's side.
    if let Some((_, c1)) = files.iter_mut().find(|(n, _)| n == "HQ-CORE-1.cfg") {
        *c1 = c1.replacen("end\n", "interface GigabitEthernet1/0/46\n description to HQ-CORE-2\n no switchport\n ip address 10.1.0.9 255.255.255.252\n!\nend\n", 1);
    }
    files
}

fn analyse(files: &[(String, String)]) -> Analysis {
    let devices: Vec<Device> = files.iter().map(|(n, t)| parse_config(n, t.as_bytes()).unwrap_or_else(|e| panic!("{e}"))).collect();
    analysis::analyse(devices, Vec::new())
}

#[test]
fn the_bureau_like_network_is_understood_in_full() {
    let files = network();
    assert_eq!(files.len(), 41, "9 routers, 6 L3 switches, 26 L2 switches");
    let a = analyse(&files);
    let vendors: BTreeSet<&str> = a.devices.iter().map(|d| d.device.vendor.label()).collect();
    assert_eq!(vendors.len(), 5, "{vendors:?}");
    for d in &a.devices {
        assert_eq!(d.device.coverage.unrecognised, 0, "{}: {:?}", d.device.hostname, d.device.line_notes.iter().filter(|n| n.class == LineClass::Unrecognised).collect::<Vec<_>>());
    }
    // Port map: every L2 switch has 24 access ports in VLANs 20/21/50 and one trunk up.
    let access: usize = a.devices.iter().flat_map(|d| &d.device.interfaces).filter(|i| i.mode == Some(SwitchportMode::Access)).count();
    assert_eq!(access, 26 * 24);
    // VLAN table: VLAN 20's gateways are the site gateways (L3 switch or router).
    let v20 = a.vlans.iter().find(|v| v.id == 20).unwrap();
    let subnets: BTreeSet<&str> = v20.subnets.iter().map(String::as_str).collect();
    let want: BTreeSet<String> = [1u8, 11].iter().chain(SITES.iter().map(|s| &s.1)).map(|s| format!("10.{s}.20.0/24")).collect();
    assert_eq!(subnets, want.iter().map(String::as_str).collect());
    assert_eq!(v20.access_ports.len(), 26 * 10);
    // Each uplink, and the L3 switches' downlinks (the YAMAHA routers' LAN
    // ports carry tagged VLANs as sub-interfaces, not switchports).
    let behind_routers: usize = SITES.iter().filter(|s| !s.2).map(|s| s.3).sum();
    assert_eq!(v20.trunk_ports.len(), 26 + (26 - behind_routers));
    // L3 adjacency: the WAN /30s to every branch router, the HQ links, and each branch router to its L3 switch.
    let pair = |x: &str, y: &str| a.l3_edges.iter().any(|e| (e.a.device == x && e.b.device == y) || (e.a.device == y && e.b.device == x));
    for (code, _, has_l3, _) in SITES {
        assert!(pair("HQ-RT-WAN", &format!("RT-{code}")), "WAN to {code}");
        if *has_l3 {
            assert!(pair(&format!("RT-{code}"), &format!("L3-{code}")));
        }
    }
    assert!(pair("HQ-RT-WAN", "HQ-CORE-1") && pair("HQ-FW", "HQ-CORE-1") && pair("HQ-CORE-1", "HQ-CORE-2"));
    // Management VLAN 90: each site's switches share one subnet with their gateway.
    let mgmt_edges = a.l3_edges.iter().filter(|e| e.subnet.ends_with(".90.0/24")).count();
    let group = |n: usize| n * (n + 1) / 2; // n switches + the gateway, pairwise
    let expected: usize = group(6) + group(6) + SITES.iter().map(|s| group(s.3)).sum::<usize>();
    assert_eq!(mgmt_edges, expected);
    // Physical links from descriptions: every L2 uplink and every downlink name each other.
    assert!(a.links.len() >= 26, "{}", a.links.len());
    // A clean network: no errors, no link warnings.
    let serious: Vec<_> = a.checks.iter().filter(|c| c.severity != "info").collect();
    assert!(serious.is_empty(), "{serious:#?}");
    // Reachability: a PC at KUN reaches a server at HQ through the WAN.
    let devices: Vec<Device> = a.devices.iter().map(|d| d.device.clone()).collect();
    let r = lanward_netconf::reach::reach(&devices, &lanward_netconf::reach::Flow { src: "10.2.20.50".parse().unwrap(), dst: "10.1.10.20".parse().unwrap(), proto: "tcp", port: Some(445) });
    let path: Vec<&str> = r.hops.iter().map(|h| h.device.as_str()).collect();
    assert!(r.reachable, "{r:#?}");
    assert_eq!(path, vec!["L3-KUN", "RT-KUN", "HQ-RT-WAN", "HQ-CORE-1"]);
}

#[test]
fn faults_in_the_bureau_network_are_found() {
    let mut files = network();
    // An uplink that forgot the printer VLAN, and a native VLAN typo.
    let sw = files.iter_mut().find(|(n, _)| n == "SW-KUN-1.cfg").unwrap();
    sw.1 = sw.1.replace("switchport trunk allowed vlan 20,21,50,90", "switchport trunk allowed vlan 20,21,90").replace("switchport trunk allowed vlan add 20,21,50,90", "switchport trunk allowed vlan add 20,21,90");
    let sw = files.iter_mut().find(|(n, _)| n == "SW-ORO-2.cfg").unwrap();
    sw.1 = sw.1.replace("switchport trunk native vlan 99", "switchport trunk native vlan 98");
    let a = analyse(&files);
    let msgs: Vec<&str> = a.checks.iter().map(|c| c.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("L3-KUN") && m.contains("VLAN 50") && m.contains("one end only")), "{msgs:#?}");
    assert!(msgs.iter().any(|m| m.contains("SW-ORO-2") && m.contains("native VLAN mismatch")), "{msgs:#?}");
    // VLAN 50 at KUN is now split: SW-KUN-1's printers are cut off.
    let v50 = &a.l2_domains[&50];
    assert!(v50.iter().any(|g| g == &vec!["SW-KUN-1".to_string()]), "{v50:?}");
}
