//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases (docs/kms.md §5, §6).
//!
//! An alias is a per-(account, region) name pointing at one customer managed key in the same
//! account and region; a key has at most 50. `alias/aws/…` belongs to AWS managed keys: the
//! predefined ones (`alias/aws/ebs`, `alias/aws/rds`, `alias/aws/backup`) are listed even before
//! their key exists, without `TargetKeyId` or dates, and customers can neither create, update
//! nor delete such names.
//!
//! Error codes where AWS is not documented (docs/kms.md marks them unconfirmed): the reserved
//! prefix answers `NotAuthorizedException` on CreateAlias/DeleteAlias (what moto answers) and
//! `ValidationException` on UpdateAlias (the spec's table); `:` in a name answers
//! `ValidationException` "…contains invalid characters for an alias"; a name that is only the
//! prefix (`alias/`) answers `InvalidAliasNameException`. An alias given as the target answers
//! `ValidationException` "Aliases must refer to keys. Not aliases".

use crate::managed::SERVICES;
use crate::model::{alias_arn, key_arn, AliasRecord};
use crate::ops::common::load;
use crate::resolve::Accept;
use crate::store::all_aliases;
use crate::{Kms, KmsError};
use base64::Engine as _;
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};

/// Aliases per key (docs/kms.md §14).
pub const MAX_ALIASES_PER_KEY: usize = 50;
const RESERVED_PREFIX: &str = "alias/aws/";
const LIST_DEFAULT_LIMIT: i32 = 50;
const LIST_MAX_LIMIT: i32 = 100;

/// Which error a reserved `alias/aws/` name gets (it differs per operation; see the module doc).
#[derive(Clone, Copy)]
enum Reserved {
    NotAuthorized,
    Validation,
}

fn validate_alias_name(name: &str, reserved: Reserved) -> Result<(), KmsError> {
    if !name.starts_with("alias/") {
        return Err(KmsError::Validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".to_owned(),
        ));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(match reserved {
            Reserved::NotAuthorized => KmsError::NotAuthorized,
            Reserved::Validation => KmsError::Validation(format!(
                "Cannot change or delete {name}: the alias/aws/ prefix is reserved for AWS managed keys"
            )),
        });
    }
    if name.contains(':') {
        return Err(KmsError::Validation(format!(
            "{name} contains invalid characters for an alias"
        )));
    }
    if name.len() > 256
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )));
    }
    if name == "alias/" {
        return Err(KmsError::InvalidAliasName(format!(
            "{name} is not a valid alias name"
        )));
    }
    Ok(())
}

/// A TargetKeyId naming an alias (by name or ARN) is refused before lookup.
fn refuse_alias_target(target: &str) -> Result<(), KmsError> {
    let is_alias_arn = Arn::parse(target).is_ok_and(|a| a.resource.starts_with("alias/"));
    if target.starts_with("alias/") || is_alias_arn {
        return Err(KmsError::Validation(
            "Aliases must refer to keys. Not aliases".to_owned(),
        ));
    }
    Ok(())
}

/// Key spec family, for UpdateAlias's "same type" rule.
fn key_class(spec: &str) -> &'static str {
    if spec == "SYMMETRIC_DEFAULT" {
        "symmetric"
    } else if spec.starts_with("HMAC_") {
        "HMAC"
    } else {
        "asymmetric"
    }
}

pub fn create_alias(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::CreateAliasRequest,
) -> Result<(), KmsError> {
    let name = input.alias_name;
    validate_alias_name(&name, Reserved::NotAuthorized)?;
    refuse_alias_target(&input.target_key_id)?;
    let account = ctx.principal.account;
    let region = ctx.region;
    let arn = alias_arn(region, account, &name);
    // Loads and authorizes kms:CreateAlias on the key: another account's key and AWS managed keys
    // (whose policies do not allow it) are refused with AccessDeniedException here.
    let key = load(
        kms,
        ctx,
        &input.target_key_id,
        Accept::KeyOnly,
        "CreateAlias",
    )?;
    let key_id = key.record.key_id.clone();
    let now = kms.clock.now();
    kms.store.write(|txn| {
        if txn.get_alias(account, region, &name)?.is_some() {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {arn} already exists"
            )));
        }
        let rec = txn
            .get_key(account, region, &key_id)?
            .ok_or_else(|| KmsError::KeyNotFound {
                arn: key_arn(region, account, &key_id),
            })?;
        if rec.state.is_pending_deletion() {
            return Err(KmsError::InvalidState {
                arn: rec.arn(),
                state: rec.state,
            });
        }
        let existing = all_aliases(txn.read_view(), account, region)?
            .iter()
            .filter(|a| a.target_key_id == key_id)
            .count();
        if existing >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The number of aliases of {} would exceed the limit of {MAX_ALIASES_PER_KEY}.",
                rec.arn()
            )));
        }
        txn.put_alias(
            account,
            region,
            &AliasRecord {
                name: name.clone(),
                target_key_id: key_id.clone(),
                created: now,
                updated: now,
            },
        )
    })
}

