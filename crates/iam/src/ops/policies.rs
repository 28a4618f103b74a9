//! Inline policies of users and roles: Put/Get/Delete/List UserPolicy and RolePolicy. The
//! eight operations share one implementation parameterised by the owner's kind.
//!
//! A document is validated as an identity-based policy when put (MalformedPolicyDocument),
//! and the aggregate size of an owner's inline policies (characters without whitespace) is
//! capped at AWS's default quotas. GetUserPolicy/GetRolePolicy return the document
//! URL-encoded, as IAM does.

use kmsnap_api::gen::iam as api;

use super::entity::{authorized, existing, Entity};
use super::{check_marker, paginate, Page};
use crate::model::{
    encode_policy_document, OwnerKind, PolicyOwner, PolicyRecord, RoleRecord, UserRecord,
};
use crate::store::IamRead;
use crate::validate::{policy_size, Problems};
use crate::{AuditNote, Iam, IamError};
use kmsnap_auth::RequestContext;

/// AWS's quota for the aggregate size of a user's inline policies.
pub const MAX_USER_POLICY_SIZE: usize = 2048;
/// AWS's quota for the aggregate size of a role's inline policies.
pub const MAX_ROLE_POLICY_SIZE: usize = 10_240;

fn member(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::User => "userName",
        OwnerKind::Role => "roleName",
    }
}

fn limit(kind: OwnerKind) -> usize {
    match kind {
        OwnerKind::User => MAX_USER_POLICY_SIZE,
        OwnerKind::Role => MAX_ROLE_POLICY_SIZE,
    }
}

fn authorized_owner(
    iam: &Iam,
    ctx: &RequestContext,
    action: &str,
    kind: OwnerKind,
    name: &str,
) -> Result<PolicyOwner, IamError> {
    Ok(match kind {
        OwnerKind::User => authorized::<UserRecord>(iam, ctx, action, name)?.owner(),
        OwnerKind::Role => authorized::<RoleRecord>(iam, ctx, action, name)?.owner(),
    })
}

/// The owner as it is now, inside a transaction.
fn current_owner<R: IamRead + ?Sized>(
    r: &R,
    ctx: &RequestContext,
    kind: OwnerKind,
    name: &str,
) -> Result<PolicyOwner, IamError> {
    Ok(match kind {
        OwnerKind::User => existing::<UserRecord, R>(r, ctx, name)?.owner(),
        OwnerKind::Role => existing::<RoleRecord, R>(r, ctx, name)?.owner(),
    })
}

fn validate(
    kind: OwnerKind,
    owner: &str,
    policy: &str,
    document: Option<&str>,
) -> Result<(), IamError> {
    let mut p = Problems::new();
    p.name(owner, member(kind));
    p.name(policy, "policyName");
    if let Some(d) = document {
        p.policy_document(d, "policyDocument");
    }
    p.finish()
}

/// One put/delete call: its audit note, which owner, which policy.
struct Call<'a> {
    note: AuditNote<'a>,
    kind: OwnerKind,
    owner: &'a str,
    policy: &'a str,
}

fn put(iam: &Iam, ctx: &RequestContext, call: Call<'_>, document: &str) -> Result<(), IamError> {
    let Call {
        note,
        kind,
        owner,
        policy,
    } = call;
    let operation = note.operation;
    iam.audited(note, |iam, note| {
        validate(kind, owner, policy, Some(document))?;
        authorized_owner(iam, ctx, operation, kind, owner)?;
        iam.engine
            .validate_identity_policy(document)
            .map_err(|reason| IamError::MalformedPolicy { reason })?;
        let mut w = iam.store.write()?;
        let owner = current_owner(w.as_ref(), ctx, kind, owner)?;
        let others: usize = w
            .policies(&owner)?
            .iter()
            .filter(|p| p.name != policy)
            .map(|p| policy_size(&p.document))
            .sum();
        if others + policy_size(document) > limit(kind) {
            return Err(IamError::PolicySizeQuota {
                owner: kind,
                name: owner.name,
                limit: limit(kind),
            });
        }
        w.put_policy(&PolicyRecord {
            owner,
            name: policy.to_owned(),
            document: document.to_owned(),
        })?;
        w.commit(note)
    })
}

fn get(
    iam: &Iam,
    ctx: &RequestContext,
    action: &str,
    kind: OwnerKind,
    owner: &str,
    policy: &str,
) -> Result<PolicyRecord, IamError> {
    validate(kind, owner, policy, None)?;
    let owner = authorized_owner(iam, ctx, action, kind, owner)?;
    iam.store
        .read()?
        .policy(&owner, policy)?
        .ok_or_else(|| IamError::NoSuchPolicy {
            owner: kind,
            policy: policy.to_owned(),
        })
}

