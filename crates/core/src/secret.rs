//! The server's root key: the one secret that wraps every other secret at rest (key material,
//! IAM secret keys) and seals STS session tokens. Each use gets its own subkey, derived with
//! HKDF-SHA256 under a purpose label, so that no two mechanisms ever share a key.

use aws_lc_rs::hkdf;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// 256-bit root key; zeroized on drop, redacted in `Debug`, no `Display`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; 32]);

/// A 256-bit subkey derived from the root key for one purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SubKey([u8; 32]);

#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error("root key must be 32 bytes written as 64 hex characters")]
    BadEncoding,
    #[error("key derivation failed")]
    Derivation,
}

impl RootKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        RootKey(b)
    }

    /// A fresh random root key.
    pub fn generate() -> Result<Self, crate::ids::RngError> {
        let mut b = [0u8; 32];
        crate::ids::random_bytes(&mut b)?;
        Ok(RootKey(b))
    }

    /// Parse the on-disk / environment form: 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, RootKeyError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| RootKeyError::BadEncoding)?;
        Ok(RootKey(b))
    }

    /// The hex form written to `root.key`. The caller must not log it.
    pub fn to_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(self.0))
    }

    /// HKDF-SHA256 subkey for `purpose` (e.g. `b"kms/material-wrap/v1"`).
    pub fn derive(&self, purpose: &[u8]) -> Result<SubKey, RootKeyError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"kmsnap-root-key");
        let prk = salt.extract(&self.0);
        let info = [purpose];
        let okm = prk
            .expand(&info, hkdf::HKDF_SHA256)
            .map_err(|_| RootKeyError::Derivation)?;
        let mut out = [0u8; 32];
        okm.fill(&mut out).map_err(|_| RootKeyError::Derivation)?;
        Ok(SubKey(out))
    }
}

impl SubKey {
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_by_purpose_and_are_stable() {
        let r = RootKey::from_bytes([7u8; 32]);
        let a = r.derive(b"a").unwrap();
        let b = r.derive(b"b").unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose(), r.derive(b"a").unwrap().expose());
    }

    #[test]
    fn hex_round_trip_and_redaction() {
        let r = RootKey::generate().unwrap();
        let h = r.to_hex();
        let r2 = RootKey::from_hex(&h).unwrap();
        assert_eq!(
            r.derive(b"x").unwrap().expose(),
            r2.derive(b"x").unwrap().expose()
        );
        assert!(!format!("{r:?}").contains(&h[..8]));
        assert!(RootKey::from_hex("abc").is_err());
    }
}
