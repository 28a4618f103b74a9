//! What DB instances and Aurora clusters share (docs/rds.md §4): each *is* a managed volume
//! (docs/managed-storage.md) whose snapshots are records of its own snapshot table, and each
//! takes automated snapshots on the server's clock and expires them after its retention
//! period. Starting a snapshot (a seal of the volume), dropping one, and dropping a resource's
//! automated snapshots are written once here for both kinds ([`Backed`], [`Snapshot`]); what
//! truly differs (the snapshot record's fields, which tags it takes) is each kind's
//! implementation of [`Backed::snapshot_record`].

use crate::cluster::model::{ClusterRecord, ClusterSnapshotRecord, ClusterSnapshotStatus};
use crate::error::RdsError;
use crate::model::{DbInstanceRecord, DbSnapshotRecord, SnapshotStatus};
use crate::ops::common::{cluster_use, instance_use, SnapshotCopy};
use crate::store::{self, Scoped};
use crate::Rds;
use chrono::{DateTime, Utc};
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::managed::NewVolume;
use kmsnap_snapshots::managed::{self, ServiceUse, SnapshotId, VolumeId};
use kmsnap_store::WriteTxn;

type Tags = Vec<(String, String)>;

/// How often a database with backups enabled gets an automated snapshot.
pub const BACKUP_INTERVAL: chrono::Duration = chrono::Duration::hours(24);

/// Whether a database keeping `retention` days of backups, last backed up at `last`, is due
/// an automated snapshot at `now` (DB instances and Aurora clusters alike).
pub(crate) fn backup_due(retention: i32, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    retention > 0 && last.is_none_or(|t| now - t >= BACKUP_INTERVAL)
}

/// Whether an automated snapshot started at `created` has outlived `retention` days at `now`.
pub(crate) fn outlived(created: DateTime<Utc>, retention: i32, now: DateTime<Utc>) -> bool {
    now - created >= chrono::Duration::days(i64::from(retention))
}

/// A snapshot record of RDS (DB snapshot or DB cluster snapshot), backed by a managed snapshot.
pub(crate) trait Snapshot: Scoped {
    /// The backing managed snapshot: its owner, region and id.
    fn backing(&self) -> (AccountId, Region, &SnapshotId);
}

/// A new snapshot record's particulars: its name and type (`manual`, `automated`), its
/// backing managed snapshot, the request's tags, the time.
pub(crate) struct NewSnapshot<'a> {
    pub id: &'a str,
    pub snapshot_type: &'a str,
    pub ebs: SnapshotId,
    pub tags: Tags,
    pub now: DateTime<Utc>,
}

/// A resource whose storage is a managed volume: a DB instance or an Aurora cluster.
pub(crate) trait Backed: Scoped {
    /// The record of this resource's snapshots.
    type Snapshot: Snapshot;
    /// Its name (`DBInstanceIdentifier`, `DBClusterIdentifier`).
    fn name(&self) -> &str;
    /// The storage: its account, region and volume.
    fn storage(&self) -> (AccountId, Region, &VolumeId);
    /// How the storage uses its key (docs/rds.md §3), and the description of its snapshots.
    fn key_use(&self) -> (ServiceUse, String);
    /// A new `creating` snapshot record, with the tags a snapshot of this kind takes given
    /// the request's.
    fn snapshot_record(&self, new: NewSnapshot<'_>) -> Self::Snapshot;
    /// Whether `s` is one of this resource's automated snapshots.
    fn automated_of(&self, s: &Self::Snapshot) -> bool;
    /// The error for a new resource of this kind whose name `id` is taken.
    fn taken(id: String) -> RdsError;
}

/// Fails with [`Backed::taken`] if the caller already has an `R` named `id`: a create's or a
/// restore's early check, which [`insert_new`] repeats in its transaction.
pub(crate) async fn ensure_free<R: Backed + Send + 'static>(
    svc: &Rds,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), RdsError> {
    match crate::ops::common::find::<R>(svc, ctx, id).await? {
        Some(_) => Err(R::taken(id.to_owned())),
        None => Ok(()),
    }
}

