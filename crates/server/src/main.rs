//! `kmsnap`: one binary serving AWS's key-management and encrypted-snapshot services.
//!
//! `kmsnap serve` runs the server (see [`serve`]); `kmsnap audit verify|export` check and export
//! the audit log of a stopped server's data directory, and `kmsnap fsck` its blocks ([`fsck`]);
//! `kmsnap snapshot export` / `kmsnap volume import` move raw disk images out of and into a
//! running server, as its clients ([`transfer`]).
#![forbid(unsafe_code)]

mod app;
mod authn;
mod clock;
mod config;
mod fsck;
mod handlers;
mod internal;
mod limits;
mod metrics;
mod respond;
mod rootkey;
mod secret;
mod serve;
mod state;
mod transfer;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kmsnap",
    version,
    about = "AWS-compatible KMS and encrypted snapshot server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Encrypt a secret access key (read from stdin) with the root key, for `kmsnap.toml`.
    Secret(SecretArgs),
    /// Check or export the audit log of a data directory. These open the database, which the
    /// server holds locked while it runs: stop the server first.
    Audit(AuditArgs),
    /// EBS snapshots: `export` one as a raw disk image, from a running server (a client of its
    /// EBS direct API; the store stays with the server).
    Snapshot(transfer::SnapshotArgs),
    /// EBS volumes: `import` a raw disk image into one, through a running server (a
    /// SigV4-signed kmsnap endpoint; the store stays with the server).
    Volume(transfer::VolumeArgs),
    /// RDS DB instances: `import` a raw image into a DB's storage or `export` it, through a
    /// running server. No database engine runs: a DB instance is its storage bytes.
    Db(transfer::DbArgs),
    /// Check every stored EBS block of a data directory: missing or damaged blocks (and the
    /// volumes and snapshots that reference them), orphan block files. Opens the database,
    /// which the server holds locked while it runs: stop the server first. Exit status 1 when
    /// damage is found.
    Fsck(fsck::FsckArgs),
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(subcommand)]
    action: AuditAction,
    /// Data directory (default as for `serve`). The server using it must be stopped.
    #[arg(long, env = "KMSNAP_DATA_DIR", global = true)]
    data_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Verify the hash chain: exit 0 and "audit log OK: N records", or exit 1 and "audit log
    /// broken at record S: reason". Stop the server first (it holds the database lock).
    Verify,
    /// Write every audit record as one JSON line, oldest first. Stop the server first (it
    /// holds the database lock).
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

fn open_audit_store(
    data_dir: Option<std::path::PathBuf>,
) -> Result<std::sync::Arc<dyn kmsnap_store::MetaStore>, String> {
    let dir = data_dir
        .or_else(serve::default_data_dir)
        .ok_or("no data directory (use --data-dir)")?;
    if !dir.join(kmsnap_store::META_FILE).is_file() {
        return Err(format!("{}: no kmsnap database here", dir.display()));
    }
    let (meta, _blobs) = kmsnap_store::open_embedded(&dir).map_err(|e| {
        format!(
            "{}: {e} (is the server still running? stop it first)",
            dir.display()
        )
    })?;
    // Records a stopped (or killed) server left in the audit journal belong to the log too.
    kmsnap_audit::recover_journal(meta.as_ref(), &dir.join(kmsnap_audit::JOURNAL_DIR))
        .map_err(|e| e.to_string())?;
    Ok(meta)
}

fn audit_cmd(args: AuditArgs) -> Result<ExitCode, String> {
    let meta = open_audit_store(args.data_dir)?;
    match args.action {
        AuditAction::Verify => {
            let report = kmsnap_audit::verify(meta.as_ref()).map_err(|e| e.to_string())?;
            match report.first_broken {
                None => {
                    println!("audit log OK: {} records", report.records);
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, reason)) => {
                    println!("audit log broken at record {seq}: {reason}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditAction::Export { output } => {
            let n = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n =
                        kmsnap_audit::export(meta.as_ref(), &mut w).map_err(|e| e.to_string())?;
                    w.into_inner()
                        .map_err(|e| e.to_string())?
                        .sync_all()
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    kmsnap_audit::export(meta.as_ref(), &mut lock).map_err(|e| e.to_string())?
                }
            };
            eprintln!("exported {n} audit records");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(clap::Args)]
struct SecretArgs {
    #[command(subcommand)]
    action: SecretAction,
    /// Data directory whose root.key to use (default as for `serve`).
    #[arg(long, env = "KMSNAP_DATA_DIR", global = true)]
    data_dir: Option<std::path::PathBuf>,
    /// File holding the root key.
    #[arg(long, env = "KMSNAP_ROOT_KEY_FILE", global = true)]
    root_key_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum SecretAction {
    /// Print `enc:v1:…` for the secret on standard input.
    Encrypt,
}

fn secret_cmd(args: SecretArgs) -> Result<(), String> {
    let data_dir = args.data_dir.or_else(serve::default_data_dir);
    if let Some(d) = &data_dir {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let root = rootkey::load(args.root_key_file.as_deref(), data_dir.as_deref())
        .map_err(|e| e.to_string())?;
    match args.action {
        SecretAction::Encrypt => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let secret = line.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                return Err("no secret on standard input".into());
            }
            println!("{}", secret::encrypt(&root, secret)?);
            Ok(())
        }
    }
}

/// Runs a client subcommand (export/import) to completion.
fn client_cmd(f: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(f));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kmsnap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kmsnap: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Audit(args) => match audit_cmd(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("kmsnap: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Snapshot(args) => match args.action {
            transfer::SnapshotAction::Export {
                snapshot,
                file,
                conn,
            } => client_cmd(transfer::export(&snapshot, &file, &conn)),
        },
        Command::Volume(args) => match args.action {
            transfer::VolumeAction::Import { volume, file, conn } => {
                client_cmd(transfer::import(&volume, &file, &conn))
            }
        },
        Command::Db(args) => match args.action {
            transfer::DbAction::Import { db, file, conn } => {
                client_cmd(transfer::db_import(&db, &file, &conn))
            }
            transfer::DbAction::Export { db, file, conn } => {
                client_cmd(transfer::db_export(&db, &file, &conn))
            }
        },
        Command::Fsck(args) => match fsck::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("kmsnap: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Secret(args) => match secret_cmd(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kmsnap: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
