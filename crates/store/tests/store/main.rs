//! All integration tests of kmsnap-store, in one binary: the conformance suite run against every
//! backend, a model-based property test, crash and I/O-failure tests over the fault backend (the MetaStore and the journal),
//! blob collection with writers in flight and across crashes, and an ignored throughput
//! measurement.

mod collect;
mod conformance;
mod crash;
mod journal;
mod model;
mod perf;

use kmsnap_store::embedded::{CommitMode, EmbeddedMeta, FileBlobs};
use kmsnap_store::fault::{CrashMode, SplitMix};
use kmsnap_store::{BlobStore, MetaStore};
use std::sync::Arc;

/// The stores under test, and the directory they live in (embedded backends).
pub struct Fixture {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub dir: Option<tempfile::TempDir>,
}

pub fn memory() -> Fixture {
    let (meta, blobs) = kmsnap_store::open_memory();
    Fixture {
        meta,
        blobs,
        dir: None,
    }
}

pub fn embedded() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (meta, blobs) = kmsnap_store::open_embedded(dir.path()).unwrap();
    Fixture {
        meta,
        blobs,
        dir: Some(dir),
    }
}

pub fn embedded_immediate() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = EmbeddedMeta::open(&dir.path().join("meta.redb"), CommitMode::Immediate).unwrap();
    let blobs = FileBlobs::open(&dir.path().join("blobs")).unwrap();
    Fixture {
        meta: Arc::new(meta),
        blobs: Arc::new(blobs),
        dir: Some(dir),
    }
}

/// What a crash keeps, chosen by `rng`: nothing unsynced, everything, or a random subset.
pub fn crash_mode(rng: &mut SplitMix) -> CrashMode {
    match rng.below(3) {
        0 => CrashMode::DropUnsynced,
        1 => CrashMode::KeepAll,
        _ => CrashMode::KeepRandom {
            seed: rng.next_u64(),
        },
    }
}
