//! AWS managed keys (`aws/ebs`, `aws/rds`, `aws/backup`), created on first use (docs/kms.md §8).
//!
//! An AWS managed key is an ordinary single-region symmetric key whose record says
//! [`KeyManager::Aws`] and names its service; its policy (docs/kms.md §7) lets the account use it only
//! through that service (`kms:ViaService`) and read its metadata directly, so nobody can disable,
//! rotate, tag, re-policy or delete it. It rotates automatically every 365 days, always.
//!
//! It comes into being the first time the service needs it ([`managed_key`], for EBS, RDS and
//! Backup in-process) or when someone calls DescribeKey (or any op accepting an alias) on its
//! predefined alias ([`ensure_for_alias`]). Key, shared material, alias and rotation schedule are
//! written in one transaction that first re-checks the alias, so two racing first uses create
//! one key.

use crate::crypto::Material;
use crate::model::{
    key_arn, AliasRecord, KeyManager, KeyRecord, KeyState, MaterialVersion, RotationSchedule,
    RotationType, SharedKey,
};
use crate::store::{read_alias, Due};
use crate::{Kms, KmsError};
use chrono::Duration;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};

/// AWS managed keys rotate every 365 days (since May 2022), not configurable.
pub const AWS_MANAGED_ROTATION_DAYS: i32 = 365;

/// One predefined AWS managed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedService {
    /// `ebs`, `rds`, `backup` (what [`KeyRecord::aws_service`] stores).
    pub service: &'static str,
    /// `alias/aws/<service>`.
    pub alias: &'static str,
    pub description: &'static str,
}

/// The AWS managed keys kmsnap can create, in alias order.
pub const SERVICES: &[ManagedService] = &[
    ManagedService {
        service: "backup",
        alias: "alias/aws/backup",
        description: "Default key that protects my Backup data when no other key is defined",
    },
    ManagedService {
        service: "ebs",
        alias: "alias/aws/ebs",
        description: "Default key that protects my EBS volumes when no other key is defined",
    },
    ManagedService {
        service: "rds",
        alias: "alias/aws/rds",
        description:
            "Default key that protects my RDS database volumes when no other key is defined",
    },
];

pub fn by_alias(alias_name: &str) -> Option<&'static ManagedService> {
    SERVICES.iter().find(|s| s.alias == alias_name)
}

pub fn by_service(service: &str) -> Option<&'static ManagedService> {
    SERVICES.iter().find(|s| s.service == service)
}

/// For a predefined AWS alias (`alias/aws/ebs`, `alias/aws/rds`, `alias/aws/backup`) in the
/// caller's account and region: the AWS managed key's id, creating key and alias if they do not
/// exist yet. `None` for any other alias name.
pub fn ensure_for_alias(
    kms: &Kms,
    ctx: &RequestContext,
    alias_name: &str,
) -> Result<Option<String>, KmsError> {
    match by_alias(alias_name) {
        Some(svc) => ensure(kms, ctx.principal.account, ctx.region, svc).map(Some),
        None => Ok(None),
    }
}

/// The id of `account`'s AWS managed key for `service` (`ebs`, `rds`, `backup`) in `region`,
/// created on first use: what EBS, RDS and Backup call when a resource is encrypted without a
/// KmsKeyId.
pub fn managed_key(
    kms: &Kms,
    account: AccountId,
    region: Region,
    service: &str,
) -> Result<String, KmsError> {
    let svc = by_service(service)
        .ok_or_else(|| KmsError::Validation(format!("{service} has no AWS managed key")))?;
    ensure(kms, account, region, svc)
}

/// The ARN of `account`'s AWS managed key for `service` in `region`, created on first use: the
/// key ARN EBS, RDS and Backup store on a resource encrypted without a KmsKeyId.
pub fn managed_key_arn(
    kms: &Kms,
    account: AccountId,
    region: Region,
    service: &str,
) -> Result<String, KmsError> {
    let id = managed_key(kms, account, region, service)?;
    Ok(key_arn(region, account, &id))
}

