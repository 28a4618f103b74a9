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
    Read { path: String, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.display().to_string(), message })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        for k in &cfg.access_keys {
            if kmsnap_core::AccountId::parse(&k.account).is_err() {
                return Err(format!("access key {}: account must be 12 digits", k.access_key_id));
            }
            if k.access_key_id.len() < 3 || k.secret_access_key.is_empty() {
                return Err(format!("access key {}: id or secret too short", k.access_key_id));
            }
        }
        Ok(cfg)
    }

    /// `KMSNAP_AUTH_MODE` overrides `auth.mode`.
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(Config::parse("[[access_keys]]\naccess_key_id='A'\nsecret_access_key='x'\naccount='1'").is_err());
        assert!(Config::parse("bogus = 1").is_err());
    }
}
