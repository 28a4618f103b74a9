//! Persisted records of EBS (docs/ebs.md §1): volumes, snapshots, lineages (a data key and
//! the blocks sealed under it), block references, per-region settings, and the jobs workers
//! advance (sealing a snapshot, copying one).
//!
//! Ids are global (`vol-`/`snap-` + 17 hex), so block manifests are keyed by resource id alone;
//! records are keyed by account and region, with an id index for lookups by id only (shared
//! snapshots, the EBS direct API).

use chrono::{DateTime, Utc};
use kmsnap_auth::model::{Principal, PrincipalKind, SessionPolicy};
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::Versioned;
use serde::{Deserialize, Serialize};

// Every record is versioned and upgrades on read (docs/storage.md §2); the chains are at the
// end of this file ("Record versions").

/// 512 KiB: the EBS block (direct API `BlockSize`, and the unit of storage).
pub const BLOCK_SIZE: usize = 524_288;
/// Blocks per GiB.
pub const BLOCKS_PER_GIB: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    Creating,
    Available,
    InUse,
    Deleting,
    Deleted,
    Error,
}

impl VolumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Creating => "creating",
            VolumeState::Available => "available",
            VolumeState::InUse => "in-use",
            VolumeState::Deleting => "deleting",
            VolumeState::Deleted => "deleted",
            VolumeState::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: String,
    pub account: AccountId,
    pub region: Region,
    pub availability_zone: String,
    pub size_gib: i32,
    /// The snapshot it was created from.
    pub snapshot_id: Option<String>,
    pub state: VolumeState,
    pub encrypted: bool,
    /// Key ARN (EBS never stores an alias).
    pub kms_key_arn: Option<String>,
    /// The lineage whose data key seals this volume's blocks.
    pub lineage: String,
    pub volume_type: String,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub multi_attach: bool,
    pub created: DateTime<Utc>,
    pub tags: Vec<(String, String)>,
    /// Set when the volume is the storage of another service's resource (an RDS instance):
    /// EC2 operations neither show nor change it, and its keys are used as that service.
    #[serde(default)]
    pub managed_by: Option<KeyUse>,
}

/// Which service uses a lineage's KMS key, and with what encryption context: EBS's own
/// resources through `ec2.amazonaws.com` with `{"aws:ebs:id": <resource>}` (docs/ebs.md §3);
/// storage another service keeps here through the managed-storage API as that service says
/// ([`ServiceUse`]: RDS's instance storage through `rds.amazonaws.com` with
/// `{"aws:rds:db-id": <DbiResourceId>}`, so the `aws/rds` key's `kms:ViaService` condition
/// admits it, docs/rds.md §3).
///
/// Records written before the generic form (volume, snapshot and lineage records of version 1)
/// hold RDS's own variants, `Rds { db_id }` and `RdsCluster { dbc_id }` ([`KeyUseV1`]): their
/// upgrade reads them as the [`ServiceUse`] they meant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    #[default]
    Ebs,
    /// Storage of another service (docs/managed-storage.md).
    Service(ServiceUse),
}

/// The service a managed lineage's key is used through and the encryption context it binds
/// (docs/managed-storage.md §2). The service defines the context; this crate only carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceUse {
    /// The service principal KMS sees the calls come through (`kms:ViaService`, `invokedBy`),
    /// e.g. `rds.amazonaws.com`.
    pub service: String,
    /// The encryption context of the data key (and of the service's grant's constraint).
    pub context: std::collections::BTreeMap<String, String>,
}

