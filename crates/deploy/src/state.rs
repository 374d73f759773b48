//! Target states and the transitions between them.
//!
//! The server stores one `TargetState` per (deployment, target) and changes
//! it only through [`transition`], so an agent's late or repeated report
//! cannot move a target backwards (installed → downloading).

use serde::{Deserialize, Serialize};

/// Where one target of a deployment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetState {
    Queued,
    WaitingForWindow,
    Downloading {
        percent: u8,
    },
    Downloaded,
    Installing,
    Installed,
    InstalledPendingReboot,
    Failed {
        code: i32,
        log_tail: String,
    },
    NotApplicable,
    Cancelled,
    /// The deadline passed before the target started (not in the brief's
    /// list, but "reported as missed rather than started" needs a state).
    Missed,
}

/// Something that happened to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    WindowClosed,
    WindowOpened,
    StartDownload,
    Progress {
        percent: u8,
    },
    DownloadComplete,
    StartInstall,
    InstallSucceeded {
        reboot_required: bool,
    },
    Rebooted,
    Fail {
        code: i32,
        log_tail: String,
    },
    /// The detection rule says the package does not apply (or is already there).
    NotApplicable,
    Cancel,
    Retry,
    DeadlinePassed,
    /// Released to a PC that never started (switched off, unplugged): the
    /// slot goes back, so it does not hold a site's concurrency for ever.
    Unclaimed,
}

/// The event is not allowed in that state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("状態 {from} では {event} は許されません (event {event_en} not allowed in state {from_en})", from = from.label_ja(), from_en = from.label_en(), event = event_name(event), event_en = event_name(event))]
pub struct InvalidTransition {
    pub from: TargetState,
    pub event: Event,
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::WindowClosed => "window_closed",
        Event::WindowOpened => "window_opened",
        Event::StartDownload => "start_download",
        Event::Progress { .. } => "progress",
        Event::DownloadComplete => "download_complete",
        Event::StartInstall => "start_install",
        Event::InstallSucceeded { .. } => "install_succeeded",
        Event::Rebooted => "rebooted",
        Event::Fail { .. } => "fail",
        Event::NotApplicable => "not_applicable",
        Event::Cancel => "cancel",
        Event::Retry => "retry",
        Event::DeadlinePassed => "deadline_passed",
        Event::Unclaimed => "unclaimed",
    }
}

/// The state after `event`, or why it cannot happen.
pub fn transition(from: &TargetState, event: &Event) -> Result<TargetState, InvalidTransition> {
    use Event as E;
    use TargetState as S;
    let to = match (from, event) {
        (S::Queued, E::WindowClosed) => Some(S::WaitingForWindow),
        (S::WaitingForWindow, E::WindowOpened) => Some(S::Queued),
        (S::Queued | S::WaitingForWindow, E::StartDownload) => Some(S::Downloading { percent: 0 }),
        // Progress never goes down: a resumed download reports from its verified chunks (§4(7)).
        (S::Downloading { percent: p }, E::Progress { percent: q }) if q >= p && *q <= 100 => {
            Some(S::Downloading { percent: *q })
        }
        (S::Downloading { .. }, E::DownloadComplete) => Some(S::Downloaded),
        (S::Downloaded, E::StartInstall) => Some(S::Installing),
        (
            S::Installing,
            E::InstallSucceeded {
                reboot_required: false,
            },
        ) => Some(S::Installed),
        (
            S::Installing,
            E::InstallSucceeded {
                reboot_required: true,
            },
        ) => Some(S::InstalledPendingReboot),
        (S::InstalledPendingReboot, E::Rebooted) => Some(S::Installed),
        (
            S::Queued
            | S::WaitingForWindow
            | S::Downloading { .. }
            | S::Downloaded
            | S::Installing
            | S::InstalledPendingReboot,
            E::Fail { code, log_tail },
        ) => Some(S::Failed {
            code: *code,
            log_tail: log_tail.clone(),
        }),
        // Detection runs when the agent is told to start (the server has
        // already counted it as downloading) and again before install.
        (S::Queued | S::WaitingForWindow | S::Downloading { .. } | S::Downloaded, E::NotApplicable) => {
            Some(S::NotApplicable)
        }
        // An install in progress cannot be stopped safely (half-applied MSI); wait for its result.
        (
            S::Queued
            | S::WaitingForWindow
            | S::Downloading { .. }
            | S::Downloaded
            | S::Failed { .. }
            | S::Missed,
            E::Cancel,
        ) => Some(S::Cancelled),
        (S::Failed { .. } | S::Missed, E::Retry) => Some(S::Queued),
        (S::Queued | S::WaitingForWindow, E::DeadlinePassed) => Some(S::Missed),
        (S::Downloading { percent: 0 }, E::Unclaimed) => Some(S::Queued),
        _ => None,
    };
    to.ok_or_else(|| InvalidTransition {
        from: from.clone(),
        event: event.clone(),
    })
}

