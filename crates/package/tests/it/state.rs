use lanward_package::{assemble, verify, ChunkStore, DownloadState, Error, SeenSerials};

use crate::chunks::make_file;
use crate::common::{at, key, NOW};

/// The server's side: a 9 MB installer in the content repository, its
/// signed manifest.
fn server(dir: &std::path::Path) -> (ChunkStore, Vec<u8>, lanward_package::ChunkId) {
    let k = key(1);
    let src = dir.join("setup.exe");
    let whole = make_file(&src, 9 * 1024 * 1024 + 17, 7);
    let repo = ChunkStore::open(dir.join("repo")).unwrap();
    let content = repo.add_file(&src, 1024 * 1024).unwrap();
    let mut m = crate::common::manifest(&k, 2);
    m.content = content;
    let signed = lanward_package::sign(&m, &k).unwrap();
    (repo, signed.to_bytes(), whole)
}

#[test]
fn download_resumes_after_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, signed, whole) = server(dir.path());
    let k = key(1);
    let cache_dir = dir.path().join("agent-cache");
    let state_file = dir.path().join("download.json");

    let m = verify(&signed, &k.public_key(), at(NOW), None).unwrap();
    assert_eq!(m.content.chunks.len(), 10);
    {
        // First run: fetch four chunks, then "the PC is shut down".
        let cache = ChunkStore::open(&cache_dir).unwrap();
        let mut state = DownloadState::resume(&state_file, &m, &cache).unwrap();
        assert_eq!(state.missing_chunks(&m.content).len(), 10);
        for info in state.missing_chunks(&m.content).into_iter().take(4) {
            let bytes = repo.read_verified(&info.id).unwrap();
            cache.put_verified(&info.id, &bytes).unwrap();
            state.mark_verified(info.id);
            state.save(&state_file).unwrap();
        }
    }
    // After the reboot: everything reopened from disk.
    let cache = ChunkStore::open(&cache_dir).unwrap();
    let mut state = DownloadState::resume(&state_file, &m, &cache).unwrap();
    let missing = state.missing_chunks(&m.content);
    assert_eq!(missing, m.content.chunks[4..].to_vec(), "continues with the fifth chunk");
    assert_eq!(state.missing_bytes(&m.content), m.content.total_size - 4 * 1024 * 1024);
    assert!(matches!(assemble(&cache, &m.content, &dir.path().join("early")), Err(Error::MissingChunk(_))));

    let mut fetched = 0;
    for info in missing {
        cache.put_verified(&info.id, &repo.read_verified(&info.id).unwrap()).unwrap();
        state.mark_verified(info.id);
        state.save(&state_file).unwrap();
        fetched += 1;
    }
    assert_eq!(fetched, 6);
    assert!(state.missing_chunks(&m.content).is_empty());
    let out = dir.path().join("setup-downloaded.exe");
    assemble(&cache, &m.content, &out).unwrap();
    assert_eq!(make_file(&dir.path().join("check"), 9 * 1024 * 1024 + 17, 7), whole);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 9 * 1024 * 1024 + 17);
}

#[test]
fn resume_forgets_chunks_the_store_lost_and_records_for_other_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, signed, _) = server(dir.path());
    let m = verify(&signed, &key(1).public_key(), at(NOW), None).unwrap();
    let cache = ChunkStore::open(dir.path().join("cache")).unwrap();
    let state_file = dir.path().join("d.json");
    let mut state = DownloadState::new(&m);
    for info in &m.content.chunks[..3] {
        cache.put_verified(&info.id, &repo.read_verified(&info.id).unwrap()).unwrap();
        state.mark_verified(info.id);
    }
    state.save(&state_file).unwrap();

    cache.remove(&m.content.chunks[1].id).unwrap();
    let resumed = DownloadState::resume(&state_file, &m, &cache).unwrap();
    assert_eq!(resumed.missing_chunks(&m.content)[0], m.content.chunks[1]);
    assert_eq!(resumed.missing_chunks(&m.content).len(), 8);

    // A record for another manifest (new serial) is not reused...
    let mut newer = m.clone();
    newer.serial = 3;
    let fresh = DownloadState::resume(&state_file, &newer, &cache).unwrap();
    assert_eq!(fresh.missing_chunks(&newer.content).len(), 10);
    // ...but the chunks it shares with the cache are adopted after a check.
    let mut fresh = fresh;
    assert_eq!(fresh.adopt_stored(&newer.content, &cache), 2);
    assert_eq!(fresh.missing_chunks(&newer.content).len(), 8);

    // A damaged record is an error naming the file.
    std::fs::write(&state_file, b"{\"format\":\"lanward-download/1\",\"manif").unwrap();
    let e = DownloadState::resume(&state_file, &m, &cache).unwrap_err().to_string();
    assert!(e.contains("d.json"), "{e}");
}

#[test]
fn seen_serials_persist_and_never_go_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serials.json");
    let mut seen = SeenSerials::load(&path).unwrap();
    assert_eq!(seen.last_seen("office-ltsc-2024"), None);
    assert!(seen.record("office-ltsc-2024", 5));
    assert!(!seen.record("office-ltsc-2024", 4));
    assert!(!seen.record("office-ltsc-2024", 5));
    assert!(seen.record("acrobat-reader", 1));
    seen.save(&path).unwrap();

    let seen = SeenSerials::load(&path).unwrap();
    assert_eq!(seen.last_seen("office-ltsc-2024"), Some(5));
    assert_eq!(seen.last_seen("acrobat-reader"), Some(1));
    // The agent's check uses it: serial 4 is now a rollback.
    let old = crate::common::signed(&key(1), 4).to_bytes();
    assert_eq!(
        verify(&old, &key(1).public_key(), at(NOW), seen.last_seen("office-ltsc-2024")).unwrap_err().code(),
        "rollback"
    );
    // A damaged record is an error (forgetting would re-open rollback).
    std::fs::write(&path, b"{\"format\":\"lanward-seen-serials/1\",\"packages\":{\"x\":-1}}").unwrap();
    let e = SeenSerials::load(&path).unwrap_err().to_string();
    assert!(e.contains("serials.json") && e.contains("packages.x"), "{e}");
    // No temp files left behind by the atomic writes.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
