//! The gate on a folder of evidence: exit codes per mode, every blocking status, waivers from
//! `edge/waivers/`, policy files, and what it prints and writes.

mod gate_support;

use std::path::Path;

use gate_support::*;
use serde_json::{json, Value};

/// A folder with cells 1 and 3 (phase 1's gated cells) passing.
fn passing_folder(root: &Path) {
    put(
        root,
        "ev/amd64/ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    put(
        root,
        "ev/arm64/ext4/run-1/wal_verify.json",
        &evidence("arm64", "ext4", true),
    );
}

fn gate_json(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("gate.json")).unwrap()).unwrap()
}

/// The decision for one cell in gate.json.
fn cell_of(gate: &Value, cell: &str) -> Value {
    gate["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == cell)
        .unwrap_or_else(|| panic!("no {cell} in {gate}"))
        .clone()
}

fn offline(root: &Path) -> assert_cmd::Command {
    let mut c = gate(root);
    c.args(["--evidence-dir", "ev", "--out", "gate.json", "--sha", SHA]);
    c
}

const WAIVER: &str = r#"id = "INV-001"
cell = "arm64/ext4"
invariants = ["R2", "S3"]
reason = "A known emulator bug; see the tracking issue."
tracking = "https://github.com/org/portability-matrix/issues/1"
approved_by = "release-owner"
created = 2026-01-01
expires = 2026-06-30
"#;

#[test]
fn release_mode_blocks_and_nightly_mode_only_reports() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put(
        d.path(),
        "ev/arm64/ext4/run-2/wal_verify.json",
        &evidence("arm64", "ext4", false),
    );
    let release = run(&mut offline(d.path()));
    assert_eq!(release.code, 1, "{}", release.stdout);
    let last = release
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(last.starts_with("verdict: BLOCKED"), "{last}");
    let nightly = run(offline(d.path()).args(["--mode", "nightly"]));
    assert_eq!(nightly.code, 0, "{}", nightly.stdout);
    assert!(nightly
        .stdout
        .contains("::warning::arm64/ext4 (gated) is FAIL"));
    assert!(nightly
        .stdout
        .trim_end()
        .ends_with("nightly mode, so this does not fail the run"));
}

#[test]
fn every_blocking_status_blocks_a_gated_cell_in_release_mode() {
    let mut stale = evidence("arm64", "ext4", true);
    stale["commit"] = json!(OTHER_SHA);
    let skipped = json!({"arch": "arm64", "fs_type": "ext4", "skipped": true,
                         "skip_reason": "no QEMU", "commit": SHA});
    let cases: [(&str, Option<Vec<u8>>); 5] = [
        (
            "FAIL",
            Some(evidence("arm64", "ext4", false).to_string().into_bytes()),
        ),
        ("SKIP", Some(skipped.to_string().into_bytes())),
        ("STALE", Some(stale.to_string().into_bytes())),
        ("UNREADABLE", Some(b"{\"arch\": ".to_vec())),
        ("MISSING", None),
    ];
    for (status, file) in cases {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "ev/amd64/ext4/run-1/wal_verify.json",
            &evidence("amd64", "ext4", true),
        );
        if let Some(bytes) = file {
            put_bytes(d.path(), "ev/arm64/ext4/run-1/wal_verify.json", &bytes);
        }
        let out = run(&mut offline(d.path()));
        assert_eq!(out.code, 1, "{status}: {}", out.stdout);
        assert!(statuses(&d.path().join("gate.json")).contains(&format!("arm64/ext4 {status}")));
    }
}

#[test]
fn an_informational_failure_warns_and_an_optional_one_is_only_reported() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put(
        d.path(),
        "ev/amd64/xfs/run-1/wal_verify.json",
        &evidence("amd64", "xfs", false),
    );
    put(
        d.path(),
        "ev/arm64/xfs/run-1/wal_verify.json",
        &evidence("arm64", "xfs", false),
    );
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out
        .stdout
        .contains("::warning::amd64/xfs (informational) is FAIL"));
    assert!(!out.stdout.contains("::warning::arm64/xfs"));
    assert!(!out.stdout.contains("::error::"));
}

