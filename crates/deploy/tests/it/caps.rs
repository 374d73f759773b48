use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use lanward_deploy::sim::{run, SimConfig};
use lanward_deploy::{BandwidthBuckets, MaintenanceWindow, TargetState, Windows};

use crate::jst;

/// A whole simulated rollout under tight caps and real windows: every step
/// is checked against every cap.
fn checked_rollout(site_cache: bool) -> lanward_deploy::sim::SimReport {
    let start = jst(2026, 11, 27, 11, 0); // a Friday
    let mut cfg = SimConfig::bureau(site_cache, start);
    cfg.package_bytes = 30_000_000; // 30 MB keeps the debug-build test quick
    cfg.caps.per_site_concurrency = 3;
    cfg.caps.site_concurrency = HashMap::from([("HQ".to_string(), 12)]);
    cfg.caps.global_concurrency = 25;
    cfg.caps.per_site_bytes_per_sec = Some(500_000); // below the 10 Mbit/s link
    cfg.step = Duration::seconds(2);
    if site_cache {
        // From a cache 30 MB takes seconds; a slow LAN keeps downloads long
        // enough for the concurrency caps to bite.
        cfg.lan_bytes_per_sec_per_pc = 200_000;
    }
    cfg.windows = Windows::new(
        vec![
            MaintenanceWindow::parse_simple("mon-fri 12:00-13:00").expect("valid"),
            MaintenanceWindow::cron("30 17 * * 1-5", 270).expect("valid"),
        ],
        start,
    )
    .expect("opens");
    // A short spread bunches the starts, so the caps have to hold them back
    // and the rest wait for the evening window.
    cfg.spread = Duration::minutes(15);
    let windows = cfg.windows.clone();
    let caps = cfg.caps.clone();
    let mut steps = 0u64;
    let mut max_wan_rate = 0.0f64;
    let mut prev: HashMap<i64, TargetState> = HashMap::new();
    let report = run(&cfg, |v| {
        steps += 1;
        assert!(
            v.downloading <= caps.global_concurrency,
            "{}: {} downloading",
            v.now,
            v.downloading
        );
        for (site, n) in v.downloading_per_site {
            assert!(
                *n <= caps.site_cap(site),
                "{}: {site} has {n} downloading",
                v.now
            );
        }
        let secs = v.step.num_milliseconds() as f64 / 1000.0;
        for (site, b) in v.wan_bytes {
            let rate = *b as f64 / secs;
            max_wan_rate = max_wan_rate.max(rate);
            assert!(
                rate <= 500_000.0 + 1.0,
                "{}: {site} pulled {b} bytes in {secs} s",
                v.now
            );
        }
        // A download may only start while a window is open.
        for (id, s) in v.states {
            let was_queued = prev.get(id).is_none_or(TargetState::is_startable);
            if matches!(s, TargetState::Downloading { .. }) && was_queued {
                assert!(
                    windows.is_open(v.now),
                    "{id} started at {} outside the windows",
                    v.now
                );
            }
        }
        prev = v.states.clone();
    })
    .expect("simulation runs");
    assert!(steps > 100);
    // The caps bit: otherwise this test would prove nothing.
    assert_eq!(report.max_downloading, 25);
    assert!(report
        .sites
        .iter()
        .any(|s| s.site == "ORO" && s.max_downloading == 3));
    if !site_cache {
        // (With the cache, PCs at 200 KB/s set the pace, not the WAN.)
        assert!(
            max_wan_rate > 400_000.0,
            "the WAN cap was never approached: {max_wan_rate}"
        );
    }
    report
}

#[test]
fn caps_hold_at_every_step_without_cache() {
    let r = checked_rollout(false);
    assert!(r.completed_after.is_some(), "rollout did not finish");
    assert_eq!(r.installed + r.failed, 680);
    let oro = r.sites.iter().find(|s| s.site == "ORO").expect("ORO");
    assert_eq!(
        oro.wan_bytes,
        70 * 30_000_000,
        "each ORO PC pulled the package over the WAN"
    );
    assert_eq!(r.planned_starts.len(), 680);
    let w = Windows::new(
        vec![MaintenanceWindow::parse_simple("mon-fri 12:00-13:00").expect("v")],
        jst(2026, 11, 27, 0, 0),
    )
    .expect("o");
    assert!(
        r.planned_starts.iter().all(|t| w.is_open(*t)),
        "planned inside Friday's lunch hour"
    );
    // Held back by the caps past 13:00, the rest started in the evening window.
    let evening = r
        .started_at
        .iter()
        .filter(|t| **t >= jst(2026, 11, 27, 17, 30))
        .count();
    let lunch = r.started_at.iter().filter(|t| w.is_open(**t)).count();
    assert!(evening > 0 && lunch > 0, "lunch {lunch}, evening {evening}");
    assert_eq!(r.started_at.len(), 680);
}

#[test]
fn caps_hold_with_cache_and_each_chunk_crosses_the_wan_once() {
    let r = checked_rollout(true);
    assert!(r.completed_after.is_some());
    for s in &r.sites {
        let want = if s.on_lan { 0 } else { 30_000_000 };
        assert_eq!(s.wan_bytes, want, "{}", s.site);
    }
}

#[test]
fn bucket_says_when() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut b = BandwidthBuckets::new(1_000_000, 2_000_000);
    assert_eq!(b.try_take("KUN", 2_000_000, t0), Ok(()), "starts full");
    let when = b.try_take("KUN", 500_000, t0).expect_err("empty now");
    assert_eq!(when, t0 + Duration::milliseconds(500));
    assert_eq!(
        b.try_take("ORO", 1_000_000, t0),
        Ok(()),
        "sites have their own buckets"
    );
    assert_eq!(b.try_take("KUN", 500_000, when), Ok(()));
    // Idle for an hour: only the burst is there, not an hour's worth.
    let later = when + Duration::hours(1);
    assert_eq!(b.try_take("KUN", 2_000_000, later), Ok(()));
    assert!(b.try_take("KUN", 1, later).is_err());
    let mut per_second: BTreeMap<i64, u64> = BTreeMap::new();
    let mut now = later;
    // Chunks of 64 KB for 10 s: never more than rate × time + burst.
    let mut total = 0u64;
    while now < later + Duration::seconds(10) {
        match b.try_take("KUN", 65_536, now) {
            Ok(()) => {
                total += 65_536;
                *per_second.entry((now - later).num_seconds()).or_default() += 65_536;
            }
            Err(t) => now = t,
        }
    }
    assert!(total <= 10 * 1_000_000, "{total}");
    assert!(total >= 9 * 1_000_000, "{total}");
}
