//! Unit tests of the asymmetric and HMAC operations through the ops functions: Sign, Verify,
//! GetPublicKey here, and (sharing the helpers) GenerateMac/VerifyMac, DeriveSharedSecret,
//! GenerateDataKeyPair* and RSA Encrypt/Decrypt/ReEncrypt.

use super::*;
use crate::model::KeyState;
use crate::ops::keys::{create_key, describe_key};
use crate::ops::{agreement, crypto as sym, data_key_pair, grants, keys, mac, rotation};
use crate::testsupport::env::{code, Env};
use kmsnap_api::SensitiveBlob;

fn create(
    env: &Env,
    ctx: &RequestContext,
    spec: api::KeySpec,
    usage: api::KeyUsageType,
) -> api::KeyMetadata {
    create_key(
        &env.kms,
        ctx,
        api::CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap()
}

fn sign_req(
    key: &str,
    alg: api::SigningAlgorithmSpec,
    mt: Option<api::MessageType>,
    msg: &[u8],
) -> api::SignRequest {
    api::SignRequest {
        key_id: key.into(),
        message: SensitiveBlob::new(msg.to_vec()),
        message_type: mt,
        signing_algorithm: alg,
        grant_tokens: None,
        dry_run: None,
    }
}

fn mac_req(key: &str, alg: api::MacAlgorithmSpec, msg: &[u8]) -> api::GenerateMacRequest {
    api::GenerateMacRequest {
        message: SensitiveBlob::new(msg.to_vec()),
        key_id: key.into(),
        mac_algorithm: alg,
        grant_tokens: None,
        dry_run: None,
    }
}

fn derive_req(key: &str, public: Blob) -> api::DeriveSharedSecretRequest {
    api::DeriveSharedSecretRequest {
        key_id: key.into(),
        key_agreement_algorithm: api::KeyAgreementAlgorithmSpec::Ecdh,
        public_key: public,
        grant_tokens: None,
        dry_run: None,
        recipient: None,
    }
}

fn pair_req(
    key: &str,
    spec: api::DataKeyPairSpec,
    ec: Option<std::collections::BTreeMap<String, String>>,
) -> api::GenerateDataKeyPairRequest {
    api::GenerateDataKeyPairRequest {
        encryption_context: ec,
        key_id: key.into(),
        key_pair_spec: spec,
        grant_tokens: None,
        recipient: None,
        dry_run: None,
    }
}

fn verify_req(
    key: &str,
    alg: api::SigningAlgorithmSpec,
    mt: Option<api::MessageType>,
    msg: &[u8],
    sig: &[u8],
) -> api::VerifyRequest {
    api::VerifyRequest {
        key_id: key.into(),
        message: SensitiveBlob::new(msg.to_vec()),
        message_type: mt,
        signature: Blob(sig.to_vec()),
        signing_algorithm: alg,
        grant_tokens: None,
        dry_run: None,
    }
}

#[test]
fn create_and_describe_every_kind() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = create(
        &env,
        &ctx,
        api::KeySpec::Rsa2048,
        api::KeyUsageType::SignVerify,
    );
    assert_eq!(md.key_spec, Some(api::KeySpec::Rsa2048));
    assert_eq!(
        md.customer_master_key_spec,
        Some(api::CustomerMasterKeySpec::Rsa2048)
    );
    assert_eq!(md.signing_algorithms.as_ref().unwrap().len(), 6);
    assert_eq!(md.encryption_algorithms, None);
    assert_eq!(
        md.current_key_material_id, None,
        "only symmetric keys show a material id"
    );
    let md = create(
        &env,
        &ctx,
        api::KeySpec::Rsa3072,
        api::KeyUsageType::EncryptDecrypt,
    );
    assert_eq!(
        md.encryption_algorithms,
        Some(vec![
            api::EncryptionAlgorithmSpec::RsaesOaepSha1,
            api::EncryptionAlgorithmSpec::RsaesOaepSha256
        ])
    );
    assert_eq!(md.signing_algorithms, None);
    let md = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP384,
        api::KeyUsageType::KeyAgreement,
    );
    assert_eq!(
        md.key_agreement_algorithms,
        Some(vec![api::KeyAgreementAlgorithmSpec::Ecdh])
    );
    assert_eq!(md.signing_algorithms, None);
    let md = create(
        &env,
        &ctx,
        api::KeySpec::Hmac224,
        api::KeyUsageType::GenerateVerifyMac,
    );
    assert_eq!(
        md.mac_algorithms,
        Some(vec![api::MacAlgorithmSpec::HmacSha224])
    );
    assert_eq!(md.encryption_algorithms, None);
    let md = create(
        &env,
        &ctx,
        api::KeySpec::EccNistEdwards25519,
        api::KeyUsageType::SignVerify,
    );
    assert_eq!(
        md.signing_algorithms,
        Some(vec![
            api::SigningAlgorithmSpec::Ed25519PhSha512,
            api::SigningAlgorithmSpec::Ed25519Sha512
        ])
    );
    let md = create(
        &env,
        &ctx,
        api::KeySpec::MlDsa65,
        api::KeyUsageType::SignVerify,
    );
    assert_eq!(
        md.signing_algorithms,
        Some(vec![api::SigningAlgorithmSpec::MlDsaShake256])
    );
    // DescribeKey after a restart of the cache (the material unwraps and loads).
    env.kms.clear_cache();
    let again = describe_key(
        &env.kms,
        &ctx,
        api::DescribeKeyRequest {
            key_id: md.key_id.clone(),
            grant_tokens: None,
        },
    )
    .unwrap();
    assert_eq!(
        again.key_metadata.unwrap().key_spec,
        Some(api::KeySpec::MlDsa65)
    );
}

