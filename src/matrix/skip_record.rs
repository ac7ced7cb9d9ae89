//! The evidence of a cell that could not run.
//!
//! A SKIP is a result too. Without a record of it, the gate could only call the cell MISSING and
//! the reason (no cross-built binary, no emulator, no root, no mkfs) would live on only in a job
//! log. So a skipped cell gets a run directory like any other, holding `wal_verify.json` in the
//! form `schemas/wal_verify.schema.json` declares for it (`"skipped": true`, `skip_reason`,
//! `"pass": false`, no invariants: nothing is claimed), `cmd.txt` with the command that tries
//! the cell again, and `autonomy.log` with the reason. The matrix writes it; a cell that is
//! skipped because the matrix was interrupted gets none (the run as a whole failed).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::cells::{Outcome, Request};
use crate::build_info::BuildInfo;
use crate::evidence;
use crate::report::{Timestamp, SCHEMA_VERSION};

/// `wal_verify.json` of a skipped cell, its keys in the order of a cell's own file.
#[derive(Serialize)]
struct Record<'a> {
    timestamp: Timestamp,
    seed: u64,
    arch: &'a str,
    fs_type: &'a str,
    total_iterations: u32,
    pass: bool,
    run_n: u32,
    skipped: bool,
    skip_reason: &'a str,
    schema_version: u32,
    commit: Option<&'a str>,
    host_kernel: &'a str,
    tool: BuildInfo,
    matrix: Matrix<'a>,
}

/// The `matrix` object, as for a cell that ran (`annotate`), with nothing provisioned.
#[derive(Serialize)]
struct Matrix<'a> {
    cell: usize,
    requested_arch: &'a str,
    requested_fs: &'a str,
    status: &'static str,
    reason: &'a str,
    seed: u64,
    host_arch: &'a str,
    host_kernel: &'a str,
    execution: &'static str,
    binary: Option<&'a str>,
    filesystem: &'static str,
    provisioning: [&'a str; 0],
    tool: &'static str,
}

/// Writes the record of the skipped cell `o` and returns its run directory.
pub fn write(r: &Request, o: &Outcome) -> Result<PathBuf> {
    let run = evidence::claim_run(r.evidence, r.arch, r.fs)?;
    let reason = o.reason.as_deref().unwrap_or("no reason given");
    let record = Record {
        timestamp: Timestamp::now(),
        seed: r.seed,
        arch: r.arch,
        fs_type: r.fs,
        total_iterations: r.iterations,
        pass: false,
        run_n: run.n,
        skipped: true,
        skip_reason: reason,
        schema_version: SCHEMA_VERSION,
        commit: r.commit,
        host_kernel: &r.host.kernel,
        tool: crate::build_info::current(),
        matrix: Matrix {
            cell: r.index,
            requested_arch: r.arch,
            requested_fs: r.fs,
            status: o.status.word(),
            reason,
            seed: r.seed,
            host_arch: r.host.arch,
            host_kernel: &r.host.kernel,
            execution: o.execution,
            binary: o.binary.as_deref(),
            filesystem: o.filesystem,
            provisioning: [],
            tool: crate::build_info::VERSION_LINE,
        },
    };
    let text = serde_json::to_string_pretty(&record)? + "\n";
    write_file(&run.path, "wal_verify.json", &text)?;
    let cmd = format!(
        "# portability-matrix {arch}/{fs}: SKIP, nothing ran\n\
         # reason: {reason}\n\
         # tool: {tool}\n\
         # try the cell again (as root for a loop filesystem) with:\n\
         {rerun}\n",
        arch = r.arch,
        fs = r.fs,
        tool = crate::build_info::VERSION_LINE,
        rerun = r.rerun,
    );
    write_file(&run.path, "cmd.txt", &cmd)?;
    let log = format!("SKIP {}/{}: {reason}\n", r.arch, r.fs);
    write_file(&run.path, "autonomy.log", &log)?;
    Ok(run.path)
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}
