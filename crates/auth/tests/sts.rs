//! STS temporary credentials end to end: AssumeRole mints them, a request signed with them
//! verifies and runs as the assumed role in the role's account.

use chrono::Duration;
use kmsnap_auth::ops::get_caller_identity;
use kmsnap_auth::sigv4;
use kmsnap_auth::{
    AssumeRoleParams, AuthError, AuthMode, Keyring, Principal, PrincipalKind, Secret,
};
use kmsnap_core::{AccountId, RootKey};

use crate::common::{params, t0, Req};

pub fn keyring() -> Keyring {
    Keyring::new(AuthMode::Dev, &RootKey::from_bytes([42u8; 32]), vec![]).unwrap()
}

pub const ROLE: &str = "arn:aws:iam::222222222222:role/ops/backup-admin";

/// Signs an STS GetCallerIdentity with `akid`/`secret`/`token`, then runs the server's order:
/// parse → resolve → verify.
pub fn authenticate(
    k: &Keyring,
    akid: &str,
    secret: &Secret,
    token: Option<&str>,
) -> Result<Principal, AuthError> {
    let mut p = params(akid, secret, "us-east-1", "sts", t0());
    p.session_token = token;
    let r = Req::new(
        "POST",
        "/",
        "",
        b"Action=GetCallerIdentity&Version=2011-06-15",
    )
    .header(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )
    .sign(&p);
    let sr = r.signed("sts");
    let parsed = sigv4::parse(&sr)?;
    let creds = k.resolve(&parsed.access_key_id, parsed.session_token.as_deref(), t0())?;
    sigv4::verify(&sr, &parsed, &creds.secret, t0())?;
    Ok(creds.principal)
}

#[test]
fn assumed_role_credentials_authenticate_as_the_role() {
    let k = keyring();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let ar = k
        .assume_role(
            &caller,
            &AssumeRoleParams {
                duration_seconds: Some(900),
                ..AssumeRoleParams::new(ROLE, "nightly")
            },
            t0(),
        )
        .unwrap();
    let p = authenticate(&k, &ar.access_key_id, &ar.secret, Some(&ar.session_token)).unwrap();
    assert_eq!(p.account.as_str(), "222222222222");
    assert_eq!(
        p.arn,
        "arn:aws:sts::222222222222:assumed-role/backup-admin/nightly"
    );
    assert_eq!(
        p.kind,
        PrincipalKind::AssumedRole {
            role_name: "backup-admin".into(),
            role_arn: ROLE.into(),
            session_name: "nightly".into(),
            session_policy: None,
            source_identity: None,
        }
    );
    let id = get_caller_identity(&p);
    assert_eq!(id.account, "222222222222");
    assert_eq!(id.user_id, ar.assumed_role_id);
    assert_eq!(id.arn, ar.arn);

    // A second keyring from the same root key (another server process) accepts them too.
    let k2 = keyring();
    assert!(authenticate(&k2, &ar.access_key_id, &ar.secret, Some(&ar.session_token)).is_ok());
    // One with another root key does not.
    let k3 = Keyring::new(AuthMode::Dev, &RootKey::from_bytes([1u8; 32]), vec![]).unwrap();
    assert_eq!(
        authenticate(&k3, &ar.access_key_id, &ar.secret, Some(&ar.session_token)).unwrap_err(),
        AuthError::InvalidSessionToken
    );
}

#[test]
fn temporary_credentials_expire_in_domain_time() {
    let k = keyring();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let ar = k
        .assume_role(
            &caller,
            &AssumeRoleParams {
                duration_seconds: Some(900),
                ..AssumeRoleParams::new(ROLE, "s1")
            },
            t0(),
        )
        .unwrap();
    assert_eq!(ar.expiration, t0() + Duration::seconds(900));
    assert!(k
        .resolve(
            &ar.access_key_id,
            Some(&ar.session_token),
            t0() + Duration::seconds(899)
        )
        .is_ok());
    assert_eq!(
        k.resolve(
            &ar.access_key_id,
            Some(&ar.session_token),
            t0() + Duration::seconds(900)
        )
        .unwrap_err(),
        AuthError::ExpiredSessionToken
    );
}

#[test]
fn strict_mode_still_accepts_temporary_keys() {
    let dev = keyring();
    let strict = Keyring::new(AuthMode::Strict, &RootKey::from_bytes([42u8; 32]), vec![]).unwrap();
    let caller = Principal::root(AccountId::parse("111111111111").unwrap(), "111111111111");
    let ar = dev
        .assume_role(&caller, &AssumeRoleParams::new(ROLE, "s1"), t0())
        .unwrap();
    assert!(authenticate(
        &strict,
        &ar.access_key_id,
        &ar.secret,
        Some(&ar.session_token)
    )
    .is_ok());
}
