//! Copy and Restore jobs: filling a snapshot copy (CopySnapshot) or a volume restored from a
//! snapshot under another key (CreateVolume) with the source snapshot's blocks.
//!
//! A step first gives a copy its destination lineage if it has none yet (`prepare`: the data
//! key KMS generates under the destination key for the caller, with the new snapshot's id as
//! encryption context, or the lineage an earlier copy of the same source lineage to the same
//! account, region and key started, so that copy's work is reused). Then a `Pipeline` on
//! blocking threads advances through the source manifest in batches (at most [`Tuning::batch`]
//! blocks to re-encrypt, or [`Tuning::max_rows`] rows):
//!
//! 1. the pipeline's own thread reads a batch of the source manifest and, for a copy, which
//!    source blobs an earlier copy into this lineage already re-encrypted (`ebs_copy_map`):
//!    those are not copied again;
//! 2. [`Tuning::threads`] workers re-encrypt the others: read the source blob, re-seal it in
//!    its buffer ([`blocks::reseal`]: open with its lineage's data key, seal under the
//!    destination's), `BlobStore::put` (durable) into the destination region's location;
//! 3. as soon as every block of the oldest open batch is durable, the pipeline's thread commits
//!    it in one MetaStore transaction — manifest rows, copy-map entries, the job's cursor and
//!    the snapshot's `Progress`; after the last batch `completed` (a volume: `available`) and
//!    the job's removal — while the workers go on with the next batches (a few are read ahead,
//!    so the disk never waits for a commit).
//!
//! So a crash at any point resumes from the last committed cursor; blobs written after it are
//! orphans for the collector, never referenced; a snapshot is `completed` only in the
//! transaction that commits its last manifest rows. A copy that shares blobs (same region,
//! account and key) only commits the source's rows. Memory is bounded by the workers (one
//! block buffer each), not by the snapshot or the batch.
//!
//! The blob collector ([`crate::gc`], docs/blob-collection.md) runs meanwhile. A pipeline run
//! holds a write pin from before its workers store anything until its last commit, so the
//! blobs of batches not yet committed are safe from it, and those a run leaves uncommitted
//! (stopped, failed, killed) are its to delete. A row that names a blob the copy did not make
//! (the source's, shared; an earlier copy's, from the copy map) is committed only if the
//! commit's own transaction still finds the reference it was read from: otherwise the blob
//! may be gone, and the batch is read again at the next step.
//!
//! Data keys are unwrapped through KMS *as the job's caller* (through EC2) and cached for one
//! step only, so a key disabled, scheduled for deletion, or no longer admitting the caller
//! stops the job at its next step (it then ends in `error`, "Given key ID is not accessible").

use super::Step;
use crate::blocks::{self, DataKey};
use crate::error::EbsError;
use crate::model::{
    BlockRef, JobKind, JobRecord, LineageRecord, SnapshotRecord, SnapshotState, VolumeRecord,
    VolumeState,
};
use crate::ops::common;
use crate::{store, Snapshots};
use kmsnap_store::{BlobStore, MetaStore, ReadTxn, WritePin, WriteTxn};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much one step does.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Blocks to re-encrypt per batch (each batch is one commit; memory is bounded by the
    /// threads, not the batch).
    pub batch: usize,
    /// Manifest rows per batch at most (rows whose blob is reused or shared cost no work, so
    /// an incremental copy moves through them in few commits).
    pub max_rows: usize,
    /// Batches per step at most.
    pub max_batches: usize,
    /// A step starts no new batch after this long.
    pub budget: Duration,
    /// Worker threads re-encrypting blocks.
    pub threads: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        // Threads beyond the cores still help: much of a block's time is the fsync of its blob.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Tuning {
            batch: 64,
            max_rows: 4096,
            max_batches: usize::MAX,
            budget: Duration::from_secs(2),
            threads: (cores * 4).clamp(4, 32),
        }
    }
}

/// What a job fills.
#[derive(Debug, Clone)]
enum Target {
    Snapshot(SnapshotRecord),
    Volume(VolumeRecord),
}

impl Target {
    fn lineage(&self) -> &str {
        match self {
            Target::Snapshot(s) => &s.lineage,
            Target::Volume(v) => &v.lineage,
        }
    }

    /// Still waiting for its blocks (a target in `error` or deleted is abandoned).
    fn waiting(&self) -> bool {
        match self {
            Target::Snapshot(s) => s.state == SnapshotState::Pending,
            Target::Volume(v) => v.state == VolumeState::Creating,
        }
    }
}

