//! The steps of a cell, each timed and logged the same way, and what they found together: the
//! results that `wal_verify.json` records. The seed's four, then the fault step (step 5, off
//! with `--no-faults`).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::cmd::CELL_ON_DISK_STATES;
use super::fixture::known_good_fixture;
use super::lock_probe::lock_probe;
use super::options::CellOptions;
use super::rename::rename_check;
use crate::coverage::Minimums;
use crate::crash::narrate::Narrator;
use crate::crash::suite::{run_crash_tests, CrashPlan, CrashResults};
use crate::evidence::log::Log;
use crate::evidence::record::{
    self as report, FaultsSection, InvariantResult, Invariants, StepResult, Violation,
};
use crate::faults::run_faults;
use crate::self_exec::self_command;

/// What the four steps found.
pub struct StepResults {
    pub conformance: StepResult,
    pub checks: Vec<wal::conformance::CheckResult>,
    pub crash: StepResult,
    pub crash_results: Option<CrashResults>,
    pub fixture: StepResult,
    pub rename: StepResult,
    /// The fault step, when it ran.
    pub faults_step: Option<StepResult>,
    pub faults: FaultsSection,
    /// Every verified WAL's invariants merged, and their violations, with where they came from.
    pub invariants: Invariants,
    pub violations: Vec<Violation>,
}

impl StepResults {
    pub fn pass(&self) -> bool {
        self.conformance.pass
            && self.crash.pass
            && self.fixture.pass
            && self.rename.pass
            && self.faults_step.as_ref().is_none_or(|s| s.pass)
    }
}

/// Runs the steps in `work` (on a filesystem of type `fs`), keeping the fixture in
/// `keep_fixture`.
pub fn run_steps(
    args: &CellOptions,
    work: &Path,
    fs: &str,
    keep_fixture: &Path,
    log: &mut Log,
) -> StepResults {
    let (conformance, checks) = step(log, "step 1: conformance suite", |log| {
        conformance_step(&work.join("conformance"), log)
    });
    let mut invariants = Invariants::new();
    let mut violations = Vec::new();
    let (crash, crash_results) = step(log, "step 2: crash harness", |log| {
        let results = crash_step(args, &work.join("harness"), log)?;
        for (source, r) in results.reports() {
            report::merge_invariants(&mut invariants, &source, report::invariants(r));
            violations.extend(report::violations(r, &source));
        }
        let short = results.coverage().shortfalls(&Minimums::DEFAULT);
        let mut msg = results.summary(args.seed);
        if !short.is_empty() {
            msg.push_str(&format!(
                "; not certified: crash testing below the minimums: {}",
                short.join(", ")
            ));
        }
        Ok((results.pass() && short.is_empty(), msg, results))
    });
    let (fixture, fixture_report) = step(log, "step 3: known-good fixture", |_| {
        let r = known_good_fixture(&work.join("fixture"), keep_fixture)?;
        let ok = r.pass() && r.frames == 5 && r.safe_seq.get() == 5;
        let msg = format!(
            "{} frames, safe_seq {}, {} violations",
            r.frames,
            r.safe_seq,
            r.violations.len()
        );
        Ok((ok, msg, r))
    });
    if let Some(r) = &fixture_report {
        report::merge_invariants(&mut invariants, "fixture", report::invariants(r));
        violations.extend(report::violations(r, "fixture"));
    }
    if invariants.is_empty() {
        mark_unchecked(&mut invariants);
    }
    let (rename, _) = step(log, "step 4: atomic rename", |_| {
        let msg = rename_check(&work.join("rename"), args.seed)?;
        Ok((true, msg, ()))
    });
    let (faults_step, faults) = if args.faults {
        let (r, section) = step(log, "step 5: faults", |log| {
            let dir = work.join("faults");
            std::fs::create_dir_all(&dir)?;
            let section = run_faults(
                args.seed,
                None,
                &dir,
                fs,
                args.block_replay,
                &self_command,
                &mut Indented(log),
            );
            Ok((section.pass, faults_summary(&section), section))
        });
        (
            Some(r),
            section.unwrap_or_else(|| FaultsSection::disabled(args.seed)),
        )
    } else {
        log.line("== step 5: faults == skipped (--no-faults)");
        (None, FaultsSection::disabled(args.seed))
    };
    StepResults {
        conformance,
        checks: checks.unwrap_or_default(),
        crash,
        crash_results,
        fixture,
        rename,
        faults_step,
        faults,
        invariants,
        violations,
    }
}

