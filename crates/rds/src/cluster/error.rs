//! The errors of Aurora clusters and their snapshots, and their one mapping to RDS wire codes
//! (docs/protocols.md §6: the model's `error.code`). Errors shared with DB instances
//! (`KMSKeyNotAccessibleFault`, `InvalidParameterValue`, …) stay [`RdsError`]s and map there.

use crate::error::{to_rds, RdsError};
use kmsnap_api::AwsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
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
    /// Any other refusal on the cluster's state, with AWS's own wording.
    #[error("DB cluster state: {message}")]
    ClusterState { message: String },
    #[error("DB cluster snapshot {id} not found")]
    SnapshotNotFound { id: String },
    #[error("DB cluster snapshot {id} already exists")]
    SnapshotAlreadyExists { id: String },
    #[error("DB cluster snapshot {id} is {status}")]
    InvalidSnapshotState { id: String, status: String },
    /// DeleteDBClusterSnapshot of an automated snapshot.
    #[error("DB cluster snapshot {id} is not a manual snapshot")]
    SnapshotNotManual { id: String },
    #[error("shared snapshot quota exceeded")]
    SharedSnapshotQuotaExceeded,
    #[error(transparent)]
    Rds(#[from] RdsError),
}

impl From<kmsnap_store::StoreError> for ClusterError {
    fn from(e: kmsnap_store::StoreError) -> Self {
        ClusterError::Rds(e.into())
    }
}

impl From<kmsnap_snapshots::EbsError> for ClusterError {
    fn from(e: kmsnap_snapshots::EbsError) -> Self {
        ClusterError::Rds(e.into())
    }
}

/// The RDS wire error of `e`.
pub fn to_aws(e: ClusterError) -> AwsError {
    match e {
        ClusterError::ClusterNotFound { id } => AwsError::new("DBClusterNotFoundFault", 404, format!("DBCluster {id} not found.")),
        ClusterError::ClusterAlreadyExists { .. } => AwsError::new("DBClusterAlreadyExistsFault", 400, "DB Cluster already exists"),
        ClusterError::InvalidClusterState { id, status, expected } => {
            AwsError::new("InvalidDBClusterStateFault", 400, format!("DbCluster {id} is in {status} state but expected it to be one of {expected}."))
        }
        ClusterError::ClusterState { message } => AwsError::new("InvalidDBClusterStateFault", 400, message),
        ClusterError::SnapshotNotFound { id } => AwsError::new("DBClusterSnapshotNotFoundFault", 404, format!("DBClusterSnapshot not found: {id}")),
        ClusterError::SnapshotAlreadyExists { id } => AwsError::new(
            "DBClusterSnapshotAlreadyExistsFault",
            400,
            format!("Cannot create the cluster snapshot because one with the identifier {id} already exists."),
        ),
        ClusterError::InvalidSnapshotState { id, status } => {
            AwsError::new("InvalidDBClusterSnapshotStateFault", 400, format!("Cluster snapshot {id} is not in available state (it is {status}).",))
        }
        ClusterError::SnapshotNotManual { .. } => AwsError::new("InvalidDBClusterSnapshotStateFault", 400, "Only manual snapshots may be deleted."),
        ClusterError::SharedSnapshotQuotaExceeded => {
            AwsError::new("SharedSnapshotQuotaExceeded", 400, "You have exceeded the maximum number of accounts you can share a snapshot with.")
        }
        ClusterError::Rds(e) => to_rds(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_the_models() {
        let cases = [
            (
                ClusterError::ClusterNotFound { id: "c".into() },
                "DBClusterNotFoundFault",
                404,
            ),
            (
                ClusterError::ClusterAlreadyExists { id: "c".into() },
                "DBClusterAlreadyExistsFault",
                400,
            ),
            (
                ClusterError::InvalidClusterState {
                    id: "c".into(),
                    status: "available".into(),
                    expected: "stopped",
                },
                "InvalidDBClusterStateFault",
                400,
            ),
            (
                ClusterError::SnapshotNotFound { id: "s".into() },
                "DBClusterSnapshotNotFoundFault",
                404,
            ),
            (
                ClusterError::SnapshotAlreadyExists { id: "s".into() },
                "DBClusterSnapshotAlreadyExistsFault",
                400,
            ),
            (
                ClusterError::InvalidSnapshotState {
                    id: "s".into(),
                    status: "creating".into(),
                },
                "InvalidDBClusterSnapshotStateFault",
                400,
            ),
            (
                ClusterError::SnapshotNotManual {
                    id: "rds:c-2026-01-01-00-00".into(),
                },
                "InvalidDBClusterSnapshotStateFault",
                400,
            ),
            (
                ClusterError::SharedSnapshotQuotaExceeded,
                "SharedSnapshotQuotaExceeded",
                400,
            ),
            (
                ClusterError::Rds(RdsError::KmsKeyNotAccessible {
                    message: "x".into(),
                }),
                "KMSKeyNotAccessibleFault",
                400,
            ),
        ];
        for (e, code, status) in cases {
            let w = to_aws(e);
            assert_eq!((w.code.as_ref(), w.status), (code, status));
        }
    }

    #[test]
    fn start_refusal_uses_the_observed_wording() {
        let w = to_aws(ClusterError::InvalidClusterState {
            id: "c1".into(),
            status: "available".into(),
            expected: "stopped,inaccessible-encryption-credentials-recoverable",
        });
        assert_eq!(w.message, "DbCluster c1 is in available state but expected it to be one of stopped,inaccessible-encryption-credentials-recoverable.");
    }
}
