//! IAM's persisted records: the [`IamStore`] / [`IamRead`] / [`IamWrite`] seam the operations
//! use, and [`MetaIamStore`], its implementation over the MetaStore (records in versioned
//! encoding, one durable transaction per write).
//!
//! A write is a transaction ([`IamWrite`]) that sees its own writes and commits together with
//! the CloudTrail record of the call, described by an [`AuditNote`]; dropping it without
//! [`IamWrite::commit`] changes nothing. A call that fails after it was routed is recorded with
//! [`IamStore::record_failure`], in a transaction of its own (it changed nothing).

use kmsnap_auth::RequestContext;
use kmsnap_core::AccountId;

use crate::error::IamError;
use crate::model::{AccessKeyRecord, PolicyOwner, PolicyRecord, RoleRecord, UserRecord};

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
            request: audit_json(input),
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

/// The event source of IAM's CloudTrail records.
pub const EVENT_SOURCE: &str = "iam.amazonaws.com";

/// A request or response shape as its audit record logs it.
pub(crate) fn audit_json<T: serde::Serialize>(input: &T) -> serde_json::Value {
    serde_json::to_value(input).unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------------------------------------
// [`MetaIamStore`]: IAM's [`IamStore`] over the MetaStore.
//
// Tables (records in the versioned encoding, keys in ASCII; user and role names are stored
// lower-cased in keys because IAM names are unique ignoring case):
// - `iam_users`: `<account>/<user>` → [`UserRecord`]
// - `iam_roles`: `<account>/<role>` → [`RoleRecord`]
// - `iam_access_keys`: `<access key id>` → [`AccessKeyRecord`] (secret sealed by auth)
// - `iam_user_keys`: `<account>/<user>/<access key id>` → the key id (index of a user's keys)
// - `iam_policies`: `<account>/<user|role>/<owner>/<policy name>` → [`PolicyRecord`]
//
// Names never contain `/` (IAM's name pattern), so a `<…>/` prefix scan selects exactly one
// owner. Every write transaction commits together with its CloudTrail event
// ([`kmsnap_audit::append`] in the same MetaStore transaction), and then runs the write hook
// (the server clears its parsed-policy cache there).

use crate::model::name_key;
use kmsnap_audit::Event;
use kmsnap_store::{MetaStore, ReadTxn, StoreError, Table, Versioned, WriteTxn};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const USERS: &str = "iam_users";
pub const ROLES: &str = "iam_roles";
pub const ACCESS_KEYS: &str = "iam_access_keys";
pub const USER_KEYS: &str = "iam_user_keys";
pub const POLICIES: &str = "iam_policies";

// The records are typed and versioned (docs/storage.md §2); each is still in its first shape.
const USER_TABLE: Table<UserRecord> = Table::new(USERS);
const ROLE_TABLE: Table<RoleRecord> = Table::new(ROLES);
const ACCESS_KEY_TABLE: Table<AccessKeyRecord> = Table::new(ACCESS_KEYS);
const USER_KEY_TABLE: Table<UserKeyIndex> = Table::new(USER_KEYS);
const POLICY_TABLE: Table<PolicyRecord> = Table::new(POLICIES);

/// An `iam_user_keys` record: the access key id it indexes (stored as a JSON string).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct UserKeyIndex(String);

kmsnap_store::first_version!(
    UserRecord,
    RoleRecord,
    AccessKeyRecord,
    PolicyRecord,
    UserKeyIndex
);

/// Page size of prefix scans.
const SCAN_PAGE: usize = 256;

/// Runs after every committed IAM write.
pub type WriteHook = Arc<dyn Fn() + Send + Sync>;

pub struct MetaIamStore {
    meta: Arc<dyn MetaStore>,
    on_write: Option<WriteHook>,
}

impl MetaIamStore {
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        MetaIamStore {
            meta,
            on_write: None,
        }
    }

    /// Calls `hook` after every committed write (cache invalidation).
    pub fn on_write(mut self, hook: WriteHook) -> Self {
        self.on_write = Some(hook);
        self
    }
}

fn internal(e: StoreError) -> IamError {
    IamError::Internal(format!("store: {e}"))
}

fn audit_failed(e: kmsnap_audit::AuditError) -> IamError {
    IamError::Internal(format!("audit: {e}"))
}

fn owner_key(account: AccountId, name: &str) -> String {
    format!("{}/{}", account.as_str(), name_key(name))
}

fn policy_prefix(owner: &PolicyOwner) -> String {
    format!(
        "{}/{}/{}/",
        owner.account.as_str(),
        owner.kind.as_str(),
        name_key(&owner.name)
    )
}

