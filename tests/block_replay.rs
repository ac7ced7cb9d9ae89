//! Block replay for real: an amd64 Debian kernel under qemu-system records the standard
//! workload's block writes on ext4, and every replayed power-loss state is checked in a second
//! boot. Needs qemu-system-x86_64 and the cached kernel (scripts/install-guest.sh amd64); where
//! either is missing the binary says SKIP with the reason and so does this test.

mod common;

use common::{bin, code, read_json, skip, stderr};

/// `block-replay --arch amd64 --fs FS --seed 3` with `extra` arguments, writing its section to
/// `out`: its output and the section, or `None` (said as SKIP) where it cannot run here.
fn amd64_block_replay(
    fs: &str,
    extra: &[&std::ffi::OsStr],
    out: &std::path::Path,
) -> Option<(std::process::Output, serde_json::Value)> {
    if std::env::consts::ARCH != "x86_64" {
        skip("the amd64 guest is run natively only on an x86_64 host");
        return None;
    }
    let o = bin()
        .args(["block-replay", "--arch", "amd64", "--fs", fs, "--seed", "3"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let section = read_json(out);
    if section["status"] == "SKIP" {
        skip(&format!(
            "block replay on {fs} cannot run here: {}",
            section["reason"]
        ));
        return None;
    }
    Some((o, section))
}

#[test]
fn the_real_protocol_survives_every_replayed_power_loss_on_ext4_in_an_amd64_guest() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("block_replay.json");
    let keep = d.path().join("kept");
    let extra = ["--keep".as_ref(), keep.as_os_str()];
    let Some((o, section)) = amd64_block_replay("ext4", &extra, &out) else {
        return;
    };
    assert_eq!(code(&o), 0, "{}\n{section:#}", stderr(&o));
    assert_eq!(section["status"], "PASS");
    assert!(
        section["states_checked"].as_u64().unwrap() > 0,
        "{section:#}"
    );
    assert_eq!(section["violations"], 0);
    assert!(section["flushes"].as_u64().unwrap() > 0);
    assert_eq!(
        section["appends"], 8,
        "the standard workload's appends, all acknowledged"
    );
    assert!(section["kernel"]["package"]
        .as_str()
        .unwrap()
        .starts_with("linux-image-"));
    assert_eq!(section["kernel"]["deb_sha256"].as_str().unwrap().len(), 64);
    // The logs are kept, and any state rebuilds from them for inspection.
    let state = d.path().join("state.img");
    let disk_bytes = section["fs_bytes"].as_u64().unwrap() + (1 << 20);
    let r = bin()
        .arg("replay-state")
        .arg("--pristine")
        .arg(keep.join("pristine.log"))
        .arg("--log")
        .arg(keep.join("record.log"))
        .args([
            "--disk-bytes",
            &disk_bytes.to_string(),
            "--state",
            "5/0",
            "--out",
        ])
        .arg(&state)
        .output()
        .unwrap();
    if code(&r) == 0 {
        assert_eq!(std::fs::metadata(&state).unwrap().len(), disk_bytes);
    } else {
        // Epoch 5 may have no writes: then the state does not exist and says so.
        assert!(stderr(&r).contains("epoch 5 has"), "{}", stderr(&r));
    }
}

#[test]
fn a_damaged_log_is_refused_with_a_sentence_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let junk = d.path().join("junk.log");
    std::fs::write(&junk, vec![0x5a; 4096]).unwrap();
    let o = bin()
        .arg("replay-state")
        .arg("--pristine")
        .arg(&junk)
        .arg("--log")
        .arg(&junk)
        .args(["--disk-bytes", "4096", "--state", "0", "--out"])
        .arg(d.path().join("s.img"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("not a dm-log-writes log"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_real_protocol_survives_every_replayed_power_loss_on_btrfs_with_its_modules_in_the_guest() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("block_replay.json");
    let Some((o, section)) = amd64_block_replay("btrfs", &[], &out) else {
        return;
    };
    // The guest mounted btrfs (btrfs.ko and what its .modinfo says it depends on, from the
    // kernel package) and every state's btrfs was mounted again by that kernel.
    assert_eq!(code(&o), 0, "{}\n{section:#}", stderr(&o));
    assert_eq!(section["status"], "PASS");
    assert_eq!(section["fs"], "btrfs");
    assert_eq!(section["mount_options"], serde_json::json!([]));
    assert_eq!(section["appends"], 8);
    assert!(
        section["states_checked"].as_u64().unwrap() > 0,
        "{section:#}"
    );
}

#[test]
fn mount_options_that_cannot_reach_the_guest_are_refused_before_anything_boots() {
    let o = bin()
        .args(["block-replay", "--fs", "ext4", "--seed", "1"])
        .args(["--mount-options", "noauto_da_alloc pm.mode=check"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("mount options may hold"),
        "{}",
        stderr(&o)
    );
}
