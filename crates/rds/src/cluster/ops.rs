//! CreateDBCluster, DescribeDBClusters, ModifyDBCluster, DeleteDBCluster, StartDBCluster,
//! StopDBCluster, and the Aurora side of the instance operations (docs/rds.md §1–§3, §8).
//!
//! A cluster's storage is one managed volume (docs/managed-storage.md; its data key generated
//! through RDS with context `{"aws:rds:dbc-id": DbClusterResourceId}`), shared by
//! all of its instances: an Aurora instance is a `rds_instances` record whose `volume_id` is
//! the cluster's, naming the cluster and listed in its `members`, so `kmsnap db import/export` on an
//! instance moves the cluster's bytes. Its encryption is the cluster's, always (docs/rds.md §3).
//! A stopped or key-less cluster stops its instances: they show the cluster's status.

use super::model::*;
use super::store as cstore;
use crate::backing::{self, Backed};
use crate::model::{
    identifier, name_in, new_dbi_resource_id, DbInstanceRecord, InstanceStatus, RdsKind,
};
use crate::ops::common::{self, check_filters, select, tags_from, tags_to_api, Query};
use crate::ops::instances::decorate_member;
use crate::{store, Rds, RdsError};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_snapshots::managed::{NewVolume, VolumeSource, VolumeSpec};

const FILTERS: &[&str] = &["db-cluster-id", "db-cluster-resource-id", "engine"];

pub fn to_api(c: &ClusterRecord) -> rds::DBCluster {
    let r = c.region;
    rds::DBCluster {
        allocated_storage: Some(1),
        availability_zones: Some(vec![format!("{r}a"), format!("{r}b"), format!("{r}c")]),
        backup_retention_period: Some(c.backup_retention_period),
        database_name: c.database_name.clone(),
        db_cluster_identifier: Some(c.identifier.clone()),
        db_cluster_parameter_group: Some(format!("default.{}", c.engine)),
        status: Some(c.status.as_str().to_owned()),
        endpoint: Some(format!(
            "{}.cluster-kmsnap.{r}.rds.amazonaws.com",
            c.identifier
        )),
        reader_endpoint: Some(format!(
            "{}.cluster-ro-kmsnap.{r}.rds.amazonaws.com",
            c.identifier
        )),
        multi_az: Some(c.members.len() > 1),
        engine: Some(c.engine.clone()),
        engine_version: Some(c.engine_version.clone()),
        port: Some(c.port),
        master_username: c.master_username.clone(),
        db_cluster_members: Some(
            c.members
                .iter()
                .enumerate()
                .map(|(i, m)| rds::DBClusterMember {
                    db_instance_identifier: Some(m.clone()),
                    is_cluster_writer: Some(i == 0),
                    db_cluster_parameter_group_status: Some("in-sync".into()),
                    promotion_tier: Some(1),
                })
                .collect(),
        ),
        storage_encrypted: Some(c.storage_encrypted),
        storage_encryption_type: Some(if c.storage_encrypted {
            rds::StorageEncryptionType::SseKms
        } else {
            rds::StorageEncryptionType::None
        }),
        kms_key_id: c.kms_key_arn.clone(),
        db_cluster_resource_id: Some(c.resource_id.clone()),
        db_cluster_arn: Some(c.arn()),
        iam_database_authentication_enabled: Some(false),
        cluster_create_time: Some(Timestamp(c.created)),
        engine_mode: Some("provisioned".into()),
        storage_type: Some("aurora".into()),
        deletion_protection: Some(c.deletion_protection),
        copy_tags_to_snapshot: Some(c.copy_tags_to_snapshot),
        tag_list: tags_to_api(&c.tags),
        ..Default::default()
    }
}

fn default_version(engine: &str) -> &'static str {
    if engine == "aurora-postgresql" {
        "16.4"
    } else {
        "8.0.mysql_aurora.3.08.0"
    }
}

fn default_port(engine: &str) -> i32 {
    if engine == "aurora-postgresql" {
        5432
    } else {
        3306
    }
}

/// An Aurora engine name (lower-cased), or the refusal of any other.
pub fn engine(value: &str) -> Result<String, RdsError> {
    let e = value.to_ascii_lowercase();
    if ENGINES.contains(&e.as_str()) {
        return Ok(e);
    }
    if crate::model::ENGINES.contains(&e.as_str()) {
        // Multi-AZ DB clusters (non-Aurora engines) are not built.
        return Err(crate::RdsError::NotImplemented("CreateDBCluster"));
    }
    Err(crate::RdsError::InvalidParameterValue(format!(
        "Invalid DB engine: {value}"
    )))
}

