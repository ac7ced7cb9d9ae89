//! The matrix's loop filesystems are always removed: after a passing cell, a failing one, a
//! crashing one, and when the matrix is interrupted with SIGINT in the middle of a cell. Each
//! test looks for its own mounts (in /proc/self/mountinfo) and loop devices (`losetup -a`)
//! afterwards. They need root and mkfs.ext4, and say so when skipped.

mod matrix_support;

use std::time::{Duration, Instant};

use matrix_support::*;

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn a_passing_cell_runs_on_a_fresh_loop_filesystem_and_leaves_nothing_behind() {
    if let Err(why) = need_loop_fs("ext4") {
        skip(&why);
        return;
    }
    let s = Scratch::new();
    let arch = host_arch();
    let out = s.run(&[
        "--arch",
        arch,
        "--fs",
        "ext4",
        "--iterations",
        "10",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "PASS", "{c}");
    assert_eq!(c["filesystem"], "loop");
    assert_eq!(c["detected_fs"], "ext4");
    let run = std::path::PathBuf::from(c["run_dir"].as_str().unwrap());
    let wv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("wal_verify.json")).unwrap())
            .unwrap();
    assert_eq!(wv["seed"], 7);
    assert_eq!(wv["emulated"], false);
    assert_eq!(wv["image_size"], 512 << 20);
    assert!(wv["mount"]["source"]
        .as_str()
        .unwrap()
        .starts_with("/dev/loop"));
    assert_eq!(wv["matrix"]["requested_fs"], "ext4");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/wal_verify.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&wv).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "the annotated file breaks the schema: {errors:?}"
    );
    let cmd = std::fs::read_to_string(run.join("cmd.txt")).unwrap();
    assert!(cmd.contains("mkfs.ext4"), "{cmd}");
    assert!(cmd.contains("losetup --find --show"), "{cmd}");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn a_failing_cell_is_fail_and_its_filesystem_is_still_removed() {
    if let Err(why) = need_loop_fs("ext4") {
        skip(&why);
        return;
    }
    let s = Scratch::new();
    let arch = host_arch();
    // It writes into the mount, leaves a process holding it busy, and fails.
    s.fake_binary(
        arch,
        &script("echo data > \"$DIR/junk\"\n(cd \"$DIR\" && exec sleep 300) &\necho 'cell failed' >&2\nexit 1"),
    );
    let out = s.run(&["--arch", arch, "--fs", "ext4", "--iterations", "10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed cell makes the matrix exit 1"
    );
    let m = s.matrix_json();
    assert_eq!(cell(&m, 0)["status"], "FAIL");
    assert!(
        cell(&m, 0)["reason"]
            .as_str()
            .unwrap()
            .contains("wrote no evidence"),
        "{}",
        cell(&m, 0)
    );
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn a_crashing_cell_is_fail_and_its_filesystem_is_still_removed() {
    if let Err(why) = need_loop_fs("ext4") {
        skip(&why);
        return;
    }
    let s = Scratch::new();
    let arch = host_arch();
    // Dies the way a panic with panic=abort does.
    s.fake_binary(arch, &script("echo partial > \"$DIR/junk\"\nkill -ABRT $$"));
    let out = s.run(&["--arch", arch, "--fs", "ext4", "--iterations", "10"]);
    assert_eq!(out.status.code(), Some(1));
    let m = s.matrix_json();
    assert_eq!(cell(&m, 0)["status"], "FAIL");
    assert!(
        cell(&m, 0)["exit"].as_str().unwrap().contains("SIGABRT"),
        "{}",
        cell(&m, 0)
    );
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn sigint_during_a_cell_stops_it_and_removes_its_filesystem() {
    if let Err(why) = need_loop_fs("ext4") {
        skip(&why);
        return;
    }
    let s = Scratch::new();
    let arch = host_arch();
    let pidfile = s.dir.path().join("cell.pid");
    // Announces itself from inside the mount, then runs until it is stopped.
    s.fake_binary(
        arch,
        &script(&format!(
            "echo $$ > {}\ntouch \"$DIR/started\"\nexec sleep 300",
            pidfile.display()
        )),
    );
    // The matrix's own output is captured (and shown only if the test fails): its "the matrix
    // was interrupted" is the expected outcome here, not news for `make test`'s reader.
    let child = s
        .matrix(&["--arch", arch, "--fs", "ext4", "--iterations", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        let hit = std::fs::read_dir(s.tmp())
            .unwrap()
            .flatten()
            .any(|e| e.path().join("mnt/started").exists());
        if hit || Instant::now() > deadline {
            break hit;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SIGINT to the matrix process alone, as `kill -INT` would send it.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let status = out.status;
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started, "the cell never started inside its mount");
    assert_eq!(
        status.code(),
        Some(2),
        "an interrupted matrix could not decide"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the interrupted cell (pid {}) is still running",
        pid.trim()
    );
    let m = s.matrix_json();
    assert_eq!(m["interrupted"], true);
    assert_eq!(cell(&m, 0)["status"], "FAIL");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}
