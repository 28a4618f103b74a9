//! Operation tests over the in-memory fakes of the store and the policy engine.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kmsnap_api::gen::iam as api;
use kmsnap_core::{AccountId, RootKey};

use super::*;
use crate::testing::{FakeEngine, MemoryIam};
use kmsnap_auth::Keyring;
use kmsnap_auth::{AuthMode, Principal};

const ACCT: &str = "271828182845";
const ALLOW_ALL_IAM: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::271828182845:root"},"Action":"sts:AssumeRole"}]}"#;

fn account() -> AccountId {
    AccountId::parse(ACCT).unwrap()
}

fn root_key() -> RootKey {
    RootKey::from_bytes([3u8; 32])
}

fn setup() -> (Arc<Iam>, Arc<MemoryIam>) {
    let store = Arc::new(MemoryIam::default());
    let engine = Arc::new(FakeEngine(store.clone()));
    let iam = Iam::new(&root_key(), store.clone(), engine).unwrap();
    (Arc::new(iam), store)
}

fn ctx(principal: Principal) -> RequestContext {
    crate::testing::request_context(
        principal,
        "us-east-1",
        Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
    )
}

fn root() -> RequestContext {
    ctx(Principal::root(account(), ACCT))
}

fn code(e: IamError) -> (String, u16) {
    let a = e.to_aws_error();
    (a.code.into_owned(), a.status)
}

fn create_user(iam: &Iam, c: &RequestContext, name: &str, path: Option<&str>) -> api::User {
    let input = api::CreateUserRequest {
        user_name: name.into(),
        path: path.map(Into::into),
        ..Default::default()
    };
    ops::users::create_user(iam, c, input)
        .unwrap()
        .user
        .unwrap()
}

fn create_key(iam: &Iam, c: &RequestContext, user: &str) -> Result<api::AccessKey, IamError> {
    let input = api::CreateAccessKeyRequest {
        user_name: Some(user.into()),
    };
    ops::access_keys::create_access_key(iam, c, input).map(|r| r.access_key)
}

fn put_user_policy(
    iam: &Iam,
    c: &RequestContext,
    user: &str,
    name: &str,
    doc: &str,
) -> Result<(), IamError> {
    let input = api::PutUserPolicyRequest {
        user_name: user.into(),
        policy_name: name.into(),
        policy_document: doc.into(),
    };
    ops::policies::put_user_policy(iam, c, input)
}

