//! All integration tests of kmsnap-policy: AWS documentation examples (KMS developer guide,
//! IAM user guide) and properties of the evaluation logic.

use kmsnap_policy::{
    evaluate, ConditionContext, DecisionEffect, Policy, PolicyError, PolicyKind, PolicySource,
    PrincipalInfo, PrincipalMatch, Request,
};
use proptest::prelude::*;
use serde_json::json;

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn resource(v: serde_json::Value) -> Policy {
    Policy::parse(&v.to_string(), PolicyKind::Resource).unwrap()
}
fn identity(v: serde_json::Value) -> Policy {
    Policy::parse(&v.to_string(), PolicyKind::Identity).unwrap()
}
fn user(acct: &str, name: &str) -> PrincipalInfo {
    PrincipalInfo::from_arn(&format!("arn:aws:iam::{acct}:user/{name}")).unwrap()
}
fn session(acct: &str, role: &str, s: &str) -> PrincipalInfo {
    PrincipalInfo::from_arn(&format!("arn:aws:sts::{acct}:assumed-role/{role}/{s}")).unwrap()
}
fn req<'a>(p: PrincipalInfo, action: &'a str, ctx: ConditionContext) -> Request<'a> {
    Request {
        principal: p,
        action,
        resource: KEY,
        context: ctx,
    }
}
fn effect(p: &Policy, r: &Request<'_>) -> DecisionEffect {
    p.evaluate(r).effect
}
use DecisionEffect::{Allow, ExplicitDeny, ImplicitDeny};

// ---------------------------------------------------------------- KMS developer guide

/// The default key policy (docs/kms.md §7): the account root may do everything; other principals
/// of the account match only as a delegation to the account.
#[test]
fn default_key_policy() {
    let p = Policy::parse(
        r#"{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    assert_eq!(p.id(), Some("key-default-1"));
    let root = p.evaluate(&req(
        PrincipalInfo::root(ACCT),
        "kms:PutKeyPolicy",
        ConditionContext::new(),
    ));
    assert_eq!(root.effect, Allow);
    assert_eq!(root.principal_match, Some(PrincipalMatch::Exact));
    assert_eq!(
        root.statement.unwrap().sid.as_deref(),
        Some("Enable IAM User Permissions")
    );
    let alice = p.evaluate(&req(
        user(ACCT, "Alice"),
        "kms:Encrypt",
        ConditionContext::new(),
    ));
    assert_eq!(alice.effect, Allow);
    assert_eq!(alice.principal_match, Some(PrincipalMatch::AccountRoot));
    assert!(alice.principal_match.unwrap().is_account_delegation());
    let sess = p.evaluate(&req(
        session(ACCT, "R", "s"),
        "kms:Decrypt",
        ConditionContext::new(),
    ));
    assert_eq!(sess.principal_match, Some(PrincipalMatch::AccountRoot));
    let stranger = req(
        user(OTHER, "Mallory"),
        "kms:Encrypt",
        ConditionContext::new(),
    );
    let d = p.evaluate(&stranger);
    assert_eq!(d.effect, ImplicitDeny);
    assert_eq!(
        d.access_denied_message(&stranger, PolicySource::ResourceBased)
            .unwrap(),
        format!(
            "User: arn:aws:iam::{OTHER}:user/Mallory is not authorized to perform: kms:Encrypt \
             on resource: {KEY} because no resource-based policy allows the kms:Encrypt action"
        )
    );
    // A bare account id is the same principal as the root ARN.
    let bare = resource(
        json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": ACCT},
        "Action": "kms:*", "Resource": "*"}}),
    );
    assert_eq!(
        effect(
            &bare,
            &req(user(ACCT, "Alice"), "kms:Encrypt", ConditionContext::new())
        ),
        Allow
    );
}

/// The console's key policy with key administrators, key users and the persistent-resource
/// (grant) statement, from "Default key policy" in the KMS developer guide.
fn console_policy() -> Policy {
    resource(json!({
      "Id": "key-consolepolicy-3",
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSAdminRole"},
         "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                    "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                    "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
         "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSUserRole"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:DescribeKey"],
         "Resource": "*"},
        {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSUserRole"},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
         "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
      ]
    }))
}

