//! The EBS direct API against memory stores and a real in-process KMS: the encryption table,
//! checksums, tokens (forged, moved, expired), CompleteSnapshot's count and aggregate,
//! incremental children, key state reaching data, idempotency and timeouts.

use super::complete::{complete_snapshot, CHECKSUM_MISMATCH, COUNT_MISMATCH};
use super::read::{diff, get_snapshot_block, list_changed_blocks, list_snapshot_blocks};
use super::start::{encryption, is_key_arn, start_snapshot, Encryption};
use super::write::put_snapshot_block;
use crate::error::{to_ebs, EbsError};
use crate::model::{BlockRef, SnapshotState, BLOCK_SIZE};
use crate::store;
use crate::testenv::{audit_events, put_block_request, Env, TOKYO};
use aws_lc_rs::digest;
use base64::Engine as _;
use bytes::Bytes;
use kmsnap_api::gen::ebs::*;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::RequestContext;
use kmsnap_core::AccountId;

const ACCOUNT: &str = "246824682468";
const OTHER: &str = "135713571357";

/// The crate's test environment, with what these tests add: the caller is [`ACCOUNT`]'s
/// root in Tokyo unless a test says otherwise.
struct T {
    env: Env,
}

fn harness() -> T {
    T { env: Env::new() }
}

impl std::ops::Deref for T {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl T {
    fn ctx_of(&self, account: &str) -> RequestContext {
        self.env.ctx(account, TOKYO)
    }

    fn ctx(&self) -> RequestContext {
        self.ctx_of(ACCOUNT)
    }

    async fn key(&self) -> String {
        self.env.key(ACCOUNT, TOKYO).await
    }

    async fn start(&self, req: StartSnapshotRequest) -> Result<StartSnapshotResponse, EbsError> {
        start_snapshot(&self.svc, &self.ctx(), req).await
    }

    async fn put(
        &self,
        snap: &str,
        index: i32,
        data: &[u8],
    ) -> Result<PutSnapshotBlockResponse, EbsError> {
        put_snapshot_block(&self.svc, &self.ctx(), put_block_request(snap, index, data)).await
    }

    async fn complete(
        &self,
        snap: &str,
        count: i32,
        checksum: Option<String>,
    ) -> Result<(), EbsError> {
        let req = CompleteSnapshotRequest {
            snapshot_id: snap.into(),
            changed_blocks_count: count,
            checksum_algorithm: checksum.as_ref().map(|_| ChecksumAlgorithm::Sha256),
            checksum_aggregation_method: checksum
                .as_ref()
                .map(|_| ChecksumAggregationMethod::Linear),
            checksum,
        };
        let out = complete_snapshot(&self.svc, &self.ctx(), req).await?;
        assert_eq!(out.status, Some(Status::Pending));
        Ok(())
    }

    fn snapshot(&self, id: &str) -> crate::model::SnapshotRecord {
        store::find_snapshot(self.svc.meta.read().unwrap().as_ref(), id)
            .unwrap()
            .unwrap()
    }

    async fn list(&self, snap: &str) -> Vec<(i32, String)> {
        let req = ListSnapshotBlocksRequest {
            snapshot_id: snap.into(),
            ..Default::default()
        };
        let out = list_snapshot_blocks(&self.svc, &self.ctx(), req)
            .await
            .unwrap();
        out.blocks
            .unwrap()
            .into_iter()
            .map(|b| (b.block_index.unwrap(), b.block_token.unwrap()))
            .collect()
    }

    async fn get(
        &self,
        snap: &str,
        index: i32,
        token: &str,
    ) -> Result<GetSnapshotBlockResponse, EbsError> {
        let req = GetSnapshotBlockRequest {
            snapshot_id: snap.into(),
            block_index: index,
            block_token: token.into(),
        };
        get_snapshot_block(&self.svc, &self.ctx(), req).await
    }

