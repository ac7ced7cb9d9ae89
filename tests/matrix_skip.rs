//! A cell that cannot run here is SKIP, with a reason that says what is missing: a mkfs, root
//! for a loop device, the cross-built binary. SKIP is not a failure unless --fail-on-skip says
//! which skips are.

mod matrix_support;

use std::path::PathBuf;
use std::process::Command;

use matrix_support::*;
use serde_json::Value;

#[test]
fn a_filesystem_without_mkfs_is_skip_naming_the_program() {
    let s = Scratch::new();
    let out = s.run(&["--arch", "amd64", "--fs", "nosuchfs", "--iterations", "10"]);
    assert_eq!(out.status.code(), Some(0), "a SKIP alone is not a failure");
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "SKIP");
    assert!(
        c["reason"].as_str().unwrap().contains("mkfs.nosuchfs"),
        "{c}"
    );
    assert_eq!(m["counts"]["skip"], 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SKIP"));
}

#[test]
fn fail_on_skip_any_turns_a_skip_into_exit_1() {
    let s = Scratch::new();
    let out = s.run(&[
        "--arch",
        "amd64",
        "--fs",
        "nosuchfs",
        "--fail-on-skip",
        "any",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_missing_cross_binary_is_skip_naming_the_build_script() {
    let s = Scratch::new();
    // riscv64/ext4 is one of the seed's cells: with --fail-on-skip seed its skip fails the run.
    let out = s.run(&[
        "--arch",
        "riscv64",
        "--fs",
        "ext4",
        "--fail-on-skip",
        "seed",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "SKIP");
    assert_eq!(c["seed_cell"], true);
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("cross-build.sh riscv64"),
        "{c}"
    );
}

#[test]
fn a_skipped_cell_leaves_a_record_that_the_gate_reads_as_skip_with_its_reason() {
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    let s = Scratch::new();
    let out = s.run(&["--arch", "riscv64", "--fs", "ext4", "--commit", SHA]);
    assert_eq!(out.status.code(), Some(0));
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "SKIP", "{c}");
    let run = PathBuf::from(c["run_dir"].as_str().expect("the skip names its record"));
    assert_eq!(run, s.evidence().join("riscv64/ext4/run-1"));

    let wv: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("wal_verify.json")).unwrap())
            .unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("../schemas/wal_verify.schema.json")).unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&wv)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{wv}");
    assert_eq!(wv["skipped"], true);
    assert_eq!(wv["pass"], false, "a skip claims nothing");
    assert!(wv.get("invariants").is_none(), "{wv}");
    assert_eq!(wv["commit"], SHA);
    assert!(
        wv["skip_reason"]
            .as_str()
            .unwrap()
            .contains("cross-build.sh riscv64"),
        "{wv}"
    );
    let cmd = std::fs::read_to_string(run.join("cmd.txt")).unwrap();
    assert!(
        cmd.contains("portability-matrix matrix --arch riscv64 --fs ext4 --seed"),
        "{cmd}"
    );

    // phase2 gates riscv64/ext4: the gate sees the skip and its reason, not a missing artifact.
    let gate_json = s.dir.path().join("gate.json");
    let gate = Command::new(BIN)
        .arg("gate")
        .arg("--evidence-dir")
        .arg(s.evidence())
        .args(["--policy", "phase2", "--mode", "release", "--sha", SHA])
        .arg("--out")
        .arg(&gate_json)
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(1), "{gate:?}");
    let g: Value = serde_json::from_slice(&std::fs::read(&gate_json).unwrap()).unwrap();
    let rv = g["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == "riscv64/ext4")
        .unwrap();
    assert_eq!(rv["status"], "SKIP", "{rv}");
    assert_eq!(rv["blocking"], true, "{rv}");
    assert!(
        rv["note"].as_str().unwrap().contains("cross-build.sh"),
        "{rv}"
    );
}

#[test]
fn a_skipped_extra_cell_does_not_fail_the_seed_policy() {
    let s = Scratch::new();
    let out = s.run(&["--arch", "s390x", "--fs", "ext4", "--fail-on-skip", "seed"]);
    assert_eq!(out.status.code(), Some(0));
    let m = s.matrix_json();
    assert_eq!(cell(&m, 0)["status"], "SKIP");
    assert_eq!(cell(&m, 0)["seed_cell"], false);
}

#[test]
fn without_root_a_loop_filesystem_is_skip_naming_root() {
    let Some(tmp_fs) = fs_of(&std::env::temp_dir()) else {
        skip("cannot tell the temp dir's filesystem");
        return;
    };
    // A filesystem the temp dir is not, whose mkfs is here: only root is missing.
    let Some(fs) = ["xfs", "ext4", "btrfs"]
        .into_iter()
        .find(|f| *f != tmp_fs && find_program(&format!("mkfs.{f}")).is_some())
    else {
        skip(&format!(
            "no mkfs for a filesystem other than the temp dir's ({tmp_fs})"
        ));
        return;
    };
    let s = Scratch::new();
    let mut cmd = s.matrix(&["--arch", "amd64", "--fs", fs, "--iterations", "10"]);
    if is_root() {
        // Drop to nobody for real; the scratch dir must then be theirs to write.
        let Some(setpriv) = find_program("setpriv") else {
            skip("running as root and setpriv (util-linux) is missing");
            return;
        };
        for p in [s.dir.path().to_path_buf(), s.tmp(), s.binaries()] {
            Command::new("chown")
                .args(["65534:65534"])
                .arg(&p)
                .status()
                .unwrap();
        }
        let probe = Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(BIN)
            .arg("--version")
            .output()
            .unwrap();
        if !probe.status.success() {
            skip(&format!(
                "nobody cannot run {BIN}: {}",
                String::from_utf8_lossy(&probe.stderr)
            ));
            return;
        }
        let args: Vec<_> = std::iter::once(cmd.get_program().to_owned())
            .chain(cmd.get_args().map(|a| a.to_owned()))
            .collect();
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .env("TMPDIR", s.tmp())
            .env("PM_BLOCK_REPLAY", "off");
        cmd = c;
    }
    let out = cmd.output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "SKIP", "{c}");
    let reason = c["reason"].as_str().unwrap();
    assert!(reason.contains("root"), "{reason}");
    assert!(!reason.contains("not installed"), "{reason}");
}
