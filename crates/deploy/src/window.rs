//! Maintenance windows in the bureau's local time.
//!
//! Time zone: Japan has had no daylight saving time since 1951, so Asia/Tokyo
//! is a fixed +09:00 offset. We use chrono's `FixedOffset` instead of pulling
//! chrono-tz (and its whole tz database) into the crate.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// Asia/Tokyo (JST, no DST).
pub fn jst() -> FixedOffset {
    // A constant within ±24 h: cannot fail.
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// One window as a person writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WindowSpec {
    /// A 5-field cron expression (minute hour day month weekday) for the
    /// start, in JST, and how long the window stays open.
    Cron { cron: String, minutes: u32 },
    /// The short form `mon-fri 12:00-13:00` (see [`MaintenanceWindow::parse_simple`]).
    Simple(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "メンテナンス時間帯 \"{expr}\" の{field_ja}が不正です: {detail} (invalid {field} field)"
    )]
    BadField {
        expr: String,
        field: &'static str,
        field_ja: &'static str,
        detail: String,
    },
    #[error("メンテナンス時間帯 \"{expr}\" を解釈できません: {detail} (invalid window)")]
    Bad { expr: String, detail: String },
    #[error("メンテナンス時間帯 \"{0}\" は 1 年以内に一度も開きません (never opens)")]
    NeverOpens(String),
    #[error("メンテナンス時間帯 \"{expr}\" の長さ {minutes} 分は 1〜10080 分にしてください (duration must be 1..=10080 minutes)")]
    BadDuration { expr: String, minutes: u32 },
}

const FIELDS: [(&str, &str); 5] = [
    ("minute", "分"),
    ("hour", "時"),
    ("day-of-month", "日"),
    ("month", "月"),
    ("day-of-week", "曜日"),
];

/// One maintenance window: opens at each cron match, stays open `minutes`.
#[derive(Debug, Clone)]
pub struct MaintenanceWindow {
    expr: String,
    cron: Cron,
    minutes: u32,
}

fn parser() -> CronParser {
    // Exactly five fields: seconds and years would only invite mistakes here.
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

impl MaintenanceWindow {
    /// A window from a cron expression (JST) and a duration in minutes.
    pub fn cron(expr: &str, minutes: u32) -> Result<Self, WindowError> {
        Self::cron_named(expr, minutes, expr)
    }

    fn cron_named(expr: &str, minutes: u32, shown: &str) -> Result<Self, WindowError> {
        if minutes == 0 || minutes > 7 * 24 * 60 {
            return Err(WindowError::BadDuration {
                expr: shown.to_string(),
                minutes,
            });
        }
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(WindowError::Bad {
                expr: shown.to_string(),
                detail: format!(
                    "項目が {} 個です、5 個 (分 時 日 月 曜日) が必要 ({} fields, need 5)",
                    fields.len(),
                    fields.len()
                ),
            });
        }
        match parser().parse(expr) {
            Ok(cron) => Ok(Self {
                expr: shown.to_string(),
                cron,
                minutes,
            }),
            Err(whole) => {
                // croner does not say which field is wrong: try each field alone
                // among wildcards, and name the first one that fails.
                for (i, (field, field_ja)) in FIELDS.iter().enumerate() {
                    let mut probe = ["*"; 5];
                    probe[i] = fields[i];
                    if let Err(e) = parser().parse(&probe.join(" ")) {
                        return Err(WindowError::BadField {
                            expr: shown.to_string(),
                            field,
                            field_ja,
                            detail: format!("\"{}\": {e}", fields[i]),
                        });
                    }
                }
                Err(WindowError::Bad {
                    expr: shown.to_string(),
                    detail: whole.to_string(),
                })
            }
        }
    }

    /// The short form: `DAYS HH:MM-HH:MM`, DAYS being `daily`, `*`, a day
    /// (`fri`), a range (`mon-fri`) or a list (`sat,sun`). An end at or before
    /// the start means the next day (`fri 22:00-02:00`).
    pub fn parse_simple(text: &str) -> Result<Self, WindowError> {
        let bad = |detail: &str| WindowError::Bad {
            expr: text.to_string(),
            detail: detail.to_string(),
        };
        let mut parts = text.split_whitespace();
        let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(
                "「曜日 HH:MM-HH:MM」の形で書いてください (expected `DAYS HH:MM-HH:MM`)",
            ));
        };
        let days = days.to_ascii_lowercase();
        let dow = if days == "daily" || days == "*" {
            "*".to_string()
        } else {
            days
        };
        let (from, to) = times
            .split_once('-')
            .ok_or_else(|| bad("時刻は HH:MM-HH:MM (times must be HH:MM-HH:MM)"))?;
        let hm = |s: &str| -> Result<u32, WindowError> {
            let (h, m) = s
                .split_once(':')
                .ok_or_else(|| bad("時刻は HH:MM (time must be HH:MM)"))?;
            let h: u32 = h
                .parse()
                .map_err(|_| bad("時が数字ではありません (hour is not a number)"))?;
            let m: u32 = m
                .parse()
                .map_err(|_| bad("分が数字ではありません (minute is not a number)"))?;
            // 24:00 is allowed as an end ("until midnight").
            if h > 24 || m > 59 || (h == 24 && m != 0) {
                return Err(bad("時刻の範囲外です (time out of range)"));
            }
            Ok(h * 60 + m)
        };
        let (start, end) = (hm(from)?, hm(to)?);
        if start >= 24 * 60 {
            return Err(bad("開始時刻は 23:59 まで (start must be before 24:00)"));
        }
        let minutes = if end > start {
            end - start
        } else {
            end + 24 * 60 - start
        };
        Self::cron_named(
            &format!("{} {} * * {}", start % 60, start / 60, dow),
            minutes,
            text,
        )
    }

    pub fn from_spec(spec: &WindowSpec) -> Result<Self, WindowError> {
        match spec {
            WindowSpec::Cron { cron, minutes } => Self::cron(cron, *minutes),
            WindowSpec::Simple(s) => Self::parse_simple(s),
        }
    }

    /// The text the person wrote.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    fn len(&self) -> Duration {
        Duration::minutes(i64::from(self.minutes))
    }

    /// The interval of this window that contains `at`, if any.
    fn current(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let local = at.with_timezone(&jst());
        let start = self
            .cron
            .find_previous_occurrence(&local, true)
            .ok()?
            .with_timezone(&Utc);
        let end = start + self.len();
        (start <= at && at < end).then_some((start, end))
    }

    /// The first interval starting strictly after `after`.
    fn next_start(&self, after: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let local = after.with_timezone(&jst());
        let start = self
            .cron
            .find_next_occurrence(&local, false)
            .ok()?
            .with_timezone(&Utc);
        Some((start, start + self.len()))
    }
}

