//! `portability-matrix cell`: the four steps, the evidence folder, and a `wal_verify.json` that
//! matches its schema and says where it really ran.

mod common;

use std::path::{Path, PathBuf};

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

fn cell(dir: &Path, evidence: &Path, seed: &str) -> std::process::Output {
    bin()
        .args([
            "cell",
            "--dir",
            dir.to_str().unwrap(),
            "--evidence",
            evidence.to_str().unwrap(),
        ])
        .args(["--iterations", "12", "--seed", seed, "--commit", "0123abcd"])
        .output()
        .unwrap()
}

fn run_dir(evidence: &Path, fs: &str, n: u32) -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    evidence.join(arch).join(fs).join(format!("run-{n}"))
}

/// The filesystem type of the mount holding `p`, from the mount table.
fn fs_of(p: &Path) -> String {
    let p = p.canonicalize().unwrap();
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut best = (0, String::new());
    for line in table.lines() {
        let (l, r) = line.split_once(" - ").unwrap();
        let mp = l.split(' ').nth(4).unwrap().replace("\\040", " ");
        if p.starts_with(&mp) && mp.len() >= best.0 {
            best = (mp.len(), r.split(' ').next().unwrap().to_string());
        }
    }
    best.1
}

#[test]
fn a_cell_certifies_and_writes_complete_evidence() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let o = cell(work.path(), ev.path(), "77");
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let fs = fs_of(work.path());
    let run = run_dir(ev.path(), &fs, 1);
    for f in [
        "cmd.txt",
        "dmesg.txt",
        "autonomy.log",
        "wal_verify.json",
        "fixture/wal.log",
        "fixture/telemetry.safe_seq",
    ] {
        assert!(run.join(f).is_file(), "{f} missing from {}", run.display());
    }
    let r = read_json(&run.join("wal_verify.json"));
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    assert_eq!(r["seed"], 77);
    assert_eq!(r["fs_type"], fs.as_str());
    assert_eq!(
        (
            r["total_iterations"].as_u64(),
            r["passed"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(12), Some(12), Some(0))
    );
    assert_eq!(
        (
            r["pass"].as_bool(),
            r["rename_atomic"].as_str(),
            r["run_n"].as_u64()
        ),
        (Some(true), Some("PASS"), Some(1))
    );
    assert_eq!(r["commit"], "0123abcd");
    assert_eq!(r["iterations"].as_array().unwrap().len(), 12);
    assert_eq!(r["coverage"]["meets_minimums"], true);
    assert_eq!(r["conformance"].as_array().unwrap().len(), 18);
    assert!(r["invariants"]
        .as_object()
        .unwrap()
        .values()
        .all(|c| c["pass"] == true));
    // cmd.txt reproduces the run; autonomy.log holds every step.
    let cmd = std::fs::read_to_string(run.join("cmd.txt")).unwrap();
    assert!(
        cmd.contains("--seed 77")
            && cmd
                .contains("portability-matrix crash-harness --seed 77 --iterations 12 --kills 100"),
        "{cmd}"
    );
    assert!(cmd.contains(r["tool"]["version"].as_str().unwrap()));
    assert!(
        cmd.contains("`portability-matrix` below is this binary: /"),
        "{cmd}"
    );
    let log = std::fs::read_to_string(run.join("autonomy.log")).unwrap();
    for s in [
        "step 1",
        "step 2",
        "step 3",
        "step 4",
        "S10   PASS",
        "iteration   5",
    ] {
        assert!(log.contains(s), "autonomy.log lacks {s:?}");
    }
    assert!(std::fs::read_to_string(run.join("dmesg.txt"))
        .unwrap()
        .contains("== kernel ring buffer before the cell =="));
    // The cell's work directory is gone after a pass.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}

#[test]
fn the_kept_fixture_verifies_again_from_the_evidence() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    assert_eq!(code(&cell(work.path(), ev.path(), "3")), 0);
    let fixture = run_dir(ev.path(), &fs_of(work.path()), 1).join("fixture");
    let o = run(&["verify", "--dir", fixture.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (r["frames"].as_u64(), r["safe_seq"].as_u64()),
        (Some(5), Some(5))
    );
}

#[test]
fn run_numbers_follow_the_highest_existing_run() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let fs = fs_of(work.path());
    std::fs::create_dir_all(run_dir(ev.path(), &fs, 7)).unwrap();
    assert_eq!(code(&cell(work.path(), ev.path(), "1")), 0);
    let r = read_json(&run_dir(ev.path(), &fs, 8).join("wal_verify.json"));
    assert_eq!(r["run_n"], 8);
}