#[test]
fn a_waiver_in_edge_waivers_lets_a_failing_gated_cell_through() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put(
        d.path(),
        "ev/arm64/ext4/run-2/wal_verify.json",
        &evidence("arm64", "ext4", false),
    );
    put_bytes(d.path(), "edge/waivers/INV-001.toml", WAIVER.as_bytes());
    let out = run(offline(d.path()).args(["--today", "2026-06-30"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = gate_json(d.path());
    let cell = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == "arm64/ext4")
        .unwrap();
    assert_eq!(cell["status"], "FAIL");
    assert_eq!(cell["waivers"], json!(["INV-001"]));
    assert!(out.stdout.contains("(1 by waiver)"), "{}", out.stdout);
}

#[test]
fn an_expired_waiver_no_longer_applies_and_warns() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put(
        d.path(),
        "ev/arm64/ext4/run-2/wal_verify.json",
        &evidence("arm64", "ext4", false),
    );
    put_bytes(d.path(), "edge/waivers/INV-001.toml", WAIVER.as_bytes());
    let out = run(offline(d.path()).args(["--today", "2026-07-01"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out
        .stdout
        .contains("::warning::waiver INV-001 for arm64/ext4 expired on 2026-06-30"));
    assert_eq!(gate_json(d.path())["expired_waivers"][0]["id"], "INV-001");
}

#[test]
fn a_waiver_that_matches_nothing_is_listed_for_cleanup() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put_bytes(d.path(), "edge/waivers/INV-001.toml", WAIVER.as_bytes());
    let out = run(offline(d.path()).args(["--today", "2026-02-01"]));
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("unused waiver: INV-001"),
        "{}",
        out.stdout
    );
    assert_eq!(gate_json(d.path())["unused_waivers"][0]["id"], "INV-001");
}

