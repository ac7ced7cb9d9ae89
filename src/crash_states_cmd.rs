//! `portability-matrix crash-states` and `recover-states`: crash states kept on disk by one
//! binary and recovered by another, for the matrix's check across byte orders
//! (`crate::crash::states` does the work; `crate::matrix::byte_order` runs the two binaries).
//!
//! `recover-states --against FILE` is the check itself, in one command: it recovers the states
//! with this binary and compares what it recovered with the report another binary wrote.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::crash::states::{compare, recover_states, write_states, Recoveries, WriteRequest};
use crate::evidence::log::say;
use crate::platform;
use crate::self_exec::self_command;

/// `crash-states`: writes the states of `req` with this binary.
pub fn write(req: &WriteRequest) -> Result<ExitCode> {
    let mut log = |s: &str| say(s);
    write_states(
        req,
        platform::arch(),
        platform::endian(),
        &self_command,
        &mut log,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `recover-states`: recovers every state in `dir` with this binary; writes the report to `out`
/// and, with `against`, compares it with another binary's report: exit 1 when they differ.
pub fn recover(dir: &Path, out: Option<&Path>, against: Option<&Path>) -> Result<ExitCode> {
    let mine = recover_states(dir, platform::arch(), platform::endian())?;
    let opened = mine.opened();
    say(&format!(
        "recovered {} states written by {} with this {} binary ({}-endian): {opened} opened, {} refused as damaged",
        mine.states.len(),
        mine.writer_arch,
        mine.reader_arch,
        mine.byte_order,
        mine.states.len() - opened
    ));
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_vec_pretty(&mine)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let Some(against) = against else {
        return Ok(ExitCode::SUCCESS);
    };
    let text =
        std::fs::read(against).with_context(|| format!("cannot read {}", against.display()))?;
    let theirs: Recoveries = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a report of recover-states --out",
            against.display()
        )
    })?;
    let diff = compare(&mine, &theirs);
    if diff.is_empty() {
        say(&format!(
            "identical: {} ({}-endian) recovered every state exactly as {} ({}-endian) did",
            mine.reader_arch, mine.byte_order, theirs.reader_arch, theirs.byte_order
        ));
        return Ok(ExitCode::SUCCESS);
    }
    say(&format!(
        "DIFFERENT: {} of {} states recovered otherwise by {} than by {}:",
        diff.len(),
        mine.states.len(),
        mine.reader_arch,
        theirs.reader_arch
    ));
    for d in &diff {
        say(&format!("  {d}"));
    }
    Ok(ExitCode::FAILURE)
}
