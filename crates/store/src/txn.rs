//! Transactions over the metadata store's tables: a [`ReadTxn`] sees a consistent snapshot of
//! every table, a [`WriteTxn`] is the store's one open write transaction. These are the lowest
//! layer every table goes through: the backends implement them, typed tables (`Table`) read
//! and write records through them, and the store that opens them (`MetaStore`) sits above.

use crate::error::StoreError;

/// A stored value and the revision of the write that stored it (never 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub revision: u64,
    pub value: Vec<u8>,
}

/// One page of a [`ReadTxn::scan`]: key and record, in key order.
pub type ScanEntry = (Vec<u8>, Record);

/// A consistent snapshot of every table: later commits are invisible to it.
pub trait ReadTxn: Send {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError>;

    /// Entries of `table` whose key starts with `prefix`, in key order, starting strictly after
    /// `start_after` when given (pass the last key of the previous page), at most `limit`.
    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError>;

    /// Number of entries of `table` whose key starts with `prefix`.
    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError>;

    /// The revision of `key`, 0 when absent.
    fn revision(&self, table: &str, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self.get(table, key)?.map_or(0, |r| r.revision))
    }
}

/// The one open write transaction of a store: it sees its own writes; nothing is visible to
/// others until [`WriteTxn::commit`]; dropping it without committing aborts it.
pub trait WriteTxn: ReadTxn {
    /// Stores `value` and returns its new revision.
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<u64, StoreError>;

    /// Stores `value` only if the current revision is `expected` (0: the key must be absent);
    /// otherwise [`StoreError::Conflict`] and nothing changes.
    fn put_if(
        &mut self,
        table: &str,
        key: &[u8],
        expected: u64,
        value: &[u8],
    ) -> Result<u64, StoreError> {
        let actual = self.revision(table, key)?;
        if actual != expected {
            return Err(StoreError::conflict(table, key, expected, actual));
        }
        self.put(table, key, value)
    }

    /// Removes `key`; true if it was there.
    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool, StoreError>;

    /// Removes `key` only if its revision is `expected`; [`StoreError::Conflict`] otherwise.
    /// `expected` 0 with an absent key succeeds and returns false.
    fn delete_if(&mut self, table: &str, key: &[u8], expected: u64) -> Result<bool, StoreError> {
        let actual = self.revision(table, key)?;
        if actual != expected {
            return Err(StoreError::conflict(table, key, expected, actual));
        }
        if actual == 0 {
            return Ok(false);
        }
        self.delete(table, key)
    }

    /// Makes every write of the transaction visible and, on a durable backend, on stable storage
    /// before returning `Ok`.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
