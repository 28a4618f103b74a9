//! Key specs, key usages and the algorithms each pair offers (docs/kms-asymmetric.md §1, §3,
//! §5, §6, §8): the one table CreateKey validates against, DescribeKey and GetPublicKey list
//! from, and the crypto operations check a requested algorithm against.
//!
//! Records keep the spec and usage as their wire strings (`SharedKey::key_spec`), so a record
//! written by any version reads back; this module turns them into [`KeySpec`] / [`KeyUsage`]
//! once, and everything that decides by kind matches on those exhaustively.

use crate::KmsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    SymmetricDefault,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    EccNistEdwards25519,
    Hmac224,
    Hmac256,
    Hmac384,
    Hmac512,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    /// China Regions only; kmsnap serves none, so CreateKey refuses it.
    Sm2,
    /// ENCAPSULATE_DECAPSULATE keys: not built (Encapsulate/Decapsulate are out of scope).
    MlKem512,
    MlKem768,
    MlKem1024,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    EncryptDecrypt,
    SignVerify,
    GenerateVerifyMac,
    KeyAgreement,
    EncapsulateDecapsulate,
}

/// The broad kind of a key: what UpdateAlias compares and what decides which operations exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    Symmetric,
    Asymmetric,
    Hmac,
}

impl KeySpec {
    pub const ALL: &'static [KeySpec] = &[
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
        KeySpec::Sm2,
        KeySpec::MlKem512,
        KeySpec::MlKem768,
        KeySpec::MlKem1024,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
            KeySpec::EccNistP521 => "ECC_NIST_P521",
            KeySpec::EccSecgP256k1 => "ECC_SECG_P256K1",
            KeySpec::EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
            KeySpec::Hmac224 => "HMAC_224",
            KeySpec::Hmac256 => "HMAC_256",
            KeySpec::Hmac384 => "HMAC_384",
            KeySpec::Hmac512 => "HMAC_512",
            KeySpec::MlDsa44 => "ML_DSA_44",
            KeySpec::MlDsa65 => "ML_DSA_65",
            KeySpec::MlDsa87 => "ML_DSA_87",
            KeySpec::Sm2 => "SM2",
            KeySpec::MlKem512 => "ML_KEM_512",
            KeySpec::MlKem768 => "ML_KEM_768",
            KeySpec::MlKem1024 => "ML_KEM_1024",
        }
    }

    pub fn parse(s: &str) -> Option<KeySpec> {
        KeySpec::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// A stored spec string: every record was validated when written, so an unknown value is
    /// corruption.
    pub fn of_record(s: &str) -> Result<KeySpec, KmsError> {
        KeySpec::parse(s).ok_or_else(|| {
            tracing::error!(spec = s, "stored key spec is unknown");
            KmsError::Internal("unknown stored key spec")
        })
    }

    pub fn class(self) -> KeyClass {
        match self {
            KeySpec::SymmetricDefault => KeyClass::Symmetric,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                KeyClass::Hmac
            }
            KeySpec::Rsa2048
            | KeySpec::Rsa3072
            | KeySpec::Rsa4096
            | KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1
            | KeySpec::EccNistEdwards25519
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87
            | KeySpec::Sm2
            | KeySpec::MlKem512
            | KeySpec::MlKem768
            | KeySpec::MlKem1024 => KeyClass::Asymmetric,
        }
    }

    /// The usages CreateKey accepts with this spec (§1 table).
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeyUsage::*;
        match self {
            KeySpec::SymmetricDefault => &[EncryptDecrypt],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[EncryptDecrypt, SignVerify],
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                &[SignVerify, KeyAgreement]
            }
            KeySpec::EccSecgP256k1 | KeySpec::EccNistEdwards25519 => &[SignVerify],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                &[GenerateVerifyMac]
            }
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[SignVerify],
            KeySpec::Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => &[EncapsulateDecapsulate],
        }
    }

    /// RSA modulus length in bytes (signature and ciphertext length).
    pub fn rsa_len(self) -> Option<usize> {
        match self {
            KeySpec::Rsa2048 => Some(256),
            KeySpec::Rsa3072 => Some(384),
            KeySpec::Rsa4096 => Some(512),
            _ => None,
        }
    }
}

