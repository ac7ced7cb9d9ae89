//! The `block-io-errors` kind: a real kernel's disk returns EIO, under a real filesystem.
//!
//! Where block replay's guest can run (qemu-system and the cached kernel of the cell's
//! architecture, an ext4 or xfs cell), a guest boots with three disks, each a fresh filesystem
//! of the cell's type behind QEMU's `blkdebug` driver, which fails one request once: the next
//! data write, the next flush, or the next read after the guest arms it
//! ([`crate::block_replay::qemu::IoError`]; the guest's side is [`super::block_io_guest`]).
//! What the WAL must do: an append whose write or sync failed is not acknowledged and poisons
//! the writer (a retried fsync that succeeds proves nothing); a recovery whose read failed
//! reports the error and never opens a shortened log. A second boot, without the fault, reopens
//! each WAL: every acknowledged entry with its bytes, R1-R5 and S1. Two boots in all, whatever
//! the number of cases. Elsewhere, or with block replay turned off, the kind is skipped with
//! the reason.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::block_io_guest::{expect_words, ACKED_BEFORE, CASES};
use super::kind::{replay_line, Kind, KindOutcome};
use super::writer::WriterReport;
use crate::block_replay::console::{GuestParams, Line, Mode};
use crate::block_replay::guest_image::{on_path, Guest};
use crate::block_replay::host::{fs_bytes, make_fs};
use crate::block_replay::marks::REGION_BYTES;
use crate::block_replay::qemu::{self, Boot, Disk, IoError};
use crate::crash::workload::Protocol;
use crate::evidence::record::FaultViolation;

const BOOT_LIMIT: Duration = Duration::from_secs(300);

/// Why the kind cannot run here, if it cannot: the sentence of its SKIP.
fn cannot(fs: &str, enabled: bool) -> Result<Guest> {
    if !enabled {
        bail!("not requested (--block-replay off or PM_BLOCK_REPLAY=off)");
    }
    if !matches!(fs, "ext4" | "xfs") {
        bail!("block-io-errors knows ext4 and xfs only, not {fs}");
    }
    if !on_path(&format!("mkfs.{fs}")) {
        bail!("mkfs.{fs} is not installed");
    }
    Guest::prepare(crate::platform::arch(), None)
}

/// Runs the kind in a guest of this machine's architecture, on filesystems of type `fs`, in a
/// temporary directory under `root`. `enabled` is false when block replay is turned off.
pub fn run(seed: u64, root: &Path, fs: &str, enabled: bool) -> Result<KindOutcome> {
    let started = Instant::now();
    let mut out = KindOutcome::new(Kind::BlockIoErrors);
    let guest = match cannot(fs, enabled) {
        Ok(g) => g,
        Err(why) => {
            out.skip(format!("{why:#}"));
            return Ok(out);
        }
    };
    let work = tempfile::Builder::new()
        .prefix("block-io-")
        .tempdir_in(root)
        .with_context(|| format!("cannot make a directory in {}", root.display()))?;
    let result = boots(seed, fs, &guest, work.path(), &mut out);
    if result.is_err() || !out.violations.is_empty() {
        // The consoles say what the guest saw.
        let kept = work.keep();
        out.wal.push_str(&format!(
            " (the guest's consoles are kept in {})",
            kept.display()
        ));
    }
    result?;
    out.millis = started.elapsed().as_millis() as u64;
    Ok(out)
}

