//! Real crashes from the command line: kill -9 runs, power-loss exploration and its replay, and
//! their evidence in a cell's `wal_verify.json`.

mod common;

use common::*;
use serde_json::Value;

fn schema_errors(instance: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(include_str!("../schemas/wal_verify.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn harness_json(args: &[&str]) -> (i32, Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut a = vec!["crash-harness", "--out", out.path().to_str().unwrap()];
    a.extend_from_slice(args);
    let o = run(&a);
    let json = serde_json::from_slice(&std::fs::read(out.path()).unwrap()).unwrap_or(Value::Null);
    (code(&o), json, format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
fn kill_runs_kill_a_real_writer_and_find_every_acknowledged_entry() {
    // --verbose: a line per kill (without it, one updating progress line).
    let (c, r, out) = harness_json(&[
        "--fault",
        "kill",
        "--kills",
        "12",
        "--seed",
        "3",
        "--verbose",
    ]);
    assert_eq!(c, 0, "{out}");
    let k = &r["kill_runs"];
    assert_eq!(k["kills"], 12, "{out}");
    assert_eq!(
        k["killed_by_sigkill"], 12,
        "a writer outlived its kill: {out}"
    );
    assert_eq!(k["violations"], Value::Array(vec![]));
    assert_eq!(
        r["iterations"],
        Value::Array(vec![]),
        "--fault kill ran seed iterations"
    );
    assert!(r["power_loss"].is_null());
    assert!(out.contains("kill 11: SIGKILL"), "{out}");
}

#[test]
fn kill_runs_respawn_through_the_exec_wrapper() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let o = bin()
        .env("PM_EXEC_WRAPPER", "/usr/bin/env")
        .args([
            "crash-harness",
            "--fault",
            "kill",
            "--kills",
            "3",
            "--seed",
            "4",
        ])
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let r: Value = serde_json::from_slice(&std::fs::read(out.path()).unwrap()).unwrap();
    assert_eq!(r["kill_runs"]["killed_by_sigkill"], 3);
    let bad = bin()
        .env("PM_EXEC_WRAPPER", "/nonexistent/qemu")
        .args([
            "crash-harness",
            "--fault",
            "kill",
            "--kills",
            "1",
            "--seed",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(
        code(&bad),
        2,
        "a missing wrapper must be an error, not a pass"
    );
    assert!(
        stderr(&bad).contains("cannot spawn the crash writer"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn crash_explore_checks_every_state_and_replays_one() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let o = run(&[
        "crash-explore",
        "--seed",
        "8",
        "--on-disk",
        "20",
        "--dir",
        disk.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let s: Value = serde_json::from_slice(&std::fs::read(out.path()).unwrap()).unwrap();
    assert_eq!(s["violating_states"], 0);
    assert_eq!(s["exhaustive"], true);
    assert_eq!(s["on_disk_states"], 20);
    assert!(s["states_checked"].as_u64().unwrap() > 50, "{s}");
    // Replay a state in the middle of the trace: a crash right after a frame was written.
    let keep = tempfile::tempdir().unwrap();
    let k = keep.path().join("state");
    let r = run(&[
        "crash-explore",
        "--seed",
        "8",
        "--replay",
        "7:P",
        "--keep",
        k.to_str().unwrap(),
    ]);
    let text = stdout(&r);
    assert_eq!(code(&r), 0, "{text}{}", stderr(&r));
    assert!(text.contains("pending  #6 write wal.log @8+"), "{text}");
    assert!(k.join("crashed/wal.log").is_file());
    // What was kept is the crash state as the power cut left it (a phantom, not yet
    // recovered), and the same state after recovery, which the verifier passes.
    let v = run(&["verify", "--dir", k.join("crashed").to_str().unwrap()]);
    assert_eq!(code(&v), 1, "{}", stdout(&v));
    let v = run(&["verify", "--dir", k.join("recovered").to_str().unwrap()]);
    assert_eq!(code(&v), 0, "{}{}", stdout(&v), stderr(&v));
    assert!(text.contains("verify --dir"), "{text}");
}

#[test]
fn a_kept_state_that_passes_also_passes_verify_after_recovery() {
    // The README's replay: the state passes, so what `verify` checks must pass as well.
    let keep = tempfile::tempdir().unwrap();
    let k = keep.path().join("s");
    let r = run(&[
        "crash-explore",
        "--seed",
        "7",
        "--replay",
        "12:P,L",
        "--keep",
        k.to_str().unwrap(),
    ]);
    assert_eq!(code(&r), 0, "{}{}", stdout(&r), stderr(&r));
    assert!(stdout(&r).contains("passes every check"), "{}", stdout(&r));
    let v = run(&["verify", "--dir", k.join("recovered").to_str().unwrap()]);
    assert_eq!(code(&v), 0, "{}{}", stdout(&v), stderr(&v));
}

#[test]
fn keep_refuses_a_directory_that_is_not_empty_and_leaves_it_alone() {
    let keep = tempfile::tempdir().unwrap();
    let precious = keep.path().join("precious.txt");
    std::fs::write(&precious, "mine").unwrap();
    let r = run(&[
        "crash-explore",
        "--seed",
        "7",
        "--replay",
        "12:P,L",
        "--keep",
        keep.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&r), 2, "{}", stdout(&r));
    assert!(stderr(&r).contains("not empty"), "{}", stderr(&r));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "mine");
}

#[test]
fn a_defective_protocol_needs_a_build_with_the_defects_feature() {
    if cfg!(feature = "defects") {
        skip("this build has the defects feature, so the variant runs instead of being refused");
        return;
    }
    let o = run(&["crash-explore", "--protocol", "no-dir-sync", "--seed", "1"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("`defects` feature"), "{}", stderr(&o));
}

#[test]
fn a_cell_records_kills_and_power_loss_states_and_seed_steps_only_leaves_them_out() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let cell = |extra: &[&str]| {
        bin()
            .args(["cell", "--dir", work.path().to_str().unwrap()])
            .args([
                "--evidence",
                ev.path().to_str().unwrap(),
                "--iterations",
                "10",
                "--seed",
                "21",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = cell(&[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // The seed's steps alone run no kill and no power-loss state: below the minimums, so the
    // cell runs, records what it did, and does not certify.
    let o2 = cell(&["--seed-steps-only"]);
    assert_eq!(code(&o2), 1, "{}{}", stdout(&o2), stderr(&o2));
    let files: Vec<std::path::PathBuf> = glob_runs(ev.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let full = read_json(&files[0]);
    let seed_only = read_json(&files[1]);
    assert_eq!(schema_errors(&full), Vec::<String>::new());
    assert_eq!(schema_errors(&seed_only), Vec::<String>::new());
    assert_eq!(
        full["kill_runs"]["kills"], 100,
        "the cell runs at least 100 kills by default"
    );
    assert_eq!(full["kill_runs"]["pass"], true);
    assert!(full["power_loss"]["states_checked"].as_u64().unwrap() > 50);
    assert!(full["power_loss"]["on_disk_states"].as_u64().unwrap() > 0);
    assert_eq!(full["power_loss"]["violating_states"], 0);
    assert!(full["steps"]["crash_harness"]["msg"]
        .as_str()
        .unwrap()
        .contains("100 kills"));
    assert!(seed_only.get("kill_runs").is_none() && seed_only.get("power_loss").is_none());
    assert_eq!(seed_only["pass"], false);
    assert_eq!(seed_only["coverage"]["meets_minimums"], false);
    assert_eq!(full["coverage"]["meets_minimums"], true);
    assert!(seed_only["steps"]["crash_harness"]["msg"]
        .as_str()
        .unwrap()
        .contains("below the minimums"));
}

#[test]
fn a_cell_with_no_crash_testing_is_refused_and_one_below_the_minimums_does_not_certify() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let cell = |extra: &[&str]| {
        bin()
            .args(["cell", "--dir", work.path().to_str().unwrap()])
            .args(["--evidence", ev.path().to_str().unwrap(), "--seed", "5"])
            .args(extra)
            .output()
            .unwrap()
    };
    for zero in [&["--iterations", "0"][..], &["--kills", "0"]] {
        let o = cell(zero);
        assert_eq!(code(&o), 2, "{zero:?}: {}", stdout(&o));
        assert!(stderr(&o).contains("certifies nothing"), "{}", stderr(&o));
    }
    assert!(
        !ev.path().join(platform_arch()).exists(),
        "a refused cell leaves no evidence"
    );
    let o = cell(&["--iterations", "3", "--kills", "4"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let r = read_json(&glob_runs(ev.path())[0]);
    assert_eq!(r["pass"], false);
    assert_eq!(r["coverage"]["iterations"], 3);
    assert_eq!(r["coverage"]["kills"], 4);
    let msg = r["steps"]["crash_harness"]["msg"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("3 crash-harness iterations (minimum 10)")
            && msg.contains("4 kill -9 runs (minimum 10)"),
        "{msg}"
    );
}

fn platform_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The wal_verify.json files under an evidence tree, run-1 first.
fn glob_runs(ev: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for arch in std::fs::read_dir(ev).unwrap() {
        for fs in std::fs::read_dir(arch.unwrap().path()).unwrap() {
            for run in std::fs::read_dir(fs.unwrap().path()).unwrap() {
                out.push(run.unwrap().path().join("wal_verify.json"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn limits_that_would_check_nothing_or_overflow_are_refused_before_anything_runs() {
    for args in [
        &["crash-explore", "--bound", "0"][..],
        &["cell", "--explore-bound", "0"],
        &["crash-harness", "--iteration", "4294967295"],
        &[
            "crash-harness",
            "--fault",
            "kill",
            "--kill-max-delay-ms",
            "99999999999",
        ],
    ] {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("invalid value"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}