/// The cluster's new storage of `size_gib` GiB holding `source`: for an empty or re-encrypted
/// one a lineage whose data key KMS generates under `key_arn` for the caller through RDS with
/// the cluster's context; RDS's grant on a customer key. Not yet stored.
pub(crate) async fn new_volume(
    svc: &Rds,
    ctx: &RequestContext,
    resource_id: &str,
    key_arn: Option<&str>,
    size_gib: i32,
    source: VolumeSource,
) -> Result<NewVolume, RdsError> {
    let spec = VolumeSpec {
        size_gib,
        key_arn: key_arn.map(str::to_owned),
        key_use: common::cluster_use(resource_id),
        source,
    };
    Ok(svc.ebs.prepare_volume(ctx, spec).await?)
}

pub async fn create(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBClusterMessage,
) -> Result<rds::CreateDBClusterResult, RdsError> {
    let id = identifier("DBClusterIdentifier", &input.db_cluster_identifier)?;
    let engine = engine(&input.engine)?;
    if input.replication_source_identifier.is_some() || input.global_cluster_identifier.is_some() {
        return Err(crate::RdsError::NotImplemented("CreateDBCluster"));
    }
    // AWS's per-engine rules for the names (docs/fidelity.md §2).
    crate::model::master_username(&engine, input.master_username.as_deref())?;
    if let Some(name) = &input.database_name {
        crate::model::database_name("DatabaseName", &engine, name)?;
    }
    let retention = input.backup_retention_period.unwrap_or(1);
    if !(1..=35).contains(&retention) {
        return Err(crate::RdsError::InvalidParameterValue(format!(
            "Invalid backup retention period: {retention}. Must be between 1 and 35."
        )));
    }
    let encrypted =
        common::storage_encrypted(input.kms_key_id.as_deref(), input.storage_encrypted)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    backing::ensure_free::<ClusterRecord>(svc, ctx, &id).await?;
    let key_arn = common::creation_key(svc, ctx, input.kms_key_id.as_deref(), encrypted).await?;
    let resource_id = new_cluster_resource_id()?;
    let volume = new_volume(
        svc,
        ctx,
        &resource_id,
        key_arn.as_deref(),
        VOLUME_GIB,
        VolumeSource::Empty,
    )
    .await?;
    let rec = ClusterRecord {
        identifier: id,
        account,
        region,
        resource_id,
        status: ClusterStatus::Creating,
        engine: engine.clone(),
        engine_version: input
            .engine_version
            .clone()
            .unwrap_or_else(|| default_version(&engine).to_owned()),
        port: input.port.unwrap_or_else(|| default_port(&engine)),
        master_username: input.master_username.clone(),
        database_name: input.database_name.clone(),
        storage_encrypted: key_arn.is_some(),
        kms_key_arn: key_arn,
        backup_retention_period: retention,
        deletion_protection: input.deletion_protection.unwrap_or(false),
        copy_tags_to_snapshot: input.copy_tags_to_snapshot.unwrap_or(false),
        members: Vec::new(),
        tags: tags_from(input.tags.as_deref()),
        volume_id: volume.id(),
        created: now,
        key_lost_at: None,
        stopped_at: None,
        last_automated_backup: None,
    };
    let logged = rds::CreateDBClusterMessage {
        master_user_password: None,
        pre_signed_url: None,
        ..input
    };
    let event = common::event(
        ctx,
        "CreateDBCluster",
        &logged,
        "AWS::RDS::DBCluster",
        &rec.arn(),
    );
    backing::insert_new(svc, rec.clone(), volume, |_| Ok(()), event).await?;
    Ok(rds::CreateDBClusterResult {
        db_cluster: Some(to_api(&rec)),
    })
}

pub async fn describe(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBClustersMessage,
) -> Result<rds::DBClusterMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let all =
        crate::blocking(move || cstore::clusters(meta.read()?.as_ref(), Some((account, region))))
            .await??;
    let q = Query {
        named: input.db_cluster_identifier.as_deref(),
        filters: input.filters.as_deref(),
        max_records: input.max_records,
        marker: input.marker.as_deref(),
    };
    let field = |c: &ClusterRecord, name: &str| match name {
        "db-cluster-id" => vec![c.identifier.clone(), c.arn()],
        "db-cluster-resource-id" => vec![c.resource_id.clone()],
        "engine" => vec![c.engine.clone()],
        _ => vec![],
    };
    // A named cluster that does not exist is the cluster's own not-found error.
    let (items, marker) = select(
        all,
        &q,
        |c| c.identifier.as_str(),
        field,
        |id| RdsError::ClusterNotFound { id },
    )?;
    Ok(rds::DBClusterMessage {
        marker,
        db_clusters: Some(items.iter().map(to_api).collect()),
    })
}

