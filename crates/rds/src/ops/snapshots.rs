//! CreateDBSnapshot, DescribeDBSnapshots, DeleteDBSnapshot, CopyDBSnapshot (same or another
//! region, own or shared source) and RestoreDBInstanceFromDBSnapshot (docs/rds.md §4, §5, §7).
//!
//! Every DB snapshot is backed by an EBS snapshot marked as managed by RDS, so the EBS workers
//! move its bytes: CreateDBSnapshot queues a `Seal` of the instance's volume (same lineage,
//! same key), CopyDBSnapshot a `Copy` job (blobs shared under the same key; re-encrypted block
//! by block under a new one, the data key generated through RDS with the source instance's
//! `DbiResourceId` as context). The RDS worker mirrors the EBS snapshot's progress and state.
//! A restore inherits the snapshot's key (the operation has no `KmsKeyId`): its new volume
//! joins the snapshot's lineage, the manifest copied, no byte moved.
//!
//! A copy from another region (source named by ARN; `PreSignedUrl`, which SDKs add when given
//! `SourceRegion`, is accepted and ignored: docs/protocols.md §7) or of a snapshot another
//! account shared ([`super::sharing`]) always re-encrypts: the EBS copy job reads the source's
//! blocks with the source's data key, which KMS unwraps for the caller through RDS — so the
//! caller's access to the source key is checked at the request too (`KMSKeyNotAccessibleFault`
//! "The source snapshot KMS key […]"), and again at every step of the job.

use super::common::{self, check_filters, select, tags_from, tags_to_api, Query};
use super::instances;
use super::sharing::{self, View};
use crate::backing::{self, drop_snapshot, start_snapshot};
use crate::cluster::model::MemberOp;
use crate::cluster::store as cstore;
use crate::error::RdsError;
use crate::model::{
    arn, identifier, name_in, new_dbi_resource_id, snapshot_name, DbInstanceRecord,
    DbSnapshotRecord, InstanceStatus, RdsKind, SnapshotStatus,
};
use crate::{store, Rds};
use kmsnap_api::gen::rds;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_snapshots::managed::{self, SnapshotInfo, SnapshotState, VolumeSource, VolumeSpec};

const FILTERS: &[&str] = &[
    "db-instance-id",
    "db-snapshot-id",
    "dbi-resource-id",
    "snapshot-type",
    "engine",
];

pub fn to_api(s: &DbSnapshotRecord) -> rds::DBSnapshot {
    to_api_as(s, View::Own)
}

/// The response form of a snapshot as the caller sees it: another account's shows its ARN as
/// identifier and `SnapshotType` `shared` or `public` (docs/rds.md §4).
pub fn to_api_as(s: &DbSnapshotRecord, view: View) -> rds::DBSnapshot {
    rds::DBSnapshot {
        db_snapshot_identifier: Some(if view == View::Own {
            s.identifier.clone()
        } else {
            s.arn()
        }),
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
        snapshot_type: Some(view.snapshot_type(s).to_owned()),
        percent_progress: Some(s.percent_progress),
        source_region: s.source_region.map(|r| r.to_string()),
        source_db_snapshot_identifier: s.source_snapshot.clone(),
        storage_type: Some("gp2".into()),
        encrypted: Some(s.encrypted),
        storage_encryption_type: Some(if s.encrypted {
            rds::StorageEncryptionType::SseKms
        } else {
            rds::StorageEncryptionType::None
        }),
        kms_key_id: s.kms_key_arn.clone(),
        db_snapshot_arn: Some(s.arn()),
        iam_database_authentication_enabled: Some(false),
        dbi_resource_id: Some(s.dbi_resource_id.clone()),
        tag_list: tags_to_api(&s.tags),
        ..Default::default()
    }
}

