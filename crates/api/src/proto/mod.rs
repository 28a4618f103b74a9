//! One codec per protocol. Each turns an HTTP request into the canonical input value of an
//! operation ([`decode_request`]), and an output value or an [`AwsError`] into the HTTP response
//! botocore parses ([`encode_output`], [`encode_error`]). All four are driven by the generated
//! [`ServiceModel`] tables; none knows a particular operation.

use crate::error::AwsError;
use crate::schema::{Operation, Protocol, ServiceModel};
use bytes::Bytes;

mod common;
pub mod ec2;
mod form;
#[doc(hidden)]
pub mod fuzzing;
pub mod json;
mod json_value;
pub mod query;
pub mod rest_json;
#[cfg(test)]
mod roundtrip_tests;
#[cfg(test)]
mod testmodel;
pub mod validate;
mod xml_out;

pub use rest_json::match_uri;
pub use validate::validate_input;

/// The parts of an HTTP request a codec reads. `path` and `query` are raw (still
/// percent-encoded), exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a Bytes,
}

/// A decoded request: the canonical input value (a JSON object; `{}` for no input) and, for a
/// restJson operation with a blob payload member, the raw body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub input: serde_json::Value,
    pub payload: Option<Bytes>,
}

/// An HTTP response ready to send.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Decode `req` as input of `op`. Malformed input answers the protocol's own error
/// (`SerializationException` for JSON bodies, `MalformedQueryString`/`InvalidParameterValue`
/// for query forms, ...). Model constraints are checked separately by [`validate`].
pub fn decode_request(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest<'_>,
) -> Result<Decoded, AwsError> {
    match model.protocol {
        Protocol::Json => json::decode_request(model, op, req),
        Protocol::Ec2 => ec2::decode_request(model, op, req),
        Protocol::Query => query::decode_request(model, op, req),
        Protocol::RestJson => rest_json::decode_request(model, op, req),
    }
}

/// Encode the canonical output value of `op` (`serde_json::Value::Null` or `{}` when the
/// operation has no output) with the protocol's success envelope.
pub fn encode_output(
    model: &ServiceModel,
    op: &Operation,
    output: &serde_json::Value,
    payload: Option<Bytes>,
    request_id: &str,
) -> HttpResponse {
    match model.protocol {
        Protocol::Json => json::encode_output(model, op, output, request_id),
        Protocol::Ec2 => ec2::encode_output(model, op, output, request_id),
        Protocol::Query => query::encode_output(model, op, output, request_id),
        Protocol::RestJson => rest_json::encode_output(model, op, output, payload, request_id),
    }
}

/// Encode `err` in the protocol's error envelope, with the request id where the protocol puts it.
pub fn encode_error(model: &ServiceModel, err: &AwsError, request_id: &str) -> HttpResponse {
    encode_error_for(model.protocol, Some(model), err, request_id)
}

/// Like [`encode_error`] when the service may be unknown (routing failed): the protocol alone
/// decides the envelope.
pub fn encode_error_for(
    protocol: Protocol,
    model: Option<&ServiceModel>,
    err: &AwsError,
    request_id: &str,
) -> HttpResponse {
    match protocol {
        Protocol::Json => json::encode_error(err, request_id),
        Protocol::Ec2 => ec2::encode_error(err, request_id),
        Protocol::Query => {
            query::encode_error(model.and_then(|m| m.xml_namespace), err, request_id)
        }
        Protocol::RestJson => rest_json::encode_error(err, request_id),
    }
}
