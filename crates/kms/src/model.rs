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
use kmsnap_core::{AccountId, Region};
use serde::{Deserialize, Serialize};

/// Record format versions (STYLE.md: every persisted record carries one).
pub const KEY_RECORD_VERSION: u16 = 1;
/// 2: `import` (imported key material) added; a version 1 record reads with `import: None`.
pub const SHARED_KEY_VERSION: u16 = 2;
pub const IMPORT_PARAMS_VERSION: u16 = 1;
pub const ALIAS_RECORD_VERSION: u16 = 1;

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

pub fn key_arn(region: Region, account: AccountId, key_id: &str) -> String {
    format!("arn:aws:kms:{}:{}:key/{}", region, account, key_id)
}

pub fn alias_arn(region: Region, account: AccountId, alias_name: &str) -> String {
    format!("arn:aws:kms:{}:{}:{}", region, account, alias_name)
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

/// What multi-region replicas share (and what a single-region key has once).
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
