use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chunk::{ChunkId, ChunkList};
use crate::key::KeyId;

/// Prefix of the signed bytes. It binds a signature to "package manifest,
/// format 1": the same key may later sign other things (agent self-update),
/// and a signature over one kind must never verify as another.
pub const MANIFEST_SIGNING_CONTEXT: &[u8] = b"lanward-package-manifest/1\n";

/// What the server distributes and the agent installs: which content, as
/// which package and version, valid until when, installed how.
///
/// Times are Unix seconds, UTC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Package name, e.g. `office-ltsc-2024`. The anti-rollback serial is
    /// kept per name.
    pub package: String,
    /// The version people read (`16.0.17932.20162`); never compared.
    pub version: String,
    /// Raised for every new manifest of this package; the agent refuses a
    /// serial lower than one it has seen, so an old vulnerable version
    /// cannot be replayed even though its signature is valid.
    pub serial: u64,
    pub created_at: u64,
    /// After this instant the agent refuses the manifest: a stolen old
    /// manifest stops working on its own.
    pub expires_at: u64,
    pub content: ChunkList,
    /// How to install (framework, switches, detection rules, exit codes).
    /// Defined elsewhere; here opaque JSON that is signed with the rest.
    pub installer: Value,
    pub key_id: KeyId,
}

/// SHA-256 of a manifest's canonical bytes: names one exact manifest, e.g.
/// to tie a download's resume record to the manifest it belongs to.
pub type ManifestId = ChunkId;

const MAX_NAME: usize = 200;
const MAX_INSTALLER_DEPTH: usize = 32;

impl Manifest {
    /// The exact bytes that are signed and verified:
    ///
    /// `MANIFEST_SIGNING_CONTEXT` followed by the manifest as JSON with no
    /// whitespace, fields in the order declared above (`package`, `version`,
    /// `serial`, `created_at`, `expires_at`, `content` {`chunk_size`,
    /// `total_size`, `sha256`, `chunks` [{`id`, `size`}]}, `installer`,
    /// `key_id`), hashes and key ids in lowercase hex, and inside
    /// `installer` every object's keys sorted by their UTF-8 bytes; strings
    /// escaped as serde_json writes them; integers only.
    ///
    /// Why canonical: the signed file is JSON that is parsed and
    /// re-serialized on the agent, and JSON allows many spellings of one
    /// value (key order, spaces, `\u0041` for `A`). The verifier recomputes
    /// these bytes from what it parsed, so the signature covers exactly the
    /// meaning the agent acts on — not some bytes next to it — and any
    /// spelling change that changes the meaning breaks the signature.
    /// Floating-point numbers are refused (`check`) because their text
    /// form does not survive a parse/print round trip on every platform.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let canonical = Manifest { installer: canonical_value(&self.installer), ..self.clone() };
        let mut out = MANIFEST_SIGNING_CONTEXT.to_vec();
        // Writing derived structs, strings and integers into a Vec cannot
        // fail; an empty body would simply fail verification.
        if let Ok(json) = serde_json::to_vec(&canonical) {
            out.extend_from_slice(&json);
        }
        out
    }

    /// SHA-256 of the canonical bytes.
    pub fn id(&self) -> ManifestId {
        ChunkId::of(&self.canonical_bytes())
    }

    /// Check everything a signature cannot: names, times, chunk list
    /// consistency, installer JSON limits. Names the field on failure.
    pub fn check(&self) -> Result<(), (String, String)> {
        check_name("package", &self.package)?;
        if !self.package.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(("package".into(), format!("{:?}: only ASCII letters, digits, '-', '_', '.'", self.package)));
        }
        check_name("version", &self.version)?;
        if self.expires_at <= self.created_at {
            return Err(("expires_at".into(), format!("{} is not after created_at {}", self.expires_at, self.created_at)));
        }
        self.content.check().map_err(|(f, d)| (format!("content.{f}"), d))?;
        check_installer(&self.installer, "installer", 0)
    }
}

fn check_name(field: &str, s: &str) -> Result<(), (String, String)> {
    if s.is_empty() || s.len() > MAX_NAME || s.chars().any(char::is_control) {
        return Err((field.into(), format!("must be 1..={MAX_NAME} bytes without control characters")));
    }
    Ok(())
}

fn check_installer(v: &Value, path: &str, depth: usize) -> Result<(), (String, String)> {
    if depth > MAX_INSTALLER_DEPTH {
        return Err((path.into(), format!("nested deeper than {MAX_INSTALLER_DEPTH}")));
    }
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            Err((path.into(), format!("{n}: only integers are allowed (no fractions or exponents)")))
        }
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, x)| check_installer(x, &format!("{path}[{i}]"), depth + 1)),
        Value::Object(m) => m.iter().try_for_each(|(k, x)| check_installer(x, &format!("{path}.{k}"), depth + 1)),
        _ => Ok(()),
    }
}

/// A copy with object keys inserted in sorted order, so the output is the
/// same whether serde_json's maps are sorted (default) or keep insertion
/// order (`preserve_order`, which any crate in the build could turn on).
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(canonical_value).collect()),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical_value(&m[k]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::chunk_reader;
    use crate::key::SigningKey;

    fn manifest(installer: Value) -> Manifest {
        let content = chunk_reader(&b"hello world"[..], 4, |_, _| Ok(())).unwrap();
        Manifest {
            package: "pkg".into(),
            version: "1.0".into(),
            serial: 1,
            created_at: 10,
            expires_at: 20,
            content,
            installer,
            key_id: SigningKey::from_seed([1; 32]).id(),
        }
    }

    #[test]
    fn canonical_bytes_ignore_key_order_and_spelling() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":"A","x":[1,2]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a" : {"x":[1, 2], "y":"\u0041"}, "b":1 }"#).unwrap();
        assert_eq!(manifest(a.clone()).canonical_bytes(), manifest(b).canonical_bytes());
        let text = String::from_utf8(manifest(a).canonical_bytes()).unwrap();
        assert!(text.starts_with("lanward-package-manifest/1\n{\"package\":\"pkg\",\"version\":\"1.0\",\"serial\":1,"), "{text}");
        assert!(text.contains(r#""installer":{"a":{"x":[1,2],"y":"A"},"b":1},"key_id":""#), "{text}");
    }

    #[test]
    fn canonical_bytes_change_with_meaning() {
        let m = manifest(Value::Null);
        let mut other = m.clone();
        other.serial = 2;
        assert_ne!(m.canonical_bytes(), other.canonical_bytes());
        assert_ne!(m.id(), other.id());
    }

    #[test]
    fn check_names_the_field() {
        assert_eq!(manifest(serde_json::json!({"a": [1, 2.5]})).check().unwrap_err().0, "installer.a[1]");
        let mut m = manifest(Value::Null);
        m.expires_at = 10;
        assert_eq!(m.check().unwrap_err().0, "expires_at");
        let mut m = manifest(Value::Null);
        m.package = "a/../b".into();
        assert_eq!(m.check().unwrap_err().0, "package");
        let mut m = manifest(Value::Null);
        m.content.total_size += 1;
        assert_eq!(m.check().unwrap_err().0, "content.total_size");
        manifest(serde_json::json!({"exit": {"3010": "reboot"}, "n": -1})).check().unwrap();
    }
}
