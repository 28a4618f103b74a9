//! RDS's typed errors — DB instances, Aurora clusters and both kinds of snapshots — and their
//! one mapping to the wire codes of the RDS query protocol (docs/protocols.md §6: the model's
//! `error.code`, not the shape name). No catch-all arm.

use kmsnap_api::AwsError;
use kmsnap_snapshots::EbsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RdsError {
    #[error("DB instance {id} not found")]
    InstanceNotFound { id: String },
    #[error("DB instance {id} already exists")]
    InstanceAlreadyExists { id: String },
    #[error("DB snapshot {id} not found")]
    SnapshotNotFound { id: String },
    #[error("DB snapshot {id} already exists")]
    SnapshotAlreadyExists { id: String },
    #[error("DB instance {id} is {status}")]
    InvalidInstanceState { id: String, status: String },
    #[error("DB snapshot {id} is {status}")]
    InvalidSnapshotState { id: String, status: String },
    /// DeleteDBSnapshot of an automated snapshot.
    #[error("DB snapshot {id} is not a manual snapshot")]
    SnapshotNotManual { id: String },
    /// CreateDBInstanceReadReplica of an instance without automated backups.
    #[error("DB instance {id} has no automated backups")]
    BackupsDisabled { id: String },
    /// StopDBInstance of a read replica or of an instance with read replicas.
    #[error("DB instance {id} is in a replication")]
    StopInReplication { id: String },
    /// StartDBInstance of an instance that is not stopped.
    #[error("DB instance {id} cannot be started from {status}")]
    CannotStart { id: String, status: String },
    /// DeleteDBInstance while `DeletionProtection` is set.
    #[error("DB instance {id} is protected from deletion")]
    DeletionProtected { id: String },
    /// ModifyDBSnapshotAttribute past the number of accounts a snapshot may be shared with.
    #[error("DB snapshot {id} shared with more than {limit} accounts")]
    SharedSnapshotQuotaExceeded { id: String, limit: usize },
    #[error("DB cluster {id} not found")]
    ClusterNotFound { id: String },
    #[error("DB cluster {id} already exists")]
    ClusterAlreadyExists { id: String },
    /// `expected`: the statuses the operation accepts, as AWS lists them.
    #[error("DB cluster {id} is {status}")]
    InvalidClusterState {
        id: String,
        status: String,
        expected: &'static str,
    },
    /// Any other refusal on a cluster's state, with AWS's own wording.
    #[error("DB cluster state: {message}")]
    ClusterState { message: String },
    #[error("DB cluster snapshot {id} not found")]
    ClusterSnapshotNotFound { id: String },
    #[error("DB cluster snapshot {id} already exists")]
    ClusterSnapshotAlreadyExists { id: String },
    #[error("DB cluster snapshot {id} is {status}")]
    InvalidClusterSnapshotState { id: String, status: String },
    /// DeleteDBClusterSnapshot of an automated snapshot.
    #[error("DB cluster snapshot {id} is not a manual snapshot")]
    ClusterSnapshotNotManual { id: String },
    /// ModifyDBClusterSnapshotAttribute past the number of accounts a snapshot may be shared with.
    #[error("shared cluster snapshot quota exceeded")]
    ClusterSharedSnapshotQuotaExceeded,
    /// The KMS key is missing, disabled, pending deletion or not usable by the caller.
    #[error("KMS key not accessible: {message}")]
    KmsKeyNotAccessible { message: String },
    #[error("invalid parameter value: {0}")]
    InvalidParameterValue(String),
    #[error("invalid parameter combination: {0}")]
    InvalidParameterCombination(String),
    /// A case of a built operation that is not built yet (Aurora instances, cross-region or
    /// shared sources): AWS's `NotImplemented` envelope, never a fake success.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// The cause is logged where it happens.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<kmsnap_store::StoreError> for RdsError {
    fn from(e: kmsnap_store::StoreError) -> Self {
        tracing::error!(error = %e, "rds store failure");
        RdsError::Internal("store")
    }
}

/// EBS errors met while RDS acts on its storage: KMS failures are the key's inaccessibility;
/// anything else is internal (RDS's callers never see EBS's codes).
impl From<EbsError> for RdsError {
    fn from(e: EbsError) -> Self {
        match e {
            EbsError::Kms { code, message } => RdsError::KmsKeyNotAccessible {
                message: format!("{code}: {message}"),
            },
            other => {
                tracing::error!(error = %other, "rds storage failure");
                RdsError::Internal("storage")
            }
        }
    }
}

impl From<AwsError> for RdsError {
    fn from(e: AwsError) -> Self {
        RdsError::KmsKeyNotAccessible {
            message: format!("{}: {}", e.code, e.message),
        }
    }
}

