//! S7-S12: recovery that can itself be interrupted, the seq after recovery, reading back,
//! the writer's lock, atomic safe_seq updates seen by a concurrent reader, byte-exact payloads.
//!
//! S10's second half asks another process to open a locked directory, which only the real
//! filesystem can show; S11 watches the real filesystem's rename from a concurrent reader, so it
//! runs there only.

use super::support::{e, payload, seqs, Outcome, Site, SuiteStorage};
use crate::error::Error;
use crate::inject;
use crate::log::Wal;
use crate::paths::Paths;
use crate::record::{Op, Recorder};
use crate::seq::Seq;
use crate::storage::StdStorage;

pub(super) fn s7<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 3)?;
    e(inject::stale_tmp(&s.storage, &d, Seq::new(4)))?;
    s.phantom(&d, 4, 4)?;
    e(inject::torn_frame(
        &s.storage,
        &d,
        Seq::new(5),
        &payload(5),
        9,
    ))?;
    // Stop recovery at each of its effects in turn, then let a full recovery run.
    let mut stops = 0;
    for k in 0.. {
        match Wal::open_with(Recorder::failing_at(s.storage.clone(), k), &d) {
            Ok(_) => break,
            Err(_) => stops += 1,
        }
        ensure!(k < 64, "recovery never completed");
    }
    ensure!(stops > 0, "recovery made no effects to interrupt");
    let wal = s.open(&d)?;
    ensure!(
        seqs(&wal, Seq::ZERO)? == vec![1, 2, 3],
        "entries after interrupted recoveries are not 1..=3"
    );
    drop(wal);
    let again = s.open(&d)?;
    let r = again.recovery();
    ensure!(
        r.phantom_frames == 0 && r.truncated_bytes == 0 && !r.removed_stale_tmp,
        "a second recovery still found work: {r:?}"
    );
    Ok(())
}

pub(super) fn s8<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    s.write_entries(&d, 3)?;
    s.phantom(&d, 4, 99)?;
    let mut wal = s.open(&d)?;
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

pub(super) fn s9<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let n = 2500u64; // spans several sparse-index points
    let mut wal = s.open(&d)?;
    let all: Vec<Vec<u8>> = (1..=n).map(payload).collect();
    for chunk in all.chunks(900) {
        e(wal.append_batch(chunk))?;
    }
    drop(wal);
    let wal = s.open(&d)?;
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

/// One writer per directory: a second open in this process is refused, naming the directory;
/// where a probe is given (the real filesystem), another process is refused too.
pub(super) fn s10<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
    let wal = s.open(&d)?;
    match Wal::open_with(s.storage.clone(), &d) {
        Err(err @ Error::Locked { .. }) => {
            ensure!(
                err.to_string().contains(&d.display().to_string()),
                "the lock error does not name the directory: {err}"
            )
        }
        Err(other) => return Err(format!("a second open failed for another reason: {other}")),
        Ok(_) => return Err("a second writer opened a locked directory".into()),
    }
    if let Some(probe) = s.probe {
        ensure!(probe(&d)?, "another process opened a locked directory");
    }
    drop(wal);
    ensure!(
        s.open(&d).is_ok(),
        "the lock was not released when the writer closed"
    );
    if let Some(probe) = s.probe {
        ensure!(
            !probe(&d)?,
            "another process was refused an unlocked directory"
        );
    }
    Ok(())
}

/// Atomic and durable safe_seq updates, watched by a concurrent reader of the real filesystem.
pub(super) fn s11(s: &Site<StdStorage>) -> Outcome {
    let d = s.fresh("wal")?;
    let recorder = Recorder::new(StdStorage);
    let mut wal = e(Wal::open_with(recorder.clone(), &d))?;
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
    let ops = recorder.trace().ops;
    let renames = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Op::Rename { .. }));
    for (i, _) in renames {
        ensure!(
            ops.get(i + 1) == Some(&Op::SyncDir { dir: p.dir.clone() }),
            "a rename was not followed by a directory fsync"
        );
    }
    ensure!(
        s.on_disk_safe_seq(&d)? == 40,
        "safe_seq is not 40 after 40 appends"
    );
    Ok(())
}

pub(super) fn s12<S: SuiteStorage>(s: &Site<S>) -> Outcome {
    let d = s.fresh("wal")?;
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
    let mut wal = s.open(&d)?;
    for p in &payloads {
        e(wal.append(p))?;
    }
    drop(wal);
    let wal = s.open(&d)?;
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