impl KeyUsage {
    pub const ALL: &'static [KeyUsage] = &[
        KeyUsage::EncryptDecrypt,
        KeyUsage::SignVerify,
        KeyUsage::GenerateVerifyMac,
        KeyUsage::KeyAgreement,
        KeyUsage::EncapsulateDecapsulate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
            KeyUsage::SignVerify => "SIGN_VERIFY",
            KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
            KeyUsage::KeyAgreement => "KEY_AGREEMENT",
            KeyUsage::EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
        }
    }

    pub fn parse(s: &str) -> Option<KeyUsage> {
        KeyUsage::ALL.iter().copied().find(|u| u.as_str() == s)
    }

    pub fn of_record(s: &str) -> Result<KeyUsage, KmsError> {
        KeyUsage::parse(s).ok_or_else(|| {
            tracing::error!(usage = s, "stored key usage is unknown");
            KmsError::Internal("unknown stored key usage")
        })
    }
}

/// A key's spec and usage together: what its algorithm lists and its operations depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyKind {
    pub spec: KeySpec,
    pub usage: KeyUsage,
}

/// Signing algorithms (wire names), in the order AWS lists them (§1).
pub const RSA_SIGNING: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];
pub const RSA_ENCRYPTION: &[&str] = &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];

impl KeyKind {
    /// The kind of a stored key.
    pub fn of_record(spec: &str, usage: &str) -> Result<KeyKind, KmsError> {
        Ok(KeyKind {
            spec: KeySpec::of_record(spec)?,
            usage: KeyUsage::of_record(usage)?,
        })
    }

    /// `EncryptionAlgorithms` of KeyMetadata / GetPublicKey (ENCRYPT_DECRYPT keys only).
    pub fn encryption_algorithms(self) -> &'static [&'static str] {
        match (self.usage, self.spec) {
            (KeyUsage::EncryptDecrypt, KeySpec::SymmetricDefault) => &["SYMMETRIC_DEFAULT"],
            (KeyUsage::EncryptDecrypt, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) => {
                RSA_ENCRYPTION
            }
            (KeyUsage::EncryptDecrypt, KeySpec::Sm2) => &["SM2PKE"],
            _ => &[],
        }
    }

    /// `SigningAlgorithms` (SIGN_VERIFY keys only).
    pub fn signing_algorithms(self) -> &'static [&'static str] {
        if self.usage != KeyUsage::SignVerify {
            return &[];
        }
        match self.spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => RSA_SIGNING,
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &["ECDSA_SHA_256"],
            KeySpec::EccNistP384 => &["ECDSA_SHA_384"],
            KeySpec::EccNistP521 => &["ECDSA_SHA_512"],
            KeySpec::EccNistEdwards25519 => &["ED25519_PH_SHA_512", "ED25519_SHA_512"],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &["ML_DSA_SHAKE_256"],
            KeySpec::Sm2 => &["SM2DSA"],
            KeySpec::SymmetricDefault
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512
            | KeySpec::MlKem512
            | KeySpec::MlKem768
            | KeySpec::MlKem1024 => &[],
        }
    }

    /// `MacAlgorithms` (HMAC keys).
    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self.spec {
            KeySpec::Hmac224 => &["HMAC_SHA_224"],
            KeySpec::Hmac256 => &["HMAC_SHA_256"],
            KeySpec::Hmac384 => &["HMAC_SHA_384"],
            KeySpec::Hmac512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    /// `KeyAgreementAlgorithms` (KEY_AGREEMENT keys).
    pub fn key_agreement_algorithms(self) -> &'static [&'static str] {
        match self.usage {
            KeyUsage::KeyAgreement => &["ECDH"],
            _ => &[],
        }
    }
}

