//! What of a request or response may enter the log. CloudTrail records a camelCase copy of the
//! request *minus* secrets; here that is an allowlist per KMS operation (only listed members
//! are kept), and for every service a recursive denylist as a second line (plaintexts,
//! ciphertexts, passwords, secret keys, tokens, key material, message and block payloads), so a
//! new member is dropped until someone decides it is safe.

use serde_json::{Map, Value};

/// KMS members CloudTrail logs, per operation (PascalCase, as the request shapes serialise).
fn kms_allowlist(op: &str) -> &'static [&'static str] {
    match op {
        "Encrypt" | "Decrypt" => &[
            "KeyId",
            "EncryptionContext",
            "EncryptionAlgorithm",
            "DryRun",
        ],
        "ReEncrypt" => &[
            "SourceKeyId",
            "DestinationKeyId",
            "SourceEncryptionContext",
            "DestinationEncryptionContext",
            "SourceEncryptionAlgorithm",
            "DestinationEncryptionAlgorithm",
            "DryRun",
        ],
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => &[
            "KeyId",
            "EncryptionContext",
            "KeySpec",
            "NumberOfBytes",
            "DryRun",
        ],
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            &["KeyId", "EncryptionContext", "KeyPairSpec", "DryRun"]
        }
        "GenerateRandom" => &["NumberOfBytes", "CustomKeyStoreId"],
        "GenerateMac" | "VerifyMac" => &["KeyId", "MacAlgorithm", "DryRun"],
        "Sign" | "Verify" => &["KeyId", "SigningAlgorithm", "MessageType", "DryRun"],
        "DeriveSharedSecret" => &["KeyId", "KeyAgreementAlgorithm", "DryRun"],
        "CreateKey" => &[
            "Description",
            "KeyUsage",
            "KeySpec",
            "CustomerMasterKeySpec",
            "Origin",
            "MultiRegion",
            "Tags",
            "Policy",
            "BypassPolicyLockoutSafetyCheck",
            "CustomKeyStoreId",
            "XksKeyId",
        ],
        "UpdateKeyDescription" => &["KeyId", "Description"],
        "ScheduleKeyDeletion" => &["KeyId", "PendingWindowInDays"],
        "TagResource" => &["KeyId", "Tags"],
        "UntagResource" => &["KeyId", "TagKeys"],
        "ListKeys" => &["Limit", "Marker"],
        "ListResourceTags" | "ListKeyPolicies" | "ListKeyRotations" | "ListAliases" => {
            &["KeyId", "Limit", "Marker"]
        }
        "GetKeyPolicy" => &["KeyId", "PolicyName"],
        "PutKeyPolicy" => &[
            "KeyId",
            "PolicyName",
            "Policy",
            "BypassPolicyLockoutSafetyCheck",
        ],
        "CreateAlias" | "UpdateAlias" => &["AliasName", "TargetKeyId"],
        "DeleteAlias" => &["AliasName"],
        "EnableKeyRotation" => &["KeyId", "RotationPeriodInDays"],
        "ReplicateKey" => &[
            "KeyId",
            "ReplicaRegion",
            "Description",
            "Tags",
            "Policy",
            "BypassPolicyLockoutSafetyCheck",
        ],
        "UpdatePrimaryRegion" => &["KeyId", "PrimaryRegion"],
        "CreateGrant" => &[
            "KeyId",
            "GranteePrincipal",
            "RetiringPrincipal",
            "Operations",
            "Constraints",
            "Name",
        ],
        "RetireGrant" | "RevokeGrant" => &["KeyId", "GrantId"],
        "ListGrants" => &["KeyId", "GrantId", "GranteePrincipal", "Limit", "Marker"],
        "ListRetirableGrants" => &["RetiringPrincipal", "Limit", "Marker"],
        "GetParametersForImport" => &["KeyId", "WrappingAlgorithm", "WrappingKeySpec"],
        "ImportKeyMaterial" => &["KeyId", "ValidTo", "ExpirationModel"],
        // DescribeKey, EnableKey, DisableKey, CancelKeyDeletion, GetPublicKey,
        // DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
        // DeleteImportedKeyMaterial, and any operation not reviewed yet: the key only.
        _ => &["KeyId"],
    }
}

/// KMS operations whose response is never logged (it carries plaintext, ciphertext, a MAC,
/// a signature or random bytes).
fn kms_response_is_null(op: &str) -> bool {
    matches!(
        op,
        "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateDataKeyPair"
            | "GenerateDataKeyPairWithoutPlaintext"
            | "GenerateRandom"
            | "GenerateMac"
            | "VerifyMac"
            | "Sign"
            | "Verify"
            | "DeriveSharedSecret"
            | "GetPublicKey"
            | "GetParametersForImport"
    )
}

/// Member names (lower-cased) dropped wherever they appear, in any service.
const DENY_EXACT: &[&str] = &[
    "message",
    "signature",
    "mac",
    "blockdata",
    "body",
    "publickey",
    "encryptedkeymaterial",
];

/// Substrings (lower-cased) that make a member name a secret.
const DENY_CONTAINS: &[&str] = &[
    "plaintext",
    "ciphertext",
    "password",
    "secret",
    "token",
    "keymaterial",
    "privatekey",
];

fn is_denied(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    DENY_EXACT.contains(&l.as_str()) || DENY_CONTAINS.iter().any(|d| l.contains(d))
}

/// Members whose object value is a user map (encryption context, tag maps): their keys are
/// data, kept as given, not member names to camelCase.
fn is_user_map(name: &str) -> bool {
    name.contains("EncryptionContext") || name.ends_with("Tags")
}

fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Recursively drops denied members and camelCases member names (not the keys of user maps).
fn clean(value: Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if is_denied(&k) {
                    continue;
                }
                let v = if is_user_map(&k) && v.is_object() {
                    v
                } else {
                    clean(v)
                };
                out.insert(camel(&k), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
        other => other,
    }
}

/// CloudTrail's `requestParameters` for operation `op` of `service` (`kms`, `ec2`, `ebs`,
/// `rds`, `backup`, …) from the request as the generated input shape serialises it
/// (PascalCase members). KMS keeps only the operation's allowlist; every service loses
/// secret-looking members recursively. Member names become camelCase; encryption-context and
/// tag-map keys stay as given. `null` when nothing is left.
pub fn redact_request_parameters(service: &str, op: &str, params: Value) -> Value {
    let Value::Object(m) = params else {
        return Value::Null;
    };
    let kept: Map<String, Value> = if service == "kms" {
        let allow = kms_allowlist(op);
        m.into_iter()
            .filter(|(k, _)| allow.contains(&k.as_str()))
            .collect()
    } else {
        m
    };
    let Value::Object(mut out) = clean(Value::Object(kept)) else {
        return Value::Null;
    };
    if service == "kms"
        && matches!(op, "Encrypt" | "Decrypt")
        && !out.contains_key("encryptionAlgorithm")
    {
        out.insert(
            "encryptionAlgorithm".into(),
            Value::String("SYMMETRIC_DEFAULT".into()),
        );
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// CloudTrail's `responseElements`: `null` for KMS crypto operations, otherwise the response
/// camelCased minus secret-looking members (e.g. CreateGrant keeps `grantId`, drops the token).
pub(crate) fn redact_response_elements(service: &str, op: &str, response: Value) -> Value {
    if service == "kms" && kms_response_is_null(op) {
        return Value::Null;
    }
    match clean(response) {
        Value::Object(m) if m.is_empty() => Value::Null,
        v @ Value::Object(_) => v,
        _ => Value::Null,
    }
}
