//! A cell is never PASS from a binary of the wrong architecture: the matrix believes the
//! architecture the running binary reports in its own evidence, not the directory it came from.

mod matrix_support;

use matrix_support::*;

/// Where to run: a loop ext4 as root, else the temp dir's own filesystem.
fn cell_fs() -> Option<String> {
    if need_loop_fs("ext4").is_ok() {
        return Some("ext4".into());
    }
    fs_of(&std::env::temp_dir())
}

fn can_emulate_arm64() -> Result<(), String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(
            "the test places an amd64 binary where arm64 belongs; this host is not amd64".into(),
        );
    }
    let registered = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .is_ok_and(|t| t.starts_with("enabled"));
    if registered || find_program("qemu-aarch64-static").is_some() {
        Ok(())
    } else {
        Err("no binfmt_misc handler qemu-aarch64 and no qemu-aarch64-static".into())
    }
}

fn wrong_arch_cell(extra: &[&str]) -> Option<(Scratch, serde_json::Value, Option<i32>)> {
    if let Err(why) = can_emulate_arm64() {
        skip(&why);
        return None;
    }
    let Some(fs) = cell_fs() else {
        skip("cannot tell the temp dir's filesystem");
        return None;
    };
    let s = Scratch::new();
    let dst = s.binaries().join("arm64");
    std::fs::create_dir_all(&dst).unwrap();
    // The native (amd64) binary, where the arm64 one belongs.
    std::fs::copy(BIN, dst.join("portability-matrix")).unwrap();
    let mut args = vec![
        "--arch",
        "arm64",
        "--fs",
        &fs,
        "--iterations",
        "10",
        "--seed",
        "11",
    ];
    args.extend_from_slice(extra);
    let out = s.run(&args);
    let m = s.matrix_json();
    Some((s, m, out.status.code()))
}

#[test]
fn an_amd64_binary_in_the_arm64_slot_makes_the_cell_fail() {
    let Some((s, m, code)) = wrong_arch_cell(&[]) else {
        return;
    };
    let c = cell(&m, 0);
    assert_eq!(c["status"], "FAIL", "{c}");
    assert_eq!(code, Some(1));
    if c["execution"] == "binfmt_misc" {
        // The kernel ran it natively: its own evidence says amd64, and that decides.
        assert_eq!(c["detected_arch"], "amd64", "{c}");
        assert!(
            c["reason"]
                .as_str()
                .unwrap()
                .contains("ran as amd64, not arm64"),
            "{c}"
        );
        let run = std::path::PathBuf::from(c["run_dir"].as_str().unwrap());
        let wv: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("wal_verify.json")).unwrap())
                .unwrap();
        assert_eq!(wv["matrix"]["status"], "FAIL");
        assert_eq!(wv["matrix"]["requested_arch"], "arm64");
    }
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn an_amd64_binary_under_explicit_qemu_aarch64_makes_the_cell_fail() {
    if find_program("qemu-aarch64-static").is_none() {
        skip("qemu-aarch64-static is not installed");
        return;
    }
    let Some((s, m, code)) = wrong_arch_cell(&["--emulation", "explicit"]) else {
        return;
    };
    let c = cell(&m, 0);
    assert_eq!(c["execution"], "explicit", "{c}");
    assert_eq!(c["status"], "FAIL", "{c}");
    assert_eq!(code, Some(1));
    assert_eq!(s.leftovers(), Vec::<String>::new());
}
