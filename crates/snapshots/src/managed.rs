//! Managed storage (docs/managed-storage.md): the one way a service that keeps its data as
//! encrypted block lineages (RDS today; AWS Backup and Redshift next) creates, seals, copies
//! and drops that storage. The service never sees this crate's records: it holds opaque ids
//! ([`VolumeId`], [`SnapshotId`]) in its own records and reads what it needs through small
//! views ([`VolumeInfo`], [`SnapshotInfo`], [`StorageKey`]).
//!
//! * Keys are used as the service says ([`ServiceUse`]: its service principal and the
//!   encryption context it defines), so KMS checks `kms:ViaService` and records `invokedBy`
//!   exactly as for the service's own calls.
//! * Every change takes the caller's write transaction (docs/managed-storage.md §1): the
//!   service's record and its storage change commit together or not at all. Work that needs
//!   KMS runs before the transaction ([`Snapshots::prepare_volume`],
//!   [`Snapshots::check_volume_key`], [`Snapshots::check_snapshot_key`]); what it prepared is
//!   written inside it ([`create_volume`]).
//! * Copies and seals are jobs of this crate's worker: [`seal_snapshot`] and [`queue_copy`]
//!   queue them, [`snapshot`] reads their state and progress; call
//!   [`Snapshots::wake_worker`] after committing.
//! * Managed volumes and snapshots are invisible to EC2 and the EBS direct API.

use crate::blocks;
use crate::error::EbsError;
use crate::model::{
    BlockRef, JobKind, JobRecord, LineageRecord, Permissions, SnapshotOrigin, SnapshotRecord,
    VolumeRecord,
};
use crate::ops::volumes::copy_manifest;
use crate::{store, Snapshots};
use chrono::{DateTime, Utc};
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, WriteTxn};
use serde::{Deserialize, Serialize};

pub use crate::model::{JobCaller, KeyUse, ServiceUse, SnapshotState, VolumeState, BLOCK_SIZE};

/// Manifest rows moved per page when one manifest becomes another's.
const PAGE: usize = 4096;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// The id as text, as EC2-style ids are shown.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = EbsError;

            /// An id as shown to a user (`kmsnap db export`) or kept in a test fixture.
            fn from_str(s: &str) -> Result<Self, EbsError> {
                match s.strip_prefix($prefix) {
                    Some(rest) if !rest.is_empty() => Ok($name(s.to_owned())),
                    _ => Err(EbsError::InvalidId { id: s.to_owned() }),
                }
            }
        }
    };
}

opaque_id!(
    /// A managed volume: the live storage of a service's resource.
    VolumeId,
    "vol-"
);
opaque_id!(
    /// A managed snapshot: a sealed point in time of a volume, or a copy of one.
    SnapshotId,
    "snap-"
);
opaque_id!(
    /// A lineage (a data key and the blocks sealed under it), for comparing two storages'.
    LineageId,
    "lin-"
);

/// What a new volume starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// Nothing: a fresh lineage under the volume's key, no blocks.
    Empty,
    /// Snapshot `snapshot` of `owner` (in the caller's region), sharing its blocks: the volume
    /// joins the snapshot's lineage and has its key (the spec's key is not used).
    Join {
        owner: AccountId,
        snapshot: SnapshotId,
    },
    /// Snapshot `snapshot` of `owner` (in the caller's region), re-encrypted block by block
    /// into a fresh lineage under the spec's key by a restore job run as the caller; the volume
    /// is `creating` until it is done.
    Restore {
        owner: AccountId,
        snapshot: SnapshotId,
    },
}

/// A volume to create for the caller (its account and region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub size_gib: i32,
    /// Key ARN; none: unencrypted.
    pub key_arn: Option<String>,
    /// The service and encryption context the key is used with.
    pub key_use: ServiceUse,
    pub source: VolumeSource,
}

/// A volume [`Snapshots::prepare_volume`] made ready (its data key generated, the service's
/// grant recorded), not stored until [`create_volume`] writes it in the caller's transaction.
#[derive(Debug)]
pub struct NewVolume {
    volume: VolumeRecord,
    lineage: Option<LineageRecord>,
    fill: Fill,
}

