//! Media for crash and I/O-failure tests: a redb [`StorageBackend`], and a journal directory
//! ([`FaultDir`]) whose files are such devices.
//!
//! [`FaultBackend`] keeps the file in memory twice: the image reads see, and the image that was
//! on stable storage at the last `sync_data`. Writes and length changes since that sync are kept
//! as a list. [`FaultBackend::crash`] stops the device (every later call fails, as if the
//! process died) and returns a new backend over what survived: the synced image plus, in
//! [`CrashMode::KeepRandom`], a random subset of the unsynced writes (a disk may persist any of
//! them, in any order). Failure injection makes the N-th write or sync fail, or stops the device
//! after N more operations, so a commit can be cut at every point.

use crate::journal::{JournalFile, JournalIo};
use redb::StorageBackend;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

fn apply(image: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write { offset, data } => {
            let start = usize::try_from(*offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(data.len());
            if image.len() < end {
                image.resize(end, 0);
            }
            if let Some(dst) = image.get_mut(start..end) {
                dst.copy_from_slice(data);
            }
        }
        Op::SetLen(len) => image.resize(usize::try_from(*len).unwrap_or(usize::MAX), 0),
    }
}

/// What survives a [`FaultBackend::crash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only what was synced.
    DropUnsynced,
    /// Everything written, synced or not (the OS flushed it all but the sync never returned).
    KeepAll,
    /// What was synced, plus each unsynced write with probability 1/2 (chosen by the seed);
    /// length changes are kept.
    KeepRandom { seed: u64 },
}

/// Counters of what the backend has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub writes: u64,
    pub syncs: u64,
    pub unsynced_ops: usize,
    pub len: u64,
}

#[derive(Debug, Default)]
struct State {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Op>,
    dead: bool,
    writes: u64,
    syncs: u64,
    fail_write_in: Option<u64>,
    fail_sync_in: Option<u64>,
    die_in: Option<u64>,
}

