//! Security regressions: each test names what it guards.

use base64::Engine as _;
use http::HeaderValue;
use kmsnap_auth::sigv4::{self, SigningParams};
use kmsnap_auth::{AssumeRoleParams, AuthError, Keyring, Principal, Secret};
use kmsnap_core::AccountId;

use crate::common::{params, t0, Req};
use crate::sts::{authenticate, keyring, ROLE};

fn minted() -> (Keyring, kmsnap_auth::AssumedRole) {
    let k = keyring();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let ar = k
        .assume_role(&caller, &AssumeRoleParams::new(ROLE, "sess"), t0())
        .unwrap();
    (k, ar)
}

/// Guards: a session token altered in any byte is refused (AEAD), never decoded into claims.
#[test]
fn tampered_session_token_is_refused() {
    let (k, ar) = minted();
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(&ar.session_token).unwrap();
    for i in [0, 1, 13, raw.len() / 2, raw.len() - 1] {
        let mut t = raw.clone();
        t[i] ^= 0x01;
        let tok = b64.encode(&t);
        assert_eq!(
            k.resolve(&ar.access_key_id, Some(&tok), t0()).unwrap_err(),
            AuthError::InvalidSessionToken,
            "byte {i}"
        );
    }
    assert_eq!(
        k.resolve(&ar.access_key_id, Some("not base64!"), t0())
            .unwrap_err(),
        AuthError::InvalidSessionToken
    );
    assert_eq!(
        k.resolve(&ar.access_key_id, Some(""), t0()).unwrap_err(),
        AuthError::InvalidSessionToken
    );
    assert_eq!(
        k.resolve(&ar.access_key_id, Some(&"A".repeat(100_000)), t0())
            .unwrap_err(),
        AuthError::InvalidSessionToken
    );
}

/// Guards: a temporary key without its session token, or with another key's token, is refused
/// (the token binds the access key id).
#[test]
fn temporary_key_needs_its_own_token() {
    let (k, a) = minted();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let b = k
        .assume_role(&caller, &AssumeRoleParams::new(ROLE, "other"), t0())
        .unwrap();
    assert_eq!(
        k.resolve(&a.access_key_id, None, t0()).unwrap_err(),
        AuthError::InvalidSessionToken
    );
    assert_eq!(
        k.resolve(&a.access_key_id, Some(&b.session_token), t0())
            .unwrap_err(),
        AuthError::InvalidSessionToken
    );
    assert_eq!(
        authenticate(&k, &a.access_key_id, &a.secret, Some(&b.session_token)).unwrap_err(),
        AuthError::InvalidSessionToken
    );
    // An ASIA-shaped key that was never minted.
    assert_eq!(
        k.resolve("ASIAAAAAAAAAAAAAAAAA", Some(&a.session_token), t0())
            .unwrap_err(),
        AuthError::InvalidSessionToken
    );
}

/// Guards: a temporary key signed with a wrong secret fails even with a valid token.
#[test]
fn temporary_key_with_wrong_secret_fails() {
    let (k, a) = minted();
    assert_eq!(
        authenticate(
            &k,
            &a.access_key_id,
            &Secret::new("guess"),
            Some(&a.session_token)
        )
        .unwrap_err(),
        AuthError::SignatureMismatch
    );
}

/// Guards: secrets never appear in Debug output of any type that holds one.
#[test]
fn secrets_never_in_debug_output() {
    let (k, a) = minted();
    let creds = k
        .resolve(&a.access_key_id, Some(&a.session_token), t0())
        .unwrap();
    let secret = a.secret.expose().to_owned();
    for dbg in [
        format!("{a:?}"),
        format!("{creds:?}"),
        format!("{:?}", creds.secret),
        format!("{k:?}"),
    ] {
        assert!(!dbg.contains(&secret), "secret leaked: {dbg}");
    }
    let s = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let p: SigningParams<'_> = params("AKID", &s, "us-east-1", "kms", t0());
    assert!(!format!("{p:?}").contains("wJalr"));
}

/// Guards: error messages never echo the signature (or a secret) the client sent.
#[test]
fn error_messages_do_not_echo_signatures() {
    let s = Secret::new("test");
    let r = Req::new("POST", "/", "", b"{}").sign(&params(
        "111111111111",
        &s,
        "us-east-1",
        "kms",
        t0(),
    ));
    let auth = r.headers["authorization"].to_str().unwrap().to_owned();
    let sig = auth.rsplit_once("Signature=").unwrap().1.to_owned();
    let mut bad = r.clone();
    bad.headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("{auth}, Bogus={sig}")).unwrap(),
    );
    let e = bad.check("kms", &s, t0()).unwrap_err();
    for p in [
        kmsnap_api::schema::Protocol::Json,
        kmsnap_api::schema::Protocol::Query,
    ] {
        assert!(!e.to_aws_error(p).message.contains(&sig));
    }
    let e = bad.check("kms", &Secret::new("x"), t0()).unwrap_err();
    assert!(!format!("{e}").contains(&sig));
}

