//! The host's programs: where one is installed, and the version it reports.
//!
//! The matrix and a cell's full-disk fault depend on tools the project does not ship (QEMU,
//! `mkfs.<fs>`) and record in the evidence which ones they used. Finding them and asking their version are the
//! only two things done with them outside of running them, and both happen here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Looks a program up on PATH, then in the sbin directories a non-root PATH often lacks.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first non-empty line `<program> <flag>` prints, stdout before stderr, when it succeeds
/// ("qemu-aarch64 version 7.2.19 (Debian …)" for `--version`, "mke2fs 1.47.0 …" for `-V`).
pub fn version_line(program: &Path, flag: &str) -> Option<String> {
    let out = Command::new(program)
        .arg(flag)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}
