//! The embedded backend: [`EmbeddedMeta`] over a redb database (`<data_dir>/meta.redb`) and
//! [`FileBlobs`] over a directory (`<data_dir>/blobs/`). FORMAT.md describes both layouts.

mod blob;
mod group;
mod meta;
#[cfg(target_os = "linux")]
mod packs;

pub use blob::FileBlobs;
pub use meta::{CommitMode, EmbeddedMeta};
