//! The embedded engine: the single-server default behind [`EventStore`].
//!
//! ```text
//! ROOT/MANIFEST            segments, per-agent acked_through, WAL generation (crc32, written by rename)
//! ROOT/wal-<gen>.log       [len u32][crc32 u32][lz4 batch]*: events not yet in a segment, fsynced per append
//! ROOT/p-YYYYMMDD/seg-N.lws  immutable segments of one UTC day (see `segment.rs`)
//! ```
//!
//! An append writes one WAL record (events + the agent's new high-water mark
//! together, so a retried batch after a crash is deduplicated exactly),
//! fsyncs, then adds the events to the in-memory day buffers. When the
//! buffers hold `flush_events` events they become segments: segments are
//! written and fsynced, then a new MANIFEST names them together with the
//! marks and a fresh WAL generation, then the old WAL is removed. At open,
//! segment files the MANIFEST does not name (a flush cut short) are removed
//! and the WAL of the current generation is replayed up to its last intact record.

mod codec;
mod mem;
mod segment;

use crate::{
    AppendOutcome, EventKind, EventStore, Found, IncomingEvent, OplogError, PartitionInfo, Query, Result, StoredEvent,
};
use codec::{put_str, put_var, FxMap, FxSet, Reader, NTEXT};
use mem::MemPart;
use segment::Segment;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub use codec::{day_of, days_from_civil, ymd};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone)]
pub struct Options {
    /// Buffered events (all days together) that trigger a flush to segments.
    pub flush_events: usize,
    /// zstd level for columns (strings use at least 9).
    pub zstd_level: i32,
}

impl Default for Options {
    fn default() -> Self { Options { flush_events: 2_000_000, zstd_level: 3 } }
}

struct State {
    root: PathBuf,
    opts: Options,
    wal: File,
    wal_gen: u64,
    next_seg: u64,
    acked: FxMap<String, u64>,
    mem: BTreeMap<i64, MemPart>,
    mem_events: usize,
    /// Day -> segments; damaged segments are kept out.
    segs: BTreeMap<i64, Vec<Arc<Segment>>>,
}

pub struct EmbeddedStore {
    state: RwLock<State>,
    damaged: Mutex<Vec<(String, String)>>,
}

fn io(e: impl std::fmt::Display) -> OplogError { OplogError::Io(e.to_string()) }

fn part_dir(root: &Path, day: i64) -> PathBuf { root.join(format!("p-{}", ymd(day))) }

fn sync_dir(p: &Path) -> Result<()> { File::open(p).and_then(|f| f.sync_all()).map_err(io) }

impl EmbeddedStore {
    pub fn open(root: impl AsRef<Path>) -> Result<EmbeddedStore> { Self::open_with(root, Options::default()) }

