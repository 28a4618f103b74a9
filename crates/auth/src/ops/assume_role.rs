//! STS `AssumeRole`: validates the request as AWS does, decides whether the caller may assume
//! the role, and mints stateless temporary credentials ([`crate::keyring`]).
//!
//! Authorization asks the wired [`TrustPolicyCheck`] (the server's, over IAM roles and their
//! trust policies) for a [`TrustDecision`], handing it a [`TrustRequest`] with the values the
//! trust policy's conditions may test (`sts:ExternalId`, `sts:RoleSessionName`,
//! `sts:SourceIdentity`):
//! * root callers are refused, as AWS does (docs/fidelity.md), in both modes; only the dev-mode
//!   convention keys (`test`, 12 digits) are let through, for scripts written against local
//!   AWS servers — a root key configured in `kmsnap.toml` is refused like AWS's;
//! * strict mode requires the role to exist and its trust policy to allow the caller; with no
//!   check wired every AssumeRole is refused;
//! * dev mode evaluates the trust policy of a role that exists (dev root callers included), and
//!   lets anyone assume a role that does not exist, so multi-account tests need no IAM setup.
//!
//! A role that exists also caps `DurationSeconds` at its `MaxSessionDuration`.
//!
//! Session policies (`Policy`, `PolicyArns`) are validated here — lengths and counts as AWS's
//! front end words them (`ValidationError`), the document through the check's
//! [`TrustPolicyCheck::validate_session_policy`] (`MalformedPolicyDocument`), the packed size
//! (`PackedPolicyTooLarge`) — and sealed into the session token, so that every evaluator of
//! the session's requests intersects the role's permissions with them. What kmsnap follows and
//! why is in docs/sts-sessions.md.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use kmsnap_api::AwsError;
use kmsnap_core::{AccountId, Arn};

use crate::keyring::{assumed_role_arn, Keyring, SessionAttributes};
use crate::model::{role_unique_id, AuthMode, Principal, PrincipalKind, Secret, SessionPolicy};
use crate::trust::{TrustDecision, TrustRequest};

pub const MIN_DURATION: i32 = 900;
pub const MAX_DURATION: i32 = 43_200;
pub const DEFAULT_DURATION: i32 = 3_600;
/// Role chaining (an assumed role assuming a role) is limited to one hour.
pub const MAX_CHAINED_DURATION: i32 = 3_600;
/// The inline session policy may have at most this many characters, not counting whitespace
/// outside its strings (AWS: "can't exceed 2,048 characters"; IAM counts policies without
/// their white space).
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;
/// At most this many managed session policies (`PolicyArns`).
pub const MAX_POLICY_ARNS: usize = 10;
/// The room a session token has for session policies: the inline document (as counted for
/// [`MAX_SESSION_POLICY_CHARS`]) and the characters of every `PolicyArns` ARN together ("the
/// plaintext that you use for both inline and managed session policies can't exceed 2,048
/// characters"). `PackedPolicySize` is the percentage of it used.
pub const PACKED_POLICY_BUDGET: usize = 2048;

/// The AssumeRole parameters kmsnap acts on (`Tags`, `TransitiveTagKeys`, `SerialNumber`,
/// `TokenCode` and `ProvidedContexts` are accepted by the codec and not used).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumeRoleParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration_seconds: Option<i32>,
    /// The inline session policy (`Policy`).
    pub policy: Option<&'a str>,
    /// The managed session policies (`PolicyArns`).
    pub policy_arns: &'a [String],
    pub external_id: Option<&'a str>,
    pub source_identity: Option<&'a str>,
}

impl<'a> AssumeRoleParams<'a> {
    /// A session `session_name` of `role_arn`, with no other parameter.
    pub fn new(role_arn: &'a str, session_name: &'a str) -> Self {
        AssumeRoleParams {
            role_arn,
            session_name,
            ..Default::default()
        }
    }
}

fn assume_denied(caller: &Principal, role_arn: &str) -> AwsError {
    AwsError::new(
        "AccessDenied",
        403,
        format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        ),
    )
}

