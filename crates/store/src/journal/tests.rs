//! Frames, segments and replay of the journal on its own; crash tests over the fault directory
//! are in tests/store/journal.rs.

use super::format::{decode_frame, encode_frame};
use super::*;
use crate::fault::FaultDir;

/// A payload naming its record: `rec-{i}` padded to a length that varies with `i`.
fn payload(i: u64) -> Vec<u8> {
    let mut p = format!("rec-{i}:").into_bytes();
    p.resize(p.len() + (i as usize * 37) % 300, b'x');
    p
}

fn id(p: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(p).ok()?;
    s.strip_prefix("rec-")?.split(':').next()?.parse().ok()
}

fn small() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 64 << 10,
        ..SegmentConfig::default()
    }
}

#[test]
fn a_frame_decodes_only_as_its_own_record_and_not_after_any_change() {
    let rec = br#"{"eventName":"Encrypt"}"#.to_vec();
    let mut buf = vec![0u8; 7];
    encode_frame(42, &rec, &mut buf).unwrap();
    let (back, end) = decode_frame(&buf, 7, 42).unwrap();
    assert_eq!((back, end), (&rec[..], buf.len()));
    assert!(decode_frame(&buf, 7, 43).is_none(), "another jseq");
    for i in 7..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 0x40;
        assert!(decode_frame(&bad, 7, 42).is_none(), "byte {i} changed");
    }
    for cut in 7..buf.len() {
        assert!(decode_frame(&buf[..cut], 7, 42).is_none(), "cut at {cut}");
    }
    assert!(decode_frame(&[0u8; 64], 0, 0).is_none(), "zeros");
}

#[test]
fn empty_and_oversized_payloads_are_refused_and_leave_nothing() {
    let mut buf = vec![1, 2, 3];
    assert!(encode_frame(1, &Vec::new(), &mut buf).is_err());
    assert!(encode_frame(1, &vec![0u8; MAX_PAYLOAD + 1], &mut buf).is_err());
    assert_eq!(buf, vec![1, 2, 3]);
    assert!(fits(MAX_PAYLOAD, 4 << 20) && !fits(MAX_PAYLOAD + 1, 4 << 20));
    assert!(!fits(64 << 10, 64 << 10), "larger than a segment's room");
}

