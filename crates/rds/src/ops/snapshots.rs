//! CreateDBSnapshot, DescribeDBSnapshots, DeleteDBSnapshot, CopyDBSnapshot (same region) and
//! RestoreDBInstanceFromDBSnapshot (spec/rds.md §4, §5, §7).
//!
//! Every DB snapshot is backed by an EBS snapshot marked as managed by RDS, so the EBS workers
//! move its bytes: CreateDBSnapshot queues a `Seal` of the instance's volume (same lineage,
//! same key), CopyDBSnapshot a `Copy` job (blobs shared under the same key; re-encrypted block
//! by block under a new one, the data key generated through RDS with the source instance's
//! `DbiResourceId` as context). The RDS worker mirrors the EBS snapshot's progress and state.
//! A restore inherits the snapshot's key (the operation has no `KmsKeyId`): its new volume
//! joins the snapshot's lineage, the manifest copied, no byte moved.

use super::common::{self, check_filters, select, tags_from, tags_to_api, Query};
use super::instances;
use crate::error::RdsError;
use crate::model::{identifier, new_dbi_resource_id, DbInstanceRecord, DbSnapshotRecord, InstanceStatus, SnapshotStatus};
use crate::{store, Rds};
use chrono::{DateTime, Utc};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::blocks;
use kmsnap_snapshots::model::{JobCaller, JobKind, JobRecord, KeyUse, Permissions, SnapshotOrigin, SnapshotRecord, SnapshotState, VolumeRecord};
use kmsnap_snapshots::store as ebs_store;

const FILTERS: &[&str] = &["db-instance-id", "db-snapshot-id", "dbi-resource-id", "snapshot-type", "engine"];

/// Manifest rows copied per page when a restored volume joins a snapshot's lineage.
const PAGE: usize = 4096;

pub fn to_api(s: &DbSnapshotRecord) -> rds::DBSnapshot {
    rds::DBSnapshot {
        db_snapshot_identifier: Some(s.identifier.clone()),
        db_instance_identifier: Some(s.instance_identifier.clone()),
        snapshot_create_time: Some(Timestamp(s.created)),
        original_snapshot_create_time: Some(Timestamp(s.created)),
        engine: Some(s.engine.clone()),
        allocated_storage: Some(s.allocated_storage),
        status: Some(s.status.as_str().to_owned()),
        port: Some(s.port),
        availability_zone: Some(s.availability_zone.clone()),
        instance_create_time: Some(Timestamp(s.instance_created)),
        master_username: s.master_username.clone(),
        engine_version: Some(s.engine_version.clone()),
        snapshot_type: Some(s.snapshot_type.clone()),
        percent_progress: Some(s.percent_progress),
        source_db_snapshot_identifier: s.source_snapshot.clone(),
        storage_type: Some("gp2".into()),
        encrypted: Some(s.encrypted),
        storage_encryption_type: Some(if s.encrypted { rds::StorageEncryptionType::SseKms } else { rds::StorageEncryptionType::None }),
        kms_key_id: s.kms_key_arn.clone(),
        db_snapshot_arn: Some(s.arn()),
        iam_database_authentication_enabled: Some(false),
        dbi_resource_id: Some(s.dbi_resource_id.clone()),
        tag_list: tags_to_api(&s.tags),
        ..Default::default()
    }
}

/// The pending EBS snapshot that backs a DB snapshot of `rec` (sealed from `volume`).
pub(crate) fn ebs_snapshot_of(rec: &DbInstanceRecord, volume: &VolumeRecord, now: DateTime<Utc>) -> Result<SnapshotRecord, RdsError> {
    Ok(SnapshotRecord {
        id: kmsnap_core::ids::ec2_id("snap").map_err(|_| RdsError::Internal("rng"))?,
        account: rec.account,
        region: rec.region,
        volume_id: volume.id.clone(),
        volume_size: volume.size_gib,
        state: SnapshotState::Pending,
        state_message: None,
        progress: 0,
        start_time: now,
        description: format!("RDS snapshot of {}", rec.identifier),
        encrypted: volume.encrypted,
        kms_key_arn: volume.kms_key_arn.clone(),
        lineage: volume.lineage.clone(),
        tags: Vec::new(),
        permissions: Permissions::default(),
        origin: SnapshotOrigin::Volume,
        data_encryption_key_id: None,
        completed: None,
        managed_by: Some(KeyUse::Rds { db_id: rec.dbi_resource_id.clone() }),
    })
}

