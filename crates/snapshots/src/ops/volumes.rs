//! CreateVolume, DescribeVolumes, DeleteVolume (docs/ebs.md §1–§3). AttachVolume and
//! DetachVolume stay unbuilt: kmsnap has no instances.
//!
//! Encryption of a new volume follows the outcome table of docs/ebs.md §3 ([`outcome`]). A volume starts a
//! lineage of its own (a data key generated under its KMS key with the volume id as encryption
//! context, plus EC2's grant for the resource) unless it comes from the caller's own snapshot
//! under the same key: then it joins the snapshot's lineage and shares its blocks (the manifest
//! is copied, no byte moves) and is `available` at once. A re-key, or a snapshot shared by
//! another account, needs every block re-encrypted: the volume is `creating` while a `Restore`
//! job fills it.
//!
//! KMS problems fail the call synchronously (AWS may instead create the volume and fail it
//! later; docs/ebs.md §3 allows either): an unknown or foreign-region `KmsKeyId` and a disabled key
//! come back as `InvalidParameterValue` with KMS's message, a key the caller may not use as
//! `UnauthorizedOperation` ([`crate::error::to_ec2`]). Reading a source snapshot needs its
//! data key: the caller must be able to Decrypt under the snapshot's key through EC2.
//!
//! `ClientToken` makes CreateVolume idempotent: table `ebs_volume_tokens` maps
//! `{account}/{region}/{token}` to `{volume id} {digest of the parameters}` (tokens stored
//! before the digest was kept hold the id alone), and a repeated call answers that volume —
//! or `IdempotentParameterMismatch` if its parameters differ other than in the zone (as EC2
//! compares retries).

use super::common::{default_key_arn, encryption_by_default, resolve_key_arn, usable_snapshot};
use super::filters::{bool_value, Filters, Paging};
use super::{regions, tags, trail};
use crate::blocks;
use crate::error::EbsError;
use crate::model::{
    JobCaller, JobKind, JobRecord, SnapshotRecord, SnapshotState, VolumeRecord, VolumeState,
};
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};

/// DescribeVolumes' filter names (EC2's list; kmsnap has no attachments, so `attachment.*`
/// filters match nothing).
const FILTERS: &[&str] = &[
    "attachment.attach-time",
    "attachment.delete-on-termination",
    "attachment.device",
    "attachment.instance-id",
    "attachment.status",
    "availability-zone",
    "availability-zone-id",
    "create-time",
    "encrypted",
    "fast-restored",
    "multi-attach-enabled",
    "size",
    "snapshot-id",
    "status",
    "tag:*",
    "volume-id",
    "volume-type",
];

/// `{account}/{region}/{client token}` → volume id (CreateVolume idempotency).
pub const T_VOLUME_TOKENS: &str = "ebs_volume_tokens";

/// Manifest rows copied per page when a volume joins a snapshot's lineage.
const PAGE: usize = 4096;

/// Where a new volume's data comes from, as the encryption table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Empty,
    Snapshot { encrypted: bool, own: bool },
}

/// Which key a new volume gets (docs/ebs.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    Unencrypted,
    /// The region's default key (docs/ebs.md §2).
    Default,
    /// The source snapshot's key.
    SnapshotKey,
    /// The `KmsKeyId` of the request.
    Given,
}

/// The encryption outcome table of docs/ebs.md §3. `KmsKeyId` needs `Encrypted=true`; an encrypted
/// source never yields an unencrypted volume; encryption by default (`ebd`) turns every other
/// outcome into the default key.
pub fn outcome(
    encrypted: Option<bool>,
    key_given: bool,
    source: Source,
    ebd: bool,
) -> Result<KeyChoice, EbsError> {
    if key_given && encrypted != Some(true) {
        return Err(EbsError::InvalidParameterDependency(
            "The parameter KmsKeyId requires the parameter Encrypted to be set.".into(),
        ));
    }
    Ok(match source {
        _ if key_given => KeyChoice::Given,
        Source::Snapshot {
            encrypted: true,
            own: true,
        } => KeyChoice::SnapshotKey,
        Source::Snapshot {
            encrypted: true,
            own: false,
        } => KeyChoice::Default,
        _ if encrypted == Some(true) || ebd => KeyChoice::Default,
        _ => KeyChoice::Unencrypted,
    })
}

