//! The gate's configuration: everything one run of the gate needs to know, already typed.
//!
//! The command line (`cli::GateArgs`) is converted into a `GateConfig` before the gate runs, so
//! the gate never sees clap's structs and the dependency points one way, from the CLI to the
//! gate. The enums a user picks from (`GateMode`, and `Phase` in `policy.rs`) are defined here in
//! the gate and derive `clap::ValueEnum`, so their help text and names have one owner.

use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::Date;
use serde::Serialize;

use super::policy::Phase;
use super::target::{RepoSlug, Sha};

/// One run of the gate.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Read the evidence from this folder instead of GitHub.
    pub evidence_dir: Option<PathBuf>,
    /// The repository whose workflow run uploaded the evidence artifacts.
    pub repo: Option<RepoSlug>,
    /// The workflow run whose artifacts are the evidence.
    pub run_id: Option<u64>,
    /// The commit being released; without it, evidence is not checked for staleness.
    pub sha: Option<Sha>,
    /// The GitHub REST API base.
    #[cfg_attr(not(feature = "github"), allow(dead_code))]
    // only the GitHub transport reads it
    pub api_url: String,
    pub policy: PolicyChoice,
    /// The waiver folder; `None` means `edge/waivers` when it exists.
    pub waivers: Option<PathBuf>,
    pub mode: GateMode,
    /// Where `gate.json` goes.
    pub out: Option<PathBuf>,
    /// Where the markdown decision is appended (the step summary).
    pub summary: Option<PathBuf>,
    #[cfg_attr(not(feature = "github"), allow(dead_code))] // only the GitHub transport reads it
    pub max_artifact_size: u64,
    pub max_entry_size: u64,
    #[cfg_attr(not(feature = "github"), allow(dead_code))] // only the GitHub transport reads it
    pub retry_budget: Duration,
    #[cfg_attr(not(feature = "github"), allow(dead_code))] // only the GitHub transport reads it
    pub retry_delay: Duration,
    /// Decide as if today were this date (UTC); `None` is the clock's today.
    pub today: Option<Date>,
}

/// Which policy the gate applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChoice {
    /// A policy shipped with the tool.
    Builtin(Phase),
    /// A repository's own policy file.
    File(PathBuf),
}

impl PolicyChoice {
    /// `phase1` and `phase2` name the built-ins; anything else is a file path.
    pub fn parse(s: &str) -> Result<PolicyChoice, String> {
        if s.is_empty() {
            return Err("the policy is empty: give phase1, phase2 or a policy file".into());
        }
        match <Phase as clap::ValueEnum>::from_str(s, false) {
            Ok(phase) => Ok(PolicyChoice::Builtin(phase)),
            Err(_) => Ok(PolicyChoice::File(PathBuf::from(s))),
        }
    }
}

/// Whether a blocked decision fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateMode {
    /// Strict: a blocking cell exits 1.
    Release,
    /// Report and warn; exit 0 unless the gate could not decide.
    Nightly,
}

impl GateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GateMode::Release => "release",
            GateMode::Nightly => "nightly",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_pick_a_builtin_and_anything_else_is_a_file() {
        assert_eq!(
            PolicyChoice::parse("phase1"),
            Ok(PolicyChoice::Builtin(Phase::Phase1))
        );
        assert_eq!(
            PolicyChoice::parse("phase2"),
            Ok(PolicyChoice::Builtin(Phase::Phase2))
        );
        assert_eq!(
            PolicyChoice::parse("Phase1"),
            Ok(PolicyChoice::File(PathBuf::from("Phase1")))
        );
        assert!(PolicyChoice::parse("").is_err());
    }
}
