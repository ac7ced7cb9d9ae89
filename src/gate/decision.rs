//! The gate's decision, as a pure function of four things: what the evidence says about each
//! cell (`Observation`s), the phase policy, the waivers, and today's date.
//!
//! Nothing here reads a file, talks to GitHub or looks at the clock, so every combination of
//! status, requirement and waiver is a plain unit test (see `decision_tests.rs`). The rules:
//!
//! - a gated cell passes only when it is PASS or a valid waiver covers it; every other status
//!   (FAIL, SKIP, MISSING, EXPIRED, UNREADABLE, STALE) blocks;
//! - an informational cell that is not PASS is a warning and never blocks;
//! - an optional cell is only reported;
//! - a waiver covers a cell when the cell is gated, the waiver names the cell, lists the
//!   cell's status, covers every failing invariant key (an empty list covers any), and today is
//!   not after its `expires` date. Expired waivers and waivers that covered nothing are listed.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::Serialize;

use super::policy::{CellId, Policy, Requirement};
use super::waivers::Waiver;

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
}

/// The decision for one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellDecision {
    /// The seed's cell number (1-6), or none for other cells.
    pub number: Option<u8>,
    pub cell: CellId,
    pub arch: String,
    pub fs: String,
    pub requirement: Requirement,
    pub status: Status,
    pub failing: Vec<String>,
    /// The waivers that cover this cell (a gated, non-PASS cell that passes by waiver).
    pub waivers: Vec<String>,
    /// This cell blocks the release.
    pub blocking: bool,
    /// This cell deserves a warning (an informational cell that did not pass).
    pub warning: bool,
    pub note: String,
    pub source: String,
}

/// A waiver named in the decision's lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverRef {
    pub id: String,
    pub cell: CellId,
    pub expires: String,
    pub tracking: String,
}

impl WaiverRef {
    fn of(w: &Waiver) -> WaiverRef {
        WaiverRef {
            id: w.id.clone(),
            cell: w.cell.clone(),
            expires: w.expires.to_string(),
            tracking: w.tracking.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every gated cell certified (or is waived).
    Pass,
    /// At least one gated cell did not certify.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub cells: Vec<CellDecision>,
    /// Waivers past their `expires` date: never applied, each one a warning.
    pub expired_waivers: Vec<WaiverRef>,
    /// Valid waivers that covered no cell: candidates for cleanup.
    pub unused_waivers: Vec<WaiverRef>,
}

impl Decision {
    pub fn blocking(&self) -> impl Iterator<Item = &CellDecision> {
        self.cells.iter().filter(|c| c.blocking)
    }
}

/// Whether `w` covers the observation `o` on `today`, ignoring the requirement.
pub fn waiver_covers(w: &Waiver, o: &Observation, today: Date) -> bool {
    w.cell == o.cell
        && o.status != Status::Pass
        && today <= w.expires
        && w.statuses.contains(&o.status)
        && invariants_covered(&w.invariants, &o.failing)
}

/// An empty list covers any failure. Otherwise every failing key must be named, either exactly
/// or by its prefix before an underscore (`R2` names `R2_SEQ_CONTIGUOUS` and the conformance
/// check `R2`); a failure with no known key is covered only by an empty list.
fn invariants_covered(listed: &[String], failing: &[String]) -> bool {
    if listed.is_empty() {
        return true;
    }
    !failing.is_empty()
        && failing.iter().all(|key| {
            listed.iter().any(|l| {
                key == l || (key.starts_with(l.as_str()) && key[l.len()..].starts_with('_'))
            })
        })
}

/// The decision. `observations` holds at most one entry per cell (the evidence readers make
/// sure of it; should two arrive anyway, the worse one counts). Cells the policy names and no
/// observation mentions are MISSING.
pub fn decide(
    observations: Vec<Observation>,
    policy: &Policy,
    waivers: &[Waiver],
    today: Date,
) -> Decision {
    let mut by_cell: BTreeMap<CellId, Observation> = BTreeMap::new();
    for o in observations {
        match by_cell.get(&o.cell) {
            Some(prev) if rank(prev.status) >= rank(o.status) => {}
            _ => {
                by_cell.insert(o.cell.clone(), o);
            }
        }
    }
    for (cell, _) in policy.cells() {
        by_cell.entry(cell.clone()).or_insert_with(|| Observation {
            cell: cell.clone(),
            status: Status::Missing,
            failing: vec![],
            note: "no evidence for this cell".into(),
            source: String::new(),
        });
    }

    let (expired, valid): (Vec<&Waiver>, Vec<&Waiver>) =
        waivers.iter().partition(|w| today > w.expires);
    let mut used = vec![false; valid.len()];

    let mut cells: Vec<CellDecision> = by_cell
        .into_values()
        .map(|o| {
            let requirement = policy.requirement(&o.cell);
            let mut applied = Vec::new();
            if requirement == Requirement::Gated && o.status != Status::Pass {
                for (i, w) in valid.iter().enumerate() {
                    if waiver_covers(w, &o, today) {
                        used[i] = true;
                        applied.push(w.id.clone());
                    }
                }
            }
            let failed = o.status != Status::Pass;
            let mut note = o.note;
            if failed && requirement == Requirement::Gated && applied.is_empty() {
                let lapsed: Vec<&str> = expired
                    .iter()
                    .filter(|w| w.cell == o.cell)
                    .map(|w| w.id.as_str())
                    .collect();
                if !lapsed.is_empty() {
                    note = format!("{note}; waiver {} has expired", lapsed.join(", "));
                }
            }
            CellDecision {
                number: o.cell.seed_number(),
                arch: o.cell.arch.clone(),
                fs: o.cell.fs.clone(),
                requirement,
                status: o.status,
                failing: o.failing,
                blocking: failed && requirement == Requirement::Gated && applied.is_empty(),
                warning: failed && requirement == Requirement::Informational,
                waivers: applied,
                note,
                source: o.source,
                cell: o.cell,
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        (a.number.unwrap_or(u8::MAX), &a.cell).cmp(&(b.number.unwrap_or(u8::MAX), &b.cell))
    });

    let mut expired_waivers: Vec<WaiverRef> = expired.iter().map(|w| WaiverRef::of(w)).collect();
    expired_waivers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut unused_waivers: Vec<WaiverRef> = valid
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(w, _)| WaiverRef::of(w))
        .collect();
    unused_waivers.sort_by(|a, b| a.id.cmp(&b.id));

    let verdict = if cells.iter().any(|c| c.blocking) {
        Verdict::Blocked
    } else {
        Verdict::Pass
    };
    Decision {
        verdict,
        cells,
        expired_waivers,
        unused_waivers,
    }
}

/// How bad a status is, for the (defensive) case of two observations of one cell.
fn rank(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Skip => 1,
        Status::Fail => 2,
        Status::Missing => 3,
        Status::Expired => 4,
        Status::Stale => 5,
        Status::Unreadable => 6,
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
