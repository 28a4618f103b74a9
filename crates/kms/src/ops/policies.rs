//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies (docs/kms.md §5, §7), and what
//! CreateKey needs of them — the default key policy text and the checks a policy document must
//! pass before it is stored.
//!
//! A policy is stored and returned *exactly* as given (AWS does not reformat it); only the
//! default policy is generated here, in AWS's pretty-printed form. Stored policies are
//! enforced by `authz`.

use crate::model::KeyRecord;
use crate::ops::common::load;
use crate::resolve::Accept;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::AccountId;
use kmsnap_policy::{Policy, PolicyError, PolicyKind};

/// The only policy name a key has (RAM-shared keys would add `AWS_RAM`; not modelled).
pub const DEFAULT_POLICY_NAME: &str = "default";

/// Key policy size quota (docs/kms.md §14: 32 KB), in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The default key policy of a customer managed key in `account`, byte for byte as AWS's
/// GetKeyPolicy returns it (docs/kms.md §7: `" : "` separators, two-space indent, `[ {`).
pub fn default_key_policy(account: AccountId) -> String {
    let root = Arn::iam_root(account.as_str());
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "{root}"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}

/// Checks a policy document given to CreateKey, PutKeyPolicy or ReplicateKey: within the size
/// quota, and a valid key policy for the policy language (a `Principal` in every statement,
/// known elements and condition operators …). Returns the parsed policy.
pub fn validate_policy(policy: &str) -> Result<Policy, KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "The key policy exceeds the maximum size of {MAX_POLICY_BYTES} bytes."
        )));
    }
    Policy::parse(policy, PolicyKind::Resource).map_err(|e| {
        KmsError::MalformedPolicy(match e {
            // KMS's wording for the most common mistake.
            PolicyError::MissingPrincipal { .. } => {
                "Policy contains a statement with no principal.".to_owned()
            }
            other => other.to_string(),
        })
    })
}

/// AWS's lockout safety check: the new policy must let the caller change the policy again
/// (kms:PutKeyPolicy on the key), unless `BypassPolicyLockoutSafetyCheck` is set.
pub fn lockout_check(
    kms: &Kms,
    ctx: &RequestContext,
    key_arn: &str,
    policy: &Policy,
    bypass: Option<bool>,
) -> Result<(), KmsError> {
    if bypass == Some(true) {
        return Ok(());
    }
    if crate::authz::policy_allows_caller(kms, ctx, policy, key_arn, "PutKeyPolicy")? {
        Ok(())
    } else {
        Err(KmsError::MalformedPolicy(
            "The new key policy will not allow you to update the key policy in the future.".into(),
        ))
    }
}

/// A PolicyName other than `default` names no policy.
fn check_policy_name(name: Option<&str>) -> Result<&'static str, KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(DEFAULT_POLICY_NAME),
        Some(_) => Err(KmsError::NotFound("No such policy exists".to_owned())),
    }
}

pub fn get_key_policy(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GetKeyPolicyRequest,
) -> Result<api::GetKeyPolicyResponse, KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "GetKeyPolicy")?;
    let name = check_policy_name(input.policy_name.as_deref())?;
    Ok(api::GetKeyPolicyResponse {
        policy: Some(key.record.policy.clone()),
        policy_name: Some(name.to_owned()),
    })
}

pub fn put_key_policy(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::PutKeyPolicyRequest,
) -> Result<(), KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "PutKeyPolicy")?;
    check_policy_name(input.policy_name.as_deref())?;
    let parsed = validate_policy(&input.policy)?;
    lockout_check(
        kms,
        ctx,
        &key.record.arn(),
        &parsed,
        input.bypass_policy_lockout_safety_check,
    )?;
    let policy = input.policy;
    crate::ops::common::update_record(kms, &key.record, |rec: &mut KeyRecord, _| {
        rec.policy = policy;
        Ok(())
    })
}

pub fn list_key_policies(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListKeyPoliciesRequest,
) -> Result<api::ListKeyPoliciesResponse, KmsError> {
    crate::ops::common::check_limit(input.limit, 1, 1000)?;
    load(kms, ctx, &input.key_id, Accept::KeyOnly, "ListKeyPolicies")?;
    // There is never a second page, so no marker can be valid.
    if input.marker.is_some() {
        return Err(KmsError::InvalidMarker);
    }
    Ok(api::ListKeyPoliciesResponse {
        policy_names: Some(vec![DEFAULT_POLICY_NAME.to_owned()]),
        next_marker: None,
        truncated: Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsupport::env::*;

    #[test]
    fn default_policy_is_byte_exact() {
        let acct = AccountId::parse("111122223333").unwrap();
        let expected = "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}";
        assert_eq!(default_key_policy(acct), expected);
        validate_policy(expected).unwrap();
    }

    #[test]
    fn get_put_list() {
        let env = Env::memory();
        let ctx = env.ctx();
        let id = env.create(&ctx);
        let got = get_key_policy(
            &env.kms,
            &ctx,
            api::GetKeyPolicyRequest {
                key_id: id.clone(),
                policy_name: None,
            },
        )
        .unwrap();
        assert_eq!(
            got.policy.as_deref(),
            Some(default_key_policy(ctx.principal.account).as_str())
        );
        assert_eq!(got.policy_name.as_deref(), Some("default"));

        let e = get_key_policy(
            &env.kms,
            &ctx,
            api::GetKeyPolicyRequest {
                key_id: id.clone(),
                policy_name: Some("other".into()),
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::NotFound(_)));

        // Stored exactly as given, whitespace and all.
        let custom = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}  ";
        put_key_policy(
            &env.kms,
            &ctx,
            api::PutKeyPolicyRequest {
                key_id: id.clone(),
                policy: custom.into(),
                ..Default::default()
            },
        )
        .unwrap();
        let got = get_key_policy(
            &env.kms,
            &ctx,
            api::GetKeyPolicyRequest {
                key_id: id.clone(),
                policy_name: Some("default".into()),
            },
        )
        .unwrap();
        assert_eq!(got.policy.as_deref(), Some(custom));

        for bad in [
            "not json",
            "[]",
            "{}",
            "{\"Statement\":[]}",
            "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\"}]}",
        ] {
            let e = put_key_policy(
                &env.kms,
                &ctx,
                api::PutKeyPolicyRequest {
                    key_id: id.clone(),
                    policy: bad.into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert!(matches!(e, KmsError::MalformedPolicy(_)), "{bad}: {e:?}");
        }
        let huge = format!(
            "{{\"Statement\":{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Sid\":\"{}\"}}}}",
            "x".repeat(MAX_POLICY_BYTES)
        );
        let e = put_key_policy(
            &env.kms,
            &ctx,
            api::PutKeyPolicyRequest {
                key_id: id.clone(),
                policy: huge,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::LimitExceeded(_)));

        let l = list_key_policies(
            &env.kms,
            &ctx,
            api::ListKeyPoliciesRequest {
                key_id: id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(l.policy_names, Some(vec!["default".to_owned()]));
        assert_eq!(l.truncated, Some(false));
    }
}
