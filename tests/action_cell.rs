//! The action's cell step (`dist/run-cell.sh`) run as a runner would run it: the real binary on
//! the runner temp dir's own filesystem, and stand-in binaries for the verdicts a real cell
//! cannot be made to give on demand (a failure, a crash, a provisioned filesystem).

mod action_support;

use std::path::Path;

use action_support::{fs_type_of, host_arch, skip, which, write_exe, Run, Runner};

const BIN: &str = env!("CARGO_BIN_EXE_portability-matrix");

/// A runner whose temp dir is on a filesystem the test can name, with the cell inputs set.
fn cell_runner(bin: &str) -> Option<(Runner, String)> {
    let mut r = Runner::new();
    let Some(fs) = fs_type_of(&r.temp()) else {
        skip("findmnt cannot tell the temp dir's filesystem");
        return None;
    };
    r.set("PM_BIN", bin)
        .set("PM_ARCH", host_arch())
        .set("PM_FS", &fs)
        .set("PM_ITERATIONS", "10") // the least crash testing that certifies
        .set("PM_EVIDENCE_DIR", "evidence");
    Some((r, fs))
}

fn report(run: &Run) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.out("report")).unwrap()).unwrap()
}

/// A stand-in cell binary that writes a wal_verify.json with `pass` into the next run dir of
/// <evidence>/<arch>/<fs>/ (unless `pass` is None) and exits with `code`.
fn fake_cell(r: &Runner, fs: &str, pass: Option<bool>, code: i32) -> String {
    let path = r.path("fake/portability-matrix");
    let write = match pass {
        Some(p) => format!(
            r#"d="$ev/{arch}/{fs}/run-1"; mkdir -p "$d"
cat > "$d/wal_verify.json" <<EOF
{{"seed": $seed, "arch": "{arch}", "fs_type": "{fs}", "pass": {p}, "passed": 2, "total_iterations": 3,
 "rename_atomic": "PASS", "violations": [{{"code": "SEQ_GAP", "invariant": "R2", "msg": "seq 3 follows 1 | twice"}}]}}
EOF
"#,
            arch = host_arch()
        ),
        None => String::new(),
    };
    write_exe(
        &path,
        &format!(
            r#"#!/bin/bash
echo "$@" > "{log}"
while (($#)); do case $1 in --evidence) ev=$2; shift 2 ;; --seed) seed=$2; shift 2 ;; *) shift ;; esac; done
{write}exit {code}
"#,
            log = r.path("fake-args").display()
        ),
    );
    path.to_str().unwrap().to_string()
}

#[test]
fn native_cell_on_the_temp_dirs_filesystem_passes_and_reports_its_seed() {
    let Some((mut r, fs)) = cell_runner(BIN) else {
        return;
    };
    eprintln!("the runner temp dir is on {fs}");
    // A real cell, with the least crash testing that certifies.
    r.set("PM_SEED", "424242").set("PM_ITERATIONS", "10");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("pass"), "true");
    assert_eq!(run.out("status"), "PASS");
    assert_eq!(run.out("seed"), "424242");
    let arch = host_arch();
    assert_eq!(
        run.out("artifact-name"),
        format!("portability-evidence-{arch}-{fs}")
    );
    let cell_dir = r.path(&format!("evidence/{arch}/{fs}"));
    assert_eq!(Path::new(run.out("artifact-path")), cell_dir);
    assert_eq!(
        Path::new(run.out("report")),
        cell_dir.join("run-1/wal_verify.json")
    );
    let json = report(&run);
    assert_eq!(json["seed"], 424242);
    assert_eq!(json["pass"], true);
    assert_eq!(json["arch"], arch);
    assert_eq!(json["fs_type"].as_str(), Some(fs.as_str()));
    assert_eq!(json["total_iterations"], 10);
    assert!(run.stdout.contains("::group::Cell"), "{run}");
    assert!(
        run.stdout.contains("::notice title=portability-matrix"),
        "{run}"
    );
    assert!(run.summary.contains("**PASS**"), "{}", run.summary);
    assert!(run.summary.contains("`424242`"), "{}", run.summary);
    assert!(run.summary.contains("10/10"), "{}", run.summary);
    // The tests run cells with block replay off: the summary says it was skipped, and why.
    assert!(
        run.summary.contains(
            "Block replay: SKIP: not requested (--block-replay off or PM_BLOCK_REPLAY=off)"
        ),
        "{}",
        run.summary
    );
}

#[test]
fn generated_seed_is_the_one_the_cell_ran_with() {
    let Some((mut r, _)) = cell_runner(BIN) else {
        return;
    };
    r.set("PM_ITERATIONS", "10");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    let seed: u64 = run.out("seed").parse().expect("a numeric seed");
    assert_eq!(report(&run)["seed"], seed);
    assert!(seed < 1 << 53, "the seed must stay exact in JSON: {seed}");
    // A second run of the same cell goes to run-2 and gets a seed of its own.
    let again = r.run("run-cell.sh");
    assert!(again.out("report").ends_with("run-2/wal_verify.json"));
    assert_ne!(again.out("seed"), run.out("seed"));
}

#[test]
fn failing_cell_is_an_error_annotation_with_the_violations_and_how_to_reproduce() {
    let Some((mut r, fs)) = cell_runner("") else {
        return;
    };
    let fake = fake_cell(&r, &fs, Some(false), 1);
    r.set("PM_BIN", &fake).set("PM_SEED", "99");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(run.out("pass"), "false");
    assert_eq!(run.out("status"), "FAIL");
    assert!(run.out("report").ends_with("run-1/wal_verify.json"));
    assert!(
        run.stdout.contains("::error title=portability-matrix"),
        "{run}"
    );
    assert!(run.stdout.contains("2 of 3 iterations passed"), "{run}");
    assert!(
        run.summary
            .contains("`portability-matrix cell --dir DIR --seed 99 --iterations 10`"),
        "{}",
        run.summary
    );
    assert!(
        run.summary
            .contains("`SEQ_GAP` (R2) seq 3 follows 1 \\| twice"),
        "{}",
        run.summary
    );
    let args = std::fs::read_to_string(r.path("fake-args")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "cell --dir {} --evidence {} --iterations 10 --seed 99",
            r.temp().join("portability-matrix-work").display(),
            r.path("evidence").display()
        )
    );
}

