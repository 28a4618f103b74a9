//! On-demand backup jobs of EBS volumes: start, describe, list, stop (docs/backup.md §8).
//!
//! StartBackupJob writes the job, its recovery point and the pending EC2 snapshot that is the
//! point in one transaction ([`kmsnap_snapshots::managed::seal_ec2_snapshot`]); the snapshots
//! crate's seal job fills the snapshot and [`crate::workers`] moves the job and the point
//! forward from the snapshot's state.

use crate::error::BackupError;
use crate::model::{JobRecord, JobState, Lifecycle, PointRecord, PointStatus, VaultLock};
use crate::ops::vaults::{check_name, commit};
use crate::{blocking, store, Backup};
use chrono::Duration;
use kmsnap_api::gen::backup::*;
use kmsnap_api::Timestamp;
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_snapshots::managed;
use kmsnap_snapshots::EbsError;
use serde::Serialize;

/// The description of every snapshot a backup job makes, as AWS writes it (docs/backup.md §8).
pub const SNAPSHOT_DESCRIPTION: &str = "This snapshot is created by the AWS Backup service.";
/// The resource type of EBS volumes in Backup.
pub const EBS: &str = "EBS";
/// How long a retry with the same idempotency token answers the job it started.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(1);
/// A job not started within this many minutes expires (StartWindowMinutes default, API
/// reference: 8 hours).
const DEFAULT_START_WINDOW_MINUTES: i64 = 480;
const GIB: i64 = 1 << 30;

/// The audit event of a backup job call, on the job's resource.
pub fn event<T: Serialize>(ctx: &RequestContext, op: &str, input: &T, arn: &str) -> Event {
    Event::api_call(ctx, crate::ops::vaults::BACKUP_SOURCE, op, false)
        .with_request_of("backup", op, input)
        .with_resource("AWS::EC2::Volume", arn)
}

/// What a `ResourceArn` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// EBS volume `vol-…` of the caller's account and region.
    Volume(String),
}

/// The resource `resource_arn` names for the caller (docs/backup.md §8): an EBS volume of the
/// caller's account and region; RDS and Aurora are not built yet; anything else is not a
/// resource type Backup protects.
pub fn parse_resource(ctx: &RequestContext, resource_arn: &str) -> Result<Resource, BackupError> {
    let unsupported =
        || BackupError::InvalidParameterValue(format!("Unsupported resource type: {resource_arn}"));
    let arn = Arn::parse(resource_arn)
        .map_err(|_| BackupError::InvalidParameterValue(format!("Invalid ARN: {resource_arn}")))?;
    if let Some(id) = arn.resource_id("ec2", "volume/") {
        if arn.region != ctx.region.as_str() || arn.account != ctx.principal.account.as_str() {
            return Err(resource_not_found(resource_arn));
        }
        return Ok(Resource::Volume(id.to_owned()));
    }
    if arn.resource_id("rds", "db:").is_some() || arn.resource_id("rds", "cluster:").is_some() {
        return Err(BackupError::NotImplemented {
            operation: "StartBackupJob",
        });
    }
    Err(unsupported())
}

fn resource_not_found(resource_arn: &str) -> BackupError {
    BackupError::ResourceNotFound(format!("Resource not found: {resource_arn}"))
}

/// `IamRoleArn`: an IAM role ARN (the role is not assumed: docs/backup.md §8).
fn check_role(role: &str) -> Result<(), BackupError> {
    match Arn::parse(role) {
        Ok(a) if a.resource_id("iam", "role/").is_some() => Ok(()),
        _ => Err(BackupError::InvalidParameterValue(format!(
            "Invalid IAM role ARN: {role}"
        ))),
    }
}

