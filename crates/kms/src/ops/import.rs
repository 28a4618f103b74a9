//! Imported key material (docs/kms-asymmetric.md §9): GetParametersForImport,
//! ImportKeyMaterial and DeleteImportedKeyMaterial for Origin EXTERNAL keys of every importable
//! spec (symmetric, HMAC, RSA, ECC, Ed25519).
//!
//! * GetParametersForImport makes a new RSA wrapping key per call (AWS does too) and keeps its
//!   private half, wrapped under the root key, in `kms_import` until ParametersValidTo (now + 24
//!   h on the server's clock), when the `import-params` worker entry deletes it. The
//!   ImportToken is `0x01 ‖ token id (32 random bytes)`; its parameters are looked up under the
//!   key the request names, so another key's token, or a corrupted one, is simply not found
//!   (InvalidImportTokenException). Tokens are not single-use, and an older one stays valid
//!   after a newer one is issued (observed).
//! * ImportKeyMaterial checks everything — ExpirationModel/ValidTo, origin, state, token,
//!   unwrapping, the material against the key's spec, and that a reimport is the same material
//!   — before its one write transaction, so a failed import changes nothing. The material's id
//!   is an HMAC of (key id, material) under a root-derived key: a reimport is recognised
//!   without keeping anything readable about deleted material.
//! * DeleteImportedKeyMaterial, and the `expiry` worker at ValidTo, drop the material and put
//!   the key in PendingImport until the same material is imported again.
//!
//! Not built: a second, different material for a symmetric key (NEW_KEY_MATERIAL followed by
//! RotateKeyOnDemand), and Origin EXTERNAL multi-Region keys; both answer NotImplemented.

use crate::authz::Ask;
use crate::crypto::Material;
use crate::import::{
    check_material, check_wrapping, new_wrapping_key, unwrap_material, WrappingAlg, WrappingSpec,
};
use crate::keyspec::{KeyKind, KeySpec};
use crate::model::{ImportInfo, ImportParams, KeyState, MaterialVersion, RotationType, SharedKey};
use crate::ops::common::load_for;
use crate::resolve::Accept;
use crate::store::{Due, KmsTxn, LoadedKey};
use crate::{Kms, KmsError};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use kmsnap_api::gen::kms as api;
use kmsnap_api::{Blob, SensitiveBlob, Timestamp};
use kmsnap_auth::RequestContext;

/// How long GetParametersForImport's parameters are valid (observed: exactly 24 h).
pub const PARAMETERS_VALID_HOURS: i64 = 24;
/// ValidTo must be less than this many days ahead.
pub const MAX_VALID_TO_DAYS: i64 = 365;
const TOKEN_VERSION: u8 = 0x01;
const TOKEN_ID_LEN: usize = 32;
/// The label under which the wrapping key's private half is wrapped (in place of a key spec).
const WRAPPING_LABEL: &str = "IMPORT_WRAPPING_KEY";
const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
const DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

fn origin_refused(key: &LoadedKey) -> KmsError {
    KmsError::Unsupported(format!(
        "{} origin is {} which is not valid for this operation.",
        key.record.arn(),
        key.shared.shared.origin
    ))
}

fn require_external(key: &LoadedKey) -> Result<KeyKind, KmsError> {
    let s = &key.shared.shared;
    if s.origin != "EXTERNAL" {
        return Err(origin_refused(key));
    }
    KeyKind::of_record(&s.key_spec, &s.key_usage)
}

fn encode_token(token_id: &[u8; TOKEN_ID_LEN]) -> Vec<u8> {
    let mut t = Vec::with_capacity(1 + TOKEN_ID_LEN);
    t.push(TOKEN_VERSION);
    t.extend_from_slice(token_id);
    t
}

fn decode_token(token: &[u8]) -> Result<String, KmsError> {
    match token.split_first() {
        Some((&TOKEN_VERSION, id)) if id.len() == TOKEN_ID_LEN => Ok(hex::encode(id)),
        _ => Err(KmsError::InvalidImportToken),
    }
}

/// The due entry of a token's parameters: `{key id}:{token id}` in the key id's place.
fn params_due_id(key_id: &str, token_id: &str) -> String {
    format!("{key_id}:{token_id}")
}

