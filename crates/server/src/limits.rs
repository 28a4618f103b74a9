//! What a request may cost the server before it is refused (docs/security.md, "Bounded
//! requests"): header and body read timeouts, a cap on concurrent connections, and limits on
//! the request line, the header block and the body, each answered with a 4xx in the shape the
//! client's protocol expects. Also the refusal of requests that a browser marks as
//! cross-site (docs/security.md, "Web pages").
//!
//! Every limit is checked before any work: before routing looks at the body, before SigV4
//! hashes it, before a domain sees it.

use crate::config::LimitsConfig;
use axum::body::Body;
use axum::http::{request::Parts, HeaderMap, Response};
use kmsnap_api::proto::{self, HttpRequest};
use kmsnap_api::router;
use kmsnap_api::schema::Protocol;
use kmsnap_api::AwsError;
use std::time::Duration;

/// The effective limits of a server (config, then `KMSNAP_*` environment overrides).
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a client may take to send a request's head, and how long a kept-alive
    /// connection may stay idle between requests (hyper's header read timeout covers both).
    pub header_timeout: Duration,
    /// How long a client may take to send a request's whole body.
    pub body_timeout: Duration,
    /// Connections served at once; further clients wait in the listen queue.
    pub max_connections: usize,
    /// Largest request body. An EBS block is 512 KiB; every other request is far smaller.
    /// Kept well under the audit journal's record size so that no request's audit record can
    /// fail to fit (a 1.1 MB EncryptionContext once answered HTTP 500 for that reason).
    pub max_body: usize,
    /// Longest request target (path and query).
    pub max_uri: usize,
    /// Largest header block (names and values).
    pub max_header_bytes: usize,
}

/// The body of a request examined from its head alone.
pub static EMPTY: bytes::Bytes = bytes::Bytes::new();

/// 512 KiB of block plus room for the request's other parts.
pub const DEFAULT_MAX_BODY: usize = 576 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_body: DEFAULT_MAX_BODY,
            max_uri: 16 * 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// The defaults, overridden by `[limits]` in kmsnap.toml (already merged with its
    /// environment variables by [`crate::config::Config::apply_env`]).
    pub fn from_config(c: &LimitsConfig) -> Limits {
        let d = Limits::default();
        Limits {
            header_timeout: c
                .header_timeout_seconds
                .map_or(d.header_timeout, Duration::from_secs),
            body_timeout: c
                .body_timeout_seconds
                .map_or(d.body_timeout, Duration::from_secs),
            max_connections: c.max_connections.unwrap_or(d.max_connections),
            ..d
        }
    }
}

/// `413`, `414`, `431`, `408`: how a request broke a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    BodyTooLarge(usize),
    UriTooLong(usize),
    HeadersTooLarge(usize),
    BodyTimeout,
}

impl Breach {
    pub fn to_aws_error(self) -> AwsError {
        match self {
            Breach::BodyTooLarge(max) => AwsError::new(
                "RequestEntityTooLarge",
                413,
                format!("Request body is larger than the maximum of {max} bytes."),
            ),
            Breach::UriTooLong(max) => AwsError::new(
                "RequestUriTooLong",
                414,
                format!("Request URI is longer than the maximum of {max} bytes."),
            ),
            Breach::HeadersTooLarge(max) => AwsError::new(
                "RequestHeaderFieldsTooLarge",
                431,
                format!("Request headers are larger than the maximum of {max} bytes."),
            ),
            Breach::BodyTimeout => AwsError::new(
                "RequestTimeout",
                408,
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ),
        }
    }
}

/// The limits a request's head (request line and headers) breaks, if any, including a
/// declared `Content-Length` over the body limit.
pub fn check_head(parts: &Parts, limits: &Limits) -> Option<Breach> {
    let uri_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > limits.max_uri {
        return Some(Breach::UriTooLong(limits.max_uri));
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Some(Breach::HeadersTooLarge(limits.max_header_bytes));
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Some(Breach::BodyTooLarge(limits.max_body));
    }
    None
}

