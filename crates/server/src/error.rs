//! Errors as HTTP answers: a status, a stable code, and the message in
//! Japanese (with English beside it).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lanward_proto::ApiError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub ja: String,
    pub en: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        AppError { status, code, ja: ja.into(), en: en.into() }
    }
    pub fn bad_request(code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, ja, en)
    }
    pub fn unauthorized(code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, ja, en)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} が見つかりません"), format!("{what} not found"))
    }
    pub fn unavailable(detail: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!("データベースに接続できません。しばらくしてから再試行してください ({detail})"),
            format!("database unavailable, retry later ({detail})"),
        )
    }
}

impl From<lanward_store::StoreError> for AppError {
    fn from(e: lanward_store::StoreError) -> Self {
        use lanward_store::StoreError::*;
        match e {
            Unavailable(m) => AppError::unavailable(&m),
            NotFound(m) => AppError::not_found(&m),
            Conflict(m) => AppError::new(StatusCode::CONFLICT, "conflict", format!("競合しました: {m}"), format!("conflict: {m}")),
            Corrupt(m) => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt", format!("保存データが壊れています: {m}"), format!("stored data is corrupt: {m}")),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("内部エラー: {e}"), format!("internal error: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = self.code, message = %self.en, "request failed");
        } else {
            tracing::warn!(status = %self.status, code = self.code, message = %self.en, "request refused");
        }
        let body = ApiError { code: self.code.to_string(), message: self.ja, message_en: Some(self.en) };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("30"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, AppError>;
