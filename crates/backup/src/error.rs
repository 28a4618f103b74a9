//! Backup's typed errors and their one mapping to the wire (docs/backup.md §6: restJson1,
//! code in `X-Amzn-ErrorType`, HTTP 400 for client errors, 403 for access denied).

use kmsnap_api::AwsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackupError {
    /// A vault that does not exist in the caller's account and region. AWS answers this with
    /// access denied, not a not-found error (docs/backup.md §2).
    #[error("vault {name} not visible")]
    VaultNotVisible { name: String },
    #[error("vault {name} already exists")]
    VaultAlreadyExists { name: String, arn: String },
    /// A resource ARN (tags) or a sub-resource (access policy) that does not exist.
    #[error("not found: {0}")]
    ResourceNotFound(String),
    #[error("invalid parameter value: {0}")]
    InvalidParameterValue(String),
    #[error("missing parameter value: {0}")]
    MissingParameterValue(String),
    /// A request the resource's state refuses, with Backup's own error code (`ERROR_…`) where
    /// one was recorded from AWS (docs/backup.md §6).
    #[error("invalid request: {message}")]
    InvalidRequest {
        code: Option<&'static str>,
        message: String,
    },
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A resource type kmsnap's Backup does not back up yet (RDS, Aurora: docs/backup.md §8).
    #[error("not implemented: {operation}")]
    NotImplemented { operation: &'static str },
    /// A vault access policy denies the call (docs/backup.md §5).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The cause is logged where it happens.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<kmsnap_snapshots::EbsError> for BackupError {
    fn from(e: kmsnap_snapshots::EbsError) -> Self {
        tracing::error!(error = %e, "backup: snapshot storage failure");
        BackupError::Internal("snapshots")
    }
}

impl From<kmsnap_store::StoreError> for BackupError {
    fn from(e: kmsnap_store::StoreError) -> Self {
        tracing::error!(error = %e, "backup store failure");
        BackupError::Internal("store")
    }
}

/// The Backup wire error of `e`.
pub fn to_wire(e: BackupError) -> AwsError {
    match e {
        BackupError::VaultNotVisible { .. } => AwsError::new(
            "AccessDeniedException",
            403,
            "Insufficient privileges to perform this action.",
        ),
        BackupError::VaultAlreadyExists { name, arn } => AwsError::new(
            "AlreadyExistsException",
            400,
            format!("Backup vault with the same name {name} already exists"),
        )
        .with_field("Arn", arn)
        .with_field("Type", "User"),
        BackupError::ResourceNotFound(m) => {
            AwsError::new("ResourceNotFoundException", 400, m).with_field("Type", "User")
        }
        BackupError::InvalidParameterValue(m) => {
            AwsError::new("InvalidParameterValueException", 400, m).with_field("Type", "User")
        }
        BackupError::MissingParameterValue(m) => {
            AwsError::new("MissingParameterValueException", 400, m).with_field("Type", "User")
        }
        BackupError::InvalidRequest { code, message } => {
            let e =
                AwsError::new("InvalidRequestException", 400, message).with_field("Type", "User");
            match code {
                Some(c) => e.with_field("Code", c),
                None => e,
            }
        }
        BackupError::LimitExceeded(m) => {
            AwsError::new("LimitExceededException", 400, m).with_field("Type", "User")
        }
        BackupError::NotImplemented { operation } => AwsError::not_implemented("backup", operation),
        BackupError::AccessDenied(m) => AwsError::new("AccessDeniedException", 403, m),
        BackupError::Internal(_) => AwsError::new(
            "ServiceUnavailableException",
            500,
            "An internal error occurred. Please retry your request.",
        ),
    }
}
