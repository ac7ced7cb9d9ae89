//! Helpers shared by the command-line tests: building WAL directories byte by byte, running the
//! binary, snapshotting a directory to prove a command left it untouched.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use wal::format::{encode_frame, file_header};
use wal::Seq;

/// The binary, with block replay off in the cells it runs: a guest boot takes tens of seconds
/// (tests/block_replay.rs runs it on purpose).
pub fn bin() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("portability-matrix").unwrap();
    c.env("PM_BLOCK_REPLAY", "off");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A log with the given (seq, payload) frames.
pub fn log_of(frames: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = file_header().to_vec();
    for (seq, p) in frames {
        encode_frame(Seq::new(*seq), p, &mut out);
    }
    out
}

/// A WAL directory holding exactly these bytes.
pub fn wal_dir(log: &[u8], safe_seq: Option<&str>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("wal.log"), log).unwrap();
    if let Some(s) = safe_seq {
        std::fs::write(d.path().join("telemetry.safe_seq"), s).unwrap();
    }
    d
}

/// Every file's bytes and modification time under a directory.
pub fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_file() {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                (std::fs::read(e.path()).unwrap(), m.modified().unwrap()),
            );
        }
    }
    out
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[path = "skip.rs"]
mod skip_log;
#[allow(unused_imports)] // not every test file skips
pub use skip_log::skip;
