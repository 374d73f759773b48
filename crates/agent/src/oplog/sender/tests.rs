//! The sender against a tiny fake server (std TcpListener): it checks the
//! signature over the compressed body, decompresses, parses the batch,
//! stores each seq once and answers with an ack, or loses the answer.

use super::*;
use crate::events::{self, Detail, EventKind, Journal};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use lanward_proto::auth::*;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const T0: i64 = 1_743_465_600_000;

#[derive(Default)]
struct Seen {
    /// Every batch received (also those whose answer was lost).
    batches: Vec<EventBatch>,
    stored: BTreeSet<u64>,
    dropped_reported: Vec<u64>,
    duplicates: u64,
}

struct FakeServer {
    url: String,
    seen: Arc<Mutex<Seen>>,
    /// Answers still to lose (request read, connection closed unanswered).
    lose: Arc<AtomicUsize>,
}

fn fake_server(key: VerifyingKey) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_server_on(listener, key)
}

fn fake_server_on(listener: TcpListener, key: VerifyingKey) -> FakeServer {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let lose = Arc::new(AtomicUsize::new(0));
    let (s, l) = (Arc::clone(&seen), Arc::clone(&lose));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            handle(stream, &key, &s, &l);
        }
    });
    FakeServer { url, seen, lose }
}

fn handle(mut stream: TcpStream, key: &VerifyingKey, seen: &Mutex<Seen>, lose: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let len: usize = headers["content-length"].parse().unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();

    // What the real server will check.
    assert_eq!(request_line.split_whitespace().take(2).collect::<Vec<_>>(), ["POST", EVENTS_PATH]);
    assert_eq!(headers["content-encoding"], CONTENT_ENCODING_LZ4);
    assert_eq!(headers[HDR_AGENT_ID], "agent-1");
    let ts: i64 = headers[HDR_TIMESTAMP].parse().unwrap();
    let sig = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &headers[HDR_SIGNATURE]).unwrap();
    let sig = Signature::from_slice(&sig).unwrap();
    key.verify(&signing_payload("POST", EVENTS_PATH, ts, &headers[HDR_NONCE], &body), &sig).expect("signature over the compressed bytes");
    let json = lz4_flex::decompress_size_prepended(&body).expect("LZ4 with the size prepended");
    let batch: EventBatch = serde_json::from_slice(&json).expect("an EventBatch");
    assert!(batch.events.len() <= MAX_EVENTS_PER_BATCH);
    assert!(batch.events.windows(2).all(|w| w[0].seq < w[1].seq), "in sequence order");

    let mut s = seen.lock().unwrap();
    let (mut stored, mut duplicates) = (0, 0);
    for e in &batch.events {
        if s.stored.insert(e.seq) {
            stored += 1;
        } else {
            duplicates += 1;
        }
    }
    s.duplicates += duplicates;
    if let Some(d) = &batch.dropped {
        s.dropped_reported.push(d.count);
    }
    let acked_through = batch.events.last().map(|e| e.seq).or(s.stored.last().copied()).unwrap_or(0);
    s.batches.push(batch);
    drop(s);
    if lose.load(Ordering::SeqCst) > 0 {
        lose.fetch_sub(1, Ordering::SeqCst);
        return; // stored, but the answer never arrives
    }
    let answer = serde_json::to_vec(&EventAck { acked_through, stored, duplicates }).unwrap();
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", answer.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&answer).unwrap();
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn sender_for(url: &str, journal: &SharedJournal) -> EventSender {
    let client = ServerClient::unauthenticated(url, None).unwrap().with_signer("agent-1".into(), Arc::new(key()));
    EventSender::new(client, Arc::clone(journal))
}

fn record(j: &SharedJournal, n: usize) {
    let mut j = events::lock(j);
    for i in 0..n {
        let detail = Detail { title: Some(format!("予算{i}.xlsx - Excel")), process: Some("EXCEL.EXE".into()), ..Default::default() };
        j.record_at(T0 + i as i64, EventKind::ForegroundWindow, Some(1), Some("SUIDO\\tanaka"), Some(detail)).unwrap();
    }
}

fn seqs(b: &EventBatch) -> Vec<u64> {
    b.events.iter().map(|e| e.seq).collect()
}

#[test]
fn sends_signed_lz4_batches_and_forgets_what_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let journal = events::shared(Journal::open(dir.path(), events::DEFAULT_CAP_BYTES).unwrap());
    record(&journal, 12);
    let server = fake_server(key().verifying_key());
    let mut sender = sender_for(&server.url, &journal);
    assert_eq!(sender.flush().unwrap(), 12);
    {
        let seen = server.seen.lock().unwrap();
        assert_eq!(seen.batches.len(), 1);
        assert_eq!(seqs(&seen.batches[0]), (1..=12).collect::<Vec<_>>());
        assert_eq!(seen.batches[0].events[3].detail.as_ref().unwrap().title.as_deref(), Some("予算3.xlsx - Excel"));
        assert!(seen.batches[0].dropped.is_none());
    }
    assert_eq!(events::lock(&journal).acked(), 12);
    assert!(events::lock(&journal).pending(10, usize::MAX).unwrap().is_empty());
    // Nothing new: no request at all.
    assert_eq!(sender.flush().unwrap(), 0);
    assert_eq!(server.seen.lock().unwrap().batches.len(), 1);

    // The acknowledged point survives a restart; numbering goes on.
    drop(sender);
    drop(journal);
    let journal = events::shared(Journal::open(dir.path(), events::DEFAULT_CAP_BYTES).unwrap());
    assert_eq!(events::lock(&journal).acked(), 12);
    record(&journal, 3);
    let mut sender = sender_for(&server.url, &journal);
    assert_eq!(sender.flush().unwrap(), 3);
    assert_eq!(seqs(server.seen.lock().unwrap().batches.last().unwrap()), [13, 14, 15]);
}

