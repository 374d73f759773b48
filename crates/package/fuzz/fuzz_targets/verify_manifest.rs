//! `verify` gets whatever bytes the network delivers: whatever they are,
//! it returns a manifest or a refusal, and never panics.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use lanward_package::{verify, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pinned = SigningKey::from_seed([1; 32]).public_key();
    let now = UNIX_EPOCH + Duration::from_secs(1_795_910_400);
    let split = data.first().copied().unwrap_or(0);
    let last_seen = match split % 3 {
        0 => None,
        1 => Some(0),
        _ => Some(u64::from(split)),
    };
    let _ = verify(data, &pinned, now, last_seen);
});
