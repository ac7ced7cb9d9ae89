//! `wal_verify.json`, as it is written: a cell's record ([`WalVerify`]), the `matrix` section
//! the matrix adds to it ([`MatrixSection`]), and the record of a cell that could not run
//! ([`SkipRecord`]).
//!
//! The seed document fixed the top-level keys and their types (`timestamp` … `iterations`);
//! everything after them is added evidence (the four steps' details, what built the binary,
//! the mount the cell ran on, block replay). `schemas/wal_verify.schema.json` is the contract, checked against
//! what these types write by the tests; the gate reads the same files through
//! [`super::view`], so a change here is a change there. The crash sections (`iterations`,
//! `kill_runs`, `power_loss`) are the crash module's own summaries, embedded as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block_replay::summary::BlockReplay;
use crate::build_info::BuildInfo;
use crate::coverage::{Coverage, Minimums};
use crate::crash::explore::PowerLoss;
use crate::crash::kill::KillRuns;
pub use crate::crash::leftovers::IterationRecord;
use crate::platform::Mount;

/// An RFC 3339 UTC timestamp with second precision ("2026-03-03T00:00:00Z").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Timestamp(pub String);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string())
    }
}

/// `{ "pass": bool, "msg": string }` per invariant key.
pub type Invariants = BTreeMap<String, InvariantResult>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvariantResult {
    pub pass: bool,
    pub msg: String,
}

/// A violation as reported: the verifier's, plus where it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    #[serde(flatten)]
    pub inner: wal::verify::Violation,
    /// Which WAL it was found in ("fixture", "harness iteration 3", "verify").
    pub source: String,
}

pub fn invariants(r: &wal::verify::Report) -> Invariants {
    r.invariants
        .iter()
        .map(|(k, c)| {
            (
                k.key().to_string(),
                InvariantResult {
                    pass: c.pass,
                    msg: c.msg.clone(),
                },
            )
        })
        .collect()
}

pub fn violations(r: &wal::verify::Report, source: &str) -> Vec<Violation> {
    r.violations
        .iter()
        .map(|v| Violation {
            inner: v.clone(),
            source: source.to_string(),
        })
        .collect()
}

/// Merges invariant results from several verifier runs: an invariant holds only if it held in
/// every run; the message names the first run where it did not.
pub fn merge_invariants(acc: &mut Invariants, source: &str, next: Invariants) {
    for (k, v) in next {
        match acc.get_mut(&k) {
            None => {
                acc.insert(k, tag(v, source));
            }
            Some(a) if a.pass && !v.pass => *a = tag(v, source),
            Some(_) => {}
        }
    }
}

fn tag(v: InvariantResult, source: &str) -> InvariantResult {
    if v.pass {
        v
    } else {
        InvariantResult {
            pass: false,
            msg: format!("{source}: {}", v.msg),
        }
    }
}

/// One step of the cell.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub pass: bool,
    pub msg: String,
    pub millis: u64,
}

/// The cell's evidence file.
#[derive(Debug, Serialize)]
pub struct WalVerify {
    // The seed document's keys, with its types.
    pub timestamp: Timestamp,
    pub seed: u64,
    pub arch: String,
    pub fs_type: String,
    pub total_iterations: u32,
    pub passed: u32,
    pub failed: u32,
    pub pass: bool,
    pub rename_atomic: &'static str,
    pub run_n: u32,
    pub invariants: Invariants,
    pub violations: Vec<Violation>,
    pub iterations: Vec<IterationRecord>,
    // Added evidence.
    pub schema_version: u32,
    /// The commit being certified, when known (from --commit or GITHUB_SHA).
    pub commit: Option<String>,
    /// With a commit read from the git checkout: whether tracked files had uncommitted changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_dirty: Option<bool>,
    pub steps: Steps,
    pub conformance: Vec<wal::conformance::CheckResult>,
    pub endian: &'static str,
    pub host_kernel: String,
    pub mount: Mount,
    pub dir: String,
    pub tool: BuildInfo,
    pub duration_ms: u64,
    /// Step 2's kill -9 runs (absent with `--seed-steps-only`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_runs: Option<KillRuns>,
    /// Step 2's power-loss exploration (absent with `--seed-steps-only`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_loss: Option<PowerLoss>,
    /// How much crash testing ran, against the minimums that certify.
    pub coverage: CoverageRecord,
    /// The fault step: each kind of fault injected, what the WAL did, any violation.
    pub faults: FaultsSection,
    /// Power loss on the real filesystem in a guest kernel (PASS, FAIL or SKIP with the reason);
    /// a FAIL counts against `pass`.
    pub block_replay: BlockReplay,
}

/// The `faults` object: step 5, the faults a running writer meets (a full disk, a short write,
/// a failed sync), kind by kind. With `--no-faults` it says so and lists no kinds.
#[derive(Debug, Clone, Serialize)]
pub struct FaultsSection {
    /// Whether the step ran (`false` with `--no-faults`).
    pub enabled: bool,
    /// Why it did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// No kind found a violation (a skipped kind is no violation; a disabled step passes
    /// nothing and fails nothing).
    pub pass: bool,
    pub seed: u64,
    pub kinds: Vec<FaultKindRecord>,
}

impl FaultsSection {
    /// The section of a cell run with `--no-faults`.
    pub fn disabled(seed: u64) -> FaultsSection {
        FaultsSection {
            enabled: false,
            reason: Some("turned off with --no-faults".into()),
            pass: true,
            seed,
            kinds: Vec::new(),
        }
    }
}

