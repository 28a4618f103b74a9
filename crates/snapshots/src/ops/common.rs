//! What several operations need: resolving a `KmsKeyId` to the key ARN EBS stores, the
//! region's default key (docs/ebs.md §2), who may see a snapshot, ids and tags.

use crate::blocks::EC2_SERVICE;
use crate::error::EbsError;
use crate::model::SnapshotRecord;
use crate::store;
use crate::Snapshots;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};

/// `KmsKeyId` (id, ARN, alias name, alias ARN) → key ARN, through KMS as EC2 does (so an
/// unknown or foreign-region key, or one the caller may not describe, fails here). The key
/// must be in `region` (the request's: EBS never uses a key of another region).
pub async fn resolve_key_arn(
    svc: &Snapshots,
    ctx: &RequestContext,
    key_id: &str,
) -> Result<String, EbsError> {
    let via = ctx.via(EC2_SERVICE);
    let meta = svc
        .kms
        .describe_key(
            &via,
            kmsapi::DescribeKeyRequest {
                key_id: key_id.to_owned(),
                ..Default::default()
            },
        )
        .await?
        .key_metadata
        .ok_or(EbsError::Internal("DescribeKey without metadata"))?;
    let arn = meta
        .arn
        .ok_or(EbsError::Internal("DescribeKey without ARN"))?;
    if !Arn::parse(&arn).is_ok_and(|a| a.region == ctx.region.as_str()) {
        return Err(EbsError::Kms {
            code: "NotFoundException".into(),
            message: format!("Key '{arn}' does not exist"),
        });
    }
    Ok(arn)
}

/// The key a new encrypted resource gets when none is named: the region's customised default
/// key, else the account's AWS managed `aws/ebs` key there (created on first use).
pub async fn default_key_arn(
    svc: &Snapshots,
    account: AccountId,
    region: Region,
) -> Result<String, EbsError> {
    let meta = svc.meta.clone();
    let settings =
        crate::blocking(move || store::get_settings(meta.read()?.as_ref(), account, region))
            .await??;
    if let Some(k) = settings.default_key_arn {
        return Ok(k);
    }
    let kms = svc.kms.clone();
    crate::blocking(move || kmsnap_kms::managed::managed_key_arn(&kms, account, region, "ebs"))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "aws/ebs managed key");
            EbsError::Internal("managed key")
        })
}

/// Whether the region has encryption by default on.
pub async fn encryption_by_default(
    svc: &Snapshots,
    account: AccountId,
    region: Region,
) -> Result<bool, EbsError> {
    let meta = svc.meta.clone();
    Ok(
        crate::blocking(move || store::get_settings(meta.read()?.as_ref(), account, region))
            .await??
            .encryption_by_default,
    )
}

/// Whether `account` may use (describe, create volumes from, copy) `s`: its owner, an account
/// it is shared with, or anyone when public.
pub fn can_use(s: &SnapshotRecord, account: AccountId) -> bool {
    s.account == account || s.permissions.public || s.permissions.users.contains(&account)
}

/// A snapshot the caller may use, in the caller's region; otherwise InvalidSnapshot.NotFound
/// (AWS does not reveal snapshots one may not see).
pub async fn usable_snapshot(
    svc: &Snapshots,
    ctx: &RequestContext,
    id: &str,
) -> Result<SnapshotRecord, EbsError> {
    let meta = svc.meta.clone();
    let key = id.to_owned();
    let found =
        crate::blocking(move || store::find_snapshot(meta.read()?.as_ref(), &key)).await??;
    match found {
        Some(s)
            if s.region == ctx.region
                && s.managed_by.is_none()
                && can_use(&s, ctx.principal.account) =>
        {
            Ok(s)
        }
        _ => Err(EbsError::SnapshotNotFound { id: id.to_owned() }),
    }
}

/// `vol-…` / `snap-…`: the prefix and 17 lowercase hex digits.
pub fn new_id(prefix: &str) -> Result<String, EbsError> {
    kmsnap_core::ids::ec2_id(prefix).map_err(|_| EbsError::Internal("rng"))
}

/// The availability zones of a region: `<region>a`, `b`, `c` (DescribeAvailabilityZones).
pub fn zones(region: Region) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|z| format!("{region}{z}"))
        .collect()
}
