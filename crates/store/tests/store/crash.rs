//! Crash and I/O-failure tests: the embedded MetaStore over the fault backend. Random
//! transactions commit while the device is set to die or fail at a random I/O; after each
//! failure (and at random quiet moments) the device crashes, the database is reopened over the
//! surviving bytes, and its contents must equal the model of acknowledged commits — or, for the
//! one transaction whose commit failed, the model with that transaction applied whole.

use crate::crash_mode;
use kmsnap_store::embedded::{CommitMode, EmbeddedMeta};
use kmsnap_store::fault::{CrashMode, FaultBackend, SplitMix};
use kmsnap_store::{MetaStore, Record};
use std::collections::BTreeMap;

type Model = BTreeMap<Vec<u8>, Record>;

fn dump(store: &dyn MetaStore) -> Model {
    let r = store.read().unwrap();
    let mut out = Model::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = r.scan("t", b"", after.as_deref(), 7).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|(k, _)| k.clone());
        out.extend(page);
    }
    out
}

fn value(rng: &mut SplitMix, round: u64) -> Vec<u8> {
    // Mostly small; sometimes large enough to need overflow pages.
    let len = match rng.below(10) {
        0 => 5_000 + rng.below(20_000),
        1..=3 => rng.below(600),
        _ => rng.below(40),
    };
    let tag = round.to_be_bytes();
    (0..len)
        .map(|i| tag[(i % 8) as usize] ^ (i as u8))
        .collect()
}

struct Stats {
    commits: u64,
    failed_commits: u64,
    crashes: u64,
    inflight_survived: u64,
}

fn run(seed: u64, rounds: u64, mode: CommitMode) -> Stats {
    let mut rng = SplitMix(seed);
    let mut dev = FaultBackend::new();
    let mut store = EmbeddedMeta::open_with_backend(dev.clone(), mode).unwrap();
    let mut model = Model::new();
    let mut stats = Stats {
        commits: 0,
        failed_commits: 0,
        crashes: 0,
        inflight_survived: 0,
    };
    for round in 0..rounds {
        match rng.below(6) {
            0 => dev.die_after(1 + rng.below(30)),
            1 => dev.fail_nth_write(1 + rng.below(20)),
            2 => dev.fail_nth_sync(1 + rng.below(3)),
            _ => {}
        }
        let mut pending = model.clone();
        let outcome = (|| {
            let mut w = store.write()?;
            for _ in 0..1 + rng.below(8) {
                let key = format!("k{:02}", rng.below(40)).into_bytes();
                if rng.below(4) == 0 {
                    let existed = w.delete("t", &key)?;
                    assert_eq!(existed, pending.remove(&key).is_some());
                } else {
                    let v = value(&mut rng, round);
                    let revision = w.put("t", &key, &v)?;
                    pending.insert(key, Record { revision, value: v });
                }
            }
            if rng.below(10) == 0 {
                // Abandoned: must never appear.
                drop(w);
                return Ok(false);
            }
            w.commit().map(|()| true)
        })();
        dev.clear_faults();
        let committed_ok = matches!(outcome, Ok(true));
        if committed_ok {
            model = pending.clone();
            stats.commits += 1;
        }
        let failed = outcome.is_err();
        if failed {
            stats.failed_commits += 1;
        }
        if failed || dev.is_dead() || rng.below(8) == 0 {
            stats.crashes += 1;
            let survivor = dev.crash(crash_mode(&mut rng));
            drop(store);
            dev = survivor;
            store = EmbeddedMeta::open_with_backend(dev.clone(), mode)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen failed: {e}"));
            let actual = dump(&store);
            if actual != model {
                assert!(
                    failed && actual == pending,
                    "seed {seed} round {round}: after crash the store holds neither the acknowledged \
                     state nor it plus the in-flight transaction (failed={failed}, ok={committed_ok})"
                );
                stats.inflight_survived += 1;
                model = actual;
            }
        } else {
            assert_eq!(
                dump(&store),
                model,
                "seed {seed} round {round}: live state diverged"
            );
        }
    }
    // A final clean crash loses nothing acknowledged.
    let survivor = dev.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = EmbeddedMeta::open_with_backend(survivor, mode).unwrap();
    assert_eq!(dump(&store), model, "seed {seed}: final state");
    // The revision counter never goes back below an acknowledged revision.
    let max_rev = model.values().map(|r| r.revision).max().unwrap_or(0);
    let mut w = store.write().unwrap();
    assert!(w.put("t", b"probe", b"").unwrap() > max_rev);
    stats
}

