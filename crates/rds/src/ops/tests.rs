//! The RDS operations in-process over memory stores, a real KMS and the EBS block store, the
//! workers driven by hand: the encrypt-existing procedure with real bytes, the `aws/rds`
//! default key (usable only through RDS), and RDS storage staying out of EC2's view.

use super::{instances, snapshots};
use crate::{store, workers};
use kmsnap_api::gen::ec2::{self, Ec2Handler};
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;
use kmsnap_core::Clock;
use kmsnap_snapshots::blocks;
use kmsnap_snapshots::managed::{self, KeyUse, StorageKey, VolumeId, BLOCK_SIZE};

const ACCOUNT: &str = "369036903690";
const REGION: &str = "eu-central-1";

crate::testenv::module_env!(7, ACCOUNT, REGION, "rds-tests");

impl Env {
    /// Runs the EBS jobs and RDS steps until nothing moves.
    async fn settle(&self) {
        self.settle_with(|meta, _| workers::step(meta).unwrap())
            .await;
    }

    async fn create(
        &self,
        id: &str,
        encrypted: Option<bool>,
        key: Option<&str>,
    ) -> Result<rds::DBInstance, crate::RdsError> {
        self.create_instance(&self.ctx(), id, encrypted, key).await
    }

    fn instance(&self, id: &str) -> crate::model::DbInstanceRecord {
        self.instance_record(&self.ctx(), id)
    }

    fn lineage_of_volume(&self, vol: &VolumeId) -> StorageKey {
        self.volume_lineage(&self.ctx(), vol)
    }
}

fn block(fill: u8) -> Vec<u8> {
    vec![fill; BLOCK_SIZE]
}