#[test]
fn a_waiver_does_not_cover_an_invariant_it_does_not_name() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let mut v = evidence("arm64", "ext4", false);
    v["invariants"]["R5_NO_PHANTOMS"]["pass"] = json!(false);
    put(d.path(), "ev/arm64/ext4/run-2/wal_verify.json", &v);
    put_bytes(d.path(), "edge/waivers/INV-001.toml", WAIVER.as_bytes());
    let out = run(offline(d.path()).args(["--today", "2026-02-01"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
}

#[test]
fn a_broken_waiver_stops_the_gate_instead_of_being_ignored() {
    let cases = [
        (
            "INV-001.toml",
            WAIVER.replace("approved_by = \"release-owner\"\n", ""),
            "is malformed",
        ),
        (
            "INV-002.toml",
            WAIVER.to_string(),
            "rename the file to INV-001.toml",
        ),
        (
            "INV-001.toml",
            WAIVER.replace("expires = 2026-06-30", "expires = \"soon\""),
            "is malformed",
        ),
    ];
    for (name, text, says) in cases {
        let d = tempfile::tempdir().unwrap();
        passing_folder(d.path());
        put_bytes(d.path(), &format!("edge/waivers/{name}"), text.as_bytes());
        let out = run(&mut offline(d.path()));
        assert_eq!(out.code, 2, "{name}: {}", out.stdout);
        assert!(out.stderr.contains(says), "{}", out.stderr);
        assert_eq!(gate_json(d.path())["verdict"], "ERROR");
    }
}

#[test]
fn two_waivers_with_one_id_stop_the_gate() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put_bytes(d.path(), "w/INV-001.toml", WAIVER.as_bytes());
    put_bytes(d.path(), "w/INV-003.toml", WAIVER.as_bytes());
    let out = run(offline(d.path()).args(["--waivers", "w"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("have the same id INV-001"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_shipped_example_waiver_is_valid_and_not_loaded_by_default() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = repo.join("edge/waivers/examples");
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let out = run(offline(d.path()).arg("--waivers").arg(&examples));
    assert_ne!(out.code, 2, "the example does not load: {}", out.stderr);
    let loaded = gate_json(d.path())["waivers_loaded"].as_u64().unwrap();
    assert!(loaded >= 1);
    let out = run(offline(d.path())
        .arg("--waivers")
        .arg(repo.join("edge/waivers")));
    assert_ne!(out.code, 2, "{}", out.stderr);
    let v = gate_json(d.path());
    let all = format!(
        "{}{}{}",
        v["cells"], v["unused_waivers"], v["expired_waivers"]
    );
    assert!(
        !all.contains("INV-000"),
        "the example was loaded from edge/waivers: {all}"
    );
}

#[test]
fn phase2_gates_the_xfs_cells_phase1_does_not() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    assert_eq!(run(&mut offline(d.path())).code, 0);
    let out = run(offline(d.path()).args(["--policy", "phase2"]));
    assert_eq!(out.code, 1);
    let blocking: Vec<String> = gate_json(d.path())["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["blocking"] == true)
        .map(|c| c["cell"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(blocking, ["amd64/xfs", "arm64/xfs", "riscv64/ext4"]);
}

#[test]
fn a_policy_file_can_gate_a_cell_outside_the_seed() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put_bytes(
        d.path(),
        "p.toml",
        b"name = \"ours\"\ngated = [\"s390x/ext4\"]\n",
    );
    let out = run(offline(d.path()).args(["--policy", "p.toml"]));
    assert_eq!(out.code, 1);
    assert!(out
        .stdout
        .contains("::error::s390x/ext4 (gated) is MISSING"));
    put(
        d.path(),
        "ev/s390x/ext4/run-1/wal_verify.json",
        &evidence("s390x", "ext4", true),
    );
    assert_eq!(run(offline(d.path()).args(["--policy", "p.toml"])).code, 0);
    put_bytes(d.path(), "bad.toml", b"name = \"x\"\ngated = [\"s390x\"]\n");
    let out = run(offline(d.path()).args(["--policy", "bad.toml"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.toml"), "{}", out.stderr);
}

#[test]
fn annotations_stop_at_ten_of_a_kind_and_say_how_many_more() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let cells: Vec<String> = (0..13).map(|i| format!("\"x{i}/ext4\"")).collect();
    let policy = format!("name = \"many\"\ngated = [{}]\n", cells.join(", "));
    put_bytes(d.path(), "p.toml", policy.as_bytes());
    let out = run(offline(d.path()).args(["--policy", "p.toml"]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout.matches("::error::").count(), 10);
    assert!(
        out.stdout.contains("3 more blocking cells not annotated"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_step_summary_is_markdown_and_stays_under_one_mebibyte() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let summary = d.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = run(offline(d.path()).env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(out.code, 0);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n## Release gate: PASS"),
        "appended: {text}"
    );
    assert!(
        text.contains("| 1 | amd64 | ext4 | gated | PASS |"),
        "{text}"
    );

    let cells: Vec<String> = (0..20000).map(|i| format!("\"x{i}/ext4\"")).collect();
    let policy = format!("name = \"huge\"\ngated = [{}]\n", cells.join(", "));
    put_bytes(d.path(), "p.toml", policy.as_bytes());
    std::fs::remove_file(&summary).unwrap();
    let out = run(offline(d.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--policy", "p.toml"]));
    assert_eq!(out.code, 1);
    let len = std::fs::metadata(&summary).unwrap().len();
    assert!(len < 1024 * 1024, "summary is {len} bytes");
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("more cells left out"));
    assert_eq!(
        gate_json(d.path())["cells"].as_array().unwrap().len(),
        20002,
        "every cell, with the two that have evidence"
    );
}

#[test]
fn without_an_evidence_source_the_gate_cannot_decide() {
    let d = tempfile::tempdir().unwrap();
    let out = run(&mut gate(d.path()));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("say where the evidence is"),
        "{}",
        out.stderr
    );
    let out = run(gate(d.path()).args(["--evidence-dir", "nowhere"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
}

#[cfg(not(feature = "github"))]
#[test]
fn a_build_without_the_github_feature_says_so_for_repo_mode() {
    let d = tempfile::tempdir().unwrap();
    let out = run(gate(d.path()).args(["--repo", "o/r", "--run-id", "1"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("without the `github` feature"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_passing_cell_without_enough_crash_testing_blocks_as_a_fail_of_coverage() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    // Evidence of the seed's four steps only: no kill -9 runs, no power-loss state.
    let mut thin = evidence("arm64", "ext4", true);
    thin.as_object_mut().unwrap().remove("kill_runs");
    thin.as_object_mut().unwrap().remove("power_loss");
    put(d.path(), "ev/arm64/ext4/run-2/wal_verify.json", &thin);
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let cell = cell_of(&gate_json(d.path()), "arm64/ext4");
    assert_eq!(cell["status"], "FAIL", "{cell}");
    assert_eq!(cell["failing"], json!(["COVERAGE"]));
    assert!(
        cell["note"]
            .as_str()
            .unwrap()
            .contains("0 kill -9 runs (minimum 10)"),
        "{cell}"
    );
    // A policy may raise the minimums: 100 kills pass the default, not 500.
    std::fs::write(
        d.path().join("strict.toml"),
        "name = \"strict\"\ngated = [\"amd64/ext4\"]\n[minimums]\nkills = 500\n",
    )
    .unwrap();
    let out = run(offline(d.path()).args(["--policy", "strict.toml"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("100 kill -9 runs (minimum 500)"),
        "{}",
        out.stdout
    );
}

#[test]
fn evidence_from_a_dirty_tree_is_stale_for_its_commit() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let mut dirty = evidence("arm64", "ext4", true);
    dirty["commit_dirty"] = json!(true);
    put(d.path(), "ev/arm64/ext4/run-2/wal_verify.json", &dirty);
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let cell = cell_of(&gate_json(d.path()), "arm64/ext4");
    assert_eq!(cell["status"], "STALE", "{cell}");
    assert!(
        cell["note"]
            .as_str()
            .unwrap()
            .contains("uncommitted changes"),
        "{cell}"
    );
    // Clean evidence for the same commit passes.
    let mut clean = evidence("arm64", "ext4", true);
    clean["commit_dirty"] = json!(false);
    put(d.path(), "ev/arm64/ext4/run-3/wal_verify.json", &clean);
    assert_eq!(run(&mut offline(d.path())).code, 0);
}

#[test]
fn a_missing_gated_cell_is_named_with_the_command_that_makes_it() {
    let d = tempfile::tempdir().unwrap();
    put(
        d.path(),
        "ev/amd64/ext4/run-1/wal_verify.json",
        &evidence("amd64", "ext4", true),
    );
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "hint: arm64/ext4 has no evidence in ev; make it (as root, from a clean checkout of the commit): make portability-matrix-full MATRIX_ARCH=arm64 MATRIX_FS=ext4 EVIDENCE=ev"
        ),
        "{}",
        out.stdout
    );
    // The verdict stays the last line.
    assert!(out
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("verdict: BLOCKED"));
}

/// Writes `<dir>/wal_verify.json` under `root`: a cell's passing or failing evidence.
fn put_run(root: &Path, dir: &str, (arch, fs): (&str, &str), pass: bool) {
    put(
        root,
        &format!("{dir}/wal_verify.json"),
        &evidence(arch, fs, pass),
    );
}

#[test]
fn nightly_mode_annotates_what_would_block_as_warnings_not_errors() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    put_run(d.path(), "ev/arm64/ext4/run-2", ("arm64", "ext4"), false);
    put_run(d.path(), "ev/amd64/xfs/run-1", ("amd64", "xfs"), false);
    let nightly = run(offline(d.path()).args(["--mode", "nightly"]));
    assert_eq!(nightly.code, 0, "{}", nightly.stdout);
    assert!(!nightly.stdout.contains("::error::"), "{}", nightly.stdout);
    assert!(
        nightly
            .stdout
            .contains("::warning::arm64/ext4 (gated) is FAIL and would block a release"),
        "{}",
        nightly.stdout
    );
    assert!(nightly
        .stdout
        .contains("::warning::amd64/xfs (informational) is FAIL"));
    let release = run(&mut offline(d.path()));
    assert_eq!(release.code, 1);
    assert!(release
        .stdout
        .contains("::error::arm64/ext4 (gated) is FAIL and blocks the release"));
}

/// The note gate.json holds for `cell`.
fn note_of(root: &Path, cell: &str) -> String {
    cell_of(&gate_json(root), cell)["note"].to_string()
}

#[cfg(unix)]
#[test]
fn a_self_looping_symlink_as_the_evidence_folder_is_named_a_symlink_loop() {
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("ev", d.path().join("ev")).unwrap();
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(!out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert!(out.stderr.contains("--evidence-dir"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn a_wal_verify_json_linking_to_itself_is_unreadable_naming_the_loop() {
    let d = tempfile::tempdir().unwrap();
    put_run(d.path(), "ev/amd64/ext4/run-1", ("amd64", "ext4"), true);
    for dir in [
        "ev/arm64/ext4/run-1",
        "ev/portability-evidence-amd64-xfs/run-1",
    ] {
        let dir = d.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("wal_verify.json", dir.join("wal_verify.json")).unwrap();
    }
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for cell in ["arm64/ext4", "amd64/xfs"] {
        assert!(
            statuses(&d.path().join("gate.json")).contains(&format!("{cell} UNREADABLE")),
            "{}",
            out.stdout
        );
        let note = note_of(d.path(), cell);
        assert!(note.contains("symbolic link"), "{cell}: {note}");
    }
}

#[test]
fn the_entry_size_cap_note_names_its_flag() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let mut padded = evidence("arm64", "ext4", true);
    padded["pad"] = json!("x".repeat(8 * 1024));
    put(d.path(), "ev/arm64/ext4/run-2/wal_verify.json", &padded);
    let out = run(offline(d.path()).args(["--max-entry-size", "4K"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let note = note_of(d.path(), "arm64/ext4");
    assert!(note.contains("--max-entry-size"), "{note}");
}

#[test]
fn a_malformed_github_repository_variable_is_blamed_not_the_repo_flag() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let out = run(offline(d.path()).env("GITHUB_REPOSITORY", "not-a-slug"));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("GITHUB_REPOSITORY"), "{}", out.stderr);
    assert!(!out.stderr.contains("for '--repo"), "{}", out.stderr);
    let out = run(offline(d.path()).args(["--repo", "not-a-slug"]));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("--repo"), "{}", out.stderr);
    assert!(!out.stderr.contains("GITHUB_REPOSITORY"), "{}", out.stderr);
}

/// download-artifact v5 and later put a single matching artifact's files straight into its
/// `path`: the folder holds `run-<N>/` itself, and only the evidence says which cell it is.
#[test]
fn a_single_artifact_flattened_into_the_folder_is_placed_by_its_evidence() {
    let d = tempfile::tempdir().unwrap();
    put_run(d.path(), "ev/run-1", ("arm64", "ext4"), false);
    put_run(d.path(), "ev/run-2", ("arm64", "ext4"), true);
    put_run(d.path(), "ev/amd64/ext4/run-1", ("amd64", "ext4"), true);
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(statuses(&d.path().join("gate.json")).contains(&"arm64/ext4 PASS".to_string()));

    // A newer run without its file: the cell is still known (from run-2), and unreadable.
    std::fs::create_dir_all(d.path().join("ev/run-3")).unwrap();
    let out = run(&mut offline(d.path()));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(statuses(&d.path().join("gate.json")).contains(&"arm64/ext4 UNREADABLE".to_string()));
    assert!(note_of(d.path(), "arm64/ext4").contains("run-3"));
}

#[test]
fn a_flattened_artifact_in_a_folder_named_for_another_cell_is_caught() {
    let d = tempfile::tempdir().unwrap();
    let root = "portability-evidence-amd64-xfs";
    put_run(d.path(), &format!("{root}/run-1"), ("arm64", "xfs"), true);
    let out = run(gate(d.path())
        .args(["--evidence-dir", root, "--out", "gate.json", "--sha", SHA])
        .args(["--policy", "phase2"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(statuses(&d.path().join("gate.json")).contains(&"amd64/xfs UNREADABLE".to_string()));
    assert!(note_of(d.path(), "amd64/xfs").contains("evidence for arm64/xfs"));
}

#[test]
fn malformed_github_run_id_and_sha_variables_are_blamed_not_their_flags() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    for (var, value, flag) in [
        ("GITHUB_RUN_ID", "run-seven", "--run-id"),
        ("GITHUB_SHA", "not-hex", "--sha"),
    ] {
        // Without --sha on the command line, so the variable is what the gate reads.
        let mut c = gate(d.path());
        c.args(["--evidence-dir", "ev"]).env(var, value);
        let out = run(&mut c);
        assert_eq!(out.code, 2, "{var}: {}", out.stdout);
        assert!(out.stderr.contains(var), "{var}: {}", out.stderr);
        assert!(
            !out.stderr.contains(&format!("for '{flag}")),
            "{var}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_closed_stdout_does_not_make_the_gate_panic_or_lose_its_decision() {
    let d = tempfile::tempdir().unwrap();
    passing_folder(d.path());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("portability-matrix"))
        .current_dir(d.path())
        .args([
            "gate",
            "--evidence-dir",
            "ev",
            "--out",
            "gate.json",
            "--sha",
            SHA,
        ])
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before the gate writes a line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(gate_json(d.path())["verdict"], "PASS");
}
