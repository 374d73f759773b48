//! The asset ledger as people keep it: which fields an asset has, the
//! rule each value must follow ([`fields`]), and the ledger's exchange with
//! the bureau's Excel files ([`import`], [`export`]). No I/O besides the
//! files given to it and no storage: the server applies what this crate
//! plans.

pub mod export;
pub mod fields;
pub mod import;

pub use fields::{check, field_names, is_field, is_kind, kind_label, label, KINDS, LABELS, STATUSES};
