//! EBS encryption by default and the default KMS key, per account and region
//! (docs/ebs.md §9): Enable/Disable/GetEbsEncryptionByDefault, GetEbsDefaultKmsKeyId,
//! ModifyEbsDefaultKmsKeyId, ResetEbsDefaultKmsKeyId.
//!
//! The default key is stored as a key ARN, or not at all (then it is the account's AWS managed
//! `aws/ebs` key, which GetEbsDefaultKmsKeyId names as `alias/aws/ebs`). Modify resolves the
//! key through KMS as EC2 (an unknown key or one of another region fails at once); whether the
//! key is usable shows only when a volume or copy needs it, as in AWS.

use super::common::{default_key_arn, resolve_key_arn};
use super::trail;
use crate::error::EbsError;
use crate::model::RegionSettings;
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_auth::RequestContext;
use serde::Serialize;

/// What GetEbsDefaultKmsKeyId answers while the default key is not customised.
pub const DEFAULT_ALIAS: &str = "alias/aws/ebs";

async fn read(svc: &Snapshots, ctx: &RequestContext) -> Result<RegionSettings, EbsError> {
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || store::get_settings(meta.read()?.as_ref(), account, region)).await?
}

/// Applies `change` to the region's settings and records `op` with its request, in one
/// transaction; returns the settings written.
async fn update<T, F>(
    svc: &Snapshots,
    ctx: &RequestContext,
    op: &'static str,
    input: &T,
    change: F,
) -> Result<RegionSettings, EbsError>
where
    T: Serialize,
    F: FnOnce(&mut RegionSettings) + Send + 'static,
{
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let event = trail::event(ctx, op, input);
    crate::blocking(move || -> Result<RegionSettings, EbsError> {
        let mut txn = meta.write()?;
        let mut s = store::get_settings(&*txn, account, region)?;
        change(&mut s);
        store::put_settings(txn.as_mut(), account, region, &s)?;
        trail::commit(txn, &[event])?;
        Ok(s)
    })
    .await?
}

pub async fn enable(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::EnableEbsEncryptionByDefaultRequest,
) -> Result<ec2::EnableEbsEncryptionByDefaultResult, EbsError> {
    trail::dry_run(input.dry_run)?;
    let s = update(svc, ctx, "EnableEbsEncryptionByDefault", &input, |s| {
        s.encryption_by_default = true
    })
    .await?;
    Ok(ec2::EnableEbsEncryptionByDefaultResult {
        ebs_encryption_by_default: Some(s.encryption_by_default),
    })
}

pub async fn disable(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DisableEbsEncryptionByDefaultRequest,
) -> Result<ec2::DisableEbsEncryptionByDefaultResult, EbsError> {
    trail::dry_run(input.dry_run)?;
    let s = update(svc, ctx, "DisableEbsEncryptionByDefault", &input, |s| {
        s.encryption_by_default = false
    })
    .await?;
    Ok(ec2::DisableEbsEncryptionByDefaultResult {
        ebs_encryption_by_default: Some(s.encryption_by_default),
    })
}

pub async fn get(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::GetEbsEncryptionByDefaultRequest,
) -> Result<ec2::GetEbsEncryptionByDefaultResult, EbsError> {
    trail::dry_run(input.dry_run)?;
    let s = read(svc, ctx).await?;
    Ok(ec2::GetEbsEncryptionByDefaultResult {
        ebs_encryption_by_default: Some(s.encryption_by_default),
        sse_type: None,
    })
}

pub async fn get_key(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::GetEbsDefaultKmsKeyIdRequest,
) -> Result<ec2::GetEbsDefaultKmsKeyIdResult, EbsError> {
    trail::dry_run(input.dry_run)?;
    let s = read(svc, ctx).await?;
    Ok(ec2::GetEbsDefaultKmsKeyIdResult {
        kms_key_id: Some(
            s.default_key_arn
                .unwrap_or_else(|| DEFAULT_ALIAS.to_owned()),
        ),
    })
}

pub async fn modify_key(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::ModifyEbsDefaultKmsKeyIdRequest,
) -> Result<ec2::ModifyEbsDefaultKmsKeyIdResult, EbsError> {
    if input.kms_key_id.is_empty() {
        return Err(EbsError::MissingParameter(
            "The request must contain the parameter KmsKeyId".into(),
        ));
    }
    let arn = resolve_key_arn(svc, ctx, &input.kms_key_id).await?;
    trail::dry_run(input.dry_run)?;
    let stored = arn.clone();
    update(svc, ctx, "ModifyEbsDefaultKmsKeyId", &input, move |s| {
        s.default_key_arn = Some(stored)
    })
    .await?;
    Ok(ec2::ModifyEbsDefaultKmsKeyIdResult {
        kms_key_id: Some(arn),
    })
}

/// Back to the AWS managed key, which is created here if it does not exist yet.
pub async fn reset_key(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::ResetEbsDefaultKmsKeyIdRequest,
) -> Result<ec2::ResetEbsDefaultKmsKeyIdResult, EbsError> {
    trail::dry_run(input.dry_run)?;
    update(svc, ctx, "ResetEbsDefaultKmsKeyId", &input, |s| {
        s.default_key_arn = None
    })
    .await?;
    let arn = default_key_arn(svc, ctx.principal.account, ctx.region).await?;
    Ok(ec2::ResetEbsDefaultKmsKeyIdResult {
        kms_key_id: Some(arn),
    })
}
