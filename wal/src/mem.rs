//! An in-memory filesystem behind the [`Storage`] seam.
//!
//! The crash explorer materializes thousands of crash states per second and runs recovery on
//! each; the fuzz targets feed recovery and the verifier arbitrary directory contents. Both need
//! a filesystem that is fast, deterministic and inspectable, with the semantics the WAL relies
//! on: names bound to inodes (so a rename moves an identity, and an open handle keeps writing to
//! the file it opened even after the name is replaced), read-only handles that cannot write,
//! zero-filled extension, and an advisory lock per inode. Durability is not modelled here: every
//! sync succeeds at once. What a power cut may lose is the crash model's business, which
//! records operations on top of this storage and builds the crash states from the record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::storage::{OpenMode, PathKind, Storage, StorageFile};

/// The identity of a file, stable across renames.
pub type Ino = u64;

#[derive(Debug, Default)]
struct Fs {
    dirs: BTreeSet<PathBuf>,
    names: BTreeMap<PathBuf, Ino>,
    data: HashMap<Ino, Vec<u8>>,
    next_ino: Ino,
    locked: HashSet<Ino>,
}

impl Fs {
    fn parent_is_dir(&self, path: &Path) -> bool {
        match path.parent() {
            None => false,
            Some(p) if p.as_os_str().is_empty() => true,
            Some(p) => self.dirs.contains(p),
        }
    }

    fn create(&mut self, path: &Path) -> io::Result<Ino> {
        if self.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", path.display()),
            ));
        }
        if !self.parent_is_dir(path) {
            return Err(not_found(path));
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.names.insert(path.to_path_buf(), ino);
        self.data.insert(ino, Vec::new());
        Ok(ino)
    }

    fn open_or_create(&mut self, path: &Path) -> io::Result<Ino> {
        match self.names.get(path) {
            Some(&ino) => Ok(ino),
            None => self.create(path),
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

/// An in-memory filesystem. Clones share the same files, as two handles on one disk do.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    fs: Arc<Mutex<Fs>>,
}

impl MemStorage {
    /// An empty filesystem without any directory.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    fn fs(&self) -> MutexGuard<'_, Fs> {
        self.fs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates `dir` and every missing ancestor.
    pub fn create_dir_all(&self, dir: &Path) {
        let mut fs = self.fs();
        for a in dir.ancestors() {
            if !a.as_os_str().is_empty() {
                fs.dirs.insert(a.to_path_buf());
            }
        }
    }

    /// Removes `dir`, every directory below it and every name in them (open handles keep their
    /// files, as on a real filesystem).
    pub fn remove_dir_all(&self, dir: &Path) {
        let mut fs = self.fs();
        fs.dirs.retain(|d| !d.starts_with(dir));
        fs.names.retain(|p, _| !p.starts_with(dir));
    }

    /// Creates or replaces the contents of a file; its directory must exist.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut fs = self.fs();
        let ino = fs.open_or_create(path)?;
        fs.data.insert(ino, bytes.to_vec());
        Ok(())
    }

    /// The contents of a file, or `None` when nothing (or a directory) is there.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let fs = self.fs();
        fs.names.get(path).and_then(|i| fs.data.get(i)).cloned()
    }

    /// Every named file and its contents.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let fs = self.fs();
        fs.names
            .iter()
            .map(|(p, i)| (p.clone(), fs.data.get(i).cloned().unwrap_or_default()))
            .collect()
    }

    /// The inode a name is bound to.
    pub fn ino(&self, path: &Path) -> Option<Ino> {
        self.fs().names.get(path).copied()
    }

    /// The current length of an inode, named or not.
    pub fn len_of(&self, ino: Ino) -> Option<u64> {
        self.fs().data.get(&ino).map(|d| d.len() as u64)
    }
}

/// A file opened in a [`MemStorage`].
#[derive(Debug)]
pub struct MemFile {
    fs: Arc<Mutex<Fs>>,
    ino: Ino,
    writable: bool,
}

impl MemFile {
    /// The inode this handle is open on.
    pub fn ino(&self) -> Ino {
        self.ino
    }

    fn fs(&self) -> MutexGuard<'_, Fs> {
        self.fs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the file was opened read-only",
            ))
        }
    }
}

impl StorageFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.fs().data.get(&self.ino).map_or(0, |d| d.len() as u64))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let fs = self.fs();
        let data = fs.data.get(&self.ino).map_or(&[][..], Vec::as_slice);
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let start = usize::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        let end = start
            .checked_add(buf.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        let ino = self.ino;
        let mut fs = self.fs();
        let data = fs.data.entry(ino).or_default();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length out of range"))?;
        let ino = self.ino;
        self.fs().data.entry(ino).or_default().resize(len, 0);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writer's lock on one inode of a [`MemStorage`]; released on drop.
#[derive(Debug)]
pub struct MemLock {
    fs: Arc<Mutex<Fs>>,
    ino: Ino,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.fs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .locked
            .remove(&self.ino);
    }
}

