//! Backup vaults: create, describe, list, delete, and their tags (docs/backup.md §2, §4).

use crate::error::BackupError;
use crate::model::{vault_arn, VaultRecord};
use crate::{blocking, store, Backup, BACKUP_SERVICE};
use kmsnap_api::gen::backup::*;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_api::Timestamp;
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};
use serde::Serialize;

/// CloudTrail's event source for Backup calls.
pub const BACKUP_SOURCE: &str = "backup.amazonaws.com";
/// The resource type of a vault in CloudTrail.
const VAULT_TYPE: &str = "AWS::Backup::BackupVault";

/// A vault name: 2–50 letters, digits, hyphens and underscores (docs/backup.md §2).
pub fn check_name(name: &str) -> Result<(), BackupError> {
    let ok = (2..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BackupError::InvalidParameterValue(format!(
            "Invalid backup vault name {name}: it must be 2 to 50 characters of letters, numbers, hyphens and underscores"
        )))
    }
}

/// The audit event of a mutating vault call.
pub fn event<T: Serialize>(ctx: &RequestContext, op: &str, input: &T, arn: &str) -> Event {
    Event::api_call(ctx, BACKUP_SOURCE, op, false)
        .with_request_of("backup", op, input)
        .with_resource(VAULT_TYPE, arn)
}

/// The caller's vault `name`, or [`BackupError::VaultNotVisible`].
pub async fn load(
    svc: &Backup,
    ctx: &RequestContext,
    name: &str,
) -> Result<VaultRecord, BackupError> {
    check_name(name)?;
    let (meta, account, region, n) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        name.to_owned(),
    );
    blocking(move || store::get_vault(meta.read()?.as_ref(), account, region, &n))
        .await??
        .ok_or_else(|| BackupError::VaultNotVisible {
            name: name.to_owned(),
        })
}

/// Applies `change` to the caller's vault `name` in one transaction with `event`; a vault that
/// is gone meanwhile is [`BackupError::VaultNotVisible`].
pub async fn update(
    svc: &Backup,
    ctx: &RequestContext,
    name: &str,
    event: Event,
    change: impl FnOnce(&mut VaultRecord) -> Result<(), BackupError> + Send + 'static,
) -> Result<VaultRecord, BackupError> {
    check_name(name)?;
    let (meta, account, region, n) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        name.to_owned(),
    );
    blocking(move || {
        let mut txn = meta.write()?;
        let mut v = store::get_vault(txn.as_ref(), account, region, &n)?
            .ok_or(BackupError::VaultNotVisible { name: n })?;
        change(&mut v)?;
        store::put_vault(txn.as_mut(), &v)?;
        commit(txn, &[event])?;
        Ok(v)
    })
    .await?
}

/// Writes `events` in `txn` (the change's own transaction) and commits it.
pub fn commit(
    mut txn: Box<dyn kmsnap_store::WriteTxn + '_>,
    events: &[Event],
) -> Result<(), BackupError> {
    kmsnap_audit::append(txn.as_mut(), events).map_err(|e| {
        tracing::error!(error = %e, "backup audit append");
        BackupError::Internal("audit")
    })?;
    txn.commit()?;
    Ok(())
}

/// `EncryptionKeyArn` → (key ARN, customer managed): a key ARN (not an alias) of the request's
/// region that the caller may describe through Backup (docs/backup.md §3).
async fn resolve_key(
    svc: &Backup,
    ctx: &RequestContext,
    given: &str,
) -> Result<(String, bool), BackupError> {
    let invalid =
        || BackupError::InvalidParameterValue(format!("Invalid encryption key ARN: {given}"));
    let arn = Arn::parse(given).map_err(|_| invalid())?;
    if arn.service != "kms"
        || !arn.resource.starts_with("key/")
        || arn.region != ctx.region.as_str()
    {
        return Err(invalid());
    }
    let meta = svc
        .kms
        .describe_key(
            &ctx.via(BACKUP_SERVICE),
            kmsapi::DescribeKeyRequest {
                key_id: given.to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(|_| invalid())?
        .key_metadata
        .ok_or(BackupError::Internal("DescribeKey without metadata"))?;
    let key_arn = meta
        .arn
        .ok_or(BackupError::Internal("DescribeKey without ARN"))?;
    let customer = meta.key_manager == Some(kmsapi::KeyManagerType::Customer);
    Ok((key_arn, customer))
}

/// The account's AWS managed `aws/backup` key in the request's region (created on first use).
async fn default_key(
    svc: &Backup,
    account: AccountId,
    region: Region,
) -> Result<String, BackupError> {
    let kms = svc.kms.clone();
    blocking(move || kmsnap_kms::managed::managed_key_arn(&kms, account, region, "backup"))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "aws/backup managed key");
            BackupError::Internal("managed key")
        })
}

