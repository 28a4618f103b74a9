//! [`EmbeddedMeta`]: the MetaStore on redb.
//!
//! All tables live in one redb table `kv` under composite keys `table 0x00 key`, so tables need
//! no creation and a scan is one range. A value is the 8-byte big-endian revision followed by
//! the caller's bytes. The last handed-out revision and the format version live in `sys`.
//!
//! Durability: with [`CommitMode::Group`] (the default) a transaction commits to redb without
//! syncing, then waits until some thread has run a synced (`Durability::Immediate`) empty commit
//! that started after it; one such sync covers every transaction committed before it, so
//! concurrent writers share an fsync. With [`CommitMode::Immediate`] each transaction syncs its
//! own commit. Either way `commit` returns `Ok` only once the data is on stable storage. Readers
//! may see a transaction between its commit and its sync (it is not yet acknowledged then).

use crate::error::StoreError;
use crate::meta::{composite_key, scan_bounds, validate_table, MetaStore, ScanBounds};
use crate::txn::{ReadTxn, Record, ScanEntry, WriteTxn};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const SYS: TableDefinition<&str, u64> = TableDefinition::new("sys");
const SYS_FORMAT: &str = "format";
const SYS_REVISION: &str = "revision";

/// The layout version written to `sys/format` (FORMAT.md).
pub const META_FORMAT: u64 = 1;

/// How commits reach stable storage; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Concurrent commits share one fsync.
    #[default]
    Group,
    /// Every commit runs its own fsync.
    Immediate,
}

/// The redb [`MetaStore`].
pub struct EmbeddedMeta {
    db: Database,
    mode: CommitMode,
    group: super::group::GroupSync,
}

impl std::fmt::Debug for EmbeddedMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedMeta")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// redb's page cache. Its default (1 GiB) would dominate the server's memory; hot records live in
/// the domains' own caches (KMS keys), so a small page cache is enough.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl EmbeddedMeta {
    /// Opens or creates the database file at `path`.
    pub fn open(path: &Path, mode: CommitMode) -> Result<Self, StoreError> {
        let existed = path.exists();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        if !existed {
            // Make the new file's directory entry durable too.
            if let Some(dir) = path.parent() {
                crate::embedded::blob::sync_dir(dir)?;
            }
        }
        Self::init(db, mode)
    }

    /// Opens or creates a database over any redb storage backend (tests use
    /// [`crate::fault::FaultBackend`]).
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        mode: CommitMode,
    ) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend)?;
        Self::init(db, mode)
    }

    fn init(db: Database, mode: CommitMode) -> Result<Self, StoreError> {
        let txn = db.begin_write()?;
        {
            let mut sys = txn.open_table(SYS)?;
            let format = sys.get(SYS_FORMAT)?.map(|v| v.value());
            match format {
                None => {
                    sys.insert(SYS_FORMAT, META_FORMAT)?;
                }
                Some(META_FORMAT) => {}
                Some(other) => {
                    return Err(StoreError::corrupt(
                        "meta.redb",
                        format!("unknown layout version {other} (this build reads {META_FORMAT})"),
                    ))
                }
            }
            txn.open_table(KV)?;
        }
        let mut txn = txn;
        txn.set_durability(Durability::Immediate);
        txn.commit()?;
        Ok(EmbeddedMeta {
            db,
            mode,
            group: super::group::GroupSync::default(),
        })
    }

    fn begin(&self) -> Result<EmbWrite<'_>, StoreError> {
        let txn = self.db.begin_write()?;
        let last_revision = {
            let sys = txn.open_table(SYS)?;
            let v = sys.get(SYS_REVISION)?.map(|v| v.value());
            v.unwrap_or(0)
        };
        Ok(EmbWrite {
            store: self,
            txn,
            last_revision,
            dirty: false,
        })
    }

    /// Commits `txn` (which holds redb's writer lock) per the commit mode.
    fn finish(&self, mut txn: redb::WriteTransaction) -> Result<(), StoreError> {
        match self.mode {
            CommitMode::Immediate => {
                txn.set_durability(Durability::Immediate);
                txn.commit()?;
                Ok(())
            }
            CommitMode::Group => {
                // Taken while this transaction holds the writer lock, so a sync whose own
                // transaction starts later sees this commit finished.
                let ticket = self.group.issue();
                txn.set_durability(Durability::None);
                txn.commit()?;
                self.group
                    .wait_durable(ticket, |issued| sync_meta(issued, &self.db))
            }
        }
    }
}

/// Makes an empty synced commit; returns the last ticket it covers (every commit issued
/// before it took the writer lock).
fn sync_meta(issued: &AtomicU64, db: &Database) -> Result<u64, StoreError> {
    let mut txn = db.begin_write()?;
    let target = issued.load(Ordering::SeqCst);
    txn.set_durability(Durability::Immediate);
    txn.commit()?;
    Ok(target)
}

