//! `portability-matrix cell`: one matrix cell, its four steps and its evidence.
//!
//! 1. the WAL's conformance suite (R1-R5, S1-S12, the lock across processes) in the directory;
//! 2. crashes: the seeded crash harness's injected faults, kill -9 runs of a real writer, and
//!    an exploration of the states a power cut can leave (`--seed-steps-only`: the first only);
//! 3. a known-good 5-entry WAL, written and verified (and kept in the evidence, re-verifiable);
//! 4. the atomic-rename check that the safe_seq update rests on.
//!
//! The architecture is the running binary's and the filesystem is read from the mount holding
//! the directory, never taken from arguments, so the evidence says what really ran where.
//! `pass` is true only when all four steps passed.
//!
//! [`run`] goes from start to end; [`steps`] runs the four steps; [`fixture`], [`rename`] and
//! [`lock_probe`] are steps 3, 4 and the conformance suite's second process; [`cmd`] writes
//! `cmd.txt`.

mod cmd;
mod fixture;
mod lock_probe;
mod options;
mod rename;
mod run;
mod steps;

pub use lock_probe::run_lock_probe;
pub use options::CellOptions;
pub use run::run;
