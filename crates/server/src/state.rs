//! The server's state: the stores, the clock, and one handle per domain (KMS, EBS, RDS,
//! Backup, IAM, CloudTrail), opened once at start; and the background workers that run on it.

use crate::config::{Config, Mode};
use crate::metrics::Metrics;
use kmsnap_auth::{AuthMode, Keyring, Secret, StaticKey};
use kmsnap_core::{AccountId, Clock, ManualClock, RootKey};
use kmsnap_store::{BlobStore, MetaStore};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Why the state could not be opened. `kmsnap serve` reports it as it is.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open store: {0}")]
    Store(String),
    #[error("{0}")]
    Setup(String),
}

pub struct App {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<ManualClock>,
    pub keyring: Keyring,
    pub dev_mode: bool,
    pub metrics: Metrics,
    pub started: Instant,
    pub store_kind: &'static str,
    pub kms: Arc<kmsnap_kms::Kms>,
    /// EC2 volumes and snapshots, EBS direct API.
    pub snapshots: Arc<kmsnap_snapshots::Snapshots>,
    /// RDS DB instances and snapshots, stored in the EBS block store.
    pub rds: Arc<kmsnap_rds::Rds>,
    /// AWS Backup: vaults, backup jobs and recovery points (docs/backup.md).
    pub backup: Arc<kmsnap_backup::Backup>,
    /// CloudTrail LookupEvents over the audit log.
    pub cloudtrail: kmsnap_audit::Cloudtrail,
    /// Where calls that persist nothing else (crypto) record their audit events: the audit
    /// journal under the data directory, or memory with `--memory`.
    pub audit: Arc<kmsnap_audit::AuditWriter>,
    /// IAM users, roles, access keys and inline policies.
    pub iam: Arc<kmsnap_iam::Iam>,
    /// IAM's policies as KMS, STS and IAM itself evaluate them.
    pub iam_policies: Arc<kmsnap_iam::IamPolicies>,
    /// What one request may cost before it is refused ([`crate::limits`]).
    pub limits: crate::limits::Limits,
}

impl App {
    pub fn open(data_dir: Option<&Path>, root: RootKey, config: &Config) -> Result<App, OpenError> {
        let (meta, blobs) = match data_dir {
            Some(d) => {
                kmsnap_store::open_embedded(d).map_err(|e| OpenError::Store(e.to_string()))?
            }
            None => kmsnap_store::open_memory(),
        };
        let store_kind = if data_dir.is_some() {
            "embedded"
        } else {
            "memory"
        };
        let offset = crate::clock::load_clock_offset(meta.as_ref())
            .map_err(|e| OpenError::Store(e.to_string()))?;
        let clock = Arc::new(ManualClock::new(offset));
        let dev_mode = config.auth.mode == Mode::Dev;
        // IAM: its store and policies feed the keyring (users' keys, role trust), KMS (identity
        // policies) and IAM's own authorization.
        let (iam_store, iam_policies) = kmsnap_iam::IamPolicies::wire(meta.clone(), dev_mode);
        let iam = Arc::new(
            kmsnap_iam::Iam::new(&root, iam_store, iam_policies.clone())
                .map_err(|e| OpenError::Setup(e.to_string()))?,
        );
        let keyring = keyring(&root, config)
            .map_err(OpenError::Setup)?
            .with_access_key_lookup(iam.clone())
            .with_trust_policy_check(iam_policies.clone());
        let audit = Arc::new(open_audit(meta.clone(), data_dir)?);
        let kms = kmsnap_kms::Kms::with_audit(
            meta.clone(),
            &root,
            clock.clone(),
            audit.clone(),
            iam_policies.clone(),
        )
        .map_err(|e| OpenError::Setup(e.to_string()))?;
        let kms = Arc::new(kms);
        let snapshots = Arc::new(
            kmsnap_snapshots::Snapshots::new(
                meta.clone(),
                blobs.clone(),
                kms.clone(),
                clock.clone(),
            )
            .with_root_key(&root)
            .map_err(|e| OpenError::Setup(e.to_string()))?,
        );
        let rds = Arc::new(
            kmsnap_rds::Rds::new(meta.clone(), kms.clone(), snapshots.clone())
                .with_timing(config.timing.rds()),
        );
        let backup = Arc::new(kmsnap_backup::Backup::new(
            meta.clone(),
            kms.clone(),
            snapshots.clone(),
        ));
        let cloudtrail = kmsnap_audit::Cloudtrail::with_writer(meta.clone(), audit.clone());
        Ok(App {
            meta,
            blobs,
            clock,
            keyring,
            dev_mode,
            metrics: Metrics::default(),
            started: Instant::now(),
            store_kind,
            kms,
            snapshots,
            rds,
            backup,
            cloudtrail,
            audit,
            iam,
            iam_policies,
            limits: crate::limits::Limits::from_config(&config.limits),
        })
    }
}

