//! CreateDBClusterSnapshot, DescribeDBClusterSnapshots, DeleteDBClusterSnapshot,
//! CopyDBClusterSnapshot, RestoreDBClusterFromSnapshot, ModifyDBClusterSnapshotAttribute and
//! DescribeDBClusterSnapshotAttributes (docs/rds.md §4–§7).
//!
//! As for DB snapshots, every cluster snapshot is backed by an EBS snapshot managed by RDS, so
//! the EBS workers move its bytes: a `Seal` of the cluster volume (same lineage, same key), a
//! `Copy` job (blobs shared under the same key in the same account and region, else every
//! block re-encrypted under the destination key, also from another region or a snapshot
//! another account shared), and for a restore either the snapshot's lineage joined (same
//! owner, same key: no byte moves) or a `Restore` job filling the new cluster's volume under
//! its own key (a `KmsKeyId`, also turning an unencrypted snapshot into an encrypted cluster).
//! Automated snapshots (`rds:<cluster>-…`, taken by [`super::workers`]) are named like manual
//! ones where a source is read, are never deleted by hand, and copy into manual snapshots.
//! Every path that reads the source checks first, as the caller through RDS, that KMS lets
//! it use the source's key, so an unusable key is `KMSKeyNotAccessibleFault` at once.

use super::model::*;
use super::ops::{load, new_volume, to_api as cluster_to_api};
use super::store as cstore;
use crate::backing::{self, drop_snapshot, start_snapshot};
use crate::model::{identifier, identifier_message, name_in, parse_arn, snapshot_name, RdsKind};
use crate::ops::common::{self, check_filters, matches, page, tags_from, tags_to_api};
use crate::{Rds, RdsError};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::managed::{self, SnapshotId, SnapshotInfo, SnapshotState, VolumeSource};
use kmsnap_store::{ReadTxn, WriteTxn};

const FILTERS: &[&str] = &[
    "db-cluster-id",
    "db-cluster-snapshot-id",
    "snapshot-type",
    "engine",
];
/// Accounts an encrypted snapshot may be shared with (docs/rds.md §6).
const SHARE_LIMIT: usize = 20;

/// The response form of `s` as `viewer` sees it: others' snapshots are `shared` or `public`
/// and named by ARN.
pub fn to_api(s: &ClusterSnapshotRecord, viewer: AccountId) -> rds::DBClusterSnapshot {
    let own = s.account == viewer;
    let r = s.region;
    rds::DBClusterSnapshot {
        availability_zones: Some(vec![format!("{r}a"), format!("{r}b"), format!("{r}c")]),
        db_cluster_snapshot_identifier: Some(if own { s.identifier.clone() } else { s.arn() }),
        db_cluster_identifier: Some(s.cluster_identifier.clone()),
        snapshot_create_time: Some(Timestamp(s.created)),
        engine: Some(s.engine.clone()),
        engine_mode: Some("provisioned".into()),
        allocated_storage: Some(1),
        status: Some(s.status.as_str().to_owned()),
        port: Some(s.port),
        cluster_create_time: Some(Timestamp(s.cluster_created)),
        master_username: s.master_username.clone(),
        engine_version: Some(s.engine_version.clone()),
        license_model: Some(
            if s.engine == "aurora-postgresql" {
                "postgresql-license"
            } else {
                "general-public-license"
            }
            .into(),
        ),
        snapshot_type: Some(if own {
            s.snapshot_type.clone()
        } else if s.public {
            "public".into()
        } else {
            "shared".into()
        }),
        percent_progress: Some(s.percent_progress),
        storage_encrypted: Some(s.storage_encrypted),
        storage_encryption_type: Some(if s.storage_encrypted {
            rds::StorageEncryptionType::SseKms
        } else {
            rds::StorageEncryptionType::None
        }),
        kms_key_id: s.kms_key_arn.clone(),
        db_cluster_snapshot_arn: Some(s.arn()),
        source_db_cluster_snapshot_arn: s.source_snapshot_arn.clone(),
        iam_database_authentication_enabled: Some(false),
        tag_list: if own {
            tags_to_api(&s.tags)
        } else {
            Some(Vec::new())
        },
        storage_type: Some("aurora".into()),
        db_cluster_resource_id: Some(s.cluster_resource_id.clone()),
        ..Default::default()
    }
}

