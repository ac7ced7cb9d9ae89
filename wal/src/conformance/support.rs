//! What every check of the conformance suite works with: the storage and directory it runs in,
//! the way it reports, and the few steps all checks repeat (a fresh directory, some appends, a
//! phantom frame, the verifier's word on one invariant).
//!
//! It sits below the check families (`structure`, `protocol`, `damage`, `recovery`) and below the suite's
//! table in `mod.rs`, so that the table calls the families and the families call only this: no
//! family reaches back into the module that calls it.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::inject;
use crate::log::Wal;
use crate::mem::MemStorage;
use crate::paths::Paths;
use crate::record::Inodes;
use crate::recovery::read_safe_seq;
use crate::seq::Seq;
use crate::storage::{OpenMode, PathKind, StdStorage, Storage, StorageFile};
use crate::verify::{self, Invariant, Report};

/// A check's outcome.
pub type Outcome = Result<(), String>;

/// Asks another process to open the WAL in a directory; `Ok(true)` when that open was refused
/// because of the lock.
pub type LockProbe<'a> = &'a dyn Fn(&Path) -> Result<bool, String>;

/// Fails the check with a message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// A storage the suite runs on: the seam, file identities for the recorder, and directories.
pub trait SuiteStorage: Inodes + Clone {
    /// Creates `dir` and every missing ancestor.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Removes `dir` and everything below it.
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
}

impl SuiteStorage for StdStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(dir)
    }
}

impl SuiteStorage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        MemStorage::create_dir_all(self, dir);
        Ok(())
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        MemStorage::remove_dir_all(self, dir);
        Ok(())
    }
}

/// Where one check runs: its storage, its own directory, and the cross-process lock probe
/// (given only on the real filesystem, where another process can open the same directory).
pub struct Site<'a, S> {
    /// The storage under test.
    pub storage: S,
    /// The check's own directory.
    pub dir: PathBuf,
    /// Asks another process to open a directory.
    pub probe: Option<LockProbe<'a>>,
}

/// A WAL error as a check's message.
pub fn e<T>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// A deterministic, varied JSON payload for entry `i`.
pub fn payload(i: u64) -> Vec<u8> {
    format!(
        r#"{{"i":{i},"metric":"cpu.load","value":{}.{},"tags":["host-{}","ünï"]}}"#,
        i * 7 % 100,
        i % 10,
        i % 3
    )
    .into_bytes()
}

/// The seqs `read_from(from)` yields.
pub fn seqs<S: Storage>(wal: &Wal<S>, from: Seq) -> Result<Vec<u64>, String> {
    wal.read_from(from)
        .map(|r| r.map(|en| en.seq.get()).map_err(|e| e.to_string()))
        .collect()
}

impl<S: SuiteStorage> Site<'_, S> {
    /// An empty directory `name` in the check's directory (cleared if it was there).
    pub fn fresh(&self, name: &str) -> Result<PathBuf, String> {
        let d = self.dir.join(name);
        if self.exists(&d) {
            self.storage
                .remove_dir_all(&d)
                .map_err(|e| format!("cannot clear {}: {e}", d.display()))?;
        }
        self.storage
            .create_dir_all(&d)
            .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        Ok(d)
    }

    /// Whether anything is at `path` (an error counts as nothing, as `Path::exists` has it).
    pub fn exists(&self, path: &Path) -> bool {
        matches!(self.storage.kind(path), Ok(PathKind::File | PathKind::Dir))
    }

    /// Opens the WAL in `dir`, running recovery.
    pub fn open(&self, dir: &Path) -> Result<Wal<S>, String> {
        e(Wal::open_with(self.storage.clone(), dir))
    }

    /// Opens the WAL in `dir` and appends entries 1..=n, each of which must get its seq.
    pub fn write_entries(&self, dir: &Path, n: u64) -> Outcome {
        let mut wal = self.open(dir)?;
        for i in 1..=n {
            let s = e(wal.append(&payload(i)))?;
            ensure!(s == Seq::new(i), "append {i} returned seq {s}");
        }
        Ok(())
    }

    /// Appends a phantom frame (written, never committed) with `seq` and the payload of entry `i`.
    pub fn phantom(&self, dir: &Path, seq: u64, i: u64) -> Outcome {
        e(inject::phantom_frame(
            &self.storage,
            dir,
            Seq::new(seq),
            &payload(i),
        ))
        .map(drop)
    }

    /// `telemetry.safe_seq` as it is on the storage.
    pub fn on_disk_safe_seq(&self, dir: &Path) -> Result<u64, String> {
        e(read_safe_seq(&self.storage, &Paths::new(dir))).map(Seq::get)
    }

    /// The verifier's report on `dir`.
    pub fn verify(&self, dir: &Path) -> Result<Report, String> {
        e(verify::verify_with(&self.storage, dir))
    }

    /// Fails unless the verifier finds `inv` holding in `dir`.
    pub fn holds(&self, dir: &Path, inv: Invariant) -> Outcome {
        let r = self.verify(dir)?;
        let c = &r.invariants[&inv];
        ensure!(c.pass, "{} does not hold: {}", inv.key(), c.msg);
        Ok(())
    }

    /// The length of a file.
    pub fn file_len(&self, path: &Path) -> Result<u64, String> {
        let f = self.read_only(path)?;
        f.len().map_err(|e| e.to_string())
    }

    /// The whole contents of a file.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        let f = self.read_only(path)?;
        let mut buf = vec![0u8; f.len().map_err(|e| e.to_string())? as usize];
        f.read_exact_at(&mut buf, 0).map_err(|e| e.to_string())?;
        Ok(buf)
    }

    /// Cuts a file to `len` bytes behind the WAL's back.
    pub fn cut(&self, path: &Path, len: u64) -> Outcome {
        let mut f = self
            .storage
            .open(path, OpenMode::ReadWrite)
            .map_err(|e| e.to_string())?;
        f.set_len(len).map_err(|e| e.to_string())
    }

    fn read_only(&self, path: &Path) -> Result<S::File, String> {
        self.storage
            .open(path, OpenMode::Read)
            .map_err(|e| e.to_string())
    }
}
