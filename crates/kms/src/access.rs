//! Who may use a key — for now, exactly what the *default* key policies allow (spec/kms.md §7),
//! and nothing that they deny:
//!
//! * a customer managed key: principals of its own account (the default policy's root
//!   statement); another account is denied;
//! * an AWS managed key: its own account, and for anything but metadata reads (`Describe*`,
//!   `Get*`, `List*`, `RevokeGrant`) only through its service (`kms:ViaService`).
//!
//! The access-control issue replaces this with evaluation of the stored key policy, identity
//! policies and grants; until then a custom policy that admits another account is stored and
//! returned but not yet honoured (the other account is denied, never wrongly allowed).

use crate::error::KmsError;
use crate::model::{KeyManager, KeyRecord};
use kmsnap_auth::RequestContext;

/// Metadata actions the AWS managed keys' second statement allows directly.
fn is_metadata_action(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("Get") || action.starts_with("List") || action == "RevokeGrant"
}

pub fn authorize(ctx: &RequestContext, key: &KeyRecord, action: &str) -> Result<(), KmsError> {
    let deny = || {
        KmsError::AccessDenied(format!(
            "User: {} is not authorized to perform: kms:{action} on resource: {} because no resource-based policy allows the kms:{action} action",
            ctx.principal.arn,
            key.arn()
        ))
    };
    if ctx.principal.account != key.account {
        return Err(deny());
    }
    match key.manager {
        KeyManager::Customer => Ok(()),
        KeyManager::Aws => {
            if is_metadata_action(action) {
                return Ok(());
            }
            let service = key.aws_service.as_deref().unwrap_or("");
            let wanted = format!("{service}.{}.amazonaws.com", key.region);
            let via_ok = ctx
                .via_service
                .as_deref()
                .is_some_and(|v| v == wanted || v == format!("{service}.amazonaws.com") || (service == "ebs" && v.starts_with("ec2.")));
            if via_ok && matches!(action, "Encrypt" | "Decrypt" | "ReEncryptFrom" | "ReEncryptTo" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "CreateGrant" | "DescribeKey" | "ListGrants") {
                Ok(())
            } else {
                Err(deny())
            }
        }
    }
}
