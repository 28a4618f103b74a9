use super::*;
use chrono::TimeZone;

fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn kms_headers(auth: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    h.insert("host", HeaderValue::from_static("localhost:4566"));
    h.insert("x-amz-date", HeaderValue::from_static("20250101T000000Z"));
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("TrentService.Encrypt"),
    );
    if let Some(a) = auth {
        h.insert("authorization", HeaderValue::from_str(a).unwrap());
    }
    h
}

const KMS_BODY: &[u8] = br#"{"KeyId": "alias/app", "Plaintext": "aGVsbG8="}"#;
const KMS_SIG: &str = "84a86bc0a1090cd2ed31e0eac12c550bc559f10ec779b24f0755dc733337e741";

fn kms_auth(sig: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=111111111111/20250101/ap-northeast-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}")
}

fn req<'a>(h: &'a HeaderMap, body: &'a [u8]) -> SignedRequest<'a> {
    SignedRequest {
        method: "POST",
        raw_path: "/",
        raw_query: "",
        headers: h,
        body,
        service: "kms",
        allow_unsigned_payload: false,
    }
}

#[test]
fn protocols_md_kms_vector() {
    let h = kms_headers(Some(&kms_auth(KMS_SIG)));
    let r = req(&h, KMS_BODY);
    let p = parse(&r).unwrap();
    assert_eq!(p.access_key_id, "111111111111");
    assert_eq!(p.region.as_str(), "ap-northeast-1");
    let creq = String::from_utf8(canonical_request(&r, &p).unwrap()).unwrap();
    assert_eq!(
        creq,
        "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:localhost:4566\nx-amz-date:20250101T000000Z\nx-amz-target:TrentService.Encrypt\n\ncontent-type;host;x-amz-date;x-amz-target\ncb50d61fa7e4ece3f1a215606a5ac21495d7b46bbf97be0a5ccb921587639564"
    );
    assert!(string_to_sign(&r, &p)
        .unwrap()
        .ends_with("c57b204298cecf270646a5e4ad1d2f87dc6e80388bdf6c5d4d8200da1b82f257"));
    verify(&r, &p, &Secret::new("test"), t(2025, 1, 1, 0, 5, 0)).unwrap();
    assert_eq!(
        verify(&r, &p, &Secret::new("nope"), t(2025, 1, 1, 0, 5, 0)),
        Err(AuthError::SignatureMismatch)
    );

    // Our signer reproduces the vector.
    let mut h2 = kms_headers(None);
    h2.remove("x-amz-date");
    let s = Secret::new("test");
    let params = SigningParams {
        access_key_id: "111111111111",
        secret: &s,
        session_token: None,
        region: "ap-northeast-1",
        service: "kms",
        time: t(2025, 1, 1, 0, 0, 0),
    };
    sign_headers("POST", "/", "", &mut h2, KMS_BODY, &params).unwrap();
    assert_eq!(
        h2.get("authorization").unwrap().to_str().unwrap(),
        kms_auth(KMS_SIG)
    );
}

#[test]
fn missing_and_malformed() {
    let h = kms_headers(None);
    assert_eq!(parse(&req(&h, b"")), Err(AuthError::Missing));
    let h = kms_headers(Some(
        "AWS4-HMAC-SHA256 Credential=111111111111/20250101/ap-northeast-1/kms/aws4_request",
    ));
    assert!(
        matches!(parse(&req(&h, b"")), Err(AuthError::Malformed(m)) if m.contains("'Signature'") && m.contains("'SignedHeaders'"))
    );
    let h = kms_headers(Some("AWS AKID:sig"));
    assert!(matches!(parse(&req(&h, b"")), Err(AuthError::Malformed(_))));
}

#[test]
fn scope_checks() {
    let a = kms_auth(KMS_SIG).replace("ap-northeast-1", "xx-nowhere-1");
    let h = kms_headers(Some(&a));
    assert_eq!(
        parse(&req(&h, b"")),
        Err(AuthError::InvalidRegion("xx-nowhere-1".into()))
    );
    let a = kms_auth(KMS_SIG).replace("/kms/", "/ec2/");
    let h = kms_headers(Some(&a));
    assert_eq!(
        parse(&req(&h, b"")),
        Err(AuthError::WrongService {
            expected: "kms".into()
        })
    );
    let a = kms_auth(KMS_SIG).replace("20250101/", "20250102/");
    let h = kms_headers(Some(&a));
    assert!(matches!(
        parse(&req(&h, b"")),
        Err(AuthError::ScopeDateMismatch { .. })
    ));
}

#[test]
fn content_sha256_rules() {
    let mut h = kms_headers(None);
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static(UNSIGNED_PAYLOAD),
    );
    assert_eq!(
        payload_hash(&h, b"x", false),
        Err(AuthError::UnsignedPayloadNotAllowed)
    );
    assert_eq!(payload_hash(&h, b"x", true).unwrap(), UNSIGNED_PAYLOAD);
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static(canonical::EMPTY_SHA256),
    );
    assert_eq!(
        payload_hash(&h, b"", false).unwrap(),
        canonical::EMPTY_SHA256
    );
    assert_eq!(
        payload_hash(&h, b"x", false),
        Err(AuthError::PayloadHashMismatch)
    );
}

#[test]
fn parsed_debug_redacts_signature() {
    let h = kms_headers(Some(&kms_auth(KMS_SIG)));
    let p = parse(&req(&h, KMS_BODY)).unwrap();
    assert!(!format!("{p:?}").contains(KMS_SIG));
}
