//! Fuzz entry points (hidden; called by the thin shims under `fuzz/`) and the client-side
//! request encoders they use for round-trip checks.
//!
//! Each entry picks a generated service of its protocol and one of its operations from the
//! first bytes, builds an HTTP request from the rest, and decodes it. When decoding succeeds,
//! the input is validated, encoded back into a request the way botocore would send it, decoded
//! again and compared: the canonical value must survive the round trip. Output and error
//! encoders run on the decoded value too. Nothing here may panic except the round-trip
//! assertion, which is the point of fuzzing.

use super::common::{scalar_to_string, B64};
use super::form::{wire_name, Dialect};
use super::json_value::{struct_to_wire, to_wire};
use super::{decode_request, encode_error, encode_output, validate, HttpRequest};
use crate::error::AwsError;
use crate::schema::{
    Location, Member, Operation, Protocol, ServiceModel, Shape, ShapeKind, TimestampFormat,
};
use base64::Engine as _;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

/// An owned HTTP request, as a client would send it.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl OwnedRequest {
    pub fn as_request(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn empty_request(method: &str) -> OwnedRequest {
    OwnedRequest {
        method: method.to_owned(),
        path: "/".to_owned(),
        query: String::new(),
        headers: http::HeaderMap::new(),
        body: Bytes::new(),
    }
}

/// Encode the canonical input of `op` as the request a botocore client would send (no signing).
/// `payload` is the raw body of a restJson blob-payload operation.
pub fn encode_request(
    model: &ServiceModel,
    op: &Operation,
    input: &Value,
    payload: Option<&Bytes>,
) -> OwnedRequest {
    match model.protocol {
        Protocol::Json => {
            let mut r = empty_request("POST");
            let body = match (
                op.input.and_then(|n| model.shape(n)).map(|s| &s.kind),
                input,
            ) {
                (Some(ShapeKind::Structure(st)), Value::Object(obj)) => {
                    struct_to_wire(model, st, obj, 0, false)
                }
                _ => Map::new(),
            };
            r.body = Bytes::from(serde_json::to_vec(&Value::Object(body)).unwrap_or_default());
            if let Some(Ok(v)) = model
                .target_prefix
                .map(|p| http::HeaderValue::from_str(&format!("{p}.{}", op.name)))
            {
                r.headers.insert("x-amz-target", v);
            }
            r
        }
        Protocol::Ec2 => form_request(model, op, input, Dialect::Ec2),
        Protocol::Query => form_request(model, op, input, Dialect::Query),
        Protocol::RestJson => rest_request(model, op, input, payload),
    }
}

fn form_request(
    model: &ServiceModel,
    op: &Operation,
    input: &Value,
    dialect: Dialect,
) -> OwnedRequest {
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), op.name.into()),
        ("Version".into(), model.api_version.into()),
    ];
    if let Some(shape) = op.input.and_then(|n| model.shape(n)) {
        form_value(model, dialect, shape, None, input, "", &mut pairs, 0);
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, v);
    }
    let mut r = empty_request("POST");
    r.body = Bytes::from(ser.finish());
    r.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    r
}

#[allow(clippy::too_many_arguments)]
fn form_value(
    model: &ServiceModel,
    dialect: Dialect,
    shape: &Shape,
    member: Option<&Member>,
    v: &Value,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    depth: usize,
) {
    if depth > super::common::MAX_DEPTH || v.is_null() {
        return;
    }
    match (&shape.kind, v) {
        (ShapeKind::Structure(st), Value::Object(obj)) => {
            for m in st.members {
                let (Some(x), Some(ms)) = (obj.get(m.name), model.shape(m.shape)) else {
                    continue;
                };
                let name = wire_name(dialect, m);
                let key = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                form_value(model, dialect, ms, Some(m), x, &key, out, depth + 1);
            }
        }
        (ShapeKind::List(ls), Value::Array(items)) => {
            let Some(item_shape) = model.shape(ls.member) else {
                return;
            };
            let base = match dialect {
                Dialect::Ec2 => prefix.to_owned(),
                Dialect::Query => {
                    if items.is_empty() {
                        out.push((prefix.to_owned(), String::new()));
                        return;
                    }
                    if ls.flattened || member.is_some_and(|m| m.flattened) {
                        match (ls.member_location_name, prefix.rsplit_once('.')) {
                            (Some(n), Some((parent, _))) => format!("{parent}.{n}"),
                            (Some(n), None) => n.to_owned(),
                            (None, _) => prefix.to_owned(),
                        }
                    } else {
                        format!("{prefix}.{}", ls.member_location_name.unwrap_or("member"))
                    }
                }
            };
            for (i, x) in items.iter().enumerate() {
                form_value(
                    model,
                    dialect,
                    item_shape,
                    None,
                    x,
                    &format!("{base}.{}", i + 1),
                    out,
                    depth + 1,
                );
            }
        }
        (ShapeKind::Map(ms), Value::Object(obj)) => {
            let (Some(ks), Some(vs)) = (model.shape(ms.key), model.shape(ms.value)) else {
                return;
            };
            let base = if ms.flattened || member.is_some_and(|m| m.flattened) {
                prefix.to_owned()
            } else {
                format!("{prefix}.entry")
            };
            let (kn, vn) = (
                ms.key_location_name.unwrap_or("key"),
                ms.value_location_name.unwrap_or("value"),
            );
            for (i, (k, x)) in obj.iter().enumerate() {
                form_value(
                    model,
                    dialect,
                    ks,
                    None,
                    &Value::String(k.clone()),
                    &format!("{base}.{}.{kn}", i + 1),
                    out,
                    depth + 1,
                );
                form_value(
                    model,
                    dialect,
                    vs,
                    None,
                    x,
                    &format!("{base}.{}.{vn}", i + 1),
                    out,
                    depth + 1,
                );
            }
        }
        (ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_), _) => {}
        _ => out.push((
            prefix.to_owned(),
            scalar_to_string(shape, member, v, TimestampFormat::Iso8601),
        )),
    }
}

