//! Persistence of IAM behind traits, because the store sits above `auth` in the crate order:
//! the server implements [`IamStore`] over its MetaStore (records in versioned encoding, one
//! durable transaction per write).
//!
//! A write is a transaction ([`IamWrite`]) that sees its own writes and commits together with
//! the CloudTrail record of the call, described by an [`AuditNote`]; dropping it without
//! [`IamWrite::commit`] changes nothing. A call that fails after it was routed is recorded with
//! [`IamStore::record_failure`], in a transaction of its own (it changed nothing).

use kmsnap_core::AccountId;

use super::error::IamError;
use super::model::{AccessKeyRecord, PolicyOwner, PolicyRecord, RoleRecord, UserRecord};
use crate::context::RequestContext;

/// What the audit record of a mutating IAM call says; the adapter turns it into a CloudTrail
/// event (`eventSource` `iam.amazonaws.com`, `readOnly` false).
#[derive(Debug, Clone)]
pub struct AuditNote<'a> {
    pub ctx: &'a RequestContext,
    /// The operation, CloudTrail's `eventName` (`CreateUser`).
    pub operation: &'static str,
    /// The request as the generated input shape serialises it (PascalCase members). IAM
    /// requests carry no secrets.
    pub request: serde_json::Value,
    /// `responseElements`, already reduced to what may be logged (never a secret access key);
    /// `Null` for none.
    pub response: serde_json::Value,
}

impl<'a> AuditNote<'a> {
    /// The note of `operation` called with `input`, without response elements (yet).
    pub fn new(
        ctx: &'a RequestContext,
        operation: &'static str,
        input: &impl serde::Serialize,
    ) -> Self {
        AuditNote {
            ctx,
            operation,
            request: super::audit_json(input),
            response: serde_json::Value::Null,
        }
    }
}

/// Reads of IAM state, from one consistent snapshot.
pub trait IamRead {
    /// The user `name` (any case) of `account`.
    fn user(&self, account: AccountId, name: &str) -> Result<Option<UserRecord>, IamError>;
    /// Every user of `account`, ordered by lower-cased name.
    fn users(&self, account: AccountId) -> Result<Vec<UserRecord>, IamError>;
    fn role(&self, account: AccountId, name: &str) -> Result<Option<RoleRecord>, IamError>;
    /// Every role of `account`, ordered by lower-cased name.
    fn roles(&self, account: AccountId) -> Result<Vec<RoleRecord>, IamError>;
    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, IamError>;
    /// The access keys of user `user` (any case) of `account`, ordered by key id.
    fn access_keys(&self, account: AccountId, user: &str)
        -> Result<Vec<AccessKeyRecord>, IamError>;
    fn policy(&self, owner: &PolicyOwner, name: &str) -> Result<Option<PolicyRecord>, IamError>;
    /// The inline policies of `owner`, ordered by name.
    fn policies(&self, owner: &PolicyOwner) -> Result<Vec<PolicyRecord>, IamError>;
}

/// One write transaction.
pub trait IamWrite: IamRead {
    /// Creates or replaces the user (keyed by its name, ignoring case).
    fn put_user(&mut self, user: &UserRecord) -> Result<(), IamError>;
    fn delete_user(&mut self, account: AccountId, name: &str) -> Result<(), IamError>;
    fn put_role(&mut self, role: &RoleRecord) -> Result<(), IamError>;
    fn delete_role(&mut self, account: AccountId, name: &str) -> Result<(), IamError>;
    /// Stores a new access key; an id that exists already is an internal error.
    fn put_access_key(&mut self, key: &AccessKeyRecord) -> Result<(), IamError>;
    fn delete_access_key(&mut self, key: &AccessKeyRecord) -> Result<(), IamError>;
    /// Creates or replaces the inline policy `policy.name` of `policy.owner`.
    fn put_policy(&mut self, policy: &PolicyRecord) -> Result<(), IamError>;
    fn delete_policy(&mut self, owner: &PolicyOwner, name: &str) -> Result<(), IamError>;
    /// Makes every write durable together with the audit record `note`.
    fn commit(self: Box<Self>, note: &AuditNote<'_>) -> Result<(), IamError>;
}

/// The IAM store: snapshots, write transactions, and the audit record of failed calls.
pub trait IamStore: Send + Sync {
    fn read(&self) -> Result<Box<dyn IamRead + '_>, IamError>;
    /// Waits until no other write transaction is open.
    fn write(&self) -> Result<Box<dyn IamWrite + '_>, IamError>;
    /// Records the failed call `note` with `error` (CloudTrail `errorCode`/`errorMessage`).
    /// Best effort: the call fails either way, so a failure to record is the adapter's to log.
    fn record_failure(&self, note: &AuditNote<'_>, error: &IamError);
}
