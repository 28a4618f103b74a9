//! restJson1 codec (placeholder until the codec work lands).
use super::{Decoded, HttpRequest, HttpResponse};
use crate::{error::AwsError, schema::{Operation, ServiceModel}};

pub fn decode_request(_m: &ServiceModel, _op: &Operation, _r: &HttpRequest<'_>) -> Result<Decoded, AwsError> {
    Err(AwsError::internal("InternalFailure"))
}
pub fn encode_output(_m: &ServiceModel, _op: &Operation, _o: &serde_json::Value, _p: Option<bytes::Bytes>, _rid: &str) -> HttpResponse {
    HttpResponse { status: 500, headers: vec![], body: bytes::Bytes::new() }
}
pub fn encode_error(_e: &AwsError, _rid: &str) -> HttpResponse {
    HttpResponse { status: 500, headers: vec![], body: bytes::Bytes::new() }
}