pub async fn create(
    svc: &Backup,
    ctx: &RequestContext,
    input: CreateBackupVaultInput,
) -> Result<CreateBackupVaultOutput, BackupError> {
    let name = input.backup_vault_name.clone();
    check_name(&name)?;
    if let Some(id) = &input.creator_request_id {
        if id.is_empty()
            || id.len() > 50
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(BackupError::InvalidParameterValue(
                "CreatorRequestId must contain 1 to 50 alphanumeric or '-_.' characters".into(),
            ));
        }
    }
    let tags: Vec<(String, String)> = input
        .backup_vault_tags
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    check_tags(&tags)?;
    let (account, region) = (ctx.principal.account, ctx.region);
    // A retry of the same request (same CreatorRequestId) answers the vault it made.
    if let Ok(existing) = load(svc, ctx, &name).await {
        if existing.creator_request_id.is_some()
            && existing.creator_request_id == input.creator_request_id
        {
            return Ok(created(&existing));
        }
        return Err(BackupError::VaultAlreadyExists {
            arn: existing.arn(),
            name,
        });
    }
    let (key_arn, customer) = match input.encryption_key_arn.as_deref() {
        Some(k) => resolve_key(svc, ctx, k).await?,
        None => (default_key(svc, account, region).await?, false),
    };
    let rec = VaultRecord {
        account,
        region,
        name: name.clone(),
        encryption_key_arn: key_arn,
        customer_managed_key: customer,
        created: ctx.now,
        creator_request_id: input.creator_request_id.clone(),
        tags,
        access_policy: None,
        lock: None,
    };
    // Tags are sensitive in the model: CloudTrail does not carry them.
    let logged = CreateBackupVaultInput {
        backup_vault_tags: None,
        ..input
    };
    let ev = event(ctx, "CreateBackupVault", &logged, &rec.arn());
    let (meta, r) = (svc.meta.clone(), rec.clone());
    blocking(move || {
        let mut txn = meta.write()?;
        if let Some(v) = store::get_vault(txn.as_ref(), r.account, r.region, &r.name)? {
            return Err(BackupError::VaultAlreadyExists {
                arn: v.arn(),
                name: r.name,
            });
        }
        store::put_vault(txn.as_mut(), &r)?;
        commit(txn, &[ev])
    })
    .await??;
    Ok(created(&rec))
}

fn created(v: &VaultRecord) -> CreateBackupVaultOutput {
    CreateBackupVaultOutput {
        backup_vault_name: Some(v.name.clone()),
        backup_vault_arn: Some(v.arn()),
        creation_date: Some(Timestamp(v.created)),
    }
}

