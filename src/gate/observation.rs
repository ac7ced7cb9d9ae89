//! What the evidence says about one cell, before policy and waivers: a `Status` and an
//! `Observation`.
//!
//! Both evidence sources (a folder, `evidence.rs`; GitHub, `github.rs`) produce observations,
//! the waivers name the statuses they cover, and `decision.rs` turns observations into the
//! decision. This module sits below all of them, so none of them needs another to say what a
//! status is.

use std::fmt;

use serde::Serialize;

use crate::cell_id::CellId;
use crate::coverage::Coverage;

/// What the evidence says about one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The cell certified: `pass: true` in its `wal_verify.json`.
    Pass,
    /// The cell ran and did not certify.
    Fail,
    /// The cell was skipped (no emulator, no filesystem).
    Skip,
    /// No evidence for the cell at all.
    Missing,
    /// The evidence existed but GitHub has expired it.
    Expired,
    /// Evidence that cannot be read: no or malformed `wal_verify.json`, a download that was
    /// not a zip, an archive over the size cap, evidence filed under the wrong cell.
    Unreadable,
    /// Evidence from another commit than the one being released.
    Stale,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pass,
        Status::Fail,
        Status::Skip,
        Status::Missing,
        Status::Expired,
        Status::Unreadable,
        Status::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Missing => "MISSING",
            Status::Expired => "EXPIRED",
            Status::Unreadable => "UNREADABLE",
            Status::Stale => "STALE",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// How bad a status is, for the (defensive) case of two observations of one cell.
    pub fn severity(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Skip => 1,
            Status::Fail => 2,
            Status::Missing => 3,
            Status::Expired => 4,
            Status::Stale => 5,
            Status::Unreadable => 6,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the evidence says about one cell, before policy and waivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub cell: CellId,
    pub status: Status,
    /// For FAIL: the failing invariant keys (`R2_SEQ_CONTIGUOUS`, conformance ids such as
    /// `S3`, `RENAME_ATOMIC`). Empty for every other status.
    pub failing: Vec<String>,
    /// One line for a human: why the status, where the evidence came from.
    pub note: String,
    /// Where the evidence was read (a path, or an artifact name and id).
    pub source: String,
    /// For PASS: how much crash testing the evidence shows, held to the policy's minimums.
    pub coverage: Option<Coverage>,
    /// For PASS: whether block replay passed (`None`: the evidence has no `block_replay`
    /// section; `Some(Err(why))`: it was SKIP or FAIL), for a policy that requires it.
    pub block_replay: Option<Result<(), String>>,
}

impl Observation {
    /// An observation that names no failing invariant.
    pub fn plain(cell: &CellId, status: Status, note: String, source: &str) -> Observation {
        Observation {
            cell: cell.clone(),
            status,
            failing: vec![],
            note,
            source: source.to_string(),
            coverage: None,
            block_replay: None,
        }
    }

    /// Evidence that could not be read, and why.
    pub fn unreadable(cell: &CellId, note: String, source: &str) -> Observation {
        Observation::plain(cell, Status::Unreadable, note, source)
    }

    /// A FAIL naming the failing invariant keys.
    pub fn failed(cell: &CellId, failing: Vec<String>, note: String, source: &str) -> Observation {
        Observation {
            failing,
            ..Observation::plain(cell, Status::Fail, note, source)
        }
    }
}
