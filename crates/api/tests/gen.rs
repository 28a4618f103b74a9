//! Checks on the generated code in `kmsnap_api::gen`: the model tables are consistent and
//! searchable, the typed shapes (de)serialize the canonical value, and `dispatch` glues a handler
//! to both. Regenerate with `cargo xtask codegen`; `cargo xtask codegen --check` guards drift.

use kmsnap_api::gen::{self, ebs, ec2, kms, rds, sts};
use kmsnap_api::proto::Decoded;
use kmsnap_api::schema::{Protocol, ServiceModel, ShapeKind};
use kmsnap_api::AwsError;
use serde_json::json;
use std::future::Future;

/// Runs a future that never waits on I/O (every handler here answers at once).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn decoded(input: serde_json::Value) -> Decoded {
    Decoded {
        input,
        payload: None,
    }
}

#[test]
fn services_are_listed_and_found() {
    let names: Vec<&str> = gen::SERVICES.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "kms",
            "ec2",
            "ebs",
            "rds",
            "backup",
            "cloudtrail",
            "sts",
            "iam"
        ]
    );
    for s in gen::SERVICES {
        assert!(std::ptr::eq(gen::service_by_name(s.name).unwrap(), *s));
        assert!(std::ptr::eq(
            gen::service_by_signing_name(s.signing_name).unwrap(),
            *s
        ));
    }
    assert!(gen::service_by_name("s3").is_none());
    assert_eq!(kms::MODEL.target_prefix, Some("TrentService"));
    assert_eq!(kms::MODEL.protocol, Protocol::Json);
    assert_eq!(ec2::MODEL.protocol, Protocol::Ec2);
    assert_eq!(rds::MODEL.protocol, Protocol::Query);
    assert_eq!(ebs::MODEL.protocol, Protocol::RestJson);
    assert_eq!(
        sts::MODEL.xml_namespace,
        Some("https://sts.amazonaws.com/doc/2011-06-15/")
    );
    assert_eq!(
        rds::MODEL.xml_namespace,
        Some("http://rds.amazonaws.com/doc/2014-10-31/")
    );
    assert_eq!(
        ec2::MODEL.xml_namespace,
        Some("http://ec2.amazonaws.com/doc/2016-11-15/")
    );
    assert_eq!(
        gen::iam::MODEL.xml_namespace,
        Some("https://iam.amazonaws.com/doc/2010-05-08/")
    );
}

#[test]
fn tables_are_sorted_so_lookups_are_binary_searches() {
    for s in gen::SERVICES {
        assert!(
            s.operations.windows(2).all(|w| w[0].name < w[1].name),
            "{} operations",
            s.name
        );
        assert!(
            s.shapes.windows(2).all(|w| w[0].name < w[1].name),
            "{} shapes",
            s.name
        );
        assert!(
            s.all_operation_names.windows(2).all(|w| w[0] < w[1]),
            "{} all_operation_names",
            s.name
        );
        for op in s.operations {
            assert!(s.knows_operation(op.name), "{}.{}", s.name, op.name);
            assert!(std::ptr::eq(s.operation(op.name).unwrap(), op));
        }
        for shape in s.shapes {
            assert!(std::ptr::eq(s.shape(shape.name).unwrap(), shape));
        }
    }
}

fn assert_shape(s: &ServiceModel, name: &str, from: &str) {
    assert!(
        s.shape(name).is_some(),
        "{}: {from} refers to missing shape {name}",
        s.name
    );
}

