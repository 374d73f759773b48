//! Errors of a directory sign-in, with the message shown to the person
//! (Japanese and English) kept apart from the detail kept for the audit log.

use std::fmt;

/// Why a sign-in was refused as "bad credentials". The caller shows the same
/// message for all of these (no user enumeration); the reason and the
/// detail go to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialFailure {
    /// The password was empty: refused before any network I/O, because an
    /// LDAP simple bind with an empty password is an "unauthenticated bind"
    /// that many servers answer with success.
    EmptyPassword,
    /// The password is longer than [`crate::MAX_PASSWORD_BYTES`].
    PasswordTooLong,
    /// The user name is empty, too long or has characters outside the safe
    /// set; refused before any network I/O.
    InvalidUsername,
    /// No entry matched the user filter (search-then-bind).
    UnknownUser,
    /// More than one entry matched the user filter (search-then-bind).
    AmbiguousUser,
    /// The directory refused the bind (LDAP result 49, invalidCredentials):
    /// wrong password or, with a bind DN template, possibly an unknown user.
    WrongPassword,
    /// Active Directory refused the bind for a reason about the account
    /// (disabled, locked out, expired, password expired, must change
    /// password, logon hours...). The text names it, from AD's `data` code.
    AccountRestricted(&'static str),
}

impl fmt::Display for CredentialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialFailure::EmptyPassword => f.write_str("empty password"),
            CredentialFailure::PasswordTooLong => f.write_str("password too long"),
            CredentialFailure::InvalidUsername => f.write_str("invalid user name"),
            CredentialFailure::UnknownUser => f.write_str("unknown user"),
            CredentialFailure::AmbiguousUser => f.write_str("user filter matched several entries"),
            CredentialFailure::WrongPassword => f.write_str("invalid credentials"),
            CredentialFailure::AccountRestricted(why) => write!(f, "account restricted: {why}"),
        }
    }
}

/// A failed directory sign-in.
///
/// `Display` (and [`DirectoryError::audit_detail`]) is for the audit log and
/// may name the cause precisely (for example "unknown user"); what the person
/// at the sign-in form sees must come from [`DirectoryError::message_ja`] /
/// [`DirectoryError::message_en`], which say the same for every kind of
/// bad credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// Wrong password, unknown user, empty password, invalid user name,
    /// account disabled/locked...
    #[error("bad credentials ({reason}): {detail}")]
    BadCredentials {
        reason: CredentialFailure,
        detail: String,
    },
    /// The directory could not be reached, stopped answering, or did not
    /// answer within the timeout.
    #[error("directory unreachable: {detail}")]
    Unreachable { detail: String },
    /// TLS could not be set up (certificate not trusted, wrong host name,
    /// StartTLS refused, handshake failure).
    #[error("TLS problem with the directory: {detail}")]
    Tls { detail: String },
    /// The password was right but the account is in none of the groups that
    /// `group_roles` maps to a lanward role.
    #[error("no lanward role for {dn} (groups: {groups:?})")]
    NoRole { dn: String, groups: Vec<String> },
    /// The configuration is wrong or the directory refuses what it asks
    /// (service account bind refused, search base missing, plain LDAP to a
    /// remote host...).
    #[error("directory sign-in misconfigured: {detail}")]
    Misconfiguration { detail: String },
    /// The directory answered something unexpected (an LDAP result code
    /// that none of the above explains), or the LDAP worker failed.
    #[error("unexpected directory response: {detail}")]
    Server { detail: String },
}

impl DirectoryError {
    pub(crate) fn bad(reason: CredentialFailure, detail: impl Into<String>) -> Self {
        DirectoryError::BadCredentials {
            reason,
            detail: detail.into(),
        }
    }
    pub(crate) fn unreachable(detail: impl Into<String>) -> Self {
        DirectoryError::Unreachable {
            detail: detail.into(),
        }
    }
    pub(crate) fn tls(detail: impl Into<String>) -> Self {
        DirectoryError::Tls {
            detail: detail.into(),
        }
    }
    pub(crate) fn config(detail: impl Into<String>) -> Self {
        DirectoryError::Misconfiguration {
            detail: detail.into(),
        }
    }
    pub(crate) fn server(detail: impl Into<String>) -> Self {
        DirectoryError::Server {
            detail: detail.into(),
        }
    }

