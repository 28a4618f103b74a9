//! Authorization end to end through the operations: key policies (delegation to IAM,
//! cross-account, explicit deny, lockout), identity policies, AWS managed keys and grants.

use crate::ops::{crypto, grants, keys, policies};
use crate::testsupport::TestKms;
use crate::KmsError;
use kmsnap_api::gen::kms as api;
use kmsnap_api::SensitiveBlob;
use kmsnap_auth::{Principal, PrincipalKind, RequestContext};
use kmsnap_iam::IdentityPolicySource;
use kmsnap_policy::{Policy, PolicyKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const OWNER: &str = "111111111111";
const OTHER: &str = "999999999999";
const REGION: &str = "us-east-1";

/// Identity policies by principal ARN, given to KMS when it is built and changed by the test
/// as IAM's would be.
#[derive(Default)]
struct FakeIam(Mutex<HashMap<String, Vec<Arc<Policy>>>>);

impl FakeIam {
    /// From now on, exactly these principals have these policies.
    fn set(&self, policies: Vec<(String, Vec<Arc<Policy>>)>) {
        *self.0.lock().unwrap() = policies.into_iter().collect();
    }
}

impl IdentityPolicySource for FakeIam {
    fn policies_for(&self, p: &Principal) -> Result<Vec<Arc<Policy>>, String> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(&p.arn)
            .cloned()
            .unwrap_or_default())
    }
}

/// KMS built with a [`FakeIam`] as its identity-policy source, and that fake.
fn with_iam() -> (TestKms, Arc<FakeIam>) {
    let iam = Arc::new(FakeIam::default());
    (TestKms::with_identity(iam.clone()).unwrap(), iam)
}

fn user(ctx: &RequestContext, name: &str) -> RequestContext {
    let mut c = ctx.clone();
    c.principal = Principal {
        account: ctx.principal.account,
        arn: format!("arn:aws:iam::{}:user/{name}", ctx.principal.account),
        user_id: "AIDAEXAMPLEEXAMPLE01".into(),
        kind: PrincipalKind::User { name: name.into() },
        access_key_id: "AKIAEXAMPLE".into(),
    };
    c
}

fn identity(actions: &str) -> Arc<Policy> {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
    );
    Arc::new(Policy::parse(&doc, PolicyKind::Identity).unwrap())
}

fn create(
    t: &TestKms,
    ctx: &RequestContext,
    policy: Option<&str>,
    bypass: bool,
) -> Result<String, KmsError> {
    let r = keys::create_key(
        &t.kms,
        ctx,
        api::CreateKeyRequest {
            policy: policy.map(str::to_owned),
            bypass_policy_lockout_safety_check: bypass.then_some(true),
            ..Default::default()
        },
    )?;
    Ok(r.key_metadata.unwrap().arn.unwrap())
}

fn encrypt(
    t: &TestKms,
    ctx: &RequestContext,
    key: &str,
    ec: &[(&str, &str)],
    tokens: &[String],
) -> Result<Vec<u8>, KmsError> {
    let ec: BTreeMap<String, String> = ec
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = crypto::encrypt(
        &t.kms,
        ctx,
        api::EncryptRequest {
            key_id: key.into(),
            plaintext: SensitiveBlob::new(b"secret".to_vec()),
            encryption_context: (!ec.is_empty()).then_some(ec),
            grant_tokens: (!tokens.is_empty()).then(|| tokens.to_vec()),
            ..Default::default()
        },
    )?;
    Ok(r.ciphertext_blob.unwrap().0)
}

fn decrypt(
    t: &TestKms,
    ctx: &RequestContext,
    blob: &[u8],
    ec: &[(&str, &str)],
    tokens: &[String],
) -> Result<(), KmsError> {
    let ec: BTreeMap<String, String> = ec
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crypto::decrypt(
        &t.kms,
        ctx,
        api::DecryptRequest {
            ciphertext_blob: Some(kmsnap_api::Blob(blob.to_vec())),
            encryption_context: (!ec.is_empty()).then_some(ec),
            grant_tokens: (!tokens.is_empty()).then(|| tokens.to_vec()),
            ..Default::default()
        },
    )
    .map(|_| ())
}

