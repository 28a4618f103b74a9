//! Security regressions of the KMS crate; each test names what it guards.

use crate::testsupport::env::Env;
use kmsnap_api::gen::kms as api;

fn all_file_bytes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Guards: key material never reaches disk in the clear (it is wrapped by the root key), and
/// neither do data keys that GenerateDataKey returned.
#[test]
fn data_dir_holds_neither_key_material_nor_data_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (material, data_key) = {
        let env = Env::embedded(dir.path());
        let ctx = env.ctx();
        let key_id = env.create(&ctx);
        // Rotate once so that two material versions are on disk.
        crate::ops::rotation::rotate_key_on_demand(
            &env.kms,
            &ctx,
            api::RotateKeyOnDemandRequest {
                key_id: key_id.clone(),
            },
        )
        .unwrap();
        let dk = crate::ops::crypto::generate_data_key(
            &env.kms,
            &ctx,
            api::GenerateDataKeyRequest {
                key_id: key_id.clone(),
                key_spec: Some(api::DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
        let data_key = dk.plaintext.unwrap().expose().to_vec();
        let loaded = env
            .kms
            .store
            .get(ctx.principal.account, ctx.region, &key_id)
            .unwrap()
            .unwrap();
        let material: Vec<[u8; 32]> = loaded
            .shared
            .materials
            .values()
            .map(|m| *m.expose_for_test())
            .collect();
        assert_eq!(material.len(), 2);
        (material, data_key)
    };
    let files = all_file_bytes(dir.path());
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        for m in &material {
            assert!(
                !contains(bytes, m),
                "key material in clear in {}",
                path.display()
            );
            assert!(
                !contains(bytes, hex::encode(m).as_bytes()),
                "hex key material in {}",
                path.display()
            );
        }
        assert!(
            !contains(bytes, &data_key),
            "data key in {}",
            path.display()
        );
    }
}

/// Guards: Debug output of the types that hold secrets never shows them.
#[test]
fn debug_output_is_redacted() {
    let (_, m) = crate::crypto::Material::generate().unwrap();
    let text = format!("{m:?}");
    assert!(!text.contains(&hex::encode(m.expose_for_test())));
    assert!(text.contains("redacted"));
}

/// Guards: the private keys of asymmetric keys and the keys of HMAC keys — generated or
/// imported — never reach disk in the clear: not the PKCS#8, not the raw EC scalar, not the
/// HMAC key, nor the import wrapping key's private half.
#[test]
fn data_dir_holds_no_private_or_hmac_key() {
    use aws_lc_rs::encoding::AsBigEndian;
    use aws_lc_rs::signature::EcdsaKeyPair;
    let dir = tempfile::tempdir().unwrap();
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let env = Env::embedded(dir.path());
        let ctx = env.ctx();
        let mk = |spec, usage, origin| {
            crate::ops::keys::create_key(
                &env.kms,
                &ctx,
                api::CreateKeyRequest {
                    key_spec: Some(spec),
                    key_usage: Some(usage),
                    origin,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id
        };
        let ecc = mk(
            api::KeySpec::EccNistP256,
            api::KeyUsageType::SignVerify,
            None,
        );
        let hmac = mk(
            api::KeySpec::Hmac256,
            api::KeyUsageType::GenerateVerifyMac,
            None,
        );
        let account = ctx.principal.account;
        let stored = |key_id: &str, spec: &str| {
            let shared = env
                .kms
                .store
                .read(|t| crate::store::read_shared(t, account, key_id))
                .unwrap()
                .unwrap();
            let m = shared.current_material().unwrap();
            env.kms
                .store
                .wrapper()
                .unwrap_secret(account, key_id, &m.id, spec, &m.wrapped)
                .unwrap()
                .to_vec()
        };
        let ecc_pkcs8 = stored(&ecc, "ECC_NIST_P256");
        let pair = EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ecc_pkcs8,
        )
        .unwrap();
        let scalar = pair.private_key().as_be_bytes().unwrap().as_ref().to_vec();
        needles.push(("generated EC PKCS#8".into(), ecc_pkcs8));
        needles.push(("generated EC scalar".into(), scalar));
        needles.push(("generated HMAC key".into(), stored(&hmac, "HMAC_256")));
        // An imported HMAC key, and the wrapping key that carried it.
        let imported = mk(
            api::KeySpec::Hmac256,
            api::KeyUsageType::GenerateVerifyMac,
            Some(api::OriginType::External),
        );
        let p = crate::ops::import::get_parameters_for_import(
            &env.kms,
            &ctx,
            api::GetParametersForImportRequest {
                key_id: imported.clone(),
                wrapping_algorithm: api::AlgorithmSpec::RsaesOaepSha256,
                wrapping_key_spec: api::WrappingKeySpec::Rsa2048,
            },
        )
        .unwrap();
        let token_id = hex::encode(&p.import_token.as_ref().unwrap().0[1..]);
        let params = env
            .kms
            .store
            .read(|t| crate::store::read_import_params(t, account, &imported, &token_id))
            .unwrap()
            .unwrap();
        let wrapping = env
            .kms
            .store
            .wrapper()
            .unwrap_secret(
                account,
                &imported,
                &token_id,
                "IMPORT_WRAPPING_KEY",
                &params.wrapped_private,
            )
            .unwrap();
        needles.push(("import wrapping private key".into(), wrapping.to_vec()));
        let material = [0xA7u8; 32];
        let public = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(
            aws_lc_rs::rsa::PublicEncryptingKey::from_der(p.public_key.as_ref().unwrap().expose())
                .unwrap(),
        )
        .unwrap();
        let mut ct = vec![0u8; public.ciphertext_size()];
        let ct = public
            .encrypt(
                &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
                &material,
                &mut ct,
                None,
            )
            .unwrap()
            .to_vec();
        crate::ops::import::import_key_material(
            &env.kms,
            &ctx,
            api::ImportKeyMaterialRequest {
                key_id: imported,
                import_token: p.import_token.unwrap(),
                encrypted_key_material: kmsnap_api::Blob(ct),
                expiration_model: Some(api::ExpirationModelType::KeyMaterialDoesNotExpire),
                ..Default::default()
            },
        )
        .unwrap();
        needles.push(("imported HMAC key".into(), material.to_vec()));
    }
    let files = all_file_bytes(dir.path());
    for (path, bytes) in &files {
        for (what, n) in &needles {
            assert!(!contains(bytes, n), "{what} in clear in {}", path.display());
            assert!(
                !contains(bytes, hex::encode(n).as_bytes()),
                "{what} as hex in {}",
                path.display()
            );
        }
    }
}
