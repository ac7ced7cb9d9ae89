//! Faults: what a running writer meets that is not a crash, and what the WAL promises under it.
//!
//! Step 2 stops the writer (kill -9, power loss); here the writer keeps running and a call
//! fails: a write comes back short, the disk is full, an fsync reports EIO. An append that failed
//! must not be acknowledged, the writer must refuse to go on (after a failed fsync the kernel
//! may have dropped the dirty pages, so a retried fsync that succeeds proves nothing: PostgreSQL's
//! 2018 "fsyncgate"), and reopening without the fault must give back every acknowledged entry.
//! Each kind brings the fault from somewhere else: `seam` from a wrapped storage in memory,
//! `file-size-limit` from the real kernel's file-size limit, `full-disk` from a real filesystem
//! of the cell's type filled up, `block-io-errors` from a real kernel's disk that returns EIO
//! (QEMU's `blkdebug` under a guest of block replay). `writer` is the writer and the judgement all three share, `kind` what each kind reports.
//! docs/crash-model.md ("Faults") argues why each is realistic. Like `crash`, this module stands
//! on its own: it imports the crash checks, the shared loop filesystem and the evidence types.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::crash::narrate::Narrator;
use crate::evidence::record::{FaultViolation, FaultsSection};

pub mod block_io;
pub mod block_io_guest;
pub mod fsize;
pub mod full_disk;
mod kind;
pub mod seam;
pub mod writer;

pub use kind::{replay_line, Kind, KindOutcome};

/// Runs the chosen kinds (all when `only` is `None`) in `root`, on a filesystem of type `fs` for
/// the full disk and the guest's disks. `spawn` starts this binary again (the file-size-limit
/// writer is its hidden `fault-writer`). `guest`: whether a kind may boot a guest (false when
/// block replay is turned off; that kind is then skipped). A kind that cannot run at all is
/// recorded as failed, with why.
pub fn run_faults(
    seed: u64,
    only: Option<Kind>,
    root: &Path,
    fs: &str,
    guest: bool,
    spawn: &dyn Fn() -> Result<Command, String>,
    log: &mut dyn Narrator,
) -> FaultsSection {
    let mut kinds = Vec::new();
    for kind in Kind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k))
    {
        let outcome = match kind {
            Kind::Seam => Ok(seam::run(seed)),
            Kind::FileSizeLimit => fsize::run(seed, root, spawn),
            Kind::FullDisk => full_disk::run(seed, fs),
            Kind::BlockIoErrors => block_io::run(seed, root, fs, guest),
        };
        let record = match outcome {
            Ok(o) => o.record(),
            Err(e) => {
                let mut o = KindOutcome::new(kind);
                o.wal = "could not run".into();
                o.violations.push(FaultViolation {
                    check: "writer".into(),
                    msg: format!("{e:#}"),
                    seed,
                    replay: replay_line(kind, seed),
                });
                o.record()
            }
        };
        log.line(&format!(
            "fault {}: {}{} ({} runs, {} injected, {} violations) [{} ms]",
            record.kind,
            record.status,
            record
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            record.runs,
            record.injected,
            record.violations.len(),
            record.millis
        ));
        if record.status != "SKIP" {
            log.line(&format!("  {}", record.wal));
        }
        for v in &record.violations {
            log.line(&format!("  violation ({}): {}", v.check, v.msg));
            log.line(&format!("  replay: {}", v.replay));
        }
        kinds.push(record);
    }
    FaultsSection {
        enabled: true,
        reason: None,
        pass: kinds.iter().all(|k| k.status != "FAIL"),
        seed,
        kinds,
    }
}