/// The RDS wire error of `e`.
pub fn to_rds(e: RdsError) -> AwsError {
    match e {
        RdsError::InstanceNotFound { id } => AwsError::new("DBInstanceNotFound", 404, format!("DBInstance {id} not found.")),
        RdsError::InstanceAlreadyExists { .. } => AwsError::new("DBInstanceAlreadyExists", 400, "DB instance already exists"),
        RdsError::SnapshotNotFound { id } => AwsError::new("DBSnapshotNotFound", 404, format!("DBSnapshot not found: {id}")),
        RdsError::SnapshotAlreadyExists { id } => {
            AwsError::new("DBSnapshotAlreadyExists", 400, format!("Cannot create the snapshot because a snapshot with the identifier {id} already exists."))
        }
        RdsError::InvalidInstanceState { id, status } => {
            AwsError::new("InvalidDBInstanceState", 400, format!("DB instance {id} is not in available state (it is {status})."))
        }
        RdsError::InvalidSnapshotState { id, status } => {
            AwsError::new("InvalidDBSnapshotState", 400, format!("Snapshot {id} is not in available state (it is {status})."))
        }
        RdsError::SnapshotNotManual { .. } => AwsError::new("InvalidDBSnapshotState", 400, "Only manual snapshots may be deleted."),
        RdsError::CannotStart { id, .. } => AwsError::new(
            "InvalidDBInstanceState",
            400,
            format!("Instance {id} cannot be started as it is not in one of the following statuses: 'stopped, inaccessible-encryption-credentials-recoverable, incompatible-network (only valid for non-SqlServer instances)'."),
        ),
        RdsError::BackupsDisabled { .. } => AwsError::new(
            "InvalidDBInstanceState",
            400,
            "Automated backups are not enabled for this database instance. To enable automated backups, use ModifyDBInstance to set the backup retention period to a non-zero value.",
        ),
        RdsError::StopInReplication { id } => {
            AwsError::new("InvalidDBInstanceState", 400, format!("DB instance {id} cannot be stopped because it is a read replica or has read replicas."))
        }
        RdsError::DeletionProtected { .. } => {
            AwsError::new("InvalidParameterCombination", 400, "Cannot delete protected DB Instance, please disable deletion protection and try again.")
        }
        RdsError::SharedSnapshotQuotaExceeded { limit, .. } => {
            AwsError::new("SharedSnapshotQuotaExceeded", 400, format!("The DB snapshot can be shared with at most {limit} AWS accounts."))
        }
        RdsError::ClusterNotFound { id } => AwsError::new("DBClusterNotFoundFault", 404, format!("DBCluster {id} not found.")),
        RdsError::ClusterAlreadyExists { .. } => AwsError::new("DBClusterAlreadyExistsFault", 400, "DB Cluster already exists"),
        RdsError::InvalidClusterState { id, status, expected } => {
            AwsError::new("InvalidDBClusterStateFault", 400, format!("DbCluster {id} is in {status} state but expected it to be one of {expected}."))
        }
        RdsError::ClusterState { message } => AwsError::new("InvalidDBClusterStateFault", 400, message),
        RdsError::ClusterSnapshotNotFound { id } => AwsError::new("DBClusterSnapshotNotFoundFault", 404, format!("DBClusterSnapshot not found: {id}")),
        RdsError::ClusterSnapshotAlreadyExists { id } => AwsError::new(
            "DBClusterSnapshotAlreadyExistsFault",
            400,
            format!("Cannot create the cluster snapshot because one with the identifier {id} already exists."),
        ),
        RdsError::InvalidClusterSnapshotState { id, status } => {
            AwsError::new("InvalidDBClusterSnapshotStateFault", 400, format!("Cluster snapshot {id} is not in available state (it is {status}).",))
        }
        RdsError::ClusterSnapshotNotManual { .. } => AwsError::new("InvalidDBClusterSnapshotStateFault", 400, "Only manual snapshots may be deleted."),
        RdsError::ClusterSharedSnapshotQuotaExceeded => {
            AwsError::new("SharedSnapshotQuotaExceeded", 400, "You have exceeded the maximum number of accounts you can share a snapshot with.")
        }
        RdsError::KmsKeyNotAccessible { message } => AwsError::new("KMSKeyNotAccessibleFault", 400, message),
        RdsError::InvalidParameterValue(m) => AwsError::new("InvalidParameterValue", 400, m),
        RdsError::InvalidParameterCombination(m) => AwsError::new("InvalidParameterCombination", 400, m),
        RdsError::NotImplemented(op) => AwsError::not_implemented("rds", op),
        RdsError::Internal(_) => AwsError::new("InternalFailure", 500, "An internal error occurred."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_the_models_not_the_shape_names() {
        let cases = [
            (
                RdsError::InstanceNotFound { id: "a".into() },
                "DBInstanceNotFound",
                404,
            ),
            (
                RdsError::SnapshotNotFound { id: "a".into() },
                "DBSnapshotNotFound",
                404,
            ),
            (
                RdsError::SnapshotAlreadyExists { id: "a".into() },
                "DBSnapshotAlreadyExists",
                400,
            ),
            (
                RdsError::InstanceAlreadyExists { id: "a".into() },
                "DBInstanceAlreadyExists",
                400,
            ),
            (
                RdsError::InvalidInstanceState {
                    id: "a".into(),
                    status: "creating".into(),
                },
                "InvalidDBInstanceState",
                400,
            ),
            (
                RdsError::InvalidSnapshotState {
                    id: "a".into(),
                    status: "creating".into(),
                },
                "InvalidDBSnapshotState",
                400,
            ),
            (
                RdsError::KmsKeyNotAccessible {
                    message: "x".into(),
                },
                "KMSKeyNotAccessibleFault",
                400,
            ),
            (
                RdsError::SnapshotNotManual { id: "a".into() },
                "InvalidDBSnapshotState",
                400,
            ),
            (
                RdsError::CannotStart {
                    id: "a".into(),
                    status: "available".into(),
                },
                "InvalidDBInstanceState",
                400,
            ),
            (
                RdsError::DeletionProtected { id: "a".into() },
                "InvalidParameterCombination",
                400,
            ),
            (
                RdsError::BackupsDisabled { id: "a".into() },
                "InvalidDBInstanceState",
                400,
            ),
            (
                RdsError::StopInReplication { id: "a".into() },
                "InvalidDBInstanceState",
                400,
            ),
            (
                RdsError::SharedSnapshotQuotaExceeded {
                    id: "a".into(),
                    limit: 20,
                },
                "SharedSnapshotQuotaExceeded",
                400,
            ),
        ];
        for (e, code, status) in cases {
            let w = to_rds(e);
            assert_eq!((w.code.as_ref(), w.status), (code, status));
        }
    }

    #[test]
    fn cluster_wire_codes_are_the_models() {
        let cases = [
            (
                RdsError::ClusterNotFound { id: "c".into() },
                "DBClusterNotFoundFault",
                404,
            ),
            (
                RdsError::ClusterAlreadyExists { id: "c".into() },
                "DBClusterAlreadyExistsFault",
                400,
            ),
            (
                RdsError::InvalidClusterState {
                    id: "c".into(),
                    status: "available".into(),
                    expected: "stopped",
                },
                "InvalidDBClusterStateFault",
                400,
            ),
            (
                RdsError::ClusterSnapshotNotFound { id: "s".into() },
                "DBClusterSnapshotNotFoundFault",
                404,
            ),
            (
                RdsError::ClusterSnapshotAlreadyExists { id: "s".into() },
                "DBClusterSnapshotAlreadyExistsFault",
                400,
            ),
            (
                RdsError::InvalidClusterSnapshotState {
                    id: "s".into(),
                    status: "creating".into(),
                },
                "InvalidDBClusterSnapshotStateFault",
                400,
            ),
            (
                RdsError::ClusterSnapshotNotManual {
                    id: "rds:c-2026-01-01-00-00".into(),
                },
                "InvalidDBClusterSnapshotStateFault",
                400,
            ),
            (
                RdsError::ClusterSharedSnapshotQuotaExceeded,
                "SharedSnapshotQuotaExceeded",
                400,
            ),
            (
                RdsError::KmsKeyNotAccessible {
                    message: "x".into(),
                },
                "KMSKeyNotAccessibleFault",
                400,
            ),
        ];
        for (e, code, status) in cases {
            let w = to_rds(e);
            assert_eq!((w.code.as_ref(), w.status), (code, status));
        }
    }

    #[test]
    fn cluster_start_refusal_uses_the_observed_wording() {
        let w = to_rds(RdsError::InvalidClusterState {
            id: "c1".into(),
            status: "available".into(),
            expected: "stopped,inaccessible-encryption-credentials-recoverable",
        });
        assert_eq!(w.message, "DbCluster c1 is in available state but expected it to be one of stopped,inaccessible-encryption-credentials-recoverable.");
    }

    #[test]
    fn kms_failures_become_key_not_accessible() {
        let e: RdsError = EbsError::Kms {
            code: "DisabledException".into(),
            message: "disabled".into(),
        }
        .into();
        assert!(matches!(e, RdsError::KmsKeyNotAccessible { .. }));
    }
}
