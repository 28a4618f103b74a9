//! kmsnap-backup: AWS Backup (docs/backup.md). Built so far: backup vaults — their key, tags,
//! access policy and vault lock. Every other Backup operation answers `NotImplemented` (the
//! generated handler's default) until jobs and recovery points are built on the snapshots
//! crate's storage.
//!
//! * [`Backup`]: the service of one server; implements the generated `BackupHandler` in [`ops`].
//! * [`model`]: [`model::VaultRecord`] and its lock.
//! * [`store`]: table `backup_vaults`.
//! * [`error`]: [`BackupError`] and its one mapping to the wire.
#![forbid(unsafe_code)]

pub mod error;
pub mod model;
pub mod ops;
pub mod store;
#[cfg(test)]
mod tests;

pub use error::BackupError;

use kmsnap_kms::Kms;
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// The service principal Backup acts as (KMS sees it as `kms:ViaService`).
pub const BACKUP_SERVICE: &str = "backup.amazonaws.com";

/// The AWS Backup service of one server.
pub struct Backup {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) kms: Arc<Kms>,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup").finish_non_exhaustive()
    }
}

impl Backup {
    /// Operations read the time from their request context (the injected clock).
    pub fn new(meta: Arc<dyn MetaStore>, kms: Arc<Kms>) -> Self {
        Backup { meta, kms }
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