    pub fn open_with(root: impl AsRef<Path>, opts: Options) -> Result<EmbeddedStore> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(io)?;
        let mut damaged = Vec::new();
        let (wal_gen, next_seg, acked, listed) = read_manifest(&root)?;
        let mut segs: BTreeMap<i64, Vec<Arc<Segment>>> = BTreeMap::new();
        let listed_set: FxSet<String> = listed.iter().map(|(_, n)| n.clone()).collect();
        for (day, name) in &listed {
            let path = root.join(name);
            match Segment::open(&path, *day) {
                Ok(s) => segs.entry(*day).or_default().push(Arc::new(s)),
                Err(e) => damaged.push((format!("p-{}", ymd(*day)), e.to_string())),
            }
        }
        // Remove what a cut-short flush left behind, and old WAL generations.
        for ent in fs::read_dir(&root).map_err(io)?.flatten() {
            let name = ent.file_name().to_string_lossy().to_string();
            if name.starts_with("p-") && ent.path().is_dir() {
                for f in fs::read_dir(ent.path()).map_err(io)?.flatten() {
                    let rel = format!("{}/{}", name, f.file_name().to_string_lossy());
                    if !listed_set.contains(&rel) {
                        let _ = fs::remove_file(f.path());
                    }
                }
            } else if name.starts_with("wal-") && name != format!("wal-{wal_gen}.log") {
                let _ = fs::remove_file(ent.path());
            }
        }
        let wal_path = root.join(format!("wal-{wal_gen}.log"));
        let mut st = State {
            wal: OpenOptions::new().create(true).read(true).append(true).open(&wal_path).map_err(io)?,
            root,
            opts,
            wal_gen,
            next_seg,
            acked,
            mem: BTreeMap::new(),
            mem_events: 0,
            segs,
        };
        st.replay(&wal_path)?;
        if listed.is_empty() && !st.root.join("MANIFEST").exists() {
            st.write_manifest(st.wal_gen)?;
        }
        Ok(EmbeddedStore { state: RwLock::new(st), damaged: Mutex::new(damaged) })
    }

    /// Writes every buffered event to segments and empties the WAL (a clean close).
    pub fn flush(&self) -> Result<()> { self.state.write().unwrap().flush() }

    /// Appends several agents' batches with one WAL write and one fsync (group commit).
    pub fn append_batches(&self, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> {
        let mut st = self.state.write().unwrap();
        st.append(batches)
    }

    fn note_damage(&self, seg: &Segment, e: &OplogError) {
        let mut d = self.damaged.lock().unwrap();
        let key = format!("p-{}", ymd(seg.day));
        let why = format!("{}: {e}", seg.path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default());
        if !d.iter().any(|(k, w)| *k == key && *w == why) {
            d.push((key, why));
        }
    }
}

fn read_manifest(root: &Path) -> Result<(u64, u64, FxMap<String, u64>, Vec<(i64, String)>)> {
    let p = root.join("MANIFEST");
    let b = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((1, 1, FxMap::default(), Vec::new())),
        Err(e) => return Err(io(e)),
    };
    if b.len() < 4 || crc32fast::hash(&b[4..]) != u32::from_le_bytes(b[..4].try_into().unwrap()) {
        return Err(OplogError::Io(format!("{}: checksum mismatch", p.display())));
    }
    let mut r = Reader::new(&b[4..]);
    let gen = r.var()?;
    let next = r.var()?;
    let mut acked = FxMap::default();
    for _ in 0..r.var()? {
        acked.insert(r.str()?.to_string(), r.var()?);
    }
    let mut segs = Vec::new();
    for _ in 0..r.var()? {
        segs.push((codec::unzig(r.var()?), r.str()?.to_string()));
    }
    Ok((gen, next, acked, segs))
}

impl State {
    fn write_manifest(&self, gen: u64) -> Result<()> {
        let mut o = Vec::new();
        put_var(&mut o, gen);
        put_var(&mut o, self.next_seg);
        put_var(&mut o, self.acked.len() as u64);
        for (a, s) in &self.acked {
            put_str(&mut o, a);
            put_var(&mut o, *s);
        }
        let all: Vec<&Arc<Segment>> = self.segs.values().flatten().collect();
        put_var(&mut o, all.len() as u64);
        for s in all {
            put_var(&mut o, codec::zig(s.day));
            let rel = format!("p-{}/{}", ymd(s.day), s.path.file_name().unwrap().to_string_lossy());
            put_str(&mut o, &rel);
        }
        let mut b = crc32fast::hash(&o).to_le_bytes().to_vec();
        b.extend_from_slice(&o);
        let tmp = self.root.join("MANIFEST.tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&b).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, self.root.join("MANIFEST")).map_err(io)?;
        sync_dir(&self.root)
    }

    fn replay(&mut self, wal_path: &Path) -> Result<()> {
        let mut b = Vec::new();
        File::open(wal_path).and_then(|mut f| f.read_to_end(&mut b)).map_err(io)?;
        let mut pos = 0usize;
        while pos + 8 <= b.len() {
            let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap());
            let Some(rec) = b.get(pos + 8..pos + 8 + len) else { break };
            if crc32fast::hash(rec) != crc {
                break;
            }
            let Ok(payload) = lz4_flex::decompress_size_prepended(rec) else { break };
            let mut r = Reader::new(&payload);
            let mut batches = Vec::new();
            let ok = (|| -> Result<()> {
                for _ in 0..r.var()? {
                    let agent = r.str()?.to_string();
                    let n = r.var()? as usize;
                    let mut evs = Vec::with_capacity(n);
                    for _ in 0..n {
                        evs.push(codec::decode_event(&mut r)?);
                    }
                    batches.push((agent, evs));
                }
                Ok(())
            })();
            if ok.is_err() {
                break;
            }
            for (agent, evs) in &batches {
                let _ = self.apply(agent, evs);
            }
            pos += 8 + len;
        }
        if pos < b.len() {
            // A torn tail: never acknowledged. Cut it so new records follow good ones.
            self.wal.set_len(pos as u64).map_err(io)?;
            self.wal.sync_all().map_err(io)?;
        }
        Ok(())
    }

