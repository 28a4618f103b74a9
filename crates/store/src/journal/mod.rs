//! A journal: an append-only sequence of opaque records in segment files, where a batch of
//! records is durable before it is acknowledged, so that a caller's answer costs one small
//! synchronous write shared with the records that arrived with it, instead of a database
//! commit. The audit crate keeps the records of crypto calls here until it has moved them into
//! its log (crates/audit/src/writer.rs).
//!
//! A journal directory holds segment files `NNNNNNNNNNNNNNNNNNNN.seg` (20-digit segment
//! number) of a fixed size, plus `spare-N` files ready to become the next segment (written in
//! full once, so writes into them never allocate and their sync flushes data only). A segment
//! starts with a 4 KiB header block naming its number and the journal sequence number (`jseq`)
//! of its first record; then come batches, each starting on a 4 KiB boundary and holding
//! records back to back, each framed with its length, its jseq and a checksum over all three
//! (crates/store/FORMAT.md, "Journals", has the byte layout). jseqs grow by one per record and
//! are never reused.
//!
//! Batches may be written concurrently (each a direct, synchronous write of whole blocks, so no
//! two writes share a block) and are acknowledged in jseq order ([`AckOrder`]): a batch is
//! answered once it and every batch before it are on stable storage. Reading a segment follows
//! the jseqs: after a record, the next one is right behind it or, past a batch's zero padding,
//! at the next 4 KiB boundary; the first frame that is not the next record (a zero or
//! out-of-range length, the wrong jseq — stale content of a recycled file, whose jseqs are all
//! older — a checksum mismatch from a torn write, or a payload the caller's decoder refuses)
//! ends the segment. Only batches never acknowledged can be torn, so stopping there loses
//! nothing acknowledged. After a restart the journal never appends to an old segment: it
//! starts a new one with jseqs far above everything read, so nothing left of a torn batch can
//! ever pass for a later record.
//!
//! The life of a journal:
//! 1. [`Journal::recover`] reads every record after the position the caller has already kept
//!    elsewhere (its records, in jseq order: replay). [`replay`] does only that (offline tools).
//! 2. Once the caller has kept those records durably, [`Recovered::start`] recycles the old
//!    segments and starts a new one.
//! 3. [`Journal::reserve`] gives a batch its jseqs and its room (under the caller's lock, brief);
//!    [`Batch::write`] writes it durably (outside the lock, concurrently with other batches);
//!    [`AckOrder`] releases the acknowledgements in jseq order.
//! 4. [`Journal::retire`] hands back the segments whose records are all kept elsewhere, and
//!    [`Retire::run`] turns them into spares or removes them (outside the lock).
//!
//! The files are reached through [`JournalIo`] ([`DirIo`] on disk), so that crash tests run
//! the journal over the store's fault-injecting directory (`fault::FaultDir`, which implements
//! [`JournalIo`]), which loses or tears unsynced writes.

mod ack;
mod files;
mod format;

pub use ack::AckOrder;
pub use files::{DirIo, JournalFile, JournalIo};
/// Appends the frame of a record to a buffer (tests that forge what a torn write leaves).
#[doc(hidden)]
pub use format::encode_frame;
pub use format::{fits, JOURNAL_FORMAT, MAX_PAYLOAD};

use crate::direct::{self, align_up, ALIGN};
use crate::error::StoreError;
use format::{decode_header, encode_header, next_frame, HEADER_LEN};
use std::io;
use std::sync::Arc;

/// A record as the journal stores it: its payload bytes, which the journal frames and checks
/// but does not interpret (the caller's decoder does, on replay).
pub trait Entry {
    /// Appends the payload (1 ..= [`MAX_PAYLOAD`] bytes) to `out`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), StoreError>;
}

impl Entry for [u8] {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        out.extend_from_slice(self);
        Ok(())
    }
}

impl Entry for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        out.extend_from_slice(self);
        Ok(())
    }
}

