//! Background work of RDS, one idempotent step at a time (STYLE.md "Persistence"):
//!
//! * instances move one state per step toward `available` (creating → backing-up →
//!   available), so a `db_instance_available` waiter polling in between sees each state;
//! * `creating` DB snapshots mirror their backing EBS snapshot, which the EBS workers seal or
//!   copy: `PercentProgress` while pending, `available` when completed, `failed` on error.

use crate::error::RdsError;
use crate::model::SnapshotStatus;
use crate::{store, Rds};
use kmsnap_snapshots::model::SnapshotState;
use kmsnap_snapshots::store as ebs_store;
use std::sync::Arc;
use std::time::Duration;

/// Advances every instance and snapshot in progress by one step. Returns how many changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore) -> Result<usize, RdsError> {
    // Most ticks have nothing to do: look before taking the write transaction.
    {
        let txn = meta.read()?;
        let busy = store::instances(&*txn, None)?.iter().any(|r| r.status.next().is_some())
            || store::snapshots(&*txn, None)?.iter().any(|s| s.status == SnapshotStatus::Creating);
        if !busy {
            return Ok(0);
        }
    }
    let mut txn = meta.write()?;
    let mut changed = 0;
    for mut r in store::instances(&*txn, None)? {
        if let Some(next) = r.status.next() {
            r.status = next;
            store::put_instance(txn.as_mut(), &r)?;
            changed += 1;
        }
    }
    for mut s in store::snapshots(&*txn, None)? {
        if s.status != SnapshotStatus::Creating {
            continue;
        }
        let before = (s.status, s.percent_progress);
        match ebs_store::get_snapshot(&*txn, s.account, s.region, &s.ebs_snapshot_id)? {
            Some(e) if e.state == SnapshotState::Completed => {
                s.status = SnapshotStatus::Available;
                s.percent_progress = 100;
            }
            Some(e) if e.state == SnapshotState::Pending => s.percent_progress = i32::from(e.progress),
            _ => s.status = SnapshotStatus::Failed,
        }
        if (s.status, s.percent_progress) != before {
            store::put_snapshot(txn.as_mut(), &s)?;
            changed += 1;
        }
    }
    txn.commit()?;
    Ok(changed)
}

/// The worker loop (a step every second). Never returns.
pub async fn run(svc: Arc<Rds>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let meta = svc.meta.clone();
        match tokio::task::spawn_blocking(move || step(meta.as_ref())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "rds worker"),
            Err(e) => tracing::error!(error = %e, "rds worker panicked"),
        }
    }
}
