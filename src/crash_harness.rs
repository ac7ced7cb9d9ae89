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

use crate::cli::{CrashHarnessArgs, HarnessFault};
use crate::crash::leftovers::IterationRecord;
use crate::crash::seeded::clock_seed;
use crate::crash::suite::{run_crash_tests, CrashPlan};
use crate::evidence::log::say;
use crate::self_exec::self_command;

pub fn run(args: &CrashHarnessArgs) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(clock_seed);
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
    let all = args.fault == HarnessFault::All && args.iteration.is_none();
    let plan = CrashPlan {
        seed_iterations: matches!(args.fault, HarnessFault::All | HarnessFault::Seed),
        kills: if all || args.fault == HarnessFault::Kill {
            args.kills
        } else {
            0
        },
        kill_max_delay_ms: args.kill_max_delay_ms,
        explore_bound: (all || args.fault == HarnessFault::PowerLoss).then_some(4096),
        on_disk_states: 0,
    };
    let step2 = run_crash_tests(
        seed,
        args.iterations,
        args.iteration,
        &plan,
        &root,
        &self_command,
        &mut |l| say(l),
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
