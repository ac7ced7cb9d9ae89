//! The verdict on a cell that ran: PASS only when the cell certified and its own evidence says it
//! ran on what was asked for (architecture, filesystem, the very mount made for it, the seed),
//! and the fixture it kept verifies again here, on the host.
//!
//! Each check below either passes or returns the reason the cell FAILs; the first that fails
//! decides, in the order a reader would ask: did it end, did it leave evidence, is the evidence
//! about what was asked, did it certify.

use std::path::Path;

use serde_json::Value;

use super::cell_result::{CellOutcome, Provisioning, Status};
use super::child::{describe_exit, ChildEnd, Ending};
use super::request::CellRequest;
use crate::evidence::layout::WAL_VERIFY;

/// What the cell's child left behind, as the judge needs it.
pub struct CellRun<'a> {
    pub end: &'a ChildEnd,
    /// The run directory the cell made, when exactly one new one appeared.
    pub run_dir: Option<&'a Path>,
    /// How many run directories appeared during the cell.
    pub new_runs: usize,
    pub provisioning: &'a Provisioning,
}

/// Reads the cell's wal_verify.json and decides PASS or FAIL; records in `o` what the evidence
/// says the cell detected.
pub fn judge(r: &CellRequest, o: &mut CellOutcome, run: &CellRun) -> (Status, Option<String>) {
    match checks(r, o, run) {
        Ok(()) => (Status::Pass, None),
        Err(why) => (Status::Fail, Some(why)),
    }
}

fn checks(r: &CellRequest, o: &mut CellOutcome, run: &CellRun) -> Result<(), String> {
    let exit = describe_exit(&run.end.status);
    ran_to_its_end(r, run.end, &exit)?;
    let report = read_report(run, &exit)?;
    let s = |k: &str| report.get(k).and_then(|x| x.as_str()).map(str::to_string);
    o.detected_arch = s("arch");
    o.detected_fs = s("fs_type");
    o.detected_endian = s("endian");
    o.passed = report
        .get("passed")
        .and_then(|x| x.as_u64())
        .map(|n| n as u32);
    ran_on_what_was_asked(r, o, &report)?;
    ran_on_the_filesystem_made_for_it(&report, run.provisioning)?;
    certified(run.end, &report, &exit)
}

/// The stderr lines the cell printed last, as a suffix of a reason.
fn stderr_tail(end: &ChildEnd) -> String {
    let t = end.stderr_tail.join(" | ");
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

/// The cell ended by itself, not by Ctrl-C or its time limit.
fn ran_to_its_end(r: &CellRequest, end: &ChildEnd, exit: &str) -> Result<(), String> {
    match end.ending {
        Ending::Interrupted => Err(format!("interrupted ({exit})")),
        Ending::TimedOut => Err(format!(
            "stopped after the cell timeout of {} s ({exit})",
            r.config.cell_timeout.map_or(0, |t| t.as_secs())
        )),
        Ending::Exited => Ok(()),
    }
}

/// The cell's own wal_verify.json, from the one run directory it made.
fn read_report(run: &CellRun, exit: &str) -> Result<Value, String> {
    let Some(run_dir) = run.run_dir else {
        return Err(if run.new_runs == 0 {
            format!(
                "the cell wrote no evidence ({exit}){}",
                stderr_tail(run.end)
            )
        } else {
            format!("{} new run directories appeared under the evidence tree during the cell; cannot tell which is this cell's", run.new_runs)
        });
    };
    let path = run_dir.join(WAL_VERIFY);
    std::fs::read_to_string(&path)
        .map_err(anyhow::Error::from)
        .and_then(|t| serde_json::from_str(&t).map_err(anyhow::Error::from))
        .map_err(|e| {
            format!(
                "the cell left no readable {} ({exit}): {e}{}",
                path.display(),
                stderr_tail(run.end)
            )
        })
}

/// The evidence carries the matrix's seed, the requested architecture and filesystem.
fn ran_on_what_was_asked(r: &CellRequest, o: &CellOutcome, report: &Value) -> Result<(), String> {
    if report.get("seed").and_then(|x| x.as_u64()) != Some(r.seed) {
        return Err(format!(
            "the cell's evidence does not carry the matrix seed {}",
            r.seed
        ));
    }
    if o.detected_arch.as_deref() != Some(r.arch()) {
        return Err(format!(
            "the binary ran as {}, not {}: a cell is never certified by a binary of another architecture",
            o.detected_arch.as_deref().unwrap_or("an unknown architecture"),
            r.arch()
        ));
    }
    if o.detected_fs.as_deref() != Some(r.fs()) {
        return Err(format!(
            "the cell ran on {}, not {}",
            o.detected_fs.as_deref().unwrap_or("an unknown filesystem"),
            r.fs()
        ));
    }
    Ok(())
}

/// On a loop filesystem, the mount the cell saw is the one made for it.
fn ran_on_the_filesystem_made_for_it(report: &Value, prov: &Provisioning) -> Result<(), String> {
    let (Some(mp), Some(dev)) = (&prov.mount_point, &prov.device) else {
        return Ok(());
    };
    let m = report.get("mount");
    let got = |k: &str| m.and_then(|m| m.get(k)).and_then(|x| x.as_str());
    let (got_mp, got_src) = (got("mount_point"), got("source"));
    if got_mp != Some(&mp.display().to_string()) || got_src != Some(dev.as_str()) {
        return Err(format!(
            "the cell ran on {} from {}, not on the filesystem made for it ({} from {dev})",
            got_mp.unwrap_or("?"),
            got_src.unwrap_or("?"),
            mp.display()
        ));
    }
    Ok(())
}

/// The cell exited 0 and its report says it passed.
fn certified(end: &ChildEnd, report: &Value, exit: &str) -> Result<(), String> {
    let pass = report.get("pass").and_then(|x| x.as_bool()) == Some(true);
    match end.status.code() {
        Some(0) if pass => Ok(()),
        Some(1) | Some(0) => Err(format!(
            "the cell did not certify ({exit}): {}",
            failed_steps(report).join("; ")
        )),
        _ => Err(format!(
            "the cell could not run to the end ({exit}){}",
            stderr_tail(end)
        )),
    }
}

/// "<step>: <msg>" for every step of the report that did not pass.
fn failed_steps(report: &Value) -> Vec<String> {
    let Some(steps) = report.get("steps").and_then(|s| s.as_object()) else {
        return Vec::new();
    };
    steps
        .iter()
        .filter(|(_, st)| st.get("pass").and_then(|p| p.as_bool()) != Some(true))
        .map(|(k, st)| {
            format!(
                "{k}: {}",
                st.get("msg").and_then(|x| x.as_str()).unwrap_or("")
            )
        })
        .collect()
}

/// Verifies a cell's kept fixture WAL in this process (read-only): five frames, safe_seq 5, all
/// invariants.
pub fn fixture_verifies_here(dir: &Path) -> Result<String, String> {
    let r = wal::verify::verify_dir(dir).map_err(|e| format!("{e}"))?;
    if r.pass() && r.frames == 5 && r.safe_seq.get() == 5 {
        Ok(format!(
            "{} verified on the {} host: {} frames, safe_seq {}",
            dir.display(),
            crate::platform::arch(),
            r.frames,
            r.safe_seq
        ))
    } else {
        Err(format!(
            "{} frames, safe_seq {}, violations: {}",
            r.frames,
            r.safe_seq,
            r.violations
                .iter()
                .map(|v| v.msg.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}