#[test]
fn key_administrators_and_users() {
    let p = console_policy();
    let admin = || session(ACCT, "KMSAdminRole", "alice");
    let usr = || session(ACCT, "KMSUserRole", "app");
    let none = ConditionContext::new;

    let d = p.evaluate(&req(admin(), "kms:ScheduleKeyDeletion", none()));
    assert_eq!(
        (d.effect, d.principal_match),
        (Allow, Some(PrincipalMatch::Exact))
    );
    assert_eq!(
        d.statement.unwrap().sid.as_deref(),
        Some("Allow access for Key Administrators")
    );
    // The admin may not use the key except through the account delegation.
    let d = p.evaluate(&req(admin(), "kms:Encrypt", none()));
    assert_eq!(d.principal_match, Some(PrincipalMatch::AccountRoot));

    for a in [
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "KMS:decrypt",
    ] {
        let d = p.evaluate(&req(usr(), a, none()));
        assert_eq!(d.principal_match, Some(PrincipalMatch::Exact), "{a}");
    }
    let d = p.evaluate(&req(usr(), "kms:PutKeyPolicy", none()));
    assert_eq!(d.principal_match, Some(PrincipalMatch::AccountRoot));

    // kms:GrantIsForAWSResource: only grants made by an integrated service.
    let grant = |v: Option<bool>| {
        let mut c = none();
        if let Some(v) = v {
            c.insert("kms:GrantIsForAWSResource", v);
        }
        p.evaluate(&req(usr(), "kms:CreateGrant", c))
            .principal_match
    };
    assert_eq!(grant(Some(true)), Some(PrincipalMatch::Exact));
    assert_eq!(grant(Some(false)), Some(PrincipalMatch::AccountRoot));
    assert_eq!(grant(None), Some(PrincipalMatch::AccountRoot));

    // Another account's principal: nothing.
    assert_eq!(
        effect(
            &p,
            &req(session(OTHER, "KMSUserRole", "app"), "kms:Encrypt", none())
        ),
        ImplicitDeny
    );
}

