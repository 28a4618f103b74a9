//! The copy step against memory stores and a real in-process KMS: completion and integrity,
//! resuming after a simulated crash, incremental copies, shared blobs, key failures, sharing
//! with another account, restores, and the request-side rules of CopySnapshot.

use super::*;
use crate::model::JobCaller;
use crate::ops::copy::copy_snapshot;
use crate::testenv::*;
use crate::workers::KEY_NOT_ACCESSIBLE;
use kmsnap_api::gen::ec2;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_core::{AccountId, Region};

fn small_steps() -> Tuning {
    Tuning {
        batch: 4,
        max_rows: 4096,
        max_batches: 1,
        budget: Duration::from_secs(60),
        threads: 3,
    }
}

/// Sparse: 13 blocks with gaps.
fn data() -> Vec<(u64, u8)> {
    (0..13u64)
        .map(|i| (i * 3 + 1, (i as u8).wrapping_mul(17)))
        .collect()
}

/// The path: a snapshot of [`data`] in Tokyo under a customer key, and its copy queued
/// to Oregon under an Oregon customer key. Returns (source key, destination key, source, copy).
async fn tokyo_to_oregon(env: &Env) -> (String, String, SnapshotRecord, String) {
    let src_key = env.key(OWNER, TOKYO).await;
    let dst_key = env.key(OWNER, OREGON).await;
    let src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    let id = env
        .copy(OWNER, OREGON, &src, Some(true), Some(&dst_key))
        .await
        .unwrap();
    (src_key, dst_key, src, id)
}

#[tokio::test]
async fn cross_region_copy_re_encrypts_under_the_destination_key() {
    let env = Env::new();
    let (_, dst_key, src, id) = tokyo_to_oregon(&env).await;

    let s = env.snap(&id);
    assert_eq!(
        (s.state, s.progress, s.region.as_str(), s.volume_id.as_str()),
        (SnapshotState::Pending, 0, OREGON, "vol-ffffffff")
    );
    assert_eq!(s.kms_key_arn.as_deref(), Some(dst_key.as_str()));
    env.drain(&[(&id, 13)]).await;

    let s = env.snap(&id);
    assert_eq!((s.state, s.progress), (SnapshotState::Completed, 100));
    assert!(env.job(&id).is_none());
    let lineage = store::get_lineage(env.meta.read().unwrap().as_ref(), &s.lineage)
        .unwrap()
        .unwrap();
    assert_eq!(
        lineage.ec_resource, id,
        "the copy's data key names the new snapshot"
    );
    assert_eq!(lineage.kms_key_arn.as_deref(), Some(dst_key.as_str()));
    assert_ne!(s.lineage, src.lineage);
    assert!(env
        .manifest(&id)
        .iter()
        .all(|(_, b)| b.blob.starts_with("us-west-2/") && b.lineage == s.lineage));
    assert_eq!(env.blob_count("us-west-2/"), 13);
    assert_eq!(env.read_all(OWNER, &id).await, expected(&data()));
}

#[tokio::test]
async fn a_crash_between_steps_resumes_from_the_committed_cursor() {
    let mut env = Env::new();
    let (_, _, _, id) = tokyo_to_oregon(&env).await;

    let mut seen_progress = Vec::new();
    for round in 0.. {
        let Some(job) = env.job(&id) else { break };
        assert!(round < 100, "no end");
        step_with(&env.svc, &job, &small_steps()).await.unwrap();
        env.check_never_half_complete(&[(&id, 13)]);
        let s = env.snap(&id);
        seen_progress.push(s.progress);
        if s.state == SnapshotState::Pending {
            // What the crash leaves besides committed state: a blob written after the last
            // commit (an orphan nobody references).
            env.blobs
                .put(
                    &blocks::blob_key(s.region, &s.lineage, 99).unwrap(),
                    b"orphan",
                )
                .unwrap();
        }
        env = env.restart();
    }
    assert!(
        seen_progress.iter().any(|p| (1..100).contains(p)),
        "{seen_progress:?}"
    );
    assert_eq!(seen_progress.last(), Some(&100));
    assert_eq!(env.snap(&id).state, SnapshotState::Completed);
    assert_eq!(env.read_all(OWNER, &id).await, expected(&data()));
    let referenced: Vec<String> = env.manifest(&id).into_iter().map(|(_, b)| b.blob).collect();
    assert!(referenced
        .iter()
        .all(|b| env.blobs.get(b).unwrap().unwrap() != b"orphan"));
}

