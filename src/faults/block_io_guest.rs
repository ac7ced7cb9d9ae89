//! The guest's side of `block-io-errors`: this binary as `/init`, meeting an EIO from the disk.
//!
//! Why in a guest: the other kinds fail a call above the kernel or fill a real filesystem, but
//! an I/O error from the device itself goes through the filesystem's own error handling (a
//! failed writeback, an aborted journal) before the WAL sees it, and only a real kernel on a
//! disk that fails shows what reaches `fsync`. The host ([`super::block_io`]) attaches one disk
//! per case behind QEMU's `blkdebug`, armed only after the set-up so that the mount and the
//! first appends never meet the error ([`crate::block_replay::qemu::IoError`]). Each case
//! appends [`ACKED_BEFORE`] entries, syncs, arms the disk with a write-zeroes request past the
//! filesystem, and then meets the one EIO: in the next append's data write, in its flush, or in
//! recovery's first read after a fresh mount. A second boot without the fault reopens each WAL
//! and runs the checks every fault kind shares ([`super::writer::judge`]).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{fallocate, FallocateFlags};
use nix::mount::{mount, umount, MsFlags};
use wal::{Seq, StdStorage, Wal};

use super::writer::{judge, WriterReport};
use crate::block_replay::console::{GuestParams, Line};
use crate::block_replay::guest_env::{say, wait_for};
use crate::block_replay::qemu::IoError;
use crate::crash::kill::writer_payload;

/// The cases, in the order of the guest's disks (`/dev/vda`, `vdb`, `vdc`).
pub const CASES: [(IoError, &str); 3] = [
    (IoError::Write, "write"),
    (IoError::Flush, "flush"),
    (IoError::Read, "read"),
];

/// Entries acknowledged before the disk is armed.
pub const ACKED_BEFORE: u64 = 3;

fn device(i: usize) -> String {
    format!("/dev/vd{}", char::from(b'a' + i as u8))
}

fn mount_point(case: &str) -> PathBuf {
    Path::new("/mnt").join(case)
}

/// Mounts `dev` at `at`; ext4 with `noinit_itable`, so that its lazy inode-table zeroing never
/// sends the write-zeroes request that arms the error.
fn mount_fs(dev: &str, at: &Path, fs: &str) -> Result<()> {
    std::fs::create_dir_all(at)?;
    let data = (fs == "ext4").then_some("noinit_itable");
    mount(Some(dev), at, Some(fs), MsFlags::empty(), data)
        .with_context(|| format!("mounting {dev} ({fs}) on {}", at.display()))
}

/// Arms the disk's error: one write-zeroes request past the filesystem.
fn arm(dev: &str, fs_bytes: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {dev} to arm its error"))?;
    fallocate(
        &f,
        FallocateFlags::FALLOC_FL_ZERO_RANGE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        fs_bytes as i64,
        4096,
    )
    .with_context(|| format!("zeroing past the filesystem on {dev} (the arming request)"))
}

/// The first boot: each case on its disk, one console line each.
pub fn inject(p: &GuestParams) -> Result<()> {
    for (i, (error, name)) in CASES.iter().enumerate() {
        let dev = device(i);
        wait_for(&dev)?;
        let line = run_case(p, &dev, *error, name).with_context(|| format!("the {name} case"))?;
        say(line);
    }
    Ok(())
}

fn run_case(p: &GuestParams, dev: &str, error: IoError, name: &str) -> Result<Line> {
    let at = mount_point(name);
    mount_fs(dev, &at, &p.fs)?;
    let dir = at.join("wal");
    std::fs::create_dir(&dir)?;
    std::fs::File::open(&at)?.sync_all()?;
    let mut wal = Wal::open_with(StdStorage, &dir).context("the set-up's open")?;
    for seq in 1..=ACKED_BEFORE {
        wal.append(&writer_payload(p.seed, seq))
            .with_context(|| format!("the set-up's append {seq}"))?;
    }
    let line = Line::new("iofault").with("case", name);
    let line = if error == IoError::Read {
        drop(wal);
        // A fresh mount: nothing of the log is cached, so recovery reads it from the disk. The
        // directory, the inodes and safe_seq are read before arming, so that the reads that
        // fail are recovery's reads of the log itself.
        umount(&at).context("unmounting after the set-up")?;
        mount_fs(dev, &at, &p.fs)?;
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            if e.file_name() != "wal.log" && e.metadata()?.is_file() {
                std::fs::read(e.path())?;
            }
        }
        nix::unistd::sync();
        arm(dev, p.fs_bytes)?;
        match Wal::open_with(StdStorage, &dir) {
            Err(e) => line.with("open", "failed").with("msg", e),
            Ok(w) => {
                let entries = w.read_from(Seq::ZERO).filter(|e| e.is_ok()).count();
                line.with("open", "ok").with("entries", entries)
            }
        }
    } else {
        nix::unistd::sync();
        arm(dev, p.fs_bytes)?;
        let seq = ACKED_BEFORE + 1;
        let line = match wal.append(&writer_payload(p.seed, seq)) {
            Ok(_) => line.with("acked", seq).with("failed", 0),
            Err(e) => {
                let again = wal.append(&writer_payload(p.seed, seq + 1));
                let poisoned = matches!(again, Err(wal::Error::Poisoned(_)));
                line.with("acked", ACKED_BEFORE)
                    .with("failed", seq)
                    .with("poisoned", if poisoned { "yes" } else { "no" })
                    .with("msg", e)
            }
        };
        drop(wal);
        line
    };
    // A filesystem whose journal the error aborted still unmounts; what it could not write is
    // what the second boot finds.
    let _ = umount(&at);
    Ok(line)
}

/// What the second boot is told of each case: `case:acked:issued`, comma-separated.
pub fn expect_words(reports: &[(&str, &WriterReport)]) -> String {
    reports
        .iter()
        .map(|(c, r)| format!("{c}:{}:{}", r.acked, r.issued()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The second boot: each disk mounted without the fault, its WAL reopened and checked.
pub fn check(p: &GuestParams) -> Result<()> {
    for (i, (_, name)) in CASES.iter().enumerate() {
        let Some((acked, issued)) = p.expect.split(',').find_map(|w| {
            let mut it = w.split(':');
            (it.next()? == *name).then_some(())?;
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        }) else {
            continue;
        };
        let dev = device(i);
        wait_for(&dev)?;
        let at = mount_point(name);
        mount_fs(&dev, &at, &p.fs)?;
        let report = WriterReport {
            acked,
            failed: (issued > acked).then(|| (issued, String::new())),
            poisoned: Some(true),
            ..WriterReport::default()
        };
        let found = judge(&report, &StdStorage, &at.join("wal"), p.seed, "");
        say(Line::new("iocheck")
            .with("case", name)
            .with("violations", found.len()));
        for v in found {
            say(Line::new("iocheck-violation")
                .with("case", name)
                .with("check", v.check)
                .with("msg", v.msg));
        }
        umount(&at).with_context(|| format!("unmounting {}", at.display()))?;
    }
    Ok(())
}
