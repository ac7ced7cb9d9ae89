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

/// Torn writes are split into at most this many pieces (larger writes tear in coarser pieces).
const MAX_PIECES: u64 = 64;

/// What became of one pending operation at the crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// It reached the disk.
    Persisted,
    /// It did not (a write that extended the file leaves the old length).
    Lost,
    /// A write that extended the file: the new length reached the disk, its bytes did not (zeros).
    Zeroed,
    /// A write of several sector pieces: those whose bit is set reached the disk; the length is
    /// the write's end, missing bytes past the old end read as zeros.
    Torn(u64),
    /// Block fault: the sectors the write covered landed this many sectors away (-1 or +1);
    /// its own range kept what it held.
    Misdirected(i8),
    /// Block fault on a synced write: its first sector reverted to its content before the write.
    Stale,
    /// Block fault: the previous write's bytes (the frames appended just before) landed in the
    /// write's place.
    Duplicated,
}

impl Fate {
    /// `P`, `L`, `Z`, or `T` and one digit per piece (`1` persisted), first piece first.
    pub fn code(self, pieces: usize) -> String {
        match self {
            Fate::Persisted => "P".into(),
            Fate::Lost => "L".into(),
            Fate::Zeroed => "Z".into(),
            Fate::Torn(m) => {
                let bits: String = (0..pieces)
                    .map(|i| if m >> i & 1 == 1 { '1' } else { '0' })
                    .collect();
                format!("T{bits}")
            }
            Fate::Misdirected(d) => format!("M{d:+}"),
            Fate::Stale => "S".into(),
            Fate::Duplicated => "D".into(),
        }
    }

    /// The block fault a code names (`M-1`, `M+1`, `S`, `D`).
    pub fn block_fault(code: &str) -> Option<Fate> {
        match code {
            "M-1" => Some(Fate::Misdirected(-1)),
            "M+1" => Some(Fate::Misdirected(1)),
            "S" => Some(Fate::Stale),
            "D" => Some(Fate::Duplicated),
            _ => None,
        }
    }

    /// Whether it is a block fault (corruption) rather than a power cut's outcome.
    pub fn is_block_fault(self) -> bool {
        matches!(self, Fate::Misdirected(_) | Fate::Stale | Fate::Duplicated)
    }

    /// What a power cut alone did to the operation: a block fault strikes a write that landed.
    fn as_crash(self) -> Fate {
        if self.is_block_fault() {
            Fate::Persisted
        } else {
            self
        }
    }

    /// The word for a report.
    pub fn word(self) -> &'static str {
        match self {
            Fate::Persisted => "persisted",
            Fate::Lost => "lost",
            Fate::Zeroed => "lost, length extended with zeros",
            Fate::Torn(_) => "torn",
            Fate::Misdirected(-1) => "misdirected one sector before",
            Fate::Misdirected(_) => "misdirected one sector after",
            Fate::Stale => "stale (its first sector reverted)",
            Fate::Duplicated => "replaced by a duplicate of the previous write",
        }
    }
}

/// An operation that had not been made durable at the crash point.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its index in the trace.
    pub op: usize,
    /// For a write: whether it extended the file when it was issued.
    pub extends: bool,
    /// For a write: its sector pieces (file offsets, end exclusive).
    pub pieces: Vec<(u64, u64)>,
}

impl Pending {
    /// How many fates it can have.
    pub fn options(&self, trace: &Trace) -> u128 {
        match &trace.ops[self.op] {
            Op::Write { .. } => {
                let torn = if self.pieces.len() >= 2 {
                    (1u128 << self.pieces.len()) - 2
                } else {
                    0
                };
                2 + u128::from(self.extends) + torn
            }
            _ => 2,
        }
    }

    /// The fate with this option index (< [`Pending::options`]).
    pub fn fate(&self, i: u128) -> Fate {
        match i {
            0 => Fate::Persisted,
            1 => Fate::Lost,
            2 if self.extends => Fate::Zeroed,
            _ => Fate::Torn((i - 1 - u128::from(self.extends)) as u64),
        }
    }

    /// The option index of a fate, if it is one this operation can have.
    fn index_of(&self, f: Fate, trace: &Trace) -> Option<u128> {
        let i = match f {
            Fate::Persisted => 0,
            Fate::Lost => 1,
            Fate::Zeroed if self.extends => 2,
            Fate::Zeroed => return None,
            Fate::Torn(m) => u128::from(m) + 1 + u128::from(self.extends),
            _ => return None,
        };
        (i < self.options(trace) && self.fate(i) == f).then_some(i)
    }
}

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

fn apply(bytes: &mut Vec<u8>, ino: Ino, op: &Op, p: &Pending, f: Fate) {
    match op {
        Op::Write {
            ino: i,
            offset,
            bytes: w,
            ..
        } if *i == ino => {
            let end = (*offset as usize) + w.len();
            let put = |bytes: &mut Vec<u8>, from: u64, to: u64| {
                let (a, b) = (from as usize, to as usize);
                if bytes.len() < b {
                    bytes.resize(b, 0);
                }
                let src = (from - offset) as usize;
                bytes[a..b].copy_from_slice(&w[src..src + (b - a)]);
            };
            // Callers pass a block fault as the write landing (`as_crash`); it strikes after.
            match f.as_crash() {
                Fate::Persisted => put(bytes, *offset, end as u64),
                Fate::Lost => {}
                Fate::Zeroed => {
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                }
                Fate::Torn(m) => {
                    for (k, &(a, b)) in p.pieces.iter().enumerate() {
                        if m >> k & 1 == 1 {
                            put(bytes, a, b);
                        }
                    }
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                }
                Fate::Misdirected(_) | Fate::Stale | Fate::Duplicated => {}
            }
        }
        Op::SetLen { ino: i, len, .. } if *i == ino && f == Fate::Persisted => {
            bytes.resize(*len as usize, 0);
        }
        _ => {}
    }
}

