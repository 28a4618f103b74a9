//! Acknowledging batches in jseq order: batches are written concurrently and finish in any
//! order, but a batch may be answered only once it and every batch before it are durable (a
//! crash can tear only batches after the last one answered, and reading stops at the first
//! torn one). After a failed batch nothing more is acknowledged: the journal may end there
//! after a crash.

use std::collections::BTreeMap;

/// Finished batches waiting for their turn; `T` is what the caller answers a batch with.
#[derive(Debug)]
pub struct AckOrder<T> {
    /// The batch acknowledged next.
    next: u64,
    finished: BTreeMap<u64, (T, Result<(), String>)>,
    /// The first failure: nothing after it is acknowledged.
    failed: Option<String>,
}

impl<T> Default for AckOrder<T> {
    fn default() -> Self {
        AckOrder {
            next: 0,
            finished: BTreeMap::new(),
            failed: None,
        }
    }
}

impl<T> AckOrder<T> {
    /// Batch `batch` (numbered by [`super::Journal::reserve`]) finished writing with `result`.
    /// Returns the batches that can be answered now, in order: `Ok` for those durable with
    /// everything before them, the first failure's reason for every batch from it on.
    pub fn finish(
        &mut self,
        batch: u64,
        item: T,
        result: Result<(), String>,
    ) -> Vec<(T, Result<(), String>)> {
        self.finished.insert(batch, (item, result));
        let mut out = Vec::new();
        while let Some((item, result)) = self.finished.remove(&self.next) {
            self.next += 1;
            if let Err(why) = result {
                self.failed.get_or_insert(why);
            }
            let answer = match &self.failed {
                Some(why) => Err(why.clone()),
                None => Ok(()),
            };
            out.push((item, answer));
        }
        out
    }

    /// The batch acknowledged next (every batch below it has been answered).
    pub fn next(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_answered_in_order_and_nothing_after_a_failure_succeeds() {
        let mut acks = AckOrder::default();
        assert!(acks.finish(1, 'b', Ok(())).is_empty(), "waits for batch 0");
        assert!(acks.finish(2, 'c', Ok(())).is_empty());
        let got = acks.finish(0, 'a', Ok(()));
        assert_eq!(got, vec![('a', Ok(())), ('b', Ok(())), ('c', Ok(()))]);
        assert_eq!(acks.next(), 3);
        assert!(acks.finish(4, 'e', Ok(())).is_empty());
        let got = acks.finish(3, 'd', Err("torn".into()));
        assert_eq!(
            got,
            vec![('d', Err("torn".to_owned())), ('e', Err("torn".to_owned()))]
        );
        assert_eq!(
            acks.finish(5, 'f', Ok(())),
            vec![('f', Err("torn".to_owned()))],
            "a later success is not acknowledged"
        );
    }
}