#[derive(Debug)]
enum Fill {
    Nothing,
    Join {
        source: String,
    },
    Restore {
        source: String,
        source_account: AccountId,
        caller: Box<JobCaller>,
    },
}

impl NewVolume {
    pub fn id(&self) -> VolumeId {
        VolumeId(self.volume.id.clone())
    }
}

/// A managed volume as its service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub id: VolumeId,
    pub state: VolumeState,
    pub size_gib: i32,
}

/// A managed snapshot as its service sees it: the state and progress of the job that fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub account: AccountId,
    pub region: Region,
    pub state: SnapshotState,
    /// 0–100.
    pub progress: u8,
    pub size_gib: i32,
    pub kms_key_arn: Option<String>,
}

/// Which key seals a storage and how it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKey {
    pub lineage: LineageId,
    /// The account the lineage's data key was generated for.
    pub account: AccountId,
    pub kms_key_arn: Option<String>,
    pub key_use: KeyUse,
}

/// Where a copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTo {
    pub account: AccountId,
    pub region: Region,
    /// Key ARN in `region`; none: unencrypted.
    pub key_arn: Option<String>,
}

fn ec2_id(kind: &str) -> Result<String, EbsError> {
    kmsnap_core::ids::ec2_id(kind).map_err(|_| EbsError::Internal("rng"))
}

fn managed_volume(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &VolumeId,
) -> Result<VolumeRecord, EbsError> {
    store::get_volume(txn, account, region, id.as_str())?
        .ok_or(EbsError::Internal("managed volume missing"))
}

impl Snapshots {
    /// Makes a volume ready for the caller (its account and region): for an empty or restored
    /// volume a fresh lineage whose data key KMS generates under `spec.key_arn` through the
    /// spec's service with its context; for a joined one the snapshot's lineage. On a customer
    /// managed key the service's grant for the volume is recorded (docs/managed-storage.md §3).
    pub async fn prepare_volume(
        &self,
        ctx: &RequestContext,
        spec: VolumeSpec,
    ) -> Result<NewVolume, EbsError> {
        let key_use = KeyUse::Service(spec.key_use);
        let id = ec2_id("vol")?;
        let (lineage, key_arn, snapshot_id, fill) = match spec.source {
            VolumeSource::Empty => (None, spec.key_arn, None, Fill::Nothing),
            VolumeSource::Join { owner, snapshot } => {
                let s = self.read_snapshot(owner, ctx.region, &snapshot).await?;
                let lineage = s.lineage.clone();
                (
                    Some(lineage),
                    s.kms_key_arn,
                    Some(s.id.clone()),
                    Fill::Join { source: s.id },
                )
            }
            VolumeSource::Restore { owner, snapshot } => {
                let fill = Fill::Restore {
                    source: snapshot.0.clone(),
                    source_account: owner,
                    caller: Box::new(JobCaller::from_context(ctx)),
                };
                (None, spec.key_arn, Some(snapshot.0), fill)
            }
        };
        let (lineage_id, new_lineage) = match lineage {
            Some(l) => (l, None),
            None => {
                let l = blocks::new_lineage_as(&self.kms, ctx, key_arn.as_deref(), &id, &key_use)
                    .await?;
                (l.id.clone(), Some(l))
            }
        };
        if let Some(k) = &key_arn {
            blocks::grant_for_resource_as(&self.kms, ctx, k, &id, &key_use).await?;
        }
        let region = ctx.region;
        let state = match fill {
            Fill::Restore { .. } => VolumeState::Creating,
            _ => VolumeState::Available,
        };
        let volume = VolumeRecord {
            id,
            account: ctx.principal.account,
            region,
            availability_zone: format!("{region}a"),
            size_gib: spec.size_gib,
            snapshot_id,
            state,
            encrypted: key_arn.is_some(),
            kms_key_arn: key_arn,
            lineage: lineage_id,
            volume_type: "gp2".into(),
            iops: None,
            throughput: None,
            multi_attach: false,
            created: ctx.now,
            tags: Vec::new(),
            managed_by: Some(key_use),
        };
        Ok(NewVolume {
            volume,
            lineage: new_lineage,
            fill,
        })
    }

