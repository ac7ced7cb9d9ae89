//! The command line, in one place: one `Cli`, one `Command` enum, one `…Args` struct per
//! subcommand. Doc comments are the help text. Everything is parsed into typed values here
//! (paths, numbers, enums); the subcommands never parse strings themselves.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Certifies a write-ahead log's crash-safety invariants across CPU architectures and
/// filesystems, keeps the evidence, and gates releases on it.
///
/// Exit codes: 0 the check passed (the cell certifies, the WAL verifies, the gate lets the
/// release through); 1 it did not; 2 it could not be decided (bad arguments, unreadable input,
/// an environment that cannot run the check).
#[derive(Debug, Parser)]
#[command(name = "portability-matrix", version = crate::build_info::VERSION_LINE, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the four steps of one matrix cell on the filesystem holding --dir and write its
    /// evidence to <evidence>/<arch>/<fs>/run-<N>/.
    Cell(CellArgs),
    /// Check a WAL directory against R1-R5 and JSON integrity, read-only, and report.
    Verify(VerifyArgs),
    /// Run the seeded randomized crash harness.
    CrashHarness(CrashHarnessArgs),
    /// Write a large valid WAL, for fixtures and benchmarks.
    Generate(GenerateArgs),
    /// Try to open a WAL directory from a second process and report whether its lock refused
    /// the open (exit 0 refused, 1 opened). Used by the conformance suite's lock check.
    #[command(hide = true)]
    LockProbe(LockProbeArgs),
}

#[derive(Debug, Args)]
pub struct CellArgs {
    /// Directory to run in; its filesystem is the one certified. Default: a fresh directory
    /// under the system temp dir.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the evidence tree goes.
    #[arg(long, default_value = "evidence")]
    pub evidence: PathBuf,
    /// Crash-harness iterations.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Seed for the crash harness (default: generated from the clock and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The commit the binary certifies, recorded in the evidence.
    #[arg(long, env = "GITHUB_SHA")]
    pub commit: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The WAL directory to check. Nothing in it is changed.
    #[arg(long)]
    pub dir: PathBuf,
    /// Architecture to record in the report (default: this binary's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Filesystem to record in the report (default: detected from the mount holding --dir).
    #[arg(long)]
    pub fs: Option<String>,
    /// Write the JSON report here (default: print it to stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CrashHarnessArgs {
    /// The run's seed (default: generated from the clock and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of iterations.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Directory for the iterations' WALs (default: a fresh temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Replay only this iteration (0-based) of the run with --seed.
    #[arg(long)]
    pub iteration: Option<u32>,
    /// Write the iterations as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write the WAL into (created if missing; must not hold a WAL yet).
    #[arg(long)]
    pub dir: PathBuf,
    /// Approximate size of wal.log, in bytes; accepts K, M, G suffixes (powers of 1024).
    #[arg(long, value_parser = parse_size)]
    pub size: u64,
    /// Approximate payload size in bytes.
    #[arg(long, default_value_t = 200)]
    pub payload_bytes: usize,
    /// Entries committed per batch.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct LockProbeArgs {
    #[arg(long)]
    pub dir: PathBuf,
}

/// Parses "1073741824", "512M", "1G", "64K".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (examples: 4096, 64K, 512M, 1G)"))
}
