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
