//! The directory configuration and its file form (JSON).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::DirectoryError;
use crate::ROLES;

/// The group filter used when the file does not name one: OpenLDAP-style
/// static groups. `{dn}` is the user's DN, `{username}` the user name, both
/// LDAP-filter-escaped.
pub const DEFAULT_GROUP_FILTER: &str =
    "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=groupOfUniqueNames)(uniqueMember={dn})))";

/// The timeout when the file does not name one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// How lanward reaches the directory and turns group membership into a role.
///
/// Build it with [`DirectoryConfig::new`] and set the public fields, or load
/// it from JSON ([`DirectoryConfig::from_json_str`], [`DirectoryConfig::load`],
/// or serde from a section of a larger file: it implements `Deserialize`
/// through [`DirectoryConfigFile`]). The crate documentation shows the file
/// format.
#[derive(Clone, Deserialize)]
#[serde(try_from = "DirectoryConfigFile")]
pub struct DirectoryConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    pub starttls: bool,
    /// PEM file with the CA certificate(s) trusted for `ldaps://` and
    /// StartTLS. When `None`, the system's CA store is used. There is no
    /// "accept any certificate" setting.
    pub ca_file: Option<PathBuf>,
    /// Direct bind: how the user name becomes the bind name, for example
    /// `{username}@suido.local` (AD UPN), `SUIDO\{username}` (AD down-level
    /// name) or `uid={username},ou=people,dc=suido,dc=local` (a DN). `None`
    /// means search-then-bind (search `user_filter` under `search_base`,
    /// then bind as the DN found).
    pub bind_dn_template: Option<String>,
    /// Where users (and groups) are searched.
    pub search_base: String,
    /// Finds the user's entry, e.g.
    /// `(&(objectClass=user)(sAMAccountName={username}))`; `{username}` is
    /// LDAP-filter-escaped (RFC 4515).
    pub user_filter: String,
    /// (DN, password) of the service account that searches in
    /// search-then-bind mode; `None` searches anonymously.
    pub service_bind: Option<(String, String)>,
    /// (group DN or CN, lanward role), first match wins: order is priority.
    pub group_roles: Vec<(String, String)>,
    /// Timeout for the whole sign-in (connect, TLS, binds, searches).
    pub timeout: Duration,
    /// Searched under `search_base` for groups that list the user (besides
    /// the user's `memberOf`); `{dn}` and `{username}` are replaced,
    /// filter-escaped. Empty: no group search (`memberOf` only).
    pub group_filter: String,
    /// Allow a plain `ldap://` connection without StartTLS to a host that is
    /// not the loopback; the password then crosses the network in clear
    /// text. Off by default.
    pub allow_plaintext: bool,
}

impl fmt::Debug for DirectoryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectoryConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn_template", &self.bind_dn_template)
            .field("search_base", &self.search_base)
            .field("user_filter", &self.user_filter)
            .field(
                "service_bind",
                &self.service_bind.as_ref().map(|(dn, _)| (dn, "<redacted>")),
            )
            .field("group_roles", &self.group_roles)
            .field("timeout", &self.timeout)
            .field("group_filter", &self.group_filter)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish()
    }
}

/// The file form of [`DirectoryConfig`] (JSON object, unknown keys refused).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfigFile {
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub bind_dn_template: Option<String>,
    pub search_base: String,
    pub user_filter: String,
    #[serde(default)]
    pub service_bind: Option<ServiceBindFile>,
    pub group_roles: Vec<GroupRoleFile>,
    /// Absent: [`DEFAULT_GROUP_FILTER`]; `""`: no group search.
    #[serde(default)]
    pub group_filter: Option<String>,
    /// Whole seconds; default 5.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// The service account in the file: the password itself, or (better) the
/// name of an environment variable that holds it. Exactly one of the two.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceBindFile {
    pub dn: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

impl fmt::Debug for ServiceBindFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBindFile")
            .field("dn", &self.dn)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .finish()
    }
}

/// One line of the group-to-role table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRoleFile {
    /// Group DN (contains `=`) or CN.
    pub group: String,
    /// One of [`crate::ROLES`].
    pub role: String,
}

