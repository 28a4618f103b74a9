//! `cargo xtask <task>` (placeholder until codegen lands).
fn main() {}
