//! Imported key material at its ValidTo, and import parameters at their ParametersValidTo
//! (docs/kms-asymmetric.md §9.6).
//!
//! ImportKeyMaterial writes an `expiry/{ValidTo}/{account}/{region}/{key}` entry; when the
//! clock passes it, the material is deleted as DeleteImportedKeyMaterial would (the key becomes
//! PendingImport until the same material is imported again), with CloudTrail's
//! `DeleteExpiredKeyMaterial` service event in the same transaction. An entry whose key was
//! reimported with another ValidTo, or no longer exists, is dropped unchanged.
//!
//! GetParametersForImport writes `import-params/{ParametersValidTo}/{account}/{region}/{key}:{token}`;
//! at that time the wrapping key's private half is deleted.

use crate::model::key_arn;
use crate::store::{due_entries, Due};
use crate::{Kms, KmsError};
use chrono::{DateTime, Utc};
use kmsnap_core::{AccountId, Region};

/// Due entries handled per call; the rest wait for the next tick.
const BATCH: usize = 1000;

pub fn run_due(kms: &Kms, now: DateTime<Utc>) -> Result<usize, KmsError> {
    let mut changed = 0;
    for (at, account, region, key_id) in kms
        .store
        .read(|txn| due_entries(txn, Due::MaterialExpiry, now, BATCH))?
    {
        match expire_one(kms, now, at, account, region, &key_id) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%account, %region, key_id, error = %e, "expiring imported material failed; will retry")
            }
        }
    }
    for (at, account, region, entry) in kms
        .store
        .read(|txn| due_entries(txn, Due::ImportParams, now, BATCH))?
    {
        let result = kms.store.write(|txn| {
            txn.unschedule(Due::ImportParams, at, account, region, &entry)?;
            if let Some((key_id, token_id)) = entry.split_once(':') {
                txn.delete_import_params(account, key_id, token_id)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(%account, %region, entry, error = %e, "deleting expired import parameters failed; will retry");
        }
    }
    Ok(changed)
}

fn expire_one(
    kms: &Kms,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<bool, KmsError> {
    kms.store.write(|txn| {
        txn.unschedule(Due::MaterialExpiry, at, account, region, key_id)?;
        let live = txn
            .get_shared(account, key_id)?
            .and_then(|s| s.import)
            .and_then(|i| i.valid_to);
        if live.map(|v| v.timestamp_millis()) != Some(at.timestamp_millis())
            || txn.get_key(account, region, key_id)?.is_none()
        {
            return Ok(false);
        }
        let arn = key_arn(region, account, key_id);
        crate::ops::import::drop_material(txn, account, region, key_id)?;
        let details = serde_json::json!({ "keyId": key_id });
        crate::audit::service_event(
            txn.raw(),
            "DeleteExpiredKeyMaterial",
            &arn,
            now,
            Some(details),
        )?;
        tracing::info!(%account, %region, key_id, "imported key material expired");
        Ok(true)
    })
}
