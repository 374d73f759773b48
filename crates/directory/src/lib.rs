//! Sign-in with an Active Directory / LDAP account by LDAP simple bind, and
//! the mapping of the account's groups to a lanward role.
//!
//! ```no_run
//! # fn demo(cfg: &lanward_directory::DirectoryConfig) {
//! match lanward_directory::authenticate(cfg, "tanaka", "password") {
//!     Ok(user) => println!("{} ({}) → {}", user.display_name, user.dn, user.role),
//!     Err(e) => {
//!         eprintln!("audit: {}", e.audit_detail()); // precise cause, for the log
//!         println!("{}", e.message_ja());           // same text for every bad credential
//!     }
//! }
//! # }
//! ```
//!
//! # Blocking, and where to call it from
//!
//! [`authenticate`] blocks for up to `timeout` (plus a fraction of a second).
//! The `ldap3` synchronous client it uses builds its own Tokio runtime, which
//! panics when started on a thread that is already running async code. To be
//! safe from that whatever the caller does, `authenticate` runs the LDAP
//! conversation on a short-lived thread of its own and waits for it with a
//! hard deadline. It still blocks the calling thread: **from async code call
//! it through `tokio::task::spawn_blocking`**, never directly on an async
//! worker thread.
//!
//! # What it does
//!
//! 1. Checks the configuration, refuses an empty password and user names
//!    outside `A-Z a-z 0-9 . _ -` (at most 64 characters) **before any
//!    network I/O**. An LDAP simple bind with an empty password is an
//!    "unauthenticated bind" that many servers (AD included) answer with
//!    success: it must never reach the server.
//! 2. Connects (`ldap://`, `ldap://` + StartTLS, or `ldaps://`); TLS always
//!    verifies the certificate and host name against `ca_file` or the system
//!    store. Plain `ldap://` to a non-loopback host is refused unless
//!    `allow_plaintext` is set.
//! 3. Either binds directly with `bind_dn_template` and then finds the
//!    user's entry with `user_filter` (checking it is the account that bound),
//!    or (search-then-bind) binds as the service account (or anonymously),
//!    finds exactly one entry with `user_filter`, binds as its DN with the
//!    password, and binds back as the service account.
//! 4. Collects groups: the entry's `memberOf` (AD, or OpenLDAP with the
//!    memberof overlay) plus the DNs found by `group_filter` under
//!    `search_base` (by default OpenLDAP `groupOfNames`/`groupOfUniqueNames`
//!    that list the user's DN).
//! 5. Maps groups to a role with `group_roles`, first line that matches wins.
//!    A user in none of the mapped groups is refused ([`DirectoryError::NoRole`]):
//!    a directory account never gets access by default.
//!
//! Every value put into a filter is escaped (RFC 4515), and the user name
//! put into a DN template is DN-escaped (RFC 4514), although the user-name
//! check already leaves nothing to escape.
//!
//! # Configuration file (JSON)
//!
//! The server reads a JSON object, on its own or as the `"directory"` key of
//! a larger file ([`DirectoryConfig::load`]), or deserializes it with serde
//! from its own configuration (`DirectoryConfig: Deserialize`):
//!
//! ```json
//! {
//!   "url": "ldaps://dc01.suido.local:636",
//!   "starttls": false,
//!   "ca_file": "/etc/lanward/ad-ca.pem",
//!   "bind_dn_template": "{username}@suido.local",
//!   "search_base": "DC=suido,DC=local",
//!   "user_filter": "(&(objectClass=user)(sAMAccountName={username}))",
//!   "group_filter": "",
//!   "group_roles": [
//!     { "group": "CN=lanward-admins,OU=Groups,DC=suido,DC=local", "role": "administrator" },
//!     { "group": "CN=lanward-operators,OU=Groups,DC=suido,DC=local", "role": "operator" },
//!     { "group": "lanward-helpdesk", "role": "helpdesk" }
//!   ],
//!   "timeout_secs": 5
//! }
//! ```
//!
//! | key | meaning |
//! | --- | --- |
//! | `url` | `ldap://host[:port]` or `ldaps://host[:port]` (required) |
//! | `starttls` | upgrade `ldap://` with StartTLS (default false) |
//! | `ca_file` | PEM CA certificate(s) for TLS; absent: the system store |
//! | `bind_dn_template` | direct bind: DN, UPN or `DOMAIN\{username}` with `{username}`; absent: search-then-bind |
//! | `search_base` | where users and groups are searched (required) |
//! | `user_filter` | filter with `{username}` (required) |
//! | `service_bind` | `{ "dn": "...", "password_env": "VAR" }` or `{ "dn": "...", "password": "..." }`, for search-then-bind; absent: anonymous search |
//! | `group_roles` | ordered list of `{ "group": DN or CN, "role": ... }`; roles are `administrator`, `operator`, `helpdesk`, `approver`, `auditor` (required, non-empty) |
//! | `group_filter` | group search with `{dn}` / `{username}`; absent: [`DEFAULT_GROUP_FILTER`]; `""`: `memberOf` only |
//! | `timeout_secs` | limit for the whole sign-in, 1–120, default 5 |
//! | `allow_plaintext` | allow plain `ldap://` to a remote host (default false; don't) |
//!
//! **Service account password.** Prefer `"password_env": "LANWARD_LDAP_PASSWORD"`:
//! the password is then read from that environment variable (e.g. from the
//! systemd unit's `EnvironmentFile=` with mode 0600) when the configuration
//! is loaded; loading fails if it is unset or empty. `"password"` in the
//! file also works, but then the file must be readable only by the service.
//! Exactly one of the two must be given. An empty service password is
//! refused (it would be an unauthenticated, i.e. anonymous, bind).
//!
//! # Active Directory
//!
//! * **URL and TLS.** Use `ldaps://dc01.suido.local:636` (or
//!   `ldap://dc01.suido.local:389` with `"starttls": true`). The host name
//!   must be in the DC's certificate; `ca_file` is the PEM of the enterprise
//!   root CA that issued it (export it from the CA as Base-64 X.509 `.cer`:
//!   that is PEM). Plain LDAP simple binds are refused by DCs that require
//!   LDAP signing anyway.
//! * **Direct bind with the UPN.** `"bind_dn_template": "{username}@suido.local"`
//!   binds as the user's userPrincipalName; no service account is needed.
//!   After the bind, lanward searches `user_filter` (e.g.
//!   `(&(objectClass=user)(sAMAccountName={username}))`) as that user and
//!   checks that the entry found has exactly that `userPrincipalName`; if
//!   your UPN prefixes differ from the `sAMAccountName`s, use
//!   `(&(objectClass=user)(userPrincipalName={username}@suido.local))` as
//!   `user_filter`, or bind with `"SUIDO\\{username}"` (down-level name,
//!   checked against `sAMAccountName`).
//! * **Search-then-bind** (no template) needs a `service_bind` account: AD
//!   does not allow anonymous searches. A plain domain user with no rights
//!   is enough.
//! * **Groups.** AD lists the user's groups as DNs in `memberOf`; put those
//!   DNs in `group_roles` (e.g.
//!   `CN=lanward-admins,OU=Groups,DC=suido,DC=local`), or just the CN
//!   (`lanward-admins`) if CNs are unique. Set `"group_filter": ""` to skip
//!   the OpenLDAP group search, or, to honour **nested groups** (which
//!   `memberOf` does not show), set
//!   `"group_filter": "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))"`
//!   (AD's in-chain matching rule). The primary group (usually "Domain
//!   Users") is never in `memberOf`: don't map a role to it.
//! * **Refused accounts.** Disabled, locked-out or expired accounts and
//!   expired passwords fail the bind; the reason (AD's `data 533`, `775`...)
//!   is kept in [`CredentialFailure::AccountRestricted`] for the audit log.