impl Storage for MemStorage {
    type File = MemFile;
    type Lock = MemLock;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<MemFile> {
        let mut fs = self.fs();
        let ino = match mode {
            OpenMode::Read => match fs.names.get(path) {
                Some(&ino) => ino,
                None if fs.dirs.contains(path) => {
                    return Err(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        format!("{} is a directory", path.display()),
                    ))
                }
                None => return Err(not_found(path)),
            },
            OpenMode::ReadWrite => fs.open_or_create(path)?,
            OpenMode::Truncate => {
                let ino = fs.open_or_create(path)?;
                fs.data.insert(ino, Vec::new());
                ino
            }
        };
        Ok(MemFile {
            fs: self.fs.clone(),
            ino,
            writable: mode != OpenMode::Read,
        })
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        let fs = self.fs();
        Ok(if fs.dirs.contains(path) {
            PathKind::Dir
        } else if fs.names.contains_key(path) {
            PathKind::File
        } else {
            PathKind::Missing
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        let ino = *fs.names.get(from).ok_or_else(|| not_found(from))?;
        if fs.dirs.contains(to) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", to.display()),
            ));
        }
        if !fs.parent_is_dir(to) {
            return Err(not_found(to));
        }
        fs.names.remove(from);
        fs.names.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.fs()
            .names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.fs().dirs.contains(dir) {
            Ok(())
        } else {
            Err(not_found(dir))
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<MemLock>> {
        let mut fs = self.fs();
        let ino = fs.open_or_create(path)?;
        if !fs.locked.insert(ino) {
            return Ok(None);
        }
        Ok(Some(MemLock {
            fs: self.fs.clone(),
            ino,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Seq, Wal};

    #[test]
    fn a_handle_keeps_its_inode_across_a_rename_over_its_name() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/d"));
        m.write_file(Path::new("/d/a"), b"old").unwrap();
        let mut f = m.open(Path::new("/d/a"), OpenMode::ReadWrite).unwrap();
        m.write_file(Path::new("/d/b"), b"new").unwrap();
        m.rename(Path::new("/d/b"), Path::new("/d/a")).unwrap();
        f.write_all_at(b"OLD", 0).unwrap();
        assert_eq!(m.read_file(Path::new("/d/a")).unwrap(), b"new");
        assert_eq!(m.kind(Path::new("/d/b")).unwrap(), PathKind::Missing);
    }

    #[test]
    fn read_only_handles_cannot_write_and_writes_extend_with_zeros() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/d"));
        let mut f = m.open(Path::new("/d/f"), OpenMode::ReadWrite).unwrap();
        f.write_all_at(b"x", 3).unwrap();
        assert_eq!(m.read_file(Path::new("/d/f")).unwrap(), b"\0\0\0x");
        let mut r = m.open(Path::new("/d/f"), OpenMode::Read).unwrap();
        assert!(r.write_all_at(b"y", 0).is_err());
        assert!(r.set_len(0).is_err());
        assert!(m.open(Path::new("/nodir/f"), OpenMode::ReadWrite).is_err());
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/w"));
        let a = m.try_lock(Path::new("/w/l")).unwrap();
        assert!(a.is_some());
        assert!(m.try_lock(Path::new("/w/l")).unwrap().is_none());
        drop(a);
        assert!(m.try_lock(Path::new("/w/l")).unwrap().is_some());
    }

    #[test]
    fn a_log_of_header_length_zeros_with_nothing_committed_is_started_again() {
        // A power cut after the new log's length reached the disk but before its header did.
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/wal"));
        m.write_file(Path::new("/wal/wal.log"), &[0u8; 8]).unwrap();
        let w = Wal::open_with(m.clone(), "/wal").unwrap();
        assert!(w.recovery().initialized_log);
        assert_eq!(
            m.read_file(Path::new("/wal/wal.log")).unwrap(),
            crate::format::file_header()
        );
        // With something committed, the same log is damage, not a crash window.
        m.write_file(Path::new("/wal/wal.log"), &[0u8; 8]).unwrap();
        m.write_file(Path::new("/wal/telemetry.safe_seq"), b"1\n")
            .unwrap();
        drop(w);
        assert!(Wal::open_with(m.clone(), "/wal").is_err());
    }

    #[test]
    fn the_wal_runs_on_memory_as_on_disk() {
        let m = MemStorage::new();
        m.create_dir_all(Path::new("/wal"));
        let mut w = Wal::open_with(m.clone(), "/wal").unwrap();
        w.append(br#"{"a":1}"#).unwrap();
        w.append(br#"{"a":2}"#).unwrap();
        assert!(matches!(
            Wal::open_with(m.clone(), "/wal"),
            Err(crate::Error::Locked { .. })
        ));
        drop(w);
        let w = Wal::open_with(m.clone(), "/wal").unwrap();
        assert_eq!(w.safe_seq(), Seq::new(2));
        assert_eq!(
            m.read_file(Path::new("/wal/telemetry.safe_seq")).unwrap(),
            b"2\n"
        );
    }
}