    async fn read_snapshot(
        &self,
        owner: AccountId,
        region: Region,
        id: &SnapshotId,
    ) -> Result<SnapshotRecord, EbsError> {
        let (meta, id) = (self.meta.clone(), id.0.clone());
        crate::blocking(move || {
            store::get_snapshot(meta.read()?.as_ref(), owner, region, &id)?
                .ok_or(EbsError::Internal("managed snapshot missing"))
        })
        .await?
    }

    /// Checks that the caller may use volume `id`'s key (of its account, in `ctx.region`) as the
    /// volume's service: KMS unwraps the data key for it, or this fails with KMS's error.
    pub async fn check_volume_key(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
    ) -> Result<(), EbsError> {
        let (meta, account, region, id) = (
            self.meta.clone(),
            ctx.principal.account,
            ctx.region,
            id.clone(),
        );
        let lineage = crate::blocking(move || -> Result<LineageRecord, EbsError> {
            let txn = meta.read()?;
            let v = managed_volume(txn.as_ref(), account, region, &id)?;
            store::get_lineage(txn.as_ref(), &v.lineage)?
                .ok_or(EbsError::Internal("volume without lineage"))
        })
        .await??;
        blocks::open_lineage(&self.kms, ctx, &lineage).await?;
        Ok(())
    }

    /// [`Snapshots::check_volume_key`] for snapshot `id` of `owner` in `ctx.region` (the caller
    /// may be another account the service let use it).
    pub async fn check_snapshot_key(
        &self,
        ctx: &RequestContext,
        owner: AccountId,
        id: &SnapshotId,
    ) -> Result<(), EbsError> {
        let s = self.read_snapshot(owner, ctx.region, id).await?;
        let meta = self.meta.clone();
        let lineage = crate::blocking(move || -> Result<LineageRecord, EbsError> {
            store::get_lineage(meta.read()?.as_ref(), &s.lineage)?
                .ok_or(EbsError::Internal("snapshot without lineage"))
        })
        .await??;
        blocks::open_lineage(&self.kms, ctx, &lineage).await?;
        Ok(())
    }
}

/// Writes volume `v` (from [`Snapshots::prepare_volume`]) in `txn`: its lineage, its manifest
/// (a joined snapshot's, shared) or the restore job that fills it.
pub fn create_volume(txn: &mut dyn WriteTxn, v: NewVolume) -> Result<VolumeId, EbsError> {
    let NewVolume {
        volume,
        lineage,
        fill,
    } = v;
    if let Some(l) = &lineage {
        store::put_lineage(txn, l)?;
    }
    match fill {
        Fill::Nothing => {}
        Fill::Join { source } => copy_manifest(txn, &source, &volume.id)?,
        Fill::Restore {
            source,
            source_account,
            caller,
        } => {
            let total = store::count_blocks(&*txn, &source)?;
            let kind = JobKind::Restore {
                source,
                source_account,
            };
            let job = JobRecord::new(
                &volume.id,
                volume.account,
                volume.region,
                kind,
                total,
                Some(*caller),
                volume.created,
            );
            store::put_job(txn, &job)?;
        }
    }
    store::put_volume(txn, &volume)?;
    Ok(VolumeId(volume.id))
}

/// Volume `id` of `account` in `region`, if it is there.
pub fn volume(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &VolumeId,
) -> Result<Option<VolumeInfo>, EbsError> {
    Ok(
        store::get_volume(txn, account, region, id.as_str())?.map(|v| VolumeInfo {
            id: VolumeId(v.id),
            state: v.state,
            size_gib: v.size_gib,
        }),
    )
}

/// The key that seals volume `id` and how it is used.
pub fn volume_key(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &VolumeId,
) -> Result<Option<StorageKey>, EbsError> {
    let Some(v) = store::get_volume(txn, account, region, id.as_str())? else {
        return Ok(None);
    };
    Ok(store::get_lineage(txn, &v.lineage)?.map(|l| StorageKey {
        lineage: LineageId(l.id),
        account: l.account,
        kms_key_arn: l.kms_key_arn,
        key_use: l.key_use,
    }))
}