#[tokio::test]
async fn a_later_copy_of_the_lineage_re_encrypts_only_changed_blocks() {
    let env = Env::new();
    let src_key = env.key(OWNER, TOKYO).await;
    let dst_key = env.key(OWNER, OREGON).await;
    let first = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    let c1 = env
        .copy(OWNER, OREGON, &first, Some(true), Some(&dst_key))
        .await
        .unwrap();
    env.drain(&[(&c1, 13)]).await;
    assert_eq!(env.blob_count("us-west-2/"), 13);

    // One block changed, one added.
    let changes = [(4u64, 0xeeu8), (60, 0x55)];
    let second = env
        .snapshot(OWNER, TOKYO, None, &changes, Some(&first))
        .await;
    let c2 = env
        .copy(OWNER, OREGON, &second, Some(true), Some(&dst_key))
        .await
        .unwrap();
    env.drain(&[(&c2, 14)]).await;
    assert_eq!(
        env.blob_count("us-west-2/"),
        15,
        "only the two new blocks were re-encrypted"
    );
    assert_eq!(
        env.snap(&c2).lineage,
        env.snap(&c1).lineage,
        "the destination lineage is reused"
    );
    let mut want: Vec<(u64, u8)> = data().into_iter().filter(|(i, _)| *i != 4).collect();
    want.extend(changes);
    assert_eq!(env.read_all(OWNER, &c2).await, expected(&want));
    assert_eq!(
        env.read_all(OWNER, &c1).await,
        expected(&data()),
        "the first copy is untouched"
    );

    // Another destination key: a full copy again.
    let other_key = env.key(OWNER, OREGON).await;
    let c3 = env
        .copy(OWNER, OREGON, &second, Some(true), Some(&other_key))
        .await
        .unwrap();
    env.drain(&[(&c3, 14)]).await;
    assert_eq!(env.blob_count("us-west-2/"), 29);
}

#[tokio::test]
async fn same_region_account_and_key_share_blobs() {
    let env = Env::new();
    let key = env.key(OWNER, TOKYO).await;
    let src = env.snapshot(OWNER, TOKYO, Some(&key), &data(), None).await;
    let before = env.blob_count("");
    let id = env.copy(OWNER, TOKYO, &src, None, None).await.unwrap();
    assert!(matches!(
        env.job(&id).unwrap().kind,
        JobKind::Copy {
            share_blobs: true,
            ..
        }
    ));
    env.drain(&[(&id, 13)]).await;
    let s = env.snap(&id);
    assert_eq!(
        (s.state, s.lineage.as_str(), s.kms_key_arn.as_deref()),
        (
            SnapshotState::Completed,
            src.lineage.as_str(),
            Some(key.as_str())
        )
    );
    assert_eq!(env.blob_count(""), before, "no byte was copied");
    assert_eq!(env.manifest(&id), env.manifest(&src.id));
    assert_eq!(env.read_all(OWNER, &id).await, expected(&data()));

    // A disabled key stops even a copy that shares blobs.
    env.disable(OWNER, TOKYO, &key).await;
    let id = env.copy(OWNER, TOKYO, &src, None, None).await.unwrap();
    env.drain(&[]).await;
    assert_eq!(env.snap(&id).state, SnapshotState::Error);
}