pub async fn create(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBClusterSnapshotMessage,
) -> Result<rds::CreateDBClusterSnapshotResult, RdsError> {
    let id = identifier(
        "DBClusterSnapshotIdentifier",
        &input.db_cluster_snapshot_identifier,
    )?;
    let cluster_id = identifier("DBClusterIdentifier", &input.db_cluster_identifier)?;
    let (account, now) = (ctx.principal.account, ctx.now);
    let event = common::event_on(
        ctx,
        "CreateDBClusterSnapshot",
        &input,
        RdsKind::ClusterSnapshot,
        &id,
    );
    let tags = tags_from(input.tags.as_deref());
    let (meta, c) = (svc.meta.clone(), ctx.clone());
    let snap = crate::blocking(move || -> Result<ClusterSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let rec = load(&*txn, &c, &cluster_id)?;
        if !matches!(
            rec.status,
            ClusterStatus::Available | ClusterStatus::Stopped
        ) {
            return Err(RdsError::InvalidClusterState {
                id: cluster_id,
                status: rec.status.as_str().to_owned(),
                expected: "available",
            });
        }
        let tags = if tags.is_empty() && rec.copy_tags_to_snapshot {
            rec.tags.clone()
        } else {
            tags
        };
        let snap = start_snapshot(txn.as_mut(), &rec, &id, "manual", tags, now)?;
        common::commit(txn, &[event])?;
        Ok(snap)
    })
    .await??;
    svc.ebs.wake_worker();
    Ok(rds::CreateDBClusterSnapshotResult {
        db_cluster_snapshot: Some(to_api(&snap, account)),
    })
}

/// Whether `account` may see and use another account's snapshot `s` (shared with it, or public).
fn shared_with(s: &ClusterSnapshotRecord, account: AccountId) -> bool {
    s.account != account && (s.public || s.shared_with.contains(&account))
}

pub async fn describe(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBClusterSnapshotsMessage,
) -> Result<rds::DBClusterSnapshotMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let all = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        // Every account's snapshots of this region: the caller's, and those shared with it.
        Ok(cstore::snapshots(&*txn, None)?
            .into_iter()
            .filter(|s| s.region == region)
            .collect::<Vec<_>>())
    })
    .await??;
    let own = |s: &ClusterSnapshotRecord| s.account == account;
    let include_shared = input.include_shared == Some(true);
    let include_public = input.include_public == Some(true);
    let visible = |s: &ClusterSnapshotRecord| match input.snapshot_type.as_deref() {
        Some("manual") | Some("automated") => {
            own(s) && Some(s.snapshot_type.as_str()) == input.snapshot_type.as_deref()
        }
        Some("shared") => s.account != account && s.shared_with.contains(&account),
        Some("public") => s.public,
        Some(_) => false,
        None => {
            own(s)
                || (include_shared && s.account != account && s.shared_with.contains(&account))
                || (include_public && s.account != account && s.public)
        }
    };
    let cluster = input
        .db_cluster_identifier
        .as_deref()
        .map(|w| name_in(w).to_ascii_lowercase());
    let name = |s: &ClusterSnapshotRecord| {
        if own(s) {
            s.identifier.clone()
        } else {
            s.arn()
        }
    };
    let named = input.db_cluster_snapshot_identifier.as_deref();
    let is_named = |s: &ClusterSnapshotRecord, w: &str| {
        if w.starts_with("arn:") {
            s.arn() == w
        } else {
            own(s) && s.identifier == w.to_ascii_lowercase()
        }
    };
    let mut items: Vec<ClusterSnapshotRecord> = all
        .into_iter()
        .filter(|s| match named {
            // A snapshot asked for by name is found whatever SnapshotType says.
            Some(w) => is_named(s, w) && (own(s) || shared_with(s, account)),
            None => visible(s),
        })
        .filter(|s| cluster.as_ref().is_none_or(|c| &s.cluster_identifier == c))
        .filter(|s| {
            input
                .db_cluster_resource_id
                .as_ref()
                .is_none_or(|d| &s.cluster_resource_id == d)
        })
        .filter(|s| {
            matches(input.filters.as_deref(), |f| match f {
                "db-cluster-id" => vec![
                    s.cluster_identifier.clone(),
                    cluster_arn(s.account, s.region, &s.cluster_identifier),
                ],
                "db-cluster-snapshot-id" => vec![s.identifier.clone(), s.arn()],
                "snapshot-type" => vec![if own(s) {
                    s.snapshot_type.clone()
                } else if s.public {
                    "public".into()
                } else {
                    "shared".into()
                }],
                "engine" => vec![s.engine.clone()],
                _ => vec![],
            })
        })
        .collect();
    if let Some(w) = named {
        if items.is_empty() {
            return Err(RdsError::ClusterSnapshotNotFound { id: w.to_owned() });
        }
    }
    items.sort_by_key(|s| name(s));
    let keyed: Vec<(String, ClusterSnapshotRecord)> =
        items.into_iter().map(|s| (name(&s), s)).collect();
    let (page_items, marker) = page(
        keyed,
        |(k, _)| k.as_str(),
        input.max_records,
        input.marker.as_deref(),
    )?;
    Ok(rds::DBClusterSnapshotMessage {
        marker,
        db_cluster_snapshots: Some(page_items.iter().map(|(_, s)| to_api(s, account)).collect()),
    })
}

