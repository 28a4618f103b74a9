//! Persistence of KMS records in the MetaStore, and the in-memory cache that keeps crypto calls
//! off the disk (the KMS issue wants ≥ 40k Encrypt/s persisting nothing per call).
//!
//! Tables (keys are `/`-joined text). The record tables are typed ([`KEYS`], [`SHARED`],
//! [`ALIASES`], [`IMPORT`]; grants' in `grants`): their records carry a version and upgrade on
//! read (docs/storage.md §2).
//! * `kms_keys`    `{account}/{region}/{key_id}` → [`KeyRecord`]
//! * `kms_shared`  `{account}/{key_id}` → [`SharedKey`] (material wrapped by the root key)
//! * `kms_aliases` `{account}/{region}/{alias_name}` → [`AliasRecord`]
//! * `kms_due`     `{kind}/{epoch ms, 16 digits}/{account}/{region}/{key_id}` → empty: the
//!   schedule of deletions and rotations that workers scan in time order.
//! * `kms_import`  `{account}/{key_id}/{token id}` → [`ImportParams`]: the wrapping keys
//!   GetParametersForImport handed out, until they expire.
//! * `kms_counts`  `{account}/{region}` → u64 big-endian: customer managed keys there, kept by
//!   [`KmsTxn::put_key`] / [`KmsTxn::delete_key`] so that the 100,000-key quota is O(1).
//!
//! Every write goes through [`KeyStore::write`]: one transaction, committed (fsync) before the
//! caller answers; then the touched cache entries are dropped. A global generation counter makes
//! a reader that loaded from the store before a commit unable to re-insert stale data after it.

use crate::blocking;
use crate::crypto::{Material, MaterialWrapper};
use crate::error::KmsError;
use crate::model::*;
use chrono::{DateTime, Utc};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::{MetaStore, ReadTxn, Table, WriteTxn};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub const KEYS: Table<KeyRecord> = Table::new("kms_keys");
pub const SHARED: Table<SharedKey> = Table::new("kms_shared");
pub const ALIASES: Table<AliasRecord> = Table::new("kms_aliases");
pub const IMPORT: Table<ImportParams> = Table::new("kms_import");
/// Empty values: the keys are the schedule.
pub const T_DUE: &str = "kms_due";
/// u64 big-endian counters, not records.
pub const T_COUNTS: &str = "kms_counts";

pub fn import_params_key(account: AccountId, key_id: &str, token_id: &str) -> Vec<u8> {
    format!("{account}/{key_id}/{token_id}").into_bytes()
}

pub fn key_key(account: AccountId, region: Region, key_id: &str) -> Vec<u8> {
    format!("{account}/{region}/{key_id}").into_bytes()
}

pub fn shared_key(account: AccountId, key_id: &str) -> Vec<u8> {
    format!("{account}/{key_id}").into_bytes()
}

pub fn alias_key(account: AccountId, region: Region, alias: &str) -> Vec<u8> {
    format!("{account}/{region}/{alias}").into_bytes()
}

/// Kinds of scheduled work in `kms_due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Deletion,
    Rotation,
    /// Imported key material reaches its ValidTo.
    MaterialExpiry,
    /// Import parameters reach their ParametersValidTo; the entry's key id is
    /// `{key id}:{token id}`.
    ImportParams,
}

impl Due {
    fn prefix(self) -> &'static str {
        match self {
            Due::Deletion => "deletion",
            Due::Rotation => "rotation",
            Due::MaterialExpiry => "expiry",
            Due::ImportParams => "import-params",
        }
    }
}