/// Recovery points vault `v` holds: what DescribeBackupVault shows and what DeleteBackupVault
/// checks.
fn recovery_points(txn: &dyn kmsnap_store::ReadTxn, v: &VaultRecord) -> Result<i64, BackupError> {
    let n = store::count_points(txn, v.account, v.region, &v.name)?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// [`recovery_points`] of each of `vaults`, in one read.
async fn counts(svc: &Backup, vaults: &[VaultRecord]) -> Result<Vec<i64>, BackupError> {
    let (meta, vs) = (svc.meta.clone(), vaults.to_vec());
    blocking(move || {
        let txn = meta.read()?;
        vs.iter()
            .map(|v| recovery_points(txn.as_ref(), v))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
}

fn key_type(v: &VaultRecord) -> Option<EncryptionKeyType> {
    v.customer_managed_key
        .then_some(EncryptionKeyType::CustomerManagedKmsKey)
}

pub async fn describe(
    svc: &Backup,
    ctx: &RequestContext,
    input: DescribeBackupVaultInput,
) -> Result<DescribeBackupVaultOutput, BackupError> {
    // Another account's vault (BackupVaultAccountId) is not visible: no vault is shared yet.
    if input
        .backup_vault_account_id
        .as_deref()
        .is_some_and(|a| a != ctx.principal.account.as_str())
    {
        return Err(BackupError::VaultNotVisible {
            name: input.backup_vault_name,
        });
    }
    let v = load(svc, ctx, &input.backup_vault_name).await?;
    let points = counts(svc, std::slice::from_ref(&v)).await?;
    let lock = v.lock.as_ref();
    Ok(DescribeBackupVaultOutput {
        backup_vault_name: Some(v.name.clone()),
        backup_vault_arn: Some(v.arn()),
        vault_type: Some(VaultType::BackupVault),
        vault_state: Some(VaultState::Available),
        encryption_key_arn: Some(v.encryption_key_arn.clone()),
        creation_date: Some(Timestamp(v.created)),
        creator_request_id: v.creator_request_id.clone(),
        number_of_recovery_points: points.first().copied(),
        locked: Some(lock.is_some()),
        min_retention_days: lock.and_then(|l| l.min_retention_days),
        max_retention_days: lock.and_then(|l| l.max_retention_days),
        lock_date: lock.and_then(|l| l.lock_date).map(Timestamp),
        encryption_key_type: key_type(&v),
        ..Default::default()
    })
}

pub async fn list(
    svc: &Backup,
    ctx: &RequestContext,
    input: ListBackupVaultsInput,
) -> Result<ListBackupVaultsOutput, BackupError> {
    let max = input.max_results.unwrap_or(1000);
    if !(1..=1000).contains(&max) {
        return Err(BackupError::InvalidParameterValue(
            "MaxResults must be between 1 and 1000".into(),
        ));
    }
    // The token is the last name of the previous page.
    if let Some(t) = &input.next_token {
        check_name(t)
            .map_err(|_| BackupError::InvalidParameterValue("Invalid NextToken".into()))?;
    }
    // Only standard backup vaults exist here; asking for shared ones finds none.
    let other_type = input
        .by_vault_type
        .as_ref()
        .is_some_and(|t| *t != VaultType::BackupVault);
    if other_type || input.by_shared == Some(true) {
        return Ok(ListBackupVaultsOutput {
            backup_vault_list: Some(Vec::new()),
            next_token: None,
        });
    }
    let (meta, account, region, after) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        input.next_token.clone(),
    );
    let limit = max as usize;
    let mut page = blocking(move || {
        store::scan_vaults(
            meta.read()?.as_ref(),
            account,
            region,
            after.as_deref(),
            limit + 1,
        )
    })
    .await??;
    let next_token = (page.len() > limit).then(|| {
        page.truncate(limit);
        page.last().map(|v| v.name.clone()).unwrap_or_default()
    });
    let points = counts(svc, &page).await?;
    let list = page
        .iter()
        .zip(points)
        .map(|(v, n)| {
            let lock = v.lock.as_ref();
            BackupVaultListMember {
                backup_vault_name: Some(v.name.clone()),
                backup_vault_arn: Some(v.arn()),
                vault_type: Some(VaultType::BackupVault),
                vault_state: Some(VaultState::Available),
                creation_date: Some(Timestamp(v.created)),
                encryption_key_arn: Some(v.encryption_key_arn.clone()),
                creator_request_id: v.creator_request_id.clone(),
                number_of_recovery_points: Some(n),
                locked: Some(lock.is_some()),
                min_retention_days: lock.and_then(|l| l.min_retention_days),
                max_retention_days: lock.and_then(|l| l.max_retention_days),
                lock_date: lock.and_then(|l| l.lock_date).map(Timestamp),
                encryption_key_type: key_type(v),
            }
        })
        .collect();
    Ok(ListBackupVaultsOutput {
        backup_vault_list: Some(list),
        next_token,
    })
}

pub async fn delete(
    svc: &Backup,
    ctx: &RequestContext,
    input: DeleteBackupVaultInput,
) -> Result<(), BackupError> {
    let name = input.backup_vault_name.clone();
    check_name(&name)?;
    let ev = event(
        ctx,
        "DeleteBackupVault",
        &input,
        &vault_arn(ctx.principal.account, ctx.region, &name),
    );
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    blocking(move || {
        let mut txn = meta.write()?;
        let v = store::get_vault(txn.as_ref(), account, region, &name)?
            .ok_or(BackupError::VaultNotVisible { name })?;
        if recovery_points(txn.as_ref(), &v)? > 0 {
            return Err(BackupError::InvalidRequest {
                code: Some("ERROR_9101"),
                message: "Backup vault cannot be deleted because it contains recovery points."
                    .into(),
            });
        }
        store::delete_vault(txn.as_mut(), &v)?;
        commit(txn, &[ev])
    })
    .await?
}

/// Tag keys 1–128 characters not starting with `aws:`, values up to 256 (docs/backup.md §4).
fn check_tags(tags: &[(String, String)]) -> Result<(), BackupError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(BackupError::InvalidParameterValue(format!(
                "Invalid tag: keys must be 1 to 128 characters and values at most 256: {k}"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(BackupError::InvalidParameterValue(
                "Tag keys starting with 'aws:' are reserved".into(),
            ));
        }
    }
    Ok(())
}

/// The caller's vault named by a tagging `ResourceArn`. Only vaults can carry tags so far;
/// any other ARN of Backup names nothing that exists.
fn vault_of_arn(ctx: &RequestContext, resource_arn: &str) -> Result<String, BackupError> {
    let arn = Arn::parse(resource_arn)
        .map_err(|_| BackupError::InvalidParameterValue(format!("Invalid ARN: {resource_arn}")))?;
    let not_found = || BackupError::ResourceNotFound(format!("Resource not found: {resource_arn}"));
    match arn.resource_id("backup", "backup-vault:") {
        Some(name)
            if arn.region == ctx.region.as_str()
                && arn.account == ctx.principal.account.as_str() =>
        {
            check_name(name).map_err(|_| not_found())?;
            Ok(name.to_owned())
        }
        _ => Err(not_found()),
    }
}

fn vault_not_found(arn: &str) -> impl Fn(BackupError) -> BackupError + '_ {
    move |e| match e {
        BackupError::VaultNotVisible { .. } => {
            BackupError::ResourceNotFound(format!("Resource not found: {arn}"))
        }
        other => other,
    }
}

/// Applies `change` to the tags of the vault `resource_arn` names, with `event`.
async fn change_tags(
    svc: &Backup,
    ctx: &RequestContext,
    resource_arn: &str,
    event: Event,
    change: impl FnOnce(&mut Vec<(String, String)>) -> Result<(), BackupError> + Send + 'static,
) -> Result<(), BackupError> {
    let name = vault_of_arn(ctx, resource_arn)?;
    update(svc, ctx, &name, event, move |v| change(&mut v.tags))
        .await
        .map_err(vault_not_found(resource_arn))?;
    Ok(())
}

pub async fn tag(
    svc: &Backup,
    ctx: &RequestContext,
    input: TagResourceInput,
) -> Result<(), BackupError> {
    vault_of_arn(ctx, &input.resource_arn)?;
    let new: Vec<(String, String)> = input.tags.clone().into_iter().collect();
    check_tags(&new)?;
    let logged = serde_json::json!({ "resourceArn": input.resource_arn });
    let ev = event(ctx, "TagResource", &logged, &input.resource_arn);
    change_tags(svc, ctx, &input.resource_arn, ev, move |tags| {
        for (k, val) in new {
            match tags.iter_mut().find(|(tk, _)| *tk == k) {
                Some(t) => t.1 = val,
                None => tags.push((k, val)),
            }
        }
        if tags.len() > 50 {
            return Err(BackupError::LimitExceeded(
                "A resource can have at most 50 tags".into(),
            ));
        }
        Ok(())
    })
    .await
}

pub async fn untag(
    svc: &Backup,
    ctx: &RequestContext,
    input: UntagResourceInput,
) -> Result<(), BackupError> {
    let ev = event(ctx, "UntagResource", &input, &input.resource_arn);
    let keys = input.tag_key_list.clone();
    change_tags(svc, ctx, &input.resource_arn, ev, move |tags| {
        tags.retain(|(k, _)| !keys.contains(k));
        Ok(())
    })
    .await
}

pub async fn list_tags(
    svc: &Backup,
    ctx: &RequestContext,
    input: ListTagsInput,
) -> Result<ListTagsOutput, BackupError> {
    let name = vault_of_arn(ctx, &input.resource_arn)?;
    let v = load(svc, ctx, &name)
        .await
        .map_err(vault_not_found(&input.resource_arn))?;
    Ok(ListTagsOutput {
        tags: Some(v.tags.into_iter().collect()),
        next_token: None,
    })
}
