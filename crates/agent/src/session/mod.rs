//! The session helper: a small process (`lanward-agent session-helper`)
//! the service starts in each user's logon session, because a service in
//! session 0 cannot see the user's desktop. It reports which window is in
//! front and shows notices and Yes/No prompts for the service.
//!
//! - [`protocol`]: the messages and their framing on the pipe.
//! - [`hub`]: the service's bookkeeping (commands, answers, recording).
//! - [`ForegroundTracker`]: turns once-a-second samples of the foreground
//!   window into "this window was in front this long" reports.
//! - `windows`: pipes, launching the helper, the helper's Win32 calls.
//!
//! Each session has its own pipe, `\\.\pipe\lanward-agent.<session id>`,
//! because a named pipe's security descriptor belongs to the name, not to
//! one instance: only per-session names let each DACL admit just
//! LocalSystem and that session's user.

pub mod hub;
pub mod protocol;
#[cfg(windows)]
pub mod windows;

use protocol::HelperMessage;

pub const PIPE_PREFIX: &str = r"\\.\pipe\lanward-agent";
pub const NOTICE_TITLE: &str = "lanward からのお知らせ";
pub const CONSENT_TITLE: &str = "lanward からの確認";

/// The pipe of one session's helper.
pub fn pipe_name(session_id: u32) -> String {
    format!("{PIPE_PREFIX}.{session_id}")
}

/// One look at the foreground window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSample {
    /// The window handle as a number: a new window with the same title is
    /// another stay in front.
    pub window: u64,
    pub pid: u32,
    pub title: String,
    /// Image file name of the process, e.g. `EXCEL.EXE`.
    pub process: String,
}

#[derive(Debug, Default)]
pub struct ForegroundTracker {
    current: Option<(WindowSample, i64)>,
}

impl ForegroundTracker {
    /// Takes the latest sample (`None`: no foreground window, e.g. while the
    /// screen is locked) and returns the report for the window that just
    /// left the front, if one did. A title change (another document, another
    /// browser tab) counts as a new window.
    pub fn observe(&mut self, sample: Option<WindowSample>, now_ms: i64) -> Option<HelperMessage> {
        let same = match (&self.current, &sample) {
            (Some((cur, _)), Some(s)) => cur == s,
            (None, None) => true,
            _ => false,
        };
        if same {
            return None;
        }
        let left = self.current.take().map(|(w, since)| HelperMessage::Foreground {
            title: w.title,
            process: w.process,
            started_at_ms: since,
            dwell_ms: now_ms.saturating_sub(since).max(0) as u64,
        });
        self.current = sample.map(|s| (s, now_ms));
        left
    }

    /// The report for the window in front now (the helper is exiting).
    pub fn finish(&mut self, now_ms: i64) -> Option<HelperMessage> {
        self.observe(None, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(window: u64, title: &str, process: &str) -> Option<WindowSample> {
        Some(WindowSample { window, pid: 100 + window as u32, title: title.into(), process: process.into() })
    }

    fn report(title: &str, process: &str, started_at_ms: i64, dwell_ms: u64) -> Option<HelperMessage> {
        Some(HelperMessage::Foreground { title: title.into(), process: process.into(), started_at_ms, dwell_ms })
    }

    #[test]
    fn reports_each_window_once_when_it_leaves_the_front() {
        let mut t = ForegroundTracker::default();
        assert_eq!(t.observe(w(1, "メモ帳", "notepad.exe"), 1_000), None);
        assert_eq!(t.observe(w(1, "メモ帳", "notepad.exe"), 2_000), None);
        assert_eq!(t.observe(w(2, "Book1 - Excel", "EXCEL.EXE"), 5_000), report("メモ帳", "notepad.exe", 1_000, 4_000));
        // Same window, new title: a new stay.
        assert_eq!(t.observe(w(2, "Book2 - Excel", "EXCEL.EXE"), 6_000), report("Book1 - Excel", "EXCEL.EXE", 5_000, 1_000));
        // Locked: nothing in front.
        assert_eq!(t.observe(None, 9_000), report("Book2 - Excel", "EXCEL.EXE", 6_000, 3_000));
        assert_eq!(t.observe(None, 10_000), None);
        assert_eq!(t.observe(w(2, "Book2 - Excel", "EXCEL.EXE"), 20_000), None);
        assert_eq!(t.finish(21_000), report("Book2 - Excel", "EXCEL.EXE", 20_000, 1_000));
        assert_eq!(t.finish(22_000), None);
    }

    #[test]
    fn a_clock_set_back_gives_zero_dwell_not_a_panic() {
        let mut t = ForegroundTracker::default();
        t.observe(w(1, "a", "a.exe"), 10_000);
        assert_eq!(t.observe(w(2, "b", "b.exe"), 5_000), report("a", "a.exe", 10_000, 0));
    }

    #[test]
    fn pipe_names_are_per_session() {
        assert_eq!(pipe_name(1), r"\\.\pipe\lanward-agent.1");
        assert_ne!(pipe_name(1), pipe_name(2));
    }
}
