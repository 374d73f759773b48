use serde::Serialize;
use std::fmt;

/// What kind of problem, for callers that react differently (an unknown EXE
/// asks the operator for a command line; a corrupt file asks for a new upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Reading failed (not the content's fault).
    Io,
    /// The file claims a format but its content is broken or cut short.
    Corrupt,
    /// A Windows program whose installer framework we do not know.
    UnknownExe,
    /// Not a format we know at all.
    UnknownType,
    /// A zip without one clear entry script.
    NoEntryScript,
}

/// An error that names the file and what is wrong with it, in Japanese with
/// English beside it.
#[derive(Debug, Clone, Serialize)]
pub struct RecogniseError {
    pub file: String,
    pub kind: ErrorKind,
    pub message: String,
    pub message_en: String,
}

impl fmt::Display for RecogniseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.file, self.message, self.message_en)
    }
}

impl std::error::Error for RecogniseError {}

/// The file being recognised, for building errors.
#[derive(Debug, Clone)]
#[cfg(feature = "recognise")]
pub(crate) struct Ctx {
    pub file: String,
}

#[cfg(feature = "recognise")]
impl Ctx {
    pub fn err(
        &self,
        kind: ErrorKind,
        ja: impl Into<String>,
        en: impl Into<String>,
    ) -> RecogniseError {
        RecogniseError {
            file: self.file.clone(),
            kind,
            message: ja.into(),
            message_en: en.into(),
        }
    }
    pub fn corrupt(&self, ja: impl Into<String>, en: impl Into<String>) -> RecogniseError {
        self.err(ErrorKind::Corrupt, ja, en)
    }
    /// A read error: "unexpected end of file" means the file is cut short.
    pub fn io(&self, what_ja: &str, what_en: &str, e: std::io::Error) -> RecogniseError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            self.corrupt(
                format!("{what_ja}の途中でファイルが終わっています（途中で切れたファイル）"),
                format!("the file ends inside {what_en} (truncated file)"),
            )
        } else {
            self.err(
                ErrorKind::Io,
                format!("{what_ja}を読めません: {e}"),
                format!("cannot read {what_en}: {e}"),
            )
        }
    }
}
