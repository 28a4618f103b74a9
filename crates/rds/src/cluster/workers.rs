//! Background work of Aurora, one idempotent step at a time: clusters move through their
//! transitions (creating → available once the volume is filled; stopping → stopped;
//! starting → available; a cluster stopped for 7 days starts again, as AWS does), and
//! cluster snapshots in progress mirror their backing EBS
//! snapshot, which the EBS workers seal or copy.
//!
//! Automated backups, on the injected clock, as [`crate::workers::backups`] does for DB
//! instances: an `available` cluster gets an automated cluster snapshot
//! `rds:<cluster>-YYYY-MM-DD-HH-MM` (sealed from its volume as CreateDBClusterSnapshot does)
//! the step after it becomes available and then once a day ([`crate::backing::BACKUP_INTERVAL`]);
//! one older than the cluster's `BackupRetentionPeriod` is deleted. A stopped cluster, or one
//! whose key is unusable, gets none (its status is not `available`).

use super::model::{ClusterRecord, ClusterSnapshotRecord, ClusterStatus, MAX_STOPPED};
use super::store as cstore;
use crate::backing::{automated_backup, backup_due, drop_expired, expired, mirror_snapshots};
use crate::error::RdsError;
use chrono::{DateTime, Utc};
use kmsnap_snapshots::managed::{self, VolumeState};

/// Whether cluster `c` is due an automated snapshot at `now`.
fn backup_wanted(c: &ClusterRecord, now: DateTime<Utc>) -> bool {
    c.status == ClusterStatus::Available && backup_due(c, now)
}

/// Advances every cluster and cluster snapshot in progress by one step, and takes and expires
/// automated snapshots (see the module doc). Returns how many changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, RdsError> {
    let restart = |c: &ClusterRecord| {
        c.status == ClusterStatus::Stopped && c.stopped_at.is_some_and(|t| now - t >= MAX_STOPPED)
    };
    let busy = |c: &ClusterRecord| {
        c.status == ClusterStatus::Creating
            || c.status.next().is_some()
            || restart(c)
            || backup_wanted(c, now)
    };
    {
        let txn = meta.read()?;
        let clusters = cstore::clusters(&*txn, None)?;
        let any = clusters.iter().any(busy)
            || cstore::snapshots(&*txn, None)?
                .iter()
                .any(|s| s.status.in_progress() || expired(s, &clusters, now));
        if !any {
            return Ok(0);
        }
    }
    let mut txn = meta.write()?;
    let mut changed = 0;
    let clusters = cstore::clusters(&*txn, None)?;
    changed += drop_expired(txn.as_mut(), &clusters, now)?;
    for mut c in clusters {
        // The backup is decided on the state at the start of the step, so the first one
        // comes the step after the cluster becomes available.
        if backup_wanted(&c, now) {
            automated_backup(txn.as_mut(), &mut c, now)?;
            cstore::put_cluster(txn.as_mut(), &c)?;
            changed += 1;
            continue;
        }
        let next = match c.status {
            ClusterStatus::Creating => {
                match managed::volume(&*txn, c.account, c.region, &c.volume_id)? {
                    Some(v) if v.state == VolumeState::Available => Some(ClusterStatus::Available),
                    Some(v) if v.state == VolumeState::Creating => None,
                    _ => Some(ClusterStatus::Failed),
                }
            }
            _ if restart(&c) => Some(ClusterStatus::Starting),
            other => other.next(),
        };
        if let Some(next) = next {
            c.status = next;
            cstore::put_cluster(txn.as_mut(), &c)?;
            changed += 1;
        }
    }
    changed += mirror_snapshots::<ClusterSnapshotRecord>(txn.as_mut())?;
    txn.commit()?;
    Ok(changed)
}
