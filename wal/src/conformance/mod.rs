//! The conformance suite: R1-R5, JSON integrity and S1-S12, checked on a real directory.
//!
//! The same checks run under `cargo test` and as step 1 of every matrix cell, so they run on
//! the architecture and filesystem being certified, not only on the developer's machine. Each
//! check works in its own subdirectory of the directory it is given, through the real
//! filesystem; crash windows are reproduced by stopping the writer at a chosen operation
//! ([`crate::trace::Traced`]) or by leaving what an interrupted writer leaves ([`crate::inject`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::Error;
use crate::storage::StdStorage;
use crate::verify::{self, Invariant};
use crate::{read_safe_seq, Paths, Seq, Wal};

/// A check's outcome.
pub type Outcome = Result<(), String>;

/// Asks another process to open the WAL in a directory; `Ok(true)` when that open was refused
/// because of the lock.
pub type LockProbe<'a> = &'a dyn Fn(&Path) -> Result<bool, String>;

/// One check of the suite.
pub struct Check {
    /// The invariant's id ("R1", "S7", "JSON").
    pub id: &'static str,
    /// What it claims.
    pub claim: &'static str,
    run: fn(&Path, Option<LockProbe>) -> Outcome,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The invariant's id.
    pub id: &'static str,
    /// What it claims.
    pub claim: &'static str,
    /// Whether it held.
    pub pass: bool,
    /// "ok", or what went wrong.
    pub msg: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Every check, in order.
pub const CHECKS: &[Check] = &[
    Check {
        id: "R1",
        claim: "the first frame's seq is 1",
        run: structure::r1,
    },
    Check {
        id: "R2",
        claim: "seqs are contiguous in the committed range",
        run: structure::r2,
    },
    Check {
        id: "R3",
        claim: "safe_seq never exceeds the highest seq in the log",
        run: structure::r3,
    },
    Check {
        id: "R4",
        claim: "the frame at safe_seq exists",
        run: structure::r4,
    },
    Check {
        id: "R5",
        claim: "no frame has seq > safe_seq after recovery",
        run: structure::r5,
    },
    Check {
        id: "JSON",
        claim: "every committed payload parses as JSON; non-JSON is refused",
        run: structure::json,
    },
    Check {
        id: "S1",
        claim: "after recovery the on-disk safe_seq equals the committed entries",
        run: protocol::s1,
    },
    Check {
        id: "S2",
        claim: "append returns only after frame and safe_seq are durable",
        run: protocol::s2,
    },
    Check {
        id: "S3",
        claim: "a crash between frame write and safe_seq update leaves one phantom, discarded",
        run: protocol::s3,
    },
    Check {
        id: "S4",
        claim: "a crash during the safe_seq update keeps the old safe_seq and removes the .tmp",
        run: protocol::s4,
    },
    Check {
        id: "S5",
        claim: "a torn tail frame past safe_seq is truncated",
        run: protocol::s5,
    },
    Check {
        id: "S6",
        claim: "a damaged committed frame is reported, never silently dropped",
        run: protocol::s6,
    },
    Check {
        id: "S7",
        claim: "recovery is idempotent and a crash during recovery is safe",
        run: recovery::s7,
    },
    Check {
        id: "S8",
        claim: "after recovery the next seq is safe_seq + 1",
        run: recovery::s8,
    },
    Check {
        id: "S9",
        claim: "read_from(k) yields exactly the committed entries >= k, in order",
        run: recovery::s9,
    },
    Check {
        id: "S10",
        claim: "one writer per directory (the lock)",
        run: recovery::s10,
    },
    Check {
        id: "S11",
        claim: "safe_seq updates are atomic and durable (rename + directory fsync)",
        run: recovery::s11,
    },
    Check {
        id: "S12",
        claim: "payloads round-trip byte for byte",
        run: recovery::s12,
    },
];

/// Runs every check under `dir` (which must exist and be empty enough for subdirectories named
/// after the checks). `probe`, when given, checks the lock from another process too.
pub fn run_all(dir: &Path, probe: Option<LockProbe>) -> Vec<CheckResult> {
    CHECKS.iter().map(|c| run_one(c, dir, probe)).collect()
}

/// Runs one check, by id, under `dir`.
pub fn run_id(id: &str, dir: &Path, probe: Option<LockProbe>) -> Option<CheckResult> {
    CHECKS
        .iter()
        .find(|c| c.id == id)
        .map(|c| run_one(c, dir, probe))
}

fn run_one(c: &Check, dir: &Path, probe: Option<LockProbe>) -> CheckResult {
    let started = Instant::now();
    let sub = dir.join(format!("conformance-{}", c.id));
    let outcome = std::fs::create_dir_all(&sub)
        .map_err(|e| format!("cannot create {}: {e}", sub.display()))
        .and_then(|()| (c.run)(&sub, probe));
    CheckResult {
        id: c.id,
        claim: c.claim,
        pass: outcome.is_ok(),
        msg: outcome.err().unwrap_or_else(|| "ok".into()),
        millis: started.elapsed().as_millis() as u64,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

mod protocol;
mod recovery;
mod structure;

pub(super) fn e<T>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// A deterministic, varied JSON payload for entry `i`.
pub fn payload(i: u64) -> Vec<u8> {
    format!(
        r#"{{"i":{i},"metric":"cpu.load","value":{}.{},"tags":["host-{}","ünï"]}}"#,
        i * 7 % 100,
        i % 10,
        i % 3
    )
    .into_bytes()
}

pub(super) fn fresh(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let d = dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| format!("cannot clear {}: {e}", d.display()))?;
    }
    std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    Ok(d)
}

pub(super) fn write_entries(dir: &Path, n: u64) -> Result<(), String> {
    let mut wal = e(Wal::open(dir))?;
    for i in 1..=n {
        let s = e(wal.append(&payload(i)))?;
        ensure!(s == Seq::new(i), "append {i} returned seq {s}");
    }
    Ok(())
}

/// Appends a phantom frame (written, never committed) with `seq` and the payload of entry `i`.
pub(super) fn phantom(dir: &Path, seq: u64, i: u64) -> Outcome {
    e(crate::inject::phantom_frame(
        &StdStorage,
        dir,
        Seq::new(seq),
        &payload(i),
    ))
    .map(drop)
}

pub(super) fn seqs(wal: &Wal, from: Seq) -> Result<Vec<u64>, String> {
    wal.read_from(from)
        .map(|r| r.map(|en| en.seq.get()).map_err(|e| e.to_string()))
        .collect()
}

pub(super) fn on_disk_safe_seq(dir: &Path) -> Result<u64, String> {
    e(read_safe_seq(&StdStorage, &Paths::new(dir))).map(Seq::get)
}

pub(super) fn holds(dir: &Path, inv: Invariant) -> Outcome {
    let r = e(verify::verify_dir(dir))?;
    let c = &r.invariants[&inv];
    ensure!(c.pass, "{} does not hold: {}", inv.key(), c.msg);
    Ok(())
}
