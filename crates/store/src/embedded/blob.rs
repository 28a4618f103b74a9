//! [`FileBlobs`]: one file per blob under a root directory, the key being the relative path.
//!
//! A put writes `.tmp.<name>.<pid>.<n>` beside the target (large blobs mostly with O_DIRECT, see
//! `direct.rs`), fsyncs it, renames it over the target and fsyncs the directory, so after a crash
//! the key holds the old object or the whole new one. `put_new` (fresh keys only) writes the
//! target itself and fsyncs it, skipping the rename, and the directory fsync where the file
//! system needs none (see [`fsync_keeps_new_entries`]).
//! Temporary files start with `.`, which no key segment may, so `list` never returns them and
//! `open` removes any left by a crash.

use crate::blob::{validate_blob_key, validate_blob_prefix, BlobStore};
use crate::direct::{self, ALIGN};
use crate::error::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const TEMP_PREFIX: &str = ".tmp.";
/// Blobs from this size on (snapshot blocks) bypass the page cache.
const DIRECT_MIN: usize = 64 * 1024;

/// Fsyncs a directory so entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    direct::sync_dir(dir).map_err(|e| StoreError::io("fsync directory", e))
}

#[derive(Debug)]
pub struct FileBlobs {
    root: PathBuf,
    counter: AtomicU64,
    /// Large fresh objects live in slots of segment files (see [`super::packs`]).
    #[cfg(target_os = "linux")]
    packs: super::packs::Packs,
    /// See [`fsync_keeps_new_entries`]; measured once, at open.
    fsync_keeps_new_entries: bool,
}

/// Whether fsync of a newly created file under `root` also makes its directory entry durable,
/// so `put_new` can skip the directory fsync (which, with other puts creating files in the same
/// directory, forces a journal commit of its own: ~0.4 ms per 512 KiB block here). True on ext4
/// and XFS: ext4 creates the inode and its entry in one journal handle and fsync waits for the
/// commit of the inode's last transaction, which jbd2 commits after every earlier one (without
/// a journal, ext4's fsync syncs the parent of a new inode itself); XFS forces its log up to the
/// inode's last change, which includes the create. Elsewhere (tmpfs, btrfs, NFS, FUSE…): false.
#[cfg(target_os = "linux")]
fn fsync_keeps_new_entries(root: &Path) -> bool {
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
    match rustix::fs::statfs(root) {
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        Ok(st) => {
            i64::try_from(st.f_type).is_ok_and(|t| t == EXT4_SUPER_MAGIC || t == XFS_SUPER_MAGIC)
        }
        Err(_) => false,
    }
}

