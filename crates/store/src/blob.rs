//! The blob store: immutable objects (snapshot blocks, backups) under relative, validated keys
//! such as `ap-northeast-1/blocks/ab/cdef…`. A key is checked before it becomes a path, so no key
//! can leave the store's directory.

use crate::error::{NameKind, StoreError};

/// The longest blob key accepted.
pub const MAX_BLOB_KEY: usize = 1024;
/// The longest segment (between `/`) of a blob key.
pub const MAX_BLOB_SEGMENT: usize = 255;

/// Immutable objects addressed by key. `put` is durable before it returns `Ok`.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any object there, atomically: a reader sees the old
    /// object or the whole new one, and a crash leaves one of them.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// Stores `bytes` under `key`, where no object is yet (fails if one is), durable before it
    /// returns `Ok` — without `put`'s atomic replace, which costs the file store a rename and a
    /// second journal commit. A crash (or error) before it returns may leave part of the
    /// object under `key`, so it is only for keys nothing refers to until it has returned:
    /// fresh, never reused keys such as snapshot blocks'. Such leftovers are orphans.
    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if self.exists(key)? {
            return Err(StoreError::io(
                "write blob",
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        self.put(key, bytes)
    }

    /// Stores `bytes` as a new object in directory `dir` (a key prefix without the trailing
    /// `/`) under a key the store may choose, durable before it returns; returns the key. Like
    /// `put_new`, a crash before it returns may leave an orphan. Stores that do not choose keys
    /// use `{dir}/{name}` (`name` must be fresh, as for `put_new`); the file store packs large
    /// objects into slots of pre-written segment files (`{dir}/={segment}/{slot}`), which
    /// spares the file system an inode and a journal commit per object.
    fn put_fresh(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let key = format!("{dir}/{name}");
        self.put_new(&key, bytes)?;
        Ok(key)
    }

    /// `put_fresh` of an object of `len` bytes that `fill` writes (the whole slice it is given,
    /// once): a store that copies an object into a buffer of its own (the file store's
    /// O_DIRECT slot buffer) has it made there, sparing a copy. If `fill` fails, nothing is
    /// stored and its error is returned.
    fn put_fresh_with(
        &self,
        dir: &str,
        name: &str,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), StoreError>,
    ) -> Result<String, StoreError> {
        let mut bytes = vec![0; len];
        fill(&mut bytes)?;
        self.put_fresh(dir, name, &bytes)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `len` bytes from `offset` (fewer at the end of the object; none past it).
    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError>;

    /// The object's size, None if absent.
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.size(key)?.is_some())
    }

    /// Removes the object; true if it was there.
    fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Every key starting with `prefix` (a plain string prefix, not only whole segments), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Removes every object (dev-mode reset).
    fn wipe(&self) -> Result<(), StoreError>;

    fn kind(&self) -> &'static str;
}

fn segment_ok(seg: &str) -> Result<(), &'static str> {
    if seg.is_empty() {
        return Err("empty segment (leading, trailing or doubled '/')");
    }
    if seg.len() > MAX_BLOB_SEGMENT {
        return Err("segment longer than 255 bytes");
    }
    if seg.starts_with('.') {
        return Err("segment starts with '.' (reserved for temporary files; no '.' or '..')");
    }
    if !seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'='))
    {
        return Err("only A-Z a-z 0-9 _ . - = and '/' between segments are allowed");
    }
    Ok(())
}

/// Keys: 1..=1024 bytes, segments separated by single `/`, each 1..=255 bytes of
/// `[A-Za-z0-9_.=-]` not starting with `.`. So no absolute paths, no `.`/`..`, no backslashes.
pub fn validate_blob_key(key: &str) -> Result<(), StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidName {
            kind: NameKind::BlobKey,
            name: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_BLOB_KEY {
        return bad("longer than 1024 bytes");
    }
    for seg in key.split('/') {
        if let Err(reason) = segment_ok(seg) {
            return bad(reason);
        }
    }
    Ok(())
}

/// Prefixes: empty, or a key, or a key followed by `/`, or any of those cut inside its last
/// segment (so `abc/de` matches `abc/def`).
pub fn validate_blob_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let bad = |reason| {
        Err(StoreError::InvalidName {
            kind: NameKind::BlobPrefix,
            name: prefix.to_owned(),
            reason,
        })
    };
    if prefix.len() > MAX_BLOB_KEY {
        return bad("longer than 1024 bytes");
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    for seg in body.split('/') {
        if let Err(reason) = segment_ok(seg) {
            return bad(reason);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "ap-northeast-1/blocks/ab/cdef0123",
            "x/y.z",
            "a=b/c_d-e",
        ] {
            assert!(validate_blob_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/abs", "a/", "a//b", "..", "a/../b", "./a", "a/.", ".hidden", "a\\b", "a b",
            "a/\0", "é", "C:/x", "a/.tmp.x",
        ] {
            assert!(validate_blob_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_blob_key(&"a".repeat(256)).is_err());
        assert!(validate_blob_key(&["a"; 600].join("/")).is_err());
    }

    #[test]
    fn prefixes() {
        for ok in ["", "a", "a/", "ap-northeast-1/blocks/a"] {
            assert!(validate_blob_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["/", "/a", "../", "a//", "a/../", ".", "a/.t"] {
            assert!(validate_blob_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
