//! Backup's tables in the MetaStore (keys are `/`-joined text):
//!
//! * `backup_vaults` `{account}/{region}/{name}` → [`VaultRecord`]
//!
//! Records are versioned ([`kmsnap_store::encode_record`]) and decoded by version.

use crate::error::BackupError;
use crate::model::{VaultRecord, VAULT_VERSION};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{decode_payload, encode_record, split_record, ReadTxn, WriteTxn};

pub const T_VAULTS: &str = "backup_vaults";

fn key(account: AccountId, region: Region, name: &str) -> Vec<u8> {
    format!("{account}/{region}/{name}").into_bytes()
}

/// A stored vault record, by its version (version 1 is the only one so far).
fn decode_vault(bytes: &[u8]) -> Result<VaultRecord, BackupError> {
    match split_record(bytes)? {
        (VAULT_VERSION, payload) => Ok(decode_payload(payload)?),
        (v, _) => {
            tracing::error!(version = v, "backup vault record of an unknown version");
            Err(BackupError::Internal("record version"))
        }
    }
}

pub fn get_vault(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    name: &str,
) -> Result<Option<VaultRecord>, BackupError> {
    txn.get(T_VAULTS, &key(account, region, name))?
        .map(|r| decode_vault(&r.value))
        .transpose()
}

pub fn put_vault(txn: &mut dyn WriteTxn, v: &VaultRecord) -> Result<(), BackupError> {
    txn.put(
        T_VAULTS,
        &key(v.account, v.region, &v.name),
        &encode_record(VAULT_VERSION, v)?,
    )?;
    Ok(())
}

pub fn delete_vault(txn: &mut dyn WriteTxn, v: &VaultRecord) -> Result<(), BackupError> {
    txn.delete(T_VAULTS, &key(v.account, v.region, &v.name))?;
    Ok(())
}

/// The vaults of `account` in `region` with names after `after`, in name order, at most `limit`.
pub fn scan_vaults(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<VaultRecord>, BackupError> {
    let prefix = format!("{account}/{region}/");
    let start = after.map(|a| key(account, region, a));
    txn.scan(T_VAULTS, prefix.as_bytes(), start.as_deref(), limit)?
        .into_iter()
        .map(|(_, r)| decode_vault(&r.value))
        .collect()
}
