//! The whole matrix run: the cells in order, each on its own, then the table, `matrix.json` and
//! the exit code.
//!
//! A cell never stops the run: whatever happens to it is its row. Only Ctrl-C does, and then the
//! cells not yet started are recorded as not run, so `matrix.json` still accounts for every cell
//! that was asked for.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use super::cell_result::{CellOutcome, Status};
use super::cells;
use super::config::{MatrixConfig, SkipPolicy};
use super::interrupt;
use super::request::{CellRequest, Host};
use super::skip_record;
use super::summary::{self, MATRIX_JSON};
use crate::cell_id::CellId;
use crate::evidence::log::{say, say_raw};

/// Runs every cell of `config`. Exit 0 when every cell that ran passed, 1 when one failed (or
/// a skip that `fail_on_skip` covers), an error when the run could not be made or was
/// interrupted.
pub fn run(config: &MatrixConfig) -> Result<ExitCode> {
    interrupt::install();
    let started = Instant::now();
    let seed = config.seed.unwrap_or_else(crate::crash::seeded::clock_seed);
    let cells = config.cells();
    let evidence = evidence_root(&config.evidence)?;
    let host = Host::detect();
    announce(config, &cells, seed, &host);

    let outcomes: Vec<CellOutcome> = cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let r = CellRequest {
                index: i + 1,
                cell,
                seed,
                config,
                evidence: &evidence,
                host: &host,
                rerun: config.rerun_line(cell, seed),
            };
            run_one(&r, cells.len())
        })
        .collect();

    let interrupted = interrupt::interrupted();
    say_raw(&summary::table(&outcomes));
    let m = summary::Matrix::new(
        seed,
        config.iterations,
        &host,
        &outcomes,
        interrupted,
        started.elapsed(),
    );
    let out = evidence.join(MATRIX_JSON);
    std::fs::write(&out, serde_json::to_string_pretty(&m)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    say(&format!("matrix: {}; {}", m.verdict_line(), out.display()));

    if interrupted {
        anyhow::bail!(
            "the matrix was interrupted; the cells that ran are in {}",
            out.display()
        );
    }
    Ok(exit_code(&outcomes, config.fail_on_skip))
}

/// The evidence tree, created when missing, as an absolute path.
fn evidence_root(given: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(given).with_context(|| format!("cannot create {}", given.display()))?;
    std::path::absolute(given).with_context(|| format!("cannot resolve {}", given.display()))
}

/// The run's first line: seed, cells, iterations, host.
fn announce(config: &MatrixConfig, cells: &[CellId], seed: u64, host: &Host) {
    say(&format!(
        "matrix: seed {seed}; {} cells ({}); {} iterations each; host {} ({}){}",
        cells.len(),
        cells
            .iter()
            .map(CellId::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        config.iterations,
        host.arch,
        host.kernel,
        if host.root { "" } else { "; not root" }
    ));
}

/// Runs the cell of `r` (unless the run was interrupted) and writes the record of a skip.
fn run_one(r: &CellRequest, of: usize) -> CellOutcome {
    let (index, cell) = (r.index, r.cell);
    if interrupt::interrupted() {
        return CellOutcome::not_run(
            index,
            cell,
            r.config.iterations,
            "not run: the matrix was interrupted",
        );
    }
    say(&format!("== matrix cell {index} of {of}: {cell} =="));
    let mut o = cells::run_cell(r);
    if o.status == Status::Skip {
        record_skip(r, &mut o);
    }
    say(&format!(
        "== matrix cell {index} {cell}: {}{} ({:.1} s)",
        o.status.word(),
        o.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        o.seconds
    ));
    o
}

/// Writes the evidence of a skipped cell; a skip that cannot be recorded is a FAIL.
fn record_skip(r: &CellRequest, o: &mut CellOutcome) {
    match skip_record::write(r, o) {
        Ok(dir) => o.run_dir = Some(dir.display().to_string()),
        Err(e) => {
            let why = o.reason.take().unwrap_or_default();
            o.fail(format!("skipped ({why}), and the record of it: {e:#}"));
        }
    }
}

/// 1 when a cell failed or a skip the policy covers happened, else 0.
fn exit_code(outcomes: &[CellOutcome], fail_on_skip: Option<SkipPolicy>) -> ExitCode {
    let failed = outcomes.iter().any(|o| o.status == Status::Fail);
    let skipped_required = outcomes
        .iter()
        .any(|o| o.status == Status::Skip && fail_on_skip.is_some_and(|p| p.fails_on(o.seed_cell)));
    if skipped_required {
        eprintln!("matrix: a cell that --fail-on-skip requires was skipped");
    }
    if failed || skipped_required {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
