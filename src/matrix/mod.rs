//! `portability-matrix matrix`: the full matrix on one machine.
//!
//! Every architecture x filesystem cell runs as a child process of that architecture's own
//! binary (foreign ones statically cross-built and executed under QEMU user emulation, see
//! `emulation`), on a filesystem made fresh for it on a loop device (`crate::loopfs`), with one seed for
//! the whole run. The cells write their own evidence; the matrix checks that the evidence names
//! the requested architecture and filesystem (`judge`), recovers the crash states of a cell of the
//! other byte order with the host's binary and the reverse (`byte_order`), adds what only it
//! knows (`annotate`), prints the table and writes `<evidence>/matrix.json` (`summary`).
//!
//! The modules, from the top: `run` (the whole run) calls `cells` (one cell), which calls the
//! steps (`launch`, `fs_plan`, `child`, `judge`, `byte_order`, `annotate`, and `skip_record` for a
//! cell that could not run); all of them share `config`, `request` and `cell_result`, which
//! import none of them. This file only names the modules and what the rest of the binary uses.
//!
//! Exit 0 when every cell that ran passed, 1 when one failed (or was skipped and
//! `--fail-on-skip` covers it), 2 when the run could not be made or was interrupted.

mod annotate;
mod byte_order;
mod cell_result;
mod cells;
mod child;
mod config;
mod emulation;
mod fs_plan;
mod interrupt;
mod judge;
mod launch;
mod request;
mod run;
mod skip_record;
mod summary;

pub use config::{MatrixConfig, SkipPolicy};
pub use emulation::EmulationMode;
pub use run::run;
