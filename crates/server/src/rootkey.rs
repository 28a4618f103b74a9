//! Where the root key comes from (DESIGN.md "Cryptography"): `KMSNAP_ROOT_KEY` (hex), else
//! `--root-key-file`, else `<data-dir>/root.key` created with mode 0600 on first start. The
//! memory store gets a fresh random key per process.

use kmsnap_core::RootKey;
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RootKeyLoadError {
    #[error("cannot read root key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create root key file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("root key in {origin} is not 64 hex characters")]
    Malformed { origin: String },
    #[error("random number generator failed")]
    Rng,
}

pub fn load(
    explicit_file: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<RootKey, RootKeyLoadError> {
    if let Ok(hex) = std::env::var("KMSNAP_ROOT_KEY") {
        return RootKey::from_hex(&hex).map_err(|_| RootKeyLoadError::Malformed {
            origin: "KMSNAP_ROOT_KEY".into(),
        });
    }
    if let Some(path) = explicit_file {
        return read(path);
    }
    let Some(dir) = data_dir else {
        return RootKey::generate().map_err(|_| RootKeyLoadError::Rng);
    };
    let path = dir.join("root.key");
    if path.exists() {
        return read(&path);
    }
    let key = RootKey::generate().map_err(|_| RootKeyLoadError::Rng)?;
    create(&path, &key)?;
    Ok(key)
}

fn read(path: &Path) -> Result<RootKey, RootKeyLoadError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        RootKeyLoadError::Read {
            path: path.display().to_string(),
            source,
        }
    })?);
    RootKey::from_hex(&text).map_err(|_| RootKeyLoadError::Malformed {
        origin: path.display().to_string(),
    })
}

fn create(path: &Path, key: &RootKey) -> Result<(), RootKeyLoadError> {
    let err = |source| RootKeyLoadError::Create {
        path: path.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(key.to_hex().as_bytes()).map_err(err)?;
    f.write_all(b"\n").map_err(err)?;
    f.sync_all().map_err(err)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let a = load(None, Some(dir.path())).unwrap();
        let b = load(None, Some(dir.path())).unwrap();
        assert_eq!(
            a.derive(b"t").unwrap().expose(),
            b.derive(b"t").unwrap().expose()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("root.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
