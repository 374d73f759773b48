//! Immutable segment files: one flush of one day partition.
//!
//! Rows are sorted by (pc, time) and cut into row groups of [`RG_ROWS`]. Each
//! row group has two zstd blocks: `T` (the tuple id of every row: which
//! distinct combination of text fields it has) and `R` (time deltas, pc and
//! user runs, kind, numeric fields). The distinct texts live once per segment:
//! a tuple table and a string table, both in zstd chunks of [`CHUNK`] entries.
//! The keyword index maps each character trigram (see [`codec::trigrams`])
//! to the sorted list of tuple ids whose texts contain it. Its keys are stored in blocks of
//! [`KEY_BLOCK`] (delta varints) under a raw table of block heads that is
//! binary-searched in the memory map. Every section has a crc32, checked on
//! first use; the footer (section table) has its own crc32, checked at open.
//!
//! ```text
//! sections... | footer: n, (offset u64, len u64, crc u32)*n | footer_len u32 | footer_crc u32 | "LWSEG002"
//! section 0 = meta, then T/R per row group, tuple chunks (each tuple with its row count,
//!             and its rows when rare),
//!             string chunks, key block heads (first key u64, block offset u32, postings offset u32),
//!             key blocks (n, then key delta and postings length per key), postings (delta varints)
//! ```
//! Version 1 ("LWSEG001": bigram index, chunks of 1024, 65,536-row groups)
//! is no longer read: it was never shipped.

use super::codec::{self, put_str, put_var, FxMap, Reader, NNUM, NTEXT};
use super::mem::{MemPart, Row};
use crate::{OplogError, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Decoded tuple chunks of one segment by chunk number.
pub type TupleCache = FxMap<usize, Vec<TupleEntry>>;

/// A tuple of the tuple table: its string ids + 1 (0 = absent), how many rows
/// have it, and for a rare tuple (at most [`RARE_ROWS`] rows) those rows.
#[derive(Clone, Default)]
pub struct TupleEntry {
    pub strings: [u32; NTEXT],
    pub rows: u32,
    pub row_ids: Vec<u32>,
}

/// Tuples with at most this many rows list them: a rare word's rows are then
/// found without reading the row groups' tuple columns.
pub const RARE_ROWS: u32 = 8;

/// Rows per row group: a rare word's hits cost one group's decoding each.
pub const RG_ROWS: usize = 8_192;
/// Tuples or strings per compressed chunk: checking a candidate's text costs one chunk.
pub const CHUNK: usize = 128;
const MAGIC: &[u8; 8] = b"LWSEG002";
/// Keys per block of the trigram index.
const KEY_BLOCK: usize = 128;

#[derive(Debug, Clone)]
pub struct RgMeta {
    pub first_row: u32,
    pub rows: u32,
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
    /// Sorted by name: (name, first row, rows).
    pub pcs: Vec<(String, u32, u32)>,
    pub users: Vec<String>,
    pub rgs: Vec<RgMeta>,
    pub n_tuples: u32,
    pub n_strings: u32,
    /// (pc index, kind code, count).
    pub counts: Vec<(u32, u8, u32)>,
}

impl Meta {
    fn n_tuple_chunks(&self) -> usize { (self.n_tuples as usize).div_ceil(CHUNK) }
    fn n_string_chunks(&self) -> usize { (self.n_strings as usize).div_ceil(CHUNK) }
    pub fn sec_t(&self, rg: usize) -> usize { 1 + 2 * rg }
    pub fn sec_r(&self, rg: usize) -> usize { 2 + 2 * rg }
    pub fn sec_tuple_chunk(&self, c: usize) -> usize { 1 + 2 * self.rgs.len() + c }
    pub fn sec_string_chunk(&self, c: usize) -> usize { 1 + 2 * self.rgs.len() + self.n_tuple_chunks() + c }
    pub fn sec_keys(&self) -> usize { 1 + 2 * self.rgs.len() + self.n_tuple_chunks() + self.n_string_chunks() }
    pub fn sec_offs(&self) -> usize { self.sec_keys() + 1 }
    pub fn sec_postings(&self) -> usize { self.sec_keys() + 2 }
    /// Per row group, the distinct tuple ids in it: rare words skip the groups without them.
    pub fn sec_rg_tuples(&self) -> usize { self.sec_keys() + 3 }
    fn n_sections(&self) -> usize { self.sec_keys() + 4 }

    fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        put_var(&mut o, self.rows);
        put_var(&mut o, codec::zig(self.min_time));
        put_var(&mut o, codec::zig(self.max_time));
        put_var(&mut o, self.pcs.len() as u64);
        for (n, f, c) in &self.pcs {
            put_str(&mut o, n);
            put_var(&mut o, *f as u64);
            put_var(&mut o, *c as u64);
        }
        put_var(&mut o, self.users.len() as u64);
        for u in &self.users {
            put_str(&mut o, u);
        }
        put_var(&mut o, self.rgs.len() as u64);
        for r in &self.rgs {
            put_var(&mut o, r.first_row as u64);
            put_var(&mut o, r.rows as u64);
            put_var(&mut o, codec::zig(r.min_time));
            put_var(&mut o, codec::zig(r.max_time));
        }
        put_var(&mut o, self.n_tuples as u64);
        put_var(&mut o, self.n_strings as u64);
        put_var(&mut o, self.counts.len() as u64);
        for (p, k, c) in &self.counts {
            put_var(&mut o, *p as u64);
            o.push(*k);
            put_var(&mut o, *c as u64);
        }
        o
    }

    fn decode(b: &[u8]) -> Result<Meta> {
        let mut r = Reader::new(b);
        let mut m = Meta { rows: r.var()?, min_time: codec::unzig(r.var()?), max_time: codec::unzig(r.var()?), ..Default::default() };
        for _ in 0..r.var()? {
            m.pcs.push((r.str()?.to_string(), r.var()? as u32, r.var()? as u32));
        }
        for _ in 0..r.var()? {
            m.users.push(r.str()?.to_string());
        }
        for _ in 0..r.var()? {
            m.rgs.push(RgMeta { first_row: r.var()? as u32, rows: r.var()? as u32, min_time: codec::unzig(r.var()?), max_time: codec::unzig(r.var()?) });
        }
        m.n_tuples = r.var()? as u32;
        m.n_strings = r.var()? as u32;
        for _ in 0..r.var()? {
            m.counts.push((r.var()? as u32, r.u8()?, r.var()? as u32));
        }
        Ok(m)
    }
}

