//! STS `AssumeRole`: validates the request as AWS does, decides whether the caller may assume
//! the role, and mints stateless temporary credentials ([`crate::keyring`]).
//!
//! Authorization asks the wired [`TrustPolicyCheck`] (the server's, over IAM roles and their
//! trust policies) for a [`TrustDecision`]:
//! * strict mode refuses root callers (as AWS does), then requires the role to exist and its
//!   trust policy to allow the caller; with no check wired every AssumeRole is refused;
//! * dev mode evaluates the trust policy of a role that exists (root callers included), and
//!   lets anyone assume a role that does not exist, so multi-account tests need no IAM setup.
//!
//! A role that exists also caps `DurationSeconds` at its `MaxSessionDuration`.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use kmsnap_api::AwsError;
use kmsnap_core::AccountId;

use crate::keyring::{assumed_role_arn, Keyring};
use crate::model::{role_unique_id, AuthMode, Principal, PrincipalKind, Secret};

pub const MIN_DURATION: i32 = 900;
pub const MAX_DURATION: i32 = 43_200;
pub const DEFAULT_DURATION: i32 = 3_600;
/// Role chaining (an assumed role assuming a role) is limited to one hour.
pub const MAX_CHAINED_DURATION: i32 = 3_600;

/// What a role's trust policy says about a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustDecision {
    /// The role exists and the caller may assume it (its trust policy allows, and where AWS
    /// requires it the caller's identity policies allow `sts:AssumeRole` too).
    Allowed {
        /// The role's `MaxSessionDuration` (seconds).
        max_session_duration: i32,
    },
    /// The role exists; the caller may not assume it.
    Denied,
    /// No role has this ARN.
    NoSuchRole,
}

/// Whether `caller` may assume the role `role_arn` of `role_account`. `Err` only when the
/// check itself failed (answered as an internal error).
pub trait TrustPolicyCheck: Send + Sync {
    fn check(
        &self,
        caller: &Principal,
        role_arn: &str,
        role_account: AccountId,
    ) -> Result<TrustDecision, AwsError>;
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

/// `AssumeRoleResult`: `Credentials` and `AssumedRoleUser`.
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
            .finish()
    }
}

fn validation(problems: Vec<String>) -> AwsError {
    AwsError::validation("ValidationError", 400, &problems)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// `arn:aws:iam::<12 digits>:role/<path/>name` → (account, role name).
fn parse_role_arn(arn: &str) -> Option<(AccountId, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (acct, resource) = rest.split_once(':')?;
    let account = AccountId::parse(acct).ok()?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    let path_ok = path_and_name
        .split('/')
        .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_graphic()));
    if !path_ok || name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
        return None;
    }
    Some((account, name))
}

