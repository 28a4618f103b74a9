//! One suite for every backend: each case is a function over a [`Fixture`], and the macro at the
//! bottom instantiates every case for every backend.

use crate::Fixture;
use chrono::{DateTime, Utc};
use kmsnap_store::{transact, MetaStore, Record, StoreError};
use std::sync::Arc;
use std::time::Duration;

fn keys(entries: &[(Vec<u8>, Record)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

pub fn put_get_delete(f: Fixture) {
    let s = &*f.meta;
    assert_eq!(s.read().unwrap().get("t", b"k").unwrap(), None);
    let mut w = s.write().unwrap();
    let r1 = w.put("t", b"k", b"v1").unwrap();
    assert!(r1 > 0);
    assert_eq!(
        w.get("t", b"k").unwrap(),
        Some(Record {
            revision: r1,
            value: b"v1".to_vec()
        })
    );
    w.put("t", b"empty", b"").unwrap();
    w.commit().unwrap();
    let r = s.read().unwrap();
    assert_eq!(r.get("t", b"k").unwrap().unwrap().value, b"v1");
    assert_eq!(r.get("t", b"empty").unwrap().unwrap().value, b"");
    assert_eq!(r.revision("t", b"k").unwrap(), r1);
    assert_eq!(r.revision("t", b"nope").unwrap(), 0);
    drop(r);
    let mut w = s.write().unwrap();
    assert!(w.delete("t", b"k").unwrap());
    assert!(!w.delete("t", b"k").unwrap());
    assert_eq!(w.get("t", b"k").unwrap(), None);
    w.commit().unwrap();
    assert_eq!(s.read().unwrap().get("t", b"k").unwrap(), None);
    assert_eq!(s.read().unwrap().revision("t", b"k").unwrap(), 0);
}

pub fn revisions_grow(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    let a1 = w.put("t", b"a", b"1").unwrap();
    let b1 = w.put("t", b"b", b"1").unwrap();
    let a2 = w.put("t", b"a", b"2").unwrap();
    assert!(a1 < b1 && b1 < a2);
    w.commit().unwrap();
    let mut w = s.write().unwrap();
    assert!(w.delete("t", b"a").unwrap());
    let a3 = w.put("t", b"a", b"3").unwrap();
    assert!(a3 > a2, "a re-created key never gets an old revision back");
    w.commit().unwrap();
    assert_eq!(s.read().unwrap().revision("t", b"a").unwrap(), a3);
}

pub fn conditional_writes(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    let r1 = w.put_if("t", b"k", 0, b"v1").unwrap();
    let err = w.put_if("t", b"k", 0, b"again").unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: 0, actual, .. } if actual == r1),
        "{err:?}"
    );
    let err = w.put_if("t", b"k", r1 + 100, b"x").unwrap_err();
    assert!(err.is_conflict());
    // A failed conditional write changes nothing and leaves the transaction usable.
    assert_eq!(w.get("t", b"k").unwrap().unwrap().value, b"v1");
    let r2 = w.put_if("t", b"k", r1, b"v2").unwrap();
    assert!(r2 > r1);
    w.commit().unwrap();

    let mut w = s.write().unwrap();
    assert!(w.delete_if("t", b"k", r1).unwrap_err().is_conflict());
    assert!(!w.delete_if("t", b"absent", 0).unwrap());
    assert!(w.delete_if("t", b"absent", 5).unwrap_err().is_conflict());
    assert!(w.delete_if("t", b"k", r2).unwrap());
    assert!(w.put_if("t", b"k", r2, b"stale").unwrap_err().is_conflict());
    w.commit().unwrap();
    assert_eq!(s.read().unwrap().get("t", b"k").unwrap(), None);
}

pub fn tables_are_separate(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    for t in ["a", "a.b", "a-", "b", "A"] {
        w.put(t, b"k", t.as_bytes()).unwrap();
        w.put(t, b"", b"empty key").unwrap();
    }
    w.commit().unwrap();
    let r = s.read().unwrap();
    for t in ["a", "a.b", "a-", "b", "A"] {
        assert_eq!(r.get(t, b"k").unwrap().unwrap().value, t.as_bytes());
        assert_eq!(
            keys(&r.scan(t, b"", None, 100).unwrap()),
            vec![b"".to_vec(), b"k".to_vec()]
        );
        assert_eq!(r.count(t, b"").unwrap(), 2);
    }
    assert_eq!(r.get("c", b"k").unwrap(), None);
    assert!(r.scan("never-written", b"", None, 10).unwrap().is_empty());
}

