//! The audit record of KMS calls: one event per call, what it holds and what it never holds,
//! where it is written (with the change, or through the grouped writer), both trails of a
//! cross-account call, calls made by services in-process, and the workers' service events.

use crate::model::KeyState;
use crate::testsupport::{KeySetup, TestKms, ACCOUNT, OTHER_ACCOUNT, REGION, ROOT_KEY};
use crate::Kms;
use base64::Engine as _;
use kmsnap_api::gen::kms::{self as api, KmsHandler};
use kmsnap_api::SensitiveBlob;
use kmsnap_core::{Clock, ManualClock, RootKey};
use kmsnap_store::{MetaStore, ReadTxn, Record, ScanEntry, StoreError, WriteTxn};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const SECRET: &[u8] = b"TOP-SECRET-PLAINTEXT-never-in-the-log";

/// Every record of the log, oldest first, as JSON.
fn events(kms: &Kms) -> Vec<Value> {
    let mut out = Vec::new();
    kmsnap_audit::export(kms.store.meta(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn log_text(kms: &Kms) -> String {
    let mut out = Vec::new();
    kmsnap_audit::export(kms.store.meta(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn resources(e: &Value) -> Vec<&str> {
    e["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["ARN"].as_str()).collect())
        .unwrap_or_default()
}

fn encrypt_req(key_id: &str) -> api::EncryptRequest {
    api::EncryptRequest {
        key_id: key_id.into(),
        plaintext: SensitiveBlob::new(SECRET.to_vec()),
        encryption_context: Some([("purpose".to_owned(), "audit-test".to_owned())].into()),
        ..Default::default()
    }
}

#[test]
fn encrypt_records_one_read_only_event_with_key_and_context_and_no_plaintext() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let arn = t.arn(ACCOUNT, REGION, &key_id).unwrap();
    let out = t
        .kms
        .blocking()
        .encrypt(&t.ctx().unwrap(), encrypt_req(&key_id))
        .unwrap();
    let blob = out.ciphertext_blob.unwrap().0;

    let ev = events(&t.kms);
    assert_eq!(ev.len(), 1, "{ev:#?}");
    let e = &ev[0];
    assert_eq!(e["eventName"], "Encrypt");
    assert_eq!(e["eventSource"], "kms.amazonaws.com");
    assert_eq!(e["eventType"], "AwsApiCall");
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["awsRegion"], REGION);
    assert_eq!(e["recipientAccountId"], ACCOUNT);
    assert_eq!(e["userIdentity"]["type"], "Root");
    assert_eq!(resources(e), vec![arn.as_str()]);
    assert_eq!(e["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(
        e["requestParameters"],
        json!({"keyId": key_id, "encryptionContext": {"purpose": "audit-test"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    assert_eq!(e["responseElements"], Value::Null);
    assert!(e.get("errorCode").is_none());
    let text = log_text(&t.kms);
    for leak in [
        String::from_utf8_lossy(SECRET).into_owned(),
        b64(SECRET),
        b64(&blob),
    ] {
        assert!(!text.contains(&leak), "{leak} in {text}");
    }
}

#[test]
fn generate_data_key_and_decrypt_never_log_the_data_key() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    let k = t.kms.blocking();
    let dk = k
        .generate_data_key(
            &ctx,
            api::GenerateDataKeyRequest {
                key_id: key_id.clone(),
                key_spec: Some(api::DataKeySpec::Aes256),
                encryption_context: Some([("bucket".to_owned(), "b1".to_owned())].into()),
                ..Default::default()
            },
        )
        .unwrap();
    let plain = dk.plaintext.unwrap();
    let blob = dk.ciphertext_blob.unwrap();
    let back = k
        .decrypt(
            &ctx,
            api::DecryptRequest {
                ciphertext_blob: Some(blob.clone()),
                encryption_context: Some([("bucket".to_owned(), "b1".to_owned())].into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(back.plaintext.unwrap().expose(), plain.expose());

    let ev = events(&t.kms);
    assert_eq!(
        ev.iter()
            .map(|e| e["eventName"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["GenerateDataKey", "Decrypt"]
    );
    assert_eq!(ev[0]["requestParameters"]["keySpec"], "AES_256");
    assert_eq!(
        ev[0]["requestParameters"]["encryptionContext"],
        json!({"bucket": "b1"})
    );
    // Decrypt names no key: the key comes from the ciphertext, and is still the resource.
    assert_eq!(
        resources(&ev[1]),
        vec![t.arn(ACCOUNT, REGION, &key_id).unwrap().as_str()]
    );
    assert_eq!(
        ev[1]["requestParameters"],
        json!({"encryptionContext": {"bucket": "b1"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    );
    let text = log_text(&t.kms);
    assert!(!text.contains(&b64(plain.expose())));
    assert!(!text.contains(&b64(&blob.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_are_durable_when_answered() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    for i in 0..20 {
        t.kms.encrypt(&ctx, encrypt_req(&key_id)).await.unwrap();
        // Acknowledged means written: the record is there the moment the call returns.
        assert_eq!(events(&t.kms).len(), i + 1);
    }
    let r = t
        .kms
        .describe_key(
            &ctx,
            api::DescribeKeyRequest {
                key_id: "alias/nope".into(),
                grant_tokens: None,
            },
        )
        .await;
    assert_eq!(r.unwrap_err().code, "NotFoundException");
    let last = events(&t.kms).pop().unwrap();
    assert_eq!(last["eventName"], "DescribeKey");
    assert_eq!(last["errorCode"], "NotFoundException");
    assert_eq!(last["readOnly"], true);
    assert_eq!(last["requestParameters"], json!({"keyId": "alias/nope"}));
}

#[test]
fn concurrent_calls_each_get_exactly_one_record() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    t.kms
                        .blocking()
                        .encrypt(&ctx, encrypt_req(&key_id))
                        .unwrap();
                }
            });
        }
    });
    let ev = events(&t.kms);
    assert_eq!(ev.len(), 400);
    let ids: std::collections::HashSet<&str> =
        ev.iter().map(|e| e["eventID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 400);
    assert_eq!(
        kmsnap_audit::verify(t.kms.store.meta())
            .unwrap()
            .first_broken,
        None
    );
}

#[test]
fn a_denied_call_is_recorded_as_access_denied_in_both_accounts() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let arn = t.arn(ACCOUNT, REGION, &key_id).unwrap();
    let other = t.ctx_for(OTHER_ACCOUNT, REGION).unwrap();
    let err = t
        .kms
        .blocking()
        .encrypt(&other, encrypt_req(&arn))
        .unwrap_err();
    assert!(matches!(err, crate::KmsError::AccessDenied(_)), "{err:?}");

    let ev = events(&t.kms);
    let trails: Vec<&str> = ev
        .iter()
        .map(|e| e["recipientAccountId"].as_str().unwrap())
        .collect();
    assert_eq!(
        trails,
        [OTHER_ACCOUNT, ACCOUNT],
        "caller's trail, then the key owner's"
    );
    for e in &ev {
        assert_eq!(e["eventName"], "Encrypt");
        assert_eq!(e["errorCode"], "AccessDenied");
        assert!(
            e["errorMessage"]
                .as_str()
                .unwrap()
                .contains("is not authorized to perform: kms:Encrypt"),
            "{e}"
        );
        assert_eq!(e["userIdentity"]["accountId"], OTHER_ACCOUNT);
        assert_eq!(resources(e), vec![arn.as_str()]);
        assert_eq!(e["responseElements"], Value::Null);
    }
    assert_eq!(ev[0]["eventID"], ev[1]["eventID"], "one event, two copies");
    assert!(!log_text(&t.kms).contains(&b64(SECRET)));
}

#[test]
fn an_allowed_cross_account_call_is_recorded_in_both_accounts() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let arn = t.arn(ACCOUNT, REGION, &key_id).unwrap();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "other", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ACCOUNT}:root")}, "Action": "kms:Encrypt", "Resource": "*"}
        ]
    });
    let acct = kmsnap_core::AccountId::parse(ACCOUNT).unwrap();
    let region = kmsnap_core::Region::parse(REGION).unwrap();
    t.kms
        .store
        .write(|txn| {
            let mut k = txn.get_key(acct, region, &key_id)?.unwrap();
            k.policy = policy.to_string();
            txn.put_key(&k)
        })
        .unwrap();
    let other = t.ctx_for(OTHER_ACCOUNT, REGION).unwrap();
    t.kms.blocking().encrypt(&other, encrypt_req(&arn)).unwrap();
    let ev = events(&t.kms);
    let trails: Vec<&str> = ev
        .iter()
        .map(|e| e["recipientAccountId"].as_str().unwrap())
        .collect();
    assert_eq!(trails, [OTHER_ACCOUNT, ACCOUNT]);
    assert!(ev
        .iter()
        .all(|e| e.get("errorCode").is_none() && e["userIdentity"]["accountId"] == OTHER_ACCOUNT));
}

#[test]
fn a_service_acting_for_the_caller_is_named_in_the_event() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let via = t.ctx().unwrap().via("ec2.amazonaws.com");
    t.kms
        .blocking()
        .generate_data_key_without_plaintext(
            &via,
            api::GenerateDataKeyWithoutPlaintextRequest {
                key_id: key_id.clone(),
                key_spec: Some(api::DataKeySpec::Aes256),
                encryption_context: Some(
                    [("aws:ebs:id".to_owned(), "snap-0123456789abcdef0".to_owned())].into(),
                ),
                ..Default::default()
            },
        )
        .unwrap();
    let e = events(&t.kms).pop().unwrap();
    assert_eq!(e["eventName"], "GenerateDataKeyWithoutPlaintext");
    assert_eq!(e["userIdentity"]["invokedBy"], "ec2.amazonaws.com");
    assert_eq!(
        e["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(e["sourceIPAddress"], "ec2.amazonaws.com");
    assert_eq!(e["userAgent"], "ec2.amazonaws.com");
    assert_eq!(
        e["requestParameters"]["encryptionContext"],
        json!({"aws:ebs:id": "snap-0123456789abcdef0"})
    );
}

#[test]
fn describing_an_aws_alias_records_only_the_describe_call() {
    // The first use of alias/aws/ebs creates the AWS managed key: a write that is not the call's
    // change, so it must not take the DescribeKey event (nor leave it without its key).
    let t = TestKms::new().unwrap();
    let out = t
        .kms
        .blocking()
        .describe_key(
            &t.ctx().unwrap(),
            api::DescribeKeyRequest {
                key_id: "alias/aws/ebs".into(),
                grant_tokens: None,
            },
        )
        .unwrap();
    let arn = out.key_metadata.unwrap().arn.unwrap();
    let ev = events(&t.kms);
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0]["eventName"], "DescribeKey");
    assert_eq!(ev[0]["readOnly"], true);
    assert_eq!(resources(&ev[0]), vec![arn.as_str()]);
    assert_eq!(
        ev[0]["requestParameters"],
        json!({"keyId": "alias/aws/ebs"})
    );
}

#[test]
fn mutations_record_their_response_and_are_not_read_only() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    let k = t.kms.blocking();
    k.schedule_key_deletion(
        &ctx,
        api::ScheduleKeyDeletionRequest {
            key_id: key_id.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    k.cancel_key_deletion(
        &ctx,
        api::CancelKeyDeletionRequest {
            key_id: key_id.clone(),
        },
    )
    .unwrap();
    let again = k
        .cancel_key_deletion(
            &ctx,
            api::CancelKeyDeletionRequest {
                key_id: key_id.clone(),
            },
        )
        .unwrap_err();
    assert!(matches!(again, crate::KmsError::NotPendingDeletion { .. }));
    let arn = t.arn(ACCOUNT, REGION, &key_id).unwrap();
    let ev = events(&t.kms);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["eventName"], "ScheduleKeyDeletion");
    assert_eq!(ev[0]["readOnly"], false);
    assert_eq!(
        ev[0]["requestParameters"],
        json!({"keyId": key_id, "pendingWindowInDays": 7})
    );
    assert_eq!(ev[0]["responseElements"]["keyId"], arn);
    assert_eq!(ev[0]["responseElements"]["keyState"], "PendingDeletion");
    assert_eq!(ev[0]["responseElements"]["pendingWindowInDays"], 7);
    assert!(ev[0]["responseElements"]["deletionDate"].is_number());
    assert_eq!(ev[1]["responseElements"], json!({"keyId": arn}));
    // A failure after the response was noted records the error, not the response.
    assert_eq!(ev[2]["errorCode"], "KMSInvalidStateException");
    assert_eq!(ev[2]["responseElements"], Value::Null);
}

#[test]
fn a_grant_is_recorded_with_its_id_and_never_its_token() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    let grantee = format!("arn:aws:iam::{OTHER_ACCOUNT}:root");
    let req = || api::CreateGrantRequest {
        key_id: key_id.clone(),
        grantee_principal: Some(grantee.clone()),
        operations: vec![api::GrantOperation::Decrypt],
        name: Some("audited".into()),
        ..Default::default()
    };
    let g = t.kms.blocking().create_grant(&ctx, req()).unwrap();
    // The same name and parameters again: the same grant, recorded again with its id.
    let again = t.kms.blocking().create_grant(&ctx, req()).unwrap();
    assert_eq!(again.grant_id, g.grant_id);
    let token = g.grant_token.unwrap();
    t.kms
        .blocking()
        .retire_grant(
            &ctx,
            api::RetireGrantRequest {
                grant_token: Some(token.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let ev = events(&t.kms);
    assert_eq!(
        ev.iter()
            .map(|e| e["eventName"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["CreateGrant", "CreateGrant", "RetireGrant"]
    );
    for e in &ev[..2] {
        assert_eq!(e["readOnly"], false);
        assert_eq!(e["responseElements"], json!({"grantId": g.grant_id}));
        assert_eq!(e["requestParameters"]["granteePrincipal"], grantee);
        assert_eq!(e["requestParameters"]["operations"], json!(["Decrypt"]));
        assert_eq!(e["requestParameters"]["name"], "audited");
    }
    assert!(
        !log_text(&t.kms).contains(&token),
        "the grant token never reaches the log"
    );
}

// ---------------------------------------------------------------------------------------------
// Where the record is written: a store that counts commits and can fail the next one.

struct Counting {
    inner: Arc<dyn MetaStore>,
    commits: AtomicUsize,
    fail_next: AtomicBool,
}

struct CountingTxn<'a> {
    inner: Box<dyn WriteTxn + 'a>,
    store: &'a Counting,
}

impl ReadTxn for CountingTxn<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Record>, StoreError> {
        self.inner.get(table, key)
    }
    fn scan(
        &self,
        table: &str,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ScanEntry>, StoreError> {
        self.inner.scan(table, prefix, after, limit)
    }
    fn count(&self, table: &str, prefix: &[u8]) -> Result<u64, StoreError> {
        self.inner.count(table, prefix)
    }
}

impl WriteTxn for CountingTxn<'_> {
    fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
        self.inner.put(table, key, value)
    }
    fn delete(&mut self, table: &str, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.delete(table, key)
    }
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        if self.store.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Corrupt {
                what: "test",
                detail: "injected commit failure".into(),
            });
        }
        self.store.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit()
    }
}

impl MetaStore for Counting {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError> {
        self.inner.read()
    }
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        Ok(Box::new(CountingTxn {
            inner: self.inner.write()?,
            store: self,
        }))
    }
    fn wipe(&self) -> Result<(), StoreError> {
        self.inner.wipe()
    }
    fn kind(&self) -> &'static str {
        "counting"
    }
}

fn counting_kms() -> (TestKms, Arc<Counting>) {
    let (mem, _) = kmsnap_store::open_memory();
    let store = Arc::new(Counting {
        inner: mem,
        commits: AtomicUsize::new(0),
        fail_next: AtomicBool::new(false),
    });
    let clock = Arc::new(ManualClock::default());
    let kms = Kms::new(store.clone(), &RootKey::from_bytes(ROOT_KEY), clock.clone()).unwrap();
    (TestKms { kms, clock }, store)
}

fn create_key_req() -> api::CreateKeyRequest {
    api::CreateKeyRequest {
        description: Some("audited".into()),
        ..Default::default()
    }
}

#[test]
fn create_key_records_its_event_in_the_transaction_that_creates_the_key() {
    let (t, store) = counting_kms();
    let out = t
        .kms
        .blocking()
        .create_key(&t.ctx().unwrap(), create_key_req())
        .unwrap();
    let md = out.key_metadata.unwrap();
    // One commit: the key and its record together (the writer would have added a second).
    assert_eq!(store.commits.load(Ordering::SeqCst), 1);
    let ev = events(&t.kms);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["eventName"], "CreateKey");
    assert_eq!(e["readOnly"], false);
    assert_eq!(resources(e), vec![md.arn.as_deref().unwrap()]);
    assert_eq!(e["requestParameters"], json!({"description": "audited"}));
    assert_eq!(e["responseElements"]["keyMetadata"]["keyId"], md.key_id);
    assert_eq!(e["responseElements"]["keyMetadata"]["keyState"], "Enabled");
    assert!(e.get("errorCode").is_none());

    // A crypto call writes nothing else: its record costs one (grouped) commit of its own.
    t.kms
        .blocking()
        .encrypt(&t.ctx().unwrap(), encrypt_req(&md.key_id))
        .unwrap();
    assert_eq!(store.commits.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failed_commit_takes_the_success_record_with_it() {
    let (t, store) = counting_kms();
    store.fail_next.store(true, Ordering::SeqCst);
    let err = t
        .kms
        .blocking()
        .create_key(&t.ctx().unwrap(), create_key_req())
        .unwrap_err();
    assert!(matches!(err, crate::KmsError::Internal(_)), "{err:?}");
    let listed = t
        .kms
        .blocking()
        .list_keys(&t.ctx().unwrap(), api::ListKeysRequest::default())
        .unwrap();
    assert_eq!(listed.keys.unwrap_or_default().len(), 0, "no key");
    let ev = events(&t.kms);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    // The key's transaction aborted with its success record; the failure is recorded instead.
    assert_eq!(ev[0]["eventName"], "CreateKey");
    assert_eq!(ev[0]["errorCode"], "KMSInternalException");
    assert_eq!(ev[0]["responseElements"], Value::Null);
    assert_eq!(ev[1]["eventName"], "ListKeys");
}

#[test]
fn a_call_whose_record_cannot_be_written_fails() {
    let (t, store) = counting_kms();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    store.fail_next.store(true, Ordering::SeqCst);
    let err = t
        .kms
        .blocking()
        .encrypt(&t.ctx().unwrap(), encrypt_req(&key_id))
        .unwrap_err();
    assert!(matches!(err, crate::KmsError::Internal(_)), "{err:?}");
    assert!(events(&t.kms).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Workers

#[test]
fn automatic_rotation_and_deletion_are_service_events_in_the_key_owners_trail() {
    let t = TestKms::new().unwrap();
    let rotating = t.put_key(&KeySetup::default()).unwrap();
    let doomed = t.put_key(&KeySetup::default()).unwrap();
    let ctx = t.ctx().unwrap();
    crate::ops::rotation::enable_key_rotation(
        &t.kms,
        &ctx,
        api::EnableKeyRotationRequest {
            key_id: rotating.clone(),
            rotation_period_in_days: Some(90),
        },
    )
    .unwrap();
    crate::ops::keys::schedule_key_deletion(
        &t.kms,
        &ctx,
        api::ScheduleKeyDeletionRequest {
            key_id: doomed.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    assert!(
        events(&t.kms).is_empty(),
        "ops called directly are not audited"
    );
    t.clock.advance(chrono::Duration::days(91));
    assert_eq!(crate::workers::run_due(&t.kms, t.clock.now()).unwrap(), 2);

    let ev = events(&t.kms);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    let by_name = |n: &str| ev.iter().find(|e| e["eventName"] == n).unwrap().clone();
    let rotate = by_name("RotateKey");
    assert_eq!(rotate["eventType"], "AwsServiceEvent");
    assert_eq!(
        rotate["userIdentity"],
        json!({"accountId": ACCOUNT, "invokedBy": "AWS Internal"})
    );
    assert_eq!(rotate["recipientAccountId"], ACCOUNT);
    assert_eq!(rotate["awsRegion"], REGION);
    assert_eq!(rotate["readOnly"], false);
    assert_eq!(
        rotate["serviceEventDetails"],
        json!({"rotationType": "AUTOMATIC", "keyId": rotating})
    );
    assert_eq!(
        resources(&rotate),
        vec![t.arn(ACCOUNT, REGION, &rotating).unwrap().as_str()]
    );
    let delete = by_name("DeleteKey");
    assert_eq!(delete["eventType"], "AwsServiceEvent");
    assert_eq!(
        resources(&delete),
        vec![t.arn(ACCOUNT, REGION, &doomed).unwrap().as_str()]
    );
    assert!(t.get(ACCOUNT, REGION, &doomed).unwrap().is_none());
    assert_eq!(
        kmsnap_audit::verify(t.kms.store.meta())
            .unwrap()
            .first_broken,
        None
    );
    // Nothing more is due: no further events.
    assert_eq!(crate::workers::run_due(&t.kms, t.clock.now()).unwrap(), 0);
    assert_eq!(events(&t.kms).len(), 2);
}

#[test]
fn a_rotation_waiting_for_a_disabled_key_records_nothing() {
    let t = TestKms::new().unwrap();
    let key_id = t.put_key(&KeySetup::default()).unwrap();
    crate::ops::rotation::enable_key_rotation(
        &t.kms,
        &t.ctx().unwrap(),
        api::EnableKeyRotationRequest {
            key_id: key_id.clone(),
            rotation_period_in_days: Some(90),
        },
    )
    .unwrap();
    t.set_state(ACCOUNT, REGION, &key_id, KeyState::Disabled)
        .unwrap();
    t.clock.advance(chrono::Duration::days(91));
    assert_eq!(crate::workers::run_due(&t.kms, t.clock.now()).unwrap(), 0);
    assert!(events(&t.kms).is_empty());
}

#[test]
fn read_only_and_error_codes_follow_cloudtrail() {
    for op in [
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "DescribeKey",
        "ListGrants",
        "GetKeyPolicy",
    ] {
        assert!(super::is_read_only(op), "{op}");
    }
    for op in [
        "CreateKey",
        "CreateGrant",
        "RetireGrant",
        "RevokeGrant",
        "PutKeyPolicy",
        "ScheduleKeyDeletion",
        "EnableKey",
    ] {
        assert!(!super::is_read_only(op), "{op}");
    }
    assert_eq!(
        super::cloudtrail_error_code("AccessDeniedException"),
        "AccessDenied"
    );
    assert_eq!(
        super::cloudtrail_error_code("NotFoundException"),
        "NotFoundException"
    );
}
