//! Clock skew (±15 minutes, boundaries inclusive), credential-scope region and service, and the
//! protocol mapping of each failure.

use chrono::Duration;
use http::HeaderValue;
use kmsnap_api::schema::Protocol;
use kmsnap_auth::{AuthError, Secret};

use crate::common::{params, t0, Req};

fn signed_kms(region: &str, service: &str) -> Req {
    let s = Secret::new("test");
    Req::new("POST", "/", "", br#"{"KeyId":"alias/app"}"#)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.DescribeKey")
        .sign(&params("111111111111", &s, region, service, t0()))
}

#[test]
fn skew_boundaries() {
    let s = Secret::new("test");
    let r = signed_kms("ap-northeast-1", "kms");
    let fifteen = Duration::minutes(15);
    let sec = Duration::seconds(1);
    assert!(r.check("kms", &s, t0()).is_ok());
    assert!(r.check("kms", &s, t0() + fifteen).is_ok());
    assert!(r.check("kms", &s, t0() - fifteen).is_ok());
    assert!(matches!(
        r.check("kms", &s, t0() + fifteen + sec),
        Err(AuthError::Expired { .. })
    ));
    assert!(matches!(
        r.check("kms", &s, t0() - fifteen - sec),
        Err(AuthError::NotYetValid { .. })
    ));
}

#[test]
fn expired_messages_follow_aws() {
    let e = AuthError::Expired {
        signed_at: t0(),
        now: t0() + Duration::minutes(20),
    }
    .to_aws_error(Protocol::Json);
    assert_eq!(
        (e.code.as_ref(), e.status),
        ("InvalidSignatureException", 400)
    );
    assert_eq!(e.message, "Signature expired: 20261123T072316Z is now earlier than 20261123T072816Z (20261123T074316Z - 15 min.)");
    let e = AuthError::Expired {
        signed_at: t0(),
        now: t0() + Duration::minutes(20),
    }
    .to_aws_error(Protocol::Query);
    assert_eq!((e.code.as_ref(), e.status), ("SignatureDoesNotMatch", 403));
    let e = AuthError::Expired {
        signed_at: t0(),
        now: t0() + Duration::minutes(20),
    }
    .to_aws_error(Protocol::Ec2);
    assert_eq!((e.code.as_ref(), e.status), ("RequestExpired", 400));
    let e = AuthError::NotYetValid {
        signed_at: t0(),
        now: t0() - Duration::minutes(20),
    }
    .to_aws_error(Protocol::Json);
    assert!(
        e.message
            .starts_with("Signature not yet current: 20261123T072316Z is still later than"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_region_is_refused_before_any_key_lookup() {
    let r = signed_kms("xx-nowhere-1", "kms");
    let e = kmsnap_auth::sigv4::parse(&r.signed("kms")).unwrap_err();
    assert_eq!(e, AuthError::InvalidRegion("xx-nowhere-1".into()));
    let aws = e.to_aws_error(Protocol::Json);
    assert_eq!(aws.code, "InvalidSignatureException");
    assert_eq!(
        aws.message,
        "Credential should be scoped to a valid region, not 'xx-nowhere-1'. "
    );
}

#[test]
fn wrong_service_is_refused() {
    let r = signed_kms("us-east-1", "ec2");
    let e = kmsnap_auth::sigv4::parse(&r.signed("kms")).unwrap_err();
    assert_eq!(
        e,
        AuthError::WrongService {
            expected: "kms".into()
        }
    );
    let aws = e.to_aws_error(Protocol::Query);
    assert_eq!(
        (aws.code.as_ref(), aws.status),
        ("SignatureDoesNotMatch", 403)
    );
    assert_eq!(
        aws.message,
        "Credential should be scoped to correct service: 'kms'. "
    );
}

#[test]
fn changing_the_scope_region_breaks_the_signature() {
    let s = Secret::new("test");
    let mut r = signed_kms("us-east-1", "kms");
    let a = r.headers["authorization"]
        .to_str()
        .unwrap()
        .replace("/us-east-1/", "/us-west-2/");
    r.headers
        .insert("authorization", HeaderValue::from_str(&a).unwrap());
    assert_eq!(
        r.check("kms", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );
}

#[test]
fn failure_codes_per_protocol() {
    let cases: &[(AuthError, Protocol, &str, u16)] = &[
        (
            AuthError::UnknownAccessKey,
            Protocol::Json,
            "UnrecognizedClientException",
            400,
        ),
        (
            AuthError::UnknownAccessKey,
            Protocol::Ec2,
            "AuthFailure",
            401,
        ),
        (
            AuthError::UnknownAccessKey,
            Protocol::Query,
            "InvalidClientTokenId",
            403,
        ),
        (
            AuthError::UnknownAccessKey,
            Protocol::RestJson,
            "UnrecognizedClientException",
            403,
        ),
        (
            AuthError::SignatureMismatch,
            Protocol::Json,
            "InvalidSignatureException",
            400,
        ),
        (
            AuthError::SignatureMismatch,
            Protocol::Ec2,
            "SignatureDoesNotMatch",
            403,
        ),
        (
            AuthError::SignatureMismatch,
            Protocol::Query,
            "SignatureDoesNotMatch",
            403,
        ),
        (
            AuthError::SignatureMismatch,
            Protocol::RestJson,
            "InvalidSignatureException",
            403,
        ),
        (
            AuthError::Missing,
            Protocol::Json,
            "MissingAuthenticationTokenException",
            400,
        ),
        (
            AuthError::Missing,
            Protocol::Ec2,
            "MissingAuthenticationToken",
            401,
        ),
        (
            AuthError::Missing,
            Protocol::Query,
            "MissingAuthenticationToken",
            403,
        ),
        (
            AuthError::Missing,
            Protocol::RestJson,
            "MissingAuthenticationTokenException",
            403,
        ),
        (
            AuthError::InvalidSessionToken,
            Protocol::Json,
            "UnrecognizedClientException",
            400,
        ),
        (
            AuthError::InvalidSessionToken,
            Protocol::Query,
            "InvalidClientTokenId",
            403,
        ),
        (
            AuthError::ExpiredSessionToken,
            Protocol::Json,
            "ExpiredTokenException",
            400,
        ),
        (
            AuthError::ExpiredSessionToken,
            Protocol::Query,
            "ExpiredToken",
            403,
        ),
    ];
    for (e, p, code, status) in cases {
        let a = e.to_aws_error(*p);
        assert_eq!((a.code.as_ref(), a.status), (*code, *status), "{e:?} {p:?}");
        assert!(a.sender_fault);
    }
    assert_eq!(
        AuthError::UnknownAccessKey
            .to_aws_error(Protocol::Json)
            .message,
        "The security token included in the request is invalid."
    );
    assert_eq!(
        AuthError::ExpiredSessionToken
            .to_aws_error(Protocol::Json)
            .message,
        "The security token included in the request is expired"
    );
    assert!(AuthError::SignatureMismatch
        .to_aws_error(Protocol::Json)
        .message
        .starts_with("The request signature we calculated does not match"));
}