fn io(e: impl std::fmt::Display) -> OplogError { OplogError::Io(e.to_string()) }

fn z(data: &[u8], level: i32) -> Result<Vec<u8>> { zstd::bulk::compress(data, level).map_err(io) }

/// Writes `part` as a segment at `path` (via a temporary file, fsynced, renamed).
pub fn write(part: &MemPart, path: &Path, level: i32) -> Result<()> {
    // Tuples by frequency (frequent ones get small ids), strings by first use.
    let mut freq = vec![0u32; part.tuples.len()];
    for r in &part.rows {
        freq[r.tuple as usize] += 1;
    }
    let mut order: Vec<u32> = (0..part.tuples.len() as u32).filter(|&t| freq[t as usize] > 0).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(freq[t as usize]), t));
    let mut tuple_new = vec![u32::MAX; part.tuples.len()];
    for (n, &t) in order.iter().enumerate() {
        tuple_new[t as usize] = n as u32;
    }
    let mut str_new = vec![0u32; part.strings.strs.len()];
    let mut strings: Vec<&str> = Vec::new();
    let mut tuples: Vec<[u32; NTEXT]> = Vec::with_capacity(order.len());
    for &t in &order {
        let mut nt = part.tuples[t as usize];
        for s in nt.iter_mut() {
            if *s != 0 {
                let old = *s as usize - 1;
                if str_new[old] == 0 {
                    strings.push(&part.strings.strs[old]);
                    str_new[old] = strings.len() as u32;
                }
                *s = str_new[old];
            }
        }
        tuples.push(nt);
    }
    // PCs and users sorted by name.
    let mut pc_order: Vec<u32> = (0..part.pcs.strs.len() as u32).collect();
    pc_order.sort_by(|a, b| part.pcs.strs[*a as usize].cmp(&part.pcs.strs[*b as usize]));
    let mut pc_new = vec![0u32; pc_order.len()];
    for (n, &p) in pc_order.iter().enumerate() {
        pc_new[p as usize] = n as u32;
    }
    let mut rows: Vec<Row> = part
        .rows
        .iter()
        .map(|r| Row { pc: pc_new[r.pc as usize], tuple: tuple_new[r.tuple as usize], ..*r })
        .collect();
    rows.sort_by_key(|r| (r.pc, r.time));
    let mut rare_rows: Vec<Vec<u32>> = vec![Vec::new(); tuples.len()];
    for (i, r) in rows.iter().enumerate() {
        if freq[order[r.tuple as usize] as usize] <= RARE_ROWS {
            rare_rows[r.tuple as usize].push(i as u32);
        }
    }

    let mut meta = Meta {
        rows: rows.len() as u64,
        min_time: rows.iter().map(|r| r.time).min().unwrap_or(0),
        max_time: rows.iter().map(|r| r.time).max().unwrap_or(0),
        users: part.users.strs.iter().map(|s| s.to_string()).collect(),
        n_tuples: tuples.len() as u32,
        n_strings: strings.len() as u32,
        ..Default::default()
    };
    let mut counts: FxMap<(u32, u8), u32> = FxMap::default();
    for (i, r) in rows.iter().enumerate() {
        if i == 0 || rows[i - 1].pc != r.pc {
            meta.pcs.push((part.pcs.strs[pc_order[r.pc as usize] as usize].to_string(), i as u32, 0));
        }
        meta.pcs.last_mut().unwrap().2 += 1;
        *counts.entry((r.pc, r.kind)).or_default() += 1;
    }
    meta.counts = counts.into_iter().map(|((p, k), c)| (p, k, c)).collect();
    meta.counts.sort();

    let mut sections: Vec<Vec<u8>> = vec![Vec::new()];
    for (g, chunk) in rows.chunks(RG_ROWS).enumerate() {
        meta.rgs.push(RgMeta {
            first_row: (g * RG_ROWS) as u32,
            rows: chunk.len() as u32,
            min_time: chunk.iter().map(|r| r.time).min().unwrap(),
            max_time: chunk.iter().map(|r| r.time).max().unwrap(),
        });
        let mut t = Vec::with_capacity(chunk.len() * 2);
        for r in chunk {
            put_var(&mut t, r.tuple as u64);
        }
        sections.push(z(&t, level)?);
        let mut o = Vec::with_capacity(chunk.len() * 8);
        let mut prev = 0i64;
        for r in chunk {
            put_var(&mut o, codec::zig(r.time - prev));
            prev = r.time;
        }
        runs(&mut o, chunk.iter().map(|r| r.pc));
        runs(&mut o, chunk.iter().map(|r| r.user));
        o.extend(chunk.iter().map(|r| r.kind));
        for r in chunk {
            o.push(r.mask);
            for i in 0..NNUM {
                if r.mask & (1 << i) != 0 {
                    put_var(&mut o, r.nums[i]);
                }
            }
        }
        sections.push(z(&o, level)?);
    }
    for (c, chunk) in tuples.chunks(CHUNK).enumerate() {
        let mut o = Vec::new();
        for (i, t) in chunk.iter().enumerate() {
            let mut mask = 0u64;
            for (i, s) in t.iter().enumerate() {
                if *s != 0 {
                    mask |= 1 << i;
                }
            }
            put_var(&mut o, mask);
            let n = freq[order[c * CHUNK + i] as usize];
            put_var(&mut o, n as u64);
            if n <= RARE_ROWS {
                let mut prev = 0u32;
                for (k, &row) in rare_rows[c * CHUNK + i].iter().enumerate() {
                    put_var(&mut o, if k == 0 { row as u64 } else { (row - prev) as u64 });
                    prev = row;
                }
            }
            for s in t.iter().filter(|s| **s != 0) {
                put_var(&mut o, *s as u64 - 1);
            }
        }
        sections.push(z(&o, level)?);
    }
    for chunk in strings.chunks(CHUNK) {
        let mut o = Vec::new();
        for s in chunk {
            put_str(&mut o, s);
        }
        sections.push(z(&o, level.max(9))?);
    }

    // Keyword index: trigram -> tuple ids.
    let mut index: FxMap<u64, Vec<u32>> = FxMap::default();
    let mut grams = Vec::new();
    let mut str_grams: Vec<Option<Vec<u64>>> = vec![None; strings.len()];
    for (tid, t) in tuples.iter().enumerate() {
        grams.clear();
        for &s in t.iter().filter(|s| **s != 0) {
            let g = str_grams[s as usize - 1].get_or_insert_with(|| {
                let mut v = Vec::new();
                codec::trigrams(strings[s as usize - 1], &mut v);
                v.sort_unstable();
                v.dedup();
                v
            });
            grams.extend_from_slice(g);
        }
        grams.sort_unstable();
        grams.dedup();
        for &g in &grams {
            index.entry(g).or_default().push(tid as u32);
        }
    }
    let mut keys: Vec<u64> = index.keys().copied().collect();
    keys.sort_unstable();
    let (mut kb, mut ob, mut pb) = (Vec::new(), Vec::new(), Vec::new());
    for block in keys.chunks(KEY_BLOCK) {
        kb.extend_from_slice(&block[0].to_le_bytes());
        kb.extend_from_slice(&(ob.len() as u32).to_le_bytes());
        kb.extend_from_slice(&(pb.len() as u32).to_le_bytes());
        put_var(&mut ob, block.len() as u64);
        let mut prev_key = block[0];
        for k in block {
            put_var(&mut ob, k - prev_key);
            prev_key = *k;
            let start = pb.len();
            let mut prev = 0u32;
            for (i, &t) in index[k].iter().enumerate() {
                put_var(&mut pb, if i == 0 { t as u64 } else { (t - prev) as u64 });
                prev = t;
            }
            put_var(&mut ob, (pb.len() - start) as u64);
        }
    }
    sections.push(kb);
    sections.push(ob);
    sections.push(pb);
    let mut rt = Vec::new();
    for chunk in rows.chunks(RG_ROWS) {
        let mut ids: Vec<u32> = chunk.iter().map(|r| r.tuple).collect();
        ids.sort_unstable();
        ids.dedup();
        put_var(&mut rt, ids.len() as u64);
        let mut prev = 0u32;
        for (i, t) in ids.iter().enumerate() {
            put_var(&mut rt, if i == 0 { *t as u64 } else { (*t - prev) as u64 });
            prev = *t;
        }
    }
    sections.push(z(&rt, level)?);
    sections[0] = z(&meta.encode(), level)?;
    debug_assert_eq!(sections.len(), meta.n_sections());

    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(File::create(&tmp).map_err(io)?);
    let mut footer = Vec::new();
    put_var(&mut footer, sections.len() as u64);
    let mut off = 0u64;
    for s in &sections {
        f.write_all(s).map_err(io)?;
        footer.extend_from_slice(&off.to_le_bytes());
        footer.extend_from_slice(&(s.len() as u64).to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(s).to_le_bytes());
        off += s.len() as u64;
    }
    f.write_all(&footer).map_err(io)?;
    f.write_all(&(footer.len() as u32).to_le_bytes()).map_err(io)?;
    f.write_all(&crc32fast::hash(&footer).to_le_bytes()).map_err(io)?;
    f.write_all(MAGIC).map_err(io)?;
    let f = f.into_inner().map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn runs(o: &mut Vec<u8>, it: impl Iterator<Item = u32>) {
    let mut cur: Option<(u32, u64)> = None;
    for v in it {
        match &mut cur {
            Some((c, n)) if *c == v => *n += 1,
            _ => {
                if let Some((c, n)) = cur {
                    put_var(o, c as u64);
                    put_var(o, n);
                }
                cur = Some((v, 1));
            }
        }
    }
    if let Some((c, n)) = cur {
        put_var(o, c as u64);
        put_var(o, n);
    }
}

