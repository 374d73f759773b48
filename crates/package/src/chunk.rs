use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// 4 MiB: a WAN retry loses at most this much, and a 300 MB Office package
/// is ~75 chunks, a resume record small enough to rewrite after each one.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 * 1024 * 1024;
/// The agent holds one chunk in memory at a time; a manifest asking for
/// bigger chunks is refused rather than trusted with the agent's RAM.
pub const MAX_CHUNK_SIZE: u64 = 64 * 1024 * 1024;

/// SHA-256 of a chunk (or of whole content), written as 64 lowercase hex
/// digits. Parsing accepts only lowercase so one value has one spelling: a
/// signed manifest cannot be re-spelled without breaking its signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkId([u8; 32]);

impl ChunkId {
    pub fn of(bytes: &[u8]) -> ChunkId {
        ChunkId(Sha256::digest(bytes).into())
    }
    pub fn from_digest(d: [u8; 32]) -> ChunkId {
        ChunkId(d)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Strict lowercase hex of exactly `N` bytes.
pub(crate) fn parse_hex_lower<const N: usize>(s: &str) -> Result<[u8; N], String> {
    if s.len() != N * 2 {
        return Err(format!("expected {} lowercase hex digits, got {} characters", N * 2, s.chars().count()));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(format!("not a lowercase hex digit: {:?}", c as char)),
    };
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", self.to_hex())
    }
}
impl FromStr for ChunkId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hex_lower::<32>(s).map(ChunkId)
    }
}
impl Serialize for ChunkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One chunk of a package: its hash and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkInfo {
    pub id: ChunkId,
    pub size: u64,
}

/// The content of a package: fixed-size chunks in order (all `chunk_size`
/// bytes except the last), the total size and the SHA-256 of the whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkList {
    pub chunk_size: u64,
    pub total_size: u64,
    pub sha256: ChunkId,
    pub chunks: Vec<ChunkInfo>,
}

impl ChunkList {
    /// Check the list is self-consistent, naming the bad field (relative
    /// to the list; callers prefix it). A verifier must not trust sizes
    /// from outside: they decide how much the agent reads into memory.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(("chunk_size".into(), format!("must be 1..={MAX_CHUNK_SIZE}, got {}", self.chunk_size)));
        }
        let mut sum: u64 = 0;
        let last = self.chunks.len().saturating_sub(1);
        for (i, c) in self.chunks.iter().enumerate() {
            let ok = if i == last { c.size >= 1 && c.size <= self.chunk_size } else { c.size == self.chunk_size };
            if !ok {
                return Err((
                    format!("chunks[{i}].size"),
                    format!("{} with chunk_size {} ({} of {} chunks)", c.size, self.chunk_size, i + 1, self.chunks.len()),
                ));
            }
            sum = sum.checked_add(c.size).ok_or_else(|| (format!("chunks[{i}].size"), "sizes overflow".to_string()))?;
        }
        if sum != self.total_size {
            return Err(("total_size".into(), format!("{} but the chunks add up to {sum}", self.total_size)));
        }
        Ok(())
    }
}

/// A chunk whose bytes are not what its id says: corrupted in transit, on
/// disk, or substituted. Never used, never stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("チャンクが壊れています (chunk does not match its hash: expected {expected}, got {actual}, {size} bytes)")]
pub struct ChunkRefusal {
    pub expected: ChunkId,
    pub actual: ChunkId,
    pub size: u64,
}

impl ChunkRefusal {
    /// Ok when `bytes` hash to `expected`.
    pub fn check(expected: &ChunkId, bytes: &[u8]) -> Result<(), ChunkRefusal> {
        let actual = ChunkId::of(bytes);
        if &actual == expected {
            Ok(())
        } else {
            Err(ChunkRefusal { expected: *expected, actual, size: bytes.len() as u64 })
        }
    }
}

/// Split `reader` into chunks of `chunk_size` bytes, handing each to `sink`
/// as soon as it is complete. Only one chunk is ever in memory, so a 300 MB
/// installer costs `chunk_size` bytes of RAM. Empty content gives an empty
/// chunk list.
pub fn chunk_reader<R: Read>(
    mut reader: R,
    chunk_size: u64,
    mut sink: impl FnMut(&ChunkInfo, &[u8]) -> io::Result<()>,
) -> io::Result<ChunkList> {
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("chunk size must be 1..={MAX_CHUNK_SIZE}, got {chunk_size}"),
        ));
    }
    let cap = chunk_size as usize;
    let mut buf = vec![0u8; cap];
    let mut total = Sha256::new();
    let mut chunks = Vec::new();
    let mut total_size = 0u64;
    loop {
        let mut filled = 0;
        while filled < cap {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            break;
        }
        let bytes = &buf[..filled];
        total.update(bytes);
        total_size += filled as u64;
        let info = ChunkInfo { id: ChunkId::of(bytes), size: filled as u64 };
        sink(&info, bytes)?;
        chunks.push(info);
        if filled < cap {
            break;
        }
    }
    Ok(ChunkList { chunk_size, total_size, sha256: ChunkId(total.finalize().into()), chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict_lowercase() {
        let id = ChunkId::of(b"abc");
        assert_eq!(id.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(id.to_hex().parse::<ChunkId>(), Ok(id));
        assert!(id.to_hex().to_uppercase().parse::<ChunkId>().is_err());
        assert!(id.to_hex()[1..].parse::<ChunkId>().is_err());
    }

    #[test]
    fn chunks_exact_multiple_and_remainder() {
        let data: Vec<u8> = (0..10u32).map(|i| i as u8).collect();
        let mut seen = Vec::new();
        let list = chunk_reader(&data[..], 5, |c, b| {
            seen.push((c.size, b.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(list.chunks.len(), 2);
        assert_eq!(seen[1].1, vec![5, 6, 7, 8, 9]);
        assert_eq!(list.total_size, 10);
        assert_eq!(list.sha256, ChunkId::of(&data));
        list.check().unwrap();

        let list = chunk_reader(&data[..], 4, |_, _| Ok(())).unwrap();
        assert_eq!(list.chunks.iter().map(|c| c.size).collect::<Vec<_>>(), vec![4, 4, 2]);
        let empty = chunk_reader(&[][..], 4, |_, _| Ok(())).unwrap();
        assert!(empty.chunks.is_empty());
        assert_eq!(empty.total_size, 0);
    }

    #[test]
    fn check_refuses_inconsistent_lists() {
        let data = [7u8; 10];
        let good = chunk_reader(&data[..], 4, |_, _| Ok(())).unwrap();
        let mut bad = good.clone();
        bad.chunks[0].size = 3;
        assert_eq!(bad.check().unwrap_err().0, "chunks[0].size");
        let mut bad = good.clone();
        bad.total_size = 11;
        assert_eq!(bad.check().unwrap_err().0, "total_size");
        let mut bad = good.clone();
        bad.chunk_size = MAX_CHUNK_SIZE + 1;
        assert_eq!(bad.check().unwrap_err().0, "chunk_size");
        let mut bad = good;
        bad.chunks[2].size = 0;
        assert_eq!(bad.check().unwrap_err().0, "chunks[2].size");
    }
}