fn ensure(
    kms: &Kms,
    account: AccountId,
    region: Region,
    svc: &ManagedService,
) -> Result<String, KmsError> {
    if let Some(a) = kms
        .store
        .read(|txn| read_alias(txn, account, region, svc.alias))?
    {
        return Ok(a.target_key_id);
    }
    // A side effect of the call that named the alias, not that call's change (crate::audit).
    let _side_effect = crate::audit::not_this_call();
    kms.store.write(|txn| {
        // Re-check under the writer lock: a concurrent first use may have created it.
        if let Some(a) = txn.get_alias(account, region, svc.alias)? {
            return Ok(a.target_key_id);
        }
        let now = kms.clock.now();
        let key_id = uuid::Uuid::new_v4().to_string();
        let (material_id, material) = Material::generate()?;
        let wrapped = kms
            .store
            .wrapper()
            .wrap(account, &key_id, &material_id, &material)?;
        let next = now + Duration::days(i64::from(AWS_MANAGED_ROTATION_DAYS));
        let record = KeyRecord {
            account,
            region,
            key_id: key_id.clone(),
            created: now,
            description: svc.description.to_owned(),
            state: KeyState::Enabled,
            manager: KeyManager::Aws,
            aws_service: Some(svc.service.to_owned()),
            policy: managed_key_policy(svc.service, account, region),
            tags: Vec::new(),
            deletion_date: None,
            pending_window_days: None,
        };
        let shared = SharedKey::new_symmetric(
            account,
            key_id.clone(),
            region,
            false,
            MaterialVersion {
                id: material_id,
                wrapped,
                created: now,
                rotation: RotationType::Initial,
            },
            RotationSchedule {
                enabled: true,
                period_days: AWS_MANAGED_ROTATION_DAYS,
                next_rotation: Some(next),
                on_demand_count: 0,
            },
        );
        txn.put_key(&record)?;
        txn.put_shared(&shared)?;
        txn.put_alias(
            account,
            region,
            &AliasRecord {
                name: svc.alias.to_owned(),
                target_key_id: key_id.clone(),
                created: now,
                updated: now,
            },
        )?;
        txn.schedule(Due::Rotation, next, account, region, &key_id)?;
        tracing::info!(%account, %region, key_id, service = svc.service, "created AWS managed key");
        Ok(key_id)
    })
}

