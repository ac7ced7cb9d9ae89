//! The `seam` kind: seeded faults injected at the WAL's storage seam, in memory.
//!
//! It runs everywhere (no root, no special filesystem) and fast, so every cell sees each fault
//! the seam can produce, on its own architecture: a short write, EIO and ENOSPC on a write, EIO
//! on an fdatasync, fsync or directory fsync, at a point of the writer's life drawn from the seed
//! (the log's creation included). The faults come from `wal::faulty`; what must hold afterwards
//! is the same as for the real kernel's faults.

use std::path::Path;
use std::time::Instant;

use rand::Rng;
use wal::faulty::{FaultPlan, Faulty};
use wal::mem::MemStorage;

use super::kind::{replay_line, Kind, KindOutcome};
use super::writer::{judge, write_until_failure};
use crate::crash::seeded;

/// The stream of the seam's plans ("seam").
const SALT: u64 = 0x7365_616d;
/// Plans per cell.
pub const PLANS: u64 = 200;
/// Entries each plan's writer appends at most; the fault strikes within its first calls.
const ENTRIES: u64 = 12;

pub fn run(seed: u64) -> KindOutcome {
    let started = Instant::now();
    let dir = Path::new("/w");
    let mut out = KindOutcome::new(Kind::Seam);
    let (mut poisoned, mut at_open) = (0, 0);
    for i in 0..PLANS {
        let plan = FaultPlan::seeded(seeded::stream(seed, SALT, i).random(), 3 * ENTRIES);
        let mem = MemStorage::new();
        mem.create_dir_all(dir);
        let faulty = Faulty::new(mem.clone(), plan);
        let report = write_until_failure(faulty.clone(), dir, seed, ENTRIES, &mut |_| {});
        out.runs += 1;
        if faulty.log().injected.is_some() {
            out.injected += 1;
        }
        at_open += u64::from(report.open_failed.is_some());
        if report.poisoned == Some(true) {
            poisoned += 1;
        }
        let replay = replay_line(Kind::Seam, seed);
        for mut v in judge(&report, &mem, dir, seed, &replay) {
            v.msg = format!("plan {i} ({}): {}", plan.describe(), v.msg);
            out.violations.push(v);
        }
    }
    out.wal = format!(
        "{} faults at the storage seam ({} plans; the others struck past the writer's last call): \
         {at_open} failed the open, {poisoned} failed an append, which was refused and poisoned \
         the writer; recovery without the fault {}",
        out.injected,
        out.runs,
        out.recovery_verdict()
    );
    out.millis = started.elapsed().as_millis() as u64;
    out
}
