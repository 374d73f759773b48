//! The lanward agent, as a library: the `lanward-agent` binary and the
//! simulator (`lanward-agent simulate`, also the load generator) both use it.
//!
//! - [`collect`]: collectors, one per inventory section, behind one trait.
//! - [`identity`]: the agent's key and enrolment state on disk.
//! - [`client`]: HTTP(S) to the server with signed requests and CA pinning.
//! - [`spool`]: the bounded queue of reports not yet acknowledged.
//! - [`core`]: one check-in step (collect, diff, queue, send), shared by the
//!   real agent loop ([`runner`]) and simulated agents ([`simulate`]).
//! - [`events`]: the local journal of operation events (logon, lock,
//!   suspend, foreground window…).
//! - [`oplog`]: the sources of operation events (login records, process
//!   starts, USB devices) and the sender that ships the journal.
//! - [`session`]: the helper in each user session and its pipe protocol.
//!
//! Must never depend on the server's storage or web stack.

pub mod client;
pub mod collect;
pub mod core;
pub mod deploy;
pub mod events;
pub mod identity;
pub mod oplog;
pub mod preset;
pub mod runner;
pub mod service;
pub mod session;
pub mod simulate;
pub mod spool;

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