pub async fn delete(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DeleteDBClusterSnapshotMessage,
) -> Result<rds::DeleteDBClusterSnapshotResult, RdsError> {
    let id = snapshot_name(
        "DBClusterSnapshotIdentifier",
        &input.db_cluster_snapshot_identifier,
    )?;
    let (account, region) = (ctx.principal.account, ctx.region);
    let event = common::event_on(
        ctx,
        "DeleteDBClusterSnapshot",
        &input,
        RdsKind::ClusterSnapshot,
        &id,
    );
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<ClusterSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let s = cstore::get_snapshot(&*txn, account, region, &id)?
            .ok_or_else(|| RdsError::ClusterSnapshotNotFound { id: id.clone() })?;
        // Automated snapshots go with their retention period or their cluster.
        if s.snapshot_type != "manual" {
            return Err(RdsError::ClusterSnapshotNotManual { id });
        }
        if s.status.in_progress() {
            return Err(RdsError::InvalidClusterSnapshotState {
                id,
                status: s.status.as_str().to_owned(),
            });
        }
        drop_snapshot(txn.as_mut(), &s)?;
        common::commit(txn, &[event])?;
        Ok(s)
    })
    .await??;
    let mut out = to_api(&snap, account);
    out.status = Some("deleted".into());
    Ok(rds::DeleteDBClusterSnapshotResult {
        db_cluster_snapshot: Some(out),
    })
}

/// A source snapshot as a parameter names it: a plain identifier (the caller's, in the
/// request's region) or an ARN (another region, another account's shared snapshot).
struct SourceRef {
    account: AccountId,
    region: Region,
    id: String,
    /// Named as a DB (instance) snapshot ARN (`…:snapshot:<id>`): RestoreDBClusterFromSnapshot
    /// migrates it into a cluster.
    db_snapshot: bool,
}

fn source_ref(param: &str, value: &str, ctx: &RequestContext) -> Result<SourceRef, RdsError> {
    let (account, region) = (ctx.principal.account, ctx.region);
    if !value.starts_with("arn:") {
        return Ok(SourceRef {
            account,
            region,
            id: snapshot_name(param, value)?,
            db_snapshot: false,
        });
    }
    // An ARN of another resource type, or a malformed one, is not a valid identifier for
    // `param`, as CopyDBSnapshot's twin answers (docs/fidelity.md §4).
    let invalid = || RdsError::InvalidParameterValue(identifier_message(param));
    match parse_arn(value) {
        Some(a) if a.kind == "cluster-snapshot" || a.kind == "snapshot" => Ok(SourceRef {
            account: AccountId::parse(&a.account).map_err(|_| invalid())?,
            region: Region::parse(&a.region).map_err(|_| invalid())?,
            id: snapshot_name(param, &a.name)?,
            db_snapshot: a.kind == "snapshot",
        }),
        _ => Err(invalid()),
    }
}

/// In one read transaction, the source snapshot `find` gives (`None`: the caller may not use
/// it) and its backing EBS snapshot (`ebs_id` of it, in the source's account and region); either
/// absent is `DBClusterSnapshotNotFoundFault` naming `given`. [`load_source`] and
/// [`load_db_snapshot`] check the states.
async fn load_backed<S: Send + 'static>(
    svc: &Rds,
    src: &SourceRef,
    given: &str,
    find: impl FnOnce(&dyn ReadTxn) -> Result<Option<S>, RdsError> + Send + 'static,
    ebs_id: fn(&S) -> &SnapshotId,
) -> Result<(S, SnapshotInfo), RdsError> {
    let (meta, a, r) = (svc.meta.clone(), src.account, src.region);
    let found = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        let s = find(&*txn)?;
        let e = match &s {
            Some(s) => managed::snapshot(&*txn, a, r, ebs_id(s))?,
            None => None,
        };
        Ok(s.zip(e))
    })
    .await??;
    found.ok_or_else(|| RdsError::ClusterSnapshotNotFound {
        id: given.to_owned(),
    })
}

