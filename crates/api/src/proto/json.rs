//! awsJson1.1 codec (KMS, CloudTrail).
//!
//! Requests are `POST /` with a JSON object of the input members (an empty body means `{}`);
//! responses are the JSON object of the output members with `x-amzn-RequestId`. Errors carry
//! the code twice, in `X-Amzn-ErrorType` (read by the Java/Go/Rust SDKs) and in the body's
//! `__type` (read by botocore).

use super::common::request_id_header;
use super::json_value::{struct_from_wire, struct_to_wire};
use super::{Decoded, HttpRequest, HttpResponse};
use crate::error::AwsError;
use crate::schema::{Operation, ServiceModel, ShapeKind};
use bytes::Bytes;
use serde_json::{Map, Value};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

fn serialization_error(msg: impl Into<String>) -> AwsError {
    AwsError::new("SerializationException", 400, msg)
}

/// Parse a JSON body that must be an object; empty or all-whitespace means `{}`.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(serialization_error("Start of structure or map expected")),
        Err(e) => {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                _ => "syntax error",
            };
            Err(serialization_error(format!("Malformed JSON body: {what}")))
        }
    }
}

pub fn decode_request(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest<'_>,
) -> Result<Decoded, AwsError> {
    let obj = parse_object(req.body)?;
    let input = match op.input.and_then(|n| model.shape(n)) {
        Some(shape) => match &shape.kind {
            ShapeKind::Structure(st) => {
                struct_from_wire(model, st, obj, 0, false).map_err(serialization_error)?
            }
            _ => Map::new(),
        },
        None => Map::new(),
    };
    Ok(Decoded {
        input: Value::Object(input),
        payload: None,
    })
}

pub fn encode_output(
    model: &ServiceModel,
    op: &Operation,
    output: &Value,
    request_id: &str,
) -> HttpResponse {
    let body = match (op.output.and_then(|n| model.shape(n)), output) {
        (Some(shape), Value::Object(obj)) => match &shape.kind {
            ShapeKind::Structure(st) => struct_to_wire(model, st, obj, 0, false),
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    json_response(200, vec![], &Value::Object(body), request_id)
}

pub fn encode_error(err: &AwsError, request_id: &str) -> HttpResponse {
    let mut body = Map::new();
    body.insert("__type".to_owned(), Value::String(err.code.to_string()));
    body.insert("message".to_owned(), Value::String(err.message.clone()));
    for (k, v) in &err.fields {
        if k != "__type" && !v.is_null() {
            body.insert(k.clone(), v.clone());
        }
    }
    let headers = vec![(
        "X-Amzn-ErrorType".to_owned(),
        super::common::sanitize_header_value(&err.code),
    )];
    json_response(err.status, headers, &Value::Object(body), request_id)
}

fn json_response(
    status: u16,
    mut headers: Vec<(String, String)>,
    body: &Value,
    request_id: &str,
) -> HttpResponse {
    headers.push(request_id_header(request_id));
    headers.push(("Content-Type".to_owned(), CONTENT_TYPE.to_owned()));
    // Serializing a `Value` cannot fail (keys are strings, numbers finite).
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    HttpResponse {
        status,
        headers,
        body: Bytes::from(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testmodel::{header, TestReq, TEST};
    use serde_json::json;

    fn op(name: &str) -> &'static Operation {
        TEST.operation(name).unwrap()
    }

    #[test]
    fn decodes_members_maps_lists_blobs_timestamps() {
        let body = br#"{"KeyId":"alias/app","Plaintext":"aGVsbG8=","EncryptionContext":{"purpose":"demo"},
            "Tags":[{"TagKey":"a","TagValue":"b"}],"Limit":5,"When":"2025-11-23T07:00:00Z","Flag":true,"Unknown":1,"Ratio":null}"#;
        let t = TestReq::new("POST", "/", "", &[], body);
        let d = decode_request(&TEST, op("Encrypt"), &t.req()).unwrap();
        assert_eq!(
            d.input,
            json!({"KeyId":"alias/app","Plaintext":"aGVsbG8=","EncryptionContext":{"purpose":"demo"},
                   "Tags":[{"TagKey":"a","TagValue":"b"}],"Limit":5,"When":1763881200,"Flag":true})
        );
        assert_eq!(d.payload, None);
    }

    #[test]
    fn empty_body_is_empty_object_and_non_objects_are_serialization_errors() {
        let t = TestReq::new("POST", "/", "", &[], b"");
        let d = decode_request(&TEST, op("Encrypt"), &t.req()).unwrap();
        assert_eq!(d.input, json!({}));
        for bad in [
            &b"[1]"[..],
            b"\"x\"",
            b"{",
            b"{\"Limit\":\"five\"}",
            b"{\"Plaintext\":\"!!\"}",
            b"{\"Limit\":1e20}",
        ] {
            let t = TestReq::new("POST", "/", "", &[], bad);
            let e = decode_request(&TEST, op("Encrypt"), &t.req()).unwrap_err();
            assert_eq!(
                e.code,
                "SerializationException",
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn encodes_output_without_nulls_and_with_request_id() {
        let out = json!({"KeyId":"k","CiphertextBlob":"AAE=","Missing":null,"Extra":"dropped","When":1763881200.5});
        let r = encode_output(&TEST, op("Encrypt"), &out, "rid-1");
        assert_eq!(r.status, 200);
        assert_eq!(
            header(&r, "content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(header(&r, "x-amzn-requestid"), Some("rid-1"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"KeyId":"k","CiphertextBlob":"AAE=","When":1763881200.5})
        );
        let r = encode_output(&TEST, op("NoIo"), &Value::Null, "rid-2");
        assert_eq!(&r.body[..], b"{}");
    }

    #[test]
    fn error_envelope() {
        let e = AwsError::new("NotFoundException", 400, "Alias x is not found.")
            .with_field("Extra", "f");
        let r = encode_error(&e, "rid-3");
        assert_eq!(r.status, 400);
        assert_eq!(header(&r, "x-amzn-errortype"), Some("NotFoundException"));
        assert_eq!(header(&r, "x-amzn-requestid"), Some("rid-3"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"__type":"NotFoundException","message":"Alias x is not found.","Extra":"f"})
        );
    }
}
