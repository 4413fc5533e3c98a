//! The body of a C2SP `tlog-witness` `add-checkpoint` request:
//!
//! ```text
//! old <size the client believes the witness has cosigned>\n
//! <consistency proof hash, base64>\n      (0 to 63 lines)
//! \n
//! <checkpoint note>
//! ```
//!
//! Guarantees: [`AddCheckpoint::parse`] accepts exactly that (canonical
//! decimal, canonical base64 of 32 bytes per proof line, at most
//! [`MAX_PROOF`] lines); it does not look inside the note.

use super::note::{parse_decimal, parse_hash};
use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// At most this many proof lines.
pub const MAX_PROOF: usize = 63;

/// The path below the witness's submission prefix.
pub const PATH: &str = "/add-checkpoint";

/// The content type of a `409 Conflict` that carries the witness's size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint the witness cosigned (0 if none).
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, with the log's signature(s).
    pub note: String,
}

/// Why a request body is malformed (`400 Bad Request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not UTF-8.
    #[error("the request body is not UTF-8")]
    Utf8,
    /// The first line.
    #[error("the first line is not `old <size>`")]
    Old,
    /// A proof line.
    #[error("proof line {0} is not the base64 of a 32-byte hash")]
    Proof(usize),
    /// Too many proof lines.
    #[error("more than {MAX_PROOF} proof lines")]
    ProofLength,
    /// No empty line before the checkpoint.
    #[error("no empty line before the checkpoint")]
    NoCheckpoint,
}

impl AddCheckpoint {
    /// The request body.
    pub fn encode(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    /// Parse a request body.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, RequestError> {
        let text = std::str::from_utf8(body).map_err(|_| RequestError::Utf8)?;
        let (first, mut rest) = text.split_once('\n').ok_or(RequestError::Old)?;
        let old = first.strip_prefix("old ").and_then(parse_decimal).ok_or(RequestError::Old)?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or(RequestError::NoCheckpoint)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF {
                return Err(RequestError::ProofLength);
            }
            proof.push(parse_hash(line).ok_or(RequestError::Proof(proof.len() + 1))?);
        }
        Ok(AddCheckpoint { old, proof, note: rest.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_malformed_ones_are_refused() {
        let r = AddCheckpoint { old: 20, proof: vec![[1; 32], [2; 32]], note: "o\n3\nx\n\n\u{2014} k AAAA\n".into() };
        assert_eq!(AddCheckpoint::parse(r.encode().as_bytes()), Ok(r.clone()));
        let empty = AddCheckpoint { old: 0, proof: vec![], note: "n".into() };
        assert_eq!(empty.encode(), "old 0\n\nn");
        assert_eq!(AddCheckpoint::parse(b"old 0\n\nn"), Ok(empty));
        assert_eq!(AddCheckpoint::parse(b"old 01\n\nn"), Err(RequestError::Old));
        assert_eq!(AddCheckpoint::parse(b"new 1\n\nn"), Err(RequestError::Old));
        assert_eq!(AddCheckpoint::parse(b"old 1\nAAAA\n\nn"), Err(RequestError::Proof(1)));
        assert_eq!(AddCheckpoint::parse(b"old 1\n"), Err(RequestError::NoCheckpoint));
        assert_eq!(AddCheckpoint::parse(b"old 1\xff\n\n"), Err(RequestError::Utf8));
        let long = format!("old 1\n{}\nn", format!("{}\n", B64.encode([0u8; 32])).repeat(64));
        assert_eq!(AddCheckpoint::parse(long.as_bytes()), Err(RequestError::ProofLength));
    }
}