/// An in-memory redb storage backend with crash simulation. Clones share the same device.
#[derive(Debug, Clone, Default)]
pub struct FaultBackend {
    state: Arc<Mutex<State>>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

/// Counts down an optional trigger; true when it fires now.
fn fires(counter: &mut Option<u64>) -> bool {
    match counter {
        Some(1) => {
            *counter = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

impl FaultBackend {
    /// An empty device.
    pub fn new() -> Self {
        Self::default()
    }

    /// A device whose stable contents are `bytes`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let state = State {
            current: bytes.clone(),
            durable: bytes,
            ..State::default()
        };
        FaultBackend {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `n`-th write from now (1 = the next) fails without effect.
    pub fn fail_nth_write(&self, n: u64) {
        self.lock().fail_write_in = Some(n.max(1));
    }

    /// The `n`-th sync from now fails without making anything durable.
    pub fn fail_nth_sync(&self, n: u64) {
        self.lock().fail_sync_in = Some(n.max(1));
    }

    /// The device dies at the `n`-th write, length change or sync from now: that call and all
    /// later ones fail, like a power cut in the middle of a commit.
    pub fn die_after(&self, n: u64) {
        self.lock().die_in = Some(n.max(1));
    }

    /// Clears pending failure triggers.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.fail_write_in = None;
        st.fail_sync_in = None;
        st.die_in = None;
    }

    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    pub fn stats(&self) -> FaultStats {
        let st = self.lock();
        FaultStats {
            writes: st.writes,
            syncs: st.syncs,
            unsynced_ops: st.unsynced.len(),
            len: st.current.len() as u64,
        }
    }

    /// Simulates a crash: this device stops answering, and the returned one holds what
    /// survived per `mode`.
    pub fn crash(&self, mode: CrashMode) -> FaultBackend {
        let mut st = self.lock();
        st.dead = true;
        let mut image = st.durable.clone();
        let mut rng = match mode {
            CrashMode::DropUnsynced => return FaultBackend::from_bytes(image),
            CrashMode::KeepAll => None,
            CrashMode::KeepRandom { seed } => Some(SplitMix(seed)),
        };
        for op in &st.unsynced {
            let keep = match (op, rng.as_mut()) {
                (Op::SetLen(_), _) | (_, None) => true,
                (Op::Write { .. }, Some(rng)) => rng.next_u64() & 1 == 1,
            };
            if keep {
                apply(&mut image, op);
            }
        }
        FaultBackend::from_bytes(image)
    }

    /// A record of a mutating call; Err if the device is dead or dies now.
    fn mutate(&self, st: &mut State, kind: &str) -> io::Result<()> {
        if st.dead {
            return Err(injected("device is dead"));
        }
        if fires(&mut st.die_in) {
            st.dead = true;
            return Err(injected(kind));
        }
        Ok(())
    }
}

/// A tiny deterministic generator, so crash tests need no random crate.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

impl StorageBackend for FaultBackend {
    fn len(&self) -> io::Result<u64> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        Ok(st.current.len() as u64)
    }

    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        let start =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        st.current
            .get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of device"))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        self.mutate(&mut st, "set_len")?;
        let op = Op::SetLen(len);
        apply(&mut st.current, &op);
        st.unsynced.push(op);
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> io::Result<()> {
        let mut st = self.lock();
        self.mutate(&mut st, "sync")?;
        if fires(&mut st.fail_sync_in) {
            return Err(injected("sync"));
        }
        st.syncs += 1;
        let ops = std::mem::take(&mut st.unsynced);
        for op in &ops {
            apply(&mut st.durable, op);
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        self.mutate(&mut st, "write")?;
        if fires(&mut st.fail_write_in) {
            return Err(injected("write"));
        }
        st.writes += 1;
        let op = Op::Write {
            offset,
            data: data.to_vec(),
        };
        apply(&mut st.current, &op);
        st.unsynced.push(op);
        Ok(())
    }
}

/// The sector a torn write tears at: [`FaultDir`] writes a block sector by sector, so a crash
/// in the middle of a write keeps any subset of its sectors.
pub const SECTOR: usize = 512;

#[derive(Debug, Default)]
struct DirState {
    files: BTreeMap<String, FaultBackend>,
    dead: bool,
    /// Sector writes, syncs and directory changes so far.
    ops: u64,
    fail_write_in: Option<u64>,
    die_in: Option<u64>,
}

/// A journal directory in memory ([`JournalIo`]) for crash tests: each file is a
/// [`FaultBackend`]. A durable write is written sector by sector ([`SECTOR`]), then synced, as
/// O_DSYNC does it; [`FaultDir::die_after`] stops the device at the N-th sector write, sync or
/// directory change, so that a crash can fall before, in the middle of, or after any write's
/// sync, and [`FaultDir::crash`] keeps what a device may keep (per [`CrashMode`]: a torn write
/// keeps any subset of its sectors). Directory changes (create, rename, remove) are durable at
/// once: the journal syncs the directory after each one it depends on, so the tests need not
/// model their loss. Clones share the same directory.
#[derive(Debug, Clone, Default)]
pub struct FaultDir {
    state: Arc<Mutex<DirState>>,
}

impl FaultDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, DirState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `n`-th sector write from now (1 = the next) fails without effect, and with it the
    /// write it belongs to (earlier sectors of that write stay written, unsynced).
    pub fn fail_nth_write(&self, n: u64) {
        self.lock().fail_write_in = Some(n.max(1));
    }

    /// The device dies at the `n`-th sector write, sync or directory change from now: that call
    /// and all later ones fail, like a power cut.
    pub fn die_after(&self, n: u64) {
        self.lock().die_in = Some(n.max(1));
    }

    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.fail_write_in = None;
        st.die_in = None;
    }

    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// Sector writes, syncs and directory changes so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Simulates a crash: this directory stops answering, and the returned one holds what
    /// survived per `mode` in each file.
    pub fn crash(&self, mode: CrashMode) -> FaultDir {
        let mut st = self.lock();
        st.dead = true;
        let mut rng = SplitMix(match mode {
            CrashMode::KeepRandom { seed } => seed,
            _ => 0,
        });
        let files = st
            .files
            .iter()
            .map(|(name, dev)| {
                let mode = match mode {
                    CrashMode::KeepRandom { .. } => CrashMode::KeepRandom {
                        seed: rng.next_u64(),
                    },
                    m => m,
                };
                (name.clone(), dev.crash(mode))
            })
            .collect();
        FaultDir {
            state: Arc::new(Mutex::new(DirState {
                files,
                ..DirState::default()
            })),
        }
    }

    /// The current bytes of file `name`.
    pub fn image(&self, name: &str) -> Option<Vec<u8>> {
        let dev = self.lock().files.get(name).cloned()?;
        let len = usize::try_from(dev.stats().len).ok()?;
        dev.read(0, len).ok()
    }

    /// Puts `bytes` durably at `offset` of file `name` (what a torn write may leave).
    pub fn overwrite(&self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let dev = self
            .lock()
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        dev.write(offset, bytes)?;
        dev.sync_data(false)
    }

    /// Counts one operation; Err if the device is dead or dies now.
    fn op(st: &mut DirState, kind: &str) -> io::Result<()> {
        if st.dead {
            return Err(injected("device is dead"));
        }
        st.ops += 1;
        if fires(&mut st.die_in) {
            st.dead = true;
            return Err(injected(kind));
        }
        Ok(())
    }

    fn device(&self, name: &str) -> io::Result<FaultBackend> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        st.files
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))
    }

    fn create(&self, name: &str, len: u64, fresh: bool) -> io::Result<()> {
        let mut st = self.lock();
        Self::op(&mut st, "create")?;
        if fresh && st.files.contains_key(name) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        st.files.insert(
            name.to_owned(),
            FaultBackend::from_bytes(vec![0; usize::try_from(len).unwrap_or(0)]),
        );
        Ok(())
    }
}

