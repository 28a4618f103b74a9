//! [`PolicyEngine`]: the policy language as IAM needs it, behind a trait because
//! `kmsnap-policy` sits above `auth` in the crate order. The server implements it with
//! kmsnap-policy: validating documents (PutUserPolicy, PutRolePolicy, CreateRole's trust
//! policy) and evaluating the caller's identity policies for `iam:<Action>`.

use super::error::IamError;
use crate::context::RequestContext;

/// The answer of the caller's identity policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Denied (explicitly or for want of an allow), with AWS's AccessDenied message.
    Denied {
        message: String,
    },
}

pub trait PolicyEngine: Send + Sync {
    /// Validates an identity-based policy; `Err` carries the MalformedPolicyDocument message.
    fn validate_identity_policy(&self, document: &str) -> Result<(), String>;
    /// Validates a role trust policy (a resource-based policy with principals).
    fn validate_trust_policy(&self, document: &str) -> Result<(), String>;
    /// Whether the identity policies of the (non-root) caller of `ctx` allow `action`
    /// (`iam:CreateUser`) on `resource` (an ARN).
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: &str,
    ) -> Result<Access, IamError>;
}
