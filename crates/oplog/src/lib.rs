//! The server's store of operation logs (操作ログ): about 2,800 events per
//! PC per working day, 1.4 billion over the contract, searchable in a
//! second by time, PC, user, kind and Japanese text.
//!
//! [`EventStore`] is the one interface; the embedded engine is the default
//! (single server), [`postgres::PgEventStore`] keeps the same events in
//! PostgreSQL, partitioned by month, for larger installations. Appending is idempotent per agent: each agent numbers
//! its events, the store keeps the highest sequence number it has stored
//! contiguously for each agent *with the events, atomically*, so a retried
//! batch stores nothing twice and a missing range is reported as a gap.

pub mod embedded;
pub mod generate;
pub mod postgres;

pub use lanward_proto::oplog::{Detail, EventKind};

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// The PC's hostname as the ledger knows it.
    pub pc: String,
    pub user: Option<String>,
    pub kind: EventKind,
    pub detail: Detail,
}

/// An event on its way in, with who sent it.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub seq: u64,
    pub event: StoredEvent,
}

/// What one append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events newly stored.
    pub stored: u64,
    /// Events at or below the agent's stored sequence: already there.
    pub duplicates: u64,
    /// The agent's highest contiguous stored sequence number after this append.
    pub acked_through: u64,
    /// A range of sequence numbers that never arrived (first, last).
    pub gap: Option<(u64, u64)>,
}

/// A search. Times are a half-open range [from, to).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Hostnames; empty means every PC.
    pub pcs: Vec<String>,
    pub user: Option<String>,
    /// Empty means every kind.
    pub kinds: Vec<EventKind>,
    /// Words that must all appear in some text field (title, paths,
    /// command line, document...), Japanese included (no word breaks needed).
    pub text: Option<String>,
    pub limit: usize,
    /// Newest first when true.
    pub newest_first: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Found {
    pub events: Vec<StoredEvent>,
    /// How many match in all (may be capped by the engine; see `total_exact`).
    pub total: u64,
    pub total_exact: bool,
}

/// A partition (a day or a month) the store holds, for retention and status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionInfo {
    pub name: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub events: u64,
    pub bytes: u64,
}

/// Text search keys shared by the engines: both fold text and split query
/// words the same way (a word matches when it is a substring of one folded
/// text field). The embedded engine indexes trigrams of the folded text
/// (`embedded::codec::trigrams`), PostgreSQL the bigrams below.
pub mod keys {
    /// Lower-cases ASCII so that `SETUP.EXE` finds `setup.exe`; other characters are kept.
    #[inline]
    pub fn fold(c: char) -> char { c.to_ascii_lowercase() }

    pub fn folded(s: &str) -> String { s.chars().map(fold).collect() }

    /// Character bigrams of `s` (folded), as u64 keys (`prev << 32 | next`).
    pub fn bigrams(s: &str, out: &mut Vec<u64>) {
        let mut prev: Option<char> = None;
        for c in s.chars().map(fold) {
            if let Some(p) = prev {
                out.push(((p as u64) << 32) | c as u64);
            }
            prev = Some(c);
        }
    }

    /// The text fields of an event that keyword search looks in, in the
    /// order the engines store them.
    pub fn texts(d: &crate::Detail) -> [Option<&str>; 15] {
        [
            d.title.as_deref(),
            d.process.as_deref(),
            d.sha256.as_deref(),
            d.command_line.as_deref(),
            d.parent.as_deref(),
            d.path.as_deref(),
            d.target_path.as_deref(),
            d.device_class.as_deref(),
            d.vendor.as_deref(),
            d.product.as_deref(),
            d.serial.as_deref(),
            d.printer.as_deref(),
            d.document.as_deref(),
            d.via.as_deref(),
            d.reason.as_deref(),
        ]
    }

    /// Words of a text query: split on ASCII and ideographic spaces, folded.
    pub fn words(text: &str) -> Vec<String> {
        text.split(|c: char| c.is_whitespace() || c == '\u{3000}').filter(|w| !w.is_empty()).map(folded).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OplogError {
    #[error("operation-log store I/O: {0}")]
    Io(String),
    /// A partition is damaged; the rest stays usable.
    #[error("operation-log partition {partition} is damaged: {reason}")]
    Damaged { partition: String, reason: String },
    #[error("bad query: {0}")]
    BadQuery(String),
}

pub type Result<T, E = OplogError> = std::result::Result<T, E>;

/// The append rule both engines follow: events at or below the agent's mark
/// `acked` are duplicates; each newer one is handed to `keep` and raises the
/// mark; a jump over missing numbers is a gap (several in one batch merge
/// into one range). The outcome's `acked_through` is the new mark.
pub fn accept_new<'a>(acked: u64, events: &'a [IncomingEvent], mut keep: impl FnMut(&'a IncomingEvent)) -> AppendOutcome {
    let mut acked = acked;
    let mut out = AppendOutcome::default();
    for e in events {
        if e.seq <= acked {
            out.duplicates += 1;
            continue;
        }
        if e.seq > acked + 1 {
            let g = (acked + 1, e.seq - 1);
            out.gap = Some(match out.gap {
                None => g,
                Some((a, _)) => (a, g.1),
            });
        }
        acked = e.seq;
        keep(e);
        out.stored += 1;
    }
    out.acked_through = acked;
    out
}

pub trait EventStore: Send + Sync + 'static {
    /// Appends one agent's events (in sequence order) and makes them
    /// durable before returning.
    fn append(&self, agent_id: &str, events: &[IncomingEvent]) -> Result<AppendOutcome>;
    /// Appends several agents' batches and makes them all durable before
    /// returning (group commit: the ingest thread can hand over everything it
    /// has queued for one fsync). Outcomes are in the order of `batches`.
    fn append_many(&self, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> {
        batches.iter().map(|(agent, events)| self.append(agent, events)).collect()
    }
    fn search(&self, q: &Query) -> Result<Found>;
    /// (UTC day as YYYYMMDD, kind, count) over [from, to), optionally one PC.
    fn counts_by_kind_per_day(&self, from_ms: i64, to_ms: i64, pc: Option<&str>) -> Result<Vec<(u32, EventKind, u64)>>;
    fn partitions(&self) -> Result<Vec<PartitionInfo>>;
    /// Deletes whole partitions that end before `before_ms`; returns them.
    fn drop_before(&self, before_ms: i64) -> Result<Vec<PartitionInfo>>;
    /// Partitions found damaged (at open or since), with the reason.
    fn damaged(&self) -> Vec<(String, String)>;
    /// Writes buffered events into their partitions (a clean shutdown);
    /// without it they are replayed from the write-ahead log at next open.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
