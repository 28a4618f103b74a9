//! The cryptography of asymmetric and HMAC KMS keys (docs/kms-asymmetric.md), all on aws-lc-rs:
//!
//! * [`SecretKey`]: a key's private half (or HMAC key), parsed once from its stored form and
//!   kept in the store's cache, with its DER SubjectPublicKeyInfo. Debug is redacted; the
//!   parsed aws-lc objects free (and aws-lc cleanses) their memory on drop.
//! * Stored form ([`SecretKey::generate`] returns it, [`SecretKey::from_stored`] reads it):
//!   PKCS#8 PrivateKeyInfo DER for RSA, ECC, Ed25519 and ML-DSA keys; the raw key bytes for
//!   HMAC. It is wrapped under the root key like symmetric material
//!   ([`crate::crypto::MaterialWrapper::wrap_secret`]), never stored in the clear.
//! * Sign / verify ([`SignAlg`], [`Message`]): a RAW message is hashed exactly once by the
//!   algorithm's hash; a DIGEST is handed to aws-lc's pre-hashed entry points and never hashed
//!   again (LocalStack #7878 hashed twice). RSASSA-PSS uses salt length = hash length (aws-lc's
//!   default, `RSA_PSS_SALTLEN_DIGEST`); ECDSA signatures are DER.
//! * RSAES-OAEP with SHA-1 or SHA-256 (MGF1 with the same hash, empty label), HMAC, ECDH (raw
//!   x-coordinate, no KDF) and fresh data key pairs ([`generate_pair`]).
//!
//! Not available in aws-lc-rs's safe API, so refused by the operations: Ed25519ph
//! (`ED25519_PH_SHA_512`) and ML-DSA's external-μ signing (`EXTERNAL_MU`).

use crate::error::CryptoError;
use crate::keyspec::{KeyKind, KeySpec, KeyUsage};
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    self as lc_rsa, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, PqdsaKeyPair, RsaKeyPair,
    UnparsedPublicKey,
};
use std::fmt;
use zeroize::Zeroizing;

/// A signing algorithm (the `SigningAlgorithmSpec` values kmsnap knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlg {
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519Sha512,
    Ed25519PhSha512,
    MlDsaShake256,
    Sm2Dsa,
}

