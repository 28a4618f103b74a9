//! [`Keyring`]: resolves the access key id of a signed request to [`Credentials`].
//!
//! Four sources, in this order:
//! 1. configured [`StaticKey`]s (both modes): a secret, an account and optionally an IAM user;
//! 2. STS temporary keys (`ASIA` + 16 characters, both modes). These are stateless: the secret
//!    is an HMAC of the access key id under an HKDF subkey of the server's root key, and the
//!    session token is an AES-256-GCM sealed claim set (version, access key id, account, role,
//!    session name, expiry and, since format 2, the session policies and source identity) under
//!    another derived key. Any server holding the root key can verify them; nothing is stored. A
//!    temporary key is only accepted with its own session token. Tokens of format 1 (issued
//!    before session policies were enforced) still open, as sessions without session policies;
//! 3. IAM users' access keys (`AKIA` + 16 characters, both modes), through the wired
//!    [`AccessKeyLookup`] (IAM over the store), read on every request so that a deleted key
//!    stops working at once;
//! 4. dev mode only: `test` → account `000000000000`, a 12-digit key → that account, both as the
//!    account's root with secret `test`. A session token sent with such a key is ignored (SDK
//!    environments often carry a dummy `AWS_SESSION_TOKEN`).
//!
//! Anything else is [`AuthError::UnknownAccessKey`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use kmsnap_core::account::DEFAULT_ACCOUNT;
use kmsnap_core::ids::{random_bytes, RngError};
use kmsnap_core::{AccountId, Arn, RootKey};

use crate::error::AuthError;
use crate::model::{
    role_unique_id, AuthMode, Credentials, Principal, PrincipalKind, Secret, SessionPolicy,
    ID_ALPHABET,
};
use crate::sealed::SealingKey;
use crate::trust::TrustPolicyCheck;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// First byte of every session token: the format version. Format 2 added the session policies
/// and the source identity; format 1 tokens are still accepted (see [`ClaimsV1`]).
const TOKEN_VERSION: u8 = 2;
const TOKEN_VERSION_V1: u8 = 1;
/// The authenticated data of each format. It names the version because the version byte itself
/// sits outside the AEAD: were both formats sealed under the same data, a format 2 token with a
/// session policy could be relabelled as format 1 and open *without* its policy.
const TOKEN_AAD: &[u8] = b"kmsnap/sts/session-token/v2";
const TOKEN_AAD_V1: &[u8] = b"kmsnap/sts/session-token/v1";
/// HKDF purpose labels of the two root-key subkeys (one token key serves both formats; the
/// authenticated data keeps them apart).
const SECRET_PURPOSE: &[u8] = b"sts/temporary-secret/v1";
const TOKEN_PURPOSE: &[u8] = b"sts/session-token/v1";
/// Upper bound on an accepted token's length, so garbage is refused before base64 and AEAD.
/// A format 2 token carries up to 2048 characters of session policy (each up to 4 bytes once
/// escaped and UTF-8 encoded), in base64.
const MAX_TOKEN_LEN: usize = 16_384;
const MAX_TOKEN_LEN_V1: usize = 4096;
/// The secret of the dev-mode conventions.
const DEV_SECRET: &str = "test";

/// Where the keyring finds IAM users' long-term access keys (IAM over the store; wired by the
/// server).
pub trait AccessKeyLookup: Send + Sync {
    /// The credentials of the IAM user access key `access_key_id`; `None` when there is no such
    /// key (never created, or deleted). `Err` only when the lookup itself failed.
    fn lookup(&self, access_key_id: &str) -> Result<Option<Credentials>, AuthError>;
}

/// A configured long-term access key.
#[derive(Debug, Clone)]
pub struct StaticKey {
    pub access_key_id: String,
    pub secret: Secret,
    pub account: AccountId,
    /// The IAM user owning the key; `None` means the account's root.
    pub user_name: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("deriving the STS keys from the root key failed")]
    KeyDerivation,
    #[error("access key id {0} is configured twice")]
    DuplicateKey(String),
    #[error(
        "access key id {0} is not allowed: empty, or shaped like an STS temporary key (ASIA…)"
    )]
    ReservedKey(String),
}

