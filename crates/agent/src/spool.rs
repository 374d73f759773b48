//! The bounded queue of reports waiting for the server.
//!
//! Reports go in when collected and leave only when the server has
//! acknowledged them. The queue has a byte cap; when a new report does not
//! fit, the oldest go first and a [`QueueGap`] counts what went, so the
//! server learns exactly how much it missed. The disk spool survives agent
//! restarts; the memory spool (same rules) serves simulated agents.

use lanward_proto::QueueGap;
use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DEFAULT_CAP_BYTES: u64 = 50 * 1024 * 1024;

pub trait Spool: Send {
    /// Adds an item, dropping the oldest when the cap would be exceeded.
    fn push(&mut self, item: Vec<u8>) -> std::io::Result<()>;
    /// The oldest item, if any.
    fn peek(&mut self) -> std::io::Result<Option<Vec<u8>>>;
    /// Removes the oldest item (after the server acknowledged it).
    fn pop(&mut self) -> std::io::Result<()>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drops recorded so far and not yet reported.
    fn gap(&self) -> Option<QueueGap>;
    /// Forgets the gap once the server has acknowledged it.
    fn clear_gap(&mut self) -> std::io::Result<()>;
}

fn add_gap(gap: &mut Option<QueueGap>, bytes: u64, now: i64) {
    let g = gap.get_or_insert(QueueGap { dropped_items: 0, dropped_bytes: 0, first_dropped_at_ms: now, last_dropped_at_ms: now });
    g.dropped_items += 1;
    g.dropped_bytes += bytes;
    g.last_dropped_at_ms = now;
}

/// In-memory spool for simulated agents.
pub struct MemorySpool {
    cap: u64,
    size: u64,
    items: VecDeque<Vec<u8>>,
    gap: Option<QueueGap>,
}

impl MemorySpool {
    pub fn new(cap: u64) -> Self {
        MemorySpool { cap, size: 0, items: VecDeque::new(), gap: None }
    }
}

impl Spool for MemorySpool {
    fn push(&mut self, item: Vec<u8>) -> std::io::Result<()> {
        while self.size + item.len() as u64 > self.cap {
            let Some(old) = self.items.pop_front() else { break };
            self.size -= old.len() as u64;
            add_gap(&mut self.gap, old.len() as u64, crate::now_ms());
        }
        if item.len() as u64 > self.cap {
            add_gap(&mut self.gap, item.len() as u64, crate::now_ms());
            return Ok(());
        }
        self.size += item.len() as u64;
        self.items.push_back(item);
        Ok(())
    }
    fn peek(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.items.front().cloned())
    }
    fn pop(&mut self) -> std::io::Result<()> {
        if let Some(old) = self.items.pop_front() {
            self.size -= old.len() as u64;
        }
        Ok(())
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn gap(&self) -> Option<QueueGap> {
        self.gap.clone()
    }
    fn clear_gap(&mut self) -> std::io::Result<()> {
        self.gap = None;
        Ok(())
    }
}

/// On-disk spool: one file per item, named by a increasing sequence number,
/// written to a temporary name and renamed so a crash never leaves half an
/// item. The gap record lives in `gap.json` beside them.
pub struct DiskSpool {
    dir: PathBuf,
    cap: u64,
    /// (sequence, size) of each item, oldest first.
    items: VecDeque<(u64, u64)>,
    size: u64,
    next_seq: u64,
    gap: Option<QueueGap>,
}

impl DiskSpool {
    pub fn open(dir: &Path, cap: u64) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut items = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".item").and_then(|s| s.parse::<u64>().ok()) {
                items.push((seq, entry.metadata()?.len()));
            } else if name.ends_with(".tmp") {
                // A write interrupted by a crash: never acknowledged, never queued.
                let _ = fs::remove_file(entry.path());
            }
        }
        items.sort();
        let gap = match fs::read(dir.join("gap.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        let size = items.iter().map(|(_, s)| s).sum();
        let next_seq = items.last().map(|(s, _)| s + 1).unwrap_or(1);
        Ok(DiskSpool { dir: dir.to_path_buf(), cap, items: items.into(), size, next_seq, gap })
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.item"))
    }

    fn write_gap(&self) -> std::io::Result<()> {
        match &self.gap {
            Some(g) => write_atomic(&self.dir.join("gap.json"), &serde_json::to_vec(g).unwrap_or_default()),
            None => match fs::remove_file(self.dir.join("gap.json")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.size
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

impl Spool for DiskSpool {
    fn push(&mut self, item: Vec<u8>) -> std::io::Result<()> {
        let len = item.len() as u64;
        let mut dropped = false;
        while self.size + len > self.cap {
            let Some((seq, size)) = self.items.pop_front() else { break };
            let _ = fs::remove_file(self.path(seq));
            self.size -= size;
            add_gap(&mut self.gap, size, crate::now_ms());
            dropped = true;
        }
        if len > self.cap {
            add_gap(&mut self.gap, len, crate::now_ms());
            return self.write_gap();
        }
        if dropped {
            self.write_gap()?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        write_atomic(&self.path(seq), &item)?;
        self.items.push_back((seq, len));
        self.size += len;
        Ok(())
    }
    fn peek(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self.items.front() {
            Some((seq, _)) => fs::read(self.path(*seq)).map(Some),
            None => Ok(None),
        }
    }
    fn pop(&mut self) -> std::io::Result<()> {
        if let Some((seq, size)) = self.items.pop_front() {
            self.size -= size;
            fs::remove_file(self.path(seq))?;
        }
        Ok(())
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn gap(&self) -> Option<QueueGap> {
        self.gap.clone()
    }
    fn clear_gap(&mut self) -> std::io::Result<()> {
        self.gap = None;
        self.write_gap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(spool: &mut dyn Spool) {
        for i in 0..10u8 {
            spool.push(vec![i; 100]).unwrap();
        }
        // Cap is 450 bytes: only the last four fit.
        assert_eq!(spool.len(), 4);
        let gap = spool.gap().unwrap();
        assert_eq!(gap.dropped_items, 6);
        assert_eq!(gap.dropped_bytes, 600);
        assert_eq!(spool.peek().unwrap().unwrap()[0], 6);
        spool.pop().unwrap();
        assert_eq!(spool.peek().unwrap().unwrap()[0], 7);
        spool.clear_gap().unwrap();
        assert!(spool.gap().is_none());
    }

    #[test]
    fn memory_spool_drops_oldest_and_counts() {
        exercise(&mut MemorySpool::new(450));
    }

    #[test]
    fn disk_spool_drops_oldest_counts_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 450).unwrap();
        exercise(&mut s);
        s.push(vec![42; 10]).unwrap();
        drop(s);
        let mut s = DiskSpool::open(dir.path(), 450).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.peek().unwrap().unwrap()[0], 7);
        assert!(s.gap().is_none());
        assert!(s.size_bytes() <= 450);
    }
}
