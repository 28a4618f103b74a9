//! CreateDBInstance, DescribeDBInstances, DeleteDBInstance, ModifyDBInstance, StopDBInstance,
//! StartDBInstance, RebootDBInstance (docs/rds.md §1–§3, §8, §9).
//!
//! A new instance gets an empty backing volume in the EBS block store (size
//! `AllocatedStorage` GiB, blocks exist only when written) whose data key KMS generates for the
//! caller through RDS under the instance's key — so an unusable key fails the call with
//! `KMSKeyNotAccessibleFault` — and starts `creating`; the worker moves it through
//! `backing-up` to `available`. Encryption is fixed at creation (docs/rds.md §3): `KmsKeyId` needs
//! `StorageEncrypted`, and `StorageEncrypted` without a key means `aws/rds`; ModifyDBInstance
//! has no member that could change it (docs/rds.md §9).
//!
//! Lifecycle operations set the first state of their transition (`modifying`, `stopping`,
//! `starting`, `rebooting`) and the worker moves it one state per step, so a waiter never
//! misses one. Modifications apply at once, whatever `ApplyImmediately` says (there is no
//! maintenance window): a larger `AllocatedStorage` grows the backing volume in the same
//! transaction; `BackupRetentionPeriod` 0 deletes the instance's automated snapshots.

use super::common::{self, check_filters, select, tags_from, tags_to_api, Query};
use crate::backing::{self, drop_automated, start_snapshot, Backed};
use crate::cluster::model::{cluster_arn, ClusterRecord, MemberOp};
use crate::cluster::store as cstore;
use crate::error::RdsError;
use crate::model::{
    arn, database_name, identifier, master_username, new_dbi_resource_id, DbInstanceRecord,
    InstanceStatus, RdsKind, ReplicaRecord, ENGINES,
};
use crate::{store, Rds};
use chrono::{DateTime, Utc};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::Region;
use kmsnap_snapshots::managed;
use kmsnap_store::WriteTxn;
use std::collections::BTreeMap;

const FILTERS: &[&str] = &[
    "db-cluster-id",
    "db-instance-id",
    "dbi-resource-id",
    "engine",
];

/// The Aurora view of an instance of `cluster` (docs/rds.md §3): its cluster, the cluster's
/// backups, and the cluster's status while that stops the instances.
pub fn decorate_member(out: &mut rds::DBInstance, cluster: &ClusterRecord) {
    out.db_cluster_identifier = Some(cluster.identifier.clone());
    out.backup_retention_period = Some(cluster.backup_retention_period);
    out.storage_encrypted = Some(cluster.storage_encrypted);
    out.kms_key_id = cluster.kms_key_arn.clone();
    out.storage_type = Some("aurora".into());
    if cluster.status.overrides_instances() {
        out.db_instance_status = Some(cluster.status.as_str().to_owned());
        out.endpoint = None;
    }
}

/// Adds the read-replica fields to `out` (the response form of `rec`): its source, or its
/// replicas. A resource of another region is named by ARN.
pub fn decorate_replication(
    out: &mut rds::DBInstance,
    rec: &DbInstanceRecord,
    replicas: &[ReplicaRecord],
) {
    let shown = |region: Region, id: &str, arn: String| {
        if region == rec.region {
            id.to_owned()
        } else {
            arn
        }
    };
    if let Some(r) = replicas.iter().find(|r| {
        r.account == rec.account && r.region == rec.region && r.identifier == rec.identifier
    }) {
        out.read_replica_source_db_instance_identifier =
            Some(shown(r.source_region, &r.source_identifier, r.source_arn()));
    }
    let mine: Vec<String> = replicas
        .iter()
        .filter(|r| {
            r.account == rec.account
                && r.source_region == rec.region
                && r.source_identifier == rec.identifier
        })
        .map(|r| {
            shown(
                r.region,
                &r.identifier,
                arn(r.account, r.region, RdsKind::Db, &r.identifier),
            )
        })
        .collect();
    out.read_replica_db_instance_identifiers = Some(mine);
}

