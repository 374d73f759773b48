//! The local journal of operation events: logon, logoff, lock, unlock,
//! session connect/disconnect, suspend, resume, shutdown, service start and
//! stop, and the foreground window the session helper reports.
//!
//! Events are appended as JSON lines to `DATA/events/journal-YYYYMMDD.jsonl`
//! (further parts of a busy day: `journal-YYYYMMDD-N.jsonl`). The date is
//! the UTC date of the first event in the file; `at_ms` is the truth. Each
//! event carries a sequence number that only grows, across restarts, so the
//! sender ([`crate::oplog::sender`]) can tell exactly what it has sent:
//! `acked` holds the highest number the server has acknowledged, files
//! holding only acknowledged events are deleted, and [`Journal::pending`]
//! streams the rest in order. The journal has a byte cap (default 200 MB):
//! when a new line does not fit, the oldest files go, and `gap.json` counts
//! the unacknowledged events that went with them.
//!
//! Also here, because it is pure logic: which Windows session-change
//! (`WTS_*`) and power (`PBT_*`) notification becomes which event.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// 200 MB (issue 5): months of a busy PC's events while the server is away
/// (a foreground change is ~200 bytes, a busy day ~1 MB). Configurable
/// (`run --events-mb`).
pub const DEFAULT_CAP_BYTES: u64 = 200 * 1024 * 1024;
/// Largest part file: dropping the oldest file at the cap then drops at
/// most this much, and reading a batch never reads more than a part.
const MAX_PART_BYTES: u64 = 8 * 1024 * 1024;
/// How far back from a file's end we look for its last event at start-up.
const TAIL_BYTES: u64 = 64 * 1024;
/// Sequence numbers reserved on disk at a time.
const SEQ_BLOCK: u64 = 1000;

// The event vocabulary is shared with the server (`lanward_proto::oplog`).
pub use lanward_proto::oplog::{clip, Detail, Event, EventKind, MAX_TEXT_CHARS};

/// One journal shared by the event sources that write it and the sender
/// that reads and acknowledges it.
pub type SharedJournal = Arc<Mutex<Journal>>;

pub fn shared(journal: Journal) -> SharedJournal {
    Arc::new(Mutex::new(journal))
}

/// Locks a shared journal; a writer that panicked leaves it usable (each
/// append is a whole line or nothing).
pub fn lock(journal: &SharedJournal) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|p| p.into_inner())
}

/// Events dropped to keep the journal under its cap, not yet reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalGap {
    pub dropped_events: u64,
    pub dropped_bytes: u64,
    /// Lowest and highest sequence number dropped, when readable.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub last_dropped_at_ms: i64,
}


#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FileId {
    /// YYYYMMDD
    date: u32,
    /// 0 for `journal-YYYYMMDD.jsonl`, N for `journal-YYYYMMDD-N.jsonl`.
    part: u32,
}

impl FileId {
    fn name(&self) -> String {
        if self.part == 0 {
            format!("journal-{:08}.jsonl", self.date)
        } else {
            format!("journal-{:08}-{}.jsonl", self.date, self.part)
        }
    }

    fn parse(name: &str) -> Option<FileId> {
        let stem = name.strip_prefix("journal-")?.strip_suffix(".jsonl")?;
        let (date, part) = match stem.split_once('-') {
            Some((d, p)) => (d, p.parse::<u32>().ok().filter(|p| *p > 0)?),
            None => (stem, 0),
        };
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(FileId { date: date.parse().ok()?, part })
    }
}