#[test]
fn batches_are_cut_at_the_limit_and_sent_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let journal = events::shared(Journal::open(dir.path(), events::DEFAULT_CAP_BYTES).unwrap());
    record(&journal, 25);
    let server = fake_server(key().verifying_key());
    let mut sender = sender_for(&server.url, &journal);
    sender.batch_events = 10;
    assert_eq!(sender.flush().unwrap(), 25);
    let seen = server.seen.lock().unwrap();
    let sizes: Vec<usize> = seen.batches.iter().map(|b| b.events.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen.stored, (1..=25).collect());
    assert_eq!(seen.duplicates, 0);
}

#[test]
fn a_lost_answer_sends_the_same_events_again() {
    let dir = tempfile::tempdir().unwrap();
    let journal = events::shared(Journal::open(dir.path(), events::DEFAULT_CAP_BYTES).unwrap());
    record(&journal, 5);
    let server = fake_server(key().verifying_key());
    server.lose.store(1, Ordering::SeqCst);
    let mut sender = sender_for(&server.url, &journal);
    let err = sender.flush().unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");
    assert_eq!(events::lock(&journal).acked(), 0, "nothing forgotten without an answer");
    record(&journal, 1);

    assert_eq!(sender.flush().unwrap(), 6);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.batches.len(), 2);
    assert_eq!(seqs(&seen.batches[0]), [1, 2, 3, 4, 5]);
    assert_eq!(seqs(&seen.batches[1]), [1, 2, 3, 4, 5, 6], "the same events again, then the new one");
    assert_eq!(seen.stored.len(), 6);
    assert_eq!(seen.duplicates, 5, "the server recognises the resend");
    assert_eq!(events::lock(&journal).acked(), 6);
}

#[test]
fn with_the_server_away_events_wait_on_disk_within_the_cap_and_the_gap_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 40_000;
    let journal = events::shared(Journal::open(dir.path(), cap).unwrap());
    // A port nobody listens on (yet).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut sender = sender_for(&url, &journal);
    let total = 2000;
    for round in 0..20 {
        record(&journal, total / 20);
        let err = sender.flush().unwrap_err();
        assert!(matches!(err, ClientError::Unreachable(_)), "round {round}: {err}");
        assert!(events::lock(&journal).size_bytes() <= cap);
    }
    // The back-off schedules the next round later.
    sender.tick();
    assert!(sender.next_try() > Instant::now());
    let gap = events::lock(&journal).gap().expect("the cap was hit");
    let kept = events::lock(&journal).read_all().unwrap();
    assert_eq!(gap.dropped_events + kept.len() as u64, total as u64);
    assert_eq!(gap.first_seq, Some(1));

    // The server comes back; its first answer is lost: the gap stays.
    let listener = TcpListener::bind(url.trim_start_matches("http://")).unwrap();
    let server = fake_server_on(listener, key().verifying_key());
    server.lose.store(1, Ordering::SeqCst);
    sender.batch_events = 50;
    assert!(sender.flush().is_err());
    assert_eq!(events::lock(&journal).gap(), Some(gap.clone()));

    let sent = sender.flush().unwrap();
    assert_eq!(sent, kept.len() as u64);
    assert_eq!(events::lock(&journal).gap(), None, "reported and acknowledged");
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.stored.len() as u64 + gap.dropped_events, total as u64, "every event stored or counted as dropped");
    assert_eq!(seen.stored.first().copied(), gap.last_seq.map(|l| l + 1));
    assert_eq!(seen.stored.last().copied(), Some(total as u64));
    assert_eq!(seen.dropped_reported, [gap.dropped_events, gap.dropped_events], "with the lost try, then once acknowledged");
    assert!(seen.batches.iter().all(|b| b.events.len() <= 50));
    assert!(seen.batches[2..].iter().all(|b| b.dropped.is_none()), "not reported again");
}

#[test]
fn a_gap_alone_is_sent_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let journal = events::shared(Journal::open(dir.path(), 100).unwrap());
    // Larger than the cap: counted as dropped, never written.
    events::lock(&journal)
        .record_at(T0, EventKind::ForegroundWindow, Some(1), None, Some(Detail { title: Some("x".repeat(200)), ..Default::default() }))
        .unwrap();
    let server = fake_server(key().verifying_key());
    let mut sender = sender_for(&server.url, &journal);
    assert_eq!(sender.flush().unwrap(), 0);
    assert_eq!(server.seen.lock().unwrap().dropped_reported, [1]);
    assert_eq!(events::lock(&journal).gap(), None);
    assert_eq!(sender.flush().unwrap(), 0);
    assert_eq!(server.seen.lock().unwrap().batches.len(), 1);
}
