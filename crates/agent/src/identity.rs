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
    /// The package signing key pinned at enrolment (base64 Ed25519); agents
    /// enrolled before distribution existed have none and refuse packages.
    #[serde(default)]
    pub package_key: Option<String>,
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
        restrict_dir(dir);
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

/// Limits the data directory to SYSTEM and Administrators on Windows:
/// under ProgramData it would otherwise inherit read access for every local
/// user, and it holds the agent's key and the operation journal. Well-known
/// SIDs, not names, because account names are localised (Japanese Windows).
pub fn restrict_dir(dir: &Path) {
    #[cfg(windows)]
    {
        let out = std::process::Command::new("icacls")
            .arg(dir)
            .args(["/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => tracing::warn!(dir = %dir.display(), out = %String::from_utf8_lossy(&o.stderr), "cannot restrict the data directory"),
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot run icacls"),
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

/// Deletes the agent's data directory, but only one that looks like ours:
/// a mistyped `--data C:\` must not wipe a disk.
pub fn purge(dir: &Path) -> Result<()> {
    if !dir.exists() {
        println!("{} はありません", dir.display());
        return Ok(());
    }
    let ours = ["enrolment.json", "agent.key", "state.json", "queue", "events"].iter().any(|n| dir.join(n).exists());
    if !ours {
        bail!("{} は lanward エージェントのデータディレクトリではありません (no enrolment.json, agent.key, queue or events); 削除しません", dir.display());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot delete {}", dir.display()))?;
    println!("削除しました: {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_refuses_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("important.txt"), "x").unwrap();
        assert!(super::purge(dir.path()).is_err());
        assert!(dir.path().join("important.txt").exists());
        let ours = dir.path().join("agent");
        std::fs::create_dir_all(ours.join("queue")).unwrap();
        super::purge(&ours).unwrap();
        assert!(!ours.exists());
    }
}
