//! Recovery points: describe, list by vault, delete (docs/backup.md §9).

use crate::error::BackupError;
use crate::model::{PointRecord, PointStatus, VaultRecord};
use crate::ops::jobs::{page, page_params, EBS};
use crate::ops::vaults::{check_name, commit, load, BACKUP_SOURCE};
use crate::{blocking, store, Backup};
use chrono::{DateTime, Duration, Utc};
use kmsnap_api::gen::backup::*;
use kmsnap_api::Timestamp;
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_policy::{ConditionContext, DecisionEffect, Policy, PolicyKind, Request};
use kmsnap_snapshots::managed;

/// The snapshot id a recovery point ARN names (`arn:aws:ec2:<region>::snapshot/snap-…` of the
/// caller's region), or `ResourceNotFoundException`.
fn snapshot_of(ctx: &RequestContext, point_arn: &str) -> Result<String, BackupError> {
    let not_found =
        || BackupError::ResourceNotFound(format!("Recovery point {point_arn} not found"));
    let arn = Arn::parse(point_arn).map_err(|_| {
        BackupError::InvalidParameterValue(format!("Invalid recovery point ARN: {point_arn}"))
    })?;
    match arn.resource_id("ec2", "snapshot/") {
        Some(id) if arn.region == ctx.region.as_str() && id.starts_with("snap-") => {
            Ok(id.to_owned())
        }
        _ => Err(not_found()),
    }
}

/// The vault named in a call (another account's vaults are not visible: none is shared).
async fn vault_of(
    svc: &Backup,
    ctx: &RequestContext,
    name: &str,
    account_id: Option<&str>,
) -> Result<VaultRecord, BackupError> {
    if account_id.is_some_and(|a| a != ctx.principal.account.as_str()) {
        return Err(BackupError::VaultNotVisible {
            name: name.to_owned(),
        });
    }
    load(svc, ctx, name).await
}

async fn load_point(
    svc: &Backup,
    ctx: &RequestContext,
    vault: &str,
    point_arn: &str,
) -> Result<PointRecord, BackupError> {
    let snap = snapshot_of(ctx, point_arn)?;
    let (meta, account, region, v) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        vault.to_owned(),
    );
    blocking(move || store::get_point(meta.read()?.as_ref(), account, region, &v, &snap))
        .await??
        .ok_or_else(|| {
            BackupError::ResourceNotFound(format!("Recovery point {point_arn} not found"))
        })
}

fn status(s: PointStatus) -> RecoveryPointStatus {
    match s {
        PointStatus::Creating => RecoveryPointStatus::Creating,
        PointStatus::Completed => RecoveryPointStatus::Completed,
    }
}

fn lifecycle_of(p: &PointRecord) -> (Option<Lifecycle>, Option<CalculatedLifecycle>) {
    let l = &p.lifecycle;
    if l.delete_after_days.is_none() && l.move_to_cold_storage_after_days.is_none() {
        return (None, None);
    }
    (
        Some(Lifecycle {
            move_to_cold_storage_after_days: l.move_to_cold_storage_after_days,
            delete_after_days: l.delete_after_days,
            ..Default::default()
        }),
        Some(CalculatedLifecycle {
            move_to_cold_storage_at: l.cold_at(p.created).map(Timestamp),
            delete_at: l.delete_at(p.created).map(Timestamp),
        }),
    )
}

fn storage_class(p: &PointRecord, now: DateTime<Utc>) -> StorageClass {
    match p.lifecycle.cold_at(p.created) {
        Some(t) if t <= now => StorageClass::Cold,
        _ => StorageClass::Warm,
    }
}

