//! The medium under a journal: a directory of named files ([`JournalIo`]), so that crash tests
//! can plug in one that loses unsynced writes or tears them (`fault::FaultDir`), as the redb
//! backend's tests plug in `fault::FaultBackend`. [`DirIo`] is the real one.

use crate::direct;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A directory of journal files. Names are plain file names (no `/`).
pub trait JournalIo: Send + Sync + fmt::Debug {
    /// Creates the directory if it does not exist, durably.
    fn create_dir(&self) -> io::Result<()>;
    /// The names in the directory; none if it does not exist.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The whole file `name`.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// The size of file `name`; `None` if there is none.
    fn len(&self, name: &str) -> io::Result<Option<u64>>;
    /// Creates file `name` (which must not exist) of `len` bytes, sparse, synced.
    fn create_sparse(&self, name: &str, len: u64) -> io::Result<()>;
    /// Creates or truncates file `name` and writes `len` zero bytes into it, synced (so that
    /// later writes into it allocate nothing).
    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// File `name` opened for [`JournalFile::write_durable`]. Follows the file across renames.
    fn open(&self, name: &str) -> io::Result<Box<dyn JournalFile>>;
}

/// A journal file open for writing.
pub trait JournalFile: Send + Sync {
    /// Writes `blocks` (whole, aligned blocks from an aligned buffer) at `offset` and returns
    /// once they are on stable storage.
    fn write_durable(&self, offset: u64, blocks: &[u8]) -> io::Result<()>;
}

/// A directory on the file system. Where it allows it, segment writes bypass the page cache
/// (O_DIRECT) and are durable when they return (O_DSYNC): one system call per write, no
/// writeback, less latency than `write` + `fdatasync` on this project's VM, and concurrent
/// writes overlap their device flushes. Elsewhere (tmpfs, other systems) it is `write` +
/// `fdatasync`.
#[derive(Debug, Clone)]
pub struct DirIo {
    dir: PathBuf,
}

impl DirIo {
    pub fn new(dir: &Path) -> DirIo {
        DirIo {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn at(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// `e` with the path it is about (the kind kept).
fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

const ZERO_CHUNK: usize = 1 << 20;

impl JournalIo for DirIo {
    fn create_dir(&self) -> io::Result<()> {
        if self.dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| with_path(&self.dir, e))?;
        if let Some(parent) = self.dir.parent() {
            direct::sync_dir(parent).map_err(|e| with_path(parent, e))?;
        }
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(with_path(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| with_path(&self.dir, e))?;
            if let Ok(name) = entry.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let path = self.at(name);
        std::fs::read(&path).map_err(|e| with_path(&path, e))
    }

    fn len(&self, name: &str) -> io::Result<Option<u64>> {
        let path = self.at(name);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(&path, e)),
        }
    }

    fn create_sparse(&self, name: &str, len: u64) -> io::Result<()> {
        let path = self.at(name);
        (|| {
            let f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            f.set_len(len)?;
            f.sync_all()
        })()
        .map_err(|e| with_path(&path, e))
    }

    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()> {
        let path = self.at(name);
        (|| {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            let zeros = vec![0u8; ZERO_CHUNK];
            let mut at = 0u64;
            while at < len {
                let n = (len - at).min(ZERO_CHUNK as u64);
                let n_usize = usize::try_from(n).unwrap_or(ZERO_CHUNK);
                f.write_all_at(&zeros[..n_usize], at)?;
                at += n;
            }
            f.sync_all()
        })()
        .map_err(|e| with_path(&path, e))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let path = self.at(from);
        std::fs::rename(&path, self.at(to)).map_err(|e| with_path(&path, e))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let path = self.at(name);
        std::fs::remove_file(&path).map_err(|e| with_path(&path, e))
    }

    fn sync_dir(&self) -> io::Result<()> {
        direct::sync_dir(&self.dir).map_err(|e| with_path(&self.dir, e))
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn JournalFile>> {
        let path = self.at(name);
        let opened = (|| {
            let mut options = OpenOptions::new();
            options.write(true);
            if let Some(file) = direct::open(&options, &path, true)? {
                return Ok((file, true));
            }
            Ok((options.open(&path)?, false))
        })();
        let (file, direct) = opened.map_err(|e| with_path(&path, e))?;
        Ok(Box::new(DirFile { file, path, direct }))
    }
}

struct DirFile {
    file: File,
    path: PathBuf,
    /// Opened O_DIRECT | O_DSYNC: a write is durable when it returns.
    direct: bool,
}

impl JournalFile for DirFile {
    fn write_durable(&self, offset: u64, blocks: &[u8]) -> io::Result<()> {
        self.file
            .write_all_at(blocks, offset)
            .map_err(|e| with_path(&self.path, e))?;
        if !self.direct {
            self.file
                .sync_data()
                .map_err(|e| with_path(&self.path, e))?;
        }
        Ok(())
    }
}
