//! The key lifecycle (docs/kms.md §3–§5, §13): CreateKey, DescribeKey, ListKeys,
//! UpdateKeyDescription, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.
//!
//! Every change re-reads the regional [`KeyRecord`] inside its write transaction and checks the
//! key-state table of docs/kms.md §4 against that fresh copy, so two concurrent requests cannot both pass a
//! check that only one of them should. Authorization (`access.rs`) runs first on the cached key:
//! an AWS managed key refuses every management action here with AccessDeniedException, as its
//! key policy does in AWS. Deletion itself happens later, in `workers::deletion`, from the
//! `kms_due` entry ScheduleKeyDeletion writes in the same transaction as the state change.

use crate::crypto::Material;
use crate::keyspec::{KeyKind, KeySpec};
use crate::metadata::key_metadata;
use crate::model::{
    key_arn, KeyManager, KeyRecord, KeyState, MaterialVersion, RotationSchedule, RotationType,
    SharedKey,
};
use crate::ops::common::{
    check_limit, load, require_not_pending_deletion, update_record, validation,
};
use crate::ops::policies::{default_key_policy, lockout_check, validate_policy};
use crate::ops::tags::{merge_tags, validate_tags, MAX_TAGS};
use crate::resolve::Accept;
use crate::store::{self, Due};
use crate::{Kms, KmsError};
use base64::Engine as _;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;

/// Customer managed keys per account and Region (docs/kms.md §14).
pub const MAX_CUSTOMER_KEYS: u64 = 100_000;
/// Description length limit (characters).
pub const MAX_DESCRIPTION: usize = 8192;
/// ScheduleKeyDeletion's waiting period bounds and default, in days.
pub const MIN_WINDOW_DAYS: i32 = 7;
pub const MAX_WINDOW_DAYS: i32 = 30;
pub const DEFAULT_WINDOW_DAYS: i32 = 30;

fn check_description(d: &str) -> Result<(), KmsError> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(validation(
            d,
            "description",
            "Member must have length less than or equal to 8192",
        ));
    }
    Ok(())
}

/// The (spec, usage) a CreateKey request asks for, checked for consistency
/// ([`crate::keyspec::create_key_kind`]).
fn spec_and_usage(input: &api::CreateKeyRequest) -> Result<KeyKind, KmsError> {
    crate::keyspec::create_key_kind(
        input.key_spec.as_ref().map(|k| k.as_str()),
        input.customer_master_key_spec.as_ref().map(|k| k.as_str()),
        input.key_usage.as_ref().map(|u| u.as_str()),
    )
}

/// New material for a key of `kind` and its stored, wrapped form.
fn new_material(
    kms: &Kms,
    account: kmsnap_core::AccountId,
    key_id: &str,
    kind: KeyKind,
) -> Result<(String, Vec<u8>), KmsError> {
    if kind.spec == KeySpec::SymmetricDefault {
        let (material_id, material) = Material::generate()?;
        let wrapped = kms
            .store
            .wrapper()
            .wrap(account, key_id, &material_id, &material)?;
        return Ok((material_id, wrapped));
    }
    let material_id = kmsnap_core::ids::random_hex(32).map_err(|_| KmsError::Internal("rng"))?;
    let (stored, _) = crate::asym::SecretKey::generate(kind)?;
    let wrapped = kms.store.wrapper().wrap_secret(
        account,
        key_id,
        &material_id,
        kind.spec.as_str(),
        &stored,
    )?;
    Ok((material_id, wrapped))
}

fn new_key_id(multi_region: bool) -> Result<String, KmsError> {
    let mut b = [0u8; 16];
    kmsnap_core::ids::random_bytes(&mut b).map_err(|_| KmsError::Internal("rng"))?;
    Ok(if multi_region {
        format!("mrk-{}", hex::encode(b))
    } else {
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    })
}

