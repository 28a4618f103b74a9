//! CreateDBInstance, DescribeDBInstances, DeleteDBInstance (spec/rds.md §1–§3).
//!
//! A new instance gets an empty backing volume in the EBS block store (size
//! `AllocatedStorage` GiB, blocks exist only when written) whose data key KMS generates for the
//! caller through RDS under the instance's key — so an unusable key fails the call with
//! `KMSKeyNotAccessibleFault` — and starts `creating`; the worker moves it through
//! `backing-up` to `available`. Encryption is fixed at creation (§3): `KmsKeyId` needs
//! `StorageEncrypted`, and `StorageEncrypted` without a key means `aws/rds`.

use super::common::{self, check_filters, select, tags_from, tags_to_api, Query};
use super::snapshots::{ebs_snapshot_of, new_snapshot_record};
use crate::error::RdsError;
use crate::model::{identifier, new_dbi_resource_id, DbInstanceRecord, InstanceStatus, ENGINES};
use crate::{store, Rds};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_snapshots::model::JobKind;
use kmsnap_snapshots::store as ebs_store;

const FILTERS: &[&str] = &["db-instance-id", "dbi-resource-id", "engine"];

/// The response form of an instance.
pub fn to_api(r: &DbInstanceRecord) -> rds::DBInstance {
    let available = r.status == InstanceStatus::Available;
    rds::DBInstance {
        db_instance_identifier: Some(r.identifier.clone()),
        db_instance_class: Some(r.instance_class.clone()),
        engine: Some(r.engine.clone()),
        db_instance_status: Some(r.status.as_str().to_owned()),
        master_username: r.master_username.clone(),
        db_name: r.db_name.clone(),
        endpoint: available.then(|| rds::Endpoint {
            address: Some(format!("{}.kmsnap.{}.rds.amazonaws.com", r.identifier, r.region)),
            port: Some(r.port),
            ..Default::default()
        }),
        allocated_storage: Some(r.allocated_storage),
        instance_create_time: Some(Timestamp(r.created)),
        backup_retention_period: Some(r.backup_retention_period),
        availability_zone: Some(r.availability_zone.clone()),
        multi_az: Some(false),
        engine_version: Some(r.engine_version.clone()),
        storage_type: Some("gp2".into()),
        storage_encrypted: Some(r.storage_encrypted),
        storage_encryption_type: Some(if r.storage_encrypted { rds::StorageEncryptionType::SseKms } else { rds::StorageEncryptionType::None }),
        kms_key_id: r.kms_key_arn.clone(),
        dbi_resource_id: Some(r.dbi_resource_id.clone()),
        db_instance_arn: Some(r.arn()),
        tag_list: tags_to_api(&r.tags),
        ..Default::default()
    }
}

fn default_port(engine: &str) -> i32 {
    if engine == "postgres" {
        5432
    } else {
        3306
    }
}

fn default_version(engine: &str) -> &'static str {
    match engine {
        "postgres" => "16.3",
        "mysql" => "8.0.39",
        _ => "10.11.9",
    }
}

pub async fn create(svc: &Rds, ctx: &RequestContext, input: rds::CreateDBInstanceMessage) -> Result<rds::CreateDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let engine = input.engine.to_ascii_lowercase();
    if engine.starts_with("aurora") || input.db_cluster_identifier.is_some() {
        return Err(RdsError::NotImplemented("CreateDBInstance"));
    }
    if !ENGINES.contains(&engine.as_str()) {
        return Err(RdsError::InvalidParameterValue(format!("Invalid DB engine: {}", input.engine)));
    }
    let storage = input.allocated_storage.ok_or_else(|| RdsError::InvalidParameterValue("AllocatedStorage is required for this engine.".into()))?;
    if !(20..=65_536).contains(&storage) {
        return Err(RdsError::InvalidParameterValue(format!("Invalid storage size for engine name {engine} and storage type gp2: {storage}")));
    }
    let retention = input.backup_retention_period.unwrap_or(1);
    if !(0..=35).contains(&retention) {
        return Err(RdsError::InvalidParameterValue(format!("Invalid backup retention period: {retention}. Must be between 0 and 35.")));
    }
    let encrypted = input.storage_encrypted.unwrap_or(false);
    if input.kms_key_id.is_some() && !encrypted {
        return Err(RdsError::InvalidParameterCombination("KmsKeyId requires StorageEncrypted to be true.".into()));
    }
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let (meta, id2) = (svc.meta.clone(), id.clone());
    if crate::blocking(move || store::get_instance(meta.read()?.as_ref(), account, region, &id2)).await??.is_some() {
        return Err(RdsError::InstanceAlreadyExists { id });
    }
    let key_arn = match (&input.kms_key_id, encrypted) {
        (Some(k), _) => Some(common::resolve_key(svc, ctx, k).await?),
        (None, true) => Some(common::default_key(svc, ctx).await?),
        (None, false) => None,
    };
    let dbi = new_dbi_resource_id()?;
    let (volume, lineage) = common::new_volume(svc, ctx, &dbi, storage, key_arn.as_deref()).await?;
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: dbi,
        status: InstanceStatus::Creating,
        engine: engine.clone(),
        engine_version: input.engine_version.clone().unwrap_or_else(|| default_version(&engine).to_owned()),
        instance_class: input.db_instance_class.clone(),
        allocated_storage: storage,
        storage_encrypted: encrypted,
        kms_key_arn: key_arn,
        backup_retention_period: retention,
        master_username: input.master_username.clone(),
        db_name: input.db_name.clone(),
        port: input.port.unwrap_or_else(|| default_port(&engine)),
        availability_zone: input.availability_zone.clone().unwrap_or_else(|| format!("{region}a")),
        tags: tags_from(input.tags.as_deref()),
        volume_id: volume.id.clone(),
        created: now,
    };
    let logged = rds::CreateDBInstanceMessage { master_user_password: None, ..input };
    let event = common::event(ctx, "CreateDBInstance", &logged, "AWS::RDS::DBInstance", &rec.arn());
    let (meta, r) = (svc.meta.clone(), rec.clone());
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        if store::get_instance(&*txn, account, region, &r.identifier)?.is_some() {
            return Err(RdsError::InstanceAlreadyExists { id: r.identifier.clone() });
        }
        ebs_store::put_lineage(txn.as_mut(), &lineage)?;
        ebs_store::put_volume(txn.as_mut(), &volume)?;
        store::put_instance(txn.as_mut(), &r)?;
        common::commit(txn, &[event])
    })
    .await??;
    Ok(rds::CreateDBInstanceResult { db_instance: Some(to_api(&rec)) })
}

