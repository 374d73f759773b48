//! Parse and analyse whole networks end to end, and compare with Python's
//! `ciscoconfparse2` parsing the same IOS configs into its tree.
//!
//! `cargo bench -p lanward-netconf --bench network` prints a Markdown table.
//! The networks are generated like the bureau's: per site a router (WAN
//! /30 to the core, one SVI per department VLAN), access switches with 48
//! ports and a trunk uplink; a core L3 switch. 41 devices is the bureau;
//! 10,000 devices is the stress case. `ciscoconfparse2` is used when
//! `python3 -c 'import ciscoconfparse2'` works (`pip install ciscoconfparse2`).

use lanward_netconf::{analysis, parse_config};
use std::time::Instant;

/// (file name, config text) of a generated network of about `devices` devices.
fn network(devices: usize) -> Vec<(String, String)> {
    let per_site = 4; // a router and three access switches
    let sites = (devices.saturating_sub(1) / per_site).max(1);
    let mut out = Vec::new();
    let mut core = String::from("hostname CORE-SW\n!\n");
    for s in 0..sites {
        let (a, b) = ((s / 250) as u8, (s % 250) as u8);
        // WAN link core <-> site router.
        core += &format!("interface GigabitEthernet1/0/{}\n description to R-{s:04}\n no switchport\n ip address 10.{}.{}.1 255.255.255.252\n!\n", s + 1, 200 + a, b);
        let mut r = format!("hostname R-{s:04}\n!\n");
        r += &format!("interface GigabitEthernet0/0\n description WAN to CORE\n ip address 10.{}.{}.2 255.255.255.252\n!\n", 200 + a, b);
        for dept in 0..4u16 {
            let vlan = 10 + dept * 10;
            r += &format!("vlan {vlan}\n name DEPT{dept}\n!\n");
            r += &format!("interface Vlan{vlan}\n description 課{dept}\n ip address 10.{}.{}.{} 255.255.255.224\n ip access-group EDGE in\n!\n", a, b, dept * 32 + 1);
        }
        r += "ip access-list extended EDGE\n permit tcp any any eq 443\n permit udp any any eq 53\n deny tcp any any eq 445\n permit ip any any\n!\n";
        r += &format!("ip route 0.0.0.0 0.0.0.0 10.{}.{}.1\n!\nend\n", 200 + a, b);
        out.push((format!("R-{s:04}.cfg"), r));
        for sw in 0..(per_site - 1) {
            let mut c = format!("hostname SW-{s:04}-{sw}\n!\n");
            for dept in 0..4u16 {
                c += &format!("vlan {}\n name DEPT{dept}\n!\n", 10 + dept * 10);
            }
            for port in 1..=48u16 {
                c += &format!("interface GigabitEthernet1/0/{port}\n description PC-{s:04}-{sw}-{port:02}\n switchport mode access\n switchport access vlan {}\n spanning-tree portfast\n!\n", 10 + (port % 4) * 10);
            }
            c += "interface GigabitEthernet1/0/49\n description uplink\n switchport mode trunk\n switchport trunk allowed vlan 10,20,30,40\n!\nend\n";
            out.push((format!("SW-{s:04}-{sw}.cfg"), c));
        }
    }
    core += "end\n";
    out.push(("CORE-SW.cfg".into(), core));
    out.truncate(devices.max(1));
    out
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap_or(0.0) / 1024.0)))
        .unwrap_or(0.0)
}

fn run(devices: usize) -> (usize, f64, f64, f64, usize) {
    let net = network(devices);
    let bytes: usize = net.iter().map(|(_, t)| t.len()).sum();
    let t0 = Instant::now();
    let parsed: Vec<_> = net.iter().filter_map(|(f, t)| parse_config(f, t.as_bytes()).ok()).collect();
    let parse_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let n = parsed.len();
    let t1 = Instant::now();
    let a = analysis::analyse(parsed, Vec::new());
    let analyse_ms = t1.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(a.devices.len(), n);
    (n, bytes as f64 / 1e6, parse_ms, analyse_ms, a.l3_edges.len())
}

fn ciscoconfparse2(dir: &std::path::Path) -> Option<f64> {
    let script = r#"
import sys, time, glob
from ciscoconfparse2 import CiscoConfParse
files = sorted(glob.glob(sys.argv[1] + "/*.cfg"))
texts = [open(f).read().splitlines() for f in files]
t = time.perf_counter()
for lines in texts:
    CiscoConfParse(lines, syntax="ios")
print((time.perf_counter() - t) * 1000)
"#;
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(dir).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    println!("### lanward-netconf: parse and analyse generated networks (release build)\n");
    println!("| devices | config MB | parse ms | analyse ms | total ms | L3 edges | peak RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for devices in [41usize, 1000, 10_000] {
        let (n, mb, p, a, e) = run(devices);
        println!("| {n} | {mb:.1} | {p:.1} | {a:.1} | {:.1} | {e} | {:.0} |", p + a, peak_rss_mb());
    }
    // Side by side with ciscoconfparse2 on the same 41 IOS files (parse only, both sides).
    let dir = std::env::temp_dir().join(format!("lanward-netconf-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let net = network(41);
    for (f, t) in &net {
        let _ = std::fs::write(dir.join(f), t);
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        for (f, t) in &net {
            let _ = parse_config(f, t.as_bytes());
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1000.0);
    }
    println!();
    match ciscoconfparse2(&dir) {
        Some(py) => println!("41 IOS configs, parse only: lanward {best:.2} ms, ciscoconfparse2 {py:.1} ms — {:.0}× faster", py / best),
        None => println!("41 IOS configs, parse only: lanward {best:.2} ms; ciscoconfparse2 not installed (pip install ciscoconfparse2)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
