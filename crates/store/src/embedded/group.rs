//! Group sync: writers whose changes are written but not yet durable share one sync.
//!
//! A writer takes a ticket ([`GroupSync::issue`]) once its change is written, then waits until
//! a sync that covers the ticket has finished ([`GroupSync::wait_durable`]). If no sync is
//! running it runs one itself and, when it ends, every ticket issued before the sync read the
//! counter is durable; writers that came meanwhile wait for it and run the next one. Used for
//! redb commits ([`super::EmbeddedMeta`]: an empty `Durability::Immediate` commit) and packed
//! blob writes (`fdatasync` of a pack segment file). It knows neither: both call it.

use crate::error::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct GroupSync {
    /// Tickets handed to written-but-unsynced changes.
    issued: AtomicU64,
    state: Mutex<SyncState>,
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Every ticket up to this is durable.
    durable: u64,
    /// A thread is running a sync.
    leader: bool,
    /// Every ticket up to this one failed to sync, with the reason.
    failed: Option<(u64, String)>,
}

impl GroupSync {
    /// A ticket for a change just written.
    pub(crate) fn issue(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once `ticket` is durable, running `sync` if no sync is under way. `sync` reads
    /// the ticket counter at the point from which everything written before is covered, makes
    /// it durable, and returns what it read.
    pub(crate) fn wait_durable(
        &self,
        ticket: u64,
        sync: impl FnOnce(&AtomicU64) -> Result<u64, StoreError>,
    ) -> Result<(), StoreError> {
        let mut st = self.state.lock().map_err(|_| StoreError::poisoned())?;
        loop {
            if st.durable >= ticket {
                return Ok(());
            }
            if let Some((upto, why)) = &st.failed {
                if ticket <= *upto {
                    return Err(StoreError::backend(format!("sync failed: {why}")));
                }
            }
            if !st.leader {
                break;
            }
            st = self.synced.wait(st).map_err(|_| StoreError::poisoned())?;
        }
        st.leader = true;
        drop(st);
        let result = sync(&self.issued);
        let mut st = self.state.lock().map_err(|_| StoreError::poisoned())?;
        st.leader = false;
        let out = match result {
            Ok(target) => {
                st.durable = st.durable.max(target);
                Ok(())
            }
            Err(e) => {
                let upto = self.issued.load(Ordering::SeqCst);
                st.failed = Some((upto, e.to_string()));
                Err(e)
            }
        };
        self.synced.notify_all();
        out
    }
}
