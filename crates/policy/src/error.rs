//! Validation errors. Each variant's `Display` text is written to be returned as the message
//! of KMS `MalformedPolicyDocumentException` or IAM `MalformedPolicyDocument`; statement
//! numbers in messages are 1-based, as a person counts them.

/// Why a policy document was rejected by [`crate::Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON.
    #[error("The policy is not valid JSON: {detail}")]
    InvalidJson { detail: String },
    /// The document, a statement, or an element has the wrong JSON type.
    #[error("Policy element {element} has an invalid type: expected {expected}")]
    InvalidType {
        element: String,
        expected: &'static str,
    },
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("The policy document has an unsupported Version: {version}")]
    UnsupportedVersion { version: String },
    /// No `Statement` element.
    #[error("The policy document is missing the required Statement element")]
    MissingStatement,
    /// An element IAM does not know (names are case-sensitive).
    #[error("Policy contains an unknown element {element}")]
    UnknownElement { element: String },
    /// A statement without `Effect`.
    #[error("Statement {statement} is missing the required Effect element")]
    MissingEffect { statement: usize },
    /// `Effect` other than `Allow` / `Deny`.
    #[error("Statement {statement} has an invalid Effect: {value} (must be Allow or Deny)")]
    InvalidEffect { statement: usize, value: String },
    /// Neither `Action` nor `NotAction`.
    #[error("Statement {statement} must contain either Action or NotAction")]
    MissingAction { statement: usize },
    /// Both `Action` and `NotAction`.
    #[error("Statement {statement} must not contain both Action and NotAction")]
    ActionAndNotAction { statement: usize },
    /// Neither `Resource` nor `NotResource`.
    #[error("Statement {statement} must contain either Resource or NotResource")]
    MissingResource { statement: usize },
    /// Both `Resource` and `NotResource`.
    #[error("Statement {statement} must not contain both Resource and NotResource")]
    ResourceAndNotResource { statement: usize },
    /// A resource-based policy statement without `Principal` / `NotPrincipal`.
    #[error("Policy contains a statement with no principal (statement {statement})")]
    MissingPrincipal { statement: usize },
    /// Both `Principal` and `NotPrincipal`.
    #[error("Statement {statement} must not contain both Principal and NotPrincipal")]
    PrincipalAndNotPrincipal { statement: usize },
    /// An identity-based policy statement with `Principal` / `NotPrincipal`.
    #[error(
        "Statement {statement}: identity-based policies must not contain Principal or NotPrincipal"
    )]
    PrincipalNotAllowed { statement: usize },
    /// A principal value that is not one of the accepted forms.
    #[error("Policy contains a statement with one or more invalid principals: {value}")]
    InvalidPrincipal { statement: usize, value: String },
    /// An action that is neither `*` nor `service:action`.
    #[error("Policy contains a statement with one or more invalid actions: {value}")]
    InvalidAction { statement: usize, value: String },
    /// A resource that is neither `*` nor ARN-shaped.
    #[error("Resource {value} must be in ARN format or \"*\"")]
    InvalidResource { statement: usize, value: String },
    /// An element that must list at least one value is empty.
    #[error("Statement {statement}: {element} must not be empty")]
    EmptyElement {
        statement: usize,
        element: &'static str,
    },
    /// A condition operator IAM does not define (or `Null…IfExists`).
    #[error("Policy contains an invalid condition operator: {operator}")]
    UnknownConditionOperator { operator: String },
    /// A condition value that does not fit its operator (e.g. a non-number for NumericEquals).
    #[error("Invalid value {value} for condition {operator} on key {key}: {reason}")]
    InvalidConditionValue {
        operator: String,
        key: String,
        value: String,
        reason: &'static str,
    },
    /// Two statements with the same non-empty `Sid` in an identity-based policy.
    #[error("Statement IDs (SID) in a single policy must be unique: {sid}")]
    DuplicateSid { sid: String },
}
