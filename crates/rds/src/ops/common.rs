//! What several RDS operations need: the key a resource gets (a `KmsKeyId` resolved through
//! KMS as RDS, or the account's `aws/rds` key), the backing volume of a new instance, the
//! CloudTrail event, tags, filters and paging.

use crate::error::RdsError;
use crate::store::Scoped;
use crate::Rds;
use chrono::{DateTime, Utc};
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_api::gen::rds;
use kmsnap_audit::Event;
use kmsnap_auth::RequestContext;
use kmsnap_snapshots::managed::{
    self, CopyTo, JobCaller, NewVolume, ServiceUse, SnapshotId, SnapshotInfo, VolumeSource,
    VolumeSpec,
};
use kmsnap_store::WriteTxn;
use serde::Serialize;

/// `tags` with every tag of `source` whose key `tags` lacks (CopyTags).
pub fn with_source_tags(
    mut tags: Vec<(String, String)>,
    source: &[(String, String)],
) -> Vec<(String, String)> {
    for t in source {
        if !tags.iter().any(|(k, _)| k == &t.0) {
            tags.push(t.clone());
        }
    }
    tags
}

/// `eventSource` of RDS API calls.
pub const RDS_SOURCE: &str = "rds.amazonaws.com";

/// AWS's message for a key RDS cannot use (docs/rds.md §5).
pub fn key_not_accessible(key: &str) -> RdsError {
    RdsError::KmsKeyNotAccessible {
        message: format!("The target KMS key [{key}] does not exist, is not enabled or you do not have permissions to access it."),
    }
}

/// `KmsKeyId` (id, ARN, alias, alias ARN) → key ARN, through KMS as RDS. The key must be in
/// the request's region and enabled; anything else is `KMSKeyNotAccessibleFault`.
pub async fn resolve_key(
    svc: &Rds,
    ctx: &RequestContext,
    key_id: &str,
) -> Result<String, RdsError> {
    let via = ctx.via(RDS_SERVICE);
    let meta = svc
        .kms
        .describe_key(
            &via,
            kmsapi::DescribeKeyRequest {
                key_id: key_id.to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(|_| key_not_accessible(key_id))?
        .key_metadata
        .ok_or(RdsError::Internal("DescribeKey without metadata"))?;
    let arn = meta
        .arn
        .ok_or(RdsError::Internal("DescribeKey without ARN"))?;
    let region = kmsnap_core::arn::Arn::parse(&arn).map(|a| a.region);
    if region.as_deref() != Ok(ctx.region.as_str()) || meta.enabled != Some(true) {
        return Err(key_not_accessible(&arn));
    }
    Ok(arn)
}

/// `StorageEncrypted` (default false) of a CreateDBInstance or CreateDBCluster; `KmsKeyId`
/// without it is refused (docs/rds.md §3).
pub fn storage_encrypted(
    kms_key_id: Option<&str>,
    storage_encrypted: Option<bool>,
) -> Result<bool, RdsError> {
    let encrypted = storage_encrypted.unwrap_or(false);
    if kms_key_id.is_some() && !encrypted {
        return Err(RdsError::InvalidParameterCombination(
            "KmsKeyId requires StorageEncrypted to be true.".into(),
        ));
    }
    Ok(encrypted)
}

/// The key a new instance's or cluster's storage is created under (docs/rds.md §3): `KmsKeyId`
/// resolved; with `StorageEncrypted` and no key the account's `aws/rds` key; else none.
pub async fn creation_key(
    svc: &Rds,
    ctx: &RequestContext,
    kms_key_id: Option<&str>,
    encrypted: bool,
) -> Result<Option<String>, RdsError> {
    Ok(match (kms_key_id, encrypted) {
        (Some(k), _) => Some(resolve_key(svc, ctx, k).await?),
        (None, true) => Some(default_key(svc, ctx).await?),
        (None, false) => None,
    })
}

/// `FinalDBSnapshotIdentifier` of a DeleteDBInstance or DeleteDBCluster given
/// `SkipFinalSnapshot` (default false): exactly one of them.
pub fn final_snapshot(
    final_id: Option<&str>,
    skip: Option<bool>,
) -> Result<Option<String>, RdsError> {
    match (final_id, skip.unwrap_or(false)) {
        (Some(_), true) => Err(RdsError::InvalidParameterCombination(
            "Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.".into(),
        )),
        (None, false) => Err(RdsError::InvalidParameterCombination(
            "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.".into(),
        )),
        (Some(f), false) => crate::model::identifier("FinalDBSnapshotIdentifier", f).map(Some),
        (None, true) => Ok(None),
    }
}

/// The caller's `T` named `id`, if any, read in a transaction of its own (a create's early
/// check, which the write repeats; `kmsnap db`'s lookups).
pub(crate) async fn find<T: Scoped + Send + 'static>(
    svc: &Rds,
    ctx: &RequestContext,
    id: &str,
) -> Result<Option<T>, RdsError> {
    let (meta, account, region, id) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        id.to_owned(),
    );
    crate::blocking(move || crate::store::get::<T>(meta.read()?.as_ref(), account, region, &id))
        .await?
}

