//! The cryptography of imported key material (docs/kms-asymmetric.md §9), on aws-lc-rs:
//!
//! * [`WrappingAlg`] / [`WrappingSpec`] and the matrix of which may import which key spec
//!   ([`check_wrapping`]), refused at GetParametersForImport as AWS does.
//! * [`new_wrapping_key`]: a fresh RSA pair per GetParametersForImport; its private half is
//!   stored wrapped under the root key until the parameters expire.
//! * [`unwrap_material`]: RSAES-OAEP (SHA-1/256, MGF1 same hash, empty label), or
//!   `OAEP(K) ‖ AES-KWP_K(material)` (RFC 5649) for the RSA_AES_KEY_WRAP algorithms.
//! * [`check_material`]: the plaintext material parsed and checked for the key's spec, and
//!   returned in the canonical stored form [`crate::asym::SecretKey::from_stored`] reads (DER
//!   PKCS#8, or raw bytes for symmetric and HMAC keys). A BER PKCS#8 is re-encoded as DER.
//!
//! Every failure to unwrap or parse is the same `InvalidCiphertext`, as AWS answers; nothing is
//! written before all of this has succeeded (LocalStack #10909 enabled a key on a failed import).

use crate::asym::SecretKey;
use crate::error::CryptoError;
use crate::keyspec::{KeyKind, KeySpec};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use aws_lc_rs::rsa::{self as lc_rsa, KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use zeroize::Zeroizing;

/// `WrappingAlgorithm` values kmsnap accepts (RSAES_PKCS1_V1_5 is refused by AWS since 2023;
/// SM2PKE is China-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlg {
    OaepSha1,
    OaepSha256,
    AesKeyWrapSha1,
    AesKeyWrapSha256,
}

impl WrappingAlg {
    pub fn parse(s: &str) -> Option<WrappingAlg> {
        Some(match s {
            "RSAES_OAEP_SHA_1" => WrappingAlg::OaepSha1,
            "RSAES_OAEP_SHA_256" => WrappingAlg::OaepSha256,
            "RSA_AES_KEY_WRAP_SHA_1" => WrappingAlg::AesKeyWrapSha1,
            "RSA_AES_KEY_WRAP_SHA_256" => WrappingAlg::AesKeyWrapSha256,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WrappingAlg::OaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlg::OaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlg::AesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlg::AesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    fn oaep(self) -> &'static lc_rsa::OaepAlgorithm {
        match self {
            WrappingAlg::OaepSha1 | WrappingAlg::AesKeyWrapSha1 => &lc_rsa::OAEP_SHA1_MGF1SHA1,
            WrappingAlg::OaepSha256 | WrappingAlg::AesKeyWrapSha256 => {
                &lc_rsa::OAEP_SHA256_MGF1SHA256
            }
        }
    }

    fn key_wrap(self) -> bool {
        matches!(
            self,
            WrappingAlg::AesKeyWrapSha1 | WrappingAlg::AesKeyWrapSha256
        )
    }
}

/// `WrappingKeySpec` values kmsnap offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingSpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl WrappingSpec {
    pub fn parse(s: &str) -> Option<WrappingSpec> {
        Some(match s {
            "RSA_2048" => WrappingSpec::Rsa2048,
            "RSA_3072" => WrappingSpec::Rsa3072,
            "RSA_4096" => WrappingSpec::Rsa4096,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WrappingSpec::Rsa2048 => "RSA_2048",
            WrappingSpec::Rsa3072 => "RSA_3072",
            WrappingSpec::Rsa4096 => "RSA_4096",
        }
    }

    fn size(self) -> KeySize {
        match self {
            WrappingSpec::Rsa2048 => KeySize::Rsa2048,
            WrappingSpec::Rsa3072 => KeySize::Rsa3072,
            WrappingSpec::Rsa4096 => KeySize::Rsa4096,
        }
    }
}

/// Whether `alg` with a `wks` wrapping key may import material of `spec` (the Developer
/// Guide's table, and AWS's observed refusals): symmetric and HMAC material only by plain OAEP;
/// RSA private keys (too long for one OAEP block) only by OAEP + AES key wrap; ECC and Ed25519
/// either way, except a P-521 PKCS#8 that does not fit OAEP under RSA_2048.
pub fn check_wrapping(spec: KeySpec, alg: WrappingAlg, wks: WrappingSpec) -> bool {
    match spec {
        KeySpec::SymmetricDefault
        | KeySpec::Hmac224
        | KeySpec::Hmac256
        | KeySpec::Hmac384
        | KeySpec::Hmac512 => !alg.key_wrap(),
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => alg.key_wrap(),
        KeySpec::EccNistP521 => alg.key_wrap() || wks != WrappingSpec::Rsa2048,
        KeySpec::EccNistP256
        | KeySpec::EccNistP384
        | KeySpec::EccSecgP256k1
        | KeySpec::EccNistEdwards25519 => true,
        KeySpec::MlDsa44
        | KeySpec::MlDsa65
        | KeySpec::MlDsa87
        | KeySpec::Sm2
        | KeySpec::MlKem512
        | KeySpec::MlKem768
        | KeySpec::MlKem1024 => false,
    }
}

/// A fresh wrapping key: its PKCS#8 (to wrap and store) and DER SubjectPublicKeyInfo.
pub fn new_wrapping_key(wks: WrappingSpec) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
    let pair = RsaKeyPair::generate(wks.size()).map_err(|_| CryptoError::Internal)?;
    let private = pair.as_der().map_err(|_| CryptoError::Internal)?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| CryptoError::Internal)?;
    Ok((
        Zeroizing::new((*private).as_ref().to_vec()),
        (*public).as_ref().to_vec(),
    ))
}