    /// Dedup against the agent's mark; add new events to the day buffers.
    fn apply(&mut self, agent: &str, events: &[IncomingEvent]) -> AppendOutcome {
        let (mem, mem_events) = (&mut self.mem, &mut self.mem_events);
        let out = crate::accept_new(self.acked.get(agent).copied().unwrap_or(0), events, |e| {
            mem.entry(day_of(e.event.time_ms)).or_default().push(e);
            *mem_events += 1;
        });
        let acked = out.acked_through;
        if acked > 0 {
            if let Some(v) = self.acked.get_mut(agent) {
                *v = acked;
            } else {
                self.acked.insert(agent.to_string(), acked);
            }
        }
        out
    }

    fn append(&mut self, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> {
        // Only what is new goes to the WAL.
        let mut payload = Vec::new();
        let mut n = 0u64;
        let mut body = Vec::new();
        let mut marks: FxMap<&str, u64> = FxMap::default();
        for (agent, evs) in batches {
            let mut acked = marks.get(agent).copied().unwrap_or_else(|| self.acked.get(*agent).copied().unwrap_or(0));
            let start = body.len();
            let mut count = 0u64;
            let mut tmp = Vec::new();
            for e in evs.iter() {
                if e.seq > acked {
                    acked = e.seq;
                    codec::encode_event(&mut tmp, e);
                    count += 1;
                }
            }
            marks.insert(agent, acked);
            if count > 0 {
                put_str(&mut body, agent);
                put_var(&mut body, count);
                body.extend_from_slice(&tmp);
                n += 1;
            }
            let _ = start;
        }
        if n > 0 {
            put_var(&mut payload, n);
            payload.extend_from_slice(&body);
            let rec = lz4_flex::compress_prepend_size(&payload);
            let mut frame = Vec::with_capacity(rec.len() + 8);
            frame.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            frame.extend_from_slice(&crc32fast::hash(&rec).to_le_bytes());
            frame.extend_from_slice(&rec);
            self.wal.write_all(&frame).map_err(io)?;
            self.wal.sync_data().map_err(io)?;
        }
        let outs = batches.iter().map(|(a, evs)| self.apply(a, evs)).collect();
        if self.mem_events >= self.opts.flush_events {
            self.flush()?;
        }
        Ok(outs)
    }

    fn flush(&mut self) -> Result<()> {
        let mem = std::mem::take(&mut self.mem);
        let mut new_segs = Vec::new();
        for (day, part) in &mem {
            if part.rows.is_empty() {
                continue;
            }
            let dir = part_dir(&self.root, *day);
            fs::create_dir_all(&dir).map_err(io)?;
            let path = dir.join(format!("seg-{:08}.lws", self.next_seg));
            self.next_seg += 1;
            segment::write(part, &path, self.opts.zstd_level)?;
            sync_dir(&dir)?;
            new_segs.push((*day, path));
        }
        if new_segs.is_empty() && self.mem_events == 0 {
            return Ok(());
        }
        for (day, path) in new_segs {
            let s = Segment::open(&path, day)?;
            self.segs.entry(day).or_default().push(Arc::new(s));
        }
        let gen = self.wal_gen + 1;
        let new_wal = self.root.join(format!("wal-{gen}.log"));
        let f = OpenOptions::new().create(true).read(true).append(true).open(&new_wal).map_err(io)?;
        f.sync_all().map_err(io)?;
        sync_dir(&self.root)?;
        self.write_manifest(gen)?;
        let _ = fs::remove_file(self.root.join(format!("wal-{}.log", self.wal_gen)));
        self.wal = f;
        self.wal_gen = gen;
        self.mem_events = 0;
        Ok(())
    }

    fn days(&self, from: i64, to: i64) -> Vec<i64> {
        let mut d: Vec<i64> = self.segs.keys().chain(self.mem.keys()).copied().filter(|&d| d >= from && d <= to).collect();
        d.sort_unstable();
        d.dedup();
        d
    }
}


struct Filter {
    from: i64,
    to: i64,
    kinds: Option<[bool; 32]>,
    words: Vec<String>,
}

impl Filter {
    fn new(q_from: i64, q_to: i64, kinds: &[EventKind], text: Option<&str>) -> Filter {
        Filter {
            from: q_from,
            to: q_to,
            kinds: if kinds.is_empty() {
                None
            } else {
                let mut k = [false; 32];
                for x in kinds {
                    k[x.code() as usize] = true;
                }
                Some(k)
            },
            words: text.map(crate::keys::words).unwrap_or_default(),
        }
    }
    #[inline]
    fn kind_ok(&self, k: u8) -> bool { self.kinds.is_none_or(|s| s[k as usize & 31]) }
}

/// One matching event before it is read in full: (time, source index, rg, row in rg).
type Hit = (i64, usize, usize, usize);

/// Row groups decoded by the scan, kept for the read-out: (source index, rg) -> (R block, tuple column).
type Decoded = FxMap<(usize, usize), (Arc<segment::RgData>, Option<Arc<Vec<u32>>>)>;

/// Past this many matches (once `limit` events are in hand) a search stops
/// counting and reports the total as a lower bound, as Elasticsearch does by
/// default: counting every match of a common word over three years costs
/// seconds and tells the operator nothing more than "very many".
pub const EXACT_TOTAL_UP_TO: u64 = 10_000;

/// Time a search may spend counting matches once its page of events is in
/// hand; past it the total is a lower bound. A word with a few thousand
/// matches spread over three years would otherwise cost seconds to count.
const COUNT_BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

/// Rows of decoded row groups one search keeps at most (memory bound).
const KEEP_ROWS: usize = 1 << 20;

impl EmbeddedStore {
    fn search_day(&self, st: &State, day: i64, q: &Query, f: &Filter, hits: &mut Vec<Hit>, srcs: &mut Vec<Src>, kept: &mut Decoded) -> Result<()> {
        for seg in st.segs.get(&day).into_iter().flatten() {
            let before = hits.len();
            match self.search_segment(seg, q, f, hits, srcs.len(), kept) {
                Ok(()) => srcs.push(Src::Seg(seg.clone())),
                Err(e) => {
                    hits.truncate(before);
                    self.note_damage(seg, &e);
                }
            }
        }
        if let Some(m) = st.mem.get(&day) {
            let si = srcs.len();
            let tuples = if f.words.is_empty() { None } else { Some(m.match_words(&f.words)) };
            let pcs: Option<FxSet<u32>> = if q.pcs.is_empty() { None } else { Some(q.pcs.iter().filter_map(|p| m.pcs.get(p)).collect()) };
            let user = q.user.as_ref().map(|u| m.users.get(u).map(|x| x + 1).unwrap_or(u32::MAX));
            for (i, r) in m.rows.iter().enumerate() {
                if r.time < f.from || r.time >= f.to || !f.kind_ok(r.kind) {
                    continue;
                }
                if pcs.as_ref().is_some_and(|p| !p.contains(&r.pc)) || user.is_some_and(|u| u != r.user) {
                    continue;
                }
                if tuples.as_ref().is_some_and(|t| !t.contains(&r.tuple)) {
                    continue;
                }
                hits.push((r.time, si, 0, i));
            }
            srcs.push(Src::Mem(day));
        }
        Ok(())
    }

