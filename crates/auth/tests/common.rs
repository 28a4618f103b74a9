//! Helpers shared by the integration tests.

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use kmsnap_auth::sigv4::{self, ParsedAuth, SignedRequest, SigningParams};
use kmsnap_auth::{AuthError, Secret};

/// An owned request, so tests can build and tamper with it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, path: &str, query: &str, body: &[u8]) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost:4566"));
        Req {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: body.to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub fn signed<'a>(&'a self, service: &'a str) -> SignedRequest<'a> {
        SignedRequest {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &self.headers,
            body: &self.body,
            service,
            allow_unsigned_payload: false,
        }
    }

    pub fn sign(mut self, p: &SigningParams<'_>) -> Self {
        sigv4::sign_headers(
            &self.method,
            &self.path,
            &self.query,
            &mut self.headers,
            &self.body,
            p,
        )
        .unwrap();
        self
    }

    pub fn presign(mut self, p: &SigningParams<'_>, expires: i64) -> Self {
        self.query = sigv4::presign(
            &self.method,
            &self.path,
            &self.query,
            &self.headers,
            &self.body,
            p,
            expires,
        )
        .unwrap();
        self
    }

    /// parse + verify in one go.
    pub fn check(
        &self,
        service: &str,
        secret: &Secret,
        now: DateTime<Utc>,
    ) -> Result<ParsedAuth, AuthError> {
        let r = self.signed(service);
        let p = sigv4::parse(&r)?;
        sigv4::verify(&r, &p, secret, now)?;
        Ok(p)
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 7, 23, 16).unwrap()
}

pub fn params<'a>(
    akid: &'a str,
    secret: &'a Secret,
    region: &'a str,
    service: &'a str,
    time: DateTime<Utc>,
) -> SigningParams<'a> {
    SigningParams {
        access_key_id: akid,
        secret,
        session_token: None,
        region,
        service,
        time,
    }
}

/// Flips the last hex digit of the signature, in the header or the query.
pub fn tamper_signature(r: &Req) -> Req {
    let mut r = r.clone();
    if let Some(a) = r.headers.get("authorization") {
        let s = a.to_str().unwrap().to_owned();
        let flipped = flip_last_hex(&s);
        r.headers
            .insert("authorization", HeaderValue::from_str(&flipped).unwrap());
    } else {
        r.query = flip_last_hex(&r.query);
    }
    r
}

fn flip_last_hex(s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    let last = b.len() - 1;
    b[last] = if b[last] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}
