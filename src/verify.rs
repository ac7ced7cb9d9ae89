//! `portability-matrix verify`: the standalone verifier, a thin shell around `wal::verify`.
//!
//! It never changes the directory it checks and streams the log, so it is safe to point at a
//! production WAL (stopped) or at evidence copied off a failing machine.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::VerifyArgs;
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

pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let r = wal::verify::verify_dir(&args.dir)
        .with_context(|| format!("cannot verify {}", args.dir.display()))?;
    let fs_type = match &args.fs {
        Some(f) => f.clone(),
        None => platform::mount_of(&args.dir)
            .map(|m| m.fs_type)
            .unwrap_or_else(|_| "unknown".into()),
    };
    let out = VerifyReport {
        timestamp: Timestamp::now(),
        dir: args.dir.display().to_string(),
        arch: args
            .arch
            .clone()
            .unwrap_or_else(|| platform::arch().to_string()),
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
    let json = serde_json::to_string_pretty(&out)?;
    match &args.out {
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
        args.dir.display(),
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
