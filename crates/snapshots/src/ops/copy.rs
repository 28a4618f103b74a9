//! CopySnapshot (docs/ebs.md §6): checks what AWS checks at once (parameters, a source
//! snapshot that is `completed` and usable by the caller in `SourceRegion`, the destination
//! region's limit of concurrent copies), decides the copy's encryption by the outcome table,
//! and commits the new `pending` snapshot with its Copy job and CloudTrail event; the worker
//! ([`crate::workers::copy`]) does the rest.
//!
//! KMS problems are asynchronous, as in AWS: a `KmsKeyId` that does not resolve in the
//! destination region (a source-region key named for a cross-region copy, an unknown or
//! inaccessible key) is accepted, and the copy ends in `error` with "Given key ID is not
//! accessible" when its job first uses the key. `PresignedUrl` and `DestinationRegion`, which
//! SDKs add by themselves, are accepted and ignored (docs/protocols.md §7).

use super::common::{self, can_use};
use super::{tags, trail};
use crate::error::EbsError;
use crate::model::{
    JobCaller, JobKind, JobRecord, Permissions, SnapshotOrigin, SnapshotRecord, SnapshotState,
};
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};

/// Copies in progress per account and destination region.
pub const MAX_CONCURRENT_COPIES: usize = 20;

/// The `VolumeId` AWS shows for copies.
pub const COPY_VOLUME_ID: &str = "vol-ffffffff";

/// The destination key of a copy, as decided at the request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    Unencrypted,
    /// A key ARN; or, when it did not resolve in the destination region, the `KmsKeyId` as
    /// given (the job fails on it).
    Key(String),
}

pub async fn copy_snapshot(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::CopySnapshotRequest,
) -> Result<ec2::CopySnapshotResult, EbsError> {
    let source_region = Region::parse(&input.source_region).map_err(|_| {
        EbsError::InvalidParameterValue(format!(
            "Invalid value '{}' for SourceRegion.",
            input.source_region
        ))
    })?;
    if input.kms_key_id.is_some() && input.encrypted != Some(true) {
        return Err(EbsError::InvalidParameterDependency(
            "The parameter KmsKeyId requires the parameter Encrypted to be set.".into(),
        ));
    }
    let source_id = input.source_snapshot_id.clone();
    trail::check_id("sourceSnapshotId", "snap", &source_id)?;
    let (account, region) = (ctx.principal.account, ctx.region);
    let meta = svc.meta.clone();
    let sid = source_id.clone();
    let source =
        crate::blocking(move || store::find_snapshot(meta.read()?.as_ref(), &sid)).await??;
    let source = match source {
        Some(s)
            if s.region == source_region
                && s.state == SnapshotState::Completed
                && s.managed_by.is_none()
                && can_use(&s, account) =>
        {
            s
        }
        _ => return Err(EbsError::SnapshotNotFound { id: source_id }),
    };
    let id = common::new_id("snap")?;
    let tags = tags::from_specs(input.tag_specifications.as_deref(), "snapshot", &id)?;
    trail::dry_run(input.dry_run)?;

    let dest = destination(svc, ctx, &input, &source).await?;
    let key = match &dest {
        Destination::Unencrypted => None,
        Destination::Key(k) => Some(k.clone()),
    };
    let share_blobs = source_region == region
        && source.account == account
        && key == source.kms_key_arn
        && key.is_some() == source.encrypted;
    let now = ctx.now;
    let snap = SnapshotRecord {
        id: id.clone(),
        account,
        region,
        volume_id: COPY_VOLUME_ID.into(),
        volume_size: source.volume_size,
        state: SnapshotState::Pending,
        state_message: None,
        progress: 0,
        start_time: now,
        description: input
            .description
            .clone()
            .unwrap_or_else(|| format!("[Copied {} from {}]", source.id, source.region)),
        encrypted: key.is_some(),
        kms_key_arn: key,
        // A copy sharing blobs stays in the source's lineage; any other gets its own when its
        // job starts (the data key is made for the caller then, so KMS failures are the job's).
        lineage: if share_blobs {
            source.lineage.clone()
        } else {
            String::new()
        },
        tags: tags.clone(),
        permissions: Permissions::default(),
        origin: SnapshotOrigin::Copy {
            source_snapshot: source.id.clone(),
            source_region,
            source_account: source.account,
        },
        data_encryption_key_id: if share_blobs {
            source.data_encryption_key_id.clone()
        } else {
            None
        },
        completed: None,
        managed_by: None,
    };
    let kind = JobKind::Copy {
        source: source.id.clone(),
        source_region,
        source_account: source.account,
        share_blobs,
    };
    let (meta, source_blocks) = (svc.meta.clone(), source.id.clone());
    // The presigned URL carries a signature: it never enters the log.
    let logged = ec2::CopySnapshotRequest {
        presigned_url: None,
        ..input
    };
    let event = trail::with_ec2_resource(
        trail::event(ctx, "CopySnapshot", &logged),
        region,
        account,
        &id,
    )
    .with_response(
        "ec2",
        "CopySnapshot",
        serde_json::json!({ "snapshotId": id }),
    );
    let caller = JobCaller::from_context(ctx);
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        if copies_in_progress(&*txn, account, region)? >= MAX_CONCURRENT_COPIES {
            return Err(EbsError::ResourceLimitExceeded(format!(
                "Too many snapshot copies in progress. The limit is {MAX_CONCURRENT_COPIES} for this destination region."
            )));
        }
        let total = store::count_blocks(&*txn, &source_blocks)?;
        let job = JobRecord::new(&snap.id, account, region, kind, total, Some(caller), now);
        store::put_snapshot(txn.as_mut(), &snap)?;
        store::put_job(txn.as_mut(), &job)?;
        trail::append(txn.as_mut(), &[event])?;
        txn.commit()?;
        Ok(())
    })
    .await??;
    svc.wake_worker();
    Ok(ec2::CopySnapshotResult {
        snapshot_id: Some(id),
        tags: tags::to_api(&tags),
    })
}