/// Size bounds (GiB) per volume type.
fn size_bounds(volume_type: ec2::VolumeType) -> (i32, i32) {
    use ec2::VolumeType::*;
    match volume_type {
        Gp2 | Gp3 => (1, 16_384),
        Io1 => (4, 16_384),
        Io2 => (4, 65_536),
        St1 | Sc1 => (125, 16_384),
        Standard => (1, 1_024),
    }
}

/// IOPS and throughput of a new volume: checked against its type, defaulted as EC2 does.
fn performance(
    t: ec2::VolumeType,
    size: i32,
    iops: Option<i32>,
    throughput: Option<i32>,
    multi_attach: bool,
) -> Result<(Option<i32>, Option<i32>), EbsError> {
    use ec2::VolumeType::*;
    let name = t.as_str();
    let unsupported = |p: &str| {
        EbsError::InvalidParameterCombination(format!(
            "The parameter {p} is not supported for {name} volumes."
        ))
    };
    if throughput.is_some() && t != Gp3 {
        return Err(unsupported("throughput"));
    }
    if multi_attach && !matches!(t, Io1 | Io2) {
        return Err(EbsError::InvalidParameterCombination(format!(
            "Multi-Attach is not supported for {name} volumes."
        )));
    }
    let in_range = |p: &str, v: i32, lo: i32, hi: i32| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(EbsError::InvalidParameterValue(format!("Value ({v}) for parameter {p} is invalid. Expected a value between {lo} and {hi} for {name} volumes.")))
        }
    };
    Ok(match t {
        Gp2 if iops.is_some() => return Err(unsupported("iops")),
        Gp2 => (Some((size.saturating_mul(3)).clamp(100, 16_000)), None),
        Gp3 => (
            Some(in_range("iops", iops.unwrap_or(3000), 3000, 80_000)?),
            Some(in_range(
                "throughput",
                throughput.unwrap_or(125),
                125,
                2000,
            )?),
        ),
        Io1 | Io2 => {
            let iops = iops.ok_or_else(|| {
                EbsError::MissingParameter(format!(
                    "The parameter iops must be specified for {name} volumes."
                ))
            })?;
            (
                Some(in_range(
                    "iops",
                    iops,
                    100,
                    if t == Io1 { 64_000 } else { 256_000 },
                )?),
                None,
            )
        }
        St1 | Sc1 | Standard if iops.is_some() => return Err(unsupported("iops")),
        St1 | Sc1 | Standard => (None, None),
    })
}

/// The response form of a volume.
pub fn to_api(v: &VolumeRecord) -> ec2::Volume {
    ec2::Volume {
        volume_id: Some(v.id.clone()),
        size: Some(v.size_gib),
        snapshot_id: Some(v.snapshot_id.clone().unwrap_or_default()),
        availability_zone: Some(v.availability_zone.clone()),
        availability_zone_id: regions::zone_id(v.region, &v.availability_zone),
        state: ec2::VolumeState::from_wire(v.state.as_str()),
        create_time: Some(Timestamp(v.created)),
        attachments: Some(Vec::new()),
        encrypted: Some(v.encrypted),
        kms_key_id: v.kms_key_arn.clone(),
        volume_type: ec2::VolumeType::from_wire(&v.volume_type),
        iops: v.iops,
        throughput: v.throughput,
        multi_attach_enabled: Some(v.multi_attach),
        fast_restored: Some(false),
        sse_type: v.encrypted.then_some(ec2::SSEType::SseKms),
        tags: tags::to_api(&v.tags),
        ..Default::default()
    }
}

fn token_key(account: AccountId, region: Region, token: &str) -> Vec<u8> {
    store::scoped(account, region, token)
}

/// The digest a ClientToken remembers: every parameter but the token, DryRun and the zone.
fn params_digest(input: &ec2::CreateVolumeRequest) -> Result<String, EbsError> {
    let compared = ec2::CreateVolumeRequest {
        client_token: None,
        dry_run: None,
        availability_zone: None,
        availability_zone_id: None,
        ..input.clone()
    };
    let canonical = serde_json::to_vec(&compared)
        .map_err(|_| EbsError::Internal("encode CreateVolume parameters"))?;
    Ok(blocks::sha256_hex(&canonical))
}