/// The response form of an instance, with its cluster's view when it is an Aurora instance.
pub fn to_api_in(r: &DbInstanceRecord, cluster: Option<&ClusterRecord>) -> rds::DBInstance {
    let mut out = to_api(r);
    if let Some(c) = cluster {
        decorate_member(&mut out, c);
    }
    out
}

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
            address: Some(format!(
                "{}.kmsnap.{}.rds.amazonaws.com",
                r.identifier, r.region
            )),
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
        storage_encryption_type: Some(if r.storage_encrypted {
            rds::StorageEncryptionType::SseKms
        } else {
            rds::StorageEncryptionType::None
        }),
        kms_key_id: r.kms_key_arn.clone(),
        dbi_resource_id: Some(r.dbi_resource_id.clone()),
        db_instance_arn: Some(r.arn()),
        tag_list: tags_to_api(&r.tags),
        copy_tags_to_snapshot: Some(r.copy_tags_to_snapshot),
        deletion_protection: Some(r.deletion_protection),
        latest_restorable_time: r.last_automated_backup.map(Timestamp),
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

pub async fn create(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBInstanceMessage,
) -> Result<rds::CreateDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let engine = input.engine.to_ascii_lowercase();
    if engine.starts_with("aurora") || input.db_cluster_identifier.is_some() {
        return Err(RdsError::NotImplemented("CreateDBInstance"));
    }
    if !ENGINES.contains(&engine.as_str()) {
        return Err(RdsError::InvalidParameterValue(format!(
            "Invalid DB engine: {}",
            input.engine
        )));
    }
    // AWS's per-engine rules for the names (docs/fidelity.md §2).
    master_username(&engine, input.master_username.as_deref())?;
    if let Some(name) = &input.db_name {
        database_name("DBName", &engine, name)?;
    }
    let storage = input.allocated_storage.ok_or_else(|| {
        RdsError::InvalidParameterValue("AllocatedStorage is required for this engine.".into())
    })?;
    if !(20..=65_536).contains(&storage) {
        return Err(RdsError::InvalidParameterValue(format!(
            "Invalid storage size for engine name {engine} and storage type gp2: {storage}"
        )));
    }
    let retention = input.backup_retention_period.unwrap_or(1);
    check_retention(retention)?;
    let encrypted =
        common::storage_encrypted(input.kms_key_id.as_deref(), input.storage_encrypted)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    backing::ensure_free::<DbInstanceRecord>(svc, ctx, &id).await?;
    let key_arn = common::creation_key(svc, ctx, input.kms_key_id.as_deref(), encrypted).await?;
    let dbi = new_dbi_resource_id()?;
    let volume = common::new_volume(svc, ctx, &dbi, storage, key_arn.as_deref()).await?;
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: dbi,
        status: InstanceStatus::Creating,
        engine: engine.clone(),
        engine_version: input
            .engine_version
            .clone()
            .unwrap_or_else(|| default_version(&engine).to_owned()),
        instance_class: input.db_instance_class.clone(),
        allocated_storage: storage,
        storage_encrypted: encrypted,
        kms_key_arn: key_arn,
        backup_retention_period: retention,
        master_username: input.master_username.clone(),
        db_name: input.db_name.clone(),
        port: input.port.unwrap_or_else(|| default_port(&engine)),
        availability_zone: input
            .availability_zone
            .clone()
            .unwrap_or_else(|| format!("{region}a")),
        tags: tags_from(input.tags.as_deref()),
        volume_id: volume.id(),
        created: now,
        copy_tags_to_snapshot: input.copy_tags_to_snapshot.unwrap_or(false),
        deletion_protection: input.deletion_protection.unwrap_or(false),
        last_automated_backup: None,
        status_since: Some(now),
        cluster: None,
    };
    let logged = rds::CreateDBInstanceMessage {
        master_user_password: None,
        ..input
    };
    let event = common::event(
        ctx,
        "CreateDBInstance",
        &logged,
        "AWS::RDS::DBInstance",
        &rec.arn(),
    );
    backing::insert_new(svc, rec.clone(), volume, |_| Ok(()), event).await?;
    Ok(rds::CreateDBInstanceResult {
        db_instance: Some(to_api(&rec)),
    })
}