/// Characters botocore leaves bare in URI labels and query values.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const GREEDY_LABEL: &AsciiSet = &LABEL.remove(b'/');

fn rest_string(
    model: &ServiceModel,
    shape: &Shape,
    member: &Member,
    v: &Value,
    header: bool,
) -> Vec<String> {
    let default = if header {
        TimestampFormat::Rfc822
    } else {
        TimestampFormat::Iso8601
    };
    match (&shape.kind, v) {
        (ShapeKind::List(ls), Value::Array(items)) => {
            let Some(item_shape) = model.shape(ls.member) else {
                return vec![];
            };
            let items: Vec<String> = items
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| scalar_to_string(item_shape, None, x, default))
                .collect();
            if header {
                let quoted: Vec<String> = items
                    .iter()
                    .map(|s| {
                        if s.contains(',') || s.contains('"') {
                            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                        } else {
                            s.clone()
                        }
                    })
                    .collect();
                if quoted.is_empty() {
                    vec![]
                } else {
                    vec![quoted.join(",")]
                }
            } else {
                items
            }
        }
        (ShapeKind::String { .. }, Value::String(s)) if member.json_value => {
            vec![B64.encode(s.as_bytes())]
        }
        _ => vec![scalar_to_string(shape, Some(member), v, default)],
    }
}

fn rest_request(
    model: &ServiceModel,
    op: &Operation,
    input: &Value,
    payload: Option<&Bytes>,
) -> OwnedRequest {
    let mut r = empty_request(op.http_method);
    let tpl = op.request_uri.split('?').next().unwrap_or("/");
    let Some(ShapeKind::Structure(st)) = op.input.and_then(|n| model.shape(n)).map(|s| &s.kind)
    else {
        r.path = tpl.to_owned();
        return r;
    };
    let empty = Map::new();
    let obj = input.as_object().unwrap_or(&empty);
    let mut path = tpl.to_owned();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for m in st.members {
        let (Some(v), Some(shape)) = (obj.get(m.name), model.shape(m.shape)) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let wire = m.location_name.unwrap_or(m.name);
        match m.location {
            Location::Uri => {
                let s = rest_string(model, shape, m, v, false)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                let plain = format!("{{{wire}}}");
                let greedy = format!("{{{wire}+}}");
                if path.contains(&greedy) {
                    path =
                        path.replace(&greedy, &utf8_percent_encode(&s, GREEDY_LABEL).to_string());
                } else {
                    path = path.replace(&plain, &utf8_percent_encode(&s, LABEL).to_string());
                }
            }
            Location::QueryString => match (&shape.kind, v) {
                (ShapeKind::Map(_), Value::Object(map)) => {
                    for (k, x) in map {
                        match x {
                            Value::Array(items) => items.iter().for_each(|i| {
                                query.append_pair(k, i.as_str().unwrap_or_default());
                            }),
                            other => {
                                query.append_pair(k, other.as_str().unwrap_or_default());
                            }
                        }
                    }
                }
                _ => {
                    for s in rest_string(model, shape, m, v, false) {
                        query.append_pair(wire, &s);
                    }
                }
            },
            Location::Header => {
                for s in rest_string(model, shape, m, v, true) {
                    if let (Ok(name), Ok(value)) = (
                        http::HeaderName::from_bytes(wire.as_bytes()),
                        http::HeaderValue::from_str(&s),
                    ) {
                        r.headers.append(name, value);
                    }
                }
            }
            Location::Headers => {
                if let Value::Object(map) = v {
                    for (k, x) in map {
                        let name = http::HeaderName::from_bytes(format!("{wire}{k}").as_bytes());
                        let value = http::HeaderValue::from_str(x.as_str().unwrap_or_default());
                        if let (Ok(name), Ok(value)) = (name, value) {
                            r.headers.append(name, value);
                        }
                    }
                }
            }
            Location::Body | Location::StatusCode => {}
        }
    }
    r.path = path;
    r.query = query.finish();
    match st.payload.and_then(|p| st.member(p)) {
        Some(pm) => match (
            model.shape(pm.shape).map(|s| (s, &s.kind)),
            obj.get(pm.name),
        ) {
            (Some((_, ShapeKind::Blob { .. })), _) => r.body = payload.cloned().unwrap_or_default(),
            (Some((_, ShapeKind::String { .. })), Some(Value::String(s))) => {
                r.body = Bytes::from(s.clone())
            }
            (Some((shape, ShapeKind::Structure(_))), Some(v)) => {
                if let Some(doc) = to_wire(model, shape, Some(pm), v, 1) {
                    r.body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
                }
            }
            _ => {}
        },
        None => {
            let body = struct_to_wire(model, st, obj, 0, true);
            if !body.is_empty() || st.members.iter().any(|m| m.location == Location::Body) {
                r.body = Bytes::from(serde_json::to_vec(&Value::Object(body)).unwrap_or_default());
            }
        }
    }
    r
}

