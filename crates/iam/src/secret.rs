//! [`SecretSealer`]: IAM users' secret access keys at rest. A secret is generated once
//! (CreateAccessKey hands it to its owner) and stored only sealed with AES-256-GCM under the
//! root-key subkey `iam/access-key-secret/v1` ([`crate::sealed`]), with the access key id as
//! authenticated data, so a sealed secret moved to another key's record does not open.

use base64::Engine as _;
use kmsnap_core::ids::random_bytes;
use kmsnap_core::RootKey;
use zeroize::Zeroizing;

use crate::error::IamError;
use kmsnap_auth::sealed::SealingKey;
use kmsnap_auth::Secret;

const PURPOSE: &[u8] = b"iam/access-key-secret/v1";
const SEALED_VERSION: u8 = 1;
const AAD_PREFIX: &[u8] = b"kmsnap/iam/access-key-secret/v1:";
/// Sealed secrets are short; anything longer is refused before decoding.
const MAX_SEALED_LEN: usize = 512;

#[derive(Debug)]
pub struct SecretSealer {
    key: SealingKey,
}

fn aad(access_key_id: &str) -> Vec<u8> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend_from_slice(access_key_id.as_bytes());
    a
}

fn sealing_failed(_: kmsnap_auth::sealed::SealError) -> IamError {
    IamError::Internal("sealing an access key secret".into())
}

impl SecretSealer {
    pub fn new(root: &RootKey) -> Result<Self, IamError> {
        let key = SealingKey::derive(root, PURPOSE, SEALED_VERSION, MAX_SEALED_LEN)
            .map_err(sealing_failed)?;
        Ok(SecretSealer { key })
    }

    /// A fresh secret access key: 40 characters of base64 (`A–Z a–z 0–9 + /`), like AWS's.
    pub fn generate() -> Result<Secret, IamError> {
        let mut raw = Zeroizing::new([0u8; 30]);
        random_bytes(raw.as_mut())?;
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw.as_ref()));
        Ok(Secret::new(b64.as_str()))
    }

    pub fn seal(&self, access_key_id: &str, secret: &Secret) -> Result<String, IamError> {
        self.key
            .seal(&aad(access_key_id), secret.expose().as_bytes())
            .map_err(sealing_failed)
    }

    /// The secret of `access_key_id`, or `None` when the sealed form does not open (tampered,
    /// another key's, another root key's).
    pub fn open(&self, access_key_id: &str, sealed: &str) -> Option<Secret> {
        let plain = self.key.open(&aad(access_key_id), sealed)?;
        std::str::from_utf8(&plain).ok().map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(b: u8) -> SecretSealer {
        SecretSealer::new(&RootKey::from_bytes([b; 32])).unwrap()
    }

    #[test]
    fn generated_secrets_look_like_aws_ones() {
        let s = SecretSealer::generate().unwrap();
        assert_eq!(s.expose().len(), 40);
        assert!(s
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'));
        assert_ne!(s.expose(), SecretSealer::generate().unwrap().expose());
    }

    #[test]
    fn round_trip_and_bindings() {
        let k = sealer(1);
        let s = SecretSealer::generate().unwrap();
        let sealed = k.seal("AKIAAAAAAAAAAAAAAAAA", &s).unwrap();
        assert!(!sealed.contains(s.expose()));
        assert_eq!(
            k.open("AKIAAAAAAAAAAAAAAAAA", &sealed).unwrap().expose(),
            s.expose()
        );
        // Bound to its key id and to the root key.
        assert!(k.open("AKIABBBBBBBBBBBBBBBB", &sealed).is_none());
        assert!(sealer(2).open("AKIAAAAAAAAAAAAAAAAA", &sealed).is_none());
        assert!(k.open("AKIAAAAAAAAAAAAAAAAA", "not base64!").is_none());
    }
}