/// A requested lifecycle, validated as AWS does (docs/backup.md §8).
pub fn lifecycle(l: Option<&kmsnap_api::gen::backup::Lifecycle>) -> Result<Lifecycle, BackupError> {
    let Some(l) = l else {
        return Ok(Lifecycle::default());
    };
    let out = Lifecycle {
        move_to_cold_storage_after_days: l.move_to_cold_storage_after_days,
        delete_after_days: l.delete_after_days,
    };
    for (name, v) in [
        ("DeleteAfterDays", out.delete_after_days),
        (
            "MoveToColdStorageAfterDays",
            out.move_to_cold_storage_after_days,
        ),
    ] {
        if v.is_some_and(|d| d < 1) {
            return Err(BackupError::InvalidParameterValue(format!(
                "{name} must be at least 1"
            )));
        }
    }
    if let (Some(cold), Some(delete)) = (out.move_to_cold_storage_after_days, out.delete_after_days)
    {
        if delete < cold + 90 {
            return Err(BackupError::InvalidParameterValue(
                "DeleteAfterDays must be at least 90 days greater than MoveToColdStorageAfterDays"
                    .into(),
            ));
        }
    }
    Ok(out)
}

/// A vault lock's retention bounds on a new recovery point's lifecycle (docs/backup.md §8).
pub fn check_retention(lock: Option<&VaultLock>, l: &Lifecycle) -> Result<(), BackupError> {
    let Some(lock) = lock else { return Ok(()) };
    let days = l.delete_after_days;
    if let Some(min) = lock.min_retention_days {
        if days.is_some_and(|d| d < min) {
            return Err(BackupError::InvalidParameterValue(format!(
                "The retention period of the recovery point must be at least the vault lock's minimum retention of {min} days"
            )));
        }
    }
    if let Some(max) = lock.max_retention_days {
        if days.is_none_or(|d| d > max) {
            return Err(BackupError::InvalidParameterValue(format!(
                "The retention period of the recovery point must be at most the vault lock's maximum retention of {max} days"
            )));
        }
    }
    Ok(())
}

/// A new job id: an upper-case UUID, as AWS shows them.
fn job_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

fn started(j: &JobRecord) -> StartBackupJobOutput {
    StartBackupJobOutput {
        backup_job_id: Some(j.id.clone()),
        recovery_point_arn: Some(j.recovery_point_arn.clone()),
        creation_date: Some(Timestamp(j.created)),
        is_parent: Some(false),
    }
}

