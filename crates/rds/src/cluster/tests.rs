//! Aurora in-process over memory stores, a real KMS and the EBS block store, workers driven by
//! hand: clusters and their instances sharing one encrypted volume, snapshots that move real
//! bytes (re-keyed restore of an unencrypted snapshot), sharing rules, and a lost key reaching
//! clusters and instances on the injected clock (docs/rds.md §8).

use super::{ops, snapshots};
use crate::error::{to_rds as to_aws, RdsError};
use crate::{keystate, workers};
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_api::gen::rds;
use kmsnap_core::Clock;
use kmsnap_snapshots::blocks;
use kmsnap_snapshots::managed::{self, KeyUse, ServiceUse, BLOCK_SIZE};

const ACCOUNT: &str = "470147014701";
const OTHER: &str = "580258025802";
const REGION: &str = "eu-west-3";

crate::testenv::module_env!(9, ACCOUNT, REGION, "rds-cluster-tests");

impl Env {
    /// Runs the EBS jobs and RDS steps (instances, clusters, key state) until nothing moves.
    async fn settle(&self) {
        self.settle_with(|meta, now| {
            workers::step(meta).unwrap()
                + super::workers::step(meta, now).unwrap()
                + keystate::step(meta, now).unwrap()
        })
        .await;
    }

    async fn key(&self) -> String {
        self.rds
            .kms
            .create_key(&self.ctx(), kmsapi::CreateKeyRequest::default())
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap()
    }

    async fn cluster(
        &self,
        id: &str,
        encrypted: Option<bool>,
        key: Option<&str>,
    ) -> Result<rds::DBCluster, RdsError> {
        let input = rds::CreateDBClusterMessage {
            db_cluster_identifier: id.into(),
            engine: "aurora-postgresql".into(),
            master_username: Some("postgres".into()),
            master_user_password: Some("secret-pw-1".into()),
            storage_encrypted: encrypted,
            kms_key_id: key.map(str::to_owned),
            ..Default::default()
        };
        Ok(ops::create(&self.rds, &self.ctx(), input)
            .await?
            .db_cluster
            .unwrap())
    }

    async fn instance(&self, id: &str, cluster: &str) -> Result<rds::DBInstance, RdsError> {
        let input = rds::CreateDBInstanceMessage {
            db_instance_identifier: id.into(),
            db_cluster_identifier: Some(cluster.into()),
            engine: "aurora-postgresql".into(),
            db_instance_class: "db.r6g.large".into(),
            ..Default::default()
        };
        Ok(ops::create_instance(&self.rds, &self.ctx(), input)
            .await?
            .db_instance
            .unwrap())
    }

    fn record(&self, id: &str) -> super::model::ClusterRecord {
        let c = self.ctx();
        super::store::get_cluster(
            self.rds.meta.read().unwrap().as_ref(),
            c.principal.account,
            c.region,
            id,
        )
        .unwrap()
        .unwrap()
    }

