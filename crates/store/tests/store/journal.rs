//! Crash and I/O-failure tests of the journal over the fault directory. Batches are reserved
//! in order and written in a shuffled order (as concurrent writers finish), acknowledged in
//! jseq order through `AckOrder`, while the directory is set to die or fail at a random sector
//! write, sync or directory change. After each failure (and at random quiet moments) the
//! directory crashes, keeping what a device may keep (nothing unsynced, everything, or any
//! subset of the unsynced sectors: torn writes), and the journal is recovered from the position
//! its consumer had kept. Replay must yield every acknowledged record after that position, in
//! order and byte for byte, followed at most by whole records of batches never acknowledged —
//! never a half-written one and never a stale one.

use crate::crash_mode;
use kmsnap_store::fault::{CrashMode, FaultDir, SplitMix, SECTOR};
use kmsnap_store::journal::{AckOrder, Batch, Journal, JournalIo, SegmentConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A record that names itself (round and index) and has a length that varies, often past a
/// sector so that one write spans several.
fn record(rng: &mut SplitMix, round: u64, i: u64) -> Vec<u8> {
    let mut p = format!("r{round}-{i}|").into_bytes();
    let len = match rng.below(6) {
        0 => 600 + rng.below(3_000),
        _ => rng.below(200),
    };
    p.extend((0..len).map(|k| (k as u8) ^ (round as u8)));
    p
}

fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 64 << 10,
        spare_segments: 1,
    }
}

#[derive(Default, Debug)]
struct Stats {
    acked: u64,
    crashes: u64,
    failed_writes: u64,
    /// Records never acknowledged that a crash kept whole (and replay returned).
    unacked_survivors: u64,
}

/// What the journal's consumer has: every record up to `kept` is safe elsewhere.
struct World {
    dev: FaultDir,
    journal: Journal,
    /// Records reserved since the last recovery, by jseq (written or not).
    reserved: BTreeMap<u64, Vec<u8>>,
    acked_upto: u64,
    kept: u64,
    /// Acknowledgement order of the current journal's batches.
    acks: AckOrder<u64>,
}

/// Crashes the directory and recovers: checks replay against what was acknowledged, then
/// keeps what was replayed and starts writing again.
fn crash_and_recover(w: &mut World, rng: &mut SplitMix, stats: &mut Stats, ctx: &str) {
    stats.crashes += 1;
    let survivor = w.dev.crash(crash_mode(rng));
    let io: Arc<dyn JournalIo> = Arc::new(survivor.clone());
    let found = Journal::recover(io, w.kept, |p| Some(p.to_vec()))
        .unwrap_or_else(|e| panic!("{ctx}: recover failed: {e}"));
    let got = found.records();
    let acked: Vec<(u64, &Vec<u8>)> = w
        .reserved
        .range(w.kept + 1..)
        .take_while(|(j, _)| **j <= w.acked_upto)
        .map(|(j, r)| (*j, r))
        .collect();
    assert!(
        got.len() >= acked.len(),
        "{ctx}: {} acknowledged records after {}, replay has {}",
        acked.len(),
        w.kept,
        got.len()
    );
    for (i, (jseq, rec)) in got.iter().enumerate() {
        if let Some(&(want_jseq, want)) = acked.get(i) {
            assert_eq!(*jseq, want_jseq, "{ctx}: acknowledged record out of place");
            assert!(rec == want, "{ctx}: acknowledged record {jseq} changed");
        } else {
            // Past what was acknowledged: only whole records that were really written.
            assert_eq!(
                w.reserved.get(jseq),
                Some(rec),
                "{ctx}: replay returned a record {jseq} that was never written whole"
            );
            stats.unacked_survivors += 1;
        }
        // In jseq order. Past the acknowledged prefix a gap is possible: a batch that crossed
        // into a new segment may be torn in the old one and whole in the new one.
        if i > 0 {
            assert!(*jseq > got[i - 1].0, "{ctx}: replay out of order");
        }
    }
    let (journal, at) = found
        .start(&config())
        .unwrap_or_else(|e| panic!("{ctx}: restart failed: {e}"));
    w.kept = at;
    w.acked_upto = at;
    w.reserved.clear();
    w.acks = AckOrder::default();
    w.journal = journal;
    w.dev = survivor;
}

