//! Authorization of KMS requests (spec/kms.md §7): the key policy decides; a statement that
//! allows only because it names the caller's account root delegates to the caller's identity
//! policies; grants add the operations they list; an explicit deny anywhere wins; cross-account
//! use needs the key policy *and* the caller's own identity policies (the root of the other
//! account is allowed by default).
//!
//! Identity policies come from IAM, which lives above KMS in the dependency order (the server
//! wires it): [`IdentityPolicySource`] is the seam.

use kmsnap_auth::Principal;
use kmsnap_policy::Policy;
use std::sync::Arc;

/// Where KMS finds the identity-based policies of a caller.
pub trait IdentityPolicySource: Send + Sync {
    /// The identity policies attached to `principal`: an IAM user's policies, an assumed role's
    /// role policies. The account root has none (it is not governed by identity policies).
    /// Each policy was parsed with [`kmsnap_policy::PolicyKind::Identity`].
    fn policies_for(&self, principal: &Principal) -> Result<Vec<Arc<Policy>>, String>;
}

/// No IAM wired: users and roles have no identity policies, so only the root and principals a
/// key policy names directly are allowed.
#[derive(Debug, Default)]
pub struct NoIdentityPolicies;

impl IdentityPolicySource for NoIdentityPolicies {
    fn policies_for(&self, _principal: &Principal) -> Result<Vec<Arc<Policy>>, String> {
        Ok(Vec::new())
    }
}
