//! The WAL under injected faults: what it acknowledges, that it stops, and what survives.
//!
//! Each test runs the writer through [`Faulty`] over a real storage (the in-memory one for the
//! many seeded plans, the real filesystem for one plan of each kind), then reopens the directory
//! on the healthy storage underneath and checks what recovery kept.

use std::path::Path;

use super::*;
use crate::conformance::payload;
use crate::error::Error;
use crate::log::Wal;
use crate::mem::MemStorage;
use crate::seq::Seq;
use crate::storage::StdStorage;

/// What one faulted run of the writer did.
struct Run {
    /// The highest acknowledged seq.
    acked: u64,
    /// The highest seq an append was called for.
    issued: u64,
    /// The error of the failed open or append, if one failed.
    failure: Option<Error>,
    log: FaultLog,
}

/// Opens the WAL through `faulty` and appends entries 1..=`n` (in batches of one or two) until
/// one fails; after a failure, checks that the writer is poisoned.
fn run_until_failure<S: Storage + Clone>(faulty: &Faulty<S>, dir: &Path, n: u64) -> Run {
    let mut run = Run {
        acked: 0,
        issued: 0,
        failure: None,
        log: FaultLog::default(),
    };
    let mut wal = match Wal::open_with(faulty.clone(), dir) {
        Ok(w) => w,
        Err(e) => {
            run.failure = Some(e);
            run.log = faulty.log();
            return run;
        }
    };
    while run.issued < n {
        let first = run.issued + 1;
        let last = (first + first % 2).min(n);
        let batch: Vec<Vec<u8>> = (first..=last).map(payload).collect();
        run.issued = last;
        match wal.append_batch(&batch) {
            Ok(r) => {
                assert_eq!((r.start().get(), r.end().get()), (first, last));
                run.acked = last;
            }
            Err(e) => {
                let again = wal.append(&payload(last + 1));
                assert!(
                    matches!(again, Err(Error::Poisoned(_))),
                    "after a failed append ({e}) the next one was not refused as poisoned: {again:?}"
                );
                run.failure = Some(e);
                break;
            }
        }
    }
    run.log = faulty.log();
    run
}

/// Reopens `dir` on the healthy storage and checks that every acknowledged entry is there with
/// its bytes, that nothing past the last issued append appeared, and that R1-R5 hold.
fn check_reopened<S: Storage + Clone>(storage: &S, dir: &Path, run: &Run, plan: &str) {
    let wal = Wal::open_with(storage.clone(), dir)
        .unwrap_or_else(|e| panic!("{plan}: recovery after the fault failed: {e}"));
    let entries: Vec<_> = wal
        .read_from(Seq::ZERO)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{plan}: reading back failed: {e}"));
    let kept = entries.len() as u64;
    assert!(
        kept >= run.acked,
        "{plan}: acknowledged entry {} was lost ({kept} kept)",
        kept + 1
    );
    assert!(
        kept <= run.issued,
        "{plan}: entry {kept} was never appended"
    );
    for e in &entries {
        assert_eq!(e.payload, payload(e.seq.get()), "{plan}: entry {}", e.seq);
    }
    assert_eq!(wal.safe_seq().get(), kept, "{plan}: S1");
    drop(wal);
    let report = crate::verify::verify_with(storage, dir).unwrap();
    assert!(report.pass(), "{plan}: {:?}", report.violations);
}

