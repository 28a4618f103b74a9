//! `kmsnap`: one binary serving AWS's key-management and encrypted-snapshot services.
//!
//! `kmsnap serve` runs the server (see [`serve`]); later subcommands (audit, import/export,
//! fsck) operate on a data directory.
#![forbid(unsafe_code)]

mod app;
mod config;
mod handlers;
mod internal;
mod metrics;
mod rootkey;
mod secret;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kmsnap", version, about = "AWS-compatible KMS and encrypted snapshot server")]
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
    let root = rootkey::load(args.root_key_file.as_deref(), data_dir.as_deref()).map_err(|e| e.to_string())?;
    match args.action {
        SecretAction::Encrypt => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
            let secret = line.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                return Err("no secret on standard input".into());
            }
            println!("{}", secret::encrypt(&root, secret)?);
            Ok(())
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
        Command::Secret(args) => match secret_cmd(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kmsnap: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
