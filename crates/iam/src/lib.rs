//! IAM, the identity side of kmsnap: users, roles, users' access keys, inline identity
//! policies and role trust policies (the allowlisted operations of `xtask/src/allowlist.rs`),
//! and the identity-side authorization every other service asks it for.
//!
//! * [`Iam`]: the service. It implements the generated [`IamHandler`] (one function per
//!   operation in [`ops`]) and [`AccessKeyLookup`], so the [`Keyring`](kmsnap_auth::Keyring)
//!   resolves IAM users' keys in every auth mode.
//! * [`model`]: the persisted records, ARNs (with `Path`), ids, and policy-document encoding.
//! * [`store`]: [`IamStore`] / [`IamRead`] / [`IamWrite`], the persistence seam of the
//!   operations, and [`MetaIamStore`], its implementation over the MetaStore; every write
//!   commits with its CloudTrail record ([`AuditNote`]).
//! * [`authz`]: identity-side evaluation for every service: a caller's identity policies
//!   intersected with its session policies ([`authz::identity_side`]), the
//!   [`IdentityPolicySource`] KMS is given at construction, and the [`PolicyEngine`] seam IAM's
//!   own operations authorize through.
//! * [`policies`]: [`IamPolicies`], the stored policies evaluated with kmsnap-policy: IAM's
//!   [`PolicyEngine`], KMS's [`IdentityPolicySource`] and STS AssumeRole's trust decisions
//!   ([`TrustPolicyCheck`](kmsnap_auth::TrustPolicyCheck)), over one parsed-policy cache.
//! * [`secret`]: secret access keys sealed at rest under a root-key subkey.
//! * [`validate`] and [`error`]: the model's patterns, and [`IamError`] with its one mapping
//!   to IAM's wire errors.
//!
//! The global `aws:*` condition keys of a request are built by kmsnap-auth's
//! [`RequestContext`], the one place KMS and IAM both take them from.
//!
//! Every operation runs in the order: validate patterns → authorize (`iam:<Action>` on the
//! resource ARN; the account root may do everything in its account, IAM users and role
//! sessions need an identity-policy allow) → read or write. Authorization comes before the
//! existence check, so a caller without permission learns nothing about what exists.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod authz;
pub mod error;
pub mod model;
pub mod ops;
pub mod policies;
pub mod secret;
pub mod store;
pub mod validate;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use kmsnap_api::gen::iam as api;
use kmsnap_api::gen::iam::IamHandler;
use kmsnap_api::AwsError;
use kmsnap_core::RootKey;

use kmsnap_auth::RequestContext;
use kmsnap_auth::{AccessKeyLookup, AuthError, Credentials, Principal, PrincipalKind};

pub use authz::{Access, IdentityPolicySource, NoIdentityPolicies, PolicyEngine};
pub use error::IamError;
pub use model::{
    AccessKeyRecord, KeyStatus, OwnerKind, PolicyOwner, PolicyRecord, RoleRecord, TagRecord,
    UserRecord,
};
pub use policies::IamPolicies;
pub use secret::SecretSealer;
pub use store::{AuditNote, IamRead, IamStore, IamWrite, MetaIamStore, EVENT_SOURCE};

/// The IAM service of one server: every account.
pub struct Iam {
    store: Arc<dyn IamStore>,
    engine: Arc<dyn PolicyEngine>,
    sealer: SecretSealer,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iam").finish_non_exhaustive()
    }
}

impl Iam {
    /// IAM over `store`, with `engine` for policy documents; secret access keys are sealed
    /// under a subkey of `root`.
    pub fn new(
        root: &RootKey,
        store: Arc<dyn IamStore>,
        engine: Arc<dyn PolicyEngine>,
    ) -> Result<Self, IamError> {
        Ok(Iam {
            store,
            engine,
            sealer: SecretSealer::new(root)?,
        })
    }

    /// Authorizes `iam:<action>` on `resource` for the caller of `ctx`.
    pub(crate) fn authorize(
        &self,
        ctx: &RequestContext,
        action: &str,
        resource: &str,
    ) -> Result<(), IamError> {
        if ctx.principal.is_root() {
            return Ok(());
        }
        let action = format!("iam:{action}");
        match self.engine.authorize(ctx, &action, resource)? {
            Access::Allowed => Ok(()),
            Access::Denied { message } => Err(IamError::AccessDenied { message }),
        }
    }