/// Why a browser would call this request cross-site, if it would: an `Origin` that is not
/// the server's own (`Host`), or `Sec-Fetch-Site` saying so. Tools and SDKs send neither.
///
/// In dev mode the secret of every account is public (`test`), so a web page could sign AWS
/// requests itself and a form post or `fetch` would reach the server; this refusal is what
/// stands between a page the user visits and a dev-mode server on their machine.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site.trim(), "same-origin" | "none") {
            return Some(format!("Sec-Fetch-Site: {}", site.trim()));
        }
    }
    let origin = headers.get(http::header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some("Origin is not text".to_owned());
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match origin_host {
        Some(o) if !host.is_empty() && o.eq_ignore_ascii_case(host) => None,
        _ => Some(format!(
            "Origin {}",
            origin.chars().take(200).collect::<String>()
        )),
    }
}

/// The request as the router and SigV4 see it: `parts` with `body` (the head alone with
/// [`EMPTY`]).
pub fn request<'a>(parts: &'a Parts, body: &'a bytes::Bytes) -> HttpRequest<'a> {
    HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    }
}

/// `err` in the envelope of the protocol the request would have been routed to (found from
/// its head alone: a query request's `Action` is in its body, which is not read; the
/// credential scope still names the service).
pub fn early_error(parts: &Parts, err: &AwsError, request_id: &str) -> Response<Body> {
    let resp = match router::route(&request(parts, &EMPTY)) {
        Ok(route) => proto::encode_error(route.service, err, request_id),
        Err(e) => match e.service().and_then(router::service_by_name) {
            Some(service) => proto::encode_error(service, err, request_id),
            // Nothing names the service: a form body means a query protocol, else JSON.
            None => {
                let form = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
                let protocol = if form { e.protocol() } else { Protocol::Json };
                proto::encode_error_for(protocol, None, err, request_id)
            }
        },
    };
    let mut resp = crate::respond::into_response(resp);
    if err.status == 408 || err.status == 413 {
        // The body was not (wholly) read: the connection cannot carry another request.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:4566")])), None);
        assert_eq!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://127.0.0.1:4566")
            ])),
            None
        );
        assert_eq!(
            cross_site(&headers(&[
                ("host", "localhost:4566"),
                ("sec-fetch-site", "same-origin")
            ])),
            None
        );
        assert_eq!(
            cross_site(&headers(&[
                ("host", "localhost:4566"),
                ("sec-fetch-site", "none")
            ])),
            None
        );
        for bad in [
            headers(&[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:4566"), ("origin", "null")]),
            headers(&[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://127.0.0.1:4567"),
            ]),
            headers(&[("origin", "http://127.0.0.1:4566")]),
            headers(&[("host", "127.0.0.1:4566"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:4566"), ("sec-fetch-site", "same-site")]),
        ] {
            assert!(cross_site(&bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn head_limits() {
        let limits = Limits {
            max_uri: 10,
            max_header_bytes: 100,
            max_body: 5,
            ..Limits::default()
        };
        let parts = |uri: &str, h: &[(&'static str, &'static str)]| {
            let mut req = http::Request::builder().uri(uri);
            for (k, v) in h {
                req = req.header(*k, *v);
            }
            req.body(()).unwrap().into_parts().0
        };
        assert_eq!(check_head(&parts("/", &[]), &limits), None);
        assert_eq!(
            check_head(&parts("/?aaaaaaaaaaa", &[]), &limits),
            Some(Breach::UriTooLong(10))
        );
        let big = "v".repeat(120).leak() as &'static str;
        assert_eq!(
            check_head(&parts("/", &[("x-big", big)]), &limits),
            Some(Breach::HeadersTooLarge(100))
        );
        assert_eq!(
            check_head(&parts("/", &[("content-length", "6")]), &limits),
            Some(Breach::BodyTooLarge(5))
        );
        assert_eq!(
            check_head(&parts("/", &[("content-length", "5")]), &limits),
            None
        );
        for b in [
            Breach::BodyTooLarge(1),
            Breach::UriTooLong(1),
            Breach::HeadersTooLarge(1),
            Breach::BodyTimeout,
        ] {
            let e = b.to_aws_error();
            assert!((400..500).contains(&e.status), "{b:?}");
        }
    }
}
