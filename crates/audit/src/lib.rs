//! CloudTrail-style audit events, the hash-chained append-only log and LookupEvents.
//! (Built by the access-control issue.)
#![forbid(unsafe_code)]
