//! Identity-side authorization, for every service: what a caller's identity-based policies
//! and, for a role session given any, its session policies say about a request.
//!
//! * [`identity_side`] evaluates them together: an explicit deny in either denies; otherwise
//!   both must allow (IAM User Guide, "Policy evaluation logic" and "Session policies";
//!   docs/sts-sessions.md). KMS combines its answer with key policies and grants; IAM's own
//!   operations and STS trust decisions (in `policies`) use it as it is.
//! * [`session_decision`] and [`session_admits`]: how session policies answer a request, and
//!   whether they leave standing a resource-based policy's allow (a statement naming the role
//!   is limited by them, one naming the session's own ARN is not).
//! * [`IdentityPolicySource`]: where a service finds a caller's identity policies — IAM's
//!   [`IamPolicies`](crate::IamPolicies), given to KMS when it is built.
//! * [`PolicyEngine`]: the policy language as IAM's operations need it (validation and
//!   `iam:<Action>` authorization), a seam so that their tests can plug in a fake.

use std::sync::Arc;

use kmsnap_auth::{Principal, RequestContext};
use kmsnap_policy::{
    Decision, DecisionEffect, Policy, PolicyKind, PolicySource, PrincipalMatch, Request,
};

use crate::error::IamError;

/// The answer of the caller's identity policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Denied (explicitly or for want of an allow), with AWS's AccessDenied message.
    Denied {
        message: String,
    },
}

/// The policy language as IAM's operations need it: validating documents (PutUserPolicy,
/// PutRolePolicy, CreateRole's trust policy) and evaluating the caller's identity policies for
/// `iam:<Action>`. [`IamPolicies`](crate::IamPolicies) implements it with kmsnap-policy.
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

/// Where a service finds the identity-based policies of a caller.
pub trait IdentityPolicySource: Send + Sync {
    /// The identity policies attached to `principal`: an IAM user's policies, an assumed role's
    /// role policies. The account root has none (it is not governed by identity policies).
    /// Each policy was parsed with [`PolicyKind::Identity`].
    fn policies_for(&self, principal: &Principal) -> Result<Vec<Arc<Policy>>, String>;
}

/// No IAM: users and roles have no identity policies, so only the root and principals a
/// resource policy names directly are allowed (a service built without IAM, in tests and
/// tools).
#[derive(Debug, Default)]
pub struct NoIdentityPolicies;

impl IdentityPolicySource for NoIdentityPolicies {
    fn policies_for(&self, _principal: &Principal) -> Result<Vec<Arc<Policy>>, String> {
        Ok(Vec::new())
    }
}

/// The session policies of a role session that AssumeRole gave any, parsed; `None` for every
/// other caller (nothing to intersect with). The inline `Policy` was validated when the session
/// was created; should it no longer parse it allows nothing. `PolicyArns` name IAM managed
/// policies, which kmsnap does not have: each contributes no policy and so no allow, which
/// keeps a session given only such ARNs from doing anything (docs/sts-sessions.md, "PolicyArns").
pub fn session_policies(p: &Principal) -> Option<Vec<Policy>> {
    let sp = p.session_policy()?;
    let mut out = Vec::with_capacity(1);
    if let Some(doc) = &sp.inline {
        match Policy::parse(doc, PolicyKind::Identity) {
            Ok(policy) => out.push(policy),
            Err(e) => {
                tracing::error!(principal = %p.arn, error = %e, "session policy does not parse; it allows nothing")
            }
        }
    }
    Some(out)
}

/// How the session policies of `p` answer `req`; `None` when `p` has none.
pub fn session_decision(p: &Principal, req: &Request<'_>) -> Option<Decision> {
    let policies = session_policies(p)?;
    let refs: Vec<(&Policy, PolicySource)> = policies
        .iter()
        .map(|p| (p, PolicySource::Session))
        .collect();
    Some(kmsnap_policy::evaluate(&refs, req))
}

/// Whether the session policies (`session`, from [`session_decision`]) leave standing an allow
/// of a resource-based policy that matched the caller as `matched`: always when the caller has
/// none or the policy named the session's own ARN, else only when they allow the request too.
pub fn session_admits(session: Option<&Decision>, matched: Option<PrincipalMatch>) -> bool {
    match session {
        None => true,
        Some(d) => d.is_allowed() || matched == Some(PrincipalMatch::Session),
    }
}

/// The AccessDenied message of a request the session policies did not allow.
pub fn session_denied_message(session: &Decision, req: &Request<'_>) -> String {
    session
        .access_denied_message(req, PolicySource::Session)
        .unwrap_or_default()
}

/// How the identity side of a request answers: the caller's identity-based policies, and for a
/// role session given session policies, those too. Messages are AWS's AccessDenied texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityAnswer {
    /// The account root: not governed by identity policies, allowed.
    Root,
    Allow,
    ExplicitDeny(String),
    NoAllow(String),
}

impl IdentityAnswer {
    pub fn allows(&self) -> bool {
        matches!(self, IdentityAnswer::Root | IdentityAnswer::Allow)
    }
}

/// The identity side of `req` for a caller other than the root: its identity-based `policies`
/// and its session policies (`session`, from [`session_decision`]). An explicit deny in either
/// denies; otherwise both must allow (the intersection AWS documents in "Policy evaluation
/// logic"), and a denial names the policy type that did not allow.
pub fn identity_side(
    policies: &[Arc<Policy>],
    session: Option<&Decision>,
    req: &Request<'_>,
) -> IdentityAnswer {
    let refs: Vec<(&Policy, PolicySource)> = policies
        .iter()
        .map(|p| (p.as_ref(), PolicySource::IdentityBased))
        .collect();
    let d = kmsnap_policy::evaluate(&refs, req);
    let identity_msg = || {
        d.access_denied_message(req, PolicySource::IdentityBased)
            .unwrap_or_default()
    };
    if d.effect == DecisionEffect::ExplicitDeny {
        return IdentityAnswer::ExplicitDeny(identity_msg());
    }
    if let Some(s) = session.filter(|s| s.effect == DecisionEffect::ExplicitDeny) {
        return IdentityAnswer::ExplicitDeny(session_denied_message(s, req));
    }
    if d.effect != DecisionEffect::Allow {
        return IdentityAnswer::NoAllow(identity_msg());
    }
    match session {
        Some(s) if !s.is_allowed() => IdentityAnswer::NoAllow(session_denied_message(s, req)),
        _ => IdentityAnswer::Allow,
    }
}

/// The identity side of `req` for `principal`: the root is allowed; anyone else gets
/// [`identity_side`] over the policies `source` has for them and `session` (from
/// [`session_decision`]).
pub fn identity_answer(
    source: &dyn IdentityPolicySource,
    principal: &Principal,
    session: Option<&Decision>,
    req: &Request<'_>,
) -> Result<IdentityAnswer, String> {
    if principal.is_root() {
        return Ok(IdentityAnswer::Root);
    }
    let policies = source.policies_for(principal)?;
    Ok(identity_side(&policies, session, req))
}
