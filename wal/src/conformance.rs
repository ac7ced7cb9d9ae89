//! The conformance suite: R1-R5, JSON integrity and S1-S12, checked on a real directory.
//!
//! The same checks run under `cargo test` and as step 1 of every matrix cell, so they run on
//! the architecture and filesystem being certified, not only on the developer's machine. Each
//! check works in its own subdirectory of the directory it is given, through the real
//! filesystem; crash windows are reproduced by stopping the writer at a chosen operation
//! ([`crate::trace::Traced`]) or by leaving what an interrupted writer leaves ([`crate::inject`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::{CorruptKind, Error};
use crate::inject;
use crate::storage::StdStorage;
use crate::trace::{Op, Traced};
use crate::verify::{self, Code, Invariant};
use crate::{read_safe_seq, Paths, Seq, Wal};

/// A check's outcome.
pub type Outcome = Result<(), String>;

/// Asks another process to open the WAL in a directory; `Ok(true)` when that open was refused
/// because of the lock.
pub type LockProbe<'a> = &'a dyn Fn(&Path) -> Result<bool, String>;

/// One check of the suite.
pub struct Check {
    /// The invariant's id ("R1", "S7", "JSON").
    pub id: &'static str,
    /// What it claims.
    pub claim: &'static str,
    run: fn(&Path, Option<LockProbe>) -> Outcome,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The invariant's id.
    pub id: &'static str,
    /// What it claims.
    pub claim: &'static str,
    /// Whether it held.
    pub pass: bool,
    /// "ok", or what went wrong.
    pub msg: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Every check, in order.
pub const CHECKS: &[Check] = &[
    Check {
        id: "R1",
        claim: "the first frame's seq is 1",
        run: r1,
    },
    Check {
        id: "R2",
        claim: "seqs are contiguous in the committed range",
        run: r2,
    },
    Check {
        id: "R3",
        claim: "safe_seq never exceeds the highest seq in the log",
        run: r3,
    },
    Check {
        id: "R4",
        claim: "the frame at safe_seq exists",
        run: r4,
    },
    Check {
        id: "R5",
        claim: "no frame has seq > safe_seq after recovery",
        run: r5,
    },
    Check {
        id: "JSON",
        claim: "every committed payload parses as JSON; non-JSON is refused",
        run: json,
    },
    Check {
        id: "S1",
        claim: "after recovery the on-disk safe_seq equals the committed entries",
        run: s1,
    },
    Check {
        id: "S2",
        claim: "append returns only after frame and safe_seq are durable",
        run: s2,
    },
    Check {
        id: "S3",
        claim: "a crash between frame write and safe_seq update leaves one phantom, discarded",
        run: s3,
    },
    Check {
        id: "S4",
        claim: "a crash during the safe_seq update keeps the old safe_seq and removes the .tmp",
        run: s4,
    },
    Check {
        id: "S5",
        claim: "a torn tail frame past safe_seq is truncated",
        run: s5,
    },
    Check {
        id: "S6",
        claim: "a damaged committed frame is reported, never silently dropped",
        run: s6,
    },
    Check {
        id: "S7",
        claim: "recovery is idempotent and a crash during recovery is safe",
        run: s7,
    },
    Check {
        id: "S8",
        claim: "after recovery the next seq is safe_seq + 1",
        run: s8,
    },
    Check {
        id: "S9",
        claim: "read_from(k) yields exactly the committed entries >= k, in order",
        run: s9,
    },
    Check {
        id: "S10",
        claim: "one writer per directory (the lock)",
        run: s10,
    },
    Check {
        id: "S11",
        claim: "safe_seq updates are atomic and durable (rename + directory fsync)",
        run: s11,
    },
    Check {
        id: "S12",
        claim: "payloads round-trip byte for byte",
        run: s12,
    },
];

/// Runs every check under `dir` (which must exist and be empty enough for subdirectories named
/// after the checks). `probe`, when given, checks the lock from another process too.
pub fn run_all(dir: &Path, probe: Option<LockProbe>) -> Vec<CheckResult> {
    CHECKS.iter().map(|c| run_one(c, dir, probe)).collect()
}

/// Runs one check, by id, under `dir`.
pub fn run_id(id: &str, dir: &Path, probe: Option<LockProbe>) -> Option<CheckResult> {
    CHECKS
        .iter()
        .find(|c| c.id == id)
        .map(|c| run_one(c, dir, probe))
}

fn run_one(c: &Check, dir: &Path, probe: Option<LockProbe>) -> CheckResult {
    let started = Instant::now();
    let sub = dir.join(format!("conformance-{}", c.id));
    let outcome = std::fs::create_dir_all(&sub)
        .map_err(|e| format!("cannot create {}: {e}", sub.display()))
        .and_then(|()| (c.run)(&sub, probe));
    CheckResult {
        id: c.id,
        claim: c.claim,
        pass: outcome.is_ok(),
        msg: outcome.err().unwrap_or_else(|| "ok".into()),
        millis: started.elapsed().as_millis() as u64,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn e<T>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// A deterministic, varied JSON payload for entry `i`.
pub fn payload(i: u64) -> Vec<u8> {
    format!(
        r#"{{"i":{i},"metric":"cpu.load","value":{}.{},"tags":["host-{}","ünï"]}}"#,
        i * 7 % 100,
        i % 10,
        i % 3
    )
    .into_bytes()
}

fn fresh(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let d = dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| format!("cannot clear {}: {e}", d.display()))?;
    }
    std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    Ok(d)
}

fn write_entries(dir: &Path, n: u64) -> Result<(), String> {
    let mut wal = e(Wal::open(dir))?;
    for i in 1..=n {
        let s = e(wal.append(&payload(i)))?;
        ensure!(s == Seq::new(i), "append {i} returned seq {s}");
    }
    Ok(())
}

fn seqs(wal: &Wal, from: Seq) -> Result<Vec<u64>, String> {
    wal.read_from(from)
        .map(|r| r.map(|en| en.seq.get()).map_err(|e| e.to_string()))
        .collect()
}

fn on_disk_safe_seq(dir: &Path) -> Result<u64, String> {
    e(read_safe_seq(&StdStorage, &Paths::new(dir))).map(Seq::get)
}

fn holds(dir: &Path, inv: Invariant) -> Outcome {
    let r = e(verify::verify_dir(dir))?;
    let c = &r.invariants[&inv];
    ensure!(c.pass, "{} does not hold: {}", inv.key(), c.msg);
    Ok(())
}

fn r1(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    holds(&d, Invariant::R1FirstSeqIsOne)?;
    let wal = e(Wal::open(&d))?;
    ensure!(
        seqs(&wal, Seq::ZERO)?.first() == Some(&1),
        "the first entry read back is not seq 1"
    );
    drop(wal);
    // The verifier must see a log that starts elsewhere.
    let bad = fresh(dir, "starts-at-2")?;
    e(Wal::open(&bad))?;
    e(inject::phantom_frame(&StdStorage, &bad, Seq::new(2), b"{}"))?;
    let r = e(verify::verify_dir(&bad))?;
    ensure!(
        r.violations.iter().any(|v| v.code == Code::FirstSeqNotOne),
        "a log starting at seq 2 was not flagged"
    );
    Ok(())
}

fn r2(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    e(wal.append(&payload(1)))?;
    let batch: Vec<Vec<u8>> = (2..=20).map(payload).collect();
    let range = e(wal.append_batch(&batch))?;
    ensure!(
        *range.start() == Seq::new(2) && *range.end() == Seq::new(20),
        "batch got {range:?}"
    );
    e(wal.append(&payload(21)))?;
    drop(wal);
    let wal = e(Wal::open(&d))?;
    ensure!(
        seqs(&wal, Seq::ZERO)? == (1..=21).collect::<Vec<_>>(),
        "seqs after reopen are not 1..=21"
    );
    drop(wal);
    holds(&d, Invariant::R2SeqContiguous)
}

fn r3(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    for i in 1..=5 {
        e(wal.append(&payload(i)))?;
        holds(&d, Invariant::R3SafeSeqLeMaxSeq)?;
    }
    Ok(())
}

fn r4(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 4)?;
    holds(&d, Invariant::R4SafeSeqFrameExists)?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(5),
        &payload(5),
    ))?;
    drop(e(Wal::open(&d))?);
    holds(&d, Invariant::R4SafeSeqFrameExists)
}

