//! The request path (DESIGN.md): listener → router (service, protocol, operation, *before*
//! auth) → SigV4 → decode into the generated input shape → domain operation → encode the output
//! or the protocol's own error envelope. Every response carries a request id.

use crate::config::{Config, Mode};
use crate::handlers::{self, RequestContext};
use crate::limits;
use crate::metrics::Metrics;
use crate::serve::ServeError;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use bytes::Bytes;
use kmsnap_api::proto::{self, Decoded, HttpRequest, HttpResponse};
use kmsnap_api::router::{self, OpMatch, Route};
use kmsnap_api::AwsError;
use kmsnap_auth::{sigv4, AuthError, Keyring};
use kmsnap_core::{Clock, ManualClock, RootKey};
use kmsnap_store::{BlobStore, MetaStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub struct App {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<ManualClock>,
    pub keyring: Keyring,
    pub dev_mode: bool,
    pub metrics: Metrics,
    pub started: Instant,
    pub store_kind: &'static str,
    pub kms: Arc<kmsnap_kms::Kms>,
    /// EC2 volumes and snapshots, EBS direct API.
    pub snapshots: Arc<kmsnap_snapshots::Snapshots>,
    /// RDS DB instances and snapshots, stored in the EBS block store.
    pub rds: Arc<kmsnap_rds::Rds>,
    /// AWS Backup: vaults (docs/backup.md).
    pub backup: Arc<kmsnap_backup::Backup>,
    /// CloudTrail LookupEvents over the audit log.
    pub cloudtrail: kmsnap_audit::Cloudtrail,
    /// Where calls that persist nothing else (crypto) record their audit events: the audit
    /// journal under the data directory, or memory with `--memory`.
    pub audit: Arc<kmsnap_audit::AuditWriter>,
    /// IAM users, roles, access keys and inline policies.
    pub iam: Arc<kmsnap_iam::Iam>,
    /// IAM's policies as KMS, STS and IAM itself evaluate them.
    pub iam_policies: Arc<kmsnap_iam::IamPolicies>,
    /// What one request may cost before it is refused ([`crate::limits`]).
    pub limits: crate::limits::Limits,
}

impl App {
    pub fn open(
        data_dir: Option<&Path>,
        root: RootKey,
        config: &Config,
    ) -> Result<App, ServeError> {
        let (meta, blobs) = match data_dir {
            Some(d) => {
                kmsnap_store::open_embedded(d).map_err(|e| ServeError::Store(e.to_string()))?
            }
            None => kmsnap_store::open_memory(),
        };
        let store_kind = if data_dir.is_some() {
            "embedded"
        } else {
            "memory"
        };
        let offset = crate::internal::load_clock_offset(meta.as_ref())
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let clock = Arc::new(ManualClock::new(offset));
        let dev_mode = config.auth.mode == Mode::Dev;
        // IAM: its store and policies feed the keyring (users' keys, role trust), KMS (identity
        // policies) and IAM's own authorization.
        let (iam_store, iam_policies) = kmsnap_iam::IamPolicies::wire(meta.clone(), dev_mode);
        let iam = Arc::new(
            kmsnap_iam::Iam::new(&root, iam_store, iam_policies.clone())
                .map_err(|e| ServeError::Setup(e.to_string()))?,
        );
        let keyring = handlers::keyring(&root, config)
            .map_err(ServeError::Setup)?
            .with_access_key_lookup(iam.clone())
            .with_trust_policy_check(iam_policies.clone());
        let audit = Arc::new(open_audit(meta.clone(), data_dir)?);
        let kms = kmsnap_kms::Kms::with_audit(
            meta.clone(),
            &root,
            clock.clone(),
            audit.clone(),
            iam_policies.clone(),
        )
        .map_err(|e| ServeError::Setup(e.to_string()))?;
        let kms = Arc::new(kms);
        let snapshots = Arc::new(
            kmsnap_snapshots::Snapshots::new(
                meta.clone(),
                blobs.clone(),
                kms.clone(),
                clock.clone(),
            )
            .with_root_key(&root)
            .map_err(|e| ServeError::Setup(e.to_string()))?,
        );
        let rds = Arc::new(
            kmsnap_rds::Rds::new(meta.clone(), kms.clone(), snapshots.clone())
                .with_timing(config.timing.rds()),
        );
        let backup = Arc::new(kmsnap_backup::Backup::new(meta.clone(), kms.clone()));
        let cloudtrail = kmsnap_audit::Cloudtrail::with_writer(meta.clone(), audit.clone());
        Ok(App {
            meta,
            blobs,
            clock,
            keyring,
            dev_mode,
            metrics: Metrics::default(),
            started: Instant::now(),
            store_kind,
            kms,
            snapshots,
            rds,
            backup,
            cloudtrail,
            audit,
            iam,
            iam_policies,
            limits: crate::limits::Limits::from_config(&config.limits),
        })
    }
}

/// The audit writer of a data directory: the audit journal in `<data-dir>/audit-journal`,
/// after moving whatever a previous run left there into the log (startup recovery, before
/// anything is served); with no data directory, memory mode.
pub fn open_audit(
    meta: Arc<dyn MetaStore>,
    data_dir: Option<&Path>,
) -> Result<kmsnap_audit::AuditWriter, ServeError> {
    let writer = match data_dir {
        Some(d) => kmsnap_audit::AuditWriter::with_journal(
            meta,
            &d.join(kmsnap_audit::JOURNAL_DIR),
            kmsnap_audit::JournalConfig::default(),
        ),
        None => kmsnap_audit::AuditWriter::in_memory(meta),
    };
    writer.map_err(|e| ServeError::Store(format!("audit journal: {e}")))
}

/// Background workers: every second, run what is due at the injected clock's time.
pub fn spawn_workers(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    // Snapshot seal/copy jobs run in real time, woken when queued.
    tokio::spawn(kmsnap_snapshots::workers::run(app.snapshots.clone()));
    // RDS instance states and snapshot progress, a step a second.
    tokio::spawn(kmsnap_rds::workers::run(app.rds.clone()));
    // Orphan blocks (killed writes, deleted resources): a sweep now, then every interval.
    tokio::spawn(kmsnap_snapshots::gc::run(
        app.snapshots.clone(),
        crate::config::blob_gc_interval(),
    ));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let app = app.clone();
            let r = tokio::task::spawn_blocking(move || {
                kmsnap_kms::workers::run_due(&app.kms, app.clock.now())
            })
            .await;
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "kms worker failed"),
                Err(e) => tracing::error!(error = %e, "kms worker panicked"),
            }
        }
    })
}

