//! Every status x requirement x waiver case of `decide`, and the waiver rules one by one.

use std::path::PathBuf;

use jiff::civil::{date, Date};

use super::*;
use crate::gate::policy::Phase;

const TODAY: Date = date(2026, 3, 15);

fn cell(s: &str) -> CellId {
    CellId::parse(s).unwrap()
}

fn policy() -> Policy {
    Policy::from_toml(
        "name = \"t\"\ngated = [\"amd64/ext4\"]\ninformational = [\"amd64/xfs\"]\noptional = [\"arm64/xfs\"]\n",
        "t.toml",
    )
    .unwrap()
}

fn obs(c: &str, status: Status, failing: &[&str]) -> Observation {
    Observation {
        cell: cell(c),
        status,
        failing: failing.iter().map(|s| s.to_string()).collect(),
        note: "n".into(),
        source: "s".into(),
        coverage: None,
        block_replay: None,
    }
}

fn waiver(id: &str, c: &str, invariants: &[&str], statuses: &[Status], expires: Date) -> Waiver {
    Waiver {
        id: id.into(),
        cell: cell(c),
        invariants: invariants.iter().map(|s| s.to_string()).collect(),
        statuses: statuses.to_vec(),
        reason: "r".into(),
        tracking: "https://example.invalid/1".into(),
        approved_by: "a".into(),
        created: date(2026, 1, 1),
        expires,
        file: PathBuf::from(format!("{id}.toml")),
    }
}

/// Decides with `o` and every other cell of the policy PASS.
fn one(o: Observation, p: &Policy, ws: &[Waiver], today: Date) -> (Decision, CellDecision) {
    let c = o.cell.clone();
    let mut all: Vec<Observation> = p
        .cells()
        .filter(|(x, _)| **x != c)
        .map(|(x, _)| obs(&x.to_string(), Status::Pass, &[]))
        .collect();
    all.push(o);
    let d = decide(all, p, ws, today);
    let cd = d.cells.iter().find(|x| x.cell == c).unwrap().clone();
    (d, cd)
}

/// The waiver situations each status x requirement pair is tried with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum WaiverCase {
    None,
    /// Names the cell, the status, and (empty) invariants; valid today.
    Covering,
    /// As `Covering`, but expired yesterday.
    Expired,
    /// As `Covering`, but for another cell.
    OtherCell,
    /// As `Covering`, but listing only a status the cell does not have.
    OtherStatus,
    /// As `Covering`, but listing an invariant key the cell does not fail.
    OtherInvariant,
}

const CASES: [WaiverCase; 6] = [
    WaiverCase::None,
    WaiverCase::Covering,
    WaiverCase::Expired,
    WaiverCase::OtherCell,
    WaiverCase::OtherStatus,
    WaiverCase::OtherInvariant,
];

fn waivers_for(case: WaiverCase, c: &str, status: Status) -> Vec<Waiver> {
    let other_status = if status == Status::Fail {
        Status::Skip
    } else {
        Status::Fail
    };
    let listed = if status == Status::Pass {
        Status::Fail
    } else {
        status
    };
    let good = date(2026, 12, 31);
    match case {
        WaiverCase::None => vec![],
        WaiverCase::Covering => vec![waiver("INV-001", c, &[], &[listed], good)],
        WaiverCase::Expired => vec![waiver("INV-001", c, &[], &[listed], date(2026, 3, 14))],
        WaiverCase::OtherCell => vec![waiver("INV-001", "arm64/ext4", &[], &[listed], good)],
        WaiverCase::OtherStatus => vec![waiver("INV-001", c, &[], &[other_status], good)],
        WaiverCase::OtherInvariant => {
            vec![waiver(
                "INV-001",
                c,
                &["S9_SOMETHING_ELSE"],
                &[listed],
                good,
            )]
        }
    }
}

