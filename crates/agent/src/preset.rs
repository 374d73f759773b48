//! Enrolment settings left by the installer.
//!
//! `msiexec /i lanward-agent.msi /qn SERVER=... TOKEN=...` (or a Group
//! Policy registry preference) writes `HKLM\SOFTWARE\lanward\Agent`
//! `EnrollServer` and `EnrollToken`. The service enrols with them on its
//! first start and then deletes the token, which is a secret. No custom
//! action runs inside the installer, so a silent install cannot hang on a
//! network problem: the service retries on its own schedule.

/// (server URL, token) waiting to be used, if any.
pub fn pending() -> Option<(String, String)> {
    imp::pending()
}

/// Forgets the token once enrolment succeeded (or the token was refused).
pub fn clear_token() {
    imp::clear_token()
}

#[cfg(windows)]
mod imp {
    use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, KEY_SET_VALUE, KEY_WOW64_64KEY};
    use winreg::RegKey;

    const KEY: &str = r"SOFTWARE\lanward\Agent";

    pub fn pending() -> Option<(String, String)> {
        let key = RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(KEY, KEY_READ | KEY_WOW64_64KEY).ok()?;
        let server: String = key.get_value("EnrollServer").ok()?;
        let token: String = key.get_value("EnrollToken").ok()?;
        let (server, token) = (server.trim().to_string(), token.trim().to_string());
        (!server.is_empty() && !token.is_empty()).then_some((server, token))
    }

    pub fn clear_token() {
        if let Ok(key) = RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(KEY, KEY_SET_VALUE | KEY_WOW64_64KEY) {
            if let Err(e) = key.delete_value("EnrollToken") {
                tracing::warn!(error = %e, "cannot delete the enrolment token from the registry");
            }
        }
    }
}

#[cfg(not(windows))]
mod imp {
    /// Linux packages pass the server and token on the command line
    /// (`lanward-agent enroll`); there is nothing preset.
    pub fn pending() -> Option<(String, String)> {
        None
    }
    pub fn clear_token() {}
}