impl ServiceUse {
    /// Use through `service` with encryption context `context`.
    pub fn new<K: Into<String>, V: Into<String>>(
        service: impl Into<String>,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        ServiceUse {
            service: service.into(),
            context: context
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// A key use as version 1 of volume, snapshot and lineage records stored it (read only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub enum KeyUseV1 {
    #[default]
    Ebs,
    /// Version 1: an RDS instance's storage, `{"aws:rds:db-id": db_id}` through RDS.
    Rds { db_id: String },
    /// Version 1: an Aurora cluster's storage, `{"aws:rds:dbc-id": dbc_id}` through RDS.
    RdsCluster { dbc_id: String },
}

/// The service and context keys RDS's version-1 records implied (docs/rds.md §3).
const V1_RDS_SERVICE: &str = "rds.amazonaws.com";
const V1_RDS_DB_KEY: &str = "aws:rds:db-id";
const V1_RDS_CLUSTER_KEY: &str = "aws:rds:dbc-id";

impl From<KeyUseV1> for KeyUse {
    fn from(r: KeyUseV1) -> Self {
        match r {
            KeyUseV1::Ebs => KeyUse::Ebs,
            KeyUseV1::Rds { db_id } => {
                KeyUse::Service(ServiceUse::new(V1_RDS_SERVICE, [(V1_RDS_DB_KEY, db_id)]))
            }
            KeyUseV1::RdsCluster { dbc_id } => KeyUse::Service(ServiceUse::new(
                V1_RDS_SERVICE,
                [(V1_RDS_CLUSTER_KEY, dbc_id)],
            )),
        }
    }
}

impl VolumeRecord {
    pub fn blocks(&self) -> u64 {
        u64::try_from(self.size_gib).unwrap_or(0) * BLOCKS_PER_GIB
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    Pending,
    Completed,
    Error,
}

impl SnapshotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Pending => "pending",
            SnapshotState::Completed => "completed",
            SnapshotState::Error => "error",
        }
    }
}

/// How a snapshot came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotOrigin {
    /// CreateSnapshot of a volume.
    Volume,
    /// EBS direct StartSnapshot.
    Direct {
        parent: Option<String>,
        timeout_minutes: i32,
        client_token: Option<String>,
        /// Distinct block indexes written to this snapshot (not inherited).
        written: u64,
        last_write: Option<DateTime<Utc>>,
    },
    /// CopySnapshot.
    Copy {
        source_snapshot: String,
        source_region: Region,
        source_account: AccountId,
    },
}

/// Who besides the owner may create volumes from (and copy) a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub users: Vec<AccountId>,
    /// `Group: all` (public; never for encrypted snapshots).
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: String,
    pub account: AccountId,
    pub region: Region,
    /// `vol-ffffffff` for copies and direct-API snapshots, as AWS shows them.
    pub volume_id: String,
    pub volume_size: i32,
    pub state: SnapshotState,
    pub state_message: Option<String>,
    /// 0–100.
    pub progress: u8,
    pub start_time: DateTime<Utc>,
    pub description: String,
    pub encrypted: bool,
    pub kms_key_arn: Option<String>,
    pub lineage: String,
    pub tags: Vec<(String, String)>,
    pub permissions: Permissions,
    pub origin: SnapshotOrigin,
    /// `DataEncryptionKeyId` (a UUID per lineage) for encrypted snapshots.
    pub data_encryption_key_id: Option<String>,
    pub completed: Option<DateTime<Utc>>,
    /// Set for the backing snapshot of an RDS DB snapshot (see [`VolumeRecord::managed_by`]).
    #[serde(default)]
    pub managed_by: Option<KeyUse>,
}

impl SnapshotRecord {
    /// A pending snapshot `id` of volume `v` as it is now (same lineage and key), not shared,
    /// untagged, managed by no service; its seal job fills it.
    pub(crate) fn pending_of(
        v: &VolumeRecord,
        id: String,
        description: String,
        now: DateTime<Utc>,
    ) -> Self {
        SnapshotRecord {
            id,
            account: v.account,
            region: v.region,
            volume_id: v.id.clone(),
            volume_size: v.size_gib,
            state: SnapshotState::Pending,
            state_message: None,
            progress: 0,
            start_time: now,
            description,
            encrypted: v.encrypted,
            kms_key_arn: v.kms_key_arn.clone(),
            lineage: v.lineage.clone(),
            tags: Vec::new(),
            permissions: Permissions::default(),
            origin: SnapshotOrigin::Volume,
            data_encryption_key_id: None,
            completed: None,
            managed_by: None,
        }
    }
}

