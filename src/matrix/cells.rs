//! One cell of the matrix: pick the binary, decide how to execute it and where its filesystem
//! comes from, run `portability-matrix cell` as a child process there, and judge the result.
//!
//! The child writes its own evidence. The matrix only accepts it when the evidence itself says
//! the cell ran on what was asked for: the `arch` the running binary detected must be the
//! requested architecture, the `fs_type` detected from the mount table must be the requested
//! filesystem (and, on a loop filesystem, the mount must be the one made for this cell), and the
//! seed must be the matrix's. Anything else is FAIL, never PASS. A cell that cannot run here
//! (no binary, no emulator, no root for a loop device, no mkfs) is SKIP with the reason.
//!
//! [`run_cell`] reads as the list of those steps; each step is a function below it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::annotate::{self, Annotation};
use super::byte_order;
use super::cell_result::{CellOutcome, Provisioning, Status};
use super::child::{describe_exit, spawn_and_wait};
use super::emulation::{self, Exec};
use super::fs_plan::{plan_fs, FsPlan};
use super::interrupt;
use super::judge::{self, CellRun};
use super::launch::{binary_for, CellCommand};
use super::request::CellRequest;
use crate::evidence::layout::{run_number, FIXTURE_DIR};
use crate::evidence::log::say;
use crate::host_tools::find_program;
use crate::loopfs::LoopFs;

/// Why a cell ended before its child ran: SKIP (it cannot run here) or FAIL.
struct Stop {
    status: Status,
    reason: String,
}

impl Stop {
    fn skip(reason: String) -> Stop {
        Stop {
            status: Status::Skip,
            reason,
        }
    }

    fn fail(reason: String) -> Stop {
        Stop {
            status: Status::Fail,
            reason,
        }
    }
}

/// Runs one cell. Never returns an error: everything that goes wrong is the cell's FAIL or SKIP
/// with the reason.
pub fn run_cell(r: &CellRequest) -> CellOutcome {
    let started = Instant::now();
    let mut o = CellOutcome::new(r);
    if let Err(stop) = prepare_and_run(r, &mut o) {
        o.status = stop.status;
        o.reason = Some(stop.reason);
    }
    o.seconds = started.elapsed().as_secs_f64();
    o
}

fn prepare_and_run(r: &CellRequest, o: &mut CellOutcome) -> Result<(), Stop> {
    let binary = binary_for(r.arch(), r.host.arch, &r.config.binaries).map_err(Stop::skip)?;
    o.binary = Some(binary.display().to_string());
    let exec = plan_execution(r, o)?;
    let (dir, loopfs) = provide_filesystem(r, o)?;
    if interrupt::interrupted() {
        drop(loopfs);
        return Err(Stop::fail("interrupted before the cell started".into()));
    }
    let command = CellCommand::new(r, &exec, binary, &dir);
    run_and_judge(r, o, &command, loopfs);
    Ok(())
}

/// How the cell's binary is executed here (natively or under which emulator), recorded in `o`.
fn plan_execution(r: &CellRequest, o: &mut CellOutcome) -> Result<Exec, Stop> {
    let binfmt_dir = r.config.emulation.binfmt_dir();
    let exec = emulation::plan(r.arch(), r.host.arch, binfmt_dir, &find_program);
    if let Exec::Unavailable { reason } = &exec {
        return Err(Stop::skip(reason.clone()));
    }
    o.execution = exec.kind();
    o.emulated = exec.emulated();
    o.emulator = exec.describe();
    o.emulator_version = exec
        .emulator_path()
        .and_then(|e| crate::host_tools::version_line(e, "--version"));
    Ok(exec)
}

/// The directory the cell runs in, and the loop filesystem under it when one was made.
fn provide_filesystem(
    r: &CellRequest,
    o: &mut CellOutcome,
) -> Result<(PathBuf, Option<LoopFs>), Stop> {
    let mkfs = find_program(&format!("mkfs.{}", r.fs()));
    let plan = plan_fs(
        r.fs(),
        r.host.root,
        mkfs,
        &r.host.temp_dir,
        r.host.temp_fs.as_deref(),
    );
    match plan {
        FsPlan::Skip { reason } => Err(Stop::skip(reason)),
        FsPlan::Existing { dir } => {
            o.filesystem = "existing";
            Ok((dir, None))
        }
        FsPlan::Loop { mkfs } => match LoopFs::create(r.fs(), &mkfs, r.config.image_size) {
            Ok(l) => {
                o.filesystem = "loop";
                o.image_size = Some(l.size());
                Ok((l.mount_point().to_path_buf(), Some(l)))
            }
            Err(e) => Err(Stop::fail(format!(
                "could not provide a fresh {} filesystem: {e:#}",
                r.fs()
            ))),
        },
    }
}