impl SignAlg {
    pub const ALL: &'static [SignAlg] = &[
        SignAlg::RsaPkcs1Sha256,
        SignAlg::RsaPkcs1Sha384,
        SignAlg::RsaPkcs1Sha512,
        SignAlg::RsaPssSha256,
        SignAlg::RsaPssSha384,
        SignAlg::RsaPssSha512,
        SignAlg::EcdsaSha256,
        SignAlg::EcdsaSha384,
        SignAlg::EcdsaSha512,
        SignAlg::Ed25519Sha512,
        SignAlg::Ed25519PhSha512,
        SignAlg::MlDsaShake256,
        SignAlg::Sm2Dsa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignAlg::RsaPkcs1Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            SignAlg::RsaPkcs1Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            SignAlg::RsaPkcs1Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            SignAlg::RsaPssSha256 => "RSASSA_PSS_SHA_256",
            SignAlg::RsaPssSha384 => "RSASSA_PSS_SHA_384",
            SignAlg::RsaPssSha512 => "RSASSA_PSS_SHA_512",
            SignAlg::EcdsaSha256 => "ECDSA_SHA_256",
            SignAlg::EcdsaSha384 => "ECDSA_SHA_384",
            SignAlg::EcdsaSha512 => "ECDSA_SHA_512",
            SignAlg::Ed25519Sha512 => "ED25519_SHA_512",
            SignAlg::Ed25519PhSha512 => "ED25519_PH_SHA_512",
            SignAlg::MlDsaShake256 => "ML_DSA_SHAKE_256",
            SignAlg::Sm2Dsa => "SM2DSA",
        }
    }

    pub fn parse(s: &str) -> Option<SignAlg> {
        SignAlg::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// The hash a DIGEST message must come from (its length is the digest length AWS checks).
    pub fn digest_alg(self) -> Option<&'static digest::Algorithm> {
        match self {
            SignAlg::RsaPkcs1Sha256 | SignAlg::RsaPssSha256 | SignAlg::EcdsaSha256 => {
                Some(&digest::SHA256)
            }
            SignAlg::RsaPkcs1Sha384 | SignAlg::RsaPssSha384 | SignAlg::EcdsaSha384 => {
                Some(&digest::SHA384)
            }
            SignAlg::RsaPkcs1Sha512
            | SignAlg::RsaPssSha512
            | SignAlg::EcdsaSha512
            | SignAlg::Ed25519PhSha512 => Some(&digest::SHA512),
            SignAlg::Ed25519Sha512 | SignAlg::MlDsaShake256 | SignAlg::Sm2Dsa => None,
        }
    }

    fn rsa_encoding(self) -> Option<&'static sig::RsaSignatureEncoding> {
        Some(match self {
            SignAlg::RsaPkcs1Sha256 => &sig::RSA_PKCS1_SHA256,
            SignAlg::RsaPkcs1Sha384 => &sig::RSA_PKCS1_SHA384,
            SignAlg::RsaPkcs1Sha512 => &sig::RSA_PKCS1_SHA512,
            SignAlg::RsaPssSha256 => &sig::RSA_PSS_SHA256,
            SignAlg::RsaPssSha384 => &sig::RSA_PSS_SHA384,
            SignAlg::RsaPssSha512 => &sig::RSA_PSS_SHA512,
            _ => return None,
        })
    }

    fn rsa_verification(self) -> Option<&'static sig::RsaParameters> {
        Some(match self {
            SignAlg::RsaPkcs1Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            SignAlg::RsaPkcs1Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            SignAlg::RsaPkcs1Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            SignAlg::RsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
            SignAlg::RsaPssSha384 => &sig::RSA_PSS_2048_8192_SHA384,
            SignAlg::RsaPssSha512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

/// What Sign/Verify are given: the message itself, or its digest (MessageType DIGEST).
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    Raw(&'a [u8]),
    Digest(&'a [u8]),
}

/// RSAES-OAEP variants KMS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepAlg {
    Sha1,
    Sha256,
}

impl OaepAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            OaepAlg::Sha1 => "RSAES_OAEP_SHA_1",
            OaepAlg::Sha256 => "RSAES_OAEP_SHA_256",
        }
    }

    fn lc(self) -> &'static lc_rsa::OaepAlgorithm {
        match self {
            OaepAlg::Sha1 => &lc_rsa::OAEP_SHA1_MGF1SHA1,
            OaepAlg::Sha256 => &lc_rsa::OAEP_SHA256_MGF1SHA256,
        }
    }

    fn hash_len(self) -> usize {
        match self {
            OaepAlg::Sha1 => 20,
            OaepAlg::Sha256 => 32,
        }
    }

    /// The largest plaintext for a modulus of `k` bytes: `k − 2·hLen − 2` (RFC 8017 §7.1.1).
    pub fn max_plaintext(self, k: usize) -> usize {
        k.saturating_sub(2 * self.hash_len() + 2)
    }
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
        KeySpec::EccNistP384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeySpec::EccNistP521 => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        KeySpec::EccSecgP256k1 => &sig::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        _ => return None,
    })
}

fn ecdsa_verification(spec: KeySpec) -> Option<&'static sig::EcdsaVerificationAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &sig::ECDSA_P256_SHA256_ASN1,
        KeySpec::EccNistP384 => &sig::ECDSA_P384_SHA384_ASN1,
        KeySpec::EccNistP521 => &sig::ECDSA_P521_SHA512_ASN1,
        KeySpec::EccSecgP256k1 => &sig::ECDSA_P256K1_SHA256_ASN1,
        _ => return None,
    })
}

fn ecdh_alg(spec: KeySpec) -> Option<&'static agreement::Algorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &agreement::ECDH_P256,
        KeySpec::EccNistP384 => &agreement::ECDH_P384,
        KeySpec::EccNistP521 => &agreement::ECDH_P521,
        _ => return None,
    })
}

fn mldsa(
    spec: KeySpec,
) -> Option<(
    &'static sig::PqdsaSigningAlgorithm,
    &'static sig::PqdsaVerificationAlgorithm,
)> {
    Some(match spec {
        KeySpec::MlDsa44 => (&sig::ML_DSA_44_SIGNING, &sig::ML_DSA_44),
        KeySpec::MlDsa65 => (&sig::ML_DSA_65_SIGNING, &sig::ML_DSA_65),
        KeySpec::MlDsa87 => (&sig::ML_DSA_87_SIGNING, &sig::ML_DSA_87),
        _ => return None,
    })
}

fn hmac_alg(spec: KeySpec) -> Option<(hmac::Algorithm, usize)> {
    Some(match spec {
        KeySpec::Hmac224 => (hmac::HMAC_SHA224, 28),
        KeySpec::Hmac256 => (hmac::HMAC_SHA256, 32),
        KeySpec::Hmac384 => (hmac::HMAC_SHA384, 48),
        KeySpec::Hmac512 => (hmac::HMAC_SHA512, 64),
        _ => return None,
    })
}

