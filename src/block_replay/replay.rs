//! Which disk states a power cut during a recorded log could leave, and how to build one.
//!
//! Why: a flush is the only promise a disk makes. After flush `k` completed, every write
//! logged before it is on the medium; the writes logged after it, up to the next flush (its
//! *epoch*), may each have reached the medium or not, in any combination. So the states are:
//! for every flush point `k` the *prefix* state (every write before flush `k`, none after),
//! and within epoch `k` subsets of its writes (exhaustively while an epoch has few writes, a
//! seeded sample beyond). The full subset of an epoch is the next flush point's prefix and is
//! not counted twice; after the last flush, the full subset is a state of its own.
//!
//! A FUA write is treated as a write followed by a flush: that forbids some reorderings a disk
//! could do within its epoch (fewer states), but it never invents a state a disk could not
//! leave. QEMU does not log FUA writes. Writes tear at no finer grain than a logged request;
//! tearing a request at sector granularity is not done yet.
//!
//! The same code runs on the host (to count and to rebuild a state for inspection) and in the
//! guest (to build each state before checking it), so both agree on what state `12/0,2` is.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::FileExt;

use anyhow::{Context, Result};
use rand::Rng;

use super::logwrites::{Entry, Log, ReadAt};
use crate::crash::seeded;

/// The salt of the subset sampling's random streams ("subs").
const SUBSETS: u64 = 0x7375_6273;

/// The writes of a log, grouped between flushes.
#[derive(Debug, Clone)]
pub struct Epochs {
    /// `epochs[k]`: indexes (into the log's entries) of the disk-changing entries after flush
    /// `k` and before flush `k + 1`. There is one more epoch than there are flushes.
    pub epochs: Vec<Vec<usize>>,
}

impl Epochs {
    pub fn of(log: &Log) -> Epochs {
        let mut epochs = vec![Vec::new()];
        for (i, e) in log.entries.iter().enumerate() {
            if e.is_flush() {
                // A flush with data (REQ_PREFLUSH on a write) flushes what came before it.
                epochs.push(Vec::new());
            }
            if e.changes_disk() {
                epochs.last_mut().expect("one epoch at least").push(i);
                if e.is_fua() {
                    epochs.push(Vec::new());
                }
            }
        }
        Epochs { epochs }
    }

    /// The number of flush points (the pristine state is flush point 0).
    pub fn flush_points(&self) -> usize {
        self.epochs.len()
    }
}

/// One disk state: every write of epochs `0..flush`, plus the writes at these positions of
/// epoch `flush`, plus, torn, some sectors of one more write of that epoch. Written `12` (a
/// prefix), `12/0,2` (and two of its epoch's writes) or `12~3:0,5` (and sectors 0 and 5 of the
/// write at position 3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateSpec {
    pub flush: usize,
    pub subset: Vec<u32>,
    pub tear: Option<Tear>,
}

/// A write that reached the medium only in part: its position in the epoch and the sectors
/// (counted from its first) that did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tear {
    pub pos: u32,
    pub sectors: Vec<u32>,
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