/// The audit writer of a data directory: the audit journal in `<data-dir>/audit-journal`,
/// after moving whatever a previous run left there into the log (startup recovery, before
/// anything is served); with no data directory, memory mode.
pub fn open_audit(
    meta: Arc<dyn MetaStore>,
    data_dir: Option<&Path>,
) -> Result<kmsnap_audit::AuditWriter, OpenError> {
    let writer = match data_dir {
        Some(d) => kmsnap_audit::AuditWriter::with_journal(
            meta,
            &d.join(kmsnap_audit::JOURNAL_DIR),
            kmsnap_audit::JournalConfig::default(),
        ),
        None => kmsnap_audit::AuditWriter::in_memory(meta),
    };
    writer.map_err(|e| OpenError::Store(format!("audit journal: {e}")))
}

/// Background workers: every second, run what is due at the injected clock's time.
pub fn spawn_workers(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    // Snapshot seal/copy jobs run in real time, woken when queued.
    tokio::spawn(kmsnap_snapshots::workers::run(app.snapshots.clone()));
    // RDS instance states and snapshot progress, a step a second.
    tokio::spawn(kmsnap_rds::workers::run(app.rds.clone()));
    // Backup jobs following their snapshots, lifecycle expiry: a step a second.
    tokio::spawn(kmsnap_backup::workers::run(app.backup.clone()));
    // Orphan blocks (killed writes, deleted resources): a sweep now, then every interval.
    tokio::spawn(kmsnap_snapshots::gc::run(
        app.snapshots.clone(),
        crate::config::blob_gc_interval(),
    ));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let app = app.clone();
            let r = tokio::task::spawn_blocking(move || {
                kmsnap_kms::workers::run_due(&app.kms, app.clock.now())
            })
            .await;
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "kms worker failed"),
                Err(e) => tracing::error!(error = %e, "kms worker panicked"),
            }
        }
    })
}

/// The keyring that authenticates requests: the config's access keys (secrets decrypted with the
/// root key when `kmsnap secret encrypt` sealed them) in the config's auth mode.
pub fn keyring(root: &RootKey, config: &Config) -> Result<Keyring, String> {
    let mode = match config.auth.mode {
        Mode::Dev => AuthMode::Dev,
        Mode::Strict => AuthMode::Strict,
    };
    let mut keys = Vec::new();
    for k in &config.access_keys {
        let account = AccountId::parse(&k.account)
            .map_err(|e| format!("access key {}: {e}", k.access_key_id))?;
        let secret = if crate::secret::is_encrypted(&k.secret_access_key) {
            Secret::new(
                crate::secret::decrypt(root, &k.secret_access_key)
                    .map_err(|e| format!("access key {}: {e}", k.access_key_id))?
                    .as_str(),
            )
        } else {
            tracing::warn!(access_key_id = %k.access_key_id, "plaintext secret_access_key in config; prefer `kmsnap secret encrypt`");
            Secret::new(k.secret_access_key.clone())
        };
        keys.push(StaticKey {
            access_key_id: k.access_key_id.clone(),
            secret,
            account,
            user_name: k.user.clone(),
        });
    }
    Keyring::new(mode, root, keys).map_err(|e| e.to_string())
}
