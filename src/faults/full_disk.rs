//! The `full-disk` kind: a real filesystem of the cell's type, really full.
//!
//! A small filesystem of the cell's own type is made on a loop device (`crate::loopfs`, which
//! guarantees the unmount, detach and delete), filled with a preallocated file until only a
//! seeded slack is left, and the real `StdStorage` writer appends until the kernel says ENOSPC
//! (or cuts a write short first). A second writer starts a new log on the disk filled to the
//! last block: the start-up path. Then the filler is deleted, the WALs are reopened with space
//! to spare and checked. Making a filesystem needs root and `mkfs.<fs>`; without them the kind
//! is skipped, with the reason.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::fcntl::{fallocate, FallocateFlags};
use rand::Rng;
use wal::StdStorage;

use super::kind::{replay_line, Kind, KindOutcome};
use super::writer::{judge, write_until_failure, WriterReport};
use crate::crash::seeded;
use crate::host_tools::find_program;
use crate::loopfs::LoopFs;

/// The stream of the slack ("disk").
const SALT: u64 = 0x6469_736b;
/// Entries a writer appends at most: far past any slack drawn.
const MAX_ENTRIES: u64 = 1000;

/// The smallest image each filesystem's mkfs accepts, with room for its journal.
fn image_size(fs: &str) -> u64 {
    match fs {
        "xfs" => 320 << 20,
        "btrfs" => 128 << 20,
        _ => 32 << 20,
    }
}

/// Why this machine cannot make a filesystem of type `fs`, if it cannot.
pub fn cannot(fs: &str) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("making a loop filesystem needs root".into());
    }
    if find_program(&format!("mkfs.{fs}")).is_none() {
        return Some(format!(
            "mkfs.{fs} is not installed: no {fs} filesystem can be made to fill"
        ));
    }
    None
}

pub fn run(seed: u64, fs: &str) -> Result<KindOutcome> {
    let started = Instant::now();
    let mut out = KindOutcome::new(Kind::FullDisk);
    if let Some(why) = cannot(fs) {
        out.skip(why);
        return Ok(out);
    }
    let mkfs = find_program(&format!("mkfs.{fs}")).context("mkfs vanished")?;
    let lfs = LoopFs::create(fs, &mkfs, image_size(fs))?;
    let result = fill_and_check(seed, lfs.mount_point(), &mut out);
    let (_, closed) = lfs.close();
    result?;
    closed?;
    out.millis = started.elapsed().as_millis() as u64;
    Ok(out)
}

fn fill_and_check(seed: u64, mnt: &Path, out: &mut KindOutcome) -> Result<()> {
    let slack = seeded::stream(seed, SALT, 0).random_range(16 * 1024..96 * 1024);
    let appends = mnt.join("appends");
    let startup = mnt.join("startup");
    for d in [&appends, &startup] {
        std::fs::create_dir(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let filler = mnt.join("filler");
    let filler2 = mnt.join("filler-2");
    // Made while there is room: xfs has no inode to give once the disk is full.
    for f in [&filler, &filler2] {
        std::fs::File::create(f).with_context(|| format!("cannot create {}", f.display()))?;
    }
    // The appending writer's log, lock and first entry exist before the disk fills, as on a
    // server whose disk fills while it runs.
    let first = write_until_failure(StdStorage, &appends, seed, 1, &mut |_| {});
    anyhow::ensure!(
        first.acked == 1,
        "the first append on an empty filesystem failed: {}",
        first.describe()
    );
    fill(&filler, mnt, slack)?;
    let mut runs: Vec<(&Path, WriterReport)> = Vec::new();
    runs.push((
        &appends,
        write_until_failure(StdStorage, &appends, seed, MAX_ENTRIES, &mut |_| {}),
    ));
    // The last blocks too: the next writer starts its log on a disk with no room at all.
    fill(&filler2, mnt, 0)?;
    runs.push((
        &startup,
        write_until_failure(StdStorage, &startup, seed, MAX_ENTRIES, &mut |_| {}),
    ));
    for f in [filler, filler2] {
        std::fs::remove_file(&f).with_context(|| format!("cannot remove {}", f.display()))?;
    }
    let replay = replay_line(Kind::FullDisk, seed);
    let (mut startup_faults, mut poisoned) = (0, 0);
    for (dir, report) in &runs {
        out.runs += 1;
        out.injected += u64::from(report.met_fault());
        startup_faults += u64::from(report.open_failed.is_some() || report.acked == 0);
        poisoned += u64::from(report.poisoned == Some(true));
        for mut v in judge(report, &StdStorage, dir, seed, &replay) {
            v.msg = format!(
                "{} (slack {slack} bytes): {}",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                v.msg
            );
            out.violations.push(v);
        }
    }
    let said: Vec<String> = runs
        .iter()
        .map(|(d, r)| {
            let name = d.file_name().unwrap_or_default().to_string_lossy();
            format!("{name}: {}", r.describe())
        })
        .collect();
    out.wal = format!(
        "{} of {} writers on a full filesystem met ENOSPC or a short write ({startup_faults} \
         before their first acknowledgement; {}); every failed append was refused, {poisoned} \
         writers were poisoned; after space was freed recovery {}",
        out.injected,
        out.runs,
        said.join("; "),
        if out.violations.is_empty() {
            "kept every acknowledged entry"
        } else {
            "broke a promise (see violations)"
        }
    );
    Ok(())
}

/// Preallocates `path` until the filesystem holding `mnt` refuses another block, then gives
/// `slack` bytes back. (What statfs calls free is not what a writer gets: ext4 keeps clusters
/// back for its metadata, so the slack is measured from the real end.)
fn fill(path: &Path, mnt: &Path, slack: u64) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let st = nix::sys::statvfs::statvfs(mnt).context("statvfs")?;
    let mut want = (st.blocks_free() * st.fragment_size()).max(4096);
    let mut off: u64 = 0;
    for _ in 0..256 {
        match fallocate(&f, FallocateFlags::empty(), off as i64, want as i64) {
            Ok(()) => off += want,
            Err(nix::errno::Errno::ENOSPC) if want > 4096 => want /= 2,
            Err(nix::errno::Errno::ENOSPC) => break,
            Err(e) => return Err(e).with_context(|| format!("cannot fill {}", path.display())),
        }
    }
    if slack > 0 {
        f.set_len(off.saturating_sub(slack))
            .with_context(|| format!("cannot shorten {}", path.display()))?;
    }
    f.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))
}