mod config;
mod error;
mod names;
mod tls;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{LdapConn, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry, SearchOptions};

pub use config::{
    DirectoryConfig, DirectoryConfigFile, GroupRoleFile, ServiceBindFile, DEFAULT_GROUP_FILTER,
    DEFAULT_TIMEOUT,
};
pub use error::{CredentialFailure, DirectoryError};
pub use names::{
    check_username, escape_dn_value, escape_filter_value, map_role, normalize_dn, MAX_USERNAME_LEN,
};

/// The lanward roles a group can map to.
pub const ROLES: [&str; 5] = [
    "administrator",
    "operator",
    "helpdesk",
    "approver",
    "auditor",
];

/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// How long past `timeout` [`authenticate`] waits for its LDAP thread before
/// giving up on it.
const GRACE: Duration = Duration::from_millis(500);

/// Attributes read from the user's entry.
const USER_ATTRS: [&str; 6] = [
    "displayName",
    "cn",
    "memberOf",
    "uid",
    "sAMAccountName",
    "userPrincipalName",
];

/// Most groups read by the group search.
const MAX_GROUPS: i32 = 1000;

/// A person who signed in with a directory account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's DN.
    pub dn: String,
    /// The account name as the directory spells it (`sAMAccountName` or
    /// `uid`), else as typed.
    pub username: String,
    /// `displayName`, else `cn`, else the user name (e.g. "田中 太郎").
    pub display_name: String,
    /// DNs of the groups found (memberOf and group search), without
    /// duplicates.
    pub groups: Vec<String>,
    /// The lanward role from `group_roles`.
    pub role: String,
}

