use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunk::{ChunkId, ChunkInfo, ChunkList};
use crate::fsutil::{parse_json, read_small, write_atomic};
use crate::manifest::{Manifest, ManifestId};
use crate::store::ChunkStore;
use crate::Error;

const SERIALS_FORMAT: &str = "lanward-seen-serials/1";
const DOWNLOAD_FORMAT: &str = "lanward-download/1";
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// The agent's anti-rollback memory: per package, the highest manifest
/// serial it has accepted. Kept in one small JSON file written atomically,
/// so a crash leaves the old or the new record, never none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenSerials {
    format: String,
    packages: BTreeMap<String, u64>,
}

impl Default for SeenSerials {
    fn default() -> Self {
        SeenSerials::new()
    }
}

impl SeenSerials {
    pub fn new() -> SeenSerials {
        SeenSerials { format: SERIALS_FORMAT.into(), packages: BTreeMap::new() }
    }

    /// Load the record; a missing file is an empty record (a new agent).
    /// A damaged file is an error, not an empty record: forgetting the
    /// serials would silently re-open rollback.
    pub fn load(path: &Path) -> Result<SeenSerials, Error> {
        let bytes = match read_small(path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(SeenSerials::new()),
            Err(e) => return Err(e),
        };
        let record: SeenSerials = parse_json(&bytes).map_err(|(field, detail)| Error::format(path, format!("{field}: {detail}")))?;
        if record.format != SERIALS_FORMAT {
            return Err(Error::format(path, format!("format: {:?}, expected {SERIALS_FORMAT:?}", record.format)));
        }
        Ok(record)
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::format(path, e.to_string()))?;
        write_atomic(path, &bytes, false)
    }

    /// Highest serial seen for `package`, to pass to `verify`.
    pub fn last_seen(&self, package: &str) -> Option<u64> {
        self.packages.get(package).copied()
    }

    /// Remember `serial` for `package`; never lowers. Returns whether the
    /// record changed (then `save` it).
    pub fn record(&mut self, package: &str, serial: u64) -> bool {
        match self.packages.get(package) {
            Some(&seen) if seen >= serial => false,
            _ => {
                self.packages.insert(package.to_string(), serial);
                true
            }
        }
    }
}

/// Which chunks of one manifest are already in the agent's chunk store,
/// verified. Persisted after each chunk so that after a shutdown or a lost
/// network the download continues with the next missing chunk instead of
/// starting over (PRODUCT.md §4(7)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadState {
    format: String,
    /// The manifest this record belongs to (SHA-256 of its canonical
    /// bytes); a record for another manifest is not reused.
    pub manifest: ManifestId,
    pub package: String,
    pub serial: u64,
    verified: BTreeSet<ChunkId>,
}

impl DownloadState {
    pub fn new(manifest: &Manifest) -> DownloadState {
        DownloadState {
            format: DOWNLOAD_FORMAT.into(),
            manifest: manifest.id(),
            package: manifest.package.clone(),
            serial: manifest.serial,
            verified: BTreeSet::new(),
        }
    }

    /// Read a saved record; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<DownloadState>, Error> {
        let bytes = match read_small(path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let state: DownloadState = parse_json(&bytes).map_err(|(field, detail)| Error::format(path, format!("{field}: {detail}")))?;
        if state.format != DOWNLOAD_FORMAT {
            return Err(Error::format(path, format!("format: {:?}, expected {DOWNLOAD_FORMAT:?}", state.format)));
        }
        Ok(Some(state))
    }

    /// The record to continue `manifest` with after a restart: the saved
    /// one if it is for this very manifest, else a new one; either way
    /// forgetting chunks the store no longer has (cache cleaned, disk
    /// restored). A damaged record is an error naming the file; the caller
    /// may delete it and start over (chunks already in the store are
    /// found again by `adopt_stored`).
    pub fn resume(path: &Path, manifest: &Manifest, store: &ChunkStore) -> Result<DownloadState, Error> {
        let id = manifest.id();
        let mut state = match DownloadState::load(path)? {
            Some(s) if s.manifest == id => s,
            _ => DownloadState::new(manifest),
        };
        state.verified.retain(|c| store.has(c));
        Ok(state)
    }

    /// Count as verified the chunks of `list` that the store already holds
    /// and that read back with the right hash (shared with another package,
    /// or kept from a lost record). Reads each such chunk once.
    pub fn adopt_stored(&mut self, list: &ChunkList, store: &ChunkStore) -> usize {
        let mut adopted = 0;
        for info in &list.chunks {
            if !self.verified.contains(&info.id) && store.has(&info.id) && store.read_verified(&info.id).is_ok() {
                self.verified.insert(info.id);
                adopted += 1;
            }
        }
        adopted
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::format(path, e.to_string()))?;
        write_atomic(path, &bytes, false)
    }

    /// Record that chunk `id` is in the store, verified (after
    /// `ChunkStore::put_verified` succeeded).
    pub fn mark_verified(&mut self, id: ChunkId) {
        self.verified.insert(id);
    }

    /// Forget a chunk (found corrupt on disk and removed).
    pub fn forget(&mut self, id: &ChunkId) {
        self.verified.remove(id);
    }

    pub fn is_verified(&self, id: &ChunkId) -> bool {
        self.verified.contains(id)
    }

    /// The chunks still to download, in content order, each once (content
    /// with repeated chunks, e.g. runs of zeros, needs each id only once).
    pub fn missing_chunks(&self, list: &ChunkList) -> Vec<ChunkInfo> {
        let mut seen = BTreeSet::new();
        list.chunks
            .iter()
            .filter(|c| !self.verified.contains(&c.id) && seen.insert(c.id))
            .copied()
            .collect()
    }

    /// Bytes still to download.
    pub fn missing_bytes(&self, list: &ChunkList) -> u64 {
        self.missing_chunks(list).iter().map(|c| c.size).sum()
    }
}
