//! ModifyDBSnapshotAttribute and DescribeDBSnapshotAttributes (docs/rds.md §6), and who may
//! see and use a DB snapshot: its owner; accounts it is shared with; everyone when public.
//!
//! Sharing grants no KMS permission: another account copies or restores an encrypted snapshot
//! only if the key's policy admits it (checked by KMS when the copy reads the source's data
//! key). That is why a snapshot under the AWS managed `aws/rds` key — whose policy admits only
//! its own account through RDS — is never shared, and an encrypted one is never public.

use super::common;
use crate::error::RdsError;
use crate::model::{
    identifier, identifier_message, parse_arn, snapshot_name, DbSnapshotRecord, SnapshotStatus,
};
use crate::{store, Rds};
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_api::gen::rds;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::ReadTxn;

/// Accounts an encrypted or unencrypted snapshot may be shared with at most (AWS's quota).
pub const MAX_SHARED_ACCOUNTS: usize = 20;

/// How the caller sees a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Own,
    /// Another account's manual snapshot shared with the caller.
    Shared,
    /// Another account's public snapshot.
    Public,
}

impl View {
    /// The `SnapshotType` shown to the caller.
    pub fn snapshot_type(self, s: &DbSnapshotRecord) -> &str {
        match self {
            View::Own => &s.snapshot_type,
            View::Shared => "shared",
            View::Public => "public",
        }
    }
}

/// How `account` sees snapshot `s`, if at all. Only manual snapshots are ever shared.
pub fn view_of(s: &DbSnapshotRecord, account: AccountId) -> Option<View> {
    if s.account == account {
        Some(View::Own)
    } else if s.snapshot_type != "manual" {
        None
    } else if s.shared_with.contains(&account) {
        Some(View::Shared)
    } else if s.public {
        Some(View::Public)
    } else {
        None
    }
}

/// A snapshot named in a request: owner, region and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRef {
    pub account: AccountId,
    pub region: Region,
    pub name: String,
}

/// `value` as a plain name (the caller's, in the request's region) or an ARN
/// `arn:aws:rds:<region>:<account>:snapshot:<name>` (a shared or another region's snapshot).
/// Automated names (`rds:…`) are accepted. Any other ARN (another resource type, a malformed
/// one) is not a valid identifier for `param`, in AWS's words (docs/fidelity.md §4).
pub fn parse_ref(param: &str, value: &str, ctx: &RequestContext) -> Result<SnapshotRef, RdsError> {
    if !value.starts_with("arn:") {
        return Ok(SnapshotRef {
            account: ctx.principal.account,
            region: ctx.region,
            name: snapshot_name(param, value)?,
        });
    }
    let bad = || RdsError::InvalidParameterValue(identifier_message(param));
    match parse_arn(value) {
        Some(a) if a.kind == "snapshot" => {
            let region = Region::parse(&a.region).map_err(|_| bad())?;
            let account = AccountId::parse(&a.account).map_err(|_| bad())?;
            Ok(SnapshotRef {
                account,
                region,
                name: snapshot_name(param, &a.name)?,
            })
        }
        _ => Err(bad()),
    }
}

/// The snapshot `r` names, if `account` may see it, and how.
pub fn visible(
    txn: &dyn ReadTxn,
    r: &SnapshotRef,
    account: AccountId,
) -> Result<Option<(DbSnapshotRecord, View)>, RdsError> {
    let s = store::get_snapshot(txn, r.account, r.region, &r.name)?;
    Ok(s.and_then(|s| view_of(&s, account).map(|v| (s, v))))
}

