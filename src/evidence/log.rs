//! What a run prints: to the terminal and to `autonomy.log` as it happens, and the kernel's
//! own log around it (`dmesg.txt`).
//!
//! The log is written line by line as the cell goes, so a cell that dies still leaves its log,
//! and a kernel log that cannot be read is recorded with the reason instead of failing the cell.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::layout::DMESG_TXT;
use crate::crash::narrate::Narrator;

/// What the terminal shows: every line a person should see; progress (one line per kill or
/// iteration) as one line updated in place when stdout is a terminal, not at all when it is
/// not, and line by line with `--verbose`.
pub struct Screen {
    verbose: bool,
    tty: bool,
    /// A progress line is on the terminal and the next line must replace it.
    pending: bool,
}

impl Screen {
    pub fn new(verbose: bool) -> Screen {
        Screen {
            verbose,
            tty: std::io::stdout().is_terminal(),
            pending: false,
        }
    }

    fn clear(&mut self) {
        if self.pending {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            self.pending = false;
        }
    }

    fn status(&mut self, status: &str) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{status}");
        let _ = out.flush();
        self.pending = true;
    }
}

impl Narrator for Screen {
    fn line(&mut self, s: &str) {
        self.clear();
        say(s);
    }

    fn progress(&mut self, status: &str, detail: &str) {
        if self.verbose {
            self.line(detail);
        } else if self.tty {
            self.status(status);
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.pending {
            say("");
        }
    }
}

/// Everything the cell prints, to the terminal and to `autonomy.log` as it happens. The log
/// file keeps every line, progress details included.
pub struct Log {
    file: File,
    path: PathBuf,
    screen: Screen,
}

impl Log {
    pub fn create(path: PathBuf, verbose: bool) -> Result<Log> {
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Log {
            file,
            path,
            screen: Screen::new(verbose),
        })
    }

    pub fn line(&mut self, s: &str) {
        self.screen.line(s);
        self.keep(s);
    }

    /// Progress: the detail goes to the file, the status to the screen.
    pub fn progress(&mut self, status: &str, detail: &str) {
        self.screen.progress(status, detail);
        self.keep(detail);
    }

    fn keep(&mut self, s: &str) {
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

/// Prints text to stdout as it is (no newline added), ignoring a closed stdout like [`say`].
pub fn say_raw(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
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