/// A new `creating` manual snapshot of `rec`, backed by EBS snapshot `ebs_id`.
pub(crate) fn new_snapshot_record(rec: &DbInstanceRecord, id: &str, ebs_id: &str, now: DateTime<Utc>, tags: Vec<(String, String)>) -> DbSnapshotRecord {
    DbSnapshotRecord {
        identifier: id.to_owned(),
        account: rec.account,
        region: rec.region,
        snapshot_type: "manual".into(),
        status: SnapshotStatus::Creating,
        percent_progress: 0,
        instance_identifier: rec.identifier.clone(),
        dbi_resource_id: rec.dbi_resource_id.clone(),
        engine: rec.engine.clone(),
        engine_version: rec.engine_version.clone(),
        allocated_storage: rec.allocated_storage,
        port: rec.port,
        master_username: rec.master_username.clone(),
        availability_zone: rec.availability_zone.clone(),
        instance_created: rec.created,
        encrypted: rec.storage_encrypted,
        kms_key_arn: rec.kms_key_arn.clone(),
        source_snapshot: None,
        tags,
        ebs_snapshot_id: ebs_id.to_owned(),
        created: now,
    }
}

pub async fn create(svc: &Rds, ctx: &RequestContext, input: rds::CreateDBSnapshotMessage) -> Result<rds::CreateDBSnapshotResult, RdsError> {
    let id = identifier("DBSnapshotIdentifier", &input.db_snapshot_identifier)?;
    let instance = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let arn = format!("arn:aws:rds:{region}:{account}:snapshot:{id}");
    let event = common::event(ctx, "CreateDBSnapshot", &input, "AWS::RDS::DBSnapshot", &arn);
    let tags = tags_from(input.tags.as_deref());
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<DbSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let rec = store::get_instance(&*txn, account, region, &instance)?.ok_or(RdsError::InstanceNotFound { id: instance.clone() })?;
        if rec.status != InstanceStatus::Available {
            return Err(RdsError::InvalidInstanceState { id: instance, status: rec.status.as_str().to_owned() });
        }
        if store::get_snapshot(&*txn, account, region, &id)?.is_some() {
            return Err(RdsError::SnapshotAlreadyExists { id });
        }
        let volume = ebs_store::get_volume(&*txn, account, region, &rec.volume_id)?.ok_or(RdsError::Internal("instance without volume"))?;
        let ebs = ebs_snapshot_of(&rec, &volume, now)?;
        let snap = new_snapshot_record(&rec, &id, &ebs.id, now, tags);
        let total = ebs_store::count_blocks(&*txn, &volume.id)?;
        let job = JobRecord::new(&ebs.id, account, region, JobKind::Seal { volume_id: volume.id.clone() }, total, None, now);
        ebs_store::put_snapshot(txn.as_mut(), &ebs)?;
        ebs_store::put_job(txn.as_mut(), &job)?;
        store::put_snapshot(txn.as_mut(), &snap)?;
        common::commit(txn, &[event])?;
        Ok(snap)
    })
    .await??;
    svc.ebs.wake_worker();
    Ok(rds::CreateDBSnapshotResult { db_snapshot: Some(to_api(&snap)) })
}

