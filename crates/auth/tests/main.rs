//! All integration tests of kmsnap-auth, in one binary.

mod common;
mod presigned;
mod reference;
mod security_regressions;
mod sigv4_vectors;
mod skew_and_scope;
mod sts;
mod unsigned_headers;
