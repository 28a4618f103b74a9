//! Tags of volumes and snapshots: CreateTags, DeleteTags, DescribeTags, and the
//! `TagSpecifications` of CreateVolume / CreateSnapshot.
//!
//! Tags live in the resource's own record (they are the owner's: an account a snapshot is
//! shared with sees none of them, as in AWS). EC2's limits hold: at most 50 tags per resource,
//! keys 1–127 characters, values up to 255, and the `aws:` prefix is reserved.

use super::filters::{Filters, Paging};
use super::trail;
use crate::error::EbsError;
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::WriteTxn;

pub type Tags = Vec<(String, String)>;

pub const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 127;
const MAX_VALUE: usize = 255;

/// DescribeTags' filter names.
const FILTERS: &[&str] = &["key", "resource-id", "resource-type", "value", "tag:*"];

/// Checks one tag as EC2 does; returns it as a pair (a missing value is `""`).
fn checked(t: &ec2::Tag) -> Result<(String, String), EbsError> {
    let key = t.key.clone().unwrap_or_default();
    let value = t.value.clone().unwrap_or_default();
    if key.is_empty() {
        return Err(EbsError::InvalidParameterValue(
            "Tag key cannot be empty".into(),
        ));
    }
    if key.chars().count() > MAX_KEY {
        return Err(EbsError::InvalidParameterValue(format!(
            "Tag key exceeds the maximum length of {MAX_KEY} characters"
        )));
    }
    if value.chars().count() > MAX_VALUE {
        return Err(EbsError::InvalidParameterValue(format!(
            "Tag value exceeds the maximum length of {MAX_VALUE} characters"
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(EbsError::InvalidParameterValue(
            "Tag keys starting with 'aws:' are reserved for internal use".into(),
        ));
    }
    Ok((key, value))
}

/// Sets `new` on `tags` (a key already present takes the new value).
pub fn merge(tags: &mut Tags, new: &[(String, String)]) {
    for (k, v) in new {
        match tags.iter_mut().find(|(tk, _)| tk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => tags.push((k.clone(), v.clone())),
        }
    }
}

/// The tags of the `TagSpecifications` for `resource_type` (`volume`, `snapshot`): a
/// specification naming any other type is refused, as EC2 does.
pub fn from_specs(
    specs: Option<&[ec2::TagSpecification]>,
    resource_type: &str,
    id: &str,
) -> Result<Tags, EbsError> {
    let mut out = Tags::new();
    for spec in specs.unwrap_or_default() {
        let rt = spec.resource_type.map(|r| r.as_str()).unwrap_or_default();
        if rt != resource_type {
            return Err(EbsError::InvalidParameterValue(format!(
                "'{rt}' is not a valid taggable resource type for this operation."
            )));
        }
        let tags = spec
            .tags
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(checked)
            .collect::<Result<Vec<_>, _>>()?;
        merge(&mut out, &tags);
    }
    if out.len() > MAX_TAGS {
        return Err(EbsError::TagLimitExceeded { id: id.to_owned() });
    }
    Ok(out)
}

/// The response form: `None` when there are none (EC2 then sends no `tagSet`).
pub fn to_api(tags: &[(String, String)]) -> Option<Vec<ec2::Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| ec2::Tag {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect()
    })
}

/// A taggable resource of the caller, loaded for change.
enum Owned {
    Volume(crate::model::VolumeRecord),
    Snapshot(crate::model::SnapshotRecord),
}

impl Owned {
    fn tags(&mut self) -> &mut Tags {
        match self {
            Owned::Volume(v) => &mut v.tags,
            Owned::Snapshot(s) => &mut s.tags,
        }
    }

    fn put(&self, txn: &mut dyn WriteTxn) -> Result<(), EbsError> {
        match self {
            Owned::Volume(v) => store::put_volume(txn, v),
            Owned::Snapshot(s) => store::put_snapshot(txn, s),
        }
    }
}

/// The caller's volume or snapshot `id` in its region; NotFound otherwise (a snapshot shared
/// with the caller is not the caller's to tag).
fn load(
    txn: &dyn WriteTxn,
    account: AccountId,
    region: Region,
    id: &str,
) -> Result<Owned, EbsError> {
    if id.starts_with("vol-") {
        if !trail::well_formed("vol", id) {
            return Err(EbsError::MalformedId {
                kind: "vol",
                id: id.to_owned(),
            });
        }
        return store::get_volume(txn, account, region, id)?
            .filter(|v| v.managed_by.is_none())
            .map(Owned::Volume)
            .ok_or_else(|| EbsError::VolumeNotFound { id: id.to_owned() });
    }
    if id.starts_with("snap-") {
        if !trail::well_formed("snap", id) {
            return Err(EbsError::MalformedId {
                kind: "snap",
                id: id.to_owned(),
            });
        }
        return store::get_snapshot(txn, account, region, id)?
            .filter(|s| s.managed_by.is_none())
            .map(Owned::Snapshot)
            .ok_or_else(|| EbsError::SnapshotNotFound { id: id.to_owned() });
    }
    // EC2's answer for an id of no taggable kind (docs/fidelity.md §4).
    Err(EbsError::InvalidId { id: id.to_owned() })
}

/// Loads every resource, applies `change` to each one's tags, and writes them with the event.
async fn change_tags<F>(
    svc: &Snapshots,
    ctx: &RequestContext,
    resources: Vec<String>,
    dry_run: Option<bool>,
    event: kmsnap_audit::Event,
    change: F,
) -> Result<(), EbsError>
where
    F: Fn(&mut Tags) + Send + 'static,
{
    if resources.is_empty() {
        return Err(EbsError::MissingParameter(
            "The request must contain the parameter resourceIdSet".into(),
        ));
    }
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let mut loaded = Vec::with_capacity(resources.len());
        for id in &resources {
            let mut r = load(&*txn, account, region, id)?;
            change(r.tags());
            if r.tags().len() > MAX_TAGS {
                return Err(EbsError::TagLimitExceeded { id: id.clone() });
            }
            loaded.push(r);
        }
        trail::dry_run(dry_run)?;
        let mut event = event;
        for (id, r) in resources.iter().zip(&loaded) {
            r.put(txn.as_mut())?;
            event = trail::with_ec2_resource(event, region, account, id);
        }
        trail::commit(txn, &[event])?;
        Ok(())
    })
    .await?
}