fn load_target(txn: &dyn ReadTxn, job: &JobRecord) -> Result<Option<Target>, EbsError> {
    Ok(match &job.kind {
        JobKind::Restore { .. } => {
            store::get_volume(txn, job.account, job.region, &job.target)?.map(Target::Volume)
        }
        _ => store::get_snapshot(txn, job.account, job.region, &job.target)?.map(Target::Snapshot),
    })
}

/// Advances a Copy or Restore job by one step with the default [`Tuning`].
pub async fn step(svc: &Snapshots, job: &JobRecord) -> Result<Step, EbsError> {
    step_with(svc, job, &Tuning::default()).await
}

pub async fn step_with(
    svc: &Snapshots,
    job: &JobRecord,
    tuning: &Tuning,
) -> Result<Step, EbsError> {
    let (source_id, source_region, share, copy) = match &job.kind {
        JobKind::Copy {
            source,
            source_region,
            share_blobs,
            ..
        } => (source.clone(), *source_region, *share_blobs, true),
        JobKind::Restore { source, .. } => (source.clone(), job.region, false, false),
        JobKind::Seal { .. } => return Err(EbsError::Internal("not a copy job")),
    };
    let meta = svc.meta.clone();
    let (j, sid) = (job.clone(), source_id.clone());
    let (target, source) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        Ok((load_target(&*txn, &j)?, store::find_snapshot(&*txn, &sid)?))
    })
    .await??;
    let Some(target) = target.filter(Target::waiting) else {
        return abandon(svc, job).await;
    };
    let source = match source {
        Some(s) if s.region == source_region && s.state == SnapshotState::Completed => s,
        _ => return Err(EbsError::SnapshotNotFound { id: source_id }),
    };

    let mut keys = Keys::new(svc, job);
    let target = if target.lineage().is_empty() {
        prepare(svc, job, target, &source, &mut keys).await?
    } else {
        target
    };
    let dest = keys.lineage(target.lineage()).await?;
    // Opening the destination lineage (for a copy sharing blobs: the source's) authorizes the
    // caller's use of its key again at every step; then the source's own lineage, which seals
    // most of its blocks (others are opened when the pipeline meets them).
    let dest_key = keys.key(&dest).await?;
    if !share {
        let own = keys.lineage(&source.lineage).await?;
        keys.key(&own).await?;
    }
    let deadline = Instant::now() + tuning.budget;
    let mut job = job.clone();
    loop {
        let pipeline = Pipeline {
            meta: svc.meta.clone(),
            blobs: svc.blobs.clone(),
            clock: svc.clock.clone(),
            job: job.clone(),
            source: source.id.clone(),
            dest: dest.id.clone(),
            dest_key: dest_key.clone(),
            keys: keys.keys.clone(),
            share,
            reuse: copy && !share,
            tuning: tuning.clone(),
            deadline,
            pin: svc.pin_write(),
        };
        let (outcome, after) = crate::blocking(move || pipeline.run()).await??;
        match outcome {
            Outcome::Step(step) => return Ok(step),
            Outcome::NeedKey(lineage) => {
                let l = keys.lineage(&lineage).await?;
                keys.key(&l).await?;
                job = after;
            }
        }
    }
}

/// Data keys unwrapped for this step (never kept longer), and the lineage records they seal.
struct Keys<'a> {
    svc: &'a Snapshots,
    job: &'a JobRecord,
    lineages: HashMap<String, LineageRecord>,
    keys: HashMap<String, Option<Arc<DataKey>>>,
}

impl<'a> Keys<'a> {
    fn new(svc: &'a Snapshots, job: &'a JobRecord) -> Self {
        Keys {
            svc,
            job,
            lineages: HashMap::new(),
            keys: HashMap::new(),
        }
    }

    async fn lineage(&mut self, id: &str) -> Result<LineageRecord, EbsError> {
        if let Some(l) = self.lineages.get(id) {
            return Ok(l.clone());
        }
        let meta = self.svc.meta.clone();
        let key = id.to_owned();
        let l = crate::blocking(move || store::get_lineage(meta.read()?.as_ref(), &key))
            .await??
            .ok_or(EbsError::Internal("lineage missing"))?;
        self.lineages.insert(id.to_owned(), l.clone());
        Ok(l)
    }

