//! What DB instances and Aurora clusters share (docs/rds.md §4): each *is* a managed volume
//! (docs/managed-storage.md) whose snapshots are records of its own snapshot table, and each
//! takes automated snapshots on the server's clock and expires them after its retention
//! period. Starting a snapshot (a seal of the volume), dropping one, and dropping a resource's
//! automated snapshots are written once here for both kinds ([`Backed`], [`Snapshot`]), as are
//! storing a new resource ([`insert_new`]), a state change's transaction ([`change`]) and the
//! workers' automated backups, expiry and progress mirror ([`automated_backup`],
//! [`drop_expired`], [`mirror_snapshots`]); what
//! truly differs (the snapshot record's fields, which tags it takes) is each kind's
//! implementation of [`Backed::snapshot_record`].

use crate::cluster::model::{
    ClusterRecord, ClusterSnapshotRecord, ClusterSnapshotStatus, ClusterStatus,
};
use crate::error::RdsError;
use crate::model::{DbInstanceRecord, DbSnapshotRecord, InstanceStatus, SnapshotStatus};
use crate::ops::common::{cluster_use, instance_use, SnapshotCopy};
use crate::store::{self, Scoped};
use crate::Rds;
use chrono::{DateTime, Utc};
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::managed::NewVolume;
use kmsnap_snapshots::managed::{self, ServiceUse, SnapshotId, SnapshotState, VolumeId};
use kmsnap_store::WriteTxn;

type Tags = Vec<(String, String)>;

/// How often a database with backups enabled gets an automated snapshot.
pub const BACKUP_INTERVAL: chrono::Duration = chrono::Duration::hours(24);

/// Whether `rec`, keeping backups for its retention period, is due an automated snapshot at
/// `now` (DB instances and Aurora clusters alike; its status is the caller's to check).
pub(crate) fn backup_due<R: Backed>(rec: &R, now: DateTime<Utc>) -> bool {
    rec.retention() > 0 && rec.last_backup().is_none_or(|t| now - t >= BACKUP_INTERVAL)
}

/// Whether an automated snapshot started at `created` has outlived `retention` days at `now`.
fn outlived(created: DateTime<Utc>, retention: i32, now: DateTime<Utc>) -> bool {
    now - created >= chrono::Duration::days(i64::from(retention))
}

/// A snapshot record of RDS (DB snapshot or DB cluster snapshot), backed by a managed snapshot.
pub(crate) trait Snapshot: Scoped {
    /// The backing managed snapshot: its owner, region and id.
    fn backing(&self) -> (AccountId, Region, &SnapshotId);
    /// The error for a new snapshot of this kind whose name `id` is taken.
    fn taken(id: String) -> RdsError;
    /// Whether it is still being made (created or copied).
    fn in_progress(&self) -> bool;
    /// When it was started.
    fn created(&self) -> DateTime<Utc>;
    /// Takes its backing snapshot's progress `to`; whether its status or progress changed.
    fn advance(&mut self, to: Progress) -> bool;
}

/// Where a snapshot's backing managed snapshot stands.
pub(crate) enum Progress {
    /// Pending, this many percent done.
    Pending(i32),
    Completed,
    /// Failed or gone.
    Failed,
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
    /// Its `BackupRetentionPeriod` (days; 0: no automated snapshots).
    fn retention(&self) -> i32;
    /// When it last had an automated snapshot.
    fn last_backup(&self) -> Option<DateTime<Utc>>;
    /// Records an automated snapshot at `at`.
    fn backed_up(&mut self, at: DateTime<Utc>);
    /// Whether its status is `available` (the state a change or a stop asks for).
    fn available(&self) -> bool;
    /// This kind's invalid-state error for it, as it stands.
    fn invalid_state(&self) -> RdsError;

    /// Fails with [`Backed::invalid_state`] unless it is [`Backed::available`].
    fn require_available(&self) -> Result<(), RdsError> {
        match self.available() {
            true => Ok(()),
            false => Err(self.invalid_state()),
        }
    }
}