#[test]
fn every_referenced_shape_exists() {
    for s in gen::SERVICES {
        for op in s.operations {
            for name in op
                .input
                .iter()
                .chain(op.output.iter())
                .chain(op.errors.iter())
            {
                assert_shape(s, name, op.name);
            }
        }
        for shape in s.shapes {
            match &shape.kind {
                ShapeKind::Structure(st) => {
                    for m in st.members {
                        assert_shape(s, m.shape, shape.name);
                    }
                    for r in st.required {
                        assert!(
                            st.member(r).is_some(),
                            "{}.{}: required {r}",
                            s.name,
                            shape.name
                        );
                    }
                    if let Some(p) = st.payload {
                        assert!(
                            st.member(p).is_some(),
                            "{}.{}: payload {p}",
                            s.name,
                            shape.name
                        );
                    }
                }
                ShapeKind::List(l) => assert_shape(s, l.member, shape.name),
                ShapeKind::Map(m) => {
                    assert_shape(s, m.key, shape.name);
                    assert_shape(s, m.value, shape.name);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn allowlists_have_the_expected_size() {
    assert_eq!(kms::MODEL.operations.len(), 56);
    assert_eq!(kms::MODEL.all_operation_names.len(), 56);
    assert_eq!(ebs::MODEL.operations.len(), 6);
    assert_eq!(ec2::MODEL.operations.len(), 23);
    assert_eq!(rds::MODEL.operations.len(), 33);
    assert_eq!(gen::cloudtrail::MODEL.operations.len(), 1);
    assert_eq!(sts::MODEL.operations.len(), 2);
    assert_eq!(gen::iam::MODEL.operations.len(), 19);
    assert!(ec2::MODEL.knows_operation("RunInstances"));
    assert!(ec2::MODEL.operation("RunInstances").is_none());
}

#[test]
fn kms_encrypt_request_round_trips_the_canonical_value() {
    let v = json!({"KeyId": "alias/x", "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}});
    let req: kms::EncryptRequest = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(req.key_id, "alias/x");
    assert_eq!(req.plaintext.expose(), b"hello");
    assert_eq!(req.encryption_context.as_ref().unwrap()["a"], "b");
    assert!(req.encryption_algorithm.is_none());
    assert!(
        !format!("{req:?}").contains("hello"),
        "plaintext must be redacted in Debug"
    );
    assert_eq!(serde_json::to_value(&req).unwrap(), v);
}

#[test]
fn enums_use_exact_wire_values() {
    let spec: kms::KeySpec = serde_json::from_value(json!("SYMMETRIC_DEFAULT")).unwrap();
    assert_eq!(spec.as_str(), "SYMMETRIC_DEFAULT");
    assert_eq!(spec.to_string(), "SYMMETRIC_DEFAULT");
    assert_eq!(
        kms::KeySpec::from_wire("RSA_2048"),
        Some(kms::KeySpec::Rsa2048)
    );
    assert_eq!(kms::KeySpec::from_wire("nope"), None);
    for v in kms::KeySpec::ALL {
        assert_eq!(serde_json::to_value(v).unwrap(), json!(v.as_str()));
        assert_eq!(kms::KeySpec::from_wire(v.as_str()), Some(*v));
    }
}

#[test]
fn query_error_codes_come_from_the_model() {
    assert_eq!(
        rds::MODEL.error_code("DBSnapshotNotFoundFault"),
        ("DBSnapshotNotFound", 404)
    );
    assert_eq!(
        rds::MODEL.error_code("DBClusterNotFoundFault"),
        ("DBClusterNotFoundFault", 404)
    );
    assert_eq!(
        rds::MODEL.error_code("SharedSnapshotQuotaExceededFault"),
        ("SharedSnapshotQuotaExceeded", 400)
    );
    assert_eq!(
        kms::MODEL.error_code("NotFoundException"),
        ("NotFoundException", 400)
    );
    assert_eq!(
        kms::MODEL.error_code("KMSInternalException"),
        ("KMSInternalException", 500)
    );
    assert_eq!(
        ebs::MODEL.error_code("ResourceNotFoundException"),
        ("ResourceNotFoundException", 404)
    );
}

#[test]
fn ebs_put_snapshot_block_is_unsigned_and_answers_201() {
    let op = ebs::MODEL.operation("PutSnapshotBlock").unwrap();
    assert!(op.unsigned_payload);
    assert_eq!(op.response_code, 201);
    assert_eq!(op.http_method, "PUT");
    assert_eq!(
        op.request_uri,
        "/snapshots/{snapshotId}/blocks/{blockIndex}"
    );
    assert!(
        !ebs::MODEL
            .operation("StartSnapshot")
            .unwrap()
            .unsigned_payload
    );
    let Some(ShapeKind::Structure(st)) =
        ebs::MODEL.shape("PutSnapshotBlockRequest").map(|s| &s.kind)
    else {
        panic!("PutSnapshotBlockRequest is a structure")
    };
    assert_eq!(st.payload, Some("BlockData"));
}

struct Dummy;

impl kms::KmsHandler<()> for Dummy {
    async fn describe_key(
        &self,
        _ctx: &(),
        input: kms::DescribeKeyRequest,
    ) -> Result<kms::DescribeKeyResponse, AwsError> {
        Err(AwsError::new(
            "NotFoundException",
            400,
            format!("Key '{}' does not exist", input.key_id),
        ))
    }

    async fn disable_key(&self, _ctx: &(), _input: kms::DisableKeyRequest) -> Result<(), AwsError> {
        Ok(())
    }
}

impl ebs::EbsHandler<u32> for Dummy {
    async fn put_snapshot_block(
        &self,
        ctx: &u32,
        input: ebs::PutSnapshotBlockRequest,
    ) -> Result<ebs::PutSnapshotBlockResponse, AwsError> {
        assert_eq!(*ctx, 7);
        let body = input.block_data.expect("dispatch moves the payload in");
        assert_eq!(&body[..], b"block");
        Ok(ebs::PutSnapshotBlockResponse {
            checksum: Some(input.checksum),
            checksum_algorithm: Some(input.checksum_algorithm),
        })
    }

    async fn get_snapshot_block(
        &self,
        _ctx: &u32,
        _input: ebs::GetSnapshotBlockRequest,
    ) -> Result<ebs::GetSnapshotBlockResponse, AwsError> {
        Ok(ebs::GetSnapshotBlockResponse {
            data_length: Some(5),
            block_data: Some(bytes::Bytes::from_static(b"bytes")),
            ..Default::default()
        })
    }
}

impl ec2::Ec2Handler<()> for Dummy {}

#[test]
fn dispatch_answers_not_implemented_for_unbuilt_operations() {
    let err = block_on(kms::dispatch(
        &Dummy,
        &(),
        "Encrypt",
        decoded(json!({"KeyId": "k", "Plaintext": "aGk="})),
    ))
    .unwrap_err();
    assert_eq!(err.code, "NotImplemented");
    assert_eq!(err.status, 501);
    // Unknown to the allowlist, and unknown altogether: the same answer.
    let err = block_on(ec2::dispatch(
        &Dummy,
        &(),
        "RunInstances",
        decoded(json!({})),
    ))
    .unwrap_err();
    assert_eq!(err.code, "NotImplemented");
    let err = block_on(kms::dispatch(&Dummy, &(), "NoSuchOp", decoded(json!({})))).unwrap_err();
    assert_eq!(err.code, "NotImplemented");
}

#[test]
fn dispatch_calls_the_handler_and_encodes_its_output() {
    let err = block_on(kms::dispatch(
        &Dummy,
        &(),
        "DescribeKey",
        decoded(json!({"KeyId": "abc"})),
    ))
    .unwrap_err();
    assert_eq!(err.code, "NotFoundException");
    assert_eq!(err.message, "Key 'abc' does not exist");
    let (out, body) = block_on(kms::dispatch(
        &Dummy,
        &(),
        "DisableKey",
        decoded(json!({"KeyId": "abc"})),
    ))
    .unwrap();
    assert_eq!(out, json!({}));
    assert!(body.is_none());
}

#[test]
fn dispatch_moves_raw_payloads_both_ways() {
    let input = Decoded {
        input: json!({"SnapshotId": "snap-1", "BlockIndex": 3, "DataLength": 5, "Checksum": "c2Vj", "ChecksumAlgorithm": "SHA256"}),
        payload: Some(bytes::Bytes::from_static(b"block")),
    };
    let (out, body) = block_on(ebs::dispatch(&Dummy, &7, "PutSnapshotBlock", input)).unwrap();
    assert_eq!(
        out,
        json!({"Checksum": "c2Vj", "ChecksumAlgorithm": "SHA256"})
    );
    assert!(body.is_none());
    let input = decoded(json!({"SnapshotId": "snap-1", "BlockIndex": 3, "BlockToken": "t"}));
    let (out, body) = block_on(ebs::dispatch(&Dummy, &7, "GetSnapshotBlock", input)).unwrap();
    assert_eq!(out, json!({"DataLength": 5}));
    assert_eq!(body.as_deref(), Some(&b"bytes"[..]));
}

#[test]
fn bad_input_is_the_protocols_validation_error_without_echoing_values() {
    let err = block_on(kms::dispatch(
        &Dummy,
        &(),
        "DescribeKey",
        decoded(json!({})),
    ))
    .unwrap_err();
    assert_eq!(err.code, "ValidationException");
    assert_eq!(err.status, 400);
    assert_eq!(
        err.message,
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );

    let bad =
        json!({"KeyId": "k", "Plaintext": "not base64 SECRET!", "EncryptionContext": {"a": "b"}});
    let err = block_on(kms::dispatch(&Dummy, &(), "Encrypt", decoded(bad))).unwrap_err();
    assert_eq!(err.code, "ValidationException");
    assert!(err.message.contains("'plaintext'"), "{}", err.message);
    assert!(!err.message.contains("SECRET"), "{}", err.message);

    let bad = json!({"KeyId": "k", "KeySpec": "AES_999"});
    let err = block_on(kms::dispatch(&Dummy, &(), "GenerateDataKey", decoded(bad))).unwrap_err();
    assert!(
        err.message.contains("'keySpec'") && err.message.contains("AES_256"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("AES_999"), "{}", err.message);

    let err = block_on(ec2::dispatch(
        &Dummy,
        &(),
        "DeleteVolume",
        decoded(json!({"VolumeId": 5})),
    ))
    .unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue");
    assert_eq!(err.status, 400);
    assert!(err.message.contains("VolumeId"), "{}", err.message);
}
