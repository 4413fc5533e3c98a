//! Asking a TSA over HTTP (RFC 3161 §3.4): POST the DER request as
//! `application/timestamp-query`, take the DER response, and keep it only if
//! it is granted, for this note, with this request's nonce, and signed by
//! the certificate it carries ([`super::verify`] without a trust anchor:
//! whether that certificate is trusted is the verifier's question).

use super::{Request, TimestampError, TokenInfo};
use std::path::PathBuf;
use std::time::Duration;

/// Why a checkpoint could not be timestamped.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    /// The URL is not an `http://` or `https://` URL.
    #[error("TSA {0:?}: want an http:// or https:// URL")]
    Url(String),
    /// No answer (connection refused, timeout, ...).
    #[error("TSA {url}: unreachable: {reason}")]
    Unreachable {
        /// The TSA.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// An HTTP answer that is not a timestamp reply.
    #[error("TSA {url}: HTTP {status}")]
    Http {
        /// The TSA.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A reply that is not a usable timestamp of the note.
    #[error("TSA {url}: {source}")]
    Token {
        /// The TSA.
        url: String,
        /// What is wrong with it.
        source: TimestampError,
    },
    /// The reply could not be stored.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
}

/// Check a TSA URL.
pub fn check_url(url: &str) -> Result<(), StampError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(StampError::Url(url.to_string())),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(": {x}"));
        src = x.source();
    }
    s
}

/// POST `req` to the TSA at `url`; the DER reply.
pub fn post(url: &str, req: &Request) -> Result<Vec<u8>, StampError> {
    check_url(url)?;
    let body = req.der.clone();
    let unreachable = |e: &dyn std::error::Error| StampError::Unreachable { url: url.to_string(), reason: chain(e) };
    // reqwest's blocking client must not run inside an async runtime: a
    // thread of its own keeps this callable from anywhere.
    std::thread::scope(|s| {
        s.spawn(|| {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| unreachable(&e))?;
            let resp = client
                .post(url)
                .header("content-type", super::QUERY_MEDIA_TYPE)
                .header("accept", super::REPLY_MEDIA_TYPE)
                .body(body)
                .send()
                .map_err(|e| unreachable(&e))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(StampError::Http { url: url.to_string(), status });
            }
            Ok(resp.bytes().map_err(|e| unreachable(&e))?.to_vec())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(StampError::Unreachable { url: url.to_string(), reason: "the request thread panicked".into() })
        })
    })
}

/// Timestamp the checkpoint `note` (of `size` records) of the log in `log`
/// at the TSA `url`, and store the reply beside the segments.
pub fn stamp(log: &std::path::Path, size: u64, note: &str, url: &str) -> Result<(PathBuf, TokenInfo), StampError> {
    check_url(url)?;
    let token = |source| StampError::Token { url: url.to_string(), source };
    let req = super::request(note.as_bytes()).map_err(token)?;
    let reply = post(url, &req)?;
    let info = super::verify(&reply, note.as_bytes(), None, Some(&req.nonce)).map_err(token)?;
    let path = super::store::save(log, size, note, &reply)?;
    Ok((path, info))
}
