//! Background work on snapshots and volumes, as resumable jobs in the `ebs_jobs` table
//! (STYLE.md "Persistence"): each step is idempotent and commits its progress with its effect,
//! so a crash resumes where the last commit left off and never shows a half-made snapshot as
//! `completed`.
//!
//! * [`seal`]: CreateSnapshot — freeze a volume's manifest into the snapshot (blocks shared).
//! * [`copy`]: Copy / Restore jobs (CopySnapshot, volumes from snapshots under another key):
//!   re-encrypt block by block in batches (or share blobs), resumable from the last batch.
//!
//! [`run`] is the loop the server spawns: it wakes when a job is queued (or every 200 ms) and
//! advances every job one step at a time, round robin.

pub mod copy;
pub mod seal;

use crate::error::EbsError;
use crate::model::{JobKind, JobRecord, SnapshotState, VolumeState};
use crate::{store, Snapshots};
use std::sync::Arc;
use std::time::Duration;

/// What a step left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    More,
    Done,
}

/// The StateMessage AWS documents for a copy whose key cannot be used.
pub const KEY_NOT_ACCESSIBLE: &str = "Given key ID is not accessible";

/// Advances every queued job by one step. Returns whether any job remains.
pub async fn run_once(svc: &Snapshots) -> Result<bool, EbsError> {
    let meta = svc.meta.clone();
    let jobs = crate::blocking(move || store::jobs(meta.read()?.as_ref(), 256)).await??;
    let mut remaining = false;
    for job in jobs {
        let r = match &job.kind {
            JobKind::Seal { .. } => seal::step(svc, &job).await,
            JobKind::Copy { .. } | JobKind::Restore { .. } => copy::step(svc, &job).await,
        };
        match r {
            Ok(Step::More) => remaining = true,
            Ok(Step::Done) => {}
            Err(e) => fail(svc, &job, &e).await?,
        }
    }
    Ok(remaining)
}

/// Ends a job whose step failed for good: its snapshot goes to `error` (with AWS's message
/// for KMS problems), its volume to `error`. Store failures are not final: the job stays and
/// is retried.
async fn fail(svc: &Snapshots, job: &JobRecord, e: &EbsError) -> Result<(), EbsError> {
    if matches!(
        e,
        EbsError::Internal("store") | EbsError::Internal("blocking task")
    ) {
        tracing::warn!(target_id = %job.target, error = %e, "job step failed; will retry");
        return Ok(());
    }
    tracing::warn!(target_id = %job.target, error = %e, "job failed");
    let message = match e {
        EbsError::Kms { .. } => KEY_NOT_ACCESSIBLE.to_owned(),
        other => other.to_string(),
    };
    let meta = svc.meta.clone();
    let job = job.clone();
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        if let Some(mut s) = store::get_snapshot(&*txn, job.account, job.region, &job.target)? {
            s.state = SnapshotState::Error;
            s.state_message = Some(message);
            store::put_snapshot(txn.as_mut(), &s)?;
        }
        if let Some(mut v) = store::get_volume(&*txn, job.account, job.region, &job.target)? {
            v.state = VolumeState::Error;
            store::put_volume(txn.as_mut(), &v)?;
        }
        store::delete_job(txn.as_mut(), &job.target)?;
        txn.commit()?;
        Ok(())
    })
    .await?
}

/// The worker loop. Never returns.
pub async fn run(svc: Arc<Snapshots>) {
    // EBS direct snapshots past their `Timeout` go to `error` (checked every 30 s).
    let mut last_sweep = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = svc.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if last_sweep.elapsed() >= Duration::from_secs(30) {
            last_sweep = std::time::Instant::now();
            if let Err(e) = crate::ops::direct::expire_timed_out(&svc).await {
                tracing::error!(error = %e, "direct snapshot timeout sweep");
            }
        }
        loop {
            match run_once(&svc).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::error!(error = %e, "snapshot worker");
                    break;
                }
            }
        }
    }
}

impl Snapshots {
    /// Runs every queued seal to its end now (a seal shares the volume's blocks into the
    /// snapshot: metadata work, no bytes move), in one transaction. RDS calls it before its
    /// own calls, so a DB snapshot is `available` at the next read (issue #17). Copies and
    /// restores, which move bytes, are left to the worker. Returns how many seals finished.
    pub async fn finish_seals(&self) -> Result<usize, EbsError> {
        let meta = self.meta.clone();
        let now = self.clock.now();
        crate::blocking(move || -> Result<usize, EbsError> {
            {
                let txn = meta.read()?;
                if !store::jobs(txn.as_ref(), 256)?
                    .iter()
                    .any(|j| matches!(j.kind, JobKind::Seal { .. }))
                {
                    return Ok(0);
                }
            }
            let mut txn = meta.write()?;
            let mut finished = 0;
            for job in store::jobs(&*txn, 256)? {
                if matches!(job.kind, JobKind::Seal { .. }) {
                    seal::finish(txn.as_mut(), job, now)?;
                    finished += 1;
                }
            }
            txn.commit()?;
            Ok(finished)
        })
        .await?
    }

    /// Tells the worker a job was queued.
    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }
}
