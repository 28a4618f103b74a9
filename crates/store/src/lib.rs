//! kmsnap-store: where every service keeps its state.
//!
//! - [`MetaStore`] — named tables of byte keys and values with per-key revisions, read through
//!   consistent snapshots ([`ReadTxn`]) and changed through serialized, durable transactions
//!   ([`WriteTxn`]); conditional writes (`put_if`, `delete_if`), prefix scans with paging, and
//!   leases for workers. [`transact`] runs a closure in a transaction.
//! - [`BlobStore`] — immutable objects (snapshot blocks) under validated relative keys, durable
//!   before `put` returns.
//! - Backends: [`embedded`] (redb file + blob directory; see FORMAT.md) and [`memory`]. Open them
//!   with [`open_embedded`] or [`open_memory`].
//! - [`Table`] / [`Versioned`] — typed tables of versioned records: a record type names its
//!   version and its previous version's type, and reading upgrades old records step by step
//!   (docs/storage.md). [`encode_record`] / [`split_record`] are the encoding under them.
//! - [`journal`] — an append-only log of opaque records in segment files, each batch durable
//!   before it is acknowledged (direct, synchronous writes), replayed from a position after a
//!   crash, and retired once its records are kept elsewhere (the audit journal).
//! - [`fault`] — a redb storage backend and a journal directory that lose unsynced writes or
//!   fail I/O, for crash tests.
//! - [`collect`] — deleting blobs nothing references while writers run: [`InFlight`] registers
//!   the writes in progress, a [`Sweep`] waits them out before it reads the references.
//!
//! Calls block (fsync, waiting for the writer lock): async callers run them on a blocking
//! thread.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod blob;
pub mod collect;
mod direct;
pub mod embedded;
mod error;
pub mod fault;
pub mod journal;
pub mod memory;
mod meta;
mod record;
pub mod table;
mod txn;

pub use blob::{
    validate_blob_key, validate_blob_prefix, BlobStore, MAX_BLOB_KEY, MAX_BLOB_SEGMENT,
};
pub use collect::{InFlight, Reclaimed, Sweep, WritePin};
pub use error::{NameKind, StoreError};
pub use meta::{transact, validate_table, Lease, MetaStore, LEASE_TABLE, MAX_TABLE_NAME};
pub use record::{decode_payload, encode_record, split_record, RECORD_FORMAT, RECORD_HEADER_LEN};
pub use table::{Initial, Table, Versioned};
pub use txn::{ReadTxn, Record, ScanEntry, WriteTxn};

use std::path::Path;
use std::sync::Arc;

/// The metadata file inside a data directory.
pub const META_FILE: &str = "meta.redb";
/// The blob directory inside a data directory.
pub const BLOB_DIR: &str = "blobs";

/// A metadata store and a blob store, as the server holds them.
pub type Stores = (Arc<dyn MetaStore>, Arc<dyn BlobStore>);

/// Opens (creating if needed) the embedded stores in `data_dir`: `meta.redb` and `blobs/`.
pub fn open_embedded(data_dir: &Path) -> Result<Stores, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Io {
        op: "create data directory",
        source: e,
    })?;
    let meta =
        embedded::EmbeddedMeta::open(&data_dir.join(META_FILE), embedded::CommitMode::default())?;
    let blobs = embedded::FileBlobs::open(&data_dir.join(BLOB_DIR))?;
    Ok((Arc::new(meta), Arc::new(blobs)))
}

/// Fresh, empty memory stores.
pub fn open_memory() -> Stores {
    (
        Arc::new(memory::MemoryMeta::new()),
        Arc::new(memory::MemoryBlobs::new()),
    )
}