/// Role ARNs in the policy may carry a path; sessions only carry the role name.
#[test]
fn role_with_path_matches_its_sessions() {
    let p = resource(json!({"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111122223333:role/service/Builder"]},
        "Action": "kms:Decrypt", "Resource": "*"}]}));
    assert_eq!(
        effect(
            &p,
            &req(
                session(ACCT, "Builder", "x"),
                "kms:Decrypt",
                ConditionContext::new()
            )
        ),
        Allow
    );
    assert_eq!(
        effect(
            &p,
            &req(
                session(ACCT, "Other", "x"),
                "kms:Decrypt",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
    assert_eq!(
        effect(
            &p,
            &req(
                user(ACCT, "Builder"),
                "kms:Decrypt",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
    // An assumed-role ARN matches that session only.
    let s = resource(json!({"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/Builder/ci"},
        "Action": "kms:Decrypt", "Resource": "*"}]}));
    assert_eq!(
        effect(
            &s,
            &req(
                session(ACCT, "Builder", "ci"),
                "kms:Decrypt",
                ConditionContext::new()
            )
        ),
        Allow
    );
    assert_eq!(
        effect(
            &s,
            &req(
                session(ACCT, "Builder", "dev"),
                "kms:Decrypt",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
}

/// IAM User Guide, "Session policies": a resource-based policy that names the session ARN
/// grants to the session directly (session policies do not limit it), one that names the role
/// ARN grants to the role (they do). The match kind tells the caller which.
#[test]
fn session_arn_and_role_arn_matches_differ() {
    let p = resource(json!({"Statement": [
        {"Sid": "session", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/Builder/ci"},
         "Action": "kms:Decrypt", "Resource": "*"},
        {"Sid": "role", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/Builder"},
         "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*"}]}));
    let none = ConditionContext::new;
    let d = p.evaluate(&req(session(ACCT, "Builder", "ci"), "kms:Decrypt", none()));
    assert_eq!(d.principal_match, Some(PrincipalMatch::Session));
    assert_eq!(d.statement.unwrap().sid.as_deref(), Some("session"));
    let d = p.evaluate(&req(session(ACCT, "Builder", "ci"), "kms:Encrypt", none()));
    assert_eq!(d.principal_match, Some(PrincipalMatch::Exact));
    let d = p.evaluate(&req(
        session(ACCT, "Builder", "other"),
        "kms:Decrypt",
        none(),
    ));
    assert_eq!(d.principal_match, Some(PrincipalMatch::Exact));
    assert!(!PrincipalMatch::Session.is_account_delegation());
}

/// Session policies name themselves in AccessDenied messages as AWS does.
#[test]
fn session_policy_messages() {
    let p = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}));
    let r = req(
        session(ACCT, "Builder", "ci"),
        "kms:Encrypt",
        ConditionContext::new(),
    );
    let d = evaluate(&[(&p, PolicySource::Session)], &r);
    assert_eq!(
        d.access_denied_message(&r, PolicySource::Session).unwrap(),
        format!(
            "User: arn:aws:sts::{ACCT}:assumed-role/Builder/ci is not authorized to perform: \
             kms:Encrypt on resource: {KEY} with an explicit deny in a session policy"
        )
    );
    let r = req(
        session(ACCT, "Builder", "ci"),
        "kms:Decrypt",
        ConditionContext::new(),
    );
    let d = evaluate(&[(&p, PolicySource::Session)], &r);
    assert_eq!(
        d.access_denied_message(&r, PolicySource::Session).unwrap(),
        format!(
            "User: arn:aws:sts::{ACCT}:assumed-role/Builder/ci is not authorized to perform: \
             kms:Decrypt on resource: {KEY} because no session policy allows the kms:Decrypt action"
        )
    );
}

/// "Allowing users in other accounts to use a KMS key": the key policy names the other
/// account; the match is a delegation (the other account's IAM must allow too).
#[test]
fn cross_account_statement() {
    let p = resource(json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow an external account to use this KMS key", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"}]}));
    let d = p.evaluate(&req(
        user(OTHER, "Bob"),
        "kms:Encrypt",
        ConditionContext::new(),
    ));
    assert_eq!(
        (d.effect, d.principal_match),
        (Allow, Some(PrincipalMatch::AccountRoot))
    );
    assert_eq!(d.statement.unwrap().index, 1);
    let d = p.evaluate(&req(
        PrincipalInfo::root(OTHER),
        "kms:Decrypt",
        ConditionContext::new(),
    ));
    assert_eq!(d.principal_match, Some(PrincipalMatch::Exact));
    assert_eq!(
        effect(
            &p,
            &req(
                user(OTHER, "Bob"),
                "kms:ScheduleKeyDeletion",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
    assert_eq!(
        effect(
            &p,
            &req(
                user("999999999999", "Eve"),
                "kms:Encrypt",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
}

/// The AWS managed key policy for aws/ebs (docs/kms.md §7).
#[test]
fn aws_managed_ebs_key_policy() {
    let p = resource(json!({
      "Version": "2012-10-17", "Id": "auto-ebs-2",
      "Statement": [
        {"Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
         "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:CreateGrant", "kms:DescribeKey"],
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com",
                                         "kms:CallerAccount": "111122223333"}}},
        {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
         "Resource": "*"}]}));
    let ctx = |via: Option<&str>, caller: &str| {
        let mut c = ConditionContext::new().with("kms:CallerAccount", caller);
        if let Some(v) = via {
            c.insert("kms:ViaService", v);
        }
        c
    };
    // Direct call from a user of the account: denied.
    assert_eq!(
        effect(
            &p,
            &req(user(ACCT, "Alice"), "kms:Encrypt", ctx(None, ACCT))
        ),
        ImplicitDeny
    );
    // Through EC2: allowed, by the wildcard statement (no IAM delegation needed).
    let d = p.evaluate(&req(
        user(ACCT, "Alice"),
        "kms:GenerateDataKeyWithoutPlaintext",
        ctx(Some("ec2.us-west-2.amazonaws.com"), ACCT),
    ));
    assert_eq!(
        (d.effect, d.principal_match),
        (Allow, Some(PrincipalMatch::Wildcard))
    );
    // Another account through EC2: denied.
    assert_eq!(
        effect(
            &p,
            &req(
                user(OTHER, "Bob"),
                "kms:Decrypt",
                ctx(Some("ec2.us-west-2.amazonaws.com"), OTHER)
            )
        ),
        ImplicitDeny
    );
    // Another Region's EC2: denied.
    assert_eq!(
        effect(
            &p,
            &req(
                user(ACCT, "Alice"),
                "kms:Decrypt",
                ctx(Some("ec2.us-east-1.amazonaws.com"), ACCT)
            )
        ),
        ImplicitDeny
    );
    // Nobody may manage it.
    for a in [
        "kms:DisableKey",
        "kms:ScheduleKeyDeletion",
        "kms:PutKeyPolicy",
        "kms:EnableKeyRotation",
    ] {
        assert_eq!(
            effect(&p, &req(PrincipalInfo::root(ACCT), a, ctx(None, ACCT))),
            ImplicitDeny,
            "{a}"
        );
    }
    assert_eq!(
        effect(
            &p,
            &req(
                user(ACCT, "Alice"),
                "kms:GetKeyRotationStatus",
                ctx(None, ACCT)
            )
        ),
        Allow
    );
}

/// kms:EncryptionContext:<key> (KMS developer guide, "kms:EncryptionContext:context-key").
#[test]
fn encryption_context_key_condition() {
    let p = resource(json!({"Statement": {"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/RoleForExampleApp"},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}}}}));
    let who = || session(ACCT, "RoleForExampleApp", "s");
    let with_ec = |pairs: &[(&str, &str)]| {
        let mut c = ConditionContext::new();
        c.insert_encryption_context(pairs.iter().copied());
        c
    };
    assert_eq!(
        effect(
            &p,
            &req(who(), "kms:Decrypt", with_ec(&[("AppName", "ExampleApp")]))
        ),
        Allow
    );
    assert_eq!(
        effect(
            &p,
            &req(
                who(),
                "kms:Decrypt",
                with_ec(&[("AppName", "ExampleApp"), ("FilePath", "/x")])
            )
        ),
        Allow
    );
    // Values are case-sensitive under StringEquals.
    assert_eq!(
        effect(
            &p,
            &req(who(), "kms:Decrypt", with_ec(&[("AppName", "exampleapp")]))
        ),
        ImplicitDeny
    );
    assert_eq!(
        effect(&p, &req(who(), "kms:Decrypt", with_ec(&[]))),
        ImplicitDeny
    );
    // StringLike with wildcards.
    let like = resource(json!({"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringLike": {"kms:EncryptionContext:aws:ebs:id": "vol-*"}}}}));
    assert_eq!(
        effect(
            &like,
            &req(
                user(ACCT, "a"),
                "kms:Encrypt",
                with_ec(&[("aws:ebs:id", "vol-0abc")])
            )
        ),
        Allow
    );
    assert_eq!(
        effect(
            &like,
            &req(
                user(ACCT, "a"),
                "kms:Encrypt",
                with_ec(&[("aws:ebs:id", "snap-0abc")])
            )
        ),
        ImplicitDeny
    );
}

