//! AWS's published SigV4 test suite (tests/sigv4_vectors/README.md): every signed request must
//! verify with our verifier, and our canonical request must equal AWS's.

use std::fs;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use kmsnap_auth::sigv4::{self, AuthForm, SignedRequest};
use kmsnap_auth::{AuthError, Secret};

use crate::common::{at, Req};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4_vectors")
}

/// Parses `METHOD target HTTP/1.1`, headers (folded lines unfolded), blank line, body.
fn parse_http(text: &str) -> Req {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.rsplit_once(" HTTP/1.1").unwrap().0;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = pairs.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (n, v) = line.split_once(':').unwrap();
            pairs.push((n.to_owned(), v.to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (n, v) in pairs {
        headers.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    Req {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn vectors_are_present() {
    let names: Vec<String> = cases()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for must in [
        "get-vanilla",
        "get-vanilla-query-order-key-case",
        "get-header-value-trim",
        "post-x-www-form-urlencoded",
        "get-utf8",
        "get-space-normalized",
        "get-slash-dot-slash-normalized",
        "post-sts-header-after",
        "get-vanilla-with-session-token",
    ] {
        assert!(names.iter().any(|n| n == must), "missing vector {must}");
    }
    assert!(names.len() >= 25);
}

#[test]
fn header_form_vectors_verify() {
    let now = at("2015-08-30T12:40:00Z");
    let secret = Secret::new(SECRET);
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let req = parse_http(&fs::read_to_string(case.join("header-signed-request.txt")).unwrap());
        let r: SignedRequest<'_> = req.signed("service");
        let p = sigv4::parse(&r).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(p.form, AuthForm::Header);
        assert_eq!(p.access_key_id, "AKIDEXAMPLE");
        let expected = fs::read_to_string(case.join("header-canonical-request.txt")).unwrap();
        let ours = String::from_utf8(sigv4::canonical_request(&r, &p).unwrap()).unwrap();
        assert_eq!(ours, expected, "{name}: canonical request");
        sigv4::verify(&r, &p, &secret, now).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            sigv4::verify(&r, &p, &Secret::new("other"), now),
            Err(AuthError::SignatureMismatch),
            "{name}"
        );
    }
}

#[test]
fn query_form_vectors_verify() {
    let now = at("2015-08-30T13:00:00Z");
    let secret = Secret::new(SECRET);
    let mut n = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(text) = fs::read_to_string(case.join("query-signed-request.txt")) else {
            continue;
        };
        // `omit_session_token`: the token is appended after signing (a legacy IoT convention).
        // botocore and the SDKs sign `X-Amz-Security-Token` in presigned URLs, and so do we.
        if fs::read_to_string(case.join("context.json"))
            .unwrap()
            .contains("\"omit_session_token\": true")
        {
            continue;
        }
        n += 1;
        let req = parse_http(&text);
        let r = req.signed("service");
        let p = sigv4::parse(&r).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(p.form, AuthForm::Query { expires_secs: 3600 });
        let expected = fs::read_to_string(case.join("query-canonical-request.txt")).unwrap();
        let ours = String::from_utf8(sigv4::canonical_request(&r, &p).unwrap()).unwrap();
        assert_eq!(ours, expected, "{name}: canonical request");
        sigv4::verify(&r, &p, &secret, now).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // One hour and a second after signing, the URL is dead.
        assert!(
            matches!(
                sigv4::verify(&r, &p, &secret, at("2015-08-30T13:36:01Z")),
                Err(AuthError::PresignedExpired { .. })
            ),
            "{name}"
        );
    }
    assert!(n >= 25);
}

/// Our signer reproduces AWS's signature for get-vanilla, in both forms.
#[test]
fn our_signer_matches_get_vanilla() {
    let secret = Secret::new(SECRET);
    let p = sigv4::SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret: &secret,
        session_token: None,
        region: "us-east-1",
        service: "service",
        time: at("2015-08-30T12:36:00Z"),
    };
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    let q = sigv4::presign("GET", "/", "", &h, b"", &p, 3600).unwrap();
    assert!(
        q.ends_with(
            "&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"
        ),
        "{q}"
    );
    sigv4::sign_headers("GET", "/", "", &mut h, b"", &p).unwrap();
    assert!(h["authorization"]
        .to_str()
        .unwrap()
        .ends_with("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

/// docs/protocols.md §3.2: the Backup recovery-point path is double encoded.
#[test]
fn double_encoding_vector() {
    assert_eq!(
        sigv4::canonical::canonical_uri("/backup-vaults/vault-b/recovery-points/arn%3Aaws%3Aec2%3Aus-west-2%3A%3Asnapshot%2Fsnap-0fedcba9876543210"),
        "/backup-vaults/vault-b/recovery-points/arn%253Aaws%253Aec2%253Aus-west-2%253A%253Asnapshot%252Fsnap-0fedcba9876543210"
    );
    // aws-sdk-rust's double-url-encode case (lambda ARN in a path label).
    assert_eq!(
        sigv4::canonical::canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations"),
        "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations"
    );
}
