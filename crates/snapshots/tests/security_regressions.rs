//! Security regressions of kmsnap-snapshots. Each test names the report it guards and what it
//! checks, against the crate's public API over the embedded store.

use kmsnap_api::gen::ebs::*;
use kmsnap_api::gen::ec2;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock, ManualClock, Region, RootKey};
use kmsnap_snapshots::gc::Collector;
use kmsnap_snapshots::ops::direct::{complete, read, start, write};
use kmsnap_snapshots::workers::copy::{step_with, Tuning};
use kmsnap_snapshots::{fsck, store, Snapshots};
use kmsnap_store::{BlobStore, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const OWNER: &str = "135713571361";
const TOKYO: &str = "ap-northeast-1";
const OREGON: &str = "us-west-2";
const BLOCK: usize = 524_288;

/// The embedded blob store, where every `every`-th `put_fresh` fails once its object is
/// stored: what a write killed between its blob and its row leaves (the blob, and no row).
struct DiesAfterPut {
    inner: Arc<dyn BlobStore>,
    every: AtomicU64,
    puts: AtomicU64,
}

impl BlobStore for DiesAfterPut {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, bytes)
    }

    fn put_fresh(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let key = self.inner.put_fresh(dir, name, bytes)?;
        let every = self.every.load(Ordering::SeqCst);
        // `every` 0: never (no remainder).
        if (self.puts.fetch_add(1, Ordering::SeqCst) + 1).checked_rem(every) == Some(0) {
            return Err(StoreError::Backend {
                detail: "injected: the writer died after its put".into(),
            });
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
        "dies-after-put"
    }
}

fn ctx(clock: &ManualClock, region: &str) -> RequestContext {
    RequestContext {
        principal: Principal::root(AccountId::parse(OWNER).unwrap(), OWNER),
        region: Region::parse(region).unwrap(),
        request_id: "r".into(),
        source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        user_agent: "security-regressions".into(),
        now: clock.now(),
        via_service: None,
    }
}

fn block(i: u64) -> Vec<u8> {
    let mut b = vec![(i % 251) as u8 ^ 0x5a; BLOCK];
    b[..8].copy_from_slice(&i.to_be_bytes());
    b
}

async fn put(
    svc: &Snapshots,
    c: &RequestContext,
    id: &str,
    i: u64,
) -> Result<(), kmsnap_snapshots::EbsError> {
    let data = block(i);
    let req = PutSnapshotBlockRequest {
        snapshot_id: id.into(),
        block_index: i as i32,
        checksum: kmsnap_snapshots::blocks::sha256_b64(&data),
        block_data: Some(data.into()),
        data_length: BLOCK as i32,
        progress: None,
        checksum_algorithm: ChecksumAlgorithm::Sha256,
    };
    write::put_snapshot_block(svc, c, req).await.map(|_| ())
}