pub async fn create(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CreateDBSnapshotMessage,
) -> Result<rds::CreateDBSnapshotResult, RdsError> {
    // Checked after an Aurora instance's refusal (below, in the transaction).
    let id = identifier("DBSnapshotIdentifier", &input.db_snapshot_identifier);
    let instance = match identifier("DBInstanceIdentifier", &input.db_instance_identifier) {
        Ok(i) => i,
        Err(e) => return Err(id.err().unwrap_or(e)),
    };
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let event = common::event_on(
        ctx,
        "CreateDBSnapshot",
        &input,
        RdsKind::Snapshot,
        id.as_deref().unwrap_or_default(),
    );
    let tags = tags_from(input.tags.as_deref());
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<DbSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let found = store::get_instance(&*txn, account, region, &instance)?;
        if let Some(rec) = &found {
            // Aurora instances are backed up by cluster snapshots (docs/rds.md §3).
            cstore::check_member(&*txn, rec, &[MemberOp::Snapshot])?;
        }
        let id = id?;
        let rec = found.ok_or(RdsError::InstanceNotFound {
            id: instance.clone(),
        })?;
        // A stopped instance's storage is still there to snapshot.
        if !matches!(
            rec.status,
            InstanceStatus::Available | InstanceStatus::Stopped
        ) {
            return Err(RdsError::InvalidInstanceState {
                id: instance,
                status: rec.status.as_str().to_owned(),
            });
        }
        let snap = start_snapshot(txn.as_mut(), &rec, &id, "manual", tags, now)?;
        common::commit(txn, &[event])?;
        Ok(snap)
    })
    .await??;
    svc.ebs.wake_worker();
    Ok(rds::CreateDBSnapshotResult {
        db_snapshot: Some(to_api(&snap)),
    })
}

/// Which snapshots a DescribeDBSnapshots call lists (docs/rds.md §4 "visibility"), before filters.
fn listed(
    s: &DbSnapshotRecord,
    view: View,
    snapshot_type: Option<&str>,
    include_shared: bool,
    include_public: bool,
) -> bool {
    match (snapshot_type, view) {
        (None, View::Own) => true,
        (None, View::Shared) => include_shared,
        (None, View::Public) => include_public,
        (Some("shared"), v) => v == View::Shared,
        (Some("public"), _) => s.public,
        (Some(t), View::Own) => s.snapshot_type == t,
        (Some(_), _) => false,
    }
}

pub async fn describe(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBSnapshotsMessage,
) -> Result<rds::DBSnapshotMessage, RdsError> {
    check_filters(input.filters.as_deref(), FILTERS)?;
    let named = match input.db_snapshot_identifier.as_deref() {
        Some(n) => Some(sharing::parse_ref("DBSnapshotIdentifier", n, ctx)?),
        None => None,
    };
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    // Every snapshot of the region: others' may be shared with the caller or public.
    let all = crate::blocking(move || store::snapshots(meta.read()?.as_ref(), None)).await??;
    let instance = input
        .db_instance_identifier
        .as_deref()
        .map(|w| name_in(w).to_ascii_lowercase());
    let (include_shared, include_public) = (
        input.include_shared.unwrap_or(false),
        input.include_public.unwrap_or(false),
    );
    let mut all: Vec<(DbSnapshotRecord, View, String)> = all
        .into_iter()
        .filter(|s| s.region == region)
        .filter_map(|s| sharing::view_of(&s, account).map(|v| (s, v)))
        .filter(|(s, v)| match &named {
            // A snapshot named outright is shown whenever the caller may see it.
            Some(r) => s.account == r.account && s.region == r.region && s.identifier == r.name,
            None => listed(
                s,
                *v,
                input.snapshot_type.as_deref(),
                include_shared,
                include_public,
            ),
        })
        .filter(|(s, _)| {
            instance
                .as_ref()
                .is_none_or(|i| &s.instance_identifier == i)
        })
        .filter(|(s, _)| {
            input
                .dbi_resource_id
                .as_ref()
                .is_none_or(|d| &s.dbi_resource_id == d)
        })
        .map(|(s, v)| {
            let shown = if v == View::Own {
                s.identifier.clone()
            } else {
                s.arn()
            };
            (s, v, shown)
        })
        .collect();
    if named.is_some() && all.is_empty() {
        return Err(RdsError::SnapshotNotFound {
            id: input.db_snapshot_identifier.clone().unwrap_or_default(),
        });
    }
    all.sort_by(|a, b| a.2.cmp(&b.2));
    let q = Query {
        named: None,
        filters: input.filters.as_deref(),
        max_records: input.max_records,
        marker: input.marker.as_deref(),
    };
    let field = |(s, v, _): &(DbSnapshotRecord, View, String), name: &str| match name {
        "db-instance-id" => vec![
            s.instance_identifier.clone(),
            arn(s.account, s.region, RdsKind::Db, &s.instance_identifier),
        ],
        "db-snapshot-id" => vec![s.identifier.clone(), s.arn()],
        "dbi-resource-id" => vec![s.dbi_resource_id.clone()],
        "snapshot-type" => vec![v.snapshot_type(s).to_owned()],
        "engine" => vec![s.engine.clone()],
        _ => vec![],
    };
    let (items, marker) = select(
        all,
        &q,
        |t| t.2.as_str(),
        field,
        |id| RdsError::SnapshotNotFound { id },
    )?;
    Ok(rds::DBSnapshotMessage {
        marker,
        db_snapshots: Some(items.iter().map(|(s, v, _)| to_api_as(s, *v)).collect()),
    })
}

