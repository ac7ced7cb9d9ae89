//! Step 2 of a cell, whole: the seed's injected-fault iterations, the kill -9 runs and the
//! power-loss exploration, run one after the other and summed up in one verdict. The cell and
//! `crash-harness` both run it, so what a cell certifies is what the harness reproduces.

use std::path::Path;

use anyhow::{Context, Result};

use crate::crash_harness::{run_harness, RunOutcome};

/// Which parts of step 2 to run besides the seed's iterations.
pub struct Parts {
    /// The seed's injected-fault iterations.
    pub seed_iterations: bool,
    /// kill -9 runs (0: none).
    pub kills: u32,
    pub kill_max_delay_ms: u64,
    /// Power-loss exploration of the standard workload, with this bound per crash point.
    pub explore_bound: Option<u64>,
    /// States of the exploration also checked on the real filesystem.
    pub on_disk_states: u64,
}

/// Step 2 in full: the seed's iterations, the kill -9 runs, the power-loss exploration.
pub struct Step2 {
    pub run: RunOutcome,
    pub kills: Option<super::kill::Outcome>,
    pub power: Option<super::explore::Outcome>,
}

impl Step2 {
    pub fn pass(&self) -> bool {
        self.run.failed() == 0
            && self.kills.as_ref().is_none_or(|k| k.summary.pass)
            && self.power.as_ref().is_none_or(|p| p.summary.pass)
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
                "{} power-loss states checked ({} explored), {} violating",
                p.states_checked, p.states_explored, p.violating_states
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

/// Runs the parts of step 2 under `root`.
pub fn run_step2(
    seed: u64,
    iterations: u32,
    only: Option<u32>,
    parts: &Parts,
    root: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Step2> {
    let run = if parts.seed_iterations {
        run_harness(seed, iterations, only, root, log)
    } else {
        RunOutcome {
            outcomes: Vec::new(),
        }
    };
    let kills = if parts.kills > 0 {
        let opts = super::kill::Options {
            seed,
            kills: parts.kills,
            max_delay_ms: parts.kill_max_delay_ms,
            root: root.to_path_buf(),
        };
        Some(super::kill::run_kills(
            &opts,
            &crate::cell::self_command,
            log,
        )?)
    } else {
        None
    };
    let power = match parts.explore_bound {
        Some(bound) => {
            let on_disk = root.join("power-loss");
            std::fs::create_dir_all(&on_disk)
                .with_context(|| format!("cannot create {}", on_disk.display()))?;
            let opts = super::explore::Options {
                workload: super::workload::Workload::Standard,
                seed,
                sector: 512,
                bound,
                protocol: super::workload::Protocol::Real,
                on_disk: Some((on_disk, parts.on_disk_states)),
            };
            Some(super::explore::explore(&opts, log)?)
        }
        None => None,
    };
    Ok(Step2 { run, kills, power })
}