pub fn get_parameters_for_import(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GetParametersForImportRequest,
) -> Result<api::GetParametersForImportResponse, KmsError> {
    let alg_name = input.wrapping_algorithm.as_str();
    let wks_name = input.wrapping_key_spec.as_str();
    let conditions = [
        ("kms:WrappingAlgorithm", alg_name),
        ("kms:WrappingKeySpec", wks_name),
    ];
    let ask = Ask {
        action: "GetParametersForImport",
        conditions: &conditions,
        ..Default::default()
    };
    let key = load_for(kms, ctx, &input.key_id, Accept::KeyOnly, ask)?;
    let kind = require_external(&key)?;
    let arn = key.record.arn();
    match key.record.state {
        KeyState::PendingImport | KeyState::Enabled | KeyState::Disabled => {}
        state => return Err(KmsError::InvalidState { arn, state }),
    }
    let (alg, wks) = match (WrappingAlg::parse(alg_name), WrappingSpec::parse(wks_name)) {
        (Some(a), Some(w)) if check_wrapping(kind.spec, a, w) => (a, w),
        _ => {
            return Err(KmsError::Validation(format!(
                "Wrapping algorithm {alg_name} and wrapping key spec {wks_name} cannot be used to import a {} key.",
                kind.spec.as_str()
            )))
        }
    };
    let (private, public) = new_wrapping_key(wks)?;
    let mut token_id = [0u8; TOKEN_ID_LEN];
    kmsnap_core::ids::random_bytes(&mut token_id).map_err(|_| KmsError::Internal("rng"))?;
    let token_hex = hex::encode(token_id);
    let (account, key_id) = (key.record.account, key.record.key_id.clone());
    let wrapped_private =
        kms.store
            .wrapper()
            .wrap_secret(account, &key_id, &token_hex, WRAPPING_LABEL, &private)?;
    drop(private);
    let valid_to = (kms.clock.now() + Duration::hours(PARAMETERS_VALID_HOURS)).trunc_subsecs(3);
    let params = ImportParams {
        account,
        key_id: key_id.clone(),
        token_id: token_hex.clone(),
        wrapping_algorithm: alg.as_str().to_owned(),
        wrapping_key_spec: wks.as_str().to_owned(),
        wrapped_private,
        valid_to,
    };
    let region = key.record.region;
    kms.store.write(|txn| {
        txn.put_import_params(&params)?;
        txn.schedule(
            Due::ImportParams,
            valid_to,
            account,
            region,
            &params_due_id(&key_id, &token_hex),
        )
    })?;
    Ok(api::GetParametersForImportResponse {
        key_id: Some(arn),
        import_token: Some(Blob(encode_token(&token_id))),
        public_key: Some(SensitiveBlob::new(public)),
        parameters_valid_to: Some(Timestamp(valid_to)),
    })
}

/// ExpirationModel and ValidTo as AWS checks them (observed messages).
fn expiration(
    input: &api::ImportKeyMaterialRequest,
    now: DateTime<Utc>,
) -> Result<(&'static str, Option<DateTime<Utc>>), KmsError> {
    let model = match &input.expiration_model {
        Some(api::ExpirationModelType::KeyMaterialDoesNotExpire) => DOES_NOT_EXPIRE,
        Some(api::ExpirationModelType::KeyMaterialExpires) | None => EXPIRES,
    };
    let valid_to = input.valid_to.as_ref().map(|t| t.0);
    match (model, valid_to) {
        (EXPIRES, None) => Err(KmsError::Validation(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
        )),
        (DOES_NOT_EXPIRE, Some(_)) => Err(KmsError::Validation(
            "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
                .into(),
        )),
        (_, Some(t)) if t <= now => {
            Err(KmsError::Validation("ValidTo must be in the future".into()))
        }
        (_, Some(t)) if t > now + Duration::days(MAX_VALID_TO_DAYS) => Err(KmsError::Validation(
            "ValidTo must be less than 365 days in the future".into(),
        )),
        (m, t) => Ok((m, t)),
    }
}

/// The checks ImportType/KeyMaterialId make for a symmetric key, given the id of the material
/// being imported (§9.5). Returns nothing; any mismatch is AWS's error.
fn check_symmetric_identity(
    input: &api::ImportKeyMaterialRequest,
    arn: &str,
    info: Option<&ImportInfo>,
    new_id: &str,
) -> Result<(), KmsError> {
    let import_type = input.import_type.unwrap_or(if info.is_none() {
        api::ImportType::NewKeyMaterial
    } else {
        api::ImportType::ExistingKeyMaterial
    });
    match import_type {
        api::ImportType::NewKeyMaterial => {
            if input.key_material_id.is_some() {
                return Err(KmsError::Validation("Input parameter keyMaterialId cannot be used with NEW_KEY_MATERIAL importType.".into()));
            }
            match info {
                None => Ok(()),
                Some(i) if i.material_id == new_id => Err(KmsError::IncorrectKeyMaterial(format!(
                    "Key material (id: {new_id}) being imported as NEW_KEY_MATERIAL is already associated with KMS key {arn}."
                ))),
                Some(_) => Err(KmsError::NotImplemented("a second key material for an imported symmetric key")),
            }
        }
        api::ImportType::ExistingKeyMaterial => {
            let expected = input
                .key_material_id
                .clone()
                .or_else(|| info.map(|i| i.material_id.clone()))
                .unwrap_or_default();
            if info.is_some_and(|i| i.material_id == new_id) && expected == new_id {
                Ok(())
            } else {
                Err(KmsError::IncorrectKeyMaterial(format!(
                    "Imported key material does not have the expected identifier ({expected})."
                )))
            }
        }
    }
}