pub fn due_key(
    kind: Due,
    at: DateTime<Utc>,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Vec<u8> {
    format!(
        "{}/{:016}/{account}/{region}/{key_id}",
        kind.prefix(),
        at.timestamp_millis().max(0)
    )
    .into_bytes()
}

/// A key as the operations use it: its regional record and the shared part with unwrapped
/// material.
#[derive(Debug)]
pub struct LoadedKey {
    pub record: KeyRecord,
    pub shared: Arc<LoadedShared>,
    /// The key policy, parsed on first authorization (`None`: the stored text does not parse,
    /// which validation at write time prevents; authorization then allows nothing by policy).
    pub policy: std::sync::OnceLock<Option<Arc<kmsnap_policy::Policy>>>,
    /// The key's grants, read on first need; a grant write touches the key, which drops this
    /// cached value with it.
    pub grants: std::sync::OnceLock<Arc<Vec<GrantRecord>>>,
    /// Unique to this value (process-wide, never reused). Every write touching the key (state,
    /// policy, grants, material, roster) drops the cached value, and the next load gets a new
    /// serial, so an unchanged serial means an unchanged key as far as KMS decides
    /// ([`crate::Kms::key_serial`]).
    pub serial: u64,
}

/// The serials of [`LoadedKey`]s.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

impl LoadedKey {
    pub fn new(record: KeyRecord, shared: Arc<LoadedShared>) -> Self {
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        LoadedKey {
            record,
            shared,
            policy: Default::default(),
            grants: Default::default(),
            serial,
        }
    }
}

impl crate::Kms {
    /// The serial of the key as KMS currently holds it (from the cache; loaded on a miss):
    /// `None` when there is no such key. Callers that keep something KMS granted them (a data
    /// key unwrapped by Decrypt) may reuse it while the serial stays the same: any change to
    /// the key's state, policy, grants or material yields a new serial. Read the serial
    /// *before* the call whose answer is kept, so a change racing that call is never missed.
    /// Identity policies (IAM) are not the key's and do not change it.
    pub fn key_serial(
        &self,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<Option<u64>, KmsError> {
        Ok(self.store.get(account, region, key_id)?.map(|k| k.serial))
    }
}

#[derive(Debug)]
pub struct LoadedShared {
    pub shared: SharedKey,
    /// Unwrapped material by material id (all versions: old ones decrypt). Symmetric keys only.
    pub materials: HashMap<String, Material>,
    /// The loaded private key (or HMAC key) of an asymmetric or HMAC key: its one material.
    /// `None` for symmetric keys, and for a key with no material yet (pending import).
    pub secret: Option<crate::asym::SecretKey>,
}

impl LoadedShared {
    pub fn current(&self) -> Option<(&str, &Material)> {
        let id = self.shared.current_material()?.id.as_str();
        self.materials.get(id).map(|m| (id, m))
    }
}

type KeyRef = (AccountId, Region, String);

pub struct KeyStore {
    meta: Arc<dyn MetaStore>,
    wrapper: MaterialWrapper,
    keys: RwLock<HashMap<KeyRef, Arc<LoadedKey>>>,
    shared: RwLock<HashMap<(AccountId, String), Arc<LoadedShared>>>,
    generation: AtomicU64,
    writer: Mutex<()>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

impl KeyStore {
    pub fn new(meta: Arc<dyn MetaStore>, wrapper: MaterialWrapper) -> Self {
        KeyStore {
            meta,
            wrapper,
            keys: RwLock::new(HashMap::new()),
            shared: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            writer: Mutex::new(()),
        }
    }

    pub fn wrapper(&self) -> &MaterialWrapper {
        &self.wrapper
    }

    pub fn meta(&self) -> &dyn MetaStore {
        self.meta.as_ref()
    }

    /// Drop every cached entry (after a dev-mode reset wiped the store underneath).
    pub fn clear_cache(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
        if let Ok(mut s) = self.shared.write() {
            s.clear();
        }
    }

    /// The key in (account, region), from the cache or the store. `None`: no such key.
    pub fn get(
        &self,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        let kref = (account, region, key_id.to_owned());
        if let Some(k) = self.keys.read().ok().and_then(|m| m.get(&kref).cloned()) {
            return Ok(Some(k));
        }
        let gen = self.generation.load(Ordering::SeqCst);
        let loaded = blocking(|| -> Result<Option<Arc<LoadedKey>>, KmsError> {
            let txn = self.meta.read()?;
            let Some(record) = read_key(txn.as_ref(), account, region, key_id)? else {
                return Ok(None);
            };
            let shared = self.load_shared(txn.as_ref(), account, key_id, gen)?;
            Ok(Some(Arc::new(LoadedKey::new(record, shared))))
        })?;
        if let Some(k) = &loaded {
            if self.generation.load(Ordering::SeqCst) == gen {
                if let Ok(mut m) = self.keys.write() {
                    m.insert(kref, k.clone());
                }
            }
        }
        Ok(loaded)
    }

    fn load_shared(
        &self,
        txn: &dyn ReadTxn,
        account: AccountId,
        key_id: &str,
        gen: u64,
    ) -> Result<Arc<LoadedShared>, KmsError> {
        let sref = (account, key_id.to_owned());
        if let Some(s) = self.shared.read().ok().and_then(|m| m.get(&sref).cloned()) {
            return Ok(s);
        }
        let shared = read_shared(txn, account, key_id)?
            .ok_or(KmsError::Internal("key without shared record"))?;
        let mut materials = HashMap::new();
        let mut secret = None;
        let kind = crate::keyspec::KeyKind::of_record(&shared.key_spec, &shared.key_usage)?;
        let unwrap_failed = |m: &MaterialVersion, e: crate::error::CryptoError| {
            tracing::error!(%account, key_id, material = %m.id, error = %e, "key material does not unwrap");
            KmsError::Internal("unwrap")
        };
        if kind.spec == crate::keyspec::KeySpec::SymmetricDefault {
            for m in &shared.materials {
                let mat = self
                    .wrapper
                    .unwrap(account, key_id, &m.id, &m.wrapped)
                    .map_err(|e| unwrap_failed(m, e))?;
                materials.insert(m.id.clone(), mat);
            }
        } else if let Some(m) = shared.current_material() {
            // Asymmetric and HMAC keys have one material for life (docs/kms-asymmetric.md §9.4).
            let stored = self
                .wrapper
                .unwrap_secret(account, key_id, &m.id, &shared.key_spec, &m.wrapped)
                .map_err(|e| unwrap_failed(m, e))?;
            secret = Some(
                crate::asym::SecretKey::from_stored(kind, &stored)
                    .map_err(|e| unwrap_failed(m, e))?,
            );
        }
        let loaded = Arc::new(LoadedShared {
            shared,
            materials,
            secret,
        });
        if self.generation.load(Ordering::SeqCst) == gen {
            if let Ok(mut m) = self.shared.write() {
                m.insert(sref, loaded.clone());
            }
        }
        Ok(loaded)
    }

    /// Run `f` in one write transaction and commit it durably; then drop the cache entries of
    /// every key `f` touched. Writers are serialized. Inside an audited call the transaction
    /// also carries the call's audit record, the first time the call writes ([`crate::audit`]).
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut KmsTxn<'_>) -> Result<R, KmsError>,
    ) -> Result<R, KmsError> {
        blocking(|| {
            let _guard = self
                .writer
                .lock()
                .map_err(|_| KmsError::Internal("writer lock poisoned"))?;
            let inner = self.meta.write()?;
            let mut txn = KmsTxn {
                inner,
                touched_keys: Vec::new(),
                touched_shared: Vec::new(),
            };
            let r = f(&mut txn)?;
            // The scoped call's audit record commits with its change (crate::audit).
            let audited = crate::audit::append_pending(txn.raw())?;
            let KmsTxn {
                inner,
                touched_keys,
                touched_shared,
            } = txn;
            inner.commit()?;
            if audited {
                crate::audit::mark_recorded();
            }
            self.generation.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut m) = self.keys.write() {
                for k in &touched_keys {
                    m.remove(k);
                }
            }
            if let Ok(mut m) = self.shared.write() {
                for s in &touched_shared {
                    m.remove(s);
                }
            }
            Ok(r)
        })
    }

    /// Appends fresh material to `shared` (wrapped under the root key), which becomes current:
    /// a rotation, on demand (`ops::rotation`) or automatic (`workers::rotation`). Returns the
    /// new material id.
    pub fn append_material(
        &self,
        shared: &mut SharedKey,
        kind: RotationType,
        now: DateTime<Utc>,
    ) -> Result<String, KmsError> {
        let (id, material) = Material::generate()?;
        let wrapped = self
            .wrapper
            .wrap(shared.account, &shared.key_id, &id, &material)?;
        shared.materials.push(MaterialVersion {
            id: id.clone(),
            wrapped,
            created: now,
            rotation: kind,
        });
        Ok(id)
    }

    /// A read transaction for listings.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTxn) -> Result<R, KmsError>,
    ) -> Result<R, KmsError> {
        blocking(|| {
            let txn = self.meta.read()?;
            f(txn.as_ref())
        })
    }
}

