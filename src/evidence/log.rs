//! What a run prints: to the terminal and to `autonomy.log` as it happens, and the kernel's
//! own log around it (`dmesg.txt`).
//!
//! The log is written line by line as the cell goes, so a cell that dies still leaves its log,
//! and a kernel log that cannot be read is recorded with the reason instead of failing the cell.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::layout::DMESG_TXT;

/// Everything the cell prints, to the terminal and to `autonomy.log` as it happens.
pub struct Log {
    file: File,
    path: PathBuf,
}

impl Log {
    pub fn create(path: PathBuf) -> Result<Log> {
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Log { file, path })
    }

    pub fn line(&mut self, s: &str) {
        say(s);
        if let Err(e) = writeln!(self.file, "{s}") {
            eprintln!("warning: cannot append to {}: {e}", self.path.display());
        }
    }
}

/// Prints a line to stdout. A closed stdout (`| head`, a dead terminal) is not a reason to stop
/// a cell half-way: the line still reaches `autonomy.log`, so write errors are ignored here.
pub fn say(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
}

/// The kernel ring buffer, or a line saying why it could not be read.
pub fn dmesg() -> String {
    match Command::new("dmesg").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "(dmesg could not be read: exit {}: {}; reading the kernel log needs root when kernel.dmesg_restrict=1)\n",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("(dmesg could not be run: {e})\n"),
    }
}

/// Writes `dmesg.txt` from the snapshots taken before and after the run. Lines already in the
/// first snapshot are not repeated in the second.
pub fn write_dmesg(run: &Path, before: &str, after: &str) -> Result<()> {
    let new: String = if before.starts_with('(') || after.starts_with('(') {
        after.to_string()
    } else {
        let seen: std::collections::HashSet<&str> = before.lines().collect();
        after
            .lines()
            .filter(|l| !seen.contains(l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let text = format!(
        "== kernel ring buffer before the cell ==\n{before}\n== new lines after the cell ==\n{}\n",
        if new.is_empty() { "(none)\n" } else { &new }
    );
    let p = run.join(DMESG_TXT);
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
}
