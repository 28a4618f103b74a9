//! The EBS direct API's opaque tokens (docs/ebs.md §10): `BlockToken`s that
//! GetSnapshotBlock requires (valid 7 days) and the `NextToken` of the list calls (valid 60
//! minutes). Both are base64 of a version byte, an expiry and whatever the token must carry,
//! followed by a truncated HMAC-SHA256 under a key derived from the server's root key over all
//! of that *and* what the token stands for (snapshot ids, block index, which list call). A
//! client can read the expiry but not forge, extend or move a token to another block or
//! snapshot; the server keeps no token state, and tokens outlive restarts.

use crate::error::EbsError;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};

const VERSION: u8 = 1;
/// Truncated MAC length: 160 bits.
const MAC_LEN: usize = 20;
const BLOCK_LABEL: &[u8] = b"kmsnap/ebs/block-token/v1";
const PAGE_LABEL: &[u8] = b"kmsnap/ebs/page-token/v1";

/// How long a block token is valid (ListSnapshotBlocks `ExpiryTime`).
pub fn block_token_lifetime() -> Duration {
    Duration::days(7)
}

/// How long a page token is valid.
pub fn page_token_lifetime() -> Duration {
    Duration::minutes(60)
}

/// The MAC key of block and page tokens. No Debug of the key.
pub struct TokenKey(hmac::Key);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// Which list call a page token continues (a token of one is refused by the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOf<'a> {
    /// ListSnapshotBlocks of this snapshot.
    Blocks { snapshot: &'a str },
    /// ListChangedBlocks between `first` (or none) and `second`.
    Changed {
        first: Option<&'a str>,
        second: &'a str,
    },
}

fn invalid_block() -> EbsError {
    EbsError::Validation {
        reason: "INVALID_BLOCK_TOKEN",
        message: "The block token is not valid.".into(),
    }
}

fn invalid_page() -> EbsError {
    EbsError::Validation {
        reason: "INVALID_PAGE_TOKEN",
        message: "The page token is not valid.".into(),
    }
}

fn push_str(m: &mut Vec<u8>, s: &str) {
    m.extend_from_slice(&(s.len() as u32).to_be_bytes());
    m.extend_from_slice(s.as_bytes());
}

impl TokenKey {
    /// The key derived from the server's root key (tokens survive restarts).
    pub fn from_root(root: &kmsnap_core::RootKey) -> Result<Self, EbsError> {
        let sub = root
            .derive(b"kmsnap/ebs/tokens/v1")
            .map_err(|_| EbsError::Internal("token key derivation"))?;
        Ok(TokenKey(hmac::Key::new(hmac::HMAC_SHA256, sub.expose())))
    }