#[test]
fn sign_and_verify_every_ecc_algorithm_raw_and_digest() {
    let env = Env::memory();
    let ctx = env.ctx();
    for (spec, alg, dlen) in [
        (
            api::KeySpec::EccNistP256,
            api::SigningAlgorithmSpec::EcdsaSha256,
            32,
        ),
        (
            api::KeySpec::EccSecgP256K1,
            api::SigningAlgorithmSpec::EcdsaSha256,
            32,
        ),
        (
            api::KeySpec::EccNistP384,
            api::SigningAlgorithmSpec::EcdsaSha384,
            48,
        ),
        (
            api::KeySpec::EccNistP521,
            api::SigningAlgorithmSpec::EcdsaSha512,
            64,
        ),
    ] {
        let k = create(&env, &ctx, spec, api::KeyUsageType::SignVerify).key_id;
        let s = sign(&env.kms, &ctx, sign_req(&k, alg, None, b"hello")).unwrap();
        assert_eq!(s.signing_algorithm, Some(alg));
        assert!(s.key_id.unwrap().ends_with(&k));
        let sig = s.signature.unwrap().0;
        assert_eq!(sig[0], 0x30, "ECDSA signatures are DER");
        let v = verify(&env.kms, &ctx, verify_req(&k, alg, None, b"hello", &sig)).unwrap();
        assert_eq!(v.signature_valid, Some(true));
        let e = verify(&env.kms, &ctx, verify_req(&k, alg, None, b"hellO", &sig)).unwrap_err();
        assert_eq!(
            code(e),
            ("KMSInvalidSignatureException".into(), String::new())
        );
        // Digest of the right length signs; the wrong length is refused.
        let d = vec![5u8; dlen];
        let s = sign(
            &env.kms,
            &ctx,
            sign_req(&k, alg, Some(api::MessageType::Digest), &d),
        )
        .unwrap()
        .signature
        .unwrap()
        .0;
        verify(
            &env.kms,
            &ctx,
            verify_req(&k, alg, Some(api::MessageType::Digest), &d, &s),
        )
        .unwrap();
        let e = sign(
            &env.kms,
            &ctx,
            sign_req(&k, alg, Some(api::MessageType::Digest), &d[1..]),
        )
        .unwrap_err();
        assert_eq!(
            code(e),
            (
                "ValidationException".into(),
                format!("Digest is invalid length for algorithm {}.", alg.as_str())
            )
        );
        let e = sign(
            &env.kms,
            &ctx,
            sign_req(&k, api::SigningAlgorithmSpec::RsassaPssSha256, None, b"x"),
        )
        .unwrap_err();
        assert_eq!(
            code(e).1,
            format!(
                "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec {}.",
                spec.as_str()
            )
        );
        let e = sign(
            &env.kms,
            &ctx,
            sign_req(&k, alg, Some(api::MessageType::ExternalMu), b"x"),
        )
        .unwrap_err();
        assert_eq!(
            code(e).1,
            format!(
                "Message type EXTERNAL_MU is incompatible with key spec {}.",
                spec.as_str()
            )
        );
    }
}

#[test]
fn rsa_signing_algorithms_and_raw_digest_equivalence() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = create(
        &env,
        &ctx,
        api::KeySpec::Rsa2048,
        api::KeyUsageType::SignVerify,
    )
    .key_id;
    let msg = b"the message";
    for (alg, h) in [
        (
            api::SigningAlgorithmSpec::RsassaPkcs1V1_5Sha256,
            &aws_lc_rs::digest::SHA256,
        ),
        (
            api::SigningAlgorithmSpec::RsassaPkcs1V1_5Sha384,
            &aws_lc_rs::digest::SHA384,
        ),
        (
            api::SigningAlgorithmSpec::RsassaPkcs1V1_5Sha512,
            &aws_lc_rs::digest::SHA512,
        ),
        (
            api::SigningAlgorithmSpec::RsassaPssSha256,
            &aws_lc_rs::digest::SHA256,
        ),
        (
            api::SigningAlgorithmSpec::RsassaPssSha384,
            &aws_lc_rs::digest::SHA384,
        ),
        (
            api::SigningAlgorithmSpec::RsassaPssSha512,
            &aws_lc_rs::digest::SHA512,
        ),
    ] {
        let sig = sign(&env.kms, &ctx, sign_req(&k, alg, None, msg))
            .unwrap()
            .signature
            .unwrap()
            .0;
        assert_eq!(sig.len(), 256);
        let d = aws_lc_rs::digest::digest(h, msg);
        verify(
            &env.kms,
            &ctx,
            verify_req(&k, alg, Some(api::MessageType::Digest), d.as_ref(), &sig),
        )
        .unwrap();
        // A RAW message that happens to be a digest is hashed again: not the same signature.
        let e = verify(&env.kms, &ctx, verify_req(&k, alg, None, d.as_ref(), &sig)).unwrap_err();
        assert_eq!(e, KmsError::InvalidSignature);
    }
    // Another algorithm of the same key does not verify.
    let sig = sign(
        &env.kms,
        &ctx,
        sign_req(&k, api::SigningAlgorithmSpec::RsassaPssSha256, None, msg),
    )
    .unwrap()
    .signature
    .unwrap()
    .0;
    let e = verify(
        &env.kms,
        &ctx,
        verify_req(
            &k,
            api::SigningAlgorithmSpec::RsassaPkcs1V1_5Sha256,
            None,
            msg,
            &sig,
        ),
    )
    .unwrap_err();
    assert_eq!(e, KmsError::InvalidSignature);
}

