//! [`IamPolicies`]: IAM's stored policies evaluated with kmsnap-policy, for the three places
//! that need them:
//! - [`PolicyEngine`] for IAM itself: validating inline policies and trust policies, and
//!   authorizing `iam:<Action>` for IAM users and role sessions (a role session given session
//!   policies: its role's policies intersected with them, docs/sts-sessions.md);
//! - [`IdentityPolicySource`] for KMS: an IAM user's inline policies, an assumed-role session's
//!   role policies, nothing for the root;
//! - [`TrustPolicyCheck`] for STS AssumeRole: the role must exist and its trust policy allow
//!   the caller, with the request's `sts:ExternalId`, `sts:RoleSessionName`,
//!   `sts:SourceIdentity` and the caller's `aws:PrincipalTag/*` for its conditions; where AWS
//!   also requires it (a trust policy that only names the caller's account, or a caller from
//!   another account) the caller's identity policies must allow `sts:AssumeRole` on the role
//!   too. An explicit deny in them always wins. It also validates session policies.
//!
//! Policies are read from the store on every evaluation (so every node of a shared store sees
//! a change at once) and parsed once: [`ParsedPolicies`] caches parsed documents by their text
//! and is cleared on every IAM write.

use crate::authz::{
    session_admits, session_decision, Access, IdentityAnswer, IdentityPolicySource, PolicyEngine,
};
use crate::error::IamError;
use crate::model::{name_key, OwnerKind, PolicyOwner, TagRecord};
use crate::store::{IamStore, MetaIamStore};
use kmsnap_auth::{
    principal_context, principal_info, Principal, PrincipalKind as AuthKind, RequestContext,
    TrustDecision, TrustPolicyCheck, TrustRequest,
};
use kmsnap_policy::{ConditionContext, Decision, Policy, PolicyError, PolicyKind, Request};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Parsed documents are dropped wholesale beyond this many (a bound on memory, not a limit).
const MAX_CACHED: usize = 10_000;

/// Parsed policy documents by kind and text.
#[derive(Default)]
pub struct ParsedPolicies {
    map: Mutex<HashMap<(bool, String), Arc<Policy>>>,
}

impl ParsedPolicies {
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }

    fn get(
        &self,
        document: &str,
        kind: PolicyKind,
    ) -> Result<Arc<Policy>, kmsnap_policy::PolicyError> {
        let key = (kind == PolicyKind::Identity, document.to_owned());
        if let Some(p) = self.map.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let parsed = Arc::new(Policy::parse(document, kind)?);
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            m.insert(key, parsed.clone());
        }
        Ok(parsed)
    }
}

pub struct IamPolicies {
    store: Arc<MetaIamStore>,
    parsed: Arc<ParsedPolicies>,
    /// Dev mode: a session of a role that does not exist acts with its account's full
    /// permissions ([`IamPolicies::identity_policies`]).
    dev_mode: bool,
}

/// The identity policy of a dev-mode session of a role that does not exist: everything in its
/// account, as the account root may (docs/sts-sessions.md, "Dev mode").
const DEV_PHANTOM_ROLE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DevModeRoleThatDoesNotExist","Effect":"Allow","Action":"*","Resource":"*"}]}"#;

impl IamPolicies {
    /// The IAM store over `meta` and the policies evaluated over it, wired so that every IAM
    /// write clears the parsed-policy cache.
    pub fn wire(
        meta: Arc<dyn kmsnap_store::MetaStore>,
        dev_mode: bool,
    ) -> (Arc<MetaIamStore>, Arc<IamPolicies>) {
        let parsed = Arc::new(ParsedPolicies::default());
        let hook = {
            let parsed = parsed.clone();
            Arc::new(move || parsed.clear())
        };
        let store = Arc::new(MetaIamStore::new(meta).on_write(hook));
        (
            store.clone(),
            Arc::new(IamPolicies {
                store,
                parsed,
                dev_mode,
            }),
        )
    }

    /// Forget parsed policies (after a dev-mode reset).
    pub fn clear_cache(&self) {
        self.parsed.clear();
    }

