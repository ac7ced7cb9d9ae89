//! A storage that fails: a short write, EIO, ENOSPC or a failed sync, once, at a seeded point.
//!
//! A crash stops the machine; a fault does not. The disk fills up, a write comes back short, an
//! fsync reports EIO, and the writer keeps running and must decide what it has promised. These
//! are the faults that lose data in production (PostgreSQL's 2018 "fsyncgate": after a failed
//! fsync the kernel may have dropped the dirty pages, and the next fsync succeeds without them),
//! and no crash test produces them. [`Faulty`] wraps any [`Storage`] and injects exactly one
//! fault, chosen by a [`FaultPlan`]: a countdown over the calls of one class (writes, or syncs),
//! seeded like redb's fuzzer, so a failing plan is replayed by its seed. After the fault the
//! storage is healthy again, as Linux is after it has reported a writeback error once: a retried
//! fsync succeeds, which is why the WAL must never retry one and call it success.
//!
//! The seam's contract is "write all of it, or fail", so a short write is what a correct
//! `write_all_at` loop makes of the kernel's short count followed by a failure: a prefix of the
//! buffer lands, then the call fails with ENOSPC. Every call that reaches the inner storage is
//! counted, so a test can show that a poisoned writer made no call after the fault.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::storage::{OpenMode, PathKind, Storage, StorageFile};

/// errno values, as Linux numbers them (the WAL runs on Linux only).
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// Which fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The write lands in part (a seeded prefix), then fails with ENOSPC.
    ShortWrite,
    /// The write fails with EIO; nothing of it lands.
    WriteEio,
    /// The write fails with ENOSPC; nothing of it lands.
    WriteEnospc,
    /// An fdatasync, fsync or directory fsync fails with EIO (the data may or may not be on
    /// the disk; later syncs succeed).
    SyncEio,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::ShortWrite,
        FaultKind::WriteEio,
        FaultKind::WriteEnospc,
        FaultKind::SyncEio,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ShortWrite => "short-write",
            FaultKind::WriteEio => "write-eio",
            FaultKind::WriteEnospc => "write-enospc",
            FaultKind::SyncEio => "sync-eio",
        }
    }

    fn hits_syncs(self) -> bool {
        self == FaultKind::SyncEio
    }
}

/// When and how the one fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// The fault.
    pub kind: FaultKind,
    /// It strikes the call with this index (0-based) among the calls of its class: writes for
    /// the write faults, syncs (file and directory) for [`FaultKind::SyncEio`].
    pub at: u64,
    /// For a short write: which prefix lands, as a fraction of the buffer in 1/65536ths.
    pub prefix: u16,
}

impl FaultPlan {
    /// A plan drawn from `seed`: any kind, striking one of the first `within` calls of its class.
    pub fn seeded(seed: u64, within: u64) -> FaultPlan {
        let mut x = seed;
        let a = splitmix64(&mut x);
        let b = splitmix64(&mut x);
        FaultPlan {
            kind: FaultKind::ALL[(a % FaultKind::ALL.len() as u64) as usize],
            at: b % within.max(1),
            prefix: (a >> 32) as u16,
        }
    }

    /// The plan as a short phrase ("short-write at write #3").
    pub fn describe(&self) -> String {
        let class = if self.kind.hits_syncs() {
            "sync"
        } else {
            "write"
        };
        format!("{} at {class} #{}", self.kind.name(), self.at)
    }
}

/// One step of SplitMix64: a tiny, well-mixed generator, enough to spread seeds over plans.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What happened so far, shared by the storage, its clones and its files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FaultLog {
    /// Writes seen (the faulted one included).
    pub writes: u64,
    /// Syncs seen (file and directory, the faulted one included).
    pub syncs: u64,
    /// Calls with an effect that reached the inner storage (writes, set_len, syncs, renames,
    /// removes, creating opens), counting the landed prefix of a short write.
    pub effects: u64,
    /// The fault, once injected: what it struck.
    pub injected: Option<String>,
    /// Effects that reached the inner storage after the fault.
    pub effects_after: u64,
}

#[derive(Debug)]
struct Shared {
    plan: Option<FaultPlan>,
    log: FaultLog,
}