#[test]
fn a_cell_is_a_pass_only_when_its_exit_code_and_its_report_both_say_so() {
    for (pass, code) in [(true, 1), (false, 0)] {
        let Some((mut r, fs)) = cell_runner("") else {
            return;
        };
        let fake = fake_cell(&r, &fs, Some(pass), code);
        r.set("PM_BIN", &fake);
        let run = r.run("run-cell.sh");
        assert_eq!(run.out("status"), "FAIL", "pass {pass} exit {code}: {run}");
        assert_eq!(run.out("pass"), "false");
        assert_eq!(run.code, Some(1));
    }
}

#[test]
fn cell_that_cannot_run_is_an_error_without_a_report() {
    let Some((mut r, fs)) = cell_runner("") else {
        return;
    };
    let fake = fake_cell(&r, &fs, None, 2);
    r.set("PM_BIN", &fake).set("PM_SEED", "5");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert_eq!(run.out("status"), "ERROR");
    assert_eq!(run.out("report"), "");
    assert_eq!(
        run.out("seed"),
        "5",
        "the seed is known even when the cell dies"
    );
    assert!(run.stdout.contains("::error"), "{run}");
}

#[test]
fn other_filesystem_runs_exactly_one_matrix_cell_through_the_hosts_binary() {
    let Some((mut r, default_fs)) = cell_runner("") else {
        return;
    };
    let fs = if default_fs == "xfs" { "btrfs" } else { "xfs" };
    // mkfs must exist for the script to go ahead; the stand-in matrix never calls it.
    let tools = r.path("tools");
    write_exe(&tools.join(format!("mkfs.{fs}")), "#!/bin/sh\nexit 99\n");
    // Not root: the script provisions through sudo, which here just runs the command.
    write_exe(&tools.join("sudo"), "#!/bin/sh\nexec \"$@\"\n");
    let arch = host_arch();
    let driver = r.path("bins/driver");
    write_exe(
        &driver,
        &format!(
            r#"#!/bin/bash
echo "$@" > "{log}"
while (($#)); do case $1 in --evidence) ev=$2; shift 2 ;; *) shift ;; esac; done
mkdir -p "$ev/{arch}/{fs}/run-1"
echo '{{"seed": 7, "pass": true, "passed": 3, "total_iterations": 3, "rename_atomic": "PASS", "violations": []}}' > "$ev/{arch}/{fs}/run-1/wal_verify.json"
"#,
            log = r.path("driver-args").display()
        ),
    );
    let cell_bin = r.path("bins/x/portability-matrix");
    let bins = r.path("bins");
    r.prepend_path(&tools)
        .set("PM_FS", fs)
        .set("PM_SEED", "7")
        .set("PM_BIN", cell_bin.to_str().unwrap())
        .set("PM_DRIVER", driver.to_str().unwrap())
        .set("PM_BINARIES", bins.to_str().unwrap());
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("status"), "PASS");
    assert_eq!(
        run.out("artifact-name"),
        format!("portability-evidence-{arch}-{fs}")
    );
    let args = std::fs::read_to_string(r.path("driver-args")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "matrix --arch {arch} --fs {fs} --iterations 10 --seed 7 --evidence {} --binaries {}",
            r.path("evidence").display(),
            r.path("bins").display()
        )
    );
}