    fn search_segment(&self, seg: &Segment, q: &Query, f: &Filter, hits: &mut Vec<Hit>, si: usize, kept: &mut Decoded) -> Result<()> {
        let m = &seg.meta;
        if m.max_time < f.from || m.min_time >= f.to {
            return Ok(());
        }
        let mut direct: Option<Vec<u32>> = None;
        let tuples = if f.words.is_empty() {
            None
        } else {
            let mut tc = segment::TupleCache::default();
            let set = seg.matching(&f.words, &mut tc)?;
            if set.is_empty() {
                return Ok(());
            }
            // Only rare tuples: their rows are listed, no tuple column is read.
            direct = seg.rows_of(&set, &mut tc)?;
            // A bitmap over the segment's tuples: the row scan is a load, not a hash lookup.
            let mut bits = vec![false; m.n_tuples as usize];
            for t in set {
                if let Some(b) = bits.get_mut(t as usize) {
                    *b = true;
                }
            }
            Some(bits)
        };
        let hit = |bits: &[bool], t: u32| bits.get(t as usize).copied().unwrap_or(false);
        let user = match &q.user {
            None => None,
            Some(u) => match m.users.iter().position(|x| x == u) {
                Some(i) => Some(i as u32 + 1),
                None => return Ok(()),
            },
        };
        // Row ranges: one per wanted PC (rows are sorted by pc), or everything.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        if q.pcs.is_empty() {
            ranges.push((0, m.rows as usize));
        } else {
            for p in &q.pcs {
                if let Ok(i) = m.pcs.binary_search_by(|x| x.0.as_str().cmp(p)) {
                    ranges.push((m.pcs[i].1 as usize, (m.pcs[i].1 + m.pcs[i].2) as usize));
                }
            }
        }
        if let Some(rows) = direct {
            let in_ranges = |row: usize| ranges.iter().any(|r| row >= r.0 && row < r.1);
            let mut i = 0;
            while i < rows.len() {
                let g = rows[i] as usize / segment::RG_ROWS;
                let rg = m.rgs.get(g).ok_or_else(codec::corrupt)?;
                let end = rows[i..].iter().position(|&r| r as usize / segment::RG_ROWS != g).map_or(rows.len(), |k| i + k);
                let wanted: Vec<usize> = rows[i..end].iter().map(|&r| r as usize).filter(|&r| in_ranges(r)).collect();
                i = end;
                if wanted.is_empty() || rg.max_time < f.from || rg.min_time >= f.to {
                    continue;
                }
                let d = seg.rg(g)?;
                let before = hits.len();
                for row in wanted {
                    let x = row - rg.first_row as usize;
                    let t = *d.time.get(x).ok_or_else(codec::corrupt)?;
                    if t < f.from || t >= f.to || !f.kind_ok(d.kind[x]) || user.is_some_and(|u| u != d.user[x]) {
                        continue;
                    }
                    hits.push((t, si, g, x));
                }
                if hits.len() > before && kept.len() * segment::RG_ROWS < KEEP_ROWS {
                    kept.insert((si, g), (Arc::new(d), None));
                }
            }
            return Ok(());
        }
        let rg_ok = match &tuples {
            Some(bits) if m.rgs.len() > 1 => Some(seg.rgs_with(bits)?),
            _ => None,
        };
        for (g, rg) in m.rgs.iter().enumerate() {
            if rg.max_time < f.from || rg.min_time >= f.to || rg_ok.as_ref().is_some_and(|ok| !ok[g]) {
                continue;
            }
            let (a, b) = (rg.first_row as usize, (rg.first_row + rg.rows) as usize);
            let local: Vec<(usize, usize)> =
                ranges.iter().filter(|r| r.0 < b && r.1 > a).map(|r| (r.0.max(a) - a, r.1.min(b) - a)).collect();
            if local.is_empty() {
                continue;
            }
            let tcol = match &tuples {
                Some(t) => {
                    let col = seg.tuples_of_rg(g)?;
                    if !local.iter().any(|&(x, y)| col[x..y].iter().any(|&v| hit(t, v))) {
                        continue;
                    }
                    Some(col)
                }
                None => None,
            };
            let d = seg.rg(g)?;
            let before = hits.len();
            for &(x, y) in &local {
                for i in x..y {
                    let t = d.time[i];
                    if t < f.from || t >= f.to || !f.kind_ok(d.kind[i]) || user.is_some_and(|u| u != d.user[i]) {
                        continue;
                    }
                    if let (Some(col), Some(ts)) = (&tcol, &tuples) {
                        if !hit(ts, col[i]) {
                            continue;
                        }
                    }
                    hits.push((t, si, g, i));
                }
            }
            // Keep what the read-out will need again, within a memory bound.
            if hits.len() > before && kept.len() * segment::RG_ROWS < KEEP_ROWS {
                kept.insert((si, g), (Arc::new(d), tcol.map(Arc::new)));
            }
        }
        Ok(())
    }

