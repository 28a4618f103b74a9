//! Authentication for kmsnap: SigV4, credentials, principals, the request context, STS.
//!
//! * [`sigv4`]: verification ([`sigv4::parse`] then [`sigv4::verify`]) and signing
//!   ([`sigv4::sign_headers`], [`sigv4::presign`]) of `AWS4-HMAC-SHA256`, header and presigned
//!   query forms, on aws-lc-rs.
//! * [`model`]: [`Secret`] (a secret access key behind a redacting, zeroizing newtype),
//!   [`Principal`] and [`PrincipalKind`] (who is calling), [`Credentials`], [`AuthMode`].
//! * [`keyring`]: [`Keyring`] resolves an access key id to [`Credentials`]: configured
//!   [`StaticKey`]s, dev-mode conventions (`test`, 12-digit keys) and stateless STS temporary
//!   keys (`ASIA…`) whose session token is an AES-256-GCM sealed claim set, and IAM users'
//!   keys (`AKIA…`) through the [`AccessKeyLookup`] hook.
//! * [`ops`]: the STS operations [`ops::get_caller_identity`] and [`Keyring::assume_role`].
//!   A role session's [`SessionPolicy`] travels sealed in its token and reaches the
//!   evaluators on its [`Principal`] (docs/sts-sessions.md).
//! * [`trust`]: the [`TrustPolicyCheck`] hook AssumeRole asks whether a caller may assume a
//!   role and whether a session policy is valid (kmsnap-iam implements it over its roles).
//! * [`context`]: [`RequestContext`], who calls from where and when, and the global `aws:*`
//!   condition keys every service's policy evaluation starts from.
//! * [`sealed`]: AES-256-GCM sealing under root-key subkeys (session tokens here, IAM's secret
//!   access keys in kmsnap-iam).
//! * [`error`]: [`AuthError`] and its one mapping to each protocol's AWS error.
//!
//! The server's order is: route → [`sigv4::parse`] → [`Keyring::resolve`] (with the session
//! token and the domain clock's now) → [`sigv4::verify`] (with real time) → the operation runs
//! as [`Credentials::principal`].
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod context;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod keyring;
pub mod model;
pub mod ops;
pub mod sealed;
pub mod sigv4;
pub mod trust;

pub use context::{principal_context, principal_info, RequestContext};
pub use error::AuthError;
pub use keyring::{AccessKeyLookup, Keyring, KeyringError, StaticKey};
pub use model::{AuthMode, Credentials, Principal, PrincipalKind, Secret, SessionPolicy};
pub use ops::assume_role::{AssumeRoleParams, AssumedRole};
pub use ops::get_caller_identity::CallerIdentity;
pub use trust::{TrustDecision, TrustPolicyCheck, TrustRequest};
