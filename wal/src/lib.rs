//! The telemetry write-ahead log under certification.
//!
//! Entries are length-prefixed, CRC-32C-checksummed JSON frames appended to `wal.log`; the
//! highest committed sequence number lives in `telemetry.safe_seq`, replaced by atomic rename.
//! An append is acknowledged only once both are durable; recovery on open discards what was
//! never acknowledged and refuses to silently drop anything that was. The format and protocol
//! are specified in `docs/wal-format.md`; [`format`](mod@format) is their only encoding.
//!
//! Besides the log itself the crate carries what certifies it: the read-only [`verify`]er
//! (invariants R1-R5 and JSON integrity) and the [`conformance`] suite (R1-R5, S1-S12), which
//! the `portability-matrix` binary runs on each architecture and filesystem under test, and the
//! [`record`]ing storage both the suite and the crash explorer run the WAL through.
//!
//! ```no_run
//! let mut wal = wal::Wal::open("/var/lib/telemetry")?;
//! let seq = wal.append(br#"{"cpu":0.5}"#)?;
//! for entry in wal.read_from(seq) {
//!     let entry = entry?;
//!     println!("{}: {}", entry.seq, String::from_utf8_lossy(&entry.payload));
//! }
//! # Ok::<(), wal::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Whether the defect `$d` of [`defects`] is enabled on this thread; `false` without the
/// `defects` feature, so a release build's hooks are constant and compile away.
macro_rules! defect_active {
    ($d:ident) => {{
        #[cfg(feature = "defects")]
        let on = crate::defects::active(crate::defects::Defect::$d);
        #[cfg(not(feature = "defects"))]
        let on = false;
        on
    }};
}

pub mod conformance;
#[cfg(feature = "defects")]
pub mod defects;
mod error;
pub mod faulty;
pub mod format;
pub mod inject;
mod log;
pub mod mem;
mod paths;
pub mod record;
mod recovery;
pub mod scan;
mod seq;
pub mod storage;
pub mod verify;

pub use error::{CorruptKind, Error, Result};
pub use log::{Entry, ReadFrom, Wal};
pub use paths::Paths;
pub use recovery::{read_safe_seq, Recovery};
pub use seq::Seq;
pub use storage::{OpenMode, StdStorage, Storage, StorageFile};
