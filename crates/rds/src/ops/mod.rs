//! The RDS query API, one module per family. Operations not built yet keep the generated
//! trait's default: AWS's error envelope with code `NotImplemented`.

pub mod common;
pub mod instances;
pub mod replicas;
pub mod sharing;
pub mod snapshots;
pub mod tags;

#[cfg(test)]
mod tests;

use crate::cluster;
use crate::error::to_rds;
use crate::Rds;
use kmsnap_api::gen::rds;
use kmsnap_api::AwsError;
use kmsnap_auth::RequestContext;

impl rds::RdsHandler<RequestContext> for Rds {
    // --- Aurora clusters and cluster snapshots (crate::cluster) -----------------------------
    async fn create_db_cluster(
        &self,
        ctx: &RequestContext,
        input: rds::CreateDBClusterMessage,
    ) -> Result<rds::CreateDBClusterResult, AwsError> {
        cluster::ops::create(self, ctx, input).await.map_err(to_rds)
    }

    async fn describe_db_clusters(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBClustersMessage,
    ) -> Result<rds::DBClusterMessage, AwsError> {
        cluster::ops::describe(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn modify_db_cluster(
        &self,
        ctx: &RequestContext,
        input: rds::ModifyDBClusterMessage,
    ) -> Result<rds::ModifyDBClusterResult, AwsError> {
        cluster::ops::modify(self, ctx, input).await.map_err(to_rds)
    }

    async fn delete_db_cluster(
        &self,
        ctx: &RequestContext,
        input: rds::DeleteDBClusterMessage,
    ) -> Result<rds::DeleteDBClusterResult, AwsError> {
        cluster::ops::delete(self, ctx, input).await.map_err(to_rds)
    }

    async fn start_db_cluster(
        &self,
        ctx: &RequestContext,
        input: rds::StartDBClusterMessage,
    ) -> Result<rds::StartDBClusterResult, AwsError> {
        cluster::ops::start(self, ctx, input).await.map_err(to_rds)
    }

    async fn stop_db_cluster(
        &self,
        ctx: &RequestContext,
        input: rds::StopDBClusterMessage,
    ) -> Result<rds::StopDBClusterResult, AwsError> {
        cluster::ops::stop(self, ctx, input).await.map_err(to_rds)
    }

    async fn create_db_cluster_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::CreateDBClusterSnapshotMessage,
    ) -> Result<rds::CreateDBClusterSnapshotResult, AwsError> {
        cluster::snapshots::create(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn describe_db_cluster_snapshots(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBClusterSnapshotsMessage,
    ) -> Result<rds::DBClusterSnapshotMessage, AwsError> {
        cluster::snapshots::describe(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn delete_db_cluster_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::DeleteDBClusterSnapshotMessage,
    ) -> Result<rds::DeleteDBClusterSnapshotResult, AwsError> {
        cluster::snapshots::delete(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn copy_db_cluster_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::CopyDBClusterSnapshotMessage,
    ) -> Result<rds::CopyDBClusterSnapshotResult, AwsError> {
        cluster::snapshots::copy(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn restore_db_cluster_from_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::RestoreDBClusterFromSnapshotMessage,
    ) -> Result<rds::RestoreDBClusterFromSnapshotResult, AwsError> {
        cluster::snapshots::restore(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn modify_db_cluster_snapshot_attribute(
        &self,
        ctx: &RequestContext,
        input: rds::ModifyDBClusterSnapshotAttributeMessage,
    ) -> Result<rds::ModifyDBClusterSnapshotAttributeResult, AwsError> {
        cluster::snapshots::modify_attribute(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn describe_db_cluster_snapshot_attributes(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBClusterSnapshotAttributesMessage,
    ) -> Result<rds::DescribeDBClusterSnapshotAttributesResult, AwsError> {
        cluster::snapshots::describe_attributes(self, ctx, input)
            .await
            .map_err(to_rds)
    }
    // --- end of Aurora ----------------------------------------------------------------------

    async fn create_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::CreateDBInstanceMessage,
    ) -> Result<rds::CreateDBInstanceResult, AwsError> {
        // Aurora instances join their cluster (crate::cluster).
        if cluster::ops::is_member_request(&input) {
            return cluster::ops::create_instance(self, ctx, input)
                .await
                .map_err(to_rds);
        }
        instances::create(self, ctx, input).await.map_err(to_rds)
    }

    async fn describe_db_instances(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBInstancesMessage,
    ) -> Result<rds::DBInstanceMessage, AwsError> {
        instances::describe(self, ctx, input).await.map_err(to_rds)
    }

    async fn delete_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::DeleteDBInstanceMessage,
    ) -> Result<rds::DeleteDBInstanceResult, AwsError> {
        // An Aurora instance leaves its cluster (instances::delete).
        instances::delete(self, ctx, input).await.map_err(to_rds)
    }

    async fn create_db_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::CreateDBSnapshotMessage,
    ) -> Result<rds::CreateDBSnapshotResult, AwsError> {
        snapshots::create(self, ctx, input).await.map_err(to_rds)
    }

    async fn describe_db_snapshots(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBSnapshotsMessage,
    ) -> Result<rds::DBSnapshotMessage, AwsError> {
        snapshots::describe(self, ctx, input).await.map_err(to_rds)
    }

    async fn delete_db_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::DeleteDBSnapshotMessage,
    ) -> Result<rds::DeleteDBSnapshotResult, AwsError> {
        snapshots::delete(self, ctx, input).await.map_err(to_rds)
    }

    async fn copy_db_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::CopyDBSnapshotMessage,
    ) -> Result<rds::CopyDBSnapshotResult, AwsError> {
        snapshots::copy(self, ctx, input).await.map_err(to_rds)
    }

    async fn restore_db_instance_from_db_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::RestoreDBInstanceFromDBSnapshotMessage,
    ) -> Result<rds::RestoreDBInstanceFromDBSnapshotResult, AwsError> {
        snapshots::restore(self, ctx, input).await.map_err(to_rds)
    }

    async fn modify_db_snapshot_attribute(
        &self,
        ctx: &RequestContext,
        input: rds::ModifyDBSnapshotAttributeMessage,
    ) -> Result<rds::ModifyDBSnapshotAttributeResult, AwsError> {
        sharing::modify_attribute(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn describe_db_snapshot_attributes(
        &self,
        ctx: &RequestContext,
        input: rds::DescribeDBSnapshotAttributesMessage,
    ) -> Result<rds::DescribeDBSnapshotAttributesResult, AwsError> {
        sharing::describe_attributes(self, ctx, input)
            .await
            .map_err(to_rds)
    }

    async fn add_tags_to_resource(
        &self,
        ctx: &RequestContext,
        input: rds::AddTagsToResourceMessage,
    ) -> Result<(), AwsError> {
        tags::add(self, ctx, input).await.map_err(to_rds)
    }

    async fn remove_tags_from_resource(
        &self,
        ctx: &RequestContext,
        input: rds::RemoveTagsFromResourceMessage,
    ) -> Result<(), AwsError> {
        tags::remove(self, ctx, input).await.map_err(to_rds)
    }

    async fn list_tags_for_resource(
        &self,
        ctx: &RequestContext,
        input: rds::ListTagsForResourceMessage,
    ) -> Result<rds::TagListMessage, AwsError> {
        tags::list(self, ctx, input).await.map_err(to_rds)
    }

    async fn modify_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::ModifyDBInstanceMessage,
    ) -> Result<rds::ModifyDBInstanceResult, AwsError> {
        instances::modify(self, ctx, input).await.map_err(to_rds)
    }

    async fn stop_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::StopDBInstanceMessage,
    ) -> Result<rds::StopDBInstanceResult, AwsError> {
        instances::stop(self, ctx, input).await.map_err(to_rds)
    }

    async fn start_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::StartDBInstanceMessage,
    ) -> Result<rds::StartDBInstanceResult, AwsError> {
        instances::start(self, ctx, input).await.map_err(to_rds)
    }

    async fn reboot_db_instance(
        &self,
        ctx: &RequestContext,
        input: rds::RebootDBInstanceMessage,
    ) -> Result<rds::RebootDBInstanceResult, AwsError> {
        instances::reboot(self, ctx, input).await.map_err(to_rds)
    }

    async fn create_db_instance_read_replica(
        &self,
        ctx: &RequestContext,
        input: rds::CreateDBInstanceReadReplicaMessage,
    ) -> Result<rds::CreateDBInstanceReadReplicaResult, AwsError> {
        replicas::create(self, ctx, input).await.map_err(to_rds)
    }
}
