//! Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations (docs/kms.md §5, §11).
//!
//! The schedule and every material version live in the [`SharedKey`], so a multi-region key's
//! replicas share them: rotation is configured and invoked on the primary only, and a rotation
//! on the primary reaches every replica. The next automatic rotation is also a `kms_due` entry
//! `(rotation, when, account, primary region, key id)` that the rotation worker scans.
//!
//! Choices where AWS is not documented: on an AWS managed key, Enable/DisableKeyRotation and
//! RotateKeyOnDemand answer AccessDeniedException (its policy allows none of them, and AWS
//! authorizes before anything else); on a replica they answer UnsupportedOperationException.
//! Changing the period of a key whose rotation is already enabled keeps the basis of the
//! schedule (the last automatic rotation, or the enable date): next = basis + new period.
//! RotateKeyOnDemand completes synchronously, so `OnDemandRotationStartDate` is never reported.
//! ListKeyRotations' entry for the initial material (ALL_KEY_MATERIAL) has no RotationDate and
//! no RotationType: it was never rotated in.

use crate::model::{key_arn, KeyManager, KeyState, RotationType, SharedKey};
use crate::ops::common::load;
use crate::resolve::Accept;
use crate::store::{KmsTxn, LoadedKey};
use crate::{Kms, KmsError};
use chrono::Duration;
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::AccountId;

pub const MIN_PERIOD_DAYS: i32 = 90;
pub const MAX_PERIOD_DAYS: i32 = 2560;
pub const DEFAULT_PERIOD_DAYS: i32 = 365;
/// On-demand rotations per key (API model documentation).
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

/// Whether the key is asymmetric or HMAC: such keys never rotate (docs/kms-asymmetric.md §1c).
fn is_non_symmetric(key: &LoadedKey) -> bool {
    key.shared.shared.key_spec != "SYMMETRIC_DEFAULT"
}

/// Rotation exists only for symmetric keys with AWS-generated material.
fn require_rotatable_spec(key: &LoadedKey) -> Result<(), KmsError> {
    let s = &key.shared.shared;
    let arn = key.record.arn();
    if is_non_symmetric(key) {
        // AWS answers HMAC keys with an empty message (observed); asymmetric keys the same.
        return Err(KmsError::Unsupported(String::new()));
    }
    if s.origin == "EXTERNAL" {
        return Err(KmsError::Unsupported(format!(
            "{arn} origin is EXTERNAL which is not valid for this operation."
        )));
    }
    if s.key_spec != "SYMMETRIC_DEFAULT" || s.origin != "AWS_KMS" {
        return Err(KmsError::Unsupported(format!(
            "{arn} key spec {} (origin {}) does not support key rotation; only symmetric encryption keys with AWS_KMS origin do.",
            s.key_spec, s.origin
        )));
    }
    Ok(())
}

/// The per-state rule of Enable/DisableKeyRotation and RotateKeyOnDemand (docs/kms.md §4).
fn require_rotation_state(key: &LoadedKey) -> Result<(), KmsError> {
    let arn = key.record.arn();
    match key.record.state {
        KeyState::Enabled | KeyState::Updating => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled { arn }),
        KeyState::Unavailable => Err(KmsError::Unsupported(format!("{arn} is unavailable."))),
        state => Err(KmsError::InvalidState { arn, state }),
    }
}

fn require_primary(key: &LoadedKey, what: &str) -> Result<(), KmsError> {
    let s = &key.shared.shared;
    if s.multi_region && key.record.region != s.primary_region {
        return Err(KmsError::Unsupported(format!(
            "{} is a multi-Region replica key. {what} is supported only on the primary key {}.",
            key.record.arn(),
            key_arn(s.primary_region, key.record.account, &key.record.key_id)
        )));
    }
    Ok(())
}

fn load_shared_for_write(
    txn: &KmsTxn<'_>,
    account: AccountId,
    key_id: &str,
    arn: &str,
) -> Result<SharedKey, KmsError> {
    txn.get_shared(account, key_id)?
        .ok_or_else(|| KmsError::KeyNotFound {
            arn: arn.to_owned(),
        })
}

