//! Sign, Verify and GetPublicKey (docs/kms-asymmetric.md §2–§4).
//!
//! Order of checks, as AWS shows it where observed: the request's shape (message and signature
//! lengths, grant tokens), then the key (NotFound, AccessDenied — the request's
//! `kms:SigningAlgorithm` and `kms:MessageType` are condition keys), its state (Disabled,
//! KMSInvalidState), its usage and the algorithm (InvalidKeyUsage), the message type and digest
//! length (ValidationException), the cryptography, and last DryRun. Verify checks the signature
//! before DryRun: a bad signature fails as itself even under DryRun (observed).
//!
//! A RAW message is hashed once by the algorithm's hash; a DIGEST is signed as given, so signing
//! a message RAW and verifying its digest DIGEST succeeds (AWS treats them as one message).
//!
//! Not built, because aws-lc-rs has no safe entry point for them: `ED25519_PH_SHA_512`
//! (Ed25519ph) and ML-DSA's `EXTERNAL_MU`; both answer NotImplemented after every other check.

use crate::asym::{Message, SignAlg};
use crate::authz::Ask;
use crate::keyspec::{KeyClass, KeyKind, KeySpec, KeyUsage};
use crate::metadata::list;
use crate::model::KeyState;
use crate::ops::common::{
    incompatible_algorithm, load_for, require_crypto_usable, require_usage, secret_of,
};
use crate::ops::crypto::{check_blob_len, check_grant_tokens, tokens_of};
use crate::resolve::Accept;
use crate::store::LoadedKey;
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_api::Blob;
use kmsnap_auth::RequestContext;
use std::sync::Arc;

/// Message limit of Sign and Verify (model: 1–4096 bytes).
pub const MAX_MESSAGE: usize = 4096;
/// Signature limit of Verify (model: 1–6144 bytes).
pub const MAX_SIGNATURE: usize = 6144;
/// ML-DSA's external μ is exactly this long.
const MU_LEN: usize = 64;

/// The key for Sign/Verify: loaded, authorized for `action` with the request's condition keys,
/// usable, SIGN_VERIFY.
fn signing_key(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    ask: Ask<'_>,
    op: &str,
) -> Result<(Arc<LoadedKey>, KeyKind), KmsError> {
    let key = load_for(kms, ctx, key_id, Accept::KeyOrAlias, ask)?;
    require_crypto_usable(&key)?;
    let kind = require_usage(&key, KeyUsage::SignVerify, op)?;
    Ok((key, kind))
}

/// What to sign or verify: the algorithm (offered by the key) and the message as its type
/// says, checked as AWS does (§2, §3).
fn signing_input<'m>(
    kind: KeyKind,
    alg: &api::SigningAlgorithmSpec,
    mt: Option<&api::MessageType>,
    message: &'m [u8],
) -> Result<(SignAlg, Message<'m>), KmsError> {
    let name = alg.as_str();
    if !kind.signing_algorithms().contains(&name) {
        return Err(incompatible_algorithm(name, kind));
    }
    let alg = SignAlg::parse(name).ok_or_else(|| incompatible_algorithm(name, kind))?;
    let mt = mt.unwrap_or(&api::MessageType::Raw);
    let ml_dsa = matches!(
        kind.spec,
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87
    );
    let by_spec = |t: &str| {
        KmsError::Validation(format!(
            "Message type {t} is incompatible with key spec {}.",
            kind.spec.as_str()
        ))
    };
    let by_alg = |t: &str| {
        KmsError::Validation(format!(
            "Message type {t} is incompatible with algorithm {name}."
        ))
    };
    match mt {
        api::MessageType::Raw if alg == SignAlg::Ed25519PhSha512 => Err(by_alg("RAW")),
        api::MessageType::Raw => Ok((alg, Message::Raw(message))),
        api::MessageType::Digest if ml_dsa => Err(by_spec("DIGEST")),
        api::MessageType::Digest if alg == SignAlg::Ed25519Sha512 => Err(by_alg("DIGEST")),
        api::MessageType::Digest => {
            let want = alg.digest_alg().map(|d| d.output_len());
            if want != Some(message.len()) {
                return Err(KmsError::Validation(format!(
                    "Digest is invalid length for algorithm {name}."
                )));
            }
            Ok((alg, Message::Digest(message)))
        }
        api::MessageType::ExternalMu if !ml_dsa => Err(by_spec("EXTERNAL_MU")),
        api::MessageType::ExternalMu if message.len() != MU_LEN => Err(KmsError::Validation(
            format!("External Mu is invalid length for algorithm {name}."),
        )),
        api::MessageType::ExternalMu => Err(KmsError::NotImplemented(
            "ML-DSA with MessageType EXTERNAL_MU",
        )),
    }
}

/// Refuse what kmsnap cannot compute, after every check AWS would make.
fn require_built(alg: SignAlg) -> Result<(), KmsError> {
    match alg {
        SignAlg::Ed25519PhSha512 => Err(KmsError::NotImplemented(
            "ED25519_PH_SHA_512 (Ed25519ph is not in aws-lc-rs's API)",
        )),
        _ => Ok(()),
    }
}