fn r5(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(4),
        &payload(4),
    ))?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(5),
        &payload(5),
    ))?;
    let before = e(verify::verify_dir(&d))?;
    ensure!(
        before.violation_counts.get(&Code::PhantomEntry) == Some(&2),
        "the two phantoms were not both seen before recovery"
    );
    let wal = e(Wal::open(&d))?;
    ensure!(
        wal.recovery().phantom_frames == 2,
        "recovery discarded {} phantoms, not 2",
        wal.recovery().phantom_frames
    );
    drop(wal);
    holds(&d, Invariant::R5NoPhantoms)
}

fn json(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let mut wal = e(Wal::open(&d))?;
    for bad in [&b"{not json"[..], b"", b"{} {}", b"\xff\xfe"] {
        match wal.append(bad) {
            Err(Error::InvalidPayload(_)) => {}
            other => return Err(format!("payload {bad:?} was not refused: {other:?}")),
        }
    }
    ensure!(
        wal.safe_seq() == Seq::ZERO,
        "a refused payload moved safe_seq"
    );
    e(wal.append(br#"{"ok":true}"#))?;
    drop(wal);
    holds(&d, Invariant::NoJsonCorruption)
}

fn s1(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 6)?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(7),
        &payload(7),
    ))?;
    let wal = e(Wal::open(&d))?;
    let n = seqs(&wal, Seq::ZERO)?.len() as u64;
    ensure!(
        on_disk_safe_seq(&d)? == n,
        "on-disk safe_seq {} but {n} committed entries",
        on_disk_safe_seq(&d)?
    );
    ensure!(n == 6, "{n} entries survived, not 6");
    Ok(())
}