/// ForAnyValue / ForAllValues on kms:EncryptionContextKeys, including the documented
/// pitfall that ForAllValues is true for an empty encryption context.
#[test]
fn encryption_context_keys_set_operators() {
    let all = resource(json!({"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]}}}}));
    let any = resource(json!({"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"}}}}));
    let guarded = resource(json!({"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]},
                      "Null": {"kms:EncryptionContextKeys": "false"}}}}));
    let ec = |keys: &[&str]| {
        let mut c = ConditionContext::new();
        c.insert_encryption_context(keys.iter().map(|k| (*k, "v")));
        c
    };
    let r = |c| req(user(ACCT, "u"), "kms:Encrypt", c);
    assert_eq!(effect(&all, &r(ec(&["AppName"]))), Allow);
    assert_eq!(effect(&all, &r(ec(&["AppName", "FilePath"]))), Allow);
    assert_eq!(effect(&all, &r(ec(&["AppName", "Other"]))), ImplicitDeny);
    assert_eq!(effect(&all, &r(ec(&[]))), Allow);
    assert_eq!(effect(&all, &r(ConditionContext::new())), Allow);
    assert_eq!(effect(&any, &r(ec(&["AppName", "Other"]))), Allow);
    assert_eq!(effect(&any, &r(ec(&["Other"]))), ImplicitDeny);
    assert_eq!(effect(&any, &r(ec(&[]))), ImplicitDeny);
    assert_eq!(effect(&any, &r(ConditionContext::new())), ImplicitDeny);
    assert_eq!(effect(&guarded, &r(ec(&[]))), ImplicitDeny);
    assert_eq!(effect(&guarded, &r(ec(&["FilePath"]))), Allow);
}

/// kms:GrantOperations with ForAllValues (grants may only give these operations).
#[test]
fn grant_operations() {
    let p = resource(json!({"Statement": {"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:user/ExampleUser"},
        "Action": "kms:CreateGrant", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}}}}));
    let ops = |o: Vec<&str>| ConditionContext::new().with("kms:GrantOperations", o);
    let u = || user(ACCT, "ExampleUser");
    assert_eq!(
        effect(&p, &req(u(), "kms:CreateGrant", ops(vec!["Decrypt"]))),
        Allow
    );
    assert_eq!(
        effect(
            &p,
            &req(u(), "kms:CreateGrant", ops(vec!["Decrypt", "RetireGrant"]))
        ),
        ImplicitDeny
    );
}

// ---------------------------------------------------------------- IAM user guide

