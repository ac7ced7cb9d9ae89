//! Deliberately broken variants of the commit protocol and of recovery, for testing the testers.
//!
//! A crash explorer that never reports anything proves nothing unless it is seen to catch a
//! protocol that is known to be wrong. Each [`Defect`] is one classic mistake; while it is
//! enabled on a thread (by [`enable`]), the WAL code on that thread makes that mistake. This
//! module exists only with the crate's non-default `defects` feature, so no release build can
//! contain a defective protocol; without the feature the hooks compile to nothing.

use std::cell::Cell;

/// A known defect of the commit protocol or of recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// The commit renames the new safe_seq into place (and fsyncs the directory) before it
    /// fdatasyncs the frame: a power cut in between leaves a safe_seq naming a frame that never
    /// reached the disk.
    RenameBeforeFrameSync,
    /// The commit never fsyncs the directory after the rename: the append returns although the
    /// new safe_seq's name is not durable, so an acknowledged entry can vanish.
    NoDirSyncAfterRename,
    /// The commit never fsyncs `telemetry.safe_seq.tmp` before renaming it over
    /// `telemetry.safe_seq` (the directory is still fsynced after the rename): the new name can
    /// be durable while the bytes it names are not, so the append returns although the new
    /// safe_seq may read back empty.
    NoTmpSyncBeforeRename,
    /// Recovery accepts a frame without comparing its checksum: damage inside the committed
    /// range is taken for data instead of being reported.
    RecoveryTrustsFrameWithoutChecksum,
    /// Recovery accepts a frame in the committed range whatever seq it carries, as long as its
    /// checksum holds: a misdirected or duplicated frame, whole and checksummed, is taken for
    /// the entry that belongs there.
    RecoveryIgnoresSeq,
}

thread_local! {
    static ACTIVE: Cell<Option<Defect>> = const { Cell::new(None) };
}

/// Enables `defect` on this thread until the guard is dropped (which restores what was active).
pub fn enable(defect: Defect) -> Guard {
    Guard {
        previous: ACTIVE.with(|a| a.replace(Some(defect))),
    }
}

/// Whether `defect` is enabled on this thread.
pub fn active(defect: Defect) -> bool {
    ACTIVE.with(|a| a.get() == Some(defect))
}

/// Keeps a defect enabled; see [`enable`].
#[derive(Debug)]
#[must_use = "the defect is disabled again when the guard is dropped"]
pub struct Guard {
    previous: Option<Defect>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.previous));
    }
}
