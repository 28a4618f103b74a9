//! Tables of Aurora in the MetaStore (keys `{account}/{region}/{identifier}`, as
//! [`crate::store`]):
//!
//! * `rds_clusters` → [`ClusterRecord`]
//! * `rds_cluster_snapshots` → [`ClusterSnapshotRecord`]
//!
//! Records are versioned; the backing EBS records are written in the same transaction.

use super::model::*;
use crate::error::RdsError;
use crate::store::scoped;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{decode_record, encode_record, ReadTxn, WriteTxn};
use serde::de::DeserializeOwned;

pub const T_CLUSTERS: &str = "rds_clusters";
pub const T_CLUSTER_SNAPSHOTS: &str = "rds_cluster_snapshots";

fn get<T: DeserializeOwned>(txn: &dyn ReadTxn, table: &str, key: &[u8]) -> Result<Option<T>, RdsError> {
    match txn.get(table, key)? {
        Some(r) => Ok(Some(decode_record(&r.value)?.1)),
        None => Ok(None),
    }
}

fn scan<T: DeserializeOwned>(txn: &dyn ReadTxn, table: &str, scope: Option<(AccountId, Region)>) -> Result<Vec<T>, RdsError> {
    let prefix = scope.map(|(a, r)| format!("{a}/{r}/")).unwrap_or_default();
    let mut out = Vec::new();
    for (_, r) in txn.scan(table, prefix.as_bytes(), None, usize::MAX)? {
        out.push(decode_record::<T>(&r.value)?.1);
    }
    Ok(out)
}

pub fn get_cluster(txn: &dyn ReadTxn, account: AccountId, region: Region, id: &str) -> Result<Option<ClusterRecord>, RdsError> {
    get(txn, T_CLUSTERS, &scoped(account, region, id))
}

pub fn put_cluster(txn: &mut dyn WriteTxn, r: &ClusterRecord) -> Result<(), RdsError> {
    txn.put(T_CLUSTERS, &scoped(r.account, r.region, &r.identifier), &encode_record(CLUSTER_VERSION, r)?)?;
    Ok(())
}

pub fn delete_cluster(txn: &mut dyn WriteTxn, r: &ClusterRecord) -> Result<(), RdsError> {
    txn.delete(T_CLUSTERS, &scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Clusters of `account` in `region` (or of everyone with `None`), identifier order.
pub fn clusters(txn: &dyn ReadTxn, scope: Option<(AccountId, Region)>) -> Result<Vec<ClusterRecord>, RdsError> {
    scan(txn, T_CLUSTERS, scope)
}

/// The cluster instance `instance` of `account` in `region` belongs to, if any.
pub fn cluster_of_instance(txn: &dyn ReadTxn, account: AccountId, region: Region, instance: &str) -> Result<Option<ClusterRecord>, RdsError> {
    Ok(clusters(txn, Some((account, region)))?.into_iter().find(|c| c.members.iter().any(|m| m == instance)))
}

pub fn get_snapshot(txn: &dyn ReadTxn, account: AccountId, region: Region, id: &str) -> Result<Option<ClusterSnapshotRecord>, RdsError> {
    get(txn, T_CLUSTER_SNAPSHOTS, &scoped(account, region, id))
}

pub fn put_snapshot(txn: &mut dyn WriteTxn, r: &ClusterSnapshotRecord) -> Result<(), RdsError> {
    txn.put(T_CLUSTER_SNAPSHOTS, &scoped(r.account, r.region, &r.identifier), &encode_record(CLUSTER_SNAPSHOT_VERSION, r)?)?;
    Ok(())
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, r: &ClusterSnapshotRecord) -> Result<(), RdsError> {
    txn.delete(T_CLUSTER_SNAPSHOTS, &scoped(r.account, r.region, &r.identifier))?;
    Ok(())
}

/// Cluster snapshots of `account` in `region` (or of everyone with `None`), identifier order.
pub fn snapshots(txn: &dyn ReadTxn, scope: Option<(AccountId, Region)>) -> Result<Vec<ClusterSnapshotRecord>, RdsError> {
    scan(txn, T_CLUSTER_SNAPSHOTS, scope)
}