    /// The lineage's data key, unwrapped by KMS for the job's caller in the lineage's region.
    async fn key(&mut self, lineage: &LineageRecord) -> Result<Option<Arc<DataKey>>, EbsError> {
        if let Some(k) = self.keys.get(&lineage.id) {
            return Ok(k.clone());
        }
        let ctx = self.job.context(lineage.region, self.svc.clock.now());
        let k = blocks::open_lineage(&self.svc.kms, &ctx, lineage)
            .await?
            .map(Arc::new);
        self.keys.insert(lineage.id.clone(), k.clone());
        Ok(k)
    }

    fn remember(&mut self, lineage: LineageRecord, key: Option<DataKey>) {
        self.keys.insert(lineage.id.clone(), key.map(Arc::new));
        self.lineages.insert(lineage.id.clone(), lineage);
    }
}

/// Gives a copy its destination lineage: the destination key resolved in the destination
/// region for the caller (a key of another region, or one the caller may not use, fails here:
/// the copy ends in `error`), then the lineage an earlier copy of the same source lineage to
/// the same account, region and key started, else a new one whose data key KMS generates with
/// the new snapshot's id as encryption context; EC2's grant for the snapshot on the key.
async fn prepare(
    svc: &Snapshots,
    job: &JobRecord,
    target: Target,
    source: &SnapshotRecord,
    keys: &mut Keys<'_>,
) -> Result<Target, EbsError> {
    let Target::Snapshot(snap) = target else {
        return Err(EbsError::Internal("restore job without a volume lineage"));
    };
    let ctx = job.context(job.region, svc.clock.now());
    let key_arn = match (snap.encrypted, &snap.kms_key_arn) {
        (false, _) => None,
        (true, Some(k)) => Some(common::resolve_key_arn(svc, &ctx, k).await?),
        (true, None) => Some(common::default_key_arn(svc, job.account, job.region).await?),
    };
    let meta = svc.meta.clone();
    let (src_lineage, account, region, k) = (
        source.lineage.clone(),
        job.account,
        job.region,
        key_arn.clone(),
    );
    let earlier = crate::blocking(move || -> Result<Option<LineageRecord>, EbsError> {
        let txn = meta.read()?;
        match store::get_lineage_map(&*txn, &src_lineage, account, region, k.as_deref())? {
            Some(id) => store::get_lineage(&*txn, &id),
            None => Ok(None),
        }
    })
    .await??;
    let fresh = earlier.is_none();
    let lineage = match earlier {
        Some(l) => l,
        None => {
            let key_use = snap.managed_by.clone().unwrap_or_default();
            let (l, key) = blocks::new_lineage_with_key(
                &svc.kms,
                &ctx,
                key_arn.as_deref(),
                &snap.id,
                &key_use,
            )
            .await?;
            keys.remember(l.clone(), key);
            l
        }
    };
    if let Some(k) = &key_arn {
        blocks::grant_for_resource_as(
            &svc.kms,
            &ctx,
            k,
            &snap.id,
            &snap.managed_by.clone().unwrap_or_default(),
        )
        .await?;
    }
    let meta = svc.meta.clone();
    let src_lineage = source.lineage.clone();
    let id = snap.id.clone();
    crate::blocking(move || -> Result<Target, EbsError> {
        let mut txn = meta.write()?;
        let mut snap = store::get_snapshot(&*txn, account, region, &id)?
            .ok_or(EbsError::Internal("copy target vanished"))?;
        if fresh {
            store::put_lineage(txn.as_mut(), &lineage)?;
            store::put_lineage_map(
                txn.as_mut(),
                &src_lineage,
                account,
                region,
                key_arn.as_deref(),
                &lineage.id,
            )?;
        }
        snap.lineage = lineage.id.clone();
        snap.data_encryption_key_id = key_arn.is_some().then(|| lineage.data_key_id.clone());
        snap.kms_key_arn = key_arn;
        store::put_snapshot(txn.as_mut(), &snap)?;
        txn.commit()?;
        Ok(Target::Snapshot(snap))
    })
    .await?
}

/// How a pipeline run ended.
enum Outcome {
    Step(Step),
    /// The next source block is sealed under a lineage whose key this step has not opened.
    NeedKey(String),
}

/// Rows of the source manifest read per store scan.
const PAGE: usize = 64;
/// Batches read ahead of the oldest uncommitted one.
const WINDOW: usize = 3;

/// A destination manifest row: its block (None while being re-encrypted) and, for a block this
/// copy re-encrypted, the source blob it came from (for the copy map); for a block that names
/// a blob the copy did not make, where it found that blob.
struct Row {
    index: u64,
    block: Option<BlockRef>,
    copied_from: Option<String>,
    reuses: Option<Reuse>,
}

