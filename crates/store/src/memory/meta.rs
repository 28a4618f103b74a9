//! A multi-version map: every key keeps the versions that some open reader may still see, each
//! tagged with the commit sequence number that wrote it. A reader fixes its sequence number at
//! `read()` and takes the lock only per call, so a thread can hold a reader while it writes.
//! Writers are serialized by a flag and buffer their writes in an overlay that `commit` applies
//! under one lock, so readers see a commit entirely or not at all. Old versions are pruned when
//! the oldest open reader moves past them.

use crate::error::StoreError;
use crate::meta::{composite_key, scan_bounds, validate_table, MetaStore, ScanBounds};
use crate::txn::{ReadTxn, Record, ScanEntry, WriteTxn};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

#[derive(Debug)]
struct Version {
    seq: u64,
    rec: Option<Record>,
}

#[derive(Debug, Default)]
struct State {
    map: BTreeMap<Vec<u8>, Vec<Version>>,
    /// Sequence number of the last commit.
    committed: u64,
    /// Last revision handed out.
    last_revision: u64,
    /// Open readers by sequence number.
    readers: BTreeMap<u64, usize>,
    /// Keys holding more than one version or a tombstone.
    gc_pending: BTreeSet<Vec<u8>>,
    /// The oldest reader sequence (u64::MAX: none) at the last sweep of `gc_pending`.
    gc_floor: u64,
}

impl State {
    fn oldest_reader(&self) -> Option<u64> {
        self.readers.keys().next().copied()
    }

    /// Drops versions no reader can see; true if the key still needs a later look.
    fn prune(versions: &mut Vec<Version>, oldest_reader: Option<u64>) -> bool {
        match oldest_reader {
            None => {
                let keep_from = versions.len().saturating_sub(1);
                versions.drain(..keep_from);
            }
            Some(floor) => {
                // The newest version at or before the floor is what the oldest reader sees.
                if let Some(idx) = versions.iter().rposition(|v| v.seq <= floor) {
                    versions.drain(..idx);
                }
            }
        }
        if let [only] = versions.as_slice() {
            if only.rec.is_none() && oldest_reader.is_none_or(|floor| only.seq <= floor) {
                versions.clear();
            }
        }
        versions.len() > 1 || versions.first().is_some_and(|v| v.rec.is_none())
    }

    fn sweep(&mut self) {
        let floor = self.oldest_reader();
        let floor_value = floor.unwrap_or(u64::MAX);
        // Pending keys were pruned against the floor of their commit; only a moved floor helps.
        if self.gc_pending.is_empty() || floor_value == self.gc_floor {
            return;
        }
        self.gc_floor = floor_value;
        let pending = std::mem::take(&mut self.gc_pending);
        for key in pending {
            let keep = match self.map.get_mut(&key) {
                Some(versions) => {
                    let again = Self::prune(versions, floor);
                    if versions.is_empty() {
                        self.map.remove(&key);
                    }
                    again
                }
                None => false,
            };
            if keep {
                self.gc_pending.insert(key);
            }
        }
    }

    fn visible(versions: &[Version], seq: u64) -> Option<&Record> {
        versions
            .iter()
            .rev()
            .find(|v| v.seq <= seq)
            .and_then(|v| v.rec.as_ref())
    }

    /// Composite keys in `bounds` with the record visible at `seq` (None: deleted at `seq`).
    fn range_at<'a>(
        &'a self,
        bounds: &'a ScanBounds,
        seq: u64,
    ) -> Box<dyn Iterator<Item = (&'a [u8], Option<&'a Record>)> + 'a> {
        if bounds
            .end
            .as_deref()
            .is_some_and(|end| bounds.start.as_slice() >= end)
        {
            return Box::new(std::iter::empty());
        }
        let lower = if bounds.skip_start {
            Bound::Excluded(bounds.start.as_slice())
        } else {
            Bound::Included(bounds.start.as_slice())
        };
        let upper = bounds
            .end
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        Box::new(
            self.map
                .range::<[u8], _>((lower, upper))
                .map(move |(k, vs)| (k.as_slice(), Self::visible(vs, seq))),
        )
    }
}

/// The memory [`MetaStore`].
#[derive(Debug, Default)]
pub struct MemoryMeta {
    state: RwLock<State>,
    writer_busy: Mutex<bool>,
    writer_free: Condvar,
}

