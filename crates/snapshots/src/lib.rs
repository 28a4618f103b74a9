//! kmsnap-snapshots: EC2 volumes and snapshots, the EBS direct block API, copy and sharing
//! (docs/ebs.md; DESIGN.md "Snapshot data").
//!
//! * [`Snapshots`]: the service of one server, every account and region; implements the
//!   generated `Ec2Handler` (EC2 query API) and `EbsHandler` (EBS direct API) in `ops`.
//! * [`model`]: volumes, snapshots, lineages (a data key and the blocks sealed under it),
//!   block references, per-region settings, jobs.
//! * [`store`]: the tables and their keys.
//! * [`managed`]: the managed-storage API (docs/managed-storage.md) through which another
//!   service (RDS) keeps its data here: create, seal, copy and drop storage inside the
//!   service's own write transaction, holding only opaque ids. Volumes and snapshots with
//!   `managed_by` set are such a service's: EC2 and the EBS direct API neither show nor change
//!   them.
//! * [`blocks`]: data keys through the in-process KMS API (as `ec2.amazonaws.com`, or as the
//!   managing service with its encryption context: [`model::KeyUse`]) and the sealing of
//!   512 KiB blocks (AES-256-GCM, AAD = lineage + index).
//! * [`workers`]: sealing snapshots and copying them, resumable after a crash.
//! * [`error`]: [`EbsError`] and its mappings to EC2 and EBS direct error codes.
//! * [`fsck`]: the offline check of every referenced block (`kmsnap fsck`).
//! * [`gc`]: the blob collector, which deletes while the server runs the blocks nothing
//!   references (killed writes, deleted resources) and never one a write in progress is about
//!   to reference: writers hold a [`WritePin`](kmsnap_store::WritePin) from
//!   [`Snapshots::pin_write`] from before they store a block until its row is committed.
#![forbid(unsafe_code)]

pub mod blocks;
pub mod error;
pub mod fsck;
pub mod gc;
pub mod managed;
pub mod model;
pub mod ops;
pub mod store;
#[cfg(test)]
pub(crate) mod testenv;
pub mod workers;

pub use error::EbsError;

use kmsnap_core::Clock;
use kmsnap_kms::Kms;
use kmsnap_store::{BlobStore, MetaStore};
use std::sync::Arc;

/// The EBS service of one server.
pub struct Snapshots {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) kms: Arc<Kms>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Wakes the job worker when a job is queued.
    pub(crate) wake: tokio::sync::Notify,
    /// MAC key of the EBS direct API's block and page tokens.
    pub(crate) tokens: ops::direct::tokens::TokenKey,
    /// Lineage data keys unwrapped for callers of the EBS direct API (see the type).
    pub(crate) data_keys: blocks::DataKeyCache,
    /// The block writes in progress, which the blob collector waits out ([`gc`]).
    pub(crate) inflight: kmsnap_store::InFlight,
    /// What the blob collector has done since the process started.
    pub(crate) gc: gc::Totals,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").finish_non_exhaustive()
    }
}

impl Snapshots {
    /// The service's time (the injected clock), for workers of services built on this store.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// A service whose EBS direct tokens are signed with a random key (they die with the
    /// process); the server uses [`Snapshots::with_root_key`].
    pub fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        kms: Arc<Kms>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let tokens = ops::direct::tokens::TokenKey::random();
        Snapshots {
            meta,
            blobs,
            kms,
            clock,
            wake: tokio::sync::Notify::new(),
            tokens,
            data_keys: Default::default(),
            inflight: kmsnap_store::InFlight::new(),
            gc: gc::Totals::default(),
        }
    }

    /// Registers a block write in progress: take it before storing a blob that a row will
    /// name, keep it until that row is committed or the write is given up (docs/blob-collection.md).
    pub fn pin_write(&self) -> kmsnap_store::WritePin {
        self.inflight.pin()
    }

    /// Signs EBS direct block and page tokens with a key derived from the root key, so tokens
    /// stay valid across restarts (block tokens live 7 days).
    pub fn with_root_key(mut self, root: &kmsnap_core::RootKey) -> Result<Self, EbsError> {
        self.tokens = ops::direct::tokens::TokenKey::from_root(root)?;
        Ok(self)
    }
}

/// Runs blocking store work from async code (the stores' calls block).
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, EbsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| EbsError::Internal("blocking task"))
}