#[test]
fn ed25519_and_ml_dsa_message_types() {
    let env = Env::memory();
    let ctx = env.ctx();
    let ed = create(
        &env,
        &ctx,
        api::KeySpec::EccNistEdwards25519,
        api::KeyUsageType::SignVerify,
    )
    .key_id;
    let sig = sign(
        &env.kms,
        &ctx,
        sign_req(&ed, api::SigningAlgorithmSpec::Ed25519Sha512, None, b"m"),
    )
    .unwrap()
    .signature
    .unwrap()
    .0;
    assert_eq!(sig.len(), 64);
    assert_eq!(
        sig,
        sign(
            &env.kms,
            &ctx,
            sign_req(&ed, api::SigningAlgorithmSpec::Ed25519Sha512, None, b"m")
        )
        .unwrap()
        .signature
        .unwrap()
        .0
    );
    verify(
        &env.kms,
        &ctx,
        verify_req(
            &ed,
            api::SigningAlgorithmSpec::Ed25519Sha512,
            None,
            b"m",
            &sig,
        ),
    )
    .unwrap();
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ed,
            api::SigningAlgorithmSpec::Ed25519Sha512,
            Some(api::MessageType::Digest),
            &[0; 64],
        ),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "Message type DIGEST is incompatible with algorithm ED25519_SHA_512."
    );
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(&ed, api::SigningAlgorithmSpec::Ed25519PhSha512, None, b"m"),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."
    );
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ed,
            api::SigningAlgorithmSpec::Ed25519PhSha512,
            Some(api::MessageType::Digest),
            &[0; 63],
        ),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "Digest is invalid length for algorithm ED25519_PH_SHA_512."
    );
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ed,
            api::SigningAlgorithmSpec::Ed25519PhSha512,
            Some(api::MessageType::Digest),
            &[0; 64],
        ),
    )
    .unwrap_err();
    assert!(matches!(e, KmsError::NotImplemented(_)));

    let ml = create(
        &env,
        &ctx,
        api::KeySpec::MlDsa44,
        api::KeyUsageType::SignVerify,
    )
    .key_id;
    let sig = sign(
        &env.kms,
        &ctx,
        sign_req(&ml, api::SigningAlgorithmSpec::MlDsaShake256, None, b"m"),
    )
    .unwrap()
    .signature
    .unwrap()
    .0;
    assert_eq!(sig.len(), 2420);
    verify(
        &env.kms,
        &ctx,
        verify_req(
            &ml,
            api::SigningAlgorithmSpec::MlDsaShake256,
            None,
            b"m",
            &sig,
        ),
    )
    .unwrap();
    let e = verify(
        &env.kms,
        &ctx,
        verify_req(
            &ml,
            api::SigningAlgorithmSpec::MlDsaShake256,
            None,
            b"m",
            &sig[..100],
        ),
    )
    .unwrap_err();
    assert_eq!(e, KmsError::InvalidSignature);
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ml,
            api::SigningAlgorithmSpec::MlDsaShake256,
            Some(api::MessageType::Digest),
            &[0; 32],
        ),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "Message type DIGEST is incompatible with key spec ML_DSA_44."
    );
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ml,
            api::SigningAlgorithmSpec::MlDsaShake256,
            Some(api::MessageType::ExternalMu),
            &[0; 63],
        ),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "External Mu is invalid length for algorithm ML_DSA_SHAKE_256."
    );
}