pub fn invalid_table_names(f: Fixture) {
    let s = &*f.meta;
    let long = "x".repeat(129);
    for bad in ["", "a/b", "a\0b", "a b", "é", long.as_str()] {
        let r = s.read().unwrap();
        assert!(
            matches!(r.get(bad, b"k"), Err(StoreError::InvalidName { .. })),
            "{bad:?}"
        );
        assert!(r.scan(bad, b"", None, 1).is_err());
        drop(r);
        let mut w = s.write().unwrap();
        assert!(
            matches!(w.put(bad, b"k", b"v"), Err(StoreError::InvalidName { .. })),
            "{bad:?}"
        );
        assert!(w.delete(bad, b"k").is_err());
    }
    let mut w = s.write().unwrap();
    w.put(&"x".repeat(128), b"k", b"v").unwrap();
    w.commit().unwrap();
}

pub fn scan_order_prefix_paging(f: Fixture) {
    let s = &*f.meta;
    let all: Vec<&[u8]> = vec![
        b"",
        b"\x00",
        b"a",
        b"a\x00",
        b"a\xff",
        b"a\xff\xff",
        b"ab",
        b"abc",
        b"b",
        b"\xff",
        b"\xff\xff",
    ];
    let mut all = all;
    all.sort();
    let mut w = s.write().unwrap();
    for k in all.iter().rev() {
        w.put("t", k, k).unwrap();
    }
    w.put("t2", b"a", b"other table").unwrap();
    w.commit().unwrap();
    let r = s.read().unwrap();
    let want = |pred: &dyn Fn(&[u8]) -> bool| -> Vec<Vec<u8>> {
        all.iter().filter(|k| pred(k)).map(|k| k.to_vec()).collect()
    };
    assert_eq!(keys(&r.scan("t", b"", None, 100).unwrap()), want(&|_| true));
    for prefix in [
        &b"a"[..],
        b"a\xff",
        b"\xff",
        b"\xff\xff",
        b"ab",
        b"z",
        b"\x00",
    ] {
        let got = r.scan("t", prefix, None, 100).unwrap();
        assert_eq!(
            keys(&got),
            want(&|k| k.starts_with(prefix)),
            "prefix {prefix:?}"
        );
        for (k, rec) in &got {
            assert_eq!(&rec.value, k);
        }
        assert_eq!(r.count("t", prefix).unwrap(), got.len() as u64);
    }
    // Paging: every page size walks the same sequence.
    for page in 1..5 {
        let mut seen = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let got = r.scan("t", b"a", after.as_deref(), page).unwrap();
            assert!(got.len() <= page);
            if got.is_empty() {
                break;
            }
            after = got.last().map(|(k, _)| k.clone());
            seen.extend(keys(&got));
        }
        assert_eq!(seen, want(&|k| k.starts_with(b"a")), "page {page}");
    }
    assert!(r.scan("t", b"", None, 0).unwrap().is_empty());
    // start_after before the prefix starts at the prefix; past it, nothing.
    assert_eq!(
        keys(&r.scan("t", b"ab", Some(b"a"), 10).unwrap()),
        want(&|k| k.starts_with(b"ab"))
    );
    assert!(r.scan("t", b"ab", Some(b"b"), 10).unwrap().is_empty());
    assert_eq!(
        keys(&r.scan("t", b"", Some(b"b"), 10).unwrap()),
        vec![b"\xff".to_vec(), b"\xff\xff".to_vec()]
    );
    assert!(r
        .scan("t", b"\xff", Some(b"\xff\xff"), 10)
        .unwrap()
        .is_empty());
}

