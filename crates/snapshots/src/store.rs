//! Tables of the EBS domain in the MetaStore (keys are `/`-joined text):
//!
//! * `ebs_volumes`    `{account}/{region}/{vol-id}` → [`VolumeRecord`]
//! * `ebs_snapshots`  `{account}/{region}/{snap-id}` → [`SnapshotRecord`]
//! * `ebs_ids`        `{vol-…|snap-…}` → `{account}/{region}`: lookups by id alone
//! * `ebs_shares`     `{recipient account}/{region}/{snap-id}` → empty: snapshots shared with
//!   an account (createVolumePermission), for its DescribeSnapshots
//! * `ebs_lineages`   `{lineage id}` → [`LineageRecord`]
//! * `ebs_blocks`     `{resource id}/{index, 10 digits}` → [`BlockRef`]: manifests of volumes
//!   and snapshots, index order
//! * `ebs_settings`   `{account}/{region}` → [`RegionSettings`]
//! * `ebs_jobs`       `{target id}` → [`JobRecord`]
//! * `ebs_tokens`     `{account}/{region}/{client token}` → [`ClientTokenRecord`] (StartSnapshot
//!   idempotency)
//! * `ebs_copy_map`   `{destination lineage}/{source blob}` → destination blob: what an earlier
//!   copy of the same lineage to the same destination already re-encrypted (incremental copy)
//! * `ebs_lineage_map` `{source lineage}/{account}/{region}/{key ARN or -}` → destination
//!   lineage, so later copies to the same destination and key reuse it
//!
//! Every record is versioned ([`kmsnap_store::encode_record`]); every write is one durable
//! transaction, with its audit event.

use crate::error::EbsError;
use crate::model::*;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{decode_record, encode_record, ReadTxn, WriteTxn};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const T_VOLUMES: &str = "ebs_volumes";
pub const T_SNAPSHOTS: &str = "ebs_snapshots";
pub const T_IDS: &str = "ebs_ids";
pub const T_SHARES: &str = "ebs_shares";
pub const T_LINEAGES: &str = "ebs_lineages";
pub const T_BLOCKS: &str = "ebs_blocks";
pub const T_SETTINGS: &str = "ebs_settings";
pub const T_JOBS: &str = "ebs_jobs";
pub const T_TOKENS: &str = "ebs_tokens";
pub const T_COPY_MAP: &str = "ebs_copy_map";
pub const T_LINEAGE_MAP: &str = "ebs_lineage_map";

pub fn scoped(account: AccountId, region: Region, id: &str) -> Vec<u8> {
    format!("{account}/{region}/{id}").into_bytes()
}

pub fn block_key(resource: &str, index: u64) -> Vec<u8> {
    format!("{resource}/{index:010}").into_bytes()
}

fn get<T: DeserializeOwned>(
    txn: &dyn ReadTxn,
    table: &str,
    key: &[u8],
) -> Result<Option<T>, EbsError> {
    match txn.get(table, key)? {
        Some(r) => Ok(Some(decode_record::<T>(&r.value)?.1)),
        None => Ok(None),
    }
}

fn put<T: Serialize>(
    txn: &mut dyn WriteTxn,
    table: &str,
    key: &[u8],
    version: u16,
    v: &T,
) -> Result<(), EbsError> {
    txn.put(table, key, &encode_record(version, v)?)?;
    Ok(())
}

/// Where an id lives.
pub fn locate(txn: &dyn ReadTxn, id: &str) -> Result<Option<(AccountId, Region)>, EbsError> {
    let Some(r) = txn.get(T_IDS, id.as_bytes())? else {
        return Ok(None);
    };
    let s = String::from_utf8_lossy(&r.value);
    let (a, reg) = s
        .split_once('/')
        .ok_or(EbsError::Internal("corrupt id index"))?;
    let account = AccountId::parse(a).map_err(|_| EbsError::Internal("corrupt id index"))?;
    let region = Region::parse(reg).map_err(|_| EbsError::Internal("corrupt id index"))?;
    Ok(Some((account, region)))
}

