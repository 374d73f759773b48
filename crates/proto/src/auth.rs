//! Request signing: how an enrolled agent proves who it is.
//!
//! Every agent request after enrolment carries four headers. The signature
//! is Ed25519 over [`signing_payload`]: method, path, timestamp, nonce and
//! the SHA-256 of the body, so neither the body nor the target can be
//! swapped. The timestamp is in milliseconds and strictly increases per
//! agent: the server refuses one that is not newer than the last it
//! accepted from that agent (no replay) or too far from its own clock.
//! Signing (not mutual TLS) keeps authentication identical over HTTPS and
//! the loopback-only plain HTTP used by the demo; ARCHITECTURE.md explains.

use sha2::{Digest, Sha256};

pub const HDR_AGENT_ID: &str = "x-lanward-agent";
pub const HDR_TIMESTAMP: &str = "x-lanward-timestamp";
pub const HDR_NONCE: &str = "x-lanward-nonce";
pub const HDR_SIGNATURE: &str = "x-lanward-signature";

/// How far an agent clock may differ from the server's, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Bytes that are signed for one request.
pub fn signing_payload(method: &str, path: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    format!("lanward-v1\n{method}\n{path}\n{timestamp}\n{nonce}\n{body_hash}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_binds_every_part() {
        let base = signing_payload("POST", "/a", 1, "n", b"x");
        assert_ne!(base, signing_payload("GET", "/a", 1, "n", b"x"));
        assert_ne!(base, signing_payload("POST", "/b", 1, "n", b"x"));
        assert_ne!(base, signing_payload("POST", "/a", 2, "n", b"x"));
        assert_ne!(base, signing_payload("POST", "/a", 1, "m", b"x"));
        assert_ne!(base, signing_payload("POST", "/a", 1, "n", b"y"));
    }
}
