//! The memory backend: [`MemoryMeta`] and [`MemoryBlobs`], for `--memory` and tests. Nothing
//! survives the process.

mod blob;
mod meta;

pub use blob::MemoryBlobs;
pub use meta::MemoryMeta;
