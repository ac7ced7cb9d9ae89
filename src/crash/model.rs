//! The persistence model: which directory contents a power cut may leave, given a recorded trace.
//!
//! `docs/crash-model.md` argues each rule from what ext4 and xfs do; in short, at a crash after
//! the first k operations of the trace:
//! - a file's data and length as of its last completed fdatasync/fsync are durable;
//! - every later write to it (a *pending* write) may have been persisted, lost, or torn at
//!   sector boundaries (each sector-aligned piece persisted or not); a lost or torn write that
//!   extended the file may have extended it anyway, the missing bytes reading back as zeros;
//! - every later set_len may have happened or not;
//! - names (create, rename, unlink) are durable after a completed fsync of their directory;
//!   each later one may have reached the disk or not;
//! - nothing after operation k reached the disk.
//!
//! A crash state is a crash point plus one [`Fate`] per pending operation. The fates form a
//! mixed-radix number, so every state of a crash point has an index: exhaustive exploration
//! counts through them, sampling draws them, and a reproducer names one by its fates.
//!
//! Beyond what a power cut may do, a disk may lie: [`super::block`] adds misdirected, stale and
//! duplicated writes to the log as a second, separately counted family of states (corruption,
//! which recovery may refuse), at most one such fate per state.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};

use wal::mem::Ino;
use wal::record::{Mark, Op, Trace};

use super::block::{Block, BlockTarget};
use super::fate::{apply, pieces};
pub use super::fate::{Fate, Pending};

/// Everything durable at one crash point, and what is still pending.
#[derive(Debug, Clone)]
pub struct Frontier {
    /// How many operations completed before the power cut.
    pub crash_point: usize,
    names: BTreeMap<PathBuf, Ino>,
    data: HashMap<Ino, Rc<Vec<u8>>>,
    /// Pending operations, in trace order.
    pub pending: Vec<Pending>,
    /// The highest acknowledged seq (every seq up to it was acknowledged).
    pub acked: u64,
    /// The highest seq an append had been called for.
    pub issued: u64,
    /// The write block faults may strike here, when block faults are modelled.
    pub block: Option<Block>,
}

impl Frontier {
    /// Number of crash states: the product of the pending operations' options (saturating).
    pub fn states(&self, trace: &Trace) -> u128 {
        self.pending
            .iter()
            .fold(1u128, |acc, p| acc.saturating_mul(p.options(trace)))
    }

    /// The fates of state number `index` (mixed radix, first pending operation least significant).
    pub fn fates(&self, trace: &Trace, mut index: u128) -> Vec<Fate> {
        self.pending
            .iter()
            .map(|p| {
                let n = p.options(trace);
                let f = p.fate(index % n);
                index /= n;
                f
            })
            .collect()
    }

    /// The directory contents the power cut leaves for these fates: path -> bytes.
    pub fn image(&self, trace: &Trace, fates: &[Fate]) -> BTreeMap<PathBuf, Vec<u8>> {
        let fault = self.block_fault(fates);
        let mut names = self.names.clone();
        for (p, f) in self.pending.iter().zip(fates) {
            if f.as_crash() != Fate::Persisted {
                continue;
            }
            match &trace.ops[p.op] {
                Op::Create { path, ino } => {
                    names.insert(path.clone(), *ino);
                }
                Op::Rename { from, to, ino } => {
                    if names.get(from) == Some(ino) {
                        names.remove(from);
                    }
                    names.insert(to.clone(), *ino);
                }
                Op::Remove { path, ino } if names.get(path) == Some(ino) => {
                    names.remove(path);
                }
                _ => {}
            }
        }
        names
            .into_iter()
            .map(|(path, ino)| {
                let mut bytes: Vec<u8> =
                    self.data.get(&ino).map(|d| d.to_vec()).unwrap_or_default();
                for (p, f) in self.pending.iter().zip(fates) {
                    apply(&mut bytes, ino, &trace.ops[p.op], p, f.as_crash());
                }
                if let Some((t, f)) = fault.filter(|(t, _)| t.ino == ino) {
                    t.strike(&mut bytes, f);
                }
                (path, bytes)
            })
            .collect()
    }

    /// The latest payload issued for each seq up to this crash point.
    pub fn issued_payloads(&self, trace: &Trace) -> BTreeMap<u64, Vec<u8>> {
        let mut out = BTreeMap::new();
        for (at, m) in &trace.marks {
            if *at > self.crash_point {
                break;
            }
            if let Mark::Issued(entries) = m {
                for (s, p) in entries {
                    out.insert(*s, p.clone());
                }
            }
        }
        out
    }