#[test]
fn foreign_cell_on_the_temp_dirs_filesystem_goes_through_the_matrix_unprivileged() {
    let Some((mut r, fs)) = cell_runner("") else {
        return;
    };
    let tools = r.path("tools");
    // Root is not asked for: a sudo that is called fails the test.
    write_exe(
        &tools.join("sudo"),
        "#!/bin/sh\necho sudo was called >&2\nexit 97\n",
    );
    let driver = r.path("bins/amd64/portability-matrix");
    write_exe(
        &driver,
        &format!(
            r#"#!/bin/bash
echo "$@" > "{log}"
echo "$TMPDIR" > "{log}.tmpdir"
while (($#)); do case $1 in --evidence) ev=$2; shift 2 ;; *) shift ;; esac; done
mkdir -p "$ev/riscv64/{fs}/run-1"
echo '{{"seed": 3, "pass": true, "passed": 3, "total_iterations": 3, "rename_atomic": "PASS", "emulated": true}}' > "$ev/riscv64/{fs}/run-1/wal_verify.json"
"#,
            log = r.path("driver-args").display()
        ),
    );
    let cell_bin = r.path("bins/riscv64/portability-matrix");
    write_exe(&cell_bin, "#!/bin/sh\nexit 98\n");
    let bins = r.path("bins");
    r.prepend_path(&tools)
        .set("RUNNER_ARCH", "X64")
        .set("PM_ARCH", "riscv64")
        .set("PM_SEED", "3")
        .set("PM_BIN", cell_bin.to_str().unwrap())
        .set("PM_DRIVER", driver.to_str().unwrap())
        .set("PM_BINARIES", bins.to_str().unwrap());
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("status"), "PASS");
    assert_eq!(
        std::fs::read_to_string(r.path("driver-args"))
            .unwrap()
            .trim(),
        format!(
            "matrix --arch riscv64 --fs {fs} --iterations 10 --seed 3 --evidence {} --binaries {}",
            r.path("evidence").display(),
            bins.display()
        )
    );
    // The matrix runs the cell in TMPDIR: the work dir whose filesystem chose this route.
    assert_eq!(
        std::fs::read_to_string(r.path("driver-args.tmpdir"))
            .unwrap()
            .trim(),
        r.temp()
            .join("portability-matrix-work")
            .display()
            .to_string()
    );
}

#[test]
fn other_filesystem_without_a_hosts_binary_is_an_error() {
    let Some((mut r, default_fs)) = cell_runner(BIN) else {
        return;
    };
    let fs = if default_fs == "xfs" { "btrfs" } else { "xfs" };
    r.set("PM_FS", fs).set("PM_DRIVER", "");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr.contains("needs a provisioned filesystem"),
        "{run}"
    );
}

#[test]
fn malformed_inputs_are_rejected_before_anything_runs() {
    for (k, v, says) in [
        ("PM_ITERATIONS", "20x", "iterations must be"),
        ("PM_ITERATIONS", "0", "iterations must be"),
        ("PM_SEED", "-1", "seed must be"),
        ("PM_SEED", "18446744073709551616", "seed must be"),
        ("PM_FS", "../etc", "fs must be"),
    ] {
        let Some((mut r, fs)) = cell_runner("") else {
            return;
        };
        let fake = fake_cell(&r, &fs, Some(true), 0);
        r.set("PM_BIN", &fake).set(k, v);
        let run = r.run("run-cell.sh");
        assert_eq!(run.code, Some(2), "{k}={v}: {run}");
        assert!(run.stderr.contains(says), "{k}={v}: {run}");
        assert!(!r.path("fake-args").exists(), "{k}={v} reached the binary");
    }
}