    fn materialize(&self, st: &State, srcs: &[Src], hits: &[Hit], kept: &Decoded) -> Result<Vec<StoredEvent>> {
        let mut out: Vec<Option<StoredEvent>> = vec![None; hits.len()];
        // Group by (source, rg) so each block is decoded once.
        let mut groups: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
        for (k, h) in hits.iter().enumerate() {
            groups.entry((h.1, h.2)).or_default().push((h.3, k));
        }
        let kind = |c: u8| EventKind::from_code(c).ok_or_else(codec::corrupt);
        // Decoded tuple and string chunks per source, shared by its row groups
        // (hits of a rare word are spread over many groups, their texts are not).
        let mut caches: FxMap<usize, (segment::TupleCache, FxMap<usize, Vec<String>>)> = FxMap::default();
        for ((si, g), mut rows) in groups {
            rows.sort_unstable();
            match &srcs[si] {
                Src::Mem(day) => {
                    let m = &st.mem[day];
                    for (i, k) in rows {
                        let r = &m.rows[i];
                        out[k] = Some(StoredEvent {
                            time_ms: r.time,
                            pc: m.pcs.strs[r.pc as usize].to_string(),
                            user: if r.user == 0 { None } else { Some(m.users.strs[r.user as usize - 1].to_string()) },
                            kind: kind(r.kind)?,
                            detail: codec::detail_from(m.tuple_texts(r.tuple), r.mask, r.nums, r.time),
                        });
                    }
                }
                Src::Seg(seg) => {
                    let (d, tcol) = match kept.get(&(si, g)) {
                        Some((d, Some(t))) => (d.clone(), t.clone()),
                        Some((d, None)) => (d.clone(), Arc::new(seg.tuples_of_rg(g)?)),
                        None => (Arc::new(seg.rg(g)?), Arc::new(seg.tuples_of_rg(g)?)),
                    };
                    let idx: Vec<usize> = rows.iter().map(|r| r.0).collect();
                    let nums = d.nums_of(&idx)?;
                    let (tc, sc) = caches.entry(si).or_default();
                    for (j, (i, k)) in rows.iter().enumerate() {
                        let tup = seg.tuple(tcol[*i], tc)?;
                        let mut texts: [Option<String>; NTEXT] = Default::default();
                        for (x, s) in tup.iter().enumerate() {
                            if *s != 0 {
                                texts[x] = Some(seg.string(*s, sc)?);
                            }
                        }
                        let u = d.user[*i];
                        out[*k] = Some(StoredEvent {
                            time_ms: d.time[*i],
                            pc: seg.meta.pcs.get(d.pc[*i] as usize).ok_or_else(codec::corrupt)?.0.clone(),
                            user: if u == 0 { None } else { Some(seg.meta.users.get(u as usize - 1).ok_or_else(codec::corrupt)?.clone()) },
                            kind: kind(d.kind[*i])?,
                            detail: codec::detail_from(texts, nums[j].0, nums[j].1, d.time[*i]),
                        });
                    }
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// Threads one search uses: the machine's cores, at most 4 (a search must
/// not starve ingest or other users on the bureau's small server).
fn search_threads() -> usize { std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4) }

/// `f` over `items` on up to `threads` scoped threads (items dealt round-robin), results in order.
fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = threads.min(items.len());
    if n <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|k| s.spawn(move || items.iter().enumerate().skip(k).step_by(n).map(|(i, x)| (i, f(x))).collect::<Vec<_>>()))
            .collect();
        // A panic in a worker is a bug; carry it to the caller as the same panic.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut out: Vec<(usize, R)> = parts.drain(..).flatten().collect();
    out.sort_unstable_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

enum Src {
    Seg(Arc<Segment>),
    Mem(i64),
}

impl EventStore for EmbeddedStore {
    fn append(&self, agent_id: &str, events: &[IncomingEvent]) -> Result<AppendOutcome> {
        Ok(self.append_batches(&[(agent_id, events)])?.pop().unwrap_or_default())
    }

    fn append_many(&self, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> { self.append_batches(batches) }

    fn flush(&self) -> Result<()> { EmbeddedStore::flush(self) }

    fn search(&self, q: &Query) -> Result<Found> {
        if q.to_ms <= q.from_ms {
            return Ok(Found { events: vec![], total: 0, total_exact: true });
        }
        let f = Filter::new(q.from_ms, q.to_ms, &q.kinds, q.text.as_deref());
        if q.text.is_some() && f.words.is_empty() {
            return Err(OplogError::BadQuery("empty text".into()));
        }
        let st = self.state.read().unwrap();
        let mut days = st.days(day_of(q.from_ms), day_of(q.to_ms - 1));
        if q.newest_first {
            days.reverse();
        }
        let mut found = Found { events: Vec::new(), total: 0, total_exact: true };
        let text_only = q.pcs.is_empty() && q.user.is_none() && q.kinds.is_empty();
        let whole_day = |day: i64| q.from_ms <= day * DAY_MS && q.to_ms >= (day + 1) * DAY_MS;
        let threads = search_threads();
        let mut counting_since: Option<std::time::Instant> = None;
        let mut i = 0;
        while i < days.len() {
            if q.limit > 0 && found.events.len() >= q.limit {
                let since = *counting_since.get_or_insert_with(std::time::Instant::now);
                if found.total >= EXACT_TOTAL_UP_TO || since.elapsed() > COUNT_BUDGET {
                    found.total_exact = false;
                    break;
                }
                // Enough events: count the rest of the days from the tuple
                // table's row counts, where no other filter needs the rows.
                let countable = days[i..]
                    .iter()
                    .take(8 * threads)
                    .take_while(|&&d| text_only && whole_day(d) && !f.words.is_empty() && !st.mem.contains_key(&d))
                    .count();
                if countable == 0 {
                    found.total_exact = false;
                    break;
                }
                let segs: Vec<&Arc<Segment>> = days[i..i + countable].iter().flat_map(|d| st.segs.get(d).into_iter().flatten()).collect();
                for (seg, n) in segs.iter().zip(par_map(&segs, threads, |seg| seg.count_words(&f.words))) {
                    match n {
                        Ok(n) => found.total += n,
                        Err(e) => self.note_damage(seg, &e),
                    }
                }
                i += countable;
                continue;
            }
            // Days are searched `threads` at a time, results taken in order;
            // the first alone, as a common word's first day is all it needs.
            let n = if i == 0 { 1 } else { threads };
            let chunk = &days[i..(i + n).min(days.len())];
            i += chunk.len();
            let results = par_map(chunk, threads, |&day| {
                let (mut hits, mut srcs, mut kept) = (Vec::new(), Vec::new(), Decoded::default());
                self.search_day(&st, day, q, &f, &mut hits, &mut srcs, &mut kept).map(|()| (hits, srcs, kept))
            });
            for r in results {
                let (mut hits, srcs, kept) = r?;
                found.total += hits.len() as u64;
                if q.newest_first {
                    hits.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.3.cmp(&a.3)));
                } else {
                    hits.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.3.cmp(&b.3)));
                }
                let want = q.limit.saturating_sub(found.events.len()).min(hits.len());
                if want > 0 {
                    found.events.extend(self.materialize(&st, &srcs, &hits[..want], &kept)?);
                }
            }
        }
        Ok(found)
    }