pub async fn describe(svc: &Rds, ctx: &RequestContext, input: rds::DescribeDBSnapshotsMessage) -> Result<rds::DBSnapshotMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let all = crate::blocking(move || store::snapshots(meta.read()?.as_ref(), Some((account, region)))).await??;
    let instance = input.db_instance_identifier.as_deref().map(|w| w.rsplit(':').next().unwrap_or(w).to_ascii_lowercase());
    // Only manual snapshots of the caller exist so far: shared/public/automated views are empty.
    let type_ok = |s: &DbSnapshotRecord| input.snapshot_type.as_deref().is_none_or(|t| t == s.snapshot_type);
    let all: Vec<DbSnapshotRecord> = all
        .into_iter()
        .filter(|s| instance.as_ref().is_none_or(|i| &s.instance_identifier == i))
        .filter(|s| input.dbi_resource_id.as_ref().is_none_or(|d| &s.dbi_resource_id == d))
        .filter(type_ok)
        .collect();
    let q = Query { named: input.db_snapshot_identifier.as_deref(), filters: input.filters.as_deref(), max_records: input.max_records, marker: input.marker.as_deref() };
    let field = |s: &DbSnapshotRecord, name: &str| match name {
        "db-instance-id" => vec![s.instance_identifier.clone(), format!("arn:aws:rds:{}:{}:db:{}", s.region, s.account, s.instance_identifier)],
        "db-snapshot-id" => vec![s.identifier.clone(), s.arn()],
        "dbi-resource-id" => vec![s.dbi_resource_id.clone()],
        "snapshot-type" => vec![s.snapshot_type.clone()],
        "engine" => vec![s.engine.clone()],
        _ => vec![],
    };
    let (items, marker) = select(all, &q, |s| s.identifier.as_str(), field, |id| RdsError::SnapshotNotFound { id })?;
    Ok(rds::DBSnapshotMessage { marker, db_snapshots: Some(items.iter().map(to_api).collect()) })
}

pub async fn delete(svc: &Rds, ctx: &RequestContext, input: rds::DeleteDBSnapshotMessage) -> Result<rds::DeleteDBSnapshotResult, RdsError> {
    let id = identifier("DBSnapshotIdentifier", &input.db_snapshot_identifier)?;
    let (account, region) = (ctx.principal.account, ctx.region);
    let arn = format!("arn:aws:rds:{region}:{account}:snapshot:{id}");
    let event = common::event(ctx, "DeleteDBSnapshot", &input, "AWS::RDS::DBSnapshot", &arn);
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<DbSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let s = store::get_snapshot(&*txn, account, region, &id)?.ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?;
        if s.status == SnapshotStatus::Creating {
            return Err(RdsError::InvalidSnapshotState { id, status: s.status.as_str().to_owned() });
        }
        if let Some(e) = ebs_store::get_snapshot(&*txn, account, region, &s.ebs_snapshot_id)? {
            ebs_store::delete_blocks(txn.as_mut(), &e.id)?;
            ebs_store::delete_snapshot(txn.as_mut(), &e)?;
        }
        store::delete_snapshot(txn.as_mut(), &s)?;
        common::commit(txn, &[event])?;
        Ok(s)
    })
    .await??;
    let mut out = to_api(&snap);
    out.status = Some("deleted".into());
    Ok(rds::DeleteDBSnapshotResult { db_snapshot: Some(out) })
}

/// A snapshot named by plain identifier or by ARN. Other accounts' (shared) and other regions'
/// snapshots are not built yet.
fn own_snapshot_id(param: &str, value: &str, account: AccountId, region: Region, op: &'static str) -> Result<String, RdsError> {
    match value.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = value.splitn(7, ':').collect();
            match parts.as_slice() {
                ["arn", "aws", "rds", r, a, "snapshot", id] if *r == region.as_str() && *a == account.as_str() => identifier(param, id),
                ["arn", "aws", "rds", _, _, "snapshot", _] => Err(RdsError::NotImplemented(op)),
                _ => Err(RdsError::InvalidParameterValue(format!("Invalid snapshot identifier: {value}"))),
            }
        }
        None => identifier(param, value),
    }
}