pub fn enable_key_rotation(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::EnableKeyRotationRequest,
) -> Result<(), KmsError> {
    let period = input.rotation_period_in_days.unwrap_or(DEFAULT_PERIOD_DAYS);
    if !(MIN_PERIOD_DAYS..=MAX_PERIOD_DAYS).contains(&period) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value {}",
            if period < MIN_PERIOD_DAYS {
                format!("greater than or equal to {MIN_PERIOD_DAYS}")
            } else {
                format!("less than or equal to {MAX_PERIOD_DAYS}")
            }
        )));
    }
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "EnableKeyRotation",
    )?;
    require_rotatable_spec(&key)?;
    require_rotation_state(&key)?;
    require_primary(&key, "EnableKeyRotation")?;
    let (account, key_id, arn) = (
        key.record.account,
        key.record.key_id.clone(),
        key.record.arn(),
    );
    let now = kms.clock.now();
    kms.store.write(|txn| {
        let mut shared = load_shared_for_write(txn, account, &key_id, &arn)?;
        let r = &shared.rotation;
        let next = match (r.enabled, r.next_rotation) {
            (true, Some(next)) => {
                next - Duration::days(i64::from(r.period_days)) + Duration::days(i64::from(period))
            }
            _ => now + Duration::days(i64::from(period)),
        };
        txn.reschedule_rotation(&mut shared, Some(next))?;
        shared.rotation.enabled = true;
        shared.rotation.period_days = period;
        txn.put_shared(&shared)
    })
}

pub fn disable_key_rotation(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DisableKeyRotationRequest,
) -> Result<(), KmsError> {
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "DisableKeyRotation",
    )?;
    if is_non_symmetric(&key) {
        // Observed for HMAC keys: success, and nothing to do (asymmetric keys behave the same).
        return require_rotation_state(&key);
    }
    require_rotatable_spec(&key)?;
    require_rotation_state(&key)?;
    require_primary(&key, "DisableKeyRotation")?;
    let (account, key_id, arn) = (
        key.record.account,
        key.record.key_id.clone(),
        key.record.arn(),
    );
    kms.store.write(|txn| {
        let mut shared = load_shared_for_write(txn, account, &key_id, &arn)?;
        txn.reschedule_rotation(&mut shared, None)?;
        shared.rotation.enabled = false;
        txn.put_shared(&shared)
    })
}

pub fn get_key_rotation_status(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::GetKeyRotationStatusRequest,
) -> Result<api::GetKeyRotationStatusResponse, KmsError> {
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "GetKeyRotationStatus",
    )?;
    let arn = key.record.arn();
    if is_non_symmetric(&key) || key.shared.shared.origin == "EXTERNAL" {
        // Never rotates: false (observed for HMAC keys and imported keys, also pending import).
        return Ok(api::GetKeyRotationStatusResponse {
            key_rotation_enabled: Some(false),
            key_id: Some(arn),
            ..Default::default()
        });
    }
    require_rotatable_spec(&key)?;
    match key.record.state {
        KeyState::PendingImport => {
            return Err(KmsError::Unsupported(format!(
                "{arn} origin is EXTERNAL which is not valid for this operation."
            )))
        }
        KeyState::Unavailable => {
            return Err(KmsError::Unsupported(format!("{arn} is unavailable.")))
        }
        _ => {}
    }
    let r = &key.shared.shared.rotation;
    let aws_managed = key.record.manager == KeyManager::Aws;
    let enabled = (r.enabled || aws_managed) && !key.record.state.is_pending_deletion();
    Ok(api::GetKeyRotationStatusResponse {
        key_rotation_enabled: Some(enabled),
        key_id: Some(arn),
        rotation_period_in_days: enabled.then_some(r.period_days),
        next_rotation_date: if enabled {
            r.next_rotation.map(Timestamp)
        } else {
            None
        },
        on_demand_rotation_start_date: None,
    })
}

