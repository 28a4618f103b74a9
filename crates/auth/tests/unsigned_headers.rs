//! Security regressions (issue #13, item 1): every `x-amz-*` header a request carries must be
//! covered by its signature. Each test names what it guards.

use http::HeaderValue;
use kmsnap_auth::{AuthError, Secret};

use crate::common::{params, t0, Req};

fn kms_request(target: &str) -> Req {
    Req::new("POST", "/", "", br#"{"KeyId":"alias/app"}"#)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
}

/// Guards: a DescribeKey signed over `host;x-amz-date` only cannot be replayed as
/// ScheduleKeyDeletion by changing its unsigned `X-Amz-Target`.
#[test]
fn unsigned_target_header_is_refused() {
    let secret = Secret::new("test");
    let p = params("111111111111", &secret, "us-east-1", "kms", t0());
    // Sign without the target, then add it (what a replaying attacker does).
    let mut r = Req::new("POST", "/", "", br#"{"KeyId":"alias/app"}"#).sign(&p);
    r.headers.insert(
        "x-amz-target",
        HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
    );
    assert_eq!(
        r.check("kms", &secret, t0()).unwrap_err(),
        AuthError::HeadersNotSigned(vec!["x-amz-target".into()])
    );
    // Signed, the same header is fine.
    kms_request("TrentService.ScheduleKeyDeletion")
        .sign(&p)
        .check("kms", &secret, t0())
        .unwrap();
}

/// Guards: a presigned request (only `host` signed) cannot carry an `x-amz-*` header, e.g. an
/// `x-amz-checksum` vouching for a swapped unsigned body.
#[test]
fn presigned_request_with_amz_header_is_refused() {
    let secret = Secret::new("test");
    let p = params("111111111111", &secret, "us-east-1", "ebs", t0());
    let r = Req::new("PUT", "/snapshots/snap-1/blocks/0", "", b"")
        .presign(&p, 300)
        .header("x-amz-checksum", "AAAA")
        .header("x-amz-data-length", "524288");
    assert_eq!(
        r.check("ebs", &secret, t0()).unwrap_err(),
        AuthError::HeadersNotSigned(vec!["x-amz-checksum".into(), "x-amz-data-length".into()])
    );
}

/// Guards: the refusal is the protocol's signature error and names only header names.
#[test]
fn refusal_is_the_signature_error() {
    let e = AuthError::HeadersNotSigned(vec!["x-amz-target".into()]);
    let json = e.to_aws_error(kmsnap_api::schema::Protocol::Json);
    assert_eq!(
        (json.code.as_ref(), json.status),
        ("InvalidSignatureException", 400)
    );
    assert!(json
        .message
        .starts_with("There were headers present in the request which were not signed"));
    let rest = e.to_aws_error(kmsnap_api::schema::Protocol::RestJson);
    assert_eq!(
        (rest.code.as_ref(), rest.status),
        ("InvalidSignatureException", 403)
    );
    let ec2 = e.to_aws_error(kmsnap_api::schema::Protocol::Ec2);
    assert_eq!(ec2.code, "SignatureDoesNotMatch");
}

/// Guards: `x-amzn-trace-id` (added by proxies, signed by no SDK) is not an `x-amz-` header.
#[test]
fn trace_id_may_stay_unsigned() {
    let secret = Secret::new("test");
    let p = params("111111111111", &secret, "us-east-1", "kms", t0());
    let r = kms_request("TrentService.Encrypt").sign(&p).header(
        "x-amzn-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793",
    );
    r.check("kms", &secret, t0()).unwrap();
}