    /// Whose inline policies govern `principal`: an IAM user's own, a role session's role's
    /// (if that role still exists under the session's ARN), nobody's for the root.
    fn owner(&self, principal: &Principal) -> Result<Option<PolicyOwner>, IamError> {
        match &principal.kind {
            AuthKind::Root => Ok(None),
            AuthKind::User { name } => Ok(Some(PolicyOwner {
                account: principal.account,
                kind: OwnerKind::User,
                name: name.clone(),
            })),
            AuthKind::AssumedRole {
                role_name,
                role_arn,
                ..
            } => {
                let role = self.store.read()?.role(principal.account, role_name)?;
                Ok(role.filter(|r| r.arn() == *role_arn).map(|r| PolicyOwner {
                    account: r.account,
                    kind: OwnerKind::Role,
                    name: r.name,
                }))
            }
        }
    }

    /// The identity policies of `principal`, parsed. A stored document that no longer parses
    /// (it was validated when put) allows nothing and is logged.
    ///
    /// In dev mode a session of a role that does not exist (what scripts written for other
    /// local AWS servers assume) gets one policy allowing everything, so it acts with its
    /// account's full permissions, as the account root does — still audited as the assumed
    /// role, and still limited by any session policy (intersected by
    /// [`identity_side`](crate::authz::identity_side)). A role that exists keeps exactly its
    /// own policies; strict mode never gets here.
    pub fn identity_policies(&self, principal: &Principal) -> Result<Vec<Arc<Policy>>, IamError> {
        let Some(owner) = self.owner(principal)? else {
            if self.dev_mode && matches!(principal.kind, AuthKind::AssumedRole { .. }) {
                let all = self
                    .parsed
                    .get(DEV_PHANTOM_ROLE_POLICY, PolicyKind::Identity)
                    .map_err(|e| IamError::Internal(format!("dev-mode role policy: {e}")))?;
                return Ok(vec![all]);
            }
            return Ok(Vec::new());
        };
        let records = self.store.read()?.policies(&owner)?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            match self.parsed.get(&r.document, PolicyKind::Identity) {
                Ok(p) => out.push(p),
                Err(e) => {
                    tracing::error!(owner = %name_key(&owner.name), policy = %r.name, error = %e, "stored IAM policy does not parse; it allows nothing")
                }
            }
        }
        Ok(out)
    }

    /// How the identity side answers `req` for `principal` (the root: allowed): its identity
    /// policies, intersected with the session policies of a role session given any (`session`,
    /// from [`session_decision`]), exactly as KMS asks it ([`crate::authz::identity_answer`]).
    fn identity_answer(
        &self,
        principal: &Principal,
        session: Option<&Decision>,
        req: &Request<'_>,
    ) -> Result<IdentityAnswer, IamError> {
        crate::authz::identity_answer(self, principal, session, req).map_err(IamError::Internal)
    }
}

fn trust_policy_prohibited_field(document: &str) -> Option<&'static str> {
    let doc: serde_json::Value = serde_json::from_str(document).ok()?;
    let statements = match doc.get("Statement")? {
        serde_json::Value::Array(a) => a.iter().collect::<Vec<_>>(),
        other => vec![other],
    };
    statements.iter().find_map(|s| {
        ["Resource", "NotResource"]
            .into_iter()
            .find(|f| s.get(*f).is_some())
    })
}

impl PolicyEngine for IamPolicies {
    fn validate_identity_policy(&self, document: &str) -> Result<(), String> {
        Policy::parse(document, PolicyKind::Identity)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn validate_trust_policy(&self, document: &str) -> Result<(), String> {
        Policy::parse(document, PolicyKind::Resource).map_err(|e| e.to_string())?;
        match trust_policy_prohibited_field(document) {
            Some(field) => Err(format!("Has prohibited field {field}")),
            None => Ok(()),
        }
    }

    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: &str,
    ) -> Result<Access, IamError> {
        let req = Request {
            principal: principal_info(&ctx.principal),
            action,
            resource,
            context: ctx.condition_context(),
        };
        let session = session_decision(&ctx.principal, &req);
        Ok(
            match self.identity_answer(&ctx.principal, session.as_ref(), &req)? {
                IdentityAnswer::Root | IdentityAnswer::Allow => Access::Allowed,
                IdentityAnswer::ExplicitDeny(message) | IdentityAnswer::NoAllow(message) => {
                    Access::Denied { message }
                }
            },
        )
    }
}