/// A data key and the blocks sealed under it. Volumes created from a snapshot under the same
/// KMS key, and snapshots of those volumes, stay in the lineage and share unchanged blocks;
/// a new key or region starts a new lineage (the copy re-encrypts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageRecord {
    pub id: String,
    pub account: AccountId,
    pub region: Region,
    /// None: unencrypted (blocks carry a SHA-256 only).
    pub kms_key_arn: Option<String>,
    /// KMS CiphertextBlob of the 256-bit data key, under `kms_key_arn` with encryption
    /// context `{"aws:ebs:id": ec_resource}`.
    pub wrapped_data_key: Option<Vec<u8>>,
    /// The resource id the data key's encryption context names (the volume or snapshot that
    /// started the lineage).
    pub ec_resource: String,
    /// `DataEncryptionKeyId` of snapshots in this lineage.
    pub data_key_id: String,
    pub created: DateTime<Utc>,
    /// The service the data key is used through and its context key (v1 records: EBS).
    #[serde(default)]
    pub key_use: KeyUse,
}

/// One block of a volume or snapshot manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// Blob key in the region's blob location.
    pub blob: String,
    /// SHA-256 of the block's plaintext, hex.
    pub sha256: String,
    /// The lineage whose data key sealed the blob (AAD binds it and the index).
    pub lineage: String,
}

/// Per account and region (docs/ebs.md §9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionSettings {
    pub encryption_by_default: bool,
    /// Customised default key ARN; None = `alias/aws/ebs`.
    pub default_key_arn: Option<String>,
}

/// Work a worker advances in idempotent steps; keyed by the resource it produces (a snapshot,
/// or a volume being restored from a snapshot under another key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The snapshot or volume the job produces.
    pub target: String,
    pub account: AccountId,
    pub region: Region,
    pub kind: JobKind,
    /// Next source block index to process (manifest order).
    pub cursor: Option<u32>,
    pub total_blocks: u64,
    pub done_blocks: u64,
    pub created: DateTime<Utc>,
    /// Who started the job: KMS authorizes the job's key use (through EC2) as this caller, as
    /// it would the request. None for jobs that use no key (sealing) and v1 records.
    #[serde(default)]
    pub caller: Option<JobCaller>,
}

impl JobRecord {
    /// A job at its start (no cursor, nothing done).
    pub fn new(
        target: &str,
        account: AccountId,
        region: Region,
        kind: JobKind,
        total_blocks: u64,
        caller: Option<JobCaller>,
        now: DateTime<Utc>,
    ) -> Self {
        JobRecord {
            target: target.to_owned(),
            account,
            region,
            kind,
            cursor: None,
            total_blocks,
            done_blocks: 0,
            created: now,
            caller,
        }
    }

    /// The context the job's KMS calls run in: its caller (else its account's root) in `region`
    /// (a key is used in its own region: the source's to read, the destination's to write).
    pub fn context(&self, region: Region, now: DateTime<Utc>) -> RequestContext {
        let principal = match &self.caller {
            Some(c) => c.principal(),
            None => Principal::root(self.account, ""),
        };
        let (source_ip, user_agent) = match &self.caller {
            Some(c) => (c.source_ip, c.user_agent.clone()),
            None => (
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                String::new(),
            ),
        };
        RequestContext {
            principal,
            region,
            request_id: kmsnap_core::ids::request_id(),
            source_ip,
            user_agent,
            now,
            via_service: None,
        }
    }
}

/// The persisted form of the principal that started a job ([`Principal`] is not a stored type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCaller {
    pub account: AccountId,
    pub arn: String,
    pub user_id: String,
    pub kind: CallerKind,
    pub access_key_id: String,
    pub source_ip: std::net::IpAddr,
    pub user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallerKind {
    Root,
    User {
        name: String,
    },
    AssumedRole {
        role_name: String,
        role_arn: String,
        session_name: String,
        /// The session's session policies: a job acts with no more than the session that
        /// started it could (docs/sts-sessions.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_policy: Option<SessionPolicy>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_identity: Option<String>,
    },
}

