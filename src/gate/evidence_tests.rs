//! What a `wal_verify.json` means, and where it is found in folders and archives.

use std::path::Path;

use serde_json::{json, Value};

use super::*;

fn cell(s: &str) -> CellId {
    CellId::parse(s).unwrap()
}

use crate::evidence::fixture::{wal_verify as evidence, SHA};

fn classify_value(v: &Value, c: &str, sha: Option<&str>) -> Observation {
    let sha = sha.map(|s| Sha::parse(s).unwrap());
    classify(v.to_string().as_bytes(), &cell(c), sha.as_ref(), "test")
}

#[test]
fn passing_evidence_is_pass() {
    let o = classify_value(&evidence("amd64", "ext4", true), "amd64/ext4", Some(SHA));
    assert_eq!(o.status, Status::Pass, "{}", o.note);
}

#[test]
fn failing_evidence_names_the_failing_invariants_and_checks() {
    let o = classify_value(&evidence("amd64", "ext4", false), "amd64/ext4", None);
    assert_eq!(o.status, Status::Fail);
    assert_eq!(o.failing, ["R2_SEQ_CONTIGUOUS", "S3"]);
    let mut v = evidence("amd64", "ext4", false);
    v["rename_atomic"] = json!("FAIL");
    let o = classify_value(&v, "amd64/ext4", None);
    assert!(o.failing.contains(&"RENAME_ATOMIC".to_string()));
}

#[test]
fn a_run_the_matrix_judged_failed_is_fail_although_the_cell_wrote_pass() {
    let mut v = evidence("s390x", "ext4", true);
    v["matrix"] = json!({"status": "FAIL", "reason": "its fixture does not verify on the host"});
    let o = classify_value(&v, "s390x/ext4", None);
    assert_eq!(o.status, Status::Fail, "{}", o.note);
    assert_eq!(o.failing, ["MATRIX"]);
    assert!(o.note.contains("fixture does not verify"), "{}", o.note);
    v["matrix"] = json!({"status": "PASS"});
    assert_eq!(classify_value(&v, "s390x/ext4", None).status, Status::Pass);
}

#[test]
fn evidence_filed_under_another_cell_is_unreadable() {
    let o = classify_value(&evidence("arm64", "ext4", true), "amd64/ext4", None);
    assert_eq!(o.status, Status::Unreadable);
    assert!(o.note.contains("evidence for arm64/ext4"), "{}", o.note);
    let o = classify_value(&evidence("amd64", "xfs", true), "amd64/ext4", None);
    assert_eq!(o.status, Status::Unreadable);
}

#[test]
fn evidence_from_another_commit_or_none_is_stale_when_a_sha_is_given() {
    let other = "fedcba9876543210fedcba9876543210fedcba98";
    let o = classify_value(&evidence("amd64", "ext4", true), "amd64/ext4", Some(other));
    assert_eq!(o.status, Status::Stale);
    let mut v = evidence("amd64", "ext4", true);
    v["commit"] = Value::Null;
    assert_eq!(
        classify_value(&v, "amd64/ext4", Some(SHA)).status,
        Status::Stale
    );
    assert_eq!(classify_value(&v, "amd64/ext4", None).status, Status::Pass);
    // A short SHA matches the full one it abbreviates.
    let o = classify_value(
        &evidence("amd64", "ext4", true),
        "amd64/ext4",
        Some("0123456"),
    );
    assert_eq!(o.status, Status::Pass);
}

#[test]
fn a_skipped_cell_is_skip() {
    let v = json!({"arch": "riscv64", "fs_type": "xfs", "skipped": true, "skip_reason": "no QEMU", "commit": SHA});
    let o = classify_value(&v, "riscv64/xfs", Some(SHA));
    assert_eq!(o.status, Status::Skip);
    assert!(o.note.contains("no QEMU"));
}