fn boots(seed: u64, fs: &str, guest: &Guest, dir: &Path, out: &mut KindOutcome) -> Result<()> {
    let fs_size = fs_bytes(fs);
    let disk_bytes = fs_size + REGION_BYTES;
    let images: Vec<PathBuf> = CASES
        .iter()
        .map(|(_, name)| dir.join(format!("{name}.img")))
        .collect();
    let fresh = || -> Result<()> {
        for img in &images {
            let _ = std::fs::remove_file(img);
            make_fs(fs, img, fs_size)?;
            std::fs::File::options()
                .write(true)
                .open(img)?
                .set_len(disk_bytes)?;
        }
        Ok(())
    };
    let initrd = dir.join("initrd.cpio");
    guest.write_initrd(&initrd, fs)?;
    let params = |mode, expect: String| GuestParams {
        mode,
        fs: fs.to_string(),
        seed,
        protocol: Protocol::Real,
        fs_bytes: fs_size,
        disk_bytes,
        bound: 0,
        tears: 0,
        expect,
        // The guest's side chooses its own (`noinit_itable` on ext4).
        mount_options: String::new(),
    };
    let boot = |mode, expect, disks| Boot {
        arch: &guest.arch,
        kernel: &guest.kernel.vmlinuz,
        initrd: &initrd,
        append: params(mode, expect).to_cmdline(),
        disks,
        memory_mib: 512,
    };

    // Boot 1: each disk meets its error.
    let failing = images
        .iter()
        .zip(CASES)
        .map(|(image, (error, _))| Disk::Failing { image, error })
        .collect();
    let console = dir.join("console-faults.txt");
    let (first, accel, _) = qemu::run_any(
        &boot(Mode::IoFaults, String::new(), failing),
        BOOT_LIMIT,
        &console,
        true,
        fresh,
    )?;
    finished(&first.lines, &console)?;
    let replay = replay_line(Kind::BlockIoErrors, seed);
    let (reports, said) = read_fault_boot(&first.lines, seed, &replay, out)?;

    // Boot 2: no fault; each WAL reopened and checked.
    let refs: Vec<(&str, &WriterReport)> = reports.iter().map(|(n, r)| (*n, r)).collect();
    let plain = images.iter().map(|i| Disk::Plain(i)).collect();
    let console = dir.join("console-check.txt");
    let b = boot(Mode::IoCheck, expect_words(&refs), plain);
    let second = qemu::run_again(&b, accel, BOOT_LIMIT, &console).context("the check boot")?;
    finished(&second.lines, &console)?;
    read_check_boot(&second.lines, &console, seed, &replay, out)?;
    out.wal = format!(
        "{} of {} disks failed a request with EIO in the {} guest under {} ({}); {}, and after a boot \
         without the fault recovery {}",
        out.injected,
        out.runs,
        guest.arch,
        accel.name(),
        said.join("; "),
        if reports
            .iter()
            .all(|(_, r)| r.failed.is_none() || r.poisoned == Some(true))
        {
            "no failed append was acknowledged and every writer that met the error was poisoned"
        } else {
            "a writer went on after the error (see violations)"
        },
        out.recovery_verdict()
    );
    Ok(())
}