fn describe_of(
    p: &PointRecord,
    v: &VaultRecord,
    now: DateTime<Utc>,
) -> DescribeRecoveryPointOutput {
    let (lifecycle, calculated_lifecycle) = lifecycle_of(p);
    DescribeRecoveryPointOutput {
        recovery_point_arn: Some(p.arn()),
        backup_vault_name: Some(v.name.clone()),
        backup_vault_arn: Some(v.arn()),
        resource_arn: Some(p.resource_arn.clone()),
        resource_type: Some(EBS.into()),
        iam_role_arn: Some(p.iam_role_arn.clone()),
        status: Some(status(p.status)),
        creation_date: Some(Timestamp(p.created)),
        initiation_date: Some(Timestamp(p.created)),
        completion_date: p.completed.map(Timestamp),
        backup_size_in_bytes: Some(p.size_bytes),
        calculated_lifecycle,
        lifecycle,
        encryption_key_arn: p.kms_key_arn.clone(),
        is_encrypted: Some(p.kms_key_arn.is_some()),
        storage_class: Some(storage_class(p, now)),
        is_parent: Some(false),
        vault_type: Some(VaultType::BackupVault),
        ..Default::default()
    }
}

pub async fn describe(
    svc: &Backup,
    ctx: &RequestContext,
    input: DescribeRecoveryPointInput,
) -> Result<DescribeRecoveryPointOutput, BackupError> {
    let owner = input.backup_vault_account_id.as_deref();
    let v = vault_of(svc, ctx, &input.backup_vault_name, owner).await?;
    let p = load_point(svc, ctx, &v.name, &input.recovery_point_arn).await?;
    Ok(describe_of(&p, &v, ctx.now))
}

fn by_vault_member(
    p: &PointRecord,
    v: &VaultRecord,
    now: DateTime<Utc>,
) -> RecoveryPointByBackupVault {
    let d = describe_of(p, v, now);
    RecoveryPointByBackupVault {
        recovery_point_arn: d.recovery_point_arn,
        backup_vault_name: d.backup_vault_name,
        backup_vault_arn: d.backup_vault_arn,
        resource_arn: d.resource_arn,
        resource_type: d.resource_type,
        iam_role_arn: d.iam_role_arn,
        status: d.status,
        creation_date: d.creation_date,
        initiation_date: d.initiation_date,
        completion_date: d.completion_date,
        backup_size_in_bytes: d.backup_size_in_bytes,
        calculated_lifecycle: d.calculated_lifecycle,
        lifecycle: d.lifecycle,
        encryption_key_arn: d.encryption_key_arn,
        is_encrypted: d.is_encrypted,
        is_parent: d.is_parent,
        vault_type: d.vault_type,
        ..Default::default()
    }
}

pub async fn list_by_vault(
    svc: &Backup,
    ctx: &RequestContext,
    input: ListRecoveryPointsByBackupVaultInput,
) -> Result<ListRecoveryPointsByBackupVaultOutput, BackupError> {
    let (max, offset) = page_params(input.max_results, input.next_token.as_deref())?;
    let owner = input.backup_vault_account_id.as_deref();
    let v = vault_of(svc, ctx, &input.backup_vault_name, owner).await?;
    // ByResourceArn takes the protected resource's ARN; AWS refuses others (a snapshot ARN:
    // "Unsupported resource type", aws/aws-sdk-go-v2#1904).
    if let Some(a) = &input.by_resource_arn {
        if let Err(e @ BackupError::InvalidParameterValue(_)) =
            crate::ops::jobs::parse_resource(ctx, a)
        {
            return Err(e);
        }
    }
    let (meta, account, region, name) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        v.name.clone(),
    );
    let mut points = blocking(move || {
        store::scan_points(
            meta.read()?.as_ref(),
            account,
            region,
            &name,
            None,
            usize::MAX,
        )
    })
    .await??;
    points.retain(|p| {
        input
            .by_resource_arn
            .as_deref()
            .is_none_or(|a| a == p.resource_arn)
            && input.by_resource_type.as_deref().is_none_or(|t| t == EBS)
            && input
                .by_created_before
                .as_ref()
                .is_none_or(|t| p.created < t.0)
            && input
                .by_created_after
                .as_ref()
                .is_none_or(|t| p.created > t.0)
            // On-demand points have no plan and no parent.
            && input.by_backup_plan_id.is_none()
            && input.by_parent_recovery_point_arn.is_none()
    });
    points.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then(a.snapshot_id.cmp(&b.snapshot_id))
    });
    let (items, next_token) = page(points, max, offset);
    Ok(ListRecoveryPointsByBackupVaultOutput {
        recovery_points: Some(
            items
                .iter()
                .map(|p| by_vault_member(p, &v, ctx.now))
                .collect(),
        ),
        next_token,
    })
}

