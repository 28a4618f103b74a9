//! The RDS query API, one module per family. Operations not built yet keep the generated
//! trait's default: AWS's error envelope with code `NotImplemented`.

pub mod common;
pub mod instances;
pub mod snapshots;

#[cfg(test)]
mod tests;

use crate::error::to_rds;
use crate::Rds;
use kmsnap_api::gen::rds;
use kmsnap_api::AwsError;
use kmsnap_auth::RequestContext;

impl rds::RdsHandler<RequestContext> for Rds {
    async fn create_db_instance(&self, ctx: &RequestContext, input: rds::CreateDBInstanceMessage) -> Result<rds::CreateDBInstanceResult, AwsError> {
        instances::create(self, ctx, input).await.map_err(to_rds)
    }

    async fn describe_db_instances(&self, ctx: &RequestContext, input: rds::DescribeDBInstancesMessage) -> Result<rds::DBInstanceMessage, AwsError> {
        instances::describe(self, ctx, input).await.map_err(to_rds)
    }

    async fn delete_db_instance(&self, ctx: &RequestContext, input: rds::DeleteDBInstanceMessage) -> Result<rds::DeleteDBInstanceResult, AwsError> {
        instances::delete(self, ctx, input).await.map_err(to_rds)
    }

    async fn create_db_snapshot(&self, ctx: &RequestContext, input: rds::CreateDBSnapshotMessage) -> Result<rds::CreateDBSnapshotResult, AwsError> {
        snapshots::create(self, ctx, input).await.map_err(to_rds)
    }

    async fn describe_db_snapshots(&self, ctx: &RequestContext, input: rds::DescribeDBSnapshotsMessage) -> Result<rds::DBSnapshotMessage, AwsError> {
        snapshots::describe(self, ctx, input).await.map_err(to_rds)
    }

    async fn delete_db_snapshot(&self, ctx: &RequestContext, input: rds::DeleteDBSnapshotMessage) -> Result<rds::DeleteDBSnapshotResult, AwsError> {
        snapshots::delete(self, ctx, input).await.map_err(to_rds)
    }

    async fn copy_db_snapshot(&self, ctx: &RequestContext, input: rds::CopyDBSnapshotMessage) -> Result<rds::CopyDBSnapshotResult, AwsError> {
        snapshots::copy(self, ctx, input).await.map_err(to_rds)
    }

    async fn restore_db_instance_from_db_snapshot(
        &self,
        ctx: &RequestContext,
        input: rds::RestoreDBInstanceFromDBSnapshotMessage,
    ) -> Result<rds::RestoreDBInstanceFromDBSnapshotResult, AwsError> {
        snapshots::restore(self, ctx, input).await.map_err(to_rds)
    }
}