/// The claims sealed in a session token (format 2). Unknown fields are refused rather than
/// skipped, so claims are never read by a decoder that would drop part of them.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    akid: String,
    acct: AccountId,
    role_arn: String,
    role_name: String,
    session: String,
    /// Expiry, epoch seconds (domain clock).
    exp: i64,
    /// The session policies, when AssumeRole was given any (AWS packs them into its tokens
    /// too: "PackedPolicySize").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pol: Option<SessionPolicy>,
    /// The source identity (`aws:SourceIdentity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// The claims of a format 1 token: a session without session policies or source identity.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsV1 {
    akid: String,
    acct: AccountId,
    role_arn: String,
    role_name: String,
    session: String,
    exp: i64,
}

impl From<ClaimsV1> for Claims {
    fn from(c: ClaimsV1) -> Self {
        Claims {
            akid: c.akid,
            acct: c.acct,
            role_arn: c.role_arn,
            role_name: c.role_name,
            session: c.session,
            exp: c.exp,
            pol: None,
            sid: None,
        }
    }
}

/// What a session is minted with, beyond its role and expiry.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionAttributes {
    pub session_policy: Option<SessionPolicy>,
    pub source_identity: Option<String>,
}

/// Temporary credentials as minted for AssumeRole.
pub(crate) struct Minted {
    pub access_key_id: String,
    pub secret: Secret,
    pub session_token: String,
}

pub struct Keyring {
    mode: AuthMode,
    static_keys: HashMap<String, StaticKey>,
    /// Derives temporary secrets from access key ids.
    temp_secret_key: hmac::Key,
    /// Seals session tokens (format 2).
    token_key: SealingKey,
    /// Opens session tokens of format 1 (the same subkey, another version byte and AAD).
    token_key_v1: SealingKey,
    pub(crate) trust_check: Option<Arc<dyn TrustPolicyCheck>>,
    iam_keys: Option<Arc<dyn AccessKeyLookup>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.static_keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("mode", &self.mode)
            .field("static_keys", &ids)
            .field("trust_check", &self.trust_check.is_some())
            .field("iam_keys", &self.iam_keys.is_some())
            .finish_non_exhaustive()
    }
}

/// Whether `akid` has the shape of an STS temporary key: `ASIA` + 16 id characters.
pub fn is_temporary_key(akid: &str) -> bool {
    akid.len() == 20
        && akid.starts_with("ASIA")
        && akid.bytes().skip(4).all(|b| ID_ALPHABET.contains(&b))
}

impl Keyring {
    /// A keyring for `mode` with the configured `static_keys`. The STS keys are HKDF subkeys of
    /// the server's `root_key`, one per purpose.
    pub fn new(
        mode: AuthMode,
        root_key: &RootKey,
        static_keys: Vec<StaticKey>,
    ) -> Result<Self, KeyringError> {
        let mut map = HashMap::new();
        for k in static_keys {
            if k.access_key_id.is_empty() || is_temporary_key(&k.access_key_id) {
                return Err(KeyringError::ReservedKey(k.access_key_id));
            }
            if map.contains_key(&k.access_key_id) {
                return Err(KeyringError::DuplicateKey(k.access_key_id));
            }
            map.insert(k.access_key_id.clone(), k);
        }
        let secret_key = root_key
            .derive(SECRET_PURPOSE)
            .map_err(|_| KeyringError::KeyDerivation)?;
        let token_key = SealingKey::derive(root_key, TOKEN_PURPOSE, TOKEN_VERSION, MAX_TOKEN_LEN)
            .map_err(|_| KeyringError::KeyDerivation)?;
        let token_key_v1 =
            SealingKey::derive(root_key, TOKEN_PURPOSE, TOKEN_VERSION_V1, MAX_TOKEN_LEN_V1)
                .map_err(|_| KeyringError::KeyDerivation)?;
        Ok(Keyring {
            mode,
            static_keys: map,
            temp_secret_key: hmac::Key::new(hmac::HMAC_SHA256, secret_key.expose()),
            token_key,
            token_key_v1,
            trust_check: None,
            iam_keys: None,
        })
    }

    /// Wires the trust-policy check that strict mode needs for AssumeRole.
    pub fn with_trust_policy_check(mut self, check: Arc<dyn TrustPolicyCheck>) -> Self {
        self.trust_check = Some(check);
        self
    }

