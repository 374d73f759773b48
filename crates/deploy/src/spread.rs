//! Spreading start times so that 680 PCs do not all start at once.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::window::Windows;

/// `n` start times drawn uniformly over the first `spread` of *open* time
/// from `from` (window time only: a spread of 2 h over 12:00–13:00 windows
/// covers today's and tomorrow's lunch hour). Times past `deadline` are
/// never drawn; a zero spread starts all at the first open moment; if the open time before the deadline is shorter than
/// `spread`, the draw covers what there is. Returns an empty list when no
/// window opens before the deadline (the targets will be missed).
pub fn spread_starts<R: Rng + ?Sized>(
    windows: &Windows,
    from: DateTime<Utc>,
    spread: Duration,
    deadline: Option<DateTime<Utc>>,
    n: usize,
    rng: &mut R,
) -> Vec<DateTime<Utc>> {
    if spread <= Duration::zero() {
        // No spread: everyone starts at the first open moment.
        let start = if windows.is_open(from) { Some(from) } else { windows.next_open(from).map(|(s, _)| s) };
        return match start {
            Some(s) if deadline.is_none_or(|d| s < d) => vec![s; n],
            _ => Vec::new(),
        };
    }
    let intervals = open_intervals(windows, from, spread, deadline);
    let total: i64 = intervals
        .iter()
        .map(|(s, e)| (*e - *s).num_milliseconds())
        .sum();
    if total <= 0 {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            // Uniform over open milliseconds, then mapped onto the intervals.
            let mut x = rng.gen_range(0..total);
            for (s, e) in &intervals {
                let len = (*e - *s).num_milliseconds();
                if x < len {
                    return *s + Duration::milliseconds(x);
                }
                x -= len;
            }
            // Not reached: x < total = sum of lens.
            intervals[intervals.len() - 1].0
        })
        .collect()
}

/// The open intervals from `from` adding up to `spread` (or until the deadline).
pub fn open_intervals(
    windows: &Windows,
    from: DateTime<Utc>,
    spread: Duration,
    deadline: Option<DateTime<Utc>>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut left = spread;
    let mut t = from;
    // Bounded so a pathological spread cannot loop for ever (a year of daily windows).
    for _ in 0..400 {
        if left <= Duration::zero() || deadline.is_some_and(|d| t >= d) {
            break;
        }
        let (s, e) = if windows.is_always_open() {
            (t, t + left)
        } else {
            match windows.next_open(t) {
                Some(iv) => iv,
                None => break,
            }
        };
        if deadline.is_some_and(|d| s >= d) {
            break;
        }
        let mut e = e.min(s + left);
        if let Some(d) = deadline {
            e = e.min(d);
        }
        if e > s {
            out.push((s, e));
            left -= e - s;
        }
        t = e;
    }
    out
}
