//! `portability-matrix crash-harness`: seeded, replayable, and honest about failures.

mod common;

use common::*;
use serde_json::Value;

fn harness(extra: &[&str]) -> (i32, Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec!["crash-harness", "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    let json = std::fs::read(out.path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (code(&o), json, stdout(&o))
}

#[test]
fn the_same_seed_gives_the_same_iterations() {
    let (c1, a, _) = harness(&["--seed", "42", "--iterations", "12"]);
    let (c2, b, _) = harness(&["--seed", "42", "--iterations", "12"]);
    assert_eq!((c1, c2), (0, 0));
    assert_eq!(a["iterations"], b["iterations"]);
    let (_, c, _) = harness(&["--seed", "43", "--iterations", "12"]);
    assert_ne!(
        a["iterations"], c["iterations"],
        "a different seed drew the same run"
    );
}

#[test]
fn iteration_replays_exactly_one_iteration_of_a_run() {
    let (_, full, _) = harness(&["--seed", "1741910400000000000", "--iterations", "10"]);
    for i in [0usize, 4, 9] {
        let (code, one, out) = harness(&[
            "--seed",
            "1741910400000000000",
            "--iteration",
            &i.to_string(),
        ]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(one["iterations"].as_array().unwrap().len(), 1);
        assert_eq!(
            one["iterations"][0], full["iterations"][i],
            "iteration {i} did not replay"
        );
    }
}

#[test]
fn every_fault_kind_is_drawn_and_each_iteration_records_its_fields() {
    let (code, r, out) = harness(&["--seed", "5", "--iterations", "40"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (r["passed"].as_u64(), r["failed"].as_u64()),
        (Some(40), Some(0))
    );
    let its = r["iterations"].as_array().unwrap();
    for fault in ["phantom", "torn_tail", "stale_tmp", "phantom_and_torn"] {
        assert!(
            its.iter().any(|i| i["fault"] == fault),
            "fault {fault} never drawn in 40 iterations"
        );
    }
    for (k, it) in its.iter().enumerate() {
        assert_eq!(it["index"], k);
        let n = it["n"].as_u64().unwrap();
        assert!((1..=10).contains(&n), "N={n}");
        assert_eq!(it["pass"], true);
        assert!(it["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{n} entries survived")));
    }
    assert!(out.contains("seed 5"));
}

#[test]
fn a_generated_seed_is_printed() {
    let o = run(&["crash-harness", "--iterations", "1"]);
    assert_eq!(code(&o), 0);
    let line = stdout(&o).lines().next().unwrap().to_string();
    let seed: u64 = line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    assert!(seed < 1 << 53);
}

#[test]
fn a_failing_iteration_exits_1_and_prints_its_replay_command() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("iter-1"),
        "a file where the iteration's directory goes",
    )
    .unwrap();
    let (code, r, out) = harness(&[
        "--seed",
        "9",
        "--iterations",
        "3",
        "--dir",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(r["failed"], 1);
    assert_eq!(r["iterations"][1]["pass"], false);
    assert!(
        out.contains("replay: portability-matrix crash-harness --seed 9 --iteration 1"),
        "{out}"
    );
}
