//! What must hold after any crash: the checks run on every crash state and after every kill.
//!
//! Recovery must open the directory; every acknowledged entry must be there with exactly the
//! bytes appended (the acknowledged-durability oracle); nothing may appear that was never
//! appended; the on-disk safe_seq must equal the entries recovered (S1); the verifier must find
//! R1-R5 and JSON integrity intact; and the recovered WAL must still report damage to a
//! committed frame instead of accepting it (S6: one byte of one committed frame is flipped and
//! recovery must refuse it, leaving the log as it was). The checks go through the [`Storage`]
//! seam only, so the same code runs on a state materialized in memory or on the real disk.
//!
//! A state with a block fault (a misdirected, stale or duplicated write, [`super::block`]) is
//! corruption, not a crash outcome, and is held to [`check_damaged_state`] instead: recovery may
//! also refuse it, as damage (`Corrupt`, or `NotAWal` when the fault hit the file header),
//! provided it changed nothing in `wal.log`; if it opens the log, every check above applies.

use std::collections::BTreeMap;
use std::path::Path;

use wal::storage::{OpenMode, Storage, StorageFile};
use wal::{format, Paths, Seq, Wal};

/// A check that failed on a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which check: "recovery", "oracle", "S1", "R1-R5", "S6".
    pub check: &'static str,
    /// What was found, as a sentence.
    pub msg: String,
}

/// What a state may and must contain.
pub struct Expect<'a> {
    /// Every seq up to this one was acknowledged and must survive.
    pub acked: u64,
    /// No seq above this one was ever appended.
    pub issued: u64,
    /// Whether these are the bytes seq was appended with (by its latest append).
    pub appended: &'a dyn Fn(u64, &[u8]) -> bool,
}

/// The outcome of the checks on one state.
pub struct Checked {
    /// The verifier's report after recovery, when recovery succeeded.
    pub report: Option<wal::verify::Report>,
    /// The first failed check.
    pub finding: Option<Finding>,
    /// How many entries recovery kept.
    pub recovered: u64,
    /// Recovery refused a damaged state (only [`check_damaged_state`] allows that).
    pub refused: bool,
}

fn found(check: &'static str, msg: String) -> Checked {
    Checked {
        report: None,
        finding: Some(finding(check, msg)),
        recovered: 0,
        refused: false,
    }
}

/// The checks for a state a block fault damaged: recovery may refuse it as damage, leaving
/// `wal.log` byte for byte as it was; if it opens the WAL, everything [`check_state`] checks
/// must hold (every acknowledged entry with its bytes, R1-R5, S1, the S6 probe).
pub fn check_damaged_state<S: Storage + Clone>(
    storage: &S,
    dir: &Path,
    exp: &Expect,
    probe: Option<u64>,
) -> Checked {
    let paths = Paths::new(dir);
    let log = |s: &S| {
        s.open(&paths.log, OpenMode::Read)
            .and_then(|f| read_all(&f))
            .ok()
    };
    let before = log(storage);
    let refusal = match Wal::open_with(storage.clone(), dir) {
        Ok(w) => {
            drop(w);
            None
        }
        Err(e @ (wal::Error::Corrupt { .. } | wal::Error::NotAWal { .. })) => Some(e),
        Err(e) => {
            return found(
                "recovery",
                format!("recovery of a damaged log failed without reporting the damage: {e}"),
            )
        }
    };
    let Some(e) = refusal else {
        // Recovery ran once already; running it again inside the checks finds nothing to do.
        return check_state(storage, dir, exp, probe);
    };
    if log(storage) != before {
        return found(
            "recovery",
            format!("recovery refused the damaged log ({e}) but changed wal.log"),
        );
    }
    Checked {
        report: None,
        finding: None,
        recovered: 0,
        refused: true,
    }
}

/// Runs every check on the WAL directory `dir` of `storage`. `probe` picks which committed frame
/// the S6 probe damages (`None`: no S6 probe). The directory is changed (recovered, and damaged
/// by the probe): use a copy.
pub fn check_state<S: Storage + Clone>(
    storage: &S,
    dir: &Path,
    exp: &Expect,
    probe: Option<u64>,
) -> Checked {
    let entries = match recovered_entries(storage, dir) {
        Ok(e) => e,
        Err(f) => return found(f.check, f.msg),
    };
    let m = entries.len() as u64;
    let paths = Paths::new(dir);
    if let Err(f) = against_oracle(&entries, exp).and_then(|()| safe_seq_is(storage, &paths, m)) {
        return found(f.check, f.msg);
    }
    let report = match wal::verify::verify_with(storage, dir) {
        Ok(r) => r,
        Err(e) => {
            return found(
                "R1-R5",
                format!("the verifier could not read the recovered WAL: {e}"),
            )
        }
    };
    let finding = if let Some(first) = report.violations.first() {
        Some(Finding {
            check: "R1-R5",
            msg: format!(
                "the verifier found {} violation(s) after recovery, first {:?}: {}",
                report.violations.len(),
                first.code,
                first.msg
            ),
        })
    } else {
        match probe {
            Some(p) if m > 0 => s6_probe(storage, &paths, &entries, p),
            _ => None,
        }
    };
    Checked {
        report: Some(report),
        finding,
        recovered: m,
        refused: false,
    }
}

