//! SigV4 authentication of a routed request (docs/security.md): the caller's context, or the
//! authentication error in the protocol's own codes. Used by the AWS APIs and by kmsnap's own
//! authenticated endpoints (`/_kmsnap/volumes/…`).

use crate::handlers::RequestContext;
use crate::state::App;
use kmsnap_api::proto::HttpRequest;
use kmsnap_api::router::{OpMatch, Route};
use kmsnap_api::AwsError;
use kmsnap_auth::{sigv4, AuthError};
use kmsnap_core::Clock;
use std::net::SocketAddr;

pub(crate) fn authenticate(
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
