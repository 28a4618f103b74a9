//! Typed tables of versioned records: a [`Table`] knows its name and its record type; a record
//! type ([`Versioned`]) knows its schema version and the type of its previous version, and
//! reading upgrades whatever version is stored, one step at a time, to the current one. So no
//! caller decodes a record and drops its version: an old record is either upgraded or an error.
//! The model is Garage's `Migrate` trait (docs/storage.md §2 states the rules).
//!
//! Values keep the record encoding of [`encode_record`] (format byte, u16 version, JSON), so
//! a typed table reads what untyped code wrote and the other way round.

use crate::error::StoreError;
use crate::record::{decode_payload, encode_record, split_record};
use crate::txn::{ReadTxn, WriteTxn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A record type with a schema version and the chain of its earlier versions.
///
/// Version 1 of a record has `type Previous = Initial;`. Version `n + 1` names version `n`'s
/// type as `Previous` and says in [`Versioned::upgrade`] how a value of it becomes a value of
/// the new version. Reading a stored value of version `k` decodes it as the type of version
/// `k` and upgrades it through every later version.
///
/// Only the current version is ever written, so only it needs `Serialize` (for
/// [`Table::put`]); earlier versions' types are read-only shapes.
pub trait Versioned: DeserializeOwned {
    /// The schema version this type is written as (1 for the first).
    const VERSION: u16;
    /// The type of the version before this one ([`Initial`] for version 1).
    type Previous: Versioned;
    /// A value of the previous version as a value of this one.
    fn upgrade(previous: Self::Previous) -> Self;
}

/// The end of every chain: the (absent) version before version 1. It has no values, so
/// nothing decodes as it and nothing is upgraded from it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Initial {}

impl Versioned for Initial {
    const VERSION: u16 = 0;
    type Previous = Initial;
    fn upgrade(previous: Initial) -> Initial {
        previous
    }
}

/// Implements [`Versioned`] as version 1 (no previous version) for each type named: the
/// first shape of a record.
#[macro_export]
macro_rules! first_version {
    ($($t:ty),+ $(,)?) => {
        $(
            impl $crate::Versioned for $t {
                const VERSION: u16 = 1;
                type Previous = $crate::Initial;
                fn upgrade(previous: $crate::Initial) -> Self {
                    match previous {}
                }
            }
        )+
    };
}

/// Encodes `value` as a record of its current version.
pub fn encode<R: Versioned + Serialize>(value: &R) -> Result<Vec<u8>, StoreError> {
    encode_record(R::VERSION, value)
}

/// Decodes a record of any version of `R`'s chain, upgraded to `R`. A version above `R`'s, or
/// one the chain does not reach, is [`StoreError::Corrupt`].
pub fn decode<R: Versioned>(bytes: &[u8]) -> Result<R, StoreError> {
    let (version, payload) = split_record(bytes)?;
    decode_version(version, payload)
}

fn decode_version<R: Versioned>(version: u16, payload: &[u8]) -> Result<R, StoreError> {
    if version == R::VERSION && R::VERSION > 0 {
        return decode_payload(payload);
    }
    if version > R::VERSION || R::VERSION <= 1 {
        return Err(StoreError::corrupt(
            "record",
            format!(
                "schema version {version} is not one this build reads (current {})",
                R::VERSION
            ),
        ));
    }
    Ok(R::upgrade(decode_version::<R::Previous>(version, payload)?))
}

/// A table of records of type `R` in a MetaStore, used inside the caller's transactions.
/// Declare one as a constant: `const KEYS: Table<KeyRecord> = Table::new("kms_keys");`.
pub struct Table<R> {
    name: &'static str,
    record: PhantomData<fn() -> R>,
}

impl<R> Clone for Table<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Table<R> {}

impl<R> std::fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Table").field(&self.name).finish()
    }
}

