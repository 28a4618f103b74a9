//! GenerateMac and VerifyMac (docs/kms-asymmetric.md §6): plain RFC 2104 HMAC with the key's
//! one algorithm, over a message of 1–4096 bytes. VerifyMac compares in constant time (aws-lc's
//! `CRYPTO_memcmp`), and a MAC that does not match — other bytes, shorter, longer — is
//! KMSInvalidMacException, never `MacValid: false`, also under DryRun (the MAC is checked first).
//!
//! Check order as for Sign ([`crate::ops::sign`]): shape, key and authorization (with
//! `kms:MacAlgorithm`), state, usage, algorithm, cryptography, DryRun.

use crate::authz::Ask;
use crate::keyspec::{KeyKind, KeyUsage};
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

/// Message limit (model: 1–4096 bytes).
pub const MAX_MESSAGE: usize = 4096;
/// Mac limit of VerifyMac (model: 1–6144 bytes).
pub const MAX_MAC: usize = 6144;

fn mac_key(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    ask: Ask<'_>,
    op: &str,
    alg: &api::MacAlgorithmSpec,
) -> Result<Arc<LoadedKey>, KmsError> {
    let key = load_for(kms, ctx, key_id, Accept::KeyOrAlias, ask)?;
    require_crypto_usable(&key)?;
    let kind: KeyKind = require_usage(&key, KeyUsage::GenerateVerifyMac, op)?;
    if !kind.mac_algorithms().contains(&alg.as_str()) {
        return Err(incompatible_algorithm(alg.as_str(), kind));
    }
    Ok(key)
}

pub fn generate_mac(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GenerateMacRequest,
) -> Result<api::GenerateMacResponse, KmsError> {
    check_blob_len("message", input.message.len(), MAX_MESSAGE)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let conditions = [("kms:MacAlgorithm", input.mac_algorithm.as_str())];
    let ask = Ask {
        action: "GenerateMac",
        grant_tokens: tokens_of(&input.grant_tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let key = mac_key(
        kms,
        ctx,
        &input.key_id,
        ask,
        "GenerateMac",
        &input.mac_algorithm,
    )?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let mac = secret_of(&key)?.mac(input.message.expose())?;
    Ok(api::GenerateMacResponse {
        mac: Some(Blob(mac)),
        mac_algorithm: Some(input.mac_algorithm),
        key_id: Some(key.record.arn()),
    })
}

pub fn verify_mac(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::VerifyMacRequest,
) -> Result<api::VerifyMacResponse, KmsError> {
    check_blob_len("message", input.message.len(), MAX_MESSAGE)?;
    check_blob_len("mac", input.mac.0.len(), MAX_MAC)?;
    check_grant_tokens(input.grant_tokens.as_deref())?;
    let conditions = [("kms:MacAlgorithm", input.mac_algorithm.as_str())];
    let ask = Ask {
        action: "VerifyMac",
        grant_tokens: tokens_of(&input.grant_tokens),
        conditions: &conditions,
        ..Default::default()
    };
    let key = mac_key(
        kms,
        ctx,
        &input.key_id,
        ask,
        "VerifyMac",
        &input.mac_algorithm,
    )?;
    secret_of(&key)?.verify_mac(input.message.expose(), &input.mac.0)?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    Ok(api::VerifyMacResponse {
        key_id: Some(key.record.arn()),
        mac_valid: Some(true),
        mac_algorithm: Some(input.mac_algorithm),
    })
}
