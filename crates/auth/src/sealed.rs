//! [`SealingKey`]: AES-256-GCM under a root-key subkey, for the small secrets kmsnap hands out
//! or keeps sealed (STS session tokens here, IAM users' secret access keys in kmsnap-iam). One
//! key per purpose.
//!
//! Sealed form, base64: format version ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag. The caller's
//! authenticated data binds a sealed value to its context (a token to its purpose, a secret to
//! its access key id). Opening never panics: anything malformed, oversized or tampered is `None`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use kmsnap_core::ids::random_bytes;
use kmsnap_core::RootKey;
use zeroize::Zeroizing;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Deriving the subkey, drawing a nonce or sealing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealing key unavailable")]
pub struct SealError;

pub struct SealingKey {
    key: LessSafeKey,
    version: u8,
    /// Longest sealed form accepted by [`SealingKey::open`], so garbage is refused before base64
    /// and AEAD.
    max_len: usize,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// The key for `purpose` (an HKDF label of `root`), writing format `version`.
    pub fn derive(
        root: &RootKey,
        purpose: &[u8],
        version: u8,
        max_len: usize,
    ) -> Result<Self, SealError> {
        let sub = root.derive(purpose).map_err(|_| SealError)?;
        let unbound = UnboundKey::new(&AES_256_GCM, sub.expose()).map_err(|_| SealError)?;
        Ok(SealingKey {
            key: LessSafeKey::new(unbound),
            version,
            max_len,
        })
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce).map_err(|_| SealError)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(self.version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    pub fn open(&self, aad: &[u8], sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() > self.max_len {
            return None;
        }
        let raw = B64.decode(sealed.as_bytes()).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != self.version || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let n = self
            .key
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            .ok()?
            .len();
        buf.truncate(n);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(root: u8, version: u8) -> SealingKey {
        SealingKey::derive(&RootKey::from_bytes([root; 32]), b"test/v1", version, 256).unwrap()
    }

    #[test]
    fn round_trip_and_every_binding() {
        let k = key(1, 1);
        let s = k.seal(b"aad", b"plain").unwrap();
        assert_eq!(k.open(b"aad", &s).unwrap().as_slice(), b"plain");
        assert!(k.open(b"other aad", &s).is_none());
        assert!(key(2, 1).open(b"aad", &s).is_none());
        assert!(key(1, 2).open(b"aad", &s).is_none());
        let mut raw = B64.decode(&s).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(k.open(b"aad", &B64.encode(&raw)).is_none());
        for garbage in ["", "!!", "AQ==", &"A".repeat(400)] {
            assert!(k.open(b"aad", garbage).is_none(), "{garbage}");
        }
    }
}
