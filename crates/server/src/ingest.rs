//! The writer thread: check-ins are committed in batches.
//!
//! Handlers hand their validated write to this thread and wait for the
//! commit before they answer, so an acknowledged check-in is on disk. The
//! thread takes whatever has queued up while the previous transaction was
//! committing (group commit), so one fsync serves many agents.

use lanward_store::{CheckinOutcome, CheckinWrite, DynStore};
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 256;
const QUEUE_DEPTH: usize = 4096;

struct Job {
    write: CheckinWrite,
    reply: oneshot::Sender<Result<CheckinOutcome, String>>,
}

#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    pub fn start(store: DynStore) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("lanward-ingest".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    let (writes, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
                    match store.apply_checkins(&writes) {
                        Ok(outcomes) => {
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(msg.clone()));
                            }
                        }
                    }
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the ingest thread: {e}"));
        Ingest { tx }
    }

    /// Commits one check-in; `Err` carries why the database refused.
    pub async fn submit(&self, write: CheckinWrite) -> Result<CheckinOutcome, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { write, reply }).await.map_err(|_| "ingest thread stopped".to_string())?;
        rx.await.map_err(|_| "ingest thread stopped".to_string())?
    }
}
