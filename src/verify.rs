//! `portability-matrix verify`: the standalone verifier, a thin shell around `wal::verify`.
//!
//! It never changes the directory it checks and streams the log, so it is safe to point at a
//! production WAL (stopped) or at evidence copied off a failing machine.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::evidence::record::{self as report, Timestamp};
use crate::platform;

/// The report `verify` writes: the invariants and violations of the seed's schema plus what
/// was checked.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub timestamp: Timestamp,
    pub dir: String,
    pub arch: String,
    pub fs_type: String,
    pub pass: bool,
    pub safe_seq: u64,
    pub frames: u64,
    pub max_seq: u64,
    pub log_bytes: u64,
    pub invariants: report::Invariants,
    pub violations: Vec<report::Violation>,
    pub violation_counts: std::collections::BTreeMap<wal::verify::Code, u64>,
}

/// Verifies the WAL in `dir` (changing nothing in it) and writes the report to `out` (default:
/// stdout); `arch` and `fs` are recorded in it (default: this binary's, the mount's).
pub fn run(
    dir: &Path,
    arch: Option<&str>,
    fs: Option<&str>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let r =
        wal::verify::verify_dir(dir).with_context(|| format!("cannot verify {}", dir.display()))?;
    let fs_type = match fs {
        Some(f) => f.to_string(),
        None => platform::mount_of(dir)
            .map(|m| m.fs_type)
            .unwrap_or_else(|_| "unknown".into()),
    };
    let report = VerifyReport {
        timestamp: Timestamp::now(),
        dir: dir.display().to_string(),
        arch: arch.unwrap_or(platform::arch()).to_string(),
        fs_type,
        pass: r.pass(),
        safe_seq: r.safe_seq.get(),
        frames: r.frames,
        max_seq: r.max_seq.get(),
        log_bytes: r.log_bytes,
        invariants: report::invariants(&r),
        violations: report::violations(&r, "verify"),
        violation_counts: r.violation_counts.clone(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    match out {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => crate::evidence::log::say(&json),
    }
    let verdict = if r.pass() {
        "all invariants hold"
    } else {
        "invariants violated"
    };
    eprintln!(
        "verify {}: {verdict} (safe_seq {}, {} frames, {} violations)",
        dir.display(),
        r.safe_seq,
        r.frames,
        r.violation_counts.values().sum::<u64>()
    );
    for v in r.violations.iter().take(20) {
        eprintln!("  {:?} [{}] {}", v.code, v.invariant.key(), v.msg);
    }
    Ok(if r.pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