impl DirectoryConfigFile {
    /// Turns the file form into a checked [`DirectoryConfig`], reading the
    /// service password from the environment through `env` when the file
    /// names a variable.
    pub fn resolve_with(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DirectoryConfig, DirectoryError> {
        let service_bind = match self.service_bind {
            None => None,
            Some(sb) => {
                let password = match (sb.password, sb.password_env) {
                    (Some(p), None) => p,
                    (None, Some(var)) => match env(&var) {
                        Some(p) if !p.is_empty() => p,
                        _ => {
                            return Err(DirectoryError::config(format!(
                                "service_bind.password_env names {var}, which is not set or empty"
                            )))
                        }
                    },
                    _ => {
                        return Err(DirectoryError::config(
                            "service_bind needs exactly one of password and password_env",
                        ))
                    }
                };
                Some((sb.dn, password))
            }
        };
        let cfg = DirectoryConfig {
            url: self.url,
            starttls: self.starttls,
            ca_file: self.ca_file,
            bind_dn_template: self.bind_dn_template,
            search_base: self.search_base,
            user_filter: self.user_filter,
            service_bind,
            group_roles: self
                .group_roles
                .into_iter()
                .map(|g| (g.group, g.role))
                .collect(),
            timeout: self
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT),
            group_filter: self
                .group_filter
                .unwrap_or_else(|| DEFAULT_GROUP_FILTER.to_owned()),
            allow_plaintext: self.allow_plaintext,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl TryFrom<DirectoryConfigFile> for DirectoryConfig {
    type Error = DirectoryError;
    fn try_from(file: DirectoryConfigFile) -> Result<Self, Self::Error> {
        file.resolve_with(|name| std::env::var(name).ok())
    }
}

/// Where a URL points, as far as lanward checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub tls: bool,
    pub host: String,
}

impl Endpoint {
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

pub(crate) fn parse_url(url: &str) -> Result<Endpoint, DirectoryError> {
    let lower = url.to_ascii_lowercase();
    let (tls, rest) = if let Some(r) = lower.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = lower.strip_prefix("ldap://") {
        (false, r)
    } else {
        return Err(DirectoryError::config(format!(
            "url must start with ldap:// or ldaps://: {url}"
        )));
    };
    let hostport = rest.split('/').next().unwrap_or("");
    if hostport.contains('@') || hostport.contains('?') || hostport.contains('#') {
        return Err(DirectoryError::config(format!(
            "url has unexpected characters: {url}"
        )));
    }
    let host = if let Some(end) = hostport.strip_prefix('[').and_then(|h| h.find(']')) {
        &hostport[..end + 2]
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(DirectoryError::config(format!("url has no host: {url}")));
    }
    let after_host = &hostport[host.len()..];
    if let Some(port) = after_host.strip_prefix(':') {
        if port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
            return Err(DirectoryError::config(format!("url has a bad port: {url}")));
        }
    } else if !after_host.is_empty() {
        return Err(DirectoryError::config(format!("url is malformed: {url}")));
    }
    Ok(Endpoint {
        tls,
        host: host.to_owned(),
    })
}

impl DirectoryConfig {
    /// A configuration with the defaults: no TLS settings, search-then-bind
    /// with an anonymous search, no role mapping (which refuses everybody
    /// until `group_roles` is filled), [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_GROUP_FILTER`].
    pub fn new(
        url: impl Into<String>,
        search_base: impl Into<String>,
        user_filter: impl Into<String>,
    ) -> Self {
        DirectoryConfig {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind_dn_template: None,
            search_base: search_base.into(),
            user_filter: user_filter.into(),
            service_bind: None,
            group_roles: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            group_filter: DEFAULT_GROUP_FILTER.to_owned(),
            allow_plaintext: false,
        }
    }

    /// Parses the JSON object described in the crate documentation.
    pub fn from_json_str(json: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryConfigFile = serde_json::from_str(json)
            .map_err(|e| DirectoryError::config(format!("directory configuration: {e}")))?;
        file.try_into()
    }

    /// Reads a JSON file: either the object itself, or a larger object whose
    /// `"directory"` key holds it.
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DirectoryError::config(format!("cannot read {}: {e}", path.display())))?;
        let mut value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DirectoryError::config(format!("{}: {e}", path.display())))?;
        if let Some(section) = value.get_mut("directory") {
            value = section.take();
        }
        let file: DirectoryConfigFile = serde_json::from_value(value)
            .map_err(|e| DirectoryError::config(format!("{}: {e}", path.display())))?;
        file.try_into()
    }

    pub(crate) fn endpoint(&self) -> Result<Endpoint, DirectoryError> {
        parse_url(&self.url)
    }

    /// True when the connection is protected by TLS (ldaps or StartTLS).
    pub fn uses_tls(&self) -> bool {
        self.endpoint().map(|e| e.tls).unwrap_or(false) || self.starttls
    }

    /// Checks the configuration; `authenticate` calls it first too.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let ep = self.endpoint()?;
        if ep.tls && self.starttls {
            return Err(DirectoryError::config(
                "starttls is for ldap:// URLs; ldaps:// is already TLS",
            ));
        }
        if !ep.tls && !self.starttls && !ep.is_loopback() && !self.allow_plaintext {
            return Err(DirectoryError::config(format!(
                "{} is plain LDAP to a remote host: passwords would cross the network in clear text; \
                 use ldaps:// or starttls (or set allow_plaintext)",
                self.url
            )));
        }
        if let Some(t) = &self.bind_dn_template {
            if !t.contains("{username}") {
                return Err(DirectoryError::config(
                    "bind_dn_template must contain {username}",
                ));
            }
            if !(t.contains('=') || t.contains('@') || t.contains('\\')) {
                return Err(DirectoryError::config(
                    "bind_dn_template must be a DN (uid={username},...), a UPN ({username}@domain) \
                     or a down-level name (DOMAIN\\{username})",
                ));
            }
        }
        if self.search_base.trim().is_empty() {
            return Err(DirectoryError::config("search_base is empty"));
        }
        let f = self.user_filter.trim();
        if !f.contains("{username}") || !f.starts_with('(') || !f.ends_with(')') {
            return Err(DirectoryError::config(
                "user_filter must be a parenthesised LDAP filter containing {username}",
            ));
        }
        let g = self.group_filter.trim();
        if !g.is_empty() && (!g.starts_with('(') || !g.ends_with(')')) {
            return Err(DirectoryError::config(
                "group_filter must be empty or a parenthesised LDAP filter",
            ));
        }
        if let Some((dn, pw)) = &self.service_bind {
            if dn.trim().is_empty() {
                return Err(DirectoryError::config("service_bind has an empty DN"));
            }
            if pw.is_empty() {
                // An empty password makes an unauthenticated bind that many
                // servers accept as anonymous: never intended.
                return Err(DirectoryError::config("service_bind has an empty password"));
            }
        }
        if self.group_roles.is_empty() {
            return Err(DirectoryError::config(
                "group_roles is empty: nobody could sign in",
            ));
        }
        for (group, role) in &self.group_roles {
            if group.trim().is_empty() {
                return Err(DirectoryError::config("group_roles has an empty group"));
            }
            if !ROLES.contains(&role.as_str()) {
                return Err(DirectoryError::config(format!(
                    "group_roles: unknown role {role:?} (roles are {})",
                    ROLES.join(", ")
                )));
            }
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(DirectoryError::config(
                "timeout must be between 1 and 120 seconds",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "url": "ldaps://dc01.suido.local:636",
        "ca_file": "/etc/lanward/ad-ca.pem",
        "bind_dn_template": "{username}@suido.local",
        "search_base": "DC=suido,DC=local",
        "user_filter": "(&(objectClass=user)(sAMAccountName={username}))",
        "service_bind": {"dn": "CN=svc-lanward,OU=Service,DC=suido,DC=local", "password_env": "LANWARD_LDAP_PW"},
        "group_roles": [
            {"group": "CN=lanward-admins,OU=Groups,DC=suido,DC=local", "role": "administrator"},
            {"group": "lanward-operators", "role": "operator"}
        ],
        "group_filter": "",
        "timeout_secs": 8
    }"#;

    fn file() -> DirectoryConfigFile {
        serde_json::from_str(SAMPLE).expect("sample parses")
    }

    #[test]
    fn sample_resolves_with_env() {
        let cfg = file()
            .resolve_with(|n| (n == "LANWARD_LDAP_PW").then(|| "s3cret".to_owned()))
            .expect("valid");
        assert_eq!(cfg.timeout, Duration::from_secs(8));
        assert_eq!(
            cfg.service_bind.as_ref().map(|s| s.1.as_str()),
            Some("s3cret")
        );
        assert_eq!(
            cfg.group_roles[1],
            ("lanward-operators".to_owned(), "operator".to_owned())
        );
        assert!(cfg.group_filter.is_empty());
        assert!(cfg.uses_tls());
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn load_reads_a_directory_section() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lanward.json");
        let inner = SAMPLE.replace(
            r#""password_env": "LANWARD_LDAP_PW""#,
            r#""password": "pw""#,
        );
        std::fs::write(
            &path,
            format!(r#"{{"listen": "0.0.0.0:8443", "directory": {inner}}}"#),
        )
        .expect("write");
        let cfg = DirectoryConfig::load(&path).expect("loads");
        assert_eq!(cfg.url, "ldaps://dc01.suido.local:636");
        std::fs::write(&path, &inner).expect("write");
        assert!(DirectoryConfig::load(&path).is_ok());
        let both = SAMPLE.replace(r#""password_env""#, r#""password": "pw", "password_env""#);
        assert!(DirectoryConfig::from_json_str(&both).is_err());
    }

    #[test]
    fn missing_env_is_misconfiguration() {
        let err = file().resolve_with(|_| None).expect_err("refused");
        assert_eq!(err.kind(), "misconfiguration");
    }

    #[test]
    fn default_group_filter_when_absent() {
        let mut f = file();
        f.group_filter = None;
        let cfg = f.resolve_with(|_| Some("x".into())).expect("valid");
        assert_eq!(cfg.group_filter, DEFAULT_GROUP_FILTER);
    }

    #[test]
    fn unknown_keys_and_roles_refused() {
        assert!(DirectoryConfig::from_json_str(
            &SAMPLE.replace("\"timeout_secs\"", "\"timeout_sec\"")
        )
        .is_err());
        let mut f = file();
        f.group_roles[0].role = "root".into();
        assert!(f.resolve_with(|_| Some("x".into())).is_err());
    }

    #[test]
    fn plaintext_to_remote_refused_unless_allowed() {
        let mut cfg = DirectoryConfig::new(
            "ldap://dc01.suido.local",
            "dc=suido,dc=local",
            "(uid={username})",
        );
        cfg.group_roles.push(("g".into(), "operator".into()));
        assert!(cfg.validate().is_err());
        cfg.starttls = true;
        assert!(cfg.validate().is_ok());
        cfg.starttls = false;
        cfg.allow_plaintext = true;
        assert!(cfg.validate().is_ok());
        cfg.allow_plaintext = false;
        cfg.url = "ldap://127.0.0.1:3890/".into();
        assert!(cfg.validate().is_ok());
        cfg.url = "ldaps://127.0.0.1".into();
        cfg.starttls = true;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn empty_service_password_refused() {
        let mut cfg = DirectoryConfig::new("ldap://localhost", "dc=x", "(uid={username})");
        cfg.group_roles.push(("g".into(), "operator".into()));
        cfg.service_bind = Some(("cn=svc,dc=x".into(), String::new()));
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("ldap://[::1]:389").map(|e| e.is_loopback()).ok(),
            Some(true)
        );
        assert_eq!(
            parse_url("LDAPS://DC01:636/").map(|e| e.tls).ok(),
            Some(true)
        );
        assert!(parse_url("ldap://").is_err());
        assert!(parse_url("ldap://h:0").is_err());
        assert!(parse_url("ldap://h:x").is_err());
        assert!(parse_url("ldap://u@h").is_err());
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("ldapi:///").is_err());
    }
}
