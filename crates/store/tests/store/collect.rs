//! Blob collection ([`kmsnap_store::collect`]) against every backend, with writers that do what
//! the snapshot service does: take a pin, store a blob, commit a manifest row naming it (or
//! give up, or overwrite a row, or drop one). A collector sweeps all the while; no committed
//! row may ever name a missing blob, and once the writers stop, one sweep leaves exactly the
//! referenced blobs. Over the fault backend, crashes at every point of the commit leave only
//! orphans, which the next process's first sweep deletes.

use crate::Fixture;
use kmsnap_store::collect::{Finish, InFlight, Sweep};
use kmsnap_store::embedded::{CommitMode, EmbeddedMeta, FileBlobs};
use kmsnap_store::fault::{CrashMode, FaultBackend, SplitMix};
use kmsnap_store::{BlobStore, MetaStore, StoreError};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MANIFEST: &str = "manifest";
/// Large enough to be packed into a segment slot by the file store.
const BLOB: usize = 300_000;

fn blob(seed: u64) -> Vec<u8> {
    let mut b = vec![(seed % 251) as u8; BLOB];
    b[..8].copy_from_slice(&seed.to_be_bytes());
    b
}

/// Every blob key the manifest names, from one read transaction.
fn references(meta: &dyn MetaStore) -> Result<HashSet<String>, StoreError> {
    let r = meta.read()?;
    Ok(r.scan(MANIFEST, b"", None, usize::MAX)?
        .into_iter()
        .map(|(_, rec)| String::from_utf8_lossy(&rec.value).into_owned())
        .collect())
}

/// One sweep to its end, waiting out the writes in flight.
fn sweep(meta: &dyn MetaStore, blobs: &dyn BlobStore, inflight: &InFlight) -> u64 {
    let mut s = Sweep::start(blobs, inflight, "", |k| k.starts_with("r/blocks/")).unwrap();
    loop {
        match s.try_finish(blobs, || references(meta)).unwrap() {
            Finish::Waiting(again) => {
                s = again;
                std::thread::sleep(Duration::from_millis(1));
            }
            Finish::Done(_, done) => return done.deleted,
        }
    }
}

/// A committed row names a blob that is there, with the bytes put.
fn check_rows(meta: &dyn MetaStore, blobs: &dyn BlobStore) {
    let r = meta.read().unwrap();
    for (k, rec) in r.scan(MANIFEST, b"", None, usize::MAX).unwrap() {
        let key = String::from_utf8(rec.value).unwrap();
        let seed: u64 = String::from_utf8(k)
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let got = blobs.get(&key).unwrap();
        assert!(got.is_some(), "row {seed} names {key}, which was deleted");
        assert!(got.unwrap() == blob(seed), "{key} holds other bytes");
    }
}