/// The effects one append must make, in order.
fn commit_ops(p: &Paths, from: usize, ops: &[Op]) -> Outcome {
    let kinds: Vec<String> = ops[from..].iter().map(|o| format!("{o:?}")).collect();
    let ok = matches!(&ops[from..], [
        Op::Write { path: w, .. }, Op::SyncData(sd),
        Op::Open(t, _), Op::Write { path: tw, .. }, Op::SyncAll(ts),
        Op::Rename(rf, rt), Op::SyncDir(dd),
    ] if *w == p.log && *sd == p.log && *t == p.safe_seq_tmp && *tw == p.safe_seq_tmp
        && *ts == p.safe_seq_tmp && *rf == p.safe_seq_tmp && *rt == p.safe_seq && *dd == p.dir);
    ensure!(ok, "append's effects were {kinds:?}");
    Ok(())
}

fn s2(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let traced = Traced::new(StdStorage);
    let mut wal = e(Wal::open_with(traced.clone(), &d))?;
    let p = Paths::new(&d);
    for i in 1..=3 {
        let before = traced.ops().len();
        e(wal.append(&payload(i)))?;
        commit_ops(&p, before, &traced.ops())?;
    }
    let before = traced.ops().len();
    e(wal.append_batch(&[payload(4), payload(5)]))?;
    commit_ops(&p, before, &traced.ops())
}

fn s3(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 4)?;
    // Stop the writer right after the frame's fdatasync: the .tmp is never created.
    let mut wal = e(Wal::open_with(Traced::failing_at(StdStorage, 2), &d))?;
    ensure!(
        wal.append(&payload(5)).is_err(),
        "the append survived the injected stop"
    );
    ensure!(
        matches!(wal.append(&payload(5)), Err(Error::Poisoned(_))),
        "a failed writer accepted another append"
    );
    drop(wal);
    let wal = e(Wal::open(&d))?;
    ensure!(
        wal.recovery().phantom_frames == 1,
        "recovery saw {} phantoms, not 1",
        wal.recovery().phantom_frames
    );
    ensure!(
        seqs(&wal, Seq::ZERO)? == vec![1, 2, 3, 4],
        "entries after recovery are not 1..=4"
    );
    Ok(())
}

fn s4(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 2)?;
    // Stop at the rename: the new safe_seq is durable in the .tmp only.
    let mut wal = e(Wal::open_with(Traced::failing_at(StdStorage, 5), &d))?;
    ensure!(
        wal.append(&payload(3)).is_err(),
        "the append survived the injected stop"
    );
    drop(wal);
    let p = Paths::new(&d);
    ensure!(
        p.safe_seq_tmp.exists(),
        "the stop left no .tmp to recover from"
    );
    let wal = e(Wal::open(&d))?;
    ensure!(
        wal.recovery().removed_stale_tmp,
        "recovery did not report removing the .tmp"
    );
    ensure!(!p.safe_seq_tmp.exists(), "the .tmp is still there");
    ensure!(
        wal.safe_seq() == Seq::new(2) && on_disk_safe_seq(&d)? == 2,
        "the old safe_seq 2 did not stand"
    );
    Ok(())
}

