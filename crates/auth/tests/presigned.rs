//! Presigned (query-form) requests: our signer and aws-sigv4's presigner both verify; tampering
//! and expiry are refused.

use std::time::{Duration as StdDuration, SystemTime};

use aws_credential_types::Credentials as SdkCredentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use chrono::Duration;
use kmsnap_auth::sigv4::AuthForm;
use kmsnap_auth::{AuthError, Secret};

use crate::common::{params, t0, tamper_signature, Req};

/// The shape of the URL botocore embeds in RDS CopyDBSnapshot (docs/protocols.md §6).
const RDS_QUERY: &str = "Action=CopyDBSnapshot&Version=2014-10-31&SourceDBSnapshotIdentifier=arn%3Aaws%3Ards%3Aap-northeast-1%3A111111111111%3Asnapshot%3Amysnap&TargetDBSnapshotIdentifier=mysnap-oregon&DestinationRegion=us-west-2";

#[test]
fn our_presigned_url_verifies_and_tampering_fails() {
    let s = Secret::new("test");
    let r = Req::new("GET", "/", RDS_QUERY, b"").presign(
        &params("111111111111", &s, "ap-northeast-1", "rds", t0()),
        3600,
    );
    assert!(r.query.starts_with(RDS_QUERY));
    let p = r.check("rds", &s, t0() + Duration::minutes(30)).unwrap();
    assert_eq!(p.form, AuthForm::Query { expires_secs: 3600 });
    assert_eq!(p.region.as_str(), "ap-northeast-1");

    assert_eq!(
        tamper_signature(&r).check("rds", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );
    let mut changed = r.clone();
    changed.query = changed.query.replace("mysnap-oregon", "mysnap-oregoN");
    assert_eq!(
        changed.check("rds", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );
    let mut extra = r.clone();
    extra.query.push_str("&KmsKeyId=x");
    assert_eq!(
        extra.check("rds", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );
}

#[test]
fn presigned_expiry() {
    let s = Secret::new("test");
    let r = Req::new("GET", "/", RDS_QUERY, b"")
        .presign(&params("111111111111", &s, "us-east-1", "rds", t0()), 3600);
    assert!(r.check("rds", &s, t0() + Duration::seconds(3600)).is_ok());
    assert!(matches!(
        r.check("rds", &s, t0() + Duration::seconds(3601)),
        Err(AuthError::PresignedExpired { .. })
    ));
    assert!(matches!(
        r.check("rds", &s, t0() - Duration::minutes(16)),
        Err(AuthError::NotYetValid { .. })
    ));
    // Longer than AWS's seven days is refused at parse time.
    let mut long = r.clone();
    long.query = long
        .query
        .replace("X-Amz-Expires=3600", "X-Amz-Expires=604801");
    assert!(matches!(
        long.check("rds", &s, t0()),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn presigned_with_session_token_carries_it() {
    let s = Secret::new("test");
    let mut p = params("111111111111", &s, "us-east-1", "ec2", t0());
    p.session_token = Some("tok+en/==");
    let r = Req::new("GET", "/", "Action=CopySnapshot", b"").presign(&p, 600);
    let parsed = r.check("ec2", &s, t0()).unwrap();
    assert_eq!(parsed.session_token.as_deref(), Some("tok+en/=="));
}

#[test]
fn aws_sigv4_presigned_url_verifies() {
    let s = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let identity = SdkCredentials::new(
        "AKIDEXAMPLE",
        s.expose(),
        Some("session-token".into()),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(StdDuration::from_secs(900));
    let time = SystemTime::UNIX_EPOCH + StdDuration::from_secs(t0().timestamp() as u64);
    let sp = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-west-2")
        .name("ec2")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = "http://localhost:4566/?Action=CopySnapshot&SourceRegion=us-west-2&SourceSnapshotId=snap-0fedcba9876543210";
    let sr = SignableRequest::new(
        "GET",
        uri,
        [("host", "localhost:4566")].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(sr, &sp).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("GET")
        .uri(uri)
        .body(())
        .unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let query = req.uri().query().unwrap().to_owned();

    let r = Req::new("GET", "/", &query, b"");
    let p = r.check("ec2", &s, t0() + Duration::minutes(10)).unwrap();
    assert_eq!(p.session_token.as_deref(), Some("session-token"));
    assert!(matches!(
        r.check("ec2", &s, t0() + Duration::minutes(16)),
        Err(AuthError::PresignedExpired { .. })
    ));
    assert_eq!(
        tamper_signature(&r).check("ec2", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );
}
