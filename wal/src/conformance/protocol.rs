//! S1-S5: the commit protocol and its crash windows (S6, damage, is `damage`). The writer is stopped at a chosen
//! effect (`Recorder::failing_at`) or its leftovers are made by hand (`inject`), then recovery
//! must give back exactly the acknowledged entries, or refuse damaged committed data.

use std::path::Path;

use super::support::{e, payload, seqs, Outcome, Site, SuiteStorage};
use crate::error::Error;
use crate::inject;
use crate::log::Wal;
use crate::paths::Paths;
use crate::record::{Op, Recorder};
use crate::seq::Seq;

pub(super) fn s1<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 6)?;
    s.phantom(&d, 7, 7)?;
    let wal = s.open(&d)?;
    let n = seqs(&wal, Seq::ZERO)?.len() as u64;
    ensure!(
        s.on_disk_safe_seq(&d)? == n,
        "on-disk safe_seq {} but {n} committed entries",
        s.on_disk_safe_seq(&d)?
    );
    ensure!(n == 6, "{n} entries survived, not 6");
    Ok(())
}

/// The effects one append must make, in order.
fn commit_ops(p: &Paths, from: usize, ops: &[Op]) -> Outcome {
    let kinds: Vec<String> = ops[from..].iter().map(Op::describe).collect();
    let ok = matches!(&ops[from..], [
        Op::Write { path: w, .. }, Op::Sync { path: sd, full: false, .. },
        Op::Create { path: t, .. }, Op::Write { path: tw, .. }, Op::Sync { path: ts, full: true, .. },
        Op::Rename { from: rf, to: rt, .. }, Op::SyncDir { dir: dd },
    ] if *w == p.log && *sd == p.log && *t == p.safe_seq_tmp && *tw == p.safe_seq_tmp
        && *ts == p.safe_seq_tmp && *rf == p.safe_seq_tmp && *rt == p.safe_seq && *dd == p.dir);
    ensure!(ok, "append's effects were {kinds:?}");
    Ok(())
}

pub(super) fn s2<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let recorder = Recorder::new(s.storage.clone());
    let mut wal = e(Wal::open_with(recorder.clone(), &d))?;
    let p = Paths::new(&d);
    for i in 1..=3 {
        let before = recorder.op_count();
        e(wal.append(&payload(i)))?;
        commit_ops(&p, before, &recorder.trace().ops)?;
    }
    let before = recorder.op_count();
    e(wal.append_batch(&[payload(4), payload(5)]))?;
    commit_ops(&p, before, &recorder.trace().ops)
}

/// Opens the WAL in `dir` on a machine that stops at `effect` (counted from the open), and
/// appends entry `i`, which must fail; returns the writer that failed.
fn append_stopped_at<S: SuiteStorage>(
    s: &Site<S>,
    dir: &Path,
    effect: usize,
    i: u64,
) -> Result<Wal<Recorder<S>>, String> {
    let mut wal = e(Wal::open_with(
        Recorder::failing_at(s.storage.clone(), effect),
        dir,
    ))?;
    ensure!(
        wal.append(&payload(i)).is_err(),
        "the append survived the injected stop"
    );
    Ok(wal)
}

pub(super) fn s3<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 4)?;
    // Stop the writer right after the frame's fdatasync: the .tmp is never created.
    let mut wal = append_stopped_at(s, &d, 2, 5)?;
    ensure!(
        matches!(wal.append(&payload(5)), Err(Error::Poisoned(_))),
        "a failed writer accepted another append"
    );
    drop(wal);
    let wal = s.open(&d)?;
    ensure!(
        wal.recovery().phantom_frames == 1,
        "recovery saw {} phantoms, not 1",
        wal.recovery().phantom_frames
    );
    ensure!(
        seqs(&wal, Seq::ZERO)? == vec![1, 2, 3, 4],
        "entries after recovery are not 1..=4"
    );
    Ok(())
}

pub(super) fn s4<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 2)?;
    // Stop at the rename: the new safe_seq is durable in the .tmp only.
    drop(append_stopped_at(s, &d, 5, 3)?);
    let p = Paths::new(&d);
    ensure!(
        s.exists(&p.safe_seq_tmp),
        "the stop left no .tmp to recover from"
    );
    let wal = s.open(&d)?;
    ensure!(
        wal.recovery().removed_stale_tmp,
        "recovery did not report removing the .tmp"
    );
    ensure!(!s.exists(&p.safe_seq_tmp), "the .tmp is still there");
    ensure!(
        wal.safe_seq() == Seq::new(2) && s.on_disk_safe_seq(&d)? == 2,
        "the old safe_seq 2 did not stand"
    );
    Ok(())
}

pub(super) fn s5<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 3)?;
    let log = Paths::new(&d).log;
    let len = s.file_len(&log)?;
    for keep in [1, 15, 16, 20] {
        let torn = e(inject::torn_frame(
            &s.storage,
            &d,
            Seq::new(4),
            &payload(4),
            keep,
        ))?;
        let wal = s.open(&d)?;
        ensure!(
            wal.recovery().discarded_damaged_tail,
            "a torn tail of {keep} bytes was not discarded"
        );
        ensure!(
            wal.recovery().truncated_bytes == torn,
            "truncated {} bytes, not {torn}",
            wal.recovery().truncated_bytes
        );
        ensure!(seqs(&wal, Seq::ZERO)? == vec![1, 2, 3], "entries changed");
    }
    let after = s.file_len(&log)?;
    ensure!(after == len, "wal.log is {after} bytes, not {len}");
    Ok(())
}