/// The account's AWS managed `aws/rds` key in the request's region (created on first use).
pub async fn default_key(svc: &Rds, ctx: &RequestContext) -> Result<String, RdsError> {
    let (kms, account, region) = (svc.kms.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || kmsnap_kms::managed::managed_key_arn(&kms, account, region, "rds"))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "aws/rds managed key");
            RdsError::Internal("managed key")
        })
}

/// The service RDS acts as toward KMS (`kms:ViaService`, `invokedBy`).
pub const RDS_SERVICE: &str = "rds.amazonaws.com";
/// The encryption-context key of a DB instance's storage (docs/rds.md §3).
pub const DB_EC_KEY: &str = "aws:rds:db-id";
/// The encryption-context key of an Aurora cluster's storage (docs/rds.md §3).
pub const CLUSTER_EC_KEY: &str = "aws:rds:dbc-id";

/// How the storage of DB instance `dbi` (its `DbiResourceId`) uses its key: through RDS with
/// `{"aws:rds:db-id": dbi}` (docs/rds.md §3), so the `aws/rds` key's `kms:ViaService` admits it.
pub fn instance_use(dbi: &str) -> ServiceUse {
    ServiceUse::new(RDS_SERVICE, [(DB_EC_KEY, dbi)])
}

/// How the storage of Aurora cluster `dbc` (its `DbClusterResourceId`) uses its key: through
/// RDS with `{"aws:rds:dbc-id": dbc}` (docs/rds.md §3).
pub fn cluster_use(dbc: &str) -> ServiceUse {
    ServiceUse::new(RDS_SERVICE, [(CLUSTER_EC_KEY, dbc)])
}

/// A new, empty backing volume for DB instance `dbi` (its `DbiResourceId`): a lineage whose
/// data key KMS generates under `key_arn` for the caller through RDS, with RDS's grant for the
/// resource on a customer key. Not yet stored (`managed::create_volume` stores it).
pub async fn new_volume(
    svc: &Rds,
    ctx: &RequestContext,
    dbi: &str,
    size_gib: i32,
    key_arn: Option<&str>,
) -> Result<NewVolume, RdsError> {
    let spec = VolumeSpec {
        size_gib,
        key_arn: key_arn.map(str::to_owned),
        key_use: instance_use(dbi),
        source: VolumeSource::Empty,
    };
    Ok(svc.ebs.prepare_volume(ctx, spec).await?)
}

/// An `AwsApiCall` event for RDS operation `op` (secret members such as `MasterUserPassword`
/// are dropped by the audit crate's denylist, and by the callers before that).
pub fn event<T: Serialize>(
    ctx: &RequestContext,
    op: &str,
    input: &T,
    kind: &str,
    arn: &str,
) -> Event {
    Event::api_call(ctx, RDS_SOURCE, op, false)
        .with_request_of("rds", op, input)
        .with_resource(kind, arn)
}

