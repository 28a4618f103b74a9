//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource: tags of DB instances and DB
//! snapshots, named by ARN (`arn:aws:rds:<region>:<account>:db:<id>`, `…:snapshot:<id>`).
//!
//! Tags live in the resource's own record, so a change is one write with its CloudTrail event.
//! A resource of another account or region is not the caller's to tag: an ARN naming another
//! region is refused as RDS does, one naming another account answers not found.

use super::common::{self, tags_to_api};
use crate::error::RdsError;
use crate::model::{identifier, snapshot_name};
use crate::{store, Rds};
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;

/// A taggable resource named by ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Instance(String),
    Snapshot(String),
}

fn not_here() -> RdsError {
    RdsError::InvalidParameterValue(
        "The specified resource name does not match an RDS resource in this region.".into(),
    )
}

/// The resource `arn` names, if it is the caller's; `Err` as RDS answers otherwise.
fn parse(arn: &str, ctx: &RequestContext) -> Result<Resource, RdsError> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let ["arn", "aws", "rds", region, account, kind, id] = parts.as_slice() else {
        return Err(not_here());
    };
    if *region != ctx.region.as_str() {
        return Err(not_here());
    }
    let own = *account == ctx.principal.account.as_str();
    match *kind {
        "db" => {
            let id = identifier("ResourceName", id).map_err(|_| not_here())?;
            if own {
                Ok(Resource::Instance(id))
            } else {
                Err(RdsError::InstanceNotFound { id })
            }
        }
        "snapshot" => {
            let id = snapshot_name("ResourceName", id).map_err(|_| not_here())?;
            if own {
                Ok(Resource::Snapshot(id))
            } else {
                Err(RdsError::SnapshotNotFound { id })
            }
        }
        // Tags of clusters and cluster snapshots belong to the Aurora operations.
        "cluster" | "cluster-snapshot" => Err(RdsError::NotImplemented("tags of DB clusters")),
        _ => Err(not_here()),
    }
}

/// Applies `change` to the tags of `res` in one transaction (with `event`); returns the tags.
fn update(
    meta: &dyn kmsnap_store::MetaStore,
    ctx_account: kmsnap_core::AccountId,
    region: kmsnap_core::Region,
    res: &Resource,
    event: kmsnap_audit::Event,
    change: impl FnOnce(&mut Vec<(String, String)>),
) -> Result<Vec<(String, String)>, RdsError> {
    let mut txn = meta.write()?;
    let tags = match res {
        Resource::Instance(id) => {
            let mut r = store::get_instance(&*txn, ctx_account, region, id)?
                .ok_or_else(|| RdsError::InstanceNotFound { id: id.clone() })?;
            change(&mut r.tags);
            store::put_instance(txn.as_mut(), &r)?;
            r.tags
        }
        Resource::Snapshot(id) => {
            let mut s = store::get_snapshot(&*txn, ctx_account, region, id)?
                .ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?;
            change(&mut s.tags);
            store::put_snapshot(txn.as_mut(), &s)?;
            s.tags
        }
    };
    common::commit(txn, &[event])?;
    Ok(tags)
}

/// Adds or overwrites `new` in `tags` (a key is unique; a new value replaces the old).
pub fn merge(tags: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (k, v) in new {
        match tags.iter_mut().find(|(x, _)| *x == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
}

fn kind_of(res: &Resource) -> &'static str {
    match res {
        Resource::Instance(_) => "AWS::RDS::DBInstance",
        Resource::Snapshot(_) => "AWS::RDS::DBSnapshot",
    }
}

pub async fn add(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::AddTagsToResourceMessage,
) -> Result<(), RdsError> {
    let res = parse(&input.resource_name, ctx)?;
    let new = common::tags_from(Some(&input.tags));
    let event = common::event(
        ctx,
        "AddTagsToResource",
        &input,
        kind_of(&res),
        &input.resource_name,
    );
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || {
        update(meta.as_ref(), account, region, &res, event, |t| {
            merge(t, new)
        })
    })
    .await??;
    Ok(())
}

pub async fn remove(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::RemoveTagsFromResourceMessage,
) -> Result<(), RdsError> {
    let res = parse(&input.resource_name, ctx)?;
    let keys = input.tag_keys.clone();
    let event = common::event(
        ctx,
        "RemoveTagsFromResource",
        &input,
        kind_of(&res),
        &input.resource_name,
    );
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || {
        update(meta.as_ref(), account, region, &res, event, |t| {
            t.retain(|(k, _)| !keys.contains(k))
        })
    })
    .await??;
    Ok(())
}

pub async fn list(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ListTagsForResourceMessage,
) -> Result<rds::TagListMessage, RdsError> {
    let res = parse(&input.resource_name, ctx)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let tags = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        match &res {
            Resource::Instance(id) => Ok(store::get_instance(&*txn, account, region, id)?
                .ok_or_else(|| RdsError::InstanceNotFound { id: id.clone() })?
                .tags),
            Resource::Snapshot(id) => Ok(store::get_snapshot(&*txn, account, region, id)?
                .ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?
                .tags),
        }
    })
    .await??;
    Ok(rds::TagListMessage {
        tag_list: tags_to_api(&tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overwrites_by_key() {
        let mut t = vec![("a".to_owned(), "1".to_owned())];
        merge(
            &mut t,
            vec![("b".into(), "2".into()), ("a".into(), "3".into())],
        );
        assert_eq!(
            t,
            vec![
                ("a".to_owned(), "3".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
    }
}
