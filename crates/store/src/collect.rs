//! Collecting blobs that nothing references, while writers keep writing
//! (`docs/blob-collection.md` has the full argument).
//!
//! Writers store a blob first and commit the metadata that references it afterwards (so no
//! reference ever names a blob that is not durable). Between the two, a blob that is about to
//! be referenced is referenced by nothing; a crash (or an error) there leaves it referenced by
//! nothing for good. A collector must tell the two apart without asking the writers what they
//! hold. It does so with a registry of the writes in progress and one rule for the order of
//! its own steps:
//!
//! * [`InFlight`]: the writes in progress in this process. A writer takes a [`WritePin`]
//!   before it stores a blob it means to reference and drops it once the reference is
//!   committed or the write is abandoned (the pin is released on drop, so an error path or a
//!   panic cannot leak it). Pins are numbered in the order they are taken.
//! * [`Sweep`]: one collection. [`Sweep::start`] lists the candidate blobs and only then notes
//!   the registry's *horizon*, the number the next pin will get. [`Sweep::try_finish`] waits
//!   until no pin below the horizon is held (every write that could have stored a listed blob
//!   has committed or given up), then has the caller read the references — in one consistent
//!   metadata snapshot taken at that point — and deletes the listed blobs the snapshot does not
//!   reference.
//!
//! Why no referenced blob is deleted: a listed blob was stored before the listing ended, so by
//! a writer that took its pin before the horizon was noted; that writer has finished before the
//! references are read, so if it committed, the snapshot shows its reference. A reference
//! committed after the snapshot could only come from a writer that stored the blob itself
//! (impossible: keys are fresh, and every such writer has finished) or from one that copied an
//! existing reference — which the caller must do in the transaction that reads it, so the blob
//! was referenced in the snapshot. This protects only against writers of this process: stores
//! shared by several processes need a registry they share.
//!
//! Calls block (listing and deleting touch the blob store): async callers run them on a blocking
//! thread.

use crate::blob::BlobStore;
use crate::error::StoreError;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Registry {
    /// The number the next pin gets.
    next: u64,
    /// Pins held.
    live: BTreeSet<u64>,
}

/// The blob writes in progress in one process (see the module docs). Clones share one registry.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    registry: Arc<Mutex<Registry>>,
}

impl InFlight {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every change is one insert or remove: a panic elsewhere leaves the registry whole.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a write: take it before storing a blob that a later commit will reference,
    /// and keep it until that commit has returned (or the write is abandoned).
    pub fn pin(&self) -> WritePin {
        let mut r = self.lock();
        let id = r.next;
        r.next += 1;
        r.live.insert(id);
        WritePin {
            inflight: self.clone(),
            id,
        }
    }

    /// The number the next pin will get: every pin taken so far is below it.
    pub fn horizon(&self) -> u64 {
        self.lock().next
    }

    /// Whether every pin taken before `horizon` has been dropped.
    pub fn settled(&self, horizon: u64) -> bool {
        self.lock()
            .live
            .first()
            .is_none_or(|&oldest| oldest >= horizon)
    }

    /// How many pins are held (for tests and logs).
    pub fn held(&self) -> usize {
        self.lock().live.len()
    }
}

/// A write in progress ([`InFlight::pin`]); dropping it ends the write, committed or not.
/// Functions that store blobs to be referenced later take one as proof that their caller
/// holds it.
#[derive(Debug)]
pub struct WritePin {
    inflight: InFlight,
    id: u64,
}

impl Drop for WritePin {
    fn drop(&mut self) {
        self.inflight.lock().live.remove(&self.id);
    }
}

/// What a [`Sweep`] asks of the references the caller read.
pub trait Referenced {
    /// Whether the blob `key` must be kept.
    fn keeps(&self, key: &str) -> bool;
}

impl Referenced for HashSet<String> {
    fn keeps(&self, key: &str) -> bool {
        self.contains(key)
    }
}

impl Referenced for BTreeSet<String> {
    fn keeps(&self, key: &str) -> bool {
        self.contains(key)
    }
}

/// What a finished sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Candidate blobs listed.
    pub listed: u64,
    /// Blobs deleted.
    pub deleted: u64,
    /// Their size in bytes (the objects' lengths, not the file system's blocks).
    pub bytes: u64,
    /// Unreferenced blobs whose deletion failed (tried again by the next sweep).
    pub failed: u64,
}

/// One collection in progress: the candidates listed and the horizon noted after the listing.
#[derive(Debug)]
pub struct Sweep {
    candidates: Vec<String>,
    horizon: u64,
    inflight: InFlight,
}

/// How [`Sweep::try_finish`] went.
#[derive(Debug)]
pub enum Finish<R> {
    /// A write that began before the listing ended is still in progress: try again later.
    Waiting(Sweep),
    /// The references the caller read, and what was deleted.
    Done(R, Reclaimed),
}

