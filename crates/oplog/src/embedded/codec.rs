//! Small binary helpers: varints, a fast hasher, and the WAL event encoding.

use crate::{Detail, EventKind, IncomingEvent, OplogError, Result, StoredEvent};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's): much faster than SipHash for interning; keys are ours.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}
impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, i: u8) { self.add(i as u64) }
    fn write_u32(&mut self, i: u32) { self.add(i as u64) }
    fn write_u64(&mut self, i: u64) { self.add(i) }
    fn write_usize(&mut self, i: usize) { self.add(i as u64) }
    fn finish(&self) -> u64 { self.0 }
}
pub type FxMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub type FxSet<K> = std::collections::HashSet<K, BuildHasherDefault<FxHasher>>;

#[inline]
pub fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn zig(v: i64) -> u64 { ((v << 1) ^ (v >> 63)) as u64 }
#[inline]
pub fn unzig(v: u64) -> i64 { ((v >> 1) as i64) ^ -((v & 1) as i64) }

/// A cursor over bytes that reports truncation instead of panicking.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self { Reader { buf, pos: 0 } }
    pub fn done(&self) -> bool { self.pos >= self.buf.len() }
    #[inline]
    pub fn var(&mut self) -> Result<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.buf.get(self.pos).ok_or_else(corrupt)?;
            self.pos += 1;
            if shift > 63 {
                return Err(corrupt());
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }
    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(corrupt)?;
        self.pos += 1;
        Ok(b)
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(corrupt)?;
        let s = self.buf.get(self.pos..end).ok_or_else(corrupt)?;
        self.pos = end;
        Ok(s)
    }
    pub fn str(&mut self) -> Result<&'a str> {
        let n = self.var()? as usize;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| corrupt())
    }
}

pub fn corrupt() -> OplogError { OplogError::Io("corrupt or truncated data".into()) }

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Number of text fields in a [`Detail`] (see `Detail::texts_mut`).
pub const NTEXT: usize = 15;
/// Number of numeric fields: pid, dwell_ms, started_at_ms (as at - started), size_bytes, pages.
pub const NNUM: usize = 5;

pub use crate::keys::texts;

/// Numeric fields with a presence mask; `started_at_ms` is stored relative to the event time.
pub fn nums(d: &Detail, time_ms: i64) -> (u8, [u64; NNUM]) {
    let mut mask = 0u8;
    let mut v = [0u64; NNUM];
    let vals = [
        d.pid.map(|x| x as u64),
        d.dwell_ms,
        d.started_at_ms.map(|s| zig(time_ms.wrapping_sub(s) - d.dwell_ms.unwrap_or(0) as i64)),
        d.size_bytes,
        d.pages.map(|x| x as u64),
    ];
    for (i, x) in vals.iter().enumerate() {
        if let Some(x) = x {
            mask |= 1 << i;
            v[i] = *x;
        }
    }
    (mask, v)
}

pub fn detail_from(texts: [Option<String>; NTEXT], mask: u8, v: [u64; NNUM], time_ms: i64) -> Detail {
    let [title, process, sha256, command_line, parent, path, target_path, device_class, vendor, product, serial, printer, document, via, reason] = texts;
    let get = |i: usize| if mask & (1 << i) != 0 { Some(v[i]) } else { None };
    let dwell = get(1);
    Detail {
        title,
        process,
        sha256,
        command_line,
        pid: get(0).map(|x| x as u32),
        parent,
        dwell_ms: dwell,
        started_at_ms: get(2).map(|z| time_ms - unzig(z) - dwell.unwrap_or(0) as i64),
        path,
        target_path,
        size_bytes: get(3),
        device_class,
        vendor,
        product,
        serial,
        printer,
        document,
        pages: get(4).map(|x| x as u32),
        via,
        reason,
    }
}

