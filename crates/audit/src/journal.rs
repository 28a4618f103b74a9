//! The audit journal: where the embedded store's audit records become durable before their
//! calls are answered, so that a crypto call costs a small synchronous write shared with the
//! calls that arrived with it, instead of a database commit.
//!
//! `<data-dir>/audit-journal/` holds segment files `NNNNNNNNNNNNNNNNNNNN.seg` (20-digit segment
//! number) of a fixed size, plus `spare-N` files ready to become the next segment (written in
//! full once, so writes into them never allocate and their sync flushes data only). A segment
//! starts with a 4 KiB header block naming its number and the journal sequence number (`jseq`)
//! of its first record; then come batches, each starting on a 4 KiB boundary and holding
//! records back to back, each framed with its length, its jseq and a checksum over all three
//! (crates/store/FORMAT.md has the byte layout). jseqs grow by one per record and are never
//! reused.
//!
//! Batches are written concurrently (each a direct, synchronous write of whole blocks, so no
//! two writes share a block) and acknowledged in jseq order: a batch is answered once it and
//! every batch before it are on stable storage. Reading a segment follows the jseqs: after a
//! record, the next one is right behind it or, past a batch's zero padding, at the next 4 KiB
//! boundary; the first frame that is not the next record (a zero or out-of-range length, the
//! wrong jseq — stale content of a recycled file, whose jseqs are all older — or a checksum
//! mismatch from a torn write) ends the segment. Only batches whose calls were never answered
//! can be torn, so stopping there loses nothing acknowledged. After a restart the writer never
//! appends to an old segment: it starts a new one with jseqs far above everything read, so
//! nothing left of a torn batch can ever pass for a later record.
//!
//! This module is the files: [`recover`] (move every record not yet in the log into it, for
//! the server's start and the offline CLI), and [`Segments`], the writer's side (reserve room
//! and jseqs for a batch, switch segments, recycle moved ones). The threads that drive it are
//! in `writer.rs`.

use crate::error::AuditError;
use crate::log::{append_filed, journal_moved, set_journal_moved, Filed, Layout};
use kmsnap_store::MetaStore;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The journal directory inside a data directory.
pub const JOURNAL_DIR: &str = "audit-journal";

const MAGIC: &[u8; 8] = b"KMSAJRNL";
/// Version of the segment and frame layout.
pub const JOURNAL_FORMAT: u32 = 1;
/// Bytes of the segment header (in a block of its own).
const HEADER_LEN: usize = 64;
/// Every write covers whole blocks of this size, at offsets that are multiples of it (also
/// O_DIRECT's alignment of buffer address, offset and length on every common device).
const ALIGN: usize = 4096;
/// `len u32 ‖ jseq u64 ‖ checksum [8]`.
const FRAME_HEADER: usize = 20;
/// Version byte at the start of every frame payload.
const PAYLOAD_VERSION: u8 = 1;
/// Largest payload accepted in a frame (an event is a few KiB at most).
const MAX_PAYLOAD: usize = 1 << 20;
const SEGMENT_EXT: &str = ".seg";
const SPARE_PREFIX: &str = "spare-";
/// Records per transaction when recovery moves journal records into the log.
const RECOVER_CHUNK: usize = 4096;
const ZERO_CHUNK: usize = 1 << 20;
/// How far a restart moves jseqs past the highest one read: more than any batch holds, so
/// every jseq of the batch a crash tore (never readable, possibly partly on disk) stays below
/// the new segment's first and can never be mistaken for one of its records.
const RESTART_GAP: u64 = 1 << 32;

fn io(op: &'static str, path: &Path, e: std::io::Error) -> AuditError {
    AuditError::Journal {
        detail: format!("{op} {}: {e}", path.display()),
    }
}

fn checksum(parts: &[&[u8]]) -> [u8; 8] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d.as_ref()[..8]);
    out
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes)
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)?.try_into().ok().map(u64::from_be_bytes)
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)?.try_into().ok().map(u16::from_be_bytes)
}

