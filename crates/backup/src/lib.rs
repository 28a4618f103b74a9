//! AWS Backup vaults, jobs and recovery points. (Built by a later issue.)
#![forbid(unsafe_code)]
