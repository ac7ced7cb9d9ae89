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

use jiff::civil::Date;
use serde::Serialize;

use super::observation::{Observation, Status};
use super::policy::{Policy, Requirement};
use super::waivers::Waiver;
use crate::cell_id::CellId;
use crate::coverage::Minimums;

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
    let (expired, valid): (Vec<&Waiver>, Vec<&Waiver>) =
        waivers.iter().partition(|w| today > w.expires);
    let mut used = vec![false; valid.len()];
    let mut cells: Vec<CellDecision> = one_per_cell(observations, policy)
        .into_values()
        .map(|o| {
            let requirement = policy.requirement(&o.cell);
            let applied = apply_waivers(&o, requirement, &valid, &mut used, today);
            decide_cell(o, requirement, applied, &expired)
        })
        .collect();
    cells.sort_by(|a, b| {
        (a.number.unwrap_or(u8::MAX), &a.cell).cmp(&(b.number.unwrap_or(u8::MAX), &b.cell))
    });
    let unused = valid
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(w, _)| *w);
    let verdict = if cells.iter().any(|c| c.blocking) {
        Verdict::Blocked
    } else {
        Verdict::Pass
    };
    Decision {
        verdict,
        cells,
        expired_waivers: sorted_refs(expired.iter().copied()),
        unused_waivers: sorted_refs(unused),
    }
}

/// One observation per cell: the worse of two for one cell, MISSING for a cell the policy
/// names and no observation mentions.
fn one_per_cell(observations: Vec<Observation>, policy: &Policy) -> BTreeMap<CellId, Observation> {
    let mut by_cell: BTreeMap<CellId, Observation> = BTreeMap::new();
    for o in observations {
        let o = hold_to_minimums(o, &policy.minimums);
        let o = hold_to_block_replay(o, policy);
        match by_cell.get(&o.cell) {
            Some(prev) if prev.status.severity() >= o.status.severity() => {}
            _ => {
                by_cell.insert(o.cell.clone(), o);
            }
        }
    }
    for (cell, _) in policy.cells() {
        by_cell.entry(cell.clone()).or_insert_with(|| {
            Observation::plain(
                cell,
                Status::Missing,
                "no evidence for this cell".into(),
                "",
            )
        });
    }
    by_cell
}

/// A PASS whose crash testing is below the policy's minimums is a FAIL of `COVERAGE`: the cell
/// passed what it ran, but it did not run enough to certify anything.
fn hold_to_minimums(o: Observation, minimums: &Minimums) -> Observation {
    let short = match (&o.status, &o.coverage) {
        (Status::Pass, Some(c)) => c.shortfalls(minimums),
        _ => return o,
    };
    if short.is_empty() {
        return o;
    }
    let note = format!(
        "{}, but its crash testing is below the minimums: {}",
        o.note,
        short.join(", ")
    );
    Observation {
        coverage: o.coverage,
        block_replay: o.block_replay,
        ..Observation::failed(&o.cell, vec!["COVERAGE".into()], note, &o.source)
    }
}

/// A PASS of a cell whose policy requires block replay is a FAIL of `BLOCK_REPLAY` unless its
/// evidence shows block replay PASS: a SKIP there certifies nothing about power loss on the
/// real filesystem.
fn hold_to_block_replay(o: Observation, policy: &Policy) -> Observation {
    if o.status != Status::Pass || !policy.requires_block_replay(&o.cell) {
        return o;
    }
    let why = match &o.block_replay {
        Some(Ok(())) => return o,
        Some(Err(why)) => format!("its block replay was {why}"),
        None => "its evidence has no block replay".to_string(),
    };
    let note = format!("{}, but the policy requires block replay and {why}", o.note);
    Observation {
        coverage: o.coverage,
        block_replay: o.block_replay.clone(),
        ..Observation::failed(&o.cell, vec!["BLOCK_REPLAY".into()], note, &o.source)
    }
}

/// The ids of the valid waivers that cover a gated, non-PASS cell; each one is marked used.
fn apply_waivers(
    o: &Observation,
    requirement: Requirement,
    valid: &[&Waiver],
    used: &mut [bool],
    today: Date,
) -> Vec<String> {
    let mut applied = Vec::new();
    if requirement == Requirement::Gated && o.status != Status::Pass {
        for (i, w) in valid.iter().enumerate() {
            if waiver_covers(w, o, today) {
                used[i] = true;
                applied.push(w.id.clone());
            }
        }
    }
    applied
}

/// The decision for one cell, given the waivers that cover it; a blocking cell's note names
/// the waivers for it that have expired.
fn decide_cell(
    o: Observation,
    requirement: Requirement,
    applied: Vec<String>,
    expired: &[&Waiver],
) -> CellDecision {
    let failed = o.status != Status::Pass;
    let blocking = failed && requirement == Requirement::Gated && applied.is_empty();
    let mut note = o.note;
    if blocking {
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
        blocking,
        warning: failed && requirement == Requirement::Informational,
        waivers: applied,
        note,
        source: o.source,
        cell: o.cell,
    }
}

/// The waivers as the decision lists them, by id.
fn sorted_refs<'a>(waivers: impl Iterator<Item = &'a Waiver>) -> Vec<WaiverRef> {
    let mut refs: Vec<WaiverRef> = waivers.map(WaiverRef::of).collect();
    refs.sort_by(|a, b| a.id.cmp(&b.id));
    refs
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