pub fn update_alias(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::UpdateAliasRequest,
) -> Result<(), KmsError> {
    let name = input.alias_name;
    validate_alias_name(&name, Reserved::Validation)?;
    refuse_alias_target(&input.target_key_id)?;
    let account = ctx.principal.account;
    let region = ctx.region;
    let arn = alias_arn(region, account, &name);
    let new_key = load(
        kms,
        ctx,
        &input.target_key_id,
        Accept::KeyOnly,
        "UpdateAlias",
    )?;
    if new_key.record.state.is_pending_deletion() {
        return Err(KmsError::InvalidState {
            arn: new_key.record.arn(),
            state: new_key.record.state,
        });
    }
    let new_id = new_key.record.key_id.clone();
    let now = kms.clock.now();
    // The old key must allow kms:UpdateAlias too (checked against its cached policy before the
    // write; the write re-reads the alias).
    authorize_alias_target(kms, ctx, account, region, &name, "UpdateAlias")?;
    kms.store.write(|txn| {
        let mut alias = txn.get_alias(account, region, &name)?.ok_or_else(|| KmsError::AliasNotFound { alias_arn: arn.clone() })?;
        // The old key must allow kms:UpdateAlias too, and be of the same type and usage.
        if let (Some(_), Some(old_shared)) =
            (txn.get_key(account, region, &alias.target_key_id)?, txn.get_shared(account, &alias.target_key_id)?)
        {
            let new_shared = &new_key.shared.shared;
            if key_class(&old_shared.key_spec) != key_class(&new_shared.key_spec) || old_shared.key_usage != new_shared.key_usage {
                return Err(KmsError::Validation(format!(
                    "Alias {arn} cannot be changed from a {} key with key usage {} to a {} key with key usage {}; the key type and key usage must be the same",
                    key_class(&old_shared.key_spec),
                    old_shared.key_usage,
                    key_class(&new_shared.key_spec),
                    new_shared.key_usage
                )));
            }
        }
        let rec = txn
            .get_key(account, region, &new_id)?
            .ok_or_else(|| KmsError::KeyNotFound { arn: key_arn(region, account, &new_id) })?;
        if rec.state.is_pending_deletion() {
            return Err(KmsError::InvalidState { arn: rec.arn(), state: rec.state });
        }
        if alias.target_key_id != new_id {
            let existing = all_aliases(txn.read_view(), account, region)?.iter().filter(|a| a.target_key_id == new_id).count();
            if existing >= MAX_ALIASES_PER_KEY {
                return Err(KmsError::LimitExceeded(format!(
                    "The number of aliases of {} would exceed the limit of {MAX_ALIASES_PER_KEY}.",
                    rec.arn()
                )));
            }
        }
        alias.target_key_id = new_id.clone();
        alias.updated = now;
        txn.put_alias(account, region, &alias)
    })
}

/// Authorizes `action` on the key alias `name` points to now, if the alias and key exist (a
/// missing alias is reported by the caller's write).
fn authorize_alias_target(
    kms: &Kms,
    ctx: &RequestContext,
    account: AccountId,
    region: Region,
    name: &str,
    action: &str,
) -> Result<(), KmsError> {
    let target = kms
        .store
        .read(|txn| crate::store::read_alias(txn, account, region, name))?;
    if let Some(alias) = target {
        if let Some(key) = kms.store.get(account, region, &alias.target_key_id)? {
            crate::authz::authorize(kms, ctx, &key, &crate::authz::Ask::action(action))?;
        }
    }
    Ok(())
}

pub fn delete_alias(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::DeleteAliasRequest,
) -> Result<(), KmsError> {
    let name = input.alias_name;
    if !name.starts_with("alias/") {
        return validate_alias_name(&name, Reserved::NotAuthorized);
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(KmsError::NotAuthorized);
    }
    let account = ctx.principal.account;
    let region = ctx.region;
    let arn = alias_arn(region, account, &name);
    authorize_alias_target(kms, ctx, account, region, &name, "DeleteAlias")?;
    kms.store.write(|txn| {
        txn.get_alias(account, region, &name)?
            .ok_or_else(|| KmsError::AliasNotFound {
                alias_arn: arn.clone(),
            })?;
        txn.delete_alias(account, region, &name)?;
        Ok(())
    })
}

