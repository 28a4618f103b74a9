//! Service-level tests of the EC2 operations: a [`Snapshots`] over an in-memory store with a
//! real in-process KMS (key policies, grants and key state apply), driven through the
//! generated `Ec2Handler` as the server drives it.

use crate::model::{BlockRef, JobKind, SnapshotState};
use crate::testenv::Env;
use crate::{store, workers};
use kmsnap_api::gen::cloudtrail::LookupEventsRequest;
use kmsnap_api::gen::ec2::{self, Ec2Handler};
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock};

const ME: &str = "123412341234";
const OTHER: &str = "432143214321";
const TOKYO: &str = "ap-northeast-1";

/// The crate's test environment, with what these tests add.
struct T {
    env: Env,
}

fn setup() -> T {
    T { env: Env::new() }
}

impl std::ops::Deref for T {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl T {
    fn ctx_in(&self, account: &str, region: &str) -> RequestContext {
        self.env.ctx(account, region)
    }

    fn ctx(&self) -> RequestContext {
        self.env.ctx(ME, TOKYO)
    }

    async fn key(&self, ctx: &RequestContext) -> String {
        self.env
            .key(ctx.principal.account.as_str(), ctx.region.as_str())
            .await
    }

    async fn volume(&self, ctx: &RequestContext, req: ec2::CreateVolumeRequest) -> ec2::Volume {
        self.svc
            .create_volume(
                ctx,
                ec2::CreateVolumeRequest {
                    availability_zone: Some(format!("{}a", ctx.region)),
                    ..req
                },
            )
            .await
            .unwrap()
    }