#[test]
fn identity_policy_allow_decrypt_on_key_arn() {
    let p = identity(
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "kms:Decrypt", "Resource": KEY}}),
    );
    assert_eq!(
        effect(
            &p,
            &req(user(ACCT, "a"), "kms:Decrypt", ConditionContext::new())
        ),
        Allow
    );
    assert_eq!(
        p.evaluate(&req(
            user(ACCT, "a"),
            "kms:Decrypt",
            ConditionContext::new()
        ))
        .principal_match,
        Some(PrincipalMatch::Identity)
    );
    assert_eq!(
        effect(
            &p,
            &req(user(ACCT, "a"), "kms:Encrypt", ConditionContext::new())
        ),
        ImplicitDeny
    );
    let other_key = Request {
        resource: "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
        ..req(user(ACCT, "a"), "kms:Decrypt", ConditionContext::new())
    };
    assert_eq!(effect(&p, &other_key), ImplicitDeny);
    // Wildcards in the resource ARN.
    let w = identity(json!({"Statement": {"Effect": "Allow", "Action": "kms:*",
        "Resource": "arn:aws:kms:*:111122223333:key/*"}}));
    assert_eq!(
        effect(
            &w,
            &req(user(ACCT, "a"), "kms:Encrypt", ConditionContext::new())
        ),
        Allow
    );
    assert_eq!(
        effect(
            &w,
            &Request {
                resource: "arn:aws:kms:us-west-2:111122223333:alias/x",
                ..req(user(ACCT, "a"), "kms:Encrypt", ConditionContext::new())
            }
        ),
        ImplicitDeny
    );
}

/// "Deny everything except …" with NotAction (IAM: `NotAction` with `Deny`).
#[test]
fn identity_policy_deny_with_not_action() {
    let p = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "DenyAllExceptKmsRead", "Effect": "Deny",
         "NotAction": ["kms:Describe*", "kms:List*", "kms:Get*"], "Resource": "*"}]}));
    let u = || user(ACCT, "a");
    assert_eq!(
        effect(&p, &req(u(), "kms:DescribeKey", ConditionContext::new())),
        Allow
    );
    assert_eq!(
        effect(&p, &req(u(), "kms:ListAliases", ConditionContext::new())),
        Allow
    );
    let d = p.evaluate(&req(u(), "kms:Encrypt", ConditionContext::new()));
    assert_eq!(d.effect, ExplicitDeny);
    assert_eq!(
        d.statement.as_ref().unwrap().sid.as_deref(),
        Some("DenyAllExceptKmsRead")
    );
    let r = req(u(), "kms:Encrypt", ConditionContext::new());
    assert_eq!(
        d.access_denied_message(&r, PolicySource::ResourceBased)
            .unwrap(),
        format!(
            "User: arn:aws:iam::{ACCT}:user/a is not authorized to perform: kms:Encrypt on \
                 resource: {KEY} with an explicit deny in an identity-based policy"
        )
    );
}

/// IAM user guide, NotPrincipal with Deny: deny everyone except Bob (the account must be
/// listed too, or Bob is denied through it).
#[test]
fn not_principal_in_a_deny() {
    let with_account = resource(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": [
            "arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]},
         "Action": "kms:*", "Resource": "*"}]}));
    let without_account = resource(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:user/Bob"},
         "Action": "kms:*", "Resource": "*"}]}));
    let r = |p| req(p, "kms:Decrypt", ConditionContext::new());
    assert_eq!(effect(&with_account, &r(user(OTHER, "Bob"))), Allow);
    assert_eq!(effect(&with_account, &r(PrincipalInfo::root(OTHER))), Allow);
    assert_eq!(
        effect(&with_account, &r(user(OTHER, "Alice"))),
        ExplicitDeny
    );
    assert_eq!(effect(&with_account, &r(user(ACCT, "Bob"))), ExplicitDeny);
    assert_eq!(
        effect(&without_account, &r(user(OTHER, "Bob"))),
        ExplicitDeny
    );
    // Assumed-role form without a session name exempts every session of the role.
    let roles = resource(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": [
            "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role",
            "arn:aws:iam::444455556666:root"]},
         "Action": "kms:*", "Resource": "*"}]}));
    assert_eq!(
        effect(
            &roles,
            &r(session(OTHER, "cross-account-read-only-role", "x"))
        ),
        Allow
    );
    assert_eq!(
        effect(&roles, &r(session(OTHER, "admin", "x"))),
        ExplicitDeny
    );
}

/// IAM user guide: deny access based on the source IP (aws:SourceIp with NotIpAddress).
#[test]
fn source_ip_deny() {
    let p = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24", "2001:db8::/32"]},
                       "Bool": {"aws:ViaAWSService": "false"}}}]}));
    let ctx = |ip: &str, via: bool| {
        ConditionContext::new()
            .with("aws:SourceIp", ip)
            .with("aws:ViaAWSService", via)
    };
    let r = |c| req(user(ACCT, "a"), "kms:Encrypt", c);
    assert_eq!(effect(&p, &r(ctx("192.0.2.10", false))), Allow);
    assert_eq!(effect(&p, &r(ctx("2001:db8::10", false))), Allow);
    assert_eq!(effect(&p, &r(ctx("198.51.100.1", false))), ExplicitDeny);
    assert_eq!(effect(&p, &r(ctx("198.51.100.1", true))), Allow);
}

