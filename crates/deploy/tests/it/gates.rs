use std::collections::HashMap;

use chrono::Duration;
use lanward_deploy::{
    waves_by_department, Action, Candidate, Caps, DeploymentStatus, Gate, Plan, Scheduler,
    SchedulerMemory, TargetState, Wave, WaveState, Windows,
};

use crate::jst;

fn caps() -> Caps {
    Caps {
        per_site_concurrency: 100,
        site_concurrency: HashMap::new(),
        global_concurrency: 1000,
        per_site_bytes_per_sec: None,
    }
}

/// Pilot of 10 (ids 1..=10), then 20 more (11..=30) behind a 90 % gate.
fn plan() -> Plan {
    Plan {
        waves: vec![
            Wave {
                name: "pilot".into(),
                targets: (1..=10).collect(),
                not_before: None,
                gate: None,
            },
            Wave {
                name: "総務課".into(),
                targets: (11..=30).collect(),
                not_before: None,
                gate: Some(Gate {
                    min_success_percent: 90,
                    max_failures: None,
                }),
            },
        ],
        windows: Windows::always(),
        deadline: None,
        caps: caps(),
        spread: Duration::minutes(10),
        seed: 7,
    }
}

fn sites() -> HashMap<i64, String> {
    (1..=30).map(|i| (i, "HQ".to_string())).collect()
}

/// The pilot with `ok` installed and the rest failed.
fn pilot_result(ok: usize) -> HashMap<i64, TargetState> {
    (1..=10)
        .map(|i| {
            let s = if i as usize <= ok {
                TargetState::Installed
            } else {
                TargetState::Failed {
                    code: 1603,
                    log_tail: String::new(),
                }
            };
            (i, s)
        })
        .collect()
}

fn opened(actions: &[Action], wave: usize) -> bool {
    actions.contains(&Action::WaveOpened { wave })
}

#[test]
fn ninety_percent_opens_the_next_wave() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut s = Scheduler::new(plan(), sites());
    let first = s.next_actions(t0, &HashMap::new());
    assert!(opened(&first, 0));
    assert!(!opened(&first, 1), "the pilot has not run yet");
    let a = s.next_actions(t0 + Duration::hours(1), &pilot_result(9));
    assert!(opened(&a, 1), "{a:?}");
    assert_eq!(s.wave_state(1, &pilot_result(9)), Some(WaveState::Open));
    assert_eq!(s.wave_state(0, &pilot_result(9)), Some(WaveState::Done));
    // Later starts of wave 2 come after it opened, within the spread.
    let later = s.next_actions(t0 + Duration::hours(2), &pilot_result(9));
    let starts = later
        .iter()
        .filter(|a| matches!(a, Action::StartDownload { wave: 1, .. }))
        .count();
    assert_eq!(starts, 20);
}

#[test]
fn eighty_percent_keeps_it_closed() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut s = Scheduler::new(plan(), sites());
    s.next_actions(t0, &HashMap::new());
    let a = s.next_actions(t0 + Duration::hours(1), &pilot_result(8));
    assert!(!opened(&a, 1), "{a:?}");
    assert!(!a
        .iter()
        .any(|a| matches!(a, Action::StartDownload { wave: 1, .. })));
    assert_eq!(s.wave_state(1, &pilot_result(8)), Some(WaveState::Pending));
}

#[test]
fn gate_opens_before_the_pilot_is_done_and_max_failures_holds_it() {
    // 9 installed, 1 still downloading: 90 % already succeeded.
    let mut st = pilot_result(9);
    st.insert(10, TargetState::Downloading { percent: 50 });
    assert!(Gate {
        min_success_percent: 90,
        max_failures: None
    }
    .is_open(&plan().waves[0].counts(&st)));
    // Cancelled and not-applicable targets are left out of the percentage.
    let mut st = pilot_result(8);
    st.insert(9, TargetState::NotApplicable);
    st.insert(10, TargetState::Cancelled);
    assert!(Gate {
        min_success_percent: 100,
        max_failures: None
    }
    .is_open(&plan().waves[0].counts(&st)));
    // Max failures: 9/10 succeeded but 1 failure > 0 allowed.
    let g = Gate {
        min_success_percent: 90,
        max_failures: Some(0),
    };
    assert!(!g.is_open(&plan().waves[0].counts(&pilot_result(9))));
    assert!(Gate {
        max_failures: Some(1),
        ..g
    }
    .is_open(&plan().waves[0].counts(&pilot_result(9))));
}