/// The key policy of an AWS managed key (docs/kms.md §7), in AWS's pretty-printed form (`" : "`,
/// two-space indent, scalar arrays on one line). Unknown services get the EBS shape with their
/// name; only [`SERVICES`] are ever created.
pub fn managed_key_policy(service: &str, account: AccountId, region: Region) -> String {
    let (id, sid, actions, condition) = match service {
        "rds" => (
            "auto-rds-2",
            "Allow access through RDS for all principals in the account that are authorized to use RDS",
            r#"[ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey" ]"#,
            format!(
                "        \"kms:ViaService\" : \"rds.{region}.amazonaws.com\",\n        \"kms:CallerAccount\" : \"{account}\""
            ),
        ),
        "backup" => (
            "auto-backup-1",
            "Allow access through Backup for all principals in the account that are authorized to use Backup Storage",
            r#"[ "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*" ]"#,
            format!(
                "        \"kms:ViaService\" : \"backup.{region}.amazonaws.com\",\n        \"kms:CallerAccount\" : \"{account}\""
            ),
        ),
        _ => (
            "auto-ebs-2",
            "Allow access through EBS for all principals in the account that are authorized to use EBS",
            r#"[ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ]"#,
            format!(
                "        \"kms:CallerAccount\" : \"{account}\",\n        \"kms:ViaService\" : \"ec2.{region}.amazonaws.com\""
            ),
        ),
    };
    let root = Arn::iam_root(account.as_str());
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "{id}",
  "Statement" : [ {{
    "Sid" : "{sid}",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "*"
    }},
    "Action" : {actions},
    "Resource" : "*",
    "Condition" : {{
      "StringEquals" : {{
{condition}
      }}
    }}
  }}, {{
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "{root}"
    }},
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant" ],
    "Resource" : "*"
  }} ]
}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyManager;
    use crate::store::{due_entries, Due};
    use crate::testsupport::kit::*;

    #[test]
    fn describe_alias_creates_one_managed_key_idempotently() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        assert_eq!(ensure_for_alias(&kms, &c, "alias/my-key").unwrap(), None);
        let id = ensure_for_alias(&kms, &c, "alias/aws/ebs")
            .unwrap()
            .unwrap();
        assert_eq!(
            ensure_for_alias(&kms, &c, "alias/aws/ebs")
                .unwrap()
                .as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            managed_key(&kms, acct(ACCT), region("us-east-1"), "ebs").unwrap(),
            id
        );
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        let k = kms
            .store
            .get(acct(ACCT), region("us-east-1"), &id)
            .unwrap()
            .unwrap();
        assert_eq!(k.record.manager, KeyManager::Aws);
        assert_eq!(k.record.aws_service.as_deref(), Some("ebs"));
        assert_eq!(
            k.record.description,
            "Default key that protects my EBS volumes when no other key is defined"
        );
        assert!(!k.shared.shared.multi_region);
        assert!(k.shared.shared.rotation.enabled);
        assert_eq!(k.shared.shared.rotation.period_days, 365);
        let due = kms
            .store
            .read(|t| due_entries(t, Due::Rotation, kms.clock.now() + Duration::days(366), 10))
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].3, id);
        // Another region, another account, another service: other keys.
        let west = ensure_for_alias(&kms, &ctx(ACCT, "us-west-2"), "alias/aws/ebs")
            .unwrap()
            .unwrap();
        let other = ensure_for_alias(&kms, &ctx(OTHER, "us-east-1"), "alias/aws/ebs")
            .unwrap()
            .unwrap();
        let rds = managed_key(&kms, acct(ACCT), region("us-east-1"), "rds").unwrap();
        assert_eq!(
            [&west, &other, &rds].iter().filter(|x| **x == &id).count(),
            0
        );
        assert!(managed_key(&kms, acct(ACCT), region("us-east-1"), "s3").is_err());
    }

    #[test]
    fn racing_first_uses_create_one_key() {
        let (kms, _) = kms();
        let ids: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| managed_key(&kms, acct(ACCT), region("eu-west-1"), "rds").unwrap())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|i| *i == ids[0]));
        let n = kms
            .store
            .read(|t| Ok(crate::store::KEYS.count(t, b"")?))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn policies_are_aws_pretty_printed_and_valid_json() {
        let a = acct(ACCT);
        let r = region("ap-northeast-1");
        let ebs = managed_key_policy("ebs", a, r);
        assert!(ebs.contains("\"Id\" : \"auto-ebs-2\""));
        assert!(ebs.contains("\"kms:ViaService\" : \"ec2.ap-northeast-1.amazonaws.com\""));
        assert!(ebs.contains("  \"Statement\" : [ {\n"));
        assert!(managed_key_policy("rds", a, r).contains("\"kms:ListGrants\""));
        assert!(managed_key_policy("backup", a, r).contains("\"Id\" : \"auto-backup-1\""));
        for s in ["ebs", "rds", "backup"] {
            let v: serde_json::Value = serde_json::from_str(&managed_key_policy(s, a, r)).unwrap();
            assert_eq!(
                v["Statement"][0]["Condition"]["StringEquals"]["kms:CallerAccount"],
                ACCT
            );
            assert_eq!(
                v["Statement"][1]["Principal"]["AWS"],
                format!("arn:aws:iam::{ACCT}:root")
            );
        }
    }
}