#[tokio::test]
async fn a_key_disabled_mid_copy_ends_the_copy_in_error() {
    for disable_source in [false, true] {
        let env = Env::new();
        let (src_key, dst_key, _, id) = tokyo_to_oregon(&env).await;
        let job = env.job(&id).unwrap();
        assert_eq!(
            step_with(&env.svc, &job, &small_steps()).await.unwrap(),
            Step::More
        );
        match disable_source {
            true => env.disable(OWNER, TOKYO, &src_key).await,
            false => env.disable(OWNER, OREGON, &dst_key).await,
        }
        env.drain(&[(&id, 13)]).await;
        let s = env.snap(&id);
        assert_eq!(
            s.state,
            SnapshotState::Error,
            "source disabled: {disable_source}"
        );
        assert_eq!(s.state_message.as_deref(), Some(KEY_NOT_ACCESSIBLE));
        assert!(env.job(&id).is_none());
    }
}

#[tokio::test]
async fn a_source_region_key_for_a_cross_region_copy_is_accepted_then_fails() {
    let env = Env::new();
    let src_key = env.key(OWNER, TOKYO).await;
    let src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    let id = env
        .copy(OWNER, OREGON, &src, Some(true), Some(&src_key))
        .await
        .unwrap();
    assert_eq!(env.snap(&id).state, SnapshotState::Pending);
    env.drain(&[]).await;
    let s = env.snap(&id);
    assert_eq!(
        (s.state, s.state_message.as_deref()),
        (SnapshotState::Error, Some(KEY_NOT_ACCESSIBLE))
    );
    assert_eq!(env.blob_count("us-west-2/"), 0);
}

fn three_statement_policy(owner: &str, other: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{owner}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{other}:root")},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{other}:root")},
             "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn a_shared_snapshot_copies_only_when_the_key_policy_admits_the_recipient() {
    let env = Env::new();
    let src_key = env.key(OWNER, TOKYO).await;
    let mut src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    // Not shared yet: invisible.
    assert!(matches!(
        env.copy(OTHER, OREGON, &src, None, None).await,
        Err(EbsError::SnapshotNotFound { .. })
    ));
    src.permissions.users.push(AccountId::parse(OTHER).unwrap());
    {
        let mut txn = env.meta.write().unwrap();
        store::put_snapshot(txn.as_mut(), &src).unwrap();
        txn.commit().unwrap();
    }
    let their_key = env.key(OTHER, OREGON).await;
    let denied = env
        .copy(OTHER, OREGON, &src, Some(true), Some(&their_key))
        .await
        .unwrap();
    env.drain(&[]).await;
    let s = env.snap(&denied);
    assert_eq!(
        (s.state, s.state_message.as_deref()),
        (SnapshotState::Error, Some(KEY_NOT_ACCESSIBLE))
    );

    let policy = kmsapi::PutKeyPolicyRequest {
        key_id: src_key.clone(),
        policy: three_statement_policy(OWNER, OTHER),
        ..Default::default()
    };
    env.svc
        .kms
        .put_key_policy(&env.ctx(OWNER, TOKYO), policy)
        .await
        .unwrap();
    let id = env
        .copy(OTHER, OREGON, &src, Some(true), Some(&their_key))
        .await
        .unwrap();
    let job = env.job(&id).unwrap();
    assert_eq!(
        job.caller.as_ref().map(|c| c.account.as_str()),
        Some(OTHER),
        "the job acts as the recipient"
    );
    env.drain(&[(&id, 13)]).await;
    let s = env.snap(&id);
    assert_eq!(
        (s.state, s.account.as_str(), s.kms_key_arn.as_deref()),
        (SnapshotState::Completed, OTHER, Some(their_key.as_str()))
    );
    assert_eq!(env.read_all(OTHER, &id).await, expected(&data()));

    // Without Encrypted/KmsKeyId the recipient's copy is under its own default key (aws/ebs).
    let id = env.copy(OTHER, OREGON, &src, None, None).await.unwrap();
    env.drain(&[(&id, 13)]).await;
    let s = env.snap(&id);
    assert_eq!(s.state, SnapshotState::Completed);
    assert!(s
        .kms_key_arn
        .unwrap()
        .starts_with(&format!("arn:aws:kms:{OREGON}:{OTHER}:key/")));
}

