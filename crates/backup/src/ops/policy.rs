//! A vault's access policy and its vault lock (docs/backup.md §5).

use super::vaults::{event, load, update};
use crate::error::BackupError;
use crate::model::VaultLock;
use crate::Backup;
use kmsnap_api::gen::backup::*;
use kmsnap_auth::RequestContext;
use kmsnap_policy::{Policy, PolicyKind};

/// Longest retention Vault Lock accepts, in days (100 years).
const MAX_DAYS: i64 = 36_500;
/// Shortest grace time before a compliance-mode lock becomes immutable.
const MIN_CHANGEABLE_DAYS: i64 = 3;

pub async fn put_access_policy(
    svc: &Backup,
    ctx: &RequestContext,
    input: PutBackupVaultAccessPolicyInput,
) -> Result<(), BackupError> {
    let text = input
        .policy
        .clone()
        .ok_or_else(|| BackupError::MissingParameterValue("Policy is required".into()))?;
    Policy::parse(&text, PolicyKind::Resource).map_err(|e| {
        BackupError::InvalidParameterValue(format!("Invalid backup vault access policy: {e}"))
    })?;
    let arn = crate::model::vault_arn(ctx.principal.account, ctx.region, &input.backup_vault_name);
    let ev = event(ctx, "PutBackupVaultAccessPolicy", &input, &arn);
    update(svc, ctx, &input.backup_vault_name, ev, move |v| {
        v.access_policy = Some(text);
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn get_access_policy(
    svc: &Backup,
    ctx: &RequestContext,
    input: GetBackupVaultAccessPolicyInput,
) -> Result<GetBackupVaultAccessPolicyOutput, BackupError> {
    let v = load(svc, ctx, &input.backup_vault_name).await?;
    let policy = v.access_policy.clone().ok_or_else(|| {
        BackupError::ResourceNotFound(format!("Backup vault {} has no access policy", v.name))
    })?;
    Ok(GetBackupVaultAccessPolicyOutput {
        backup_vault_name: Some(v.name.clone()),
        backup_vault_arn: Some(v.arn()),
        policy: Some(policy),
    })
}

pub async fn delete_access_policy(
    svc: &Backup,
    ctx: &RequestContext,
    input: DeleteBackupVaultAccessPolicyInput,
) -> Result<(), BackupError> {
    let arn = crate::model::vault_arn(ctx.principal.account, ctx.region, &input.backup_vault_name);
    let ev = event(ctx, "DeleteBackupVaultAccessPolicy", &input, &arn);
    update(svc, ctx, &input.backup_vault_name, ev, |v| {
        v.access_policy = None;
        Ok(())
    })
    .await?;
    Ok(())
}

/// The refusal of a change to a lock that has become immutable.
fn immutable() -> BackupError {
    BackupError::InvalidRequest {
        code: None,
        message: "Backup vault is locked in compliance mode: its lock can no longer be changed or deleted.".into(),
    }
}

pub async fn put_lock(
    svc: &Backup,
    ctx: &RequestContext,
    input: PutBackupVaultLockConfigurationInput,
) -> Result<(), BackupError> {
    let (min, max, changeable) = (
        input.min_retention_days,
        input.max_retention_days,
        input.changeable_for_days,
    );
    let in_range = |d: Option<i64>| d.is_none_or(|d| (1..=MAX_DAYS).contains(&d));
    if !in_range(min) || !in_range(max) {
        return Err(BackupError::InvalidParameterValue(format!(
            "MinRetentionDays and MaxRetentionDays must be between 1 and {MAX_DAYS} days"
        )));
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            return Err(BackupError::InvalidParameterValue(
                "MinRetentionDays must not be greater than MaxRetentionDays".into(),
            ));
        }
    }
    if changeable.is_some_and(|d| !(MIN_CHANGEABLE_DAYS..=MAX_DAYS).contains(&d)) {
        return Err(BackupError::InvalidParameterValue(format!(
            "ChangeableForDays must be between {MIN_CHANGEABLE_DAYS} and {MAX_DAYS} days"
        )));
    }
    let now = ctx.now;
    let arn = crate::model::vault_arn(ctx.principal.account, ctx.region, &input.backup_vault_name);
    let ev = event(ctx, "PutBackupVaultLockConfiguration", &input, &arn);
    update(svc, ctx, &input.backup_vault_name, ev, move |v| {
        if v.lock.as_ref().is_some_and(|l| l.immutable_at(now)) {
            return Err(immutable());
        }
        v.lock = Some(VaultLock::new(min, max, changeable, now));
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn delete_lock(
    svc: &Backup,
    ctx: &RequestContext,
    input: DeleteBackupVaultLockConfigurationInput,
) -> Result<(), BackupError> {
    let now = ctx.now;
    let arn = crate::model::vault_arn(ctx.principal.account, ctx.region, &input.backup_vault_name);
    let ev = event(ctx, "DeleteBackupVaultLockConfiguration", &input, &arn);
    update(svc, ctx, &input.backup_vault_name, ev, move |v| {
        if v.lock.as_ref().is_some_and(|l| l.immutable_at(now)) {
            return Err(immutable());
        }
        v.lock = None;
        Ok(())
    })
    .await?;
    Ok(())
}
