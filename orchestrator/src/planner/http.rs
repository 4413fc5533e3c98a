//! HTTP for the API backends: one JSON POST with a timeout, retried with
//! backoff after a 429, a 5xx or a connection error.
//!
//! Guarantees: every request has a timeout; a timed-out request is not
//! retried (a backend that hangs once is left for the next one); `Retry-After`
//! (seconds) is honoured up to [`MAX_RETRY_AFTER`]; other 4xx answers are not
//! retried; an answer larger than [`MAX_ANSWER`] is refused. Error texts carry
//! the status and at most 300 characters of the body, never the request
//! headers (where the keys are).

use super::BackendError;
use std::time::Duration;

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Largest answer read from a backend.
pub const MAX_ANSWER: u64 = 4 << 20;

/// Longest error body quoted in messages.
const MAX_ERROR_BODY: usize = 300;

/// How one backend talks HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries after a 429, a 5xx or a connection error.
    pub retries: u32,
    /// Delay before the first retry, doubled each time.
    pub backoff: Duration,
}

/// POST `body` as JSON to `url` and parse the answer as JSON.
pub fn post_json(
    url: &str,
    headers: &[(&str, String)],
    body: &serde_json::Value,
    opts: &HttpOptions,
) -> Result<serde_json::Value, BackendError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout.min(Duration::from_secs(30)))
        .build()
        .map_err(|e| BackendError::Transport(format!("cannot build an HTTP client: {e}")))?;
    let mut attempt = 0u32;
    loop {
        let mut req = client.post(url).json(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let (err, retry_after) = match req.send() {
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                let text = read_capped(resp).map_err(|e| BackendError::Transport(format!("{url}: {e}")))?;
                if status.is_success() {
                    return serde_json::from_str(&text).map_err(|e| {
                        BackendError::BadResponse(format!("{url}: the answer is not JSON ({e}): {}", clip(&text)))
                    });
                }
                let err = BackendError::Http { url: url.to_string(), status: status.as_u16(), body: clip(&text) };
                if !(status.as_u16() == 429 || status.is_server_error()) {
                    return Err(err);
                }
                (err, retry_after)
            }
            Err(e) if e.is_timeout() => {
                return Err(BackendError::Timeout { url: url.to_string(), after: opts.timeout });
            }
            Err(e) => (transport(url, &e), None),
        };
        if attempt >= opts.retries {
            return Err(err);
        }
        let delay = retry_after.unwrap_or_else(|| opts.backoff.saturating_mul(1u32 << attempt.min(16)));
        tracing::info!("planner: {err}; retrying in {delay:?}");
        std::thread::sleep(delay);
        attempt += 1;
    }
}

/// Why an answer's body was not read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("reading the answer: {0}")]
    Read(std::io::Error),
    #[error("the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

/// The body as text, refusing more than [`MAX_ANSWER`] bytes.
fn read_capped(resp: reqwest::blocking::Response) -> Result<String, BodyError> {
    use std::io::Read;
    let mut buf = Vec::new();
    resp.take(MAX_ANSWER + 1).read_to_end(&mut buf).map_err(BodyError::Read)?;
    if buf.len() as u64 > MAX_ANSWER {
        return Err(BodyError::TooLarge);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn transport(url: &str, e: &reqwest::Error) -> BackendError {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    BackendError::Transport(format!("{url}: {msg}"))
}

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_ERROR_BODY {
        return s.to_string();
    }
    let mut end = MAX_ERROR_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