    fn counts_by_kind_per_day(&self, from_ms: i64, to_ms: i64, pc: Option<&str>) -> Result<Vec<(u32, EventKind, u64)>> {
        let st = self.state.read().unwrap();
        let mut out: BTreeMap<(u32, u8), u64> = BTreeMap::new();
        if to_ms <= from_ms {
            return Ok(Vec::new());
        }
        for day in st.days(day_of(from_ms), day_of(to_ms - 1)) {
            let date = ymd(day);
            let whole = from_ms <= day * DAY_MS && to_ms >= (day + 1) * DAY_MS;
            for seg in st.segs.get(&day).into_iter().flatten() {
                let pci = match pc {
                    None => None,
                    Some(p) => match seg.meta.pcs.binary_search_by(|x| x.0.as_str().cmp(p)) {
                        Ok(i) => Some(i as u32),
                        Err(_) => continue,
                    },
                };
                if whole {
                    for &(p, k, c) in &seg.meta.counts {
                        if pci.is_none_or(|x| x == p) {
                            *out.entry((date, k)).or_default() += c as u64;
                        }
                    }
                } else {
                    let r = (|| -> Result<()> {
                        for g in 0..seg.meta.rgs.len() {
                            let d = seg.rg(g)?;
                            for i in 0..d.time.len() {
                                if d.time[i] >= from_ms && d.time[i] < to_ms && pci.is_none_or(|x| x == d.pc[i]) {
                                    *out.entry((date, d.kind[i])).or_default() += 1;
                                }
                            }
                        }
                        Ok(())
                    })();
                    if let Err(e) = r {
                        self.note_damage(seg, &e);
                    }
                }
            }
            if let Some(m) = st.mem.get(&day) {
                let pci = pc.map(|p| m.pcs.get(p).unwrap_or(u32::MAX));
                for r in &m.rows {
                    if r.time >= from_ms && r.time < to_ms && pci.is_none_or(|x| x == r.pc) {
                        *out.entry((date, r.kind)).or_default() += 1;
                    }
                }
            }
        }
        Ok(out.into_iter().filter_map(|((d, k), c)| EventKind::from_code(k).map(|k| (d, k, c))).collect())
    }

