//! S6: damaged committed data is reported, never accepted and never cut away.
//!
//! A checksum catches a flipped byte, but not every damage a disk can do: a misdirected write
//! puts a whole, valid frame where another belongs (TigerBeetle's VOPR injects these), an old
//! sector can reappear, and a safe_seq can name more than the log holds while the log still ends
//! cleanly at a frame boundary. Each probe here makes one such log by hand from five committed
//! entries and requires recovery to refuse it with [`Error::Corrupt`] naming the first damaged
//! seq, leaving every byte of the directory as it was. The probes whose frames carry a valid CRC
//! are what catches a recovery whose seq check is gone: the checksum alone passes them.

use std::path::Path;

use super::support::{e, payload, Outcome, Site, SuiteStorage};
use crate::error::{CorruptKind, Error};
use crate::format::{self, FILE_HEADER_LEN, FRAME_HEADER_LEN};
use crate::inject;
use crate::log::Wal;
use crate::paths::Paths;
use crate::seq::Seq;
use crate::storage::{OpenMode, StorageFile};
use crate::verify::Code;

/// Committed entries each probe starts from.
const ENTRIES: u64 = 5;

fn frame_len(i: u64) -> u64 {
    (FRAME_HEADER_LEN + payload(i).len()) as u64
}

/// Byte offset of frame `i` in a log of the suite's payloads.
fn frame_offset(i: u64) -> u64 {
    FILE_HEADER_LEN + (1..i).map(frame_len).sum::<u64>()
}

pub(super) fn s6<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    flipped_byte(s)?;
    cut_inside_a_frame(s)?;
    valid_frame_with_the_wrong_seq(s)?;
    earlier_frame_copied_over_a_later_one(s)?;
    safe_seq_past_the_last_frame_boundary(s)?;
    Ok(())
}

/// One byte of frame 3 flipped: its checksum fails.
fn flipped_byte<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("flip")?;
    s.write_entries(&d, ENTRIES)?;
    let off3 = frame_offset(3);
    e(inject::flip_byte(&s.storage, &d, off3 + 20))?;
    refused(s, &d, "one byte of frame 3 flipped", 3, off3, |k| {
        *k == CorruptKind::Checksum
    })?;
    let r = s.verify(&d)?;
    ensure!(
        r.violations
            .iter()
            .any(|v| v.code == Code::FrameCorrupt && v.seq == Some(3)),
        "the verifier missed the flipped byte in frame 3"
    );
    Ok(())
}

/// The log cut inside committed frame 2.
fn cut_inside_a_frame<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("cut")?;
    s.write_entries(&d, 3)?;
    s.cut(&Paths::new(&d).log, frame_offset(2) + 5)?;
    refused(
        s,
        &d,
        "the log cut inside frame 2",
        2,
        frame_offset(2),
        |_| true,
    )
}

/// Frame 3 rewritten whole with seq 4 and a valid checksum (a frame the checksum cannot fault).
fn valid_frame_with_the_wrong_seq<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wrong-seq")?;
    s.write_entries(&d, ENTRIES)?;
    let mut frame = Vec::new();
    format::encode_frame(Seq::new(4), &payload(3), &mut frame);
    overwrite(s, &d, frame_offset(3), &frame)?;
    refused(
        s,
        &d,
        "frame 3 carrying seq 4 under a valid checksum",
        3,
        frame_offset(3),
        |k| *k == CorruptKind::OutOfOrder(Seq::new(4)),
    )
}

/// Frame 2's bytes, valid checksum and all, written over frame 4 (a misdirected or stale write).
fn earlier_frame_copied_over_a_later_one<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("copied")?;
    s.write_entries(&d, ENTRIES)?;
    let log = s.read(&Paths::new(&d).log)?;
    let (a, b) = (frame_offset(2), frame_offset(3));
    let frame2 = log[a as usize..b as usize].to_vec();
    overwrite(s, &d, frame_offset(4), &frame2)?;
    refused(
        s,
        &d,
        "frame 2 copied over frame 4",
        4,
        frame_offset(4),
        |k| *k == CorruptKind::OutOfOrder(Seq::new(2)),
    )
}

/// safe_seq says 7 while the log ends cleanly after frame 5: two committed frames are missing,
/// and nothing about the log's end shows it.
fn safe_seq_past_the_last_frame_boundary<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("safe-seq-past-end")?;
    s.write_entries(&d, ENTRIES)?;
    let p = Paths::new(&d);
    let mut f = s
        .storage
        .open(&p.safe_seq, OpenMode::Truncate)
        .map_err(|e| e.to_string())?;
    f.write_all_at(&format::encode_safe_seq(Seq::new(ENTRIES + 2)), 0)
        .map_err(|e| e.to_string())?;
    drop(f);
    refused(
        s,
        &d,
        "safe_seq 7 over a log of 5 whole frames",
        ENTRIES + 1,
        frame_offset(ENTRIES + 1),
        |k| *k == CorruptKind::Missing,
    )
}

fn overwrite<S: SuiteStorage>(s: &Site<S>, d: &Path, offset: u64, bytes: &[u8]) -> Outcome {
    let mut f = s
        .storage
        .open(&Paths::new(d).log, OpenMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    f.write_all_at(bytes, offset).map_err(|e| e.to_string())
}

/// Recovery must refuse `d` with [`Error::Corrupt`] for `seq` at `offset`, of a kind `kind_ok`
/// accepts, and leave the log and safe_seq byte for byte as they were.
fn refused<S: SuiteStorage>(
    s: &Site<S>,
    d: &Path,
    what: &str,
    seq: u64,
    offset: u64,
    kind_ok: impl Fn(&CorruptKind) -> bool,
) -> Outcome {
    let p = Paths::new(d);
    let before = (s.read(&p.log)?, s.read(&p.safe_seq)?);
    match Wal::open_with(s.storage.clone(), d) {
        Err(Error::Corrupt {
            seq: got,
            offset: at,
            kind,
            ..
        }) => ensure!(
            got == Seq::new(seq) && at == offset && kind_ok(&kind),
            "{what}: recovery reported seq {got} at {at} ({kind}), not seq {seq} at {offset}"
        ),
        Err(other) => {
            return Err(format!(
                "{what}: recovery failed for another reason: {other}"
            ))
        }
        Ok(w) => {
            let read = match w.read_from(Seq::ZERO).collect::<Result<Vec<_>, _>>() {
                Ok(entries) => format!("{} entries read back", entries.len()),
                Err(err) => format!("reading back then failed: {err}"),
            };
            return Err(format!(
                "{what}: recovery opened the WAL (safe_seq {}; {read}) instead of reporting the \
                 damage",
                w.safe_seq()
            ));
        }
    }
    ensure!(
        (s.read(&p.log)?, s.read(&p.safe_seq)?) == before,
        "{what}: recovery changed the damaged directory"
    );
    Ok(())
}
