//! Reading completed snapshots: ListSnapshotBlocks (the full logical view, own writes and
//! inherited blocks alike), ListChangedBlocks (rows whose blob differs between two snapshots of
//! one lineage, or every block of one), and GetSnapshotBlock (token checked, block opened
//! under the lineage's data key unwrapped by KMS for the caller; a damaged block is an
//! internal error, never wrong data).

use super::tokens::{block_token_lifetime, page_token_lifetime, PageOf};
use super::validation;
use crate::blocks;
use crate::error::EbsError;
use crate::model::{BlockRef, BLOCK_SIZE};
use crate::{store, Snapshots};
use base64::Engine as _;
use bytes::Bytes;
use kmsnap_api::gen::ebs::{
    Block, ChangedBlock, ChecksumAlgorithm, GetSnapshotBlockRequest, GetSnapshotBlockResponse,
    ListChangedBlocksRequest, ListChangedBlocksResponse, ListSnapshotBlocksRequest,
    ListSnapshotBlocksResponse,
};
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;

/// `MaxResults` when absent.
pub const DEFAULT_MAX_RESULTS: usize = 10_000;
/// ListChangedBlocks compares at most this many rows of each snapshot per call; past that it
/// answers with what it found (possibly nothing) and a `NextToken`.
pub const SCAN_BUDGET: usize = 50_000;

fn max_results(v: Option<i32>) -> Result<usize, EbsError> {
    match v {
        None => Ok(DEFAULT_MAX_RESULTS),
        Some(n) if (100..=10_000).contains(&n) => Ok(n as usize),
        Some(_) => Err(validation(
            "INVALID_PARAMETER_VALUE",
            "MaxResults must be between 100 and 10000.",
        )),
    }
}

/// Where a page starts: the page token (which wins) or `StartingBlockIndex`.
fn start_index(
    svc: &Snapshots,
    ctx: &RequestContext,
    token: Option<&str>,
    starting: Option<i32>,
    of: PageOf<'_>,
) -> Result<u64, EbsError> {
    match token.filter(|t| !t.is_empty()) {
        Some(t) => svc.tokens.check_page_token(t, of, ctx.now),
        None => Ok(starting.and_then(|s| u64::try_from(s).ok()).unwrap_or(0)),
    }
}

fn index_i32(i: u64) -> Result<i32, EbsError> {
    i32::try_from(i).map_err(|_| EbsError::Internal("block index"))
}

pub async fn list_snapshot_blocks(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ListSnapshotBlocksRequest,
) -> Result<ListSnapshotBlocksResponse, EbsError> {
    let max = max_results(input.max_results)?;
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let id = input.snapshot_id.clone();
    let snap =
        crate::blocking(move || super::readable(meta.read()?.as_ref(), &ctx2, &id)).await??;
    let of = PageOf::Blocks { snapshot: &snap.id };
    let from = start_index(
        svc,
        ctx,
        input.next_token.as_deref(),
        input.starting_block_index,
        of,
    )?;
    let meta = svc.meta.clone();
    let id = snap.id.clone();
    let mut rows =
        crate::blocking(move || store::blocks_from(meta.read()?.as_ref(), &id, from, max + 1))
            .await??;
    let next = (rows.len() > max).then(|| rows[max].0);
    rows.truncate(max);
    let expiry = ctx.now + block_token_lifetime();
    let blocks = rows
        .iter()
        .map(|(i, _)| {
            Ok(Block {
                block_index: Some(index_i32(*i)?),
                block_token: Some(svc.tokens.block_token(&snap.id, *i, expiry)),
            })
        })
        .collect::<Result<Vec<_>, EbsError>>()?;
    Ok(ListSnapshotBlocksResponse {
        blocks: Some(blocks),
        expiry_time: Some(Timestamp(expiry)),
        volume_size: Some(i64::from(snap.volume_size)),
        block_size: Some(BLOCK_SIZE as i32),
        next_token: next.map(|n| {
            svc.tokens
                .page_token(of, n, ctx.now + page_token_lifetime())
        }),
    })
}

/// One step of the comparison: the indexes whose rows differ between `first` and `second`
/// (both index-ordered pages starting at the same index), up to `max` of them, considering
/// only indexes up to `horizon` (inclusive; `None` = no limit). Returns the changes and, when
/// it stopped at `max`, the index to resume at.
pub fn diff(
    first: &[(u64, BlockRef)],
    second: &[(u64, BlockRef)],
    horizon: Option<u64>,
    max: usize,
) -> (Vec<(u64, bool, bool)>, Option<u64>) {
    let (mut a, mut b) = (first.iter().peekable(), second.iter().peekable());
    let mut out = Vec::new();
    loop {
        let i = match (a.peek(), b.peek()) {
            (None, None) => return (out, None),
            (Some((x, _)), None) => *x,
            (None, Some((y, _))) => *y,
            (Some((x, _)), Some((y, _))) => (*x).min(*y),
        };
        if horizon.is_some_and(|h| i > h) {
            return (out, None);
        }
        if out.len() == max {
            return (out, Some(i));
        }
        let ra = a.next_if(|(x, _)| *x == i).map(|(_, r)| r);
        let rb = b.next_if(|(y, _)| *y == i).map(|(_, r)| r);
        let same = matches!((ra, rb), (Some(x), Some(y)) if x.blob == y.blob);
        if !same {
            out.push((i, ra.is_some(), rb.is_some()));
        }
    }
}

