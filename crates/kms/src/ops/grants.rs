//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant (docs/kms.md
//! §5 and §12). Records, tokens and matching are in [`crate::grants`]; authorization of the use
//! a grant allows is in [`crate::authz`].

use crate::authz::{authorize_account, identity_allows, Ask, GrantAsk};
use crate::grants::{self as g, MAX_GRANTS_PER_KEY};
use crate::keyspec::{KeyClass, KeyKind, KeyUsage};
use crate::model::{Constraints, GrantRecord};
use crate::ops::common::{load, load_for, require_crypto_usable};
use crate::resolve::{parse_key_ref, Accept, KeyRef};
use crate::{Kms, KmsError};
use base64::Engine as _;
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;
use kmsnap_auth::RequestContext;
use kmsnap_core::arn::Arn;
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Operations a grant may not list for a symmetric encryption key (they need an asymmetric or
/// HMAC key).
const NOT_FOR_SYMMETRIC: &[&str] = &[
    "Sign",
    "Verify",
    "GetPublicKey",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
];

/// What a grant on an asymmetric or HMAC key may list and carry (docs/kms-asymmetric.md §1c): the
/// operations its usage can do, and no encryption context constraint (those operations take
/// no encryption context).
fn check_non_symmetric_grant(
    kind: &KeyKind,
    operations: &[String],
    constraints: &Constraints,
) -> Result<(), KmsError> {
    if !constraints.is_empty() {
        return Err(validation("EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key."));
    }
    let by_usage: &[&str] = match kind.usage {
        KeyUsage::GenerateVerifyMac => &["GenerateMac", "VerifyMac"],
        KeyUsage::SignVerify => &["Sign", "Verify", "GetPublicKey"],
        KeyUsage::EncryptDecrypt => &[
            "Encrypt",
            "Decrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GetPublicKey",
        ],
        KeyUsage::KeyAgreement => &["DeriveSharedSecret", "GetPublicKey"],
        KeyUsage::EncapsulateDecapsulate => &["Encapsulate", "Decapsulate", "GetPublicKey"],
    };
    let valid: Vec<&str> = ["CreateGrant", "RetireGrant", "DescribeKey"]
        .into_iter()
        .chain(by_usage.iter().copied())
        .collect();
    let bad: Vec<&str> = operations
        .iter()
        .map(String::as_str)
        .filter(|o| !valid.contains(o))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    // The HMAC wording is observed (it says "symmetric"); the asymmetric one follows it.
    let class = if kind.spec.class() == KeyClass::Hmac {
        "symmetric"
    } else {
        "asymmetric"
    };
    Err(validation(format!(
        "Operations [{}] are not supported when creating a grant for a {class} KMS key with key usage {}. Valid operations are [{}]",
        bad.join(", "),
        kind.usage.as_str(),
        valid.join(", ")
    )))
}

fn validation(m: impl Into<String>) -> KmsError {
    KmsError::Validation(m.into())
}

/// A grantee or retiring principal: an IAM/STS ARN, an account id, or a service principal.
fn check_principal(p: &str, member: &str) -> Result<(), KmsError> {
    let arn_ok = Arn::parse(p).is_ok_and(|a| {
        a.partition == "aws" && matches!(a.service.as_str(), "iam" | "sts") && a.region.is_empty()
    });
    let account_ok = p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit());
    let service_ok = p.ends_with(".amazonaws.com") && !p.contains(char::is_whitespace);
    if (arn_ok || account_ok || service_ok) && p.len() <= 256 {
        Ok(())
    } else {
        Err(validation(format!("1 validation error detected: Value '{p}' at '{member}' failed to satisfy constraint: Member must be a valid principal")))
    }
}

fn check_grant_name(name: &str) -> Result<(), KmsError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )))
    }
}

fn check_grant_id(id: &str) -> Result<(), KmsError> {
    if g::is_grant_id(id) {
        Ok(())
    } else {
        Err(KmsError::InvalidGrantId("Invalid grant ID".into()))
    }
}

fn grant_not_found(id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant ID {id} not found"))
}

