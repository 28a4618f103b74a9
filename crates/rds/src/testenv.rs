//! The in-process world the RDS unit tests ([`crate::ops`]' and [`crate::cluster`]'s) share:
//! memory stores, a real KMS and the EBS block store on a manual clock, and request contexts of
//! an account's root principal. Each test module wraps it with its own account, region and
//! helpers.

use crate::model::{DbSnapshotRecord, SnapshotStatus};
use crate::Rds;
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock, ManualClock, Region, RootKey};
use kmsnap_snapshots::Snapshots;
use std::sync::Arc;

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
        let kms = Arc::new(kmsnap_kms::Kms::new(meta.clone(), &RootKey::from_bytes([root_key_byte; 32]), clock.clone()).unwrap());
        let ebs = Arc::new(Snapshots::new(meta.clone(), blobs, kms.clone(), clock.clone()));
        TestEnv { rds: Rds::new(meta, kms, ebs.clone()), ebs, clock }
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
        ebs_snapshot_id: "snap-1".into(),
        created: now,
        shared_with: vec![],
        public: false,
        source_region: None,
    }
}
