//! Packed blobs: large fresh objects (snapshot blocks) in the slots of pre-zeroed segment files,
//! so that storing one is an O_DIRECT write that changes no file-system metadata, made durable
//! by an `fdatasync` that concurrent puts into the segment share ([`GroupSync`]).
//!
//! A file per block costs, on every put, an inode and extent allocation and a journal commit
//! to make them durable (on the project's VM ~1.4–2.9 ms per 512 KiB block with 4 writers,
//! where an overwrite of already-written space is ~0.6 ms). So [`FileBlobs::put_fresh`]
//! (super::FileBlobs) puts a blob of [`MIN_PACKED`]..=[`SLOT`]−[`HEADER`] bytes into the next
//! free slot of its directory's current segment and names it after the slot:
//! `{dir}/={segment:08}/{slot:04}`, the segment being the file `{dir}/={segment:08}`.
//!
//! - A segment of `n` slots is `n ×` [`SLOT`] bytes, written with zeros and fsynced (under a
//!   `.tmp.` name, then linked into place and the directory fsynced) before any slot is handed
//!   out; a background thread prepares the next one while the current one fills. Sizes grow
//!   from 8 to 128 slots (66 MiB), so a store that holds a few blocks wastes little.
//! - A slot holds a [`HEADER`] (`kmsnapP1`, the blob's length as u32 LE, 4 zero bytes), the
//!   blob, and zeros to the next page; a slot without the magic holds no object.
//! - Slots are handed out once, in order, and never reused: a delete punches the slot's range
//!   out of the file (`FALLOC_FL_PUNCH_HOLE`, space returns to the file system), and a segment
//!   left without data that no put will use again is removed. Deletes run while puts do
//!   (docs/blob-collection.md), and a put may still be writing a slot of a segment that is no
//!   longer the current one; but that slot holds the zeros the segment was made with until the
//!   put's write lands, and zeros are data, so such a segment is never found empty.
//! - Keys are never reused within a process: segment numbers only grow, also past segments
//!   this process removed and past a wipe, so a key listed once never names a later object
//!   (which a collector deleting what it listed relies on).
//! - A process hands out slots only from segments it made. The slots it never used stay
//!   zeroed; the next process to put into the directory punches those of the two newest
//!   segments (the only ones that can have any) before it makes its own.
//! - Writes go to the device with O_DIRECT (no page-cache copy); a put returns once an
//!   `fdatasync` of the segment that started after its write finished has returned.
//! - A crash mid-write leaves a slot nothing refers to (the caller commits its reference after
//!   the put returns): an orphan that `list` returns and `delete` frees, like any other.

use super::group::GroupSync;
use crate::direct::{self, sync_dir};
use crate::error::StoreError;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A slot's size: a 512 KiB block sealed (29 bytes more) plus the header, rounded to pages.
pub(super) const SLOT: u64 = 129 * 4096;
/// The slot header's length.
pub(super) const HEADER: usize = 16;
/// Blobs smaller than this are not packed (they would waste most of a slot).
pub(super) const MIN_PACKED: usize = 256 * 1024;
const MAGIC: &[u8; 8] = b"kmsnapP1";
const PAGE: usize = 4096;
const FIRST_SLOTS: u64 = 8;
const MAX_SLOTS: u64 = 128;
/// Zeros are written this many slots at a time when a segment is made.
const ZERO_CHUNK_SLOTS: u64 = 4;

/// The segment file name of segment `n`.
fn segment_name(n: u64) -> String {
    format!("={n:08}")
}

/// The number of a segment file name (`=` and digits).
pub(super) fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('=')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A packed key's parts: (directory, segment number, slot). `None`: not a packed key.
pub(super) fn parse_key(key: &str) -> Option<(&str, u64, u64)> {
    let mut parts = key.rsplitn(3, '/');
    let slot = parts.next()?;
    let segment = segment_number(parts.next()?)?;
    let dir = parts.next()?;
    if slot.is_empty() || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((dir, segment, slot.parse().ok()?))
}

/// Whether any segment of `key` names a segment file (such keys only `put_fresh` makes).
pub(super) fn reserved(key: &str) -> bool {
    key.split('/').any(|s| s.starts_with('='))
}