/// [`event`] for RDS operation `op` on resource `name` of `kind` of the caller (its account
/// and region).
pub fn event_on<T: Serialize>(
    ctx: &RequestContext,
    op: &str,
    input: &T,
    kind: crate::model::RdsKind,
    name: &str,
) -> Event {
    use crate::model::RdsKind;
    let trail = match kind {
        RdsKind::Db => "AWS::RDS::DBInstance",
        RdsKind::Cluster => "AWS::RDS::DBCluster",
        RdsKind::Snapshot => "AWS::RDS::DBSnapshot",
        RdsKind::ClusterSnapshot => "AWS::RDS::DBClusterSnapshot",
    };
    let arn = crate::model::arn(ctx.principal.account, ctx.region, kind, name);
    event(ctx, op, input, trail, &arn)
}

/// Writes `events` in `txn` (the change's own transaction) and commits it.
pub fn commit(mut txn: Box<dyn WriteTxn + '_>, events: &[Event]) -> Result<(), RdsError> {
    kmsnap_audit::append(txn.as_mut(), events).map_err(|e| {
        tracing::error!(error = %e, "rds audit append");
        RdsError::Internal("audit")
    })?;
    txn.commit()?;
    Ok(())
}

/// The storage side of a snapshot copy (CopyDBSnapshot, CopyDBClusterSnapshot): `source`'s
/// managed snapshot copied to `to` by a job run as `caller` (docs/managed-storage.md).
pub struct CopyJob {
    pub source: SnapshotInfo,
    pub to: CopyTo,
    pub key_use: ServiceUse,
    pub description: String,
    pub caller: JobCaller,
    pub now: DateTime<Utc>,
}

impl CopyJob {
    /// A copy into `ctx`'s account and region under `key_arn` (`None`: unencrypted), run as
    /// `ctx`'s caller.
    pub fn new(
        ctx: &RequestContext,
        source: SnapshotInfo,
        key_arn: Option<String>,
        key_use: ServiceUse,
        description: String,
    ) -> Self {
        let to = CopyTo {
            account: ctx.principal.account,
            region: ctx.region,
            key_arn,
        };
        CopyJob {
            source,
            to,
            key_use,
            description,
            caller: JobCaller::from_context(ctx),
            now: ctx.now,
        }
    }
}

/// A snapshot record (DB snapshot, DB cluster snapshot) as a copy writes it.
pub(crate) trait SnapshotCopy: Scoped + Send + 'static {
    /// The managed snapshot holding its blocks.
    fn storage(&mut self) -> &mut SnapshotId;
    /// The error when a snapshot of its name already exists.
    fn exists(&self) -> RdsError;
    /// The key the copy is encrypted under (`None`: unencrypted).
    fn key_arn(&self) -> Option<String>;
}

/// Stores a copy's record `rec` with the copy of `source` into the caller's account and
/// region under `rec`'s key queued (its managed snapshot is the record's storage, `key_use` and
/// `description` the copy job's) and `event` logged, in one transaction.
pub(crate) async fn commit_copy<T: SnapshotCopy>(
    svc: &Rds,
    ctx: &RequestContext,
    mut rec: T,
    source: SnapshotInfo,
    (key_use, description): (ServiceUse, String),
    event: Event,
) -> Result<T, RdsError> {
    let job = CopyJob::new(ctx, source, rec.key_arn(), key_use, description);
    let meta = svc.meta.clone();
    let rec = crate::blocking(move || -> Result<T, RdsError> {
        let mut txn = meta.write()?;
        if txn.get(T::TABLE.name(), &rec.key())?.is_some() {
            return Err(rec.exists());
        }
        *rec.storage() = managed::queue_copy(
            txn.as_mut(),
            &job.source,
            job.to,
            &job.key_use,
            job.description,
            job.caller,
            job.now,
        )?;
        crate::store::put(txn.as_mut(), &rec)?;
        commit(txn, &[event])?;
        Ok(rec)
    })
    .await??;
    svc.ebs.wake_worker();
    Ok(rec)
}

pub fn tags_from(input: Option<&[rds::Tag]>) -> Vec<(String, String)> {
    input
        .unwrap_or_default()
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect()
}