/// Reads a cluster (not found: `DBClusterNotFoundFault` naming what the caller gave).
pub(crate) fn load(
    txn: &dyn kmsnap_store::ReadTxn,
    ctx: &RequestContext,
    id: &str,
) -> Result<ClusterRecord, RdsError> {
    cstore::get_cluster(txn, ctx.principal.account, ctx.region, id)?
        .ok_or_else(|| RdsError::ClusterNotFound { id: id.to_owned() })
}

/// [`backing::change`] for cluster `id` of the caller: not found is `DBClusterNotFoundFault`,
/// then `change` checks and edits it (given `id` for its errors).
async fn change_cluster(
    svc: &Rds,
    ctx: &RequestContext,
    id: String,
    event: kmsnap_audit::Event,
    change: impl FnOnce(&str, &mut ClusterRecord) -> Result<(), RdsError> + Send + 'static,
) -> Result<ClusterRecord, RdsError> {
    let (rec, ()) = backing::change(svc, ctx, id.clone(), event, move |_, found| {
        let mut rec = found.ok_or_else(|| RdsError::ClusterNotFound { id: id.clone() })?;
        change(&id, &mut rec)?;
        Ok((rec, ()))
    })
    .await?;
    Ok(rec)
}

fn cluster_id(value: &str) -> Result<String, RdsError> {
    identifier("DBClusterIdentifier", name_in(value))
}

pub async fn modify(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ModifyDBClusterMessage,
) -> Result<rds::ModifyDBClusterResult, RdsError> {
    let id = cluster_id(&input.db_cluster_identifier)?;
    if input.new_db_cluster_identifier.is_some() || input.engine_mode.is_some() {
        return Err(crate::RdsError::NotImplemented("ModifyDBCluster"));
    }
    if let Some(r) = input.backup_retention_period {
        if !(1..=35).contains(&r) {
            return Err(crate::RdsError::InvalidParameterValue(format!(
                "Invalid backup retention period: {r}. Must be between 1 and 35."
            )));
        }
    }
    let logged = rds::ModifyDBClusterMessage {
        master_user_password: None,
        ..input.clone()
    };
    let event = common::event_on(ctx, "ModifyDBCluster", &logged, RdsKind::Cluster, &id);
    let rec = change_cluster(svc, ctx, id, event, move |_, rec| {
        rec.require_available()?;
        // Encryption is fixed at creation (docs/rds.md §9): the message has no such member.
        if let Some(r) = input.backup_retention_period {
            rec.backup_retention_period = r;
        }
        if let Some(d) = input.deletion_protection {
            rec.deletion_protection = d;
        }
        if let Some(t) = input.copy_tags_to_snapshot {
            rec.copy_tags_to_snapshot = t;
        }
        if let Some(p) = input.port {
            rec.port = p;
        }
        if let Some(v) = &input.engine_version {
            rec.engine_version = v.clone();
        }
        Ok(())
    })
    .await?;
    Ok(rds::ModifyDBClusterResult {
        db_cluster: Some(to_api(&rec)),
    })
}

