//! The conformance suite: R1-R5, JSON integrity and S1-S12, checked through the storage seam.
//!
//! The same checks run under `cargo test` and as step 1 of every matrix cell, so they run on
//! the architecture and filesystem being certified, not only on the developer's machine. Each
//! check works in its own subdirectory of the directory it is given; crash windows are
//! reproduced by stopping the writer at a chosen effect ([`crate::record::Recorder`]) or by
//! leaving what an interrupted writer leaves ([`crate::inject`]).
//!
//! Every check is generic over the storage: [`run_all`] runs the suite on the real filesystem
//! (what a cell certifies), [`run_all_in_memory`] on [`MemStorage`], so the suite also pins down
//! the in-memory filesystem the crash explorer relies on. A check whose claim is about the real
//! filesystem itself (S11: a concurrent reader never sees a partial safe_seq through an atomic
//! rename) runs on the real filesystem only; S10's cross-process half needs another process and
//! so runs only where a lock probe is given, which is the real filesystem.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::mem::MemStorage;
use crate::storage::StdStorage;

#[macro_use]
mod support;
mod damage;
mod protocol;
mod recovery;
mod structure;

pub use support::{payload, LockProbe, Outcome};
use support::{Site, SuiteStorage};

/// One check of the suite.
pub struct Check {
    /// The invariant's id ("R1", "S7", "JSON").
    pub id: &'static str,
    /// What it claims.
    pub claim: &'static str,
    on_std: fn(&Site<StdStorage>) -> Outcome,
    /// `None` for a claim about the real filesystem itself.
    on_mem: Option<fn(&Site<MemStorage>) -> Outcome>,
}

impl Check {
    /// Whether the check also runs on the in-memory filesystem.
    pub fn runs_in_memory(&self) -> bool {
        self.on_mem.is_some()
    }
}

/// A check generic over the storage, run on both.
macro_rules! check {
    ($id:literal, $claim:literal, $run:path) => {
        Check {
            id: $id,
            claim: $claim,
            on_std: $run,
            on_mem: Some($run),
        }
    };
}

/// A check of the real filesystem only.
macro_rules! real_fs_check {
    ($id:literal, $claim:literal, $run:path) => {
        Check {
            id: $id,
            claim: $claim,
            on_std: $run,
            on_mem: None,
        }
    };
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
    check!("R1", "the first frame's seq is 1", structure::r1),
    check!(
        "R2",
        "seqs are contiguous in the committed range",
        structure::r2
    ),
    check!(
        "R3",
        "safe_seq never exceeds the highest seq in the log",
        structure::r3
    ),
    check!("R4", "the frame at safe_seq exists", structure::r4),
    check!(
        "R5",
        "no frame has seq > safe_seq after recovery",
        structure::r5
    ),
    check!(
        "JSON",
        "every committed payload parses as JSON; non-JSON is refused",
        structure::json
    ),
    check!(
        "S1",
        "after recovery the on-disk safe_seq equals the committed entries",
        protocol::s1
    ),
    check!(
        "S2",
        "append returns only after frame and safe_seq are durable",
        protocol::s2
    ),
    check!(
        "S3",
        "a crash between frame write and safe_seq update leaves one phantom, discarded",
        protocol::s3
    ),
    check!(
        "S4",
        "a crash during the safe_seq update keeps the old safe_seq and removes the .tmp",
        protocol::s4
    ),
    check!(
        "S5",
        "a torn tail frame past safe_seq is truncated",
        protocol::s5
    ),
    check!(
        "S6",
        "a damaged committed frame is reported, never silently dropped",
        damage::s6
    ),
    check!(
        "S7",
        "recovery is idempotent and a crash during recovery is safe",
        recovery::s7
    ),
    check!(
        "S8",
        "after recovery the next seq is safe_seq + 1",
        recovery::s8
    ),
    check!(
        "S9",
        "read_from(k) yields exactly the committed entries >= k, in order",
        recovery::s9
    ),
    check!("S10", "one writer per directory (the lock)", recovery::s10),
    real_fs_check!(
        "S11",
        "safe_seq updates are atomic and durable (rename + directory fsync)",
        recovery::s11
    ),
    check!("S12", "payloads round-trip byte for byte", recovery::s12),
];

/// Runs every check under `dir` on the real filesystem (`dir` must exist and be empty enough for
/// subdirectories named after the checks). `probe`, when given, checks the lock from another
/// process too.
pub fn run_all(dir: &Path, probe: Option<LockProbe>) -> Vec<CheckResult> {
    CHECKS
        .iter()
        .map(|c| run_one(c, c.on_std, &StdStorage, dir, probe))
        .collect()
}

/// Runs one check, by id, under `dir` on the real filesystem.
pub fn run_id(id: &str, dir: &Path, probe: Option<LockProbe>) -> Option<CheckResult> {
    CHECKS
        .iter()
        .find(|c| c.id == id)
        .map(|c| run_one(c, c.on_std, &StdStorage, dir, probe))
}

/// The in-memory filesystem's directory the suite runs under.
const MEM_DIR: &str = "/conformance";

/// Runs every check that is not about the real filesystem itself on a fresh in-memory
/// filesystem; the others are left out.
pub fn run_all_in_memory() -> Vec<CheckResult> {
    let mem = MemStorage::new();
    CHECKS
        .iter()
        .filter_map(|c| Some(run_one(c, c.on_mem?, &mem, Path::new(MEM_DIR), None)))
        .collect()
}

/// Runs one check, by id, on a fresh in-memory filesystem; `None` for an unknown id or a check
/// of the real filesystem only.
pub fn run_id_in_memory(id: &str) -> Option<CheckResult> {
    let c = CHECKS.iter().find(|c| c.id == id)?;
    Some(run_one(
        c,
        c.on_mem?,
        &MemStorage::new(),
        Path::new(MEM_DIR),
        None,
    ))
}

fn run_one<S: SuiteStorage>(
    c: &Check,
    run: fn(&Site<S>) -> Outcome,
    storage: &S,
    dir: &Path,
    probe: Option<LockProbe>,
) -> CheckResult {
    let started = Instant::now();
    let sub = dir.join(format!("conformance-{}", c.id));
    let outcome = storage
        .create_dir_all(&sub)
        .map_err(|e| format!("cannot create {}: {e}", sub.display()))
        .and_then(|()| {
            run(&Site {
                storage: storage.clone(),
                dir: sub,
                probe,
            })
        });
    CheckResult {
        id: c.id,
        claim: c.claim,
        pass: outcome.is_ok(),
        msg: outcome.err().unwrap_or_else(|| "ok".into()),
        millis: started.elapsed().as_millis() as u64,
    }
}
