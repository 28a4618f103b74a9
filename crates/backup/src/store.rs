//! Backup's tables in the MetaStore (keys are `/`-joined text):
//!
//! * `backup_vaults` `{account}/{region}/{name}` → [`VaultRecord`]
//! * `backup_jobs` `{account}/{region}/{job id}` → [`JobRecord`]
//! * `backup_active_jobs` `{account}/{region}/{job id}` → empty: the jobs the worker still
//!   advances (removed when a job reaches a final state)
//! * `backup_job_tokens` `{account}/{region}/{idempotency token}` → job id (versioned)
//! * `backup_points` `{account}/{region}/{vault}/{snapshot id}` → [`PointRecord`]
//!
//! Records are versioned ([`kmsnap_store::encode_record`]) and decoded by version.

use crate::error::BackupError;
use crate::model::{
    JobRecord, PointRecord, VaultRecord, JOB_VERSION, POINT_VERSION, VAULT_VERSION,
};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{decode_payload, encode_record, split_record, ReadTxn, WriteTxn};
use serde::de::DeserializeOwned;

pub const T_VAULTS: &str = "backup_vaults";
pub const T_JOBS: &str = "backup_jobs";
pub const T_ACTIVE: &str = "backup_active_jobs";
pub const T_TOKENS: &str = "backup_job_tokens";
pub const T_POINTS: &str = "backup_points";
/// Version of the job id a `backup_job_tokens` entry holds.
const TOKEN_VERSION: u16 = 1;

fn key(account: AccountId, region: Region, name: &str) -> Vec<u8> {
    format!("{account}/{region}/{name}").into_bytes()
}

/// A stored record of `kind` whose only version so far is `version`.
fn decode<T: DeserializeOwned>(bytes: &[u8], version: u16, kind: &str) -> Result<T, BackupError> {
    match split_record(bytes)? {
        (v, payload) if v == version => Ok(decode_payload(payload)?),
        (v, _) => {
            tracing::error!(version = v, kind, "backup record of an unknown version");
            Err(BackupError::Internal("record version"))
        }
    }
}

/// A stored vault record, by its version (version 1 is the only one so far).
fn decode_vault(bytes: &[u8]) -> Result<VaultRecord, BackupError> {
    decode(bytes, VAULT_VERSION, "vault")
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

pub fn get_job(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<JobRecord>, BackupError> {
    txn.get(T_JOBS, &key(account, region, id))?
        .map(|r| decode(&r.value, JOB_VERSION, "job"))
        .transpose()
}

/// Writes job `j`, keeping the active-job index in step with its state.
pub fn put_job(txn: &mut dyn WriteTxn, j: &JobRecord) -> Result<(), BackupError> {
    let k = key(j.account, j.region, &j.id);
    txn.put(T_JOBS, &k, &encode_record(JOB_VERSION, j)?)?;
    if j.state.is_final() {
        txn.delete(T_ACTIVE, &k)?;
    } else {
        txn.put(T_ACTIVE, &k, b"")?;
    }
    Ok(())
}

/// How many recovery points vault `vault` holds.
pub fn count_points(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    vault: &str,
) -> Result<usize, BackupError> {
    let prefix = format!("{account}/{region}/{vault}/");
    Ok(txn
        .scan(T_POINTS, prefix.as_bytes(), None, usize::MAX)?
        .len())
}

/// The jobs of `account` in `region`, in id order.
pub fn scan_jobs(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<JobRecord>, BackupError> {
    let prefix = format!("{account}/{region}/");
    txn.scan(T_JOBS, prefix.as_bytes(), None, usize::MAX)?
        .into_iter()
        .map(|(_, r)| decode(&r.value, JOB_VERSION, "job"))
        .collect()
}

/// Every job not yet in a final state, of every account and region.
pub fn active_jobs(txn: &dyn ReadTxn) -> Result<Vec<JobRecord>, BackupError> {
    let mut out = Vec::new();
    for (k, _) in txn.scan(T_ACTIVE, b"", None, usize::MAX)? {
        if let Some(r) = txn.get(T_JOBS, &k)? {
            out.push(decode(&r.value, JOB_VERSION, "job")?);
        }
    }
    Ok(out)
}

/// The job an idempotency token started.
pub fn job_of_token(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    token: &str,
) -> Result<Option<String>, BackupError> {
    txn.get(T_TOKENS, &key(account, region, token))?
        .map(|r| decode(&r.value, TOKEN_VERSION, "job token"))
        .transpose()
}

pub fn put_token(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    token: &str,
    job_id: &str,
) -> Result<(), BackupError> {
    txn.put(
        T_TOKENS,
        &key(account, region, token),
        &encode_record(TOKEN_VERSION, &job_id)?,
    )?;
    Ok(())
}

fn point_key(account: AccountId, region: Region, vault: &str, snapshot: &str) -> Vec<u8> {
    format!("{account}/{region}/{vault}/{snapshot}").into_bytes()
}

pub fn get_point(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    vault: &str,
    snapshot: &str,
) -> Result<Option<PointRecord>, BackupError> {
    txn.get(T_POINTS, &point_key(account, region, vault, snapshot))?
        .map(|r| decode(&r.value, POINT_VERSION, "recovery point"))
        .transpose()
}

pub fn put_point(txn: &mut dyn WriteTxn, p: &PointRecord) -> Result<(), BackupError> {
    txn.put(
        T_POINTS,
        &point_key(p.account, p.region, &p.vault_name, &p.snapshot_id),
        &encode_record(POINT_VERSION, p)?,
    )?;
    Ok(())
}

pub fn delete_point(txn: &mut dyn WriteTxn, p: &PointRecord) -> Result<(), BackupError> {
    txn.delete(
        T_POINTS,
        &point_key(p.account, p.region, &p.vault_name, &p.snapshot_id),
    )?;
    Ok(())
}

/// The recovery points of vault `vault`, in snapshot id order, after snapshot `after`, at most
/// `limit`.
pub fn scan_points(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    vault: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<PointRecord>, BackupError> {
    let prefix = format!("{account}/{region}/{vault}/");
    let start = after.map(|a| point_key(account, region, vault, a));
    txn.scan(T_POINTS, prefix.as_bytes(), start.as_deref(), limit)?
        .into_iter()
        .map(|(_, r)| decode(&r.value, POINT_VERSION, "recovery point"))
        .collect()
}

/// Every recovery point of every account and region.
pub fn every_point(txn: &dyn ReadTxn) -> Result<Vec<PointRecord>, BackupError> {
    txn.scan(T_POINTS, b"", None, usize::MAX)?
        .into_iter()
        .map(|(_, r)| decode(&r.value, POINT_VERSION, "recovery point"))
        .collect()
}
