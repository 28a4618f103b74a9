//! SigV4, credentials, principals, STS (placeholder until the auth work lands).
#![forbid(unsafe_code)]