#[test]
fn every_status_requirement_and_waiver_case() {
    let p = policy();
    let cells = [
        ("amd64/ext4", Requirement::Gated),
        ("amd64/xfs", Requirement::Informational),
        ("arm64/xfs", Requirement::Optional),
    ];
    let mut tried = 0;
    for (c, req) in cells {
        for status in Status::ALL {
            for case in CASES {
                let failing: &[&str] = if status == Status::Fail {
                    &["R2_SEQ_CONTIGUOUS"]
                } else {
                    &[]
                };
                let ws = waivers_for(case, c, status);
                let (d, cd) = one(obs(c, status, failing), &p, &ws, TODAY);
                let what = format!("{c} {req} {status} {case:?}");
                assert_eq!(cd.requirement, req, "{what}");
                assert_eq!(cd.status, status, "{what}");

                let failed = status != Status::Pass;
                let waived = failed && req == Requirement::Gated && case == WaiverCase::Covering;
                assert_eq!(
                    cd.blocking,
                    failed && req == Requirement::Gated && !waived,
                    "{what}"
                );
                assert_eq!(
                    cd.warning,
                    failed && req == Requirement::Informational,
                    "{what}"
                );
                assert_eq!(cd.waivers.is_empty(), !waived, "{what}");
                let expect_verdict = if cd.blocking {
                    Verdict::Blocked
                } else {
                    Verdict::Pass
                };
                assert_eq!(d.verdict, expect_verdict, "{what}");

                // Every waiver ends up in exactly one place: applied, expired or unused.
                let expired = case == WaiverCase::Expired;
                assert_eq!(d.expired_waivers.len(), usize::from(expired), "{what}");
                let unused = !ws.is_empty() && !expired && !waived;
                assert_eq!(d.unused_waivers.len(), usize::from(unused), "{what}");
                tried += 1;
            }
        }
    }
    assert_eq!(tried, 3 * 7 * 6);
}

#[test]
fn a_waiver_is_valid_through_the_end_of_its_expiry_day() {
    let p = policy();
    let w = [waiver("INV-001", "amd64/ext4", &[], &[Status::Fail], TODAY)];
    let (_, cd) = one(obs("amd64/ext4", Status::Fail, &["R1"]), &p, &w, TODAY);
    assert!(!cd.blocking);
    assert_eq!(cd.waivers, ["INV-001"]);
    let tomorrow = date(2026, 3, 16);
    let (d, cd) = one(obs("amd64/ext4", Status::Fail, &["R1"]), &p, &w, tomorrow);
    assert!(cd.blocking);
    assert_eq!(d.expired_waivers[0].id, "INV-001");
    assert!(
        cd.note.contains("waiver INV-001 has expired"),
        "{}",
        cd.note
    );
}