/// Stores new resource `rec` (created or restored), its new storage `volume`, what `also`
/// writes or checks, and `event` in one transaction (docs/managed-storage.md §1). A name
/// taken meanwhile is [`Backed::taken`]; `also` runs before the volume is stored.
pub(crate) async fn insert_new<R, F>(
    svc: &Rds,
    rec: R,
    volume: NewVolume,
    also: F,
    event: Event,
) -> Result<(), RdsError>
where
    R: Backed + Send + 'static,
    F: FnOnce(&mut dyn WriteTxn) -> Result<(), RdsError> + Send + 'static,
{
    let meta = svc.meta.clone();
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        let (account, region, _) = rec.storage();
        if store::get::<R>(&*txn, account, region, rec.name())?.is_some() {
            return Err(R::taken(rec.name().to_owned()));
        }
        also(txn.as_mut())?;
        managed::create_volume(txn.as_mut(), volume)?;
        store::put(txn.as_mut(), &rec)?;
        crate::ops::common::commit(txn, &[event])
    })
    .await?
}

/// Starts snapshot `id` (`manual` or `automated`) of `rec` in `txn`: the backing managed
/// snapshot and its seal job (the worker freezes the volume's manifest), and the snapshot
/// record. The caller checked the resource's state and that `id` is free.
pub(crate) fn start_snapshot<R: Backed>(
    txn: &mut dyn WriteTxn,
    rec: &R,
    id: &str,
    snapshot_type: &str,
    tags: Tags,
    now: DateTime<Utc>,
) -> Result<R::Snapshot, RdsError> {
    let (account, region, volume) = rec.storage();
    let (key_use, description) = rec.key_use();
    let ebs = managed::seal_snapshot(txn, account, region, volume, &key_use, description, now)?;
    let snap = rec.snapshot_record(NewSnapshot {
        id,
        snapshot_type,
        ebs,
        tags,
        now,
    });
    store::put(txn, &snap)?;
    Ok(snap)
}

/// Deletes snapshot `s` and its backing managed snapshot's manifest in `txn`.
pub(crate) fn drop_snapshot<S: Snapshot>(txn: &mut dyn WriteTxn, s: &S) -> Result<(), RdsError> {
    let (account, region, ebs) = s.backing();
    managed::drop_snapshot(txn, account, region, ebs)?;
    store::delete(txn, s)
}

