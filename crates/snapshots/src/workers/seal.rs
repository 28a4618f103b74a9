//! Sealing a snapshot of a volume: the volume's manifest is copied into the snapshot's, a page
//! per step (blocks are shared, not copied); the cursor and `Progress` commit with each page;
//! the last step marks the snapshot `completed`.

use super::Step;
use crate::error::EbsError;
use crate::model::{JobKind, JobRecord, SnapshotRecord, SnapshotState};
use crate::{store, Snapshots};
use chrono::{DateTime, Utc};
use kmsnap_store::WriteTxn;

/// Manifest rows per step.
pub const PAGE: usize = 2048;

pub async fn step(svc: &Snapshots, job: &JobRecord) -> Result<Step, EbsError> {
    let meta = svc.meta.clone();
    let job = job.clone();
    let now = svc.clock.now();
    crate::blocking(move || -> Result<Step, EbsError> {
        let mut txn = meta.write()?;
        // The job as committed, not as listed: `finish_seals` or DeleteVolume may have run it
        // to its end meanwhile (then there is nothing left to do).
        let Some(job) = store::get_job(&*txn, &job.target)? else {
            return Ok(Step::Done);
        };
        let step = advance(txn.as_mut(), job, now)?;
        txn.commit()?;
        Ok(step)
    })
    .await?
}

/// Writes pending snapshot `snap` of volume `snap.volume_id` and the seal job that fills it, in
/// `txn` (CreateSnapshot, and managed snapshots: docs/managed-storage.md §3).
pub fn queue(
    txn: &mut dyn WriteTxn,
    snap: &SnapshotRecord,
    now: DateTime<Utc>,
) -> Result<(), EbsError> {
    let total = store::count_blocks(&*txn, &snap.volume_id)?;
    let job = JobRecord::new(
        &snap.id,
        snap.account,
        snap.region,
        JobKind::Seal {
            volume_id: snap.volume_id.clone(),
        },
        total,
        None,
        now,
    );
    store::put_snapshot(txn, snap)?;
    store::put_job(txn, &job)
}

/// One page of the seal, inside `txn` (the caller commits).
pub fn advance(
    txn: &mut dyn WriteTxn,
    job: JobRecord,
    now: DateTime<Utc>,
) -> Result<Step, EbsError> {
    let JobKind::Seal { volume_id } = &job.kind else {
        return Err(EbsError::Internal("not a seal job"));
    };
    let volume_id = volume_id.clone();
    let Some(mut snap) = store::get_snapshot(&*txn, job.account, job.region, &job.target)? else {
        // The snapshot was deleted meanwhile: drop the job and what it copied.
        store::delete_blocks(txn, &job.target)?;
        store::delete_job(txn, &job.target)?;
        return Ok(Step::Done);
    };
    let from = job.cursor.map_or(0, u64::from);
    let page = store::blocks_from(&*txn, &volume_id, from, PAGE)?;
    for (i, b) in &page {
        store::put_block(txn, &job.target, *i, b)?;
    }
    let mut job = job;
    job.done_blocks += page.len() as u64;
    let finished = page.len() < PAGE;
    if finished {
        snap.state = SnapshotState::Completed;
        snap.progress = 100;
        snap.completed = Some(now);
        store::delete_job(txn, &job.target)?;
    } else {
        let next = page.last().map_or(0, |(i, _)| i + 1);
        job.cursor = Some(u32::try_from(next).map_err(|_| EbsError::Internal("block index"))?);
        snap.progress = progress(job.done_blocks, job.total_blocks);
        store::put_job(txn, &job)?;
    }
    store::put_snapshot(txn, &snap)?;
    Ok(if finished { Step::Done } else { Step::More })
}

/// Runs a seal to its end inside `txn`: DeleteVolume calls it before the volume's manifest
/// goes, so a pending snapshot keeps the volume's data as of CreateSnapshot.
pub fn finish(txn: &mut dyn WriteTxn, job: JobRecord, now: DateTime<Utc>) -> Result<(), EbsError> {
    let target = job.target.clone();
    let mut job = job;
    while advance(txn, job, now)? == Step::More {
        job = store::get_job(&*txn, &target)?.ok_or(EbsError::Internal("seal job vanished"))?;
    }
    Ok(())
}

/// Percent done, below 100 until the job finishes.
pub fn progress(done: u64, total: u64) -> u8 {
    if total == 0 {
        return 99;
    }
    u8::try_from((done.saturating_mul(100) / total).min(99)).unwrap_or(99)
}