/// Decode, validate, re-encode and decode again; panics only if the round trip changes the
/// canonical value.
pub fn round_trip(model: &ServiceModel, op: &Operation, req: &HttpRequest<'_>) {
    let Ok(decoded) = decode_request(model, op, req) else {
        return;
    };
    let _ = validate::validate_input(model, op, &decoded.input);
    let again = encode_request(model, op, &decoded.input, decoded.payload.as_ref());
    match decode_request(model, op, &again.as_request()) {
        Ok(d2) => {
            assert_eq!(
                d2.input, decoded.input,
                "{}.{}: canonical value changed in a round trip",
                model.name, op.name
            );
            assert_eq!(
                d2.payload, decoded.payload,
                "{}.{}: payload changed in a round trip",
                model.name, op.name
            );
        }
        Err(e) => panic!(
            "{}.{}: re-encoded request failed to decode: {e}",
            model.name, op.name
        ),
    }
    let _ = encode_output(model, op, &decoded.input, decoded.payload.clone(), "fuzz");
    let _ = encode_error(model, &AwsError::new("Fuzz", 400, "fuzz <&>"), "fuzz");
}

fn pick(
    protocol: Protocol,
    data: &[u8],
) -> Option<(&'static ServiceModel, &'static Operation, &[u8])> {
    let models: Vec<&'static ServiceModel> = crate::gen::SERVICES
        .iter()
        .copied()
        .filter(|m| m.protocol == protocol)
        .collect();
    let (&a, rest) = data.split_first()?;
    let (&b, rest) = rest.split_first()?;
    let model = *models.get(usize::from(a) % models.len().max(1))?;
    let op = model
        .operations
        .get(usize::from(b) % model.operations.len().max(1))?;
    Some((model, op, rest))
}

fn run(
    protocol: Protocol,
    data: &[u8],
    build: impl Fn(&ServiceModel, &Operation, &[u8]) -> OwnedRequest,
) {
    if let Some((model, op, rest)) = pick(protocol, data) {
        let req = build(model, op, rest);
        round_trip(model, op, &req.as_request());
    }
}

/// awsJson1.1: the bytes are the body.
pub fn json(data: &[u8]) {
    run(Protocol::Json, data, |_, _, rest| OwnedRequest {
        body: Bytes::copy_from_slice(rest),
        ..empty_request("POST")
    });
}

/// Form protocols: `<url query>\0<body>`.
fn form(protocol: Protocol, data: &[u8]) {
    run(protocol, data, |_, _, rest| {
        let mut parts = rest.splitn(2, |&b| b == 0);
        let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let body = Bytes::copy_from_slice(parts.next().unwrap_or_default());
        OwnedRequest {
            query,
            body,
            ..empty_request("POST")
        }
    });
}

/// EC2 query: `<url query>\0<form body>`.
pub fn ec2(data: &[u8]) {
    form(Protocol::Ec2, data);
}

/// awsQuery: `<url query>\0<form body>`.
pub fn query(data: &[u8]) {
    form(Protocol::Query, data);
}

/// restJson1: `<path>\0<query>\0<header lines "name: value">\0<body>`. An empty path means the
/// operation's own URI with every label replaced by `x`, so that fuzzing reaches the binding code.
pub fn rest_json(data: &[u8]) {
    run(Protocol::RestJson, data, |_, op, rest| {
        let mut parts = rest.splitn(4, |&b| b == 0);
        let mut path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        if path.is_empty() {
            let tpl = op.request_uri.split('?').next().unwrap_or("/");
            let mut out = String::new();
            let mut in_label = false;
            for c in tpl.chars() {
                match c {
                    '{' => in_label = true,
                    '}' => {
                        in_label = false;
                        out.push('1');
                    }
                    c if !in_label => out.push(c),
                    _ => {}
                }
            }
            path = out;
        }
        let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let mut headers = http::HeaderMap::new();
        for line in String::from_utf8_lossy(parts.next().unwrap_or_default()).lines() {
            if let Some((k, v)) = line.split_once(':') {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.trim().as_bytes()),
                    http::HeaderValue::from_str(v.trim()),
                ) {
                    headers.append(k, v);
                }
            }
        }
        let body = Bytes::copy_from_slice(parts.next().unwrap_or_default());
        OwnedRequest {
            method: op.http_method.to_owned(),
            path,
            query,
            headers,
            body,
        }
    });
}
