//! Imported key material through the ops functions: every importable kind, the refusals, that a
//! failed import changes nothing, deletion and expiry on the manual clock.

use super::*;
use crate::ops::keys::{create_key, describe_key};
use crate::ops::{crypto as sym, mac, rotation, sign};
use crate::testsupport::env::{code, Env};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};

fn external(
    env: &Env,
    ctx: &RequestContext,
    spec: api::KeySpec,
    usage: Option<api::KeyUsageType>,
) -> api::KeyMetadata {
    create_key(
        &env.kms,
        ctx,
        api::CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: usage,
            origin: Some(api::OriginType::External),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap()
}

fn params(
    env: &Env,
    ctx: &RequestContext,
    key: &str,
    alg: api::AlgorithmSpec,
    wks: api::WrappingKeySpec,
) -> Result<api::GetParametersForImportResponse, KmsError> {
    get_parameters_for_import(
        &env.kms,
        ctx,
        api::GetParametersForImportRequest {
            key_id: key.into(),
            wrapping_algorithm: alg,
            wrapping_key_spec: wks,
        },
    )
}

fn wrap(
    p: &api::GetParametersForImportResponse,
    alg: &api::AlgorithmSpec,
    material: &[u8],
) -> Vec<u8> {
    let public = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(p.public_key.as_ref().unwrap().expose()).unwrap(),
    )
    .unwrap();
    let oaep = |pt: &[u8], sha1: bool| {
        let mut out = vec![0u8; public.ciphertext_size()];
        public
            .encrypt(
                if sha1 {
                    &OAEP_SHA1_MGF1SHA1
                } else {
                    &OAEP_SHA256_MGF1SHA256
                },
                pt,
                &mut out,
                None,
            )
            .unwrap()
            .to_vec()
    };
    match alg {
        api::AlgorithmSpec::RsaesOaepSha1 => oaep(material, true),
        api::AlgorithmSpec::RsaesOaepSha256 => oaep(material, false),
        api::AlgorithmSpec::RsaAesKeyWrapSha1 | api::AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let aes = [0x5au8; 32];
            let mut out = oaep(&aes, *alg == api::AlgorithmSpec::RsaAesKeyWrapSha1);
            let mut w = vec![0u8; material.len() + 16];
            out.extend_from_slice(
                AesKek::new(&AES_256, &aes)
                    .unwrap()
                    .wrap_with_padding(material, &mut w)
                    .unwrap(),
            );
            out
        }
        _ => unreachable!(),
    }
}

fn import_req(
    key: &str,
    token: &Blob,
    encrypted: Vec<u8>,
    valid_to: Option<DateTime<Utc>>,
) -> api::ImportKeyMaterialRequest {
    api::ImportKeyMaterialRequest {
        key_id: key.into(),
        import_token: token.clone(),
        encrypted_key_material: Blob(encrypted),
        valid_to: valid_to.map(Timestamp),
        expiration_model: Some(if valid_to.is_some() {
            api::ExpirationModelType::KeyMaterialExpires
        } else {
            api::ExpirationModelType::KeyMaterialDoesNotExpire
        }),
        ..Default::default()
    }
}

fn describe(env: &Env, ctx: &RequestContext, key: &str) -> api::KeyMetadata {
    describe_key(
        &env.kms,
        ctx,
        api::DescribeKeyRequest {
            key_id: key.into(),
            grant_tokens: None,
        },
    )
    .unwrap()
    .key_metadata
    .unwrap()
}