#[test]
fn malformed_or_contradictory_evidence_is_unreadable() {
    let c = cell("amd64/ext4");
    for bytes in [&b"{not json"[..], b"", b"[]", b"{\"arch\": 5}"] {
        assert_eq!(classify(bytes, &c, None, "t").status, Status::Unreadable);
    }
    let mut v = evidence("amd64", "ext4", true);
    v["invariants"]
        .as_object_mut()
        .unwrap()
        .remove("R5_NO_PHANTOMS");
    assert_eq!(
        classify_value(&v, "amd64/ext4", None).status,
        Status::Unreadable
    );
    let mut v = evidence("amd64", "ext4", true);
    v["invariants"]["R1_FIRST_SEQ_IS_ONE"]["pass"] = json!(false);
    let o = classify_value(&v, "amd64/ext4", None);
    assert_eq!(o.status, Status::Unreadable, "pass with a failed invariant");
    let mut v = evidence("amd64", "ext4", true);
    v["rename_atomic"] = json!("MAYBE");
    assert_eq!(
        classify_value(&v, "amd64/ext4", None).status,
        Status::Unreadable
    );
    let mut v = evidence("amd64", "ext4", true);
    v["pass"] = json!("yes");
    assert_eq!(
        classify_value(&v, "amd64/ext4", None).status,
        Status::Unreadable
    );
}

#[test]
fn the_newest_run_is_picked_numerically() {
    let p = |v: &[&str]| pick_newest(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        p(&["a/run-2/wal_verify.json", "a/run-10/wal_verify.json"]),
        Ok(1)
    );
    assert_eq!(p(&["wal_verify.json"]), Ok(0));
    assert!(p(&[]).is_err());
    assert!(p(&["run-1/wal_verify.json", "x/wal_verify.json"]).is_err());
    assert!(p(&["a/run-3/wal_verify.json", "b/run-3/wal_verify.json"]).is_err());
    // A newer run without its file: the cell is unreadable, the older run does not count.
    let why = p(&["a/run-1/wal_verify.json", "a/run-2", "a/run-2/autonomy.log"]).unwrap_err();
    assert!(why.contains("run-2, has no wal_verify.json"), "{why}");
}

#[test]
fn artifact_names_give_the_cell() {
    let c = cell_from_artifact_name("portability-evidence-riscv64-ext4").unwrap();
    assert_eq!(c.unwrap().to_string(), "riscv64/ext4");
    assert!(cell_from_artifact_name("coverage-report").is_none());
    assert!(cell_from_artifact_name("portability-evidence-amd64")
        .unwrap()
        .is_err());
}

fn put(root: &Path, rel: &str, v: &Value) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, v.to_string()).unwrap();
}

#[test]
fn a_folder_in_the_evidence_layout_is_read_newest_run_first() {
    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "amd64/ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", false),
    );
    put(
        d.path(),
        "amd64/ext4/run-2/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    put(
        d.path(),
        "arm64/ext4/run-1/wal_verify.json",
        &evidence("arm64", "ext4", true),
    );
    std::fs::create_dir_all(d.path().join("arm64/ext4/run-2")).unwrap();
    std::fs::write(d.path().join("README.md"), "x").unwrap();
    let obs = read_dir(d.path(), None, 1 << 20).unwrap();
    let got: Vec<(String, Status)> = obs.iter().map(|o| (o.cell.to_string(), o.status)).collect();
    assert_eq!(
        got,
        [
            ("amd64/ext4".to_string(), Status::Pass),
            ("arm64/ext4".to_string(), Status::Unreadable),
        ]
    );
}

#[test]
fn a_folder_in_the_download_artifact_layout_is_read() {
    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "portability-evidence-amd64-xfs/amd64/xfs/run-4/wal_verify.json",
        &evidence("amd64", "xfs", true),
    );
    put(
        d.path(),
        "portability-evidence-arm64-ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    let obs = read_dir(d.path(), None, 1 << 20).unwrap();
    assert_eq!(obs[0].status, Status::Pass);
    assert_eq!(
        obs[1].status,
        Status::Unreadable,
        "amd64 evidence in arm64's artifact"
    );
    // A newer run that died before writing its file is the one that counts.
    std::fs::create_dir_all(
        d.path()
            .join("portability-evidence-amd64-xfs/amd64/xfs/run-5"),
    )
    .unwrap();
    let obs = read_dir(d.path(), None, 1 << 20).unwrap();
    assert_eq!(obs[0].status, Status::Unreadable, "{}", obs[0].note);
}

