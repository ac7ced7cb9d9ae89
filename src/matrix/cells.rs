//! One cell of the matrix: pick the binary, decide how to execute it and where its filesystem
//! comes from, run `portability-matrix cell` as a child process there, and judge the result.
//!
//! The child writes its own evidence. The matrix only accepts it when the evidence itself says
//! the cell ran on what was asked for: the `arch` the running binary detected must be the
//! requested architecture, the `fs_type` detected from the mount table must be the requested
//! filesystem (and, on a loop filesystem, the mount must be the one made for this cell), and the
//! seed must be the matrix's. Anything else is FAIL, never PASS. A cell that cannot run here
//! (no binary, no emulator, no root for a loop device, no mkfs) is SKIP with the reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::annotate::{self, Provisioning};
use super::child::{describe_exit, spawn_and_wait};
use super::emulation::{self, Exec};
use super::interrupt;
use super::judge::judge;
use super::loopfs::LoopFs;
use crate::cli::EmulationMode;
use crate::self_exec::EXEC_WRAPPER_ENV;

/// The seed document's six cells.
pub fn is_seed_cell(arch: &str, fs: &str) -> bool {
    crate::cell_id::seed_number(arch, fs).is_some()
}

/// What the matrix knows about the host before any cell runs.
#[derive(Debug, Clone)]
pub struct Host {
    pub arch: &'static str,
    pub root: bool,
    pub temp_dir: PathBuf,
    pub temp_fs: Option<String>,
    pub kernel: String,
}

impl Host {
    pub fn detect() -> Host {
        let temp_dir = std::env::temp_dir();
        Host {
            arch: crate::platform::arch(),
            root: nix::unistd::geteuid().is_root(),
            temp_fs: crate::platform::mount_of(&temp_dir).ok().map(|m| m.fs_type),
            temp_dir,
            kernel: crate::platform::kernel(),
        }
    }
}

/// One cell to run, and the matrix-wide settings it runs with.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub index: usize,
    pub arch: &'a str,
    pub fs: &'a str,
    pub seed: u64,
    pub iterations: u32,
    /// Absolute.
    pub evidence: &'a Path,
    pub binaries: &'a Path,
    pub image_size: u64,
    pub timeout: Option<Duration>,
    pub commit: Option<&'a str>,
    pub emulation: EmulationMode,
    pub host: &'a Host,
    /// The `matrix` command line that reproduces this cell alone.
    pub rerun: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// A cell's result: a row of the table and an entry of matrix.json.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub cell: usize,
    pub arch: String,
    pub fs: String,
    pub seed_cell: bool,
    pub status: Status,
    pub reason: Option<String>,
    pub passed: Option<u32>,
    pub total_iterations: u32,
    pub seconds: f64,
    /// native, binfmt_misc, explicit (or unavailable when SKIP).
    pub execution: &'static str,
    pub emulated: bool,
    pub emulator: Option<String>,
    pub emulator_version: Option<String>,
    pub binary: Option<String>,
    /// loop (a fresh filesystem), existing (the temp dir already was that type), none.
    pub filesystem: &'static str,
    pub image_size: Option<u64>,
    pub detected_arch: Option<String>,
    pub detected_fs: Option<String>,
    pub run_dir: Option<String>,
    pub exit: Option<String>,
    /// The cell's known-good fixture, verified again by the matrix on the host.
    pub host_fixture_check: Option<String>,
}

/// Where a cell's filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsPlan {
    Loop { mkfs: PathBuf },
    Existing { dir: PathBuf },
    Skip { reason: String },
}