#[test]
fn symmetric_import_encrypts_and_reimport_is_recognised() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = external(&env, &ctx, api::KeySpec::SymmetricDefault, None);
    assert_eq!(md.key_state, Some(api::KeyState::PendingImport));
    assert_eq!(md.enabled, Some(false));
    assert_eq!(md.origin, Some(api::OriginType::External));
    assert_eq!(md.expiration_model, None);
    let k = md.key_id.clone();
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
    assert_eq!(
        code(e).1,
        format!("{} is pending import.", md.arn.clone().unwrap())
    );
    let p = params(
        &env,
        &ctx,
        &k,
        api::AlgorithmSpec::RsaesOaepSha256,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let in_24h = kmsnap_core::Clock::now(env.clock.as_ref()) + Duration::hours(24);
    assert!(
        (p.parameters_valid_to.as_ref().unwrap().0 - in_24h)
            .num_milliseconds()
            .abs()
            < 1000
    );
    let token = p.import_token.clone().unwrap();
    let material = [0x11u8; 32];
    let r = import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k,
            &token,
            wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &material),
            None,
        ),
    )
    .unwrap();
    let mid = r.key_material_id.unwrap();
    assert_eq!(mid.len(), 64);
    let d = describe(&env, &ctx, &k);
    assert_eq!(d.key_state, Some(api::KeyState::Enabled));
    assert_eq!(d.current_key_material_id.as_deref(), Some(mid.as_str()));
    assert_eq!(
        d.expiration_model,
        Some(api::ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    let ct = sym::encrypt(
        &env.kms,
        &ctx,
        api::EncryptRequest {
            key_id: k.clone(),
            plaintext: SensitiveBlob::new(b"imported".to_vec()),
            ..Default::default()
        },
    )
    .unwrap();
    // The blob is AES-256-GCM under exactly the imported bytes.
    let blob = ct.ciphertext_blob.unwrap().0;
    let (h, hl) = crate::crypto::parse_header(&blob).unwrap();
    assert_eq!(h.material_id, mid);
    let m = crate::crypto::Material::from_bytes(material).unwrap();
    assert_eq!(
        &crate::crypto::decrypt(&m, &blob, hl, None).unwrap()[..],
        b"imported"
    );
    // Reimport of the same material (the default is EXISTING now) is accepted with the same id;
    // NEW for the same material and EXISTING of other material are refused.
    let r2 = import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k,
            &token,
            wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &material),
            None,
        ),
    )
    .unwrap();
    assert_eq!(r2.key_material_id.as_deref(), Some(mid.as_str()));
    let mut new = import_req(
        &k,
        &token,
        wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &material),
        None,
    );
    new.import_type = Some(api::ImportType::NewKeyMaterial);
    assert_eq!(
        code(import_key_material(&env.kms, &ctx, new).unwrap_err()).0,
        "IncorrectKeyMaterialException"
    );
    let other = import_req(
        &k,
        &token,
        wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &[0x22; 32]),
        None,
    );
    assert_eq!(
        code(import_key_material(&env.kms, &ctx, other).unwrap_err()),
        (
            "IncorrectKeyMaterialException".into(),
            format!("Imported key material does not have the expected identifier ({mid}).")
        )
    );
    // Rotation: status false, on demand refused as AWS does without pending material.
    let st = rotation::get_key_rotation_status(
        &env.kms,
        &ctx,
        api::GetKeyRotationStatusRequest { key_id: k.clone() },
    )
    .unwrap();
    assert_eq!(st.key_rotation_enabled, Some(false));
    let e = rotation::rotate_key_on_demand(
        &env.kms,
        &ctx,
        api::RotateKeyOnDemandRequest { key_id: k.clone() },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "KMSInvalidStateException");
    let e = rotation::enable_key_rotation(
        &env.kms,
        &ctx,
        api::EnableKeyRotationRequest {
            key_id: k.clone(),
            rotation_period_in_days: None,
        },
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("origin is EXTERNAL which is not valid for this operation."));
    // Delete: pending import, the id stays; the same material brings it back.
    let del = delete_imported_key_material(
        &env.kms,
        &ctx,
        api::DeleteImportedKeyMaterialRequest {
            key_id: k.clone(),
            key_material_id: None,
        },
    )
    .unwrap();
    assert_eq!(del.key_material_id.as_deref(), Some(mid.as_str()));
    let d = describe(&env, &ctx, &k);
    assert_eq!(d.key_state, Some(api::KeyState::PendingImport));
    assert_eq!(d.current_key_material_id.as_deref(), Some(mid.as_str()));
    import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k,
            &token,
            wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &material),
            None,
        ),
    )
    .unwrap();
    let d = sym::decrypt(
        &env.kms,
        &ctx,
        api::DecryptRequest {
            ciphertext_blob: Some(Blob(blob)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.plaintext.unwrap().expose(), b"imported");
}

#[test]
fn hmac_import_computes_the_rfc_hmac_of_the_imported_key() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = external(
        &env,
        &ctx,
        api::KeySpec::Hmac256,
        Some(api::KeyUsageType::GenerateVerifyMac),
    )
    .key_id;
    let p = params(
        &env,
        &ctx,
        &k,
        api::AlgorithmSpec::RsaesOaepSha1,
        api::WrappingKeySpec::Rsa3072,
    )
    .unwrap();
    let material = [0x33u8; 40];
    let r = import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k,
            p.import_token.as_ref().unwrap(),
            wrap(&p, &api::AlgorithmSpec::RsaesOaepSha1, &material),
            None,
        ),
    )
    .unwrap();
    assert_eq!(
        r.key_material_id, None,
        "asymmetric and HMAC keys answer KeyId only"
    );
    let got = mac::generate_mac(
        &env.kms,
        &ctx,
        api::GenerateMacRequest {
            message: SensitiveBlob::new(b"msg".to_vec()),
            key_id: k.clone(),
            mac_algorithm: api::MacAlgorithmSpec::HmacSha256,
            grant_tokens: None,
            dry_run: None,
        },
    )
    .unwrap()
    .mac
    .unwrap()
    .0;
    let want = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &material),
        b"msg",
    );
    assert_eq!(got, want.as_ref());
    // Short material is refused, and changes nothing.
    let k2 = external(
        &env,
        &ctx,
        api::KeySpec::Hmac512,
        Some(api::KeyUsageType::GenerateVerifyMac),
    )
    .key_id;
    let p2 = params(
        &env,
        &ctx,
        &k2,
        api::AlgorithmSpec::RsaesOaepSha256,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let e = import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k2,
            p2.import_token.as_ref().unwrap(),
            wrap(&p2, &api::AlgorithmSpec::RsaesOaepSha256, &[1; 63]),
            None,
        ),
    )
    .unwrap_err();
    assert_eq!(
        code(e),
        ("InvalidCiphertextException".into(), String::new())
    );
    assert_eq!(
        describe(&env, &ctx, &k2).key_state,
        Some(api::KeyState::PendingImport)
    );
    // Symmetric-only members are refused by name; so is key wrap for HMAC material.
    let mut r = import_req(&k2, p2.import_token.as_ref().unwrap(), vec![1], None);
    r.import_type = Some(api::ImportType::NewKeyMaterial);
    assert_eq!(
        code(import_key_material(&env.kms, &ctx, r).unwrap_err()).1,
        "Input parameter importType cannot be used with HMAC_512 imported keys."
    );
    let e = params(
        &env,
        &ctx,
        &k2,
        api::AlgorithmSpec::RsaAesKeyWrapSha256,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap_err();
    assert_eq!(code(e).1, "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a HMAC_512 key.");
}

