//! What a power cut can do to one pending operation: its [`Fate`], how many fates it can have
//! (mixed-radix digits of a crash state's index), and what a fate does to a file's bytes.
//!
//! The persistence model ([`super::model`]) decides which operations are pending at a crash
//! point; this module only knows one operation at a time. A write tears at sector boundaries
//! ([`pieces`]); block faults ([`super::block`]) are fates too, but no power cut gives them: a
//! write they strike first lands ([`Fate::as_crash`]), then the fault rewrites its bytes.

use wal::mem::Ino;
use wal::record::{Op, Trace};

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
    pub(super) fn as_crash(self) -> Fate {
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
    pub(super) fn index_of(&self, f: Fate, trace: &Trace) -> Option<u128> {
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

/// What fate `f` of pending operation `p` (`op`) does to the bytes of file `ino`.
pub(super) fn apply(bytes: &mut Vec<u8>, ino: Ino, op: &Op, p: &Pending, f: Fate) {
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
pub(super) fn pieces(offset: u64, len: u64, sector: u64) -> Vec<(u64, u64)> {
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