/// A case's name and what its writer did.
type CaseReport = (&'static str, WriterReport);

/// Boot 1's report of each case: what its writer did (the reports, and a phrase each), its
/// broken promises counted in `out`.
fn read_fault_boot(
    lines: &[Line],
    seed: u64,
    replay: &str,
    out: &mut KindOutcome,
) -> Result<(Vec<CaseReport>, Vec<String>)> {
    let mut reports = Vec::new();
    let mut said = Vec::new();
    for (error, name) in CASES {
        out.runs += 1;
        let line = lines
            .iter()
            .find(|l| l.kind == "iofault" && l.get("case") == Some(name))
            .with_context(|| format!("the guest reported nothing of the {name} case"))?;
        let (report, sentence, violation) = read_case(error, line);
        out.injected += u64::from(report.met_fault());
        said.push(format!("{name}: {sentence}"));
        if let Some((check, msg)) = violation {
            out.violations.push(FaultViolation {
                check: check.into(),
                msg: format!("{name} case: {msg}"),
                seed,
                replay: replay.to_string(),
            });
        }
        reports.push((name, report));
    }
    Ok((reports, said))
}

/// Boot 2's report: every case reopened, and what recovery broke counted in `out`.
fn read_check_boot(
    lines: &[Line],
    console: &Path,
    seed: u64,
    replay: &str,
    out: &mut KindOutcome,
) -> Result<()> {
    for (_, name) in CASES {
        anyhow::ensure!(
            lines
                .iter()
                .any(|l| l.kind == "iocheck" && l.get("case") == Some(name)),
            "the check boot reported nothing of the {name} case; its console is in {}",
            console.display()
        );
    }
    for l in lines.iter().filter(|l| l.kind == "iocheck-violation") {
        out.violations.push(FaultViolation {
            check: l.get("check").unwrap_or("?").into(),
            msg: format!(
                "{} case, reopened without the fault: {}",
                l.get("case").unwrap_or("?"),
                l.get("msg").unwrap_or("")
            ),
            seed,
            replay: replay.to_string(),
        });
    }
    Ok(())
}

/// One case's console line as a writer report, a phrase, and the promise it broke if any.
fn read_case(error: IoError, l: &Line) -> (WriterReport, String, Option<(&'static str, String)>) {
    let msg = l.get("msg").unwrap_or("").to_string();
    let mut r = WriterReport {
        acked: l.num("acked").unwrap_or(ACKED_BEFORE),
        ..WriterReport::default()
    };
    if error == IoError::Read {
        r.acked = ACKED_BEFORE;
        return match (l.get("open"), l.num("entries")) {
            (Some("failed"), _) => {
                r.open_failed = Some(msg.clone());
                (r, format!("recovery reported the read error: {msg}"), None)
            }
            (_, Some(n)) if n < ACKED_BEFORE => (
                r,
                format!("recovery opened the log with {n} entries"),
                Some((
                    "truncation",
                    format!(
                        "recovery met a read error and opened the log with {n} of \
                         {ACKED_BEFORE} acknowledged entries instead of reporting it"
                    ),
                )),
            ),
            _ => (
                r,
                "recovery opened the log whole: the read error struck outside it".into(),
                None,
            ),
        };
    }
    let what = match error {
        IoError::Write => "data write",
        _ => "cache flush",
    };
    match l.num("failed").filter(|s| *s > 0) {
        Some(seq) => {
            r.failed = Some((seq, msg.clone()));
            let poisoned = l.get("poisoned") == Some("yes");
            r.poisoned = Some(poisoned);
            let sentence = format!(
                "{} acknowledged, then append {seq} failed: {msg}; {}",
                r.acked,
                if poisoned {
                    "the next append was refused"
                } else {
                    "the next append was accepted"
                }
            );
            let broke = (!poisoned).then(|| {
                (
                    "poisoned",
                    format!("append {seq} failed ({msg}), yet the writer accepted the next append"),
                )
            });
            (r, sentence, broke)
        }
        None => (
            r.clone(),
            format!("append {} was acknowledged", r.acked),
            Some((
                "acknowledged",
                format!(
                    "the disk failed the first {what} after the set-up with EIO, yet append {} \
                     was acknowledged",
                    r.acked
                ),
            )),
        ),
    }
}

fn finished(lines: &[Line], console: &Path) -> Result<()> {
    match lines.iter().rev().find(|l| l.kind == "end") {
        Some(l) if l.get("ok") == Some("1") => Ok(()),
        Some(l) => bail!(
            "the guest failed: {}; its console is in {}",
            l.get("msg").unwrap_or("no reason given"),
            console.display()
        ),
        None => bail!(
            "the guest ended without a verdict; its console is in {}",
            console.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_error_that_poisoned_the_writer_breaks_no_promise() {
        let l = Line::new("iofault")
            .with("case", "write")
            .with("acked", 3)
            .with("failed", 4)
            .with("poisoned", "yes")
            .with("msg", "I/O error: Input/output error (os error 5)");
        let (r, s, v) = read_case(IoError::Write, &l);
        assert_eq!((r.acked, r.issued(), r.poisoned), (3, 4, Some(true)));
        assert!(s.contains("append 4 failed"), "{s}");
        assert!(v.is_none());
    }

    #[test]
    fn an_acknowledgement_after_a_failed_flush_and_a_shortened_recovery_are_violations() {
        let l = Line::new("iofault")
            .with("case", "flush")
            .with("acked", 4)
            .with("failed", 0);
        assert_eq!(read_case(IoError::Flush, &l).2.unwrap().0, "acknowledged");
        let l = Line::new("iofault")
            .with("case", "read")
            .with("open", "ok")
            .with("entries", 1);
        assert_eq!(read_case(IoError::Read, &l).2.unwrap().0, "truncation");
        let l = Line::new("iofault")
            .with("case", "read")
            .with("open", "failed")
            .with("msg", "EIO");
        let (r, _, v) = read_case(IoError::Read, &l);
        assert!(v.is_none() && r.met_fault());
    }
}
