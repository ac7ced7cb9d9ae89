//! The writer: open with recovery, append under the commit protocol, read committed entries.
//!
//! Commit protocol (the reasoning for each crash window is in `docs/wal-format.md`):
//! 1. write the frame(s) at the end of `wal.log`, fdatasync;
//! 2. write the new safe_seq to `telemetry.safe_seq.tmp`, fsync;
//! 3. rename it over `telemetry.safe_seq`, fsync the directory.
//!
//! Only then does `append` return: an acknowledged entry is committed. If any step fails the
//! writer is poisoned (the disk state is unknown, see fsyncgate) and must be reopened, which
//! runs recovery again.

use std::ops::RangeInclusive;
use std::path::Path;

use crate::error::{CorruptKind, Error, Result};
use crate::format;
use crate::paths::Paths;
use crate::recovery::{self, Recovery, INDEX_EVERY};
use crate::scan::{Scanned, Scanner};
use crate::seq::Seq;
use crate::storage::{OpenMode, PathKind, StdStorage, Storage, StorageFile};

/// A committed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its seq.
    pub seq: Seq,
    /// Its payload, byte for byte as appended.
    pub payload: Vec<u8>,
}

/// An open WAL with its writer's lock held.
pub struct Wal<S: Storage = StdStorage> {
    storage: S,
    paths: Paths,
    log: S::File,
    _lock: S::Lock,
    /// End of the last committed frame: where the next frame goes.
    end: u64,
    safe_seq: Seq,
    /// (seq, offset) of every `INDEX_EVERY`-th committed frame, ascending.
    index: Vec<(Seq, u64)>,
    recovery: Recovery,
    poisoned: Option<String>,
}

impl Wal<StdStorage> {
    /// Opens the WAL in an existing directory on the real filesystem, running recovery.
    pub fn open(dir: impl AsRef<Path>) -> Result<Wal<StdStorage>> {
        Wal::open_with(StdStorage, dir)
    }
}

impl<S: Storage> Wal<S> {
    /// Opens the WAL in `dir` through `storage`: takes the lock, removes a stale safe_seq `.tmp`,
    /// discards phantom frames (seq > safe_seq, or a damaged tail after the last committed frame)
    /// and fails with [`Error::Corrupt`] if a committed frame is missing or damaged.
    pub fn open_with(storage: S, dir: impl AsRef<Path>) -> Result<Wal<S>> {
        let paths = Paths::new(dir.as_ref());
        match storage
            .kind(&paths.dir)
            .map_err(Error::io("stat", &paths.dir))?
        {
            PathKind::Dir => {}
            PathKind::Missing => return Err(Error::NotFound(paths.dir)),
            PathKind::File => return Err(Error::NotADirectory(paths.dir)),
        }
        let lock = storage
            .try_lock(&paths.lock)
            .map_err(Error::io("lock", &paths.lock))?
            .ok_or_else(|| Error::Locked {
                dir: paths.dir.clone(),
            })?;
        let (log, rec, index) = recovery::recover(&storage, &paths)?;
        Ok(Wal {
            storage,
            paths,
            log,
            _lock: lock,
            end: rec.end,
            safe_seq: rec.safe_seq,
            index,
            recovery: rec,
            poisoned: None,
        })
    }

    /// The highest committed seq (0 when empty).
    pub fn safe_seq(&self) -> Seq {
        self.safe_seq
    }

    /// What recovery found and did when this WAL was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Appends one entry and commits it; returns its seq once frame and safe_seq are durable.
    /// The payload must be one UTF-8 JSON value of 1 byte to 16 MiB.
    pub fn append(&mut self, payload: &[u8]) -> Result<Seq> {
        Ok(*self.append_batch(&[payload])?.end())
    }

