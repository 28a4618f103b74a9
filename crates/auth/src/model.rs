//! Identity types: [`Secret`] (a secret access key), [`Principal`] (who is calling) with its
//! [`PrincipalKind`], [`SessionPolicy`] (what an AssumeRole call limited a role session to),
//! [`Credentials`] (what the keyring resolves an access key to) and [`AuthMode`].

use std::fmt;
use std::sync::Arc;

use kmsnap_core::{AccountId, Arn};
use zeroize::Zeroizing;

/// A secret access key. Zeroized on drop, redacted in `Debug`, no `Display`; the bytes are
/// reachable only through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(Zeroizing::new(s.into()))
    }

    /// The secret itself; call only to sign or to hand it to its owner (AssumeRole output).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whether the dev-mode key conventions are on (DESIGN.md "Identity").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// `test` and 12-digit access keys (secret `test`) act as their account's root.
    #[default]
    Dev,
    /// Only configured keys and STS-issued temporary keys.
    Strict,
}

/// What kind of principal a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `arn:aws:iam::<acct>:root`.
    Root,
    /// An IAM user, `arn:aws:iam::<acct>:user/<name>`.
    User { name: String },
    /// A role session from AssumeRole, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    AssumedRole {
        role_name: String,
        role_arn: String,
        session_name: String,
        /// The session policies AssumeRole was given; `None` when it was given none (the
        /// session then has all of the role's permissions).
        session_policy: Option<Arc<SessionPolicy>>,
        /// The `SourceIdentity` set when the session (or the session it was chained from) was
        /// created: `aws:SourceIdentity` of every request it makes.
        source_identity: Option<String>,
    },
}

/// The session policies of a role session: the `Policy` and `PolicyArns` its AssumeRole call
/// passed. The session may do only what both its role's identity-based policies and these allow
/// (AWS's "Session policies"; the evaluators are in kmsnap-kms's `authz` and the server's IAM
/// wiring; the rules kmsnap follows are written down in docs/sts-sessions.md).
///
/// Kept as text because the policy language sits above this crate; it travels sealed inside the
/// session token, so it survives restarts and any server holding the root key sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionPolicy {
    /// The inline `Policy` document, validated at AssumeRole, in compact form (no insignificant
    /// whitespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// The `PolicyArns`, as given. kmsnap has no IAM managed policies, so an ARN names no policy
    /// it has and contributes no allow (docs/sts-sessions.md, "PolicyArns").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_arns: Vec<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountId,
    /// The caller's ARN as GetCallerIdentity reports it.
    pub arn: String,
    /// GetCallerIdentity's `UserId` (CloudTrail `principalId`): the account id for root,
    /// `AIDA…` for a user, `AROA…:<session>` for an assumed role.
    pub user_id: String,
    pub kind: PrincipalKind,
    /// The access key the request was signed with.
    pub access_key_id: String,
}

impl Principal {
    /// The root principal of `account`, signing with `access_key_id`.
    pub fn root(account: AccountId, access_key_id: impl Into<String>) -> Self {
        Principal {
            account,
            arn: account.root_arn(),
            user_id: account.as_str().to_owned(),
            kind: PrincipalKind::Root,
            access_key_id: access_key_id.into(),
        }
    }

    /// The IAM user `name` of `account`.
    pub fn user(account: AccountId, name: &str, access_key_id: impl Into<String>) -> Self {
        let arn = Arn::iam_user(account.as_str(), "/", name).to_string();
        Principal {
            account,
            user_id: unique_id("AIDA", &arn),
            arn,
            kind: PrincipalKind::User {
                name: name.to_owned(),
            },
            access_key_id: access_key_id.into(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }

    /// The session policies of a role session that was given any.
    pub fn session_policy(&self) -> Option<&SessionPolicy> {
        match &self.kind {
            PrincipalKind::AssumedRole { session_policy, .. } => session_policy.as_deref(),
            _ => None,
        }
    }

    /// The source identity of a role session that carries one.
    pub fn source_identity(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole {
                source_identity, ..
            } => source_identity.as_deref(),
            _ => None,
        }
    }
}

/// What an access key resolves to: the secret to verify the signature with and the principal
/// the request then runs as.
#[derive(Clone)]
pub struct Credentials {
    pub secret: Secret,
    pub principal: Principal,
    /// The session token of a temporary key (as received), `None` for long-term keys.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret", &self.secret)
            .field("principal", &self.principal)
            .field(
                "session_token",
                &self
                    .session_token
                    .as_ref()
                    .map(|t| format!("<{} bytes>", t.len())),
            )
            .finish()
    }
}

/// Characters of AWS unique ids (`AIDA…`, `AROA…`, `ASIA…`): upper-case letters and 2–7, like
/// the ids AWS issues.
pub const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A deterministic AWS-style unique id: `prefix` + 17 characters derived from SHA-256 of
/// `name` (AWS's role and user ids are 21 characters long).
pub fn unique_id(prefix: &str, name: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    for b in d.as_ref().iter().take(17) {
        s.push(char::from(ID_ALPHABET[usize::from(b & 31)]));
    }
    s
}

/// The `AROA…` unique id of a role, derived from its ARN, so every server derives the same.
pub fn role_unique_id(role_arn: &str) -> String {
    unique_id("AROA", role_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    }

    #[test]
    fn principals() {
        let a = AccountId::parse("111111111111").unwrap();
        let r = Principal::root(a, "111111111111");
        assert_eq!(r.arn, "arn:aws:iam::111111111111:root");
        assert_eq!(r.user_id, "111111111111");
        let u = Principal::user(a, "alice", "AKIA");
        assert_eq!(u.arn, "arn:aws:iam::111111111111:user/alice");
        assert!(u.user_id.starts_with("AIDA") && u.user_id.len() == 21);
        assert_eq!(
            role_unique_id("arn:aws:iam::1:role/x"),
            role_unique_id("arn:aws:iam::1:role/x")
        );
        assert_ne!(
            role_unique_id("arn:aws:iam::1:role/x"),
            role_unique_id("arn:aws:iam::1:role/y")
        );
    }
}
