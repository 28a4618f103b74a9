//! Property tests against the `aws-sigv4` crate as the reference signer: whatever it signs
//! (random method, path, query, headers, body, optional session token, header or query form)
//! verifies with our verifier; one flipped signature or body byte does not.

use std::time::{Duration as StdDuration, SystemTime};

use aws_credential_types::Credentials as SdkCredentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use chrono::Duration;
use http::{HeaderName, HeaderValue};
use kmsnap_auth::{AuthError, Secret};
use proptest::prelude::*;

use crate::common::{t0, tamper_signature, Req};

fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{1,8}",
        "[:@!$'()*,;=]{1,2}",
        any::<u8>().prop_map(|b| format!("%{b:02X}")),
        Just(".".to_owned()),
        Just("..".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(path_segment(), 0..5),
        any::<bool>(),
    )
        .prop_map(|(segs, trailing)| {
            let mut p = format!("/{}", segs.join("/"));
            if trailing && !segs.is_empty() {
                p.push('/');
            }
            p
        })
}

/// Percent-encoded parts decode to valid UTF-8 (what SDKs send): `aws-sigv4` decodes the query
/// lossily, so invalid UTF-8 would be canonicalised differently there (we keep the bytes).
fn query_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{0,6}",
        (0u8..0x80).prop_map(|b| format!("%{b:02X}")),
        "[é中😀]".prop_map(|c| c.bytes().map(|b| format!("%{b:02X}")).collect::<String>()),
        Just("+".to_owned()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::collection::vec(query_part(), 1..3),
            proptest::collection::vec(query_part(), 0..3),
        ),
        0..5,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(k, _)| !k.concat().is_empty())
            .map(|(k, v)| format!("{}={}", k.concat(), v.concat()))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("x-[a-z0-9-]{1,10}", "[!-~]([ !-~]{0,20}[!-~])?"), 0..5)
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    presigned: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        path(),
        query(),
        headers(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::option::of("[A-Za-z0-9+/=]{10,40}"),
        any::<bool>(),
    )
        .prop_map(
            |(method, path, query, headers, body, token, presigned)| Case {
                method,
                path,
                query,
                headers,
                body,
                token,
                presigned,
            },
        )
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Signs `c` with aws-sigv4 and returns the signed request in our test form.
fn reference_sign(c: &Case) -> Req {
    let identity = SdkCredentials::new("AKIDEXAMPLE", SECRET, c.token.clone(), None, "test").into();
    let mut settings = SigningSettings::default();
    if c.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(StdDuration::from_secs(300));
    }
    let time = SystemTime::UNIX_EPOCH + StdDuration::from_secs(t0().timestamp() as u64);
    let sp = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("backup")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = if c.query.is_empty() {
        format!("http://localhost:4566{}", c.path)
    } else {
        format!("http://localhost:4566{}?{}", c.path, c.query)
    };
    let mut hdrs: Vec<(&str, &str)> = vec![("host", "localhost:4566")];
    hdrs.extend(c.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let sr = SignableRequest::new(
        c.method,
        uri.clone(),
        hdrs.into_iter(),
        SignableBody::Bytes(&c.body),
    )
    .unwrap();
    let (instructions, _) = sign(sr, &sp).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method(c.method)
        .uri(&uri)
        .body(())
        .unwrap();
    for (n, v) in &c.headers {
        req.headers_mut().append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    instructions.apply_to_request_http1x(&mut req);
    let mut out = Req::new(
        c.method,
        req.uri().path(),
        req.uri().query().unwrap_or(""),
        &c.body,
    );
    for (n, v) in req.headers() {
        out.headers.append(n.clone(), v.clone());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn aws_sigv4_signed_requests_verify(c in case()) {
        let s = Secret::new(SECRET);
        let r = reference_sign(&c);
        let now = t0() + Duration::seconds(30);
        let p = r.check("backup", &s, now);
        prop_assert!(p.is_ok(), "{:?}: {:?}", c, p);
        let p = p.unwrap();
        prop_assert_eq!(p.session_token.clone(), c.token.clone());

        prop_assert_eq!(tamper_signature(&r).check("backup", &s, now).unwrap_err(), AuthError::SignatureMismatch);
        let mut body = r.clone();
        match body.body.first_mut() {
            Some(b) => *b ^= 1,
            None => body.body.push(b'x'),
        }
        prop_assert_eq!(body.check("backup", &s, now).unwrap_err(), AuthError::SignatureMismatch);
        prop_assert!(r.check("backup", &Secret::new("other"), now).is_err());
    }

    /// Our signer and verifier agree with each other on the same random requests.
    #[test]
    fn our_signer_round_trips(c in case()) {
        let s = Secret::new(SECRET);
        let mut p = crate::common::params("AKIDEXAMPLE", &s, "eu-west-1", "backup", t0());
        p.session_token = c.token.as_deref();
        let mut r = Req::new(c.method, &c.path, &c.query, &c.body);
        for (n, v) in &c.headers {
            r = r.header(n, v);
        }
        let r = if c.presigned { r.presign(&p, 300) } else { r.sign(&p) };
        prop_assert!(r.check("backup", &s, t0()).is_ok());
        prop_assert_eq!(tamper_signature(&r).check("backup", &s, t0()).unwrap_err(), AuthError::SignatureMismatch);
    }
}
