//! The recording storage: a [`Storage`] that writes down every effect of the code above it, and
//! can stop the machine at a chosen effect.
//!
//! Two certifiers need the same record. The conformance suite checks the commit protocol's order
//! of effects (S2, S11) and cuts a run short at a chosen effect, which is how a crash inside the
//! protocol or inside recovery is reproduced (S3, S4, S7). The crash explorer needs, for each
//! effect, exactly what it did (which bytes went where, which file a name pointed to, what was
//! synced) to build every state a power cut could leave. One [`Recorder`] serves both, over any
//! storage that can tell a file's identity ([`Inodes`]): the in-memory filesystem or the real one.
//!
//! Paths alone are not enough for the crash model (a rename moves a file's identity to a new
//! name; `telemetry.safe_seq.tmp` is a new file every commit), so every [`Op`] names the inode it
//! touched as well as the path it went through. Reads, and opens that neither create nor
//! truncate, change nothing a power cut could lose and are not recorded. [`Mark`]s placed by the
//! caller (an append was issued; an append returned) sit between the operations.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::mem::{Ino, MemFile, MemStorage};
use crate::storage::{OpenMode, PathKind, StdStorage, Storage, StorageFile};

/// One recorded operation with an effect on the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new name bound to a new, empty file (open with create, or the lock file).
    Create {
        /// The new name.
        path: PathBuf,
        /// The new file.
        ino: Ino,
    },
    /// Bytes written at an offset.
    Write {
        /// The name the file was opened by.
        path: PathBuf,
        /// The file.
        ino: Ino,
        /// Where.
        offset: u64,
        /// What.
        bytes: Vec<u8>,
    },
    /// The length set (truncation, or `O_TRUNC` on an existing non-empty file).
    SetLen {
        /// The name the file was opened by.
        path: PathBuf,
        /// The file.
        ino: Ino,
        /// The new length.
        len: u64,
    },
    /// fdatasync (`full: false`) or fsync (`full: true`) of a file: its data and length are
    /// durable once it returns.
    Sync {
        /// The name the file was opened by.
        path: PathBuf,
        /// The file.
        ino: Ino,
        /// fsync rather than fdatasync.
        full: bool,
    },
    /// rename(from, to) of the file `ino`.
    Rename {
        /// The old name.
        from: PathBuf,
        /// The new name.
        to: PathBuf,
        /// The file that moved.
        ino: Ino,
    },
    /// unlink.
    Remove {
        /// The name removed.
        path: PathBuf,
        /// The file it named.
        ino: Ino,
    },
    /// fsync of a directory: the names in it are durable once it returns.
    SyncDir {
        /// The directory.
        dir: PathBuf,
    },
}

impl Op {
    /// The file or directory name as a user reads it ("wal.log").
    fn short(p: &Path) -> String {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    }

    /// A one-line description ("write wal.log @8+64").
    pub fn describe(&self) -> String {
        match self {
            Op::Create { path, .. } => format!("create {}", Op::short(path)),
            Op::Write {
                path,
                offset,
                bytes,
                ..
            } => format!("write {} @{offset}+{}", Op::short(path), bytes.len()),
            Op::SetLen { path, len, .. } => format!("set_len {} {len}", Op::short(path)),
            Op::Sync { path, full, .. } => format!(
                "{} {}",
                if *full { "fsync" } else { "fdatasync" },
                Op::short(path)
            ),
            Op::Rename { from, to, .. } => {
                format!("rename {} -> {}", Op::short(from), Op::short(to))
            }
            Op::Remove { path, .. } => format!("unlink {}", Op::short(path)),
            Op::SyncDir { dir } => format!("fsync dir {}", dir.display()),
        }
    }
}

/// What the caller says happened between operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// An append of these (seq, payload) entries was called.
    Issued(Vec<(u64, Vec<u8>)>),
    /// An append returned: every seq up to this one is acknowledged.
    Acked(u64),
}

/// A recorded run: operations, and marks placed before the operation at their index.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The operations, in the order they completed.
    pub ops: Vec<Op>,
    /// (number of operations before the mark, mark).
    pub marks: Vec<(usize, Mark)>,
}

/// What the recorder needs of a storage beyond the seam: which file a name is bound to.
pub trait Inodes: Storage {
    /// The identity and current length of the file `path` names; `None` when no file is there.
    fn inode(&self, path: &Path) -> Option<(Ino, u64)>;
    /// The identity of an open file.
    fn file_ino(&self, file: &Self::File) -> io::Result<Ino>;
}