/// A MetaStore transaction seen as IAM: `T` is `dyn ReadTxn` for snapshots and `dyn WriteTxn`
/// for writes.
struct Txn<'a, T: ?Sized + 'a> {
    txn: Box<T>,
    store: &'a MetaIamStore,
}

/// The read side of either kind of transaction (what the typed tables read through).
trait AsRead {
    fn as_read(&self) -> &dyn ReadTxn;
}

impl<'a> AsRead for dyn ReadTxn + 'a {
    fn as_read(&self) -> &dyn ReadTxn {
        self
    }
}

impl<'a> AsRead for dyn WriteTxn + 'a {
    fn as_read(&self) -> &dyn ReadTxn {
        self
    }
}

impl<T: AsRead + ?Sized> Txn<'_, T> {
    fn get<R: Versioned>(&self, table: Table<R>, key: &str) -> Result<Option<R>, IamError> {
        table
            .get(self.txn.as_read(), key.as_bytes())
            .map_err(internal)
    }

    /// Every record of `table` under `prefix`, in key order.
    fn scan_all<R: Versioned>(&self, table: Table<R>, prefix: &str) -> Result<Vec<R>, IamError> {
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = table
                .scan(
                    self.txn.as_read(),
                    prefix.as_bytes(),
                    after.as_deref(),
                    SCAN_PAGE,
                )
                .map_err(internal)?;
            let full = page.len() == SCAN_PAGE;
            for (k, _, r) in page {
                out.push(r);
                after = Some(k);
            }
            if !full {
                return Ok(out);
            }
        }
    }
}

impl<T: AsRead + ?Sized> IamRead for Txn<'_, T> {
    fn user(&self, account: AccountId, name: &str) -> Result<Option<UserRecord>, IamError> {
        self.get(USER_TABLE, &owner_key(account, name))
    }

    fn users(&self, account: AccountId) -> Result<Vec<UserRecord>, IamError> {
        self.scan_all(USER_TABLE, &format!("{}/", account.as_str()))
    }

    fn role(&self, account: AccountId, name: &str) -> Result<Option<RoleRecord>, IamError> {
        self.get(ROLE_TABLE, &owner_key(account, name))
    }

    fn roles(&self, account: AccountId) -> Result<Vec<RoleRecord>, IamError> {
        self.scan_all(ROLE_TABLE, &format!("{}/", account.as_str()))
    }

    fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, IamError> {
        self.get(ACCESS_KEY_TABLE, access_key_id)
    }

    fn access_keys(
        &self,
        account: AccountId,
        user: &str,
    ) -> Result<Vec<AccessKeyRecord>, IamError> {
        let ids = self.scan_all(USER_KEY_TABLE, &format!("{}/", owner_key(account, user)))?;
        let mut keys = Vec::with_capacity(ids.len());
        for UserKeyIndex(id) in ids {
            match self.access_key(&id)? {
                Some(k) => keys.push(k),
                None => {
                    return Err(IamError::Internal(format!(
                        "index names missing access key {id}"
                    )))
                }
            }
        }
        Ok(keys)
    }

    fn policy(&self, owner: &PolicyOwner, name: &str) -> Result<Option<PolicyRecord>, IamError> {
        self.get(POLICY_TABLE, &format!("{}{name}", policy_prefix(owner)))
    }

    fn policies(&self, owner: &PolicyOwner) -> Result<Vec<PolicyRecord>, IamError> {
        self.scan_all(POLICY_TABLE, &policy_prefix(owner))
    }
}

impl<'a> Txn<'a, dyn WriteTxn + 'a> {
    fn put<R: Versioned + Serialize>(
        &mut self,
        table: Table<R>,
        key: &str,
        value: &R,
    ) -> Result<(), IamError> {
        table
            .put(&mut *self.txn, key.as_bytes(), value)
            .map(drop)
            .map_err(internal)
    }

    fn delete<R: Versioned>(&mut self, table: Table<R>, key: &str) -> Result<(), IamError> {
        table
            .delete(&mut *self.txn, key.as_bytes())
            .map(drop)
            .map_err(internal)
    }
}