    async fn snapshot(&self, ctx: &RequestContext, volume_id: &str) -> String {
        let s = self
            .svc
            .create_snapshot(
                ctx,
                ec2::CreateSnapshotRequest {
                    volume_id: volume_id.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(s.state, Some(ec2::SnapshotState::Pending));
        assert_eq!(s.progress.as_deref(), Some("0%"));
        while workers::run_once(&self.svc).await.unwrap() {}
        s.snapshot_id.unwrap()
    }

    fn put_blocks(&self, resource: &str, lineage: &str, n: u64) {
        let mut txn = self.svc.meta.write().unwrap();
        for i in 0..n {
            let b = BlockRef {
                blob: format!("blob-{resource}-{i}"),
                sha256: "00".into(),
                lineage: lineage.into(),
            };
            store::put_block(txn.as_mut(), resource, i * 3, &b).unwrap();
        }
        txn.commit().unwrap();
    }

    fn record(&self, id: &str) -> crate::model::SnapshotRecord {
        self.env.snap(id)
    }

    fn share(&self, id: &str, with: &str, public: bool) {
        let mut s = self.record(id);
        if !with.is_empty() {
            s.permissions.users.push(AccountId::parse(with).unwrap());
        }
        s.permissions.public = public;
        let mut txn = self.svc.meta.write().unwrap();
        store::put_snapshot(txn.as_mut(), &s).unwrap();
        txn.commit().unwrap();
    }

    async fn describe(
        &self,
        ctx: &RequestContext,
        req: ec2::DescribeSnapshotsRequest,
    ) -> Vec<String> {
        let out = self.svc.describe_snapshots(ctx, req).await.unwrap();
        out.snapshots
            .unwrap()
            .into_iter()
            .map(|s| s.snapshot_id.unwrap())
            .collect()
    }
}

fn filter(name: &str, values: &[&str]) -> ec2::Filter {
    ec2::Filter {
        name: Some(name.into()),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn encryption_outcomes_and_default_key_settings() {
    let t = setup();
    let ctx = t.ctx();
    // Unencrypted by default.
    let v = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        (v.encrypted, v.kms_key_id.as_deref(), v.state),
        (Some(false), None, Some(ec2::VolumeState::Available))
    );
    assert_eq!(v.volume_type, Some(ec2::VolumeType::Gp2));
    // The default key is named by its alias until customised.
    let k = t
        .svc
        .get_ebs_default_kms_key_id(&ctx, Default::default())
        .await
        .unwrap();
    assert_eq!(k.kms_key_id.as_deref(), Some("alias/aws/ebs"));
    // Encrypted=true: the aws/ebs key, created on first use, by ARN.
    let v = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                encrypted: Some(true),
                ..Default::default()
            },
        )
        .await;
    let managed = v.kms_key_id.clone().unwrap();
    assert!(
        managed.starts_with(&format!("arn:aws:kms:{TOKYO}:{ME}:key/")),
        "{managed}"
    );
    // Encryption by default on: every new volume is encrypted under the default key.
    let e = t
        .svc
        .enable_ebs_encryption_by_default(&ctx, Default::default())
        .await
        .unwrap();
    assert_eq!(e.ebs_encryption_by_default, Some(true));
    let v = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(v.kms_key_id.as_deref(), Some(managed.as_str()));
    // Customised default key: by ARN, used for new volumes; reset: the managed key's ARN.
    let custom = t.key(&ctx).await;
    let key_id = custom.rsplit('/').next().unwrap().to_owned();
    let m = t
        .svc
        .modify_ebs_default_kms_key_id(
            &ctx,
            ec2::ModifyEbsDefaultKmsKeyIdRequest {
                kms_key_id: key_id,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(m.kms_key_id.as_deref(), Some(custom.as_str()));
    let v = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(v.kms_key_id.as_deref(), Some(custom.as_str()));
    let r = t
        .svc
        .reset_ebs_default_kms_key_id(&ctx, Default::default())
        .await
        .unwrap();
    assert_eq!(r.kms_key_id.as_deref(), Some(managed.as_str()));
    assert_eq!(
        t.svc
            .get_ebs_default_kms_key_id(&ctx, Default::default())
            .await
            .unwrap()
            .kms_key_id
            .as_deref(),
        Some("alias/aws/ebs")
    );
    // Settings are per region.
    let oregon = t.ctx_in(ME, "us-west-2");
    assert_eq!(
        t.svc
            .get_ebs_encryption_by_default(&oregon, Default::default())
            .await
            .unwrap()
            .ebs_encryption_by_default,
        Some(false)
    );
    // KmsKeyId without Encrypted, a key of another region, and DryRun.
    let e = t
        .svc
        .create_volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                availability_zone: Some("ap-northeast-1a".into()),
                kms_key_id: Some(custom.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterDependency");
    let west_key = t.key(&oregon).await;
    let req = |k: &str| ec2::CreateVolumeRequest {
        size: Some(8),
        availability_zone: Some("ap-northeast-1a".into()),
        encrypted: Some(true),
        kms_key_id: Some(k.into()),
        ..Default::default()
    };
    assert_eq!(
        t.svc
            .create_volume(&ctx, req(&west_key))
            .await
            .unwrap_err()
            .code,
        "InvalidParameterValue"
    );
    let dry = t
        .svc
        .create_volume(
            &ctx,
            ec2::CreateVolumeRequest {
                dry_run: Some(true),
                ..req(&custom)
            },
        )
        .await
        .unwrap_err();
    assert_eq!((dry.code.as_ref(), dry.status), ("DryRunOperation", 412));
    let v = t.svc.create_volume(&ctx, req(&custom)).await.unwrap();
    assert_eq!(v.kms_key_id.as_deref(), Some(custom.as_str()));
    // Audit: the mutating calls are in the caller's trail.
    let events = kmsnap_audit::lookup(
        t.svc.meta.as_ref(),
        ME,
        TOKYO,
        t.clock.now(),
        LookupEventsRequest::default(),
    )
    .unwrap();
    let names: Vec<String> = events
        .events
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.event_name)
        .collect();
    for op in [
        "CreateVolume",
        "EnableEbsEncryptionByDefault",
        "ModifyEbsDefaultKmsKeyId",
        "ResetEbsDefaultKmsKeyId",
    ] {
        assert!(names.iter().any(|n| n == op), "{op} not audited: {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_errors() {
    let t = setup();
    let ctx = t.ctx();
    let base = ec2::CreateVolumeRequest {
        size: Some(8),
        availability_zone: Some("ap-northeast-1a".into()),
        ..Default::default()
    };
    let code = |r: Result<ec2::Volume, kmsnap_api::AwsError>| r.unwrap_err().code.into_owned();
    assert_eq!(
        code(
            t.svc
                .create_volume(
                    &ctx,
                    ec2::CreateVolumeRequest {
                        availability_zone: Some("us-west-2a".into()),
                        ..base.clone()
                    }
                )
                .await
        ),
        "InvalidZone.NotFound"
    );
    assert_eq!(
        code(
            t.svc
                .create_volume(
                    &ctx,
                    ec2::CreateVolumeRequest {
                        size: None,
                        ..base.clone()
                    }
                )
                .await
        ),
        "MissingParameter"
    );
    assert_eq!(
        code(
            t.svc
                .create_volume(
                    &ctx,
                    ec2::CreateVolumeRequest {
                        size: Some(20_000),
                        ..base.clone()
                    }
                )
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(
            t.svc
                .create_volume(
                    &ctx,
                    ec2::CreateVolumeRequest {
                        snapshot_id: Some("snap-0123456789abcdef0".into()),
                        ..base.clone()
                    }
                )
                .await
        ),
        "InvalidSnapshot.NotFound"
    );
    let e = t
        .svc
        .describe_volumes(
            &ctx,
            ec2::DescribeVolumesRequest {
                volume_ids: Some(vec!["vol-0123456789abcdef0".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "InvalidVolume.NotFound",
            "The volume 'vol-0123456789abcdef0' does not exist."
        )
    );
    let e = t
        .svc
        .create_snapshot(
            &ctx,
            ec2::CreateSnapshotRequest {
                volume_id: "vol-0123456789abcdef0".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVolume.NotFound");
    let e = t
        .svc
        .delete_volume(
            &ctx,
            ec2::DeleteVolumeRequest {
                volume_id: "vol-bad".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "InvalidParameterValue",
            "Value (vol-bad) for parameter volumeId is invalid. Expected: 'vol-...'."
        )
    );
    // ClientToken: a retry answers the same volume, also in another zone (EC2 does not compare
    // zones); other parameters are a mismatch, and the token is the caller's alone.
    let with_token = ec2::CreateVolumeRequest {
        client_token: Some("tok-1".into()),
        ..base.clone()
    };
    let a = t.svc.create_volume(&ctx, with_token.clone()).await.unwrap();
    let b = t.svc.create_volume(&ctx, with_token.clone()).await.unwrap();
    assert_eq!(a.volume_id, b.volume_id);
    let other_zone = ec2::CreateVolumeRequest {
        availability_zone: Some(format!("{}c", ctx.region)),
        ..with_token.clone()
    };
    assert_eq!(
        t.svc
            .create_volume(&ctx, other_zone)
            .await
            .unwrap()
            .volume_id,
        a.volume_id
    );
    let bigger = ec2::CreateVolumeRequest {
        size: Some(base.size.unwrap_or(1) + 1),
        ..with_token.clone()
    };
    let e = t.svc.create_volume(&ctx, bigger).await.unwrap_err();
    assert_eq!(
        (&*e.code, e.status),
        ("IdempotentParameterMismatch", 400),
        "{}",
        e.message
    );
    let volumes = t
        .svc
        .describe_volumes(&ctx, ec2::DescribeVolumesRequest::default())
        .await
        .unwrap()
        .volumes
        .unwrap_or_default();
    assert_eq!(
        volumes
            .iter()
            .filter(|v| v.volume_id == a.volume_id)
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_lifecycle_lineage_and_restore() {
    let t = setup();
    let ctx = t.ctx();
    let key = t.key(&ctx).await;
    let v = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                encrypted: Some(true),
                kms_key_id: Some(key.clone()),
                ..Default::default()
            },
        )
        .await;
    let vol = v.volume_id.unwrap();
    let lineage = store::get_volume(
        t.svc.meta.read().unwrap().as_ref(),
        ctx.principal.account,
        ctx.region,
        &vol,
    )
    .unwrap()
    .unwrap()
    .lineage;
    t.put_blocks(&vol, &lineage, 5);
    let snap = t.snapshot(&ctx, &vol).await;
    let s = t.record(&snap);
    assert_eq!(
        (s.state, s.progress, s.lineage.as_str()),
        (SnapshotState::Completed, 100, lineage.as_str())
    );
    assert_eq!(s.kms_key_arn.as_deref(), Some(key.as_str()));
    assert!(s.data_encryption_key_id.is_some());
    assert_eq!(
        store::count_blocks(t.svc.meta.read().unwrap().as_ref(), &snap).unwrap(),
        5
    );
    // Same key, own snapshot: the new volume joins the lineage and shares the blocks at once.
    let v2 = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                snapshot_id: Some(snap.clone()),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        (v2.state, v2.size, v2.kms_key_id.as_deref()),
        (
            Some(ec2::VolumeState::Available),
            Some(8),
            Some(key.as_str())
        )
    );
    let v2id = v2.volume_id.unwrap();
    assert_eq!(
        store::blocks_from(t.svc.meta.read().unwrap().as_ref(), &v2id, 0, 100).unwrap(),
        store::blocks_from(t.svc.meta.read().unwrap().as_ref(), &snap, 0, 100).unwrap()
    );
    // Another key: a Restore job fills the volume, which is `creating` meanwhile.
    let other_key = t.key(&ctx).await;
    let v3 = t
        .svc
        .create_volume(
            &ctx,
            ec2::CreateVolumeRequest {
                snapshot_id: Some(snap.clone()),
                encrypted: Some(true),
                kms_key_id: Some(other_key.clone()),
                availability_zone: Some("ap-northeast-1b".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(v3.state, Some(ec2::VolumeState::Creating));
    let v3id = v3.volume_id.unwrap();
    let job = store::get_job(t.svc.meta.read().unwrap().as_ref(), &v3id)
        .unwrap()
        .unwrap();
    assert_eq!(
        job.kind,
        JobKind::Restore {
            source: snap.clone(),
            source_account: ctx.principal.account
        }
    );
    assert_eq!(job.total_blocks, 5);
    // While the restore reads it, the snapshot cannot be deleted.
    let e = t
        .svc
        .delete_snapshot(
            &ctx,
            ec2::DeleteSnapshotRequest {
                snapshot_id: snap.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidSnapshot.InUse");
    // A size below the snapshot's is refused.
    let e = t
        .svc
        .create_volume(
            &ctx,
            ec2::CreateVolumeRequest {
                snapshot_id: Some(snap.clone()),
                size: Some(4),
                availability_zone: Some("ap-northeast-1a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    // Key state reaches data: with the key disabled, no volume from the snapshot.
    t.svc
        .kms
        .disable_key(
            &ctx,
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    let e = t
        .svc
        .create_volume(
            &ctx,
            ec2::CreateVolumeRequest {
                snapshot_id: Some(snap.clone()),
                availability_zone: Some("ap-northeast-1a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue", "{e:?}");
    t.svc
        .kms
        .enable_key(
            &ctx,
            kmsapi::EnableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    t.volume(
        &ctx,
        ec2::CreateVolumeRequest {
            snapshot_id: Some(snap.clone()),
            ..Default::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_volume_finishes_a_pending_snapshot_first() {
    let t = setup();
    let ctx = t.ctx();
    let vol = t
        .volume(
            &ctx,
            ec2::CreateVolumeRequest {
                size: Some(8),
                ..Default::default()
            },
        )
        .await
        .volume_id
        .unwrap();
    let lineage = store::get_volume(
        t.svc.meta.read().unwrap().as_ref(),
        ctx.principal.account,
        ctx.region,
        &vol,
    )
    .unwrap()
    .unwrap()
    .lineage;
    t.put_blocks(&vol, &lineage, 3000);
    let s = t
        .svc
        .create_snapshot(
            &ctx,
            ec2::CreateSnapshotRequest {
                volume_id: vol.clone(),
                description: Some("pit".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let snap = s.snapshot_id.unwrap();
    t.svc
        .delete_volume(
            &ctx,
            ec2::DeleteVolumeRequest {
                volume_id: vol.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = t.record(&snap);
    assert_eq!(r.state, SnapshotState::Completed);
    let txn = t.svc.meta.read().unwrap();
    assert_eq!(store::count_blocks(txn.as_ref(), &snap).unwrap(), 3000);
    assert_eq!(store::count_blocks(txn.as_ref(), &vol).unwrap(), 0);
    assert!(store::get_job(txn.as_ref(), &snap).unwrap().is_none());
    drop(txn);
    let e = t
        .svc
        .describe_volumes(
            &ctx,
            ec2::DescribeVolumesRequest {
                volume_ids: Some(vec![vol.clone()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVolume.NotFound");
    // The snapshot stays; deleting it drops its manifest.
    t.svc
        .delete_snapshot(
            &ctx,
            ec2::DeleteSnapshotRequest {
                snapshot_id: snap.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store::count_blocks(t.svc.meta.read().unwrap().as_ref(), &snap).unwrap(),
        0
    );
    let e = t
        .svc
        .delete_snapshot(
            &ctx,
            ec2::DeleteSnapshotRequest {
                snapshot_id: snap,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidSnapshot.NotFound");
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_snapshots_visibility_filters_and_paging() {
    let t = setup();
    let me = t.ctx();
    let other = t.ctx_in(OTHER, TOKYO);
    let my_vol = t
        .volume(
            &me,
            ec2::CreateVolumeRequest {
                size: Some(8),
                ..Default::default()
            },
        )
        .await
        .volume_id
        .unwrap();
    let mut mine = Vec::new();
    for _ in 0..7 {
        mine.push(t.snapshot(&me, &my_vol).await);
    }
    mine.sort();
    let their_vol = t
        .volume(
            &other,
            ec2::CreateVolumeRequest {
                size: Some(4),
                ..Default::default()
            },
        )
        .await
        .volume_id
        .unwrap();
    let shared = t.snapshot(&other, &their_vol).await;
    let public = t.snapshot(&other, &their_vol).await;
    let private = t.snapshot(&other, &their_vol).await;
    t.share(&shared, ME, false);
    t.share(&public, "", true);
    // Tags on one of mine.
    t.svc
        .create_tags(
            &me,
            ec2::CreateTagsRequest {
                resources: vec![mine[0].clone()],
                tags: vec![ec2::Tag {
                    key: Some("Name".into()),
                    value: Some("web-1".into()),
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let all = t.describe(&me, Default::default()).await;
    let mut want = mine.clone();
    want.extend([shared.clone(), public.clone()]);
    want.sort();
    assert_eq!(all, want);
    let own = t
        .describe(
            &me,
            ec2::DescribeSnapshotsRequest {
                owner_ids: Some(vec!["self".into()]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(own, mine);
    let theirs = t
        .describe(
            &me,
            ec2::DescribeSnapshotsRequest {
                owner_ids: Some(vec![OTHER.into()]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(theirs.len(), 2);
    let restorable = t
        .describe(
            &me,
            ec2::DescribeSnapshotsRequest {
                restorable_by_user_ids: Some(vec!["self".into()]),
                ..Default::default()
            },
        )
        .await;
    assert!(restorable.contains(&shared) && !restorable.contains(&public) && restorable.len() == 8);
    let pubs = t
        .describe(
            &me,
            ec2::DescribeSnapshotsRequest {
                restorable_by_user_ids: Some(vec!["all".into()]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(pubs, vec![public.clone()]);
    let theirs_shared = t
        .describe(
            &other,
            ec2::DescribeSnapshotsRequest {
                restorable_by_user_ids: Some(vec![ME.into()]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(theirs_shared, vec![shared.clone()]);
    // SnapshotIds: an invisible one is left out, a nonexistent one is an error.
    let named = t
        .describe(
            &me,
            ec2::DescribeSnapshotsRequest {
                snapshot_ids: Some(vec![private.clone(), shared.clone()]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(named, vec![shared.clone()]);
    let e = t
        .svc
        .describe_snapshots(
            &me,
            ec2::DescribeSnapshotsRequest {
                snapshot_ids: Some(vec!["snap-0123456789abcdef0".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "InvalidSnapshot.NotFound",
            "The snapshot 'snap-0123456789abcdef0' does not exist."
        )
    );
    // Filters.
    let f = |fs: Vec<ec2::Filter>| ec2::DescribeSnapshotsRequest {
        filters: Some(fs),
        ..Default::default()
    };
    assert_eq!(
        t.describe(&me, f(vec![filter("tag:Name", &["web-*"])]))
            .await,
        vec![mine[0].clone()]
    );
    assert_eq!(
        t.describe(&me, f(vec![filter("tag-key", &["Name"])])).await,
        vec![mine[0].clone()]
    );
    assert_eq!(
        t.describe(
            &me,
            f(vec![
                filter("volume-id", &[&their_vol]),
                filter("status", &["completed"])
            ])
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        t.describe(
            &me,
            f(vec![
                filter("owner-id", &[ME]),
                filter("volume-size", &["8"]),
                filter("progress", &["100%"])
            ])
        )
        .await,
        mine
    );
    assert_eq!(
        t.describe(&me, f(vec![filter("encrypted", &["true"])]))
            .await
            .len(),
        0
    );
    assert_eq!(
        t.describe(&me, f(vec![filter("snapshot-id", &[&mine[1], &shared])]))
            .await
            .len(),
        2
    );
    assert!(t
        .svc
        .describe_snapshots(&me, f(vec![filter("bogus", &["x"])]))
        .await
        .is_err());
    // Paging: MaxResults 5, opaque token, every snapshot once.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = t
            .svc
            .describe_snapshots(
                &me,
                ec2::DescribeSnapshotsRequest {
                    owner_ids: Some(vec!["self".into()]),
                    max_results: Some(5),
                    next_token: token,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(
            out.snapshots
                .unwrap()
                .into_iter()
                .map(|s| s.snapshot_id.unwrap()),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, mine);
    assert!(t
        .svc
        .describe_snapshots(
            &me,
            ec2::DescribeSnapshotsRequest {
                max_results: Some(4),
                ..Default::default()
            }
        )
        .await
        .is_err());
    // A shared snapshot shows its owner and no owner tags; only the owner may delete it.
    let out = t
        .svc
        .describe_snapshots(
            &me,
            ec2::DescribeSnapshotsRequest {
                snapshot_ids: Some(vec![shared.clone()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.snapshots.unwrap()[0].owner_id.as_deref(), Some(OTHER));
    let e = t
        .svc
        .delete_snapshot(
            &me,
            ec2::DeleteSnapshotRequest {
                snapshot_id: shared.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "UnauthorizedOperation");
    let e = t
        .svc
        .delete_snapshot(
            &me,
            ec2::DeleteSnapshotRequest {
                snapshot_id: private.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidSnapshot.NotFound");
    // DescribeTags and DeleteTags.
    let tags = t
        .svc
        .describe_tags(
            &me,
            ec2::DescribeTagsRequest {
                filters: Some(vec![filter("resource-type", &["snapshot"])]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tags.tags.unwrap().len(), 1);
    t.svc
        .delete_tags(
            &me,
            ec2::DeleteTagsRequest {
                resources: vec![mine[0].clone()],
                tags: Some(vec![ec2::Tag {
                    key: Some("Name".into()),
                    value: Some("other".into()),
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        t.record(&mine[0]).tags.len(),
        1,
        "a different value deletes nothing"
    );
    t.svc
        .delete_tags(
            &me,
            ec2::DeleteTagsRequest {
                resources: vec![mine[0].clone()],
                tags: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(t.record(&mine[0]).tags.is_empty());
    let e = t
        .svc
        .create_tags(
            &me,
            ec2::CreateTagsRequest {
                resources: vec![shared],
                tags: vec![ec2::Tag {
                    key: Some("a".into()),
                    value: None,
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidSnapshot.NotFound");
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_from_shared_snapshots_restore_under_the_callers_key() {
    let t = setup();
    let owner = t.ctx_in(OTHER, TOKYO);
    let me = t.ctx();
    let vol = t
        .volume(
            &owner,
            ec2::CreateVolumeRequest {
                size: Some(4),
                ..Default::default()
            },
        )
        .await
        .volume_id
        .unwrap();
    let snap = t.snapshot(&owner, &vol).await;
    // Not shared: not found.
    let req = ec2::CreateVolumeRequest {
        snapshot_id: Some(snap.clone()),
        availability_zone: Some("ap-northeast-1a".into()),
        ..Default::default()
    };
    assert_eq!(
        t.svc
            .create_volume(&me, req.clone())
            .await
            .unwrap_err()
            .code,
        "InvalidSnapshot.NotFound"
    );
    t.share(&snap, ME, false);
    // Unencrypted shared snapshot: unencrypted volume of mine, restored (no shared lineage).
    let v = t.svc.create_volume(&me, req.clone()).await.unwrap();
    assert_eq!(
        (v.state, v.encrypted),
        (Some(ec2::VolumeState::Creating), Some(false))
    );
    // With encryption requested: my default key.
    let v = t
        .svc
        .create_volume(
            &me,
            ec2::CreateVolumeRequest {
                encrypted: Some(true),
                ..req
            },
        )
        .await
        .unwrap();
    assert!(v.kms_key_id.unwrap().contains(&format!(":{ME}:key/")));
    let volumes = t
        .svc
        .describe_volumes(
            &me,
            ec2::DescribeVolumesRequest {
                filters: Some(vec![
                    filter("snapshot-id", &[&snap]),
                    filter("encrypted", &["true"]),
                ]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(volumes.volumes.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn regions_and_zones() {
    let t = setup();
    let ctx = t.ctx();
    let r = t
        .svc
        .describe_regions(&ctx, Default::default())
        .await
        .unwrap()
        .regions
        .unwrap();
    assert!(r
        .iter()
        .any(|r| r.region_name.as_deref() == Some("us-west-2")));
    let z = t
        .svc
        .describe_availability_zones(&ctx, Default::default())
        .await
        .unwrap()
        .availability_zones
        .unwrap();
    let names: Vec<_> = z.iter().map(|z| z.zone_name.clone().unwrap()).collect();
    assert_eq!(
        names,
        ["ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1c"]
    );
    let z = t
        .svc
        .describe_availability_zones(
            &ctx,
            ec2::DescribeAvailabilityZonesRequest {
                filters: Some(vec![filter("zone-id", &["apne1-az2"])]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        z.availability_zones.unwrap()[0].zone_name.as_deref(),
        Some("ap-northeast-1b")
    );
}
