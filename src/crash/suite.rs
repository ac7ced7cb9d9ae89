//! Step 2 of a cell, whole: the seed's injected-fault iterations, the kill -9 runs and the
//! power-loss exploration, run one after the other and summed up in one verdict. The cell and
//! `crash-harness` both run it, so what a cell certifies is what the harness reproduces.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::explore::{self, Exploration};
use super::kill::{self, KillOutcome};
use super::leftovers::{run_iterations, Iterations};
use super::narrate::Narrator;
use super::workload::{Protocol, Workload};
use crate::coverage::Coverage;

/// Which crash tests to run, and how many.
pub struct CrashPlan {
    /// The seed's injected-fault iterations.
    pub seed_iterations: bool,
    /// kill -9 runs (0: none).
    pub kills: u32,
    pub kill_max_delay_ms: u64,
    /// Power-loss exploration of the standard workload, with this bound per crash point.
    pub explore_bound: Option<u64>,
    /// States of the exploration also checked on the real filesystem.
    pub on_disk_states: u64,
    /// The exploration also covers block faults (misdirected, stale, duplicated writes).
    pub block_faults: bool,
}

/// Step 2 in full: the seed's iterations, the kill -9 runs, the power-loss exploration.
pub struct CrashResults {
    pub run: Iterations,
    pub kills: Option<KillOutcome>,
    pub power: Option<Exploration>,
}

impl CrashResults {
    pub fn pass(&self) -> bool {
        self.run.failed() == 0
            && self.kills.as_ref().is_none_or(|k| k.summary.pass)
            && self.power.as_ref().is_none_or(|p| p.summary.pass)
    }

    /// How much crash testing ran: iterations, kills, distinct power-loss states checked.
    pub fn coverage(&self) -> Coverage {
        Coverage {
            iterations: self.run.outcomes.len() as u32,
            kills: self.kills.as_ref().map_or(0, |k| k.summary.kills),
            power_loss_states: self.power.as_ref().map_or(0, |p| p.summary.states_checked),
        }
    }

    /// One line: what ran and how it went.
    pub fn summary(&self, seed: u64) -> String {
        let mut parts = Vec::new();
        if !self.run.outcomes.is_empty() || (self.kills.is_none() && self.power.is_none()) {
            parts.push(format!(
                "{} of {} iterations passed",
                self.run.passed(),
                self.run.outcomes.len()
            ));
        }
        if let Some(k) = &self.kills {
            let k = &k.summary;
            parts.push(format!(
                "{} kills ({} by SIGKILL), {} violations",
                k.kills,
                k.killed_by_sigkill,
                k.violations.len()
            ));
        }
        if let Some(p) = &self.power {
            let p = &p.summary;
            parts.push(format!(
                "{} power-loss states checked ({} explored) and {} with a block fault, {} violating",
                p.states_checked,
                p.states_explored,
                p.corruption_states_checked,
                p.violating_states
            ));
        }
        format!("{} (seed {seed})", parts.join("; "))
    }

    /// Every verifier report of step 2, with where it came from.
    pub fn reports(&self) -> Vec<(String, &wal::verify::Report)> {
        let mut out: Vec<(String, &wal::verify::Report)> = self
            .run
            .outcomes
            .iter()
            .filter_map(|o| {
                o.verify
                    .as_ref()
                    .map(|r| (format!("harness iteration {}", o.record.index), r))
            })
            .collect();
        for (src, r) in self.kills.iter().flat_map(|k| &k.reports) {
            out.push((src.clone(), r));
        }
        for (src, r) in self.power.iter().flat_map(|p| &p.reports) {
            out.push((src.clone(), r));
        }
        out
    }
}

/// Runs the planned crash tests under `root`. `spawn` starts this binary again: the kill -9
/// runs kill its hidden `crash-writer` subcommand.
pub fn run_crash_tests(
    seed: u64,
    iterations: u32,
    only: Option<u32>,
    plan: &CrashPlan,
    root: &Path,
    spawn: &dyn Fn() -> Result<Command, String>,
    log: &mut dyn Narrator,
) -> Result<CrashResults> {
    let run = if plan.seed_iterations {
        run_iterations(seed, iterations, only, root, log)
    } else {
        Iterations {
            outcomes: Vec::new(),
        }
    };
    let kills = if plan.kills > 0 {
        let opts = kill::Options {
            seed,
            kills: plan.kills,
            max_delay_ms: plan.kill_max_delay_ms,
            root: root.to_path_buf(),
        };
        Some(kill::run_kills(&opts, spawn, log)?)
    } else {
        None
    };
    let power = match plan.explore_bound {
        Some(bound) => {
            let on_disk = root.join("power-loss");
            std::fs::create_dir_all(&on_disk)
                .with_context(|| format!("cannot create {}", on_disk.display()))?;
            let opts = explore::Options {
                workload: Workload::Standard,
                seed,
                sector: 512,
                bound,
                protocol: Protocol::Real,
                on_disk: Some((on_disk, plan.on_disk_states)),
                block_faults: plan.block_faults,
            };
            Some(explore::explore(&opts, log)?)
        }
        None => None,
    };
    Ok(CrashResults { run, kills, power })
}