pub fn write_txn_sees_own_writes(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    for k in [b"a1", b"a2", b"a3", b"b1"] {
        w.put("t", k, b"old").unwrap();
    }
    w.commit().unwrap();
    let mut w = s.write().unwrap();
    w.put("t", b"a2", b"new").unwrap();
    w.put("t", b"a0", b"new").unwrap();
    w.delete("t", b"a3").unwrap();
    let got = w.scan("t", b"a", None, 10).unwrap();
    assert_eq!(
        keys(&got),
        vec![b"a0".to_vec(), b"a1".to_vec(), b"a2".to_vec()]
    );
    assert_eq!(got[2].1.value, b"new");
    assert_eq!(w.count("t", b"").unwrap(), 4);
    assert_eq!(
        keys(&w.scan("t", b"a", Some(b"a0"), 1).unwrap()),
        vec![b"a1".to_vec()]
    );
    // Others don't see it yet.
    assert_eq!(s.read().unwrap().count("t", b"").unwrap(), 4);
    assert_eq!(s.read().unwrap().get("t", b"a0").unwrap(), None);
    w.commit().unwrap();
    assert_eq!(
        keys(&s.read().unwrap().scan("t", b"", None, 10).unwrap()).len(),
        4
    );
}

pub fn snapshot_isolation(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    w.put("t", b"k", b"v1").unwrap();
    w.put("t", b"gone", b"x").unwrap();
    w.commit().unwrap();
    let before = s.read().unwrap();
    // A thread holding a reader can open a write transaction.
    let mut w = s.write().unwrap();
    w.put("t", b"k", b"v2").unwrap();
    w.put("t", b"new", b"n").unwrap();
    w.delete("t", b"gone").unwrap();
    assert_eq!(before.get("t", b"k").unwrap().unwrap().value, b"v1");
    w.commit().unwrap();
    let after = s.read().unwrap();
    assert_eq!(before.get("t", b"k").unwrap().unwrap().value, b"v1");
    assert_eq!(before.get("t", b"new").unwrap(), None);
    assert_eq!(before.get("t", b"gone").unwrap().unwrap().value, b"x");
    assert_eq!(
        keys(&before.scan("t", b"", None, 10).unwrap()),
        vec![b"gone".to_vec(), b"k".to_vec()]
    );
    assert_eq!(after.get("t", b"k").unwrap().unwrap().value, b"v2");
    assert_eq!(
        keys(&after.scan("t", b"", None, 10).unwrap()),
        vec![b"k".to_vec(), b"new".to_vec()]
    );
    // More commits while both readers live; each keeps its view.
    for i in 0..20u8 {
        let mut w = s.write().unwrap();
        w.put("t", b"k", &[i]).unwrap();
        w.commit().unwrap();
    }
    assert_eq!(before.get("t", b"k").unwrap().unwrap().value, b"v1");
    assert_eq!(after.get("t", b"k").unwrap().unwrap().value, b"v2");
    drop(before);
    assert_eq!(after.get("t", b"k").unwrap().unwrap().value, b"v2");
    drop(after);
    assert_eq!(
        s.read().unwrap().get("t", b"k").unwrap().unwrap().value,
        vec![19]
    );
}

pub fn abort_on_drop(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    w.put("t", b"keep", b"1").unwrap();
    w.commit().unwrap();
    {
        let mut w = s.write().unwrap();
        w.put("t", b"k", b"v").unwrap();
        w.delete("t", b"keep").unwrap();
    }
    let r = s.read().unwrap();
    assert_eq!(r.get("t", b"k").unwrap(), None);
    assert!(r.get("t", b"keep").unwrap().is_some());
    drop(r);
    // The writer lock was released.
    let w = s.write().unwrap();
    w.commit().unwrap();
}

pub fn wipe(f: Fixture) {
    let s = &*f.meta;
    let mut w = s.write().unwrap();
    let r1 = w.put("t", b"k", b"v").unwrap();
    w.put("u", b"k", b"v").unwrap();
    w.commit().unwrap();
    let held = s.read().unwrap();
    s.wipe().unwrap();
    assert_eq!(
        held.get("t", b"k").unwrap().unwrap().value,
        b"v",
        "an open reader keeps its snapshot"
    );
    drop(held);
    let r = s.read().unwrap();
    assert_eq!(r.count("t", b"").unwrap(), 0);
    assert_eq!(r.count("u", b"").unwrap(), 0);
    drop(r);
    let mut w = s.write().unwrap();
    assert!(w.put("t", b"k", b"again").unwrap() > r1);
    w.commit().unwrap();
}

