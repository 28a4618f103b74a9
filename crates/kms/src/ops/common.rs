//! What every operation does first: parse the KeyId parameter, resolve aliases, load the key
//! (NotFound if absent), authorize the action, and check the key's state for the kind of use.

use crate::authz::{authorize, Ask};
use crate::model::{key_arn, KeyState};
use crate::resolve::{parse_key_ref, resolve, Accept, KeyRef};
use crate::store::LoadedKey;
use crate::{Kms, KmsError};
use kmsnap_auth::RequestContext;
use std::sync::Arc;

/// Load the key a `KeyId` parameter names and authorize `action` (the IAM action name without
/// `kms:`, e.g. `Encrypt`). A predefined AWS alias (`alias/aws/ebs` …) creates its AWS managed
/// key on first use, as AWS does.
pub fn load(kms: &Kms, ctx: &RequestContext, key_id: &str, accept: Accept, action: &str) -> Result<Arc<LoadedKey>, KmsError> {
    load_for(kms, ctx, key_id, accept, Ask::action(action))
}

/// [`load`] with everything authorization weighs beyond the action (encryption context, grant
/// tokens, CreateGrant's parameters). `kms:RequestAlias` is filled in here.
pub fn load_for(kms: &Kms, ctx: &RequestContext, key_id: &str, accept: Accept, ask: Ask<'_>) -> Result<Arc<LoadedKey>, KmsError> {
    let r = parse_key_ref(key_id, ctx.principal.account, ctx.region, accept)?;
    let (account, region, id) = match resolve(&kms.store, &r) {
        Ok(found) => found,
        Err(KmsError::AliasNotFound { alias_arn }) => match &r {
            KeyRef::Alias { account, region, name } if *account == ctx.principal.account => {
                match crate::managed::ensure_for_alias(kms, ctx, name)? {
                    Some(key_id) => (*account, *region, key_id),
                    None => return Err(KmsError::AliasNotFound { alias_arn }),
                }
            }
            _ => return Err(KmsError::AliasNotFound { alias_arn }),
        },
        Err(e) => return Err(e),
    };
    let key = kms.store.get(account, region, &id)?.ok_or_else(|| KmsError::KeyNotFound { arn: key_arn(region, account, &id) })?;
    crate::audit::note_key(&key.record.arn());
    let alias = match &r {
        KeyRef::Alias { name, .. } => Some(name.as_str()),
        KeyRef::Key { .. } => None,
    };
    authorize(kms, ctx, &key, &Ask { request_alias: alias.or(ask.request_alias), ..ask })?;
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