#[test]
fn users_lifecycle() {
    let (iam, store) = setup();
    let c = root();
    let u = create_user(&iam, &c, "Alice", Some("/dev/"));
    assert_eq!(u.arn, "arn:aws:iam::271828182845:user/dev/Alice");
    assert!(u.user_id.starts_with("AIDA") && u.user_id.len() == 21);
    assert_eq!(u.create_date.0, c.now);
    // Names are unique ignoring case.
    let dup = api::CreateUserRequest {
        user_name: "alice".into(),
        ..Default::default()
    };
    let e = ops::users::create_user(&iam, &c, dup).unwrap_err();
    assert_eq!(code(e.clone()), ("EntityAlreadyExists".into(), 409));
    assert_eq!(
        e.to_aws_error().message,
        "User with name alice already exists."
    );
    let got = ops::users::get_user(
        &iam,
        &c,
        api::GetUserRequest {
            user_name: Some("ALICE".into()),
        },
    )
    .unwrap()
    .user;
    assert_eq!(got.user_name, "Alice");
    create_user(&iam, &c, "bob", None);
    let all = ops::users::list_users(&iam, &c, Default::default()).unwrap();
    assert_eq!(
        all.users
            .iter()
            .map(|u| u.user_name.as_str())
            .collect::<Vec<_>>(),
        ["Alice", "bob"]
    );
    assert_eq!(all.is_truncated, Some(false));
    let dev = ops::users::list_users(
        &iam,
        &c,
        api::ListUsersRequest {
            path_prefix: Some("/dev".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(dev.users.len(), 1);
    let page = ops::users::list_users(
        &iam,
        &c,
        api::ListUsersRequest {
            max_items: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((page.users.len(), page.is_truncated), (1, Some(true)));
    let rest = ops::users::list_users(
        &iam,
        &c,
        api::ListUsersRequest {
            marker: page.marker,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rest.users[0].user_name, "bob");

    ops::users::delete_user(
        &iam,
        &c,
        api::DeleteUserRequest {
            user_name: "bob".into(),
        },
    )
    .unwrap();
    let e = ops::users::get_user(
        &iam,
        &c,
        api::GetUserRequest {
            user_name: Some("bob".into()),
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "The user with name bob cannot be found."
    );
    assert_eq!(code(e), ("NoSuchEntity".into(), 404));
    let ops_recorded: Vec<String> = store.recorded().into_iter().map(|r| r.operation).collect();
    assert_eq!(
        ops_recorded,
        ["CreateUser", "CreateUser", "CreateUser", "DeleteUser"]
    );
    // The failed duplicate is recorded with its error code.
    assert_eq!(
        store.recorded()[1].error.as_deref(),
        Some("EntityAlreadyExistsException")
    );
}

#[test]
fn validation_and_unsupported_inputs() {
    let (iam, _) = setup();
    let c = root();
    let bad = api::CreateUserRequest {
        user_name: "a b".into(),
        path: Some("dev".into()),
        ..Default::default()
    };
    let e = ops::users::create_user(&iam, &c, bad)
        .unwrap_err()
        .to_aws_error();
    assert_eq!(e.code, "ValidationError");
    assert!(
        e.message.starts_with("2 validation errors detected"),
        "{}",
        e.message
    );
    let boundary = api::CreateUserRequest {
        user_name: "x".into(),
        permissions_boundary: Some("arn:aws:iam::aws:policy/PowerUserAccess".into()),
        ..Default::default()
    };
    assert_eq!(
        code(ops::users::create_user(&iam, &c, boundary).unwrap_err()).0,
        "NoSuchEntity"
    );
    // Root credentials must name the user.
    let e = ops::users::get_user(&iam, &c, Default::default())
        .unwrap_err()
        .to_aws_error();
    assert_eq!(e.code, "ValidationError");
}

#[test]
fn access_keys_resolve_in_every_mode_until_deleted() {
    let (iam, store) = setup();
    let c = root();
    create_user(&iam, &c, "alice", Some("/team/"));
    let k = create_key(&iam, &c, "alice").unwrap();
    assert!(
        model::is_iam_access_key(&k.access_key_id),
        "{}",
        k.access_key_id
    );
    assert_eq!(k.secret_access_key.len(), 40);
    assert_eq!(k.status, api::statusType::Active);
    // The audit record carries the key id, never the secret.
    let note = store.recorded().pop().unwrap();
    assert_eq!(note.operation, "CreateAccessKey");
    assert!(!note.response.to_string().contains(&k.secret_access_key));
    assert!(note.response.to_string().contains(&k.access_key_id));

    for mode in [AuthMode::Dev, AuthMode::Strict] {
        let ring = Keyring::new(mode, &root_key(), vec![])
            .unwrap()
            .with_access_key_lookup(iam.clone());
        let creds = ring.resolve(&k.access_key_id, None, c.now).unwrap();
        assert_eq!(creds.secret.expose(), k.secret_access_key);
        assert_eq!(
            creds.principal.arn,
            "arn:aws:iam::271828182845:user/team/alice"
        );
        assert_eq!(
            creds.principal.kind,
            PrincipalKind::User {
                name: "alice".into()
            }
        );
        assert!(creds.principal.user_id.starts_with("AIDA"));
        assert_eq!(
            ring.resolve(&k.access_key_id, Some("token"), c.now)
                .unwrap_err(),
            AuthError::InvalidSessionToken
        );
    }
    // Two keys per user.
    let k2 = create_key(&iam, &c, "alice").unwrap();
    let e = create_key(&iam, &c, "alice").unwrap_err();
    assert_eq!(code(e.clone()), ("LimitExceeded".into(), 409));
    assert_eq!(
        e.to_aws_error().message,
        "Cannot exceed quota for AccessKeysPerUser: 2"
    );
    let listed = ops::access_keys::list_access_keys(
        &iam,
        &c,
        api::ListAccessKeysRequest {
            user_name: Some("alice".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(listed.access_key_metadata.len(), 2);
    // A user with keys cannot be deleted.
    let e = ops::users::delete_user(
        &iam,
        &c,
        api::DeleteUserRequest {
            user_name: "alice".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "Cannot delete entity, must delete access keys first."
    );
    // Another user's key is not found under this user.
    create_user(&iam, &c, "bob", None);
    let wrong = api::DeleteAccessKeyRequest {
        user_name: Some("bob".into()),
        access_key_id: k.access_key_id.clone(),
    };
    assert_eq!(
        code(ops::access_keys::delete_access_key(&iam, &c, wrong).unwrap_err()).0,
        "NoSuchEntity"
    );
    for id in [&k.access_key_id, &k2.access_key_id] {
        let del = api::DeleteAccessKeyRequest {
            user_name: Some("alice".into()),
            access_key_id: id.clone(),
        };
        ops::access_keys::delete_access_key(&iam, &c, del).unwrap();
    }
    let ring = Keyring::new(AuthMode::Strict, &root_key(), vec![])
        .unwrap()
        .with_access_key_lookup(iam.clone());
    assert_eq!(
        ring.resolve(&k.access_key_id, None, c.now).unwrap_err(),
        AuthError::UnknownAccessKey
    );
    ops::users::delete_user(
        &iam,
        &c,
        api::DeleteUserRequest {
            user_name: "alice".into(),
        },
    )
    .unwrap();
}

#[test]
fn a_user_calls_iam_with_its_own_key() {
    let (iam, _) = setup();
    let c = root();
    create_user(&iam, &c, "alice", None);
    let k = create_key(&iam, &c, "alice").unwrap();
    let ring = Keyring::new(AuthMode::Strict, &root_key(), vec![])
        .unwrap()
        .with_access_key_lookup(iam.clone());
    let alice = ctx(ring
        .resolve(&k.access_key_id, None, c.now)
        .unwrap()
        .principal);
    // No policy: denied, with the resource ARN in AWS's message.
    let e = ops::users::create_user(
        &iam,
        &alice,
        api::CreateUserRequest {
            user_name: "carol".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(code(e.clone()), ("AccessDenied".into(), 403));
    assert_eq!(
        e.to_aws_error().message,
        "User: arn:aws:iam::271828182845:user/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::271828182845:user/carol"
    );
    // Without permission, a missing user is not revealed.
    let e = ops::users::get_user(
        &iam,
        &alice,
        api::GetUserRequest {
            user_name: Some("nobody".into()),
        },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "AccessDenied");
    put_user_policy(&iam, &c, "alice", "admin", ALLOW_ALL_IAM).unwrap();
    create_user(&iam, &alice, "carol", None);
    // GetUser and CreateAccessKey default to the calling user.
    let me = ops::users::get_user(&iam, &alice, Default::default())
        .unwrap()
        .user;
    assert_eq!(me.user_name, "alice");
    let own = ops::access_keys::create_access_key(&iam, &alice, Default::default()).unwrap();
    assert_eq!(own.access_key.user_name, "alice");
}

#[test]
fn inline_user_policies() {
    let (iam, _) = setup();
    let c = root();
    create_user(&iam, &c, "alice", None);
    put_user_policy(&iam, &c, "alice", "p1", ALLOW_ALL_IAM).unwrap();
    // Put replaces.
    put_user_policy(&iam, &c, "alice", "p1", ALLOW_ALL_IAM).unwrap();
    let got = ops::policies::get_user_policy(
        &iam,
        &c,
        api::GetUserPolicyRequest {
            user_name: "alice".into(),
            policy_name: "p1".into(),
        },
    )
    .unwrap();
    assert_eq!(
        got.policy_document,
        model::encode_policy_document(ALLOW_ALL_IAM)
    );
    let names = ops::policies::list_user_policies(
        &iam,
        &c,
        api::ListUserPoliciesRequest {
            user_name: "alice".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(names.policy_names, ["p1"]);
    let e = put_user_policy(&iam, &c, "alice", "bad", "{not json").unwrap_err();
    assert_eq!(code(e).0, "MalformedPolicyDocument");
    let e = put_user_policy(&iam, &c, "nobody", "p", ALLOW_ALL_IAM).unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "The user with name nobody cannot be found."
    );
    // The aggregate size of a user's inline policies is capped.
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"iam:*","Resource":"*"}}]}}"#,
        "x".repeat(2000)
    );
    let e = put_user_policy(&iam, &c, "alice", "big", &big).unwrap_err();
    assert_eq!(code(e).0, "LimitExceeded");
    let e = ops::users::delete_user(
        &iam,
        &c,
        api::DeleteUserRequest {
            user_name: "alice".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "Cannot delete entity, must delete policies first."
    );
    let del = |name: &str| {
        ops::policies::delete_user_policy(
            &iam,
            &c,
            api::DeleteUserPolicyRequest {
                user_name: "alice".into(),
                policy_name: name.into(),
            },
        )
    };
    del("p1").unwrap();
    let e = del("p1").unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "The user policy with name p1 cannot be found."
    );
    ops::users::delete_user(
        &iam,
        &c,
        api::DeleteUserRequest {
            user_name: "alice".into(),
        },
    )
    .unwrap();
}

#[test]
fn roles_and_their_policies() {
    let (iam, _) = setup();
    let c = root();
    let create = |name: &str, doc: &str| {
        ops::roles::create_role(
            &iam,
            &c,
            api::CreateRoleRequest {
                role_name: name.into(),
                path: Some("/svc/".into()),
                assume_role_policy_document: doc.into(),
                description: Some("deploys".into()),
                ..Default::default()
            },
        )
    };
    let r = create("deploy", TRUST).unwrap().role;
    assert_eq!(r.arn, "arn:aws:iam::271828182845:role/svc/deploy");
    assert_eq!(r.role_id, kmsnap_auth::model::role_unique_id(&r.arn));
    assert_eq!(r.max_session_duration, Some(3600));
    assert_eq!(
        r.assume_role_policy_document.as_deref(),
        Some(model::encode_policy_document(TRUST).as_str())
    );
    assert_eq!(
        code(create("DEPLOY", TRUST).unwrap_err()).0,
        "EntityAlreadyExists"
    );
    assert_eq!(
        code(create("other", ALLOW_ALL_IAM).unwrap_err()).0,
        "MalformedPolicyDocument"
    );
    let got = ops::roles::get_role(
        &iam,
        &c,
        api::GetRoleRequest {
            role_name: "deploy".into(),
        },
    )
    .unwrap();
    assert_eq!(got.role.description.as_deref(), Some("deploys"));
    assert!(got.role.role_last_used.is_some());
    assert_eq!(
        ops::roles::list_roles(&iam, &c, Default::default())
            .unwrap()
            .roles
            .len(),
        1
    );
    let put = api::PutRolePolicyRequest {
        role_name: "deploy".into(),
        policy_name: "kms".into(),
        policy_document: ALLOW_ALL_IAM.into(),
    };
    ops::policies::put_role_policy(&iam, &c, put).unwrap();
    let got = ops::policies::get_role_policy(
        &iam,
        &c,
        api::GetRolePolicyRequest {
            role_name: "deploy".into(),
            policy_name: "kms".into(),
        },
    )
    .unwrap();
    assert_eq!(got.role_name, "deploy");
    let del_role = || {
        ops::roles::delete_role(
            &iam,
            &c,
            api::DeleteRoleRequest {
                role_name: "deploy".into(),
            },
        )
    };
    assert_eq!(code(del_role().unwrap_err()).0, "DeleteConflict");
    let listed = ops::policies::list_role_policies(
        &iam,
        &c,
        api::ListRolePoliciesRequest {
            role_name: "deploy".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(listed.policy_names, ["kms"]);
    ops::policies::delete_role_policy(
        &iam,
        &c,
        api::DeleteRolePolicyRequest {
            role_name: "deploy".into(),
            policy_name: "kms".into(),
        },
    )
    .unwrap();
    del_role().unwrap();
    let e = ops::roles::get_role(
        &iam,
        &c,
        api::GetRoleRequest {
            role_name: "deploy".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_aws_error().message,
        "The role with name deploy cannot be found."
    );
}

#[test]
fn other_accounts_are_invisible() {
    let (iam, _) = setup();
    create_user(&iam, &root(), "alice", None);
    let other = ctx(Principal::root(
        AccountId::parse("314159265358").unwrap(),
        "314159265358",
    ));
    let e = ops::users::get_user(
        &iam,
        &other,
        api::GetUserRequest {
            user_name: Some("alice".into()),
        },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "NoSuchEntity");
    assert!(ops::users::list_users(&iam, &other, Default::default())
        .unwrap()
        .users
        .is_empty());
}
