//! Malformed directories and payloads get a typed error naming what is wrong, never a panic,
//! and recovery never truncates committed data away.

use std::fs;

use wal::format::{encode_frame, file_header};
use wal::{CorruptKind, Error, Seq, Wal};

fn dir_with(log: &[u8], safe_seq: Option<&[u8]>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("wal.log"), log).unwrap();
    if let Some(s) = safe_seq {
        fs::write(d.path().join("telemetry.safe_seq"), s).unwrap();
    }
    d
}

fn log_of(frames: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = file_header().to_vec();
    for (seq, p) in frames {
        encode_frame(Seq::new(*seq), p, &mut out);
    }
    out
}

#[test]
fn missing_directory_is_reported_as_not_found() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope");
    assert!(matches!(Wal::open(&missing), Err(Error::NotFound(p)) if p == missing));
}

#[test]
fn a_file_where_a_directory_is_expected_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("file");
    fs::write(&f, b"x").unwrap();
    assert!(matches!(Wal::open(&f), Err(Error::NotADirectory(_))));
}

#[test]
fn wrong_magic_is_not_a_wal_and_is_left_untouched() {
    let d = dir_with(b"SQLite format 3\0", None);
    let err = Wal::open(d.path()).err().expect("opened a non-WAL");
    assert!(matches!(err, Error::NotAWal { .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");
    assert_eq!(
        fs::read(d.path().join("wal.log")).unwrap(),
        b"SQLite format 3\0"
    );
}

#[test]
fn unsupported_version_is_not_a_wal() {
    let d = dir_with(b"PMWAL\0\x07\x00", None);
    let err = Wal::open(d.path()).err().unwrap();
    assert!(err.to_string().contains("version 7"), "{err}");
}

#[test]
fn truncated_header_with_committed_entries_is_an_error() {
    let d = dir_with(b"PMW", Some(b"3\n"));
    assert!(matches!(Wal::open(d.path()), Err(Error::NotAWal { .. })));
}

#[test]
fn torn_header_of_a_new_log_is_rewritten_when_nothing_was_committed() {
    let d = dir_with(b"PMW", None);
    let wal = Wal::open(d.path()).unwrap();
    assert!(wal.recovery().initialized_log);
    assert_eq!(fs::read(d.path().join("wal.log")).unwrap(), file_header());
}

#[test]
fn garbage_safe_seq_is_reported_with_its_content() {
    for bad in [&b"five\n"[..], b"", b"5", b"-1\n", b"5\n6\n"] {
        let d = dir_with(&log_of(&[(1, b"{}")]), Some(bad));
        match Wal::open(d.path()) {
            Err(Error::BadSafeSeq { .. }) => {}
            other => panic!("safe_seq {bad:?} gave {:?}", other.map(|w| w.safe_seq())),
        }
    }
}

#[test]
fn safe_seq_past_the_log_is_a_missing_committed_frame() {
    let log = log_of(&[(1, b"{}"), (2, b"[]")]);
    let d = dir_with(&log, Some(b"5\n"));
    match Wal::open(d.path()) {
        Err(Error::Corrupt {
            seq,
            offset,
            kind: CorruptKind::Missing,
            ..
        }) => {
            assert_eq!(seq, Seq::new(3));
            assert_eq!(offset, log.len() as u64);
        }
        other => panic!("{:?}", other.map(|w| w.safe_seq())),
    }
    assert_eq!(
        fs::read(d.path().join("wal.log")).unwrap(),
        log,
        "recovery changed committed data"
    );
}

#[test]
fn zero_and_oversized_length_fields_in_committed_frames_are_corruption() {
    for len in [0u32, 16 * 1024 * 1024 + 1, u32::MAX] {
        let mut log = log_of(&[(1, b"{}")]);
        let off = log.len() as u64;
        let mut frame = vec![0u8; 16];
        frame[4..8].copy_from_slice(&len.to_le_bytes());
        frame[8..16].copy_from_slice(&2u64.to_le_bytes());
        log.extend_from_slice(&frame);
        let d = dir_with(&log, Some(b"2\n"));
        match Wal::open(d.path()) {
            Err(Error::Corrupt {
                seq,
                offset,
                kind: CorruptKind::BadLength(l),
                ..
            }) => {
                assert_eq!((seq, offset, l), (Seq::new(2), off, len));
            }
            other => panic!("len {len}: {:?}", other.map(|w| w.safe_seq())),
        }
    }
}

#[test]
fn out_of_order_committed_frame_is_corruption() {
    let d = dir_with(&log_of(&[(1, b"1"), (3, b"3")]), Some(b"2\n"));
    assert!(matches!(
        Wal::open(d.path()),
        Err(Error::Corrupt { seq, kind: CorruptKind::OutOfOrder(found), .. }) if seq == Seq::new(2) && found == Seq::new(3)
    ));
}

#[test]
fn a_damaged_frame_past_safe_seq_is_a_discarded_tail() {
    let mut log = log_of(&[(1, b"1"), (2, b"2")]);
    let committed = log.len();
    log.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 5, 0, 0, 0]);
    let d = dir_with(&log, Some(b"2\n"));
    let wal = Wal::open(d.path()).unwrap();
    assert!(wal.recovery().discarded_damaged_tail);
    assert_eq!(
        fs::metadata(d.path().join("wal.log")).unwrap().len(),
        committed as u64
    );
}

#[test]
fn oversized_and_empty_payloads_are_refused_before_anything_is_written() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path()).unwrap();
    let big = vec![b' '; 16 * 1024 * 1024 + 1];
    assert!(matches!(wal.append(&big), Err(Error::InvalidPayload(_))));
    assert!(matches!(wal.append(b""), Err(Error::InvalidPayload(_))));
    assert!(matches!(
        wal.append_batch::<&[u8]>(&[]),
        Err(Error::EmptyBatch)
    ));
    assert_eq!(fs::metadata(d.path().join("wal.log")).unwrap().len(), 8);
    assert_eq!(wal.append(b"1").unwrap(), Seq::new(1));
}

#[test]
fn a_batch_with_one_bad_payload_commits_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path()).unwrap();
    assert!(wal.append_batch(&[&b"1"[..], b"{oops", b"3"]).is_err());
    assert_eq!(wal.safe_seq(), Seq::ZERO);
    assert_eq!(
        wal.append_batch(&[&b"1"[..], b"2"]).unwrap(),
        Seq::new(1)..=Seq::new(2)
    );
}

#[test]
fn a_reader_reports_a_committed_frame_replaced_under_it_instead_of_skipping_it() {
    let d = dir_with(&log_of(&[(1, b"{}"), (2, b"{}"), (3, b"{}")]), Some(b"3\n"));
    let wal = Wal::open(d.path()).unwrap();
    // Another process rewrites the log under the open writer: frame 2 now carries seq 3.
    fs::write(
        d.path().join("wal.log"),
        log_of(&[(1, b"{}"), (3, b"{}"), (3, b"{}")]),
    )
    .unwrap();
    let read: Vec<_> = wal.read_from(Seq::ZERO).collect();
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0].as_ref().unwrap().seq, Seq::new(1));
    assert!(
        matches!(
            &read[1],
            Err(Error::Corrupt { seq, kind: CorruptKind::OutOfOrder(s), .. })
                if *seq == Seq::new(2) && *s == Seq::new(3)
        ),
        "{read:?}"
    );
}
