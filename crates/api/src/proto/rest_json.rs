//! restJson1 codec (EBS direct APIs, AWS Backup).
//!
//! Each input member is bound by its `location`: URI labels of the operation's `requestUri`
//! (`{Name}` one segment, `{Name+}` greedy; values percent-decoded), query-string parameters and
//! headers named by `locationName`, and the JSON body for the rest. A structure's `payload`
//! member is the whole body: raw bytes for a blob (EBS `BlockData`, returned in
//! [`Decoded::payload`] and *not* copied into the value), a JSON document for a structure.
//! Outputs go the same way in reverse, with the operation's `responseCode`.

use super::common::{
    format_timestamp, request_id_header, sanitize_header_value, scalar_from_str, scalar_to_string,
    ts_format, value_epoch, B64,
};
use super::json::parse_object;
use super::json_value::{struct_from_wire, struct_to_wire, to_wire};
use super::{Decoded, HttpRequest, HttpResponse};
use crate::error::AwsError;
use crate::schema::{
    Location, Member, Operation, ServiceModel, Shape, ShapeKind, StructureShape, TimestampFormat,
};
use base64::Engine as _;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

fn serialization_error(msg: impl Into<String>) -> AwsError {
    AwsError::new("SerializationException", 400, msg)
}

fn validation_error(msg: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", 400, msg)
}

/// Match one template segment (`literal`, `{Label}`, `{Label+}` or `pre{Label}suf`) against a
/// raw segment. `Some(None)` for a literal match, `Some(Some((label, raw value)))` for a label.
fn match_segment<'t, 'p>(tpl: &'t str, raw: &'p str) -> Option<Option<(&'t str, &'p str)>> {
    let (Some(open), Some(close)) = (tpl.find('{'), tpl.rfind('}')) else {
        return (tpl == raw).then_some(None);
    };
    if close < open {
        return None;
    }
    let (prefix, label, suffix) = (&tpl[..open], &tpl[open + 1..close], &tpl[close + 1..]);
    if raw.len() <= prefix.len() + suffix.len()
        || !raw.starts_with(prefix)
        || !raw.ends_with(suffix)
    {
        return None;
    }
    Some(Some((
        label.trim_end_matches('+'),
        &raw[prefix.len()..raw.len() - suffix.len()],
    )))
}

/// Match a `requestUri` (its path part; anything after `?` is ignored) against a raw request
/// path. Returns the label values, percent-decoded, or `None` when the path does not match
/// (also when a label value is not UTF-8 after decoding).
/// A single trailing slash the template lacks is tolerated.
pub fn match_uri(template: &str, raw_path: &str) -> Option<Vec<(String, String)>> {
    let tpl_path = template.split('?').next().unwrap_or("");
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    match_path(tpl_path, path).or_else(|| match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() && !tpl_path.ends_with('/') => {
            match_path(tpl_path, trimmed)
        }
        _ => None,
    })
}

fn match_path(tpl_path: &str, path: &str) -> Option<Vec<(String, String)>> {
    let tpl: Vec<&str> = tpl_path.split('/').collect();
    let raw: Vec<&str> = path.split('/').collect();
    let mut raw_labels: Vec<(&str, String)> = Vec::new();
    let greedy = tpl.iter().position(|s| s.ends_with("+}"));
    match greedy {
        None => {
            if tpl.len() != raw.len() {
                return None;
            }
            for (t, r) in tpl.iter().zip(&raw) {
                if let Some(l) = match_segment(t, r)? {
                    raw_labels.push((l.0, l.1.to_owned()));
                }
            }
        }
        Some(g) => {
            let after = tpl.len() - g - 1;
            if raw.len() < tpl.len() {
                return None;
            }
            for (t, r) in tpl[..g].iter().zip(&raw[..g]) {
                if let Some(l) = match_segment(t, r)? {
                    raw_labels.push((l.0, l.1.to_owned()));
                }
            }
            let tail_start = raw.len() - after;
            for (t, r) in tpl[g + 1..].iter().zip(&raw[tail_start..]) {
                if let Some(l) = match_segment(t, r)? {
                    raw_labels.push((l.0, l.1.to_owned()));
                }
            }
            let joined = raw[g..tail_start].join("/");
            let (label, value) = match_segment(tpl[g], &joined)??;
            raw_labels.push((label, value.to_owned()));
        }
    }
    raw_labels
        .into_iter()
        .map(|(label, raw)| {
            percent_decode_str(&raw)
                .decode_utf8()
                .ok()
                .map(|v| (label.to_owned(), v.into_owned()))
        })
        .collect()
}

