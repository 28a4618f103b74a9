//! CreateDBInstanceReadReplica (docs/rds.md §9 "Read replicas match encryption") and the
//! replication that keeps a replica's storage following its source's.
//!
//! Encryption: a replica of an unencrypted source is unencrypted (a `KmsKeyId` is refused); of
//! an encrypted one, encrypted under `KmsKeyId` or, in the source's region, the source's key;
//! a cross-region replica must name a key of its own region. The source needs automated
//! backups (`BackupRetentionPeriod` > 0).
//!
//! No engine streams changes, so replication moves storage: [`replicate`], one step per worker
//! tick, runs rounds of (1) seal the source's volume into an EBS snapshot (`Seal` job), (2)
//! copy it into the replica's region under the replica's key (`Copy` job, run as the replica's
//! creator: KMS decides at every round; blocks copied by an earlier round are reused, so a
//! round re-encrypts only what changed), (3) make the copy's manifest the replica's storage, in
//! one transaction. The replica is `creating` until the first round ends. When the source is
//! deleted its replicas are promoted (stand-alone instances), as RDS does.

use super::common::{self, tags_from};
use super::instances;
use crate::backing;
use crate::error::RdsError;
use crate::model::{
    identifier, new_dbi_resource_id, parse_arn, DbInstanceRecord, InstanceStatus, ReplicaRecord,
    ReplicaSync,
};
use crate::{store, Rds};
use chrono::{DateTime, Utc};
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;
use kmsnap_core::Region;
use kmsnap_snapshots::managed::{self, JobCaller, SnapshotId, SnapshotInfo, SnapshotState};
use kmsnap_store::{MetaStore, WriteTxn};

/// How long a replica waits after a round before the next (its replication lag, at least).
pub const ROUND_INTERVAL: chrono::Duration = chrono::Duration::seconds(2);

/// How long a replica waits after a failed round before the next.
pub const RETRY_DELAY: chrono::Duration = chrono::Duration::seconds(30);

/// `SourceDBInstanceIdentifier`: a plain identifier (this region) or a DB instance ARN (the
/// caller's, any region).
fn parse_source(value: &str, ctx: &RequestContext) -> Result<(Region, String), RdsError> {
    const PARAM: &str = "SourceDBInstanceIdentifier";
    if !value.starts_with("arn:") {
        return Ok((ctx.region, identifier(PARAM, value)?));
    }
    let bad =
        || RdsError::InvalidParameterValue(format!("Invalid DB instance identifier: {value}"));
    match parse_arn(value) {
        Some(a) if a.kind == "db" => {
            let region = Region::parse(&a.region).map_err(|_| bad())?;
            let id = identifier(PARAM, &a.name)?;
            if a.account != ctx.principal.account.as_str() {
                return Err(RdsError::InstanceNotFound { id });
            }
            Ok((region, id))
        }
        _ => Err(bad()),
    }
}

/// The replica's key (docs/rds.md §9): the source's encryption, under `KmsKeyId` (a key of the
/// request's region) or, in the source's region, the source's key.
async fn replica_key(
    svc: &Rds,
    ctx: &RequestContext,
    input: &rds::CreateDBInstanceReadReplicaMessage,
    source: &DbInstanceRecord,
) -> Result<Option<String>, RdsError> {
    match (&input.kms_key_id, &source.kms_key_arn) {
        (Some(_), None) => Err(RdsError::InvalidParameterCombination(
            "Cannot create an encrypted read replica of an unencrypted DB instance.".into(),
        )),
        (Some(k), Some(_)) => Ok(Some(common::resolve_key(svc, ctx, k).await?)),
        (None, Some(_)) if source.region != ctx.region => {
            Err(RdsError::InvalidParameterCombination(
                "For encrypted cross-region replica, kmsKeyId should be explicitly specified"
                    .into(),
            ))
        }
        (None, k) => Ok(k.clone()),
    }
}