impl JobCaller {
    pub fn from_context(ctx: &RequestContext) -> Self {
        let p = &ctx.principal;
        let kind = match &p.kind {
            PrincipalKind::Root => CallerKind::Root,
            PrincipalKind::User { name } => CallerKind::User { name: name.clone() },
            PrincipalKind::AssumedRole {
                role_name,
                role_arn,
                session_name,
                session_policy,
                source_identity,
            } => CallerKind::AssumedRole {
                role_name: role_name.clone(),
                role_arn: role_arn.clone(),
                session_name: session_name.clone(),
                session_policy: session_policy.as_deref().cloned(),
                source_identity: source_identity.clone(),
            },
        };
        JobCaller {
            account: p.account,
            arn: p.arn.clone(),
            user_id: p.user_id.clone(),
            kind,
            access_key_id: p.access_key_id.clone(),
            source_ip: ctx.source_ip,
            user_agent: ctx.user_agent.clone(),
        }
    }

    pub fn principal(&self) -> Principal {
        let kind = match &self.kind {
            CallerKind::Root => PrincipalKind::Root,
            CallerKind::User { name } => PrincipalKind::User { name: name.clone() },
            CallerKind::AssumedRole {
                role_name,
                role_arn,
                session_name,
                session_policy,
                source_identity,
            } => PrincipalKind::AssumedRole {
                role_name: role_name.clone(),
                role_arn: role_arn.clone(),
                session_name: session_name.clone(),
                session_policy: session_policy.clone().map(std::sync::Arc::new),
                source_identity: source_identity.clone(),
            },
        };
        Principal {
            account: self.account,
            arn: self.arn.clone(),
            user_id: self.user_id.clone(),
            kind,
            access_key_id: self.access_key_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// Freeze a volume's manifest into the snapshot (blocks shared, metadata copied).
    Seal { volume_id: String },
    /// Copy `source` (in `source_region`, owned by `source_account`) into the job's snapshot:
    /// share blobs when the lineage stays (`share_blobs`: same region, account and key), else
    /// decrypt and re-encrypt every block not yet copied into the destination lineage. The
    /// destination key is the snapshot's `kms_key_arn`; its lineage is chosen by the job's
    /// first step (empty until then), so KMS failures are the job's, as in AWS.
    Copy {
        source: String,
        source_region: Region,
        source_account: AccountId,
        share_blobs: bool,
    },
    /// Fill the job's volume from snapshot `source` (same region) re-encrypting every block
    /// into the volume's lineage (a shared snapshot, or a new key).
    Restore {
        source: String,
        source_account: AccountId,
    },
}

/// A StartSnapshot `ClientToken` (EBS direct API idempotency): the snapshot the first call made
/// and a digest of its parameters, so a retry returns that snapshot and a reuse with other
/// parameters is a `ConflictException`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    pub snapshot_id: String,
    /// SHA-256 (hex) of the request's parameters in a fixed order.
    pub params_sha256: String,
}

// ---------------------------------------------------------------------------------------------
// Record versions (docs/storage.md §2). Earlier versions' types are only read.

kmsnap_store::first_version!(
    BlockRef,
    RegionSettings,
    ClientTokenRecord,
    ManagedByV1<VolumeRecord>,
    ManagedByV1<SnapshotRecord>,
    LineageRecordV1
);

/// Version 1 of a volume or snapshot record (`R`): today's fields, with `managed_by` in
/// version 1's shape (absent in the oldest: EBS's own).
#[derive(Deserialize)]
pub struct ManagedByV1<R> {
    #[serde(flatten)]
    record: R,
    #[serde(default)]
    managed_by: Option<KeyUseV1>,
}

/// Version 2 of volume and snapshot records: `managed_by` is a generic [`KeyUse::Service`];
/// version 1's RDS variants become the same service and context.
macro_rules! managed_by_is_generic_in_v2 {
    ($($record:ident),+) => {$(
        impl Versioned for $record {
            const VERSION: u16 = 2;
            type Previous = ManagedByV1<$record>;
            fn upgrade(v1: ManagedByV1<$record>) -> Self {
                $record {
                    managed_by: v1.managed_by.map(KeyUse::from),
                    ..v1.record
                }
            }
        }
    )+};
}

managed_by_is_generic_in_v2!(VolumeRecord, SnapshotRecord);

/// Version 1 of a lineage record: today's fields, with `key_use` in version 1's shape (absent
/// in the oldest: EBS's).
#[derive(Deserialize)]
pub struct LineageRecordV1 {
    #[serde(flatten)]
    record: LineageRecord,
    #[serde(default)]
    key_use: KeyUseV1,
}

/// Version 2: as volume and snapshot records', for `key_use`.
impl Versioned for LineageRecord {
    const VERSION: u16 = 2;
    type Previous = LineageRecordV1;
    fn upgrade(v1: LineageRecordV1) -> Self {
        LineageRecord {
            key_use: KeyUse::from(v1.key_use),
            ..v1.record
        }
    }
}

/// Version 1 of a job record: no `caller` (the job acts as its account's root). The field is
/// `serde(default)`, so version 1's JSON is today's record with none.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct JobRecordV1(JobRecord);

kmsnap_store::first_version!(JobRecordV1);

/// Version 2 of a job record: a role-session caller without session policies and source
/// identity (`serde(default)` fields: version 2's JSON is today's record with none).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct JobRecordV2(JobRecord);

/// Version 2: `caller`.
impl Versioned for JobRecordV2 {
    const VERSION: u16 = 2;
    type Previous = JobRecordV1;
    fn upgrade(v1: JobRecordV1) -> Self {
        JobRecordV2(v1.0)
    }
}

/// Version 3: a role-session caller keeps its session policies and source identity.
impl Versioned for JobRecord {
    const VERSION: u16 = 3;
    type Previous = JobRecordV2;
    fn upgrade(v2: JobRecordV2) -> Self {
        v2.0
    }
}

#[cfg(test)]
mod job_caller_tests {
    use super::*;
    use kmsnap_auth::SessionPolicy;

