//! The `kmsnap` binary (placeholder until the server lands).
#![forbid(unsafe_code)]
fn main() {}
