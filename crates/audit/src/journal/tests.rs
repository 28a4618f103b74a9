//! The audit journal: frames, and what survives a crash. A crash is simulated at the file
//! level: the writer runs with its mover held (records reach the journal, never the log) and
//! is dropped, as if the process died right after the journal sync; then the bytes a torn
//! write could leave are put at the journal's end, and a new writer (or the offline
//! [`recover`]) must bring back exactly the acknowledged records, in order, with a chain that
//! verifies.

use super::*;
use crate::{verify, AuditWriter, Event, JournalConfig};
use chrono::{TimeZone, Utc};
use kmsnap_auth::{Principal, RequestContext};
use kmsnap_core::{AccountId, Region};
use kmsnap_store::journal::{encode_frame, Recovered};
use serde_json::json;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

const A: &str = "111111111111";
const REGION: &str = "eu-west-1";

fn event(i: u64) -> Event {
    let acct = AccountId::parse(A).unwrap();
    let ctx = RequestContext {
        principal: Principal::root(acct, A),
        region: Region::parse(REGION).unwrap(),
        request_id: format!("req-{i}"),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "journal-test".into(),
        now: Utc
            .timestamp_opt(1_795_000_000 + i as i64, 0)
            .single()
            .unwrap(),
        via_service: None,
    };
    Event::api_call(&ctx, "kms.amazonaws.com", "Encrypt", true).with_request(
        "kms",
        "Encrypt",
        json!({"KeyId": format!("key-{i}")}),
    )
}

/// The `KeyId`s of the log's records, oldest first.
fn logged(store: &dyn MetaStore) -> Vec<u64> {
    let mut out = Vec::new();
    crate::export(store, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let k = v["requestParameters"]["keyId"].as_str().unwrap().to_owned();
            k.trim_start_matches("key-").parse().unwrap()
        })
        .collect()
}

/// How many `audit_log` values hold the records (the mover and recovery store packs).
fn log_values(store: &dyn MetaStore) -> u64 {
    store.read().unwrap().count(crate::LOG_TABLE, b"").unwrap()
}

fn chain_ok(store: &dyn MetaStore, records: u64) {
    assert_eq!(
        verify(store).unwrap(),
        crate::VerifyReport {
            records,
            first_broken: None
        }
    );
}

fn small() -> JournalConfig {
    JournalConfig {
        segment_bytes: 64 << 10,
        move_linger: std::time::Duration::from_millis(1),
        ..JournalConfig::default()
    }
}

fn held() -> JournalConfig {
    JournalConfig {
        hold_mover: true,
        ..small()
    }
}

fn open_store(dir: &Path) -> Arc<dyn MetaStore> {
    kmsnap_store::open_embedded(dir).unwrap().0
}