/// Every block of `id` through ListSnapshotBlocks / GetSnapshotBlock.
async fn read_all(svc: &Snapshots, c: &RequestContext, id: &str) -> Vec<(u64, Vec<u8>)> {
    let list = read::list_snapshot_blocks(
        svc,
        c,
        ListSnapshotBlocksRequest {
            snapshot_id: id.into(),
            max_results: Some(10_000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    for b in list.blocks.unwrap() {
        let (index, token) = (b.block_index.unwrap(), b.block_token.unwrap());
        let req = GetSnapshotBlockRequest {
            snapshot_id: id.into(),
            block_index: index,
            block_token: token,
        };
        let got = read::get_snapshot_block(svc, c, req).await.unwrap();
        out.push((index as u64, got.block_data.unwrap().to_vec()));
    }
    out
}

/// Guards issue #13 item 7, "Killed copies leak space": writes that die between storing a
/// block and committing its row (PutSnapshotBlock, and copy batches) used to leave orphan
/// blocks that only an offline `kmsnap fsck --delete-orphans` reclaimed. Now the server's
/// collector reclaims them while it runs — and, sweeping all the time beside the uploads and
/// the copy, it never deletes a block that a manifest names or that a write still in flight
/// is about to name: every block of the source and of the copy reads back as written, and
/// fsck finds neither damage nor an orphan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_7_killed_writes_are_reclaimed_online_and_referenced_blocks_never_are() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, files) = kmsnap_store::open_embedded(dir.path()).unwrap();
    let blobs = Arc::new(DiesAfterPut {
        inner: files,
        every: AtomicU64::new(0),
        puts: AtomicU64::new(0),
    });
    let clock = Arc::new(ManualClock::new(0));
    let kms = Arc::new(
        kmsnap_kms::Kms::new(meta.clone(), &RootKey::from_bytes([5u8; 32]), clock.clone()).unwrap(),
    );
    let svc = Arc::new(Snapshots::new(
        meta.clone(),
        blobs.clone(),
        kms.clone(),
        clock.clone(),
    ));
    let (tokyo, oregon) = (ctx(&clock, TOKYO), ctx(&clock, OREGON));
    let src_key = kms
        .create_key(&tokyo, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let dst_key = kms
        .create_key(&oregon, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();

    // The collector sweeps without pause from here on.
    let stop = Arc::new(AtomicBool::new(false));
    let sweeper = {
        let (svc, stop) = (svc.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = Collector::default();
            while !stop.load(Ordering::Relaxed) {
                c.step(&svc).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    // Uploads where every 5th PutSnapshotBlock dies after its blob; the client retries.
    blobs.every.store(5, Ordering::SeqCst);
    let start = StartSnapshotRequest {
        volume_size: 1,
        kms_key_arn: Some(src_key),
        ..Default::default()
    };
    let source = start::start_snapshot(&svc, &tokyo, start)
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    const N: u64 = 40;
    for i in 0..N {
        while put(&svc, &tokyo, &source, i).await.is_err() {}
    }
    blobs.every.store(0, Ordering::SeqCst);
    let done = CompleteSnapshotRequest {
        snapshot_id: source.clone(),
        changed_blocks_count: N as i32,
        ..Default::default()
    };
    complete::complete_snapshot(&svc, &tokyo, done)
        .await
        .unwrap();
    while kmsnap_snapshots::workers::run_once(&svc).await.unwrap() {}

    // A re-encrypting copy to Oregon whose runs die at every 7th put.
    let req = ec2::CopySnapshotRequest {
        source_region: TOKYO.into(),
        source_snapshot_id: source.clone(),
        encrypted: Some(true),
        kms_key_id: Some(dst_key),
        presigned_url: Some("http://localhost/?X-Amz-Signature=abc".into()),
        destination_region: Some(OREGON.into()),
        ..Default::default()
    };
    let copy = kmsnap_snapshots::ops::copy::copy_snapshot(&svc, &oregon, req)
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    blobs.every.store(7, Ordering::SeqCst);
    let tuning = Tuning {
        batch: 3,
        max_rows: 4096,
        max_batches: usize::MAX,
        budget: Duration::from_secs(60),
        threads: 2,
    };
    let mut failed_runs = 0;
    for _ in 0..1000 {
        let Some(job) = store::get_job(meta.read().unwrap().as_ref(), &copy).unwrap() else {
            break;
        };
        if step_with(&svc, &job, &tuning).await.is_err() {
            failed_runs += 1;
        }
    }
    assert!(failed_runs > 0);
    blobs.every.store(0, Ordering::SeqCst);

    stop.store(true, Ordering::Relaxed);
    sweeper.join().unwrap();
    Collector::default().sweep(&svc).unwrap();
    assert!(
        svc.gc_totals().blobs > 0,
        "the killed writes' blocks were reclaimed online"
    );

    let want: Vec<(u64, Vec<u8>)> = (0..N).map(|i| (i, block(i))).collect();
    assert!(
        read_all(&svc, &tokyo, &source).await == want,
        "the source reads back as written"
    );
    assert!(
        read_all(&svc, &oregon, &copy).await == want,
        "the copy reads back as written"
    );
    let report = fsck::fsck(&svc, false, Arc::new(|_, _| {})).await.unwrap();
    assert!(report.clean(), "{:?}", report.damaged);
    assert_eq!(report.orphans, Vec::<String>::new());
    assert_eq!(report.blobs, 2 * N);
    assert_eq!(
        blobs.list("").unwrap().len() as u64,
        2 * N,
        "only the referenced blocks are left"
    );
}
