//! Security regressions of the KMS crate; each test names what it guards.

use crate::ops::keys::test_env::Env;
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
        crate::ops::rotation::rotate_key_on_demand(&env.kms, &ctx, api::RotateKeyOnDemandRequest { key_id: key_id.clone() })
            .unwrap();
        let dk = crate::ops::crypto::generate_data_key(
            &env.kms,
            &ctx,
            api::GenerateDataKeyRequest { key_id: key_id.clone(), key_spec: Some(api::DataKeySpec::Aes256), ..Default::default() },
        )
        .unwrap();
        let data_key = dk.plaintext.unwrap().expose().to_vec();
        let loaded = env.kms.store.get(ctx.principal.account, ctx.region, &key_id).unwrap().unwrap();
        let material: Vec<[u8; 32]> = loaded.shared.materials.values().map(|m| *m.expose_for_test()).collect();
        assert_eq!(material.len(), 2);
        (material, data_key)
    };
    let files = all_file_bytes(dir.path());
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        for m in &material {
            assert!(!contains(bytes, m), "key material in clear in {}", path.display());
            assert!(!contains(bytes, hex::encode(m).as_bytes()), "hex key material in {}", path.display());
        }
        assert!(!contains(bytes, &data_key), "data key in {}", path.display());
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