/// One line: each kind's verdict and how many faults it injected.
fn faults_summary(s: &FaultsSection) -> String {
    let kinds: Vec<String> = s
        .kinds
        .iter()
        .map(|k| match &k.reason {
            Some(r) => format!("{} SKIP ({r})", k.kind),
            None => format!(
                "{} {} ({} injected, {} violations)",
                k.kind,
                k.status,
                k.injected,
                k.violations.len()
            ),
        })
        .collect();
    format!("{} (seed {})", kinds.join("; "), s.seed)
}

/// Runs one step: logs its name, times it, and turns an error into a failed step.
fn step<T>(
    log: &mut Log,
    name: &str,
    f: impl FnOnce(&mut Log) -> Result<(bool, String, T)>,
) -> (StepResult, Option<T>) {
    log.line(&format!("== {name} =="));
    let started = Instant::now();
    let (pass, msg, value) = match f(log) {
        Ok((pass, msg, v)) => (pass, msg, Some(v)),
        Err(e) => (false, format!("{e:#}"), None),
    };
    let millis = started.elapsed().as_millis() as u64;
    log.line(&format!(
        "{name}: {} ({msg}) [{millis} ms]",
        if pass { "PASS" } else { "FAIL" }
    ));
    (StepResult { pass, msg, millis }, value)
}

/// Step 1: the WAL's conformance suite, with the lock probed from a second process.
fn conformance_step(
    dir: &Path,
    log: &mut Log,
) -> Result<(bool, String, Vec<wal::conformance::CheckResult>)> {
    let probe = |d: &Path| lock_probe(d);
    let results = wal::conformance::run_all(dir, Some(&probe));
    for r in &results {
        log.line(&format!(
            "  {:<5} {} {} ({})",
            r.id,
            if r.pass { "PASS" } else { "FAIL" },
            r.claim,
            r.msg
        ));
    }
    let failed = results.iter().filter(|r| !r.pass).count();
    let msg = format!(
        "{} of {} checks passed",
        results.len() - failed,
        results.len()
    );
    Ok((failed == 0, msg, results))
}

/// Step 2: the seed's iterations, then (unless only the seed's steps run) the kill -9 runs and
/// the power-loss exploration.
fn crash_step(args: &CellOptions, root: &Path, log: &mut Log) -> Result<CrashResults> {
    let plan = CrashPlan {
        seed_iterations: true,
        kills: if args.seed_steps_only { 0 } else { args.kills },
        kill_max_delay_ms: 20,
        explore_bound: (!args.seed_steps_only).then_some(args.explore_bound),
        on_disk_states: CELL_ON_DISK_STATES,
        block_faults: args.block_faults,
    };
    run_crash_tests(
        args.seed,
        args.iterations,
        None,
        &plan,
        root,
        &self_command,
        &mut Indented(log),
    )
}

/// The crash tests' lines, indented under their step's heading.
struct Indented<'a>(&'a mut Log);

impl Narrator for Indented<'_> {
    fn line(&mut self, s: &str) {
        self.0.line(&format!("  {s}"));
    }

    fn progress(&mut self, status: &str, detail: &str) {
        self.0
            .progress(&format!("  {status}"), &format!("  {detail}"));
    }
}

/// With no WAL verified at all, every invariant is recorded as failed: nothing was shown.
fn mark_unchecked(invariants: &mut Invariants) {
    for inv in wal::verify::Invariant::ALL {
        invariants.insert(
            inv.key().into(),
            InvariantResult {
                pass: false,
                msg: "not checked: no WAL was verified".into(),
            },
        );
    }
}
