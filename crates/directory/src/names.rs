//! User-name checks, RFC 4515 filter escaping, DN comparison and the
//! group-to-role mapping. No I/O.

use crate::error::{CredentialFailure, DirectoryError};

/// Longest accepted user name, in characters.
pub const MAX_USERNAME_LEN: usize = 64;

/// Checks a user name before anything reaches the network: 1 to
/// [`MAX_USERNAME_LEN`] characters from `A-Z a-z 0-9 . _ -`, not starting
/// with `.` or `-`. (AD `sAMAccountName`s and OpenLDAP `uid`s used at the
/// bureau fit; `DOMAIN\name` and `name@domain` are not accepted: the bind
/// template adds the domain.)
pub fn check_username(username: &str) -> Result<(), DirectoryError> {
    let bad = |why: &str| {
        Err(DirectoryError::bad(
            CredentialFailure::InvalidUsername,
            why.to_owned(),
        ))
    };
    if username.is_empty() {
        return bad("empty user name");
    }
    if username.chars().count() > MAX_USERNAME_LEN {
        return bad("user name too long");
    }
    if username.starts_with('.') || username.starts_with('-') {
        return bad("user name starts with '.' or '-'");
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("user name has characters outside A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

/// Escapes a value for use inside an LDAP search filter (RFC 4515 §3):
/// `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`.
/// Non-ASCII characters stay as UTF-8, which RFC 4515 allows.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for use as an attribute value in a DN (RFC 4514 §2.4).
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let n = value.chars().count();
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i + 1 == n => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Splits a DN into its RDNs at the commas that are not escaped.
fn split_rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, b) in dn.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b',' {
            parts.push(&dn[start..i]);
            start = i + 1;
        }
    }
    parts.push(&dn[start..]);
    parts
}

/// A DN in a form for comparison: RDNs trimmed, spaces around `=` removed,
/// everything lower case (AD and the attributes used for groups and users
/// compare case-insensitively).
pub fn normalize_dn(dn: &str) -> String {
    split_rdns(dn.trim())
        .into_iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((a, v)) => format!("{}={}", a.trim().to_lowercase(), v.trim().to_lowercase()),
            None => rdn.trim().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The CN of a group DN (`CN=lanward-ops,OU=Groups,...` → `lanward-ops`),
/// with simple `\,`-style escapes undone; `None` when the first RDN is not
/// a CN.
pub fn group_cn(dn: &str) -> Option<String> {
    let first = split_rdns(dn.trim()).into_iter().next()?;
    let (attr, value) = first.split_once('=')?;
    if !attr.trim().eq_ignore_ascii_case("cn") {
        return None;
    }
    let mut out = String::new();
    let mut chars = value.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                chars.next();
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The lanward role for a list of group DNs: the first line of `group_roles`
/// that names one of the groups (by DN when the line has `=`, else by CN,
/// both case-insensitive).
pub fn map_role(group_roles: &[(String, String)], groups: &[String]) -> Option<String> {
    let dns: Vec<String> = groups.iter().map(|g| normalize_dn(g)).collect();
    let cns: Vec<String> = groups
        .iter()
        .filter_map(|g| group_cn(g))
        .map(|c| c.to_lowercase())
        .collect();
    group_roles
        .iter()
        .find(|(group, _)| {
            if group.contains('=') {
                dns.contains(&normalize_dn(group))
            } else {
                cns.contains(&group.trim().to_lowercase())
            }
        })
        .map(|(_, role)| role.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["tanaka", "t.tanaka", "tanaka_01", "TANAKA-2", "a"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_USERNAME_LEN + 1);
        for bad in [
            "",
            "*",
            "*)(uid=*",
            "tanaka)",
            "a b",
            "田中",
            "SUIDO\\tanaka",
            "tanaka@suido.local",
            "-x",
            ".x",
            "a\0b",
            long.as_str(),
            "uid=x,dc=y",
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filter_escape() {
        assert_eq!(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(escape_filter_value("a\\b\0"), "a\\5cb\\00");
        assert_eq!(escape_filter_value("田中"), "田中");
        assert_eq!(escape_filter_value("cn=A (B),dc=x"), "cn=A \\28B\\29,dc=x");
    }

    #[test]
    fn dn_escape() {
        assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_dn_value(" #x "), "\\ #x\\ ");
        assert_eq!(escape_dn_value("tanaka"), "tanaka");
    }

    #[test]
    fn dn_normalisation_and_cn() {
        assert_eq!(
            normalize_dn("CN=Lanward-Ops, OU=Groups ,DC=suido,DC=local"),
            "cn=lanward-ops,ou=groups,dc=suido,dc=local"
        );
        assert_eq!(
            group_cn("CN=Ops\\, Night,OU=G,DC=x").as_deref(),
            Some("Ops, Night")
        );
        assert_eq!(group_cn("OU=G,DC=x"), None);
    }

    #[test]
    fn roles_first_match_wins() {
        let table = vec![
            (
                "CN=lanward-admins,OU=Groups,DC=suido,DC=local".to_owned(),
                "administrator".to_owned(),
            ),
            ("lanward-operators".to_owned(), "operator".to_owned()),
            ("lanward-helpdesk".to_owned(), "helpdesk".to_owned()),
        ];
        let groups = vec![
            "cn=lanward-helpdesk,ou=groups,dc=suido,dc=local".to_owned(),
            "CN=Lanward-Operators,OU=Groups,DC=suido,DC=local".to_owned(),
        ];
        assert_eq!(map_role(&table, &groups).as_deref(), Some("operator"));
        let groups = vec!["cn=lanward-admins, ou=groups, dc=suido, dc=local".to_owned()];
        assert_eq!(map_role(&table, &groups).as_deref(), Some("administrator"));
        // Same CN in another place does not match a DN line.
        let groups = vec!["CN=lanward-admins,OU=Other,DC=suido,DC=local".to_owned()];
        assert_eq!(map_role(&table, &groups), None);
        assert_eq!(map_role(&table, &[]), None);
    }
}