impl JournalIo for FaultDir {
    fn create_dir(&self) -> io::Result<()> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        Ok(st.files.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let dev = self.device(name)?;
        let len = usize::try_from(dev.stats().len)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        dev.read(0, len)
    }

    fn len(&self, name: &str) -> io::Result<Option<u64>> {
        match self.device(name) {
            Ok(dev) => Ok(Some(dev.stats().len)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_sparse(&self, name: &str, len: u64) -> io::Result<()> {
        self.create(name, len, true)
    }

    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()> {
        self.create(name, len, false)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut st = self.lock();
        Self::op(&mut st, "rename")?;
        let dev = st
            .files
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, from.to_owned()))?;
        st.files.insert(to.to_owned(), dev);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut st = self.lock();
        Self::op(&mut st, "remove")?;
        st.files
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))
    }

    fn sync_dir(&self) -> io::Result<()> {
        let st = self.lock();
        if st.dead {
            return Err(injected("device is dead"));
        }
        Ok(())
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn JournalFile>> {
        Ok(Box::new(FaultFile {
            dir: self.clone(),
            dev: self.device(name)?,
        }))
    }
}

/// A file of a [`FaultDir`], following it across renames.
struct FaultFile {
    dir: FaultDir,
    dev: FaultBackend,
}

impl JournalFile for FaultFile {
    fn write_durable(&self, offset: u64, blocks: &[u8]) -> io::Result<()> {
        for (i, sector) in blocks.chunks(SECTOR).enumerate() {
            {
                let mut st = self.dir.lock();
                FaultDir::op(&mut st, "write")?;
                if fires(&mut st.fail_write_in) {
                    return Err(injected("write"));
                }
            }
            self.dev.write(offset + (i * SECTOR) as u64, sector)?;
        }
        FaultDir::op(&mut self.dir.lock(), "sync")?;
        self.dev.sync_data(false)
    }
}