pub fn import_key_material(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ImportKeyMaterialRequest,
) -> Result<api::ImportKeyMaterialResponse, KmsError> {
    let now = kms.clock.now();
    let (model, valid_to) = expiration(&input, now)?;
    let valid_to_secs = valid_to.map(|t| t.timestamp().to_string());
    let mut conditions = vec![("kms:ExpirationModel", model)];
    if let Some(v) = &valid_to_secs {
        conditions.push(("kms:ValidTo", v.as_str()));
    }
    let ask = Ask {
        action: "ImportKeyMaterial",
        conditions: &conditions,
        ..Default::default()
    };
    let key = load_for(kms, ctx, &input.key_id, Accept::KeyOnly, ask)?;
    let kind = require_external(&key)?;
    let arn = key.record.arn();
    match key.record.state {
        KeyState::PendingImport | KeyState::Enabled | KeyState::Disabled | KeyState::Updating => {}
        state => return Err(KmsError::InvalidState { arn, state }),
    }
    let symmetric = kind.spec == KeySpec::SymmetricDefault;
    if !symmetric {
        // One material for life: the symmetric-only members are refused by name (observed).
        for (given, member) in [
            (input.import_type.is_some(), "importType"),
            (input.key_material_id.is_some(), "keyMaterialId"),
            (
                input.key_material_description.is_some(),
                "keyMaterialDescription",
            ),
        ] {
            if given {
                return Err(KmsError::Validation(format!(
                    "Input parameter {member} cannot be used with {} imported keys.",
                    kind.spec.as_str()
                )));
            }
        }
    }
    let (account, key_id, region) = (
        key.record.account,
        key.record.key_id.clone(),
        key.record.region,
    );
    let token_id = decode_token(&input.import_token.0)?;
    let params = kms
        .store
        .read(|txn| crate::store::read_import_params(txn, account, &key_id, &token_id))?;
    let params = params.ok_or(KmsError::InvalidImportToken)?;
    if params.valid_to <= now {
        return Err(KmsError::ExpiredImportToken);
    }
    let alg = WrappingAlg::parse(&params.wrapping_algorithm)
        .ok_or(KmsError::Internal("stored wrapping algorithm"))?;
    let wrapping_private = kms.store.wrapper().unwrap_secret(
        account,
        &key_id,
        &token_id,
        WRAPPING_LABEL,
        &params.wrapped_private,
    )?;
    let material = unwrap_material(&wrapping_private, alg, &input.encrypted_key_material.0)?;
    drop(wrapping_private);
    let canonical = check_material(kind, &material)?;
    drop(material);
    let wrapper = kms.store.wrapper();
    let material_id = wrapper.imported_material_id(&key_id, &canonical);
    let info = key.shared.shared.import.clone();
    if symmetric {
        check_symmetric_identity(&input, &arn, info.as_ref(), &material_id)?;
    } else if let Some(i) = info.as_ref().filter(|i| i.material_id != material_id) {
        return Err(KmsError::IncorrectKeyMaterial(format!(
            "Imported key material does not have the expected identifier ({}).",
            i.material_id
        )));
    }
    let wrapped = if symmetric {
        let mut b = [0u8; 32];
        b.copy_from_slice(
            canonical
                .get(..32)
                .ok_or(KmsError::Internal("symmetric material length"))?,
        );
        let m = Material::from_bytes(b);
        zeroize::Zeroize::zeroize(&mut b);
        wrapper.wrap(account, &key_id, &material_id, &m?)?
    } else {
        wrapper.wrap_secret(
            account,
            &key_id,
            &material_id,
            kind.spec.as_str(),
            &canonical,
        )?
    };
    drop(canonical);
    let description = input
        .key_material_description
        .clone()
        .or_else(|| info.as_ref().and_then(|i| i.description.clone()));
    let created = now.trunc_subsecs(3);
    kms.store.write(|txn| {
        let mut rec = txn
            .get_key(account, region, &key_id)?
            .ok_or_else(|| KmsError::KeyNotFound { arn: arn.clone() })?;
        let mut shared = txn
            .get_shared(account, &key_id)?
            .ok_or_else(|| KmsError::KeyNotFound { arn: arn.clone() })?;
        if rec.state.is_pending_deletion() {
            return Err(KmsError::InvalidState {
                arn: arn.clone(),
                state: rec.state,
            });
        }
        if shared
            .import
            .as_ref()
            .is_some_and(|i| i.material_id != material_id)
        {
            // Another import won the race with other material.
            return Err(KmsError::IncorrectKeyMaterial(format!(
                "Imported key material does not have the expected identifier ({material_id})."
            )));
        }
        set_expiry(txn, &mut shared, region, valid_to)?;
        if !shared.materials.iter().any(|m| m.id == material_id) {
            shared.materials = vec![MaterialVersion {
                id: material_id.clone(),
                wrapped,
                created,
                rotation: RotationType::Initial,
            }];
        }
        shared.import = Some(ImportInfo {
            material_id: material_id.clone(),
            expiration_model: model.to_owned(),
            valid_to,
            description,
        });
        txn.put_shared(&shared)?;
        if rec.state == KeyState::PendingImport {
            rec.state = KeyState::Enabled;
            txn.put_key(&rec)?;
        }
        Ok(())
    })?;
    tracing::info!(%account, key_id, material = %material_id, "imported key material");
    Ok(api::ImportKeyMaterialResponse {
        key_id: Some(arn),
        key_material_id: symmetric.then_some(material_id),
    })
}