pub async fn copy(svc: &Rds, ctx: &RequestContext, input: rds::CopyDBSnapshotMessage) -> Result<rds::CopyDBSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let source_id = own_snapshot_id("SourceDBSnapshotIdentifier", &input.source_db_snapshot_identifier, account, region, "CopyDBSnapshot")?;
    let target_id = identifier("TargetDBSnapshotIdentifier", &input.target_db_snapshot_identifier)?;
    let (meta, sid) = (svc.meta.clone(), source_id.clone());
    let source = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let s = store::get_snapshot(&*txn, account, region, &sid)?;
        let e = match &s {
            Some(s) => ebs_store::get_snapshot(&*txn, account, region, &s.ebs_snapshot_id)?,
            None => None,
        };
        Ok(s.zip(e))
    })
    .await??;
    let (source, source_ebs) = source.ok_or_else(|| RdsError::SnapshotNotFound { id: input.source_db_snapshot_identifier.clone() })?;
    if source.status != SnapshotStatus::Available || source_ebs.state != SnapshotState::Completed {
        return Err(RdsError::InvalidSnapshotState { id: source.identifier, status: source.status.as_str().to_owned() });
    }
    // Key outcome (spec §5): a named key wins (an unencrypted source becomes encrypted);
    // otherwise the source's own key, or none.
    let key = match &input.kms_key_id {
        Some(k) => Some(common::resolve_key(svc, ctx, k).await?),
        None => source.kms_key_arn.clone(),
    };
    let share_blobs = key == source.kms_key_arn;
    let ebs = SnapshotRecord {
        id: kmsnap_core::ids::ec2_id("snap").map_err(|_| RdsError::Internal("rng"))?,
        account,
        region,
        volume_id: "vol-ffffffff".into(),
        volume_size: source_ebs.volume_size,
        state: SnapshotState::Pending,
        state_message: None,
        progress: 0,
        start_time: now,
        description: format!("RDS copy of {}", source.identifier),
        encrypted: key.is_some(),
        kms_key_arn: key.clone(),
        lineage: if share_blobs { source_ebs.lineage.clone() } else { String::new() },
        tags: Vec::new(),
        permissions: Permissions::default(),
        origin: SnapshotOrigin::Copy { source_snapshot: source_ebs.id.clone(), source_region: region, source_account: account },
        data_encryption_key_id: if share_blobs { source_ebs.data_encryption_key_id.clone() } else { None },
        completed: None,
        managed_by: Some(KeyUse::Rds { db_id: source.dbi_resource_id.clone() }),
    };
    let mut tags = tags_from(input.tags.as_deref());
    if input.copy_tags == Some(true) {
        for t in &source.tags {
            if !tags.iter().any(|(k, _)| k == &t.0) {
                tags.push(t.clone());
            }
        }
    }
    let snap = DbSnapshotRecord {
        identifier: target_id.clone(),
        status: SnapshotStatus::Creating,
        percent_progress: 0,
        encrypted: key.is_some(),
        kms_key_arn: key,
        source_snapshot: Some(source.arn()),
        tags,
        ebs_snapshot_id: ebs.id.clone(),
        created: now,
        ..source.clone()
    };
    let logged = rds::CopyDBSnapshotMessage { pre_signed_url: None, ..input };
    let event = common::event(ctx, "CopyDBSnapshot", &logged, "AWS::RDS::DBSnapshot", &snap.arn());
    let kind = JobKind::Copy { source: source_ebs.id.clone(), source_region: region, source_account: account, share_blobs };
    let caller = JobCaller::from_context(ctx);
    let (meta, s) = (svc.meta.clone(), snap.clone());
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        if store::get_snapshot(&*txn, account, region, &s.identifier)?.is_some() {
            return Err(RdsError::SnapshotAlreadyExists { id: s.identifier.clone() });
        }
        let total = ebs_store::count_blocks(&*txn, &source_ebs.id)?;
        ebs_store::put_snapshot(txn.as_mut(), &ebs)?;
        ebs_store::put_job(txn.as_mut(), &JobRecord::new(&ebs.id, account, region, kind, total, Some(caller), now))?;
        store::put_snapshot(txn.as_mut(), &s)?;
        common::commit(txn, &[event])
    })
    .await??;
    svc.ebs.wake_worker();
    Ok(rds::CopyDBSnapshotResult { db_snapshot: Some(to_api(&snap)) })
}

