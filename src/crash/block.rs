//! Block faults: what a disk that lies does to the log, as fates of the persistence model.
//!
//! A power cut loses only what had not been made durable; a faulty disk also damages what had.
//! Three such faults are modelled (`docs/crash-model.md`, "Block faults"), each the fate of one
//! write: the last write to the log (`wal.log`) issued before the crash point, whether it was
//! still pending or already synced (a disk that lies about a write lies to the fsync too):
//! - misdirected (`M-1`, `M+1`): the sectors the write covered landed one sector before or one
//!   after their place, within the file; their own place kept what it held (the file's length
//!   is the filesystem's and stays);
//! - stale (`S`, a synced write only): the write's first sector reverted to what it held before
//!   the write, although the fdatasync that covered it completed;
//! - duplicated (`D`): the bytes of the previous write to the file, when it ended where this one
//!   starts (the frames appended just before, whole, with valid checksums), landed in this
//!   write's place.
//!
//! They are corruption, not crash outcomes, so the checks differ
//! ([`super::check::check_damaged_state`]: recovery may refuse the log). A state has at most one:
//! the faults of the one target times the fates of the other pending operations, counted apart
//! from the power cut's states so that those keep their indices and state strings.

use std::rc::Rc;

use wal::mem::Ino;

use super::fate::{Fate, Pending};

/// The write block faults may strike, as it was issued.
#[derive(Debug, Clone)]
pub struct BlockTarget {
    /// Its index in the trace.
    pub op: usize,
    pub ino: Ino,
    pub offset: u64,
    pub len: u64,
    /// The file's bytes over the write's range before it (shorter when the write extended the
    /// file: the rest did not exist and reads as zeros).
    pub before: Vec<u8>,
    /// The file's length right after the write.
    pub len_after: u64,
    pub sector: u64,
    /// The previous write to the file, when it ended exactly where this one starts.
    pub previous: Option<Rc<Vec<u8>>>,
}

/// The block-fault target of one crash point.
#[derive(Debug, Clone)]
pub struct Block {
    pub target: Rc<BlockTarget>,
    /// The target's position among the pending operations, when it was still pending.
    pub slot: Option<usize>,
    /// The faults it can have here, in index order.
    pub faults: Vec<Fate>,
}

impl Block {
    /// The target at a crash point with these pending operations (`None` if no fault applies).
    pub fn at(target: &Rc<BlockTarget>, pending: &[Pending]) -> Option<Block> {
        let slot = pending.iter().position(|p| p.op == target.op);
        let t = target;
        let mut faults = Vec::new();
        let (a, _) = t.sectors();
        if a >= t.sector {
            faults.push(Fate::Misdirected(-1));
        }
        if a + t.sector < t.len_after {
            faults.push(Fate::Misdirected(1));
        }
        if slot.is_none() {
            faults.push(Fate::Stale);
        }
        if t.previous.is_some() {
            faults.push(Fate::Duplicated);
        }
        (!faults.is_empty()).then(|| Block {
            target: target.clone(),
            slot,
            faults,
        })
    }
}

impl BlockTarget {
    /// The whole sectors the write covered, within the file: [start, end).
    fn sectors(&self) -> (u64, u64) {
        let s = self.sector;
        let end = self.offset + self.len;
        (
            self.offset / s * s,
            end.div_ceil(s).saturating_mul(s).min(self.len_after),
        )
    }

    /// The write's first sector: [offset, the next sector boundary or the write's end).
    fn first_sector(&self) -> (u64, u64) {
        let next = (self.offset / self.sector + 1) * self.sector;
        (self.offset, next.min(self.offset + self.len))
    }

    /// Puts the bytes the write replaced back over [from, to) (zeros where the file was shorter).
    fn revert(&self, bytes: &mut [u8], from: u64, to: u64) {
        for i in from..to.min(bytes.len() as u64) {
            let k = (i - self.offset) as usize;
            bytes[i as usize] = self.before.get(k).copied().unwrap_or(0);
        }
    }

    /// Applies `fault` to the file's bytes as the power cut left them (with the write landed).
    pub fn strike(&self, bytes: &mut Vec<u8>, fault: Fate) {
        let end = self.offset + self.len;
        match fault {
            Fate::Misdirected(d) => {
                let (a, b) = self.sectors();
                let b = b.min(bytes.len() as u64);
                if a >= b {
                    return;
                }
                let moved = bytes[a as usize..b as usize].to_vec();
                self.revert(bytes, self.offset, end);
                let to = (a as i64 + i64::from(d) * self.sector as i64) as usize;
                for (k, byte) in moved.into_iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(to + k) {
                        *slot = byte;
                    }
                }
            }
            Fate::Stale => {
                let (a, b) = self.first_sector();
                self.revert(bytes, a, b);
            }
            Fate::Duplicated => {
                let Some(p) = &self.previous else { return };
                self.revert(bytes, self.offset, end);
                let at = self.offset as usize;
                if bytes.len() < at + p.len() {
                    bytes.resize(at + p.len(), 0);
                }
                bytes[at..at + p.len()].copy_from_slice(p);
            }
            _ => {}
        }
    }

    /// What `fault` did, in a sentence for a reproducer: which bytes went where.
    pub fn describe(&self, fault: Fate) -> String {
        let code = fault.code(0);
        let s = self.sector;
        match fault {
            Fate::Misdirected(d) => {
                let (a, b) = self.sectors();
                let (ta, tb) = (
                    (a as i64 + i64::from(d) * s as i64) as u64,
                    (b as i64 + i64::from(d) * s as i64) as u64,
                );
                format!(
                    "misdirected ({code}): its sectors, bytes {a}..{b}, landed at {ta}..{tb} \
                     (clipped to the file), one sector {}; bytes {}..{} kept what they held",
                    if d < 0 { "before" } else { "after" },
                    self.offset,
                    self.offset + self.len
                )
            }
            Fate::Stale => {
                let (a, b) = self.first_sector();
                format!(
                    "stale ({code}): bytes {a}..{b}, its first sector, reverted to what they \
                     held before the write, although it was synced"
                )
            }
            Fate::Duplicated => format!(
                "duplicated ({code}): the {} bytes of the previous write to the file, which \
                 ended where this one starts (the frames appended just before it, checksums \
                 intact, or the file header), landed in its place; the rest of its range kept \
                 what it held",
                self.previous.as_ref().map_or(0, |p| p.len())
            ),
            other => other.word().into(),
        }
    }
}
