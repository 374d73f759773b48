//! The Office-size rollout over the bureau: 680 PCs, 10 sites, 300 MB,
//! 10 Mbit/s WAN per site, with and without a site cache.
//! `cargo bench -p lanward-deploy --bench rollout`

use chrono::{DateTime, Duration, Utc};
use lanward_deploy::sim::{run, SimConfig};

fn hm(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{}h{:02}m", d.num_hours(), d.num_minutes() % 60),
        None => "—".into(),
    }
}

fn main() {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_775_000_000, 0).unwrap_or_default();
    let mut results = Vec::new();
    for cache in [false, true] {
        let cfg = SimConfig::bureau(cache, start);
        let t = std::time::Instant::now();
        match run(&cfg, |_| {}) {
            Ok(r) => results.push((cache, r, t.elapsed())),
            Err(e) => {
                eprintln!("simulation failed: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("680 PCs, 300 MB package, 10 Mbit/s WAN per site (HQ on the server's LAN), caps 10/site 100 total, pilot 20 PCs + 90 % gate, 1 % install failures\n");
    println!(
        "{:<8} {:>12} {:>10} {:>10} {:>8} {:>9}",
        "", "complete", "installed", "failed", "steps", "sim time"
    );
    for (cache, r, el) in &results {
        println!(
            "{:<8} {:>12} {:>10} {:>10} {:>8} {:>8.2}s",
            if *cache { "cache" } else { "no cache" },
            hm(r.completed_after),
            r.installed,
            r.failed,
            r.steps,
            el.as_secs_f64()
        );
    }
    println!(
        "\n{:<5} {:>4} | {:>14} {:>10} | {:>14} {:>10}",
        "site", "PCs", "WAN no cache", "done", "WAN cache", "done"
    );
    let (a, b) = (&results[0].1, &results[1].1);
    for (x, y) in a.sites.iter().zip(&b.sites) {
        let gb = |s: &lanward_deploy::sim::SiteReport| {
            if s.on_lan {
                "LAN".to_string()
            } else {
                format!("{:.2} GB", s.wan_bytes as f64 / 1e9)
            }
        };
        println!(
            "{:<5} {:>4} | {:>14} {:>10} | {:>14} {:>10}",
            x.site,
            x.pcs,
            gb(x),
            hm(x.done_after),
            gb(y),
            hm(y.done_after)
        );
    }
    let tot = |r: &lanward_deploy::sim::SimReport| {
        r.sites.iter().map(|s| s.wan_bytes).sum::<u64>() as f64 / 1e9
    };
    println!(
        "{:<5} {:>4} | {:>11.2} GB {:>10} | {:>11.2} GB {:>10}",
        "total",
        680,
        tot(a),
        "",
        tot(b),
        ""
    );
}
