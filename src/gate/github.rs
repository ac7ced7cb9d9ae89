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
//! - its retry layer knows nothing of rate limits, so transient answers (5xx, 429, 403 with
//!   rate-limit headers, connection errors, a body that breaks off before its end) are retried
//!   here, honouring `Retry-After` and `X-RateLimit-Reset`, within one total budget of waiting
//!   for the whole run.
//!
//! Failing to list the artifacts, or a download still failing transiently when the budget is
//! spent, means the gate could not decide (exit 2). A definite answer about one artifact (404,
//! 410, not a zip, too big) is that cell's status instead.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;

use super::archive;
use super::evidence::{self, GatheredEvidence, ARTIFACT_PREFIX};
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

/// What octocrab hands back as a response body.
type Body = http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>;

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
/// The longest single wait between retries when the server does not say.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
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

struct Client {
    /// The API base, to show the URL a failed request went to.
    api_url: String,
    api: Octocrab,
    /// No token: the storage host behind the redirect never sees it.
    storage: Octocrab,
    started: Instant,
    budget: Duration,
    delay: Duration,
}

fn builder() -> octocrab::OctocrabBuilder<
    octocrab::NoSvc,
    octocrab::DefaultOctocrabBuilderConfig,
    octocrab::NoAuth,
    octocrab::NotLayerReady,
> {
    Octocrab::builder()
        .set_connect_timeout(Some(Duration::from_secs(30)))
        .set_read_timeout(Some(Duration::from_secs(120)))
}

async fn fetch_async(cfg: &FetchSettings<'_>) -> Result<GatheredEvidence> {
    let api = builder()
        .base_uri(cfg.api_url)
        .with_context(|| format!("{:?} is not a usable API URL", cfg.api_url))?
        .personal_token(cfg.token.clone())
        .build()
        .context("cannot set up the GitHub client")?;
    let storage = builder()
        .build()
        .context("cannot set up the download client")?;
    let client = Client {
        api_url: cfg.api_url.trim_end_matches('/').to_string(),
        api,
        storage,
        started: Instant::now(),
        budget: cfg.retry_budget,
        delay: cfg.retry_delay,
    };
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
        let (status, body) = client.get_whole(&route, &what).await?;
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

/// Why a body was not read.
enum BodyError {
    /// It is bigger than the cap: a definite answer.
    TooBig(String),
    /// The connection ended before the body did: transient, worth another try.
    BrokeOff(String),
}

/// Reads a body of at most `cap` bytes, never holding more than that.
async fn read_body(resp: http::Response<Body>, cap: u64) -> Result<Vec<u8>, BodyError> {
    let declared = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > cap) {
        return Err(BodyError::TooBig(format!(
            "is {n} bytes, over the {cap}-byte cap"
        )));
    }
    let mut body = resp.into_body();
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| BodyError::BrokeOff(format!("the body broke off: {}", with_causes(&e))))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > cap {
                return Err(BodyError::TooBig(format!("is over the {cap}-byte cap")));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

impl Client {
    /// GET with retries of transient failures, within the run's waiting budget.
    async fn get(&self, via: &Octocrab, uri: &str, what: &str) -> Result<http::Response<Body>> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (wait, last) = match via._get(uri.to_string()).await {
                Ok(resp) => match self.transient_wait(resp.status(), resp.headers(), attempt) {
                    None => return Ok(resp),
                    Some(wait) => (wait, format!("HTTP {}", resp.status())),
                },
                Err(e) => (self.backoff(attempt), with_causes(&e)),
            };
            self.pause(what, &self.shown(uri), attempt, wait, &last)
                .await?;
        }
    }

    /// An API GET whose body is read whole (at most `MAX_PAGE_BYTES`), asked again when the
    /// body breaks off.
    async fn get_whole(&self, route: &str, what: &str) -> Result<(StatusCode, Vec<u8>)> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let resp = self.get(&self.api, route, what).await?;
            let status = resp.status();
            match read_body(resp, MAX_PAGE_BYTES).await {
                Ok(body) => return Ok((status, body)),
                Err(BodyError::TooBig(e)) => bail!("{what}: the answer {e}"),
                Err(BodyError::BrokeOff(why)) => {
                    let wait = self.backoff(attempt);
                    self.pause(what, &self.shown(route), attempt, wait, &why)
                        .await?
                }
            }
        }
    }

    /// Waits `wait` before trying `url` again, or gives up when that would pass the budget.
    async fn pause(
        &self,
        what: &str,
        url: &str,
        attempt: u32,
        wait: Duration,
        last: &str,
    ) -> Result<()> {
        let left = self.budget.saturating_sub(self.started.elapsed());
        if wait > left {
            bail!(
                "{what}: gave up after {attempt} attempt(s) of GET {url}; the last failure was \
                 {last}, and waiting {} more would pass the retry budget of {} (--retry-budget); \
                 check the URL and the network, then run the gate again",
                humantime::format_duration(round(wait)),
                humantime::format_duration(self.budget)
            );
        }
        eprintln!(
            "gate: {what}: GET {url}: {last}; retrying in {}",
            humantime::format_duration(round(wait))
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The URL a request goes to, as shown in messages: an API route with the API base in
    /// front; a storage URL without its query, which may carry a signature.
    fn shown(&self, uri: &str) -> String {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            uri.split('?').next().unwrap_or(uri).to_string()
        } else {
            format!("{}{uri}", self.api_url)
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_BACKOFF)
    }

    /// How long to wait before retrying this answer, or None when it is not transient.
    fn transient_wait(&self, status: StatusCode, h: &HeaderMap, attempt: u32) -> Option<Duration> {
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let rate_limited = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        let transient = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN && (rate_limited || retry_after.is_some()));
        if !transient {
            return None;
        }
        if let Some(secs) = retry_after {
            return Some(Duration::from_secs(secs));
        }
        if rate_limited {
            if let Some(reset) =
                header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok())
            {
                let now = jiff::Timestamp::now().as_second();
                return Some(Duration::from_secs((reset - now).max(0) as u64 + 1));
            }
        }
        Some(self.backoff(attempt))
    }
}

/// An error and its causes on one line (octocrab's own message hides why a connection failed).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s = format!("{s}: {text}");
        }
        cause = c.source();
    }
    s
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
