//! Unit tests of the key lifecycle: defaults, the docs/kms.md §4 state table with its messages, deletion by
//! the worker on a moved clock, multi-region deletion order, and persistence across a reopen.

use super::*;
use crate::model::{AliasRecord, KeyManager};
use crate::ops::policies::default_key_policy;
use crate::testsupport::env::*;
use kmsnap_api::AwsError;
use kmsnap_core::{Clock, Region};

fn aws(e: KmsError) -> (String, String) {
    let a = AwsError::from(e);
    (a.code.to_string(), a.message.to_string())
}

fn enable(env: &Env, ctx: &RequestContext, id: &str) -> Result<(), KmsError> {
    enable_key(&env.kms, ctx, api::EnableKeyRequest { key_id: id.into() })
}

fn disable(env: &Env, ctx: &RequestContext, id: &str) -> Result<(), KmsError> {
    disable_key(&env.kms, ctx, api::DisableKeyRequest { key_id: id.into() })
}

fn cancel(
    env: &Env,
    ctx: &RequestContext,
    id: &str,
) -> Result<api::CancelKeyDeletionResponse, KmsError> {
    cancel_key_deletion(
        &env.kms,
        ctx,
        api::CancelKeyDeletionRequest { key_id: id.into() },
    )
}

#[test]
fn create_defaults() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = create_key(&env.kms, &ctx, api::CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(uuid::Uuid::parse_str(&md.key_id).is_ok());
    assert_eq!(md.key_id.len(), 36);
    assert_eq!(
        md.arn.as_deref(),
        Some(format!("arn:aws:kms:us-east-1:111111111111:key/{}", md.key_id).as_str())
    );
    assert_eq!(md.aws_account_id.as_deref(), Some("111111111111"));
    assert_eq!(md.enabled, Some(true));
    assert_eq!(md.description.as_deref(), Some(""));
    assert_eq!(md.key_state, Some(api::KeyState::Enabled));
    assert_eq!(md.key_usage, Some(api::KeyUsageType::EncryptDecrypt));
    assert_eq!(md.key_spec, Some(api::KeySpec::SymmetricDefault));
    assert_eq!(
        md.customer_master_key_spec,
        Some(api::CustomerMasterKeySpec::SymmetricDefault)
    );
    assert_eq!(md.origin, Some(api::OriginType::AwsKms));
    assert_eq!(md.key_manager, Some(api::KeyManagerType::Customer));
    assert_eq!(md.multi_region, Some(false));
    assert!(md.multi_region_configuration.is_none());
    assert_eq!(
        md.current_key_material_id.as_ref().map(|m| m.len()),
        Some(64)
    );
    assert!(md.deletion_date.is_none() && md.pending_deletion_window_in_days.is_none());

    let rec = env
        .kms
        .store
        .get(ctx.principal.account, ctx.region, &md.key_id)
        .unwrap()
        .unwrap();
    assert_eq!(rec.record.policy, default_key_policy(ctx.principal.account));

    // DescribeKey by id and by ARN give the same metadata.
    assert_eq!(env.describe(&ctx, &md.key_id).unwrap(), md);
    assert_eq!(env.describe(&ctx, md.arn.as_deref().unwrap()).unwrap(), md);
}

