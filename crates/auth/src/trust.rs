//! What STS AssumeRole asks of IAM: [`TrustPolicyCheck`] decides whether a caller may assume a
//! role ([`TrustDecision`] for a [`TrustRequest`]) and validates session policies. The
//! [`Keyring`](crate::Keyring) holds the check it is given; kmsnap-iam's `IamPolicies`
//! implements it over IAM's roles and their trust policies (docs/sts-sessions.md).

use kmsnap_api::AwsError;
use kmsnap_core::AccountId;

use crate::model::Principal;

/// What a role's trust policy says about a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustDecision {
    /// The role exists and the caller may assume it (its trust policy allows, and where AWS
    /// requires it the caller's identity policies allow `sts:AssumeRole` too).
    Allowed {
        /// The role's `MaxSessionDuration` (seconds).
        max_session_duration: i32,
    },
    /// The role exists; the caller may not assume it.
    Denied,
    /// No role has this ARN.
    NoSuchRole,
}

/// One AssumeRole call as the trust policy sees it: who asks for which role, and the request
/// values its conditions may test.
#[derive(Debug, Clone, Copy)]
pub struct TrustRequest<'a> {
    pub caller: &'a Principal,
    pub role_arn: &'a str,
    /// The role's account, from `role_arn`.
    pub role_account: AccountId,
    /// The role's name: the last segment of `role_arn`.
    pub role_name: &'a str,
    /// `sts:RoleSessionName`.
    pub session_name: &'a str,
    /// `sts:ExternalId`: the `ExternalId` parameter; absent when the caller sent none (a
    /// condition on it then does not match, as in AWS).
    pub external_id: Option<&'a str>,
    /// `sts:SourceIdentity`: the `SourceIdentity` parameter. When present the caller also needs
    /// `sts:SetSourceIdentity` on the role, as AWS requires.
    pub source_identity: Option<&'a str>,
}

/// Whether a caller may assume a role (the server's, over IAM roles and their trust policies),
/// and the policy-language checks AssumeRole needs. `Err` only when the check itself failed
/// (answered as an internal error).
pub trait TrustPolicyCheck: Send + Sync {
    fn check(&self, request: &TrustRequest<'_>) -> Result<TrustDecision, AwsError>;
    /// Validates an inline session policy (an identity-based policy document); `Err` carries the
    /// `MalformedPolicyDocument` message.
    fn validate_session_policy(&self, document: &str) -> Result<(), String>;
}