/// `AssumeRoleResult`: `Credentials`, `AssumedRoleUser`, `PackedPolicySize`, `SourceIdentity`.
#[derive(Clone)]
pub struct AssumedRole {
    pub access_key_id: String,
    pub secret: Secret,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
    /// `AROA…:<session>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// The percentage of [`PACKED_POLICY_BUDGET`] the session policies use; `None` when none
    /// were passed (AWS returns `PackedPolicySize` only then).
    pub packed_policy_size: Option<i32>,
    /// The session's source identity (requested, or kept from the chained caller's session).
    pub source_identity: Option<String>,
}

impl fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumedRole")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &self.secret)
            .field(
                "session_token",
                &format_args!("<{} bytes>", self.session_token.len()),
            )
            .field("expiration", &self.expiration)
            .field("assumed_role_id", &self.assumed_role_id)
            .field("arn", &self.arn)
            .field("packed_policy_size", &self.packed_policy_size)
            .field("source_identity", &self.source_identity)
            .finish()
    }
}

fn validation(problems: Vec<String>) -> AwsError {
    AwsError::validation("ValidationError", 400, &problems)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// `externalIdType`'s pattern: `[\w+=,.@:\/-]*`.
fn is_external_id_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '/'
}

/// The characters policy documents may contain: tab, line feed, carriage return and
/// U+0020–U+00FF (the model's pattern).
fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
}

/// A request value as AWS echoes it in a validation message (long ones cut).
fn shown(v: &str) -> String {
    if v.chars().count() > 256 {
        let mut t: String = v.chars().take(256).collect();
        t.push_str("...");
        t
    } else {
        v.to_owned()
    }
}

/// The characters of a policy document that count against its size: all but the white space
/// outside its strings (insignificant in JSON; IAM does not count it). Works on any text, so
/// that a document too long to be valid JSON is measured as well.
pub fn policy_size(document: &str) -> usize {
    let (mut n, mut in_string, mut escaped) = (0usize, false, false);
    for c in document.chars() {
        if in_string {
            n += 1;
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            n += 1;
            in_string = c == '"';
        }
    }
    n
}

/// How much of [`PACKED_POLICY_BUDGET`] the session policies use, in percent (rounded up).
fn packed_percent(policy: Option<&str>, arns: &[String]) -> usize {
    let used =
        policy.map_or(0, policy_size) + arns.iter().map(|a| a.chars().count()).sum::<usize>();
    used.saturating_mul(100).div_ceil(PACKED_POLICY_BUDGET)
}

/// `arn:aws:iam::<12 digits>:role/<path/>name` → (account, role name).
fn parse_role_arn(arn: &str) -> Option<(AccountId, String)> {
    let arn = Arn::parse(arn)
        .ok()
        .filter(|a| a.partition == "aws" && a.region.is_empty())?;
    let account = AccountId::parse(&arn.account).ok()?;
    let path_and_name = arn.resource_id("iam", "role/")?;
    let name = path_and_name.rsplit('/').next()?;
    let path_ok = path_and_name
        .split('/')
        .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_graphic()));
    if !path_ok || name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
        return None;
    }
    Some((account, name.to_owned()))
}