#[test]
fn a_waiver_must_name_every_failing_invariant() {
    let p = policy();
    let w = [waiver(
        "INV-001",
        "amd64/ext4",
        &["R2_SEQ_CONTIGUOUS"],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let (_, cd) = one(
        obs("amd64/ext4", Status::Fail, &["R2_SEQ_CONTIGUOUS"]),
        &p,
        &w,
        TODAY,
    );
    assert!(!cd.blocking);
    let (d, cd) = one(
        obs(
            "amd64/ext4",
            Status::Fail,
            &["R2_SEQ_CONTIGUOUS", "R5_NO_PHANTOMS"],
        ),
        &p,
        &w,
        TODAY,
    );
    assert!(cd.blocking, "R5 is not waived");
    assert_eq!(d.unused_waivers[0].id, "INV-001");
}

#[test]
fn a_short_key_names_the_invariant_and_its_conformance_check() {
    let p = policy();
    let w = [waiver(
        "INV-001",
        "amd64/ext4",
        &["R2"],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let (_, cd) = one(
        obs("amd64/ext4", Status::Fail, &["R2_SEQ_CONTIGUOUS", "R2"]),
        &p,
        &w,
        TODAY,
    );
    assert!(!cd.blocking);
    // "R2" is not a prefix of "R20_…" in this sense, nor of "R2X".
    let (_, cd) = one(obs("amd64/ext4", Status::Fail, &["R2X"]), &p, &w, TODAY);
    assert!(cd.blocking);
}

#[test]
fn a_failure_with_no_known_key_is_covered_only_by_an_empty_list() {
    let p = policy();
    let listed = [waiver(
        "INV-001",
        "amd64/ext4",
        &["R1"],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let (_, cd) = one(obs("amd64/ext4", Status::Fail, &[]), &p, &listed, TODAY);
    assert!(cd.blocking);
    let any = [waiver(
        "INV-001",
        "amd64/ext4",
        &[],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let (_, cd) = one(obs("amd64/ext4", Status::Fail, &[]), &p, &any, TODAY);
    assert!(!cd.blocking);
}

#[test]
fn a_missing_cell_needs_a_waiver_that_names_missing() {
    let p = policy();
    let fail_only = [waiver(
        "INV-001",
        "amd64/ext4",
        &[],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let d = decide(vec![], &p, &fail_only, TODAY);
    let c = &d.cells[0];
    assert_eq!(
        (c.cell.to_string(), c.status),
        ("amd64/ext4".into(), Status::Missing)
    );
    assert!(c.blocking);
    let with_missing = [waiver(
        "INV-001",
        "amd64/ext4",
        &[],
        &[Status::Fail, Status::Missing],
        date(2026, 12, 31),
    )];
    let d = decide(vec![], &p, &with_missing, TODAY);
    assert_eq!(d.verdict, Verdict::Pass);
    assert_eq!(d.cells[0].waivers, ["INV-001"]);
}

#[test]
fn a_waiver_with_invariants_does_not_cover_a_status_without_any() {
    let p = policy();
    let w = [waiver(
        "INV-001",
        "amd64/ext4",
        &["R1"],
        &[Status::Missing],
        date(2026, 12, 31),
    )];
    let d = decide(vec![], &p, &w, TODAY);
    assert_eq!(d.verdict, Verdict::Blocked);
}

#[test]
fn every_policy_cell_without_evidence_is_missing_and_other_cells_are_informational() {
    let p = Policy::builtin(Phase::Phase1);
    let d = decide(
        vec![obs("s390x/ext4", Status::Fail, &["R1"])],
        &p,
        &[],
        TODAY,
    );
    let numbers: Vec<Option<u8>> = d.cells.iter().map(|c| c.number).collect();
    assert_eq!(
        numbers,
        [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), None]
    );
    assert!(d.cells[..6].iter().all(|c| c.status == Status::Missing));
    let s390x = &d.cells[6];
    assert_eq!(s390x.requirement, Requirement::Informational);
    assert!(s390x.warning && !s390x.blocking);
    let blocking: Vec<String> = d.blocking().map(|c| c.cell.to_string()).collect();
    assert_eq!(blocking, ["amd64/ext4", "arm64/ext4"]);
}

#[test]
fn two_waivers_covering_one_cell_are_both_listed_and_neither_is_unused() {
    let p = policy();
    let ws = [
        waiver(
            "INV-001",
            "amd64/ext4",
            &[],
            &[Status::Fail],
            date(2026, 12, 31),
        ),
        waiver(
            "INV-002",
            "amd64/ext4",
            &["R1"],
            &[Status::Fail],
            date(2026, 12, 31),
        ),
    ];
    let (d, cd) = one(obs("amd64/ext4", Status::Fail, &["R1"]), &p, &ws, TODAY);
    assert_eq!(cd.waivers, ["INV-001", "INV-002"]);
    assert!(d.unused_waivers.is_empty());
}

#[test]
fn a_waiver_for_a_passing_cell_is_unused() {
    let p = policy();
    let ws = [waiver(
        "INV-001",
        "amd64/ext4",
        &[],
        &[Status::Fail],
        date(2026, 12, 31),
    )];
    let (d, cd) = one(obs("amd64/ext4", Status::Pass, &[]), &p, &ws, TODAY);
    assert!(cd.waivers.is_empty());
    assert_eq!(d.unused_waivers[0].id, "INV-001");
}

#[test]
fn of_two_observations_of_one_cell_the_worse_counts() {
    let p = policy();
    let d = decide(
        vec![
            obs("amd64/ext4", Status::Pass, &[]),
            obs("amd64/ext4", Status::Unreadable, &[]),
            obs("amd64/ext4", Status::Pass, &[]),
        ],
        &p,
        &[],
        TODAY,
    );
    assert_eq!(d.cells[0].status, Status::Unreadable);
    assert_eq!(d.verdict, Verdict::Blocked);
}

#[test]
fn a_pass_below_the_minimums_of_crash_testing_is_a_fail_of_coverage_and_a_policy_can_raise_them() {
    let covered = |iterations, kills, power_loss_states| Observation {
        coverage: Some(crate::coverage::Coverage {
            iterations,
            kills,
            power_loss_states,
        }),
        ..obs("amd64/ext4", Status::Pass, &[])
    };
    let one = Policy::from_toml("name = \"one\"\ngated = [\"amd64/ext4\"]\n", "t").unwrap();
    let d = decide(vec![covered(20, 100, 85)], &one, &[], TODAY);
    assert_eq!(d.verdict, Verdict::Pass);
    let d = decide(vec![covered(20, 0, 85)], &one, &[], TODAY);
    let c = &d.cells[0];
    assert_eq!((c.status, c.blocking), (Status::Fail, true));
    assert_eq!(c.failing, ["COVERAGE"]);
    assert!(c.note.contains("0 kill -9 runs (minimum 10)"), "{}", c.note);
    let strict = Policy::from_toml(
        "name = \"strict\"\ngated = [\"amd64/ext4\"]\n[minimums]\nkills = 500\n",
        "t",
    )
    .unwrap();
    let d = decide(vec![covered(20, 100, 85)], &strict, &[], TODAY);
    assert!(
        d.cells[0].note.contains("100 kill -9 runs (minimum 500)"),
        "{}",
        d.cells[0].note
    );
    let lax = Policy::from_toml("name = \"lax\"\n[minimums]\nkills = 1\n", "t").unwrap_err();
    assert!(format!("{lax:#}").contains("only raise"), "{lax:#}");
}

#[test]
fn a_policy_that_requires_block_replay_fails_a_pass_whose_block_replay_was_skipped_or_absent() {
    let with = |br: Option<Result<(), String>>| Observation {
        block_replay: br,
        ..obs("amd64/ext4", Status::Pass, &[])
    };
    let plain = Policy::from_toml("name = \"p\"\ngated = [\"amd64/ext4\"]\n", "t").unwrap();
    let skipped = || {
        with(Some(Err(
            "SKIP (qemu-system-x86_64 is not installed)".into()
        )))
    };
    assert_eq!(
        decide(vec![skipped()], &plain, &[], TODAY).verdict,
        Verdict::Pass
    );
    for requires in ["[\"amd64/ext4\"]", "[\"*\"]"] {
        let strict = Policy::from_toml(
            &format!("name = \"p\"\ngated = [\"amd64/ext4\"]\nrequire_block_replay = {requires}\n"),
            "t",
        )
        .unwrap();
        assert_eq!(
            decide(vec![with(Some(Ok(())))], &strict, &[], TODAY).verdict,
            Verdict::Pass
        );
        let d = decide(vec![skipped()], &strict, &[], TODAY);
        let c = &d.cells[0];
        assert_eq!((c.status, c.blocking), (Status::Fail, true));
        assert_eq!(c.failing, ["BLOCK_REPLAY"]);
        assert!(
            c.note.contains("qemu-system-x86_64 is not installed"),
            "{}",
            c.note
        );
        let d = decide(vec![with(None)], &strict, &[], TODAY);
        assert!(
            d.cells[0].note.contains("no block replay"),
            "{}",
            d.cells[0].note
        );
    }
    assert!(Policy::from_toml("name = \"p\"\nrequire_block_replay = [\"amd64\"]\n", "t").is_err());
}
