//! Background work of Backup, one idempotent step at a time (STYLE.md "Persistence";
//! docs/backup.md §8):
//!
//! * every job not yet final mirrors its EC2 snapshot, which the snapshots crate's seal job
//!   fills: `CREATED` → `RUNNING` with `PercentDone` = the snapshot's progress → `COMPLETED`
//!   (the recovery point `COMPLETED`) when the snapshot completes, `FAILED` (the point and the
//!   snapshot removed) when it fails or disappears;
//! * recovery points whose lifecycle `DeleteAfterDays` has passed on the injected clock are
//!   deleted with their snapshots.
//!
//! Jobs live in the MetaStore, so a restarted server resumes them where they were.

use crate::error::BackupError;
use crate::model::{JobState, PointStatus};
use crate::{store, Backup};
use chrono::{DateTime, Utc};
use kmsnap_snapshots::managed::{self, SnapshotState};
use std::sync::Arc;
use std::time::Duration;

const GIB: i64 = 1 << 30;

/// Advances every job in progress by one step and expires points, at `now`. Returns how many
/// records changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, BackupError> {
    let mut changed = 0;
    let active = store::active_jobs(meta.read()?.as_ref())?;
    for job in active {
        let mut txn = meta.write()?;
        let Some(mut j) = store::get_job(txn.as_ref(), job.account, job.region, &job.id)? else {
            continue;
        };
        if j.state.is_final() {
            continue;
        }
        let snap: managed::SnapshotId = j
            .snapshot_id
            .parse()
            .map_err(|_| BackupError::Internal("snapshot id"))?;
        let info = managed::snapshot(txn.as_ref(), j.account, j.region, &snap)?;
        let point = store::get_point(
            txn.as_ref(),
            j.account,
            j.region,
            &j.vault_name,
            &j.snapshot_id,
        )?;
        let before = j.clone();
        match info.as_ref().map(|s| s.state) {
            Some(SnapshotState::Pending) => {
                j.state = JobState::Running;
                j.percent_done = info.as_ref().map_or(0, |s| s.progress.min(99));
            }
            Some(SnapshotState::Completed) if point.is_some() => {
                let size = info.as_ref().map_or(0, |s| i64::from(s.size_gib) * GIB);
                j.state = JobState::Completed;
                j.percent_done = 100;
                j.size_bytes = size;
                j.completed = Some(now);
                if let Some(mut p) = point {
                    p.status = PointStatus::Completed;
                    p.size_bytes = size;
                    p.completed = Some(now);
                    store::put_point(txn.as_mut(), &p)?;
                }
            }
            _ => {
                j.state = JobState::Failed;
                j.status_message = Some(match info {
                    Some(_) => "The EBS snapshot of the volume failed.".into(),
                    None => {
                        "The EBS snapshot of the volume was deleted before it completed.".into()
                    }
                });
                j.completed = Some(now);
                if let Some(p) = point {
                    crate::ops::points::remove_point(txn.as_mut(), &p)?;
                }
            }
        }
        if j != before {
            store::put_job(txn.as_mut(), &j)?;
            txn.commit()?;
            changed += 1;
        }
    }
    changed += expire(meta, now)?;
    Ok(changed)
}

/// Deletes the recovery points whose `DeleteAfterDays` has passed at `now`.
fn expire(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, BackupError> {
    let due: Vec<_> = store::every_point(meta.read()?.as_ref())?
        .into_iter()
        .filter(|p| {
            p.status == PointStatus::Completed
                && p.lifecycle.delete_at(p.created).is_some_and(|t| t <= now)
        })
        .collect();
    for p in &due {
        let mut txn = meta.write()?;
        if store::get_point(
            txn.as_ref(),
            p.account,
            p.region,
            &p.vault_name,
            &p.snapshot_id,
        )?
        .is_some()
        {
            crate::ops::points::remove_point(txn.as_mut(), p)?;
            txn.commit()?;
        }
    }
    Ok(due.len())
}

/// Runs [`step`] every second on the server clock (the snapshots crate's).
pub async fn run(svc: Arc<Backup>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (meta, now) = (svc.meta.clone(), svc.snapshots.now());
        match tokio::task::spawn_blocking(move || step(meta.as_ref(), now)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "backup worker"),
            Err(e) => tracing::error!(error = %e, "backup worker panicked"),
        }
    }
}