fn constraints_of(c: Option<api::GrantConstraints>) -> Result<Constraints, KmsError> {
    let Some(c) = c else {
        return Ok(Constraints::default());
    };
    if c.source_arn.is_some() {
        return Err(KmsError::NotImplemented(
            "CreateGrant with a SourceArn constraint",
        ));
    }
    if c.encryption_context_equals.is_some() && c.encryption_context_subset.is_some() {
        return Err(validation("A grant constraint can contain either EncryptionContextEquals or EncryptionContextSubset, but not both."));
    }
    // AWS's documented bounds (CreateGrant `Constraints`; docs/security.md, "Bounded requests"): a grant is
    // copied into the audit record of every call it authorizes, so it must stay small.
    for map in [&c.encryption_context_subset, &c.encryption_context_equals]
        .into_iter()
        .flatten()
    {
        if map.len() > MAX_CONSTRAINT_PAIRS
            || map
                .values()
                .any(|v| v.chars().count() > MAX_CONSTRAINT_VALUE_CHARS)
        {
            return Err(validation(format!(
                "Each grant constraint can include up to {MAX_CONSTRAINT_PAIRS} encryption context pairs, and each encryption context value can include up to {MAX_CONSTRAINT_VALUE_CHARS} characters."
            )));
        }
    }
    Ok(Constraints {
        subset: c.encryption_context_subset,
        equals: c.encryption_context_equals,
    })
}

/// Encryption context pairs in one grant constraint (AWS API reference, `GrantConstraints`).
const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Characters in one encryption context value of a grant constraint (same source).
const MAX_CONSTRAINT_VALUE_CHARS: usize = 384;

fn entry(rec: &GrantRecord) -> api::GrantListEntry {
    let map = |m: &Option<BTreeMap<String, String>>| m.clone();
    api::GrantListEntry {
        key_id: Some(crate::model::key_arn(rec.region, rec.account, &rec.key_id)),
        grant_id: Some(rec.grant_id.clone()),
        name: rec.name.clone(),
        creation_date: Some(Timestamp(rec.created)),
        grantee_principal: Some(rec.grantee.clone()),
        retiring_principal: rec.retiring.clone(),
        issuing_account: Some(rec.issuing_account.clone()),
        operations: Some(
            rec.operations
                .iter()
                .filter_map(|o| api::GrantOperation::from_wire(o))
                .collect(),
        ),
        constraints: (!rec.constraints.is_empty()).then(|| api::GrantConstraints {
            encryption_context_subset: map(&rec.constraints.subset),
            encryption_context_equals: map(&rec.constraints.equals),
            source_arn: None,
        }),
        grantee_service_principal: None,
        retiring_service_principal: None,
    }
}

/// `Limit` of the grant listings: 1–100, default 50.
fn check_limit(limit: Option<i32>) -> Result<usize, KmsError> {
    Ok(crate::ops::common::check_limit(limit, 1, 100)?.unwrap_or(50))
}

