//! One module per family of KMS operations.
pub mod aliases;
pub mod common;
pub mod crypto;
pub mod grants;
pub mod keys;
pub mod multi_region;
pub mod policies;
pub mod rotation;
pub mod tags;