pub fn leases(f: Fixture) {
    let s = &*f.meta;
    let t0: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let ttl = Duration::from_secs(30);
    assert_eq!(s.lease("copy-worker").unwrap(), None);
    assert!(s.try_lease("copy-worker", "node-a", ttl, t0).unwrap());
    let l1 = s.lease("copy-worker").unwrap().unwrap();
    assert_eq!(l1.holder, "node-a");
    assert_eq!(l1.expires_at, t0 + chrono::Duration::seconds(30));
    assert!(!s
        .try_lease(
            "copy-worker",
            "node-b",
            ttl,
            t0 + chrono::Duration::seconds(29)
        )
        .unwrap());
    // Renewal by the holder moves the expiry and the fencing token.
    assert!(s
        .try_lease(
            "copy-worker",
            "node-a",
            ttl,
            t0 + chrono::Duration::seconds(20)
        )
        .unwrap());
    let l2 = s.lease("copy-worker").unwrap().unwrap();
    assert!(l2.revision > l1.revision);
    assert!(!s
        .try_lease(
            "copy-worker",
            "node-b",
            ttl,
            t0 + chrono::Duration::seconds(49)
        )
        .unwrap());
    // Expired: another node takes over.
    assert!(s
        .try_lease(
            "copy-worker",
            "node-b",
            ttl,
            t0 + chrono::Duration::seconds(50)
        )
        .unwrap());
    assert_eq!(s.lease("copy-worker").unwrap().unwrap().holder, "node-b");
    assert!(!s.release_lease("copy-worker", "node-a").unwrap());
    assert!(s.release_lease("copy-worker", "node-b").unwrap());
    assert_eq!(s.lease("copy-worker").unwrap(), None);
    // Leases are independent; a huge ttl saturates instead of failing.
    assert!(s.try_lease("a", "x", Duration::MAX, t0).unwrap());
    assert!(s.try_lease("b", "y", ttl, t0).unwrap());
    assert!(!s
        .try_lease("a", "y", ttl, t0 + chrono::Duration::days(10_000))
        .unwrap());
}

