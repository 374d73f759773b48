use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chunk::{hex_lower, parse_hex_lower};
use crate::fsutil::{read_small, write_atomic};
use crate::Error;

const SECRET_HEADER: &str = "lanward-package-signing-key v1";
const PUBLIC_HEADER: &str = "lanward-package-public-key v1";

/// Which key signed a manifest: the first 8 bytes of SHA-256 of the Ed25519
/// public key, as 16 lowercase hex digits. Short enough to read aloud when
/// an operator compares keys, long enough not to collide by accident (it is
/// a name, not the security: the signature is checked with the pinned key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }
}
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}
impl FromStr for KeyId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hex_lower::<8>(s).map(KeyId)
    }
}
impl Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The public half that agents pin (from their configuration or the
/// installer's preset). Text form: the 32 key bytes in standard base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    pub fn id(&self) -> KeyId {
        let d = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        KeyId(id)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// Parse the base64 form; refuses wrong lengths and points that are not
    /// valid or are of small order (a weak key verifies forged signatures).
    pub fn from_base64(s: &str) -> Result<PublicKey, String> {
        let bytes = STANDARD.decode(s.trim()).map_err(|e| format!("not base64: {e}"))?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| format!("expected 32 bytes, got {}", bytes.len()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| "not an Ed25519 public key".to_string())?;
        if key.is_weak() {
            return Err("weak (small-order) Ed25519 public key".into());
        }
        Ok(PublicKey(key))
    }

    /// Write the public key file (mode 0644: it is not secret).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = format!("{PUBLIC_HEADER}\nkey-id: {}\npublic: {}\n", self.id(), self.to_base64());
        write_atomic(path, text.as_bytes(), false)
    }

    pub fn load(path: &Path) -> Result<PublicKey, Error> {
        let text = read_text(path)?;
        let fields = parse_key_file(path, &text, PUBLIC_HEADER)?;
        let key = PublicKey::from_base64(field(path, &fields, "public")?).map_err(|e| Error::format(path, format!("public: {e}")))?;
        check_id(path, &fields, key.id())?;
        Ok(key)
    }

    pub(crate) fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, id {})", self.to_base64(), self.id())
    }
}

/// The bureau's package signing key (Ed25519). It lives on the signing
/// machine only, never on the server that distributes, so a compromised
/// server cannot push software.
///
/// File format (text, so an operator can see what the file is and copy it
/// onto a USB stick without tools; written 0600 on Unix):
///
/// ```text
/// lanward-package-signing-key v1
/// key-id: 0123456789abcdef
/// secret: <32-byte Ed25519 seed, standard base64>
/// ```
///
/// The key id line is checked on load, so a damaged file is noticed.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    pub fn generate() -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn id(&self) -> KeyId {
        self.public_key().id()
    }

    /// Write the key file atomically with mode 0600 (Unix). On Windows the
    /// file inherits its directory's ACL: keep it in a protected directory.
    /// Refuses to replace an existing file: overwriting the signing key by
    /// mistake would leave every agent pinned to a key nobody has.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        if path.exists() {
            return Err(Error::KeyFileExists { path: path.to_path_buf() });
        }
        let text = format!("{SECRET_HEADER}\nkey-id: {}\nsecret: {}\n", self.id(), STANDARD.encode(self.0.to_bytes()));
        write_atomic(path, text.as_bytes(), true)
    }

    pub fn load(path: &Path) -> Result<SigningKey, Error> {
        let text = read_text(path)?;
        let fields = parse_key_file(path, &text, SECRET_HEADER)?;
        let bytes = STANDARD
            .decode(field(path, &fields, "secret")?)
            .map_err(|e| Error::format(path, format!("secret: not base64: {e}")))?;
        let seed: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| Error::format(path, format!("secret: expected 32 bytes, got {}", bytes.len())))?;
        let key = SigningKey::from_seed(seed);
        check_id(path, &fields, key.id())?;
        Ok(key)
    }

    pub(crate) fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    // Never print the secret (logs, panics).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(id {})", self.id())
    }
}

fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = read_small(path, 4096)?;
    String::from_utf8(bytes).map_err(|_| Error::format(path, "not UTF-8 text"))
}

fn parse_key_file<'a>(path: &Path, text: &'a str, header: &str) -> Result<Vec<(&'a str, &'a str)>, Error> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match lines.next() {
        Some(h) if h == header => {}
        Some(h) => return Err(Error::format(path, format!("first line is {h:?}, expected {header:?}"))),
        None => return Err(Error::format(path, "empty file")),
    }
    let mut fields = Vec::new();
    for (i, line) in lines.enumerate() {
        let (k, v) = line.split_once(':').ok_or_else(|| Error::format(path, format!("line {}: expected `name: value`", i + 2)))?;
        fields.push((k.trim(), v.trim()));
    }
    Ok(fields)
}

fn field<'a>(path: &Path, fields: &[(&str, &'a str)], name: &str) -> Result<&'a str, Error> {
    fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).ok_or_else(|| Error::format(path, format!("missing `{name}:` line")))
}

fn check_id(path: &Path, fields: &[(&str, &str)], actual: KeyId) -> Result<(), Error> {
    let written = field(path, fields, "key-id")?;
    if written != actual.to_hex() {
        return Err(Error::format(path, format!("key-id says {written} but the key is {actual} (damaged file?)")));
    }
    Ok(())
}