/// Checks `username` / `password` against the directory and returns the
/// person with their role. Blocking: see the crate documentation (call it
/// through `tokio::task::spawn_blocking` from async code). Returns within
/// `cfg.timeout` plus half a second.
pub fn authenticate(
    cfg: &DirectoryConfig,
    username: &str,
    password: &str,
) -> Result<DirectoryUser, DirectoryError> {
    cfg.validate()?;
    if password.is_empty() {
        return Err(DirectoryError::bad(
            CredentialFailure::EmptyPassword,
            format!("empty password for {username:?} refused before contacting the directory"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DirectoryError::bad(
            CredentialFailure::PasswordTooLong,
            "password too long",
        ));
    }
    check_username(username)?;
    let tls = if cfg.uses_tls() {
        Some(tls::client_config(cfg.ca_file.as_deref())?)
    } else {
        None
    };

    let deadline = Instant::now() + cfg.timeout;
    let (tx, rx) = mpsc::sync_channel(1);
    let job_cfg = cfg.clone();
    let job_user = username.to_owned();
    let job_password = password.to_owned();
    std::thread::Builder::new()
        .name("lanward-ldap".into())
        .spawn(move || {
            let result = sign_in(&job_cfg, &job_user, &job_password, tls, deadline);
            let _ = tx.send(result);
        })
        .map_err(|e| DirectoryError::server(format!("cannot start the LDAP thread: {e}")))?;
    match rx.recv_timeout(cfg.timeout + GRACE) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(DirectoryError::unreachable(format!(
            "{} did not answer within {:?}",
            cfg.url, cfg.timeout
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(DirectoryError::server(
            "the LDAP thread ended without an answer (panic in the LDAP client)",
        )),
    }
}

/// One LDAP connection with the sign-in's deadline.
struct Session<'a> {
    conn: LdapConn,
    deadline: Instant,
    cfg: &'a DirectoryConfig,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Connect,
    ServiceBind,
    UserBind,
    Search,
}

impl<'a> Session<'a> {
    fn connect(
        cfg: &'a DirectoryConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
        deadline: Instant,
    ) -> Result<Self, DirectoryError> {
        let remaining = remaining(deadline, &cfg.url)?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(remaining)
            .set_starttls(cfg.starttls);
        if let Some(tls) = tls {
            settings = settings.set_config(tls);
        }
        let conn = LdapConn::with_settings(settings, &cfg.url)
            .map_err(|e| map_ldap_error(cfg, Step::Connect, e))?;
        Ok(Session {
            conn,
            deadline,
            cfg,
        })
    }

    fn remaining(&self) -> Result<Duration, DirectoryError> {
        remaining(self.deadline, &self.cfg.url)
    }

    fn bind(&mut self, step: Step, name: &str, password: &str) -> Result<(), DirectoryError> {
        debug_assert!(!password.is_empty());
        let t = self.remaining()?;
        let res = self
            .conn
            .with_timeout(t)
            .simple_bind(name, password)
            .map_err(|e| map_ldap_error(self.cfg, step, e))?;
        check_result(self.cfg, step, name, res)
    }

    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        sizelimit: i32,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let t = self.remaining()?;
        let secs = i32::try_from(t.as_secs().max(1)).unwrap_or(i32::MAX);
        let res = self
            .conn
            .with_search_options(SearchOptions::new().sizelimit(sizelimit).timelimit(secs))
            .with_timeout(t)
            .search(base, scope, filter, attrs.to_vec())
            .map_err(|e| map_ldap_error(self.cfg, Step::Search, e))?;
        let ldap3::SearchResult(entries, result) = res;
        // 4 = sizeLimitExceeded: the entries up to the limit are there.
        if result.rc != 0 && result.rc != 4 {
            check_result(self.cfg, Step::Search, base, result)?;
        }
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_ref())
            .map(SearchEntry::construct)
            .collect())
    }
}

