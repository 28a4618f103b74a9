//! `kmsnap snapshot export SNAP FILE`, `kmsnap volume import VOL FILE` and `kmsnap db
//! import/export DB FILE`: raw disk images in
//! and out of a *running* server (the embedded store is locked by the server process, so these
//! are clients, like the aws cli).
//!
//! * Export uses the EBS direct API a real client would: ListSnapshotBlocks (every page), then
//!   GetSnapshotBlock for each listed block, several in flight, each checked against its
//!   `x-amz-Checksum`, written at `index × 512 KiB` into a sparse file of the snapshot's size
//!   (never-written blocks stay holes, reading as zeros).
//! * AWS has no API that writes a volume's blocks, so import uses kmsnap's own endpoint:
//!   `DELETE /_kmsnap/volumes/{vol}/blocks` (the volume then reads as zeros), then `PUT
//!   /_kmsnap/volumes/{vol}/blocks/{index}` for each block of the image that is not all zeros.
//!   It is SigV4-signed like any AWS call and only the volume's owner may use it.
//!
//! * `kmsnap db import/export DB FILE` do the same for an RDS DB instance's storage volume
//!   (found with `GET /_kmsnap/db/{db}`; export reads blocks with `GET
//!   /_kmsnap/volumes/{vol}/blocks[/{index}]`, as no AWS API reads a volume).
//!
//! Requests are signed with SigV4 (service `ebs`) with `--access-key`/`--secret-key` (or
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, default `test`/`test`: dev mode's account
//! 000000000000).

use aws_lc_rs::digest;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};
use kmsnap_auth::sigv4::{self, SigningParams};
use kmsnap_auth::Secret;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The EBS block: 512 KiB.
pub const BLOCK: usize = 524_288;
const GIB: u64 = 1 << 30;

/// Characters SigV4 leaves unencoded in query values (RFC 3986 unreserved).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where the server is and whom to sign as.
#[derive(clap::Args, Clone)]
pub struct Connection {
    /// The running kmsnap server.
    #[arg(long, env = "KMSNAP_ENDPOINT", default_value = "http://127.0.0.1:4566")]
    pub endpoint: String,
    /// Region of the request (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Access key id.
    #[arg(
        long,
        env = "AWS_ACCESS_KEY_ID",
        default_value = "test",
        hide_env_values = true
    )]
    pub access_key: String,
    /// Secret access key.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "test",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub secret_key: String,
    /// Session token of temporary credentials.
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub session_token: Option<String>,
    /// Blocks in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[derive(clap::Args)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub action: SnapshotAction,
}