/// Sector pieces of a write: split at multiples of `sector`, merged into at most 64 pieces.
fn pieces(offset: u64, len: u64, sector: u64) -> Vec<(u64, u64)> {
    if len == 0 {
        return Vec::new();
    }
    let end = offset + len;
    let first = offset / sector;
    let last = (end - 1) / sector;
    let count = last - first + 1;
    let per = count.div_ceil(MAX_PIECES) * sector;
    let mut out = Vec::new();
    let mut a = offset;
    while a < end {
        let b = ((a / per) + 1) * per;
        out.push((a, b.min(end)));
        a = b.min(end);
    }
    out
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
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
    let mut names: BTreeMap<PathBuf, Ino> = BTreeMap::new();
    let mut live: HashMap<Ino, Vec<u8>> = HashMap::new();
    let mut durable: HashMap<Ino, Rc<Vec<u8>>> = HashMap::new();
    for (p, i, b) in initial {
        names.insert(p.clone(), *i);
        live.insert(*i, b.clone());
        durable.insert(*i, Rc::new(b.clone()));
    }
    let mut durable_names = names.clone();
    // Pending data operations per inode, pending name operations (with the directories that
    // still have to be synced for each).
    let mut data_pending: HashMap<Ino, Vec<Pending>> = HashMap::new();
    let mut name_pending: Vec<(Pending, Vec<PathBuf>)> = Vec::new();
    let (mut acked, mut issued) = (0u64, 0u64);
    // The last write to the faulty file, and the end and bytes of the one before it.
    let mut target: Option<Rc<BlockTarget>> = None;
    let mut last_write: Option<(Ino, u64, Rc<Vec<u8>>)> = None;
    let mut marks = trace.marks.iter().peekable();
    let mut out = Vec::with_capacity(trace.ops.len() + 1);
    for k in 0..=trace.ops.len() {
        while let Some((_, m)) = marks.next_if(|(at, _)| *at <= k) {
            match m {
                Mark::Acked(s) => acked = acked.max(*s),
                Mark::Issued(e) => issued = e.iter().map(|(s, _)| *s).fold(issued, u64::max),
            }
        }
        let mut pending: Vec<Pending> = data_pending
            .values()
            .flatten()
            .cloned()
            .chain(name_pending.iter().map(|(p, _)| p.clone()))
            .collect();
        pending.sort_by_key(|p| p.op);
        let block = target.as_ref().and_then(|t| Block::at(t, &pending));
        out.push(Frontier {
            crash_point: k,
            names: durable_names.clone(),
            data: durable.clone(),
            pending,
            acked,
            issued,
            block,
        });
        let Some(op) = trace.ops.get(k) else { break };
        let simple = |op| Pending {
            op,
            extends: false,
            pieces: Vec::new(),
        };
        match op {
            Op::Create { path, ino } => {
                names.insert(path.clone(), *ino);
                live.insert(*ino, Vec::new());
                name_pending.push((simple(k), vec![parent(path)]));
            }
            Op::Write {
                ino,
                offset,
                bytes,
                path,
            } => {
                let f = live.entry(*ino).or_default();
                let end = *offset as usize + bytes.len();
                let extends = end > f.len();
                let before = f
                    .get(*offset as usize..end.min(f.len()))
                    .unwrap_or_default()
                    .to_vec();
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[*offset as usize..end].copy_from_slice(bytes);
                if faulty == Some(path.as_path()) {
                    let previous = last_write
                        .take()
                        .filter(|(i, e, _)| i == ino && *e == *offset)
                        .map(|(_, _, b)| b);
                    let written = Rc::new(bytes.clone());
                    target = Some(Rc::new(BlockTarget {
                        op: k,
                        ino: *ino,
                        offset: *offset,
                        len: bytes.len() as u64,
                        before,
                        len_after: f.len() as u64,
                        sector,
                        previous,
                    }));
                    last_write = Some((*ino, end as u64, written));
                }
                data_pending.entry(*ino).or_default().push(Pending {
                    op: k,
                    extends,
                    pieces: pieces(*offset, bytes.len() as u64, sector),
                });
            }
            Op::SetLen { ino, len, .. } => {
                live.entry(*ino).or_default().resize(*len as usize, 0);
                // A truncation rewrites what the last write left: no block fault reaches back.
                if target.as_ref().is_some_and(|t| t.ino == *ino) {
                    target = None;
                    last_write = None;
                }
                data_pending.entry(*ino).or_default().push(simple(k));
            }
            Op::Sync { ino, .. } => {
                durable.insert(*ino, Rc::new(live.get(ino).cloned().unwrap_or_default()));
                data_pending.remove(ino);
            }
            Op::Rename { from, to, ino } => {
                names.remove(from);
                names.insert(to.clone(), *ino);
                let mut dirs = vec![parent(from)];
                if parent(to) != dirs[0] {
                    dirs.push(parent(to));
                }
                name_pending.push((simple(k), dirs));
            }
            Op::Remove { path, .. } => {
                names.remove(path);
                name_pending.push((simple(k), vec![parent(path)]));
            }
            Op::SyncDir { dir } => {
                durable_names.retain(|p, _| parent(p) != *dir);
                for (p, i) in &names {
                    if parent(p) == *dir {
                        durable_names.insert(p.clone(), *i);
                    }
                }
                for (_, dirs) in name_pending.iter_mut() {
                    dirs.retain(|d| d != dir);
                }
                name_pending.retain(|(_, dirs)| !dirs.is_empty());
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
