//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies (spec/kms.md §5, §7), and what
//! CreateKey needs of them — the default key policy text and the checks a policy document must
//! pass before it is stored.
//!
//! A policy is stored and returned *exactly* as given (AWS does not reformat it); only the
//! default policy is generated here, in AWS's pretty-printed form. Enforcement of stored
//! policies belongs to the access-control issue (`access.rs`).

use crate::model::KeyRecord;
use crate::ops::common::load;
use crate::resolve::Accept;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_auth::RequestContext;
use kmsnap_core::AccountId;

/// The only policy name a key has (RAM-shared keys would add `AWS_RAM`; not modelled).
pub const DEFAULT_POLICY_NAME: &str = "default";

/// Key policy size quota (spec/kms.md §14: 32 KB), in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The default key policy of a customer managed key in `account`, byte for byte as AWS's
/// GetKeyPolicy returns it (spec/kms.md §7: `" : "` separators, two-space indent, `[ {`).
pub fn default_key_policy(account: AccountId) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}

/// Checks a policy document given to CreateKey, PutKeyPolicy or ReplicateKey: within the size
/// quota, a JSON object whose `Statement` (one object or a non-empty array of objects) names a
/// `Principal` in every statement. (The lockout safety check needs policy evaluation, which
/// the access-control issue brings; until then `BypassPolicyLockoutSafetyCheck` changes
/// nothing.)
pub fn validate_policy(policy: &str) -> Result<(), KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "The key policy exceeds the maximum size of {MAX_POLICY_BYTES} bytes."
        )));
    }
    let malformed = |m: &str| KmsError::MalformedPolicy(m.to_owned());
    let doc: serde_json::Value =
        serde_json::from_str(policy).map_err(|_| malformed("The policy is not a valid JSON document."))?;
    let obj = doc.as_object().ok_or_else(|| malformed("The policy is not a valid JSON document."))?;
    let statements: Vec<&serde_json::Value> = match obj.get("Statement") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ serde_json::Value::Object(_)) => vec![s],
        _ => return Err(malformed("Policy is missing required element - Statement")),
    };
    for s in statements {
        let Some(s) = s.as_object() else {
            return Err(malformed("Policy contains a statement that is not a JSON object."));
        };
        if !s.contains_key("Principal") && !s.contains_key("NotPrincipal") {
            return Err(malformed("Policy contains a statement with no principal."));
        }
        match s.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow") | Some("Deny") => {}
            _ => return Err(malformed("Policy contains a statement with an invalid or missing Effect.")),
        }
    }
    Ok(())
}

/// A PolicyName other than `default` names no policy.
fn check_policy_name(name: Option<&str>) -> Result<&'static str, KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(DEFAULT_POLICY_NAME),
        Some(_) => Err(KmsError::NotFound("No such policy exists".to_owned())),
    }
}

pub fn get_key_policy(kms: &Kms, ctx: &RequestContext, input: api::GetKeyPolicyRequest) -> Result<api::GetKeyPolicyResponse, KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "GetKeyPolicy")?;
    let name = check_policy_name(input.policy_name.as_deref())?;
    Ok(api::GetKeyPolicyResponse { policy: Some(key.record.policy.clone()), policy_name: Some(name.to_owned()) })
}

pub fn put_key_policy(kms: &Kms, ctx: &RequestContext, input: api::PutKeyPolicyRequest) -> Result<(), KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "PutKeyPolicy")?;
    check_policy_name(input.policy_name.as_deref())?;
    validate_policy(&input.policy)?;
    let policy = input.policy;
    super::keys::update_record(kms, &key.record, |rec: &mut KeyRecord, _| {
        rec.policy = policy;
        Ok(())
    })
}

pub fn list_key_policies(kms: &Kms, ctx: &RequestContext, input: api::ListKeyPoliciesRequest) -> Result<api::ListKeyPoliciesResponse, KmsError> {
    super::keys::check_limit(input.limit, 1, 1000)?;
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
    use crate::ops::keys::test_env::*;

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
        let got = get_key_policy(&env.kms, &ctx, api::GetKeyPolicyRequest { key_id: id.clone(), policy_name: None }).unwrap();
        assert_eq!(got.policy.as_deref(), Some(default_key_policy(ctx.principal.account).as_str()));
        assert_eq!(got.policy_name.as_deref(), Some("default"));

        let e = get_key_policy(&env.kms, &ctx, api::GetKeyPolicyRequest { key_id: id.clone(), policy_name: Some("other".into()) }).unwrap_err();
        assert!(matches!(e, KmsError::NotFound(_)));

        // Stored exactly as given, whitespace and all.
        let custom = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}  ";
        put_key_policy(&env.kms, &ctx, api::PutKeyPolicyRequest { key_id: id.clone(), policy: custom.into(), ..Default::default() }).unwrap();
        let got = get_key_policy(&env.kms, &ctx, api::GetKeyPolicyRequest { key_id: id.clone(), policy_name: Some("default".into()) }).unwrap();
        assert_eq!(got.policy.as_deref(), Some(custom));

        for bad in ["not json", "[]", "{}", "{\"Statement\":[]}", "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\"}]}"] {
            let e = put_key_policy(&env.kms, &ctx, api::PutKeyPolicyRequest { key_id: id.clone(), policy: bad.into(), ..Default::default() }).unwrap_err();
            assert!(matches!(e, KmsError::MalformedPolicy(_)), "{bad}: {e:?}");
        }
        let huge = format!("{{\"Statement\":{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Sid\":\"{}\"}}}}", "x".repeat(MAX_POLICY_BYTES));
        let e = put_key_policy(&env.kms, &ctx, api::PutKeyPolicyRequest { key_id: id.clone(), policy: huge, ..Default::default() }).unwrap_err();
        assert!(matches!(e, KmsError::LimitExceeded(_)));

        let l = list_key_policies(&env.kms, &ctx, api::ListKeyPoliciesRequest { key_id: id.clone(), ..Default::default() }).unwrap();
        assert_eq!(l.policy_names, Some(vec!["default".to_owned()]));
        assert_eq!(l.truncated, Some(false));
    }
}