pub async fn create(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::CreateTagsRequest,
) -> Result<(), EbsError> {
    let new = input
        .tags
        .iter()
        .map(checked)
        .collect::<Result<Vec<_>, _>>()?;
    if new.is_empty() {
        return Err(EbsError::MissingParameter(
            "The request must contain the parameter tagSet".into(),
        ));
    }
    let event = trail::event(ctx, "CreateTags", &input);
    change_tags(
        svc,
        ctx,
        input.resources,
        input.dry_run,
        event,
        move |tags| merge(tags, &new),
    )
    .await
}

/// Without `Tag.N`, every tag goes; a tag with only a key removes that key; with a value, only
/// when the value matches (an empty value matches only an empty value).
pub async fn delete(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DeleteTagsRequest,
) -> Result<(), EbsError> {
    let wanted: Option<Vec<(String, Option<String>)>> = input.tags.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone()))
            .collect()
    });
    let event = trail::event(ctx, "DeleteTags", &input);
    change_tags(
        svc,
        ctx,
        input.resources,
        input.dry_run,
        event,
        move |tags| match &wanted {
            None => tags.clear(),
            Some(w) => tags.retain(|(k, v)| {
                !w.iter()
                    .any(|(wk, wv)| wk == k && wv.as_ref().is_none_or(|wv| wv == v))
            }),
        },
    )
    .await
}