    /// Renders fates as a state string: `<crash point>:<fate>,<fate>,…` (`7:` when none pending).
    /// A block fault on a write that was already synced is one more fate after the pending ones.
    pub fn state_string(&self, fates: &[Fate]) -> String {
        let mut codes: Vec<String> = self
            .pending
            .iter()
            .zip(fates)
            .map(|(p, f)| f.code(p.pieces.len()))
            .collect();
        if let Some(f) = fates.get(self.pending.len()) {
            codes.push(f.code(0));
        }
        format!("{}:{}", self.crash_point, codes.join(","))
    }

    /// Parses the fates part of a state string for this frontier's pending operations.
    pub fn parse_fates(&self, trace: &Trace, codes: &str) -> Result<Vec<Fate>> {
        let codes: Vec<&str> = if codes.is_empty() {
            Vec::new()
        } else {
            codes.split(',').collect()
        };
        let synced_target = self.block.as_ref().filter(|b| b.slot.is_none());
        let extra = usize::from(synced_target.is_some());
        if codes.len() != self.pending.len() && codes.len() != self.pending.len() + extra {
            bail!(
                "crash point {} has {} pending operations, the state names {} fates{}",
                self.crash_point,
                self.pending.len(),
                codes.len(),
                if extra == 1 {
                    " (one more names a block fault of the last, synced, write to the log)"
                } else {
                    ""
                }
            );
        }
        let mut fates = self
            .pending
            .iter()
            .zip(&codes)
            .enumerate()
            .map(|(i, (p, c))| {
                if let Some(f) = Fate::block_fault(c) {
                    return self.parse_block_fault(trace, Some(i), f, c);
                }
                let c = *c;
                let f = match c {
                    "P" => Fate::Persisted,
                    "L" => Fate::Lost,
                    "Z" => Fate::Zeroed,
                    t if t.starts_with('T') && t.len() == p.pieces.len() + 1 => {
                        let mut m = 0u64;
                        for (i, ch) in t[1..].chars().enumerate() {
                            match ch {
                                '1' => m |= 1 << i,
                                '0' => {}
                                _ => bail!(
                                    "{c:?} is not a fate (P, L, Z or T followed by 0/1 per piece)"
                                ),
                            }
                        }
                        Fate::Torn(m)
                    }
                    _ => bail!(
                        "{c:?} is not a fate for operation {} ({})",
                        p.op,
                        trace.ops[p.op].describe()
                    ),
                };
                p.index_of(f, trace).with_context(|| {
                    format!(
                        "operation {} ({}) cannot be {c}",
                        p.op,
                        trace.ops[p.op].describe()
                    )
                })?;
                Ok(f)
            })
            .collect::<Result<Vec<Fate>>>()?;
        if let Some(c) = codes.get(self.pending.len()) {
            let f = Fate::block_fault(c).with_context(|| {
                format!(
                    "{c:?} is not a block fault (M-1, M+1, S or D) of the last write to the log"
                )
            })?;
            fates.push(self.parse_block_fault(trace, None, f, c)?);
        }
        Ok(fates)
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Frontier {
    /// The block fault of a state, if it has one, and the write it struck.
    pub fn block_fault(&self, fates: &[Fate]) -> Option<(&BlockTarget, Fate)> {
        let b = self.block.as_ref()?;
        let f = match b.slot {
            Some(i) => fates.get(i).copied(),
            None => fates.get(self.pending.len()).copied(),
        }?;
        f.is_block_fault().then_some((&*b.target, f))
    }

    /// Number of states with a block fault: the target's faults times the other pending
    /// operations' fates (saturating).
    pub fn fault_states(&self, trace: &Trace) -> u128 {
        let Some(b) = &self.block else { return 0 };
        self.pending
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != b.slot)
            .fold(b.faults.len() as u128, |acc, (_, p)| {
                acc.saturating_mul(p.options(trace))
            })
    }

    /// The fates of block-fault state number `index` (< [`Frontier::fault_states`]): the fault
    /// is the least significant digit, then the other pending operations in order. The fault
    /// sits in the target's slot, or after the pending operations when the target was synced.
    pub fn fault_fates(&self, trace: &Trace, mut index: u128) -> Vec<Fate> {
        let b = self
            .block
            .as_ref()
            .expect("fault_fates is only asked of a crash point with block-fault states");
        let n = b.faults.len() as u128;
        let fault = b.faults[(index % n) as usize];
        index /= n;
        let mut fates: Vec<Fate> = self
            .pending
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if Some(i) == b.slot {
                    return fault;
                }
                let n = p.options(trace);
                let f = p.fate(index % n);
                index /= n;
                f
            })
            .collect();
        if b.slot.is_none() {
            fates.push(fault);
        }
        fates
    }

    /// Checks that the block fault `f` (written `code`) can strike here: at pending position
    /// `slot`, or (`None`) the synced target.
    pub(super) fn parse_block_fault(
        &self,
        trace: &Trace,
        slot: Option<usize>,
        f: Fate,
        code: &str,
    ) -> Result<Fate> {
        let Some(b) = &self.block else {
            bail!(
                "{code} is a block fault and crash point {} has none (block faults strike the \
                 last write to the log, and only with block faults on)",
                self.crash_point
            )
        };
        if b.slot != slot {
            bail!(
                "{code} is a block fault: only operation {} ({}), the last write to the log, can \
                 have one here",
                b.target.op,
                trace.ops[b.target.op].describe()
            );
        }
        if !b.faults.contains(&f) {
            let can: Vec<String> = b.faults.iter().map(|f| f.code(0)).collect();
            bail!(
                "operation {} ({}) cannot be {code} here; its block faults are {}",
                b.target.op,
                trace.ops[b.target.op].describe(),
                can.join(", ")
            );
        }
        Ok(f)
    }

    /// Each operation a state gives a fate, for a reproducer: (operation, what it is, its fate).
    pub fn choices(&self, trace: &Trace, fates: &[Fate]) -> Vec<(usize, String, String)> {
        let mut out: Vec<(usize, String, String)> = self
            .pending
            .iter()
            .zip(fates)
            .map(|(p, f)| {
                let fate = match &self.block {
                    Some(b) if f.is_block_fault() => b.target.describe(*f),
                    _ => format!("{} ({})", f.word(), f.code(p.pieces.len())),
                };
                (p.op, trace.ops[p.op].describe(), fate)
            })
            .collect();
        if let (Some(b), Some(f)) = (&self.block, fates.get(self.pending.len())) {
            out.push((
                b.target.op,
                format!("{} (synced)", trace.ops[b.target.op].describe()),
                b.target.describe(*f),
            ));
        }
        out
    }
}