pub fn create_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::CreateKeyRequest,
) -> Result<api::CreateKeyResponse, KmsError> {
    let origin = input.origin.as_ref().map_or("AWS_KMS", |o| o.as_str());
    let kind = spec_and_usage(&input)?;
    let (spec, usage) = (kind.spec.as_str(), kind.usage.as_str());
    // kms:KeySpec, kms:KeyUsage and kms:KeyOrigin are the request's values for CreateKey.
    let conditions = [
        ("kms:KeySpec", spec),
        ("kms:KeyUsage", usage),
        ("kms:KeyOrigin", origin),
    ];
    crate::authz::authorize_account(
        kms,
        ctx,
        &crate::authz::Ask {
            conditions: &conditions,
            ..crate::authz::Ask::action("CreateKey")
        },
    )?;
    let external = origin == "EXTERNAL";
    match origin {
        "AWS_KMS" => {}
        "EXTERNAL" => {
            if matches!(
                kind.spec,
                KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87
            ) {
                return Err(KmsError::Validation(format!(
                    "KeySpec {spec} is not supported for Origin EXTERNAL"
                )));
            }
            if input.multi_region == Some(true) {
                return Err(KmsError::NotImplemented(
                    "CreateKey with Origin EXTERNAL and MultiRegion",
                ));
            }
        }
        "AWS_CLOUDHSM" => {
            return Err(KmsError::NotImplemented(
                "CreateKey with Origin AWS_CLOUDHSM",
            ))
        }
        _ => {
            return Err(KmsError::NotImplemented(
                "CreateKey with Origin EXTERNAL_KEY_STORE",
            ))
        }
    }
    if input.custom_key_store_id.is_some() || input.xks_key_id.is_some() {
        return Err(KmsError::NotImplemented("CreateKey in a custom key store"));
    }
    let description = input.description.unwrap_or_default();
    check_description(&description)?;
    let tags = input.tags.unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag("Too many tags".to_owned()));
    }
    validate_tags(&tags)?;
    let account = ctx.principal.account;
    let region = ctx.region;
    let multi_region = input.multi_region.unwrap_or(false);
    let key_id = new_key_id(multi_region)?;
    let policy = match input.policy {
        Some(p) => {
            let parsed = validate_policy(&p)?;
            lockout_check(
                kms,
                ctx,
                &crate::model::key_arn(region, account, &key_id),
                &parsed,
                input.bypass_policy_lockout_safety_check,
            )?;
            p
        }
        None => default_key_policy(account),
    };
    let now = kms.clock.now().trunc_subsecs(3);

    // An EXTERNAL key has no material until ImportKeyMaterial (docs/kms-asymmetric.md §9).
    let materials = if external {
        Vec::new()
    } else {
        let (material_id, wrapped) = new_material(kms, account, &key_id, kind)?;
        vec![MaterialVersion {
            id: material_id,
            wrapped,
            created: now,
            rotation: RotationType::Initial,
        }]
    };

    let mut record_tags = Vec::new();
    merge_tags(&mut record_tags, &tags);
    let record = KeyRecord {
        account,
        region,
        key_id: key_id.clone(),
        created: now,
        description,
        state: if external {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        },
        manager: KeyManager::Customer,
        aws_service: None,
        policy,
        tags: record_tags,
        deletion_date: None,
        pending_window_days: None,
    };
    let shared = SharedKey {
        account,
        key_id: key_id.clone(),
        key_spec: spec.to_owned(),
        key_usage: usage.to_owned(),
        origin: origin.to_owned(),
        multi_region,
        primary_region: region,
        replica_regions: Vec::new(),
        materials,
        rotation: RotationSchedule::default(),
        import: None,
    };
    // Answer from the records about to be written: loading the key would put it (and its
    // unwrapped material) into the cache before anyone uses it. The answer exists before the
    // write so that the audit record committed with the key carries it.
    let key = crate::store::LoadedKey::new(
        record,
        std::sync::Arc::new(crate::store::LoadedShared {
            shared,
            materials: Default::default(),
            secret: None,
        }),
    );
    let response = api::CreateKeyResponse {
        key_metadata: Some(key_metadata(&key)),
    };
    crate::audit::note_key(&key.record.arn());
    crate::audit::note_response(&response);
    kms.store.write(|txn| {
        if txn.customer_keys(account, region)? >= MAX_CUSTOMER_KEYS {
            return Err(KmsError::LimitExceeded(format!(
                "The request was rejected because it would exceed the quota of {MAX_CUSTOMER_KEYS} customer managed keys in this account and Region."
            )));
        }
        if txn.get_key(account, region, &key_id)?.is_some() || txn.get_shared(account, &key_id)?.is_some() {
            return Err(KmsError::Internal("key id collision"));
        }
        txn.put_shared(&key.shared.shared)?;
        txn.put_key(&key.record)?;
        Ok(())
    })?;
    Ok(response)
}

