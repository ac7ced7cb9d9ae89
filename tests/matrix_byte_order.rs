//! Across byte orders: the crash states a big-endian (s390x) cell's binary leaves are recovered
//! identically by the little-endian host's binary, and the reverse; the matrix records it in the
//! cell's evidence, with the states, the reports and the commands that make the comparison again.

mod matrix_support;

use std::path::PathBuf;
use std::process::Command;

use matrix_support::*;

/// The s390x cell binary (`scripts/cross-build.sh s390x` writes it), when this host can run it.
fn s390x_binary() -> Result<PathBuf, String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err("the test wants a little-endian amd64 host".into());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cross/s390x/portability-matrix");
    if !p.is_file() {
        return Err(format!(
            "no s390x binary at {} (scripts/cross-build.sh s390x builds it)",
            p.display()
        ));
    }
    let registered = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-s390x")
        .is_ok_and(|t| t.starts_with("enabled"));
    if !registered && find_program("qemu-s390x-static").is_none() {
        return Err("no binfmt_misc handler qemu-s390x and no qemu-s390x-static".into());
    }
    Ok(p)
}

#[test]
fn an_s390x_cells_crash_states_recover_identically_on_amd64_and_the_reverse() {
    let bin = match s390x_binary() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let fs = if need_loop_fs("ext4").is_ok() {
        "ext4".to_string()
    } else {
        match fs_of(&std::env::temp_dir()) {
            Some(f) => f,
            None => return skip("cannot tell the temp dir's filesystem"),
        }
    };
    let s = Scratch::new();
    let dst = s.binaries().join("s390x");
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(&bin, dst.join("portability-matrix")).unwrap();
    let out = s.run(&[
        "--arch",
        "s390x",
        "--fs",
        &fs,
        "--iterations",
        "10",
        "--seed",
        "21",
    ]);
    let m = s.matrix_json();
    let c = cell(&m, 0);
    assert_eq!(c["status"], "PASS", "{c}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(c["detected_endian"], "big", "{c}");

    let run = PathBuf::from(c["run_dir"].as_str().unwrap());
    let wv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("wal_verify.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/wal_verify.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&wv).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());
    let x = &wv["matrix"]["byte_order_crossing"];
    assert_eq!(x["pass"], true, "{x}");
    let dirs = x["directions"].as_array().unwrap();
    assert_eq!(dirs.len(), 2, "{x}");
    let writers: Vec<&str> = dirs
        .iter()
        .map(|d| d["writer_arch"].as_str().unwrap())
        .collect();
    assert_eq!(writers, ["s390x", "amd64"]);
    for d in dirs {
        assert_eq!(d["identical"], true, "{d}");
        assert!(d["states"].as_u64().unwrap() >= 50, "{d}");
        // Most states open; the block-faulted ones may be refused as damage, identically.
        assert!(d["opened"].as_u64().unwrap() >= 40, "{d}");
        assert_ne!(d["writer_byte_order"], d["reader_byte_order"], "{d}");
    }

    // The comparison runs again from the evidence alone: the host's binary recovers the s390x
    // states and agrees with the s390x binary's report.
    let bo = run.join("byte_order");
    let again = Command::new(BIN)
        .current_dir(&bo)
        .args([
            "recover-states",
            "--dir",
            "written-by-s390x",
            "--against",
            "written-by-s390x.recovered-by-s390x.json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("identical: amd64"), "{text}");

    // A report that says otherwise is a difference, and the command says which state.
    let own = bo.join("written-by-s390x.recovered-by-s390x.json");
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&own).unwrap()).unwrap();
    let first = &mut report["states"][0];
    let name = first["name"].as_str().unwrap().to_string();
    first["outcome"] = serde_json::json!({"refused": {"error": "made up"}});
    let forged = s.tmp().join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&report).unwrap()).unwrap();
    let differs = Command::new(BIN)
        .current_dir(&bo)
        .args(["recover-states", "--dir", "written-by-s390x", "--against"])
        .arg(&forged)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&differs.stdout);
    assert_eq!(differs.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("{name}: amd64 ")), "{text}");
}