    /// Start (unencrypted unless `key`), write `blocks`, complete: the snapshot id.
    async fn completed(
        &self,
        key: Option<&str>,
        parent: Option<&str>,
        blocks: &[(i32, Vec<u8>)],
    ) -> String {
        let id = self
            .env
            .direct_snapshot(&self.ctx(), key, parent, blocks)
            .await;
        assert_eq!(self.snapshot(&id).state, SnapshotState::Completed);
        id
    }
}

fn block(seed: u8) -> Vec<u8> {
    (0..BLOCK_SIZE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha_b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest::digest(&digest::SHA256, d).as_ref())
}

/// The LINEAR aggregate a client computes: SHA-256 over the raw digests, ascending index.
fn linear(blocks: &[(i32, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(i32, Vec<u8>)> = blocks.iter().collect();
    sorted.sort_by_key(|(i, _)| *i);
    let mut all = Vec::new();
    for (_, d) in sorted {
        all.extend_from_slice(digest::digest(&digest::SHA256, d).as_ref());
    }
    sha_b64(&all)
}

fn reason(e: &EbsError) -> (String, String) {
    let aws = to_ebs(e.clone());
    let r = aws
        .fields
        .iter()
        .find(|(k, _)| *k == "Reason")
        .and_then(|(_, v)| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    (aws.code.into_owned(), r)
}

fn assert_reason(r: Result<impl std::fmt::Debug, EbsError>, code: &str, why: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!(reason(&e), (code.to_owned(), why.to_owned()), "{e:?}");
}

#[test]
fn encryption_table() {
    use Encryption::*;
    // (parent: None / Some(encrypted)), Encrypted, KmsKeyArn given, EBD → outcome (None:
    // ValidationException).
    type Row = (Option<bool>, Option<bool>, bool, bool, Option<Encryption>);
    let rows: &[Row] = &[
        (None, None, false, false, Some(Unencrypted)),
        (None, None, false, true, Some(DefaultKey)),
        (None, None, true, false, Some(GivenKey)),
        (None, None, true, true, Some(GivenKey)),
        (None, Some(true), false, false, Some(DefaultKey)),
        (None, Some(true), false, true, Some(DefaultKey)),
        (None, Some(true), true, false, Some(GivenKey)),
        (None, Some(true), true, true, Some(GivenKey)),
        (None, Some(false), false, false, Some(Unencrypted)),
        (None, Some(false), false, true, None),
        (None, Some(false), true, false, None),
        (None, Some(false), true, true, None),
        (Some(false), None, false, false, Some(Parent)),
        (Some(false), None, false, true, None),
        (Some(false), Some(true), false, false, None),
        (Some(false), Some(false), false, false, None),
        (Some(false), None, true, false, None),
        (Some(false), Some(true), true, true, None),
        (Some(true), None, false, false, Some(Parent)),
        (Some(true), None, false, true, Some(Parent)),
        (Some(true), Some(true), false, false, None),
        (Some(true), Some(false), false, true, None),
        (Some(true), None, true, false, None),
        (Some(true), Some(true), true, true, None),
    ];
    for (parent, enc, key, ebd, want) in rows {
        let got = encryption(*parent, *enc, *key, *ebd);
        match want {
            Some(w) => assert_eq!(
                got.as_ref().ok(),
                Some(w),
                "{parent:?} {enc:?} key={key} ebd={ebd}"
            ),
            None => assert_eq!(
                reason(&got.unwrap_err()).1,
                "INVALID_PARAMETER_VALUE",
                "{parent:?} {enc:?} key={key} ebd={ebd}"
            ),
        }
    }
}

#[test]
fn key_arn_form() {
    for ok in [
        "arn:aws:kms:ap-northeast-1:246824682468:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws-cn:kms:cn-north-1:246824682468:key/mrk-1",
        "arn:aws-us-gov:kms:us-gov-west-1:246824682468:key/x",
    ] {
        assert!(is_key_arn(ok), "{ok}");
    }
    for bad in [
        "alias/aws/ebs",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:ap-northeast-1:246824682468:alias/x",
        "arn:aws:kms:ap-northeast-1:2468:key/x",
        "arn:aws:ec2:ap-northeast-1:246824682468:key/x",
        "arn:AWS:kms:ap-northeast-1:246824682468:key/x",
    ] {
        assert!(!is_key_arn(bad), "{bad}");
    }
}

#[test]
fn diff_honours_horizon_and_page_size() {
    let row = |b: &str| BlockRef {
        blob: b.into(),
        sha256: String::new(),
        lineage: "lin".into(),
    };
    let a = vec![(0, row("a0")), (1, row("x")), (3, row("a3"))];
    let b = vec![
        (1, row("x")),
        (2, row("b2")),
        (3, row("b3")),
        (9, row("b9")),
    ];
    assert_eq!(
        diff(&a, &b, None, 100),
        (
            vec![
                (0, true, false),
                (2, false, true),
                (3, true, true),
                (9, false, true)
            ],
            None
        )
    );
    assert_eq!(diff(&a, &b, Some(3), 100).0.len(), 3);
    assert_eq!(
        diff(&a, &b, None, 2),
        (vec![(0, true, false), (2, false, true)], Some(3))
    );
    assert_eq!(diff(&[], &b, None, 100).0.len(), 4);
}

#[tokio::test]
async fn round_trip_encrypted_with_checksums_and_aggregate() {
    let t = harness();
    let key = t.key().await;
    let req = StartSnapshotRequest {
        volume_size: 2,
        kms_key_arn: Some(key.clone()),
        description: Some("direct".into()),
        tags: Some(vec![Tag {
            key: Some("k".into()),
            value: Some("v".into()),
        }]),
        ..Default::default()
    };
    let started = t.start(req).await.unwrap();
    assert_eq!(started.status, Some(Status::Pending));
    assert_eq!(started.kms_key_arn.as_deref(), Some(key.as_str()));
    assert_eq!(started.block_size, Some(BLOCK_SIZE as i32));
    assert_eq!(started.sse_type, Some(SSEType::SseKms));
    assert_eq!(started.owner_id.as_deref(), Some(ACCOUNT));
    let id = started.snapshot_id.unwrap();
    let blocks = vec![(4095, block(1)), (0, block(2)), (17, block(3))];
    for (i, d) in &blocks {
        let out = t.put(&id, *i, d).await.unwrap();
        assert_eq!(out.checksum.as_deref(), Some(sha_b64(d).as_str()));
    }
    // Re-writing an index overwrites it and does not count twice.
    t.put(&id, 17, &blocks[2].1).await.unwrap();
    // Reads need a completed snapshot.
    let listing = ListSnapshotBlocksRequest {
        snapshot_id: id.clone(),
        ..Default::default()
    };
    assert_reason(
        list_snapshot_blocks(&t.svc, &t.ctx(), listing).await,
        "ValidationException",
        "INVALID_SNAPSHOT_ID",
    );
    t.complete(&id, 3, Some(linear(&blocks))).await.unwrap();
    let rec = t.snapshot(&id);
    assert_eq!((rec.state, rec.progress), (SnapshotState::Completed, 100));
    // Writes need a pending one.
    assert_reason(
        t.put(&id, 1, &block(9)).await,
        "ValidationException",
        "INVALID_SNAPSHOT_ID",
    );

    let listed = t.list(&id).await;
    assert_eq!(
        listed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 17, 4095]
    );
    for (i, token) in &listed {
        let got = t.get(&id, *i, token).await.unwrap();
        let want = &blocks.iter().find(|(j, _)| j == i).unwrap().1;
        assert_eq!(got.block_data.as_deref(), Some(&want[..]));
        assert_eq!(got.checksum.as_deref(), Some(sha_b64(want).as_str()));
        assert_eq!(
            (got.data_length, got.checksum_algorithm),
            (Some(BLOCK_SIZE as i32), Some(ChecksumAlgorithm::Sha256))
        );
    }
    // Blocks at rest are ciphertext.
    let row = store::get_block(t.svc.meta.read().unwrap().as_ref(), &id, 0)
        .unwrap()
        .unwrap();
    let stored = t.svc.blobs.get(&row.blob).unwrap().unwrap();
    assert!(!stored.windows(64).any(|w| w == &blocks[1].1[..64]));
}

#[tokio::test]
async fn put_checks_length_checksum_index_and_owner() {
    let t = harness();
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    let d = block(7);
    let mut bad = put_block_request(&id, 0, &d);
    bad.checksum = sha_b64(&block(8));
    assert_reason(
        put_snapshot_block(&t.svc, &t.ctx(), bad).await,
        "ValidationException",
        "INVALID_BLOCK",
    );
    let short = put_block_request(&id, 0, &d[..1000]);
    assert_reason(
        put_snapshot_block(&t.svc, &t.ctx(), short).await,
        "ValidationException",
        "INVALID_BLOCK",
    );
    let mut lying = put_block_request(&id, 0, &d);
    lying.block_data = Some(Bytes::copy_from_slice(&d[..BLOCK_SIZE - 1]));
    assert_reason(
        put_snapshot_block(&t.svc, &t.ctx(), lying).await,
        "ValidationException",
        "INVALID_BLOCK",
    );
    // 1 GiB = blocks 0..2047.
    t.put(&id, 2047, &d).await.unwrap();
    assert_reason(
        t.put(&id, 2048, &d).await,
        "ValidationException",
        "INVALID_BLOCK",
    );
    assert_reason(
        t.put("snap-0123456789abcdef0", 0, &d).await,
        "ResourceNotFoundException",
        "SNAPSHOT_NOT_FOUND",
    );
    // Another account: not found (not shared), so not writable either.
    let other = t.ctx_of(OTHER);
    assert_reason(
        put_snapshot_block(&t.svc, &other, put_block_request(&id, 0, &d)).await,
        "ResourceNotFoundException",
        "SNAPSHOT_NOT_FOUND",
    );
}

#[tokio::test]
async fn complete_checks_count_and_aggregate() {
    let t = harness();
    let blocks = vec![(3, block(1)), (1, block(2))];
    for (count, checksum, want) in [
        (2, Some(linear(&blocks)), None),
        (3, None, Some(COUNT_MISMATCH)),
        (2, Some(sha_b64(b"wrong")), Some(CHECKSUM_MISMATCH)),
        (2, None, None),
    ] {
        let id = t
            .start(StartSnapshotRequest {
                volume_size: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .snapshot_id
            .unwrap();
        for (i, d) in &blocks {
            t.put(&id, *i, d).await.unwrap();
        }
        t.complete(&id, count, checksum).await.unwrap();
        let rec = t.snapshot(&id);
        match want {
            None => assert_eq!(rec.state, SnapshotState::Completed),
            Some(msg) => {
                assert_eq!(rec.state, SnapshotState::Error);
                assert_eq!(rec.state_message.as_deref(), Some(msg));
            }
        }
    }
    // Checksum without its algorithm and method is refused up front.
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    let req = CompleteSnapshotRequest {
        snapshot_id: id,
        changed_blocks_count: 0,
        checksum: Some("x".into()),
        ..Default::default()
    };
    assert_reason(
        complete_snapshot(&t.svc, &t.ctx(), req).await,
        "ValidationException",
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn child_snapshots_are_incremental() {
    let t = harness();
    let key = t.key().await;
    let parent_blocks = vec![(0, block(10)), (1, block(11)), (2, block(12))];
    let parent = t.completed(Some(&key), None, &parent_blocks).await;
    // A parent excludes both encryption parameters.
    let bad = StartSnapshotRequest {
        volume_size: 1,
        parent_snapshot_id: Some(parent.clone()),
        encrypted: Some(true),
        ..Default::default()
    };
    assert_reason(
        t.start(bad).await,
        "ValidationException",
        "INVALID_PARAMETER_VALUE",
    );
    let child_writes = vec![(1, block(21)), (5, block(25))];
    let child = StartSnapshotRequest {
        volume_size: 1,
        parent_snapshot_id: Some(parent.clone()),
        ..Default::default()
    };
    let started = t.start(child).await.unwrap();
    assert_eq!(started.kms_key_arn.as_deref(), Some(key.as_str()));
    assert_eq!(started.parent_snapshot_id.as_deref(), Some(parent.as_str()));
    let child = started.snapshot_id.unwrap();
    assert_eq!(t.snapshot(&child).lineage, t.snapshot(&parent).lineage);
    for (i, d) in &child_writes {
        t.put(&child, *i, d).await.unwrap();
    }
    // Inherited blocks do not count, and are not in the aggregate.
    t.complete(&child, 2, Some(linear(&child_writes)))
        .await
        .unwrap();
    assert_eq!(t.snapshot(&child).state, SnapshotState::Completed);

    let listed = t.list(&child).await;
    assert_eq!(
        listed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 1, 2, 5]
    );
    let want = |i: i32| {
        child_writes
            .iter()
            .chain(&parent_blocks)
            .find(|(j, _)| *j == i)
            .unwrap()
            .1
            .clone()
    };
    for (i, tok) in &listed {
        assert_eq!(
            t.get(&child, *i, tok).await.unwrap().block_data.unwrap(),
            want(*i)
        );
    }
    // Blocks 0 and 2 are shared with the parent, not copied.
    let txn = t.svc.meta.read().unwrap();
    let shared = |i| {
        store::get_block(txn.as_ref(), &child, i)
            .unwrap()
            .unwrap()
            .blob
            == store::get_block(txn.as_ref(), &parent, i)
                .unwrap()
                .unwrap()
                .blob
    };
    assert!(shared(0) && shared(2) && !shared(1));
    drop(txn);

    let req = ListChangedBlocksRequest {
        first_snapshot_id: Some(parent.clone()),
        second_snapshot_id: child.clone(),
        ..Default::default()
    };
    let changed = list_changed_blocks(&t.svc, &t.ctx(), req)
        .await
        .unwrap()
        .changed_blocks
        .unwrap();
    let summary: Vec<(i32, bool, bool)> = changed
        .iter()
        .map(|c| {
            (
                c.block_index.unwrap(),
                c.first_block_token.is_some(),
                c.second_block_token.is_some(),
            )
        })
        .collect();
    assert_eq!(summary, vec![(1, true, true), (5, false, true)]);
    let c1 = &changed[0];
    assert_eq!(
        t.get(&parent, 1, c1.first_block_token.as_ref().unwrap())
            .await
            .unwrap()
            .block_data
            .unwrap(),
        block(11)
    );
    assert_eq!(
        t.get(&child, 1, c1.second_block_token.as_ref().unwrap())
            .await
            .unwrap()
            .block_data
            .unwrap(),
        block(21)
    );
    // Tokens are per snapshot: the parent's token does not open the child's block.
    assert_reason(
        t.get(&child, 1, c1.first_block_token.as_ref().unwrap())
            .await,
        "ValidationException",
        "INVALID_BLOCK_TOKEN",
    );

    // Without a first snapshot: every block of the second.
    let req = ListChangedBlocksRequest {
        second_snapshot_id: child.clone(),
        ..Default::default()
    };
    let all = list_changed_blocks(&t.svc, &t.ctx(), req)
        .await
        .unwrap()
        .changed_blocks
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(all
        .iter()
        .all(|c| c.first_block_token.is_none() && c.second_block_token.is_some()));

    // Another lineage: unrelated.
    let other = t.completed(None, None, &[(0, block(1))]).await;
    let req = ListChangedBlocksRequest {
        first_snapshot_id: Some(other),
        second_snapshot_id: child,
        ..Default::default()
    };
    assert_reason(
        list_changed_blocks(&t.svc, &t.ctx(), req).await,
        "ValidationException",
        "UNRELATED_SNAPSHOTS",
    );
}

#[tokio::test]
async fn tokens_forged_moved_or_expired_fail() {
    let t = harness();
    let id = t
        .completed(None, None, &[(0, block(1)), (1, block(2))])
        .await;
    let listed = t.list(&id).await;
    let (i0, tok0) = &listed[0];
    t.get(&id, *i0, tok0).await.unwrap();
    assert_reason(
        t.get(&id, 1, tok0).await,
        "ValidationException",
        "INVALID_BLOCK_TOKEN",
    );
    let naive = base64::engine::general_purpose::STANDARD.encode(format!("{id}/1"));
    assert_reason(
        t.get(&id, 1, &naive).await,
        "ValidationException",
        "INVALID_BLOCK_TOKEN",
    );
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(tok0)
        .unwrap();
    raw[8] ^= 0xff;
    let forged = base64::engine::general_purpose::STANDARD.encode(raw);
    assert_reason(
        t.get(&id, 0, &forged).await,
        "ValidationException",
        "INVALID_BLOCK_TOKEN",
    );
    // Page tokens: forged ones fail too.
    let req = ListSnapshotBlocksRequest {
        snapshot_id: id.clone(),
        next_token: Some(naive),
        ..Default::default()
    };
    assert_reason(
        list_snapshot_blocks(&t.svc, &t.ctx(), req).await,
        "ValidationException",
        "INVALID_PAGE_TOKEN",
    );
    // Seven days later the block token has expired.
    t.clock
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    assert_reason(
        t.get(&id, *i0, tok0).await,
        "ValidationException",
        "INVALID_BLOCK_TOKEN",
    );
}

#[tokio::test]
async fn pages_of_blocks() {
    let t = harness();
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    let d = block(3);
    for i in 0..230 {
        t.put(&id, i * 3, &d).await.unwrap();
    }
    t.complete(&id, 230, None).await.unwrap();
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let req = ListSnapshotBlocksRequest {
            snapshot_id: id.clone(),
            max_results: Some(100),
            next_token: token.clone(),
            starting_block_index: Some(600),
        };
        let out = list_snapshot_blocks(&t.svc, &t.ctx(), req).await.unwrap();
        assert_eq!(out.volume_size, Some(1));
        seen.extend(
            out.blocks
                .unwrap()
                .into_iter()
                .map(|b| b.block_index.unwrap()),
        );
        match out.next_token {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    // StartingBlockIndex applies to the first page; the page token wins after.
    assert_eq!(seen, (200..230).map(|i| i * 3).collect::<Vec<_>>());
    let req = ListSnapshotBlocksRequest {
        snapshot_id: id,
        max_results: Some(99),
        ..Default::default()
    };
    assert_reason(
        list_snapshot_blocks(&t.svc, &t.ctx(), req).await,
        "ValidationException",
        "INVALID_PARAMETER_VALUE",
    );
}

#[tokio::test]
async fn key_state_reaches_data() {
    let t = harness();
    let key = t.key().await;
    let id = t.completed(Some(&key), None, &[(0, block(1))]).await;
    let tok = t.list(&id).await.remove(0).1;
    t.svc
        .kms
        .disable_key(
            &t.ctx(),
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    assert_reason(
        t.get(&id, 0, &tok).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
    // Writes under a disabled key fail as well.
    let child = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            parent_snapshot_id: Some(id.clone()),
            ..Default::default()
        })
        .await;
    assert_reason(child, "AccessDeniedException", "DEPENDENCY_ACCESS_DENIED");
    t.svc
        .kms
        .enable_key(&t.ctx(), kmsapi::EnableKeyRequest { key_id: key })
        .await
        .unwrap();
    assert_eq!(
        t.get(&id, 0, &tok).await.unwrap().block_data.unwrap(),
        block(1)
    );
}

#[tokio::test]
async fn put_under_a_disabled_key_fails() {
    let t = harness();
    let key = t.key().await;
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            kms_key_arn: Some(key.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    t.svc
        .kms
        .disable_key(
            &t.ctx(),
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    assert_reason(
        t.put(&id, 0, &block(1)).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
    t.svc
        .kms
        .enable_key(&t.ctx(), kmsapi::EnableKeyRequest { key_id: key })
        .await
        .unwrap();
    t.put(&id, 0, &block(1)).await.unwrap();
}

#[tokio::test]
async fn start_validation_and_default_key() {
    let t = harness();
    let bad = |r: StartSnapshotRequest| async { t.start(r).await };
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 65_537,
            ..Default::default()
        })
        .await,
        "ValidationException",
        "INVALID_VOLUME_SIZE",
    );
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 1,
            timeout: Some(5),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "INVALID_PARAMETER_VALUE",
    );
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 1,
            kms_key_arn: Some("alias/aws/ebs".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "INVALID_PARAMETER_VALUE",
    );
    let tags = vec![Tag {
        key: Some("aws:x".into()),
        value: None,
    }];
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 1,
            tags: Some(tags),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "INVALID_TAG",
    );
    // A well-formed ARN of a key that does not exist.
    let missing =
        format!("arn:aws:kms:ap-northeast-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 1,
            kms_key_arn: Some(missing),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        "DEPENDENCY_RESOURCE_NOT_FOUND",
    );
    assert_reason(
        bad(StartSnapshotRequest {
            volume_size: 1,
            parent_snapshot_id: Some("snap-0123456789abcdef0".into()),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        "SNAPSHOT_NOT_FOUND",
    );
    // Encrypted=true without a key: the account's aws/ebs key.
    let out = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            encrypted: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let arn = out.kms_key_arn.unwrap();
    assert!(
        arn.starts_with(&format!("arn:aws:kms:ap-northeast-1:{ACCOUNT}:key/")),
        "{arn}"
    );
    let plain = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (plain.kms_key_arn, plain.sse_type),
        (None, Some(SSEType::None))
    );
}

#[tokio::test]
async fn client_token_idempotency() {
    let t = harness();
    let req = StartSnapshotRequest {
        volume_size: 3,
        client_token: Some("tok-1".into()),
        description: Some("a".into()),
        ..Default::default()
    };
    let a = t.start(req.clone()).await.unwrap();
    let b = t.start(req.clone()).await.unwrap();
    assert_eq!(a.snapshot_id, b.snapshot_id);
    let other = StartSnapshotRequest {
        description: Some("b".into()),
        ..req.clone()
    };
    assert_reason(t.start(other).await, "ConflictException", "");
    // Another account's identical token is its own.
    let c = start_snapshot(&t.svc, &t.ctx_of(OTHER), req).await.unwrap();
    assert_ne!(c.snapshot_id, a.snapshot_id);
}

#[tokio::test]
async fn timeout_cancels_a_pending_snapshot() {
    let t = harness();
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            timeout: Some(10),
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    t.clock.advance(chrono::Duration::minutes(9));
    t.put(&id, 0, &block(1)).await.unwrap();
    // The deadline runs from the last write.
    t.clock.advance(chrono::Duration::minutes(9));
    assert_eq!(super::expire_timed_out(&t.svc).await.unwrap(), 0);
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(super::expire_timed_out(&t.svc).await.unwrap(), 1);
    let rec = t.snapshot(&id);
    assert_eq!(
        (rec.state, rec.state_message.as_deref()),
        (SnapshotState::Error, Some(super::TIMED_OUT))
    );
    assert_reason(
        t.put(&id, 1, &block(1)).await,
        "ValidationException",
        "INVALID_SNAPSHOT_ID",
    );

    // Checked on write too, without the sweep.
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            timeout: Some(10),
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    t.clock.advance(chrono::Duration::minutes(11));
    assert_reason(
        t.put(&id, 0, &block(1)).await,
        "ValidationException",
        "INVALID_SNAPSHOT_ID",
    );
    assert_eq!(t.snapshot(&id).state, SnapshotState::Error);
}

#[tokio::test]
async fn damaged_blocks_are_errors_never_data() {
    let t = harness();
    let key = t.key().await;
    for k in [Some(key.as_str()), None] {
        let id = t.completed(k, None, &[(0, block(1)), (1, block(2))]).await;
        let listed = t.list(&id).await;
        let txn = t.svc.meta.read().unwrap();
        let row = store::get_block(txn.as_ref(), &id, 0).unwrap().unwrap();
        let mut stored = t.svc.blobs.get(&row.blob).unwrap().unwrap();
        stored[1000] ^= 0x01;
        t.svc.blobs.put(&row.blob, &stored).unwrap();
        let row1 = store::get_block(txn.as_ref(), &id, 1).unwrap().unwrap();
        t.svc.blobs.delete(&row1.blob).unwrap();
        drop(txn);
        for (i, tok) in &listed {
            let e = t.get(&id, *i, tok).await.unwrap_err();
            assert!(matches!(e, EbsError::BlockDamaged { .. }), "{e:?}");
            let aws = to_ebs(e);
            assert_eq!(
                (aws.code.as_ref(), aws.status),
                ("InternalServerException", 500)
            );
        }
    }
}

#[tokio::test]
async fn audit_events_for_mutations() {
    let t = harness();
    let id = t.completed(None, None, &[(0, block(1))]).await;
    let mut names = Vec::new();
    for ev in audit_events(t.svc.meta.as_ref()) {
        if ev["eventSource"] == "ebs.amazonaws.com" {
            names.push((
                ev["eventName"].as_str().unwrap().to_owned(),
                ev["eventCategory"].as_str().unwrap().to_owned(),
            ));
            assert!(ev["resources"].to_string().contains(&id));
        }
    }
    let want = [
        ("StartSnapshot", "Management"),
        ("PutSnapshotBlock", "Data"),
        ("CompleteSnapshot", "Management"),
    ];
    assert_eq!(
        names,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn shared_snapshots_are_readable_public_ones_are_not() {
    let t = harness();
    let id = t.completed(None, None, &[(4, block(4))]).await;
    let other = t.ctx_of(OTHER);
    let list = |ctx: RequestContext| {
        let svc = &t.svc;
        let id = id.clone();
        async move {
            list_snapshot_blocks(
                svc,
                &ctx,
                ListSnapshotBlocksRequest {
                    snapshot_id: id,
                    ..Default::default()
                },
            )
            .await
        }
    };
    let set = |users: Vec<&str>, public: bool| {
        let mut txn = t.svc.meta.write().unwrap();
        let mut s = store::find_snapshot(&*txn, &id).unwrap().unwrap();
        s.permissions.users = users.iter().map(|u| AccountId::parse(u).unwrap()).collect();
        s.permissions.public = public;
        store::put_snapshot(txn.as_mut(), &s).unwrap();
        txn.commit().unwrap();
    };
    set(vec![], true);
    assert_reason(
        list(other.clone()).await,
        "ResourceNotFoundException",
        "SNAPSHOT_NOT_FOUND",
    );
    set(vec![OTHER], false);
    let blocks = list(other.clone()).await.unwrap().blocks.unwrap();
    let req = GetSnapshotBlockRequest {
        snapshot_id: id.clone(),
        block_index: 4,
        block_token: blocks[0].block_token.clone().unwrap(),
    };
    assert_eq!(
        get_snapshot_block(&t.svc, &other, req)
            .await
            .unwrap()
            .block_data
            .unwrap(),
        block(4)
    );
    // A recipient may start a child of it (its own snapshot, in the parent's lineage)…
    let child = start_snapshot(
        &t.svc,
        &other,
        StartSnapshotRequest {
            volume_size: 1,
            parent_snapshot_id: Some(id.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(child.owner_id.as_deref(), Some(OTHER));
    // …but not write to or complete the owner's snapshot.
    let req = CompleteSnapshotRequest {
        snapshot_id: id.clone(),
        changed_blocks_count: 0,
        ..Default::default()
    };
    assert_reason(
        complete_snapshot(&t.svc, &other, req).await,
        "AccessDeniedException",
        "UNAUTHORIZED_ACCOUNT",
    );
}

/// KMS Decrypt events in the audit log so far.
fn decrypts(t: &T) -> usize {
    audit_events(t.svc.meta.as_ref())
        .iter()
        .filter(|ev| ev["eventName"] == "Decrypt")
        .count()
}

/// Guards the data-key cache of the block API: a caller's later blocks reuse the key KMS
/// unwrapped for it, but a disabled key or a changed key policy stops the very next request,
/// the TTL bounds reuse, and another caller's credentials get their own Decrypt.
#[tokio::test]
async fn cached_data_keys_follow_the_key() {
    let t = harness();
    let key = t.key().await;
    let done = t.completed(Some(&key), None, &[(0, block(0))]).await;
    let tok = t.list(&done).await.remove(0).1;
    let id = t
        .start(StartSnapshotRequest {
            volume_size: 1,
            kms_key_arn: Some(key.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    t.put(&id, 0, &block(0)).await.unwrap();
    t.get(&done, 0, &tok).await.unwrap();
    let n = decrypts(&t);
    t.put(&id, 1, &block(1)).await.unwrap();
    assert_eq!(
        t.get(&done, 0, &tok).await.unwrap().block_data.unwrap(),
        block(0)
    );
    assert_eq!(
        decrypts(&t),
        n,
        "later writes and reads reuse the caller's data key"
    );

    // Another access key of the same account: its own Decrypt.
    let mut other = t.ctx();
    other.principal.access_key_id = "AKIAOTHERKEY".into();
    put_snapshot_block(&t.svc, &other, put_block_request(&id, 2, &block(2)))
        .await
        .unwrap();
    assert_eq!(decrypts(&t), n + 1);

    // Disable: the next write fails at once; enable: writes again (a fresh Decrypt).
    t.svc
        .kms
        .disable_key(
            &t.ctx(),
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    assert_reason(
        t.put(&id, 3, &block(3)).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
    assert_reason(
        t.get(&done, 0, &tok).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
    t.svc
        .kms
        .enable_key(
            &t.ctx(),
            kmsapi::EnableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    t.put(&id, 3, &block(3)).await.unwrap();
    let n = decrypts(&t);
    t.put(&id, 4, &block(4)).await.unwrap();
    assert_eq!(decrypts(&t), n);

    // Past the TTL the key is unwrapped again (identity policies are not in the serial).
    t.clock.advance(chrono::Duration::seconds(61));
    t.put(&id, 5, &block(5)).await.unwrap();
    assert_eq!(decrypts(&t), n + 1);

    // A key policy that no longer admits the caller stops the next write.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::135713571357:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let req = kmsapi::PutKeyPolicyRequest {
        key_id: key,
        policy: policy.into(),
        bypass_policy_lockout_safety_check: Some(true),
        ..Default::default()
    };
    t.svc.kms.put_key_policy(&t.ctx(), req).await.unwrap();
    assert_reason(
        t.put(&id, 6, &block(6)).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
    assert_reason(
        t.get(&done, 0, &tok).await,
        "AccessDeniedException",
        "DEPENDENCY_ACCESS_DENIED",
    );
}
