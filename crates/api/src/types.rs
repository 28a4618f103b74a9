//! Primitive wire types used by the generated shapes.
//!
//! In the canonical value, a blob is a base64 string and a timestamp is a number of epoch
//! seconds; these types (de)serialize to exactly that.

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use std::fmt;
use zeroize::Zeroize;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A blob member (non-sensitive): ciphertexts, public keys, checksums.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl Blob {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Self {
        Blob(v)
    }
}

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// A blob the model marks `sensitive` (plaintexts, data keys): zeroized on drop, redacted in
/// `Debug`, no `Display`, readable only through [`SensitiveBlob::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SensitiveBlob(Vec<u8>);

impl SensitiveBlob {
    pub fn new(v: Vec<u8>) -> Self {
        SensitiveBlob(v)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SensitiveBlob {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SensitiveBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SensitiveBlob(<redacted {} bytes>)", self.0.len())
    }
}

impl serde::Serialize for SensitiveBlob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut enc = B64.encode(&self.0);
        let r = s.serialize_str(&enc);
        enc.zeroize();
        r
    }
}

impl<'de> serde::Deserialize<'de> for SensitiveBlob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s = String::deserialize(d)?;
        let r = B64
            .decode(s.as_bytes())
            .map(SensitiveBlob)
            .map_err(serde::de::Error::custom);
        s.zeroize();
        r
    }
}

/// A timestamp member, millisecond precision. Canonical form: epoch seconds as a JSON number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn from_epoch_seconds(secs: f64) -> Option<Self> {
        if !secs.is_finite() {
            return None;
        }
        let ms = (secs * 1000.0).round() as i64;
        Utc.timestamp_millis_opt(ms).single().map(Timestamp)
    }

    pub fn epoch_seconds(&self) -> f64 {
        self.0.timestamp_millis() as f64 / 1000.0
    }

    /// `2026-11-23T07:00:00.000Z`, the form EC2 and awsQuery responses use.
    pub fn iso8601(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(d: DateTime<Utc>) -> Self {
        Timestamp(d)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.iso8601())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = self.0.timestamp_millis();
        if ms % 1000 == 0 {
            s.serialize_i64(ms / 1000)
        } else {
            s.serialize_f64(self.epoch_seconds())
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        Timestamp::from_epoch_seconds(secs)
            .ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_is_base64_in_canonical_form() {
        let v = serde_json::to_value(Blob(b"hello".to_vec())).unwrap();
        assert_eq!(v, serde_json::json!("aGVsbG8="));
        let b: Blob = serde_json::from_value(v).unwrap();
        assert_eq!(b.0, b"hello");
    }

    #[test]
    fn sensitive_blob_debug_is_redacted() {
        let s = SensitiveBlob::new(b"secret".to_vec());
        let d = format!("{s:?}");
        assert!(!d.contains("secret"));
        assert!(d.contains("6 bytes"));
    }

    #[test]
    fn timestamp_round_trips_as_epoch_seconds() {
        let t = Timestamp::from_epoch_seconds(1763881200.5).unwrap();
        let v = serde_json::to_value(t).unwrap();
        assert_eq!(v, serde_json::json!(1763881200.5));
        assert_eq!(
            serde_json::from_value::<Timestamp>(serde_json::json!(1763881200))
                .unwrap()
                .iso8601(),
            "2025-11-23T07:00:00.000Z"
        );
    }
}