fn remaining(deadline: Instant, url: &str) -> Result<Duration, DirectoryError> {
    let now = Instant::now();
    if now >= deadline {
        return Err(DirectoryError::unreachable(format!("{url}: timed out")));
    }
    Ok(deadline - now)
}

/// The LDAP conversation, run on its own thread.
fn sign_in(
    cfg: &DirectoryConfig,
    username: &str,
    password: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    deadline: Instant,
) -> Result<DirectoryUser, DirectoryError> {
    let mut s = Session::connect(cfg, tls, deadline)?;
    let result = sign_in_on(&mut s, cfg, username, password);
    let _ = s.conn.unbind();
    result
}

fn sign_in_on(
    s: &mut Session<'_>,
    cfg: &DirectoryConfig,
    username: &str,
    password: &str,
) -> Result<DirectoryUser, DirectoryError> {
    let user_filter = cfg
        .user_filter
        .replace("{username}", &escape_filter_value(username));
    let entry = match &cfg.bind_dn_template {
        Some(template) => {
            let bind_name = render_bind_name(template, username);
            s.bind(Step::UserBind, &bind_name, password)?;
            let found = s.search(
                &cfg.search_base,
                Scope::Subtree,
                &user_filter,
                &USER_ATTRS,
                10,
            )?;
            let n = found.len();
            found.into_iter().find(|e| is_bound_identity(e, &bind_name)).ok_or_else(|| {
                DirectoryError::config(format!(
                    "bound as {bind_name}, but user_filter found {n} entr{} under {} and none is that account; \
                     check user_filter/search_base (see the crate docs on UPNs)",
                    if n == 1 { "y" } else { "ies" },
                    cfg.search_base
                ))
            })?
        }
        None => {
            if let Some((dn, pw)) = &cfg.service_bind {
                s.bind(Step::ServiceBind, dn, pw)?;
            }
            let mut found = s.search(
                &cfg.search_base,
                Scope::Subtree,
                &user_filter,
                &USER_ATTRS,
                2,
            )?;
            if found.len() > 1 {
                let dns: Vec<&str> = found.iter().map(|e| e.dn.as_str()).collect();
                return Err(DirectoryError::bad(
                    CredentialFailure::AmbiguousUser,
                    format!("user_filter for {username:?} matched {}", dns.join(" ; ")),
                ));
            }
            let entry = found.pop().ok_or_else(|| {
                DirectoryError::bad(
                    CredentialFailure::UnknownUser,
                    format!("no entry for {username:?} under {}", cfg.search_base),
                )
            })?;
            if entry.dn.is_empty() {
                return Err(DirectoryError::server(
                    "user search returned an entry with an empty DN",
                ));
            }
            s.bind(Step::UserBind, &entry.dn, password)?;
            if let Some((dn, pw)) = &cfg.service_bind {
                s.bind(Step::ServiceBind, dn, pw)?;
            }
            entry
        }
    };

    let mut groups: Vec<String> = Vec::new();
    let mut push = |g: String| {
        let n = normalize_dn(&g);
        if !groups.iter().any(|x| normalize_dn(x) == n) {
            groups.push(g);
        }
    };
    for g in attr_values(&entry, "memberOf") {
        push(g.clone());
    }
    if !cfg.group_filter.trim().is_empty() {
        let filter = cfg
            .group_filter
            .replace("{dn}", &escape_filter_value(&entry.dn))
            .replace("{username}", &escape_filter_value(username));
        for g in s.search(
            &cfg.search_base,
            Scope::Subtree,
            &filter,
            &["cn"],
            MAX_GROUPS,
        )? {
            push(g.dn);
        }
    }

    let directory_name = first_attr(&entry, "sAMAccountName")
        .or_else(|| first_attr(&entry, "uid"))
        .unwrap_or(username)
        .to_owned();
    let display_name = first_attr(&entry, "displayName")
        .or_else(|| first_attr(&entry, "cn"))
        .unwrap_or(&directory_name)
        .to_owned();
    let role = match map_role(&cfg.group_roles, &groups) {
        Some(role) => role,
        None => {
            return Err(DirectoryError::NoRole {
                dn: entry.dn,
                groups,
            })
        }
    };
    Ok(DirectoryUser {
        dn: entry.dn,
        username: directory_name,
        display_name,
        groups,
        role,
    })
}