/// Whether vault `v`'s access policy explicitly denies `action` on `resource` to the caller
/// (evaluated as KMS evaluates key policies; only a Deny matters within the vault's account).
fn policy_denies(
    ctx: &RequestContext,
    v: &VaultRecord,
    action: &str,
    resource: &str,
) -> Result<bool, BackupError> {
    let Some(text) = &v.access_policy else {
        return Ok(false);
    };
    let policy = Policy::parse(text, PolicyKind::Resource).map_err(|e| {
        tracing::error!(error = %e, vault = %v.name, "stored vault access policy unreadable");
        BackupError::Internal("vault policy")
    })?;
    let req = Request {
        principal: ctx.principal_info(),
        action,
        resource,
        context: ConditionContext::default(),
    };
    Ok(policy.evaluate(&req).effect == DecisionEffect::ExplicitDeny)
}

pub async fn delete(
    svc: &Backup,
    ctx: &RequestContext,
    input: DeleteRecoveryPointInput,
) -> Result<(), BackupError> {
    check_name(&input.backup_vault_name)?;
    let v = load(svc, ctx, &input.backup_vault_name).await?;
    let p = load_point(svc, ctx, &v.name, &input.recovery_point_arn).await?;
    let arn = p.arn();
    if policy_denies(ctx, &v, "backup:DeleteRecoveryPoint", &arn)? {
        return Err(BackupError::AccessDenied(format!(
            "User: {} is not authorized to perform: backup:DeleteRecoveryPoint on resource: {arn} with an explicit deny in a resource-based policy",
            ctx.principal.arn
        )));
    }
    if p.status == PointStatus::Creating {
        return Err(BackupError::InvalidRequest {
            code: None,
            message: format!("Recovery point {arn} is being created and cannot be deleted"),
        });
    }
    if let Some(min) = v.lock.as_ref().and_then(|l| l.min_retention_days) {
        if ctx.now < p.created + Duration::days(min) {
            return Err(BackupError::InvalidRequest {
                code: None,
                message: format!(
                    "Recovery point {arn} cannot be deleted before the vault lock's minimum retention of {min} days has passed"
                ),
            });
        }
    }
    let ev = Event::api_call(ctx, BACKUP_SOURCE, "DeleteRecoveryPoint", false)
        .with_request_of("backup", "DeleteRecoveryPoint", &input)
        .with_resource("AWS::EC2::Snapshot", &arn);
    let meta = svc.meta.clone();
    blocking(move || -> Result<(), BackupError> {
        let mut txn = meta.write()?;
        let Some(p) = store::get_point(
            txn.as_ref(),
            p.account,
            p.region,
            &p.vault_name,
            &p.snapshot_id,
        )?
        else {
            return Err(BackupError::ResourceNotFound(format!(
                "Recovery point {arn} not found"
            )));
        };
        remove_point(txn.as_mut(), &p)?;
        commit(txn, &[ev])
    })
    .await?
}

/// Deletes recovery point `p` and the snapshot that is it, in `txn`.
pub fn remove_point(
    txn: &mut dyn kmsnap_store::WriteTxn,
    p: &PointRecord,
) -> Result<(), BackupError> {
    store::delete_point(txn, p)?;
    let snap: managed::SnapshotId = p
        .snapshot_id
        .parse()
        .map_err(|_| BackupError::Internal("snapshot id"))?;
    managed::drop_snapshot(txn, p.account, p.region, &snap)?;
    managed::unmark_service_snapshot(txn, &snap)?;
    Ok(())
}

