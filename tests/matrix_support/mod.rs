//! Shared by the `matrix_*` tests: running `portability-matrix matrix` in a private temp dir,
//! reading its matrix.json, and looking for anything it may have left mounted or attached.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../common/skip.rs"]
mod skip_log;
pub use skip_log::skip;

pub const BIN: &str = env!("CARGO_BIN_EXE_portability-matrix");

pub fn is_root() -> bool {
    // The effective uid of this process, without unsafe code.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Root and mkfs.<fs>, or the reason the test is skipped.
pub fn need_loop_fs(fs: &str) -> Result<(), String> {
    if !is_root() {
        return Err(format!("a loop {fs} filesystem needs root"));
    }
    if find_program(&format!("mkfs.{fs}")).is_none() {
        return Err(format!("mkfs.{fs} is not installed"));
    }
    if find_program("losetup").is_none() {
        return Err("losetup is not installed".into());
    }
    Ok(())
}

/// A private directory that serves as TMPDIR for the matrix (where its images and mount points
/// go) and holds its evidence.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("pm-matrix-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        Scratch { dir }
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub fn evidence(&self) -> PathBuf {
        self.dir.path().join("evidence")
    }

    pub fn binaries(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// `portability-matrix matrix <args>` with TMPDIR, --evidence and --binaries in here.
    pub fn matrix(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("TMPDIR", self.tmp())
            .env("PM_BLOCK_REPLAY", "off")
            .env_remove("GITHUB_SHA")
            .arg("matrix")
            .arg("--evidence")
            .arg(self.evidence())
            .arg("--binaries")
            .arg(self.binaries())
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.matrix(args).output().unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub fn matrix_json(&self) -> serde_json::Value {
        let p = self.evidence().join("matrix.json");
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    /// Installs an executable script as the cell binary of `arch`.
    pub fn fake_binary(&self, arch: &str, script: &str) -> PathBuf {
        let d = self.binaries().join(arch);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("portability-matrix");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Mounts whose mount point is under this scratch dir, and loop devices whose backing file
    /// is: both must be empty once the matrix has ended.
    pub fn leftovers(&self) -> Vec<String> {
        let root = self.dir.path().display().to_string();
        let mut out: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&root)))
            .map(|l| format!("mount: {l}"))
            .collect();
        if let Ok(o) = Command::new("losetup").arg("-a").output() {
            out.extend(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains(&root))
                    .map(|l| format!("loop: {l}")),
            );
        }
        out.extend(
            std::fs::read_dir(self.tmp())
                .unwrap()
                .flatten()
                .map(|e| format!("file: {}", e.path().display())),
        );
        out
    }
}

pub fn cell(m: &serde_json::Value, i: usize) -> &serde_json::Value {
    &m["cells"][i]
}

/// The filesystem type of the longest mount holding `p`, from /proc/self/mountinfo.
pub fn fs_of(p: &Path) -> Option<String> {
    let p = p.canonicalize().ok()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mp = left.split(' ').nth(4)?;
            let fs = right.split(' ').next()?;
            p.starts_with(mp).then(|| (mp.len(), fs.to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, fs)| fs)
}

/// A cell script that reads --dir like the real cell, then runs `body` with $DIR set.
pub fn script(body: &str) -> String {
    format!(
        "#!/bin/sh\nDIR=\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in --dir) DIR=$2; shift ;; esac\n  shift\ndone\n{body}\n"
    )
}
