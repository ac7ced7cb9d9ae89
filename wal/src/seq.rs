//! `Seq`, the sequence number of a WAL entry.
//!
//! A newtype rather than a bare `u64` so that a byte offset, a count and a sequence number cannot
//! be mixed up in the recovery code, where all three are in play at once. The first entry is 1;
//! `Seq::ZERO` means "nothing committed yet".

use serde::{Deserialize, Serialize};

/// The sequence number of a WAL entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    /// No entry: the safe_seq of an empty WAL.
    pub const ZERO: Seq = Seq(0);
    /// The seq of the first entry.
    pub const FIRST: Seq = Seq(1);

    /// Wraps a raw value.
    pub const fn new(v: u64) -> Seq {
        Seq(v)
    }

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The seq after this one, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Seq> {
        self.0.checked_add(1).map(Seq)
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
