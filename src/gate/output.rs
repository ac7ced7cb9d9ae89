//! How the decision is shown: a table on stdout with the verdict last, GitHub annotations
//! (at most ten of each kind, as GitHub shows no more), markdown for the step summary (kept
//! under GitHub's 1 MiB limit), and `gate.json` for machines.
//!
//! Text that came from evidence (notes, reasons) is untrusted: control characters are removed
//! everywhere, and the markdown escapes table separators and HTML.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};

use super::config::{GateConfig, GateMode};
use super::decision::{CellDecision, Verdict};
use super::evidence::one_line as clean;
use super::observation::Status;
use super::report::GateReport;
use crate::evidence::log::{say, say_raw};

/// GitHub shows at most ten annotations of a kind per step.
const MAX_ANNOTATIONS: usize = 10;
/// GitHub refuses step summaries over 1 MiB; stay well under it.
const SUMMARY_BUDGET: usize = 1000 * 1000;

fn waiver_col(c: &CellDecision) -> String {
    if c.waivers.is_empty() {
        "-".into()
    } else {
        c.waivers.join(",")
    }
}

fn number_col(c: &CellDecision) -> String {
    c.number.map_or("-".into(), |n| n.to_string())
}

pub fn table(r: &GateReport) -> String {
    let header = [
        "cell",
        "arch",
        "fs",
        "requirement",
        "status",
        "waiver",
        "note",
    ];
    let rows: Vec<[String; 7]> = r
        .decision
        .cells
        .iter()
        .map(|c| {
            [
                number_col(c),
                clean(&c.arch),
                clean(&c.fs),
                c.requirement.to_string(),
                c.status.to_string(),
                waiver_col(c),
                clean(&c.note),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, v) in width.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: &[String]| {
        let mut l = String::new();
        for (i, v) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                l.push_str(v);
            } else {
                let _ = write!(l, "{v:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    out
}

pub fn verdict_line(r: &GateReport) -> String {
    let d = &r.decision;
    let waived = d.cells.iter().filter(|c| !c.waivers.is_empty()).count();
    match d.verdict {
        Verdict::Pass => {
            let by = if waived > 0 {
                format!(" ({waived} by waiver)")
            } else {
                String::new()
            };
            format!(
                "verdict: PASS: every gated cell certified{by} (policy {})",
                r.policy.name
            )
        }
        Verdict::Blocked => {
            let cells: Vec<String> = d
                .blocking()
                .map(|c| format!("{} {}", c.cell, c.status))
                .collect();
            let tail = if r.mode == GateMode::Nightly {
                "; nightly mode, so this does not fail the run"
            } else {
                ""
            };
            format!(
                "verdict: BLOCKED: {} gated cell(s) have not certified: {} (policy {}){tail}",
                cells.len(),
                clean(&cells.join(", ")),
                r.policy.name
            )
        }
    }
}

/// `%`, CR and LF are the escapes a workflow command's message needs.
fn escape_annotation(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Errors for what fails the run (blocking cells, in release mode only) and warnings for the
/// rest: in nightly mode nothing fails the run, so what would block a release is a warning.
pub fn annotations(r: &GateReport) -> Vec<String> {
    let d = &r.decision;
    let release = r.mode == GateMode::Release;
    let blocks = if release {
        "blocks the release"
    } else {
        "would block a release"
    };
    let blocking: Vec<String> = d
        .blocking()
        .map(|c| {
            format!(
                "{} ({}) is {} and {blocks}: {}",
                c.cell, c.requirement, c.status, c.note
            )
        })
        .collect();
    let (errors, mut warnings) = if release {
        (blocking, vec![])
    } else {
        (vec![], blocking)
    };
    warnings.extend(
        d.cells
            .iter()
            .filter(|c| c.warning)
            .map(|c| format!("{} ({}) is {}: {}", c.cell, c.requirement, c.status, c.note)),
    );
    warnings.extend(d.expired_waivers.iter().map(|w| {
        format!(
            "waiver {} for {} expired on {}; it no longer applies (tracking: {})",
            w.id, w.cell, w.expires, w.tracking
        )
    }));
    let mut out = Vec::new();
    for (kind, list, what) in [
        ("error", errors, "blocking cells"),
        ("warning", warnings, "warnings"),
    ] {
        for m in list.iter().take(MAX_ANNOTATIONS) {
            out.push(format!("::{kind}::{}", escape_annotation(&clean(m))));
        }
        if list.len() > MAX_ANNOTATIONS {
            out.push(format!(
                "{} more {what} not annotated; see the table",
                list.len() - MAX_ANNOTATIONS
            ));
        }
    }
    out
}

fn md(s: &str) -> String {
    clean(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// The decision as markdown, for the step summary: a heading, the table, then the waivers,
/// notes and verdict. Rows that would take it over GitHub's limit are left out and counted.
pub fn markdown(r: &GateReport) -> String {
    let d = &r.decision;
    let mut out = markdown_heading(r);
    out.push_str("| # | arch | fs | requirement | status | waiver | note |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    let tail = markdown_tail(r);
    for (i, c) in d.cells.iter().enumerate() {
        let row = markdown_row(c);
        if out.len() + row.len() + tail.len() + 200 > SUMMARY_BUDGET {
            let _ = writeln!(
                out,
                "\n{} more cells left out to keep the summary under 1 MiB; gate.json has them all.",
                d.cells.len() - i
            );
            break;
        }
        out.push_str(&row);
    }
    out.push('\n');
    out.push_str(&tail);
    out
}

fn markdown_heading(r: &GateReport) -> String {
    let verdict = match r.decision.verdict {
        Verdict::Pass => "PASS",
        Verdict::Blocked => "BLOCKED",
    };
    let mut out = String::new();
    let _ = writeln!(out, "## Release gate: {verdict}\n");
    let _ = writeln!(
        out,
        "Policy **{}**, mode {}, commit {}, evidence from {}.\n",
        md(&r.policy.name),
        r.mode.as_str(),
        r.sha
            .as_deref()
            .map_or("not checked".into(), |s| format!("`{s}`")),
        md(&r.source)
    );
    out
}

fn markdown_row(c: &CellDecision) -> String {
    let note: String = md(&c.note).chars().take(500).collect();
    let status = if c.blocking {
        format!("**{}**", c.status)
    } else {
        c.status.to_string()
    };
    format!(
        "| {} | {} | {} | {} | {status} | {} | {note} |\n",
        number_col(c),
        md(&c.arch),
        md(&c.fs),
        c.requirement,
        md(&waiver_col(c)),
    )
}

/// What follows the table: expired and unused waivers, notes, the verdict.
fn markdown_tail(r: &GateReport) -> String {
    let d = &r.decision;
    let mut tail = String::new();
    for w in &d.expired_waivers {
        let _ = writeln!(
            tail,
            "- expired waiver {} ({}), expired {}",
            md(&w.id),
            w.cell,
            w.expires
        );
    }
    for w in &d.unused_waivers {
        let _ = writeln!(
            tail,
            "- unused waiver {} ({}): it matched no cell; remove it?",
            md(&w.id),
            w.cell
        );
    }
    for n in &r.notes {
        let _ = writeln!(tail, "- {}", md(n));
    }
    let _ = writeln!(tail, "\n{}", md(&verdict_line(r)));
    tail
}

/// For each blocking cell that has no evidence, or evidence from another commit: the command
/// that produces it.
pub fn hints(r: &GateReport, config: &GateConfig) -> Vec<String> {
    let mut out = Vec::new();
    for c in r.decision.cells.iter().filter(|c| c.blocking) {
        let cell = format!("{}/{}", clean(&c.arch), clean(&c.fs));
        let why = match c.status {
            Status::Missing => "has no evidence",
            Status::Stale => "has evidence from another commit or a dirty tree",
            _ => continue,
        };
        out.push(match &config.evidence_dir {
            Some(dir) => format!(
                "{cell} {why} in {}; make it (as root, from a clean checkout of the commit): \
                 make portability-matrix-full MATRIX_ARCH={} MATRIX_FS={} EVIDENCE={}",
                dir.display(),
                clean(&c.arch),
                clean(&c.fs),
                crate::shell::shell_quote(&dir.display().to_string())
            ),
            None => format!(
                "{cell} {why} in this workflow run: its artifact {}{}-{} comes from the \
                 action's cell job for {cell} (mode: cell)",
                crate::evidence::layout::ARTIFACT_PREFIX,
                clean(&c.arch),
                clean(&c.fs)
            ),
        });
    }
    out
}

/// Prints and writes the decision.
pub fn emit(r: &GateReport, config: &GateConfig) -> Result<()> {
    let mut stdout = String::new();
    for a in annotations(r) {
        stdout.push_str(&a);
        stdout.push('\n');
    }
    stdout.push_str(&table(r));
    for w in &r.decision.expired_waivers {
        let _ = writeln!(
            stdout,
            "expired waiver: {} ({}), expired {}",
            w.id, w.cell, w.expires
        );
    }
    for w in &r.decision.unused_waivers {
        let _ = writeln!(
            stdout,
            "unused waiver: {} ({}) matched no cell; remove it?",
            w.id, w.cell
        );
    }
    for n in &r.notes {
        let _ = writeln!(stdout, "note: {}", clean(n));
    }
    for h in hints(r, config) {
        let _ = writeln!(stdout, "hint: {h}");
    }
    stdout.push_str(&verdict_line(r));
    stdout.push('\n');

    if let Some(path) = &config.out {
        let json = serde_json::to_string_pretty(r).context("cannot serialize the decision")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &config.summary {
        append(path, &markdown(r))?;
    }
    say_raw(&stdout);
    Ok(())
}

fn append(path: &std::path::Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the step summary {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write the step summary {}", path.display()))
}

/// When the gate could not decide: an error annotation, and the same in gate.json and the
/// summary, so that a workflow shows why. Failures to write these are only reported.
pub fn emit_error(e: &anyhow::Error, config: &GateConfig) {
    let msg = clean(&format!("{e:#}"));
    say(&format!(
        "::error::{}",
        escape_annotation(&format!("the gate could not decide: {msg}"))
    ));
    if let Some(path) = &config.out {
        let json = serde_json::json!({
            "schema_version": 1,
            "verdict": "ERROR",
            "exit_code": 2,
            "error": msg,
        });
        if let Err(err) = std::fs::write(path, format!("{json:#}\n")) {
            eprintln!("warning: cannot write {}: {err}", path.display());
        }
    }
    if let Some(path) = &config.summary {
        let text = format!(
            "## Release gate: ERROR\n\nThe gate could not decide: {}\n",
            md(&msg)
        );
        if let Err(err) = append(path, &text) {
            eprintln!("warning: {err:#}");
        }
    }
}
