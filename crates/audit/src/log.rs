//! The append-only, hash-chained log in the MetaStore.
//!
//! Tables:
//! - `audit_log`: records in global sequence order (from 1), each keyed by the sequence number
//!   (u64 big-endian) of the first record its value holds. A value is either one record, a
//!   versioned JSON [`LogRecord`] `{seq, prev_hash, hash, account, region, time_ms, event}`
//!   (written by [`append`], inside the caller's transaction, and by the direct-mode writer),
//!   or a *pack* of up to 64 consecutive records in a binary frame (written by the audit
//!   journal's mover, see `pack.rs`). Either way every record has `event`, the canonical JSON
//!   of one recipient's copy of the event, and `hash = SHA-256(prev_hash ‖ event bytes)` (the
//!   first record's `prev_hash` is 32 zero bytes). The event JSON carries
//!   `recipientAccountId` and `awsRegion`, so the hash covers where the record is filed.
//! - `audit_head`: key `head` → `{seq, hash}` of the last record; key `journal` → `{moved}`, the
//!   audit journal's sequence number up to which its records are in the log (written in the
//!   same transaction as those records; see `journal.rs`).
//! - `audit_idx`: `{account}/{region}/{inverted epoch ms, 16 digits}/{seq, 20 digits}` → the
//!   record's seq (u64 big-endian), followed for a packed record by its pack's key, so a prefix
//!   scan of one account and Region walks its events newest first and reaches each record with
//!   one read.
//!
//! Records are written only by [`append`] and [`append_filed`] (the journal's mover and the
//! writer), inside the caller's write transaction: the record commits or aborts with the effect
//! it describes.

use crate::error::AuditError;
use crate::event::Event;
use crate::pack::{self, PackBuf, PackedRecord};
use kmsnap_store::{table, MetaStore, ReadTxn, Table, Versioned, WriteTxn};
use serde::{Deserialize, Serialize};
use std::io::Write;

pub const LOG_TABLE: &str = "audit_log";
pub const HEAD_TABLE: &str = "audit_head";
pub const INDEX_TABLE: &str = "audit_idx";
/// Schema version of [`LogRecord`] and the head record.
pub const RECORD_VERSION: u16 = <LogRecord as Versioned>::VERSION;

const HEAD_KEY: &[u8] = b"head";
/// `audit_head` key of the journal position moved into the log (see [`journal_moved`]).
const JOURNAL_KEY: &[u8] = b"journal";
const GENESIS: [u8; 32] = [0; 32];
/// 10^16 − 1: inverted times are `INVERT − ms`, 16 digits for any time before year 2286.
const INVERT: i64 = 9_999_999_999_999_999;
/// `audit_log` values read per scan page: packs are up to ~100 KiB each.
const SCAN_PAGE: usize = 32;

/// One stored record of `audit_log`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    pub seq: u64,
    /// Hex SHA-256 of the previous record (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256(prev_hash ‖ event).
    pub hash: String,
    /// The recipient account whose trail holds this copy.
    pub account: String,
    pub region: String,
    pub time_ms: i64,
    /// The canonical event JSON, exactly the bytes hashed.
    pub event: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The records of `audit_head`: key `head` holds a [`Head`], key `journal` a [`JournalMoved`].
const HEADS: Table<Head> = Table::new(HEAD_TABLE);
const MOVED: Table<JournalMoved> = Table::new(HEAD_TABLE);

// Every audit record is still in its first shape (RECORD_VERSION).
kmsnap_store::first_version!(LogRecord, Head, JournalMoved);

fn chain_hash(prev: &[u8], event: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev);
    ctx.update(event);
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub(crate) fn index_prefix(account: &str, region: &str) -> String {
    format!("{account}/{region}/")
}

pub(crate) fn inverted(ms: i64) -> i64 {
    INVERT - ms.clamp(0, INVERT)
}