/// aws:CurrentTime window (IAM user guide "allows access within specific dates").
#[test]
fn current_time_window() {
    let p = identity(
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "kms:*", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                      "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}}}),
    );
    let at = |t: &str| {
        req(
            user(ACCT, "a"),
            "kms:Encrypt",
            ConditionContext::new().with("aws:CurrentTime", t),
        )
    };
    assert_eq!(effect(&p, &at("2020-05-01T12:00:00Z")), Allow);
    assert_eq!(effect(&p, &at("2020-07-01T00:00:00Z")), ImplicitDeny);
    assert_eq!(
        effect(
            &p,
            &req(user(ACCT, "a"), "kms:Encrypt", ConditionContext::new())
        ),
        ImplicitDeny
    );
}

/// aws:PrincipalArn / aws:PrincipalAccount are derived from the caller when absent.
#[test]
fn derived_global_keys() {
    let p = resource(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*",
        "Resource": "*", "Condition": {
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Team*"},
            "StringEquals": {"aws:PrincipalAccount": "111122223333"}}}}),
    );
    let r = |p| req(p, "kms:Encrypt", ConditionContext::new());
    assert_eq!(effect(&p, &r(session(ACCT, "TeamA", "s"))), Allow);
    assert_eq!(effect(&p, &r(session(ACCT, "Other", "s"))), ImplicitDeny);
    assert_eq!(effect(&p, &r(session(OTHER, "TeamA", "s"))), ImplicitDeny);
}

#[test]
fn service_principal() {
    let p = resource(json!({"Statement": {"Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*", "Resource": "*"}}));
    assert_eq!(
        effect(
            &p,
            &req(
                PrincipalInfo::service("cloudtrail.amazonaws.com"),
                "kms:GenerateDataKey",
                ConditionContext::new()
            )
        ),
        Allow
    );
    assert_eq!(
        effect(
            &p,
            &req(
                PrincipalInfo::service("ec2.amazonaws.com"),
                "kms:GenerateDataKey",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
    assert_eq!(
        effect(
            &p,
            &req(
                PrincipalInfo::root(ACCT),
                "kms:GenerateDataKey",
                ConditionContext::new()
            )
        ),
        ImplicitDeny
    );
}

/// A key policy plus an IAM policy evaluated together: an IAM deny beats a key-policy allow.
#[test]
fn multiple_policies() {
    let key = console_policy();
    let iam = identity(
        json!({"Statement": {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}}),
    );
    let r = req(
        session(ACCT, "KMSUserRole", "s"),
        "kms:Decrypt",
        ConditionContext::new(),
    );
    let d = evaluate(
        &[
            (&key, PolicySource::ResourceBased),
            (&iam, PolicySource::IdentityBased),
        ],
        &r,
    );
    assert_eq!(d.effect, ExplicitDeny);
    let s = d.statement.unwrap();
    assert_eq!(
        (s.policy, s.source, s.index),
        (1, PolicySource::IdentityBased, 0)
    );
    assert_eq!(
        s.to_string(),
        "identity-based policy #1 statement \"NoDecrypt\""
    );
}

// ---------------------------------------------------------------- validation

#[test]
fn malformed_documents() {
    let res = |s: &str| Policy::parse(s, PolicyKind::Resource);
    let id = |s: &str| Policy::parse(s, PolicyKind::Identity);
    assert!(matches!(
        res("{not json"),
        Err(PolicyError::InvalidJson { .. })
    ));
    assert!(matches!(res("[]"), Err(PolicyError::InvalidType { .. })));
    assert!(matches!(
        res(r#"{"Version":"2012-10-18","Statement":[]}"#),
        Err(PolicyError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        res(r#"{"Version":"2012-10-17"}"#),
        Err(PolicyError::MissingStatement)
    ));
    let st = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
    assert!(matches!(
        res(&st(r#"{"Principal":"*","Action":"kms:*","Resource":"*"}"#)),
        Err(PolicyError::MissingEffect { statement: 1 })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}"#
        )),
        Err(PolicyError::InvalidEffect { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}"#
        )),
        Err(PolicyError::ActionAndNotAction { .. })
    ));
    assert!(matches!(
        res(&st(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#)),
        Err(PolicyError::MissingAction { .. })
    ));
    let no_principal = res(&st(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#));
    assert!(matches!(
        no_principal,
        Err(PolicyError::MissingPrincipal { statement: 1 })
    ));
    assert!(no_principal
        .unwrap_err()
        .to_string()
        .starts_with("Policy contains a statement with no principal"));
    assert!(matches!(
        id(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#
        )),
        Err(PolicyError::PrincipalNotAllowed { .. })
    ));
    assert!(matches!(
        id(&st(r#"{"Effect":"Allow","Action":"kms:*"}"#)),
        Err(PolicyError::MissingResource { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}"#
        )),
        Err(PolicyError::PrincipalAndNotPrincipal { .. })
    ));
    for bad in [
        r#""arn:aws:iam::111122223333:user/*""#,
        r#""1111""#,
        r#""arn:aws:iam::111122223333:group/g""#,
        r#""bob""#,
    ] {
        let doc = st(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":{bad}}},"Action":"kms:*","Resource":"*"}}"#
        ));
        let e = res(&doc).unwrap_err();
        assert!(matches!(e, PolicyError::InvalidPrincipal { .. }), "{bad}");
        assert!(e
            .to_string()
            .starts_with("Policy contains a statement with one or more invalid principals"));
    }
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:*","Resource":"*"}"#
        )),
        Err(PolicyError::InvalidPrincipal { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}"#
        )),
        Err(PolicyError::InvalidAction { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}"#
        )),
        Err(PolicyError::EmptyElement { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/1"}"#
        )),
        Err(PolicyError::InvalidResource { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}"#
        )),
        Err(PolicyError::UnknownConditionOperator { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"a:b":"ten"}}}"#
        )),
        Err(PolicyError::InvalidConditionValue { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}"#
        )),
        Err(PolicyError::InvalidConditionValue { .. })
    ));
    assert!(matches!(
        res(&st(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Bogus":1}"#
        )),
        Err(PolicyError::UnknownElement { .. })
    ));
    assert!(matches!(
        id(
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"kms:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#
        ),
        Err(PolicyError::DuplicateSid { .. })
    ));
    // Accepted forms: single statement object, no Version, 2008 version, numeric/bool values.
    assert!(res(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:root"]},"Action":["kms:*"],"Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10}}}}"#).is_ok());
    assert!(res(r#"{"Version":"2008-10-17","Statement":[]}"#).is_ok());
}

// ---------------------------------------------------------------- properties

const ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
];
const PATTERNS: &[&str] = &[
    "kms:*",
    "kms:Encrypt",
    "kms:De*",
    "kms:*Key*",
    "*",
    "kms:?ecrypt",
];
const PRINCIPALS: &[&str] = &[
    "*",
    "111122223333",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::444455556666:root",
    "arn:aws:iam::111122223333:user/Alice",
    "arn:aws:iam::111122223333:role/R",
];