fn writers_and_a_collector(f: Fixture) {
    let (meta, blobs) = (f.meta.clone(), f.blobs.clone());
    let inflight = InFlight::new();
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (meta, blobs, inflight, stop) =
            (meta.clone(), blobs.clone(), inflight.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sweeps = 0;
            while !stop.load(Ordering::Relaxed) {
                sweep(meta.as_ref(), blobs.as_ref(), &inflight);
                check_rows(meta.as_ref(), blobs.as_ref());
                sweeps += 1;
            }
            sweeps
        })
    };
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (meta, blobs, inflight) = (meta.clone(), blobs.clone(), inflight.clone());
            std::thread::spawn(move || {
                let mut rng = SplitMix(w + 1);
                for n in 0..60u64 {
                    let seed = w * 1000 + n;
                    // The row each writer keeps rewriting: the old blob becomes garbage.
                    let row = format!("w{w}/{}/{seed}", rng.below(6));
                    let prefix = format!("w{w}/{}/", &row[3..4]);
                    let pin = inflight.pin();
                    let key = blobs
                        .put_fresh("r/blocks", &format!("w{w}-{seed}"), &blob(seed))
                        .unwrap();
                    if rng.below(3) == 0 {
                        // The window a crash or a slow commit leaves open.
                        std::thread::sleep(Duration::from_millis(rng.below(4)));
                    }
                    match rng.below(8) {
                        0 => drop(pin), // abandoned: an orphan
                        _ => {
                            let mut t = meta.write().unwrap();
                            for (k, _) in t
                                .scan(MANIFEST, prefix.as_bytes(), None, usize::MAX)
                                .unwrap()
                            {
                                t.delete(MANIFEST, &k).unwrap();
                            }
                            if rng.below(10) != 0 {
                                t.put(MANIFEST, row.as_bytes(), key.as_bytes()).unwrap();
                            }
                            t.commit().unwrap();
                            drop(pin);
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let sweeps = collector.join().unwrap();
    assert!(sweeps > 0);
    check_rows(meta.as_ref(), blobs.as_ref());
    // Nothing in flight: one sweep leaves exactly what the manifest names.
    sweep(meta.as_ref(), blobs.as_ref(), &inflight);
    let mut left: Vec<String> = blobs.list("").unwrap();
    let mut want: Vec<String> = references(meta.as_ref()).unwrap().into_iter().collect();
    left.sort();
    want.sort();
    assert_eq!(left, want);
}

/// The control: a writer that stores a blob *without* a pin loses it to a sweep that lists it
/// before the commit, and its row then names nothing. This is what the pin prevents.
fn an_unpinned_write_is_not_protected(f: Fixture) {
    let inflight = InFlight::new();
    let key = f.blobs.put_fresh("r/blocks", "unpinned", &blob(7)).unwrap();
    let s = Sweep::start(f.blobs.as_ref(), &inflight, "", |_| true).unwrap();
    let Finish::Done(_, done) = s
        .try_finish(f.blobs.as_ref(), || references(f.meta.as_ref()))
        .unwrap()
    else {
        panic!("nothing was pinned")
    };
    assert_eq!(done.deleted, 1);
    assert!(!f.blobs.exists(&key).unwrap());
}

macro_rules! each_backend {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[test]
                fn memory() {
                    super::$case(crate::memory());
                }
                #[test]
                fn embedded() {
                    super::$case(crate::embedded());
                }
            }
        )*
    };
}

each_backend!(writers_and_a_collector, an_unpinned_write_is_not_protected);

/// A process that dies at any point of "store the blob, commit the row" leaves the row and its
/// blob, or an orphan blob and no row. The next process (a new registry: nothing in flight)
/// deletes the orphans in its first sweep and keeps every blob a surviving row names.
///
/// Only the metadata device crashes here: a blob put that returned is durable, so the blob
/// store stays open across "processes" (reopening it in this process would race the old
/// instance's segment-making thread, which a real crash ends).
#[test]
fn crashes_leave_orphans_that_the_next_process_collects() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FileBlobs::open(dir.path()).unwrap();
    let mut dev = FaultBackend::new();
    let mut rng = SplitMix(42);
    let mut orphans_collected = 0;
    for round in 0..40u64 {
        let meta = EmbeddedMeta::open_with_backend(dev.clone(), CommitMode::default()).unwrap();
        let inflight = InFlight::new();
        orphans_collected += sweep(&meta, &blobs, &inflight);
        check_rows(&meta, &blobs);
        let referenced = references(&meta).unwrap();
        let mut listed = blobs.list("").unwrap();
        listed.sort();
        let mut want: Vec<String> = referenced.into_iter().collect();
        want.sort();
        assert_eq!(
            listed, want,
            "round {round}: the first sweep leaves exactly the referenced blobs"
        );
        // This process's writes, until its device dies somewhere in one of them.
        dev.die_after(1 + rng.below(40));
        for n in 0..5u64 {
            let seed = round * 10 + n;
            let _pin = inflight.pin();
            let key = blobs
                .put_fresh("r/blocks", &format!("c{seed}"), &blob(seed))
                .unwrap();
            let committed = (|| {
                let mut t = meta.write()?;
                t.put(
                    MANIFEST,
                    format!("r/{}/{seed}", rng.below(3)).as_bytes(),
                    key.as_bytes(),
                )?;
                t.commit()
            })();
            if committed.is_err() || dev.is_dead() {
                break;
            }
        }
        dev.clear_faults();
        let survivor = dev.crash(if rng.below(2) == 0 {
            CrashMode::DropUnsynced
        } else {
            CrashMode::KeepRandom { seed: round }
        });
        drop(meta);
        dev = survivor;
    }
    assert!(orphans_collected > 0, "some crash left an orphan");
}