fn rsa_size(spec: KeySpec) -> Option<KeySize> {
    Some(match spec {
        KeySpec::Rsa2048 => KeySize::Rsa2048,
        KeySpec::Rsa3072 => KeySize::Rsa3072,
        KeySpec::Rsa4096 => KeySize::Rsa4096,
        _ => return None,
    })
}

fn internal<E>(_: E) -> CryptoError {
    CryptoError::Internal
}

/// Stored key bytes that do not load: corruption or a record of the wrong kind.
fn unwrap_err<E>(_: E) -> CryptoError {
    CryptoError::Unwrap
}

/// The bytes of an aws-lc-rs encoding (`PublicKeyX509Der`, `Pkcs8V1Der`).
fn der<T, B>(d: Result<T, aws_lc_rs::error::Unspecified>) -> Result<Vec<u8>, CryptoError>
where
    T: std::ops::Deref<Target = B>,
    B: AsRef<[u8]>,
{
    d.map(|d| (*d).as_ref().to_vec()).map_err(internal)
}

/// The bytes of a PKCS#8 `Document`.
fn doc(
    d: Result<aws_lc_rs::pkcs8::Document, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, CryptoError> {
    d.map(|d| d.as_ref().to_vec()).map_err(internal)
}

enum Inner {
    RsaSign(RsaKeyPair),
    RsaDecrypt {
        private: OaepPrivateDecryptingKey,
        public: OaepPublicEncryptingKey,
    },
    Ecdsa(EcdsaKeyPair),
    Ecdh(agreement::PrivateKey),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    // Boxed: aws-lc-rs keeps the expanded HMAC contexts inline (over a kilobyte).
    Hmac(Box<hmac::Key>),
}

/// The private half of an asymmetric key, or an HMAC key, ready to use.
pub struct SecretKey {
    kind: KeyKind,
    inner: Inner,
    /// DER SubjectPublicKeyInfo (empty for HMAC keys).
    public: Vec<u8>,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey({} {}, <redacted>)",
            self.kind.spec.as_str(),
            self.kind.usage.as_str()
        )
    }
}

