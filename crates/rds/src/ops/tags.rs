//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource: tags of DB instances, DB
//! snapshots, DB clusters and DB cluster snapshots, named by ARN
//! (`arn:aws:rds:<region>:<account>:db:<id>`, `…:snapshot:<id>`, `…:cluster:<id>`,
//! `…:cluster-snapshot:<id>`; docs/arns.md).
//!
//! Tags live in the resource's own record, so a change is one write with its CloudTrail event.
//! A resource of another account or region is not the caller's to tag: an ARN naming another
//! region is refused as RDS does, one naming another account answers not found.

use super::common::{self, tags_to_api};
use crate::cluster::model::{ClusterRecord, ClusterSnapshotRecord};
use crate::error::RdsError;
use crate::model::{identifier, snapshot_name, DbInstanceRecord, DbSnapshotRecord};
use crate::store::{self, Scoped};
use crate::Rds;
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{ReadTxn, WriteTxn};

type Tags = Vec<(String, String)>;

/// A taggable resource named by ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Instance(String),
    Snapshot(String),
    Cluster(String),
    ClusterSnapshot(String),
}

/// A record that carries its resource's tags.
trait Tagged: Scoped {
    fn tags(&mut self) -> &mut Tags;
}

macro_rules! tagged {
    ($($ty:ty),*) => {$(
        impl Tagged for $ty {
            fn tags(&mut self) -> &mut Tags {
                &mut self.tags
            }
        }
    )*};
}
tagged!(
    DbInstanceRecord,
    DbSnapshotRecord,
    ClusterRecord,
    ClusterSnapshotRecord
);

fn not_here() -> RdsError {
    RdsError::InvalidParameterValue(
        "The specified resource name does not match an RDS resource in this region.".into(),
    )
}

/// The resource `arn` names, if it is the caller's; `Err` as RDS answers otherwise.
fn parse(arn: &str, ctx: &RequestContext) -> Result<Resource, RdsError> {
    let arn = Arn::parse(arn)
        .ok()
        .filter(|a| a.partition == "aws" && a.service == "rds")
        .ok_or_else(not_here)?;
    let (kind, id) = arn.resource.split_once(':').ok_or_else(not_here)?;
    if arn.region != ctx.region.as_str() {
        return Err(not_here());
    }
    let own = arn.account == ctx.principal.account.as_str();
    let name = |id| identifier("ResourceName", id).map_err(|_| not_here());
    let res = match kind {
        "db" => Resource::Instance(name(id)?),
        "snapshot" => {
            Resource::Snapshot(snapshot_name("ResourceName", id).map_err(|_| not_here())?)
        }
        "cluster" => Resource::Cluster(name(id)?),
        "cluster-snapshot" => Resource::ClusterSnapshot(name(id)?),
        _ => return Err(not_here()),
    };
    if own {
        Ok(res)
    } else {
        Err(res.not_found())
    }
}

impl Resource {
    /// The CloudTrail resource type.
    fn kind(&self) -> &'static str {
        match self {
            Resource::Instance(_) => "AWS::RDS::DBInstance",
            Resource::Snapshot(_) => "AWS::RDS::DBSnapshot",
            Resource::Cluster(_) => "AWS::RDS::DBCluster",
            Resource::ClusterSnapshot(_) => "AWS::RDS::DBClusterSnapshot",
        }
    }

    fn not_found(&self) -> RdsError {
        match self.clone() {
            Resource::Instance(id) => RdsError::InstanceNotFound { id },
            Resource::Snapshot(id) => RdsError::SnapshotNotFound { id },
            Resource::Cluster(id) => RdsError::ClusterNotFound { id },
            Resource::ClusterSnapshot(id) => RdsError::ClusterSnapshotNotFound { id },
        }
    }

    /// Applies `change` to the resource's tags in `txn`; returns them.
    fn edit(
        &self,
        txn: &mut dyn WriteTxn,
        account: AccountId,
        region: Region,
        change: impl FnOnce(&mut Tags),
    ) -> Result<Tags, RdsError> {
        fn edit<T: Tagged>(
            txn: &mut dyn WriteTxn,
            (account, region, id): (AccountId, Region, &str),
            res: &Resource,
            change: impl FnOnce(&mut Tags),
        ) -> Result<Tags, RdsError> {
            let mut r: T =
                store::get(&*txn, account, region, id)?.ok_or_else(|| res.not_found())?;
            change(r.tags());
            store::put(txn, &r)?;
            Ok(r.tags().clone())
        }
        match self {
            Resource::Instance(id) => {
                edit::<DbInstanceRecord>(txn, (account, region, id), self, change)
            }
            Resource::Snapshot(id) => {
                edit::<DbSnapshotRecord>(txn, (account, region, id), self, change)
            }
            Resource::Cluster(id) => {
                edit::<ClusterRecord>(txn, (account, region, id), self, change)
            }
            Resource::ClusterSnapshot(id) => {
                edit::<ClusterSnapshotRecord>(txn, (account, region, id), self, change)
            }
        }
    }

    /// The resource's tags as of `txn`.
    fn read(
        &self,
        txn: &dyn ReadTxn,
        account: AccountId,
        region: Region,
    ) -> Result<Tags, RdsError> {
        fn read<T: Tagged>(
            txn: &dyn ReadTxn,
            (account, region, id): (AccountId, Region, &str),
            res: &Resource,
        ) -> Result<Tags, RdsError> {
            let mut r: T = store::get(txn, account, region, id)?.ok_or_else(|| res.not_found())?;
            Ok(std::mem::take(r.tags()))
        }
        match self {
            Resource::Instance(id) => read::<DbInstanceRecord>(txn, (account, region, id), self),
            Resource::Snapshot(id) => read::<DbSnapshotRecord>(txn, (account, region, id), self),
            Resource::Cluster(id) => read::<ClusterRecord>(txn, (account, region, id), self),
            Resource::ClusterSnapshot(id) => {
                read::<ClusterSnapshotRecord>(txn, (account, region, id), self)
            }
        }
    }
}

