//! Recovery of an arbitrary directory: it never panics; when it refuses a directory it leaves
//! `wal.log` exactly as it was; when it opens one, exactly safe_seq contiguous entries remain,
//! the stale `.tmp` is gone, the verifier finds R1-R5 intact, and a second recovery has nothing
//! left to do.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wal::format;
use wal::verify::{verify_with, Invariant};
use wal::{Seq, Wal};
use wal_fuzz::{Dir, DIR};

fuzz_target!(|d: Dir| {
    let m = d.build();
    let dir = Path::new(DIR);
    let log = dir.join(format::LOG_FILE);
    let before = m.read_file(&log);
    let wal = match Wal::open_with(m.clone(), dir) {
        Ok(w) => w,
        Err(_) => {
            assert_eq!(m.read_file(&log), before, "a refused WAL's log was changed");
            return;
        }
    };
    let safe = wal.safe_seq().get();
    let entries: Vec<wal::Entry> = wal
        .read_from(Seq::ZERO)
        .collect::<Result<_, _>>()
        .expect("a recovered WAL reads back");
    assert_eq!(entries.len() as u64, safe);
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq.get() == i as u64 + 1));
    assert!(m.read_file(&dir.join(format::SAFE_SEQ_TMP_FILE)).is_none());
    drop(wal);
    let r = verify_with(&m, dir).expect("a recovered WAL verifies");
    for inv in Invariant::ALL {
        if inv != Invariant::NoJsonCorruption {
            assert!(r.invariants[&inv].pass, "{inv:?} after recovery: {}", r.invariants[&inv].msg);
        }
    }
    let again = Wal::open_with(m.clone(), dir).expect("a recovered WAL opens again");
    let rec = again.recovery();
    assert!(
        rec.phantom_frames == 0 && rec.truncated_bytes == 0 && !rec.removed_stale_tmp && !rec.initialized_log,
        "a second recovery found work: {rec:?}"
    );
    assert_eq!(again.safe_seq().get(), safe);
});
