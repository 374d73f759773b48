//! Integration tests of lanward-deploy: one binary, one module per topic.

mod caps;
mod gates;
mod spread;
mod states;
mod targets;
mod windows;

use chrono::{DateTime, TimeZone, Utc};

/// A moment given in JST (the bureau's local time).
pub fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    lanward_deploy::jst()
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("test dates are valid")
        .with_timezone(&Utc)
}

#[test]
fn zero_spread_starts_everyone_at_once_when_open() {
    use chrono::{DateTime, Duration};
    let now = DateTime::from_timestamp(1_795_000_000, 0).expect("valid");
    let always = lanward_deploy::Windows::always();
    let mut rng = rand::rngs::mock::StepRng::new(0, 1);
    let times = lanward_deploy::spread_starts(&always, now, Duration::zero(), None, 3, &mut rng);
    assert_eq!(times, vec![now; 3]);
    assert!(lanward_deploy::spread_starts(&always, now, Duration::zero(), Some(now), 3, &mut rng).is_empty(), "deadline already passed");
}