impl Sweep {
    /// Lists the blobs under `prefix` that `candidate` accepts, then notes the horizon (in
    /// that order: every writer whose blob the listing saw took its pin before the horizon).
    pub fn start(
        blobs: &dyn BlobStore,
        inflight: &InFlight,
        prefix: &str,
        candidate: impl Fn(&str) -> bool,
    ) -> Result<Sweep, StoreError> {
        let mut candidates = blobs.list(prefix)?;
        candidates.retain(|k| candidate(k));
        let horizon = inflight.horizon();
        Ok(Sweep {
            candidates,
            horizon,
            inflight: inflight.clone(),
        })
    }

    /// Whether every write that began before the listing ended has finished.
    pub fn settled(&self) -> bool {
        self.inflight.settled(self.horizon)
    }

    /// The blobs listed.
    pub fn candidates(&self) -> &[String] {
        &self.candidates
    }

    /// Once [settled](Sweep::settled): calls `read`, which must read every reference from one
    /// consistent metadata snapshot it takes now, and deletes the listed blobs it does not
    /// keep. A blob whose deletion fails is logged, counted and left for the next sweep.
    pub fn try_finish<R: Referenced, E: From<StoreError>>(
        self,
        blobs: &dyn BlobStore,
        read: impl FnOnce() -> Result<R, E>,
    ) -> Result<Finish<R>, E> {
        if !self.settled() {
            return Ok(Finish::Waiting(self));
        }
        let refs = read()?;
        let mut done = Reclaimed {
            listed: self.candidates.len() as u64,
            ..Reclaimed::default()
        };
        for key in self.candidates.iter().filter(|k| !refs.keeps(k)) {
            let deleted = blobs
                .size(key)
                .and_then(|size| Ok((size, blobs.delete(key)?)));
            match deleted {
                Ok((size, true)) => {
                    done.deleted += 1;
                    done.bytes += size.unwrap_or(0);
                }
                Ok((_, false)) => {}
                Err(e) => {
                    tracing::warn!(blob = %key, error = %e, "cannot delete an unreferenced blob; the next sweep tries again");
                    done.failed += 1;
                }
            }
        }
        Ok(Finish::Done(refs, done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBlobs;

    #[test]
    fn pins_hold_the_horizon_until_dropped() {
        let f = InFlight::new();
        let a = f.pin();
        let h = f.horizon();
        assert!(!f.settled(h));
        let b = f.pin();
        assert!(f.settled(0), "nothing before 0");
        drop(a);
        assert!(
            f.settled(h),
            "a pin taken after the horizon does not hold it"
        );
        assert!(!f.settled(f.horizon()));
        drop(b);
        assert!(f.settled(f.horizon()));
        assert_eq!(f.held(), 0);
    }

    /// A blob whose writer holds a pin taken before the listing survives every sweep until
    /// the writer is done; once it has given up, the next sweep deletes the blob.
    #[test]
    fn a_pinned_write_is_waited_for() {
        let blobs = MemoryBlobs::new();
        let f = InFlight::new();
        blobs.put("r/blocks/kept", b"kept").unwrap();
        let pin = f.pin();
        blobs.put("r/blocks/pending", b"pending").unwrap();
        let refs: HashSet<String> = ["r/blocks/kept".to_owned()].into();
        let sweep = Sweep::start(&blobs, &f, "", |_| true).unwrap();
        let sweep = match sweep
            .try_finish(&blobs, || Ok::<_, StoreError>(refs.clone()))
            .unwrap()
        {
            Finish::Waiting(s) => s,
            Finish::Done(..) => panic!("finished while a write was in flight"),
        };
        assert!(blobs.exists("r/blocks/pending").unwrap());
        drop(pin); // abandoned: never committed
        let Finish::Done(_, done) = sweep
            .try_finish(&blobs, || Ok::<_, StoreError>(refs.clone()))
            .unwrap()
        else {
            panic!("still waiting")
        };
        assert_eq!(
            done,
            Reclaimed {
                listed: 2,
                deleted: 1,
                bytes: 7,
                failed: 0
            }
        );
        assert_eq!(blobs.list("").unwrap(), vec!["r/blocks/kept".to_owned()]);
    }

    /// Blobs stored after the listing are not candidates, whoever stored them.
    #[test]
    fn blobs_stored_after_the_listing_are_not_candidates() {
        let blobs = MemoryBlobs::new();
        let f = InFlight::new();
        blobs.put("r/blocks/a", b"a").unwrap();
        let sweep = Sweep::start(&blobs, &f, "r/", |k| k.contains("/blocks/")).unwrap();
        let _late = f.pin();
        blobs.put("r/blocks/b", b"b").unwrap();
        let Finish::Done(_, done) = sweep
            .try_finish(&blobs, || Ok::<_, StoreError>(HashSet::new()))
            .unwrap()
        else {
            panic!("waiting on a later pin")
        };
        assert_eq!(done.deleted, 1);
        assert_eq!(blobs.list("").unwrap(), vec!["r/blocks/b".to_owned()]);
    }
}
