//! The evidence of a run, the product of this tool: one module owns it whole.
//!
//! - [`layout`]: the run directory (`<root>/<arch>/<fs>/run-<N>/`) and its file names;
//! - [`record`]: `wal_verify.json` as it is written, including the `matrix` section and the
//!   record of a skipped cell;
//! - [`view`]: `wal_verify.json` as the gate reads it;
//! - [`log`]: `autonomy.log` and `dmesg.txt`, written as the run goes;
//! - [`fixture`]: the one test fixture, shared with the integration tests.
//!
//! The contract between writer and reader is `schemas/wal_verify.schema.json`; the tests check
//! what [`record`] writes and what [`fixture`] builds against it.

pub mod layout;
pub mod log;
pub mod record;
pub mod view;

#[cfg(test)]
pub mod fixture;
#[cfg(test)]
mod schema_tests;