/// One kind of fault: how often it struck, what the WAL did, what went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct FaultKindRecord {
    /// `seam`, `file-size-limit`, `full-disk`, `block-io-errors`.
    pub kind: &'static str,
    /// PASS, FAIL or SKIP.
    pub status: &'static str,
    /// Why the kind was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Writer runs (each meets at most one fault).
    pub runs: u64,
    /// Faults that struck the writer (a run whose fault was never reached injects none).
    pub injected: u64,
    /// What the WAL did, in a sentence.
    pub wal: String,
    pub millis: u64,
    pub violations: Vec<FaultViolation>,
}

/// A violation found under a fault, with what replays it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultViolation {
    /// Which check failed: "acknowledged", "poisoned", "recovery", "oracle", "S1", "R1-R5",
    /// "writer".
    pub check: String,
    pub msg: String,
    pub seed: u64,
    /// The command that replays this kind with this seed.
    pub replay: String,
}

/// The `coverage` object: what step 2 ran and the minimums it is held to.
#[derive(Debug, Serialize)]
pub struct CoverageRecord {
    pub iterations: u32,
    pub kills: u32,
    pub power_loss_states: u64,
    pub minimums: Minimums,
    /// Every count at or above its minimum; `pass` is false otherwise.
    pub meets_minimums: bool,
}

impl CoverageRecord {
    pub fn new(c: Coverage, minimums: Minimums) -> CoverageRecord {
        CoverageRecord {
            iterations: c.iterations,
            kills: c.kills,
            power_loss_states: c.power_loss_states,
            minimums,
            meets_minimums: c.shortfalls(&minimums).is_empty(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Steps {
    pub conformance: StepResult,
    pub crash_harness: StepResult,
    pub fixture: StepResult,
    pub rename: StepResult,
    /// Absent with `--no-faults`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<StepResult>,
}

/// The schema version of `wal_verify.json` this binary writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The `matrix` object the matrix adds to a cell's `wal_verify.json`, and writes into the
/// record of a cell it skipped: what was asked for, how it ran, and the matrix's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixSection {
    pub cell: usize,
    pub requested_arch: String,
    pub requested_fs: String,
    /// PASS, FAIL or SKIP: the matrix's verdict on the run.
    pub status: &'static str,
    pub reason: Option<String>,
    pub seed: u64,
    pub host_arch: String,
    pub host_kernel: String,
    /// native, binfmt_misc, explicit, unavailable.
    pub execution: &'static str,
    pub binary: Option<String>,
    /// loop (a fresh filesystem), existing (the temp dir already was that type), none.
    pub filesystem: &'static str,
    pub image: Option<String>,
    pub loop_device: Option<String>,
    pub mount_point: Option<String>,
    pub mkfs_version: Option<String>,
    /// The commands that made and removed the filesystem.
    pub provisioning: Vec<String>,
    pub host_fixture_check: Option<String>,
    /// For a cell of the other byte order than the host's: its crash states recovered by the
    /// host's binary and the host's by the cell's (absent for a cell of the host's byte order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_order_crossing: Option<ByteOrderCrossing>,
    pub tool: &'static str,
}

/// `matrix.byte_order_crossing`: crash states written by the cell's binary and by the host's,
/// each recovered by both (`crate::crash::states`); `pass` when every state of every direction
/// was recovered identically by the two byte orders. The states and the four reports are kept
/// under `dir`, inside the run directory.
#[derive(Debug, Clone, Serialize)]
pub struct ByteOrderCrossing {
    pub pass: bool,
    /// Why the check could not be made, when it could not (the cell then FAILs).
    pub error: Option<String>,
    pub seed: u64,
    /// Relative to the run directory.
    pub dir: String,
    pub directions: Vec<CrossingDirection>,
    pub seconds: f64,
    /// The commands that ran, in order, each run in `dir`.
    pub commands: Vec<String>,
}

/// One writer's states, recovered by its own byte order and by the other.
#[derive(Debug, Clone, Serialize)]
pub struct CrossingDirection {
    pub writer_arch: String,
    pub writer_byte_order: String,
    pub reader_arch: String,
    pub reader_byte_order: String,
    /// States written: kill -9 leftovers and power-loss states, some with a block fault.
    pub states: usize,
    /// States the writer's own recovery opened (the rest it refused as damaged).
    pub opened: usize,
    pub identical: bool,
    /// Where the reader's recovery differs from the writer's, one line per state (at most 20).
    pub differences: Vec<String>,
    /// The states' directory and the two reports, relative to `dir`.
    pub states_dir: String,
    pub writer_report: String,
    pub reader_report: String,
}

/// `wal_verify.json` of a cell the matrix could not run, its keys in the order of a cell's own
/// file. It claims nothing: `pass` is false and there are no invariants.
#[derive(Debug, Serialize)]
pub struct SkipRecord {
    pub timestamp: Timestamp,
    pub seed: u64,
    pub arch: String,
    pub fs_type: String,
    pub total_iterations: u32,
    pub pass: bool,
    pub run_n: u32,
    pub skipped: bool,
    pub skip_reason: String,
    pub schema_version: u32,
    pub commit: Option<String>,
    pub host_kernel: String,
    pub tool: BuildInfo,
    pub matrix: MatrixSection,
}
