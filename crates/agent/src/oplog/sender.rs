//! Sending the journal to the server: `POST /api/v1/agent/events`.
//!
//! Events not yet acknowledged are read from the journal in sequence order,
//! at most [`MAX_EVENTS_PER_BATCH`] and about [`MAX_BATCH_JSON_BYTES`] of
//! JSON at a time, LZ4-compressed (`Content-Encoding: x-lz4`, size
//! prepended) and signed over the compressed bytes. The answer
//! ([`EventAck`]) says up to which sequence number the server has stored
//! everything; the journal forgets up to there. When the answer is lost the
//! same events go again (the server stores each (agent, seq) once). The
//! journal's gap (events dropped at its cap) rides along in `dropped` and is
//! forgotten only once acknowledged. While the server is away nothing
//! accumulates in memory: the events wait in the journal on disk.

use crate::client::{ClientError, ServerClient};
use crate::events::{JournalGap, SharedJournal};
use lanward_proto::oplog::{DroppedEvents, EventAck, EventBatch, CONTENT_ENCODING_LZ4, MAX_EVENTS_PER_BATCH};
use std::time::{Duration, Instant};

pub const EVENTS_PATH: &str = "/api/v1/agent/events";
/// About this much JSON per batch (before compression).
pub const MAX_BATCH_JSON_BYTES: usize = 1024 * 1024;
/// How often events are sent while the server answers.
pub const SEND_INTERVAL: Duration = Duration::from_secs(30);
/// Longest wait between attempts while the server is away.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Batches sent in one round at most (then the next round continues).
const MAX_BATCHES_PER_ROUND: usize = 50;

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    pub sent: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub acked_through: u64,
    pub dropped_reported: u64,
}

pub struct EventSender {
    client: ServerClient,
    journal: SharedJournal,
    /// Events per batch; halved when the server says a batch is too large.
    batch_events: usize,
    interval: Duration,
    backoff: Duration,
    next_try: Instant,
}

impl EventSender {
    pub fn new(client: ServerClient, journal: SharedJournal) -> Self {
        EventSender {
            client,
            journal,
            batch_events: MAX_EVENTS_PER_BATCH,
            interval: SEND_INTERVAL,
            backoff: Duration::from_secs(5),
            next_try: Instant::now(),
        }
    }

    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// When the next round is due.
    pub fn next_try(&self) -> Instant {
        self.next_try
    }

    /// Makes the next round due now (e.g. right after a check-in).
    pub fn due_now(&mut self) {
        self.next_try = self.next_try.min(Instant::now());
    }

    /// Sends one batch (the oldest unacknowledged events and the gap) and
    /// applies the answer. `Ok(None)` when there was nothing to send.
    pub fn send_batch(&mut self) -> Result<Option<BatchResult>, ClientError> {
        let (events, gap) = {
            let j = crate::events::lock(&self.journal);
            let events = j.pending(self.batch_events, MAX_BATCH_JSON_BYTES).map_err(|e| ClientError::BadResponse(format!("journal: {e}")))?;
            (events, j.gap())
        };
        if events.is_empty() && gap.is_none() {
            return Ok(None);
        }
        let first_seq = events.first().map(|e| e.seq);
        let last_seq = events.last().map(|e| e.seq);
        let sent = events.len();
        let batch = EventBatch { events, dropped: gap.as_ref().map(dropped_of) };
        let json = serde_json::to_vec(&batch).map_err(|e| ClientError::BadResponse(e.to_string()))?;
        drop(batch);
        let body = lz4_flex::compress_prepend_size(&json);
        drop(json);
        let answer = self.client.post_bytes(EVENTS_PATH, &body, &[("content-encoding", CONTENT_ENCODING_LZ4)])?;
        let ack: EventAck = serde_json::from_slice(&answer).map_err(|e| ClientError::BadResponse(format!("event ack: {e}")))?;

        let mut j = crate::events::lock(&self.journal);
        // Never forget more than was sent, whatever the answer says.
        let through = match last_seq {
            Some(last) => ack.acked_through.min(last),
            None => j.acked(),
        };
        if let (Some(first), Some(_)) = (first_seq, last_seq) {
            if through < first && through <= j.acked() {
                // Nothing of this batch stored: sending it again at once
                // would only repeat the same answer.
                return Err(ClientError::BadResponse(format!(
                    "server acknowledged through {} but was sent {first}..; will retry later",
                    ack.acked_through
                )));
            }
        }
        j.ack_through(through).map_err(|e| ClientError::BadResponse(format!("journal: {e}")))?;
        let mut dropped_reported = 0;
        if let Some(g) = &gap {
            j.settle_gap(g).map_err(|e| ClientError::BadResponse(format!("journal: {e}")))?;
            dropped_reported = g.dropped_events;
        }
        Ok(Some(BatchResult { sent, first_seq, last_seq, acked_through: through, dropped_reported }))
    }

    /// Sends batches until the journal has nothing left to send (or a round's
    /// limit); returns how many events the server acknowledged.
    pub fn flush(&mut self) -> Result<u64, ClientError> {
        let mut acked = 0u64;
        for _ in 0..MAX_BATCHES_PER_ROUND {
            match self.send_batch() {
                Ok(None) => break,
                // Each answer moves the acknowledged point forward (or is
                // an error), so this ends.
                Ok(Some(r)) => acked += r.sent as u64,
                Err(ClientError::Rejected { status: 413, message }) if self.batch_events > 1 => {
                    self.batch_events = (self.batch_events / 2).max(1);
                    tracing::warn!(%message, batch_events = self.batch_events, "event batch too large; sending smaller batches");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(acked)
    }

    /// One round if it is due: sends what waits, then schedules the next
    /// round (the normal interval, or a growing back-off while the server is
    /// away or refuses).
    pub fn tick(&mut self) {
        let now = Instant::now();
        if now < self.next_try {
            return;
        }
        match self.flush() {
            Ok(n) => {
                if n > 0 {
                    tracing::debug!(events = n, "operation events sent");
                }
                self.backoff = Duration::from_secs(5);
                self.next_try = now + self.interval;
            }
            Err(e) => {
                let jitter = Duration::from_millis(rand::random::<u64>() % 1000);
                let wait = match &e {
                    // Not found: a server without the endpoint yet; no hurry.
                    ClientError::Rejected { status: 404, .. } => MAX_BACKOFF,
                    _ => self.backoff + jitter,
                };
                let pending_bytes = crate::events::lock(&self.journal).size_bytes();
                tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), journal_bytes = pending_bytes, "sending operation events failed");
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.next_try = now + wait;
            }
        }
    }
}

fn dropped_of(g: &JournalGap) -> DroppedEvents {
    DroppedEvents { count: g.dropped_events, first_seq: g.first_seq, last_seq: g.last_seq, last_dropped_at_ms: g.last_dropped_at_ms }
}

#[cfg(test)]
mod tests;
