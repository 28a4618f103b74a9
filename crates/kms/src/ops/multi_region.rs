//! Multi-region keys: ReplicateKey and UpdatePrimaryRegion (docs/kms.md §9).
//!
//! A replica is a [`KeyRecord`] in another region with the same key id; everything replicas
//! share (material versions, rotation schedule, roster) is the one [`crate::model::SharedKey`],
//! so a replica decrypts what its primary encrypted, and rotation on the primary reaches it.
//! What is per region — description, policy, tags, state — is the replica's own: the policy
//! defaults to the default key policy (not the primary's), tags are not copied.
//!
//! Differences from AWS, on purpose: a replica is Enabled as soon as ReplicateKey returns (AWS
//! answers `Creating` and reaches Enabled within seconds; clients poll DescribeKey, which sees
//! Enabled at once), and UpdatePrimaryRegion swaps the roles in one transaction (AWS shows both
//! keys `Updating` for a while).

use crate::metadata::key_metadata;
use crate::model::{key_arn, KeyManager, KeyRecord, KeyState};
use crate::ops::common::load;
use crate::ops::policies::{default_key_policy, lockout_check, validate_policy};
use crate::ops::tags::validate_tags;
use crate::resolve::Accept;
use crate::store::{Due, LoadedKey};
use crate::{Kms, KmsError};
use kmsnap_api::gen::kms as api;
use kmsnap_auth::RequestContext;
use kmsnap_core::Region;

/// Tags per key (docs/kms.md §14).
const MAX_TAGS: usize = 50;

fn require_multi_region_primary(key: &LoadedKey) -> Result<(), KmsError> {
    let s = &key.shared.shared;
    let arn = key.record.arn();
    if !s.multi_region {
        return Err(KmsError::Unsupported(format!(
            "{arn} is not a multi-Region key."
        )));
    }
    if key.record.region != s.primary_region {
        return Err(KmsError::Unsupported(format!(
            "{arn} is not a multi-Region primary key. Use the primary key {}.",
            key_arn(s.primary_region, key.record.account, &key.record.key_id)
        )));
    }
    Ok(())
}

/// ReplicateKey and UpdatePrimaryRegion need an Enabled source (Disabled → DisabledException).
fn require_enabled(key: &LoadedKey, updating_ok: bool) -> Result<(), KmsError> {
    let arn = key.record.arn();
    match key.record.state {
        KeyState::Enabled => Ok(()),
        KeyState::Updating if updating_ok => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled { arn }),
        state => Err(KmsError::InvalidState { arn, state }),
    }
}

fn parse_region(value: &str, member: &str) -> Result<Region, KmsError> {
    Region::parse(value).map_err(|_| {
        KmsError::Validation(format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must be a valid AWS Region name"))
    })
}

pub fn replicate_key(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ReplicateKeyRequest,
) -> Result<api::ReplicateKeyResponse, KmsError> {
    let replica_region = parse_region(&input.replica_region, "replicaRegion")?;
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "ReplicateKey")?;
    require_multi_region_primary(&key)?;
    require_enabled(&key, false)?;
    let account = key.record.account;
    let key_id = key.record.key_id.clone();
    let replica_arn = key_arn(replica_region, account, &key_id);
    if replica_region == key.record.region {
        return Err(KmsError::Validation(format!(
            "The replica Region {replica_region} must be different from the Region of the primary key {}.",
            key.record.arn()
        )));
    }
    let policy = match input.policy {
        Some(p) => {
            let parsed = validate_policy(&p)?;
            lockout_check(
                kms,
                ctx,
                &replica_arn,
                &parsed,
                input.bypass_policy_lockout_safety_check,
            )?;
            p
        }
        None => default_key_policy(account),
    };
    let tags = input.tags.unwrap_or_default();
    validate_tags(&tags)?;
    if tags.len() > MAX_TAGS {
        return Err(KmsError::LimitExceeded(format!(
            "A key can have at most {MAX_TAGS} tags."
        )));
    }
    let description = input.description.unwrap_or_default();
    let now = kms.clock.now();
    let primary_arn = key.record.arn();
    kms.store.write(|txn| {
        let mut shared =
            txn.get_shared(account, &key_id)?
                .ok_or_else(|| KmsError::KeyNotFound {
                    arn: primary_arn.clone(),
                })?;
        if shared.primary_region != key.record.region {
            return Err(KmsError::Unsupported(format!(
                "{primary_arn} is not a multi-Region primary key."
            )));
        }
        if shared.replica_regions.contains(&replica_region)
            || txn.get_key(account, replica_region, &key_id)?.is_some()
        {
            return Err(KmsError::AlreadyExists(format!(
                "Replica key {replica_arn} already exists."
            )));
        }
        txn.put_key(&KeyRecord {
            account,
            region: replica_region,
            key_id: key_id.clone(),
            created: now,
            description: description.clone(),
            state: KeyState::Enabled,
            manager: KeyManager::Customer,
            aws_service: None,
            policy: policy.clone(),
            tags: tags
                .iter()
                .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
                .collect(),
            deletion_date: None,
            pending_window_days: None,
        })?;
        shared.replica_regions.push(replica_region);
        txn.put_shared(&shared)
    })?;
    let replica = kms
        .store
        .get(account, replica_region, &key_id)?
        .ok_or(KmsError::Internal("replica vanished after commit"))?;
    tracing::info!(%account, key_id, %replica_region, "replicated multi-region key");
    Ok(api::ReplicateKeyResponse {
        replica_key_metadata: Some(key_metadata(&replica)),
        replica_policy: Some(policy),
        replica_tags: Some(tags),
    })
}