#[test]
fn the_filesystem_is_detected_not_assumed_on_tmpfs() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || fs_of(shm) != "tmpfs" {
        skip("/dev/shm is not a tmpfs mount here");
        return;
    }
    let work = tempfile::tempdir_in(shm).unwrap();
    let ev = tempfile::tempdir().unwrap();
    assert_eq!(code(&cell(work.path(), ev.path(), "11")), 0);
    let r = read_json(&run_dir(ev.path(), "tmpfs", 1).join("wal_verify.json"));
    assert_eq!(r["fs_type"], "tmpfs");
    assert_eq!(r["mount"]["fs_type"], "tmpfs");
}

#[test]
fn a_second_process_is_refused_while_a_writer_holds_the_lock() {
    let d = tempfile::tempdir().unwrap();
    let wal = wal::Wal::open(d.path()).unwrap();
    let o = run(&["lock-probe", "--dir", d.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "the probe opened a locked WAL: {}", stderr(&o));
    drop(wal);
    let o = run(&["lock-probe", "--dir", d.path().to_str().unwrap()]);
    assert_eq!(
        code(&o),
        1,
        "the probe was refused an unlocked WAL: {}",
        stderr(&o)
    );
}

#[test]
fn an_unusable_evidence_directory_is_a_clear_error_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let f = tempfile::NamedTempFile::new().unwrap();
    let o = cell(work.path(), f.path(), "1");
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("error: cannot create"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_closed_stdout_does_not_stop_the_cell_or_lose_its_evidence() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("portability-matrix"))
        .env("PM_BLOCK_REPLAY", "off")
        .args([
            "cell",
            "--dir",
            work.path().to_str().unwrap(),
            "--evidence",
            ev.path().to_str().unwrap(),
        ])
        .args(["--iterations", "10", "--seed", "5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let r = read_json(&run_dir(ev.path(), &fs_of(work.path()), 1).join("wal_verify.json"));
    assert_eq!(r["pass"], true);
    let log =
        std::fs::read_to_string(run_dir(ev.path(), &fs_of(work.path()), 1).join("autonomy.log"))
            .unwrap();
    assert!(
        log.contains("step 4"),
        "autonomy.log lost lines after stdout closed"
    );
}

#[test]
fn the_step_2_line_of_cmd_txt_repeats_the_cells_crash_testing_exactly() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let o = cell(work.path(), ev.path(), "31");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let run = run_dir(ev.path(), &fs_of(work.path()), 1);
    let r = read_json(&run.join("wal_verify.json"));
    let cmd = std::fs::read_to_string(run.join("cmd.txt")).unwrap();
    let line = cmd
        .lines()
        .find(|l| l.starts_with("portability-matrix crash-harness --seed 31 --iterations"))
        .unwrap_or_else(|| panic!("no step 2 line in {cmd}"));
    let out = tempfile::NamedTempFile::new().unwrap();
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let h = bin()
        .args(&args)
        .args([
            "--dir",
            work.path().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&h), 0, "{}{}", stdout(&h), stderr(&h));
    let again = read_json(out.path());
    assert_eq!(again["kill_runs"]["kills"], r["kill_runs"]["kills"]);
    for k in ["states_checked", "states_explored", "on_disk_states"] {
        assert_eq!(again["power_loss"][k], r["power_loss"][k], "{k}");
    }
    assert_eq!(again["passed"], r["passed"]);
}

#[test]
fn a_cell_run_in_a_clean_checkout_of_its_own_commit_records_that_commit() {
    // This test runs in the project's checkout; the binary was built from its HEAD.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let built = bin().arg("--version").output().unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if head.is_empty() || !stdout(&built).contains(&head) {
        skip("not a git checkout at the commit this binary was built from");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["cell", "--dir", work.path().to_str().unwrap()])
        .args([
            "--evidence",
            ev.path().to_str().unwrap(),
            "--iterations",
            "10",
            "--seed",
            "2",
        ])
        .env_remove("GITHUB_SHA")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let run = run_dir(ev.path(), &fs_of(work.path()), 1);
    let r = read_json(&run.join("wal_verify.json"));
    assert_eq!(r["commit"], head.as_str());
    let dirty = !std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .unwrap()
        .stdout
        .is_empty();
    assert_eq!(r["commit_dirty"], dirty);
    let cmd = std::fs::read_to_string(run.join("cmd.txt")).unwrap();
    assert!(
        cmd.contains(&format!("# commit certified: {head} (the git checkout")),
        "{cmd}"
    );
}