impl<R: Versioned> Table<R> {
    pub const fn new(name: &'static str) -> Self {
        Table {
            name,
            record: PhantomData,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The record at `key`, upgraded to the current version.
    pub fn get(&self, txn: &dyn ReadTxn, key: &[u8]) -> Result<Option<R>, StoreError> {
        Ok(self.get_revision(txn, key)?.map(|(_, r)| r))
    }

    /// The record at `key` and its revision (for [`Table::put_if`] / [`Table::delete_if`]).
    pub fn get_revision(
        &self,
        txn: &dyn ReadTxn,
        key: &[u8],
    ) -> Result<Option<(u64, R)>, StoreError> {
        match txn.get(self.name, key)? {
            None => Ok(None),
            Some(rec) => Ok(Some((rec.revision, decode(&rec.value)?))),
        }
    }

    /// Records whose key starts with `prefix`, in key order, after `start_after`, at most
    /// `limit`: key, revision and the record upgraded.
    #[allow(clippy::type_complexity)]
    pub fn scan(
        &self,
        txn: &dyn ReadTxn,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, u64, R)>, StoreError> {
        txn.scan(self.name, prefix, start_after, limit)?
            .into_iter()
            .map(|(k, rec)| Ok((k, rec.revision, decode(&rec.value)?)))
            .collect()
    }

    /// Number of records whose key starts with `prefix`.
    pub fn count(&self, txn: &dyn ReadTxn, prefix: &[u8]) -> Result<u64, StoreError> {
        txn.count(self.name, prefix)
    }

    /// Removes `key`; true if it was there.
    pub fn delete(&self, txn: &mut dyn WriteTxn, key: &[u8]) -> Result<bool, StoreError> {
        txn.delete(self.name, key)
    }

    /// Removes `key` if its revision is `expected`.
    pub fn delete_if(
        &self,
        txn: &mut dyn WriteTxn,
        key: &[u8],
        expected: u64,
    ) -> Result<bool, StoreError> {
        txn.delete_if(self.name, key, expected)
    }
}

impl<R: Versioned + Serialize> Table<R> {
    /// Stores `value` (as the current version); its new revision.
    pub fn put(&self, txn: &mut dyn WriteTxn, key: &[u8], value: &R) -> Result<u64, StoreError> {
        txn.put(self.name, key, &encode(value)?)
    }

    /// Stores `value` if `key`'s revision is `expected` (0: absent); else
    /// [`StoreError::Conflict`].
    pub fn put_if(
        &self,
        txn: &mut dyn WriteTxn,
        key: &[u8],
        expected: u64,
        value: &R,
    ) -> Result<u64, StoreError> {
        txn.put_if(self.name, key, expected, &encode(value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transact;

    /// Version 1: a name.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ThingV1 {
        name: String,
    }

    crate::first_version!(ThingV1);

    /// Version 2: a name split in two.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ThingV2 {
        first: String,
        last: String,
    }

    impl Versioned for ThingV2 {
        const VERSION: u16 = 2;
        type Previous = ThingV1;
        fn upgrade(v1: ThingV1) -> Self {
            let (first, last) = v1.name.split_once(' ').unwrap_or((&v1.name, ""));
            ThingV2 {
                first: first.into(),
                last: last.into(),
            }
        }
    }

    /// Version 3 (current): and a count, which older records did not have.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Thing {
        first: String,
        last: String,
        count: u32,
    }

    impl Versioned for Thing {
        const VERSION: u16 = 3;
        type Previous = ThingV2;
        fn upgrade(v2: ThingV2) -> Self {
            Thing {
                first: v2.first,
                last: v2.last,
                count: 0,
            }
        }
    }

    const THINGS: Table<Thing> = Table::new("things");

    #[test]
    fn an_old_record_upgrades_on_read_through_every_step() {
        let (store, _) = crate::open_memory();
        transact(store.as_ref(), |txn| {
            // Written by an older build: version 1, and version 2.
            txn.put(
                "things",
                b"a",
                &encode_record(
                    1,
                    &ThingV1 {
                        name: "Ada Lovelace".into(),
                    },
                )?,
            )?;
            txn.put(
                "things",
                b"b",
                &encode(&ThingV2 {
                    first: "Alan".into(),
                    last: "Turing".into(),
                })?,
            )?;
            THINGS.put(
                txn,
                b"c",
                &Thing {
                    first: "Grace".into(),
                    last: "Hopper".into(),
                    count: 7,
                },
            )?;
            Ok::<(), StoreError>(())
        })
        .unwrap();
        let r = store.read().unwrap();
        let ada = THINGS.get(&*r, b"a").unwrap().unwrap();
        assert_eq!(
            ada,
            Thing {
                first: "Ada".into(),
                last: "Lovelace".into(),
                count: 0
            }
        );
        let all = THINGS.scan(&*r, b"", None, 10).unwrap();
        let names: Vec<(&[u8], &str, u32)> = all
            .iter()
            .map(|(k, _, t)| (&k[..], t.last.as_str(), t.count))
            .collect();
        assert_eq!(
            names,
            vec![
                (&b"a"[..], "Lovelace", 0),
                (&b"b"[..], "Turing", 0),
                (&b"c"[..], "Hopper", 7)
            ]
        );
        assert_eq!(THINGS.count(&*r, b"").unwrap(), 3);
        assert_eq!(THINGS.get(&*r, b"z").unwrap(), None);
    }

    #[test]
    fn a_write_stores_the_current_version_and_revisions_guard_it() {
        let (store, _) = crate::open_memory();
        let mut txn = store.write().unwrap();
        let t = Thing {
            first: "a".into(),
            last: "b".into(),
            count: 1,
        };
        let rev = THINGS.put_if(&mut *txn, b"k", 0, &t).unwrap();
        assert!(THINGS
            .put_if(&mut *txn, b"k", 0, &t)
            .unwrap_err()
            .is_conflict());
        let raw = txn.get("things", b"k").unwrap().unwrap();
        assert_eq!(split_record(&raw.value).unwrap().0, 3);
        assert_eq!(THINGS.get_revision(&*txn, b"k").unwrap(), Some((rev, t)));
        assert!(!THINGS.delete_if(&mut *txn, b"k", rev + 1).unwrap_or(false));
        assert!(THINGS.delete(&mut *txn, b"k").unwrap());
        assert!(!THINGS.delete(&mut *txn, b"k").unwrap());
    }

    #[test]
    fn versions_outside_the_chain_are_corrupt() {
        for version in [0u16, 4, 9] {
            let bytes = encode_record(version, &serde_json::json!({"first": "a"})).unwrap();
            assert!(
                matches!(decode::<Thing>(&bytes), Err(StoreError::Corrupt { .. })),
                "version {version}"
            );
        }
        // A version-1 payload that does not decode as version 1.
        let bad = encode_record(1, &serde_json::json!({"nom": 1})).unwrap();
        assert!(matches!(
            decode::<Thing>(&bad),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(decode::<ThingV1>(&encode_record(2, &"x").unwrap()).is_err());
    }
}