impl<'a> IamWrite for Txn<'a, dyn WriteTxn + 'a> {
    fn put_user(&mut self, user: &UserRecord) -> Result<(), IamError> {
        self.put(USER_TABLE, &owner_key(user.account, &user.name), user)
    }

    fn delete_user(&mut self, account: AccountId, name: &str) -> Result<(), IamError> {
        self.delete(USER_TABLE, &owner_key(account, name))
    }

    fn put_role(&mut self, role: &RoleRecord) -> Result<(), IamError> {
        self.put(ROLE_TABLE, &owner_key(role.account, &role.name), role)
    }

    fn delete_role(&mut self, account: AccountId, name: &str) -> Result<(), IamError> {
        self.delete(ROLE_TABLE, &owner_key(account, name))
    }

    fn put_access_key(&mut self, key: &AccessKeyRecord) -> Result<(), IamError> {
        let id = key.access_key_id.as_str();
        // A key id is never reused: put_if(0) refuses an existing one.
        ACCESS_KEY_TABLE
            .put_if(&mut *self.txn, id.as_bytes(), 0, key)
            .map_err(internal)?;
        let index = format!("{}/{id}", owner_key(key.account, &key.user_name));
        self.put(USER_KEY_TABLE, &index, &UserKeyIndex(id.to_owned()))
    }

    fn delete_access_key(&mut self, key: &AccessKeyRecord) -> Result<(), IamError> {
        let id = key.access_key_id.as_str();
        self.delete(ACCESS_KEY_TABLE, id)?;
        self.delete(
            USER_KEY_TABLE,
            &format!("{}/{id}", owner_key(key.account, &key.user_name)),
        )
    }

    fn put_policy(&mut self, policy: &PolicyRecord) -> Result<(), IamError> {
        self.put(
            POLICY_TABLE,
            &format!("{}{}", policy_prefix(&policy.owner), policy.name),
            policy,
        )
    }

    fn delete_policy(&mut self, owner: &PolicyOwner, name: &str) -> Result<(), IamError> {
        self.delete(POLICY_TABLE, &format!("{}{name}", policy_prefix(owner)))
    }

    fn commit(mut self: Box<Self>, note: &AuditNote<'_>) -> Result<(), IamError> {
        let ev = event(note).with_response("iam", note.operation, note.response.clone());
        kmsnap_audit::append(&mut *self.txn, &[ev]).map_err(audit_failed)?;
        let store = self.store;
        self.txn.commit().map_err(internal)?;
        if let Some(hook) = &store.on_write {
            hook();
        }
        Ok(())
    }
}

/// IAM is global: CloudTrail records its events in us-east-1, whatever region a client signed
/// for.
const IAM_EVENT_REGION: &str = "us-east-1";

/// The CloudTrail event of a mutating IAM call (request only; the caller adds the outcome).
fn event(note: &AuditNote<'_>) -> Event {
    let mut ev = Event::api_call(note.ctx, EVENT_SOURCE, note.operation, false).with_request(
        "iam",
        note.operation,
        note.request.clone(),
    );
    ev.aws_region = IAM_EVENT_REGION.into();
    ev
}

