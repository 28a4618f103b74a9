//! The server clock's offset from real time (`POST /_kmsnap/clock`), kept in the store so a
//! restart resumes at the same simulated time.

use kmsnap_store::{MetaStore, StoreError};

const SERVER_TABLE: &str = "server";
const CLOCK_KEY: &[u8] = b"clock_offset_ms";

pub fn load_clock_offset(meta: &dyn MetaStore) -> Result<i64, StoreError> {
    let txn = meta.read()?;
    Ok(txn
        .get(SERVER_TABLE, CLOCK_KEY)?
        .and_then(|r| {
            r.value
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
        })
        .unwrap_or(0))
}

pub fn store_clock_offset(meta: &dyn MetaStore, offset_ms: i64) -> Result<(), StoreError> {
    let mut txn = meta.write()?;
    txn.put(SERVER_TABLE, CLOCK_KEY, &offset_ms.to_be_bytes())?;
    txn.commit()
}
