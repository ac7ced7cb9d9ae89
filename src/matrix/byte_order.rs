//! The matrix's check across byte orders: what a crash left on a machine of one byte order,
//! recovered on a machine of the other.
//!
//! Every cell shows that its own writer and reader agree; a format written in the machine's
//! byte order would pass each of them. For a cell whose byte order is not the host's (s390x on
//! an amd64 host), the matrix runs the cell's binary and the host's own as writers of crash
//! states (`crash-states`: kill -9 leftovers and the persistence model's power-loss states, some
//! struck by a block fault) and has each binary recover a copy of every state both wrote
//! (`recover-states`). The recovered entries, safe_seq and files must be identical between the
//! two byte orders, state by state; otherwise the cell FAILs with the states that differ.
//! Everything stays in the run directory (`byte_order/`), with the commands that ran, so a
//! person can run the comparison again (`recover-states --against`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::child::{describe_exit, spawn_and_wait};
use super::launch::CellCommand;
use super::request::CellRequest;
use crate::crash::states::{compare, Recoveries};
use crate::evidence::record::{ByteOrderCrossing, CrossingDirection};

/// The directory, inside the run directory, that holds the states and the reports.
pub const DIR: &str = "byte_order";
/// Differences listed per direction; the rest are counted.
const MAX_LISTED: usize = 20;

/// One binary taking part: how to run it, its architecture and byte order.
struct Side {
    command: CellCommand,
    arch: String,
    endian: String,
}

/// Runs the crossing for the cell `r`, whose binary runs as `cell` and is of byte order
/// `cell_endian`, and keeps everything under `<run_dir>/byte_order`.
pub fn cross(
    r: &CellRequest,
    cell: &CellCommand,
    cell_endian: &str,
    run_dir: &Path,
) -> ByteOrderCrossing {
    let started = Instant::now();
    let mut record = ByteOrderCrossing {
        pass: false,
        error: None,
        seed: r.seed,
        dir: DIR.into(),
        directions: Vec::new(),
        seconds: 0.0,
        commands: Vec::new(),
    };
    if let Err(e) = run(r, cell, cell_endian, &run_dir.join(DIR), &mut record) {
        record.error = Some(e);
    }
    record.pass = record.error.is_none()
        && record.directions.len() == 2
        && record.directions.iter().all(|d| d.identical);
    record.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    record
}

fn run(
    r: &CellRequest,
    cell: &CellCommand,
    cell_endian: &str,
    dir: &Path,
    record: &mut ByteOrderCrossing,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let host = Side {
        command: CellCommand {
            binary: std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
            wrapper: None,
            argv: Vec::new(),
        },
        arch: r.host.arch.into(),
        endian: crate::platform::endian().into(),
    };
    let cell = Side {
        command: cell.with_argv(Vec::new()),
        arch: r.arch().into(),
        endian: cell_endian.into(),
    };
    let seed = r.seed.to_string();
    for w in [&cell, &host] {
        let out = states_dir(w);
        exec(
            w,
            &["crash-states", "--out", &out, "--seed", &seed],
            r,
            dir,
            record,
        )?;
    }
    for (w, other) in [(&cell, &host), (&host, &cell)] {
        let states = states_dir(w);
        let own = report_name(w, w);
        let theirs = report_name(w, other);
        exec(
            w,
            &["recover-states", "--dir", &states, "--out", &own],
            r,
            dir,
            record,
        )?;
        // The comparison as a person would run it again. It exits 1 when the reports differ,
        // which they then say in detail; when it wrote no report, its failure is the reason.
        let ran = exec(
            other,
            &[
                "recover-states",
                "--dir",
                &states,
                "--out",
                &theirs,
                "--against",
                &own,
            ],
            r,
            dir,
            record,
        );
        let d = direction(w, other, dir, &states, &own, &theirs)
            .map_err(|unread| ran.err().unwrap_or(unread))?;
        record.directions.push(d);
    }
    Ok(())
}

fn states_dir(w: &Side) -> String {
    format!("written-by-{}", w.arch)
}

fn report_name(w: &Side, reader: &Side) -> String {
    format!("written-by-{}.recovered-by-{}.json", w.arch, reader.arch)
}

/// Runs `side`'s binary with `args` in `dir`, its output appended to `dir/log.txt`; records the
/// command. An exit other than 0 is an error naming it.
fn exec(
    side: &Side,
    args: &[&str],
    r: &CellRequest,
    dir: &Path,
    record: &mut ByteOrderCrossing,
) -> Result<(), String> {
    let c = side
        .command
        .with_argv(args.iter().map(|a| a.to_string()).collect());
    record.commands.push(c.shell_line());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.txt"))
        .map_err(|e| format!("cannot open {}: {e}", dir.join("log.txt").display()))?;
    let mut cmd: Command = c.to_command();
    cmd.current_dir(dir).stdout(Stdio::from(log));
    let end = spawn_and_wait(cmd, r.config.cell_timeout)
        .map_err(|e| format!("cannot start {}: {e}", c.program().display()))?;
    if end.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` ended with {}: {}",
        c.shell_line(),
        describe_exit(&end.status),
        end.stderr_tail.join(" | ")
    ))
}

fn read_report(dir: &Path, name: &str) -> Result<Recoveries, String> {
    let p = dir.join(name);
    let text = std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not a report: {e}", p.display()))
}

fn direction(
    w: &Side,
    reader: &Side,
    dir: &Path,
    states: &str,
    own: &str,
    theirs: &str,
) -> Result<CrossingDirection, String> {
    let mine = read_report(dir, own)?;
    let other = read_report(dir, theirs)?;
    let mut differences = compare(&mine, &other);
    let identical = differences.is_empty() && !mine.states.is_empty();
    if differences.len() > MAX_LISTED {
        let more = differences.len() - MAX_LISTED;
        differences.truncate(MAX_LISTED);
        differences.push(format!("and {more} more"));
    }
    Ok(CrossingDirection {
        writer_arch: w.arch.clone(),
        writer_byte_order: w.endian.clone(),
        reader_arch: reader.arch.clone(),
        reader_byte_order: reader.endian.clone(),
        states: mine.states.len(),
        opened: mine.opened(),
        identical,
        differences,
        states_dir: states.into(),
        writer_report: own.into(),
        reader_report: theirs.into(),
    })
}

/// One line for the cell's reason or the log: what the crossing found.
pub fn describe(c: &ByteOrderCrossing) -> String {
    if let Some(e) = &c.error {
        return format!("the check across byte orders could not run: {e}");
    }
    let parts: Vec<String> = c
        .directions
        .iter()
        .map(|d| {
            format!(
                "{} states written by {} ({}-endian) {} by {} ({}-endian){}",
                d.states,
                d.writer_arch,
                d.writer_byte_order,
                if d.identical {
                    "recovered identically"
                } else {
                    "recovered DIFFERENTLY"
                },
                d.reader_arch,
                d.reader_byte_order,
                match d.differences.first() {
                    Some(first) if !d.identical => format!(" (first: {first})"),
                    _ => String::new(),
                }
            )
        })
        .collect();
    parts.join("; ")
}
