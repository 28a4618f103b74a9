//! The EC2 and EBS direct operations, one module per family. Operations not built yet keep
//! the generated trait's default: AWS's error envelope with code `NotImplemented`.

pub mod common;
pub mod copy;
pub mod direct;
pub mod filters;
pub mod regions;
pub mod settings;
pub mod sharing;
pub mod snapshots;
pub mod tags;
pub mod trail;
pub mod volume_io;
pub mod volumes;

#[cfg(test)]
mod ec2_tests;

use crate::error::{to_ebs, to_ec2};
use crate::Snapshots;
use kmsnap_api::gen::{ebs, ec2};
use kmsnap_api::AwsError;
use kmsnap_auth::RequestContext;

/// The EC2 query API: each operation is its module's function, its error rendered by
/// [`to_ec2`]. AttachVolume / DetachVolume stay unbuilt (no instances).
impl ec2::Ec2Handler<RequestContext> for Snapshots {
    async fn create_volume(
        &self,
        ctx: &RequestContext,
        input: ec2::CreateVolumeRequest,
    ) -> Result<ec2::Volume, AwsError> {
        volumes::create(self, ctx, input).await.map_err(to_ec2)
    }

    async fn describe_volumes(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeVolumesRequest,
    ) -> Result<ec2::DescribeVolumesResult, AwsError> {
        volumes::describe(self, ctx, input).await.map_err(to_ec2)
    }

    async fn delete_volume(
        &self,
        ctx: &RequestContext,
        input: ec2::DeleteVolumeRequest,
    ) -> Result<(), AwsError> {
        volumes::delete(self, ctx, input).await.map_err(to_ec2)
    }

    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        input: ec2::CreateSnapshotRequest,
    ) -> Result<ec2::Snapshot, AwsError> {
        snapshots::create(self, ctx, input).await.map_err(to_ec2)
    }

    async fn describe_snapshots(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeSnapshotsRequest,
    ) -> Result<ec2::DescribeSnapshotsResult, AwsError> {
        snapshots::describe(self, ctx, input).await.map_err(to_ec2)
    }

    async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        input: ec2::DeleteSnapshotRequest,
    ) -> Result<(), AwsError> {
        snapshots::delete(self, ctx, input).await.map_err(to_ec2)
    }

    async fn create_tags(
        &self,
        ctx: &RequestContext,
        input: ec2::CreateTagsRequest,
    ) -> Result<(), AwsError> {
        tags::create(self, ctx, input).await.map_err(to_ec2)
    }

    async fn delete_tags(
        &self,
        ctx: &RequestContext,
        input: ec2::DeleteTagsRequest,
    ) -> Result<(), AwsError> {
        tags::delete(self, ctx, input).await.map_err(to_ec2)
    }

    async fn describe_tags(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeTagsRequest,
    ) -> Result<ec2::DescribeTagsResult, AwsError> {
        tags::describe(self, ctx, input).await.map_err(to_ec2)
    }

    async fn enable_ebs_encryption_by_default(
        &self,
        ctx: &RequestContext,
        input: ec2::EnableEbsEncryptionByDefaultRequest,
    ) -> Result<ec2::EnableEbsEncryptionByDefaultResult, AwsError> {
        settings::enable(self, ctx, input).await.map_err(to_ec2)
    }

    async fn disable_ebs_encryption_by_default(
        &self,
        ctx: &RequestContext,
        input: ec2::DisableEbsEncryptionByDefaultRequest,
    ) -> Result<ec2::DisableEbsEncryptionByDefaultResult, AwsError> {
        settings::disable(self, ctx, input).await.map_err(to_ec2)
    }

    async fn get_ebs_encryption_by_default(
        &self,
        ctx: &RequestContext,
        input: ec2::GetEbsEncryptionByDefaultRequest,
    ) -> Result<ec2::GetEbsEncryptionByDefaultResult, AwsError> {
        settings::get(self, ctx, input).await.map_err(to_ec2)
    }

    async fn get_ebs_default_kms_key_id(
        &self,
        ctx: &RequestContext,
        input: ec2::GetEbsDefaultKmsKeyIdRequest,
    ) -> Result<ec2::GetEbsDefaultKmsKeyIdResult, AwsError> {
        settings::get_key(self, ctx, input).await.map_err(to_ec2)
    }

    async fn modify_ebs_default_kms_key_id(
        &self,
        ctx: &RequestContext,
        input: ec2::ModifyEbsDefaultKmsKeyIdRequest,
    ) -> Result<ec2::ModifyEbsDefaultKmsKeyIdResult, AwsError> {
        settings::modify_key(self, ctx, input).await.map_err(to_ec2)
    }

    async fn reset_ebs_default_kms_key_id(
        &self,
        ctx: &RequestContext,
        input: ec2::ResetEbsDefaultKmsKeyIdRequest,
    ) -> Result<ec2::ResetEbsDefaultKmsKeyIdResult, AwsError> {
        settings::reset_key(self, ctx, input).await.map_err(to_ec2)
    }

    async fn describe_regions(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeRegionsRequest,
    ) -> Result<ec2::DescribeRegionsResult, AwsError> {
        regions::describe_regions(ctx, input).map_err(to_ec2)
    }

    async fn describe_availability_zones(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeAvailabilityZonesRequest,
    ) -> Result<ec2::DescribeAvailabilityZonesResult, AwsError> {
        regions::describe_zones(ctx, input).map_err(to_ec2)
    }

    async fn copy_snapshot(
        &self,
        ctx: &RequestContext,
        input: ec2::CopySnapshotRequest,
    ) -> Result<ec2::CopySnapshotResult, AwsError> {
        copy::copy_snapshot(self, ctx, input).await.map_err(to_ec2)
    }

    async fn modify_snapshot_attribute(
        &self,
        ctx: &RequestContext,
        input: ec2::ModifySnapshotAttributeRequest,
    ) -> Result<(), AwsError> {
        sharing::modify_snapshot_attribute(self, ctx, input)
            .await
            .map_err(to_ec2)
    }

    async fn describe_snapshot_attribute(
        &self,
        ctx: &RequestContext,
        input: ec2::DescribeSnapshotAttributeRequest,
    ) -> Result<ec2::DescribeSnapshotAttributeResult, AwsError> {
        sharing::describe_snapshot_attribute(self, ctx, input)
            .await
            .map_err(to_ec2)
    }

    async fn reset_snapshot_attribute(
        &self,
        ctx: &RequestContext,
        input: ec2::ResetSnapshotAttributeRequest,
    ) -> Result<(), AwsError> {
        sharing::reset_snapshot_attribute(self, ctx, input)
            .await
            .map_err(to_ec2)
    }
}