pub async fn describe(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DescribeTagsRequest,
) -> Result<ec2::DescribeTagsResult, EbsError> {
    let filters = Filters::parse(input.filters, FILTERS)?;
    let paging = Paging::parse(input.max_results, input.next_token, 5, 1000)?;
    trail::dry_run(input.dry_run)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let (vols, snaps) = crate::blocking(move || -> Result<_, EbsError> {
        let txn = meta.read()?;
        Ok((
            store::volumes_of(txn.as_ref(), account, region)?,
            store::snapshots_of(txn.as_ref(), account, region)?,
        ))
    })
    .await??;
    let resources = vols
        .into_iter()
        .map(|v| (v.id, ec2::ResourceType::Volume, v.tags))
        .chain(
            snaps
                .into_iter()
                .map(|s| (s.id, ec2::ResourceType::Snapshot, s.tags)),
        );
    let mut rows = Vec::new();
    for (id, rt, tags) in resources {
        for (k, v) in &tags {
            let field = |name: &str| match name {
                "key" => vec![k.clone()],
                "value" => vec![v.clone()],
                "resource-id" => vec![id.clone()],
                "resource-type" => vec![rt.as_str().to_owned()],
                _ => vec![],
            };
            if filters.matches(&tags, field) {
                let row = ec2::TagDescription {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                    resource_id: Some(id.clone()),
                    resource_type: Some(rt),
                };
                rows.push((format!("{id}\u{0}{k}"), row));
            }
        }
    }
    let (page, next_token) = paging.page(rows, |(sort, _)| sort.as_str());
    Ok(ec2::DescribeTagsResult {
        tags: Some(page.into_iter().map(|(_, r)| r).collect()),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> ec2::Tag {
        ec2::Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn specs_for_the_right_type_only() {
        let spec = |rt, tags| ec2::TagSpecification {
            resource_type: Some(rt),
            tags: Some(tags),
        };
        let specs = vec![
            spec(
                ec2::ResourceType::Volume,
                vec![tag("Name", "a"), tag("env", "x")],
            ),
            spec(ec2::ResourceType::Volume, vec![tag("Name", "b")]),
        ];
        assert_eq!(
            from_specs(Some(&specs), "volume", "vol-1").unwrap(),
            vec![("Name".into(), "b".into()), ("env".into(), "x".into())]
        );
        let e = from_specs(Some(&specs), "snapshot", "snap-1").unwrap_err();
        assert_eq!(
            e,
            EbsError::InvalidParameterValue(
                "'volume' is not a valid taggable resource type for this operation.".into()
            )
        );
        assert!(from_specs(None, "volume", "vol-1").unwrap().is_empty());
    }

    #[test]
    fn tag_rules() {
        assert!(checked(&tag("aws:x", "1")).is_err());
        assert!(checked(&tag("", "1")).is_err());
        assert!(checked(&tag(&"k".repeat(128), "1")).is_err());
        assert!(checked(&tag("k", &"v".repeat(256))).is_err());
        assert_eq!(
            checked(&ec2::Tag {
                key: Some("k".into()),
                value: None
            })
            .unwrap(),
            ("k".into(), String::new())
        );
        let many: Vec<ec2::Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        let spec = vec![ec2::TagSpecification {
            resource_type: Some(ec2::ResourceType::Snapshot),
            tags: Some(many),
        }];
        assert!(matches!(
            from_specs(Some(&spec), "snapshot", "snap-1"),
            Err(EbsError::TagLimitExceeded { .. })
        ));
    }

    #[test]
    fn merge_overwrites() {
        let mut t: Tags = vec![("a".into(), "1".into())];
        merge(
            &mut t,
            &[("a".into(), "2".into()), ("b".into(), "3".into())],
        );
        assert_eq!(t, vec![("a".into(), "2".into()), ("b".into(), "3".into())]);
        assert_eq!(to_api(&[]), None);
    }
}
