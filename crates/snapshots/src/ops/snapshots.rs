//! CreateSnapshot, DescribeSnapshots, DeleteSnapshot (docs/ebs.md §4, §5, §8).
//!
//! CreateSnapshot records a `pending` snapshot in the volume's lineage (same key, same data
//! key) and queues the `Seal` job that freezes the volume's manifest into it, both in one
//! transaction; the worker then completes it (`Progress` real, page by page).
//!
//! DescribeSnapshots shows, by default, the caller's snapshots, those shared with the caller
//! (createVolumePermission) and public ones; `SnapshotId.N`, `Owner.N`, `RestorableBy.N` and
//! `Filter.N` narrow that as docs/ebs.md §5 says. A snapshot of another account appears with its owner's
//! `OwnerId` and `KmsKeyId` and without the owner's tags (tags are per account).

use super::common::{can_use, new_id};
use super::filters::{bool_value, Filters, Paging};
use super::{tags, trail};
use crate::error::EbsError;
use crate::model::{JobKind, SnapshotRecord, SnapshotState};
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::ReadTxn;

/// DescribeSnapshots' filter names (EC2's list, plus `kms-key-id`).
const FILTERS: &[&str] = &[
    "description",
    "encrypted",
    "kms-key-id",
    "owner-alias",
    "owner-id",
    "progress",
    "snapshot-id",
    "start-time",
    "status",
    "storage-tier",
    "tag:*",
    "transfer-type",
    "volume-id",
    "volume-size",
];

const MAX_DESCRIPTION: usize = 255;

/// The response form of a snapshot as `viewer` sees it.
pub fn to_api(s: &SnapshotRecord, viewer: AccountId) -> ec2::Snapshot {
    let own = s.account == viewer;
    ec2::Snapshot {
        snapshot_id: Some(s.id.clone()),
        volume_id: Some(s.volume_id.clone()),
        state: ec2::SnapshotState::from_wire(s.state.as_str()),
        state_message: (s.state == SnapshotState::Error)
            .then(|| s.state_message.clone().unwrap_or_default()),
        start_time: Some(Timestamp(s.start_time)),
        progress: Some(format!("{}%", s.progress)),
        owner_id: Some(s.account.as_str().to_owned()),
        description: Some(s.description.clone()),
        volume_size: Some(s.volume_size),
        encrypted: Some(s.encrypted),
        kms_key_id: s.kms_key_arn.clone(),
        data_encryption_key_id: s.data_encryption_key_id.clone(),
        storage_tier: Some(ec2::StorageTier::Standard),
        sse_type: s.encrypted.then_some(ec2::SSEType::SseKms),
        completion_time: s.completed.map(Timestamp),
        tags: if own { tags::to_api(&s.tags) } else { None },
        ..Default::default()
    }
}

pub async fn create(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::CreateSnapshotRequest,
) -> Result<ec2::Snapshot, EbsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let volume_id = input.volume_id.clone();
    trail::check_id("volumeId", "vol", &volume_id)?;
    let description = input.description.clone().unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(EbsError::InvalidParameterValue(format!(
            "Value for parameter description is too long; maximum is {MAX_DESCRIPTION} characters."
        )));
    }
    let id = new_id("snap")?;
    let tags = tags::from_specs(input.tag_specifications.as_deref(), "snapshot", &id)?;
    let event = trail::event(ctx, "CreateSnapshot", &input);
    let event = trail::with_ec2_resource(
        trail::with_ec2_resource(event, region, account, &id),
        region,
        account,
        &volume_id,
    );
    let meta = svc.meta.clone();
    let snap = crate::blocking(move || -> Result<SnapshotRecord, EbsError> {
        let mut txn = meta.write()?;
        let v = crate::managed::snapshottable_volume(&*txn, account, region, &volume_id)?;
        trail::dry_run(input.dry_run)?;
        let snap = crate::managed::queue_ec2_snapshot(
            txn.as_mut(),
            &v,
            id.clone(),
            description,
            tags,
            now,
        )?;
        trail::commit(txn, &[event])?;
        Ok(snap)
    })
    .await??;
    svc.wake_worker();
    Ok(to_api(&snap, account))
}

/// `Owner.N` values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Account(AccountId),
    /// `amazon`, `aws-marketplace`: no snapshot here has an owner alias.
    Alias,
}

/// `RestorableBy.N` values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Restorable {
    /// The caller: snapshots it owns or that were shared with it explicitly.
    Caller,
    /// `all`: public snapshots.
    All,
    /// The caller's own snapshots shared with this account.
    Account(AccountId),
}

