//! Test support (hidden from docs, not for production code): a [`Kms`] over an in-memory store
//! with a fixed root key and a [`ManualClock`], request contexts for a root caller, and keys
//! written *directly through the store* — so that tests of one operation family do not depend on
//! CreateKey, ReplicateKey or RotateKeyOnDemand being built.
//!
//! Everything returns `Result` (the crate forbids `unwrap` outside `#[cfg(test)]`); tests simply
//! `.unwrap()` it.
//!
//! ```ignore
//! let t = TestKms::new()?;
//! let key_id = t.put_key(&KeySetup::default())?;
//! let ctx = t.ctx();
//! ```

use crate::crypto::Material;
use crate::model::*;
use crate::store::LoadedKey;
use crate::{Kms, KmsError};
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, Clock, ManualClock, Region, RootKey};
use std::sync::Arc;

/// The account and region tests act in unless they say otherwise.
pub const ACCOUNT: &str = "111111111111";
pub const REGION: &str = "ap-northeast-1";
/// A second account (for cross-account tests) and region (for multi-region tests).
pub const OTHER_ACCOUNT: &str = "222222222222";
pub const OTHER_REGION: &str = "us-west-2";

/// The fixed root key of every test Kms.
pub const ROOT_KEY: [u8; 32] = [7u8; 32];

fn account(s: &str) -> Result<AccountId, KmsError> {
    AccountId::parse(s).map_err(|_| KmsError::Internal("testsupport: bad account"))
}

fn region(s: &str) -> Result<Region, KmsError> {
    Region::parse(s).map_err(|_| KmsError::Internal("testsupport: bad region"))
}

/// A Kms over `kmsnap_store::open_memory()` and the clock that drives it.
pub struct TestKms {
    pub kms: Kms,
    pub clock: Arc<ManualClock>,
}

/// How [`TestKms::put_key`] makes a key. `Default`: a single-region, Enabled, customer managed
/// symmetric key in [`ACCOUNT`] / [`REGION`] with one material version.
#[derive(Debug, Clone)]
pub struct KeySetup {
    pub account: String,
    pub region: String,
    pub state: KeyState,
    pub manager: KeyManager,
    /// For AWS managed keys: `ebs`, `rds`, `backup`.
    pub aws_service: Option<String>,
    pub multi_region: bool,
    pub description: String,
}

impl Default for KeySetup {
    fn default() -> Self {
        KeySetup {
            account: ACCOUNT.into(),
            region: REGION.into(),
            state: KeyState::Enabled,
            manager: KeyManager::Customer,
            aws_service: None,
            multi_region: false,
            description: String::new(),
        }
    }
}

/// The default key policy (docs/kms.md §7): the account's root may do anything.
pub fn simple_policy(account: AccountId) -> String {
    crate::ops::policies::default_key_policy(account)
}

