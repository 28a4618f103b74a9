//! [`RequestContext`]: who is calling, from where, when, and through which service. Domains
//! receive it with every operation; a domain calling another in-process (EBS asking KMS for a
//! data key) passes a context with `via_service` set, so KMS can check `kms:ViaService`, match
//! grants and record `invokedBy` in the audit event.
//!
//! The global `aws:*` condition keys are built here, once, for every service that evaluates
//! policies: [`principal_context`] (the caller's: `aws:PrincipalArn`, `aws:PrincipalAccount`,
//! `aws:userid`, `aws:PrincipalType`, `aws:username`, `aws:SourceIdentity`) and
//! [`RequestContext::condition_context`] (those plus the request's: `aws:SourceIp`,
//! `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport`, `aws:RequestedRegion`,
//! `aws:ViaAWSService`, `aws:UserAgent`). A service adds its own keys (`kms:*`, `sts:*`,
//! `aws:ResourceTag/*`, `aws:PrincipalTag/*`) to what they return.

use crate::model::{Principal, PrincipalKind};
use chrono::{DateTime, Utc};
use kmsnap_core::Region;
use kmsnap_policy::{ConditionContext, ContextValue, PrincipalInfo};

#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The authenticated caller (for a service call: the original principal).
    pub principal: Principal,
    /// The region of the request's credential scope.
    pub region: Region,
    pub request_id: String,
    pub source_ip: std::net::IpAddr,
    pub user_agent: String,
    /// The injected clock's time when the request was authenticated.
    pub now: DateTime<Utc>,
    /// `Some("ec2.amazonaws.com")` when a service acts on the caller's behalf.
    pub via_service: Option<String>,
}

impl RequestContext {
    /// The same caller, acting through `service` (e.g. `ec2.amazonaws.com`).
    pub fn via(&self, service: &str) -> RequestContext {
        RequestContext {
            via_service: Some(service.to_owned()),
            ..self.clone()
        }
    }
}

impl RequestContext {
    /// The global condition keys of this request: [`principal_context`] of its caller plus the
    /// keys the request adds (source, time, region, agent, whether a service calls).
    pub fn condition_context(&self) -> ConditionContext {
        let mut c = principal_context(&self.principal);
        c.insert("aws:SourceIp", self.source_ip.to_string());
        c.insert("aws:CurrentTime", ContextValue::Date(self.now));
        c.insert(
            "aws:EpochTime",
            ContextValue::Number(self.now.timestamp() as f64),
        );
        c.insert("aws:SecureTransport", ContextValue::Bool(false));
        c.insert("aws:RequestedRegion", self.region.as_str());
        c.insert(
            "aws:ViaAWSService",
            ContextValue::Bool(self.via_service.is_some()),
        );
        if !self.user_agent.is_empty() {
            c.insert("aws:UserAgent", self.user_agent.as_str());
        }
        c
    }

    /// The caller as the policy language sees it.
    pub fn principal_info(&self) -> PrincipalInfo {
        principal_info(&self.principal)
    }
}

/// A principal as the policy language sees it (also for decisions about a caller outside a
/// request's context, such as an STS trust policy's).
pub fn principal_info(p: &Principal) -> PrincipalInfo {
    let kind = match &p.kind {
        PrincipalKind::Root => kmsnap_policy::PrincipalKind::Root,
        PrincipalKind::User { .. } => kmsnap_policy::PrincipalKind::User,
        PrincipalKind::AssumedRole { role_arn, .. } => kmsnap_policy::PrincipalKind::AssumedRole {
            role_arn: role_arn.clone(),
        },
    };
    PrincipalInfo {
        arn: p.arn.clone(),
        account: p.account.as_str().to_owned(),
        kind,
    }
}

/// The global condition keys of a caller (`aws:PrincipalArn` of a role session is its
/// role's, as in AWS; `aws:SourceIdentity` of a session that carries one).
pub fn principal_context(p: &Principal) -> ConditionContext {
    let mut c = ConditionContext::new();
    let principal_arn = match &p.kind {
        PrincipalKind::AssumedRole { role_arn, .. } => role_arn.as_str(),
        _ => p.arn.as_str(),
    };
    c.insert("aws:PrincipalArn", principal_arn);
    c.insert("aws:PrincipalAccount", p.account.as_str());
    c.insert("aws:userid", p.user_id.as_str());
    c.insert(
        "aws:PrincipalType",
        match p.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User { .. } => "User",
            PrincipalKind::AssumedRole { .. } => "AssumedRole",
        },
    );
    if let PrincipalKind::User { name } = &p.kind {
        c.insert("aws:username", name.as_str());
    }
    // Present only for a session that has one, as in AWS.
    if let Some(sid) = p.source_identity() {
        c.insert("aws:SourceIdentity", sid);
    }
    c
}