    async fn status(&self, id: &str) -> String {
        let out = ops::describe(
            &self.rds,
            &self.ctx(),
            rds::DescribeDBClustersMessage {
                db_cluster_identifier: Some(id.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        out.db_clusters.unwrap()[0].status.clone().unwrap()
    }

    async fn set_key(&self, key: &str, enabled: bool) {
        let ctx = self.ctx();
        if enabled {
            self.rds
                .kms
                .enable_key(&ctx, kmsapi::EnableKeyRequest { key_id: key.into() })
                .await
                .unwrap();
        } else {
            self.rds
                .kms
                .disable_key(&ctx, kmsapi::DisableKeyRequest { key_id: key.into() })
                .await
                .unwrap();
        }
    }

    async fn start(&self, id: &str) -> Result<rds::DBCluster, RdsError> {
        Ok(ops::start(
            &self.rds,
            &self.ctx(),
            rds::StartDBClusterMessage {
                db_cluster_identifier: id.into(),
            },
        )
        .await?
        .db_cluster
        .unwrap())
    }
}

fn code(e: RdsError) -> String {
    to_aws(e).code.into_owned()
}

#[tokio::test]
async fn instances_share_the_clusters_storage_and_key() {
    let env = Env::new();
    let key = env.key().await;
    let c = env.cluster("aur1", Some(true), Some(&key)).await.unwrap();
    assert_eq!(
        (
            c.status.as_deref(),
            c.storage_encrypted,
            c.kms_key_id.as_deref()
        ),
        (Some("creating"), Some(true), Some(key.as_str()))
    );
    env.settle().await;
    assert_eq!(env.status("aur1").await, "available");
    let rec = env.record("aur1");
    assert!(rec.resource_id.starts_with("cluster-"));

    // The storage's data key was generated through RDS with the cluster's context.
    let lineage = env.volume_lineage(&env.ctx(), &rec.volume_id);
    assert_eq!(
        lineage.key_use,
        KeyUse::Service(ServiceUse::new(
            "rds.amazonaws.com",
            [("aws:rds:dbc-id", rec.resource_id.clone())]
        ))
    );
    assert_eq!(
        lineage.key_use.context("x").get("aws:rds:dbc-id"),
        Some(&rec.resource_id)
    );

    // Instances always report the cluster's key; setting it on the instance is refused.
    let i = env.instance("aur1-a", "aur1").await.unwrap();
    assert_eq!(
        (
            i.storage_encrypted,
            i.kms_key_id.as_deref(),
            i.db_cluster_identifier.as_deref()
        ),
        (Some(true), Some(key.as_str()), Some("aur1"))
    );
    let bad = rds::CreateDBInstanceMessage {
        db_instance_identifier: "aur1-b".into(),
        db_cluster_identifier: Some("aur1".into()),
        engine: "aurora-postgresql".into(),
        db_instance_class: "db.r6g.large".into(),
        kms_key_id: Some(key.clone()),
        ..Default::default()
    };
    assert_eq!(
        code(
            ops::create_instance(&env.rds, &env.ctx(), bad.clone())
                .await
                .unwrap_err()
        ),
        "InvalidParameterCombination"
    );
    let mismatch = rds::CreateDBInstanceMessage {
        kms_key_id: None,
        storage_encrypted: Some(false),
        ..bad.clone()
    };
    assert_eq!(
        code(
            ops::create_instance(&env.rds, &env.ctx(), mismatch)
                .await
                .unwrap_err()
        ),
        "InvalidParameterCombination"
    );
    let same = rds::CreateDBInstanceMessage {
        kms_key_id: None,
        storage_encrypted: Some(true),
        ..bad
    };
    ops::create_instance(&env.rds, &env.ctx(), same)
        .await
        .unwrap();
    let inst = env.instance_record(&env.ctx(), "aur1-b");
    assert_eq!(inst.volume_id, rec.volume_id, "one volume per cluster");
    assert_eq!(
        env.record("aur1").members,
        vec!["aur1-a".to_owned(), "aur1-b".to_owned()]
    );

    // A cluster with instances cannot be deleted.
    let del = rds::DeleteDBClusterMessage {
        db_cluster_identifier: "aur1".into(),
        skip_final_snapshot: Some(true),
        ..Default::default()
    };
    let e = ops::delete(&env.rds, &env.ctx(), del.clone())
        .await
        .unwrap_err();
    assert_eq!(
        to_aws(e).message,
        "Cluster cannot be deleted, it still contains DB instances in non-deleting state."
    );
    for m in ["aur1-a", "aur1-b"] {
        let d = rds::DeleteDBInstanceMessage {
            db_instance_identifier: m.into(),
            skip_final_snapshot: Some(true),
            ..Default::default()
        };
        // Handled as a member: the answer shows its cluster.
        let out = crate::ops::instances::delete(&env.rds, &env.ctx(), d)
            .await
            .unwrap();
        assert!(out.db_instance.unwrap().db_cluster_identifier.is_some());
    }
    ops::delete(&env.rds, &env.ctx(), del).await.unwrap();
    assert_eq!(
        code(
            ops::describe(
                &env.rds,
                &env.ctx(),
                rds::DescribeDBClustersMessage {
                    db_cluster_identifier: Some("aur1".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "DBClusterNotFoundFault"
    );
}

#[tokio::test]
async fn default_key_and_unencrypted_clusters() {
    let env = Env::new();
    let c = env.cluster("enc", Some(true), None).await.unwrap();
    assert!(c.kms_key_id.unwrap().contains(":key/"));
    let c = env.cluster("plain", None, None).await.unwrap();
    assert_eq!(
        (c.storage_encrypted, c.kms_key_id, c.storage_encryption_type),
        (Some(false), None, Some(rds::StorageEncryptionType::None))
    );
    assert_eq!(
        code(env.cluster("plain", None, None).await.unwrap_err()),
        "DBClusterAlreadyExistsFault"
    );
    assert_eq!(
        code(
            env.cluster("k", None, Some("alias/nope"))
                .await
                .unwrap_err()
        ),
        "InvalidParameterCombination"
    );
    assert_eq!(
        code(
            env.cluster("k", Some(true), Some("alias/nope"))
                .await
                .unwrap_err()
        ),
        "KMSKeyNotAccessibleFault"
    );
}

#[tokio::test]
async fn restore_with_a_key_encrypts_every_byte() {
    let env = Env::new();
    let ctx = env.ctx();
    env.cluster("src", None, None).await.unwrap();
    env.settle().await;
    let vol = env.record("src").volume_id;
    let blocks_in: Vec<(u64, Vec<u8>)> = vec![
        (0, vec![1u8; BLOCK_SIZE]),
        (7, vec![2u8; BLOCK_SIZE]),
        (90_000, vec![3u8; BLOCK_SIZE]),
    ];
    for (i, data) in &blocks_in {
        let sum = blocks::sha256_b64(data);
        env.ebs
            .write_volume_block(&ctx, &vol, *i, bytes::Bytes::from(data.clone()), Some(sum))
            .await
            .unwrap();
    }
    let s = snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBClusterSnapshotMessage {
            db_cluster_snapshot_identifier: "s1".into(),
            db_cluster_identifier: "src".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_cluster_snapshot
    .unwrap();
    assert_eq!(
        (s.status.as_deref(), s.storage_encrypted),
        (Some("creating"), Some(false))
    );
    env.settle().await;

    // An unencrypted snapshot cannot be copied into an encrypted one; a restore with a key can.
    let key = env.key().await;
    let copy = rds::CopyDBClusterSnapshotMessage {
        source_db_cluster_snapshot_identifier: "s1".into(),
        target_db_cluster_snapshot_identifier: "s2".into(),
        kms_key_id: Some(key.clone()),
        ..Default::default()
    };
    assert_eq!(
        code(snapshots::copy(&env.rds, &ctx, copy).await.unwrap_err()),
        "InvalidParameterValue"
    );
    let restore = rds::RestoreDBClusterFromSnapshotMessage {
        db_cluster_identifier: "dst".into(),
        snapshot_identifier: "s1".into(),
        engine: "aurora-postgresql".into(),
        kms_key_id: Some(key.clone()),
        ..Default::default()
    };
    let c = snapshots::restore(&env.rds, &ctx, restore)
        .await
        .unwrap()
        .db_cluster
        .unwrap();
    assert_eq!(
        (
            c.status.as_deref(),
            c.storage_encrypted,
            c.kms_key_id.as_deref()
        ),
        (Some("creating"), Some(true), Some(key.as_str()))
    );
    env.settle().await;
    assert_eq!(env.status("dst").await, "available");
    let dst = env.record("dst").volume_id;
    for (i, data) in &blocks_in {
        assert_eq!(
            env.ebs
                .read_volume_block(&ctx, &dst, *i)
                .await
                .unwrap()
                .as_ref(),
            Some(data),
            "block {i}"
        );
    }
    // Every block of the new volume is sealed under the new lineage.
    let lineage = env.volume_lineage(&ctx, &dst).lineage;
    let txn = env.rds.meta.read().unwrap();
    assert_eq!(
        managed::block_lineages(txn.as_ref(), &dst).unwrap(),
        std::collections::BTreeSet::from([lineage])
    );
    drop(txn);

    // Same-region copy re-keys; a snapshot of the encrypted cluster keeps its key.
    let s3 = snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBClusterSnapshotMessage {
            db_cluster_snapshot_identifier: "s3".into(),
            db_cluster_identifier: "dst".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_cluster_snapshot
    .unwrap();
    assert_eq!(s3.kms_key_id.as_deref(), Some(key.as_str()));
    env.settle().await;
    let key2 = env.key().await;
    let c4 = snapshots::copy(
        &env.rds,
        &ctx,
        rds::CopyDBClusterSnapshotMessage {
            source_db_cluster_snapshot_identifier: "s3".into(),
            target_db_cluster_snapshot_identifier: "s4".into(),
            kms_key_id: Some(key2.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_cluster_snapshot
    .unwrap();
    assert_eq!(
        (c4.status.as_deref(), c4.kms_key_id.as_deref()),
        (Some("copying"), Some(key2.as_str()))
    );
    env.settle().await;
    let list = snapshots::describe(
        &env.rds,
        &ctx,
        rds::DescribeDBClusterSnapshotsMessage {
            db_cluster_snapshot_identifier: Some("s4".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        list.db_cluster_snapshots.unwrap()[0].status.as_deref(),
        Some("available")
    );
}

#[tokio::test]
async fn sharing_rules() {
    let env = Env::new();
    let ctx = env.ctx();
    env.cluster("managed", Some(true), None).await.unwrap();
    let key = env.key().await;
    env.cluster("cust", Some(true), Some(&key)).await.unwrap();
    env.settle().await;
    for (snap, cluster) in [("m1", "managed"), ("c1", "cust")] {
        snapshots::create(
            &env.rds,
            &ctx,
            rds::CreateDBClusterSnapshotMessage {
                db_cluster_snapshot_identifier: snap.into(),
                db_cluster_identifier: cluster.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    env.settle().await;
    let share = |id: &str, v: &str| rds::ModifyDBClusterSnapshotAttributeMessage {
        db_cluster_snapshot_identifier: id.into(),
        attribute_name: "restore".into(),
        values_to_add: Some(vec![v.into()]),
        ..Default::default()
    };
    let e = snapshots::modify_attribute(&env.rds, &ctx, share("m1", OTHER))
        .await
        .unwrap_err();
    assert_eq!(code(e.clone()), "InvalidParameterValue");
    assert!(to_aws(e).message.contains("default KMS key"));
    assert_eq!(
        code(
            snapshots::modify_attribute(&env.rds, &ctx, share("c1", "all"))
                .await
                .unwrap_err()
        ),
        "InvalidParameterValue"
    );
    let out = snapshots::modify_attribute(&env.rds, &ctx, share("c1", OTHER))
        .await
        .unwrap();
    let attrs = out
        .db_cluster_snapshot_attributes_result
        .unwrap()
        .db_cluster_snapshot_attributes
        .unwrap();
    assert_eq!(
        attrs[0].attribute_values.as_deref(),
        Some(&[OTHER.to_owned()][..])
    );

    // The other account sees it as shared, by ARN; the owner's own listing is unchanged.
    let other = env.ctx_of(OTHER);
    let seen = snapshots::describe(
        &env.rds,
        &other,
        rds::DescribeDBClusterSnapshotsMessage {
            snapshot_type: Some("shared".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let seen = seen.db_cluster_snapshots.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].snapshot_type.as_deref(), Some("shared"));
    assert_eq!(
        seen[0].db_cluster_snapshot_identifier,
        seen[0].db_cluster_snapshot_arn
    );
    let own = snapshots::describe(
        &env.rds,
        &other,
        rds::DescribeDBClusterSnapshotsMessage::default(),
    )
    .await
    .unwrap();
    assert!(own.db_cluster_snapshots.unwrap().is_empty());
    // Copying it needs a key of the recipient's own.
    let arn = seen[0].db_cluster_snapshot_arn.clone().unwrap();
    let copy = rds::CopyDBClusterSnapshotMessage {
        source_db_cluster_snapshot_identifier: arn,
        target_db_cluster_snapshot_identifier: "mine".into(),
        ..Default::default()
    };
    let e = snapshots::copy(&env.rds, &other, copy).await.unwrap_err();
    assert_eq!(to_aws(e).message, "Specified KMS key [None] does not exist, is not enabled or you do not have permissions to access it.");
}

#[tokio::test]
async fn a_lost_key_reaches_the_cluster_and_its_instances() {
    let env = Env::new();
    let key = env.key().await;
    env.cluster("aur", Some(true), Some(&key)).await.unwrap();
    env.instance("aur-1", "aur").await.unwrap();
    env.settle().await;
    assert_eq!(env.start("aur").await.map_err(|e| to_aws(e).message).unwrap_err(), "DbCluster aur is in available state but expected it to be one of stopped,inaccessible-encryption-credentials-recoverable.");

    env.set_key(&key, false).await;
    env.settle().await;
    assert_eq!(
        env.status("aur").await,
        "inaccessible-encryption-credentials-recoverable"
    );
    let listed = crate::ops::instances::describe(
        &env.rds,
        &env.ctx(),
        rds::DescribeDBInstancesMessage {
            db_instance_identifier: Some("aur-1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        listed.db_instances.unwrap()[0]
            .db_instance_status
            .as_deref(),
        Some("inaccessible-encryption-credentials-recoverable")
    );
    // Start while the key is still disabled: RDS checks the key.
    assert_eq!(
        code(env.start("aur").await.unwrap_err()),
        "KMSKeyNotAccessibleFault"
    );
    env.set_key(&key, true).await;
    assert_eq!(
        env.start("aur").await.unwrap().status.as_deref(),
        Some("starting")
    );
    env.settle().await;
    assert_eq!(env.status("aur").await, "available");

    // Lost again, and 8 days pass: terminal; only deletion remains.
    env.set_key(&key, false).await;
    env.settle().await;
    env.clock.advance(chrono::Duration::days(6));
    env.settle().await;
    assert_eq!(
        env.status("aur").await,
        "inaccessible-encryption-credentials-recoverable"
    );
    env.clock.advance(chrono::Duration::days(2));
    env.settle().await;
    assert_eq!(
        env.status("aur").await,
        "inaccessible-encryption-credentials"
    );
    env.set_key(&key, true).await;
    assert_eq!(
        code(env.start("aur").await.unwrap_err()),
        "InvalidDBClusterStateFault"
    );
    let snap = rds::CreateDBClusterSnapshotMessage {
        db_cluster_snapshot_identifier: "late".into(),
        db_cluster_identifier: "aur".into(),
        ..Default::default()
    };
    assert_eq!(
        code(
            snapshots::create(&env.rds, &env.ctx(), snap)
                .await
                .unwrap_err()
        ),
        "InvalidDBClusterStateFault"
    );
    let d = rds::DeleteDBInstanceMessage {
        db_instance_identifier: "aur-1".into(),
        skip_final_snapshot: Some(true),
        ..Default::default()
    };
    crate::ops::instances::delete(&env.rds, &env.ctx(), d)
        .await
        .unwrap();
    ops::delete(
        &env.rds,
        &env.ctx(),
        rds::DeleteDBClusterMessage {
            db_cluster_identifier: "aur".into(),
            skip_final_snapshot: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_lost_key_reaches_db_instances_and_copies_fail() {
    let env = Env::new();
    let ctx = env.ctx();
    let key = env.key().await;
    env.create_instance(&ctx, "pg", Some(true), Some(&key))
        .await
        .unwrap();
    env.cluster("aur", Some(true), Some(&key)).await.unwrap();
    env.settle().await;
    snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBClusterSnapshotMessage {
            db_cluster_snapshot_identifier: "s".into(),
            db_cluster_identifier: "aur".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.settle().await;
    env.set_key(&key, false).await;
    env.settle().await;
    let status = |env: &Env| env.instance_record(&env.ctx(), "pg").status.as_str();
    assert_eq!(
        status(&env),
        "inaccessible-encryption-credentials-recoverable"
    );

    // Copies and restores under the unusable key fail with RDS's KMS error.
    let copy = rds::CopyDBClusterSnapshotMessage {
        source_db_cluster_snapshot_identifier: "s".into(),
        target_db_cluster_snapshot_identifier: "s2".into(),
        ..Default::default()
    };
    assert_eq!(
        code(snapshots::copy(&env.rds, &ctx, copy).await.unwrap_err()),
        "KMSKeyNotAccessibleFault"
    );
    let restore = rds::RestoreDBClusterFromSnapshotMessage {
        db_cluster_identifier: "r".into(),
        snapshot_identifier: "s".into(),
        engine: "aurora-postgresql".into(),
        ..Default::default()
    };
    assert_eq!(
        code(
            snapshots::restore(&env.rds, &ctx, restore)
                .await
                .unwrap_err()
        ),
        "KMSKeyNotAccessibleFault"
    );

    let start = rds::StartDBInstanceMessage {
        db_instance_identifier: "pg".into(),
        ..Default::default()
    };
    assert_eq!(crate::ops::instances::start(&env.rds, &ctx, start.clone()).await.unwrap_err(), crate::RdsError::KmsKeyNotAccessible {
        message: format!("The KMS key [{key}] of DB instance pg does not exist, is not enabled or you do not have permissions to access it."),
    });
    env.set_key(&key, true).await;
    let out = crate::ops::instances::start(&env.rds, &ctx, start.clone())
        .await
        .unwrap();
    assert_eq!(
        out.db_instance.unwrap().db_instance_status.as_deref(),
        Some("starting")
    );
    env.settle().await;
    assert_eq!(status(&env), "available");

    // Scheduled for deletion counts as lost; 8 days later the instance is terminal.
    env.rds
        .kms
        .schedule_key_deletion(
            &ctx,
            kmsapi::ScheduleKeyDeletionRequest {
                key_id: key.clone(),
                pending_window_in_days: Some(30),
            },
        )
        .await
        .unwrap();
    env.settle().await;
    assert_eq!(
        status(&env),
        "inaccessible-encryption-credentials-recoverable"
    );
    env.clock.advance(chrono::Duration::days(8));
    env.settle().await;
    assert_eq!(status(&env), "inaccessible-encryption-credentials");
    assert!(
        matches!(
            crate::ops::instances::start(&env.rds, &ctx, start)
                .await
                .unwrap_err(),
            crate::RdsError::CannotStart { .. }
        ),
        "terminal: the instance operation refuses it"
    );
}

#[tokio::test]
async fn a_db_snapshot_migrates_into_a_cluster() {
    let env = Env::new();
    let ctx = env.ctx();
    env.create_instance(&ctx, "pg", None, None).await.unwrap();
    env.settle().await;
    let vol = env.instance_record(&ctx, "pg").volume_id;
    let data = vec![5u8; BLOCK_SIZE];
    env.ebs
        .write_volume_block(
            &ctx,
            &vol,
            3,
            bytes::Bytes::from(data.clone()),
            Some(blocks::sha256_b64(&data)),
        )
        .await
        .unwrap();
    crate::ops::snapshots::create(
        &env.rds,
        &ctx,
        rds::CreateDBSnapshotMessage {
            db_snapshot_identifier: "pgs".into(),
            db_instance_identifier: "pg".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.settle().await;
    let key = env.key().await;
    let mut restore = rds::RestoreDBClusterFromSnapshotMessage {
        db_cluster_identifier: "mig".into(),
        snapshot_identifier: "pgs".into(),
        engine: "aurora-mysql".into(),
        ..Default::default()
    };
    assert_eq!(
        code(
            snapshots::restore(&env.rds, &ctx, restore.clone())
                .await
                .unwrap_err()
        ),
        "InvalidParameterCombination"
    );
    restore.engine = "aurora-postgresql".into();
    restore.kms_key_id = Some(key.clone());
    let out = snapshots::restore(&env.rds, &ctx, restore)
        .await
        .unwrap()
        .db_cluster
        .unwrap();
    assert_eq!(out.kms_key_id.as_deref(), Some(key.as_str()));
    env.settle().await;
    assert_eq!(env.status("mig").await, "available");
    let v = env.record("mig").volume_id;
    assert_eq!(
        env.ebs.read_volume_block(&ctx, &v, 3).await.unwrap(),
        Some(data)
    );
}

#[tokio::test]
async fn stop_start_and_the_seven_day_restart() {
    let env = Env::new();
    env.cluster("ss", None, None).await.unwrap();
    env.instance("ss-1", "ss").await.unwrap();
    env.settle().await;
    let ctx = env.ctx();
    let stop = || {
        ops::stop(
            &env.rds,
            &ctx,
            rds::StopDBClusterMessage {
                db_cluster_identifier: "ss".into(),
            },
        )
    };
    assert_eq!(
        stop().await.unwrap().db_cluster.unwrap().status.as_deref(),
        Some("stopping")
    );
    assert_eq!(
        code(stop().await.unwrap_err()),
        "InvalidDBClusterStateFault"
    );
    env.settle().await;
    assert_eq!(env.status("ss").await, "stopped");
    // Instances of a stopped cluster cannot be started alone.
    assert_eq!(
        code(
            crate::ops::instances::start(
                &env.rds,
                &env.ctx(),
                rds::StartDBInstanceMessage {
                    db_instance_identifier: "ss-1".into(),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "InvalidParameterCombination"
    );
    env.clock.advance(chrono::Duration::days(6));
    env.settle().await;
    assert_eq!(env.status("ss").await, "stopped");
    env.clock.advance(chrono::Duration::days(1));
    env.settle().await;
    assert_eq!(env.status("ss").await, "available");
    let m = ops::modify(
        &env.rds,
        &env.ctx(),
        rds::ModifyDBClusterMessage {
            db_cluster_identifier: "ss".into(),
            deletion_protection: Some(true),
            backup_retention_period: Some(9),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .db_cluster
    .unwrap();
    assert_eq!(
        (m.deletion_protection, m.backup_retention_period),
        (Some(true), Some(9))
    );
}

#[tokio::test]
async fn public_snapshots_and_paging() {
    let env = Env::new();
    let ctx = env.ctx();
    env.cluster("pub", None, None).await.unwrap();
    env.settle().await;
    for i in 0..21 {
        let m = rds::CreateDBClusterSnapshotMessage {
            db_cluster_snapshot_identifier: format!("p{i:02}"),
            db_cluster_identifier: "pub".into(),
            ..Default::default()
        };
        snapshots::create(&env.rds, &ctx, m).await.unwrap();
    }
    env.settle().await;
    // The cluster's automated snapshot is listed too: 22 in all.
    let page1 = snapshots::describe(
        &env.rds,
        &ctx,
        rds::DescribeDBClusterSnapshotsMessage {
            max_records: Some(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page1.db_cluster_snapshots.unwrap().len(), 20);
    let page2 = snapshots::describe(
        &env.rds,
        &ctx,
        rds::DescribeDBClusterSnapshotsMessage {
            max_records: Some(20),
            marker: page1.marker,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (page2.db_cluster_snapshots.unwrap().len(), page2.marker),
        (2, None)
    );

    let public = rds::ModifyDBClusterSnapshotAttributeMessage {
        db_cluster_snapshot_identifier: "p03".into(),
        attribute_name: "restore".into(),
        values_to_add: Some(vec!["all".into()]),
        ..Default::default()
    };
    snapshots::modify_attribute(&env.rds, &ctx, public)
        .await
        .unwrap();
    let other = env.ctx_of(OTHER);
    let q =
        |t: Option<&str>, include_public: Option<bool>| rds::DescribeDBClusterSnapshotsMessage {
            snapshot_type: t.map(str::to_owned),
            include_public,
            ..Default::default()
        };
    let seen = |m: rds::DBClusterSnapshotMessage| {
        m.db_cluster_snapshots
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.db_cluster_snapshot_identifier.unwrap(),
                    s.snapshot_type.unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let arn = format!("arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:p03");
    assert_eq!(
        seen(
            snapshots::describe(&env.rds, &other, q(Some("public"), None))
                .await
                .unwrap()
        ),
        vec![(arn.clone(), "public".to_owned())]
    );
    assert_eq!(
        seen(
            snapshots::describe(&env.rds, &other, q(None, Some(true)))
                .await
                .unwrap()
        ),
        vec![(arn.clone(), "public".to_owned())]
    );
    assert!(seen(
        snapshots::describe(&env.rds, &other, q(None, None))
            .await
            .unwrap()
    )
    .is_empty());
    assert!(seen(
        snapshots::describe(&env.rds, &other, q(Some("shared"), None))
            .await
            .unwrap()
    )
    .is_empty());
    // Owner-only operations stay the owner's.
    let attrs = rds::DescribeDBClusterSnapshotAttributesMessage {
        db_cluster_snapshot_identifier: "p03".into(),
    };
    assert_eq!(
        code(
            snapshots::describe_attributes(&env.rds, &other, attrs.clone())
                .await
                .unwrap_err()
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    let values = snapshots::describe_attributes(&env.rds, &ctx, attrs)
        .await
        .unwrap()
        .db_cluster_snapshot_attributes_result
        .unwrap()
        .db_cluster_snapshot_attributes
        .unwrap();
    assert_eq!(
        values[0].attribute_values.as_deref(),
        Some(&["all".to_owned()][..])
    );
    let del = rds::DeleteDBClusterSnapshotMessage {
        db_cluster_snapshot_identifier: "p03".into(),
    };
    assert_eq!(
        code(
            snapshots::delete(&env.rds, &other, del.clone())
                .await
                .unwrap_err()
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    assert_eq!(
        snapshots::delete(&env.rds, &ctx, del)
            .await
            .unwrap()
            .db_cluster_snapshot
            .unwrap()
            .status
            .as_deref(),
        Some("deleted")
    );
}

/// The caller's automated cluster snapshots: (identifier, type, status).
async fn automated(env: &Env) -> Vec<(String, String, String)> {
    let m = rds::DescribeDBClusterSnapshotsMessage {
        snapshot_type: Some("automated".into()),
        ..Default::default()
    };
    let out = snapshots::describe(&env.rds, &env.ctx(), m)
        .await
        .unwrap()
        .db_cluster_snapshots
        .unwrap();
    out.into_iter()
        .map(|s| {
            (
                s.db_cluster_snapshot_identifier.unwrap(),
                s.snapshot_type.unwrap(),
                s.status.unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn automated_cluster_backups_are_daily_and_expire_after_the_retention_period() {
    let env = Env::new();
    let ctx = env.ctx();
    env.cluster("daily", None, None).await.unwrap();
    let t0 = env.clock.now();
    env.settle().await;
    let first = crate::model::automated_snapshot_id("daily", t0);
    assert_eq!(
        automated(&env).await,
        vec![(
            first.clone(),
            "automated".to_owned(),
            "available".to_owned()
        )]
    );
    // Not due again before a day has passed (the worker at an injected time).
    assert_eq!(
        super::workers::step(env.rds.meta.as_ref(), t0 + chrono::Duration::hours(23)).unwrap(),
        0
    );

    // Only manual snapshots may be deleted; a copy of an automated one is manual.
    let del = snapshots::delete(
        &env.rds,
        &ctx,
        rds::DeleteDBClusterSnapshotMessage {
            db_cluster_snapshot_identifier: first.clone(),
        },
    )
    .await
    .unwrap_err();
    let wire = to_aws(del);
    assert_eq!(
        (wire.code.as_ref(), wire.message.as_str()),
        (
            "InvalidDBClusterSnapshotStateFault",
            "Only manual snapshots may be deleted."
        )
    );
    let copy = rds::CopyDBClusterSnapshotMessage {
        source_db_cluster_snapshot_identifier: first.clone(),
        target_db_cluster_snapshot_identifier: "kept".into(),
        ..Default::default()
    };
    let copied = snapshots::copy(&env.rds, &ctx, copy)
        .await
        .unwrap()
        .db_cluster_snapshot
        .unwrap();
    assert_eq!(copied.snapshot_type.as_deref(), Some("manual"));
    env.settle().await;

    // A day later: a new one, and the first has outlived the 1-day retention.
    env.clock.advance(chrono::Duration::days(1));
    let t1 = env.clock.now();
    env.settle().await;
    assert_eq!(
        automated(&env)
            .await
            .into_iter()
            .map(|s| s.0)
            .collect::<Vec<_>>(),
        vec![crate::model::automated_snapshot_id("daily", t1)]
    );

    // A stopped cluster gets none.
    ops::stop(
        &env.rds,
        &ctx,
        rds::StopDBClusterMessage {
            db_cluster_identifier: "daily".into(),
        },
    )
    .await
    .unwrap();
    env.settle().await;
    env.clock.advance(chrono::Duration::days(2));
    env.settle().await;
    assert_eq!(automated(&env).await, vec![]);
    env.start("daily").await.unwrap();
    let t3 = env.clock.now();
    env.settle().await;
    assert_eq!(
        automated(&env)
            .await
            .into_iter()
            .map(|s| s.0)
            .collect::<Vec<_>>(),
        vec![crate::model::automated_snapshot_id("daily", t3)]
    );

    // Deleting the cluster deletes its automated snapshots, not the manual copy.
    ops::delete(
        &env.rds,
        &env.ctx(),
        rds::DeleteDBClusterMessage {
            db_cluster_identifier: "daily".into(),
            skip_final_snapshot: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(automated(&env).await, vec![]);
    let all = snapshots::describe(
        &env.rds,
        &env.ctx(),
        rds::DescribeDBClusterSnapshotsMessage::default(),
    )
    .await
    .unwrap()
    .db_cluster_snapshots
    .unwrap();
    assert_eq!(
        all.iter()
            .map(|s| s.db_cluster_snapshot_identifier.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["kept".to_owned()]
    );
}

/// An instance record written before version 3 has no `cluster`: it is read with the cluster
/// whose member list names it, and membership then follows the record (rename, filter, delete).
#[tokio::test]
async fn an_instance_record_before_version_3_takes_its_cluster_from_the_member_lists() {
    let env = Env::new();
    env.cluster("old", Some(false), None).await.unwrap();
    env.instance("old-1", "old").await.unwrap();
    env.settle().await;
    let ctx = env.ctx();
    let rec = env.instance_record(&ctx, "old-1");
    assert_eq!(rec.cluster.as_deref(), Some("old"));

    // Rewrite it as today's main wrote it: version 2, no `cluster` field.
    let mut v2 = serde_json::to_value(&rec).unwrap();
    v2.as_object_mut().unwrap().remove("cluster");
    let mut txn = env.rds.meta.write().unwrap();
    txn.put(
        crate::store::T_INSTANCES,
        &crate::store::scoped(rec.account, rec.region, &rec.identifier),
        &kmsnap_store::encode_record(2, &v2).unwrap(),
    )
    .unwrap();
    txn.commit().unwrap();
    let raw = env.rds.meta.read().unwrap();
    let stored = raw
        .get(
            crate::store::T_INSTANCES,
            &crate::store::scoped(rec.account, rec.region, &rec.identifier),
        )
        .unwrap()
        .unwrap();
    // Still the version-2 bytes, without `cluster`: the upgrade happens on read.
    let (version, payload) = kmsnap_store::split_record(&stored.value).unwrap();
    let plain: serde_json::Value = serde_json::from_slice(payload).unwrap();
    drop(raw);
    assert_eq!((version, plain.get("cluster")), (2, None));
    assert_eq!(env.instance_record(&ctx, "old-1"), rec, "upgraded on read");

    // A renamed member stays its cluster's, and the cluster filter finds it under the new name.
    crate::ops::instances::modify(
        &env.rds,
        &ctx,
        rds::ModifyDBInstanceMessage {
            db_instance_identifier: "old-1".into(),
            new_db_instance_identifier: Some("old-2".into()),
            apply_immediately: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(env.record("old").members, vec!["old-2".to_owned()]);
    assert_eq!(
        env.instance_record(&ctx, "old-2").cluster.as_deref(),
        Some("old")
    );
    let listed = crate::ops::instances::describe(
        &env.rds,
        &ctx,
        rds::DescribeDBInstancesMessage {
            filters: Some(vec![rds::Filter {
                name: "db-cluster-id".into(),
                values: vec![env.record("old").arn()],
            }]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let names: Vec<_> = listed
        .db_instances
        .unwrap()
        .into_iter()
        .map(|i| (i.db_instance_identifier, i.db_cluster_identifier))
        .collect();
    assert_eq!(names, vec![(Some("old-2".into()), Some("old".into()))]);

    // Deleting it takes it out of the member list.
    let gone = crate::ops::instances::delete(
        &env.rds,
        &ctx,
        rds::DeleteDBInstanceMessage {
            db_instance_identifier: "old-2".into(),
            skip_final_snapshot: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(gone.db_instance.unwrap().db_cluster_identifier.is_some());
    assert!(env.record("old").members.is_empty());
}
