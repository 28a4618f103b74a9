//! Key status for services that keep data under a KMS key (docs/managed-storage.md §5): whether
//! a key ARN is enabled, pending deletion or gone, and who manages it, read from the caller's
//! transaction. A read of KMS's own state, not a KMS call: no authorization, no CloudTrail
//! event, so a service's worker may watch its keys every tick (docs/rds.md §8). Anything a
//! caller does *with* a key still goes through the KMS API as that caller.

use crate::error::KmsError;
use crate::model::{KeyManager, KeyState};
use crate::store::read_key;
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::ReadTxn;

/// What a service may learn of a key without using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStatus {
    pub state: KeyState,
    pub manager: KeyManager,
}

impl KeyStatus {
    pub fn enabled(&self) -> bool {
        self.state == KeyState::Enabled
    }

    /// Scheduled for deletion (a primary or a replica).
    pub fn pending_deletion(&self) -> bool {
        matches!(
            self.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }

    /// An AWS managed key (`aws/…`).
    pub fn aws_managed(&self) -> bool {
        self.manager == KeyManager::Aws
    }
}

/// (account, region, key id) of a key ARN (`arn:aws:kms:{region}:{account}:key/{id}`).
fn key_arn_parts(arn: &str) -> Option<(AccountId, Region, String)> {
    let a = Arn::parse(arn).ok()?;
    if a.partition != "aws" || a.service != "kms" {
        return None;
    }
    let key_id = a.kms_key_id()?.to_owned();
    Some((
        AccountId::parse(&a.account).ok()?,
        Region::parse(&a.region).ok()?,
        key_id,
    ))
}

/// The status of the key `key_arn` names, as `txn` sees it; `None` when there is no such key
/// (deleted, never created, or not a key ARN).
pub fn key_status(txn: &dyn ReadTxn, key_arn: &str) -> Result<Option<KeyStatus>, KmsError> {
    let Some((account, region, key_id)) = key_arn_parts(key_arn) else {
        return Ok(None);
    };
    Ok(read_key(txn, account, region, &key_id)?.map(|k| KeyStatus {
        state: k.state,
        manager: k.manager,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsupport::{KeySetup, TestKms, ACCOUNT, REGION};

    #[test]
    fn key_arns_parse() {
        let (a, r, k) = key_arn_parts(
            "arn:aws:kms:eu-central-1:369036903690:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        assert_eq!(
            (a.as_str(), r.as_str(), k.as_str()),
            (
                "369036903690",
                "eu-central-1",
                "1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        );
        assert!(key_arn_parts("arn:aws:kms:eu-central-1:369036903690:alias/x").is_none());
        assert!(key_arn_parts("arn:aws:rds:eu-central-1:369036903690:key/x").is_none());
        assert!(key_arn_parts("1234abcd").is_none());
    }

    /// The status follows the key's state and manager; a missing key or a non-key ARN is none.
    #[test]
    fn status_of_a_key_arn() {
        let t = TestKms::new().unwrap();
        let status = |arn: &str| {
            let arn = arn.to_owned();
            t.kms.store.read(move |txn| key_status(txn, &arn)).unwrap()
        };
        for (state, enabled, pending) in [
            (KeyState::Enabled, true, false),
            (KeyState::Disabled, false, false),
            (KeyState::PendingDeletion, false, true),
        ] {
            let id = t.put_key_in_state(state).unwrap();
            let s = status(&t.arn(ACCOUNT, REGION, &id).unwrap()).unwrap();
            assert_eq!(
                (s.state, s.enabled(), s.pending_deletion(), s.aws_managed()),
                (state, enabled, pending, false)
            );
        }
        let id = t
            .put_key(&KeySetup {
                manager: KeyManager::Aws,
                ..KeySetup::default()
            })
            .unwrap();
        assert!(status(&t.arn(ACCOUNT, REGION, &id).unwrap())
            .unwrap()
            .aws_managed());
        assert_eq!(
            status(&t.arn(ACCOUNT, REGION, "no-such-key").unwrap()),
            None
        );
        assert_eq!(status("alias/aws/rds"), None);
    }
}