pub async fn delete(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DeleteDBSnapshotMessage,
) -> Result<rds::DeleteDBSnapshotResult, RdsError> {
    let id = snapshot_name("DBSnapshotIdentifier", &input.db_snapshot_identifier)?;
    let (account, region) = (ctx.principal.account, ctx.region);
    let event = common::event_on(ctx, "DeleteDBSnapshot", &input, RdsKind::Snapshot, &id);
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<DbSnapshotRecord, RdsError> {
        let mut txn = meta.write()?;
        let s = store::get_snapshot(&*txn, account, region, &id)?
            .ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?;
        if s.snapshot_type != "manual" {
            return Err(RdsError::SnapshotNotManual { id });
        }
        if s.status == SnapshotStatus::Creating {
            return Err(RdsError::InvalidSnapshotState {
                id,
                status: s.status.as_str().to_owned(),
            });
        }
        drop_snapshot(txn.as_mut(), &s)?;
        common::commit(txn, &[event])?;
        Ok(s)
    })
    .await??;
    let mut out = to_api(&snap);
    out.status = Some("deleted".into());
    Ok(rds::DeleteDBSnapshotResult {
        db_snapshot: Some(out),
    })
}

/// The snapshot `r` names as the caller may use it (own, shared or public), with its backing
/// managed snapshot; `None` when the caller may not see it.
type Source = (DbSnapshotRecord, View, SnapshotInfo);

async fn load_source(
    svc: &Rds,
    ctx: &RequestContext,
    r: sharing::SnapshotRef,
) -> Result<Option<Source>, RdsError> {
    let (meta, account) = (svc.meta.clone(), ctx.principal.account);
    crate::blocking(move || -> Result<Option<Source>, RdsError> {
        let txn = meta.read()?;
        let Some((s, view)) = sharing::visible(&*txn, &r, account)? else {
            return Ok(None);
        };
        let Some(e) = managed::snapshot(&*txn, s.account, s.region, &s.ebs_snapshot_id)? else {
            return Ok(None);
        };
        Ok(Some((s, view, e)))
    })
    .await?
}

/// AWS's message when the caller cannot use the source snapshot's key (docs/rds.md §5).
fn source_key_not_accessible(key: &str) -> RdsError {
    RdsError::KmsKeyNotAccessible {
        message: format!("The source snapshot KMS key [{key}] does not exist, is not enabled or you do not have permissions to access it."),
    }
}

/// The copy's key by docs/rds.md §5's outcome table: a named key (resolved in the request's region)
/// wins, also for an unencrypted source; an encrypted source from another region or account
/// needs one; otherwise the source's own key, or none.
async fn copy_key(
    svc: &Rds,
    ctx: &RequestContext,
    input: &rds::CopyDBSnapshotMessage,
    source: &DbSnapshotRecord,
) -> Result<Option<String>, RdsError> {
    let cross_region = source.region != ctx.region;
    let cross_account = source.account != ctx.principal.account;
    match (&input.kms_key_id, &source.kms_key_arn) {
        (Some(k), _) => Ok(Some(common::resolve_key(svc, ctx, k).await?)),
        (None, Some(_)) if cross_region => Err(RdsError::InvalidParameterValue(
            "Must specify new KMS key for cross region encrypted snapshot copy.".into(),
        )),
        (None, Some(_)) if cross_account => Err(RdsError::InvalidParameterValue(
            "Must specify a KMS key to copy an encrypted snapshot shared from another AWS account."
                .into(),
        )),
        (None, k) => Ok(k.clone()),
    }
}

