//! Versioned record encoding shared by every domain crate, so each persisted value starts with a
//! format version and can be upgraded on read.
//!
//! Layout: one format byte ([`RECORD_FORMAT`], "JSON record"), the record's schema version as a
//! big-endian `u16`, then the serde_json payload. Anything else is [`StoreError::Corrupt`].

use crate::error::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first byte of every record written by [`encode_record`].
pub const RECORD_FORMAT: u8 = 0x4a; // 'J'

/// The header length: format byte + u16 version.
pub const RECORD_HEADER_LEN: usize = 3;

/// Encodes `value` as a record of schema `version`.
pub fn encode_record<T: Serialize + ?Sized>(
    version: u16,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(64);
    out.push(RECORD_FORMAT);
    out.extend_from_slice(&version.to_be_bytes());
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Encode {
        detail: e.to_string(),
    })?;
    Ok(out)
}

/// Splits a record into its schema version and raw payload, so a caller can pick the type to
/// decode by version (and upgrade older shapes).
pub fn split_record(bytes: &[u8]) -> Result<(u16, &[u8]), StoreError> {
    match bytes {
        [RECORD_FORMAT, hi, lo, payload @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), payload)),
        [other, _, _, ..] => Err(StoreError::corrupt(
            "record",
            format!("unknown record format byte {other:#04x}"),
        )),
        _ => Err(StoreError::corrupt(
            "record",
            format!("{} bytes is shorter than a record header", bytes.len()),
        )),
    }
}

/// Decodes a record payload (from [`split_record`]) as `T`.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(payload).map_err(|e| StoreError::corrupt("record", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A record and its version. Not part of the API: outside these tests records are read
    /// through typed tables, which never drop the version (docs/storage.md).
    fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<(u16, T), StoreError> {
        let (version, payload) = split_record(bytes)?;
        Ok((version, decode_payload(payload)?))
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V1 {
        name: String,
        n: u32,
    }

    #[test]
    fn round_trip_keeps_version() {
        let bytes = encode_record(
            7,
            &V1 {
                name: "a".into(),
                n: 3,
            },
        )
        .unwrap();
        assert_eq!(bytes[0], RECORD_FORMAT);
        let (v, back): (u16, V1) = decode_record(&bytes).unwrap();
        assert_eq!(v, 7);
        assert_eq!(
            back,
            V1 {
                name: "a".into(),
                n: 3
            }
        );
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"J",
            b"J\0",
            b"X\0\x01{}",
            b"J\0\x01{",
            b"J\0\x01[1]",
            b"J\0\x01\xff",
        ] {
            let r: Result<(u16, V1), _> = decode_record(bad);
            assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode_record::<V1>(&bytes);
            let _ = decode_record::<serde_json::Value>(&bytes);
        }
    }
}
