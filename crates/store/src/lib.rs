//! Storage: MetaStore and BlobStore (placeholder until the store work lands).
#![forbid(unsafe_code)]
