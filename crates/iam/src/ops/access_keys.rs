//! CreateAccessKey, DeleteAccessKey, ListAccessKeys: long-term keys of IAM users. A user has
//! at most [`MAX_KEYS_PER_USER`] keys; the secret is returned once, by CreateAccessKey, and
//! stored only sealed. A deleted key stops authenticating at once (the keyring reads the store
//! on every request signed with an IAM key).

use kmsnap_api::gen::iam as api;

use super::entity::{authorized, existing};
use super::paginate;
use crate::model::{
    name_key, new_access_key_id, timestamp, AccessKeyRecord, KeyStatus, UserRecord,
};
use crate::secret::SecretSealer;
use crate::store::audit_json;
use crate::validate::Problems;
use crate::{AuditNote, Iam, IamError};
use kmsnap_auth::RequestContext;

/// AWS's quota `AccessKeysPerUser`.
pub const MAX_KEYS_PER_USER: usize = 2;

fn status_shape(s: KeyStatus) -> api::statusType {
    match s {
        KeyStatus::Active => api::statusType::Active,
        KeyStatus::Inactive => api::statusType::Inactive,
    }
}

fn metadata(k: &AccessKeyRecord) -> api::AccessKeyMetadata {
    api::AccessKeyMetadata {
        user_name: Some(k.user_name.clone()),
        access_key_id: Some(k.access_key_id.clone()),
        status: Some(status_shape(k.status)),
        create_date: Some(timestamp(k.created_ms)),
    }
}

fn check_user_name(p: &mut Problems, name: Option<&str>) {
    if let Some(n) = name {
        p.name(n, "userName");
    }
}

pub fn create_access_key(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::CreateAccessKeyRequest,
) -> Result<api::CreateAccessKeyResponse, IamError> {
    let note = AuditNote::new(ctx, "CreateAccessKey", &input);
    iam.audited(note, |iam, note| {
        let name = Iam::user_for_call(ctx, input.user_name.as_deref())?;
        authorized::<UserRecord>(iam, ctx, "CreateAccessKey", &name)?;
        let account = ctx.principal.account;
        let mut w = iam.store.write()?;
        let user: UserRecord = existing(w.as_ref(), ctx, &name)?;
        if w.access_keys(account, &user.name)?.len() >= MAX_KEYS_PER_USER {
            return Err(IamError::AccessKeyQuota {
                user: user.name,
                limit: MAX_KEYS_PER_USER,
            });
        }
        let mut access_key_id = new_access_key_id()?;
        while w.access_key(&access_key_id)?.is_some() {
            access_key_id = new_access_key_id()?;
        }
        let secret = SecretSealer::generate()?;
        let key = AccessKeyRecord {
            sealed_secret: iam.sealer.seal(&access_key_id, &secret)?,
            access_key_id,
            account,
            user_name: user.name,
            status: KeyStatus::Active,
            created_ms: ctx.now.timestamp_millis(),
        };
        w.put_access_key(&key)?;
        // The audit record gets the key's metadata, never its secret.
        note.response = serde_json::json!({ "AccessKey": audit_json(&metadata(&key)) });
        w.commit(note)?;
        Ok(api::CreateAccessKeyResponse {
            access_key: api::AccessKey {
                user_name: key.user_name,
                access_key_id: key.access_key_id,
                status: status_shape(key.status),
                secret_access_key: secret.expose().to_owned(),
                create_date: Some(timestamp(key.created_ms)),
            },
        })
    })
}

pub fn delete_access_key(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::DeleteAccessKeyRequest,
) -> Result<(), IamError> {
    let note = AuditNote::new(ctx, "DeleteAccessKey", &input);
    iam.audited(note, |iam, note| {
        let mut p = Problems::new();
        check_user_name(&mut p, input.user_name.as_deref());
        p.access_key_id(&input.access_key_id, "accessKeyId");
        p.finish()?;
        let name = Iam::user_for_call(ctx, input.user_name.as_deref())?;
        authorized::<UserRecord>(iam, ctx, "DeleteAccessKey", &name)?;
        let account = ctx.principal.account;
        let mut w = iam.store.write()?;
        let user: UserRecord = existing(w.as_ref(), ctx, &name)?;
        let key = w
            .access_key(&input.access_key_id)?
            .filter(|k| k.account == account && name_key(&k.user_name) == name_key(&user.name))
            .ok_or_else(|| IamError::NoSuchAccessKey {
                access_key_id: input.access_key_id.clone(),
            })?;
        w.delete_access_key(&key)?;
        w.commit(note)
    })
}

pub fn list_access_keys(
    iam: &Iam,
    ctx: &RequestContext,
    input: api::ListAccessKeysRequest,
) -> Result<api::ListAccessKeysResponse, IamError> {
    let mut p = Problems::new();
    check_user_name(&mut p, input.user_name.as_deref());
    super::check_marker(&mut p, input.marker.as_deref());
    p.finish()?;
    let name = Iam::user_for_call(ctx, input.user_name.as_deref())?;
    let user: UserRecord = authorized(iam, ctx, "ListAccessKeys", &name)?;
    let keys = iam.store.read()?.access_keys(user.account, &user.name)?;
    let page = paginate(
        keys,
        |k| k.access_key_id.clone(),
        input.marker.as_deref(),
        input.max_items,
    );
    Ok(api::ListAccessKeysResponse {
        is_truncated: page.is_truncated(),
        access_key_metadata: page.items.iter().map(metadata).collect(),
        marker: page.marker,
    })
}
