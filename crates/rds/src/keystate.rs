//! Key state reaching databases (docs/rds.md §8): a worker step that watches the KMS key of
//! every encrypted DB instance and Aurora cluster.
//!
//! * key no longer `Enabled` (disabled, pending deletion) → the resource goes to
//!   `inaccessible-encryption-credentials-recoverable` (a cluster's instances show it too) and
//!   the time is recorded;
//! * still recoverable 7 days later ([`RECOVERY_WINDOW`], on the injected clock), or the key
//!   is gone → terminal `inaccessible-encryption-credentials`: only deletion or a restore from
//!   a backup remain (every other operation checks for `available`/`stopped` and refuses);
//! * StartDBCluster / StartDBInstance in the recoverable state check the key through KMS as
//!   RDS ([`check_storage`]) and go `starting` → `available`.
//!
//! The step reads key states through KMS's key-status API (a read of the caller's transaction,
//! not a KMS call: no CloudTrail event per tick; docs/managed-storage.md §5). When an instance lost its key is kept in table `rds_key_lost`
//! (`{account}/{region}/{identifier}` → time), clusters keep it in their record.

use crate::cluster::model::{ClusterStatus, RECOVERY_WINDOW};
use crate::cluster::store as cstore;
use crate::error::RdsError;
use crate::model::{DbInstanceRecord, InstanceStatus};
use crate::{store, Rds};
use chrono::{DateTime, Utc};
use kmsnap_auth::RequestContext;
use kmsnap_kms::key_status::KeyStatus;
use kmsnap_snapshots::managed::VolumeId;
use kmsnap_snapshots::EbsError;
use kmsnap_store::{ReadTxn, Table, WriteTxn};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const T_KEY_LOST: &str = "rds_key_lost";

/// When an instance's key was found lost (table `rds_key_lost`, under the instance's key):
/// its recovery window runs from then (docs/rds.md §8).
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct KeyLostAt(DateTime<Utc>);
kmsnap_store::first_version!(KeyLostAt);
const KEY_LOST: Table<KeyLostAt> = Table::new(T_KEY_LOST);

/// What RDS can do with a key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHealth {
    Usable,
    /// Disabled or pending deletion: recoverable.
    Unusable,
    /// Deleted (or never existed): the data is lost.
    Gone,
}

fn key_status(txn: &dyn ReadTxn, arn: &str) -> Result<Option<KeyStatus>, RdsError> {
    kmsnap_kms::key_status::key_status(txn, arn).map_err(|e| {
        tracing::error!(error = %e, "rds key state read");
        RdsError::Internal("key state")
    })
}

/// The health of key `arn` as the store holds it.
pub fn health(txn: &dyn ReadTxn, arn: &str) -> Result<KeyHealth, RdsError> {
    Ok(match key_status(txn, arn)? {
        Some(k) if k.enabled() => KeyHealth::Usable,
        Some(_) => KeyHealth::Unusable,
        None => KeyHealth::Gone,
    })
}

/// Whether `arn` is an AWS managed key (`aws/rds`): snapshots under it cannot be shared.
pub async fn is_aws_managed(svc: &Rds, arn: &str) -> Result<bool, RdsError> {
    let (meta, arn) = (svc.meta.clone(), arn.to_owned());
    crate::blocking(move || {
        Ok(key_status(meta.read()?.as_ref(), &arn)?.is_some_and(|k| k.aws_managed()))
    })
    .await?
}

