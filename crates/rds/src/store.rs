//! Tables of the RDS domain in the MetaStore (keys are `/`-joined text):
//!
//! * `rds_instances` `{account}/{region}/{identifier}` → [`DbInstanceRecord`]
//! * `rds_snapshots` `{account}/{region}/{identifier}` → [`DbSnapshotRecord`]
//! * `rds_replicas` `{account}/{region}/{identifier}` → [`ReplicaRecord`] (read replicas)
//!
//! Every table is a typed [`Table`] of versioned records (docs/storage.md §2): reading
//! upgrades what an older build wrote through the record's [`Versioned`] chain, declared here.
//! The backing storage lives in `kmsnap-snapshots`' tables and is written in the same
//! transaction (docs/managed-storage.md §1).

use crate::cluster::model::ClusterRecord;
use crate::error::RdsError;
use crate::model::*;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{first_version, ReadTxn, Table, Versioned, WriteTxn};
use serde::{Deserialize, Serialize};

pub const T_INSTANCES: &str = "rds_instances";
pub const T_SNAPSHOTS: &str = "rds_snapshots";
/// `rds_replicas` `{account}/{region}/{replica identifier}` → [`ReplicaRecord`].
pub const T_REPLICAS: &str = "rds_replicas";

pub fn scoped(account: AccountId, region: Region, id: &str) -> Vec<u8> {
    format!("{account}/{region}/{id}").into_bytes()
}

/// A record kept in its own table under `{account}/{region}/{identifier}` (instances, snapshots,
/// replicas here; clusters and cluster snapshots in [`crate::cluster::store`]), so one set of
/// get/put/delete/scan helpers serves every table.
pub(crate) trait Scoped: Clone {
    /// What the table holds: the record itself, or a wrapper that marks what an upgrade could
    /// not fill from the old record alone ([`StoredInstance`]).
    type Stored: Versioned + serde::Serialize + From<Self>;
    const TABLE: Table<Self::Stored>;
    fn key(&self) -> Vec<u8>;
    /// The record `stored` holds, completed from other records of `txn` where its upgrade left
    /// something to find.
    fn complete(stored: Self::Stored, txn: &dyn ReadTxn) -> Result<Self, RdsError>;
}

/// Implements [`Scoped`] for a record stored as itself in table `$table`.
macro_rules! scoped_record {
    ($ty:ty, $table:expr) => {
        impl $crate::store::Scoped for $ty {
            type Stored = $ty;
            const TABLE: kmsnap_store::Table<$ty> = kmsnap_store::Table::new($table);
            fn key(&self) -> Vec<u8> {
                $crate::store::scoped(self.account, self.region, &self.identifier)
            }
            fn complete(
                stored: $ty,
                _txn: &dyn kmsnap_store::ReadTxn,
            ) -> Result<$ty, $crate::RdsError> {
                Ok(stored)
            }
        }
    };
}
pub(crate) use scoped_record;

/// Declares `$old` as version `$v` of a record whose version `$v + 1` is `$new`, both read with
/// `$rec`'s shape: the fields added since have serde defaults, so the upgrade only re-labels.
macro_rules! same_shape_version {
    ($(#[$doc:meta])* $old:ident = $v:literal of $rec:ty, then $new:ty) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $old($rec);

        impl Versioned for $new {
            const VERSION: u16 = $v + 1;
            type Previous = $old;
            fn upgrade(previous: $old) -> Self {
                previous.0.into()
            }
        }
    };
}

// DB snapshots: 2 added `shared_with`, `public`, `source_region` (v1 reads as private,
// same-region).
same_shape_version!(
    /// Version 1 of a DB snapshot record.
    DbSnapshotV1 = 1 of DbSnapshotRecord, then DbSnapshotRecord
);
first_version!(DbSnapshotV1);
const _: () = assert!(<DbSnapshotRecord as Versioned>::VERSION == SNAPSHOT_VERSION);
scoped_record!(DbSnapshotRecord, T_SNAPSHOTS);

// Read replicas: 2 added a role-session caller's session policies (v1 reads with none).
same_shape_version!(
    /// Version 1 of a read-replica record.
    ReplicaV1 = 1 of ReplicaRecord, then ReplicaRecord
);
first_version!(ReplicaV1);
const _: () = assert!(<ReplicaRecord as Versioned>::VERSION == REPLICA_VERSION);
scoped_record!(ReplicaRecord, T_REPLICAS);

// DB instances: 2 added `copy_tags_to_snapshot`, `deletion_protection`,
// `last_automated_backup`, `status_since` (v1 reads with their defaults); 3 added `cluster`,
// which a version-2 record lacks and the clusters' member lists supply ([`StoredInstance`]).
same_shape_version!(
    /// Version 1 of a DB instance record.
    InstanceV1 = 1 of DbInstanceRecord, then InstanceV2
);
first_version!(InstanceV1);
/// Version 2 of a DB instance record.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceV2(DbInstanceRecord);

impl From<DbInstanceRecord> for InstanceV2 {
    fn from(r: DbInstanceRecord) -> Self {
        InstanceV2(r)
    }
}

/// A DB instance record as stored (version 3): the record, and whether it was upgraded from a
/// version that did not name the instance's cluster, which [`Scoped::complete`] then takes from
/// the member lists of the cluster records.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredInstance {
    record: DbInstanceRecord,
    #[serde(skip)]
    cluster_unknown: bool,
}

