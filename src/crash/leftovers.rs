//! The seed's crash harness: injected leftovers of a crash inside the commit protocol.
//!
//! Each iteration writes N committed entries, leaves behind what a crash inside the commit
//! protocol leaves (a phantom frame, a torn tail frame, a stale safe_seq `.tmp`, or a phantom
//! followed by a torn frame), reopens the WAL and checks that exactly the N acknowledged entries
//! survive, byte for byte, with safe_seq N on disk and every invariant holding.
//!
//! Iteration i draws from its own seeded stream ([`super::seeded`]), so `--seed S --iteration I`
//! replays exactly one iteration of a run without replaying the others.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use rand::Rng;
use serde::Serialize;
use wal::{inject, Seq, StdStorage, Wal};

use super::narrate::{rate, Narrator};
use super::seeded::{iteration_rng, random_payload};

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

/// One crash-harness iteration, as `wal_verify.json`'s `iterations` records it.
#[derive(Debug, Clone, Serialize)]
pub struct IterationRecord {
    pub index: u32,
    pub n: u64,
    pub fault: String,
    pub pass: bool,
    pub message: String,
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
pub struct Iterations {
    pub outcomes: Vec<IterationOutcome>,
}

impl Iterations {
    pub fn passed(&self) -> u32 {
        self.outcomes.iter().filter(|o| o.record.pass).count() as u32
    }
    pub fn failed(&self) -> u32 {
        self.outcomes.len() as u32 - self.passed()
    }
}

/// Runs iterations `0..iterations` (or only `only`) under `root`, printing a line per iteration.
pub fn run_iterations(
    seed: u64,
    iterations: u32,
    only: Option<u32>,
    root: &Path,
    log: &mut dyn Narrator,
) -> Iterations {
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..iterations,
    };
    let started = std::time::Instant::now();
    let total = range.len() as u64;
    let outcomes: Vec<IterationOutcome> = range
        .enumerate()
        .map(|(done, i)| {
            let o = run_iteration(seed, i, root);
            let r = &o.record;
            let detail = format!(
                "iteration {:>3}: N={:<2} fault={:<16} {} {}",
                r.index,
                r.n,
                r.fault,
                if r.pass { "PASS" } else { "FAIL" },
                r.message
            );
            if r.pass {
                let status = rate(done as u64 + 1, total, started.elapsed().as_secs_f64());
                log.progress(&format!("crash harness: {status}"), &detail);
            } else {
                log.line(&detail);
            }
            o
        })
        .collect();
    Iterations { outcomes }
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
