//! Sealing a snapshot of a volume: the volume's manifest is copied into the snapshot's, a page
//! per step (blocks are shared, not copied); the cursor and `Progress` commit with each page;
//! the last step marks the snapshot `completed`.

use super::Step;
use crate::error::EbsError;
use crate::model::{JobKind, JobRecord, SnapshotState};
use crate::{store, Snapshots};

/// Manifest rows per step.
pub const PAGE: usize = 2048;

pub async fn step(svc: &Snapshots, job: &JobRecord) -> Result<Step, EbsError> {
    let JobKind::Seal { volume_id } = &job.kind else {
        return Err(EbsError::Internal("not a seal job"));
    };
    let meta = svc.meta.clone();
    let (job, volume_id) = (job.clone(), volume_id.clone());
    let now = svc.clock.now();
    crate::blocking(move || -> Result<Step, EbsError> {
        let mut txn = meta.write()?;
        let Some(mut snap) = store::get_snapshot(&*txn, job.account, job.region, &job.target)? else {
            // The snapshot was deleted meanwhile: drop the job and what it copied.
            store::delete_blocks(txn.as_mut(), &job.target)?;
            store::delete_job(txn.as_mut(), &job.target)?;
            txn.commit()?;
            return Ok(Step::Done);
        };
        let from = job.cursor.map_or(0, u64::from);
        let page = store::blocks_from(&*txn, &volume_id, from, PAGE)?;
        for (i, b) in &page {
            store::put_block(txn.as_mut(), &job.target, *i, b)?;
        }
        let mut job = job;
        job.done_blocks += page.len() as u64;
        let finished = page.len() < PAGE;
        if finished {
            snap.state = SnapshotState::Completed;
            snap.progress = 100;
            snap.completed = Some(now);
            store::delete_job(txn.as_mut(), &job.target)?;
        } else {
            let next = page.last().map_or(0, |(i, _)| i + 1);
            job.cursor = Some(u32::try_from(next).map_err(|_| EbsError::Internal("block index"))?);
            snap.progress = progress(job.done_blocks, job.total_blocks);
            store::put_job(txn.as_mut(), &job)?;
        }
        store::put_snapshot(txn.as_mut(), &snap)?;
        txn.commit()?;
        Ok(if finished { Step::Done } else { Step::More })
    })
    .await?
}

/// Percent done, below 100 until the job finishes.
pub fn progress(done: u64, total: u64) -> u8 {
    if total == 0 {
        return 99;
    }
    u8::try_from((done.saturating_mul(100) / total).min(99)).unwrap_or(99)
}
