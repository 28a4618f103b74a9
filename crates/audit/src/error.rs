//! The audit crate's one error type and its one mapping to CloudTrail error codes.

use kmsnap_api::AwsError;
use kmsnap_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed (I/O, lock, corrupt page).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// An event could not be serialised.
    #[error("cannot encode audit event: {detail}")]
    Encode { detail: String },

    /// A stored audit record could not be read back.
    #[error("corrupt audit record {seq}: {detail}")]
    Corrupt { seq: u64, detail: String },

    /// Writing an export failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The audit journal's files could not be read or written.
    #[error("audit journal: {detail}")]
    Journal { detail: String },

    /// The background writer is gone (shut down), so the events were not recorded.
    #[error("audit writer is shut down")]
    WriterClosed,

    /// The batch holding the events failed to commit; none of its events were recorded.
    #[error("audit batch failed to commit: {detail}")]
    BatchFailed { detail: String },

    /// LookupEvents: more than one lookup attribute, or an invalid attribute value.
    #[error("{message}")]
    InvalidLookupAttributes { message: String },

    /// LookupEvents: StartTime after EndTime.
    #[error("Start time must be earlier than end time.")]
    InvalidTimeRange,

    /// LookupEvents: MaxResults outside 1–50.
    #[error("MaxResults {value} is not in 1-50.")]
    InvalidMaxResults { value: i32 },

    /// LookupEvents: a NextToken this server did not issue for this account and Region.
    #[error("Invalid NextToken.")]
    InvalidNextToken,
}

impl From<AuditError> for AwsError {
    fn from(e: AuditError) -> Self {
        let message = e.to_string();
        match e {
            AuditError::InvalidLookupAttributes { .. } => {
                AwsError::new("InvalidLookupAttributesException", 400, message)
            }
            AuditError::InvalidTimeRange => {
                AwsError::new("InvalidTimeRangeException", 400, message)
            }
            AuditError::InvalidMaxResults { .. } => {
                AwsError::new("InvalidMaxResultsException", 400, message)
            }
            AuditError::InvalidNextToken => {
                AwsError::new("InvalidNextTokenException", 400, message)
            }
            AuditError::Store(_)
            | AuditError::Encode { .. }
            | AuditError::Corrupt { .. }
            | AuditError::Io(_)
            | AuditError::Journal { .. }
            | AuditError::WriterClosed
            | AuditError::BatchFailed { .. } => AwsError::internal("InternalFailure"),
        }
    }
}
