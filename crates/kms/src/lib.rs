//! KMS: keys, key material, policies, grants, aliases, rotation, multi-region keys and the
//! cryptography behind Encrypt/Decrypt. (Built by the KMS issue.)
#![forbid(unsafe_code)]
