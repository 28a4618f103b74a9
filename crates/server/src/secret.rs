//! Config secrets encrypted by the root key: `kmsnap secret encrypt` turns a secret access key
//! into `enc:v1:<base64(nonce ‖ AES-256-GCM ciphertext ‖ tag)>` under the root key's
//! `config/secret/v1` subkey; `kmsnap.toml` accepts that form in `secret_access_key`, so the
//! file holds no plaintext secret. Only the root key (kept apart from the config) opens it.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use kmsnap_core::RootKey;
use zeroize::Zeroizing;

const PREFIX: &str = "enc:v1:";
const PURPOSE: &[u8] = b"config/secret/v1";
const AAD: &[u8] = b"kmsnap config secret";

fn key(root: &RootKey) -> Result<LessSafeKey, String> {
    let sub = root.derive(PURPOSE).map_err(|e| e.to_string())?;
    UnboundKey::new(&AES_256_GCM, sub.expose())
        .map(LessSafeKey::new)
        .map_err(|_| "bad key".to_owned())
}

pub fn is_encrypted(value: &str) -> bool {
    value.starts_with(PREFIX)
}

pub fn encrypt(root: &RootKey, secret: &str) -> Result<String, String> {
    let mut nonce = [0u8; NONCE_LEN];
    kmsnap_core::ids::random_bytes(&mut nonce).map_err(|e| e.to_string())?;
    let mut buf = Zeroizing::new(secret.as_bytes().to_vec());
    key(root)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut *buf,
        )
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(out)
    ))
}

pub fn decrypt(root: &RootKey, value: &str) -> Result<Zeroizing<String>, String> {
    let err = || "secret_access_key: cannot decrypt (wrong root key or damaged value)".to_owned();
    let b64 = value.strip_prefix(PREFIX).ok_or_else(err)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| err())?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(err());
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| err())?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let plain = key(root)?
        .open_in_place(nonce, Aad::from(AAD), &mut buf)
        .map_err(|_| err())?;
    let s = std::str::from_utf8(plain).map_err(|_| err())?;
    Ok(Zeroizing::new(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_root() {
        let root = RootKey::from_bytes([3u8; 32]);
        let e = encrypt(&root, "s3cr3t-value").unwrap();
        assert!(is_encrypted(&e) && !e.contains("s3cr3t"));
        assert_eq!(decrypt(&root, &e).unwrap().as_str(), "s3cr3t-value");
        assert!(decrypt(&RootKey::from_bytes([4u8; 32]), &e).is_err());
        assert!(decrypt(&root, "enc:v1:AAAA").is_err());
        let mut t = e.clone();
        t.pop();
        t.push(if e.ends_with('A') { 'B' } else { 'A' });
        assert!(decrypt(&root, &t).is_err());
    }
}
