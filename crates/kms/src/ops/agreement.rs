//! DeriveSharedSecret (docs/kms-asymmetric.md §8): ECDH between a KEY_AGREEMENT key's private
//! key and the caller's public key (DER SubjectPublicKeyInfo on the same curve). The answer is
//! the raw shared secret — the x-coordinate of d·Q, 32/48/66 bytes — with no KDF, so it equals
//! what OpenSSL's `pkeyutl -derive` computes. A peer key that is not an SPKI of a point on the
//! key's curve is an empty ValidationException, also under DryRun (it is checked first).

use crate::authz::Ask;
use crate::keyspec::KeyUsage;
use crate::ops::common::{load_for, require_crypto_usable, require_usage, secret_of};
use crate::ops::crypto::{check_blob_len, check_grant_tokens, no_recipient, tokens_of};
use crate::resolve::Accept;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_api::SensitiveBlob;
use kmsnap_auth::RequestContext;

/// PublicKey limit (model: 1–8192 bytes).
pub const MAX_PUBLIC_KEY: usize = 8192;

pub fn derive_shared_secret(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DeriveSharedSecretRequest,
) -> Result<api::DeriveSharedSecretResponse, KmsError> {
    check_blob_len("publicKey", input.public_key.0.len(), MAX_PUBLIC_KEY)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    no_recipient(input.recipient.as_ref())?;
    let conditions = [(
        "kms:KeyAgreementAlgorithm",
        input.key_agreement_algorithm.as_str(),
    )];
    let ask = Ask {
        action: "DeriveSharedSecret",
        grant_tokens: tokens_of(&input.grant_tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let key = load_for(kms, ctx, &input.key_id, Accept::KeyOrAlias, ask)?;
    require_crypto_usable(&key)?;
    let kind = require_usage(&key, KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
    if !kind
        .key_agreement_algorithms()
        .contains(&input.key_agreement_algorithm.as_str())
    {
        return Err(crate::ops::common::incompatible_algorithm(
            input.key_agreement_algorithm.as_str(),
            kind,
        ));
    }
    let mut secret = secret_of(&key)?.derive_shared_secret(&input.public_key.0)?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(api::DeriveSharedSecretResponse {
        key_id: Some(key.record.arn()),
        shared_secret: Some(SensitiveBlob::new(std::mem::take(&mut *secret))),
        ciphertext_for_recipient: None,
        key_agreement_algorithm: Some(input.key_agreement_algorithm),
        key_origin: api::OriginType::from_wire(&key.shared.shared.origin),
    })
}
