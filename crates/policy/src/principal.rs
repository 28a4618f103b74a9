//! Who is asking ([`PrincipalInfo`]) and how a `Principal` element matched them
//! ([`PrincipalMatch`]).

use crate::model::{is_account_id, Listed, PrincipalSpec};
use kmsnap_core::Arn;

/// The kind of an authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account's root user.
    Root,
    /// An IAM user.
    User,
    /// A role session; `role_arn` is the IAM role's ARN (`arn:aws:iam::<acct>:role/<name>`).
    AssumedRole { role_arn: String },
    /// An AWS service principal such as `ec2.amazonaws.com`.
    Service(String),
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// Caller ARN (`…:root`, `…:user/x`, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`);
    /// the service name for service principals.
    pub arn: String,
    /// Caller account id (empty for service principals).
    pub account: String,
    /// What kind of caller.
    pub kind: PrincipalKind,
}

impl PrincipalInfo {
    /// The root user of `account`.
    pub fn root(account: &str) -> Self {
        PrincipalInfo {
            arn: Arn::iam_root(account).to_string(),
            account: account.to_owned(),
            kind: PrincipalKind::Root,
        }
    }

    /// A service principal (`ec2.amazonaws.com`).
    pub fn service(name: &str) -> Self {
        PrincipalInfo {
            arn: name.to_owned(),
            account: String::new(),
            kind: PrincipalKind::Service(name.to_owned()),
        }
    }

    /// Builds the caller from an IAM/STS ARN: `…:root`, `…:user/…` or
    /// `arn:<p>:sts::<acct>:assumed-role/<role>/<session>` (the role ARN is derived without
    /// a path, which is all an assumed-role ARN reveals). `None` for other shapes.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let parsed = Arn::parse(arn).ok()?;
        if !is_account_id(&parsed.account) {
            return None;
        }
        let kind = match (parsed.service.as_str(), parsed.resource.as_str()) {
            ("iam", "root") => PrincipalKind::Root,
            ("iam", r) if r.starts_with("user/") => PrincipalKind::User,
            ("sts", r) if r.starts_with("assumed-role/") => {
                let mut it = r["assumed-role/".len()..].splitn(2, '/');
                let role = it.next().filter(|s| !s.is_empty())?;
                it.next().filter(|s| !s.is_empty())?;
                let role_arn = Arn {
                    partition: parsed.partition.clone(),
                    ..Arn::iam_role(&parsed.account, "/", role)
                };
                PrincipalKind::AssumedRole {
                    role_arn: role_arn.to_string(),
                }
            }
            _ => return None,
        };
        Some(PrincipalInfo {
            arn: arn.to_owned(),
            account: parsed.account,
            kind,
        })
    }

    /// For an assumed role: (role name, session name) from the session ARN.
    fn role_session(&self) -> Option<(String, String)> {
        if !matches!(self.kind, PrincipalKind::AssumedRole { .. }) {
            return None;
        }
        let arn = Arn::parse(&self.arn).ok()?;
        let (role, session) = arn
            .resource
            .strip_prefix("assumed-role/")?
            .split_once('/')?;
        Some((role.to_owned(), session.to_owned()))
    }

    /// The role's name for an assumed role (last path segment of `role_arn`).
    fn role_name(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn } => role_arn.rsplit('/').next(),
            _ => None,
        }
    }

    /// The value of `aws:PrincipalArn` (the role ARN for a role session; none for services).
    pub fn principal_arn(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn } => Some(role_arn),
            PrincipalKind::Service(_) => None,
            PrincipalKind::Root | PrincipalKind::User => Some(&self.arn),
        }
    }

    fn is_service(&self) -> bool {
        matches!(self.kind, PrincipalKind::Service(_))
    }
}