/// ListRecoveryPointsByResource (`GET /resources/{resourceArn}/recovery-points/`): the caller's
/// points of that resource in every vault of the region, newest first (docs/backup.md §9). The
/// resource itself need not exist any more.
pub async fn list_by_resource(
    svc: &Backup,
    ctx: &RequestContext,
    input: ListRecoveryPointsByResourceInput,
) -> Result<ListRecoveryPointsByResourceOutput, BackupError> {
    let (max, offset) = page_params(input.max_results, input.next_token.as_deref())?;
    crate::ops::jobs::parse_resource(ctx, &input.resource_arn)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let mut points = blocking(move || {
        let txn = meta.read()?;
        let mine: Vec<PointRecord> = store::every_point(txn.as_ref())?
            .into_iter()
            .filter(|p| p.account == account && p.region == region)
            .collect();
        Ok::<_, BackupError>(mine)
    })
    .await??;
    points.retain(|p| p.resource_arn == input.resource_arn);
    points.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then(a.snapshot_id.cmp(&b.snapshot_id))
    });
    let (items, next_token) = page(points, max, offset);
    let list = items
        .iter()
        .map(|p| RecoveryPointByResource {
            recovery_point_arn: Some(p.arn()),
            creation_date: Some(Timestamp(p.created)),
            status: Some(status(p.status)),
            encryption_key_arn: p.kms_key_arn.clone(),
            backup_size_bytes: Some(p.size_bytes),
            backup_vault_name: Some(p.vault_name.clone()),
            is_parent: Some(false),
            vault_type: Some(VaultType::BackupVault),
            ..Default::default()
        })
        .collect();
    Ok(ListRecoveryPointsByResourceOutput {
        recovery_points: Some(list),
        next_token,
    })
}

/// UpdateRecoveryPointLifecycle: a new lifecycle for a point, validated as at StartBackupJob
/// (§8: the 90-day cold storage rule, the vault lock's retention bounds); the move to cold
/// storage can no longer change once it happened (API reference). Dates count from the
/// point's creation (docs/backup.md §9).
pub async fn update_lifecycle(
    svc: &Backup,
    ctx: &RequestContext,
    input: UpdateRecoveryPointLifecycleInput,
) -> Result<UpdateRecoveryPointLifecycleOutput, BackupError> {
    check_name(&input.backup_vault_name)?;
    let life = crate::ops::jobs::lifecycle(input.lifecycle.as_ref())?;
    let v = load(svc, ctx, &input.backup_vault_name).await?;
    let p = load_point(svc, ctx, &v.name, &input.recovery_point_arn).await?;
    crate::ops::jobs::check_retention(v.lock.as_ref(), &life)?;
    let now = ctx.now;
    if storage_class(&p, now) == StorageClass::Cold
        && life.move_to_cold_storage_after_days != p.lifecycle.move_to_cold_storage_after_days
    {
        return Err(BackupError::InvalidRequest {
            code: None,
            message: "MoveToColdStorageAfterDays cannot be changed after the recovery point has moved to cold storage".into(),
        });
    }
    let arn = p.arn();
    let ev = Event::api_call(ctx, BACKUP_SOURCE, "UpdateRecoveryPointLifecycle", false)
        .with_request_of("backup", "UpdateRecoveryPointLifecycle", &input)
        .with_resource("AWS::EC2::Snapshot", &arn);
    let meta = svc.meta.clone();
    let updated = blocking(move || -> Result<PointRecord, BackupError> {
        let mut txn = meta.write()?;
        let mut p = store::get_point(
            txn.as_ref(),
            p.account,
            p.region,
            &p.vault_name,
            &p.snapshot_id,
        )?
        .ok_or_else(|| BackupError::ResourceNotFound(format!("Recovery point {arn} not found")))?;
        p.lifecycle = life;
        store::put_point(txn.as_mut(), &p)?;
        commit(txn, &[ev])?;
        Ok(p)
    })
    .await??;
    let (lifecycle, calculated_lifecycle) = lifecycle_of(&updated);
    Ok(UpdateRecoveryPointLifecycleOutput {
        backup_vault_arn: Some(v.arn()),
        recovery_point_arn: Some(updated.arn()),
        lifecycle,
        calculated_lifecycle,
    })
}
