//! Persisted records of RDS (spec/rds.md §1–§2): DB instances and manual DB snapshots, each
//! backed by a resource of the EBS block store (the instance's volume, the snapshot's EBS
//! snapshot), and the identifier rules.

use chrono::{DateTime, Utc};
use kmsnap_core::{AccountId, Region};
use serde::{Deserialize, Serialize};

pub const INSTANCE_VERSION: u16 = 1;
pub const SNAPSHOT_VERSION: u16 = 1;

/// Engines a non-Aurora DB instance may have.
pub const ENGINES: &[&str] = &["postgres", "mysql", "mariadb"];

/// `DBInstanceStatus` values this emulator passes through (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceStatus {
    Creating,
    BackingUp,
    Available,
    Deleting,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Creating => "creating",
            InstanceStatus::BackingUp => "backing-up",
            InstanceStatus::Available => "available",
            InstanceStatus::Deleting => "deleting",
        }
    }

    /// The next state on the way to `available` (creating → backing-up → available), so that
    /// a waiter polling in between sees each one.
    pub fn next(self) -> Option<InstanceStatus> {
        match self {
            InstanceStatus::Creating => Some(InstanceStatus::BackingUp),
            InstanceStatus::BackingUp => Some(InstanceStatus::Available),
            InstanceStatus::Available | InstanceStatus::Deleting => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInstanceRecord {
    /// Lower-case, as RDS stores it.
    pub identifier: String,
    pub account: AccountId,
    pub region: Region,
    /// `db-` + 26 upper-case alphanumerics; immutable; the KMS encryption context names it.
    pub dbi_resource_id: String,
    pub status: InstanceStatus,
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    /// GiB: the size of the backing volume.
    pub allocated_storage: i32,
    pub storage_encrypted: bool,
    /// Key ARN (RDS resolves aliases and ids to it).
    pub kms_key_arn: Option<String>,
    pub backup_retention_period: i32,
    pub master_username: Option<String>,
    pub db_name: Option<String>,
    pub port: i32,
    pub availability_zone: String,
    pub tags: Vec<(String, String)>,
    /// The EBS volume holding the instance's storage (`managed_by` RDS).
    pub volume_id: String,
    pub created: DateTime<Utc>,
}

impl DbInstanceRecord {
    pub fn arn(&self) -> String {
        format!("arn:aws:rds:{}:{}:db:{}", self.region, self.account, self.identifier)
    }
}

/// `Status` of a DB snapshot (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotStatus {
    Creating,
    Available,
    Failed,
}

impl SnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSnapshotRecord {
    pub identifier: String,
    pub account: AccountId,
    pub region: Region,
    /// `manual` (the only type made so far).
    pub snapshot_type: String,
    pub status: SnapshotStatus,
    /// 0–100, mirrored from the backing EBS snapshot.
    pub percent_progress: i32,
    /// The instance it was taken of (kept after the instance is deleted).
    pub instance_identifier: String,
    pub dbi_resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub allocated_storage: i32,
    pub port: i32,
    pub master_username: Option<String>,
    pub availability_zone: String,
    pub instance_created: DateTime<Utc>,
    pub encrypted: bool,
    pub kms_key_arn: Option<String>,
    /// The copy's source snapshot ARN (CopyDBSnapshot).
    pub source_snapshot: Option<String>,
    pub tags: Vec<(String, String)>,
    /// The EBS snapshot holding its blocks (`managed_by` RDS).
    pub ebs_snapshot_id: String,
    pub created: DateTime<Utc>,
}

impl DbSnapshotRecord {
    pub fn arn(&self) -> String {
        format!("arn:aws:rds:{}:{}:snapshot:{}", self.region, self.account, self.identifier)
    }
}

/// The spec §1 message for an invalid identifier in parameter `param`.
pub fn identifier_message(param: &str) -> String {
    format!(
        "The parameter {param} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
    )
}

/// Checks an identifier (spec §1: 1–63 letters, digits, hyphens; a letter first; no `--`; no
/// trailing `-`) and returns it lower-cased, as RDS stores it.
pub fn identifier(param: &str, value: &str) -> Result<String, crate::RdsError> {
    let ok = (1..=63).contains(&value.len())
        && value.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !value.contains("--")
        && !value.ends_with('-');
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(crate::RdsError::InvalidParameterValue(identifier_message(param)))
    }
}

/// A fresh `DbiResourceId`: `db-` + 26 upper-case letters and digits.
pub fn new_dbi_resource_id() -> Result<String, crate::RdsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut raw = [0u8; 26];
    kmsnap_core::ids::random_bytes(&mut raw).map_err(|_| crate::RdsError::Internal("rng"))?;
    let tail: String = raw.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    Ok(format!("db-{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_spec_1() {
        for good in ["a", "MyDb-1", "pg1", &"a".repeat(63)] {
            assert_eq!(identifier("DBInstanceIdentifier", good).unwrap(), good.to_ascii_lowercase());
        }
        for bad in ["", "1db", "db--1", "db-", "db_1", "db.1", &"a".repeat(64)] {
            let e = identifier("DBSnapshotIdentifier", bad).unwrap_err();
            assert_eq!(e, crate::RdsError::InvalidParameterValue(identifier_message("DBSnapshotIdentifier")), "{bad}");
        }
    }

    #[test]
    fn dbi_resource_ids() {
        let id = new_dbi_resource_id().unwrap();
        assert_eq!(id.len(), 29);
        assert!(id[3..].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{id}");
        assert_ne!(id, new_dbi_resource_id().unwrap());
    }

    #[test]
    fn states_move_forward_through_backing_up() {
        assert_eq!(InstanceStatus::Creating.next(), Some(InstanceStatus::BackingUp));
        assert_eq!(InstanceStatus::BackingUp.next(), Some(InstanceStatus::Available));
        assert_eq!(InstanceStatus::Available.next(), None);
    }
}
