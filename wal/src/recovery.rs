//! Recovery on open: from whatever a crash left, back to exactly the committed entries.
//!
//! The rules (argued case by case in `docs/wal-format.md`):
//! - a stale `telemetry.safe_seq.tmp` is an interrupted safe_seq update: remove it, the old
//!   safe_seq stands;
//! - frames with seq > safe_seq, and a truncated or checksum-failing tail after the last
//!   committed frame, were never acknowledged: they are phantoms, truncated away and fsynced;
//! - a committed frame (seq <= safe_seq) that is missing, out of order or damaged is reported as
//!   [`Error::Corrupt`] with its seq and offset, and nothing on disk is touched.
//!
//! Every step is idempotent, so a crash during recovery is followed by the same recovery.

use crate::error::{CorruptKind, Error, Result};
use crate::format;
use crate::paths::Paths;
use crate::scan::{FrameProblem, Scanned, Scanner};
use crate::seq::Seq;
use crate::storage::{OpenMode, PathKind, Storage, StorageFile};

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The committed high-water mark read from `telemetry.safe_seq`.
    pub safe_seq: Seq,
    /// End of the last committed frame.
    pub end: u64,
    /// Whether a stale `telemetry.safe_seq.tmp` was removed.
    pub removed_stale_tmp: bool,
    /// Well-formed frames with seq > safe_seq that were discarded.
    pub phantom_frames: u64,
    /// Whether a damaged or incomplete tail after the committed range was discarded.
    pub discarded_damaged_tail: bool,
    /// Bytes cut from the end of `wal.log`.
    pub truncated_bytes: u64,
    /// Whether `wal.log` was created (or its torn header rewritten) because nothing was committed.
    pub initialized_log: bool,
}

pub(crate) fn corrupt_kind(p: FrameProblem) -> CorruptKind {
    match p {
        FrameProblem::Truncated => CorruptKind::Truncated,
        FrameProblem::BadLength(n) => CorruptKind::BadLength(n),
        FrameProblem::Checksum => CorruptKind::Checksum,
    }
}

/// Reads `telemetry.safe_seq` (absent means 0) through `storage`.
pub fn read_safe_seq<S: Storage>(storage: &S, paths: &Paths) -> Result<Seq> {
    match storage
        .kind(&paths.safe_seq)
        .map_err(Error::io("stat", &paths.safe_seq))?
    {
        PathKind::Missing => return Ok(Seq::ZERO),
        PathKind::Dir => {
            return Err(Error::BadSafeSeq {
                path: paths.safe_seq.clone(),
                content: "<a directory>".into(),
            })
        }
        PathKind::File => {}
    }
    let f = storage
        .open(&paths.safe_seq, OpenMode::Read)
        .map_err(Error::io("open", &paths.safe_seq))?;
    let mut buf = [0u8; format::MAX_SAFE_SEQ_FILE_LEN + 1];
    let mut n = 0;
    while n < buf.len() {
        match f
            .read_at(&mut buf[n..], n as u64)
            .map_err(Error::io("read", &paths.safe_seq))?
        {
            0 => break,
            k => n += k,
        }
    }
    format::decode_safe_seq(&buf[..n]).ok_or_else(|| Error::BadSafeSeq {
        path: paths.safe_seq.clone(),
        content: String::from_utf8_lossy(&buf[..n.min(format::MAX_SAFE_SEQ_FILE_LEN)]).into_owned(),
    })
}

/// One sparse index point every this many committed frames, for `Wal::read_from`.
pub(crate) const INDEX_EVERY: u64 = 1024;

/// (seq, offset) of every `INDEX_EVERY`-th committed frame, ascending: built by recovery as it
/// verifies the committed range, so opening reads the log once.
pub(crate) type Index = Vec<(Seq, u64)>;