/// Deletes a cluster without instances, its storage and its automated snapshots; with
/// `FinalDBSnapshotIdentifier` a manual cluster snapshot is sealed from the storage first, in
/// the same transaction.
pub async fn delete(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DeleteDBClusterMessage,
) -> Result<rds::DeleteDBClusterResult, RdsError> {
    let id = cluster_id(&input.db_cluster_identifier)?;
    let final_id = common::final_snapshot(
        input.final_db_snapshot_identifier.as_deref(),
        input.skip_final_snapshot,
    )?;
    let now = ctx.now;
    let event = common::event_on(ctx, "DeleteDBCluster", &input, RdsKind::Cluster, &id);
    let (meta, c) = (svc.meta.clone(), ctx.clone());
    let rec = crate::blocking(move || -> Result<ClusterRecord, RdsError> {
        let mut txn = meta.write()?;
        let rec = load(&*txn, &c, &id)?;
        if rec.deletion_protection {
            return Err(crate::RdsError::InvalidParameterCombination("Cannot delete protected Cluster, please disable deletion protection and try again.".into()));
        }
        if !rec.members.is_empty() {
            return Err(RdsError::ClusterState { message: "Cluster cannot be deleted, it still contains DB instances in non-deleting state.".into() });
        }
        if matches!(rec.status, ClusterStatus::Creating | ClusterStatus::Stopping | ClusterStatus::Starting) {
            return Err(RdsError::InvalidClusterState {
                id,
                status: rec.status.as_str().to_owned(),
                expected: "available,stopped,failed,inaccessible-encryption-credentials-recoverable,inaccessible-encryption-credentials",
            });
        }
        if let Some(final_id) = final_id {
            if !matches!(rec.status, ClusterStatus::Available | ClusterStatus::Stopped) {
                return Err(RdsError::InvalidClusterState { id, status: rec.status.as_str().to_owned(), expected: "available,stopped" });
            }
            let tags = if rec.copy_tags_to_snapshot { rec.tags.clone() } else { Vec::new() };
            // Sealed below with the other pending snapshots of the volume.
            backing::start_snapshot(txn.as_mut(), &rec, &final_id, "manual", tags, now)?;
        }
        // Automated snapshots go with the cluster (AWS's default for DeleteAutomatedBackups,
        // which kmsnap's model of DeleteDBCluster does not carry).
        backing::drop_resource(txn.as_mut(), &rec, false, now)?;
        common::commit(txn, &[event])?;
        Ok(rec)
    })
    .await??;
    let mut out = to_api(&rec);
    out.status = Some("deleting".into());
    Ok(rds::DeleteDBClusterResult {
        db_cluster: Some(out),
    })
}

pub async fn stop(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::StopDBClusterMessage,
) -> Result<rds::StopDBClusterResult, RdsError> {
    let id = cluster_id(&input.db_cluster_identifier)?;
    let now = ctx.now;
    let event = common::event_on(ctx, "StopDBCluster", &input, RdsKind::Cluster, &id);
    let rec = change_cluster(svc, ctx, id, event, move |_, rec| {
        rec.require_available()?;
        rec.status = ClusterStatus::Stopping;
        rec.stopped_at = Some(now);
        Ok(())
    })
    .await?;
    Ok(rds::StopDBClusterResult {
        db_cluster: Some(to_api(&rec)),
    })
}

/// Starts a stopped cluster, or one whose key was lost and is usable again (docs/rds.md §8: RDS
/// checks the key as it starts; still unusable → `KMSKeyNotAccessibleFault`).
pub async fn start(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::StartDBClusterMessage,
) -> Result<rds::StartDBClusterResult, RdsError> {
    let id = cluster_id(&input.db_cluster_identifier)?;
    let (meta, c, i) = (svc.meta.clone(), ctx.clone(), id.clone());
    let current = crate::blocking(move || load(meta.read()?.as_ref(), &c, &i)).await??;
    const EXPECTED: &str = "stopped,inaccessible-encryption-credentials-recoverable";
    if !matches!(
        current.status,
        ClusterStatus::Stopped | ClusterStatus::InaccessibleEncryptionCredentialsRecoverable
    ) {
        return Err(RdsError::InvalidClusterState {
            id,
            status: current.status.as_str().to_owned(),
            expected: EXPECTED,
        });
    }
    if let Some(k) = &current.kms_key_arn {
        crate::keystate::check_storage(
            svc,
            ctx,
            &current.volume_id,
            k,
            &format!("DB cluster {id}"),
        )
        .await?;
    }
    let event = common::event(
        ctx,
        "StartDBCluster",
        &input,
        "AWS::RDS::DBCluster",
        &current.arn(),
    );
    let rec = change_cluster(svc, ctx, id, event, move |id, rec| {
        if rec.status != current.status {
            return Err(RdsError::InvalidClusterState {
                id: id.to_owned(),
                status: rec.status.as_str().to_owned(),
                expected: EXPECTED,
            });
        }
        rec.status = ClusterStatus::Starting;
        rec.key_lost_at = None;
        Ok(())
    })
    .await?;
    Ok(rds::StartDBClusterResult {
        db_cluster: Some(to_api(&rec)),
    })
}

