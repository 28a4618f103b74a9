//! One module per family of KMS operations.
pub mod agreement;
pub mod aliases;
pub mod common;
pub mod crypto;
pub mod data_key_pair;
pub mod grants;
pub mod import;
pub mod keys;
pub mod mac;
pub mod multi_region;
pub mod policies;
pub mod rotation;
pub mod sign;
pub mod tags;
