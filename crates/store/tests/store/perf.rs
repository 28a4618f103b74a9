//! Commit throughput, measured on a real file (`cargo test -p kmsnap-store --release --test
//! store -- --ignored --nocapture perf`). Results go in notes, not asserts.

use kmsnap_store::embedded::{CommitMode, EmbeddedMeta};
use kmsnap_store::MetaStore;
use std::sync::Arc;
use std::time::Instant;

fn measure(store: Arc<dyn MetaStore>, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let mut w = store.write().unwrap();
                    let key = format!("key-{t}-{i}");
                    w.put("keys", key.as_bytes(), &[0x42; 200]).unwrap();
                    w.put("audit", key.as_bytes(), &[0x17; 300]).unwrap();
                    w.commit().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture in release"]
fn perf_commit_throughput() {
    for (mode, name) in [
        (CommitMode::Immediate, "immediate"),
        (CommitMode::Group, "group"),
    ] {
        for threads in [1, 4, 16, 64] {
            let dir = tempfile::tempdir().unwrap();
            let store: Arc<dyn MetaStore> =
                Arc::new(EmbeddedMeta::open(&dir.path().join("meta.redb"), mode).unwrap());
            let per_thread = 4000 / threads;
            let rate = measure(store, threads, per_thread);
            println!("embedded {name:9} {threads:2} threads: {rate:8.0} commits/s");
        }
    }
    let (meta, _) = kmsnap_store::open_memory();
    let rate = measure(meta.clone(), 4, 20_000);
    println!("memory              4 threads: {rate:8.0} commits/s");
    let dir = tempfile::tempdir().unwrap();
    let (embedded, _) = kmsnap_store::open_embedded(dir.path()).unwrap();
    measure(embedded.clone(), 4, 1000);
    for (name, store) in [("memory", meta), ("embedded", embedded)] {
        let rate = measure_reads(store, 2, 200_000);
        println!("{name:9} read txn + get, 2 threads: {rate:8.0} reads/s");
    }
}

/// A fresh read transaction and one point read per operation (a key-metadata lookup).
fn measure_reads(store: Arc<dyn MetaStore>, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let r = store.read().unwrap();
                    let key = format!("key-{}-{}", t, i % 1000);
                    assert!(r.get("keys", key.as_bytes()).unwrap().is_some());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}