pub async fn start(
    svc: &Backup,
    ctx: &RequestContext,
    input: StartBackupJobInput,
) -> Result<StartBackupJobOutput, BackupError> {
    check_name(&input.backup_vault_name)?;
    check_role(&input.iam_role_arn)?;
    let life = lifecycle(input.lifecycle.as_ref())?;
    let vault = crate::ops::vaults::load(svc, ctx, &input.backup_vault_name).await?;
    let Resource::Volume(volume_id) = parse_resource(ctx, &input.resource_arn)?;
    check_retention(vault.lock.as_ref(), &life)?;
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let start_window = input
        .start_window_minutes
        .unwrap_or(DEFAULT_START_WINDOW_MINUTES);
    if start_window < 60 {
        return Err(BackupError::InvalidParameterValue(
            "StartWindowMinutes must be at least 60".into(),
        ));
    }
    // Recovery point tags are not logged (sensitive in the model).
    let logged = StartBackupJobInput {
        recovery_point_tags: None,
        ..input.clone()
    };
    let ev = event(ctx, "StartBackupJob", &logged, &input.resource_arn);
    let meta = svc.meta.clone();
    let (job, fresh) = blocking(move || -> Result<(JobRecord, bool), BackupError> {
        let mut txn = meta.write()?;
        let vault = store::get_vault(txn.as_ref(), account, region, &input.backup_vault_name)?
            .ok_or(BackupError::VaultNotVisible {
                name: input.backup_vault_name.clone(),
            })?;
        // A retry with the same token and the same request answers the job it started.
        if let Some(token) = &input.idempotency_token {
            if let Some(id) = store::job_of_token(txn.as_ref(), account, region, token)? {
                if let Some(j) = store::get_job(txn.as_ref(), account, region, &id)? {
                    let same = j.vault_name == vault.name
                        && j.resource_arn == input.resource_arn
                        && j.iam_role_arn == input.iam_role_arn
                        && j.lifecycle == life;
                    if same && now - j.created <= IDEMPOTENCY_WINDOW {
                        return Ok((j, false));
                    }
                }
            }
        }
        let vol = managed::ec2_volume(txn.as_ref(), account, region, &volume_id)?
            .ok_or_else(|| resource_not_found(&input.resource_arn))?;
        let snap = managed::seal_ec2_snapshot(
            txn.as_mut(),
            account,
            region,
            &volume_id,
            SNAPSHOT_DESCRIPTION.to_owned(),
            now,
        )
        .map_err(|e| match e {
            EbsError::VolumeNotFound { .. } => resource_not_found(&input.resource_arn),
            EbsError::IncorrectState(m) => BackupError::InvalidRequest {
                code: None,
                message: m,
            },
            other => other.into(),
        })?;
        managed::mark_service_snapshot(txn.as_mut(), &snap, crate::BACKUP_SERVICE)?;
        let point = PointRecord {
            account,
            region,
            vault_name: vault.name.clone(),
            snapshot_id: snap.as_str().to_owned(),
            job_id: job_id(),
            resource_arn: input.resource_arn.clone(),
            iam_role_arn: input.iam_role_arn.clone(),
            status: PointStatus::Creating,
            kms_key_arn: vol.kms_key_arn.clone(),
            size_bytes: i64::from(vol.size_gib) * GIB,
            lifecycle: life,
            created: now,
            completed: None,
        };
        let job = JobRecord {
            id: point.job_id.clone(),
            account,
            region,
            vault_name: vault.name.clone(),
            vault_arn: vault.arn(),
            resource_arn: input.resource_arn.clone(),
            volume_id: vol.id.clone(),
            snapshot_id: point.snapshot_id.clone(),
            recovery_point_arn: point.arn(),
            iam_role_arn: input.iam_role_arn.clone(),
            idempotency_token: input.idempotency_token.clone(),
            state: JobState::Created,
            status_message: None,
            percent_done: 0,
            size_bytes: 0,
            kms_key_arn: vol.kms_key_arn,
            lifecycle: life,
            created: now,
            completed: None,
            start_by: now + Duration::minutes(start_window),
        };
        store::put_point(txn.as_mut(), &point)?;
        store::put_job(txn.as_mut(), &job)?;
        if let Some(token) = &job.idempotency_token {
            store::put_token(txn.as_mut(), account, region, token, &job.id)?;
        }
        commit(txn, &[ev])?;
        Ok((job, true))
    })
    .await??;
    if fresh {
        svc.snapshots.wake_worker();
    }
    Ok(started(&job))
}

fn state(s: JobState) -> BackupJobState {
    match s {
        JobState::Created => BackupJobState::Created,
        JobState::Running => BackupJobState::Running,
        JobState::Completed => BackupJobState::Completed,
        JobState::Failed => BackupJobState::Failed,
        JobState::Aborted => BackupJobState::Aborted,
    }
}

fn api_lifecycle(l: &Lifecycle) -> Option<kmsnap_api::gen::backup::Lifecycle> {
    (l.delete_after_days.is_some() || l.move_to_cold_storage_after_days.is_some()).then(|| {
        kmsnap_api::gen::backup::Lifecycle {
            move_to_cold_storage_after_days: l.move_to_cold_storage_after_days,
            delete_after_days: l.delete_after_days,
            ..Default::default()
        }
    })
}

/// `PercentDone` as AWS writes it (`"0.0"`–`"100.0"`).
fn percent(p: u8) -> String {
    format!("{p}.0")
}

