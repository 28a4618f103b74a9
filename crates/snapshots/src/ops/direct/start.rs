//! StartSnapshot (`POST /snapshots`, 201): a new `pending` snapshot that PutSnapshotBlock
//! fills. Its encryption follows the documented table ([`encryption`]); without a parent it
//! starts a lineage of its own (a data key generated under the chosen key through EC2, with
//! the snapshot id as encryption context, and EC2's grant on a customer key); with a parent it
//! joins the parent's lineage and starts with the parent's whole manifest (blocks shared).
//! A `ClientToken` makes retries return the first call's snapshot.

use super::{append, event, validation};
use crate::blocks;
use crate::error::EbsError;
use crate::model::{
    ClientTokenRecord, LineageRecord, Permissions, SnapshotOrigin, SnapshotRecord, SnapshotState,
    BLOCK_SIZE,
};
use crate::ops::common::{default_key_arn, encryption_by_default, new_id, resolve_key_arn};
use crate::{store, Snapshots};
use kmsnap_api::gen::ebs::{SSEType, StartSnapshotRequest, StartSnapshotResponse, Status, Tag};
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;

/// Largest `VolumeSize` (GiB).
pub const MAX_VOLUME_GIB: i64 = 65_536;
/// `Timeout` bounds and default (minutes).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<i32> = 10..=4320;
pub const DEFAULT_TIMEOUT: i32 = 60;
/// At most this many tags per snapshot (EC2's limit).
pub const MAX_TAGS: usize = 50;

/// How a new direct snapshot is encrypted (docs/ebs.md §10, "Encryption outcome").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    Unencrypted,
    /// The region's default key (docs/ebs.md §2).
    DefaultKey,
    /// `KmsKeyArn`.
    GivenKey,
    /// The parent's lineage: its key, or unencrypted like the parent.
    Parent,
}

/// The documented table. `parent` is `Some(parent is encrypted)`; `ebd` = encryption by
/// default on in the region.
pub fn encryption(
    parent: Option<bool>,
    encrypted: Option<bool>,
    key_given: bool,
    ebd: bool,
) -> Result<Encryption, EbsError> {
    let refuse = |why: &str| Err(validation("INVALID_PARAMETER_VALUE", why.to_owned()));
    match (parent, encrypted, key_given) {
        (None, None, false) if ebd => Ok(Encryption::DefaultKey),
        (None, None, false) => Ok(Encryption::Unencrypted),
        (None, None | Some(true), true) => Ok(Encryption::GivenKey),
        (None, Some(true), false) => Ok(Encryption::DefaultKey),
        (None, Some(false), false) if ebd => {
            refuse("Encryption by default is enabled in this Region: the snapshot must be encrypted.")
        }
        (None, Some(false), false) => Ok(Encryption::Unencrypted),
        (None, Some(false), true) => refuse("KmsKeyArn requires Encrypted to be true or omitted."),
        (Some(false), None, false) if ebd => refuse(
            "Encryption by default is enabled in this Region: an unencrypted parent snapshot cannot have an unencrypted child.",
        ),
        (Some(_), None, false) => Ok(Encryption::Parent),
        (Some(_), _, _) => refuse("A snapshot with a ParentSnapshotId takes the parent's encryption: omit Encrypted and KmsKeyArn."),
    }
}

/// Whether `s` has the form of a KMS key ARN (`arn:aws[a-z-]*:kms:…:<12 digits>:key/…`).
pub fn is_key_arn(s: &str) -> bool {
    let Ok(arn) = Arn::parse(s) else {
        return false;
    };
    arn.partition
        .strip_prefix("aws")
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        && arn.service == "kms"
        && arn.account.len() == 12
        && arn.account.bytes().all(|b| b.is_ascii_digit())
        && arn.resource.starts_with("key/")
}

fn check_tags(tags: &[Tag]) -> Result<Vec<(String, String)>, EbsError> {
    let bad = |m: String| validation("INVALID_TAG", m);
    if tags.len() > MAX_TAGS {
        return Err(bad(format!("A snapshot can have at most {MAX_TAGS} tags.")));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for t in tags {
        let key = t.key.clone().unwrap_or_default();
        if key.is_empty() {
            return Err(bad("A tag key must not be empty.".into()));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(bad(format!(
                "Tag keys starting with 'aws:' are reserved: {key}"
            )));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!("Duplicate tag key: {key}")));
        }
        out.push((key, t.value.clone().unwrap_or_default()));
    }
    Ok(out)
}