#[tokio::test]
async fn unencrypted_sources_stay_plain_or_get_encrypted_when_asked() {
    let env = Env::new();
    let src = env.snapshot(OWNER, TOKYO, None, &data(), None).await;
    let plain = env.copy(OWNER, OREGON, &src, None, None).await.unwrap();
    let enc = env
        .copy(OWNER, OREGON, &src, Some(true), None)
        .await
        .unwrap();
    env.drain(&[(&plain, 13), (&enc, 13)]).await;
    let (p, e) = (env.snap(&plain), env.snap(&enc));
    assert_eq!(
        (p.state, p.encrypted, p.kms_key_arn.clone()),
        (SnapshotState::Completed, false, None)
    );
    assert_eq!((e.state, e.encrypted), (SnapshotState::Completed, true));
    assert!(e
        .kms_key_arn
        .unwrap()
        .starts_with(&format!("arn:aws:kms:{OREGON}:{OWNER}:key/")));
    assert_eq!(env.read_all(OWNER, &plain).await, expected(&data()));
    assert_eq!(env.read_all(OWNER, &enc).await, expected(&data()));
}

#[tokio::test]
async fn request_rules() {
    let env = Env::new();
    let key = env.key(OWNER, OREGON).await;
    let src = env.snapshot(OWNER, TOKYO, None, &data(), None).await;
    let e = env
        .copy(OWNER, OREGON, &src, None, Some(&key))
        .await
        .unwrap_err();
    assert!(matches!(e, EbsError::InvalidParameterDependency(_)));
    // Wrong source region: not found there.
    let mut elsewhere = src.clone();
    elsewhere.region = Region::parse(OREGON).unwrap();
    assert!(matches!(
        env.copy(OWNER, OREGON, &elsewhere, None, None).await,
        Err(EbsError::SnapshotNotFound { .. })
    ));
    // DryRun checks and stops.
    let dry = ec2::CopySnapshotRequest {
        source_region: TOKYO.into(),
        source_snapshot_id: src.id.clone(),
        dry_run: Some(true),
        ..Default::default()
    };
    assert_eq!(
        copy_snapshot(&env.svc, &env.ctx(OWNER, OREGON), dry)
            .await
            .unwrap_err(),
        EbsError::DryRun
    );
    // At most 20 copies in progress per destination region.
    for _ in 0..crate::ops::copy::MAX_CONCURRENT_COPIES {
        env.copy(OWNER, OREGON, &src, None, None).await.unwrap();
    }
    assert!(matches!(
        env.copy(OWNER, OREGON, &src, None, None).await,
        Err(EbsError::ResourceLimitExceeded(_))
    ));
    env.copy(OWNER, TOKYO, &src, None, None).await.unwrap();
    env.drain(&[]).await;
    env.copy(OWNER, OREGON, &src, None, None).await.unwrap();
}

#[tokio::test]
async fn a_deleted_copy_target_drops_its_job() {
    let env = Env::new();
    let src = env.snapshot(OWNER, TOKYO, None, &data(), None).await;
    let id = env.copy(OWNER, OREGON, &src, None, None).await.unwrap();
    step_with(&env.svc, &env.job(&id).unwrap(), &small_steps())
        .await
        .unwrap();
    {
        let mut txn = env.meta.write().unwrap();
        let s = env.snap(&id);
        store::delete_snapshot(txn.as_mut(), &s).unwrap();
        txn.commit().unwrap();
    }
    env.drain(&[]).await;
    assert!(env.job(&id).is_none());
    assert!(env.manifest(&id).is_empty());
}