impl MemoryMeta {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| StoreError::poisoned())
    }

    fn state_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>, StoreError> {
        self.state.write().map_err(|_| StoreError::poisoned())
    }

    fn begin_write(&self) -> Result<MemWrite<'_>, StoreError> {
        let mut busy = self
            .writer_busy
            .lock()
            .map_err(|_| StoreError::poisoned())?;
        while *busy {
            busy = self
                .writer_free
                .wait(busy)
                .map_err(|_| StoreError::poisoned())?;
        }
        *busy = true;
        drop(busy);
        let guard = WriterGuard { store: self };
        let state = self.state()?;
        Ok(MemWrite {
            store: self,
            seq: state.committed,
            last_revision: state.last_revision,
            overlay: BTreeMap::new(),
            _guard: guard,
        })
    }
}

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct WriterGuard<'a> {
    store: &'a MemoryMeta,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        *lock_ignoring_poison(&self.store.writer_busy) = false;
        self.store.writer_free.notify_one();
    }
}

struct MemRead<'a> {
    store: &'a MemoryMeta,
    seq: u64,
}

impl Drop for MemRead<'_> {
    fn drop(&mut self) {
        let mut state = self
            .store
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = state.readers.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                state.readers.remove(&self.seq);
            }
        }
    }
}

fn scan_iter<'a>(
    it: impl Iterator<Item = (&'a [u8], Option<&'a Record>)>,
    table_len: usize,
    limit: usize,
) -> Vec<ScanEntry> {
    it.filter_map(|(k, r)| r.map(|r| (k.get(table_len..).unwrap_or_default().to_vec(), r.clone())))
        .take(limit)
        .collect()
}

impl ReadTxn for MemRead<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError> {
        validate_table(table)?;
        let state = self.store.state()?;
        let ck = composite_key(table, key);
        Ok(state
            .map
            .get(&ck)
            .and_then(|vs| State::visible(vs, self.seq))
            .cloned())
    }

    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError> {
        validate_table(table)?;
        let bounds = scan_bounds(table, prefix, start_after);
        let state = self.store.state()?;
        Ok(scan_iter(
            state.range_at(&bounds, self.seq),
            bounds.table_len,
            limit,
        ))
    }

    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError> {
        validate_table(table)?;
        let bounds = scan_bounds(table, prefix, None);
        let state = self.store.state()?;
        Ok(state
            .range_at(&bounds, self.seq)
            .filter(|(_, r)| r.is_some())
            .count() as u64)
    }
}

struct MemWrite<'a> {
    store: &'a MemoryMeta,
    /// The committed state this transaction builds on (no other writer can change it).
    seq: u64,
    last_revision: u64,
    overlay: BTreeMap<Vec<u8>, Option<Record>>,
    _guard: WriterGuard<'a>,
}

impl MemWrite<'_> {
    /// The base range merged with the overlay (overlay wins), in key order.
    fn merged<'s>(
        &'s self,
        state: &'s State,
        bounds: &'s ScanBounds,
    ) -> impl Iterator<Item = (&'s [u8], Option<&'s Record>)> + 's {
        let empty = bounds
            .end
            .as_deref()
            .is_some_and(|end| bounds.start.as_slice() >= end);
        let lower = if bounds.skip_start {
            Bound::Excluded(bounds.start.as_slice())
        } else {
            Bound::Included(bounds.start.as_slice())
        };
        let upper = bounds
            .end
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let overlay: Box<dyn Iterator<Item = (&[u8], Option<&Record>)>> = if empty {
            Box::new(std::iter::empty())
        } else {
            Box::new(
                self.overlay
                    .range::<[u8], _>((lower, upper))
                    .map(|(k, v)| (k.as_slice(), v.as_ref())),
            )
        };
        MergeIter {
            base: state.range_at(bounds, self.seq).peekable(),
            overlay: overlay.peekable(),
        }
    }
}

struct MergeIter<B: Iterator, O: Iterator> {
    base: std::iter::Peekable<B>,
    overlay: std::iter::Peekable<O>,
}

impl<'a, B, O> Iterator for MergeIter<B, O>
where
    B: Iterator<Item = (&'a [u8], Option<&'a Record>)>,
    O: Iterator<Item = (&'a [u8], Option<&'a Record>)>,
{
    type Item = (&'a [u8], Option<&'a Record>);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.base.peek(), self.overlay.peek()) {
            (Some(b), Some(o)) => {
                if b.0 < o.0 {
                    self.base.next()
                } else {
                    if b.0 == o.0 {
                        self.base.next();
                    }
                    self.overlay.next()
                }
            }
            (Some(_), None) => self.base.next(),
            (None, _) => self.overlay.next(),
        }
    }
}