#[cfg(not(target_os = "linux"))]
fn fsync_keeps_new_entries(_: &Path) -> bool {
    false
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
            #[cfg(target_os = "linux")]
            packs: super::packs::Packs::new(),
            fsync_keeps_new_entries: fsync_keeps_new_entries(root),
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

    /// The path of a validated key that names a file of its own (not a packed object).
    fn file_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(key)?;
        #[cfg(target_os = "linux")]
        if super::packs::reserved(key) {
            return Err(StoreError::InvalidName {
                kind: crate::error::NameKind::BlobKey,
                name: key.to_owned(),
                reason:
                    "segments starting with '=' name packed objects, which only put_fresh makes",
            });
        }
        Ok(path)
    }

    /// A packed object's key: (segment file, directory key, segment number, slot).
    #[cfg(target_os = "linux")]
    fn packed<'k>(&self, key: &'k str) -> Result<Option<(PathBuf, &'k str, u64, u64)>, StoreError> {
        validate_blob_key(key)?;
        Ok(super::packs::parse_key(key).map(|(dir, n, slot)| {
            let mut p = self.root.clone();
            p.extend(key.split('/'));
            p.pop();
            (p, dir, n, slot)
        }))
    }

    #[cfg(not(target_os = "linux"))]
    fn packed<'k>(&self, _: &'k str) -> Result<Option<(PathBuf, &'k str, u64, u64)>, StoreError> {
        Ok(None)
    }

    /// A fresh object of `len` bytes for `{dir}/{name}` (checked as a file key): packed into a
    /// slot with what `fill` writes, when it fits one and the file system allows O_DIRECT;
    /// otherwise, before `fill` is called, the key to store it under as a file.
    fn pack(
        &self,
        dir: &str,
        name: &str,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), StoreError>,
    ) -> Result<Fresh, StoreError> {
        let key = format!("{dir}/{name}");
        self.file_path(&key)?;
        #[cfg(target_os = "linux")]
        if let Some(packed) = self.packs.put(
            dir,
            || self.ensure_parents(&format!("{dir}/segment")),
            len,
            fill,
        )? {
            return Ok(Fresh::Packed(packed));
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (len, fill);
        Ok(Fresh::AsFile(key))
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

    /// Creates `temp` (which must not exist) holding `bytes`, fsynced.
    fn write_temp(temp: &Path, bytes: &[u8]) -> io::Result<()> {
        let bulk = bytes.len() / ALIGN * ALIGN;
        if bulk >= DIRECT_MIN {
            match direct::write_new(temp, &bytes[..bulk]) {
                Ok(()) => {
                    // The unaligned tail through the page cache; the fsync covers both.
                    let mut f = OpenOptions::new().append(true).open(temp)?;
                    f.write_all(&bytes[bulk..])?;
                    return f.sync_all();
                }
                // No O_DIRECT here (tmpfs, some FUSE file systems): the buffered path.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => match fs::remove_file(temp) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
                Err(e) => return Err(e),
            }
        }
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
            } else if ty.is_file() && key.contains("/=") {
                // A segment file: its objects' keys go on with `/{slot}`.
                #[cfg(target_os = "linux")]
                if let Some(name) = key
                    .rsplit('/')
                    .next()
                    .filter(|n| super::packs::segment_number(n).is_some())
                {
                    let mut slots = Vec::new();
                    super::packs::Packs::list(&entry.path(), rel, name, &mut slots)
                        .map_err(|e| StoreError::io("list blobs", e))?;
                    out.extend(slots.into_iter().filter(|k| k.starts_with(prefix)));
                }
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

/// Where [`FileBlobs::pack`] put a fresh object, or where it goes.
enum Fresh {
    /// In a segment slot, under this key.
    Packed(String),
    /// Not packed: store it as a file under this key.
    AsFile(String),
}

impl BlobStore for FileBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.file_path(key)?;
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

    /// Written in place (O_EXCL): no rename, so one fsync of the new file makes it durable — on
    /// ext4 and XFS together with its directory entry ([`fsync_keeps_new_entries`]); elsewhere
    /// the directory is fsynced too.
    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.file_path(key)?;
        let dir = self.ensure_parents(key)?;
        if let Err(e) = Self::write_temp(&path, bytes) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                let _ = fs::remove_file(&path);
            }
            return Err(StoreError::io("write blob", e));
        }
        if self.fsync_keeps_new_entries {
            return Ok(());
        }
        sync_dir(&dir)
    }

    /// Large objects go into a segment slot ([`super::packs`]): one O_DIRECT write and a shared data sync;
    /// the rest (and every object where O_DIRECT is refused) into `{dir}/{name}` as `put_new`.
    fn put_fresh(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let mut copy = |buf: &mut [u8]| {
            buf.copy_from_slice(bytes);
            Ok(())
        };
        match self.pack(dir, name, bytes.len(), &mut copy)? {
            Fresh::Packed(key) => Ok(key),
            Fresh::AsFile(key) => self.put_new(&key, bytes).map(|()| key),
        }
    }

    fn put_fresh_with(
        &self,
        dir: &str,
        name: &str,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), StoreError>,
    ) -> Result<String, StoreError> {
        match self.pack(dir, name, len, &mut *fill)? {
            Fresh::Packed(key) => Ok(key),
            Fresh::AsFile(key) => {
                let mut bytes = vec![0; len];
                fill(&mut bytes)?;
                self.put_new(&key, &bytes).map(|()| key)
            }
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        #[cfg(target_os = "linux")]
        if let Some((path, _, _, slot)) = self.packed(key)? {
            return super::packs::Packs::get(&path, slot)
                .map_err(|e| StoreError::io("read blob", e));
        }
        let path = self.path(key)?;
        match direct::read(&path, DIRECT_MIN) {
            Ok(Some(bytes)) => return Ok(Some(bytes)),
            Ok(None) => {}
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(StoreError::io("read blob", e)),
        }
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::io("read blob", e)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        if self.packed(key)?.is_some() {
            return Ok(self.get(key)?.map(|all| {
                let from = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
                all[from..from.saturating_add(len).min(all.len())].to_vec()
            }));
        }
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
        #[cfg(target_os = "linux")]
        if let Some((path, _, _, slot)) = self.packed(key)? {
            return super::packs::Packs::size(&path, slot)
                .map_err(|e| StoreError::io("stat blob", e));
        }
        let path = self.path(key)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::io("stat blob", e)),
        }
    }

    /// A packed object without reading its slot ([`super::packs::Packs::exists`]).
    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        #[cfg(target_os = "linux")]
        if let Some((path, dir, n, slot)) = self.packed(key)? {
            return self
                .packs
                .exists(dir, &path, n, slot)
                .map_err(|e| StoreError::io("stat blob", e));
        }
        Ok(self.size(key)?.is_some())
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        #[cfg(target_os = "linux")]
        if let Some((path, dir, n, slot)) = self.packed(key)? {
            return self
                .packs
                .delete(dir, &path, n, slot)
                .map_err(|e| StoreError::io("delete blob", e));
        }
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
        #[cfg(target_os = "linux")]
        self.packs.reset();
        sync_dir(&self.root)
    }

    fn kind(&self) -> &'static str {
        "files"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large blobs (direct bulk + buffered tail) and small ones read back whole, on the temp
    /// directory's file system and on tmpfs (which refuses O_DIRECT: the buffered fallback).
    #[test]
    fn large_and_small_blobs_round_trip() {
        let dirs = [
            Some(tempfile::tempdir().unwrap()),
            tempfile::tempdir_in("/dev/shm").ok(),
        ];
        for dir in dirs.iter().flatten() {
            let blobs = FileBlobs::open(dir.path()).unwrap();
            for len in [
                0,
                17,
                DIRECT_MIN - 1,
                DIRECT_MIN,
                524_288,
                524_317,
                3 * ALIGN + 1,
            ] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let key = format!("r/blocks/lin-a/{len:010}-x");
                blobs.put(&key, &data).unwrap();
                assert_eq!(
                    blobs.get(&key).unwrap().unwrap(),
                    data,
                    "{len} bytes in {:?}",
                    dir.path()
                );
                blobs.put(&key, &data[..len / 2]).unwrap();
                assert_eq!(blobs.get(&key).unwrap().unwrap(), data[..len / 2]);
            }
            assert!(blobs.list("r/").unwrap().len() == 7);
            let temps = fs::read_dir(dir.path().join("r/blocks/lin-a"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(TEMP_PREFIX)
                })
                .count();
            assert_eq!(temps, 0);
        }
    }

    /// `put_new` stores fresh keys (direct and buffered, on disk and on tmpfs), refuses a key
    /// that exists without touching its object, and leaves no temporary files.
    #[test]
    fn put_new_creates_only() {
        let dirs = [
            Some(tempfile::tempdir().unwrap()),
            tempfile::tempdir_in("/dev/shm").ok(),
        ];
        for dir in dirs.iter().flatten() {
            let blobs = FileBlobs::open(dir.path()).unwrap();
            for len in [0, 17, 524_288, 524_317] {
                let data: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
                let key = format!("r/blocks/lin-b/{len:010}-y");
                blobs.put_new(&key, &data).unwrap();
                assert_eq!(
                    blobs.get(&key).unwrap().unwrap(),
                    data,
                    "{len} bytes in {:?}",
                    dir.path()
                );
                assert!(blobs.put_new(&key, b"other").is_err());
                assert_eq!(
                    blobs.get(&key).unwrap().unwrap(),
                    data,
                    "a refused put_new keeps the object"
                );
            }
            let names: Vec<String> = fs::read_dir(dir.path().join("r/blocks/lin-b"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), 4, "{names:?}");
        }
    }

    fn block(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + seed) as u8).collect()
    }

    /// Large fresh objects go into segment slots: they read back (whole, in ranges, by size),
    /// list, and delete; small ones (and everything on tmpfs) are files under their names.
    #[test]
    fn put_fresh_packs_large_objects() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let mut keys = Vec::new();
        for i in 0..20 {
            let data = block(524_317, i);
            let key = blobs
                .put_fresh("r/blocks", &format!("lin-a/{i:010}-x"), &data)
                .unwrap();
            assert!(
                key.starts_with("r/blocks/=00000001/") || key.starts_with("r/blocks/=00000002/"),
                "{key}"
            );
            keys.push((key, data));
        }
        let small = blobs.put_fresh("r/blocks", "lin-a/small", b"tiny").unwrap();
        assert_eq!(small, "r/blocks/lin-a/small");
        for (key, data) in &keys {
            assert!(blobs.get(key).unwrap().as_ref() == Some(data), "{key}");
            assert_eq!(blobs.size(key).unwrap(), Some(data.len() as u64));
            assert!(blobs.get_range(key, 100, 50).unwrap().unwrap() == data[100..150]);
        }
        let mut listed = blobs.list("r/").unwrap();
        let mut want: Vec<String> = keys
            .iter()
            .map(|(k, _)| k.clone())
            .chain([small.clone()])
            .collect();
        want.sort();
        listed.sort();
        assert_eq!(listed, want);
        assert_eq!(blobs.list(&keys[3].0).unwrap(), vec![keys[3].0.clone()]);
        // A slot never written, a segment that does not exist, and put/put_new on packed keys.
        assert_eq!(blobs.get("r/blocks/=00000001/0099").unwrap(), None);
        assert!(blobs.exists(&keys[5].0).unwrap());
        let (_, _, n, slot) = blobs.packed(&keys[19].0).unwrap().unwrap();
        assert!(
            !blobs
                .exists(&format!("r/blocks/={n:08}/{:04}", slot + 1))
                .unwrap(),
            "a slot not yet handed out"
        );
        assert!(
            !blobs.exists("r/blocks/=00000042/0000").unwrap()
                && !blobs.exists("r/blocks/=00000001/0099").unwrap()
        );
        assert_eq!(blobs.get("r/blocks/=00000042/0000").unwrap(), None);
        assert!(
            blobs.put(&keys[0].0, b"x").is_err()
                && blobs.put_new("r/blocks/=00000009/0001", b"x").is_err()
        );
        // Delete: the slot is gone (and punched), the others stay.
        assert!(blobs.delete(&keys[0].0).unwrap());
        assert!(!blobs.delete(&keys[0].0).unwrap());
        assert_eq!(blobs.get(&keys[0].0).unwrap(), None);
        assert!(!blobs.exists(&keys[0].0).unwrap(), "a punched slot");
        assert!(blobs.get(&keys[1].0).unwrap().as_ref() == Some(&keys[1].1));
        assert!(!blobs.list("").unwrap().contains(&keys[0].0));
        // tmpfs (packed where the kernel gives tmpfs O_DIRECT, else a file under its name).
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            let blobs = FileBlobs::open(shm.path()).unwrap();
            let key = blobs
                .put_fresh("r/blocks", "lin-a/0000000001-x", &keys[1].1)
                .unwrap();
            assert!(
                key == "r/blocks/lin-a/0000000001-x" || key == "r/blocks/=00000001/0000",
                "{key}"
            );
            assert!(blobs.get(&key).unwrap().as_ref() == Some(&keys[1].1));
        }
    }

    /// `put_fresh_with`: what `fill` writes is stored (packed or as a file); a `fill` that fails
    /// leaves nothing behind, and the next put gets the next slot.
    #[test]
    fn put_fresh_with_stores_what_fill_writes_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let refuse = |_: &mut [u8]| {
            Err(StoreError::Backend {
                detail: "refused".into(),
            })
        };
        for len in [524_317, 10] {
            let data = block(len, len);
            let key = blobs
                .put_fresh_with("r/b", &format!("n{len}"), len, &mut |buf| {
                    buf.copy_from_slice(&data);
                    Ok(())
                })
                .unwrap();
            assert!(blobs.get(&key).unwrap().unwrap() == data, "{key}");
            let err = blobs
                .put_fresh_with("r/b", &format!("bad{len}"), len, &mut refuse.clone())
                .unwrap_err();
            assert!(err.to_string().contains("refused"), "{err}");
        }
        let listed = blobs.list("").unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let next = blobs.put_fresh("r/b", "next", &block(524_317, 1)).unwrap();
        assert_eq!(
            next, "r/b/=00000001/0002",
            "the failed put's slot stays unused"
        );
        assert_eq!(blobs.get("r/b/=00000001/0001").unwrap(), None);
    }

    /// Segments emptied by deletes are removed once no put uses them; a reopened store starts a
    /// new segment, frees the unused slots of the old ones and keeps their objects.
    #[test]
    fn segments_are_reclaimed_and_numbered_on() {
        let dir = tempfile::tempdir().unwrap();
        let seg = |n: u64| dir.path().join(format!("r/b/={n:08}"));
        let mut keys = Vec::new();
        {
            let blobs = FileBlobs::open(dir.path()).unwrap();
            for i in 0..9 {
                keys.push(
                    blobs
                        .put_fresh("r/b", &format!("n{i}"), &block(300_000, i))
                        .unwrap(),
                );
            }
            // Segment 1 (8 slots) is full; segment 2 is current; 3 may be being made.
            for k in &keys[..8] {
                assert!(k.starts_with("r/b/=00000001/"), "{k}");
                assert!(blobs.delete(k).unwrap());
            }
            assert!(
                !seg(1).exists(),
                "an emptied segment no put will use is removed"
            );
            assert!(seg(2).exists());
        }
        let allocated =
            |p: &Path| std::os::unix::fs::MetadataExt::blocks(&fs::metadata(p).unwrap()) * 512;
        let before = allocated(&seg(2));
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let key = blobs
            .put_fresh("r/b", "again", &block(300_000, 99))
            .unwrap();
        let n: u64 = key.split('/').nth(2).unwrap()[1..].parse().unwrap();
        assert!(n >= 3, "{key}");
        assert!(
            allocated(&seg(2)) < before,
            "unused slots of the old segment are punched"
        );
        assert!(blobs.get(&keys[8]).unwrap().unwrap() == block(300_000, 8));
        assert!(blobs.get(&key).unwrap().unwrap() == block(300_000, 99));
        assert_eq!(blobs.list("").unwrap().len(), 2);
    }

    /// A key, once handed out, never names a later object in the same process: not after its
    /// segment was emptied and removed, not after a wipe (a collector deletes keys it listed
    /// earlier, docs/blob-collection.md).
    #[test]
    fn packed_keys_are_never_reused_in_a_process() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut put = |blobs: &FileBlobs, i: usize| {
            let key = blobs
                .put_fresh("r/b", &format!("n{i}"), &block(300_000, i))
                .unwrap();
            assert!(seen.insert(key.clone()), "{key} handed out twice");
            key
        };
        let first: Vec<String> = (0..8).map(|i| put(&blobs, i)).collect();
        put(&blobs, 8);
        for k in &first {
            blobs.delete(k).unwrap();
        }
        assert!(
            !dir.path().join("r/b/=00000001").exists(),
            "segment 1 emptied and removed"
        );
        blobs.wipe().unwrap();
        for i in 9..30 {
            put(&blobs, i);
        }
        // A new process over what is left starts above the highest segment file there.
        drop(blobs);
        let blobs = FileBlobs::open(dir.path()).unwrap();
        let key = put(&blobs, 30);
        assert!(!key.starts_with("r/b/=00000001/"), "{key}");
    }

    /// tmpfs is not a file system whose fsync of a new file covers its directory entry.
    #[test]
    fn tmpfs_keeps_directory_fsyncs() {
        if let Ok(dir) = tempfile::tempdir_in("/dev/shm") {
            assert!(!fsync_keeps_new_entries(dir.path()));
        }
        assert!(!fsync_keeps_new_entries(Path::new("/nonexistent/kmsnap")));
    }
}
