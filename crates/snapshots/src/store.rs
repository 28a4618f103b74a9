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
//! Every record is versioned and upgrades on read: the tables of records are typed
//! ([`Table`], docs/storage.md §2; the chains are in [`crate::model`]). `ebs_ids`, `ebs_shares`
//! and the two maps hold plain text, not records. Every write is one durable transaction,
//! with its audit event.

use crate::error::EbsError;
use crate::model::*;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, Table, WriteTxn};

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

const VOLUMES: Table<VolumeRecord> = Table::new(T_VOLUMES);
const SNAPSHOTS: Table<SnapshotRecord> = Table::new(T_SNAPSHOTS);
const LINEAGES: Table<LineageRecord> = Table::new(T_LINEAGES);
const BLOCKS: Table<BlockRef> = Table::new(T_BLOCKS);
const SETTINGS: Table<RegionSettings> = Table::new(T_SETTINGS);
const JOBS: Table<JobRecord> = Table::new(T_JOBS);
const TOKENS: Table<ClientTokenRecord> = Table::new(T_TOKENS);

pub fn scoped(account: AccountId, region: Region, id: &str) -> Vec<u8> {
    format!("{account}/{region}/{id}").into_bytes()
}

pub fn block_key(resource: &str, index: u64) -> Vec<u8> {
    format!("{resource}/{index:010}").into_bytes()
}

/// A block key's resource id and index.
fn parse_block_key(key: &[u8]) -> Result<(&str, u64), EbsError> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.rsplit_once('/'))
        .and_then(|(resource, index)| Some((resource, index.parse::<u64>().ok()?)))
        .ok_or(EbsError::Internal("corrupt block key"))
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
    Ok(VOLUMES.get(txn, &scoped(account, region, id))?)
}

pub fn put_volume(txn: &mut dyn WriteTxn, v: &VolumeRecord) -> Result<(), EbsError> {
    txn.put(
        T_IDS,
        v.id.as_bytes(),
        format!("{}/{}", v.account, v.region).as_bytes(),
    )?;
    VOLUMES.put(txn, &scoped(v.account, v.region, &v.id), v)?;
    Ok(())
}

pub fn delete_volume(txn: &mut dyn WriteTxn, v: &VolumeRecord) -> Result<(), EbsError> {
    txn.delete(T_IDS, v.id.as_bytes())?;
    VOLUMES.delete(txn, &scoped(v.account, v.region, &v.id))?;
    Ok(())
}

