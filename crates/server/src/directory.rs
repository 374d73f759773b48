//! Sign-in with an Active Directory account, when `DATA/directory.json`
//! exists (format: `lanward-directory`'s `DirectoryConfigFile`). The
//! directory decides the role at every sign-in through its group mapping;
//! lanward keeps a local record of the person (without a password) so that
//! audit entries and sessions name them.

use crate::error::AppError;
use crate::SharedState;
use axum::http::StatusCode;
use lanward_store::UserRecord;

pub const CONFIG_FILE: &str = "directory.json";

/// Loads the directory configuration, if there is one. A file that exists
/// but is wrong stops the server: signing in must not silently fall back.
pub fn load(data_dir: &std::path::Path) -> anyhow::Result<Option<lanward_directory::DirectoryConfig>> {
    let path = data_dir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    lanward_directory::DirectoryConfig::load(&path).map(Some).map_err(|e| anyhow::anyhow!("{}: {} ({e})", path.display(), e.message_ja()))
}

fn refused() -> AppError {
    AppError::unauthorized("login_failed", "ユーザー名またはパスワードが違います", "wrong user name or password")
}

/// `Err((reason for the audit log, answer))`.
pub async fn sign_in(state: &SharedState, username: &str, password: &str) -> Result<UserRecord, (String, AppError)> {
    let Some(cfg) = state.directory.clone() else {
        return Err(("unknown_user".into(), refused()));
    };
    let (u, p) = (username.to_string(), password.to_string());
    // ldap3's blocking connection runs its own runtime: never on an async worker.
    let result = tokio::task::spawn_blocking(move || lanward_directory::authenticate(&cfg, &u, &p))
        .await
        .map_err(|e| ("internal".to_string(), AppError::from(e)))?;
    let person = match result {
        Ok(p) => p,
        Err(e) => {
            let answer = match e.kind() {
                "bad_credentials" => refused(),
                "no_role" => AppError::new(StatusCode::FORBIDDEN, "no_role", e.message_ja(), e.message_en()),
                _ => AppError::new(StatusCode::SERVICE_UNAVAILABLE, "directory_unavailable", e.message_ja(), e.message_en()),
            };
            return Err((format!("directory:{}", e.audit_detail()), answer));
        }
    };
    let store = state.store.clone();
    let now = lanward_store::now_ms();
    tokio::task::spawn_blocking(move || store.upsert_directory_user(&person.username, &person.display_name, &person.role, now))
        .await
        .map_err(|e| ("internal".to_string(), AppError::from(e)))?
        .map_err(|e| match e {
            lanward_store::StoreError::Conflict(_) => (
                "directory_name_is_local_user".to_string(),
                AppError::new(StatusCode::CONFLICT, "user_conflict", "同名のローカルユーザーがあるため、ディレクトリのアカウントではログインできません", "a local user has this name; directory sign-in refused"),
            ),
            other => ("database".to_string(), AppError::from(other)),
        })
}