/// Where a row that names an existing blob found it: what its commit checks is still there.
enum Reuse {
    /// The source's row at the same index (a copy that shares blobs).
    Source,
    /// The copy-map entry of this source blob (an earlier copy into the same lineage).
    CopyMap { source_blob: String },
}

/// One batch: its rows in index order, how many are still out, where the cursor goes after
/// it, whether it ends the source manifest.
struct Batch {
    rows: Vec<Row>,
    outstanding: usize,
    next_cursor: u64,
    last: bool,
}

/// A block a worker re-encrypts: batch number, row in the batch, the source row and its key.
struct Item {
    batch: usize,
    row: usize,
    index: u64,
    src: BlockRef,
    key: Option<Arc<DataKey>>,
}

/// A worker's answer: batch number, row, the source blob, the new row.
type Done = (usize, usize, String, Result<BlockRef, EbsError>);

/// The blocking part of a step: reads batches of the source manifest, hands the blocks to
/// re-encrypt to [`Tuning::threads`] worker threads, and commits each batch, in order, as soon
/// as all its blocks are durable — while the workers go on with the next batches.
struct Pipeline {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn kmsnap_core::Clock>,
    job: JobRecord,
    source: String,
    dest: String,
    dest_key: Option<Arc<DataKey>>,
    keys: HashMap<String, Option<Arc<DataKey>>>,
    share: bool,
    reuse: bool,
    tuning: Tuning,
    deadline: Instant,
    /// This run's write pin: held until the run returns, after its last commit.
    pin: WritePin,
}

impl Pipeline {
    fn run(mut self) -> Result<(Outcome, JobRecord), EbsError> {
        let (work_tx, work_rx) = std::sync::mpsc::channel::<Item>();
        let work_rx = Mutex::new(work_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
        let stop = AtomicBool::new(false);
        let threads = self.tuning.threads.max(1);
        let this = &self;
        let result = std::thread::scope(|s| {
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let (work_rx, stop) = (&work_rx, &stop);
                s.spawn(move || loop {
                    let next = work_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(item) = next else { return };
                    let r = match stop.load(Ordering::Relaxed) {
                        true => Err(EbsError::Internal("copy stopped")),
                        false => this.reencrypt(&item),
                    };
                    if done_tx
                        .send((item.batch, item.row, item.src.blob, r))
                        .is_err()
                    {
                        return;
                    }
                });
            }
            drop(done_tx);
            let r = this.drive(work_tx, &done_rx);
            stop.store(true, Ordering::Relaxed);
            r
        });
        let (outcome, job) = result?;
        self.job = job;
        Ok((outcome, self.job))
    }

    /// The main thread's loop: read ahead, collect results, commit completed batches in order.
    /// Dropping `work` (on every return) lets the workers finish.
    fn drive(
        &self,
        work: std::sync::mpsc::Sender<Item>,
        done: &std::sync::mpsc::Receiver<Done>,
    ) -> Result<(Outcome, JobRecord), EbsError> {
        let mut job = self.job.clone();
        let mut cursor = job.cursor.map_or(0, u64::from);
        let mut queue: VecDeque<Batch> = VecDeque::new();
        let (mut first, mut read, mut committed) = (0usize, 0usize, 0usize);
        let mut reading = true;
        let mut need_key = None;
        loop {
            while reading && queue.len() < WINDOW && read < self.tuning.max_batches {
                if read > 0 && Instant::now() >= self.deadline {
                    reading = false;
                    break;
                }
                let (batch, items, missing) = self.read_batch(cursor, read)?;
                cursor = batch.next_cursor;
                for item in items {
                    work.send(item)
                        .map_err(|_| EbsError::Internal("copy workers gone"))?;
                }
                reading = !batch.last && missing.is_none();
                need_key = missing;
                queue.push_back(batch);
                read += 1;
            }
            while queue.front().is_some_and(|b| b.outstanding == 0) {
                let Some(b) = queue.pop_front() else { break };
                first += 1;
                let rows = b.rows;
                if rows.is_empty() && !b.last {
                    continue;
                }
                let mut next = job.clone();
                next.cursor = Some(
                    u32::try_from(b.next_cursor).map_err(|_| EbsError::Internal("block index"))?,
                );
                next.done_blocks += rows.len() as u64;
                let Some(step) = commit_batch(
                    self.meta.as_ref(),
                    &next,
                    &self.source,
                    &rows,
                    b.last,
                    self.clock.now(),
                )?
                else {
                    // A blob this batch reuses lost the reference it was found through: end the
                    // step at the last commit; the next one reads the batch again.
                    tracing::debug!(target_id = %job.target, cursor = ?job.cursor, "copy batch names a blob no longer referenced; read again");
                    return Ok((Outcome::Step(Step::More), job));
                };
                job = next;
                committed += 1;
                tracing::debug!(target_id = %job.target, done = job.done_blocks, total = job.total_blocks, committed, "copy batch committed");
                if step == Step::Done {
                    return Ok((Outcome::Step(Step::Done), job));
                }
            }
            if queue.is_empty() {
                if reading && read < self.tuning.max_batches {
                    continue;
                }
                let outcome = match need_key {
                    Some(l) => Outcome::NeedKey(l),
                    None => Outcome::Step(Step::More),
                };
                return Ok((outcome, job));
            }
            let (batch, row, src_blob, r) = done
                .recv()
                .map_err(|_| EbsError::Internal("copy workers gone"))?;
            let b = batch
                .checked_sub(first)
                .and_then(|k| queue.get_mut(k))
                .ok_or(EbsError::Internal("copy batch bookkeeping"))?;
            b.rows[row].block = Some(r?);
            b.rows[row].copied_from = Some(src_blob);
            b.outstanding -= 1;
        }
    }