#[test]
fn rsa_and_ecc_private_keys_import_and_sign() {
    let env = Env::memory();
    let ctx = env.ctx();
    for (spec, usage, ks, alg) in [
        (
            api::KeySpec::Rsa2048,
            api::KeyUsageType::SignVerify,
            crate::keyspec::KeySpec::Rsa2048,
            api::AlgorithmSpec::RsaAesKeyWrapSha256,
        ),
        (
            api::KeySpec::EccNistP256,
            api::KeyUsageType::SignVerify,
            crate::keyspec::KeySpec::EccNistP256,
            api::AlgorithmSpec::RsaesOaepSha256,
        ),
        (
            api::KeySpec::EccNistEdwards25519,
            api::KeyUsageType::SignVerify,
            crate::keyspec::KeySpec::EccNistEdwards25519,
            api::AlgorithmSpec::RsaAesKeyWrapSha1,
        ),
    ] {
        let md = external(&env, &ctx, spec, Some(usage));
        let k = md.key_id;
        let (pkcs8, local) = crate::asym::SecretKey::generate(crate::keyspec::KeyKind {
            spec: ks,
            usage: crate::keyspec::KeyUsage::SignVerify,
        })
        .unwrap();
        let p = params(&env, &ctx, &k, alg, api::WrappingKeySpec::Rsa4096).unwrap();
        let token = p.import_token.clone().unwrap();
        // Before the import: pending import for Sign and GetPublicKey.
        let e = sign::get_public_key(
            &env.kms,
            &ctx,
            api::GetPublicKeyRequest {
                key_id: k.clone(),
                grant_tokens: None,
            },
        )
        .unwrap_err();
        assert_eq!(code(e).0, "KMSInvalidStateException");
        import_key_material(
            &env.kms,
            &ctx,
            import_req(
                &k,
                &token,
                wrap(&p, &alg, &pkcs8),
                Some(kmsnap_core::Clock::now(env.clock.as_ref()) + Duration::days(30)),
            ),
        )
        .unwrap();
        let pk = sign::get_public_key(
            &env.kms,
            &ctx,
            api::GetPublicKeyRequest {
                key_id: k.clone(),
                grant_tokens: None,
            },
        )
        .unwrap()
        .public_key
        .unwrap()
        .0;
        assert_eq!(
            Some(&pk[..]),
            local.public_key_der(),
            "GetPublicKey is derived from the imported key"
        );
        let d = describe(&env, &ctx, &k);
        assert_eq!(
            d.expiration_model,
            Some(api::ExpirationModelType::KeyMaterialExpires)
        );
        assert!(d.valid_to.is_some());
        assert_eq!(d.current_key_material_id, None);
        // Another private key of the same spec is refused.
        let (other, _) = crate::asym::SecretKey::generate(crate::keyspec::KeyKind {
            spec: ks,
            usage: crate::keyspec::KeyUsage::SignVerify,
        })
        .unwrap();
        let e = import_key_material(
            &env.kms,
            &ctx,
            import_req(&k, &token, wrap(&p, &alg, &other), None),
        )
        .unwrap_err();
        assert_eq!(code(e).0, "IncorrectKeyMaterialException");
    }
    // RSA private keys cannot come by plain OAEP.
    let k = external(
        &env,
        &ctx,
        api::KeySpec::Rsa3072,
        Some(api::KeyUsageType::EncryptDecrypt),
    )
    .key_id;
    let e = params(
        &env,
        &ctx,
        &k,
        api::AlgorithmSpec::RsaesOaepSha256,
        api::WrappingKeySpec::Rsa4096,
    )
    .unwrap_err();
    assert_eq!(code(e).0, "ValidationException");
}