#[tokio::test]
async fn restore_fills_a_volume_from_a_shared_snapshot() {
    let env = Env::new();
    let src_key = env.key(OWNER, TOKYO).await;
    let mut src = env
        .snapshot(OWNER, TOKYO, Some(&src_key), &data(), None)
        .await;
    src.permissions.users.push(AccountId::parse(OTHER).unwrap());
    let policy = kmsapi::PutKeyPolicyRequest {
        key_id: src_key.clone(),
        policy: three_statement_policy(OWNER, OTHER),
        ..Default::default()
    };
    env.svc
        .kms
        .put_key_policy(&env.ctx(OWNER, TOKYO), policy)
        .await
        .unwrap();
    let ctx = env.ctx(OTHER, TOKYO);
    let their_key = env.key(OTHER, TOKYO).await;
    let vol_id = crate::ops::common::new_id("vol").unwrap();
    let lineage = blocks::new_lineage(&env.svc.kms, &ctx, Some(&their_key), &vol_id)
        .await
        .unwrap();
    let vol = VolumeRecord {
        id: vol_id.clone(),
        account: ctx.principal.account,
        region: ctx.region,
        availability_zone: format!("{TOKYO}a"),
        size_gib: 1,
        snapshot_id: Some(src.id.clone()),
        state: VolumeState::Creating,
        encrypted: true,
        kms_key_arn: Some(their_key.clone()),
        lineage: lineage.id.clone(),
        volume_type: "gp3".into(),
        iops: None,
        throughput: None,
        multi_attach: false,
        created: ctx.now,
        tags: Vec::new(),
        managed_by: None,
    };
    let job = JobRecord::new(
        &vol_id,
        ctx.principal.account,
        ctx.region,
        JobKind::Restore {
            source: src.id.clone(),
            source_account: src.account,
        },
        13,
        Some(JobCaller::from_context(&ctx)),
        ctx.now,
    );
    {
        let mut txn = env.meta.write().unwrap();
        store::put_snapshot(txn.as_mut(), &src).unwrap();
        store::put_lineage(txn.as_mut(), &lineage).unwrap();
        store::put_volume(txn.as_mut(), &vol).unwrap();
        store::put_job(txn.as_mut(), &job).unwrap();
        txn.commit().unwrap();
    }
    env.drain(&[]).await;
    let v = store::get_volume(
        env.meta.read().unwrap().as_ref(),
        vol.account,
        vol.region,
        &vol_id,
    )
    .unwrap()
    .unwrap();
    assert_eq!(v.state, VolumeState::Available);
    let rows = env.manifest(&vol_id);
    assert_eq!(rows.len(), 13);
    let k = blocks::open_lineage(&env.svc.kms, &ctx, &lineage)
        .await
        .unwrap();
    for ((i, b), (j, want)) in rows.iter().zip(expected(&data())) {
        assert_eq!(*i, j);
        let stored = env.blobs.get(&b.blob).unwrap().unwrap();
        assert_eq!(
            blocks::open(k.as_ref(), &vol_id, &b.lineage, *i, &stored, &b.sha256).unwrap(),
            want
        );
    }
}

#[test]
fn v1_job_records_read_without_a_caller() {
    let v1 = serde_json::json!({
        "target": "snap-0123456789abcdef0", "account": OWNER, "region": OREGON,
        "kind": {"Copy": {"source": "snap-00000000000000001", "source_region": TOKYO, "source_account": OWNER, "share_blobs": false}},
        "cursor": 4, "total_blocks": 10, "done_blocks": 4, "created": "2026-01-01T00:00:00Z"
    });
    let job: JobRecord = serde_json::from_value(v1).unwrap();
    assert_eq!(job.caller, None);
    let ctx = job.context(Region::parse(TOKYO).unwrap(), chrono::Utc::now());
    assert_eq!(ctx.principal.arn, format!("arn:aws:iam::{OWNER}:root"));
}

