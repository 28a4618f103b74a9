//! [`IamError`]: every way an IAM operation fails, and its one mapping to IAM's wire errors
//! (awsQuery codes, HTTP status, AWS's message wording) and to CloudTrail's `errorCode`.

use kmsnap_api::AwsError;

use crate::model::OwnerKind;

/// What went wrong in an IAM operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    /// Input that breaks a constraint of the model the codec does not check (patterns).
    #[error("{} validation error(s)", problems.len())]
    Validation { problems: Vec<String> },
    /// A request that is well-formed but not acceptable (e.g. no user name with root
    /// credentials).
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
    #[error("no such user {name}")]
    NoSuchUser { name: String },
    #[error("no such role {name}")]
    NoSuchRole { name: String },
    #[error("no such {} policy {policy}", owner.as_str())]
    NoSuchPolicy { owner: OwnerKind, policy: String },
    #[error("no such access key {access_key_id}")]
    NoSuchAccessKey { access_key_id: String },
    /// A permissions boundary names a managed policy; managed policies do not exist here.
    #[error("no such permissions boundary {arn}")]
    NoSuchBoundary { arn: String },
    #[error("{} {name} already exists", owner.as_str())]
    AlreadyExists { owner: OwnerKind, name: String },
    #[error("user {name} still has access keys")]
    UserHasAccessKeys { name: String },
    #[error("{} {name} still has policies", owner.as_str())]
    HasPolicies { owner: OwnerKind, name: String },
    #[error("user {user} has {limit} access keys already")]
    AccessKeyQuota { user: String, limit: usize },
    /// The aggregate size of a user's or role's inline policies would exceed IAM's quota.
    #[error("inline policies of {} {name} exceed {limit} characters", owner.as_str())]
    PolicySizeQuota {
        owner: OwnerKind,
        name: String,
        limit: usize,
    },
    /// A trust policy longer than IAM's quota.
    #[error("trust policy exceeds {limit} characters")]
    TrustPolicySizeQuota { limit: usize },
    /// The policy language refused a document; the reason is safe to show.
    #[error("malformed policy document: {reason}")]
    MalformedPolicy { reason: String },
    /// The caller's identity policies do not allow the action; AWS's message.
    #[error("access denied")]
    AccessDenied { message: String },
    /// The store, the RNG or the sealing key failed; the detail goes to the log only.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl IamError {
    /// The error the client sees. Every variant is mapped explicitly.
    pub fn to_aws_error(&self) -> AwsError {
        match self {
            IamError::Validation { problems } => {
                AwsError::validation("ValidationError", 400, problems)
            }
            IamError::InvalidRequest { message } => {
                AwsError::new("ValidationError", 400, message.clone())
            }
            IamError::NoSuchUser { name } => {
                no_such(format!("The user with name {name} cannot be found."))
            }
            IamError::NoSuchRole { name } => {
                no_such(format!("The role with name {name} cannot be found."))
            }
            IamError::NoSuchPolicy { owner, policy } => no_such(format!(
                "The {} policy with name {policy} cannot be found.",
                owner.as_str()
            )),
            IamError::NoSuchAccessKey { access_key_id } => no_such(format!(
                "The Access Key with id {access_key_id} cannot be found."
            )),
            IamError::NoSuchBoundary { arn } => no_such(format!(
                "Scope ARN: {arn} does not exist or is not attachable."
            )),
            IamError::AlreadyExists { owner, name } => AwsError::new(
                "EntityAlreadyExists",
                409,
                format!("{} with name {name} already exists.", capitalised(*owner)),
            ),
            IamError::UserHasAccessKeys { .. } => AwsError::new(
                "DeleteConflict",
                409,
                "Cannot delete entity, must delete access keys first.",
            ),
            IamError::HasPolicies { .. } => AwsError::new(
                "DeleteConflict",
                409,
                "Cannot delete entity, must delete policies first.",
            ),
            IamError::AccessKeyQuota { limit, .. } => AwsError::new(
                "LimitExceeded",
                409,
                format!("Cannot exceed quota for AccessKeysPerUser: {limit}"),
            ),
            IamError::PolicySizeQuota { owner, name, limit } => AwsError::new(
                "LimitExceeded",
                409,
                format!(
                    "Maximum policy size of {limit} bytes exceeded for {} {name}",
                    owner.as_str()
                ),
            ),
            IamError::TrustPolicySizeQuota { limit } => AwsError::new(
                "LimitExceeded",
                409,
                format!("Cannot exceed quota for ACLSizePerRole: {limit}"),
            ),
            IamError::MalformedPolicy { reason } => {
                AwsError::new("MalformedPolicyDocument", 400, reason.clone())
            }
            IamError::AccessDenied { message } => {
                AwsError::new("AccessDenied", 403, message.clone())
            }
            IamError::Internal(_) => AwsError::internal("ServiceFailure"),
        }
    }

    /// CloudTrail's `errorCode` for a failed call: IAM's modelled errors appear under their
    /// exception names (`NoSuchEntityException`), the others under their wire code.
    pub fn cloudtrail_code(&self) -> String {
        let e = self.to_aws_error();
        match e.code.as_ref() {
            "NoSuchEntity"
            | "EntityAlreadyExists"
            | "DeleteConflict"
            | "LimitExceeded"
            | "MalformedPolicyDocument"
            | "ServiceFailure" => format!("{}Exception", e.code),
            other => other.to_owned(),
        }
    }

    /// Whether the failure is the caller's (recorded in the audit log) rather than ours.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, IamError::Internal(_))
    }
}

