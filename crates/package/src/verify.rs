use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::fsutil::parse_json;
use crate::key::PublicKey;
use crate::manifest::Manifest;
use crate::sign::{SignedManifest, MAX_MANIFEST_BYTES, SIGNED_FORMAT};
use crate::time::{format_utc, unix_seconds};

/// Why the agent refuses a manifest. The message is what the operator sees
/// in the console (Japanese, English in parentheses); `code()` is a stable
/// token for reports and tests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("署名がありません (unsigned)")]
    Unsigned,
    #[error("別の鍵で署名されています (signed by another key: {key_id}; this PC trusts: {pinned})")]
    OtherKey { key_id: String, pinned: String },
    #[error("改ざんされています (signature does not match)")]
    Tampered,
    #[error("期限切れです (expired at {})", format_utc(*expires_at))]
    Expired { expires_at: u64, now: u64 },
    #[error("以前の版より古いです (older than serial {seen} already seen: {package} serial {serial})")]
    Rollback { package: String, serial: u64, seen: u64 },
    #[error("形式が正しくありません: {field} (malformed: {detail})")]
    Malformed { field: String, detail: String },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::OtherKey { .. } => "other_key",
            Refusal::Tampered => "tampered",
            Refusal::Expired { .. } => "expired",
            Refusal::Rollback { .. } => "rollback",
            Refusal::Malformed { .. } => "malformed",
        }
    }
}

fn malformed(field: impl Into<String>, detail: impl Into<String>) -> Refusal {
    Refusal::Malformed { field: field.into(), detail: detail.into() }
}

/// Verify a signed manifest as the agent receives it, against the public
/// key this PC pins, the current time and the highest serial of this
/// package already seen (`None` if never). Returns the manifest only when
/// every check passed, in this order: well-formed, signed, by the pinned
/// key, signature matches, consistent, not expired, not older than seen.
///
/// Never panics, whatever the bytes (fuzzed: `fuzz/verify_manifest`).
pub fn verify(
    signed_bytes: &[u8],
    pinned: &PublicKey,
    now: SystemTime,
    last_seen_serial: Option<u64>,
) -> Result<Manifest, Refusal> {
    verify_with_keys(signed_bytes, std::slice::from_ref(pinned), now, last_seen_serial)
}

/// `verify` against several pinned keys (during a key rotation the agent
/// trusts the old and the new key): the manifest's key id picks the key.
/// With no keys every manifest is refused as signed by another key.
pub fn verify_with_keys(
    signed_bytes: &[u8],
    pinned_keys: &[PublicKey],
    now: SystemTime,
    last_seen_serial: Option<u64>,
) -> Result<Manifest, Refusal> {
    if signed_bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(malformed("(file)", format!("{} bytes, more than {MAX_MANIFEST_BYTES}", signed_bytes.len())));
    }
    // An unsigned manifest (or a signed one stripped of its signature) is
    // valid JSON without a signature: say so, rather than "malformed".
    if let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(signed_bytes) {
        match top.get("signature") {
            None | Some(Value::Null) => return Err(Refusal::Unsigned),
            Some(Value::String(s)) if s.is_empty() => return Err(Refusal::Unsigned),
            _ => {}
        }
    }
    let signed: SignedManifest = parse_json(signed_bytes).map_err(|(field, detail)| malformed(field, detail))?;
    if signed.format != SIGNED_FORMAT {
        return Err(malformed("format", format!("{:?}, expected {SIGNED_FORMAT:?}", signed.format)));
    }
    let manifest = signed.manifest;
    let Some(pinned) = pinned_keys.iter().find(|k| k.id() == manifest.key_id) else {
        return Err(Refusal::OtherKey {
            key_id: manifest.key_id.to_hex(),
            pinned: pinned_keys.iter().map(|k| k.id().to_hex()).collect::<Vec<_>>().join(", "),
        });
    };
    let sig_bytes = STANDARD.decode(&signed.signature).map_err(|e| malformed("signature", format!("not base64: {e}")))?;
    let sig_arr: [u8; 64] =
        sig_bytes.as_slice().try_into().map_err(|_| malformed("signature", format!("expected 64 bytes, got {}", sig_bytes.len())))?;
    let signature = ed25519_dalek::Signature::from_bytes(&sig_arr);
    // verify_strict: no malleable signatures, no small-order keys.
    pinned
        .verifying_key()
        .verify_strict(&manifest.canonical_bytes(), &signature)
        .map_err(|_| Refusal::Tampered)?;
    manifest.check().map_err(|(field, detail)| malformed(format!("manifest.{field}"), detail))?;
    let now = unix_seconds(now);
    if now >= manifest.expires_at {
        return Err(Refusal::Expired { expires_at: manifest.expires_at, now });
    }
    if let Some(seen) = last_seen_serial {
        // Equal is allowed: the same manifest again (a retried or resumed
        // install) is not a rollback.
        if manifest.serial < seen {
            return Err(Refusal::Rollback { package: manifest.package, serial: manifest.serial, seen });
        }
    }
    Ok(manifest)
}
