//! The `file-size-limit` kind: a real short write from the real kernel, without root.
//!
//! A file-size limit (`RLIMIT_FSIZE`) makes the kernel cut a `write` that crosses it short, and
//! refuse the next one with EFBIG, exactly as a filesystem running out of space part-way through
//! a write does. So this kind spawns this binary's hidden `fault-writer` as a child, which lowers
//! its own limit to a size drawn from the seed, blocks SIGXFSZ (a blocked signal, like an
//! ignored one, turns the kill into EFBIG; blocking needs no signal handler), and runs the real
//! `StdStorage` code: it appends until an append fails, then tries once more. The parent reads
//! what it acknowledged and checks the directory without the limit. This is what shows that the
//! real file code handles a short count: one `write_at` taken for the whole write acknowledges a
//! frame that is not all there, and recovery then refuses the log.
//!
//! The first run's limit lies inside the log's 8-byte header, so the log's creation meets the
//! short write (the start-up path); the others land inside some frame.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use rand::Rng;
use wal::StdStorage;

use super::kind::{replay_line, Kind, KindOutcome};
use super::writer::{judge, write_until_failure, WriterReport};
use crate::crash::seeded;

/// The stream of the limits ("fsiz").
const SALT: u64 = 0x6673_697a;
/// Writer runs per cell.
pub const RUNS: u64 = 6;
/// The most entries a writer appends: far past any limit drawn (payloads are 60 to 470 bytes).
const MAX_ENTRIES: u64 = 400;

/// The limit of run `i`: inside the header for run 0, else 1 to 16 KiB into the log.
pub fn limit(seed: u64, i: u64) -> u64 {
    let mut rng = seeded::stream(seed, SALT, i);
    if i == 0 {
        rng.random_range(1..wal::format::FILE_HEADER_LEN)
    } else {
        rng.random_range(1024..16 * 1024)
    }
}

/// The hidden `fault-writer` subcommand: under a file-size limit of `limit` bytes, append until
/// an append fails, saying each step on stdout.
pub fn run_writer(dir: &Path, seed: u64, limit: u64) -> Result<ExitCode> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGXFSZ);
    set.thread_block().context("cannot block SIGXFSZ")?;
    let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE).context("cannot read RLIMIT_FSIZE")?;
    setrlimit(Resource::RLIMIT_FSIZE, limit, hard).context("cannot set RLIMIT_FSIZE")?;
    let mut stdout = std::io::stdout().lock();
    write_until_failure(StdStorage, dir, seed, MAX_ENTRIES, &mut |l| {
        let _ = writeln!(stdout, "{l}");
        let _ = stdout.flush();
    });
    Ok(ExitCode::SUCCESS)
}

/// Runs the writer under each seeded limit, in a fresh directory under `root` each, and checks.
pub fn run(
    seed: u64,
    root: &Path,
    spawn: &dyn Fn() -> Result<Command, String>,
) -> Result<KindOutcome> {
    let started = Instant::now();
    let mut out = KindOutcome::new(Kind::FileSizeLimit);
    let (mut startup, mut poisoned) = (0, 0);
    for i in 0..RUNS {
        let dir = root.join(format!("fsize-{i}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let limit = limit(seed, i);
        let report = spawn_writer(spawn, &dir, seed, limit)?;
        out.runs += 1;
        if report.met_fault() {
            out.injected += 1;
        }
        startup += u64::from(report.open_failed.is_some());
        poisoned += u64::from(report.poisoned == Some(true));
        let replay = replay_line(Kind::FileSizeLimit, seed);
        for mut v in judge(&report, &StdStorage, &dir, seed, &replay) {
            v.msg = format!("run {i} (limit {limit} bytes): {}", v.msg);
            out.violations.push(v);
        }
        if out.violations.is_empty() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    out.wal = format!(
        "{} of {} writers under a file-size limit met a short write or EFBIG ({startup} while \
         creating the log); every failed append was refused, {poisoned} writers were poisoned; \
         recovery without the limit {}",
        out.injected,
        out.runs,
        out.recovery_verdict()
    );
    out.millis = started.elapsed().as_millis() as u64;
    Ok(out)
}

fn spawn_writer(
    spawn: &dyn Fn() -> Result<Command, String>,
    dir: &Path,
    seed: u64,
    limit: u64,
) -> Result<WriterReport> {
    let mut cmd = spawn().map_err(anyhow::Error::msg)?;
    let child = cmd
        .arg("fault-writer")
        .arg("--dir")
        .arg(dir)
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--file-size-limit")
        .arg(limit.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot spawn the fault writer")?;
    let out = child
        .wait_with_output()
        .context("cannot wait for the fault writer")?;
    let lines: Vec<String> = BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        .collect();
    anyhow::ensure!(
        out.status.success(),
        "the fault writer failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(WriterReport::parse(&lines))
}
