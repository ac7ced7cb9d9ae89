//! The workloads whose power-loss states are explored, and the protocol variant they run.
//!
//! A workload drives the real WAL code through the [`Recorder`], marking each append as issued
//! before the call and acknowledged after it returns. The standard workload covers every kind of
//! effect the WAL has: creating the log, single and batched appends, and a recovery with real
//! work to do (a stale safe_seq `.tmp`, a phantom frame and a torn frame left by a writer that
//! died), followed by more appends over the truncated tail. Payloads are drawn from the seed, so
//! a seed and a workload name rebuild exactly the same trace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand_chacha::ChaCha8Rng;
use wal::mem::{Ino, MemStorage};
use wal::record::{Mark, Recorder, Trace};
use wal::storage::Storage;
use wal::{inject, Seq, Wal};

use super::seeded::{iteration_rng, random_payload};
/// The directory the workloads run in (inside the in-memory filesystem).
pub const DIR: &str = "/wal";

/// What runs while the recorder writes everything down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Create, 4 appends, a batch of 3, a dead writer's leftovers, recovery, 3 more appends.
    Standard,
    /// Create, then this many single appends.
    Appends(u32),
}

impl Workload {
    /// The command-line words that select it.
    pub fn args(self) -> String {
        match self {
            Workload::Standard => "--workload standard".into(),
            Workload::Appends(n) => format!("--workload appends --appends {n}"),
        }
    }

    /// A short name for reports.
    pub fn name(self) -> String {
        match self {
            Workload::Standard => "standard".into(),
            Workload::Appends(n) => format!("appends-{n}"),
        }
    }
}

/// The commit protocol and recovery under test: the real one, or a known-broken variant. The
/// command line names them (`--protocol no-dir-sync`); the doc comments are its help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The WAL as shipped.
    Real,
    /// Defect: safe_seq renamed into place before the frame is synced.
    RenameBeforeFrameSync,
    /// Defect: no directory fsync after the safe_seq rename.
    NoDirSync,
    /// Defect: no fsync of the safe_seq `.tmp` before it is renamed into place.
    NoTmpSync,
    /// Defect: recovery trusts a frame without checking its checksum.
    NoChecksum,
    /// Defect: recovery accepts a checksummed frame whatever its seq.
    RecoveryIgnoresSeq,
}

/// Keeps a protocol variant enabled on this thread while it lives.
pub struct ProtocolGuard {
    #[cfg(feature = "defects")]
    _guard: Option<wal::defects::Guard>,
}

impl Protocol {
    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Real => "real",
            Protocol::RenameBeforeFrameSync => "rename-before-frame-sync",
            Protocol::NoDirSync => "no-dir-sync",
            Protocol::NoTmpSync => "no-tmp-sync",
            Protocol::NoChecksum => "no-checksum",
            Protocol::RecoveryIgnoresSeq => "recovery-ignores-seq",
        }
    }

    /// Enables the variant on this thread; a defect needs a build with the `defects` feature.
    pub fn enable(self) -> Result<ProtocolGuard> {
        #[cfg(feature = "defects")]
        {
            use wal::defects::{enable, Defect};
            let d = match self {
                Protocol::Real => None,
                Protocol::RenameBeforeFrameSync => Some(Defect::RenameBeforeFrameSync),
                Protocol::NoDirSync => Some(Defect::NoDirSyncAfterRename),
                Protocol::NoTmpSync => Some(Defect::NoTmpSyncBeforeRename),
                Protocol::NoChecksum => Some(Defect::RecoveryTrustsFrameWithoutChecksum),
                Protocol::RecoveryIgnoresSeq => Some(Defect::RecoveryIgnoresSeq),
            };
            Ok(ProtocolGuard {
                _guard: d.map(enable),
            })
        }
        #[cfg(not(feature = "defects"))]
        {
            anyhow::ensure!(
                self == Protocol::Real,
                "the protocol variant {} exists only in builds with the `defects` feature \
                 (cargo run --features defects -- …); release builds carry the real protocol only",
                self.name()
            );
            Ok(ProtocolGuard {})
        }
    }

    /// How to invoke the binary so that this variant is available.
    pub fn invocation(self) -> &'static str {
        match self {
            Protocol::Real => "portability-matrix",
            _ => "cargo run --release --features defects --",
        }
    }
}