/// One request, from its head to its response. Order matters (docs/security.md): the limits
/// on the head and the cross-site refusal come before anything else; an operation whose body
/// is unsigned (EBS PutSnapshotBlock) is authenticated from its head alone, before its body is
/// read; the body is read against a deadline and a size limit; only then routing, SigV4,
/// decoding and the domain.
pub async fn serve_request(app: &App, peer: SocketAddr, req: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let request_id = kmsnap_core::ids::request_id();
    let (parts, body) = req.into_parts();
    let internal = parts.uri.path().starts_with("/_kmsnap/");
    if let Some(breach) = limits::check_head(&parts, &app.limits) {
        return limits::early_error(&parts, &breach.to_aws_error(), &request_id);
    }
    if let Some(why) = limits::cross_site(&parts.headers) {
        tracing::info!(request_id, reason = %why, "cross-site browser request refused");
        if internal {
            return plain(
                StatusCode::FORBIDDEN,
                &request_id,
                "Cross-site browser requests are refused",
            );
        }
        let err = AwsError::new(
            "AccessDenied",
            403,
            "Cross-site browser requests are refused.",
        );
        return limits::early_error(&parts, &err, &request_id);
    }
    let pre_authenticated = if internal {
        None
    } else {
        authenticate_head(app, &parts, peer, &request_id)
    };
    let pre_authenticated = match pre_authenticated {
        Some(Err(resp)) => return resp,
        Some(Ok(ctx)) => Some(ctx),
        None => None,
    };
    let max = app.limits.max_body;
    let body = match tokio::time::timeout(app.limits.body_timeout, axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return limits::early_error(
                &parts,
                &limits::Breach::BodyTooLarge(max).to_aws_error(),
                &request_id,
            )
        }
        Err(_) => {
            return limits::early_error(
                &parts,
                &limits::Breach::BodyTimeout.to_aws_error(),
                &request_id,
            )
        }
    };
    let path = parts.uri.path();

    if let Some(rest) = path
        .strip_prefix("/_kmsnap/")
        .filter(|r| r.starts_with("volumes/") || r.starts_with("db/"))
    {
        return crate::internal::signed(app, &parts, rest, &body, peer, &request_id).await;
    }
    if let Some(rest) = path.strip_prefix("/_kmsnap/") {
        return crate::internal::handle(app, &parts, rest, &body, &request_id).await;
    }

    let http_req = limits::request(&parts, &body);
    let route = match router::route(&http_req) {
        Ok(r) => r,
        Err(e) => {
            let resp = proto::encode_error_for(
                e.protocol(),
                e.service().and_then(router::service_by_name),
                &e.to_aws_error(),
                &request_id,
            );
            app.metrics.record(
                e.service().unwrap_or("unknown"),
                "Unknown",
                resp.status,
                started.elapsed(),
            );
            return into_response(resp);
        }
    };
    let service = route.service;
    let op_name = route.operation_name();

    let result = serve_routed(app, route, &http_req, pre_authenticated, peer, &request_id).await;
    let resp = match result {
        Ok((output, payload)) => match route.op {
            OpMatch::InScope(op) => {
                proto::encode_output(service, op, &output, payload, &request_id)
            }
            OpMatch::NotInScope(_) => {
                proto::encode_error(service, &AwsError::internal("InternalFailure"), &request_id)
            }
        },
        Err(err) => {
            if err.status >= 500 && err.code != "NotImplemented" {
                tracing::warn!(service = service.name, op = op_name, code = %err.code, request_id, "server error");
            }
            proto::encode_error(service, &err, &request_id)
        }
    };
    let took = started.elapsed();
    tracing::debug!(
        service = service.name,
        op = op_name,
        status = resp.status,
        micros = took.as_micros() as u64,
        request_id,
        "request"
    );
    app.metrics.record(service.name, op_name, resp.status, took);
    into_response(resp)
}