impl fmt::Display for StateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.flush)?;
        if !self.subset.is_empty() {
            write!(f, "/{}", join(&self.subset))?;
        }
        if let Some(t) = &self.tear {
            write!(f, "~{}:{}", t.pos, join(&t.sectors))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for StateSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<StateSpec, String> {
        let bad = || {
            format!(
                "'{s}' is not a state: give a flush point (12), one and a subset (12/0,2), and \
                 maybe a torn write (12~3:0,5)"
            )
        };
        let list = |x: &str| -> Result<Vec<u32>, String> {
            let mut v: Vec<u32> = x
                .split(',')
                .map(|n| n.parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            v.sort_unstable();
            v.dedup();
            Ok(v)
        };
        let (body, tear) = match s.split_once('~') {
            Some((head, t)) => {
                let (pos, sectors) = t.split_once(':').ok_or_else(bad)?;
                let tear = Tear {
                    pos: pos.parse().map_err(|_| bad())?,
                    sectors: list(sectors)?,
                };
                (head, Some(tear))
            }
            None => (s, None),
        };
        let (k, sub) = match body.split_once('/') {
            Some((k, sub)) => (k, Some(sub)),
            None => (body, None),
        };
        let flush = k.parse().map_err(|_| bad())?;
        let subset = match sub {
            Some(sub) => list(sub)?,
            None => Vec::new(),
        };
        Ok(StateSpec {
            flush,
            subset,
            tear,
        })
    }
}

/// The states to check, in order, and how they were chosen.
#[derive(Debug, Clone)]
pub struct Plan {
    pub states: Vec<StateSpec>,
    /// Whether every subset of every epoch was generated (no sampling).
    pub exhaustive: bool,
}

/// Every flush point's prefix, and within each epoch its proper non-empty subsets while there
/// are at most `bound` of them, else `bound` of them drawn from the seed (epoch by epoch, each
/// from its own stream); then, with `tears` > 0, up to that many torn writes per epoch: the
/// prefix plus a seeded proper subset of the sectors of one multi-sector write of the epoch.
pub fn plan(log: &Log, ep: &Epochs, seed: u64, bound: u32, tears: u32) -> Plan {
    let mut p = plan_subsets(ep, seed, bound);
    if tears > 0 {
        for (k, writes) in ep.epochs.iter().enumerate() {
            p.states.extend(plan_tears(log, k, writes, seed, tears));
        }
        p.exhaustive = false;
    }
    p
}

/// The salt of the torn writes' random streams ("tear").
const TEARS: u64 = 0x7465_6172;

fn plan_tears(log: &Log, k: usize, writes: &[usize], seed: u64, tears: u32) -> Vec<StateSpec> {
    let tearable: Vec<u32> = (0..writes.len() as u32)
        .filter(|&p| {
            let e = &log.entries[writes[p as usize]];
            !e.is_discard() && e.nr_sectors >= 2
        })
        .collect();
    if tearable.is_empty() {
        return Vec::new();
    }
    let mut rng = seeded::stream(seed, TEARS, k as u64);
    let mut seen = BTreeSet::new();
    let mut tries = 0;
    while seen.len() < tears as usize && tries < tears * 16 {
        tries += 1;
        let pos = tearable[rng.random_range(0..tearable.len())];
        let n = log.entries[writes[pos as usize]].nr_sectors.min(64) as u32;
        let sectors: Vec<u32> = (0..n).filter(|_| rng.random_bool(0.5)).collect();
        if sectors.is_empty() || sectors.len() as u32 == n {
            continue;
        }
        seen.insert(Tear { pos, sectors });
    }
    seen.into_iter()
        .map(|t| StateSpec {
            flush: k,
            subset: Vec::new(),
            tear: Some(t),
        })
        .collect()
}

fn plan_subsets(ep: &Epochs, seed: u64, bound: u32) -> Plan {
    let mut states = Vec::new();
    let mut exhaustive = true;
    let last = ep.epochs.len() - 1;
    for (k, writes) in ep.epochs.iter().enumerate() {
        states.push(StateSpec {
            flush: k,
            subset: Vec::new(),
            tear: None,
        });
        let n = writes.len();
        if n == 0 {
            continue;
        }
        // The full subset is flush point k+1's prefix, except after the last flush.
        let full_is_own = k == last;
        let proper: u128 = if n >= 127 {
            u128::MAX
        } else {
            (1u128 << n) - if full_is_own { 1 } else { 2 }
        };
        if proper == 0 {
            continue;
        }
        if proper <= u128::from(bound) {
            for mask in 1..=proper {
                states.push(StateSpec {
                    flush: k,
                    subset: (0..n as u32).filter(|i| mask >> i & 1 == 1).collect(),
                    tear: None,
                });
            }
            continue;
        }
        exhaustive = false;
        let mut rng = seeded::stream(seed, SUBSETS, k as u64);
        let mut seen = BTreeSet::new();
        let mut tries = 0;
        while seen.len() < bound as usize && tries < bound * 16 {
            tries += 1;
            let s: Vec<u32> = (0..n as u32).filter(|_| rng.random_bool(0.5)).collect();
            if s.is_empty() || (s.len() == n && !full_is_own) {
                continue;
            }
            seen.insert(s);
        }
        states.extend(seen.into_iter().map(|subset| StateSpec {
            flush: k,
            subset,
            tear: None,
        }));
    }
    Plan { states, exhaustive }
}

/// The entries a state applies, in log order (a torn write as one-sector pieces of it); an
/// error for a state the log does not have.
pub fn entries_of(log: &Log, ep: &Epochs, s: &StateSpec) -> Result<Vec<Entry>> {
    anyhow::ensure!(
        s.flush < ep.epochs.len(),
        "state {s}: the log has flush points 0 to {} only",
        ep.epochs.len() - 1
    );
    let mut out: Vec<Entry> = ep.epochs[..s.flush]
        .iter()
        .flatten()
        .map(|&i| log.entries[i])
        .collect();
    let epoch = &ep.epochs[s.flush];
    let at = |i: u32| {
        epoch.get(i as usize).copied().with_context(|| {
            format!(
                "state {s}: epoch {} has {} writes (positions 0 to {})",
                s.flush,
                epoch.len(),
                epoch.len().saturating_sub(1)
            )
        })
    };
    let mut extra: Vec<(usize, Option<&[u32]>)> = Vec::new();
    for &i in &s.subset {
        extra.push((at(i)?, None));
    }
    if let Some(t) = &s.tear {
        anyhow::ensure!(
            !s.subset.contains(&t.pos),
            "state {s}: write {} is both whole and torn",
            t.pos
        );
        extra.push((at(t.pos)?, Some(&t.sectors)));
    }
    // In log order, so that a later write over the same sectors wins as it did on the disk.
    extra.sort_by_key(|x| x.0);
    let ss = u64::from(log.sector_size);
    for (idx, sectors) in extra {
        let e = log.entries[idx];
        match sectors {
            None => out.push(e),
            Some(sectors) => {
                anyhow::ensure!(
                    !e.is_discard(),
                    "state {s}: write {idx} is a discard and does not tear"
                );
                for &x in sectors {
                    anyhow::ensure!(
                        u64::from(x) < e.nr_sectors,
                        "state {s}: the torn write has {} sectors, not {}",
                        e.nr_sectors,
                        x + 1
                    );
                    out.push(Entry {
                        sector: e.sector + u64::from(x),
                        nr_sectors: 1,
                        data_offset: e.data_offset + u64::from(x) * ss,
                        ..e
                    });
                }
            }
        }
    }
    Ok(out)
}

/// What a state's disk holds beyond the pristine image, as a hash: which logged sector of data
/// (or a discard) last wrote each disk sector. Two specs with the same key build the same
/// image, so it is checked once.
pub fn content_key(log: &Log, entries: &[Entry]) -> u64 {
    let ss = u64::from(log.sector_size);
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for e in entries {
        for s in 0..e.nr_sectors {
            let v = if e.is_discard() {
                u64::MAX
            } else {
                e.data_offset + s * ss
            };
            last.insert(e.sector + s, v);
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    log.sector_size.hash(&mut h);
    last.hash(&mut h);
    h.finish()
}

/// Distinct states of a plan, by content.
pub fn distinct(log: &Log, ep: &Epochs, plan: &Plan) -> Result<usize> {
    let mut seen = HashSet::new();
    for s in &plan.states {
        seen.insert(content_key(log, &entries_of(log, ep, s)?));
    }
    Ok(seen.len())
}

/// Applies entries of `log` (read from `src`) to the image file `img`: writes their data, zeroes
/// what they discard.
pub fn apply<R: ReadAt + ?Sized>(log: &Log, src: &R, entries: &[Entry], img: &File) -> Result<()> {
    for e in entries {
        let at = log.disk_offset(e);
        if e.is_discard() {
            let len = e.nr_sectors * u64::from(log.sector_size);
            zero(img, at, len).with_context(|| format!("discarding {len} bytes at {at}"))?;
        } else {
            let data = log.data(src, e)?;
            img.write_all_at(&data, at)
                .with_context(|| format!("writing entry {} at byte {at}", e.index))?;
        }
    }
    Ok(())
}

fn zero(img: &File, at: u64, len: u64) -> std::io::Result<()> {
    let chunk = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        img.write_all_at(&chunk[..n], at + done)?;
        done += n as u64;
    }
    Ok(())
}

/// Builds one state as a new sparse image file: the pristine image (itself a log of its
/// non-zero blocks), then the state's writes.
pub fn build_image(
    pristine: &(impl ReadAt + ?Sized),
    record: &(impl ReadAt + ?Sized),
    spec: &StateSpec,
    disk_bytes: u64,
    out: &std::path::Path,
) -> Result<()> {
    let p = Log::parse(pristine).context("the pristine image's log")?;
    let r = Log::parse(record).context("the recorded log")?;
    let ep = Epochs::of(&r);
    let img = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
    img.set_len(disk_bytes)?;
    let all: Vec<Entry> = p
        .entries
        .iter()
        .filter(|e| e.changes_disk())
        .copied()
        .collect();
    apply(&p, pristine, &all, &img)?;
    apply(&r, record, &entries_of(&r, &ep, spec)?, &img)?;
    img.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::logwrites::LogWriter;
    use super::*;

    fn log_of(f: impl FnOnce(&mut LogWriter)) -> (Vec<u8>, Log) {
        let mut w = LogWriter::new(512);
        f(&mut w);
        let b = w.finish();
        let l = Log::parse(b.as_slice()).unwrap();
        (b, l)
    }

    #[test]
    fn writes_are_grouped_between_flushes() {
        let (_, log) = log_of(|w| {
            w.write(1, &[1; 512]);
            w.flush();
            w.write(2, &[2; 512]);
            w.write(3, &[3; 512]);
            w.flush();
        });
        let ep = Epochs::of(&log);
        assert_eq!(ep.epochs, vec![vec![0], vec![2, 3], vec![]]);
    }

    #[test]
    fn small_epochs_are_explored_exhaustively_without_repeating_a_prefix() {
        let (_, log) = log_of(|w| {
            w.write(1, &[1; 512]);
            w.flush();
            w.write(2, &[2; 512]);
            w.write(3, &[3; 512]);
            w.flush();
            w.write(4, &[4; 512]);
        });
        let p = plan(&log, &Epochs::of(&log), 1, 16, 0);
        let names: Vec<String> = p.states.iter().map(|s| s.to_string()).collect();
        // Epoch 0: one write, its full subset is flush point 1. Epoch 1: {0}, {1}. Epoch 2 is
        // after the last flush: its full subset is a state of its own.
        assert_eq!(names, ["0", "1", "1/0", "1/1", "2", "2/0"]);
        assert!(p.exhaustive);
    }

    #[test]
    fn large_epochs_are_sampled_from_the_seed_within_the_bound() {
        let (_, log) = log_of(|w| {
            for i in 0..20 {
                w.write(i, &[1; 512]);
            }
            w.flush();
        });
        let ep = Epochs::of(&log);
        let a = plan(&log, &ep, 7, 5, 0);
        let b = plan(&log, &ep, 7, 5, 0);
        let c = plan(&log, &ep, 8, 5, 0);
        assert!(!a.exhaustive);
        assert_eq!(a.states.len(), 2 + 5);
        assert_eq!(a.states, b.states);
        assert_ne!(a.states, c.states);
    }

    #[test]
    fn a_state_spec_reads_back_as_written() {
        for s in ["0", "12", "12/0,2", "3/7", "12~3:0,5", "12/0,2~3:1"] {
            assert_eq!(s.parse::<StateSpec>().unwrap().to_string(), s);
        }
        assert!("x/1".parse::<StateSpec>().is_err());
        assert!("1/".parse::<StateSpec>().is_err());
        assert!("1~2".parse::<StateSpec>().is_err());
    }

    #[test]
    fn a_state_holds_its_prefix_and_its_subset_and_nothing_else() {
        let (b, log) = log_of(|w| {
            w.write(0, &[1; 512]);
            w.flush();
            w.write(1, &[2; 512]);
            w.discard(0, 1);
            w.write(2, &[3; 512]);
        });
        let ep = Epochs::of(&log);
        let dir = tempfile::tempdir().unwrap();
        let pristine = LogWriter::new(512).finish();
        let spec: StateSpec = "1/1,2".parse().unwrap();
        let out = dir.path().join("s.img");
        build_image(pristine.as_slice(), b.as_slice(), &spec, 4096, &out).unwrap();
        let img = std::fs::read(&out).unwrap();
        assert_eq!(img.len(), 4096);
        assert!(
            img[..512].iter().all(|&x| x == 0),
            "discarded after the flush"
        );
        assert!(
            img[512..1024].iter().all(|&x| x == 0),
            "write 1/0 not in the subset"
        );
        assert!(img[1024..1536].iter().all(|&x| x == 3));
        assert!("5"
            .parse::<StateSpec>()
            .map(|s| entries_of(&log, &ep, &s))
            .unwrap()
            .is_err());
        assert!("1/9"
            .parse::<StateSpec>()
            .map(|s| entries_of(&log, &ep, &s))
            .unwrap()
            .is_err());
    }

    #[test]
    fn states_that_leave_the_same_sectors_are_one_distinct_state() {
        let (_, log) = log_of(|w| {
            w.write(0, &[1; 512]);
            w.write(0, &[2; 512]);
            w.flush();
        });
        let ep = Epochs::of(&log);
        let key = |s: &str| content_key(&log, &entries_of(&log, &ep, &s.parse().unwrap()).unwrap());
        assert_eq!(key("1"), key("0/1"), "the second write hides the first");
        assert_ne!(key("0/0"), key("0/1"));
    }

    #[test]
    fn a_torn_write_leaves_only_its_chosen_sectors_and_later_writes_still_win() {
        let (b, log) = log_of(|w| {
            w.flush();
            w.write(0, &[7; 2048]);
            w.write(1, &[9; 512]);
            w.flush();
        });
        let ep = Epochs::of(&log);
        let dir = tempfile::tempdir().unwrap();
        let pristine = LogWriter::new(512).finish();
        let out = dir.path().join("t.img");
        let spec: StateSpec = "1/1~0:1,3".parse().unwrap();
        build_image(pristine.as_slice(), b.as_slice(), &spec, 4096, &out).unwrap();
        let img = std::fs::read(&out).unwrap();
        assert!(
            img[..512].iter().all(|&x| x == 0),
            "sector 0 of the torn write was lost"
        );
        assert!(
            img[512..1024].iter().all(|&x| x == 9),
            "the later whole write wins"
        );
        assert!(img[1024..1536].iter().all(|&x| x == 0), "sector 2 was lost");
        assert!(
            img[1536..2048].iter().all(|&x| x == 7),
            "sector 3 reached the disk"
        );
        let bad: StateSpec = "1/0~0:1".parse().unwrap();
        assert!(
            entries_of(&log, &ep, &bad).is_err(),
            "a write both whole and torn"
        );
        let far: StateSpec = "1~0:9".parse().unwrap();
        assert!(
            entries_of(&log, &ep, &far).is_err(),
            "a sector past the write's end"
        );
    }

    #[test]
    fn torn_writes_are_drawn_from_the_seed_and_only_from_multi_sector_writes() {
        let (_, log) = log_of(|w| {
            w.flush();
            w.write(0, &[1; 4096]);
            w.write(20, &[2; 512]);
            w.flush();
        });
        let ep = Epochs::of(&log);
        let a = plan(&log, &ep, 3, 4, 3);
        assert_eq!(a.states, plan(&log, &ep, 3, 4, 3).states);
        let torn: Vec<&StateSpec> = a.states.iter().filter(|s| s.tear.is_some()).collect();
        assert_eq!(torn.len(), 3);
        for s in &torn {
            let t = s.tear.as_ref().unwrap();
            assert_eq!((s.flush, t.pos), (1, 0), "{s}");
            assert!(!t.sectors.is_empty() && t.sectors.len() < 8, "{s}");
        }
        assert!(!a.exhaustive);
        assert_eq!(
            plan(&log, &ep, 3, 4, 0)
                .states
                .iter()
                .filter(|s| s.tear.is_some())
                .count(),
            0
        );
    }
}
