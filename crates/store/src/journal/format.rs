//! The bytes of a journal segment: its header block and the frames that carry records
//! (crates/store/FORMAT.md, "Journals", has the layout). Reading is bounds-checked
//! throughout: a frame that does not decode is the end of a segment, never a panic.

use super::Entry;
use crate::direct::align_up;
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"KMSAJRNL";
/// Version of the segment and frame layout.
pub const JOURNAL_FORMAT: u32 = 1;
/// Bytes of the segment header (in a block of its own).
pub(super) const HEADER_LEN: usize = 64;
/// `len u32 ‖ jseq u64 ‖ checksum [8]`.
pub(super) const FRAME_HEADER: usize = 20;
/// Largest payload accepted in a frame.
pub const MAX_PAYLOAD: usize = 1 << 20;

fn checksum(parts: &[&[u8]]) -> [u8; 8] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d.as_ref()[..8]);
    out
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_be_bytes)
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_be_bytes)
}

/// The header of segment `number` whose first record is `first_jseq`.
pub(super) fn encode_header(number: u64, first_jseq: u64, segment_bytes: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&JOURNAL_FORMAT.to_be_bytes());
    h[16..24].copy_from_slice(&number.to_be_bytes());
    h[24..32].copy_from_slice(&first_jseq.to_be_bytes());
    h[32..40].copy_from_slice(&segment_bytes.to_be_bytes());
    let sum = checksum(&[&h[..56]]);
    h[56..].copy_from_slice(&sum);
    h
}

/// `(number, first_jseq)` of a valid header.
pub(super) fn decode_header(b: &[u8]) -> Option<(u64, u64)> {
    let h = b.get(..HEADER_LEN)?;
    if &h[..8] != MAGIC || be_u32(h, 8)? != JOURNAL_FORMAT || checksum(&[&h[..56]]) != h[56..] {
        return None;
    }
    Some((be_u64(h, 16)?, be_u64(h, 24)?))
}

/// Whether a record whose payload is `payload_len` bytes fits a frame and a segment of
/// `segment_bytes` (after its header block).
pub fn fits(payload_len: usize, segment_bytes: u64) -> bool {
    let capacity = usize::try_from(segment_bytes)
        .unwrap_or(usize::MAX)
        .saturating_sub(crate::direct::ALIGN);
    payload_len > 0
        && payload_len <= MAX_PAYLOAD
        && align_up(FRAME_HEADER + payload_len) <= capacity
}

fn too_large() -> StoreError {
    StoreError::Encode {
        detail: "record too large for the journal".into(),
    }
}

/// Appends the frame of `entry` with sequence number `jseq` to `out` (nothing on error).
pub fn encode_frame(jseq: u64, entry: &impl Entry, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    let payload = out.len();
    let encoded = entry.encode(out).and_then(|()| {
        let n = out.len() - payload;
        if n == 0 || n > MAX_PAYLOAD {
            return Err(too_large());
        }
        u32::try_from(n).map_err(|_| too_large())
    });
    let len = match encoded {
        Ok(len) => len,
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    };
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 12].copy_from_slice(&jseq.to_be_bytes());
    let sum = checksum(&[&out[start..start + 12], &out[payload..]]);
    out[start + 12..start + 20].copy_from_slice(&sum);
    Ok(())
}

/// The payload of the frame at `at` if it is record `jseq` with a matching checksum, and the
/// offset after it.
pub(super) fn decode_frame(b: &[u8], at: usize, jseq: u64) -> Option<(&[u8], usize)> {
    let len = usize::try_from(be_u32(b, at)?).ok()?;
    if len == 0 || len > MAX_PAYLOAD || be_u64(b, at.checked_add(4)?)? != jseq {
        return None;
    }
    let start = at.checked_add(FRAME_HEADER)?;
    let payload = b.get(start..start.checked_add(len)?)?;
    if checksum(&[b.get(at..at + 12)?, payload]) != *b.get(at + 12..at + 20)? {
        return None;
    }
    Some((payload, start + len))
}

/// Record `jseq` at `at` or (when `at` is inside a block, i.e. in a batch's padding) at the
/// next block boundary, if its payload decodes: the record and the offset after it.
pub(super) fn next_frame<T>(
    b: &[u8],
    at: usize,
    jseq: u64,
    decode: &mut impl FnMut(&[u8]) -> Option<T>,
) -> Option<(T, usize)> {
    let mut at_offset = |at: usize| {
        let (payload, next) = decode_frame(b, at, jseq)?;
        Some((decode(payload)?, next))
    };
    at_offset(at).or_else(|| {
        let boundary = align_up(at);
        (boundary != at).then(|| at_offset(boundary)).flatten()
    })
}
