//! What a matrix run is asked to do, in the matrix's own terms.
//!
//! The command line (`cli::MatrixArgs`) is parsed by clap and converted into this once, before
//! anything runs; from then on the matrix never sees a flag, only cells, durations and policies.
//! Keeping the conversion on the CLI's side is what lets the matrix stand without the CLI: the
//! dependency points from `cli` to here, never back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::emulation::EmulationMode;
use crate::cell_id::CellId;
use crate::shell::shell_quote;

/// One matrix run's settings.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// Architectures (Debian names), each crossed with every filesystem.
    pub archs: Vec<String>,
    /// Filesystem types.
    pub filesystems: Vec<String>,
    /// Cells beyond `archs` x `filesystems`.
    pub extra_cells: Vec<CellId>,
    /// Crash-harness iterations per cell.
    pub iterations: u32,
    /// The one seed of the run; `None`: drawn from the clock.
    pub seed: Option<u64>,
    /// Where the evidence tree and matrix.json go, as given.
    pub evidence: PathBuf,
    /// `<binaries>/<arch>/portability-matrix`.
    pub binaries: PathBuf,
    /// Size of each loop filesystem image, in bytes.
    pub image_size: u64,
    /// A cell running longer is stopped and FAIL; `None`: no limit.
    pub cell_timeout: Option<Duration>,
    /// Which skipped cells fail the run.
    pub fail_on_skip: Option<SkipPolicy>,
    pub emulation: EmulationMode,
    /// The commit the binaries certify (never empty).
    pub commit: Option<String>,
}

/// Which skipped cells make `matrix` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SkipPolicy {
    /// A skipped cell of the seed's six.
    Seed,
    /// Any skipped cell.
    Any,
}

impl SkipPolicy {
    /// Whether a skip of a cell (one of the seed's six or not) fails the run.
    pub fn fails_on(self, seed_cell: bool) -> bool {
        match self {
            SkipPolicy::Any => true,
            SkipPolicy::Seed => seed_cell,
        }
    }
}

impl MatrixConfig {
    /// The cells in the order they run: every architecture with every filesystem, then the
    /// extra cells that are not among them already.
    pub fn cells(&self) -> Vec<CellId> {
        let mut plan: Vec<CellId> = Vec::new();
        for arch in &self.archs {
            for fs in &self.filesystems {
                plan.push(CellId {
                    arch: arch.clone(),
                    fs: fs.clone(),
                });
            }
        }
        for c in &self.extra_cells {
            if !plan.contains(c) {
                plan.push(c.clone());
            }
        }
        plan
    }

    /// The `matrix` command line that runs `cell` again with the same seed.
    pub fn rerun_line(&self, cell: &CellId, seed: u64) -> String {
        let q = |p: &Path| shell_quote(&p.display().to_string());
        format!(
            "portability-matrix matrix --arch {} --fs {} --seed {seed} --iterations {} --binaries {} --evidence {} --image-size {}{}",
            cell.arch,
            cell.fs,
            self.iterations,
            q(&self.binaries),
            q(&self.evidence),
            self.image_size,
            self.emulation.rerun_option(),
        )
    }
}