    /// Wires the lookup of IAM users' access keys (both modes).
    pub fn with_access_key_lookup(mut self, lookup: Arc<dyn AccessKeyLookup>) -> Self {
        self.iam_keys = Some(lookup);
        self
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Resolves `access_key_id` (with the request's session token, if any) to its credentials.
    /// `now` is the domain clock's time: temporary credentials expire in domain time, like the
    /// `Expiration` AssumeRole reported.
    pub fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Credentials, AuthError> {
        if let Some(k) = self.static_keys.get(access_key_id) {
            if session_token.is_some() {
                // AWS refuses a session token alongside a long-term key.
                return Err(AuthError::InvalidSessionToken);
            }
            let principal = match &k.user_name {
                Some(name) => Principal::user(k.account, name, access_key_id),
                None => Principal::root(k.account, access_key_id),
            };
            return Ok(Credentials {
                secret: k.secret.clone(),
                principal,
                session_token: None,
            });
        }
        if is_temporary_key(access_key_id) {
            return self.resolve_temporary(access_key_id, session_token, now);
        }
        if let Some(lookup) = &self.iam_keys {
            if let Some(creds) = lookup.lookup(access_key_id)? {
                if session_token.is_some() {
                    return Err(AuthError::InvalidSessionToken);
                }
                return Ok(creds);
            }
        }
        if let Some(account) = self.dev_convention_account(access_key_id) {
            return Ok(Credentials {
                secret: Secret::new(DEV_SECRET),
                principal: Principal::root(account, access_key_id),
                session_token: None,
            });
        }
        Err(AuthError::UnknownAccessKey)
    }

    /// The account a dev-mode convention key (`test`, or 12 digits) stands for; `None` in strict
    /// mode and for a configured key of the same name, which [`Keyring::resolve`] finds first.
    /// AssumeRole asks this too: AWS refuses root callers, and only these keys are let through
    /// (scripts written for local AWS servers assume roles with them).
    pub fn dev_convention_account(&self, access_key_id: &str) -> Option<AccountId> {
        if self.mode != AuthMode::Dev || self.static_keys.contains_key(access_key_id) {
            return None;
        }
        if access_key_id == "test" {
            Some(DEFAULT_ACCOUNT)
        } else {
            AccountId::parse(access_key_id).ok()
        }
    }

    fn temporary_secret(&self, access_key_id: &str) -> Secret {
        let tag = hmac::sign(&self.temp_secret_key, access_key_id.as_bytes());
        let bytes = tag.as_ref().get(..30).unwrap_or(tag.as_ref());
        Secret::new(B64.encode(bytes))
    }

    fn resolve_temporary(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Credentials, AuthError> {
        let token = token.ok_or(AuthError::InvalidSessionToken)?;
        let claims = self
            .open_token(token)
            .ok_or(AuthError::InvalidSessionToken)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            claims.akid.as_bytes(),
            access_key_id.as_bytes(),
        )
        .is_err()
        {
            return Err(AuthError::InvalidSessionToken);
        }
        if now.timestamp() >= claims.exp {
            return Err(AuthError::ExpiredSessionToken);
        }
        let principal = Principal {
            account: claims.acct,
            arn: assumed_role_arn(claims.acct, &claims.role_name, &claims.session),
            user_id: format!("{}:{}", role_unique_id(&claims.role_arn), claims.session),
            kind: PrincipalKind::AssumedRole {
                role_name: claims.role_name,
                role_arn: claims.role_arn,
                session_name: claims.session,
                session_policy: claims.pol.map(Arc::new),
                source_identity: claims.sid,
            },
            access_key_id: access_key_id.to_owned(),
        };
        Ok(Credentials {
            secret: self.temporary_secret(access_key_id),
            principal,
            session_token: Some(token.to_owned()),
        })
    }

    /// The claims of a format 2 token, or of a format 1 token (no session policy). Each key
    /// refuses the other format's version byte before any decryption.
    fn open_token(&self, token: &str) -> Option<Claims> {
        if let Some(plain) = self.token_key.open(TOKEN_AAD, token) {
            return serde_json::from_slice(&plain).ok();
        }
        let plain = self.token_key_v1.open(TOKEN_AAD_V1, token)?;
        serde_json::from_slice::<ClaimsV1>(&plain)
            .ok()
            .map(Claims::from)
    }

    /// Mints a temporary key for a session of `role_arn` in `account`, expiring at `expiration`,
    /// with the session policies and source identity of `attributes` sealed into its token.
    pub(crate) fn mint(
        &self,
        account: AccountId,
        role_arn: &str,
        role_name: &str,
        session_name: &str,
        expiration: DateTime<Utc>,
        attributes: SessionAttributes,
    ) -> Result<Minted, RngError> {
        let mut rnd = [0u8; 16];
        random_bytes(&mut rnd)?;
        let mut access_key_id = String::from("ASIA");
        access_key_id.extend(
            rnd.iter()
                .map(|b| char::from(ID_ALPHABET[usize::from(b & 31)])),
        );
        let claims = Claims {
            akid: access_key_id.clone(),
            acct: account,
            role_arn: role_arn.to_owned(),
            role_name: role_name.to_owned(),
            session: session_name.to_owned(),
            exp: expiration.timestamp(),
            pol: attributes.session_policy,
            sid: attributes.source_identity,
        };
        let buf = serde_json::to_vec(&claims).map_err(|_| RngError)?;
        let session_token = self.token_key.seal(TOKEN_AAD, &buf).map_err(|_| RngError)?;
        Ok(Minted {
            secret: self.temporary_secret(&access_key_id),
            access_key_id,
            session_token,
        })
    }
}

/// `arn:aws:sts::<acct>:assumed-role/<role name>/<session>`.
pub fn assumed_role_arn(account: AccountId, role_name: &str, session: &str) -> String {
    Arn::sts_assumed_role(account.as_str(), role_name, session).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_key() -> RootKey {
        RootKey::from_bytes([7u8; 32])
    }

    fn dev() -> Keyring {
        Keyring::new(AuthMode::Dev, &root_key(), vec![]).unwrap()
    }

    #[test]
    fn dev_conventions() {
        let now = Utc::now();
        let c = dev().resolve("test", None, now).unwrap();
        assert_eq!(c.principal.arn, "arn:aws:iam::000000000000:root");
        assert_eq!(c.secret.expose(), "test");
        let c = dev().resolve("111111111111", Some("dummy"), now).unwrap();
        assert_eq!(c.principal.account.as_str(), "111111111111");
        assert_eq!(
            dev()
                .resolve("AKIAIOSFODNN7EXAMPLE", None, now)
                .unwrap_err(),
            AuthError::UnknownAccessKey
        );
        let strict = Keyring::new(AuthMode::Strict, &root_key(), vec![]).unwrap();
        assert_eq!(
            strict.resolve("test", None, now).unwrap_err(),
            AuthError::UnknownAccessKey
        );
        assert_eq!(
            strict.resolve("111111111111", None, now).unwrap_err(),
            AuthError::UnknownAccessKey
        );
    }

    #[test]
    fn static_keys_both_modes() {
        let acct = AccountId::parse("222222222222").unwrap();
        let keys = vec![
            StaticKey {
                access_key_id: "AKIAALICE".into(),
                secret: Secret::new("s1"),
                account: acct,
                user_name: Some("alice".into()),
            },
            StaticKey {
                access_key_id: "AKIAROOT".into(),
                secret: Secret::new("s2"),
                account: acct,
                user_name: None,
            },
        ];
        for mode in [AuthMode::Dev, AuthMode::Strict] {
            let k = Keyring::new(mode, &root_key(), keys.clone()).unwrap();
            let c = k.resolve("AKIAALICE", None, Utc::now()).unwrap();
            assert_eq!(c.principal.arn, "arn:aws:iam::222222222222:user/alice");
            assert_eq!(c.secret.expose(), "s1");
            let c = k.resolve("AKIAROOT", None, Utc::now()).unwrap();
            assert!(c.principal.is_root());
            assert_eq!(
                k.resolve("AKIAROOT", Some("tok"), Utc::now()).unwrap_err(),
                AuthError::InvalidSessionToken
            );
        }
        let dup = vec![keys[0].clone(), keys[0].clone()];
        assert_eq!(
            Keyring::new(AuthMode::Dev, &root_key(), dup).unwrap_err(),
            KeyringError::DuplicateKey("AKIAALICE".into())
        );
    }

    #[test]
    fn temporary_round_trip() {
        let k = dev();
        let acct = AccountId::parse("333333333333").unwrap();
        let now = Utc::now();
        let m = k
            .mint(
                acct,
                "arn:aws:iam::333333333333:role/r",
                "r",
                "s",
                now + chrono::Duration::hours(1),
                SessionAttributes::default(),
            )
            .unwrap();
        assert!(is_temporary_key(&m.access_key_id));
        assert_eq!(m.secret.expose().len(), 40);
        let c = k
            .resolve(&m.access_key_id, Some(&m.session_token), now)
            .unwrap();
        assert_eq!(
            c.principal.arn,
            "arn:aws:sts::333333333333:assumed-role/r/s"
        );
        assert_eq!(c.secret.expose(), m.secret.expose());
        assert_eq!(c.principal.session_policy(), None);
        assert_eq!(c.principal.source_identity(), None);
        assert_eq!(B64.decode(&m.session_token).unwrap()[0], TOKEN_VERSION);
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            inline: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}"#
                    .into(),
            ),
            managed_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
        }
    }

    #[test]
    fn session_policy_and_source_identity_round_trip() {
        let k = dev();
        let acct = AccountId::parse("333333333333").unwrap();
        let now = Utc::now();
        let attributes = SessionAttributes {
            session_policy: Some(policy()),
            source_identity: Some("alice".into()),
        };
        let m = k
            .mint(
                acct,
                "arn:aws:iam::333333333333:role/r",
                "r",
                "s",
                now + chrono::Duration::hours(1),
                attributes,
            )
            .unwrap();
        // Another keyring from the same root key (a restarted server) reads the same claims.
        let c = dev()
            .resolve(&m.access_key_id, Some(&m.session_token), now)
            .unwrap();
        assert_eq!(c.principal.session_policy(), Some(&policy()));
        assert_eq!(c.principal.source_identity(), Some("alice"));
        // Only ARNs, no inline document, is still a session policy (one that allows nothing).
        let arns_only = SessionAttributes {
            session_policy: Some(SessionPolicy {
                inline: None,
                managed_arns: vec!["arn:aws:iam::333333333333:policy/x".into()],
            }),
            source_identity: None,
        };
        let m = k
            .mint(
                acct,
                "arn:aws:iam::333333333333:role/r",
                "r",
                "s",
                now + chrono::Duration::hours(1),
                arns_only,
            )
            .unwrap();
        let c = k
            .resolve(&m.access_key_id, Some(&m.session_token), now)
            .unwrap();
        assert_eq!(c.principal.session_policy().unwrap().inline, None);
    }

    /// A token as the previous release sealed it: format 1, its own authenticated data, the
    /// claims without session policy or source identity.
    fn mint_v1(k: &Keyring, akid: &str, exp: i64) -> String {
        let claims = serde_json::json!({
            "akid": akid, "acct": "333333333333", "role_arn": "arn:aws:iam::333333333333:role/r",
            "role_name": "r", "session": "old", "exp": exp,
        });
        k.token_key_v1
            .seal(TOKEN_AAD_V1, &serde_json::to_vec(&claims).unwrap())
            .unwrap()
    }

    #[test]
    fn format_1_tokens_still_open_without_session_policy() {
        let k = dev();
        let now = Utc::now();
        let akid = "ASIAAAAAAAAAAAAAAAAA";
        let token = mint_v1(&k, akid, now.timestamp() + 3600);
        assert_eq!(B64.decode(&token).unwrap()[0], TOKEN_VERSION_V1);
        let c = k.resolve(akid, Some(&token), now).unwrap();
        assert_eq!(
            c.principal.arn,
            "arn:aws:sts::333333333333:assumed-role/r/old"
        );
        assert_eq!(c.principal.session_policy(), None);
        assert_eq!(c.secret.expose(), k.temporary_secret(akid).expose());
        // Expiry and the access-key binding still hold for old tokens.
        assert_eq!(
            k.resolve(akid, Some(&mint_v1(&k, akid, now.timestamp() - 1)), now)
                .unwrap_err(),
            AuthError::ExpiredSessionToken
        );
        assert_eq!(
            k.resolve("ASIABBBBBBBBBBBBBBBB", Some(&token), now)
                .unwrap_err(),
            AuthError::InvalidSessionToken
        );
    }

    #[test]
    fn formats_cannot_be_relabelled() {
        let k = dev();
        let acct = AccountId::parse("333333333333").unwrap();
        let now = Utc::now();
        let attributes = SessionAttributes {
            session_policy: Some(policy()),
            source_identity: None,
        };
        let m = k
            .mint(
                acct,
                "arn:aws:iam::333333333333:role/r",
                "r",
                "s",
                now + chrono::Duration::hours(1),
                attributes,
            )
            .unwrap();
        // A format 2 token presented as format 1 would drop its session policy: it must not open.
        let mut raw = B64.decode(&m.session_token).unwrap();
        raw[0] = TOKEN_VERSION_V1;
        assert!(k.open_token(&B64.encode(&raw)).is_none());
        // Nor does a format 1 token presented as format 2.
        let mut raw = B64
            .decode(mint_v1(&k, "ASIAAAAAAAAAAAAAAAAA", now.timestamp() + 60))
            .unwrap();
        raw[0] = TOKEN_VERSION;
        assert!(k.open_token(&B64.encode(&raw)).is_none());
    }
}