pub async fn describe(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBInstancesMessage,
) -> Result<rds::DBInstanceMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let (all, replicas, clusters) = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let all = store::instances(&*txn, Some((account, region)))?;
        let mut clusters = BTreeMap::new();
        for id in all.iter().filter_map(|r| r.cluster.as_deref()) {
            if !clusters.contains_key(id) {
                if let Some(c) = cstore::get_cluster(&*txn, account, region, id)? {
                    clusters.insert(id.to_owned(), c);
                }
            }
        }
        Ok((all, store::replicas(&*txn)?, clusters))
    })
    .await??;
    let q = Query {
        named: input.db_instance_identifier.as_deref(),
        filters: input.filters.as_deref(),
        max_records: input.max_records,
        marker: input.marker.as_deref(),
    };
    let field = |r: &DbInstanceRecord, name: &str| match name {
        "db-instance-id" => vec![r.identifier.clone(), r.arn()],
        // Cluster identifiers or ARNs.
        "db-cluster-id" => r
            .cluster
            .iter()
            .flat_map(|c| [c.clone(), cluster_arn(r.account, r.region, c)])
            .collect(),
        "dbi-resource-id" => vec![r.dbi_resource_id.clone()],
        "engine" => vec![r.engine.clone()],
        _ => vec![],
    };
    let (items, marker) = select(
        all,
        &q,
        |r| r.identifier.as_str(),
        field,
        |id| RdsError::InstanceNotFound { id },
    )?;
    let out = items
        .iter()
        .map(|r| {
            let mut o = to_api(r);
            decorate_replication(&mut o, r, &replicas);
            // Aurora instances show their cluster (crate::cluster).
            if let Some(c) = r.cluster.as_ref().and_then(|c| clusters.get(c)) {
                decorate_member(&mut o, c);
            }
            o
        })
        .collect();
    Ok(rds::DBInstanceMessage {
        marker,
        db_instances: Some(out),
    })
}

/// Deletes the instance and its storage; with `FinalDBSnapshotIdentifier` a manual snapshot
/// is sealed from the storage first, in the same transaction (so it keeps the data). Its
/// automated snapshots go too, unless `DeleteAutomatedBackups=false`.
pub async fn delete(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DeleteDBInstanceMessage,
) -> Result<rds::DeleteDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    // Checked below, after the Aurora case, which takes no final snapshot.
    let final_id = common::final_snapshot(
        input.final_db_snapshot_identifier.as_deref(),
        input.skip_final_snapshot,
    );
    let keep_automated = input.delete_automated_backups == Some(false);
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let event = common::event_on(ctx, "DeleteDBInstance", &input, RdsKind::Db, &id);
    let meta = svc.meta.clone();
    let out = crate::blocking(move || -> Result<rds::DBInstance, RdsError> {
        let mut txn = meta.write()?;
        let found = store::get_instance(&*txn, account, region, &id)?;
        if let Some(rec) = found.as_ref().filter(|r| r.cluster.is_some()) {
            return delete_member(txn, rec, event);
        }
        let final_id = final_id?;
        let mut rec = found.ok_or_else(|| RdsError::InstanceNotFound { id: id.clone() })?;
        if rec.deletion_protection {
            return Err(RdsError::DeletionProtected { id });
        }
        if let Some(final_id) = final_id {
            if store::get_replica(&*txn, account, region, &id)?.is_some() {
                return Err(RdsError::InvalidParameterCombination(
                    "FinalDBSnapshotIdentifier can't be specified when deleting a read replica."
                        .into(),
                ));
            }
            if !matches!(
                rec.status,
                InstanceStatus::Available | InstanceStatus::Stopped
            ) {
                return Err(RdsError::InvalidInstanceState {
                    id: id.clone(),
                    status: rec.status.as_str().to_owned(),
                });
            }
            // Sealed below with the other pending snapshots of the volume.
            start_snapshot(txn.as_mut(), &rec, &final_id, "manual", Vec::new(), now)?;
        }
        backing::drop_resource(txn.as_mut(), &rec, keep_automated, now)?;
        common::commit(txn, &[event])?;
        rec.status = InstanceStatus::Deleting;
        Ok(to_api(&rec))
    })
    .await??;
    Ok(rds::DeleteDBInstanceResult {
        db_instance: Some(out),
    })
}

