//! The generated `BackupHandler` of [`Backup`]: the vault operations ([`vaults`], [`policy`]),
//! backup jobs ([`jobs`]) and recovery points ([`points`]) are built; every other operation
//! keeps the trait's `NotImplemented` default.

pub mod jobs;
pub mod points;
pub mod policy;
pub mod vaults;

use crate::error::to_wire;
use crate::Backup;
use kmsnap_api::gen::backup::*;
use kmsnap_api::AwsError;
use kmsnap_auth::RequestContext;

impl BackupHandler<RequestContext> for Backup {
    async fn create_backup_vault(
        &self,
        ctx: &RequestContext,
        input: CreateBackupVaultInput,
    ) -> Result<CreateBackupVaultOutput, AwsError> {
        vaults::create(self, ctx, input).await.map_err(to_wire)
    }

    async fn describe_backup_vault(
        &self,
        ctx: &RequestContext,
        input: DescribeBackupVaultInput,
    ) -> Result<DescribeBackupVaultOutput, AwsError> {
        vaults::describe(self, ctx, input).await.map_err(to_wire)
    }

    async fn list_backup_vaults(
        &self,
        ctx: &RequestContext,
        input: ListBackupVaultsInput,
    ) -> Result<ListBackupVaultsOutput, AwsError> {
        vaults::list(self, ctx, input).await.map_err(to_wire)
    }

    async fn delete_backup_vault(
        &self,
        ctx: &RequestContext,
        input: DeleteBackupVaultInput,
    ) -> Result<(), AwsError> {
        vaults::delete(self, ctx, input).await.map_err(to_wire)
    }

    async fn put_backup_vault_access_policy(
        &self,
        ctx: &RequestContext,
        input: PutBackupVaultAccessPolicyInput,
    ) -> Result<(), AwsError> {
        policy::put_access_policy(self, ctx, input)
            .await
            .map_err(to_wire)
    }

    async fn get_backup_vault_access_policy(
        &self,
        ctx: &RequestContext,
        input: GetBackupVaultAccessPolicyInput,
    ) -> Result<GetBackupVaultAccessPolicyOutput, AwsError> {
        policy::get_access_policy(self, ctx, input)
            .await
            .map_err(to_wire)
    }

    async fn delete_backup_vault_access_policy(
        &self,
        ctx: &RequestContext,
        input: DeleteBackupVaultAccessPolicyInput,
    ) -> Result<(), AwsError> {
        policy::delete_access_policy(self, ctx, input)
            .await
            .map_err(to_wire)
    }

    async fn put_backup_vault_lock_configuration(
        &self,
        ctx: &RequestContext,
        input: PutBackupVaultLockConfigurationInput,
    ) -> Result<(), AwsError> {
        policy::put_lock(self, ctx, input).await.map_err(to_wire)
    }

    async fn delete_backup_vault_lock_configuration(
        &self,
        ctx: &RequestContext,
        input: DeleteBackupVaultLockConfigurationInput,
    ) -> Result<(), AwsError> {
        policy::delete_lock(self, ctx, input).await.map_err(to_wire)
    }

    async fn tag_resource(
        &self,
        ctx: &RequestContext,
        input: TagResourceInput,
    ) -> Result<(), AwsError> {
        vaults::tag(self, ctx, input).await.map_err(to_wire)
    }

    async fn untag_resource(
        &self,
        ctx: &RequestContext,
        input: UntagResourceInput,
    ) -> Result<(), AwsError> {
        vaults::untag(self, ctx, input).await.map_err(to_wire)
    }

    async fn list_tags(
        &self,
        ctx: &RequestContext,
        input: ListTagsInput,
    ) -> Result<ListTagsOutput, AwsError> {
        vaults::list_tags(self, ctx, input).await.map_err(to_wire)
    }

    async fn start_backup_job(
        &self,
        ctx: &RequestContext,
        input: StartBackupJobInput,
    ) -> Result<StartBackupJobOutput, AwsError> {
        jobs::start(self, ctx, input).await.map_err(to_wire)
    }

    async fn describe_backup_job(
        &self,
        ctx: &RequestContext,
        input: DescribeBackupJobInput,
    ) -> Result<DescribeBackupJobOutput, AwsError> {
        jobs::describe(self, ctx, input).await.map_err(to_wire)
    }

    async fn list_backup_jobs(
        &self,
        ctx: &RequestContext,
        input: ListBackupJobsInput,
    ) -> Result<ListBackupJobsOutput, AwsError> {
        jobs::list(self, ctx, input).await.map_err(to_wire)
    }

    async fn stop_backup_job(
        &self,
        ctx: &RequestContext,
        input: StopBackupJobInput,
    ) -> Result<(), AwsError> {
        jobs::stop(self, ctx, input).await.map_err(to_wire)
    }

    async fn describe_recovery_point(
        &self,
        ctx: &RequestContext,
        input: DescribeRecoveryPointInput,
    ) -> Result<DescribeRecoveryPointOutput, AwsError> {
        points::describe(self, ctx, input).await.map_err(to_wire)
    }

    async fn list_recovery_points_by_backup_vault(
        &self,
        ctx: &RequestContext,
        input: ListRecoveryPointsByBackupVaultInput,
    ) -> Result<ListRecoveryPointsByBackupVaultOutput, AwsError> {
        points::list_by_vault(self, ctx, input)
            .await
            .map_err(to_wire)
    }

    async fn delete_recovery_point(
        &self,
        ctx: &RequestContext,
        input: DeleteRecoveryPointInput,
    ) -> Result<(), AwsError> {
        points::delete(self, ctx, input).await.map_err(to_wire)
    }

    async fn list_recovery_points_by_resource(
        &self,
        ctx: &RequestContext,
        input: ListRecoveryPointsByResourceInput,
    ) -> Result<ListRecoveryPointsByResourceOutput, AwsError> {
        points::list_by_resource(self, ctx, input)
            .await
            .map_err(to_wire)
    }

    async fn update_recovery_point_lifecycle(
        &self,
        ctx: &RequestContext,
        input: UpdateRecoveryPointLifecycleInput,
    ) -> Result<UpdateRecoveryPointLifecycleOutput, AwsError> {
        points::update_lifecycle(self, ctx, input)
            .await
            .map_err(to_wire)
    }
}