/// The volume an earlier call with the same `ClientToken` made, if it still exists; a
/// conflict if that call had other parameters (`digest`).
async fn earlier(
    svc: &Snapshots,
    ctx: &RequestContext,
    token: Option<&str>,
    digest: &str,
) -> Result<Option<VolumeRecord>, EbsError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let (meta, account, region, key) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        token_key(ctx.principal.account, ctx.region, token),
    );
    let digest = digest.to_owned();
    crate::blocking(move || -> Result<Option<VolumeRecord>, EbsError> {
        let txn = meta.read()?;
        let Some(r) = txn.get(T_VOLUME_TOKENS, &key)? else { return Ok(None) };
        let value = String::from_utf8_lossy(&r.value);
        let (id, remembered) = match value.split_once(' ') {
            Some((id, d)) => (id, Some(d)),
            None => (&*value, None),
        };
        if remembered.is_some_and(|d| d != digest) {
            return Err(EbsError::Conflict("The client token was already used for a CreateVolume request with different parameters.".into()));
        }
        store::get_volume(txn.as_ref(), account, region, id)
    })
    .await?
}

/// A source snapshot for CreateVolume: visible to the caller and `completed`.
async fn source_snapshot(
    svc: &Snapshots,
    ctx: &RequestContext,
    id: &str,
) -> Result<SnapshotRecord, EbsError> {
    trail::check_id("snapshotId", "snap", id)?;
    let s = usable_snapshot(svc, ctx, id).await?;
    if s.state != SnapshotState::Completed {
        return Err(EbsError::IncorrectState(format!(
            "Snapshot is in invalid state - {}",
            s.state.as_str()
        )));
    }
    Ok(s)
}

/// Checks that the caller can read `s`'s data: its lineage's data key must unwrap (KMS Decrypt
/// as the caller, through EC2), so a disabled key or a key policy that does not admit the
/// caller stops the volume here.
async fn check_readable(
    svc: &Snapshots,
    ctx: &RequestContext,
    s: &SnapshotRecord,
) -> Result<(), EbsError> {
    if !s.encrypted {
        return Ok(());
    }
    let (meta, lineage_id) = (svc.meta.clone(), s.lineage.clone());
    let lineage = crate::blocking(move || store::get_lineage(meta.read()?.as_ref(), &lineage_id))
        .await??
        .ok_or(EbsError::Internal("snapshot without lineage"))?;
    blocks::open_lineage(&svc.kms, ctx, &lineage).await?;
    Ok(())
}