/// A recorded workload: its trace and what the directory held before it started.
pub struct Recorded {
    pub trace: Trace,
    pub initial: Vec<(PathBuf, Ino, Vec<u8>)>,
    pub dir: PathBuf,
}

/// Runs `workload` with payloads from `seed` under the (already enabled) protocol, recording it.
pub fn record(workload: Workload, seed: u64) -> Result<Recorded> {
    let dir = PathBuf::from(DIR);
    let mem = MemStorage::new();
    mem.create_dir_all(&dir);
    let rec = Recorder::new(mem);
    let marks = rec.clone();
    run(workload, seed, &rec, &dir, &mut |m| {
        marks.mark(m);
        Ok(())
    })?;
    Ok(Recorded {
        trace: rec.trace(),
        initial: Vec::new(),
        dir,
    })
}

/// Runs `workload` with payloads from `seed` on any storage (the recorder in memory, or the
/// real filesystem in a block-replay guest), calling `mark` with each append's issue before the
/// call and its acknowledgement after it returns. One sequence of appends, batch, leftovers and
/// reopen for every crash test that uses it.
pub fn run<S: Storage + Clone>(
    workload: Workload,
    seed: u64,
    storage: &S,
    dir: &Path,
    mark: &mut dyn FnMut(Mark) -> Result<()>,
) -> Result<()> {
    let mut rng = iteration_rng(seed, u32::MAX);
    match workload {
        Workload::Standard => standard(storage, dir, &mut rng, mark),
        Workload::Appends(n) => {
            let mut wal = Wal::open_with(storage.clone(), dir)?;
            for i in 1..=u64::from(n) {
                append(&mut wal, &[random_payload(&mut rng, i)], mark)?;
            }
            Ok(())
        }
    }
    .with_context(|| format!("the {} workload failed", workload.name()))
}

/// Appends in the order issued, each its (seq, payload) entries.
pub type Appends = Vec<Vec<(u64, Vec<u8>)>>;

/// Every append the workload issues, in order: its (seq, payload) entries. Computed by running
/// it in memory, so it is exactly what the real run issues.
pub fn planned_appends(workload: Workload, seed: u64) -> Result<Appends> {
    let dir = PathBuf::from(DIR);
    let mem = MemStorage::new();
    mem.create_dir_all(&dir);
    let mut out = Vec::new();
    run(workload, seed, &mem, &dir, &mut |m| {
        if let Mark::Issued(v) = m {
            out.push(v);
        }
        Ok(())
    })?;
    Ok(out)
}

fn append<S: Storage>(
    wal: &mut Wal<S>,
    payloads: &[Vec<u8>],
    mark: &mut dyn FnMut(Mark) -> Result<()>,
) -> Result<()> {
    let first = wal.safe_seq().get() + 1;
    mark(Mark::Issued(
        payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (first + i as u64, p.clone()))
            .collect(),
    ))?;
    let last = wal.append_batch(payloads)?;
    mark(Mark::Acked(last.end().get()))
}

fn standard<S: Storage + Clone>(
    storage: &S,
    dir: &Path,
    rng: &mut ChaCha8Rng,
    mark: &mut dyn FnMut(Mark) -> Result<()>,
) -> Result<()> {
    let mut wal = Wal::open_with(storage.clone(), dir)?;
    for i in 1..=4 {
        append(&mut wal, &[random_payload(rng, i)], mark)?;
    }
    let batch: Vec<Vec<u8>> = (5..=7).map(|i| random_payload(rng, i)).collect();
    append(&mut wal, &batch, mark)?;
    drop(wal);
    // A writer that died inside its commit: frame 8 synced, part of frame 9, a stale .tmp.
    inject::phantom_frame(storage, dir, Seq::new(8), &random_payload(rng, 8))?;
    let torn = random_payload(rng, 9);
    inject::torn_frame(storage, dir, Seq::new(9), &torn, torn.len() / 2)?;
    inject::stale_tmp(storage, dir, Seq::new(8))?;
    let mut wal = Wal::open_with(storage.clone(), dir)?;
    for i in 8..=10 {
        append(&mut wal, &[random_payload(rng, i)], mark)?;
    }
    Ok(())
}