/// DeleteDBInstance of an Aurora instance `rec` (docs/rds.md §3): it leaves its cluster, whose
/// storage stays; no final snapshot (the cluster's snapshots back it up).
fn delete_member(
    mut txn: Box<dyn WriteTxn + '_>,
    rec: &DbInstanceRecord,
    event: kmsnap_audit::Event,
) -> Result<rds::DBInstance, RdsError> {
    let cid = rec.cluster.clone().unwrap_or_default();
    let mut cluster = cstore::get_cluster(&*txn, rec.account, rec.region, &cid)?
        .ok_or_else(|| RdsError::ClusterNotFound { id: cid.clone() })?;
    if rec.deletion_protection {
        return Err(RdsError::DeletionProtected {
            id: rec.identifier.clone(),
        });
    }
    cluster.members.retain(|m| *m != rec.identifier);
    cstore::put_cluster(txn.as_mut(), &cluster)?;
    store::delete_instance(txn.as_mut(), rec)?;
    common::commit(txn, &[event])?;
    let mut out = to_api_in(rec, Some(&cluster));
    out.db_instance_status = Some("deleting".into());
    Ok(out)
}

fn check_retention(retention: i32) -> Result<(), RdsError> {
    if (0..=35).contains(&retention) {
        Ok(())
    } else {
        Err(RdsError::InvalidParameterValue(format!(
            "Invalid backup retention period: {retention}. Must be between 0 and 35."
        )))
    }
}

/// [`backing::change`] for instance `id` of the caller: refuses it if it is an Aurora instance
/// whose cluster refuses one of `refused` (before the request's own `checked` parameters, then
/// not-found, as AWS answers), lets `change` act on it (and on the transaction) with
/// `checked`'s value, moves it if `change` renamed it, and returns it with its cluster as of
/// that transaction.
async fn change_instance<V, F>(
    svc: &Rds,
    ctx: &RequestContext,
    id: String,
    refused: &'static [MemberOp],
    checked: Result<V, RdsError>,
    event: kmsnap_audit::Event,
    change: F,
) -> Result<(DbInstanceRecord, Option<ClusterRecord>), RdsError>
where
    V: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn, &mut DbInstanceRecord, V) -> Result<(), RdsError> + Send + 'static,
{
    backing::change(svc, ctx, id.clone(), event, move |txn, found| {
        let mut cluster = match &found {
            Some(rec) => cstore::check_member(&*txn, rec, refused)?,
            None => None,
        };
        let value = checked?;
        let mut rec = found.ok_or_else(|| RdsError::InstanceNotFound { id: id.clone() })?;
        let before = rec.identifier.clone();
        change(txn, &mut rec, value)?;
        if rec.identifier != before {
            let old = DbInstanceRecord {
                identifier: before,
                ..rec.clone()
            };
            store::delete_instance(txn, &old)?;
            // A renamed Aurora instance stays its cluster's member under the new name.
            if let Some(c) = &mut cluster {
                for m in c.members.iter_mut().filter(|m| **m == old.identifier) {
                    m.clone_from(&rec.identifier);
                }
                cstore::put_cluster(txn, c)?;
            }
        }
        Ok((rec, cluster))
    })
    .await
}

fn set_status(rec: &mut DbInstanceRecord, status: InstanceStatus, now: DateTime<Utc>) {
    rec.status = status;
    rec.status_since = Some(now);
}

/// The new `AllocatedStorage` of `rec`: larger by at least 10%, at most 65,536 GiB.
fn grown_storage(rec: &DbInstanceRecord, wanted: i32) -> Result<i32, RdsError> {
    if wanted == rec.allocated_storage {
        return Ok(wanted);
    }
    if !(20..=65_536).contains(&wanted) || wanted < rec.allocated_storage {
        return Err(RdsError::InvalidParameterCombination(format!(
            "Invalid storage size for engine name {} and storage type gp2: {wanted}",
            rec.engine
        )));
    }
    if i64::from(wanted) * 10 < i64::from(rec.allocated_storage) * 11 {
        return Err(RdsError::InvalidParameterCombination(
            "The allocated storage must be increased by at least 10 percent.".into(),
        ));
    }
    Ok(wanted)
}