/// Runs the cell's child, removes its filesystem, and records the verdict in `o`: the judge's,
/// then the host's check of the fixture, the teardown's, and the annotation's.
fn run_and_judge(r: &CellRequest, o: &mut CellOutcome, command: &CellCommand, l: Option<LoopFs>) {
    let mut prov = provisioning_of(l.as_ref());
    let before = runs_under(r.evidence);
    let child = spawn_and_wait(command.to_command(), r.config.cell_timeout);
    let after = runs_under(r.evidence);

    // Teardown first: whatever happened, the filesystem goes.
    let cleanup = match l {
        Some(l) => {
            let (commands, res) = l.close();
            prov.commands = commands;
            res
        }
        None => Ok(()),
    };

    let new_runs: Vec<&PathBuf> = after.difference(&before).collect();
    let run_dir = match new_runs.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    o.run_dir = run_dir.as_ref().map(|p| p.display().to_string());

    (o.status, o.reason) = match &child {
        Err(e) => (
            Status::Fail,
            Some(format!("cannot start {}: {e}", command.program().display())),
        ),
        Ok(end) => {
            o.exit = Some(describe_exit(&end.status));
            let run = CellRun {
                end,
                run_dir: run_dir.as_deref(),
                new_runs: new_runs.len(),
                provisioning: &prov,
            };
            judge::judge(r, o, &run)
        }
    };
    if let (Status::Pass, Some(rd)) = (o.status, &run_dir) {
        check_fixture_on_host(r, o, rd);
        cross_byte_orders(r, o, command, rd);
    }
    if let Err(e) = cleanup {
        let why = match o.reason.take() {
            Some(r0) => format!("{r0}; and {e:#}"),
            None => format!("{e:#}"),
        };
        o.fail(why);
    }
    if let Some(rd) = &run_dir {
        annotate_run(r, o, command, &prov, rd);
    }
}

/// How the loop filesystem `l` was made (nothing when the cell ran on an existing one); the
/// commands are filled in at teardown.
fn provisioning_of(l: Option<&LoopFs>) -> Provisioning {
    Provisioning {
        image: l.map(|l| l.image().to_path_buf()),
        device: l.and_then(|l| l.device().map(str::to_string)),
        mount_point: l.map(|l| l.mount_point().to_path_buf()),
        mkfs_version: l.and_then(|l| l.mkfs_version().map(str::to_string)),
        commands: Vec::new(),
    }
}

/// The fixture the cell wrote must also read back here, on the host's own byte order: for a
/// big-endian cell this is what shows the on-disk format does not depend on the machine.
fn check_fixture_on_host(r: &CellRequest, o: &mut CellOutcome, run_dir: &Path) {
    match judge::fixture_verifies_here(&run_dir.join(FIXTURE_DIR)) {
        Ok(msg) => o.host_fixture_check = Some(msg),
        Err(why) => {
            let why = format!(
                "the fixture the {} cell wrote does not verify on this {} host: {why}",
                r.arch(),
                r.host.arch
            );
            o.host_fixture_check = Some(why.clone());
            o.fail(why);
        }
    }
}

/// For a cell whose byte order is not the host's: its crash states recovered by the host's
/// binary and the host's by its own, identically, or the cell FAILs.
fn cross_byte_orders(r: &CellRequest, o: &mut CellOutcome, command: &CellCommand, run_dir: &Path) {
    let Some(endian) = o.detected_endian.clone() else {
        return;
    };
    if endian == crate::platform::endian() {
        return;
    }
    let c = byte_order::cross(r, command, &endian, run_dir);
    let line = byte_order::describe(&c);
    say(&format!(
        "byte orders: {} ({:.1} s; {}/{})",
        if c.pass { "PASS" } else { "FAIL" },
        c.seconds,
        run_dir.display(),
        byte_order::DIR
    ));
    say(&format!("  {line}"));
    if !c.pass {
        let why = match o.reason.take() {
            Some(earlier) => format!("{earlier}; and {line}"),
            None => line,
        };
        o.fail(why);
    }
    o.byte_order_crossing = Some(c);
}

/// Adds the matrix's evidence to the cell's run directory; failing that is the cell's FAIL.
fn annotate_run(
    r: &CellRequest,
    o: &mut CellOutcome,
    command: &CellCommand,
    prov: &Provisioning,
    run_dir: &Path,
) {
    let annotation = Annotation {
        request: r,
        command,
        provisioning: prov,
        outcome: o,
    };
    if let Err(e) = annotate::annotate(run_dir, &annotation) {
        o.fail(format!(
            "cannot add the matrix's evidence to {}: {e:#}",
            run_dir.display()
        ));
    }
}

/// Every `<evidence>/<arch>/<fs>/run-<N>` that exists now.
fn runs_under(evidence: &Path) -> BTreeSet<PathBuf> {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    };
    let is_run = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(run_number)
            .is_some()
    };
    let mut out = BTreeSet::new();
    for a in dirs(evidence) {
        for f in dirs(&a) {
            out.extend(dirs(&f).into_iter().filter(|r| is_run(r)));
        }
    }
    out
}
