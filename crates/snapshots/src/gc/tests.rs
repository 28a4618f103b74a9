//! The collector against the service: orphans of every kind go (writes given up, deleted
//! snapshots, deleted copies after their copy-map entries) while every block a manifest names
//! stays readable; a PutSnapshotBlock or a copy batch whose blobs are stored but whose rows are
//! not yet committed keeps them until it ends. [`Gate`] holds puts right after they are
//! durable, which is the window a kill leaves open.

use super::*;
use crate::blocks;
use crate::model::{BlockRef, SnapshotState};
use crate::testenv::*;
use crate::workers::copy::{step_with, Tuning};
use kmsnap_api::gen::ebs::{PutSnapshotBlockRequest, StartSnapshotRequest};
use kmsnap_api::gen::ec2;
use kmsnap_core::Region;
use kmsnap_store::memory::MemoryBlobs;
use kmsnap_store::{BlobStore, StoreError};
use std::sync::atomic::AtomicUsize;
use std::sync::{Condvar, Mutex};

/// A memory blob store whose `put_fresh` can, once the object is stored, hold the caller until
/// [`Gate::open`] (a write between its blob and its row), or fail (a write that dies there).
#[derive(Default)]
struct Gate {
    inner: MemoryBlobs,
    closed: Mutex<bool>,
    opened: Condvar,
    /// Puts stored and held.
    held: AtomicUsize,
    /// Puts stored and then failed.
    fail_next: AtomicUsize,
}

impl Gate {
    /// Holds puts until the returned guard is dropped or [`Gate::open`] is called (the guard
    /// opens it even when an assertion fails, so the held puts end and the test can too).
    fn close(&self) -> OpenOnDrop<'_> {
        *self.closed.lock().unwrap() = true;
        OpenOnDrop(self)
    }

    fn open(&self) {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.opened.notify_all();
    }

    /// Waits until `n` puts are held.
    fn wait_held(&self, n: usize) {
        for _ in 0..5000 {
            if self.held.load(Ordering::SeqCst) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("puts never reached the gate");
    }
}

struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl BlobStore for Gate {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, bytes)
    }

    fn put_fresh(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let key = self.inner.put_fresh(dir, name, bytes)?;
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Backend {
                detail: "injected: died after the put".into(),
            });
        }
        let mut closed = self.closed.lock().unwrap();
        if *closed {
            self.held.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
        Ok(key)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_range(key, offset, len)
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.size(key)
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix)
    }

    fn wipe(&self) -> Result<(), StoreError> {
        self.inner.wipe()
    }

    fn kind(&self) -> &'static str {
        "gate"
    }
}

fn gated() -> (Env, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    (Env::with_blobs(gate.clone()), gate)
}

fn data() -> Vec<(u64, u8)> {
    (0..13u64)
        .map(|i| (i * 3 + 1, (i as u8).wrapping_mul(17) | 1))
        .collect()
}

fn sweep(env: &Env) -> Report {
    Collector::default().sweep(&env.svc).unwrap()
}

/// Every blob `id`'s manifest names exists.
fn all_present(env: &Env, id: &str) {
    for (i, b) in env.manifest(id) {
        assert!(
            env.blobs.exists(&b.blob).unwrap(),
            "{id} block {i}: {} is gone",
            b.blob
        );
    }
}

fn orphans(env: &Env) -> Vec<String> {
    let refs = References::read(env.meta.as_ref()).unwrap();
    env.blobs
        .list("")
        .unwrap()
        .into_iter()
        .filter(|k| is_orphan(k, &refs))
        .collect()
}

async fn delete_snapshot(env: &Env, account: &str, region: &str, id: &str) {
    let req = ec2::DeleteSnapshotRequest {
        snapshot_id: id.into(),
        ..Default::default()
    };
    crate::ops::snapshots::delete(&env.svc, &env.ctx(account, region), req)
        .await
        .unwrap();
}

