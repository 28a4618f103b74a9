//! Authorization of KMS requests (docs/kms.md §7): the key policy decides; a statement that
//! allows only because it names the caller's account root delegates to the caller's identity
//! policies; grants add the operations they list; an explicit deny anywhere wins; cross-account
//! use needs the key policy *and* the caller's own identity policies (the root of the other
//! account is allowed by default).
//!
//! A role session that AssumeRole gave session policies may do only what its role's identity
//! policies *and* its session policies allow ([`kmsnap_iam::authz::identity_side`]); a key
//! policy statement or a grant that names the role ARN is limited by the session policies too,
//! one that names the session's own ARN is not (IAM User Guide, "Session policies";
//! docs/sts-sessions.md). The same `identity_side` serves IAM's own authorization and STS
//! trust decisions.
//!
//! Identity policies come from IAM, which KMS is given when it is built
//! ([`Kms::with_audit`](crate::Kms::with_audit)); the identity side of every decision
//! (`identity_side`, session policies) is IAM's (kmsnap-iam's `authz`), and the global
//! `aws:*` condition keys are the request context's (kmsnap-auth's
//! [`RequestContext::condition_context`]).

// ---------------------------------------------------------------------------------------------
// Evaluation

use crate::error::KmsError;
use crate::grants;
use crate::model::GrantRecord;
use crate::store::LoadedKey;
use crate::Kms;
use kmsnap_auth::{PrincipalKind as AuthKind, RequestContext};
use kmsnap_iam::authz::{session_admits, session_decision, session_denied_message, IdentityAnswer};
use kmsnap_policy::{
    ConditionContext, ContextValue, Decision, DecisionEffect, Policy, PolicyKind, PolicySource,
    Request,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What is being asked of a key, beyond who asks (the request context).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ask<'a> {
    /// The IAM action without `kms:` (`Encrypt`, `ReEncryptFrom`, `CreateGrant`).
    pub action: &'a str,
    /// The request's encryption context (crypto operations; `kms:EncryptionContext:*` keys and
    /// grant constraints).
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// `GrantTokens` of the request (validated here; grants are effective at once, so a valid
    /// token adds nothing a grant does not already give).
    pub grant_tokens: &'a [String],
    /// The alias the request named the key by (`kms:RequestAlias`).
    pub request_alias: Option<&'a str>,
    /// CreateGrant's parameters (`kms:GrantOperations`, `kms:GranteePrincipal`,
    /// `kms:RetiringPrincipal`).
    pub grant: Option<GrantAsk<'a>>,
    /// Request condition keys the operation supplies (`kms:SigningAlgorithm`,
    /// `kms:MessageType`, `kms:MacAlgorithm`, `kms:EncryptionAlgorithm`,
    /// `kms:DataKeyPairSpec`, `kms:KeyAgreementAlgorithm`; CreateKey's `kms:KeySpec`,
    /// `kms:KeyUsage`, `kms:KeyOrigin`), as (name, value).
    pub conditions: &'a [(&'a str, &'a str)],
}

#[derive(Debug, Clone, Copy)]
pub struct GrantAsk<'a> {
    pub operations: &'a [String],
    pub grantee: &'a str,
    pub retiring: Option<&'a str>,
}

impl<'a> Ask<'a> {
    pub fn action(action: &'a str) -> Self {
        Ask {
            action,
            ..Default::default()
        }
    }
}

/// `kms:ViaService` as AWS writes it: `<service>.<region>.amazonaws.com`. In-process callers
/// name the service either way (`ec2.amazonaws.com` or the regional form).
fn via_service(ctx: &RequestContext, region: &str) -> Option<String> {
    let via = ctx.via_service.as_deref()?;
    match via.strip_suffix(".amazonaws.com") {
        Some(svc) if !svc.contains('.') => Some(format!("{svc}.{region}.amazonaws.com")),
        _ => Some(via.to_owned()),
    }
}