#[test]
fn crashes_keep_exactly_the_committed_transactions_group_commit() {
    let mut total = Stats {
        commits: 0,
        failed_commits: 0,
        crashes: 0,
        inflight_survived: 0,
    };
    for seed in 1..=20 {
        let s = run(seed, 200, CommitMode::Group);
        total.commits += s.commits;
        total.failed_commits += s.failed_commits;
        total.crashes += s.crashes;
        total.inflight_survived += s.inflight_survived;
    }
    eprintln!(
        "group: {} commits, {} failed commits, {} crashes, {} in-flight transactions survived",
        total.commits, total.failed_commits, total.crashes, total.inflight_survived
    );
    assert!(total.commits > 100 && total.failed_commits > 20 && total.crashes > 50);
}

#[test]
fn crashes_keep_exactly_the_committed_transactions_immediate_commit() {
    for seed in 100..=103 {
        let s = run(seed, 150, CommitMode::Immediate);
        assert!(s.commits > 0);
    }
}

#[test]
fn crash_with_an_open_transaction_loses_only_it() {
    let dev = FaultBackend::new();
    let store = EmbeddedMeta::open_with_backend(dev.clone(), CommitMode::Group).unwrap();
    let mut w = store.write().unwrap();
    w.put("t", b"a", b"1").unwrap();
    w.commit().unwrap();
    let mut w = store.write().unwrap();
    for i in 0..200u32 {
        w.put("t", &i.to_be_bytes(), &[7; 3000]).unwrap();
    }
    let survivor = dev.crash(CrashMode::KeepRandom { seed: 9 });
    drop(w);
    drop(store);
    let store = EmbeddedMeta::open_with_backend(survivor, CommitMode::Group).unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.count("t", b"").unwrap(), 1);
    assert_eq!(r.get("t", b"a").unwrap().unwrap().value, b"1");
}

#[test]
fn a_failed_sync_is_an_error_and_the_store_refuses_to_pretend() {
    let dev = FaultBackend::new();
    let store = EmbeddedMeta::open_with_backend(dev.clone(), CommitMode::Group).unwrap();
    dev.fail_nth_sync(1);
    let mut w = store.write().unwrap();
    w.put("t", b"a", b"1").unwrap();
    assert!(w.commit().is_err());
    // Later commits fail too (redb needs recovery after an I/O error) rather than claim success.
    let later = store.write().and_then(|mut w| {
        w.put("t", b"b", b"2")?;
        w.commit()
    });
    assert!(later.is_err());
    let survivor = dev.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = EmbeddedMeta::open_with_backend(survivor, CommitMode::Group).unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.get("t", b"b").unwrap(), None);
}

#[test]
fn concurrent_group_commits_survive_a_crash() {
    use std::sync::Arc;
    let dev = FaultBackend::new();
    let store = Arc::new(EmbeddedMeta::open_with_backend(dev.clone(), CommitMode::Group).unwrap());
    let before = dev.stats().syncs;
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    let mut w = store.write().unwrap();
                    w.put("t", &[t, i], &[t, i]).unwrap();
                    w.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = dev.stats().syncs - before;
    eprintln!("200 concurrent commits used {syncs} syncs");
    let survivor = dev.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = EmbeddedMeta::open_with_backend(survivor, CommitMode::Group).unwrap();
    assert_eq!(store.read().unwrap().count("t", b"").unwrap(), 200);
}
