//! What of a request or response may enter the log. CloudTrail records a camelCase copy of the
//! request *minus* secrets; here that is an allowlist per KMS operation (only listed members
//! are kept), and for every service a recursive denylist as a second line (plaintexts,
//! ciphertexts, passwords, secret keys, tokens, key material, message and block payloads), so a
//! new member is dropped until someone decides it is safe.

use serde::ser::{Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};
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
            "DryRun",
        ],
        "RetireGrant" | "RevokeGrant" => &["KeyId", "GrantId", "DryRun"],
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

/// The KMS cryptographic operations (they change nothing: CloudTrail marks them `readOnly`,
/// and their responses carry plaintexts, ciphertexts, MACs, signatures or random bytes).
pub fn kms_cryptographic_operation(op: &str) -> bool {
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
    )
}

/// KMS operations whose response is never logged: the cryptographic ones, and those that
/// return key material for import or a public key.
fn kms_response_is_null(op: &str) -> bool {
    kms_cryptographic_operation(op) || matches!(op, "GetPublicKey" | "GetParametersForImport")
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

/// [`redact_request_parameters`] straight from the typed request (a generated input shape):
/// members the operation's allowlist (or, for other services, the denylist) drops are never
/// serialised at all, so a plaintext or ciphertext is not even base64-encoded into a temporary
/// JSON value on the way to the log, and a large payload costs nothing.
pub fn request_parameters_of<T: Serialize + ?Sized>(service: &str, op: &str, request: &T) -> Value {
    let keep = |name: &str| {
        if service == "kms" {
            kms_allowlist(op).contains(&name)
        } else {
            !is_denied(name)
        }
    };
    let kept = request
        .serialize(Members { keep: &keep })
        .unwrap_or(Value::Null);
    redact_request_parameters(service, op, kept)
}

/// [`redact_response_elements`] straight from the typed response: `null` without serialising
/// anything for KMS crypto operations (their responses carry plaintexts), and secret-looking
/// top-level members are never serialised.
pub(crate) fn response_elements_of<T: Serialize + ?Sized>(
    service: &str,
    op: &str,
    response: &T,
) -> Value {
    if service == "kms" && kms_response_is_null(op) {
        return Value::Null;
    }
    let kept = response
        .serialize(Members {
            keep: &|name: &str| !is_denied(name),
        })
        .unwrap_or(Value::Null);
    redact_response_elements(service, op, kept)
}

/// A serializer for one struct (or map) that encodes only the top-level members `keep` accepts;
/// anything else at the top level is `null`.
struct Members<'k> {
    keep: &'k dyn Fn(&str) -> bool,
}

struct Kept<'k> {
    keep: &'k dyn Fn(&str) -> bool,
    out: Map<String, Value>,
    next_key: Option<String>,
}

impl<'k> Members<'k> {
    fn kept(self) -> Kept<'k> {
        Kept {
            keep: self.keep,
            out: Map::new(),
            next_key: None,
        }
    }
}

fn not_a_struct() -> serde_json::Error {
    serde::ser::Error::custom("request parameters: not a structure")
}

macro_rules! null_for {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<Value, serde_json::Error> {
            Ok(Value::Null)
        })*
    };
}

impl<'k> Serializer for Members<'k> {
    type Ok = Value;
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<Value, serde_json::Error>;
    type SerializeTuple = Impossible<Value, serde_json::Error>;
    type SerializeTupleStruct = Impossible<Value, serde_json::Error>;
    type SerializeTupleVariant = Impossible<Value, serde_json::Error>;
    type SerializeMap = Kept<'k>;
    type SerializeStruct = Kept<'k>;
    type SerializeStructVariant = Impossible<Value, serde_json::Error>;

    null_for!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_char: char,
        serialize_str: &str,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str,
    );

    fn serialize_none(self) -> Result<Value, serde_json::Error> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, serde_json::Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, serde_json::Error> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Value, serde_json::Error> {
        Ok(Value::Null)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, serde_json::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, serde_json::Error> {
        Ok(Value::Null)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        Err(not_a_struct())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        Ok(self.kept())
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        Ok(self.kept())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        Err(not_a_struct())
    }
}

impl Kept<'_> {
    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        if (self.keep)(name) {
            self.out
                .insert(name.to_owned(), serde_json::to_value(value)?);
        }
        Ok(())
    }
}

impl SerializeStruct for Kept<'_> {
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.member(key, value)
    }

    fn end(self) -> Result<Value, serde_json::Error> {
        Ok(Value::Object(self.out))
    }
}

impl SerializeMap for Kept<'_> {
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), serde_json::Error> {
        self.next_key = match serde_json::to_value(key)? {
            Value::String(s) => Some(s),
            _ => None,
        };
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        match self.next_key.take() {
            Some(name) => self.member(&name, value),
            None => Ok(()),
        }
    }

    fn end(self) -> Result<Value, serde_json::Error> {
        Ok(Value::Object(self.out))
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
