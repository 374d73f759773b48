use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path`, unique per process and call, so two
/// writers (or a crashed earlier run) never share a temp file.
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Create a new file for writing; mode 0600 on Unix when `private`.
pub(crate) fn create_new(path: &Path, private: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    opts.open(path)
}

/// Make a rename durable: on Unix the directory entry needs its own fsync.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Write `bytes` to `path` so that after a crash the file holds either the
/// old or the new content, never a torn mix: temp file, fsync, rename,
/// fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let tmp = temp_beside(path);
    let result = (|| {
        let mut f = create_new(&tmp, private).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        let dir = parent_dir(path);
        sync_dir(dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Read a whole small file (state, keys, manifests), naming it on error.
/// Capped so a wrong path to a huge file fails instead of eating memory.
pub(crate) fn read_small(path: &Path, cap: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > cap {
        return Err(Error::format(path, format!("larger than {cap} bytes")));
    }
    Ok(buf)
}

/// Parse one JSON document of type `T`, refusing anything after it, and
/// name the JSON path on failure (`manifest.content.chunks[3].size`).
/// Trailing bytes must be refused: otherwise a signed manifest followed by
/// junk would verify, and "a changed byte" would go unnoticed.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, (String, String)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." { "(document)".to_string() } else { path };
        (field, e.inner().to_string())
    })?;
    de.end().map_err(|e| ("(document)".to_string(), format!("unexpected data after the JSON document: {e}")))?;
    Ok(value)
}
