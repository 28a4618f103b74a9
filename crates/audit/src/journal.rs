//! The audit journal: where the embedded store's audit records become durable before their
//! calls are answered, so that a crypto call costs a small synchronous write shared with the
//! calls that arrived with it, instead of a database commit.
//!
//! The journal itself — segment files in `<data-dir>/audit-journal/`, frames, checksums,
//! direct synchronous writes, replay after a crash, recycling — is the store's journal engine
//! (`kmsnap_store::journal`; crates/store/FORMAT.md, "Journals"). This module is what is
//! audit's about it: the payload of a frame (a filed event: its time, account, Region and
//! canonical JSON), moving what a previous run left in the journal into the hash-chained log
//! ([`recover`], [`open`]), and the tuning of the threads that drive it (`writer.rs`).

use crate::error::AuditError;
use crate::log::{append_filed, journal_moved, set_journal_moved, Filed, Layout};
use kmsnap_store::journal::{DirIo, Entry, Journal, JournalIo, SegmentConfig};
use kmsnap_store::{MetaStore, StoreError};
use std::path::Path;
use std::sync::Arc;

pub use kmsnap_store::journal::JOURNAL_FORMAT;

/// The journal directory inside a data directory.
pub const JOURNAL_DIR: &str = "audit-journal";

/// Version byte at the start of every frame payload.
const PAYLOAD_VERSION: u8 = 1;
/// Records per transaction when recovery moves journal records into the log.
const RECOVER_CHUNK: usize = 4096;

/// A failure of the journal's files.
pub(crate) fn journal_error(e: StoreError) -> AuditError {
    match e {
        StoreError::Encode { detail } => AuditError::Encode { detail },
        e => AuditError::Journal {
            detail: e.to_string(),
        },
    }
}

fn payload_len(rec: &Filed) -> usize {
    1 + 8 + 2 + rec.account.len() + 2 + rec.region.len() + rec.event.len()
}

/// The payload of a frame: version byte, `time_ms` (i64), account and Region (each a u16
/// length and UTF-8), then the canonical event JSON (the exact bytes the log hashes).
impl Entry for Filed {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let too_long = || StoreError::Encode {
            detail: "audit record too large for the journal".into(),
        };
        let account = u16::try_from(self.account.len()).map_err(|_| too_long())?;
        let region = u16::try_from(self.region.len()).map_err(|_| too_long())?;
        out.push(PAYLOAD_VERSION);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(&account.to_be_bytes());
        out.extend_from_slice(self.account.as_bytes());
        out.extend_from_slice(&region.to_be_bytes());
        out.extend_from_slice(self.region.as_bytes());
        out.extend_from_slice(self.event.as_bytes());
        Ok(())
    }
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)?
        .try_into()
        .ok()
        .map(u16::from_be_bytes)
}

/// A frame payload back as the record it carries; `None` (which ends the journal's segment)
/// for anything else.
pub(crate) fn decode_payload(payload: &[u8]) -> Option<Filed> {
    if *payload.first()? != PAYLOAD_VERSION {
        return None;
    }
    let time_ms = i64::from_be_bytes(payload.get(1..9)?.try_into().ok()?);
    let alen = usize::from(be_u16(payload, 9)?);
    let account = payload.get(11..11 + alen)?;
    let rlen = usize::from(be_u16(payload, 11 + alen)?);
    let region = payload.get(13 + alen..13 + alen + rlen)?;
    let event = payload.get(13 + alen + rlen..)?;
    Some(Filed {
        account: String::from_utf8(account.to_vec()).ok()?,
        region: String::from_utf8(region.to_vec()).ok()?,
        time_ms,
        event: String::from_utf8(event.to_vec()).ok()?,
    })
}

/// Whether `rec` can go into the journal at all (its frame fits a frame and a segment). Checked
/// when a call submits it, so that a record too large fails its own call and nothing else.
pub(crate) fn fits(rec: &Filed, segment_bytes: u64) -> bool {
    rec.account.len() <= usize::from(u16::MAX)
        && rec.region.len() <= usize::from(u16::MAX)
        && kmsnap_store::journal::fits(payload_len(rec), segment_bytes)
}

