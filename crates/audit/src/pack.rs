//! Packs: the layout in which the audit mover stores its records in `audit_log`, several
//! consecutive records in one value (crates/store/FORMAT.md, "Audit log").
//!
//! Why: the mover appends tens of thousands of records per second. Stored one per value (a
//! JSON record holding the event JSON as an escaped string, hashes in hex), each record cost a
//! B-tree insert of a 1–2 KiB value, JSON escaping and hex encoding: ~8 µs of CPU per record,
//! about a sixth of a crypto call. A pack holds up to [`MAX_RECORDS`] records back to back in a
//! binary frame (the event bytes copied as they are, hashes raw), so the log costs one insert
//! per pack. The chain is unchanged: every record keeps its own hash, computed exactly as for a
//! single record, so `verify` still names the first broken record.
//!
//! A pack is keyed by the sequence number of its first record; record `i` of the pack has
//! sequence number `key + i`. Its index rows carry the pack's key next to the record's seq
//! (see `log.rs`), so LookupEvents finds the pack without searching.

use crate::error::AuditError;

/// First byte of a pack (a JSON record starts with `kmsnap_store::RECORD_FORMAT`, 'J').
pub(crate) const PACK_FORMAT: u8 = 0x50; // 'P'
/// Version of the pack layout.
pub(crate) const PACK_VERSION: u16 = 1;
/// Most records in one pack.
pub(crate) const MAX_RECORDS: usize = 64;
/// A pack is closed once its bytes reach this (so LookupEvents, which reads a whole pack to
/// return one of its records, never reads much more).
pub(crate) const MAX_BYTES: usize = 96 << 10;
/// Where the record count sits in the header `format u8 ‖ version u16 ‖ count u32 ‖
/// prev_hash [32]`.
const COUNT_AT: usize = 3;

/// One record of a parsed pack, borrowed from the value's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackedRecord<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub time_ms: i64,
    pub hash: [u8; 32],
    pub event: &'a str,
}

/// A parsed pack: the chain hash before its first record, and its records in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pack<'a> {
    pub prev_hash: [u8; 32],
    pub records: Vec<PackedRecord<'a>>,
}

/// Whether a stored `audit_log` value is a pack (rather than a single JSON record).
pub(crate) fn is_pack(bytes: &[u8]) -> bool {
    bytes.first() == Some(&PACK_FORMAT)
}

/// Builds one pack at a time (the buffer is reused across packs).
#[derive(Debug, Default)]
pub(crate) struct PackBuf {
    buf: Vec<u8>,
    first: u64,
    count: u32,
}

fn too_long(what: &str) -> AuditError {
    AuditError::Encode {
        detail: format!("audit record {what} too long for a pack"),
    }
}

impl PackBuf {
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Starts a pack whose first record will be `first`, chained after `prev_hash`.
    pub(crate) fn begin(&mut self, first: u64, prev_hash: &[u8; 32]) {
        self.buf.clear();
        self.buf.push(PACK_FORMAT);
        self.buf.extend_from_slice(&PACK_VERSION.to_be_bytes());
        self.buf.extend_from_slice(&0u32.to_be_bytes());
        self.buf.extend_from_slice(prev_hash);
        self.first = first;
        self.count = 0;
    }

    /// Drops the records (keeps the buffer).
    pub(crate) fn clear(&mut self) {
        self.count = 0;
    }

    /// Sequence number of the pack's first record (its key).
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// Appends the next record.
    pub(crate) fn push(&mut self, rec: &PackedRecord<'_>) -> Result<(), AuditError> {
        let account = u16::try_from(rec.account.len()).map_err(|_| too_long("account"))?;
        let region = u16::try_from(rec.region.len()).map_err(|_| too_long("region"))?;
        let event = u32::try_from(rec.event.len()).map_err(|_| too_long("event"))?;
        self.buf
            .reserve(2 + 2 + 8 + 32 + 4 + rec.account.len() + rec.region.len() + rec.event.len());
        self.buf.extend_from_slice(&account.to_be_bytes());
        self.buf.extend_from_slice(rec.account.as_bytes());
        self.buf.extend_from_slice(&region.to_be_bytes());
        self.buf.extend_from_slice(rec.region.as_bytes());
        self.buf.extend_from_slice(&rec.time_ms.to_be_bytes());
        self.buf.extend_from_slice(&rec.hash);
        self.buf.extend_from_slice(&event.to_be_bytes());
        self.buf.extend_from_slice(rec.event.as_bytes());
        self.count += 1;
        Ok(())
    }

    /// The pack can take no more records.
    pub(crate) fn is_full(&self) -> bool {
        self.count as usize >= MAX_RECORDS || self.buf.len() >= MAX_BYTES
    }

    /// The finished pack's value bytes.
    pub(crate) fn finish(&mut self) -> &[u8] {
        if let Some(c) = self.buf.get_mut(COUNT_AT..COUNT_AT + 4) {
            c.copy_from_slice(&self.count.to_be_bytes());
        }
        &self.buf
    }
}

