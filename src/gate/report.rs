//! The gate's report, `GateReport`: the decision with everything it was made from (policy,
//! commit, date, source, notes), as `gate.json` holds it and `output.rs` shows it.
//!
//! `assemble` is the gate's one pass from configuration to report: load the policy and the
//! waivers, settle today's date, gather the evidence, decide. Any step that fails means the
//! gate could not decide.

use std::path::Path;

use anyhow::Result;
use jiff::civil::Date;
use serde::Serialize;

use super::config::{GateConfig, GateMode, PolicyChoice};
use super::decision::{self, Decision, Verdict};
use super::policy::Policy;
use super::source;
use super::waivers::{self, Waiver};

/// Where the default waiver folder is, relative to the working directory (the repository root
/// in a workflow).
const DEFAULT_WAIVERS: &str = "edge/waivers";

/// Everything `gate.json` holds.
#[derive(Debug, Serialize)]
pub struct GateReport {
    pub schema_version: u32,
    /// The process's exit code for this decision (0 or 1).
    pub exit_code: u8,
    pub mode: GateMode,
    pub policy: Policy,
    pub sha: Option<String>,
    pub today: String,
    pub source: String,
    pub waivers_loaded: usize,
    pub notes: Vec<String>,
    #[serde(flatten)]
    pub decision: Decision,
}

/// Decides, and says on what.
pub fn assemble(config: &GateConfig) -> Result<GateReport> {
    let policy = load_policy(&config.policy)?;
    let mut notes = Vec::new();
    let waivers = load_waivers(config.waivers.as_deref(), &mut notes)?;
    let today = config.today.unwrap_or_else(utc_today);
    if config.sha.is_none() {
        notes.push(
            "no commit given (--sha or GITHUB_SHA): evidence not checked for staleness".into(),
        );
    }
    let gathered = source::gather(config)?;
    notes.extend(gathered.notes);
    let decision = decision::decide(gathered.observations, &policy, &waivers, today);
    let blocked = decision.verdict == Verdict::Blocked;
    Ok(GateReport {
        schema_version: 1,
        exit_code: u8::from(blocked && config.mode == GateMode::Release),
        mode: config.mode,
        policy,
        sha: config.sha.as_ref().map(|s| s.as_str().to_string()),
        today: today.to_string(),
        source: gathered.source,
        waivers_loaded: waivers.len(),
        notes,
        decision,
    })
}

fn load_policy(choice: &PolicyChoice) -> Result<Policy> {
    match choice {
        PolicyChoice::File(path) => Policy::load(path),
        PolicyChoice::Builtin(phase) => Ok(Policy::builtin(*phase)),
    }
}

/// The waivers of `dir`, or of the default folder when it exists; a note when there is none.
fn load_waivers(dir: Option<&Path>, notes: &mut Vec<String>) -> Result<Vec<Waiver>> {
    match dir {
        Some(dir) => waivers::load_dir(dir),
        None if Path::new(DEFAULT_WAIVERS).is_dir() => {
            waivers::load_dir(Path::new(DEFAULT_WAIVERS))
        }
        None => {
            notes.push(format!("no {DEFAULT_WAIVERS} folder here, so no waivers"));
            Ok(vec![])
        }
    }
}

fn utc_today() -> Date {
    jiff::tz::Offset::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}
