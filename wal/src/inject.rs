//! Crash leftovers, made by hand: the states a crash inside the commit protocol leaves behind.
//!
//! These write straight into a WAL directory, bypassing the protocol, exactly as an interrupted
//! writer would have left it: a well-formed frame that never got its safe_seq update (S3), a
//! frame cut short (S5), a safe_seq `.tmp` that was never renamed (S4). The conformance suite and
//! the crash harness use them; they are not part of a writer's API. Call them only while no
//! writer has the directory open.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format;
use crate::paths::Paths;
use crate::seq::Seq;
use crate::storage::{OpenMode, Storage, StorageFile};

/// Appends a well-formed frame carrying `seq` to `wal.log` without touching safe_seq, as a crash
/// between the frame's fdatasync and the safe_seq rename leaves it. Returns the frame's length.
pub fn phantom_frame<S: Storage>(storage: &S, dir: &Path, seq: Seq, payload: &[u8]) -> Result<u64> {
    let mut frame = Vec::new();
    format::encode_frame(seq, payload, &mut frame);
    append_raw(storage, dir, &frame)?;
    Ok(frame.len() as u64)
}

/// Appends the first `keep` bytes of a frame carrying `seq`, as a crash in the middle of the
/// frame's write leaves it. `keep` is clamped to less than the whole frame.
pub fn torn_frame<S: Storage>(
    storage: &S,
    dir: &Path,
    seq: Seq,
    payload: &[u8],
    keep: usize,
) -> Result<u64> {
    let mut frame = Vec::new();
    format::encode_frame(seq, payload, &mut frame);
    let keep = keep.clamp(1, frame.len() - 1);
    append_raw(storage, dir, &frame[..keep])?;
    Ok(keep as u64)
}

/// Writes `telemetry.safe_seq.tmp` holding `seq` and leaves it there, as a crash between the
/// `.tmp`'s fsync and its rename leaves it.
pub fn stale_tmp<S: Storage>(storage: &S, dir: &Path, seq: Seq) -> Result<()> {
    let p = Paths::new(dir);
    let mut f = storage
        .open(&p.safe_seq_tmp, OpenMode::Truncate)
        .map_err(Error::io("create", &p.safe_seq_tmp))?;
    f.write_all_at(&format::encode_safe_seq(seq), 0)
        .map_err(Error::io("write", &p.safe_seq_tmp))?;
    f.sync_all().map_err(Error::io("fsync", &p.safe_seq_tmp))
}

/// Appends raw bytes at the end of `wal.log` and fdatasyncs them.
pub fn append_raw<S: Storage>(storage: &S, dir: &Path, bytes: &[u8]) -> Result<()> {
    let p = Paths::new(dir);
    let mut f = storage
        .open(&p.log, OpenMode::ReadWrite)
        .map_err(Error::io("open", &p.log))?;
    let end = f.len().map_err(Error::io("stat", &p.log))?;
    f.write_all_at(bytes, end)
        .map_err(Error::io("write", &p.log))?;
    f.sync_data().map_err(Error::io("fdatasync", &p.log))
}

/// Flips every bit of the byte at `offset` of `wal.log`.
pub fn flip_byte<S: Storage>(storage: &S, dir: &Path, offset: u64) -> Result<()> {
    let p = Paths::new(dir);
    let mut f = storage
        .open(&p.log, OpenMode::ReadWrite)
        .map_err(Error::io("open", &p.log))?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset)
        .map_err(Error::io("read", &p.log))?;
    f.write_all_at(&[!b[0]], offset)
        .map_err(Error::io("write", &p.log))?;
    f.sync_data().map_err(Error::io("fdatasync", &p.log))
}
