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

pub const T_INSTANCES: &str = "rds_instances";
pub const T_SNAPSHOTS: &str = "rds_snapshots";

pub fn scoped(account: AccountId, region: Region, id: &str) -> Vec<u8> {
    format!("{account}/{region}/{id}").into_bytes()
}

fn get<T: DeserializeOwned>(txn: &dyn ReadTxn, table: &str, key: &[u8]) -> Result<Option<T>, RdsError> {
    match txn.get(table, key)? {
        Some(r) => Ok(Some(decode_record(&r.value)?.1)),
        None => Ok(None),
    }
}

/// Every record of `table` under `scope` (`None`: every account and region), key order.
fn scan<T: DeserializeOwned>(txn: &dyn ReadTxn, table: &str, scope: Option<(AccountId, Region)>) -> Result<Vec<T>, RdsError> {
    let prefix = scope.map(|(a, r)| format!("{a}/{r}/")).unwrap_or_default();
    let mut out = Vec::new();
    for (_, r) in txn.scan(table, prefix.as_bytes(), None, usize::MAX)? {
        out.push(decode_record::<T>(&r.value)?.1);
    }
    Ok(out)
}

pub fn get_instance(txn: &dyn ReadTxn, account: AccountId, region: Region, id: &str) -> Result<Option<DbInstanceRecord>, RdsError> {
    get(txn, T_INSTANCES, &scoped(account, region, id))
}

pub fn put_instance(txn: &mut dyn WriteTxn, r: &DbInstanceRecord) -> Result<(), RdsError> {
    txn.put(T_INSTANCES, &scoped(r.account, r.region, &r.identifier), &encode_record(INSTANCE_VERSION, r)?)?;
    Ok(())
}

pub fn delete_instance(txn: &mut dyn WriteTxn, r: &DbInstanceRecord) -> Result<(), RdsError> {
    txn.delete(T_INSTANCES, &scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Instances of `account` in `region` (or of everyone with `None`), identifier order.
pub fn instances(txn: &dyn ReadTxn, scope: Option<(AccountId, Region)>) -> Result<Vec<DbInstanceRecord>, RdsError> {
    scan(txn, T_INSTANCES, scope)
}

pub fn get_snapshot(txn: &dyn ReadTxn, account: AccountId, region: Region, id: &str) -> Result<Option<DbSnapshotRecord>, RdsError> {
    get(txn, T_SNAPSHOTS, &scoped(account, region, id))
}

pub fn put_snapshot(txn: &mut dyn WriteTxn, r: &DbSnapshotRecord) -> Result<(), RdsError> {
    txn.put(T_SNAPSHOTS, &scoped(r.account, r.region, &r.identifier), &encode_record(SNAPSHOT_VERSION, r)?)?;
    Ok(())
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, r: &DbSnapshotRecord) -> Result<(), RdsError> {
    txn.delete(T_SNAPSHOTS, &scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Snapshots of `account` in `region` (or of everyone with `None`), identifier order.
pub fn snapshots(txn: &dyn ReadTxn, scope: Option<(AccountId, Region)>) -> Result<Vec<DbSnapshotRecord>, RdsError> {
    scan(txn, T_SNAPSHOTS, scope)
}

/// `rds_replicas` `{account}/{region}/{replica identifier}` → [`ReplicaRecord`].
pub const T_REPLICAS: &str = "rds_replicas";

pub fn get_replica(txn: &dyn ReadTxn, account: AccountId, region: Region, id: &str) -> Result<Option<ReplicaRecord>, RdsError> {
    get(txn, T_REPLICAS, &scoped(account, region, id))
}

pub fn put_replica(txn: &mut dyn WriteTxn, r: &ReplicaRecord) -> Result<(), RdsError> {
    txn.put(T_REPLICAS, &scoped(r.account, r.region, &r.identifier), &encode_record(REPLICA_VERSION, r)?)?;
    Ok(())
}

pub fn delete_replica(txn: &mut dyn WriteTxn, r: &ReplicaRecord) -> Result<(), RdsError> {
    txn.delete(T_REPLICAS, &scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Every read replica (of every account and region).
pub fn replicas(txn: &dyn ReadTxn) -> Result<Vec<ReplicaRecord>, RdsError> {
    scan(txn, T_REPLICAS, None)
}
