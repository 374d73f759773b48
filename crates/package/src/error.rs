use std::path::PathBuf;

use crate::chunk::{ChunkId, ChunkRefusal};

/// Everything that can go wrong outside verification. Messages are Japanese
/// with English in parentheses and name the file or field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: 読み書きできません (I/O error: {source})")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: 形式が正しくありません (malformed: {detail})")]
    Format { path: PathBuf, detail: String },
    #[error("{path}: 既にあります。署名鍵は上書きしません (already exists: a signing key file is never overwritten; remove it first)")]
    KeyFileExists { path: PathBuf },
    #[error("{field}: 値が正しくありません (invalid: {detail})")]
    Invalid { field: String, detail: String },
    #[error("{0}")]
    Chunk(#[from] ChunkRefusal),
    #[error("チャンクがありません (chunk missing from the store: {0})")]
    MissingChunk(ChunkId),
    #[error("組み立てた内容が一覧と一致しません (assembled content does not match the chunk list: {detail})")]
    ContentMismatch { detail: String },
    #[error("マニフェストは鍵 {manifest} を指定していますが、鍵ファイルは {key} です (manifest names key {manifest}, key file is {key})")]
    KeyMismatch { manifest: String, key: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Format { path: path.into(), detail: detail.into() }
    }
}