fn delete(iam: &Iam, ctx: &RequestContext, call: Call<'_>) -> Result<(), IamError> {
    let Call {
        note,
        kind,
        owner,
        policy,
    } = call;
    let operation = note.operation;
    iam.audited(note, |iam, note| {
        validate(kind, owner, policy, None)?;
        authorized_owner(iam, ctx, operation, kind, owner)?;
        let mut w = iam.store.write()?;
        let owner = current_owner(w.as_ref(), ctx, kind, owner)?;
        if w.policy(&owner, policy)?.is_none() {
            return Err(IamError::NoSuchPolicy {
                owner: kind,
                policy: policy.to_owned(),
            });
        }
        w.delete_policy(&owner, policy)?;
        w.commit(note)
    })
}

fn list(
    iam: &Iam,
    ctx: &RequestContext,
    action: &str,
    kind: OwnerKind,
    owner: &str,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<String>, IamError> {
    let mut p = Problems::new();
    p.name(owner, member(kind));
    check_marker(&mut p, marker);
    p.finish()?;
    let owner = authorized_owner(iam, ctx, action, kind, owner)?;
    let names = iam
        .store
        .read()?
        .policies(&owner)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(paginate(names, String::clone, marker, max_items))
}

pub fn put_user_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::PutUserPolicyRequest,
) -> Result<(), IamError> {
    let call = Call {
        note: AuditNote::new(ctx, "PutUserPolicy", &input),
        kind: OwnerKind::User,
        owner: &input.user_name,
        policy: &input.policy_name,
    };
    put(iam, ctx, call, &input.policy_document)
}

pub fn put_role_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::PutRolePolicyRequest,
) -> Result<(), IamError> {
    let call = Call {
        note: AuditNote::new(ctx, "PutRolePolicy", &input),
        kind: OwnerKind::Role,
        owner: &input.role_name,
        policy: &input.policy_name,
    };
    put(iam, ctx, call, &input.policy_document)
}

pub fn get_user_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::GetUserPolicyRequest,
) -> Result<api::GetUserPolicyResponse, IamError> {
    let p = get(
        iam,
        ctx,
        "GetUserPolicy",
        OwnerKind::User,
        &input.user_name,
        &input.policy_name,
    )?;
    Ok(api::GetUserPolicyResponse {
        policy_document: encode_policy_document(&p.document),
        user_name: p.owner.name,
        policy_name: p.name,
    })
}

pub fn get_role_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::GetRolePolicyRequest,
) -> Result<api::GetRolePolicyResponse, IamError> {
    let p = get(
        iam,
        ctx,
        "GetRolePolicy",
        OwnerKind::Role,
        &input.role_name,
        &input.policy_name,
    )?;
    Ok(api::GetRolePolicyResponse {
        policy_document: encode_policy_document(&p.document),
        role_name: p.owner.name,
        policy_name: p.name,
    })
}

pub fn delete_user_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::DeleteUserPolicyRequest,
) -> Result<(), IamError> {
    let call = Call {
        note: AuditNote::new(ctx, "DeleteUserPolicy", &input),
        kind: OwnerKind::User,
        owner: &input.user_name,
        policy: &input.policy_name,
    };
    delete(iam, ctx, call)
}

pub fn delete_role_policy(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::DeleteRolePolicyRequest,
) -> Result<(), IamError> {
    let call = Call {
        note: AuditNote::new(ctx, "DeleteRolePolicy", &input),
        kind: OwnerKind::Role,
        owner: &input.role_name,
        policy: &input.policy_name,
    };
    delete(iam, ctx, call)
}

pub fn list_user_policies(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::ListUserPoliciesRequest,
) -> Result<api::ListUserPoliciesResponse, IamError> {
    let page = list(
        iam,
        ctx,
        "ListUserPolicies",
        OwnerKind::User,
        &input.user_name,
        input.marker.as_deref(),
        input.max_items,
    )?;
    Ok(api::ListUserPoliciesResponse {
        is_truncated: page.is_truncated(),
        policy_names: page.items,
        marker: page.marker,
    })
}

pub fn list_role_policies(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::ListRolePoliciesRequest,
) -> Result<api::ListRolePoliciesResponse, IamError> {
    let page = list(
        iam,
        ctx,
        "ListRolePolicies",
        OwnerKind::Role,
        &input.role_name,
        input.marker.as_deref(),
        input.max_items,
    )?;
    Ok(api::ListRolePoliciesResponse {
        is_truncated: page.is_truncated(),
        policy_names: page.items,
        marker: page.marker,
    })
}