/// A write given up after its blob, and a deleted snapshot's own block: both go. Blocks the
/// deleted snapshot shared with its child, and a copy's, stay and read back.
#[tokio::test]
async fn orphans_go_and_referenced_blocks_stay() {
    let env = Env::new();
    let key = env.key(OWNER, TOKYO).await;
    let parent = env.snapshot(OWNER, TOKYO, Some(&key), &data(), None).await;
    let child = env
        .snapshot(OWNER, TOKYO, None, &[(4, 0xee)], Some(&parent))
        .await;
    let copy = env.copy(OWNER, OREGON, &child, None, None).await.unwrap();
    env.drain(&[(&copy, 13)]).await;
    assert_eq!(sweep(&env).reclaimed.deleted, 0, "nothing to reclaim yet");

    let pin = env.svc.pin_write();
    let given_up = blocks::store_block(
        env.blobs.as_ref(),
        &pin,
        Region::parse(TOKYO).unwrap(),
        &child.lineage,
        7,
        b"sealed",
    )
    .unwrap();
    drop(pin);
    delete_snapshot(&env, OWNER, TOKYO, &parent.id).await;
    let before = env.blobs.list("").unwrap().len();

    let r = sweep(&env);
    assert_eq!(
        r.reclaimed.deleted, 2,
        "{r:?}: the given-up write and the parent's block 4"
    );
    assert!(r.reclaimed.bytes > 0);
    assert!(!env.blobs.exists(&given_up).unwrap());
    assert_eq!(env.blobs.list("").unwrap().len(), before - 2);
    let mut want: Vec<(u64, u8)> = data().into_iter().filter(|(i, _)| *i != 4).collect();
    want.push((4, 0xee));
    assert_eq!(env.read_all(OWNER, &child.id).await, expected(&want));
    assert_eq!(env.read_all(OWNER, &copy).await, expected(&want));
    assert!(orphans(&env).is_empty());
    assert_eq!(env.svc.gc_totals().blobs, 2);
}

/// A blob stored under a pin survives every sweep that listed it while the pin is held; once
/// its row is committed it stays for good; a pinned write given up loses its blob to the next
/// sweep.
#[tokio::test]
async fn a_write_in_flight_keeps_its_blob_until_it_ends() {
    let env = Env::new();
    let region = Region::parse(TOKYO).unwrap();
    let first = env.svc.pin_write();
    let committed =
        blocks::store_block(env.blobs.as_ref(), &first, region, "lin-a", 0, b"one").unwrap();
    let mut c = Collector::default();
    assert_eq!(c.step(&env.svc).unwrap(), Progress::Waiting);
    let second = env.svc.pin_write();
    let abandoned =
        blocks::store_block(env.blobs.as_ref(), &second, region, "lin-a", 1, b"two").unwrap();
    assert_eq!(c.step(&env.svc).unwrap(), Progress::Waiting);
    assert!(env.blobs.exists(&committed).unwrap());
    // The first write commits its row, then ends.
    let mut txn = env.meta.write().unwrap();
    store::put_block(
        txn.as_mut(),
        "snap-0123456789abcdef0",
        0,
        &BlockRef {
            blob: committed.clone(),
            sha256: String::new(),
            lineage: "lin-a".into(),
        },
    )
    .unwrap();
    txn.commit().unwrap();
    drop(first);
    let Progress::Swept(r) = c.step(&env.svc).unwrap() else {
        panic!("a later pin held the sweep")
    };
    assert_eq!(r.reclaimed.deleted, 0, "{r:?}");
    // The second never commits.
    assert_eq!(
        c.step(&env.svc).unwrap(),
        Progress::Waiting,
        "a new sweep waits for it"
    );
    drop(second);
    let Progress::Swept(r) = c.step(&env.svc).unwrap() else {
        panic!("nothing held")
    };
    assert_eq!(r.reclaimed.deleted, 1);
    assert!(env.blobs.exists(&committed).unwrap() && !env.blobs.exists(&abandoned).unwrap());
}

async fn start_direct(env: &Env) -> String {
    let req = StartSnapshotRequest {
        volume_size: 1,
        ..Default::default()
    };
    crate::ops::direct::start::start_snapshot(&env.svc, &env.ctx(OWNER, TOKYO), req)
        .await
        .unwrap()
        .snapshot_id
        .unwrap()
}

fn put_request(id: &str, index: i32) -> PutSnapshotBlockRequest {
    put_block_request(id, index, &block(index as u64, 0x42))
}

/// PutSnapshotBlock between its blob and its row (held by the gate): a sweep waits for it and
/// the block is there after. One that dies there leaves an orphan the next sweep takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_snapshot_block_in_flight_is_waited_for() {
    let (env, gate) = gated();
    let id = start_direct(&env).await;
    let _open = gate.close();
    let (svc, ctx, req) = (env.svc.clone(), env.ctx(OWNER, TOKYO), put_request(&id, 3));
    let put = tokio::spawn(async move {
        crate::ops::direct::write::put_snapshot_block(&svc, &ctx, req).await
    });
    tokio::task::block_in_place(|| gate.wait_held(1));
    assert_eq!(
        env.blobs.list("").unwrap().len(),
        1,
        "the blob is stored, its row not committed"
    );
    let mut c = Collector::default();
    assert_eq!(c.step(&env.svc).unwrap(), Progress::Waiting);
    gate.open();
    put.await.unwrap().unwrap();
    let Progress::Swept(r) = c.step(&env.svc).unwrap() else {
        panic!("the put ended")
    };
    assert_eq!(r.reclaimed.deleted, 0);
    all_present(&env, &id);
    assert_eq!(env.manifest(&id).len(), 1);

    gate.fail_next.store(1, Ordering::SeqCst);
    assert!(crate::ops::direct::write::put_snapshot_block(
        &env.svc,
        &env.ctx(OWNER, TOKYO),
        put_request(&id, 4)
    )
    .await
    .is_err());
    assert_eq!(env.blobs.list("").unwrap().len(), 2);
    assert_eq!(sweep(&env).reclaimed.deleted, 1, "the dead write's blob");
    all_present(&env, &id);
}

