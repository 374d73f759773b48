use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use lanward_package::{assemble, chunk_reader, ChunkId, ChunkList, ChunkRefusal, ChunkStore, Error, DEFAULT_CHUNK_SIZE};

use crate::common::Rng;

/// Write `len` pseudo-random bytes to `path` in 64 KiB pieces (the test
/// itself never holds the file in memory).
pub fn make_file(path: &Path, len: u64, seed: u64) -> ChunkId {
    use sha2::Digest;
    let mut f = File::create(path).unwrap();
    let mut rng = Rng(seed);
    let mut hash = sha2::Sha256::new();
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        for b in buf[..n].chunks_mut(8) {
            let x = rng.next().to_le_bytes();
            b.copy_from_slice(&x[..b.len()]);
        }
        f.write_all(&buf[..n]).unwrap();
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    f.sync_all().unwrap();
    ChunkId::from_digest(hash.finalize().into())
}

fn chunk_files(store: &ChunkStore) -> usize {
    std::fs::read_dir(store.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "tmp")
        .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
        .sum()
}

/// A reader that, each time it is asked for bytes, notes how many chunks
/// the store already holds and the largest buffer it was asked to fill.
struct Watching<'a, R> {
    inner: R,
    store: &'a ChunkStore,
    read: u64,
    chunks_seen_at: Vec<(u64, usize)>,
    max_request: usize,
}

impl<R: Read> Read for Watching<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.max_request = self.max_request.max(buf.len());
        self.chunks_seen_at.push((self.read, chunk_files(self.store)));
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn a_large_file_is_chunked_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("installer.msi");
    let len = 21 * 1024 * 1024 + 12_345;
    let whole = make_file(&src, len, 42);
    let store = ChunkStore::open(dir.path().join("repo")).unwrap();

    let mut reader = Watching { inner: File::open(&src).unwrap(), store: &store, read: 0, chunks_seen_at: Vec::new(), max_request: 0 };
    let list = store.add_reader(&mut reader, DEFAULT_CHUNK_SIZE, &src).unwrap();

    assert_eq!(list.total_size, len);
    assert_eq!(list.sha256, whole);
    assert_eq!(list.chunks.len(), 6);
    assert_eq!(list.chunks[5].size, len - 5 * DEFAULT_CHUNK_SIZE);
    assert!(list.check().is_ok());
    // Chunks reached the store while the file was still being read: when
    // 12 MiB had been read, at least two chunks were already on disk.
    let (_, at_12mib) = reader.chunks_seen_at.iter().find(|(read, _)| *read >= 12 * 1024 * 1024).copied().unwrap();
    assert!(at_12mib >= 2, "{at_12mib} chunks stored after 12 MiB read");
    // Never asked to read more than one chunk at a time.
    assert!(reader.max_request as u64 <= DEFAULT_CHUNK_SIZE, "{}", reader.max_request);
    assert_eq!(chunk_files(&store), 6);
    // Every chunk reads back verified and the same list comes from the path.
    for c in &list.chunks {
        assert_eq!(store.read_verified(&c.id).unwrap().len() as u64, c.size);
    }
    assert_eq!(store.add_file(&src, DEFAULT_CHUNK_SIZE).unwrap(), list);

    let out = dir.path().join("assembled.msi");
    assemble(&store, &list, &out).unwrap();
    assert_eq!(make_file(&dir.path().join("again"), len, 42), list.sha256);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), len);
    let mut back = Vec::new();
    File::open(&out).unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(ChunkId::of(&back), whole);
}

#[test]
fn configurable_chunk_size() {
    let data = vec![5u8; 1000];
    let list = chunk_reader(&data[..], 300, |_, _| Ok(())).unwrap();
    assert_eq!(list.chunks.iter().map(|c| c.size).collect::<Vec<_>>(), vec![300, 300, 300, 100]);
    // Identical chunks share one id (and one file in a store).
    assert_eq!(list.chunks[0].id, list.chunks[1].id);
    assert!(chunk_reader(&data[..], 0, |_, _| Ok(())).is_err());
}

#[test]
fn a_corrupted_chunk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let good = b"chunk of an installer".to_vec();
    let id = ChunkId::of(&good);

    // Arriving corrupted: refused, nothing stored.
    let mut bad = good.clone();
    bad[3] ^= 1;
    match store.put_verified(&id, &bad) {
        Err(Error::Chunk(ChunkRefusal { expected, actual, size })) => {
            assert_eq!(expected, id);
            assert_eq!(actual, ChunkId::of(&bad));
            assert_eq!(size, good.len() as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(!store.has(&id));

    // Corrupted on disk after storing: reading refuses it.
    store.put_verified(&id, &good).unwrap();
    assert!(store.has(&id));
    std::fs::write(store.path_of(&id), &bad).unwrap();
    let e = store.read_verified(&id).unwrap_err();
    assert!(matches!(e, Error::Chunk(_)), "{e:?}");
    assert!(e.to_string().starts_with("チャンクが壊れています (chunk does not match its hash: expected "), "{e}");
    // Fetched again, the good copy replaces the bad one.
    store.put_verified(&id, &good).unwrap();
    assert_eq!(store.read_verified(&id).unwrap(), good);
    // `put` of content already present keeps the file.
    assert_eq!(store.put(&good).unwrap(), id);
    store.remove(&id).unwrap();
    assert!(!store.has(&id));
    assert!(matches!(store.read_verified(&id), Err(Error::MissingChunk(_))));
    store.remove(&id).unwrap();
}

fn small_list(store: &ChunkStore) -> (ChunkList, Vec<u8>) {
    let data: Vec<u8> = (0..2500u32).map(|i| (i % 253) as u8).collect();
    (store.add_reader(&data[..], 1000, std::path::Path::new("memory")).unwrap(), data)
}

#[test]
fn assembly_checks_chunks_and_the_total_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path().join("s")).unwrap();
    let (list, data) = small_list(&store);
    let out: PathBuf = dir.path().join("out.bin");

    assemble(&store, &list, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    std::fs::remove_file(&out).unwrap();

    // A list whose total hash is wrong: refused and no file appears.
    let mut wrong = list.clone();
    wrong.sha256 = ChunkId::of(b"something else");
    let e = assemble(&store, &wrong, &out).unwrap_err();
    assert!(matches!(e, Error::ContentMismatch { .. }), "{e:?}");
    assert!(!out.exists());

    // A chunk corrupted in the store: refused, no file.
    std::fs::write(store.path_of(&list.chunks[1].id), b"x").unwrap();
    assert!(matches!(assemble(&store, &list, &out), Err(Error::Chunk(_))));
    assert!(!out.exists());
    // A missing chunk names it.
    store.remove(&list.chunks[1].id).unwrap();
    assert!(matches!(assemble(&store, &list, &out), Err(Error::MissingChunk(id)) if id == list.chunks[1].id));
    // No temp files left beside the output.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn opening_a_store_keeps_other_writers_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let fresh = store.root().join("tmp").join("being-written.tmp");
    std::fs::write(&fresh, b"half a chunk").unwrap();
    let again = ChunkStore::open(dir.path()).unwrap();
    assert!(fresh.exists(), "a second opener deleted a temp file in use");
    // Temp files never appear as chunks.
    assert_eq!(chunk_files(&again), 0);
    assert!(!again.has(&ChunkId::of(b"half a chunk")));
}
