//! Turning a protocol-encoded response, or a plain message, into the HTTP response sent.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use kmsnap_api::proto::HttpResponse;

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