pub async fn copy(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::CopyDBSnapshotMessage,
) -> Result<rds::CopyDBSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let source_ref = sharing::parse_ref(
        "SourceDBSnapshotIdentifier",
        &input.source_db_snapshot_identifier,
        ctx,
    )?;
    let target_id = identifier(
        "TargetDBSnapshotIdentifier",
        &input.target_db_snapshot_identifier,
    )?;
    let (source, _view, source_ebs) =
        load_source(svc, ctx, source_ref)
            .await?
            .ok_or_else(|| RdsError::SnapshotNotFound {
                id: input.source_db_snapshot_identifier.clone(),
            })?;
    if source.status != SnapshotStatus::Available || source_ebs.state != SnapshotState::Completed {
        return Err(RdsError::InvalidSnapshotState {
            id: source.identifier,
            status: source.status.as_str().to_owned(),
        });
    }
    let key = copy_key(svc, ctx, &input, &source).await?;
    let (same_region, own) = (source.region == region, source.account == account);
    // Blobs are shared only when nothing changes: same region, account and key.
    let share_blobs = same_region && own && key == source.kms_key_arn;
    if !share_blobs {
        // The job reads the source with its data key, unwrapped for the caller through RDS in
        // the source's region: refuse now what KMS would refuse then.
        let in_source_region = RequestContext {
            region: source.region,
            ..ctx.clone()
        };
        if let Err(e) = svc
            .ebs
            .check_snapshot_key(&in_source_region, source.account, &source.ebs_snapshot_id)
            .await
        {
            tracing::info!(source = %source.arn(), error = %e, "copy source key not usable by the caller");
            return Err(source_key_not_accessible(
                source.kms_key_arn.as_deref().unwrap_or("None"),
            ));
        }
    }
    let description = format!("RDS copy of {}", source.arn());
    let key_use = common::instance_use(&source.dbi_resource_id);
    let mut tags = tags_from(input.tags.as_deref());
    if input.copy_tags == Some(true) {
        tags = common::with_source_tags(tags, &source.tags);
    }
    let snap = DbSnapshotRecord {
        identifier: target_id.clone(),
        account,
        region,
        // A copy of an automated snapshot is a manual one.
        snapshot_type: "manual".into(),
        status: SnapshotStatus::Creating,
        percent_progress: 0,
        availability_zone: if same_region {
            source.availability_zone.clone()
        } else {
            format!("{region}a")
        },
        encrypted: key.is_some(),
        kms_key_arn: key,
        source_snapshot: Some(source.arn()),
        tags,
        created: now,
        shared_with: Vec::new(),
        public: false,
        source_region: (!same_region).then_some(source.region),
        ..source.clone()
    };
    // The presigned URL carries a signature: it never enters the log.
    let logged = rds::CopyDBSnapshotMessage {
        pre_signed_url: None,
        ..input
    };
    let event = common::event_on(
        ctx,
        "CopyDBSnapshot",
        &logged,
        RdsKind::Snapshot,
        &snap.identifier,
    );
    let job = (key_use, description);
    let snap = common::commit_copy(svc, ctx, snap, source_ebs, job, event).await?;
    Ok(rds::CopyDBSnapshotResult {
        db_snapshot: Some(to_api(&snap)),
    })
}

