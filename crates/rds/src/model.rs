//! Persisted records of RDS (docs/rds.md §1–§2): DB instances and manual DB snapshots, each
//! backed by a resource of the EBS block store (the instance's volume, the snapshot's EBS
//! snapshot), and the identifier rules.

use chrono::{DateTime, Utc};
use kmsnap_core::arn::Arn;
pub use kmsnap_core::arn::RdsKind;
use kmsnap_core::{AccountId, Region};
use kmsnap_snapshots::managed::{JobCaller, SnapshotId, VolumeId};
use serde::{Deserialize, Serialize};

/// The ARN of RDS resource `name` of `kind` of `account` in `region` (docs/arns.md).
pub fn arn(account: AccountId, region: Region, kind: RdsKind, name: &str) -> String {
    Arn::rds(region.as_str(), account.as_str(), kind, name).to_string()
}

/// An RDS ARN `arn:aws:rds:<region>:<account>:<kind>:<name>` taken apart (docs/arns.md); the
/// parts are as written, unchecked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsArn {
    pub region: String,
    pub account: String,
    pub kind: String,
    pub name: String,
}

/// `value` as an RDS ARN of the `aws` partition; `None` for anything else (another partition
/// or service, no `<kind>:` in the resource).
pub fn parse_arn(value: &str) -> Option<RdsArn> {
    let arn = Arn::parse(value)
        .ok()
        .filter(|a| a.partition == "aws" && a.service == "rds")?;
    let (kind, name) = arn.resource.split_once(':')?;
    Some(RdsArn {
        kind: kind.to_owned(),
        name: name.to_owned(),
        region: arn.region,
        account: arn.account,
    })
}

/// The resource name a parameter that takes a name or an ARN gives: its last `:`-separated
/// part, as RDS reads `DBInstanceIdentifier` and `DBClusterIdentifier` in lookups (names have
/// no `:`).
pub fn name_in(value: &str) -> &str {
    value.rsplit(':').next().unwrap_or(value)
}

/// 2: `copy_tags_to_snapshot`, `deletion_protection`, `last_automated_backup`, `status_since`
/// (v1 records read with their defaults). 3: `cluster` (older records take it from the member
/// lists of the cluster records on read, [`crate::store::get_instance`]).
pub const INSTANCE_VERSION: u16 = 3;
/// 2: `shared_with`, `public`, `source_region` (v1 records read as private, same-region).
pub const SNAPSHOT_VERSION: u16 = 2;

/// Engines a non-Aurora DB instance may have.
pub const ENGINES: &[&str] = &["postgres", "mysql", "mariadb"];