pub fn transact_helper(f: Fixture) {
    let s = &*f.meta;
    let rev = transact(s, |w| w.put("t", b"k", b"v")).unwrap();
    assert_eq!(s.read().unwrap().revision("t", b"k").unwrap(), rev);
    #[derive(Debug)]
    enum MyErr {
        Store(#[allow(dead_code)] StoreError),
        NotAllowed,
    }
    impl From<StoreError> for MyErr {
        fn from(e: StoreError) -> Self {
            MyErr::Store(e)
        }
    }
    let r: Result<(), MyErr> = transact(s, |w| {
        w.put("t", b"k", b"changed")?;
        Err(MyErr::NotAllowed)
    });
    assert!(matches!(r, Err(MyErr::NotAllowed)));
    assert_eq!(
        s.read().unwrap().get("t", b"k").unwrap().unwrap().value,
        b"v"
    );
    let r: Result<u64, MyErr> = transact(s, |w| Ok(w.put_if("t", b"k", 0, b"x")?));
    assert!(matches!(r, Err(MyErr::Store(StoreError::Conflict { .. }))));
}

pub fn concurrent_writers(f: Fixture) {
    let s: Arc<dyn MetaStore> = f.meta.clone();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..25u32 {
                    transact(&*s, |w| {
                        let n = match w.get("t", b"counter")? {
                            Some(r) => u32::from_be_bytes(r.value.try_into().unwrap()),
                            None => 0,
                        };
                        w.put("t", b"counter", &(n + 1).to_be_bytes())?;
                        w.put("t", format!("{t}-{i}").as_bytes(), b"")?;
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
                    let r = s.read().unwrap();
                    assert!(r.get("t", format!("{t}-{i}").as_bytes()).unwrap().is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = s.read().unwrap();
    assert_eq!(
        r.get("t", b"counter").unwrap().unwrap().value,
        100u32.to_be_bytes()
    );
    assert_eq!(r.count("t", b"").unwrap(), 101);
}

pub fn blobs_basic(f: Fixture) {
    let b = &*f.blobs;
    let key = "ap-northeast-1/blocks/ab/cdef0123";
    assert_eq!(b.get(key).unwrap(), None);
    assert!(!b.exists(key).unwrap());
    b.put(key, b"hello world").unwrap();
    assert_eq!(b.get(key).unwrap().unwrap(), b"hello world");
    assert_eq!(b.size(key).unwrap(), Some(11));
    assert!(b.exists(key).unwrap());
    assert_eq!(b.get_range(key, 6, 100).unwrap().unwrap(), b"world");
    assert_eq!(b.get_range(key, 0, 5).unwrap().unwrap(), b"hello");
    assert_eq!(b.get_range(key, 11, 5).unwrap().unwrap(), b"");
    assert_eq!(b.get_range(key, 500, 5).unwrap().unwrap(), b"");
    assert_eq!(b.get_range("nope", 0, 5).unwrap(), None);
    b.put(key, b"replaced").unwrap();
    assert_eq!(b.get(key).unwrap().unwrap(), b"replaced");
    b.put("ap-northeast-1/blocks/ab/00", b"").unwrap();
    b.put("ap-northeast-1/blocks/cd/01", b"x").unwrap();
    b.put("ap-northeast-1/manifest", b"m").unwrap();
    b.put("us-east-1/blocks/ab/00", b"u").unwrap();
    assert_eq!(b.get("ap-northeast-1/blocks/ab/00").unwrap().unwrap(), b"");
    assert_eq!(
        b.list("ap-northeast-1/").unwrap(),
        vec![
            "ap-northeast-1/blocks/ab/00",
            "ap-northeast-1/blocks/ab/cdef0123",
            "ap-northeast-1/blocks/cd/01",
            "ap-northeast-1/manifest"
        ]
    );
    assert_eq!(
        b.list("ap-northeast-1/blocks/ab/c").unwrap(),
        vec!["ap-northeast-1/blocks/ab/cdef0123"]
    );
    assert_eq!(
        b.list("ap-northeast-1/m").unwrap(),
        vec!["ap-northeast-1/manifest"]
    );
    assert_eq!(b.list("ap").unwrap().len(), 4);
    assert_eq!(b.list("").unwrap().len(), 5);
    assert!(b.list("eu-").unwrap().is_empty());
    // A directory-like prefix is not an object.
    assert_eq!(b.get("ap-northeast-1/blocks").unwrap(), None);
    assert!(!b.delete("ap-northeast-1/blocks").unwrap());
    assert!(b.delete(key).unwrap());
    assert!(!b.delete(key).unwrap());
    assert_eq!(b.get(key).unwrap(), None);
    assert_eq!(
        b.list("ap-northeast-1/blocks/ab/").unwrap(),
        vec!["ap-northeast-1/blocks/ab/00"]
    );
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    b.put("big/0", &big).unwrap();
    assert_eq!(b.get("big/0").unwrap().unwrap(), big);
    assert_eq!(
        b.get_range("big/0", 524_288, 10).unwrap().unwrap(),
        &big[524_288..524_298]
    );
    b.wipe().unwrap();
    assert!(b.list("").unwrap().is_empty());
    b.put("after/wipe", b"ok").unwrap();
    assert_eq!(b.list("").unwrap(), vec!["after/wipe"]);
}

pub fn blob_key_validation(f: Fixture) {
    let b = &*f.blobs;
    for bad in [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        "a/",
        ".tmp.x",
        "a\\b",
        "a\0b",
        "ü",
    ] {
        assert!(
            matches!(b.put(bad, b"x"), Err(StoreError::InvalidName { .. })),
            "{bad:?}"
        );
        assert!(b.get(bad).is_err(), "{bad:?}");
        assert!(b.get_range(bad, 0, 1).is_err(), "{bad:?}");
        assert!(b.size(bad).is_err(), "{bad:?}");
        assert!(b.delete(bad).is_err(), "{bad:?}");
    }
    for bad in ["/", "../", "a//"] {
        assert!(b.list(bad).is_err(), "{bad:?}");
    }
    assert!(b.list("").unwrap().is_empty());
}

macro_rules! suite {
    ($backend:ident, $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    super::$case(crate::$backend());
                }
            )*
        }
    };
}

macro_rules! all_cases {
    ($backend:ident) => {
        suite!(
            $backend,
            put_get_delete,
            revisions_grow,
            conditional_writes,
            tables_are_separate,
            invalid_table_names,
            scan_order_prefix_paging,
            write_txn_sees_own_writes,
            snapshot_isolation,
            abort_on_drop,
            wipe,
            leases,
            transact_helper,
            concurrent_writers,
            blobs_basic,
            blob_key_validation,
        );
    };
}

all_cases!(memory);
all_cases!(embedded);
all_cases!(embedded_immediate);

/// Embedded only: what survives closing and reopening the data directory.
mod embedded_persistence {
    use kmsnap_store::embedded::{CommitMode, EmbeddedMeta, FileBlobs};
    use kmsnap_store::{BlobStore, MetaStore, StoreError};

    #[test]
    fn reopen_keeps_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let (rev, lease_rev) = {
            let (meta, blobs) = kmsnap_store::open_embedded(dir.path()).unwrap();
            let mut w = meta.write().unwrap();
            let rev = w.put("keys", b"k1", b"v1").unwrap();
            w.put("keys", b"k2", b"v2").unwrap();
            w.commit().unwrap();
            let mut w = meta.write().unwrap();
            w.put("keys", b"uncommitted", b"x").unwrap();
            drop(w);
            let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            assert!(meta
                .try_lease("l", "me", std::time::Duration::from_secs(5), now)
                .unwrap());
            blobs.put("r/blocks/00", b"block").unwrap();
            (rev, meta.lease("l").unwrap().unwrap().revision)
        };
        let (meta, blobs) = kmsnap_store::open_embedded(dir.path()).unwrap();
        let r = meta.read().unwrap();
        assert_eq!(r.get("keys", b"k1").unwrap().unwrap().revision, rev);
        assert_eq!(r.count("keys", b"").unwrap(), 2);
        assert_eq!(r.get("keys", b"uncommitted").unwrap(), None);
        drop(r);
        assert_eq!(meta.lease("l").unwrap().unwrap().revision, lease_rev);
        // The revision counter survives too.
        let mut w = meta.write().unwrap();
        assert!(w.put("keys", b"k3", b"v3").unwrap() > lease_rev);
        w.commit().unwrap();
        assert_eq!(blobs.get("r/blocks/00").unwrap().unwrap(), b"block");
    }

    #[test]
    fn second_open_of_the_same_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = kmsnap_store::open_embedded(dir.path()).unwrap();
        assert!(kmsnap_store::open_embedded(dir.path()).is_err());
    }

    #[test]
    fn temp_files_left_by_a_crash_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        {
            let blobs = FileBlobs::open(&root).unwrap();
            blobs.put("r/blocks/00", b"complete").unwrap();
            // A crash between writing the temp file and renaming it.
            std::fs::write(root.join("r/blocks/.tmp.01.123.0"), b"partial").unwrap();
            std::fs::write(
                root.join("r/blocks/.tmp.00.123.1"),
                b"half of a replacement",
            )
            .unwrap();
            assert_eq!(blobs.list("").unwrap(), vec!["r/blocks/00"]);
            assert_eq!(blobs.get("r/blocks/01").unwrap(), None);
            assert_eq!(blobs.get("r/blocks/00").unwrap().unwrap(), b"complete");
        }
        let blobs = FileBlobs::open(&root).unwrap();
        assert_eq!(blobs.list("").unwrap(), vec!["r/blocks/00"]);
        let left: Vec<_> = std::fs::read_dir(root.join("r/blocks"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("00")]);
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        let mut seed = 7u64;
        let garbage: Vec<u8> = (0..65_536)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect();
        std::fs::write(&path, garbage).unwrap();
        assert!(EmbeddedMeta::open(&path, CommitMode::Group).is_err());
    }

    #[test]
    fn corrupt_value_is_a_corrupt_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        drop(EmbeddedMeta::open(&path, CommitMode::Group).unwrap());
        {
            // Write a value too short to hold a revision, behind the store's back.
            let db = redb::Database::open(&path).unwrap();
            let w = db.begin_write().unwrap();
            {
                let mut kv = w
                    .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("kv"))
                    .unwrap();
                kv.insert(&b"t\0bad"[..], &b"\x01"[..]).unwrap();
            }
            w.commit().unwrap();
        }
        let meta = EmbeddedMeta::open(&path, CommitMode::Group).unwrap();
        let r = meta.read().unwrap();
        assert!(matches!(
            r.get("t", b"bad"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            r.scan("t", b"", None, 10),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn unknown_layout_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        drop(EmbeddedMeta::open(&path, CommitMode::Group).unwrap());
        {
            let db = redb::Database::open(&path).unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(redb::TableDefinition::<&str, u64>::new("sys"))
                .unwrap()
                .insert("format", 99)
                .unwrap();
            w.commit().unwrap();
        }
        assert!(matches!(
            EmbeddedMeta::open(&path, CommitMode::Group),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