fn read_runs(r: &mut Reader, n: usize) -> Result<Vec<u32>> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let c = r.var()? as u32;
        let k = r.var()? as usize;
        if k == 0 || v.len() + k > n {
            return Err(codec::corrupt());
        }
        v.extend(std::iter::repeat_n(c, k));
    }
    Ok(v)
}

/// A decoded `R` block.
pub struct RgData {
    pub time: Vec<i64>,
    pub pc: Vec<u32>,
    pub user: Vec<u32>,
    pub kind: Vec<u8>,
    nums: Vec<u8>,
}

impl RgData {
    /// Numeric fields of the given rows (sorted ascending), decoding the stream once.
    pub fn nums_of(&self, rows: &[usize]) -> Result<Vec<(u8, [u64; NNUM])>> {
        let mut r = Reader::new(&self.nums);
        let mut out = Vec::with_capacity(rows.len());
        let mut want = rows.iter().peekable();
        let mut i = 0;
        while let Some(&&w) = want.peek() {
            let mask = r.u8()?;
            let mut v = [0u64; NNUM];
            for (k, x) in v.iter_mut().enumerate() {
                if mask & (1 << k) != 0 {
                    *x = r.var()?;
                }
            }
            while want.peek() == Some(&&i) {
                want.next();
                out.push((mask, v));
            }
            let _ = w;
            i += 1;
        }
        Ok(out)
    }
}