impl Inodes for MemStorage {
    fn inode(&self, path: &Path) -> Option<(Ino, u64)> {
        let ino = self.ino(path)?;
        Some((ino, self.len_of(ino)?))
    }
    fn file_ino(&self, file: &MemFile) -> io::Result<Ino> {
        Ok(file.ino())
    }
}

/// On the real filesystem a file's identity is its inode number: a WAL directory's files all
/// live on one filesystem, where the number is unique while the file exists.
impl Inodes for StdStorage {
    fn inode(&self, path: &Path) -> Option<(Ino, u64)> {
        std::fs::metadata(path)
            .ok()
            .filter(|m| !m.is_dir())
            .map(|m| (m.ino(), m.len()))
    }
    fn file_ino(&self, file: &std::fs::File) -> io::Result<Ino> {
        Ok(file.metadata()?.ino())
    }
}

#[derive(Debug, Default)]
struct Shared {
    trace: Trace,
    /// Effects attempted so far (each recorded op is one).
    effects: usize,
    fail_at: Option<usize>,
}

/// Locks the record (a panic elsewhere does not make it unreadable).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Claims the next effect's index, or fails it when the machine is to stop there.
fn begin(shared: &Mutex<Shared>, what: impl FnOnce() -> String) -> io::Result<()> {
    let mut s = lock(shared);
    let i = s.effects;
    s.effects += 1;
    if s.fail_at.is_some_and(|f| i >= f) {
        return Err(io::Error::other(format!(
            "injected failure at effect {i}: {}",
            what()
        )));
    }
    Ok(())
}

fn push(shared: &Mutex<Shared>, op: Op) {
    lock(shared).trace.ops.push(op);
}

/// Records every effect on an inner storage; optionally fails the n-th effect (0-based) and
/// every one after it, as if the machine had stopped there. Clones share the record.
#[derive(Debug, Clone)]
pub struct Recorder<S = MemStorage> {
    inner: S,
    shared: Arc<Mutex<Shared>>,
}

impl<S: Inodes> Recorder<S> {
    /// Records on top of `inner` (which may already hold files: those are the durable start),
    /// failing nothing.
    pub fn new(inner: S) -> Self {
        Recorder {
            inner,
            shared: Arc::default(),
        }
    }

    /// Records, and fails the effect with this index and all after it with an I/O error.
    pub fn failing_at(inner: S, effect: usize) -> Self {
        let r = Recorder::new(inner);
        lock(&r.shared).fail_at = Some(effect);
        r
    }

    /// Adds a mark at the current position.
    pub fn mark(&self, m: Mark) {
        let mut s = lock(&self.shared);
        let at = s.trace.ops.len();
        s.trace.marks.push((at, m));
    }

    /// What was recorded so far.
    pub fn trace(&self) -> Trace {
        lock(&self.shared).trace.clone()
    }

    /// How many operations were recorded so far.
    pub fn op_count(&self) -> usize {
        lock(&self.shared).trace.ops.len()
    }
}

/// A file opened through a [`Recorder`].
#[derive(Debug)]
pub struct RecordedFile<F> {
    inner: F,
    path: PathBuf,
    ino: Ino,
    shared: Arc<Mutex<Shared>>,
}

impl<F: StorageFile> RecordedFile<F> {
    /// Runs one effect on the file: fails it if the machine stopped, records it if it happened.
    fn effect(
        &mut self,
        verb: &str,
        run: impl FnOnce(&mut F) -> io::Result<()>,
        op: impl FnOnce(PathBuf, Ino) -> Op,
    ) -> io::Result<()> {
        begin(&self.shared, || format!("{verb} {}", self.path.display()))?;
        run(&mut self.inner)?;
        push(&self.shared, op(self.path.clone(), self.ino));
        Ok(())
    }
}

impl<F: StorageFile> StorageFile for RecordedFile<F> {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.effect(
            "write",
            |f| f.write_all_at(buf, offset),
            |path, ino| Op::Write {
                path,
                ino,
                offset,
                bytes: buf.to_vec(),
            },
        )
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.effect(
            "set_len",
            |f| f.set_len(len),
            |path, ino| Op::SetLen { path, ino, len },
        )
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.effect(
            "fdatasync",
            |f| f.sync_data(),
            |path, ino| Op::Sync {
                path,
                ino,
                full: false,
            },
        )
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.effect(
            "fsync",
            |f| f.sync_all(),
            |path, ino| Op::Sync {
                path,
                ino,
                full: true,
            },
        )
    }
}