pub async fn modify(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ModifyDBInstanceMessage,
) -> Result<rds::ModifyDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    // Checked after an Aurora instance's refusals (in `change_instance`).
    let checked = (|| {
        let new_id = match &input.new_db_instance_identifier {
            Some(n) => Some(identifier("NewDBInstanceIdentifier", n)?),
            None => None,
        };
        if let Some(r) = input.backup_retention_period {
            check_retention(r)?;
        }
        Ok(new_id)
    })();
    // Aurora instances' storage is the cluster's (docs/rds.md §3).
    let refused: &[MemberOp] = if input.allocated_storage.is_some()
        || input.storage_type.is_some()
        || input.iops.is_some()
    {
        &[MemberOp::ModifyStorage, MemberOp::Change]
    } else {
        &[MemberOp::Change]
    };
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let logged = rds::ModifyDBInstanceMessage {
        master_user_password: None,
        tde_credential_password: None,
        ..input.clone()
    };
    let event = common::event_on(ctx, "ModifyDBInstance", &logged, RdsKind::Db, &id);
    let (rec, cluster) = change_instance(
        svc,
        ctx,
        id,
        refused,
        checked,
        event,
        move |txn, rec, new_id| {
            rec.require_available()?;
            if let Some(n) = &new_id {
                if *n != rec.identifier && store::get_instance(&*txn, account, region, n)?.is_some()
                {
                    return Err(RdsError::InstanceAlreadyExists { id: n.clone() });
                }
                if store::in_replication(&*txn, account, region, &rec.identifier)? {
                    return Err(RdsError::InvalidParameterCombination(
                    "A DB instance that is a read replica or has read replicas cannot be renamed."
                        .into(),
                ));
                }
            }
            if let Some(wanted) = input.allocated_storage {
                let size = grown_storage(rec, wanted)?;
                if size != rec.allocated_storage {
                    managed::resize_volume(txn, account, region, &rec.volume_id, size)?;
                    rec.allocated_storage = size;
                }
            }
            if let Some(r) = input.backup_retention_period {
                // Read replicas copy from the source's backups: a source keeps them.
                if r == 0
                    && store::replicas(&*txn)?.iter().any(|x| {
                        x.account == account
                            && x.source_region == region
                            && x.source_identifier == rec.identifier
                    })
                {
                    return Err(RdsError::InvalidParameterCombination(
                    "The backup retention period of a DB instance with read replicas cannot be 0."
                        .into(),
                ));
                }
                if r == 0 {
                    drop_automated(txn, rec)?;
                    rec.last_automated_backup = None;
                }
                rec.backup_retention_period = r;
            }
            if let Some(c) = input.db_instance_class {
                rec.instance_class = c;
            }
            if let Some(p) = input.db_port_number {
                rec.port = p;
            }
            if let Some(c) = input.copy_tags_to_snapshot {
                rec.copy_tags_to_snapshot = c;
            }
            if let Some(d) = input.deletion_protection {
                rec.deletion_protection = d;
            }
            if let Some(n) = new_id {
                rec.identifier = n;
            }
            set_status(rec, InstanceStatus::Modifying, now);
            Ok(())
        },
    )
    .await?;
    Ok(rds::ModifyDBInstanceResult {
        db_instance: Some(to_api_in(&rec, cluster.as_ref())),
    })
}

/// StopDBInstance: `available` → `stopping` → `stopped`; with `DBSnapshotIdentifier` a manual
/// snapshot is taken first.
pub async fn stop(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::StopDBInstanceMessage,
) -> Result<rds::StopDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    // Checked after an Aurora instance's refusal (in `change_instance`).
    let snap_id = input
        .db_snapshot_identifier
        .as_deref()
        .map(|s| identifier("DBSnapshotIdentifier", s))
        .transpose();
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let event = common::event_on(ctx, "StopDBInstance", &input, RdsKind::Db, &id);
    // Aurora instances stop with their cluster (docs/rds.md §3).
    let (rec, cluster) = change_instance(
        svc,
        ctx,
        id,
        &[MemberOp::StopOrStart],
        snap_id,
        event,
        move |txn, rec, snap_id| {
            rec.require_available()?;
            if store::in_replication(&*txn, account, region, &rec.identifier)? {
                return Err(RdsError::StopInReplication {
                    id: rec.identifier.clone(),
                });
            }
            if let Some(s) = snap_id {
                start_snapshot(txn, rec, &s, "manual", Vec::new(), now)?;
            }
            set_status(rec, InstanceStatus::Stopping, now);
            Ok(())
        },
    )
    .await?;
    svc.ebs.wake_worker();
    Ok(rds::StopDBInstanceResult {
        db_instance: Some(to_api_in(&rec, cluster.as_ref())),
    })
}