pub fn create_grant(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::CreateGrantRequest,
) -> Result<api::CreateGrantResponse, KmsError> {
    let grantee = match (input.grantee_principal, input.grantee_service_principal) {
        (Some(p), None) | (None, Some(p)) => p,
        (Some(_), Some(_)) => {
            return Err(validation(
                "Specify either GranteePrincipal or GranteeServicePrincipal, not both.",
            ))
        }
        (None, None) => {
            return Err(validation(
                "Either GranteePrincipal or GranteeServicePrincipal must be specified.",
            ))
        }
    };
    check_principal(&grantee, "granteePrincipal")?;
    let retiring = input
        .retiring_principal
        .or(input.retiring_service_principal);
    if let Some(r) = &retiring {
        check_principal(r, "retiringPrincipal")?;
    }
    if input.operations.is_empty() {
        return Err(validation("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1"));
    }
    let mut operations: Vec<String> = Vec::with_capacity(input.operations.len());
    for op in &input.operations {
        let op = op.as_str().to_owned();
        if !operations.contains(&op) {
            operations.push(op);
        }
    }
    if let Some(name) = &input.name {
        check_grant_name(name)?;
    }
    let constraints = constraints_of(input.constraints)?;
    let tokens = input.grant_tokens.unwrap_or_default();
    let ask = Ask {
        action: "CreateGrant",
        grant_tokens: &tokens,
        grant: Some(GrantAsk {
            operations: &operations,
            grantee: &grantee,
            retiring: retiring.as_deref(),
        }),
        ..Default::default()
    };
    let key = load_for(kms, ctx, &input.key_id, Accept::KeyOnly, ask)?;
    require_crypto_usable(&key)?;
    let shared = &key.shared.shared;
    if shared.key_usage == "ENCRYPT_DECRYPT" && shared.key_spec == "SYMMETRIC_DEFAULT" {
        if let Some(bad) = operations
            .iter()
            .find(|o| NOT_FOR_SYMMETRIC.contains(&o.as_str()))
        {
            return Err(validation(format!(
                "Grant operation {bad} is not valid for a symmetric encryption KMS key."
            )));
        }
    } else {
        check_non_symmetric_grant(
            &KeyKind::of_record(&shared.key_spec, &shared.key_usage)?,
            &operations,
            &constraints,
        )?;
    }
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    let r = &key.record;
    let now = kms.clock.now();
    let issuing_account = Arn::iam_root(ctx.principal.account.as_str()).to_string();
    let candidate = GrantRecord {
        account: r.account,
        region: r.region,
        key_id: r.key_id.clone(),
        grant_id: g::new_grant_id()?,
        name: input.name,
        created: now,
        grantee,
        retiring,
        issuing_account,
        operations,
        constraints,
    };
    let grant = kms.store.write(|txn| {
        let existing = g::read_for_key(txn.read_view(), r.account, r.region, &r.key_id)?;
        // Same name and same parameters: the same grant again (a new token), as AWS does.
        if candidate.name.is_some() {
            let same = |e: &&GrantRecord| {
                e.name == candidate.name
                    && e.grantee == candidate.grantee
                    && e.retiring == candidate.retiring
                    && e.operations == candidate.operations
                    && e.constraints == candidate.constraints
            };
            if let Some(e) = existing.iter().find(same) {
                crate::audit::note_response(&serde_json::json!({ "GrantId": e.grant_id }));
                return Ok(e.clone());
            }
        }
        if existing.len() >= MAX_GRANTS_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The number of grants on key {} exceeds the limit of {MAX_GRANTS_PER_KEY}.",
                r.arn()
            )));
        }
        txn.put_grant(&candidate)?;
        crate::audit::note_response(&serde_json::json!({ "GrantId": candidate.grant_id }));
        Ok(candidate.clone())
    })?;
    Ok(api::CreateGrantResponse {
        grant_token: Some(g::make_token(&grant)?),
        grant_id: Some(grant.grant_id),
    })
}

pub fn list_grants(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListGrantsRequest,
) -> Result<api::ListGrantsResponse, KmsError> {
    let limit = check_limit(input.limit)?;
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "ListGrants")?;
    if let Some(id) = &input.grant_id {
        check_grant_id(id)?;
    }
    let after = match &input.marker {
        Some(m) => Some(decode_marker(m)?),
        None => None,
    };
    let r = &key.record;
    let all = kms
        .store
        .read(|txn| g::read_for_key(txn, r.account, r.region, &r.key_id))?;
    let grantee = input
        .grantee_principal
        .as_deref()
        .or(input.grantee_service_principal.as_deref());
    let mut matching = all
        .iter()
        .filter(|rec| {
            input
                .grant_id
                .as_deref()
                .is_none_or(|id| rec.grant_id == id)
        })
        .filter(|rec| grantee.is_none_or(|p| rec.grantee == p))
        .filter(|rec| after.as_deref().is_none_or(|a| rec.grant_id.as_str() > a));
    let page: Vec<&GrantRecord> = matching.by_ref().take(limit).collect();
    let more = matching.next().is_some();
    Ok(api::ListGrantsResponse {
        next_marker: if more {
            page.last().map(|l| B64.encode(l.grant_id.as_bytes()))
        } else {
            None
        },
        truncated: Some(more),
        grants: Some(page.into_iter().map(entry).collect()),
    })
}

fn decode_marker(m: &str) -> Result<String, KmsError> {
    B64.decode(m)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(KmsError::InvalidMarker)
}