impl<S: Inodes> Storage for Recorder<S> {
    type File = RecordedFile<S::File>;
    type Lock = S::Lock;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File> {
        let before = self.inner.inode(path);
        let creates = before.is_none() && mode != OpenMode::Read;
        let truncates = mode == OpenMode::Truncate && before.is_some_and(|(_, len)| len > 0);
        if creates || truncates {
            begin(&self.shared, || format!("open {}", path.display()))?;
        }
        let inner = self.inner.open(path, mode)?;
        let ino = self.inner.file_ino(&inner)?;
        let path = path.to_path_buf();
        if creates {
            push(
                &self.shared,
                Op::Create {
                    path: path.clone(),
                    ino,
                },
            );
        } else if truncates {
            push(
                &self.shared,
                Op::SetLen {
                    path: path.clone(),
                    ino,
                    len: 0,
                },
            );
        }
        Ok(RecordedFile {
            inner,
            path,
            ino,
            shared: self.shared.clone(),
        })
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        self.inner.kind(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let ino = self.inner.inode(from).map(|(ino, _)| ino);
        begin(&self.shared, || format!("rename {}", from.display()))?;
        self.inner.rename(from, to)?;
        if let Some(ino) = ino {
            let (from, to) = (from.to_path_buf(), to.to_path_buf());
            push(&self.shared, Op::Rename { from, to, ino });
        }
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let ino = self.inner.inode(path).map(|(ino, _)| ino);
        begin(&self.shared, || format!("unlink {}", path.display()))?;
        self.inner.remove_file(path)?;
        if let Some(ino) = ino {
            let path = path.to_path_buf();
            push(&self.shared, Op::Remove { path, ino });
        }
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        begin(&self.shared, || format!("fsync dir {}", dir.display()))?;
        self.inner.sync_dir(dir)?;
        let dir = dir.to_path_buf();
        push(&self.shared, Op::SyncDir { dir });
        Ok(())
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Self::Lock>> {
        let creates = self.inner.inode(path).is_none();
        if creates {
            begin(&self.shared, || format!("create {}", path.display()))?;
        }
        let lock = self.inner.try_lock(path)?;
        if creates {
            if let Some((ino, _)) = self.inner.inode(path) {
                let path = path.to_path_buf();
                push(&self.shared, Op::Create { path, ino });
            }
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Wal;

    #[test]
    fn a_commit_is_recorded_by_inode_with_its_bytes() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/w"));
        let rec = Recorder::new(m.clone());
        let mut w = Wal::open_with(rec.clone(), "/w").unwrap();
        let before = rec.op_count();
        w.append(br#"{"a":1}"#).unwrap();
        let ops = rec.trace().ops;
        let log = m.ino(Path::new("/w/wal.log")).unwrap();
        let safe = m.ino(Path::new("/w/telemetry.safe_seq")).unwrap();
        let words: Vec<String> = ops[before..].iter().map(Op::describe).collect();
        let frame = format!(
            "write wal.log @{}+{}",
            crate::format::FILE_HEADER_LEN,
            crate::format::FRAME_HEADER_LEN + 7
        );
        assert_eq!(
            words,
            [
                frame.as_str(),
                "fdatasync wal.log",
                "create telemetry.safe_seq.tmp",
                "write telemetry.safe_seq.tmp @0+2",
                "fsync telemetry.safe_seq.tmp",
                "rename telemetry.safe_seq.tmp -> telemetry.safe_seq",
                "fsync dir /w",
            ]
        );
        assert!(matches!(&ops[before], Op::Write { ino, .. } if *ino == log));
        assert!(matches!(&ops[before + 5], Op::Rename { ino, .. } if *ino == safe));
    }

    #[test]
    fn the_machine_stops_at_the_chosen_effect_and_stays_stopped() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/w"));
        drop(Wal::open_with(m.clone(), "/w").unwrap());
        let rec = Recorder::failing_at(m.clone(), 2);
        let mut w = Wal::open_with(rec.clone(), "/w").unwrap();
        assert!(w.append(br#"{"a":1}"#).is_err());
        // The frame was written and synced; the .tmp was never created.
        assert_eq!(rec.op_count(), 2);
        assert!(m.ino(Path::new("/w/telemetry.safe_seq.tmp")).is_none());
        assert!(rec.sync_dir(Path::new("/w")).is_err());
    }

    #[test]
    fn the_real_filesystem_is_recorded_by_inode_too() {
        let d = tempfile::tempdir().unwrap();
        let rec = Recorder::new(StdStorage);
        let mut w = Wal::open_with(rec.clone(), d.path()).unwrap();
        w.append(br#"{"a":1}"#).unwrap();
        let ops = rec.trace().ops;
        let safe = std::fs::metadata(d.path().join("telemetry.safe_seq")).unwrap();
        assert!(ops
            .iter()
            .any(|o| matches!(o, Op::Rename { ino, .. } if *ino == safe.ino())));
    }
}