/// The frontier at every crash point 0..=ops.len() of a trace. `initial` is what was durable
/// before the first operation: (path, inode, bytes). `faulty`: the file whose writes block
/// faults may strike (the log), or `None` for a power cut alone.
pub fn frontiers(
    trace: &Trace,
    initial: &[(PathBuf, Ino, Vec<u8>)],
    sector: u64,
    faulty: Option<&Path>,
) -> Vec<Frontier> {
    let mut m = Replay::new(initial, sector, faulty);
    let mut marks = trace.marks.iter().peekable();
    let mut out = Vec::with_capacity(trace.ops.len() + 1);
    for k in 0..=trace.ops.len() {
        while let Some((_, mark)) = marks.next_if(|(at, _)| *at <= k) {
            m.mark(mark);
        }
        out.push(m.frontier(k));
        let Some(op) = trace.ops.get(k) else { break };
        m.apply(k, op);
    }
    out
}

/// The trace replayed under the model's rules, one operation at a time: what a read sees now
/// (`names`, `live`), what a power cut keeps for sure (`durable_names`, `durable`), and what is
/// still pending.
struct Replay<'a> {
    sector: u64,
    /// The file block faults strike, when they are modelled.
    faulty: Option<&'a Path>,
    names: BTreeMap<PathBuf, Ino>,
    live: HashMap<Ino, Vec<u8>>,
    durable: HashMap<Ino, Rc<Vec<u8>>>,
    durable_names: BTreeMap<PathBuf, Ino>,
    /// Pending data operations per inode.
    data_pending: HashMap<Ino, Vec<Pending>>,
    /// Pending name operations, with the directories that still have to be synced for each.
    name_pending: Vec<(Pending, Vec<PathBuf>)>,
    acked: u64,
    issued: u64,
    /// The last write to the faulty file, and the end and bytes of the one before it.
    target: Option<Rc<BlockTarget>>,
    last_write: Option<(Ino, u64, Rc<Vec<u8>>)>,
}

impl<'a> Replay<'a> {
    fn new(initial: &[(PathBuf, Ino, Vec<u8>)], sector: u64, faulty: Option<&'a Path>) -> Self {
        let mut names = BTreeMap::new();
        let mut live = HashMap::new();
        let mut durable = HashMap::new();
        for (p, i, b) in initial {
            names.insert(p.clone(), *i);
            live.insert(*i, b.clone());
            durable.insert(*i, Rc::new(b.clone()));
        }
        Replay {
            sector,
            faulty,
            durable_names: names.clone(),
            names,
            live,
            durable,
            data_pending: HashMap::new(),
            name_pending: Vec::new(),
            acked: 0,
            issued: 0,
            target: None,
            last_write: None,
        }
    }

