//! EC2 volumes and snapshots, the EBS direct block API, copy and sharing. (Built by the EBS issue.)
#![forbid(unsafe_code)]
