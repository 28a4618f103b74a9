//! The parsed policy: [`Policy`] → [`Statement`]s, each with its principal, action, resource
//! and condition elements, and the parser that validates a JSON document into them.
//! Parsing rejects everything IAM would reject as malformed that this crate can check
//! without knowing the service catalogue (unknown actions are accepted, as KMS does).

use serde_json::{Map, Value};

use crate::condition::{Condition, ConditionOperator};
use crate::error::PolicyError;

/// Which kind of policy a document is; decides whether `Principal` is required or forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a resource (a KMS key policy): every statement names its principals.
    Resource,
    /// Attached to an identity (IAM user/role policy): no `Principal` / `NotPrincipal`.
    Identity,
}

/// The `Version` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `2012-10-17`: current language (policy variables allowed).
    V2012_10_17,
    /// `2008-10-17`: old language (no policy variables).
    V2008_10_17,
    /// No `Version` element: treated as the old language.
    Absent,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// A listed element or its `Not…` complement (`Action`/`NotAction` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listed<T> {
    /// The element matches when one of the values matches.
    Is(Vec<T>),
    /// The element matches when none of the values matches.
    Not(Vec<T>),
}

/// One principal named in `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalSpec {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Anyone,
    /// `{"AWS": "111122223333"}` or `{"AWS": "arn:aws:iam::111122223333:root"}`.
    Account(String),
    /// `arn:aws:iam::<acct>:user/<path/name>`: exact.
    User(String),
    /// `arn:aws:iam::<acct>:role/<path/name>`: the role and its sessions.
    Role { account: String, name: String },
    /// `arn:aws:sts::<acct>:assumed-role/<role>[/<session>]`; no session = any session.
    AssumedRole {
        account: String,
        role: String,
        session: Option<String>,
    },
    /// Other exact-match STS principals (federated users).
    OtherArn(String),
    /// `{"Service": "ec2.amazonaws.com"}`.
    Service(String),
    /// `Federated` / `CanonicalUser`: accepted, never matched here (no federation).
    Unsupported,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Listed<PrincipalSpec>>,
    pub(crate) action: Listed<String>,
    pub(crate) resource: Option<Listed<String>>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    /// The `Effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: PolicyVersion,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses and validates a policy document of the given kind.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| PolicyError::InvalidJson {
            detail: e.to_string(),
        })?;
        let obj = as_object(&doc, "policy document")?;
        let mut version = PolicyVersion::Absent;
        let mut id = None;
        let mut statements = None;
        for (k, v) in obj {
            match k.as_str() {
                "Version" => {
                    version = match v.as_str() {
                        Some("2012-10-17") => PolicyVersion::V2012_10_17,
                        Some("2008-10-17") => PolicyVersion::V2008_10_17,
                        _ => {
                            return Err(PolicyError::UnsupportedVersion {
                                version: v.to_string(),
                            })
                        }
                    }
                }
                "Id" => id = Some(as_str(v, "Id")?.to_owned()),
                "Statement" => statements = Some(v),
                other => {
                    return Err(PolicyError::UnknownElement {
                        element: other.to_owned(),
                    })
                }
            }
        }
        let statements = statements.ok_or(PolicyError::MissingStatement)?;
        let list: Vec<&Value> = match statements {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![statements],
            _ => {
                return Err(PolicyError::InvalidType {
                    element: "Statement".into(),
                    expected: "an object or a list of objects",
                })
            }
        };
        let statements = list
            .into_iter()
            .enumerate()
            .map(|(i, s)| parse_statement(s, i + 1, kind))
            .collect::<Result<Vec<_>, _>>()?;
        if kind == PolicyKind::Identity {
            let mut seen = std::collections::BTreeSet::new();
            for s in &statements {
                if let Some(sid) = s.sid.as_deref().filter(|s| !s.is_empty()) {
                    if !seen.insert(sid) {
                        return Err(PolicyError::DuplicateSid {
                            sid: sid.to_owned(),
                        });
                    }
                }
            }
        }
        Ok(Policy {
            kind,
            version,
            id,
            statements,
        })
    }

    /// Resource or identity policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }
    /// The `Version` element.
    pub fn version(&self) -> PolicyVersion {
        self.version
    }
    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn as_object<'a>(v: &'a Value, element: &str) -> Result<&'a Map<String, Value>, PolicyError> {
    v.as_object().ok_or_else(|| PolicyError::InvalidType {
        element: element.to_owned(),
        expected: "an object",
    })
}

