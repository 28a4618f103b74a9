//! Background work of Aurora, one idempotent step at a time: clusters move through their
//! transitions (creating → available once the volume is filled; stopping → stopped;
//! starting → available; a cluster stopped for 7 days starts again, as AWS does), and
//! cluster snapshots in progress mirror their backing EBS
//! snapshot, which the EBS workers seal or copy.

use super::model::{ClusterRecord, ClusterSnapshotStatus, ClusterStatus, MAX_STOPPED};
use chrono::{DateTime, Utc};
use super::store as cstore;
use crate::error::RdsError;
use kmsnap_snapshots::model::{SnapshotState, VolumeState};
use kmsnap_snapshots::store as ebs_store;

/// Advances every cluster and cluster snapshot in progress by one step. Returns how many changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, RdsError> {
    let restart = |c: &ClusterRecord| c.status == ClusterStatus::Stopped && c.stopped_at.is_some_and(|t| now - t >= MAX_STOPPED);
    let busy = |c: &ClusterRecord| c.status == ClusterStatus::Creating || c.status.next().is_some() || restart(c);
    {
        let txn = meta.read()?;
        let any = cstore::clusters(&*txn, None)?.iter().any(busy) || cstore::snapshots(&*txn, None)?.iter().any(|s| s.status.in_progress());
        if !any {
            return Ok(0);
        }
    }
    let mut txn = meta.write()?;
    let mut changed = 0;
    for mut c in cstore::clusters(&*txn, None)? {
        let next = match c.status {
            ClusterStatus::Creating => match ebs_store::get_volume(&*txn, c.account, c.region, &c.volume_id)? {
                Some(v) if v.state == VolumeState::Available => Some(ClusterStatus::Available),
                Some(v) if v.state == VolumeState::Creating => None,
                _ => Some(ClusterStatus::Failed),
            },
            _ if restart(&c) => Some(ClusterStatus::Starting),
            other => other.next(),
        };
        if let Some(next) = next {
            c.status = next;
            cstore::put_cluster(txn.as_mut(), &c)?;
            changed += 1;
        }
    }
    for mut s in cstore::snapshots(&*txn, None)? {
        if !s.status.in_progress() {
            continue;
        }
        let before = (s.status, s.percent_progress);
        match ebs_store::get_snapshot(&*txn, s.account, s.region, &s.ebs_snapshot_id)? {
            Some(e) if e.state == SnapshotState::Completed => {
                s.status = ClusterSnapshotStatus::Available;
                s.percent_progress = 100;
            }
            Some(e) if e.state == SnapshotState::Pending => s.percent_progress = i32::from(e.progress),
            _ => s.status = ClusterSnapshotStatus::Failed,
        }
        if (s.status, s.percent_progress) != before {
            cstore::put_snapshot(txn.as_mut(), &s)?;
            changed += 1;
        }
    }
    txn.commit()?;
    Ok(changed)
}