fn parse_owners(
    values: Option<Vec<String>>,
    caller: AccountId,
) -> Result<Option<Vec<Owner>>, EbsError> {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    values
        .iter()
        .map(|v| match v.as_str() {
            "self" => Ok(Owner::Account(caller)),
            "amazon" | "aws-marketplace" => Ok(Owner::Alias),
            other => AccountId::parse(other).map(Owner::Account).map_err(|_| {
                EbsError::InvalidParameterValue(format!("Invalid value '{other}' for ownerId"))
            }),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_restorable(
    values: Option<Vec<String>>,
    caller: AccountId,
) -> Result<Option<Vec<Restorable>>, EbsError> {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    values
        .iter()
        .map(|v| match v.as_str() {
            "self" => Ok(Restorable::Caller),
            "all" => Ok(Restorable::All),
            other => match AccountId::parse(other) {
                Ok(a) if a == caller => Ok(Restorable::Caller),
                Ok(a) => Ok(Restorable::Account(a)),
                Err(_) => Err(EbsError::InvalidParameterValue(format!(
                    "Invalid value '{other}' for restorableBy"
                ))),
            },
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn restorable_by(s: &SnapshotRecord, r: &Restorable, caller: AccountId) -> bool {
    match r {
        Restorable::Caller => s.account == caller || s.permissions.users.contains(&caller),
        Restorable::All => s.permissions.public,
        Restorable::Account(a) => s.account == caller && s.permissions.users.contains(a),
    }
}

fn field(s: &SnapshotRecord, name: &str) -> Vec<String> {
    match name {
        "description" => vec![s.description.clone()],
        "encrypted" => bool_value(s.encrypted),
        "kms-key-id" => s.kms_key_arn.clone().into_iter().collect(),
        "owner-id" => vec![s.account.as_str().to_owned()],
        "progress" => vec![format!("{}%", s.progress)],
        "snapshot-id" => vec![s.id.clone()],
        "start-time" => vec![Timestamp(s.start_time).iso8601()],
        "status" => vec![s.state.as_str().to_owned()],
        "storage-tier" => vec!["standard".to_owned()],
        "transfer-type" => vec!["standard".to_owned()],
        "volume-id" => vec![s.volume_id.clone()],
        "volume-size" => vec![s.volume_size.to_string()],
        // owner-alias: none here is owned by `amazon` or `aws-marketplace`.
        _ => vec![],
    }
}

/// Public snapshots of every account in `region`.
fn public_in(txn: &dyn ReadTxn, region: Region) -> Result<Vec<SnapshotRecord>, EbsError> {
    Ok(store::all_snapshots(txn)?
        .into_iter()
        .filter(|s| s.permissions.public && s.region == region)
        .collect())
}

/// The snapshots `caller` may see in `region`: the named ones (an id that does not exist
/// there is NotFound; one the caller may not use is left out), else its own, those shared
/// with it and the public ones.
fn visible(
    txn: &dyn ReadTxn,
    caller: AccountId,
    region: Region,
    ids: &[String],
) -> Result<Vec<SnapshotRecord>, EbsError> {
    if !ids.is_empty() {
        let mut out: Vec<SnapshotRecord> = Vec::new();
        for id in ids {
            match store::find_snapshot(txn, id)? {
                // RDS's backing snapshots are not EC2's (`managed_by`).
                Some(s) if s.region == region && s.managed_by.is_none() => {
                    if can_use(&s, caller) && !out.iter().any(|o| o.id == s.id) {
                        out.push(s);
                    }
                }
                _ => return Err(EbsError::SnapshotNotFound { id: id.clone() }),
            }
        }
        return Ok(out);
    }
    let mut out = store::snapshots_of(txn, caller, region)?;
    for s in store::shared_with(txn, caller, region)?
        .into_iter()
        .chain(public_in(txn, region)?)
    {
        if !out.iter().any(|o| o.id == s.id) {
            out.push(s);
        }
    }
    out.retain(|s| s.managed_by.is_none());
    Ok(out)
}

pub async fn describe(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DescribeSnapshotsRequest,
) -> Result<ec2::DescribeSnapshotsResult, EbsError> {
    let caller = ctx.principal.account;
    let ids = input.snapshot_ids.unwrap_or_default();
    if !ids.is_empty() && input.max_results.is_some() {
        return Err(EbsError::InvalidParameterCombination(
            "The parameter snapshotIdSet cannot be used with the parameter maxResults".into(),
        ));
    }
    for id in &ids {
        trail::check_listed_id("snapshots", "snap", id)?;
    }
    let owners = parse_owners(input.owner_ids, caller)?;
    let restorable = parse_restorable(input.restorable_by_user_ids, caller)?;
    let filters = Filters::parse(input.filters, FILTERS)?;
    let paging = Paging::parse(input.max_results, input.next_token, 5, 1000)?;
    trail::dry_run(input.dry_run)?;
    let (meta, region) = (svc.meta.clone(), ctx.region);
    let mut snaps =
        crate::blocking(move || visible(meta.read()?.as_ref(), caller, region, &ids)).await??;
    if let Some(owners) = &owners {
        snaps.retain(|s| owners.contains(&Owner::Account(s.account)));
    }
    if let Some(restorable) = &restorable {
        snaps.retain(|s| restorable.iter().any(|r| restorable_by(s, r, caller)));
    }
    snaps.retain(|s| {
        let tags: &[(String, String)] = if s.account == caller { &s.tags } else { &[] };
        filters.matches(tags, |n| field(s, n))
    });
    let (page, next_token) = paging.page(snaps, |s| s.id.as_str());
    Ok(ec2::DescribeSnapshotsResult {
        snapshots: Some(page.iter().map(|s| to_api(s, caller)).collect()),
        next_token,
    })
}

/// What still reads `id`: a volume being restored from it or a copy being made of it.
fn reader(txn: &dyn ReadTxn, id: &str) -> Result<Option<String>, EbsError> {
    Ok(store::jobs(txn, usize::MAX)?
        .into_iter()
        .find_map(|j| match &j.kind {
            JobKind::Restore { source, .. } | JobKind::Copy { source, .. } if source == id => {
                Some(j.target)
            }
            _ => None,
        }))
}

/// Owner only. The manifest and the share index go with the record; blobs stay for the
/// snapshots and volumes that share them (the blob collector, [`crate::gc`], deletes those
/// nothing references any more). Volumes made from it are unaffected. A pending snapshot may
/// be deleted: its seal job notices and cleans up.
pub async fn delete(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DeleteSnapshotRequest,
) -> Result<(), EbsError> {
    let id = input.snapshot_id.clone();
    trail::check_id("snapshotId", "snap", &id)?;
    let (meta, caller, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let event = trail::with_ec2_resource(
        trail::event(ctx, "DeleteSnapshot", &input),
        region,
        caller,
        &id,
    );
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let s = match store::find_snapshot(&*txn, &id)? {
            Some(s) if s.region == region && s.managed_by.is_none() => s,
            _ => return Err(EbsError::SnapshotNotFound { id }),
        };
        if s.account != caller {
            if can_use(&s, caller) {
                return Err(EbsError::AccessDenied {
                    reason: "UNAUTHORIZED_ACCOUNT",
                    message: "You are not authorized to perform this operation.".into(),
                });
            }
            return Err(EbsError::SnapshotNotFound { id });
        }
        if crate::managed::snapshot_service(&*txn, &id)?.is_some() {
            // AWS's answer for a Backup recovery point (docs/backup.md §9).
            return Err(EbsError::InvalidParameterValue("This snapshot is managed by the AWS Backup service and cannot be deleted via EC2 APIs. If you wish to delete this snapshot, please do so via the Backup console.".into()));
        }
        if let Some(by) = reader(&*txn, &id)? {
            return Err(EbsError::SnapshotInUse { id, by });
        }
        trail::dry_run(input.dry_run)?;
        store::delete_blocks(txn.as_mut(), &id)?;
        store::delete_snapshot(txn.as_mut(), &s)?;
        trail::commit(txn, &[event])?;
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[test]
    fn owner_and_restorable_values() {
        let me = acct("123412341234");
        assert_eq!(
            parse_owners(Some(vec!["self".into(), "amazon".into()]), me).unwrap(),
            Some(vec![Owner::Account(me), Owner::Alias])
        );
        assert!(parse_owners(Some(vec!["bob".into()]), me).is_err());
        assert_eq!(parse_owners(Some(vec![]), me).unwrap(), None);
        let other = acct("999988887777");
        assert_eq!(
            parse_restorable(
                Some(vec![
                    "self".into(),
                    "all".into(),
                    "999988887777".into(),
                    "123412341234".into()
                ]),
                me
            )
            .unwrap(),
            Some(vec![
                Restorable::Caller,
                Restorable::All,
                Restorable::Account(other),
                Restorable::Caller
            ])
        );
        assert!(parse_restorable(Some(vec!["everyone".into()]), me).is_err());
    }
}