/// How a statement's principal element matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalMatch {
    /// `"*"` / `{"AWS": "*"}`.
    Wildcard,
    /// The caller's role session was named by its full session ARN
    /// (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`). AWS grants such permissions to
    /// the session itself, after it was created, so session policies do not limit them (IAM
    /// User Guide, "Session policies"; kmsnap's docs/sts-sessions.md).
    Session,
    /// The caller was named: its user ARN, its role ARN (or every session of the role), a
    /// service name, or the account root ARN when the caller *is* the root user.
    Exact,
    /// Matched only because the statement names the caller's account (`"111122223333"` or
    /// `arn:aws:iam::111122223333:root`) and the caller is not the root user. In AWS this
    /// delegates to the account's IAM policies: the caller also needs an IAM allow.
    AccountRoot,
    /// Matched through `NotPrincipal` (the caller is not among the excluded principals).
    NotPrincipal,
    /// The statement has no principal element (identity-based policy: it applies to the
    /// identity it is attached to).
    Identity,
}

impl PrincipalMatch {
    /// Whether this match is a delegation to the account that still needs an IAM allow.
    pub fn is_account_delegation(self) -> bool {
        self == PrincipalMatch::AccountRoot
    }

    /// Preference when several statements (or principals) match: the most specific
    /// first, delegation to the account last. Lower is preferred.
    pub(crate) fn rank(self) -> u8 {
        match self {
            PrincipalMatch::Session => 0,
            PrincipalMatch::Exact => 1,
            PrincipalMatch::Identity => 2,
            PrincipalMatch::Wildcard => 3,
            PrincipalMatch::NotPrincipal => 4,
            PrincipalMatch::AccountRoot => 5,
        }
    }
}

/// How one principal spec matches the caller (for `Principal`).
fn spec_match(spec: &PrincipalSpec, p: &PrincipalInfo) -> Option<PrincipalMatch> {
    match spec {
        PrincipalSpec::Anyone => Some(PrincipalMatch::Wildcard),
        PrincipalSpec::Account(acct) if !p.is_service() && *acct == p.account => {
            Some(if p.kind == PrincipalKind::Root {
                PrincipalMatch::Exact
            } else {
                PrincipalMatch::AccountRoot
            })
        }
        PrincipalSpec::User(arn) if p.kind == PrincipalKind::User && *arn == p.arn => {
            Some(PrincipalMatch::Exact)
        }
        PrincipalSpec::Role { account, name }
            if *account == p.account && p.role_name() == Some(name.as_str()) =>
        {
            Some(PrincipalMatch::Exact)
        }
        PrincipalSpec::AssumedRole {
            account,
            role,
            session,
        } if *account == p.account => {
            let (r, s) = p.role_session()?;
            match session.as_deref() {
                _ if r != *role => None,
                Some(want) => (want == s).then_some(PrincipalMatch::Session),
                None => Some(PrincipalMatch::Exact),
            }
        }
        PrincipalSpec::OtherArn(arn) if *arn == p.arn => Some(PrincipalMatch::Exact),
        PrincipalSpec::Service(name) => match &p.kind {
            PrincipalKind::Service(s) if s.eq_ignore_ascii_case(name) => {
                Some(PrincipalMatch::Exact)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `NotPrincipal` excludes the caller. AWS evaluates a request as coming from each
/// identity in the caller's chain (the session or user, and its account), and a
/// `NotPrincipal` statement applies unless *every* one of them is listed: to exempt a user
/// the list names both the user and its account (AWS's documented pattern).
fn excluded(specs: &[PrincipalSpec], p: &PrincipalInfo) -> bool {
    let direct = specs.iter().any(|s| {
        matches!(
            spec_match(s, p),
            Some(PrincipalMatch::Session | PrincipalMatch::Exact | PrincipalMatch::Wildcard)
        )
    });
    if p.kind == PrincipalKind::Root || p.is_service() {
        return direct;
    }
    let account = specs.iter().any(|s| match s {
        PrincipalSpec::Anyone => true,
        PrincipalSpec::Account(a) => *a == p.account,
        _ => false,
    });
    direct && account
}

/// How a statement's principal element applies to the caller; `None` = not at all.
pub(crate) fn principal_applies(
    element: Option<&Listed<PrincipalSpec>>,
    p: &PrincipalInfo,
) -> Option<PrincipalMatch> {
    match element {
        None => Some(PrincipalMatch::Identity),
        Some(Listed::Is(specs)) => specs
            .iter()
            .filter_map(|s| spec_match(s, p))
            .min_by_key(|m| m.rank()),
        Some(Listed::Not(specs)) => (!excluded(specs, p)).then_some(PrincipalMatch::NotPrincipal),
    }
}