pub async fn create(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::CreateVolumeRequest,
) -> Result<ec2::Volume, EbsError> {
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let digest = params_digest(&input)?;
    if let Some(v) = earlier(svc, ctx, input.client_token.as_deref(), &digest).await? {
        return Ok(to_api(&v));
    }
    // Parameters, in the order EC2 reports them.
    let zone = regions::zone_for_volume(
        region,
        input.availability_zone.as_deref(),
        input.availability_zone_id.as_deref(),
    )?;
    let volume_type = input.volume_type.unwrap_or(ec2::VolumeType::Gp2);
    let key_given = input.kms_key_id.as_deref().filter(|k| !k.is_empty());
    let source = match input.snapshot_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some(source_snapshot(svc, ctx, id).await?),
        None => None,
    };
    let size = match (input.size, &source) {
        (Some(n), Some(s)) if n < s.volume_size => {
            return Err(EbsError::InvalidParameterValue(format!(
                "Volume of size {n}GB is smaller than snapshot '{}', expect size >= {}GB",
                s.id, s.volume_size
            )))
        }
        (Some(n), _) => n,
        (None, Some(s)) => s.volume_size,
        (None, None) => {
            return Err(EbsError::MissingParameter(
                "The request must contain the parameter size/snapshot".into(),
            ))
        }
    };
    let (lo, hi) = size_bounds(volume_type);
    if size < lo {
        return Err(EbsError::InvalidParameterValue(format!(
            "Volume of {size}GiB is too small; minimum is {lo}GiB."
        )));
    }
    if size > hi {
        return Err(EbsError::InvalidParameterValue(format!(
            "Volume of {size}GiB is too large; maximum is {hi}GiB."
        )));
    }
    let multi_attach = input.multi_attach_enabled.unwrap_or(false);
    let (iops, throughput) = performance(
        volume_type,
        size,
        input.iops,
        input.throughput,
        multi_attach,
    )?;
    let id = super::common::new_id("vol")?;
    let tags = tags::from_specs(input.tag_specifications.as_deref(), "volume", &id)?;

    // Encryption (docs/ebs.md §3), then the checks KMS makes.
    let src = source.as_ref().map_or(Source::Empty, |s| Source::Snapshot {
        encrypted: s.encrypted,
        own: s.account == account,
    });
    let choice = outcome(
        input.encrypted,
        key_given.is_some(),
        src,
        encryption_by_default(svc, account, region).await?,
    )?;
    let given_arn = match key_given {
        Some(k) => Some(resolve_key_arn(svc, ctx, k).await?),
        None => None,
    };
    if let Some(s) = &source {
        check_readable(svc, ctx, s).await?;
    }
    trail::dry_run(input.dry_run)?;
    let key_arn = match choice {
        KeyChoice::Unencrypted => None,
        KeyChoice::Given => given_arn,
        KeyChoice::SnapshotKey => source.as_ref().and_then(|s| s.kms_key_arn.clone()),
        KeyChoice::Default => Some(default_key_arn(svc, account, region).await?),
    };
    // Join the snapshot's lineage (blocks shared) or start one and restore into it.
    let join = source
        .as_ref()
        .filter(|s| s.account == account && s.kms_key_arn == key_arn)
        .map(|s| s.lineage.clone());
    let new_lineage = match &join {
        Some(_) => None,
        None => Some(blocks::new_lineage(&svc.kms, ctx, key_arn.as_deref(), &id).await?),
    };
    if let Some(k) = &key_arn {
        blocks::grant_for_resource(&svc.kms, ctx, k, &id).await?;
    }
    let restore = source.is_some() && join.is_none();
    let volume = VolumeRecord {
        id: id.clone(),
        account,
        region,
        availability_zone: zone,
        size_gib: size,
        snapshot_id: source.as_ref().map(|s| s.id.clone()),
        state: if restore {
            VolumeState::Creating
        } else {
            VolumeState::Available
        },
        encrypted: key_arn.is_some(),
        kms_key_arn: key_arn,
        lineage: join
            .clone()
            .or_else(|| new_lineage.as_ref().map(|l| l.id.clone()))
            .unwrap_or_default(),
        volume_type: volume_type.as_str().to_owned(),
        iops,
        throughput,
        multi_attach,
        created: now,
        tags,
        managed_by: None,
    };
    let event = trail::with_ec2_resource(
        trail::event(ctx, "CreateVolume", &input),
        region,
        account,
        &id,
    );
    let caller = JobCaller::from_context(ctx);
    let token = input
        .client_token
        .filter(|t| !t.is_empty())
        .map(|t| token_key(account, region, &t));
    let (meta, v) = (svc.meta.clone(), volume.clone());
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        if let Some(s) = &source {
            // The source may have been deleted since it was checked.
            if store::find_snapshot(&*txn, &s.id)?.is_none() {
                return Err(EbsError::SnapshotNotFound { id: s.id.clone() });
            }
            if join.is_some() {
                copy_manifest(txn.as_mut(), &s.id, &v.id)?;
            } else {
                let total = store::count_blocks(&*txn, &s.id)?;
                let kind = JobKind::Restore {
                    source: s.id.clone(),
                    source_account: s.account,
                };
                store::put_job(
                    txn.as_mut(),
                    &JobRecord::new(&v.id, account, region, kind, total, Some(caller), now),
                )?;
            }
        }
        if let Some(l) = &new_lineage {
            store::put_lineage(txn.as_mut(), l)?;
        }
        if let Some(t) = &token {
            txn.put(T_VOLUME_TOKENS, t, format!("{} {digest}", v.id).as_bytes())?;
        }
        store::put_volume(txn.as_mut(), &v)?;
        trail::commit(txn, &[event])?;
        Ok(())
    })
    .await??;
    if restore {
        svc.wake_worker();
    }
    Ok(to_api(&volume))
}

