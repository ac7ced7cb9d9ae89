//! Where the evidence comes from: a folder (`--evidence-dir`) or a workflow run's artifacts on
//! GitHub (`--repo` with `--run-id`), chosen here and read by `evidence.rs` or `github.rs`.
//!
//! A folder wins when both are given. Without either, or without a token for GitHub, the gate
//! cannot decide; a build without the `github` feature says how to run offline instead.

use anyhow::{bail, Result};

use super::config::GateConfig;
use super::evidence::{self, GatheredEvidence};
use super::target::RepoSlug;

/// The cells' observations, from the source the configuration names.
pub fn gather(config: &GateConfig) -> Result<GatheredEvidence> {
    if let Some(dir) = &config.evidence_dir {
        let observations = evidence::read_dir(dir, config.sha.as_ref(), config.max_entry_size)?;
        let mut notes = Vec::new();
        if observations.is_empty() {
            notes.push(format!("found no cell evidence in {}", dir.display()));
        }
        return Ok(GatheredEvidence {
            observations,
            notes,
            source: format!("folder {}", dir.display()),
        });
    }
    let (Some(repo), Some(run_id)) = (&config.repo, config.run_id) else {
        bail!(
            "say where the evidence is: --evidence-dir DIR, or --repo OWNER/NAME with --run-id ID \
             (in a workflow they default from GITHUB_REPOSITORY and GITHUB_RUN_ID)"
        );
    };
    from_github(config, repo, run_id)
}

#[cfg(feature = "github")]
fn from_github(config: &GateConfig, repo: &RepoSlug, run_id: u64) -> Result<GatheredEvidence> {
    let token = match std::env::var("GITHUB_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t,
        _ => bail!(
            "GITHUB_TOKEN is not set; downloading artifacts needs a token that can read Actions \
             (in a workflow: env GITHUB_TOKEN: ${{{{ github.token }}}} with permissions actions: read)"
        ),
    };
    super::github::fetch(&super::github::FetchSettings {
        api_url: &config.api_url,
        token,
        repo,
        run_id,
        sha: config.sha.as_ref(),
        max_artifact_size: config.max_artifact_size,
        max_entry_size: config.max_entry_size,
        retry_delay: config.retry_delay,
        retry_budget: config.retry_budget,
    })
}

#[cfg(not(feature = "github"))]
fn from_github(_: &GateConfig, _: &RepoSlug, _: u64) -> Result<GatheredEvidence> {
    bail!(
        "this build has no GitHub transport (it was built without the `github` feature): \
         download the artifacts and run `gate --evidence-dir DIR`, or build one with it, \
         `cargo build --release --features github` (or `make build FEATURES=github`), or use the \
         x86_64 release binary, which has it"
    )
}
