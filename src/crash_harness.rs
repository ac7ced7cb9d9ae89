//! `portability-matrix crash-harness`: the seeded randomized crash harness (cell step 2).
//!
//! Each iteration writes N committed entries, leaves behind what a crash inside the commit
//! protocol leaves (a phantom frame, a torn tail frame, a stale safe_seq `.tmp`, or a phantom
//! followed by a torn frame), reopens the WAL and checks that exactly the N acknowledged entries
//! survive, byte for byte, with safe_seq N on disk and every invariant holding.
//!
//! All randomness comes from ChaCha8 seeded by the run's seed, and iteration i draws from its own
//! stream (`set_stream(i)`), so `--seed S --iteration I` replays exactly one iteration of a run
//! without replaying the others.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wal::{inject, Seq, StdStorage, Wal};

use crate::cli::{CrashHarnessArgs, HarnessFault};
use crate::crash::step2::{run_step2, Parts};
use crate::report::IterationRecord;

/// What a crash left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The seed's fault: a well-formed frame N+1 without its safe_seq update (S3).
    Phantom,
    /// Part of frame N+1 (S5).
    TornTail,
    /// safe_seq N+1 in the `.tmp`, never renamed (S4).
    StaleTmp,
    /// A phantom frame N+1 followed by part of frame N+2.
    PhantomAndTorn,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::Phantom,
        Fault::TornTail,
        Fault::StaleTmp,
        Fault::PhantomAndTorn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Phantom => "phantom",
            Fault::TornTail => "torn_tail",
            Fault::StaleTmp => "stale_tmp",
            Fault::PhantomAndTorn => "phantom_and_torn",
        }
    }
}

/// A seed from the clock, kept below 2^53 so that every JSON reader (jq, JavaScript) reads the
/// seed in `wal_verify.json` back exactly.
pub fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos & ((1 << 53) - 1)
}

/// The random stream of one iteration.
pub fn iteration_rng(seed: u64, index: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(index));
    rng
}

/// A random telemetry record.
pub(crate) fn random_payload(rng: &mut ChaCha8Rng, i: u64) -> Vec<u8> {
    let pad_len = rng.random_range(0..400);
    let pad: String = (0..pad_len)
        .map(|_| rng.random_range(b'a'..=b'z') as char)
        .collect();
    format!(
        r#"{{"i":{i},"metric":"m{}","value":{},"note":"{pad}","ok":{}}}"#,
        rng.random_range(0..50),
        rng.random_range(-1_000_000i64..1_000_000),
        rng.random_bool(0.5)
    )
    .into_bytes()
}

/// The outcome of one iteration: its record and the verifier's report on the recovered WAL.
pub struct IterationOutcome {
    pub record: IterationRecord,
    pub verify: Option<wal::verify::Report>,
}

/// Runs iteration `index` of the run with `seed` in a fresh `root/iter-<index>`.
pub fn run_iteration(seed: u64, index: u32, root: &Path) -> IterationOutcome {
    let mut rng = iteration_rng(seed, index);
    let n = rng.random_range(1..=10u64);
    let fault = Fault::ALL[rng.random_range(0..Fault::ALL.len())];
    let payloads: Vec<Vec<u8>> = (1..=n).map(|i| random_payload(&mut rng, i)).collect();
    let extra = [
        random_payload(&mut rng, n + 1),
        random_payload(&mut rng, n + 2),
    ];
    let torn_keep = rng.random_range(1..16 + extra[1].len());
    let dir = root.join(format!("iter-{index}"));
    let result = iterate(&dir, n, fault, &payloads, &extra, torn_keep);
    let (pass, message, verify) = match result {
        Ok((msg, report)) => (
            report.pass(),
            if report.pass() {
                msg
            } else {
                verifier_msg(&report)
            },
            Some(report),
        ),
        Err(e) => (false, format!("{e:#}"), None),
    };
    IterationOutcome {
        record: IterationRecord {
            index,
            n,
            fault: fault.name().into(),
            pass,
            message,
        },
        verify,
    }
}

