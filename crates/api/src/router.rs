//! Request routing *before* authentication (STYLE.md, after Garage): from the raw request alone,
//! find the service, its protocol and the operation, in the order docs/protocols.md §2 fixes:
//!
//! 1. `X-Amz-Target` names a JSON service by its target prefix (KMS `TrentService.`, CloudTrail);
//! 2. the SigV4 credential scope (Authorization header or presigned `X-Amz-Credential`) names the
//!    signing service; query/EC2 services then take `Action` from the form body or URL query,
//!    restJson services match method + path against the operations' URI templates;
//! 3. unsigned form requests: `Action` + `Version` picks the service by API version;
//! 4. unsigned REST requests: the path prefix (`/snapshots` → EBS direct, Backup's prefixes).
//!
//! The result is either an operation in scope ([`OpMatch::InScope`]), an operation AWS has but
//! kmsnap does not build ([`OpMatch::NotInScope`], answered with `NotImplemented`), or a
//! [`RouteError`] that the server answers with the protocol's unknown-operation error.

use crate::error::AwsError;
use crate::gen::SERVICES;
use crate::proto::HttpRequest;
use crate::schema::{Operation, Protocol, ServiceModel};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy)]
pub enum OpMatch {
    InScope(&'static Operation),
    /// An operation of the AWS model outside kmsnap's scope (answered with `NotImplemented`).
    NotInScope(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub service: &'static ServiceModel,
    pub op: OpMatch,
}

impl Route {
    pub fn operation_name(&self) -> &'static str {
        match self.op {
            OpMatch::InScope(o) => o.name,
            OpMatch::NotInScope(n) => n,
        }
    }
}

/// Why a request could not be routed; [`RouteError::to_aws_error`] gives the client's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The service is known but the operation is not one of its operations.
    UnknownOperation {
        protocol: Protocol,
        service: &'static str,
        operation: String,
    },
    /// A query/EC2 request without `Action`.
    MissingAction {
        protocol: Protocol,
        service: &'static str,
    },
    /// Nothing identifies a service.
    UnknownService { protocol: Protocol },
}

impl RouteError {
    pub fn protocol(&self) -> Protocol {
        match self {
            RouteError::UnknownOperation { protocol, .. }
            | RouteError::MissingAction { protocol, .. }
            | RouteError::UnknownService { protocol } => *protocol,
        }
    }

    pub fn service(&self) -> Option<&'static str> {
        match self {
            RouteError::UnknownOperation { service, .. }
            | RouteError::MissingAction { service, .. } => Some(service),
            RouteError::UnknownService { .. } => None,
        }
    }

    /// The error AWS answers for an unroutable request, in the protocol's terms.
    pub fn to_aws_error(&self) -> AwsError {
        match self {
            RouteError::UnknownOperation {
                protocol,
                operation,
                ..
            } => match protocol {
                Protocol::Json | Protocol::RestJson => {
                    AwsError::new("UnknownOperationException", 400, String::new())
                }
                Protocol::Ec2 => AwsError::new(
                    "InvalidAction",
                    400,
                    format!(
                        "The action {} is not valid for this web service.",
                        printable(operation)
                    ),
                ),
                Protocol::Query => AwsError::new(
                    "InvalidAction",
                    400,
                    format!(
                        "Could not find operation {} for version",
                        printable(operation)
                    ),
                ),
            },
            RouteError::MissingAction { protocol, .. } => match protocol {
                Protocol::Ec2 => AwsError::new(
                    "MissingAction",
                    400,
                    "The request must contain the parameter Action",
                ),
                _ => AwsError::new("MissingAction", 400, "Missing Action"),
            },
            RouteError::UnknownService { protocol } => match protocol {
                Protocol::Json | Protocol::RestJson => {
                    AwsError::new("UnknownOperationException", 400, String::new())
                }
                Protocol::Ec2 | Protocol::Query => {
                    AwsError::new("InvalidAction", 400, "Unknown service or action")
                }
            },
        }
    }
}

/// Keep client-supplied names out of messages unless they look like operation names.
fn printable(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Cow::Borrowed(s)
    } else {
        Cow::Borrowed("(invalid)")
    }
}

pub fn service_by_name(name: &str) -> Option<&'static ServiceModel> {
    SERVICES.iter().copied().find(|s| s.name == name)
}

pub fn service_by_signing_name(name: &str) -> Option<&'static ServiceModel> {
    SERVICES.iter().copied().find(|s| s.signing_name == name)
}