/// Gives volume `id` a new size (GiB).
pub fn resize_volume(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    id: &VolumeId,
    size_gib: i32,
) -> Result<(), EbsError> {
    let mut v = managed_volume(&*txn, account, region, id)?;
    v.size_gib = size_gib;
    store::put_volume(txn, &v)
}

/// Runs every seal still pending from volume `id` to its end in `txn`, so those snapshots keep
/// the volume's data as of their creation whatever happens to the volume next.
pub fn finish_seals(
    txn: &mut dyn WriteTxn,
    id: &VolumeId,
    now: DateTime<Utc>,
) -> Result<(), EbsError> {
    for job in store::jobs(&*txn, usize::MAX)? {
        if matches!(&job.kind, JobKind::Seal { volume_id } if volume_id == id.as_str()) {
            crate::workers::seal::finish(txn, job, now)?;
        }
    }
    Ok(())
}

/// Deletes volume `id` and its manifest in `txn`, after [`finish_seals`] (its blobs go when
/// nothing names them: docs/blob-collection.md).
pub fn drop_volume(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    id: &VolumeId,
    now: DateTime<Utc>,
) -> Result<(), EbsError> {
    finish_seals(txn, id, now)?;
    let v = managed_volume(&*txn, account, region, id)?;
    store::delete_blocks(txn, &v.id)?;
    store::delete_volume(txn, &v)
}

/// Queues in `txn` a snapshot of volume `volume` (of `account` in `region`) as it is now,
/// managed as `key_use`: a pending snapshot and the seal job that fills it.
pub fn seal_snapshot(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    volume: &VolumeId,
    key_use: &ServiceUse,
    description: String,
    now: DateTime<Utc>,
) -> Result<SnapshotId, EbsError> {
    let v = managed_volume(&*txn, account, region, volume)?;
    let snap = SnapshotRecord {
        managed_by: Some(KeyUse::Service(key_use.clone())),
        ..SnapshotRecord::pending_of(&v, ec2_id("snap")?, description, now)
    };
    crate::workers::seal::queue(txn, &snap, now)?;
    Ok(SnapshotId(snap.id))
}

/// Snapshot `id` of `account` in `region`, if it is there.
pub fn snapshot(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &SnapshotId,
) -> Result<Option<SnapshotInfo>, EbsError> {
    Ok(
        store::get_snapshot(txn, account, region, id.as_str())?.map(|s| SnapshotInfo {
            id: SnapshotId(s.id),
            account: s.account,
            region: s.region,
            state: s.state,
            progress: s.progress,
            size_gib: s.volume_size,
            kms_key_arn: s.kms_key_arn,
        }),
    )
}

/// Queues in `txn` a copy of completed snapshot `source` to `to`, managed as `key_use`, run as `caller` (KMS authorizes the copy's key use as that
/// principal, through the service). Blocks are shared when nothing changes (same account,
/// region and key); else the copy job re-encrypts them, reusing what an earlier copy of the same
/// lineage to the same place and key re-encrypted. Returns the pending copy.
pub fn queue_copy(
    txn: &mut dyn WriteTxn,
    source: &SnapshotInfo,
    to: CopyTo,
    key_use: &ServiceUse,
    description: String,
    caller: JobCaller,
    now: DateTime<Utc>,
) -> Result<SnapshotId, EbsError> {
    let src = store::get_snapshot(&*txn, source.account, source.region, source.id.as_str())?
        .ok_or(EbsError::Internal("managed snapshot missing"))?;
    let share_blobs =
        to.account == src.account && to.region == src.region && to.key_arn == src.kms_key_arn;
    let copy = SnapshotRecord {
        id: ec2_id("snap")?,
        account: to.account,
        region: to.region,
        volume_id: "vol-ffffffff".into(),
        volume_size: src.volume_size,
        state: SnapshotState::Pending,
        state_message: None,
        progress: 0,
        start_time: now,
        description,
        encrypted: to.key_arn.is_some(),
        kms_key_arn: to.key_arn,
        lineage: if share_blobs {
            src.lineage.clone()
        } else {
            String::new()
        },
        tags: Vec::new(),
        permissions: Permissions::default(),
        origin: SnapshotOrigin::Copy {
            source_snapshot: src.id.clone(),
            source_region: src.region,
            source_account: src.account,
        },
        data_encryption_key_id: if share_blobs {
            src.data_encryption_key_id.clone()
        } else {
            None
        },
        completed: None,
        managed_by: Some(KeyUse::Service(key_use.clone())),
    };
    let kind = JobKind::Copy {
        source: src.id.clone(),
        source_region: src.region,
        source_account: src.account,
        share_blobs,
    };
    let total = store::count_blocks(&*txn, &src.id)?;
    store::put_snapshot(txn, &copy)?;
    let job = JobRecord::new(
        &copy.id,
        copy.account,
        copy.region,
        kind,
        total,
        Some(caller),
        now,
    );
    store::put_job(txn, &job)?;
    Ok(SnapshotId(copy.id))
}