fn finding(check: &'static str, msg: String) -> Finding {
    Finding { check, msg }
}

/// Recovery opens `dir`, and the entries it kept read back.
fn recovered_entries<S: Storage + Clone>(
    storage: &S,
    dir: &Path,
) -> Result<Vec<wal::Entry>, Finding> {
    let wal = Wal::open_with(storage.clone(), dir)
        .map_err(|e| finding("recovery", format!("recovery failed: {e}")))?;
    let entries = wal.read_from(Seq::ZERO).collect::<Result<Vec<_>, _>>();
    entries.map_err(|e| {
        finding(
            "oracle",
            format!("reading the recovered entries failed: {e}"),
        )
    })
}

/// The acknowledged-durability oracle: the entries are 1..=m, each appended with exactly these
/// bytes, none past the last append, and every acknowledged one among them.
fn against_oracle(entries: &[wal::Entry], exp: &Expect) -> Result<(), Finding> {
    for (i, e) in entries.iter().enumerate() {
        let s = e.seq.get();
        if s != i as u64 + 1 {
            return Err(finding(
                "oracle",
                format!("entry {} read back has seq {s}", i + 1),
            ));
        }
        if s > exp.issued {
            return Err(finding(
                "oracle",
                format!(
                    "entry {s} was recovered but never appended (the last append was {})",
                    exp.issued
                ),
            ));
        }
        if !(exp.appended)(s, &e.payload) {
            return Err(finding(
                "oracle",
                format!("entry {s} does not hold the bytes it was appended with"),
            ));
        }
    }
    let m = entries.len() as u64;
    if m < exp.acked {
        return Err(finding(
            "oracle",
            format!(
                "acknowledged entry {} was lost: recovery kept {m} entries, {} had been acknowledged",
                m + 1,
                exp.acked
            ),
        ));
    }
    Ok(())
}

/// S1: the on-disk safe_seq after recovery is the number of entries kept.
fn safe_seq_is<S: Storage>(storage: &S, paths: &Paths, m: u64) -> Result<(), Finding> {
    match wal::read_safe_seq(storage, paths) {
        Ok(s) if s.get() == m => Ok(()),
        Ok(s) => Err(finding(
            "S1",
            format!("the on-disk safe_seq is {s} after recovery but {m} entries were kept"),
        )),
        Err(e) => Err(finding(
            "S1",
            format!("safe_seq cannot be read after recovery: {e}"),
        )),
    }
}

/// Flips one payload byte of committed entry `1 + probe % n`; recovery must refuse the log with
/// that seq and leave every byte as it was.
fn s6_probe<S: Storage + Clone>(
    storage: &S,
    paths: &Paths,
    entries: &[wal::Entry],
    probe: u64,
) -> Option<Finding> {
    let k = (probe % entries.len() as u64) as usize;
    let offset = format::FILE_HEADER_LEN
        + entries[..k]
            .iter()
            .map(|e| (format::FRAME_HEADER_LEN + e.payload.len()) as u64)
            .sum::<u64>()
        + format::FRAME_HEADER_LEN as u64
        + entries[k].payload.len() as u64 / 2;
    let seq = entries[k].seq;
    let damaged = (|| -> std::io::Result<Vec<u8>> {
        let mut f = storage.open(&paths.log, OpenMode::ReadWrite)?;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, offset)?;
        f.write_all_at(&[b[0] ^ 0x20], offset)?;
        read_all(&f)
    })();
    let before = match damaged {
        Ok(b) => b,
        Err(e) => {
            return Some(Finding {
                check: "S6",
                msg: format!("the S6 probe could not damage entry {seq}: {e}"),
            })
        }
    };
    let verdict = match Wal::open_with(storage.clone(), &paths.dir) {
        Err(wal::Error::Corrupt { seq: s, .. }) if s == seq => None,
        Err(e) => Some(format!(
            "with one byte of committed entry {seq} flipped, recovery failed for another reason: {e}"
        )),
        Ok(w) => Some(format!(
            "with one byte of committed entry {seq} flipped, recovery opened the WAL (safe_seq {}) \
             instead of reporting the damage",
            w.safe_seq()
        )),
    };
    if let Some(msg) = verdict {
        return Some(Finding { check: "S6", msg });
    }
    let after = storage
        .open(&paths.log, OpenMode::Read)
        .and_then(|f| read_all(&f));
    match after {
        Ok(a) if a == before => None,
        Ok(_) => Some(Finding {
            check: "S6",
            msg: format!("recovery changed a log whose committed entry {seq} is damaged"),
        }),
        Err(e) => Some(Finding {
            check: "S6",
            msg: format!("the damaged log cannot be read back: {e}"),
        }),
    }
}

fn read_all<F: StorageFile>(f: &F) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; f.len()? as usize];
    f.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// The `appended` check over a map of the latest issued payloads.
pub fn from_map(m: &BTreeMap<u64, Vec<u8>>) -> impl Fn(u64, &[u8]) -> bool + '_ {
    move |s, p| m.get(&s).is_some_and(|q| q == p)
}
