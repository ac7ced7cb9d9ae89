//! Seeded randomness, the one way every crash test derives its choices from a run's seed.
//!
//! Everything random in a run comes from ChaCha8 keyed by the seed; each independent part of a
//! run (a harness iteration, a crash point, the writer's appends) draws from its own stream,
//! named by a salt for the part and an index within it. So one iteration, one crash point or
//! one kill replays exactly without replaying the rest, and adding draws to one part never
//! changes another's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The salt of the harness iterations, the explorer's crash points and its workload.
pub const ITERATIONS: u64 = 0;
/// The salt of the kill -9 writer's batches and payloads ("kill").
pub const WRITER: u64 = 0x6b69_6c6c;
/// The salt of the kill delays of the crash states kept for another byte order ("stat").
pub const STATES: u64 = 0x7374_6174;

/// Stream `index` of the part `salt` of the run with `seed`.
pub fn stream(seed: u64, salt: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    rng.set_stream(index);
    rng
}

/// The random stream of harness iteration (or crash point) `index`.
pub fn iteration_rng(seed: u64, index: u32) -> ChaCha8Rng {
    stream(seed, ITERATIONS, u64::from(index))
}

/// A seed from the clock, kept below 2^53 so that every JSON reader (jq, JavaScript) reads the
/// seed in `wal_verify.json` back exactly.
pub fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos & ((1 << 53) - 1)
}

/// A random telemetry record: the `i`-th entry of a workload, as JSON.
pub fn random_payload(rng: &mut ChaCha8Rng, i: u64) -> Vec<u8> {
    let pad_len = rng.random_range(0..400);
    let pad: String = (0..pad_len)
        .map(|_| rng.random_range(b'a'..=b'z') as char)
        .collect();
    format!(
        r#"{{"i":{i},"metric":"m{}","value":{},"note":"{pad}","ok":{}}}"#,
        rng.random_range(0..50),
        rng.random_range(-1_000_000i64..1_000_000),
        rng.random_bool(0.5)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_iteration_draws_from_its_own_stream() {
        let mut a = iteration_rng(7, 3);
        let mut b = iteration_rng(7, 3);
        let mut c = iteration_rng(7, 4);
        let (x, y, z): (u64, u64, u64) = (a.random(), b.random(), c.random());
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn the_writer_and_the_iterations_draw_from_different_streams() {
        let (x, y): (u64, u64) = (stream(7, WRITER, 3).random(), iteration_rng(7, 3).random());
        assert_ne!(x, y);
    }

    #[test]
    fn clock_seeds_are_exact_in_json_doubles() {
        let s = clock_seed();
        assert!(s < 1 << 53);
        assert_eq!(s as f64 as u64, s);
    }

    #[test]
    fn a_payload_is_json_naming_its_index() {
        let p = random_payload(&mut iteration_rng(1, 0), 42);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["i"], 42);
    }
}