#[test]
fn every_cut_or_corruption_of_the_last_batch_keeps_the_acknowledged_prefix() {
    let dir = FaultDir::new();
    let io: Arc<dyn JournalIo> = Arc::new(dir.clone());
    let rec = Journal::recover(io, 0, id).unwrap();
    let (mut journal, _) = rec.start(&small()).unwrap();
    let acked: Vec<Vec<u8>> = (0..5).map(payload).collect();
    journal.append(&acked).unwrap();
    let (name, start) = journal.active_position().unwrap();
    let torn: Vec<Vec<u8>> = (5..9).map(payload).collect();
    journal.append(&torn).unwrap();
    let (_, end) = journal.active_position().unwrap();
    drop(journal);
    let image = dir.image(&name).unwrap();
    let (start, end) = (start as usize, end as usize);
    // Every prefix of the last batch reached the disk (the rest still zeros), or any single
    // sector of it holds garbage: replay yields records 0..k for some k >= 5, in order.
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in (start..=end).step_by(7) {
        let mut img = image.clone();
        img[cut..end].fill(0);
        cases.push(img);
    }
    for at in (start..end).step_by(512) {
        let mut img = image.clone();
        let to = (at + 512).min(end);
        img[at..to].fill(0xA5);
        cases.push(img);
    }
    for img in cases {
        let probe = FaultDir::new();
        probe.create_zeroed(&name, 0).unwrap();
        probe.overwrite(&name, 0, &img).unwrap();
        let got: Vec<u64> = replay(Arc::new(probe), 0, id)
            .unwrap()
            .into_iter()
            .map(|(_, i)| i)
            .collect();
        assert!(got.len() >= 5, "an acknowledged record is missing: {got:?}");
        assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn a_payload_the_decoder_refuses_ends_the_segment() {
    let dir = FaultDir::new();
    let (mut journal, _) = Journal::recover(Arc::new(dir.clone()), 0, id)
        .unwrap()
        .start(&small())
        .unwrap();
    journal
        .append(&[payload(0), b"junk".to_vec(), payload(2)])
        .unwrap();
    let got = replay(Arc::new(dir), 0, id).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, 0);
}

#[test]
fn replay_starts_after_the_position_and_a_restart_jumps_past_everything_read() {
    let dir = FaultDir::new();
    let io: Arc<dyn JournalIo> = Arc::new(dir.clone());
    let (mut journal, at) = Journal::recover(io.clone(), 0, id)
        .unwrap()
        .start(&small())
        .unwrap();
    assert_eq!(at, RESTART_GAP - 1);
    // 64 KiB segments: these cross several.
    let mut last = 0;
    for i in 0..400 {
        last = journal.append(&[payload(i)]).unwrap();
    }
    assert_eq!(last, at + 400);
    drop(journal);
    let all = replay(io.clone(), 0, id).unwrap();
    assert_eq!(
        all.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..400).collect::<Vec<_>>()
    );
    assert!(all.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    let later = replay(io.clone(), at + 350, id).unwrap();
    assert_eq!(later.first().map(|r| r.1), Some(350));
    assert_eq!(later.len(), 50);
    let rec = Journal::recover(io.clone(), at + 400, id).unwrap();
    assert!(rec.records().is_empty());
    assert!(rec.segments().len() > 3, "{:?}", rec.segments());
    let (journal, again) = rec.start(&small()).unwrap();
    assert_eq!(again, at + 400 + RESTART_GAP - 1);
    drop(journal);
    assert!(
        replay(io, 0, id).unwrap().is_empty(),
        "old segments recycled"
    );
}

#[test]
fn retired_segments_become_spares_or_go() {
    let dir = FaultDir::new();
    let io: Arc<dyn JournalIo> = Arc::new(dir.clone());
    let config = SegmentConfig {
        segment_bytes: 64 << 10,
        spare_segments: 1,
    };
    let (mut journal, _) = Journal::recover(io.clone(), 0, id)
        .unwrap()
        .start(&config)
        .unwrap();
    let mut last = 0;
    for i in 0..600 {
        last = journal.append(&[payload(i)]).unwrap();
    }
    let before = io.list().unwrap().len();
    assert!(before > 4, "{before} files");
    let retire = journal.retire(last);
    assert!(!retire.is_empty());
    let mut errors = Vec::new();
    let spare = retire.run(|e| errors.push(e));
    assert!(errors.is_empty(), "{errors:?}");
    journal.add_spare(spare.expect("a spare from a retired segment"));
    let names = io.list().unwrap();
    assert_eq!(
        names.len(),
        2,
        "the active segment and one spare: {names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("spare-")));
    assert!(journal.retire(last).is_empty());
    // The spare becomes the next segment; nothing stale is read from it.
    for i in 600..900 {
        journal.append(&[payload(i)]).unwrap();
    }
    let got = replay(io.clone(), last, id).unwrap();
    assert_eq!(
        got.iter().map(|r| r.1).collect::<Vec<_>>(),
        (600..900).collect::<Vec<_>>()
    );
    journal.discard().unwrap();
    assert!(replay(io, 0, id).unwrap().is_empty(), "discarded");
}

/// The real directory: written directly where the file system allows it, else buffered and
/// synced; both read back.
#[test]
fn a_journal_on_disk_and_on_tmpfs_replays_what_it_wrote() {
    let dirs = [
        Some(tempfile::tempdir().unwrap()),
        tempfile::tempdir_in("/dev/shm").ok(),
    ];
    for dir in dirs.iter().flatten() {
        let io: Arc<dyn JournalIo> = Arc::new(DirIo::new(&dir.path().join("j")));
        assert!(
            replay(io.clone(), 0, id).unwrap().is_empty(),
            "no directory yet"
        );
        let (mut journal, _) = Journal::recover(io.clone(), 0, id)
            .unwrap()
            .start(&small())
            .unwrap();
        for i in 0..100 {
            journal
                .append(&[payload(2 * i), payload(2 * i + 1)])
                .unwrap();
        }
        let got = replay(io, 0, id).unwrap();
        assert_eq!(
            got.iter().map(|r| r.1).collect::<Vec<_>>(),
            (0..200).collect::<Vec<_>>()
        );
    }
}
