//! In-memory fakes of the two seams for the unit tests: [`MemoryIam`] (an [`IamStore`] whose
//! transactions are copies of a `BTreeMap` state, swapped in on commit, and which remembers the
//! audit notes it was given) and [`FakeEngine`] (a [`PolicyEngine`] that accepts JSON with a
//! `Statement`, and allows an action when one of the caller's inline policies mentions it or
//! `service:*`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kmsnap_core::AccountId;

use crate::authz::{Access, PolicyEngine};
use crate::error::IamError;
use crate::model::{
    name_key, AccessKeyRecord, OwnerKind, PolicyOwner, PolicyRecord, RoleRecord, UserRecord,
};
use crate::store::{AuditNote, IamRead, IamStore, IamWrite};
use kmsnap_auth::PrincipalKind;
use kmsnap_auth::RequestContext;

type Key = (String, String);

#[derive(Debug, Default, Clone)]
pub struct State {
    users: BTreeMap<Key, UserRecord>,
    roles: BTreeMap<Key, RoleRecord>,
    keys: BTreeMap<String, AccessKeyRecord>,
    policies: BTreeMap<(String, &'static str, String, String), PolicyRecord>,
}

fn key(account: AccountId, name: &str) -> Key {
    (account.as_str().to_owned(), name_key(name))
}

fn pkey(owner: &PolicyOwner, name: &str) -> (String, &'static str, String, String) {
    (
        owner.account.as_str().to_owned(),
        owner.kind.as_str(),
        name_key(&owner.name),
        name.to_owned(),
    )
}

/// One recorded audit note: operation and (for failures) CloudTrail error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub operation: String,
    pub error: Option<String>,
    pub request: serde_json::Value,
    pub response: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct MemoryIam {
    state: Mutex<State>,
    pub audit: Mutex<Vec<Recorded>>,
}

impl MemoryIam {
    fn snapshot(&self) -> State {
        self.state.lock().unwrap().clone()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.audit.lock().unwrap().clone()
    }
}

/// A read snapshot, or (with `store`) a write transaction.
pub struct Snap<'a> {
    state: State,
    store: Option<&'a MemoryIam>,
}

impl IamRead for Snap<'_> {
    fn user(&self, account: AccountId, name: &str) -> Result<Option<UserRecord>, IamError> {
        Ok(self.state.users.get(&key(account, name)).cloned())
    }
    fn users(&self, account: AccountId) -> Result<Vec<UserRecord>, IamError> {
        Ok(self
            .state
            .users
            .iter()
            .filter(|((a, _), _)| a == account.as_str())
            .map(|(_, u)| u.clone())
            .collect())
    }
    fn role(&self, account: AccountId, name: &str) -> Result<Option<RoleRecord>, IamError> {
        Ok(self.state.roles.get(&key(account, name)).cloned())
    }
    fn roles(&self, account: AccountId) -> Result<Vec<RoleRecord>, IamError> {
        Ok(self
            .state
            .roles
            .iter()
            .filter(|((a, _), _)| a == account.as_str())
            .map(|(_, r)| r.clone())
            .collect())
    }
    fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, IamError> {
        Ok(self.state.keys.get(id).cloned())
    }
    fn access_keys(
        &self,
        account: AccountId,
        user: &str,
    ) -> Result<Vec<AccessKeyRecord>, IamError> {
        Ok(self
            .state
            .keys
            .values()
            .filter(|k| k.account == account && name_key(&k.user_name) == name_key(user))
            .cloned()
            .collect())
    }
    fn policy(&self, owner: &PolicyOwner, name: &str) -> Result<Option<PolicyRecord>, IamError> {
        Ok(self.state.policies.get(&pkey(owner, name)).cloned())
    }
    fn policies(&self, owner: &PolicyOwner) -> Result<Vec<PolicyRecord>, IamError> {
        let (a, k, o, _) = pkey(owner, "");
        Ok(self
            .state
            .policies
            .iter()
            .filter(|((pa, pk, po, _), _)| *pa == a && *pk == k && *po == o)
            .map(|(_, p)| p.clone())
            .collect())
    }
}

