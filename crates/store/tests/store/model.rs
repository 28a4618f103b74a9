//! Model-based test: random transactions against each backend and against a `BTreeMap`, which
//! must agree on every read, every revision and every conflict, and an old reader must keep
//! seeing the state from before each transaction.

use kmsnap_store::{MetaStore, Record, StoreError};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Model = BTreeMap<(String, Vec<u8>), Record>;

#[derive(Debug, Clone)]
enum Expect {
    Current,
    Absent,
    Stale,
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize, Vec<u8>, Vec<u8>),
    PutIf(usize, Vec<u8>, Expect, Vec<u8>),
    Delete(usize, Vec<u8>),
    DeleteIf(usize, Vec<u8>, Expect),
    Get(usize, Vec<u8>),
    Scan(usize, Vec<u8>, Option<Vec<u8>>, usize),
    Count(usize, Vec<u8>),
}

const TABLES: [&str; 3] = ["a", "a.b", "b"];

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(b'a'), Just(0xff)],
        0..3,
    )
}

fn table() -> impl Strategy<Value = usize> {
    0..TABLES.len()
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        Just(Expect::Current),
        Just(Expect::Absent),
        Just(Expect::Stale)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let value = proptest::collection::vec(any::<u8>(), 0..6);
    prop_oneof![
        3 => (table(), key(), value.clone()).prop_map(|(t, k, v)| Op::Put(t, k, v)),
        2 => (table(), key(), expect(), value).prop_map(|(t, k, e, v)| Op::PutIf(t, k, e, v)),
        2 => (table(), key()).prop_map(|(t, k)| Op::Delete(t, k)),
        1 => (table(), key(), expect()).prop_map(|(t, k, e)| Op::DeleteIf(t, k, e)),
        2 => (table(), key()).prop_map(|(t, k)| Op::Get(t, k)),
        2 => (table(), key(), proptest::option::of(key()), 0usize..5).prop_map(|(t, p, a, l)| Op::Scan(t, p, a, l)),
        1 => (table(), key()).prop_map(|(t, p)| Op::Count(t, p)),
    ]
}

/// A transaction: its operations and whether it commits.
fn txn() -> impl Strategy<Value = (Vec<Op>, bool)> {
    (
        proptest::collection::vec(op(), 0..8),
        proptest::bool::weighted(0.8),
    )
}