/// For a request that declares `X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` and routes (from its
/// head) to an operation modelled with an unsigned body, SigV4 needs nothing of the body: such
/// a request is authenticated before its body is read, so a bad signature on a 512 KiB block
/// upload costs the server no read. `None` for every other request (authenticated later,
/// with its body).
fn authenticate_head(
    app: &App,
    parts: &axum::http::request::Parts,
    peer: SocketAddr,
    request_id: &str,
) -> Option<Result<RequestContext, Response<Body>>> {
    let unsigned = parts
        .headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes() == sigv4::UNSIGNED_PAYLOAD.as_bytes());
    if !unsigned {
        return None;
    }
    let head = limits::request(parts, &limits::EMPTY);
    let route = router::route(&head).ok()?;
    if !matches!(route.op, OpMatch::InScope(op) if op.unsigned_payload) {
        return None;
    }
    Some(
        authenticate(app, &route, &head, peer, request_id).map_err(|err| {
            app.metrics.record(
                route.service.name,
                route.operation_name(),
                err.status,
                std::time::Duration::ZERO,
            );
            into_response(proto::encode_error(route.service, &err, request_id))
        }),
    )
}

/// Authenticate, decode, validate and dispatch a routed request.
async fn serve_routed(
    app: &App,
    route: Route,
    req: &HttpRequest<'_>,
    pre_authenticated: Option<RequestContext>,
    peer: SocketAddr,
    request_id: &str,
) -> Result<(serde_json::Value, Option<Bytes>), AwsError> {
    let service = route.service;
    let ctx = match pre_authenticated {
        Some(ctx) => ctx,
        None => authenticate(app, &route, req, peer, request_id)?,
    };
    let op = match route.op {
        OpMatch::InScope(op) => op,
        OpMatch::NotInScope(name) => return Err(AwsError::not_implemented(service.name, name)),
    };
    let decoded: Decoded = proto::decode_request(service, op, req)?;
    proto::validate::validate_input(service, op, &decoded.input)?;
    handlers::dispatch(app, &ctx, service.name, op.name, decoded).await
}

fn authenticate(
    app: &App,
    route: &Route,
    req: &HttpRequest<'_>,
    peer: SocketAddr,
    request_id: &str,
) -> Result<RequestContext, AwsError> {
    let service = route.service;
    let signed = sigv4::SignedRequest {
        method: req.method,
        raw_path: req.path,
        raw_query: req.query,
        headers: req.headers,
        body: req.body,
        service: service.signing_name,
        allow_unsigned_payload: matches!(route.op, OpMatch::InScope(op) if op.unsigned_payload),
    };
    authenticate_signed(app, &signed, service.protocol, peer, request_id)
}

/// SigV4 authentication of `signed` (credential scope service = `signed.service`): the
/// caller's context, or the authentication error in `protocol`'s codes. Also used by kmsnap's
/// own authenticated endpoints (`/_kmsnap/volumes/…`).
pub(crate) fn authenticate_signed(
    app: &App,
    signed: &sigv4::SignedRequest<'_>,
    protocol: kmsnap_api::schema::Protocol,
    peer: SocketAddr,
    request_id: &str,
) -> Result<RequestContext, AwsError> {
    let fail = |e: AuthError| {
        if let AuthError::Internal(detail) = &e {
            tracing::error!(request_id, error = %detail, "credential lookup failed");
        }
        e.to_aws_error(protocol)
    };
    let parsed = sigv4::parse(signed).map_err(fail)?;
    let now = app.clock.now();
    let creds = app
        .keyring
        .resolve(&parsed.access_key_id, parsed.session_token.as_deref(), now)
        .map_err(fail)?;
    sigv4::verify(signed, &parsed, &creds.secret, chrono::Utc::now()).map_err(fail)?;
    Ok(RequestContext {
        principal: creds.principal,
        region: parsed.region,
        request_id: request_id.to_owned(),
        source_ip: peer.ip(),
        user_agent: signed
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect(),
        now,
        via_service: None,
    })
}

pub fn into_response(r: HttpResponse) -> Response<Body> {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    for (k, v) in r.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::try_from(v),
        ) {
            headers.append(name, value);
        }
    }
    resp
}

/// A non-AWS response (internal endpoints, oversize bodies): JSON `{"message": ...}`.
pub fn plain(status: StatusCode, request_id: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}
