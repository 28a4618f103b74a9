//! [`FileBlobs`]: one file per blob under a root directory, the key being the relative path.
//!
//! A put writes `.tmp.<name>.<pid>.<n>` beside the target, fsyncs it, renames it over the target
//! and fsyncs the directory, so after a crash the key holds the old object or the whole new one.
//! Temporary files start with `.`, which no key segment may, so `list` never returns them and
//! `open` removes any left by a crash.

use crate::blob::{validate_blob_key, validate_blob_prefix, BlobStore};
use crate::error::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const TEMP_PREFIX: &str = ".tmp.";

/// Fsyncs a directory so entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", e))
}

#[derive(Debug)]
pub struct FileBlobs {
    root: PathBuf,
    counter: AtomicU64,
}

impl FileBlobs {
    /// Opens (creating if needed) the blob directory and removes temporary files a crash left.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        if !root.is_dir() {
            fs::create_dir_all(root).map_err(|e| StoreError::io("create blob directory", e))?;
            if let Some(parent) = root.parent() {
                sync_dir(parent)?;
            }
        }
        let store = FileBlobs {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        };
        store.remove_temp_files(root)?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn remove_temp_files(&self, dir: &Path) -> Result<(), StoreError> {
        let entries = fs::read_dir(dir).map_err(|e| StoreError::io("read blob directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("read blob directory", e))?;
            let path = entry.path();
            let ty = entry
                .file_type()
                .map_err(|e| StoreError::io("read blob directory", e))?;
            if ty.is_dir() {
                self.remove_temp_files(&path)?;
            } else if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                tracing::info!(path = %path.display(), "removing temporary blob file left by a crash");
                fs::remove_file(&path)
                    .map_err(|e| StoreError::io("remove temporary blob file", e))?;
            }
        }
        Ok(())
    }

    /// The path of a validated key.
    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_blob_key(key)?;
        let mut p = self.root.clone();
        p.extend(key.split('/'));
        Ok(p)
    }

    /// Creates the directories of `key`'s parent that are missing, fsyncing each new entry.
    fn ensure_parents(&self, key: &str) -> Result<PathBuf, StoreError> {
        let mut dir = self.root.clone();
        let segments: Vec<&str> = key.split('/').collect();
        let parents = segments.len().saturating_sub(1);
        for seg in segments.iter().take(parents) {
            let next = dir.join(seg);
            match fs::create_dir(&next) {
                Ok(()) => sync_dir(&dir)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io("create blob directory", e)),
            }
            dir = next;
        }
        Ok(dir)
    }

    fn write_temp(temp: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(temp)?;
        f.write_all(bytes)?;
        f.sync_all()
    }

    fn collect(
        &self,
        dir: &Path,
        rel: &str,
        prefix: &str,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                return Ok(())
            }
            Err(e) => return Err(StoreError::io("list blobs", e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list blobs", e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // Descend only where keys can still match the prefix.
            let could_match = key.starts_with(prefix) || prefix.starts_with(&format!("{key}/"));
            if !could_match {
                continue;
            }
            let ty = entry
                .file_type()
                .map_err(|e| StoreError::io("list blobs", e))?;
            if ty.is_dir() {
                self.collect(&entry.path(), &key, prefix, out)?;
            } else if ty.is_file() && key.starts_with(prefix) && validate_blob_key(&key).is_ok() {
                out.push(key);
            }
        }
        Ok(())
    }
}

fn not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

impl BlobStore for FileBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let dir = self.ensure_parents(key)?;
        let name = key.rsplit('/').next().unwrap_or(key);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!("{TEMP_PREFIX}{name}.{}.{n}", std::process::id()));
        let written = Self::write_temp(&temp, bytes).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(StoreError::io("write blob", e));
        }
        sync_dir(&dir)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::io("read blob", e)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(StoreError::io("read blob", e)),
        };
        let read = (|| {
            let size = f.metadata()?.len();
            if !f.metadata()?.is_file() {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(
                len.min(usize::try_from(size.saturating_sub(offset)).unwrap_or(len)),
            );
            if offset < size {
                f.seek(SeekFrom::Start(offset))?;
                f.take(len as u64).read_to_end(&mut out)?;
            }
            Ok(Some(out))
        })();
        read.map_err(|e| StoreError::io("read blob", e))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::io("stat blob", e)),
        }
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(false),
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(StoreError::io("stat blob", e)),
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(StoreError::io("delete blob", e)),
        }
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(true)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_blob_prefix(prefix)?;
        let mut out = Vec::new();
        self.collect(&self.root, "", prefix, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn wipe(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.root).map_err(|e| StoreError::io("wipe blobs", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("wipe blobs", e))?;
            let ty = entry
                .file_type()
                .map_err(|e| StoreError::io("wipe blobs", e))?;
            let r = if ty.is_dir() {
                fs::remove_dir_all(entry.path())
            } else {
                fs::remove_file(entry.path())
            };
            r.map_err(|e| StoreError::io("wipe blobs", e))?;
        }
        sync_dir(&self.root)
    }

    fn kind(&self) -> &'static str {
        "files"
    }
}