impl TargetState {
    /// Console label, Japanese.
    pub fn label_ja(&self) -> &'static str {
        match self {
            TargetState::Queued => "待機中",
            TargetState::WaitingForWindow => "時間帯待ち",
            TargetState::Downloading { .. } => "ダウンロード中",
            TargetState::Downloaded => "ダウンロード済み",
            TargetState::Installing => "インストール中",
            TargetState::Installed => "インストール済み",
            TargetState::InstalledPendingReboot => "再起動待ち",
            TargetState::Failed { .. } => "失敗",
            TargetState::NotApplicable => "対象外",
            TargetState::Cancelled => "取消",
            TargetState::Missed => "期限切れ",
        }
    }

    /// Console label, English.
    pub fn label_en(&self) -> &'static str {
        match self {
            TargetState::Queued => "Queued",
            TargetState::WaitingForWindow => "Waiting for window",
            TargetState::Downloading { .. } => "Downloading",
            TargetState::Downloaded => "Downloaded",
            TargetState::Installing => "Installing",
            TargetState::Installed => "Installed",
            TargetState::InstalledPendingReboot => "Installed, reboot pending",
            TargetState::Failed { .. } => "Failed",
            TargetState::NotApplicable => "Not applicable",
            TargetState::Cancelled => "Cancelled",
            TargetState::Missed => "Missed (deadline)",
        }
    }

    /// Nothing more will happen without a person (retry) — counts as "done" for a wave.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            TargetState::Installed
                | TargetState::InstalledPendingReboot
                | TargetState::Failed { .. }
                | TargetState::NotApplicable
                | TargetState::Cancelled
                | TargetState::Missed
        )
    }

    /// The package is on the PC and applied (a pending reboot still counts:
    /// the bureau reboots at its own pace, and the gate should not wait for it).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            TargetState::Installed | TargetState::InstalledPendingReboot
        )
    }

    /// Not yet started: the scheduler may start it.
    pub fn is_startable(&self) -> bool {
        matches!(self, TargetState::Queued | TargetState::WaitingForWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_happy_path() {
        let mut s = TargetState::Queued;
        for e in [
            Event::StartDownload,
            Event::Progress { percent: 40 },
            Event::Progress { percent: 100 },
            Event::DownloadComplete,
            Event::StartInstall,
            Event::InstallSucceeded {
                reboot_required: true,
            },
            Event::Rebooted,
        ] {
            s = transition(&s, &e).expect("allowed");
        }
        assert_eq!(s, TargetState::Installed);
    }

    #[test]
    fn progress_never_goes_back() {
        let s = TargetState::Downloading { percent: 60 };
        assert!(transition(&s, &Event::Progress { percent: 30 }).is_err());
        assert!(transition(&s, &Event::Progress { percent: 101 }).is_err());
    }

    #[test]
    fn error_message_is_japanese_first() {
        let err = transition(&TargetState::Cancelled, &Event::Retry).expect_err("final");
        let msg = err.to_string();
        assert!(msg.starts_with("状態 取消 では retry"), "{msg}");
        assert!(
            msg.contains("(event retry not allowed in state Cancelled)"),
            "{msg}"
        );
    }
}