fn verifier_msg(r: &wal::verify::Report) -> String {
    let mut s = String::from("the verifier found violations after recovery:");
    for v in r.violations.iter().take(3) {
        let _ = write!(s, " {:?}: {};", v.code, v.msg);
    }
    s
}

fn iterate(
    dir: &Path,
    n: u64,
    fault: Fault,
    payloads: &[Vec<u8>],
    extra: &[Vec<u8>; 2],
    torn_keep: usize,
) -> Result<(String, wal::verify::Report)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut wal = Wal::open(dir)?;
    for (i, p) in payloads.iter().enumerate() {
        let s = wal.append(p)?;
        anyhow::ensure!(s.get() == i as u64 + 1, "append {} returned seq {s}", i + 1);
    }
    drop(wal);
    let s = &StdStorage;
    let next = Seq::new(n + 1);
    match fault {
        Fault::Phantom => drop(inject::phantom_frame(s, dir, next, &extra[0])?),
        Fault::TornTail => drop(inject::torn_frame(s, dir, next, &extra[1], torn_keep)?),
        Fault::StaleTmp => inject::stale_tmp(s, dir, next)?,
        Fault::PhantomAndTorn => {
            inject::phantom_frame(s, dir, next, &extra[0])?;
            inject::torn_frame(s, dir, Seq::new(n + 2), &extra[1], torn_keep)?;
        }
    }
    let wal = Wal::open(dir).context("recovery failed")?;
    let rec = wal.recovery().clone();
    let entries: Vec<wal::Entry> = wal.read_from(Seq::ZERO).collect::<Result<_, _>>()?;
    anyhow::ensure!(
        entries.len() as u64 == n,
        "read_from(0) yielded {} entries, not {n}",
        entries.len()
    );
    for (i, e) in entries.iter().enumerate() {
        anyhow::ensure!(
            e.seq.get() == i as u64 + 1,
            "entry {} has seq {}",
            i + 1,
            e.seq
        );
        anyhow::ensure!(
            e.payload == payloads[i],
            "entry {} does not hold the payload appended",
            e.seq
        );
    }
    drop(wal);
    let on_disk = wal::read_safe_seq(&StdStorage, &wal::Paths::new(dir))?;
    anyhow::ensure!(
        on_disk.get() == n,
        "on-disk safe_seq is {on_disk} after recovery, not {n}"
    );
    anyhow::ensure!(
        !wal::Paths::new(dir).safe_seq_tmp.exists(),
        "the safe_seq .tmp survived recovery"
    );
    let expected = match fault {
        Fault::Phantom => rec.phantom_frames == 1 && !rec.discarded_damaged_tail,
        Fault::TornTail => rec.phantom_frames == 0 && rec.discarded_damaged_tail,
        Fault::StaleTmp => rec.removed_stale_tmp && rec.truncated_bytes == 0,
        Fault::PhantomAndTorn => rec.phantom_frames == 1 && rec.discarded_damaged_tail,
    };
    anyhow::ensure!(
        expected,
        "recovery did not report the {} it should have undone: {rec:?}",
        fault.name()
    );
    let report = wal::verify::verify_dir(dir)?;
    Ok((
        format!(
            "{n} entries survived; recovery undid the {} ({} bytes cut)",
            fault.name(),
            rec.truncated_bytes
        ),
        report,
    ))
}

/// A whole run: every iteration (or the one asked for).
pub struct RunOutcome {
    pub outcomes: Vec<IterationOutcome>,
}

impl RunOutcome {
    pub fn passed(&self) -> u32 {
        self.outcomes.iter().filter(|o| o.record.pass).count() as u32
    }
    pub fn failed(&self) -> u32 {
        self.outcomes.len() as u32 - self.passed()
    }
}