#[test]
fn paused_or_cancelled_starts_nothing() {
    let t0 = jst(2026, 12, 1, 12, 0);
    for status in [DeploymentStatus::Paused, DeploymentStatus::Cancelled] {
        let mut s = Scheduler::new(plan(), sites());
        s.set_status(status);
        assert!(s
            .next_actions(t0 + Duration::hours(3), &HashMap::new())
            .is_empty());
        assert!(s
            .next_actions(t0 + Duration::hours(3), &pilot_result(10))
            .is_empty());
    }
    // Resumed: it starts again.
    let mut s = Scheduler::new(plan(), sites());
    s.set_status(DeploymentStatus::Paused);
    s.next_actions(t0, &HashMap::new());
    s.set_status(DeploymentStatus::Active);
    let a = s.next_actions(t0, &HashMap::new());
    assert!(opened(&a, 0));
}

#[test]
fn a_wave_waits_for_its_own_start_time() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut p = plan();
    p.waves[1].not_before = Some(t0 + Duration::days(1));
    let mut s = Scheduler::new(p, sites());
    s.next_actions(t0, &HashMap::new());
    let a = s.next_actions(t0 + Duration::hours(1), &pilot_result(10));
    assert!(!opened(&a, 1));
    assert!(
        a.contains(&Action::WaitUntil {
            at: t0 + Duration::days(1)
        }),
        "{a:?}"
    );
    let a = s.next_actions(t0 + Duration::days(1), &pilot_result(10));
    assert!(opened(&a, 1));
}

#[test]
fn start_times_come_from_the_spread_and_survive_a_restart() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut s = Scheduler::new(plan(), sites());
    let a = s.next_actions(t0, &HashMap::new());
    // Nothing due at the very first instant (uniform over 10 minutes), so a wait.
    let wait = a.iter().find_map(|a| {
        if let Action::WaitUntil { at } = a {
            Some(*at)
        } else {
            None
        }
    });
    let wait = wait.expect("a wait until the first planned start");
    assert!(wait > t0 && wait < t0 + Duration::minutes(10));
    let planned: Vec<_> = (1..=10).map(|i| s.planned_start(i)).collect();
    assert!(planned
        .iter()
        .all(|p| p.is_some_and(|p| p >= t0 && p < t0 + Duration::minutes(10))));
    let restored = Scheduler::restore(
        plan(),
        sites(),
        SchedulerMemory {
            opened_at: s.memory().opened_at.clone(),
        },
    );
    let again: Vec<_> = (1..=10).map(|i| restored.planned_start(i)).collect();
    assert_eq!(planned, again);
    // At the wait time exactly one or more targets start.
    let a = s.next_actions(wait, &HashMap::new());
    assert!(
        a.iter().any(|a| matches!(a, Action::StartDownload { .. })),
        "{a:?}"
    );
}

#[test]
fn after_the_deadline_not_started_targets_are_missed() {
    let t0 = jst(2026, 12, 1, 12, 0);
    let mut p = plan();
    p.deadline = Some(t0 + Duration::hours(2));
    let mut s = Scheduler::new(p, sites());
    s.next_actions(t0, &HashMap::new());
    let mut st = pilot_result(8); // gate closed: wave 2 never opened
    st.insert(10, TargetState::Queued);
    let a = s.next_actions(t0 + Duration::hours(2), &st);
    assert!(
        !a.iter()
            .any(|a| matches!(a, Action::StartDownload { .. } | Action::WaveOpened { .. })),
        "{a:?}"
    );
    let missed: Vec<i64> = a
        .iter()
        .filter_map(|a| {
            if let Action::Missed { asset_id } = a {
                Some(*asset_id)
            } else {
                None
            }
        })
        .collect();
    let mut want = vec![10];
    want.extend(11..=30);
    assert_eq!(missed, want);
}

