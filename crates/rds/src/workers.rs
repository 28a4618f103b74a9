//! Background work of RDS, one idempotent step at a time (STYLE.md "Persistence"):
//!
//! * instances move one state per step toward `available` (creating → backing-up →
//!   available), each after its [`Timing`] dwell (zero by default); `Rds::settle` runs the
//!   steps that are due before every RDS call, so the next call sees the settled state;
//! * `creating` DB snapshots mirror their backing EBS snapshot, which the EBS workers seal or
//!   copy: `PercentProgress` while pending, `available` when completed, `failed` on error;
//! * [`backups`], on the injected clock: an automated snapshot `rds:<db>-YYYY-MM-DD-HH-MM` of
//!   every available instance with `BackupRetentionPeriod` > 0 once a day (the first right
//!   after creation), deleted when older than the retention period; and a stopped instance
//!   starts again after 7 days, as AWS does (Aurora clusters get their automated snapshots
//!   from [`crate::cluster::workers`], by the same [`backup_due`] and [`expired`]);
//! * [`crate::ops::replicas::replicate`]: read replicas following their sources' storage.

use crate::error::RdsError;
use crate::model::{DbSnapshotRecord, InstanceStatus};
use crate::{store, Rds};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub use crate::backing::BACKUP_INTERVAL;
use crate::backing::{automated_backup, backup_due, drop_expired, expired, mirror_snapshots};
/// How long an instance stays stopped before RDS starts it again.
pub const MAX_STOPPED: chrono::Duration = chrono::Duration::days(7);

/// How long DB instances stay in the transitional states that take no real work (creating,
/// modifying, starting, stopping, rebooting) before they settle, on the injected clock.
///
/// The default is zero for all of them: the response of CreateDBInstance, ModifyDBInstance,
/// Start/Stop/Reboot shows AWS's transitional state, and the next call already finds the
/// settled one (`Rds::settle`), so `aws rds wait …` returns on its first poll (issue #17).
/// `[timing]` in kmsnap.toml sets realistic durations for users who test their own timeouts
/// and polling. Work that really takes time (copying or restoring bytes, a read replica's first
/// round) keeps its state until it is done, whatever these say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    pub instance_create: chrono::Duration,
    pub instance_modify: chrono::Duration,
    pub instance_start: chrono::Duration,
    pub instance_stop: chrono::Duration,
    pub instance_reboot: chrono::Duration,
}

impl Timing {
    /// How long an instance stays in `status` at least.
    pub fn dwell(&self, status: InstanceStatus) -> chrono::Duration {
        match status {
            InstanceStatus::Creating => self.instance_create,
            InstanceStatus::Modifying => self.instance_modify,
            InstanceStatus::Starting => self.instance_start,
            InstanceStatus::Stopping => self.instance_stop,
            InstanceStatus::Rebooting => self.instance_reboot,
            InstanceStatus::BackingUp
            | InstanceStatus::Available
            | InstanceStatus::Deleting
            | InstanceStatus::Stopped
            | InstanceStatus::InaccessibleEncryptionCredentialsRecoverable
            | InstanceStatus::InaccessibleEncryptionCredentials => chrono::Duration::zero(),
        }
    }
}

/// Advances every instance and snapshot in progress by one step. Returns how many changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore) -> Result<usize, RdsError> {
    step_at(meta, None, &Timing::default())
}

/// [`step`] at time `now` (the injected clock): an instance that entered its state less than
/// `timing`'s dwell for it ago stays. `None`: no dwell (tests driving the worker by hand).
pub fn step_at(
    meta: &dyn kmsnap_store::MetaStore,
    now: Option<DateTime<Utc>>,
    timing: &Timing,
) -> Result<usize, RdsError> {
    // A read replica stays `creating` until its first replication round ends.
    let replicas = store::replicas(meta.read()?.as_ref())?;
    let ready = |r: &crate::model::DbInstanceRecord| {
        let dwelt = match (now, r.status_since) {
            (Some(now), Some(since)) => now - since >= timing.dwell(r.status),
            _ => true,
        };
        dwelt
            && !(r.status == InstanceStatus::Creating
                && crate::ops::replicas::awaiting_first_round(&replicas, r))
    };
    // Most ticks have nothing to do: look before taking the write transaction.
    {
        let txn = meta.read()?;
        let busy = store::instances(&*txn, None)?
            .iter()
            .any(|r| r.status.next().is_some() && ready(r))
            || store::snapshots(&*txn, None)?
                .iter()
                .any(|s| s.status.in_progress());
        if !busy {
            return Ok(0);
        }
    }
    let mut txn = meta.write()?;
    let mut changed = 0;
    for mut r in store::instances(&*txn, None)? {
        if let Some(next) = r.status.next().filter(|_| ready(&r)) {
            r.status = next;
            r.status_since = now.or(r.status_since);
            store::put_instance(txn.as_mut(), &r)?;
            changed += 1;
        }
    }
    changed += mirror_snapshots::<DbSnapshotRecord>(txn.as_mut())?;
    txn.commit()?;
    Ok(changed)
}