/// Runs iterations `0..iterations` (or only `only`) under `root`, printing a line per iteration.
pub fn run_harness(
    seed: u64,
    iterations: u32,
    only: Option<u32>,
    root: &Path,
    log: &mut dyn FnMut(&str),
) -> RunOutcome {
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..iterations,
    };
    let outcomes: Vec<IterationOutcome> = range
        .map(|i| {
            let o = run_iteration(seed, i, root);
            let r = &o.record;
            log(&format!(
                "iteration {:>3}: N={:<2} fault={:<16} {} {}",
                r.index,
                r.n,
                r.fault,
                if r.pass { "PASS" } else { "FAIL" },
                r.message
            ));
            o
        })
        .collect();
    RunOutcome { outcomes }
}

pub fn run(args: &CrashHarnessArgs) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(clock_seed);
    crate::evidence::say(&format!(
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
    let parts = Parts {
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
    let step2 = run_step2(
        seed,
        args.iterations,
        args.iteration,
        &parts,
        &root,
        &mut |l| crate::evidence::say(l),
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
    crate::evidence::say(&format!(
        "crash harness: {} passed, {} failed (seed {seed})",
        run.passed(),
        run.failed()
    ));
    if step2.kills.is_some() || step2.power.is_some() {
        crate::evidence::say(&format!("crash harness: {}", step2.summary(seed)));
    }
    for r in step2.power.iter().flat_map(|p| &p.summary.violations) {
        crate::evidence::say(&format!("replay: {}", r.replay));
    }
    if !step2.pass() {
        for o in run.outcomes.iter().filter(|o| !o.record.pass) {
            crate::evidence::say(&format!(
                "replay: portability-matrix crash-harness --seed {seed} --iteration {}",
                o.record.index
            ));
        }
        if let Some(t) = tmp {
            let kept = t.keep();
            crate::evidence::say(&format!(
                "crash harness: the failing run's directories are kept in {}",
                kept.display()
            ));
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(fault: Fault) -> (String, wal::verify::Report) {
        let root = tempfile::tempdir().unwrap();
        let payloads: Vec<Vec<u8>> = (1..=4)
            .map(|i| format!("{{\"i\":{i}}}").into_bytes())
            .collect();
        let extra = [
            b"{\"i\":5}".to_vec(),
            b"{\"i\":6,\"pad\":\"xxxxxxxx\"}".to_vec(),
        ];
        iterate(&root.path().join("w"), 4, fault, &payloads, &extra, 20).unwrap()
    }

    #[test]
    fn phantom_frame_is_discarded_on_recovery() {
        let (msg, report) = one(Fault::Phantom);
        assert!(report.pass() && msg.contains("phantom"), "{msg}");
    }

    #[test]
    fn torn_tail_frame_is_truncated_on_recovery() {
        let (msg, report) = one(Fault::TornTail);
        assert!(report.pass() && msg.contains("20 bytes cut"), "{msg}");
    }

    #[test]
    fn stale_safe_seq_tmp_is_removed_on_recovery() {
        let (msg, report) = one(Fault::StaleTmp);
        assert!(report.pass() && msg.contains("0 bytes cut"), "{msg}");
    }

    #[test]
    fn phantom_plus_torn_tail_are_both_discarded_on_recovery() {
        let (msg, report) = one(Fault::PhantomAndTorn);
        assert!(report.pass() && msg.contains("phantom_and_torn"), "{msg}");
    }

    #[test]
    fn each_iteration_draws_from_its_own_stream() {
        let mut a = iteration_rng(7, 3);
        let mut b = iteration_rng(7, 3);
        let mut c = iteration_rng(7, 4);
        let (x, y, z): (u64, u64, u64) = (a.random(), b.random(), c.random());
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn clock_seeds_are_exact_in_json_doubles() {
        let s = clock_seed();
        assert!(s < 1 << 53);
        assert_eq!(s as f64 as u64, s);
    }

    #[test]
    fn an_iteration_that_cannot_set_up_fails_with_a_message_instead_of_panicking() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("iter-0"), "in the way").unwrap();
        let o = run_iteration(1, 0, root.path());
        assert!(!o.record.pass);
        assert!(
            o.record.message.contains("cannot clear"),
            "{}",
            o.record.message
        );
    }
}