#[test]
fn waves_by_department_puts_the_pilot_first() {
    let c = |id: i64, host: &str, dept: &str| Candidate {
        asset_id: id,
        hostname: host.into(),
        site: "HQ".into(),
        department: dept.into(),
        tags: vec![],
        kind: "pc".into(),
        status: "in_use".into(),
    };
    let targets = vec![
        c(1, "A", "経理課"),
        c(2, "B", "総務課"),
        c(3, "C", "経理課"),
        c(4, "D", "総務課"),
    ];
    let g = Gate {
        min_success_percent: 90,
        max_failures: Some(2),
    };
    let waves = waves_by_department(&["c".into()], &targets, g);
    let got: Vec<(String, Vec<i64>)> = waves
        .iter()
        .map(|w| (w.name.clone(), w.targets.clone()))
        .collect();
    assert_eq!(
        got,
        // Departments in code-point order (経 U+7D4C before 総 U+7DCF).
        vec![
            ("パイロット (pilot)".into(), vec![3]),
            ("経理課".into(), vec![1]),
            ("総務課".into(), vec![2, 4])
        ]
    );
    assert!(waves[0].gate.is_none() && waves[1].gate == Some(g));
}

#[test]
fn due_targets_wait_for_the_next_window() {
    use lanward_deploy::MaintenanceWindow;
    let t0 = jst(2026, 11, 27, 12, 50); // Friday, 10 minutes of lunch window left
    let mut p = plan();
    p.windows = Windows::new(
        vec![MaintenanceWindow::parse_simple("mon-fri 12:00-13:00").expect("valid")],
        t0,
    )
    .expect("opens");
    p.spread = Duration::minutes(5);
    let mut s = Scheduler::new(p, sites());
    s.next_actions(t0, &HashMap::new());
    // At 13:30 every pilot target is due, but the window has closed.
    let mut st: HashMap<i64, TargetState> = HashMap::new();
    st.insert(1, TargetState::WaitingForWindow);
    let a = s.next_actions(jst(2026, 11, 27, 13, 30), &st);
    assert!(
        !a.iter().any(|a| matches!(a, Action::StartDownload { .. })),
        "{a:?}"
    );
    let mut waiting: Vec<i64> = a
        .iter()
        .filter_map(|a| {
            if let Action::WaitForWindow { asset_id } = a {
                Some(*asset_id)
            } else {
                None
            }
        })
        .collect();
    waiting.sort();
    assert_eq!(
        waiting,
        (2..=10).collect::<Vec<i64>>(),
        "1 is already waiting"
    );
    assert!(
        a.contains(&Action::WaitUntil {
            at: jst(2026, 11, 30, 12, 0)
        }),
        "{a:?}"
    );
    // Monday noon: they start.
    let a = s.next_actions(jst(2026, 11, 30, 12, 0), &st);
    assert_eq!(
        a.iter()
            .filter(|a| matches!(a, Action::StartDownload { .. }))
            .count(),
        10
    );
}

#[test]
fn simulated_rollout_stops_at_a_failed_pilot_and_misses_after_the_deadline() {
    use lanward_deploy::sim::{run, SimConfig};
    let start = jst(2026, 12, 1, 9, 0);
    let mut cfg = SimConfig::bureau(true, start);
    cfg.package_bytes = 10_000_000;
    cfg.failure_rate = 0.5;
    let r = run(&cfg, |_| {}).expect("runs");
    assert_eq!(r.installed + r.failed, 20, "only the pilot ran: {r:?}");
    assert!(
        r.failed >= 3,
        "with half failing, the 90 % gate stays closed"
    );
    assert!(r.completed_after.is_none());

    let mut cfg = SimConfig::bureau(false, start);
    cfg.failure_rate = 0.0; // 300 MB: 10 at a time over ORO's WAN take ~40 min each
    cfg.step = Duration::seconds(5);
    let deadline = start + Duration::hours(1);
    cfg.deadline = Some(deadline);
    let r = run(&cfg, |_| {}).expect("runs");
    assert!(
        r.missed > 0,
        "ORO's 70 PCs cannot all start within the hour at 10 Mbit/s"
    );
    let oro = r.sites.iter().find(|s| s.site == "ORO").expect("ORO");
    assert!(
        oro.wan_bytes < 70 * 300_000_000,
        "missed PCs downloaded nothing"
    );
    assert_eq!(r.installed + r.missed, 680);
    assert!(r.started_at.iter().all(|t| *t < deadline));
}