fn describe_of(j: &JobRecord) -> DescribeBackupJobOutput {
    DescribeBackupJobOutput {
        account_id: Some(j.account.as_str().to_owned()),
        backup_job_id: Some(j.id.clone()),
        backup_vault_name: Some(j.vault_name.clone()),
        backup_vault_arn: Some(j.vault_arn.clone()),
        vault_type: Some("BACKUP_VAULT".into()),
        recovery_point_arn: Some(j.recovery_point_arn.clone()),
        recovery_point_lifecycle: api_lifecycle(&j.lifecycle),
        encryption_key_arn: j.kms_key_arn.clone(),
        is_encrypted: Some(j.kms_key_arn.is_some()),
        resource_arn: Some(j.resource_arn.clone()),
        creation_date: Some(Timestamp(j.created)),
        completion_date: j.completed.map(Timestamp),
        state: Some(state(j.state)),
        status_message: j.status_message.clone(),
        percent_done: Some(percent(j.percent_done)),
        backup_size_in_bytes: Some(j.size_bytes),
        iam_role_arn: Some(j.iam_role_arn.clone()),
        resource_type: Some(EBS.into()),
        start_by: Some(Timestamp(j.start_by)),
        resource_name: None,
        initiation_date: Some(Timestamp(j.created)),
        is_parent: Some(false),
        bytes_transferred: Some(0),
        ..Default::default()
    }
}

fn list_member(j: &JobRecord) -> BackupJob {
    let d = describe_of(j);
    BackupJob {
        account_id: d.account_id,
        backup_job_id: d.backup_job_id,
        backup_vault_name: d.backup_vault_name,
        backup_vault_arn: d.backup_vault_arn,
        vault_type: d.vault_type,
        recovery_point_arn: d.recovery_point_arn,
        recovery_point_lifecycle: d.recovery_point_lifecycle,
        encryption_key_arn: d.encryption_key_arn,
        is_encrypted: d.is_encrypted,
        resource_arn: d.resource_arn,
        creation_date: d.creation_date,
        completion_date: d.completion_date,
        state: d.state,
        status_message: d.status_message,
        percent_done: d.percent_done,
        backup_size_in_bytes: d.backup_size_in_bytes,
        iam_role_arn: d.iam_role_arn,
        start_by: d.start_by,
        resource_type: d.resource_type,
        bytes_transferred: d.bytes_transferred,
        is_parent: d.is_parent,
        initiation_date: d.initiation_date,
        ..Default::default()
    }
}

fn job_not_found(id: &str) -> BackupError {
    BackupError::ResourceNotFound(format!("Backup job {id} not found"))
}

async fn load_job(svc: &Backup, ctx: &RequestContext, id: &str) -> Result<JobRecord, BackupError> {
    let (meta, account, region, i) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        id.to_owned(),
    );
    blocking(move || store::get_job(meta.read()?.as_ref(), account, region, &i))
        .await??
        .ok_or_else(|| job_not_found(id))
}

pub async fn describe(
    svc: &Backup,
    ctx: &RequestContext,
    input: DescribeBackupJobInput,
) -> Result<DescribeBackupJobOutput, BackupError> {
    Ok(describe_of(
        &load_job(svc, ctx, &input.backup_job_id).await?,
    ))
}

/// `MaxResults` 1–1000 and an offset `NextToken` (opaque to clients).
pub fn page_params(max: Option<i32>, token: Option<&str>) -> Result<(usize, usize), BackupError> {
    let max = max.unwrap_or(1000);
    if !(1..=1000).contains(&max) {
        return Err(BackupError::InvalidParameterValue(
            "MaxResults must be between 1 and 1000".into(),
        ));
    }
    let offset = match token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| BackupError::InvalidParameterValue("Invalid NextToken".into()))?,
    };
    Ok((max as usize, offset))
}

/// The page of `items` at `offset` and the token of the next one.
pub fn page<T>(mut items: Vec<T>, max: usize, offset: usize) -> (Vec<T>, Option<String>) {
    let rest: Vec<T> = items.drain(offset.min(items.len())..).collect();
    let next = (rest.len() > max).then(|| (offset + max).to_string());
    (rest.into_iter().take(max).collect(), next)
}

