//! Tables of the RDS domain in the MetaStore (keys are `/`-joined text):
//!
//! * `rds_instances` `{account}/{region}/{identifier}` → [`DbInstanceRecord`]
//! * `rds_snapshots` `{account}/{region}/{identifier}` → [`DbSnapshotRecord`]
//! * `rds_replicas` `{account}/{region}/{identifier}` → [`ReplicaRecord`] (read replicas)
//!
//! Every record is versioned ([`kmsnap_store::encode_record`]); the backing EBS records live in
//! `kmsnap-snapshots`' tables and are written in the same transaction.

use crate::error::RdsError;
use crate::model::*;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{decode_record, encode_record, ReadTxn, WriteTxn};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const T_INSTANCES: &str = "rds_instances";
pub const T_SNAPSHOTS: &str = "rds_snapshots";

pub fn scoped(account: AccountId, region: Region, id: &str) -> Vec<u8> {
    format!("{account}/{region}/{id}").into_bytes()
}

/// A record kept in its own table under `{account}/{region}/{identifier}` (instances, snapshots,
/// replicas here; clusters and cluster snapshots in [`crate::cluster::store`]), so one set of
/// get/put/delete/scan helpers serves every table.
pub(crate) trait Scoped: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    const VERSION: u16;
    fn key(&self) -> Vec<u8>;
    /// Completes a record written at `version` (older than [`Self::VERSION`]) with what its
    /// fields' defaults cannot supply, reading `txn`.
    fn upgrade(self, _version: u16, _txn: &dyn ReadTxn) -> Result<Self, RdsError> {
        Ok(self)
    }
}

/// A record decoded from `bytes` and upgraded to `T`'s current version.
fn decode<T: Scoped>(txn: &dyn ReadTxn, bytes: &[u8]) -> Result<T, RdsError> {
    let (version, r) = decode_record::<T>(bytes)?;
    if version < T::VERSION {
        r.upgrade(version, txn)
    } else {
        Ok(r)
    }
}

macro_rules! scoped_record {
    ($ty:ty, $table:expr, $version:expr $(, upgrade = $upgrade:path)?) => {
        impl $crate::store::Scoped for $ty {
            const TABLE: &'static str = $table;
            const VERSION: u16 = $version;
            fn key(&self) -> Vec<u8> {
                $crate::store::scoped(self.account, self.region, &self.identifier)
            }
            $(
                fn upgrade(
                    self,
                    version: u16,
                    txn: &dyn kmsnap_store::ReadTxn,
                ) -> Result<Self, $crate::RdsError> {
                    $upgrade(self, version, txn)
                }
            )?
        }
    };
}
pub(crate) use scoped_record;

scoped_record!(
    DbInstanceRecord,
    T_INSTANCES,
    INSTANCE_VERSION,
    upgrade = upgrade_instance
);

/// Before version 3 an instance's cluster was known only from the cluster records' member
/// lists; it is taken from there.
fn upgrade_instance(
    mut r: DbInstanceRecord,
    version: u16,
    txn: &dyn ReadTxn,
) -> Result<DbInstanceRecord, RdsError> {
    if version < 3 && r.cluster.is_none() {
        r.cluster = scan::<crate::cluster::model::ClusterRecord>(txn, Some((r.account, r.region)))?
            .into_iter()
            .find(|c| c.members.contains(&r.identifier))
            .map(|c| c.identifier);
    }
    Ok(r)
}
scoped_record!(DbSnapshotRecord, T_SNAPSHOTS, SNAPSHOT_VERSION);
scoped_record!(ReplicaRecord, T_REPLICAS, REPLICA_VERSION);

pub(crate) fn get<T: Scoped>(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<T>, RdsError> {
    match txn.get(T::TABLE, &scoped(account, region, id))? {
        Some(r) => Ok(Some(decode(txn, &r.value)?)),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Scoped>(txn: &mut dyn WriteTxn, r: &T) -> Result<(), RdsError> {
    txn.put(T::TABLE, &r.key(), &encode_record(T::VERSION, r)?)?;
    Ok(())
}

pub(crate) fn delete<T: Scoped>(txn: &mut dyn WriteTxn, r: &T) -> Result<(), RdsError> {
    txn.delete(T::TABLE, &r.key())?;
    Ok(())
}

/// Every record of `T`'s table under `scope` (`None`: every account and region), key order.
pub(crate) fn scan<T: Scoped>(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<T>, RdsError> {
    let prefix = scope.map(|(a, r)| format!("{a}/{r}/")).unwrap_or_default();
    let mut out = Vec::new();
    for (_, r) in txn.scan(T::TABLE, prefix.as_bytes(), None, usize::MAX)? {
        out.push(decode(txn, &r.value)?);
    }
    Ok(out)
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

/// `rds_replicas` `{account}/{region}/{replica identifier}` → [`ReplicaRecord`].
pub const T_REPLICAS: &str = "rds_replicas";

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
