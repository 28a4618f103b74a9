//! IAM policy language: parse, validate and evaluate policy documents. Pure: no I/O, no
//! clock (the caller supplies `aws:CurrentTime`).
//!
//! # Overview
//! - [`Policy::parse`]`(text, `[`PolicyKind`]`)` validates a document into a [`Policy`] or
//!   returns a [`PolicyError`] whose message suits KMS `MalformedPolicyDocumentException`
//!   / IAM `MalformedPolicyDocument`. [`PolicyKind::Resource`] (key policies) requires
//!   `Principal`/`NotPrincipal` in every statement; [`PolicyKind::Identity`] forbids it and
//!   requires `Resource`/`NotResource`. Size limits are the caller's job.
//! - A [`Request`] carries the caller ([`PrincipalInfo`]), the action (`kms:Encrypt`), the
//!   resource ARN and a [`ConditionContext`] (case-insensitive condition keys →
//!   [`ContextValue`]: string, list, bool, number, date). The owning domain fills the keys it
//!   owns (`kms:ViaService`, `kms:CallerAccount`, `kms:EncryptionContext:<k>` via
//!   [`ConditionContext::insert_encryption_context`], `kms:GrantOperations`,
//!   `kms:GrantIsForAWSResource`, `aws:SourceIp`, `aws:CurrentTime`, …).
//! - [`evaluate`]`(&[(&policy, `[`PolicySource`]`)], &req)` (or [`Policy::evaluate`] for one
//!   policy) applies AWS's logic — explicit deny wins, then allow, default deny — and
//!   returns a [`Decision`]: the [`DecisionEffect`], the deciding [`StatementRef`] and, for
//!   an allow, the [`PrincipalMatch`]. `PrincipalMatch::AccountRoot` means "allowed only
//!   because the statement names the caller's account": AWS then also requires an IAM allow
//!   for non-root callers, a choice left to the caller. [`Decision::access_denied_message`]
//!   renders AWS's AccessDeniedException text.
//!
//! # Matching rules
//! - Principals: `"*"` / `{"AWS":"*"}` match everyone; an account id or
//!   `arn:aws:iam::<acct>:root` matches every principal of that account; user ARNs match
//!   exactly; a role ARN matches its sessions; an assumed-role ARN matches that session (or
//!   any session when the session name is omitted); `{"Service": …}` matches that service
//!   principal. `NotPrincipal` applies unless every identity of the caller's chain (user or
//!   session, and its account) is listed — AWS's documented behaviour.
//! - Actions: case-insensitive globs (`*`, `?`). Resources: ARN globs compared per ARN
//!   component. Conditions: see the `condition` module.
//!
//! # Not implemented
//! Policy variables (`${aws:username}`) are taken literally; `Federated` and `CanonicalUser`
//! principals are accepted but never match; service-specific validation of action names is
//! not done (KMS accepts unknown actions too).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod condition;
mod context;
mod error;
mod eval;
mod model;
mod principal;
mod wildcard;

pub use context::{ConditionContext, ContextValue};
pub use error::PolicyError;
pub use eval::{evaluate, Decision, DecisionEffect, PolicySource, Request, StatementRef};
pub use model::{Effect, Policy, PolicyKind, PolicyVersion, Statement};
pub use principal::{PrincipalInfo, PrincipalKind, PrincipalMatch};
