//! Aurora DB clusters and DB cluster snapshots (docs/rds.md §1–§8).
//!
//! A cluster *is* its storage: one EBS volume managed by RDS, its data key generated through
//! RDS under the cluster's key with context `{"aws:rds:dbc-id": DbClusterResourceId}`. Its
//! instances are DB instance records (table `rds_instances`) pointing at that volume, naming
//! the cluster (`cluster`) and listed in the cluster's `members` (both kept in one transaction); they always have the cluster's encryption (docs/rds.md §3).
//!
//! * [`model`]: [`model::ClusterRecord`], [`model::ClusterSnapshotRecord`] and their states.
//! * [`store`]: tables `rds_clusters`, `rds_cluster_snapshots`.
//! * [`ops`]: the cluster operations and the Aurora side of the instance operations.
//! * [`snapshots`]: cluster snapshots: create, copy (re-key, cross-region, shared), restore,
//!   sharing.
//! * Tags of clusters and cluster snapshots are in [`crate::ops::tags`].
//! * [`workers`]: cluster transitions, snapshot progress and automated cluster snapshots.
//!   Key loss is [`crate::keystate`]'s.
//!
//! Errors are RDS's ([`crate::RdsError`]): one type and one mapping for instances and clusters.

pub mod model;
pub mod ops;
pub mod snapshots;
pub mod store;
pub mod workers;

#[cfg(test)]
mod tests;
