//! kill -9: a real writer process, killed at a random moment, and what it had acknowledged.
//!
//! The parent spawns this same binary as a hidden `crash-writer` that opens the WAL (running
//! recovery on whatever the previous kill left) and appends entries, printing `ack <seq>` on
//! stdout after each append returns. After a seeded random delay the parent sends SIGKILL, reads
//! the acknowledgements that reached the pipe, and checks a copy of the directory: recovery
//! opens it, every acknowledged seq is there with the exact bytes (payloads are a function of
//! seed and seq, so the parent knows them without being told), nothing was invented, the
//! on-disk safe_seq matches (S1), and R1-R5 hold. The original directory is left as the kill
//! left it, so the next writer's own recovery runs on real kill leftovers; every
//! [`PER_DIR`] kills a fresh directory keeps the log small. The kill only stops the process: the
//! page cache survives, which is why power loss is explored separately.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use wal::{StdStorage, Wal};

use super::check::{check_state, Expect};
use super::narrate::{rate, Narrator};
use super::seeded::{self, random_payload};

/// Kills per directory before a fresh one is started.
pub const PER_DIR: u32 = 10;
/// The most entries one append of the writer commits.
const MAX_BATCH: u64 = 3;
/// How long a writer may take to open its WAL (emulated binaries start slowly).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The payload the writer appends as `seq` in a run with `seed`.
pub fn writer_payload(seed: u64, seq: u64) -> Vec<u8> {
    random_payload(&mut rng(seed, seq), seq)
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    seeded::stream(seed, seeded::WRITER, stream)
}

