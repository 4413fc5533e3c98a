//! The `tlog-witness` client: submit a checkpoint with a consistency proof,
//! get the witness's cosignature line(s).
//!
//! Guarantees: [`add_checkpoint`] returns lines only for a `200` whose body
//! is one or more note signature lines (it does not verify them: that needs
//! the witness's key, see [`super::WitnessVerifier`]); a `409` carrying the
//! witness's size (`text/x.tlog.size`) is [`ClientError::Conflict`]. [`push`]
//! retries such a conflict once, from the size the witness reported, with a
//! proof the caller builds for that size; a witness ahead of the log (a
//! rollback) or a fork is an error, never a retry loop.

use super::request::{AddCheckpoint, PATH, SIZE_CONTENT_TYPE};
use crate::merkle::Hash;
use std::time::Duration;

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The witness could not be reached.
    #[error("witness {url}: unreachable: {reason}")]
    Unreachable {
        /// The witness.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// 409 with the witness's size: the old size was not the witness's.
    #[error("witness {url}: it has cosigned size {size}, not the old size sent")]
    Conflict {
        /// The witness.
        url: String,
        /// The size the witness cosigned last.
        size: u64,
    },
    /// Any other refusal.
    #[error("witness {url}: {status} {}", reason.trim_end())]
    Refused {
        /// The witness.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The witness's explanation.
        reason: String,
    },
    /// A 200 whose body is not signature lines.
    #[error("witness {url}: the answer is not cosignature lines")]
    BadAnswer {
        /// The witness.
        url: String,
    },
    /// The witness has cosigned more of the log than the log now holds.
    #[error(
        "witness {url}: it has cosigned {witness} records of this log, which now has {log}: the log was truncated or rolled back"
    )]
    Rollback {
        /// The witness.
        url: String,
        /// The witness's size.
        witness: u64,
        /// The log's checkpoint size.
        log: u64,
    },
    /// The caller could not build the proof for the witness's size.
    #[error("witness {url}: cannot build a consistency proof from {old}: {reason}")]
    Proof {
        /// The witness.
        url: String,
        /// The old size.
        old: u64,
        /// Why.
        reason: String,
    },
}

/// POST `<url>/add-checkpoint`: returns the cosignature line(s).
pub fn add_checkpoint(url: &str, old: u64, proof: &[Hash], note: &str) -> Result<String, ClientError> {
    let base = url.trim_end_matches('/').to_string();
    let body = AddCheckpoint { old, proof: proof.to_vec(), note: note.to_string() }.encode();
    let target = format!("{base}{PATH}");
    // reqwest's blocking client must not run inside an async runtime: a
    // thread of its own keeps this callable from anywhere.
    let answer = std::thread::scope(|s| {
        s.spawn(|| {
            let unreachable = |e: reqwest::Error| ClientError::Unreachable { url: base.clone(), reason: chain(&e) };
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(unreachable)?;
            let resp = client.post(&target).body(body).send().map_err(unreachable)?;
            let status = resp.status().as_u16();
            let ctype = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = resp.text().map_err(unreachable)?;
            Ok((status, ctype, text))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ClientError::Unreachable { url: base.clone(), reason: "the request thread panicked".into() })
        })
    });
    let (status, ctype, text) = answer?;
    match status {
        200 => {
            let lines_ok = !text.is_empty()
                && text.ends_with('\n')
                && text[..text.len() - 1].split('\n').all(|l| l.starts_with("\u{2014} ") && l.len() < 4096);
            if lines_ok { Ok(text) } else { Err(ClientError::BadAnswer { url: base }) }
        }
        409 if ctype.split(';').next().is_some_and(|t| t.trim() == SIZE_CONTENT_TYPE) => {
            match text.strip_suffix('\n').and_then(super::note::parse_decimal) {
                Some(size) => Err(ClientError::Conflict { url: base, size }),
                None => Err(ClientError::BadAnswer { url: base }),
            }
        }
        _ => Err(ClientError::Refused { url: base, status, reason: text.chars().take(500).collect() }),
    }
}

/// What [`push`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The old size the cosignature was obtained from.
    pub old: u64,
    /// The cosignature line(s).
    pub lines: String,
}

/// Submit `note` (a checkpoint of `size` records) starting from old size
/// `old`; on a conflict, once more from the witness's size with the proof
/// `prove(witness size)` builds (called only with `0 < old <= size`; old 0
/// needs no proof).
pub fn push<E: std::fmt::Display>(
    url: &str,
    note: &str,
    size: u64,
    old: u64,
    mut prove: impl FnMut(u64) -> Result<Vec<Hash>, E>,
) -> Result<Pushed, ClientError> {
    let mut proof_for = |old: u64| -> Result<Vec<Hash>, ClientError> {
        if old == 0 {
            return Ok(Vec::new());
        }
        if old > size {
            return Err(ClientError::Rollback { url: url.to_string(), witness: old, log: size });
        }
        prove(old).map_err(|e| ClientError::Proof { url: url.to_string(), old, reason: e.to_string() })
    };
    let first = proof_for(old)?;
    match add_checkpoint(url, old, &first, note) {
        Ok(lines) => Ok(Pushed { old, lines }),
        Err(ClientError::Conflict { size: theirs, .. }) => {
            let proof = proof_for(theirs)?;
            add_checkpoint(url, theirs, &proof, note).map(|lines| Pushed { old: theirs, lines })
        }
        Err(e) => Err(e),
    }
}

/// An error with its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
