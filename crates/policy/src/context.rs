//! The request context: condition key → value, filled in by the owning domain (KMS puts
//! `kms:ViaService`, `kms:CallerAccount`, `kms:EncryptionContext:<k>`, …; the server puts
//! `aws:SourceIp`, `aws:CurrentTime`). Key names are case-insensitive, as in AWS.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// One condition key's value in a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    /// A single string (`kms:ViaService`, `aws:SourceIp`, …).
    String(String),
    /// A multi-valued key (`kms:EncryptionContextKeys`, `kms:GrantOperations`).
    List(Vec<String>),
    /// A boolean key (`kms:GrantIsForAWSResource`, `aws:SecureTransport`).
    Bool(bool),
    /// A numeric key.
    Number(f64),
    /// A date key (`aws:CurrentTime`).
    Date(DateTime<Utc>),
}

impl ContextValue {
    /// The value as the strings IAM compares against (a single value is a one-element list).
    pub(crate) fn strings(&self) -> Vec<String> {
        match self {
            ContextValue::String(s) => vec![s.clone()],
            ContextValue::List(v) => v.clone(),
            ContextValue::Bool(b) => vec![b.to_string()],
            ContextValue::Number(n) => vec![n.to_string()],
            ContextValue::Date(d) => vec![d.to_rfc3339()],
        }
    }
}

impl From<&str> for ContextValue {
    fn from(s: &str) -> Self {
        ContextValue::String(s.to_owned())
    }
}
impl From<String> for ContextValue {
    fn from(s: String) -> Self {
        ContextValue::String(s)
    }
}
impl From<bool> for ContextValue {
    fn from(b: bool) -> Self {
        ContextValue::Bool(b)
    }
}
impl From<i64> for ContextValue {
    fn from(n: i64) -> Self {
        ContextValue::Number(n as f64)
    }
}
impl From<f64> for ContextValue {
    fn from(n: f64) -> Self {
        ContextValue::Number(n)
    }
}
impl From<DateTime<Utc>> for ContextValue {
    fn from(d: DateTime<Utc>) -> Self {
        ContextValue::Date(d)
    }
}
impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        ContextValue::List(v)
    }
}
impl From<Vec<&str>> for ContextValue {
    fn from(v: Vec<&str>) -> Self {
        ContextValue::List(v.into_iter().map(str::to_owned).collect())
    }
}

/// Condition keys present in a request. Lookup ignores ASCII case of the key name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConditionContext {
    entries: BTreeMap<String, ContextValue>,
}

impl ConditionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (replacing any value under the same case-insensitive name).
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) {
        self.entries.insert(key.to_ascii_lowercase(), value.into());
    }

    /// Builder form of [`insert`](Self::insert).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<ContextValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds `kms:EncryptionContext:<k>` for every pair and `kms:EncryptionContextKeys`
    /// (multi-valued), as KMS does for requests that carry an encryption context.
    pub fn insert_encryption_context<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let mut keys = Vec::new();
        for (k, v) in pairs {
            self.insert(&format!("kms:EncryptionContext:{k}"), v);
            keys.push(k.to_owned());
        }
        self.insert("kms:EncryptionContextKeys", ContextValue::List(keys));
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.entries.get(&key.to_ascii_lowercase())
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}