fn s5(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    let len = std::fs::metadata(Paths::new(&d).log)
        .map_err(|e| e.to_string())?
        .len();
    for keep in [1, 15, 16, 20] {
        let torn = e(inject::torn_frame(
            &StdStorage,
            &d,
            Seq::new(4),
            &payload(4),
            keep,
        ))?;
        let wal = e(Wal::open(&d))?;
        ensure!(
            wal.recovery().discarded_damaged_tail,
            "a torn tail of {keep} bytes was not discarded"
        );
        ensure!(
            wal.recovery().truncated_bytes == torn,
            "truncated {} bytes, not {torn}",
            wal.recovery().truncated_bytes
        );
        ensure!(seqs(&wal, Seq::ZERO)? == vec![1, 2, 3], "entries changed");
    }
    let after = std::fs::metadata(Paths::new(&d).log)
        .map_err(|e| e.to_string())?
        .len();
    ensure!(after == len, "wal.log is {after} bytes, not {len}");
    Ok(())
}

fn s6(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 5)?;
    let p = Paths::new(&d);
    // Offset of frame 3: header, then frames 1 and 2.
    let frame_len = |i: u64| 16 + payload(i).len() as u64;
    let off3 = 8 + frame_len(1) + frame_len(2);
    e(inject::flip_byte(&StdStorage, &d, off3 + 20))?;
    let before = std::fs::read(&p.log).map_err(|e| e.to_string())?;
    match Wal::open(&d) {
        Err(Error::Corrupt {
            seq,
            offset,
            kind: CorruptKind::Checksum,
            ..
        }) => {
            ensure!(
                seq == Seq::new(3) && offset == off3,
                "reported seq {seq} at {offset}, not 3 at {off3}"
            )
        }
        other => {
            return Err(format!(
                "a damaged committed frame opened as {:?}",
                other.map(|w| w.safe_seq())
            ))
        }
    }
    ensure!(
        std::fs::read(&p.log).map_err(|e| e.to_string())? == before,
        "recovery changed a damaged log"
    );
    let r = e(verify::verify_dir(&d))?;
    ensure!(
        r.violations
            .iter()
            .any(|v| v.code == Code::FrameCorrupt && v.seq == Some(3)),
        "the verifier missed the damage"
    );
    // A committed frame cut away is reported too.
    let cut = fresh(dir, "cut")?;
    write_entries(&cut, 3)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(Paths::new(&cut).log)
        .map_err(|e| e.to_string())?;
    f.set_len(8 + frame_len(1) + 5).map_err(|e| e.to_string())?;
    ensure!(
        matches!(Wal::open(&cut), Err(Error::Corrupt { seq, .. }) if seq == Seq::new(2)),
        "a log cut inside committed frame 2 was not reported"
    );
    Ok(())
}

fn s7(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    e(inject::stale_tmp(&StdStorage, &d, Seq::new(4)))?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(4),
        &payload(4),
    ))?;
    e(inject::torn_frame(
        &StdStorage,
        &d,
        Seq::new(5),
        &payload(5),
        9,
    ))?;
    // Stop recovery at each of its effects in turn, then let a full recovery run.
    let mut stops = 0;
    for k in 0.. {
        match Wal::open_with(Traced::failing_at(StdStorage, k), &d) {
            Ok(_) => break,
            Err(_) => stops += 1,
        }
        ensure!(k < 64, "recovery never completed");
    }
    ensure!(stops > 0, "recovery made no effects to interrupt");
    let wal = e(Wal::open(&d))?;
    ensure!(
        seqs(&wal, Seq::ZERO)? == vec![1, 2, 3],
        "entries after interrupted recoveries are not 1..=3"
    );
    drop(wal);
    let again = e(Wal::open(&d))?;
    let r = again.recovery();
    ensure!(
        r.phantom_frames == 0 && r.truncated_bytes == 0 && !r.removed_stale_tmp,
        "a second recovery still found work: {r:?}"
    );
    Ok(())
}

fn s8(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    write_entries(&d, 3)?;
    e(inject::phantom_frame(
        &StdStorage,
        &d,
        Seq::new(4),
        &payload(99),
    ))?;
    let mut wal = e(Wal::open(&d))?;
    let s = e(wal.append(&payload(4)))?;
    ensure!(
        s == Seq::new(4),
        "the first append after recovery got seq {s}, not 4"
    );
    let last = e(wal.read_from(Seq::new(4)).next().ok_or("entry 4 missing")?)?;
    ensure!(
        last.payload == payload(4),
        "entry 4 holds the phantom's payload"
    );
    Ok(())
}

