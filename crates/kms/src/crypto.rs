//! The cryptography of symmetric KMS keys (DESIGN.md "Cryptography", docs/kms.md §10), all on
//! aws-lc-rs:
//!
//! * [`Material`]: 256-bit key material, zeroized on drop, with its AES-256-GCM key schedule.
//! * [`MaterialWrapper`]: wraps material at rest with AES-256-GCM under the root key's
//!   `kms/material-wrap/v1` subkey; the AAD binds account, key id and material id, so a wrapped
//!   blob cannot be moved to another key.
//! * [`MaterialWrapper::wrap_secret`]: the same for the variable-length secrets of asymmetric
//!   and HMAC keys (PKCS#8 or raw HMAC key bytes, which the `asym` module reads): `nonce ‖ ciphertext ‖ tag`
//!   with AAD `"kmsnap/kms/private-key/v1" ‖ account 0 key id 0 material id 0 key spec`, so a
//!   wrapped secret cannot be moved to another key nor read as another spec.
//! * Ciphertext blobs ([`encrypt`], [`decrypt`], [`parse_header`]):
//!
//! ```text
//! 0x01 | account (12 ASCII digits) | key id length (u8) | key id | material id (32 bytes)
//!      | nonce (12) | AES-256-GCM ciphertext | tag (16)
//! AAD = "kmsnap/kms/ciphertext/v1" | header (everything before the nonce) | canonical context
//! ```
//!
//! The blob names account, key id and material version but no region, so a multi-region replica
//! decrypts what its primary encrypted; the canonical encryption context (sorted by key, each key
//! and value length-prefixed) is authenticated, so any change fails as InvalidCiphertext.

use crate::error::CryptoError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use kmsnap_core::{AccountId, RootKey};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

pub const FORMAT_V1: u8 = 0x01;
const TAG_LEN: usize = 16;
const CT_AAD_LABEL: &[u8] = b"kmsnap/kms/ciphertext/v1";
const WRAP_AAD_LABEL: &[u8] = b"kmsnap/kms/material/v1";
const WRAP_PURPOSE: &[u8] = b"kms/material-wrap/v1";
const SECRET_AAD_LABEL: &[u8] = b"kmsnap/kms/private-key/v1";
const IMPORTED_ID_PURPOSE: &[u8] = b"kms/imported-material-id/v1";
/// Longest stored secret (an ML-DSA-87 PKCS#8 with seed and expanded key is under 5 KiB).
const MAX_SECRET: usize = 16 * 1024;

/// 256-bit key material. The AES-256-GCM key schedule is expanded per operation (a few hundred
/// nanoseconds) rather than kept: the expanded context is several times the size of the
/// material, and the server caches the material of every key in use (100,000 keys must fit in
/// well under 300 MiB).
pub struct Material {
    bytes: Zeroizing<[u8; 32]>,
}

impl Material {
    pub fn from_bytes(b: [u8; 32]) -> Result<Self, CryptoError> {
        Ok(Material {
            bytes: Zeroizing::new(b),
        })
    }

    /// Fresh random material and its new material id (64 lower-case hex characters).
    pub fn generate() -> Result<(String, Material), CryptoError> {
        let mut b = [0u8; 32];
        kmsnap_core::ids::random_bytes(&mut b).map_err(|_| CryptoError::Rng)?;
        let m = Material::from_bytes(b);
        b.zeroize();
        let id = kmsnap_core::ids::random_hex(32).map_err(|_| CryptoError::Rng)?;
        Ok((id, m?))
    }

    fn key(&self) -> Result<LessSafeKey, CryptoError> {
        UnboundKey::new(&AES_256_GCM, &self.bytes[..])
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Internal)
    }

    /// The raw bytes, for security tests that search the disk for them.
    #[cfg(test)]
    pub(crate) fn expose_for_test(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Material(<redacted>)")
    }
}

fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    let mut n = [0u8; NONCE_LEN];
    kmsnap_core::ids::random_bytes(&mut n).map_err(|_| CryptoError::Rng)?;
    Ok(n)
}

/// Wraps and unwraps material at rest under the root key.
pub struct MaterialWrapper {
    key: LessSafeKey,
    /// HMAC-SHA256 key for the ids of imported material ([`MaterialWrapper::imported_material_id`]).
    id_key: aws_lc_rs::hmac::Key,
}

impl fmt::Debug for MaterialWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaterialWrapper(<redacted>)")
    }
}

