//! The verifier's parallel path gives the report of its sequential path, byte for byte, on
//! damaged logs: the same violations, in the same order, with the same messages and counts.
//!
//! The parallel path reads a log in windows, finds the frames in each, checks them on several
//! threads and hands them back in order; what it must never do is report past the frame where
//! the sequential scan stops, lose a violation at a window's edge, or reorder anything. So each
//! seeded log below is damaged in the ways a real one is (flipped bytes, torn tails, bad length
//! fields, payloads that are not JSON or not UTF-8, seq gaps and repeats, safe_seq anywhere) and
//! verified by both paths under several plans: windows smaller than a frame header, smaller
//! than one frame, and the default; one thread and several.

use std::num::NonZeroUsize;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wal::format::{self, encode_frame, encode_safe_seq, file_header, MAX_PAYLOAD_LEN};
use wal::mem::MemStorage;
use wal::scan::parallel::Plan;
use wal::verify::{verify_sequential_with, verify_with, verify_with_plan, Report};
use wal::Seq;

const DIR: &str = "/wal";
const LOGS: u64 = 250;

/// A payload: usually a JSON object of some size, sometimes a large one that spans windows,
/// sometimes (at `bad_rate` percent) not JSON or not UTF-8.
fn payload(rng: &mut ChaCha8Rng, bad_rate: u32) -> Vec<u8> {
    let roll = rng.random_range(0..100);
    if roll < bad_rate {
        return match rng.random_range(0..5) {
            0 => b"{\"seq\":".to_vec(),
            1 => b"\"\xff\xfe\"".to_vec(),
            2 => b"{\"a\":\"\xe2\x82\"}".to_vec(),
            3 => b"[1,2]]".to_vec(),
            _ => (0..rng.random_range(1..40)).map(|_| rng.random()).collect(),
        };
    }
    let size = if roll < bad_rate + 3 {
        rng.random_range(5_000..120_000)
    } else {
        rng.random_range(0..300)
    };
    let mut p = format!("{{\"n\":{roll},\"pad\":\"").into_bytes();
    p.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    p.extend_from_slice(b"\"}");
    p
}

/// A damaged WAL directory in memory, all its choices drawn from `seed`.
fn damaged_dir(seed: u64) -> MemStorage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let frames = rng.random_range(0..600);
    let bad_rate = [0, 0, 1, 5, 40][rng.random_range(0..5)];
    let mut log = file_header().to_vec();
    let mut starts = Vec::new();
    let mut seq = if rng.random_bool(0.1) {
        rng.random_range(0..4)
    } else {
        1
    };
    for _ in 0..frames {
        starts.push(log.len());
        encode_frame(Seq::new(seq), &payload(&mut rng, bad_rate), &mut log);
        seq = match rng.random_range(0..200) {
            0 => seq + rng.random_range(2..9),
            1 => seq,
            2 => seq.saturating_sub(1),
            _ => seq + 1,
        };
    }
    for _ in 0..rng.random_range(0..4) {
        match rng.random_range(0..4) {
            // A flipped byte anywhere past the file header.
            0 if log.len() > 8 => {
                let at = rng.random_range(8..log.len());
                log[at] ^= 1 << rng.random_range(0..8);
            }
            // A torn tail.
            1 if log.len() > 8 => log.truncate(rng.random_range(8..=log.len())),
            // A length field out of range, or in range but past the end of the file.
            2 | 3 if !starts.is_empty() => {
                let at = starts[rng.random_range(0..starts.len())] + 4;
                if at + 4 <= log.len() {
                    let len = match rng.random_range(0..4) {
                        0 => 0,
                        1 => MAX_PAYLOAD_LEN + 1,
                        2 => rng.random(),
                        _ => rng.random_range(1..=MAX_PAYLOAD_LEN),
                    };
                    log[at..at + 4].copy_from_slice(&len.to_le_bytes());
                }
            }
            _ => {}
        }
    }
    let m = MemStorage::new();
    let dir = Path::new(DIR);
    m.create_dir_all(dir);
    m.write_file(&dir.join(format::LOG_FILE), &log).unwrap();
    let safe_seq = match rng.random_range(0..6) {
        0 => None,
        1 => Some(0),
        2 => Some(seq.saturating_sub(1)),
        3 => Some(seq + 3),
        _ => Some(rng.random_range(0..=seq)),
    };
    if let Some(s) = safe_seq {
        m.write_file(
            &dir.join(format::SAFE_SEQ_FILE),
            &encode_safe_seq(Seq::new(s)),
        )
        .unwrap();
    }
    m
}

/// The report whole, as written to `wal_verify.json` (which includes every message), or the
/// error's message.
fn outcome(r: wal::Result<Report>) -> String {
    match r {
        Ok(r) => serde_json::to_string_pretty(&r).unwrap(),
        Err(e) => format!("error: {e}"),
    }
}

fn plans() -> Vec<Plan> {
    let plan = |threads: usize, window: usize| Plan {
        threads: NonZeroUsize::new(threads).unwrap(),
        window,
        min_share: 0,
    };
    vec![
        plan(1, 1),
        plan(2, 16),
        plan(3, 100),
        plan(2, 4096),
        plan(4, 64 << 10),
        plan(2, 4 << 20),
    ]
}

#[test]
fn parallel_and_sequential_reports_are_identical_on_damaged_logs() {
    let dir = Path::new(DIR);
    let mut violations = 0;
    for seed in 0..LOGS {
        let m = damaged_dir(seed);
        let want = outcome(verify_sequential_with(&m, dir));
        violations += want.matches("\"code\"").count();
        assert_eq!(
            outcome(verify_with(&m, dir)),
            want,
            "seed {seed}, default plan"
        );
        for plan in plans() {
            let got = outcome(verify_with_plan(&m, dir, plan));
            assert_eq!(got, want, "seed {seed}, {plan:?}");
        }
    }
    // The logs are damaged enough to say something: most of them carry violations.
    assert!(
        violations > LOGS as usize,
        "only {violations} violations in {LOGS} logs"
    );
}

#[test]
fn every_kind_of_damage_is_among_the_seeded_logs() {
    // The comparison above is only as good as the damage it sees: each violation code, the
    // per-code cap and each way a frame is damaged occur in some log.
    let dir = Path::new(DIR);
    let mut seen = String::new();
    for seed in 0..LOGS {
        seen += &outcome(verify_sequential_with(&damaged_dir(seed), dir));
    }
    for needle in [
        "FIRST_SEQ_NOT_ONE",
        "SEQ_GAP",
        "SAFESEQ_AHEAD",
        "SAFESEQ_FRAME_MISSING",
        "PHANTOM_ENTRY",
        "JSON_CORRUPT",
        "not UTF-8",
        "not one JSON value",
        "FRAME_CORRUPT",
        "CRC-32C does not match",
        "length field is",
        "cut short",
        "more)",
    ] {
        assert!(seen.contains(needle), "no seeded log shows {needle}");
    }
}