/// WAL encoding of one event.
pub fn encode_event(out: &mut Vec<u8>, e: &IncomingEvent) {
    let ev = &e.event;
    put_var(out, e.seq);
    put_var(out, zig(ev.time_ms));
    out.push(ev.kind.code());
    put_str(out, &ev.pc);
    match &ev.user {
        Some(u) => {
            out.push(1);
            put_str(out, u);
        }
        None => out.push(0),
    }
    let t = texts(&ev.detail);
    let mut tmask = 0u16;
    for (i, s) in t.iter().enumerate() {
        if s.is_some() {
            tmask |= 1 << i;
        }
    }
    put_var(out, tmask as u64);
    for s in t.iter().flatten() {
        put_str(out, s);
    }
    let (mask, v) = nums(&ev.detail, ev.time_ms);
    out.push(mask);
    for (i, x) in v.iter().enumerate() {
        if mask & (1 << i) != 0 {
            put_var(out, *x);
        }
    }
}

pub fn decode_event(r: &mut Reader) -> Result<IncomingEvent> {
    let seq = r.var()?;
    let time_ms = unzig(r.var()?);
    let kind = EventKind::from_code(r.u8()?).ok_or_else(corrupt)?;
    let pc = r.str()?.to_string();
    let user = if r.u8()? == 1 { Some(r.str()?.to_string()) } else { None };
    let tmask = r.var()? as u16;
    let mut t: [Option<String>; NTEXT] = Default::default();
    for (i, slot) in t.iter_mut().enumerate() {
        if tmask & (1 << i) != 0 {
            *slot = Some(r.str()?.to_string());
        }
    }
    let mask = r.u8()?;
    let mut v = [0u64; NNUM];
    for (i, x) in v.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            *x = r.var()?;
        }
    }
    Ok(IncomingEvent { seq, event: StoredEvent { time_ms, pc, user, kind, detail: detail_from(t, mask, v, time_ms) } })
}

pub use crate::keys::{fold, folded};

/// Marks the end of a string in a trigram key (NUL in text is folded to a space).
const END: u64 = 0;

#[inline]
fn tri_char(c: char) -> u64 {
    match fold(c) {
        '\0' => ' ' as u64,
        c => c as u64,
    }
}

/// A trigram key: three 21-bit code points, the first in the high bits, so
/// that every trigram starting with one or two given characters is one
/// contiguous key range.
#[inline]
pub fn trigram_key(a: u64, b: u64, c: u64) -> u64 { (a << 42) | (b << 21) | c }

/// Character trigrams of `s` (folded), one starting at every position: the
/// last two are padded with an end mark. Every occurrence of every 1- and
/// 2-character word is then the prefix of some key, so short words are
/// answered from the index, exactly, by a key-range lookup.
pub fn trigrams(s: &str, out: &mut Vec<u64>) {
    let cs: Vec<u64> = s.chars().map(tri_char).collect();
    for i in 0..cs.len() {
        out.push(trigram_key(cs[i], cs.get(i + 1).copied().unwrap_or(END), cs.get(i + 2).copied().unwrap_or(END)));
    }
}

/// What the trigram index must be asked for a (folded) query word.
pub enum TrigramQuery {
    /// Tuples in every listed key's postings; `exact` when no text check is needed (3 characters).
    All { keys: Vec<u64>, exact: bool },
    /// Tuples in the postings of any key in [from, to): exact (1 or 2 characters).
    Range(u64, u64),
}

pub fn trigram_query(word: &str) -> Option<TrigramQuery> {
    let cs: Vec<u64> = word.chars().map(tri_char).collect();
    match cs.len() {
        0 => None,
        1 => Some(TrigramQuery::Range(trigram_key(cs[0], 0, 0), trigram_key(cs[0] + 1, 0, 0))),
        2 => Some(TrigramQuery::Range(trigram_key(cs[0], cs[1], 0), trigram_key(cs[0], cs[1] + 1, 0))),
        n => {
            let mut keys: Vec<u64> = cs.windows(3).map(|w| trigram_key(w[0], w[1], w[2])).collect();
            keys.sort_unstable();
            keys.dedup();
            Some(TrigramQuery::All { keys, exact: n == 3 })
        }
    }
}

/// UTC day number (days since 1970-01-01) of a Unix-ms time.
pub fn day_of(ms: i64) -> i64 { ms.div_euclid(86_400_000) }

/// YYYYMMDD of a day number (civil-from-days, proleptic Gregorian).
pub fn ymd(day: i64) -> u32 {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y as u32) * 10_000 + (m as u32) * 100 + d as u32
}

/// Day number of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