/// The EBS direct API (`ops::direct`), its errors rendered by [`to_ebs`].
impl ebs::EbsHandler<RequestContext> for Snapshots {
    async fn start_snapshot(
        &self,
        ctx: &RequestContext,
        input: ebs::StartSnapshotRequest,
    ) -> Result<ebs::StartSnapshotResponse, AwsError> {
        direct::start::start_snapshot(self, ctx, input)
            .await
            .map_err(to_ebs)
    }

    async fn put_snapshot_block(
        &self,
        ctx: &RequestContext,
        input: ebs::PutSnapshotBlockRequest,
    ) -> Result<ebs::PutSnapshotBlockResponse, AwsError> {
        direct::write::put_snapshot_block(self, ctx, input)
            .await
            .map_err(to_ebs)
    }

    async fn complete_snapshot(
        &self,
        ctx: &RequestContext,
        input: ebs::CompleteSnapshotRequest,
    ) -> Result<ebs::CompleteSnapshotResponse, AwsError> {
        direct::complete::complete_snapshot(self, ctx, input)
            .await
            .map_err(to_ebs)
    }

    async fn list_snapshot_blocks(
        &self,
        ctx: &RequestContext,
        input: ebs::ListSnapshotBlocksRequest,
    ) -> Result<ebs::ListSnapshotBlocksResponse, AwsError> {
        direct::read::list_snapshot_blocks(self, ctx, input)
            .await
            .map_err(to_ebs)
    }

    async fn list_changed_blocks(
        &self,
        ctx: &RequestContext,
        input: ebs::ListChangedBlocksRequest,
    ) -> Result<ebs::ListChangedBlocksResponse, AwsError> {
        direct::read::list_changed_blocks(self, ctx, input)
            .await
            .map_err(to_ebs)
    }

    async fn get_snapshot_block(
        &self,
        ctx: &RequestContext,
        input: ebs::GetSnapshotBlockRequest,
    ) -> Result<ebs::GetSnapshotBlockResponse, AwsError> {
        direct::read::get_snapshot_block(self, ctx, input)
            .await
            .map_err(to_ebs)
    }
}
