//! The verifier on an arbitrary directory: it never panics, never changes a byte of what it
//! reads, its report is consistent (pass exactly when no invariant failed; counts cover what
//! was kept), and a directory it passes is one recovery leaves alone.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wal::verify::{verify_with, MAX_VIOLATIONS_PER_CODE};
use wal::Wal;
use wal_fuzz::{Dir, DIR};

fuzz_target!(|d: Dir| {
    let m = d.build();
    let dir = Path::new(DIR);
    let before = m.files();
    let report = verify_with(&m, dir);
    assert_eq!(m.files(), before, "verify changed its input");
    let Ok(r) = report else { return };
    assert_eq!(r.pass(), r.invariants.values().all(|c| c.pass));
    let counted: u64 = r.violation_counts.values().sum();
    assert!(counted >= r.violations.len() as u64);
    for (code, n) in &r.violation_counts {
        let kept = r.violations.iter().filter(|v| v.code == *code).count();
        assert_eq!(kept as u64, (*n).min(MAX_VIOLATIONS_PER_CODE as u64));
    }
    if r.pass() {
        let wal = Wal::open_with(m.clone(), dir).expect("a WAL that verifies opens");
        let rec = wal.recovery();
        assert!(rec.phantom_frames == 0 && rec.truncated_bytes == 0, "recovery changed a verified WAL: {rec:?}");
        assert_eq!(wal.safe_seq(), r.safe_seq);
    }
});
