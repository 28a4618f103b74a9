//! kmsnap-backup: AWS Backup (docs/backup.md). Built so far: backup vaults — their key, tags,
//! access policy and vault lock — and on-demand backup jobs of EBS volumes with their recovery
//! points (native EC2 snapshots made through the snapshots crate). Every other Backup operation
//! answers `NotImplemented` (the generated handler's default).
//!
//! * [`Backup`]: the service of one server; implements the generated `BackupHandler` in [`ops`].
//! * [`model`]: [`model::VaultRecord`] and its lock, [`model::JobRecord`],
//!   [`model::PointRecord`].
//! * [`store`]: tables `backup_vaults`, `backup_jobs`, `backup_points` and their indexes.
//! * [`workers`]: moves backup jobs forward as their snapshots fill.
//! * [`error`]: [`BackupError`] and its one mapping to the wire.
#![forbid(unsafe_code)]

pub mod error;
pub mod model;
pub mod ops;
pub mod store;
#[cfg(test)]
mod tests;
pub mod workers;

pub use error::BackupError;

use kmsnap_kms::Kms;
use kmsnap_snapshots::Snapshots;
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// The service principal Backup acts as (KMS sees it as `kms:ViaService`).
pub const BACKUP_SERVICE: &str = "backup.amazonaws.com";

/// The AWS Backup service of one server.
pub struct Backup {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) kms: Arc<Kms>,
    /// The EC2 snapshots backup jobs make (docs/backup.md §8).
    pub(crate) snapshots: Arc<Snapshots>,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup").finish_non_exhaustive()
    }
}

impl Backup {
    /// Operations read the time from their request context (the injected clock).
    pub fn new(meta: Arc<dyn MetaStore>, kms: Arc<Kms>, snapshots: Arc<Snapshots>) -> Self {
        Backup {
            meta,
            kms,
            snapshots,
        }
    }
}

/// Runs blocking store work from async code (the stores' calls block).
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| BackupError::Internal("blocking task"))
}
