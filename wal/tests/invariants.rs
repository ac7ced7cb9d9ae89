//! Each invariant of the WAL, checked on a real directory by the same conformance suite the
//! cells run. One test per invariant, named after it, so a failure names the broken promise.

use std::path::Path;

use wal::conformance;

fn check(id: &str) {
    let dir = tempfile::tempdir().unwrap();
    let r = conformance::run_id(id, dir.path(), None).unwrap_or_else(|| panic!("no check {id}"));
    assert!(r.pass, "{id} ({}): {}", r.claim, r.msg);
}

#[test]
fn r1_first_frame_seq_is_one() {
    check("R1");
}

#[test]
fn r2_seqs_are_contiguous_in_the_committed_range() {
    check("R2");
}

#[test]
fn r3_safe_seq_never_exceeds_max_seq() {
    check("R3");
}

#[test]
fn r4_frame_at_safe_seq_exists() {
    check("R4");
}

#[test]
fn r5_no_frame_beyond_safe_seq_after_recovery() {
    check("R5");
}

#[test]
fn every_committed_payload_is_json_and_non_json_is_refused() {
    check("JSON");
}

#[test]
fn s1_on_disk_safe_seq_equals_committed_entries_after_recovery() {
    check("S1");
}

#[test]
fn s2_append_returns_only_after_frame_and_safe_seq_are_durable() {
    check("S2");
}

#[test]
fn s3_phantom_frame_is_discarded_on_recovery() {
    check("S3");
}

#[test]
fn s4_stale_safe_seq_tmp_keeps_old_safe_seq_and_is_removed() {
    check("S4");
}

#[test]
fn s5_torn_tail_frame_is_truncated() {
    check("S5");
}

#[test]
fn s6_damaged_committed_frame_is_reported_not_dropped() {
    check("S6");
}

#[test]
fn s7_recovery_is_idempotent_and_survives_a_crash_during_recovery() {
    check("S7");
}

#[test]
fn s8_next_seq_after_recovery_is_safe_seq_plus_one() {
    check("S8");
}

#[test]
fn s9_read_from_yields_exactly_the_committed_entries_from_k() {
    check("S9");
}

#[test]
fn s10_one_writer_per_directory() {
    check("S10");
}

#[test]
fn s11_safe_seq_updates_are_atomic_and_durable() {
    check("S11");
}

#[test]
fn s12_payloads_round_trip_byte_for_byte() {
    check("S12");
}

#[test]
fn the_suite_covers_every_r_and_s_invariant() {
    let ids: Vec<&str> = conformance::CHECKS.iter().map(|c| c.id).collect();
    for want in ["R1", "R2", "R3", "R4", "R5", "JSON"]
        .into_iter()
        .chain((1..=12).map(|i| Box::leak(format!("S{i}").into_boxed_str()) as &str))
    {
        assert!(
            ids.contains(&want),
            "the conformance suite has no check {want}"
        );
    }
    // The whole suite in one directory, as a cell runs it.
    let dir = tempfile::tempdir().unwrap();
    let results = conformance::run_all(dir.path(), None);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{}: {}", r.id, r.msg))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(Path::new(&dir.path().join("conformance-S3")).is_dir());
}