pub fn read_key(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    key_id: &str,
) -> Result<Option<KeyRecord>, KmsError> {
    Ok(KEYS.get(txn, &key_key(account, region, key_id))?)
}

pub fn read_shared(
    txn: &dyn ReadTxn,
    account: AccountId,
    key_id: &str,
) -> Result<Option<SharedKey>, KmsError> {
    Ok(SHARED.get(txn, &shared_key(account, key_id))?)
}

pub fn read_alias(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
    alias: &str,
) -> Result<Option<AliasRecord>, KmsError> {
    Ok(ALIASES.get(txn, &alias_key(account, region, alias))?)
}

/// The parameters of one GetParametersForImport, while they are kept.
pub fn read_import_params(
    txn: &dyn ReadTxn,
    account: AccountId,
    key_id: &str,
    token_id: &str,
) -> Result<Option<ImportParams>, KmsError> {
    Ok(IMPORT.get(txn, &import_params_key(account, key_id, token_id))?)
}

/// Every alias of (account, region), in name order.
pub fn all_aliases(
    txn: &dyn ReadTxn,
    account: AccountId,
    region: Region,
) -> Result<Vec<AliasRecord>, KmsError> {
    let prefix = format!("{account}/{region}/").into_bytes();
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let rows = ALIASES.scan(txn, &prefix, after.as_deref(), 1000)?;
        let done = rows.len() < 1000;
        for (k, _, alias) in rows {
            out.push(alias);
            after = Some(k);
        }
        if done {
            return Ok(out);
        }
    }
}

