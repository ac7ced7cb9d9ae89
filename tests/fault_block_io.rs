//! The `block-io-errors` fault kind for real: an amd64 guest whose disks fail a data write, a
//! flush and reads with EIO (QEMU's blkdebug), under ext4, and a second boot that reopens each
//! WAL. Needs qemu-system-x86_64 and the cached kernel (scripts/install-guest.sh amd64); where
//! the guest cannot run, the kind says SKIP with the reason and so does this test. With block
//! replay turned off, as every other test's cells run, the kind is skipped and boots nothing.

mod common;

use common::{bin, code, read_json, skip, stderr};

fn block_io(
    dir: &std::path::Path,
    block_replay: &str,
) -> (std::process::Output, serde_json::Value) {
    let out = dir.join("faults.json");
    let o = bin()
        .env("PM_BLOCK_REPLAY", block_replay)
        .args([
            "fault-harness",
            "--kind",
            "block-io-errors",
            "--seed",
            "5",
            "--dir",
        ])
        .arg(dir.join("faults"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let section = read_json(&out);
    let kind = section["kinds"][0].clone();
    assert_eq!(kind["kind"], "block-io-errors", "{section:#}");
    (o, kind)
}

#[test]
fn an_amd64_guest_meets_eio_on_a_write_a_flush_and_recovery_reads_and_loses_no_acknowledged_entry()
{
    if std::env::consts::ARCH != "x86_64" {
        skip("the amd64 guest is run natively only on an x86_64 host");
        return;
    }
    // A directory on a real filesystem: the guest's disks are made of the type holding it.
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (o, kind) = block_io(d.path(), "auto");
    if kind["status"] == "SKIP" {
        skip(&format!(
            "the block-io-errors guest cannot run here: {}",
            kind["reason"]
        ));
        return;
    }
    assert_eq!(code(&o), 0, "{}\n{kind:#}", stderr(&o));
    assert_eq!(kind["status"], "PASS", "{kind:#}");
    assert_eq!(kind["runs"], 3);
    assert_eq!(kind["injected"], 3, "every case met its EIO: {kind:#}");
    assert_eq!(kind["violations"].as_array().unwrap().len(), 0);
    let wal = kind["wal"].as_str().unwrap();
    for said in [
        "write: 3 acknowledged, then append 4 failed",
        "flush: 3 acknowledged, then append 4 failed",
        "read: recovery reported the read error",
        "Input/output error",
        "kept every acknowledged entry",
    ] {
        assert!(wal.contains(said), "{said:?} not in {wal}");
    }
}

#[test]
fn with_block_replay_off_the_kind_is_skipped_and_boots_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (o, kind) = block_io(d.path(), "off");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(kind["status"], "SKIP");
    assert_eq!(kind["runs"], 0);
    assert!(
        kind["reason"]
            .as_str()
            .unwrap()
            .contains("PM_BLOCK_REPLAY=off"),
        "{kind:#}"
    );
}
