//! `portability-matrix verify`: every violation code, the exit-code contract, malformed input,
//! and the promise that it never changes what it checks.

mod common;

use common::*;
use serde_json::Value;

/// Runs verify with a JSON report; returns (exit code, report or null, stderr).
fn verify(dir: &std::path::Path) -> (i32, Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let before = snapshot(dir);
    let o = run(&[
        "verify",
        "--dir",
        dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(snapshot(dir), before, "verify changed {}", dir.display());
    let report = std::fs::read(out.path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (code(&o), report, stderr(&o))
}

fn violation<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))
}

#[test]
fn a_healthy_wal_verifies_with_exit_0_and_every_invariant_ok() {
    let d = wal_dir(
        &log_of(&[(1, b"{}"), (2, b"[1]"), (3, b"\"x\"")]),
        Some("3\n"),
    );
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 0);
    assert_eq!(r["pass"], true);
    for k in [
        "R1_FIRST_SEQ_IS_ONE",
        "R2_SEQ_CONTIGUOUS",
        "R3_SAFESEQ_LE_MAXSEQ",
        "R4_SAFESEQ_FRAME_EXISTS",
        "R5_NO_PHANTOMS",
        "NO_JSON_CORRUPTION",
    ] {
        assert_eq!(
            r["invariants"][k],
            serde_json::json!({"pass": true, "msg": "ok"}),
            "{k}"
        );
    }
    assert_eq!(r["frames"], 3);
}

#[test]
fn first_seq_not_one_breaks_r1() {
    let d = wal_dir(&log_of(&[(2, b"{}"), (3, b"{}")]), Some("3\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "FIRST_SEQ_NOT_ONE");
    assert_eq!(
        (
            v["invariant"].as_str(),
            v["seq"].as_u64(),
            v["offset"].as_u64()
        ),
        (Some("R1_FIRST_SEQ_IS_ONE"), Some(2), Some(8))
    );
    assert_eq!(r["invariants"]["R1_FIRST_SEQ_IS_ONE"]["pass"], false);
}

#[test]
fn a_gap_breaks_r2() {
    let log = log_of(&[(1, b"{}"), (2, b"{}"), (4, b"{}")]);
    let d = wal_dir(&log, Some("4\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "SEQ_GAP");
    assert_eq!(v["invariant"], "R2_SEQ_CONTIGUOUS");
    assert_eq!(v["seq"], 4);
    assert_eq!(v["offset"], 8 + 2 * 18);
}

#[test]
fn safe_seq_beyond_the_log_breaks_r3_and_r4() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"{}")]), Some("9\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    assert_eq!(
        violation(&r, "SAFESEQ_AHEAD")["invariant"],
        "R3_SAFESEQ_LE_MAXSEQ"
    );
    assert_eq!(
        violation(&r, "SAFESEQ_FRAME_MISSING")["invariant"],
        "R4_SAFESEQ_FRAME_EXISTS"
    );
}

#[test]
fn a_missing_frame_at_safe_seq_breaks_r4_alone_when_later_frames_exist() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"{}"), (4, b"{}")]), Some("3\n"));
    let (_, r, _) = verify(d.path());
    assert_eq!(violation(&r, "SAFESEQ_FRAME_MISSING")["seq"], 3);
    assert!(r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["code"] != "SAFESEQ_AHEAD"));
}

#[test]
fn frames_beyond_safe_seq_are_phantoms_breaking_r5() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"{}"), (3, b"{}")]), Some("2\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "PHANTOM_ENTRY");
    assert_eq!(
        (v["invariant"].as_str(), v["seq"].as_u64()),
        (Some("R5_NO_PHANTOMS"), Some(3))
    );
}

#[test]
fn a_checksummed_non_json_payload_is_json_corrupt() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"{\"a\":")]), Some("2\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "JSON_CORRUPT");
    assert_eq!(
        (
            v["invariant"].as_str(),
            v["seq"].as_u64(),
            v["offset"].as_u64()
        ),
        (Some("NO_JSON_CORRUPTION"), Some(2), Some(26))
    );
}

#[test]
fn a_json_string_that_is_not_utf8_is_json_corrupt() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"\"\xff\"")]), Some("2\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "JSON_CORRUPT");
    assert_eq!(v["seq"].as_u64(), Some(2), "{v}");
}

