//! The matrix's result for people (the table) and for tools (`matrix.json`).
//!
//! Both carry the same facts per cell: arch, filesystem, status (PASS, FAIL, SKIP), crash
//! harness iterations passed, seconds, and whether and how it was emulated. matrix.json adds the
//! reasons, the run directory of each cell's evidence and the host; the gate may read it, but
//! each cell's own `wal_verify.json` remains the evidence.

use std::time::Duration;

use serde::Serialize;

use super::cell_result::{CellOutcome, Status};
use super::request::Host;
use crate::evidence::record::Timestamp;

/// The file the whole run's result is written to, in the evidence tree's root.
pub const MATRIX_JSON: &str = "matrix.json";

/// `<evidence>/matrix.json`.
#[derive(Debug, Serialize)]
pub struct Matrix<'a> {
    pub schema_version: u32,
    pub timestamp: Timestamp,
    pub seed: u64,
    pub iterations: u32,
    /// True when no cell failed (skipped cells do not count against it).
    pub pass: bool,
    pub interrupted: bool,
    pub counts: Counts,
    pub host: HostInfo,
    pub tool: crate::build_info::BuildInfo,
    pub duration_ms: u64,
    pub cells: &'a [CellOutcome],
}

#[derive(Debug, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub arch: String,
    pub kernel: String,
    pub root: bool,
    pub temp_dir: String,
    pub temp_fs: Option<String>,
}

impl<'a> Matrix<'a> {
    pub fn new(
        seed: u64,
        iterations: u32,
        host: &Host,
        cells: &'a [CellOutcome],
        interrupted: bool,
        took: Duration,
    ) -> Matrix<'a> {
        let n = |s: Status| cells.iter().filter(|o| o.status == s).count();
        let counts = Counts {
            pass: n(Status::Pass),
            fail: n(Status::Fail),
            skip: n(Status::Skip),
        };
        Matrix {
            schema_version: 1,
            timestamp: Timestamp::now(),
            seed,
            iterations,
            pass: counts.fail == 0 && !interrupted,
            interrupted,
            counts,
            host: HostInfo {
                arch: host.arch.to_string(),
                kernel: host.kernel.clone(),
                root: host.root,
                temp_dir: host.temp_dir.display().to_string(),
                temp_fs: host.temp_fs.clone(),
            },
            tool: crate::build_info::current(),
            duration_ms: took.as_millis() as u64,
            cells,
        }
    }

    pub fn verdict_line(&self) -> String {
        format!(
            "{} PASS, {} FAIL, {} SKIP (seed {}) in {:.1} s",
            self.counts.pass,
            self.counts.fail,
            self.counts.skip,
            self.seed,
            self.duration_ms as f64 / 1000.0
        )
    }
}

/// The table, one row per cell, then the reason of every cell that did not pass.
pub fn table(cells: &[CellOutcome]) -> String {
    let header = [
        "cell",
        "arch",
        "fs",
        "status",
        "iterations",
        "seconds",
        "emulated",
    ];
    let rows: Vec<[String; 7]> = cells
        .iter()
        .map(|o| {
            [
                o.cell.to_string(),
                o.arch.clone(),
                o.fs.clone(),
                o.status.word().to_string(),
                match o.passed {
                    Some(p) => format!("{p}/{}", o.total_iterations),
                    None => "-".into(),
                },
                format!("{:.1}", o.seconds),
                match (o.status, o.execution) {
                    (Status::Skip, _) if !o.emulated => "-".into(),
                    (_, "native") => "no".into(),
                    (_, kind) => format!("yes ({kind})"),
                },
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let fmt = |cols: &[String]| -> String {
        let mut l = cols
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    let mut out = String::from("\n");
    out += &fmt(&header.map(String::from));
    out += &fmt(&width.map(|w| "-".repeat(w)));
    for r in &rows {
        out += &fmt(r);
    }
    for o in cells.iter().filter(|o| o.status != Status::Pass) {
        out += &format!(
            "cell {} {}/{} {}: {}\n",
            o.cell,
            o.arch,
            o.fs,
            o.status.word(),
            o.reason.as_deref().unwrap_or("(no reason recorded)")
        );
    }
    out
}