/// The model's length and pattern constraints on AssumeRole's members, in AWS's words. The
/// codec checks lengths already for requests off the wire; this also serves direct callers,
/// and checks what the model cannot: patterns, the inline policy's size without white space,
/// and the number of `PolicyArns`.
fn problems(p: &AssumeRoleParams<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut length = |value: &str, member: &str, len: usize, min: usize, max: usize| {
        if len < min {
            problems.push(format!("Value '{}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}", shown(value)));
        } else if len > max {
            problems.push(format!("Value '{}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}", shown(value)));
        }
    };
    length(p.role_arn, "roleArn", p.role_arn.chars().count(), 20, 2048);
    length(
        p.session_name,
        "roleSessionName",
        p.session_name.chars().count(),
        2,
        64,
    );
    if let Some(doc) = p.policy {
        let size = if doc.is_empty() {
            0
        } else {
            policy_size(doc).max(1)
        };
        length(doc, "policy", size, 1, MAX_SESSION_POLICY_CHARS);
    }
    for (i, arn) in p.policy_arns.iter().enumerate() {
        length(
            arn,
            &format!("policyArns.{}.member.arn", i + 1),
            arn.chars().count(),
            20,
            2048,
        );
    }
    if let Some(id) = p.external_id {
        length(id, "externalId", id.chars().count(), 2, 1224);
    }
    if let Some(id) = p.source_identity {
        length(id, "sourceIdentity", id.chars().count(), 2, 64);
    }
    let mut pattern = |value: &str, member: &str, ok: bool, pattern: &str| {
        if !ok {
            problems.push(format!("Value '{}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}", shown(value)));
        }
    };
    pattern(
        p.session_name,
        "roleSessionName",
        p.session_name.chars().all(is_name_char),
        "[\\w+=,.@-]*",
    );
    if let Some(doc) = p.policy {
        pattern(
            doc,
            "policy",
            doc.chars().all(is_policy_char),
            "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        );
    }
    if let Some(id) = p.external_id {
        pattern(
            id,
            "externalId",
            id.chars().all(is_external_id_char),
            "[\\w+=,.@:\\/-]*",
        );
    }
    if let Some(id) = p.source_identity {
        pattern(
            id,
            "sourceIdentity",
            id.chars().all(is_name_char),
            "[\\w+=,.@-]*",
        );
    }
    if p.policy_arns.len() > MAX_POLICY_ARNS {
        // The list is not echoed (AWS's rendering of a list of structures is not known).
        problems.push(format!("Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"));
    }
    let duration = p.duration_seconds.unwrap_or(DEFAULT_DURATION);
    if duration < MIN_DURATION {
        problems.push(format!("Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"));
    } else if duration > MAX_DURATION {
        problems.push(format!("Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION}"));
    }
    problems
}

/// AWS's message for a session policy that is not JSON at all.
pub const NOT_JSON: &str = "The policy is not in the valid JSON format.";

impl Keyring {
    /// The session policies of `params`, validated, in the compact form the token carries;
    /// `None` when neither `Policy` nor `PolicyArns` was passed.
    fn session_policy(
        &self,
        params: &AssumeRoleParams<'_>,
    ) -> Result<Option<SessionPolicy>, AwsError> {
        let malformed = |m: String| AwsError::new("MalformedPolicyDocument", 400, m);
        let inline = match params.policy {
            None => None,
            Some(doc) => {
                // The token carries the document without insignificant white space; it is that
                // form, exactly, that is validated and later evaluated.
                let value: serde_json::Value =
                    serde_json::from_str(doc).map_err(|_| malformed(NOT_JSON.to_owned()))?;
                if !value.is_object() {
                    return Err(malformed(NOT_JSON.to_owned()));
                }
                let compact = value.to_string();
                if let Some(check) = &self.trust_check {
                    check.validate_session_policy(&compact).map_err(malformed)?;
                }
                Some(compact)
            }
        };
        if inline.is_none() && params.policy_arns.is_empty() {
            return Ok(None);
        }
        Ok(Some(SessionPolicy {
            inline,
            managed_arns: params.policy_arns.to_vec(),
        }))
    }

    /// STS `AssumeRole` for `caller` (see the module docs). `now` is the domain clock's time;
    /// the credentials expire `duration_seconds` (default 3600) after it.
    pub fn assume_role(
        &self,
        caller: &Principal,
        params: &AssumeRoleParams<'_>,
        now: DateTime<Utc>,
    ) -> Result<AssumedRole, AwsError> {
        let problems = problems(params);
        if !problems.is_empty() {
            return Err(validation(problems));
        }
        let (role_arn, session_name) = (params.role_arn, params.session_name);
        let duration = params.duration_seconds.unwrap_or(DEFAULT_DURATION);
        let Some((role_account, role_name)) = parse_role_arn(role_arn) else {
            return Err(AwsError::new(
                "ValidationError",
                400,
                format!("{role_arn} is invalid"),
            ));
        };
        if matches!(caller.kind, PrincipalKind::AssumedRole { .. })
            && duration > MAX_CHAINED_DURATION
        {
            return Err(AwsError::new(
                "ValidationError",
                400,
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        let session_policy = self.session_policy(params)?;
        let packed = session_policy
            .as_ref()
            .map(|_| packed_percent(params.policy, params.policy_arns));
        if let Some(percent) = packed.filter(|&p| p > 100) {
            return Err(AwsError::new(
                "PackedPolicyTooLarge",
                400,
                format!("Packed policy consumes {percent}% of allotted space, please use smaller policy for this request."),
            ));
        }
        let strict = self.mode() == AuthMode::Strict;
        if caller.is_root() && self.dev_convention_account(&caller.access_key_id).is_none() {
            return Err(AwsError::new(
                "AccessDenied",
                403,
                "Roles may not be assumed by root accounts.",
            ));
        }
        // A source identity, once set, stays with every session chained from it and cannot be
        // changed (IAM User Guide, "Monitor and control actions taken with assumed roles").
        let source_identity = match (caller.source_identity(), params.source_identity) {
            (Some(kept), Some(asked)) if kept != asked => {
                return Err(assume_denied(caller, role_arn))
            }
            (kept, asked) => asked.or(kept).map(str::to_owned),
        };
        let request = TrustRequest {
            caller,
            role_arn,
            role_account,
            role_name: &role_name,
            session_name,
            external_id: params.external_id,
            source_identity: params.source_identity,
        };
        let decision = match &self.trust_check {
            Some(check) => check.check(&request)?,
            None => TrustDecision::NoSuchRole,
        };
        match decision {
            TrustDecision::Allowed {
                max_session_duration,
            } => {
                if duration > max_session_duration {
                    return Err(AwsError::new(
                        "ValidationError",
                        400,
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                    ));
                }
            }
            TrustDecision::Denied => return Err(assume_denied(caller, role_arn)),
            TrustDecision::NoSuchRole if strict => return Err(assume_denied(caller, role_arn)),
            // Dev mode: a role that does not exist may be assumed; its session still carries
            // the session policies, so they limit it like any other (docs/sts-sessions.md).
            TrustDecision::NoSuchRole => {}
        }
        let expiration = now + Duration::seconds(i64::from(duration));
        let attributes = SessionAttributes {
            session_policy,
            source_identity: source_identity.clone(),
        };
        let minted = self
            .mint(
                role_account,
                role_arn,
                &role_name,
                session_name,
                expiration,
                attributes,
            )
            .map_err(|_| AwsError::internal("InternalFailure"))?;
        Ok(AssumedRole {
            access_key_id: minted.access_key_id,
            secret: minted.secret,
            session_token: minted.session_token,
            expiration,
            assumed_role_id: format!("{}:{session_name}", role_unique_id(role_arn)),
            arn: assumed_role_arn(role_account, &role_name, session_name),
            packed_policy_size: packed.and_then(|p| i32::try_from(p).ok()),
            source_identity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{is_temporary_key, StaticKey};
    use crate::trust::TrustPolicyCheck;
    use std::sync::Arc;

    fn keyring(mode: AuthMode) -> Keyring {
        Keyring::new(mode, &kmsnap_core::RootKey::from_bytes([9u8; 32]), vec![]).unwrap()
    }

    fn root() -> Principal {
        Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111")
    }

    const ROLE: &str = "arn:aws:iam::222222222222:role/path/deploy";

    #[test]
    fn assume_role_in_dev_mode() {
        let now = Utc::now();
        let r = keyring(AuthMode::Dev)
            .assume_role(&root(), &AssumeRoleParams::new(ROLE, "sess"), now)
            .unwrap();
        assert!(is_temporary_key(&r.access_key_id));
        assert_eq!(r.arn, "arn:aws:sts::222222222222:assumed-role/deploy/sess");
        assert!(r.assumed_role_id.starts_with("AROA") && r.assumed_role_id.ends_with(":sess"));
        assert_eq!(r.expiration, now + Duration::seconds(3600));
        assert!(!format!("{r:?}").contains(r.secret.expose()));
        assert!(!format!("{r:?}").contains(&r.session_token));
    }

    #[test]
    fn validation_errors() {
        let k = keyring(AuthMode::Dev);
        let e = k
            .assume_role(
                &root(),
                &AssumeRoleParams {
                    duration_seconds: Some(10),
                    ..AssumeRoleParams::new(ROLE, "sess")
                },
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "1 validation error detected: Value '10' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
        let e = k
            .assume_role(
                &root(),
                &AssumeRoleParams {
                    duration_seconds: Some(43201),
                    ..AssumeRoleParams::new(ROLE, "s")
                },
                Utc::now(),
            )
            .unwrap_err();
        assert!(
            e.message.starts_with("2 validation errors detected"),
            "{}",
            e.message
        );
        let e = k
            .assume_role(
                &root(),
                &AssumeRoleParams::new(ROLE, "bad name"),
                Utc::now(),
            )
            .unwrap_err();
        assert!(e.message.contains("regular expression pattern"));
        for bad in [
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:s3:::bucket-name-long",
        ] {
            assert_eq!(
                k.assume_role(&root(), &AssumeRoleParams::new(bad, "sess"), Utc::now())
                    .unwrap_err()
                    .code,
                "ValidationError",
                "{bad}"
            );
        }
    }

    #[test]
    fn strict_mode_needs_a_trust_check() {
        let user = Principal::user(AccountId::parse("111111111111").unwrap(), "alice", "AKIA1");
        let e = keyring(AuthMode::Strict)
            .assume_role(&user, &AssumeRoleParams::new(ROLE, "sess"), Utc::now())
            .unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("AccessDenied", 403));
        let e = keyring(AuthMode::Strict)
            .assume_role(&root(), &AssumeRoleParams::new(ROLE, "sess"), Utc::now())
            .unwrap_err();
        assert_eq!(e.code, "AccessDenied");

        let k = keyring(AuthMode::Strict).with_trust_policy_check(Arc::new(AllowAlice));
        assert!(k
            .assume_role(&user, &AssumeRoleParams::new(ROLE, "sess"), Utc::now())
            .is_ok());
        let bob = Principal::user(AccountId::parse("111111111111").unwrap(), "bob", "AKIA2");
        let e = k
            .assume_role(&bob, &AssumeRoleParams::new(ROLE, "sess"), Utc::now())
            .unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("AccessDenied", 403));
        assert_eq!(
            e.message,
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {ROLE}",
                bob.arn
            )
        );
        // A role that does not exist is refused in strict mode.
        let missing = "arn:aws:iam::222222222222:role/missing";
        let e = k
            .assume_role(&user, &AssumeRoleParams::new(missing, "sess"), Utc::now())
            .unwrap_err();
        assert_eq!(e.code, "AccessDenied");
    }

    /// Trusts alice for ROLE (max session 2h); no other role exists. Session policies must
    /// contain a `Statement` (a stand-in for the policy language's validation).
    struct AllowAlice;
    impl TrustPolicyCheck for AllowAlice {
        fn check(&self, r: &TrustRequest<'_>) -> Result<TrustDecision, AwsError> {
            Ok(if r.role_arn != ROLE {
                TrustDecision::NoSuchRole
            } else if r.caller.arn.ends_with("user/alice") {
                TrustDecision::Allowed {
                    max_session_duration: 7200,
                }
            } else {
                TrustDecision::Denied
            })
        }

        fn validate_session_policy(&self, document: &str) -> Result<(), String> {
            if document.contains("\"Statement\"") {
                Ok(())
            } else {
                Err("Missing required field Statement".into())
            }
        }
    }

    /// Records what the trust policy was asked.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);
    impl TrustPolicyCheck for Recorder {
        fn check(&self, r: &TrustRequest<'_>) -> Result<TrustDecision, AwsError> {
            self.0.lock().unwrap().push(format!(
                "{} {} {:?} {:?}",
                r.role_arn, r.session_name, r.external_id, r.source_identity
            ));
            Ok(TrustDecision::Allowed {
                max_session_duration: 3600,
            })
        }
        fn validate_session_policy(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    const DESCRIBE_ONLY: &str = r#"{ "Version": "2012-10-17",
        "Statement": [ { "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*" } ] }"#;

    #[test]
    fn session_policies_are_validated_and_sealed_into_the_token() {
        let k = keyring(AuthMode::Dev).with_trust_policy_check(Arc::new(AllowAlice));
        let now = Utc::now();
        let arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()];
        let params = AssumeRoleParams {
            policy: Some(DESCRIBE_ONLY),
            policy_arns: &arns,
            ..AssumeRoleParams::new("arn:aws:iam::222222222222:role/nope", "sess")
        };
        let r = k.assume_role(&root(), &params, now).unwrap();
        let p = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap()
            .principal;
        let sp = p.session_policy().unwrap();
        // The token carries the document without its insignificant white space.
        assert_eq!(
            sp.inline.as_deref(),
            Some(
                r#"{"Statement":[{"Action":"kms:DescribeKey","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}"#
            )
        );
        assert_eq!(sp.managed_arns, arns);
        let expected = (policy_size(DESCRIBE_ONLY) + arns[0].len()) * 100;
        assert_eq!(
            r.packed_policy_size,
            Some(i32::try_from(expected.div_ceil(2048)).unwrap())
        );
        // Without session policies: none in the token, no PackedPolicySize.
        let r = k
            .assume_role(&root(), &AssumeRoleParams::new(ROLE_NOPE, "sess"), now)
            .unwrap();
        assert_eq!(r.packed_policy_size, None);
        let p = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap()
            .principal;
        assert_eq!(p.session_policy(), None);
        // PolicyArns alone are a session policy too.
        let r = k
            .assume_role(
                &root(),
                &AssumeRoleParams {
                    policy_arns: &arns,
                    ..AssumeRoleParams::new(ROLE_NOPE, "sess")
                },
                now,
            )
            .unwrap();
        let p = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap()
            .principal;
        assert_eq!(p.session_policy().unwrap().inline, None);
    }

    const ROLE_NOPE: &str = "arn:aws:iam::222222222222:role/nope";

    #[test]
    fn malformed_session_policies() {
        let k = keyring(AuthMode::Dev).with_trust_policy_check(Arc::new(AllowAlice));
        for bad in ["{{{", "[]", "\"text\"", "   "] {
            let e = k
                .assume_role(
                    &root(),
                    &AssumeRoleParams {
                        policy: Some(bad),
                        ..AssumeRoleParams::new(ROLE_NOPE, "sess")
                    },
                    Utc::now(),
                )
                .unwrap_err();
            assert_eq!(
                (e.code.as_ref(), e.status),
                ("MalformedPolicyDocument", 400),
                "{bad}"
            );
            assert_eq!(e.message, NOT_JSON, "{bad}");
        }
        // Valid JSON that the policy language refuses: its message.
        let e = k
            .assume_role(
                &root(),
                &AssumeRoleParams {
                    policy: Some(r#"{"Version":"2012-10-17"}"#),
                    ..AssumeRoleParams::new(ROLE_NOPE, "sess")
                },
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            (
                "MalformedPolicyDocument",
                "Missing required field Statement"
            )
        );
        // With no check wired, JSON is still required.
        let e = keyring(AuthMode::Dev)
            .assume_role(
                &root(),
                &AssumeRoleParams {
                    policy: Some("{{{"),
                    ..AssumeRoleParams::new(ROLE_NOPE, "sess")
                },
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
    }

    #[test]
    fn session_policy_limits() {
        let k = keyring(AuthMode::Dev).with_trust_policy_check(Arc::new(AllowAlice));
        let now = Utc::now();
        let with = |policy: &str, arns: &[String]| {
            k.assume_role(
                &root(),
                &AssumeRoleParams {
                    policy: Some(policy),
                    policy_arns: arns,
                    ..AssumeRoleParams::new(ROLE_NOPE, "sess")
                },
                now,
            )
        };
        // 2048 characters without white space: allowed, however much white space surrounds them.
        let filler = |n: usize| {
            let pad = "x".repeat(n - policy_size(r#"{"Statement":[],"Sid":""}"#));
            format!(r#"{{ "Statement" : [ ],   "Sid" : "{pad}" }}"#)
        };
        let at_limit = filler(2048);
        assert_eq!(policy_size(&at_limit), 2048);
        assert!(at_limit.len() > 2048);
        assert_eq!(with(&at_limit, &[]).unwrap().packed_policy_size, Some(100));
        let e = with(&filler(2049), &[]).unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("ValidationError", 400));
        assert!(
            e.message
                .starts_with("1 validation error detected: Value '"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"), "{}", e.message);
        // White space inside strings counts.
        assert_eq!(policy_size(r#"{ "a b" : "c\" d" }"#), 15);
        // Characters outside the model's set.
        let e = with("{\"Statement\":[],\"Sid\":\"\u{2603}\"}", &[]).unwrap_err();
        assert!(
            e.message.contains("regular expression pattern"),
            "{}",
            e.message
        );

        // PolicyArns: at most 10, each 20–2048 characters.
        let arn = |i: usize| format!("arn:aws:iam::222222222222:policy/p{i}");
        let ten: Vec<String> = (0..10).map(arn).collect();
        assert!(with(DESCRIBE_ONLY, &ten).is_ok());
        let eleven: Vec<String> = (0..11).map(arn).collect();
        let e = with(DESCRIBE_ONLY, &eleven).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"), "{}", e.message);
        let e = with(DESCRIBE_ONLY, &["arn:aws:iam::1:p".to_owned()]).unwrap_err();
        assert!(e.message.contains("'policyArns.1.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20"), "{}", e.message);

        // Inline and managed together beyond the budget: PackedPolicyTooLarge.
        let e = with(&at_limit, &ten).unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("PackedPolicyTooLarge", 400));
        let over = (2048 + ten.iter().map(String::len).sum::<usize>()) * 100;
        assert_eq!(e.message, format!("Packed policy consumes {}% of allotted space, please use smaller policy for this request.", over.div_ceil(2048)));
    }

    #[test]
    fn trust_request_carries_the_condition_values() {
        let rec = Arc::new(Recorder::default());
        let k = keyring(AuthMode::Dev).with_trust_policy_check(rec.clone());
        let now = Utc::now();
        let params = AssumeRoleParams {
            external_id: Some("ext-123:/x"),
            source_identity: Some("alice@example.com"),
            ..AssumeRoleParams::new(ROLE, "build")
        };
        let r = k.assume_role(&root(), &params, now).unwrap();
        assert_eq!(r.source_identity.as_deref(), Some("alice@example.com"));
        assert_eq!(
            rec.0.lock().unwrap().last().unwrap(),
            &format!("{ROLE} build Some(\"ext-123:/x\") Some(\"alice@example.com\")")
        );
        // The source identity stays with a chained session and cannot be changed there.
        let c = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap()
            .principal;
        assert_eq!(c.source_identity(), Some("alice@example.com"));
        let chained = k
            .assume_role(&c, &AssumeRoleParams::new(ROLE, "next"), now)
            .unwrap();
        assert_eq!(
            chained.source_identity.as_deref(),
            Some("alice@example.com")
        );
        let e = k
            .assume_role(
                &c,
                &AssumeRoleParams {
                    source_identity: Some("mallory"),
                    ..AssumeRoleParams::new(ROLE, "next")
                },
                now,
            )
            .unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        // Patterns the codec does not check.
        for (ext, sid) in [(Some("has space"), None), (None, Some("aws:reserved"))] {
            let e = k
                .assume_role(
                    &root(),
                    &AssumeRoleParams {
                        external_id: ext,
                        source_identity: sid,
                        ..AssumeRoleParams::new(ROLE, "build")
                    },
                    now,
                )
                .unwrap_err();
            assert_eq!(e.code, "ValidationError");
            assert!(
                e.message.contains("regular expression pattern"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn dev_mode_evaluates_trust_of_existing_roles_only() {
        let k = keyring(AuthMode::Dev).with_trust_policy_check(Arc::new(AllowAlice));
        let alice = Principal::user(AccountId::parse("111111111111").unwrap(), "alice", "AKIA1");
        let now = Utc::now();
        assert!(k
            .assume_role(&alice, &AssumeRoleParams::new(ROLE, "sess"), now)
            .is_ok());
        // An existing role's trust policy binds in dev mode too, for root as well.
        assert_eq!(
            k.assume_role(&root(), &AssumeRoleParams::new(ROLE, "sess"), now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        // A role that does not exist: today's lenient dev behaviour.
        assert!(k
            .assume_role(
                &root(),
                &AssumeRoleParams::new("arn:aws:iam::222222222222:role/nope", "sess"),
                now
            )
            .is_ok());
        // MaxSessionDuration caps DurationSeconds.
        assert!(k
            .assume_role(
                &alice,
                &AssumeRoleParams {
                    duration_seconds: Some(7200),
                    ..AssumeRoleParams::new(ROLE, "sess")
                },
                now
            )
            .is_ok());
        let e = k
            .assume_role(
                &alice,
                &AssumeRoleParams {
                    duration_seconds: Some(7201),
                    ..AssumeRoleParams::new(ROLE, "sess")
                },
                now,
            )
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("MaxSessionDuration"));
    }

    #[test]
    fn role_chaining_is_limited_to_an_hour() {
        let k = keyring(AuthMode::Dev);
        let now = Utc::now();
        let r = k
            .assume_role(&root(), &AssumeRoleParams::new(ROLE, "one"), now)
            .unwrap();
        let c = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap();
        let e = k
            .assume_role(
                &c.principal,
                &AssumeRoleParams {
                    duration_seconds: Some(7200),
                    ..AssumeRoleParams::new(ROLE, "two")
                },
                now,
            )
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(k
            .assume_role(
                &c.principal,
                &AssumeRoleParams {
                    duration_seconds: Some(3600),
                    ..AssumeRoleParams::new(ROLE, "two")
                },
                now
            )
            .is_ok());
    }

    /// AWS refuses AssumeRole by a root caller ("Roles may not be assumed by root accounts.");
    /// kmsnap lets only the dev-mode convention keys through (docs/fidelity.md).
    #[test]
    fn only_dev_convention_roots_may_assume_roles() {
        let acct = AccountId::parse("222222222222").unwrap();
        let configured = |id: &str| StaticKey {
            access_key_id: id.into(),
            secret: Secret::new("s"),
            account: acct,
            user_name: None,
        };
        let role = "arn:aws:iam::222222222222:role/deploy";
        let now = Utc::now();
        for mode in [AuthMode::Dev, AuthMode::Strict] {
            // A configured key named like a dev convention is still a configured key.
            let k = Keyring::new(
                mode,
                &kmsnap_core::RootKey::from_bytes([7u8; 32]),
                vec![configured("AKIAROOT"), configured("333333333333")],
            )
            .unwrap();
            for akid in ["AKIAROOT", "333333333333"] {
                let caller = k.resolve(akid, None, now).unwrap().principal;
                assert!(caller.is_root());
                let e = k
                    .assume_role(&caller, &AssumeRoleParams::new(role, "sess"), now)
                    .unwrap_err();
                assert_eq!((e.code.as_ref(), e.status), ("AccessDenied", 403), "{akid}");
                assert_eq!(e.message, "Roles may not be assumed by root accounts.");
            }
            assert_eq!(k.dev_convention_account("333333333333"), None);
        }
        let k = keyring(AuthMode::Dev);
        for akid in ["test", "111111111111"] {
            let caller = k.resolve(akid, None, now).unwrap().principal;
            assert!(
                k.assume_role(&caller, &AssumeRoleParams::new(role, "sess"), now)
                    .is_ok(),
                "{akid}"
            );
        }
        let strict = Keyring::new(
            AuthMode::Strict,
            &kmsnap_core::RootKey::from_bytes([7u8; 32]),
            vec![],
        )
        .unwrap();
        assert_eq!(strict.dev_convention_account("test"), None);
    }
}
