//! The request path (DESIGN.md): listener → router (service, protocol, operation, *before*
//! auth) → SigV4 → decode into the generated input shape → domain operation → encode the output
//! or the protocol's own error envelope. Every response carries a request id.

use crate::authn::authenticate;
use crate::handlers::{self, RequestContext};
use crate::limits;
use crate::respond::{into_response, plain};
use crate::state::App;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use bytes::Bytes;
use kmsnap_api::proto::{self, Decoded, HttpRequest};
use kmsnap_api::router::{self, OpMatch, Route};
use kmsnap_api::AwsError;
use kmsnap_auth::sigv4;
use std::net::SocketAddr;
use std::time::Instant;

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
