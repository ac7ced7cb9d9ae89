//! The action's gate step (`dist/run-gate.sh`): what it passes to `portability-matrix gate` and
//! how it turns the gate's exit code into outputs. A stand-in binary plays the gate, which
//! reads GitHub's API and is tested on its own.

mod action_support;

use action_support::{write_exe, Runner};

/// A runner with a stand-in gate that records its arguments and GITHUB_TOKEN, writes a
/// gate.json to --out, and exits with `code`.
fn gate_runner(code: i32) -> Runner {
    let mut r = Runner::new();
    let fake = r.path("fake/portability-matrix");
    write_exe(
        &fake,
        &format!(
            r#"#!/bin/bash
echo "$@" > "{args}"
echo "$GITHUB_TOKEN" > "{token}"
while (($#)); do case $1 in --out) out=$2; shift 2 ;; *) shift ;; esac; done
echo '{{"pass": {pass}}}' > "$out"
exit {code}
"#,
            args = r.path("gate-args").display(),
            token = r.path("gate-token").display(),
            pass = code == 0
        ),
    );
    r.set("PM_BIN", fake.to_str().unwrap())
        .set("GITHUB_TOKEN", "t0ken");
    r
}

fn gate_args(r: &Runner) -> String {
    std::fs::read_to_string(r.path("gate-args"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn passing_gate_sets_the_outputs_and_gets_every_input() {
    let mut r = gate_runner(0);
    let waivers = r.path("edge/waivers");
    std::fs::create_dir_all(&waivers).unwrap();
    r.set("PM_POLICY", "phase2")
        .set("PM_GATE_MODE", "release")
        .set("PM_WAIVERS", waivers.to_str().unwrap());
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("pass"), "true");
    assert_eq!(run.out("status"), "PASS");
    assert_eq!(run.out("seed"), "");
    let report = r.temp().join("portability-matrix/gate.json");
    assert_eq!(run.out("report"), report.to_str().unwrap());
    assert!(report.is_file());
    assert_eq!(
        gate_args(&r),
        format!(
            "gate --policy phase2 --mode release --out {} --waivers {}",
            report.display(),
            waivers.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(r.path("gate-token"))
            .unwrap()
            .trim(),
        "t0ken"
    );
    assert!(run.stdout.contains("::group::Release gate"), "{run}");
}

#[test]
fn blocked_gate_fails_the_step() {
    let r = gate_runner(1);
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(run.out("pass"), "false");
    assert_eq!(run.out("status"), "BLOCKED");
    assert!(
        run.stdout
            .contains("::error title=portability-matrix gate::BLOCKED"),
        "{run}"
    );
}

#[test]
fn gate_that_cannot_decide_is_an_error() {
    let r = gate_runner(2);
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert_eq!(run.out("status"), "ERROR");
    assert_eq!(run.out("pass"), "false");
}

#[test]
fn missing_waivers_directory_means_no_waivers() {
    let mut r = gate_runner(0);
    r.set("PM_WAIVERS", "edge/waivers");
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(0), "{run}");
    let args = gate_args(&r);
    assert!(!args.contains("--waivers"), "{args}");
    assert!(
        args.starts_with("gate --policy phase1 --mode nightly"),
        "{args}"
    );
}

#[test]
fn unknown_gate_mode_or_policy_is_rejected_without_running_the_gate() {
    for (k, v) in [("PM_GATE_MODE", "strict"), ("PM_POLICY", "phase3")] {
        let mut r = gate_runner(0);
        r.set(k, v);
        let run = r.run("run-gate.sh");
        assert_eq!(run.code, Some(2), "{k}={v}: {run}");
        assert!(!r.path("gate-args").exists(), "{k}={v} reached the gate");
    }
}

#[test]
fn evidence_dir_gates_on_that_folder_instead_of_this_runs_artifacts() {
    let mut r = gate_runner(0);
    let evidence = r.path("downloaded");
    std::fs::create_dir_all(&evidence).unwrap();
    r.set("PM_EVIDENCE_DIR", evidence.to_str().unwrap())
        .unset("GITHUB_TOKEN");
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("status"), "PASS");
    let report = r.temp().join("portability-matrix/gate.json");
    assert_eq!(
        gate_args(&r),
        format!(
            "gate --policy phase1 --mode nightly --out {} --evidence-dir {}",
            report.display(),
            evidence.display()
        )
    );
    // No token is needed to read a folder, so its absence is not worth a remark.
    assert!(!run.stdout.contains("GITHUB_TOKEN is empty"), "{run}");
    assert!(
        run.stdout.contains(&format!(
            "::group::Release gate on evidence in {}",
            evidence.display()
        )),
        "{run}"
    );
}

#[test]
fn missing_evidence_dir_is_an_error_without_running_the_gate() {
    let mut r = gate_runner(0);
    r.set("PM_EVIDENCE_DIR", "no-such-folder");
    let run = r.run("run-gate.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr
            .contains("evidence-dir 'no-such-folder' is not a directory"),
        "{run}"
    );
    assert!(!r.path("gate-args").exists(), "the gate ran on nothing");
}