#[test]
fn refusals_change_nothing() {
    let env = Env::memory();
    let ctx = env.ctx();
    let k = external(&env, &ctx, api::KeySpec::SymmetricDefault, None).key_id;
    let other = external(&env, &ctx, api::KeySpec::SymmetricDefault, None).key_id;
    let p = params(
        &env,
        &ctx,
        &k,
        api::AlgorithmSpec::RsaesOaepSha256,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let token = p.import_token.clone().unwrap();
    let good = wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &[7; 32]);
    let now = kmsnap_core::Clock::now(env.clock.as_ref());
    let cases: Vec<(api::ImportKeyMaterialRequest, &str, &str)> = vec![
        (
            import_req(&other, &token, good.clone(), None),
            "InvalidImportTokenException",
            "",
        ),
        (
            import_req(&k, &Blob(vec![1, 2, 3]), good.clone(), None),
            "InvalidImportTokenException",
            "",
        ),
        (
            import_req(&k, &token, good[1..].to_vec(), None),
            "InvalidCiphertextException",
            "",
        ),
        (
            import_req(
                &k,
                &token,
                wrap(&p, &api::AlgorithmSpec::RsaesOaepSha256, &[7; 31]),
                None,
            ),
            "InvalidCiphertextException",
            "",
        ),
        (
            import_req(
                &k,
                &token,
                wrap(&p, &api::AlgorithmSpec::RsaesOaepSha1, &[7; 32]),
                None,
            ),
            "InvalidCiphertextException",
            "",
        ),
        (
            api::ImportKeyMaterialRequest {
                expiration_model: None,
                ..import_req(&k, &token, good.clone(), None)
            },
            "ValidationException",
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        ),
        (
            api::ImportKeyMaterialRequest {
                expiration_model: Some(api::ExpirationModelType::KeyMaterialDoesNotExpire),
                ..import_req(&k, &token, good.clone(), Some(now + Duration::days(1)))
            },
            "ValidationException",
            "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        ),
        (
            import_req(&k, &token, good.clone(), Some(now)),
            "ValidationException",
            "ValidTo must be in the future",
        ),
        (
            import_req(&k, &token, good.clone(), Some(now + Duration::days(366))),
            "ValidationException",
            "ValidTo must be less than 365 days in the future",
        ),
    ];
    for (req, want_code, want_msg) in cases {
        let got = code(import_key_material(&env.kms, &ctx, req).unwrap_err());
        assert_eq!((got.0.as_str(), got.1.as_str()), (want_code, want_msg));
        assert_eq!(
            describe(&env, &ctx, &k).key_state,
            Some(api::KeyState::PendingImport)
        );
    }
    // An AWS_KMS key refuses every import operation with the origin message.
    let native = env.create(&ctx);
    let e = params(
        &env,
        &ctx,
        &native,
        api::AlgorithmSpec::RsaesOaepSha256,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap_err();
    assert!(code(e)
        .1
        .ends_with("origin is AWS_KMS which is not valid for this operation."));
    let e = delete_imported_key_material(
        &env.kms,
        &ctx,
        api::DeleteImportedKeyMaterialRequest {
            key_id: native,
            key_material_id: None,
        },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "UnsupportedOperationException");
    // The token expires 24 hours later; the worker then deletes its parameters.
    env.clock.advance(chrono::Duration::hours(24));
    assert_eq!(
        import_key_material(&env.kms, &ctx, import_req(&k, &token, good.clone(), None))
            .unwrap_err(),
        KmsError::ExpiredImportToken
    );
    crate::workers::run_due(&env.kms, kmsnap_core::Clock::now(env.clock.as_ref())).unwrap();
    assert_eq!(
        import_key_material(&env.kms, &ctx, import_req(&k, &token, good, None)).unwrap_err(),
        KmsError::InvalidImportToken
    );
    // ML-DSA keys cannot be EXTERNAL.
    let e = create_key(
        &env.kms,
        &ctx,
        api::CreateKeyRequest {
            key_spec: Some(api::KeySpec::MlDsa44),
            key_usage: Some(api::KeyUsageType::SignVerify),
            origin: Some(api::OriginType::External),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        code(e).1,
        "KeySpec ML_DSA_44 is not supported for Origin EXTERNAL"
    );
}

#[test]
fn material_expires_at_valid_to() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = external(&env, &ctx, api::KeySpec::SymmetricDefault, None);
    let k = md.key_id.clone();
    let p = params(
        &env,
        &ctx,
        &k,
        api::AlgorithmSpec::RsaesOaepSha1,
        api::WrappingKeySpec::Rsa2048,
    )
    .unwrap();
    let valid_to = kmsnap_core::Clock::now(env.clock.as_ref()) + Duration::days(2);
    import_key_material(
        &env.kms,
        &ctx,
        import_req(
            &k,
            p.import_token.as_ref().unwrap(),
            wrap(&p, &api::AlgorithmSpec::RsaesOaepSha1, &[3; 32]),
            Some(valid_to),
        ),
    )
    .unwrap();
    assert_eq!(
        describe(&env, &ctx, &k).valid_to.map(|t| t.0),
        Some(valid_to)
    );
    env.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        crate::workers::expiry::run_due(&env.kms, kmsnap_core::Clock::now(env.clock.as_ref()))
            .unwrap(),
        0
    );
    assert_eq!(
        describe(&env, &ctx, &k).key_state,
        Some(api::KeyState::Enabled)
    );
    env.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        crate::workers::expiry::run_due(&env.kms, kmsnap_core::Clock::now(env.clock.as_ref()))
            .unwrap(),
        1
    );
    let d = describe(&env, &ctx, &k);
    assert_eq!(d.key_state, Some(api::KeyState::PendingImport));
    let e = sym::encrypt(
        &env.kms,
        &ctx,
        api::EncryptRequest {
            key_id: k,
            plaintext: SensitiveBlob::new(b"x".to_vec()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(code(e).0, "KMSInvalidStateException");
}