/// Decides where the cell's filesystem comes from: a fresh loop filesystem when this is root
/// and `mkfs.<fs>` exists, else the temp dir when it already is that filesystem, else SKIP.
pub fn plan_fs(
    fs: &str,
    root: bool,
    mkfs: Option<PathBuf>,
    temp_dir: &Path,
    temp_fs: Option<&str>,
) -> FsPlan {
    match mkfs {
        Some(mkfs) if root => return FsPlan::Loop { mkfs },
        _ if temp_fs == Some(fs) => {
            return FsPlan::Existing {
                dir: temp_dir.to_path_buf(),
            }
        }
        _ => {}
    }
    let mut missing = Vec::new();
    if !root {
        missing.push("root (a loop device and a mount need it; run as root, e.g. sudo make portability-matrix-full)".to_string());
    }
    if mkfs.is_none() {
        missing.push(format!(
            "mkfs.{fs}, which is not installed (xfs: xfsprogs, btrfs: btrfs-progs; scripts/install-matrix-deps.sh installs ext4 and xfs)"
        ));
    }
    FsPlan::Skip {
        reason: format!(
            "a fresh {fs} filesystem needs {}; the temp dir {} is {} (set TMPDIR to a directory on {fs} to run there instead)",
            missing.join(" and "),
            temp_dir.display(),
            temp_fs.unwrap_or("of unknown type"),
        ),
    }
}

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
    let mut out = BTreeSet::new();
    for a in dirs(evidence) {
        for f in dirs(&a) {
            for r in dirs(&f) {
                if r.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("run-"))
                {
                    out.insert(r);
                }
            }
        }
    }
    out
}

impl Outcome {
    fn new(r: &Request) -> Outcome {
        Outcome::not_run(r.index, r.arch, r.fs, r.iterations, "")
    }

    /// A SKIP row for a cell that was never started.
    pub fn not_run(index: usize, arch: &str, fs: &str, iterations: u32, why: &str) -> Outcome {
        Outcome {
            cell: index,
            arch: arch.to_string(),
            fs: fs.to_string(),
            seed_cell: is_seed_cell(arch, fs),
            status: Status::Skip,
            reason: (!why.is_empty()).then(|| why.to_string()),
            passed: None,
            total_iterations: iterations,
            seconds: 0.0,
            execution: "unavailable",
            emulated: false,
            emulator: None,
            emulator_version: None,
            binary: None,
            filesystem: "none",
            image_size: None,
            detected_arch: None,
            detected_fs: None,
            run_dir: None,
            exit: None,
            host_fixture_check: None,
        }
    }

    fn end(mut self, status: Status, reason: Option<String>, started: Instant) -> Outcome {
        self.status = status;
        self.reason = reason;
        self.seconds = started.elapsed().as_secs_f64();
        self
    }
}