/// Split a header list value on commas, honouring botocore's double-quoted items.
fn split_header_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_owned()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// Convert a string from a label, query parameter or header to the member's canonical value.
fn from_string(
    model: &ServiceModel,
    shape: &Shape,
    member: &Member,
    values: &[String],
    header: bool,
) -> Result<Option<Value>, AwsError> {
    let convert = |shape: &Shape, s: &str| -> Result<Value, AwsError> {
        if member.json_value && matches!(shape.kind, ShapeKind::String { .. }) {
            // A `jsonvalue` header is base64 of a JSON document; the canonical value is its text.
            let bytes = B64.decode(s.trim()).map_err(|_| {
                validation_error(format!("Invalid base64 in header {}", member.name))
            })?;
            return String::from_utf8(bytes).map(Value::String).map_err(|_| {
                validation_error(format!("Invalid JSON value in header {}", member.name))
            });
        }
        scalar_from_str(shape, s).map_err(|ty| {
            validation_error(format!(
                "Value '{s}' for {} is not a valid {ty}",
                member.name
            ))
        })
    };
    if values.is_empty() {
        return Ok(None);
    }
    match &shape.kind {
        ShapeKind::List(ls) => {
            let Some(item_shape) = model.shape(ls.member) else {
                return Ok(None);
            };
            let items: Vec<String> = if header {
                values.iter().flat_map(|v| split_header_list(v)).collect()
            } else {
                values.to_vec()
            };
            items
                .iter()
                .map(|s| convert(item_shape, s))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Some(Value::Array(v)))
        }
        ShapeKind::Structure(_) | ShapeKind::Map(_) => Ok(None),
        _ => match values.first() {
            Some(s) => convert(shape, s).map(Some),
            None => Ok(None),
        },
    }
}

pub fn decode_request(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest<'_>,
) -> Result<Decoded, AwsError> {
    let Some(ShapeKind::Structure(st)) = op.input.and_then(|n| model.shape(n)).map(|s| &s.kind)
    else {
        return Ok(Decoded {
            input: Value::Object(Map::new()),
            payload: None,
        });
    };
    let labels = match_uri(op.request_uri, req.path).ok_or_else(|| {
        AwsError::new(
            "UnknownOperationException",
            404,
            format!("The path {} does not match operation {}", req.path, op.name),
        )
    })?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
        .into_owned()
        .collect();

    let (mut input, payload) = decode_body(model, st, req.body)?;
    let bound_query_names: Vec<&str> = st
        .members
        .iter()
        .filter(|m| {
            m.location == Location::QueryString
                && !matches!(
                    model.shape(m.shape).map(|s| &s.kind),
                    Some(ShapeKind::Map(_))
                )
        })
        .map(|m| m.location_name.unwrap_or(m.name))
        .collect();

    for m in st.members {
        let Some(shape) = model.shape(m.shape) else {
            continue;
        };
        let wire = m.location_name.unwrap_or(m.name);
        let value = match m.location {
            Location::Body | Location::StatusCode => continue,
            Location::Uri => {
                let values: Vec<String> = labels
                    .iter()
                    .filter(|(l, _)| l == wire)
                    .map(|(_, v)| v.clone())
                    .collect();
                from_string(model, shape, m, &values, false)?
            }
            Location::QueryString => match &shape.kind {
                ShapeKind::Map(ms) => {
                    let multi = matches!(
                        model.shape(ms.value).map(|s| &s.kind),
                        Some(ShapeKind::List(_))
                    );
                    let mut map = Map::new();
                    for (k, v) in query
                        .iter()
                        .filter(|(k, _)| !bound_query_names.contains(&k.as_str()))
                    {
                        if multi {
                            if let Value::Array(a) =
                                map.entry(k.clone()).or_insert_with(|| Value::Array(vec![]))
                            {
                                a.push(Value::String(v.clone()));
                            }
                        } else {
                            map.entry(k.clone())
                                .or_insert_with(|| Value::String(v.clone()));
                        }
                    }
                    (!map.is_empty()).then_some(Value::Object(map))
                }
                _ => {
                    let values: Vec<String> = query
                        .iter()
                        .filter(|(k, _)| k == wire)
                        .map(|(_, v)| v.clone())
                        .collect();
                    from_string(model, shape, m, &values, false)?
                }
            },
            Location::Header => {
                let mut values = Vec::new();
                for v in req.headers.get_all(wire) {
                    values.push(
                        v.to_str()
                            .map_err(|_| {
                                validation_error(format!("Header {wire} is not valid text"))
                            })?
                            .to_owned(),
                    );
                }
                from_string(model, shape, m, &values, true)?
            }
            Location::Headers => {
                let prefix = wire.to_ascii_lowercase();
                let mut map = Map::new();
                for (name, v) in req.headers {
                    if let (Some(suffix), Ok(v)) =
                        (name.as_str().strip_prefix(prefix.as_str()), v.to_str())
                    {
                        map.insert(suffix.to_owned(), Value::String(v.to_owned()));
                    }
                }
                (!map.is_empty()).then_some(Value::Object(map))
            }
        };
        if let Some(v) = value {
            input.insert(m.name.to_owned(), v);
        }
    }
    Ok(Decoded {
        input: Value::Object(input),
        payload,
    })
}

