//! Property tests: canonical value → request (as botocore would encode it) → decode gives the
//! same value, for every operation of every generated service and of the test model; and the
//! fuzz entry points never panic on arbitrary bytes.

use super::fuzzing::{self, encode_request};
use super::testmodel::{TEST, TEST_EC2, TEST_QUERY, TEST_REST};
use super::{decode_request, validate_input};
use crate::schema::{Location, Operation, Protocol, ServiceModel, Shape, ShapeKind};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Just};
use serde_json::{Map, Value};

const MAX_STRATEGY_DEPTH: usize = 4;

#[derive(Clone, Copy)]
struct Ctx {
    protocol: Protocol,
    /// Where the top-level member sits (restJson): headers and query strings cannot carry
    /// empty lists, headers only whole seconds.
    location: Location,
}

fn string_strategy(ctx: Ctx, non_empty: bool) -> BoxedStrategy<String> {
    let min = usize::from(non_empty);
    if ctx.protocol == Protocol::RestJson && ctx.location != Location::Body {
        // URI labels, query strings and headers: printable ASCII without spaces.
        proptest::string::string_regex(&format!("[a-zA-Z0-9/+=:_.,~\"%-]{{{min},8}}"))
            .unwrap()
            .boxed()
    } else {
        proptest::string::string_regex(&format!("\\PC{{{min},8}}"))
            .unwrap()
            .boxed()
    }
}

/// A canonical value of `shape`, or absent.
fn value_strategy(
    model: &'static ServiceModel,
    shape: &'static Shape,
    ctx: Ctx,
    depth: usize,
) -> BoxedStrategy<Option<Value>> {
    match present_strategy(model, shape, ctx, depth) {
        Some(p) => prop_oneof![1 => Just(None), 4 => p.prop_map(Some)].boxed(),
        None => Just(None).boxed(),
    }
}

/// A canonical value of `shape` that is present and expressible on the wire (form protocols
/// cannot carry empty structures, EC2 no empty lists, restJson headers/query strings neither);
/// `None` when no such value exists within the depth limit.
fn present_strategy(
    model: &'static ServiceModel,
    shape: &'static Shape,
    ctx: Ctx,
    depth: usize,
) -> Option<BoxedStrategy<Value>> {
    if depth > MAX_STRATEGY_DEPTH {
        return None;
    }
    let form = matches!(ctx.protocol, Protocol::Ec2 | Protocol::Query);
    let min_items = usize::from(ctx.protocol == Protocol::Ec2 || ctx.location != Location::Body);
    Some(match &shape.kind {
        ShapeKind::Structure(st) => {
            let members: Vec<BoxedStrategy<Option<(String, Value)>>> = st
                .members
                .iter()
                .filter_map(|m| {
                    let s = model.shape(m.shape)?;
                    Some(
                        value_strategy(model, s, ctx, depth + 1)
                            .prop_map(move |v| v.map(|v| (m.name.to_owned(), v)))
                            .boxed(),
                    )
                })
                .collect();
            if !form {
                return Some(
                    members
                        .prop_map(|vs| Value::Object(vs.into_iter().flatten().collect()))
                        .boxed(),
                );
            }
            let forced: Vec<BoxedStrategy<(String, Value)>> = st
                .members
                .iter()
                .filter_map(|m| {
                    let p = present_strategy(model, model.shape(m.shape)?, ctx, depth + 1)?;
                    Some(p.prop_map(move |v| (m.name.to_owned(), v)).boxed())
                })
                .collect();
            if forced.is_empty() {
                return None;
            }
            (members, proptest::strategy::Union::new(forced))
                .prop_map(|(vs, (name, v))| {
                    let mut obj: Map<String, Value> = vs.into_iter().flatten().collect();
                    if obj.is_empty() {
                        obj.insert(name, v);
                    }
                    Value::Object(obj)
                })
                .boxed()
        }
        ShapeKind::List(ls) => {
            let item = present_strategy(model, model.shape(ls.member)?, ctx, depth + 1)?;
            proptest::collection::vec(item, min_items..3)
                .prop_map(Value::Array)
                .boxed()
        }
        ShapeKind::Map(ms) => {
            let value = present_strategy(model, model.shape(ms.value)?, ctx, depth + 1)?;
            let keys = proptest::string::string_regex("x[a-z]{0,5}").ok()?;
            proptest::collection::btree_map(keys, value, min_items.max(usize::from(form))..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed()
        }
        ShapeKind::String { .. } => string_strategy(ctx, false).prop_map(Value::String).boxed(),
        ShapeKind::Integer => any::<i32>().prop_map(Value::from).boxed(),
        ShapeKind::Long => any::<i64>().prop_map(Value::from).boxed(),
        ShapeKind::Double | ShapeKind::Float => (-1e12f64..1e12)
            .prop_filter_map("finite", |f| {
                serde_json::Number::from_f64(f).map(Value::Number)
            })
            .boxed(),
        ShapeKind::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        ShapeKind::Blob { .. } => proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| Value::String(super::common::B64.encode(b)))
            .boxed(),
        ShapeKind::Timestamp { .. } => {
            let header = ctx.location == Location::Header;
            (0i64..4_000_000_000_000)
                .prop_map(move |ms| {
                    super::common::epoch_value(if header {
                        (ms / 1000) as f64
                    } else {
                        ms as f64 / 1000.0
                    })
                })
                .boxed()
        }
    })
}