/// Runs one cell. Never returns an error: everything that goes wrong is the cell's FAIL or SKIP
/// with the reason.
pub fn run_cell(r: &Request) -> Outcome {
    let started = Instant::now();
    let mut o = Outcome::new(r);
    let binary = match binary_for(r.arch, r.host.arch, r.binaries) {
        Ok(b) => b,
        Err(why) => return o.end(Status::Skip, Some(why), started),
    };
    o.binary = Some(binary.display().to_string());
    // With explicit emulation the handler list is not consulted: an empty path has none.
    let binfmt_dir = match r.emulation {
        EmulationMode::Auto => Path::new(emulation::BINFMT_DIR),
        EmulationMode::Explicit => Path::new(""),
    };
    let exec = emulation::plan(r.arch, r.host.arch, binfmt_dir, &emulation::find_program);
    if let Exec::Unavailable { reason } = &exec {
        return o.end(Status::Skip, Some(reason.clone()), started);
    }
    o.execution = exec.kind();
    o.emulated = exec.emulated();
    o.emulator = exec.describe();
    o.emulator_version = exec.emulator_path().and_then(emulation::emulator_version);

    let mkfs = emulation::find_program(&format!("mkfs.{}", r.fs));
    let plan = plan_fs(
        r.fs,
        r.host.root,
        mkfs,
        &r.host.temp_dir,
        r.host.temp_fs.as_deref(),
    );
    let (dir, loopfs) = match plan {
        FsPlan::Skip { reason } => return o.end(Status::Skip, Some(reason), started),
        FsPlan::Existing { dir } => {
            o.filesystem = "existing";
            (dir, None)
        }
        FsPlan::Loop { mkfs } => match LoopFs::create(r.fs, &mkfs, r.image_size) {
            Ok(l) => {
                o.filesystem = "loop";
                o.image_size = Some(l.size());
                (l.mount_point().to_path_buf(), Some(l))
            }
            Err(e) => {
                let why = format!("could not provide a fresh {} filesystem: {e:#}", r.fs);
                return o.end(Status::Fail, Some(why), started);
            }
        },
    };
    let prov = Provisioning {
        image: loopfs.as_ref().map(|l| l.image().to_path_buf()),
        device: loopfs.as_ref().and_then(|l| l.device().map(str::to_string)),
        mount_point: loopfs.as_ref().map(|l| l.mount_point().to_path_buf()),
        mkfs_version: loopfs
            .as_ref()
            .and_then(|l| l.mkfs_version().map(str::to_string)),
        commands: Vec::new(),
    };
    if interrupt::interrupted() {
        drop(loopfs);
        return o.end(
            Status::Fail,
            Some("interrupted before the cell started".into()),
            started,
        );
    }

    // The cell, as a child process of the right binary.
    let mut argv: Vec<String> = vec![
        "cell".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--evidence".into(),
        r.evidence.display().to_string(),
        "--iterations".into(),
        r.iterations.to_string(),
        "--seed".into(),
        r.seed.to_string(),
    ];
    if let Some(c) = r.commit {
        argv.extend(["--commit".into(), c.to_string()]);
    }
    let (program, wrapper) = match &exec {
        Exec::Explicit { emulator } => (emulator.clone(), Some(emulator.clone())),
        _ => (binary.clone(), None),
    };
    let mut cmd = Command::new(&program);
    if wrapper.is_some() {
        cmd.arg(&binary);
    }
    cmd.args(&argv);
    match &wrapper {
        Some(w) => cmd.env(EXEC_WRAPPER_ENV, w),
        None => cmd.env_remove(EXEC_WRAPPER_ENV),
    };
    let before = runs_under(r.evidence);
    let child = spawn_and_wait(cmd, r.timeout);
    let after = runs_under(r.evidence);

    // Teardown first: whatever happened, the filesystem goes.
    let mut prov = prov;
    let cleanup = match loopfs {
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

    let (mut status, mut reason) = match &child {
        Err(e) => (
            Status::Fail,
            Some(format!("cannot start {}: {e}", program.display())),
        ),
        Ok(end) => {
            o.exit = Some(describe_exit(&end.status));
            judge(r, &mut o, end, run_dir.as_deref(), new_runs.len(), &prov)
        }
    };
    // The fixture the cell wrote must also read back here, on the host's own byte order: for a
    // big-endian cell this is what shows the on-disk format does not depend on the machine.
    if status == Status::Pass {
        if let Some(rd) = &run_dir {
            match fixture_verifies_here(&rd.join("fixture")) {
                Ok(msg) => o.host_fixture_check = Some(msg),
                Err(why) => {
                    status = Status::Fail;
                    reason = Some(format!(
                        "the fixture the {} cell wrote does not verify on this {} host: {why}",
                        r.arch, r.host.arch
                    ));
                    o.host_fixture_check = reason.clone();
                }
            }
        }
    }
    if let Err(e) = cleanup {
        status = Status::Fail;
        reason = Some(match reason {
            Some(r0) => format!("{r0}; and {e:#}"),
            None => format!("{e:#}"),
        });
    }

    if let Some(rd) = &run_dir {
        let ctx = annotate::Context {
            request: r,
            exec: &exec,
            binary: &binary,
            wrapper: wrapper.as_deref(),
            argv: &argv,
            provisioning: &prov,
            outcome: &o,
            status,
            reason: reason.as_deref(),
        };
        if let Err(e) = annotate::annotate(rd, &ctx) {
            status = Status::Fail;
            reason = Some(format!(
                "cannot add the matrix's evidence to {}: {e:#}",
                rd.display()
            ));
        }
    }
    o.end(status, reason, started)
}

/// Verifies a cell's kept fixture WAL in this process (read-only): five frames, safe_seq 5, all
/// invariants.
fn fixture_verifies_here(dir: &Path) -> Result<String, String> {
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

#[cfg(test)]
#[path = "cells_tests.rs"]
mod tests;