/// Starts automated snapshot `rds:<name>-YYYY-MM-DD-HH-MM` of `rec` at `now` in `txn` unless
/// one of that name exists, and records the backup in `rec` (the caller stores it). Whether a
/// snapshot was started.
pub(crate) fn automated_backup<R: Backed>(
    txn: &mut dyn WriteTxn,
    rec: &mut R,
    now: DateTime<Utc>,
) -> Result<bool, RdsError> {
    let id = crate::model::automated_snapshot_id(rec.name(), now);
    let (account, region, _) = rec.storage();
    let start = store::get::<R::Snapshot>(&*txn, account, region, &id)?.is_none();
    if start {
        start_snapshot(txn, rec, &id, "automated", Vec::new(), now)?;
    }
    rec.backed_up(now);
    Ok(start)
}

/// Whether automated snapshot `s` has outlived its resource's retention period at `now`
/// (`owners`: every resource of its kind).
pub(crate) fn expired<R: Backed>(s: &R::Snapshot, owners: &[R], now: DateTime<Utc>) -> bool {
    if s.in_progress() {
        return false;
    }
    let (account, region, _) = s.backing();
    owners
        .iter()
        .find(|r| {
            let (a, g, _) = r.storage();
            a == account && g == region && r.automated_of(s)
        })
        .is_some_and(|r| outlived(s.created(), r.retention(), now))
}