#[test]
fn the_same_cell_in_both_layouts_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "amd64/ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    put(
        d.path(),
        "portability-evidence-amd64-ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    let e = read_dir(d.path(), None, 1 << 20).unwrap_err();
    assert!(format!("{e:#}").contains("keep one"), "{e:#}");
}

#[test]
fn an_oversized_file_in_a_folder_is_unreadable() {
    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "amd64/ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    let obs = read_dir(d.path(), None, 100).unwrap();
    assert_eq!(obs[0].status, Status::Unreadable);
}

#[cfg(feature = "github")]
mod zips {
    use std::io::Write;

    use super::*;
    use crate::gate::archive::read_zip;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_is_read_newest_run_first() {
        let old = evidence("amd64", "ext4", false).to_string();
        let new = evidence("amd64", "ext4", true).to_string();
        let z = zip_of(&[
            ("amd64/ext4/run-9/wal_verify.json", old.as_bytes()),
            ("amd64/ext4/run-10/wal_verify.json", new.as_bytes()),
            ("amd64/ext4/run-10/dmesg.txt", b"x"),
        ]);
        let o = read_zip(&z, &cell("amd64/ext4"), None, 1 << 20, "a");
        assert_eq!(o.status, Status::Pass, "{}", o.note);
        assert!(o.source.ends_with("run-10/wal_verify.json"));
    }

    #[test]
    fn a_zip_whose_newest_run_has_no_file_is_unreadable() {
        let good = evidence("amd64", "ext4", true).to_string();
        let z = zip_of(&[
            ("amd64/ext4/run-1/wal_verify.json", good.as_bytes()),
            ("amd64/ext4/run-2/autonomy.log", b"step 2: crashed"),
        ]);
        let o = read_zip(&z, &cell("amd64/ext4"), None, 1 << 20, "a");
        assert_eq!(o.status, Status::Unreadable, "{}", o.note);
        assert!(o.note.contains("run-2"), "{}", o.note);
    }

    #[test]
    fn a_zip_with_an_escaping_entry_is_not_evidence() {
        let good = evidence("amd64", "ext4", true).to_string();
        for bad in ["../wal_verify.json", "/etc/wal_verify.json", "a/../../x"] {
            let z = zip_of(&[("run-1/wal_verify.json", good.as_bytes()), (bad, b"x")]);
            let o = read_zip(&z, &cell("amd64/ext4"), None, 1 << 20, "a");
            assert_eq!(o.status, Status::Unreadable, "{bad}");
            assert!(o.note.contains("escapes the archive"), "{}", o.note);
        }
    }

    #[test]
    fn an_entry_over_the_cap_is_not_decompressed() {
        let big = vec![b' '; 1 << 20];
        let z = zip_of(&[("run-1/wal_verify.json", &big)]);
        let o = read_zip(&z, &cell("amd64/ext4"), None, 1000, "a");
        assert_eq!(o.status, Status::Unreadable);
        assert!(o.note.contains("cap"), "{}", o.note);
    }

    #[test]
    fn a_body_that_is_not_a_zip_is_unreadable() {
        let o = read_zip(
            b"<!DOCTYPE html><html>Not Found</html>",
            &cell("amd64/ext4"),
            None,
            1000,
            "a",
        );
        assert_eq!(o.status, Status::Unreadable);
        assert!(o.note.contains("not a zip"), "{}", o.note);
        let o = read_zip(b"PK\x03\x04garbage", &cell("amd64/ext4"), None, 1000, "a");
        assert_eq!(o.status, Status::Unreadable);
    }
}

#[test]
fn the_block_replay_sections_verdict_reaches_the_observation() {
    let mut v = evidence("amd64", "ext4", true);
    assert_eq!(
        classify_value(&v, "amd64/ext4", Some(SHA)).block_replay,
        None
    );
    v["block_replay"] = serde_json::json!({"status": "PASS", "states_checked": 139});
    assert_eq!(
        classify_value(&v, "amd64/ext4", Some(SHA)).block_replay,
        Some(Ok(()))
    );
    v["block_replay"] = serde_json::json!({"status": "SKIP", "reason": "no kernel"});
    assert_eq!(
        classify_value(&v, "amd64/ext4", Some(SHA)).block_replay,
        Some(Err("SKIP (no kernel)".into()))
    );
}
