//! R1-R5 and JSON: the shape of the log, checked through the verifier after real appends,
//! and the verifier shown to see each violation it is meant to see.

use std::path::Path;

use super::{e, fresh, holds, payload, phantom, seqs, write_entries, LockProbe, Outcome};
use crate::error::Error;
use crate::inject;
use crate::storage::StdStorage;
use crate::verify::{self, Code, Invariant};
use crate::{Seq, Wal};

pub(super) fn r1(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    holds(&d, Invariant::R1FirstSeqIsOne)?;
    let wal = e(Wal::open(&d))?;
    ensure!(
        seqs(&wal, Seq::ZERO)?.first() == Some(&1),
        "the first entry read back is not seq 1"
    );
    drop(wal);
    // The verifier must see a log that starts elsewhere.
    let bad = fresh(dir, "starts-at-2")?;
    e(Wal::open(&bad))?;
    e(inject::phantom_frame(&StdStorage, &bad, Seq::new(2), b"{}"))?;
    let r = e(verify::verify_dir(&bad))?;
    ensure!(
        r.violations.iter().any(|v| v.code == Code::FirstSeqNotOne),
        "a log starting at seq 2 was not flagged"
    );
    Ok(())
}

pub(super) fn r2(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    e(wal.append(&payload(1)))?;
    let batch: Vec<Vec<u8>> = (2..=20).map(payload).collect();
    let range = e(wal.append_batch(&batch))?;
    ensure!(
        *range.start() == Seq::new(2) && *range.end() == Seq::new(20),
        "batch got {range:?}"
    );
    e(wal.append(&payload(21)))?;
    drop(wal);
    let wal = e(Wal::open(&d))?;
    ensure!(
        seqs(&wal, Seq::ZERO)? == (1..=21).collect::<Vec<_>>(),
        "seqs after reopen are not 1..=21"
    );
    drop(wal);
    holds(&d, Invariant::R2SeqContiguous)
}

pub(super) fn r3(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    for i in 1..=5 {
        e(wal.append(&payload(i)))?;
        holds(&d, Invariant::R3SafeSeqLeMaxSeq)?;
    }
    Ok(())
}

pub(super) fn r4(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 4)?;
    holds(&d, Invariant::R4SafeSeqFrameExists)?;
    phantom(&d, 5, 5)?;
    drop(e(Wal::open(&d))?);
    holds(&d, Invariant::R4SafeSeqFrameExists)
}

pub(super) fn r5(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    phantom(&d, 4, 4)?;
    phantom(&d, 5, 5)?;
    let before = e(verify::verify_dir(&d))?;
    ensure!(
        before.violation_counts.get(&Code::PhantomEntry) == Some(&2),
        "the two phantoms were not both seen before recovery"
    );
    let wal = e(Wal::open(&d))?;
    ensure!(
        wal.recovery().phantom_frames == 2,
        "recovery discarded {} phantoms, not 2",
        wal.recovery().phantom_frames
    );
    drop(wal);
    holds(&d, Invariant::R5NoPhantoms)
}

pub(super) fn json(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    for bad in [
        &b"{not json"[..],
        b"",
        b"{} {}",
        b"\xff\xfe",
        b"\"\xff\"",
        b"{\"\xff\":1}",
    ] {
        match wal.append(bad) {
            Err(Error::InvalidPayload(_)) => {}
            other => return Err(format!("payload {bad:?} was not refused: {other:?}")),
        }
    }
    ensure!(
        wal.safe_seq() == Seq::ZERO,
        "a refused payload moved safe_seq"
    );
    e(wal.append(br#"{"ok":true}"#))?;
    drop(wal);
    holds(&d, Invariant::NoJsonCorruption)
}