/// What Sign and Verify share after their size bounds, in AWS's order: grant tokens, the key loaded and
/// authorized for `action` with `kms:SigningAlgorithm` and `kms:MessageType`, the algorithm and
/// message checked against the key, and the refusal of what kmsnap cannot compute.
/// The parts of a Sign or Verify request that both check alike.
struct Signing<'m> {
    key_id: &'m str,
    grant_tokens: &'m Option<Vec<String>>,
    alg: &'m api::SigningAlgorithmSpec,
    mt: Option<&'m api::MessageType>,
    message: &'m [u8],
}

fn signing_request<'m>(
    kms: &Kms,
    ctx: &RequestContext,
    action: &'static str,
    r: Signing<'m>,
) -> Result<(Arc<LoadedKey>, SignAlg, Message<'m>), KmsError> {
    check_grant_tokens(r.grant_tokens.as_deref())?;
    let conditions = [
        ("kms:SigningAlgorithm", r.alg.as_str()),
        ("kms:MessageType", r.mt.map_or("RAW", |m| m.as_str())),
    ];
    let ask = Ask {
        action,
        grant_tokens: tokens_of(r.grant_tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let (key, kind) = signing_key(kms, ctx, r.key_id, ask, action)?;
    let (alg, msg) = signing_input(kind, r.alg, r.mt, r.message)?;
    require_built(alg)?;
    Ok((key, alg, msg))
}

pub fn sign(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::SignRequest,
) -> Result<api::SignResponse, KmsError> {
    check_blob_len("message", input.message.len(), MAX_MESSAGE)?;
    let (key, alg, msg) = signing_request(
        kms,
        ctx,
        "Sign",
        Signing {
            key_id: &input.key_id,
            grant_tokens: &input.grant_tokens,
            alg: &input.signing_algorithm,
            mt: input.message_type.as_ref(),
            message: input.message.expose(),
        },
    )?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let signature = secret_of(&key)?.sign(alg, msg)?;
    Ok(api::SignResponse {
        key_id: Some(key.record.arn()),
        signature: Some(Blob(signature)),
        signing_algorithm: Some(input.signing_algorithm),
    })
}

pub fn verify(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::VerifyRequest,
) -> Result<api::VerifyResponse, KmsError> {
    check_blob_len("message", input.message.len(), MAX_MESSAGE)?;
    check_blob_len("signature", input.signature.0.len(), MAX_SIGNATURE)?;
    let (key, alg, msg) = signing_request(
        kms,
        ctx,
        "Verify",
        Signing {
            key_id: &input.key_id,
            grant_tokens: &input.grant_tokens,
            alg: &input.signing_algorithm,
            mt: input.message_type.as_ref(),
            message: input.message.expose(),
        },
    )?;
    secret_of(&key)?.verify(alg, msg, &input.signature.0)?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(api::VerifyResponse {
        key_id: Some(key.record.arn()),
        signature_valid: Some(true),
        signing_algorithm: Some(input.signing_algorithm),
    })
}

pub fn get_public_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GetPublicKeyRequest,
) -> Result<api::GetPublicKeyResponse, KmsError> {
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let ask = Ask {
        action: "GetPublicKey",
        grant_tokens: tokens_of(&input.grant_tokens),
        ..Default::default()
    };
    let key = load_for(kms, ctx, &input.key_id, Accept::KeyOrAlias, ask)?;
    // Unlike the other crypto operations, GetPublicKey works on a disabled key (observed).
    let arn = key.record.arn();
    match key.record.state {
        KeyState::Enabled | KeyState::Disabled | KeyState::Updating => {}
        state => return Err(KmsError::InvalidState { arn, state }),
    }
    let s = &key.shared.shared;
    let kind = KeyKind::of_record(&s.key_spec, &s.key_usage)?;
    if kind.spec.class() != KeyClass::Asymmetric {
        // Symmetric (observed) and HMAC keys have no public key; AWS sends no message.
        return Err(KmsError::Unsupported(String::new()));
    }
    let public = secret_of(&key)?
        .public_key_der()
        .ok_or(KmsError::Internal("asymmetric key without a public key"))?
        .to_vec();
    Ok(api::GetPublicKeyResponse {
        key_id: Some(arn),
        public_key: Some(Blob(public)),
        customer_master_key_spec: api::CustomerMasterKeySpec::from_wire(&s.key_spec),
        key_spec: api::KeySpec::from_wire(&s.key_spec),
        key_usage: api::KeyUsageType::from_wire(&s.key_usage),
        encryption_algorithms: list(
            Some(kind.encryption_algorithms()),
            api::EncryptionAlgorithmSpec::from_wire,
        ),
        signing_algorithms: list(
            Some(kind.signing_algorithms()),
            api::SigningAlgorithmSpec::from_wire,
        ),
        key_agreement_algorithms: list(
            Some(kind.key_agreement_algorithms()),
            api::KeyAgreementAlgorithmSpec::from_wire,
        ),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
