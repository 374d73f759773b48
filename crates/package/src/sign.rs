use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::fsutil::{parse_json, read_small, write_atomic};
use crate::key::SigningKey;
use crate::manifest::Manifest;
use crate::Error;

/// `format` of a signed manifest file.
pub const SIGNED_FORMAT: &str = "lanward-signed-manifest/1";
/// Manifests are small (a 300 MB package is ~75 chunks); anything bigger
/// than this is refused before parsing.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// A manifest with its Ed25519 signature over `manifest.canonical_bytes()`.
/// On disk and on the wire: compact JSON
/// `{"format":"lanward-signed-manifest/1","manifest":{…},"signature":"<base64>"}`
/// (compact so that every byte of the file carries meaning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    pub format: String,
    pub manifest: Manifest,
    /// 64-byte Ed25519 signature, standard base64.
    pub signature: String,
}

impl SignedManifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing derived structs of strings/integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Write the signed manifest file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        write_atomic(path, &self.to_bytes(), false)
    }
}

/// Sign `manifest` with `key`. Refuses a manifest that fails
/// `Manifest::check` or names a different key id: what a person reviewed
/// must be exactly what gets signed, so the signer never rewrites fields.
pub fn sign(manifest: &Manifest, key: &SigningKey) -> Result<SignedManifest, Error> {
    manifest.check().map_err(|(field, detail)| Error::Invalid { field: format!("manifest.{field}"), detail })?;
    if manifest.key_id != key.id() {
        return Err(Error::KeyMismatch { manifest: manifest.key_id.to_hex(), key: key.id().to_hex() });
    }
    let signature = key.sign_bytes(&manifest.canonical_bytes());
    Ok(SignedManifest { format: SIGNED_FORMAT.into(), manifest: manifest.clone(), signature: STANDARD.encode(signature) })
}

/// Write an unsigned manifest for review and offline signing (pretty JSON:
/// a person reads it before signing).
pub fn write_unsigned(manifest: &Manifest, path: &Path) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &text, false)
}

/// Read an unsigned manifest file, naming the malformed field.
pub fn read_unsigned(path: &Path) -> Result<Manifest, Error> {
    let bytes = read_small(path, MAX_MANIFEST_BYTES)?;
    let manifest: Manifest = parse_json(&bytes).map_err(|(field, detail)| Error::format(path, format!("{field}: {detail}")))?;
    manifest
        .check()
        .map_err(|(field, detail)| Error::format(path, format!("{field}: {detail}")))?;
    Ok(manifest)
}

/// The offline flow: on the signing machine, with only the key file,
/// turn the unsigned manifest file into a signed manifest file.
pub fn sign_file(unsigned: &Path, key_file: &Path, signed_out: &Path) -> Result<SignedManifest, Error> {
    let manifest = read_unsigned(unsigned)?;
    let key = SigningKey::load(key_file)?;
    let signed = sign(&manifest, &key)?;
    signed.save(signed_out)?;
    Ok(signed)
}
