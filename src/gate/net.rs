//! The gate's HTTP, below `github.rs`: the one place that builds its two clients (the API's,
//! holding the token, and the storage host's, holding none), and that every request goes
//! through.
//!
//! A GET is retried while its answer is transient (5xx, 429, 403 with rate-limit headers, a
//! connection that fails before an answer), waiting as long as `Retry-After` or
//! `X-RateLimit-Reset` asks and otherwise backing off exponentially, within one budget of
//! waiting for the whole run; past it, the gate could not decide. Bodies are read frame by
//! frame under a cap, and a body that breaks off before its end is transient too: `get_whole`
//! asks again, and `github.rs` downloads again, under the same budget. Messages name the URL
//! tried, never the token, and a storage URL without its query (it may hold a signature).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;

/// What octocrab hands back as a response body.
pub(super) type Body = http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>;

/// The longest single wait between retries when the server does not say.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Both HTTP clients, and the one budget of waiting their retries share.
pub(super) struct Client {
    /// The API base, to show the URL a failed request went to.
    api_url: String,
    pub(super) api: Octocrab,
    /// No token: the storage host behind the redirect never sees it.
    pub(super) storage: Octocrab,
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

impl Client {
    /// The API client (with the token) for `api_url` and the storage client (without it).
    pub(super) fn connect(
        api_url: &str,
        token: &str,
        budget: Duration,
        delay: Duration,
    ) -> Result<Client> {
        let api = builder()
            .base_uri(api_url)
            .with_context(|| format!("{api_url:?} is not a usable API URL"))?
            .personal_token(token.to_string())
            .build()
            .context("cannot set up the GitHub client")?;
        let storage = builder()
            .build()
            .context("cannot set up the download client")?;
        Ok(Client {
            api_url: api_url.trim_end_matches('/').to_string(),
            api,
            storage,
            started: Instant::now(),
            budget,
            delay,
        })
    }

    /// GET with retries of transient failures, within the run's waiting budget.
    pub(super) async fn get(
        &self,
        via: &Octocrab,
        uri: &str,
        what: &str,
    ) -> Result<http::Response<Body>> {
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

    /// An API GET whose body is read whole (at most `cap` bytes), asked again when the body
    /// breaks off.
    pub(super) async fn get_whole(
        &self,
        route: &str,
        what: &str,
        cap: u64,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let resp = self.get(&self.api, route, what).await?;
            let status = resp.status();
            match read_body(resp, cap).await {
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
    pub(super) async fn pause(
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
    pub(super) fn shown(&self, uri: &str) -> String {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            uri.split('?').next().unwrap_or(uri).to_string()
        } else {
            format!("{}{uri}", self.api_url)
        }
    }

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
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

/// Why a body was not read.
pub(super) enum BodyError {
    /// It is bigger than the cap: a definite answer.
    TooBig(String),
    /// The connection ended before the body did: transient, worth another try.
    BrokeOff(String),
}

/// Reads a body of at most `cap` bytes, never holding more than that.
pub(super) async fn read_body(resp: http::Response<Body>, cap: u64) -> Result<Vec<u8>, BodyError> {
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

/// An error and its causes on one line (octocrab's own message hides why a connection failed).
pub(super) fn with_causes(e: &dyn std::error::Error) -> String {
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