/// With the full matrix in the binary, root, loop devices and mkfs.xfs, the xfs cell runs for
/// real: provisioned, certified and cleaned up.
#[test]
fn xfs_cell_runs_on_a_provisioned_loop_filesystem() {
    let has_matrix = std::process::Command::new(BIN)
        .args(["matrix", "--help"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_matrix {
        skip("this build has no `matrix` subcommand to provision filesystems");
        return;
    }
    if !nix_is_root() || which("losetup").is_none() || which("mkfs.xfs").is_none() {
        skip("needs root, losetup and mkfs.xfs");
        return;
    }
    let Some((mut r, default_fs)) = cell_runner(BIN) else {
        return;
    };
    if default_fs == "xfs" {
        skip("the temp dir is already on xfs");
        return;
    }
    let bins = r.path("bins").join(host_arch());
    std::fs::create_dir_all(&bins).unwrap();
    std::os::unix::fs::symlink(BIN, bins.join("portability-matrix")).unwrap();
    let tree = r.path("bins");
    // The minimum of crash testing that certifies (src/coverage.rs): 3 would be FAIL.
    r.set("PM_FS", "xfs")
        .set("PM_ITERATIONS", "10")
        .set("PM_SEED", "11")
        .set("PM_DRIVER", BIN)
        .set("PM_BINARIES", tree.to_str().unwrap());
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("status"), "PASS");
    let json = report(&run);
    assert_eq!(json["fs_type"], "xfs");
    assert_eq!(json["seed"], 11);
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// With a cross-built arm64 binary (scripts/cross-build.sh) and QEMU registered with
/// binfmt_misc, the arm64 cell runs for real on an x86_64 machine.
#[test]
fn arm64_cell_runs_under_qemu_through_binfmt_misc() {
    if host_arch() != "amd64" {
        skip("the emulated cell is checked from an x86_64 host");
        return;
    }
    let cross = action_support::repo().join("target/cross/arm64/portability-matrix");
    if !cross.is_file() {
        skip(&format!(
            "no {} (run scripts/cross-build.sh)",
            cross.display()
        ));
        return;
    }
    let handler = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    let enabled = std::fs::read_to_string(handler)
        .map(|s| s.starts_with("enabled"))
        .unwrap_or(false);
    if !enabled {
        skip("no enabled binfmt_misc handler for aarch64 (update-binfmts --enable qemu-aarch64)");
        return;
    }
    let Some((mut r, fs)) = cell_runner(cross.to_str().unwrap()) else {
        return;
    };
    r.set("PM_ARCH", "arm64")
        .set("PM_ITERATIONS", "10")
        .set("PM_SEED", "12");
    let run = r.run("run-cell.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("status"), "PASS");
    assert_eq!(
        run.out("artifact-name"),
        format!("portability-evidence-arm64-{fs}")
    );
    let json = report(&run);
    assert_eq!(json["arch"], "arm64");
    assert_eq!(json["seed"], 12);
}

#[test]
fn a_cell_the_matrix_cannot_run_is_skip_with_its_reason_and_uploads_the_record() {
    let Some((mut r, fs)) = cell_runner(BIN) else {
        return;
    };
    // A foreign cell on the temp dir's filesystem goes through the matrix, and with no riscv64
    // binary in the tree the matrix can only skip it.
    let empty = r.path("binaries");
    std::fs::create_dir_all(&empty).unwrap();
    r.set("PM_ARCH", "riscv64")
        .set("PM_DRIVER", BIN)
        .set("PM_BINARIES", empty.to_str().unwrap());
    let run = r.run("run-cell.sh");
    assert_eq!(
        run.code,
        Some(0),
        "a skip is not a failure of the step: {run}"
    );
    assert_eq!(run.out("status"), "SKIP", "{run}");
    assert_eq!(run.out("pass"), "false");
    let record = report(&run);
    assert_eq!(record["skipped"], true, "{record}");
    assert_eq!(
        Path::new(run.out("report")),
        r.path(&format!("evidence/riscv64/{fs}/run-1/wal_verify.json")),
        "the record is inside the artifact path, so it is uploaded"
    );
    assert!(run.out("report").starts_with(run.out("artifact-path")));
    assert!(
        run.stdout.contains("::warning") && run.stdout.contains("no riscv64 binary"),
        "{run}"
    );
    assert!(run.summary.contains("**SKIP**"), "{}", run.summary);
    assert!(run.summary.contains("no riscv64 binary"), "{}", run.summary);
}
