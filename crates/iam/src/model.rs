//! IAM's persisted records ([`UserRecord`], [`RoleRecord`], [`AccessKeyRecord`],
//! [`PolicyRecord`]) and the small vocabulary around them: ARNs that honour `Path`, AWS-style
//! unique ids, the key-id shape, and the URL encoding IAM applies to policy documents in its
//! responses.
//!
//! Names of users and roles are unique per account *ignoring case* (AWS: "names are not
//! distinguished by case"), so stores key them by [`name_key`]; the record keeps the name as
//! created. Timestamps are epoch milliseconds of the injected clock (chrono's serde support is
//! not enabled in this workspace).

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use kmsnap_api::Timestamp;
use kmsnap_core::ids::{random_bytes, RngError};
use kmsnap_core::{AccountId, Arn};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use kmsnap_auth::model::{role_unique_id, ID_ALPHABET};

// The records' schema versions and upgrades are the store adapter's business (its typed
// tables, docs/storage.md §2).

/// A tag as CreateUser/CreateRole accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    pub key: String,
    pub value: String,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub account: AccountId,
    /// The name as created (lookups ignore case).
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `AIDA…`, 21 characters.
    pub user_id: String,
    pub created_ms: i64,
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

impl UserRecord {
    pub fn arn(&self) -> String {
        user_arn(self.account, &self.path, &self.name)
    }
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub account: AccountId,
    pub name: String,
    pub path: String,
    /// `AROA…`: [`role_unique_id`] of the ARN, so STS sessions (whose tokens carry only the ARN)
    /// report the same id as GetRole.
    pub role_id: String,
    pub created_ms: i64,
    /// The trust policy as given (validated at CreateRole).
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: i32,
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

impl RoleRecord {
    pub fn arn(&self) -> String {
        role_arn(self.account, &self.path, &self.name)
    }
}

/// `Active` is the only status this emulator issues (UpdateAccessKey is not built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// An IAM user's long-term access key. The secret is stored sealed (AES-256-GCM under a
/// root-key subkey, see [`super::secret`]); `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account: AccountId,
    /// The owning user's name as created.
    pub user_name: String,
    pub status: KeyStatus,
    pub created_ms: i64,
    /// Base64 of version ‖ nonce ‖ ciphertext ‖ tag.
    pub sealed_secret: String,
}

impl fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account", &self.account)
            .field("user_name", &self.user_name)
            .field("status", &self.status)
            .field("created_ms", &self.created_ms)
            .field(
                "sealed_secret",
                &format_args!("<{} bytes>", self.sealed_secret.len()),
            )
            .finish()
    }
}

/// Whose inline policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnerKind {
    User,
    Role,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Role => "role",
        }
    }
}

/// The user or role an inline policy is embedded in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOwner {
    pub account: AccountId,
    pub kind: OwnerKind,
    /// The owner's name as created.
    pub name: String,
}

/// An inline (embedded) policy of a user or role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub owner: PolicyOwner,
    pub name: String,
    /// The document as given (validated when put).
    pub document: String,
}

/// The store key of a user or role name: names are unique ignoring (ASCII) case, and
/// IAM names are ASCII.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// `arn:aws:iam::<acct>:user<path><name>`, e.g. `…:user/dev/alice`.
pub fn user_arn(account: AccountId, path: &str, name: &str) -> String {
    Arn::iam_user(account.as_str(), path, name).to_string()
}

/// `arn:aws:iam::<acct>:role<path><name>`.
pub fn role_arn(account: AccountId, path: &str, name: &str) -> String {
    Arn::iam_role(account.as_str(), path, name).to_string()
}

/// The role id GetRole reports; the same one STS sessions of the role carry.
pub fn role_id(account: AccountId, path: &str, name: &str) -> String {
    role_unique_id(&role_arn(account, path, name))
}

/// `prefix` followed by `n` random characters of AWS's id alphabet (upper case and 2–7).
pub fn random_id(prefix: &str, n: usize) -> Result<String, RngError> {
    let mut rnd = vec![0u8; n];
    random_bytes(&mut rnd)?;
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    s.extend(
        rnd.iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(b & 31)])),
    );
    Ok(s)
}

/// A fresh `AIDA…` user id (21 characters, as AWS's).
pub fn new_user_id() -> Result<String, RngError> {
    random_id("AIDA", 17)
}

/// A fresh `AKIA…` access key id (20 characters).
pub fn new_access_key_id() -> Result<String, RngError> {
    random_id("AKIA", 16)
}

/// Whether `akid` has the shape of an IAM user's access key as this server issues them:
/// `AKIA` + 16 id characters. Only such ids are looked up in the IAM store.
pub fn is_iam_access_key(akid: &str) -> bool {
    akid.len() == 20
        && akid.starts_with("AKIA")
        && akid.bytes().skip(4).all(|b| ID_ALPHABET.contains(&b))
}

/// A stored timestamp as the API's [`Timestamp`].
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp(
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
    )
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const POLICY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// IAM returns policy documents URL-encoded (botocore decodes them again).
pub fn encode_policy_document(document: &str) -> String {
    utf8_percent_encode(document, POLICY_ENCODE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct() -> AccountId {
        AccountId::parse("271828182845").unwrap()
    }

    #[test]
    fn arns_honour_the_path() {
        assert_eq!(
            user_arn(acct(), "/", "alice"),
            "arn:aws:iam::271828182845:user/alice"
        );
        assert_eq!(
            user_arn(acct(), "/dev/team/", "alice"),
            "arn:aws:iam::271828182845:user/dev/team/alice"
        );
        assert_eq!(
            role_arn(acct(), "/svc/", "deploy"),
            "arn:aws:iam::271828182845:role/svc/deploy"
        );
    }

    #[test]
    fn ids_have_aws_shapes() {
        let u = new_user_id().unwrap();
        assert!(u.starts_with("AIDA") && u.len() == 21, "{u}");
        assert!(u
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let k = new_access_key_id().unwrap();
        assert!(is_iam_access_key(&k), "{k}");
        assert_ne!(k, new_access_key_id().unwrap());
        let r = role_id(acct(), "/", "deploy");
        assert!(r.starts_with("AROA") && r.len() == 21);
        assert_eq!(r, role_unique_id("arn:aws:iam::271828182845:role/deploy"));
        assert!(!is_iam_access_key("AKIAIOSFODNN7EXAMPL"));
        assert!(!is_iam_access_key("ASIAAAAAAAAAAAAAAAAA"));
        assert!(!is_iam_access_key("AKIAaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn policy_documents_are_url_encoded() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
        let enc = encode_policy_document(doc);
        assert!(
            enc.starts_with("%7B%22Version%22%3A%222012-10-17%22"),
            "{enc}"
        );
        let back = percent_encoding::percent_decode_str(&enc)
            .decode_utf8()
            .unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn access_key_debug_hides_the_sealed_secret() {
        let k = AccessKeyRecord {
            access_key_id: "AKIAAAAAAAAAAAAAAAAA".into(),
            account: acct(),
            user_name: "alice".into(),
            status: KeyStatus::Active,
            created_ms: 0,
            sealed_secret: "c2VhbGVk".into(),
        };
        let d = format!("{k:?}");
        assert!(!d.contains("c2VhbGVk") && d.contains("<8 bytes>"), "{d}");
    }
}