fn index_key(account: &str, region: &str, time_ms: i64, seq: u64) -> String {
    let mut key = String::with_capacity(64);
    write_index_key(&mut key, account, region, time_ms, seq);
    key
}

fn write_index_key(out: &mut String, account: &str, region: &str, time_ms: i64, seq: u64) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{account}/{region}/{:016}/{:020}",
        inverted(time_ms),
        seq
    );
}

fn read_head(txn: &dyn ReadTxn) -> Result<Option<Head>, AuditError> {
    Ok(HEADS.get(txn, HEAD_KEY)?)
}

/// One record as read back from `audit_log`, whichever layout holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub account: String,
    pub region: String,
    pub time_ms: i64,
    pub event: String,
}

fn corrupt(seq: u64, detail: impl Into<String>) -> AuditError {
    AuditError::Corrupt {
        seq,
        detail: detail.into(),
    }
}

fn hash_from_hex(seq: u64, what: &str, h: &str) -> Result<[u8; 32], AuditError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).map_err(|e| corrupt(seq, format!("{what}: {e}")))?;
    Ok(out)
}

/// The records of the `audit_log` value stored under `key` (a single JSON record, or a pack
/// whose records are `key`, `key + 1`, …), in order. A single record's own `seq` is returned
/// as stored (the caller checks it against the key).
pub(crate) fn decode_log(key: u64, bytes: &[u8]) -> Result<Vec<Stored>, AuditError> {
    if pack::is_pack(bytes) {
        let p = pack::parse(bytes).map_err(|e| corrupt(key, e))?;
        let mut prev = p.prev_hash;
        let mut out = Vec::with_capacity(p.records.len());
        for (i, r) in p.records.iter().enumerate() {
            let seq = key
                .checked_add(i as u64)
                .ok_or_else(|| corrupt(key, "pack runs past the last sequence number"))?;
            out.push(Stored {
                seq,
                prev_hash: prev,
                hash: r.hash,
                account: r.account.to_owned(),
                region: r.region.to_owned(),
                time_ms: r.time_ms,
                event: r.event.to_owned(),
            });
            prev = r.hash;
        }
        return Ok(out);
    }
    let r = table::decode::<LogRecord>(bytes).map_err(|e| corrupt(key, e.to_string()))?;
    Ok(vec![Stored {
        seq: r.seq,
        prev_hash: hash_from_hex(key, "prev_hash", &r.prev_hash)?,
        hash: hash_from_hex(key, "hash", &r.hash)?,
        account: r.account,
        region: r.region,
        time_ms: r.time_ms,
        event: r.event,
    }])
}

/// One recipient's copy of an event, serialised once: what the log stores per record (and the
/// audit journal carries until the record reaches the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filed {
    /// The recipient account whose trail holds this copy (`recipientAccountId`).
    pub account: String,
    pub region: String,
    pub time_ms: i64,
    /// The canonical event JSON, exactly the bytes the chain hashes.
    pub event: String,
}

impl Filed {
    /// The copies of `event` for each of its recipients ([`Event::recipients`]), each with
    /// `recipientAccountId` set to that account, appended to `out`.
    pub(crate) fn file_into(event: &Event, out: &mut Vec<Filed>) -> Result<(), AuditError> {
        let time_ms = event.event_time.timestamp_millis();
        for account in event.recipients() {
            // The event as filed for `account`; a copy only when that changes it (the
            // resource owner's copy of a cross-account call).
            let copy;
            let filed = if event.recipient_account_id == account {
                event
            } else {
                let mut c = event.clone();
                c.recipient_account_id.clone_from(&account);
                copy = c;
                &copy
            };
            // Most events are 1–2 KiB; one allocation instead of serde_json's doublings.
            let mut json = Vec::with_capacity(2048);
            serde_json::to_writer(&mut json, filed).map_err(|e| AuditError::Encode {
                detail: e.to_string(),
            })?;
            let event = String::from_utf8(json).map_err(|e| AuditError::Encode {
                detail: e.to_string(),
            })?;
            out.push(Filed {
                account,
                region: filed.aws_region.clone(),
                time_ms,
                event,
            });
        }
        Ok(())
    }

