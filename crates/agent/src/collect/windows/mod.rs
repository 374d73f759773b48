//! Windows collectors, read from WMI and the registry.
//!
//! Each submodule fills one section; `collect/<section>.rs` re-exports its
//! `collect`. Parsing that needs no Windows API lives in [`decode`], the
//! timed WMI access in [`wmi`], registry access in [`reg`].
//!
//! Nothing from WMI or the registry is trusted to be present or well-formed:
//! a missing source becomes a [`CollectorNote`](lanward_proto::CollectorNote)
//! or an `Err` naming what failed, never a panic.

pub mod antivirus;
pub mod decode;
pub mod hardware;
pub mod hotfixes;
pub mod neighbors;
pub mod network;
pub mod office;
pub mod os;
pub mod reg;
pub mod registry;
pub mod software;
pub mod storage;
pub mod wmi;

use super::Notes;

/// Leaves a note for the diagnostics section.
pub(crate) fn note(notes: &mut Notes, collector: &str, message: impl Into<String>) {
    notes.push(lanward_proto::CollectorNote { collector: collector.to_string(), message: message.into() });
}