fn decode_body(
    model: &ServiceModel,
    st: &StructureShape,
    body: &Bytes,
) -> Result<(Map<String, Value>, Option<Bytes>), AwsError> {
    let Some(pm) = st.payload.and_then(|p| st.member(p)) else {
        let obj = parse_object(body)?;
        return Ok((
            struct_from_wire(model, st, obj, 0, true).map_err(serialization_error)?,
            None,
        ));
    };
    let mut input = Map::new();
    match model.shape(pm.shape).map(|s| &s.kind) {
        Some(ShapeKind::Blob { .. }) => return Ok((input, Some(body.clone()))),
        Some(ShapeKind::String { .. }) => {
            let s = std::str::from_utf8(body)
                .map_err(|_| serialization_error("The request body is not valid UTF-8"))?;
            if !body.is_empty() {
                input.insert(pm.name.to_owned(), Value::String(s.to_owned()));
            }
        }
        Some(ShapeKind::Structure(inner)) if !body.iter().all(u8::is_ascii_whitespace) => {
            let obj = parse_object(body)?;
            let v = struct_from_wire(model, inner, obj, 1, false).map_err(serialization_error)?;
            input.insert(pm.name.to_owned(), Value::Object(v));
        }
        _ => {}
    }
    Ok((input, None))
}