    /// Runs the mutating call `run` for `note`; a failure is recorded in the audit log (the
    /// success is recorded by `run`'s commit).
    pub(crate) fn audited<T>(
        &self,
        mut note: AuditNote<'_>,
        run: impl FnOnce(&Self, &mut AuditNote<'_>) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        let result = run(self, &mut note);
        if let Err(e) = &result {
            if e.is_client_error() {
                self.store.record_failure(&note, e);
            }
        }
        result
    }

    /// The user a call is about: `UserName` when given, else the calling IAM user.
    pub(crate) fn user_for_call(
        ctx: &RequestContext,
        given: Option<&str>,
    ) -> Result<String, IamError> {
        match (given, &ctx.principal.kind) {
            (Some(n), _) => Ok(n.to_owned()),
            (None, PrincipalKind::User { name }) => Ok(name.clone()),
            (None, _) => Err(IamError::InvalidRequest {
                message: "Must specify userName when calling with non-User credentials".into(),
            }),
        }
    }
}

impl AccessKeyLookup for Iam {
    fn lookup(&self, access_key_id: &str) -> Result<Option<Credentials>, AuthError> {
        if !model::is_iam_access_key(access_key_id) {
            return Ok(None);
        }
        let internal = |e: IamError| AuthError::Internal(e.to_string());
        let read = self.store.read().map_err(internal)?;
        let Some(key) = read.access_key(access_key_id).map_err(internal)? else {
            return Ok(None);
        };
        if key.status != KeyStatus::Active {
            return Ok(None);
        }
        let Some(user) = read.user(key.account, &key.user_name).map_err(internal)? else {
            return Ok(None);
        };
        let secret = self
            .sealer
            .open(access_key_id, &key.sealed_secret)
            .ok_or_else(|| {
                AuthError::Internal(format!("sealed secret of {access_key_id} does not open"))
            })?;
        Ok(Some(Credentials {
            secret,
            principal: Principal {
                account: user.account,
                arn: user.arn(),
                user_id: user.user_id.clone(),
                kind: PrincipalKind::User { name: user.name },
                access_key_id: access_key_id.to_owned(),
            },
            session_token: None,
        }))
    }
}

macro_rules! delegate {
    ($( $name:ident : $module:ident ( $input:ident ) -> $out:ty ; )*) => {
        impl IamHandler<RequestContext> for Iam {
            $(
                async fn $name(&self, ctx: &RequestContext, input: api::$input) -> Result<$out, AwsError> {
                    ops::$module::$name(self, ctx, input).map_err(AwsError::from)
                }
            )*
        }
    };
}

delegate! {
    create_user: users(CreateUserRequest) -> api::CreateUserResponse;
    get_user: users(GetUserRequest) -> api::GetUserResponse;
    delete_user: users(DeleteUserRequest) -> ();
    list_users: users(ListUsersRequest) -> api::ListUsersResponse;
    create_access_key: access_keys(CreateAccessKeyRequest) -> api::CreateAccessKeyResponse;
    delete_access_key: access_keys(DeleteAccessKeyRequest) -> ();
    list_access_keys: access_keys(ListAccessKeysRequest) -> api::ListAccessKeysResponse;
    create_role: roles(CreateRoleRequest) -> api::CreateRoleResponse;
    get_role: roles(GetRoleRequest) -> api::GetRoleResponse;
    delete_role: roles(DeleteRoleRequest) -> ();
    list_roles: roles(ListRolesRequest) -> api::ListRolesResponse;
    put_user_policy: policies(PutUserPolicyRequest) -> ();
    get_user_policy: policies(GetUserPolicyRequest) -> api::GetUserPolicyResponse;
    delete_user_policy: policies(DeleteUserPolicyRequest) -> ();
    list_user_policies: policies(ListUserPoliciesRequest) -> api::ListUserPoliciesResponse;
    put_role_policy: policies(PutRolePolicyRequest) -> ();
    get_role_policy: policies(GetRolePolicyRequest) -> api::GetRolePolicyResponse;
    delete_role_policy: policies(DeleteRolePolicyRequest) -> ();
    list_role_policies: policies(ListRolePoliciesRequest) -> api::ListRolePoliciesResponse;
}
