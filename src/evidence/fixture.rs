//! The one `wal_verify.json` test fixture, for unit and integration tests alike.
//!
//! A file a cell could have written, trimmed to the keys the gate reads and valid against
//! `schemas/wal_verify.schema.json`, passing or failing R2 and the conformance check S3.
//! It uses only `serde_json` and the `wal` crate, so the integration tests include this file as
//! it is (`#[path = "../../src/evidence/fixture.rs"]`) and every test builds evidence the same
//! way. Its invariants are the verifier's own list, so a new invariant needs no change here.

#![allow(dead_code)]

use serde_json::{json, Map, Value};
use wal::verify::Invariant;

/// The commit the fixture certifies.
pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A `wal_verify.json` for `arch`/`fs`, passing, or failing R2 and S3, with a default cell's
/// crash testing (20 iterations, 100 kills, 85 power-loss states).
pub fn wal_verify(arch: &str, fs: &str, pass: bool) -> Value {
    let inv = |p: bool| json!({"pass": p, "msg": if p { "ok" } else { "seq 7 follows 5" }});
    let invariants: Map<String, Value> = Invariant::ALL
        .iter()
        .map(|i| {
            (
                i.key().to_string(),
                inv(pass || *i != Invariant::R2SeqContiguous),
            )
        })
        .collect();
    json!({
        "timestamp": "2026-03-03T00:00:00Z", "seed": 7, "arch": arch, "fs_type": fs,
        "total_iterations": 20, "passed": 20, "failed": 0, "pass": pass,
        "rename_atomic": "PASS", "run_n": 1,
        "invariants": invariants,
        "violations": [], "iterations": [], "schema_version": 1, "commit": SHA,
        "conformance": [{"id": "S3", "claim": "c", "pass": pass, "msg": "", "millis": 1}],
        "kill_runs": {
            "pass": true, "seed": 7, "kills": 100, "killed_by_sigkill": 100,
            "acknowledged_appends": 900, "kills_per_s": 25.0, "violations": []
        },
        "power_loss": {
            "pass": true, "workload": "standard", "protocol": "real", "seed": 7,
            "sector_size": 512, "bound": 4096, "operations": 73, "crash_points": 74,
            "states_explored": 234, "states_checked": 85, "block_faults": true,
            "corruption_states_explored": 496, "corruption_states_checked": 163,
            "corruption_states_refused": 81, "exhaustive": true,
            "on_disk_states": 85, "millis": 900, "on_disk_millis": 400, "states_per_s": 1000.0,
            "violating_states": 0, "violations": []
        }
    })
}
