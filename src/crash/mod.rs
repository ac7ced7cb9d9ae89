//! Real crashes, for the cell's step 2: injected leftovers, kill -9 of a real writer, and power
//! loss explored.
//!
//! [`leftovers`] is the seed's harness: it injects what a crash inside the commit protocol
//! leaves and checks that recovery discards it; that shows recovery works, not that the commit
//! protocol survives a crash. So a workload also runs through a recording storage
//! ([`wal::record`]); a written-down persistence model ([`model`], argued in
//! `docs/crash-model.md`; [`fate`] is what can become of one operation) turns the record into
//! every directory content a power cut could leave, and [`block`] adds what a disk that lies
//! could leave (misdirected, stale and duplicated writes). Each is materialized and checked
//! against an acknowledged-durability oracle plus R1-R5, S1 and S6 ([`check`]), exhaustively up
//! to a bound and by seeded sampling beyond ([`explore`]); [`replay`] rebuilds one state from
//! the string a reproducer names it by.
//! [`kill`] kills a real writer process with SIGKILL and checks the same oracle. [`suite`]
//! runs them together as step 2. [`states`] keeps crash states of both kinds on disk for a
//! binary of the other byte order to recover (the matrix's byte-order crossing). Every random choice comes from the run's seed ([`seeded`]).
//! The test-only broken protocols of [`workload::Protocol`] show that the explorer does catch
//! mistakes.
//!
//! This module stands on its own: it depends on the `wal` crate and on nothing of the binary
//! above it; the binary's commands and the evidence record depend on it.

pub mod block;
pub mod check;
pub mod explore;
pub mod fate;
pub mod kill;
pub mod leftovers;
pub mod model;
pub mod narrate;
pub mod replay;
pub mod seeded;
pub mod states;
pub mod suite;
pub mod workload;

#[cfg(test)]
mod tests;
