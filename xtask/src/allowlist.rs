//! Which services and operations `cargo xtask codegen` generates.
//!
//! An operation outside the allowlist still appears in its model's `all_operation_names` (it
//! answers `NotImplemented`), but no shapes, types or handler methods are generated for it. To add
//! an operation: add its exact model name here, run `cargo xtask codegen`, commit the result.

/// Which operations of a service are in scope.
pub enum Ops {
    /// Every operation of the model.
    All,
    /// Exactly these (model names). Codegen fails if one is missing from the model.
    Only(&'static [&'static str]),
}

/// One service to generate: botocore's name, model directory (`<name>/<api-version>`) and the
/// Rust names of its module and handler trait.
pub struct Service {
    pub name: &'static str,
    pub api_version: &'static str,
    /// Handler trait name, e.g. `KmsHandler`.
    pub handler: &'static str,
    pub ops: Ops,
}

/// The services in `gen::SERVICES` order.
pub const SERVICES: &[Service] = &[
    Service {
        name: "kms",
        api_version: "2014-11-01",
        handler: "KmsHandler",
        ops: Ops::All,
    },
    Service {
        name: "ec2",
        api_version: "2016-11-15",
        handler: "Ec2Handler",
        ops: Ops::Only(EC2),
    },
    Service {
        name: "ebs",
        api_version: "2019-11-02",
        handler: "EbsHandler",
        ops: Ops::All,
    },
    Service {
        name: "rds",
        api_version: "2014-10-31",
        handler: "RdsHandler",
        ops: Ops::Only(RDS),
    },
    Service {
        name: "backup",
        api_version: "2018-11-15",
        handler: "BackupHandler",
        ops: Ops::Only(BACKUP),
    },
    Service {
        name: "cloudtrail",
        api_version: "2013-11-01",
        handler: "CloudtrailHandler",
        ops: Ops::Only(&["LookupEvents"]),
    },
    Service {
        name: "sts",
        api_version: "2011-06-15",
        handler: "StsHandler",
        ops: Ops::Only(&["AssumeRole", "GetCallerIdentity"]),
    },
    Service {
        name: "iam",
        api_version: "2010-05-08",
        handler: "IamHandler",
        ops: Ops::Only(IAM),
    },
];

/// EC2: volumes, snapshots and their sharing, tags, EBS encryption by default, and the region /
/// zone discovery calls SDKs and the CLI make on their own.
const EC2: &[&str] = &[
    "AttachVolume",
    "CopySnapshot",
    "CreateSnapshot",
    "CreateTags",
    "CreateVolume",
    "DeleteSnapshot",
    "DeleteTags",
    "DeleteVolume",
    "DescribeAvailabilityZones",
    "DescribeRegions",
    "DescribeSnapshotAttribute",
    "DescribeSnapshots",
    "DescribeTags",
    "DescribeVolumes",
    "DetachVolume",
    "DisableEbsEncryptionByDefault",
    "EnableEbsEncryptionByDefault",
    "GetEbsDefaultKmsKeyId",
    "GetEbsEncryptionByDefault",
    "ModifyEbsDefaultKmsKeyId",
    "ModifySnapshotAttribute",
    "ResetEbsDefaultKmsKeyId",
    "ResetSnapshotAttribute",
];

/// RDS: DB instances, Aurora clusters, both kinds of snapshots (copy, share, restore), tags.
const RDS: &[&str] = &[
    "AddTagsToResource",
    "CopyDBClusterSnapshot",
    "CopyDBSnapshot",
    "CreateDBCluster",
    "CreateDBClusterSnapshot",
    "CreateDBInstance",
    "CreateDBInstanceReadReplica",
    "CreateDBSnapshot",
    "DeleteDBCluster",
    "DeleteDBClusterSnapshot",
    "DeleteDBInstance",
    "DeleteDBSnapshot",
    "DescribeDBClusterSnapshotAttributes",
    "DescribeDBClusterSnapshots",
    "DescribeDBClusters",
    "DescribeDBEngineVersions",
    "DescribeDBInstances",
    "DescribeDBSnapshotAttributes",
    "DescribeDBSnapshots",
    "ListTagsForResource",
    "ModifyDBCluster",
    "ModifyDBClusterSnapshotAttribute",
    "ModifyDBInstance",
    "ModifyDBSnapshotAttribute",
    "RebootDBCluster",
    "RebootDBInstance",
    "RemoveTagsFromResource",
    "RestoreDBClusterFromSnapshot",
    "RestoreDBInstanceFromDBSnapshot",
    "StartDBCluster",
    "StartDBInstance",
    "StopDBCluster",
    "StopDBInstance",
];

/// AWS Backup, as far as kmsnap plans to build it (botocore model `backup/2018-11-15`; issue #15):
/// vaults with their access policies and locks (built), backup plans and selections, backup jobs,
/// recovery points, copy jobs, restore jobs and tags, with their describe/list calls.
const BACKUP: &[&str] = &[
    "CreateBackupPlan",
    "CreateBackupSelection",
    "CreateBackupVault",
    "DeleteBackupPlan",
    "DeleteBackupSelection",
    "DeleteBackupVault",
    "DeleteBackupVaultAccessPolicy",
    "DeleteBackupVaultLockConfiguration",
    "DeleteRecoveryPoint",
    "DescribeBackupJob",
    "DescribeBackupVault",
    "DescribeCopyJob",
    "DescribeRecoveryPoint",
    "DescribeRestoreJob",
    "GetBackupPlan",
    "GetBackupSelection",
    "GetBackupVaultAccessPolicy",
    "GetRecoveryPointRestoreMetadata",
    "ListBackupJobs",
    "ListBackupPlans",
    "ListBackupSelections",
    "ListBackupVaults",
    "ListCopyJobs",
    "ListRecoveryPointsByBackupVault",
    "ListRecoveryPointsByResource",
    "ListRestoreJobs",
    "ListTags",
    "PutBackupVaultAccessPolicy",
    "PutBackupVaultLockConfiguration",
    "StartBackupJob",
    "StartCopyJob",
    "StartRestoreJob",
    "StopBackupJob",
    "TagResource",
    "UntagResource",
    "UpdateBackupPlan",
    "UpdateRecoveryPointLifecycle",
];

/// IAM: users, roles, access keys and inline policies, as far as KMS authorization needs them.
const IAM: &[&str] = &[
    "CreateAccessKey",
    "CreateRole",
    "CreateUser",
    "DeleteAccessKey",
    "DeleteRole",
    "DeleteRolePolicy",
    "DeleteUser",
    "DeleteUserPolicy",
    "GetRole",
    "GetRolePolicy",
    "GetUser",
    "GetUserPolicy",
    "ListAccessKeys",
    "ListRolePolicies",
    "ListRoles",
    "ListUserPolicies",
    "ListUsers",
    "PutRolePolicy",
    "PutUserPolicy",
];