#[tokio::test]
async fn encrypt_an_existing_instance_keeps_every_byte() {
    let env = Env::new();
    let ctx = env.ctx();
    let created = env.create("pg1", None, None).await.unwrap();
    assert_eq!(
        (
            created.db_instance_status.as_deref(),
            created.storage_encrypted
        ),
        (Some("creating"), Some(false))
    );
    env.settle().await;
    assert_eq!(
        env.instance("pg1").status,
        crate::model::InstanceStatus::Available
    );
    let vol = env.instance("pg1").volume_id;
    for (i, fill) in [(0u64, 1u8), (5, 2), (40_000, 3)] {
        let data = block(fill);
        let sum = blocks::sha256_b64(&data);
        env.ebs
            .write_volume_block(&ctx, &vol, i, bytes::Bytes::from(data), Some(sum))
            .await
            .unwrap();
    }

    let s = snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: "s1".into(),
            db_instance_identifier: "pg1".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.db_snapshot.unwrap().status.as_deref(), Some("creating"));
    env.settle().await;

    let key = env
        .rds
        .kms
        .create_key(&ctx, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let copy = snapshots::copy(
        &env.rds,
        &ctx,
        rds::CopyDBSnapshotMessage {
            source_db_snapshot_identifier: "s1".into(),
            target_db_snapshot_identifier: "s1-enc".into(),
            kms_key_id: Some(key.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_snapshot
    .unwrap();
    assert_eq!(
        (copy.encrypted, copy.kms_key_id.as_deref()),
        (Some(true), Some(key.as_str()))
    );
    env.settle().await;
    let copied = store::get_snapshot(
        env.rds.meta.read().unwrap().as_ref(),
        ctx.principal.account,
        ctx.region,
        "s1-enc",
    )
    .unwrap()
    .unwrap();
    assert_eq!(copied.status, crate::model::SnapshotStatus::Available);

    let restored = snapshots::restore(
        &env.rds,
        &ctx,
        rds::RestoreDBInstanceFromDBSnapshotMessage {
            db_instance_identifier: "pg1-enc".into(),
            db_snapshot_identifier: Some("s1-enc".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_instance
    .unwrap();
    assert_eq!(
        (restored.storage_encrypted, restored.kms_key_id.as_deref()),
        (Some(true), Some(key.as_str()))
    );
    let new_vol = env.instance("pg1-enc").volume_id;
    // Re-encrypted through RDS under the customer key: a new lineage whose data key names the
    // source instance in RDS's encryption context.
    let lineage = env.lineage_of_volume(&new_vol);
    assert_eq!(lineage.kms_key_arn.as_deref(), Some(key.as_str()));
    assert_eq!(
        lineage.key_use,
        KeyUse::Service(managed::ServiceUse::new(
            "rds.amazonaws.com",
            [("aws:rds:db-id", env.instance("pg1").dbi_resource_id)]
        ))
    );
    assert_ne!(lineage.lineage, env.lineage_of_volume(&vol).lineage);
    for (i, fill) in [(0u64, 1u8), (5, 2), (40_000, 3)] {
        assert_eq!(
            env.ebs.read_volume_block(&ctx, &new_vol, i).await.unwrap(),
            Some(block(fill)),
            "block {i}"
        );
    }
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &new_vol, 6).await.unwrap(),
        None
    );

    // Disabling the key stops reads of the restored storage.
    env.rds
        .kms
        .disable_key(
            &ctx,
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    env.clock.advance(chrono::Duration::seconds(120));
    assert!(env
        .ebs
        .read_volume_block(&env.ctx(), &new_vol, 0)
        .await
        .is_err());
}

#[tokio::test]
async fn storage_encrypted_without_a_key_uses_aws_rds_through_rds_only() {
    let env = Env::new();
    let inst = env.create("enc1", Some(true), None).await.unwrap();
    let managed = env
        .rds
        .kms
        .describe_key(
            &env.ctx(),
            kmsapi::DescribeKeyRequest {
                key_id: "alias/aws/rds".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let managed_arn = managed.key_metadata.unwrap().arn.unwrap();
    assert_eq!(inst.kms_key_id.as_deref(), Some(managed_arn.as_str()));
    let rec = env.instance("enc1");
    let lineage = env.lineage_of_volume(&rec.volume_id);
    let KeyUse::Service(key_use) = &lineage.key_use else {
        panic!("not RDS's key use: {:?}", lineage.key_use);
    };
    assert_eq!(
        (
            key_use.service.as_str(),
            key_use.context.get("aws:rds:db-id")
        ),
        ("rds.amazonaws.com", Some(&rec.dbi_resource_id))
    );
    assert_eq!(lineage.kms_key_arn.as_deref(), Some(managed_arn.as_str()));
    // The storage's data key unwraps for the caller through RDS.
    env.ebs
        .check_volume_key(&env.ctx(), &rec.volume_id)
        .await
        .unwrap();
    // A data key under aws/rds with the storage's context unwraps through RDS, and the same
    // ciphertext asked for through EC2 is refused by the aws/rds key policy.
    let via_rds = env.ctx().via("rds.amazonaws.com");
    let dk = env
        .rds
        .kms
        .generate_data_key_without_plaintext(
            &via_rds,
            kmsapi::GenerateDataKeyWithoutPlaintextRequest {
                key_id: managed_arn.clone(),
                key_spec: Some(kmsapi::DataKeySpec::Aes256),
                encryption_context: Some(key_use.context.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let env = &env;
    let decrypt = |via: &str| {
        let ctx = env.ctx().via(via);
        let request = kmsapi::DecryptRequest {
            ciphertext_blob: dk.ciphertext_blob.clone(),
            key_id: Some(managed_arn.clone()),
            encryption_context: Some(key_use.context.clone()),
            ..Default::default()
        };
        async move { env.rds.kms.decrypt(&ctx, request).await }
    };
    assert!(decrypt("rds.amazonaws.com").await.is_ok());
    assert!(decrypt("ec2.amazonaws.com").await.is_err());
}

#[tokio::test]
async fn kms_key_id_rules() {
    let env = Env::new();
    let ctx = env.ctx();
    assert!(matches!(
        env.create("a1", None, Some("alias/aws/rds")).await,
        Err(crate::RdsError::InvalidParameterCombination(_))
    ));
    let key = env
        .rds
        .kms
        .create_key(&ctx, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    env.rds
        .kms
        .disable_key(
            &ctx,
            kmsapi::DisableKeyRequest {
                key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        env.create("a2", Some(true), Some(&key)).await,
        Err(crate::RdsError::KmsKeyNotAccessible { .. })
    ));
    assert!(matches!(
        env.create("a3", Some(true), Some("alias/nope")).await,
        Err(crate::RdsError::KmsKeyNotAccessible { .. })
    ));
    assert!(matches!(
        env.create("a--4", None, None).await,
        Err(crate::RdsError::InvalidParameterValue(_))
    ));
}

#[tokio::test]
async fn rds_storage_is_not_an_ec2_volume_or_snapshot() {
    let env = Env::new();
    let ctx = env.ctx();
    env.create("hidden", None, None).await.unwrap();
    env.settle().await;
    snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: "hs".into(),
            db_instance_identifier: "hidden".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.settle().await;
    let vols = env
        .ebs
        .describe_volumes(&ctx, ec2::DescribeVolumesRequest::default())
        .await
        .unwrap();
    assert_eq!(vols.volumes.unwrap_or_default().len(), 0);
    let snaps = env
        .ebs
        .describe_snapshots(
            &ctx,
            ec2::DescribeSnapshotsRequest {
                owner_ids: Some(vec!["self".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(snaps.snapshots.unwrap_or_default().len(), 0);
    let vol = env.instance("hidden").volume_id;
    let e = env
        .ebs
        .delete_volume(
            &ctx,
            ec2::DeleteVolumeRequest {
                volume_id: vol.to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidVolume.NotFound");
}

#[tokio::test]
async fn deleting_an_instance_keeps_the_data_of_snapshots_still_sealing() {
    let env = Env::new();
    let ctx = env.ctx();
    env.create("gone", None, None).await.unwrap();
    env.settle().await;
    let vol = env.instance("gone").volume_id;
    let data = block(9);
    let sum = blocks::sha256_b64(&data);
    env.ebs
        .write_volume_block(&ctx, &vol, 3, bytes::Bytes::from(data), Some(sum))
        .await
        .unwrap();
    snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: "pending".into(),
            db_instance_identifier: "gone".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let del = rds::DeleteDBInstanceMessage {
        db_instance_identifier: "gone".into(),
        final_db_snapshot_identifier: Some("final".into()),
        ..Default::default()
    };
    assert_eq!(
        instances::delete(&env.rds, &ctx, del)
            .await
            .unwrap()
            .db_instance
            .unwrap()
            .db_instance_status
            .as_deref(),
        Some("deleting")
    );
    env.settle().await;
    for id in ["pending", "final"] {
        let restore = rds::RestoreDBInstanceFromDBSnapshotMessage {
            db_instance_identifier: format!("from-{id}"),
            db_snapshot_identifier: Some(id.into()),
            ..Default::default()
        };
        snapshots::restore(&env.rds, &ctx, restore).await.unwrap();
        let v = env.instance(&format!("from-{id}")).volume_id;
        assert_eq!(
            env.ebs.read_volume_block(&ctx, &v, 3).await.unwrap(),
            Some(block(9)),
            "{id}"
        );
    }
    let missing = rds::DescribeDBInstancesMessage {
        db_instance_identifier: Some("gone".into()),
        ..Default::default()
    };
    assert!(matches!(
        instances::describe(&env.rds, &ctx, missing).await,
        Err(crate::RdsError::InstanceNotFound { .. })
    ));
}

#[tokio::test]
async fn copies_under_and_from_the_aws_rds_key() {
    let env = Env::new();
    let ctx = env.ctx();
    env.create("plain", None, None).await.unwrap();
    env.settle().await;
    let vol = env.instance("plain").volume_id;
    let data = block(4);
    let sum = blocks::sha256_b64(&data);
    env.ebs
        .write_volume_block(&ctx, &vol, 1, bytes::Bytes::from(data), Some(sum))
        .await
        .unwrap();
    snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: "p".into(),
            db_instance_identifier: "plain".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.settle().await;
    let copy = |src: &str, dst: &str, key: Option<&str>| rds::CopyDBSnapshotMessage {
        source_db_snapshot_identifier: src.into(),
        target_db_snapshot_identifier: dst.into(),
        kms_key_id: key.map(str::to_owned),
        ..Default::default()
    };
    // Unencrypted → aws/rds (re-encrypted through RDS), then aws/rds → same key (blobs shared).
    let enc = snapshots::copy(&env.rds, &ctx, copy("p", "p-rds", Some("alias/aws/rds")))
        .await
        .unwrap()
        .db_snapshot
        .unwrap();
    env.settle().await;
    let same = snapshots::copy(&env.rds, &ctx, copy("p-rds", "p-rds-2", None))
        .await
        .unwrap()
        .db_snapshot
        .unwrap();
    assert_eq!(same.kms_key_id, enc.kms_key_id);
    env.settle().await;
    for id in ["p-rds", "p-rds-2"] {
        let s = store::get_snapshot(
            env.rds.meta.read().unwrap().as_ref(),
            ctx.principal.account,
            ctx.region,
            id,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.status, crate::model::SnapshotStatus::Available, "{id}");
        let restore = rds::RestoreDBInstanceFromDBSnapshotMessage {
            db_instance_identifier: format!("r-{id}"),
            db_snapshot_identifier: Some(id.into()),
            ..Default::default()
        };
        let inst = snapshots::restore(&env.rds, &ctx, restore)
            .await
            .unwrap()
            .db_instance
            .unwrap();
        assert_eq!(inst.kms_key_id, enc.kms_key_id);
        let v = env.instance(&format!("r-{id}")).volume_id;
        assert_eq!(
            env.ebs.read_volume_block(&ctx, &v, 1).await.unwrap(),
            Some(block(4)),
            "{id}"
        );
    }
    // A second copy with the same target identifier is refused.
    let again = snapshots::copy(&env.rds, &ctx, copy("p", "p-rds", None)).await;
    assert!(matches!(
        again,
        Err(crate::RdsError::SnapshotAlreadyExists { .. })
    ));
}

impl Env {
    fn ctx_for(&self, account: &str, region: &str) -> RequestContext {
        self.ctx_as(account, region, "rds-tests")
    }

    fn snapshot(&self, ctx: &RequestContext, id: &str) -> Option<crate::model::DbSnapshotRecord> {
        store::get_snapshot(
            self.rds.meta.read().unwrap().as_ref(),
            ctx.principal.account,
            ctx.region,
            id,
        )
        .unwrap()
    }

    /// An available instance `id` of `ctx`'s account whose block 2 holds `fill`, and its
    /// available manual snapshot `<id>-snap`.
    async fn instance_with_data(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: Option<&str>,
        fill: u8,
    ) {
        let input = rds::CreateDBInstanceMessage {
            db_instance_identifier: id.into(),
            engine: "postgres".into(),
            db_instance_class: "db.t3.micro".into(),
            allocated_storage: Some(20),
            master_username: Some("postgres".into()),
            storage_encrypted: Some(key.is_some()),
            kms_key_id: key.map(str::to_owned),
            backup_retention_period: Some(0),
            ..Default::default()
        };
        instances::create(&self.rds, ctx, input).await.unwrap();
        self.settle().await;
        let vol = self.instance_record(ctx, id).volume_id;
        let data = block(fill);
        let sum = blocks::sha256_b64(&data);
        self.ebs
            .write_volume_block(ctx, &vol, 2, bytes::Bytes::from(data), Some(sum))
            .await
            .unwrap();
        let snap = rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: format!("{id}-snap"),
            db_instance_identifier: id.into(),
            ..Default::default()
        };
        snapshots::create(&self.rds, ctx, snap).await.unwrap();
        self.settle().await;
    }
}

const OTHER: &str = "470047004700";

fn key_policy_admitting(owner: &str, other: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{owner}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{other}:root")},
             "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:CreateGrant"], "Resource": "*"}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn a_shared_snapshot_is_copied_by_the_recipient_only_with_access_to_its_key() {
    let env = Env::new();
    let (owner, other) = (env.ctx(), env.ctx_for(OTHER, REGION));
    let shared_key = env
        .rds
        .kms
        .create_key(
            &owner,
            kmsapi::CreateKeyRequest {
                policy: Some(key_policy_admitting(ACCOUNT, OTHER)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let private_key = env
        .rds
        .kms
        .create_key(&owner, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let other_key = env
        .rds
        .kms
        .create_key(&other, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    env.instance_with_data(&owner, "open", Some(&shared_key), 7)
        .await;
    env.instance_with_data(&owner, "closed", Some(&private_key), 8)
        .await;
    let share = |id: &str| rds::ModifyDBSnapshotAttributeMessage {
        db_snapshot_identifier: id.into(),
        attribute_name: "restore".into(),
        values_to_add: Some(vec![OTHER.into()]),
        ..Default::default()
    };
    let copy = |src: &str, dst: &str, key: Option<&str>| rds::CopyDBSnapshotMessage {
        source_db_snapshot_identifier: format!("arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:{src}"),
        target_db_snapshot_identifier: dst.into(),
        kms_key_id: key.map(str::to_owned),
        ..Default::default()
    };
    // Not shared yet: not found.
    assert!(matches!(
        snapshots::copy(
            &env.rds,
            &other,
            copy("open-snap", "mine", Some(&other_key))
        )
        .await,
        Err(crate::RdsError::SnapshotNotFound { .. })
    ));
    for id in ["open-snap", "closed-snap"] {
        super::sharing::modify_attribute(&env.rds, &owner, share(id))
            .await
            .unwrap();
    }
    // Shared, encrypted: a key is required, and the source key must admit the recipient.
    assert!(matches!(
        snapshots::copy(&env.rds, &other, copy("open-snap", "mine", None)).await,
        Err(crate::RdsError::InvalidParameterValue(_))
    ));
    let denied = snapshots::copy(
        &env.rds,
        &other,
        copy("closed-snap", "mine", Some(&other_key)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&denied, crate::RdsError::KmsKeyNotAccessible { message } if message.contains(&private_key)),
        "{denied:?}"
    );
    let out = snapshots::copy(
        &env.rds,
        &other,
        copy("open-snap", "mine", Some(&other_key)),
    )
    .await
    .unwrap()
    .db_snapshot
    .unwrap();
    assert_eq!(out.kms_key_id.as_deref(), Some(other_key.as_str()));
    env.settle().await;
    assert_eq!(
        env.snapshot(&other, "mine").unwrap().status,
        crate::model::SnapshotStatus::Available
    );
    let restore = rds::RestoreDBInstanceFromDBSnapshotMessage {
        db_instance_identifier: "moved".into(),
        db_snapshot_identifier: Some("mine".into()),
        ..Default::default()
    };
    snapshots::restore(&env.rds, &other, restore).await.unwrap();
    let vol = env.instance_record(&other, "moved").volume_id;
    assert_eq!(
        env.ebs.read_volume_block(&other, &vol, 2).await.unwrap(),
        Some(block(7))
    );
    // The copy's data key is the recipient's, under its own key.
    let lineage = env.volume_lineage(&other, &vol);
    assert_eq!(
        (lineage.account, lineage.kms_key_arn.as_deref()),
        (other.principal.account, Some(other_key.as_str()))
    );
}

#[tokio::test]
async fn automated_backups_are_daily_and_expire_after_the_retention_period() {
    let env = Env::new();
    let ctx = env.ctx();
    let input = rds::CreateDBInstanceMessage {
        db_instance_identifier: "daily".into(),
        engine: "mysql".into(),
        db_instance_class: "db.t3.micro".into(),
        allocated_storage: Some(20),
        master_username: Some("admin".into()),
        backup_retention_period: Some(1),
        ..Default::default()
    };
    instances::create(&env.rds, &ctx, input).await.unwrap();
    let automated = |env: &Env| {
        let mut v: Vec<String> = store::snapshots(env.rds.meta.read().unwrap().as_ref(), None)
            .unwrap()
            .into_iter()
            .filter(|s| s.snapshot_type == "automated")
            .map(|s| s.identifier)
            .collect();
        v.sort();
        v
    };
    // None while creating.
    assert_eq!(
        workers::backups(env.rds.meta.as_ref(), env.clock.now()).unwrap(),
        0
    );
    env.settle().await;
    let t0 = env.clock.now();
    assert_eq!(workers::backups(env.rds.meta.as_ref(), t0).unwrap(), 1);
    assert_eq!(workers::backups(env.rds.meta.as_ref(), t0).unwrap(), 0);
    let first = crate::model::automated_snapshot_id("daily", t0);
    assert_eq!(automated(&env), vec![first.clone()]);
    env.settle().await;
    let del = rds::DeleteDBSnapshotMessage {
        db_snapshot_identifier: first.clone(),
    };
    assert!(matches!(
        snapshots::delete(&env.rds, &ctx, del).await,
        Err(crate::RdsError::SnapshotNotManual { .. })
    ));

    env.clock.advance(chrono::Duration::hours(23));
    assert_eq!(
        workers::backups(env.rds.meta.as_ref(), env.clock.now()).unwrap(),
        0
    );
    env.clock.advance(chrono::Duration::hours(1));
    let t1 = env.clock.now();
    // A day after the first: the second is taken and the first, a day old, expires.
    assert_eq!(workers::backups(env.rds.meta.as_ref(), t1).unwrap(), 1);
    assert_eq!(
        automated(&env),
        vec![crate::model::automated_snapshot_id("daily", t1)]
    );
}

#[tokio::test]
async fn lifecycle_states_last_their_configured_dwell() {
    let env = Env::new();
    let ctx = env.ctx();
    env.create("life", None, None).await.unwrap();
    env.settle().await;
    let stop = rds::StopDBInstanceMessage {
        db_instance_identifier: "life".into(),
        ..Default::default()
    };
    assert_eq!(
        instances::stop(&env.rds, &ctx, stop)
            .await
            .unwrap()
            .db_instance
            .unwrap()
            .db_instance_status
            .as_deref(),
        Some("stopping")
    );
    let now = env.clock.now();
    // With `[timing]` asking for 60 s of `stopping`, it stays until then on the server clock.
    let timing = workers::Timing {
        instance_stop: chrono::Duration::seconds(60),
        ..Default::default()
    };
    assert_eq!(
        workers::step_at(
            env.rds.meta.as_ref(),
            Some(now + chrono::Duration::seconds(59)),
            &timing
        )
        .unwrap(),
        0
    );
    assert_eq!(
        env.instance("life").status,
        crate::model::InstanceStatus::Stopping
    );
    workers::step_at(
        env.rds.meta.as_ref(),
        Some(now + chrono::Duration::seconds(60)),
        &timing,
    )
    .unwrap();
    assert_eq!(
        env.instance("life").status,
        crate::model::InstanceStatus::Stopped
    );
    let reboot = rds::RebootDBInstanceMessage {
        db_instance_identifier: "life".into(),
        ..Default::default()
    };
    assert!(matches!(
        instances::reboot(&env.rds, &ctx, reboot).await,
        Err(crate::RdsError::InvalidInstanceState { .. })
    ));
    // By default (no dwell) a transition is due at once: the next call's settle ends it.
    let start = rds::StartDBInstanceMessage {
        db_instance_identifier: "life".into(),
        ..Default::default()
    };
    assert_eq!(
        instances::start(&env.rds, &ctx, start)
            .await
            .unwrap()
            .db_instance
            .unwrap()
            .db_instance_status
            .as_deref(),
        Some("starting")
    );
    env.rds.settle(env.clock.now()).await.unwrap();
    assert_eq!(
        env.instance("life").status,
        crate::model::InstanceStatus::Available
    );
    // Growing the storage grows the backing volume.
    let grow = rds::ModifyDBInstanceMessage {
        db_instance_identifier: "life".into(),
        allocated_storage: Some(25),
        ..Default::default()
    };
    instances::modify(&env.rds, &ctx, grow).await.unwrap();
    let vol = env.instance("life").volume_id;
    let v = managed::volume(
        env.rds.meta.read().unwrap().as_ref(),
        ctx.principal.account,
        ctx.region,
        &vol,
    )
    .unwrap()
    .unwrap();
    assert_eq!(v.size_gib, 25);
    let small = rds::ModifyDBInstanceMessage {
        db_instance_identifier: "life".into(),
        allocated_storage: Some(26),
        ..Default::default()
    };
    env.settle().await;
    assert!(matches!(
        instances::modify(&env.rds, &ctx, small).await,
        Err(crate::RdsError::InvalidParameterCombination(_))
    ));
}

#[tokio::test]
async fn a_read_replica_follows_its_source_under_its_own_key() {
    let env = Env::new();
    let ctx = env.ctx();
    let key = env
        .rds
        .kms
        .create_key(&ctx, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let other_key = env
        .rds
        .kms
        .create_key(&ctx, kmsapi::CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    env.instance_with_data(&ctx, "primary", Some(&key), 3).await;
    let replica = |id: &str, key: Option<&str>| rds::CreateDBInstanceReadReplicaMessage {
        db_instance_identifier: id.into(),
        source_db_instance_identifier: Some("primary".into()),
        kms_key_id: key.map(str::to_owned),
        ..Default::default()
    };
    // No automated backups on the source: refused.
    assert!(matches!(
        super::replicas::create(&env.rds, &ctx, replica("r1", None)).await,
        Err(crate::RdsError::BackupsDisabled { .. })
    ));
    let enable = rds::ModifyDBInstanceMessage {
        db_instance_identifier: "primary".into(),
        backup_retention_period: Some(1),
        ..Default::default()
    };
    instances::modify(&env.rds, &ctx, enable).await.unwrap();
    env.settle().await;
    let out = super::replicas::create(&env.rds, &ctx, replica("r1", Some(&other_key)))
        .await
        .unwrap()
        .db_instance
        .unwrap();
    assert_eq!(out.kms_key_id.as_deref(), Some(other_key.as_str()));
    assert_eq!(
        out.read_replica_source_db_instance_identifier.as_deref(),
        Some("primary")
    );

    // Rounds until nothing moves; the replica stays `creating` until the first ends.
    let rounds = |env: &Env| {
        let meta = env.rds.meta.clone();
        let ebs = env.ebs.clone();
        let clock = env.clock.clone();
        async move {
            for _ in 0..40 {
                clock.advance(chrono::Duration::seconds(3));
                let a = super::replicas::replicate(meta.as_ref(), clock.now()).unwrap();
                let b = kmsnap_snapshots::workers::run_once(&ebs).await.unwrap();
                let c = workers::step(meta.as_ref()).unwrap();
                if a == 0 && !b && c == 0 {
                    return;
                }
            }
            panic!("replication did not settle");
        }
    };
    assert_eq!(
        env.instance("r1").status,
        crate::model::InstanceStatus::Creating
    );
    assert_eq!(workers::step(env.rds.meta.as_ref()).unwrap(), 0);
    rounds(&env).await;
    assert_eq!(
        env.instance("r1").status,
        crate::model::InstanceStatus::Available
    );
    let vol = env.instance("r1").volume_id;
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &vol, 2).await.unwrap(),
        Some(block(3))
    );
    assert_eq!(
        env.lineage_of_volume(&vol).kms_key_arn.as_deref(),
        Some(other_key.as_str())
    );

    // A write to the source reaches the replica at the next round.
    let src = env.instance("primary").volume_id;
    let data = block(9);
    let sum = blocks::sha256_b64(&data);
    env.ebs
        .write_volume_block(&ctx, &src, 5, bytes::Bytes::from(data), Some(sum))
        .await
        .unwrap();
    rounds(&env).await;
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &vol, 5).await.unwrap(),
        Some(block(9))
    );
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &vol, 2).await.unwrap(),
        Some(block(3))
    );

    // Unencrypted replica of an encrypted source: impossible; deleting the source promotes.
    let describe = rds::DescribeDBInstancesMessage {
        db_instance_identifier: Some("primary".into()),
        ..Default::default()
    };
    let shown = instances::describe(&env.rds, &ctx, describe)
        .await
        .unwrap()
        .db_instances
        .unwrap();
    assert_eq!(
        shown[0].read_replica_db_instance_identifiers.as_deref(),
        Some(&["r1".to_owned()][..])
    );
    let del = rds::DeleteDBInstanceMessage {
        db_instance_identifier: "primary".into(),
        skip_final_snapshot: Some(true),
        ..Default::default()
    };
    instances::delete(&env.rds, &ctx, del).await.unwrap();
    rounds(&env).await;
    assert!(store::replicas(env.rds.meta.read().unwrap().as_ref())
        .unwrap()
        .is_empty());
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &vol, 5).await.unwrap(),
        Some(block(9))
    );
}
