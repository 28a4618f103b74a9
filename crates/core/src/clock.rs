//! The injected clock. Everything time-based in the domain reads a [`Clock`], never the system
//! clock, so tests can move time forward with `POST /_kmsnap/clock` (DESIGN.md). Only SigV4's
//! freshness check uses real time.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Real time plus an offset that only ever grows; the server's clock in every mode (the offset
/// stays zero unless dev mode's clock endpoint advances it).
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(offset_ms: i64) -> Self {
        ManualClock {
            offset_ms: AtomicI64::new(offset_ms.max(0)),
        }
    }

    /// Move time forward; negative amounts are ignored so that time never runs backwards.
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds();
        if ms > 0 {
            self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        }
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_forward_only() {
        let c = ManualClock::default();
        let t0 = c.now();
        c.advance(Duration::days(8));
        assert!(c.now() - t0 >= Duration::days(8));
        c.advance(Duration::days(-30));
        assert!(c.now() - t0 >= Duration::days(8));
    }
}
