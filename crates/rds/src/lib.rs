//! kmsnap-rds: RDS DB instances and their snapshots (docs/rds.md), on the managed block store.
//!
//! No database engine runs: a DB instance *is* its storage, a volume kept through
//! `kmsnap-snapshots`' managed-storage API (`kmsnap_snapshots::managed`,
//! docs/managed-storage.md), so EC2 neither shows nor changes it. RDS holds only the opaque ids
//! of its volumes and snapshots and asks that API for everything that moves bytes, inside its
//! own write transactions: a DB snapshot is a sealed snapshot of the instance's volume, a copy a
//! queued copy (blocks re-encrypted under the new key), a restore a volume joining the
//! snapshot's lineage. KMS sees every data-key use come through `rds.amazonaws.com` with
//! encryption context `{"aws:rds:db-id": DbiResourceId}` ([`ops::common::instance_use`]), so the
//! `aws/rds` managed key's `kms:ViaService` condition admits it.
//!
//! * [`Rds`]: the service of one server; implements the generated `RdsHandler` in [`ops`].
//! * [`model`]: [`model::DbInstanceRecord`], [`model::DbSnapshotRecord`] and their states.
//! * [`store`]: tables `rds_instances`, `rds_snapshots`.
//! * [`workers`]: instance states (creating → backing-up → available; stopping → stopped…)
//!   and snapshot progress mirrored from the backing EBS snapshot; daily automated snapshots
//!   on the injected clock, expired after the retention period.
//! * Sharing ([`ops::sharing`]): the `restore` attribute of a DB snapshot lets other accounts
//!   see it (`shared`/`public`), copy and restore it — KMS alone decides whether they can read
//!   it; copies also cross regions ([`ops::snapshots`]).
//! * [`error`]: [`RdsError`] and its one mapping to RDS wire codes (docs/protocols.md §6).
//! * `backing`: what instances and clusters share — snapshots of their managed volume,
//!   automated-backup timing — written once for both kinds.
//! * [`cluster`]: Aurora DB clusters (one EBS volume each, shared by their instances) and DB
//!   cluster snapshots; [`keystate`]: a lost KMS key reaching instances and clusters (docs/rds.md §8).
#![forbid(unsafe_code)]

mod backing;
pub mod cluster;
pub mod error;
pub mod keystate;
pub mod model;
pub mod ops;
pub mod store;
#[cfg(test)]
mod testenv;
pub mod workers;

pub use error::RdsError;

use kmsnap_kms::Kms;
use kmsnap_snapshots::Snapshots;
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// The RDS service of one server.
pub struct Rds {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) kms: Arc<Kms>,
    /// The block store that holds every instance's storage and every snapshot's blocks.
    pub(crate) ebs: Arc<Snapshots>,
    /// How long transitions that take no real work last ([`workers::Timing`]).
    pub(crate) timing: workers::Timing,
}

impl std::fmt::Debug for Rds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rds").finish_non_exhaustive()
    }
}

impl Rds {
    /// Operations read the time from their request context (the injected clock).
    pub fn new(meta: Arc<dyn MetaStore>, kms: Arc<Kms>, ebs: Arc<Snapshots>) -> Self {
        Rds {
            meta,
            kms,
            ebs,
            timing: workers::Timing::default(),
        }
    }

    /// The same service with `timing` for its transitions (`[timing]` in kmsnap.toml).
    pub fn with_timing(mut self, timing: workers::Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Runs, before a call, every state change that is due at `now` and takes no real work:
    /// snapshot seals (the volume's manifest shared into the snapshot), instance and cluster
    /// transitions past their [`workers::Timing`] dwell, key state reaching databases. So a
    /// call made right after CreateDBInstance, CreateDBSnapshot, CreateDBCluster, Stop, Start,
    /// Reboot or Modify finds the settled state — `aws rds wait …` returns on its first poll —
    /// while copies, restores and replicas keep their transitional state until their bytes
    /// have moved (issue #17). The background workers do the same every second.
    pub async fn settle(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), RdsError> {
        // Each round can unlock the next (creating → backing-up → available; a sealed EBS
        // snapshot makes its DB snapshot available); a handful of rounds reaches rest.
        for _ in 0..4 {
            let sealed = self.ebs.finish_seals().await?;
            let (meta, timing) = (self.meta.clone(), self.timing.clone());
            let changed = blocking(move || -> Result<usize, RdsError> {
                let n = workers::step_at(meta.as_ref(), Some(now), &timing)?;
                let c = cluster::workers::step(meta.as_ref(), now)?;
                let k = keystate::step(meta.as_ref(), now)?;
                Ok(n + c + k)
            })
            .await??;
            if sealed == 0 && changed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// The backing volume of DB instance `identifier` of the caller (its account and region),
    /// for `kmsnap db import/export`.
    pub async fn instance_volume(
        &self,
        ctx: &kmsnap_auth::RequestContext,
        identifier: &str,
    ) -> Result<String, RdsError> {
        let rec = ops::common::find::<model::DbInstanceRecord>(
            self,
            ctx,
            &identifier.to_ascii_lowercase(),
        )
        .await?;
        rec.map(|r| r.volume_id.to_string())
            .ok_or_else(|| RdsError::InstanceNotFound {
                id: identifier.to_owned(),
            })
    }
}

/// Runs blocking store work from async code (the stores' calls block).
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, RdsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| RdsError::Internal("blocking task"))
}