/// The key check of a start after key loss: RDS unwraps the storage's data key (volume
/// `volume_id`) through KMS as the caller, so a key still disabled, pending deletion or not
/// allowed is `KMSKeyNotAccessibleFault` naming `what` (e.g. "DB instance pg1").
pub async fn check_storage(
    svc: &Rds,
    ctx: &RequestContext,
    volume_id: &VolumeId,
    key_arn: &str,
    what: &str,
) -> Result<(), RdsError> {
    match svc.ebs.check_volume_key(ctx, volume_id).await {
        Ok(()) => Ok(()),
        Err(e @ EbsError::Kms { .. }) => {
            tracing::info!(resource = what, error = %e, "start: storage key not usable");
            Err(RdsError::KmsKeyNotAccessible {
                message: format!("The KMS key [{key_arn}] of {what} does not exist, is not enabled or you do not have permissions to access it."),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Instance statuses in which a lost key makes the instance recoverable (by name, so new
/// transition states of the instance model need no change here).
const LIVE_INSTANCE: &[&str] = &[
    "available",
    "backing-up",
    "modifying",
    "stopping",
    "stopped",
    "starting",
    "rebooting",
];

pub(crate) fn is_aurora(r: &DbInstanceRecord) -> bool {
    r.engine.starts_with("aurora")
}

fn get_lost(txn: &dyn ReadTxn, r: &DbInstanceRecord) -> Result<Option<DateTime<Utc>>, RdsError> {
    let key = store::scoped(r.account, r.region, &r.identifier);
    Ok(KEY_LOST.get(txn, &key)?.map(|KeyLostAt(at)| at))
}

fn put_lost(
    txn: &mut dyn WriteTxn,
    r: &DbInstanceRecord,
    at: DateTime<Utc>,
) -> Result<(), RdsError> {
    let key = store::scoped(r.account, r.region, &r.identifier);
    KEY_LOST.put(txn, &key, &KeyLostAt(at))?;
    Ok(())
}

pub(crate) fn clear_lost(txn: &mut dyn WriteTxn, r: &DbInstanceRecord) -> Result<(), RdsError> {
    KEY_LOST.delete(txn, &store::scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Where a resource with key health `h`, status `status` and key lost at `lost` goes now.
fn decide(
    live: bool,
    recoverable: bool,
    h: KeyHealth,
    lost: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Verdict> {
    match (live, recoverable, h) {
        (true, _, KeyHealth::Unusable) => Some(Verdict::Recoverable),
        (true, _, KeyHealth::Gone) | (_, true, KeyHealth::Gone) => Some(Verdict::Terminal),
        (_, true, _) if lost.is_none_or(|t| now >= t + RECOVERY_WINDOW) => Some(Verdict::Terminal),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Recoverable,
    Terminal,
}

/// One pass over every encrypted instance and cluster at time `now`. Returns how many changed.
pub fn step(meta: &dyn kmsnap_store::MetaStore, now: DateTime<Utc>) -> Result<usize, RdsError> {
    // Decide on a read transaction; most ticks change nothing.
    let mut plan = Vec::new();
    collect(&*meta.read()?, now, &mut plan)?;
    if plan.is_empty() {
        return Ok(0);
    }
    let mut txn = meta.write()?;
    plan.clear();
    collect(&*txn, now, &mut plan)?;
    let n = plan.len();
    for change in plan {
        match change {
            Change::Cluster(mut c, v) => {
                match v {
                    Verdict::Recoverable => {
                        c.status = ClusterStatus::InaccessibleEncryptionCredentialsRecoverable;
                        c.key_lost_at = Some(now);
                    }
                    Verdict::Terminal => {
                        c.status = ClusterStatus::InaccessibleEncryptionCredentials
                    }
                }
                tracing::warn!(cluster = %c.identifier, account = %c.account, status = c.status.as_str(), "rds cluster key state");
                cstore::put_cluster(txn.as_mut(), &c)?;
            }
            Change::Instance(mut r, v) => {
                match v {
                    Verdict::Recoverable => {
                        r.status = InstanceStatus::InaccessibleEncryptionCredentialsRecoverable;
                        put_lost(txn.as_mut(), &r, now)?;
                    }
                    Verdict::Terminal => {
                        r.status = InstanceStatus::InaccessibleEncryptionCredentials;
                        clear_lost(txn.as_mut(), &r)?;
                    }
                }
                r.status_since = Some(now);
                tracing::warn!(instance = %r.identifier, account = %r.account, status = r.status.as_str(), "rds instance key state");
                store::put_instance(txn.as_mut(), &r)?;
            }
        }
    }
    txn.commit()?;
    Ok(n)
}

enum Change {
    Cluster(crate::cluster::model::ClusterRecord, Verdict),
    Instance(DbInstanceRecord, Verdict),
}

fn collect(txn: &dyn ReadTxn, now: DateTime<Utc>, plan: &mut Vec<Change>) -> Result<(), RdsError> {
    let mut health_of: HashMap<String, KeyHealth> = HashMap::new();
    let mut key = |arn: &str| -> Result<KeyHealth, RdsError> {
        if let Some(h) = health_of.get(arn) {
            return Ok(*h);
        }
        let h = health(txn, arn)?;
        health_of.insert(arn.to_owned(), h);
        Ok(h)
    };
    for c in cstore::clusters(txn, None)? {
        let Some(arn) = c.kms_key_arn.as_deref() else {
            continue;
        };
        let live = matches!(
            c.status,
            ClusterStatus::Available
                | ClusterStatus::Stopping
                | ClusterStatus::Stopped
                | ClusterStatus::Starting
        );
        let recoverable = c.status == ClusterStatus::InaccessibleEncryptionCredentialsRecoverable;
        if !live && !recoverable {
            continue;
        }
        if let Some(v) = decide(live, recoverable, key(arn)?, c.key_lost_at, now) {
            plan.push(Change::Cluster(c, v));
        }
    }
    for r in store::instances(txn, None)? {
        // An Aurora instance shows its cluster's state.
        let Some(arn) = r.kms_key_arn.as_deref().filter(|_| !is_aurora(&r)) else {
            continue;
        };
        let live = LIVE_INSTANCE.contains(&r.status.as_str());
        let recoverable = r.status == InstanceStatus::InaccessibleEncryptionCredentialsRecoverable;
        if !live && !recoverable {
            continue;
        }
        let lost = if recoverable {
            get_lost(txn, &r)?
        } else {
            None
        };
        if let Some(v) = decide(live, recoverable, key(arn)?, lost, now) {
            plan.push(Change::Instance(r, v));
        }
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The time a key was found lost, as today's and earlier builds wrote it (version 1, a
    /// bare timestamp), reads back through the typed table.
    #[test]
    fn key_lost_records_read_as_written() {
        let (meta, _) = kmsnap_store::open_memory();
        let rec = DbInstanceRecord {
            identifier: "pg".into(),
            ..crate::testenv::instance_record()
        };
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 1, 2, 3).unwrap();
        let key = store::scoped(rec.account, rec.region, &rec.identifier);
        let mut txn = meta.write().unwrap();
        txn.put(
            T_KEY_LOST,
            &key,
            &kmsnap_store::encode_record(1, &at).unwrap(),
        )
        .unwrap();
        assert_eq!(get_lost(&*txn, &rec).unwrap(), Some(at));
        clear_lost(txn.as_mut(), &rec).unwrap();
        assert_eq!(get_lost(&*txn, &rec).unwrap(), None);
        put_lost(txn.as_mut(), &rec, at).unwrap();
        assert_eq!(
            txn.get(T_KEY_LOST, &key).unwrap().unwrap().value,
            kmsnap_store::encode_record(1, &at).unwrap()
        );
    }

    #[test]
    fn verdicts_follow_spec_8() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        // A live resource: disabled → recoverable; deleted → terminal; usable → nothing.
        assert_eq!(
            decide(true, false, KeyHealth::Unusable, None, t0),
            Some(Verdict::Recoverable)
        );
        assert_eq!(
            decide(true, false, KeyHealth::Gone, None, t0),
            Some(Verdict::Terminal)
        );
        assert_eq!(decide(true, false, KeyHealth::Usable, None, t0), None);
        // Recoverable: waits (even with the key enabled again: clients call Start) for 7 days.
        assert_eq!(
            decide(
                false,
                true,
                KeyHealth::Unusable,
                Some(t0),
                t0 + chrono::Duration::days(6)
            ),
            None
        );
        assert_eq!(
            decide(
                false,
                true,
                KeyHealth::Usable,
                Some(t0),
                t0 + chrono::Duration::days(6)
            ),
            None
        );
        assert_eq!(
            decide(
                false,
                true,
                KeyHealth::Unusable,
                Some(t0),
                t0 + chrono::Duration::days(7)
            ),
            Some(Verdict::Terminal)
        );
        assert_eq!(
            decide(false, true, KeyHealth::Gone, Some(t0), t0),
            Some(Verdict::Terminal)
        );
    }
}