pub async fn list(
    svc: &Backup,
    ctx: &RequestContext,
    input: ListBackupJobsInput,
) -> Result<ListBackupJobsOutput, BackupError> {
    let (max, offset) = page_params(input.max_results, input.next_token.as_deref())?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let mut jobs =
        blocking(move || store::scan_jobs(meta.read()?.as_ref(), account, region)).await??;
    let other_account = input
        .by_account_id
        .as_deref()
        .is_some_and(|a| a != account.as_str() && a != "*" && a != "ANY");
    jobs.retain(|j| {
        !other_account
            && input
                .by_resource_arn
                .as_deref()
                .is_none_or(|a| a == j.resource_arn)
            && input.by_state.as_ref().is_none_or(|s| *s == state(j.state))
            && input
                .by_backup_vault_name
                .as_deref()
                .is_none_or(|v| v == j.vault_name)
            && input
                .by_created_before
                .as_ref()
                .is_none_or(|t| j.created < t.0)
            && input
                .by_created_after
                .as_ref()
                .is_none_or(|t| j.created > t.0)
            && input.by_resource_type.as_deref().is_none_or(|t| t == EBS)
            && input
                .by_complete_before
                .as_ref()
                .is_none_or(|t| j.completed.is_some_and(|c| c < t.0))
            && input
                .by_complete_after
                .as_ref()
                .is_none_or(|t| j.completed.is_some_and(|c| c > t.0))
            // No job here has a parent or a message category other than success/failure.
            && input.by_parent_job_id.is_none()
            && input
                .by_message_category
                .as_deref()
                .is_none_or(|c| c == "ANY" || c == message_category(j))
    });
    // Newest first.
    jobs.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    let (items, next_token) = page(jobs, max, offset);
    Ok(ListBackupJobsOutput {
        backup_jobs: Some(items.iter().map(list_member).collect()),
        next_token,
    })
}

/// The message category a job's state falls under (`SUCCESS`, `ABORTED`, `FAILED`, …).
fn message_category(j: &JobRecord) -> &'static str {
    match j.state {
        JobState::Completed => "SUCCESS",
        JobState::Aborted => "ABORTED",
        JobState::Failed => "FAILED",
        JobState::Created | JobState::Running => "RUNNING",
    }
}

pub async fn stop(
    svc: &Backup,
    ctx: &RequestContext,
    input: StopBackupJobInput,
) -> Result<(), BackupError> {
    let id = input.backup_job_id.clone();
    let (meta, account, region, now) =
        (svc.meta.clone(), ctx.principal.account, ctx.region, ctx.now);
    let arn_of = load_job(svc, ctx, &id).await?.resource_arn;
    let ev = event(ctx, "StopBackupJob", &input, &arn_of);
    blocking(move || -> Result<(), BackupError> {
        let mut txn = meta.write()?;
        let mut j = store::get_job(txn.as_ref(), account, region, &id)?
            .ok_or_else(|| job_not_found(&id))?;
        if j.state.is_final() {
            return Err(BackupError::InvalidRequest {
                code: None,
                message: format!(
                    "Backup job {id} cannot be stopped because it is in state {}",
                    state(j.state).as_str()
                ),
            });
        }
        j.state = JobState::Aborted;
        j.status_message = Some("Backup job was stopped by user.".into());
        j.completed = Some(now);
        store::put_job(txn.as_mut(), &j)?;
        if let Some(p) =
            store::get_point(txn.as_ref(), account, region, &j.vault_name, &j.snapshot_id)?
        {
            store::delete_point(txn.as_mut(), &p)?;
        }
        let snap: managed::SnapshotId = j
            .snapshot_id
            .parse()
            .map_err(|_| BackupError::Internal("snapshot id"))?;
        managed::drop_snapshot(txn.as_mut(), account, region, &snap)?;
        managed::unmark_service_snapshot(txn.as_mut(), &snap)?;
        commit(txn, &[ev])
    })
    .await?
}
