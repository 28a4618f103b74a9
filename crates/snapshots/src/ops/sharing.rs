//! Sharing snapshots (docs/ebs.md §7): ModifySnapshotAttribute,
//! DescribeSnapshotAttribute and ResetSnapshotAttribute on `createVolumePermission`.
//!
//! Only the owner may read or change who may use a snapshot. Permissions are account ids and
//! the group `all` (public); both request forms are accepted: the legacy `OperationType` +
//! `UserId.N` / `UserGroup.N`, and `CreateVolumePermission.Add.N` / `.Remove.N`, one direction
//! per call. EC2 refuses to make an encrypted snapshot public, and to share at all a snapshot
//! under the account's AWS managed `aws/ebs` key (no other account could ever use that key).
//! Sharing does not share the key: the recipient can use the snapshot only if the key policy
//! lets it (checked when it copies or restores, by the job, through KMS).

use super::trail;
use crate::blocks::EC2_SERVICE;
use crate::error::EbsError;
use crate::model::{Permissions, SnapshotRecord};
use crate::{store, Snapshots};
use kmsnap_api::gen::ec2;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::RequestContext;
use kmsnap_core::AccountId;
use serde::Serialize;

/// Modifications one call may make.
pub const MAX_MODIFICATIONS: usize = 500;

/// One permission: an account, or everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grantee {
    Account(AccountId),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    add: bool,
    who: Vec<Grantee>,
}

fn account(id: &str) -> Result<Grantee, EbsError> {
    match (id.len(), AccountId::parse(id)) {
        (12, Ok(a)) => Ok(Grantee::Account(a)),
        _ => Err(EbsError::InvalidParameterValue(format!(
            "Value ({id}) for parameter userId is invalid. Expected a 12-digit AWS account ID."
        ))),
    }
}

fn group(name: &str) -> Result<Grantee, EbsError> {
    match name {
        "all" => Ok(Grantee::All),
        other => Err(EbsError::InvalidParameterValue(format!(
            "Value ({other}) for parameter group is invalid. Only 'all' is supported."
        ))),
    }
}

fn permission(p: &ec2::CreateVolumePermission) -> Result<Vec<Grantee>, EbsError> {
    let mut out = Vec::with_capacity(1);
    if let Some(u) = &p.user_id {
        out.push(account(u)?);
    }
    if p.group == Some(ec2::PermissionGroup::All) {
        out.push(Grantee::All);
    }
    if out.is_empty() {
        return Err(EbsError::MissingParameter(
            "A createVolumePermission entry needs a UserId or a Group.".into(),
        ));
    }
    Ok(out)
}

/// The one change a ModifySnapshotAttribute asks for, in either form.
fn change_of(input: &ec2::ModifySnapshotAttributeRequest) -> Result<Change, EbsError> {
    if input.attribute == Some(ec2::SnapshotAttributeName::ProductCodes) {
        return Err(EbsError::InvalidParameterValue(
            "The attribute productCodes cannot be modified.".into(),
        ));
    }
    let legacy = input.operation_type.is_some()
        || input.user_ids.as_ref().is_some_and(|v| !v.is_empty())
        || input.group_names.as_ref().is_some_and(|v| !v.is_empty());
    let structured = input.create_volume_permission.as_ref().map(|m| {
        (
            m.add.as_deref().unwrap_or_default(),
            m.remove.as_deref().unwrap_or_default(),
        )
    });
    let change = match (legacy, structured) {
        (true, Some((a, r))) if !a.is_empty() || !r.is_empty() => {
            return Err(EbsError::InvalidParameterCombination("Specify either OperationType with UserId/UserGroup or CreateVolumePermission, not both.".into()));
        }
        (true, _) => {
            let add = match input.operation_type {
                Some(ec2::OperationType::Add) => true,
                Some(ec2::OperationType::Remove) => false,
                None => {
                    return Err(EbsError::MissingParameter(
                        "The request must contain the parameter OperationType.".into(),
                    ))
                }
            };
            let mut who = Vec::new();
            for u in input.user_ids.as_deref().unwrap_or_default() {
                who.push(account(u)?);
            }
            for g in input.group_names.as_deref().unwrap_or_default() {
                who.push(group(g)?);
            }
            Change { add, who }
        }
        (false, Some((a, r))) => {
            if !a.is_empty() && !r.is_empty() {
                return Err(EbsError::InvalidParameterCombination(
                    "Adding and removing permissions in the same request is not supported.".into(),
                ));
            }
            let (add, list) = if a.is_empty() { (false, r) } else { (true, a) };
            let mut who = Vec::new();
            for p in list {
                who.extend(permission(p)?);
            }
            Change { add, who }
        }
        (false, None) => Change {
            add: true,
            who: Vec::new(),
        },
    };
    if change.who.is_empty() {
        return Err(EbsError::MissingParameter(
            "The request must contain the parameter createVolumePermission (UserId or Group)."
                .into(),
        ));
    }
    if change.who.len() > MAX_MODIFICATIONS {
        return Err(EbsError::InvalidParameterValue(format!("At most {MAX_MODIFICATIONS} createVolumePermission modifications are allowed per request.")));
    }
    Ok(change)
}