/// Deletes the automated snapshots of kind `R` that have [`expired`] at `now` in `txn`; how
/// many.
pub(crate) fn drop_expired<R: Backed>(
    txn: &mut dyn WriteTxn,
    owners: &[R],
    now: DateTime<Utc>,
) -> Result<usize, RdsError> {
    let mut n = 0;
    for s in store::scan::<R::Snapshot>(&*txn, None)? {
        if expired(&s, owners, now) {
            drop_snapshot(txn, &s)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Brings every snapshot of kind `S` in progress up to its backing managed snapshot, which the
/// EBS workers seal or copy (docs/managed-storage.md): `PercentProgress` while pending,
/// `available` when completed, `failed` otherwise. How many changed.
pub(crate) fn mirror_snapshots<S: Snapshot>(txn: &mut dyn WriteTxn) -> Result<usize, RdsError> {
    let mut changed = 0;
    for mut s in store::scan::<S>(&*txn, None)? {
        if !s.in_progress() {
            continue;
        }
        let (account, region, ebs) = s.backing();
        let to = match managed::snapshot(&*txn, account, region, ebs)? {
            Some(e) if e.state == SnapshotState::Completed => Progress::Completed,
            Some(e) if e.state == SnapshotState::Pending => {
                Progress::Pending(i32::from(e.progress))
            }
            _ => Progress::Failed,
        };
        if s.advance(to) {
            store::put(txn, &s)?;
            changed += 1;
        }
    }
    Ok(changed)
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
/// record. The caller checked the resource's state; a name taken is [`Snapshot::taken`].
pub(crate) fn start_snapshot<R: Backed>(
    txn: &mut dyn WriteTxn,
    rec: &R,
    id: &str,
    snapshot_type: &str,
    tags: Tags,
    now: DateTime<Utc>,
) -> Result<R::Snapshot, RdsError> {
    let (account, region, volume) = rec.storage();
    if store::get::<R::Snapshot>(&*txn, account, region, id)?.is_some() {
        return Err(R::Snapshot::taken(id.to_owned()));
    }
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
/// (Modify, Stop, Start, Reboot; docs/rds.md §4) and the snapshots' sharing go through here.
pub(crate) async fn change<R, T, F>(
    svc: &Rds,
    ctx: &RequestContext,
    id: String,
    event: Event,
    change: F,
) -> Result<(R, T), RdsError>
where
    R: Scoped + Send + 'static,
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

/// Deletes `rec` and its storage in `txn` (DeleteDBInstance, DeleteDBCluster): snapshots still
/// sealing from the volume keep its data as of their creation; its automated snapshots go with
/// it unless `keep_automated`.
pub(crate) fn drop_resource<R: Backed>(
    txn: &mut dyn WriteTxn,
    rec: &R,
    keep_automated: bool,
    now: DateTime<Utc>,
) -> Result<(), RdsError> {
    let (account, region, volume) = rec.storage();
    managed::finish_seals(txn, volume, now)?;
    if !keep_automated {
        drop_automated(txn, rec)?;
    }
    managed::drop_volume(txn, account, region, volume, now)?;
    store::delete(txn, rec)
}

/// Implements [`Snapshot`] and [`SnapshotCopy`] for snapshot record `$ty`, whose name, taken,
/// is `RdsError::$exists` and whose status is a `$status`.
macro_rules! snapshot {
    ($ty:ty, $exists:ident, $status:ident) => {
        impl Snapshot for $ty {
            fn backing(&self) -> (AccountId, Region, &SnapshotId) {
                (self.account, self.region, &self.ebs_snapshot_id)
            }

            fn taken(id: String) -> RdsError {
                RdsError::$exists { id }
            }

            fn in_progress(&self) -> bool {
                self.status.in_progress()
            }

            fn created(&self) -> DateTime<Utc> {
                self.created
            }

            fn advance(&mut self, to: Progress) -> bool {
                let before = (self.status, self.percent_progress);
                match to {
                    Progress::Completed => {
                        self.status = $status::Available;
                        self.percent_progress = 100;
                    }
                    Progress::Pending(p) => self.percent_progress = p,
                    Progress::Failed => self.status = $status::Failed,
                }
                (self.status, self.percent_progress) != before
            }
        }

        impl SnapshotCopy for $ty {
            fn storage(&mut self) -> &mut SnapshotId {
                &mut self.ebs_snapshot_id
            }

            fn exists(&self) -> RdsError {
                <$ty as Snapshot>::taken(self.identifier.clone())
            }

            fn key_arn(&self) -> Option<String> {
                self.kms_key_arn.clone()
            }
        }
    };
}
snapshot!(DbSnapshotRecord, SnapshotAlreadyExists, SnapshotStatus);
snapshot!(
    ClusterSnapshotRecord,
    ClusterSnapshotAlreadyExists,
    ClusterSnapshotStatus
);

/// The [`Backed`] methods that read fields both records have under the same names.
macro_rules! same_fields {
    () => {
        fn name(&self) -> &str {
            &self.identifier
        }

        fn storage(&self) -> (AccountId, Region, &VolumeId) {
            (self.account, self.region, &self.volume_id)
        }

        fn retention(&self) -> i32 {
            self.backup_retention_period
        }

        fn last_backup(&self) -> Option<DateTime<Utc>> {
            self.last_automated_backup
        }

        fn backed_up(&mut self, at: DateTime<Utc>) {
            self.last_automated_backup = Some(at);
        }
    };
}

impl Backed for DbInstanceRecord {
    type Snapshot = DbSnapshotRecord;

    same_fields!();

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

    fn available(&self) -> bool {
        self.status == InstanceStatus::Available
    }

    fn invalid_state(&self) -> RdsError {
        let (id, status) = (self.identifier.clone(), self.status.as_str().to_owned());
        RdsError::InvalidInstanceState { id, status }
    }
}

impl Backed for ClusterRecord {
    type Snapshot = ClusterSnapshotRecord;

    same_fields!();

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

    fn available(&self) -> bool {
        self.status == ClusterStatus::Available
    }

    fn invalid_state(&self) -> RdsError {
        let (id, status) = (self.identifier.clone(), self.status.as_str().to_owned());
        let expected = "available";
        RdsError::InvalidClusterState {
            id,
            status,
            expected,
        }
    }
}
