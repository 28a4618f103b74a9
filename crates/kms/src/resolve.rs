//! Resolving a `KeyId` parameter (docs/kms.md §1): key id, key ARN, alias name, alias ARN.
//! Bare ids and alias names resolve in the caller's account and region only; another account's
//! key needs its ARN.
//!
//! What each malformed or foreign form answers is AWS's recorded behaviour (docs/fidelity.md §3):
//! a key id that is neither a UUID nor `mrk-` + 32 hex digits — bare, inside a key ARN, or an
//! alias given where only keys are accepted — is `Invalid keyId '<id>'`, never an ARN built
//! around it; a key ARN of another region is `Invalid arn <region>`.

use crate::error::KmsError;
use crate::model::{alias_arn, key_arn};
use crate::store::{read_alias, KeyStore};
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};

/// What a KeyId parameter named, before lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Key {
        account: AccountId,
        region: Region,
        key_id: String,
    },
    Alias {
        account: AccountId,
        region: Region,
        name: String,
    },
}

/// Which forms an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Key id, key ARN, alias name, alias ARN (crypto ops, DescribeKey).
    KeyOrAlias,
    /// Key id or key ARN only (management ops).
    KeyOnly,
}

pub fn parse_key_ref(
    input: &str,
    caller: AccountId,
    region: Region,
    accept: Accept,
) -> Result<KeyRef, KmsError> {
    if input.starts_with("arn:") {
        let invalid = || KmsError::InvalidArn(format!("Invalid arn {input}"));
        let arn = Arn::parse(input).map_err(|_| invalid())?;
        let (r, resource) = (arn.region.as_str(), arn.resource.as_str());
        if arn.partition != "aws" || arn.service != "kms" {
            return Err(invalid());
        }
        let account = AccountId::parse(&arn.account).map_err(|_| invalid())?;
        // Not `kms_key_id()`: `key/` with nothing after it is an invalid key id, not an
        // invalid ARN.
        if let Some(key_id) = resource.strip_prefix("key/") {
            // Any other region, known or not, is answered the same way.
            if r != region.as_str() {
                return Err(KmsError::ArnOfOtherRegion {
                    region: r.to_owned(),
                });
            }
            check_key_id(key_id)?;
            return Ok(KeyRef::Key {
                account,
                region,
                key_id: key_id.to_owned(),
            });
        }
        let arn_region = Region::parse(r).map_err(|_| invalid())?;
        if resource.starts_with("alias/") && accept == Accept::KeyOrAlias {
            if arn_region != region {
                return Err(KmsError::AliasNotFound {
                    alias_arn: input.to_owned(),
                });
            }
            return Ok(KeyRef::Alias {
                account,
                region,
                name: resource.to_owned(),
            });
        }
        if resource.starts_with("alias/") {
            // Like an alias name where only keys are accepted (see parse_key_ref's end).
            return Err(KmsError::InvalidKeyId {
                key_id: input.to_owned(),
            });
        }
        return Err(invalid());
    }
    if input.starts_with("alias/") && accept == Accept::KeyOrAlias {
        return Ok(KeyRef::Alias {
            account: caller,
            region,
            name: input.to_owned(),
        });
    }
    // An alias name where only keys are accepted is judged as a key id, and is not one.
    check_key_id(input)?;
    Ok(KeyRef::Key {
        account: caller,
        region,
        key_id: input.to_owned(),
    })
}

/// Whether `id` has the shape of a KMS key id: a UUID (`8-4-4-4-12` hex digits) or a
/// multi-Region key id (`mrk-` + 32 hex digits). AWS answers anything else before looking it up.
pub fn is_key_id(id: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = id.strip_prefix("mrk-") {
        return hex(rest, 32);
    }
    let groups: Vec<&str> = id.split('-').collect();
    matches!(groups.as_slice(), [a, b, c, d, e] if hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12))
}

fn check_key_id(id: &str) -> Result<(), KmsError> {
    if is_key_id(id) {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyId {
            key_id: id.to_owned(),
        })
    }
}