/// Submits `range` (one event each, from 4 threads), each acknowledged.
fn submit_all(writer: &Arc<AuditWriter>, range: std::ops::Range<u64>) {
    let ids: Vec<u64> = range.collect();
    let threads: Vec<_> = ids
        .chunks(ids.len().div_ceil(4).max(1))
        .map(|part| {
            let w = writer.clone();
            let part = part.to_vec();
            std::thread::spawn(move || {
                for i in part {
                    w.submit_event_wait(&event(i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A server run that dies right after the journal sync: `ids` are submitted and acknowledged
/// with the mover held, then everything is dropped.
fn crash_after(dir: &Path, config: JournalConfig, ids: std::ops::Range<u64>) {
    let store = open_store(dir);
    let held = JournalConfig {
        hold_mover: true,
        ..config
    };
    let writer = Arc::new(AuditWriter::with_journal(store, &dir.join(JOURNAL_DIR), held).unwrap());
    submit_all(&writer, ids);
}

/// Sorts what the log holds and checks it is exactly `ids`, with a chain that verifies.
fn expect_logged(store: &dyn MetaStore, ids: std::ops::Range<u64>) {
    let mut got = logged(store);
    got.sort_unstable();
    assert_eq!(got, ids.clone().collect::<Vec<_>>());
    chain_ok(store, ids.end - ids.start);
}

/// The segment file holding the last records and the offset after them.
fn journal_end(dir: &Path) -> (PathBuf, usize, u64) {
    let found: Recovered<Filed> =
        Journal::recover(Arc::new(DirIo::new(dir)), 0, decode_payload).unwrap();
    let seg = found
        .segments()
        .iter()
        .rev()
        .find(|s| s.last_jseq.is_some())
        .expect("a segment with records");
    (dir.join(&seg.name), seg.end, seg.last_jseq.unwrap())
}

fn write_at(path: &Path, at: usize, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at as u64).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_payload_decodes_only_as_its_own_record() {
    let rec = Filed {
        account: A.into(),
        region: REGION.into(),
        time_ms: 1_795_000_000_123,
        event: r#"{"eventName":"Encrypt"}"#.into(),
    };
    let mut buf = Vec::new();
    rec.encode(&mut buf).unwrap();
    assert_eq!(decode_payload(&buf), Some(rec.clone()));
    for cut in 0..13 + A.len() + REGION.len() {
        assert!(decode_payload(&buf[..cut]).is_none(), "cut at {cut}");
    }
    let mut other = buf.clone();
    other[0] = 2;
    assert!(decode_payload(&other).is_none(), "another payload version");
    assert!(fits(&rec, 64 << 10));
    let huge = Filed {
        event: "x".repeat(64 << 10),
        ..rec
    };
    assert!(!fits(&huge, 64 << 10));
}

/// A journal segment written by the audit journal before it became the store's journal engine
/// (two batches: records 0–2, then 3–4) still recovers, and the engine writes those records
/// byte for byte as it did.
#[test]
fn a_journal_written_before_the_engine_moved_still_recovers_byte_for_byte() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let name = "00000000000000000001.seg";
    let old = std::fs::read(fixture.join(name)).unwrap();
    let rec = |i: i64| Filed {
        account: A.into(),
        region: REGION.into(),
        time_ms: 1_795_000_000_000 + i,
        event: format!(r#"{{"eventName":"Encrypt","n":{i}}}"#),
    };
    let (mem, _) = kmsnap_store::open_memory();
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::write(jdir.join(name), &old).unwrap();
    let replayed: Vec<Filed> =
        kmsnap_store::journal::replay(Arc::new(DirIo::new(&jdir)), 0, decode_payload)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
    assert_eq!(replayed, (0..5).map(rec).collect::<Vec<_>>());
    assert_eq!(recover(mem.as_ref(), &jdir).unwrap(), 5);
    assert_eq!(log_values(mem.as_ref()), 1, "moved into the log, one pack");
    // Written again from scratch, the same records make the same bytes.
    let (fresh, _) = kmsnap_store::open_memory();
    let again = tempfile::tempdir().unwrap();
    let (mut segs, _) = open(fresh.as_ref(), Arc::new(DirIo::new(again.path())), &small()).unwrap();
    segs.append(&[rec(0), rec(1), rec(2)]).unwrap();
    segs.append(&[rec(3), rec(4)]).unwrap();
    let (written, end) = segs.active_position().unwrap();
    assert_eq!(written, name);
    let new = std::fs::read(again.path().join(name)).unwrap();
    assert_eq!(end as usize, old.len());
    assert!(new[..old.len()] == old[..], "the segment's bytes changed");
}

#[test]
fn acknowledged_records_survive_a_crash_between_the_journal_sync_and_the_move() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    {
        let store = open_store(dir.path());
        let writer = Arc::new(AuditWriter::with_journal(store.clone(), &jdir, held()).unwrap());
        submit_all(&writer, 0..200);
        // Acknowledged, durable in the journal, not in the log: the process dies here.
        assert!(logged(store.as_ref()).is_empty());
    }
    let store = open_store(dir.path());
    let writer = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    expect_logged(store.as_ref(), 0..200);
    // And the journal goes on from there; nothing is moved twice.
    submit_all(&Arc::new(writer), 200..260);
    let store = open_store_after_drop(dir.path(), store);
    let _again = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    assert_eq!(logged(store.as_ref()).len(), 260);
    chain_ok(store.as_ref(), 260);
}

/// Drops `store` (every handle) and opens the data directory again.
fn open_store_after_drop(dir: &Path, store: Arc<dyn MetaStore>) -> Arc<dyn MetaStore> {
    drop(store);
    open_store(dir)
}

#[test]
fn a_torn_tail_is_ignored_and_later_records_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    crash_after(dir.path(), small(), 0..30);
    // A batch that was being written when the process died: one whole frame (its call never
    // answered, but the record is intact), then a frame cut short.
    let (path, end, last) = journal_end(&jdir);
    let mut torn = Vec::new();
    encode_frame(
        last + 1,
        &Filed::file_all(&[event(1000)]).unwrap()[0],
        &mut torn,
    )
    .unwrap();
    let whole = torn.len();
    encode_frame(
        last + 2,
        &Filed::file_all(&[event(1001)]).unwrap()[0],
        &mut torn,
    )
    .unwrap();
    torn.truncate(whole + (torn.len() - whole) / 2);
    write_at(&path, end, &torn);
    {
        let store = open_store(dir.path());
        let writer = Arc::new(AuditWriter::with_journal(store.clone(), &jdir, held()).unwrap());
        let got = logged(store.as_ref());
        assert_eq!(got.len(), 31, "30 acknowledged + the intact unanswered one");
        assert_eq!(got.last(), Some(&1000));
        // Crash again with more acknowledged records in the new segment.
        submit_all(&writer, 30..50);
    }
    let store = open_store(dir.path());
    let _w = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    let got = logged(store.as_ref());
    assert_eq!(got.len(), 51);
    assert!(!got.contains(&1001), "the torn record is never read");
    for i in 0..50 {
        assert!(got.contains(&i), "acknowledged record {i} missing");
    }
    chain_ok(store.as_ref(), 51);
}

#[test]
fn recycled_segments_never_bring_back_stale_records() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    let store = open_store(dir.path());
    {
        // 64 KiB segments: ~1,500 records fill dozens of them, recycled as the mover goes.
        let writer = Arc::new(AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap());
        for round in 0..5 {
            submit_all(&writer, round * 300..(round + 1) * 300);
            writer.flush().unwrap();
            assert_eq!(logged(store.as_ref()).len() as u64, (round + 1) * 300);
        }
        let files = std::fs::read_dir(&jdir).unwrap().count();
        assert!(
            files <= 5,
            "moved segments are recycled or removed ({files} files)"
        );
    }
    // Crash with records only in the (recycled) journal files, then recover.
    drop(store);
    crash_after(dir.path(), small(), 1500..1800);
    let store = open_store(dir.path());
    let _w = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    expect_logged(store.as_ref(), 0..1800);
}

#[test]
fn concurrent_writers_acknowledge_in_order_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    let config = JournalConfig {
        writers: 3,
        ..small()
    };
    {
        let store = open_store(dir.path());
        let writer =
            Arc::new(AuditWriter::with_journal(store.clone(), &jdir, config.clone()).unwrap());
        submit_all(&writer, 0..400);
        writer.flush().unwrap();
        expect_logged(store.as_ref(), 0..400);
        // Moved in packs of at most 64.
        assert!(
            (7..400).contains(&log_values(store.as_ref())),
            "{}",
            log_values(store.as_ref())
        );
    }
    // And with the mover held: every acknowledged record is readable from the journal alone,
    // across batches written out of order and segment switches.
    crash_after(dir.path(), config.clone(), 400..1000);
    let store = open_store(dir.path());
    let _w = AuditWriter::with_journal(store.clone(), &jdir, config).unwrap();
    expect_logged(store.as_ref(), 0..1000);
}

#[test]
fn a_record_too_large_for_the_journal_fails_only_its_own_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let writer =
        AuditWriter::with_journal(store.clone(), &dir.path().join(JOURNAL_DIR), small()).unwrap();
    let huge = event(0).with_request("kms", "Encrypt", json!({"KeyId": "k".repeat(100 << 10)}));
    assert!(matches!(
        writer.submit_event_wait(&huge),
        Err(crate::AuditError::Encode { .. })
    ));
    writer.submit_event_wait(&event(1)).unwrap();
    writer.flush().unwrap();
    assert_eq!(logged(store.as_ref()), vec![1]);
}

#[test]
fn the_offline_recovery_moves_the_journal_once() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    crash_after(dir.path(), small(), 0..40);
    let store = open_store(dir.path());
    assert_eq!(recover(store.as_ref(), &jdir).unwrap(), 40);
    assert_eq!(recover(store.as_ref(), &jdir).unwrap(), 0, "already moved");
    chain_ok(store.as_ref(), 40);
    assert_eq!(log_values(store.as_ref()), 1, "40 records in one pack");
    let _w = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    chain_ok(store.as_ref(), 40);
    assert_eq!(
        recover(store.as_ref(), &dir.path().join("nowhere")).unwrap(),
        0
    );
}

#[test]
fn a_reset_empties_the_journal_before_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    let store = open_store(dir.path());
    {
        let writer = Arc::new(AuditWriter::with_journal(store.clone(), &jdir, held()).unwrap());
        submit_all(&writer, 0..20);
        writer.reset(|| store.wipe()).unwrap();
        submit_all(&writer, 20..25);
    }
    let store = open_store_after_drop(dir.path(), store);
    let _w = AuditWriter::with_journal(store.clone(), &jdir, small()).unwrap();
    expect_logged(store.as_ref(), 20..25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_sees_every_acknowledged_call_without_waiting_for_the_linger() {
    use kmsnap_api::gen::cloudtrail::{CloudtrailHandler, LookupEventsRequest};
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let config = JournalConfig {
        move_linger: std::time::Duration::from_secs(3600),
        ..JournalConfig::default()
    };
    let writer = Arc::new(
        AuditWriter::with_journal(store.clone(), &dir.path().join(JOURNAL_DIR), config).unwrap(),
    );
    for i in 0..10 {
        writer.submit_event(&event(i)).await.unwrap();
    }
    let ct = crate::Cloudtrail::with_writer(store.clone(), writer.clone());
    let ctx = RequestContext {
        principal: Principal::root(AccountId::parse(A).unwrap(), A),
        region: Region::parse(REGION).unwrap(),
        request_id: "r".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "t".into(),
        now: Utc.timestamp_opt(1_795_000_100, 0).single().unwrap(),
        via_service: None,
    };
    let started = std::time::Instant::now();
    let out = ct
        .lookup_events(&ctx, LookupEventsRequest::default())
        .await
        .unwrap();
    assert_eq!(out.events.unwrap().len(), 10);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn memory_mode_acknowledges_at_once_and_a_flush_moves_everything() {
    let (store, _) = kmsnap_store::open_memory();
    let writer = Arc::new(AuditWriter::in_memory(store.clone()).unwrap());
    submit_all(&writer, 0..100);
    writer.flush().unwrap();
    expect_logged(store.as_ref(), 0..100);
    writer.reset(|| store.wipe()).unwrap();
    submit_all(&writer, 100..110);
    // Dropping the writer moves what is queued.
    drop(writer);
    expect_logged(store.as_ref(), 100..110);
}

/// `cargo test -p kmsnap-audit --release -- --ignored --nocapture mover_cost`
#[test]
#[ignore = "measurement, not a check"]
fn mover_cost() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let recs: Vec<Filed> = (0..20_000)
        .flat_map(|i| Filed::file_all(&[event(i)]).unwrap())
        .collect();
    println!("event json bytes: {}", recs[0].event.len());
    let t = std::time::Instant::now();
    for r in &recs {
        let _ = Filed::file_all(&[event(1)]).unwrap();
        let _ = r;
    }
    println!(
        "build+file one event: {:.2} us",
        t.elapsed().as_secs_f64() * 1e6 / recs.len() as f64
    );
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        buf.clear();
        encode_frame(i as u64, r, &mut buf).unwrap();
    }
    println!(
        "frame: {:.2} us",
        t.elapsed().as_secs_f64() * 1e6 / recs.len() as f64
    );
    for layout in [Layout::Single, Layout::Packed] {
        for chunk in [500usize, 5000] {
            let (mem, _) = kmsnap_store::open_memory();
            let t = std::time::Instant::now();
            for c in recs.chunks(chunk) {
                kmsnap_store::transact(mem.as_ref(), |txn| append_filed(txn, c.iter(), layout))
                    .unwrap();
            }
            println!(
                "append {layout:?} (memory store, {chunk}/txn): {:.2} us",
                t.elapsed().as_secs_f64() * 1e6 / recs.len() as f64
            );
            let t = std::time::Instant::now();
            for c in recs.chunks(chunk) {
                kmsnap_store::transact(store.as_ref(), |txn| append_filed(txn, c.iter(), layout))
                    .unwrap();
            }
            println!(
                "append {layout:?} (embedded, {chunk}/txn): {:.2} us",
                t.elapsed().as_secs_f64() * 1e6 / recs.len() as f64
            );
        }
    }
}

/// `cargo test -p kmsnap-audit --release -- --ignored --nocapture append_latency`
#[test]
#[ignore = "measurement, not a check"]
fn append_latency() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(JOURNAL_DIR);
    let (mem, _) = kmsnap_store::open_memory();
    let config = JournalConfig {
        segment_bytes: 64 << 20,
        ..JournalConfig::default()
    };
    let io = Arc::new(DirIo::new(&jdir));
    let (mut segs, _) = open(mem.as_ref(), io.clone(), &config).unwrap();
    io.create_zeroed("spare-x", segs.segment_bytes()).unwrap();
    segs.add_spare("spare-x".into());
    let batch: Vec<Filed> = (0..3)
        .flat_map(|i| Filed::file_all(&[event(i)]).unwrap())
        .collect();
    for label in ["sparse new segment", "zero-filled spare"] {
        let mut lat = Vec::new();
        for _ in 0..2000 {
            let t = std::time::Instant::now();
            segs.append(&batch).unwrap();
            lat.push(t.elapsed().as_micros());
        }
        lat.sort_unstable();
        println!(
            "{label}: median {} us, p90 {} us, p99 {} us",
            lat[1000], lat[1800], lat[1980]
        );
        segs.switch_segment().unwrap();
    }
}

/// Over the store's fault-injecting journal directory: a crash that keeps any subset of the
/// unsynced sectors loses no acknowledged record, and the writer started on what survived
/// moves exactly those (plus whole unanswered ones) into the log.
#[test]
fn acknowledged_records_survive_a_crash_of_the_journal_device() {
    use kmsnap_store::fault::{CrashMode, FaultDir};
    for seed in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let dev = FaultDir::new();
        {
            let store = open_store(dir.path());
            let writer = Arc::new(
                AuditWriter::with_journal_io(store, Arc::new(dev.clone()), held()).unwrap(),
            );
            submit_all(&writer, 0..120);
        }
        let survivor = dev.crash(CrashMode::KeepRandom { seed });
        let store = open_store(dir.path());
        let _w = AuditWriter::with_journal_io(store.clone(), Arc::new(survivor), small()).unwrap();
        expect_logged(store.as_ref(), 0..120);
    }
}