impl ReadTxn for MemWrite<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError> {
        validate_table(table)?;
        let ck = composite_key(table, key);
        if let Some(v) = self.overlay.get(&ck) {
            return Ok(v.clone());
        }
        let state = self.store.state()?;
        Ok(state
            .map
            .get(&ck)
            .and_then(|vs| State::visible(vs, self.seq))
            .cloned())
    }

    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError> {
        validate_table(table)?;
        let bounds = scan_bounds(table, prefix, start_after);
        let state = self.store.state()?;
        Ok(scan_iter(
            self.merged(&state, &bounds),
            bounds.table_len,
            limit,
        ))
    }

    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError> {
        validate_table(table)?;
        let bounds = scan_bounds(table, prefix, None);
        let state = self.store.state()?;
        Ok(self
            .merged(&state, &bounds)
            .filter(|(_, r)| r.is_some())
            .count() as u64)
    }
}

impl WriteTxn for MemWrite<'_> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        validate_table(table)?;
        self.last_revision += 1;
        let rec = Record {
            revision: self.last_revision,
            value: value.to_vec(),
        };
        self.overlay.insert(composite_key(table, key), Some(rec));
        Ok(self.last_revision)
    }

    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool, StoreError> {
        let existed = self.get(table, key)?.is_some();
        if existed {
            self.overlay.insert(composite_key(table, key), None);
        }
        Ok(existed)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let this = *self;
        if this.overlay.is_empty() {
            return Ok(());
        }
        let mut state = this.store.state_mut()?;
        let seq = state.committed + 1;
        let oldest = state.oldest_reader();
        for (key, rec) in this.overlay {
            let versions = state.map.entry(key.clone()).or_default();
            versions.push(Version { seq, rec });
            let again = State::prune(versions, oldest);
            if versions.is_empty() {
                state.map.remove(&key);
            }
            if again {
                state.gc_pending.insert(key);
            }
        }
        state.committed = seq;
        state.last_revision = this.last_revision;
        state.sweep();
        Ok(())
    }
}

impl MetaStore for MemoryMeta {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError> {
        let mut state = self.state_mut()?;
        let seq = state.committed;
        *state.readers.entry(seq).or_insert(0) += 1;
        Ok(Box::new(MemRead { store: self, seq }))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        Ok(Box::new(self.begin_write()?))
    }

    fn wipe(&self) -> Result<(), StoreError> {
        // A commit that deletes every live key, so open readers keep their snapshot.
        let mut txn = self.begin_write()?;
        {
            let state = self.state()?;
            let seq = txn.seq;
            txn.overlay = state
                .map
                .iter()
                .filter(|(_, vs)| State::visible(vs, seq).is_some())
                .map(|(k, _)| (k.clone(), None))
                .collect();
        }
        Box::new(txn).commit()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(m: &MemoryMeta) -> usize {
        m.state.read().unwrap().map.values().map(Vec::len).sum()
    }

    #[test]
    fn old_versions_are_pruned_once_no_reader_needs_them() {
        let m = MemoryMeta::new();
        let put = |k: &[u8], v: &[u8]| {
            let mut w = m.write().unwrap();
            w.put("t", k, v).unwrap();
            w.commit().unwrap();
        };
        put(b"a", b"1");
        put(b"b", b"1");
        let reader = m.read().unwrap();
        for i in 0..10u8 {
            put(b"a", &[i]);
        }
        let mut w = m.write().unwrap();
        w.delete("t", b"b").unwrap();
        w.commit().unwrap();
        assert!(versions(&m) > 2, "the reader's versions are kept");
        assert_eq!(reader.get("t", b"a").unwrap().unwrap().value, b"1");
        assert!(reader.get("t", b"b").unwrap().is_some());
        drop(reader);
        put(b"c", b"1");
        // a's newest, c; b's tombstone is gone.
        assert_eq!(versions(&m), 2);
        assert!(m.state.read().unwrap().gc_pending.is_empty());
        assert!(m.state.read().unwrap().readers.is_empty());
    }
}
