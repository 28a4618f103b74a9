//! Resolving a `KeyId` parameter (spec/kms.md §1): key id, key ARN, alias name, alias ARN.
//! Bare ids and alias names resolve in the caller's account and region only; another account's
//! key needs its ARN. A key ARN of another region names a key that does not exist here.

use crate::error::KmsError;
use crate::model::{alias_arn, key_arn};
use crate::store::{read_alias, KeyStore};
use kmsnap_core::{AccountId, Region};

/// What a KeyId parameter named, before lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Key { account: AccountId, region: Region, key_id: String },
    Alias { account: AccountId, region: Region, name: String },
}

/// Which forms an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Key id, key ARN, alias name, alias ARN (crypto ops, DescribeKey).
    KeyOrAlias,
    /// Key id or key ARN only (management ops).
    KeyOnly,
}

pub fn parse_key_ref(input: &str, caller: AccountId, region: Region, accept: Accept) -> Result<KeyRef, KmsError> {
    if let Some(rest) = input.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, r, acct, resource] = parts[..] else {
            return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
        };
        if partition != "aws" || service != "kms" {
            return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
        }
        let account = AccountId::parse(acct).map_err(|_| KmsError::InvalidArn(format!("Invalid arn {input}")))?;
        let arn_region = Region::parse(r).map_err(|_| KmsError::InvalidArn(format!("Invalid arn {input}")))?;
        if let Some(key_id) = resource.strip_prefix("key/") {
            if arn_region != region {
                return Err(KmsError::KeyNotFound { arn: input.to_owned() });
            }
            return Ok(KeyRef::Key { account, region, key_id: key_id.to_owned() });
        }
        if resource.starts_with("alias/") && accept == Accept::KeyOrAlias {
            if arn_region != region {
                return Err(KmsError::AliasNotFound { alias_arn: input.to_owned() });
            }
            return Ok(KeyRef::Alias { account, region, name: resource.to_owned() });
        }
        if resource.starts_with("alias/") {
            return Err(KmsError::KeyNotFound { arn: input.to_owned() });
        }
        return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
    }
    if input.starts_with("alias/") {
        if accept == Accept::KeyOnly {
            return Err(KmsError::KeyNotFound { arn: alias_arn(region, caller, input) });
        }
        return Ok(KeyRef::Alias { account: caller, region, name: input.to_owned() });
    }
    Ok(KeyRef::Key { account: caller, region, key_id: input.to_owned() })
}

/// Resolve to (account, region, key id) through the alias table when needed. The key itself is
/// not loaded; a missing key is the caller's NotFound to report.
pub fn resolve(store: &KeyStore, r: &KeyRef) -> Result<(AccountId, Region, String), KmsError> {
    match r {
        KeyRef::Key { account, region, key_id } => Ok((*account, *region, key_id.clone())),
        KeyRef::Alias { account, region, name } => {
            let alias = store.read(|txn| read_alias(txn, *account, *region, name))?;
            match alias {
                Some(a) => Ok((*account, *region, a.target_key_id)),
                None => Err(KmsError::AliasNotFound { alias_arn: alias_arn(*region, *account, name) }),
            }
        }
    }
}

/// The ARN to name in a NotFound for `r`.
pub fn not_found(r: &KeyRef) -> KmsError {
    match r {
        KeyRef::Key { account, region, key_id } => KmsError::KeyNotFound { arn: key_arn(*region, *account, key_id) },
        KeyRef::Alias { account, region, name } => KmsError::AliasNotFound { alias_arn: alias_arn(*region, *account, name) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[test]
    fn forms() {
        let r = Region::parse("ap-northeast-1").unwrap();
        let me = a("111111111111");
        assert_eq!(
            parse_key_ref("k1", me, r, Accept::KeyOnly).unwrap(),
            KeyRef::Key { account: me, region: r, key_id: "k1".into() }
        );
        assert_eq!(
            parse_key_ref("arn:aws:kms:ap-northeast-1:222222222222:key/k2", me, r, Accept::KeyOnly).unwrap(),
            KeyRef::Key { account: a("222222222222"), region: r, key_id: "k2".into() }
        );
        assert!(matches!(
            parse_key_ref("arn:aws:kms:us-west-2:111111111111:key/k2", me, r, Accept::KeyOnly),
            Err(KmsError::KeyNotFound { .. })
        ));
        assert!(matches!(parse_key_ref("alias/x", me, r, Accept::KeyOnly), Err(KmsError::KeyNotFound { .. })));
        assert_eq!(
            parse_key_ref("alias/x", me, r, Accept::KeyOrAlias).unwrap(),
            KeyRef::Alias { account: me, region: r, name: "alias/x".into() }
        );
        assert!(matches!(parse_key_ref("arn:aws:kms:nope", me, r, Accept::KeyOrAlias), Err(KmsError::InvalidArn(_))));
        assert!(matches!(parse_key_ref("arn:aws:s3:::bucket/x", me, r, Accept::KeyOrAlias), Err(KmsError::InvalidArn(_))));
    }
}
