//! What users and roles have in common ([`Entity`]): found by name (ignoring case) in the
//! caller's account, listed per account and path prefix, named by an ARN with their path, and
//! owners of inline policies. The helpers here load one after authorizing the action on it
//! ([`authorized`]), inside a transaction ([`existing`]), or list them ([`list`]).

use kmsnap_core::AccountId;

use super::{check_marker, paginate, Page};
use crate::model::{name_key, role_arn, user_arn, OwnerKind, PolicyOwner, RoleRecord, UserRecord};
use crate::store::IamRead;
use crate::validate::Problems;
use crate::{Iam, IamError};
use kmsnap_auth::RequestContext;

pub(crate) trait Entity: Sized {
    const KIND: OwnerKind;
    /// The request member naming it (`userName`), for validation messages.
    const MEMBER: &'static str;
    fn load<R: IamRead + ?Sized>(
        r: &R,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Self>, IamError>;
    fn load_all<R: IamRead + ?Sized>(r: &R, account: AccountId) -> Result<Vec<Self>, IamError>;
    fn account(&self) -> AccountId;
    fn name(&self) -> &str;
    fn path(&self) -> &str;

    fn arn(&self) -> String {
        arn(Self::KIND, self.account(), self.path(), self.name())
    }

    /// The entity as the owner of inline policies.
    fn owner(&self) -> PolicyOwner {
        PolicyOwner {
            account: self.account(),
            kind: Self::KIND,
            name: self.name().to_owned(),
        }
    }
}

impl Entity for UserRecord {
    const KIND: OwnerKind = OwnerKind::User;
    const MEMBER: &'static str = "userName";
    fn load<R: IamRead + ?Sized>(
        r: &R,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Self>, IamError> {
        r.user(account, name)
    }
    fn load_all<R: IamRead + ?Sized>(r: &R, account: AccountId) -> Result<Vec<Self>, IamError> {
        r.users(account)
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn path(&self) -> &str {
        &self.path
    }
}

impl Entity for RoleRecord {
    const KIND: OwnerKind = OwnerKind::Role;
    const MEMBER: &'static str = "roleName";
    fn load<R: IamRead + ?Sized>(
        r: &R,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Self>, IamError> {
        r.role(account, name)
    }
    fn load_all<R: IamRead + ?Sized>(r: &R, account: AccountId) -> Result<Vec<Self>, IamError> {
        r.roles(account)
    }
    fn account(&self) -> AccountId {
        self.account
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn path(&self) -> &str {
        &self.path
    }
}

fn arn(kind: OwnerKind, account: AccountId, path: &str, name: &str) -> String {
    match kind {
        OwnerKind::User => user_arn(account, path, name),
        OwnerKind::Role => role_arn(account, path, name),
    }
}

fn missing(kind: OwnerKind, name: &str) -> IamError {
    let name = name.to_owned();
    match kind {
        OwnerKind::User => IamError::NoSuchUser { name },
        OwnerKind::Role => IamError::NoSuchRole { name },
    }
}

/// The entity `name` of the caller's account after validating the name and authorizing
/// `action` on it. A missing one is authorized as `…:user/<name>` (`…:role/<name>`) first, so
/// only a permitted caller learns that it is missing.
pub(crate) fn authorized<T: Entity>(
    iam: &Iam,
    ctx: &RequestContext,
    action: &str,
    name: &str,
) -> Result<T, IamError> {
    let mut p = Problems::new();
    p.name(name, T::MEMBER);
    p.finish()?;
    let account = ctx.principal.account;
    let found = T::load(iam.store.read()?.as_ref(), account, name)?;
    let resource = match &found {
        Some(e) => e.arn(),
        None => arn(T::KIND, account, "/", name),
    };
    iam.authorize(ctx, action, &resource)?;
    found.ok_or_else(|| missing(T::KIND, name))
}

/// The entity `name` of the caller's account as `r` (a transaction) sees it.
pub(crate) fn existing<T: Entity, R: IamRead + ?Sized>(
    r: &R,
    ctx: &RequestContext,
    name: &str,
) -> Result<T, IamError> {
    T::load(r, ctx.principal.account, name)?.ok_or_else(|| missing(T::KIND, name))
}

/// ListUsers / ListRoles: after authorizing `action` on `…:user/` (`…:role/`), the entities
/// whose path starts with `path_prefix`, one page in name order.
pub(crate) fn list<T: Entity>(
    iam: &Iam,
    ctx: &RequestContext,
    action: &str,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<T>, IamError> {
    let mut p = Problems::new();
    if let Some(prefix) = path_prefix {
        p.path_prefix(prefix, "pathPrefix");
    }
    check_marker(&mut p, marker);
    p.finish()?;
    let account = ctx.principal.account;
    iam.authorize(ctx, action, &arn(T::KIND, account, "/", ""))?;
    let prefix = path_prefix.unwrap_or("/");
    let all = T::load_all(iam.store.read()?.as_ref(), account)?;
    let matching = all
        .into_iter()
        .filter(|e| e.path().starts_with(prefix))
        .collect();
    Ok(paginate(
        matching,
        |e| name_key(e.name()),
        marker,
        max_items,
    ))
}