/// The source snapshot and its EBS snapshot, if the caller may use it (its own, or shared with
/// it); absent otherwise, as AWS answers.
async fn load_source(
    svc: &Rds,
    ctx: &RequestContext,
    src: &SourceRef,
    given: &str,
) -> Result<(ClusterSnapshotRecord, SnapshotInfo), RdsError> {
    let (a, r, id, caller, db) = (
        src.account,
        src.region,
        src.id.clone(),
        ctx.principal.account,
        src.db_snapshot,
    );
    let find = move |txn: &dyn ReadTxn| -> Result<_, RdsError> {
        Ok(match db {
            false => cstore::get_snapshot(txn, a, r, &id)?
                .filter(|s| s.account == caller || shared_with(s, caller)),
            true => None,
        })
    };
    let (s, e) = load_backed(svc, src, given, find, |s: &ClusterSnapshotRecord| {
        &s.ebs_snapshot_id
    })
    .await?;
    if s.status != ClusterSnapshotStatus::Available || e.state != SnapshotState::Completed {
        return Err(RdsError::InvalidClusterSnapshotState {
            id: given.to_owned(),
            status: s.status.as_str().to_owned(),
        });
    }
    Ok((s, e))
}

/// Checks that the caller may use the source's key through RDS (in the source's region), as
/// reading it needs: KMS unwraps the lineage's data key or the call fails with docs/rds.md §5's error.
async fn check_source_key(
    svc: &Rds,
    ctx: &RequestContext,
    ebs: &SnapshotInfo,
) -> Result<(), RdsError> {
    let Some(key) = &ebs.kms_key_arn else {
        return Ok(());
    };
    let in_region = RequestContext {
        region: ebs.region,
        ..ctx.clone()
    };
    match svc
        .ebs
        .check_snapshot_key(&in_region, ebs.account, &ebs.id)
        .await
    {
        Ok(()) => Ok(()),
        Err(e @ kmsnap_snapshots::EbsError::Kms { .. }) => {
            tracing::info!(snapshot = %ebs.id, error = %e, "source snapshot key not usable");
            Err(RdsError::KmsKeyNotAccessible {
                message: format!("The source snapshot KMS key [{key}] does not exist, is not enabled or you do not have permissions to access it."),
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn key_none() -> RdsError {
    RdsError::KmsKeyNotAccessible { message: "Specified KMS key [None] does not exist, is not enabled or you do not have permissions to access it.".into() }
}

pub async fn copy(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CopyDBClusterSnapshotMessage,
) -> Result<rds::CopyDBClusterSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let src = source_ref(
        "SourceDBClusterSnapshotIdentifier",
        &input.source_db_cluster_snapshot_identifier,
        ctx,
    )?;
    let target_id = identifier(
        "TargetDBClusterSnapshotIdentifier",
        &input.target_db_cluster_snapshot_identifier,
    )?;
    if src.db_snapshot {
        return Err(RdsError::InvalidParameterValue(identifier_message(
            "SourceDBClusterSnapshotIdentifier",
        )));
    }
    if src.account != account && src.region != region {
        // A shared snapshot is copied in its own region first.
        return Err(RdsError::ClusterSnapshotNotFound {
            id: input.source_db_cluster_snapshot_identifier.clone(),
        });
    }
    let (source, source_ebs) =
        load_source(svc, ctx, &src, &input.source_db_cluster_snapshot_identifier).await?;
    let cross_region = src.region != region;
    let foreign = src.account != account;
    // Key outcome (docs/rds.md §5, cluster column).
    let key = match (&input.kms_key_id, source.storage_encrypted) {
        (Some(_), false) => {
            return Err(RdsError::InvalidParameterValue(
                "KmsKeyId can't be specified when copying an unencrypted DB cluster snapshot."
                    .into(),
            ));
        }
        (Some(k), true) => Some(common::resolve_key(svc, ctx, k).await?),
        (None, true) if cross_region || foreign => return Err(key_none()),
        (None, true) => source.kms_key_arn.clone(),
        (None, false) => None,
    };
    check_source_key(svc, ctx, &source_ebs).await?;
    let description = format!("RDS cluster snapshot copy of {}", source.identifier);
    let key_use = common::cluster_use(&source.cluster_resource_id);
    let mut tags = tags_from(input.tags.as_deref());
    if input.copy_tags == Some(true) && !foreign {
        tags = common::with_source_tags(tags, &source.tags);
    }
    let snap = ClusterSnapshotRecord {
        identifier: target_id,
        account,
        region,
        snapshot_type: "manual".into(),
        status: ClusterSnapshotStatus::Copying,
        percent_progress: 0,
        storage_encrypted: key.is_some(),
        kms_key_arn: key,
        source_snapshot_arn: Some(source.arn()),
        tags,
        created: now,
        shared_with: Vec::new(),
        public: false,
        ..source.clone()
    };
    let logged = rds::CopyDBClusterSnapshotMessage {
        pre_signed_url: None,
        ..input
    };
    let event = common::event_on(
        ctx,
        "CopyDBClusterSnapshot",
        &logged,
        RdsKind::ClusterSnapshot,
        &snap.identifier,
    );
    let job = (key_use, description);
    let snap = common::commit_copy(svc, ctx, snap, source_ebs, job, event).await?;
    Ok(rds::CopyDBClusterSnapshotResult {
        db_cluster_snapshot: Some(to_api(&snap, account)),
    })
}

/// RestoreDBClusterFromSnapshot from a cluster snapshot (the caller's, or one shared with it,
/// in the request's region). A `KmsKeyId` re-keys (also an unencrypted snapshot); without one
/// the cluster has the snapshot's key. The new cluster has no instances (docs/rds.md §7).
pub async fn restore(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::RestoreDBClusterFromSnapshotMessage,
) -> Result<rds::RestoreDBClusterFromSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let id = identifier("DBClusterIdentifier", &input.db_cluster_identifier)?;
    let engine = super::ops::engine(&input.engine)?;
    // CreateDBCluster's rule for the same parameter (docs/fidelity.md §2).
    if let Some(name) = &input.database_name {
        crate::model::database_name("DatabaseName", &engine, name)?;
    }
    let src = source_ref("SnapshotIdentifier", &input.snapshot_identifier, ctx)?;
    if src.region != region {
        return Err(RdsError::ClusterSnapshotNotFound {
            id: input.snapshot_identifier.clone(),
        });
    }
    let (snap, ebs) = match load_source(svc, ctx, &src, &input.snapshot_identifier).await {
        Err(RdsError::ClusterSnapshotNotFound { .. })
            if src.db_snapshot || !input.snapshot_identifier.starts_with("arn:") =>
        {
            load_db_snapshot(svc, ctx, &src, &input.snapshot_identifier).await?
        }
        other => other?,
    };
    if snap.engine != engine {
        return Err(RdsError::InvalidParameterCombination(format!(
            "The engine of the snapshot ({}) doesn't match the requested engine ({engine}).",
            snap.engine
        )));
    }
    backing::ensure_free::<ClusterRecord>(svc, ctx, &id).await?;
    let key = match &input.kms_key_id {
        Some(k) => Some(common::resolve_key(svc, ctx, k).await?),
        None => snap.kms_key_arn.clone(),
    };
    // The new cluster reads the snapshot's data: its key must be usable now.
    check_source_key(svc, ctx, &ebs).await?;
    let resource_id = new_cluster_resource_id()?;
    // Same account and key: the volume joins the snapshot's lineage (its manifest shared, no
    // byte moved); else a restore job re-encrypts every block under the cluster's key.
    let join = snap.account == account && key == snap.kms_key_arn;
    let (owner, snapshot) = (ebs.account, ebs.id.clone());
    let source = match join {
        true => VolumeSource::Join { owner, snapshot },
        false => VolumeSource::Restore { owner, snapshot },
    };
    let size = VOLUME_GIB.max(ebs.size_gib);
    let volume = new_volume(svc, ctx, &resource_id, key.as_deref(), size, source).await?;
    let rec = ClusterRecord {
        identifier: id.clone(),
        account,
        region,
        resource_id,
        status: ClusterStatus::Creating,
        engine,
        engine_version: input
            .engine_version
            .clone()
            .unwrap_or_else(|| snap.engine_version.clone()),
        port: input.port.unwrap_or(snap.port),
        master_username: snap.master_username.clone(),
        database_name: input.database_name.clone(),
        storage_encrypted: key.is_some(),
        kms_key_arn: key,
        backup_retention_period: input.backup_retention_period.unwrap_or(1),
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
    let event = common::event(
        ctx,
        "RestoreDBClusterFromSnapshot",
        &input,
        "AWS::RDS::DBCluster",
        &rec.arn(),
    );
    let (source, source_account) = (ebs.id.clone(), snap.account);
    // The snapshot may have been deleted since it was read.
    let also = move |txn: &mut dyn WriteTxn| match managed::snapshot(
        &*txn,
        source_account,
        region,
        &source,
    )? {
        Some(_) => Ok(()),
        None => Err(RdsError::ClusterSnapshotNotFound {
            id: source.to_string(),
        }),
    };
    backing::insert_new(svc, rec.clone(), volume, also, event).await?;
    svc.ebs.wake_worker();
    Ok(rds::RestoreDBClusterFromSnapshotResult {
        db_cluster: Some(cluster_to_api(&rec)),
    })
}

/// A DB (instance) snapshot as the source of a new cluster (docs/rds.md §7: RestoreDBClusterFromSnapshot
/// takes either kind): the caller's, or one shared with it, `available`; seen as a cluster
/// snapshot of the matching Aurora engine (postgres → aurora-postgresql, mysql → aurora-mysql).
async fn load_db_snapshot(
    svc: &Rds,
    ctx: &RequestContext,
    src: &SourceRef,
    given: &str,
) -> Result<(ClusterSnapshotRecord, SnapshotInfo), RdsError> {
    let (a, r, id, caller) = (
        src.account,
        src.region,
        src.id.clone(),
        ctx.principal.account,
    );
    let find = move |txn: &dyn ReadTxn| -> Result<_, RdsError> {
        Ok(crate::store::get_snapshot(txn, a, r, &id)?
            .filter(|s| s.account == caller || s.public || s.shared_with.contains(&caller)))
    };
    let (s, e) = load_backed(
        svc,
        src,
        given,
        find,
        |s: &crate::model::DbSnapshotRecord| &s.ebs_snapshot_id,
    )
    .await?;
    if s.status != crate::model::SnapshotStatus::Available || e.state != SnapshotState::Completed {
        return Err(RdsError::InvalidSnapshotState {
            id: given.to_owned(),
            status: s.status.as_str().to_owned(),
        });
    }
    let engine = match s.engine.as_str() {
        "postgres" => "aurora-postgresql",
        "mysql" => "aurora-mysql",
        other => {
            return Err(RdsError::InvalidParameterCombination(format!(
                "A DB snapshot of engine {other} cannot be restored to an Aurora DB cluster."
            )))
        }
    };
    let as_cluster = ClusterSnapshotRecord {
        identifier: s.identifier.clone(),
        account: s.account,
        region: s.region,
        snapshot_type: s.snapshot_type.clone(),
        status: ClusterSnapshotStatus::Available,
        percent_progress: 100,
        cluster_identifier: s.instance_identifier.clone(),
        cluster_resource_id: s.dbi_resource_id.clone(),
        engine: engine.to_owned(),
        engine_version: if engine == "aurora-postgresql" {
            "16.4".into()
        } else {
            "8.0.mysql_aurora.3.08.0".into()
        },
        port: s.port,
        master_username: s.master_username.clone(),
        cluster_created: s.instance_created,
        storage_encrypted: s.encrypted,
        kms_key_arn: s.kms_key_arn.clone(),
        source_snapshot_arn: None,
        tags: Vec::new(),
        ebs_snapshot_id: s.ebs_snapshot_id.clone(),
        created: s.created,
        shared_with: Vec::new(),
        public: false,
    };
    Ok((as_cluster, e))
}

fn attributes(s: &ClusterSnapshotRecord) -> rds::DBClusterSnapshotAttributesResult {
    let mut values: Vec<String> = s.shared_with.iter().map(|a| a.to_string()).collect();
    if s.public {
        values.push("all".into());
    }
    rds::DBClusterSnapshotAttributesResult {
        db_cluster_snapshot_identifier: Some(s.identifier.clone()),
        db_cluster_snapshot_attributes: Some(vec![rds::DBClusterSnapshotAttribute {
            attribute_name: Some("restore".into()),
            attribute_values: Some(values),
        }]),
    }
}

pub async fn describe_attributes(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBClusterSnapshotAttributesMessage,
) -> Result<rds::DescribeDBClusterSnapshotAttributesResult, RdsError> {
    // Like DescribeDBSnapshotAttributes: a lookup that does not judge the name's syntax, so
    // anything that names no snapshot is not found (docs/fidelity.md §4, inferred for clusters).
    let id = input.db_cluster_snapshot_identifier.to_ascii_lowercase();
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let s =
        crate::blocking(move || cstore::get_snapshot(meta.read()?.as_ref(), account, region, &id))
            .await??;
    let s = s.ok_or_else(|| RdsError::ClusterSnapshotNotFound {
        id: input.db_cluster_snapshot_identifier.clone(),
    })?;
    Ok(rds::DescribeDBClusterSnapshotAttributesResult {
        db_cluster_snapshot_attributes_result: Some(attributes(&s)),
    })
}

/// ModifyDBClusterSnapshotAttribute (docs/rds.md §6): the `restore` attribute of an own manual
/// snapshot; encrypted snapshots only with explicit accounts, never under `aws/rds`.
pub async fn modify_attribute(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ModifyDBClusterSnapshotAttributeMessage,
) -> Result<rds::ModifyDBClusterSnapshotAttributeResult, RdsError> {
    let id = identifier(
        "DBClusterSnapshotIdentifier",
        &input.db_cluster_snapshot_identifier,
    )?;
    if input.attribute_name != "restore" {
        return Err(RdsError::InvalidParameterValue(format!(
            "Invalid snapshot attribute name: {}. Only restore is supported.",
            input.attribute_name
        )));
    }
    let parse = |values: &Option<Vec<String>>| -> Result<(Vec<AccountId>, bool), RdsError> {
        let mut ids = Vec::new();
        let mut all = false;
        for v in values.iter().flatten() {
            if v == "all" {
                all = true;
            } else {
                ids.push(AccountId::parse(v).map_err(|_| {
                    RdsError::InvalidParameterValue(format!("Invalid account id: {v}"))
                })?);
            }
        }
        Ok((ids, all))
    };
    let (add, add_all) = parse(&input.values_to_add)?;
    let (remove, remove_all) = parse(&input.values_to_remove)?;
    let current = common::find::<ClusterSnapshotRecord>(svc, ctx, &id).await?;
    let current = current.ok_or_else(|| RdsError::ClusterSnapshotNotFound { id: id.clone() })?;
    if current.status != ClusterSnapshotStatus::Available {
        return Err(RdsError::InvalidClusterSnapshotState {
            id,
            status: current.status.as_str().to_owned(),
        });
    }
    if current.storage_encrypted && (!add.is_empty() || add_all) {
        if add_all {
            return Err(RdsError::InvalidParameterValue(
                "Encrypted snapshots cannot be shared publicly; share them with specific accounts."
                    .into(),
            ));
        }
        if let Some(k) = &current.kms_key_arn {
            if crate::keystate::is_aws_managed(svc, k).await? {
                return Err(RdsError::InvalidParameterValue(format!(
                    "The snapshot {id} is encrypted with the default KMS key and can't be shared. Copy it with a customer managed key and share the copy."
                )));
            }
        }
    }
    let event = common::event(
        ctx,
        "ModifyDBClusterSnapshotAttribute",
        &input,
        "AWS::RDS::DBClusterSnapshot",
        &current.arn(),
    );
    let (s, ()) = backing::change(svc, ctx, id.clone(), event, move |_, found| {
        let mut s: ClusterSnapshotRecord =
            found.ok_or_else(|| RdsError::ClusterSnapshotNotFound { id: id.clone() })?;
        for a in add {
            if !s.shared_with.contains(&a) {
                s.shared_with.push(a);
            }
        }
        s.shared_with.retain(|a| !remove.contains(a));
        s.public = (s.public || add_all) && !remove_all;
        if s.shared_with.len() > SHARE_LIMIT {
            return Err(RdsError::ClusterSharedSnapshotQuotaExceeded);
        }
        Ok((s, ()))
    })
    .await?;
    Ok(rds::ModifyDBClusterSnapshotAttributeResult {
        db_cluster_snapshot_attributes_result: Some(attributes(&s)),
    })
}