/// The bind name for a template: the user name DN-escaped in a DN template
/// (a no-op for names that pass [`check_username`]), as is otherwise.
fn render_bind_name(template: &str, username: &str) -> String {
    if template.contains('=') {
        template.replace("{username}", &escape_dn_value(username))
    } else {
        template.replace("{username}", username)
    }
}

/// Whether `entry` is the account that bound as `bind_name` (a DN, a UPN or
/// `DOMAIN\name`), so that a loose `user_filter` can't hand one user
/// another's groups.
fn is_bound_identity(entry: &SearchEntry, bind_name: &str) -> bool {
    if bind_name.contains('=') {
        normalize_dn(&entry.dn) == normalize_dn(bind_name)
    } else if bind_name.contains('@') {
        attr_values(entry, "userPrincipalName")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(bind_name))
    } else if let Some((_, name)) = bind_name.rsplit_once('\\') {
        attr_values(entry, "sAMAccountName")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(name))
    } else {
        false
    }
}

/// Attribute values by case-insensitive name (servers may spell names
/// differently from the request).
fn attr_values<'e>(entry: &'e SearchEntry, name: &str) -> &'e [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn first_attr<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e str> {
    attr_values(entry, name)
        .iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
}

/// Turns a non-success LDAP result into the right error for the step.
fn check_result(
    cfg: &DirectoryConfig,
    step: Step,
    name: &str,
    res: LdapResult,
) -> Result<(), DirectoryError> {
    if res.rc == 0 {
        return Ok(());
    }
    let text = format!(
        "LDAP result {} ({}){}",
        res.rc,
        rc_name(res.rc),
        diag(&res.text)
    );
    Err(match (step, res.rc) {
        (Step::UserBind, 49) => match error::ad_bind_restriction(&res.text) {
            Some(why) => DirectoryError::bad(
                CredentialFailure::AccountRestricted(why),
                format!("bind as {name}: {text}"),
            ),
            None => DirectoryError::bad(
                CredentialFailure::WrongPassword,
                format!("bind as {name}: {text}"),
            ),
        },
        // unwillingToPerform on a user bind: AD for some account states.
        (Step::UserBind, 53) => DirectoryError::bad(
            CredentialFailure::AccountRestricted("unwilling to perform"),
            format!("bind as {name}: {text}"),
        ),
        (Step::ServiceBind, 49) => {
            DirectoryError::config(format!("service account bind as {name} refused: {text}"))
        }
        (Step::Connect, _) if cfg.starttls => {
            DirectoryError::tls(format!("StartTLS refused: {text}"))
        }
        (_, 51 | 52) => DirectoryError::unreachable(format!("{}: {text}", cfg.url)),
        (_, 3) => DirectoryError::unreachable(format!("{}: {text}", cfg.url)),
        (_, 8 | 13) => DirectoryError::config(format!(
            "the directory requires a protected connection (use ldaps:// or starttls): {text}"
        )),
        (_, 10) => DirectoryError::config(format!(
            "{name}: referral (outside this server's naming context?): {text}"
        )),
        (Step::Search, 32) => {
            DirectoryError::config(format!("search base {name} does not exist: {text}"))
        }
        (Step::Search, 50) if cfg.service_bind.is_none() && cfg.bind_dn_template.is_none() => {
            DirectoryError::config(format!(
                "{name}: anonymous search refused (set service_bind): {text}"
            ))
        }
        (_, 50) => DirectoryError::config(format!("{name}: insufficient access rights: {text}")),
        (Step::Search, 87) => DirectoryError::config(format!("bad filter: {text}")),
        _ => DirectoryError::server(format!("{name}: {text}")),
    })
}