    /// A random key (tokens die with the process): for a service built without a root key.
    pub fn random() -> Self {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        if aws_lc_rs::rand::fill(&mut k[..]).is_err() {
            // The system RNG failed; a v4 UUID pair comes from the OS RNG by another path.
            tracing::error!("system RNG failed; EBS token key from UUIDs");
            k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        TokenKey(hmac::Key::new(hmac::HMAC_SHA256, &k[..]))
    }

    fn mac(&self, msg: &[u8]) -> [u8; MAC_LEN] {
        let tag = hmac::sign(&self.0, msg);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    /// `body ‖ MAC(label ‖ body ‖ bound)`, base64.
    fn seal(&self, label: &[u8], body: &[u8], bound: &[u8]) -> String {
        let mut msg = Vec::with_capacity(label.len() + body.len() + bound.len());
        msg.extend_from_slice(label);
        msg.extend_from_slice(body);
        msg.extend_from_slice(bound);
        let mut token = body.to_vec();
        token.extend_from_slice(&self.mac(&msg));
        base64::engine::general_purpose::STANDARD.encode(token)
    }

    /// The body of a token sealed with `label` and `bound`, if the MAC holds.
    fn open(&self, label: &[u8], token: &str, body_len: usize, bound: &[u8]) -> Option<Vec<u8>> {
        if token.len() > 256 {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        if raw.len() != body_len + MAC_LEN {
            return None;
        }
        let (body, mac) = raw.split_at(body_len);
        let mut msg = Vec::with_capacity(label.len() + body.len() + bound.len());
        msg.extend_from_slice(label);
        msg.extend_from_slice(body);
        msg.extend_from_slice(bound);
        verify_slices_are_equal(&self.mac(&msg), mac).ok()?;
        Some(body.to_vec())
    }

    /// A token for block `index` of `snapshot`, valid until `expiry`.
    pub fn block_token(&self, snapshot: &str, index: u64, expiry: DateTime<Utc>) -> String {
        let mut body = vec![VERSION];
        body.extend_from_slice(&expiry.timestamp().to_be_bytes());
        self.seal(BLOCK_LABEL, &body, &block_bound(snapshot, index))
    }

    /// Checks a block token for block `index` of `snapshot` at `now`.
    pub fn check_block_token(
        &self,
        token: &str,
        snapshot: &str,
        index: u64,
        now: DateTime<Utc>,
    ) -> Result<(), EbsError> {
        let body = self
            .open(BLOCK_LABEL, token, 9, &block_bound(snapshot, index))
            .ok_or_else(invalid_block)?;
        if body[0] != VERSION || expiry_of(&body[1..9]).is_none_or(|e| e <= now) {
            return Err(invalid_block());
        }
        Ok(())
    }

    /// A page token resuming `of` at block index `next`.
    pub fn page_token(&self, of: PageOf<'_>, next: u64, expiry: DateTime<Utc>) -> String {
        let mut body = vec![VERSION];
        body.extend_from_slice(&expiry.timestamp().to_be_bytes());
        body.extend_from_slice(&next.to_be_bytes());
        self.seal(PAGE_LABEL, &body, &page_bound(of))
    }

    /// The block index a page token of `of` resumes at.
    pub fn check_page_token(
        &self,
        token: &str,
        of: PageOf<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, EbsError> {
        let body = self
            .open(PAGE_LABEL, token, 17, &page_bound(of))
            .ok_or_else(invalid_page)?;
        if body[0] != VERSION || expiry_of(&body[1..9]).is_none_or(|e| e <= now) {
            return Err(invalid_page());
        }
        let mut next = [0u8; 8];
        next.copy_from_slice(&body[9..17]);
        Ok(u64::from_be_bytes(next))
    }
}

fn expiry_of(b: &[u8]) -> Option<DateTime<Utc>> {
    let secs = i64::from_be_bytes(b.try_into().ok()?);
    Utc.timestamp_opt(secs, 0).single()
}

fn block_bound(snapshot: &str, index: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(snapshot.len() + 12);
    push_str(&mut m, snapshot);
    m.extend_from_slice(&index.to_be_bytes());
    m
}

fn page_bound(of: PageOf<'_>) -> Vec<u8> {
    let mut m = Vec::new();
    match of {
        PageOf::Blocks { snapshot } => {
            m.push(b'B');
            push_str(&mut m, snapshot);
        }
        PageOf::Changed { first, second } => {
            m.push(b'C');
            push_str(&mut m, first.unwrap_or(""));
            push_str(&mut m, second);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::from_root(&kmsnap_core::RootKey::from_bytes([9u8; 32])).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap()
    }

    #[test]
    fn block_tokens_bind_snapshot_index_and_expiry() {
        let k = key();
        let exp = t0() + block_token_lifetime();
        let tok = k.block_token("snap-0123456789abcdef0", 7, exp);
        assert!(
            tok.len() <= 256
                && tok
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        k.check_block_token(&tok, "snap-0123456789abcdef0", 7, t0())
            .unwrap();
        // Same key after a restart (derived from the root key).
        key()
            .check_block_token(&tok, "snap-0123456789abcdef0", 7, t0())
            .unwrap();
        let reason = |r: Result<(), EbsError>| match r {
            Err(EbsError::Validation { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // Another block, another snapshot, expired, another server's key.
        assert_eq!(
            reason(k.check_block_token(&tok, "snap-0123456789abcdef0", 8, t0())),
            "INVALID_BLOCK_TOKEN"
        );
        assert_eq!(
            reason(k.check_block_token(&tok, "snap-0123456789abcdef1", 7, t0())),
            "INVALID_BLOCK_TOKEN"
        );
        assert_eq!(
            reason(k.check_block_token(&tok, "snap-0123456789abcdef0", 7, exp)),
            "INVALID_BLOCK_TOKEN"
        );
        let other = TokenKey::from_root(&kmsnap_core::RootKey::from_bytes([8u8; 32])).unwrap();
        assert_eq!(
            reason(other.check_block_token(&tok, "snap-0123456789abcdef0", 7, t0())),
            "INVALID_BLOCK_TOKEN"
        );
    }

    #[test]
    fn forged_block_tokens_fail() {
        let k = key();
        let exp = t0() + block_token_lifetime();
        let tok = k.block_token("snap-1", 0, exp);
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&tok)
            .unwrap();
        // Extending the expiry invalidates the MAC.
        raw[5] ^= 0x01;
        let forged = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert!(k.check_block_token(&forged, "snap-1", 0, t0()).is_err());
        for junk in [
            "",
            "AAAA",
            "not base64!",
            &"A".repeat(300),
            &tok[..tok.len() - 4],
        ] {
            assert!(
                k.check_block_token(junk, "snap-1", 0, t0()).is_err(),
                "{junk}"
            );
        }
        // A plain encoding of (snapshot, index) is not a token.
        let naive = base64::engine::general_purpose::STANDARD.encode(b"snap-1/0");
        assert!(k.check_block_token(&naive, "snap-1", 0, t0()).is_err());
    }

    #[test]
    fn page_tokens_bind_the_call() {
        let k = key();
        let exp = t0() + page_token_lifetime();
        let of = PageOf::Blocks { snapshot: "snap-1" };
        let tok = k.page_token(of, 4096, exp);
        assert_eq!(k.check_page_token(&tok, of, t0()).unwrap(), 4096);
        assert!(k
            .check_page_token(&tok, PageOf::Blocks { snapshot: "snap-2" }, t0())
            .is_err());
        assert!(k
            .check_page_token(
                &tok,
                PageOf::Changed {
                    first: None,
                    second: "snap-1"
                },
                t0()
            )
            .is_err());
        assert!(k
            .check_page_token(&tok, of, exp + Duration::seconds(1))
            .is_err());
        let ch = PageOf::Changed {
            first: Some("snap-1"),
            second: "snap-2",
        };
        let tok = k.page_token(ch, 3, exp);
        assert_eq!(k.check_page_token(&tok, ch, t0()).unwrap(), 3);
        assert!(k
            .check_page_token(
                &tok,
                PageOf::Changed {
                    first: None,
                    second: "snap-2"
                },
                t0()
            )
            .is_err());
        // A block token is not a page token.
        let bt = k.block_token("snap-1", 3, exp);
        assert!(k.check_page_token(&bt, of, t0()).is_err());
    }
}
