//! Backup's records (docs/backup.md).

use chrono::{DateTime, Duration, Utc};
use kmsnap_core::{AccountId, Region};
use serde::{Deserialize, Serialize};

/// Version of [`VaultRecord`]'s stored shape.
pub const VAULT_VERSION: u16 = 1;

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
