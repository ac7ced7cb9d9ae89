//! The crate's one error type.
//!
//! Each variant states what happened and carries what a person needs to act on it: the directory,
//! the seq and byte offset of damaged data. Damaged committed data is always an error, never a
//! silent truncation: recovery only discards what was never acknowledged.

use std::path::PathBuf;

use crate::seq::Seq;

/// Why a committed frame is considered damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The log ends before the frame that safe_seq says was committed.
    Missing,
    /// The frame's stored CRC-32C does not match its contents.
    Checksum,
    /// The frame is cut short by the end of the file.
    Truncated,
    /// The frame's length field is outside 1 ..= 16 MiB.
    BadLength(u32),
    /// A frame with this seq stands where the next seq was expected.
    OutOfOrder(Seq),
}

impl std::fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptKind::Missing => f.write_str("the log ends before it"),
            CorruptKind::Checksum => f.write_str("its checksum does not match"),
            CorruptKind::Truncated => f.write_str("it is cut short by the end of the file"),
            CorruptKind::BadLength(n) => write!(f, "its length field ({n}) is out of range"),
            CorruptKind::OutOfOrder(s) => write!(f, "a frame with seq {s} stands in its place"),
        }
    }
}

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "fdatasync"…).
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path does not exist.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// The path exists but is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// Another writer holds the directory's lock.
    #[error("the WAL in {dir} is already open by another writer (its wal.lock is held); close that writer first")]
    Locked {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// `wal.log` is not a v1 WAL file.
    #[error("{path} is not a WAL: {reason}")]
    NotAWal {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `telemetry.safe_seq` does not hold a decimal number and a newline.
    #[error("{path} holds {content:?}, not a decimal sequence number followed by a newline")]
    BadSafeSeq {
        /// The file.
        path: PathBuf,
        /// Its first bytes, lossily decoded.
        content: String,
    },
    /// A committed frame (seq <= safe_seq) is missing or damaged. Nothing was changed on disk.
    #[error("committed entry {seq} at byte offset {offset} of {path} is damaged: {kind}; the WAL was left untouched for inspection")]
    Corrupt {
        /// The seq of the damaged committed entry.
        seq: Seq,
        /// Byte offset in `wal.log` where it was expected.
        offset: u64,
        /// How it is damaged.
        kind: CorruptKind,
        /// The log file.
        path: PathBuf,
    },
    /// A payload the WAL refuses to store.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// A batch with no entries.
    #[error("an append batch must hold at least one entry")]
    EmptyBatch,
    /// The sequence space is exhausted.
    #[error("sequence numbers are exhausted (safe_seq is u64::MAX)")]
    SeqOverflow,
    /// An earlier write or sync failed, so the on-disk state is unknown.
    #[error("an earlier write to this WAL failed ({0}); reopen the WAL to recover before appending again")]
    Poisoned(String),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
