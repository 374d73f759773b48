//! Times keyword searches on an existing store directory (development aid).
//!   cargo run --release -p lanward-oplog --example probe -- DIR word...
use lanward_oplog::embedded::EmbeddedStore;
use lanward_oplog::{EventStore, Query};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: probe DIR word...");
        std::process::exit(2);
    };
    let t = Instant::now();
    let store = match EmbeddedStore::open(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(1);
        }
    };
    println!("open {:.1} ms, {} partitions", t.elapsed().as_secs_f64() * 1e3, store.partitions().map(|p| p.len()).unwrap_or(0));
    for w in &args[1..] {
        let limits: Vec<usize> = std::env::var("LIMITS").unwrap_or("100".into()).split(",").filter_map(|s| s.parse().ok()).collect();
        for &limit in &limits {
            let mut ts = Vec::new();
            let mut last = None;
            for _ in 0..5 {
                let t = Instant::now();
                let r = store.search(&Query { from_ms: 0, to_ms: i64::MAX / 2, text: Some(w.clone()), limit, newest_first: true, ..Default::default() });
                ts.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(r);
            }
            ts.sort_by(|a, b| a.total_cmp(b));
            match last {
                Some(Ok(r)) => println!("{w:>20} limit {limit}: {:>8.1} ms (min {:.1})  total {}{}  events {}", ts[2], ts[0], r.total, if r.total_exact { "" } else { "+" }, r.events.len()),
                Some(Err(e)) => println!("{w}: {e}"),
                None => {}
            }
        }
    }
}