impl Keyring {
    /// STS `AssumeRole` for `caller` (see the module docs). `now` is the domain clock's time;
    /// the credentials expire `duration_seconds` (default 3600) after it.
    pub fn assume_role(
        &self,
        caller: &Principal,
        role_arn: &str,
        session_name: &str,
        duration_seconds: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<AssumedRole, AwsError> {
        let mut problems = Vec::new();
        let arn_len = role_arn.chars().count();
        if arn_len < 20 {
            problems.push(format!("Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"));
        } else if arn_len > 2048 {
            problems.push(format!("Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length less than or equal to 2048"));
        }
        let name_len = session_name.chars().count();
        if name_len < 2 {
            problems.push(format!("Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"));
        } else if name_len > 64 {
            problems.push(format!("Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"));
        }
        if !session_name.chars().all(is_name_char) {
            problems.push(format!("Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"));
        }
        let duration = duration_seconds.unwrap_or(DEFAULT_DURATION);
        if duration < MIN_DURATION {
            problems.push(format!("Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"));
        } else if duration > MAX_DURATION {
            problems.push(format!("Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION}"));
        }
        if !problems.is_empty() {
            return Err(validation(problems));
        }
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
        let strict = self.mode() == AuthMode::Strict;
        if strict && caller.is_root() {
            return Err(AwsError::new(
                "AccessDenied",
                403,
                "Roles may not be assumed by root accounts.",
            ));
        }
        let decision = match &self.trust_check {
            Some(check) => check.check(caller, role_arn, role_account)?,
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
            TrustDecision::NoSuchRole => {}
        }
        let expiration = now + Duration::seconds(i64::from(duration));
        let minted = self
            .mint(role_account, role_arn, role_name, session_name, expiration)
            .map_err(|_| AwsError::internal("InternalFailure"))?;
        Ok(AssumedRole {
            access_key_id: minted.access_key_id,
            secret: minted.secret,
            session_token: minted.session_token,
            expiration,
            assumed_role_id: format!("{}:{session_name}", role_unique_id(role_arn)),
            arn: assumed_role_arn(role_account, role_name, session_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::is_temporary_key;
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
            .assume_role(&root(), ROLE, "sess", None, now)
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
            .assume_role(&root(), ROLE, "sess", Some(10), Utc::now())
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "1 validation error detected: Value '10' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
        let e = k
            .assume_role(&root(), ROLE, "s", Some(43201), Utc::now())
            .unwrap_err();
        assert!(
            e.message.starts_with("2 validation errors detected"),
            "{}",
            e.message
        );
        let e = k
            .assume_role(&root(), ROLE, "bad name", None, Utc::now())
            .unwrap_err();
        assert!(e.message.contains("regular expression pattern"));
        for bad in [
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:s3:::bucket-name-long",
        ] {
            assert_eq!(
                k.assume_role(&root(), bad, "sess", None, Utc::now())
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
            .assume_role(&user, ROLE, "sess", None, Utc::now())
            .unwrap_err();
        assert_eq!((e.code.as_ref(), e.status), ("AccessDenied", 403));
        let e = keyring(AuthMode::Strict)
            .assume_role(&root(), ROLE, "sess", None, Utc::now())
            .unwrap_err();
        assert_eq!(e.code, "AccessDenied");

        let k = keyring(AuthMode::Strict).with_trust_policy_check(Arc::new(AllowAlice));
        assert!(k.assume_role(&user, ROLE, "sess", None, Utc::now()).is_ok());
        let bob = Principal::user(AccountId::parse("111111111111").unwrap(), "bob", "AKIA2");
        let e = k
            .assume_role(&bob, ROLE, "sess", None, Utc::now())
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
            .assume_role(&user, missing, "sess", None, Utc::now())
            .unwrap_err();
        assert_eq!(e.code, "AccessDenied");
    }

    /// Trusts alice for ROLE (max session 2h); no other role exists.
    struct AllowAlice;
    impl TrustPolicyCheck for AllowAlice {
        fn check(
            &self,
            caller: &Principal,
            role_arn: &str,
            _: AccountId,
        ) -> Result<TrustDecision, AwsError> {
            Ok(if role_arn != ROLE {
                TrustDecision::NoSuchRole
            } else if caller.arn.ends_with("user/alice") {
                TrustDecision::Allowed {
                    max_session_duration: 7200,
                }
            } else {
                TrustDecision::Denied
            })
        }
    }

    #[test]
    fn dev_mode_evaluates_trust_of_existing_roles_only() {
        let k = keyring(AuthMode::Dev).with_trust_policy_check(Arc::new(AllowAlice));
        let alice = Principal::user(AccountId::parse("111111111111").unwrap(), "alice", "AKIA1");
        let now = Utc::now();
        assert!(k.assume_role(&alice, ROLE, "sess", None, now).is_ok());
        // An existing role's trust policy binds in dev mode too, for root as well.
        assert_eq!(
            k.assume_role(&root(), ROLE, "sess", None, now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        // A role that does not exist: today's lenient dev behaviour.
        assert!(k
            .assume_role(
                &root(),
                "arn:aws:iam::222222222222:role/nope",
                "sess",
                None,
                now
            )
            .is_ok());
        // MaxSessionDuration caps DurationSeconds.
        assert!(k.assume_role(&alice, ROLE, "sess", Some(7200), now).is_ok());
        let e = k
            .assume_role(&alice, ROLE, "sess", Some(7201), now)
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("MaxSessionDuration"));
    }

    #[test]
    fn role_chaining_is_limited_to_an_hour() {
        let k = keyring(AuthMode::Dev);
        let now = Utc::now();
        let r = k.assume_role(&root(), ROLE, "one", None, now).unwrap();
        let c = k
            .resolve(&r.access_key_id, Some(&r.session_token), now)
            .unwrap();
        let e = k
            .assume_role(&c.principal, ROLE, "two", Some(7200), now)
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(k
            .assume_role(&c.principal, ROLE, "two", Some(3600), now)
            .is_ok());
    }
}