impl SecretKey {
    /// Fresh key material of `kind`: its stored form (to wrap and persist) and the loaded key.
    pub fn generate(kind: KeyKind) -> Result<(Zeroizing<Vec<u8>>, SecretKey), CryptoError> {
        let stored = Zeroizing::new(match kind.spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let size = rsa_size(kind.spec).ok_or(CryptoError::Internal)?;
                der(RsaKeyPair::generate(size).map_err(internal)?.as_der())?
            }
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1 => {
                let alg = ecdsa_signing(kind.spec).ok_or(CryptoError::Internal)?;
                doc(EcdsaKeyPair::generate(alg).map_err(internal)?.to_pkcs8v1())?
            }
            KeySpec::EccNistEdwards25519 => {
                doc(Ed25519KeyPair::generate().map_err(internal)?.to_pkcs8v1())?
            }
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let (alg, _) = mldsa(kind.spec).ok_or(CryptoError::Internal)?;
                doc(PqdsaKeyPair::generate(alg).map_err(internal)?.to_pkcs8v1())?
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                let (_, len) = hmac_alg(kind.spec).ok_or(CryptoError::Internal)?;
                let mut b = vec![0u8; len];
                kmsnap_core::ids::random_bytes(&mut b).map_err(|_| CryptoError::Rng)?;
                b
            }
            KeySpec::SymmetricDefault
            | KeySpec::Sm2
            | KeySpec::MlKem512
            | KeySpec::MlKem768
            | KeySpec::MlKem1024 => return Err(CryptoError::Internal),
        });
        let key = SecretKey::from_stored(kind, &stored)?;
        Ok((stored, key))
    }

    /// Loads the stored form written by [`SecretKey::generate`] (or by an import that checked
    /// it the same way).
    pub fn from_stored(kind: KeyKind, stored: &[u8]) -> Result<SecretKey, CryptoError> {
        let (inner, public) = match (kind.spec, kind.usage) {
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::SignVerify) => {
                let pair = RsaKeyPair::from_pkcs8(stored).map_err(unwrap_err)?;
                check_rsa_len(kind.spec, pair.public_modulus_len())?;
                let public = der(pair.public_key().as_der())?;
                (Inner::RsaSign(pair), public)
            }
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                let private = PrivateDecryptingKey::from_pkcs8(stored).map_err(unwrap_err)?;
                check_rsa_len(kind.spec, private.key_size_bytes())?;
                let public_key = private.public_key();
                let public = der(public_key.as_der())?;
                let public_enc = OaepPublicEncryptingKey::new(public_key).map_err(internal)?;
                let private = OaepPrivateDecryptingKey::new(private).map_err(internal)?;
                (
                    Inner::RsaDecrypt {
                        private,
                        public: public_enc,
                    },
                    public,
                )
            }
            (
                KeySpec::EccNistP256
                | KeySpec::EccNistP384
                | KeySpec::EccNistP521
                | KeySpec::EccSecgP256k1,
                KeyUsage::SignVerify,
            ) => {
                let alg = ecdsa_signing(kind.spec).ok_or(CryptoError::Internal)?;
                let pair = EcdsaKeyPair::from_pkcs8(alg, stored).map_err(unwrap_err)?;
                let public = der(pair.public_key().as_der())?;
                (Inner::Ecdsa(pair), public)
            }
            (
                KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521,
                KeyUsage::KeyAgreement,
            ) => {
                let alg = ecdh_alg(kind.spec).ok_or(CryptoError::Internal)?;
                let key =
                    agreement::PrivateKey::from_private_key_der(alg, stored).map_err(unwrap_err)?;
                let public = der(key.compute_public_key().map_err(internal)?.as_der())?;
                (Inner::Ecdh(key), public)
            }
            (KeySpec::EccNistEdwards25519, KeyUsage::SignVerify) => {
                let pair = Ed25519KeyPair::from_pkcs8(stored).map_err(unwrap_err)?;
                let public = der(pair.public_key().as_der())?;
                (Inner::Ed25519(pair), public)
            }
            (KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87, KeyUsage::SignVerify) => {
                let (alg, _) = mldsa(kind.spec).ok_or(CryptoError::Internal)?;
                let pair = PqdsaKeyPair::from_pkcs8(alg, stored).map_err(unwrap_err)?;
                let public = der(pair.public_key().as_der())?;
                (Inner::MlDsa(pair), public)
            }
            (
                KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512,
                KeyUsage::GenerateVerifyMac,
            ) => {
                let (alg, min) = hmac_alg(kind.spec).ok_or(CryptoError::Internal)?;
                if stored.len() < min {
                    return Err(CryptoError::Unwrap);
                }
                (
                    Inner::Hmac(Box::new(hmac::Key::new(alg, stored))),
                    Vec::new(),
                )
            }
            _ => return Err(CryptoError::Unwrap),
        };
        Ok(SecretKey {
            kind,
            inner,
            public,
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// DER SubjectPublicKeyInfo; `None` for HMAC keys.
    pub fn public_key_der(&self) -> Option<&[u8]> {
        (!self.public.is_empty()).then_some(&self.public[..])
    }

    /// Signs `msg` with `alg`. The caller has checked that the key offers `alg` and that a
    /// digest has the algorithm's length; a mismatch here is an internal error.
    pub fn sign(&self, alg: SignAlg, msg: Message<'_>) -> Result<Vec<u8>, CryptoError> {
        match (&self.inner, msg) {
            (Inner::RsaSign(pair), msg) => {
                let enc = alg.rsa_encoding().ok_or(CryptoError::Internal)?;
                let mut out = vec![0u8; pair.public_modulus_len()];
                match msg {
                    Message::Raw(m) => pair
                        .sign(enc, &SystemRandom::new(), m, &mut out)
                        .map_err(internal)?,
                    Message::Digest(d) => pair
                        .sign_digest(enc, &import_digest(alg, d)?, &mut out)
                        .map_err(internal)?,
                }
                Ok(out)
            }
            (Inner::Ecdsa(pair), Message::Raw(m)) => Ok(pair
                .sign(&SystemRandom::new(), m)
                .map_err(internal)?
                .as_ref()
                .to_vec()),
            (Inner::Ecdsa(pair), Message::Digest(d)) => Ok(pair
                .sign_digest(&import_digest(alg, d)?)
                .map_err(internal)?
                .as_ref()
                .to_vec()),
            (Inner::Ed25519(pair), Message::Raw(m)) if alg == SignAlg::Ed25519Sha512 => {
                Ok(pair.try_sign(m).map_err(internal)?.as_ref().to_vec())
            }
            (Inner::MlDsa(pair), Message::Raw(m)) => {
                let mut out = vec![0u8; pair.algorithm().signature_len()];
                let n = pair.sign(m, &mut out).map_err(internal)?;
                out.truncate(n);
                Ok(out)
            }
            _ => Err(CryptoError::Internal),
        }
    }

    /// Verifies `signature` over `msg` with the key's public half; any mismatch (wrong message,
    /// key or algorithm, malformed signature) is [`CryptoError::InvalidSignature`].
    pub fn verify(
        &self,
        alg: SignAlg,
        msg: Message<'_>,
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let bad = |_| CryptoError::InvalidSignature;
        let verification: &'static dyn sig::VerificationAlgorithm = match &self.inner {
            Inner::RsaSign(_) => alg.rsa_verification().ok_or(CryptoError::Internal)?,
            Inner::Ecdsa(_) => ecdsa_verification(self.kind.spec).ok_or(CryptoError::Internal)?,
            Inner::Ed25519(_) if alg == SignAlg::Ed25519Sha512 => &sig::ED25519,
            Inner::MlDsa(_) => mldsa(self.kind.spec).ok_or(CryptoError::Internal)?.1,
            _ => return Err(CryptoError::Internal),
        };
        let key = UnparsedPublicKey::new(verification, &self.public[..]);
        match msg {
            Message::Raw(m) => key.verify(m, signature).map_err(bad),
            Message::Digest(d) => key
                .verify_digest(&import_digest(alg, d)?, signature)
                .map_err(bad),
        }
    }

    /// The HMAC of `msg` (HMAC keys only).
    pub fn mac(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.inner {
            Inner::Hmac(k) => Ok(hmac::sign(k, msg).as_ref().to_vec()),
            _ => Err(CryptoError::Internal),
        }
    }

    /// Checks `tag` against the HMAC of `msg` in constant time (aws-lc-rs compares with
    /// `CRYPTO_memcmp`); a different length fails the same way.
    pub fn verify_mac(&self, msg: &[u8], tag: &[u8]) -> Result<(), CryptoError> {
        match &self.inner {
            Inner::Hmac(k) => hmac::verify(k, msg, tag).map_err(|_| CryptoError::InvalidMac),
            _ => Err(CryptoError::Internal),
        }
    }

    /// The modulus length in bytes of an RSA encryption key.
    pub fn rsa_modulus_len(&self) -> Option<usize> {
        match &self.inner {
            Inner::RsaDecrypt { private, .. } => Some(private.key_size_bytes()),
            Inner::RsaSign(pair) => Some(pair.public_modulus_len()),
            _ => None,
        }
    }

    /// RSAES-OAEP encryption with the public half; the caller checked the plaintext length.
    pub fn oaep_encrypt(&self, alg: OaepAlg, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Inner::RsaDecrypt { public, .. } = &self.inner else {
            return Err(CryptoError::Internal);
        };
        let mut out = vec![0u8; public.ciphertext_size()];
        let n = public
            .encrypt(alg.lc(), plaintext, &mut out, None)
            .map_err(internal)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// RSAES-OAEP decryption; any failure (wrong algorithm, length, padding) is
    /// InvalidCiphertext, indistinguishably.
    pub fn oaep_decrypt(
        &self,
        alg: OaepAlg,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Inner::RsaDecrypt { private, .. } = &self.inner else {
            return Err(CryptoError::Internal);
        };
        if ciphertext.len() != private.key_size_bytes() {
            return Err(CryptoError::InvalidCiphertext);
        }
        let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
        let n = private
            .decrypt(alg.lc(), ciphertext, &mut out, None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// ECDH with a peer's DER SubjectPublicKeyInfo on the key's curve: the raw shared secret
    /// (the x-coordinate, fixed length). Anything but a valid SPKI of a point on this curve is
    /// [`CryptoError::InvalidPeerKey`]; aws-lc checks the point is on the curve.
    pub fn derive_shared_secret(
        &self,
        peer_spki: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Inner::Ecdh(key) = &self.inner else {
            return Err(CryptoError::Internal);
        };
        // aws-lc-rs would also take a bare SEC1 point; KMS takes only the DER structure.
        if peer_spki.first() != Some(&0x30) {
            return Err(CryptoError::InvalidPeerKey);
        }
        let alg = ecdh_alg(self.kind.spec).ok_or(CryptoError::Internal)?;
        let peer = agreement::UnparsedPublicKey::new(alg, peer_spki);
        agreement::agree(key, peer, CryptoError::InvalidPeerKey, |secret| {
            Ok(Zeroizing::new(secret.to_vec()))
        })
    }
}

fn check_rsa_len(spec: KeySpec, len: usize) -> Result<(), CryptoError> {
    if spec.rsa_len() == Some(len) {
        Ok(())
    } else {
        Err(CryptoError::Unwrap)
    }
}

fn import_digest(alg: SignAlg, d: &[u8]) -> Result<Digest, CryptoError> {
    let a = alg.digest_alg().ok_or(CryptoError::Internal)?;
    Digest::import_less_safe(d, a).map_err(internal)
}

/// A data key pair of `spec` (GenerateDataKeyPair): PKCS#8 PrivateKeyInfo DER and DER
/// SubjectPublicKeyInfo. RSA, ECC and Ed25519 specs only.
pub fn generate_pair(spec: KeySpec) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let pair = RsaKeyPair::generate(rsa_size(spec).ok_or(CryptoError::Internal)?)
                .map_err(internal)?;
            Ok((
                Zeroizing::new(der(pair.as_der())?),
                der(pair.public_key().as_der())?,
            ))
        }
        KeySpec::EccNistP256
        | KeySpec::EccNistP384
        | KeySpec::EccNistP521
        | KeySpec::EccSecgP256k1 => {
            let pair = EcdsaKeyPair::generate(ecdsa_signing(spec).ok_or(CryptoError::Internal)?)
                .map_err(internal)?;
            Ok((
                Zeroizing::new(doc(pair.to_pkcs8v1())?),
                der(pair.public_key().as_der())?,
            ))
        }
        KeySpec::EccNistEdwards25519 => {
            let pair = Ed25519KeyPair::generate().map_err(internal)?;
            Ok((
                Zeroizing::new(doc(pair.to_pkcs8v1())?),
                der(pair.public_key().as_der())?,
            ))
        }
        _ => Err(CryptoError::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(spec: KeySpec, usage: KeyUsage) -> KeyKind {
        KeyKind { spec, usage }
    }

    fn sha(alg: &'static digest::Algorithm, m: &[u8]) -> Vec<u8> {
        digest::digest(alg, m).as_ref().to_vec()
    }

    #[test]
    fn every_signing_algorithm_round_trips_raw_and_digest() {
        let specs = [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlDsa44,
        ];
        let msg = b"kmsnap signs this";
        for spec in specs {
            let k = kind(spec, KeyUsage::SignVerify);
            let (stored, key) = SecretKey::generate(k).unwrap();
            let reloaded = SecretKey::from_stored(k, &stored).unwrap();
            assert_eq!(reloaded.public_key_der(), key.public_key_der());
            for alg_name in k.signing_algorithms() {
                let alg = SignAlg::parse(alg_name).unwrap();
                if alg == SignAlg::Ed25519PhSha512 {
                    continue;
                }
                let s = key.sign(alg, Message::Raw(msg)).unwrap();
                reloaded.verify(alg, Message::Raw(msg), &s).unwrap();
                assert_eq!(
                    reloaded.verify(alg, Message::Raw(b"other"), &s),
                    Err(CryptoError::InvalidSignature),
                    "{alg:?}"
                );
                assert_eq!(
                    reloaded.verify(alg, Message::Raw(msg), &s[..s.len() - 1]),
                    Err(CryptoError::InvalidSignature)
                );
                if let Some(h) = alg.digest_alg() {
                    // A message and its digest are one message: sign one way, verify the other.
                    let d = sha(h, msg);
                    reloaded.verify(alg, Message::Digest(&d), &s).unwrap();
                    let s2 = key.sign(alg, Message::Digest(&d)).unwrap();
                    reloaded.verify(alg, Message::Raw(msg), &s2).unwrap();
                }
            }
        }
    }

    #[test]
    fn rsa_signatures_are_modulus_length_pss_salt_is_hash_length() {
        let k = kind(KeySpec::Rsa3072, KeyUsage::SignVerify);
        let (_, key) = SecretKey::generate(k).unwrap();
        let s1 = key
            .sign(SignAlg::RsaPkcs1Sha384, Message::Raw(b"m"))
            .unwrap();
        assert_eq!(s1.len(), 384);
        assert_eq!(
            s1,
            key.sign(SignAlg::RsaPkcs1Sha384, Message::Raw(b"m"))
                .unwrap(),
            "PKCS#1 v1.5 is deterministic"
        );
        let p1 = key.sign(SignAlg::RsaPssSha256, Message::Raw(b"m")).unwrap();
        assert_ne!(
            p1,
            key.sign(SignAlg::RsaPssSha256, Message::Raw(b"m")).unwrap(),
            "PSS is randomised"
        );
        // A verifier that insists on salt = 32 accepts it; one that insists on another length does not.
        static STRICT_64: sig::RsaParameters =
            sig::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(sig::RsaPssSaltLength::Custom(64));
        static STRICT_32: sig::RsaParameters =
            sig::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(sig::RsaPssSaltLength::Custom(32));
        UnparsedPublicKey::new(&STRICT_32, key.public_key_der().unwrap())
            .verify(b"m", &p1)
            .unwrap();
        assert!(
            UnparsedPublicKey::new(&STRICT_64, key.public_key_der().unwrap())
                .verify(b"m", &p1)
                .is_err()
        );
        // Another algorithm of the same key does not verify.
        assert_eq!(
            key.verify(SignAlg::RsaPssSha384, Message::Raw(b"m"), &p1),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn ed25519_known_answer_rfc8032_test_1() {
        // RFC 8032 §7.1 TEST 1: secret key, empty message, signature.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let public =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap();
        let expected = hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b").unwrap();
        let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &public).unwrap();
        let stored = pair.to_pkcs8v1().unwrap();
        let key = SecretKey::from_stored(
            kind(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify),
            stored.as_ref(),
        )
        .unwrap();
        assert_eq!(
            key.sign(SignAlg::Ed25519Sha512, Message::Raw(b"")).unwrap(),
            expected
        );
        assert!(key.public_key_der().unwrap().ends_with(&public));
        assert_eq!(key.public_key_der().unwrap().len(), 44);
    }

    #[test]
    fn hmac_known_answers_rfc4231_test_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". The stored key
        // must be at least the spec's length, so pad with the HMAC-equivalent zero bytes.
        let data = b"what do ya want for nothing?";
        let cases = [
            (KeySpec::Hmac224, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"),
            (KeySpec::Hmac256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (KeySpec::Hmac384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
            (KeySpec::Hmac512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
        ];
        for (spec, want) in cases {
            let (_, len) = hmac_alg(spec).unwrap();
            let mut k = b"Jefe".to_vec();
            k.resize(len, 0);
            let key = SecretKey::from_stored(kind(spec, KeyUsage::GenerateVerifyMac), &k).unwrap();
            let tag = key.mac(data).unwrap();
            assert_eq!(hex::encode(&tag), want, "{spec:?}");
            key.verify_mac(data, &tag).unwrap();
            let mut bad = tag.clone();
            bad[0] ^= 1;
            assert_eq!(key.verify_mac(data, &bad), Err(CryptoError::InvalidMac));
            assert_eq!(
                key.verify_mac(data, &tag[..tag.len() - 1]),
                Err(CryptoError::InvalidMac)
            );
            assert!(key.public_key_der().is_none());
            // Shorter than the spec's length is not a key of that spec.
            assert!(
                SecretKey::from_stored(kind(spec, KeyUsage::GenerateVerifyMac), &k[..len - 1])
                    .is_err()
            );
        }
    }

    #[test]
    fn oaep_round_trip_limits_and_tamper() {
        let k = kind(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
        let (_, key) = SecretKey::generate(k).unwrap();
        assert_eq!(OaepAlg::Sha1.max_plaintext(256), 214);
        assert_eq!(OaepAlg::Sha256.max_plaintext(256), 190);
        assert_eq!(OaepAlg::Sha256.max_plaintext(512), 446);
        for alg in [OaepAlg::Sha1, OaepAlg::Sha256] {
            let pt = vec![7u8; alg.max_plaintext(256)];
            let ct = key.oaep_encrypt(alg, &pt).unwrap();
            assert_eq!(ct.len(), 256);
            assert_ne!(
                ct,
                key.oaep_encrypt(alg, &pt).unwrap(),
                "OAEP is randomised"
            );
            assert_eq!(&key.oaep_decrypt(alg, &ct).unwrap()[..], &pt[..]);
            let other = if alg == OaepAlg::Sha1 {
                OaepAlg::Sha256
            } else {
                OaepAlg::Sha1
            };
            assert_eq!(
                key.oaep_decrypt(other, &ct).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
            let mut t = ct.clone();
            t[100] ^= 1;
            assert_eq!(
                key.oaep_decrypt(alg, &t).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
            assert_eq!(
                key.oaep_decrypt(alg, &ct[1..]).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        // A ciphertext made outside with the public key alone decrypts.
        let public = lc_rsa::PublicEncryptingKey::from_der(key.public_key_der().unwrap()).unwrap();
        let outside = OaepPublicEncryptingKey::new(public).unwrap();
        let mut ct = vec![0u8; outside.ciphertext_size()];
        let ct = outside
            .encrypt(
                &lc_rsa::OAEP_SHA256_MGF1SHA256,
                b"from outside",
                &mut ct,
                None,
            )
            .unwrap()
            .to_vec();
        assert_eq!(
            &key.oaep_decrypt(OaepAlg::Sha256, &ct).unwrap()[..],
            b"from outside"
        );
    }

    #[test]
    fn ecdh_agrees_with_the_peer_and_refuses_bad_keys() {
        for spec in [
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
        ] {
            let k = kind(spec, KeyUsage::KeyAgreement);
            let (_, a) = SecretKey::generate(k).unwrap();
            let (_, b) = SecretKey::generate(k).unwrap();
            let ab = a.derive_shared_secret(b.public_key_der().unwrap()).unwrap();
            let ba = b.derive_shared_secret(a.public_key_der().unwrap()).unwrap();
            assert_eq!(&ab[..], &ba[..]);
            let want = match spec {
                KeySpec::EccNistP256 => 32,
                KeySpec::EccNistP384 => 48,
                _ => 66,
            };
            assert_eq!(ab.len(), want);
            // Its own public key is accepted.
            assert!(a.derive_shared_secret(a.public_key_der().unwrap()).is_ok());
            // Raw point, garbage, truncated DER.
            let spki = b.public_key_der().unwrap();
            let point = &spki[spki.len() - (2 * want + 1).min(spki.len() - 1)..];
            assert_eq!(
                a.derive_shared_secret(point).unwrap_err(),
                CryptoError::InvalidPeerKey
            );
            assert_eq!(
                a.derive_shared_secret(b"\x30\x03\x02\x01\x01").unwrap_err(),
                CryptoError::InvalidPeerKey
            );
            assert_eq!(
                a.derive_shared_secret(&spki[..spki.len() - 1]).unwrap_err(),
                CryptoError::InvalidPeerKey
            );
        }
        // Another curve's key, and a non-EC key.
        let (_, p256) =
            SecretKey::generate(kind(KeySpec::EccNistP256, KeyUsage::KeyAgreement)).unwrap();
        let (_, p384) =
            SecretKey::generate(kind(KeySpec::EccNistP384, KeyUsage::KeyAgreement)).unwrap();
        assert_eq!(
            p256.derive_shared_secret(p384.public_key_der().unwrap())
                .unwrap_err(),
            CryptoError::InvalidPeerKey
        );
        let (_, ed) =
            SecretKey::generate(kind(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify)).unwrap();
        assert_eq!(
            p256.derive_shared_secret(ed.public_key_der().unwrap())
                .unwrap_err(),
            CryptoError::InvalidPeerKey
        );
    }

    #[test]
    fn public_keys_are_spki_of_the_documented_sizes() {
        for (spec, usage, len) in [
            (KeySpec::Rsa2048, KeyUsage::SignVerify, 294),
            (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt, 294),
            (KeySpec::EccNistP256, KeyUsage::SignVerify, 91),
            (KeySpec::EccNistP384, KeyUsage::KeyAgreement, 120),
            (KeySpec::EccNistP521, KeyUsage::SignVerify, 158),
            (KeySpec::EccSecgP256k1, KeyUsage::SignVerify, 88),
            (KeySpec::MlDsa44, KeyUsage::SignVerify, 1334),
        ] {
            let (_, key) = SecretKey::generate(kind(spec, usage)).unwrap();
            assert_eq!(key.public_key_der().unwrap().len(), len, "{spec:?}");
        }
    }

    #[test]
    fn stored_form_of_one_kind_does_not_load_as_another() {
        let (rsa, _) = SecretKey::generate(kind(KeySpec::Rsa2048, KeyUsage::SignVerify)).unwrap();
        assert!(
            SecretKey::from_stored(kind(KeySpec::Rsa3072, KeyUsage::SignVerify), &rsa).is_err()
        );
        assert!(
            SecretKey::from_stored(kind(KeySpec::EccNistP256, KeyUsage::SignVerify), &rsa).is_err()
        );
        let (p256, _) =
            SecretKey::generate(kind(KeySpec::EccNistP256, KeyUsage::SignVerify)).unwrap();
        assert!(
            SecretKey::from_stored(kind(KeySpec::EccNistP384, KeyUsage::SignVerify), &p256)
                .is_err()
        );
        // The same P-256 material serves a KEY_AGREEMENT key (import may bring either).
        assert!(
            SecretKey::from_stored(kind(KeySpec::EccNistP256, KeyUsage::KeyAgreement), &p256)
                .is_ok()
        );
        assert!(SecretKey::from_stored(
            kind(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
            &p256
        )
        .is_err());
    }

    #[test]
    fn data_key_pairs_load_and_match() {
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP256,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistP521,
            KeySpec::EccNistEdwards25519,
        ] {
            let (private, public) = generate_pair(spec).unwrap();
            let key = SecretKey::from_stored(kind(spec, KeyUsage::SignVerify), &private).unwrap();
            assert_eq!(key.public_key_der().unwrap(), &public[..], "{spec:?}");
        }
        let (a, _) = generate_pair(KeySpec::EccNistP256).unwrap();
        let (b, _) = generate_pair(KeySpec::EccNistP256).unwrap();
        assert_ne!(&a[..], &b[..]);
        assert!(generate_pair(KeySpec::Hmac256).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let (stored, key) =
            SecretKey::generate(kind(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac)).unwrap();
        let d = format!("{key:?}");
        assert_eq!(d, "SecretKey(HMAC_256 GENERATE_VERIFY_MAC, <redacted>)");
        assert!(!d.contains(&hex::encode(&stored[..4])));
    }
}