    /// [`Filed::file_into`] for many events.
    pub(crate) fn file_all(events: &[Event]) -> Result<Vec<Filed>, AuditError> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            Filed::file_into(e, &mut out)?;
        }
        Ok(out)
    }
}

/// How [`append_filed`] stores records in `audit_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One JSON [`LogRecord`] per record (transactional appends of a call's own records, the
    /// direct-mode writer).
    Single,
    /// Packs of consecutive records (the journal's mover: many records per transaction).
    Packed,
}

/// Appends `events` to the log inside `txn` (the caller's transaction): one record per
/// recipient account of each event ([`Event::recipients`]), each with `recipientAccountId`
/// set to that account. Nothing is visible until the caller commits; an aborted transaction
/// leaves no trace.
pub fn append(txn: &mut dyn WriteTxn, events: &[Event]) -> Result<(), AuditError> {
    if events.is_empty() {
        return Ok(());
    }
    append_filed(txn, &Filed::file_all(events)?, Layout::Single)
}

/// The `audit_idx` value of record `seq`: the seq, then for a packed record its pack's key.
pub(crate) fn index_value(seq: u64, pack: Option<u64>) -> ([u8; 16], usize) {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&seq.to_be_bytes());
    match pack {
        None => (v, 8),
        Some(p) => {
            v[8..].copy_from_slice(&p.to_be_bytes());
            (v, 16)
        }
    }
}

/// `(seq, audit_log key of the value holding it)` from an `audit_idx` value.
pub(crate) fn parse_index_value(v: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    match v.len() {
        8 => Some((seq, seq)),
        16 => Some((seq, u64::from_be_bytes(v.get(8..16)?.try_into().ok()?))),
        _ => None,
    }
}

/// Appends already-filed records, in order, inside `txn`.
pub(crate) fn append_filed<'a>(
    txn: &mut dyn WriteTxn,
    records: impl IntoIterator<Item = &'a Filed>,
    layout: Layout,
) -> Result<(), AuditError> {
    let (mut seq, mut prev) = match read_head(txn)? {
        None => (0u64, GENESIS),
        Some(h) => {
            let mut p = [0u8; 32];
            hex::decode_to_slice(&h.hash, &mut p).map_err(|e| AuditError::Corrupt {
                seq: h.seq,
                detail: format!("head hash: {e}"),
            })?;
            (h.seq, p)
        }
    };
    let start = seq;
    // Reused across records: the encoded log record or pack, and the index key.
    let mut value = Vec::with_capacity(if layout == Layout::Single { 4096 } else { 0 });
    let mut pack = PackBuf::default();
    let mut key = String::with_capacity(64);
    for filed in records {
        let hash = chain_hash(&prev, filed.event.as_bytes());
        seq += 1;
        let in_pack = match layout {
            Layout::Single => {
                let rec = LogRecordRef {
                    seq,
                    prev_hash: &hex::encode(prev),
                    hash: &hex::encode(hash),
                    account: &filed.account,
                    region: &filed.region,
                    time_ms: filed.time_ms,
                    event: &filed.event,
                };
                value.clear();
                encode_record_into(LogRecord::VERSION, &rec, &mut value)?;
                txn.put(LOG_TABLE, &seq.to_be_bytes(), &value)?;
                None
            }
            Layout::Packed => {
                if pack.is_empty() {
                    pack.begin(seq, &prev);
                }
                pack.push(&PackedRecord {
                    account: &filed.account,
                    region: &filed.region,
                    time_ms: filed.time_ms,
                    hash,
                    event: &filed.event,
                })?;
                Some(pack.first())
            }
        };
        key.clear();
        write_index_key(&mut key, &filed.account, &filed.region, filed.time_ms, seq);
        let (v, n) = index_value(seq, in_pack);
        txn.put(INDEX_TABLE, key.as_bytes(), &v[..n])?;
        prev = hash;
        if pack.is_full() {
            put_pack(txn, &mut pack)?;
        }
    }
    if !pack.is_empty() {
        put_pack(txn, &mut pack)?;
    }
    if seq == start {
        return Ok(());
    }
    let head = Head {
        seq,
        hash: hex::encode(prev),
    };
    HEADS.put(txn, HEAD_KEY, &head)?;
    Ok(())
}

