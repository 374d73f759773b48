use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an installer's exit code means for the distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Installed; takes effect after a reboot the agent must arrange.
    SuccessRebootRequired,
    /// Installed, and the installer has already started a reboot.
    SuccessRebootInitiated,
    /// Another installation is running (MSI 1618): try again later.
    RetryLater,
    Failure,
}

/// The exit-code table: Windows Installer's conventions by default (0
/// success, 3010 reboot required, 1641 reboot initiated, 1618 another
/// install in progress, anything else failure), with per-package overrides
/// for installers that use other codes (e.g. Inno Setup or vendor tools).
/// Codes are `i64` so both the signed (`-1`) and unsigned (`0x80070643`)
/// readings of a Windows exit code fit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitCodes {
    #[serde(default)]
    pub overrides: BTreeMap<i64, Outcome>,
}

impl ExitCodes {
    /// Add or replace an override.
    pub fn with(mut self, code: i64, outcome: Outcome) -> ExitCodes {
        self.overrides.insert(code, outcome);
        self
    }

    pub fn classify(&self, code: i64) -> Outcome {
        if let Some(o) = self.overrides.get(&code) {
            return *o;
        }
        // Windows exit codes are u32; a signed reading (-1) and the
        // unsigned one (4294967295) name the same code.
        if let Ok(c) = i32::try_from(code) {
            if let Some(o) = self.overrides.get(&i64::from(c as u32)) {
                return *o;
            }
        } else if let Ok(c) = u32::try_from(code) {
            if let Some(o) = self.overrides.get(&i64::from(c as i32)) {
                return *o;
            }
        }
        match code {
            0 => Outcome::Success,
            3010 => Outcome::SuccessRebootRequired,
            1641 => Outcome::SuccessRebootInitiated,
            1618 => Outcome::RetryLater,
            _ => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let t = ExitCodes::default();
        assert_eq!(t.classify(0), Outcome::Success);
        assert_eq!(t.classify(3010), Outcome::SuccessRebootRequired);
        assert_eq!(t.classify(1641), Outcome::SuccessRebootInitiated);
        assert_eq!(t.classify(1618), Outcome::RetryLater);
        assert_eq!(t.classify(1603), Outcome::Failure);
        assert_eq!(t.classify(-1), Outcome::Failure);
        assert_eq!(t.classify(1), Outcome::Failure);
    }

    #[test]
    fn overrides_win_and_match_both_readings() {
        let t = ExitCodes::default().with(1, Outcome::Success).with(0, Outcome::Failure).with(-1, Outcome::RetryLater);
        assert_eq!(t.classify(1), Outcome::Success);
        assert_eq!(t.classify(0), Outcome::Failure);
        assert_eq!(t.classify(-1), Outcome::RetryLater);
        assert_eq!(t.classify(0xFFFF_FFFF), Outcome::RetryLater);
        assert_eq!(t.classify(3010), Outcome::SuccessRebootRequired);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"overrides":{"-1":"retry_later","0":"failure","1":"success"}}"#);
        assert_eq!(serde_json::from_str::<ExitCodes>(&json).unwrap(), t);
    }
}
