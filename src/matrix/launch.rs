//! How a cell's child process is started: which binary (`<binaries>/<arch>/portability-matrix`,
//! or this very binary for the host's own architecture), through which emulator, with which
//! arguments.
//!
//! The command is kept as data (program, wrapper, arguments) rather than only as a
//! `std::process::Command`, because the evidence records it: `cmd.txt` must say exactly what ran.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::emulation::Exec;
use super::request::CellRequest;
use crate::self_exec::EXEC_WRAPPER_ENV;
use crate::shell::shell_quote;

/// The binary for `arch`: `<binaries>/<arch>/portability-matrix`, or for the host's own
/// architecture this very binary when that is missing.
pub fn binary_for(arch: &str, host_arch: &str, binaries: &Path) -> Result<PathBuf, String> {
    let p = binaries.join(arch).join("portability-matrix");
    if p.is_file() {
        return std::path::absolute(&p).map_err(|e| format!("cannot resolve {}: {e}", p.display()));
    }
    if arch == host_arch {
        return std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"));
    }
    Err(format!(
        "no {arch} binary at {} (build it with scripts/cross-build.sh {arch})",
        p.display()
    ))
}

/// The `portability-matrix cell …` command of one cell.
#[derive(Debug, Clone)]
pub struct CellCommand {
    /// The cell's binary.
    pub binary: PathBuf,
    /// The emulator named explicitly, when there is one; it runs `binary`, and the cell is told
    /// (through `PM_EXEC_WRAPPER`) to spawn itself through it too.
    pub wrapper: Option<PathBuf>,
    /// The arguments after the binary.
    pub argv: Vec<String>,
}

impl CellCommand {
    /// The command that runs the cell of `r` in `dir` with `binary`, executed as `exec` says.
    pub fn new(r: &CellRequest, exec: &Exec, binary: PathBuf, dir: &Path) -> CellCommand {
        let mut argv: Vec<String> = vec![
            "cell".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--evidence".into(),
            r.evidence.display().to_string(),
            "--iterations".into(),
            r.config.iterations.to_string(),
            "--seed".into(),
            r.seed.to_string(),
        ];
        if let Some(c) = &r.config.commit {
            argv.extend(["--commit".into(), c.clone()]);
        }
        let wrapper = match exec {
            Exec::Explicit { emulator } => Some(emulator.clone()),
            _ => None,
        };
        CellCommand {
            binary,
            wrapper,
            argv,
        }
    }

    /// The program executed: the emulator, or else the binary itself.
    pub fn program(&self) -> &Path {
        self.wrapper.as_deref().unwrap_or(&self.binary)
    }

    /// The same binary, run the same way, with other arguments.
    pub fn with_argv(&self, argv: Vec<String>) -> CellCommand {
        CellCommand {
            binary: self.binary.clone(),
            wrapper: self.wrapper.clone(),
            argv,
        }
    }

    /// The command as a shell line, with the arguments `args` (already quoted) in place of its
    /// own.
    pub fn shell_line_with(&self, args: Vec<String>) -> String {
        let q = |p: &Path| shell_quote(&p.display().to_string());
        let mut words: Vec<String> = Vec::new();
        if let Some(w) = &self.wrapper {
            words.push(format!("{EXEC_WRAPPER_ENV}={}", q(w)));
            words.push(q(w));
        }
        words.push(q(&self.binary));
        words.extend(args);
        words.join(" ")
    }

    /// The command as a shell line.
    pub fn shell_line(&self) -> String {
        self.shell_line_with(self.argv.iter().map(|a| shell_quote(a)).collect())
    }

    pub fn to_command(&self) -> Command {
        let mut cmd = Command::new(self.program());
        if self.wrapper.is_some() {
            cmd.arg(&self.binary);
        }
        cmd.args(&self.argv);
        match &self.wrapper {
            Some(w) => cmd.env(EXEC_WRAPPER_ENV, w),
            None => cmd.env_remove(EXEC_WRAPPER_ENV),
        };
        cmd
    }
}
