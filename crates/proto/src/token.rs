//! Enrolment tokens: `lwt1.<id>.<secret>.<ca-fingerprint>`.
//!
//! The id finds the token on the server, the secret proves possession (the
//! server keeps only its SHA-256), and the fingerprint is the SHA-256 of the
//! server CA's DER certificate, which the agent pins before it trusts the
//! server with anything.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub id: String,
    pub secret: String,
    /// Lower-case hex SHA-256 of the CA certificate (DER).
    pub ca_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenParseError {
    WrongPrefix,
    WrongShape,
    BadFingerprint,
}

impl fmt::Display for TokenParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenParseError::WrongPrefix => f.write_str("トークンが lwt1. で始まっていません (token does not start with lwt1.)"),
            TokenParseError::WrongShape => f.write_str("トークンの形式が正しくありません (expected lwt1.<id>.<secret>.<fingerprint>)"),
            TokenParseError::BadFingerprint => f.write_str("トークン内の CA 指紋が 64 桁の16進数ではありません (CA fingerprint is not 64 hex digits)"),
        }
    }
}

impl std::error::Error for TokenParseError {}

impl EnrollmentToken {
    pub fn parse(s: &str) -> Result<Self, TokenParseError> {
        let rest = s.trim().strip_prefix("lwt1.").ok_or(TokenParseError::WrongPrefix)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [id, secret, fp] = parts.as_slice() else {
            return Err(TokenParseError::WrongShape);
        };
        let ok = |p: &str| !p.is_empty() && p.len() <= 128 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok(id) || !ok(secret) {
            return Err(TokenParseError::WrongShape);
        }
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenParseError::BadFingerprint);
        }
        Ok(EnrollmentToken { id: id.to_string(), secret: secret.to_string(), ca_fingerprint: fp.to_ascii_lowercase() })
    }
}

impl fmt::Display for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lwt1.{}.{}.{}", self.id, self.secret, self.ca_fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = EnrollmentToken { id: "abc".into(), secret: "s3cr-t_".into(), ca_fingerprint: "a".repeat(64) };
        assert_eq!(EnrollmentToken::parse(&t.to_string()), Ok(t));
        assert_eq!(EnrollmentToken::parse("lwt2.a.b.c"), Err(TokenParseError::WrongPrefix));
        assert_eq!(EnrollmentToken::parse("lwt1.a.b"), Err(TokenParseError::WrongShape));
        assert_eq!(EnrollmentToken::parse("lwt1.a.b c.dd"), Err(TokenParseError::WrongShape));
        assert_eq!(EnrollmentToken::parse("lwt1.a.b.zz"), Err(TokenParseError::BadFingerprint));
    }
}
