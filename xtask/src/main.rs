//! `cargo xtask <task>`: developer tasks that are not part of the product.
//!
//! * `cargo xtask codegen [--models DIR] [--check]`: reads botocore's service models (pip-installed
//!   into `.codegen/venv`, or from `DIR`) and writes `crates/api/src/gen/` (committed). With
//!   `--check` nothing is written; the command fails and lists the files that regeneration would
//!   change, so CI catches hand edits and stale output. `$KMSNAP_CODEGEN_PYTHON` may name a python
//!   that already has the pinned botocore (e.g. the e2e venv); the pip step is the only network use.
//!
//! Modules: [`allowlist`] (what is generated), [`model`] (botocore's JSON and where it comes
//! from), [`naming`] (Rust identifiers), [`emit`] (the generated source).

mod allowlist;
mod emit;
mod model;
mod naming;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const USAGE: &str = "usage: cargo xtask codegen [--models DIR] [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => match codegen(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("codegen: error: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn codegen(args: &[String]) -> Result<ExitCode, String> {
    let mut check = false;
    let mut models: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--models" => models = Some(PathBuf::from(it.next().ok_or(USAGE)?)),
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    let root = workspace_root();
    let source = match models {
        Some(dir) => model::Source::Dir(dir),
        None => model::Source::botocore(&root)?,
    };
    let files = generate(&source, &root)?;
    let gen_dir = root.join("crates/api/src/gen");
    if check {
        let stale = compare(&gen_dir, &files)?;
        if stale.is_empty() {
            eprintln!("codegen: {} files up to date", files.len());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("codegen: regeneration would change (run `cargo xtask codegen`):");
        for f in stale {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    write(&gen_dir, &files)?;
    Ok(ExitCode::SUCCESS)
}

/// Every file of `crates/api/src/gen`, by file name, formatted.
fn generate(source: &model::Source, root: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    let services: Vec<&allowlist::Service> = allowlist::SERVICES.iter().collect();
    for svc in &services {
        let m = source.load(svc.name, svc.api_version)?;
        let g = emit::Gen::new(svc, &m)?;
        files.insert(format!("{}.rs", svc.name), rustfmt(root, &g.render())?);
    }
    files.insert(
        "mod.rs".to_owned(),
        rustfmt(root, &emit::render_mod(&services))?,
    );
    files.insert(
        "support.rs".to_owned(),
        rustfmt(root, &emit::render_support())?,
    );
    Ok(files)
}

/// Formats with rustfmt (from the workspace root, so a future `rustfmt.toml` applies), so the
/// committed files are what `cargo fmt` would leave.
fn rustfmt(root: &Path, src: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt: no stdin")?;
    let input = src.to_owned();
    // Write from another thread: rustfmt starts printing before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt: writer panicked")?
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed on generated code: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt: {e}"))
}

/// File names under `dir` whose content differs from `files`, including missing and extra `.rs`
/// files.
fn compare(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    for (name, content) in files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(old) if old == *content => {}
            Ok(_) => stale.push(format!("{name} (differs)")),
            Err(_) => stale.push(format!("{name} (missing)")),
        }
    }
    for name in existing(dir)? {
        if !files.contains_key(&name) {
            stale.push(format!("{name} (not generated; would be removed)"));
        }
    }
    Ok(stale)
}

fn existing(dir: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in rd {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn write(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in existing(dir)? {
        if !files.contains_key(&name) {
            std::fs::remove_file(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
            eprintln!("codegen: removed {name}");
        }
    }
    for (name, content) in files {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(content.as_str()) {
            continue;
        }
        std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "codegen: wrote {} ({} lines)",
            path.display(),
            content.lines().count()
        );
    }
    Ok(())
}