/// `DBInstanceStatus` values this emulator passes through (docs/rds.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceStatus {
    Creating,
    BackingUp,
    Available,
    Deleting,
    Modifying,
    Stopping,
    Stopped,
    Starting,
    Rebooting,
    /// The KMS key became unusable (docs/rds.md §8): stopped; StartDBInstance within 7 days of a
    /// re-enabled key recovers it (`crate::keystate`).
    InaccessibleEncryptionCredentialsRecoverable,
    /// Terminal (7 days passed, or the key is gone): only deletion or a restore from a backup.
    InaccessibleEncryptionCredentials,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Creating => "creating",
            InstanceStatus::BackingUp => "backing-up",
            InstanceStatus::Available => "available",
            InstanceStatus::Deleting => "deleting",
            InstanceStatus::Modifying => "modifying",
            InstanceStatus::Stopping => "stopping",
            InstanceStatus::Stopped => "stopped",
            InstanceStatus::Starting => "starting",
            InstanceStatus::Rebooting => "rebooting",
            InstanceStatus::InaccessibleEncryptionCredentialsRecoverable => {
                "inaccessible-encryption-credentials-recoverable"
            }
            InstanceStatus::InaccessibleEncryptionCredentials => {
                "inaccessible-encryption-credentials"
            }
        }
    }

    /// The next state of a transition in progress (creating → backing-up → available;
    /// modifying, starting, rebooting → available; stopping → stopped), one per worker step,
    /// so that a waiter polling in between sees each one. `None`: a resting state.
    pub fn next(self) -> Option<InstanceStatus> {
        match self {
            InstanceStatus::Creating => Some(InstanceStatus::BackingUp),
            InstanceStatus::BackingUp
            | InstanceStatus::Modifying
            | InstanceStatus::Starting
            | InstanceStatus::Rebooting => Some(InstanceStatus::Available),
            InstanceStatus::Stopping => Some(InstanceStatus::Stopped),
            InstanceStatus::Available | InstanceStatus::Deleting | InstanceStatus::Stopped => None,
            InstanceStatus::InaccessibleEncryptionCredentialsRecoverable
            | InstanceStatus::InaccessibleEncryptionCredentials => None,
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
    /// The managed volume holding the instance's storage (docs/managed-storage.md).
    pub volume_id: VolumeId,
    pub created: DateTime<Utc>,
    /// `CopyTagsToSnapshot`: snapshots of the instance get its tags.
    #[serde(default)]
    pub copy_tags_to_snapshot: bool,
    /// `DeletionProtection`: DeleteDBInstance is refused while set.
    #[serde(default)]
    pub deletion_protection: bool,
    /// When the last automated backup (snapshot `rds:<id>-…`) was started.
    #[serde(default)]
    pub last_automated_backup: Option<DateTime<Utc>>,
    /// When the instance entered its current status (the worker keeps a transition's state
    /// visible for at least a step; stopped instances restart after 7 days).
    #[serde(default)]
    pub status_since: Option<DateTime<Utc>>,
    /// The Aurora cluster the instance is a member of (docs/rds.md §3); the cluster lists it
    /// among its `members`, and both change in one transaction.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// 2: a role-session `caller` keeps its session policies (v1 records read with none).
pub const REPLICA_VERSION: u16 = 2;

/// A read replica (CreateDBInstanceReadReplica): which instance it follows and how far. Kept
/// beside the instance record (table `rds_replicas`), under the replica's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    pub account: AccountId,
    pub region: Region,
    /// The replica instance's identifier.
    pub identifier: String,
    /// The source instance (same account; its region may differ).
    pub source_region: Region,
    pub source_identifier: String,
    /// Who created the replica: KMS authorizes the replication's key use as them.
    pub caller: JobCaller,
    /// The replication round in progress.
    pub sync: Option<ReplicaSync>,
    /// When the replica's storage last caught up with the source's.
    pub replicated_at: Option<DateTime<Utc>>,
    /// The digest of the source's manifest the round in progress (or the last) copied.
    pub source_digest: Option<String>,
    /// After a failed round (a key KMS refuses, say), no new one before this time.
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
}

impl ReplicaRecord {
    pub fn source_arn(&self) -> String {
        arn(
            self.account,
            self.source_region,
            RdsKind::Db,
            &self.source_identifier,
        )
    }
}

/// One replication round of a read replica: the source's storage sealed into an EBS snapshot
/// (`seal`, in the source's account and region), copied under the replica's key into its
/// region (`copy`), then made the replica's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSync {
    pub seal: SnapshotId,
    pub copy: Option<SnapshotId>,
}

impl DbInstanceRecord {
    pub fn arn(&self) -> String {
        arn(self.account, self.region, RdsKind::Db, &self.identifier)
    }
}

/// `Status` of a DB snapshot (docs/rds.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotStatus {
    Creating,
    Available,
    Failed,
}

impl SnapshotStatus {
    /// Whether the snapshot is still being made (a copy too is `creating`).
    pub fn in_progress(self) -> bool {
        self == SnapshotStatus::Creating
    }

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
    /// `manual` or `automated` (as the owner sees it; others see `shared` / `public`).
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
    /// The managed snapshot holding its blocks (docs/managed-storage.md).
    pub ebs_snapshot_id: SnapshotId,
    pub created: DateTime<Utc>,
    /// The `restore` attribute: accounts it is shared with (ModifyDBSnapshotAttribute).
    #[serde(default)]
    pub shared_with: Vec<AccountId>,
    /// `restore` includes `all`: public (never for an encrypted snapshot).
    #[serde(default)]
    pub public: bool,
    /// The source's region of a cross-region copy (`SourceRegion`).
    #[serde(default)]
    pub source_region: Option<Region>,
}

impl DbSnapshotRecord {
    pub fn arn(&self) -> String {
        arn(
            self.account,
            self.region,
            RdsKind::Snapshot,
            &self.identifier,
        )
    }
}

/// The docs/rds.md §1 message for an invalid identifier in parameter `param`.
pub fn identifier_message(param: &str) -> String {
    format!(
        "The parameter {param} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
    )
}

/// Checks an identifier (docs/rds.md §1: 1–63 letters, digits, hyphens; a letter first; no `--`; no
/// trailing `-`) and returns it lower-cased, as RDS stores it.
pub fn identifier(param: &str, value: &str) -> Result<String, crate::RdsError> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !value.contains("--")
        && !value.ends_with('-');
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(crate::RdsError::InvalidParameterValue(identifier_message(
            param,
        )))
    }
}

/// Whether `engine` (lower-cased) is a PostgreSQL engine, whose names are at most 63 characters.
fn postgres_family(engine: &str) -> bool {
    engine == "postgres" || engine == "aurora-postgresql"
}

