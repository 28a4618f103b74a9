//! Evaluation: AWS's logic over one or more policies. An explicit `Deny` in any policy wins;
//! otherwise any `Allow` allows; otherwise the request is implicitly denied. The
//! [`Decision`] names the statement that decided, for logs and AccessDenied messages.

use std::fmt;

use crate::context::ConditionContext;
use crate::model::{Effect, Listed, Policy, PolicyKind, Statement};
use crate::principal::{principal_applies, PrincipalInfo, PrincipalMatch};
use crate::wildcard::{arn_glob, glob};

/// A request to authorise.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// The caller.
    pub principal: PrincipalInfo,
    /// `service:Action`, e.g. `kms:Encrypt`.
    pub action: &'a str,
    /// The resource ARN.
    pub resource: &'a str,
    /// Condition keys. `aws:PrincipalArn` and `aws:PrincipalAccount` are derived from
    /// `principal` when absent; everything else is the caller's to fill in.
    pub context: ConditionContext,
}

/// Where a policy came from; names the policy type in AccessDenied messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicySource {
    /// A resource-based policy (a KMS key policy).
    ResourceBased,
    /// An identity-based policy (IAM user/role policy).
    IdentityBased,
    /// A session policy (the `Policy` / `PolicyArns` of the AssumeRole call that created a
    /// role session). It limits what the session's identity-based policies allow.
    Session,
}

impl PolicySource {
    /// `resource-based` / `identity-based`, as in AWS's messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::ResourceBased => "resource-based",
            PolicySource::IdentityBased => "identity-based",
            PolicySource::Session => "session",
        }
    }
}

impl From<PolicyKind> for PolicySource {
    fn from(k: PolicyKind) -> Self {
        match k {
            PolicyKind::Resource => PolicySource::ResourceBased,
            PolicyKind::Identity => PolicySource::IdentityBased,
        }
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionEffect {
    /// Some statement allows and none denies.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

/// Which statement decided.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    /// Index into the `policies` slice given to [`evaluate`].
    pub policy: usize,
    /// The policy's source.
    pub source: PolicySource,
    /// 0-based index of the statement in its policy.
    pub index: usize,
    /// The statement's `Sid`, if any.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} policy #{} statement ",
            self.source.as_str(),
            self.policy
        )?;
        match &self.sid {
            Some(sid) if !sid.is_empty() => write!(f, "{sid:?}"),
            _ => write!(f, "#{}", self.index),
        }
    }
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow, explicit deny or implicit deny.
    pub effect: DecisionEffect,
    /// The deciding statement (`None` for an implicit deny).
    pub statement: Option<StatementRef>,
    /// For an allow: how the principal matched. When several statements allow, the most
    /// specific match is reported (Exact, Identity, Wildcard, NotPrincipal, then
    /// AccountRoot), so `AccountRoot` here means the only allows are delegations to the
    /// caller's account.
    pub principal_match: Option<PrincipalMatch>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.effect == DecisionEffect::Allow
    }

    /// AWS's AccessDeniedException message, e.g. `User: <arn> is not authorized to perform:
    /// kms:Encrypt on resource: <arn> because no resource-based policy allows the
    /// kms:Encrypt action`. `source` names the policy type for an implicit deny. `None` when
    /// the decision is an allow.
    pub fn access_denied_message(&self, req: &Request<'_>, source: PolicySource) -> Option<String> {
        let head = format!(
            "User: {} is not authorized to perform: {} on resource: {}",
            req.principal.arn, req.action, req.resource
        );
        match (&self.effect, &self.statement) {
            (DecisionEffect::Allow, _) => None,
            (DecisionEffect::ExplicitDeny, Some(s)) => {
                let article = match s.source {
                    PolicySource::ResourceBased | PolicySource::Session => "a",
                    PolicySource::IdentityBased => "an",
                };
                Some(format!(
                    "{head} with an explicit deny in {article} {} policy",
                    s.source.as_str()
                ))
            }
            _ => Some(format!(
                "{head} because no {} policy allows the {} action",
                source.as_str(),
                req.action
            )),
        }
    }
}

impl Policy {
    /// Evaluates this policy alone (source from its kind).
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        evaluate(&[(self, self.kind.into())], req)
    }
}

/// Evaluates `req` against all `policies` together.
pub fn evaluate(policies: &[(&Policy, PolicySource)], req: &Request<'_>) -> Decision {
    let ctx = effective_context(req);
    let mut best_allow: Option<(StatementRef, PrincipalMatch)> = None;
    for (pi, (policy, source)) in policies.iter().enumerate() {
        for (si, st) in policy.statements.iter().enumerate() {
            let Some(m) = statement_applies(st, req, &ctx) else {
                continue;
            };
            let sref = StatementRef {
                policy: pi,
                source: *source,
                index: si,
                sid: st.sid.clone(),
            };
            match st.effect {
                Effect::Deny => {
                    return Decision {
                        effect: DecisionEffect::ExplicitDeny,
                        statement: Some(sref),
                        principal_match: None,
                    }
                }
                Effect::Allow => {
                    let better = match &best_allow {
                        None => true,
                        Some((_, prev)) => m.rank() < prev.rank(),
                    };
                    if better {
                        best_allow = Some((sref, m));
                    }
                }
            }
        }
    }
    match best_allow {
        Some((sref, m)) => Decision {
            effect: DecisionEffect::Allow,
            statement: Some(sref),
            principal_match: Some(m),
        },
        None => Decision {
            effect: DecisionEffect::ImplicitDeny,
            statement: None,
            principal_match: None,
        },
    }
}

fn effective_context(req: &Request<'_>) -> ConditionContext {
    let mut ctx = req.context.clone();
    if !ctx.contains("aws:PrincipalArn") {
        if let Some(arn) = req.principal.principal_arn() {
            ctx.insert("aws:PrincipalArn", arn);
        }
    }
    if !ctx.contains("aws:PrincipalAccount") && !req.principal.account.is_empty() {
        ctx.insert("aws:PrincipalAccount", req.principal.account.as_str());
    }
    ctx
}

/// Whether the statement applies to the request (ignoring its effect); returns how the
/// principal matched.
fn statement_applies(
    st: &Statement,
    req: &Request<'_>,
    ctx: &ConditionContext,
) -> Option<PrincipalMatch> {
    let action_ok = match &st.action {
        Listed::Is(list) => list.iter().any(|p| glob(p, req.action, true)),
        Listed::Not(list) => !list.iter().any(|p| glob(p, req.action, true)),
    };
    if !action_ok {
        return None;
    }
    let resource_ok = match &st.resource {
        None => true,
        Some(Listed::Is(list)) => list.iter().any(|p| arn_glob(p, req.resource)),
        Some(Listed::Not(list)) => !list.iter().any(|p| arn_glob(p, req.resource)),
    };
    if !resource_ok {
        return None;
    }
    let m = principal_applies(st.principal.as_ref(), &req.principal)?;
    st.conditions.iter().all(|c| c.holds(ctx)).then_some(m)
}
