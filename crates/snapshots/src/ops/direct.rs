//! The EBS direct APIs (docs/ebs.md §10), REST-JSON:
//!
//! * [`start`]: StartSnapshot — the encryption table, parents, ClientToken idempotency.
//! * [`write`]: PutSnapshotBlock, and [`Snapshots::write_volume_block`] for `kmsnap volume
//!   import`: verify, seal under the lineage's data key (unwrapped by KMS for the caller, per
//!   request), blob durable first, then the manifest row.
//! * [`complete`]: CompleteSnapshot — changed-block count and LINEAR aggregate checksum.
//! * [`read`]: ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock.
//! * [`tokens`]: block and page tokens, MAC'd under a root-derived key.
//!
//! Who may do what: writes (PutSnapshotBlock, CompleteSnapshot) need the caller to own a
//! `pending` snapshot; reads need a `completed` snapshot the caller owns or that is shared with
//! its account (createVolumePermission; public snapshots are not supported, as in AWS). A
//! snapshot the caller may not see at all is "not found". KMS
//! failures keep KMS's code and become `DEPENDENCY_ACCESS_DENIED` /
//! `DEPENDENCY_RESOURCE_NOT_FOUND` through [`crate::error::to_ebs`].
//!
//! Every mutating call writes its CloudTrail event (source `ebs.amazonaws.com`) in the
//! transaction of its effect; PutSnapshotBlock's is a data event, as in AWS.

pub mod complete;
pub mod read;
pub mod start;
pub mod tokens;
pub mod write;

#[cfg(test)]
mod tests;

use crate::error::EbsError;
use crate::model::{LineageRecord, SnapshotOrigin, SnapshotRecord, SnapshotState, BLOCKS_PER_GIB};
use crate::ops::trail;
pub(crate) use crate::ops::trail::append;
use crate::{store, Snapshots};
use chrono::{DateTime, Duration, Utc};
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_store::{ReadTxn, WriteTxn};
use serde::Serialize;

/// `eventSource` of EBS direct API events.
pub const EBS_SOURCE: &str = "ebs.amazonaws.com";

/// `StateMessage` of a direct snapshot cancelled by its `Timeout`.
pub const TIMED_OUT: &str = "The snapshot was not completed within its timeout.";

pub(crate) fn validation(reason: &'static str, message: impl Into<String>) -> EbsError {
    EbsError::Validation {
        reason,
        message: message.into(),
    }
}

/// The CloudTrail event of direct-API operation `op` (`ClientToken` and block data are never
/// logged: the audit crate's denylist drops the one, the shape skips the other).
pub(crate) fn event<T: Serialize>(
    ctx: &RequestContext,
    op: &str,
    input: &T,
    snapshot_id: &str,
) -> Event {
    Event::api_call(ctx, EBS_SOURCE, op, false)
        .with_request_of("ebs", op, input)
        .with_resource(
            "AWS::EC2::Snapshot",
            &trail::snapshot_arn(ctx.region, snapshot_id),
        )
}

/// Blocks of a volume of `gib` GiB (valid indexes are `0..blocks`).
pub(crate) fn block_count(gib: i64) -> u64 {
    u64::try_from(gib)
        .unwrap_or(0)
        .saturating_mul(BLOCKS_PER_GIB)
}

/// When a pending direct snapshot is cancelled: `Timeout` minutes after its start, or after
/// its last write.
pub fn deadline(s: &SnapshotRecord) -> Option<DateTime<Utc>> {
    match (&s.origin, s.state) {
        (
            SnapshotOrigin::Direct {
                timeout_minutes,
                last_write,
                ..
            },
            SnapshotState::Pending,
        ) => Some(
            last_write.unwrap_or(s.start_time) + Duration::minutes(i64::from(*timeout_minutes)),
        ),
        _ => None,
    }
}

/// Moves `s` to `error` when its timeout has passed (in `txn`); true if it did.
pub(crate) fn expire_if_due(
    txn: &mut dyn WriteTxn,
    s: &mut SnapshotRecord,
    now: DateTime<Utc>,
) -> Result<bool, EbsError> {
    if deadline(s).is_some_and(|d| d <= now) {
        s.state = SnapshotState::Error;
        s.state_message = Some(TIMED_OUT.to_owned());
        store::put_snapshot(txn, s)?;
        return Ok(true);
    }
    Ok(false)
}

fn not_found(id: &str) -> EbsError {
    EbsError::SnapshotNotFound { id: id.to_owned() }
}

