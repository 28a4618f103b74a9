//! `kmsnap serve`: load config, open the store, bind, print the bound address as the first
//! stdout line, serve until SIGINT/SIGTERM, then drain in-flight requests.

use crate::config::{Config, Mode};
use crate::state::App;
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
    #[error(transparent)]
    Open(#[from] crate::state::OpenError),
    #[error("invalid --listen {0}: {1}")]
    Listen(String, String),
    #[error("cannot bind {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("no home directory for the default data dir; pass --data-dir")]
    NoDataDir,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub fn default_data_dir() -> Option<PathBuf> {
    if let Ok(x) = std::env::var("XDG_DATA_HOME") {
        if !x.is_empty() {
            return Some(PathBuf::from(x).join("kmsnap"));
        }
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/kmsnap"))
}

/// Creates `dir` (0700 under the umask [`run`] sets) or, when it exists, warns about every
/// entry in its first two levels that other users may read or write: kmsnap does not change
/// modes it did not set, but says how to fix them.
fn make_private(dir: &std::path::Path) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        return Ok(());
    }
    let mut wide = Vec::new();
    let mut visit = |p: &std::path::Path| {
        if let Ok(m) = std::fs::symlink_metadata(p) {
            let mode = m.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                wide.push(format!("{} ({mode:04o})", p.display()));
            }
        }
    };
    visit(dir);
    for entry in std::fs::read_dir(dir)?.flatten() {
        visit(&entry.path());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            for inner in std::fs::read_dir(entry.path())?.flatten() {
                visit(&inner.path());
            }
        }
    }
    if !wide.is_empty() {
        tracing::warn!(
            "data dir {} is open to other users: {}; kmsnap creates everything 0700/0600 — run `chmod -R go-rwx {}`",
            dir.display(),
            wide.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            dir.display()
        );
    }
    Ok(())
}

pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if args.log_format == "json" {
        fmt.json().init();
    } else {
        fmt.with_ansi(false).init();
    }

    // Everything kmsnap creates — the data dir, the store, the audit journal, block segments —
    // is for its own user only (docs/security.md, "Private data dir").
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));

    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    config.apply_env()?;

    // Precedence: command line / KMSNAP_* environment, then kmsnap.toml, then defaults.
    let listen_text = args
        .listen
        .clone()
        .or_else(|| config.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:4566".into());
    let root_key_file = args
        .root_key_file
        .clone()
        .or_else(|| config.root_key_file.as_ref().map(PathBuf::from));
    let data_dir = if args.memory {
        None
    } else {
        let d = args
            .data_dir
            .clone()
            .or_else(|| config.data_dir.as_ref().map(PathBuf::from))
            .or_else(default_data_dir)
            .ok_or(ServeError::NoDataDir)?;
        make_private(&d)?;
        Some(d)
    };
    let root = crate::rootkey::load(root_key_file.as_deref(), data_dir.as_deref())?;
    let listen: SocketAddr = listen_text.parse().map_err(|e: std::net::AddrParseError| {
        ServeError::Listen(listen_text.clone(), e.to_string())
    })?;

    let app = Arc::new(App::open(data_dir.as_deref(), root, &config)?);
    tracing::info!(store = app.store_kind, mode = ?config.auth.mode, "kmsnap starting");
    if config.auth.mode == Mode::Dev {
        tracing::info!(
            "dev mode: access key 'test' and 12-digit access keys accepted with secret 'test'"
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| ServeError::Bind(listen_text.clone(), e))?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "kmsnap listening on http://{addr}")?;
            out.flush()?;
        }
        let workers = crate::state::spawn_workers(app.clone());
        accept_loop(app, listener).await;
        workers.abort();
        tracing::info!("kmsnap stopped");
        Ok(())
    })
}

/// How long a shutdown waits for in-flight requests before it stops anyway.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves HTTP/1.1 connections until SIGINT/SIGTERM, then drains in-flight requests.
///
/// At most `limits.max_connections` connections are served at once (further clients wait in
/// the kernel's listen queue until a slot frees); hyper closes a connection whose request
/// head has not arrived within `limits.header_timeout` — which also closes kept-alive
/// connections idle that long — and [`crate::app::serve_request`] bounds the body's time and
/// size (docs/security.md, "Bounded requests").
async fn accept_loop(app: Arc<App>, listener: tokio::net::TcpListener) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let limits = app.limits.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        crate::app::serve_request(&app, peer, req.map(axum::body::Body::new)).await,
                    )
                }
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("in-flight requests still running after {DRAIN:?}; stopping"),
    }
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
