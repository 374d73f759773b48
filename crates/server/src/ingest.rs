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

/// Starts a writer thread: it takes the first job queued, everything else
/// already waiting (up to `MAX_BATCH`), and hands them to `write` together.
fn spawn_writer<J: Send + 'static>(name: &str, mut write: impl FnMut(Vec<J>) + Send + 'static) -> mpsc::Sender<J> {
    let (tx, mut rx) = mpsc::channel::<J>(QUEUE_DEPTH);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                write(jobs);
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"));
    tx
}

#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    pub fn start(store: DynStore) -> Self {
        let tx = spawn_writer("lanward-ingest", move |jobs: Vec<Job>| {
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
        });
        Ingest { tx }
    }

    /// Commits one check-in; `Err` carries why the database refused.
    pub async fn submit(&self, write: CheckinWrite) -> Result<CheckinOutcome, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { write, reply }).await.map_err(|_| "ingest thread stopped".to_string())?;
        rx.await.map_err(|_| "ingest thread stopped".to_string())?
    }
}

/// The operation-log writer: batches from many agents that queued up while
/// the previous write was being made durable go to the store together
/// (`append_many`: one fsync for all of them).
#[derive(Clone)]
pub struct EventIngest {
    tx: mpsc::Sender<EventJob>,
}

type EventReply = oneshot::Sender<Result<(lanward_oplog::AppendOutcome, Vec<lanward_oplog::IncomingEvent>), String>>;

struct EventJob {
    agent_id: String,
    events: Vec<lanward_oplog::IncomingEvent>,
    reply: EventReply,
}

impl EventIngest {
    pub fn start(oplog: std::sync::Arc<dyn lanward_oplog::EventStore>) -> Self {
        let tx = spawn_writer("lanward-oplog-ingest", move |jobs: Vec<EventJob>| {
            let batches: Vec<(&str, &[lanward_oplog::IncomingEvent])> = jobs.iter().map(|j| (j.agent_id.as_str(), j.events.as_slice())).collect();
            let result = oplog.append_many(&batches).map_err(|e| e.to_string());
            drop(batches);
            match result {
                Ok(outcomes) if outcomes.len() == jobs.len() => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        let _ = job.reply.send(Ok((outcome, job.events)));
                    }
                }
                Ok(_) => {
                    for job in jobs {
                        let _ = job.reply.send(Err("operation-log store answered a different number of batches".into()));
                    }
                }
                Err(msg) => {
                    for job in jobs {
                        let _ = job.reply.send(Err(msg.clone()));
                    }
                }
            }
        });
        EventIngest { tx }
    }

    /// Stores one agent's batch durably; gives the events back for the alert rules.
    pub async fn submit(&self, agent_id: String, events: Vec<lanward_oplog::IncomingEvent>) -> Result<(lanward_oplog::AppendOutcome, Vec<lanward_oplog::IncomingEvent>), String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(EventJob { agent_id, events, reply }).await.map_err(|_| "operation-log ingest thread stopped".to_string())?;
        rx.await.map_err(|_| "operation-log ingest thread stopped".to_string())?
    }
}
