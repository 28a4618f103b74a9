//! Reading a volume's blocks directly, for kmsnap's own tools (`kmsnap db export`): AWS has no
//! API that reads a volume, so these back kmsnap's SigV4-signed `/_kmsnap/volumes/…` endpoint.
//! Only the volume's owner, in the volume's region, may read it; every read unwraps the
//! lineage's data key through KMS as the caller (so a disabled key stops it).

use crate::blocks;
use crate::error::EbsError;
use crate::model::VolumeRecord;
use crate::{store, Snapshots};
use kmsnap_auth::RequestContext;

/// Block indexes listed per call at most.
pub const LIST_PAGE: usize = 10_000;

fn owned(
    txn: &dyn kmsnap_store::ReadTxn,
    ctx: &RequestContext,
    id: &str,
) -> Result<VolumeRecord, EbsError> {
    let not_found = || EbsError::VolumeNotFound { id: id.to_owned() };
    let (account, region) = store::locate(txn, id)?.ok_or_else(not_found)?;
    if account != ctx.principal.account || region != ctx.region {
        return Err(not_found());
    }
    store::get_volume(txn, account, region, id)?.ok_or_else(not_found)
}

impl Snapshots {
    /// The volume's size (GiB) and the indexes of its written blocks from `from`, at most
    /// [`LIST_PAGE`], index order.
    pub async fn volume_block_indexes(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        from: u64,
    ) -> Result<(i32, Vec<u64>), EbsError> {
        let (meta, ctx2, id) = (self.meta.clone(), ctx.clone(), volume_id.to_owned());
        crate::blocking(move || -> Result<(i32, Vec<u64>), EbsError> {
            let txn = meta.read()?;
            let v = owned(txn.as_ref(), &ctx2, &id)?;
            let page = store::blocks_from(txn.as_ref(), &id, from, LIST_PAGE)?;
            Ok((v.size_gib, page.into_iter().map(|(i, _)| i).collect()))
        })
        .await?
    }

    /// The plaintext of block `index` of the volume (None: never written, reads as zeros).
    pub async fn read_volume_block(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        index: u64,
    ) -> Result<Option<Vec<u8>>, EbsError> {
        let (meta, ctx2, id) = (self.meta.clone(), ctx.clone(), volume_id.to_owned());
        let found = crate::blocking(move || -> Result<_, EbsError> {
            let txn = meta.read()?;
            owned(txn.as_ref(), &ctx2, &id)?;
            let Some(b) = store::get_block(txn.as_ref(), &id, index)? else {
                return Ok(None);
            };
            let lineage = store::get_lineage(txn.as_ref(), &b.lineage)?
                .ok_or(EbsError::Internal("block without lineage"))?;
            Ok(Some((b, lineage)))
        })
        .await??;
        let Some((b, lineage)) = found else {
            return Ok(None);
        };
        let key = blocks::open_lineage_cached(&self.kms, &self.data_keys, ctx, &lineage).await?;
        let blobs = self.blobs.clone();
        let blob = b.blob.clone();
        let stored =
            crate::blocking(move || blobs.get(&blob))
                .await??
                .ok_or(EbsError::BlockDamaged {
                    resource: volume_id.to_owned(),
                    index,
                })?;
        Ok(Some(blocks::open(
            key.as_deref(),
            volume_id,
            &b.lineage,
            index,
            &stored,
            &b.sha256,
        )?))
    }
}
