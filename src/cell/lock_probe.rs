//! The lock across processes (S10): a second process, this binary's hidden `lock-probe`
//! subcommand, tries to open a WAL the cell holds open.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::self_exec::self_command;

/// Asks a second process whether it can open the WAL in `dir`; `Ok(true)` when the lock refused it.
pub fn lock_probe(dir: &Path) -> Result<bool, String> {
    let out = self_command()?
        .arg("lock-probe")
        .arg("--dir")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot spawn this binary for the lock probe: {e}"))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "the lock probe failed: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The hidden `lock-probe` subcommand: exit 0 when the lock refused the open, 1 when it opened.
pub fn run_lock_probe(dir: &Path) -> Result<ExitCode> {
    match wal::Wal::open(dir) {
        Err(wal::Error::Locked { .. }) => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(e) => Err(e.into()),
    }
}
