//! Helpers the generated service modules share: defaults that keep the `MODEL` tables short, and
//! the step between the canonical value and the typed shapes. A value that does not fit its shape
//! becomes the protocol's validation error, naming the member and the constraint but never
//! echoing the value (inputs carry plaintexts and secrets).
//!
//! Source: `xtask/src/templates/support.rs`, copied verbatim by `cargo xtask codegen`.

use crate::error::AwsError;
use crate::schema::{Location, Member, Protocol, ServiceModel, Shape, ShapeKind};
use base64::Engine as _;
use serde_json::Value;

/// Defaults for a member entry; generated entries name only what differs.
pub(crate) const MEMBER: Member = Member {
    name: "",
    shape: "",
    location: Location::Body,
    location_name: None,
    query_name: None,
    flattened: false,
    idempotency_token: false,
    xml_attribute: false,
    json_value: false,
    timestamp_format: None,
    deprecated: false,
};

/// Defaults for a shape entry; generated entries name only what differs.
pub(crate) const SHAPE: Shape =
    Shape { name: "", kind: ShapeKind::Integer, min: None, max: None, pattern: None, sensitive: false };

/// Deeper values are not inspected for a message (serde_json refuses nesting beyond 128 anyway).
const MAX_DEPTH: usize = 128;

/// The typed input of `op` from its canonical value (`null` counts as `{}`).
pub(crate) fn decode_input<T: serde::de::DeserializeOwned>(
    model: &'static ServiceModel,
    op: &str,
    value: Value,
) -> Result<T, AwsError> {
    let value = if value.is_null() { Value::Object(serde_json::Map::new()) } else { value };
    T::deserialize(&value).map_err(|_| input_error(model, op, &value))
}

/// The canonical value of a typed output.
pub(crate) fn encode_output<T: serde::Serialize>(output: &T) -> Result<Value, AwsError> {
    // Only maps with non-string keys can fail, and generated maps have string keys.
    serde_json::to_value(output).map_err(|_| AwsError::internal("InternalFailure"))
}

/// What is wrong with an input value, found by walking it against the model.
enum Problem {
    /// A required member is absent or null.
    Missing(String),
    /// A member's value does not fit its shape; the string says what it must be.
    Invalid(String, String),
}

/// The protocol's error for an input that did not deserialize: `ValidationException` (JSON
/// protocols) or `InvalidParameterValue` (EC2 and awsQuery).
pub(crate) fn input_error(model: &ServiceModel, op: &str, value: &Value) -> AwsError {
    let json = matches!(model.protocol, Protocol::Json | Protocol::RestJson);
    let problem = model
        .operation(op)
        .and_then(|o| o.input)
        .and_then(|shape| find_problem(model, shape, value, &mut Vec::new(), json, 0));
    match (json, problem) {
        (true, Some(Problem::Missing(path))) => AwsError::validation(
            "ValidationException",
            400,
            &[format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")],
        ),
        (true, Some(Problem::Invalid(path, must))) => AwsError::validation(
            "ValidationException",
            400,
            &[format!("Value at '{path}' failed to satisfy constraint: Member must {must}")],
        ),
        (true, None) => AwsError::validation("ValidationException", 400, &[format!("Input of {op} is not well formed")]),
        (false, Some(Problem::Missing(path))) => {
            AwsError::new("InvalidParameterValue", 400, format!("The request must contain the parameter {path}"))
        }
        (false, Some(Problem::Invalid(path, must))) => {
            AwsError::new("InvalidParameterValue", 400, format!("Invalid value for parameter {path}: the value must {must}"))
        }
        (false, None) => AwsError::new("InvalidParameterValue", 400, format!("The input of {op} is not well formed")),
    }
}

fn segment(name: &str, json: bool) -> String {
    if !json {
        return name.to_owned();
    }
    // AWS's JSON validation messages name members in lowerCamel case (`keyId`).
    let mut cs = name.chars();
    match cs.next() {
        Some(f) => f.to_lowercase().chain(cs).collect(),
        None => String::new(),
    }
}

fn find_problem(
    model: &ServiceModel,
    shape: &str,
    v: &Value,
    path: &mut Vec<String>,
    json: bool,
    depth: usize,
) -> Option<Problem> {
    if depth > MAX_DEPTH {
        return None;
    }
    let shape = model.shape(shape)?;
    let invalid = |path: &[String], must: &str| Some(Problem::Invalid(path.join("."), must.to_owned()));
    match &shape.kind {
        ShapeKind::Structure(st) => {
            let Value::Object(obj) = v else { return invalid(path, "be a structure") };
            for m in st.members {
                let raw_payload = st.payload == Some(m.name)
                    && matches!(model.shape(m.shape).map(|s| &s.kind), Some(ShapeKind::Blob { .. }));
                path.push(segment(m.name, json));
                let found = match obj.get(m.name).filter(|x| !x.is_null()) {
                    None if st.required.contains(&m.name) && !raw_payload => Some(Problem::Missing(path.join("."))),
                    None => None,
                    Some(x) => find_problem(model, m.shape, x, path, json, depth + 1),
                };
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        ShapeKind::List(l) => {
            let Value::Array(items) = v else { return invalid(path, "be a list") };
            for (i, item) in items.iter().enumerate() {
                path.push((i + 1).to_string());
                let found = find_problem(model, l.member, item, path, json, depth + 1);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        ShapeKind::Map(m) => {
            // Keys are not named in the message: they are caller data.
            let Value::Object(obj) = v else { return invalid(path, "be a map") };
            obj.values().find_map(|x| find_problem(model, m.value, x, path, json, depth + 1))
        }
        ShapeKind::String { enum_values } => match v {
            Value::String(s) if enum_values.is_empty() || enum_values.contains(&s.as_str()) => None,
            Value::String(_) => invalid(path, &format!("satisfy enum value set: [{}]", enum_values.join(", "))),
            _ => invalid(path, "be a string"),
        },
        ShapeKind::Integer => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => None,
            _ => invalid(path, "be an integer"),
        },
        ShapeKind::Long => match v.as_i64() {
            Some(_) => None,
            None => invalid(path, "be an integer"),
        },
        ShapeKind::Boolean => match v {
            Value::Bool(_) => None,
            _ => invalid(path, "be a boolean"),
        },
        ShapeKind::Double | ShapeKind::Float => match v {
            Value::Number(_) => None,
            _ => invalid(path, "be a number"),
        },
        ShapeKind::Blob { .. } => match v {
            Value::String(s) if base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).is_ok() => None,
            _ => invalid(path, "be base64-encoded binary data"),
        },
        ShapeKind::Timestamp { .. } => match v.as_f64() {
            Some(secs) if crate::types::Timestamp::from_epoch_seconds(secs).is_some() => None,
            _ => invalid(path, "be a timestamp"),
        },
    }
}
