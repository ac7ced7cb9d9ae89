//! Where a WAL directory's files are: one place names them, for the writer, recovery, the
//! verifier and everything that makes or inspects leftovers.
//!
//! It sits below all of them so that each can find the files without importing another (the
//! writer calls recovery, and recovery must not reach back into the writer for the names). The
//! names themselves are part of the on-disk format and come from [`crate::format`].

use std::path::{Path, PathBuf};

use crate::format;

/// The paths of a WAL directory's files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The directory.
    pub dir: PathBuf,
    /// `wal.log`.
    pub log: PathBuf,
    /// `telemetry.safe_seq`.
    pub safe_seq: PathBuf,
    /// `telemetry.safe_seq.tmp`.
    pub safe_seq_tmp: PathBuf,
    /// `wal.lock`.
    pub lock: PathBuf,
}

impl Paths {
    /// The file paths for a WAL in `dir`.
    pub fn new(dir: &Path) -> Paths {
        Paths {
            dir: dir.to_path_buf(),
            log: dir.join(format::LOG_FILE),
            safe_seq: dir.join(format::SAFE_SEQ_FILE),
            safe_seq_tmp: dir.join(format::SAFE_SEQ_TMP_FILE),
            lock: dir.join(format::LOCK_FILE),
        }
    }
}
