//! R1-R5 and JSON: the shape of the log, checked through the verifier after real appends,
//! and the verifier shown to see each violation it is meant to see.

use super::support::{e, payload, seqs, Outcome, Site, SuiteStorage};
use crate::error::Error;
use crate::inject;
use crate::seq::Seq;
use crate::verify::{Code, Invariant};

pub(super) fn r1<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 3)?;
    s.holds(&d, Invariant::R1FirstSeqIsOne)?;
    let wal = s.open(&d)?;
    ensure!(
        seqs(&wal, Seq::ZERO)?.first() == Some(&1),
        "the first entry read back is not seq 1"
    );
    drop(wal);
    // The verifier must see a log that starts elsewhere.
    let bad = s.fresh("starts-at-2")?;
    s.open(&bad)?;
    e(inject::phantom_frame(&s.storage, &bad, Seq::new(2), b"{}"))?;
    let r = s.verify(&bad)?;
    ensure!(
        r.violations.iter().any(|v| v.code == Code::FirstSeqNotOne),
        "a log starting at seq 2 was not flagged"
    );
    Ok(())
}

pub(super) fn r2<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let mut wal = s.open(&d)?;
    e(wal.append(&payload(1)))?;
    let batch: Vec<Vec<u8>> = (2..=20).map(payload).collect();
    let range = e(wal.append_batch(&batch))?;
    ensure!(
        *range.start() == Seq::new(2) && *range.end() == Seq::new(20),
        "batch got {range:?}"
    );
    e(wal.append(&payload(21)))?;
    drop(wal);
    let wal = s.open(&d)?;
    ensure!(
        seqs(&wal, Seq::ZERO)? == (1..=21).collect::<Vec<_>>(),
        "seqs after reopen are not 1..=21"
    );
    drop(wal);
    s.holds(&d, Invariant::R2SeqContiguous)
}

pub(super) fn r3<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let mut wal = s.open(&d)?;
    for i in 1..=5 {
        e(wal.append(&payload(i)))?;
        s.holds(&d, Invariant::R3SafeSeqLeMaxSeq)?;
    }
    Ok(())
}

pub(super) fn r4<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 4)?;
    s.holds(&d, Invariant::R4SafeSeqFrameExists)?;
    s.phantom(&d, 5, 5)?;
    drop(s.open(&d)?);
    s.holds(&d, Invariant::R4SafeSeqFrameExists)
}

pub(super) fn r5<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 3)?;
    s.phantom(&d, 4, 4)?;
    s.phantom(&d, 5, 5)?;
    let before = s.verify(&d)?;
    ensure!(
        before.violation_counts.get(&Code::PhantomEntry) == Some(&2),
        "the two phantoms were not both seen before recovery"
    );
    let wal = s.open(&d)?;
    ensure!(
        wal.recovery().phantom_frames == 2,
        "recovery discarded {} phantoms, not 2",
        wal.recovery().phantom_frames
    );
    drop(wal);
    s.holds(&d, Invariant::R5NoPhantoms)
}

pub(super) fn json<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let mut wal = s.open(&d)?;
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
    s.holds(&d, Invariant::NoJsonCorruption)
}