    /// The next batch from `from`: up to [`Tuning::batch`] blocks to re-encrypt, or
    /// [`Tuning::max_rows`] rows in all (rows a copy reuses or shares cost no work). Stops
    /// before a block whose lineage key is not open (returned).
    fn read_batch(
        &self,
        from: u64,
        number: usize,
    ) -> Result<(Batch, Vec<Item>, Option<String>), EbsError> {
        let txn = self.meta.read()?;
        let mut batch = Batch {
            rows: Vec::new(),
            outstanding: 0,
            next_cursor: from,
            last: false,
        };
        let mut items = Vec::new();
        loop {
            let page = store::blocks_from(&*txn, &self.source, batch.next_cursor, PAGE)?;
            let end = page.len() < PAGE;
            for (index, src) in page {
                if self.share {
                    batch.rows.push(Row {
                        index,
                        block: Some(src),
                        copied_from: None,
                        reuses: Some(Reuse::Source),
                    });
                } else if let Some(blob) = self.reused(&*txn, &src)? {
                    let block = BlockRef {
                        blob,
                        sha256: src.sha256,
                        lineage: self.dest.clone(),
                    };
                    batch.rows.push(Row {
                        index,
                        block: Some(block),
                        copied_from: None,
                        reuses: Some(Reuse::CopyMap {
                            source_blob: src.blob,
                        }),
                    });
                } else {
                    let Some(key) = self.keys.get(&src.lineage) else {
                        return Ok((batch, items, Some(src.lineage)));
                    };
                    let row = batch.rows.len();
                    batch.rows.push(Row {
                        index,
                        block: None,
                        copied_from: None,
                        reuses: None,
                    });
                    items.push(Item {
                        batch: number,
                        row,
                        index,
                        src,
                        key: key.clone(),
                    });
                    batch.outstanding += 1;
                }
                batch.next_cursor = index + 1;
                if items.len() >= self.tuning.batch || batch.rows.len() >= self.tuning.max_rows {
                    return Ok((batch, items, None));
                }
            }
            if end {
                batch.last = true;
                return Ok((batch, items, None));
            }
        }
    }

    /// The blob an earlier copy into the destination lineage made of `src`, if still there.
    fn reused(&self, txn: &dyn ReadTxn, src: &BlockRef) -> Result<Option<String>, EbsError> {
        if !self.reuse {
            return Ok(None);
        }
        Ok(store::get_copy_map(txn, &self.dest, &src.blob)?
            .filter(|d| self.blobs.exists(d).unwrap_or(false)))
    }

    /// Reads, re-seals and durably writes one block into the destination region's location.
    fn reencrypt(&self, w: &Item) -> Result<BlockRef, EbsError> {
        let stored = self
            .blobs
            .get(&w.src.blob)?
            .ok_or_else(|| EbsError::BlockDamaged {
                resource: self.source.clone(),
                index: w.index,
            })?;
        let sealed = blocks::reseal(
            w.key.as_deref(),
            self.dest_key.as_deref(),
            &self.source,
            &w.src.lineage,
            &self.dest,
            w.index,
            stored,
            &w.src.sha256,
        )?;
        let blob = blocks::store_block(
            &*self.blobs,
            &self.pin,
            self.job.region,
            &self.dest,
            w.index,
            &sealed,
        )?;
        Ok(BlockRef {
            blob,
            sha256: w.src.sha256.clone(),
            lineage: self.dest.clone(),
        })
    }
}

