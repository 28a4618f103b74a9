//! The AWS wire layer of kmsnap.
//!
//! * [`schema`]: the static description of a service (operations, shapes, wire names) that
//!   `cargo xtask codegen` generates from botocore's service models into [`gen`].
//! * [`gen`]: generated, committed code: one module per service with its [`schema::ServiceModel`]
//!   and typed input/output structs that domains use.
//! * [`proto`]: one codec per protocol (awsJson1.1, EC2 query, awsQuery, restJson1). A codec turns
//!   an HTTP request into the *canonical value* of the operation's input and turns the canonical
//!   value of an output, or an [`AwsError`], into the HTTP response botocore expects.
//! * [`router`]: finds service, protocol and operation of a request before authentication.
//!
//! The canonical value is a `serde_json::Value` in awsJson form: structures are objects keyed by
//! the model's member names, lists are arrays, maps are objects, blobs are base64 strings,
//! timestamps are epoch seconds. The typed structs in [`gen`] (de)serialize from and to exactly
//! that form, so `serde_json::from_value::<gen::kms::EncryptRequest>(v)` is the step from wire to
//! domain. Raw payload members (EBS `BlockData`) bypass the value and travel as [`bytes::Bytes`].
//!
//! This crate never depends on a domain crate.
#![forbid(unsafe_code)]

pub mod error;
pub mod gen;
pub mod proto;
pub mod router;
pub mod schema;
pub mod types;

pub use error::AwsError;
pub use types::{Blob, SensitiveBlob, Timestamp};
