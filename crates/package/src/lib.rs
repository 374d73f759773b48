//! Signed, content-addressed package manifests: the integrity core of
//! software distribution (PRODUCT.md §1, §4(6)(7)).
//!
//! The server splits an installer into chunks named by their SHA-256
//! ([`chunk_reader`], [`ChunkStore`]), describes them in a [`Manifest`], and
//! a person signs the manifest with the bureau's [`SigningKey`], possibly on
//! another, offline machine ([`sign_file`]). The agent pins the public key,
//! [`verify`]s the signed manifest (signature, expiry, anti-rollback serial)
//! and refuses with a [`Refusal`] that says why; it downloads chunks into its
//! own [`ChunkStore`] (each one checked against its id), keeps a
//! [`DownloadState`] so a reboot resumes where it stopped, and finally
//! [`assemble`]s the file, checking the total SHA-256.
//!
//! This crate is linked by the agent: it must not depend on the store, the
//! server, HTTP or tokio.

mod chunk;
mod error;
mod exit;
mod fsutil;
mod install;
mod key;
mod manifest;
mod media;
mod sign;
mod state;
mod store;
mod time;
mod verify;

pub use chunk::{chunk_reader, ChunkId, ChunkInfo, ChunkList, ChunkRefusal, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
pub use error::Error;
pub use exit::{ExitCodes, Outcome};
pub use install::InstallSpec;
pub use key::{KeyId, PublicKey, SigningKey};
pub use manifest::{Manifest, ManifestId, MANIFEST_SIGNING_CONTEXT};
pub use media::{
    export_media, MediaFile, MediaReport, EXIT_HASH_MISMATCH, INSTALL_CMD, INSTALL_SH, MANIFEST_FILE, README_FILE,
};
pub use sign::{read_unsigned, sign, sign_file, write_unsigned, SignedManifest, SIGNED_FORMAT};
pub use state::{DownloadState, SeenSerials};
pub use store::{assemble, ChunkStore};
pub use time::format_utc;
pub use verify::{verify, verify_with_keys, Refusal};