fn denied<T: std::fmt::Debug>(r: Result<T, KmsError>) -> String {
    match r {
        Err(KmsError::AccessDenied(m)) => m,
        other => panic!("expected AccessDenied, got {other:?}"),
    }
}

/// The issue's three-statement cross-account policy.
fn cross_account_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:root"}},"Action":"kms:*","Resource":"*"}},
  {{"Sid":"use","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},
    "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}},
  {{"Sid":"grants","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},
    "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*",
    "Condition":{{"Bool":{{"kms:GrantIsForAWSResource":"true"}}}}}}]}}"#
    )
}

fn create_grant(
    t: &TestKms,
    ctx: &RequestContext,
    key: &str,
    grantee: &str,
    ops: &[api::GrantOperation],
) -> Result<api::CreateGrantResponse, KmsError> {
    grants::create_grant(
        &t.kms,
        ctx,
        api::CreateGrantRequest {
            key_id: key.into(),
            grantee_principal: Some(grantee.into()),
            operations: ops.to_vec(),
            ..Default::default()
        },
    )
}

#[test]
fn cross_account_needs_the_key_policy() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let other = t.ctx_for(OTHER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    let m = denied(encrypt(&t, &other, &key, &[], &[]));
    assert_eq!(
        m,
        format!("User: arn:aws:iam::{OTHER}:root is not authorized to perform: kms:Encrypt on resource: {key} because no resource-based policy allows the kms:Encrypt action")
    );
    policies::put_key_policy(
        &t.kms,
        &owner,
        api::PutKeyPolicyRequest {
            key_id: key.clone(),
            policy: cross_account_policy(),
            ..Default::default()
        },
    )
    .unwrap();
    let blob = encrypt(&t, &other, &key, &[], &[]).unwrap();
    decrypt(&t, &other, &blob, &[], &[]).unwrap();
    // Not a management action, and CreateGrant only for AWS resources (through a service).
    denied(keys::disable_key(
        &t.kms,
        &other,
        api::DisableKeyRequest {
            key_id: key.clone(),
        },
    ));
    denied(create_grant(
        &t,
        &other,
        &key,
        &format!("arn:aws:iam::{OTHER}:user/app"),
        &[api::GrantOperation::Decrypt],
    ));
    let via = other.via("ec2.amazonaws.com");
    create_grant(
        &t,
        &via,
        &key,
        &format!("arn:aws:iam::{OTHER}:user/app"),
        &[api::GrantOperation::Decrypt],
    )
    .unwrap();
    // An IAM user of the other account also needs its own identity policy.
    let bob = user(&other, "bob");
    let m = denied(encrypt(&t, &bob, &key, &[], &[]));
    assert!(
        m.ends_with("because no identity-based policy allows the kms:Encrypt action"),
        "{m}"
    );
    iam.set(vec![(
        bob.principal.arn.clone(),
        vec![identity(r#""kms:Encrypt""#)],
    )]);
    encrypt(&t, &bob, &key, &[], &[]).unwrap();
}

#[test]
fn root_statement_delegates_to_identity_policies() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    let alice = user(&owner, "alice");
    iam.set(vec![(
        alice.principal.arn.clone(),
        vec![identity(r#"["kms:Encrypt","kms:DescribeKey"]"#)],
    )]);
    let blob = encrypt(&t, &alice, &key, &[], &[]).unwrap();
    let m = denied(decrypt(&t, &alice, &blob, &[], &[]));
    assert_eq!(
        m,
        format!("User: arn:aws:iam::{OWNER}:user/alice is not authorized to perform: kms:Decrypt on resource: {key} because no identity-based policy allows the kms:Decrypt action")
    );
    // A user with no policy at all cannot even create keys.
    denied(create(&t, &user(&owner, "carol"), None, false));
    // A key policy naming the user directly needs no identity policy.
    let direct = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:user/alice"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    policies::put_key_policy(
        &t.kms,
        &owner,
        api::PutKeyPolicyRequest {
            key_id: key.clone(),
            policy: direct,
            ..Default::default()
        },
    )
    .unwrap();
    decrypt(&t, &alice, &blob, &[], &[]).unwrap();
    // An explicit deny wins over everything.
    let deny = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringNotEquals":{{"kms:EncryptionContext:app":"ok"}}}}}}]}}"#
    );
    policies::put_key_policy(
        &t.kms,
        &owner,
        api::PutKeyPolicyRequest {
            key_id: key.clone(),
            policy: deny,
            ..Default::default()
        },
    )
    .unwrap();
    let m = denied(decrypt(&t, &owner, &blob, &[], &[]));
    assert!(
        m.ends_with("with an explicit deny in a resource-based policy"),
        "{m}"
    );
    let blob = encrypt(&t, &owner, &key, &[("app", "ok")], &[]).unwrap();
    decrypt(&t, &owner, &blob, &[("app", "ok")], &[]).unwrap();
}

#[test]
fn lockout_safety_check() {
    let t = TestKms::new().unwrap();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    let no_root = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:user/x"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let put = |bypass: Option<bool>| {
        policies::put_key_policy(
            &t.kms,
            &owner,
            api::PutKeyPolicyRequest {
                key_id: key.clone(),
                policy: no_root.clone(),
                bypass_policy_lockout_safety_check: bypass,
                ..Default::default()
            },
        )
    };
    assert_eq!(
        put(None).unwrap_err(),
        KmsError::MalformedPolicy(
            "The new key policy will not allow you to update the key policy in the future.".into()
        )
    );
    assert!(matches!(
        create(&t, &owner, Some(&no_root), false),
        Err(KmsError::MalformedPolicy(_))
    ));
    put(Some(true)).unwrap();
    // Locked out: even the root.
    denied(keys::describe_key(
        &t.kms,
        &owner,
        api::DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        },
    ));
    denied(encrypt(&t, &owner, &key, &[], &[]));
    // Malformed documents.
    for bad in [
        "{",
        r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*"}]}"#,
    ] {
        assert!(
            matches!(
                create(&t, &owner, Some(bad), true),
                Err(KmsError::MalformedPolicy(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn aws_managed_keys() {
    let t = TestKms::new().unwrap();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let other = t.ctx_for(OTHER, REGION).unwrap();
    let d = keys::describe_key(
        &t.kms,
        &owner,
        api::DescribeKeyRequest {
            key_id: "alias/aws/ebs".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let key = d.key_metadata.unwrap().arn.unwrap();
    denied(encrypt(&t, &owner, &key, &[], &[]));
    let via = owner.via("ec2.amazonaws.com");
    let blob = encrypt(&t, &via, &key, &[], &[]).unwrap();
    decrypt(&t, &via, &blob, &[], &[]).unwrap();
    denied(decrypt(&t, &owner, &blob, &[], &[]));
    // Another service, another account: no.
    denied(encrypt(&t, &owner.via("rds.amazonaws.com"), &key, &[], &[]));
    denied(encrypt(&t, &other.via("ec2.amazonaws.com"), &key, &[], &[]));
    denied(keys::describe_key(
        &t.kms,
        &other,
        api::DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        },
    ));
    // Its policy cannot be changed.
    denied(policies::put_key_policy(
        &t.kms,
        &owner,
        api::PutKeyPolicyRequest {
            key_id: key,
            policy: cross_account_policy(),
            ..Default::default()
        },
    ));
}

#[test]
fn grants_allow_revoke_retire_and_constrain() {
    let t = TestKms::new().unwrap();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let other = t.ctx_for(OTHER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    let blob = encrypt(&t, &owner, &key, &[], &[]).unwrap();
    denied(decrypt(&t, &other, &blob, &[], &[]));
    let g = create_grant(
        &t,
        &owner,
        &key,
        &format!("arn:aws:iam::{OTHER}:root"),
        &[api::GrantOperation::Decrypt],
    )
    .unwrap();
    let token = g.grant_token.unwrap();
    decrypt(&t, &other, &blob, &[], std::slice::from_ref(&token)).unwrap();
    decrypt(&t, &other, &blob, &[], &[]).unwrap();
    // Only what the grant lists.
    denied(encrypt(&t, &other, &key, &[], &[]));
    assert_eq!(
        decrypt(&t, &other, &blob, &[], &["garbage".into()]).unwrap_err(),
        KmsError::InvalidGrantToken
    );
    let list = grants::list_grants(
        &t.kms,
        &owner,
        api::ListGrantsRequest {
            key_id: key.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let entries = list.grants.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].grant_id, g.grant_id);
    assert_eq!(
        entries[0].issuing_account.as_deref(),
        Some(format!("arn:aws:iam::{OWNER}:root").as_str())
    );
    // The grantee cannot revoke; the owner can.
    let grant_id = g.grant_id.unwrap();
    denied(grants::revoke_grant(
        &t.kms,
        &other,
        api::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: grant_id.clone(),
            dry_run: None,
        },
    ));
    grants::revoke_grant(
        &t.kms,
        &owner,
        api::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: grant_id.clone(),
            dry_run: None,
        },
    )
    .unwrap();
    denied(decrypt(
        &t,
        &other,
        &blob,
        &[],
        std::slice::from_ref(&token),
    ));
    assert!(matches!(
        grants::revoke_grant(
            &t.kms,
            &owner,
            api::RevokeGrantRequest {
                key_id: key.clone(),
                grant_id,
                dry_run: None
            }
        ),
        Err(KmsError::NotFound(_))
    ));

    // Constraints and retiring.
    let named = || {
        grants::create_grant(
            &t.kms,
            &owner,
            api::CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: Some(format!("arn:aws:iam::{OTHER}:root")),
                retiring_principal: Some(format!("arn:aws:iam::{OTHER}:root")),
                operations: vec![api::GrantOperation::Encrypt, api::GrantOperation::Decrypt],
                constraints: Some(api::GrantConstraints {
                    encryption_context_subset: Some([("app".to_string(), "x".to_string())].into()),
                    ..Default::default()
                }),
                name: Some("my-grant".into()),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let constrained = named();
    denied(encrypt(&t, &other, &key, &[], &[]));
    let b2 = encrypt(&t, &other, &key, &[("app", "x"), ("more", "y")], &[]).unwrap();
    decrypt(&t, &other, &b2, &[("app", "x"), ("more", "y")], &[]).unwrap();
    let again = named();
    assert_eq!(
        again.grant_id, constrained.grant_id,
        "same name and parameters: same grant"
    );
    assert_ne!(again.grant_token, constrained.grant_token);
    let retirable = grants::list_retirable_grants(
        &t.kms,
        &other,
        api::ListRetirableGrantsRequest {
            retiring_principal: Some(format!("arn:aws:iam::{OTHER}:root")),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(retirable.grants.unwrap().len(), 1);
    grants::retire_grant(
        &t.kms,
        &other,
        api::RetireGrantRequest {
            grant_token: constrained.grant_token,
            ..Default::default()
        },
    )
    .unwrap();
    denied(encrypt(&t, &other, &key, &[("app", "x")], &[]));
}

#[test]
fn create_grant_validation() {
    let t = TestKms::new().unwrap();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    let grantee = format!("arn:aws:iam::{OTHER}:root");
    assert!(matches!(
        create_grant(&t, &owner, &key, &grantee, &[]),
        Err(KmsError::Validation(_))
    ));
    assert!(matches!(
        create_grant(&t, &owner, &key, &grantee, &[api::GrantOperation::Sign]),
        Err(KmsError::Validation(_))
    ));
    assert!(matches!(
        create_grant(&t, &owner, &key, "nobody", &[api::GrantOperation::Decrypt]),
        Err(KmsError::Validation(_))
    ));
    keys::disable_key(
        &t.kms,
        &owner,
        api::DisableKeyRequest {
            key_id: key.clone(),
        },
    )
    .unwrap();
    assert!(matches!(
        create_grant(&t, &owner, &key, &grantee, &[api::GrantOperation::Decrypt]),
        Err(KmsError::Disabled { .. })
    ));
    let bad_id = grants::revoke_grant(
        &t.kms,
        &owner,
        api::RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: "nope".into(),
            dry_run: None,
        },
    );
    assert!(matches!(bad_id, Err(KmsError::InvalidGrantId(_))));
    assert_eq!(
        grants::retire_grant(
            &t.kms,
            &owner,
            api::RetireGrantRequest {
                grant_token: Some("xx".into()),
                ..Default::default()
            }
        )
        .unwrap_err(),
        KmsError::InvalidGrantToken
    );
}

// ---------------------------------------------------------------------------------------------
// Session policies (issue #13 item 2; docs/sts-sessions.md)

const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/app";
const SESSION_ARN: &str = "arn:aws:sts::111111111111:assumed-role/app/s1";

/// A session of role `app` in OWNER, given `policy` (inline) and `arns` as session policies
/// (`None`, `[]`: none).
fn session(ctx: &RequestContext, policy: Option<&str>, arns: &[&str]) -> RequestContext {
    let session_policy = (policy.is_some() || !arns.is_empty()).then(|| {
        Arc::new(kmsnap_auth::SessionPolicy {
            inline: policy.map(str::to_owned),
            managed_arns: arns.iter().map(|a| a.to_string()).collect(),
        })
    });
    let mut c = ctx.clone();
    c.principal = Principal {
        account: ctx.principal.account,
        arn: SESSION_ARN.into(),
        user_id: "AROAEXAMPLEEXAMPLE01:s1".into(),
        kind: PrincipalKind::AssumedRole {
            role_name: "app".into(),
            role_arn: ROLE_ARN.into(),
            session_name: "s1".into(),
            session_policy,
            source_identity: None,
        },
        access_key_id: "ASIAEXAMPLE".into(),
    };
    c
}

fn allow_doc(actions: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
    )
}

fn describe(t: &TestKms, ctx: &RequestContext, key: &str) -> Result<(), KmsError> {
    keys::describe_key(
        &t.kms,
        ctx,
        api::DescribeKeyRequest {
            key_id: key.into(),
            ..Default::default()
        },
    )
    .map(|_| ())
}

/// The role may use KMS fully (kms:*): what its sessions may do is what the session policies
/// leave of that.
fn role_with_kms_star(iam: &FakeIam) {
    iam.set(vec![(SESSION_ARN.into(), vec![identity(r#""kms:*""#)])]);
}

#[test]
fn session_policies_intersect_with_the_role_policies() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    role_with_kms_star(&iam);

    // No session policy: all of the role's permissions.
    let full = session(&owner, None, &[]);
    describe(&t, &full, &key).unwrap();
    encrypt(&t, &full, &key, &[], &[]).unwrap();
    create(&t, &full, None, false).unwrap();

    // DescribeKey only.
    let limited = session(&owner, Some(&allow_doc(r#""kms:DescribeKey""#)), &[]);
    describe(&t, &limited, &key).unwrap();
    let m = denied(encrypt(&t, &limited, &key, &[], &[]));
    assert_eq!(m, format!("User: {SESSION_ARN} is not authorized to perform: kms:Encrypt on resource: {key} because no session policy allows the kms:Encrypt action"));
    let m = denied(create(&t, &limited, None, false));
    assert!(
        m.ends_with("because no session policy allows the kms:CreateKey action"),
        "{m}"
    );

    // A session policy cannot grant more than the role has.
    iam.set(vec![(
        SESSION_ARN.into(),
        vec![identity(r#""kms:DescribeKey""#)],
    )]);
    let wide = session(&owner, Some(&allow_doc(r#""kms:*""#)), &[]);
    describe(&t, &wide, &key).unwrap();
    let m = denied(encrypt(&t, &wide, &key, &[], &[]));
    assert!(
        m.ends_with("because no identity-based policy allows the kms:Encrypt action"),
        "{m}"
    );

    // An explicit deny in the session policy wins.
    role_with_kms_star(&iam);
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#;
    let m = denied(encrypt(
        &t,
        &session(&owner, Some(deny), &[]),
        &key,
        &[],
        &[],
    ));
    assert!(
        m.ends_with("with an explicit deny in a session policy"),
        "{m}"
    );
}

#[test]
fn policy_arns_kmsnap_does_not_have_allow_nothing() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    let key = create(&t, &owner, None, false).unwrap();
    role_with_kms_star(&iam);
    let arns_only = session(
        &owner,
        None,
        &["arn:aws:iam::aws:policy/AdministratorAccess"],
    );
    denied(describe(&t, &arns_only, &key));
    denied(create(&t, &arns_only, None, false));
    // Beside an inline policy they add nothing, and take nothing away.
    let both = session(
        &owner,
        Some(&allow_doc(r#""kms:DescribeKey""#)),
        &["arn:aws:iam::111111111111:policy/unknown"],
    );
    describe(&t, &both, &key).unwrap();
    denied(encrypt(&t, &both, &key, &[], &[]));
}

#[test]
fn key_policy_naming_the_session_is_not_limited_but_naming_the_role_is() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    // No identity policies at all: only the key policy can allow.
    iam.set(vec![]);
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"{SESSION_ARN}"}},"Action":"kms:Encrypt","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}]}}"#
    );
    let key = create(&t, &owner, Some(&doc), false).unwrap();
    let limited = session(&owner, Some(&allow_doc(r#""kms:DescribeKey""#)), &[]);
    // Named by its session ARN: granted to the session itself, beyond its session policy.
    let blob = encrypt(&t, &limited, &key, &[], &[]).unwrap();
    // Named by the role ARN: within the session policy only.
    describe(&t, &limited, &key).unwrap();
    let m = denied(decrypt(&t, &limited, &blob, &[], &[]));
    assert!(
        m.ends_with("because no session policy allows the kms:Decrypt action"),
        "{m}"
    );
    decrypt(&t, &session(&owner, None, &[]), &blob, &[], &[]).unwrap();
    // An explicit deny in the session policy still wins over the session-ARN statement.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#;
    denied(encrypt(
        &t,
        &session(&owner, Some(deny), &[]),
        &key,
        &[],
        &[],
    ));
}

#[test]
fn grants_to_the_role_are_limited_by_session_policies() {
    let (t, iam) = with_iam();
    let owner = t.ctx_for(OWNER, REGION).unwrap();
    iam.set(vec![]);
    let key = create(&t, &owner, None, false).unwrap();
    let blob = encrypt(&t, &owner, &key, &[], &[]).unwrap();
    let limited = session(&owner, Some(&allow_doc(r#""kms:DescribeKey""#)), &[]);
    create_grant(&t, &owner, &key, ROLE_ARN, &[api::GrantOperation::Decrypt]).unwrap();
    decrypt(&t, &session(&owner, None, &[]), &blob, &[], &[]).unwrap();
    denied(decrypt(&t, &limited, &blob, &[], &[]));
    create_grant(
        &t,
        &owner,
        &key,
        SESSION_ARN,
        &[api::GrantOperation::Decrypt],
    )
    .unwrap();
    decrypt(&t, &limited, &blob, &[], &[]).unwrap();
}