pub fn get_volume(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<VolumeRecord>, EbsError> {
    get(txn, T_VOLUMES, &scoped(account, region, id))
}

pub fn put_volume(txn: &mut dyn WriteTxn, v: &VolumeRecord) -> Result<(), EbsError> {
    txn.put(
        T_IDS,
        v.id.as_bytes(),
        format!("{}/{}", v.account, v.region).as_bytes(),
    )?;
    put(
        txn,
        T_VOLUMES,
        &scoped(v.account, v.region, &v.id),
        VOLUME_VERSION,
        v,
    )
}

pub fn delete_volume(txn: &mut dyn WriteTxn, v: &VolumeRecord) -> Result<(), EbsError> {
    txn.delete(T_IDS, v.id.as_bytes())?;
    txn.delete(T_VOLUMES, &scoped(v.account, v.region, &v.id))?;
    Ok(())
}

pub fn get_snapshot(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<SnapshotRecord>, EbsError> {
    get(txn, T_SNAPSHOTS, &scoped(account, region, id))
}

/// A snapshot by id alone (any account; visibility is the caller's business).
pub fn find_snapshot(txn: &dyn ReadTxn, id: &str) -> Result<Option<SnapshotRecord>, EbsError> {
    match locate(txn, id)? {
        Some((account, region)) => get_snapshot(txn, account, region, id),
        None => Ok(None),
    }
}

/// Writes a snapshot and keeps the share index in step with its permissions.
pub fn put_snapshot(txn: &mut dyn WriteTxn, s: &SnapshotRecord) -> Result<(), EbsError> {
    let before: Option<SnapshotRecord> = get_snapshot(&*txn, s.account, s.region, &s.id)?;
    if let Some(old) = &before {
        for u in &old.permissions.users {
            if !s.permissions.users.contains(u) {
                txn.delete(T_SHARES, &scoped(*u, s.region, &s.id))?;
            }
        }
    }
    for u in &s.permissions.users {
        txn.put(T_SHARES, &scoped(*u, s.region, &s.id), b"")?;
    }
    txn.put(
        T_IDS,
        s.id.as_bytes(),
        format!("{}/{}", s.account, s.region).as_bytes(),
    )?;
    put(
        txn,
        T_SNAPSHOTS,
        &scoped(s.account, s.region, &s.id),
        SNAPSHOT_VERSION,
        s,
    )
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, s: &SnapshotRecord) -> Result<(), EbsError> {
    for u in &s.permissions.users {
        txn.delete(T_SHARES, &scoped(*u, s.region, &s.id))?;
    }
    txn.delete(T_IDS, s.id.as_bytes())?;
    txn.delete(T_SNAPSHOTS, &scoped(s.account, s.region, &s.id))?;
    Ok(())
}

/// Snapshots of `account` in `region`, id order.
pub fn snapshots_of(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<SnapshotRecord>, EbsError> {
    let prefix = format!("{account}/{region}/");
    let mut out = Vec::new();
    for (_, r) in txn.scan(T_SNAPSHOTS, prefix.as_bytes(), None, usize::MAX)? {
        out.push(decode_record::<SnapshotRecord>(&r.value)?.1);
    }
    Ok(out)
}

/// Snapshots shared with `account` in `region` (by others).
pub fn shared_with(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<SnapshotRecord>, EbsError> {
    let prefix = format!("{account}/{region}/");
    let mut out = Vec::new();
    for (k, _) in txn.scan(T_SHARES, prefix.as_bytes(), None, usize::MAX)? {
        let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        if let Some(s) = find_snapshot(txn, &id)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Volumes of `account` in `region`, id order.
pub fn volumes_of(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<VolumeRecord>, EbsError> {
    let prefix = format!("{account}/{region}/");
    let mut out = Vec::new();
    for (_, r) in txn.scan(T_VOLUMES, prefix.as_bytes(), None, usize::MAX)? {
        out.push(decode_record::<VolumeRecord>(&r.value)?.1);
    }
    Ok(out)
}

pub fn get_lineage(txn: &dyn ReadTxn, id: &str) -> Result<Option<LineageRecord>, EbsError> {
    get(txn, T_LINEAGES, id.as_bytes())
}

pub fn put_lineage(txn: &mut dyn WriteTxn, l: &LineageRecord) -> Result<(), EbsError> {
    put(txn, T_LINEAGES, l.id.as_bytes(), LINEAGE_VERSION, l)
}

pub fn get_block(
    txn: &dyn ReadTxn,
    resource: &str,
    index: u64,
) -> Result<Option<BlockRef>, EbsError> {
    get(txn, T_BLOCKS, &block_key(resource, index))
}

pub fn put_block(
    txn: &mut dyn WriteTxn,
    resource: &str,
    index: u64,
    b: &BlockRef,
) -> Result<(), EbsError> {
    put(txn, T_BLOCKS, &block_key(resource, index), BLOCK_VERSION, b)
}

/// A page of a manifest: blocks with index ≥ `from`, at most `limit`, index order.
pub fn blocks_from(
    txn: &dyn ReadTxn,
    resource: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, BlockRef)>, EbsError> {
    let prefix = format!("{resource}/");
    let start_after = from.checked_sub(1).map(|i| block_key(resource, i));
    let mut out = Vec::new();
    for (k, r) in txn.scan(T_BLOCKS, prefix.as_bytes(), start_after.as_deref(), limit)? {
        let idx = std::str::from_utf8(&k[prefix.len()..])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(EbsError::Internal("corrupt block key"))?;
        out.push((idx, decode_record::<BlockRef>(&r.value)?.1));
    }
    Ok(out)
}

pub fn count_blocks(txn: &dyn ReadTxn, resource: &str) -> Result<u64, EbsError> {
    Ok(txn.count(T_BLOCKS, format!("{resource}/").as_bytes())?)
}

/// Drops a manifest (the blobs stay: other manifests may share them; the blob collector,
/// [`crate::gc`], deletes those no manifest names any more).
pub fn delete_blocks(txn: &mut dyn WriteTxn, resource: &str) -> Result<u64, EbsError> {
    let mut n = 0;
    loop {
        let page = blocks_from(&*txn, resource, 0, 4096)?;
        if page.is_empty() {
            return Ok(n);
        }
        for (i, _) in &page {
            txn.delete(T_BLOCKS, &block_key(resource, *i))?;
            n += 1;
        }
    }
}

pub fn get_settings(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<RegionSettings, EbsError> {
    Ok(get(txn, T_SETTINGS, format!("{account}/{region}").as_bytes())?.unwrap_or_default())
}

pub fn put_settings(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    s: &RegionSettings,
) -> Result<(), EbsError> {
    put(
        txn,
        T_SETTINGS,
        format!("{account}/{region}").as_bytes(),
        SETTINGS_VERSION,
        s,
    )
}

pub fn get_job(txn: &dyn ReadTxn, target: &str) -> Result<Option<JobRecord>, EbsError> {
    get(txn, T_JOBS, target.as_bytes())
}

pub fn put_job(txn: &mut dyn WriteTxn, j: &JobRecord) -> Result<(), EbsError> {
    put(txn, T_JOBS, j.target.as_bytes(), JOB_VERSION, j)
}

pub fn delete_job(txn: &mut dyn WriteTxn, target: &str) -> Result<(), EbsError> {
    txn.delete(T_JOBS, target.as_bytes())?;
    Ok(())
}

/// Every pending job, oldest key first.
pub fn jobs(txn: &dyn ReadTxn, limit: usize) -> Result<Vec<JobRecord>, EbsError> {
    let mut out = Vec::new();
    for (_, r) in txn.scan(T_JOBS, b"", None, limit)? {
        out.push(decode_record::<JobRecord>(&r.value)?.1);
    }
    Ok(out)
}

/// `ebs_lineage_map` key: a copy of `source_lineage` into `account`/`region` under `key_arn`.
fn lineage_map_key(
    source_lineage: &str,
    account: AccountId,
    region: Region,
    key_arn: Option<&str>,
) -> Vec<u8> {
    format!(
        "{source_lineage}/{account}/{region}/{}",
        key_arn.unwrap_or("-")
    )
    .into_bytes()
}

/// The destination lineage an earlier copy of `source_lineage` to the same account, region and
/// key started (so a later copy reuses it and its `ebs_copy_map`).
pub fn get_lineage_map(
    txn: &dyn ReadTxn,
    source_lineage: &str,
    account: AccountId,
    region: Region,
    key_arn: Option<&str>,
) -> Result<Option<String>, EbsError> {
    let r = txn.get(
        T_LINEAGE_MAP,
        &lineage_map_key(source_lineage, account, region, key_arn),
    )?;
    Ok(r.map(|r| String::from_utf8_lossy(&r.value).into_owned()))
}

pub fn put_lineage_map(
    txn: &mut dyn WriteTxn,
    source_lineage: &str,
    account: AccountId,
    region: Region,
    key_arn: Option<&str>,
    dest: &str,
) -> Result<(), EbsError> {
    txn.put(
        T_LINEAGE_MAP,
        &lineage_map_key(source_lineage, account, region, key_arn),
        dest.as_bytes(),
    )?;
    Ok(())
}

fn copy_map_key(dest_lineage: &str, source_blob: &str) -> Vec<u8> {
    format!("{dest_lineage}/{source_blob}").into_bytes()
}

/// The blob an earlier copy into `dest_lineage` re-encrypted `source_blob` to.
pub fn get_copy_map(
    txn: &dyn ReadTxn,
    dest_lineage: &str,
    source_blob: &str,
) -> Result<Option<String>, EbsError> {
    let r = txn.get(T_COPY_MAP, &copy_map_key(dest_lineage, source_blob))?;
    Ok(r.map(|r| String::from_utf8_lossy(&r.value).into_owned()))
}

pub fn put_copy_map(
    txn: &mut dyn WriteTxn,
    dest_lineage: &str,
    source_blob: &str,
    dest_blob: &str,
) -> Result<(), EbsError> {
    txn.put(
        T_COPY_MAP,
        &copy_map_key(dest_lineage, source_blob),
        dest_blob.as_bytes(),
    )?;
    Ok(())
}

pub fn get_client_token(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    token: &str,
) -> Result<Option<ClientTokenRecord>, EbsError> {
    get(txn, T_TOKENS, &scoped(account, region, token))
}

pub fn put_client_token(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    token: &str,
    t: &ClientTokenRecord,
) -> Result<(), EbsError> {
    put(
        txn,
        T_TOKENS,
        &scoped(account, region, token),
        CLIENT_TOKEN_VERSION,
        t,
    )
}
