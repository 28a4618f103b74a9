//! CreateUser, GetUser, DeleteUser, ListUsers.

use kmsnap_api::gen::iam as api;

use super::entity::{self, authorized, existing, Entity};
use super::{check_tags, user_shape};
use crate::model::{new_user_id, user_arn, OwnerKind, UserRecord};
use crate::store::audit_json;
use crate::validate::Problems;
use crate::{AuditNote, Iam, IamError};
use kmsnap_auth::RequestContext;

pub fn create_user(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::CreateUserRequest,
) -> Result<api::CreateUserResponse, IamError> {
    let note = AuditNote::new(ctx, "CreateUser", &input);
    iam.audited(note, |iam, note| {
        let path = input.path.as_deref().unwrap_or("/");
        let mut p = Problems::new();
        p.name(&input.user_name, "userName");
        p.path(path, "path");
        let tags = check_tags(&mut p, input.tags.as_deref());
        p.finish()?;
        let account = ctx.principal.account;
        iam.authorize(
            ctx,
            "CreateUser",
            &user_arn(account, path, &input.user_name),
        )?;
        if let Some(arn) = &input.permissions_boundary {
            return Err(IamError::NoSuchBoundary { arn: arn.clone() });
        }
        let mut w = iam.store.write()?;
        if w.user(account, &input.user_name)?.is_some() {
            return Err(IamError::AlreadyExists {
                owner: OwnerKind::User,
                name: input.user_name.clone(),
            });
        }
        let user = UserRecord {
            account,
            name: input.user_name.clone(),
            path: path.to_owned(),
            user_id: new_user_id()?,
            created_ms: ctx.now.timestamp_millis(),
            tags,
        };
        w.put_user(&user)?;
        let shape = user_shape(&user, true);
        note.response = serde_json::json!({ "User": audit_json(&shape) });
        w.commit(note)?;
        Ok(api::CreateUserResponse { user: Some(shape) })
    })
}

pub fn get_user(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::GetUserRequest,
) -> Result<api::GetUserResponse, IamError> {
    let name = Iam::user_for_call(ctx, input.user_name.as_deref())?;
    let user: UserRecord = authorized(iam, ctx, "GetUser", &name)?;
    Ok(api::GetUserResponse {
        user: user_shape(&user, true),
    })
}

pub fn delete_user(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::DeleteUserRequest,
) -> Result<(), IamError> {
    let note = AuditNote::new(ctx, "DeleteUser", &input);
    iam.audited(note, |iam, note| {
        authorized::<UserRecord>(iam, ctx, "DeleteUser", &input.user_name)?;
        let mut w = iam.store.write()?;
        let user: UserRecord = existing(w.as_ref(), ctx, &input.user_name)?;
        let account = ctx.principal.account;
        if !w.access_keys(account, &user.name)?.is_empty() {
            return Err(IamError::UserHasAccessKeys { name: user.name });
        }
        if !w.policies(&user.owner())?.is_empty() {
            return Err(IamError::HasPolicies {
                owner: OwnerKind::User,
                name: user.name,
            });
        }
        w.delete_user(account, &user.name)?;
        w.commit(note)
    })
}

pub fn list_users(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::ListUsersRequest,
) -> Result<api::ListUsersResponse, IamError> {
    let page = entity::list::<UserRecord>(
        iam,
        ctx,
        "ListUsers",
        input.path_prefix.as_deref(),
        input.marker.as_deref(),
        input.max_items,
    )?;
    Ok(api::ListUsersResponse {
        is_truncated: page.is_truncated(),
        users: page.items.iter().map(|u| user_shape(u, false)).collect(),
        marker: page.marker,
    })
}