fn as_str<'a>(v: &'a Value, element: &str) -> Result<&'a str, PolicyError> {
    v.as_str().ok_or_else(|| PolicyError::InvalidType {
        element: element.to_owned(),
        expected: "a string",
    })
}

/// A string or a non-empty list of strings.
fn string_list(
    v: &Value,
    element: &'static str,
    statement: usize,
) -> Result<Vec<String>, PolicyError> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| as_str(x, element).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(PolicyError::InvalidType {
                element: element.to_owned(),
                expected: "a string or a list of strings",
            })
        }
    };
    if list.is_empty() {
        return Err(PolicyError::EmptyElement { statement, element });
    }
    Ok(list)
}

fn parse_statement(v: &Value, n: usize, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let obj = as_object(v, "Statement")?;
    let mut sid = None;
    let mut effect = None;
    let (mut principal, mut not_principal) = (None, None);
    let (mut action, mut not_action) = (None, None);
    let (mut resource, mut not_resource) = (None, None);
    let mut conditions = Vec::new();
    for (k, v) in obj {
        match k.as_str() {
            "Sid" => sid = Some(as_str(v, "Sid")?.to_owned()),
            "Effect" => {
                effect = Some(match as_str(v, "Effect")? {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    other => {
                        return Err(PolicyError::InvalidEffect {
                            statement: n,
                            value: other.to_owned(),
                        })
                    }
                })
            }
            "Principal" => principal = Some(parse_principals(v, n)?),
            "NotPrincipal" => not_principal = Some(parse_principals(v, n)?),
            "Action" => action = Some(parse_actions(v, "Action", n)?),
            "NotAction" => not_action = Some(parse_actions(v, "NotAction", n)?),
            "Resource" => resource = Some(parse_resources(v, "Resource", n)?),
            "NotResource" => not_resource = Some(parse_resources(v, "NotResource", n)?),
            "Condition" => conditions = parse_conditions(v)?,
            other => {
                return Err(PolicyError::UnknownElement {
                    element: other.to_owned(),
                })
            }
        }
    }
    let effect = effect.ok_or(PolicyError::MissingEffect { statement: n })?;
    let principal = match (principal, not_principal, kind) {
        (Some(_), Some(_), _) => {
            return Err(PolicyError::PrincipalAndNotPrincipal { statement: n })
        }
        (Some(_), None, PolicyKind::Identity) | (None, Some(_), PolicyKind::Identity) => {
            return Err(PolicyError::PrincipalNotAllowed { statement: n })
        }
        (None, None, PolicyKind::Resource) => {
            return Err(PolicyError::MissingPrincipal { statement: n })
        }
        (Some(p), None, PolicyKind::Resource) => Some(Listed::Is(p)),
        (None, Some(p), PolicyKind::Resource) => Some(Listed::Not(p)),
        (None, None, PolicyKind::Identity) => None,
    };
    let action = match (action, not_action) {
        (Some(_), Some(_)) => return Err(PolicyError::ActionAndNotAction { statement: n }),
        (Some(a), None) => Listed::Is(a),
        (None, Some(a)) => Listed::Not(a),
        (None, None) => return Err(PolicyError::MissingAction { statement: n }),
    };
    // IAM requires a resource element in every statement of an identity policy. Key
    // policies conventionally say "Resource": "*"; a key policy statement without one
    // is accepted and means "this key".
    let resource = match (resource, not_resource) {
        (Some(_), Some(_)) => return Err(PolicyError::ResourceAndNotResource { statement: n }),
        (Some(r), None) => Some(Listed::Is(r)),
        (None, Some(r)) => Some(Listed::Not(r)),
        (None, None) if kind == PolicyKind::Identity => {
            return Err(PolicyError::MissingResource { statement: n })
        }
        (None, None) => None,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn parse_actions(v: &Value, element: &'static str, n: usize) -> Result<Vec<String>, PolicyError> {
    let list = string_list(v, element, n)?;
    for a in &list {
        let valid = a == "*"
            || a.split_once(':').is_some_and(|(svc, act)| {
                !svc.is_empty()
                    && svc
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && !act.is_empty()
            });
        if !valid {
            return Err(PolicyError::InvalidAction {
                statement: n,
                value: a.clone(),
            });
        }
    }
    Ok(list)
}

fn parse_resources(v: &Value, element: &'static str, n: usize) -> Result<Vec<String>, PolicyError> {
    let list = string_list(v, element, n)?;
    for r in &list {
        if r != "*" && !(r.starts_with("arn:") && r.splitn(6, ':').count() == 6) {
            return Err(PolicyError::InvalidResource {
                statement: n,
                value: r.clone(),
            });
        }
    }
    Ok(list)
}

fn parse_principals(v: &Value, n: usize) -> Result<Vec<PrincipalSpec>, PolicyError> {
    let invalid = |value: &str| PolicyError::InvalidPrincipal {
        statement: n,
        value: value.to_owned(),
    };
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalSpec::Anyone]),
        Value::Object(map) if !map.is_empty() => {
            let mut out = Vec::new();
            for (k, v) in map {
                let values = string_list(v, "Principal", n)?;
                for value in values {
                    let spec = match k.as_str() {
                        "AWS" => parse_aws_principal(&value).ok_or_else(|| invalid(&value))?,
                        "Service" if !value.is_empty() && !value.contains('*') => {
                            PrincipalSpec::Service(value)
                        }
                        "Federated" | "CanonicalUser" if !value.is_empty() => {
                            PrincipalSpec::Unsupported
                        }
                        _ => return Err(invalid(&format!("{k}: {value}"))),
                    };
                    out.push(spec);
                }
            }
            Ok(out)
        }
        other => Err(invalid(&other.to_string())),
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one `{"AWS": …}` value; `None` when it is not an accepted form.
fn parse_aws_principal(value: &str) -> Option<PrincipalSpec> {
    if value == "*" {
        return Some(PrincipalSpec::Anyone);
    }
    if is_account_id(value) {
        return Some(PrincipalSpec::Account(value.to_owned()));
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, service, region, account, res] = parts.as_slice() else {
        return None;
    };
    if *arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return None;
    }
    // Wildcards are not allowed inside principal ARNs (only the bare "*").
    if value.contains('*') || value.contains('?') {
        return None;
    }
    let account = (*account).to_owned();
    match (*service, *res) {
        ("iam", "root") => Some(PrincipalSpec::Account(account)),
        ("iam", r) if r.starts_with("user/") && r.len() > 5 => {
            Some(PrincipalSpec::User(value.to_owned()))
        }
        ("iam", r) if r.starts_with("role/") && r.len() > 5 => {
            let name = r.rsplit('/').next().unwrap_or_default();
            (!name.is_empty()).then(|| PrincipalSpec::Role {
                account,
                name: name.to_owned(),
            })
        }
        ("sts", r) if r.starts_with("assumed-role/") => {
            let mut it = r["assumed-role/".len()..].splitn(2, '/');
            let role = it.next().filter(|s| !s.is_empty())?.to_owned();
            let session = match it.next() {
                Some("") => return None,
                other => other.map(str::to_owned),
            };
            Some(PrincipalSpec::AssumedRole {
                account,
                role,
                session,
            })
        }
        ("sts", r) if r.starts_with("federated-user/") => {
            Some(PrincipalSpec::OtherArn(value.to_owned()))
        }
        _ => None,
    }
}

fn parse_conditions(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let block = as_object(v, "Condition")?;
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let operator = ConditionOperator::parse(op_name)?;
        let keys = as_object(keys, op_name)?;
        for (key, values) in keys {
            let values = condition_values(values, op_name, key)?;
            let cond = Condition::new(operator, op_name, key, values)?;
            out.push(cond);
        }
    }
    Ok(out)
}

fn condition_values(v: &Value, op: &str, key: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |x: &Value| -> Result<String, PolicyError> {
        match x {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(PolicyError::InvalidConditionValue {
                operator: op.to_owned(),
                key: key.to_owned(),
                value: other.to_string(),
                reason: "condition values must be strings, numbers or booleans",
            }),
        }
    };
    let list = match v {
        Value::Array(a) => a.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
        other => vec![scalar(other)?],
    };
    if list.is_empty() {
        return Err(PolicyError::InvalidConditionValue {
            operator: op.to_owned(),
            key: key.to_owned(),
            value: "[]".into(),
            reason: "at least one value is required",
        });
    }
    Ok(list)
}
