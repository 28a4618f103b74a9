//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext (docs/kms-asymmetric.md §7): a
//! fresh key pair per call — public key as DER SubjectPublicKeyInfo, private key as PKCS#8
//! PrivateKeyInfo DER — whose private key is also returned encrypted under a symmetric
//! ENCRYPT_DECRYPT key, as an ordinary ciphertext blob bound to the request's encryption
//! context, so Decrypt with the same context gives the PKCS#8 back. Nothing is stored.

use crate::asym::generate_pair;
use crate::authz::Ask;
use crate::keyspec::{KeyClass, KeySpec};
use crate::ops::common::{load_for, require_crypto_usable};
use crate::ops::crypto::{check_grant_tokens, no_recipient, seal, tokens_of};
use crate::resolve::Accept;
use crate::store::LoadedKey;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_api::{Blob, SensitiveBlob};
use kmsnap_auth::RequestContext;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What both operations ask: the wrapping key and the pair's spec.
struct PairRequest<'a> {
    key_id: &'a str,
    spec: &'a api::DataKeyPairSpec,
    ec: Option<&'a BTreeMap<String, String>>,
    tokens: &'a Option<Vec<String>>,
    dry_run: Option<bool>,
    action: &'a str,
}

/// A pair made and its private key sealed: (PKCS#8, SPKI, ciphertext blob, material id).
struct Made {
    private: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
    blob: Vec<u8>,
    material_id: String,
    key: Arc<LoadedKey>,
}

fn pair_spec(spec: &api::DataKeyPairSpec) -> Result<KeySpec, KmsError> {
    match spec {
        // China Regions only (docs/kms-asymmetric.md §7).
        api::DataKeyPairSpec::Sm2 => Err(KmsError::Validation(
            "KeySpec SM2 is not supported in this Region".into(),
        )),
        other => match KeySpec::parse(other.as_str()) {
            // ML-KEM data key pairs are not built (docs/kms-asymmetric.md §7): refused before
            // any key is read, never a half-done call that fails inside.
            Some(KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024) => Err(
                KmsError::NotImplemented("GenerateDataKeyPair with an ML_KEM KeyPairSpec"),
            ),
            Some(spec) => Ok(spec),
            None => Err(KmsError::Internal("data key pair spec")),
        },
    }
}

fn make(kms: &Kms, ctx: &RequestContext, req: PairRequest<'_>) -> Result<Made, KmsError> {
    check_grant_tokens(req.tokens.as_deref())?;
    let spec = pair_spec(req.spec)?;
    let conditions = [
        ("kms:DataKeyPairSpec", req.spec.as_str()),
        ("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
    ];
    let ask = Ask {
        action: req.action,
        encryption_context: req.ec,
        grant_tokens: tokens_of(req.tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let key = load_for(kms, ctx, req.key_id, Accept::KeyOrAlias, ask)?;
    require_crypto_usable(&key)?;
    let s = &key.shared.shared;
    let class = KeySpec::of_record(&s.key_spec)?.class();
    if class == KeyClass::Asymmetric {
        // Observed wording, without a final period.
        return Err(KmsError::InvalidKeyUsage(
            "You cannot generate a data key pair with an asymmetric CMK".into(),
        ));
    }
    if s.key_usage != "ENCRYPT_DECRYPT" {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {}.",
            key.record.arn(),
            s.key_usage,
            req.action
        )));
    }
    if req.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let (private, public) = generate_pair(spec)?;
    let (blob, material_id) = seal(&key, req.ec, &private)?;
    Ok(Made {
        private,
        public,
        blob,
        material_id,
        key,
    })
}

pub fn generate_data_key_pair(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateDataKeyPairRequest,
) -> Result<api::GenerateDataKeyPairResponse, KmsError> {
    no_recipient(input.recipient.as_ref())?;
    let mut m = make(
        kms,
        ctx,
        PairRequest {
            key_id: &input.key_id,
            spec: &input.key_pair_spec,
            ec: input.encryption_context.as_ref(),
            tokens: &input.grant_tokens,
            dry_run: input.dry_run,
            action: "GenerateDataKeyPair",
        },
    )?;
    Ok(api::GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: Some(Blob(m.blob)),
        private_key_plaintext: Some(SensitiveBlob::new(std::mem::take(&mut *m.private))),
        public_key: Some(Blob(m.public)),
        key_id: Some(m.key.record.arn()),
        key_pair_spec: Some(input.key_pair_spec),
        ciphertext_for_recipient: None,
        key_material_id: Some(m.material_id),
    })
}

pub fn generate_data_key_pair_without_plaintext(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateDataKeyPairWithoutPlaintextRequest,
) -> Result<api::GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
    let m = make(
        kms,
        ctx,
        PairRequest {
            key_id: &input.key_id,
            spec: &input.key_pair_spec,
            ec: input.encryption_context.as_ref(),
            tokens: &input.grant_tokens,
            dry_run: input.dry_run,
            action: "GenerateDataKeyPairWithoutPlaintext",
        },
    )?;
    Ok(api::GenerateDataKeyPairWithoutPlaintextResponse {
        private_key_ciphertext_blob: Some(Blob(m.blob)),
        public_key: Some(Blob(m.public)),
        key_id: Some(m.key.record.arn()),
        key_pair_spec: Some(input.key_pair_spec),
        key_material_id: Some(m.material_id),
    })
}
