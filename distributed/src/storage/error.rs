//! What can go wrong with a blob store, each error one line naming the store
//! (its [`super::Blobs::describe`], never credentials) and the cause.
//!
//! An object_store error is sorted here into *unreachable* (transport
//! failures and 5xx/429/408 answers: object_store has retried them already,
//! per [`super::Retry`]), *refused* (a 4xx answer: missing bucket, bad
//! credentials, access denied; never retried) and *failed* (anything else). The cause is
//! condensed to one line: an S3 error document gives its `Code: Message`, a
//! transport failure its innermost error.

use super::Blob;
use std::path::PathBuf;

/// A blob store failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage URL is not one [`super::Blobs::open`] accepts.
    #[error("storage URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An S3 store without credentials (AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, or [`super::Options::credentials`]).
    #[error("{store}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials {
        /// The store.
        store: String,
    },
    /// A blob's hash is not 64 lowercase hex digits (a message from the
    /// network named something that cannot be a blob).
    #[error("not a blob hash (64 lowercase hex digits): {value:?}")]
    BadHash {
        /// The offending string (at most 80 characters of it).
        value: String,
    },
    /// The store could not be reached, or kept failing, through every try.
    #[error("{store}: unreachable ({tries} tries in {elapsed_ms} ms): {cause}")]
    Unreachable {
        /// The store.
        store: String,
        /// How many times the last request was tried.
        tries: u32,
        /// How long the operation took, in milliseconds.
        elapsed_ms: u128,
        /// The last failure, on one line.
        cause: String,
    },
    /// The store answered with a refusal (missing bucket, bad credentials,
    /// access denied, …); not retried.
    #[error("{store}: refused: {cause}")]
    Refused {
        /// The store.
        store: String,
        /// The service's answer, on one line.
        cause: String,
    },
    /// The store failed otherwise (an answer object_store could not make
    /// sense of, a wrong region's redirect, …); not retried.
    #[error("{store}: {cause}")]
    Failed {
        /// The store.
        store: String,
        /// What happened, on one line.
        cause: String,
    },
    /// The store does not hold the blob.
    #[error("{store}: blob {blob} is missing")]
    Missing {
        /// The store.
        store: String,
        /// The blob asked for.
        blob: Blob,
    },
    /// The store holds other content under the blob's key.
    #[error("{store}: blob {blob} is corrupt: the stored content is {got}")]
    Corrupt {
        /// The store.
        store: String,
        /// The blob asked for.
        blob: Blob,
        /// What the store holds instead (its size or its hash).
        got: String,
    },
    /// The blob is larger than the caller accepts.
    #[error("blob {blob} is larger than the {max} bytes accepted")]
    TooLarge {
        /// The blob asked for.
        blob: Blob,
        /// The limit.
        max: u64,
    },
    /// A file changed while it was being uploaded (its content no longer
    /// has the hash it was stored under; the upload was abandoned).
    #[error("{}: changed while it was uploaded", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store's async runtime could not be created.
    #[error("cannot start the storage runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl StorageError {
    /// Whether the error is [`StorageError::Unreachable`] (worth trying
    /// again later, unlike a refusal).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StorageError::Unreachable { .. })
    }
}

/// Sorts an object_store error.
pub(crate) fn classify(store: &str, started: std::time::Instant, error: &object_store::Error) -> StorageError {
    let chain = chain_text(error);
    let cause = cause(error, &chain);
    let store = store.to_string();
    match kind(error, &chain) {
        Kind::Transient => {
            // object_store retried the request (its message says how often).
            let tries = chain.iter().find_map(|t| retries(t)).map_or(1, |n| n.saturating_add(1));
            StorageError::Unreachable { store, tries, elapsed_ms: started.elapsed().as_millis(), cause }
        }
        Kind::Refused => StorageError::Refused { store, cause },
        Kind::Other => StorageError::Failed { store, cause },
    }
}

enum Kind {
    /// No answer, or a 5xx/429/408 one (retried by object_store).
    Transient,
    /// A 4xx answer.
    Refused,
    Other,
}

fn kind(error: &object_store::Error, chain: &[String]) -> Kind {
    if matches!(
        error,
        object_store::Error::NotFound { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }
    ) {
        return Kind::Refused;
    }
    match status(chain) {
        Some(s) if s >= 500 || s == 429 || s == 408 => Kind::Transient,
        Some(s) if (400..500).contains(&s) => Kind::Refused,
        Some(_) => Kind::Other,
        // object_store's transport failures (connect, reset, timeout) read
        // `HTTP error: …`.
        None if chain.iter().any(|t| t.contains("HTTP error")) => Kind::Transient,
        None => Kind::Other,
    }
}

/// The Display of every error in the chain, outermost first.
fn chain_text(error: &object_store::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// `503 Service Unavailable` from object_store's `status code: 503 Service
/// Unavailable: body`.
fn status_line(chain: &[String]) -> Option<String> {
    chain.iter().find_map(|text| {
        let at = text.find("status code: ")? + "status code: ".len();
        let rest = &text[at..];
        Some(rest[..rest.find(':').unwrap_or(rest.len())].trim().to_string())
    })
}

/// `after N retries` in object_store's message.
fn retries(text: &str) -> Option<u32> {
    let at = text.find("after ")? + "after ".len();
    let rest = &text[at..];
    let digits = rest.find(" retries").map(|end| &rest[..end])?;
    digits.parse().ok()
}

/// The HTTP status object_store reports (`non-2xx status code: NNN`).
fn status(chain: &[String]) -> Option<u16> {
    chain.iter().find_map(|text| {
        let at = text.find("status code: ")? + "status code: ".len();
        text.get(at..at + 3)?.parse().ok()
    })
}

fn cause(error: &object_store::Error, chain: &[String]) -> String {
    let all = chain.join(" ");
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = all.find(&open)? + open.len();
        let end = all[start..].find(&format!("</{name}>"))? + start;
        Some(all[start..end].trim().to_string())
    };
    let text = match (tag("Code"), tag("Message"), status(chain)) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code,
        (None, _, Some(_)) => {
            let line = status_line(chain).unwrap_or_default();
            match error {
                object_store::Error::NotFound { .. } => format!("HTTP {line} (not found)"),
                object_store::Error::PermissionDenied { .. } => format!("HTTP {line} (access denied)"),
                object_store::Error::Unauthenticated { .. } => format!("HTTP {line} (not authenticated)"),
                _ => format!("HTTP {line}"),
            }
        }
        // The innermost error says what happened (connection refused, …).
        (None, _, None) => {
            let inner = chain.last().cloned().unwrap_or_default();
            match chain.iter().find_map(|t| method(t)) {
                Some(method) => format!("{method} request: {inner}"),
                None => inner,
            }
        }
    };
    one_line(&text)
}

/// The method object_store names (`Error performing HEAD …`).
fn method(text: &str) -> Option<&str> {
    let at = text.find("performing ")? + "performing ".len();
    let word = text[at..].split(' ').next()?;
    (!word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase())).then_some(word)
}

fn one_line(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > 400 {
        let mut cut = 400;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}
