//! CompleteSnapshot (`POST /snapshots/completion/{id}`, 202). Checks, in one transaction, that
//! `ChangedBlocksCount` is the number of distinct indexes written to this snapshot (inherited
//! parent blocks do not count) and, when given, the LINEAR aggregate checksum: base64
//! SHA-256 over the raw 32-byte SHA-256 of each written block in ascending index order. Both
//! hold: `completed`, `Progress` 100%. Either fails: `error` with a `StateMessage`. As in AWS
//! the answer is `Status: pending` either way (AWS seals asynchronously); the state is
//! final by the time a client polls.

use super::{append, event, validation, write::inherited};
use crate::error::EbsError;
use crate::model::{SnapshotOrigin, SnapshotState};
use crate::{store, Snapshots};
use aws_lc_rs::digest;
use base64::Engine as _;
use kmsnap_api::gen::ebs::{
    ChecksumAggregationMethod, ChecksumAlgorithm, CompleteSnapshotRequest,
    CompleteSnapshotResponse, Status,
};
use kmsnap_auth::RequestContext;
use kmsnap_store::ReadTxn;

/// `StateMessage` when `ChangedBlocksCount` is wrong.
pub const COUNT_MISMATCH: &str =
    "The number of changed blocks does not match the blocks written to the snapshot.";
/// `StateMessage` when the aggregate checksum is wrong.
pub const CHECKSUM_MISMATCH: &str =
    "The aggregate checksum does not match the blocks written to the snapshot.";

/// What was written to a direct snapshot: the number of distinct indexes and the LINEAR
/// aggregate checksum over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub count: u64,
    pub linear_sha256_b64: String,
}

/// Walks the manifest of `snapshot` (a direct snapshot with optional `parent`) in index order.
pub fn written(
    txn: &dyn ReadTxn,
    snapshot: &str,
    parent: Option<&str>,
) -> Result<Written, EbsError> {
    const PAGE: usize = 4096;
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut count = 0u64;
    let mut next = 0;
    loop {
        let page = store::blocks_from(txn, snapshot, next, PAGE)?;
        for (i, row) in &page {
            if inherited(txn, parent, *i, row)? {
                continue;
            }
            let mut raw = [0u8; 32];
            hex::decode_to_slice(&row.sha256, &mut raw)
                .map_err(|_| EbsError::Internal("manifest checksum"))?;
            ctx.update(&raw);
            count += 1;
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => next = last + 1,
            _ => break,
        }
    }
    Ok(Written {
        count,
        linear_sha256_b64: base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref()),
    })
}

pub async fn complete_snapshot(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: CompleteSnapshotRequest,
) -> Result<CompleteSnapshotResponse, EbsError> {
    let expected = u64::try_from(input.changed_blocks_count).map_err(|_| {
        validation(
            "INVALID_PARAMETER_VALUE",
            "ChangedBlocksCount must not be negative.",
        )
    })?;
    let checksum = match (&input.checksum, input.checksum_algorithm, input.checksum_aggregation_method) {
        (None, None, None) => None,
        (Some(c), Some(ChecksumAlgorithm::Sha256), Some(ChecksumAggregationMethod::Linear)) => Some(c.trim().to_owned()),
        _ => {
            return Err(validation(
                "INVALID_PARAMETER_VALUE",
                "Checksum, ChecksumAlgorithm (SHA256) and ChecksumAggregationMethod (LINEAR) go together.",
            ))
        }
    };
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let ev_base = event(ctx, "CompleteSnapshot", &input, &input.snapshot_id);
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let mut snap = match super::writable(txn.as_mut(), &ctx2, &input.snapshot_id, ctx2.now)? {
            Ok(s) => s,
            Err(e) => {
                txn.commit()?;
                return Err(e);
            }
        };
        let parent = match &snap.origin {
            SnapshotOrigin::Direct { parent, .. } => parent.clone(),
            _ => None,
        };
        let w = written(&*txn, &snap.id, parent.as_deref())?;
        let failure = if w.count != expected {
            Some(COUNT_MISMATCH)
        } else if checksum.as_ref().is_some_and(|c| *c != w.linear_sha256_b64) {
            Some(CHECKSUM_MISMATCH)
        } else {
            None
        };
        match failure {
            Some(msg) => {
                tracing::info!(snapshot = %snap.id, written = w.count, expected, "CompleteSnapshot check failed: {msg}");
                snap.state = SnapshotState::Error;
                snap.state_message = Some(msg.to_owned());
            }
            None => {
                snap.state = SnapshotState::Completed;
                snap.progress = 100;
                snap.completed = Some(ctx2.now);
            }
        }
        store::put_snapshot(txn.as_mut(), &snap)?;
        let ev = ev_base.with_response("ebs", "CompleteSnapshot", serde_json::json!({ "Status": "pending" }));
        append(txn.as_mut(), &[ev])?;
        txn.commit()?;
        Ok(())
    })
    .await??;
    Ok(CompleteSnapshotResponse {
        status: Some(Status::Pending),
    })
}
