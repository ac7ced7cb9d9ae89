//! S1-S6: the commit protocol and its crash windows. The writer is stopped at a chosen
//! operation (`Traced`) or its leftovers are made by hand (`inject`), then recovery must give
//! back exactly the acknowledged entries, or refuse damaged committed data.

use std::path::Path;

use super::{
    e, fresh, on_disk_safe_seq, payload, phantom, seqs, write_entries, LockProbe, Outcome,
};
use crate::error::{CorruptKind, Error};
use crate::format::{FILE_HEADER_LEN, FRAME_HEADER_LEN};
use crate::inject;
use crate::storage::StdStorage;
use crate::trace::{Op, Traced};
use crate::verify::{self, Code};
use crate::{Paths, Seq, Wal};

pub(super) fn s1(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 6)?;
    phantom(&d, 7, 7)?;
    let wal = e(Wal::open(&d))?;
    let n = seqs(&wal, Seq::ZERO)?.len() as u64;
    ensure!(
        on_disk_safe_seq(&d)? == n,
        "on-disk safe_seq {} but {n} committed entries",
        on_disk_safe_seq(&d)?
    );
    ensure!(n == 6, "{n} entries survived, not 6");
    Ok(())
}

/// The effects one append must make, in order.
fn commit_ops(p: &Paths, from: usize, ops: &[Op]) -> Outcome {
    let kinds: Vec<String> = ops[from..].iter().map(|o| format!("{o:?}")).collect();
    let ok = matches!(&ops[from..], [
        Op::Write { path: w, .. }, Op::SyncData(sd),
        Op::Open(t, _), Op::Write { path: tw, .. }, Op::SyncAll(ts),
        Op::Rename(rf, rt), Op::SyncDir(dd),
    ] if *w == p.log && *sd == p.log && *t == p.safe_seq_tmp && *tw == p.safe_seq_tmp
        && *ts == p.safe_seq_tmp && *rf == p.safe_seq_tmp && *rt == p.safe_seq && *dd == p.dir);
    ensure!(ok, "append's effects were {kinds:?}");
    Ok(())
}

pub(super) fn s2(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let traced = Traced::new(StdStorage);
    let mut wal = e(Wal::open_with(traced.clone(), &d))?;
    let p = Paths::new(&d);
    for i in 1..=3 {
        let before = traced.ops().len();
        e(wal.append(&payload(i)))?;
        commit_ops(&p, before, &traced.ops())?;
    }
    let before = traced.ops().len();
    e(wal.append_batch(&[payload(4), payload(5)]))?;
    commit_ops(&p, before, &traced.ops())
}

pub(super) fn s3(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 4)?;
    // Stop the writer right after the frame's fdatasync: the .tmp is never created.
    let mut wal = e(Wal::open_with(Traced::failing_at(StdStorage, 2), &d))?;
    ensure!(
        wal.append(&payload(5)).is_err(),
        "the append survived the injected stop"
    );
    ensure!(
        matches!(wal.append(&payload(5)), Err(Error::Poisoned(_))),
        "a failed writer accepted another append"
    );
    drop(wal);
    let wal = e(Wal::open(&d))?;
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

pub(super) fn s4(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 2)?;
    // Stop at the rename: the new safe_seq is durable in the .tmp only.
    let mut wal = e(Wal::open_with(Traced::failing_at(StdStorage, 5), &d))?;
    ensure!(
        wal.append(&payload(3)).is_err(),
        "the append survived the injected stop"
    );
    drop(wal);
    let p = Paths::new(&d);
    ensure!(
        p.safe_seq_tmp.exists(),
        "the stop left no .tmp to recover from"
    );
    let wal = e(Wal::open(&d))?;
    ensure!(
        wal.recovery().removed_stale_tmp,
        "recovery did not report removing the .tmp"
    );
    ensure!(!p.safe_seq_tmp.exists(), "the .tmp is still there");
    ensure!(
        wal.safe_seq() == Seq::new(2) && on_disk_safe_seq(&d)? == 2,
        "the old safe_seq 2 did not stand"
    );
    Ok(())
}

pub(super) fn s5(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    let len = std::fs::metadata(Paths::new(&d).log)
        .map_err(|e| e.to_string())?
        .len();
    for keep in [1, 15, 16, 20] {
        let torn = e(inject::torn_frame(
            &StdStorage,
            &d,
            Seq::new(4),
            &payload(4),
            keep,
        ))?;
        let wal = e(Wal::open(&d))?;
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
    let after = std::fs::metadata(Paths::new(&d).log)
        .map_err(|e| e.to_string())?
        .len();
    ensure!(after == len, "wal.log is {after} bytes, not {len}");
    Ok(())
}

pub(super) fn s6(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 5)?;
    let p = Paths::new(&d);
    // Offset of frame 3: header, then frames 1 and 2.
    let frame_len = |i: u64| (FRAME_HEADER_LEN + payload(i).len()) as u64;
    let off3 = FILE_HEADER_LEN + frame_len(1) + frame_len(2);
    e(inject::flip_byte(&StdStorage, &d, off3 + 20))?;
    let before = std::fs::read(&p.log).map_err(|e| e.to_string())?;
    match Wal::open(&d) {
        Err(Error::Corrupt {
            seq,
            offset,
            kind: CorruptKind::Checksum,
            ..
        }) => {
            ensure!(
                seq == Seq::new(3) && offset == off3,
                "reported seq {seq} at {offset}, not 3 at {off3}"
            )
        }
        other => {
            return Err(format!(
                "a damaged committed frame opened as {:?}",
                other.map(|w| w.safe_seq())
            ))
        }
    }
    ensure!(
        std::fs::read(&p.log).map_err(|e| e.to_string())? == before,
        "recovery changed a damaged log"
    );
    let r = e(verify::verify_dir(&d))?;
    ensure!(
        r.violations
            .iter()
            .any(|v| v.code == Code::FrameCorrupt && v.seq == Some(3)),
        "the verifier missed the damage"
    );
    // A committed frame cut away is reported too.
    let cut = fresh(dir, "cut")?;
    write_entries(&cut, 3)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(Paths::new(&cut).log)
        .map_err(|e| e.to_string())?;
    f.set_len(FILE_HEADER_LEN + frame_len(1) + 5)
        .map_err(|e| e.to_string())?;
    ensure!(
        matches!(Wal::open(&cut), Err(Error::Corrupt { seq, .. }) if seq == Seq::new(2)),
        "a log cut inside committed frame 2 was not reported"
    );
    Ok(())
}