#[derive(clap::Subcommand)]
pub enum SnapshotAction {
    /// Write a completed snapshot as a raw disk image (a sparse file of the snapshot's size)
    /// through the EBS direct API of a running server (ListSnapshotBlocks + GetSnapshotBlock,
    /// SigV4-signed), checking every block's SHA-256.
    Export {
        /// The snapshot (`snap-…`); the caller must own it or have it shared.
        snapshot: String,
        /// The image file to write (replaced if it exists).
        file: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(clap::Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub action: VolumeAction,
}

#[derive(clap::Subcommand)]
pub enum VolumeAction {
    /// Replace the contents of a volume with a raw disk image, through a running server: its
    /// blocks are dropped, then every 512 KiB block of the image that is not all zeros is
    /// written (sealed under the volume's key) with `PUT /_kmsnap/volumes/{vol}/blocks/{i}`,
    /// kmsnap's SigV4-signed endpoint that only the volume's owner may use. The image must fit
    /// the volume.
    Import {
        /// The volume (`vol-…`), available, owned by the caller.
        volume: String,
        /// The raw image to read.
        file: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub action: DbAction,
}

/// No database engine runs: a DB instance is its storage, a volume of the block store, and
/// these move raw bytes in and out of it (kmsnap's SigV4-signed `/_kmsnap/db/{db}` finds the
/// volume, `/_kmsnap/volumes/{vol}/blocks…` reads or writes it; only the DB's owner may).
#[derive(clap::Subcommand)]
pub enum DbAction {
    /// Replace the storage of DB instance DB with a raw image (every non-zero 512 KiB block
    /// is written, sealed under the DB's key). The image must fit `AllocatedStorage`.
    Import {
        /// The DB instance identifier (in the request's region, owned by the caller).
        db: String,
        /// The raw image to read.
        file: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
    /// Write the storage of DB instance DB as a raw image: a sparse file of
    /// `AllocatedStorage` GiB (never-written blocks stay holes), every block decrypted by the
    /// server under the DB's key.
    Export {
        /// The DB instance identifier.
        db: String,
        /// The image file to write (replaced if it exists).
        file: PathBuf,
        #[command(flatten)]
        conn: Connection,
    },
}

/// A SigV4-signing HTTP client of one server.
struct Signer {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
    host: String,
    region: String,
    access_key: String,
    secret: Secret,
    session_token: Option<String>,
}

/// An answer: status, checksum header, body.
struct Answer {
    status: u16,
    checksum: Option<String>,
    body: Bytes,
}

impl Answer {
    /// The error an unsuccessful answer carries (`Code (Reason): message`).
    fn error(&self, what: &str, error_type: Option<String>) -> String {
        let doc: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let msg = doc
            .get("Message")
            .or_else(|| doc.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let reason = doc
            .get("Reason")
            .and_then(|v| v.as_str())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "{what}: HTTP {} {}{reason}: {msg}",
            self.status,
            error_type.unwrap_or_default()
        )
    }
}

fn sha256(data: &[u8]) -> digest::Digest {
    digest::digest(&digest::SHA256, data)
}

impl Signer {
    fn new(conn: &Connection) -> Result<Arc<Self>, String> {
        let endpoint = conn.endpoint.trim_end_matches('/').to_owned();
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("--endpoint {endpoint}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--endpoint {endpoint}: only http:// endpoints are supported"
            ));
        }
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .ok_or(format!("--endpoint {endpoint}: no host"))?;
        let region = conn
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .or_else(|| {
                std::env::var("AWS_DEFAULT_REGION")
                    .ok()
                    .filter(|r| !r.is_empty())
            })
            .unwrap_or_else(|| "us-east-1".to_owned());
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http();
        Ok(Arc::new(Signer {
            client,
            endpoint,
            host,
            region,
            access_key: conn.access_key.clone(),
            secret: Secret::new(conn.secret_key.clone()),
            session_token: conn.session_token.clone(),
        }))
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut headers = http::HeaderMap::new();
        let header = |s: &str| http::HeaderValue::from_str(s).map_err(|e| e.to_string());
        headers.insert(http::header::HOST, header(&self.host)?);
        headers.insert(
            "x-amz-content-sha256",
            header(&hex::encode(sha256(&body).as_ref()))?,
        );
        for (k, v) in extra {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                header(v)?,
            );
        }
        let params = SigningParams {
            access_key_id: &self.access_key,
            secret: &self.secret,
            session_token: self.session_token.as_deref(),
            region: &self.region,
            service: "ebs",
            time: chrono::Utc::now(),
        };
        sigv4::sign_headers(method, path, query, &mut headers, &body, &params)
            .map_err(|e| format!("signing: {e}"))?;
        let uri = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let mut req = http::Request::builder()
            .method(method)
            .uri(&uri)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        let resp = self.client.request(req).await.map_err(|e| {
            format!(
                "{method} {uri}: {e} (is the server running at {}?)",
                self.endpoint
            )
        })?;
        let status = resp.status().as_u16();
        let text = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (checksum, error_type) = (text("x-amz-checksum"), text("x-amzn-errortype"));
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {uri}: {e}"))?
            .to_bytes();
        let answer = Answer {
            status,
            checksum,
            body,
        };
        if !(200..300).contains(&status) {
            return Err(answer.error(&format!("{method} {path}"), error_type));
        }
        Ok(answer)
    }
}

fn progress_bar(total_bytes: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Runs up to `concurrency` of `jobs` at once; the first error stops the rest.
async fn run_bounded<F>(concurrency: u16, jobs: impl IntoIterator<Item = F>) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut jobs = jobs.into_iter();
    loop {
        while set.len() < usize::from(concurrency) {
            match jobs.next() {
                Some(j) => {
                    set.spawn(j);
                }
                None => break,
            }
        }
        match set.join_next().await {
            None => return Ok(()),
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(format!("worker failed: {e}")),
        }
    }
}

/// Writes block `index` of an image at its offset (off the async threads) and counts it.
async fn write_block(
    out: Arc<std::fs::File>,
    index: u64,
    data: Bytes,
    bar: &ProgressBar,
) -> Result<(), String> {
    let offset = index * BLOCK as u64;
    tokio::task::spawn_blocking(move || out.write_all_at(&data, offset))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("write block {index}: {e}"))?;
    bar.inc(BLOCK as u64);
    Ok(())
}

