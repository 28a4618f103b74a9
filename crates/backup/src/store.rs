//! Backup's tables in the MetaStore (keys are `/`-joined text):
//!
//! * `backup_vaults` `{account}/{region}/{name}` → [`VaultRecord`]
//! * `backup_jobs` `{account}/{region}/{job id}` → [`JobRecord`]
//! * `backup_active_jobs` `{account}/{region}/{job id}` → empty: the jobs the worker still
//!   advances (removed when a job reaches a final state)
//! * `backup_job_tokens` `{account}/{region}/{idempotency token}` → job id (versioned)
//! * `backup_points` `{account}/{region}/{vault}/{snapshot id}` → [`PointRecord`]
//!
//! Records are read and written through typed tables (docs/storage.md): each record type names
//! its version, and reading upgrades older versions (all are version 1 so far).

use crate::error::BackupError;
use crate::model::{JobRecord, PointRecord, VaultRecord};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, Table, WriteTxn};

pub const T_VAULTS: &str = "backup_vaults";
pub const T_JOBS: &str = "backup_jobs";
pub const T_ACTIVE: &str = "backup_active_jobs";
pub const T_TOKENS: &str = "backup_job_tokens";
pub const T_POINTS: &str = "backup_points";

const VAULTS: Table<VaultRecord> = Table::new(T_VAULTS);
const JOBS: Table<JobRecord> = Table::new(T_JOBS);
const TOKENS: Table<TokenRecord> = Table::new(T_TOKENS);
const POINTS: Table<PointRecord> = Table::new(T_POINTS);

/// The job id an idempotency token started; stored as the bare id string.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct TokenRecord(String);
kmsnap_store::first_version!(TokenRecord);

fn key(account: AccountId, region: Region, name: &str) -> Vec<u8> {
    format!("{account}/{region}/{name}").into_bytes()
}

pub fn get_vault(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    name: &str,
) -> Result<Option<VaultRecord>, BackupError> {
    Ok(VAULTS.get(txn, &key(account, region, name))?)
}

pub fn put_vault(txn: &mut dyn WriteTxn, v: &VaultRecord) -> Result<(), BackupError> {
    VAULTS.put(txn, &key(v.account, v.region, &v.name), v)?;
    Ok(())
}

pub fn delete_vault(txn: &mut dyn WriteTxn, v: &VaultRecord) -> Result<(), BackupError> {
    VAULTS.delete(txn, &key(v.account, v.region, &v.name))?;
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
    Ok(VAULTS
        .scan(txn, prefix.as_bytes(), start.as_deref(), limit)?
        .into_iter()
        .map(|(_, _, v)| v)
        .collect())
}

pub fn get_job(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<JobRecord>, BackupError> {
    Ok(JOBS.get(txn, &key(account, region, id))?)
}

/// Writes job `j`, keeping the active-job index in step with its state.
pub fn put_job(txn: &mut dyn WriteTxn, j: &JobRecord) -> Result<(), BackupError> {
    let k = key(j.account, j.region, &j.id);
    JOBS.put(txn, &k, j)?;
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
    Ok(usize::try_from(POINTS.count(txn, prefix.as_bytes())?).unwrap_or(usize::MAX))
}

/// The jobs of `account` in `region`, in id order.
pub fn scan_jobs(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<JobRecord>, BackupError> {
    let prefix = format!("{account}/{region}/");
    Ok(JOBS
        .scan(txn, prefix.as_bytes(), None, usize::MAX)?
        .into_iter()
        .map(|(_, _, j)| j)
        .collect())
}

/// Every job not yet in a final state, of every account and region.
pub fn active_jobs(txn: &dyn ReadTxn) -> Result<Vec<JobRecord>, BackupError> {
    let mut out = Vec::new();
    for (k, _) in txn.scan(T_ACTIVE, b"", None, usize::MAX)? {
        if let Some(j) = JOBS.get(txn, &k)? {
            out.push(j);
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
    Ok(TOKENS.get(txn, &key(account, region, token))?.map(|t| t.0))
}

pub fn put_token(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    token: &str,
    job_id: &str,
) -> Result<(), BackupError> {
    TOKENS.put(
        txn,
        &key(account, region, token),
        &TokenRecord(job_id.to_owned()),
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
    Ok(POINTS.get(txn, &point_key(account, region, vault, snapshot))?)
}

pub fn put_point(txn: &mut dyn WriteTxn, p: &PointRecord) -> Result<(), BackupError> {
    POINTS.put(
        txn,
        &point_key(p.account, p.region, &p.vault_name, &p.snapshot_id),
        p,
    )?;
    Ok(())
}

pub fn delete_point(txn: &mut dyn WriteTxn, p: &PointRecord) -> Result<(), BackupError> {
    POINTS.delete(
        txn,
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
    Ok(POINTS
        .scan(txn, prefix.as_bytes(), start.as_deref(), limit)?
        .into_iter()
        .map(|(_, _, p)| p)
        .collect())
}

/// Every recovery point of every account and region.
pub fn every_point(txn: &dyn ReadTxn) -> Result<Vec<PointRecord>, BackupError> {
    Ok(POINTS
        .scan(txn, b"", None, usize::MAX)?
        .into_iter()
        .map(|(_, _, p)| p)
        .collect())
}