    fn partitions(&self) -> Result<Vec<PartitionInfo>> {
        let st = self.state.read().unwrap();
        Ok(st
            .days(i64::MIN, i64::MAX)
            .into_iter()
            .map(|day| {
                let segs = st.segs.get(&day).map(|v| v.as_slice()).unwrap_or(&[]);
                PartitionInfo {
                    name: format!("p-{}", ymd(day)),
                    from_ms: day * DAY_MS,
                    to_ms: (day + 1) * DAY_MS,
                    events: segs.iter().map(|s| s.meta.rows).sum::<u64>() + st.mem.get(&day).map(|m| m.rows.len() as u64).unwrap_or(0),
                    bytes: segs.iter().map(|s| s.file_bytes).sum(),
                }
            })
            .collect())
    }

    fn drop_before(&self, before_ms: i64) -> Result<Vec<PartitionInfo>> {
        let parts = self.partitions()?;
        let gone: Vec<PartitionInfo> = parts.into_iter().filter(|p| p.to_ms <= before_ms).collect();
        if gone.is_empty() {
            return Ok(gone);
        }
        let mut st = self.state.write().unwrap();
        // Everything buffered goes to segments first: the MANIFEST written
        // below carries the agents' marks, and a WAL replayed under marks
        // that already cover its events would skip them as duplicates.
        if st.mem_events > 0 {
            st.flush()?;
        }
        for p in &gone {
            st.segs.remove(&day_of(p.from_ms));
        }
        st.write_manifest(st.wal_gen)?;
        for p in &gone {
            fs::remove_dir_all(st.root.join(&p.name)).map_err(io)?;
        }
        let root = st.root.clone();
        sync_dir(&root)?;
        self.damaged.lock().unwrap().retain(|(k, _)| !gone.iter().any(|p| p.name == *k));
        Ok(gone)
    }

    fn damaged(&self) -> Vec<(String, String)> { self.damaged.lock().unwrap().clone() }
}
