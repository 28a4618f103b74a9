//! Blobs in a map of shared byte vectors.

use crate::blob::{validate_blob_key, validate_blob_prefix, BlobStore};
use crate::error::StoreError;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct MemoryBlobs {
    objects: RwLock<BTreeMap<String, Arc<Vec<u8>>>>,
}

impl MemoryBlobs {
    pub fn new() -> Self {
        Self::default()
    }

    fn object(&self, key: &str) -> Result<Option<Arc<Vec<u8>>>, StoreError> {
        validate_blob_key(key)?;
        let map = self.objects.read().map_err(|_| StoreError::poisoned())?;
        Ok(map.get(key).cloned())
    }
}

impl BlobStore for MemoryBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        validate_blob_key(key)?;
        let obj = Arc::new(bytes.to_vec());
        self.objects
            .write()
            .map_err(|_| StoreError::poisoned())?
            .insert(key.to_owned(), obj);
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.object(key)?.map(|o| o.as_ref().clone()))
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.object(key)?.map(|o| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(o.len());
            let end = start.saturating_add(len).min(o.len());
            o.get(start..end).map(<[u8]>::to_vec).unwrap_or_default()
        }))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.object(key)?.map(|o| o.len() as u64))
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        validate_blob_key(key)?;
        Ok(self
            .objects
            .write()
            .map_err(|_| StoreError::poisoned())?
            .remove(key)
            .is_some())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_blob_prefix(prefix)?;
        let map = self.objects.read().map_err(|_| StoreError::poisoned())?;
        Ok(map
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn wipe(&self) -> Result<(), StoreError> {
        self.objects
            .write()
            .map_err(|_| StoreError::poisoned())?
            .clear();
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
