//! Fuzz entry points (hidden): the `fuzz/` crate's targets are thin shims over these.
//!
//! Input layout: first line `METHOD PATH?QUERY`, then `name: value` header lines until an empty
//! line, then the body. Whatever the bytes, parsing and verification must return an error
//! value, never panic; a parse that succeeds must verify deterministically.

use crate::model::Secret;
use crate::sigv4::{self, SignedRequest};
use http::{HeaderMap, HeaderName, HeaderValue};

#[doc(hidden)]
pub fn sigv4_parse_and_verify(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], text[i + 2..].as_bytes()),
        None => (text.as_ref(), &b""[..]),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let (method, target) = first.split_once(' ').unwrap_or(("POST", first));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::try_from(k.trim()),
                HeaderValue::try_from(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    for service in ["kms", "ebs"] {
        let req = SignedRequest {
            method,
            raw_path: path,
            raw_query: query,
            headers: &headers,
            body,
            service,
            allow_unsigned_payload: service == "ebs",
        };
        if let Ok(parsed) = sigv4::parse(&req) {
            let secret = Secret::new("test");
            let a = sigv4::verify(&req, &parsed, &secret, parsed.time);
            let b = sigv4::verify(&req, &parsed, &secret, parsed.time);
            assert_eq!(a.is_ok(), b.is_ok(), "verification must be deterministic");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_inputs_do_not_panic() {
        for input in [
            &b""[..],
            b"GET /",
            b"POST /?X-Amz-Credential=a%2Fb&X-Amz-Signature=zz\nhost: x\n\nbody",
            b"POST /\nauthorization: AWS4-HMAC-SHA256 Credential=test/20261123/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\nx-amz-date: 20261123T000000Z\nhost: h\n\n{}",
            b"POST /\nauthorization: AWS4-HMAC-SHA256 Credential=////, SignedHeaders=, Signature=\n\n",
            "PUT /\u{00e9}%ZZ?%%%=\u{0000}\nx-amz-date: \u{00ff}\n\n".as_bytes(),
        ] {
            super::sigv4_parse_and_verify(input);
        }
    }
}