#[test]
fn an_append_that_failed_is_never_acknowledged_and_every_acknowledged_entry_survives() {
    let dir = Path::new("/w");
    let mut injected = std::collections::HashSet::new();
    for seed in 0..600 {
        let plan = FaultPlan::seeded(seed, 40);
        let mem = MemStorage::new();
        mem.create_dir_all(dir);
        let faulty = Faulty::new(mem.clone(), plan);
        let run = run_until_failure(&faulty, dir, 16);
        let what = format!("seed {seed} ({})", plan.describe());
        match (&run.failure, &run.log.injected) {
            (Some(e), Some(_)) => {
                injected.insert(plan.kind);
                // The failed open or append acknowledged nothing it was given.
                assert!(
                    run.issued == 0 || run.acked < run.issued,
                    "{what}: {e} after acknowledging all"
                );
            }
            (None, None) => assert_eq!(run.acked, 16, "{what}"),
            (f, i) => panic!("{what}: failure {f:?} but injected {i:?}"),
        }
        check_reopened(&mem, dir, &run, &what);
    }
    assert_eq!(
        injected.len(),
        FaultKind::ALL.len(),
        "kinds injected: {injected:?}"
    );
}

#[test]
fn a_poisoned_writer_makes_no_call_after_the_fault_so_no_retried_fsync_counts_as_success() {
    let dir = Path::new("/w");
    // Two syncs to create the log, three per batch of the six batches.
    for at in 0..20 {
        let plan = FaultPlan {
            kind: FaultKind::SyncEio,
            at,
            prefix: 0,
        };
        let mem = MemStorage::new();
        mem.create_dir_all(dir);
        let faulty = Faulty::new(mem.clone(), plan);
        let run = run_until_failure(&faulty, dir, 12);
        assert!(run.log.injected.is_some(), "sync #{at} was never reached");
        assert_eq!(
            run.log.effects_after, 0,
            "sync #{at} failed, yet the writer went on touching the disk ({:?})",
            run.log
        );
        match &run.failure {
            Some(Error::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(EIO)),
            other => panic!("sync #{at}: the failure was not the EIO: {other:?}"),
        }
        check_reopened(&mem, dir, &run, &format!("sync #{at}"));
    }
}

#[test]
fn a_short_write_lands_a_prefix_and_reports_enospc_which_the_writer_passes_on() {
    let dir = Path::new("/w");
    let plan = FaultPlan {
        kind: FaultKind::ShortWrite,
        at: 3, // the header, frames 1-2, safe_seq 2, then frames 3-4
        prefix: 30000,
    };
    let mem = MemStorage::new();
    mem.create_dir_all(dir);
    let faulty = Faulty::new(mem.clone(), plan);
    let run = run_until_failure(&faulty, dir, 8);
    assert_eq!((run.acked, run.issued), (2, 4));
    match &run.failure {
        Some(Error::Io { op, source, .. }) => {
            assert_eq!((*op, source.raw_os_error()), ("write", Some(ENOSPC)))
        }
        other => panic!("the failure was not the short write: {other:?}"),
    }
    // The landed prefix is a damaged tail past safe_seq: recovery cuts it.
    let wal = Wal::open_with(mem.clone(), dir).unwrap();
    assert!(wal.recovery().discarded_damaged_tail && wal.recovery().truncated_bytes > 0);
    drop(wal);
    check_reopened(&mem, dir, &run, "short write");
}

#[test]
fn each_fault_on_the_real_filesystem_leaves_every_acknowledged_entry_intact() {
    for kind in FaultKind::ALL {
        for at in [0, 4, 7] {
            let tmp = tempfile::tempdir().unwrap();
            let plan = FaultPlan {
                kind,
                at,
                prefix: 12345,
            };
            let faulty = Faulty::new(StdStorage, plan);
            let run = run_until_failure(&faulty, tmp.path(), 10);
            let what = plan.describe();
            assert!(run.failure.is_some(), "{what}: nothing failed");
            check_reopened(&StdStorage, tmp.path(), &run, &what);
        }
    }
}

#[test]
fn seeded_plans_are_reproducible_and_cover_every_kind() {
    assert_eq!(FaultPlan::seeded(7, 40), FaultPlan::seeded(7, 40));
    let kinds: std::collections::HashSet<_> =
        (0..64).map(|s| FaultPlan::seeded(s, 40).kind).collect();
    assert_eq!(kinds.len(), FaultKind::ALL.len());
    assert!((0..64).all(|s| FaultPlan::seeded(s, 40).at < 40));
}