pub fn get_snapshot(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Option<SnapshotRecord>, EbsError> {
    Ok(SNAPSHOTS.get(txn, &scoped(account, region, id))?)
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
    SNAPSHOTS.put(txn, &scoped(s.account, s.region, &s.id), s)?;
    Ok(())
}

pub fn delete_snapshot(txn: &mut dyn WriteTxn, s: &SnapshotRecord) -> Result<(), EbsError> {
    for u in &s.permissions.users {
        txn.delete(T_SHARES, &scoped(*u, s.region, &s.id))?;
    }
    txn.delete(T_IDS, s.id.as_bytes())?;
    SNAPSHOTS.delete(txn, &scoped(s.account, s.region, &s.id))?;
    Ok(())
}

/// Snapshots of `account` in `region`, id order.
pub fn snapshots_of(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<SnapshotRecord>, EbsError> {
    let prefix = format!("{account}/{region}/");
    all(SNAPSHOTS, txn, prefix.as_bytes())
}

/// Every snapshot of every account and region (those public in a region, expiring direct
/// snapshots).
pub fn all_snapshots(txn: &dyn ReadTxn) -> Result<Vec<SnapshotRecord>, EbsError> {
    all(SNAPSHOTS, txn, b"")
}

/// The records of `table` under `prefix`, key order.
fn all<R: kmsnap_store::Versioned>(
    table: Table<R>,
    txn: &dyn ReadTxn,
    prefix: &[u8],
) -> Result<Vec<R>, EbsError> {
    Ok(table
        .scan(txn, prefix, None, usize::MAX)?
        .into_iter()
        .map(|(_, _, r)| r)
        .collect())
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
    all(VOLUMES, txn, prefix.as_bytes())
}

pub fn get_lineage(txn: &dyn ReadTxn, id: &str) -> Result<Option<LineageRecord>, EbsError> {
    Ok(LINEAGES.get(txn, id.as_bytes())?)
}

pub fn put_lineage(txn: &mut dyn WriteTxn, l: &LineageRecord) -> Result<(), EbsError> {
    LINEAGES.put(txn, l.id.as_bytes(), l)?;
    Ok(())
}

pub fn get_block(
    txn: &dyn ReadTxn,
    resource: &str,
    index: u64,
) -> Result<Option<BlockRef>, EbsError> {
    Ok(BLOCKS.get(txn, &block_key(resource, index))?)
}

pub fn put_block(
    txn: &mut dyn WriteTxn,
    resource: &str,
    index: u64,
    b: &BlockRef,
) -> Result<(), EbsError> {
    BLOCKS.put(txn, &block_key(resource, index), b)?;
    Ok(())
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
    for (k, _, b) in BLOCKS.scan(txn, prefix.as_bytes(), start_after.as_deref(), limit)? {
        let idx = std::str::from_utf8(&k[prefix.len()..])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(EbsError::Internal("corrupt block key"))?;
        out.push((idx, b));
    }
    Ok(out)
}

/// Calls `f` with every manifest row of every resource (resource id, index, block), key
/// order, reading `txn` in pages.
pub fn for_each_block(
    txn: &dyn ReadTxn,
    mut f: impl FnMut(&str, u64, BlockRef) -> Result<(), EbsError>,
) -> Result<(), EbsError> {
    const PAGE: usize = 4096;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = BLOCKS.scan(txn, b"", after.as_deref(), PAGE)?;
        let full = page.len() == PAGE;
        for (k, _, b) in page {
            let (resource, index) = parse_block_key(&k)?;
            f(resource, index, b)?;
            after = Some(k);
        }
        if !full {
            return Ok(());
        }
    }
}

pub fn count_blocks(txn: &dyn ReadTxn, resource: &str) -> Result<u64, EbsError> {
    Ok(BLOCKS.count(txn, format!("{resource}/").as_bytes())?)
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
            BLOCKS.delete(txn, &block_key(resource, *i))?;
            n += 1;
        }
    }
}

