//! Unit tests of the audit crate: event shape, redaction, chain verification and tamper
//! detection, transactional append, LookupEvents, recipients, and the group-commit writer.

use crate::*;
use chrono::{DateTime, TimeZone, Utc};
use kmsnap_api::gen::cloudtrail::{LookupAttribute, LookupAttributeKey, LookupEventsRequest};
use kmsnap_api::Timestamp;
use kmsnap_auth::{Principal, PrincipalKind, RequestContext};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{encode_record, split_record, MetaStore};
use serde_json::{json, Value};
use std::sync::Arc;

const A: &str = "111111111111";
const B: &str = "222222222222";
const REGION: &str = "ap-northeast-1";

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0).single().unwrap()
}

fn ctx_for(principal: Principal, now: DateTime<Utc>) -> RequestContext {
    RequestContext {
        principal,
        region: Region::parse(REGION).unwrap(),
        request_id: "6b0d7ad6-8c79-4ac0-bd3f-0c6f0f6a4b8e".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "Boto3/1.x".into(),
        now,
        via_service: None,
    }
}

fn root_ctx(account: &str, now: DateTime<Utc>) -> RequestContext {
    let acct = AccountId::parse(account).unwrap();
    ctx_for(Principal::root(acct, account), now)
}

fn key_arn(account: &str, id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{account}:key/{id}")
}

fn kms_event(ctx: &RequestContext, op: &str, read_only: bool, key_account: &str) -> Event {
    Event::api_call(ctx, "kms.amazonaws.com", op, read_only)
        .with_request(
            "kms",
            op,
            json!({"KeyId": "alias/x", "EncryptionContext": {"audit": "me"}}),
        )
        .with_kms_key(&key_arn(
            key_account,
            "0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60",
        ))
}

fn mem() -> Arc<dyn MetaStore> {
    kmsnap_store::open_memory().0
}

