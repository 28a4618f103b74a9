//! Unit tests of the vault operations over memory stores and a real KMS on a manual clock.

use crate::error::{to_wire, BackupError};
use crate::Backup;
use chrono::Duration;
use kmsnap_api::gen::backup::*;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock, ManualClock, Region, RootKey};
use std::sync::Arc;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "ap-northeast-1";

struct Env {
    backup: Backup,
    snapshots: Arc<kmsnap_snapshots::Snapshots>,
    clock: Arc<ManualClock>,
}

impl Env {
    fn new() -> Self {
        let (meta, blobs) = kmsnap_store::open_memory();
        let clock = Arc::new(ManualClock::default());
        let kms = Arc::new(
            kmsnap_kms::Kms::new(meta.clone(), &RootKey::from_bytes([3; 32]), clock.clone())
                .unwrap(),
        );
        let snapshots = Arc::new(kmsnap_snapshots::Snapshots::new(
            meta.clone(),
            blobs,
            kms.clone(),
            clock.clone(),
        ));
        Env {
            backup: Backup::new(meta, kms, snapshots.clone()),
            snapshots,
            clock,
        }
    }

    fn ctx_in(&self, account: &str, region: &str) -> RequestContext {
        RequestContext {
            principal: Principal::root(AccountId::parse(account).unwrap(), account),
            region: Region::parse(region).unwrap(),
            request_id: kmsnap_core::ids::request_id(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: "test".into(),
            now: self.clock.now(),
            via_service: None,
        }
    }

    fn ctx(&self) -> RequestContext {
        self.ctx_in(ACCOUNT, REGION)
    }

    async fn customer_key(&self, region: &str) -> String {
        self.backup
            .kms
            .create_key(
                &self.ctx_in(ACCOUNT, region),
                kmsapi::CreateKeyRequest::default(),
            )
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap()
    }

    async fn create(
        &self,
        name: &str,
        key: Option<String>,
    ) -> Result<CreateBackupVaultOutput, BackupError> {
        crate::ops::vaults::create(
            &self.backup,
            &self.ctx(),
            CreateBackupVaultInput {
                backup_vault_name: name.into(),
                encryption_key_arn: key,
                ..Default::default()
            },
        )
        .await
    }

    async fn list_page(
        &self,
        token: Option<String>,
    ) -> Result<ListBackupVaultsOutput, BackupError> {
        let input = ListBackupVaultsInput {
            max_results: Some(2),
            next_token: token,
            ..Default::default()
        };
        crate::ops::vaults::list(&self.backup, &self.ctx(), input).await
    }

    async fn get_policy(&self) -> Result<GetBackupVaultAccessPolicyOutput, BackupError> {
        let input = GetBackupVaultAccessPolicyInput {
            backup_vault_name: "pol".into(),
        };
        crate::ops::policy::get_access_policy(&self.backup, &self.ctx(), input).await
    }

    async fn put_policy(&self, p: &str) -> Result<(), BackupError> {
        let input = PutBackupVaultAccessPolicyInput {
            backup_vault_name: "pol".into(),
            policy: Some(p.into()),
        };
        crate::ops::policy::put_access_policy(&self.backup, &self.ctx(), input).await
    }

    async fn put_lock(
        &self,
        name: &str,
        min: Option<i64>,
        max: Option<i64>,
        days: Option<i64>,
    ) -> Result<(), BackupError> {
        let input = PutBackupVaultLockConfigurationInput {
            backup_vault_name: name.into(),
            min_retention_days: min,
            max_retention_days: max,
            changeable_for_days: days,
        };
        crate::ops::policy::put_lock(&self.backup, &self.ctx(), input).await
    }

    async fn delete_lock(&self, name: &str) -> Result<(), BackupError> {
        let input = DeleteBackupVaultLockConfigurationInput {
            backup_vault_name: name.into(),
        };
        crate::ops::policy::delete_lock(&self.backup, &self.ctx(), input).await
    }

    async fn tag(&self, arn: &str, k: &str, v: &str) -> Result<(), BackupError> {
        let input = TagResourceInput {
            resource_arn: arn.into(),
            tags: [(k.to_owned(), v.to_owned())].into_iter().collect(),
        };
        crate::ops::vaults::tag(&self.backup, &self.ctx(), input).await
    }

    async fn list_tags(&self, arn: &str) -> Result<ListTagsOutput, BackupError> {
        let input = ListTagsInput {
            resource_arn: arn.into(),
            ..Default::default()
        };
        crate::ops::vaults::list_tags(&self.backup, &self.ctx(), input).await
    }

    async fn describe(&self, name: &str) -> Result<DescribeBackupVaultOutput, BackupError> {
        crate::ops::vaults::describe(
            &self.backup,
            &self.ctx(),
            DescribeBackupVaultInput {
                backup_vault_name: name.into(),
                ..Default::default()
            },
        )
        .await
    }
}

#[tokio::test]
async fn a_vault_without_a_key_gets_the_aws_managed_backup_key() {
    let env = Env::new();
    let out = env.create("vault-1", None).await.unwrap();
    assert_eq!(
        out.backup_vault_arn.as_deref(),
        Some("arn:aws:backup:ap-northeast-1:111111111111:backup-vault:vault-1")
    );
    let d = env.describe("vault-1").await.unwrap();
    let key = d.encryption_key_arn.unwrap();
    let meta = env
        .backup
        .kms
        .describe_key(
            &env.ctx(),
            kmsapi::DescribeKeyRequest {
                key_id: "alias/aws/backup".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(Some(key), meta.arn);
    assert_eq!(d.encryption_key_type, None);
    assert_eq!(d.number_of_recovery_points, Some(0));
    assert_eq!(d.locked, Some(false));
}

#[tokio::test]
async fn a_customer_key_must_be_a_key_arn_of_the_vaults_region() {
    let env = Env::new();
    let here = env.customer_key(REGION).await;
    let d = {
        env.create("v-customer", Some(here.clone())).await.unwrap();
        env.describe("v-customer").await.unwrap()
    };
    assert_eq!(d.encryption_key_arn, Some(here.clone()));
    assert_eq!(
        d.encryption_key_type,
        Some(EncryptionKeyType::CustomerManagedKmsKey)
    );
    let elsewhere = env.customer_key("us-west-2").await;
    for bad in [
        elsewhere,
        "alias/aws/backup".to_owned(),
        here.rsplit_once('/').unwrap().1.to_owned(),
        here.replace("key/", "key/0000"),
    ] {
        let e = env.create("v-bad", Some(bad.clone())).await.unwrap_err();
        assert!(
            matches!(e, BackupError::InvalidParameterValue(_)),
            "{bad}: {e:?}"
        );
    }
    assert!(env.describe("v-bad").await.is_err());
}

#[tokio::test]
async fn names_are_checked_and_unique_per_account_and_region() {
    let env = Env::new();
    for bad in ["a", "has space", "x".repeat(51).as_str(), "dot.ted"] {
        let e = env.create(bad, None).await.unwrap_err();
        assert!(matches!(e, BackupError::InvalidParameterValue(_)), "{bad}");
    }
    env.create("Vault_2-b", None).await.unwrap();
    let e = env.create("Vault_2-b", None).await.unwrap_err();
    let wire = to_wire(e);
    assert_eq!(wire.code, "AlreadyExistsException");
    assert_eq!(wire.status, 400);
    // The same name in another region is another vault.
    crate::ops::vaults::create(
        &env.backup,
        &env.ctx_in(ACCOUNT, "us-west-2"),
        CreateBackupVaultInput {
            backup_vault_name: "Vault_2-b".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_retry_with_the_same_creator_request_id_answers_the_same_vault() {
    let env = Env::new();
    let input = CreateBackupVaultInput {
        backup_vault_name: "retried".into(),
        creator_request_id: Some("req-1".into()),
        ..Default::default()
    };
    let a = crate::ops::vaults::create(&env.backup, &env.ctx(), input.clone())
        .await
        .unwrap();
    env.clock.advance(Duration::seconds(5));
    let b = crate::ops::vaults::create(&env.backup, &env.ctx(), input)
        .await
        .unwrap();
    assert_eq!(a.creation_date, b.creation_date);
    let other = CreateBackupVaultInput {
        backup_vault_name: "retried".into(),
        creator_request_id: Some("req-2".into()),
        ..Default::default()
    };
    assert!(matches!(
        crate::ops::vaults::create(&env.backup, &env.ctx(), other).await,
        Err(BackupError::VaultAlreadyExists { .. })
    ));
}

#[tokio::test]
async fn a_missing_vault_is_access_denied_as_on_aws() {
    let env = Env::new();
    let wire = to_wire(env.describe("nope").await.unwrap_err());
    assert_eq!(
        (wire.code.as_ref(), wire.status),
        ("AccessDeniedException", 403)
    );
    assert_eq!(
        wire.message,
        "Insufficient privileges to perform this action."
    );
    let del = crate::ops::vaults::delete(
        &env.backup,
        &env.ctx(),
        DeleteBackupVaultInput {
            backup_vault_name: "nope".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(del, BackupError::VaultNotVisible { .. }));
}

#[tokio::test]
async fn list_pages_in_name_order_and_delete_removes() {
    let env = Env::new();
    for n in ["c-vault", "a-vault", "b-vault"] {
        env.create(n, None).await.unwrap();
    }
    let first = env.list_page(None).await.unwrap();
    let names: Vec<_> = first
        .backup_vault_list
        .unwrap()
        .into_iter()
        .map(|v| v.backup_vault_name.unwrap())
        .collect();
    assert_eq!(names, ["a-vault", "b-vault"]);
    let second = env.list_page(first.next_token).await.unwrap();
    assert_eq!(second.backup_vault_list.unwrap().len(), 1);
    assert_eq!(second.next_token, None);
    crate::ops::vaults::delete(
        &env.backup,
        &env.ctx(),
        DeleteBackupVaultInput {
            backup_vault_name: "b-vault".into(),
        },
    )
    .await
    .unwrap();
    assert!(env.describe("b-vault").await.is_err());
}

#[tokio::test]
async fn access_policy_put_get_delete() {
    let env = Env::new();
    env.create("pol", None).await.unwrap();
    assert!(matches!(
        env.get_policy().await,
        Err(BackupError::ResourceNotFound(_))
    ));
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"backup:DeleteRecoveryPoint","Resource":"*"}]}"#;
    assert!(matches!(
        env.put_policy("not json").await,
        Err(BackupError::InvalidParameterValue(_))
    ));
    env.put_policy(policy).await.unwrap();
    assert_eq!(
        env.get_policy().await.unwrap().policy.as_deref(),
        Some(policy)
    );
    crate::ops::policy::delete_access_policy(
        &env.backup,
        &env.ctx(),
        DeleteBackupVaultAccessPolicyInput {
            backup_vault_name: "pol".into(),
        },
    )
    .await
    .unwrap();
    assert!(env.get_policy().await.is_err());
}

#[tokio::test]
async fn a_compliance_lock_becomes_immutable_after_its_grace_time() {
    let env = Env::new();
    env.create("locked", None).await.unwrap();
    for (min, max, days) in [
        (Some(0), None, None),
        (Some(10), Some(5), None),
        (None, None, Some(2)),
    ] {
        assert!(matches!(
            env.put_lock("locked", min, max, days).await,
            Err(BackupError::InvalidParameterValue(_))
        ));
    }
    let before = env.clock.now();
    env.put_lock("locked", Some(7), Some(30), Some(3))
        .await
        .unwrap();
    let after = env.clock.now();
    let d = env.describe("locked").await.unwrap();
    assert_eq!(
        (d.locked, d.min_retention_days, d.max_retention_days),
        (Some(true), Some(7), Some(30))
    );
    let lock_date = d.lock_date.unwrap().0;
    assert!(before + Duration::days(3) <= lock_date && lock_date <= after + Duration::days(3));
    // Within the grace time the lock may still change.
    env.put_lock("locked", Some(1), Some(30), Some(3))
        .await
        .unwrap();
    env.clock.advance(Duration::days(4));
    let e = env
        .put_lock("locked", Some(1), Some(60), None)
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::InvalidRequest { code: None, .. }));
    assert!(matches!(
        env.delete_lock("locked").await,
        Err(BackupError::InvalidRequest { .. })
    ));
}

#[tokio::test]
async fn a_governance_lock_stays_removable() {
    let env = Env::new();
    env.create("gov", None).await.unwrap();
    crate::ops::policy::put_lock(
        &env.backup,
        &env.ctx(),
        PutBackupVaultLockConfigurationInput {
            backup_vault_name: "gov".into(),
            min_retention_days: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.clock.advance(Duration::days(400));
    crate::ops::policy::delete_lock(
        &env.backup,
        &env.ctx(),
        DeleteBackupVaultLockConfigurationInput {
            backup_vault_name: "gov".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(env.describe("gov").await.unwrap().locked, Some(false));
}

#[tokio::test]
async fn vault_tags_round_trip_and_refuse_reserved_keys() {
    let env = Env::new();
    env.create("tagged", None).await.unwrap();
    let arn = "arn:aws:backup:ap-northeast-1:111111111111:backup-vault:tagged".to_owned();
    env.tag(&arn, "team", "a").await.unwrap();
    env.tag(&arn, "team", "b").await.unwrap();
    env.tag(&arn, "env", "dev").await.unwrap();
    assert!(matches!(
        env.tag(&arn, "aws:x", "y").await,
        Err(BackupError::InvalidParameterValue(_))
    ));
    let tags = env.list_tags(&arn).await.unwrap().tags.unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("b"));
    assert_eq!(tags.len(), 2);
    crate::ops::vaults::untag(
        &env.backup,
        &env.ctx(),
        UntagResourceInput {
            resource_arn: arn.clone(),
            tag_key_list: vec!["team".into()],
        },
    )
    .await
    .unwrap();
    assert_eq!(env.list_tags(&arn).await.unwrap().tags.unwrap().len(), 1);
    let missing = crate::ops::vaults::list_tags(
        &env.backup,
        &env.ctx(),
        ListTagsInput {
            resource_arn: arn.replace("tagged", "other"),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(missing, Err(BackupError::ResourceNotFound(_))));
}

#[test]
fn a_stored_vault_of_an_unknown_version_is_not_misread() {
    let bytes = kmsnap_store::encode_record(99, &serde_json::json!({"name": "x"})).unwrap();
    let (meta, _) = kmsnap_store::open_memory();
    let mut txn = meta.write().unwrap();
    txn.put(
        crate::store::T_VAULTS,
        b"111111111111/ap-northeast-1/x",
        &bytes,
    )
    .unwrap();
    txn.commit().unwrap();
    let got = crate::store::get_vault(
        meta.read().unwrap().as_ref(),
        AccountId::parse(ACCOUNT).unwrap(),
        Region::parse(REGION).unwrap(),
        "x",
    );
    assert!(matches!(got, Err(BackupError::Internal(_))));
}

// --- backup jobs and recovery points (docs/backup.md §8–§9) ----------------------------------

const ROLE: &str = "arn:aws:iam::111111111111:role/backup";

impl Env {
    async fn volume(&self) -> String {
        use kmsnap_api::gen::ec2::{self as ec2api, Ec2Handler};
        self.snapshots
            .create_volume(
                &self.ctx(),
                ec2api::CreateVolumeRequest {
                    availability_zone: Some(format!("{REGION}a")),
                    size: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .volume_id
            .unwrap()
    }

    async fn start(
        &self,
        vault: &str,
        volume: &str,
        delete_after: Option<i64>,
    ) -> Result<StartBackupJobOutput, BackupError> {
        crate::ops::jobs::start(
            &self.backup,
            &self.ctx(),
            StartBackupJobInput {
                backup_vault_name: vault.into(),
                resource_arn: format!("arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"),
                iam_role_arn: ROLE.into(),
                lifecycle: delete_after.map(|d| Lifecycle {
                    delete_after_days: Some(d),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
    }

    async fn job(&self, id: &str) -> DescribeBackupJobOutput {
        crate::ops::jobs::describe(
            &self.backup,
            &self.ctx(),
            DescribeBackupJobInput {
                backup_job_id: id.into(),
            },
        )
        .await
        .unwrap()
    }

    async fn points(&self, vault: &str) -> i64 {
        let d = self.describe(vault).await.unwrap();
        d.number_of_recovery_points.unwrap()
    }

    async fn stop(&self, id: &str) -> Result<(), BackupError> {
        crate::ops::jobs::stop(
            &self.backup,
            &self.ctx(),
            StopBackupJobInput {
                backup_job_id: id.into(),
            },
        )
        .await
    }

    /// Runs the snapshot seal jobs to their end, then one Backup worker step.
    async fn settle(&self) {
        while kmsnap_snapshots::workers::run_once(&self.snapshots)
            .await
            .unwrap()
        {}
        crate::workers::step(self.backup.meta.as_ref(), self.clock.now()).unwrap();
    }
}

#[tokio::test]
async fn a_job_completes_with_its_snapshot_and_its_point_counts_in_the_vault() {
    let env = Env::new();
    env.create("jobs", None).await.unwrap();
    let vol = env.volume().await;
    let out = env.start("jobs", &vol, None).await.unwrap();
    let id = out.backup_job_id.unwrap();
    assert_eq!(env.job(&id).await.state, Some(BackupJobState::Created));
    env.settle().await;
    let j = env.job(&id).await;
    assert_eq!(j.state, Some(BackupJobState::Completed));
    assert_eq!(j.percent_done.as_deref(), Some("100.0"));
    assert_eq!(j.backup_size_in_bytes, Some(1 << 30));
    assert_eq!(j.is_encrypted, Some(false));
    assert_eq!(env.points("jobs").await, 1);
    let del = crate::ops::vaults::delete(
        &env.backup,
        &env.ctx(),
        DeleteBackupVaultInput {
            backup_vault_name: "jobs".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(
        del,
        BackupError::InvalidRequest {
            code: Some("ERROR_9101"),
            ..
        }
    ));
    // Stopping a finished job is refused.
    assert!(matches!(
        env.stop(&id).await,
        Err(BackupError::InvalidRequest { .. })
    ));
}

#[tokio::test]
async fn a_stopped_job_is_aborted_and_leaves_nothing() {
    let env = Env::new();
    env.create("stops", None).await.unwrap();
    let vol = env.volume().await;
    let out = env.start("stops", &vol, None).await.unwrap();
    let id = out.backup_job_id.unwrap();
    env.stop(&id).await.unwrap();
    env.settle().await;
    assert_eq!(env.job(&id).await.state, Some(BackupJobState::Aborted));
    assert_eq!(env.points("stops").await, 0);
}

#[tokio::test]
async fn lifecycle_expiry_and_lock_retention() {
    let env = Env::new();
    env.create("life", None).await.unwrap();
    let vol = env.volume().await;
    env.put_lock("life", Some(2), Some(10), None).await.unwrap();
    for bad in [None, Some(1), Some(11)] {
        assert!(matches!(
            env.start("life", &vol, bad).await,
            Err(BackupError::InvalidParameterValue(_))
        ));
    }
    let rp = env
        .start("life", &vol, Some(3))
        .await
        .unwrap()
        .recovery_point_arn
        .unwrap();
    env.settle().await;
    let update = |days: i64| UpdateRecoveryPointLifecycleInput {
        backup_vault_name: "life".into(),
        recovery_point_arn: rp.clone(),
        lifecycle: Some(Lifecycle {
            delete_after_days: Some(days),
            ..Default::default()
        }),
    };
    let refused = crate::ops::points::update_lifecycle(&env.backup, &env.ctx(), update(20)).await;
    assert!(matches!(
        refused,
        Err(BackupError::InvalidParameterValue(_))
    ));
    let out = crate::ops::points::update_lifecycle(&env.backup, &env.ctx(), update(5))
        .await
        .unwrap();
    assert_eq!(out.lifecycle.unwrap().delete_after_days, Some(5));
    assert_eq!(env.points("life").await, 1);
    env.clock.advance(Duration::days(4));
    env.settle().await;
    assert_eq!(env.points("life").await, 1);
    env.clock.advance(Duration::days(2));
    env.settle().await;
    assert_eq!(env.points("life").await, 0);
}

#[tokio::test]
async fn resources_other_than_own_ebs_volumes() {
    let env = Env::new();
    env.create("res", None).await.unwrap();
    let ctx = env.ctx();
    let parse = |a: &str| crate::ops::jobs::parse_resource(&ctx, a);
    assert!(matches!(
        parse("arn:aws:rds:ap-northeast-1:111111111111:db:x"),
        Err(BackupError::NotImplemented { .. })
    ));
    assert!(matches!(
        parse("arn:aws:ec2:ap-northeast-1:222222222222:volume/vol-1"),
        Err(BackupError::ResourceNotFound(_))
    ));
    assert!(matches!(
        parse("arn:aws:ec2:ap-northeast-1::snapshot/snap-1"),
        Err(BackupError::InvalidParameterValue(_))
    ));
    assert!(matches!(
        env.start("res", "vol-0123456789abcdef0", None).await,
        Err(BackupError::ResourceNotFound(_))
    ));
    assert_eq!(
        to_wire(BackupError::NotImplemented {
            operation: "StartBackupJob"
        })
        .status,
        501
    );
}

#[test]
fn lifecycle_rules() {
    use crate::ops::jobs::lifecycle;
    let l = |cold, del| Lifecycle {
        move_to_cold_storage_after_days: cold,
        delete_after_days: del,
        ..Default::default()
    };
    assert!(lifecycle(Some(&l(Some(10), Some(100)))).is_ok());
    assert!(lifecycle(Some(&l(Some(10), Some(99)))).is_err());
    assert!(lifecycle(Some(&l(None, Some(0)))).is_err());
    assert!(lifecycle(None).is_ok());
}

/// The version-1 shapes of job and recovery point records, as written by the first release
/// with backup jobs: they must keep decoding.
#[test]
fn stored_version_1_jobs_and_points_decode() {
    let job = serde_json::json!({
        "id": "D48D8717-0C9D-72DF-1F56-14E703BF2345", "account": ACCOUNT, "region": REGION,
        "vault_name": "v1", "vault_arn": "arn:aws:backup:ap-northeast-1:111111111111:backup-vault:v1",
        "resource_arn": "arn:aws:ec2:ap-northeast-1:111111111111:volume/vol-1",
        "volume_id": "vol-1", "snapshot_id": "snap-1",
        "recovery_point_arn": "arn:aws:ec2:ap-northeast-1::snapshot/snap-1",
        "iam_role_arn": ROLE, "idempotency_token": null, "state": "Running",
        "status_message": null, "percent_done": 40, "size_bytes": 0, "kms_key_arn": null,
        "lifecycle": {"move_to_cold_storage_after_days": null, "delete_after_days": 7},
        "created": "2026-01-01T00:00:00Z", "completed": null, "start_by": "2026-01-01T08:00:00Z"
    });
    let point = serde_json::json!({
        "account": ACCOUNT, "region": REGION, "vault_name": "v1", "snapshot_id": "snap-1",
        "job_id": "D48D8717-0C9D-72DF-1F56-14E703BF2345",
        "resource_arn": "arn:aws:ec2:ap-northeast-1:111111111111:volume/vol-1",
        "iam_role_arn": ROLE, "status": "Creating", "kms_key_arn": null, "size_bytes": 0,
        "lifecycle": {"move_to_cold_storage_after_days": null, "delete_after_days": 7},
        "created": "2026-01-01T00:00:00Z", "completed": null
    });
    let (meta, _) = kmsnap_store::open_memory();
    let mut txn = meta.write().unwrap();
    let jk = format!("{ACCOUNT}/{REGION}/D48D8717-0C9D-72DF-1F56-14E703BF2345");
    let job_bytes = kmsnap_store::encode_record(1, &job).unwrap();
    txn.put(crate::store::T_JOBS, jk.as_bytes(), &job_bytes)
        .unwrap();
    txn.put(crate::store::T_ACTIVE, jk.as_bytes(), b"").unwrap();
    let pk = format!("{ACCOUNT}/{REGION}/v1/snap-1");
    let point_bytes = kmsnap_store::encode_record(1, &point).unwrap();
    txn.put(crate::store::T_POINTS, pk.as_bytes(), &point_bytes)
        .unwrap();
    txn.commit().unwrap();
    let read = meta.read().unwrap();
    let jobs = crate::store::active_jobs(read.as_ref()).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, crate::model::JobState::Running);
    assert_eq!(jobs[0].lifecycle.delete_after_days, Some(7));
    let p = crate::store::get_point(
        read.as_ref(),
        AccountId::parse(ACCOUNT).unwrap(),
        Region::parse(REGION).unwrap(),
        "v1",
        "snap-1",
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.arn(), "arn:aws:ec2:ap-northeast-1::snapshot/snap-1");
}
