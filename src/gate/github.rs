//! The gate's only contact with GitHub: list a workflow run's artifacts and download the
//! evidence ones, through octocrab.
//!
//! octocrab 0.54 needs help in three places, and this module is where it gets it:
//! - `list_workflow_run_artifacts` ignores `per_page`/`page`, so pages are requested by hand
//!   (`?per_page=100&page=N`) and the count is checked against `total_count`;
//! - `download_artifact` follows the redirect and returns any body, error pages included, all
//!   in memory. Here the API client does not follow redirects: the 302's `Location` is fetched
//!   by a second client that has no token at all (so the storage host can never see it), the
//!   status is checked, the body is read frame by frame and dropped as soon as it passes the
//!   size cap, and `archive::read_zip` checks the zip magic before anything else;
//! - its retry layer knows nothing of rate limits, so every request goes through `net.rs`,
//!   which retries transient answers (5xx, 429, 403 with rate-limit headers, connection errors,
//!   a body that breaks off before its end), honouring `Retry-After` and `X-RateLimit-Reset`,
//!   within one total budget of waiting for the whole run.
//!
//! Failing to list the artifacts, or a download still failing transiently when the budget is
//! spent, means the gate could not decide (exit 2). A definite answer about one artifact (404,
//! 410, not a zip, too big) is that cell's status instead.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http::StatusCode;
use serde::Deserialize;

use super::archive;
use super::evidence::{self, GatheredEvidence, ARTIFACT_PREFIX};
use super::net::{read_body, BodyError, Client};
use super::observation::{Observation, Status};
use super::target::{RepoSlug, Sha};
use crate::cell_id::CellId;

/// Which run's artifacts to fetch, with which token, within which limits.
pub struct FetchSettings<'a> {
    pub api_url: &'a str,
    pub token: String,
    pub repo: &'a RepoSlug,
    pub run_id: u64,
    pub sha: Option<&'a Sha>,
    pub max_artifact_size: u64,
    pub max_entry_size: u64,
    pub retry_delay: Duration,
    pub retry_budget: Duration,
}

/// One page of `GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts`.
#[derive(Deserialize)]
struct ArtifactPage {
    total_count: u64,
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize, Clone)]
struct Artifact {
    id: u64,
    name: String,
    #[serde(default)]
    size_in_bytes: u64,
    #[serde(default)]
    expired: bool,
    created_at: Option<String>,
    expires_at: Option<String>,
    workflow_run: Option<WorkflowRun>,
}

#[derive(Deserialize, Clone)]
struct WorkflowRun {
    head_sha: Option<String>,
}

/// The largest artifact list page read (GitHub's are a few tens of KiB).
const MAX_PAGE_BYTES: u64 = 8 << 20;
/// Redirects followed on the storage side after the API's own.
const MAX_REDIRECTS: usize = 5;

pub fn fetch(cfg: &FetchSettings) -> Result<GatheredEvidence> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    let token = cfg.token.clone();
    rt.block_on(fetch_async(cfg))
        .map_err(|e| anyhow!("{}", redact(&format!("{e:#}"), &token)))
}

/// Removes the token from a message, should any error ever carry it.
fn redact(s: &str, token: &str) -> String {
    if token.len() >= 4 {
        s.replace(token, "***")
    } else {
        s.to_string()
    }
}

async fn fetch_async(cfg: &FetchSettings<'_>) -> Result<GatheredEvidence> {
    let client = Client::connect(cfg.api_url, &cfg.token, cfg.retry_budget, cfg.retry_delay)?;
    let (newest, mut notes) = newest_by_cell(list(&client, cfg).await?);
    let mut observations = Vec::new();
    for (cell, a) in newest {
        observations.push(observe(&client, cfg, cell, &a).await?);
    }
    if observations.is_empty() {
        notes.push(format!("the run has no {ARTIFACT_PREFIX}* artifacts"));
    }
    Ok(GatheredEvidence {
        observations,
        notes,
        source: format!("GitHub {} run {}", cfg.repo, cfg.run_id),
    })
}

