//! The seam between the WAL and the filesystem.
//!
//! Every filesystem effect of the WAL (open or create, positional read and write, set length,
//! fdatasync, fsync, rename, remove, directory fsync, the writer's lock) goes through [`Storage`].
//! [`StdStorage`] is the real thing. Putting the effects behind one small trait is what lets a
//! recording, fault-injecting implementation stand in for the disk and simulate power loss at
//! every point of the commit protocol, without the WAL knowing.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; created empty if absent.
    ReadWrite,
    /// Read and write, created if absent, truncated to zero length.
    Truncate,
}

/// One open file.
#[allow(clippy::len_without_is_empty)] // a file's length is an I/O query, not a container size
pub trait StorageFile {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Sets the length, truncating or extending with zeros.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// fdatasync: the file's data (and the metadata needed to read it) is durable.
    fn sync_data(&mut self) -> io::Result<()>;
    /// fsync: data and all metadata are durable.
    fn sync_all(&mut self) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing there.
    Missing,
    /// A regular file (or anything that is not a directory).
    File,
    /// A directory.
    Dir,
}

/// The filesystem, as the WAL sees it.
pub trait Storage {
    /// An open file.
    type File: StorageFile;
    /// A held writer's lock; dropping it releases the lock.
    type Lock;

    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File>;
    /// What `path` is.
    fn kind(&self, path: &Path) -> io::Result<PathKind>;
    /// Renames `from` over `to`, atomically replacing it.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory, making the names in it (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive writer's lock on `path` (creating the file), or returns `Ok(None)` when
    /// another open file description (this process or another) holds it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Self::Lock>>;
}

/// The real filesystem, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdStorage;

impl StorageFile for File {
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

impl Storage for StdStorage {
    type File = File;
    type Lock = File;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true).create(true),
            OpenMode::Truncate => o.read(true).write(true).create(true).truncate(true),
        };
        o.open(path)
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(PathKind::Dir),
            Ok(_) => Ok(PathKind::File),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(PathKind::Missing),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<File>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
