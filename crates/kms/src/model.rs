//! KMS's persisted model.
//!
//! A key has two parts (docs/kms.md §9):
//! * [`KeyRecord`], one per (account, region, key id): what is independent per region —
//!   description, policy, tags, state, deletion schedule, who manages it.
//! * [`SharedKey`], one per (account, key id): what multi-region replicas share with their
//!   primary — key spec and usage, origin, the material versions (wrapped by the root key), the
//!   rotation schedule and the roster of regions. A single-region key simply has a roster of one.
//!
//! Because ciphertexts name (account, key id, material id) and never a region, a replica finds
//! the material its primary encrypted with, and rotation on the primary reaches every replica.

use chrono::{DateTime, Utc};
use kmsnap_core::arn::Arn;
use kmsnap_core::{AccountId, Region};
use kmsnap_store::Versioned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// Record versions (docs/storage.md §2): the numbers are the ones these records have always
// been written with, so existing data directories read unchanged.
kmsnap_store::first_version!(KeyRecord, ImportParams, AliasRecord, GrantRecord);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Creating,
    Enabled,
    Disabled,
    PendingDeletion,
    PendingReplicaDeletion,
    PendingImport,
    Unavailable,
    Updating,
}

impl KeyState {
    pub fn wire(self) -> &'static str {
        match self {
            KeyState::Creating => "Creating",
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::Unavailable => "Unavailable",
            KeyState::Updating => "Updating",
        }
    }

    pub fn is_pending_deletion(self) -> bool {
        matches!(
            self,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    Customer,
    Aws,
}

/// Per-region part of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub account: AccountId,
    pub region: Region,
    pub key_id: String,
    pub created: DateTime<Utc>,
    pub description: String,
    pub state: KeyState,
    pub manager: KeyManager,
    /// For AWS managed keys: the service name (`ebs`, `rds`, `backup`).
    pub aws_service: Option<String>,
    /// The key policy document exactly as stored and returned by GetKeyPolicy.
    pub policy: String,
    /// Tags in insertion order (TagResource upserts by key).
    pub tags: Vec<(String, String)>,
    /// Set while PendingDeletion.
    pub deletion_date: Option<DateTime<Utc>>,
    pub pending_window_days: Option<i32>,
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        key_arn(self.region, self.account, &self.key_id)
    }
}

/// `arn:aws:kms:<region>:<account>:key/<key-id>` (docs/arns.md).
pub fn key_arn(region: Region, account: AccountId, key_id: &str) -> String {
    Arn::kms_key(region.as_str(), account.as_str(), key_id).to_string()
}

/// `arn:aws:kms:<region>:<account>:alias/<name>`; `alias_name` keeps its `alias/` prefix.
pub fn alias_arn(region: Region, account: AccountId, alias_name: &str) -> String {
    Arn::kms_alias(region.as_str(), account.as_str(), alias_name).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    /// The material the key was created with.
    Initial,
    Automatic,
    OnDemand,
}

/// One version of key material, wrapped (AES-256-GCM) by the root key's material subkey.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MaterialVersion {
    /// 64 lower-case hex characters (`KeyMaterialId` in responses).
    pub id: String,
    /// nonce ‖ ciphertext ‖ tag of the 32-byte material.
    #[serde(with = "b64")]
    pub wrapped: Vec<u8>,
    pub created: DateTime<Utc>,
    pub rotation: RotationType,
}

impl std::fmt::Debug for MaterialVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialVersion")
            .field("id", &self.id)
            .field("wrapped", &format_args!("<{} bytes>", self.wrapped.len()))
            .field("created", &self.created)
            .field("rotation", &self.rotation)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationSchedule {
    pub enabled: bool,
    /// 90–2560, default 365.
    pub period_days: i32,
    /// When the next automatic rotation is due (None while disabled).
    pub next_rotation: Option<DateTime<Utc>>,
    pub on_demand_count: u32,
}

impl Default for RotationSchedule {
    fn default() -> Self {
        RotationSchedule {
            enabled: false,
            period_days: 365,
            next_rotation: None,
            on_demand_count: 0,
        }
    }
}

/// What multi-region replicas share (and what a single-region key has once). Version 2: version
/// 1 ([`SharedKeyV1`]) had no `import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedKey {
    pub account: AccountId,
    pub key_id: String,
    /// `SYMMETRIC_DEFAULT` (only spec supported so far).
    pub key_spec: String,
    /// `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// `AWS_KMS`.
    pub origin: String,
    pub multi_region: bool,
    /// The primary's region (the only region of a single-region key).
    pub primary_region: Region,
    /// Replica regions (multi-region keys only), in replication order.
    pub replica_regions: Vec<Region>,
    /// Oldest first; the last one is current.
    pub materials: Vec<MaterialVersion>,
    pub rotation: RotationSchedule,
    /// Origin EXTERNAL keys: what was imported (docs/kms-asymmetric.md §9).
    #[serde(default)]
    pub import: Option<ImportInfo>,
}

