//! Shape-driven conversion between JSON documents on the wire (awsJson bodies, restJson bodies)
//! and the canonical value.
//!
//! Inbound ([`from_wire`]) checks every value against its shape, maps wire keys (`locationName`,
//! else the member name) to member names, drops `null`s and unknown keys, and turns timestamps
//! given as strings into epoch seconds. Outbound ([`to_wire`]) does the reverse mapping, keeps
//! only modelled members and renders timestamps in the member's format. Both stop at
//! [`MAX_DEPTH`].

use super::common::{epoch_value, format_timestamp, is_base64, ts_format, value_epoch, MAX_DEPTH};
use crate::schema::{
    Location, Member, ServiceModel, Shape, ShapeKind, StructureShape, TimestampFormat,
};
use serde_json::{Map, Value};

/// The JSON key of a body member.
pub(crate) fn json_name(m: &Member) -> &'static str {
    m.location_name.unwrap_or(m.name)
}

/// Convert a wire JSON value of `shape` to canonical form. `Ok(None)` for `null`.
/// `path` names the member for error messages.
pub(crate) fn from_wire(
    model: &ServiceModel,
    shape: &Shape,
    member: Option<&Member>,
    v: Value,
    depth: usize,
) -> Result<Option<Value>, String> {
    if depth > MAX_DEPTH {
        return Err("document nested too deeply".to_owned());
    }
    if v.is_null() {
        return Ok(None);
    }
    let name = member.map(|m| m.name).unwrap_or(shape.name);
    let wrong = |what: &str| Err(format!("{what} expected for {name}"));
    match &shape.kind {
        ShapeKind::Structure(st) => match v {
            Value::Object(obj) => Ok(Some(Value::Object(struct_from_wire(
                model, st, obj, depth, false,
            )?))),
            _ => wrong("object"),
        },
        ShapeKind::List(ls) => match v {
            Value::Array(items) => {
                let Some(item_shape) = model.shape(ls.member) else {
                    return Ok(Some(Value::Array(items)));
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(x) = from_wire(model, item_shape, None, item, depth + 1)? {
                        out.push(x);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            _ => wrong("array"),
        },
        ShapeKind::Map(ms) => match v {
            Value::Object(obj) => {
                let Some(value_shape) = model.shape(ms.value) else {
                    return Ok(Some(Value::Object(obj)));
                };
                let mut out = Map::new();
                for (k, x) in obj {
                    if let Some(x) = from_wire(model, value_shape, None, x, depth + 1)? {
                        out.insert(k, x);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            _ => wrong("object"),
        },
        ShapeKind::String { .. } => match v {
            Value::String(_) => Ok(Some(v)),
            _ => wrong("string"),
        },
        ShapeKind::Integer | ShapeKind::Long => {
            let int = match &v {
                Value::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                        .map(|f| f as i64)
                }),
                _ => None,
            };
            match int {
                Some(i) if matches!(shape.kind, ShapeKind::Long) || i32::try_from(i).is_ok() => {
                    Ok(Some(Value::from(i)))
                }
                _ => wrong("integer"),
            }
        }
        ShapeKind::Double | ShapeKind::Float => match v {
            Value::Number(_) => Ok(Some(v)),
            _ => wrong("number"),
        },
        ShapeKind::Boolean => match v {
            Value::Bool(_) => Ok(Some(v)),
            _ => wrong("boolean"),
        },
        ShapeKind::Blob { .. } => match &v {
            Value::String(s) if is_base64(s) => Ok(Some(v)),
            _ => wrong("base64-encoded string"),
        },
        ShapeKind::Timestamp { .. } => match value_epoch(&v) {
            Some(secs) => Ok(Some(epoch_value(secs))),
            None => wrong("timestamp"),
        },
    }
}

/// Convert a wire JSON object of a structure. With `body_only`, members bound elsewhere (URI,
/// query string, headers) are not read from the object (restJson top level).
pub(crate) fn struct_from_wire(
    model: &ServiceModel,
    st: &StructureShape,
    obj: Map<String, Value>,
    depth: usize,
    body_only: bool,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, v) in obj {
        let Some(m) = st
            .members
            .iter()
            .find(|m| json_name(m) == key && (!body_only || m.location == Location::Body))
        else {
            continue;
        };
        let Some(shape) = model.shape(m.shape) else {
            continue;
        };
        if let Some(x) = from_wire(model, shape, Some(m), v, depth + 1)? {
            out.insert(m.name.to_owned(), x);
        }
    }
    Ok(out)
}

/// Convert a canonical value of `shape` to its wire JSON. `None` for null/absent.
pub(crate) fn to_wire(
    model: &ServiceModel,
    shape: &Shape,
    member: Option<&Member>,
    v: &Value,
    depth: usize,
) -> Option<Value> {
    if depth > MAX_DEPTH || v.is_null() {
        return None;
    }
    match (&shape.kind, v) {
        (ShapeKind::Structure(st), Value::Object(obj)) => {
            Some(Value::Object(struct_to_wire(model, st, obj, depth, false)))
        }
        (ShapeKind::List(ls), Value::Array(items)) => {
            let item_shape = model.shape(ls.member)?;
            Some(Value::Array(
                items
                    .iter()
                    .filter_map(|x| to_wire(model, item_shape, None, x, depth + 1))
                    .collect(),
            ))
        }
        (ShapeKind::Map(ms), Value::Object(obj)) => {
            let value_shape = model.shape(ms.value)?;
            let mut out = Map::new();
            for (k, x) in obj {
                if let Some(x) = to_wire(model, value_shape, None, x, depth + 1) {
                    out.insert(k.clone(), x);
                }
            }
            Some(Value::Object(out))
        }
        (ShapeKind::Timestamp { .. }, _) => {
            let secs = value_epoch(v)?;
            match ts_format(member, shape, TimestampFormat::UnixTimestamp) {
                TimestampFormat::UnixTimestamp => Some(epoch_value(secs)),
                f => Some(Value::String(format_timestamp(secs, f))),
            }
        }
        (ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_), _) => None,
        _ => Some(v.clone()),
    }
}

/// Wire JSON of a structure's members; with `body_only`, members bound to headers, the status
/// code or the URI are left out (restJson top level).
pub(crate) fn struct_to_wire(
    model: &ServiceModel,
    st: &StructureShape,
    obj: &Map<String, Value>,
    depth: usize,
    body_only: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for m in st.members {
        if body_only && m.location != Location::Body {
            continue;
        }
        let (Some(v), Some(shape)) = (obj.get(m.name), model.shape(m.shape)) else {
            continue;
        };
        if let Some(x) = to_wire(model, shape, Some(m), v, depth + 1) {
            out.insert(json_name(m).to_owned(), x);
        }
    }
    out
}
