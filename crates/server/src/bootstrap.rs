//! The first administrator. There is no default password: on first start
//! the server creates `admin` with a random password and an API token,
//! writes both to files only the owner can read, and audits it.

use anyhow::{Context, Result};
use argon2::password_hash::{PasswordHasher, SaltString};
use lanward_store::{NewApiToken, NewAuditEntry, NewUser, Store};
use sha2::{Digest, Sha256};
use std::path::Path;

pub const ADMIN_PASSWORD_FILE: &str = "admin-password";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

pub fn random_secret(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Checks a password against its stored PHC string (constant time inside argon2).
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// Creates `admin` if missing. Returns the new password and token, if created.
pub fn ensure_admin(store: &dyn Store, data_dir: &Path) -> Result<Option<(String, String)>> {
    if store.user_by_name("admin").map_err(|e| anyhow::anyhow!("{e}"))?.is_some() {
        return Ok(None);
    }
    let password = random_secret(15);
    let token = format!("lwa_{}", random_secret(32));
    let now = lanward_store::now_ms();
    let user_id = store
        .create_user(&NewUser {
            username: "admin".into(),
            display_name: "管理者".into(),
            password_hash: hash_password(&password)?,
            role: "administrator".into(),
            created_at_ms: now,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_api_token(&NewApiToken { user_id, name: "bootstrap".into(), token_hash: token_hash(&token), created_at_ms: now, expires_at_ms: None })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::tls::write_private(&data_dir.join(ADMIN_PASSWORD_FILE), format!("{password}\n").as_bytes())
        .context("cannot write the administrator password")?;
    crate::tls::write_private(&data_dir.join(ADMIN_TOKEN_FILE), format!("{token}\n").as_bytes())
        .context("cannot write the administrator token")?;
    store
        .append_audit(&NewAuditEntry {
            actor: "system".into(),
            action: "user.create".into(),
            target: "user:admin".into(),
            detail: "初回起動時に管理者を作成 (random password and API token written to the data directory)".into(),
            source: String::new(),
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(dir = %data_dir.display(), "created administrator `admin`; password and API token are in the data directory");
    Ok(Some((password, token)))
}
