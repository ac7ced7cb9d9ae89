//! The second boot: every replayed state, built, mounted by the guest's own kernel (so the real
//! filesystem runs its journal recovery), recovered by the WAL, and checked.
//!
//! Why in one boot: a boot costs seconds under emulation and a state a fraction of one. Each
//! state is built as a sparse file in the guest's tmpfs (the pristine image's non-zero blocks,
//! then the state's writes) and mounted through a loop device; it is thrown away after its
//! check, so whatever the mount and recovery wrote never leaks into the next state. The disks
//! are the recorded log (`/dev/vda`) and the pristine image as a log (`/dev/vdb`), both
//! read-only. States the plan names twice by content are checked once.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::mount::{mount, umount, MsFlags};

use super::console::{GuestParams, Line};
use super::guest_env::{say, wait_for, MNT, WAL_DIR};
use super::logwrites::{Entry, Log};
use super::marks;
use super::replay::{self, Epochs};
use crate::crash::check::{check_state, from_map, Expect};
use crate::crash::workload::{planned_appends, Appends, Workload};

const STATE_IMG: &str = "/tmp/state.img";
const LOOP: &str = "/dev/loop0";

pub fn check(p: &GuestParams) -> Result<()> {
    wait_for("/dev/vdb")?;
    let record = File::open("/dev/vda").context("opening the recorded log")?;
    let pristine = File::open("/dev/vdb").context("opening the pristine image's log")?;
    let rlog = Log::parse(&record).context("the recorded log")?;
    let plog = Log::parse(&pristine).context("the pristine image's log")?;
    let ep = Epochs::of(&rlog);
    let plan = replay::plan(&rlog, &ep, p.seed, p.bound, p.tears);
    let appends = planned_appends(Workload::Standard, p.seed)?;
    // A defect may live in recovery (no-checksum): the states are recovered under it too.
    let _protocol = p.protocol.enable()?;
    say(Line::new("plan")
        .with("entries", rlog.entries.len())
        .with("flushes", rlog.flushes())
        .with("states", plan.states.len())
        .with("exhaustive", u8::from(plan.exhaustive)));
    let pristine_writes: Vec<&Entry> = plog.entries.iter().filter(|e| e.changes_disk()).collect();
    let mut pristine_data = Vec::with_capacity(pristine_writes.len());
    for e in &pristine_writes {
        pristine_data.push((plog.disk_offset(e), plog.data(&pristine, e)?));
    }
    let started = Instant::now();
    let mut seen = HashSet::new();
    let (mut checked, mut violations) = (0u64, 0u64);
    for (n, spec) in plan.states.iter().enumerate() {
        let entries = replay::entries_of(&rlog, &ep, spec)?;
        let line = Line::new("state").with("n", n).with("spec", spec);
        if !seen.insert(replay::content_key(&rlog, &entries)) {
            say(line.with("verdict", "dup"));
            continue;
        }
        checked += 1;
        let img = build(p, &pristine_data, &rlog, &record, &entries)?;
        let known = marks::read(&img, p.fs_bytes);
        drop(img);
        let verdict = match known {
            Ok(k) => check_one(p, &appends, k, n as u64),
            Err(e) => Err(("marks", format!("{e:#}"))),
        };
        std::fs::remove_file(STATE_IMG)?;
        match verdict {
            Ok(recovered) => say(line.with("verdict", "pass").with("recovered", recovered)),
            Err((check, msg)) => {
                violations += 1;
                say(line
                    .with("verdict", "fail")
                    .with("check", check)
                    .with("msg", msg));
            }
        }
    }
    say(Line::new("checked")
        .with("states", plan.states.len())
        .with("checked", checked)
        .with("violations", violations)
        .with("secs", format!("{:.2}", started.elapsed().as_secs_f64())));
    Ok(())
}

/// The state's image in tmpfs: the pristine blocks, then the state's writes.
fn build(
    p: &GuestParams,
    pristine: &[(u64, Vec<u8>)],
    rlog: &Log,
    record: &File,
    entries: &[Entry],
) -> Result<File> {
    use std::os::unix::fs::FileExt;
    let img = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(STATE_IMG)?;
    img.set_len(p.disk_bytes)?;
    for (at, data) in pristine {
        img.write_all_at(data, *at)?;
    }
    replay::apply(rlog, record, entries, &img)?;
    Ok(img)
}

type Verdict = std::result::Result<u64, (&'static str, String)>;

/// Mounts the state, runs WAL recovery and the checks, unmounts; the number of entries kept.
fn check_one(p: &GuestParams, appends: &Appends, k: marks::Known, probe: u64) -> Verdict {
    let bb = |args: &[&str]| -> std::result::Result<(), (&'static str, String)> {
        let out = Command::new("/bin/busybox")
            .args(args)
            .output()
            .map_err(|e| ("setup", format!("busybox {args:?}: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err((
                "setup",
                format!(
                    "busybox {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ))
        }
    };
    bb(&["losetup", LOOP, STATE_IMG])?;
    let mounted = mount(
        Some(LOOP),
        MNT,
        Some(p.fs.as_str()),
        MsFlags::empty(),
        p.mount_data(),
    );
    let verdict = match mounted {
        Err(e) => Err((
            "mount",
            format!("the {} filesystem of this state does not mount: {e}", p.fs),
        )),
        Ok(()) => {
            let v = check_wal(appends, k, probe);
            if let Err(e) = umount(MNT) {
                let _ = bb(&["losetup", "-d", LOOP]);
                return Err(("setup", format!("unmounting the state: {e}")));
            }
            v
        }
    };
    bb(&["losetup", "-d", LOOP])?;
    verdict
}

/// The WAL on the mounted state against what its marks say was issued and acknowledged.
fn check_wal(appends: &Appends, k: marks::Known, probe: u64) -> Verdict {
    let mut latest: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    if let Some(o) = k.issued {
        for a in appends.iter().take(o as usize + 1) {
            for (s, payload) in a {
                latest.insert(*s, payload.clone());
            }
        }
    }
    let issued = latest.keys().next_back().copied().unwrap_or(0);
    let dir = Path::new(WAL_DIR);
    if !dir.exists() {
        if k.acked > 0 {
            return Err((
                "oracle",
                format!(
                    "the WAL directory is gone but {} entries had been acknowledged",
                    k.acked
                ),
            ));
        }
        std::fs::create_dir(dir).map_err(|e| ("setup", e.to_string()))?;
    }
    let appended = from_map(&latest);
    let exp = Expect {
        acked: k.acked,
        issued,
        appended: &appended,
    };
    let c = check_state(&wal::storage::StdStorage, dir, &exp, Some(probe));
    match c.finding {
        Some(f) => Err((f.check, f.msg)),
        None => Ok(c.recovered),
    }
}