/// Which key a copy gets, by the outcome table (docs/ebs.md §6). `KmsKeyId` without `Encrypted=true` was
/// refused before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyChoice {
    Unencrypted,
    /// The `KmsKeyId` named.
    Given,
    /// The source's own key (the owner's copy in the same region).
    SourceKey,
    /// The destination region's default key (docs/ebs.md §2).
    Default,
}

/// An encrypted source never yields an unencrypted copy; an unencrypted one is encrypted when
/// asked or when encryption by default is on in the destination region.
fn outcome(
    encrypted: Option<bool>,
    key_given: bool,
    source_encrypted: bool,
    own_same_region: bool,
    ebd: bool,
) -> KeyChoice {
    match () {
        _ if key_given => KeyChoice::Given,
        _ if source_encrypted && own_same_region => KeyChoice::SourceKey,
        _ if source_encrypted || encrypted == Some(true) || ebd => KeyChoice::Default,
        _ => KeyChoice::Unencrypted,
    }
}

/// The copy's key: [`outcome`], resolved. A named key is resolved in the destination region;
/// when it does not resolve there the request still succeeds (the job fails on it).
async fn destination(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: &ec2::CopySnapshotRequest,
    source: &SnapshotRecord,
) -> Result<Destination, EbsError> {
    let (account, region) = (ctx.principal.account, ctx.region);
    let own_same_region = source.account == account && source.region == region;
    let ebd = common::encryption_by_default(svc, account, region).await?;
    match outcome(
        input.encrypted,
        input.kms_key_id.is_some(),
        source.encrypted,
        own_same_region,
        ebd,
    ) {
        KeyChoice::Unencrypted => Ok(Destination::Unencrypted),
        KeyChoice::SourceKey => source
            .kms_key_arn
            .clone()
            .map(Destination::Key)
            .ok_or(EbsError::Internal("encrypted snapshot without key")),
        KeyChoice::Default => Ok(Destination::Key(
            common::default_key_arn(svc, account, region).await?,
        )),
        KeyChoice::Given => {
            let k = input.kms_key_id.clone().unwrap_or_default();
            match common::resolve_key_arn(svc, ctx, &k).await {
                Ok(arn) => Ok(Destination::Key(arn)),
                Err(EbsError::Kms { code, .. }) => {
                    tracing::info!(key = %k, %code, "copy destination key does not resolve; the copy will fail");
                    Ok(Destination::Key(k))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Copy jobs of `account` into `region` not finished yet.
fn copies_in_progress(
    txn: &dyn kmsnap_store::ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<usize, EbsError> {
    Ok(store::jobs(txn, usize::MAX)?
        .iter()
        .filter(|j| {
            j.account == account && j.region == region && matches!(j.kind, JobKind::Copy { .. })
        })
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyChoice::*;

    /// docs/ebs.md §6's outcome table, row by row.
    #[test]
    fn encryption_outcome_table() {
        //   (Encrypted, KmsKeyId given, source encrypted, own + same region, EBD) → key
        let rows = [
            (None, false, false, true, false, Unencrypted),
            (None, false, false, false, false, Unencrypted),
            (None, false, false, true, true, Default),
            (Some(true), false, false, true, false, Default),
            (Some(true), true, false, true, false, Given),
            (Some(true), true, true, true, false, Given),
            (Some(true), true, true, false, true, Given),
            (None, false, true, true, false, SourceKey),
            (Some(true), false, true, true, false, SourceKey),
            (None, false, true, false, false, Default),
            (Some(false), false, true, false, false, Default),
            (Some(false), false, true, true, false, SourceKey),
            (Some(false), false, false, true, false, Unencrypted),
        ];
        for (enc, given, src_enc, own, ebd, want) in rows {
            assert_eq!(
                outcome(enc, given, src_enc, own, ebd),
                want,
                "{enc:?} {given} {src_enc} {own} {ebd}"
            );
        }
    }
}