/// The snapshot `id` as the caller may see it through the direct API: in the request's region,
/// owned by the caller or shared with its account (createVolumePermission). Public snapshots
/// are not supported by the EBS direct APIs, so `Group: all` alone does not count.
pub(crate) fn visible(
    txn: &dyn ReadTxn,
    ctx: &RequestContext,
    id: &str,
) -> Result<SnapshotRecord, EbsError> {
    let account = ctx.principal.account;
    match store::find_snapshot(txn, id)? {
        // RDS's backing snapshots are not EBS's (`managed_by`).
        Some(s)
            if s.region == ctx.region
                && s.managed_by.is_none()
                && (s.account == account || s.permissions.users.contains(&account)) =>
        {
            Ok(s)
        }
        _ => Err(not_found(id)),
    }
}

/// A pending snapshot the caller owns, checked inside a write transaction (a snapshot past its
/// timeout is moved to `error` there, and the caller commits that).
pub(crate) fn writable(
    txn: &mut dyn WriteTxn,
    ctx: &RequestContext,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Result<SnapshotRecord, EbsError>, EbsError> {
    let mut s = visible(&*txn, ctx, id)?;
    if s.account != ctx.principal.account {
        return Err(EbsError::AccessDenied {
            reason: "UNAUTHORIZED_ACCOUNT",
            message: format!("The snapshot {id} belongs to another account."),
        });
    }
    if expire_if_due(txn, &mut s, now)? {
        return Ok(Err(not_pending(&s)));
    }
    if s.state != SnapshotState::Pending {
        return Err(not_pending(&s));
    }
    Ok(Ok(s))
}

fn not_pending(s: &SnapshotRecord) -> EbsError {
    validation(
        "INVALID_SNAPSHOT_ID",
        format!(
            "The snapshot {} is in state {}, not pending.",
            s.id,
            s.state.as_str()
        ),
    )
}

/// [`writable`] in a transaction of its own (committing a timeout's `error`), with the
/// snapshot's lineage: the checks a write makes before its slow part (KMS, sealing, the blob).
pub(crate) async fn load_for_write(
    svc: &Snapshots,
    ctx: &RequestContext,
    id: &str,
) -> Result<(SnapshotRecord, LineageRecord), EbsError> {
    let meta = svc.meta.clone();
    let (ctx2, id2, now) = (ctx.clone(), id.to_owned(), ctx.now);
    crate::blocking(
        move || -> Result<(SnapshotRecord, LineageRecord), EbsError> {
            // Most calls find the snapshot pending: check in a read transaction first, so parallel
            // writers do not queue on the writer lock for nothing.
            let quick = {
                let txn = meta.read()?;
                let s = visible(txn.as_ref(), &ctx2, &id2)?;
                let due = deadline(&s).is_some_and(|d| d <= now);
                if !due && s.account == ctx2.principal.account && s.state == SnapshotState::Pending
                {
                    let lineage = store::get_lineage(txn.as_ref(), &s.lineage)?
                        .ok_or(EbsError::Internal("snapshot without lineage"))?;
                    Some((s, lineage))
                } else {
                    None
                }
            };
            if let Some(found) = quick {
                return Ok(found);
            }
            let mut txn = meta.write()?;
            let checked = writable(txn.as_mut(), &ctx2, &id2, now)?;
            txn.commit()?;
            let s = checked?;
            let lineage = store::get_lineage(meta.read()?.as_ref(), &s.lineage)?
                .ok_or(EbsError::Internal("snapshot without lineage"))?;
            Ok((s, lineage))
        },
    )
    .await?
}

/// A completed snapshot the caller may read.
pub(crate) fn readable(
    txn: &dyn ReadTxn,
    ctx: &RequestContext,
    id: &str,
) -> Result<SnapshotRecord, EbsError> {
    let s = visible(txn, ctx, id)?;
    if s.state != SnapshotState::Completed {
        return Err(validation(
            "INVALID_SNAPSHOT_ID",
            format!(
                "The snapshot {id} is in state {}; only completed snapshots can be read.",
                s.state.as_str()
            ),
        ));
    }
    Ok(s)
}

/// Moves every pending direct snapshot whose timeout has passed to `error`. The worker runs it
/// now and then; writes and CompleteSnapshot also check on their own.
pub async fn expire_timed_out(svc: &Snapshots) -> Result<u64, EbsError> {
    let meta = svc.meta.clone();
    let now = svc.clock.now();
    crate::blocking(move || -> Result<u64, EbsError> {
        let due: Vec<SnapshotRecord> = store::all_snapshots(&*meta.read()?)?
            .into_iter()
            .filter(|s| deadline(s).is_some_and(|d| d <= now))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let mut txn = meta.write()?;
        let mut n = 0;
        for s in due {
            // Re-read: a write may have moved the deadline meanwhile.
            if let Some(mut cur) = store::get_snapshot(&*txn, s.account, s.region, &s.id)? {
                if expire_if_due(txn.as_mut(), &mut cur, now)? {
                    tracing::info!(snapshot = %cur.id, "direct snapshot timed out");
                    n += 1;
                }
            }
        }
        txn.commit()?;
        Ok(n)
    })
    .await?
}
