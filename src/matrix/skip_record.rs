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

use super::cell_result::{CellOutcome, Provisioning};
use super::request::CellRequest;
use crate::evidence::layout::{claim_run, AUTONOMY_LOG, CMD_TXT, WAL_VERIFY};
use crate::evidence::record::{SkipRecord, Timestamp, SCHEMA_VERSION};

/// Writes the record of the skipped cell `o` and returns its run directory.
pub fn write(r: &CellRequest, o: &CellOutcome) -> Result<PathBuf> {
    let run = claim_run(r.evidence, r.arch(), r.fs())?;
    let reason = o.reason.as_deref().unwrap_or("no reason given");
    let mut matrix = o.matrix_section(r, &Provisioning::default());
    matrix.reason = Some(reason.into());
    let record = SkipRecord {
        timestamp: Timestamp::now(),
        seed: r.seed,
        arch: r.arch().into(),
        fs_type: r.fs().into(),
        total_iterations: r.config.iterations,
        pass: false,
        run_n: run.n,
        skipped: true,
        skip_reason: reason.into(),
        schema_version: SCHEMA_VERSION,
        commit: r.config.commit.clone(),
        host_kernel: r.host.kernel.clone(),
        tool: crate::build_info::current(),
        matrix,
    };
    let text = serde_json::to_string_pretty(&record)? + "\n";
    write_file(&run.path, WAL_VERIFY, &text)?;
    let cmd = format!(
        "# portability-matrix {arch}/{fs}: SKIP, nothing ran\n\
         # reason: {reason}\n\
         # tool: {tool}\n\
         # try the cell again (as root for a loop filesystem) with:\n\
         {rerun}\n",
        arch = r.arch(),
        fs = r.fs(),
        tool = crate::build_info::VERSION_LINE,
        rerun = r.rerun,
    );
    write_file(&run.path, CMD_TXT, &cmd)?;
    let log = format!("SKIP {}: {reason}\n", r.cell);
    write_file(&run.path, AUTONOMY_LOG, &log)?;
    Ok(run.path)
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}
