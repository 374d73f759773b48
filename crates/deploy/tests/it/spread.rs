use chrono::Duration;
use lanward_deploy::{spread_starts, MaintenanceWindow, Windows};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::jst;

fn lunch() -> Windows {
    Windows::new(
        vec![MaintenanceWindow::parse_simple("mon-fri 12:00-13:00").expect("valid")],
        jst(2026, 11, 27, 0, 0),
    )
    .expect("opens")
}

#[test]
fn all_inside_windows_spread_and_deterministic() {
    let w = lunch();
    // From Friday 11:00 JST, two hours of open time: Friday and Monday lunch.
    let from = jst(2026, 11, 27, 11, 0);
    let times = spread_starts(
        &w,
        from,
        Duration::hours(2),
        None,
        680,
        &mut StdRng::seed_from_u64(42),
    );
    assert_eq!(times.len(), 680);
    for t in &times {
        assert!(w.is_open(*t), "{t} outside the windows");
        assert!(*t >= from);
    }
    let friday = times
        .iter()
        .filter(|t| **t < jst(2026, 11, 28, 0, 0))
        .count();
    // Uniform over open time: about half each day (binomial sd ≈ 13).
    assert!((280..=400).contains(&friday), "friday {friday}");
    let mut distinct = times.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() > 600,
        "only {} distinct times",
        distinct.len()
    );
    // Within one hour, each quarter gets a fair share.
    for q in 0..4 {
        let lo = jst(2026, 11, 27, 12, 0) + Duration::minutes(15 * q);
        let n = times
            .iter()
            .filter(|t| **t >= lo && **t < lo + Duration::minutes(15))
            .count();
        assert!((50..=120).contains(&n), "quarter {q}: {n}");
    }
    let again = spread_starts(
        &w,
        from,
        Duration::hours(2),
        None,
        680,
        &mut StdRng::seed_from_u64(42),
    );
    assert_eq!(times, again, "same seed, same times");
    let other = spread_starts(
        &w,
        from,
        Duration::hours(2),
        None,
        680,
        &mut StdRng::seed_from_u64(43),
    );
    assert_ne!(times, other);
}

#[test]
fn deadline_cuts_the_spread() {
    let w = lunch();
    let from = jst(2026, 11, 27, 11, 0);
    let deadline = jst(2026, 11, 27, 12, 30);
    let times = spread_starts(
        &w,
        from,
        Duration::hours(2),
        Some(deadline),
        100,
        &mut StdRng::seed_from_u64(1),
    );
    assert_eq!(times.len(), 100);
    assert!(times
        .iter()
        .all(|t| *t >= jst(2026, 11, 27, 12, 0) && *t < deadline));
    // No window before the deadline: nothing planned (the targets will be missed).
    let none = spread_starts(
        &w,
        from,
        Duration::hours(2),
        Some(jst(2026, 11, 27, 11, 30)),
        10,
        &mut StdRng::seed_from_u64(1),
    );
    assert!(none.is_empty());
}