fn run(seed: u64, rounds: u64) -> Stats {
    let mut rng = SplitMix(seed);
    let dev = FaultDir::new();
    let (journal, at) = Journal::recover(Arc::new(dev.clone()), 0, |p| Some(p.to_vec()))
        .unwrap()
        .start(&config())
        .unwrap();
    let mut w = World {
        dev,
        journal,
        reserved: BTreeMap::new(),
        acked_upto: at,
        kept: at,
        acks: AckOrder::default(),
    };
    let mut stats = Stats::default();
    for round in 0..rounds {
        let ctx = format!("seed {seed} round {round}");
        match rng.below(5) {
            0 => w.dev.die_after(1 + rng.below(40)),
            1 => w.dev.fail_nth_write(1 + rng.below(40)),
            _ => {}
        }
        // Reserve a few batches in order, as writer threads do under the lock.
        let mut batches: Vec<(u64, u64, Batch)> = Vec::new();
        let mut failed = false;
        for b in 0..1 + rng.below(4) {
            let records: Vec<Vec<u8>> = (0..1 + rng.below(6))
                .map(|i| record(&mut rng, round, b * 10 + i))
                .collect();
            let mut buf = Batch::default();
            match w.journal.reserve(&records, &mut buf) {
                Ok(r) => {
                    let first = r.last_jseq + 1 - records.len() as u64;
                    for (k, rec) in records.into_iter().enumerate() {
                        w.reserved.insert(first + k as u64, rec);
                    }
                    batches.push((r.batch, r.last_jseq, buf));
                }
                Err(_) => {
                    // A segment switch failed: the journal is broken until a restart.
                    failed = true;
                    break;
                }
            }
        }
        // Written in any order, acknowledged in order.
        for i in (1..batches.len()).rev() {
            batches.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (batch, last, buf) in &batches {
            let result = buf.write().map_err(|e| e.to_string());
            if result.is_err() {
                failed = true;
                stats.failed_writes += 1;
            }
            for (last, answer) in w.acks.finish(*batch, *last, result) {
                if answer.is_ok() {
                    w.acked_upto = w.acked_upto.max(last);
                    stats.acked += 1;
                }
            }
        }
        w.dev.clear_faults();
        if !failed && !w.dev.is_dead() && rng.below(3) == 0 {
            // The consumer keeps what was acknowledged; retired segments are recycled.
            w.kept = w.acked_upto;
            let retire = w.journal.retire(w.kept);
            let mut errors = Vec::new();
            if let Some(spare) = retire.run(|e| errors.push(e)) {
                w.journal.add_spare(spare);
            }
            assert!(errors.is_empty(), "{ctx}: {errors:?}");
        }
        if failed || w.dev.is_dead() || rng.below(6) == 0 {
            crash_and_recover(&mut w, &mut rng, &mut stats, &ctx);
        }
    }
    crash_and_recover(&mut w, &mut rng, &mut stats, &format!("seed {seed} end"));
    stats
}

#[test]
fn crashes_keep_exactly_the_acknowledged_records_and_nothing_half_written() {
    let mut total = Stats::default();
    for seed in 1..=24 {
        let s = run(seed, 150);
        total.acked += s.acked;
        total.crashes += s.crashes;
        total.failed_writes += s.failed_writes;
        total.unacked_survivors += s.unacked_survivors;
    }
    eprintln!("journal: {total:?}");
    assert!(
        total.acked > 1_000
            && total.crashes > 200
            && total.failed_writes > 50
            && total.unacked_survivors > 10,
        "{total:?}"
    );
}

/// One record spanning several sectors, cut at every point around its write: a crash before
/// the sync keeps it only if every sector of it survived; once the write returned (synced) it
/// survives every crash.
#[test]
fn a_crash_before_the_sync_loses_or_keeps_the_whole_record_and_after_it_keeps_it() {
    let rec: Vec<u8> = (0..3 * SECTOR as u32).map(|i| (i * 7) as u8).collect();
    let blocks = (20 + rec.len()).div_ceil(4096) * 4096;
    let sectors = (blocks / SECTOR) as u64;
    let frame_sectors = (20 + rec.len()).div_ceil(SECTOR) as u64;
    for die_at in 1..=sectors + 2 {
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::KeepAll,
            CrashMode::KeepRandom { seed: die_at },
        ] {
            let dev = FaultDir::new();
            let (mut journal, at) =
                Journal::recover(Arc::new(dev.clone()), 0, |p| Some(p.to_vec()))
                    .unwrap()
                    .start(&config())
                    .unwrap();
            dev.die_after(die_at);
            let acked = journal.append(std::slice::from_ref(&rec)).is_ok();
            let survivor = dev.crash(mode);
            let got = kmsnap_store::journal::replay(Arc::new(survivor), at, |p| Some(p.to_vec()))
                .unwrap();
            let ctx = format!("die at op {die_at} of {}, {mode:?}", sectors + 1);
            assert_eq!(acked, die_at > sectors + 1, "{ctx}");
            let whole = vec![(at + 1, rec.clone())];
            if acked {
                assert_eq!(got, whole, "{ctx}");
            } else {
                // Written but unsynced: kept only whole, only if the device kept its sectors.
                let frame_written = die_at > frame_sectors;
                match mode {
                    CrashMode::DropUnsynced => assert!(got.is_empty(), "{ctx}"),
                    CrashMode::KeepAll if frame_written => assert_eq!(got, whole, "{ctx}"),
                    CrashMode::KeepAll => assert!(got.is_empty(), "{ctx}"),
                    CrashMode::KeepRandom { .. } => {
                        assert!(got.is_empty() || got == whole, "{ctx}")
                    }
                }
            }
        }
    }
}