#[test]
fn a_passing_cell_prints_no_line_per_kill_unless_verbose_and_its_log_keeps_them_all() {
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let cell = |extra: &[&str]| {
        bin()
            .args(["cell", "--dir", work.path().to_str().unwrap()])
            .args(["--evidence", ev.path().to_str().unwrap()])
            .args(["--iterations", "10", "--seed", "4"])
            .args(extra)
            .output()
            .unwrap()
    };
    let quiet = cell(&[]);
    assert_eq!(code(&quiet), 0, "{}", stdout(&quiet));
    let out = stdout(&quiet);
    assert!(
        !out.contains("kill 5:"),
        "a line per kill on stdout:\n{out}"
    );
    assert!(
        !out.contains("iteration   5:"),
        "a line per iteration on stdout:\n{out}"
    );
    assert!(
        out.contains("kill -9: 100 kills"),
        "the summary line is kept:\n{out}"
    );
    assert!(
        out.lines().count() < 80,
        "{} lines:\n{out}",
        out.lines().count()
    );
    let fs = fs_of(work.path());
    let log = std::fs::read_to_string(run_dir(ev.path(), &fs, 1).join("autonomy.log")).unwrap();
    assert!(log.contains("kill 5:") && log.contains("kill 99:"), "{log}");
    assert!(log.contains("iteration   5:"), "{log}");
    let verbose = cell(&["--verbose"]);
    assert_eq!(code(&verbose), 0);
    assert!(stdout(&verbose).contains("kill 5:"), "{}", stdout(&verbose));
}

#[test]
fn on_a_terminal_progress_is_one_line_updated_in_place() {
    let Ok(script) = which("script") else {
        skip("`script` (util-linux) is not installed, so no terminal can be emulated");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let ev = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} cell --dir {} --evidence {} --iterations 10 --seed 4",
        env!("CARGO_BIN_EXE_portability-matrix"),
        work.path().display(),
        ev.path().display()
    );
    let o = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("\r\x1b[2K  kill -9: 100/100"), "{out}");
    assert!(!out.contains("kill 5:"), "{out}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn a_negative_seed_is_refused_as_a_seed_not_as_an_unknown_flag() {
    for cmd in ["cell", "crash-harness", "crash-explore", "matrix"] {
        let o = run(&[cmd, "--seed", "-1"]);
        assert_eq!(code(&o), 2, "{cmd}");
        assert!(
            stderr(&o).contains("is not a seed"),
            "{cmd}: {}",
            stderr(&o)
        );
        assert!(
            !stderr(&o).contains("unexpected argument"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_file_given_as_dir_is_named_as_not_a_directory_and_no_evidence_is_claimed() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let ev = d.path().join("ev");
    let o = run(&[
        "cell",
        "--dir",
        file.to_str().unwrap(),
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("os error 17"), "{}", stderr(&o));
    assert!(!ev.exists(), "a refused cell claims no run directory");
}
