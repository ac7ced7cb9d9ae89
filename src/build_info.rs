//! What built this binary: version, commit, compiler and target, captured by `build.rs`.
//! Every evidence folder records it, so a result can be traced to the exact binary.

use serde::Serialize;

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from ("unknown" outside a checkout).
pub const COMMIT: &str = env!("PM_COMMIT");
/// `rustc -V` of the compiler that built it.
pub const RUSTC: &str = env!("PM_RUSTC_VERSION");
/// The target triple.
pub const TARGET: &str = env!("PM_TARGET");

/// `--version` output.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PM_COMMIT"),
    ", ",
    env!("PM_TARGET"),
    ", ",
    env!("PM_RUSTC_VERSION"),
    ")"
);

/// The same, as a JSON object for reports.
#[derive(Debug, Clone, Serialize)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: &'static str,
    pub rustc: &'static str,
    pub target: &'static str,
    /// Whether the GitHub transport of the gate is compiled in.
    pub github: bool,
}

pub fn current() -> BuildInfo {
    BuildInfo {
        version: VERSION,
        commit: COMMIT,
        rustc: RUSTC,
        target: TARGET,
        github: cfg!(feature = "github"),
    }
}
