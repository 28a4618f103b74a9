//! Golden fixtures for the four codecs, against the generated models.
//!
//! * `tests/fixtures/codec/requests/*.json` were produced by botocore's own serializer
//!   (`make_requests.py`); each must decode to its `expected` canonical value, pass model
//!   validation, and survive a re-encode/decode round trip.
//! * `tests/fixtures/codec/responses/*.json` are what our encoders produce for a deterministic
//!   sample output of each of those operations (and one error per protocol). They are golden:
//!   this test fails when the encoders' output changes, unless `UPDATE_FIXTURES=1` rewrites them.
//!   `tests/e2e/test_codec_fixtures.py` feeds them to botocore's parsers.

use base64::Engine as _;
use bytes::Bytes;
use kmsnap_api::gen::SERVICES;
use kmsnap_api::proto::{self, fuzzing, validate_input};
use kmsnap_api::schema::{Location, Operation, ServiceModel, Shape, ShapeKind};
use kmsnap_api::AwsError;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/codec")
}

fn model(name: &str) -> &'static ServiceModel {
    SERVICES
        .iter()
        .copied()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("service {name} not generated"))
}

fn read_json_files(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.clone(),
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Structural equality with numbers compared as f64 (1 == 1.0; timestamps to the millisecond).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-3
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture lacks {key}"))
}

#[test]
fn botocore_requests_decode_to_their_params() {
    if SERVICES.is_empty() {
        eprintln!("gen::SERVICES is empty; skipping request fixtures");
        return;
    }
    let files = read_json_files(&fixtures_dir().join("requests"));
    assert!(
        files.len() >= 20,
        "request fixtures missing: run tests/fixtures/codec/make_requests.py"
    );
    for (path, fx) in files {
        let m = model(str_of(&fx, "service"));
        let op = m
            .operation(str_of(&fx, "operation"))
            .unwrap_or_else(|| panic!("{}: operation not in the allowlist", path.display()));
        let mut headers = http::HeaderMap::new();
        for (k, v) in fx["headers"].as_object().unwrap() {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
            );
        }
        let body = Bytes::from(B64.decode(str_of(&fx, "body_base64")).unwrap());
        let req = proto::HttpRequest {
            method: str_of(&fx, "method"),
            path: str_of(&fx, "url_path"),
            query: str_of(&fx, "query_string"),
            headers: &headers,
            body: &body,
        };
        let decoded = proto::decode_request(m, op, &req)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            same(&decoded.input, &fx["expected"]),
            "{}:\n decoded  {}\n expected {}",
            path.display(),
            decoded.input,
            fx["expected"]
        );
        let payload = fx["expected_payload_base64"]
            .as_str()
            .map(|s| Bytes::from(B64.decode(s).unwrap()));
        assert_eq!(decoded.payload, payload, "{}: payload", path.display());
        validate_input(m, op, &decoded.input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fuzzing::round_trip(m, op, &req);
    }
}

/// Deterministic sample of a shape: strings "s", enums their first value, numbers 1, booleans
/// true, timestamps 1763881200.5 (whole seconds in headers), blobs "blob", lists of 2, maps of
/// one entry; depth-limited.
fn sample(m: &ServiceModel, shape: &Shape, in_header: bool, depth: usize) -> Option<Value> {
    if depth > 6 {
        return None;
    }
    Some(match &shape.kind {
        ShapeKind::Structure(st) => {
            let mut obj = Map::new();
            for mem in st.members {
                if matches!(mem.location, Location::Headers | Location::StatusCode) {
                    continue;
                }
                if let Some(v) = m
                    .shape(mem.shape)
                    .and_then(|s| sample(m, s, mem.location == Location::Header, depth + 1))
                {
                    obj.insert(mem.name.to_owned(), v);
                }
            }
            Value::Object(obj)
        }
        ShapeKind::List(ls) => {
            let item = sample(m, m.shape(ls.member)?, in_header, depth + 1)?;
            json!([item.clone(), item])
        }
        ShapeKind::Map(ms) => {
            let key = match &m.shape(ms.key)?.kind {
                ShapeKind::String { enum_values } if !enum_values.is_empty() => {
                    enum_values[0].to_owned()
                }
                _ => "k".to_owned(),
            };
            let mut obj = Map::new();
            obj.insert(key, sample(m, m.shape(ms.value)?, in_header, depth + 1)?);
            Value::Object(obj)
        }
        ShapeKind::String { enum_values } => json!(enum_values.first().copied().unwrap_or("s")),
        ShapeKind::Integer | ShapeKind::Long | ShapeKind::Double | ShapeKind::Float => json!(1),
        ShapeKind::Boolean => json!(true),
        ShapeKind::Timestamp { .. } if in_header => json!(1763881200),
        ShapeKind::Timestamp { .. } => json!(1763881200.5),
        ShapeKind::Blob { .. } => json!(B64.encode(b"blob")),
    })
}

