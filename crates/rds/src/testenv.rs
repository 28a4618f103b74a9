//! The in-process world the RDS unit tests ([`crate::ops`]' and [`crate::cluster`]'s) share:
//! memory stores, a real KMS and the EBS block store on a manual clock, request contexts of an
//! account's root principal, the worker loop, and the instance helpers both modules use. Each
//! test module wraps it with its own account, region and helpers.

use crate::model::{DbInstanceRecord, DbSnapshotRecord, SnapshotStatus};
use crate::{store, Rds, RdsError};
use chrono::{DateTime, Utc};
use kmsnap_api::gen::rds;
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock, ManualClock, Region, RootKey};
use kmsnap_snapshots::managed::{self, StorageKey, VolumeId};
use kmsnap_snapshots::Snapshots;
use kmsnap_store::MetaStore;
use std::sync::Arc;

/// Declares a test module's `Env`: the shared [`TestEnv`] (KMS root key of 32 bytes of
/// `$root`) as account `$account` in `$region` sees it, its requests carrying user agent
/// `$agent`. The module adds its own helpers in an `impl Env` block.
macro_rules! module_env {
    ($root:expr, $account:expr, $region:expr, $agent:expr) => {
        struct Env($crate::testenv::TestEnv);

        impl std::ops::Deref for Env {
            type Target = $crate::testenv::TestEnv;
            fn deref(&self) -> &$crate::testenv::TestEnv {
                &self.0
            }
        }

        impl Env {
            fn new() -> Self {
                Env($crate::testenv::TestEnv::new($root))
            }

            /// A request of `account`'s root principal in this module's region.
            #[allow(dead_code)]
            fn ctx_of(&self, account: &str) -> kmsnap_auth::RequestContext {
                self.ctx_as(account, $region, $agent)
            }

            /// A request of this module's account.
            fn ctx(&self) -> kmsnap_auth::RequestContext {
                self.ctx_as($account, $region, $agent)
            }
        }
    };
}
pub(crate) use module_env;

pub(crate) struct TestEnv {
    pub rds: Rds,
    pub ebs: Arc<Snapshots>,
    pub clock: Arc<ManualClock>,
}

impl TestEnv {
    /// A fresh world whose KMS root key is 32 bytes of `root_key_byte`.
    pub fn new(root_key_byte: u8) -> Self {
        let (meta, blobs) = kmsnap_store::open_memory();
        let clock = Arc::new(ManualClock::default());
        let kms = Arc::new(
            kmsnap_kms::Kms::new(
                meta.clone(),
                &RootKey::from_bytes([root_key_byte; 32]),
                clock.clone(),
            )
            .unwrap(),
        );
        let ebs = Arc::new(Snapshots::new(
            meta.clone(),
            blobs,
            kms.clone(),
            clock.clone(),
        ));
        TestEnv {
            rds: Rds::new(meta, kms, ebs.clone()),
            ebs,
            clock,
        }
    }

    /// A request of `account`'s root principal in `region`, now on the manual clock.
    pub fn ctx_as(&self, account: &str, region: &str, user_agent: &str) -> RequestContext {
        RequestContext {
            principal: Principal::root(AccountId::parse(account).unwrap(), account),
            region: Region::parse(region).unwrap(),
            request_id: kmsnap_core::ids::request_id(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: user_agent.into(),
            now: self.clock.now(),
            via_service: None,
        }
    }

    /// Runs the EBS jobs and `step` (the RDS workers a test module drives, at the manual
    /// clock's time; it answers how many records changed) until nothing moves.
    pub async fn settle_with(&self, step: impl Fn(&dyn MetaStore, DateTime<Utc>) -> usize) {
        for _ in 0..50 {
            let more = kmsnap_snapshots::workers::run_once(&self.ebs)
                .await
                .unwrap();
            let changed = step(self.rds.meta.as_ref(), self.clock.now());
            if !more && changed == 0 {
                return;
            }
        }
        panic!("workers did not settle");
    }

    /// CreateDBInstance of a 20 GiB postgres instance `id` as `ctx`, with `StorageEncrypted`
    /// and `KmsKeyId` as given.
    pub async fn create_instance(
        &self,
        ctx: &RequestContext,
        id: &str,
        encrypted: Option<bool>,
        key: Option<&str>,
    ) -> Result<rds::DBInstance, RdsError> {
        let input = rds::CreateDBInstanceMessage {
            db_instance_identifier: id.into(),
            engine: "postgres".into(),
            db_instance_class: "db.t3.micro".into(),
            allocated_storage: Some(20),
            master_username: Some("postgres".into()),
            storage_encrypted: encrypted,
            kms_key_id: key.map(str::to_owned),
            ..Default::default()
        };
        Ok(crate::ops::instances::create(&self.rds, ctx, input)
            .await?
            .db_instance
            .unwrap())
    }

    /// The stored record of instance `id` of `ctx`'s account and region.
    pub fn instance_record(&self, ctx: &RequestContext, id: &str) -> DbInstanceRecord {
        store::get_instance(
            self.rds.meta.read().unwrap().as_ref(),
            ctx.principal.account,
            ctx.region,
            id,
        )
        .unwrap()
        .unwrap()
    }

    /// The key (lineage, KMS key, key use) of volume `vol` of `ctx`'s account and region.
    pub fn volume_lineage(&self, ctx: &RequestContext, vol: &VolumeId) -> StorageKey {
        let txn = self.rds.meta.read().unwrap();
        managed::volume_key(txn.as_ref(), ctx.principal.account, ctx.region, vol)
            .unwrap()
            .unwrap()
    }
}

/// An available DB snapshot `s` of `account` in us-east-1 (`kind`: `manual` or `automated`)
/// for tests that only look at its fields.
pub(crate) fn snapshot_record(account: &str, kind: &str) -> DbSnapshotRecord {
    let now = chrono::Utc::now();
    DbSnapshotRecord {
        identifier: "s".into(),
        account: AccountId::parse(account).unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        snapshot_type: kind.into(),
        status: SnapshotStatus::Available,
        percent_progress: 100,
        instance_identifier: "db".into(),
        dbi_resource_id: "db-X".into(),
        engine: "postgres".into(),
        engine_version: "16.3".into(),
        allocated_storage: 20,
        port: 5432,
        master_username: None,
        availability_zone: "us-east-1a".into(),
        instance_created: now,
        encrypted: false,
        kms_key_arn: None,
        source_snapshot: None,
        tags: vec![],
        ebs_snapshot_id: "snap-1".parse().unwrap(),
        created: now,
        shared_with: vec![],
        public: false,
        source_region: None,
    }
}

/// An available postgres instance record `db` of 111122223333 in us-east-1, for tests that
/// only look at its fields.
pub(crate) fn instance_record() -> DbInstanceRecord {
    let now = chrono::Utc::now();
    DbInstanceRecord {
        identifier: "db".into(),
        account: AccountId::parse("111122223333").unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        dbi_resource_id: "db-X".into(),
        status: crate::model::InstanceStatus::Available,
        engine: "postgres".into(),
        engine_version: "16.3".into(),
        instance_class: "db.t3.micro".into(),
        allocated_storage: 20,
        storage_encrypted: false,
        kms_key_arn: None,
        backup_retention_period: 1,
        master_username: None,
        db_name: None,
        port: 5432,
        availability_zone: "us-east-1a".into(),
        tags: vec![],
        volume_id: "vol-1".parse().unwrap(),
        created: now,
        copy_tags_to_snapshot: false,
        deletion_protection: false,
        last_automated_backup: None,
        status_since: None,
        cluster: None,
    }
}