fn key(dir: &str, segment: u64, slot: u64) -> String {
    format!("{dir}/{}/{slot:04}", segment_name(segment))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the state consistent (every change is one field).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A segment file open for O_DIRECT writes, and the syncs its writers share.
struct SegmentFile {
    file: File,
    sync: GroupSync,
}

struct Segment {
    number: u64,
    file: Arc<SegmentFile>,
    slots: u64,
    used: u64,
}

#[derive(Default)]
struct DirState {
    current: Option<Segment>,
    next: Option<Segment>,
    /// The number of the segment being made, if one is.
    preparing: Option<u64>,
    next_number: u64,
    next_slots: u64,
    /// Why making the last segment failed: the put waiting for it reports it.
    failed: Option<io::Error>,
    /// The file system refuses O_DIRECT: blobs here are files.
    unpackable: bool,
}

struct PackDir {
    path: PathBuf,
    state: Mutex<DirState>,
    changed: Condvar,
}

/// The packed blobs of one [`FileBlobs`](super::FileBlobs) root.
pub(super) struct Packs {
    dirs: Mutex<HashMap<String, Arc<PackDir>>>,
    /// The highest segment number this process has made or removed, by directory: numbers
    /// continue above it even once those files are gone (see the module docs).
    floors: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Packs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packs").finish_non_exhaustive()
    }
}