/// Commits a batch: manifest rows (a block this batch re-encrypted is recorded in the copy
/// map), the job's cursor and the snapshot's progress; after the last batch the target is
/// finished and the job removed. A target deleted (or failed) meanwhile ends the job. `None`,
/// committing nothing: a row names a blob whose reference (the `source` manifest's row, or
/// the copy-map entry) is gone, so the blob collector may have taken it.
fn commit_batch(
    meta: &dyn MetaStore,
    job: &JobRecord,
    source: &str,
    rows: &[Row],
    finished: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Step>, EbsError> {
    let mut txn = meta.write()?;
    let target = match load_target(&*txn, job)? {
        Some(t) if t.waiting() => t,
        other => {
            end_abandoned(txn.as_mut(), job, other.is_none())?;
            txn.commit()?;
            return Ok(Some(Step::Done));
        }
    };
    let record_copies = matches!(job.kind, JobKind::Copy { .. });
    for row in rows {
        let b = row
            .block
            .as_ref()
            .ok_or(EbsError::Internal("copy row without block"))?;
        if !still_referenced(&*txn, source, row.index, b, row.reuses.as_ref())? {
            return Ok(None);
        }
        store::put_block(txn.as_mut(), &job.target, row.index, b)?;
        if let (true, Some(src)) = (record_copies, &row.copied_from) {
            store::put_copy_map(txn.as_mut(), &b.lineage, src, &b.blob)?;
        }
    }
    match target {
        Target::Snapshot(mut s) => {
            if finished {
                s.state = SnapshotState::Completed;
                s.progress = 100;
                s.completed = Some(now);
            } else {
                s.progress = super::seal::progress(job.done_blocks, job.total_blocks);
            }
            store::put_snapshot(txn.as_mut(), &s)?;
        }
        Target::Volume(mut v) if finished => {
            v.state = VolumeState::Available;
            store::put_volume(txn.as_mut(), &v)?;
        }
        Target::Volume(_) => {}
    }
    if finished {
        store::delete_job(txn.as_mut(), &job.target)?;
    } else {
        store::put_job(txn.as_mut(), job)?;
    }
    txn.commit()?;
    Ok(Some(if finished { Step::Done } else { Step::More }))
}

/// Whether the reference a reused blob was found through is still there, in the committing
/// transaction: a row may copy a reference only from one its own transaction reads, or the
/// blob collector could have deleted the blob since it was read (docs/blob-collection.md).
/// A blob this copy made (`reuses` None) needs nothing: the run's pin covers it.
fn still_referenced(
    txn: &dyn ReadTxn,
    source: &str,
    index: u64,
    b: &BlockRef,
    reuses: Option<&Reuse>,
) -> Result<bool, EbsError> {
    Ok(match reuses {
        None => true,
        Some(Reuse::Source) => {
            store::get_block(txn, source, index)?.is_some_and(|s| s.blob == b.blob)
        }
        Some(Reuse::CopyMap { source_blob }) => {
            store::get_copy_map(txn, &b.lineage, source_blob)?.as_deref() == Some(b.blob.as_str())
        }
    })
}

/// Drops the job of a target that was deleted (and the rows copied so far) or that left its
/// waiting state.
fn end_abandoned(txn: &mut dyn WriteTxn, job: &JobRecord, deleted: bool) -> Result<(), EbsError> {
    if deleted {
        store::delete_blocks(txn, &job.target)?;
    }
    store::delete_job(txn, &job.target)
}

async fn abandon(svc: &Snapshots, job: &JobRecord) -> Result<Step, EbsError> {
    let meta: Arc<dyn MetaStore> = svc.meta.clone();
    let job = job.clone();
    crate::blocking(move || -> Result<Step, EbsError> {
        let mut txn = meta.write()?;
        let deleted = load_target(&*txn, &job)?.is_none();
        end_abandoned(txn.as_mut(), &job, deleted)?;
        txn.commit()?;
        Ok(Step::Done)
    })
    .await?
}

#[cfg(test)]
mod tests;