/// Decrypts `EncryptedKeyMaterial` with the wrapping key's PKCS#8 `wrapping_private`.
pub fn unwrap_material(
    wrapping_private: &[u8],
    alg: WrappingAlg,
    encrypted: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bad = |_| CryptoError::InvalidCiphertext;
    let private =
        PrivateDecryptingKey::from_pkcs8(wrapping_private).map_err(|_| CryptoError::Internal)?;
    let k = private.key_size_bytes();
    let private = OaepPrivateDecryptingKey::new(private).map_err(|_| CryptoError::Internal)?;
    let oaep = |block: &[u8]| -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
        let n = private
            .decrypt(alg.oaep(), block, &mut out, None)
            .map_err(bad)?
            .len();
        out.truncate(n);
        Ok(out)
    };
    if !alg.key_wrap() {
        if encrypted.len() != k {
            return Err(CryptoError::InvalidCiphertext);
        }
        return oaep(encrypted);
    }
    // OAEP(K) ‖ AES-KWP_K(material): the first block is exactly the modulus long.
    let (head, wrapped) = match (encrypted.get(..k), encrypted.get(k..)) {
        (Some(h), Some(w)) if w.len() >= 16 => (h, w),
        _ => return Err(CryptoError::InvalidCiphertext),
    };
    let aes = oaep(head)?;
    let kek = match aes.len() {
        32 => AesKek::new(&AES_256, &aes),
        16 => AesKek::new(&AES_128, &aes),
        _ => return Err(CryptoError::InvalidCiphertext),
    }
    .map_err(bad)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(bad)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// Longest HMAC material AWS imports (Developer Guide, "Requirements for imported key material").
pub const MAX_HMAC_MATERIAL: usize = 128;