/// The hidden `crash-writer` subcommand: append until killed (or `max` entries).
pub fn run_writer(dir: &Path, seed: u64, max: u64) -> Result<ExitCode> {
    let mut wal =
        Wal::open(dir).with_context(|| format!("cannot open the WAL in {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", wal.safe_seq())?;
    out.flush()?;
    while wal.safe_seq().get() < max {
        let first = wal.safe_seq().get() + 1;
        let n = rng(seed, first).random_range(1..=MAX_BATCH);
        let payloads: Vec<Vec<u8>> = (first..first + n)
            .map(|s| writer_payload(seed, s))
            .collect();
        let last = wal.append_batch(&payloads)?;
        writeln!(out, "ack {}", last.end())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What to run.
pub struct Options {
    pub seed: u64,
    pub kills: u32,
    pub max_delay_ms: u64,
    pub root: PathBuf,
}

/// A kill after which a check failed.
#[derive(Debug, Clone, Serialize)]
pub struct KillViolation {
    pub kill: u32,
    pub dir: String,
    pub acknowledged: u64,
    pub check: String,
    pub msg: String,
    pub replay: String,
}

/// The kill runs' evidence (the `kill_runs` key of `wal_verify.json`).
#[derive(Debug, Clone, Serialize)]
pub struct KillRuns {
    pub pass: bool,
    pub seed: u64,
    pub kills: u32,
    /// Writers that really died of SIGKILL (the rest had exited or failed before it).
    pub killed_by_sigkill: u32,
    /// Acknowledged appends over all kills, and the entries found after the last kill of each
    /// directory.
    pub acknowledged_appends: u64,
    pub max_delay_ms: u64,
    pub millis: u64,
    pub kills_per_s: f64,
    pub violations: Vec<KillViolation>,
}

/// The summary plus verifier reports (the first, and failing ones).
pub struct KillOutcome {
    pub summary: KillRuns,
    pub reports: Vec<(String, wal::verify::Report)>,
}

/// Runs `opts.kills` writers and kills each, checking after every kill.
pub fn run_kills(
    opts: &Options,
    spawn: &dyn Fn() -> Result<Command, String>,
    log: &mut dyn Narrator,
) -> Result<KillOutcome> {
    let started = Instant::now();
    let mut s = KillRuns {
        pass: true,
        seed: opts.seed,
        kills: 0,
        killed_by_sigkill: 0,
        acknowledged_appends: 0,
        max_delay_ms: opts.max_delay_ms,
        millis: 0,
        kills_per_s: 0.0,
        violations: Vec::new(),
    };
    let mut reports = Vec::new();
    let mut must = MustSurvive::default();
    for i in 0..opts.kills {
        let dir = opts.root.join(format!("kill-{}", i / PER_DIR));
        if i % PER_DIR == 0 {
            must = MustSurvive::default();
            fresh_dir(&dir)?;
        }
        let mut r = rng(opts.seed, (1 << 40) + u64::from(i));
        let delay = Duration::from_micros(r.random_range(0..=opts.max_delay_ms * 1000));
        let from_spawn = r.random_bool(0.2);
        let one = kill_one(spawn, &dir, opts.seed, delay, from_spawn)?;
        s.kills += 1;
        s.killed_by_sigkill += u32::from(one.killed);
        s.acknowledged_appends += one.acks;
        must.acked = must.acked.max(one.last_ack);
        let outcome = match &one.failure {
            Some(why) => Err(("writer", why.clone())),
            None => {
                let c = check_kill(opts, &dir, &one, &mut must)?;
                if let Some(r) = c.report {
                    if reports.is_empty() || !r.pass() && reports.len() < 5 {
                        reports.push((format!("kill {i}"), r));
                    }
                }
                match c.finding {
                    Some(f) => Err((f.check, f.msg)),
                    None => Ok(c.recovered),
                }
            }
        };
        match outcome {
            Err((check, msg)) => {
                log.line(&format!("  kill {i}: FAIL ({check}) {msg}"));
                s.violations.push(KillViolation {
                    kill: i,
                    dir: dir.display().to_string(),
                    acknowledged: must.acked,
                    check: check.into(),
                    msg,
                    replay: format!(
                        "portability-matrix crash-harness --fault kill --seed {} --kills {} \
                         (kill timing is seeded but not exact: rerun to reproduce)",
                        opts.seed, opts.kills
                    ),
                });
            }
            Ok(recovered) => log.progress(
                &format!(
                    "kill -9: {}",
                    rate(
                        u64::from(i) + 1,
                        u64::from(opts.kills),
                        started.elapsed().as_secs_f64()
                    )
                ),
                &format!(
                    "  kill {i}: {} after {:.1} ms; {} acknowledged, {recovered} recovered in {}",
                    if one.killed { "SIGKILL" } else { "exited" },
                    delay.as_secs_f64() * 1000.0,
                    must.acked,
                    dir.file_name().unwrap_or_default().to_string_lossy()
                ),
            ),
        }
    }
    s.pass = s.violations.is_empty();
    s.millis = started.elapsed().as_millis() as u64;
    s.kills_per_s =
        (f64::from(s.kills) / started.elapsed().as_secs_f64().max(1e-9) * 10.0).round() / 10.0;
    log.line(&format!(
        "kill -9: {} kills ({} by SIGKILL), {} acknowledged appends, {} violations; {:.1} kills/s",
        s.kills,
        s.killed_by_sigkill,
        s.acknowledged_appends,
        s.violations.len(),
        s.kills_per_s
    ));
    Ok(KillOutcome {
        summary: s,
        reports,
    })
}

/// Entries that must survive in the current directory: every acknowledged one, and every one
/// an earlier check found committed (committed entries never go away).
#[derive(Default)]
struct MustSurvive {
    acked: u64,
    committed: u64,
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Checks a copy of `dir` as the kill `one` left it; what recovery kept must survive from then on.
fn check_kill(
    opts: &Options,
    dir: &Path,
    one: &OneKill,
    must: &mut MustSurvive,
) -> Result<super::check::Checked> {
    let copy = opts.root.join("kill-check");
    copy_dir(dir, &copy)?;
    let seed = opts.seed;
    let appended = move |seq: u64, p: &[u8]| writer_payload(seed, seq) == p;
    // The writer appends one batch at a time: nothing past one batch beyond where it started
    // or its last acknowledgement can have been written.
    let base = must.acked.max(must.committed).max(one.started_at);
    let exp = Expect {
        acked: must.acked.max(must.committed),
        issued: base + MAX_BATCH,
        appended: &appended,
    };
    let c = check_state(&StdStorage, &copy, &exp, None);
    must.committed = must.committed.max(c.recovered);
    Ok(c)
}

/// What one killed writer did.
pub(super) struct OneKill {
    pub killed: bool,
    /// The safe_seq the writer reported after opening (0 if it died before).
    pub started_at: u64,
    pub acks: u64,
    pub last_ack: u64,
    pub failure: Option<String>,
}

/// Starts a writer on `dir`, kills it after `delay` (from its spawn, or from its `ready`), and
/// says what it acknowledged.
pub(super) fn kill_one(
    spawn: &dyn Fn() -> Result<Command, String>,
    dir: &Path,
    seed: u64,
    delay: Duration,
    from_spawn: bool,
) -> Result<OneKill> {
    let mut cmd = spawn().map_err(anyhow::Error::msg)?;
    let mut child = cmd
        .arg("crash-writer")
        .arg("--dir")
        .arg(dir)
        .arg("--seed")
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot spawn the crash writer")?;
    let stdout = child
        .stdout
        .take()
        .context("the writer has no stdout pipe")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut failure = None;
    if !from_spawn {
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failure = Some(format!(
                    "the writer did not open its WAL within {} s",
                    READY_TIMEOUT.as_secs()
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
    }
    if failure.is_none() {
        std::thread::sleep(delay);
    }
    // ESRCH means it is already gone; wait() tells how.
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let status = child.wait().context("cannot wait for the crash writer")?;
    let _ = reader.join();
    lines.extend(rx.try_iter());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let killed = status.signal() == Some(Signal::SIGKILL as i32);
    let acks: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ack ").and_then(|n| n.parse().ok()))
        .collect();
    if failure.is_none() && !killed && !status.success() {
        failure = Some(format!(
            "the writer failed on its own ({status}) before the kill: {}",
            stderr.trim()
        ));
    }
    let started_at = lines
        .iter()
        .find_map(|l| l.strip_prefix("ready ").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    Ok(OneKill {
        killed,
        started_at,
        acks: acks.len() as u64,
        last_ack: acks.iter().copied().max().unwrap_or(0),
        failure,
    })
}

/// Copies the regular files of `from` into `to` (made afresh).
pub(super) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("cannot clear {}", to.display()))?;
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
        }
    }
    Ok(())
}
