//! `kmsnap.toml` and its environment overrides. No config is needed for the embedded default.
//!
//! ```toml
//! [auth]
//! mode = "dev"            # or "strict": only configured keys; no clock/reset endpoints
//!
//! [[access_keys]]         # work in every mode
//! access_key_id = "AKIAEXAMPLEEXAMPLE01"
//! secret_access_key = "..."
//! account = "111111111111"
//! user = "alice"          # optional: an IAM user name; absent = the account root
//!
//! [limits]                # docs/security.md "Bounded requests"; each has an env override
//! header_timeout_seconds = 30   # KMSNAP_HEADER_TIMEOUT_SECONDS (also the keep-alive idle timeout)
//! body_timeout_seconds = 60     # KMSNAP_BODY_TIMEOUT_SECONDS
//! max_connections = 1024        # KMSNAP_MAX_CONNECTIONS
//!
//! [timing]                # seconds on the server's clock; 0 (default) = settled at the next call
//! rds_instance_create_seconds = 0   # also _modify_, _start_, _stop_, _reboot_
//! ```

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub access_keys: Vec<AccessKeyConfig>,
    /// File holding the root key (64 hex characters).
    pub root_key_file: Option<String>,
    pub data_dir: Option<String>,
    pub listen: Option<String>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub timing: TimingConfig,
}

/// `[timing]`: how long transitions that take no real work last, in seconds of the server's
/// clock (default 0: the next call sees the settled state; README "Timing").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingConfig {
    #[serde(default)]
    pub rds_instance_create_seconds: u32,
    #[serde(default)]
    pub rds_instance_modify_seconds: u32,
    #[serde(default)]
    pub rds_instance_start_seconds: u32,
    #[serde(default)]
    pub rds_instance_stop_seconds: u32,
    #[serde(default)]
    pub rds_instance_reboot_seconds: u32,
}

impl TimingConfig {
    pub fn rds(&self) -> kmsnap_rds::workers::Timing {
        let s = |n: u32| chrono::Duration::seconds(i64::from(n));
        kmsnap_rds::workers::Timing {
            instance_create: s(self.rds_instance_create_seconds),
            instance_modify: s(self.rds_instance_modify_seconds),
            instance_start: s(self.rds_instance_start_seconds),
            instance_stop: s(self.rds_instance_stop_seconds),
            instance_reboot: s(self.rds_instance_reboot_seconds),
        }
    }
}

/// `[limits]`: what a connection may cost (see [`crate::limits::Limits`]); unset = default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub header_timeout_seconds: Option<u64>,
    pub body_timeout_seconds: Option<u64>,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub mode: Mode,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Dev,
    Strict,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    pub user: Option<String>,
}

impl std::fmt::Debug for AccessKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account", &self.account)
            .field("user", &self.user)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        for k in &cfg.access_keys {
            if kmsnap_core::AccountId::parse(&k.account).is_err() {
                return Err(format!(
                    "access key {}: account must be 12 digits",
                    k.access_key_id
                ));
            }
            if k.access_key_id.len() < 3 || k.secret_access_key.is_empty() {
                return Err(format!(
                    "access key {}: id or secret too short",
                    k.access_key_id
                ));
            }
        }
        Ok(cfg)
    }

    /// `KMSNAP_AUTH_MODE` overrides `auth.mode`; `KMSNAP_HEADER_TIMEOUT_SECONDS`,
    /// `KMSNAP_BODY_TIMEOUT_SECONDS` and `KMSNAP_MAX_CONNECTIONS` override `[limits]`.
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        fn positive<T: std::str::FromStr + Default + PartialOrd>(
            name: &str,
        ) -> Result<Option<T>, ConfigError> {
            match std::env::var(name) {
                Err(_) => Ok(None),
                Ok(v) => match v.trim().parse::<T>() {
                    Ok(n) if n > T::default() => Ok(Some(n)),
                    _ => Err(ConfigError::Invalid {
                        name: name.into(),
                        message: format!("expected a positive whole number, got {v:?}"),
                    }),
                },
            }
        }
        if let Some(n) = positive("KMSNAP_HEADER_TIMEOUT_SECONDS")? {
            self.limits.header_timeout_seconds = Some(n);
        }
        if let Some(n) = positive("KMSNAP_BODY_TIMEOUT_SECONDS")? {
            self.limits.body_timeout_seconds = Some(n);
        }
        if let Some(n) = positive("KMSNAP_MAX_CONNECTIONS")? {
            self.limits.max_connections = Some(n);
        }
        for (name, zero) in [
            (
                "limits.header_timeout_seconds",
                self.limits.header_timeout_seconds == Some(0),
            ),
            (
                "limits.body_timeout_seconds",
                self.limits.body_timeout_seconds == Some(0),
            ),
            (
                "limits.max_connections",
                self.limits.max_connections == Some(0),
            ),
        ] {
            if zero {
                return Err(ConfigError::Invalid {
                    name: name.into(),
                    message: "must be positive".into(),
                });
            }
        }
        if let Ok(m) = std::env::var("KMSNAP_AUTH_MODE") {
            self.auth.mode = match m.as_str() {
                "dev" => Mode::Dev,
                "strict" => Mode::Strict,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "KMSNAP_AUTH_MODE".into(),
                        message: format!("expected dev or strict, got {other:?}"),
                    })
                }
            };
        }
        Ok(())
    }
}

/// The default time between two sweeps of the blob collector (docs/blob-collection.md).
pub const BLOB_GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The time between two sweeps of the blob collector: `KMSNAP_GC_INTERVAL_SECONDS` (a positive
/// number; tests shorten it), else [`BLOB_GC_INTERVAL`]. A value that is not one is ignored
/// with a warning rather than refusing to start: the collector only reclaims space.
pub fn blob_gc_interval() -> std::time::Duration {
    const NAME: &str = "KMSNAP_GC_INTERVAL_SECONDS";
    let Ok(text) = std::env::var(NAME) else {
        return BLOB_GC_INTERVAL;
    };
    match gc_interval_from(&text) {
        Some(d) => d,
        None => {
            tracing::warn!(value = %text, "{NAME} is not a positive number of seconds; using {}s", BLOB_GC_INTERVAL.as_secs());
            BLOB_GC_INTERVAL
        }
    }
}

fn gc_interval_from(text: &str) -> Option<std::time::Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= 1e9)
        .then(|| std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_intervals() {
        assert_eq!(
            gc_interval_from("2"),
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(
            gc_interval_from(" 0.5 "),
            Some(std::time::Duration::from_millis(500))
        );
        for bad in ["", "0", "-1", "soon", "inf", "NaN", "1e12"] {
            assert_eq!(gc_interval_from(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_keys_and_mode() {
        let c = Config::parse(
            r#"
            [auth]
            mode = "strict"
            [[access_keys]]
            access_key_id = "AKIAFIXED"
            secret_access_key = "s3cr3t"
            account = "111111111111"
            "#,
        )
        .unwrap();
        assert_eq!(c.auth.mode, Mode::Strict);
        assert_eq!(c.access_keys.len(), 1);
        assert!(!format!("{:?}", c.access_keys[0]).contains("s3cr3t"));
        assert!(Config::parse(
            "[[access_keys]]\naccess_key_id='A'\nsecret_access_key='x'\naccount='1'"
        )
        .is_err());
        assert!(Config::parse("bogus = 1").is_err());
    }
}