    /// A short, stable name of the kind of error, for logs and metrics:
    /// `bad_credentials`, `unreachable`, `tls`, `no_role`,
    /// `misconfiguration`, `server`.
    pub fn kind(&self) -> &'static str {
        match self {
            DirectoryError::BadCredentials { .. } => "bad_credentials",
            DirectoryError::Unreachable { .. } => "unreachable",
            DirectoryError::Tls { .. } => "tls",
            DirectoryError::NoRole { .. } => "no_role",
            DirectoryError::Misconfiguration { .. } => "misconfiguration",
            DirectoryError::Server { .. } => "server",
        }
    }

    /// The full detail for the audit log (never shown at the sign-in form).
    /// Never contains a password.
    pub fn audit_detail(&self) -> String {
        self.to_string()
    }

    /// The message for the person signing in, in Japanese.
    pub fn message_ja(&self) -> &'static str {
        match self {
            DirectoryError::BadCredentials { .. } => "ユーザー名またはパスワードが正しくありません。",
            DirectoryError::Unreachable { .. } => {
                "ディレクトリサーバー(Active Directory)に接続できません。しばらくしてから再度お試しください。"
            }
            DirectoryError::Tls { .. } => {
                "ディレクトリサーバーとの暗号化通信(TLS)を確立できません。システム管理者に連絡してください。"
            }
            DirectoryError::NoRole { .. } => {
                "このアカウントには lanward の利用権限が割り当てられていません。システム管理者に連絡してください。"
            }
            DirectoryError::Misconfiguration { .. } => {
                "ディレクトリ認証の設定に誤りがあります。システム管理者に連絡してください。"
            }
            DirectoryError::Server { .. } => {
                "ディレクトリサーバーから予期しない応答がありました。システム管理者に連絡してください。"
            }
        }
    }

    /// The message for the person signing in, in English.
    pub fn message_en(&self) -> &'static str {
        match self {
            DirectoryError::BadCredentials { .. } => "The user name or password is incorrect.",
            DirectoryError::Unreachable { .. } => {
                "The directory server (Active Directory) cannot be reached. Please try again later."
            }
            DirectoryError::Tls { .. } => {
                "A secure (TLS) connection to the directory server could not be established. Please contact the system administrator."
            }
            DirectoryError::NoRole { .. } => {
                "This account has not been granted a role in lanward. Please contact the system administrator."
            }
            DirectoryError::Misconfiguration { .. } => {
                "Directory sign-in is misconfigured. Please contact the system administrator."
            }
            DirectoryError::Server { .. } => {
                "The directory server returned an unexpected response. Please contact the system administrator."
            }
        }
    }
}

/// Active Directory puts the reason of a refused bind in the diagnostic
/// text: `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext
/// error, data 52e, v4563`. Returns the restriction for the `data` codes that
/// are about the account, `None` for 52e (plain wrong password) and 525
/// (unknown user), which stay `WrongPassword`.
pub(crate) fn ad_bind_restriction(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    let idx = lower.find("data ")?;
    let code: String = lower[idx + 5..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    match code.as_str() {
        "530" => Some("not permitted to log on at this time"),
        "531" => Some("not permitted to log on at this workstation"),
        "532" => Some("password expired"),
        "533" => Some("account disabled"),
        "701" => Some("account expired"),
        "773" => Some("user must reset password"),
        "775" => Some("account locked out"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_codes() {
        let t = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563";
        assert_eq!(ad_bind_restriction(t), Some("account locked out"));
        assert_eq!(ad_bind_restriction("... data 52e, v4563"), None);
        assert_eq!(ad_bind_restriction(""), None);
    }

    #[test]
    fn same_message_for_every_bad_credential() {
        let a = DirectoryError::bad(CredentialFailure::UnknownUser, "x");
        let b = DirectoryError::bad(CredentialFailure::WrongPassword, "y");
        assert_eq!(a.message_ja(), b.message_ja());
        assert_eq!(a.message_en(), b.message_en());
        assert_ne!(a.audit_detail(), b.audit_detail());
    }
}