/// Whether `key_arn` is an AWS managed key (`aws/rds`): such snapshots are never shared.
async fn aws_managed(svc: &Rds, ctx: &RequestContext, key_arn: &str) -> Result<bool, RdsError> {
    let meta = svc
        .kms
        .describe_key(
            &ctx.via(common::RDS_SOURCE),
            kmsapi::DescribeKeyRequest {
                key_id: key_arn.to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(|_| common::key_not_accessible(key_arn))?
        .key_metadata
        .ok_or(RdsError::Internal("DescribeKey without metadata"))?;
    Ok(meta.key_manager == Some(kmsapi::KeyManagerType::Aws))
}

/// The `restore` attribute's values as AWS lists them: `all` first when public, then the
/// accounts.
fn restore_values(s: &DbSnapshotRecord) -> Vec<String> {
    let mut v: Vec<String> = s.public.then(|| "all".to_owned()).into_iter().collect();
    v.extend(s.shared_with.iter().map(|a| a.to_string()));
    v
}

fn attributes_result(s: &DbSnapshotRecord) -> rds::DBSnapshotAttributesResult {
    rds::DBSnapshotAttributesResult {
        db_snapshot_identifier: Some(s.identifier.clone()),
        db_snapshot_attributes: Some(vec![rds::DBSnapshotAttribute {
            attribute_name: Some("restore".into()),
            attribute_values: Some(restore_values(s)),
        }]),
    }
}

/// A `ValuesToAdd`/`ValuesToRemove` entry: `all` or a 12-digit account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    All,
    Account(AccountId),
}

fn parse_values(values: Option<&[String]>) -> Result<Vec<Value>, RdsError> {
    values
        .unwrap_or_default()
        .iter()
        .map(|v| match v.as_str() {
            "all" => Ok(Value::All),
            a => AccountId::parse(a).map(Value::Account).map_err(|_| {
                RdsError::InvalidParameterValue(format!(
                    "Invalid AttributeValue: {a}. Values must be AWS account ids or 'all'."
                ))
            }),
        })
        .collect()
}

/// The new `restore` attribute of `s`: accounts added and removed (`all` is public).
fn apply(s: &mut DbSnapshotRecord, add: &[Value], remove: &[Value]) {
    for v in remove {
        match v {
            Value::All => s.public = false,
            Value::Account(a) => s.shared_with.retain(|x| x != a),
        }
    }
    for v in add {
        match v {
            Value::All => s.public = true,
            Value::Account(a) if !s.shared_with.contains(a) => s.shared_with.push(*a),
            Value::Account(_) => {}
        }
    }
}

/// The caller's own manual snapshot named by `DBSnapshotIdentifier` (automated names are not
/// valid identifiers here, docs/rds.md §6).
fn own_manual_name(value: &str, ctx: &RequestContext) -> Result<String, RdsError> {
    const PARAM: &str = "DBSnapshotIdentifier";
    match value.strip_prefix("arn:") {
        Some(_) => {
            let r = parse_ref(PARAM, value, ctx)?;
            if r.account != ctx.principal.account || r.region != ctx.region {
                return Err(RdsError::SnapshotNotFound {
                    id: value.to_owned(),
                });
            }
            identifier(PARAM, &r.name)
        }
        None => identifier(PARAM, value),
    }
}

pub async fn modify_attribute(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::ModifyDBSnapshotAttributeMessage,
) -> Result<rds::ModifyDBSnapshotAttributeResult, RdsError> {
    let id = own_manual_name(&input.db_snapshot_identifier, ctx)?;
    if input.attribute_name != "restore" {
        return Err(RdsError::InvalidParameterValue(format!(
            "Invalid snapshot attribute name: {}. The only supported attribute is restore.",
            input.attribute_name
        )));
    }
    let add = parse_values(input.values_to_add.as_deref())?;
    let remove = parse_values(input.values_to_remove.as_deref())?;
    let snap = common::find::<DbSnapshotRecord>(svc, ctx, &id).await?;
    let snap = snap.ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?;
    if snap.status != SnapshotStatus::Available {
        return Err(RdsError::InvalidSnapshotState {
            id,
            status: snap.status.as_str().to_owned(),
        });
    }
    if let (false, Some(key)) = (add.is_empty(), &snap.kms_key_arn) {
        if add.contains(&Value::All) {
            return Err(RdsError::InvalidParameterValue(format!("The snapshot {id} is encrypted and can't be made public. Share it with specific AWS accounts instead.")));
        }
        if aws_managed(svc, ctx, key).await? {
            return Err(RdsError::InvalidParameterValue(format!(
                "The snapshot {id} is encrypted with the default KMS key and can't be shared. Copy it with a customer managed key and share the copy."
            )));
        }
    }
    let event = common::event(
        ctx,
        "ModifyDBSnapshotAttribute",
        &input,
        "AWS::RDS::DBSnapshot",
        &snap.arn(),
    );
    let (snap, ()) = crate::backing::change(svc, ctx, id.clone(), event, move |_, found| {
        let mut s: DbSnapshotRecord =
            found.ok_or_else(|| RdsError::SnapshotNotFound { id: id.clone() })?;
        apply(&mut s, &add, &remove);
        if s.shared_with.len() > MAX_SHARED_ACCOUNTS {
            return Err(RdsError::SharedSnapshotQuotaExceeded {
                id,
                limit: MAX_SHARED_ACCOUNTS,
            });
        }
        Ok((s, ()))
    })
    .await?;
    Ok(rds::ModifyDBSnapshotAttributeResult {
        db_snapshot_attributes_result: Some(attributes_result(&snap)),
    })
}

pub async fn describe_attributes(
    svc: &Rds,
    ctx: &RequestContext,
    input: rds::DescribeDBSnapshotAttributesMessage,
) -> Result<rds::DescribeDBSnapshotAttributesResult, RdsError> {
    // AWS looks the name up without judging its syntax (it answers for `rds:` and `awsbackup:`
    // names that ModifyDBSnapshotAttribute calls invalid), so whatever names no snapshot of the
    // caller's is DBSnapshotNotFound, never InvalidParameterValue (docs/fidelity.md §4).
    let given = &input.db_snapshot_identifier;
    let not_found = || RdsError::SnapshotNotFound { id: given.clone() };
    let r = match given.starts_with("arn:") {
        true => parse_ref("DBSnapshotIdentifier", given, ctx).map_err(|_| not_found())?,
        false => SnapshotRef {
            account: ctx.principal.account,
            region: ctx.region,
            name: given.to_ascii_lowercase(),
        },
    };
    let (meta, account, region) = (svc.meta.clone(), ctx.principal.account, ctx.region);
    let snap = crate::blocking(move || -> Result<_, RdsError> {
        // The owner's, in its own region: other accounts never see who else it is shared with.
        let s = store::get_snapshot(meta.read()?.as_ref(), r.account, r.region, &r.name)?;
        Ok(s.filter(|s| s.account == account && s.region == region))
    })
    .await??;
    let snap = snap.ok_or_else(not_found)?;
    Ok(rds::DescribeDBSnapshotAttributesResult {
        db_snapshot_attributes_result: Some(attributes_result(&snap)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(account: &str, kind: &str) -> DbSnapshotRecord {
        crate::testenv::snapshot_record(account, kind)
    }

    #[test]
    fn visibility_follows_the_restore_attribute() {
        let (a, b, c) = (
            AccountId::parse("111111111111").unwrap(),
            AccountId::parse("222222222222").unwrap(),
            AccountId::parse("333333333333").unwrap(),
        );
        let mut s = snap("111111111111", "manual");
        assert_eq!(view_of(&s, a), Some(View::Own));
        assert_eq!(view_of(&s, b), None);
        apply(&mut s, &[Value::Account(b), Value::Account(b)], &[]);
        assert_eq!(s.shared_with, vec![b]);
        assert_eq!((view_of(&s, b), view_of(&s, c)), (Some(View::Shared), None));
        apply(&mut s, &[Value::All], &[Value::Account(b)]);
        assert_eq!(
            (view_of(&s, b), view_of(&s, c)),
            (Some(View::Public), Some(View::Public))
        );
        assert_eq!(restore_values(&s), vec!["all".to_owned()]);
        // Automated snapshots are never shared.
        let mut auto = snap("111111111111", "automated");
        auto.shared_with = vec![b];
        assert_eq!(view_of(&auto, b), None);
    }

    #[test]
    fn attribute_values_are_accounts_or_all() {
        let ok = parse_values(Some(&["all".to_owned(), "222222222222".to_owned()])).unwrap();
        assert_eq!(
            ok,
            vec![
                Value::All,
                Value::Account(AccountId::parse("222222222222").unwrap())
            ]
        );
        for bad in ["12345", "everyone", "2222222222222"] {
            assert!(
                matches!(
                    parse_values(Some(&[bad.to_owned()])),
                    Err(RdsError::InvalidParameterValue(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn snapshot_references_by_name_or_arn() {
        let ctx = RequestContext {
            principal: kmsnap_auth::model::Principal::root(
                AccountId::parse("111111111111").unwrap(),
                "111111111111",
            ),
            region: Region::parse("eu-west-1").unwrap(),
            request_id: "r".into(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: String::new(),
            now: chrono::Utc::now(),
            via_service: None,
        };
        let own = parse_ref("P", "Snap-1", &ctx).unwrap();
        assert_eq!(
            (own.account, own.region, own.name.as_str()),
            (ctx.principal.account, ctx.region, "snap-1")
        );
        let other = parse_ref(
            "P",
            "arn:aws:rds:us-west-2:222222222222:snapshot:rds:db1-2026-01-02-03-04",
            &ctx,
        )
        .unwrap();
        assert_eq!(other.account.as_str(), "222222222222");
        assert_eq!(
            (other.region.as_str(), other.name.as_str()),
            ("us-west-2", "rds:db1-2026-01-02-03-04")
        );
        for bad in [
            "arn:aws:rds:us-west-2:2222:snapshot:s",
            "arn:aws:ec2:us-west-2:222222222222:snapshot:s",
            "arn:aws:rds:us-west-2:222222222222:db:s",
        ] {
            assert_eq!(
                parse_ref("P", bad, &ctx),
                Err(RdsError::InvalidParameterValue(identifier_message("P"))),
                "{bad}"
            );
        }
        assert!(parse_ref("P", "bad--name", &ctx).is_err());
    }
}