/// Copies manifest `from` into manifest `to` (block references only: blobs are shared).
pub(crate) fn copy_manifest(
    txn: &mut dyn kmsnap_store::WriteTxn,
    from: &str,
    to: &str,
) -> Result<(), EbsError> {
    let mut next = 0;
    loop {
        let page = store::blocks_from(&*txn, from, next, PAGE)?;
        for (i, b) in &page {
            store::put_block(txn, to, *i, b)?;
        }
        match page.last() {
            Some((i, _)) if page.len() == PAGE => next = i + 1,
            _ => return Ok(()),
        }
    }
}

fn field(v: &VolumeRecord, name: &str) -> Vec<String> {
    match name {
        "availability-zone" => vec![v.availability_zone.clone()],
        "availability-zone-id" => regions::zone_id(v.region, &v.availability_zone)
            .into_iter()
            .collect(),
        "create-time" => vec![Timestamp(v.created).iso8601()],
        "encrypted" => bool_value(v.encrypted),
        "fast-restored" => bool_value(false),
        "multi-attach-enabled" => bool_value(v.multi_attach),
        "size" => vec![v.size_gib.to_string()],
        "snapshot-id" => vec![v.snapshot_id.clone().unwrap_or_default()],
        "status" => vec![v.state.as_str().to_owned()],
        "volume-id" => vec![v.id.clone()],
        "volume-type" => vec![v.volume_type.clone()],
        // attachment.*: no volume is attached.
        _ => vec![],
    }
}

pub async fn describe(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DescribeVolumesRequest,
) -> Result<ec2::DescribeVolumesResult, EbsError> {
    let ids = input.volume_ids.unwrap_or_default();
    if !ids.is_empty() && input.max_results.is_some() {
        return Err(EbsError::InvalidParameterCombination(
            "The parameter volumeIdSet cannot be used with the parameter maxResults".into(),
        ));
    }
    for id in &ids {
        trail::check_listed_id("volumes", "vol", id)?;
    }
    let filters = Filters::parse(input.filters, FILTERS)?;
    let paging = Paging::parse(input.max_results, input.next_token, 5, 500)?;
    trail::dry_run(input.dry_run)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let mut vols =
        crate::blocking(move || store::volumes_of(meta.read()?.as_ref(), account, region))
            .await??;
    // An RDS instance's storage is not an EC2 volume.
    vols.retain(|v| v.managed_by.is_none());
    if !ids.is_empty() {
        if let Some(missing) = ids.iter().find(|i| !vols.iter().any(|v| &v.id == *i)) {
            return Err(EbsError::VolumeNotFound {
                id: missing.clone(),
            });
        }
        vols.retain(|v| ids.contains(&v.id));
    }
    vols.retain(|v| filters.matches(&v.tags, |n| field(v, n)));
    let (page, next_token) = paging.page(vols, |v| v.id.as_str());
    Ok(ec2::DescribeVolumesResult {
        volumes: Some(page.iter().map(to_api).collect()),
        next_token,
    })
}

