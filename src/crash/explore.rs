//! The power-loss explorer: every crash state of a recorded workload, checked.
//!
//! For each crash point of the trace it enumerates the states the persistence model permits,
//! exhaustively while a crash point has at most `bound` of them and by seeded sampling beyond,
//! materializes each distinct one in memory (and, optionally, a sample on the filesystem under
//! test), and runs the checks of [`super::check`]. With block faults on it then does the same
//! for the states a lying disk adds ([`super::block`]: one misdirected, stale or duplicated
//! write to the log per state), counted apart and held to the checks for damage, which let
//! recovery refuse the log. A violation is shrunk before it is reported:
//! the earliest crash point that shows it, then as few lost or torn operations as still show
//! it. Its reproducer names the seed, the crash point and each pending operation's fate, and
//! carries the command that replays exactly that state.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rand::Rng;
use serde::Serialize;
use wal::mem::MemStorage;
use wal::record::Trace;
use wal::StdStorage;

use super::check::{check_damaged_state, check_state, from_map, Checked, Expect, Finding};
use super::model::{frontiers, Fate, Frontier};
use super::narrate::{rate, Narrator};
use super::seeded::iteration_rng;
use super::workload::{record, Protocol, Workload};

/// Violations reported in full (each shrunk); the rest are counted.
const MAX_REPORTED: usize = 10;

/// What to explore.
#[derive(Debug, Clone)]
pub struct Options {
    pub workload: Workload,
    pub seed: u64,
    /// Torn writes tear at multiples of this many bytes (512 or 4096).
    pub sector: u64,
    /// A crash point with more states than this is sampled (this many draws).
    pub bound: u64,
    pub protocol: Protocol,
    /// Also check this many of the states on the real filesystem, under this directory.
    pub on_disk: Option<(PathBuf, u64)>,
    /// Also explore the states block faults add (misdirected, stale, duplicated writes).
    pub block_faults: bool,
}

/// One pending operation's fate in a reproducer.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub op: usize,
    pub what: String,
    pub fate: String,
}

/// A violation with everything needed to replay it.
#[derive(Debug, Clone, Serialize)]
pub struct Reproducer {
    pub check: String,
    pub msg: String,
    pub seed: u64,
    pub crash_point: usize,
    /// The last operation that completed before the power cut.
    pub after_op: String,
    pub choices: Vec<Choice>,
    /// `<crash point>:<fate>,…`, as `--replay` takes it.
    pub state: String,
    pub replay: String,
}

/// The exploration's evidence (the `power_loss` key of `wal_verify.json`).
#[derive(Debug, Clone, Serialize)]
pub struct PowerLoss {
    pub pass: bool,
    pub workload: String,
    pub protocol: String,
    pub seed: u64,
    pub sector_size: u64,
    pub bound: u64,
    pub operations: usize,
    pub crash_points: usize,
    /// Crash states generated (every permitted combination, or the samples drawn).
    pub states_explored: u64,
    /// Distinct directory contents among them, each recovered and checked.
    pub states_checked: u64,
    /// Whether block faults were explored too (on unless turned off).
    pub block_faults: bool,
    /// States with a block fault generated, and the distinct ones among them not already
    /// checked as a power cut's state, each checked as damage (they count toward pass).
    pub corruption_states_explored: u64,
    pub corruption_states_checked: u64,
    /// Of those, the states recovery refused as damage (the rest it recovered, keeping every
    /// acknowledged entry).
    pub corruption_states_refused: u64,
    /// Whether every permitted state of every crash point was generated (no sampling).
    pub exhaustive: bool,
    pub on_disk_states: u64,
    /// Wall time of the whole exploration, and the part spent on the on-disk states.
    pub millis: u64,
    pub on_disk_millis: u64,
    /// States checked in memory (block-fault states included) per second of in-memory work
    /// (recording included).
    pub states_per_s: f64,
    pub violating_states: u64,
    pub violations: Vec<Reproducer>,
}

/// The summary plus verifier reports for the cell's invariants (the first, and failing ones).
pub struct Exploration {
    pub summary: PowerLoss,
    pub reports: Vec<(String, wal::verify::Report)>,
}

/// Checks states of one recorded workload, and shrinks and reports the failing ones.
pub(super) struct StateChecker<'a> {
    pub(super) opts: &'a Options,
    pub(super) trace: &'a Trace,
    pub(super) dir: &'a Path,
}

