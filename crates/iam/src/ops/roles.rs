//! CreateRole, GetRole, DeleteRole, ListRoles. A role's trust policy (who may assume it) is
//! validated at CreateRole; STS AssumeRole evaluates it through the server's
//! [`TrustPolicyCheck`](crate::TrustPolicyCheck).

use kmsnap_api::gen::iam as api;

use super::entity::{self, authorized, existing, Entity};
use super::{check_tags, role_shape};
use crate::model::{role_arn, role_id, OwnerKind, RoleRecord};
use crate::store::audit_json;
use crate::validate::{policy_size, Problems};
use crate::{AuditNote, Iam, IamError};
use kmsnap_auth::ops::assume_role::DEFAULT_DURATION;
use kmsnap_auth::RequestContext;

/// AWS's default quota for the size of a role trust policy (characters without whitespace).
pub const MAX_TRUST_POLICY_SIZE: usize = 2048;

pub fn create_role(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::CreateRoleRequest,
) -> Result<api::CreateRoleResponse, IamError> {
    let note = AuditNote::new(ctx, "CreateRole", &input);
    iam.audited(note, |iam, note| {
        let path = input.path.as_deref().unwrap_or("/");
        let doc = &input.assume_role_policy_document;
        let mut p = Problems::new();
        p.name(&input.role_name, "roleName");
        p.path(path, "path");
        p.policy_document(doc, "assumeRolePolicyDocument");
        if let Some(d) = &input.description {
            p.description(d, "description");
        }
        let tags = check_tags(&mut p, input.tags.as_deref());
        p.finish()?;
        let account = ctx.principal.account;
        let arn = role_arn(account, path, &input.role_name);
        iam.authorize(ctx, "CreateRole", &arn)?;
        if let Some(boundary) = &input.permissions_boundary {
            return Err(IamError::NoSuchBoundary {
                arn: boundary.clone(),
            });
        }
        if policy_size(doc) > MAX_TRUST_POLICY_SIZE {
            return Err(IamError::TrustPolicySizeQuota {
                limit: MAX_TRUST_POLICY_SIZE,
            });
        }
        iam.engine
            .validate_trust_policy(doc)
            .map_err(|reason| IamError::MalformedPolicy { reason })?;
        let mut w = iam.store.write()?;
        if w.role(account, &input.role_name)?.is_some() {
            return Err(IamError::AlreadyExists {
                owner: OwnerKind::Role,
                name: input.role_name.clone(),
            });
        }
        let role = RoleRecord {
            account,
            name: input.role_name.clone(),
            path: path.to_owned(),
            role_id: role_id(account, path, &input.role_name),
            created_ms: ctx.now.timestamp_millis(),
            trust_policy: doc.clone(),
            description: input.description.clone(),
            max_session_duration: input.max_session_duration.unwrap_or(DEFAULT_DURATION),
            tags,
        };
        w.put_role(&role)?;
        let shape = role_shape(&role, true);
        note.response = serde_json::json!({ "Role": audit_json(&role_shape(&role, false)) });
        w.commit(note)?;
        Ok(api::CreateRoleResponse { role: shape })
    })
}

pub fn get_role(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::GetRoleRequest,
) -> Result<api::GetRoleResponse, IamError> {
    let role: RoleRecord = authorized(iam, ctx, "GetRole", &input.role_name)?;
    Ok(api::GetRoleResponse {
        role: role_shape(&role, true),
    })
}

pub fn delete_role(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::DeleteRoleRequest,
) -> Result<(), IamError> {
    let note = AuditNote::new(ctx, "DeleteRole", &input);
    iam.audited(note, |iam, note| {
        authorized::<RoleRecord>(iam, ctx, "DeleteRole", &input.role_name)?;
        let mut w = iam.store.write()?;
        let role: RoleRecord = existing(w.as_ref(), ctx, &input.role_name)?;
        if !w.policies(&role.owner())?.is_empty() {
            return Err(IamError::HasPolicies {
                owner: OwnerKind::Role,
                name: role.name,
            });
        }
        w.delete_role(role.account, &role.name)?;
        w.commit(note)
    })
}

pub fn list_roles(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::ListRolesRequest,
) -> Result<api::ListRolesResponse, IamError> {
    let page = entity::list::<RoleRecord>(
        iam,
        ctx,
        "ListRoles",
        input.path_prefix.as_deref(),
        input.marker.as_deref(),
        input.max_items,
    )?;
    Ok(api::ListRolesResponse {
        is_truncated: page.is_truncated(),
        roles: page.items.iter().map(|r| role_shape(r, false)).collect(),
        marker: page.marker,
    })
}
