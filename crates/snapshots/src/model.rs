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
use serde::{Deserialize, Serialize};

pub const VOLUME_VERSION: u16 = 1;
pub const SNAPSHOT_VERSION: u16 = 1;
pub const LINEAGE_VERSION: u16 = 1;
pub const BLOCK_VERSION: u16 = 1;
pub const SETTINGS_VERSION: u16 = 1;
/// 2: `JobRecord::caller` (v1 records read with none: the job acts as its account's root).
/// 3: a role-session caller keeps its session policies and source identity (v2 records read
/// with none).
pub const JOB_VERSION: u16 = 3;

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

/// Which service uses a lineage's KMS key, and with what encryption context (docs/rds.md §3):
/// EBS's own resources through `ec2.amazonaws.com` with `{"aws:ebs:id": <resource>}`, an RDS
/// instance's storage through `rds.amazonaws.com` with `{"aws:rds:db-id": <DbiResourceId>}` (so
/// the `aws/rds` key's `kms:ViaService` condition admits it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    #[default]
    Ebs,
    Rds {
        db_id: String,
    },
    /// An Aurora cluster's storage: `{"aws:rds:dbc-id": <DbClusterResourceId>}` through RDS.
    RdsCluster {
        dbc_id: String,
    },
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

pub const CLIENT_TOKEN_VERSION: u16 = 1;

/// A StartSnapshot `ClientToken` (EBS direct API idempotency): the snapshot the first call made
/// and a digest of its parameters, so a retry returns that snapshot and a reuse with other
/// parameters is a `ConflictException`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    pub snapshot_id: String,
    /// SHA-256 (hex) of the request's parameters in a fixed order.
    pub params_sha256: String,
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