pub fn rotate_key_on_demand(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::RotateKeyOnDemandRequest,
) -> Result<api::RotateKeyOnDemandResponse, KmsError> {
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "RotateKeyOnDemand",
    )?;
    let arn = key.record.arn();
    if key.record.manager == KeyManager::Aws {
        return Err(KmsError::Unsupported(format!(
            "{arn} is an AWS managed key; AWS managed keys cannot be rotated on demand."
        )));
    }
    if !is_non_symmetric(&key) && key.shared.shared.origin == "EXTERNAL" {
        // On-demand rotation of imported keys needs imported PENDING_ROTATION material, which
        // kmsnap does not build; without one AWS answers this (observed).
        return Err(KmsError::InvalidStateMessage(format!(
            "No available key material pending rotation for the key: {arn}."
        )));
    }
    require_rotatable_spec(&key)?;
    require_rotation_state(&key)?;
    require_primary(&key, "RotateKeyOnDemand")?;
    let (account, key_id) = (key.record.account, key.record.key_id.clone());
    let now = kms.clock.now();
    kms.store.write(|txn| {
        let mut shared = load_shared_for_write(txn, account, &key_id, &arn)?;
        if shared.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "{arn} has reached the maximum number of on-demand rotations ({MAX_ON_DEMAND_ROTATIONS})."
            )));
        }
        let material_id = kms.store.append_material(&mut shared, RotationType::OnDemand, now)?;
        shared.rotation.on_demand_count += 1;
        txn.put_shared(&shared)?;
        tracing::info!(%account, key_id, material = %material_id, "on-demand rotation");
        Ok(())
    })?;
    Ok(api::RotateKeyOnDemandResponse { key_id: Some(arn) })
}

fn rotations_marker(i: usize) -> String {
    format!("r{i}")
}

