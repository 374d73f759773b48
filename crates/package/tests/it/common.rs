use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lanward_package::{chunk_reader, sign, Manifest, SignedManifest, SigningKey};

/// 2026-11-29T00:00:00Z: "now" in these tests.
pub const NOW: u64 = 1_795_910_400;

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_seed([n; 32])
}

/// A manifest over some bytes, with Japanese text and nested installer
/// JSON, valid for a day around NOW.
pub fn manifest(key: &SigningKey, serial: u64) -> Manifest {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let content = chunk_reader(&data[..], 4096, |_, _| Ok(())).expect("chunking a slice");
    Manifest {
        package: "office-ltsc-2024".into(),
        version: "16.0.17932.20162".into(),
        serial,
        created_at: NOW - 3600,
        expires_at: NOW + 86_400,
        content,
        installer: serde_json::json!({
            "framework": "msi",
            "args": ["/qn", "/norestart"],
            "display_name": "Microsoft Office LTSC 2024 (水道局配布)",
            "exit_codes": {"3010": "success_reboot_required"},
            "timeout_minutes": 90
        }),
        key_id: key.id(),
    }
}

pub fn signed(key: &SigningKey, serial: u64) -> SignedManifest {
    sign(&manifest(key, serial), key).expect("signing a valid manifest")
}

/// Deterministic xorshift, so failures reproduce without a rand dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