/// The digest a ClientToken remembers: every parameter that shapes the snapshot.
fn params_digest(input: &StartSnapshotRequest) -> String {
    let tags: Vec<(Option<&str>, Option<&str>)> = input
        .tags
        .iter()
        .flatten()
        .map(|t| (t.key.as_deref(), t.value.as_deref()))
        .collect();
    let canonical = serde_json::json!([
        input.volume_size,
        input.parent_snapshot_id,
        tags,
        input.description,
        input.encrypted,
        input.kms_key_arn,
        input.timeout.unwrap_or(DEFAULT_TIMEOUT),
    ]);
    blocks::sha256_hex(canonical.to_string().as_bytes())
}

/// The response for `s` (also what a retried ClientToken gets).
pub fn response(s: &SnapshotRecord) -> StartSnapshotResponse {
    let parent = match &s.origin {
        SnapshotOrigin::Direct { parent, .. } => parent.clone(),
        _ => None,
    };
    StartSnapshotResponse {
        description: (!s.description.is_empty()).then(|| s.description.clone()),
        snapshot_id: Some(s.id.clone()),
        owner_id: Some(s.account.as_str().to_owned()),
        status: Some(match s.state {
            SnapshotState::Pending => Status::Pending,
            SnapshotState::Completed => Status::Completed,
            SnapshotState::Error => Status::Error,
        }),
        start_time: Some(Timestamp(s.start_time)),
        volume_size: Some(i64::from(s.volume_size)),
        block_size: Some(BLOCK_SIZE as i32),
        tags: (!s.tags.is_empty()).then(|| {
            s.tags
                .iter()
                .map(|(k, v)| Tag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect()
        }),
        parent_snapshot_id: parent,
        kms_key_arn: s.kms_key_arn.clone(),
        sse_type: Some(if s.encrypted {
            SSEType::SseKms
        } else {
            SSEType::None
        }),
    }
}

/// What a ClientToken already names: the snapshot, or a conflict.
fn replay(
    txn: &dyn kmsnap_store::ReadTxn,
    ctx: &RequestContext,
    token: &str,
    digest: &str,
) -> Result<Option<SnapshotRecord>, EbsError> {
    let Some(t) = store::get_client_token(txn, ctx.principal.account, ctx.region, token)? else {
        return Ok(None);
    };
    if t.params_sha256 != digest {
        return Err(EbsError::Conflict(
            "The ClientToken was already used for a StartSnapshot request with different parameters.".into(),
        ));
    }
    match store::get_snapshot(txn, ctx.principal.account, ctx.region, &t.snapshot_id)? {
        Some(s) => Ok(Some(s)),
        // The snapshot was deleted since: the token is spent.
        None => Err(EbsError::Conflict(
            "The ClientToken was already used for a snapshot that no longer exists.".into(),
        )),
    }
}

pub async fn start_snapshot(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: StartSnapshotRequest,
) -> Result<StartSnapshotResponse, EbsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    if !(1..=MAX_VOLUME_GIB).contains(&input.volume_size) {
        return Err(validation(
            "INVALID_VOLUME_SIZE",
            format!("VolumeSize must be between 1 and {MAX_VOLUME_GIB} GiB."),
        ));
    }
    let timeout = input.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if !TIMEOUT_RANGE.contains(&timeout) {
        return Err(validation(
            "INVALID_PARAMETER_VALUE",
            "Timeout must be between 10 and 4320 minutes.",
        ));
    }
    if let Some(k) = &input.kms_key_arn {
        if !is_key_arn(k) {
            return Err(validation(
                "INVALID_PARAMETER_VALUE",
                "Value at 'kmsKeyArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws[a-z\\-]*:kms:.*:[0-9]{12}:key/.*",
            ));
        }
    }
    let tags = check_tags(input.tags.as_deref().unwrap_or_default())?;
    let digest = params_digest(&input);
    let token = input.client_token.clone().filter(|t| !t.is_empty());

    // Parent, and a retry of an earlier call.
    let meta = svc.meta.clone();
    let (ctx2, token2, digest2, parent_id) = (
        ctx.clone(),
        token.clone(),
        digest.clone(),
        input.parent_snapshot_id.clone(),
    );
    let (earlier, parent) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        let earlier = match &token2 {
            Some(t) => replay(txn.as_ref(), &ctx2, t, &digest2)?,
            None => None,
        };
        let parent = match (&earlier, &parent_id) {
            (None, Some(p)) => {
                let s = super::visible(txn.as_ref(), &ctx2, p)?;
                let lineage = store::get_lineage(txn.as_ref(), &s.lineage)?
                    .ok_or(EbsError::Internal("snapshot without lineage"))?;
                Some((s, lineage))
            }
            _ => None,
        };
        Ok((earlier, parent))
    })
    .await??;
    if let Some(s) = earlier {
        return Ok(response(&s));
    }
    if let Some((p, _)) = &parent {
        if p.state != SnapshotState::Completed {
            return Err(validation(
                "INVALID_PARAMETER_VALUE",
                format!("The parent snapshot {} is not completed.", p.id),
            ));
        }
        if input.volume_size < i64::from(p.volume_size) {
            return Err(validation(
                "INVALID_VOLUME_SIZE",
                format!(
                    "VolumeSize must be at least the parent snapshot's size ({} GiB).",
                    p.volume_size
                ),
            ));
        }
    }

    let ebd = encryption_by_default(svc, account, region).await?;
    let outcome = encryption(
        parent.as_ref().map(|(p, _)| p.encrypted),
        input.encrypted,
        input.kms_key_arn.is_some(),
        ebd,
    )?;
    let id = new_id("snap")?;
    let key_arn = match outcome {
        Encryption::Unencrypted | Encryption::Parent => None,
        Encryption::DefaultKey => Some(default_key_arn(svc, account, region).await?),
        Encryption::GivenKey => {
            Some(resolve_key_arn(svc, ctx, input.kms_key_arn.as_deref().unwrap_or_default()).await?)
        }
    };
    let (lineage, new_lineage): (LineageRecord, bool) = match (&parent, outcome) {
        (Some((_, l)), Encryption::Parent) => {
            // Fail now, not at the first write, when the caller cannot use the parent's key.
            blocks::open_lineage(&svc.kms, ctx, l).await?;
            (l.clone(), false)
        }
        _ => {
            let l = blocks::new_lineage(&svc.kms, ctx, key_arn.as_deref(), &id).await?;
            if let Some(k) = &l.kms_key_arn {
                blocks::grant_for_resource(&svc.kms, ctx, k, &id).await?;
            }
            (l, true)
        }
    };

    let snap = SnapshotRecord {
        id: id.clone(),
        account,
        region,
        volume_id: "vol-ffffffff".into(),
        volume_size: i32::try_from(input.volume_size)
            .map_err(|_| EbsError::Internal("volume size"))?,
        state: SnapshotState::Pending,
        state_message: None,
        progress: 0,
        start_time: now,
        description: input.description.clone().unwrap_or_default(),
        encrypted: lineage.kms_key_arn.is_some(),
        kms_key_arn: lineage.kms_key_arn.clone(),
        lineage: lineage.id.clone(),
        tags,
        permissions: Permissions::default(),
        origin: SnapshotOrigin::Direct {
            parent: parent.as_ref().map(|(p, _)| p.id.clone()),
            timeout_minutes: timeout,
            client_token: token.clone(),
            written: 0,
            last_write: None,
        },
        data_encryption_key_id: lineage
            .kms_key_arn
            .as_ref()
            .map(|_| lineage.data_key_id.clone()),
        completed: None,
        managed_by: None,
    };
    let resp = response(&snap);
    let ev = event(ctx, "StartSnapshot", &input, &snap.id).with_response_of(
        "ebs",
        "StartSnapshot",
        &resp,
    );
    let meta = svc.meta.clone();
    let ctx2 = ctx.clone();
    let parent_id = parent.map(|(p, _)| p.id);
    crate::blocking(move || -> Result<StartSnapshotResponse, EbsError> {
        let mut txn = meta.write()?;
        if let Some(t) = &token {
            // A concurrent call with the same token may have won the race.
            if let Some(s) = replay(&*txn, &ctx2, t, &digest)? {
                return Ok(response(&s));
            }
            store::put_client_token(
                txn.as_mut(),
                account,
                region,
                t,
                &ClientTokenRecord {
                    snapshot_id: snap.id.clone(),
                    params_sha256: digest,
                },
            )?;
        }
        if new_lineage {
            store::put_lineage(txn.as_mut(), &lineage)?;
        }
        if let Some(p) = &parent_id {
            copy_manifest(txn.as_mut(), p, &snap.id)?;
        }
        store::put_snapshot(txn.as_mut(), &snap)?;
        append(txn.as_mut(), &[ev])?;
        txn.commit()?;
        Ok(resp)
    })
    .await?
}

/// The child starts with every block of its parent (rows copied, blobs shared).
fn copy_manifest(
    txn: &mut dyn kmsnap_store::WriteTxn,
    from: &str,
    to: &str,
) -> Result<u64, EbsError> {
    const PAGE: usize = 4096;
    let mut next = 0;
    let mut n = 0;
    loop {
        let page = store::blocks_from(&*txn, from, next, PAGE)?;
        for (i, b) in &page {
            store::put_block(txn, to, *i, b)?;
        }
        n += page.len() as u64;
        match page.last() {
            Some((last, _)) if page.len() == PAGE => next = last + 1,
            _ => return Ok(n),
        }
    }
}