/// Deletes the automated snapshots of `rec` in `txn`; how many.
pub(crate) fn drop_automated<R: Backed>(
    txn: &mut dyn WriteTxn,
    rec: &R,
) -> Result<usize, RdsError> {
    let mut n = 0;
    let (account, region, _) = rec.storage();
    for s in store::scan::<R::Snapshot>(&*txn, Some((account, region)))? {
        if rec.automated_of(&s) {
            drop_snapshot(txn, &s)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Reads the caller's `R` named `id` in a write transaction (`None` if there is none: `change`
/// answers that after the checks AWS makes first), lets `change` act on it and on the
/// transaction, stores the record `change` returns (under its name, which may be new) with
/// `event`, and returns it with what else `change` returned. The state changes of both kinds
/// (Modify, Stop, Start, Reboot; docs/rds.md §4) go through here.
pub(crate) async fn change<R, T, F>(
    svc: &Rds,
    ctx: &RequestContext,
    id: String,
    event: Event,
    change: F,
) -> Result<(R, T), RdsError>
where
    R: Backed + Send + 'static,
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn, Option<R>) -> Result<(R, T), RdsError> + Send + 'static,
{
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || -> Result<(R, T), RdsError> {
        let mut txn = meta.write()?;
        let found = store::get::<R>(&*txn, account, region, &id)?;
        let (rec, also) = change(txn.as_mut(), found)?;
        store::put(txn.as_mut(), &rec)?;
        crate::ops::common::commit(txn, &[event])?;
        Ok((rec, also))
    })
    .await?
}

/// Implements [`Snapshot`] and [`SnapshotCopy`] for snapshot record `$ty`, whose name, taken,
/// is `RdsError::$exists`.
macro_rules! snapshot {
    ($ty:ty, $exists:ident) => {
        impl Snapshot for $ty {
            fn backing(&self) -> (AccountId, Region, &SnapshotId) {
                (self.account, self.region, &self.ebs_snapshot_id)
            }
        }

        impl SnapshotCopy for $ty {
            fn storage(&mut self) -> &mut SnapshotId {
                &mut self.ebs_snapshot_id
            }

            fn exists(&self) -> RdsError {
                RdsError::$exists {
                    id: self.identifier.clone(),
                }
            }

            fn key_arn(&self) -> Option<String> {
                self.kms_key_arn.clone()
            }
        }
    };
}
snapshot!(DbSnapshotRecord, SnapshotAlreadyExists);
snapshot!(ClusterSnapshotRecord, ClusterSnapshotAlreadyExists);

impl Backed for DbInstanceRecord {
    type Snapshot = DbSnapshotRecord;

    fn name(&self) -> &str {
        &self.identifier
    }

    fn storage(&self) -> (AccountId, Region, &VolumeId) {
        (self.account, self.region, &self.volume_id)
    }

    fn key_use(&self) -> (ServiceUse, String) {
        let description = format!("RDS snapshot of {}", self.identifier);
        (instance_use(&self.dbi_resource_id), description)
    }

    /// With `CopyTagsToSnapshot` the instance's tags, the request's merged over them.
    fn snapshot_record(&self, new: NewSnapshot<'_>) -> DbSnapshotRecord {
        let mut all = if self.copy_tags_to_snapshot {
            self.tags.clone()
        } else {
            Vec::new()
        };
        crate::ops::tags::merge(&mut all, new.tags);
        DbSnapshotRecord {
            identifier: new.id.to_owned(),
            account: self.account,
            region: self.region,
            snapshot_type: new.snapshot_type.to_owned(),
            status: SnapshotStatus::Creating,
            percent_progress: 0,
            instance_identifier: self.identifier.clone(),
            dbi_resource_id: self.dbi_resource_id.clone(),
            engine: self.engine.clone(),
            engine_version: self.engine_version.clone(),
            allocated_storage: self.allocated_storage,
            port: self.port,
            master_username: self.master_username.clone(),
            availability_zone: self.availability_zone.clone(),
            instance_created: self.created,
            encrypted: self.storage_encrypted,
            kms_key_arn: self.kms_key_arn.clone(),
            source_snapshot: None,
            tags: all,
            ebs_snapshot_id: new.ebs,
            created: new.now,
            shared_with: Vec::new(),
            public: false,
            source_region: None,
        }
    }

    fn automated_of(&self, s: &DbSnapshotRecord) -> bool {
        s.snapshot_type == "automated" && s.dbi_resource_id == self.dbi_resource_id
    }

    fn taken(id: String) -> RdsError {
        RdsError::InstanceAlreadyExists { id }
    }
}

impl Backed for ClusterRecord {
    type Snapshot = ClusterSnapshotRecord;

    fn name(&self) -> &str {
        &self.identifier
    }

    fn storage(&self) -> (AccountId, Region, &VolumeId) {
        (self.account, self.region, &self.volume_id)
    }

    fn key_use(&self) -> (ServiceUse, String) {
        let description = format!("RDS cluster snapshot of {}", self.identifier);
        (cluster_use(&self.resource_id), description)
    }

    /// The request's tags as they are (the callers apply `CopyTagsToSnapshot`).
    fn snapshot_record(&self, new: NewSnapshot<'_>) -> ClusterSnapshotRecord {
        ClusterSnapshotRecord {
            identifier: new.id.to_owned(),
            account: self.account,
            region: self.region,
            snapshot_type: new.snapshot_type.to_owned(),
            status: ClusterSnapshotStatus::Creating,
            percent_progress: 0,
            cluster_identifier: self.identifier.clone(),
            cluster_resource_id: self.resource_id.clone(),
            engine: self.engine.clone(),
            engine_version: self.engine_version.clone(),
            port: self.port,
            master_username: self.master_username.clone(),
            cluster_created: self.created,
            storage_encrypted: self.storage_encrypted,
            kms_key_arn: self.kms_key_arn.clone(),
            source_snapshot_arn: None,
            tags: new.tags,
            ebs_snapshot_id: new.ebs,
            created: new.now,
            shared_with: Vec::new(),
            public: false,
        }
    }

    fn automated_of(&self, s: &ClusterSnapshotRecord) -> bool {
        s.snapshot_type == "automated" && s.cluster_resource_id == self.resource_id
    }

    fn taken(id: String) -> RdsError {
        RdsError::ClusterAlreadyExists { id }
    }
}
