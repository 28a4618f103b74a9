//! Tables of Aurora in the MetaStore (keys `{account}/{region}/{identifier}`, as
//! [`crate::store`]):
//!
//! * `rds_clusters` → [`ClusterRecord`]
//! * `rds_cluster_snapshots` → [`ClusterSnapshotRecord`]
//!
//! Typed tables of versioned records (docs/storage.md §2); the backing storage is written in
//! the same transaction.

use super::model::*;
use crate::error::RdsError;
use crate::store::{delete, get, put, scan, scoped_record};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, WriteTxn};

pub const T_CLUSTERS: &str = "rds_clusters";
pub const T_CLUSTER_SNAPSHOTS: &str = "rds_cluster_snapshots";

// Both records are at their first version (docs/storage.md §2).
kmsnap_store::first_version!(ClusterRecord, ClusterSnapshotRecord);
const _: () = assert!(CLUSTER_VERSION == 1 && CLUSTER_SNAPSHOT_VERSION == 1);
scoped_record!(ClusterRecord, T_CLUSTERS);
scoped_record!(ClusterSnapshotRecord, T_CLUSTER_SNAPSHOTS);

pub fn get_cluster(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<ClusterRecord>, RdsError> {
    get(txn, account, region, id)
}

pub fn put_cluster(txn: &mut dyn WriteTxn, r: &ClusterRecord) -> Result<(), RdsError> {
    put(txn, r)
}

pub fn delete_cluster(txn: &mut dyn WriteTxn, r: &ClusterRecord) -> Result<(), RdsError> {
    delete(txn, r)
}

/// Clusters of `account` in `region` (or of everyone with `None`), identifier order.
pub fn clusters(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<ClusterRecord>, RdsError> {
    scan(txn, scope)
}

/// The cluster instance `rec` belongs to (the one its record names), if any and if it exists.
pub fn cluster_of(
    txn: &dyn ReadTxn,
    rec: &crate::model::DbInstanceRecord,
) -> Result<Option<ClusterRecord>, RdsError> {
    match &rec.cluster {
        Some(id) => get_cluster(txn, rec.account, rec.region, id),
        None => Ok(None),
    }
}

/// Refuses `ops` on instance `rec` if it is an Aurora instance and one of them is refused
/// ([`MemberOp::refusal`]); otherwise its cluster, if any. Called inside the operation's own
/// transaction, so the check and the write it guards see one state.
pub fn check_member(
    txn: &dyn ReadTxn,
    rec: &crate::model::DbInstanceRecord,
    ops: &[MemberOp],
) -> Result<Option<ClusterRecord>, RdsError> {
    let cluster = cluster_of(txn, rec)?;
    if let Some(c) = &cluster {
        if let Some(e) = ops.iter().find_map(|op| op.refusal(&rec.identifier, c)) {
            return Err(e);
        }
    }
    Ok(cluster)
}

pub fn get_snapshot(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<ClusterSnapshotRecord>, RdsError> {
    get(txn, account, region, id)
}

pub fn put_snapshot(txn: &mut dyn WriteTxn, r: &ClusterSnapshotRecord) -> Result<(), RdsError> {
    put(txn, r)
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, r: &ClusterSnapshotRecord) -> Result<(), RdsError> {
    delete(txn, r)
}

/// Cluster snapshots of `account` in `region` (or of everyone with `None`), identifier order.
pub fn snapshots(
    txn: &dyn ReadTxn,
    scope: Option<(AccountId, Region)>,
) -> Result<Vec<ClusterSnapshotRecord>, RdsError> {
    scan(txn, scope)
}