/// What the member-instance checks of docs/rds.md §3 say about a CreateDBInstance for a cluster.
fn check_member_request(
    input: &rds::CreateDBInstanceMessage,
    cluster: &ClusterRecord,
) -> Result<(), RdsError> {
    let combo = |m: &str| Err(RdsError::InvalidParameterCombination(m.to_owned()));
    if input.engine.to_ascii_lowercase() != cluster.engine {
        return combo(&format!(
            "The engine name requested for your DB instance ({}) doesn't match the engine name of your DB cluster ({}).",
            input.engine, cluster.engine
        ));
    }
    if input.kms_key_id.is_some() {
        return combo("The requested DB Instance will be a member of a DB Cluster and its storage encryption key should not be set directly.");
    }
    if let Some(e) = input.storage_encrypted {
        if e != cluster.storage_encrypted {
            return combo(&format!(
                "The requested DB Instance will be a member of a DB Cluster and its storage encryption setting should match the cluster setting; requested: {e}, cluster: {}",
                cluster.storage_encrypted
            ));
        }
    }
    if input.allocated_storage.is_some() {
        return combo("The requested DB Instance will be a member of a DB Cluster. You don't need to set storage size.");
    }
    Ok(())
}

/// Whether a CreateDBInstance request is for an Aurora instance (this module's).
pub fn is_member_request(input: &rds::CreateDBInstanceMessage) -> bool {
    input.db_cluster_identifier.is_some()
        || ENGINES.contains(&input.engine.to_ascii_lowercase().as_str())
}

/// CreateDBInstance of an Aurora instance: it joins the cluster, uses the cluster's storage
/// and reports the cluster's encryption (docs/rds.md §3).
pub async fn create_instance(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBInstanceMessage,
) -> Result<rds::CreateDBInstanceResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let Some(cluster_param) = input.db_cluster_identifier.clone() else {
        return Err(crate::RdsError::InvalidParameterValue(
            "DBClusterIdentifier is required for Aurora DB instances.".into(),
        ));
    };
    if !ENGINES.contains(&input.engine.to_ascii_lowercase().as_str()) {
        return Err(crate::RdsError::InvalidParameterCombination(format!(
            "DBClusterIdentifier cannot be specified for engine {}.",
            input.engine
        )));
    }
    let cid = cluster_id(&cluster_param)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let (meta, c) = (svc.meta.clone(), ctx.clone());
    let cluster = crate::blocking(move || load(meta.read()?.as_ref(), &c, &cid)).await??;
    check_member_request(&input, &cluster)?;
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: new_dbi_resource_id()?,
        status: InstanceStatus::Creating,
        engine: cluster.engine.clone(),
        engine_version: cluster.engine_version.clone(),
        instance_class: input.db_instance_class.clone(),
        allocated_storage: 1,
        storage_encrypted: cluster.storage_encrypted,
        kms_key_arn: cluster.kms_key_arn.clone(),
        // Backups are the cluster's (its snapshots); DescribeDBInstances shows its period.
        backup_retention_period: 0,
        master_username: cluster.master_username.clone(),
        db_name: cluster.database_name.clone(),
        port: cluster.port,
        availability_zone: input
            .availability_zone
            .clone()
            .unwrap_or_else(|| format!("{region}a")),
        tags: tags_from(input.tags.as_deref()),
        volume_id: cluster.volume_id.clone(),
        created: now,
        copy_tags_to_snapshot: false,
        deletion_protection: input.deletion_protection.unwrap_or(false),
        last_automated_backup: None,
        status_since: Some(now),
        cluster: Some(cluster.identifier.clone()),
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
    let (meta, r, cid) = (svc.meta.clone(), rec.clone(), cluster.identifier.clone());
    let cluster = crate::blocking(move || -> Result<ClusterRecord, RdsError> {
        let mut txn = meta.write()?;
        if store::get_instance(&*txn, account, region, &r.identifier)?.is_some() {
            return Err(crate::RdsError::InstanceAlreadyExists {
                id: r.identifier.clone(),
            });
        }
        let mut cluster = cstore::get_cluster(&*txn, account, region, &cid)?
            .ok_or_else(|| RdsError::ClusterNotFound { id: cid.clone() })?;
        if !matches!(
            cluster.status,
            ClusterStatus::Available | ClusterStatus::Creating
        ) {
            return Err(RdsError::InvalidClusterState {
                id: cid,
                status: cluster.status.as_str().to_owned(),
                expected: "available",
            });
        }
        cluster.members.push(r.identifier.clone());
        cstore::put_cluster(txn.as_mut(), &cluster)?;
        store::put_instance(txn.as_mut(), &r)?;
        common::commit(txn, &[event])?;
        Ok(cluster)
    })
    .await??;
    let mut out = crate::ops::instances::to_api(&rec);
    decorate_member(&mut out, &cluster);
    Ok(rds::CreateDBInstanceResult {
        db_instance: Some(out),
    })
}