/// StartDBInstance: `stopped` → `starting` → `available`. RDS checks that it can still use the
/// storage's key (its data key is unwrapped through RDS): if not, `KMSKeyNotAccessibleFault`.
/// An instance whose key was lost starts the same way once the key is usable again
/// (docs/rds.md §8).
pub async fn start(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::StartDBInstanceMessage,
) -> Result<rds::StartDBInstanceResult, RdsError> {
    // Aurora instances start with their cluster (docs/rds.md §3).
    const REFUSED: &[MemberOp] = &[MemberOp::StopOrStart];
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let (account, now) = (ctx.principal.account, ctx.now);
    let (meta, region, id2) = (svc.meta.clone(), ctx.region, id.clone());
    let rec = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let found = store::get_instance(&*txn, account, region, &id2)?;
        if let Some(rec) = &found {
            cstore::check_member(&*txn, rec, REFUSED)?;
        }
        found.ok_or_else(|| RdsError::InstanceNotFound { id: id2.clone() })
    })
    .await??;
    let event = common::event(
        ctx,
        "StartDBInstance",
        &input,
        "AWS::RDS::DBInstance",
        &rec.arn(),
    );
    // An instance whose key was lost starts once its key is usable again (docs/rds.md §8).
    let recovering = rec.status == InstanceStatus::InaccessibleEncryptionCredentialsRecoverable
        && !crate::keystate::is_aurora(&rec);
    if recovering {
        if let Some(k) = &rec.kms_key_arn {
            let what = format!("DB instance {id}");
            crate::keystate::check_storage(svc, ctx, &rec.volume_id, k, &what).await?;
        }
    } else {
        if !startable(rec.status) {
            return Err(RdsError::CannotStart {
                id,
                status: rec.status.as_str().to_owned(),
            });
        }
        if let Err(e) = svc.ebs.check_volume_key(ctx, &rec.volume_id).await {
            tracing::info!(instance = %rec.arn(), error = %e, "start: storage key not usable");
            let key = rec.kms_key_arn.clone().unwrap_or_default();
            return Err(RdsError::KmsKeyNotAccessible { message: format!("The KMS key [{key}] of DB instance {id} does not exist, is not enabled or you do not have permissions to access it.") });
        }
    }
    let (rec, cluster) = change_instance(
        svc,
        ctx,
        id.clone(),
        REFUSED,
        Ok(()),
        event,
        move |txn, rec, ()| {
            let status = rec.status.as_str().to_owned();
            if recovering {
                if rec.status != InstanceStatus::InaccessibleEncryptionCredentialsRecoverable {
                    return Err(RdsError::InvalidInstanceState { id, status });
                }
                crate::keystate::clear_lost(txn, rec)?;
            } else if !startable(rec.status) {
                return Err(RdsError::CannotStart { id, status });
            }
            set_status(rec, InstanceStatus::Starting, now);
            Ok(())
        },
    )
    .await?;
    Ok(rds::StartDBInstanceResult {
        db_instance: Some(to_api_in(&rec, cluster.as_ref())),
    })
}

/// The states StartDBInstance accepts (docs/rds.md §8; the key-state worker's recoverable state
/// joins here).
fn startable(s: InstanceStatus) -> bool {
    matches!(s, InstanceStatus::Stopped)
}

/// RebootDBInstance: `available` → `rebooting` → `available`.
pub async fn reboot(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::RebootDBInstanceMessage,
) -> Result<rds::RebootDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let now = ctx.now;
    let event = common::event_on(ctx, "RebootDBInstance", &input, RdsKind::Db, &id);
    let (rec, cluster) = change_instance(
        svc,
        ctx,
        id,
        &[MemberOp::Change],
        Ok(()),
        event,
        move |_, rec, ()| {
            rec.require_available()?;
            set_status(rec, InstanceStatus::Rebooting, now);
            Ok(())
        },
    )
    .await?;
    Ok(rds::RebootDBInstanceResult {
        db_instance: Some(to_api_in(&rec, cluster.as_ref())),
    })
}