    fn mark(&mut self, m: &Mark) {
        match m {
            Mark::Acked(s) => self.acked = self.acked.max(*s),
            Mark::Issued(e) => self.issued = e.iter().map(|(s, _)| *s).fold(self.issued, u64::max),
        }
    }

    /// What a power cut after the first `k` operations may leave.
    fn frontier(&self, k: usize) -> Frontier {
        let mut pending: Vec<Pending> = self
            .data_pending
            .values()
            .flatten()
            .cloned()
            .chain(self.name_pending.iter().map(|(p, _)| p.clone()))
            .collect();
        pending.sort_by_key(|p| p.op);
        let block = self.target.as_ref().and_then(|t| Block::at(t, &pending));
        Frontier {
            crash_point: k,
            names: self.durable_names.clone(),
            data: self.durable.clone(),
            pending,
            acked: self.acked,
            issued: self.issued,
            block,
        }
    }

    /// Operation `k` completes.
    fn apply(&mut self, k: usize, op: &Op) {
        let simple = |op| Pending {
            op,
            extends: false,
            pieces: Vec::new(),
        };
        match op {
            Op::Create { path, ino } => {
                self.names.insert(path.clone(), *ino);
                self.live.insert(*ino, Vec::new());
                self.name_pending.push((simple(k), vec![parent(path)]));
            }
            Op::Write {
                ino,
                offset,
                bytes,
                path,
            } => self.write(k, *ino, *offset, bytes, path),
            Op::SetLen { ino, len, .. } => {
                self.live.entry(*ino).or_default().resize(*len as usize, 0);
                // A truncation rewrites what the last write left: no block fault reaches back.
                if self.target.as_ref().is_some_and(|t| t.ino == *ino) {
                    self.target = None;
                    self.last_write = None;
                }
                self.data_pending.entry(*ino).or_default().push(simple(k));
            }
            Op::Sync { ino, .. } => {
                let now = self.live.get(ino).cloned().unwrap_or_default();
                self.durable.insert(*ino, Rc::new(now));
                self.data_pending.remove(ino);
            }
            Op::Rename { from, to, ino } => {
                self.names.remove(from);
                self.names.insert(to.clone(), *ino);
                let mut dirs = vec![parent(from)];
                if parent(to) != dirs[0] {
                    dirs.push(parent(to));
                }
                self.name_pending.push((simple(k), dirs));
            }
            Op::Remove { path, .. } => {
                self.names.remove(path);
                self.name_pending.push((simple(k), vec![parent(path)]));
            }
            Op::SyncDir { dir } => self.sync_dir(dir),
        }
    }

    /// Write `k` of `bytes` at `offset` of `ino` (named `path`): pending until a sync, and the
    /// block faults' target when `path` is the faulty file.
    fn write(&mut self, k: usize, ino: Ino, offset: u64, bytes: &[u8], path: &Path) {
        let f = self.live.entry(ino).or_default();
        let end = offset as usize + bytes.len();
        let extends = end > f.len();
        let before = f
            .get(offset as usize..end.min(f.len()))
            .unwrap_or_default()
            .to_vec();
        if f.len() < end {
            f.resize(end, 0);
        }
        f[offset as usize..end].copy_from_slice(bytes);
        let len_after = f.len() as u64;
        if self.faulty == Some(path) {
            let previous = self
                .last_write
                .take()
                .filter(|(i, e, _)| *i == ino && *e == offset)
                .map(|(_, _, b)| b);
            self.target = Some(Rc::new(BlockTarget {
                op: k,
                ino,
                offset,
                len: bytes.len() as u64,
                before,
                len_after,
                sector: self.sector,
                previous,
            }));
            self.last_write = Some((ino, end as u64, Rc::new(bytes.to_vec())));
        }
        self.data_pending.entry(ino).or_default().push(Pending {
            op: k,
            extends,
            pieces: pieces(offset, bytes.len() as u64, self.sector),
        });
    }

    /// A directory's fsync completes: its names as they are now become durable.
    fn sync_dir(&mut self, dir: &Path) {
        self.durable_names.retain(|p, _| parent(p) != *dir);
        for (p, i) in &self.names {
            if parent(p) == *dir {
                self.durable_names.insert(p.clone(), *i);
            }
        }
        for (_, dirs) in self.name_pending.iter_mut() {
            dirs.retain(|d| d != dir);
        }
        self.name_pending.retain(|(_, dirs)| !dirs.is_empty());
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
