//! Writing blocks: PutSnapshotBlock (`PUT /snapshots/{id}/blocks/{index}`, 201) into a pending
//! direct snapshot, and [`Snapshots::write_volume_block`] into a volume (`kmsnap volume
//! import`). Both verify the block, seal it under the lineage's data key — unwrapped by KMS
//! Decrypt as the caller through EC2, or reused from the caller's earlier request while the KMS
//! key is unchanged ([`blocks::DataKeyCache`]), so a disabled key or a changed key policy or
//! grant stops writes at once — put the blob (durable before `put` returns), and only
//! then commit the manifest row: a crash leaves at worst an orphan blob (the blob collector,
//! [`crate::gc`], deletes it), never a row pointing at nothing. Re-writing an index points its
//! row at a new blob (the old one goes to the collector unless another manifest shares it).

use super::{append, block_count, event, validation};
use crate::blocks::{self, DataKey};
use crate::error::EbsError;
use crate::model::{BlockRef, LineageRecord, SnapshotOrigin, VolumeState, BLOCK_SIZE};
use crate::{store, Snapshots};
use aws_lc_rs::digest;
use base64::Engine as _;
use bytes::Bytes;
use kmsnap_api::gen::ebs::{ChecksumAlgorithm, PutSnapshotBlockRequest, PutSnapshotBlockResponse};
use kmsnap_auth::RequestContext;
use kmsnap_core::Region;
use std::sync::Arc;

fn invalid_block(message: impl Into<String>) -> EbsError {
    validation("INVALID_BLOCK", message)
}

/// Checks a block's length and, when given, its base64 SHA-256 (`x-amz-Checksum`); returns its
/// SHA-256 in hex, as manifests keep it. Hashing 512 KiB takes a fraction of a millisecond:
/// call it from a blocking thread.
fn check_block(data: &[u8], checksum_b64: Option<&str>) -> Result<String, EbsError> {
    if data.len() != BLOCK_SIZE {
        return Err(invalid_block(format!(
            "The block must be exactly {BLOCK_SIZE} bytes; got {}.",
            data.len()
        )));
    }
    let d = digest::digest(&digest::SHA256, data);
    if let Some(c) = checksum_b64 {
        if base64::engine::general_purpose::STANDARD.encode(d.as_ref()) != c.trim() {
            return Err(invalid_block("The checksum does not match the block data."));
        }
    }
    Ok(hex::encode(d.as_ref()))
}

/// Verifies `data` ([`check_block`]), seals it as block `index` of `lineage` under its data
/// key — unwrapped by KMS for the caller, or the caller's cached copy
/// ([`blocks::DataKeyCache`]) — stores it as a new blob in `region`'s blob location (durable
/// then), and hands the row to `commit`, which puts it in a manifest: all on one blocking
/// thread, in that order, so a block that fails its check is refused before anything is
/// written. (Hashing used to overlap the store on a thread of its own; at 4 uploaders that
/// measured no faster.) A block that fails its check is the caller's first problem, whatever
/// KMS said; a crash between the blob and the commit leaves an orphan no manifest references,
/// for the blob collector. The write holds a pin ([`Snapshots::pin_write`]) from before the
/// blob is stored until `commit` has returned, so the collector never takes the blob while
/// its row is on the way (docs/blob-collection.md).
#[allow(clippy::too_many_arguments)]
pub async fn verify_seal_and_store(
    svc: &Snapshots,
    ctx: &RequestContext,
    lineage: &LineageRecord,
    region: Region,
    index: u64,
    data: Bytes,
    checksum_b64: Option<String>,
    commit: impl FnOnce(BlockRef) -> Result<(), EbsError> + Send + 'static,
) -> Result<(), EbsError> {
    let key: Option<Arc<DataKey>> =
        match blocks::open_lineage_cached(&svc.kms, &svc.data_keys, ctx, lineage).await {
            Ok(key) => key,
            Err(e) => {
                crate::blocking(move || check_block(&data, checksum_b64.as_deref())).await??;
                return Err(e);
            }
        };
    let blobs = svc.blobs.clone();
    let lineage_id = lineage.id.clone();
    // The pin moves into the blocking task: if the request is dropped meanwhile, the task still
    // runs to its commit, and the pin lives as long as it does.
    let pin = svc.pin_write();
    crate::blocking(move || {
        let sha256 = check_block(&data, checksum_b64.as_deref())?;
        let blob = blocks::seal_and_store(
            &*blobs,
            &pin,
            region,
            key.as_deref(),
            &lineage_id,
            index,
            &data,
        )?;
        let committed = commit(BlockRef {
            blob,
            sha256,
            lineage: lineage_id,
        });
        drop(pin);
        committed
    })
    .await?
}