#[tokio::test]
async fn blocks_of_several_lineages_are_each_opened_with_their_own_key() {
    let env = Env::new();
    let (k1, k2) = (env.key(OWNER, TOKYO).await, env.key(OWNER, TOKYO).await);
    let a = env
        .snapshot(OWNER, TOKYO, Some(&k1), &[(0, 1), (1, 2), (2, 3)], None)
        .await;
    let b = env
        .snapshot(OWNER, TOKYO, Some(&k2), &[(3, 4), (4, 5)], None)
        .await;
    // A snapshot whose manifest mixes both lineages (as a volume's may, once restored blocks
    // and new writes meet): its own lineage is a's.
    let mut mixed = a.clone();
    mixed.id = crate::ops::common::new_id("snap").unwrap();
    {
        let mut txn = env.meta.write().unwrap();
        for (i, r) in env.manifest(&a.id).into_iter().chain(env.manifest(&b.id)) {
            store::put_block(txn.as_mut(), &mixed.id, i, &r).unwrap();
        }
        store::put_snapshot(txn.as_mut(), &mixed).unwrap();
        txn.commit().unwrap();
    }
    let dst = env.key(OWNER, OREGON).await;
    let id = env
        .copy(OWNER, OREGON, &mixed, Some(true), Some(&dst))
        .await
        .unwrap();
    env.drain(&[(&id, 5)]).await;
    assert_eq!(env.snap(&id).state, SnapshotState::Completed);
    assert_eq!(
        env.read_all(OWNER, &id).await,
        expected(&[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])
    );
}

/// A row that names a blob the copy did not make is committed only while its commit still
/// finds the reference it was read from (the source's row, the copy-map entry): once that is
/// gone the blob collector may have taken the blob, so nothing of the batch is committed and
/// the next step reads it again (docs/blob-collection.md).
#[tokio::test]
async fn a_reused_blob_is_committed_only_while_its_reference_is_there() {
    let env = Env::new();
    let key = env.key(OWNER, TOKYO).await;
    let src = env.snapshot(OWNER, TOKYO, Some(&key), &data(), None).await;
    let id = env.copy(OWNER, TOKYO, &src, None, None).await.unwrap();
    let job = env.job(&id).unwrap();
    let now = chrono::Utc::now();
    let shared: Vec<Row> = env
        .manifest(&src.id)
        .into_iter()
        .map(|(index, b)| Row {
            index,
            block: Some(b),
            copied_from: None,
            reuses: Some(Reuse::Source),
        })
        .collect();

    // The source's rows went (its snapshot deleted under the copy): nothing is committed.
    {
        let mut txn = env.meta.write().unwrap();
        store::delete_blocks(txn.as_mut(), &src.id).unwrap();
        txn.commit().unwrap();
    }
    assert!(
        commit_batch(env.meta.as_ref(), &job, &src.id, &shared, true, now)
            .unwrap()
            .is_none()
    );
    assert!(env.manifest(&id).is_empty());
    assert_eq!(env.snap(&id).state, SnapshotState::Pending);
    assert_eq!(env.job(&id).unwrap().cursor, job.cursor);

    // A copy-map entry: committed while it names the blob, not once it is dropped.
    let (index, src_row) = (shared[0].index, shared[0].block.clone().unwrap());
    let made = BlockRef {
        blob: "us-west-2/blocks/lin-d/0000000001-ab".into(),
        sha256: src_row.sha256.clone(),
        lineage: "lin-d".into(),
    };
    let reused = |b: &BlockRef| {
        vec![Row {
            index,
            block: Some(b.clone()),
            copied_from: None,
            reuses: Some(Reuse::CopyMap {
                source_blob: src_row.blob.clone(),
            }),
        }]
    };
    assert!(
        commit_batch(env.meta.as_ref(), &job, &src.id, &reused(&made), false, now)
            .unwrap()
            .is_none(),
        "no entry"
    );
    {
        let mut txn = env.meta.write().unwrap();
        store::put_copy_map(txn.as_mut(), "lin-d", &src_row.blob, &made.blob).unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(
        commit_batch(env.meta.as_ref(), &job, &src.id, &reused(&made), false, now).unwrap(),
        Some(Step::More)
    );
    assert_eq!(env.manifest(&id), vec![(index, made)]);
}