pub fn update_primary_region(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::UpdatePrimaryRegionRequest,
) -> Result<(), KmsError> {
    let new_primary = parse_region(&input.primary_region, "primaryRegion")?;
    let key = load(
        kms,
        ctx,
        &input.key_id,
        Accept::KeyOnly,
        "UpdatePrimaryRegion",
    )?;
    if !key.shared.shared.multi_region {
        return Err(KmsError::Unsupported(format!(
            "{} is not a multi-Region key.",
            key.record.arn()
        )));
    }
    require_enabled(&key, true)?;
    let account = key.record.account;
    let key_id = key.record.key_id.clone();
    let arn = key.record.arn();
    kms.store.write(|txn| {
        let mut shared = txn.get_shared(account, &key_id)?.ok_or_else(|| KmsError::KeyNotFound { arn: arn.clone() })?;
        if shared.primary_region != key.record.region {
            return Err(KmsError::Unsupported(format!(
                "{arn} is not the primary key; call UpdatePrimaryRegion on the primary key {}.",
                key_arn(shared.primary_region, account, &key_id)
            )));
        }
        let Some(slot) = shared.replica_regions.iter().position(|r| *r == new_primary) else {
            return Err(KmsError::Unsupported(format!(
                "{arn} has no replica key in {new_primary}; the new primary Region must contain a replica key."
            )));
        };
        let replica = txn
            .get_key(account, new_primary, &key_id)?
            .ok_or_else(|| KmsError::KeyNotFound { arn: key_arn(new_primary, account, &key_id) })?;
        if matches!(replica.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion | KeyState::Creating | KeyState::PendingImport) {
            return Err(KmsError::InvalidState { arn: replica.arn(), state: replica.state });
        }
        // The rotation schedule's due entry lives under the primary's region: move it.
        let next = shared.rotation.next_rotation;
        if let Some(at) = next {
            txn.unschedule(Due::Rotation, at, account, shared.primary_region, &key_id)?;
            txn.schedule(Due::Rotation, at, account, new_primary, &key_id)?;
        }
        let old_primary = shared.primary_region;
        shared.replica_regions[slot] = old_primary;
        shared.primary_region = new_primary;
        // put_shared also drops every region's cached view of the roster.
        txn.put_shared(&shared)?;
        tracing::info!(%account, key_id, from = %old_primary, to = %new_primary, "updated primary region");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rotation::{enable_key_rotation, rotate_key_on_demand};
    use crate::testsupport::kit::*;

    fn replicate(
        kms: &Kms,
        c: &RequestContext,
        k: &str,
        to: &str,
    ) -> Result<api::ReplicateKeyResponse, KmsError> {
        replicate_key(
            kms,
            c,
            api::ReplicateKeyRequest {
                key_id: k.into(),
                replica_region: to.into(),
                policy: None,
                bypass_policy_lockout_safety_check: None,
                description: None,
                tags: None,
            },
        )
    }

    #[test]
    fn replicate_and_decrypt_in_the_replica_region() {
        let (kms, _) = kms();
        let tokyo = ctx(ACCT, "ap-northeast-1");
        let k = customer_key(&kms, ACCT, "ap-northeast-1", true);
        let blob = encrypt(&kms, ACCT, "ap-northeast-1", &k, b"from tokyo");
        let r = replicate(&kms, &tokyo, &k, "us-west-2").unwrap();
        let md = r.replica_key_metadata.unwrap();
        assert_eq!(md.key_id, k);
        assert_eq!(
            md.arn.as_deref(),
            Some(format!("arn:aws:kms:us-west-2:{ACCT}:key/{k}").as_str())
        );
        assert_eq!(md.description.as_deref(), Some(""));
        let mrc = md.multi_region_configuration.unwrap();
        assert_eq!(
            mrc.multi_region_key_type,
            Some(api::MultiRegionKeyType::Replica)
        );
        assert_eq!(
            mrc.primary_key.unwrap().region.as_deref(),
            Some("ap-northeast-1")
        );
        assert_eq!(r.replica_policy.unwrap(), default_key_policy(acct(ACCT)));
        assert_eq!(r.replica_tags, Some(vec![]));
        assert_eq!(
            decrypt(&kms, ACCT, "us-west-2", &blob).unwrap(),
            b"from tokyo"
        );
        // The primary now lists the replica.
        let p = key_metadata(
            &kms.store
                .get(acct(ACCT), region("ap-northeast-1"), &k)
                .unwrap()
                .unwrap(),
        );
        let pm = p.multi_region_configuration.unwrap();
        assert_eq!(
            pm.multi_region_key_type,
            Some(api::MultiRegionKeyType::Primary)
        );
        assert_eq!(
            pm.replica_keys.unwrap()[0].region.as_deref(),
            Some("us-west-2")
        );
        // Errors.
        assert_eq!(
            code(replicate(&kms, &tokyo, &k, "us-west-2").unwrap_err()),
            "AlreadyExistsException"
        );
        assert_eq!(
            code(replicate(&kms, &tokyo, &k, "ap-northeast-1").unwrap_err()),
            "ValidationException"
        );
        assert_eq!(
            code(replicate(&kms, &tokyo, &k, "mars-north-1").unwrap_err()),
            "ValidationException"
        );
        let single = customer_key(&kms, ACCT, "ap-northeast-1", false);
        assert_eq!(
            code(replicate(&kms, &tokyo, &single, "us-east-1").unwrap_err()),
            "UnsupportedOperationException"
        );
        let oregon = ctx(ACCT, "us-west-2");
        assert_eq!(
            code(replicate(&kms, &oregon, &k, "eu-west-1").unwrap_err()),
            "UnsupportedOperationException"
        );
        // Rotation on the primary reaches the replica; rotation on the replica is refused.
        rotate_key_on_demand(
            &kms,
            &tokyo,
            api::RotateKeyOnDemandRequest { key_id: k.clone() },
        )
        .unwrap();
        let e = enable_key_rotation(
            &kms,
            &oregon,
            api::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: None,
            },
        );
        assert_eq!(code(e.unwrap_err()), "UnsupportedOperationException");
        let b2 = encrypt(&kms, ACCT, "ap-northeast-1", &k, b"rotated");
        assert_eq!(decrypt(&kms, ACCT, "us-west-2", &b2).unwrap(), b"rotated");
        assert_eq!(
            decrypt(&kms, ACCT, "us-west-2", &blob).unwrap(),
            b"from tokyo"
        );
        // A blob from the replica decrypts in the primary region.
        let b3 = encrypt(&kms, ACCT, "us-west-2", &k, b"from oregon");
        assert_eq!(
            decrypt(&kms, ACCT, "ap-northeast-1", &b3).unwrap(),
            b"from oregon"
        );
        // Disabled primary: DisabledException.
        set_state(&kms, ACCT, "ap-northeast-1", &k, KeyState::Disabled);
        assert_eq!(
            code(replicate(&kms, &tokyo, &k, "eu-west-1").unwrap_err()),
            "DisabledException"
        );
    }

    #[test]
    fn replica_with_own_policy_description_and_tags() {
        let (kms, _) = kms();
        let tokyo = ctx(ACCT, "ap-northeast-1");
        let k = customer_key(&kms, ACCT, "ap-northeast-1", true);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let r = replicate_key(
            &kms,
            &tokyo,
            api::ReplicateKeyRequest {
                key_id: k.clone(),
                replica_region: "eu-west-1".into(),
                policy: Some(policy.into()),
                bypass_policy_lockout_safety_check: None,
                description: Some("replica".into()),
                tags: Some(vec![api::Tag {
                    tag_key: "env".into(),
                    tag_value: "dev".into(),
                }]),
            },
        )
        .unwrap();
        assert_eq!(r.replica_policy.as_deref(), Some(policy));
        assert_eq!(
            r.replica_key_metadata.unwrap().description.as_deref(),
            Some("replica")
        );
        let rec = kms
            .store
            .get(acct(ACCT), region("eu-west-1"), &k)
            .unwrap()
            .unwrap();
        assert_eq!(
            rec.record.tags,
            vec![("env".to_string(), "dev".to_string())]
        );
        let bad = replicate_key(
            &kms,
            &tokyo,
            api::ReplicateKeyRequest {
                key_id: k.clone(),
                replica_region: "eu-west-2".into(),
                policy: Some("not json".into()),
                bypass_policy_lockout_safety_check: None,
                description: None,
                tags: None,
            },
        );
        assert_eq!(code(bad.unwrap_err()), "MalformedPolicyDocumentException");
    }

    #[test]
    fn update_primary_region_swaps_roles_and_moves_the_schedule() {
        let (kms, _) = kms();
        let tokyo = ctx(ACCT, "ap-northeast-1");
        let oregon = ctx(ACCT, "us-west-2");
        let k = customer_key(&kms, ACCT, "ap-northeast-1", true);
        replicate(&kms, &tokyo, &k, "us-west-2").unwrap();
        replicate(&kms, &tokyo, &k, "eu-west-1").unwrap();
        enable_key_rotation(
            &kms,
            &tokyo,
            api::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: None,
            },
        )
        .unwrap();
        let up = |c: &RequestContext, to: &str| {
            update_primary_region(
                &kms,
                c,
                api::UpdatePrimaryRegionRequest {
                    key_id: k.clone(),
                    primary_region: to.into(),
                },
            )
        };
        assert_eq!(
            code(up(&tokyo, "us-east-1").unwrap_err()),
            "UnsupportedOperationException",
            "no replica there"
        );
        assert_eq!(
            code(up(&oregon, "eu-west-1").unwrap_err()),
            "UnsupportedOperationException",
            "not the primary"
        );
        up(&tokyo, "us-west-2").unwrap();
        let md = |r: &str| {
            key_metadata(&kms.store.get(acct(ACCT), region(r), &k).unwrap().unwrap())
                .multi_region_configuration
                .unwrap()
        };
        assert_eq!(
            md("us-west-2").multi_region_key_type,
            Some(api::MultiRegionKeyType::Primary)
        );
        assert_eq!(
            md("ap-northeast-1").multi_region_key_type,
            Some(api::MultiRegionKeyType::Replica)
        );
        let replicas: Vec<_> = md("eu-west-1")
            .replica_keys
            .unwrap()
            .into_iter()
            .map(|r| r.region.unwrap())
            .collect();
        assert_eq!(replicas, ["ap-northeast-1", "eu-west-1"]);
        // Rotation is now managed from Oregon; the due entry moved with it.
        let due = kms
            .store
            .read(|t| {
                crate::store::due_entries(
                    t,
                    Due::Rotation,
                    kms.clock.now() + chrono::Duration::days(400),
                    10,
                )
            })
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].2, region("us-west-2"));
        enable_key_rotation(
            &kms,
            &oregon,
            api::EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: Some(180),
            },
        )
        .unwrap();
        // Disabled primary refuses.
        set_state(&kms, ACCT, "us-west-2", &k, KeyState::Disabled);
        assert_eq!(
            code(up(&oregon, "ap-northeast-1").unwrap_err()),
            "DisabledException"
        );
        let single = customer_key(&kms, ACCT, "ap-northeast-1", false);
        let e = update_primary_region(
            &kms,
            &tokyo,
            api::UpdatePrimaryRegionRequest {
                key_id: single,
                primary_region: "us-west-2".into(),
            },
        );
        assert_eq!(code(e.unwrap_err()), "UnsupportedOperationException");
    }
}