/// The condition keys KMS supplies for a request on `key` (or on no key: account-level
/// actions such as CreateKey).
fn condition_context(
    ctx: &RequestContext,
    key: Option<&LoadedKey>,
    ask: &Ask<'_>,
) -> ConditionContext {
    let mut c = ctx.condition_context();
    c.insert("kms:CallerAccount", ctx.principal.account.as_str());
    let region = key
        .map(|k| k.record.region.as_str())
        .unwrap_or(ctx.region.as_str());
    if let Some(v) = via_service(ctx, region) {
        c.insert("kms:ViaService", v);
    }
    if let Some(k) = key {
        let s = &k.shared.shared;
        c.insert("kms:KeySpec", s.key_spec.as_str());
        c.insert("kms:CustomerMasterKeySpec", s.key_spec.as_str());
        c.insert("kms:KeyUsage", s.key_usage.as_str());
        c.insert("kms:CustomerMasterKeyUsage", s.key_usage.as_str());
        c.insert("kms:KeyOrigin", s.origin.as_str());
        c.insert("kms:MultiRegion", ContextValue::Bool(s.multi_region));
        c.insert("kms:ResourceAliases", ContextValue::List(Vec::new()));
        for (tk, tv) in &k.record.tags {
            c.insert(&format!("aws:ResourceTag/{tk}"), tv.as_str());
        }
    }
    if let Some(ec) = ask.encryption_context {
        c.insert_encryption_context(ec.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    for (name, value) in ask.conditions {
        c.insert(name, *value);
    }
    if let Some(alias) = ask.request_alias {
        c.insert("kms:RequestAlias", alias);
    }
    if let Some(g) = &ask.grant {
        c.insert(
            "kms:GrantOperations",
            ContextValue::List(g.operations.to_vec()),
        );
        c.insert("kms:GranteePrincipal", g.grantee);
        if let Some(r) = g.retiring {
            c.insert("kms:RetiringPrincipal", r);
        }
    }
    if matches!(ask.action, "CreateGrant" | "ListGrants" | "RevokeGrant") {
        c.insert(
            "kms:GrantIsForAWSResource",
            ContextValue::Bool(ctx.via_service.is_some()),
        );
    }
    c
}

fn key_policy(key: &LoadedKey) -> Option<Arc<Policy>> {
    key.policy
        .get_or_init(|| match Policy::parse(&key.record.policy, PolicyKind::Resource) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::error!(key = %key.record.arn(), error = %e, "stored key policy does not parse; it allows nothing");
                None
            }
        })
        .clone()
}

fn key_grants(kms: &Kms, key: &LoadedKey) -> Result<Arc<Vec<GrantRecord>>, KmsError> {
    if let Some(g) = key.grants.get() {
        return Ok(g.clone());
    }
    let r = &key.record;
    let loaded = Arc::new(
        kms.store
            .read(|txn| grants::read_for_key(txn, r.account, r.region, &r.key_id))?,
    );
    Ok(key.grants.get_or_init(|| loaded).clone())
}

/// The identity side of `req` for the caller of `ctx`: IAM's answer over the identity policies
/// KMS was given ([`kmsnap_iam::authz::identity_answer`]).
fn identity_answer(
    kms: &Kms,
    ctx: &RequestContext,
    req: &Request<'_>,
    session: Option<&Decision>,
) -> Result<IdentityAnswer, KmsError> {
    kmsnap_iam::authz::identity_answer(kms.identity.as_ref(), &ctx.principal, session, req)
        .map_err(|e| {
            tracing::error!(principal = %ctx.principal.arn, error = %e, "identity policies unavailable");
            KmsError::Internal("identity policies")
        })
}

