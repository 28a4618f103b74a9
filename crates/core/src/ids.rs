//! Random identifiers in AWS's formats, from aws-lc-rs's CSPRNG.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Fill `buf` with random bytes. The system RNG failing is unrecoverable for a KMS, so the
/// caller gets an error it must surface as an internal failure.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), RngError> {
    SystemRandom::new().fill(buf).map_err(|_| RngError)
}

#[derive(Debug, thiserror::Error)]
#[error("system random number generator failed")]
pub struct RngError;

/// A random lower-case hex string of `n_bytes * 2` characters.
pub fn random_hex(n_bytes: usize) -> Result<String, RngError> {
    let mut b = vec![0u8; n_bytes];
    random_bytes(&mut b)?;
    Ok(hex::encode(b))
}

/// A request id in AWS's UUID form.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// EC2-style id: `prefix-` followed by 17 hex characters (`snap-`, `vol-`).
pub fn ec2_id(prefix: &str) -> Result<String, RngError> {
    let h = random_hex(9)?;
    Ok(format!("{prefix}-{}", &h[..17]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let s = ec2_id("snap").unwrap();
        assert_eq!(s.len(), 5 + 17);
        assert!(s[5..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(random_hex(16).unwrap().len(), 32);
        assert_ne!(request_id(), request_id());
    }
}