impl StateChecker<'_> {
    /// `damaged`: the state has a block fault, so recovery may refuse it.
    pub(super) fn check_mem(
        &self,
        fr: &Frontier,
        image: &BTreeMap<PathBuf, Vec<u8>>,
        damaged: bool,
    ) -> Checked {
        let mem = MemStorage::new();
        mem.create_dir_all(self.dir);
        for (p, b) in image {
            // The image holds only paths the workload created inside its directory.
            let _ = mem.write_file(p, b);
        }
        self.check(fr, &mem, self.dir, damaged)
    }

    fn check<S: wal::Storage + Clone>(
        &self,
        fr: &Frontier,
        s: &S,
        dir: &Path,
        damaged: bool,
    ) -> Checked {
        let issued = fr.issued_payloads(self.trace);
        let appended = from_map(&issued);
        let exp = Expect {
            acked: fr.acked,
            issued: fr.issued,
            appended: &appended,
        };
        let probe = Some(fr.crash_point as u64);
        if damaged {
            check_damaged_state(s, dir, &exp, probe)
        } else {
            check_state(s, dir, &exp, probe)
        }
    }

    fn check_on_disk(
        &self,
        fr: &Frontier,
        image: &BTreeMap<PathBuf, Vec<u8>>,
        at: &Path,
    ) -> Result<Checked> {
        materialize(image, at)?;
        let mut c = self.check(fr, &StdStorage, at, false);
        match &mut c.finding {
            None => std::fs::remove_dir_all(at)
                .with_context(|| format!("cannot remove {}", at.display()))?,
            // Kept for inspection.
            Some(f) => {
                f.msg = format!("on the filesystem under test ({}): {}", at.display(), f.msg)
            }
        }
        Ok(c)
    }

    fn fails(&self, fr: &Frontier, fates: &[Fate]) -> Option<Finding> {
        let damaged = fr.block_fault(fates).is_some();
        self.check_mem(fr, &fr.image(self.trace, fates), damaged)
            .finding
    }

    /// Fewer lost or torn operations, while the state still fails (a block fault stays: it is
    /// what makes the state what it is).
    /// (A state that failed only on disk is reported as found.)
    fn shrink(
        &self,
        fr: &Frontier,
        mut fates: Vec<Fate>,
        mut finding: Finding,
    ) -> (Vec<Fate>, Finding) {
        if self.fails(fr, &fates).is_none() {
            return (fates, finding);
        }
        for i in 0..fates.len() {
            if fates[i].is_block_fault() {
                continue;
            }
            for simpler in [Fate::Persisted, Fate::Lost] {
                if fates[i] == simpler || (simpler == Fate::Lost && fates[i] == Fate::Persisted) {
                    continue;
                }
                let mut t = fates.clone();
                t[i] = simpler;
                // Simpler only counts when it fails the same check: a reproducer filed under
                // one check must show that check failing.
                if let Some(f) = self.fails(fr, &t).filter(|f| f.check == finding.check) {
                    fates = t;
                    finding = f;
                    break;
                }
            }
        }
        (fates, finding)
    }

    pub(super) fn reproducer(&self, fr: &Frontier, fates: &[Fate], f: Finding) -> Reproducer {
        let state = fr.state_string(fates);
        let o = self.opts;
        Reproducer {
            check: f.check.into(),
            msg: f.msg,
            seed: o.seed,
            crash_point: fr.crash_point,
            after_op: match fr.crash_point {
                0 => "none (before the first operation)".into(),
                k => format!("#{} {}", k - 1, self.trace.ops[k - 1].describe()),
            },
            choices: fr
                .choices(self.trace, fates)
                .into_iter()
                .map(|(op, what, fate)| Choice { op, what, fate })
                .collect(),
            replay: format!(
                "{} crash-explore {} --seed {} --sector {} --protocol {}{} --replay {state}",
                o.protocol.invocation(),
                o.workload.args(),
                o.seed,
                o.sector,
                o.protocol.name(),
                if o.block_faults {
                    ""
                } else {
                    " --no-block-faults"
                }
            ),
            state,
        }
    }
}

/// Writes a crash image into a real directory (created afresh).
pub fn materialize(image: &BTreeMap<PathBuf, Vec<u8>>, at: &Path) -> Result<()> {
    if at.exists() {
        std::fs::remove_dir_all(at).with_context(|| format!("cannot clear {}", at.display()))?;
    }
    std::fs::create_dir_all(at).with_context(|| format!("cannot create {}", at.display()))?;
    for (p, b) in image {
        let name = p
            .file_name()
            .context("a crash image holds a path without a file name")?;
        std::fs::write(at.join(name), b)
            .with_context(|| format!("cannot write {}", at.join(name).display()))?;
    }
    Ok(())
}