    fn session(policy: Option<SessionPolicy>) -> Principal {
        Principal {
            account: AccountId::parse("111111111111").unwrap(),
            arn: "arn:aws:sts::111111111111:assumed-role/r/s".into(),
            user_id: "AROAAAAAAAAAAAAAAAAAA:s".into(),
            kind: PrincipalKind::AssumedRole {
                role_name: "r".into(),
                role_arn: "arn:aws:iam::111111111111:role/r".into(),
                session_name: "s".into(),
                session_policy: policy.map(std::sync::Arc::new),
                source_identity: Some("alice".into()),
            },
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
        }
    }

    /// A job started by a role session keeps the session's policies, so the job's KMS calls are
    /// limited as the session's own requests were (issue #13: session policies).
    #[test]
    fn a_session_caller_keeps_its_session_policy() {
        let policy = SessionPolicy {
            inline: Some(r#"{"Statement":[]}"#.into()),
            managed_arns: vec!["arn:aws:iam::aws:policy/X".into()],
        };
        let ctx = RequestContext {
            principal: session(Some(policy)),
            region: Region::parse("us-east-1").unwrap(),
            request_id: "r".into(),
            source_ip: "127.0.0.1".parse().unwrap(),
            user_agent: String::new(),
            now: Utc::now(),
            via_service: None,
        };
        let caller = JobCaller::from_context(&ctx);
        let stored = serde_json::to_string(&caller).unwrap();
        let read: JobCaller = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.principal(), ctx.principal);
        // A record written before session policies were kept reads as a session without one.
        let old = stored.replace(r#","session_policy":{"inline":"{\"Statement\":[]}","managed_arns":["arn:aws:iam::aws:policy/X"]}"#, "");
        assert_ne!(old, stored);
        let read: JobCaller = serde_json::from_str(&old).unwrap();
        assert_eq!(read.principal().session_policy(), None);
    }
}
