//! The metadata store: named tables of byte keys → byte values, each value carrying a
//! store-maintained revision, read through consistent snapshots and written through serialized
//! transactions. Domain crates use it as `Arc<dyn MetaStore>`; the traits are object-safe so the
//! server can pick a backend at run time.
//!
//! Revisions come from one counter per store that grows with every put, so a key that is
//! deleted and created again never gets back an old revision (no ABA for `put_if`). Revision 0
//! means "absent".

use crate::error::{NameKind, StoreError};
use crate::table::Table;
use crate::txn::{ReadTxn, WriteTxn};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest table name accepted.
pub const MAX_TABLE_NAME: usize = 128;

/// The table that holds leases. Names starting with `__` are reserved for the store.
pub const LEASE_TABLE: &str = "__leases";

/// A metadata store backend. Holding a read transaction while opening a write transaction is
/// fine; opening a second write transaction on a thread that holds one blocks forever.
pub trait MetaStore: Send + Sync {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError>;

    /// Waits until no other write transaction is open.
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError>;

    /// Removes every table (dev-mode reset). Revisions keep growing afterwards.
    fn wipe(&self) -> Result<(), StoreError>;

    /// "memory" or "embedded", for logs and the health endpoint.
    fn kind(&self) -> &'static str;

    /// Takes or renews the lease `name` for `holder` until `now + ttl`. Succeeds when the lease
    /// is free, expired at `now`, or already held by `holder`.
    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut txn = self.write()?;
        if let Some(current) = read_lease(&*txn, name)? {
            if current.holder != holder && current.expires_at > now {
                return Ok(false);
            }
        }
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let expires_at = now
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let stored = StoredLease {
            holder: holder.to_owned(),
            expires_at_ms: expires_at.timestamp_millis(),
        };
        LEASES.put(&mut *txn, name.as_bytes(), &stored)?;
        txn.commit()?;
        Ok(true)
    }

    /// Gives up the lease if `holder` holds it; true if it did.
    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let mut txn = self.write()?;
        match read_lease(&*txn, name)? {
            Some(current) if current.holder == holder => {
                txn.delete(LEASE_TABLE, name.as_bytes())?;
                txn.commit()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The current holder of a lease, expired or not.
    fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let txn = self.read()?;
        read_lease(&*txn, name)
    }
}

/// A lease as stored. `revision` changes on every take or renewal, so a worker can use it as a
/// fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
    pub revision: u64,
}

const LEASES: Table<StoredLease> = Table::new(LEASE_TABLE);

#[derive(Serialize, Deserialize)]
struct StoredLease {
    holder: String,
    expires_at_ms: i64,
}

crate::first_version!(StoredLease);

fn read_lease(txn: &dyn ReadTxn, name: &str) -> Result<Option<Lease>, StoreError> {
    let Some((revision, stored)) = LEASES.get_revision(txn, name.as_bytes())? else {
        return Ok(None);
    };
    let expires_at = DateTime::<Utc>::from_timestamp_millis(stored.expires_at_ms)
        .ok_or_else(|| StoreError::corrupt("lease", "expiry out of range"))?;
    Ok(Some(Lease {
        holder: stored.holder,
        expires_at,
        revision,
    }))
}

/// Runs `f` in a write transaction and commits it, retrying up to a few times when the commit
/// reports [`StoreError::Conflict`] (optimistic backends). An error returned by `f` aborts the
/// transaction and is returned as is.
pub fn transact<R, E>(
    store: &dyn MetaStore,
    mut f: impl FnMut(&mut dyn WriteTxn) -> Result<R, E>,
) -> Result<R, E>
where
    E: From<StoreError>,
{
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        let mut txn = store.write()?;
        let out = f(&mut *txn)?;
        match txn.commit() {
            Ok(()) => return Ok(out),
            Err(e) if e.is_conflict() && attempt < ATTEMPTS => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Table names: 1..=128 characters of `[A-Za-z0-9_.-]`. They never contain a 0 byte, which the
/// backends use to separate table from key.
pub fn validate_table(name: &str) -> Result<(), StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidName {
            kind: NameKind::Table,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_TABLE_NAME {
        return bad("longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return bad("only A-Z a-z 0-9 _ . - are allowed");
    }
    Ok(())
}

/// The key under which backends keep (table, key): `table 0x00 key`. Table names never hold a
/// 0 byte, so one table's keys sort together and in key order.
pub(crate) fn composite_key(table: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(table.len() + 1 + key.len());
    k.extend_from_slice(table.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

/// The bounds of a scan over composite keys: `(start, excluded_start, end)` where the range is
/// `start..end` (`end` None = unbounded) and `start` itself is skipped when `excluded_start`.
pub(crate) struct ScanBounds {
    pub start: Vec<u8>,
    pub skip_start: bool,
    pub end: Option<Vec<u8>>,
    pub table_len: usize,
}

pub(crate) fn scan_bounds(table: &str, prefix: &[u8], start_after: Option<&[u8]>) -> ScanBounds {
    let lower = composite_key(table, prefix);
    let end = prefix_successor(&lower);
    let table_len = table.len() + 1;
    match start_after {
        Some(after) if after >= prefix => ScanBounds {
            start: composite_key(table, after),
            skip_start: true,
            end,
            table_len,
        },
        _ => ScanBounds {
            start: lower,
            skip_start: false,
            end,
            table_len,
        },
    }
}

/// The smallest byte string greater than every string starting with `p`, or None.
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}