pub async fn restore(svc: &Rds, ctx: &RequestContext, input: rds::RestoreDBInstanceFromDBSnapshotMessage) -> Result<rds::RestoreDBInstanceFromDBSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let Some(snap_param) = input.db_snapshot_identifier.clone() else {
        // DBClusterSnapshotIdentifier (Multi-AZ cluster snapshots) is not built.
        return Err(RdsError::NotImplemented("RestoreDBInstanceFromDBSnapshot"));
    };
    let snap_id = own_snapshot_id("DBSnapshotIdentifier", &snap_param, account, region, "RestoreDBInstanceFromDBSnapshot")?;
    let (meta, sid, iid) = (svc.meta.clone(), snap_id.clone(), id.clone());
    let (found, exists) = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let s = store::get_snapshot(&*txn, account, region, &sid)?;
        let e = match &s {
            Some(s) => ebs_store::get_snapshot(&*txn, account, region, &s.ebs_snapshot_id)?,
            None => None,
        };
        let lineage = match &e {
            Some(e) => ebs_store::get_lineage(&*txn, &e.lineage)?,
            None => None,
        };
        let exists = store::get_instance(&*txn, account, region, &iid)?.is_some();
        Ok((s.zip(e).zip(lineage), exists))
    })
    .await??;
    let ((snap, ebs), lineage) = found.ok_or(RdsError::SnapshotNotFound { id: snap_param })?;
    if snap.status != SnapshotStatus::Available || ebs.state != SnapshotState::Completed {
        return Err(RdsError::InvalidSnapshotState { id: snap.identifier, status: snap.status.as_str().to_owned() });
    }
    if exists {
        return Err(RdsError::InstanceAlreadyExists { id });
    }
    let storage = input.allocated_storage.unwrap_or(snap.allocated_storage);
    if storage < snap.allocated_storage {
        return Err(RdsError::InvalidParameterValue(format!("AllocatedStorage must be at least the snapshot's {} GiB.", snap.allocated_storage)));
    }
    // The new instance reads the snapshot's data: its key must be usable by the caller
    // through RDS now (a disabled key is KMSKeyNotAccessibleFault, not a later failure).
    blocks::open_lineage(&svc.kms, ctx, &lineage).await?;
    let dbi = new_dbi_resource_id()?;
    let key_use = KeyUse::Rds { db_id: dbi.clone() };
    let volume_id = kmsnap_core::ids::ec2_id("vol").map_err(|_| RdsError::Internal("rng"))?;
    if let Some(k) = &ebs.kms_key_arn {
        blocks::grant_for_resource_as(&svc.kms, ctx, k, &volume_id, &key_use).await?;
    }
    let volume = common::backing_volume(ctx, volume_id.clone(), storage, ebs.kms_key_arn.clone(), &ebs.lineage, Some(ebs.id.clone()), key_use);
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: dbi,
        status: InstanceStatus::Creating,
        engine: snap.engine.clone(),
        engine_version: snap.engine_version.clone(),
        instance_class: input.db_instance_class.clone().unwrap_or_else(|| "db.t3.micro".into()),
        allocated_storage: storage,
        storage_encrypted: snap.encrypted,
        kms_key_arn: snap.kms_key_arn.clone(),
        backup_retention_period: input.backup_retention_period.unwrap_or(1),
        master_username: snap.master_username.clone(),
        db_name: input.db_name.clone(),
        port: input.port.unwrap_or(snap.port),
        availability_zone: input.availability_zone.clone().unwrap_or_else(|| format!("{region}a")),
        tags: tags_from(input.tags.as_deref()),
        volume_id: volume_id.clone(),
        created: now,
    };
    let logged = rds::RestoreDBInstanceFromDBSnapshotMessage { tde_credential_password: None, ..input };
    let event = common::event(ctx, "RestoreDBInstanceFromDBSnapshot", &logged, "AWS::RDS::DBInstance", &rec.arn());
    let (meta, r, source) = (svc.meta.clone(), rec.clone(), ebs.id.clone());
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        if store::get_instance(&*txn, account, region, &r.identifier)?.is_some() {
            return Err(RdsError::InstanceAlreadyExists { id: r.identifier.clone() });
        }
        // Join the snapshot's lineage: its manifest becomes the volume's (blobs shared).
        let mut from = 0;
        loop {
            let page = ebs_store::blocks_from(&*txn, &source, from, PAGE)?;
            for (i, b) in &page {
                ebs_store::put_block(txn.as_mut(), &volume_id, *i, b)?;
            }
            match page.last() {
                Some((i, _)) if page.len() == PAGE => from = i + 1,
                _ => break,
            }
        }
        ebs_store::put_volume(txn.as_mut(), &volume)?;
        store::put_instance(txn.as_mut(), &r)?;
        common::commit(txn, &[event])
    })
    .await??;
    Ok(rds::RestoreDBInstanceFromDBSnapshotResult { db_instance: Some(instances::to_api(&rec)) })
}
