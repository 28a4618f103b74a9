//! `kmsnap fsck`: check every block a stopped server's data directory references
//! ([`kmsnap_snapshots::fsck`]), print what is damaged and which volumes and snapshots
//! reference it, list (or delete) orphan block files. Exit status 1 when damage is found.
//!
//! Encrypted blocks are opened with their data keys, which the in-process KMS of the same data
//! directory unwraps for each lineage's owner (so fsck needs the root key, like `serve`); the
//! Decrypt calls are audited as the owner's, through EC2, with user agent `kmsnap-fsck`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct FsckArgs {
    /// Data directory (default as for `serve`). The server using it must be stopped.
    #[arg(long, env = "KMSNAP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File holding the root key (default: <data-dir>/root.key, or $KMSNAP_ROOT_KEY).
    #[arg(long, env = "KMSNAP_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    /// Delete block files that no volume or snapshot references (default: only list them).
    #[arg(long)]
    delete_orphans: bool,
}

pub fn run(args: FsckArgs) -> Result<ExitCode, String> {
    let dir = args
        .data_dir
        .or_else(crate::serve::default_data_dir)
        .ok_or("no data directory (use --data-dir)")?;
    if !dir.join(kmsnap_store::META_FILE).is_file() {
        return Err(format!("{}: no kmsnap database here", dir.display()));
    }
    if args.root_key_file.is_none()
        && std::env::var_os("KMSNAP_ROOT_KEY").is_none()
        && !dir.join("root.key").is_file()
    {
        return Err(format!(
            "{}: no root.key (use --root-key-file or KMSNAP_ROOT_KEY)",
            dir.display()
        ));
    }
    let root = crate::rootkey::load(args.root_key_file.as_deref(), Some(&dir))
        .map_err(|e| e.to_string())?;
    let (meta, blobs) = kmsnap_store::open_embedded(&dir).map_err(|e| {
        format!(
            "{}: {e} (is the server still running? stop it first)",
            dir.display()
        )
    })?;
    let offset = crate::clock::load_clock_offset(meta.as_ref()).map_err(|e| e.to_string())?;
    let clock = Arc::new(kmsnap_core::ManualClock::new(offset));
    // The journal as `serve` uses it, so fsck's records follow what a killed server left there.
    let audit =
        Arc::new(crate::state::open_audit(meta.clone(), Some(&dir)).map_err(|e| e.to_string())?);
    // fsck decrypts as each volume's account root, never as an IAM user or role: no identity
    // policies are consulted.
    let kms = kmsnap_kms::Kms::with_audit(
        meta.clone(),
        &root,
        clock.clone(),
        audit,
        Arc::new(kmsnap_iam::NoIdentityPolicies),
    )
    .map_err(|e| e.to_string())?;
    let svc = kmsnap_snapshots::Snapshots::new(meta, blobs, Arc::new(kms), clock);
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "fsck [{elapsed_precise}] [{wide_bar}] {pos}/{len} blocks",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let progress_bar = bar.clone();
    let progress: kmsnap_snapshots::fsck::Progress = Arc::new(move |done, total| {
        progress_bar.set_length(total);
        progress_bar.set_position(done);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = rt
        .block_on(kmsnap_snapshots::fsck::fsck(
            &svc,
            args.delete_orphans,
            progress,
        ))
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();

    println!(
        "checked {} blocks referenced by {} manifest rows of {} volumes and snapshots",
        report.blobs, report.rows, report.resources
    );
    for d in &report.damaged {
        println!("DAMAGED block {}: {}", d.blob, d.problem);
        for r in &d.references {
            let kind = if r.resource.starts_with("snap-") {
                "snapshot"
            } else {
                "volume"
            };
            let owner = r
                .owner
                .as_deref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default();
            println!(
                "  referenced by {kind} {} block {}{owner}",
                r.resource, r.index
            );
        }
    }
    for u in &report.unverified {
        println!(
            "unverified: {} blocks of lineage {}: {}",
            u.blobs, u.lineage, u.reason
        );
    }
    for o in &report.orphans {
        let verb = if args.delete_orphans {
            "deleted orphan"
        } else {
            "orphan"
        };
        println!("{verb}: {o}");
    }
    if report.unmapped > 0 {
        println!(
            "dropped {} copy-map entries naming orphans",
            report.unmapped
        );
    }
    if report.clean() {
        println!("fsck: OK ({} orphans)", report.orphans.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("fsck: {} damaged blocks", report.damaged.len());
        Ok(ExitCode::FAILURE)
    }
}