pub async fn list_changed_blocks(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ListChangedBlocksRequest,
) -> Result<ListChangedBlocksResponse, EbsError> {
    let max = max_results(input.max_results)?;
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let (first_id, second_id) = (
        input.first_snapshot_id.clone().filter(|s| !s.is_empty()),
        input.second_snapshot_id.clone(),
    );
    let (first, second) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        let second = super::readable(txn.as_ref(), &ctx2, &second_id)?;
        let first = first_id
            .map(|f| super::readable(txn.as_ref(), &ctx2, &f))
            .transpose()?;
        Ok((first, second))
    })
    .await??;
    if let Some(f) = &first {
        if f.lineage != second.lineage {
            return Err(validation(
                "UNRELATED_SNAPSHOTS",
                format!("The snapshots {} and {} are not related.", f.id, second.id),
            ));
        }
    }
    let of = PageOf::Changed {
        first: first.as_ref().map(|f| f.id.as_str()),
        second: &second.id,
    };
    let from = start_index(
        svc,
        ctx,
        input.next_token.as_deref(),
        input.starting_block_index,
        of,
    )?;
    let meta = svc.meta.clone();
    let (fid, sid) = (first.as_ref().map(|f| f.id.clone()), second.id.clone());
    let (a, b) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        let a = match &fid {
            Some(f) => store::blocks_from(txn.as_ref(), f, from, SCAN_BUDGET)?,
            None => Vec::new(),
        };
        let b = store::blocks_from(txn.as_ref(), &sid, from, SCAN_BUDGET)?;
        Ok((a, b))
    })
    .await??;
    // A full page may continue past its last row: compare only up to the nearer such end.
    let end = |rows: &Vec<(u64, BlockRef)>| {
        (rows.len() == SCAN_BUDGET)
            .then(|| rows.last().map(|(i, _)| *i))
            .flatten()
    };
    let horizon = match (end(&a), end(&b)) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let (changes, resume) = diff(&a, &b, horizon, max);
    let next = resume.or_else(|| horizon.map(|h| h + 1));
    let expiry = ctx.now + block_token_lifetime();
    let changed = changes
        .iter()
        .map(|&(i, in_first, in_second)| {
            Ok(ChangedBlock {
                block_index: Some(index_i32(i)?),
                first_block_token: match (&first, in_first) {
                    (Some(f), true) => Some(svc.tokens.block_token(&f.id, i, expiry)),
                    _ => None,
                },
                second_block_token: in_second
                    .then(|| svc.tokens.block_token(&second.id, i, expiry)),
            })
        })
        .collect::<Result<Vec<_>, EbsError>>()?;
    Ok(ListChangedBlocksResponse {
        changed_blocks: Some(changed),
        expiry_time: Some(Timestamp(expiry)),
        volume_size: Some(i64::from(second.volume_size)),
        block_size: Some(BLOCK_SIZE as i32),
        next_token: next.map(|n| {
            svc.tokens
                .page_token(of, n, ctx.now + page_token_lifetime())
        }),
    })
}

pub async fn get_snapshot_block(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: GetSnapshotBlockRequest,
) -> Result<GetSnapshotBlockResponse, EbsError> {
    let index = u64::try_from(input.block_index)
        .map_err(|_| validation("INVALID_BLOCK", "BlockIndex must not be negative."))?;
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let id = input.snapshot_id.clone();
    let (snap, row, lineage) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        let snap = super::readable(txn.as_ref(), &ctx2, &id)?;
        let row = store::get_block(txn.as_ref(), &id, index)?;
        let lineage = match &row {
            Some(r) => store::get_lineage(txn.as_ref(), &r.lineage)?,
            None => None,
        };
        Ok((snap, row, lineage))
    })
    .await??;
    svc.tokens
        .check_block_token(&input.block_token, &snap.id, index, ctx.now)?;
    let Some(row) = row else {
        // Only possible with a token for a block that was never written.
        return Err(validation(
            "INVALID_BLOCK",
            format!("Block {index} of {} was never written.", snap.id),
        ));
    };
    let lineage = lineage.ok_or(EbsError::Internal("block without lineage"))?;
    // KMS unwraps the data key while the block is read.
    let blobs = svc.blobs.clone();
    let blob = row.blob.clone();
    let (key, stored) = tokio::join!(
        blocks::open_lineage_cached(&svc.kms, &svc.data_keys, ctx, &lineage),
        crate::blocking(move || blobs.get(&blob))
    );
    let (key, stored) = (key?, stored??);
    let id = snap.id.clone();
    let sha = row.sha256.clone();
    let plain = crate::blocking(move || -> Result<Vec<u8>, EbsError> {
        let Some(stored) = stored else {
            tracing::error!(snapshot = %id, index, blob = %row.blob, "block blob is missing");
            return Err(EbsError::BlockDamaged { resource: id, index });
        };
        blocks::open(key.as_deref(), &id, &row.lineage, index, &stored, &row.sha256).inspect_err(|e| {
            tracing::error!(snapshot = %id, index, blob = %row.blob, error = %e, "block failed its integrity check");
        })
    })
    .await??;
    let mut raw = [0u8; 32];
    hex::decode_to_slice(&sha, &mut raw).map_err(|_| EbsError::Internal("manifest checksum"))?;
    Ok(GetSnapshotBlockResponse {
        data_length: Some(BLOCK_SIZE as i32),
        block_data: Some(Bytes::from(plain)),
        checksum: Some(base64::engine::general_purpose::STANDARD.encode(raw)),
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
    })
}
