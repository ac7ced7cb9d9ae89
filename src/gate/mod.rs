//! `portability-matrix gate`: whether a release may proceed, decided from the cells' evidence.
//!
//! The gate gathers one `Observation` per cell (from the workflow run's artifacts on GitHub,
//! `github.rs`, or from a folder, `evidence.rs`), loads the phase policy (`policy.rs`) and the
//! waivers (`waivers.rs`), and hands them to `decision::decide`, a pure function. `output.rs`
//! prints the table, the annotations and the step summary and writes `gate.json`.
//!
//! It fails closed: evidence that is missing, unreadable, expired, from another commit or
//! filed under the wrong cell blocks a gated cell; a waiver that is malformed stops the gate
//! (exit 2) rather than being ignored; and exit 2, "could not decide", blocks a release too.
//! docs/gate.md is the user's guide.

mod decision;
mod evidence;
#[cfg(feature = "github")]
mod github;
mod output;
mod policy;
mod waivers;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::{GateArgs, GateMode, PolicyChoice};
pub use evidence::Sha;
use policy::Policy;

/// Where the default waiver folder is, relative to the working directory (the repository root
/// in a workflow).
const DEFAULT_WAIVERS: &str = "edge/waivers";

/// The cells' observations and what the source has to say about them.
pub struct Gathered {
    pub observations: Vec<decision::Observation>,
    /// Lines for the reader: duplicate artifacts, ignored artifacts…
    pub notes: Vec<String>,
    /// Where the evidence came from, in words.
    pub source: String,
}

pub fn run(args: &GateArgs) -> Result<ExitCode> {
    match decide(args) {
        Ok(report) => {
            output::emit(&report, args)?;
            Ok(ExitCode::from(report.exit_code))
        }
        Err(e) => {
            output::emit_error(&e, args);
            Err(e)
        }
    }
}

fn decide(args: &GateArgs) -> Result<output::Report> {
    let policy = match &args.policy {
        PolicyChoice::File(path) => Policy::load(path)?,
        PolicyChoice::Builtin(phase) => Policy::builtin(*phase),
    };
    let mut notes = Vec::new();
    let waivers = match &args.waivers {
        Some(dir) => waivers::load_dir(dir)?,
        None if Path::new(DEFAULT_WAIVERS).is_dir() => {
            waivers::load_dir(Path::new(DEFAULT_WAIVERS))?
        }
        None => {
            notes.push(format!("no {DEFAULT_WAIVERS} folder here, so no waivers"));
            vec![]
        }
    };
    let today = args.today.unwrap_or_else(|| {
        jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
    });
    if args.sha.is_none() {
        notes.push(
            "no commit given (--sha or GITHUB_SHA): evidence not checked for staleness".into(),
        );
    }
    let gathered = gather(args)?;
    notes.extend(gathered.notes);
    let decision = decision::decide(gathered.observations, &policy, &waivers, today);
    let blocked = decision.verdict == decision::Verdict::Blocked;
    let exit_code = u8::from(blocked && args.mode == GateMode::Release);
    Ok(output::Report {
        schema_version: 1,
        exit_code,
        mode: args.mode,
        policy,
        sha: args.sha.as_ref().map(|s| s.as_str().to_string()),
        today: today.to_string(),
        source: gathered.source,
        waivers_loaded: waivers.len(),
        notes,
        decision,
    })
}

fn gather(args: &GateArgs) -> Result<Gathered> {
    if let Some(dir) = &args.evidence_dir {
        let observations = evidence::read_dir(dir, args.sha.as_ref(), args.max_entry_size)?;
        let mut notes = Vec::new();
        if observations.is_empty() {
            notes.push(format!("found no cell evidence in {}", dir.display()));
        }
        return Ok(Gathered {
            observations,
            notes,
            source: format!("folder {}", dir.display()),
        });
    }
    let (Some(repo), Some(run_id)) = (&args.repo, args.run_id) else {
        bail!(
            "say where the evidence is: --evidence-dir DIR, or --repo OWNER/NAME with --run-id ID \
             (in a workflow they default from GITHUB_REPOSITORY and GITHUB_RUN_ID)"
        );
    };
    from_github(args, repo, run_id)
}

#[cfg(feature = "github")]
fn from_github(args: &GateArgs, repo: &crate::cli::RepoSlug, run_id: u64) -> Result<Gathered> {
    let token = match std::env::var("GITHUB_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t,
        _ => bail!(
            "GITHUB_TOKEN is not set; downloading artifacts needs a token that can read Actions \
             (in a workflow: env GITHUB_TOKEN: ${{{{ github.token }}}} with permissions actions: read)"
        ),
    };
    github::fetch(&github::Config {
        api_url: &args.api_url,
        token,
        repo,
        run_id,
        sha: args.sha.as_ref(),
        max_artifact_size: args.max_artifact_size,
        max_entry_size: args.max_entry_size,
        retry_delay: args.retry_delay,
        retry_budget: args.retry_budget,
    })
}

#[cfg(not(feature = "github"))]
fn from_github(_: &GateArgs, _: &crate::cli::RepoSlug, _: u64) -> Result<Gathered> {
    bail!(
        "this build has no GitHub transport (it was built without the `github` feature); \
         download the artifacts and run `gate --evidence-dir DIR`, or use a default build"
    )
}