/// A storage that injects one planned fault into an inner storage. Clones share the plan and the
/// log.
#[derive(Debug, Clone)]
pub struct Faulty<S> {
    inner: S,
    shared: Arc<Mutex<Shared>>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What to do with a write or sync.
enum Verdict {
    Pass,
    /// Fail with this errno after letting this many bytes of a write land.
    Fail(i32, usize),
}

impl<S: Storage> Faulty<S> {
    /// Wraps `inner`; the fault strikes as `plan` says.
    pub fn new(inner: S, plan: FaultPlan) -> Self {
        Faulty {
            inner,
            shared: Arc::new(Mutex::new(Shared {
                plan: Some(plan),
                log: FaultLog::default(),
            })),
        }
    }

    /// What happened so far.
    pub fn log(&self) -> FaultLog {
        lock(&self.shared).log.clone()
    }

    /// The storage underneath, healthy.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// Counts one call with an effect.
fn effect(shared: &Mutex<Shared>) {
    let mut s = lock(shared);
    s.log.effects += 1;
    if s.log.injected.is_some() {
        s.log.effects_after += 1;
    }
}

/// Decides the fate of a write of `len` bytes (`Some`) or of a sync (`None`).
fn judge(shared: &Mutex<Shared>, write_len: Option<usize>, what: &str) -> Verdict {
    let mut s = lock(shared);
    let index = match write_len {
        Some(_) => {
            s.log.writes += 1;
            s.log.writes - 1
        }
        None => {
            s.log.syncs += 1;
            s.log.syncs - 1
        }
    };
    let Some(plan) = s.plan else {
        return Verdict::Pass;
    };
    if plan.kind.hits_syncs() != write_len.is_none() || plan.at != index {
        return Verdict::Pass;
    }
    s.plan = None;
    s.log.injected = Some(format!("{} ({what})", plan.describe()));
    match (plan.kind, write_len) {
        (FaultKind::ShortWrite, Some(n)) if n > 1 => {
            // A proper prefix: at least one byte, at least one missing.
            let landed = 1 + (n - 1) * usize::from(plan.prefix) / 65536;
            Verdict::Fail(ENOSPC, landed.min(n - 1))
        }
        (FaultKind::ShortWrite | FaultKind::WriteEnospc, _) => Verdict::Fail(ENOSPC, 0),
        (FaultKind::WriteEio | FaultKind::SyncEio, _) => Verdict::Fail(EIO, 0),
    }
}

/// A file opened through a [`Faulty`] storage.
#[derive(Debug)]
pub struct FaultyFile<F> {
    inner: F,
    what: String,
    shared: Arc<Mutex<Shared>>,
}

impl<F: StorageFile> FaultyFile<F> {
    fn sync(&mut self, verb: &str, run: impl FnOnce(&mut F) -> io::Result<()>) -> io::Result<()> {
        match judge(&self.shared, None, &format!("{verb} {}", self.what)) {
            Verdict::Pass => {
                effect(&self.shared);
                run(&mut self.inner)
            }
            Verdict::Fail(errno, _) => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl<F: StorageFile> StorageFile for FaultyFile<F> {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let what = format!("write of {} bytes at {offset} of {}", buf.len(), self.what);
        match judge(&self.shared, Some(buf.len()), &what) {
            Verdict::Pass => {
                effect(&self.shared);
                self.inner.write_all_at(buf, offset)
            }
            Verdict::Fail(errno, landed) => {
                if landed > 0 {
                    effect(&self.shared);
                    self.inner.write_all_at(&buf[..landed], offset)?;
                }
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        effect(&self.shared);
        self.inner.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync("fdatasync", |f| f.sync_data())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync("fsync", |f| f.sync_all())
    }
}

impl<S: Storage> Storage for Faulty<S> {
    type File = FaultyFile<S::File>;
    type Lock = S::Lock;

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File> {
        if mode != OpenMode::Read {
            effect(&self.shared);
        }
        Ok(FaultyFile {
            inner: self.inner.open(path, mode)?,
            what: path.display().to_string(),
            shared: self.shared.clone(),
        })
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        self.inner.kind(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        effect(&self.shared);
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        effect(&self.shared);
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match judge(&self.shared, None, &format!("fsync {}", dir.display())) {
            Verdict::Pass => {
                effect(&self.shared);
                self.inner.sync_dir(dir)
            }
            Verdict::Fail(errno, _) => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Self::Lock>> {
        self.inner.try_lock(path)
    }
}

#[cfg(test)]
#[path = "faulty_tests.rs"]
mod tests;