impl Versioned for StoredInstance {
    const VERSION: u16 = INSTANCE_VERSION;
    type Previous = InstanceV2;
    fn upgrade(v2: InstanceV2) -> Self {
        StoredInstance {
            record: v2.0,
            cluster_unknown: true,
        }
    }
}

impl From<DbInstanceRecord> for StoredInstance {
    fn from(record: DbInstanceRecord) -> Self {
        StoredInstance {
            record,
            cluster_unknown: false,
        }
    }
}

impl Scoped for DbInstanceRecord {
    type Stored = StoredInstance;
    const TABLE: Table<StoredInstance> = Table::new(T_INSTANCES);

    fn key(&self) -> Vec<u8> {
        scoped(self.account, self.region, &self.identifier)
    }

    fn complete(stored: StoredInstance, txn: &dyn ReadTxn) -> Result<Self, RdsError> {
        let mut r = stored.record;
        if stored.cluster_unknown && r.cluster.is_none() {
            r.cluster = scan::<ClusterRecord>(txn, Some((r.account, r.region)))?
                .into_iter()
                .find(|c| c.members.contains(&r.identifier))
                .map(|c| c.identifier);
        }
        Ok(r)
    }
}

pub(crate) fn get<T: Scoped>(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<T>, RdsError> {
    match T::TABLE.get(txn, &scoped(account, region, id))? {
        Some(s) => Ok(Some(T::complete(s, txn)?)),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Scoped>(txn: &mut dyn WriteTxn, r: &T) -> Result<(), RdsError> {
    T::TABLE.put(txn, &r.key(), &T::Stored::from(r.clone()))?;
    Ok(())
}

pub(crate) fn delete<T: Scoped>(txn: &mut dyn WriteTxn, r: &T) -> Result<(), RdsError> {
    T::TABLE.delete(txn, &r.key())?;
    Ok(())
}

/// Every record of `T`'s table under `scope` (`None`: every account and region), key order.
pub(crate) fn scan<T: Scoped>(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<T>, RdsError> {
    let prefix = scope.map(|(a, r)| format!("{a}/{r}/")).unwrap_or_default();
    T::TABLE
        .scan(txn, prefix.as_bytes(), None, usize::MAX)?
        .into_iter()
        .map(|(_, _, s)| T::complete(s, txn))
        .collect()
}

pub fn get_instance(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<DbInstanceRecord>, RdsError> {
    get(txn, account, region, id)
}

pub fn put_instance(txn: &mut dyn WriteTxn, r: &DbInstanceRecord) -> Result<(), RdsError> {
    put(txn, r)
}

pub fn delete_instance(txn: &mut dyn WriteTxn, r: &DbInstanceRecord) -> Result<(), RdsError> {
    delete(txn, r)
}

/// Instances of `account` in `region` (or of everyone with `None`), identifier order.
pub fn instances(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<DbInstanceRecord>, RdsError> {
    scan(txn, scope)
}

pub fn get_snapshot(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<DbSnapshotRecord>, RdsError> {
    get(txn, account, region, id)
}

pub fn put_snapshot(txn: &mut dyn WriteTxn, r: &DbSnapshotRecord) -> Result<(), RdsError> {
    put(txn, r)
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, r: &DbSnapshotRecord) -> Result<(), RdsError> {
    delete(txn, r)
}

/// Snapshots of `account` in `region` (or of everyone with `None`), identifier order.
pub fn snapshots(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<DbSnapshotRecord>, RdsError> {
    scan(txn, scope)
}

pub fn get_replica(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<ReplicaRecord>, RdsError> {
    get(txn, account, region, id)
}

pub fn put_replica(txn: &mut dyn WriteTxn, r: &ReplicaRecord) -> Result<(), RdsError> {
    put(txn, r)
}

pub fn delete_replica(txn: &mut dyn WriteTxn, r: &ReplicaRecord) -> Result<(), RdsError> {
    delete(txn, r)
}

/// Every read replica (of every account and region).
pub fn replicas(txn: &dyn ReadTxn) -> Result<Vec<ReplicaRecord>, RdsError> {
    scan(txn, None)
}

/// Is (account, region, id) a replica or a source of one?
pub fn in_replication(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<bool, RdsError> {
    Ok(replicas(txn)?.iter().any(|r| {
        r.account == account
            && ((r.region == region && r.identifier == id)
                || (r.source_region == region && r.source_identifier == id))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsnap_store::encode_record;

    fn account() -> AccountId {
        AccountId::parse("111122223333").unwrap()
    }

    fn region() -> Region {
        Region::parse("us-east-1").unwrap()
    }

    /// `value` without the fields a later version added.
    fn without(value: &impl Serialize, fields: &[&str]) -> serde_json::Value {
        let mut v = serde_json::to_value(value).unwrap();
        for f in fields {
            v.as_object_mut().unwrap().remove(*f).unwrap();
        }
        v
    }

    /// DB snapshot records as earlier builds wrote them: version 1 (no sharing fields) reads as
    /// private and same-region; version 2 (today's bytes) reads unchanged; a version no build
    /// wrote is corrupt, never misread.
    #[test]
    fn snapshot_records_of_every_version_read_through_the_chain() {
        let (meta, _) = kmsnap_store::open_memory();
        let old = crate::testenv::snapshot_record("111122223333", "manual");
        let today = DbSnapshotRecord {
            identifier: "t".into(),
            public: true,
            shared_with: vec![AccountId::parse("444455556666").unwrap()],
            source_region: Some(Region::parse("eu-west-1").unwrap()),
            ..old.clone()
        };
        let mut txn = meta.write().unwrap();
        let v1 = without(&old, &["shared_with", "public", "source_region"]);
        txn.put(T_SNAPSHOTS, &old.key(), &encode_record(1, &v1).unwrap())
            .unwrap();
        txn.put(
            T_SNAPSHOTS,
            &today.key(),
            &encode_record(2, &today).unwrap(),
        )
        .unwrap();
        let future = DbSnapshotRecord {
            identifier: "u".into(),
            ..old.clone()
        };
        txn.put(
            T_SNAPSHOTS,
            &future.key(),
            &encode_record(3, &future).unwrap(),
        )
        .unwrap();
        txn.commit().unwrap();
        let txn = meta.read().unwrap();
        let read = |id| get_snapshot(&*txn, account(), region(), id);
        assert_eq!(read("s").unwrap(), Some(old));
        assert_eq!(read("t").unwrap(), Some(today));
        assert!(read("u").is_err());
    }

    /// A version-1 instance record (before `copy_tags_to_snapshot` … `status_since`, and before
    /// `cluster`) reads with their defaults and, belonging to no cluster, no cluster; what a
    /// typed table writes today is byte for byte what the untyped code wrote (version 3).
    #[tokio::test]
    async fn instance_records_of_version_1_and_today_read_unchanged() {
        let env = crate::testenv::TestEnv::new(7);
        let ctx = env.ctx_as("111122223333", "us-east-1", "");
        env.create_instance(&ctx, "pg", None, None).await.unwrap();
        let rec = env.instance_record(&ctx, "pg");
        let stored = env
            .rds
            .meta
            .read()
            .unwrap()
            .get(T_INSTANCES, &rec.key())
            .unwrap()
            .unwrap();
        assert_eq!(stored.value, encode_record(3, &rec).unwrap());

        let v1 = without(
            &rec,
            &[
                "copy_tags_to_snapshot",
                "deletion_protection",
                "last_automated_backup",
                "status_since",
                "cluster",
            ],
        );
        let mut txn = env.rds.meta.write().unwrap();
        txn.put(T_INSTANCES, &rec.key(), &encode_record(1, &v1).unwrap())
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            env.instance_record(&ctx, "pg"),
            DbInstanceRecord {
                status_since: None,
                ..rec
            }
        );
    }
}