fn wrap_aad(account: AccountId, key_id: &str, material_id: &str) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(WRAP_AAD_LABEL.len() + 12 + key_id.len() + material_id.len() + 2);
    aad.extend_from_slice(WRAP_AAD_LABEL);
    aad.extend_from_slice(account.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(material_id.as_bytes());
    aad
}

impl MaterialWrapper {
    pub fn new(root: &RootKey) -> Result<Self, CryptoError> {
        let sub = root
            .derive(WRAP_PURPOSE)
            .map_err(|_| CryptoError::Internal)?;
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, sub.expose()).map_err(|_| CryptoError::Internal)?,
        );
        let id_sub = root
            .derive(IMPORTED_ID_PURPOSE)
            .map_err(|_| CryptoError::Internal)?;
        let id_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, id_sub.expose());
        Ok(MaterialWrapper { key, id_key })
    }

    /// The id of imported material (64 hex): a deterministic function of key and material, so
    /// a reimport of the same material has the same id (AWS does the same), keyed by the root
    /// key so that the id is not a hash anyone could test guesses against.
    pub fn imported_material_id(&self, key_id: &str, material: &[u8]) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.id_key);
        ctx.update(key_id.as_bytes());
        ctx.update(&[0]);
        ctx.update(material);
        hex::encode(ctx.sign().as_ref())
    }

    pub fn wrap(
        &self,
        account: AccountId,
        key_id: &str,
        material_id: &str,
        m: &Material,
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_nonce()?;
        let mut buf = Zeroizing::new(m.bytes.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(account, key_id, material_id)),
                &mut *buf,
            )
            .map_err(|_| CryptoError::Internal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn unwrap(
        &self,
        account: AccountId,
        key_id: &str,
        material_id: &str,
        wrapped: &[u8],
    ) -> Result<Material, CryptoError> {
        if wrapped.len() != NONCE_LEN + 32 + TAG_LEN {
            return Err(CryptoError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Unwrap)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = self
            .key
            .open_in_place(
                nonce,
                Aad::from(wrap_aad(account, key_id, material_id)),
                &mut buf,
            )
            .map_err(|_| CryptoError::Unwrap)?;
        let mut b = [0u8; 32];
        b.copy_from_slice(plain);
        let m = Material::from_bytes(b);
        b.zeroize();
        m
    }
}

fn secret_aad(account: AccountId, key_id: &str, material_id: &str, spec: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        SECRET_AAD_LABEL.len() + 16 + key_id.len() + material_id.len() + spec.len(),
    );
    aad.extend_from_slice(SECRET_AAD_LABEL);
    for part in [account.as_str(), key_id, material_id] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad.extend_from_slice(spec.as_bytes());
    aad
}