/// Whether the row at `index` of a direct snapshot is still the one it inherited from its
/// parent (blobs are never reused, so "same blob" means "not written here").
pub(crate) fn inherited(
    txn: &dyn kmsnap_store::ReadTxn,
    parent: Option<&str>,
    index: u64,
    row: &BlockRef,
) -> Result<bool, EbsError> {
    let Some(parent) = parent else {
        return Ok(false);
    };
    Ok(store::get_block(txn, parent, index)?.is_some_and(|p| p.blob == row.blob))
}

pub async fn put_snapshot_block(
    svc: &Snapshots,
    ctx: &RequestContext,
    mut input: PutSnapshotBlockRequest,
) -> Result<PutSnapshotBlockResponse, EbsError> {
    let data = input.block_data.take().unwrap_or_default();
    if usize::try_from(input.data_length).ok() != Some(BLOCK_SIZE) {
        return Err(invalid_block(format!("DataLength must be {BLOCK_SIZE}.")));
    }
    if data.len() != BLOCK_SIZE {
        return Err(invalid_block(format!(
            "The body has {} bytes; DataLength says {BLOCK_SIZE}.",
            data.len()
        )));
    }
    let index = u64::try_from(input.block_index)
        .map_err(|_| invalid_block("BlockIndex must not be negative."))?;
    if input.checksum_algorithm != ChecksumAlgorithm::Sha256 {
        return Err(validation(
            "INVALID_PARAMETER_VALUE",
            "ChecksumAlgorithm must be SHA256.",
        ));
    }
    let (snap, lineage) = super::load_for_write(svc, ctx, &input.snapshot_id).await?;
    let blocks_in_volume = block_count(i64::from(snap.volume_size));
    if index >= blocks_in_volume {
        return Err(invalid_block(format!(
            "BlockIndex {index} is out of range: a {} GiB snapshot has blocks 0 to {}.",
            snap.volume_size,
            blocks_in_volume.saturating_sub(1)
        )));
    }
    let resp = PutSnapshotBlockResponse {
        checksum: Some(input.checksum.clone()),
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
    };
    let mut ev = event(ctx, "PutSnapshotBlock", &input, &snap.id);
    // AWS logs PutSnapshotBlock as a data event.
    ev.management_event = false;
    ev.event_category = "Data".into();
    let progress = input
        .progress
        .and_then(|p| u8::try_from(p).ok())
        .map(|p| p.min(99));
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let id = snap.id.clone();
    let commit = move |row: BlockRef| -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let mut snap = match super::writable(txn.as_mut(), &ctx2, &id, ctx2.now)? {
            Ok(s) => s,
            Err(e) => {
                txn.commit()?;
                return Err(e);
            }
        };
        let first_write = match store::get_block(&*txn, &id, index)? {
            None => true,
            Some(prev) => {
                let parent = match &snap.origin {
                    SnapshotOrigin::Direct { parent, .. } => parent.clone(),
                    _ => None,
                };
                inherited(&*txn, parent.as_deref(), index, &prev)?
            }
        };
        store::put_block(txn.as_mut(), &id, index, &row)?;
        if let SnapshotOrigin::Direct {
            written,
            last_write,
            ..
        } = &mut snap.origin
        {
            *written += u64::from(first_write);
            *last_write = Some(ctx2.now);
        }
        if let Some(p) = progress {
            snap.progress = p;
        }
        store::put_snapshot(txn.as_mut(), &snap)?;
        append(txn.as_mut(), &[ev])?;
        txn.commit()?;
        Ok(())
    };
    verify_seal_and_store(
        svc,
        ctx,
        &lineage,
        snap.region,
        index,
        data,
        Some(input.checksum.clone()),
        commit,
    )
    .await?;
    Ok(resp)
}

