//! [`AwsError`]: what every domain error becomes before a codec wraps it in the protocol's
//! envelope (JSON `__type`, EC2 `<Response><Errors>`, query `<ErrorResponse>`, restJson headers).

use std::borrow::Cow;

/// An error as the client will see it. `code` is the *wire* code (awsQuery: the model's
/// `error.code`, e.g. `DBSnapshotNotFound`; JSON protocols: the shape name).
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub code: Cow<'static, str>,
    pub message: String,
    pub status: u16,
    /// `Sender` (client fault) or `Receiver` (server fault) in query envelopes.
    pub sender_fault: bool,
    /// Extra modelled members of the error shape (EBS `Reason`, Backup `Context`/`Type`).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl AwsError {
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            code: code.into(),
            message: message.into(),
            status,
            sender_fault: status < 500,
            fields: serde_json::Map::new(),
        }
    }

    pub fn with_field(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    /// An operation that exists in AWS but is not built yet.
    pub fn not_implemented(service: &str, operation: &str) -> Self {
        AwsError::new(
            "NotImplemented",
            501,
            format!(
                "The operation {operation} of service {service} is not implemented in kmsnap yet"
            ),
        )
    }

    /// An internal failure; the cause goes to the log, never to the client.
    pub fn internal(code: &'static str) -> Self {
        AwsError::new(
            code,
            500,
            "An internal error occurred. Please retry your request.",
        )
    }

    /// AWS's model-validation message: `1 validation error detected: Value 'v' at 'keyId' failed
    /// to satisfy constraint: Member must ...`.
    pub fn validation(code: &'static str, status: u16, problems: &[String]) -> Self {
        let n = problems.len();
        let noun = if n == 1 { "error" } else { "errors" };
        AwsError::new(
            code,
            status,
            format!("{n} validation {noun} detected: {}", problems.join("; ")),
        )
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}