fn no_such(message: String) -> AwsError {
    AwsError::new("NoSuchEntity", 404, message)
}

fn capitalised(owner: OwnerKind) -> &'static str {
    match owner {
        OwnerKind::User => "User",
        OwnerKind::Role => "Role",
    }
}

impl From<kmsnap_core::ids::RngError> for IamError {
    fn from(_: kmsnap_core::ids::RngError) -> Self {
        IamError::Internal("random number generator".into())
    }
}

impl From<IamError> for AwsError {
    fn from(e: IamError) -> Self {
        e.to_aws_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_statuses_and_messages() {
        let cases = [
            (
                IamError::NoSuchUser {
                    name: "alice".into(),
                },
                "NoSuchEntity",
                404,
                "The user with name alice cannot be found.",
            ),
            (
                IamError::NoSuchRole { name: "r".into() },
                "NoSuchEntity",
                404,
                "The role with name r cannot be found.",
            ),
            (
                IamError::NoSuchPolicy {
                    owner: OwnerKind::Role,
                    policy: "p".into(),
                },
                "NoSuchEntity",
                404,
                "The role policy with name p cannot be found.",
            ),
            (
                IamError::AlreadyExists {
                    owner: OwnerKind::User,
                    name: "alice".into(),
                },
                "EntityAlreadyExists",
                409,
                "User with name alice already exists.",
            ),
            (
                IamError::UserHasAccessKeys { name: "a".into() },
                "DeleteConflict",
                409,
                "Cannot delete entity, must delete access keys first.",
            ),
            (
                IamError::AccessKeyQuota {
                    user: "a".into(),
                    limit: 2,
                },
                "LimitExceeded",
                409,
                "Cannot exceed quota for AccessKeysPerUser: 2",
            ),
            (
                IamError::MalformedPolicy {
                    reason: "bad".into(),
                },
                "MalformedPolicyDocument",
                400,
                "bad",
            ),
            (
                IamError::AccessDenied {
                    message: "User: x".into(),
                },
                "AccessDenied",
                403,
                "User: x",
            ),
        ];
        for (err, code, status, message) in cases {
            let e = err.to_aws_error();
            assert_eq!(
                (e.code.as_ref(), e.status, e.message.as_str()),
                (code, status, message)
            );
        }
        let v = IamError::Validation {
            problems: vec!["Value 'a b' at 'userName' failed".into()],
        }
        .to_aws_error();
        assert_eq!((v.code.as_ref(), v.status), ("ValidationError", 400));
        assert!(v.message.starts_with("1 validation error detected: "));
        let i = IamError::Internal("store: disk on fire".into()).to_aws_error();
        assert_eq!(i.status, 500);
        assert!(!i.message.contains("disk"));
    }

    #[test]
    fn cloudtrail_codes() {
        assert_eq!(
            IamError::NoSuchUser { name: "a".into() }.cloudtrail_code(),
            "NoSuchEntityException"
        );
        assert_eq!(
            IamError::AccessDenied {
                message: String::new()
            }
            .cloudtrail_code(),
            "AccessDenied"
        );
    }
}