impl Packs {
    pub(super) fn new() -> Self {
        Packs {
            dirs: Mutex::new(HashMap::new()),
            floors: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every directory's segments (after a wipe removed them), keeping their numbers
    /// from being handed out again.
    pub(super) fn reset(&self) {
        let mut dirs = lock(&self.dirs);
        for (dir, pd) in dirs.iter() {
            let made = lock(&pd.state).next_number.saturating_sub(1);
            self.raise_floor(dir, made);
        }
        dirs.clear();
    }

    fn raise_floor(&self, dir: &str, n: u64) {
        let mut floors = lock(&self.floors);
        let floor = floors.entry(dir.to_owned()).or_default();
        *floor = (*floor).max(n);
    }

    /// Stores the `len` bytes `fill` writes (straight into the O_DIRECT buffer) in a fresh slot
    /// of directory `dir` (whose path `make_dir` returns, creating it, on the directory's first
    /// put), durable when this returns; its key. `None`, before `fill` is called: not packable
    /// here (size, or a file system without O_DIRECT) — store it as a file. If `fill` fails,
    /// nothing is written (the slot stays unused). `fill` runs while this thread's direct buffer
    /// is borrowed, so it must not store blobs itself.
    pub(super) fn put(
        &self,
        dir: &str,
        make_dir: impl FnOnce() -> Result<PathBuf, StoreError>,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), StoreError>,
    ) -> Result<Option<String>, StoreError> {
        if len < MIN_PACKED || len + HEADER > SLOT as usize {
            return Ok(None);
        }
        let pd = self.dir(dir, make_dir)?;
        let Some((file, segment, slot)) = pd.take_slot()? else {
            return Ok(None);
        };
        let len32 = u32::try_from(len)
            .map_err(|_| StoreError::io("write blob", io::ErrorKind::InvalidInput.into()))?;
        let span = (HEADER + len).div_ceil(PAGE) * PAGE;
        direct::with_aligned(span, |buf| {
            if let Err(e) = fill(&mut buf[HEADER..HEADER + len]) {
                return Ok(Err(e));
            }
            buf[..8].copy_from_slice(MAGIC);
            buf[8..12].copy_from_slice(&len32.to_le_bytes());
            buf[12..HEADER].fill(0);
            buf[HEADER + len..].fill(0);
            file.file.write_all_at(buf, slot * SLOT).map(Ok)
        })
        .map_err(|e| StoreError::io("write blob", e))??;
        // The slot's space was written (zeros) and synced when the segment was made, so the
        // write changed no metadata: a data sync of the file (a device cache flush) makes it
        // durable, and one covers every write that finished before it started.
        let ticket = file.sync.issue();
        file.sync.wait_durable(ticket, |issued| {
            let covered = issued.load(std::sync::atomic::Ordering::SeqCst);
            file.file
                .sync_data()
                .map_err(|e| StoreError::io("sync blob", e))?;
            Ok(covered)
        })?;
        Ok(Some(key(dir, segment, slot)))
    }

    /// The directory's state, made on first use: its segments' numbers read and the unused
    /// slots of the two newest punched (see the module docs).
    fn dir(
        &self,
        dir: &str,
        make_dir: impl FnOnce() -> Result<PathBuf, StoreError>,
    ) -> Result<Arc<PackDir>, StoreError> {
        let mut dirs = lock(&self.dirs);
        if let Some(pd) = dirs.get(dir) {
            return Ok(pd.clone());
        }
        let path = make_dir()?;
        let mut numbers = Vec::new();
        for entry in fs::read_dir(&path).map_err(|e| StoreError::io("read blob directory", e))? {
            let entry = entry.map_err(|e| StoreError::io("read blob directory", e))?;
            if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        for &n in numbers.iter().rev().take(2) {
            release_unused(&path.join(segment_name(n)))
                .map_err(|e| StoreError::io("release unused blob slots", e))?;
        }
        let floor = lock(&self.floors).get(dir).copied().unwrap_or(0);
        let highest = numbers.last().copied().unwrap_or(0).max(floor);
        let state = DirState {
            next_number: highest + 1,
            next_slots: FIRST_SLOTS,
            ..DirState::default()
        };
        let pd = Arc::new(PackDir {
            path,
            state: Mutex::new(state),
            changed: Condvar::new(),
        });
        dirs.insert(dir.to_owned(), pd.clone());
        Ok(pd)
    }

    /// Whether `slot` of segment `n` of `dir` (the file at `path`) holds an object: it has
    /// data (was written and not punched) and is not one this process has yet to hand out.
    /// Unlike [`Packs::size`] this reads no block of the file, only its extent map (a copy that
    /// finds an earlier copy's blocks checks thousands of them). Slots handed out are exact;
    /// the zeroed slots another process never used count only until a put into the directory
    /// punches them.
    pub(super) fn exists(&self, dir: &str, path: &Path, n: u64, slot: u64) -> io::Result<bool> {
        if self.handing_out(dir, n).is_some_and(|used| slot >= used) {
            return Ok(false);
        }
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        Ok(slot < f.metadata()?.len() / SLOT && slot_has_data(&f, slot * SLOT)?)
    }

    /// If a put of this process may still write into segment `n` of `dir` (it is the current
    /// one, the next, or being made): how many of its slots have been handed out.
    fn handing_out(&self, dir: &str, n: u64) -> Option<u64> {
        let pd = lock(&self.dirs).get(dir).cloned()?;
        let st = lock(&pd.state);
        if st.preparing == Some(n) {
            return Some(0);
        }
        let used = [st.current.as_ref(), st.next.as_ref()]
            .into_iter()
            .flatten()
            .find(|s| s.number == n)
            .map(|s| s.used);
        used
    }

    /// The object in `slot` of the segment file at `path`; `None` if the slot holds none.
    pub(super) fn get(path: &Path, slot: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = open_for_reading(path)? else {
            return Ok(None);
        };
        read_slot(&file, slot, SLOT as usize, |buf, len| {
            buf[HEADER..HEADER + len].to_vec()
        })
    }

    /// The size of the object in `slot`, `None` if it holds none.
    pub(super) fn size(path: &Path, slot: u64) -> io::Result<Option<u64>> {
        let Some(file) = open_for_reading(path)? else {
            return Ok(None);
        };
        slot_size(&file, slot)
    }

    /// Frees `slot` of segment `n` of `dir` (the file at `path`); true if it held an object.
    /// A segment left without data that no put will write into again is removed (a slot a put
    /// is still writing holds its zeros, which are data: see the module docs).
    pub(super) fn delete(&self, dir: &str, path: &Path, n: u64, slot: u64) -> io::Result<bool> {
        let f = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        if slot_size(&f, slot)?.is_none() {
            return Ok(false);
        }
        punch(&f, slot)?;
        f.sync_data()?;
        if next_data(&f, 0)?.is_none() && self.handing_out(dir, n).is_none() {
            self.raise_floor(dir, n);
            match fs::remove_file(path) {
                // A concurrent delete of the segment's other last slot removed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r?,
            }
            if let Some(parent) = path.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(true)
    }

    /// The keys of the objects in the segment file `name` at `path`, whose directory's key is
    /// `rel` (none if a delete removed the file since it was seen).
    pub(super) fn list(
        path: &Path,
        rel: &str,
        name: &str,
        out: &mut Vec<String>,
    ) -> io::Result<()> {
        let Some(n) = segment_number(name) else {
            return Ok(());
        };
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let slots = f.metadata()?.len() / SLOT;
        for slot in 0..slots {
            if slot_has_data(&f, slot * SLOT)? && slot_size(&f, slot)?.is_some() {
                out.push(key(rel, n, slot));
            }
        }
        Ok(())
    }
}

impl PackDir {
    /// A free slot: (segment file, segment number, slot). Starts making the next segment when
    /// the current one is half used, and waits for it when the current one is full.
    fn take_slot(self: &Arc<Self>) -> Result<Option<(Arc<SegmentFile>, u64, u64)>, StoreError> {
        let mut st = lock(&self.state);
        loop {
            if st.unpackable {
                return Ok(None);
            }
            if let Some(cur) = st.current.as_mut() {
                if cur.used < cur.slots {
                    let taken = (cur.file.clone(), cur.number, cur.used);
                    cur.used += 1;
                    let half_used = cur.used * 2 >= cur.slots;
                    if half_used && st.next.is_none() && st.preparing.is_none() {
                        self.prepare(&mut st);
                    }
                    return Ok(Some(taken));
                }
            }
            if let Some(next) = st.next.take() {
                st.current = Some(next);
                continue;
            }
            if let Some(e) = st.failed.take() {
                return Err(StoreError::io("create blob segment", e));
            }
            if st.preparing.is_none() {
                self.prepare(&mut st);
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Starts making the next segment on a thread of its own.
    fn prepare(self: &Arc<Self>, st: &mut DirState) {
        let (n, slots) = (st.next_number, st.next_slots);
        st.next_number += 1;
        st.next_slots = (slots * 2).min(MAX_SLOTS);
        st.preparing = Some(n);
        let pd = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kmsnap-blob-segment".into())
            .spawn(move || {
                let made = make_segment(&pd.path, n, slots);
                let mut st = lock(&pd.state);
                st.preparing = None;
                match made {
                    Ok(file) => {
                        st.next = Some(Segment {
                            number: n,
                            file: Arc::new(SegmentFile {
                                file,
                                sync: GroupSync::default(),
                            }),
                            slots,
                            used: 0,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => st.unpackable = true,
                    Err(e) => st.failed = Some(e),
                }
                pd.changed.notify_all();
            });
        if let Err(e) = spawned {
            st.preparing = None;
            st.failed = Some(e);
        }
    }
}

/// Makes segment `n` of `slots` zeroed slots in `dir`, durable, and opens it for O_DIRECT
/// writes. `InvalidInput`: the file system refuses O_DIRECT.
fn make_segment(dir: &Path, n: u64, slots: u64) -> io::Result<File> {
    let name = segment_name(n);
    let temp = dir.join(format!(".tmp.{name}"));
    let path = dir.join(&name);
    let _ = fs::remove_file(&temp);
    let written = (|| {
        let f = direct::open(
            OpenOptions::new().write(true).create_new(true),
            &temp,
            false,
        )?
        .ok_or_else(refused)?;
        let chunk = (ZERO_CHUNK_SLOTS * SLOT) as usize;
        direct::with_aligned(chunk, |zeros| {
            zeros.fill(0);
            let mut at = 0;
            while at < slots {
                let k = ZERO_CHUNK_SLOTS.min(slots - at);
                f.write_all_at(&zeros[..(k * SLOT) as usize], at * SLOT)?;
                at += k;
            }
            Ok(())
        })?;
        f.sync_all()?;
        // A link, unlike a rename, never replaces a segment already there.
        fs::hard_link(&temp, &path)?;
        fs::remove_file(&temp)?;
        sync_dir(dir)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    direct::open(OpenOptions::new().read(true).write(true), &path, false)?.ok_or_else(refused)
}

fn refused() -> io::Error {
    io::ErrorKind::InvalidInput.into()
}

/// The segment file at `path` opened for reading with O_DIRECT (the ordinary way where that
/// is refused); `None` if there is none.
fn open_for_reading(path: &Path) -> io::Result<Option<File>> {
    match direct::open(OpenOptions::new().read(true), path, false) {
        Ok(Some(file)) => Ok(Some(file)),
        Ok(None) => File::open(path).map(Some),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The length of the object in `slot` of `file` (its header), `None` if it holds none.
fn slot_size(file: &File, slot: u64) -> io::Result<Option<u64>> {
    read_slot(file, slot, PAGE, |_, len| len as u64)
}

/// Reads `want` bytes of `slot` (from its start) and, if it holds an object, `f` of the bytes
/// read and the object's length.
fn read_slot<R>(
    file: &File,
    slot: u64,
    want: usize,
    f: impl FnOnce(&[u8], usize) -> R,
) -> io::Result<Option<R>> {
    direct::with_aligned(want, |buf| {
        let mut got = 0;
        while got < want {
            match file.read_at(&mut buf[got..], slot * SLOT + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got < HEADER || &buf[..8] != MAGIC {
            return Ok(None);
        }
        let len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
        if HEADER + len > SLOT as usize || (want == SLOT as usize && got < HEADER + len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "blob slot header names a length beyond its slot",
            ));
        }
        Ok(Some(f(buf, len)))
    })
}

/// The offset of the first data (not a hole) at or after `from`; `None`: only holes follow.
/// Without SEEK_DATA support, `from` itself (callers then read the header).
fn next_data(f: &File, from: u64) -> io::Result<Option<u64>> {
    match rustix::fs::seek(f, rustix::fs::SeekFrom::Data(from)) {
        Ok(at) => Ok(Some(at)),
        Err(rustix::io::Errno::NXIO) => Ok(None),
        Err(rustix::io::Errno::INVAL) => Ok(Some(from)),
        Err(e) => Err(e.into()),
    }
}

/// Whether the slot of the file starting at `from` has any data (is not all hole).
fn slot_has_data(f: &File, from: u64) -> io::Result<bool> {
    Ok(next_data(f, from)?.is_some_and(|at| at < from + SLOT))
}

/// Punches `slot` out of the file; where holes cannot be punched, zeros its header instead
/// (the slot then holds no object, though its space stays allocated).
fn punch(f: &File, slot: u64) -> io::Result<()> {
    use rustix::fs::FallocateFlags;
    match rustix::fs::fallocate(
        f,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        slot * SLOT,
        SLOT,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => f.write_all_at(&[0u8; HEADER], slot * SLOT),
        Err(e) => Err(e.into()),
    }
}

/// Punches the slots of the segment at `path` that hold no object (zeroed, never used, or
/// written partly by a put a crash cut short before its header). A segment a concurrent
/// delete just removed has none.
fn release_unused(path: &Path) -> io::Result<()> {
    let f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let slots = f.metadata()?.len() / SLOT;
    let mut punched = false;
    for slot in 0..slots {
        if slot_has_data(&f, slot * SLOT)? && slot_size(&f, slot)?.is_none() {
            punch(&f, slot)?;
            punched = true;
        }
    }
    if punched {
        f.sync_data()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        assert_eq!(
            parse_key("r/blocks/=00000001/0007"),
            Some(("r/blocks", 1, 7))
        );
        assert_eq!(
            parse_key("r/blocks/=123456789/0000"),
            Some(("r/blocks", 123_456_789, 0))
        );
        for not in [
            "r/blocks/lin-a/0000000001-ab",
            "=00000001/0001",
            "r/=x/0001",
            "r/=1/a",
            "r/=/1",
        ] {
            assert_eq!(parse_key(not), None, "{not}");
        }
        assert!(reserved("r/=1/2") && !reserved("r/a=b/c"));
        assert_eq!(key("r/blocks", 3, 12), "r/blocks/=00000003/0012");
    }
}