impl Versioned for SharedKey {
    const VERSION: u16 = 2;
    type Previous = SharedKeyV1;
    fn upgrade(v1: SharedKeyV1) -> Self {
        SharedKey {
            import: None,
            ..v1.0
        }
    }
}

/// Version 1 of [`SharedKey`], before keys could have imported material: the same fields
/// without `import`, so its payload reads as the current shape with `import` absent (the
/// field's serde default). Should a later version change another field, this becomes the full
/// version 1 struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedKeyV1(SharedKey);

kmsnap_store::first_version!(SharedKeyV1);

/// The imported material of an Origin EXTERNAL key. It outlives the material itself: after
/// DeleteImportedKeyMaterial or expiry the key is PendingImport and only the same material
/// (the same `material_id`) may be imported again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportInfo {
    /// 64 lower-case hex: HMAC-SHA256 under a root-derived key of (key id, material), so the
    /// same material always has the same id and the id reveals nothing about it.
    pub material_id: String,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub expiration_model: String,
    /// When the material expires (KEY_MATERIAL_EXPIRES only).
    pub valid_to: Option<DateTime<Utc>>,
    /// `KeyMaterialDescription` (symmetric keys).
    pub description: Option<String>,
}

/// The parameters one GetParametersForImport handed out: the private half of its RSA wrapping
/// key (wrapped under the root key, bound to the key and token), valid until `valid_to`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportParams {
    pub account: AccountId,
    pub key_id: String,
    /// 64 lower-case hex: the random id the ImportToken carries.
    pub token_id: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
    #[serde(with = "b64")]
    pub wrapped_private: Vec<u8>,
    pub valid_to: DateTime<Utc>,
}