/// The caller's snapshot `id` in the request region (a shared one is not theirs to change).
async fn owned(
    svc: &Snapshots,
    ctx: &RequestContext,
    id: &str,
) -> Result<SnapshotRecord, EbsError> {
    trail::check_id("snapshotId", "snap", id)?;
    let (meta, account, region, key) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        id.to_owned(),
    );
    crate::blocking(move || store::get_snapshot(meta.read()?.as_ref(), account, region, &key))
        .await??
        .filter(|s| s.managed_by.is_none())
        .ok_or_else(|| EbsError::SnapshotNotFound { id: id.to_owned() })
}

/// Whether `key_arn` is an AWS managed key (KMS DescribeKey, as EC2 for the owner).
async fn aws_managed(
    svc: &Snapshots,
    ctx: &RequestContext,
    key_arn: &str,
) -> Result<bool, EbsError> {
    let meta = svc
        .kms
        .describe_key(
            &ctx.via(EC2_SERVICE),
            kmsapi::DescribeKeyRequest {
                key_id: key_arn.to_owned(),
                ..Default::default()
            },
        )
        .await?
        .key_metadata
        .ok_or(EbsError::Internal("DescribeKey without metadata"))?;
    Ok(meta.key_manager == Some(kmsapi::KeyManagerType::Aws))
}

/// Applies the permissions in `change` to `p`; removing what is not there is a no-op.
fn apply(p: &mut Permissions, change: &Change) {
    for g in &change.who {
        match (change.add, g) {
            (true, Grantee::All) => p.public = true,
            (false, Grantee::All) => p.public = false,
            (true, Grantee::Account(a)) if !p.users.contains(a) => p.users.push(*a),
            (true, Grantee::Account(_)) => {}
            (false, Grantee::Account(a)) => p.users.retain(|u| u != a),
        }
    }
}

pub async fn modify_snapshot_attribute(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::ModifySnapshotAttributeRequest,
) -> Result<(), EbsError> {
    let snap = owned(svc, ctx, &input.snapshot_id).await?;
    let change = change_of(&input)?;
    if change.add && snap.encrypted {
        if change.who.contains(&Grantee::All) {
            return Err(EbsError::OperationNotPermitted(
                "Encrypted snapshots cannot be shared publicly.".into(),
            ));
        }
        if let Some(k) = &snap.kms_key_arn {
            if aws_managed(svc, ctx, k).await? {
                return Err(EbsError::OperationNotPermitted(
                    "Encrypted snapshots with EBS default key cannot be shared".into(),
                ));
            }
        }
    }
    trail::dry_run(input.dry_run)?;
    write_permissions(
        svc,
        ctx,
        "ModifySnapshotAttribute",
        &input,
        &snap.id,
        move |p| apply(p, &change),
    )
    .await
}

pub async fn reset_snapshot_attribute(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::ResetSnapshotAttributeRequest,
) -> Result<(), EbsError> {
    let snap = owned(svc, ctx, &input.snapshot_id).await?;
    if input.attribute != ec2::SnapshotAttributeName::CreateVolumePermission {
        return Err(EbsError::InvalidParameterValue(
            "The attribute productCodes cannot be reset.".into(),
        ));
    }
    trail::dry_run(input.dry_run)?;
    write_permissions(svc, ctx, "ResetSnapshotAttribute", &input, &snap.id, |p| {
        *p = Permissions::default()
    })
    .await
}