/// Checks plaintext `material` for a key of `kind` and returns its canonical stored form.
pub fn check_material(kind: KeyKind, material: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    fn bad<E>(_: E) -> CryptoError {
        CryptoError::InvalidCiphertext
    }
    let canonical = Zeroizing::new(match kind.spec {
        KeySpec::SymmetricDefault if material.len() == 32 => material.to_vec(),
        KeySpec::SymmetricDefault => return Err(CryptoError::InvalidCiphertext),
        KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
            if material.len() > MAX_HMAC_MATERIAL {
                return Err(CryptoError::InvalidCiphertext);
            }
            material.to_vec()
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let pair = RsaKeyPair::from_pkcs8(material).map_err(bad)?;
            if Some(pair.public_modulus_len()) != kind.spec.rsa_len() {
                return Err(CryptoError::InvalidCiphertext);
            }
            let der = pair.as_der().map_err(bad)?;
            (*der).as_ref().to_vec()
        }
        KeySpec::EccNistP256
        | KeySpec::EccNistP384
        | KeySpec::EccNistP521
        | KeySpec::EccSecgP256k1 => {
            let alg: &'static sig::EcdsaSigningAlgorithm = match kind.spec {
                KeySpec::EccNistP256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                KeySpec::EccNistP384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                KeySpec::EccNistP521 => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
                _ => &sig::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            };
            let pair = EcdsaKeyPair::from_pkcs8(alg, material).map_err(bad)?;
            pair.to_pkcs8v1().map_err(bad)?.as_ref().to_vec()
        }
        KeySpec::EccNistEdwards25519 => {
            let pair = Ed25519KeyPair::from_pkcs8(material).map_err(bad)?;
            pair.to_pkcs8v1().map_err(bad)?.as_ref().to_vec()
        }
        KeySpec::MlDsa44
        | KeySpec::MlDsa65
        | KeySpec::MlDsa87
        | KeySpec::Sm2
        | KeySpec::MlKem512
        | KeySpec::MlKem768
        | KeySpec::MlKem1024 => return Err(CryptoError::InvalidCiphertext),
    });
    // Symmetric material is not a SecretKey; everything else must load exactly as stored.
    if kind.spec != KeySpec::SymmetricDefault {
        SecretKey::from_stored(kind, &canonical).map_err(|_| CryptoError::InvalidCiphertext)?;
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspec::KeyUsage;
    use aws_lc_rs::key_wrap::KeyWrapPadded;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    fn encrypt_oaep(public: &[u8], alg: WrappingAlg, pt: &[u8]) -> Vec<u8> {
        let key =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public).unwrap()).unwrap();
        let mut out = vec![0u8; key.ciphertext_size()];
        key.encrypt(alg.oaep(), pt, &mut out, None)
            .unwrap()
            .to_vec()
    }

    fn encrypt_kwp(public: &[u8], alg: WrappingAlg, pt: &[u8]) -> Vec<u8> {
        let aes = [0x42u8; 32];
        let mut out = encrypt_oaep(public, alg, &aes);
        let kek = AesKek::new(&AES_256, &aes).unwrap();
        let mut wrapped = vec![0u8; pt.len() + 16];
        out.extend_from_slice(kek.wrap_with_padding(pt, &mut wrapped).unwrap());
        out
    }

    #[test]
    fn oaep_and_key_wrap_round_trip_and_tamper() {
        let (private, public) = new_wrapping_key(WrappingSpec::Rsa2048).unwrap();
        let material = [9u8; 32];
        for alg in [WrappingAlg::OaepSha1, WrappingAlg::OaepSha256] {
            let ct = encrypt_oaep(&public, alg, &material);
            assert_eq!(&unwrap_material(&private, alg, &ct).unwrap()[..], &material);
            let other = if alg == WrappingAlg::OaepSha1 {
                WrappingAlg::OaepSha256
            } else {
                WrappingAlg::OaepSha1
            };
            assert_eq!(
                unwrap_material(&private, other, &ct).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        let (rsa_pkcs8, _) = crate::asym::SecretKey::generate(KeyKind {
            spec: KeySpec::Rsa2048,
            usage: KeyUsage::SignVerify,
        })
        .unwrap();
        for alg in [WrappingAlg::AesKeyWrapSha1, WrappingAlg::AesKeyWrapSha256] {
            let ct = encrypt_kwp(&public, alg, &rsa_pkcs8);
            assert_eq!(
                &unwrap_material(&private, alg, &ct).unwrap()[..],
                &rsa_pkcs8[..]
            );
            let mut t = ct.clone();
            let last = t.len() - 1;
            t[last] ^= 1;
            assert_eq!(
                unwrap_material(&private, alg, &t).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
            assert_eq!(
                unwrap_material(&private, alg, &ct[..256]).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        assert_eq!(
            unwrap_material(&private, WrappingAlg::OaepSha256, &[1u8; 10]).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
    }

    #[test]
    fn material_is_checked_for_its_spec() {
        let k = |spec, usage| KeyKind { spec, usage };
        let sym = k(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
        assert!(check_material(sym, &[1; 32]).is_ok());
        assert!(check_material(sym, &[1; 31]).is_err());
        let h = k(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
        assert!(check_material(h, &[1; 31]).is_err());
        assert!(check_material(h, &[1; 32]).is_ok());
        assert!(check_material(h, &[1; 128]).is_ok());
        assert!(check_material(h, &[1; 129]).is_err());
        let (p256, _) = SecretKey::generate(k(KeySpec::EccNistP256, KeyUsage::SignVerify)).unwrap();
        assert!(check_material(k(KeySpec::EccNistP256, KeyUsage::KeyAgreement), &p256).is_ok());
        assert!(check_material(k(KeySpec::EccNistP384, KeyUsage::SignVerify), &p256).is_err());
        assert!(check_material(k(KeySpec::Rsa2048, KeyUsage::SignVerify), &p256).is_err());
        let (rsa, _) = SecretKey::generate(k(KeySpec::Rsa3072, KeyUsage::EncryptDecrypt)).unwrap();
        assert!(check_material(k(KeySpec::Rsa3072, KeyUsage::SignVerify), &rsa).is_ok());
        assert!(
            check_material(k(KeySpec::Rsa2048, KeyUsage::SignVerify), &rsa).is_err(),
            "modulus must match the spec"
        );
        let (ed, _) =
            SecretKey::generate(k(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify)).unwrap();
        assert!(check_material(k(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify), &ed).is_ok());
        assert!(check_material(
            k(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify),
            &ed[..ed.len() - 1]
        )
        .is_err());
    }

    #[test]
    fn wrapping_matrix() {
        use WrappingAlg::*;
        use WrappingSpec::*;
        assert!(check_wrapping(
            KeySpec::SymmetricDefault,
            OaepSha256,
            Rsa2048
        ));
        assert!(!check_wrapping(
            KeySpec::SymmetricDefault,
            AesKeyWrapSha256,
            Rsa2048
        ));
        assert!(!check_wrapping(KeySpec::Hmac512, AesKeyWrapSha1, Rsa4096));
        assert!(check_wrapping(KeySpec::Rsa4096, AesKeyWrapSha1, Rsa2048));
        assert!(!check_wrapping(KeySpec::Rsa2048, OaepSha256, Rsa4096));
        assert!(!check_wrapping(KeySpec::EccNistP521, OaepSha256, Rsa2048));
        assert!(check_wrapping(KeySpec::EccNistP521, OaepSha256, Rsa3072));
        assert!(check_wrapping(
            KeySpec::EccNistEdwards25519,
            OaepSha1,
            Rsa2048
        ));
        assert!(!check_wrapping(KeySpec::MlDsa44, AesKeyWrapSha256, Rsa4096));
    }
}
