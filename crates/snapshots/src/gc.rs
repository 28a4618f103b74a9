//! The blob collector of the block store (docs/blob-collection.md): while the server runs, it
//! deletes the block blobs nothing references — what a write the process never finished left
//! (a copy batch or a PutSnapshotBlock cut short by kill -9 or an error, a volume import that
//! died), and what deleted volumes and snapshots and rewritten blocks left behind — and never
//! a blob that a manifest references or that a write in progress is about to reference.
//!
//! * An orphan ([`is_orphan`]) is a blob under a region's `blocks/` that no manifest row
//!   (`ebs_blocks`, volumes and snapshots of every service alike) names. `kmsnap fsck` uses the
//!   same definition.
//! * Writes in progress hold a pin ([`Snapshots::pin_write`]) from before they store a blob until
//!   the row naming it is committed or given up. A sweep ([`kmsnap_store::Sweep`]) lists the
//!   blobs, waits until every pin taken before the listing ended is dropped, and only then
//!   reads the references, all in one read transaction ([`References::read`]).
//! * Rows that name a blob the writer did not make (a child's rows, a volume's, a copy sharing
//!   its source's blobs) must be written by the transaction that read the row they copy — or,
//!   for the copy pipeline, whose reads and commits are apart, checked again in the commit
//!   (`workers::copy`): so a reference is only ever copied from one that still exists.
//! * The copy map (`ebs_copy_map`) names blobs an earlier copy made, for a later copy into the
//!   same lineage to reuse. An entry does not keep its blob (a deleted copy's blocks would
//!   stay forever), but a copy reuses a blob only if its commit still finds the entry, so an
//!   entry is dropped before its blob: a sweep keeps the blobs entries name and deletes the
//!   entries that name orphans; the next sweep deletes those blobs.
//!
//! [`Collector::step`] advances a sweep by one step; [`run`] is the server's loop: a sweep at
//! start (everything a killed process left is an orphan then), then one every interval.
//! Each sweep that deletes something logs how many blobs and bytes it reclaimed (ids only,
//! never a block's contents); [`Snapshots::gc_totals`] adds them up for the metrics endpoint.

use crate::error::EbsError;
use crate::{store, Snapshots};
use kmsnap_store::collect::{Finish, Reclaimed, Referenced, Sweep};
use kmsnap_store::{MetaStore, ReadTxn};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a sweep waiting for writes in progress looks again.
const WAIT_POLL: Duration = Duration::from_millis(100);
/// Rows read per scan, and copy-map entries dropped per transaction.
const PAGE: usize = 4096;

/// Whether `key` is a block blob (`{region}/blocks/…`): the only blobs the collector and
/// `kmsnap fsck` consider.
pub fn is_block_blob(key: &str) -> bool {
    key.split('/').nth(1) == Some("blocks")
}

/// Whether `key` is an orphan: a block blob no manifest row names.
pub fn is_orphan(key: &str, refs: &References) -> bool {
    is_block_blob(key) && !refs.manifest.contains(key)
}

/// Every reference to a block blob, read in one read transaction.
#[derive(Debug, Default)]
pub struct References {
    /// Blobs some manifest row names.
    manifest: HashSet<String>,
    /// Blobs only a copy-map entry names, and those entries (key, revision): kept by this
    /// sweep, the entries dropped after it ([`unmap`]).
    mapped: HashSet<String>,
    stale: Vec<(Vec<u8>, u64)>,
}

impl Referenced for References {
    fn keeps(&self, key: &str) -> bool {
        self.manifest.contains(key) || self.mapped.contains(key)
    }
}

impl References {
    /// Reads every manifest row and copy-map entry from one read transaction.
    pub fn read(meta: &dyn MetaStore) -> Result<References, EbsError> {
        let txn = meta.read()?;
        let mut refs = References::default();
        store::for_each_block(txn.as_ref(), |_, _, b| {
            refs.manifest.insert(b.blob);
            Ok(())
        })?;
        scan(txn.as_ref(), store::T_COPY_MAP, |k, r| {
            let blob = String::from_utf8_lossy(&r.value).into_owned();
            if !refs.manifest.contains(&blob) {
                refs.stale.push((k.to_vec(), r.revision));
                refs.mapped.insert(blob);
            }
            Ok(())
        })?;
        Ok(refs)
    }

    /// How many blobs the manifests name.
    pub fn referenced(&self) -> usize {
        self.manifest.len()
    }
}

/// Every entry of `table` (of plain values: the copy map), in pages, from one transaction.
fn scan(
    txn: &dyn ReadTxn,
    table: &str,
    mut f: impl FnMut(&[u8], &kmsnap_store::Record) -> Result<(), EbsError>,
) -> Result<(), EbsError> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan(table, b"", after.as_deref(), PAGE)?;
        for (k, r) in &page {
            f(k, r)?;
        }
        match page.last() {
            Some((k, _)) if page.len() == PAGE => after = Some(k.clone()),
            _ => return Ok(()),
        }
    }
}