fn service_by_api_version(protocol_query: bool, version: &str) -> Option<&'static ServiceModel> {
    SERVICES.iter().copied().find(|s| {
        s.api_version == version
            && matches!(s.protocol, Protocol::Query | Protocol::Ec2) == protocol_query
    })
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The credential scope's service (4th `/` field of `Credential=`), from the Authorization
/// header or a presigned `X-Amz-Credential` query parameter.
pub fn credential_scope_service(req: &HttpRequest<'_>) -> Option<String> {
    let cred: Option<String> = header(req.headers, "authorization")
        .and_then(|a| a.split_once("Credential=").map(|(_, rest)| rest))
        .map(|rest| rest.split([',', ' ']).next().unwrap_or("").to_owned())
        .or_else(|| {
            form_urlencoded::parse(req.query.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        });
    let cred = cred?;
    let mut parts = cred.split('/');
    let _akid = parts.next()?;
    let _date = parts.next()?;
    let _region = parts.next()?;
    parts.next().map(str::to_owned)
}

/// `Action` and `Version` from the form body (when form-encoded) merged with the URL query.
fn action_and_version(req: &HttpRequest<'_>) -> (Option<String>, Option<String>) {
    let mut action = None;
    let mut version = None;
    let is_form = header(req.headers, "content-type")
        .map(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(req.method == "POST" && !req.body.is_empty() && !req.body.starts_with(b"{"));
    let mut scan = |bytes: &[u8]| {
        for (k, v) in form_urlencoded::parse(bytes) {
            match k.as_ref() {
                "Action" if action.is_none() => action = Some(v.into_owned()),
                "Version" if version.is_none() => version = Some(v.into_owned()),
                _ => {}
            }
        }
    };
    if is_form {
        scan(req.body);
    }
    scan(req.query.as_bytes());
    (action, version)
}

const BACKUP_PREFIXES: &[&str] = &[
    "/backup-vaults",
    "/backup-jobs",
    "/copy-jobs",
    "/restore-jobs",
    "/recovery-points",
    "/backup/",
    "/backup-plans",
    "/tags/",
    "/untag/",
    "/supported-resource-types",
    "/resources",
    "/global-settings",
    "/account-settings",
    "/audit/",
    "/legal-holds",
    "/restore-testing",
    "/logically-air-gapped-backup-vaults",
];

/// Route a request. Never fails for a well-formed request to a service kmsnap speaks.
pub fn route(req: &HttpRequest<'_>) -> Result<Route, RouteError> {
    // 1. JSON protocols: X-Amz-Target = "<targetPrefix>.<Operation>".
    if let Some(target) = header(req.headers, "x-amz-target") {
        let (prefix, op) = target.rsplit_once('.').unwrap_or((target, ""));
        let service = SERVICES
            .iter()
            .copied()
            .find(|s| s.protocol == Protocol::Json && s.target_prefix == Some(prefix))
            .ok_or(RouteError::UnknownService {
                protocol: Protocol::Json,
            })?;
        return by_name(service, op);
    }

    // 2. Signed request: the credential scope names the service.
    if let Some(svc) = credential_scope_service(req) {
        if let Some(service) = service_by_signing_name(&svc) {
            return match service.protocol {
                Protocol::Json => Err(RouteError::UnknownOperation {
                    protocol: Protocol::Json,
                    service: service.name,
                    operation: String::new(),
                }),
                Protocol::Ec2 | Protocol::Query => match action_and_version(req).0 {
                    Some(action) => by_name(service, &action),
                    None => Err(RouteError::MissingAction {
                        protocol: service.protocol,
                        service: service.name,
                    }),
                },
                Protocol::RestJson => by_path(service, req),
            };
        }
        // An unknown signing service falls through to the unsigned rules, which may still
        // identify the target; SigV4 then refuses the mismatched scope.
    }

    // 3. Unsigned form request: Action + Version.
    let (action, version) = action_and_version(req);
    if let Some(version) = version {
        if let Some(service) = service_by_api_version(true, &version) {
            return match action {
                Some(a) => by_name(service, &a),
                None => Err(RouteError::MissingAction {
                    protocol: service.protocol,
                    service: service.name,
                }),
            };
        }
    }
    if action.is_some() {
        return Err(RouteError::UnknownService {
            protocol: Protocol::Query,
        });
    }

    // 4. Unsigned REST request: path prefix.
    let path = req.path;
    if path == "/snapshots" || path.starts_with("/snapshots/") {
        if let Some(ebs) = service_by_name("ebs") {
            return by_path(ebs, req);
        }
    }
    if BACKUP_PREFIXES.iter().any(|p| path.starts_with(p)) {
        if let Some(backup) = service_by_name("backup") {
            return by_path(backup, req);
        }
    }
    Err(RouteError::UnknownService {
        protocol: if req.body.starts_with(b"{") {
            Protocol::Json
        } else {
            Protocol::Query
        },
    })
}

fn by_name(service: &'static ServiceModel, op: &str) -> Result<Route, RouteError> {
    if let Some(o) = service.operation(op) {
        return Ok(Route {
            service,
            op: OpMatch::InScope(o),
        });
    }
    match service.all_operation_names.binary_search(&op) {
        Ok(i) => Ok(Route {
            service,
            op: OpMatch::NotInScope(service.all_operation_names[i]),
        }),
        Err(_) => Err(RouteError::UnknownOperation {
            protocol: service.protocol,
            service: service.name,
            operation: op.to_owned(),
        }),
    }
}

/// restJson: the in-scope operation whose method and URI template match; the most specific
/// template (most literal segments) wins.
fn by_path(service: &'static ServiceModel, req: &HttpRequest<'_>) -> Result<Route, RouteError> {
    let mut best: Option<(&'static Operation, usize)> = None;
    for op in service.operations {
        if !op.http_method.eq_ignore_ascii_case(req.method) {
            continue;
        }
        if let Some(score) = match_template(op.request_uri, req.path, req.query) {
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((op, score));
            }
        }
    }
    // An operation of the model that kmsnap does not serve yet answers NotImplemented, as it
    // does for the other protocols; it wins only where it is more specific than a served one.
    let mut unscoped: Option<(&'static str, usize)> = None;
    for &(method, uri, name) in service.unscoped_routes {
        if !method.eq_ignore_ascii_case(req.method) {
            continue;
        }
        if let Some(score) = match_template(uri, req.path, req.query) {
            if unscoped.is_none_or(|(_, s)| score > s) {
                unscoped = Some((name, score));
            }
        }
    }
    match (best, unscoped) {
        (Some((_, s)), Some((name, u))) if u > s => Ok(Route {
            service,
            op: OpMatch::NotInScope(name),
        }),
        (Some((op, _)), _) => Ok(Route {
            service,
            op: OpMatch::InScope(op),
        }),
        (None, Some((name, _))) => Ok(Route {
            service,
            op: OpMatch::NotInScope(name),
        }),
        (None, None) => Err(RouteError::UnknownOperation {
            protocol: Protocol::RestJson,
            service: service.name,
            operation: format!("{} {}", req.method, req.path),
        }),
    }
}

/// Match a restJson `requestUri` (e.g. `/snapshots/{SnapshotId}/blocks/{BlockIndex}`, or one
/// with a literal query such as `/x?tagging`) against a raw path and query. Returns the number
/// of literal segments matched (specificity), or `None`.
pub fn match_template(template: &str, path: &str, query: &str) -> Option<usize> {
    let (tpath, tquery) = template.split_once('?').unwrap_or((template, ""));
    let tsegs: Vec<&str> = tpath
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let psegs: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut score = 0;
    let mut i = 0;
    for (ti, t) in tsegs.iter().enumerate() {
        if t.starts_with('{') && t.ends_with("+}") {
            // Greedy label: the rest of the path, at least one segment, and it must be last.
            return (ti == tsegs.len() - 1 && psegs.len() > i).then_some(score);
        }
        let p = psegs.get(i)?;
        if t.starts_with('{') && t.ends_with('}') {
            if p.is_empty() {
                return None;
            }
        } else if t != p {
            return None;
        } else {
            score += 1;
        }
        i += 1;
    }
    if i != psegs.len() {
        return None;
    }
    // Literal query parts of the template (`?tagging`, `?x=y`) must be present.
    for lit in tquery.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = lit.split_once('=').unwrap_or((lit, ""));
        let found = form_urlencoded::parse(query.as_bytes())
            .any(|(qk, qv)| qk == k && (v.is_empty() || qv == v));
        if !found {
            return None;
        }
        score += 1;
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_by_segment() {
        assert_eq!(match_template("/snapshots", "/snapshots", ""), Some(1));
        assert_eq!(
            match_template(
                "/snapshots/{SnapshotId}/blocks/{BlockIndex}",
                "/snapshots/snap-1/blocks/7",
                ""
            ),
            Some(2)
        );
        assert_eq!(
            match_template(
                "/snapshots/{SnapshotId}/blocks",
                "/snapshots/snap-1/blocks/7",
                ""
            ),
            None
        );
        assert_eq!(
            match_template(
                "/snapshots/completion/{SnapshotId}",
                "/snapshots/completion/snap-1",
                ""
            ),
            Some(2)
        );
        assert_eq!(
            match_template(
                "/snapshots/{SnapshotId}/blocks",
                "/snapshots/completion/snap-1",
                ""
            ),
            None
        );
        assert_eq!(
            match_template(
                "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
                "/backup-vaults/vault-b/recovery-points/arn%3Aaws%3Aec2%3Aus-west-2%3A%3Asnapshot%2Fsnap-0f",
                ""
            ),
            Some(2)
        );
        assert_eq!(
            match_template("/tags/{ResourceArn+}", "/tags/arn/x/y", ""),
            Some(1)
        );
        assert_eq!(match_template("/x?tagging", "/x", "tagging"), Some(2));
        assert_eq!(match_template("/x?tagging", "/x", ""), None);
    }

    #[test]
    fn printable_hides_odd_names() {
        assert_eq!(printable("DescribeSnapshots"), "DescribeSnapshots");
        assert_eq!(printable("<script>"), "(invalid)");
    }
}