impl IdentityPolicySource for IamPolicies {
    fn policies_for(&self, principal: &Principal) -> Result<Vec<Arc<Policy>>, String> {
        self.identity_policies(principal).map_err(|e| e.to_string())
    }
}

impl IamPolicies {
    /// The condition keys of an AssumeRole request as its trust policy sees them: the caller's
    /// (`aws:PrincipalArn`, `aws:SourceIdentity`, …), its tags as `aws:PrincipalTag/<key>`, and
    /// the request's `sts:RoleSessionName`, `sts:ExternalId`, `sts:SourceIdentity`. A parameter
    /// the caller did not send is absent, so a condition on it does not match (unless it is an
    /// `…IfExists` or `Null` test), as in AWS.
    fn trust_context(&self, r: &TrustRequest<'_>) -> Result<ConditionContext, IamError> {
        let mut c = principal_context(r.caller);
        for tag in self.principal_tags(r.caller)? {
            c.insert(&format!("aws:PrincipalTag/{}", tag.key), tag.value);
        }
        c.insert("sts:RoleSessionName", r.session_name);
        if let Some(id) = r.external_id {
            c.insert("sts:ExternalId", id);
        }
        if let Some(id) = r.source_identity {
            c.insert("sts:SourceIdentity", id);
        }
        Ok(c)
    }

    /// The tags of the IAM user, or of the role of a role session (kmsnap has no session tags);
    /// none for the root, or for a user or role that no longer exists.
    fn principal_tags(&self, p: &Principal) -> Result<Vec<TagRecord>, IamError> {
        let read = self.store.read()?;
        Ok(match &p.kind {
            AuthKind::Root => Vec::new(),
            AuthKind::User { name } => read
                .user(p.account, name)?
                .map(|u| u.tags)
                .unwrap_or_default(),
            AuthKind::AssumedRole {
                role_name,
                role_arn,
                ..
            } => read
                .role(p.account, role_name)?
                .filter(|r| r.arn() == *role_arn)
                .map(|r| r.tags)
                .unwrap_or_default(),
        })
    }

    /// Whether the trust policy `trust` and the caller's own policies let the caller of `r`
    /// perform `action` on the role: the trust policy must allow; an explicit deny on the
    /// caller's side denies; otherwise the caller's side must allow too, unless (and
    /// `identity_required` is false) the trust policy names the caller itself within its own
    /// account — a role session's session policies still limit a trust policy naming its role.
    fn trust_allows(
        &self,
        trust: &Policy,
        r: &TrustRequest<'_>,
        action: &str,
        context: &ConditionContext,
        identity_required: bool,
    ) -> Result<bool, IamError> {
        let req = Request {
            principal: principal_info(r.caller),
            action,
            resource: r.role_arn,
            context: context.clone(),
        };
        let trusted = trust.evaluate(&req);
        if !trusted.is_allowed() {
            return Ok(false);
        }
        let session = session_decision(r.caller, &req);
        let identity = self.identity_answer(r.caller, session.as_ref(), &req)?;
        let named_directly = !trusted
            .principal_match
            .is_some_and(|m| m.is_account_delegation());
        Ok(match identity {
            IdentityAnswer::ExplicitDeny(_) => false,
            IdentityAnswer::Root | IdentityAnswer::Allow => true,
            IdentityAnswer::NoAllow(_) => {
                !identity_required
                    && r.caller.account == r.role_account
                    && named_directly
                    && session_admits(session.as_ref(), trusted.principal_match)
            }
        })
    }
}