fn batches_of_four() -> Tuning {
    Tuning {
        batch: 4,
        max_rows: 4096,
        max_batches: 2,
        budget: Duration::from_secs(60),
        threads: 2,
    }
}

/// A copy whose workers have stored blobs of a batch not yet committed (held by the gate): no
/// sweep finishes meanwhile and none of them goes; after the step they are all referenced. A
/// step whose puts die leaves orphans the next sweep takes, and the copy still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_flight_keeps_the_blocks_it_has_not_committed() {
    let (env, gate) = gated();
    let src_key = env.key(OWNER, TOKYO).await;
    let dst_key = env.key(OWNER, OREGON).await;
    let src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    let id = env
        .copy(OWNER, OREGON, &src, Some(true), Some(&dst_key))
        .await
        .unwrap();
    let tuning = batches_of_four();

    // Prepare the destination lineage first, then hold the first batch's puts.
    let _open = gate.close();
    let mut c = Collector::default();
    let (svc, job, t) = (env.svc.clone(), env.job(&id).unwrap(), tuning.clone());
    let step = tokio::spawn(async move { step_with(&svc, &job, &t).await });
    tokio::task::block_in_place(|| gate.wait_held(2));
    let stored: Vec<String> = env.blobs.list("us-west-2/").unwrap();
    assert!(stored.len() >= 2, "{stored:?}");
    assert!(env.manifest(&id).is_empty(), "nothing committed yet");
    for _ in 0..3 {
        assert_eq!(c.step(&env.svc).unwrap(), Progress::Waiting);
    }
    assert!(stored.iter().all(|k| env.blobs.exists(k).unwrap()));
    gate.open();
    step.await.unwrap().unwrap();
    let Progress::Swept(r) = c.step(&env.svc).unwrap() else {
        panic!("the step ended")
    };
    assert_eq!(r.reclaimed.deleted, 0, "{r:?}");
    assert!(stored.iter().all(|k| env.blobs.exists(k).unwrap()));
    all_present(&env, &id);

    // A step whose second put dies: the batch fails, its first put is an orphan.
    gate.fail_next.store(1, Ordering::SeqCst);
    let job = env.job(&id).unwrap();
    assert!(step_with(&env.svc, &job, &tuning).await.is_err());
    assert!(!orphans(&env).is_empty());
    sweep(&env);
    assert!(orphans(&env).is_empty());
    env.drain(&[(&id, 13)]).await;
    assert_eq!(env.snap(&id).state, SnapshotState::Completed);
    assert_eq!(env.read_all(OWNER, &id).await, expected(&data()));
    assert_eq!(sweep(&env).reclaimed.deleted, 0);
    assert_eq!(env.read_all(OWNER, &src.id).await, expected(&data()));
}

/// A deleted copy's blocks are named by the copy map (for a later copy of the lineage to
/// reuse): the first sweep drops those entries, the next deletes the blocks; a later copy then
/// re-encrypts everything and reads back.
#[tokio::test]
async fn a_deleted_copy_goes_after_its_copy_map_entries() {
    let env = Env::new();
    let src_key = env.key(OWNER, TOKYO).await;
    let dst_key = env.key(OWNER, OREGON).await;
    let src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    let c1 = env
        .copy(OWNER, OREGON, &src, Some(true), Some(&dst_key))
        .await
        .unwrap();
    env.drain(&[(&c1, 13)]).await;
    delete_snapshot(&env, OWNER, OREGON, &c1).await;
    assert_eq!(orphans(&env).len(), 13);

    let first = sweep(&env);
    assert_eq!(
        (first.unmapped, first.reclaimed.deleted),
        (13, 0),
        "{first:?}"
    );
    let second = sweep(&env);
    assert_eq!(
        (second.unmapped, second.reclaimed.deleted),
        (0, 13),
        "{second:?}"
    );
    assert_eq!(env.blob_count("us-west-2/"), 0);

    let c2 = env
        .copy(OWNER, OREGON, &src, Some(true), Some(&dst_key))
        .await
        .unwrap();
    env.drain(&[(&c2, 13)]).await;
    assert_eq!(env.blob_count("us-west-2/"), 13, "re-encrypted in full");
    assert_eq!(env.read_all(OWNER, &c2).await, expected(&data()));
    assert_eq!(sweep(&env).reclaimed.deleted, 0);
}