/// Deletes snapshot `id` of `account` in `region` and its manifest in `txn`, if it is there (a
/// job still filling it stops at its next step).
pub fn drop_snapshot(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    id: &SnapshotId,
) -> Result<(), EbsError> {
    if let Some(s) = store::get_snapshot(&*txn, account, region, id.as_str())? {
        store::delete_blocks(txn, &s.id)?;
        store::delete_snapshot(txn, &s)?;
    }
    Ok(())
}

/// Makes completed snapshot `snapshot` (of `account` in `region`) the content of volume
/// `volume` there: its manifest replaces the volume's and the volume joins its lineage (a read
/// replica taking a round's copy).
pub fn adopt_snapshot(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    volume: &VolumeId,
    snapshot: &SnapshotId,
) -> Result<(), EbsError> {
    let mut v = managed_volume(&*txn, account, region, volume)?;
    let s = store::get_snapshot(&*txn, account, region, snapshot.as_str())?
        .ok_or(EbsError::Internal("managed snapshot missing"))?;
    store::delete_blocks(txn, &v.id)?;
    copy_manifest(txn, &s.id, &v.id)?;
    v.lineage = s.lineage;
    store::put_volume(txn, &v)
}

/// Calls `f` with every block of manifest `resource`, index order.
fn each_block(
    txn: &dyn ReadTxn,
    resource: &str,
    mut f: impl FnMut(u64, BlockRef),
) -> Result<(), EbsError> {
    let mut from = 0;
    loop {
        let page = store::blocks_from(txn, resource, from, PAGE)?;
        let next = page.last().map(|(i, _)| i + 1);
        let full = page.len() == PAGE;
        for (i, b) in page {
            f(i, b);
        }
        match next {
            Some(n) if full => from = n,
            _ => return Ok(()),
        }
    }
}

/// A digest of volume `id`'s content (index, blob and hash of every block): equal digests,
/// equal content.
pub fn volume_digest(txn: &dyn ReadTxn, id: &VolumeId) -> Result<String, EbsError> {
    let mut buf = Vec::new();
    each_block(txn, id.as_str(), |i, b| {
        buf.extend_from_slice(format!("{i}:{}:{};", b.blob, b.sha256).as_bytes())
    })?;
    Ok(blocks::sha256_hex(&buf))
}

/// The lineages whose data keys sealed volume `id`'s blocks: after a re-encryption, only the
/// volume's own (a key change is complete when no block is sealed under another).
pub fn block_lineages(
    txn: &dyn ReadTxn,
    id: &VolumeId,
) -> Result<std::collections::BTreeSet<LineageId>, EbsError> {
    let mut out = std::collections::BTreeSet::new();
    each_block(txn, id.as_str(), |_, b| {
        out.insert(LineageId(b.lineage));
    })?;
    Ok(out)
}

/// An EC2 volume as a service that snapshots it for the volume's owner sees it (AWS Backup:
/// docs/backup.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2VolumeInfo {
    pub id: String,
    pub size_gib: i32,
    pub kms_key_arn: Option<String>,
}

/// EC2 volume `volume_id` of `account` in `region` (not a managed one), if it is there.
pub fn ec2_volume(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    volume_id: &str,
) -> Result<Option<Ec2VolumeInfo>, EbsError> {
    Ok(store::get_volume(txn, account, region, volume_id)?
        .filter(|v| v.managed_by.is_none())
        .map(|v| Ec2VolumeInfo {
            id: v.id,
            size_gib: v.size_gib,
            kms_key_arn: v.kms_key_arn,
        }))
}