/// The state indices to check among `total`: all of them up to `bound`, else `bound` seeded draws;
/// and whether it sampled.
fn state_indices(total: u128, bound: u64, rng: &mut rand_chacha::ChaCha8Rng) -> (Vec<u128>, bool) {
    if total > u128::from(bound) {
        (
            (0..bound).map(|_| rng.random_range(0..total)).collect(),
            true,
        )
    } else {
        ((0..total).collect(), false)
    }
}

/// What an exploration found so far: counts, the verifier reports kept, the reproducers.
#[derive(Default)]
struct Tally {
    explored: u64,
    checked: u64,
    /// States with a block fault: generated, checked, refused by recovery.
    c_explored: u64,
    c_checked: u64,
    c_refused: u64,
    on_disk: u64,
    violating: u64,
    exhaustive: bool,
    disk_time: std::time::Duration,
    reports: Vec<(String, wal::verify::Report)>,
    found: Vec<Reproducer>,
    /// The checks a reproducer was already kept for (one per check).
    kinds: HashSet<&'static str>,
    /// Distinct states that passed in memory: (frontier, state index), for the on-disk sample.
    passed: Vec<(usize, u128)>,
}

impl Tally {
    /// Takes one checked state's result; true when it passed. The first violation of each
    /// check is shrunk and kept as a reproducer (up to [`MAX_REPORTED`]).
    fn take(
        &mut self,
        ctx: &StateChecker,
        fr: &Frontier,
        fates: Vec<Fate>,
        mut c: Checked,
        log: &mut dyn Narrator,
    ) -> bool {
        if let Some(r) = c.report.take() {
            if self.reports.is_empty() || !r.pass() && self.reports.len() < 5 {
                self.reports
                    .push((format!("power-loss state {}", fr.state_string(&fates)), r));
            }
        }
        let Some(f) = c.finding else { return true };
        self.violating += 1;
        if self.found.len() < MAX_REPORTED && self.kinds.insert(f.check) {
            let (fates, f) = ctx.shrink(fr, fates, f);
            let r = ctx.reproducer(fr, &fates, f);
            log.line(&format!(
                "violation ({}) at {}: {}",
                r.check, r.state, r.msg
            ));
            log.line(&format!("  replay: {}", r.replay));
            self.found.push(r);
        }
        false
    }
}

/// Explores every crash state of the workload (sampling beyond the bound) and checks each.
pub fn explore(opts: &Options, log: &mut dyn Narrator) -> Result<Exploration> {
    let started = Instant::now();
    let _protocol = opts.protocol.enable()?;
    let rec = record(opts.workload, opts.seed)?;
    let trace = &rec.trace;
    let frs = model(opts, &rec);
    let ctx = StateChecker {
        opts,
        trace,
        dir: &rec.dir,
    };
    let mut t = Tally {
        exhaustive: true,
        ..Tally::default()
    };
    let mut seen = Seen::default();
    for (k, fr) in frs.iter().enumerate() {
        explore_crash_point(&ctx, k, fr, &mut seen, &mut t, log);
        log.progress(
            &format!(
                "power loss: crash point {}, {} states checked",
                rate(
                    k as u64 + 1,
                    frs.len() as u64,
                    started.elapsed().as_secs_f64()
                ),
                t.checked
            ),
            &format!(
                "  crash point {k}: {} states explored, {} checked so far \
                 ({} with a block fault)",
                t.explored, t.checked, t.c_checked
            ),
        );
    }
    if let Some((base, n)) = &opts.on_disk {
        check_sample_on_disk(&ctx, &frs, base, *n, &mut t, log)?;
    }
    let summary = summarize(opts, trace.ops.len(), frs.len(), started, &mut t);
    log.line(&summary.describe());
    Ok(Exploration {
        summary,
        reports: t.reports,
    })
}

/// The states already checked, by [`state_hash`]: those a power cut alone can leave, and those
/// with a block fault. A state a power cut alone can leave is checked (by the stricter rules) as
/// one, never skipped because a block fault left it too.
#[derive(Default)]
struct Seen {
    plain: HashSet<u64>,
    damaged: HashSet<u64>,
}

