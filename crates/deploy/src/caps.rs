//! Caps: concurrency limits and the per-site bandwidth token bucket.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Limits that hold at every moment of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Targets downloading at once in one site (default for every site).
    pub per_site_concurrency: usize,
    /// Per-site override of `per_site_concurrency` (site code → cap).
    #[serde(default)]
    pub site_concurrency: HashMap<String, usize>,
    /// Targets downloading at once over the whole deployment.
    pub global_concurrency: usize,
    /// Bytes per second one site may pull over its WAN link (None: no cap).
    pub per_site_bytes_per_sec: Option<u64>,
}

impl Caps {
    pub fn site_cap(&self, site: &str) -> usize {
        self.site_concurrency
            .get(site)
            .copied()
            .unwrap_or(self.per_site_concurrency)
    }
}

/// A token bucket per site over the caller's (possibly simulated) clock.
/// Tokens are bytes; they refill at `rate` bytes/s up to `burst` bytes.
/// The content handler (or an agent's fetch scheduler) asks before sending
/// a chunk: [`BandwidthBuckets::try_take`] says yes, or when to ask again.
#[derive(Debug, Clone)]
pub struct BandwidthBuckets {
    rate: f64,
    burst: f64,
    sites: HashMap<String, Bucket>,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl BandwidthBuckets {
    /// `rate` bytes/s per site; `burst` is the most one site may take at once
    /// after being idle (at least one chunk, else a chunk would never fit).
    pub fn new(rate_bytes_per_sec: u64, burst_bytes: u64) -> Self {
        Self {
            rate: rate_bytes_per_sec.max(1) as f64,
            burst: burst_bytes.max(1) as f64,
            sites: HashMap::new(),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    fn refill(&mut self, site: &str, now: DateTime<Utc>) -> &mut Bucket {
        let (rate, burst) = (self.rate, self.burst);
        // A site seen for the first time starts full: it has been idle.
        let b = self.sites.entry(site.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        // A clock that goes backwards (caller's mistake) adds nothing rather than panicking.
        let dt = (now - b.at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
        b.tokens = (b.tokens + dt * rate).min(burst);
        if now > b.at {
            b.at = now;
        }
        b
    }

    /// Take `bytes` for `site` now, or learn when they will be there.
    /// `bytes` larger than the burst can never fit: ask in smaller chunks.
    pub fn try_take(
        &mut self,
        site: &str,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let (rate, burst) = (self.rate, self.burst);
        let b = self.refill(site, now);
        let want = bytes as f64;
        if want <= b.tokens {
            b.tokens -= want;
            return Ok(());
        }
        let short = want.min(burst) - b.tokens;
        let wait_us = (short / rate * 1e6).ceil() as i64;
        Err(now + Duration::microseconds(wait_us.max(1)))
    }

    /// Take as many of `bytes` as are there now (at most `bytes`); returns how many.
    /// Used by the simulator, which moves bytes in fluid steps.
    pub fn take_up_to(&mut self, site: &str, bytes: u64, now: DateTime<Utc>) -> u64 {
        let b = self.refill(site, now);
        let got = (bytes as f64).min(b.tokens.floor()).max(0.0);
        b.tokens -= got;
        got as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_override_and_backwards_clock() {
        let caps = Caps {
            per_site_concurrency: 5,
            site_concurrency: HashMap::from([("HQ".to_string(), 20)]),
            global_concurrency: 50,
            per_site_bytes_per_sec: None,
        };
        assert_eq!(caps.site_cap("HQ"), 20);
        assert_eq!(caps.site_cap("KUN"), 5);
        let t = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let mut b = BandwidthBuckets::new(100, 100);
        assert_eq!(b.take_up_to("KUN", 1000, t), 100);
        // An earlier time adds nothing instead of panicking or minting tokens.
        assert_eq!(b.take_up_to("KUN", 1000, t - Duration::seconds(10)), 0);
        assert_eq!(b.take_up_to("KUN", 1000, t + Duration::seconds(1)), 100);
    }
}