pub fn describe_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DescribeKeyRequest,
) -> Result<api::DescribeKeyResponse, KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOrAlias, "DescribeKey")?;
    Ok(api::DescribeKeyResponse {
        key_metadata: Some(key_metadata(&key)),
    })
}

const KEYS_MARKER_PREFIX: &str = "kmsnap-keys/v1/";

fn encode_keys_marker(last_key_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{KEYS_MARKER_PREFIX}{last_key_id}"))
}

fn decode_keys_marker(m: &str) -> Result<String, KmsError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m)
        .map_err(|_| KmsError::InvalidMarker)?;
    let text = String::from_utf8(raw).map_err(|_| KmsError::InvalidMarker)?;
    let id = text
        .strip_prefix(KEYS_MARKER_PREFIX)
        .ok_or(KmsError::InvalidMarker)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(KmsError::InvalidMarker);
    }
    Ok(id.to_owned())
}

pub fn list_keys(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListKeysRequest,
) -> Result<api::ListKeysResponse, KmsError> {
    crate::authz::authorize_account(kms, ctx, &crate::authz::Ask::action("ListKeys"))?;
    let limit = check_limit(input.limit, 1, 1000)?.unwrap_or(100);
    let (account, region) = (ctx.principal.account, ctx.region);
    let prefix = format!("{account}/{region}/");
    let start_after = match input.marker.as_deref() {
        Some(m) => Some(format!("{prefix}{}", decode_keys_marker(m)?).into_bytes()),
        None => None,
    };
    let rows = kms.store.read(|txn| {
        // Only the table keys are needed (they end in the key id): no record is decoded.
        Ok(txn.scan(
            store::KEYS.name(),
            prefix.as_bytes(),
            start_after.as_deref(),
            limit + 1,
        )?)
    })?;
    let truncated = rows.len() > limit;
    let mut keys = Vec::with_capacity(limit.min(rows.len()));
    for (k, _) in rows.iter().take(limit) {
        let Some(id) = std::str::from_utf8(k)
            .ok()
            .and_then(|t| t.strip_prefix(&prefix))
        else {
            continue;
        };
        keys.push(api::KeyListEntry {
            key_id: Some(id.to_owned()),
            key_arn: Some(key_arn(region, account, id)),
        });
    }
    let next_marker = if truncated {
        keys.last()
            .and_then(|e| e.key_id.as_deref())
            .map(encode_keys_marker)
    } else {
        None
    };
    Ok(api::ListKeysResponse {
        keys: Some(keys),
        next_marker,
        truncated: Some(truncated),
    })
}

pub fn update_key_description(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::UpdateKeyDescriptionRequest,
) -> Result<(), KmsError> {
    check_description(&input.description)?;
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "UpdateKeyDescription",
    )?;
    let description = input.description;
    update_record(kms, &key.record, |rec, _| {
        require_not_pending_deletion(rec)?;
        rec.description = description;
        Ok(())
    })
}

/// EnableKey/DisableKey (docs/kms.md §4): Enabled and Disabled switch; Unavailable accepts without a
/// change; every other state refuses.
fn set_enabled(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    action: &str,
    enable: bool,
) -> Result<(), KmsError> {
    let key = load(kms, ctx, key_id, Accept::KeyOnly, action)?;
    update_record(kms, &key.record, |rec, _| match rec.state {
        KeyState::Enabled | KeyState::Disabled => {
            rec.state = if enable {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        }
        KeyState::Unavailable => Ok(()),
        state @ (KeyState::PendingDeletion
        | KeyState::PendingReplicaDeletion
        | KeyState::PendingImport
        | KeyState::Creating
        | KeyState::Updating) => Err(KmsError::InvalidState {
            arn: rec.arn(),
            state,
        }),
    })
}

pub fn enable_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::EnableKeyRequest,
) -> Result<(), KmsError> {
    set_enabled(kms, ctx, &input.key_id, "EnableKey", true)
}