#[test]
fn create_multi_region_and_options() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = create_key(
        &env.kms,
        &ctx,
        api::CreateKeyRequest {
            multi_region: Some(true),
            description: Some("d".into()),
            tags: Some(vec![api::Tag {
                tag_key: "a".into(),
                tag_value: "1".into(),
            }]),
            bypass_policy_lockout_safety_check: Some(true),
            customer_master_key_spec: Some(api::CustomerMasterKeySpec::SymmetricDefault),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap();
    let id = md.key_id.clone();
    assert!(
        id.starts_with("mrk-")
            && id.len() == 36
            && id[4..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(md.multi_region, Some(true));
    let cfg = md.multi_region_configuration.unwrap();
    assert_eq!(
        cfg.multi_region_key_type,
        Some(api::MultiRegionKeyType::Primary)
    );
    assert_eq!(
        cfg.primary_key.unwrap().region.as_deref(),
        Some("us-east-1")
    );
    assert_eq!(cfg.replica_keys, Some(vec![]));
    assert_eq!(md.description.as_deref(), Some("d"));
}

#[test]
fn create_rejections() {
    let env = Env::memory();
    let ctx = env.ctx();
    let c = |req: api::CreateKeyRequest| create_key(&env.kms, &ctx, req).unwrap_err();

    let e = c(api::CreateKeyRequest {
        key_usage: Some(api::KeyUsageType::SignVerify),
        ..Default::default()
    });
    assert_eq!(
        aws(e),
        (
            "ValidationException".into(),
            "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT".into()
        )
    );
    let e = c(api::CreateKeyRequest {
        key_spec: Some(api::KeySpec::Hmac256),
        ..Default::default()
    });
    assert_eq!(aws(e).0, "ValidationException");
    let e = c(api::CreateKeyRequest {
        key_spec: Some(api::KeySpec::Rsa2048),
        key_usage: Some(api::KeyUsageType::KeyAgreement),
        ..Default::default()
    });
    assert_eq!(
        aws(e),
        (
            "ValidationException".into(),
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048".into()
        )
    );
    let e = c(api::CreateKeyRequest {
        key_spec: Some(api::KeySpec::Rsa2048),
        ..Default::default()
    });
    assert_eq!(
        aws(e),
        ("ValidationException".into(), "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into())
    );
    let e = c(api::CreateKeyRequest {
        key_spec: Some(api::KeySpec::Sm2),
        key_usage: Some(api::KeyUsageType::SignVerify),
        ..Default::default()
    });
    assert_eq!(aws(e).0, "ValidationException");
    let e = c(api::CreateKeyRequest {
        key_spec: Some(api::KeySpec::SymmetricDefault),
        customer_master_key_spec: Some(api::CustomerMasterKeySpec::SymmetricDefault),
        ..Default::default()
    });
    assert!(matches!(e, KmsError::Validation(_)));
    let e = c(api::CreateKeyRequest {
        origin: Some(api::OriginType::AwsCloudhsm),
        ..Default::default()
    });
    assert!(matches!(e, KmsError::NotImplemented(_)));
    let e = c(api::CreateKeyRequest {
        description: Some("x".repeat(8193)),
        ..Default::default()
    });
    assert!(matches!(e, KmsError::Validation(_)));
    let e = c(api::CreateKeyRequest {
        tags: Some(vec![api::Tag {
            tag_key: "aws:reserved".into(),
            tag_value: "v".into(),
        }]),
        ..Default::default()
    });
    assert_eq!(
        aws(e),
        (
            "TagException".into(),
            "Tags beginning with aws: are reserved".into()
        )
    );
    let tags = (0..51)
        .map(|i| api::Tag {
            tag_key: format!("k{i}"),
            tag_value: String::new(),
        })
        .collect();
    assert!(matches!(
        c(api::CreateKeyRequest {
            tags: Some(tags),
            ..Default::default()
        }),
        KmsError::Tag(_)
    ));
    let e = c(api::CreateKeyRequest {
        policy: Some("{\"Statement\":[{\"Effect\":\"Allow\"}]}".into()),
        ..Default::default()
    });
    assert_eq!(aws(e).0, "MalformedPolicyDocumentException");
    // Nothing was created by the refused requests.
    let l = list_keys(&env.kms, &ctx, api::ListKeysRequest::default()).unwrap();
    assert_eq!(l.keys.unwrap().len(), 0);
}

#[test]
fn custom_policy_stored_exactly() {
    let env = Env::memory();
    let ctx = env.ctx();
    let policy = "{ \"Statement\" : { \"Effect\":\"Allow\", \"Principal\":\"*\", \"Action\":\"kms:*\", \"Resource\":\"*\" } }\n";
    let id = create_key(
        &env.kms,
        &ctx,
        api::CreateKeyRequest {
            policy: Some(policy.into()),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap()
    .key_id;
    assert_eq!(
        env.kms
            .store
            .get(ctx.principal.account, ctx.region, &id)
            .unwrap()
            .unwrap()
            .record
            .policy,
        policy
    );
}

#[test]
fn state_table_and_messages() {
    let env = Env::memory();
    let ctx = env.ctx();
    let id = env.create(&ctx);
    let arn = format!("arn:aws:kms:us-east-1:111111111111:key/{id}");

    // Enabled: enable is a no-op; cancel refuses.
    enable(&env, &ctx, &id).unwrap();
    assert_eq!(
        aws(cancel(&env, &ctx, &id).unwrap_err()),
        (
            "KMSInvalidStateException".into(),
            format!("{arn} is not pending deletion.")
        )
    );

    // Disabled.
    disable(&env, &ctx, &id).unwrap();
    let md = env.describe(&ctx, &id).unwrap();
    assert_eq!(
        (md.key_state, md.enabled),
        (Some(api::KeyState::Disabled), Some(false))
    );
    disable(&env, &ctx, &id).unwrap();
    assert!(matches!(
        cancel(&env, &ctx, &id),
        Err(KmsError::NotPendingDeletion { .. })
    ));
    update_key_description(
        &env.kms,
        &ctx,
        api::UpdateKeyDescriptionRequest {
            key_id: id.clone(),
            description: "new".into(),
        },
    )
    .unwrap();
    assert_eq!(
        env.describe(&ctx, &id).unwrap().description.as_deref(),
        Some("new")
    );
    enable(&env, &ctx, &id).unwrap();
    assert_eq!(
        env.describe(&ctx, &id).unwrap().key_state,
        Some(api::KeyState::Enabled)
    );

    // PendingDeletion.
    let now = env.clock.now();
    let s = env.schedule(&ctx, &id, 7);
    assert_eq!(s.key_id.as_deref(), Some(arn.as_str()));
    assert_eq!(s.key_state, Some(api::KeyState::PendingDeletion));
    assert_eq!(s.pending_window_in_days, Some(7));
    let dd = s.deletion_date.unwrap().0;
    assert!(
        (dd - now - Duration::days(7)).num_seconds().abs() <= 2,
        "{dd} vs {now}"
    );
    let md = env.describe(&ctx, &id).unwrap();
    assert_eq!(md.key_state, Some(api::KeyState::PendingDeletion));
    assert_eq!(md.enabled, Some(false));
    assert_eq!(md.deletion_date.map(|t| t.0), Some(dd));
    assert_eq!(md.pending_deletion_window_in_days, Some(7));

    let pending = (
        "KMSInvalidStateException".to_owned(),
        format!("{arn} is pending deletion."),
    );
    assert_eq!(aws(enable(&env, &ctx, &id).unwrap_err()), pending);
    assert_eq!(aws(disable(&env, &ctx, &id).unwrap_err()), pending);
    assert_eq!(
        aws(schedule_key_deletion(
            &env.kms,
            &ctx,
            api::ScheduleKeyDeletionRequest {
                key_id: id.clone(),
                pending_window_in_days: None
            }
        )
        .unwrap_err()),
        pending
    );
    assert_eq!(
        aws(update_key_description(
            &env.kms,
            &ctx,
            api::UpdateKeyDescriptionRequest {
                key_id: id.clone(),
                description: "x".into()
            }
        )
        .unwrap_err()),
        pending
    );

    // Cancel → Disabled, never Enabled; the due entry is gone.
    assert_eq!(
        cancel(&env, &ctx, &id).unwrap().key_id.as_deref(),
        Some(arn.as_str())
    );
    let md = env.describe(&ctx, &id).unwrap();
    assert_eq!(md.key_state, Some(api::KeyState::Disabled));
    assert!(md.deletion_date.is_none() && md.pending_deletion_window_in_days.is_none());
    let due = env
        .kms
        .store
        .read(|t| crate::store::due_entries(t, Due::Deletion, now + Duration::days(400), 10))
        .unwrap();
    assert!(due.is_empty());
    env.clock.advance(Duration::days(8));
    crate::workers::run_due(&env.kms, env.clock.now()).unwrap();
    assert!(env.describe(&ctx, &id).is_ok());
}

#[test]
fn window_bounds() {
    let env = Env::memory();
    let ctx = env.ctx();
    let id = env.create(&ctx);
    for (days, msg) in [
        (6, "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7"),
        (31, "1 validation error detected: Value '31' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 30"),
    ] {
        let e = schedule_key_deletion(&env.kms, &ctx, api::ScheduleKeyDeletionRequest { key_id: id.clone(), pending_window_in_days: Some(days) }).unwrap_err();
        assert_eq!(aws(e), ("ValidationException".into(), msg.into()));
    }
    let s = schedule_key_deletion(
        &env.kms,
        &ctx,
        api::ScheduleKeyDeletionRequest {
            key_id: id.clone(),
            pending_window_in_days: None,
        },
    )
    .unwrap();
    assert_eq!(s.pending_window_in_days, Some(30));
}

#[test]
fn not_found_and_key_only() {
    let env = Env::memory();
    let ctx = env.ctx();
    let missing = "0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60";
    let e = env.describe(&ctx, missing).unwrap_err();
    assert_eq!(
        aws(e),
        (
            "NotFoundException".into(),
            format!("Key 'arn:aws:kms:us-east-1:111111111111:key/{missing}' does not exist")
        )
    );
    assert_eq!(
        aws(enable(&env, &ctx, "alias/x").unwrap_err()).0,
        "NotFoundException"
    );
    assert_eq!(
        aws(env.describe(&ctx, "arn:aws:kms:bogus").unwrap_err()).0,
        "InvalidArnException"
    );
    // Another account's key by bare id does not resolve; another region's neither.
    let id = env.create(&ctx);
    assert_eq!(
        aws(env
            .describe(&env.ctx_for("222222222222", "us-east-1"), &id)
            .unwrap_err())
        .0,
        "NotFoundException"
    );
    assert_eq!(
        aws(env
            .describe(&env.ctx_for("111111111111", "us-west-2"), &id)
            .unwrap_err())
        .0,
        "NotFoundException"
    );
}

#[test]
fn aws_managed_keys_refuse_management() {
    let env = Env::memory();
    let ctx = env.ctx();
    let id = env.create(&ctx);
    // Turn it into an AWS managed key behind the API's back.
    let rec = env
        .kms
        .store
        .get(ctx.principal.account, ctx.region, &id)
        .unwrap()
        .unwrap()
        .record
        .clone();
    update_record(&env.kms, &rec, |r, _| {
        r.manager = KeyManager::Aws;
        r.aws_service = Some("ebs".into());
        r.policy = crate::managed::managed_key_policy("ebs", r.account, r.region);
        Ok(())
    })
    .unwrap();
    let arn = rec.arn();
    let denied = |action: &str| {
        (
            "AccessDeniedException".to_owned(),
            format!("User: arn:aws:iam::111111111111:root is not authorized to perform: kms:{action} on resource: {arn} because no resource-based policy allows the kms:{action} action"),
        )
    };
    assert_eq!(
        aws(enable(&env, &ctx, &id).unwrap_err()),
        denied("EnableKey")
    );
    assert_eq!(
        aws(disable(&env, &ctx, &id).unwrap_err()),
        denied("DisableKey")
    );
    assert_eq!(
        aws(schedule_key_deletion(
            &env.kms,
            &ctx,
            api::ScheduleKeyDeletionRequest {
                key_id: id.clone(),
                pending_window_in_days: None
            }
        )
        .unwrap_err()),
        denied("ScheduleKeyDeletion")
    );
    assert_eq!(
        aws(update_key_description(
            &env.kms,
            &ctx,
            api::UpdateKeyDescriptionRequest {
                key_id: id.clone(),
                description: "x".into()
            }
        )
        .unwrap_err()),
        denied("UpdateKeyDescription")
    );
    assert_eq!(
        aws(crate::ops::tags::tag_resource(
            &env.kms,
            &ctx,
            api::TagResourceRequest {
                key_id: id.clone(),
                tags: vec![]
            }
        )
        .unwrap_err()),
        denied("TagResource")
    );
    assert_eq!(
        aws(crate::ops::policies::put_key_policy(
            &env.kms,
            &ctx,
            api::PutKeyPolicyRequest {
                key_id: id.clone(),
                policy: "{}".into(),
                ..Default::default()
            }
        )
        .unwrap_err()),
        denied("PutKeyPolicy")
    );
    // Reads still work.
    assert_eq!(
        env.describe(&ctx, &id).unwrap().key_manager,
        Some(api::KeyManagerType::Aws)
    );
    crate::ops::policies::get_key_policy(
        &env.kms,
        &ctx,
        api::GetKeyPolicyRequest {
            key_id: id,
            policy_name: None,
        },
    )
    .unwrap();
}

#[test]
fn list_keys_pages() {
    let env = Env::memory();
    let ctx = env.ctx();
    let mut ids: Vec<String> = (0..7).map(|_| env.create(&ctx)).collect();
    // Other account/region keys are not listed.
    env.create(&env.ctx_for("222222222222", "us-east-1"));
    env.create(&env.ctx_for("111111111111", "eu-west-1"));
    env.schedule(&ctx, &ids[0], 7); // pending deletion keys are listed
    ids.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let r = list_keys(
            &env.kms,
            &ctx,
            api::ListKeysRequest {
                limit: Some(3),
                marker: marker.clone(),
                resource_owners: None,
            },
        )
        .unwrap();
        pages += 1;
        for k in r.keys.unwrap() {
            assert_eq!(
                k.key_arn.unwrap(),
                format!(
                    "arn:aws:kms:us-east-1:111111111111:key/{}",
                    k.key_id.as_deref().unwrap()
                )
            );
            seen.push(k.key_id.unwrap());
        }
        if r.truncated != Some(true) {
            assert!(r.next_marker.is_none());
            break;
        }
        marker = r.next_marker;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    let all = list_keys(&env.kms, &ctx, api::ListKeysRequest::default()).unwrap();
    assert_eq!((all.keys.unwrap().len(), all.truncated), (7, Some(false)));
    for bad in ["nope", "a25vd24=", ""] {
        let e = list_keys(
            &env.kms,
            &ctx,
            api::ListKeysRequest {
                marker: Some(bad.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            aws(e),
            ("InvalidMarkerException".into(), "Invalid marker".into())
        );
    }
    for bad in [0, 1001] {
        let e = list_keys(
            &env.kms,
            &ctx,
            api::ListKeysRequest {
                limit: Some(bad),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, KmsError::Validation(_)));
    }
}

#[test]
fn deletion_worker_deletes_key_material_and_aliases() {
    let env = Env::memory();
    let ctx = env.ctx();
    let id = env.create(&ctx);
    let keep = env.create(&ctx);
    let (acct, region) = (ctx.principal.account, ctx.region);
    let now = env.clock.now();
    env.kms
        .store
        .write(|t| {
            for (name, target) in [("alias/a", &id), ("alias/b", &id), ("alias/keep", &keep)] {
                t.put_alias(
                    acct,
                    region,
                    &AliasRecord {
                        name: name.into(),
                        target_key_id: target.clone(),
                        created: now,
                        updated: now,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    env.schedule(&ctx, &id, 7);

    // Not yet due.
    env.clock.advance(Duration::days(6));
    assert_eq!(
        crate::workers::deletion::run_due(&env.kms, env.clock.now()).unwrap(),
        0
    );
    assert!(env.describe(&ctx, &id).is_ok());

    env.clock.advance(Duration::days(2));
    assert_eq!(
        crate::workers::deletion::run_due(&env.kms, env.clock.now()).unwrap(),
        1
    );
    let e = env.describe(&ctx, &id).unwrap_err();
    assert_eq!(aws(e).0, "NotFoundException");
    assert!(env.describe(&ctx, "alias/a").is_err());
    env.kms
        .store
        .read(|t| {
            assert!(crate::store::read_alias(t, acct, region, "alias/a")?.is_none());
            assert!(crate::store::read_alias(t, acct, region, "alias/b")?.is_none());
            assert!(crate::store::read_alias(t, acct, region, "alias/keep")?.is_some());
            assert!(
                crate::store::read_shared(t, acct, &id)?.is_none(),
                "material must be destroyed"
            );
            assert!(crate::store::read_shared(t, acct, &keep)?.is_some());
            assert!(crate::store::due_entries(t, Due::Deletion, env.clock.now(), 10)?.is_empty());
            Ok(())
        })
        .unwrap();
    assert_eq!(env.describe(&ctx, "alias/keep").unwrap().key_id, keep);
    // Idempotent: nothing left to do.
    assert_eq!(
        crate::workers::run_due(&env.kms, env.clock.now()).unwrap(),
        0
    );
    let l = list_keys(&env.kms, &ctx, api::ListKeysRequest::default()).unwrap();
    assert_eq!(l.keys.unwrap().len(), 1);
}

#[test]
fn multi_region_primary_waits_for_replicas() {
    let env = Env::memory();
    let ctx = env.ctx();
    let md = create_key(
        &env.kms,
        &ctx,
        api::CreateKeyRequest {
            multi_region: Some(true),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .unwrap();
    let id = md.key_id;
    let acct = ctx.principal.account;
    let west = Region::parse("us-west-2").unwrap();
    // Make a replica in us-west-2 directly in the store (ReplicateKey is built elsewhere).
    env.kms
        .store
        .write(|t| {
            let mut shared = t.get_shared(acct, &id)?.unwrap();
            shared.replica_regions.push(west);
            t.put_shared(&shared)?;
            let mut rec = t.get_key(acct, ctx.region, &id)?.unwrap();
            rec.region = west;
            t.put_key(&rec)?;
            Ok(())
        })
        .unwrap();
    let wctx = env.ctx_for("111111111111", "us-west-2");

    let s = env.schedule(&ctx, &id, 7);
    assert_eq!(s.key_state, Some(api::KeyState::PendingReplicaDeletion));
    assert!(s.deletion_date.is_none());
    assert_eq!(s.pending_window_in_days, Some(7));
    let md = env.describe(&ctx, &id).unwrap();
    assert_eq!(md.key_state, Some(api::KeyState::PendingReplicaDeletion));
    assert_eq!(md.enabled, Some(false));
    assert_eq!(
        aws(enable(&env, &ctx, &id).unwrap_err()).1,
        format!("arn:aws:kms:us-east-1:111111111111:key/{id} is pending deletion.")
    );

    // The primary is not deleted however long we wait while the replica lives.
    env.clock.advance(Duration::days(40));
    crate::workers::run_due(&env.kms, env.clock.now()).unwrap();
    assert!(env.describe(&ctx, &id).is_ok());

    // Delete the replica: the primary's own window starts then.
    let r = env.schedule(&wctx, &id, 7);
    assert_eq!(r.key_state, Some(api::KeyState::PendingDeletion));
    env.clock.advance(Duration::days(7) + Duration::seconds(1));
    let t_replica_gone = env.clock.now();
    assert_eq!(
        crate::workers::run_due(&env.kms, t_replica_gone).unwrap(),
        2
    );
    assert_eq!(
        aws(env.describe(&wctx, &id).unwrap_err()).0,
        "NotFoundException"
    );
    let md = env.describe(&ctx, &id).unwrap();
    assert_eq!(md.key_state, Some(api::KeyState::PendingDeletion));
    assert_eq!(md.pending_deletion_window_in_days, Some(7));
    let dd = md.deletion_date.unwrap().0;
    assert!(
        (dd - t_replica_gone - Duration::days(7))
            .num_seconds()
            .abs()
            <= 1
    );
    assert_eq!(
        md.multi_region_configuration.unwrap().replica_keys,
        Some(vec![])
    );
    assert!(env
        .kms
        .store
        .read(|t| crate::store::read_shared(t, acct, &id))
        .unwrap()
        .is_some());

    env.clock.advance(Duration::days(8));
    assert_eq!(
        crate::workers::run_due(&env.kms, env.clock.now()).unwrap(),
        1
    );
    assert_eq!(
        aws(env.describe(&ctx, &id).unwrap_err()).0,
        "NotFoundException"
    );
    assert!(env
        .kms
        .store
        .read(|t| crate::store::read_shared(t, acct, &id))
        .unwrap()
        .is_none());
}

#[test]
fn restart_keeps_keys_and_material() {
    let dir = tempfile::tempdir().unwrap();
    let (id, md, blob) = {
        let env = Env::embedded(dir.path());
        let ctx = env.ctx();
        let md = create_key(
            &env.kms,
            &ctx,
            api::CreateKeyRequest {
                description: Some("persist".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .unwrap();
        let key = env
            .kms
            .store
            .get(ctx.principal.account, ctx.region, &md.key_id)
            .unwrap()
            .unwrap();
        let (mid, mat) = key.shared.current().unwrap();
        let header = crate::crypto::Header {
            account: ctx.principal.account,
            key_id: md.key_id.clone(),
            material_id: mid.to_owned(),
        };
        let blob = crate::crypto::encrypt(mat, &header, None, b"hello").unwrap();
        (md.key_id.clone(), md, blob)
    };
    let env = Env::embedded(dir.path());
    let ctx = env.ctx();
    assert_eq!(env.describe(&ctx, &id).unwrap(), md);
    let key = env
        .kms
        .store
        .get(ctx.principal.account, ctx.region, &id)
        .unwrap()
        .unwrap();
    let (header, len) = crate::crypto::parse_header(&blob).unwrap();
    let mat = key.shared.materials.get(&header.material_id).unwrap();
    assert_eq!(
        crate::crypto::decrypt(mat, &blob, len, None)
            .unwrap()
            .as_slice(),
        b"hello"
    );
}

/// The quota counter follows creations and deletions; AWS managed keys do not count; the
/// 100,001st customer key is refused with LimitExceededException.
#[test]
fn customer_key_quota_is_counted_not_scanned() {
    let env = Env::memory();
    let ctx = env.ctx();
    let count = || {
        env.kms
            .store
            .write(|t| t.customer_keys(ctx.principal.account, ctx.region))
            .unwrap()
    };
    let a = env.create(&ctx);
    let _b = env.create(&ctx);
    assert_eq!(count(), 2);
    crate::managed::managed_key(&env.kms, ctx.principal.account, ctx.region, "ebs").unwrap();
    assert_eq!(count(), 2, "AWS managed keys do not count");
    env.schedule(&ctx, &a, 7);
    env.clock.advance(chrono::Duration::days(8));
    crate::workers::run_due(&env.kms, kmsnap_core::Clock::now(env.clock.as_ref())).unwrap();
    assert_eq!(count(), 1);
    // Fill up to the quota without creating 100,000 keys: set the counter, then create.
    env.kms
        .store
        .write(|t| {
            t.raw().put(
                crate::store::T_COUNTS,
                format!("{}/{}", ctx.principal.account, ctx.region).as_bytes(),
                &(MAX_CUSTOMER_KEYS - 1).to_be_bytes(),
            )?;
            Ok(())
        })
        .unwrap();
    env.create(&ctx);
    let e = create_key(&env.kms, &ctx, api::CreateKeyRequest::default()).unwrap_err();
    assert!(matches!(e, KmsError::LimitExceeded(_)), "{e:?}");
}