pub async fn restore(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::RestoreDBInstanceFromDBSnapshotMessage,
) -> Result<rds::RestoreDBInstanceFromDBSnapshotResult, RdsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let id = identifier("DBInstanceIdentifier", &input.db_instance_identifier)?;
    let Some(snap_param) = input.db_snapshot_identifier.clone() else {
        // DBClusterSnapshotIdentifier (Multi-AZ cluster snapshots) is not built.
        return Err(RdsError::NotImplemented("RestoreDBInstanceFromDBSnapshot"));
    };
    let snap_ref = sharing::parse_ref("DBSnapshotIdentifier", &snap_param, ctx)?;
    // A snapshot of another region is copied first; one shared with the caller restores here.
    let found = match snap_ref.region == region {
        true => load_source(svc, ctx, snap_ref).await?,
        false => None,
    };
    let (snap, view, ebs) = found.ok_or(RdsError::SnapshotNotFound { id: snap_param })?;
    if snap.status != SnapshotStatus::Available || ebs.state != SnapshotState::Completed {
        return Err(RdsError::InvalidSnapshotState {
            id: snap.identifier,
            status: snap.status.as_str().to_owned(),
        });
    }
    backing::ensure_free::<DbInstanceRecord>(svc, ctx, &id).await?;
    let storage = input.allocated_storage.unwrap_or(snap.allocated_storage);
    if storage < snap.allocated_storage {
        return Err(RdsError::InvalidParameterValue(format!(
            "AllocatedStorage must be at least the snapshot's {} GiB.",
            snap.allocated_storage
        )));
    }
    // The new instance reads the snapshot's data: its key must be usable by the caller
    // through RDS now (a disabled key is KMSKeyNotAccessibleFault, not a later failure).
    svc.ebs
        .check_snapshot_key(ctx, snap.account, &snap.ebs_snapshot_id)
        .await?;
    let dbi = new_dbi_resource_id()?;
    let spec = VolumeSpec {
        size_gib: storage,
        key_arn: ebs.kms_key_arn.clone(),
        key_use: common::instance_use(&dbi),
        // Join the snapshot's lineage: its manifest becomes the volume's (blobs shared).
        source: VolumeSource::Join {
            owner: ebs.account,
            snapshot: ebs.id.clone(),
        },
    };
    let volume = svc.ebs.prepare_volume(ctx, spec).await?;
    let rec = DbInstanceRecord {
        identifier: id.clone(),
        account,
        region,
        dbi_resource_id: dbi,
        status: InstanceStatus::Creating,
        engine: snap.engine.clone(),
        engine_version: snap.engine_version.clone(),
        instance_class: input
            .db_instance_class
            .clone()
            .unwrap_or_else(|| "db.t3.micro".into()),
        allocated_storage: storage,
        storage_encrypted: snap.encrypted,
        kms_key_arn: snap.kms_key_arn.clone(),
        backup_retention_period: input.backup_retention_period.unwrap_or(1),
        master_username: snap.master_username.clone(),
        db_name: input.db_name.clone(),
        port: input.port.unwrap_or(snap.port),
        availability_zone: input
            .availability_zone
            .clone()
            .unwrap_or_else(|| format!("{region}a")),
        // Without Tags, the snapshot's own tags carry over (its owner's only).
        tags: match (&input.tags, view) {
            (Some(t), _) => tags_from(Some(t)),
            (None, View::Own) => snap.tags.clone(),
            (None, _) => Vec::new(),
        },
        volume_id: volume.id(),
        created: now,
        copy_tags_to_snapshot: input.copy_tags_to_snapshot.unwrap_or(false),
        deletion_protection: input.deletion_protection.unwrap_or(false),
        last_automated_backup: None,
        status_since: Some(now),
        cluster: None,
    };
    let logged = rds::RestoreDBInstanceFromDBSnapshotMessage {
        tde_credential_password: None,
        ..input
    };
    let event = common::event(
        ctx,
        "RestoreDBInstanceFromDBSnapshot",
        &logged,
        "AWS::RDS::DBInstance",
        &rec.arn(),
    );
    backing::insert_new(svc, rec.clone(), volume, |_| Ok(()), event).await?;
    Ok(rds::RestoreDBInstanceFromDBSnapshotResult {
        db_instance: Some(instances::to_api(&rec)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/rds.md §4's visibility table, row by row: (SnapshotType, IncludeShared, IncludePublic) →
    /// whether an own manual, own automated, shared and public snapshot is listed.
    #[test]
    fn describe_visibility_table() {
        let base = crate::testenv::snapshot_record("111111111111", "manual");
        let manual = base.clone();
        let automated = DbSnapshotRecord {
            snapshot_type: "automated".into(),
            ..base.clone()
        };
        let shared = base.clone();
        let public = DbSnapshotRecord {
            public: true,
            ..base
        };
        let cases: &[(Option<&str>, bool, bool, [bool; 4])] = &[
            (None, false, false, [true, true, false, false]),
            (None, true, false, [true, true, true, false]),
            (None, false, true, [true, true, false, true]),
            (None, true, true, [true, true, true, true]),
            (Some("manual"), true, true, [true, false, false, false]),
            (Some("automated"), true, true, [false, true, false, false]),
            (Some("shared"), false, false, [false, false, true, false]),
            (Some("public"), false, false, [false, false, false, true]),
            (Some("awsbackup"), true, true, [false, false, false, false]),
        ];
        for (t, inc_shared, inc_public, want) in cases {
            let got = [
                listed(&manual, View::Own, *t, *inc_shared, *inc_public),
                listed(&automated, View::Own, *t, *inc_shared, *inc_public),
                listed(&shared, View::Shared, *t, *inc_shared, *inc_public),
                listed(&public, View::Public, *t, *inc_shared, *inc_public),
            ];
            assert_eq!(&got, want, "{t:?} {inc_shared} {inc_public}");
        }
    }
}