impl TrustPolicyCheck for IamPolicies {
    fn validate_session_policy(&self, document: &str) -> Result<(), String> {
        Policy::parse(document, PolicyKind::Identity)
            .map(drop)
            .map_err(|e| match e {
                PolicyError::InvalidJson { .. } => {
                    kmsnap_auth::ops::assume_role::NOT_JSON.to_owned()
                }
                other => other.to_string(),
            })
    }

    fn check(&self, request: &TrustRequest<'_>) -> Result<TrustDecision, kmsnap_api::AwsError> {
        let TrustRequest {
            caller,
            role_arn,
            role_account,
            role_name: name,
            ..
        } = *request;
        let fail = |e: IamError| {
            tracing::error!(role = role_arn, error = %e, "trust policy check failed");
            kmsnap_api::AwsError::internal("InternalFailure")
        };
        let role = self
            .store
            .read()
            .map_err(fail)?
            .role(role_account, name)
            .map_err(fail)?;
        let Some(role) = role.filter(|r| r.arn() == role_arn) else {
            // Dev mode lets anyone assume a role that does not exist, but a calling session's
            // own session policies still decide whether it may call sts:AssumeRole at all
            // (docs/sts-sessions.md, "Dev mode").
            let context = self.trust_context(request).map_err(fail)?;
            let req = Request {
                principal: principal_info(caller),
                action: "sts:AssumeRole",
                resource: role_arn,
                context,
            };
            if session_decision(caller, &req).is_some_and(|d| !d.is_allowed()) {
                return Ok(TrustDecision::Denied);
            }
            return Ok(TrustDecision::NoSuchRole);
        };
        let trust = match self.parsed.get(&role.trust_policy, PolicyKind::Resource) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(role = role_arn, error = %e, "stored trust policy does not parse; it trusts nobody");
                return Ok(TrustDecision::Denied);
            }
        };
        let context = self.trust_context(request).map_err(fail)?;
        let mut allowed = self
            .trust_allows(&trust, request, "sts:AssumeRole", &context, false)
            .map_err(fail)?;
        if allowed && request.source_identity.is_some() {
            // Setting a source identity needs sts:SetSourceIdentity in the trust policy and,
            // for a chained caller, in its own policies too (IAM User Guide, "Permissions
            // required to set source identity").
            let chained = matches!(caller.kind, AuthKind::AssumedRole { .. });
            allowed = self
                .trust_allows(&trust, request, "sts:SetSourceIdentity", &context, chained)
                .map_err(fail)?;
        }
        Ok(if allowed {
            TrustDecision::Allowed {
                max_session_duration: role.max_session_duration,
            }
        } else {
            TrustDecision::Denied
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PolicyRecord, RoleRecord, UserRecord};
    use crate::store::AuditNote;
    use kmsnap_core::AccountId;

    const ACCT: &str = "271828182845";
    const OTHER: &str = "314159265358";

    fn acct(a: &str) -> AccountId {
        AccountId::parse(a).unwrap()
    }

    fn ctx(principal: Principal) -> RequestContext {
        crate::testing::request_context(principal, "us-east-1", chrono::Utc::now())
    }

    fn role_record(account: &str, name: &str, trust: &str) -> RoleRecord {
        RoleRecord {
            account: acct(account),
            name: name.into(),
            path: "/".into(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".into(),
            created_ms: 0,
            trust_policy: trust.into(),
            description: None,
            max_session_duration: 7200,
            tags: vec![],
        }
    }

    fn setup(trust: &str, policies: &[(OwnerKind, &str, &str)]) -> Arc<IamPolicies> {
        let (meta, _) = kmsnap_store::open_memory();
        let (store, policies_of) = IamPolicies::wire(meta, false);
        let mut w = store.write().unwrap();
        w.put_role(&role_record(ACCT, "deploy", trust)).unwrap();
        w.put_user(&UserRecord {
            account: acct(ACCT),
            name: "alice".into(),
            path: "/".into(),
            user_id: "AIDAAAAAAAAAAAAAAAAAA".into(),
            created_ms: 0,
            tags: vec![],
        })
        .unwrap();
        for (kind, owner, doc) in policies {
            let owner = PolicyOwner {
                account: acct(ACCT),
                kind: *kind,
                name: (*owner).into(),
            };
            w.put_policy(&PolicyRecord {
                owner,
                name: "p".into(),
                document: (*doc).into(),
            })
            .unwrap();
        }
        let c = ctx(Principal::root(acct(ACCT), ACCT));
        w.commit(&AuditNote {
            ctx: &c,
            operation: "PutUserPolicy",
            request: serde_json::Value::Null,
            response: serde_json::Value::Null,
        })
        .unwrap();
        policies_of
    }

    fn trust(principal: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}]}}"#
        )
    }

    fn allow(action: &str, resource: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
        )
    }

    const ROLE: &str = "arn:aws:iam::271828182845:role/deploy";

    /// An AssumeRole of `role_arn` by `caller`, with no condition values.
    fn asking<'a>(
        caller: &'a Principal,
        role_arn: &'a str,
        role_account: AccountId,
    ) -> TrustRequest<'a> {
        TrustRequest {
            caller,
            role_arn,
            role_account,
            role_name: role_arn.rsplit('/').next().unwrap(),
            session_name: "s",
            external_id: None,
            source_identity: None,
        }
    }

    fn alice() -> Principal {
        Principal::user(acct(ACCT), "alice", "AKIA1")
    }

    fn session() -> Principal {
        Principal {
            account: acct(ACCT),
            arn: "arn:aws:sts::271828182845:assumed-role/deploy/s".into(),
            user_id: "AROAAAAAAAAAAAAAAAAAA:s".into(),
            kind: AuthKind::AssumedRole {
                role_name: "deploy".into(),
                role_arn: ROLE.into(),
                session_name: "s".into(),
                session_policy: None,
                source_identity: None,
            },
            access_key_id: "ASIA1".into(),
        }
    }

    #[test]
    fn identity_policies_of_users_roles_and_root() {
        let p = setup(
            &trust(&format!("arn:aws:iam::{ACCT}:root")),
            &[
                (OwnerKind::User, "alice", &allow("kms:Decrypt", "*")),
                (OwnerKind::Role, "deploy", &allow("kms:Encrypt", "*")),
            ],
        );
        assert_eq!(p.policies_for(&alice()).unwrap().len(), 1);
        assert_eq!(p.policies_for(&session()).unwrap().len(), 1);
        assert!(p
            .policies_for(&Principal::root(acct(ACCT), ACCT))
            .unwrap()
            .is_empty());
        // A session whose role ARN no longer matches the role (other path) gets nothing.
        let mut stale = session();
        stale.kind = AuthKind::AssumedRole {
            role_name: "deploy".into(),
            role_arn: "arn:aws:iam::271828182845:role/old/deploy".into(),
            session_name: "s".into(),
            session_policy: None,
            source_identity: None,
        };
        assert!(p.policies_for(&stale).unwrap().is_empty());
        // Parsed once, reused, cleared on write.
        assert_eq!(p.parsed.map.lock().unwrap().len(), 2);
    }

    /// Issue #17: in dev mode a session of a role that does not exist may do everything in its
    /// account (within its session policy); a role that exists keeps its policies; strict mode
    /// gives a missing role nothing.
    #[test]
    fn dev_mode_sessions_of_missing_roles_act_with_full_permissions() {
        let (meta, _) = kmsnap_store::open_memory();
        let (store, dev) = IamPolicies::wire(meta.clone(), true);
        let (_, strict) = IamPolicies::wire(meta, false);
        let mut phantom = session();
        phantom.kind = AuthKind::AssumedRole {
            role_name: "ghost".into(),
            role_arn: "arn:aws:iam::271828182845:role/ghost".into(),
            session_name: "s".into(),
            session_policy: None,
            source_identity: None,
        };
        let role_arn = "arn:aws:iam::271828182845:role/anything";
        assert_eq!(
            dev.authorize(&ctx(phantom.clone()), "iam:CreateRole", role_arn)
                .unwrap(),
            Access::Allowed
        );
        assert!(matches!(
            strict
                .authorize(&ctx(phantom.clone()), "iam:CreateRole", role_arn)
                .unwrap(),
            Access::Denied { .. }
        ));
        // An existing role's session gets its role's policies, dev mode or not.
        let mut w = store.write().unwrap();
        w.put_role(&role_record(ACCT, "deploy", &trust(ACCT)))
            .unwrap();
        w.commit(&AuditNote {
            ctx: &ctx(Principal::root(acct(ACCT), ACCT)),
            operation: "CreateRole",
            request: serde_json::Value::Null,
            response: serde_json::Value::Null,
        })
        .unwrap();
        assert!(matches!(
            dev.authorize(&ctx(session()), "iam:CreateRole", role_arn)
                .unwrap(),
            Access::Denied { .. }
        ));
    }

    #[test]
    fn iam_actions_need_an_identity_allow() {
        let p = setup(
            &trust(ACCT),
            &[(OwnerKind::User, "alice", &allow("iam:Get*", "*"))],
        );
        let user_arn = "arn:aws:iam::271828182845:user/bob";
        assert_eq!(
            p.authorize(&ctx(alice()), "iam:GetUser", user_arn).unwrap(),
            Access::Allowed
        );
        match p.authorize(&ctx(alice()), "iam:CreateUser", user_arn).unwrap() {
            Access::Denied { message } => assert!(message.starts_with(
                "User: arn:aws:iam::271828182845:user/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::271828182845:user/bob"
            ), "{message}"),
            Access::Allowed => panic!("allowed"),
        }
    }

    #[test]
    fn trust_policies() {
        // The trust policy names alice: enough on its own within the account.
        let p = setup(&trust("arn:aws:iam::271828182845:user/alice"), &[]);
        assert_eq!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed {
                max_session_duration: 7200
            }
        );
        let bob = Principal::user(acct(ACCT), "bob", "AKIA2");
        assert_eq!(
            p.check(&asking(&bob, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        assert_eq!(
            p.check(&asking(
                &alice(),
                "arn:aws:iam::271828182845:role/other",
                acct(ACCT)
            ))
            .unwrap(),
            TrustDecision::NoSuchRole
        );
        assert_eq!(
            p.check(&asking(
                &alice(),
                "arn:aws:iam::271828182845:role/path/deploy",
                acct(ACCT)
            ))
            .unwrap(),
            TrustDecision::NoSuchRole
        );

        // The trust policy names the account: the caller's identity policies must allow too.
        let p = setup(&trust(ACCT), &[]);
        assert_eq!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        assert!(matches!(
            p.check(&asking(
                &Principal::root(acct(ACCT), ACCT),
                ROLE,
                acct(ACCT)
            ))
            .unwrap(),
            TrustDecision::Allowed { .. }
        ));
        let p = setup(
            &trust(ACCT),
            &[(OwnerKind::User, "alice", &allow("sts:AssumeRole", ROLE))],
        );
        assert!(matches!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        // Another account's principal is not trusted.
        let stranger = Principal::root(acct(OTHER), OTHER);
        assert_eq!(
            p.check(&asking(&stranger, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );

        // An explicit deny in the caller's identity policies wins.
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:*","Resource":"*"}]}"#;
        let p = setup(
            &trust("arn:aws:iam::271828182845:user/alice"),
            &[(OwnerKind::User, "alice", deny)],
        );
        assert_eq!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
    }

    fn limited_session(inline: Option<&str>, arns: &[&str]) -> Principal {
        let mut p = session();
        if let AuthKind::AssumedRole { session_policy, .. } = &mut p.kind {
            *session_policy = Some(Arc::new(kmsnap_auth::SessionPolicy {
                inline: inline.map(str::to_owned),
                managed_arns: arns.iter().map(|a| a.to_string()).collect(),
            }));
        }
        p
    }

    #[test]
    fn iam_actions_of_a_session_are_limited_by_its_session_policies() {
        let p = setup(
            &trust(ACCT),
            &[(OwnerKind::Role, "deploy", &allow("iam:*", "*"))],
        );
        let user_arn = "arn:aws:iam::271828182845:user/bob";
        assert_eq!(
            p.authorize(&ctx(session()), "iam:CreateUser", user_arn)
                .unwrap(),
            Access::Allowed
        );
        let read_only = limited_session(Some(&allow("iam:Get*", "*")), &[]);
        assert_eq!(
            p.authorize(&ctx(read_only.clone()), "iam:GetUser", user_arn)
                .unwrap(),
            Access::Allowed
        );
        match p.authorize(&ctx(read_only), "iam:CreateUser", user_arn).unwrap() {
            Access::Denied { message } => assert_eq!(
                message,
                "User: arn:aws:sts::271828182845:assumed-role/deploy/s is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::271828182845:user/bob because no session policy allows the iam:CreateUser action"
            ),
            Access::Allowed => panic!("allowed"),
        }
        // PolicyArns only: kmsnap has no managed policies, so nothing is allowed.
        let arns_only = limited_session(None, &["arn:aws:iam::aws:policy/IAMFullAccess"]);
        assert!(matches!(
            p.authorize(&ctx(arns_only), "iam:GetUser", user_arn)
                .unwrap(),
            Access::Denied { .. }
        ));
    }

    #[test]
    fn role_chaining_is_limited_by_the_callers_session_policies() {
        // The trust policy names the calling session's role: enough within the account, unless
        // the session's policies do not allow sts:AssumeRole.
        let p = setup(&trust(ROLE), &[]);
        assert!(matches!(
            p.check(&asking(&session(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        let no_sts = limited_session(Some(&allow("kms:*", "*")), &[]);
        assert_eq!(
            p.check(&asking(&no_sts, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        let with_sts = limited_session(Some(&allow("sts:AssumeRole", "*")), &[]);
        assert!(matches!(
            p.check(&asking(&with_sts, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        // Naming the session itself is not limited by its session policies.
        let p = setup(
            &trust("arn:aws:sts::271828182845:assumed-role/deploy/s"),
            &[],
        );
        assert!(matches!(
            p.check(&asking(&no_sts, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        // A trust policy naming the account: the role's policies and the session's must allow.
        let p = setup(
            &trust(ACCT),
            &[(OwnerKind::Role, "deploy", &allow("sts:AssumeRole", "*"))],
        );
        assert!(matches!(
            p.check(&asking(&session(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        assert_eq!(
            p.check(&asking(&no_sts, ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        // A role that does not exist (assumable in dev mode): the session policies still decide.
        let missing = "arn:aws:iam::271828182845:role/missing";
        assert_eq!(
            p.check(&asking(&session(), missing, acct(ACCT))).unwrap(),
            TrustDecision::NoSuchRole
        );
        assert_eq!(
            p.check(&asking(&no_sts, missing, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        assert_eq!(
            p.check(&asking(&with_sts, missing, acct(ACCT))).unwrap(),
            TrustDecision::NoSuchRole
        );
    }

    fn conditional_trust(principal: &str, condition: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Condition":{condition}}}]}}"#
        )
    }

    #[test]
    fn trust_policy_conditions_see_the_request() {
        let alice_arn = "arn:aws:iam::271828182845:user/alice";
        let caller = alice();
        let with = |external_id, session_name, source_identity| TrustRequest {
            external_id,
            session_name,
            source_identity,
            ..asking(&caller, ROLE, acct(ACCT))
        };
        // sts:ExternalId: the right one assumes; a wrong or missing one does not.
        let p = setup(
            &conditional_trust(alice_arn, r#"{"StringEquals":{"sts:ExternalId":"ext-42"}}"#),
            &[],
        );
        assert!(matches!(
            p.check(&with(Some("ext-42"), "s", None)).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        assert_eq!(
            p.check(&with(Some("ext-43"), "s", None)).unwrap(),
            TrustDecision::Denied
        );
        assert_eq!(
            p.check(&with(None, "s", None)).unwrap(),
            TrustDecision::Denied
        );
        // sts:RoleSessionName.
        let p = setup(
            &conditional_trust(
                alice_arn,
                r#"{"StringLike":{"sts:RoleSessionName":"ci-*"}}"#,
            ),
            &[],
        );
        assert!(matches!(
            p.check(&with(None, "ci-42", None)).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        assert_eq!(
            p.check(&with(None, "laptop", None)).unwrap(),
            TrustDecision::Denied
        );
        // sts:SourceIdentity, which also needs sts:SetSourceIdentity in the trust policy.
        let p = setup(
            &conditional_trust(
                alice_arn,
                r#"{"StringEquals":{"sts:SourceIdentity":"alice"}}"#,
            ),
            &[],
        );
        assert!(matches!(
            p.check(&with(None, "s", Some("alice"))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        assert_eq!(
            p.check(&with(None, "s", Some("bob"))).unwrap(),
            TrustDecision::Denied
        );
        assert_eq!(
            p.check(&with(None, "s", None)).unwrap(),
            TrustDecision::Denied
        );
        let p = setup(&trust(alice_arn), &[]);
        assert!(matches!(
            p.check(&with(None, "s", None)).unwrap(),
            TrustDecision::Allowed { .. }
        ));
        assert_eq!(
            p.check(&with(None, "s", Some("alice"))).unwrap(),
            TrustDecision::Denied
        );
    }

    #[test]
    fn trust_policy_conditions_see_the_callers_tags() {
        let p = setup(
            &conditional_trust(
                &format!("arn:aws:iam::{ACCT}:root"),
                r#"{"StringEquals":{"aws:PrincipalTag/team":"build"}}"#,
            ),
            &[(OwnerKind::User, "alice", &allow("sts:AssumeRole", "*"))],
        );
        // alice has no tags yet: the key is absent, the condition does not match.
        assert_eq!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Denied
        );
        let mut w = p.store.write().unwrap();
        let mut user = w.user(acct(ACCT), "alice").unwrap().unwrap();
        user.tags = vec![TagRecord {
            key: "team".into(),
            value: "build".into(),
        }];
        w.put_user(&user).unwrap();
        let c = ctx(Principal::root(acct(ACCT), ACCT));
        w.commit(&AuditNote {
            ctx: &c,
            operation: "TagUser",
            request: serde_json::Value::Null,
            response: serde_json::Value::Null,
        })
        .unwrap();
        assert!(matches!(
            p.check(&asking(&alice(), ROLE, acct(ACCT))).unwrap(),
            TrustDecision::Allowed { .. }
        ));
    }

    #[test]
    fn session_policy_validation() {
        let p = setup(&trust(ACCT), &[]);
        assert!(p
            .validate_session_policy(&allow("kms:DescribeKey", "*"))
            .is_ok());
        assert_eq!(
            p.validate_session_policy("{{{").unwrap_err(),
            "The policy is not in the valid JSON format."
        );
        // A session policy is an identity-based policy: no Principal, a Resource.
        assert!(p.validate_session_policy(&trust(ACCT)).is_err());
        assert!(p
            .validate_session_policy(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*"}]}"#
            )
            .is_err());
    }

    #[test]
    fn document_validation() {
        let p = setup(&trust(ACCT), &[]);
        assert!(p.validate_identity_policy(&allow("kms:*", "*")).is_ok());
        assert!(p.validate_identity_policy(&trust(ACCT)).is_err());
        assert!(p
            .validate_identity_policy("{")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(p.validate_trust_policy(&trust(ACCT)).is_ok());
        assert!(p
            .validate_trust_policy(&allow("sts:AssumeRole", "*"))
            .is_err());
        let with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#;
        assert_eq!(
            p.validate_trust_policy(with_resource).unwrap_err(),
            "Has prohibited field Resource"
        );
    }
}