/// Moves `records` (jseq order) into the log, in transactions of at most [`RECOVER_CHUNK`],
/// each recording the journal position it reaches.
fn move_records(store: &dyn MetaStore, records: &[(u64, Filed)]) -> Result<(), AuditError> {
    for chunk in records.chunks(RECOVER_CHUNK) {
        let Some(&(last, _)) = chunk.last() else {
            continue;
        };
        kmsnap_store::transact(store, |txn| {
            append_filed(txn, chunk.iter().map(|(_, r)| r), Layout::Packed)?;
            set_journal_moved(txn, last)?;
            Ok::<(), AuditError>(())
        })?;
    }
    Ok(())
}

/// Moves every journal record of `dir` that is not yet in the log into it (the offline CLI:
/// `audit verify`/`export` see every acknowledged call). Leaves the journal files alone; the
/// next server start finds them already moved. Returns how many records it moved. A missing
/// directory is an empty journal.
pub fn recover(store: &dyn MetaStore, dir: &Path) -> Result<u64, AuditError> {
    recover_in(store, Arc::new(DirIo::new(dir)))
}

pub(crate) fn recover_in(store: &dyn MetaStore, io: Arc<dyn JournalIo>) -> Result<u64, AuditError> {
    let moved = journal_moved(&*store.read()?)?;
    let records =
        kmsnap_store::journal::replay(io, moved, decode_payload).map_err(journal_error)?;
    move_records(store, &records)?;
    Ok(records.len() as u64)
}

/// Opens the journal in `io` for writing: moves every record not yet in the log into it
/// (startup recovery), then lets the journal recycle its old segments and start a new one far
/// above everything read. Returns the journal and the jseq below its first record (the
/// position the log is now at).
pub(crate) fn open(
    store: &dyn MetaStore,
    io: Arc<dyn JournalIo>,
    config: &JournalConfig,
) -> Result<(Journal, u64), AuditError> {
    let moved = journal_moved(&*store.read()?)?;
    let found = Journal::recover(io, moved, decode_payload).map_err(journal_error)?;
    move_records(store, found.records())?;
    found.start(&config.segments()).map_err(journal_error)
}

/// Tuning of the journal.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Size of a segment file (rounded up to a multiple of 4 KiB, at least 64 KiB).
    pub segment_bytes: u64,
    /// Moved segments kept as spares (the rest are deleted).
    pub spare_segments: usize,
    /// Most events in one journal write.
    pub max_batch: usize,
    /// Journal writes in flight at once (writer threads). Each takes everything queued when it
    /// starts; batches are acknowledged in jseq order. More than one overlaps the device
    /// flushes, but makes groups smaller, and each write costs ~30 µs of CPU in the kernel on
    /// the project's 2-core VM: there 2, 3 and 4 writers all gave *less* throughput than one
    /// (kms_bench, 8 connections), so the default is 1.
    pub writers: usize,
    /// How long the mover lets records gather before one log transaction (a flush — a
    /// LookupEvents — cuts it short). Longer means fewer commits but longer bursts of CPU
    /// (~10 µs per record in redb) that delay requests: 100 ms put p99 over 5 ms under load.
    pub move_linger: std::time::Duration,
    /// Most records in one log transaction.
    pub max_move: usize,
    /// Acknowledged records that may wait for the mover before the journal stops accepting
    /// more (they are held in memory too).
    pub max_pending: usize,
    /// The longest a journal writer lets a batch gather before writing it. It lingers only
    /// while the submitters queue for the CPU (their tasks resume late after being answered),
    /// for half of that delay up to this; otherwise a batch is written as soon as the device is
    /// free (see `Pace` in `writer.rs`). Zero never lingers.
    pub max_linger: std::time::Duration,
    /// Tests only: the mover never moves, not even when the writer is dropped, as if the
    /// process died right after the journal sync.
    #[doc(hidden)]
    pub hold_mover: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 16 << 20,
            spare_segments: 2,
            max_batch: 1024,
            writers: 1,
            move_linger: std::time::Duration::from_millis(25),
            max_move: 16_384,
            max_pending: 65_536,
            max_linger: std::time::Duration::from_micros(500),
            hold_mover: false,
        }
    }
}

impl JournalConfig {
    /// The store journal's part of it.
    pub(crate) fn segments(&self) -> SegmentConfig {
        SegmentConfig {
            segment_bytes: self.segment_bytes,
            spare_segments: self.spare_segments,
        }
    }
}

#[cfg(test)]
mod tests;