pub struct Segment {
    pub path: PathBuf,
    pub day: i64,
    pub file_bytes: u64,
    map: memmap2::Mmap,
    secs: Vec<(u64, u64, u32)>,
    checked: Vec<AtomicBool>,
    pub meta: Meta,
}

impl Segment {
    pub fn open(path: &Path, day: i64) -> Result<Segment> {
        let f = File::open(path).map_err(io)?;
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io)?;
        let bad = |why: &str| OplogError::Io(format!("{}: {why}", path.display()));
        let n = map.len();
        if n < 16 || &map[n - 8..] != MAGIC {
            return Err(bad(if map.get(n.saturating_sub(8)..) == Some(b"LWSEG001") {
                "format version 1 (before the trigram index) is no longer read"
            } else {
                "truncated (no end marker)"
            }));
        }
        let flen = u32::from_le_bytes(map[n - 16..n - 12].try_into().unwrap()) as usize;
        let fcrc = u32::from_le_bytes(map[n - 12..n - 8].try_into().unwrap());
        if flen + 16 > n {
            return Err(bad("bad footer length"));
        }
        let footer = &map[n - 16 - flen..n - 16];
        if crc32fast::hash(footer) != fcrc {
            return Err(bad("footer checksum mismatch"));
        }
        let mut r = Reader::new(footer);
        let count = r.var()? as usize;
        let body = (n - 16 - flen) as u64;
        let mut secs = Vec::with_capacity(count);
        for _ in 0..count {
            let b = r.bytes(20)?;
            let off = u64::from_le_bytes(b[0..8].try_into().unwrap());
            let len = u64::from_le_bytes(b[8..16].try_into().unwrap());
            let crc = u32::from_le_bytes(b[16..20].try_into().unwrap());
            if off.checked_add(len).is_none_or(|e| e > body) {
                return Err(bad("section outside the file"));
            }
            secs.push((off, len, crc));
        }
        if secs.is_empty() {
            return Err(bad("no sections"));
        }
        let mut seg = Segment {
            path: path.to_path_buf(),
            day,
            file_bytes: n as u64,
            map,
            checked: (0..count).map(|_| AtomicBool::new(false)).collect(),
            secs,
            meta: Meta::default(),
        };
        let m = seg.unzip(0)?;
        seg.meta = Meta::decode(&m).map_err(|_| bad("bad meta"))?;
        if seg.meta.n_sections() != count {
            return Err(bad("section count mismatch"));
        }
        Ok(seg)
    }

    /// The raw bytes of a section, checksum verified on first use.
    pub fn raw(&self, i: usize) -> Result<&[u8]> {
        let (off, len, crc) = *self.secs.get(i).ok_or_else(codec::corrupt)?;
        let s = &self.map[off as usize..(off + len) as usize];
        if !self.checked[i].load(Ordering::Relaxed) {
            if crc32fast::hash(s) != crc {
                return Err(OplogError::Io(format!("{}: section {i} checksum mismatch", self.path.display())));
            }
            self.checked[i].store(true, Ordering::Relaxed);
        }
        Ok(s)
    }

    pub fn unzip(&self, i: usize) -> Result<Vec<u8>> {
        thread_local! {
            // One decompression context per thread, reused (creating one per block is costly).
            static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
        }
        let raw = self.raw(i)?;
        let err = |e: std::io::Error| OplogError::Io(format!("{}: section {i}: {e}", self.path.display()));
        match zstd::zstd_safe::get_frame_content_size(raw) {
            Ok(Some(n)) if n <= 1 << 28 => DCTX.with(|c| {
                let mut c = c.borrow_mut();
                if c.is_none() {
                    *c = Some(zstd::bulk::Decompressor::new().map_err(err)?);
                }
                c.as_mut().unwrap().decompress(raw, n as usize).map_err(err)
            }),
            _ => zstd::stream::decode_all(raw).map_err(err),
        }
    }

    pub fn tuples_of_rg(&self, rg: usize) -> Result<Vec<u32>> {
        let b = self.unzip(self.meta.sec_t(rg))?;
        let n = self.meta.rgs[rg].rows as usize;
        let mut r = Reader::new(&b);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(r.var()? as u32);
        }
        Ok(v)
    }

    pub fn rg(&self, rg: usize) -> Result<RgData> {
        let b = self.unzip(self.meta.sec_r(rg))?;
        let n = self.meta.rgs[rg].rows as usize;
        let mut r = Reader::new(&b);
        let mut time = Vec::with_capacity(n);
        let mut prev = 0i64;
        for _ in 0..n {
            prev += codec::unzig(r.var()?);
            time.push(prev);
        }
        let pc = read_runs(&mut r, n)?;
        let user = read_runs(&mut r, n)?;
        let kind = r.bytes(n)?.to_vec();
        let nums = b[r.pos..].to_vec();
        Ok(RgData { time, pc, user, kind, nums })
    }

    /// Tuple `t` as string ids + 1 (0 = absent), from decoded chunks (cached by the caller).
    pub fn tuple(&self, t: u32, cache: &mut TupleCache) -> Result<[u32; NTEXT]> { Ok(self.tuple_entry(t, cache)?.strings) }

    /// How many rows of the segment have tuple `t`.
    pub fn tuple_rows(&self, t: u32, cache: &mut TupleCache) -> Result<u32> { Ok(self.tuple_entry(t, cache)?.rows) }

    pub fn tuple_entry<'c>(&self, t: u32, cache: &'c mut TupleCache) -> Result<&'c TupleEntry> {
        let c = t as usize / CHUNK;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(c) {
            let b = self.unzip(self.meta.sec_tuple_chunk(c))?;
            let mut r = Reader::new(&b);
            let mut v = Vec::with_capacity(CHUNK);
            while !r.done() {
                let mask = r.var()?;
                let mut e = TupleEntry { rows: r.var()? as u32, ..Default::default() };
                if e.rows <= RARE_ROWS {
                    let mut prev = 0u32;
                    for k in 0..e.rows {
                        let d = r.var()? as u32;
                        prev = if k == 0 { d } else { prev.checked_add(d).ok_or_else(codec::corrupt)? };
                        if prev as u64 >= self.meta.rows {
                            return Err(codec::corrupt());
                        }
                        e.row_ids.push(prev);
                    }
                }
                for (i, s) in e.strings.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *s = r.var()? as u32 + 1;
                    }
                }
                v.push(e);
            }
            slot.insert(v);
        }
        cache[&c].get(t as usize % CHUNK).ok_or_else(codec::corrupt)
    }

    /// The rows of `tuples` when every one is rare (listed), ascending; `None` otherwise.
    pub fn rows_of(&self, tuples: &[u32], cache: &mut TupleCache) -> Result<Option<Vec<u32>>> {
        let mut out = Vec::new();
        for &t in tuples {
            let e = self.tuple_entry(t, cache)?;
            if e.rows > RARE_ROWS {
                return Ok(None);
            }
            out.extend_from_slice(&e.row_ids);
        }
        out.sort_unstable();
        Ok(Some(out))
    }

    pub fn string_chunk(&self, c: usize) -> Result<Vec<String>> {
        let b = self.unzip(self.meta.sec_string_chunk(c))?;
        let mut r = Reader::new(&b);
        let mut v = Vec::with_capacity(CHUNK);
        while !r.done() {
            v.push(r.str()?.to_string());
        }
        Ok(v)
    }

    pub fn string(&self, id1: u32, cache: &mut FxMap<usize, Vec<String>>) -> Result<String> {
        let s = id1 as usize - 1;
        let c = s / CHUNK;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(c) {
            slot.insert(self.string_chunk(c)?);
        }
        cache[&c].get(s % CHUNK).cloned().ok_or_else(codec::corrupt)
    }

    /// Which row groups hold at least one tuple marked in `bits`.
    pub fn rgs_with(&self, bits: &[bool]) -> Result<Vec<bool>> {
        let b = self.unzip(self.meta.sec_rg_tuples())?;
        let mut r = Reader::new(&b);
        let mut out = Vec::with_capacity(self.meta.rgs.len());
        for _ in 0..self.meta.rgs.len() {
            let n = r.var()?;
            let mut prev = 0u32;
            let mut any = false;
            for i in 0..n {
                let d = r.var()? as u32;
                prev = if i == 0 { d } else { prev + d };
                any |= bits.get(prev as usize).copied().unwrap_or(false);
            }
            out.push(any);
        }
        Ok(out)
    }

    /// Postings of the trigram keys in [lo, hi) (version 2), each list ascending.
    fn trigram_postings(&self, lo: u64, hi: u64) -> Result<Vec<Vec<u32>>> {
        let heads = self.raw(self.meta.sec_keys())?;
        let nb = heads.len() / 16;
        let head = |i: usize| -> (u64, usize, usize) {
            let h = &heads[i * 16..i * 16 + 16];
            (
                u64::from_le_bytes(h[0..8].try_into().unwrap()),
                u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize,
                u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize,
            )
        };
        // The last block whose first key is <= lo.
        let (mut a, mut b) = (0usize, nb);
        while a < b {
            let mid = (a + b) / 2;
            if head(mid).0 <= lo {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        let mut block = a.saturating_sub(1);
        let blocks = self.raw(self.meta.sec_offs())?;
        let postings = self.raw(self.meta.sec_postings())?;
        let mut out = Vec::new();
        while block < nb {
            let (first, boff, mut poff) = head(block);
            if first >= hi {
                break;
            }
            let mut r = Reader::new(blocks.get(boff..).ok_or_else(codec::corrupt)?);
            let mut key = first;
            for _ in 0..r.var()? {
                key += r.var()?;
                let len = r.var()? as usize;
                if key >= hi {
                    return Ok(out);
                }
                if key >= lo {
                    let mut pr = Reader::new(postings.get(poff..poff + len).ok_or_else(codec::corrupt)?);
                    let mut v = Vec::new();
                    let mut prev = 0u32;
                    while !pr.done() {
                        let d = pr.var()? as u32;
                        prev = if v.is_empty() { d } else { prev + d };
                        v.push(prev);
                    }
                    out.push(v);
                }
                poff += len;
            }
            block += 1;
        }
        Ok(out)
    }

    /// Candidate tuples for one folded word, from the index: `None` for an
    /// empty word, else the ascending ids and whether they certainly contain it.
    fn word_candidates(&self, w: &str) -> Result<Option<(Vec<u32>, bool)>> {
        let mut lists = Vec::new();
        let exact;
        {
            match codec::trigram_query(w) {
                None => return Ok(None),
                Some(codec::TrigramQuery::Range(lo, hi)) => {
                    let mut all: Vec<u32> = self.trigram_postings(lo, hi)?.concat();
                    all.sort_unstable();
                    all.dedup();
                    return Ok(Some((all, true)));
                }
                Some(codec::TrigramQuery::All { keys, exact: e }) => {
                    for k in keys {
                        let p = self.trigram_postings(k, k + 1)?.pop().unwrap_or_default();
                        if p.is_empty() {
                            return Ok(Some((Vec::new(), true)));
                        }
                        lists.push(p);
                    }
                    exact = e;
                }
            }
        }
        lists.sort_by_key(|l| l.len());
        let mut it = lists.into_iter();
        let mut acc = it.next().unwrap_or_default();
        for l in it {
            if acc.is_empty() {
                break;
            }
            acc = intersect(&acc, &l);
        }
        Ok(Some((acc, exact)))
    }

    /// How many rows contain every word: the matching tuples' row counts, no row read.
    pub fn count_words(&self, words: &[String]) -> Result<u64> {
        let mut tcache = TupleCache::default();
        let mut n = 0u64;
        for t in self.matching(words, &mut tcache)? {
            n += self.tuple_rows(t, &mut tcache)? as u64;
        }
        Ok(n)
    }

    /// The tuple ids (ascending) whose texts contain every word (already
    /// folded); the chunks it decodes stay in `tcache`.
    ///
    /// The index lists of all words are intersected first; only the tuples
    /// left are checked against the text (once per distinct string), and
    /// only for words the index cannot answer exactly.
    pub fn matching(&self, words: &[String], tcache: &mut TupleCache) -> Result<Vec<u32>> {
        let mut result: Option<Vec<u32>> = None;
        let mut verify: Vec<&str> = Vec::new();
        for w in words {
            if let Some((list, exact)) = self.word_candidates(w)? {
                let acc = match &result {
                    Some(prev) => intersect(prev, &list),
                    None => list,
                };
                if acc.is_empty() {
                    return Ok(Vec::new());
                }
                if !exact && !verify.contains(&w.as_str()) {
                    verify.push(w.as_str());
                }
                result = Some(acc);
            }
        }
        if let Some(acc) = &mut result {
            // Trigrams can all be present without the word: check the text.
            let mut fcache = FxMap::default();
            for ws in verify.chunks(64) {
                let full: u64 = if ws.len() == 64 { u64::MAX } else { (1u64 << ws.len()) - 1 };
                let mut memo: FxMap<u32, u64> = FxMap::default();
                let mut keep = Vec::with_capacity(acc.len());
                for &t in acc.iter() {
                    let tup = self.tuple(t, tcache)?;
                    let mut have = 0u64;
                    for &s in tup.iter().filter(|s| **s != 0) {
                        let m = match memo.get(&s) {
                            Some(m) => *m,
                            None => {
                                let text = self.folded_string(s, &mut fcache)?;
                                let mut m = 0u64;
                                for (i, w) in ws.iter().enumerate() {
                                    if text.contains(*w) {
                                        m |= 1 << i;
                                    }
                                }
                                memo.insert(s, m);
                                m
                            }
                        };
                        have |= m;
                        if have == full {
                            break;
                        }
                    }
                    if have == full {
                        keep.push(t);
                    }
                }
                *acc = keep;
                if acc.is_empty() {
                    return Ok(Vec::new());
                }
            }
        }
        Ok(result.unwrap_or_default())
    }

    /// String `id1` folded, from decompressed chunks (cached by the caller as
    /// bytes + string bounds: only the strings asked for are validated and copied).
    fn folded_string(&self, id1: u32, cache: &mut FxMap<usize, (Vec<u8>, Vec<(u32, u32)>)>) -> Result<String> {
        let s = id1 as usize - 1;
        let c = s / CHUNK;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(c) {
            let b = self.unzip(self.meta.sec_string_chunk(c))?;
            let mut bounds = Vec::with_capacity(CHUNK);
            let mut r = Reader::new(&b);
            while !r.done() {
                let n = r.var()? as usize;
                let start = r.pos;
                r.bytes(n)?;
                bounds.push((start as u32, r.pos as u32));
            }
            slot.insert((b, bounds));
        }
        let (b, bounds) = &cache[&c];
        let &(x, y) = bounds.get(s % CHUNK).ok_or_else(codec::corrupt)?;
        let text = std::str::from_utf8(&b[x as usize..y as usize]).map_err(|_| codec::corrupt())?;
        Ok(codec::folded(text))
    }
}

/// Intersection of two ascending lists (galloping through the longer one).
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, big) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut lo = 0usize;
    for &x in small {
        let rest = &big[lo..];
        match rest.binary_search(&x) {
            Ok(i) => {
                out.push(x);
                lo += i + 1;
            }
            Err(i) => lo += i,
        }
        if lo >= big.len() {
            break;
        }
    }
    out
}