fn response_fixture(
    m: &ServiceModel,
    op: &Operation,
    status_case: &str,
    resp: &proto::HttpResponse,
    request_id: &str,
    expected: Value,
    error: Value,
) -> Value {
    json!({
        "service": m.name,
        "operation": op.name,
        "protocol": match m.protocol {
            kmsnap_api::schema::Protocol::Json => "json",
            kmsnap_api::schema::Protocol::Ec2 => "ec2",
            kmsnap_api::schema::Protocol::Query => "query",
            kmsnap_api::schema::Protocol::RestJson => "rest-json",
        },
        "case": status_case,
        "status": resp.status,
        "headers": resp.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body_base64": B64.encode(&resp.body),
        "request_id": request_id,
        "expected": expected,
        "error": error,
    })
}

/// Equality of two response fixtures; JSON bodies compare as documents (key order is not
/// part of the contract and depends on serde_json features).
fn same_fixture(a: &Value, b: &Value) -> bool {
    let body = |v: &Value| {
        B64.decode(v["body_base64"].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let (ba, bb) = (body(a), body(b));
    let bodies_equal = match (
        serde_json::from_slice::<Value>(&ba),
        serde_json::from_slice::<Value>(&bb),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => ba == bb,
    };
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("body_base64"));
        v
    };
    bodies_equal && strip(a) == strip(b)
}

fn errors() -> Vec<(&'static str, &'static str, AwsError)> {
    vec![
        (
            "kms",
            "Encrypt",
            AwsError::new(
                "NotFoundException",
                400,
                "Alias arn:aws:kms:ap-northeast-1:111111111111:alias/missing is not found.",
            ),
        ),
        (
            "ec2",
            "DescribeSnapshots",
            AwsError::new(
                "InvalidSnapshot.NotFound",
                400,
                "The snapshot 'snap-1' does not exist.",
            ),
        ),
        (
            "rds",
            "CopyDBSnapshot",
            AwsError::new("DBSnapshotNotFound", 404, "DBSnapshot not found: nosuch"),
        ),
        (
            "sts",
            "AssumeRole",
            AwsError::new(
                "AccessDenied",
                403,
                "User is not authorized to perform: sts:AssumeRole <&>",
            ),
        ),
        (
            "ebs",
            "PutSnapshotBlock",
            AwsError::new("ValidationException", 400, "The checksum does not match.")
                .with_field("Reason", "INVALID_BLOCK"),
        ),
        (
            "backup",
            "DescribeRecoveryPoint",
            AwsError::new(
                "ResourceNotFoundException",
                400,
                "Backup vault with name nope not found",
            )
            .with_field("Code", "ResourceNotFoundException")
            .with_field("Type", "User")
            .with_field("Context", "nope"),
        ),
    ]
}

#[test]
fn encoded_responses_match_golden_fixtures() {
    if SERVICES.is_empty() {
        eprintln!("gen::SERVICES is empty; skipping response fixtures");
        return;
    }
    let update = std::env::var("UPDATE_FIXTURES").is_ok_and(|v| v == "1");
    let dir = fixtures_dir().join("responses");
    let mut produced: Vec<(String, Value)> = Vec::new();
    for (_, fx) in read_json_files(&fixtures_dir().join("requests")) {
        let m = model(str_of(&fx, "service"));
        let op = m.operation(str_of(&fx, "operation")).unwrap();
        let output = op
            .output
            .and_then(|n| m.shape(n))
            .and_then(|s| sample(m, s, false, 0))
            .unwrap_or_else(|| json!({}));
        let request_id = format!("{}-{}-0001", m.name, op.name);
        let resp = proto::encode_output(m, op, &output, None, &request_id);
        produced.push((
            format!("{}.{}.json", m.name, op.name),
            response_fixture(m, op, "output", &resp, &request_id, output, Value::Null),
        ));
    }
    for (service, op_name, err) in errors() {
        let m = model(service);
        let op = m.operation(op_name).unwrap();
        let request_id = format!("{service}-error-0001");
        let resp = proto::encode_error(m, &err, &request_id);
        let error = json!({"code": err.code, "message": err.message, "fields": err.fields});
        produced.push((
            format!("{service}.error.json"),
            response_fixture(m, op, "error", &resp, &request_id, json!({}), error),
        ));
    }
    let mut stale = Vec::new();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _) in read_json_files(&dir) {
            std::fs::remove_file(name).unwrap();
        }
    }
    for (name, fx) in &produced {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, serde_json::to_string_pretty(fx).unwrap() + "\n").unwrap();
            continue;
        }
        let committed: Option<Value> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if !committed.is_some_and(|c| same_fixture(&c, fx)) {
            stale.push(name.clone());
        }
    }
    assert!(stale.is_empty(), "response fixtures differ from the encoders' output: {stale:?}; rerun with UPDATE_FIXTURES=1 and review the diff");
}