pub async fn create(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBInstanceReadReplicaMessage,
) -> Result<rds::CreateDBInstanceReadReplicaResult, RdsError> {
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let Some(source_param) = input.source_db_instance_identifier.clone() else {
        // SourceDBClusterIdentifier (a Multi-AZ DB cluster source) is not built.
        return Err(RdsError::NotImplemented("CreateDBInstanceReadReplica"));
    };
    let (source_region, source_id) = parse_source(&source_param, ctx)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let (meta, sid, iid) = (svc.meta.clone(), source_id.clone(), id.clone());
    let (source, exists) = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let Some(s) = store::get_instance(&*txn, account, source_region, &sid)? else {
            return Ok((None, false));
        };
        Ok((
            Some(s),
            store::get_instance(&*txn, account, region, &iid)?.is_some(),
        ))
    })
    .await??;
    let source = source.ok_or_else(|| RdsError::InstanceNotFound {
        id: source_param.clone(),
    })?;
    if source.engine.starts_with("aurora") {
        return Err(RdsError::NotImplemented("CreateDBInstanceReadReplica"));
    }
    if source.status != InstanceStatus::Available {
        return Err(RdsError::InvalidInstanceState {
            id: source.identifier,
            status: source.status.as_str().to_owned(),
        });
    }
    if source.backup_retention_period == 0 {
        return Err(RdsError::BackupsDisabled {
            id: source.identifier,
        });
    }
    if exists {
        return Err(RdsError::InstanceAlreadyExists { id });
    }
    let key = replica_key(svc, ctx, &input, &source).await?;
    // Replication reads the source's storage as the caller through RDS: refuse now what KMS
    // would refuse at every round.
    let in_source_region = RequestContext {
        region: source.region,
        ..ctx.clone()
    };
    if let Err(e) = svc
        .ebs
        .check_volume_key(&in_source_region, &source.volume_id)
        .await
    {
        tracing::info!(source = %source.arn(), error = %e, "replica source key not usable");
        return Err(RdsError::KmsKeyNotAccessible {
            message: format!(
                "The source DB instance KMS key [{}] does not exist, is not enabled or you do not have permissions to access it.",
                source.kms_key_arn.as_deref().unwrap_or("None")
            ),
        });
    }
    let dbi = new_dbi_resource_id()?;
    let volume =
        common::new_volume(svc, ctx, &dbi, source.allocated_storage, key.as_deref()).await?;
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: dbi,
        status: InstanceStatus::Creating,
        engine: source.engine.clone(),
        engine_version: source.engine_version.clone(),
        instance_class: input
            .db_instance_class
            .clone()
            .unwrap_or_else(|| source.instance_class.clone()),
        allocated_storage: source.allocated_storage,
        storage_encrypted: key.is_some(),
        kms_key_arn: key,
        backup_retention_period: 0,
        master_username: source.master_username.clone(),
        db_name: source.db_name.clone(),
        port: input.port.unwrap_or(source.port),
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
    let replica = ReplicaRecord {
        account,
        region,
        identifier: id.clone(),
        source_region,
        source_identifier: source.identifier.clone(),
        caller: JobCaller::from_context(ctx),
        sync: None,
        replicated_at: None,
        source_digest: None,
        retry_at: None,
    };
    // The presigned URL carries a signature: it never enters the log.
    let logged = rds::CreateDBInstanceReadReplicaMessage {
        pre_signed_url: None,
        ..input
    };
    let event = common::event(
        ctx,
        "CreateDBInstanceReadReplica",
        &logged,
        "AWS::RDS::DBInstance",
        &rec.arn(),
    );
    let r = replica.clone();
    let also = move |txn: &mut dyn WriteTxn| store::put_replica(txn, &r);
    backing::insert_new(svc, rec.clone(), volume, also, event).await?;
    let mut out = instances::to_api(&rec);
    instances::decorate_replication(&mut out, &rec, &[replica]);
    Ok(rds::CreateDBInstanceReadReplicaResult {
        db_instance: Some(out),
    })
}

/// Whether instance `rec` is a replica still waiting for its first round (it stays `creating`).
pub fn awaiting_first_round(replicas: &[ReplicaRecord], rec: &DbInstanceRecord) -> bool {
    replicas.iter().any(|r| {
        r.account == rec.account
            && r.region == rec.region
            && r.identifier == rec.identifier
            && r.replicated_at.is_none()
    })
}

/// Drops a round's EBS snapshots (`seal` in the source's account and region, `copy` in the
/// replica's) and their manifests.
fn drop_round(
    txn: &mut dyn WriteTxn,
    r: &ReplicaRecord,
    sync: &ReplicaSync,
) -> Result<(), RdsError> {
    managed::drop_snapshot(txn, r.account, r.source_region, &sync.seal)?;
    if let Some(copy) = &sync.copy {
        managed::drop_snapshot(txn, r.account, r.region, copy)?;
    }
    Ok(())
}

/// What one step does to replica `r`.
enum Next {
    Nothing,
    Save(ReplicaRecord),
    Remove(ReplicaRecord),
}

/// Advances every replica's replication by one step at `now` (see the module doc). Returns how
/// many changed.
pub fn replicate(meta: &dyn MetaStore, now: DateTime<Utc>) -> Result<usize, RdsError> {
    if store::replicas(meta.read()?.as_ref())?.is_empty() {
        return Ok(0);
    }
    let mut txn = meta.write()?;
    let mut changed = 0;
    for r in store::replicas(&*txn)? {
        let next = step_one(txn.as_mut(), r, now)?;
        match next {
            Next::Nothing => continue,
            Next::Save(r) => store::put_replica(txn.as_mut(), &r)?,
            Next::Remove(r) => store::delete_replica(txn.as_mut(), &r)?,
        }
        changed += 1;
    }
    // Nothing changed: the transaction is dropped (no write, no sync).
    if changed > 0 {
        txn.commit()?;
    }
    Ok(changed)
}