/// A write transaction over KMS's tables that remembers what it touched.
pub struct KmsTxn<'a> {
    inner: Box<dyn WriteTxn + 'a>,
    touched_keys: Vec<KeyRef>,
    touched_shared: Vec<(AccountId, String)>,
}

impl KmsTxn<'_> {
    pub fn raw(&mut self) -> &mut dyn WriteTxn {
        self.inner.as_mut()
    }

    /// This transaction's view for reads (sees its own writes).
    pub fn read_view(&self) -> &dyn ReadTxn {
        self.inner.as_ref()
    }

    /// Drops the cached key at commit (a change the key's cache entry depends on, e.g. a grant).
    pub fn touch_key(&mut self, account: AccountId, region: Region, key_id: &str) {
        self.touched_keys.push((account, region, key_id.to_owned()));
    }

    pub fn get_key(
        &self,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<Option<KeyRecord>, KmsError> {
        read_key(self.inner.as_ref(), account, region, key_id)
    }

    pub fn get_shared(
        &self,
        account: AccountId,
        key_id: &str,
    ) -> Result<Option<SharedKey>, KmsError> {
        read_shared(self.inner.as_ref(), account, key_id)
    }

    pub fn get_alias(
        &self,
        account: AccountId,
        region: Region,
        alias: &str,
    ) -> Result<Option<AliasRecord>, KmsError> {
        read_alias(self.inner.as_ref(), account, region, alias)
    }

    pub fn put_key(&mut self, k: &KeyRecord) -> Result<(), KmsError> {
        let before = self
            .get_key(k.account, k.region, &k.key_id)?
            .map(|old| old.manager);
        KEYS.put(
            self.inner.as_mut(),
            &key_key(k.account, k.region, &k.key_id),
            k,
        )?;
        let delta = i64::from(k.manager == KeyManager::Customer)
            - i64::from(before == Some(KeyManager::Customer));
        self.add_customer_keys(k.account, k.region, delta)?;
        self.touched_keys
            .push((k.account, k.region, k.key_id.clone()));
        Ok(())
    }

    pub fn delete_key(
        &mut self,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<bool, KmsError> {
        self.touched_keys.push((account, region, key_id.to_owned()));
        if let Some(old) = self.get_key(account, region, key_id)? {
            if old.manager == KeyManager::Customer {
                self.add_customer_keys(account, region, -1)?;
            }
        }
        Ok(KEYS.delete(self.inner.as_mut(), &key_key(account, region, key_id))?)
    }

    /// Customer managed keys in (account, region), any state.
    pub fn customer_keys(&self, account: AccountId, region: Region) -> Result<u64, KmsError> {
        let k = format!("{account}/{region}");
        Ok(match self.inner.get(T_COUNTS, k.as_bytes())? {
            Some(r) => r
                .value
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or(KmsError::Internal("corrupt key count"))?,
            None => 0,
        })
    }

    fn add_customer_keys(
        &mut self,
        account: AccountId,
        region: Region,
        delta: i64,
    ) -> Result<(), KmsError> {
        if delta == 0 {
            return Ok(());
        }
        let n = self
            .customer_keys(account, region)?
            .saturating_add_signed(delta);
        self.inner.put(
            T_COUNTS,
            format!("{account}/{region}").as_bytes(),
            &n.to_be_bytes(),
        )?;
        Ok(())
    }

    pub fn put_shared(&mut self, s: &SharedKey) -> Result<(), KmsError> {
        let old = self.get_shared(s.account, &s.key_id)?;
        SHARED.put(self.inner.as_mut(), &shared_key(s.account, &s.key_id), s)?;
        self.touch_shared(s.account, &s.key_id, old.iter().chain(std::iter::once(s)));
        Ok(())
    }

    pub fn delete_shared(&mut self, account: AccountId, key_id: &str) -> Result<bool, KmsError> {
        let old = self.get_shared(account, key_id)?;
        self.touch_shared(account, key_id, old.iter());
        Ok(SHARED.delete(self.inner.as_mut(), &shared_key(account, key_id))?)
    }

    /// A shared change (rotation, roster) reaches the cached key of every region in the old and
    /// new rosters; those are the only cache entries that hold this shared record.
    fn touch_shared<'s>(
        &mut self,
        account: AccountId,
        key_id: &str,
        versions: impl Iterator<Item = &'s SharedKey>,
    ) {
        for v in versions {
            for region in v.regions() {
                self.touched_keys.push((account, region, key_id.to_owned()));
            }
        }
        self.touched_shared.push((account, key_id.to_owned()));
    }

    pub fn put_import_params(&mut self, p: &ImportParams) -> Result<(), KmsError> {
        IMPORT.put(
            self.inner.as_mut(),
            &import_params_key(p.account, &p.key_id, &p.token_id),
            p,
        )?;
        Ok(())
    }

    pub fn get_import_params(
        &self,
        account: AccountId,
        key_id: &str,
        token_id: &str,
    ) -> Result<Option<ImportParams>, KmsError> {
        read_import_params(self.inner.as_ref(), account, key_id, token_id)
    }

    pub fn delete_import_params(
        &mut self,
        account: AccountId,
        key_id: &str,
        token_id: &str,
    ) -> Result<bool, KmsError> {
        Ok(IMPORT.delete(
            self.inner.as_mut(),
            &import_params_key(account, key_id, token_id),
        )?)
    }

    pub fn put_alias(
        &mut self,
        account: AccountId,
        region: Region,
        a: &AliasRecord,
    ) -> Result<(), KmsError> {
        ALIASES.put(self.inner.as_mut(), &alias_key(account, region, &a.name), a)?;
        Ok(())
    }

    pub fn delete_alias(
        &mut self,
        account: AccountId,
        region: Region,
        alias: &str,
    ) -> Result<bool, KmsError> {
        Ok(ALIASES.delete(self.inner.as_mut(), &alias_key(account, region, alias))?)
    }

    pub fn schedule(
        &mut self,
        kind: Due,
        at: DateTime<Utc>,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<(), KmsError> {
        self.inner
            .put(T_DUE, &due_key(kind, at, account, region, key_id), b"")?;
        Ok(())
    }

    /// Replaces the due entry of `shared`'s rotation schedule (if any) by one at `next` (if
    /// any), and sets the schedule's next rotation.
    pub fn reschedule_rotation(
        &mut self,
        shared: &mut SharedKey,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), KmsError> {
        if let Some(old) = shared.rotation.next_rotation {
            self.unschedule(
                Due::Rotation,
                old,
                shared.account,
                shared.primary_region,
                &shared.key_id,
            )?;
        }
        if let Some(at) = next {
            self.schedule(
                Due::Rotation,
                at,
                shared.account,
                shared.primary_region,
                &shared.key_id,
            )?;
        }
        shared.rotation.next_rotation = next;
        Ok(())
    }

    pub fn unschedule(
        &mut self,
        kind: Due,
        at: DateTime<Utc>,
        account: AccountId,
        region: Region,
        key_id: &str,
    ) -> Result<(), KmsError> {
        self.inner
            .delete(T_DUE, &due_key(kind, at, account, region, key_id))?;
        Ok(())
    }
}

/// One scheduled entry: when it is due, and the key (account, region, key id).
pub type DueEntry = (DateTime<Utc>, AccountId, Region, String);

/// Scheduled entries of `kind` due at or before `now`, oldest first (at most `limit`).
pub fn due_entries(
    txn: &dyn ReadTxn,
    kind: Due,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DueEntry>, KmsError> {
    let prefix = format!("{}/", kind.prefix());
    let rows = txn.scan(T_DUE, prefix.as_bytes(), None, limit)?;
    let mut out = Vec::new();
    for (k, _) in rows {
        let Ok(text) = std::str::from_utf8(&k) else {
            continue;
        };
        let mut parts = text.splitn(5, '/');
        let (_, Some(ms), Some(acct), Some(region), Some(key_id)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let (Ok(ms), Ok(acct), Ok(region)) = (
            ms.parse::<i64>(),
            AccountId::parse(acct),
            Region::parse(region),
        ) else {
            continue;
        };
        let Some(at) = DateTime::<Utc>::from_timestamp_millis(ms) else {
            continue;
        };
        if at > now {
            break;
        }
        out.push((at, acct, region, key_id.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::ops::{crypto, grants, keys, policies, rotation};
    use crate::testsupport::env::Env;
    use crate::testsupport::simple_policy;
    use kmsnap_api::gen::kms as api;

    /// Guards `Kms::key_serial`: reads and crypto keep it; every write that could change what
    /// KMS decides about the key (state, policy, grants, material) changes it.
    #[test]
    fn key_serial_changes_exactly_when_the_key_does() {
        let env = Env::memory();
        let ctx = env.ctx();
        let key_id = env.create(&ctx);
        let other = env.create(&ctx);
        let (a, r) = (ctx.principal.account, ctx.region);
        let serial = || env.kms.key_serial(a, r, &key_id).unwrap().unwrap();
        assert_eq!(env.kms.key_serial(a, r, "no-such-key").unwrap(), None);
        let s0 = serial();
        let dk = crypto::generate_data_key(
            &env.kms,
            &ctx,
            api::GenerateDataKeyRequest {
                key_id: key_id.clone(),
                key_spec: Some(api::DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
        crypto::decrypt(
            &env.kms,
            &ctx,
            api::DecryptRequest {
                ciphertext_blob: dk.ciphertext_blob,
                ..Default::default()
            },
        )
        .unwrap();
        env.describe(&ctx, &key_id).unwrap();
        keys::disable_key(
            &env.kms,
            &ctx,
            api::DisableKeyRequest {
                key_id: other.clone(),
            },
        )
        .unwrap();
        assert_eq!(
            serial(),
            s0,
            "reads, crypto and another key's writes keep the serial"
        );

        let mut seen = vec![s0];
        let mut changed = |what: &str| {
            let s = serial();
            assert!(!seen.contains(&s), "{what} must change the serial");
            seen.push(s);
        };
        keys::disable_key(
            &env.kms,
            &ctx,
            api::DisableKeyRequest {
                key_id: key_id.clone(),
            },
        )
        .unwrap();
        changed("DisableKey");
        keys::enable_key(
            &env.kms,
            &ctx,
            api::EnableKeyRequest {
                key_id: key_id.clone(),
            },
        )
        .unwrap();
        changed("EnableKey");
        let policy = simple_policy(a);
        policies::put_key_policy(
            &env.kms,
            &ctx,
            api::PutKeyPolicyRequest {
                key_id: key_id.clone(),
                policy,
                ..Default::default()
            },
        )
        .unwrap();
        changed("PutKeyPolicy");
        let grantee = format!("arn:aws:iam::{a}:role/r");
        grants::create_grant(
            &env.kms,
            &ctx,
            api::CreateGrantRequest {
                key_id: key_id.clone(),
                grantee_principal: Some(grantee),
                operations: vec![api::GrantOperation::Decrypt],
                ..Default::default()
            },
        )
        .unwrap();
        changed("CreateGrant");
        rotation::rotate_key_on_demand(
            &env.kms,
            &ctx,
            api::RotateKeyOnDemandRequest {
                key_id: key_id.clone(),
            },
        )
        .unwrap();
        changed("RotateKeyOnDemand");
        env.schedule(&ctx, &key_id, 7);
        changed("ScheduleKeyDeletion");
    }
}