pub async fn describe(svc: &Rds, ctx: &RequestContext, input: rds::DescribeDBInstancesMessage) -> Result<rds::DBInstanceMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let all = crate::blocking(move || store::instances(meta.read()?.as_ref(), Some((account, region)))).await??;
    let q = Query { named: input.db_instance_identifier.as_deref(), filters: input.filters.as_deref(), max_records: input.max_records, marker: input.marker.as_deref() };
    let field = |r: &DbInstanceRecord, name: &str| match name {
        "db-instance-id" => vec![r.identifier.clone(), r.arn()],
        "dbi-resource-id" => vec![r.dbi_resource_id.clone()],
        "engine" => vec![r.engine.clone()],
        _ => vec![],
    };
    let (items, marker) = select(all, &q, |r| r.identifier.as_str(), field, |id| RdsError::InstanceNotFound { id })?;
    Ok(rds::DBInstanceMessage { marker, db_instances: Some(items.iter().map(to_api).collect()) })
}

/// Deletes the instance and its storage; with `FinalDBSnapshotIdentifier` a manual snapshot
/// is sealed from the storage first, in the same transaction (so it keeps the data).
pub async fn delete(svc: &Rds, ctx: &RequestContext, input: rds::DeleteDBInstanceMessage) -> Result<rds::DeleteDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let skip = input.skip_final_snapshot.unwrap_or(false);
    let final_id = match (&input.final_db_snapshot_identifier, skip) {
        (Some(_), true) => {
            return Err(RdsError::InvalidParameterCombination("Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.".into()));
        }
        (None, false) => {
            return Err(RdsError::InvalidParameterCombination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.".into()));
        }
        (Some(f), false) => Some(identifier("FinalDBSnapshotIdentifier", f)?),
        (None, true) => None,
    };
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let arn = format!("arn:aws:rds:{region}:{account}:db:{id}");
    let event = common::event(ctx, "DeleteDBInstance", &input, "AWS::RDS::DBInstance", &arn);
    let meta = svc.meta.clone();
    let rec = crate::blocking(move || -> Result<DbInstanceRecord, RdsError> {
        let mut txn = meta.write()?;
        let mut rec = store::get_instance(&*txn, account, region, &id)?.ok_or_else(|| RdsError::InstanceNotFound { id: id.clone() })?;
        let volume = ebs_store::get_volume(&*txn, account, region, &rec.volume_id)?.ok_or(RdsError::Internal("instance without volume"))?;
        if let Some(final_id) = final_id {
            if rec.status != InstanceStatus::Available {
                return Err(RdsError::InvalidInstanceState { id: id.clone(), status: rec.status.as_str().to_owned() });
            }
            if store::get_snapshot(&*txn, account, region, &final_id)?.is_some() {
                return Err(RdsError::SnapshotAlreadyExists { id: final_id });
            }
            let ebs = ebs_snapshot_of(&rec, &volume, now)?;
            let snap = new_snapshot_record(&rec, &final_id, &ebs.id, now, Vec::new());
            let total = ebs_store::count_blocks(&*txn, &volume.id)?;
            let job = kmsnap_snapshots::model::JobRecord::new(&ebs.id, account, region, JobKind::Seal { volume_id: volume.id.clone() }, total, None, now);
            ebs_store::put_snapshot(txn.as_mut(), &ebs)?;
            store::put_snapshot(txn.as_mut(), &snap)?;
            // Sealed now: the volume's manifest goes below.
            kmsnap_snapshots::workers::seal::finish(txn.as_mut(), job, now)?;
        }
        // Snapshots still sealing from the volume keep its data as of their creation.
        for job in ebs_store::jobs(&*txn, usize::MAX)? {
            if matches!(&job.kind, JobKind::Seal { volume_id } if *volume_id == volume.id) {
                kmsnap_snapshots::workers::seal::finish(txn.as_mut(), job, now)?;
            }
        }
        ebs_store::delete_blocks(txn.as_mut(), &volume.id)?;
        ebs_store::delete_volume(txn.as_mut(), &volume)?;
        store::delete_instance(txn.as_mut(), &rec)?;
        common::commit(txn, &[event])?;
        rec.status = InstanceStatus::Deleting;
        Ok(rec)
    })
    .await??;
    Ok(rds::DeleteDBInstanceResult { db_instance: Some(to_api(&rec)) })
}