impl std::fmt::Debug for ImportParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportParams")
            .field("key_id", &self.key_id)
            .field("wrapping_algorithm", &self.wrapping_algorithm)
            .field("wrapping_key_spec", &self.wrapping_key_spec)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl SharedKey {
    /// A symmetric encryption key generated by KMS (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`,
    /// origin `AWS_KMS`) with its first material, not replicated yet.
    pub fn new_symmetric(
        account: AccountId,
        key_id: String,
        primary_region: Region,
        multi_region: bool,
        first: MaterialVersion,
        rotation: RotationSchedule,
    ) -> Self {
        SharedKey {
            account,
            key_id,
            key_spec: "SYMMETRIC_DEFAULT".to_owned(),
            key_usage: "ENCRYPT_DECRYPT".to_owned(),
            origin: "AWS_KMS".to_owned(),
            multi_region,
            primary_region,
            replica_regions: Vec::new(),
            materials: vec![first],
            rotation,
            import: None,
        }
    }

    pub fn current_material(&self) -> Option<&MaterialVersion> {
        self.materials.last()
    }

    pub fn material(&self, id: &str) -> Option<&MaterialVersion> {
        self.materials.iter().find(|m| m.id == id)
    }

    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        std::iter::once(self.primary_region).chain(self.replica_regions.iter().copied())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/<name>`.
    pub name: String,
    pub target_key_id: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// Encryption-context constraints of a grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    pub subset: Option<BTreeMap<String, String>>,
    pub equals: Option<BTreeMap<String, String>>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.subset.is_none() && self.equals.is_none()
    }

    /// Whether a request with encryption context `ec` satisfies the constraints. A request
    /// without one has the empty context.
    pub fn admit(&self, ec: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let ec = ec.unwrap_or(&empty);
        if let Some(eq) = &self.equals {
            if eq != ec {
                return false;
            }
        }
        if let Some(sub) = &self.subset {
            if !sub.iter().all(|(k, v)| ec.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }
}

/// One grant on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The key's account and region (where the grant lives).
    pub account: AccountId,
    pub region: Region,
    pub key_id: String,
    /// 64 hex characters.
    pub grant_id: String,
    pub name: Option<String>,
    pub created: DateTime<Utc>,
    pub grantee: String,
    pub retiring: Option<String>,
    /// `arn:aws:iam::<acct>:root` of the account that created the grant.
    pub issuing_account: String,
    /// Operation names (`Decrypt`, …) in request order.
    pub operations: Vec<String>,
    pub constraints: Constraints,
}

impl GrantRecord {
    pub fn allows_operation(&self, op: &str) -> bool {
        self.operations.iter().any(|o| o == op)
    }

    /// The account of the issuing account ARN (empty if it does not parse, which a stored
    /// grant's never fails to).
    pub fn issuing_account_id(&self) -> String {
        Arn::parse(&self.issuing_account)
            .map(|a| a.account)
            .unwrap_or_default()
    }
}

/// serde helper: bytes as standard base64 in the JSON record payload.
mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    //! Records exactly as the code before typed tables wrote them (`encode_record(<the
    //! record's version constant>, &record)`: format byte `J`, big-endian u16 version, JSON),
    //! so that existing data directories keep reading.
    use super::*;
    use kmsnap_store::table::{decode, encode};

    fn old(version: u16, json: &str) -> Vec<u8> {
        let mut out = vec![b'J'];
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(json.as_bytes());
        out
    }

    /// Decodes `json` written as `version`, and checks that writing the value back gives the
    /// same bytes (the version written today is the one written before).
    fn round_trip<R: Versioned + serde::Serialize>(version: u16, json: &str) -> R {
        let bytes = old(version, json);
        let r: R = decode(&bytes).unwrap();
        assert_eq!(encode(&r).unwrap(), bytes);
        r
    }

    #[test]
    fn key_record_version_1_reads() {
        let k: KeyRecord = round_trip(
            1,
            r#"{"account":"111122223333","region":"us-east-1","key_id":"1234abcd-12ab-34cd-56ef-1234567890ab","created":"2026-01-02T03:04:05Z","description":"d","state":"PendingDeletion","manager":"Customer","aws_service":null,"policy":"{}","tags":[["k","v"]],"deletion_date":"2026-01-09T03:04:05Z","pending_window_days":7}"#,
        );
        assert_eq!(k.state, KeyState::PendingDeletion);
        assert_eq!(k.tags, vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(k.pending_window_days, Some(7));
    }

    #[test]
    fn shared_key_version_2_reads_and_version_1_upgrades() {
        let v2 = r#"{"account":"111122223333","key_id":"mrk-1","key_spec":"SYMMETRIC_DEFAULT","key_usage":"ENCRYPT_DECRYPT","origin":"EXTERNAL","multi_region":true,"primary_region":"us-east-1","replica_regions":["eu-west-1"],"materials":[{"id":"ab","wrapped":"AQID","created":"2026-01-02T03:04:05Z","rotation":"Initial"}],"rotation":{"enabled":false,"period_days":365,"next_rotation":null,"on_demand_count":0},"import":{"material_id":"cd","expiration_model":"KEY_MATERIAL_DOES_NOT_EXPIRE","valid_to":null,"description":null}}"#;
        let s: SharedKey = round_trip(2, v2);
        assert_eq!(s.materials[0].wrapped, vec![1, 2, 3]);
        assert_eq!(s.replica_regions.len(), 1);
        assert_eq!(s.import.as_ref().unwrap().material_id, "cd");

        // Version 1: no `import`.
        let v1 = r#"{"account":"111122223333","key_id":"k","key_spec":"SYMMETRIC_DEFAULT","key_usage":"ENCRYPT_DECRYPT","origin":"AWS_KMS","multi_region":false,"primary_region":"us-east-1","replica_regions":[],"materials":[{"id":"ab","wrapped":"AQID","created":"2026-01-02T03:04:05Z","rotation":"Initial"}],"rotation":{"enabled":true,"period_days":90,"next_rotation":"2026-04-02T03:04:05Z","on_demand_count":2}}"#;
        let s: SharedKey = decode(&old(1, v1)).unwrap();
        assert_eq!(s.import, None);
        assert_eq!(s.rotation.period_days, 90);
        assert_eq!(s.rotation.on_demand_count, 2);
        assert_eq!(s.materials[0].id, "ab");
        assert_eq!(
            kmsnap_store::split_record(&encode(&s).unwrap()).unwrap().0,
            2
        );
        // A version 3 is from a newer build: never read as version 2.
        assert!(decode::<SharedKey>(&old(3, v2)).is_err());
    }

    #[test]
    fn import_params_version_1_reads() {
        let p: ImportParams = round_trip(
            1,
            r#"{"account":"111122223333","key_id":"k","token_id":"00ff","wrapping_algorithm":"RSAES_OAEP_SHA_256","wrapping_key_spec":"RSA_2048","wrapped_private":"AQID","valid_to":"2026-01-03T03:04:05Z"}"#,
        );
        assert_eq!(p.wrapped_private, vec![1, 2, 3]);
        assert_eq!(p.token_id, "00ff");
    }

    #[test]
    fn alias_record_version_1_reads() {
        let a: AliasRecord = round_trip(
            1,
            r#"{"name":"alias/a","target_key_id":"k","created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:06Z"}"#,
        );
        assert_eq!(a.name, "alias/a");
        assert_eq!(a.target_key_id, "k");
    }

    #[test]
    fn grant_record_version_1_reads() {
        let g: GrantRecord = round_trip(
            1,
            r#"{"account":"111122223333","region":"us-east-1","key_id":"k","grant_id":"00ff","name":"n","created":"2026-01-02T03:04:05Z","grantee":"arn:aws:iam::444455556666:root","retiring":null,"issuing_account":"arn:aws:iam::111122223333:root","operations":["Decrypt","Encrypt"],"constraints":{"subset":{"a":"b"},"equals":null}}"#,
        );
        assert_eq!(
            g.operations,
            vec!["Decrypt".to_owned(), "Encrypt".to_owned()]
        );
        assert_eq!(g.issuing_account_id(), "111122223333");
        assert!(g
            .constraints
            .admit(Some(&BTreeMap::from([("a".into(), "b".into())]))));
    }
}