fn model_scan(
    m: &Model,
    t: &str,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Vec<(Vec<u8>, Record)> {
    m.iter()
        .filter(|((mt, k), _)| {
            mt == t && k.starts_with(prefix) && after.is_none_or(|a| k.as_slice() > a)
        })
        .take(limit)
        .map(|((_, k), r)| (k.clone(), r.clone()))
        .collect()
}

fn check_all(store: &dyn MetaStore, reader: &dyn kmsnap_store::ReadTxn, m: &Model) {
    let _ = store;
    for t in TABLES {
        assert_eq!(
            reader.scan(t, b"", None, usize::MAX).unwrap(),
            model_scan(m, t, b"", None, usize::MAX),
            "table {t}"
        );
    }
}

fn expected_rev(e: &Expect, current: u64) -> u64 {
    match e {
        Expect::Current => current,
        Expect::Absent => 0,
        Expect::Stale => current + 1_000,
    }
}

fn run(store: &dyn MetaStore, txns: Vec<(Vec<Op>, bool)>) {
    let mut committed = Model::new();
    let mut last_rev = 0u64;
    for (ops, commit) in txns {
        let old_reader = store.read().unwrap();
        let before = committed.clone();
        let mut work = committed.clone();
        let mut rev = last_rev;
        let mut w = store.write().unwrap();
        for op in ops {
            match op {
                Op::Put(t, k, v) => {
                    let got = w.put(TABLES[t], &k, &v).unwrap();
                    assert!(got > rev, "revisions grow");
                    rev = got;
                    work.insert(
                        (TABLES[t].to_owned(), k),
                        Record {
                            revision: got,
                            value: v,
                        },
                    );
                }
                Op::PutIf(t, k, e, v) => {
                    let mk = (TABLES[t].to_owned(), k.clone());
                    let current = work.get(&mk).map_or(0, |r| r.revision);
                    let want = expected_rev(&e, current);
                    match w.put_if(TABLES[t], &k, want, &v) {
                        Ok(got) => {
                            assert_eq!(want, current);
                            assert!(got > rev);
                            rev = got;
                            work.insert(
                                mk,
                                Record {
                                    revision: got,
                                    value: v,
                                },
                            );
                        }
                        Err(StoreError::Conflict {
                            expected, actual, ..
                        }) => {
                            assert_ne!(want, current);
                            assert_eq!((expected, actual), (want, current));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Delete(t, k) => {
                    let existed = work.remove(&(TABLES[t].to_owned(), k.clone())).is_some();
                    assert_eq!(w.delete(TABLES[t], &k).unwrap(), existed);
                }
                Op::DeleteIf(t, k, e) => {
                    let mk = (TABLES[t].to_owned(), k.clone());
                    let current = work.get(&mk).map_or(0, |r| r.revision);
                    let want = expected_rev(&e, current);
                    match w.delete_if(TABLES[t], &k, want) {
                        Ok(deleted) => {
                            assert_eq!(want, current);
                            assert_eq!(deleted, current != 0);
                            work.remove(&mk);
                        }
                        Err(StoreError::Conflict { .. }) => assert_ne!(want, current),
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Get(t, k) => {
                    assert_eq!(
                        w.get(TABLES[t], &k).unwrap(),
                        work.get(&(TABLES[t].to_owned(), k)).cloned()
                    );
                }
                Op::Scan(t, p, a, l) => {
                    assert_eq!(
                        w.scan(TABLES[t], &p, a.as_deref(), l).unwrap(),
                        model_scan(&work, TABLES[t], &p, a.as_deref(), l)
                    );
                }
                Op::Count(t, p) => {
                    assert_eq!(
                        w.count(TABLES[t], &p).unwrap(),
                        model_scan(&work, TABLES[t], &p, None, usize::MAX).len() as u64
                    );
                }
            }
        }
        if commit {
            w.commit().unwrap();
            committed = work;
            last_rev = rev;
        } else {
            drop(w);
        }
        // The reader from before the transaction still sees the old state.
        check_all(store, &*old_reader, &before);
        drop(old_reader);
        let now = store.read().unwrap();
        check_all(store, &*now, &committed);
        // Prefix scans and paging on the committed state.
        for t in TABLES {
            for p in [&b""[..], b"a", b"\xff", b"\x00"] {
                assert_eq!(
                    now.scan(t, p, None, 2).unwrap(),
                    model_scan(&committed, t, p, None, 2)
                );
                assert_eq!(
                    now.count(t, p).unwrap(),
                    model_scan(&committed, t, p, None, usize::MAX).len() as u64
                );
            }
        }
    }
}

/// Isolation in detail: the reader opened before a transaction must equal the model from before.
fn run_isolation(store: &dyn MetaStore, txns: Vec<(Vec<Op>, bool)>) {
    let mut snapshots: Vec<(Box<dyn kmsnap_store::ReadTxn + '_>, Model)> = Vec::new();
    let mut model = Model::new();
    for (i, (ops, _)) in txns.into_iter().enumerate() {
        if i % 2 == 0 {
            snapshots.push((store.read().unwrap(), model.clone()));
        }
        let mut w = store.write().unwrap();
        for op in ops {
            if let Op::Put(t, k, v) = op {
                let r = w.put(TABLES[t], &k, &v).unwrap();
                model.insert(
                    (TABLES[t].to_owned(), k),
                    Record {
                        revision: r,
                        value: v,
                    },
                );
            } else if let Op::Delete(t, k) = op {
                w.delete(TABLES[t], &k).unwrap();
                model.remove(&(TABLES[t].to_owned(), k));
            }
        }
        w.commit().unwrap();
        if i % 3 == 0 && !snapshots.is_empty() {
            snapshots.remove(0);
        }
        for (reader, m) in &snapshots {
            check_all(store, &**reader, m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_model(txns in proptest::collection::vec(txn(), 1..12)) {
        let f = crate::memory();
        run(&*f.meta, txns);
    }

    #[test]
    fn memory_snapshots_match_model(txns in proptest::collection::vec(txn(), 1..16)) {
        let f = crate::memory();
        run_isolation(&*f.meta, txns);
    }
}

proptest! {
    // Each commit syncs a file: fewer cases.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn embedded_matches_model(txns in proptest::collection::vec(txn(), 1..10)) {
        let f = crate::embedded();
        run(&*f.meta, txns);
    }

    #[test]
    fn embedded_snapshots_match_model(txns in proptest::collection::vec(txn(), 1..10)) {
        let f = crate::embedded();
        run_isolation(&*f.meta, txns);
    }
}