/// Resolve to (account, region, key id) through the alias table when needed. The key itself is
/// not loaded; a missing key is the caller's NotFound to report.
pub fn resolve(store: &KeyStore, r: &KeyRef) -> Result<(AccountId, Region, String), KmsError> {
    match r {
        KeyRef::Key {
            account,
            region,
            key_id,
        } => Ok((*account, *region, key_id.clone())),
        KeyRef::Alias {
            account,
            region,
            name,
        } => {
            let alias = store.read(|txn| read_alias(txn, *account, *region, name))?;
            match alias {
                Some(a) => Ok((*account, *region, a.target_key_id)),
                None => Err(KmsError::AliasNotFound {
                    alias_arn: alias_arn(*region, *account, name),
                }),
            }
        }
    }
}

/// The ARN to name in a NotFound for `r`.
pub fn not_found(r: &KeyRef) -> KmsError {
    match r {
        KeyRef::Key {
            account,
            region,
            key_id,
        } => KmsError::KeyNotFound {
            arn: key_arn(*region, *account, key_id),
        },
        KeyRef::Alias {
            account,
            region,
            name,
        } => KmsError::AliasNotFound {
            alias_arn: alias_arn(*region, *account, name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    const K1: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn forms() {
        let r = Region::parse("ap-northeast-1").unwrap();
        let me = a("111111111111");
        assert_eq!(
            parse_key_ref(K1, me, r, Accept::KeyOnly).unwrap(),
            KeyRef::Key {
                account: me,
                region: r,
                key_id: K1.into()
            }
        );
        let mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
        assert_eq!(
            parse_key_ref(
                &format!("arn:aws:kms:ap-northeast-1:222222222222:key/{mrk}"),
                me,
                r,
                Accept::KeyOnly
            )
            .unwrap(),
            KeyRef::Key {
                account: a("222222222222"),
                region: r,
                key_id: mrk.into()
            }
        );
        assert_eq!(
            parse_key_ref(
                &format!("arn:aws:kms:us-west-2:111111111111:key/{K1}"),
                me,
                r,
                Accept::KeyOnly
            ),
            Err(KmsError::ArnOfOtherRegion {
                region: "us-west-2".into()
            })
        );
        assert_eq!(
            parse_key_ref("alias/x", me, r, Accept::KeyOnly),
            Err(KmsError::InvalidKeyId {
                key_id: "alias/x".into()
            })
        );
        assert_eq!(
            parse_key_ref("alias/x", me, r, Accept::KeyOrAlias).unwrap(),
            KeyRef::Alias {
                account: me,
                region: r,
                name: "alias/x".into()
            }
        );
        assert!(matches!(
            parse_key_ref("arn:aws:kms:nope", me, r, Accept::KeyOrAlias),
            Err(KmsError::InvalidArn(_))
        ));
        assert!(matches!(
            parse_key_ref("arn:aws:s3:::bucket/x", me, r, Accept::KeyOrAlias),
            Err(KmsError::InvalidArn(_))
        ));
    }

    /// LocalStack's AWS-validated snapshots (tests/aws/services/kms/test_kms.snapshot.json,
    /// `test_get_key_invalid_uuid`): these are "Invalid keyId '<id>'".
    #[test]
    fn malformed_key_ids_are_refused_before_lookup() {
        let r = Region::parse("us-east-1").unwrap();
        let me = a("111111111111");
        for bad in [
            "fake-key-id",
            "134f2428cec14b25a1ae9048164dba47",
            "mrk-fake-key-id",
            "",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "mrk-1234abcd12ab34cd56ef1234567890abc",
        ] {
            for accept in [Accept::KeyOnly, Accept::KeyOrAlias] {
                assert_eq!(
                    parse_key_ref(bad, me, r, accept),
                    Err(KmsError::InvalidKeyId { key_id: bad.into() }),
                    "{bad}"
                );
            }
            let arn = format!("arn:aws:kms:us-east-1:111111111111:key/{bad}");
            assert_eq!(
                parse_key_ref(&arn, me, r, Accept::KeyOnly),
                Err(KmsError::InvalidKeyId { key_id: bad.into() }),
                "{arn}"
            );
        }
        for good in [
            K1,
            "134F2428-CEC1-4B25-A1AE-9048164DBA47",
            "mrk-d3b95762d3b95762d3b95762d3b95762",
        ] {
            assert!(is_key_id(good), "{good}");
        }
    }
}