/// `kmsnap snapshot export`.
pub async fn export(snapshot: &str, file: &Path, conn: &Connection) -> Result<(), String> {
    let signer = Signer::new(conn)?;
    let path = format!("/snapshots/{snapshot}/blocks");
    let mut blocks: Vec<(u64, String)> = Vec::new();
    let mut next: Option<String> = None;
    let mut volume_gib = 0u64;
    loop {
        let mut query = String::from("maxResults=10000");
        if let Some(t) = &next {
            query.push_str(&format!("&pageToken={}", utf8_percent_encode(t, QUERY)));
        }
        let answer = signer.send("GET", &path, &query, &[], Bytes::new()).await?;
        let page: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| format!("ListSnapshotBlocks: {e}"))?;
        volume_gib = page
            .get("VolumeSize")
            .and_then(|v| v.as_u64())
            .unwrap_or(volume_gib);
        for b in page
            .get("Blocks")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let (Some(i), Some(t)) = (
                b.get("BlockIndex").and_then(|v| v.as_u64()),
                b.get("BlockToken").and_then(|v| v.as_str()),
            ) else {
                return Err("ListSnapshotBlocks: a block without index or token".into());
            };
            blocks.push((i, t.to_owned()));
        }
        next = page
            .get("NextToken")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    out.set_len(volume_gib * GIB)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let out = Arc::new(out);
    let bar = progress_bar(
        blocks.len() as u64 * BLOCK as u64,
        &format!("export {snapshot}"),
    );
    let count = blocks.len();
    let jobs = blocks.into_iter().map(|(index, token)| {
        let (signer, out, bar, snapshot) = (
            signer.clone(),
            out.clone(),
            bar.clone(),
            snapshot.to_owned(),
        );
        async move {
            let query = format!("blockToken={}", utf8_percent_encode(&token, QUERY));
            let answer = signer
                .send(
                    "GET",
                    &format!("/snapshots/{snapshot}/blocks/{index}"),
                    &query,
                    &[],
                    Bytes::new(),
                )
                .await?;
            let want = answer
                .checksum
                .ok_or(format!("block {index}: no x-amz-Checksum"))?;
            let got =
                base64::engine::general_purpose::STANDARD.encode(sha256(&answer.body).as_ref());
            if got != want || answer.body.len() != BLOCK {
                return Err(format!(
                    "block {index}: the data does not match its checksum"
                ));
            }
            write_block(out, index, answer.body, &bar).await
        }
    });
    run_bounded(conn.concurrency, jobs).await?;
    out.sync_all()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "exported {count} blocks ({} MiB) of {snapshot} to {} ({volume_gib} GiB image)",
        count * BLOCK / (1 << 20),
        file.display()
    );
    Ok(())
}