/// The header of segment `number` whose first record is `first_jseq`.
fn encode_header(number: u64, first_jseq: u64, segment_bytes: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&JOURNAL_FORMAT.to_be_bytes());
    h[16..24].copy_from_slice(&number.to_be_bytes());
    h[24..32].copy_from_slice(&first_jseq.to_be_bytes());
    h[32..40].copy_from_slice(&segment_bytes.to_be_bytes());
    let sum = checksum(&[&h[..56]]);
    h[56..].copy_from_slice(&sum);
    h
}

/// `(number, first_jseq)` of a valid header.
fn decode_header(b: &[u8]) -> Option<(u64, u64)> {
    let h = b.get(..HEADER_LEN)?;
    if &h[..8] != MAGIC || be_u32(h, 8)? != JOURNAL_FORMAT || checksum(&[&h[..56]]) != h[56..] {
        return None;
    }
    Some((be_u64(h, 16)?, be_u64(h, 24)?))
}

/// Whether `rec` can go into the journal at all (its frame fits a frame and a segment). Checked
/// when a call submits it, so that a record too large fails its own call and nothing else.
pub(crate) fn fits(rec: &Filed, segment_bytes: u64) -> bool {
    let payload = 1 + 8 + 2 + rec.account.len() + 2 + rec.region.len() + rec.event.len();
    let capacity = usize::try_from(segment_bytes).unwrap_or(usize::MAX) - ALIGN;
    payload <= MAX_PAYLOAD
        && rec.account.len() <= usize::from(u16::MAX)
        && rec.region.len() <= usize::from(u16::MAX)
        && align_up(FRAME_HEADER + payload) <= capacity
}

/// Appends the frame of `rec` with sequence number `jseq` to `out`.
fn encode_frame(jseq: u64, rec: &Filed, out: &mut Vec<u8>) -> Result<(), AuditError> {
    let too_long = || AuditError::Encode {
        detail: "audit record too large for the journal".into(),
    };
    let account = u16::try_from(rec.account.len()).map_err(|_| too_long())?;
    let region = u16::try_from(rec.region.len()).map_err(|_| too_long())?;
    let payload_len = 1 + 8 + 2 + rec.account.len() + 2 + rec.region.len() + rec.event.len();
    if payload_len > MAX_PAYLOAD {
        return Err(too_long());
    }
    let len = u32::try_from(payload_len).map_err(|_| too_long())?;
    let start = out.len();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&jseq.to_be_bytes());
    out.extend_from_slice(&[0u8; 8]);
    let payload = out.len();
    out.push(PAYLOAD_VERSION);
    out.extend_from_slice(&rec.time_ms.to_be_bytes());
    out.extend_from_slice(&account.to_be_bytes());
    out.extend_from_slice(rec.account.as_bytes());
    out.extend_from_slice(&region.to_be_bytes());
    out.extend_from_slice(rec.region.as_bytes());
    out.extend_from_slice(rec.event.as_bytes());
    let sum = checksum(&[&out[start..start + 12], &out[payload..]]);
    out[start + 12..start + 20].copy_from_slice(&sum);
    Ok(())
}

fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Record `jseq` at `at`, or (when `at` is inside a block, i.e. in a batch's padding) at the
/// next block boundary: the record and the offset after it.
fn next_frame(b: &[u8], at: usize, jseq: u64) -> Option<(Filed, usize)> {
    decode_frame(b, at, jseq).or_else(|| {
        let boundary = align_up(at);
        (boundary != at)
            .then(|| decode_frame(b, boundary, jseq))
            .flatten()
    })
}

/// The frame at `at` if it is record `jseq`: the record and the offset after it.
fn decode_frame(b: &[u8], at: usize, jseq: u64) -> Option<(Filed, usize)> {
    let len = usize::try_from(be_u32(b, at)?).ok()?;
    if len == 0 || len > MAX_PAYLOAD || be_u64(b, at + 4)? != jseq {
        return None;
    }
    let payload = b.get(at + FRAME_HEADER..at + FRAME_HEADER + len)?;
    if checksum(&[&b[at..at + 12], payload]) != b[at + 12..at + 20] {
        return None;
    }
    if *payload.first()? != PAYLOAD_VERSION {
        return None;
    }
    let time_ms = i64::from_be_bytes(payload.get(1..9)?.try_into().ok()?);
    let alen = usize::from(be_u16(payload, 9)?);
    let account = payload.get(11..11 + alen)?;
    let rlen = usize::from(be_u16(payload, 11 + alen)?);
    let region = payload.get(13 + alen..13 + alen + rlen)?;
    let event = payload.get(13 + alen + rlen..)?;
    let rec = Filed {
        account: String::from_utf8(account.to_vec()).ok()?,
        region: String::from_utf8(region.to_vec()).ok()?,
        time_ms,
        event: String::from_utf8(event.to_vec()).ok()?,
    };
    Some((rec, at + FRAME_HEADER + len))
}

fn segment_name(number: u64) -> String {
    format!("{number:020}{SEGMENT_EXT}")
}

fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What one segment file holds.
#[derive(Debug)]
struct SegmentScan {
    path: PathBuf,
    /// From its header; `None` when the header is invalid (a segment whose creation never
    /// finished: it holds nothing acknowledged).
    first_jseq: Option<u64>,
    /// jseq of its last readable record.
    last_jseq: Option<u64>,
}

/// Everything readable in a journal directory.
#[derive(Debug, Default)]
struct Scan {
    segments: Vec<SegmentScan>,
    spares: Vec<PathBuf>,
    /// Records after the moved position, in jseq order.
    records: Vec<(u64, Filed)>,
    /// The highest jseq anywhere (records or headers).
    max_jseq: u64,
    max_number: u64,
}

/// Reads every segment of `dir` in number order, keeping records with jseq > `after`.
fn scan(dir: &Path, after: u64) -> Result<Scan, AuditError> {
    let mut out = Scan::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("list", dir, e)),
    };
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = segment_number(name) {
            numbered.push((n, entry.path()));
        } else if name.starts_with(SPARE_PREFIX) {
            out.spares.push(entry.path());
        }
    }
    numbered.sort();
    let mut last: u64 = 0;
    for (number, path) in numbered {
        out.max_number = out.max_number.max(number);
        let bytes = std::fs::read(&path).map_err(|e| io("read", &path, e))?;
        let mut seg = SegmentScan {
            path,
            first_jseq: None,
            last_jseq: None,
        };
        let header = decode_header(&bytes).filter(|&(n, _)| n == number);
        if let Some((_, first)) = header {
            seg.first_jseq = Some(first);
            out.max_jseq = out.max_jseq.max(first.saturating_sub(1));
            // A later segment starts above everything before it (gaps are fine: a restart or
            // a reset skips numbers); anything else is not a continuation.
            if first > last {
                let mut at = ALIGN;
                let mut jseq = first;
                while let Some((rec, next)) = next_frame(&bytes, at, jseq) {
                    if jseq > after {
                        out.records.push((jseq, rec));
                    }
                    seg.last_jseq = Some(jseq);
                    last = jseq;
                    out.max_jseq = out.max_jseq.max(jseq);
                    at = next;
                    jseq += 1;
                }
            }
        }
        out.segments.push(seg);
    }
    Ok(out)
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
    let moved = journal_moved(&*store.read()?)?;
    let scan = scan(dir, moved)?;
    move_records(store, &scan.records)?;
    Ok(scan.records.len() as u64)
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
    fn segment_len(&self) -> u64 {
        (self.segment_bytes.max(64 << 10)).div_ceil(ALIGN as u64) * ALIGN as u64
    }
}

/// A segment file open for writing. Where the file system allows it, writes bypass the page
/// cache (O_DIRECT) and are durable when they return (O_DSYNC): one system call per write, no
/// writeback, less latency than `write` + `fdatasync` on this project's VM, and concurrent
/// writes overlap their device flushes. Elsewhere (tmpfs, other systems) it is `write` +
/// `fdatasync`. Every write is whole 4 KiB blocks from an aligned buffer either way.
pub(crate) struct SegmentFile {
    file: File,
    path: PathBuf,
    direct: bool,
}