/// A letter, then letters, digits or underscores, `1..=max` characters in all.
fn db_word(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len())
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks the database name parameter `param` (`DBName` of CreateDBInstance, `DatabaseName` of
/// CreateDBCluster and RestoreDBClusterFromSnapshot) for `engine`, as the CreateDBInstance
/// model documents it (docs/fidelity.md §2): a letter, then letters, digits or underscores; at
/// most 63 characters for the PostgreSQL engines, 64 for the MySQL and MariaDB ones. AWS's
/// message says "alphanumeric" yet accepts the underscores its documentation allows.
pub fn database_name(param: &str, engine: &str, value: &str) -> Result<(), crate::RdsError> {
    let max = if postgres_family(engine) { 63 } else { 64 };
    if db_word(value, max) {
        Ok(())
    } else {
        Err(crate::RdsError::InvalidParameterValue(format!(
            "{param} must begin with a letter and contain only alphanumeric characters."
        )))
    }
}

/// Checks `MasterUsername` for `engine` (docs/fidelity.md §2): required (CreateDBCluster, and
/// CreateDBInstance of the engines this emulator builds); a letter, then letters, digits or
/// underscores; at most 63 characters for postgres, 32 for mysql and 16 for mariadb (what AWS
/// accepts today, more than the model's "1 to 16") and 16 for the Aurora engines (the model's
/// figure); not `rdsadmin`, nor `admin` for the PostgreSQL engines.
pub fn master_username(engine: &str, value: Option<&str>) -> Result<(), crate::RdsError> {
    let invalid = |m: String| Err(crate::RdsError::InvalidParameterValue(m));
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return invalid(
            "The parameter MasterUsername must be provided and must not be blank.".into(),
        );
    };
    let max = match engine {
        "postgres" => 63,
        "mysql" => 32,
        _ => 16,
    };
    if !db_word(value, max) {
        return invalid(
            "MasterUsername must begin with a letter and contain only alphanumeric characters."
                .into(),
        );
    }
    let lower = value.to_ascii_lowercase();
    if lower == "rdsadmin" || (lower == "admin" && postgres_family(engine)) {
        return invalid(format!(
            "MasterUsername {value} cannot be used as it is a reserved word used by the engine"
        ));
    }
    Ok(())
}

/// The identifier of the automated snapshot of instance `db` started at `at` (docs/rds.md §1:
/// `rds:<db>-YYYY-MM-DD-HH-MM`).
pub fn automated_snapshot_id(db: &str, at: DateTime<Utc>) -> String {
    format!("rds:{db}-{}", at.format("%Y-%m-%d-%H-%M"))
}

/// A DB snapshot name as operations that accept automated snapshots take it: a manual
/// identifier ([`identifier`]) or `rds:` + a valid instance identifier + the date suffix.
/// Returned lower-cased.
pub fn snapshot_name(param: &str, value: &str) -> Result<String, crate::RdsError> {
    match value.strip_prefix("rds:") {
        Some(rest) if rest.len() > 17 => {
            let (db, stamp) = rest.split_at(rest.len() - 17);
            let stamp_ok = stamp.starts_with('-')
                && chrono::NaiveDateTime::parse_from_str(&stamp[1..], "%Y-%m-%d-%H-%M").is_ok();
            match (identifier(param, db), stamp_ok) {
                (Ok(db), true) => Ok(format!("rds:{db}{stamp}")),
                _ => Err(crate::RdsError::InvalidParameterValue(identifier_message(
                    param,
                ))),
            }
        }
        _ => identifier(param, value),
    }
}