/// `kmsnap volume import`.
pub async fn import(volume: &str, file: &Path, conn: &Connection) -> Result<(), String> {
    let signer = Signer::new(conn)?;
    let input = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let size = input
        .metadata()
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let blocks = size.div_ceil(BLOCK as u64);
    signer
        .send(
            "DELETE",
            &format!("/_kmsnap/volumes/{volume}/blocks"),
            "",
            &[],
            Bytes::new(),
        )
        .await?;
    let input = Arc::new(input);
    let bar = progress_bar(size, &format!("import {volume}"));
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let jobs = (0..blocks).map(|index| {
        let (signer, input, bar, volume, written) = (
            signer.clone(),
            input.clone(),
            bar.clone(),
            volume.to_owned(),
            written.clone(),
        );
        async move {
            let offset = index * BLOCK as u64;
            let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let mut buf = vec![0u8; BLOCK];
                let want = usize::try_from((size - offset).min(BLOCK as u64)).unwrap_or(BLOCK);
                input.read_exact_at(&mut buf[..want], offset)?;
                Ok(buf)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("read block {index}: {e}"))?;
            let len = (size - offset).min(BLOCK as u64);
            if data.iter().all(|&b| b == 0) {
                bar.inc(len);
                return Ok(());
            }
            let checksum = base64::engine::general_purpose::STANDARD.encode(sha256(&data).as_ref());
            let path = format!("/_kmsnap/volumes/{volume}/blocks/{index}");
            signer
                .send(
                    "PUT",
                    &path,
                    "",
                    &[("x-amz-checksum", checksum)],
                    Bytes::from(data),
                )
                .await?;
            written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            bar.inc(len);
            Ok(())
        }
    });
    run_bounded(conn.concurrency, jobs).await?;
    bar.finish_and_clear();
    let n = written.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "imported {} into {volume}: {n} blocks written, {} all-zero blocks skipped",
        file.display(),
        blocks - n
    );
    Ok(())
}

/// The backing volume of DB instance `db`.
async fn db_volume(signer: &Signer, db: &str) -> Result<String, String> {
    let answer = signer
        .send("GET", &format!("/_kmsnap/db/{db}"), "", &[], Bytes::new())
        .await?;
    let doc: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("DB {db}: {e}"))?;
    doc.get("VolumeId")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or(format!("DB {db}: no storage volume"))
}

/// `kmsnap db import`: the volume import, into the DB's storage volume.
pub async fn db_import(db: &str, file: &Path, conn: &Connection) -> Result<(), String> {
    let volume = db_volume(&*Signer::new(conn)?, db).await?;
    import(&volume, file, conn).await
}

/// `kmsnap db export`.
pub async fn db_export(db: &str, file: &Path, conn: &Connection) -> Result<(), String> {
    let signer = Signer::new(conn)?;
    let volume = db_volume(&signer, db).await?;
    let path = format!("/_kmsnap/volumes/{volume}/blocks");
    let (mut blocks, mut from, mut size_gib) = (Vec::new(), 0u64, 0u64);
    loop {
        let answer = signer
            .send("GET", &path, &format!("from={from}"), &[], Bytes::new())
            .await?;
        let page: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| format!("list blocks: {e}"))?;
        size_gib = page
            .get("VolumeSize")
            .and_then(|v| v.as_u64())
            .unwrap_or(size_gib);
        let idx: Vec<u64> = page
            .get("Blocks")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_u64())
            .collect();
        match idx.last() {
            Some(last) => from = last + 1,
            None => break,
        }
        blocks.extend(idx);
    }
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    out.set_len(size_gib * GIB)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let out = Arc::new(out);
    let bar = progress_bar(blocks.len() as u64 * BLOCK as u64, &format!("export {db}"));
    let count = blocks.len();
    let jobs = blocks.into_iter().map(|index| {
        let (signer, out, bar, path) = (signer.clone(), out.clone(), bar.clone(), path.clone());
        async move {
            let answer = signer
                .send("GET", &format!("{path}/{index}"), "", &[], Bytes::new())
                .await?;
            if answer.body.len() != BLOCK {
                return Err(format!(
                    "block {index}: {} bytes, expected {BLOCK}",
                    answer.body.len()
                ));
            }
            write_block(out, index, answer.body, &bar).await
        }
    });
    run_bounded(conn.concurrency, jobs).await?;
    out.sync_all()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "exported {count} blocks of DB {db} to {} ({size_gib} GiB image)",
        file.display()
    );
    Ok(())
}
