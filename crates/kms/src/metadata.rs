//! `KeyMetadata` as DescribeKey, CreateKey and ReplicateKey return it (docs/kms.md §3,
//! docs/kms-asymmetric.md §1: one algorithm list per usage).

use crate::model::{key_arn, KeyManager, KeyState};
use crate::store::LoadedKey;
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;

use crate::keyspec::{KeyKind, KeySpec};

/// An algorithm list as KeyMetadata/GetPublicKey carry it: absent when the key has none.
pub fn list<T>(
    names: Option<&'static [&'static str]>,
    parse: fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    let names = names.filter(|n| !n.is_empty())?;
    Some(names.iter().filter_map(|n| parse(n)).collect())
}

pub fn key_metadata(k: &LoadedKey) -> api::KeyMetadata {
    let r = &k.record;
    let s = &k.shared.shared;
    let multi_region_configuration = s.multi_region.then(|| api::MultiRegionConfiguration {
        multi_region_key_type: Some(if r.region == s.primary_region {
            api::MultiRegionKeyType::Primary
        } else {
            api::MultiRegionKeyType::Replica
        }),
        primary_key: Some(api::MultiRegionKey {
            arn: Some(key_arn(s.primary_region, r.account, &r.key_id)),
            region: Some(s.primary_region.to_string()),
        }),
        replica_keys: Some(
            s.replica_regions
                .iter()
                .map(|reg| api::MultiRegionKey {
                    arn: Some(key_arn(*reg, r.account, &r.key_id)),
                    region: Some(reg.to_string()),
                })
                .collect(),
        ),
    });
    let pending = r.state.is_pending_deletion();
    // Records were validated when written; an unreadable spec shows no algorithm lists.
    let kind = KeyKind::of_record(&s.key_spec, &s.key_usage).ok();
    let symmetric = kind.is_some_and(|k| k.spec == KeySpec::SymmetricDefault);
    api::KeyMetadata {
        aws_account_id: Some(r.account.to_string()),
        key_id: r.key_id.clone(),
        arn: Some(r.arn()),
        creation_date: Some(Timestamp(r.created)),
        enabled: Some(r.state == KeyState::Enabled),
        description: Some(r.description.clone()),
        key_usage: api::KeyUsageType::from_wire(&s.key_usage),
        key_state: api::KeyState::from_wire(r.state.wire()),
        deletion_date: if pending {
            r.deletion_date.map(Timestamp)
        } else {
            None
        },
        origin: api::OriginType::from_wire(&s.origin),
        key_manager: Some(match r.manager {
            KeyManager::Aws => api::KeyManagerType::Aws,
            KeyManager::Customer => api::KeyManagerType::Customer,
        }),
        customer_master_key_spec: api::CustomerMasterKeySpec::from_wire(&s.key_spec),
        key_spec: api::KeySpec::from_wire(&s.key_spec),
        encryption_algorithms: list(
            kind.map(KeyKind::encryption_algorithms),
            api::EncryptionAlgorithmSpec::from_wire,
        ),
        signing_algorithms: list(
            kind.map(KeyKind::signing_algorithms),
            api::SigningAlgorithmSpec::from_wire,
        ),
        mac_algorithms: list(
            kind.map(KeyKind::mac_algorithms),
            api::MacAlgorithmSpec::from_wire,
        ),
        key_agreement_algorithms: list(
            kind.map(KeyKind::key_agreement_algorithms),
            api::KeyAgreementAlgorithmSpec::from_wire,
        ),
        multi_region: Some(s.multi_region),
        multi_region_configuration,
        pending_deletion_window_in_days: if pending { r.pending_window_days } else { None },
        // Only symmetric keys have material ids AWS shows (docs/kms-asymmetric.md §1).
        // Imported symmetric material keeps its id after deletion (observed).
        current_key_material_id: if symmetric {
            s.current_material()
                .map(|m| m.id.clone())
                .or_else(|| s.import.as_ref().map(|i| i.material_id.clone()))
        } else {
            None
        },
        expiration_model: s
            .import
            .as_ref()
            .and_then(|i| api::ExpirationModelType::from_wire(&i.expiration_model)),
        valid_to: s.import.as_ref().and_then(|i| i.valid_to).map(Timestamp),
        ..Default::default()
    }
}
