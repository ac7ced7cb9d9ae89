//! The verifier on an arbitrary directory: it never panics, never changes a byte of what it
//! reads, its report is consistent (pass exactly when no invariant failed; counts cover what
//! was kept), a directory it passes is one recovery leaves alone, and its parallel path (here in
//! tiny windows on two threads) reports exactly what its sequential path does.

#![no_main]

use std::num::NonZeroUsize;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wal::scan::parallel::Plan;
use wal::verify::{verify_sequential_with, verify_with, verify_with_plan, MAX_VIOLATIONS_PER_CODE};
use wal::Wal;
use wal_fuzz::{Dir, DIR};

fuzz_target!(|d: Dir| {
    let m = d.build();
    let dir = Path::new(DIR);
    let before = m.files();
    let report = verify_with(&m, dir);
    assert_eq!(m.files(), before, "verify changed its input");
    let plan = Plan { threads: NonZeroUsize::new(2).unwrap(), window: 64, min_share: 0 };
    let shown = |r: &wal::Result<wal::verify::Report>| match r {
        Ok(r) => format!("{r:?}"),
        Err(e) => format!("error: {e}"),
    };
    let sequential = shown(&verify_sequential_with(&m, dir));
    assert_eq!(shown(&report), sequential, "the default plan differs from the sequential path");
    assert_eq!(shown(&verify_with_plan(&m, dir, plan)), sequential, "{plan:?} differs from the sequential path");
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