fn s9(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let n = 2500u64; // spans several sparse-index points
    let mut wal = e(Wal::open(&d))?;
    let all: Vec<Vec<u8>> = (1..=n).map(payload).collect();
    for chunk in all.chunks(900) {
        e(wal.append_batch(chunk))?;
    }
    drop(wal);
    let wal = e(Wal::open(&d))?;
    for k in [
        0,
        1,
        2,
        1023,
        1024,
        1025,
        2048,
        2049,
        n - 1,
        n,
        n + 1,
        n + 100,
    ] {
        let got = seqs(&wal, Seq::new(k))?;
        let want: Vec<u64> = (k.max(1)..=n).collect();
        ensure!(
            got == want,
            "read_from({k}) yielded {} entries starting {:?}, want {}",
            got.len(),
            got.first(),
            want.len()
        );
    }
    let e1025 = e(wal
        .read_from(Seq::new(1025))
        .next()
        .ok_or("no entry 1025")?)?;
    ensure!(
        e1025.payload == payload(1025),
        "entry 1025's payload differs"
    );
    Ok(())
}

fn s10(dir: &Path, probe: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let wal = e(Wal::open(&d))?;
    match Wal::open(&d) {
        Err(err @ Error::Locked { .. }) => {
            ensure!(
                err.to_string().contains(&d.display().to_string()),
                "the lock error does not name the directory: {err}"
            )
        }
        Err(other) => return Err(format!("a second open failed for another reason: {other}")),
        Ok(_) => return Err("a second writer opened a locked directory".into()),
    }
    if let Some(probe) = probe {
        ensure!(probe(&d)?, "another process opened a locked directory");
    }
    drop(wal);
    ensure!(
        Wal::open(&d).is_ok(),
        "the lock was not released when the writer closed"
    );
    if let Some(probe) = probe {
        ensure!(
            !probe(&d)?,
            "another process was refused an unlocked directory"
        );
    }
    Ok(())
}

fn s11(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let traced = Traced::new(StdStorage);
    let mut wal = e(Wal::open_with(traced.clone(), &d))?;
    let p = Paths::new(&d);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen: Vec<u64> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match std::fs::read(&p.safe_seq) {
                    Ok(b) => match crate::format::decode_safe_seq(&b) {
                        Some(v) => seen.push(v.get()),
                        None => return Err(format!("a reader saw a partial safe_seq {b:?}")),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && seen.is_empty() => {}
                    Err(e) => return Err(format!("a reader could not read safe_seq: {e}")),
                }
            }
            Ok(seen)
        });
        let w = (1..=40).try_for_each(|i| {
            wal.append(&payload(i))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        w.and(
            reader
                .join()
                .map_err(|_| "the reader panicked".to_string())?,
        )
    })?;
    ensure!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "a reader saw safe_seq go backwards"
    );
    ensure!(
        !p.safe_seq_tmp.exists(),
        "a .tmp was left after the appends"
    );
    let ops = traced.ops();
    let renames = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Op::Rename(..)));
    for (i, _) in renames {
        ensure!(
            ops.get(i + 1) == Some(&Op::SyncDir(p.dir.clone())),
            "a rename was not followed by a directory fsync"
        );
    }
    ensure!(
        on_disk_safe_seq(&d)? == 40,
        "safe_seq is not 40 after 40 appends"
    );
    Ok(())
}

fn s12(dir: &Path, _: Option<LockProbe>) -> Outcome {
    let d = fresh(dir, "wal")?;
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(1 << 20));
    let payloads: Vec<Vec<u8>> = vec![
        b"0".to_vec(),
        b"null".to_vec(),
        "  {\"a\" : [1, 2.50, -0.0e3] , \"ü\":\"\\u00fc\\n\"}\n"
            .as_bytes()
            .to_vec(),
        "\"日本語 🚀\"".as_bytes().to_vec(),
        big.into_bytes(),
    ];
    let mut wal = e(Wal::open(&d))?;
    for p in &payloads {
        e(wal.append(p))?;
    }
    drop(wal);
    let wal = e(Wal::open(&d))?;
    let back: Vec<Vec<u8>> = wal
        .read_from(Seq::ZERO)
        .map(|r| r.map(|en| en.payload))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    ensure!(
        back == payloads,
        "payloads did not round-trip byte for byte"
    );
    Ok(())
}
