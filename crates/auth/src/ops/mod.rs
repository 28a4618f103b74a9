//! STS operations as plain functions; the server wires them to the awsQuery codec.
//!
//! * [`get_caller_identity`]: who the caller is.
//! * [`assume_role`]: [`crate::Keyring::assume_role`] mints stateless temporary credentials.

pub mod assume_role;
pub mod get_caller_identity;

pub use get_caller_identity::get_caller_identity;
