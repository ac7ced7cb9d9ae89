//! A [`Storage`] wrapper that records every operation and can fail one on purpose.
//!
//! The conformance suite uses it to check the commit protocol's order of effects (S2, S11) on a
//! real filesystem, and to cut a run short at a chosen operation, which is how a crash inside the
//! protocol or inside recovery is reproduced (S3, S4, S7). It forwards everything else untouched.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::storage::{OpenMode, PathKind, Storage, StorageFile};

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A file was opened.
    Open(PathBuf, OpenMode),
    /// Bytes were written.
    Write {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// A length was set.
    SetLen(PathBuf, u64),
    /// fdatasync.
    SyncData(PathBuf),
    /// fsync of a file.
    SyncAll(PathBuf),
    /// rename(from, to).
    Rename(PathBuf, PathBuf),
    /// unlink.
    Remove(PathBuf),
    /// fsync of a directory.
    SyncDir(PathBuf),
}

impl Op {
    /// Whether the operation changes or persists anything (opens for reading do not).
    pub fn is_effect(&self) -> bool {
        !matches!(self, Op::Open(_, OpenMode::Read))
    }
}

#[derive(Debug, Default)]
struct Shared {
    ops: Vec<Op>,
    effects: usize,
    fail_at: Option<usize>,
}

/// Records operations on an inner storage; optionally fails the n-th effect (0-based) and every
/// one after it, as if the machine had stopped there.
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
    shared: Arc<Mutex<Shared>>,
}

impl<S: Storage> Traced<S> {
    /// Records everything, fails nothing.
    pub fn new(inner: S) -> Self {
        Traced {
            inner,
            shared: Arc::default(),
        }
    }

    /// Fails the effect with this index and all after it with an I/O error.
    pub fn failing_at(inner: S, effect: usize) -> Self {
        let t = Traced::new(inner);
        t.shared.lock().unwrap().fail_at = Some(effect);
        t
    }

    /// The operations so far.
    pub fn ops(&self) -> Vec<Op> {
        self.shared.lock().unwrap().ops.clone()
    }

    fn record(&self, op: Op) -> io::Result<()> {
        record(&self.shared, op)
    }
}

fn record(shared: &Mutex<Shared>, op: Op) -> io::Result<()> {
    let mut s = shared.lock().unwrap();
    if op.is_effect() {
        let i = s.effects;
        s.effects += 1;
        if s.fail_at.is_some_and(|f| i >= f) {
            return Err(io::Error::other(format!(
                "injected failure at effect {i}: {op:?}"
            )));
        }
    }
    s.ops.push(op);
    Ok(())
}

/// A file opened through [`Traced`].
#[derive(Debug)]
pub struct TracedFile<F> {
    inner: F,
    path: PathBuf,
    shared: Arc<Mutex<Shared>>,
}

impl<F: StorageFile> StorageFile for TracedFile<F> {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        record(
            &self.shared,
            Op::Write {
                path: self.path.clone(),
                offset,
                len: buf.len(),
            },
        )?;
        self.inner.write_all_at(buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        record(&self.shared, Op::SetLen(self.path.clone(), len))?;
        self.inner.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        record(&self.shared, Op::SyncData(self.path.clone()))?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        record(&self.shared, Op::SyncAll(self.path.clone()))?;
        self.inner.sync_all()
    }
}

impl<S: Storage> Storage for Traced<S> {
    type File = TracedFile<S::File>;
    type Lock = S::Lock;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File> {
        self.record(Op::Open(path.to_path_buf(), mode))?;
        Ok(TracedFile {
            inner: self.inner.open(path, mode)?,
            path: path.to_path_buf(),
            shared: self.shared.clone(),
        })
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        self.inner.kind(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.record(Op::Rename(from.to_path_buf(), to.to_path_buf()))?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.record(Op::Remove(path.to_path_buf()))?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.record(Op::SyncDir(dir.to_path_buf()))?;
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Self::Lock>> {
        self.inner.try_lock(path)
    }
}