/// Applies `change` to the tags of `input`'s resource in one transaction with `event`.
async fn update(
    svc: &Rds,
    ctx: &RequestContext,
    res: Resource,
    event: kmsnap_audit::Event,
    change: impl FnOnce(&mut Tags) + Send + 'static,
) -> Result<(), RdsError> {
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    crate::blocking(move || -> Result<(), RdsError> {
        let mut txn = meta.write()?;
        res.edit(txn.as_mut(), account, region, change)?;
        common::commit(txn, &[event])
    })
    .await?
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
        res.kind(),
        &input.resource_name,
    );
    update(svc, ctx, res, event, move |t| merge(t, new)).await
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
        res.kind(),
        &input.resource_name,
    );
    update(svc, ctx, res, event, move |t| {
        t.retain(|(k, _)| !keys.contains(k))
    })
    .await
}

pub async fn list(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ListTagsForResourceMessage,
) -> Result<rds::TagListMessage, RdsError> {
    let res = parse(&input.resource_name, ctx)?;
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let tags = crate::blocking(move || res.read(meta.read()?.as_ref(), account, region)).await??;
    Ok(rds::TagListMessage {
        tag_list: tags_to_api(&tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsnap_auth::model::Principal;

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
    fn arns_of_every_kind() {
        let c = ctx();
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:cluster:Aur1", &c).unwrap(),
            Resource::Cluster("aur1".into())
        );
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:cluster-snapshot:s1", &c).unwrap(),
            Resource::ClusterSnapshot("s1".into())
        );
        assert_eq!(
            parse("arn:aws:rds:us-east-1:111122223333:db:pg1", &c).unwrap(),
            Resource::Instance("pg1".into())
        );
        assert_eq!(
            parse(
                "arn:aws:rds:us-east-1:111122223333:snapshot:rds:pg1-2026-01-01-00-00",
                &c
            )
            .unwrap(),
            Resource::Snapshot("rds:pg1-2026-01-01-00-00".into())
        );
        assert!(matches!(
            parse("arn:aws:rds:us-east-1:444455556666:cluster:a", &c),
            Err(RdsError::ClusterNotFound { .. })
        ));
        assert!(matches!(
            parse("arn:aws:rds:us-east-1:444455556666:db:a", &c),
            Err(RdsError::InstanceNotFound { .. })
        ));
        for other in [
            "arn:aws:rds:eu-west-1:111122223333:cluster:a",
            "arn:aws:rds:us-east-1:111122223333:cluster",
            "arn:aws:rds:us-east-1:111122223333:db:",
            "arn:aws:ec2:us-east-1:111122223333:db:a",
            "arn:aws-cn:rds:us-east-1:111122223333:db:a",
            "arn:aws:rds:us-east-1:111122223333:og:a",
        ] {
            assert!(
                matches!(parse(other, &c), Err(RdsError::InvalidParameterValue(_))),
                "{other}"
            );
        }
    }

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
