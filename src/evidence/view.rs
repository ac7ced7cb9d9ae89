//! `wal_verify.json`, as the gate reads it: only the keys a decision rests on, each optional,
//! so that a file missing one is reported by the key's name rather than by serde.
//!
//! The writer's side is [`super::record`]; both follow `schemas/wal_verify.schema.json`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::coverage::Coverage;

/// The part of `wal_verify.json` the gate reads (schemas/wal_verify.schema.json has it all).
/// Fields are optional here so that a missing one is reported by name, not by serde.
#[derive(Deserialize)]
pub struct Evidence {
    pub arch: Option<String>,
    pub fs_type: Option<String>,
    pub pass: Option<bool>,
    pub rename_atomic: Option<String>,
    pub invariants: Option<BTreeMap<String, Check>>,
    #[serde(default)]
    pub conformance: Vec<ConformanceCheck>,
    #[serde(default)]
    pub commit: Option<String>,
    pub run_n: Option<u32>,
    /// A cell that did not run (no emulator, no filesystem) says so with `skipped: true`.
    #[serde(default)]
    pub skipped: bool,
    #[serde(default)]
    pub skip_reason: Option<String>,
    /// The matrix's verdict on the run, when a matrix ran it: it can fail a cell that wrote
    /// `"pass": true` (evidence naming another mount or seed, a fixture that does not re-verify
    /// on the host, a failed cleanup, a timeout).
    #[serde(default)]
    pub matrix: Option<MatrixVerdict>,
    /// With a commit read from a git checkout: whether it had uncommitted changes.
    #[serde(default)]
    pub commit_dirty: Option<bool>,
    /// The crash testing the cell ran (absent parts ran nothing).
    #[serde(default)]
    pub total_iterations: Option<u32>,
    #[serde(default)]
    pub kill_runs: Option<KillRunsView>,
    #[serde(default)]
    pub power_loss: Option<PowerLossView>,
    /// Power loss on the real filesystem (absent in evidence from before it existed).
    #[serde(default)]
    pub block_replay: Option<BlockReplayView>,
}

/// The `block_replay` section's verdict.
#[derive(Deserialize)]
pub struct BlockReplayView {
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl BlockReplayView {
    /// The section in a few words: `PASS`, or the status with its reason.
    pub fn summary(&self) -> String {
        let status = self.status.as_deref().unwrap_or("no status");
        match &self.reason {
            Some(r) => format!("{status} ({r})"),
            None => status.to_string(),
        }
    }
}

#[derive(Deserialize)]
pub struct KillRunsView {
    pub kills: u32,
}

#[derive(Deserialize)]
pub struct PowerLossView {
    pub states_checked: u64,
}

impl Evidence {
    /// How much crash testing the evidence shows; what it does not record counts as none.
    pub fn coverage(&self) -> Coverage {
        Coverage {
            iterations: self.total_iterations.unwrap_or(0),
            kills: self.kill_runs.as_ref().map_or(0, |k| k.kills),
            power_loss_states: self.power_loss.as_ref().map_or(0, |p| p.states_checked),
        }
    }
}

#[derive(Deserialize)]
pub struct MatrixVerdict {
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize)]
pub struct Check {
    pub pass: bool,
}

#[derive(Deserialize)]
pub struct ConformanceCheck {
    pub id: String,
    pub pass: bool,
}
