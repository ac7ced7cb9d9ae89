//! A recording [`Storage`]: runs a workload in memory and writes down every effect it has.
//!
//! The crash model needs to know, for each operation, exactly what it did: which bytes went
//! where, which file a name pointed to, what was synced. Paths are not enough (a rename moves a
//! file's identity to a new name; `telemetry.safe_seq.tmp` is a new file every commit), so the
//! recorder works on top of [`MemStorage`], whose inodes give every file an identity, and records
//! operations in terms of inodes. Reads and opens of existing files are not recorded: they
//! change nothing a power cut could lose. The workload adds marks (an append was issued; an
//! append returned) between the operations, which is what the durability oracle is built from.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use wal::mem::{Ino, MemFile, MemLock, MemStorage};
use wal::storage::{OpenMode, PathKind, Storage, StorageFile};

/// One recorded operation with an effect on the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new name bound to a new, empty inode (open with create, or the lock file).
    Create { path: PathBuf, ino: Ino },
    /// Bytes written at an offset.
    Write {
        path: PathBuf,
        ino: Ino,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The length set (truncation, or `O_TRUNC` on an existing file).
    SetLen { path: PathBuf, ino: Ino, len: u64 },
    /// fdatasync or fsync of a file: its data and length are durable once it returns.
    Sync { path: PathBuf, ino: Ino, full: bool },
    /// rename(from, to) of the inode `ino`.
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: Ino,
    },
    /// unlink.
    Remove { path: PathBuf, ino: Ino },
    /// fsync of a directory: the names in it are durable once it returns.
    SyncDir { dir: PathBuf },
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

/// What the workload says happened between operations.
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
    pub ops: Vec<Op>,
    /// (number of operations before the mark, mark).
    pub marks: Vec<(usize, Mark)>,
}

/// A [`Storage`] over [`MemStorage`] that records every effect. Clones share the record.
#[derive(Debug, Clone)]
pub struct Recorder {
    mem: MemStorage,
    trace: Rc<RefCell<Trace>>,
}

impl Recorder {
    /// Records on top of `mem` (which may already hold files: those are the durable start).
    pub fn new(mem: MemStorage) -> Recorder {
        Recorder {
            mem,
            trace: Rc::default(),
        }
    }

    /// Adds a mark at the current position.
    pub fn mark(&self, m: Mark) {
        let mut t = self.trace.borrow_mut();
        let at = t.ops.len();
        t.marks.push((at, m));
    }

    /// What was recorded so far.
    pub fn trace(&self) -> Trace {
        self.trace.borrow().clone()
    }

    fn push(&self, op: Op) {
        self.trace.borrow_mut().ops.push(op);
    }
}

/// A file opened through a [`Recorder`].
#[derive(Debug)]
pub struct RecordedFile {
    inner: MemFile,
    path: PathBuf,
    trace: Rc<RefCell<Trace>>,
}

impl RecordedFile {
    fn push(&self, op: Op) {
        self.trace.borrow_mut().ops.push(op);
    }
}

impl StorageFile for RecordedFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)?;
        self.push(Op::Write {
            path: self.path.clone(),
            ino: self.inner.ino(),
            offset,
            bytes: buf.to_vec(),
        });
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.push(Op::SetLen {
            path: self.path.clone(),
            ino: self.inner.ino(),
            len,
        });
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.push(Op::Sync {
            path: self.path.clone(),
            ino: self.inner.ino(),
            full: false,
        });
        Ok(())
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()?;
        self.push(Op::Sync {
            path: self.path.clone(),
            ino: self.inner.ino(),
            full: true,
        });
        Ok(())
    }
}

impl Storage for Recorder {
    type File = RecordedFile;
    type Lock = MemLock;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<RecordedFile> {
        let before = self.mem.ino(path);
        let old_len = before.and_then(|i| self.mem.len_of(i));
        let inner = self.mem.open(path, mode)?;
        let ino = inner.ino();
        if before.is_none() {
            self.push(Op::Create {
                path: path.to_path_buf(),
                ino,
            });
        } else if mode == OpenMode::Truncate && old_len.unwrap_or(0) > 0 {
            self.push(Op::SetLen {
                path: path.to_path_buf(),
                ino,
                len: 0,
            });
        }
        Ok(RecordedFile {
            inner,
            path: path.to_path_buf(),
            trace: self.trace.clone(),
        })
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        self.mem.kind(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let ino = self.mem.ino(from);
        self.mem.rename(from, to)?;
        if let Some(ino) = ino {
            self.push(Op::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                ino,
            });
        }
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let ino = self.mem.ino(path);
        self.mem.remove_file(path)?;
        if let Some(ino) = ino {
            self.push(Op::Remove {
                path: path.to_path_buf(),
                ino,
            });
        }
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.mem.sync_dir(dir)?;
        self.push(Op::SyncDir {
            dir: dir.to_path_buf(),
        });
        Ok(())
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<MemLock>> {
        let before = self.mem.ino(path);
        let lock = self.mem.try_lock(path)?;
        if before.is_none() {
            if let Some(ino) = self.mem.ino(path) {
                self.push(Op::Create {
                    path: path.to_path_buf(),
                    ino,
                });
            }
        }
        Ok(lock)
    }
}