fn entry(account: AccountId, region: Region, a: &AliasRecord) -> api::AliasListEntry {
    api::AliasListEntry {
        alias_name: Some(a.name.clone()),
        alias_arn: Some(alias_arn(region, account, &a.name)),
        target_key_id: Some(a.target_key_id.clone()),
        creation_date: Some(Timestamp(a.created)),
        last_updated_date: Some(Timestamp(a.updated)),
    }
}

fn encode_marker(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

fn decode_marker(m: &str) -> Result<String, KmsError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m.as_bytes())
        .map_err(|_| KmsError::InvalidMarker)?;
    let name = String::from_utf8(bytes).map_err(|_| KmsError::InvalidMarker)?;
    if !name.starts_with("alias/") {
        return Err(KmsError::InvalidMarker);
    }
    Ok(name)
}

pub fn list_aliases(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListAliasesRequest,
) -> Result<api::ListAliasesResponse, KmsError> {
    let limit = input.limit.unwrap_or(LIST_DEFAULT_LIMIT);
    if !(1..=LIST_MAX_LIMIT).contains(&limit) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {LIST_MAX_LIMIT}"
        )));
    }
    let after = input.marker.as_deref().map(decode_marker).transpose()?;
    let account = ctx.principal.account;
    let region = ctx.region;
    let filter = match input.key_id.as_deref() {
        Some(k) => Some(load(kms, ctx, k, Accept::KeyOnly, "ListAliases")?),
        None => {
            crate::authz::authorize_account(kms, ctx, &crate::authz::Ask::action("ListAliases"))?;
            None
        }
    };
    let mut entries: Vec<api::AliasListEntry> = kms.store.read(|txn| {
        let aliases = all_aliases(txn, account, region)?;
        let mut out: Vec<api::AliasListEntry> = match &filter {
            // A key of another account (by ARN) lists its own account's aliases of it.
            Some(k) => {
                let (a, r) = (k.record.account, k.record.region);
                let theirs = if a == account {
                    aliases.clone()
                } else {
                    all_aliases(txn, a, r)?
                };
                theirs
                    .iter()
                    .filter(|x| x.target_key_id == k.record.key_id)
                    .map(|x| entry(a, r, x))
                    .collect()
            }
            None => aliases.iter().map(|x| entry(account, region, x)).collect(),
        };
        if filter.is_none() {
            // Predefined AWS aliases whose key does not exist yet: name and ARN only.
            for svc in SERVICES {
                if !aliases.iter().any(|a| a.name == svc.alias) {
                    out.push(api::AliasListEntry {
                        alias_name: Some(svc.alias.to_owned()),
                        alias_arn: Some(alias_arn(region, account, svc.alias)),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(out)
    })?;
    entries.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
    if let Some(after) = &after {
        entries.retain(|e| e.alias_name.as_deref().is_some_and(|n| n > after.as_str()));
    }
    let limit = limit as usize;
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    let next_marker = if truncated {
        entries
            .last()
            .and_then(|e| e.alias_name.as_deref())
            .map(encode_marker)
    } else {
        None
    };
    Ok(api::ListAliasesResponse {
        aliases: Some(entries),
        next_marker,
        truncated: Some(truncated),
    })
}

/// Aliases of a key being deleted go with it (docs/kms.md §13); for the deletion worker.
pub fn delete_aliases_of_key(
    txn: &mut crate::store::KmsTxn<'_>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<usize, KmsError> {
    let doomed: Vec<String> = all_aliases(txn.read_view(), account, region)?
        .into_iter()
        .filter(|a| a.target_key_id == key_id)
        .map(|a| a.name)
        .collect();
    for name in &doomed {
        txn.delete_alias(account, region, name)?;
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyState;
    use crate::testsupport::kit::*;

    fn create(kms: &Kms, c: &RequestContext, name: &str, target: &str) -> Result<(), KmsError> {
        create_alias(
            kms,
            c,
            api::CreateAliasRequest {
                alias_name: name.into(),
                target_key_id: target.into(),
            },
        )
    }

    fn list(
        kms: &Kms,
        c: &RequestContext,
        key: Option<&str>,
        limit: Option<i32>,
        marker: Option<String>,
    ) -> api::ListAliasesResponse {
        list_aliases(
            kms,
            c,
            api::ListAliasesRequest {
                key_id: key.map(Into::into),
                limit,
                marker,
            },
        )
        .unwrap()
    }

    #[test]
    fn create_list_update_delete() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k1 = customer_key(&kms, ACCT, "us-east-1", false);
        let k2 = customer_key(&kms, ACCT, "us-east-1", false);
        create(&kms, &c, "alias/app", &k1).unwrap();
        create(
            &kms,
            &c,
            "alias/app-2",
            &key_arn(c.region, c.principal.account, &k1),
        )
        .unwrap();
        let e = create(&kms, &c, "alias/app", &k2).unwrap_err();
        assert_eq!(
            e,
            KmsError::AlreadyExists(format!(
                "An alias with the name arn:aws:kms:us-east-1:{ACCT}:alias/app already exists"
            ))
        );

        let all = list(&kms, &c, None, None, None);
        let names: Vec<_> = all
            .aliases
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| a.alias_name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "alias/app",
                "alias/app-2",
                "alias/aws/backup",
                "alias/aws/ebs",
                "alias/aws/rds"
            ]
        );
        let ebs = &all.aliases.as_ref().unwrap()[3];
        assert_eq!(ebs.target_key_id, None);
        assert_eq!(ebs.creation_date, None);
        assert_eq!(
            ebs.alias_arn.as_deref(),
            Some(format!("arn:aws:kms:us-east-1:{ACCT}:alias/aws/ebs").as_str())
        );
        assert_eq!(
            all.aliases.as_ref().unwrap()[0].target_key_id.as_deref(),
            Some(k1.as_str())
        );
        assert_eq!(all.truncated, Some(false));

        let of_k1 = list(&kms, &c, Some(&k1), None, None);
        assert_eq!(of_k1.aliases.unwrap().len(), 2);
        assert_eq!(
            list(&kms, &c, Some(&k2), None, None).aliases.unwrap().len(),
            0
        );

        update_alias(
            &kms,
            &c,
            api::UpdateAliasRequest {
                alias_name: "alias/app".into(),
                target_key_id: k2.clone(),
            },
        )
        .unwrap();
        let of_k2 = list(&kms, &c, Some(&k2), None, None).aliases.unwrap();
        assert_eq!(of_k2[0].alias_name.as_deref(), Some("alias/app"));
        // Resolution follows the alias.
        let k = load(&kms, &c, "alias/app", Accept::KeyOrAlias, "Encrypt").unwrap();
        assert_eq!(k.record.key_id, k2);

        delete_alias(
            &kms,
            &c,
            api::DeleteAliasRequest {
                alias_name: "alias/app".into(),
            },
        )
        .unwrap();
        let e = delete_alias(
            &kms,
            &c,
            api::DeleteAliasRequest {
                alias_name: "alias/app".into(),
            },
        )
        .unwrap_err();
        assert_eq!(
            kmsnap_api::AwsError::from(e).message,
            format!("Alias arn:aws:kms:us-east-1:{ACCT}:alias/app is not found.")
        );
        // Same name in another region is independent.
        let west = ctx(ACCT, "us-west-2");
        let kw = customer_key(&kms, ACCT, "us-west-2", false);
        create(&kms, &west, "alias/app-2", &kw).unwrap();
        assert!(
            create(&kms, &west, "alias/x", &k1).is_err(),
            "key of another region"
        );
    }

    #[test]
    fn name_rules() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        let e = create(&kms, &c, "app", &k).unwrap_err();
        assert_eq!(code(e.clone()), "ValidationException");
        assert!(kmsnap_api::AwsError::from(e)
            .message
            .starts_with("Alias must start with the prefix \"alias/\"."));
        assert_eq!(
            code(create(&kms, &c, "alias/a:b", &k).unwrap_err()),
            "ValidationException"
        );
        assert_eq!(
            code(create(&kms, &c, "alias/a b", &k).unwrap_err()),
            "ValidationException"
        );
        assert_eq!(
            code(create(&kms, &c, "alias/", &k).unwrap_err()),
            "InvalidAliasNameException"
        );
        assert_eq!(
            code(create(&kms, &c, "alias/aws/mine", &k).unwrap_err()),
            "NotAuthorizedException"
        );
        assert_eq!(
            code(create(&kms, &c, "alias/x", "alias/y").unwrap_err()),
            "ValidationException"
        );
        assert_eq!(
            code(create(&kms, &c, "alias/x", "nope").unwrap_err()),
            "NotFoundException"
        );
        create(&kms, &c, "alias/Ok_name-1/sub", &k).unwrap();
        let upd = update_alias(
            &kms,
            &c,
            api::UpdateAliasRequest {
                alias_name: "alias/aws/ebs".into(),
                target_key_id: k.clone(),
            },
        );
        assert_eq!(code(upd.unwrap_err()), "ValidationException");
        let del = delete_alias(
            &kms,
            &c,
            api::DeleteAliasRequest {
                alias_name: "alias/aws/ebs".into(),
            },
        );
        assert_eq!(code(del.unwrap_err()), "NotAuthorizedException");
    }

    #[test]
    fn targets_must_be_live_customer_keys_of_the_caller() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        let managed = crate::managed::ensure_for_alias(&kms, &c, "alias/aws/ebs")
            .unwrap()
            .unwrap();
        assert_eq!(
            code(create(&kms, &c, "alias/m", &managed).unwrap_err()),
            "AccessDeniedException"
        );
        let theirs = customer_key(&kms, OTHER, "us-east-1", false);
        let e = create(
            &kms,
            &c,
            "alias/t",
            &key_arn(c.region, acct(OTHER), &theirs),
        )
        .unwrap_err();
        assert_eq!(code(e), "AccessDeniedException");
        // Pending deletion: refused as a new target, both for create and update.
        create(&kms, &c, "alias/a", &k).unwrap();
        let pd = customer_key(&kms, ACCT, "us-east-1", false);
        set_state(&kms, ACCT, "us-east-1", &pd, KeyState::PendingDeletion);
        assert_eq!(
            code(create(&kms, &c, "alias/p", &pd).unwrap_err()),
            "KMSInvalidStateException"
        );
        let upd = update_alias(
            &kms,
            &c,
            api::UpdateAliasRequest {
                alias_name: "alias/a".into(),
                target_key_id: pd.clone(),
            },
        );
        assert_eq!(code(upd.unwrap_err()), "KMSInvalidStateException");
        // Disabled targets are fine.
        set_state(&kms, ACCT, "us-east-1", &k, KeyState::Disabled);
        create(&kms, &c, "alias/d", &k).unwrap();
        // The managed key's alias now lists with its target.
        let all = list(&kms, &c, None, None, None).aliases.unwrap();
        let ebs = all
            .iter()
            .find(|a| a.alias_name.as_deref() == Some("alias/aws/ebs"))
            .unwrap();
        assert_eq!(ebs.target_key_id.as_deref(), Some(managed.as_str()));
        assert!(ebs.creation_date.is_some());
        // Update to a key of a different usage is refused.
        let hmac = crate::ops::keys::create_key(
            &kms,
            &c,
            api::CreateKeyRequest {
                key_spec: Some(api::KeySpec::Hmac256),
                key_usage: Some(api::KeyUsageType::GenerateVerifyMac),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
        let upd = update_alias(
            &kms,
            &c,
            api::UpdateAliasRequest {
                alias_name: "alias/a".into(),
                target_key_id: hmac,
            },
        );
        assert_eq!(code(upd.unwrap_err()), "ValidationException");
        let missing = update_alias(
            &kms,
            &c,
            api::UpdateAliasRequest {
                alias_name: "alias/zzz".into(),
                target_key_id: k.clone(),
            },
        );
        assert_eq!(code(missing.unwrap_err()), "NotFoundException");
    }

    #[test]
    fn fifty_aliases_per_key_and_paging() {
        let (kms, _) = kms();
        let c = ctx(ACCT, "us-east-1");
        let k = customer_key(&kms, ACCT, "us-east-1", false);
        for i in 0..MAX_ALIASES_PER_KEY {
            create(&kms, &c, &format!("alias/a{i:02}"), &k).unwrap();
        }
        assert_eq!(
            code(create(&kms, &c, "alias/one-too-many", &k).unwrap_err()),
            "LimitExceededException"
        );
        // 50 + 3 predefined, pages of 20.
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let page = list(&kms, &c, None, Some(20), marker.take());
            seen.extend(
                page.aliases
                    .unwrap()
                    .into_iter()
                    .map(|a| a.alias_name.unwrap()),
            );
            if page.truncated != Some(true) {
                assert!(page.next_marker.is_none());
                break;
            }
            marker = page.next_marker;
        }
        assert_eq!(seen.len(), 53);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 53);
        let bad = list_aliases(
            &kms,
            &c,
            api::ListAliasesRequest {
                marker: Some("!!".into()),
                ..Default::default()
            },
        );
        assert_eq!(code(bad.unwrap_err()), "InvalidMarkerException");
        let bad = list_aliases(
            &kms,
            &c,
            api::ListAliasesRequest {
                limit: Some(101),
                ..Default::default()
            },
        );
        assert_eq!(code(bad.unwrap_err()), "ValidationException");
        let alias_filter = list_aliases(
            &kms,
            &c,
            api::ListAliasesRequest {
                key_id: Some("alias/a01".into()),
                ..Default::default()
            },
        );
        assert_eq!(code(alias_filter.unwrap_err()), "NotFoundException");
    }
}