fn append_all(store: &dyn MetaStore, events: &[Event]) {
    let mut txn = store.write().unwrap();
    append(&mut *txn, events).unwrap();
    txn.commit().unwrap();
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

// ---------------------------------------------------------------------------------------
// Event shape

#[test]
fn event_json_has_exactly_the_cloudtrail_fields_in_order() {
    let ctx = root_ctx(A, t(0));
    let e = Event::api_call(&ctx, "kms.amazonaws.com", "GenerateDataKey", true)
        .with_request(
            "kms",
            "GenerateDataKey",
            json!({"KeyId": "0b3f", "KeySpec": "AES_256", "EncryptionContext": {"audit": "me"}}),
        )
        .with_kms_key(&key_arn(A, "0b3f"));
    let v: Value = serde_json::to_value(&e).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    // serde_json without preserve_order sorts keys; compare as sets, then check the raw order.
    let mut expected = vec![
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    let raw = serde_json::to_string(&e).unwrap();
    assert!(raw.starts_with(r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111111111111","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111","accessKeyId":"111111111111"},"eventTime":""#), "{raw}");
    assert!(raw.contains(r#""responseElements":null"#));
    assert!(raw.contains(r#""readOnly":true"#));
    assert!(raw.contains(r#""resources":[{"accountId":"111111111111","type":"AWS::KMS::Key","ARN":"arn:aws:kms:ap-northeast-1:111111111111:key/0b3f"}]"#));
    assert!(raw.ends_with(r#""eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111111111111","eventCategory":"Management"}"#), "{raw}");
    assert_eq!(v["eventTime"], "2026-11-18T11:06:40Z");
    assert_eq!(
        v["requestParameters"],
        json!({"keyId": "0b3f", "keySpec": "AES_256", "encryptionContext": {"audit": "me"}})
    );
    assert_eq!(v["sourceIPAddress"], "127.0.0.1");
    assert_eq!(v["userAgent"], "Boto3/1.x");
    assert!(v.get("errorCode").is_none());
    let back: Event = serde_json::from_str(&raw).unwrap();
    assert_eq!(back, e);
}

#[test]
fn failed_calls_carry_error_code_and_message() {
    let e = Event::api_call(&root_ctx(A, t(0)), "kms.amazonaws.com", "Decrypt", true)
        .with_error("IncorrectKeyException", "wrong key");
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["errorCode"], "IncorrectKeyException");
    assert_eq!(v["errorMessage"], "wrong key");
}

#[test]
fn user_identity_types() {
    let acct = AccountId::parse(A).unwrap();
    let user =
        UserIdentity::from_context(&ctx_for(Principal::user(acct, "alice", "AKIAALICE"), t(0)));
    assert_eq!(user.kind.as_deref(), Some("IAMUser"));
    assert_eq!(user.user_name.as_deref(), Some("alice"));
    assert_eq!(user.username().as_deref(), Some("alice"));

    let role = Principal {
        account: acct,
        arn: format!("arn:aws:sts::{A}:assumed-role/Admin/sess1"),
        user_id: "AROAEXAMPLEEXAMPLE1:sess1".into(),
        kind: PrincipalKind::AssumedRole {
            role_name: "Admin".into(),
            role_arn: format!("arn:aws:iam::{A}:role/Admin"),
            session_name: "sess1".into(),
            session_policy: None,
            source_identity: None,
        },
        access_key_id: "ASIAEXAMPLE".into(),
    };
    let v = serde_json::to_value(UserIdentity::from_context(&ctx_for(role, t(0)))).unwrap();
    assert_eq!(v["type"], "AssumedRole");
    assert_eq!(
        v["sessionContext"]["sessionIssuer"],
        json!({"type": "Role", "principalId": "AROAEXAMPLEEXAMPLE1",
               "arn": format!("arn:aws:iam::{A}:role/Admin"), "accountId": A, "userName": "Admin"})
    );
    let root = UserIdentity::from_context(&root_ctx(A, t(0)));
    assert_eq!(root.username().as_deref(), Some("root"));

    // A service acting for the caller.
    let via = root_ctx(A, t(0)).via("ec2.amazonaws.com");
    let e = Event::api_call(
        &via,
        "kms.amazonaws.com",
        "GenerateDataKeyWithoutPlaintext",
        true,
    );
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["userIdentity"]["invokedBy"], "ec2.amazonaws.com");
    assert_eq!(v["userIdentity"]["type"], "Root");
    assert_eq!(v["sourceIPAddress"], "ec2.amazonaws.com");
    assert_eq!(v["userAgent"], "ec2.amazonaws.com");

    let svc = serde_json::to_value(UserIdentity::aws_service("backup.amazonaws.com")).unwrap();
    assert_eq!(
        svc,
        json!({"type": "AWSService", "invokedBy": "backup.amazonaws.com"})
    );
    let internal = Event::service_event(A, REGION, "kms.amazonaws.com", "RotateKey", t(0));
    let v = serde_json::to_value(&internal).unwrap();
    assert_eq!(
        v["userIdentity"],
        json!({"accountId": A, "invokedBy": "AWS Internal"})
    );
    assert_eq!(v["eventType"], "AwsServiceEvent");
    assert!(v.get("requestID").is_none());
}

// ---------------------------------------------------------------------------------------
// Redaction

#[test]
fn secrets_never_reach_request_parameters() {
    let secret_b64 = "U0VDUkVULVBMQUlOVEVYVA==";
    let cases = [
        (
            "Encrypt",
            json!({"KeyId": "alias/a", "Plaintext": secret_b64, "EncryptionContext": {"audit": "me"}, "GrantTokens": ["tok"]}),
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": secret_b64, "KeyId": "k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": secret_b64, "DestinationKeyId": "k2", "SourceKeyId": "k1"}),
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": "k", "KeySpec": "AES_256", "NumberOfBytes": 32}),
        ),
        (
            "Sign",
            json!({"KeyId": "k", "Message": secret_b64, "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "GenerateMac",
            json!({"KeyId": "k", "Message": secret_b64, "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        (
            "ImportKeyMaterial",
            json!({"KeyId": "k", "EncryptedKeyMaterial": secret_b64, "ImportToken": secret_b64}),
        ),
        (
            "RetireGrant",
            json!({"GrantToken": secret_b64, "KeyId": "k", "GrantId": "g"}),
        ),
        (
            "SomeFutureOp",
            json!({"KeyId": "k", "NewSecretThing": secret_b64}),
        ),
    ];
    for (op, params) in cases {
        let out = redact_request_parameters("kms", op, params);
        let s = serde_json::to_string(&out).unwrap();
        for bad in [
            "laintext",
            "iphertext",
            "essage",
            "aterial",
            "oken",
            secret_b64,
            "Secret",
        ] {
            assert!(!s.contains(bad), "{op}: {bad} leaked in {s}");
        }
        let e = Event::api_call(&root_ctx(A, t(0)), "kms.amazonaws.com", op, true).with_request(
            "kms",
            op,
            out.clone(),
        );
        let whole = serde_json::to_string(&e).unwrap();
        assert!(!whole.contains(secret_b64), "{op}: {whole}");
    }
    assert_eq!(
        redact_request_parameters(
            "kms",
            "Encrypt",
            json!({"KeyId": "alias/a", "Plaintext": "x", "EncryptionContext": {"Dept": "A"}})
        ),
        json!({"keyId": "alias/a", "encryptionContext": {"Dept": "A"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    assert_eq!(
        redact_request_parameters("kms", "Decrypt", json!({"CiphertextBlob": "x"})),
        json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    assert_eq!(
        redact_request_parameters(
            "kms",
            "CreateGrant",
            json!({
            "KeyId": "k", "GranteePrincipal": "arn:aws:iam::1:root", "Operations": ["Decrypt"],
            "Constraints": {"EncryptionContextSubset": {"Key": "v"}}, "GrantTokens": ["t"]})
        ),
        json!({"keyId": "k", "granteePrincipal": "arn:aws:iam::1:root", "operations": ["Decrypt"],
               "constraints": {"encryptionContextSubset": {"Key": "v"}}})
    );
    // Other services: a denylist applies recursively.
    let rds = redact_request_parameters(
        "rds",
        "CreateDBInstance",
        json!({
        "DBInstanceIdentifier": "db1", "MasterUserPassword": "hunter2", "KmsKeyId": "k",
        "Tags": [{"Key": "a", "Value": "b"}]}),
    );
    assert_eq!(
        rds,
        json!({"dBInstanceIdentifier": "db1", "kmsKeyId": "k", "tags": [{"key": "a", "value": "b"}]})
    );
    let ebs = redact_request_parameters(
        "ebs",
        "PutSnapshotBlock",
        json!({"SnapshotId": "snap-1", "BlockIndex": 3, "BlockData": "AAAA"}),
    );
    assert_eq!(ebs, json!({"snapshotId": "snap-1", "blockIndex": 3}));
    assert_eq!(
        redact_request_parameters("kms", "Encrypt", Value::Null),
        Value::Null
    );
}

#[test]
fn response_elements_are_null_for_crypto_and_lose_tokens() {
    let e = Event::api_call(
        &root_ctx(A, t(0)),
        "kms.amazonaws.com",
        "GenerateDataKey",
        true,
    )
    .with_response(
        "kms",
        "GenerateDataKey",
        json!({"Plaintext": "x", "CiphertextBlob": "y", "KeyId": "k"}),
    );
    assert_eq!(e.response_elements, Value::Null);
    let e = Event::api_call(
        &root_ctx(A, t(0)),
        "kms.amazonaws.com",
        "CreateGrant",
        false,
    )
    .with_response(
        "kms",
        "CreateGrant",
        json!({"GrantId": "g1", "GrantToken": "secret"}),
    );
    assert_eq!(e.response_elements, json!({"grantId": "g1"}));
}

/// A member whose serialisation fails the test: proves the typed filter never encodes it.
struct MustNotSerialize;

impl serde::Serialize for MustNotSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("a dropped member was serialised")
    }
}

#[derive(serde::Serialize)]
struct TypedEncrypt {
    #[serde(rename = "KeyId")]
    key_id: &'static str,
    #[serde(rename = "Plaintext")]
    plaintext: MustNotSerialize,
    #[serde(rename = "EncryptionContext")]
    encryption_context: std::collections::BTreeMap<&'static str, &'static str>,
    #[serde(rename = "GrantTokens")]
    grant_tokens: MustNotSerialize,
    #[serde(
        rename = "EncryptionAlgorithm",
        skip_serializing_if = "Option::is_none"
    )]
    encryption_algorithm: Option<&'static str>,
}

#[test]
fn typed_requests_are_filtered_before_serialisation() {
    let req = TypedEncrypt {
        key_id: "alias/a",
        plaintext: MustNotSerialize,
        encryption_context: [("Dept", "A")].into(),
        grant_tokens: MustNotSerialize,
        encryption_algorithm: None,
    };
    let typed = request_parameters_of("kms", "Encrypt", &req);
    assert_eq!(
        typed,
        json!({"keyId": "alias/a", "encryptionContext": {"Dept": "A"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    // The same as the value-based redaction of the same request.
    let as_value = json!({"KeyId": "alias/a", "Plaintext": "x", "EncryptionContext": {"Dept": "A"}, "GrantTokens": ["t"]});
    assert_eq!(
        typed,
        redact_request_parameters("kms", "Encrypt", as_value.clone())
    );
    assert_eq!(request_parameters_of("kms", "Encrypt", &as_value), typed);
    // Other services: the denylist, also before serialisation; nested members are cleaned too.
    #[derive(serde::Serialize)]
    struct Put {
        #[serde(rename = "SnapshotId")]
        snapshot_id: &'static str,
        #[serde(rename = "BlockData")]
        block_data: MustNotSerialize,
        #[serde(rename = "Nested")]
        nested: Value,
    }
    let put = Put {
        snapshot_id: "snap-1",
        block_data: MustNotSerialize,
        nested: json!({"Password": "p", "Size": 1}),
    };
    assert_eq!(
        request_parameters_of("ebs", "PutSnapshotBlock", &put),
        json!({"snapshotId": "snap-1", "nested": {"size": 1}})
    );
    // Not a structure: nothing is logged.
    assert_eq!(
        request_parameters_of("kms", "Encrypt", &"text"),
        Value::Null
    );
    assert_eq!(
        request_parameters_of("kms", "Encrypt", &vec![1, 2]),
        Value::Null
    );
    assert_eq!(request_parameters_of("kms", "Encrypt", &()), Value::Null);
}

#[test]
fn typed_responses_of_crypto_operations_are_never_serialised() {
    let ctx = root_ctx(A, t(0));
    let e = Event::api_call(&ctx, "kms.amazonaws.com", "Decrypt", true).with_response_of(
        "kms",
        "Decrypt",
        &MustNotSerialize,
    );
    assert_eq!(e.response_elements, Value::Null);
    #[derive(serde::Serialize)]
    struct Grant {
        #[serde(rename = "GrantId")]
        grant_id: &'static str,
        #[serde(rename = "GrantToken")]
        grant_token: MustNotSerialize,
    }
    let e = Event::api_call(&ctx, "kms.amazonaws.com", "CreateGrant", false).with_response_of(
        "kms",
        "CreateGrant",
        &Grant {
            grant_id: "g1",
            grant_token: MustNotSerialize,
        },
    );
    assert_eq!(e.response_elements, json!({"grantId": "g1"}));
    let e = Event::api_call(&ctx, "kms.amazonaws.com", "DisableKey", false).with_response_of(
        "kms",
        "DisableKey",
        &(),
    );
    assert_eq!(e.response_elements, Value::Null);
}

#[test]
fn service_event_details_are_kept_and_optional() {
    let e = Event::service_event(A, REGION, "kms.amazonaws.com", "RotateKey", t(0))
        .with_kms_key(&key_arn(A, "k"))
        .with_service_event_details(json!({"rotationType": "AUTOMATIC", "keyId": "k"}));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["serviceEventDetails"]["rotationType"], "AUTOMATIC");
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
    let plain = serde_json::to_value(Event::service_event(
        A,
        REGION,
        "kms.amazonaws.com",
        "DeleteKey",
        t(0),
    ))
    .unwrap();
    assert!(plain.get("serviceEventDetails").is_none());
}

// ---------------------------------------------------------------------------------------
// The chain

fn filled(n: i64) -> Arc<dyn MetaStore> {
    let store = mem();
    for i in 0..n {
        let ctx = root_ctx(A, t(i));
        append_all(
            store.as_ref(),
            &[kms_event(&ctx, "GenerateDataKey", true, A)],
        );
    }
    store
}

#[test]
fn chain_verifies_and_export_writes_json_lines() {
    let store = filled(7);
    assert_eq!(
        verify(store.as_ref()).unwrap(),
        VerifyReport {
            records: 7,
            first_broken: None
        }
    );
    let mut out = Vec::new();
    assert_eq!(export(store.as_ref(), &mut out).unwrap(), 7);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    for l in lines {
        let e: Event = serde_json::from_str(l).unwrap();
        assert_eq!(e.event_name, "GenerateDataKey");
    }
    assert_eq!(
        verify(mem().as_ref()).unwrap(),
        VerifyReport {
            records: 0,
            first_broken: None
        }
    );
}

/// A stored log record as its version and raw JSON, for tests that tamper with it on purpose
/// (and write it back under the version they read).
fn raw_record(bytes: &[u8]) -> (u16, Value) {
    let (version, payload) = split_record(bytes).unwrap();
    (version, serde_json::from_slice(payload).unwrap())
}

fn rewrite(store: &dyn MetaStore, seq: u64, f: impl FnOnce(&mut Vec<u8>)) {
    let mut txn = store.write().unwrap();
    let mut v = txn.get(LOG_TABLE, &seq_key(seq)).unwrap().unwrap().value;
    f(&mut v);
    txn.put(LOG_TABLE, &seq_key(seq), &v).unwrap();
    txn.commit().unwrap();
}

#[test]
fn flipping_a_byte_of_the_event_json_breaks_exactly_that_record() {
    let store = filled(6);
    rewrite(store.as_ref(), 4, |v| {
        let pos = v.windows(15).position(|w| w == b"GenerateDataKey").unwrap();
        v[pos] ^= 0x01; // "FenerateDataKey": still valid JSON, different bytes
    });
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.records, 3);
    let (seq, reason) = r.first_broken.unwrap();
    assert_eq!(seq, 4);
    assert!(reason.contains("hash"), "{reason}");
}

#[test]
fn flipping_a_byte_of_the_record_framing_breaks_exactly_that_record() {
    let store = filled(5);
    rewrite(store.as_ref(), 2, |v| v[0] ^= 0xff);
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.first_broken.as_ref().map(|b| b.0), Some(2), "{r:?}");
    assert_eq!(r.records, 1);
}

#[test]
fn rewriting_the_event_and_its_hash_breaks_the_next_record() {
    // An attacker who recomputes the record's own hash still breaks the link to the next one.
    let store = filled(5);
    let mut txn = store.write().unwrap();
    let raw = txn.get(LOG_TABLE, &seq_key(3)).unwrap().unwrap().value;
    let (version, mut rec) = raw_record(&raw);
    assert_eq!(version, RECORD_VERSION);
    let event = rec["event"]
        .as_str()
        .unwrap()
        .replace("GenerateDataKey", "Encrypt");
    let prev = hex::decode(rec["prev_hash"].as_str().unwrap()).unwrap();
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    c.update(&prev);
    c.update(event.as_bytes());
    rec["hash"] = Value::String(hex::encode(c.finish().as_ref()));
    rec["event"] = Value::String(event);
    txn.put(
        LOG_TABLE,
        &seq_key(3),
        &encode_record(RECORD_VERSION, &rec).unwrap(),
    )
    .unwrap();
    txn.commit().unwrap();
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.first_broken.map(|b| b.0), Some(4));
}

#[test]
fn a_deleted_or_truncated_record_is_reported() {
    let store = filled(5);
    let mut txn = store.write().unwrap();
    txn.delete(LOG_TABLE, &seq_key(3)).unwrap();
    txn.commit().unwrap();
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.first_broken.map(|b| b.0), Some(3));

    let store = filled(5);
    let mut txn = store.write().unwrap();
    txn.delete(LOG_TABLE, &seq_key(5)).unwrap();
    txn.commit().unwrap();
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.records, 4);
    assert_eq!(r.first_broken.map(|b| b.0), Some(5));
}

#[test]
fn append_in_an_aborted_transaction_leaves_nothing() {
    let store = filled(2);
    {
        let mut txn = store.write().unwrap();
        let ctx = root_ctx(A, t(10));
        append(&mut *txn, &[kms_event(&ctx, "Encrypt", true, A)]).unwrap();
        // dropped without commit
    }
    assert_eq!(
        verify(store.as_ref()).unwrap(),
        VerifyReport {
            records: 2,
            first_broken: None
        }
    );
    let r = store.read().unwrap();
    assert_eq!(r.count(LOG_TABLE, b"").unwrap(), 2);
    assert_eq!(r.count(INDEX_TABLE, b"").unwrap(), 2);
    drop(r);
    // And the chain continues correctly afterwards.
    append_all(
        store.as_ref(),
        &[kms_event(&root_ctx(A, t(11)), "Encrypt", true, A)],
    );
    assert_eq!(verify(store.as_ref()).unwrap().records, 3);
}

// ---------------------------------------------------------------------------------------
// Packs: the mover's layout of the same chain

/// Appends events the way the journal's mover does (packs).
fn append_packed(store: &dyn MetaStore, events: &[Event]) {
    let filed = crate::log::Filed::file_all(events).unwrap();
    let mut txn = store.write().unwrap();
    crate::log::append_filed(&mut *txn, &filed, crate::log::Layout::Packed).unwrap();
    txn.commit().unwrap();
}

fn encrypt_events(from: i64, n: i64) -> Vec<Event> {
    (from..from + n)
        .map(|i| kms_event(&root_ctx(A, t(i)), "Encrypt", true, A))
        .collect()
}

/// 3 single records, then 150 packed (packs of 64, 64, 22), then 2 singles, then 5 packed.
fn mixed(store: &dyn MetaStore) {
    append_all(store, &encrypt_events(0, 3));
    append_packed(store, &encrypt_events(3, 150));
    append_all(store, &encrypt_events(153, 2));
    append_packed(store, &encrypt_events(155, 5));
}

#[test]
fn packed_and_single_records_form_one_chain() {
    let store = mem();
    mixed(store.as_ref());
    let r = store.read().unwrap();
    // One value per pack: 3 + 3 + 2 + 1.
    assert_eq!(r.count(LOG_TABLE, b"").unwrap(), 9);
    assert_eq!(r.count(INDEX_TABLE, b"").unwrap(), 160);
    let keys: Vec<u64> = r
        .scan(LOG_TABLE, b"", None, 100)
        .unwrap()
        .iter()
        .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(keys, vec![1, 2, 3, 4, 68, 132, 154, 155, 156]);
    drop(r);
    assert_eq!(
        verify(store.as_ref()).unwrap(),
        VerifyReport {
            records: 160,
            first_broken: None
        }
    );
    let mut out = Vec::new();
    assert_eq!(export(store.as_ref(), &mut out).unwrap(), 160);
    let times: Vec<i64> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let e: Event = serde_json::from_str(l).unwrap();
            (e.event_time - t(0)).num_seconds()
        })
        .collect();
    assert_eq!(times, (0..160).collect::<Vec<_>>());
}

#[test]
fn lookup_reads_packed_records_newest_first_across_pages() {
    let store = mem();
    mixed(store.as_ref());
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = lookup(
            store.as_ref(),
            A,
            REGION,
            t(1000),
            LookupEventsRequest {
                max_results: Some(50),
                next_token: token.take(),
                ..Default::default()
            },
        )
        .unwrap();
        seen.extend(names(&out));
        for e in out.events.as_ref().unwrap() {
            let ct: Event = serde_json::from_str(e.cloud_trail_event.as_deref().unwrap()).unwrap();
            assert_eq!(Some(ct.event_id.as_str()), e.event_id.as_deref());
        }
        match out.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, (0..160).rev().collect::<Vec<_>>());
}

#[test]
fn a_changed_event_inside_a_pack_breaks_exactly_that_record() {
    let store = mem();
    mixed(store.as_ref());
    // Record 70 is the third of the pack at 68; its event is the third "Encrypt" in the pack.
    rewrite(store.as_ref(), 68, |v| {
        let pos = v
            .windows(7)
            .enumerate()
            .filter(|(_, w)| *w == b"Encrypt")
            .nth(2)
            .unwrap()
            .0;
        v[pos] ^= 0x01; // "Dncrypt": still valid JSON, different bytes
    });
    let r = verify(store.as_ref()).unwrap();
    let (seq, reason) = r.first_broken.unwrap();
    assert_eq!((seq, r.records), (70, 69));
    assert!(reason.contains("hash"), "{reason}");
}

#[test]
fn a_recomputed_hash_inside_a_pack_breaks_the_next_record() {
    // An attacker who rewrites record 5 (second of the pack at 4) and its stored hash still
    // breaks the link to record 6.
    let store = mem();
    mixed(store.as_ref());
    rewrite(store.as_ref(), 4, |v| {
        let p = crate::pack::parse(v).unwrap();
        let mut recs = p.records.clone();
        let changed = recs[1].event.replace("Encrypt", "Decrypt");
        let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        c.update(&recs[0].hash);
        c.update(changed.as_bytes());
        recs[1].hash.copy_from_slice(c.finish().as_ref());
        recs[1].event = &changed;
        let mut b = crate::pack::PackBuf::default();
        b.begin(4, &p.prev_hash);
        for r in &recs {
            b.push(r).unwrap();
        }
        *v = b.finish().to_vec();
    });
    let r = verify(store.as_ref()).unwrap();
    let (seq, reason) = r.first_broken.unwrap();
    assert_eq!(seq, 6, "{reason}");
}

#[test]
fn damaged_or_missing_packs_and_index_rows_are_reported() {
    // Framing.
    let store = mem();
    mixed(store.as_ref());
    rewrite(store.as_ref(), 68, |v| v.truncate(v.len() - 1));
    let r = verify(store.as_ref()).unwrap();
    let (seq, reason) = r.first_broken.unwrap();
    assert_eq!((seq, r.records), (68, 67));
    assert!(reason.contains("undecodable"), "{reason}");

    // A whole pack deleted.
    let store = mem();
    mixed(store.as_ref());
    let mut txn = store.write().unwrap();
    txn.delete(LOG_TABLE, &seq_key(68)).unwrap();
    txn.commit().unwrap();
    let (seq, reason) = verify(store.as_ref()).unwrap().first_broken.unwrap();
    assert_eq!(seq, 68);
    assert!(reason.contains("missing"), "{reason}");

    // The last pack deleted: the head points past the log.
    let store = mem();
    mixed(store.as_ref());
    let mut txn = store.write().unwrap();
    txn.delete(LOG_TABLE, &seq_key(156)).unwrap();
    txn.commit().unwrap();
    let r = verify(store.as_ref()).unwrap();
    assert_eq!(r.records, 155);
    assert_eq!(r.first_broken.map(|b| b.0), Some(156));

    // The index row of a packed record, or one pointing at the wrong pack.
    for damage in ["delete", "wrong pack"] {
        let store = mem();
        mixed(store.as_ref());
        let mut txn = store.write().unwrap();
        let rows = txn.scan(INDEX_TABLE, b"", None, 1000).unwrap();
        let (key, rec) = rows
            .iter()
            .find(|(_, r)| r.value.get(..8) == Some(&seq_key(100)[..]))
            .unwrap()
            .clone();
        assert_eq!(rec.value.len(), 16);
        assert_eq!(rec.value[8..], seq_key(68));
        if damage == "delete" {
            txn.delete(INDEX_TABLE, &key).unwrap();
        } else {
            let mut v = rec.value.clone();
            v[8..].copy_from_slice(&seq_key(4));
            txn.put(INDEX_TABLE, &key, &v).unwrap();
        }
        txn.commit().unwrap();
        let (seq, reason) = verify(store.as_ref()).unwrap().first_broken.unwrap();
        assert_eq!(seq, 100, "{damage}");
        assert!(reason.contains("index"), "{damage}: {reason}");
        if damage == "wrong pack" {
            // LookupEvents refuses rather than returning another record.
            let mut token = None;
            let failed = loop {
                let req = LookupEventsRequest {
                    next_token: token.take(),
                    ..Default::default()
                };
                match lookup(store.as_ref(), A, REGION, t(1000), req) {
                    Err(_) => break true,
                    Ok(o) => match o.next_token {
                        Some(tk) => token = Some(tk),
                        None => break false,
                    },
                }
            };
            assert!(failed, "lookup must report the broken index row");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Recipients

#[test]
fn cross_account_calls_are_recorded_in_both_accounts() {
    let ctx = root_ctx(A, t(0));
    let e = kms_event(&ctx, "Decrypt", true, B);
    assert_eq!(e.recipients(), vec![A.to_owned(), B.to_owned()]);
    assert_eq!(
        kms_event(&ctx, "Decrypt", true, A).recipients(),
        vec![A.to_owned()]
    );
    let store = mem();
    append_all(store.as_ref(), &[e]);
    assert_eq!(verify(store.as_ref()).unwrap().records, 2);
    for acct in [A, B] {
        let out = lookup(
            store.as_ref(),
            acct,
            REGION,
            t(100),
            LookupEventsRequest::default(),
        )
        .unwrap();
        let events = out.events.unwrap();
        assert_eq!(events.len(), 1, "{acct}");
        let v: Value =
            serde_json::from_str(events[0].cloud_trail_event.as_deref().unwrap()).unwrap();
        assert_eq!(v["recipientAccountId"], acct);
        assert_eq!(v["userIdentity"]["accountId"], A);
    }
    // A service event goes to the owner only.
    let s = Event::service_event(B, REGION, "kms.amazonaws.com", "RotateKey", t(0))
        .with_kms_key(&key_arn(B, "k"));
    assert_eq!(s.recipients(), vec![B.to_owned()]);
}

// ---------------------------------------------------------------------------------------
// LookupEvents

fn lookup_store() -> Arc<dyn MetaStore> {
    let store = mem();
    let acct = AccountId::parse(A).unwrap();
    let mut events = Vec::new();
    for i in 0..10 {
        let ctx = if i % 2 == 0 {
            root_ctx(A, t(i * 10))
        } else {
            ctx_for(Principal::user(acct, "alice", "AKIAALICE"), t(i * 10))
        };
        let op = if i % 3 == 0 { "CreateKey" } else { "Encrypt" };
        events.push(
            kms_event(&ctx, op, op != "CreateKey", A)
                .with_kms_key(&key_arn(A, &format!("key-{i}"))),
        );
    }
    // Another region and another account: never visible in (A, REGION).
    let mut other = root_ctx(A, t(5));
    other.region = Region::parse("us-east-1").unwrap();
    events.push(kms_event(&other, "Encrypt", true, A));
    events.push(kms_event(&root_ctx(B, t(6)), "Encrypt", true, B));
    append_all(store.as_ref(), &events);
    store
}

fn names(resp: &kmsnap_api::gen::cloudtrail::LookupEventsResponse) -> Vec<i64> {
    resp.events
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| (e.event_time.as_ref().unwrap().0 - t(0)).num_seconds())
        .collect()
}

fn attr(key: LookupAttributeKey, value: &str) -> LookupEventsRequest {
    LookupEventsRequest {
        lookup_attributes: Some(vec![LookupAttribute {
            attribute_key: key,
            attribute_value: value.into(),
        }]),
        ..Default::default()
    }
}

#[test]
fn lookup_is_newest_first_and_scoped() {
    let store = lookup_store();
    let out = lookup(
        store.as_ref(),
        A,
        REGION,
        t(1000),
        LookupEventsRequest::default(),
    )
    .unwrap();
    assert_eq!(names(&out), vec![90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    assert!(out.next_token.is_none());
    let e = &out.events.as_ref().unwrap()[0];
    assert_eq!(e.event_name.as_deref(), Some("CreateKey"));
    assert_eq!(e.read_only.as_deref(), Some("false"));
    assert_eq!(e.username.as_deref(), Some("alice"));
    assert_eq!(e.access_key_id.as_deref(), Some("AKIAALICE"));
    assert_eq!(e.event_source.as_deref(), Some("kms.amazonaws.com"));
    let res = e.resources.as_ref().unwrap();
    assert_eq!(res[0].resource_type.as_deref(), Some("AWS::KMS::Key"));
    let ct: Value = serde_json::from_str(e.cloud_trail_event.as_deref().unwrap()).unwrap();
    assert_eq!(ct["eventID"].as_str(), e.event_id.as_deref());
    let east = lookup(
        store.as_ref(),
        A,
        "us-east-1",
        t(1000),
        LookupEventsRequest::default(),
    )
    .unwrap();
    assert_eq!(names(&east), vec![5]);
    let none = lookup(
        store.as_ref(),
        "333333333333",
        REGION,
        t(1000),
        LookupEventsRequest::default(),
    )
    .unwrap();
    assert!(none.events.unwrap().is_empty());
}

#[test]
fn lookup_time_window_and_paging() {
    let store = lookup_store();
    let req = LookupEventsRequest {
        start_time: Some(Timestamp(t(20))),
        end_time: Some(Timestamp(t(60))),
        ..Default::default()
    };
    assert_eq!(
        names(&lookup(store.as_ref(), A, REGION, t(1000), req).unwrap()),
        vec![60, 50, 40, 30, 20]
    );
    // Default window is the 90 days before now.
    let later = t(0) + chrono::Duration::days(90) + chrono::Duration::seconds(45);
    assert_eq!(
        names(
            &lookup(
                store.as_ref(),
                A,
                REGION,
                later,
                LookupEventsRequest::default()
            )
            .unwrap()
        ),
        vec![90, 80, 70, 60, 50]
    );

    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let req = LookupEventsRequest {
            max_results: Some(3),
            next_token: token.clone(),
            ..Default::default()
        };
        let out = lookup(store.as_ref(), A, REGION, t(1000), req).unwrap();
        assert!(out.events.as_ref().unwrap().len() <= 3);
        seen.extend(names(&out));
        pages += 1;
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec![90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    assert_eq!(pages, 4);
}

#[test]
fn lookup_attribute_filters() {
    let store = lookup_store();
    let q = |key, value: &str| {
        names(&lookup(store.as_ref(), A, REGION, t(1000), attr(key, value)).unwrap())
    };
    assert_eq!(
        q(LookupAttributeKey::EventName, "CreateKey"),
        vec![90, 60, 30, 0]
    );
    assert_eq!(
        q(LookupAttributeKey::ReadOnly, "false"),
        vec![90, 60, 30, 0]
    );
    assert_eq!(
        q(LookupAttributeKey::ReadOnly, "true"),
        vec![80, 70, 50, 40, 20, 10]
    );
    assert_eq!(
        q(LookupAttributeKey::Username, "alice"),
        vec![90, 70, 50, 30, 10]
    );
    assert_eq!(
        q(LookupAttributeKey::Username, "root"),
        vec![80, 60, 40, 20, 0]
    );
    assert_eq!(
        q(LookupAttributeKey::AccessKeyId, "AKIAALICE"),
        vec![90, 70, 50, 30, 10]
    );
    assert_eq!(
        q(LookupAttributeKey::ResourceName, &key_arn(A, "key-4")),
        vec![40]
    );
    assert_eq!(q(LookupAttributeKey::ResourceName, "key-7"), vec![70]);
    assert_eq!(
        q(LookupAttributeKey::ResourceType, "AWS::KMS::Key").len(),
        10
    );
    assert_eq!(
        q(LookupAttributeKey::EventSource, "kms.amazonaws.com").len(),
        10
    );
    assert!(q(LookupAttributeKey::EventSource, "ec2.amazonaws.com").is_empty());
    let all = lookup(
        store.as_ref(),
        A,
        REGION,
        t(1000),
        LookupEventsRequest::default(),
    )
    .unwrap();
    let id = all.events.unwrap()[3].event_id.clone().unwrap();
    assert_eq!(q(LookupAttributeKey::EventId, &id), vec![60]);
}

#[test]
fn lookup_validation_errors() {
    let store = lookup_store();
    let code = |req| {
        kmsnap_api::AwsError::from(lookup(store.as_ref(), A, REGION, t(1000), req).unwrap_err())
            .code
            .into_owned()
    };
    let mut two = attr(LookupAttributeKey::EventName, "Encrypt");
    two.lookup_attributes
        .as_mut()
        .unwrap()
        .push(LookupAttribute {
            attribute_key: LookupAttributeKey::ReadOnly,
            attribute_value: "true".into(),
        });
    assert_eq!(code(two), "InvalidLookupAttributesException");
    assert_eq!(
        code(attr(LookupAttributeKey::ReadOnly, "maybe")),
        "InvalidLookupAttributesException"
    );
    for bad in [0, 51, 100, -1] {
        assert_eq!(
            code(LookupEventsRequest {
                max_results: Some(bad),
                ..Default::default()
            }),
            "InvalidMaxResultsException"
        );
    }
    assert_eq!(
        code(LookupEventsRequest {
            start_time: Some(Timestamp(t(50))),
            end_time: Some(Timestamp(t(10))),
            ..Default::default()
        }),
        "InvalidTimeRangeException"
    );
    for tok in ["not base64!", "aGVsbG8=", ""] {
        assert_eq!(
            code(LookupEventsRequest {
                next_token: Some(tok.into()),
                ..Default::default()
            }),
            "InvalidNextTokenException",
            "{tok}"
        );
    }
    // A token issued for another account is refused.
    let out = lookup(
        store.as_ref(),
        A,
        REGION,
        t(1000),
        LookupEventsRequest {
            max_results: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let token = out.next_token.unwrap();
    let err = lookup(
        store.as_ref(),
        B,
        REGION,
        t(1000),
        LookupEventsRequest {
            next_token: Some(token),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::InvalidNextToken));
}

// ---------------------------------------------------------------------------------------
// The writer

#[test]
fn writer_commits_every_acknowledged_event() {
    let store = mem();
    let writer = Arc::new(AuditWriter::start(store.clone()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let w = writer.clone();
            std::thread::spawn(move || {
                for j in 0..25 {
                    let ctx = root_ctx(A, t(i * 100 + j));
                    w.submit_wait(vec![kms_event(&ctx, "Encrypt", true, A)])
                        .unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(
        verify(store.as_ref()).unwrap(),
        VerifyReport {
            records: 100,
            first_broken: None
        }
    );
}

#[tokio::test]
async fn writer_submit_is_a_future() {
    let store = mem();
    let writer = AuditWriter::with_config(
        store.clone(),
        WriterConfig {
            max_batch: 8,
            linger: std::time::Duration::from_millis(1),
        },
    )
    .unwrap();
    let futs: Vec<_> = (0..20)
        .map(|i| writer.submit(vec![kms_event(&root_ctx(A, t(i)), "Decrypt", true, B)]))
        .collect();
    for f in futs {
        f.await.unwrap();
    }
    assert_eq!(verify(store.as_ref()).unwrap().records, 40);
    drop(writer);
}

/// `cargo test -p kmsnap-audit --release -- --ignored --nocapture writer_throughput`
#[test]
#[ignore = "measurement, not a check"]
fn writer_throughput_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = kmsnap_store::open_embedded(dir.path()).unwrap();
    let writer = Arc::new(AuditWriter::start(store.clone()).unwrap());
    let per = 500;
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let w = writer.clone();
            std::thread::spawn(move || {
                for j in 0..per {
                    let ctx = root_ctx(A, t(i * 10_000 + j));
                    w.submit_wait(vec![kms_event(&ctx, "Encrypt", true, A)])
                        .unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let took = started.elapsed();
    let n = 8 * per;
    println!(
        "audit writer: {n} events from 8 submitters in {took:?} = {:.0} events/s ({:.0} µs mean ack latency)",
        n as f64 / took.as_secs_f64(),
        took.as_micros() as f64 * 8.0 / n as f64
    );
    // Baseline: one transaction per event.
    let started = std::time::Instant::now();
    for j in 0..200 {
        let ctx = root_ctx(A, t(100_000 + j));
        append_all(store.as_ref(), &[kms_event(&ctx, "Encrypt", true, A)]);
    }
    println!(
        "one commit per event: {:.0} events/s",
        200.0 / started.elapsed().as_secs_f64()
    );
    assert_eq!(verify(store.as_ref()).unwrap().records, n as u64 + 200);
}

#[test]
fn a_missing_index_row_or_moved_time_is_reported() {
    let store = filled(4);
    let mut txn = store.write().unwrap();
    let rows = txn.scan(INDEX_TABLE, b"", None, 100).unwrap();
    // Index rows sort newest first: the first row is record 4.
    txn.delete(INDEX_TABLE, &rows[0].0).unwrap();
    txn.commit().unwrap();
    assert_eq!(
        verify(store.as_ref()).unwrap().first_broken.map(|b| b.0),
        Some(4)
    );

    let store = filled(4);
    rewrite(store.as_ref(), 2, |v| {
        let (version, mut rec) = raw_record(v);
        rec["time_ms"] = json!(rec["time_ms"].as_i64().unwrap() + 86_400_000);
        *v = encode_record(version, &rec).unwrap();
    });
    assert_eq!(
        verify(store.as_ref()).unwrap().first_broken.map(|b| b.0),
        Some(2)
    );
}

#[test]
fn submit_wait_works_inside_a_runtime_thread() {
    // The blocking path must not use tokio's blocking_recv (which panics in a runtime).
    let store = mem();
    let writer = AuditWriter::start(store.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        writer
            .submit_wait(vec![kms_event(&root_ctx(A, t(0)), "Encrypt", true, A)])
            .unwrap();
    });
    assert_eq!(verify(store.as_ref()).unwrap().records, 1);
}