/// Create a key in `kms` through the store (no CreateKey): its regional record and its shared
/// record with one fresh material version. Returns the key id (`mrk-…` for a multi-region key).
pub fn put_key(kms: &Kms, setup: &KeySetup) -> Result<String, KmsError> {
    let account = account(&setup.account)?;
    let region = region(&setup.region)?;
    let key_id = if setup.multi_region {
        format!(
            "mrk-{}",
            kmsnap_core::ids::random_hex(16).map_err(|_| KmsError::Internal("rng"))?
        )
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let now = kms.clock.now();
    let (material_id, material) = Material::generate()?;
    let wrapped = kms
        .store
        .wrapper()
        .wrap(account, &key_id, &material_id, &material)?;
    let record = KeyRecord {
        account,
        region,
        key_id: key_id.clone(),
        created: now,
        description: setup.description.clone(),
        state: setup.state,
        manager: setup.manager,
        aws_service: setup.aws_service.clone(),
        policy: match (&setup.manager, &setup.aws_service) {
            (KeyManager::Aws, Some(service)) => {
                crate::managed::managed_key_policy(service, account, region)
            }
            _ => simple_policy(account),
        },
        tags: Vec::new(),
        deletion_date: setup
            .state
            .is_pending_deletion()
            .then(|| now + chrono::Duration::days(30)),
        pending_window_days: setup.state.is_pending_deletion().then_some(30),
    };
    let shared = SharedKey::new_symmetric(
        account,
        key_id.clone(),
        region,
        setup.multi_region,
        MaterialVersion {
            id: material_id,
            wrapped,
            created: now,
            rotation: RotationType::Initial,
        },
        RotationSchedule::default(),
    );
    kms.store.write(|txn| {
        txn.put_shared(&shared)?;
        txn.put_key(&record)
    })?;
    Ok(key_id)
}

impl TestKms {
    /// KMS without IAM (as [`Kms::new`] builds it): users and roles have no identity policies.
    pub fn new() -> Result<Self, KmsError> {
        Self::with_identity(Arc::new(kmsnap_iam::NoIdentityPolicies))
    }

    /// KMS on a memory store with its direct-mode audit writer (as [`Kms::new`]), and
    /// `identity` as the source of callers' identity policies.
    pub fn with_identity(
        identity: Arc<dyn kmsnap_iam::IdentityPolicySource>,
    ) -> Result<Self, KmsError> {
        let (meta, _blobs) = kmsnap_store::open_memory();
        let clock = Arc::new(ManualClock::default());
        let audit = Arc::new(crate::audit::start_writer(meta.clone())?);
        let kms = Kms::with_audit(
            meta,
            &RootKey::from_bytes(ROOT_KEY),
            clock.clone(),
            audit,
            identity,
        )?;
        Ok(TestKms { kms, clock })
    }

    /// A root caller of `account` in `region`, at the clock's time.
    pub fn ctx_for(&self, account_id: &str, region_name: &str) -> Result<RequestContext, KmsError> {
        let account = account(account_id)?;
        Ok(RequestContext {
            principal: Principal::root(account, account_id),
            region: region(region_name)?,
            request_id: kmsnap_core::ids::request_id(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: "kmsnap-testsupport".into(),
            now: self.clock.now(),
            via_service: None,
        })
    }

    /// The root of [`ACCOUNT`] in [`REGION`].
    pub fn ctx(&self) -> Result<RequestContext, KmsError> {
        self.ctx_for(ACCOUNT, REGION)
    }

    /// Create a key through the store (no CreateKey): see [`put_key`].
    pub fn put_key(&self, setup: &KeySetup) -> Result<String, KmsError> {
        put_key(&self.kms, setup)
    }

    /// A key with everything defaulted except `state`.
    pub fn put_key_in_state(&self, state: KeyState) -> Result<String, KmsError> {
        self.put_key(&KeySetup {
            state,
            ..KeySetup::default()
        })
    }

    /// Rotate through the store (no RotateKeyOnDemand): append a fresh material version, which
    /// becomes current. Returns the new material id.
    pub fn add_material(
        &self,
        account_id: &str,
        key_id: &str,
        rotation: RotationType,
    ) -> Result<String, KmsError> {
        let account = account(account_id)?;
        let (material_id, material) = Material::generate()?;
        let wrapped = self
            .kms
            .store
            .wrapper()
            .wrap(account, key_id, &material_id, &material)?;
        let now = self.clock.now();
        self.kms.store.write(|txn| {
            let mut shared = txn
                .get_shared(account, key_id)?
                .ok_or(KmsError::Internal("testsupport: no shared record"))?;
            shared.materials.push(MaterialVersion {
                id: material_id.clone(),
                wrapped,
                created: now,
                rotation,
            });
            txn.put_shared(&shared)
        })?;
        Ok(material_id)
    }

    /// Replicate through the store (no ReplicateKey): a regional record of the multi-region key
    /// `key_id` in `replica_region`, in `state`, and the region added to the shared roster.
    pub fn put_replica(
        &self,
        account_id: &str,
        key_id: &str,
        replica_region: &str,
        state: KeyState,
    ) -> Result<(), KmsError> {
        let account = account(account_id)?;
        let replica = region(replica_region)?;
        let now = self.clock.now();
        self.kms.store.write(|txn| {
            let mut shared = txn
                .get_shared(account, key_id)?
                .ok_or(KmsError::Internal("testsupport: no shared record"))?;
            let primary = txn
                .get_key(account, shared.primary_region, key_id)?
                .ok_or(KmsError::Internal("testsupport: no primary record"))?;
            if !shared.replica_regions.contains(&replica) {
                shared.replica_regions.push(replica);
            }
            let record = KeyRecord {
                region: replica,
                created: now,
                state,
                tags: Vec::new(),
                deletion_date: None,
                pending_window_days: None,
                ..primary
            };
            txn.put_shared(&shared)?;
            txn.put_key(&record)
        })
    }

    /// Change a key's state through the store (no EnableKey / DisableKey / ScheduleKeyDeletion).
    pub fn set_state(
        &self,
        account_id: &str,
        region_name: &str,
        key_id: &str,
        state: KeyState,
    ) -> Result<(), KmsError> {
        let account = account(account_id)?;
        let region = region(region_name)?;
        let now = self.clock.now();
        self.kms.store.write(|txn| {
            let mut k = txn
                .get_key(account, region, key_id)?
                .ok_or(KmsError::Internal("testsupport: no key record"))?;
            k.state = state;
            k.deletion_date = state
                .is_pending_deletion()
                .then(|| now + chrono::Duration::days(30));
            k.pending_window_days = state.is_pending_deletion().then_some(30);
            txn.put_key(&k)
        })
    }

    /// The key as operations see it (through the cache).
    pub fn get(
        &self,
        account_id: &str,
        region_name: &str,
        key_id: &str,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        self.kms
            .store
            .get(account(account_id)?, region(region_name)?, key_id)
    }

    /// `arn:aws:kms:<region>:<account>:key/<key_id>`.
    pub fn arn(
        &self,
        account_id: &str,
        region_name: &str,
        key_id: &str,
    ) -> Result<String, KmsError> {
        Ok(key_arn(region(region_name)?, account(account_id)?, key_id))
    }
}

// -------------------------------------------------------------------------------------------
// Helpers of this crate's own unit tests

/// For the unit tests of whole operations: a [`TestKms`] (memory store, fixed root key, manual
/// clock) or the same over an embedded store in a directory (for reopen tests), with keys made
/// through CreateKey itself.
#[cfg(test)]
pub(crate) mod env {
    use super::{TestKms, ROOT_KEY};
    use crate::ops::keys::{create_key, describe_key, schedule_key_deletion};
    use crate::{Kms, KmsError};
    use kmsnap_api::gen::kms as api;
    use kmsnap_auth::{Principal, RequestContext};
    use kmsnap_core::{AccountId, ManualClock, Region, RootKey};
    use std::sync::Arc;

    /// The AWS error code and message of `e`.
    pub fn code(e: KmsError) -> (String, String) {
        let a = kmsnap_api::AwsError::from(e);
        (a.code.to_string(), a.message)
    }

    pub struct Env {
        pub kms: Kms,
        pub clock: Arc<ManualClock>,
    }

    impl Env {
        pub fn memory() -> Env {
            let TestKms { kms, clock } = TestKms::new().unwrap();
            Env { kms, clock }
        }

        pub fn embedded(dir: &std::path::Path) -> Env {
            let (meta, _) = kmsnap_store::open_embedded(dir).unwrap();
            let clock = Arc::new(ManualClock::new(0));
            let kms = Kms::new(meta, &RootKey::from_bytes(ROOT_KEY), clock.clone()).unwrap();
            Env { kms, clock }
        }

        pub fn ctx(&self) -> RequestContext {
            self.ctx_for("111111111111", "us-east-1")
        }

        pub fn ctx_for(&self, account: &str, region: &str) -> RequestContext {
            let account = AccountId::parse(account).unwrap();
            RequestContext {
                principal: Principal::root(account, "test"),
                region: Region::parse(region).unwrap(),
                request_id: "req".into(),
                source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
                user_agent: "unit".into(),
                now: kmsnap_core::Clock::now(self.clock.as_ref()),
                via_service: None,
            }
        }

        pub fn create(&self, ctx: &RequestContext) -> String {
            create_key(&self.kms, ctx, api::CreateKeyRequest::default())
                .unwrap()
                .key_metadata
                .unwrap()
                .key_id
        }

        pub fn describe(
            &self,
            ctx: &RequestContext,
            id: &str,
        ) -> Result<api::KeyMetadata, KmsError> {
            describe_key(
                &self.kms,
                ctx,
                api::DescribeKeyRequest {
                    key_id: id.into(),
                    grant_tokens: None,
                },
            )
            .map(|r| r.key_metadata.unwrap())
        }

        pub fn schedule(
            &self,
            ctx: &RequestContext,
            id: &str,
            days: i32,
        ) -> api::ScheduleKeyDeletionResponse {
            schedule_key_deletion(
                &self.kms,
                ctx,
                api::ScheduleKeyDeletionRequest {
                    key_id: id.into(),
                    pending_window_in_days: Some(days),
                },
            )
            .unwrap()
        }
    }
}

/// For the unit tests of aliases, rotation, multi-region keys and the workers: free functions
/// over a [`TestKms`]'s `Kms`, request contexts at the wall clock's time, and customer keys
/// written straight through the store (independent of CreateKey).
#[cfg(test)]
pub(crate) mod kit {
    use super::{KeySetup, TestKms};
    use crate::model::*;
    use crate::Kms;
    use chrono::Utc;
    use kmsnap_auth::{Principal, RequestContext};
    use kmsnap_core::{AccountId, ManualClock, Region};
    use std::sync::Arc;

    /// The AWS error code of `e`.
    pub fn code(e: crate::KmsError) -> String {
        kmsnap_api::AwsError::from(e).code.to_string()
    }

    pub const ACCT: &str = "111111111111";
    pub const OTHER: &str = "222222222222";

    pub fn acct(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    pub fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    pub fn kms() -> (Kms, Arc<ManualClock>) {
        let TestKms { kms, clock } = TestKms::new().unwrap();
        (kms, clock)
    }

    pub fn ctx(account: &str, r: &str) -> RequestContext {
        RequestContext {
            principal: Principal::root(acct(account), "AKIDTEST"),
            region: region(r),
            request_id: "req".into(),
            source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            user_agent: "test".into(),
            now: Utc::now(),
            via_service: None,
        }
    }

    /// A customer managed symmetric key (multi-region: `mrk-` id, primary in `r`).
    pub fn customer_key(kms: &Kms, account: &str, r: &str, multi_region: bool) -> String {
        super::put_key(
            kms,
            &KeySetup {
                account: account.into(),
                region: r.into(),
                multi_region,
                ..KeySetup::default()
            },
        )
        .unwrap()
    }

    /// Set a key's regional state directly (what EnableKey/DisableKey/ScheduleKeyDeletion do).
    pub fn set_state(kms: &Kms, account: &str, r: &str, key_id: &str, state: KeyState) {
        kms.store
            .write(|txn| {
                let mut k = txn.get_key(acct(account), region(r), key_id)?.unwrap();
                k.state = state;
                txn.put_key(&k)
            })
            .unwrap();
    }

    /// Encrypt with the key's current material through `crate::crypto` directly.
    pub fn encrypt(kms: &Kms, account: &str, r: &str, key_id: &str, pt: &[u8]) -> Vec<u8> {
        let k = kms
            .store
            .get(acct(account), region(r), key_id)
            .unwrap()
            .unwrap();
        let (mid, m) = k.shared.current().unwrap();
        let h = crate::crypto::Header {
            account: acct(account),
            key_id: key_id.into(),
            material_id: mid.into(),
        };
        crate::crypto::encrypt(m, &h, None, pt).unwrap()
    }

    /// Decrypt with the material the blob names, as the key in (account, r) sees it.
    pub fn decrypt(
        kms: &Kms,
        account: &str,
        r: &str,
        blob: &[u8],
    ) -> Result<Vec<u8>, crate::error::CryptoError> {
        let (h, hl) = crate::crypto::parse_header(blob)?;
        let k = kms
            .store
            .get(acct(account), region(r), &h.key_id)
            .unwrap()
            .ok_or(crate::error::CryptoError::InvalidCiphertext)?;
        let m = k
            .shared
            .materials
            .get(&h.material_id)
            .ok_or(crate::error::CryptoError::InvalidCiphertext)?;
        crate::crypto::decrypt(m, blob, hl, None).map(|z| z.to_vec())
    }
}
