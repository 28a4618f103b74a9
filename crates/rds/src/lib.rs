//! RDS DB instances, Aurora clusters and their snapshots. (Built by the RDS issue.)
#![forbid(unsafe_code)]
