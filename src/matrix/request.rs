//! What one cell is run with: the cell, the matrix-wide settings, and the host.
//!
//! Every step of a cell (planning, running, judging, annotating, the skip record) reads the same
//! request, so it lives here, below all of them, rather than in the module that runs the cell:
//! a step can then be read and tested without the runner, and the runner's steps never import
//! each other in a circle.

use std::path::{Path, PathBuf};

use super::config::MatrixConfig;
use crate::cell_id::CellId;

/// What the matrix knows about the host before any cell runs.
#[derive(Debug, Clone)]
pub struct Host {
    pub arch: &'static str,
    pub root: bool,
    pub temp_dir: PathBuf,
    pub temp_fs: Option<String>,
    pub kernel: String,
}

impl Host {
    pub fn detect() -> Host {
        let temp_dir = std::env::temp_dir();
        Host {
            arch: crate::platform::arch(),
            root: nix::unistd::geteuid().is_root(),
            temp_fs: crate::platform::mount_of(&temp_dir).ok().map(|m| m.fs_type),
            temp_dir,
            kernel: crate::platform::kernel(),
        }
    }
}

/// One cell to run, and the matrix-wide settings it runs with.
#[derive(Debug, Clone)]
pub struct CellRequest<'a> {
    /// The cell's number in this run, from 1.
    pub index: usize,
    pub cell: &'a CellId,
    /// The run's one seed.
    pub seed: u64,
    pub config: &'a MatrixConfig,
    /// The evidence tree, absolute.
    pub evidence: &'a Path,
    pub host: &'a Host,
    /// The `matrix` command line that reproduces this cell alone.
    pub rerun: String,
}

impl CellRequest<'_> {
    pub fn arch(&self) -> &str {
        &self.cell.arch
    }

    pub fn fs(&self) -> &str {
        &self.cell.fs
    }
}
