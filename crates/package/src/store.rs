use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::chunk::{chunk_reader, ChunkId, ChunkList, ChunkRefusal, MAX_CHUNK_SIZE};
use crate::fsutil::{create_new, parent_dir, sync_dir, temp_beside};
use crate::Error;

const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// A directory of chunks named by their SHA-256: the server's content
/// repository and the agent's download cache. Layout: `ROOT/ab/abcd…`
/// (two-digit fan-out so no directory grows huge), temporary files in
/// `ROOT/tmp/`. A chunk appears under its name only complete and fsynced
/// (temp + fsync + rename), so a crash never leaves a half chunk under a
/// valid name; reads still verify, because disks and people corrupt files.
#[derive(Clone, Debug)]
pub struct ChunkStore {
    root: PathBuf,
}

impl ChunkStore {
    /// Open (creating if needed) the store at `root`. Temp files older
    /// than an hour are leftovers of a crash and are removed; younger ones
    /// may belong to another process writing into the same store (the
    /// server and a CLI import), so they are left alone.
    pub fn open(root: impl Into<PathBuf>) -> Result<ChunkStore, Error> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let stale = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP);
                if stale {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(ChunkStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the chunk `id` lives (whether or not it is there).
    pub fn path_of(&self, id: &ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    pub fn has(&self, id: &ChunkId) -> bool {
        self.path_of(id).is_file()
    }

    /// Store `bytes` under their own hash and return it (the server adding
    /// content it made itself). Storing an existing chunk is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<ChunkId, Error> {
        let id = ChunkId::of(bytes);
        self.write_chunk(&id, bytes, false)?;
        Ok(id)
    }

    /// Store `bytes` that are supposed to be chunk `expected` (the agent
    /// storing a download). Bytes that do not hash to `expected` are
    /// refused and nothing is written. A file already under that name is
    /// replaced (atomically): the caller fetched the chunk because the
    /// stored copy was missing or bad, so it must not be kept.
    pub fn put_verified(&self, expected: &ChunkId, bytes: &[u8]) -> Result<(), Error> {
        ChunkRefusal::check(expected, bytes)?;
        self.write_chunk(expected, bytes, true)
    }

    fn write_chunk(&self, id: &ChunkId, bytes: &[u8], replace: bool) -> Result<(), Error> {
        let path = self.path_of(id);
        // Same name and same length: the same content unless the disk
        // damaged it, which reads detect.
        if !replace && fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
            return Ok(());
        }
        let dir = parent_dir(&path).to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            sync_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        }
        let tmp = temp_beside(&self.root.join("tmp").join(id.to_hex()));
        let result = (|| {
            let mut f = create_new(&tmp, false).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
            drop(f);
            fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            sync_dir(&dir).map_err(|e| Error::io(&dir, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Read chunk `id`, checking its bytes hash to `id`. A missing chunk
    /// is `Error::MissingChunk`; a corrupted one is `Error::Chunk` (the
    /// caller should `remove` it and fetch it again).
    pub fn read_verified(&self, id: &ChunkId) -> Result<Vec<u8>, Error> {
        let path = self.path_of(id);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::MissingChunk(*id)),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut bytes = Vec::new();
        // A chunk is never larger than MAX_CHUNK_SIZE; a bigger file is
        // corrupt and must not be read whole.
        f.take(MAX_CHUNK_SIZE + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
        ChunkRefusal::check(id, &bytes)?;
        Ok(bytes)
    }

    /// Remove chunk `id`; removing an absent chunk is not an error.
    pub fn remove(&self, id: &ChunkId) -> Result<(), Error> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Chunk a stream into this store (the server importing an installer);
    /// each chunk is written as soon as it is read. `source` names the
    /// stream in errors.
    pub fn add_reader<R: Read>(&self, reader: R, chunk_size: u64, source: &Path) -> Result<ChunkList, Error> {
        let mut store_err = None;
        let result = chunk_reader(reader, chunk_size, |info, bytes| {
            self.write_chunk(&info.id, bytes, false).map_err(|e| {
                let msg = e.to_string();
                store_err = Some(e);
                io::Error::other(msg)
            })
        });
        match (result, store_err) {
            (_, Some(e)) => Err(e),
            (Ok(list), None) => Ok(list),
            (Err(e), None) => Err(Error::io(source, e)),
        }
    }

    /// Chunk the file at `path` into this store.
    pub fn add_file(&self, path: &Path, chunk_size: u64) -> Result<ChunkList, Error> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        self.add_reader(f, chunk_size, path)
    }
}

/// Write the content described by `list` from `store` to `out`, streaming
/// one chunk at a time, verifying every chunk and then the total size and
/// SHA-256. The file appears at `out` only if everything matched (temp +
/// fsync + rename); otherwise nothing is left behind.
pub fn assemble(store: &ChunkStore, list: &ChunkList, out: &Path) -> Result<(), Error> {
    list.check().map_err(|(field, detail)| Error::Invalid { field: format!("content.{field}"), detail })?;
    let tmp = temp_beside(out);
    let result = (|| {
        let mut f = create_new(&tmp, false).map_err(|e| Error::io(&tmp, e))?;
        let mut total = Sha256::new();
        let mut size = 0u64;
        for info in &list.chunks {
            let bytes = store.read_verified(&info.id)?;
            if bytes.len() as u64 != info.size {
                return Err(Error::ContentMismatch {
                    detail: format!("chunk {} is {} bytes, the list says {}", info.id, bytes.len(), info.size),
                });
            }
            total.update(&bytes);
            size += bytes.len() as u64;
            f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        }
        let sha = ChunkId::from_digest(total.finalize().into());
        if size != list.total_size || sha != list.sha256 {
            return Err(Error::ContentMismatch {
                detail: format!("{size} bytes with SHA-256 {sha}, expected {} bytes with {}", list.total_size, list.sha256),
            });
        }
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        let dir = parent_dir(out);
        sync_dir(dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