/// YYYYMMDD of a Unix time in milliseconds, in UTC.
pub fn utc_date(at_ms: i64) -> u32 {
    // Howard Hinnant's civil_from_days.
    let z = at_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year.clamp(0, 9999) * 10_000 + month * 100 + day) as u32
}

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    cap: u64,
    /// A file is closed and the next part begun beyond this size, so that
    /// dropping the oldest file never drops most of the journal at once.
    part_cap: u64,
    /// Oldest first, with sizes.
    files: Vec<(FileId, u64)>,
    total: u64,
    next_seq: u64,
    /// Every number below this may have been used (see `record_at`).
    reserved: u64,
    gap: Option<JournalGap>,
    /// Everything up to here is stored by the server (`DATA/events/acked`).
    acked: u64,
    /// Last sequence number of each file, when known.
    last_seqs: BTreeMap<FileId, u64>,
}

impl Journal {
    /// Opens (creating) the journal in `dir`, e.g. `DATA/events`.
    pub fn open(dir: &Path, cap_bytes: u64) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = FileId::parse(&name) {
                files.push((id, entry.metadata()?.len()));
            } else if name.ends_with(".tmp") {
                // A gap or sequence file whose atomic write was interrupted.
                let _ = fs::remove_file(entry.path());
            }
        }
        files.sort();
        let gap: Option<JournalGap> = fs::read(dir.join("gap.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let reserved = fs::read_to_string(dir.join("next_seq")).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(1);
        let acked = fs::read_to_string(dir.join("acked")).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            cap: cap_bytes,
            part_cap: (cap_bytes / 4).clamp(1, MAX_PART_BYTES),
            total: 0,
            files,
            next_seq: 1,
            reserved,
            gap,
            acked,
            last_seqs: BTreeMap::new(),
        };
        journal.next_seq = match journal.repair_newest()? {
            Some(last_seq) => last_seq + 1,
            // No event left to continue from (files deleted by hand): go
            // on after every number that may have been handed out.
            None => reserved.max(1),
        };
        if let Some(last) = journal.gap.as_ref().and_then(|g| g.last_seq) {
            journal.next_seq = journal.next_seq.max(last + 1);
        }
        // Numbers the server has stored are never handed out again.
        journal.next_seq = journal.next_seq.max(acked + 1);
        journal.total = journal.files.iter().map(|(_, size)| size).sum();
        Ok(journal)
    }

    /// Cuts a line left half-written by a crash off the newest file (an
    /// append after it would spoil the next line too) and returns the
    /// newest file's last sequence number.
    fn repair_newest(&mut self) -> io::Result<Option<u64>> {
        let Some((id, size)) = self.files.last_mut() else { return Ok(None) };
        let path = self.dir.join(id.name());
        let mut file = fs::OpenOptions::new().read(true).write(true).open(&path)?;
        let start = size.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        (&mut file).take(TAIL_BYTES).read_to_end(&mut tail)?;
        let complete = match tail.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            // No line end in the tail: a full line is never this long, so
            // keep only what precedes the tail (nothing, for a small file).
            None => 0,
        };
        if complete < tail.len() {
            let keep = start + complete as u64;
            tracing::warn!(file = %path.display(), cut = *size - keep, "journal: cutting an incomplete last line");
            file.set_len(keep)?;
            *size = keep;
        }
        let last = tail[..complete]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice::<SeqOnly>(l).ok())
            .map(|e| e.seq)
            .max();
        Ok(last)
    }

    /// Appends one event now; returns its sequence number.
    pub fn record(&mut self, kind: EventKind, session_id: Option<u32>, user: Option<&str>, detail: Option<Detail>) -> io::Result<u64> {
        self.record_at(crate::now_ms(), kind, session_id, user, detail)
    }

    /// Appends one event with the given time (tests; events reported late).
    pub fn record_at(
        &mut self,
        at_ms: i64,
        kind: EventKind,
        session_id: Option<u32>,
        user: Option<&str>,
        detail: Option<Detail>,
    ) -> io::Result<u64> {
        let seq = self.next_seq;
        let event = Event { seq, at_ms, kind, session_id, user: user.map(clip), detail: detail.map(Detail::clipped) };
        let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
        line.push(b'\n');
        let len = line.len() as u64;

        if len > self.cap {
            // Cannot fit even alone: counted as dropped, like the oldest.
            self.next_seq += 1;
            self.add_gap(1, len, Some(seq), Some(seq), at_ms);
            self.write_gap()?;
            return Ok(seq);
        }
        if seq >= self.reserved {
            // Numbers are reserved in blocks, ahead of use: if every journal
            // file is lost, numbering still does not restart, and the file is
            // written once per block, not once per event.
            let reserved = seq + SEQ_BLOCK;
            crate::spool::write_atomic(&self.dir.join("next_seq"), reserved.to_string().as_bytes())?;
            self.reserved = reserved;
        }
        let target = self.target_file(at_ms, len);
        let is_new = self.files.last().map(|(id, _)| *id) != Some(target);
        if is_new {
            self.files.push((target, 0));
        }
        self.make_room(len, at_ms)?;

        let path = self.dir.join(target.name());
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let before = self.files.last().map(|(_, s)| *s).unwrap_or(0);
        if let Err(e) = file.write_all(&line) {
            // Take back half a line, so the next one starts clean.
            let _ = file.set_len(before);
            if is_new && before == 0 {
                let _ = fs::remove_file(&path);
                self.files.pop();
            }
            return Err(e);
        }
        if let Some((_, size)) = self.files.last_mut() {
            *size += len;
        }
        self.last_seqs.insert(target, seq);
        self.total += len;
        // Only now: a failed write leaves no hole in the numbering.
        self.next_seq += 1;
        Ok(seq)
    }

    /// The file the next line goes to: today's newest part while it has room.
    fn target_file(&self, at_ms: i64, len: u64) -> FileId {
        let today = utc_date(at_ms);
        match self.files.last() {
            // A clock set back never reopens an older file: order stays.
            Some((id, size)) if id.date >= today => {
                if *size > 0 && size + len > self.part_cap {
                    FileId { date: id.date, part: id.part + 1 }
                } else {
                    *id
                }
            }
            _ => FileId { date: today, part: 0 },
        }
    }

    /// Deletes the oldest files (never the one being written) until `len`
    /// more bytes fit under the cap.
    fn make_room(&mut self, len: u64, now: i64) -> io::Result<()> {
        let mut dropped = false;
        while self.total + len > self.cap && self.files.len() > 1 {
            let (id, size) = self.files.remove(0);
            let path = self.dir.join(id.name());
            // Events the server already has are not lost with the file.
            let (count, first, last) = count_events(&path, self.acked);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.files.insert(0, (id, size));
                    return Err(e);
                }
            }
            self.total -= size;
            self.last_seqs.remove(&id);
            self.add_gap(count, size, first, last, now);
            dropped = true;
        }
        if dropped {
            self.write_gap()?;
        }
        Ok(())
    }

    fn add_gap(&mut self, events: u64, bytes: u64, first: Option<u64>, last: Option<u64>, now: i64) {
        let g = self.gap.get_or_insert_with(JournalGap::default);
        g.dropped_events += events;
        g.dropped_bytes += bytes;
        g.first_seq = match (g.first_seq, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        g.last_seq = g.last_seq.max(last);
        g.last_dropped_at_ms = now;
    }

    fn write_gap(&self) -> io::Result<()> {
        let path = self.dir.join("gap.json");
        match &self.gap {
            Some(g) => crate::spool::write_atomic(&path, &serde_json::to_vec(g).map_err(io::Error::other)?),
            None => match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Events dropped so far and not yet reported.
    pub fn gap(&self) -> Option<JournalGap> {
        self.gap.clone()
    }

    /// Forgets the gap once it has been reported.
    pub fn clear_gap(&mut self) -> io::Result<()> {
        self.gap = None;
        self.write_gap()
    }

    /// The sequence number the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn size_bytes(&self) -> u64 {
        self.total
    }

    /// Journal files, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(id, _)| self.dir.join(id.name())).collect()
    }

    /// Everything up to this sequence number is stored by the server.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Events not yet acknowledged, oldest first: at most `max_events`, and
    /// no more than `max_bytes` of JSON lines (at least one event, however
    /// long). Reads the files as a stream: memory stays at one batch
    /// however large the journal is.
    pub fn pending(&self, max_events: usize, max_bytes: usize) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for path in self.files() {
            let file = match fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for line in io::BufReader::new(file).split(b'\n') {
                let line = line?;
                if line.is_empty() {
                    continue;
                }
                let Ok(event) = serde_json::from_slice::<Event>(&line) else { continue };
                if event.seq <= self.acked {
                    continue;
                }
                if out.len() >= max_events || (!out.is_empty() && bytes + line.len() + 1 > max_bytes) {
                    return Ok(out);
                }
                bytes += line.len() + 1;
                out.push(event);
            }
        }
        Ok(out)
    }

    /// Records that the server has stored everything up to `seq` (kept in
    /// `acked`), and deletes the files holding only such events; the file
    /// being written stays, so numbering continues from it after a restart.
    pub fn ack_through(&mut self, seq: u64) -> io::Result<()> {
        if seq <= self.acked {
            return Ok(());
        }
        crate::spool::write_atomic(&self.dir.join("acked"), seq.to_string().as_bytes())?;
        self.acked = seq;
        while self.files.len() > 1 {
            let (id, size) = self.files[0];
            let path = self.dir.join(id.name());
            let last = match self.last_seqs.get(&id) {
                Some(l) => Some(*l),
                None => {
                    let last = count_events(&path, 0).2;
                    if let Some(l) = last {
                        self.last_seqs.insert(id, l);
                    }
                    last
                }
            };
            // A file with no readable event goes too: nothing to send in it.
            if last.is_some_and(|l| l > self.acked) {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.files.remove(0);
            self.last_seqs.remove(&id);
            self.total -= size;
        }
        Ok(())
    }

    /// Forgets the part of the gap that the server has recorded (`reported`
    /// was sent and acknowledged); drops counted since stay for next time.
    pub fn settle_gap(&mut self, reported: &JournalGap) -> io::Result<()> {
        let Some(current) = self.gap.as_mut() else { return Ok(()) };
        if current.dropped_events <= reported.dropped_events {
            return self.clear_gap();
        }
        current.dropped_events -= reported.dropped_events;
        current.dropped_bytes = current.dropped_bytes.saturating_sub(reported.dropped_bytes);
        // Oldest go first: what was dropped since lies above the reported range.
        if let (Some(first), Some(last)) = (current.first_seq, reported.last_seq) {
            current.first_seq = Some(first.max(last + 1));
        }
        self.write_gap()
    }

    /// Every event still in the journal, oldest first; unreadable lines
    /// are skipped.
    pub fn read_all(&self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        for path in self.files() {
            let text = match fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            out.extend(text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_slice(l).ok()));
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Number of lines, and lowest and highest sequence number, of a file about
/// to be dropped; unreadable files count what can be read.
/// Events numbered `above` or lower (acknowledged) are not counted.
fn count_events(path: &Path, above: u64) -> (u64, Option<u64>, Option<u64>) {
    let Ok(bytes) = fs::read(path) else { return (0, None, None) };
    let mut count = 0;
    let (mut first, mut last) = (None::<u64>, None::<u64>);
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let seq = serde_json::from_slice::<SeqOnly>(line).ok().map(|e| e.seq);
        if seq.is_some_and(|s| s <= above) {
            continue;
        }
        count += 1;
        if let Some(seq) = seq {
            let e = SeqOnly { seq };
            first = Some(first.map_or(e.seq, |f| f.min(e.seq)));
            last = Some(last.map_or(e.seq, |l| l.max(e.seq)));
        }
    }
    (count, first, last)
}

/// Windows notification codes, as numbers, so the mapping below is tested
/// everywhere; `service/windows.rs` checks them against the Windows headers
/// at compile time.
pub mod codes {
    pub const WTS_CONSOLE_CONNECT: u32 = 0x1;
    pub const WTS_CONSOLE_DISCONNECT: u32 = 0x2;
    pub const WTS_REMOTE_CONNECT: u32 = 0x3;
    pub const WTS_REMOTE_DISCONNECT: u32 = 0x4;
    pub const WTS_SESSION_LOGON: u32 = 0x5;
    pub const WTS_SESSION_LOGOFF: u32 = 0x6;
    pub const WTS_SESSION_LOCK: u32 = 0x7;
    pub const WTS_SESSION_UNLOCK: u32 = 0x8;
    pub const WTS_SESSION_REMOTE_CONTROL: u32 = 0x9;
    pub const WTS_SESSION_CREATE: u32 = 0xA;
    pub const WTS_SESSION_TERMINATE: u32 = 0xB;

    pub const PBT_APMQUERYSUSPEND: u32 = 0x0;
    pub const PBT_APMSUSPEND: u32 = 0x4;
    pub const PBT_APMRESUMECRITICAL: u32 = 0x6;
    pub const PBT_APMRESUMESUSPEND: u32 = 0x7;
    pub const PBT_APMBATTERYLOW: u32 = 0x9;
    pub const PBT_APMPOWERSTATUSCHANGE: u32 = 0xA;
    pub const PBT_APMOEMEVENT: u32 = 0xB;
    pub const PBT_APMRESUMEAUTOMATIC: u32 = 0x12;
    pub const PBT_POWERSETTINGCHANGE: u32 = 0x8013;
}

/// The event a `SERVICE_CONTROL_SESSIONCHANGE` notification (its `WTS_*`
/// event type) is recorded as, with its detail; `None` for those we do not
/// record (session create/terminate, remote control: they add nothing to
/// logon, logoff, connect and disconnect).
pub fn session_change_event(code: u32) -> Option<(EventKind, Option<Detail>)> {
    use codes::*;
    Some(match code {
        WTS_SESSION_LOGON => (EventKind::Logon, None),
        WTS_SESSION_LOGOFF => (EventKind::Logoff, None),
        WTS_SESSION_LOCK => (EventKind::Lock, None),
        WTS_SESSION_UNLOCK => (EventKind::Unlock, None),
        WTS_CONSOLE_CONNECT => (EventKind::SessionConnect, Some(Detail::via("console"))),
        WTS_REMOTE_CONNECT => (EventKind::SessionConnect, Some(Detail::via("remote"))),
        WTS_CONSOLE_DISCONNECT => (EventKind::SessionDisconnect, Some(Detail::via("console"))),
        WTS_REMOTE_DISCONNECT => (EventKind::SessionDisconnect, Some(Detail::via("remote"))),
        _ => return None,
    })
}

/// The event a `SERVICE_CONTROL_POWEREVENT` notification (its `PBT_*` event
/// type) is recorded as. Every resume sends `PBT_APMRESUMEAUTOMATIC`, and
/// `PBT_APMRESUMESUSPEND` follows when a user caused it, so only the first
/// counts: one resume, one event.
pub fn power_event(code: u32) -> Option<EventKind> {
    use codes::*;
    match code {
        PBT_APMSUSPEND => Some(EventKind::Suspend),
        PBT_APMRESUMEAUTOMATIC | PBT_APMRESUMECRITICAL => Some(EventKind::Resume),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2025-04-01T00:00:00Z
    const T0: i64 = 1_743_465_600_000;

    fn fg(title: &str) -> Option<Detail> {
        Some(Detail { title: Some(title.into()), process: Some("EXCEL.EXE".into()), dwell_ms: Some(1500), ..Default::default() })
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), 19700101);
        assert_eq!(utc_date(T0), 20250401);
        assert_eq!(utc_date(T0 - 1), 20250331);
        assert_eq!(utc_date(951_782_400_000), 20000229);
        assert_eq!(utc_date(-1), 19691231);
    }

    #[test]
    fn file_names_round_trip_and_sort_by_date_then_part() {
        for id in [FileId { date: 20250401, part: 0 }, FileId { date: 20250401, part: 12 }] {
            assert_eq!(FileId::parse(&id.name()), Some(id));
        }
        for bad in ["journal-2025041.jsonl", "journal-20250401-0.jsonl", "journal-20250401-x.jsonl", "journal-abcdefgh.jsonl", "gap.json"] {
            assert_eq!(FileId::parse(bad), None, "{bad}");
        }
        assert!(FileId { date: 20250401, part: 0 } < FileId { date: 20250401, part: 2 });
        assert!(FileId { date: 20250401, part: 9 } < FileId { date: 20250402, part: 0 });
    }

    #[test]
    fn records_lines_with_all_fields_in_a_file_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        assert_eq!(j.record_at(T0, EventKind::ServiceStart, None, None, None).unwrap(), 1);
        assert_eq!(j.record_at(T0 + 5, EventKind::Logon, Some(2), Some("SUIDO\\tanaka"), None).unwrap(), 2);
        assert_eq!(j.record_at(T0 + DAY, EventKind::ForegroundWindow, Some(2), Some("SUIDO\\tanaka"), fg("予算.xlsx - Excel")).unwrap(), 3);
        let names: Vec<_> = j.files().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["journal-20250401.jsonl", "journal-20250402.jsonl"]);

        let first = fs::read_to_string(&j.files()[0]).unwrap();
        let line: serde_json::Value = serde_json::from_str(first.lines().nth(1).unwrap()).unwrap();
        assert_eq!(line, serde_json::json!({"seq": 2, "at_ms": T0 + 5, "kind": "logon", "session_id": 2, "user": "SUIDO\\tanaka", "detail": null}));
        let second = fs::read_to_string(&j.files()[1]).unwrap();
        let line: serde_json::Value = serde_json::from_str(second.trim_end()).unwrap();
        assert_eq!(line["kind"], "foreground_window");
        assert_eq!(line["detail"], serde_json::json!({"title": "予算.xlsx - Excel", "process": "EXCEL.EXE", "dwell_ms": 1500}));
        assert_eq!(j.read_all().unwrap().len(), 3);
    }

    #[test]
    fn sequence_survives_reopen_and_a_clock_set_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        for i in 0..5 {
            j.record_at(T0 + DAY + i, EventKind::Lock, Some(1), None, None).unwrap();
        }
        drop(j);
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        assert_eq!(j.next_seq(), 6);
        // The clock went back a day: same file, order kept.
        assert_eq!(j.record_at(T0, EventKind::Unlock, Some(1), None, None).unwrap(), 6);
        assert_eq!(j.files().len(), 1);
        let seqs: Vec<u64> = j.read_all().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);

        // Every journal file deleted by hand: numbering still goes on.
        for f in j.files() {
            fs::remove_file(f).unwrap();
        }
        drop(j);
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        assert!(j.next_seq() >= 6);
        let s = j.record_at(T0 + 2 * DAY, EventKind::Logon, Some(1), None, None).unwrap();
        assert!(s >= 6, "{s}");
    }

    #[test]
    fn a_half_written_last_line_is_cut_at_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        j.record_at(T0, EventKind::Logon, Some(1), None, None).unwrap();
        j.record_at(T0 + 1, EventKind::Lock, Some(1), None, None).unwrap();
        let path = j.files()[0].clone();
        drop(j);
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"at_ms\":").unwrap();
        drop(f);
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        assert_eq!(j.record_at(T0 + 2, EventKind::Unlock, Some(1), None, None).unwrap(), 3);
        let events = j.read_all().unwrap();
        assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Logon, EventKind::Lock, EventKind::Unlock]);
        assert!(fs::read_to_string(&path).unwrap().lines().all(|l| serde_json::from_str::<Event>(l).is_ok()));
    }

    #[test]
    fn the_cap_drops_oldest_files_and_counts_them_in_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 4000;
        let mut j = Journal::open(dir.path(), cap).unwrap();
        let long = "x".repeat(100);
        for i in 0..200 {
            j.record_at(T0 + i, EventKind::ForegroundWindow, Some(1), Some("SUIDO\\tanaka"), fg(&long)).unwrap();
            assert!(j.size_bytes() <= cap, "{} > {cap}", j.size_bytes());
        }
        assert!(j.files().len() > 1, "a busy day is split into parts");
        let kept = j.read_all().unwrap();
        let gap = j.gap().unwrap();
        assert_eq!(gap.dropped_events + kept.len() as u64, 200);
        assert_eq!(gap.first_seq, Some(1));
        assert_eq!(gap.last_seq, Some(kept[0].seq - 1));
        assert_eq!(kept.last().unwrap().seq, 200);
        let on_disk: u64 = j.files().iter().map(|f| fs::metadata(f).unwrap().len()).sum();
        assert_eq!(on_disk, j.size_bytes());

        // The gap survives a restart, and goes once reported.
        drop(j);
        let mut j = Journal::open(dir.path(), cap).unwrap();
        assert_eq!(j.gap(), Some(gap));
        assert_eq!(j.next_seq(), 201);
        j.clear_gap().unwrap();
        drop(j);
        assert_eq!(Journal::open(dir.path(), cap).unwrap().gap(), None);
    }

    #[test]
    fn acknowledged_files_go_and_acknowledged_events_are_not_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 8000;
        let mut j = Journal::open(dir.path(), cap).unwrap();
        let long = "x".repeat(100);
        for i in 0..20 {
            j.record_at(T0 + i, EventKind::ForegroundWindow, Some(1), None, fg(&long)).unwrap();
        }
        assert_eq!(j.gap(), None);
        let files = j.files().len();
        assert!(files >= 3, "{files}");
        assert_eq!(j.pending(5, usize::MAX).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        // A byte limit cuts the batch, but one event always goes.
        assert_eq!(j.pending(100, 10).unwrap().len(), 1);
        j.ack_through(12).unwrap();
        assert!(j.files().len() < files, "fully acknowledged files are deleted");
        assert_eq!(j.pending(100, usize::MAX).unwrap().first().map(|e| e.seq), Some(13));
        let on_disk: u64 = j.files().iter().map(|f| fs::metadata(f).unwrap().len()).sum();
        assert_eq!(on_disk, j.size_bytes());
        // Everything acknowledged: the file being written stays, and after
        // a restart numbering goes on without a jump.
        j.ack_through(20).unwrap();
        assert_eq!(j.files().len(), 1);
        assert!(j.pending(100, usize::MAX).unwrap().is_empty());
        drop(j);
        let mut j = Journal::open(dir.path(), cap).unwrap();
        assert_eq!((j.acked(), j.next_seq()), (20, 21));
        // The cap drops a file holding acknowledged events: not a gap.
        for i in 0..30 {
            j.record_at(T0 + 100 + i, EventKind::ForegroundWindow, Some(1), None, fg(&long)).unwrap();
        }
        let gap = j.gap().unwrap();
        let kept = j.read_all().unwrap();
        let unacked_kept = kept.iter().filter(|e| e.seq > 20).count() as u64;
        assert_eq!(gap.dropped_events + unacked_kept, 30, "{gap:?}");
        assert!(gap.first_seq.unwrap() > 20);
        // A reported gap is settled; drops after the report stay.
        let reported = gap.clone();
        j.ack_through(25).unwrap();
        j.settle_gap(&reported).unwrap();
        assert_eq!(j.gap(), None);
    }

    #[test]
    fn an_event_larger_than_the_cap_is_counted_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 100).unwrap();
        let seq = j.record_at(T0, EventKind::ForegroundWindow, Some(1), None, fg("a long enough title")).unwrap();
        assert_eq!(seq, 1);
        assert!(j.read_all().unwrap().is_empty());
        let gap = j.gap().unwrap();
        assert_eq!((gap.dropped_events, gap.first_seq, gap.last_seq), (1, Some(1), Some(1)));
        assert_eq!(j.record_at(T0, EventKind::Lock, None, None, None).unwrap(), 2);
    }

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        let title = "水".repeat(MAX_TEXT_CHARS + 50);
        j.record_at(T0, EventKind::ForegroundWindow, Some(1), Some(&"u".repeat(2000)), fg(&title)).unwrap();
        let e = &j.read_all().unwrap()[0];
        let t = e.detail.as_ref().unwrap().title.as_ref().unwrap();
        assert_eq!(t.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(e.user.as_ref().unwrap().chars().count(), MAX_TEXT_CHARS + 1);
    }

    #[test]
    fn session_change_codes_map_to_kinds() {
        use codes::*;
        assert_eq!(session_change_event(WTS_SESSION_LOGON), Some((EventKind::Logon, None)));
        assert_eq!(session_change_event(WTS_SESSION_LOGOFF), Some((EventKind::Logoff, None)));
        assert_eq!(session_change_event(WTS_SESSION_LOCK), Some((EventKind::Lock, None)));
        assert_eq!(session_change_event(WTS_SESSION_UNLOCK), Some((EventKind::Unlock, None)));
        assert_eq!(session_change_event(WTS_REMOTE_CONNECT), Some((EventKind::SessionConnect, Some(Detail::via("remote")))));
        assert_eq!(session_change_event(WTS_REMOTE_DISCONNECT), Some((EventKind::SessionDisconnect, Some(Detail::via("remote")))));
        assert_eq!(session_change_event(WTS_CONSOLE_CONNECT), Some((EventKind::SessionConnect, Some(Detail::via("console")))));
        assert_eq!(session_change_event(WTS_CONSOLE_DISCONNECT), Some((EventKind::SessionDisconnect, Some(Detail::via("console")))));
        for ignored in [WTS_SESSION_REMOTE_CONTROL, WTS_SESSION_CREATE, WTS_SESSION_TERMINATE, 0, 0xFFFF_FFFF] {
            assert_eq!(session_change_event(ignored), None);
        }
    }

    #[test]
    fn power_codes_map_to_kinds_with_one_resume_per_resume() {
        use codes::*;
        assert_eq!(power_event(PBT_APMSUSPEND), Some(EventKind::Suspend));
        assert_eq!(power_event(PBT_APMRESUMEAUTOMATIC), Some(EventKind::Resume));
        assert_eq!(power_event(PBT_APMRESUMECRITICAL), Some(EventKind::Resume));
        for ignored in [PBT_APMRESUMESUSPEND, PBT_APMQUERYSUSPEND, PBT_APMPOWERSTATUSCHANGE, PBT_POWERSETTINGCHANGE, PBT_APMBATTERYLOW, PBT_APMOEMEVENT] {
            assert_eq!(power_event(ignored), None);
        }
    }

    #[test]
    fn kinds_serialize_as_the_documented_names() {
        let names = [
            (EventKind::Logon, "logon"),
            (EventKind::Logoff, "logoff"),
            (EventKind::Lock, "lock"),
            (EventKind::Unlock, "unlock"),
            (EventKind::SessionConnect, "session_connect"),
            (EventKind::SessionDisconnect, "session_disconnect"),
            (EventKind::Suspend, "suspend"),
            (EventKind::Resume, "resume"),
            (EventKind::Shutdown, "shutdown"),
            (EventKind::ServiceStart, "service_start"),
            (EventKind::ServiceStop, "service_stop"),
            (EventKind::ForegroundWindow, "foreground_window"),
        ];
        for (kind, name) in names {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }
}