/// The header text of an output member.
fn header_value(model: &ServiceModel, shape: &Shape, member: &Member, v: &Value) -> String {
    match (&shape.kind, v) {
        (ShapeKind::List(ls), Value::Array(items)) => {
            let Some(item_shape) = model.shape(ls.member) else {
                return String::new();
            };
            items
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| {
                    let s = scalar_to_string(item_shape, None, x, TimestampFormat::Rfc822);
                    if s.contains(',') || s.contains('"') {
                        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        (ShapeKind::Timestamp { .. }, _) => match value_epoch(v) {
            Some(secs) => format_timestamp(
                secs,
                ts_format(Some(member), shape, TimestampFormat::Rfc822),
            ),
            None => scalar_to_string(shape, Some(member), v, TimestampFormat::Rfc822),
        },
        (ShapeKind::String { .. }, Value::String(s)) if member.json_value => {
            B64.encode(s.as_bytes())
        }
        _ => scalar_to_string(shape, Some(member), v, TimestampFormat::Rfc822),
    }
}

pub fn encode_output(
    model: &ServiceModel,
    op: &Operation,
    output: &Value,
    payload: Option<Bytes>,
    request_id: &str,
) -> HttpResponse {
    let mut status = if op.response_code == 0 {
        200
    } else {
        op.response_code
    };
    let mut headers = Vec::new();
    let empty = Map::new();
    let obj = output.as_object().unwrap_or(&empty);
    let st = match op.output.and_then(|n| model.shape(n)).map(|s| &s.kind) {
        Some(ShapeKind::Structure(st)) => Some(st),
        _ => None,
    };
    let mut body: Option<(Bytes, &str)> = None;
    if let Some(st) = st {
        for m in st.members {
            let (Some(v), Some(shape)) = (obj.get(m.name), model.shape(m.shape)) else {
                continue;
            };
            if v.is_null() {
                continue;
            }
            let wire = m.location_name.unwrap_or(m.name);
            match m.location {
                Location::Header => headers.push((
                    wire.to_owned(),
                    sanitize_header_value(&header_value(model, shape, m, v)),
                )),
                Location::Headers => {
                    if let Value::Object(map) = v {
                        for (k, x) in map {
                            let text = match x {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            headers.push((format!("{wire}{k}"), sanitize_header_value(&text)));
                        }
                    }
                }
                Location::StatusCode => {
                    if let Some(code) = v.as_u64().filter(|c| (100..=599).contains(c)) {
                        status = code as u16;
                    }
                }
                _ => {}
            }
        }
        if let Some(pm) = st.payload.and_then(|p| st.member(p)) {
            let value = obj.get(pm.name).filter(|v| !v.is_null());
            body = match model.shape(pm.shape).map(|s| (s, &s.kind)) {
                Some((_, ShapeKind::Blob { .. })) => {
                    let bytes = payload
                        .or_else(|| {
                            value
                                .and_then(Value::as_str)
                                .and_then(|s| B64.decode(s).ok())
                                .map(Bytes::from)
                        })
                        .unwrap_or_default();
                    Some((bytes, "application/octet-stream"))
                }
                Some((_, ShapeKind::String { .. })) => {
                    let bytes = payload
                        .or_else(|| {
                            value
                                .and_then(Value::as_str)
                                .map(|s| Bytes::from(s.to_owned()))
                        })
                        .unwrap_or_default();
                    Some((bytes, "text/plain"))
                }
                Some((shape, _)) => {
                    let doc = value
                        .and_then(|v| to_wire(model, shape, Some(pm), v, 1))
                        .unwrap_or_else(|| Value::Object(Map::new()));
                    Some((json_bytes(&doc), "application/json"))
                }
                None => None,
            };
        }
    }
    let (body, content_type) = match body {
        Some(b) => b,
        None => {
            let doc = st
                .map(|st| struct_to_wire(model, st, obj, 0, true))
                .unwrap_or_default();
            (json_bytes(&Value::Object(doc)), "application/json")
        }
    };
    headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    headers.push(request_id_header(request_id));
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()))
}

/// Errors: code in `X-Amzn-ErrorType` (botocore's first choice), the message under both
/// `message` (botocore's generic error parse) and `Message` (the modelled member of EBS and
/// Backup exceptions), then the modelled fields (`Reason`, `Code`, `Type`, `Context`, ...).
pub fn encode_error(err: &AwsError, request_id: &str) -> HttpResponse {
    let mut body = Map::new();
    body.insert("message".to_owned(), Value::String(err.message.clone()));
    body.insert("Message".to_owned(), Value::String(err.message.clone()));
    for (k, v) in &err.fields {
        if !v.is_null() {
            body.insert(k.clone(), v.clone());
        }
    }
    HttpResponse {
        status: err.status,
        headers: vec![
            (
                "X-Amzn-ErrorType".to_owned(),
                sanitize_header_value(&err.code),
            ),
            request_id_header(request_id),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ],
        body: json_bytes(&Value::Object(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testmodel::{header, TestReq, TEST_REST};
    use serde_json::json;

    fn op(name: &str) -> &'static Operation {
        TEST_REST.operation(name).unwrap()
    }

    #[test]
    fn uri_templates_match_labels_and_greedy_labels() {
        assert_eq!(
            match_uri(
                "/snapshots/{snapshotId}/blocks/{blockIndex}",
                "/snapshots/snap-1/blocks/7"
            ),
            Some(vec![
                ("snapshotId".into(), "snap-1".into()),
                ("blockIndex".into(), "7".into())
            ])
        );
        assert_eq!(
            match_uri(
                "/snapshots/{snapshotId}/blocks/{blockIndex}",
                "/snapshots/snap-1/blocks"
            ),
            None
        );
        assert_eq!(match_uri("/snapshots/{snapshotId}", "/snapshots/"), None);
        assert_eq!(match_uri("/snapshots", "/snapshots/"), Some(vec![]));
        assert_eq!(
            match_uri("/files/{Key+}", "/files/a/b%20c"),
            Some(vec![("Key".into(), "a/b c".into())])
        );
        assert_eq!(
            match_uri("/files/{Key+}/meta", "/files/a/b/meta"),
            Some(vec![("Key".into(), "a/b".into())])
        );
        assert_eq!(
            match_uri("/x/{A}.json?list", "/x/abc.json"),
            Some(vec![("A".into(), "abc".into())])
        );
        assert_eq!(match_uri("/x/{A}", "/x/%FF"), None);
    }

    #[test]
    fn decodes_labels_query_headers_and_body() {
        let t = TestReq::new(
            "GET",
            "/vaults/vault-b/points/arn%3Aaws%3Aec2%3Aus-west-2%3A%3Asnapshot%2Fsnap-0f",
            "createdBefore=2025-11-23T07%3A00%3A00Z&maxResults=10&state=A&state=B&flag=true&other=x",
            &[("X-Since", "Sun, 23 Nov 2025 07:00:00 GMT"), ("x-meta-color", "red")],
            br#"{"Name":"n","Tags":[{"TagKey":"k"}],"VaultName":"ignored"}"#,
        );
        let d = decode_request(&TEST_REST, op("ListPoints"), &t.req()).unwrap();
        assert_eq!(
            d.input,
            json!({"Name":"n","Tags":[{"TagKey":"k"}],"VaultName":"vault-b","PointArn":"arn:aws:ec2:us-west-2::snapshot/snap-0f",
                   "CreatedBefore":1763881200,"MaxResults":10,"States":["A","B"],"ByFlag":true,"Since":1763881200,"Meta":{"color":"red"}})
        );
    }

    #[test]
    fn blob_payload_is_raw_body() {
        let t = TestReq::new(
            "PUT",
            "/snapshots/snap-1/blocks/7",
            "",
            &[
                ("x-amz-Data-Length", "4"),
                ("x-amz-Checksum", "abc="),
                ("x-amz-Progress", "50"),
            ],
            b"\x00\x01\x02\x03",
        );
        let d = decode_request(&TEST_REST, op("PutBlock"), &t.req()).unwrap();
        assert_eq!(
            d.input,
            json!({"SnapshotId":"snap-1","BlockIndex":7,"DataLength":4,"Checksum":"abc=","Progress":50})
        );
        assert_eq!(d.payload.as_deref(), Some(&b"\x00\x01\x02\x03"[..]));
        let t = TestReq::new("PUT", "/snapshots/snap-1/blocks/x", "", &[], b"");
        assert_eq!(
            decode_request(&TEST_REST, op("PutBlock"), &t.req())
                .unwrap_err()
                .code,
            "ValidationException"
        );
    }

    #[test]
    fn structure_payload_is_the_body_document() {
        let t = TestReq::new("POST", "/config", "", &[], br#"{"A":"a","B":2}"#);
        let d = decode_request(&TEST_REST, op("PutConfig"), &t.req()).unwrap();
        assert_eq!(d.input, json!({"Config":{"A":"a","B":2}}));
        let t = TestReq::new("POST", "/config", "", &[], b"");
        assert_eq!(
            decode_request(&TEST_REST, op("PutConfig"), &t.req())
                .unwrap()
                .input,
            json!({})
        );
        let t = TestReq::new("POST", "/config", "", &[], b"[]");
        assert_eq!(
            decode_request(&TEST_REST, op("PutConfig"), &t.req())
                .unwrap_err()
                .code,
            "SerializationException"
        );
    }

    #[test]
    fn encodes_status_headers_and_body() {
        let r = encode_output(
            &TEST_REST,
            op("PutBlock"),
            &json!({"Checksum":"abc=","ChecksumAlgorithm":"SHA256"}),
            None,
            "rid-1",
        );
        assert_eq!(r.status, 201);
        assert_eq!(header(&r, "x-amz-checksum"), Some("abc="));
        assert_eq!(header(&r, "x-amz-checksum-algorithm"), Some("SHA256"));
        assert_eq!(header(&r, "x-amzn-requestid"), Some("rid-1"));
        assert_eq!(&r.body[..], b"{}");

        let r = encode_output(
            &TEST_REST,
            op("GetBlock"),
            &json!({"DataLength":4,"Checksum":"c"}),
            Some(Bytes::from_static(b"abcd")),
            "rid-2",
        );
        assert_eq!((r.status, &r.body[..]), (200, &b"abcd"[..]));
        assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
        assert_eq!(header(&r, "x-amz-data-length"), Some("4"));
        let r = encode_output(
            &TEST_REST,
            op("GetBlock"),
            &json!({"BlockData":"YWJjZA=="}),
            None,
            "rid-2",
        );
        assert_eq!(&r.body[..], b"abcd");

        let out =
            json!({"Points":[{"Arn":"a","Size":1}],"Created":1763881200.5,"Etag":"e","Unknown":1});
        let r = encode_output(&TEST_REST, op("ListPoints"), &out, None, "rid-3");
        assert_eq!(header(&r, "etag"), Some("e"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"Points":[{"Arn":"a","Size":1}],"Created":1763881200.5})
        );
    }

    #[test]
    fn error_envelope_carries_code_message_and_fields() {
        let e = AwsError::new("ValidationException", 400, "The checksum does not match.")
            .with_field("Reason", "INVALID_BLOCK");
        let r = encode_error(&e, "rid-4");
        assert_eq!(r.status, 400);
        assert_eq!(header(&r, "x-amzn-errortype"), Some("ValidationException"));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"message":"The checksum does not match.","Message":"The checksum does not match.","Reason":"INVALID_BLOCK"})
        );
    }
}