/// A fresh `DbiResourceId`: `db-` + 26 upper-case letters and digits.
pub fn new_dbi_resource_id() -> Result<String, crate::RdsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut raw = [0u8; 26];
    kmsnap_core::ids::random_bytes(&mut raw).map_err(|_| crate::RdsError::Internal("rng"))?;
    let tail: String = raw
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    Ok(format!("db-{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_spec_1() {
        for good in ["a", "MyDb-1", "pg1", &"a".repeat(63)] {
            assert_eq!(
                identifier("DBInstanceIdentifier", good).unwrap(),
                good.to_ascii_lowercase()
            );
        }
        for bad in ["", "1db", "db--1", "db-", "db_1", "db.1", &"a".repeat(64)] {
            let e = identifier("DBSnapshotIdentifier", bad).unwrap_err();
            assert_eq!(
                e,
                crate::RdsError::InvalidParameterValue(identifier_message("DBSnapshotIdentifier")),
                "{bad}"
            );
        }
    }

    /// docs/fidelity.md §2: the recorded refusals ("staging-postgres", "my-svc-dev") and the
    /// per-engine limits of the CreateDBInstance model's `DBName` documentation.
    #[test]
    fn database_names_follow_the_engine_rules() {
        for engine in [
            "postgres",
            "mysql",
            "mariadb",
            "aurora-mysql",
            "aurora-postgresql",
        ] {
            for good in ["app", "app_db", "A1", "x"] {
                assert!(
                    database_name("DBName", engine, good).is_ok(),
                    "{engine} {good}"
                );
            }
            for bad in [
                "staging-postgres",
                "my-svc-dev",
                "1db",
                "_db",
                "",
                "db.x",
                "db$",
            ] {
                let e = database_name("DatabaseName", engine, bad).unwrap_err();
                assert_eq!(
                    e,
                    crate::RdsError::InvalidParameterValue("DatabaseName must begin with a letter and contain only alphanumeric characters.".into()),
                    "{engine} {bad}"
                );
            }
        }
        let (n63, n64) = ("a".repeat(63), "a".repeat(64));
        assert!(database_name("DBName", "postgres", &n63).is_ok());
        assert!(database_name("DBName", "postgres", &n64).is_err());
        assert!(database_name("DBName", "aurora-postgresql", &n64).is_err());
        assert!(database_name("DBName", "mysql", &n64).is_ok());
        assert!(database_name("DBName", "aurora-mysql", &"a".repeat(65)).is_err());
    }

    #[test]
    fn master_usernames_follow_the_engine_rules() {
        let msg = |e: crate::RdsError| match e {
            crate::RdsError::InvalidParameterValue(m) => m,
            other => panic!("{other:?}"),
        };
        for missing in [None, Some("")] {
            assert_eq!(
                msg(master_username("postgres", missing).unwrap_err()),
                "The parameter MasterUsername must be provided and must not be blank."
            );
        }
        assert!(master_username("postgres", Some("postgres")).is_ok());
        assert!(master_username("mysql", Some("admin")).is_ok());
        assert!(master_username("aurora-mysql", Some("admin")).is_ok());
        assert_eq!(
            msg(master_username("postgres", Some("Admin")).unwrap_err()),
            "MasterUsername Admin cannot be used as it is a reserved word used by the engine"
        );
        assert!(master_username("aurora-postgresql", Some("admin")).is_err());
        assert!(master_username("mariadb", Some("rdsadmin")).is_err());
        for bad in ["1user", "user-name", "_u"] {
            assert_eq!(
                msg(master_username("mysql", Some(bad)).unwrap_err()),
                "MasterUsername must begin with a letter and contain only alphanumeric characters."
            );
        }
        // Lengths AWS accepts per engine.
        assert!(master_username("postgres", Some(&"u".repeat(63))).is_ok());
        assert!(master_username("postgres", Some(&"u".repeat(64))).is_err());
        assert!(master_username("mysql", Some(&"u".repeat(32))).is_ok());
        assert!(master_username("mysql", Some(&"u".repeat(33))).is_err());
        assert!(master_username("mariadb", Some(&"u".repeat(16))).is_ok());
        assert!(master_username("mariadb", Some(&"u".repeat(17))).is_err());
        assert!(master_username("aurora-postgresql", Some(&"u".repeat(17))).is_err());
    }

    #[test]
    fn automated_snapshot_names() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 24, 7, 5, 0).unwrap();
        let id = automated_snapshot_id("pg1", at);
        assert_eq!(id, "rds:pg1-2026-11-24-07-05");
        assert_eq!(snapshot_name("DBSnapshotIdentifier", &id).unwrap(), id);
        assert_eq!(
            snapshot_name("DBSnapshotIdentifier", "Manual-1").unwrap(),
            "manual-1"
        );
        for bad in [
            "rds:",
            "rds:pg1",
            "rds:pg1-2026-11-24-07",
            "rds:1db-2026-11-24-07-05",
            "rds:pg1x2026-11-24-07-05",
            "awsbackup:job-1",
        ] {
            assert!(snapshot_name("DBSnapshotIdentifier", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dbi_resource_ids() {
        let id = new_dbi_resource_id().unwrap();
        assert_eq!(id.len(), 29);
        assert!(
            id[3..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{id}"
        );
        assert_ne!(id, new_dbi_resource_id().unwrap());
    }

    #[test]
    fn states_move_forward_through_backing_up() {
        assert_eq!(
            InstanceStatus::Creating.next(),
            Some(InstanceStatus::BackingUp)
        );
        assert_eq!(
            InstanceStatus::BackingUp.next(),
            Some(InstanceStatus::Available)
        );
        assert_eq!(InstanceStatus::Available.next(), None);
        assert_eq!(
            InstanceStatus::Stopping.next(),
            Some(InstanceStatus::Stopped)
        );
        assert_eq!(InstanceStatus::Stopped.next(), None);
        for s in [
            InstanceStatus::Starting,
            InstanceStatus::Rebooting,
            InstanceStatus::Modifying,
        ] {
            assert_eq!(s.next(), Some(InstanceStatus::Available));
        }
    }
}