/// Runs recovery on the WAL in `paths.dir`: returns the log opened for writing, what was found
/// and done, and the read index of the committed range. The steps, in order: an interrupted
/// safe_seq update is undone, safe_seq is read, the log is opened (or started again if its
/// creation never became durable), the committed range is verified, the uncommitted tail cut.
pub(crate) fn recover<S: Storage>(
    storage: &S,
    paths: &Paths,
) -> Result<(S::File, Recovery, Index)> {
    let mut rec = Recovery {
        removed_stale_tmp: remove_stale_tmp(storage, paths)?,
        ..Recovery::default()
    };
    let safe_seq = read_safe_seq(storage, paths)?;
    rec.safe_seq = safe_seq;
    let (mut log, len) = open_log(storage, paths, safe_seq)?;
    if restart_unborn_log(storage, paths, &mut log, len, safe_seq)? {
        rec.initialized_log = true;
        rec.truncated_bytes = 0;
        rec.end = format::FILE_HEADER_LEN;
        return Ok((log, rec, Index::new()));
    }
    let (committed, index) = verify_committed(&log, len, safe_seq, paths)?;
    rec.phantom_frames = committed.phantom_frames;
    rec.discarded_damaged_tail = committed.damaged_tail;
    if committed.end < len {
        log.set_len(committed.end)
            .map_err(Error::io("truncate", &paths.log))?;
        log.sync_all().map_err(Error::io("fsync", &paths.log))?;
        rec.truncated_bytes = len - committed.end;
    }
    rec.end = committed.end;
    Ok((log, rec, index))
}

/// Removes a `telemetry.safe_seq.tmp` left by an interrupted safe_seq update, durably; whether
/// there was one.
fn remove_stale_tmp<S: Storage>(storage: &S, paths: &Paths) -> Result<bool> {
    if storage
        .kind(&paths.safe_seq_tmp)
        .map_err(Error::io("stat", &paths.safe_seq_tmp))?
        == PathKind::Missing
    {
        return Ok(false);
    }
    storage
        .remove_file(&paths.safe_seq_tmp)
        .map_err(Error::io("remove", &paths.safe_seq_tmp))?;
    storage
        .sync_dir(&paths.dir)
        .map_err(Error::io("fsync", &paths.dir))?;
    Ok(true)
}

/// Opens `wal.log` for writing (creating it when nothing was committed) and returns its length.
fn open_log<S: Storage>(storage: &S, paths: &Paths, safe_seq: Seq) -> Result<(S::File, u64)> {
    let log_kind = storage
        .kind(&paths.log)
        .map_err(Error::io("stat", &paths.log))?;
    if log_kind == PathKind::Dir {
        return Err(Error::NotAWal {
            path: paths.log.clone(),
            reason: "it is a directory".into(),
        });
    }
    if log_kind == PathKind::Missing && safe_seq > Seq::ZERO {
        return Err(Error::Corrupt {
            seq: Seq::FIRST,
            offset: 0,
            kind: CorruptKind::Missing,
            path: paths.log.clone(),
        });
    }
    let log = storage
        .open(&paths.log, OpenMode::ReadWrite)
        .map_err(Error::io("open", &paths.log))?;
    let len = log.len().map_err(Error::io("stat", &paths.log))?;
    Ok((log, len))
}

/// Checks the log's file header. A new log whose header never became durable (nothing was
/// committed) is started again, durably, and `true` returned; any other bad header is not a WAL.
fn restart_unborn_log<S: Storage>(
    storage: &S,
    paths: &Paths,
    log: &mut S::File,
    len: u64,
    safe_seq: Seq,
) -> Result<bool> {
    let mut header = [0u8; format::FILE_HEADER_LEN as usize];
    let have = (len.min(format::FILE_HEADER_LEN)) as usize;
    log.read_exact_at(&mut header[..have], 0)
        .map_err(Error::io("read", &paths.log))?;
    match format::check_file_header(&header[..have]) {
        Ok(()) => Ok(false),
        // A new log whose header never became durable: nothing was committed, start it again.
        // Its length may have reached the disk without its bytes (zeros, as on xfs).
        Err(format::HeaderProblem::Short(_) | format::HeaderProblem::BadMagic(_))
            if safe_seq == Seq::ZERO
                && len <= format::FILE_HEADER_LEN
                && is_prefix_of_header(&header[..have]) =>
        {
            log.set_len(0).map_err(Error::io("truncate", &paths.log))?;
            log.write_all_at(&format::file_header(), 0)
                .map_err(Error::io("write", &paths.log))?;
            log.sync_all().map_err(Error::io("fsync", &paths.log))?;
            storage
                .sync_dir(&paths.dir)
                .map_err(Error::io("fsync", &paths.dir))?;
            Ok(true)
        }
        Err(e) => Err(Error::NotAWal {
            path: paths.log.clone(),
            reason: e.to_string(),
        }),
    }
}