pub fn tags_to_api(tags: &[(String, String)]) -> Option<Vec<rds::Tag>> {
    Some(
        tags.iter()
            .map(|(k, v)| rds::Tag {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
    )
}

/// `Filters.Filter.N`: every filter must match (any of its values); names outside `known` are
/// refused as RDS does.
pub fn check_filters(filters: Option<&[rds::Filter]>, known: &[&str]) -> Result<(), RdsError> {
    for f in filters.unwrap_or_default() {
        if !known.contains(&f.name.as_str()) {
            return Err(RdsError::InvalidParameterValue(format!(
                "Unrecognized filter name: {}",
                f.name
            )));
        }
    }
    Ok(())
}

pub fn matches(filters: Option<&[rds::Filter]>, field: impl Fn(&str) -> Vec<String>) -> bool {
    filters.unwrap_or_default().iter().all(|f| {
        let have = field(&f.name);
        f.values.iter().any(|v| have.contains(v))
    })
}

/// What a Describe* call asks for: one resource by identifier or ARN, filters, a page.
pub struct Query<'a> {
    pub named: Option<&'a str>,
    pub filters: Option<&'a [rds::Filter]>,
    pub max_records: Option<i32>,
    pub marker: Option<&'a str>,
}

/// Describe*'s selection from `all` (identifier order): the named resource (absent:
/// `not_found`), else every one; those matching the filters (`field` gives a filter's values
/// of a resource); one page.
pub fn select<T>(
    all: Vec<T>,
    q: &Query<'_>,
    id: impl Fn(&T) -> &str,
    field: impl Fn(&T, &str) -> Vec<String>,
    not_found: impl FnOnce(String) -> RdsError,
) -> Result<(Vec<T>, Option<String>), RdsError> {
    let named = q
        .named
        .map(|w| crate::model::name_in(w).to_ascii_lowercase());
    if let Some(w) = &named {
        if !all.iter().any(|r| id(r) == w) {
            return Err(not_found(q.named.unwrap_or_default().to_owned()));
        }
    }
    let selected: Vec<T> = all
        .into_iter()
        .filter(|r| named.as_ref().is_none_or(|w| id(r) == w))
        .filter(|r| matches(q.filters, |name| field(r, name)))
        .collect();
    page(selected, id, q.max_records, q.marker)
}

/// `MaxRecords` (20–100, default 100) and `Marker` (the last identifier of the previous page)
/// applied to `items` in identifier order; returns the page and the next marker.
pub fn page<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    max_records: Option<i32>,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>), RdsError> {
    let max = max_records.unwrap_or(100);
    if !(20..=100).contains(&max) {
        return Err(RdsError::InvalidParameterValue(format!(
            "Invalid value {max} for MaxRecords. Must be between 20 and 100"
        )));
    }
    let max = usize::try_from(max).unwrap_or(100);
    let mut rest: Vec<T> = match marker.filter(|m| !m.is_empty()) {
        Some(m) => items.into_iter().filter(|i| id(i) > m).collect(),
        None => items,
    };
    let next = if rest.len() > max {
        rest.truncate(max);
        rest.last().map(|i| id(i).to_owned())
    } else {
        None
    };
    Ok((rest, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_by_marker() {
        let items: Vec<String> = (0..45).map(|i| format!("db{i:02}")).collect();
        let (p1, m1) = page(items.clone(), |s| s.as_str(), Some(20), None).unwrap();
        assert_eq!((p1.len(), m1.as_deref()), (20, Some("db19")));
        let (p2, m2) = page(items.clone(), |s| s.as_str(), Some(20), m1.as_deref()).unwrap();
        assert_eq!((p2[0].as_str(), m2.as_deref()), ("db20", Some("db39")));
        let (p3, m3) = page(items.clone(), |s| s.as_str(), Some(20), m2.as_deref()).unwrap();
        assert_eq!((p3.len(), m3), (5, None));
        assert!(page(items, |s| s.as_str(), Some(19), None).is_err());
    }

    #[test]
    fn filters_match_any_value_of_each() {
        let f = vec![rds::Filter {
            name: "engine".into(),
            values: vec!["mysql".into(), "postgres".into()],
        }];
        assert!(matches(Some(&f), |_| vec!["postgres".into()]));
        assert!(!matches(Some(&f), |_| vec!["mariadb".into()]));
        assert!(check_filters(Some(&f), &["engine"]).is_ok());
        assert!(check_filters(Some(&f), &["db-instance-id"]).is_err());
    }
}
