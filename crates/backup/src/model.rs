//! Backup's records (docs/backup.md).

use chrono::{DateTime, Duration, Utc};
use kmsnap_core::{AccountId, Region};
use serde::{Deserialize, Serialize};

/// A backup vault of one account in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultRecord {
    pub account: AccountId,
    pub region: Region,
    pub name: String,
    /// The key ARN protecting what the vault encrypts itself (docs/backup.md §3).
    pub encryption_key_arn: String,
    /// Whether that key is a customer managed key (else the AWS managed `aws/backup`).
    pub customer_managed_key: bool,
    pub created: DateTime<Utc>,
    pub creator_request_id: Option<String>,
    /// Tag key → value, in insertion order.
    pub tags: Vec<(String, String)>,
    /// The vault access policy, as the caller wrote it.
    pub access_policy: Option<String>,
    pub lock: Option<VaultLock>,
}

/// A vault lock (docs/backup.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultLock {
    pub min_retention_days: Option<i64>,
    pub max_retention_days: Option<i64>,
    /// When the lock becomes immutable (compliance mode); `None`: governance mode, removable
    /// at any time.
    pub lock_date: Option<DateTime<Utc>>,
}

impl VaultLock {
    /// Whether the lock can no longer be changed or removed at `now`.
    pub fn immutable_at(&self, now: DateTime<Utc>) -> bool {
        self.lock_date.is_some_and(|d| d <= now)
    }

    /// A lock put at `now` with `changeable_for_days`.
    pub fn new(
        min: Option<i64>,
        max: Option<i64>,
        changeable_for_days: Option<i64>,
        now: DateTime<Utc>,
    ) -> Self {
        VaultLock {
            min_retention_days: min,
            max_retention_days: max,
            lock_date: changeable_for_days.map(|d| now + Duration::days(d)),
        }
    }
}

impl VaultRecord {
    /// `arn:aws:backup:<region>:<account>:backup-vault:<name>`.
    pub fn arn(&self) -> String {
        vault_arn(self.account, self.region, &self.name)
    }
}

/// The ARN of vault `name`.
pub fn vault_arn(account: AccountId, region: Region, name: &str) -> String {
    kmsnap_core::arn::Arn::backup_vault(region.as_str(), account.as_str(), name).to_string()
}

/// A backup job's state (docs/backup.md §8). `CREATED` until the worker's first step, then
/// `RUNNING` while the snapshot is pending, then one of the final states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Created,
    Running,
    Completed,
    Failed,
    Aborted,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Aborted
        )
    }
}

/// A recovery point's lifecycle as the caller set it (docs/backup.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    pub move_to_cold_storage_after_days: Option<i64>,
    pub delete_after_days: Option<i64>,
}

impl Lifecycle {
    /// When a point created at `created` is deleted, if ever.
    pub fn delete_at(&self, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.delete_after_days.map(|d| created + Duration::days(d))
    }

    /// When a point created at `created` moves to cold storage, if ever.
    pub fn cold_at(&self, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.move_to_cold_storage_after_days
            .map(|d| created + Duration::days(d))
    }
}

/// An on-demand backup job of one EBS volume (docs/backup.md §8): its recovery point is the
/// EC2 snapshot `snapshot_id`, queued with the job in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub account: AccountId,
    pub region: Region,
    pub vault_name: String,
    pub vault_arn: String,
    pub resource_arn: String,
    pub volume_id: String,
    pub snapshot_id: String,
    pub recovery_point_arn: String,
    pub iam_role_arn: String,
    pub idempotency_token: Option<String>,
    pub state: JobState,
    pub status_message: Option<String>,
    /// 0–100.
    pub percent_done: u8,
    pub size_bytes: i64,
    pub kms_key_arn: Option<String>,
    pub lifecycle: Lifecycle,
    pub created: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    pub start_by: DateTime<Utc>,
}

/// A recovery point's status (docs/backup.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PointStatus {
    Creating,
    Completed,
}

/// A recovery point in a vault: an EC2 snapshot made by a backup job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    pub account: AccountId,
    pub region: Region,
    pub vault_name: String,
    pub snapshot_id: String,
    pub job_id: String,
    pub resource_arn: String,
    pub iam_role_arn: String,
    pub status: PointStatus,
    pub kms_key_arn: Option<String>,
    pub size_bytes: i64,
    pub lifecycle: Lifecycle,
    pub created: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
}

impl PointRecord {
    /// The snapshot's ARN, `arn:aws:ec2:<region>::snapshot/<id>`.
    pub fn arn(&self) -> String {
        kmsnap_core::arn::Arn::ec2_snapshot(self.region.as_str(), &self.snapshot_id).to_string()
    }
}

kmsnap_store::first_version!(VaultRecord, JobRecord, PointRecord);