pub fn get_settings(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<RegionSettings, EbsError> {
    Ok(SETTINGS
        .get(txn, format!("{account}/{region}").as_bytes())?
        .unwrap_or_default())
}

pub fn put_settings(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    s: &RegionSettings,
) -> Result<(), EbsError> {
    SETTINGS.put(txn, format!("{account}/{region}").as_bytes(), s)?;
    Ok(())
}

pub fn get_job(txn: &dyn ReadTxn, target: &str) -> Result<Option<JobRecord>, EbsError> {
    Ok(JOBS.get(txn, target.as_bytes())?)
}

pub fn put_job(txn: &mut dyn WriteTxn, j: &JobRecord) -> Result<(), EbsError> {
    JOBS.put(txn, j.target.as_bytes(), j)?;
    Ok(())
}

pub fn delete_job(txn: &mut dyn WriteTxn, target: &str) -> Result<(), EbsError> {
    JOBS.delete(txn, target.as_bytes())?;
    Ok(())
}

/// Every pending job, oldest key first.
pub fn jobs(txn: &dyn ReadTxn, limit: usize) -> Result<Vec<JobRecord>, EbsError> {
    Ok(JOBS
        .scan(txn, b"", None, limit)?
        .into_iter()
        .map(|(_, _, j)| j)
        .collect())
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
    Ok(TOKENS.get(txn, &scoped(account, region, token))?)
}

pub fn put_client_token(
    txn: &mut dyn WriteTxn,
    account: AccountId,
    region: Region,
    token: &str,
    t: &ClientTokenRecord,
) -> Result<(), EbsError> {
    TOKENS.put(txn, &scoped(account, region, token), t)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Records as earlier builds wrote them, byte for byte, read through the typed tables
    //! (docs/storage.md §2); records of the current version are written back unchanged.

    use super::*;
    use kmsnap_store::encode_record;

    const ACCOUNT: &str = "135713571357";
    const TOKYO: &str = "ap-northeast-1";

    fn at() -> (AccountId, Region) {
        (
            AccountId::parse(ACCOUNT).unwrap(),
            Region::parse(TOKYO).unwrap(),
        )
    }

    /// Stores `json` as a record of `version` under `table`/`key`, byte for byte as an
    /// earlier build did: format byte, big-endian version, the JSON.
    fn put_raw(txn: &mut dyn WriteTxn, table: &str, key: &[u8], version: u16, json: &str) {
        let header = [
            kmsnap_store::RECORD_FORMAT,
            (version >> 8) as u8,
            version as u8,
        ];
        txn.put(table, key, &[&header[..], json.as_bytes()].concat())
            .unwrap();
    }

    /// The bytes a current-version record has on disk are those it is written as again.
    fn rewrites_same_bytes(
        txn: &mut dyn WriteTxn,
        table: &str,
        key: &[u8],
        write: impl Fn(&mut dyn WriteTxn),
    ) {
        let before = txn.get(table, key).unwrap().unwrap().value;
        write(txn);
        assert_eq!(txn.get(table, key).unwrap().unwrap().value, before);
    }

    /// The key use version 1's `RdsCluster { dbc_id: "cluster-ABC" }` meant.
    fn cluster_use() -> Option<KeyUse> {
        Some(KeyUse::Service(ServiceUse::new(
            "rds.amazonaws.com",
            [("aws:rds:dbc-id", "cluster-ABC")],
        )))
    }

    const V1_SNAPSHOT: &str = r#"{"id":"snap-0123456789abcdef0","account":"135713571357","region":"ap-northeast-1","volume_id":"vol-ffffffff","volume_size":20,"state":"completed","state_message":null,"progress":100,"start_time":"2026-12-01T00:00:00Z","description":"","encrypted":true,"kms_key_arn":"arn:aws:kms:ap-northeast-1:135713571357:key/k","lineage":"lin-0123456789abcdef01234567","tags":[],"permissions":{"users":[],"public":false},"origin":"Volume","data_encryption_key_id":"d","completed":"2026-12-01T00:01:00Z","managed_by":{"RdsCluster":{"dbc_id":"cluster-ABC"}}}"#;

    #[test]
    fn snapshots_of_version_1_and_2_read() {
        let (meta, _) = kmsnap_store::open_memory();
        let mut txn = meta.write().unwrap();
        let (account, region) = at();
        let key = scoped(account, region, "snap-0123456789abcdef0");
        put_raw(txn.as_mut(), T_SNAPSHOTS, &key, 1, V1_SNAPSHOT);
        let s = get_snapshot(&*txn, account, region, "snap-0123456789abcdef0")
            .unwrap()
            .unwrap();
        assert_eq!(s.managed_by, cluster_use());
        assert_eq!(s.state, SnapshotState::Completed);
        assert_eq!(s.origin, SnapshotOrigin::Volume);
        // Version 1 from before managed storage (no `managed_by`): EBS's own.
        let mut oldest: serde_json::Value = serde_json::from_str(V1_SNAPSHOT).unwrap();
        oldest.as_object_mut().unwrap().remove("managed_by");
        txn.put(T_SNAPSHOTS, &key, &encode_record(1, &oldest).unwrap())
            .unwrap();
        let s = get_snapshot(&*txn, account, region, "snap-0123456789abcdef0")
            .unwrap()
            .unwrap();
        assert_eq!(s.managed_by, None);
        // Version 2, as written today.
        let v2 = V1_SNAPSHOT.replace(
            r#"{"RdsCluster":{"dbc_id":"cluster-ABC"}}"#,
            r#"{"Service":{"service":"rds.amazonaws.com","context":{"aws:rds:dbc-id":"cluster-ABC"}}}"#,
        );
        put_raw(txn.as_mut(), T_SNAPSHOTS, &key, 2, &v2);
        let read = get_snapshot(&*txn, account, region, "snap-0123456789abcdef0")
            .unwrap()
            .unwrap();
        assert_eq!(read.managed_by, cluster_use());
        rewrites_same_bytes(txn.as_mut(), T_SNAPSHOTS, &key, |t| {
            SNAPSHOTS.put(t, &key, &read).unwrap();
        });
        // Version 2 never holds version 1's variants.
        put_raw(txn.as_mut(), T_SNAPSHOTS, &key, 2, V1_SNAPSHOT);
        assert!(get_snapshot(&*txn, account, region, "snap-0123456789abcdef0").is_err());
    }

    #[test]
    fn volumes_and_lineages_of_version_2_write_back_the_same_bytes() {
        let (meta, _) = kmsnap_store::open_memory();
        let mut txn = meta.write().unwrap();
        let (account, region) = at();
        let volume = r#"{"id":"vol-0123456789abcdef0","account":"135713571357","region":"ap-northeast-1","availability_zone":"ap-northeast-1a","size_gib":20,"snapshot_id":"snap-0123456789abcdef0","state":"in-use","encrypted":true,"kms_key_arn":"arn:aws:kms:ap-northeast-1:135713571357:key/k","lineage":"lin-0123456789abcdef01234567","volume_type":"gp3","iops":3000,"throughput":null,"multi_attach":false,"created":"2026-12-01T00:00:00Z","tags":[["Name","db"]],"managed_by":{"Service":{"service":"rds.amazonaws.com","context":{"aws:rds:dbc-id":"cluster-ABC"}}}}"#;
        let vkey = scoped(account, region, "vol-0123456789abcdef0");
        put_raw(txn.as_mut(), T_VOLUMES, &vkey, 2, volume);
        let v = get_volume(&*txn, account, region, "vol-0123456789abcdef0")
            .unwrap()
            .unwrap();
        assert_eq!(v.managed_by, cluster_use());
        assert_eq!(v.state, VolumeState::InUse);
        rewrites_same_bytes(txn.as_mut(), T_VOLUMES, &vkey, |t| {
            put_volume(t, &v).unwrap()
        });

        let lineage = r#"{"id":"lin-0123456789abcdef01234567","account":"135713571357","region":"ap-northeast-1","kms_key_arn":null,"wrapped_data_key":null,"ec_resource":"vol-0123456789abcdef0","data_key_id":"d","created":"2026-12-01T00:00:00Z","key_use":"Ebs"}"#;
        put_raw(
            txn.as_mut(),
            T_LINEAGES,
            b"lin-0123456789abcdef01234567",
            2,
            lineage,
        );
        let l = get_lineage(&*txn, "lin-0123456789abcdef01234567")
            .unwrap()
            .unwrap();
        assert_eq!(l.key_use, KeyUse::Ebs);
        rewrites_same_bytes(
            txn.as_mut(),
            T_LINEAGES,
            b"lin-0123456789abcdef01234567",
            |t| put_lineage(t, &l).unwrap(),
        );
    }

    #[test]
    fn jobs_of_versions_1_to_3_read() {
        let (meta, _) = kmsnap_store::open_memory();
        let mut txn = meta.write().unwrap();
        let (account, region) = at();
        let v1 = r#"{"target":"snap-0123456789abcdef0","account":"135713571357","region":"ap-northeast-1","kind":{"Seal":{"volume_id":"vol-0123456789abcdef0"}},"cursor":7,"total_blocks":40,"done_blocks":7,"created":"2026-12-01T00:00:00Z"}"#;
        put_raw(txn.as_mut(), T_JOBS, b"snap-0123456789abcdef0", 1, v1);
        let j = get_job(&*txn, "snap-0123456789abcdef0").unwrap().unwrap();
        assert_eq!(j.caller, None);
        assert_eq!((j.account, j.region), (account, region));
        assert_eq!((j.cursor, j.total_blocks, j.done_blocks), (Some(7), 40, 7));
        assert_eq!(
            j.kind,
            JobKind::Seal {
                volume_id: "vol-0123456789abcdef0".into()
            }
        );
        // Version 2: a role-session caller without session policies or source identity.
        let caller = r#""caller":{"account":"135713571357","arn":"arn:aws:sts::135713571357:assumed-role/r/s","user_id":"AROAAAAAAAAAAAAAAAAAA:s","kind":{"AssumedRole":{"role_name":"r","role_arn":"arn:aws:iam::135713571357:role/r","session_name":"s"}},"access_key_id":"ASIAAAAAAAAAAAAAAAAA","source_ip":"127.0.0.1","user_agent":"cli"}"#;
        let v2 = v1.replace(
            r#""created":"2026-12-01T00:00:00Z""#,
            &format!(r#""created":"2026-12-01T00:00:00Z",{caller}"#),
        );
        put_raw(txn.as_mut(), T_JOBS, b"snap-0123456789abcdef0", 2, &v2);
        let j = get_job(&*txn, "snap-0123456789abcdef0").unwrap().unwrap();
        let principal = j.caller.as_ref().unwrap().principal();
        assert_eq!(principal.arn, "arn:aws:sts::135713571357:assumed-role/r/s");
        assert_eq!(principal.session_policy(), None);
        // Version 3 (today's): the same JSON, written back byte for byte.
        put_raw(txn.as_mut(), T_JOBS, b"snap-0123456789abcdef0", 3, &v2);
        let j3 = get_job(&*txn, "snap-0123456789abcdef0").unwrap().unwrap();
        assert_eq!(j3, j);
        rewrites_same_bytes(txn.as_mut(), T_JOBS, b"snap-0123456789abcdef0", |t| {
            put_job(t, &j3).unwrap();
        });
    }

    #[test]
    fn first_version_records_read_and_write_back_the_same_bytes() {
        let (meta, _) = kmsnap_store::open_memory();
        let mut txn = meta.write().unwrap();
        let (account, region) = at();
        let block =
            r#"{"blob":"ap-northeast-1/blocks/lin-1/0000000001","sha256":"ab","lineage":"lin-1"}"#;
        let bkey = block_key("snap-0123456789abcdef0", 1);
        put_raw(txn.as_mut(), T_BLOCKS, &bkey, 1, block);
        let b = get_block(&*txn, "snap-0123456789abcdef0", 1)
            .unwrap()
            .unwrap();
        assert_eq!(b.blob, "ap-northeast-1/blocks/lin-1/0000000001");
        rewrites_same_bytes(txn.as_mut(), T_BLOCKS, &bkey, |t| {
            put_block(t, "snap-0123456789abcdef0", 1, &b).unwrap();
        });

        let settings = r#"{"encryption_by_default":true,"default_key_arn":"arn:aws:kms:ap-northeast-1:135713571357:key/k"}"#;
        let skey = format!("{account}/{region}").into_bytes();
        put_raw(txn.as_mut(), T_SETTINGS, &skey, 1, settings);
        let s = get_settings(&*txn, account, region).unwrap();
        assert!(s.encryption_by_default);
        rewrites_same_bytes(txn.as_mut(), T_SETTINGS, &skey, |t| {
            put_settings(t, account, region, &s).unwrap();
        });

        let token = r#"{"snapshot_id":"snap-0123456789abcdef0","params_sha256":"cd"}"#;
        let tkey = scoped(account, region, "tok");
        put_raw(txn.as_mut(), T_TOKENS, &tkey, 1, token);
        let t = get_client_token(&*txn, account, region, "tok")
            .unwrap()
            .unwrap();
        assert_eq!(t.snapshot_id, "snap-0123456789abcdef0");
        rewrites_same_bytes(txn.as_mut(), T_TOKENS, &tkey, |w| {
            put_client_token(w, account, region, "tok", &t).unwrap();
        });
        // A version this build does not know is an error, not a guess.
        put_raw(txn.as_mut(), T_TOKENS, &tkey, 2, token);
        assert!(get_client_token(&*txn, account, region, "tok").is_err());
    }
}
