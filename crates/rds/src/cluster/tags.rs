//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource for Aurora resources: DB
//! clusters (`arn:aws:rds:<region>:<account>:cluster:<id>`) and DB cluster snapshots
//! (`…:cluster-snapshot:<id>`). Other ARNs are `crate::ops::tags`' (each function answers
//! `None` for them). Tags live in the record: one write with its CloudTrail event.

use super::store as cstore;
use crate::model::identifier;
use crate::ops::common::{self, tags_to_api};
use crate::ops::tags::merge;
use crate::{Rds, RdsError};
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Cluster(String),
    Snapshot(String),
}

/// The Aurora resource `arn` names (`None`: not an Aurora ARN), if it is the caller's.
fn parse(arn: &str, ctx: &RequestContext) -> Result<Option<Resource>, RdsError> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let ["arn", "aws", "rds", region, account, kind @ ("cluster" | "cluster-snapshot"), id] =
        parts.as_slice()
    else {
        return Ok(None);
    };
    let not_here = || {
        RdsError::InvalidParameterValue(
            "The specified resource name does not match an RDS resource in this region.".into(),
        )
    };
    if *region != ctx.region.as_str() {
        return Err(not_here());
    }
    let id = identifier("ResourceName", id).map_err(|_| not_here())?;
    let own = *account == ctx.principal.account.as_str();
    match (*kind, own) {
        ("cluster", true) => Ok(Some(Resource::Cluster(id))),
        ("cluster", false) => Err(RdsError::ClusterNotFound { id }),
        (_, true) => Ok(Some(Resource::Snapshot(id))),
        (_, false) => Err(RdsError::ClusterSnapshotNotFound { id }),
    }
}

fn kind_of(res: &Resource) -> &'static str {
    match res {
        Resource::Cluster(_) => "AWS::RDS::DBCluster",
        Resource::Snapshot(_) => "AWS::RDS::DBClusterSnapshot",
    }
}

/// Applies `change` to the tags of `res` in one transaction with `event`.
async fn update(
    svc: &Rds,
    ctx: &RequestContext,
    res: Resource,
    event: kmsnap_audit::Event,
    change: impl FnOnce(&mut Vec<(String, String)>) + Send + 'static,
) -> Result<(), RdsError> {
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        match &res {
            Resource::Cluster(id) => {
                let mut c = cstore::get_cluster(&*txn, account, region, id)?
                    .ok_or_else(|| RdsError::ClusterNotFound { id: id.clone() })?;
                change(&mut c.tags);
                cstore::put_cluster(txn.as_mut(), &c)?;
            }
            Resource::Snapshot(id) => {
                let mut s = cstore::get_snapshot(&*txn, account, region, id)?
                    .ok_or_else(|| RdsError::ClusterSnapshotNotFound { id: id.clone() })?;
                change(&mut s.tags);
                cstore::put_snapshot(txn.as_mut(), &s)?;
            }
        }
        common::commit(txn, &[event])
    })
    .await?
}

pub async fn add(
    svc: &Rds,
    ctx: &RequestContext,
    input: &rds::AddTagsToResourceMessage,
) -> Result<Option<()>, RdsError> {
    let Some(res) = parse(&input.resource_name, ctx)? else {
        return Ok(None);
    };
    let new = common::tags_from(Some(&input.tags));
    let event = common::event(
        ctx,
        "AddTagsToResource",
        input,
        kind_of(&res),
        &input.resource_name,
    );
    update(svc, ctx, res, event, move |t| merge(t, new))
        .await
        .map(Some)
}

pub async fn remove(
    svc: &Rds,
    ctx: &RequestContext,
    input: &rds::RemoveTagsFromResourceMessage,
) -> Result<Option<()>, RdsError> {
    let Some(res) = parse(&input.resource_name, ctx)? else {
        return Ok(None);
    };
    let keys = input.tag_keys.clone();
    let event = common::event(
        ctx,
        "RemoveTagsFromResource",
        input,
        kind_of(&res),
        &input.resource_name,
    );
    update(svc, ctx, res, event, move |t| {
        t.retain(|(k, _)| !keys.contains(k))
    })
    .await
    .map(Some)
}

pub async fn list(
    svc: &Rds,
    ctx: &RequestContext,
    input: &rds::ListTagsForResourceMessage,
) -> Result<Option<rds::TagListMessage>, RdsError> {
    let Some(res) = parse(&input.resource_name, ctx)? else {
        return Ok(None);
    };
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let tags = crate::blocking(move || -> Result<_, RdsError> {
        let txn = meta.read()?;
        Ok(match &res {
            Resource::Cluster(id) => {
                cstore::get_cluster(&*txn, account, region, id)?
                    .ok_or_else(|| RdsError::ClusterNotFound { id: id.clone() })?
                    .tags
            }
            Resource::Snapshot(id) => {
                cstore::get_snapshot(&*txn, account, region, id)?
                    .ok_or_else(|| RdsError::ClusterSnapshotNotFound { id: id.clone() })?
                    .tags
            }
        })
    })
    .await??;
    Ok(Some(rds::TagListMessage {
        tag_list: tags_to_api(&tags),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsnap_auth::model::Principal;
    use kmsnap_core::{AccountId, Region};

    fn ctx() -> RequestContext {
        RequestContext {
            principal: Principal::root(AccountId::parse("111122223333").unwrap(), "111122223333"),
            region: Region::parse("us-east-1").unwrap(),
            request_id: "r".into(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: String::new(),
            now: chrono::Utc::now(),
            via_service: None,
        }
    }

    #[test]
    fn aurora_arns_only() {
        let c = ctx();
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:cluster:Aur1", &c).unwrap(),
            Some(Resource::Cluster("aur1".into()))
        );
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:cluster-snapshot:s1", &c).unwrap(),
            Some(Resource::Snapshot("s1".into()))
        );
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:db:pg1", &c).unwrap(),
            None
        );
        assert!(matches!(
            parse("arn:aws:rds:us-east-1:444455556666:cluster:a", &c),
            Err(RdsError::ClusterNotFound { .. })
        ));
        assert!(matches!(
            parse("arn:aws:rds:eu-west-1:111122223333:cluster:a", &c),
            Err(RdsError::InvalidParameterValue(_))
        ));
    }
}