#[test]
fn usage_state_limits_and_dry_run() {
    let env = Env::memory();
    let ctx = env.ctx();
    let sym = env.create(&ctx);
    let ecc = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::SignVerify,
    );
    let arn = ecc.arn.clone().unwrap();
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(&sym, api::SigningAlgorithmSpec::EcdsaSha256, None, b"x"),
    )
    .unwrap_err();
    assert_eq!(code(e).0, "InvalidKeyUsageException");
    assert!(code(
        sign(
            &env.kms,
            &ctx,
            sign_req(&sym, api::SigningAlgorithmSpec::EcdsaSha256, None, b"x")
        )
        .unwrap_err()
    )
    .1
    .ends_with("key usage is ENCRYPT_DECRYPT which is not valid for Sign."));
    let e = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ecc.key_id,
            api::SigningAlgorithmSpec::EcdsaSha256,
            None,
            b"",
        ),
    )
    .unwrap_err();
    assert_eq!(code(e).1, "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length greater than or equal to 1");
    assert!(sign(
        &env.kms,
        &ctx,
        sign_req(
            &ecc.key_id,
            api::SigningAlgorithmSpec::EcdsaSha256,
            None,
            &[1; 4096]
        )
    )
    .is_ok());
    assert!(matches!(
        sign(
            &env.kms,
            &ctx,
            sign_req(
                &ecc.key_id,
                api::SigningAlgorithmSpec::EcdsaSha256,
                None,
                &[1; 4097]
            )
        ),
        Err(KmsError::Validation(_))
    ));
    // DryRun: Sign refuses after its checks; Verify checks the signature first.
    let mut r = sign_req(
        &ecc.key_id,
        api::SigningAlgorithmSpec::EcdsaSha256,
        None,
        b"x",
    );
    r.dry_run = Some(true);
    assert_eq!(sign(&env.kms, &ctx, r).unwrap_err(), KmsError::DryRun);
    let sig = sign(
        &env.kms,
        &ctx,
        sign_req(
            &ecc.key_id,
            api::SigningAlgorithmSpec::EcdsaSha256,
            None,
            b"x",
        ),
    )
    .unwrap()
    .signature
    .unwrap()
    .0;
    let mut v = verify_req(
        &ecc.key_id,
        api::SigningAlgorithmSpec::EcdsaSha256,
        None,
        b"y",
        &sig,
    );
    v.dry_run = Some(true);
    assert_eq!(
        verify(&env.kms, &ctx, v.clone()).unwrap_err(),
        KmsError::InvalidSignature
    );
    v.message = SensitiveBlob::new(b"x".to_vec());
    assert_eq!(verify(&env.kms, &ctx, v).unwrap_err(), KmsError::DryRun);
    // Disabled: Sign refuses, GetPublicKey still answers; pending deletion refuses both.
    keys::disable_key(
        &env.kms,
        &ctx,
        api::DisableKeyRequest {
            key_id: ecc.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        sign(
            &env.kms,
            &ctx,
            sign_req(
                &ecc.key_id,
                api::SigningAlgorithmSpec::EcdsaSha256,
                None,
                b"x"
            )
        )
        .unwrap_err(),
        KmsError::Disabled { arn: arn.clone() }
    );
    assert!(get_public_key(
        &env.kms,
        &ctx,
        api::GetPublicKeyRequest {
            key_id: ecc.key_id.clone(),
            grant_tokens: None
        }
    )
    .is_ok());
    env.schedule(&ctx, &ecc.key_id, 7);
    let e = get_public_key(
        &env.kms,
        &ctx,
        api::GetPublicKeyRequest {
            key_id: ecc.key_id.clone(),
            grant_tokens: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        KmsError::InvalidState {
            arn,
            state: KeyState::PendingDeletion
        }
    );
}

#[test]
fn get_public_key_answers_spki_and_refuses_symmetric_and_hmac() {
    let env = Env::memory();
    let ctx = env.ctx();
    let rsa = create(
        &env,
        &ctx,
        api::KeySpec::Rsa4096,
        api::KeyUsageType::EncryptDecrypt,
    );
    let r = get_public_key(
        &env.kms,
        &ctx,
        api::GetPublicKeyRequest {
            key_id: rsa.key_id.clone(),
            grant_tokens: None,
        },
    )
    .unwrap();
    assert_eq!(r.public_key.unwrap().0.len(), 550);
    assert_eq!(r.key_usage, Some(api::KeyUsageType::EncryptDecrypt));
    assert_eq!(r.encryption_algorithms.unwrap().len(), 2);
    assert_eq!(r.signing_algorithms, None);
    assert_eq!(r.key_id, rsa.arn);
    let ka = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::KeyAgreement,
    );
    let r = get_public_key(
        &env.kms,
        &ctx,
        api::GetPublicKeyRequest {
            key_id: ka.key_id,
            grant_tokens: None,
        },
    )
    .unwrap();
    assert_eq!(
        r.key_agreement_algorithms,
        Some(vec![api::KeyAgreementAlgorithmSpec::Ecdh])
    );
    assert_eq!(r.public_key.unwrap().0.len(), 91);
    let sym = env.create(&ctx);
    let hmac = create(
        &env,
        &ctx,
        api::KeySpec::Hmac256,
        api::KeyUsageType::GenerateVerifyMac,
    )
    .key_id;
    for k in [sym, hmac] {
        let e = get_public_key(
            &env.kms,
            &ctx,
            api::GetPublicKeyRequest {
                key_id: k,
                grant_tokens: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            code(e),
            ("UnsupportedOperationException".into(), String::new())
        );
    }
}

#[test]
fn mac_generate_verify_and_refusals() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = create(
        &env,
        &ctx,
        api::KeySpec::Hmac384,
        api::KeyUsageType::GenerateVerifyMac,
    )
    .key_id;
    let gen = |alg: api::MacAlgorithmSpec, m: &[u8]| {
        mac::generate_mac(&env.kms, &ctx, mac_req(&k, alg, m))
    };
    let ver = |m: &[u8], tag: &[u8], dry: Option<bool>| {
        mac::verify_mac(
            &env.kms,
            &ctx,
            api::VerifyMacRequest {
                message: SensitiveBlob::new(m.to_vec()),
                key_id: k.clone(),
                mac_algorithm: api::MacAlgorithmSpec::HmacSha384,
                mac: Blob(tag.to_vec()),
                dry_run: dry,
                grant_tokens: None,
            },
        )
    };
    let r = gen(api::MacAlgorithmSpec::HmacSha384, b"data").unwrap();
    let tag = r.mac.unwrap().0;
    assert_eq!(tag.len(), 48);
    assert_eq!(
        tag,
        gen(api::MacAlgorithmSpec::HmacSha384, b"data")
            .unwrap()
            .mac
            .unwrap()
            .0,
        "HMAC is deterministic"
    );
    assert_eq!(ver(b"data", &tag, None).unwrap().mac_valid, Some(true));
    assert_eq!(
        code(ver(b"datA", &tag, None).unwrap_err()),
        ("KMSInvalidMacException".into(), String::new())
    );
    assert_eq!(
        ver(b"data", &tag[..47], None).unwrap_err(),
        KmsError::InvalidMac
    );
    let mut longer = tag.clone();
    longer.push(0);
    assert_eq!(
        ver(b"data", &longer, None).unwrap_err(),
        KmsError::InvalidMac
    );
    assert_eq!(
        ver(b"datA", &tag, Some(true)).unwrap_err(),
        KmsError::InvalidMac,
        "a bad MAC fails as itself under DryRun"
    );
    assert_eq!(
        ver(b"data", &tag, Some(true)).unwrap_err(),
        KmsError::DryRun
    );
    let e = gen(api::MacAlgorithmSpec::HmacSha512, b"data").unwrap_err();
    assert_eq!(
        code(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_384.".into()
        )
    );
    // Symmetric keys cannot MAC; HMAC keys cannot encrypt.
    let sym = env.create(&ctx);
    let e = mac::generate_mac(
        &env.kms,
        &ctx,
        mac_req(&sym, api::MacAlgorithmSpec::HmacSha256, b"x"),
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."));
    let e = sym::encrypt(
        &env.kms,
        &ctx,
        api::EncryptRequest {
            key_id: k.clone(),
            plaintext: SensitiveBlob::new(b"x".to_vec()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt."));
    // Rotation: refused (empty message), status false, DisableKeyRotation a no-op, no rotations.
    let e = rotation::enable_key_rotation(
        &env.kms,
        &ctx,
        api::EnableKeyRotationRequest {
            key_id: k.clone(),
            rotation_period_in_days: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        code(e),
        ("UnsupportedOperationException".into(), String::new())
    );
    let e = rotation::rotate_key_on_demand(
        &env.kms,
        &ctx,
        api::RotateKeyOnDemandRequest { key_id: k.clone() },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "UnsupportedOperationException");
    rotation::disable_key_rotation(
        &env.kms,
        &ctx,
        api::DisableKeyRotationRequest { key_id: k.clone() },
    )
    .unwrap();
    let st = rotation::get_key_rotation_status(
        &env.kms,
        &ctx,
        api::GetKeyRotationStatusRequest { key_id: k.clone() },
    )
    .unwrap();
    assert_eq!(st.key_rotation_enabled, Some(false));
    let l = rotation::list_key_rotations(
        &env.kms,
        &ctx,
        api::ListKeyRotationsRequest {
            key_id: k.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(l.rotations, Some(vec![]));
    let e = rotation::list_key_rotations(
        &env.kms,
        &ctx,
        api::ListKeyRotationsRequest {
            key_id: k.clone(),
            include_key_material: Some(api::IncludeKeyMaterial::AllKeyMaterial),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "Input parameter includeKeyMaterial can only be used with symmetric keys."
    );
}

#[test]
fn grants_on_hmac_and_asymmetric_keys() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = create(
        &env,
        &ctx,
        api::KeySpec::Hmac256,
        api::KeyUsageType::GenerateVerifyMac,
    )
    .key_id;
    let grantee = format!("arn:aws:iam::{}:role/r", ctx.principal.account);
    let g =
        |key: &str, ops: Vec<api::GrantOperation>, constraints: Option<api::GrantConstraints>| {
            grants::create_grant(
                &env.kms,
                &ctx,
                api::CreateGrantRequest {
                    key_id: key.into(),
                    grantee_principal: Some(grantee.clone()),
                    operations: ops,
                    constraints,
                    ..Default::default()
                },
            )
        };
    assert!(g(
        &k,
        vec![
            api::GrantOperation::GenerateMac,
            api::GrantOperation::DescribeKey
        ],
        None
    )
    .is_ok());
    let e = g(&k, vec![api::GrantOperation::Encrypt], None).unwrap_err();
    assert_eq!(
        code(e).1,
        "Operations [Encrypt] are not supported when creating a grant for a symmetric KMS key with key usage GENERATE_VERIFY_MAC. Valid operations are [CreateGrant, RetireGrant, DescribeKey, GenerateMac, VerifyMac]"
    );
    let ec = api::GrantConstraints {
        encryption_context_subset: Some([("a".to_string(), "b".to_string())].into()),
        ..Default::default()
    };
    let e = g(&k, vec![api::GrantOperation::GenerateMac], Some(ec)).unwrap_err();
    assert_eq!(code(e).1, "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.");
    let s = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::SignVerify,
    )
    .key_id;
    assert!(g(
        &s,
        vec![api::GrantOperation::Sign, api::GrantOperation::GetPublicKey],
        None
    )
    .is_ok());
    assert!(matches!(
        g(&s, vec![api::GrantOperation::Decrypt], None),
        Err(KmsError::Validation(_))
    ));
}

#[test]
fn derive_shared_secret_with_a_peer() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::KeyAgreement,
    );
    let peer = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::KeyAgreement,
    );
    let pk = |id: &str| {
        get_public_key(
            &env.kms,
            &ctx,
            api::GetPublicKeyRequest {
                key_id: id.into(),
                grant_tokens: None,
            },
        )
        .unwrap()
        .public_key
        .unwrap()
    };
    let derive = |id: &str, public: Blob| {
        agreement::derive_shared_secret(&env.kms, &ctx, derive_req(id, public))
    };
    let a = derive(&k.key_id, pk(&peer.key_id)).unwrap();
    let b = derive(&peer.key_id, pk(&k.key_id)).unwrap();
    assert_eq!(
        a.shared_secret.as_ref().unwrap().expose(),
        b.shared_secret.as_ref().unwrap().expose()
    );
    assert_eq!(a.shared_secret.unwrap().len(), 32);
    assert_eq!(a.key_origin, Some(api::OriginType::AwsKms));
    assert_eq!(
        a.key_agreement_algorithm,
        Some(api::KeyAgreementAlgorithmSpec::Ecdh)
    );
    assert_eq!(
        code(derive(&k.key_id, Blob(b"not der".to_vec())).unwrap_err()),
        ("ValidationException".into(), String::new())
    );
    let p384 = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP384,
        api::KeyUsageType::KeyAgreement,
    );
    assert!(matches!(
        derive(&k.key_id, pk(&p384.key_id)),
        Err(KmsError::Validation(_))
    ));
    let signer = create(
        &env,
        &ctx,
        api::KeySpec::EccNistP256,
        api::KeyUsageType::SignVerify,
    );
    assert_eq!(
        code(derive(&signer.key_id, pk(&peer.key_id)).unwrap_err()).0,
        "InvalidKeyUsageException"
    );
}

#[test]
fn data_key_pairs_under_a_symmetric_key() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = env.create(&ctx);
    let ec: std::collections::BTreeMap<String, String> =
        [("purpose".to_string(), "pair".to_string())].into();
    let r = data_key_pair::generate_data_key_pair(
        &env.kms,
        &ctx,
        pair_req(&k, api::DataKeyPairSpec::EccNistP256, Some(ec.clone())),
    )
    .unwrap();
    let private = r.private_key_plaintext.unwrap();
    let public = r.public_key.unwrap().0;
    assert_eq!(public.len(), 91);
    let loaded = crate::asym::SecretKey::from_stored(
        crate::keyspec::KeyKind {
            spec: crate::keyspec::KeySpec::EccNistP256,
            usage: crate::keyspec::KeyUsage::SignVerify,
        },
        private.expose(),
    )
    .unwrap();
    assert_eq!(loaded.public_key_der().unwrap(), &public[..]);
    let blob = r.private_key_ciphertext_blob.unwrap();
    let d = sym::decrypt(
        &env.kms,
        &ctx,
        api::DecryptRequest {
            ciphertext_blob: Some(blob.clone()),
            encryption_context: Some(ec),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.plaintext.unwrap().expose(), private.expose());
    assert_eq!(r.key_material_id, d.key_material_id);
    assert_eq!(
        sym::decrypt(
            &env.kms,
            &ctx,
            api::DecryptRequest {
                ciphertext_blob: Some(blob),
                ..Default::default()
            }
        )
        .unwrap_err(),
        KmsError::InvalidCiphertext
    );
    let w = data_key_pair::generate_data_key_pair_without_plaintext(
        &env.kms,
        &ctx,
        api::GenerateDataKeyPairWithoutPlaintextRequest {
            key_id: k.clone(),
            key_pair_spec: api::DataKeyPairSpec::Rsa2048,
            encryption_context: None,
            grant_tokens: None,
            dry_run: None,
        },
    )
    .unwrap();
    assert_eq!(w.public_key.unwrap().0.len(), 294);
    assert_eq!(w.key_pair_spec, Some(api::DataKeyPairSpec::Rsa2048));
    // Not under an asymmetric or HMAC key.
    let rsa = create(
        &env,
        &ctx,
        api::KeySpec::Rsa2048,
        api::KeyUsageType::EncryptDecrypt,
    )
    .key_id;
    let e = data_key_pair::generate_data_key_pair(
        &env.kms,
        &ctx,
        pair_req(&rsa, api::DataKeyPairSpec::EccNistP256, None),
    )
    .unwrap_err();
    assert_eq!(
        code(e),
        (
            "InvalidKeyUsageException".into(),
            "You cannot generate a data key pair with an asymmetric CMK".into()
        )
    );
    let hmac = create(
        &env,
        &ctx,
        api::KeySpec::Hmac256,
        api::KeyUsageType::GenerateVerifyMac,
    )
    .key_id;
    let e = data_key_pair::generate_data_key_pair(
        &env.kms,
        &ctx,
        pair_req(&hmac, api::DataKeyPairSpec::EccNistP256, None),
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKeyPair."));
    let e = data_key_pair::generate_data_key_pair(
        &env.kms,
        &ctx,
        pair_req(&k, api::DataKeyPairSpec::Sm2, None),
    )
    .unwrap_err();
    assert_eq!(code(e).0, "ValidationException");
}

#[test]
fn rsa_encrypt_decrypt_and_re_encrypt() {
    let env = Env::memory();
    let ctx = env.ctx();
    let rsa = create(
        &env,
        &ctx,
        api::KeySpec::Rsa2048,
        api::KeyUsageType::EncryptDecrypt,
    );
    let enc = |alg: Option<api::EncryptionAlgorithmSpec>,
               pt: &[u8],
               ec: Option<std::collections::BTreeMap<String, String>>| {
        sym::encrypt(
            &env.kms,
            &ctx,
            api::EncryptRequest {
                key_id: rsa.key_id.clone(),
                plaintext: SensitiveBlob::new(pt.to_vec()),
                encryption_algorithm: alg,
                encryption_context: ec,
                ..Default::default()
            },
        )
    };
    let dec = |key_id: Option<String>, alg: Option<api::EncryptionAlgorithmSpec>, ct: Vec<u8>| {
        sym::decrypt(
            &env.kms,
            &ctx,
            api::DecryptRequest {
                key_id,
                encryption_algorithm: alg,
                ciphertext_blob: Some(Blob(ct)),
                ..Default::default()
            },
        )
    };
    let r = enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
        b"secret",
        None,
    )
    .unwrap();
    assert_eq!(
        r.encryption_algorithm,
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    let ct = r.ciphertext_blob.unwrap().0;
    assert_eq!(ct.len(), 256);
    let d = dec(
        Some(rsa.key_id.clone()),
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
        ct.clone(),
    )
    .unwrap();
    assert_eq!(d.plaintext.unwrap().expose(), b"secret");
    assert_eq!(d.key_material_id, None);
    assert_eq!(
        d.encryption_algorithm,
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    // Wrong or missing algorithm: InvalidCiphertext. No KeyId: KeyId must not be null.
    assert_eq!(
        dec(
            Some(rsa.key_id.clone()),
            Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
            ct.clone()
        )
        .unwrap_err(),
        KmsError::InvalidCiphertext
    );
    assert_eq!(
        dec(Some(rsa.key_id.clone()), None, ct.clone()).unwrap_err(),
        KmsError::InvalidCiphertext
    );
    assert_eq!(
        code(
            dec(
                None,
                Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
                ct.clone()
            )
            .unwrap_err()
        )
        .1,
        "KeyId must not be null"
    );
    // Limits: 214 bytes for SHA-1, 190 for SHA-256.
    assert!(enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        &[1; 214],
        None
    )
    .is_ok());
    let e = enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        &[1; 215],
        None,
    )
    .unwrap_err();
    assert_eq!(code(e).1, "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.");
    let e = enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
        &[1; 191],
        None,
    )
    .unwrap_err();
    assert_eq!(code(e).1, "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes.");
    let e = enc(None, b"x", None).unwrap_err();
    assert_eq!(
        code(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".into()
        )
    );
    let e = enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        b"x",
        Some([("a".into(), "b".into())].into()),
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
    );
    assert!(enc(
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        b"x",
        Some(Default::default())
    )
    .is_ok());
    // ReEncrypt from RSA to symmetric and back.
    let s = env.create(&ctx);
    let r = sym::re_encrypt(
        &env.kms,
        &ctx,
        api::ReEncryptRequest {
            ciphertext_blob: Some(Blob(ct)),
            source_key_id: Some(rsa.key_id.clone()),
            source_encryption_algorithm: Some(api::EncryptionAlgorithmSpec::RsaesOaepSha256),
            destination_key_id: s.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.source_key_material_id, None);
    assert!(r.destination_key_material_id.is_some());
    let back = sym::re_encrypt(
        &env.kms,
        &ctx,
        api::ReEncryptRequest {
            ciphertext_blob: r.ciphertext_blob,
            destination_key_id: rsa.key_id.clone(),
            destination_encryption_algorithm: Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        back.destination_encryption_algorithm,
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1)
    );
    assert_eq!(back.destination_key_material_id, None);
    let d = dec(
        Some(rsa.key_id.clone()),
        Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        back.ciphertext_blob.unwrap().0,
    )
    .unwrap();
    assert_eq!(d.plaintext.unwrap().expose(), b"secret");
    // An RSA signing key cannot encrypt.
    let signer = create(
        &env,
        &ctx,
        api::KeySpec::Rsa2048,
        api::KeyUsageType::SignVerify,
    )
    .key_id;
    let e = sym::encrypt(
        &env.kms,
        &ctx,
        api::EncryptRequest {
            key_id: signer,
            plaintext: SensitiveBlob::new(b"x".to_vec()),
            encryption_algorithm: Some(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("key usage is SIGN_VERIFY which is not valid for Encrypt."));
}

#[test]
fn condition_keys_reach_the_key_policy() {
    let env = Env::memory();
    let ctx = env.ctx();
    let a = ctx.principal.account;
    // Allow Sign only with RSASSA_PSS and RAW; everything else by the root statement is denied.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{a}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*","Condition":{{"StringNotLike":{{"kms:SigningAlgorithm":"RSASSA_PSS_*"}}}}}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*","Condition":{{"StringEquals":{{"kms:MessageType":"DIGEST"}}}}}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:GenerateMac","Resource":"*","Condition":{{"StringEquals":{{"kms:MacAlgorithm":"HMAC_SHA_256"}}}}}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_1"}}}}}}
        ]}}"#
    );
    let mk = |spec, usage| {
        create_key(
            &env.kms,
            &ctx,
            api::CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                policy: Some(policy.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id
    };
    let rsa = mk(api::KeySpec::Rsa2048, api::KeyUsageType::SignVerify);
    assert!(sign(
        &env.kms,
        &ctx,
        sign_req(&rsa, api::SigningAlgorithmSpec::RsassaPssSha256, None, b"m")
    )
    .is_ok());
    assert!(matches!(
        sign(
            &env.kms,
            &ctx,
            sign_req(
                &rsa,
                api::SigningAlgorithmSpec::RsassaPkcs1V1_5Sha256,
                None,
                b"m"
            )
        ),
        Err(KmsError::AccessDenied(_))
    ));
    assert!(matches!(
        sign(
            &env.kms,
            &ctx,
            sign_req(
                &rsa,
                api::SigningAlgorithmSpec::RsassaPssSha256,
                Some(api::MessageType::Digest),
                &[0; 32]
            )
        ),
        Err(KmsError::AccessDenied(_))
    ));
    let h = mk(api::KeySpec::Hmac256, api::KeyUsageType::GenerateVerifyMac);
    let e = mac::generate_mac(
        &env.kms,
        &ctx,
        mac_req(&h, api::MacAlgorithmSpec::HmacSha256, b"x"),
    );
    assert!(matches!(e, Err(KmsError::AccessDenied(_))));
    let e = mk(api::KeySpec::Rsa2048, api::KeyUsageType::EncryptDecrypt);
    let r = |alg| {
        sym::encrypt(
            &env.kms,
            &ctx,
            api::EncryptRequest {
                key_id: e.clone(),
                plaintext: SensitiveBlob::new(b"x".to_vec()),
                encryption_algorithm: Some(alg),
                ..Default::default()
            },
        )
    };
    assert!(matches!(
        r(api::EncryptionAlgorithmSpec::RsaesOaepSha1),
        Err(KmsError::AccessDenied(_))
    ));
    assert!(r(api::EncryptionAlgorithmSpec::RsaesOaepSha256).is_ok());
}

#[test]
fn multi_region_replica_of_an_asymmetric_key_verifies_the_primarys_signatures() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = create_key(
        &env.kms,
        &ctx,
        api::CreateKeyRequest {
            key_spec: Some(api::KeySpec::EccNistP256),
            key_usage: Some(api::KeyUsageType::SignVerify),
            multi_region: Some(true),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap();
    crate::ops::multi_region::replicate_key(
        &env.kms,
        &ctx,
        api::ReplicateKeyRequest {
            key_id: md.key_id.clone(),
            replica_region: "us-west-2".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let west = env.ctx_for("111111111111", "us-west-2");
    let sig = sign(
        &env.kms,
        &ctx,
        sign_req(
            &md.key_id,
            api::SigningAlgorithmSpec::EcdsaSha256,
            None,
            b"m",
        ),
    )
    .unwrap()
    .signature
    .unwrap()
    .0;
    verify(
        &env.kms,
        &west,
        verify_req(
            &md.key_id,
            api::SigningAlgorithmSpec::EcdsaSha256,
            None,
            b"m",
            &sig,
        ),
    )
    .unwrap();
    let p1 = get_public_key(
        &env.kms,
        &ctx,
        api::GetPublicKeyRequest {
            key_id: md.key_id.clone(),
            grant_tokens: None,
        },
    )
    .unwrap()
    .public_key;
    let p2 = get_public_key(
        &env.kms,
        &west,
        api::GetPublicKeyRequest {
            key_id: md.key_id.clone(),
            grant_tokens: None,
        },
    )
    .unwrap()
    .public_key;
    assert_eq!(p1, p2);
}