/// Authorizes `ask` on `key` for the caller of `ctx` (docs/kms.md §7 "Policy evaluation
/// summary"). `Err(AccessDenied)` carries AWS's message.
pub fn authorize(
    kms: &Kms,
    ctx: &RequestContext,
    key: &LoadedKey,
    ask: &Ask<'_>,
) -> Result<(), KmsError> {
    grants::check_tokens(ask.grant_tokens)?;
    let arn = key.record.arn();
    let action = format!("kms:{}", ask.action);
    let req = Request {
        principal: ctx.principal_info(),
        action: &action,
        resource: &arn,
        context: condition_context(ctx, Some(key), ask),
    };
    let same_account = ctx.principal.account == key.record.account;

    let kp = match key_policy(key) {
        Some(p) => p.evaluate(&req),
        None => kmsnap_policy::Decision {
            effect: DecisionEffect::ImplicitDeny,
            statement: None,
            principal_match: None,
        },
    };
    if kp.effect == DecisionEffect::ExplicitDeny {
        return Err(denied(&kp, &req, PolicySource::ResourceBased));
    }
    let session = session_decision(&ctx.principal, &req);
    let identity = identity_answer(kms, ctx, &req, session.as_ref())?;
    if let IdentityAnswer::ExplicitDeny(m) = &identity {
        return Err(KmsError::AccessDenied(m.clone()));
    }
    let identity_allows = identity.allows();
    if kp.effect == DecisionEffect::Allow {
        let delegation = kp
            .principal_match
            .is_some_and(|m| m.is_account_delegation());
        // Within the account a statement naming the principal (or everyone) suffices, within
        // what session policies leave; the root statement delegates to IAM. Across accounts
        // both sides must allow.
        if (same_account && !delegation && session_admits(session.as_ref(), kp.principal_match))
            || identity_allows
        {
            return Ok(());
        }
    }
    // Grants add what they list, for their grantee, under their constraints. A grant to the
    // role of a session given session policies is limited by them like a key policy statement
    // naming the role; one to the session's own ARN is not.
    let grants = key_grants(kms, key)?;
    let grant_op = ask.action;
    let ec = ask.encryption_context;
    let session_allows = session.as_ref().is_none_or(|d| d.is_allowed());
    let granted = grants.iter().any(|g| {
        let direct = session_allows || g.grantee == ctx.principal.arn;
        direct && grants::allowing(std::slice::from_ref(g), &ctx.principal, grant_op, ec).is_some()
    });
    if granted {
        return Ok(());
    }
    if !matches!(ctx.principal.kind, AuthKind::Root) && identity_allows {
        // A grant to the caller's account root reaches its principals through IAM.
        let root = kmsnap_auth::Principal::root(ctx.principal.account, "");
        if grants::allowing(&grants, &root, grant_op, ec).is_some() {
            return Ok(());
        }
    }
    Err(match (kp.effect, identity, &session) {
        (DecisionEffect::Allow, _, Some(s)) if same_account && !s.is_allowed() => {
            KmsError::AccessDenied(session_denied_message(s, &req))
        }
        (DecisionEffect::Allow, IdentityAnswer::NoAllow(m), _) => KmsError::AccessDenied(m),
        _ => denied(&kp, &req, PolicySource::ResourceBased),
    })
}

fn denied(d: &kmsnap_policy::Decision, req: &Request<'_>, source: PolicySource) -> KmsError {
    KmsError::AccessDenied(d.access_denied_message(req, source).unwrap_or_default())
}

/// Authorizes an action that names no key (CreateKey, ListKeys, ListAliases, GenerateRandom,
/// ListRetirableGrants): only identity policies decide; the account root may.
pub fn authorize_account(kms: &Kms, ctx: &RequestContext, ask: &Ask<'_>) -> Result<(), KmsError> {
    if matches!(ctx.principal.kind, AuthKind::Root) {
        return Ok(());
    }
    let action = format!("kms:{}", ask.action);
    let req = Request {
        principal: ctx.principal_info(),
        action: &action,
        resource: "*",
        context: condition_context(ctx, None, ask),
    };
    let session = session_decision(&ctx.principal, &req);
    match identity_answer(kms, ctx, &req, session.as_ref())? {
        IdentityAnswer::Root | IdentityAnswer::Allow => Ok(()),
        IdentityAnswer::ExplicitDeny(m) | IdentityAnswer::NoAllow(m) => {
            Err(KmsError::AccessDenied(m))
        }
    }
}

/// Whether `policy` (a key policy not yet stored) would let the caller perform `action` on
/// the key `key_arn` — the lockout safety check. Grants are not consulted.
pub fn policy_allows_caller(
    kms: &Kms,
    ctx: &RequestContext,
    policy: &Policy,
    key_arn: &str,
    action: &str,
) -> Result<bool, KmsError> {
    let action = format!("kms:{action}");
    let req = Request {
        principal: ctx.principal_info(),
        action: &action,
        resource: key_arn,
        context: condition_context(ctx, None, &Ask::default()),
    };
    let d = policy.evaluate(&req);
    if d.effect != DecisionEffect::Allow {
        return Ok(false);
    }
    let delegation = d.principal_match.is_some_and(|m| m.is_account_delegation());
    let session = session_decision(&ctx.principal, &req);
    if session
        .as_ref()
        .is_some_and(|s| s.effect == DecisionEffect::ExplicitDeny)
    {
        return Ok(false);
    }
    Ok(if delegation {
        identity_answer(kms, ctx, &req, session.as_ref())?.allows()
    } else {
        session_admits(session.as_ref(), d.principal_match)
    })
}

/// Whether the caller's identity policies (or being the account root) allow `action` on
/// `resource` — for decisions KMS makes without a key policy (RetireGrant by the issuing
/// account).
pub fn identity_allows(
    kms: &Kms,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
) -> Result<bool, KmsError> {
    let action = format!("kms:{action}");
    let req = Request {
        principal: ctx.principal_info(),
        action: &action,
        resource,
        context: condition_context(ctx, None, &Ask::default()),
    };
    let session = session_decision(&ctx.principal, &req);
    Ok(identity_answer(kms, ctx, &req, session.as_ref())?.allows())
}