/// What the scan of the log found after the committed range.
struct Committed {
    /// End of the last committed frame.
    end: u64,
    /// Well-formed frames past safe_seq.
    phantom_frames: u64,
    /// Whether a damaged or incomplete frame was found past the committed range.
    damaged_tail: bool,
}

/// Scans the log once: every frame up to safe_seq must be there, in order and intact (else
/// [`Error::Corrupt`]); what follows is counted as phantoms or a damaged tail. Builds the read
/// index of the committed range on the way.
fn verify_committed<F: StorageFile>(
    log: &F,
    len: u64,
    safe_seq: Seq,
    paths: &Paths,
) -> Result<(Committed, Index)> {
    let mut scanner = Scanner::with_end(log, format::FILE_HEADER_LEN, len);
    #[cfg(feature = "defects")]
    if crate::defects::active(crate::defects::Defect::RecoveryTrustsFrameWithoutChecksum) {
        scanner.trust_checksums();
    }
    let mut index = Index::new();
    let mut found = Committed {
        end: format::FILE_HEADER_LEN,
        phantom_frames: 0,
        damaged_tail: false,
    };
    let check_seq = !defect_active!(RecoveryIgnoresSeq);
    let mut expect = Seq::FIRST;
    let corrupt = |seq, offset, kind| Error::Corrupt {
        seq,
        offset,
        kind,
        path: paths.log.clone(),
    };
    loop {
        let offset = scanner.position();
        match scanner
            .next_frame()
            .map_err(Error::io("read", &paths.log))?
        {
            None => break,
            Some(Scanned::Frame { seq, .. }) if expect <= safe_seq => {
                if check_seq && seq != expect {
                    return Err(corrupt(expect, offset, CorruptKind::OutOfOrder(seq)));
                }
                if (seq.get() - 1).is_multiple_of(INDEX_EVERY) {
                    index.push((seq, offset));
                }
                found.end = scanner.position();
                expect = expect.next().ok_or(Error::SeqOverflow)?;
            }
            Some(Scanned::Frame { .. }) => {
                // Past the committed range: everything from here on was never acknowledged.
                found.phantom_frames += 1;
                while let Some(item) = scanner
                    .next_frame()
                    .map_err(Error::io("read", &paths.log))?
                {
                    match item {
                        Scanned::Frame { .. } => found.phantom_frames += 1,
                        Scanned::Bad { .. } => found.damaged_tail = true,
                    }
                }
                break;
            }
            Some(Scanned::Bad { problem, .. }) => {
                if expect <= safe_seq {
                    return Err(corrupt(expect, offset, corrupt_kind(problem)));
                }
                found.damaged_tail = true;
                break;
            }
        }
    }
    if expect <= safe_seq {
        return Err(corrupt(expect, found.end, CorruptKind::Missing));
    }
    Ok((found, index))
}

/// A short header that a crash during the log's creation could leave: a prefix of the real one,
/// or zeros where the filesystem exposed allocated but unwritten blocks.
fn is_prefix_of_header(bytes: &[u8]) -> bool {
    format::file_header().starts_with(bytes) || bytes.iter().all(|&b| b == 0)
}
