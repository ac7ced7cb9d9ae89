//! `portability-matrix gate`: whether a release may proceed, decided from the cells' evidence.
//!
//! The gate gathers one `Observation` per cell (`source.rs`: from the workflow run's artifacts
//! on GitHub, `github.rs`, or from a folder, `evidence.rs`), loads the phase policy
//! (`policy.rs`) and the waivers (`waivers.rs`), and hands them to `decision::decide`, a pure
//! function; `report.rs` puts the result and what it rests on into a `GateReport`. `output.rs`
//! prints the table, the annotations and the step summary and writes `gate.json`. The command
//! line reaches the gate as a `GateConfig` (`config.rs`), so nothing here knows about clap's
//! argument structs.
//!
//! It fails closed: evidence that is missing, unreadable, expired, from another commit or
//! filed under the wrong cell blocks a gated cell; a waiver that is malformed stops the gate
//! (exit 2) rather than being ignored; and exit 2, "could not decide", blocks a release too.
//! docs/gate.md is the user's guide.

#[cfg(feature = "github")]
mod archive;
mod config;
mod decision;
mod evidence;
#[cfg(feature = "github")]
mod github;
#[cfg(feature = "github")]
mod net;
mod observation;
mod output;
mod policy;
mod report;
mod source;
mod target;
mod waivers;

use std::process::ExitCode;

use anyhow::Result;

pub use config::{GateConfig, GateMode, PolicyChoice};
pub use target::{RepoSlug, Sha};

/// Decides, prints the decision and returns its exit code: 0 pass, 1 blocked in release mode.
/// When the gate cannot decide, it says so where the decision would have gone and returns the
/// error (exit 2).
pub fn run(config: &GateConfig) -> Result<ExitCode> {
    match report::assemble(config) {
        Ok(report) => {
            output::emit(&report, config)?;
            Ok(ExitCode::from(report.exit_code))
        }
        Err(e) => {
            output::emit_error(&e, config);
            Err(e)
        }
    }
}