/// Stores the pack being built and empties the builder.
fn put_pack(txn: &mut dyn WriteTxn, pack: &mut PackBuf) -> Result<(), AuditError> {
    let key = pack.first().to_be_bytes();
    txn.put(LOG_TABLE, &key, pack.finish())?;
    pack.clear();
    Ok(())
}

/// [`LogRecord`] borrowed, for encoding without copying the event.
#[derive(Serialize)]
struct LogRecordRef<'a> {
    seq: u64,
    prev_hash: &'a str,
    hash: &'a str,
    account: &'a str,
    region: &'a str,
    time_ms: i64,
    event: &'a str,
}

/// `encode_record` into a reused buffer (the same bytes).
fn encode_record_into<T: Serialize>(
    version: u16,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), AuditError> {
    out.push(kmsnap_store::RECORD_FORMAT);
    out.extend_from_slice(&version.to_be_bytes());
    serde_json::to_writer(&mut *out, value).map_err(|e| AuditError::Encode {
        detail: e.to_string(),
    })
}

/// The journal position (audit journal sequence number) up to which journal records are in the
/// log; 0 when none ever were. Written by [`set_journal_moved`] in the transaction that appends
/// them, so a record is moved exactly once.
pub(crate) fn journal_moved(txn: &dyn ReadTxn) -> Result<u64, AuditError> {
    Ok(MOVED.get(txn, JOURNAL_KEY)?.map_or(0, |m| m.moved))
}

pub(crate) fn set_journal_moved(txn: &mut dyn WriteTxn, moved: u64) -> Result<(), AuditError> {
    MOVED.put(txn, JOURNAL_KEY, &JournalMoved { moved })?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalMoved {
    moved: u64,
}

/// The result of [`verify`]: how many records were checked and the first one that breaks the
/// chain, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub first_broken: Option<(u64, String)>,
}

/// Walks the whole log in sequence order and checks, for each record: its key matches its
/// `seq` and sequence numbers are contiguous from 1 (a pack's records are its key and the
/// numbers after it); it decodes; its `prev_hash` is the previous record's hash; its `hash` is
/// SHA-256(prev_hash ‖ event); the event JSON parses and its
/// `recipientAccountId`/`awsRegion`/`eventTime` match where the record is filed, and its lookup
/// index row exists and leads to it. Finally the head must point at the last record. Stops at
/// the first broken record.
pub fn verify(store: &dyn MetaStore) -> Result<VerifyReport, AuditError> {
    let txn = store.read()?;
    let mut records = 0u64;
    let mut prev = GENESIS;
    let mut expected = 1u64;
    let mut after: Option<Vec<u8>> = None;
    let broken = |seq: u64, records: u64, reason: String| VerifyReport {
        records,
        first_broken: Some((seq, reason)),
    };
    loop {
        let page = txn.scan(LOG_TABLE, b"", after.as_deref(), SCAN_PAGE)?;
        let Some((last_key, _)) = page.last() else {
            break;
        };
        let next_after = last_key.clone();
        for (key, rec) in page {
            let Ok(key_bytes) = <[u8; 8]>::try_from(key.as_slice()) else {
                return Ok(broken(
                    expected,
                    records,
                    format!("malformed key of {} bytes", key.len()),
                ));
            };
            let key_seq = u64::from_be_bytes(key_bytes);
            if key_seq != expected {
                return Ok(broken(
                    expected,
                    records,
                    format!("record missing (next stored record is {key_seq})"),
                ));
            }
            let stored = match decode_log(key_seq, &rec.value) {
                Ok(r) => r,
                Err(e) => return Ok(broken(key_seq, records, format!("undecodable: {e}"))),
            };
            let packed = pack::is_pack(&rec.value).then_some(key_seq);
            for r in stored {
                if r.seq != expected {
                    return Ok(broken(
                        expected,
                        records,
                        format!("stored seq {} differs from its key", r.seq),
                    ));
                }
                if let Err(reason) = check_record(&*txn, &r, &prev, packed)? {
                    return Ok(broken(r.seq, records, reason));
                }
                prev = r.hash;
                records += 1;
                expected += 1;
            }
        }
        after = Some(next_after);
    }
    match read_head(&*txn) {
        Err(e) => return Ok(broken(expected, records, format!("head record: {e}"))),
        Ok(None) if records > 0 => {
            return Ok(broken(expected, records, "head record missing".into()))
        }
        Ok(None) => {}
        Ok(Some(h)) => {
            if h.seq != records {
                let at = h.seq.min(records) + 1;
                return Ok(broken(
                    at,
                    records,
                    format!(
                        "head points at record {} but the log ends at {records}",
                        h.seq
                    ),
                ));
            }
            if h.hash != hex::encode(prev) {
                return Ok(broken(
                    h.seq,
                    records,
                    "head hash differs from the last record's".into(),
                ));
            }
        }
    }
    Ok(VerifyReport {
        records,
        first_broken: None,
    })
}