#[test]
fn a_checksum_failure_in_the_committed_range_is_frame_corrupt_against_r2() {
    let mut log = log_of(&[(1, b"{}"), (2, b"{}"), (3, b"{}")]);
    log[26 + 17] ^= 0xff; // payload of frame 2
    let d = wal_dir(&log, Some("3\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    let v = violation(&r, "FRAME_CORRUPT");
    assert_eq!(
        (
            v["invariant"].as_str(),
            v["seq"].as_u64(),
            v["offset"].as_u64()
        ),
        (Some("R2_SEQ_CONTIGUOUS"), Some(2), Some(26))
    );
}

#[test]
fn a_torn_tail_past_safe_seq_is_frame_corrupt_against_r5() {
    let mut log = log_of(&[(1, b"{}")]);
    log.extend_from_slice(&log_of(&[(2, b"{\"long\":1}")])[8..20]);
    let d = wal_dir(&log, Some("1\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    assert_eq!(
        violation(&r, "FRAME_CORRUPT")["invariant"],
        "R5_NO_PHANTOMS"
    );
}

#[test]
fn zero_length_and_oversized_length_fields_are_frame_corrupt() {
    for len in [0u32, 16 * 1024 * 1024 + 1] {
        let mut log = log_of(&[(1, b"{}")]);
        let mut h = [0u8; 16];
        h[4..8].copy_from_slice(&len.to_le_bytes());
        h[8..16].copy_from_slice(&2u64.to_le_bytes());
        log.extend_from_slice(&h);
        let d = wal_dir(&log, Some("2\n"));
        let (code, r, _) = verify(d.path());
        assert_eq!(code, 1, "len {len}");
        assert!(
            violation(&r, "FRAME_CORRUPT")["msg"]
                .as_str()
                .unwrap()
                .contains("length field"),
            "{r:#}"
        );
    }
}

#[test]
fn a_wrong_magic_is_not_a_wal_exit_2() {
    let d = wal_dir(b"GIF89a\0\0\0\0", None);
    let (code, r, err) = verify(d.path());
    assert_eq!(code, 2, "{err}");
    assert_eq!(r, Value::Null, "a report was written for a non-WAL");
    assert!(
        err.contains("is not a WAL") && err.contains("magic"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_truncated_header_is_not_a_wal_exit_2() {
    let d = wal_dir(b"PMWA", None);
    let (code, _, err) = verify(d.path());
    assert_eq!(code, 2);
    assert!(err.contains("shorter than the 8-byte header"), "{err}");
}

#[test]
fn a_directory_without_wal_log_is_not_a_wal_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = verify(d.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("wal.log") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn garbage_safe_seq_text_is_a_clear_error_exit_2() {
    let d = wal_dir(&log_of(&[(1, b"{}")]), Some("one\n"));
    let (code, _, err) = verify(d.path());
    assert_eq!(code, 2);
    assert!(err.contains("not a decimal sequence number"), "{err}");
}

#[test]
fn a_missing_directory_and_a_file_instead_of_a_directory_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let o = run(&[
        "verify",
        "--dir",
        d.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let f = d.path().join("file");
    std::fs::write(&f, "x").unwrap();
    let o = run(&["verify", "--dir", f.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
}

#[test]
fn verify_does_not_recover_a_wal_with_phantoms_and_a_stale_tmp() {
    let d = wal_dir(&log_of(&[(1, b"{}"), (2, b"{}")]), Some("1\n"));
    std::fs::write(d.path().join("telemetry.safe_seq.tmp"), "2\n").unwrap();
    // `verify` itself asserts the snapshot is unchanged.
    let (code, _, _) = verify(d.path());
    assert_eq!(code, 1);
    assert!(d.path().join("telemetry.safe_seq.tmp").exists());
}

#[test]
fn the_report_prints_to_stdout_without_out() {
    let d = wal_dir(&log_of(&[(1, b"{}")]), Some("1\n"));
    let o = run(&[
        "verify",
        "--dir",
        d.path().to_str().unwrap(),
        "--arch",
        "riscv64",
        "--fs",
        "xfs",
    ]);
    assert_eq!(code(&o), 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (r["arch"].as_str(), r["fs_type"].as_str()),
        (Some("riscv64"), Some("xfs"))
    );
}

#[test]
fn the_invariant_message_counts_violations_past_the_stored_cap() {
    let frames: Vec<(u64, &[u8])> = (1..=151).map(|s| (s, &b"{}"[..])).collect();
    let d = wal_dir(&log_of(&frames), Some("1\n"));
    let (code, r, _) = verify(d.path());
    assert_eq!(code, 1);
    assert_eq!(r["violation_counts"]["PHANTOM_ENTRY"], 150);
    let msg = r["invariants"]["R5_NO_PHANTOMS"]["msg"].as_str().unwrap();
    assert!(msg.ends_with("(and 149 more)"), "{msg}");
}