/// Replace the key's expiry entry (if any) by one at `valid_to` (if any).
fn set_expiry(
    txn: &mut KmsTxn<'_>,
    shared: &mut SharedKey,
    region: kmsnap_core::Region,
    valid_to: Option<DateTime<Utc>>,
) -> Result<(), KmsError> {
    if let Some(old) = shared.import.as_ref().and_then(|i| i.valid_to) {
        txn.unschedule(
            Due::MaterialExpiry,
            old,
            shared.account,
            region,
            &shared.key_id,
        )?;
    }
    if let Some(at) = valid_to {
        txn.schedule(
            Due::MaterialExpiry,
            at,
            shared.account,
            region,
            &shared.key_id,
        )?;
    }
    if let Some(i) = shared.import.as_mut() {
        i.valid_to = valid_to;
    }
    Ok(())
}

/// Drops the key's material (DeleteImportedKeyMaterial, expiry): the key is PendingImport
/// unless it is pending deletion. Returns the material id that was deleted, if any.
pub(crate) fn drop_material(
    txn: &mut KmsTxn<'_>,
    account: kmsnap_core::AccountId,
    region: kmsnap_core::Region,
    key_id: &str,
) -> Result<Option<String>, KmsError> {
    let arn = crate::model::key_arn(region, account, key_id);
    let mut rec = txn
        .get_key(account, region, key_id)?
        .ok_or_else(|| KmsError::KeyNotFound { arn: arn.clone() })?;
    let mut shared = txn
        .get_shared(account, key_id)?
        .ok_or(KmsError::KeyNotFound { arn })?;
    let deleted = shared.materials.first().map(|m| m.id.clone());
    set_expiry(txn, &mut shared, region, None)?;
    if deleted.is_some() {
        shared.materials.clear();
        txn.put_shared(&shared)?;
    }
    if matches!(rec.state, KeyState::Enabled | KeyState::Disabled) {
        rec.state = KeyState::PendingImport;
        txn.put_key(&rec)?;
    }
    Ok(deleted)
}

pub fn delete_imported_key_material(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DeleteImportedKeyMaterialRequest,
) -> Result<api::DeleteImportedKeyMaterialResponse, KmsError> {
    let key = load_for(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        Ask::action("DeleteImportedKeyMaterial"),
    )?;
    let kind = require_external(&key)?;
    let arn = key.record.arn();
    let symmetric = kind.spec == KeySpec::SymmetricDefault;
    if let Some(id) = &input.key_material_id {
        if !symmetric {
            return Err(KmsError::Validation(format!(
                "Input parameter keyMaterialId cannot be used with {} imported keys.",
                kind.spec.as_str()
            )));
        }
        // Only one material per key is built: any other id names nothing (**unconfirmed** code).
        if key
            .shared
            .shared
            .import
            .as_ref()
            .is_none_or(|i| &i.material_id != id)
        {
            return Err(KmsError::NotFound(format!(
                "Key material {id} is not found for KMS key {arn}."
            )));
        }
    }
    match key.record.state {
        KeyState::Creating | KeyState::Updating => {
            return Err(KmsError::InvalidState {
                arn,
                state: key.record.state,
            })
        }
        _ => {}
    }
    let (account, region, key_id) = (
        key.record.account,
        key.record.region,
        key.record.key_id.clone(),
    );
    let deleted = kms
        .store
        .write(|txn| drop_material(txn, account, region, &key_id))?;
    Ok(api::DeleteImportedKeyMaterialResponse {
        key_id: Some(arn),
        key_material_id: if symmetric { deleted } else { None },
    })
}

#[cfg(test)]
mod tests;