    /// Appends several entries and commits them with one safe_seq update. Either all of them are
    /// committed when this returns, or (after a crash) none is.
    pub fn append_batch<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<RangeInclusive<Seq>> {
        if let Some(why) = &self.poisoned {
            return Err(Error::Poisoned(why.clone()));
        }
        if payloads.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let total: usize = payloads
            .iter()
            .map(|p| p.as_ref().len() + format::FRAME_HEADER_LEN)
            .sum();
        let mut buf = Vec::with_capacity(total);
        let first = self.safe_seq.next().ok_or(Error::SeqOverflow)?;
        let mut seq = self.safe_seq;
        let mut new_index = Vec::new();
        for p in payloads {
            let p = p.as_ref();
            check_payload(p)?;
            seq = seq.next().ok_or(Error::SeqOverflow)?;
            if (seq.get() - 1).is_multiple_of(INDEX_EVERY) {
                new_index.push((seq, self.end + buf.len() as u64));
            }
            format::encode_frame(seq, p, &mut buf);
        }
        match self.commit(&buf, seq) {
            Ok(()) => {
                self.end += buf.len() as u64;
                self.safe_seq = seq;
                self.index.extend(new_index);
                Ok(first..=seq)
            }
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn commit(&mut self, frames: &[u8], last: Seq) -> Result<()> {
        let p = &self.paths;
        self.log
            .write_all_at(frames, self.end)
            .map_err(Error::io("write", &p.log))?;
        let defer_frame_sync = defect_active!(RenameBeforeFrameSync);
        if !defer_frame_sync {
            self.log
                .sync_data()
                .map_err(Error::io("fdatasync", &p.log))?;
        }
        let mut tmp = self
            .storage
            .open(&p.safe_seq_tmp, OpenMode::Truncate)
            .map_err(Error::io("create", &p.safe_seq_tmp))?;
        tmp.write_all_at(&format::encode_safe_seq(last), 0)
            .map_err(Error::io("write", &p.safe_seq_tmp))?;
        if !defect_active!(NoTmpSyncBeforeRename) {
            tmp.sync_all()
                .map_err(Error::io("fsync", &p.safe_seq_tmp))?;
        }
        drop(tmp);
        self.storage
            .rename(&p.safe_seq_tmp, &p.safe_seq)
            .map_err(Error::io("rename", &p.safe_seq_tmp))?;
        if !defect_active!(NoDirSyncAfterRename) {
            self.storage
                .sync_dir(&p.dir)
                .map_err(Error::io("fsync", &p.dir))?;
        }
        if defer_frame_sync {
            self.log
                .sync_data()
                .map_err(Error::io("fdatasync", &p.log))?;
        }
        Ok(())
    }

    /// The committed entries with seq >= `from`, in order (`read_from(Seq::ZERO)` yields all).
    /// Each frame's checksum is checked again as it is read.
    pub fn read_from(&self, from: Seq) -> ReadFrom<'_, S::File> {
        let from = from.max(Seq::FIRST);
        let (expect, start) = match self.index.partition_point(|&(s, _)| s <= from) {
            0 => (Seq::FIRST, format::FILE_HEADER_LEN),
            i => self.index[i - 1],
        };
        ReadFrom {
            scanner: Scanner::with_end(&self.log, start, self.end),
            from,
            expect,
            last: self.safe_seq,
            path: &self.paths.log,
            done: false,
        }
    }
}

fn check_payload(p: &[u8]) -> Result<()> {
    if !format::len_in_range(u32::try_from(p.len()).unwrap_or(u32::MAX)) {
        return Err(Error::InvalidPayload(format!(
            "{} bytes; a payload holds {}..={} bytes",
            p.len(),
            format::MIN_PAYLOAD_LEN,
            format::MAX_PAYLOAD_LEN
        )));
    }
    format::check_json(p).map_err(Error::InvalidPayload)
}

/// Iterator over committed entries, from [`Wal::read_from`].
pub struct ReadFrom<'w, F: StorageFile> {
    scanner: Scanner<'w, F>,
    from: Seq,
    /// The seq the next frame should carry.
    expect: Seq,
    last: Seq,
    path: &'w Path,
    done: bool,
}

impl<F: StorageFile> Iterator for ReadFrom<'_, F> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        while !self.done {
            let offset = self.scanner.position();
            let item = match self.scanner.next_frame() {
                Ok(item) => item,
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::io("read", self.path)(e)));
                }
            };
            match item {
                None => self.done = true,
                Some(Scanned::Frame { seq, .. }) if seq != self.expect => {
                    // The range was verified at open: a frame out of sequence means the file
                    // changed under us, and skipping it would lose an entry silently.
                    self.done = true;
                    return Some(Err(Error::Corrupt {
                        seq: self.expect,
                        offset,
                        kind: CorruptKind::OutOfOrder(seq),
                        path: self.path.to_path_buf(),
                    }));
                }
                Some(Scanned::Frame { seq, payload, .. }) => {
                    self.expect = seq.next().unwrap_or(seq);
                    if seq > self.last {
                        self.done = true;
                    } else if seq >= self.from {
                        return Some(Ok(Entry {
                            seq,
                            payload: payload.to_vec(),
                        }));
                    }
                }
                Some(Scanned::Bad { problem, .. }) => {
                    // The range was verified at open; damage now means the file changed under us.
                    self.done = true;
                    return Some(Err(Error::Corrupt {
                        seq: self.expect,
                        offset,
                        kind: recovery::corrupt_kind(problem),
                        path: self.path.to_path_buf(),
                    }));
                }
            }
        }
        None
    }
}