/// Queues in `txn` a native EC2 snapshot of EC2 volume `volume_id` (of `account` in `region`)
/// as EC2 CreateSnapshot does: owned by the account, visible to EC2, encrypted exactly like
/// the volume (its lineage, so blocks are shared with it), filled by the seal job. For services
/// whose backups are EC2 snapshots (AWS Backup). Call [`Snapshots::wake_worker`] after
/// committing.
pub fn seal_ec2_snapshot(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    volume_id: &str,
    description: String,
    now: DateTime<Utc>,
) -> Result<SnapshotId, EbsError> {
    let v = snapshottable_volume(&*txn, account, region, volume_id)?;
    let snap = queue_ec2_snapshot(txn, &v, ec2_id("snap")?, description, Vec::new(), now)?;
    Ok(SnapshotId(snap.id))
}

/// EC2 volume `volume_id` of `account` in `region`, if a snapshot of it may be taken now
/// (available or in use); EC2 CreateSnapshot's and [`seal_ec2_snapshot`]'s first check.
pub(crate) fn snapshottable_volume(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    volume_id: &str,
) -> Result<VolumeRecord, EbsError> {
    let v = store::get_volume(txn, account, region, volume_id)?
        .filter(|v| v.managed_by.is_none())
        .ok_or_else(|| EbsError::VolumeNotFound {
            id: volume_id.to_owned(),
        })?;
    if !matches!(v.state, VolumeState::Available | VolumeState::InUse) {
        return Err(EbsError::IncorrectState(format!(
            "The volume '{volume_id}' is '{}'",
            v.state.as_str()
        )));
    }
    Ok(v)
}

/// Queues in `txn` the pending EC2 snapshot `id` of volume `v` (its lineage, so its key) and
/// the seal job that fills it.
pub(crate) fn queue_ec2_snapshot(
    txn: &mut dyn WriteTxn,
    v: &VolumeRecord,
    id: String,
    description: String,
    tags: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Result<SnapshotRecord, EbsError> {
    let lineage = store::get_lineage(&*txn, &v.lineage)?
        .ok_or(EbsError::Internal("volume without lineage"))?;
    let snap = SnapshotRecord {
        tags,
        data_encryption_key_id: v.encrypted.then(|| lineage.data_key_id.clone()),
        ..SnapshotRecord::pending_of(v, id, description, now)
    };
    crate::workers::seal::queue(txn, &snap, now)?;
    Ok(snap)
}

/// EC2 snapshots a service manages (AWS Backup's recovery points): `{snapshot id}` → the
/// service principal. EC2 DeleteSnapshot refuses them.
pub const T_SERVICE_SNAPSHOTS: &str = "ebs_service_snapshots";
const SERVICE_SNAPSHOTS: kmsnap_store::Table<ServiceSnapshot> =
    kmsnap_store::Table::new(T_SERVICE_SNAPSHOTS);

/// The service principal managing an EC2 snapshot, stored as the bare string.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct ServiceSnapshot(String);
kmsnap_store::first_version!(ServiceSnapshot);

/// Marks EC2 snapshot `id` as managed by `service` in `txn`.
pub fn mark_service_snapshot(
    txn: &mut dyn WriteTxn,
    id: &SnapshotId,
    service: &str,
) -> Result<(), EbsError> {
    SERVICE_SNAPSHOTS.put(
        txn,
        id.as_str().as_bytes(),
        &ServiceSnapshot(service.to_owned()),
    )?;
    Ok(())
}

/// Removes [`mark_service_snapshot`]'s mark of `id`, if any.
pub fn unmark_service_snapshot(txn: &mut dyn WriteTxn, id: &SnapshotId) -> Result<(), EbsError> {
    SERVICE_SNAPSHOTS.delete(txn, id.as_str().as_bytes())?;
    Ok(())
}

/// The service managing EC2 snapshot `id`, if one does.
pub fn snapshot_service(txn: &dyn ReadTxn, id: &str) -> Result<Option<String>, EbsError> {
    Ok(SERVICE_SNAPSHOTS.get(txn, id.as_bytes())?.map(|s| s.0))
}

#[cfg(test)]
mod tests;