/// All the windows of a deployment. No windows at all means "always open".
#[derive(Debug, Clone, Default)]
pub struct Windows {
    list: Vec<MaintenanceWindow>,
}

impl Windows {
    /// Always open.
    pub fn always() -> Self {
        Self { list: Vec::new() }
    }

    /// Check every window, refusing one that does not open within a year of `now`.
    pub fn new(list: Vec<MaintenanceWindow>, now: DateTime<Utc>) -> Result<Self, WindowError> {
        for w in &list {
            match w.next_start(now) {
                Some((start, _)) if start - now <= Duration::days(366) => {}
                _ => return Err(WindowError::NeverOpens(w.expr.clone())),
            }
        }
        Ok(Self { list })
    }

    pub fn from_specs(specs: &[WindowSpec], now: DateTime<Utc>) -> Result<Self, WindowError> {
        let list = specs
            .iter()
            .map(MaintenanceWindow::from_spec)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(list, now)
    }

    pub fn is_always_open(&self) -> bool {
        self.list.is_empty()
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.list.is_empty() || self.list.iter().any(|w| w.current(at).is_some())
    }

    /// The next stretch of open time at or after `after`: `(start, end)` with
    /// `start == after` when already open. Overlapping or touching windows
    /// are merged into one stretch. `None` when always open (no end) or when
    /// nothing opens any more.
    pub fn next_open(&self, after: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.list.is_empty() {
            return None;
        }
        let first = |t: DateTime<Utc>| -> Option<(DateTime<Utc>, DateTime<Utc>)> {
            self.list
                .iter()
                .filter_map(|w| {
                    w.current(t)
                        .map(|(_, e)| (t, e))
                        .or_else(|| w.next_start(t))
                })
                .min_by_key(|(s, e)| (*s, std::cmp::Reverse(*e)))
        };
        let (start, mut end) = first(after)?;
        // Extend while another window is open at the end (bounded: a week of
        // back-to-back windows is already more than any spread needs).
        for _ in 0..64 {
            let more = self
                .list
                .iter()
                .filter_map(|w| w.current(end))
                .map(|(_, e)| e)
                .max();
            match more {
                Some(e) if e > end => end = e,
                _ => break,
            }
        }
        Some((start.max(after), end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_form_becomes_cron_and_minutes() {
        let w = MaintenanceWindow::parse_simple("MON-FRI 17:30-22:00").expect("valid");
        assert_eq!(w.minutes, 270);
        assert_eq!(w.expr(), "MON-FRI 17:30-22:00");
        let w = MaintenanceWindow::parse_simple("daily 22:00-24:00").expect("valid");
        assert_eq!(w.minutes, 120);
        let w = MaintenanceWindow::parse_simple("fri 22:00-02:00").expect("valid");
        assert_eq!(w.minutes, 240);
        assert!(MaintenanceWindow::parse_simple("fri 24:00-02:00").is_err());
    }

    #[test]
    fn error_for_a_bad_simple_form_names_its_text_not_the_cron() {
        let err = MaintenanceWindow::parse_simple("mon-fry 12:00-13:00").expect_err("bad day");
        let msg = err.to_string();
        assert!(
            msg.contains("\"mon-fry 12:00-13:00\" の曜日が不正です"),
            "{msg}"
        );
    }
}
