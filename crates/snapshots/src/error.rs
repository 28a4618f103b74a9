//! EBS's typed errors and their one mapping to AWS codes: the EC2 query API's codes
//! (`InvalidSnapshot.NotFound` …, docs/ebs.md §3–§9) and the EBS direct API's
//! exceptions with their `Reason` (docs/ebs.md §10). The match has no catch-all arm.

use kmsnap_api::AwsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EbsError {
    // --- EC2 API ---
    #[error("volume {id} not found")]
    VolumeNotFound { id: String },
    #[error("snapshot {id} not found")]
    SnapshotNotFound { id: String },
    /// An id with the prefix of `kind` (`vol`, `snap`) that still cannot be one, in a list of
    /// ids or CreateTags' resources: EC2's `Invalid…ID.Malformed` (docs/fidelity.md §4).
    #[error("malformed {kind} id {id}")]
    MalformedId { kind: &'static str, id: String },
    /// An id that cannot be one of `kind`, given in the parameter EC2 calls `param` (`volumeId`,
    /// `snapshotId`, `sourceSnapshotId`, or the lists `volumes`, `snapshots`):
    /// `InvalidParameterValue` naming the parameter (docs/fidelity.md §4).
    #[error("{param}: {id} is not a {kind} id")]
    InvalidIdParameter {
        param: &'static str,
        kind: &'static str,
        id: String,
    },
    /// A CreateTags/DeleteTags resource id of no kind EBS knows: EC2's `InvalidID`.
    #[error("invalid id {id}")]
    InvalidId { id: String },
    /// More than 50 tags on one resource.
    #[error("tag limit exceeded on {id}")]
    TagLimitExceeded { id: String },
    #[error("invalid parameter value: {0}")]
    InvalidParameterValue(String),
    #[error("invalid parameter combination: {0}")]
    InvalidParameterCombination(String),
    #[error("parameter dependency: {0}")]
    InvalidParameterDependency(String),
    #[error("missing parameter: {0}")]
    MissingParameter(String),
    #[error("zone {zone} not found")]
    ZoneNotFound { zone: String },
    #[error("incorrect state: {0}")]
    IncorrectState(String),
    #[error("volume {id} in use")]
    VolumeInUse { id: String },
    #[error("snapshot {id} in use by {by}")]
    SnapshotInUse { id: String, by: String },
    #[error("operation not permitted: {0}")]
    OperationNotPermitted(String),
    #[error("resource limit exceeded: {0}")]
    ResourceLimitExceeded(String),
    #[error("dry run")]
    DryRun,
    /// A KMS call EC2 made for the caller failed; `code`/`message` are KMS's. EC2 operations
    /// turn it into their own error (see `ops`); direct-API operations into
    /// `DEPENDENCY_ACCESS_DENIED` / `INVALID_CUSTOMER_KEY`.
    #[error("kms: {code}")]
    Kms { code: String, message: String },

    // --- EBS direct API ---
    #[error("validation ({reason}): {message}")]
    Validation {
        reason: &'static str,
        message: String,
    },
    #[error("not found ({reason}): {message}")]
    ResourceNotFound {
        reason: &'static str,
        message: String,
    },
    #[error("access denied ({reason}): {message}")]
    AccessDenied {
        reason: &'static str,
        message: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),

    // --- both ---
    /// A stored block failed its integrity check (tampered or damaged on disk).
    #[error("block {index} of {resource} is damaged")]
    BlockDamaged { resource: String, index: u64 },
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// The cause is logged where it happens.
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl From<kmsnap_store::StoreError> for EbsError {
    fn from(e: kmsnap_store::StoreError) -> Self {
        tracing::error!(error = %e, "ebs store failure");
        EbsError::Internal("store")
    }
}

impl From<AwsError> for EbsError {
    fn from(e: AwsError) -> Self {
        EbsError::Kms {
            code: e.code.into_owned(),
            message: e.message,
        }
    }
}

/// The EC2 query API's rendering (HTTP 400 unless noted).
pub fn to_ec2(e: EbsError) -> AwsError {
    let c = |code: &'static str, msg: String| AwsError::new(code, 400, msg);
    match e {
        EbsError::VolumeNotFound { id } => c(
            "InvalidVolume.NotFound",
            format!("The volume '{id}' does not exist."),
        ),
        EbsError::SnapshotNotFound { id } => c(
            "InvalidSnapshot.NotFound",
            format!("The snapshot '{id}' does not exist."),
        ),
        EbsError::MalformedId { kind, id } => {
            let code = if kind == "snap" {
                "InvalidSnapshotID.Malformed"
            } else {
                "InvalidVolumeID.Malformed"
            };
            c(code, format!("Invalid id: \"{id}\""))
        }
        EbsError::InvalidIdParameter { param, kind, id } => c(
            "InvalidParameterValue",
            format!("Value ({id}) for parameter {param} is invalid. Expected: '{kind}-...'."),
        ),
        EbsError::InvalidId { id } => c("InvalidID", format!("The ID '{id}' is not valid")),
        EbsError::TagLimitExceeded { id } => c(
            "TagLimitExceeded",
            format!("The maximum number of Tags for resource '{id}' has been reached."),
        ),
        EbsError::InvalidParameterValue(m) => c("InvalidParameterValue", m),
        EbsError::InvalidParameterCombination(m) => c("InvalidParameterCombination", m),
        EbsError::InvalidParameterDependency(m) => c("InvalidParameterDependency", m),
        EbsError::MissingParameter(m) => c("MissingParameter", m),
        EbsError::ZoneNotFound { zone } => c(
            "InvalidZone.NotFound",
            format!("The zone '{zone}' does not exist."),
        ),
        EbsError::IncorrectState(m) => c("IncorrectState", m),
        EbsError::VolumeInUse { id } => {
            c("VolumeInUse", format!("Volume {id} is currently attached."))
        }
        EbsError::SnapshotInUse { id, by } => c(
            "InvalidSnapshot.InUse",
            format!("The snapshot {id} is currently in use by {by}"),
        ),
        EbsError::OperationNotPermitted(m) => c("OperationNotPermitted", m),
        EbsError::ResourceLimitExceeded(m) => c("ResourceLimitExceeded", m),
        EbsError::DryRun => AwsError::new(
            "DryRunOperation",
            412,
            "Request would have succeeded, but DryRun flag is set.",
        ),
        EbsError::Kms { code, message } => match code.as_str() {
            "AccessDeniedException" => AwsError::new("UnauthorizedOperation", 403, message),
            _ => c("InvalidParameterValue", message),
        },
        EbsError::Validation { message, .. } => c("InvalidParameterValue", message),
        EbsError::ResourceNotFound { message, .. } => c("InvalidParameterValue", message),
        EbsError::AccessDenied { message, .. } => {
            AwsError::new("UnauthorizedOperation", 403, message)
        }
        EbsError::Conflict(m) => c("IdempotentParameterMismatch", m),
        EbsError::BlockDamaged { .. } => {
            AwsError::new("InternalError", 500, "An internal error has occurred")
        }
        EbsError::NotImplemented(what) => AwsError::not_implemented("ec2", what),
        EbsError::Internal(_) => {
            AwsError::new("InternalError", 500, "An internal error has occurred")
        }
    }
}

/// The EBS direct API's rendering: `{"Message", "Reason"}` + the exception's code.
pub fn to_ebs(e: EbsError) -> AwsError {
    let v = |reason: &'static str, msg: String| {
        AwsError::new("ValidationException", 400, msg).with_field("Reason", reason)
    };
    match e {
        EbsError::Validation { reason, message } => v(reason, message),
        EbsError::ResourceNotFound { reason, message } => {
            AwsError::new("ResourceNotFoundException", 404, message).with_field("Reason", reason)
        }
        EbsError::AccessDenied { reason, message } => {
            AwsError::new("AccessDeniedException", 403, message).with_field("Reason", reason)
        }
        EbsError::Conflict(m) => AwsError::new("ConflictException", 409, m),
        EbsError::SnapshotNotFound { id } => AwsError::new(
            "ResourceNotFoundException",
            404,
            format!("The snapshot '{id}' does not exist."),
        )
        .with_field("Reason", "SNAPSHOT_NOT_FOUND"),
        EbsError::VolumeNotFound { id } => v(
            "INVALID_PARAMETER_VALUE",
            format!("The volume '{id}' does not exist."),
        ),
        EbsError::MalformedId { kind, id } => v(
            if kind == "snap" {
                "INVALID_SNAPSHOT_ID"
            } else {
                "INVALID_PARAMETER_VALUE"
            },
            format!("Invalid id: \"{id}\""),
        ),
        EbsError::InvalidIdParameter { param, kind, id } => v(
            if kind == "snap" {
                "INVALID_SNAPSHOT_ID"
            } else {
                "INVALID_PARAMETER_VALUE"
            },
            format!("Value ({id}) for parameter {param} is invalid. Expected: '{kind}-...'."),
        ),
        EbsError::InvalidId { id } => v(
            "INVALID_PARAMETER_VALUE",
            format!("The ID '{id}' is not valid"),
        ),
        EbsError::TagLimitExceeded { id } => v("INVALID_TAG", format!("Too many tags on {id}.")),
        EbsError::Kms { code, message } => match code.as_str() {
            "NotFoundException" => AwsError::new("ResourceNotFoundException", 404, message)
                .with_field("Reason", "DEPENDENCY_RESOURCE_NOT_FOUND"),
            "AccessDeniedException" | "DisabledException" | "KMSInvalidStateException" => {
                AwsError::new("AccessDeniedException", 403, message)
                    .with_field("Reason", "DEPENDENCY_ACCESS_DENIED")
            }
            _ => v("INVALID_CUSTOMER_KEY", message),
        },
        EbsError::InvalidParameterValue(m)
        | EbsError::InvalidParameterCombination(m)
        | EbsError::InvalidParameterDependency(m)
        | EbsError::MissingParameter(m)
        | EbsError::IncorrectState(m)
        | EbsError::OperationNotPermitted(m) => v("INVALID_PARAMETER_VALUE", m),
        EbsError::ZoneNotFound { zone } => v(
            "INVALID_PARAMETER_VALUE",
            format!("The zone '{zone}' does not exist."),
        ),
        EbsError::VolumeInUse { id } => {
            v("INVALID_PARAMETER_VALUE", format!("Volume {id} is in use."))
        }
        EbsError::SnapshotInUse { id, by } => v(
            "INVALID_PARAMETER_VALUE",
            format!("The snapshot {id} is currently in use by {by}"),
        ),
        EbsError::ResourceLimitExceeded(m) => {
            AwsError::new("ConcurrentLimitExceededException", 400, m)
        }
        EbsError::DryRun => v("INVALID_PARAMETER_VALUE", "DryRun is not supported.".into()),
        EbsError::BlockDamaged { .. } | EbsError::Internal(_) => AwsError::new(
            "InternalServerException",
            500,
            "An internal error occurred.",
        ),
        EbsError::NotImplemented(what) => AwsError::not_implemented("ebs", what),
    }
}