fn decode_value(bytes: &[u8]) -> Result<Record, StoreError> {
    match bytes.split_first_chunk::<8>() {
        Some((rev, value)) => {
            let revision = u64::from_be_bytes(*rev);
            if revision == 0 {
                return Err(StoreError::corrupt("meta.redb kv", "revision 0 stored"));
            }
            Ok(Record {
                revision,
                value: value.to_vec(),
            })
        }
        None => Err(StoreError::corrupt(
            "meta.redb kv",
            format!("value of {} bytes", bytes.len()),
        )),
    }
}

fn encode_value(revision: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&revision.to_be_bytes());
    v.extend_from_slice(value);
    v
}

type ByteRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

fn range_bounds(b: &ScanBounds) -> Option<ByteRange<'_>> {
    if b.end
        .as_deref()
        .is_some_and(|end| b.start.as_slice() >= end)
    {
        return None;
    }
    let lower = if b.skip_start {
        Bound::Excluded(b.start.as_slice())
    } else {
        Bound::Included(b.start.as_slice())
    };
    let upper = b.end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    Some((lower, upper))
}

fn get_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    t: &str,
    key: &[u8],
) -> Result<Option<Record>, StoreError> {
    validate_table(t)?;
    match table.get(composite_key(t, key).as_slice())? {
        Some(v) => Ok(Some(decode_value(v.value())?)),
        None => Ok(None),
    }
}

fn scan_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    t: &str,
    prefix: &[u8],
    start_after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<ScanEntry>, StoreError> {
    validate_table(t)?;
    let bounds = scan_bounds(t, prefix, start_after);
    let Some(range) = range_bounds(&bounds) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    for item in table.range::<&[u8]>(range)? {
        let (k, v) = item?;
        let key = k
            .value()
            .get(bounds.table_len..)
            .unwrap_or_default()
            .to_vec();
        out.push((key, decode_value(v.value())?));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

fn count_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    t: &str,
    prefix: &[u8],
) -> Result<u64, StoreError> {
    validate_table(t)?;
    let bounds = scan_bounds(t, prefix, None);
    let Some(range) = range_bounds(&bounds) else {
        return Ok(0);
    };
    let mut n = 0;
    for item in table.range::<&[u8]>(range)? {
        item?;
        n += 1;
    }
    Ok(n)
}

struct EmbRead {
    // None when the database has no `kv` table yet (cannot happen after `init`, kept for safety).
    table: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl ReadTxn for EmbRead {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError> {
        match &self.table {
            Some(t) => get_in(t, table, key),
            None => validate_table(table).map(|()| None),
        }
    }

    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError> {
        match &self.table {
            Some(t) => scan_in(t, table, prefix, start_after, limit),
            None => validate_table(table).map(|()| Vec::new()),
        }
    }

    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError> {
        match &self.table {
            Some(t) => count_in(t, table, prefix),
            None => validate_table(table).map(|()| 0),
        }
    }
}

struct EmbWrite<'a> {
    store: &'a EmbeddedMeta,
    txn: redb::WriteTransaction,
    last_revision: u64,
    dirty: bool,
}

impl ReadTxn for EmbWrite<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError> {
        get_in(&self.txn.open_table(KV)?, table, key)
    }

    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError> {
        scan_in(&self.txn.open_table(KV)?, table, prefix, start_after, limit)
    }

    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError> {
        count_in(&self.txn.open_table(KV)?, table, prefix)
    }
}

impl WriteTxn for EmbWrite<'_> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        validate_table(table)?;
        let revision = self.last_revision + 1;
        self.txn.open_table(KV)?.insert(
            composite_key(table, key).as_slice(),
            encode_value(revision, value).as_slice(),
        )?;
        self.last_revision = revision;
        self.dirty = true;
        Ok(revision)
    }

    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool, StoreError> {
        validate_table(table)?;
        let removed = self
            .txn
            .open_table(KV)?
            .remove(composite_key(table, key).as_slice())?
            .is_some();
        self.dirty |= removed;
        Ok(removed)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let EmbWrite {
            store,
            txn,
            last_revision,
            dirty,
        } = *self;
        if !dirty {
            txn.abort()?;
            return Ok(());
        }
        txn.open_table(SYS)?.insert(SYS_REVISION, last_revision)?;
        store.finish(txn)
    }
}

impl MetaStore for EmbeddedMeta {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(KV) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Box::new(EmbRead { table }))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        Ok(Box::new(self.begin()?))
    }

    fn wipe(&self) -> Result<(), StoreError> {
        let w = self.begin()?;
        w.txn.delete_table(KV)?;
        w.txn.open_table(KV)?;
        let EmbWrite {
            store,
            txn,
            last_revision,
            ..
        } = w;
        txn.open_table(SYS)?.insert(SYS_REVISION, last_revision)?;
        store.finish(txn)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}