/// The input of `op`: every member by its location; URI labels always present and non-empty.
fn input_strategy(
    model: &'static ServiceModel,
    op: &'static Operation,
) -> BoxedStrategy<(Value, Option<bytes::Bytes>)> {
    let Some(ShapeKind::Structure(st)) = op.input.and_then(|n| model.shape(n)).map(|s| &s.kind)
    else {
        return Just((Value::Object(Map::new()), None)).boxed();
    };
    let payload_blob = st.payload.and_then(|p| st.member(p)).filter(|m| {
        matches!(
            model.shape(m.shape).map(|s| &s.kind),
            Some(ShapeKind::Blob { .. })
        )
    });
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = st
        .members
        .iter()
        .filter(|m| payload_blob.is_none_or(|p| p.name != m.name))
        .filter_map(|m| {
            let s = model.shape(m.shape)?;
            let location = if model.protocol == Protocol::RestJson {
                m.location
            } else {
                Location::Body
            };
            let ctx = Ctx {
                protocol: model.protocol,
                location,
            };
            let name = m.name.to_owned();
            let strategy = if location == Location::Uri {
                match &s.kind {
                    ShapeKind::String { .. } => {
                        string_strategy(ctx, true).prop_map(Value::String).boxed()
                    }
                    _ => match present_strategy(model, s, ctx, 1) {
                        Some(p) => p,
                        None => return None,
                    },
                }
                .prop_map(move |v| Some((name.clone(), v)))
                .boxed()
            } else {
                value_strategy(model, s, ctx, 1)
                    .prop_map(move |v| v.map(|v| (name.clone(), v)))
                    .boxed()
            };
            Some(strategy)
        })
        .collect();
    let payload = match payload_blob {
        Some(_) => proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| Some(bytes::Bytes::from(b)))
            .boxed(),
        None => Just(None).boxed(),
    };
    (members, payload)
        .prop_map(|(vs, p)| (Value::Object(vs.into_iter().flatten().collect()), p))
        .boxed()
}

/// Equality, except that floats may differ in the last bit: serde_json's default float parser
/// is not correctly rounded (its `float_roundtrip` feature is; see the codec report).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= f64::EPSILON * 4.0 * x.abs().max(y.abs())
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

fn check_round_trip(model: &'static ServiceModel, op: &'static Operation, cases: u32) {
    // `CODEC_PROPTEST_CASES=2000` for a longer local run.
    let cases = std::env::var("CODEC_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&input_strategy(model, op), |(input, payload)| {
        let req = encode_request(model, op, &input, payload.as_ref());
        let decoded = decode_request(model, op, &req.as_request())
            .map_err(|e| TestCaseError::fail(format!("{e}: {req:?}")))?;
        prop_assert!(
            same(&decoded.input, &input),
            "decoded {} from {:?}, expected {}",
            decoded.input,
            req,
            input
        );
        prop_assert_eq!(&decoded.payload, &payload);
        let _ = validate_input(model, op, &decoded.input);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}.{}: {e}", model.name, op.name);
    }
}

#[test]
fn json_codec_round_trips_test_model() {
    for model in [&TEST, &TEST_EC2, &TEST_QUERY, &TEST_REST] {
        for op in model.operations {
            // The test model's rest operations only make sense for restJson, and vice versa.
            let rest_op = op.request_uri != "/";
            if rest_op != (model.protocol == Protocol::RestJson) {
                continue;
            }
            check_round_trip(model, op, 64);
        }
    }
}

#[test]
fn every_generated_operation_round_trips() {
    for model in crate::gen::SERVICES {
        for op in model.operations {
            check_round_trip(model, op, 16);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_entries_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::json(&data);
        fuzzing::ec2(&data);
        fuzzing::query(&data);
        fuzzing::rest_json(&data);
    }

    #[test]
    fn fuzz_entries_never_panic_on_plausible_forms(op in any::<u8>(), body in "[A-Za-z0-9.=&%]{0,120}") {
        let mut data = vec![0, op];
        data.extend_from_slice(b"\0");
        data.extend_from_slice(body.as_bytes());
        fuzzing::ec2(&data);
        fuzzing::query(&data);
    }
}
