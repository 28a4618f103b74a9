//! `kmsnap serve`: load config, open the store, bind, print the bound address as the first
//! stdout line, serve until SIGINT/SIGTERM, then drain in-flight requests.

use crate::app::App;
use crate::config::{Config, Mode};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "KMSNAP_LISTEN")]
    listen: Option<String>,
    /// Data directory (default: $KMSNAP_DATA_DIR, else ~/.local/share/kmsnap).
    #[arg(long, env = "KMSNAP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing is written to disk.
    #[arg(long, conflicts_with = "data_dir")]
    memory: bool,
    /// Path of kmsnap.toml.
    #[arg(long, env = "KMSNAP_CONFIG")]
    config: Option<PathBuf>,
    /// File holding the root key (64 hex characters). Default: <data-dir>/root.key.
    #[arg(long, env = "KMSNAP_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    /// Log filter (tracing-subscriber syntax), logs go to stderr.
    #[arg(long, env = "KMSNAP_LOG", default_value = "info")]
    log: String,
    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long, env = "KMSNAP_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    RootKey(#[from] crate::rootkey::RootKeyLoadError),
    #[error("cannot open store: {0}")]
    Store(String),
    #[error("invalid --listen {0}: {1}")]
    Listen(String, String),
    #[error("cannot bind {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("no home directory for the default data dir; pass --data-dir")]
    NoDataDir,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

pub fn default_data_dir() -> Option<PathBuf> {
    if let Ok(x) = std::env::var("XDG_DATA_HOME") {
        if !x.is_empty() {
            return Some(PathBuf::from(x).join("kmsnap"));
        }
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/kmsnap"))
}

pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    if args.log_format == "json" {
        fmt.json().init();
    } else {
        fmt.with_ansi(false).init();
    }

    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    config.apply_env()?;

    // Precedence: command line / KMSNAP_* environment, then kmsnap.toml, then defaults.
    let listen_text = args.listen.clone().or_else(|| config.listen.clone()).unwrap_or_else(|| "127.0.0.1:4566".into());
    let root_key_file = args.root_key_file.clone().or_else(|| config.root_key_file.as_ref().map(PathBuf::from));
    let data_dir = if args.memory {
        None
    } else {
        let d = args
            .data_dir
            .clone()
            .or_else(|| config.data_dir.as_ref().map(PathBuf::from))
            .or_else(default_data_dir)
            .ok_or(ServeError::NoDataDir)?;
        std::fs::create_dir_all(&d)?;
        Some(d)
    };
    let root = crate::rootkey::load(root_key_file.as_deref(), data_dir.as_deref())?;
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|e: std::net::AddrParseError| ServeError::Listen(listen_text.clone(), e.to_string()))?;

    let app = Arc::new(App::open(data_dir.as_deref(), root, &config)?);
    tracing::info!(store = app.store_kind, mode = ?config.auth.mode, "kmsnap starting");
    if config.auth.mode == Mode::Dev {
        tracing::info!("dev mode: access key 'test' and 12-digit access keys accepted with secret 'test'");
    }

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| ServeError::Bind(listen_text.clone(), e))?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "kmsnap listening on http://{addr}")?;
            out.flush()?;
        }
        let workers = crate::app::spawn_workers(app.clone());
        let router = crate::app::router(app.clone());
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        workers.abort();
        tracing::info!("kmsnap stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}
