//! What every operation does first: parse the KeyId parameter, resolve aliases, load the key
//! (NotFound if absent), authorize the action, and check the key's state for the kind of use;
//! and what several families share: parameter validation and the re-read-and-update of a key's
//! regional record.

use crate::asym::SecretKey;
use crate::authz::{authorize, Ask};
use crate::keyspec::{KeyKind, KeyUsage};
use crate::model::{key_arn, KeyRecord, KeyState};
use crate::resolve::{parse_key_ref, resolve, Accept, KeyRef};
use crate::store::{KmsTxn, LoadedKey};
use crate::{Kms, KmsError};
use kmsnap_auth::RequestContext;
use std::sync::Arc;

/// Load the key a `KeyId` parameter names and authorize `action` (the IAM action name without
/// `kms:`, e.g. `Encrypt`). A predefined AWS alias (`alias/aws/ebs` …) creates its AWS managed
/// key on first use, as AWS does.
pub fn load(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    accept: Accept,
    action: &str,
) -> Result<Arc<LoadedKey>, KmsError> {
    load_for(kms, ctx, key_id, accept, Ask::action(action))
}

/// [`load`] with everything authorization weighs beyond the action (encryption context, grant
/// tokens, CreateGrant's parameters). `kms:RequestAlias` is filled in here.
pub fn load_for(
    kms: &Kms,
    ctx: &RequestContext,
    key_id: &str,
    accept: Accept,
    ask: Ask<'_>,
) -> Result<Arc<LoadedKey>, KmsError> {
    let r = parse_key_ref(key_id, ctx.principal.account, ctx.region, accept)?;
    let (account, region, id) = match resolve(&kms.store, &r) {
        Ok(found) => found,
        Err(KmsError::AliasNotFound { alias_arn }) => match &r {
            KeyRef::Alias {
                account,
                region,
                name,
            } if *account == ctx.principal.account => {
                match crate::managed::ensure_for_alias(kms, ctx, name)? {
                    Some(key_id) => (*account, *region, key_id),
                    None => return Err(KmsError::AliasNotFound { alias_arn }),
                }
            }
            _ => return Err(KmsError::AliasNotFound { alias_arn }),
        },
        Err(e) => return Err(e),
    };
    let key = kms
        .store
        .get(account, region, &id)?
        .ok_or_else(|| KmsError::KeyNotFound {
            arn: key_arn(region, account, &id),
        })?;
    crate::audit::note_key(&key.record.arn());
    let alias = match &r {
        KeyRef::Alias { name, .. } => Some(name.as_str()),
        KeyRef::Key { .. } => None,
    };
    authorize(
        kms,
        ctx,
        &key,
        &Ask {
            request_alias: alias.or(ask.request_alias),
            ..ask
        },
    )?;
    Ok(key)
}

/// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*: Enabled (or Updating) only.
pub fn require_crypto_usable(key: &LoadedKey) -> Result<(), KmsError> {
    let arn = key.record.arn();
    match key.record.state {
        KeyState::Enabled | KeyState::Updating => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled { arn }),
        state => Err(KmsError::InvalidState { arn, state }),
    }
}

/// The key's usage must be `usage` for operation `op`, else InvalidKeyUsageException in AWS's
/// words (docs/kms-asymmetric.md §2). Returns the key's kind.
pub fn require_usage(key: &LoadedKey, usage: KeyUsage, op: &str) -> Result<KeyKind, KmsError> {
    let s = &key.shared.shared;
    let kind = KeyKind::of_record(&s.key_spec, &s.key_usage)?;
    if kind.usage != usage {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} key usage is {} which is not valid for {op}.",
            key.record.arn(),
            s.key_usage
        )));
    }
    Ok(kind)
}

/// `Algorithm <ALG> is incompatible with key spec <SPEC>.` (InvalidKeyUsageException).
pub fn incompatible_algorithm(alg: &str, kind: KeyKind) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "Algorithm {alg} is incompatible with key spec {}.",
        kind.spec.as_str()
    ))
}

/// The loaded private (or HMAC) key of a usable asymmetric or HMAC key. A usable key always has
/// one (only a key pending import has none, and that state is refused first).
pub fn secret_of(key: &LoadedKey) -> Result<&SecretKey, KmsError> {
    key.shared.secret.as_ref().ok_or_else(|| {
        tracing::error!(key = %key.record.arn(), "usable key without its private key");
        KmsError::Internal("no private key")
    })
}

/// A ValidationException worded like AWS's front end (`1 validation error detected: Value 'x'
/// at 'path' failed to satisfy constraint: Member must …`).
pub fn validation(value: &str, path: &str, constraint: &str) -> KmsError {
    KmsError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    ))
}

/// Checks a `Limit` parameter against `min..=max`; returns it as a usize when given.
pub fn check_limit(limit: Option<i32>, min: i32, max: i32) -> Result<Option<usize>, KmsError> {
    match limit {
        None => Ok(None),
        Some(l) if l < min => Err(validation(
            &l.to_string(),
            "limit",
            &format!("Member must have value greater than or equal to {min}"),
        )),
        Some(l) if l > max => Err(validation(
            &l.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(l) => Ok(Some(
            usize::try_from(l).map_err(|_| KmsError::Internal("limit"))?,
        )),
    }
}

/// Re-read `rec`'s key inside one write transaction, let `f` check and change it, and store it.
/// A key deleted since it was loaded is NotFound.
pub fn update_record<R>(
    kms: &Kms,
    rec: &KeyRecord,
    f: impl FnOnce(&mut KeyRecord, &mut KmsTxn<'_>) -> Result<R, KmsError>,
) -> Result<R, KmsError> {
    let (account, region, key_id) = (rec.account, rec.region, rec.key_id.clone());
    kms.store.write(|txn| {
        let mut fresh =
            txn.get_key(account, region, &key_id)?
                .ok_or_else(|| KmsError::KeyNotFound {
                    arn: key_arn(region, account, &key_id),
                })?;
        let r = f(&mut fresh, txn)?;
        txn.put_key(&fresh)?;
        Ok(r)
    })
}

/// TagResource/UntagResource/UpdateKeyDescription/CreateAlias refuse only pending deletion.
pub fn require_not_pending_deletion(rec: &KeyRecord) -> Result<(), KmsError> {
    if rec.state.is_pending_deletion() {
        return Err(KmsError::InvalidState {
            arn: rec.arn(),
            state: rec.state,
        });
    }
    Ok(())
}