/// Guards: a captured request cannot be replayed with another body: a body change breaks the
/// signature, and an explicit `X-Amz-Content-SHA256` must match the body.
#[test]
fn body_is_authenticated() {
    let s = Secret::new("test");
    let r = Req::new("POST", "/", "", br#"{"KeyId":"a"}"#).sign(&params(
        "111111111111",
        &s,
        "us-east-1",
        "kms",
        t0(),
    ));
    let mut swapped = r.clone();
    swapped.body = br#"{"KeyId":"b"}"#.to_vec();
    assert_eq!(
        swapped.check("kms", &s, t0()).unwrap_err(),
        AuthError::SignatureMismatch
    );

    let with_hash = Req::new("POST", "/", "", b"abc")
        .header(
            "x-amz-content-sha256",
            &sigv4::canonical::sha256_hex(b"abc"),
        )
        .sign(&params("111111111111", &s, "us-east-1", "kms", t0()));
    assert!(with_hash.check("kms", &s, t0()).is_ok());
    let mut swapped = with_hash.clone();
    swapped.body = b"abd".to_vec();
    assert_eq!(
        swapped.check("kms", &s, t0()).unwrap_err(),
        AuthError::PayloadHashMismatch
    );
}

/// Guards: `UNSIGNED-PAYLOAD` (which leaves the body unauthenticated) is only accepted for
/// operations modelled with an unsigned body (EBS PutSnapshotBlock).
#[test]
fn unsigned_payload_only_where_modelled() {
    let s = Secret::new("test");
    let r = Req::new(
        "PUT",
        "/snapshots/snap-0fedcba9876543210/blocks/0",
        "",
        b"block-data",
    )
    .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
    .sign(&params("111111111111", &s, "us-east-1", "ebs", t0()));
    assert_eq!(
        r.check("ebs", &s, t0()).unwrap_err(),
        AuthError::UnsignedPayloadNotAllowed
    );
    let mut sr = r.signed("ebs");
    sr.allow_unsigned_payload = true;
    let p = sigv4::parse(&sr).unwrap();
    sigv4::verify(&sr, &p, &s, t0()).unwrap();
}

/// Guards: `host` must be signed, so a request cannot be replayed against another host.
#[test]
fn host_must_be_signed() {
    let s = Secret::new("test");
    let r = Req::new("POST", "/", "", b"{}").sign(&params(
        "111111111111",
        &s,
        "us-east-1",
        "kms",
        t0(),
    ));
    let a = r.headers["authorization"]
        .to_str()
        .unwrap()
        .replace("SignedHeaders=host;", "SignedHeaders=");
    let mut r2 = r.clone();
    r2.headers
        .insert("authorization", HeaderValue::from_str(&a).unwrap());
    assert!(matches!(
        r2.check("kms", &s, t0()),
        Err(AuthError::Malformed(_))
    ));
}

/// Guards: strict mode disables the dev conventions (`test`, 12-digit keys).
#[test]
fn strict_mode_refuses_dev_keys() {
    let strict = Keyring::new(
        kmsnap_auth::AuthMode::Strict,
        &kmsnap_core::RootKey::from_bytes([42u8; 32]),
        vec![],
    )
    .unwrap();
    for akid in ["test", "111111111111", "000000000000"] {
        assert_eq!(
            authenticate(&strict, akid, &Secret::new("test"), None).unwrap_err(),
            AuthError::UnknownAccessKey
        );
    }
}

/// Guards: both auth mechanisms at once are refused rather than one silently preferred.
#[test]
fn header_and_query_auth_together_are_refused() {
    let s = Secret::new("test");
    let q = Req::new("GET", "/", "Action=X", b"")
        .presign(&params("111111111111", &s, "us-east-1", "sts", t0()), 60);
    let both = q.sign(&params("111111111111", &s, "us-east-1", "sts", t0()));
    assert!(matches!(
        sigv4::parse(&both.signed("sts")),
        Err(AuthError::Malformed(_))
    ));
}

const DESCRIBE_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}"#;

/// Guards issue #13 item 2 ("Session policies are ignored"): the session policy AssumeRole was
/// given reaches every request of the session, through the sealed token, and cannot be
/// dropped by relabelling the token as the older format that had no session policy.
#[test]
fn session_policy_is_sealed_into_the_token_and_cannot_be_stripped() {
    let k = keyring();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let params = AssumeRoleParams {
        policy: Some(DESCRIBE_ONLY),
        ..AssumeRoleParams::new(ROLE, "limited")
    };
    let ar = k.assume_role(&caller, &params, t0()).unwrap();
    assert!(ar.packed_policy_size.is_some());
    let p = authenticate(
        &keyring(),
        &ar.access_key_id,
        &ar.secret,
        Some(&ar.session_token),
    )
    .unwrap();
    let inline = p
        .session_policy()
        .and_then(|s| s.inline.as_deref())
        .unwrap();
    let as_json = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(as_json(inline), as_json(DESCRIBE_ONLY));

    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(&ar.session_token).unwrap();
    assert_eq!(raw[0], 2, "session tokens are format 2");
    raw[0] = 1;
    assert_eq!(
        k.resolve(&ar.access_key_id, Some(&b64.encode(&raw)), t0())
            .unwrap_err(),
        AuthError::InvalidSessionToken
    );
}

/// Guards issue #13 item 2: a session policy that is not a policy (`Policy="{{{"`) is refused
/// with MalformedPolicyDocument instead of being accepted and ignored.
#[test]
fn malformed_session_policy_is_refused() {
    let k = keyring();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    for bad in ["{{{", "", "null"] {
        let params = AssumeRoleParams {
            policy: Some(bad),
            ..AssumeRoleParams::new(ROLE, "limited")
        };
        let e = k.assume_role(&caller, &params, t0()).unwrap_err();
        assert_eq!(e.status, 400, "{bad}");
        assert!(
            matches!(
                e.code.as_ref(),
                "MalformedPolicyDocument" | "ValidationError"
            ),
            "{bad}: {e}"
        );
    }
}