fn arb_statement() -> impl Strategy<Value = serde_json::Value> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(PATTERNS.to_vec(), 1..3),
        proptest::sample::subsequence(PRINCIPALS.to_vec(), 1..3),
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just("ec2.us-west-2.amazonaws.com"),
            Just("rds.us-west-2.amazonaws.com")
        ]),
    )
        .prop_map(
            |(allow, not_action, actions, principals, not_principal, via)| {
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
                s.insert(
                    (if not_action { "NotAction" } else { "Action" }).into(),
                    json!(actions),
                );
                s.insert(
                    (if not_principal {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    })
                    .into(),
                    json!({"AWS": principals}),
                );
                s.insert("Resource".into(), json!("*"));
                if let Some(v) = via {
                    s.insert(
                        "Condition".into(),
                        json!({"StringEquals": {"kms:ViaService": v}}),
                    );
                }
                serde_json::Value::Object(s)
            },
        )
}

fn arb_request() -> impl Strategy<Value = (PrincipalInfo, &'static str, ConditionContext)> {
    (
        prop_oneof![
            Just(PrincipalInfo::root(ACCT)),
            Just(user(ACCT, "Alice")),
            Just(user(ACCT, "Bob")),
            Just(session(ACCT, "R", "s")),
            Just(user(OTHER, "Carol")),
            Just(PrincipalInfo::root(OTHER)),
        ],
        proptest::sample::select(ACTIONS.to_vec()),
        proptest::option::of(Just("ec2.us-west-2.amazonaws.com")),
    )
        .prop_map(|(p, a, via)| {
            let mut c = ConditionContext::new();
            if let Some(v) = via {
                c.insert("kms:ViaService", v);
            }
            (p, a, c)
        })
}

fn policy_of(statements: &[serde_json::Value]) -> Policy {
    resource(json!({"Version": "2012-10-17", "Statement": statements}))
}