impl IamWrite for Snap<'_> {
    fn put_user(&mut self, user: &UserRecord) -> Result<(), IamError> {
        self.state
            .users
            .insert(key(user.account, &user.name), user.clone());
        Ok(())
    }
    fn delete_user(&mut self, account: AccountId, name: &str) -> Result<(), IamError> {
        self.state.users.remove(&key(account, name));
        Ok(())
    }
    fn put_role(&mut self, role: &RoleRecord) -> Result<(), IamError> {
        self.state
            .roles
            .insert(key(role.account, &role.name), role.clone());
        Ok(())
    }
    fn delete_role(&mut self, account: AccountId, name: &str) -> Result<(), IamError> {
        self.state.roles.remove(&key(account, name));
        Ok(())
    }
    fn put_access_key(&mut self, k: &AccessKeyRecord) -> Result<(), IamError> {
        self.state.keys.insert(k.access_key_id.clone(), k.clone());
        Ok(())
    }
    fn delete_access_key(&mut self, k: &AccessKeyRecord) -> Result<(), IamError> {
        self.state.keys.remove(&k.access_key_id);
        Ok(())
    }
    fn put_policy(&mut self, p: &PolicyRecord) -> Result<(), IamError> {
        self.state
            .policies
            .insert(pkey(&p.owner, &p.name), p.clone());
        Ok(())
    }
    fn delete_policy(&mut self, owner: &PolicyOwner, name: &str) -> Result<(), IamError> {
        self.state.policies.remove(&pkey(owner, name));
        Ok(())
    }
    fn commit(self: Box<Self>, note: &AuditNote<'_>) -> Result<(), IamError> {
        let store = self
            .store
            .ok_or_else(|| IamError::Internal("commit of a read snapshot".into()))?;
        *store.state.lock().unwrap() = self.state;
        store.audit.lock().unwrap().push(Recorded {
            operation: note.operation.into(),
            error: None,
            request: note.request.clone(),
            response: note.response.clone(),
        });
        Ok(())
    }
}

impl IamStore for MemoryIam {
    fn read(&self) -> Result<Box<dyn IamRead + '_>, IamError> {
        Ok(Box::new(Snap {
            state: self.snapshot(),
            store: None,
        }))
    }
    fn write(&self) -> Result<Box<dyn IamWrite + '_>, IamError> {
        Ok(Box::new(Snap {
            state: self.snapshot(),
            store: Some(self),
        }))
    }
    fn record_failure(&self, note: &AuditNote<'_>, error: &IamError) {
        self.audit.lock().unwrap().push(Recorded {
            operation: note.operation.into(),
            error: Some(error.cloudtrail_code()),
            request: note.request.clone(),
            response: serde_json::Value::Null,
        });
    }
}

/// Accepts JSON objects with a `Statement` (identity policies without `Principal`, trust
/// policies with it); allows an action when an inline policy of the caller mentions it (or `service:*`).
pub struct FakeEngine(pub Arc<MemoryIam>);

fn check(document: &str, principal: bool) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(document).map_err(|e| e.to_string())?;
    if v.get("Statement").is_none() {
        return Err("missing Statement".into());
    }
    if document.contains("\"Principal\"") != principal {
        return Err("Principal".into());
    }
    Ok(())
}

impl PolicyEngine for FakeEngine {
    fn validate_identity_policy(&self, document: &str) -> Result<(), String> {
        check(document, false)
    }
    fn validate_trust_policy(&self, document: &str) -> Result<(), String> {
        check(document, true)
    }
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: &str,
    ) -> Result<Access, IamError> {
        let owner = match &ctx.principal.kind {
            PrincipalKind::User { name } => (OwnerKind::User, name.clone()),
            PrincipalKind::AssumedRole { role_name, .. } => (OwnerKind::Role, role_name.clone()),
            PrincipalKind::Root => return Ok(Access::Allowed),
        };
        let owner = PolicyOwner {
            account: ctx.principal.account,
            kind: owner.0,
            name: owner.1,
        };
        let service_wide = format!("{}:*", action.split(':').next().unwrap_or_default());
        let allowed = self
            .0
            .read()?
            .policies(&owner)?
            .iter()
            .any(|p| p.document.contains(action) || p.document.contains(&service_wide));
        Ok(if allowed {
            Access::Allowed
        } else {
            Access::Denied {
                message: format!(
                    "User: {} is not authorized to perform: {action} on resource: {resource}",
                    ctx.principal.arn
                ),
            }
        })
    }
}

/// A request of `principal`, signed for `region`, at `now`.
pub(crate) fn request_context(
    principal: kmsnap_auth::Principal,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> kmsnap_auth::RequestContext {
    kmsnap_auth::RequestContext {
        principal,
        region: kmsnap_core::Region::parse(region).unwrap(),
        request_id: "req-1".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "unit".into(),
        now,
        via_service: None,
    }
}