/// Drops the copy-map entries that named orphans when `refs` was read, unless rewritten since.
/// Safe whenever it runs: without its entry a copy re-encrypts the block instead of reusing it.
pub fn unmap(meta: &dyn MetaStore, refs: &References) -> Result<u64, EbsError> {
    let mut dropped = 0;
    for chunk in refs.stale.chunks(PAGE) {
        let mut txn = meta.write()?;
        for (key, revision) in chunk {
            if txn.revision(store::T_COPY_MAP, key)? == *revision
                && txn.delete(store::T_COPY_MAP, key)?
            {
                dropped += 1;
            }
        }
        txn.commit()?;
    }
    Ok(dropped)
}

/// What one finished sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub reclaimed: Reclaimed,
    /// Copy-map entries dropped (their blobs go at the next sweep).
    pub unmapped: u64,
}

/// How a [`Collector::step`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The sweep waits for writes that began before its listing ended.
    Waiting,
    /// A sweep finished.
    Swept(Report),
}

/// The collector's state between steps: the sweep under way, if any.
#[derive(Debug, Default)]
pub struct Collector {
    sweep: Option<Sweep>,
}

impl Collector {
    /// One step (blocking): starts a sweep if none is under way (lists the block blobs), then
    /// finishes it if every write in progress at its listing has ended (reads the references,
    /// deletes what they do not keep, drops stale copy-map entries).
    pub fn step(&mut self, svc: &Snapshots) -> Result<Progress, EbsError> {
        let sweep = match self.sweep.take() {
            Some(s) => s,
            None => Sweep::start(svc.blobs.as_ref(), &svc.inflight, "", is_block_blob)?,
        };
        match sweep.try_finish(svc.blobs.as_ref(), || References::read(svc.meta.as_ref()))? {
            Finish::Waiting(s) => {
                self.sweep = Some(s);
                Ok(Progress::Waiting)
            }
            Finish::Done(refs, reclaimed) => {
                let report = Report {
                    reclaimed,
                    unmapped: unmap(svc.meta.as_ref(), &refs)?,
                };
                svc.gc.add(&report);
                Ok(Progress::Swept(report))
            }
        }
    }

    /// Steps until a sweep finishes (tests and tools; the server uses [`run`]).
    pub fn sweep(&mut self, svc: &Snapshots) -> Result<Report, EbsError> {
        loop {
            match self.step(svc)? {
                Progress::Swept(r) => return Ok(r),
                Progress::Waiting => std::thread::sleep(WAIT_POLL / 10),
            }
        }
    }
}

/// What the collector did since the process started.
#[derive(Debug, Default)]
pub struct Totals {
    sweeps: AtomicU64,
    blobs: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    unmapped: AtomicU64,
}

/// A copy of [`Totals`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsNow {
    pub sweeps: u64,
    /// Blobs deleted, and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Deletions that failed (tried again by a later sweep).
    pub failed: u64,
    pub unmapped: u64,
}

impl Totals {
    fn add(&self, r: &Report) {
        self.sweeps.fetch_add(1, Ordering::Relaxed);
        self.blobs.fetch_add(r.reclaimed.deleted, Ordering::Relaxed);
        self.bytes.fetch_add(r.reclaimed.bytes, Ordering::Relaxed);
        self.failed.fetch_add(r.reclaimed.failed, Ordering::Relaxed);
        self.unmapped.fetch_add(r.unmapped, Ordering::Relaxed);
    }

    fn now(&self) -> TotalsNow {
        TotalsNow {
            sweeps: self.sweeps.load(Ordering::Relaxed),
            blobs: self.blobs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            unmapped: self.unmapped.load(Ordering::Relaxed),
        }
    }
}

impl Snapshots {
    /// What the blob collector did since the process started.
    pub fn gc_totals(&self) -> TotalsNow {
        self.gc.now()
    }
}

/// The collector's loop: a sweep at once, then one every `every`. Never returns.
pub async fn run(svc: Arc<Snapshots>, every: Duration) {
    let mut collector = Collector::default();
    loop {
        let s = svc.clone();
        let stepped = crate::blocking(move || {
            let p = collector.step(&s);
            (collector, p)
        })
        .await;
        let wait = match stepped {
            Ok((c, Ok(Progress::Waiting))) => {
                collector = c;
                WAIT_POLL
            }
            Ok((c, Ok(Progress::Swept(r)))) => {
                collector = c;
                let Reclaimed {
                    listed,
                    deleted,
                    bytes,
                    failed,
                } = r.reclaimed;
                if deleted > 0 || failed > 0 || r.unmapped > 0 {
                    tracing::info!(
                        listed,
                        deleted,
                        bytes,
                        failed,
                        unmapped = r.unmapped,
                        "blob collector reclaimed unreferenced blocks"
                    );
                } else {
                    tracing::debug!(listed, "blob collector found nothing to reclaim");
                }
                every
            }
            Ok((_, Err(e))) => {
                collector = Collector::default();
                tracing::error!(error = %e, "blob collector sweep failed");
                every
            }
            Err(e) => {
                collector = Collector::default();
                tracing::error!(error = %e, "blob collector step did not finish");
                every
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests;