fn diag(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

fn rc_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        87 => "filterError",
        _ => "",
    }
}

/// Maps an `ldap3` error (transport, TLS, timeout...) to ours.
fn map_ldap_error(cfg: &DirectoryConfig, step: Step, e: LdapError) -> DirectoryError {
    match e {
        LdapError::Io { source } => {
            if let Some(tls_err) = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return DirectoryError::tls(format!("{}: {tls_err}", cfg.url));
            }
            let tls_eof = matches!(
                source.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            );
            if step == Step::Connect && cfg.uses_tls() && tls_eof {
                // The peer closed or sent garbage during the handshake: most
                // often not a TLS port, or no common protocol version.
                DirectoryError::tls(format!("{}: TLS handshake failed: {source}", cfg.url))
            } else if step == Step::Connect {
                DirectoryError::unreachable(format!("cannot connect to {}: {source}", cfg.url))
            } else {
                DirectoryError::unreachable(format!("connection to {} lost: {source}", cfg.url))
            }
        }
        LdapError::Timeout { .. } => DirectoryError::unreachable(format!("{}: timed out", cfg.url)),
        LdapError::Rustls { source } => DirectoryError::tls(format!("{}: {source}", cfg.url)),
        LdapError::DNSName { source } => DirectoryError::tls(format!(
            "{}: host is not a valid TLS server name: {source}",
            cfg.url
        )),
        LdapError::UrlParsing { source } => {
            DirectoryError::config(format!("url {}: {source}", cfg.url))
        }
        LdapError::UnknownScheme(s) => {
            DirectoryError::config(format!("url scheme {s} not supported"))
        }
        LdapError::LdapResult { result } => match check_result(cfg, step, &cfg.url, result) {
            Err(e) => e,
            Ok(()) => DirectoryError::server("LDAP error with a success result"),
        },
        LdapError::FilterParsing => {
            DirectoryError::config("user_filter or group_filter is not a valid LDAP filter")
        }
        LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::MiscSend { .. }
        | LdapError::EndOfStream => {
            DirectoryError::unreachable(format!("{}: connection closed", cfg.url))
        }
        other => DirectoryError::server(format!("{}: {other}", cfg.url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entry(dn: &str, attrs: &[(&str, &str)]) -> SearchEntry {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in attrs {
            map.entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        SearchEntry {
            dn: dn.to_owned(),
            attrs: map,
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn bound_identity() {
        let e = entry(
            "CN=Tanaka Taro,OU=Users,DC=suido,DC=local",
            &[
                ("userprincipalname", "Tanaka@Suido.Local"),
                ("sAMAccountName", "tanaka"),
            ],
        );
        assert!(is_bound_identity(&e, "tanaka@suido.local"));
        assert!(!is_bound_identity(&e, "sato@suido.local"));
        assert!(is_bound_identity(&e, "SUIDO\\TANAKA"));
        assert!(is_bound_identity(
            &e,
            "cn=tanaka taro, ou=users,dc=suido,dc=local"
        ));
        assert!(!is_bound_identity(&e, "cn=sato,ou=users,dc=suido,dc=local"));
    }

    #[test]
    fn bind_name_rendering() {
        assert_eq!(
            render_bind_name("{username}@suido.local", "tanaka"),
            "tanaka@suido.local"
        );
        assert_eq!(
            render_bind_name("uid={username},dc=x", "a,b"),
            "uid=a\\,b,dc=x"
        );
    }

    #[test]
    fn empty_password_refused_without_network() {
        // Nothing may be contacted; the integration test checks this with a
        // listener that records connections.
        let mut cfg = DirectoryConfig::new("ldap://127.0.0.1:9", "dc=x", "(uid={username})");
        cfg.group_roles.push(("g".into(), "operator".into()));
        let started = Instant::now();
        let err = authenticate(&cfg, "tanaka", "").expect_err("refused");
        assert!(matches!(
            err,
            DirectoryError::BadCredentials {
                reason: CredentialFailure::EmptyPassword,
                ..
            }
        ));
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