/// Changes the permissions of the caller's snapshot `id` and records `op`, in one transaction
/// (the snapshot is re-read there, so a concurrent change is not lost).
async fn write_permissions<T, F>(
    svc: &Snapshots,
    ctx: &RequestContext,
    op: &str,
    input: &T,
    id: &str,
    change: F,
) -> Result<(), EbsError>
where
    T: Serialize,
    F: FnOnce(&mut Permissions) + Send + 'static,
{
    let (meta, account, region, id) = (
        svc.meta.clone(),
        ctx.principal.account,
        ctx.region,
        id.to_owned(),
    );
    let event = trail::with_ec2_resource(trail::event(ctx, op, input), region, account, &id);
    crate::blocking(move || -> Result<(), EbsError> {
        let mut txn = meta.write()?;
        let mut s = store::get_snapshot(&*txn, account, region, &id)?
            .filter(|s| s.managed_by.is_none())
            .ok_or_else(|| EbsError::SnapshotNotFound { id: id.clone() })?;
        change(&mut s.permissions);
        store::put_snapshot(txn.as_mut(), &s)?;
        trail::append(txn.as_mut(), &[event])?;
        txn.commit()?;
        Ok(())
    })
    .await?
}

pub async fn describe_snapshot_attribute(
    svc: &Snapshots,
    ctx: &RequestContext,
    input: ec2::DescribeSnapshotAttributeRequest,
) -> Result<ec2::DescribeSnapshotAttributeResult, EbsError> {
    let snap = owned(svc, ctx, &input.snapshot_id).await?;
    trail::dry_run(input.dry_run)?;
    let mut out = ec2::DescribeSnapshotAttributeResult {
        snapshot_id: Some(snap.id.clone()),
        ..Default::default()
    };
    match input.attribute {
        ec2::SnapshotAttributeName::CreateVolumePermission => {
            let mut list: Vec<ec2::CreateVolumePermission> = snap
                .permissions
                .users
                .iter()
                .map(|u| ec2::CreateVolumePermission {
                    user_id: Some(u.as_str().to_owned()),
                    group: None,
                })
                .collect();
            if snap.permissions.public {
                list.push(ec2::CreateVolumePermission {
                    user_id: None,
                    group: Some(ec2::PermissionGroup::All),
                });
            }
            out.create_volume_permissions = Some(list);
        }
        ec2::SnapshotAttributeName::ProductCodes => out.product_codes = Some(Vec::new()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ec2::ModifySnapshotAttributeRequest {
        ec2::ModifySnapshotAttributeRequest {
            snapshot_id: "snap-0123456789abcdef0".into(),
            ..Default::default()
        }
    }

    fn acct(s: &str) -> Grantee {
        Grantee::Account(AccountId::parse(s).unwrap())
    }

    #[test]
    fn legacy_form() {
        let r = ec2::ModifySnapshotAttributeRequest {
            operation_type: Some(ec2::OperationType::Add),
            user_ids: Some(vec!["111122223333".into()]),
            group_names: Some(vec!["all".into()]),
            ..req()
        };
        assert_eq!(
            change_of(&r).unwrap(),
            Change {
                add: true,
                who: vec![acct("111122223333"), Grantee::All]
            }
        );
        let r = ec2::ModifySnapshotAttributeRequest {
            operation_type: None,
            user_ids: Some(vec!["111122223333".into()]),
            ..req()
        };
        assert!(matches!(change_of(&r), Err(EbsError::MissingParameter(_))));
        let r = ec2::ModifySnapshotAttributeRequest {
            operation_type: Some(ec2::OperationType::Add),
            group_names: Some(vec!["everyone".into()]),
            ..req()
        };
        assert!(matches!(
            change_of(&r),
            Err(EbsError::InvalidParameterValue(_))
        ));
    }

    #[test]
    fn structured_form_one_direction() {
        let p = |u: &str| ec2::CreateVolumePermission {
            user_id: Some(u.into()),
            group: None,
        };
        let r = ec2::ModifySnapshotAttributeRequest {
            create_volume_permission: Some(ec2::CreateVolumePermissionModifications {
                add: None,
                remove: Some(vec![p("111122223333")]),
            }),
            ..req()
        };
        assert_eq!(
            change_of(&r).unwrap(),
            Change {
                add: false,
                who: vec![acct("111122223333")]
            }
        );
        let both = ec2::ModifySnapshotAttributeRequest {
            create_volume_permission: Some(ec2::CreateVolumePermissionModifications {
                add: Some(vec![p("111122223333")]),
                remove: Some(vec![p("444455556666")]),
            }),
            ..req()
        };
        assert!(matches!(
            change_of(&both),
            Err(EbsError::InvalidParameterCombination(_))
        ));
        assert!(matches!(
            change_of(&req()),
            Err(EbsError::MissingParameter(_))
        ));
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        for bad in ["12345", "1234567890123", "abcdefghijkl", "", "all"] {
            assert!(
                matches!(account(bad), Err(EbsError::InvalidParameterValue(_))),
                "{bad}"
            );
        }
        assert!(account("000000000001").is_ok());
    }

    #[test]
    fn apply_adds_once_and_removes_absent_quietly() {
        let mut p = Permissions::default();
        let a = acct("111122223333");
        apply(
            &mut p,
            &Change {
                add: true,
                who: vec![a, a],
            },
        );
        assert_eq!(p.users.len(), 1);
        apply(
            &mut p,
            &Change {
                add: false,
                who: vec![acct("444455556666"), Grantee::All],
            },
        );
        assert_eq!(p.users.len(), 1);
        apply(
            &mut p,
            &Change {
                add: false,
                who: vec![a],
            },
        );
        assert_eq!(p, Permissions::default());
    }

    #[test]
    fn too_many_modifications() {
        let r = ec2::ModifySnapshotAttributeRequest {
            operation_type: Some(ec2::OperationType::Add),
            user_ids: Some((0..501).map(|i| format!("{i:012}")).collect()),
            ..req()
        };
        assert!(matches!(
            change_of(&r),
            Err(EbsError::InvalidParameterValue(_))
        ));
    }

    mod with_service {
        use super::super::*;
        use crate::testenv::*;
        use kmsnap_core::Region;

        fn add(id: &str, who: &[&str]) -> ec2::ModifySnapshotAttributeRequest {
            ec2::ModifySnapshotAttributeRequest {
                snapshot_id: id.into(),
                attribute: Some(ec2::SnapshotAttributeName::CreateVolumePermission),
                create_volume_permission: Some(ec2::CreateVolumePermissionModifications {
                    add: Some(
                        who.iter()
                            .map(|w| match *w {
                                "all" => ec2::CreateVolumePermission {
                                    user_id: None,
                                    group: Some(ec2::PermissionGroup::All),
                                },
                                u => ec2::CreateVolumePermission {
                                    user_id: Some(u.into()),
                                    group: None,
                                },
                            })
                            .collect(),
                    ),
                    remove: None,
                }),
                ..Default::default()
            }
        }

        fn describe(id: &str) -> ec2::DescribeSnapshotAttributeRequest {
            ec2::DescribeSnapshotAttributeRequest {
                snapshot_id: id.into(),
                attribute: ec2::SnapshotAttributeName::CreateVolumePermission,
                dry_run: None,
            }
        }

        #[tokio::test]
        async fn customer_key_snapshots_share_with_accounts_only() {
            let env = Env::new();
            let key = env.key(OWNER, TOKYO).await;
            let s = env
                .snapshot(OWNER, TOKYO, Some(&key), &[(0, 1)], None)
                .await;
            let ctx = env.ctx(OWNER, TOKYO);
            let e = modify_snapshot_attribute(&env.svc, &ctx, add(&s.id, &["all"]))
                .await
                .unwrap_err();
            assert_eq!(
                e,
                EbsError::OperationNotPermitted(
                    "Encrypted snapshots cannot be shared publicly.".into()
                )
            );
            modify_snapshot_attribute(&env.svc, &ctx, add(&s.id, &[OTHER]))
                .await
                .unwrap();
            let out = describe_snapshot_attribute(&env.svc, &ctx, describe(&s.id))
                .await
                .unwrap();
            assert_eq!(
                out.create_volume_permissions.unwrap(),
                vec![ec2::CreateVolumePermission {
                    user_id: Some(OTHER.into()),
                    group: None
                }]
            );
            assert!(store::shared_with(
                env.meta.read().unwrap().as_ref(),
                AccountId::parse(OTHER).unwrap(),
                s.region
            )
            .unwrap()
            .iter()
            .any(|x| x.id == s.id));
            // Only the owner sees or changes the attribute.
            let theirs = env.ctx(OTHER, TOKYO);
            assert!(matches!(
                describe_snapshot_attribute(&env.svc, &theirs, describe(&s.id)).await,
                Err(EbsError::SnapshotNotFound { .. })
            ));
            assert!(matches!(
                modify_snapshot_attribute(&env.svc, &theirs, add(&s.id, &[OWNER])).await,
                Err(EbsError::SnapshotNotFound { .. })
            ));
            let reset = ec2::ResetSnapshotAttributeRequest {
                snapshot_id: s.id.clone(),
                attribute: ec2::SnapshotAttributeName::CreateVolumePermission,
                dry_run: None,
            };
            reset_snapshot_attribute(&env.svc, &ctx, reset)
                .await
                .unwrap();
            let out = describe_snapshot_attribute(&env.svc, &ctx, describe(&s.id))
                .await
                .unwrap();
            assert_eq!(out.create_volume_permissions, Some(vec![]));
            assert!(store::shared_with(
                env.meta.read().unwrap().as_ref(),
                AccountId::parse(OTHER).unwrap(),
                s.region
            )
            .unwrap()
            .is_empty());
        }

        #[tokio::test]
        async fn aws_managed_key_snapshots_are_never_shared() {
            let env = Env::new();
            let (account, region) = (
                AccountId::parse(OWNER).unwrap(),
                Region::parse(TOKYO).unwrap(),
            );
            let managed = crate::ops::common::default_key_arn(&env.svc, account, region)
                .await
                .unwrap();
            let s = env
                .snapshot(OWNER, TOKYO, Some(&managed), &[(0, 1)], None)
                .await;
            let e =
                modify_snapshot_attribute(&env.svc, &env.ctx(OWNER, TOKYO), add(&s.id, &[OTHER]))
                    .await
                    .unwrap_err();
            assert_eq!(
                e,
                EbsError::OperationNotPermitted(
                    "Encrypted snapshots with EBS default key cannot be shared".into()
                )
            );
        }

        #[tokio::test]
        async fn unencrypted_snapshots_may_be_public_and_changes_are_audited() {
            let env = Env::new();
            let s = env.snapshot(OWNER, TOKYO, None, &[(0, 1)], None).await;
            let ctx = env.ctx(OWNER, TOKYO);
            modify_snapshot_attribute(&env.svc, &ctx, add(&s.id, &["all", OTHER]))
                .await
                .unwrap();
            let out = describe_snapshot_attribute(&env.svc, &ctx, describe(&s.id))
                .await
                .unwrap();
            assert_eq!(out.create_volume_permissions.unwrap().len(), 2);
            let dry = ec2::ModifySnapshotAttributeRequest {
                dry_run: Some(true),
                ..add(&s.id, &["all"])
            };
            assert_eq!(
                modify_snapshot_attribute(&env.svc, &ctx, dry)
                    .await
                    .unwrap_err(),
                EbsError::DryRun
            );
            use kmsnap_api::gen::cloudtrail as ct;
            let req = ct::LookupEventsRequest {
                lookup_attributes: Some(vec![ct::LookupAttribute {
                    attribute_key: ct::LookupAttributeKey::EventName,
                    attribute_value: "ModifySnapshotAttribute".into(),
                }]),
                ..Default::default()
            };
            let events = kmsnap_audit::lookup(env.meta.as_ref(), OWNER, TOKYO, ctx.now, req)
                .unwrap()
                .events
                .unwrap_or_default();
            assert_eq!(
                events.len(),
                1,
                "one event for the change, none for the dry run"
            );
        }
    }
}
