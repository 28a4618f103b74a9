//! kmsnap's own endpoints under `/_kmsnap/` (DESIGN.md "Running it"):
//! `GET health`, `GET metrics`, `GET|POST clock` and `POST reset` (the last two dev mode only).
//! The clock offset is persisted so that time never runs backwards across a restart. Their
//! mutating calls take only `Content-Type: application/json`, and the request path refuses
//! cross-site browser requests before they get here (docs/security.md, "Web pages").
//!
//! `volumes/{vol}/blocks…` and `db/{db}` ([`signed`]) are what `kmsnap volume import` and
//! `kmsnap db import/export` move raw images through (AWS has no API that writes or reads a
//! volume's blocks). Unlike the others they act on customer data, so they are SigV4-signed
//! (credential scope service `ebs`) and authorized in every mode: only the owner may use them.

use crate::respond::plain;
use crate::state::App;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use kmsnap_core::Clock;

fn json(status: StatusCode, request_id: &str, v: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(v.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn clock_state(app: &App) -> serde_json::Value {
    let now = app.clock.now();
    serde_json::json!({
        "now": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "offset_seconds": app.clock.offset_ms() as f64 / 1000.0,
    })
}

/// Whether `headers` declare a JSON body. A web page cannot send `application/json` to another
/// origin without a CORS preflight, which kmsnap never answers: together with the refusal of
/// foreign `Origin`s ([`crate::limits::cross_site`]) this keeps web pages away from the
/// mutating endpoints (docs/security.md, "Web pages").
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

pub async fn handle(
    app: &App,
    parts: &axum::http::request::Parts,
    path: &str,
    body: &[u8],
    request_id: &str,
) -> Response<Body> {
    let method = parts.method.as_str();
    if method != "GET" && !json_content_type(&parts.headers) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            request_id,
            "kmsnap's endpoints take Content-Type: application/json",
        );
    }
    match (method, path) {
        ("GET", "health") => json(
            StatusCode::OK,
            request_id,
            serde_json::json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "store": app.store_kind,
                "mode": if app.dev_mode { "dev" } else { "strict" },
                "uptime_seconds": app.started.elapsed().as_secs_f64(),
            }),
        ),
        ("GET", "metrics") => {
            let mut text = app.metrics.render(app.started.elapsed());
            crate::metrics::render_blob_gc(&mut text, app.snapshots.gc_totals());
            let mut resp = Response::new(Body::from(text));
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            resp
        }
        (_, "clock" | "reset") if !app.dev_mode => plain(
            StatusCode::FORBIDDEN,
            request_id,
            "This endpoint is available in dev mode only",
        ),
        ("GET", "clock") => json(StatusCode::OK, request_id, clock_state(app)),
        ("POST", "clock") => {
            let secs = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("advance_seconds").and_then(serde_json::Value::as_f64));
            let Some(secs) = secs.filter(|s| s.is_finite() && *s >= 0.0 && *s <= 1e10) else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    request_id,
                    "expected {\"advance_seconds\": N} with 0 <= N <= 1e10",
                );
            };
            app.clock
                .advance(chrono::Duration::milliseconds((secs * 1000.0) as i64));
            if let Err(e) =
                crate::clock::store_clock_offset(app.meta.as_ref(), app.clock.offset_ms())
            {
                tracing::error!(error = %e, "persisting clock offset failed");
                return plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    request_id,
                    "could not persist the clock",
                );
            }
            json(StatusCode::OK, request_id, clock_state(app))
        }
        ("POST", "reset") => match reset(app) {
            Ok(()) => json(
                StatusCode::OK,
                request_id,
                serde_json::json!({"reset": true}),
            ),
            Err(e) => {
                tracing::error!(error = %e, "reset failed");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    request_id,
                    "reset failed",
                )
            }
        },
        _ => plain(StatusCode::NOT_FOUND, request_id, "No such kmsnap endpoint"),
    }
}

/// Wipe every table, blob and the audit journal (the writer pauses meanwhile). The clock keeps
/// its offset: time never runs backwards.
fn reset(app: &App) -> Result<(), String> {
    app.audit
        .reset(|| {
            app.meta.wipe()?;
            app.blobs.wipe()
        })
        .map_err(|e| e.to_string())?;
    app.kms.clear_cache();
    app.iam_policies.clear_cache();
    crate::clock::store_clock_offset(app.meta.as_ref(), app.clock.offset_ms())
        .map_err(|e| e.to_string())
}

/// The signing name `kmsnap volume import` signs its requests for.
pub const VOLUME_SIGNING_NAME: &str = "ebs";