pub fn list_retirable_grants(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::ListRetirableGrantsRequest,
) -> Result<api::ListGrantsResponse, KmsError> {
    let limit = check_limit(input.limit)?;
    let retiring = input.retiring_principal.ok_or_else(|| {
        validation("1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null")
    })?;
    check_principal(&retiring, "retiringPrincipal")?;
    authorize_account(kms, ctx, &Ask::action("ListRetirableGrants"))?;
    let after = match &input.marker {
        Some(m) => Some(B64.decode(m).map_err(|_| KmsError::InvalidMarker)?),
        None => None,
    };
    let rows = kms
        .store
        .read(|txn| g::read_retirable(txn, ctx.region, &retiring, after.as_deref(), limit + 1))?;
    let more = rows.len() > limit;
    let page = &rows[..rows.len().min(limit)];
    Ok(api::ListGrantsResponse {
        next_marker: if more {
            page.last().map(|(k, _)| B64.encode(k))
        } else {
            None
        },
        truncated: Some(more),
        grants: Some(page.iter().map(|(_, rec)| entry(rec)).collect()),
    })
}

pub fn retire_grant(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::RetireGrantRequest,
) -> Result<(), KmsError> {
    let (account, region, key_id, grant_id) = match (
        input.grant_token.as_deref(),
        input.key_id.as_deref(),
        input.grant_id.as_deref(),
    ) {
        (Some(t), _, _) => {
            let t = g::parse_token(t)?;
            (t.account, t.region, t.key_id, t.grant_id)
        }
        (None, Some(k), Some(id)) => {
            check_grant_id(id)?;
            match parse_key_ref(k, ctx.principal.account, ctx.region, Accept::KeyOnly)? {
                KeyRef::Key {
                    account,
                    region,
                    key_id,
                } => (account, region, key_id, id.to_owned()),
                KeyRef::Alias { .. } => return Err(KmsError::KeyNotFound { arn: k.to_owned() }),
            }
        }
        _ => {
            return Err(validation(
                "Either GrantToken, or both KeyId and GrantId, must be specified.",
            ))
        }
    };
    let key = kms
        .store
        .get(account, region, &key_id)?
        .ok_or_else(|| KmsError::KeyNotFound {
            arn: crate::model::key_arn(region, account, &key_id),
        })?;
    let grant = kms
        .store
        .read(|txn| g::read_one(txn, account, region, &key_id, &grant_id))?
        .ok_or_else(|| grant_not_found(&grant_id))?;
    let p = &ctx.principal;
    let retiring = grant
        .retiring
        .as_deref()
        .is_some_and(|r| g::names_principal(r, p));
    let grantee = grant.allows_operation("RetireGrant") && g::names_principal(&grant.grantee, p);
    let issuer = grant.issuing_account_id() == p.account.as_str()
        && identity_allows(kms, ctx, "RetireGrant", &key.record.arn())?;
    if !(retiring || grantee || issuer) {
        return Err(KmsError::AccessDenied(format!(
            "User: {} is not authorized to perform: kms:RetireGrant on resource: {}",
            p.arn,
            key.record.arn()
        )));
    }
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    delete(kms, &grant)
}

pub fn revoke_grant(
    kms: &Kms,
    ctx: &RequestContext,
    input: api::RevokeGrantRequest,
) -> Result<(), KmsError> {
    let key = load(kms, ctx, &input.key_id, Accept::KeyOnly, "RevokeGrant")?;
    check_grant_id(&input.grant_id)?;
    let r = &key.record;
    let grant = kms
        .store
        .read(|txn| g::read_one(txn, r.account, r.region, &r.key_id, &input.grant_id))?
        .ok_or_else(|| grant_not_found(&input.grant_id))?;
    if input.dry_run == Some(true) {
        return Err(KmsError::DryRun);
    }
    delete(kms, &grant)
}

fn delete(kms: &Kms, grant: &GrantRecord) -> Result<(), KmsError> {
    kms.store.write(|txn| {
        if g::read_one(
            txn.read_view(),
            grant.account,
            grant.region,
            &grant.key_id,
            &grant.grant_id,
        )?
        .is_none()
        {
            return Err(grant_not_found(&grant.grant_id));
        }
        txn.delete_grant(grant)
    })
}