/// What [`backups`] does to an instance at `now`.
fn due(r: &crate::model::DbInstanceRecord, now: DateTime<Utc>) -> Option<InstanceStatus> {
    match r.status {
        InstanceStatus::Stopped if r.status_since.is_some_and(|t| now - t >= MAX_STOPPED) => {
            Some(InstanceStatus::Starting)
        }
        InstanceStatus::Available if backup_due(r, now) => Some(InstanceStatus::Available),
        _ => None,
    }
}

/// Automated backups and restarts of long-stopped instances at time `now` (see the module
/// doc). Returns how many snapshots were started.
pub fn backups(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, RdsError> {
    {
        let txn = meta.read()?;
        let instances = store::instances(&*txn, None)?;
        let busy = instances.iter().any(|r| due(r, now).is_some())
            || store::snapshots(&*txn, None)?
                .iter()
                .any(|s| expired(s, &instances, now));
        if !busy {
            return Ok(0);
        }
    }
    let mut txn = meta.write()?;
    let instances = store::instances(&*txn, None)?;
    drop_expired(txn.as_mut(), &instances, now)?;
    let mut started = 0;
    for mut r in instances {
        match due(&r, now) {
            Some(InstanceStatus::Starting) => {
                r.status = InstanceStatus::Starting;
                r.status_since = Some(now);
            }
            Some(_) => {
                if automated_backup(txn.as_mut(), &mut r, now)? {
                    started += 1;
                }
            }
            None => continue,
        }
        store::put_instance(txn.as_mut(), &r)?;
    }
    txn.commit()?;
    Ok(started)
}

/// The worker loop (a step every second). Never returns.
pub async fn run(svc: Arc<Rds>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (meta, now, timing) = (svc.meta.clone(), svc.ebs.now(), svc.timing.clone());
        match tokio::task::spawn_blocking(move || step_at(meta.as_ref(), Some(now), &timing)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "rds worker"),
            Err(e) => tracing::error!(error = %e, "rds worker panicked"),
        }
        let (meta, now) = (svc.meta.clone(), svc.ebs.now());
        match tokio::task::spawn_blocking(move || backups(meta.as_ref(), now)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) => svc.ebs.wake_worker(),
            Ok(Err(e)) => tracing::error!(error = %e, "rds backup worker"),
            Err(e) => tracing::error!(error = %e, "rds backup worker panicked"),
        }
        // Read replicas following their sources.
        let (meta, now) = (svc.meta.clone(), svc.ebs.now());
        match tokio::task::spawn_blocking(move || {
            crate::ops::replicas::replicate(meta.as_ref(), now)
        })
        .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) => svc.ebs.wake_worker(),
            Ok(Err(e)) => tracing::error!(error = %e, "rds replication worker"),
            Err(e) => tracing::error!(error = %e, "rds replication worker panicked"),
        }
        // Aurora clusters and their snapshots; then key state reaching databases (docs/rds.md §8).
        let (meta, now) = (svc.meta.clone(), svc.ebs.now());
        let both = move || {
            crate::cluster::workers::step(meta.as_ref(), now)
                .and_then(|n| crate::keystate::step(meta.as_ref(), now).map(|_| n))
        };
        match tokio::task::spawn_blocking(both).await {
            Ok(Ok(0)) => {}
            // Automated cluster snapshots wait on a seal job.
            Ok(Ok(_)) => svc.ebs.wake_worker(),
            Ok(Err(e)) => tracing::error!(error = %e, "rds cluster/key-state worker"),
            Err(e) => tracing::error!(error = %e, "rds cluster/key-state worker panicked"),
        }
    }
}
