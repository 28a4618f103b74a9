//! The one error type of the store. Backends map their own failures into it on purpose: a
//! checksum or decoding failure is [`StoreError::Corrupt`], an optimistic-concurrency failure is
//! [`StoreError::Conflict`], and bad names are rejected before they reach a file system or table.

use std::fmt;
use std::io;

/// What a name was meant to be, for [`StoreError::InvalidName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Table,
    BlobKey,
    BlobPrefix,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Table => "table name",
            NameKind::BlobKey => "blob key",
            NameKind::BlobPrefix => "blob prefix",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a different revision than expected (0 = absent), or an
    /// optimistic backend could not serialize the transaction.
    #[error("conflict on {table}/{key_hex}: expected revision {expected}, found {actual}")]
    Conflict {
        table: String,
        key_hex: String,
        expected: u64,
        actual: u64,
    },

    /// Stored bytes failed a checksum, a length check or decoding.
    #[error("corrupt data in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },

    /// A table name, blob key or blob prefix was rejected (never reaches a path or table).
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        kind: NameKind,
        name: String,
        reason: &'static str,
    },

    /// A value could not be serialized into a record.
    #[error("cannot encode record: {detail}")]
    Encode { detail: String },

    /// An operating-system I/O failure (file system, fsync).
    #[error("I/O error during {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// Any other backend failure (lock poisoned, database already open, a previous I/O error
    /// that left the database needing recovery).
    #[error("storage backend failure: {detail}")]
    Backend { detail: String },
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    pub(crate) fn conflict(table: &str, key: &[u8], expected: u64, actual: u64) -> Self {
        StoreError::Conflict {
            table: table.to_owned(),
            key_hex: hex(key),
            expected,
            actual,
        }
    }

    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        StoreError::Io { op, source }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn backend(detail: impl Into<String>) -> Self {
        StoreError::Backend {
            detail: detail.into(),
        }
    }

    pub(crate) fn poisoned() -> Self {
        StoreError::backend("a lock was poisoned by a panicking thread")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn from_redb_storage(e: redb::StorageError) -> StoreError {
    match e {
        redb::StorageError::Corrupted(detail) => StoreError::corrupt("meta.redb", detail),
        redb::StorageError::Io(source) => StoreError::io("meta.redb", source),
        other => StoreError::backend(other.to_string()),
    }
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        from_redb_storage(e)
    }
}

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::Storage(s) => from_redb_storage(s),
            other => StoreError::backend(other.to_string()),
        }
    }
}

impl From<redb::TransactionError> for StoreError {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => from_redb_storage(s),
            other => StoreError::backend(other.to_string()),
        }
    }
}

impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        match e {
            redb::TableError::Storage(s) => from_redb_storage(s),
            other => StoreError::backend(other.to_string()),
        }
    }
}

impl From<redb::CommitError> for StoreError {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => from_redb_storage(s),
            other => StoreError::backend(other.to_string()),
        }
    }
}
