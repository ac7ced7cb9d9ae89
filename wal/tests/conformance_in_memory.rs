//! The conformance suite run on the in-memory filesystem: the same claims the cells check on
//! real disks hold for `MemStorage`, which the crash explorer and the fuzz targets stand on. Only
//! claims about the real filesystem itself (S11) are left out.

use wal::conformance;

#[test]
fn every_conformance_check_passes_on_mem_storage() {
    let results = conformance::run_all_in_memory();
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{}: {}", r.id, r.msg))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let ran: Vec<&str> = results.iter().map(|r| r.id).collect();
    let expected: Vec<&str> = conformance::CHECKS
        .iter()
        .filter(|c| c.runs_in_memory())
        .map(|c| c.id)
        .collect();
    assert_eq!(ran, expected);
}

#[test]
fn only_claims_about_the_real_filesystem_are_left_out_in_memory() {
    let real_only: Vec<&str> = conformance::CHECKS
        .iter()
        .filter(|c| !c.runs_in_memory())
        .map(|c| c.id)
        .collect();
    assert_eq!(real_only, ["S11"]);
    assert!(conformance::run_id_in_memory("S11").is_none());
    assert!(conformance::run_id_in_memory("S99").is_none());
}

#[test]
fn a_crash_inside_the_commit_protocol_is_recovered_in_memory() {
    for id in ["S3", "S4", "S7"] {
        let r = conformance::run_id_in_memory(id).unwrap();
        assert!(r.pass, "{id} ({}): {}", r.claim, r.msg);
    }
}