impl Snapshots {
    /// Writes block `index` of volume `volume_id`, which the caller must own (in the request's
    /// region), sealed under the volume's lineage: what `kmsnap volume import` does through
    /// `PUT /_kmsnap/volumes/{vol}/blocks/{index}`. `checksum_b64`, when given, must be the
    /// base64 SHA-256 of `data`.
    pub async fn write_volume_block(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        index: u64,
        data: Bytes,
        checksum_b64: Option<String>,
    ) -> Result<(), EbsError> {
        if data.len() != BLOCK_SIZE {
            return Err(invalid_block(format!(
                "The block must be exactly {BLOCK_SIZE} bytes; got {}.",
                data.len()
            )));
        }
        let (vol, lineage) = owned_volume(self, ctx, volume_id).await?;
        if index >= vol.blocks() {
            return Err(invalid_block(format!(
                "Block index {index} is out of range: a {} GiB volume has blocks 0 to {}.",
                vol.size_gib,
                vol.blocks().saturating_sub(1)
            )));
        }
        let meta = self.meta.clone();
        let ctx2 = ctx.clone();
        let id = volume_id.to_owned();
        let commit = move |row: BlockRef| -> Result<(), EbsError> {
            let mut txn = meta.write()?;
            // Still there and writable (not deleted or re-keyed meanwhile)?
            check_volume(&*txn, &ctx2, &id)?;
            store::put_block(txn.as_mut(), &id, index, &row)?;
            txn.commit()?;
            Ok(())
        };
        verify_seal_and_store(
            self,
            ctx,
            &lineage,
            vol.region,
            index,
            data,
            checksum_b64,
            commit,
        )
        .await
    }

    /// Drops every block of volume `volume_id` (the caller must own it), so that it reads as
    /// zeros: `kmsnap volume import` starts with this, then writes the image's non-zero blocks.
    /// Returns how many blocks were dropped; their blobs stay while other manifests share them.
    pub async fn clear_volume_blocks(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
    ) -> Result<u64, EbsError> {
        let meta = self.meta.clone();
        let ctx2 = ctx.clone();
        let id = volume_id.to_owned();
        crate::blocking(move || -> Result<u64, EbsError> {
            let mut txn = meta.write()?;
            check_volume(&*txn, &ctx2, &id)?;
            let n = store::delete_blocks(txn.as_mut(), &id)?;
            txn.commit()?;
            Ok(n)
        })
        .await?
    }
}

/// A volume the caller owns, in the request's region, in a state that takes writes.
fn check_volume(
    txn: &dyn kmsnap_store::ReadTxn,
    ctx: &RequestContext,
    id: &str,
) -> Result<crate::model::VolumeRecord, EbsError> {
    let not_found = || EbsError::VolumeNotFound { id: id.to_owned() };
    let (account, region) = store::locate(txn, id)?.ok_or_else(not_found)?;
    let vol = store::get_volume(txn, account, region, id)?.ok_or_else(not_found)?;
    // Another account's volume is answered exactly like one that does not exist (as the
    // reads do), so these endpoints never tell a stranger which volume ids exist.
    if region != ctx.region || account != ctx.principal.account {
        return Err(not_found());
    }
    if !matches!(vol.state, VolumeState::Available | VolumeState::InUse) {
        return Err(EbsError::IncorrectState(format!(
            "The volume {id} is {}; it must be available or in-use.",
            vol.state.as_str()
        )));
    }
    Ok(vol)
}

async fn owned_volume(
    svc: &Snapshots,
    ctx: &RequestContext,
    id: &str,
) -> Result<(crate::model::VolumeRecord, LineageRecord), EbsError> {
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let id = id.to_owned();
    crate::blocking(move || {
        let txn = meta.read()?;
        let vol = check_volume(txn.as_ref(), &ctx2, &id)?;
        let lineage = store::get_lineage(txn.as_ref(), &vol.lineage)?
            .ok_or(EbsError::Internal("volume without lineage"))?;
        Ok((vol, lineage))
    })
    .await?
}
