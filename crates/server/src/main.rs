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
    }
}
