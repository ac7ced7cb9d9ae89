//! `portability-matrix crash-harness`: a cell's step 2 on its own, or one part of it.
//!
//! The crash tests themselves live in [`crate::crash`]: the seed's injected leftovers, the
//! kill -9 runs and the power-loss exploration. This command picks which to run, prints what
//! they find with the commands that replay it, and writes the results as JSON on request.
//! All randomness comes from the run's seed, so `--seed S --iteration I` replays exactly one
//! iteration of a run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::crash::leftovers::IterationRecord;
use crate::crash::suite::{run_crash_tests, CrashPlan};
use crate::evidence::log::{say, Screen};
use crate::self_exec::self_command;

/// What `crash-harness` runs, resolved from the command line.
pub struct HarnessOptions {
    pub seed: u64,
    /// The seed's iterations, or only the one numbered `only`.
    pub iterations: u32,
    pub only: Option<u32>,
    /// Where the iterations' WALs go (default: a temporary directory, kept on failure).
    pub dir: Option<PathBuf>,
    /// Where the results go as JSON.
    pub out: Option<PathBuf>,
    pub plan: CrashPlan,
    /// Every kill and iteration on the terminal, not one updating line.
    pub verbose: bool,
}

pub fn run(args: &HarnessOptions) -> Result<ExitCode> {
    let seed = args.seed;
    say(&format!(
        "crash harness: seed {seed} ({} iterations)",
        args.iterations
    ));
    // Without --dir, a temporary directory that is removed after a pass and kept after a failure.
    let mut tmp = None;
    let root: PathBuf = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("pm-crash-harness-")
                .tempdir()?;
            let p = t.path().to_path_buf();
            tmp = Some(t);
            p
        }
    };
    let step2 = run_crash_tests(
        seed,
        args.iterations,
        args.only,
        &args.plan,
        &root,
        &self_command,
        &mut Screen::new(args.verbose),
    )?;
    let run = &step2.run;
    if let Some(out) = &args.out {
        let records: Vec<&IterationRecord> = run.outcomes.iter().map(|o| &o.record).collect();
        let json = serde_json::json!({
            "seed": seed, "passed": run.passed(), "failed": run.failed(), "iterations": records,
            "kill_runs": step2.kills.as_ref().map(|k| &k.summary),
            "power_loss": step2.power.as_ref().map(|p| &p.summary),
        });
        std::fs::write(out, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    say(&format!(
        "crash harness: {} passed, {} failed (seed {seed})",
        run.passed(),
        run.failed()
    ));
    if step2.kills.is_some() || step2.power.is_some() {
        say(&format!("crash harness: {}", step2.summary(seed)));
    }
    for r in step2.power.iter().flat_map(|p| &p.summary.violations) {
        say(&format!("replay: {}", r.replay));
    }
    if !step2.pass() {
        for o in run.outcomes.iter().filter(|o| !o.record.pass) {
            say(&format!(
                "replay: portability-matrix crash-harness --seed {seed} --iteration {}",
                o.record.index
            ));
        }
        if let Some(t) = tmp {
            let kept = t.keep();
            say(&format!(
                "crash harness: the failing run's directories are kept in {}",
                kept.display()
            ));
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
