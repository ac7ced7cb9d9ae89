//! The run directory: `<root>/<arch>/<fs>/run-<N>/` and the names of the files in it.
//!
//! Run numbers are claimed with `create_dir`, so two cells writing to the same tree never share
//! a run, and "the newest run" is the highest N. Every module that writes or reads a run
//! directory takes its file names from here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The structured report of a run (`wal_verify.json`, schema `schemas/wal_verify.schema.json`).
pub const WAL_VERIFY: &str = "wal_verify.json";
/// The commands that reproduce a run.
pub const CMD_TXT: &str = "cmd.txt";
/// Everything the run printed.
pub const AUTONOMY_LOG: &str = "autonomy.log";
/// The kernel ring buffer around the run.
pub const DMESG_TXT: &str = "dmesg.txt";
/// The known-good WAL of step 3, kept so it can be verified again.
pub const FIXTURE_DIR: &str = "fixture";
/// Artifacts holding a cell's evidence are named `portability-evidence-<arch>-<fs>`.
pub const ARTIFACT_PREFIX: &str = "portability-evidence-";

/// A run directory's name, `run-<n>`.
pub fn run_name(n: u32) -> String {
    format!("run-{n}")
}

/// The `N` of a `run-<N>` name.
pub fn run_number(name: &str) -> Option<u32> {
    name.strip_prefix("run-")?.parse().ok()
}

/// A claimed run directory.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    pub n: u32,
}

/// The highest `run-<N>` in a directory (0 when none).
pub fn highest_run(dir: &Path) -> u32 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| run_number(e.file_name().to_str()?))
        .max()
        .unwrap_or(0)
}

/// Claims `<root>/<arch>/<fs>/run-<N>`, N one more than the highest there.
pub fn claim_run(root: &Path, arch: &str, fs: &str) -> Result<RunDir> {
    let parent = root.join(arch).join(fs);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let mut n = highest_run(&parent) + 1;
    loop {
        let path = parent.join(run_name(n));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(RunDir { path, n }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
}