fn step_one(
    txn: &mut dyn WriteTxn,
    mut r: ReplicaRecord,
    now: DateTime<Utc>,
) -> Result<Next, RdsError> {
    let Some(replica) = store::get_instance(&*txn, r.account, r.region, &r.identifier)? else {
        // The replica was deleted: its round goes too.
        if let Some(sync) = &r.sync {
            drop_round(txn, &r, sync)?;
        }
        return Ok(Next::Remove(r));
    };
    let source = store::get_instance(&*txn, r.account, r.source_region, &r.source_identifier)?;
    let Some(sync) = r.sync.clone() else {
        let Some(source) = source else {
            // The source was deleted: the replica is promoted to a stand-alone instance.
            tracing::info!(replica = %replica.arn(), "source deleted; read replica promoted");
            return Ok(Next::Remove(r));
        };
        if r.replicated_at.is_some_and(|t| now - t < ROUND_INTERVAL)
            || r.retry_at.is_some_and(|t| now < t)
        {
            return Ok(Next::Nothing);
        }
        // A round only when the source's storage changed since the last one.
        let digest = managed::volume_digest(&*txn, &source.volume_id)?;
        if r.replicated_at.is_some() && r.source_digest.as_deref() == Some(digest.as_str()) {
            return Ok(Next::Nothing);
        }
        r.source_digest = Some(digest);
        let seal = managed::seal_snapshot(
            txn,
            r.account,
            r.source_region,
            &source.volume_id,
            &common::instance_use(&source.dbi_resource_id),
            format!("RDS replication of {} to {}", source.arn(), replica.arn()),
            now,
        )?;
        r.sync = Some(ReplicaSync { seal, copy: None });
        return Ok(Next::Save(r));
    };
    let failed = |txn: &mut dyn WriteTxn,
                  mut r: ReplicaRecord,
                  why: &str|
     -> Result<Next, RdsError> {
        tracing::warn!(replica = %r.identifier, account = %r.account, why, "replication round failed; retrying");
        drop_round(txn, &r, &sync)?;
        r.sync = None;
        r.source_digest = None;
        r.retry_at = Some(now + RETRY_DELAY);
        Ok(Next::Save(r))
    };
    match &sync.copy {
        None => {
            let seal = managed::snapshot(&*txn, r.account, r.source_region, &sync.seal)?;
            match seal {
                Some(s) if s.state == SnapshotState::Pending => Ok(Next::Nothing),
                Some(s) if s.state == SnapshotState::Completed => {
                    let copy = start_copy(txn, &r, &replica, &s, now)?;
                    r.sync = Some(ReplicaSync {
                        seal: sync.seal.clone(),
                        copy: Some(copy),
                    });
                    Ok(Next::Save(r))
                }
                _ => failed(txn, r, "seal"),
            }
        }
        Some(copy_id) => {
            let copy = managed::snapshot(&*txn, r.account, r.region, copy_id)?;
            match copy {
                Some(c) if c.state == SnapshotState::Pending => Ok(Next::Nothing),
                Some(c) if c.state == SnapshotState::Completed => {
                    // The copy's manifest replaces the replica volume's; the volume joins its
                    // lineage.
                    managed::adopt_snapshot(
                        txn,
                        replica.account,
                        replica.region,
                        &replica.volume_id,
                        &c.id,
                    )?;
                    drop_round(txn, &r, &sync)?;
                    r.sync = None;
                    r.replicated_at = Some(now);
                    r.retry_at = None;
                    Ok(Next::Save(r))
                }
                _ => failed(txn, r, "copy"),
            }
        }
    }
}

/// Queues the copy of a round's sealed source snapshot `seal` into the replica's account and
/// region under its key (blobs shared when the region and key are the same), run as the
/// replica's creator. Returns the copy's id.
fn start_copy(
    txn: &mut dyn WriteTxn,
    r: &ReplicaRecord,
    replica: &DbInstanceRecord,
    seal: &SnapshotInfo,
    now: DateTime<Utc>,
) -> Result<SnapshotId, RdsError> {
    let to = managed::CopyTo {
        account: r.account,
        region: r.region,
        key_arn: replica.kms_key_arn.clone(),
    };
    Ok(managed::queue_copy(
        txn,
        seal,
        to,
        &common::instance_use(&replica.dbi_resource_id),
        format!("RDS replication into {}", replica.arn()),
        r.caller.clone(),
        now,
    )?)
}
