//! Automatic rotation (docs/kms.md §11): each `kms_due` rotation entry at or before `now` names
//! (account, primary region, key id). One transaction per key re-reads the shared record and:
//!
//! * drops the entry if it is stale (key gone, rotation disabled, schedule moved elsewhere);
//! * leaves it in place while the primary is not usable (Disabled, PendingDeletion, …), so an
//!   overdue key rotates on the first tick after it is enabled again, as AWS does;
//! * otherwise appends fresh material (AUTOMATIC), which becomes current for the key and every
//!   replica, and schedules the next rotation at the previous due time + period (now + period
//!   if that is already past, so a long-disabled key rotates once, not once per missed period),
//!   recording CloudTrail's `RotateKey` service event in the same transaction.
//!
//! Each step is idempotent: a crash before commit leaves the entry for the next tick.

use crate::model::{KeyState, RotationType};
use crate::store::{due_entries, Due};
use crate::{Kms, KmsError};
use chrono::{DateTime, Duration, Utc};
use kmsnap_core::{AccountId, Region};

/// Due entries looked at per tick.
const BATCH: usize = 1000;

pub fn run_due(kms: &Kms, now: DateTime<Utc>) -> Result<usize, KmsError> {
    let due = kms
        .store
        .read(|txn| due_entries(txn, Due::Rotation, now, BATCH))?;
    let mut rotated = 0;
    for (at, account, region, key_id) in due {
        match rotate_one(kms, now, at, account, region, &key_id) {
            Ok(true) => rotated += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%account, %region, key_id, error = %e, "automatic rotation failed; will retry")
            }
        }
    }
    Ok(rotated)
}

fn rotate_one(
    kms: &Kms,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<bool, KmsError> {
    kms.store.write(|txn| {
        let shared = txn.get_shared(account, key_id)?;
        let live = shared.filter(|s| {
            s.rotation.enabled
                && s.primary_region == region
                && s.rotation.next_rotation.map(|n| n.timestamp_millis()) == Some(at.timestamp_millis())
        });
        let Some(mut shared) = live else {
            txn.unschedule(Due::Rotation, at, account, region, key_id)?;
            return Ok(false);
        };
        let Some(record) = txn.get_key(account, region, key_id)? else {
            txn.unschedule(Due::Rotation, at, account, region, key_id)?;
            return Ok(false);
        };
        if !matches!(record.state, KeyState::Enabled | KeyState::Updating) {
            return Ok(false);
        }
        let material_id = kms.store.append_material(&mut shared, RotationType::Automatic, now)?;
        let period = Duration::days(i64::from(shared.rotation.period_days));
        let mut next = at + period;
        if next <= now {
            next = now + period;
        }
        txn.reschedule_rotation(&mut shared, Some(next))?;
        txn.put_shared(&shared)?;
        let details = serde_json::json!({"rotationType": "AUTOMATIC", "keyId": key_id});
        crate::audit::service_event(txn.raw(), "RotateKey", &record.arn(), now, Some(details))?;
        tracing::info!(%account, %region, key_id, material = %material_id, %next, "automatic rotation");
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rotation::{enable_key_rotation, get_key_rotation_status, list_key_rotations};
    use crate::testsupport::kit::*;
    use kmsnap_api::gen::kms as api;

    fn rotations(
        kms: &Kms,
        c: &kmsnap_auth::RequestContext,
        k: &str,
    ) -> Vec<api::RotationsListEntry> {
        list_key_rotations(
            kms,
            c,
            api::ListKeyRotationsRequest {
                key_id: k.into(),
                ..Default::default()
            },
        )
        .unwrap()
        .rotations
        .unwrap()
    }

    #[test]
    fn rotates_after_a_year_on_the_manual_clock() {
        let (kms, clock) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        let managed = crate::managed::ensure_for_alias(&kms, &c, "alias/aws/ebs")
            .unwrap()
            .unwrap();
        enable_key_rotation(
            &kms,
            &c,
            api::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: None,
            },
        )
        .unwrap();
        let blob = encrypt(&kms, ACCT, "us-east-1", &k, b"year one");
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0);
        clock.advance(Duration::days(364));
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0);
        let first_due = get_key_rotation_status(
            &kms,
            &c,
            api::GetKeyRotationStatusRequest { key_id: k.clone() },
        )
        .unwrap()
        .next_rotation_date
        .unwrap()
        .0;
        clock.advance(Duration::days(2));
        assert_eq!(
            run_due(&kms, kms.clock.now()).unwrap(),
            2,
            "customer key and aws/ebs"
        );
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0, "idempotent");
        let r = rotations(&kms, &c, &k);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rotation_type, Some(api::RotationType::Automatic));
        assert_eq!(rotations(&kms, &c, &managed).len(), 1);
        // Next = previous due + period; old ciphertext still decrypts; new uses new material.
        let next = get_key_rotation_status(
            &kms,
            &c,
            api::GetKeyRotationStatusRequest { key_id: k.clone() },
        )
        .unwrap()
        .next_rotation_date
        .unwrap()
        .0;
        assert_eq!(
            next.timestamp_millis(),
            (first_due + Duration::days(365)).timestamp_millis()
        );
        assert_eq!(
            decrypt(&kms, ACCT, "us-east-1", &blob).unwrap(),
            b"year one"
        );
        let new_blob = encrypt(&kms, ACCT, "us-east-1", &k, b"year two");
        assert_ne!(
            crate::crypto::parse_header(&new_blob)
                .unwrap()
                .0
                .material_id,
            crate::crypto::parse_header(&blob).unwrap().0.material_id
        );
        assert_eq!(
            r[0].key_material_id.as_deref(),
            Some(
                crate::crypto::parse_header(&new_blob)
                    .unwrap()
                    .0
                    .material_id
                    .as_str()
            )
        );
    }

    #[test]
    fn disabled_keys_wait_and_rotate_once_enabled() {
        let (kms, clock) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        enable_key_rotation(
            &kms,
            &c,
            api::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: Some(90),
            },
        )
        .unwrap();
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::Disabled);
        clock.advance(Duration::days(400));
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0);
        assert!(rotations(&kms, &c, &k).is_empty());
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::Enabled);
        assert_eq!(
            run_due(&kms, kms.clock.now()).unwrap(),
            1,
            "overdue key rotates at once, once"
        );
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0);
        let next = get_key_rotation_status(
            &kms,
            &c,
            api::GetKeyRotationStatusRequest { key_id: k.clone() },
        )
        .unwrap()
        .next_rotation_date
        .unwrap()
        .0;
        assert!(next > kms.clock.now() + Duration::days(89));
        // Rotation disabled in between: the stale entry is dropped.
        crate::ops::rotation::disable_key_rotation(
            &kms,
            &c,
            api::DisableKeyRotationRequest { key_id: k.clone() },
        )
        .unwrap();
        clock.advance(Duration::days(100));
        assert_eq!(run_due(&kms, kms.clock.now()).unwrap(), 0);
        assert_eq!(rotations(&kms, &c, &k).len(), 1);
    }
}