impl IamStore for MetaIamStore {
    fn read(&self) -> Result<Box<dyn IamRead + '_>, IamError> {
        let txn = self.meta.read().map_err(internal)?;
        Ok(Box::new(Txn { txn, store: self }))
    }

    fn write(&self) -> Result<Box<dyn IamWrite + '_>, IamError> {
        let txn = self.meta.write().map_err(internal)?;
        Ok(Box::new(Txn::<dyn WriteTxn> { txn, store: self }))
    }

    fn record_failure(&self, note: &AuditNote<'_>, error: &IamError) {
        let e = error.to_aws_error();
        let ev = event(note).with_error(&error.cloudtrail_code(), &e.message);
        let r = self.meta.write().map_err(internal).and_then(|mut txn| {
            kmsnap_audit::append(&mut *txn, &[ev]).map_err(audit_failed)?;
            txn.commit().map_err(internal)
        });
        if let Err(e) = r {
            tracing::error!(op = note.operation, request_id = note.ctx.request_id, error = %e, "recording a failed IAM call");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyStatus, OwnerKind};
    use kmsnap_auth::{Principal, RequestContext};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn acct() -> AccountId {
        AccountId::parse("271828182845").unwrap()
    }

    fn ctx() -> RequestContext {
        // Signed for another region: IAM's events still go to us-east-1.
        crate::testing::request_context(
            Principal::root(acct(), "271828182845"),
            "eu-west-1",
            chrono::Utc::now(),
        )
    }

    fn user(name: &str) -> UserRecord {
        UserRecord {
            account: acct(),
            name: name.into(),
            path: "/".into(),
            user_id: "AIDAAAAAAAAAAAAAAAAAA".into(),
            created_ms: 1,
            tags: vec![],
        }
    }

    fn key(id: &str, user: &str) -> AccessKeyRecord {
        AccessKeyRecord {
            access_key_id: id.into(),
            account: acct(),
            user_name: user.into(),
            status: KeyStatus::Active,
            created_ms: 2,
            sealed_secret: "sealed".into(),
        }
    }

    fn note<'a>(ctx: &'a RequestContext, op: &'static str) -> AuditNote<'a> {
        AuditNote {
            ctx,
            operation: op,
            request: serde_json::json!({"UserName": "Alice"}),
            response: serde_json::Value::Null,
        }
    }

    #[test]
    fn records_round_trip_and_names_ignore_case() {
        let (meta, _) = kmsnap_store::open_memory();
        let writes = Arc::new(AtomicUsize::new(0));
        let counter = writes.clone();
        let store = MetaIamStore::new(meta.clone()).on_write(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        let c = ctx();
        let mut w = store.write().unwrap();
        w.put_user(&user("Alice")).unwrap();
        w.put_user(&user("bob")).unwrap();
        w.put_access_key(&key("AKIAAAAAAAAAAAAAAAA2", "Alice"))
            .unwrap();
        w.put_access_key(&key("AKIAAAAAAAAAAAAAAAA1", "Alice"))
            .unwrap();
        let owner = PolicyOwner {
            account: acct(),
            kind: OwnerKind::User,
            name: "Alice".into(),
        };
        w.put_policy(&PolicyRecord {
            owner: owner.clone(),
            name: "p".into(),
            document: "{}".into(),
        })
        .unwrap();
        // A transaction sees its own writes.
        assert!(w.user(acct(), "alice").unwrap().is_some());
        w.commit(&note(&c, "CreateUser")).unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 1);

        let r = store.read().unwrap();
        assert_eq!(r.user(acct(), "ALICE").unwrap().unwrap().name, "Alice");
        assert_eq!(
            r.users(acct())
                .unwrap()
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>(),
            ["Alice", "bob"]
        );
        let ids: Vec<String> = r
            .access_keys(acct(), "alice")
            .unwrap()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect();
        assert_eq!(ids, ["AKIAAAAAAAAAAAAAAAA1", "AKIAAAAAAAAAAAAAAAA2"]);
        assert!(r.access_keys(acct(), "bob").unwrap().is_empty());
        assert_eq!(r.policies(&owner).unwrap().len(), 1);
        // bob's policy prefix does not see "Alice"'s, nor does another account.
        let bob = PolicyOwner {
            name: "bob".into(),
            ..owner.clone()
        };
        assert!(r.policies(&bob).unwrap().is_empty());
        assert!(r
            .users(AccountId::parse("314159265358").unwrap())
            .unwrap()
            .is_empty());
        drop(r);

        // An id is never reused.
        let mut w = store.write().unwrap();
        assert!(w
            .put_access_key(&key("AKIAAAAAAAAAAAAAAAA1", "bob"))
            .is_err());
        drop(w);

        let mut w = store.write().unwrap();
        let k = w.access_key("AKIAAAAAAAAAAAAAAAA1").unwrap().unwrap();
        w.delete_access_key(&k).unwrap();
        w.delete_policy(&owner, "p").unwrap();
        w.commit(&note(&c, "DeleteAccessKey")).unwrap();
        let r = store.read().unwrap();
        assert!(r.access_key("AKIAAAAAAAAAAAAAAAA1").unwrap().is_none());
        assert_eq!(r.access_keys(acct(), "Alice").unwrap().len(), 1);
        assert!(r.policy(&owner, "p").unwrap().is_none());
    }

    #[test]
    fn every_write_and_failure_is_audited_and_an_aborted_write_leaves_nothing() {
        let (meta, _) = kmsnap_store::open_memory();
        let store = MetaIamStore::new(meta.clone());
        let c = ctx();
        let mut w = store.write().unwrap();
        w.put_user(&user("ghost")).unwrap();
        drop(w);
        assert!(store
            .read()
            .unwrap()
            .user(acct(), "ghost")
            .unwrap()
            .is_none());

        let mut w = store.write().unwrap();
        w.put_user(&user("Alice")).unwrap();
        w.commit(&note(&c, "CreateUser")).unwrap();
        store.record_failure(
            &note(&c, "DeleteUser"),
            &IamError::NoSuchUser { name: "x".into() },
        );

        let mut lines = Vec::new();
        kmsnap_audit::export(meta.as_ref(), &mut lines).unwrap();
        let events: Vec<serde_json::Value> = String::from_utf8(lines)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2, "{events:?}");
        let find = |name: &str| {
            events
                .iter()
                .find(|e| e.to_string().contains(name))
                .cloned()
                .unwrap()
        };
        let created = find("\"CreateUser\"");
        assert!(created.to_string().contains("iam.amazonaws.com"));
        assert!(
            created.to_string().contains("\"userName\":\"Alice\""),
            "{created}"
        );
        assert!(
            created.to_string().contains("\"awsRegion\":\"us-east-1\""),
            "{created}"
        );
        let failed = find("\"DeleteUser\"");
        assert!(
            failed.to_string().contains("NoSuchEntityException"),
            "{failed}"
        );
        assert!(kmsnap_audit::verify(meta.as_ref())
            .unwrap()
            .first_broken
            .is_none());
    }

    /// Records as the builds before typed tables wrote them (version 1), byte for byte: they
    /// read back, and writing them again stores the same bytes.
    #[test]
    fn version_1_records_read_and_write_back_unchanged() {
        let rows: [(&str, &str, &str); 5] = [
            (
                USERS,
                "271828182845/alice",
                r#"{"account":"271828182845","name":"Alice","path":"/","user_id":"AIDAAAAAAAAAAAAAAAAAA","created_ms":1,"tags":[{"key":"team","value":"a"}]}"#,
            ),
            (
                ROLES,
                "271828182845/ops",
                r#"{"account":"271828182845","name":"Ops","path":"/x/","role_id":"AROAAAAAAAAAAAAAAAAAA","created_ms":2,"trust_policy":"{}","description":null,"max_session_duration":3600,"tags":[]}"#,
            ),
            (
                ACCESS_KEYS,
                "AKIAAAAAAAAAAAAAAAA1",
                r#"{"access_key_id":"AKIAAAAAAAAAAAAAAAA1","account":"271828182845","user_name":"Alice","status":"Active","created_ms":3,"sealed_secret":"sealed"}"#,
            ),
            (
                USER_KEYS,
                "271828182845/alice/AKIAAAAAAAAAAAAAAAA1",
                r#""AKIAAAAAAAAAAAAAAAA1""#,
            ),
            (
                POLICIES,
                "271828182845/user/alice/p",
                r#"{"owner":{"account":"271828182845","kind":"User","name":"Alice"},"name":"p","document":"{}"}"#,
            ),
        ];
        let (meta, _) = kmsnap_store::open_memory();
        {
            let mut txn = meta.write().unwrap();
            for (table, key, json) in rows {
                // The record encoding: format byte, version 1, the JSON as written.
                let bytes = [&[kmsnap_store::RECORD_FORMAT, 0, 1][..], json.as_bytes()].concat();
                txn.put(table, key.as_bytes(), &bytes).unwrap();
            }
            txn.commit().unwrap();
        }
        let bytes = |table: &str, key: &str| {
            let r = meta.read().unwrap();
            r.get(table, key.as_bytes()).unwrap().unwrap().value
        };
        let before: Vec<Vec<u8>> = rows.iter().map(|(t, k, _)| bytes(t, k)).collect();
        let store = MetaIamStore::new(meta.clone());
        let owner = PolicyOwner {
            account: acct(),
            kind: OwnerKind::User,
            name: "Alice".into(),
        };
        let (alice, ops, keys, policy) = {
            let r = store.read().unwrap();
            (
                r.user(acct(), "ALICE").unwrap().unwrap(),
                r.role(acct(), "ops").unwrap().unwrap(),
                r.access_keys(acct(), "alice").unwrap(),
                r.policy(&owner, "p").unwrap().unwrap(),
            )
        };
        assert_eq!(alice.tags.len(), 1);
        assert_eq!(ops.path, "/x/");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].status, KeyStatus::Active);
        assert_eq!(policy.document, "{}");
        // Written again as today's version: the same bytes (the access key is re-put under a
        // new id, since ids are never reused).
        {
            let mut txn = meta.write().unwrap();
            ACCESS_KEY_TABLE
                .delete(&mut *txn, b"AKIAAAAAAAAAAAAAAAA1")
                .unwrap();
            txn.commit().unwrap();
        }
        let mut w = store.write().unwrap();
        w.put_user(&alice).unwrap();
        w.put_role(&ops).unwrap();
        w.put_access_key(&keys[0]).unwrap();
        w.put_policy(&policy).unwrap();
        w.commit(&note(&ctx(), "Rewrite")).unwrap();
        let after: Vec<Vec<u8>> = rows.iter().map(|(t, k, _)| bytes(t, k)).collect();
        assert_eq!(after, before);
    }
}