/// CreateKey's (spec, usage) from its request members, checked as AWS does (§1b): a spec other
/// than SYMMETRIC_DEFAULT needs an explicit usage, and the usage must be one the spec allows.
pub fn create_key_kind(
    key_spec: Option<&str>,
    customer_master_key_spec: Option<&str>,
    usage: Option<&str>,
) -> Result<KeyKind, KmsError> {
    let spec_str = match (key_spec, customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated."
                    .to_owned(),
            ))
        }
        (Some(k), None) | (None, Some(k)) => k,
        (None, None) => "SYMMETRIC_DEFAULT",
    };
    let spec = KeySpec::parse(spec_str).ok_or_else(|| {
        let all: Vec<&str> = KeySpec::ALL.iter().map(|k| k.as_str()).collect();
        KmsError::Validation(format!(
            "1 validation error detected: Value '{spec_str}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            all.join(", ")
        ))
    })?;
    let usage = match usage {
        Some(u) => KeyUsage::parse(u).ok_or_else(|| {
            let all: Vec<&str> = KeyUsage::ALL.iter().map(|k| k.as_str()).collect();
            KmsError::Validation(format!(
                "1 validation error detected: Value '{u}' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                all.join(", ")
            ))
        })?,
        None if spec == KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
        None => {
            return Err(KmsError::Validation(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".to_owned(),
            ))
        }
    };
    if !spec.usages().contains(&usage) {
        return Err(KmsError::Validation(format!(
            "KeyUsage {} is not compatible with KeySpec {}",
            usage.as_str(),
            spec.as_str()
        )));
    }
    match spec {
        KeySpec::Sm2 => Err(KmsError::Validation(
            "KeySpec SM2 is not supported in this Region".to_owned(),
        )),
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => Err(
            KmsError::NotImplemented("CreateKey with an ML_KEM KeySpec (Encapsulate/Decapsulate)"),
        ),
        _ => Ok(KeyKind { spec, usage }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(spec: &str, usage: Option<&str>) -> Result<KeyKind, KmsError> {
        create_key_kind(Some(spec), None, usage)
    }

    #[test]
    fn every_allowed_pair_and_every_refusal() {
        for spec in KeySpec::ALL {
            for usage in KeyUsage::ALL {
                let r = kind(spec.as_str(), Some(usage.as_str()));
                let allowed = spec.usages().contains(usage);
                match (spec, r) {
                    (KeySpec::Sm2, Err(KmsError::Validation(m))) if allowed => {
                        assert!(m.contains("SM2"))
                    }
                    (
                        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024,
                        Err(KmsError::NotImplemented(_)),
                    ) if allowed => {}
                    (_, Ok(k)) => assert!(
                        allowed
                            && k == KeyKind {
                                spec: *spec,
                                usage: *usage
                            }
                    ),
                    (_, Err(KmsError::Validation(m))) => {
                        assert!(!allowed);
                        assert_eq!(
                            m,
                            format!(
                                "KeyUsage {} is not compatible with KeySpec {}",
                                usage.as_str(),
                                spec.as_str()
                            )
                        );
                    }
                    (_, Err(e)) => panic!("{spec:?} {usage:?}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn usage_defaults_only_for_symmetric_keys() {
        assert_eq!(
            create_key_kind(None, None, None).unwrap(),
            KeyKind {
                spec: KeySpec::SymmetricDefault,
                usage: KeyUsage::EncryptDecrypt
            }
        );
        assert_eq!(
            kind("HMAC_256", None).unwrap_err(),
            KmsError::Validation("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into())
        );
        assert_eq!(
            kind("RSA_2048", Some("KEY_AGREEMENT")).unwrap_err(),
            KmsError::Validation(
                "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048".into()
            )
        );
        assert!(
            matches!(kind("RSA_1024", Some("SIGN_VERIFY")), Err(KmsError::Validation(m)) if m.contains("'keySpec'"))
        );
        assert!(
            matches!(create_key_kind(Some("RSA_2048"), Some("RSA_2048"), Some("SIGN_VERIFY")), Err(KmsError::Validation(m)) if m.contains("deprecated"))
        );
        assert_eq!(
            create_key_kind(None, Some("ECC_NIST_P256"), Some("SIGN_VERIFY"))
                .unwrap()
                .spec,
            KeySpec::EccNistP256
        );
    }

    #[test]
    fn algorithm_lists_as_aws_shows_them() {
        let k = |s, u| KeyKind { spec: s, usage: u };
        assert_eq!(
            k(KeySpec::Rsa3072, KeyUsage::EncryptDecrypt).encryption_algorithms(),
            ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        );
        assert!(k(KeySpec::Rsa3072, KeyUsage::EncryptDecrypt)
            .signing_algorithms()
            .is_empty());
        assert_eq!(
            k(KeySpec::Rsa2048, KeyUsage::SignVerify)
                .signing_algorithms()
                .len(),
            6
        );
        assert_eq!(
            k(KeySpec::EccSecgP256k1, KeyUsage::SignVerify).signing_algorithms(),
            ["ECDSA_SHA_256"]
        );
        assert_eq!(
            k(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify).signing_algorithms(),
            ["ED25519_PH_SHA_512", "ED25519_SHA_512"]
        );
        assert_eq!(
            k(KeySpec::EccNistP521, KeyUsage::KeyAgreement).key_agreement_algorithms(),
            ["ECDH"]
        );
        assert!(k(KeySpec::EccNistP521, KeyUsage::KeyAgreement)
            .signing_algorithms()
            .is_empty());
        assert_eq!(
            k(KeySpec::Hmac384, KeyUsage::GenerateVerifyMac).mac_algorithms(),
            ["HMAC_SHA_384"]
        );
        assert_eq!(
            k(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt).encryption_algorithms(),
            ["SYMMETRIC_DEFAULT"]
        );
        for s in KeySpec::ALL {
            assert_eq!(KeySpec::parse(s.as_str()), Some(*s));
        }
    }
}