/// Reads a pack sequentially; every read is bounds-checked.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(format!("pack truncated at byte {}", self.at));
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn str(&mut self, len: usize, what: &str) -> Result<&'a str, String> {
        let at = self.at;
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| format!("{what} at byte {at} is not UTF-8"))
    }
}

/// Parses a pack; a malformed one is an error naming what is wrong.
pub(crate) fn parse(bytes: &[u8]) -> Result<Pack<'_>, String> {
    let mut r = Reader { b: bytes, at: 0 };
    let [format] = r.array::<1>()?;
    if format != PACK_FORMAT {
        return Err(format!("not a pack (format byte {format:#04x})"));
    }
    let version = u16::from_be_bytes(r.array()?);
    if version != PACK_VERSION {
        return Err(format!("unknown pack version {version}"));
    }
    let count = u32::from_be_bytes(r.array()?) as usize;
    if count == 0 || count > MAX_RECORDS {
        return Err(format!("pack of {count} records"));
    }
    let prev_hash = r.array::<32>()?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let alen = usize::from(u16::from_be_bytes(r.array()?));
        let account = r.str(alen, "account")?;
        let rlen = usize::from(u16::from_be_bytes(r.array()?));
        let region = r.str(rlen, "region")?;
        let time_ms = i64::from_be_bytes(r.array()?);
        let hash = r.array::<32>()?;
        let elen = u32::from_be_bytes(r.array()?) as usize;
        let event = r.str(elen, "event")?;
        records.push(PackedRecord {
            account,
            region,
            time_ms,
            hash,
            event,
        });
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the last record",
            bytes.len() - r.at
        ));
    }
    Ok(Pack { prev_hash, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u8, event: &str) -> PackedRecord<'_> {
        PackedRecord {
            account: "111111111111",
            region: "us-east-1",
            time_ms: 1_795_000_000_000 + i64::from(i),
            hash: [i; 32],
            event,
        }
    }

    fn build(prev: [u8; 32], recs: &[PackedRecord<'_>]) -> Vec<u8> {
        let mut p = PackBuf::default();
        p.begin(7, &prev);
        for r in recs {
            p.push(r).unwrap();
        }
        assert_eq!(p.first(), 7);
        p.finish().to_vec()
    }

    #[test]
    fn round_trip() {
        let events = [
            "{\"a\":1}".to_owned(),
            "{\"é\":\"\\\"x\"}".to_owned(),
            String::new(),
        ];
        let recs: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(i, e)| rec(i as u8, e))
            .collect();
        let bytes = build([9; 32], &recs);
        assert!(is_pack(&bytes));
        let pack = parse(&bytes).unwrap();
        assert_eq!(pack.prev_hash, [9; 32]);
        assert_eq!(pack.records, recs);
    }

    #[test]
    fn buffer_is_reused_cleanly() {
        let mut p = PackBuf::default();
        assert!(p.is_empty());
        p.begin(1, &[1; 32]);
        p.push(&rec(1, "{\"long\":\"xxxxxxxxxxxxxxxx\"}")).unwrap();
        p.push(&rec(2, "{}")).unwrap();
        let _ = p.finish();
        p.begin(3, &[3; 32]);
        assert!(p.is_empty());
        p.push(&rec(3, "{}")).unwrap();
        let pack = parse(p.finish()).unwrap();
        assert_eq!(pack.prev_hash, [3; 32]);
        assert_eq!(pack.records, vec![rec(3, "{}")]);
    }

    #[test]
    fn full_by_count_or_bytes() {
        let mut p = PackBuf::default();
        p.begin(1, &[0; 32]);
        for i in 0..MAX_RECORDS {
            assert!(!p.is_full(), "{i}");
            p.push(&rec(0, "{}")).unwrap();
        }
        assert!(p.is_full());
        let big = "x".repeat(MAX_BYTES);
        p.begin(1, &[0; 32]);
        p.push(&rec(0, &big)).unwrap();
        assert!(p.is_full());
        assert_eq!(parse(p.finish()).unwrap().records.len(), 1);
    }

    #[test]
    fn malformed_packs_are_errors_not_panics() {
        let good = build([0; 32], &[rec(1, "{\"x\":1}"), rec(2, "{\"y\":2}")]);
        // Every truncation and every single-byte change of the framing either fails or
        // still parses to records of the right shape; none panics.
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "truncated at {cut}");
        }
        for at in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = good.clone();
                b[at] ^= flip;
                let _ = parse(&b);
            }
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(parse(&extra).unwrap_err().contains("after the last record"));
        let mut zero = good.clone();
        zero[COUNT_AT..COUNT_AT + 4].copy_from_slice(&0u32.to_be_bytes());
        assert!(parse(&zero).is_err());
        let mut version = good.clone();
        version[1] = 9;
        assert!(parse(&version).unwrap_err().contains("version"));
        let mut json = good;
        json[0] = b'J';
        assert!(parse(&json).unwrap_err().contains("not a pack"));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut b = build([0; 32], &[rec(1, "{\"x\":1}")]);
        let last = b.len() - 2;
        b[last] = 0xff;
        assert!(parse(&b).unwrap_err().contains("UTF-8"));
    }
}