pub fn disable_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DisableKeyRequest,
) -> Result<(), KmsError> {
    set_enabled(kms, ctx, &input.key_id, "DisableKey", false)
}

/// The deletion date of a window starting at `now` (whole seconds, as AWS reports it).
pub fn deletion_date(now: DateTime<Utc>, days: i32) -> DateTime<Utc> {
    (now + Duration::days(i64::from(days))).trunc_subsecs(0)
}

pub fn schedule_key_deletion(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ScheduleKeyDeletionRequest,
) -> Result<api::ScheduleKeyDeletionResponse, KmsError> {
    let days = input.pending_window_in_days.unwrap_or(DEFAULT_WINDOW_DAYS);
    if days < MIN_WINDOW_DAYS {
        return Err(validation(
            &days.to_string(),
            "pendingWindowInDays",
            "Member must have value greater than or equal to 7",
        ));
    }
    if days > MAX_WINDOW_DAYS {
        return Err(validation(
            &days.to_string(),
            "pendingWindowInDays",
            "Member must have value less than or equal to 30",
        ));
    }
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "ScheduleKeyDeletion",
    )?;
    let now = kms.clock.now();
    let response = update_record(kms, &key.record, |rec, txn| {
        if matches!(
            rec.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion | KeyState::Updating
        ) {
            return Err(KmsError::InvalidState {
                arn: rec.arn(),
                state: rec.state,
            });
        }
        let shared = txn
            .get_shared(rec.account, &rec.key_id)?
            .ok_or(KmsError::Internal("key without shared record"))?;
        let primary_with_replicas = shared.multi_region
            && rec.region == shared.primary_region
            && !shared.replica_regions.is_empty();
        rec.pending_window_days = Some(days);
        if primary_with_replicas {
            // The window starts when the last replica is deleted (workers::deletion).
            rec.state = KeyState::PendingReplicaDeletion;
            rec.deletion_date = None;
        } else {
            let at = deletion_date(now, days);
            rec.state = KeyState::PendingDeletion;
            rec.deletion_date = Some(at);
            txn.schedule(Due::Deletion, at, rec.account, rec.region, &rec.key_id)?;
        }
        let response = api::ScheduleKeyDeletionResponse {
            key_id: Some(rec.arn()),
            deletion_date: rec.deletion_date.map(Timestamp),
            key_state: api::KeyState::from_wire(rec.state.wire()),
            pending_window_in_days: Some(days),
        };
        crate::audit::note_response(&response);
        Ok(response)
    })?;
    Ok(response)
}

pub fn cancel_key_deletion(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::CancelKeyDeletionRequest,
) -> Result<api::CancelKeyDeletionResponse, KmsError> {
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "CancelKeyDeletion",
    )?;
    let response = api::CancelKeyDeletionResponse {
        key_id: Some(key.record.arn()),
    };
    crate::audit::note_response(&response);
    update_record(kms, &key.record, |rec, txn| {
        if !rec.state.is_pending_deletion() {
            return Err(KmsError::NotPendingDeletion { arn: rec.arn() });
        }
        if let Some(at) = rec.deletion_date.take() {
            txn.unschedule(Due::Deletion, at, rec.account, rec.region, &rec.key_id)?;
        }
        rec.pending_window_days = None;
        // A key goes back to Disabled — unless it has no key material (an Origin EXTERNAL key
        // scheduled while PendingImport, or whose material was deleted or expired meanwhile):
        // that one is PendingImport again, as AWS's key-state table has it, so EnableKey cannot
        // make a key without material usable (docs/kms-asymmetric.md §9).
        let materialless = txn
            .get_shared(rec.account, &rec.key_id)?
            .is_some_and(|s| s.materials.is_empty());
        rec.state = if materialless {
            KeyState::PendingImport
        } else {
            KeyState::Disabled
        };
        Ok(())
    })?;
    Ok(response)
}

#[cfg(test)]
mod tests;
