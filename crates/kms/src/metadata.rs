//! `KeyMetadata` as DescribeKey, CreateKey and ReplicateKey return it (spec/kms.md §3).

use crate::model::{key_arn, KeyManager, KeyState};
use crate::store::LoadedKey;
use kmsnap_api::gen::kms as api;
use kmsnap_api::Timestamp;

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
    api::KeyMetadata {
        aws_account_id: Some(r.account.to_string()),
        key_id: r.key_id.clone(),
        arn: Some(r.arn()),
        creation_date: Some(Timestamp(r.created)),
        enabled: Some(r.state == KeyState::Enabled),
        description: Some(r.description.clone()),
        key_usage: api::KeyUsageType::from_wire(&s.key_usage),
        key_state: api::KeyState::from_wire(r.state.wire()),
        deletion_date: if pending { r.deletion_date.map(Timestamp) } else { None },
        origin: api::OriginType::from_wire(&s.origin),
        key_manager: Some(match r.manager {
            KeyManager::Aws => api::KeyManagerType::Aws,
            KeyManager::Customer => api::KeyManagerType::Customer,
        }),
        customer_master_key_spec: api::CustomerMasterKeySpec::from_wire(&s.key_spec),
        key_spec: api::KeySpec::from_wire(&s.key_spec),
        encryption_algorithms: Some(vec![api::EncryptionAlgorithmSpec::SymmetricDefault]),
        multi_region: Some(s.multi_region),
        multi_region_configuration,
        pending_deletion_window_in_days: if pending { r.pending_window_days } else { None },
        current_key_material_id: s.current_material().map(|m| m.id.clone()),
        ..Default::default()
    }
}
