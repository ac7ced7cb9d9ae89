//! What came of one cell: its status, the row it makes in the table and in `matrix.json`, and how
//! its filesystem was provided.
//!
//! The runner fills these in step by step; the judge, the annotation, the skip record and the
//! summary read them. They live here, below all of those, so that none of them has to import the
//! runner (or each other) to name a result.

use std::path::PathBuf;

use serde::Serialize;

use super::request::CellRequest;
use crate::cell_id::CellId;
use crate::evidence::record::{ByteOrderCrossing, MatrixSection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// A cell's result: a row of the table and an entry of matrix.json.
#[derive(Debug, Clone, Serialize)]
pub struct CellOutcome {
    pub cell: usize,
    pub arch: String,
    pub fs: String,
    pub seed_cell: bool,
    pub status: Status,
    pub reason: Option<String>,
    pub passed: Option<u32>,
    pub total_iterations: u32,
    pub seconds: f64,
    /// native, binfmt_misc, explicit (or unavailable when SKIP).
    pub execution: &'static str,
    pub emulated: bool,
    pub emulator: Option<String>,
    pub emulator_version: Option<String>,
    pub binary: Option<String>,
    /// loop (a fresh filesystem), existing (the temp dir already was that type), none.
    pub filesystem: &'static str,
    pub image_size: Option<u64>,
    pub detected_arch: Option<String>,
    pub detected_fs: Option<String>,
    pub run_dir: Option<String>,
    pub exit: Option<String>,
    /// The cell's known-good fixture, verified again by the matrix on the host.
    pub host_fixture_check: Option<String>,
    /// The cell's byte order, as its own evidence says (`endian`).
    pub detected_endian: Option<String>,
    /// The cell's crash states recovered by the host's byte order, and the reverse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_order_crossing: Option<ByteOrderCrossing>,
}

/// How the cell's filesystem was provided (all `None` when it ran on an existing one).
#[derive(Debug, Clone, Default)]
pub struct Provisioning {
    pub image: Option<PathBuf>,
    pub device: Option<String>,
    pub mount_point: Option<PathBuf>,
    pub mkfs_version: Option<String>,
    /// The commands run, setup and teardown.
    pub commands: Vec<String>,
}

impl CellOutcome {
    /// The row of a cell that is about to start: SKIP until a step says otherwise.
    pub fn new(r: &CellRequest) -> CellOutcome {
        CellOutcome::not_run(r.index, r.cell, r.config.iterations, "")
    }

    /// A SKIP row for a cell that was never started.
    pub fn not_run(index: usize, cell: &CellId, iterations: u32, why: &str) -> CellOutcome {
        CellOutcome {
            cell: index,
            arch: cell.arch.clone(),
            fs: cell.fs.clone(),
            seed_cell: cell.seed_number().is_some(),
            status: Status::Skip,
            reason: (!why.is_empty()).then(|| why.to_string()),
            passed: None,
            total_iterations: iterations,
            seconds: 0.0,
            execution: "unavailable",
            emulated: false,
            emulator: None,
            emulator_version: None,
            binary: None,
            filesystem: "none",
            image_size: None,
            detected_arch: None,
            detected_fs: None,
            run_dir: None,
            exit: None,
            host_fixture_check: None,
            detected_endian: None,
            byte_order_crossing: None,
        }
    }

    /// Marks the cell FAIL for `why`.
    pub fn fail(&mut self, why: String) {
        self.status = Status::Fail;
        self.reason = Some(why);
    }

    /// The `matrix` section of the cell's `wal_verify.json`, as this row stands now, with the
    /// filesystem provided as `p`.
    pub fn matrix_section(&self, r: &CellRequest, p: &Provisioning) -> MatrixSection {
        let path = |p: &std::path::Path| p.display().to_string();
        MatrixSection {
            cell: r.index,
            requested_arch: r.arch().into(),
            requested_fs: r.fs().into(),
            status: self.status.word(),
            reason: self.reason.clone(),
            seed: r.seed,
            host_arch: r.host.arch.into(),
            host_kernel: r.host.kernel.clone(),
            execution: self.execution,
            binary: self.binary.clone(),
            filesystem: self.filesystem,
            image: p.image.as_deref().map(path),
            loop_device: p.device.clone(),
            mount_point: p.mount_point.as_deref().map(path),
            mkfs_version: p.mkfs_version.clone(),
            provisioning: p.commands.clone(),
            host_fixture_check: self.host_fixture_check.clone(),
            byte_order_crossing: self.byte_order_crossing.clone(),
            tool: crate::build_info::VERSION_LINE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_cell(arch: &str, fs: &str) -> bool {
        CellOutcome::not_run(1, &CellId::new(arch, fs).unwrap(), 1, "").seed_cell
    }

    #[test]
    fn seed_cells_are_the_six_of_the_seed_document() {
        assert!(seed_cell("riscv64", "xfs"));
        assert!(!seed_cell("s390x", "ext4"));
        assert!(!seed_cell("amd64", "btrfs"));
    }
}
