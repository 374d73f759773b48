//! How the agent installs a package: the manifest's `installer` object.
//!
//! The server writes it when a package is added (from what
//! `lanward-installer` recognised, or what the operator typed); it is
//! signed with the rest of the manifest, so a PC runs exactly the command
//! the operator approved.

use serde::{Deserialize, Serialize};

use crate::exit::ExitCodes;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSpec {
    /// The installer's file name on the PC (`7z2408-x64.msi`); the content
    /// is assembled under this name.
    pub file_name: String,
    /// `msi`, `inno_setup`, `nsis`, `deb`, `shell`, ... (informational).
    pub framework: String,
    /// The silent command line with `{file}`, `{log}`, `{dir}` placeholders.
    pub command: String,
    /// Detection rule in its text form (`deb:hello>=2.10`, `msi:{GUID}`);
    /// `None`: the exit code alone decides.
    #[serde(default)]
    pub detection: Option<String>,
    #[serde(default)]
    pub exit_codes: ExitCodes,
    /// The installer is killed after this long and the target fails.
    pub timeout_secs: u64,
}

impl InstallSpec {
    /// Reads the spec out of a verified manifest's `installer` value.
    pub fn from_manifest(installer: &serde_json::Value) -> Result<InstallSpec, String> {
        serde_json::from_value(installer.clone()).map_err(|e| format!("installer: {e}"))
    }

    pub fn to_value(&self) -> serde_json::Value {
        // A derived struct of strings and integers always serializes.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Checks what a signature cannot: a usable file name and command.
    pub fn check(&self) -> Result<(), (String, String)> {
        let name = self.file_name.as_str();
        if name.is_empty() || name.len() > 200 || name.contains(['/', '\\', ':']) || name.starts_with('.') || name.chars().any(char::is_control) {
            return Err(("installer.file_name".into(), format!("{name:?}: パス区切りや制御文字を含まない 1〜200 バイトのファイル名が必要です (a plain file name)")));
        }
        if self.command.trim().is_empty() || self.command.chars().any(|c| c.is_control()) {
            return Err(("installer.command".into(), "サイレントインストールのコマンドが空か制御文字を含みます (command is empty or has control characters)".into()));
        }
        if self.timeout_secs == 0 || self.timeout_secs > 24 * 3600 {
            return Err(("installer.timeout_secs".into(), format!("{}: 1〜86400 秒 (1 s to 24 h)", self.timeout_secs)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_and_refuses_path_names() {
        let spec = InstallSpec {
            file_name: "hello.deb".into(),
            framework: "deb".into(),
            command: "dpkg -i {file}".into(),
            detection: Some("deb:hello".into()),
            exit_codes: ExitCodes::default(),
            timeout_secs: 600,
        };
        assert_eq!(InstallSpec::from_manifest(&spec.to_value()), Ok(spec.clone()));
        assert!(spec.check().is_ok());
        let bad = InstallSpec { file_name: "../etc/passwd".into(), ..spec.clone() };
        assert_eq!(bad.check().map_err(|(f, _)| f), Err("installer.file_name".to_string()));
        let bad = InstallSpec { command: " ".into(), ..spec };
        assert_eq!(bad.check().map_err(|(f, _)| f), Err("installer.command".to_string()));
    }
}
