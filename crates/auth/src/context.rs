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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionPolicy;
    use kmsnap_core::AccountId;
    use std::sync::Arc;

    fn session() -> Principal {
        let account = AccountId::parse("111111111111").unwrap();
        Principal {
            account,
            arn: "arn:aws:sts::111111111111:assumed-role/deploy/s".into(),
            user_id: "AROAEXAMPLE:s".into(),
            kind: PrincipalKind::AssumedRole {
                role_name: "deploy".into(),
                role_arn: "arn:aws:iam::111111111111:role/deploy".into(),
                session_name: "s".into(),
                session_policy: Some(Arc::new(SessionPolicy {
                    inline: None,
                    managed_arns: vec![],
                })),
                source_identity: Some("alice".into()),
            },
            access_key_id: "ASIAEXAMPLE".into(),
        }
    }

    fn text(c: &ConditionContext, key: &str) -> Option<String> {
        match c.get(key)? {
            ContextValue::String(s) => Some(s.clone()),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn global_keys_of_a_role_session_through_a_service() {
        let ctx = RequestContext {
            principal: session(),
            region: Region::parse("eu-west-1").unwrap(),
            request_id: "r".into(),
            source_ip: "192.0.2.7".parse().unwrap(),
            user_agent: String::new(),
            now: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            via_service: None,
        };
        let direct = ctx.condition_context();
        // A session's aws:PrincipalArn is its role's ARN, as in AWS.
        assert_eq!(
            text(&direct, "aws:PrincipalArn").as_deref(),
            Some("arn:aws:iam::111111111111:role/deploy")
        );
        assert_eq!(
            text(&direct, "aws:PrincipalAccount").as_deref(),
            Some("111111111111")
        );
        assert_eq!(
            text(&direct, "aws:PrincipalType").as_deref(),
            Some("AssumedRole")
        );
        assert_eq!(
            text(&direct, "aws:SourceIdentity").as_deref(),
            Some("alice")
        );
        assert_eq!(text(&direct, "aws:username"), None);
        assert_eq!(text(&direct, "aws:SourceIp").as_deref(), Some("192.0.2.7"));
        assert_eq!(
            text(&direct, "aws:RequestedRegion").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            direct.get("aws:CurrentTime"),
            Some(&ContextValue::Date(ctx.now))
        );
        assert_eq!(
            direct.get("aws:EpochTime"),
            Some(&ContextValue::Number(1_700_000_000.0))
        );
        assert_eq!(
            direct.get("aws:SecureTransport"),
            Some(&ContextValue::Bool(false))
        );
        assert_eq!(
            direct.get("aws:ViaAWSService"),
            Some(&ContextValue::Bool(false))
        );
        // No user agent sent: the key is absent, not empty.
        assert!(!direct.contains("aws:UserAgent"));
        let via = ctx.via("ec2.amazonaws.com").condition_context();
        assert_eq!(
            via.get("aws:ViaAWSService"),
            Some(&ContextValue::Bool(true))
        );
    }

    #[test]
    fn global_keys_of_a_user_and_the_root() {
        let account = AccountId::parse("111111111111").unwrap();
        let user = principal_context(&Principal::user(account, "bob", "AKIA"));
        assert_eq!(text(&user, "aws:username").as_deref(), Some("bob"));
        assert_eq!(text(&user, "aws:PrincipalType").as_deref(), Some("User"));
        assert!(!user.contains("aws:SourceIdentity"));
        let root = principal_context(&Principal::root(account, "111111111111"));
        assert_eq!(
            text(&root, "aws:PrincipalArn").as_deref(),
            Some("arn:aws:iam::111111111111:root")
        );
        assert_eq!(text(&root, "aws:PrincipalType").as_deref(), Some("Account"));
        assert_eq!(text(&root, "aws:userid").as_deref(), Some("111111111111"));
        assert_eq!(
            principal_info(&Principal::root(account, "x")).kind,
            kmsnap_policy::PrincipalKind::Root
        );
    }
}