/// The evidence artifacts by cell, the newest of each name (re-runs upload the same name
/// again), and notes on what was ignored or chosen.
fn newest_by_cell(artifacts: Vec<Artifact>) -> (Vec<(CellId, Artifact)>, Vec<String>) {
    let mut notes = Vec::new();
    let mut by_name: BTreeMap<String, Vec<Artifact>> = BTreeMap::new();
    let mut others = 0;
    for a in artifacts {
        if a.name.starts_with(ARTIFACT_PREFIX) {
            by_name.entry(a.name.clone()).or_default().push(a);
        } else {
            others += 1;
        }
    }
    if others > 0 {
        notes.push(format!(
            "ignored {others} artifact(s) not named {ARTIFACT_PREFIX}*"
        ));
    }
    let mut out = Vec::new();
    for (artifact_name, mut copies) in by_name {
        let cell = match evidence::cell_from_artifact_name(&artifact_name) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                notes.push(format!("ignored an artifact: {e}"));
                continue;
            }
            None => continue,
        };
        // Newest first: by creation time, then by id (ids grow).
        copies.sort_by_key(|a| {
            let t = a
                .created_at
                .as_deref()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok());
            std::cmp::Reverse((t, a.id))
        });
        let a = copies.swap_remove(0);
        if !copies.is_empty() {
            notes.push(format!(
                "{} artifacts are named {artifact_name} (re-runs); took the newest, id {} created {}",
                copies.len() + 1,
                a.id,
                a.created_at.as_deref().unwrap_or("at an unknown time")
            ));
        }
        out.push((cell, a));
    }
    (out, notes)
}

/// What one artifact says about its cell. What the listing already tells (expired, another
/// commit, too big) is decided without a download.
async fn observe(
    client: &Client,
    cfg: &FetchSettings<'_>,
    cell: CellId,
    a: &Artifact,
) -> Result<Observation> {
    let source = format!("artifact {} (id {})", a.name, a.id);
    let plain = |status, note: String| Observation::plain(&cell, status, note, &source);
    let head_sha = a.workflow_run.as_ref().and_then(|w| w.head_sha.as_deref());
    if a.expired {
        let when = a.expires_at.as_deref().unwrap_or("an unknown date");
        let note = format!("GitHub expired the artifact ({when})");
        return Ok(plain(Status::Expired, note));
    }
    if let Some(sha) = cfg.sha.filter(|s| !head_sha.is_some_and(|h| s.matches(h))) {
        let from = head_sha.unwrap_or("an unknown commit");
        let note = format!(
            "the artifact's run is for commit {from}, not {}",
            sha.as_str()
        );
        return Ok(plain(Status::Stale, note));
    }
    if a.size_in_bytes > cfg.max_artifact_size {
        let note = format!(
            "the artifact is {} bytes, over the {}-byte cap (--max-artifact-size)",
            a.size_in_bytes, cfg.max_artifact_size
        );
        return Ok(plain(Status::Unreadable, note));
    }
    let (owner, name) = (&cfg.repo.owner, &cfg.repo.name);
    let route = format!("/repos/{owner}/{name}/actions/artifacts/{}/zip", a.id);
    Ok(
        match download(client, &route, cfg.max_artifact_size).await? {
            Download::Zip(bytes) => {
                archive::read_zip(&bytes, &cell, cfg.sha, cfg.max_entry_size, &source)
            }
            Download::Gone => plain(Status::Expired, "the download answered 410 Gone".into()),
            Download::Refused(why) => plain(Status::Unreadable, why),
        },
    )
}