impl MaterialWrapper {
    /// Wraps the secret of an asymmetric or HMAC key (its stored form) for key `spec`.
    pub fn wrap_secret(
        &self,
        account: AccountId,
        key_id: &str,
        material_id: &str,
        spec: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if secret.is_empty() || secret.len() > MAX_SECRET {
            return Err(CryptoError::Internal);
        }
        let nonce = random_nonce()?;
        let mut buf = Zeroizing::new(secret.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(secret_aad(account, key_id, material_id, spec)),
                &mut *buf,
            )
            .map_err(|_| CryptoError::Internal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Unwraps what [`MaterialWrapper::wrap_secret`] wrapped for the same key and spec.
    pub fn unwrap_secret(
        &self,
        account: AccountId,
        key_id: &str,
        material_id: &str,
        spec: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if wrapped.len() <= NONCE_LEN + TAG_LEN || wrapped.len() > NONCE_LEN + MAX_SECRET + TAG_LEN
        {
            return Err(CryptoError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Unwrap)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let n = self
            .key
            .open_in_place(
                nonce,
                Aad::from(secret_aad(account, key_id, material_id, spec)),
                &mut buf,
            )
            .map_err(|_| CryptoError::Unwrap)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

/// What a ciphertext blob says about its key, readable without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub account: AccountId,
    pub key_id: String,
    /// 64 lower-case hex characters.
    pub material_id: String,
}

/// Canonical encryption context: sorted by key (BTreeMap order), each key and value prefixed by
/// its length as u32 big-endian.
pub fn canonical_context(ec: Option<&BTreeMap<String, String>>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(ec) = ec {
        for (k, v) in ec {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
    out
}

fn encode_header(h: &Header) -> Result<Vec<u8>, CryptoError> {
    let mid = hex::decode(&h.material_id).map_err(|_| CryptoError::Internal)?;
    if mid.len() != 32 || h.key_id.len() > u8::MAX as usize {
        return Err(CryptoError::Internal);
    }
    let mut out = Vec::with_capacity(1 + 12 + 1 + h.key_id.len() + 32);
    out.push(FORMAT_V1);
    out.extend_from_slice(h.account.as_str().as_bytes());
    out.push(h.key_id.len() as u8);
    out.extend_from_slice(h.key_id.as_bytes());
    out.extend_from_slice(&mid);
    Ok(out)
}

/// Reads the header; returns it and the header's length in bytes. Any malformation is
/// `InvalidCiphertext`.
pub fn parse_header(blob: &[u8]) -> Result<(Header, usize), CryptoError> {
    let bad = || CryptoError::InvalidCiphertext;
    if blob.first() != Some(&FORMAT_V1) {
        return Err(bad());
    }
    let account = blob
        .get(1..13)
        .and_then(|a| std::str::from_utf8(a).ok())
        .ok_or_else(bad)?;
    let account = AccountId::parse(account).map_err(|_| bad())?;
    let klen = *blob.get(13).ok_or_else(bad)? as usize;
    let key_id = blob
        .get(14..14 + klen)
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or_else(bad)?;
    if key_id.is_empty()
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(bad());
    }
    let mid = blob.get(14 + klen..14 + klen + 32).ok_or_else(bad)?;
    let header_len = 14 + klen + 32;
    if blob.len() < header_len + NONCE_LEN + TAG_LEN {
        return Err(bad());
    }
    Ok((
        Header {
            account,
            key_id: key_id.to_owned(),
            material_id: hex::encode(mid),
        },
        header_len,
    ))
}

fn ct_aad(header: &[u8], ec: Option<&BTreeMap<String, String>>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CT_AAD_LABEL.len() + header.len() + 64);
    aad.extend_from_slice(CT_AAD_LABEL);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&canonical_context(ec));
    aad
}

/// Encrypt `plaintext` under `material` into a ciphertext blob bound to `header` and `ec`.
pub fn encrypt(
    material: &Material,
    header: &Header,
    ec: Option<&BTreeMap<String, String>>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let head = encode_header(header)?;
    let nonce = random_nonce()?;
    let mut out = Vec::with_capacity(head.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&head);
    out.extend_from_slice(&nonce);
    let body_at = out.len();
    out.extend_from_slice(plaintext);
    let aad = ct_aad(&head, ec);
    let tag = material
        .key()?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut out[body_at..],
        )
        .map_err(|_| CryptoError::Internal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypt a blob whose header was parsed by [`parse_header`] (`header_len` bytes) with the
/// material its header names.
pub fn decrypt(
    material: &Material,
    blob: &[u8],
    header_len: usize,
    ec: Option<&BTreeMap<String, String>>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bad = || CryptoError::InvalidCiphertext;
    let head = blob.get(..header_len).ok_or_else(bad)?;
    let nonce = blob
        .get(header_len..header_len + NONCE_LEN)
        .ok_or_else(bad)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
    let mut buf = Zeroizing::new(blob.get(header_len + NONCE_LEN..).ok_or_else(bad)?.to_vec());
    let aad = ct_aad(head, ec);
    let n = material
        .key()?
        .open_in_place(nonce, Aad::from(&aad[..]), &mut buf)
        .map_err(|_| bad())?
        .len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(m_id: &str) -> Header {
        Header {
            account: AccountId::parse("111111111111").unwrap(),
            key_id: "0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60".into(),
            material_id: m_id.into(),
        }
    }

    fn ec(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn round_trip_and_context_binding() {
        let (id, m) = Material::generate().unwrap();
        let h = header(&id);
        let ctx = ec(&[("purpose", "demo"), ("a", "b")]);
        let blob = encrypt(&m, &h, Some(&ctx), b"hello").unwrap();
        let (parsed, hl) = parse_header(&blob).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(&decrypt(&m, &blob, hl, Some(&ctx)).unwrap()[..], b"hello");
        // Wrong, missing or extra context.
        assert_eq!(
            decrypt(&m, &blob, hl, Some(&ec(&[("purpose", "demo")]))).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        assert_eq!(
            decrypt(&m, &blob, hl, None).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        let more = ec(&[("purpose", "demo"), ("a", "b"), ("c", "d")]);
        assert!(decrypt(&m, &blob, hl, Some(&more)).is_err());
        // Empty context equals no context.
        let b2 = encrypt(&m, &h, None, b"x").unwrap();
        assert_eq!(
            &decrypt(&m, &b2, hl, Some(&BTreeMap::new())).unwrap()[..],
            b"x"
        );
    }

    #[test]
    fn canonical_context_is_unambiguous() {
        // ("ab","c") and ("a","bc") must not collide.
        assert_ne!(
            canonical_context(Some(&ec(&[("ab", "c")]))),
            canonical_context(Some(&ec(&[("a", "bc")])))
        );
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let (id, m) = Material::generate().unwrap();
        let blob = encrypt(&m, &header(&id), None, b"secret data").unwrap();
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            let ok = parse_header(&t).and_then(|(h, hl)| {
                if h != header(&id) {
                    return Err(CryptoError::InvalidCiphertext);
                }
                decrypt(&m, &t, hl, None)
            });
            assert!(ok.is_err(), "flip at {i} not detected");
        }
    }

    #[test]
    fn other_material_cannot_decrypt_and_truncation_is_refused() {
        let (id, m) = Material::generate().unwrap();
        let (_, other) = Material::generate().unwrap();
        let blob = encrypt(&m, &header(&id), None, b"x").unwrap();
        let (_, hl) = parse_header(&blob).unwrap();
        assert!(decrypt(&other, &blob, hl, None).is_err());
        for n in 0..blob.len() {
            assert!(parse_header(&blob[..n])
                .and_then(|(_, hl)| decrypt(&m, &blob[..n], hl, None))
                .is_err());
        }
        assert!(parse_header(b"").is_err());
        assert!(parse_header(&[0x02; 100]).is_err());
    }

    #[test]
    fn wrap_binds_key_and_material_ids() {
        let root = RootKey::from_bytes([9u8; 32]);
        let w = MaterialWrapper::new(&root).unwrap();
        let acct = AccountId::parse("111111111111").unwrap();
        let (id, m) = Material::generate().unwrap();
        let wrapped = w.wrap(acct, "k1", &id, &m).unwrap();
        let back = w.unwrap(acct, "k1", &id, &wrapped).unwrap();
        let (hid, _) = Material::generate().unwrap();
        let blob = encrypt(&back, &header(&hid), None, b"y").unwrap();
        let (_, hl) = parse_header(&blob).unwrap();
        assert_eq!(&decrypt(&m, &blob, hl, None).unwrap()[..], b"y");
        assert!(w.unwrap(acct, "k2", &id, &wrapped).is_err());
        assert!(w
            .unwrap(
                AccountId::parse("222222222222").unwrap(),
                "k1",
                &id,
                &wrapped
            )
            .is_err());
        let other_root = MaterialWrapper::new(&RootKey::from_bytes([8u8; 32])).unwrap();
        assert!(other_root.unwrap(acct, "k1", &id, &wrapped).is_err());
        assert!(!wrapped.windows(8).any(|w| w == &m.bytes[..8]));
    }

    #[test]
    fn wrapped_secrets_bind_key_material_and_spec() {
        let w = MaterialWrapper::new(&RootKey::from_bytes([9u8; 32])).unwrap();
        let acct = AccountId::parse("111111111111").unwrap();
        let secret = b"-----a pkcs8 document, say-----".to_vec();
        let wrapped = w
            .wrap_secret(acct, "k1", "m1", "ECC_NIST_P256", &secret)
            .unwrap();
        assert!(!wrapped.windows(8).any(|x| x == &secret[..8]));
        assert_eq!(
            &w.unwrap_secret(acct, "k1", "m1", "ECC_NIST_P256", &wrapped)
                .unwrap()[..],
            &secret[..]
        );
        for (k, m, s) in [
            ("k2", "m1", "ECC_NIST_P256"),
            ("k1", "m2", "ECC_NIST_P256"),
            ("k1", "m1", "ECC_NIST_P384"),
        ] {
            assert_eq!(
                w.unwrap_secret(acct, k, m, s, &wrapped).unwrap_err(),
                CryptoError::Unwrap
            );
        }
        // Symmetric material and secrets are not interchangeable.
        let (id, m) = Material::generate().unwrap();
        let sym = w.wrap(acct, "k1", &id, &m).unwrap();
        assert!(w
            .unwrap_secret(acct, "k1", &id, "SYMMETRIC_DEFAULT", &sym)
            .is_err());
        let mut t = wrapped.clone();
        t[20] ^= 1;
        assert!(w
            .unwrap_secret(acct, "k1", "m1", "ECC_NIST_P256", &t)
            .is_err());
        assert!(w.wrap_secret(acct, "k1", "m1", "X", b"").is_err());
    }
}