pub fn list_key_rotations(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListKeyRotationsRequest,
) -> Result<api::ListKeyRotationsResponse, KmsError> {
    let limit = input.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
        )));
    }
    let start = match input.marker.as_deref() {
        None => 0,
        Some(m) => m
            .strip_prefix('r')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or(KmsError::InvalidMarker)?,
    };
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "ListKeyRotations")?;
    if is_non_symmetric(&key) {
        if input.include_key_material.is_some() {
            return Err(KmsError::Validation(
                "Input parameter includeKeyMaterial can only be used with symmetric keys.".into(),
            ));
        }
        return Ok(api::ListKeyRotationsResponse {
            rotations: Some(Vec::new()),
            next_marker: None,
            truncated: Some(false),
        });
    }
    if key.shared.shared.origin != "EXTERNAL" {
        require_rotatable_spec(&key)?;
    }
    if key.record.state == KeyState::Unavailable {
        return Err(KmsError::Unsupported(format!(
            "{} is unavailable.",
            key.record.arn()
        )));
    }
    let all = input.include_key_material == Some(api::IncludeKeyMaterial::AllKeyMaterial);
    let materials = &key.shared.shared.materials;
    let current = materials.last().map(|m| m.id.as_str());
    let entries: Vec<api::RotationsListEntry> = materials
        .iter()
        .filter(|m| all || m.rotation != RotationType::Initial)
        .map(|m| {
            let rotation_type = match m.rotation {
                RotationType::Initial => None,
                RotationType::Automatic => Some(api::RotationType::Automatic),
                RotationType::OnDemand => Some(api::RotationType::OnDemand),
            };
            api::RotationsListEntry {
                key_id: Some(key.record.key_id.clone()),
                key_material_id: Some(m.id.clone()),
                key_material_state: Some(if Some(m.id.as_str()) == current {
                    api::KeyMaterialState::Current
                } else {
                    api::KeyMaterialState::NonCurrent
                }),
                rotation_date: rotation_type.is_some().then_some(Timestamp(m.created)),
                rotation_type,
                ..Default::default()
            }
        })
        .collect();
    if start > entries.len() {
        return Err(KmsError::InvalidMarker);
    }
    let end = (start + limit as usize).min(entries.len());
    let truncated = end < entries.len();
    Ok(api::ListKeyRotationsResponse {
        rotations: Some(entries[start..end].to_vec()),
        next_marker: truncated.then(|| rotations_marker(end)),
        truncated: Some(truncated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{due_entries, Due};
    use crate::testsupport::kit::*;

    fn status(kms: &Kms, c: &RequestContext, k: &str) -> api::GetKeyRotationStatusResponse {
        get_key_rotation_status(
            kms,
            c,
            api::GetKeyRotationStatusRequest { key_id: k.into() },
        )
        .unwrap()
    }

    fn enable(kms: &Kms, c: &RequestContext, k: &str, days: Option<i32>) -> Result<(), KmsError> {
        enable_key_rotation(
            kms,
            c,
            api::EnableKeyRotationRequest {
                key_id: k.into(),
                rotation_period_in_days: days,
            },
        )
    }

    fn rotate(
        kms: &Kms,
        c: &RequestContext,
        k: &str,
    ) -> Result<api::RotateKeyOnDemandResponse, KmsError> {
        rotate_key_on_demand(kms, c, api::RotateKeyOnDemandRequest { key_id: k.into() })
    }

    fn rotations(
        kms: &Kms,
        c: &RequestContext,
        k: &str,
        all: bool,
    ) -> Vec<api::RotationsListEntry> {
        list_key_rotations(
            kms,
            c,
            api::ListKeyRotationsRequest {
                key_id: k.into(),
                include_key_material: all.then_some(api::IncludeKeyMaterial::AllKeyMaterial),
                limit: None,
                marker: None,
            },
        )
        .unwrap()
        .rotations
        .unwrap()
    }

    #[test]
    fn enable_status_disable() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        let s = status(&kms, &c, &k);
        assert_eq!(s.key_rotation_enabled, Some(false));
        assert_eq!(
            s.key_id.as_deref(),
            Some(key_arn(c.region, c.principal.account, &k).as_str())
        );
        assert_eq!(
            code(enable(&kms, &c, &k, Some(89)).unwrap_err()),
            "ValidationException"
        );
        assert_eq!(
            code(enable(&kms, &c, &k, Some(2561)).unwrap_err()),
            "ValidationException"
        );
        let t0 = kms.clock.now();
        enable(&kms, &c, &k, None).unwrap();
        let s = status(&kms, &c, &k);
        assert_eq!(s.key_rotation_enabled, Some(true));
        assert_eq!(s.rotation_period_in_days, Some(365));
        let next = s.next_rotation_date.unwrap().0;
        assert!(
            next >= t0 + Duration::days(365)
                && next < t0 + Duration::days(365) + Duration::minutes(1)
        );
        // Changing the period keeps the basis; one due entry only.
        enable(&kms, &c, &k, Some(90)).unwrap();
        let s = status(&kms, &c, &k);
        assert_eq!(s.rotation_period_in_days, Some(90));
        assert!(s.next_rotation_date.unwrap().0 < t0 + Duration::days(91));
        let due = kms
            .store
            .read(|t| due_entries(t, Due::Rotation, t0 + Duration::days(1000), 10))
            .unwrap();
        assert_eq!(due.len(), 1);
        disable_key_rotation(
            &kms,
            &c,
            api::DisableKeyRotationRequest { key_id: k.clone() },
        )
        .unwrap();
        assert_eq!(status(&kms, &c, &k).key_rotation_enabled, Some(false));
        let due = kms
            .store
            .read(|t| due_entries(t, Due::Rotation, t0 + Duration::days(1000), 10))
            .unwrap();
        assert!(due.is_empty());
        // Disabled key: DisabledException; pending deletion: invalid state, status false.
        enable(&kms, &c, &k, None).unwrap();
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::Disabled);
        assert_eq!(
            code(enable(&kms, &c, &k, None).unwrap_err()),
            "DisabledException"
        );
        assert_eq!(status(&kms, &c, &k).key_rotation_enabled, Some(true));
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::PendingDeletion);
        assert_eq!(
            code(enable(&kms, &c, &k, None).unwrap_err()),
            "KMSInvalidStateException"
        );
        assert_eq!(status(&kms, &c, &k).key_rotation_enabled, Some(false));
        assert_eq!(
            code(rotate(&kms, &c, &k).unwrap_err()),
            "KMSInvalidStateException"
        );
    }

    #[test]
    fn aws_managed_keys_always_rotate_and_refuse_changes() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let m = crate::managed::ensure_for_alias(&kms, &c, "alias/aws/rds")
            .unwrap()
            .unwrap();
        let s = status(&kms, &c, &m);
        assert_eq!(
            (s.key_rotation_enabled, s.rotation_period_in_days),
            (Some(true), Some(365))
        );
        assert!(s.next_rotation_date.is_some());
        assert_eq!(
            code(enable(&kms, &c, &m, None).unwrap_err()),
            "AccessDeniedException"
        );
        assert_eq!(
            code(rotate(&kms, &c, &m).unwrap_err()),
            "AccessDeniedException"
        );
        let d = disable_key_rotation(
            &kms,
            &c,
            api::DisableKeyRotationRequest { key_id: m.clone() },
        );
        assert_eq!(code(d.unwrap_err()), "AccessDeniedException");
        assert!(rotations(&kms, &c, &m, false).is_empty());
    }

    #[test]
    fn on_demand_rotation_keeps_old_material() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        let old_blob = encrypt(&kms, ACCT, "us-east-1", &k, b"before");
        let old_mid = crate::crypto::parse_header(&old_blob)
            .unwrap()
            .0
            .material_id;
        let r = rotate(&kms, &c, &k).unwrap();
        assert_eq!(
            r.key_id.as_deref(),
            Some(key_arn(c.region, c.principal.account, &k).as_str())
        );
        let new_blob = encrypt(&kms, ACCT, "us-east-1", &k, b"after");
        let new_mid = crate::crypto::parse_header(&new_blob)
            .unwrap()
            .0
            .material_id;
        assert_ne!(old_mid, new_mid);
        assert_eq!(
            decrypt(&kms, ACCT, "us-east-1", &old_blob).unwrap(),
            b"before"
        );
        assert_eq!(
            decrypt(&kms, ACCT, "us-east-1", &new_blob).unwrap(),
            b"after"
        );
        let meta = crate::metadata::key_metadata(
            &kms.store.get(acct(ACCT), c.region, &k).unwrap().unwrap(),
        );
        assert_eq!(
            meta.current_key_material_id.as_deref(),
            Some(new_mid.as_str())
        );

        let only = rotations(&kms, &c, &k, false);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].rotation_type, Some(api::RotationType::OnDemand));
        assert_eq!(only[0].key_material_id.as_deref(), Some(new_mid.as_str()));
        assert_eq!(
            only[0].key_material_state,
            Some(api::KeyMaterialState::Current)
        );
        assert!(only[0].rotation_date.is_some());
        let all = rotations(&kms, &c, &k, true);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].key_material_id.as_deref(), Some(old_mid.as_str()));
        assert_eq!(
            all[0].key_material_state,
            Some(api::KeyMaterialState::NonCurrent)
        );
        assert_eq!(all[0].rotation_type, None);

        for _ in 1..MAX_ON_DEMAND_ROTATIONS {
            rotate(&kms, &c, &k).unwrap();
        }
        assert_eq!(
            code(rotate(&kms, &c, &k).unwrap_err()),
            "LimitExceededException"
        );
        // Paging.
        let p1 = list_key_rotations(
            &kms,
            &c,
            api::ListKeyRotationsRequest {
                key_id: k.clone(),
                limit: Some(10),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p1.rotations.unwrap().len(), 10);
        assert_eq!(p1.truncated, Some(true));
        let p3 = list_key_rotations(
            &kms,
            &c,
            api::ListKeyRotationsRequest {
                key_id: k.clone(),
                limit: Some(10),
                marker: Some("r20".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p3.rotations.unwrap().len(), 5);
        assert_eq!(p3.truncated, Some(false));
        let bad = list_key_rotations(
            &kms,
            &c,
            api::ListKeyRotationsRequest {
                key_id: k.clone(),
                marker: Some("x".into()),
                ..Default::default()
            },
        );
        assert_eq!(code(bad.unwrap_err()), "InvalidMarkerException");
        // Disabled: rotate refused, listing still works.
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::Disabled);
        assert_eq!(code(rotate(&kms, &c, &k).unwrap_err()), "DisabledException");
        assert_eq!(rotations(&kms, &c, &k, false).len(), 25);
    }
}
