//! Real crashes, for the cell's step 2: kill -9 of a real writer, and power loss explored.
//!
//! The seed's harness injects hand-made leftovers; that shows recovery discards them, not that
//! the commit protocol survives a crash. Here a workload runs through a recording storage
//! ([`wal::record`]); a written-down persistence model ([`model`], argued in `docs/crash-model.md`)
//! turns the record into every directory content a power cut could leave; each is
//! materialized and checked against an acknowledged-durability oracle plus R1-R5, S1 and S6
//! ([`check`]), exhaustively up to a bound and by seeded sampling beyond ([`explore`]).
//! [`kill`] kills a real writer process with SIGKILL and checks the same oracle. The test-only
//! broken protocols of [`workload::Protocol`] show that the explorer does catch mistakes.

pub mod check;
pub mod explore;
pub mod kill;
pub mod model;
pub mod step2;
pub mod workload;

#[cfg(test)]
mod tests;
