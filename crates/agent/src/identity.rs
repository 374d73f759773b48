//! The agent's identity on disk: its Ed25519 key (never leaves the
//! machine) and what enrolment returned.

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolment {
    pub agent_id: String,
    pub server_url: String,
    pub site: String,
    /// The server CA pinned at enrolment (PEM); `None` for loopback HTTP.
    pub ca_pem: Option<String>,
    pub enrolled_at_ms: i64,
}

pub struct Identity {
    pub enrolment: Enrolment,
    pub key: SigningKey,
}

pub fn default_data_dir() -> PathBuf {
    #[cfg(windows)]
    {
        let base = std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        base.join("lanward").join("agent")
    }
    #[cfg(not(windows))]
    {
        PathBuf::from("/var/lib/lanward-agent")
    }
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("agent.key")
}
fn enrolment_path(dir: &Path) -> PathBuf {
    dir.join("enrolment.json")
}

pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

impl Identity {
    pub fn load(dir: &Path) -> Result<Self> {
        let enrolment_file = enrolment_path(dir);
        let bytes = std::fs::read(&enrolment_file)
            .with_context(|| format!("{} を読めません。先に `lanward-agent enroll` を実行してください", enrolment_file.display()))?;
        let enrolment: Enrolment =
            serde_json::from_slice(&bytes).with_context(|| format!("{} の形式が正しくありません", enrolment_file.display()))?;
        let key_file = key_path(dir);
        let hex_seed = std::fs::read_to_string(&key_file).with_context(|| format!("{} を読めません", key_file.display()))?;
        let seed = hex::decode(hex_seed.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
        let Some(seed) = seed else {
            bail!("{}: 鍵の形式が正しくありません (expected 64 hex digits)", key_file.display());
        };
        Ok(Identity { enrolment, key: SigningKey::from_bytes(&seed) })
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_private(&key_path(dir), hex::encode(self.key.to_bytes()).as_bytes())?;
        crate::spool::write_atomic(&enrolment_path(dir), &serde_json::to_vec_pretty(&self.enrolment)?)
            .with_context(|| format!("cannot write {}", enrolment_path(dir).display()))?;
        Ok(())
    }
}

/// Writes a file only its owner can read (the key). On Windows the data
/// directory under ProgramData is restricted by the installer instead.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