const SEGMENT_EXT: &str = ".seg";
const SPARE_PREFIX: &str = "spare-";
/// How far a restart moves jseqs past the highest one read: more than any batch holds, so
/// every jseq of the batch a crash tore (never readable, possibly partly on disk) stays below
/// the new segment's first and can never be mistaken for one of its records.
const RESTART_GAP: u64 = 1 << 32;

fn failed(op: &'static str, e: io::Error) -> StoreError {
    StoreError::Io { op, source: e }
}

/// Size and recycling of segments.
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// Size of a segment file (rounded up to a multiple of 4 KiB, at least 64 KiB).
    pub segment_bytes: u64,
    /// Retired segments kept as spares (the rest are removed).
    pub spare_segments: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            segment_bytes: 16 << 20,
            spare_segments: 2,
        }
    }
}

impl SegmentConfig {
    /// The segment size used: rounded up to whole blocks, at least 64 KiB.
    pub fn segment_len(&self) -> u64 {
        (self.segment_bytes.max(64 << 10)).div_ceil(ALIGN as u64) * ALIGN as u64
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub name: String,
    /// From its header; `None` when the header is invalid (a segment whose creation never
    /// finished: it holds nothing acknowledged).
    pub first_jseq: Option<u64>,
    /// jseq of its last readable record.
    pub last_jseq: Option<u64>,
    /// The offset right after its last readable record (the header block's end if none).
    pub end: usize,
}

/// Everything readable in a journal directory, before the journal starts writing again.
#[derive(Debug)]
pub struct Recovered<T> {
    io: Arc<dyn JournalIo>,
    after: u64,
    /// Records after the position given to [`Journal::recover`], in jseq order.
    records: Vec<(u64, T)>,
    segments: Vec<SegmentInfo>,
    spares: Vec<String>,
    /// The highest jseq anywhere (records or headers).
    max_jseq: u64,
    max_number: u64,
}

/// Reads every segment in number order, keeping the records with jseq > `after`.
fn scan<T>(
    io: Arc<dyn JournalIo>,
    after: u64,
    mut decode: impl FnMut(&[u8]) -> Option<T>,
) -> Result<Recovered<T>, StoreError> {
    let mut out = Recovered {
        io,
        after,
        records: Vec::new(),
        segments: Vec::new(),
        spares: Vec::new(),
        max_jseq: 0,
        max_number: 0,
    };
    let mut numbered = Vec::new();
    for name in out.io.list().map_err(|e| failed("list journal", e))? {
        if let Some(n) = segment_number(&name) {
            numbered.push((n, name));
        } else if name.starts_with(SPARE_PREFIX) {
            out.spares.push(name);
        }
    }
    numbered.sort();
    let mut last: u64 = 0;
    for (number, name) in numbered {
        out.max_number = out.max_number.max(number);
        let bytes = out
            .io
            .read(&name)
            .map_err(|e| failed("read journal segment", e))?;
        let mut seg = SegmentInfo {
            name,
            first_jseq: None,
            last_jseq: None,
            end: ALIGN,
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
                while let Some((rec, next)) = next_frame(&bytes, at, jseq, &mut decode) {
                    if jseq > after {
                        out.records.push((jseq, rec));
                    }
                    seg.last_jseq = Some(jseq);
                    seg.end = next;
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

/// The records of the journal in `io` after jseq `after`, in jseq order, each decoded by
/// `decode` (a payload it refuses ends its segment, like a bad checksum). Reads only; a
/// missing directory is an empty journal.
pub fn replay<T>(
    io: Arc<dyn JournalIo>,
    after: u64,
    decode: impl FnMut(&[u8]) -> Option<T>,
) -> Result<Vec<(u64, T)>, StoreError> {
    Ok(scan(io, after, decode)?.records)
}

impl<T> Recovered<T> {
    /// The records after the recovery position, in jseq order.
    pub fn records(&self) -> &[(u64, T)] {
        &self.records
    }

    /// The segments found, in number order (tests and tools).
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// Starts writing, once every record of [`Recovered::records`] is kept elsewhere (they
    /// are gone from the journal afterwards): the old segments become spares or are removed,
    /// and a new segment starts far above everything read. Returns the journal and the jseq
    /// below its first record (the position the caller is now at).
    pub fn start(self, config: &SegmentConfig) -> Result<(Journal, u64), StoreError> {
        let io = self.io;
        io.create_dir()
            .map_err(|e| failed("create journal directory", e))?;
        let mut journal = Journal {
            io,
            segment_bytes: config.segment_len(),
            active: None,
            sealed: Vec::new(),
            spares: Vec::new(),
            spare_target: config.spare_segments,
            next_number: self.max_number + 1,
            next_spare: 0,
            next_jseq: self.max_jseq.max(self.after) + RESTART_GAP,
            next_batch: 0,
        };
        // Everything is kept elsewhere now: old segments become spares or go.
        for name in self.spares {
            journal.offer_spare(name)?;
        }
        for seg in self.segments {
            journal.offer_spare(seg.name)?;
        }
        journal.switch()?;
        let at = journal.next_jseq - 1;
        Ok((journal, at))
    }
}

/// A segment file open for writing.
struct SegmentFile {
    name: String,
    file: Box<dyn JournalFile>,
}

/// A batch ready to be written: its frames, and where they go.
#[derive(Default)]
pub struct Batch {
    frames: Vec<u8>,
    /// `(file, offset, frames range)` per write (one unless the batch crosses segments).
    chunks: Vec<(Arc<SegmentFile>, u64, std::ops::Range<usize>)>,
}

impl Batch {
    /// Writes the reserved chunks, each padded with zeros to whole blocks from this thread's
    /// aligned buffer; returns once all are on stable storage.
    pub fn write(&self) -> Result<(), StoreError> {
        for (file, offset, range) in &self.chunks {
            let frames = self.frames.get(range.clone()).unwrap_or_default();
            direct::with_aligned(align_up(frames.len()), |buf| {
                buf[..frames.len()].copy_from_slice(frames);
                buf[frames.len()..].fill(0);
                file.file.write_durable(*offset, buf)
            })
            .map_err(|e| failed("write journal segment", e))?;
        }
        Ok(())
    }
}

/// What [`Journal::reserve`] hands out: the batch's place in acknowledgement order and its
/// last jseq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub batch: u64,
    pub last_jseq: u64,
}

/// The segment batches go into.
struct Active {
    file: Arc<SegmentFile>,
    /// Where the next batch goes (a block boundary).
    offset: u64,
}

/// A segment the journal has left: retired once every record in it is kept elsewhere.
struct Sealed {
    name: String,
    last_jseq: u64,
}

/// The writing side of a journal directory, meant to sit behind the caller's lock: hands out
/// jseqs and room to batches, switches and recycles segments. The writes themselves
/// ([`Batch::write`]) happen outside the lock.
pub struct Journal {
    io: Arc<dyn JournalIo>,
    segment_bytes: u64,
    active: Option<Active>,
    sealed: Vec<Sealed>,
    /// Ready-to-use files (any content: a new segment's header makes it all stale).
    spares: Vec<String>,
    spare_target: usize,
    next_number: u64,
    next_spare: u64,
    /// jseq of the next record.
    next_jseq: u64,
    /// Number of the next batch (acknowledgement order).
    next_batch: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("io", &self.io)
            .field("next_jseq", &self.next_jseq)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Reads the journal in `io` (records after jseq `after`, decoded by `decode`: see
    /// [`replay`]); call [`Recovered::start`] to write again.
    pub fn recover<T>(
        io: Arc<dyn JournalIo>,
        after: u64,
        decode: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<Recovered<T>, StoreError> {
        scan(io, after, decode)
    }

    /// Keeps `name` as a spare (renamed `spare-N`) if one is wanted and it has the segment
    /// size, else removes it. Renaming needs no sync: a retired segment that reappears after a
    /// crash holds only records kept elsewhere.
    fn offer_spare(&mut self, name: String) -> Result<(), StoreError> {
        let right_size = self
            .io
            .len(&name)
            .is_ok_and(|len| len == Some(self.segment_bytes));
        if right_size && self.spares.len() < self.spare_target {
            let target = if name.starts_with(SPARE_PREFIX) {
                name
            } else {
                let t = self.spare_name();
                self.io
                    .rename(&name, &t)
                    .map_err(|e| failed("rename journal segment", e))?;
                t
            };
            self.spares.push(target);
            return Ok(());
        }
        self.io
            .remove(&name)
            .map_err(|e| failed("remove journal segment", e))
    }

    fn spare_name(&mut self) -> String {
        loop {
            self.next_spare += 1;
            let name = format!("{SPARE_PREFIX}{:020}", self.next_spare);
            if !matches!(self.io.len(&name), Ok(Some(_))) {
                return name;
            }
        }
    }

    /// Leaves the active segment (sealed) and starts segment `next_number` at `next_jseq`:
    /// a spare (or a new file of the full size, sparse), with its header block synced and its
    /// name in the directory synced before any batch is written to it.
    fn switch(&mut self) -> Result<(), StoreError> {
        if let Some(a) = self.active.take() {
            self.sealed.push(Sealed {
                name: a.file.name.clone(),
                last_jseq: self.next_jseq - 1,
            });
        }
        let number = self.next_number;
        self.next_number += 1;
        let name = segment_name(number);
        match self.spares.pop() {
            Some(spare) => self
                .io
                .rename(&spare, &name)
                .map_err(|e| failed("rename journal spare", e))?,
            None => self
                .io
                .create_sparse(&name, self.segment_bytes)
                .map_err(|e| failed("create journal segment", e))?,
        }
        let file = Arc::new(SegmentFile {
            file: self
                .io
                .open(&name)
                .map_err(|e| failed("open journal segment", e))?,
            name,
        });
        let mut block = Batch::default();
        block
            .frames
            .extend_from_slice(&encode_header(number, self.next_jseq, self.segment_bytes));
        block.chunks.push((file.clone(), 0, 0..HEADER_LEN));
        block.write()?;
        self.io
            .sync_dir()
            .map_err(|e| failed("sync journal directory", e))?;
        self.active = Some(Active {
            file,
            offset: ALIGN as u64,
        });
        Ok(())
    }

    /// Gives `records` the next jseqs and the next batch number, encodes their frames into
    /// `buf` and reserves their room (switching segments when the active one is full), so
    /// that [`Batch::write`] can run outside the caller's lock. A record that does not fit a
    /// segment is [`StoreError::Encode`].
    pub fn reserve<E: Entry>(
        &mut self,
        records: &[E],
        buf: &mut Batch,
    ) -> Result<Reserved, StoreError> {
        buf.frames.clear();
        buf.chunks.clear();
        let capacity = usize::try_from(self.segment_bytes).unwrap_or(usize::MAX) - ALIGN;
        let mut jseq = self.next_jseq;
        let mut chunk_start = 0;
        for rec in records {
            let before = buf.frames.len();
            encode_frame(jseq, rec, &mut buf.frames)?;
            if align_up(buf.frames.len() - before) > capacity {
                return Err(StoreError::Encode {
                    detail: "record larger than a journal segment".into(),
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

    fn take_chunk(&mut self, buf: &mut Batch, range: std::ops::Range<usize>) {
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
    pub fn batches(&self) -> u64 {
        self.next_batch
    }

    /// [`Journal::reserve`] and the write, on this thread; the last jseq.
    pub fn append<E: Entry>(&mut self, records: &[E]) -> Result<u64, StoreError> {
        let mut buf = Batch::default();
        let r = self.reserve(records, &mut buf)?;
        buf.write()?;
        Ok(r.last_jseq)
    }

    /// Takes the sealed segments whose records are all kept elsewhere (jseq ≤ `kept`), for
    /// [`Retire::run`] outside the caller's lock, which also makes a spare ready ahead of the
    /// next switch if one is wanted: from a retired segment, or a new one once the active
    /// segment is half full (an idle journal keeps no spare, and its one sparse segment takes
    /// no room on disk). Give the spare back with [`Journal::add_spare`].
    pub fn retire(&mut self, kept: u64) -> Retire {
        let (done, keep): (Vec<_>, Vec<_>) =
            self.sealed.drain(..).partition(|s| s.last_jseq <= kept);
        self.sealed = keep;
        let busy = self
            .active
            .as_ref()
            .is_some_and(|a| a.offset > self.segment_bytes / 2);
        let wanted = self.spares.len() < self.spare_target && (!done.is_empty() || busy);
        Retire {
            io: self.io.clone(),
            segments: done.into_iter().map(|s| s.name).collect(),
            spare: wanted.then(|| self.spare_name()),
            segment_bytes: self.segment_bytes,
        }
    }

    /// A spare [`Retire::run`] made ready.
    pub fn add_spare(&mut self, name: String) {
        self.spares.push(name);
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Drops every record (no write in flight): removes every segment and starts a new one;
    /// jseqs keep growing.
    pub fn discard(&mut self) -> Result<(), StoreError> {
        let mut doomed: Vec<String> = self.sealed.drain(..).map(|s| s.name).collect();
        if let Some(a) = self.active.take() {
            doomed.push(a.file.name.clone());
        }
        for name in doomed {
            match self.io.remove(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed("remove journal segment", e)),
            }
        }
        self.io
            .sync_dir()
            .map_err(|e| failed("sync journal directory", e))?;
        self.switch()
    }

    /// The active segment's name and where its next batch goes.
    pub fn active_position(&self) -> Option<(String, u64)> {
        self.active
            .as_ref()
            .map(|a| (a.file.name.clone(), a.offset))
    }

    /// Starts the next segment now (tests and measurements).
    #[doc(hidden)]
    pub fn switch_segment(&mut self) -> Result<(), StoreError> {
        self.switch()
    }
}

/// Retired segments, and the spare wanted, from [`Journal::retire`].
#[derive(Debug)]
pub struct Retire {
    io: Arc<dyn JournalIo>,
    segments: Vec<String>,
    spare: Option<String>,
    segment_bytes: u64,
}

impl Retire {
    /// The file work (outside the caller's lock): the wanted spare is made from the first
    /// retired segment (renamed) or written with zeros in full and synced, so that writes into
    /// it never allocate; the other retired segments are removed. Returns the spare to give
    /// [`Journal::add_spare`]; every failure goes to `report` (what failed stays on disk and
    /// holds only records kept elsewhere).
    pub fn run(self, mut report: impl FnMut(StoreError)) -> Option<String> {
        let mut segments = self.segments.into_iter();
        let mut ready = None;
        if let Some(spare) = self.spare {
            let made = match segments.next() {
                Some(old) => self
                    .io
                    .rename(&old, &spare)
                    .map_err(|e| failed("rename journal segment", e)),
                None => self
                    .io
                    .create_zeroed(&spare, self.segment_bytes)
                    .map_err(|e| failed("create journal spare", e)),
            };
            match made {
                Ok(()) => ready = Some(spare),
                Err(e) => report(e),
            }
        }
        for name in segments {
            if let Err(e) = self.io.remove(&name) {
                report(failed("remove journal segment", e));
            }
        }
        ready
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.spare.is_none()
    }
}

#[cfg(test)]
mod tests;