/// Checks the states of crash point `k`: those a power cut leaves, then those a block fault
/// adds, each distinct one once.
fn explore_crash_point(
    ctx: &StateChecker,
    k: usize,
    fr: &Frontier,
    seen: &mut Seen,
    t: &mut Tally,
    log: &mut dyn Narrator,
) {
    let (opts, trace) = (ctx.opts, ctx.trace);
    let mut rng = iteration_rng(opts.seed, fr.crash_point as u32);
    let (indices, sampled) = state_indices(fr.states(trace), opts.bound, &mut rng);
    t.exhaustive &= !sampled;
    for index in indices {
        let fates = fr.fates(trace, index);
        let image = fr.image(trace, &fates);
        t.explored += 1;
        if !seen.plain.insert(state_hash(&image, fr)) {
            continue;
        }
        t.checked += 1;
        let c = ctx.check_mem(fr, &image, false);
        if t.take(ctx, fr, fates, c, log) {
            t.passed.push((k, index));
        }
    }
    let (indices, sampled) = state_indices(fr.fault_states(trace), opts.bound, &mut rng);
    t.exhaustive &= !sampled;
    for index in indices {
        let fates = fr.fault_fates(trace, index);
        let image = fr.image(trace, &fates);
        t.c_explored += 1;
        let h = state_hash(&image, fr);
        if seen.plain.contains(&h) || !seen.damaged.insert(h) {
            continue;
        }
        t.c_checked += 1;
        let c = ctx.check_mem(fr, &image, true);
        t.c_refused += u64::from(c.refused);
        t.take(ctx, fr, fates, c, log);
    }
}

/// Checks an even sample of `n` of the distinct states that passed in memory again, on the
/// filesystem under test, under `base`.
fn check_sample_on_disk(
    ctx: &StateChecker,
    frs: &[Frontier],
    base: &Path,
    n: u64,
    t: &mut Tally,
    log: &mut dyn Narrator,
) -> Result<()> {
    let passed = std::mem::take(&mut t.passed);
    let n = (n as usize).min(passed.len());
    for j in 0..n {
        let (k, index) = passed[j * passed.len() / n];
        let fr = &frs[k];
        let fates = fr.fates(ctx.trace, index);
        let image = fr.image(ctx.trace, &fates);
        t.on_disk += 1;
        let started = Instant::now();
        let c = ctx.check_on_disk(fr, &image, &base.join(format!("state-{}", t.on_disk)))?;
        t.disk_time += started.elapsed();
        t.take(ctx, fr, fates, c, log);
    }
    Ok(())
}

/// The exploration's evidence, from its tally (whose reproducers it takes).
fn summarize(
    opts: &Options,
    operations: usize,
    crash_points: usize,
    started: Instant,
    c: &mut Tally,
) -> PowerLoss {
    let millis = started.elapsed().as_millis() as u64;
    let secs = (started.elapsed() - c.disk_time).as_secs_f64().max(1e-9);
    PowerLoss {
        pass: c.violating == 0,
        workload: opts.workload.name(),
        protocol: opts.protocol.name().into(),
        seed: opts.seed,
        sector_size: opts.sector,
        bound: opts.bound,
        operations,
        crash_points,
        states_explored: c.explored,
        states_checked: c.checked,
        exhaustive: c.exhaustive,
        on_disk_states: c.on_disk,
        millis,
        on_disk_millis: c.disk_time.as_millis() as u64,
        block_faults: opts.block_faults,
        corruption_states_explored: c.c_explored,
        corruption_states_checked: c.c_checked,
        corruption_states_refused: c.c_refused,
        states_per_s: ((c.checked + c.c_checked) as f64 / secs * 10.0).round() / 10.0,
        violating_states: c.violating,
        violations: std::mem::take(&mut c.found),
    }
}

impl PowerLoss {
    /// The exploration's one line for a person.
    pub fn describe(&self) -> String {
        format!(
            "power loss: {} workload, {} protocol: {} operations, {} crash points, {} states explored \
             ({}), {} distinct checked ({} also on disk), {}; {} violating; {:.0} states/s in memory",
            self.workload,
            self.protocol,
            self.operations,
            self.crash_points,
            self.states_explored,
            if self.exhaustive {
                "exhaustive"
            } else {
                "sampled beyond the bound"
            },
            self.states_checked,
            self.on_disk_states,
            if self.block_faults {
                format!(
                    "{} with a block fault checked as damage ({} generated, \
                     {} refused by recovery)",
                    self.corruption_states_checked,
                    self.corruption_states_explored,
                    self.corruption_states_refused
                )
            } else {
                "block faults off".into()
            },
            self.violating_states,
            self.states_per_s
        )
    }
}

/// The persistence model of the recorded workload: block faults strike its log when asked for.
pub(super) fn model(opts: &Options, rec: &super::workload::Recorded) -> Vec<Frontier> {
    let log = wal::Paths::new(&rec.dir).log;
    let faulty = opts.block_faults.then_some(log.as_path());
    frontiers(&rec.trace, &rec.initial, opts.sector, faulty)
}

/// What identifies a distinct state: the directory's contents and what the oracle expects.
pub(super) fn state_hash(image: &BTreeMap<PathBuf, Vec<u8>>, fr: &Frontier) -> u64 {
    let mut h = DefaultHasher::new();
    (image, fr.acked, fr.issued).hash(&mut h);
    h.finish()
}
