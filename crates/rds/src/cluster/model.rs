//! Persisted records of Aurora (docs/rds.md §1–§3, §8): DB clusters, each with one managed
//! volume (docs/managed-storage.md; its key used through RDS with `{"aws:rds:dbc-id": …}`) that
//! all its instances share, and manual and automated DB cluster snapshots backed by managed
//! snapshots.

use chrono::{DateTime, Utc};
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::managed::{SnapshotId, VolumeId};
use serde::{Deserialize, Serialize};

/// The ARN of cluster `id` of `account` in `region`.
pub fn cluster_arn(account: AccountId, region: Region, id: &str) -> String {
    crate::model::arn(account, region, crate::model::RdsKind::Cluster, id)
}

pub const CLUSTER_VERSION: u16 = 1;
pub const CLUSTER_SNAPSHOT_VERSION: u16 = 1;

/// Engines of Aurora clusters.
pub const ENGINES: &[&str] = &["aurora-postgresql", "aurora-mysql"];

/// Size of a cluster volume: blocks exist only when written. Aurora volumes grow to 128 TiB;
/// kmsnap fixes 4 TiB so that `kmsnap db export`'s sparse image fits every common filesystem
/// (ext4 files stop at 16 TiB).
pub const VOLUME_GIB: i32 = 4096;

/// How long a cluster stays stopped before RDS starts it again (as AWS does).
pub const MAX_STOPPED: chrono::Duration = chrono::Duration::days(7);

/// How long a cluster or instance stays recoverable after losing its key (docs/rds.md §8).
pub const RECOVERY_WINDOW: chrono::Duration = chrono::Duration::days(7);

/// `Status` of a DB cluster (docs/rds.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterStatus {
    Creating,
    Available,
    Stopping,
    Stopped,
    Starting,
    Failed,
    InaccessibleEncryptionCredentialsRecoverable,
    InaccessibleEncryptionCredentials,
}

impl ClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "creating",
            ClusterStatus::Available => "available",
            ClusterStatus::Stopping => "stopping",
            ClusterStatus::Stopped => "stopped",
            ClusterStatus::Starting => "starting",
            ClusterStatus::Failed => "failed",
            ClusterStatus::InaccessibleEncryptionCredentialsRecoverable => {
                "inaccessible-encryption-credentials-recoverable"
            }
            ClusterStatus::InaccessibleEncryptionCredentials => {
                "inaccessible-encryption-credentials"
            }
        }
    }

    /// The next state of a transition in progress (stopping → stopped, starting → available),
    /// one per worker step. `creating` waits for the cluster volume instead (a restore under
    /// another key fills it first): see `cluster::workers`.
    pub fn next(self) -> Option<ClusterStatus> {
        match self {
            ClusterStatus::Stopping => Some(ClusterStatus::Stopped),
            ClusterStatus::Starting => Some(ClusterStatus::Available),
            _ => None,
        }
    }

    /// Whether the status is one the instances of the cluster show instead of their own
    /// (a stopped or key-less cluster stops its instances).
    pub fn overrides_instances(self) -> bool {
        matches!(
            self,
            ClusterStatus::Stopping
                | ClusterStatus::Stopped
                | ClusterStatus::Starting
                | ClusterStatus::InaccessibleEncryptionCredentialsRecoverable
                | ClusterStatus::InaccessibleEncryptionCredentials
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// Lower-case, as RDS stores it.
    pub identifier: String,
    pub account: AccountId,
    pub region: Region,
    /// `cluster-` + 26 upper-case alphanumerics; the storage's encryption context names it.
    pub resource_id: String,
    pub status: ClusterStatus,
    pub engine: String,
    pub engine_version: String,
    pub port: i32,
    pub master_username: Option<String>,
    pub database_name: Option<String>,
    pub storage_encrypted: bool,
    /// Key ARN (RDS resolves aliases and ids to it).
    pub kms_key_arn: Option<String>,
    pub backup_retention_period: i32,
    pub deletion_protection: bool,
    pub copy_tags_to_snapshot: bool,
    /// Instance identifiers, creation order (the first is the writer).
    pub members: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// The managed volume holding the cluster's storage (docs/managed-storage.md).
    pub volume_id: VolumeId,
    pub created: DateTime<Utc>,
    /// When the key was found unusable (docs/rds.md §8): the 7-day window starts here.
    pub key_lost_at: Option<DateTime<Utc>>,
    /// When StopDBCluster stopped it: RDS starts a cluster stopped for 7 days again.
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
    /// When the last automated cluster snapshot (`rds:<id>-…`) was started.
    #[serde(default)]
    pub last_automated_backup: Option<DateTime<Utc>>,
}

impl ClusterRecord {
    pub fn arn(&self) -> String {
        cluster_arn(self.account, self.region, &self.identifier)
    }
}

/// Instance operations AWS refuses, or refuses in some cluster states, on an Aurora instance
/// (docs/rds.md §3, §8): checked against the instance's cluster inside the operation's own
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOp {
    /// CreateDBSnapshot: an Aurora instance is backed up by cluster snapshots.
    Snapshot,
    /// StopDBInstance, StartDBInstance: an Aurora instance stops and starts with its cluster.
    StopOrStart,
    /// ModifyDBInstance with `AllocatedStorage`, `StorageType` or `Iops`: Aurora storage is the
    /// cluster volume's.
    ModifyStorage,
    /// ModifyDBInstance, RebootDBInstance: refused only while the cluster stops its instances
    /// (stopped, key lost), as the instance's own state would refuse them.
    Change,
}

impl MemberOp {
    /// The refusal of this operation on instance `instance` of `cluster`, if it is refused.
    pub fn refusal(self, instance: &str, cluster: &ClusterRecord) -> Option<crate::RdsError> {
        use crate::RdsError;
        Some(match self {
            MemberOp::Change if !cluster.status.overrides_instances() => return None,
            MemberOp::Change => RdsError::InvalidInstanceState {
                id: instance.to_owned(),
                status: cluster.status.as_str().to_owned(),
            },
            MemberOp::Snapshot => RdsError::InvalidParameterValue(
                "The specified instance is a member of a cluster and a snapshot cannot be created directly on the instance. Please use the CreateDBClusterSnapshot API instead.".into(),
            ),
            MemberOp::StopOrStart => RdsError::InvalidParameterCombination(format!(
                "{} DB instances are not eligible for stopping and starting.",
                cluster.engine
            )),
            MemberOp::ModifyStorage => RdsError::InvalidParameterCombination(
                "The requested DB Instance is a member of a DB Cluster. Its storage is the cluster's and cannot be modified on the instance.".into(),
            ),
        })
    }
}

/// `Status` of a DB cluster snapshot (docs/rds.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSnapshotStatus {
    Creating,
    /// A copy in progress (CopyDBClusterSnapshot).
    Copying,
    Available,
    Failed,
}