/// The checks of one record `r` (see [`verify`]) that follows the chain hash `prev`: the
/// reason it is broken, if it is.
fn check_record(
    txn: &dyn ReadTxn,
    r: &Stored,
    prev: &[u8; 32],
    pack: Option<u64>,
) -> Result<Result<(), String>, AuditError> {
    if r.prev_hash != *prev {
        return Ok(Err(
            "prev_hash does not match the previous record's hash".into()
        ));
    }
    if r.hash != chain_hash(prev, r.event.as_bytes()) {
        return Ok(Err("hash mismatch (record content changed)".into()));
    }
    let ev = match serde_json::from_str::<Event>(&r.event) {
        Ok(ev) => ev,
        Err(e) => return Ok(Err(format!("event JSON: {e}"))),
    };
    if ev.recipient_account_id != r.account || ev.aws_region != r.region {
        return Ok(Err("account/region differ from the event's".into()));
    }
    // time_ms is outside the hash: it must agree with the hashed eventTime (whole seconds).
    if r.time_ms.div_euclid(1000) != ev.event_time.timestamp() {
        return Ok(Err("stored time differs from the event's".into()));
    }
    // The lookup index is derived data, but a missing row would hide the event from
    // LookupEvents, so it is checked too.
    let idx = index_key(&r.account, &r.region, r.time_ms, r.seq);
    let (want, n) = index_value(r.seq, pack);
    match txn.get(INDEX_TABLE, idx.as_bytes())? {
        Some(v) if v.value == want[..n] => Ok(Ok(())),
        _ => Ok(Err("lookup index entry missing".into())),
    }
}

/// Writes every record's event JSON, in sequence order, one per line; returns how many.
pub fn export(store: &dyn MetaStore, out: &mut dyn Write) -> Result<u64, AuditError> {
    let txn = store.read()?;
    let mut n = 0u64;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan(LOG_TABLE, b"", after.as_deref(), SCAN_PAGE)?;
        let Some((last_key, _)) = page.last() else {
            break;
        };
        let next_after = last_key.clone();
        for (key, rec) in page {
            let seq = <[u8; 8]>::try_from(key.as_slice()).map_or(0, u64::from_be_bytes);
            for r in decode_log(seq, &rec.value)? {
                out.write_all(r.event.as_bytes())?;
                out.write_all(b"\n")?;
                n += 1;
            }
        }
        after = Some(next_after);
    }
    out.flush()?;
    Ok(n)
}