proptest! {
    #[test]
    fn statement_order_does_not_matter(
        stmts in proptest::collection::vec(arb_statement(), 0..6),
        perm in any::<proptest::sample::Index>(),
        (p, a, c) in arb_request(),
    ) {
        let r = req(p, a, c);
        let d1 = policy_of(&stmts).evaluate(&r);
        let mut shuffled = stmts.clone();
        if !shuffled.is_empty() {
            let k = perm.index(shuffled.len());
            shuffled.rotate_left(k);
            shuffled.reverse();
        }
        let d2 = policy_of(&shuffled).evaluate(&r);
        prop_assert_eq!(d1.effect, d2.effect);
        prop_assert_eq!(d1.principal_match, d2.principal_match);
    }

    #[test]
    fn adding_a_deny_never_grants(
        stmts in proptest::collection::vec(arb_statement(), 0..6),
        extra in arb_statement(),
        pos in any::<proptest::sample::Index>(),
        (p, a, c) in arb_request(),
    ) {
        let r = req(p, a, c);
        let before = policy_of(&stmts).evaluate(&r);
        let mut deny = extra;
        deny["Effect"] = json!("Deny");
        let mut more = stmts.clone();
        more.insert(pos.index(stmts.len() + 1), deny);
        let after = policy_of(&more).evaluate(&r);
        if after.is_allowed() {
            prop_assert!(before.is_allowed());
            prop_assert_eq!(before.principal_match, after.principal_match);
        }
    }

    #[test]
    fn not_action_is_the_complement_of_action(
        patterns in proptest::sample::subsequence(PATTERNS.to_vec(), 1..4),
        (p, a, c) in arb_request(),
    ) {
        let with = |elem: &str| {
            let mut s = serde_json::Map::new();
            s.insert("Effect".into(), json!("Allow"));
            s.insert("Principal".into(), json!("*"));
            s.insert(elem.into(), json!(patterns));
            s.insert("Resource".into(), json!("*"));
            policy_of(&[serde_json::Value::Object(s)])
        };
        let r = req(p, a, c);
        prop_assert_ne!(with("Action").evaluate(&r).is_allowed(), with("NotAction").evaluate(&r).is_allowed());
    }

    #[test]
    fn not_principal_is_the_complement_for_direct_names(
        names in proptest::sample::subsequence(vec![
            "arn:aws:iam::111122223333:user/Alice", "arn:aws:iam::111122223333:user/Bob",
            "arn:aws:iam::444455556666:user/Carol"], 1..3),
        (p, a, c) in arb_request(),
    ) {
        // Listing the accounts too makes NotPrincipal the exact complement of Principal
        // for users (AWS's documented pattern).
        let mut not_list: Vec<&str> = names.clone();
        not_list.extend(["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]);
        let pos = policy_of(&[json!({"Effect": "Allow", "Principal": {"AWS": names}, "Action": "*", "Resource": "*"})]);
        let neg = policy_of(&[json!({"Effect": "Allow", "NotPrincipal": {"AWS": not_list}, "Action": "*", "Resource": "*"})]);
        prop_assume!(matches!(p.kind, kmsnap_policy::PrincipalKind::User));
        let r = req(p, a, c);
        prop_assert_ne!(pos.evaluate(&r).is_allowed(), neg.evaluate(&r).is_allowed());
    }

    #[test]
    fn an_explicit_deny_anywhere_wins(
        key_stmts in proptest::collection::vec(arb_statement(), 0..5),
        iam_stmts in proptest::collection::vec(arb_statement(), 0..5),
        in_iam in any::<bool>(),
        pos in any::<proptest::sample::Index>(),
        (p, a, c) in arb_request(),
    ) {
        let r = req(p, a, c);
        let deny = json!({"Effect": "Deny", "Principal": "*", "Action": a, "Resource": "*"});
        let (mut k, mut i) = (key_stmts.clone(), iam_stmts.clone());
        let strip = |v: &mut Vec<serde_json::Value>| for s in v.iter_mut() {
            if let Some(o) = s.as_object_mut() { o.remove("Principal"); o.remove("NotPrincipal"); }
        };
        strip(&mut i);
        if in_iam {
            let mut d = deny.clone();
            if let Some(o) = d.as_object_mut() { o.remove("Principal"); }
            i.insert(pos.index(i.len() + 1), d);
        } else {
            k.insert(pos.index(k.len() + 1), deny);
        }
        let kp = policy_of(&k);
        let ip = identity(json!({"Statement": i}));
        let d = evaluate(&[(&kp, PolicySource::ResourceBased), (&ip, PolicySource::IdentityBased)], &r);
        prop_assert_eq!(d.effect, ExplicitDeny);
    }
}