impl SegmentFile {
    fn open(path: &Path) -> Result<SegmentFile, AuditError> {
        if let Some(file) = direct::open(path).map_err(|e| io("open", path, e))? {
            return Ok(SegmentFile {
                file,
                path: path.to_path_buf(),
                direct: true,
            });
        }
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io("open", path, e))?;
        Ok(SegmentFile {
            file,
            path: path.to_path_buf(),
            direct: false,
        })
    }

    /// Writes `blocks` (whole, aligned blocks) at `offset` and returns once they are on stable
    /// storage.
    fn write_durable(&self, offset: u64, blocks: &[u8]) -> Result<(), AuditError> {
        self.file
            .write_all_at(blocks, offset)
            .map_err(|e| io("write", &self.path, e))?;
        if !self.direct {
            self.file
                .sync_data()
                .map_err(|e| io("sync", &self.path, e))?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod direct {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    /// `path` opened for direct, synchronous writes; `None` where the file system refuses
    /// O_DIRECT.
    pub(super) fn open(path: &Path) -> io::Result<Option<File>> {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(path)
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod direct {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    pub(super) fn open(_: &Path) -> io::Result<Option<File>> {
        Ok(None)
    }
}

/// A writer thread's buffers: the frames of its batch, and where they go.
#[derive(Default)]
pub(crate) struct BatchBuf {
    frames: Vec<u8>,
    /// `(file, offset, frames range)` per write (one unless the batch crosses segments).
    chunks: Vec<(Arc<SegmentFile>, u64, std::ops::Range<usize>)>,
    /// Backing store of the aligned write buffer.
    aligned: Vec<u8>,
}

impl BatchBuf {
    /// Writes the reserved chunks, each padded with zeros to whole blocks; returns once all
    /// are on stable storage.
    pub(crate) fn write(&mut self) -> Result<(), AuditError> {
        for (file, offset, range) in &self.chunks {
            let len = align_up(range.len());
            if self.aligned.len() < len + ALIGN {
                self.aligned.resize(len + ALIGN, 0);
            }
            let at = self.aligned.as_ptr().align_offset(ALIGN);
            let buf = self
                .aligned
                .get_mut(at..at + len)
                .ok_or_else(|| AuditError::Journal {
                    detail: "journal write buffer".into(),
                })?;
            let frames = self.frames.get(range.clone()).unwrap_or_default();
            buf[..frames.len()].copy_from_slice(frames);
            buf[frames.len()..].fill(0);
            file.write_durable(*offset, buf)?;
        }
        Ok(())
    }
}

/// What [`Segments::reserve`] hands out: the batch's place in acknowledgement order and its
/// last jseq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserved {
    pub batch: u64,
    pub last_jseq: u64,
}

/// The segment batches go into.
struct Active {
    file: Arc<SegmentFile>,
    /// Where the next batch goes (a block boundary).
    offset: u64,
}

/// A segment the writer has left: recyclable once the log holds its last record.
struct Sealed {
    path: PathBuf,
    last_jseq: u64,
}

/// The writer's side of the journal directory, behind the journal lock: hands out jseqs and
/// room to batches, switches and recycles segments. The writes themselves happen outside the
/// lock.
pub(crate) struct Segments {
    dir: PathBuf,
    segment_bytes: u64,
    active: Option<Active>,
    sealed: Vec<Sealed>,
    /// Ready-to-use files (any content: a new segment's header makes it all stale).
    spares: Vec<PathBuf>,
    spare_target: usize,
    next_number: u64,
    next_spare: u64,
    /// jseq of the next record.
    next_jseq: u64,
    /// Number of the next batch (acknowledgement order).
    next_batch: u64,
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync", dir, e))
}

impl Segments {
    /// Opens the journal in `dir` (creating it): moves every record not yet in the log into it
    /// (startup recovery), recycles the old segments, and starts a new segment far above
    /// everything read. Returns the journal and the jseq below its first record (the position
    /// the log is now at).
    pub(crate) fn open(
        store: &dyn MetaStore,
        dir: &Path,
        config: &JournalConfig,
    ) -> Result<(Segments, u64), AuditError> {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let moved = journal_moved(&*store.read()?)?;
        let found = scan(dir, moved)?;
        move_records(store, &found.records)?;
        let mut journal = Segments {
            dir: dir.to_path_buf(),
            segment_bytes: config.segment_len(),
            active: None,
            sealed: Vec::new(),
            spares: Vec::new(),
            spare_target: config.spare_segments,
            next_number: found.max_number + 1,
            next_spare: 0,
            next_jseq: found.max_jseq.max(moved) + RESTART_GAP,
            next_batch: 0,
        };
        // Everything is in the log now: old segments become spares or go.
        for path in found.spares {
            journal.offer_spare(path)?;
        }
        for seg in found.segments {
            journal.offer_spare(seg.path)?;
        }
        journal.switch()?;
        let at = journal.next_jseq - 1;
        Ok((journal, at))
    }

    /// Keeps `path` as a spare (renamed `spare-N`) if one is wanted and it has the segment
    /// size, else deletes it. Renaming needs no sync: a moved segment that reappears after a
    /// crash holds only records the log already has.
    fn offer_spare(&mut self, path: PathBuf) -> Result<(), AuditError> {
        let right_size = std::fs::metadata(&path).is_ok_and(|m| m.len() == self.segment_bytes);
        if right_size && self.spares.len() < self.spare_target {
            let is_spare = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SPARE_PREFIX));
            let target = if is_spare {
                path
            } else {
                let t = self.spare_path();
                std::fs::rename(&path, &t).map_err(|e| io("rename", &path, e))?;
                t
            };
            self.spares.push(target);
            return Ok(());
        }
        std::fs::remove_file(&path).map_err(|e| io("remove", &path, e))
    }

    fn spare_path(&mut self) -> PathBuf {
        loop {
            self.next_spare += 1;
            let p = self
                .dir
                .join(format!("{SPARE_PREFIX}{:020}", self.next_spare));
            if !p.exists() {
                return p;
            }
        }
    }

    /// Leaves the active segment (sealed) and starts segment `next_number` at `next_jseq`:
    /// a spare (or a new file of the full size, sparse), with its header block synced and its
    /// name in the directory synced before any batch is written to it.
    fn switch(&mut self) -> Result<(), AuditError> {
        if let Some(a) = self.active.take() {
            self.sealed.push(Sealed {
                path: a.file.path.clone(),
                last_jseq: self.next_jseq - 1,
            });
        }
        let number = self.next_number;
        self.next_number += 1;
        let path = self.dir.join(segment_name(number));
        match self.spares.pop() {
            Some(spare) => {
                std::fs::rename(&spare, &path).map_err(|e| io("rename", &spare, e))?;
            }
            None => {
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| io("create", &path, e))?;
                f.set_len(self.segment_bytes)
                    .map_err(|e| io("size", &path, e))?;
                f.sync_all().map_err(|e| io("sync", &path, e))?;
            }
        }
        let file = Arc::new(SegmentFile::open(&path)?);
        let mut block = BatchBuf::default();
        block
            .frames
            .extend_from_slice(&encode_header(number, self.next_jseq, self.segment_bytes));
        block.chunks.push((file.clone(), 0, 0..HEADER_LEN));
        block.write()?;
        sync_dir(&self.dir)?;
        self.active = Some(Active {
            file,
            offset: ALIGN as u64,
        });
        Ok(())
    }

    /// Gives `records` the next jseqs and the next batch number, encodes their frames into
    /// `buf` and reserves their room (switching segments when the active one is full), so
    /// that [`BatchBuf::write`] can run outside the journal lock.
    pub(crate) fn reserve(
        &mut self,
        records: &[Filed],
        buf: &mut BatchBuf,
    ) -> Result<Reserved, AuditError> {
        buf.frames.clear();
        buf.chunks.clear();
        let capacity = usize::try_from(self.segment_bytes).unwrap_or(usize::MAX) - ALIGN;
        let mut jseq = self.next_jseq;
        let mut chunk_start = 0;
        for rec in records {
            let before = buf.frames.len();
            encode_frame(jseq, rec, &mut buf.frames)?;
            if align_up(buf.frames.len() - before) > capacity {
                return Err(AuditError::Encode {
                    detail: "audit record larger than a journal segment".into(),
                });
            }
            if align_up(buf.frames.len() - chunk_start) as u64 > self.room() {
                // What fits goes into this segment; this record starts the next one.
                self.take_chunk(buf, chunk_start..before);
                self.next_jseq = jseq;
                self.switch()?;
                chunk_start = before;
            }
            jseq += 1;
        }
        let end = buf.frames.len();
        self.take_chunk(buf, chunk_start..end);
        self.next_jseq = jseq;
        let batch = self.next_batch;
        self.next_batch += 1;
        Ok(Reserved {
            batch,
            last_jseq: jseq - 1,
        })
    }

    fn room(&self) -> u64 {
        self.active
            .as_ref()
            .map_or(0, |a| self.segment_bytes - a.offset)
    }

    fn take_chunk(&mut self, buf: &mut BatchBuf, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        if let Some(a) = self.active.as_mut() {
            let len = align_up(range.len()) as u64;
            buf.chunks.push((a.file.clone(), a.offset, range));
            a.offset += len;
        }
    }

    /// Batches reserved so far.
    pub(crate) fn batches(&self) -> u64 {
        self.next_batch
    }

    /// [`Segments::reserve`] and the write, on this thread (tests).
    #[cfg(test)]
    pub(crate) fn append(&mut self, records: &[Filed]) -> Result<u64, AuditError> {
        let mut buf = BatchBuf::default();
        let r = self.reserve(records, &mut buf)?;
        buf.write()?;
        Ok(r.last_jseq)
    }

    /// Removes and returns the sealed segments whose records are all in the log (jseq ≤
    /// `moved`), for recycling outside the journal lock.
    pub(crate) fn take_moved(&mut self, moved: u64) -> Vec<PathBuf> {
        let (done, keep): (Vec<_>, Vec<_>) =
            self.sealed.drain(..).partition(|s| s.last_jseq <= moved);
        self.sealed = keep;
        done.into_iter().map(|s| s.path).collect()
    }

    /// A fresh name for a spare, if one is wanted: to recycle a moved segment (`recycling`),
    /// or to write a new one once the active segment is half full (an idle journal keeps no
    /// spare, and its one sparse segment takes no room on disk).
    pub(crate) fn spare_wanted(&mut self, recycling: bool) -> Option<PathBuf> {
        let busy = self
            .active
            .as_ref()
            .is_some_and(|a| a.offset > self.segment_bytes / 2);
        (self.spares.len() < self.spare_target && (recycling || busy)).then(|| self.spare_path())
    }

    pub(crate) fn add_spare(&mut self, path: PathBuf) {
        self.spares.push(path);
    }

    pub(crate) fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Dev-mode reset (no write in flight): deletes every segment (what they hold is being
    /// wiped) and starts a new one; jseqs keep growing.
    pub(crate) fn discard(&mut self) -> Result<(), AuditError> {
        let mut doomed: Vec<PathBuf> = self.sealed.drain(..).map(|s| s.path).collect();
        if let Some(a) = self.active.take() {
            doomed.push(a.file.path.clone());
        }
        for p in doomed {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &p, e)),
            }
        }
        sync_dir(&self.dir)?;
        self.switch()
    }

    /// The active segment's file and where its next batch goes.
    #[cfg(test)]
    pub(crate) fn active_position(&self) -> Option<(PathBuf, u64)> {
        self.active
            .as_ref()
            .map(|a| (a.file.path.clone(), a.offset))
    }
}

/// Gets a moved segment or a new file ready as a spare at `spare` (outside the journal lock):
/// a moved segment is renamed; a new one is written with zeros in full and synced, so that
/// writes into it never allocate.
pub(crate) fn prepare_spare(
    moved: Option<PathBuf>,
    spare: &Path,
    segment_bytes: u64,
) -> Result<(), AuditError> {
    if let Some(old) = moved {
        return std::fs::rename(&old, spare).map_err(|e| io("rename", &old, e));
    }
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(spare)
        .map_err(|e| io("create", spare, e))?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut at = 0u64;
    while at < segment_bytes {
        let n = (segment_bytes - at).min(ZERO_CHUNK as u64);
        let n_usize = usize::try_from(n).unwrap_or(ZERO_CHUNK);
        f.write_all_at(&zeros[..n_usize], at)
            .map_err(|e| io("write", spare, e))?;
        at += n;
    }
    f.sync_all().map_err(|e| io("sync", spare, e))
}

#[cfg(test)]
mod tests;