/// Every artifact of the run, page by page.
async fn list(client: &Client, cfg: &FetchSettings<'_>) -> Result<Vec<Artifact>> {
    let (owner, name, run) = (&cfg.repo.owner, &cfg.repo.name, cfg.run_id);
    let mut all: Vec<Artifact> = Vec::new();
    let mut total = None;
    for page in 1.. {
        let route =
            format!("/repos/{owner}/{name}/actions/runs/{run}/artifacts?per_page=100&page={page}");
        let what = format!("listing the artifacts of {owner}/{name} run {run}");
        let (status, body) = client.get_whole(&route, &what, MAX_PAGE_BYTES).await?;
        if !status.is_success() {
            let hint = match status {
                StatusCode::NOT_FOUND => {
                    " (no such repository or run, or the token cannot read its Actions)"
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    " (the token is not accepted or lacks actions: read)"
                }
                _ => "",
            };
            bail!(
                "{what}: GitHub answered HTTP {status}{hint}: {}",
                evidence::excerpt(&body, 200)
            );
        }
        let p: ArtifactPage = serde_json::from_slice(&body)
            .with_context(|| format!("{what}: page {page} is not an artifact list"))?;
        let expected = *total.get_or_insert(p.total_count);
        let got = p.artifacts.len();
        all.extend(p.artifacts);
        if all.len() as u64 >= expected || got == 0 {
            break;
        }
        if page >= 1000 {
            bail!("{what}: more than 1000 pages; giving up");
        }
    }
    let expected = total.unwrap_or(0);
    if all.len() as u64 != expected {
        bail!(
            "GitHub said run {run} has {expected} artifacts but listed {}; the list changed while \
             it was read, or a page was lost; run the gate again",
            all.len()
        );
    }
    Ok(all)
}

enum Download {
    Zip(Vec<u8>),
    /// 410: the artifact has expired.
    Gone,
    /// A definite answer that is not evidence.
    Refused(String),
}

/// Downloads an artifact; a body that breaks off is downloaded again from the start (through
/// the API, as a storage URL may be signed for a short time), within the retry budget.
async fn download(client: &Client, route: &str, cap: u64) -> Result<Download> {
    let what = format!("downloading {}", client.shown(route));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match download_once(client, route, cap, &what).await? {
            Ok(download) => return Ok(download),
            Err(BrokeOff { url, why }) => {
                let wait = client.backoff(attempt);
                client.pause(&what, &url, attempt, wait, &why).await?;
            }
        }
    }
}

/// A body that ended before it was whole: where it came from and what the connection said.
struct BrokeOff {
    url: String,
    why: String,
}

/// One try at a download: its outcome, or a body that broke off.
async fn download_once(
    client: &Client,
    route: &str,
    cap: u64,
    what: &str,
) -> Result<Result<Download, BrokeOff>> {
    let mut url = route.to_string();
    let mut resp = client.get(&client.api, route, what).await?;
    let mut hops = 0;
    let mut host = "GitHub";
    while resp.status().is_redirection() {
        let Some(location) = resp
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            let why = format!(
                "the download answered HTTP {} without a Location",
                resp.status()
            );
            return Ok(Ok(Download::Refused(why)));
        };
        hops += 1;
        if hops > MAX_REDIRECTS
            || !(location.starts_with("https://") || location.starts_with("http://"))
        {
            let why = "the download redirected too often or to something that is not a URL";
            return Ok(Ok(Download::Refused(why.into())));
        }
        host = "the storage host";
        resp = client.get(&client.storage, &location, what).await?;
        url = location;
    }
    let status = resp.status();
    if status == StatusCode::GONE {
        return Ok(Ok(Download::Gone));
    }
    if !status.is_success() {
        let body = read_body(resp, 4096).await.unwrap_or_default();
        let why = format!(
            "{host} answered HTTP {status} to the download: {}",
            evidence::excerpt(&body, 200)
        );
        return Ok(Ok(Download::Refused(why)));
    }
    Ok(match read_body(resp, cap).await {
        Ok(bytes) => Ok(Download::Zip(bytes)),
        Err(BodyError::TooBig(e)) => Ok(Download::Refused(format!(
            "the download {e} (--max-artifact-size; raise it if the artifact is genuine)"
        ))),
        Err(BodyError::BrokeOff(why)) => Err(BrokeOff {
            url: client.shown(&url),
            why,
        }),
    })
}
