//! Key deletion at the end of the waiting period (docs/kms.md §9, §13).
//!
//! ScheduleKeyDeletion writes a `kms_due` entry `deletion/{deletion date}/{account}/{region}/{key}`
//! in the same transaction as the state change; [`run_due`] takes the entries due at `now`, each
//! in its own transaction, and:
//!
//! 1. deletes the regional [`KeyRecord`](crate::model::KeyRecord) if it is still PendingDeletion
//!    (a cancelled or rescheduled key is left alone) and every alias in that account and region
//!    that points to it, and records CloudTrail's `DeleteKey` service event in the same
//!    transaction;
//! 2. updates the shared part: a replica leaves the primary's roster; when no region of the key
//!    remains, the shared record and with it the wrapped material are deleted;
//! 3. starts the primary's own window when it was waiting in PendingReplicaDeletion for its last
//!    replica (a new due entry at now + its pending window);
//! 4. removes the due entry.
//!
//! Every step is idempotent, so an entry whose transaction failed is simply retried next tick.

use crate::model::KeyState;
use crate::ops::keys::deletion_date;
use crate::store::{all_aliases, due_entries, Due, KmsTxn};
use crate::{Kms, KmsError};
use chrono::{DateTime, Utc};
use kmsnap_core::{AccountId, Region};

/// Due entries handled per call; the rest wait for the next tick.
const BATCH: usize = 1000;

/// Deletes every key whose waiting period ended at or before `now`; returns how many keys
/// changed (deleted, or moved from PendingReplicaDeletion to PendingDeletion).
pub fn run_due(kms: &Kms, now: DateTime<Utc>) -> Result<usize, KmsError> {
    let due = kms
        .store
        .read(|txn| due_entries(txn, Due::Deletion, now, BATCH))?;
    let mut changed = 0;
    for (at, account, region, key_id) in due {
        match kms
            .store
            .write(|txn| delete_one(txn, now, at, account, region, &key_id))
        {
            Ok(n) => changed += n,
            Err(e) => {
                tracing::error!(%account, %region, key_id, error = %e, "key deletion failed; retrying next tick")
            }
        }
    }
    Ok(changed)
}

fn delete_one(
    txn: &mut KmsTxn<'_>,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<usize, KmsError> {
    txn.unschedule(Due::Deletion, at, account, region, key_id)?;
    let Some(rec) = txn.get_key(account, region, key_id)? else {
        return Ok(0);
    };
    // Cancelled (or cancelled and rescheduled to a later date): not this entry's business.
    if rec.state != KeyState::PendingDeletion || rec.deletion_date.is_some_and(|d| d > now) {
        return Ok(0);
    }
    txn.delete_key(account, region, key_id)?;
    delete_aliases_of(txn, account, region, key_id)?;
    crate::audit::service_event(txn.raw(), "DeleteKey", &rec.arn(), now, None)?;
    txn.delete_grants_of_key(account, region, key_id)?;
    let mut changed = 1;
    tracing::info!(%account, %region, key_id, "key deleted at the end of its waiting period");

    let Some(mut shared) = txn.get_shared(account, key_id)? else {
        return Ok(changed);
    };
    let was_replica = shared.multi_region && shared.primary_region != region;
    if was_replica {
        shared.replica_regions.retain(|r| *r != region);
    }
    let mut remaining = Vec::new();
    for r in shared.regions() {
        if r != region && txn.get_key(account, r, key_id)?.is_some() {
            remaining.push(r);
        }
    }
    if remaining.is_empty() {
        // No region of the key is left: its material goes with it.
        txn.delete_shared(account, key_id)?;
        return Ok(changed);
    }
    txn.put_shared(&shared)?;
    if was_replica && shared.replica_regions.is_empty() {
        if let Some(mut primary) = txn.get_key(account, shared.primary_region, key_id)? {
            if primary.state == KeyState::PendingReplicaDeletion {
                let days = primary
                    .pending_window_days
                    .unwrap_or(crate::ops::keys::DEFAULT_WINDOW_DAYS);
                let date = deletion_date(now, days);
                primary.state = KeyState::PendingDeletion;
                primary.deletion_date = Some(date);
                primary.pending_window_days = Some(days);
                txn.schedule(Due::Deletion, date, account, primary.region, key_id)?;
                txn.put_key(&primary)?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// Deletes the aliases in (account, region) that point to `key_id`.
fn delete_aliases_of(
    txn: &mut KmsTxn<'_>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<(), KmsError> {
    let doomed: Vec<String> = all_aliases(txn.read_view(), account, region)?
        .into_iter()
        .filter(|a| a.target_key_id == key_id)
        .map(|a| a.name)
        .collect();
    for name in doomed {
        txn.delete_alias(account, region, &name)?;
    }
    Ok(())
}