/// The volume goes at once (AWS passes through `deleting`; nothing here takes time): its
/// record and manifest are dropped (blobs stay for snapshots that share them; the blob
/// collector, [`crate::gc`], deletes the others). A snapshot of it still being sealed is
/// finished first, in the same transaction, so it keeps the point-in-time data.
pub async fn delete(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DeleteVolumeRequest,
) -> Result<(), EbsError> {
    let id = input.volume_id.clone();
    trail::check_id("volumeId", "vol", &id)?;
    let (meta, account, region, now) =
        (svc.meta.clone(), ctx.principal.account, ctx.region, ctx.now);
    let event = trail::with_ec2_resource(
        trail::event(ctx, "DeleteVolume", &input),
        region,
        account,
        &id,
    );
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let v = store::get_volume(&*txn, account, region, &id)?
            .filter(|v| v.managed_by.is_none())
            .ok_or_else(|| EbsError::VolumeNotFound { id: id.clone() })?;
        match v.state {
            VolumeState::InUse => return Err(EbsError::VolumeInUse { id }),
            VolumeState::Creating => {
                return Err(EbsError::IncorrectState(format!(
                    "The volume '{id}' is 'creating'"
                )))
            }
            _ => {}
        }
        trail::dry_run(input.dry_run)?;
        for job in store::jobs(&*txn, usize::MAX)? {
            if matches!(&job.kind, JobKind::Seal { volume_id } if *volume_id == id) {
                crate::workers::seal::finish(txn.as_mut(), job, now)?;
            }
        }
        store::delete_blocks(txn.as_mut(), &id)?;
        store::delete_volume(txn.as_mut(), &v)?;
        trail::commit(txn, &[event])?;
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyChoice::*;

    /// docs/ebs.md §3's table, row by row (no KmsKeyId), with and without encryption by default.
    #[test]
    fn encryption_outcome_table() {
        let new = Source::Empty;
        let own = |encrypted| Source::Snapshot {
            encrypted,
            own: true,
        };
        let shared = |encrypted| Source::Snapshot {
            encrypted,
            own: false,
        };
        //   Encrypted param, source, EBD off, EBD on
        let rows = [
            (None, new, Unencrypted, Default),
            (Some(false), new, Unencrypted, Default),
            (None, own(false), Unencrypted, Default),
            (None, own(true), SnapshotKey, SnapshotKey),
            (Some(false), own(true), SnapshotKey, SnapshotKey),
            (None, shared(false), Unencrypted, Default),
            (None, shared(true), Default, Default),
            (Some(true), new, Default, Default),
            (Some(true), own(false), Default, Default),
            (Some(true), shared(false), Default, Default),
            (Some(true), own(true), SnapshotKey, SnapshotKey),
            (Some(true), shared(true), Default, Default),
        ];
        for (enc, src, off, on) in rows {
            assert_eq!(
                outcome(enc, false, src, false).unwrap(),
                off,
                "{enc:?} {src:?} EBD off"
            );
            assert_eq!(
                outcome(enc, false, src, true).unwrap(),
                on,
                "{enc:?} {src:?} EBD on"
            );
        }
        // Any source + KmsKeyId (with Encrypted=true): that key.
        for src in [new, own(true), own(false), shared(true), shared(false)] {
            assert_eq!(outcome(Some(true), true, src, false).unwrap(), Given);
            for enc in [None, Some(false)] {
                let e = outcome(enc, true, src, true).unwrap_err();
                assert_eq!(
                    e,
                    EbsError::InvalidParameterDependency(
                        "The parameter KmsKeyId requires the parameter Encrypted to be set.".into()
                    )
                );
            }
        }
    }

    #[test]
    fn performance_by_type() {
        use ec2::VolumeType::*;
        assert_eq!(
            performance(Gp2, 8, None, None, false).unwrap(),
            (Some(100), None)
        );
        assert_eq!(
            performance(Gp2, 1000, None, None, false).unwrap(),
            (Some(3000), None)
        );
        assert_eq!(
            performance(Gp3, 8, None, None, false).unwrap(),
            (Some(3000), Some(125))
        );
        assert_eq!(
            performance(Io2, 8, Some(1000), None, true).unwrap(),
            (Some(1000), None)
        );
        assert!(matches!(
            performance(Io1, 8, None, None, false),
            Err(EbsError::MissingParameter(_))
        ));
        assert!(matches!(
            performance(Gp2, 8, Some(300), None, false),
            Err(EbsError::InvalidParameterCombination(_))
        ));
        assert!(matches!(
            performance(Gp2, 8, None, Some(200), false),
            Err(EbsError::InvalidParameterCombination(_))
        ));
        assert!(matches!(
            performance(Gp3, 8, None, None, true),
            Err(EbsError::InvalidParameterCombination(_))
        ));
        assert!(matches!(
            performance(St1, 500, None, None, false),
            Ok((None, None))
        ));
        assert_eq!(size_bounds(Standard), (1, 1024));
    }
}