impl ClusterSnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterSnapshotStatus::Creating => "creating",
            ClusterSnapshotStatus::Copying => "copying",
            ClusterSnapshotStatus::Available => "available",
            ClusterSnapshotStatus::Failed => "failed",
        }
    }

    pub fn in_progress(self) -> bool {
        matches!(
            self,
            ClusterSnapshotStatus::Creating | ClusterSnapshotStatus::Copying
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSnapshotRecord {
    pub identifier: String,
    pub account: AccountId,
    pub region: Region,
    /// `manual` or `automated` (as the owner sees it; others see `shared` / `public`).
    pub snapshot_type: String,
    pub status: ClusterSnapshotStatus,
    /// 0–100, mirrored from the backing EBS snapshot.
    pub percent_progress: i32,
    /// The cluster it was taken of (kept after the cluster is deleted).
    pub cluster_identifier: String,
    pub cluster_resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub port: i32,
    pub master_username: Option<String>,
    pub cluster_created: DateTime<Utc>,
    pub storage_encrypted: bool,
    pub kms_key_arn: Option<String>,
    /// The copy's source snapshot ARN.
    pub source_snapshot_arn: Option<String>,
    pub tags: Vec<(String, String)>,
    /// The managed snapshot holding its blocks (docs/managed-storage.md).
    pub ebs_snapshot_id: SnapshotId,
    pub created: DateTime<Utc>,
    /// The `restore` attribute: account ids it is shared with.
    pub shared_with: Vec<AccountId>,
    /// `restore` includes `all` (never for an encrypted snapshot).
    pub public: bool,
}

impl ClusterSnapshotRecord {
    pub fn arn(&self) -> String {
        crate::model::arn(
            self.account,
            self.region,
            crate::model::RdsKind::ClusterSnapshot,
            &self.identifier,
        )
    }
}

/// A fresh `DbClusterResourceId`: `cluster-` + 26 upper-case letters and digits.
pub fn new_cluster_resource_id() -> Result<String, crate::RdsError> {
    let db = crate::model::new_dbi_resource_id()?;
    Ok(format!("cluster-{}", &db[3..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_resource_ids() {
        let id = new_cluster_resource_id().unwrap();
        assert_eq!(id.len(), 34);
        assert!(
            id.starts_with("cluster-")
                && id[8..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{id}"
        );
    }

    #[test]
    fn transitions_and_wire_names() {
        assert_eq!(ClusterStatus::Stopping.next(), Some(ClusterStatus::Stopped));
        assert_eq!(
            ClusterStatus::Starting.next(),
            Some(ClusterStatus::Available)
        );
        assert_eq!(ClusterStatus::Available.next(), None);
        assert_eq!(
            ClusterStatus::InaccessibleEncryptionCredentials.next(),
            None
        );
        for s in [
            ClusterStatus::InaccessibleEncryptionCredentialsRecoverable,
            ClusterStatus::InaccessibleEncryptionCredentials,
            ClusterStatus::Stopped,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert!(s.overrides_instances());
        }
        assert!(!ClusterStatus::Available.overrides_instances());
    }
}