/// SigV4 authentication of a request to the signed kmsnap endpoints (credential scope
/// service [`VOLUME_SIGNING_NAME`]).
fn authenticate(
    app: &App,
    parts: &axum::http::request::Parts,
    body: &bytes::Bytes,
    peer: std::net::SocketAddr,
    request_id: &str,
) -> Result<kmsnap_auth::RequestContext, kmsnap_api::AwsError> {
    let signed = kmsnap_auth::sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
        service: VOLUME_SIGNING_NAME,
        allow_unsigned_payload: false,
    };
    crate::authn::authenticate_signed(
        app,
        &signed,
        kmsnap_api::schema::Protocol::RestJson,
        peer,
        request_id,
    )
}

/// An error of the signed endpoints, in the EBS direct API's REST-JSON envelope.
fn fail_with(e: &kmsnap_api::AwsError, request_id: &str) -> Response<Body> {
    crate::respond::into_response(kmsnap_api::proto::rest_json::encode_error(e, request_id))
}

/// kmsnap's SigV4-signed endpoints (`rest` follows `/_kmsnap/`); errors come in the EBS direct
/// API's REST-JSON envelope:
/// * `PUT volumes/{vol}/blocks/{index}` (body: one 512 KiB block, `x-amz-checksum`: its base64
///   SHA-256) writes a block sealed under the volume's lineage; `DELETE volumes/{vol}/blocks`
///   drops every block (the volume then reads as zeros);
/// * `GET volumes/{vol}/blocks?from=N` lists written block indexes, `GET
///   volumes/{vol}/blocks/{index}` reads one block's plaintext (zeros if never written);
/// * `GET db/{identifier}`: the backing volume of the caller's DB instance, which `kmsnap db
///   import/export` then writes or reads through the above.
pub async fn signed(
    app: &App,
    parts: &axum::http::request::Parts,
    rest: &str,
    body: &bytes::Bytes,
    peer: std::net::SocketAddr,
    request_id: &str,
) -> Response<Body> {
    let fail = |e: &kmsnap_api::AwsError| fail_with(e, request_id);
    let ctx = match authenticate(app, parts, body, peer, request_id) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let result = match (parts.method.as_str(), segments.as_slice()) {
        ("GET", ["db", db]) => {
            return match app.rds.instance_volume(&ctx, db).await {
                Ok(vol) => json(
                    StatusCode::OK,
                    request_id,
                    serde_json::json!({ "DBInstanceIdentifier": db, "VolumeId": vol }),
                ),
                Err(e) => fail(&kmsnap_rds::error::to_rds(e)),
            };
        }
        ("PUT", ["volumes", vol, "blocks", index]) => {
            let Ok(index) = index.parse::<u64>() else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    request_id,
                    "The block index must be a non-negative integer",
                );
            };
            let checksum = parts
                .headers
                .get("x-amz-checksum")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if checksum.is_none() {
                return plain(
                    StatusCode::BAD_REQUEST,
                    request_id,
                    "x-amz-checksum (base64 SHA-256 of the block) is required",
                );
            }
            app.snapshots
                .write_volume_block(&ctx, vol, index, body.clone(), checksum)
                .await
                .map(|()| {
                    (
                        StatusCode::CREATED,
                        serde_json::json!({ "VolumeId": vol, "BlockIndex": index }),
                    )
                })
        }
        ("GET", ["volumes", vol, "blocks"]) => {
            let from = parts
                .uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("from="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            app.snapshots
                .volume_block_indexes(&ctx, vol, from)
                .await
                .map(|(size, idx)| {
                    (
                        StatusCode::OK,
                        serde_json::json!({ "VolumeId": vol, "VolumeSize": size, "Blocks": idx }),
                    )
                })
        }
        ("GET", ["volumes", vol, "blocks", index]) => {
            let Ok(index) = index.parse::<u64>() else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    request_id,
                    "The block index must be a non-negative integer",
                );
            };
            return match app.snapshots.read_volume_block(&ctx, vol, index).await {
                Ok(data) => {
                    let data = data.unwrap_or_else(|| vec![0; kmsnap_snapshots::model::BLOCK_SIZE]);
                    let mut resp = Response::new(Body::from(data));
                    resp.headers_mut().insert(
                        "content-type",
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    resp
                }
                Err(e) => fail(&kmsnap_snapshots::error::to_ebs(e)),
            };
        }
        ("DELETE", ["volumes", vol, "blocks"]) => {
            app.snapshots.clear_volume_blocks(&ctx, vol).await.map(|n| {
                (
                    StatusCode::OK,
                    serde_json::json!({ "VolumeId": vol, "BlocksDropped": n }),
                )
            })
        }
        _ => return plain(StatusCode::NOT_FOUND, request_id, "No such kmsnap endpoint"),
    };
    match result {
        Ok((status, v)) => json(status, request_id, v),
        Err(e) => {
            let aws = kmsnap_snapshots::error::to_ebs(e);
            if aws.status >= 500 {
                tracing::warn!(request_id, code = %aws.code, "volume block write failed");
            }
            fail(&aws)
        }
    }
}
