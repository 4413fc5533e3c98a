//! Strict YAML loading shared by policies, plans and the project config.
//!
//! Guarantees: every error is one line, `origin:line:col: message` when the
//! position is known; unknown fields are rejected by the types themselves
//! (`deny_unknown_fields`), never ignored here.

use serde::de::DeserializeOwned;
use std::fmt;

/// A document that could not be loaded. Rendered as one line: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LocatedError {
    /// The file (or `preset:NAME`, `<intent>`) the document came from.
    pub origin: String,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
}

impl LocatedError {
    /// An error at a known position (or none).
    pub fn new(origin: &str, position: Option<(u64, u64)>, message: impl Into<String>) -> Self {
        LocatedError { origin: origin.to_string(), position, message: message.into() }
    }
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{}:{}: {}", self.origin, l, c, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// Parse YAML text into `T`, turning parser errors into located one-line errors.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, LocatedError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let position = e.location().map(|l| (l.line(), l.column()));
        LocatedError::new(origin, position, one_line(&e.to_string()))
    })
}

/// The position of a span, if the parser recorded one.
pub fn position(loc: &serde_saphyr::Location) -> Option<(u64, u64)> {
    (loc.line() > 0).then(|| (loc.line(), loc.column()))
}

/// Reduce a possibly multi-line parser message (with snippets) to its first
/// meaningful line, without a location suffix the prefix already carries.
pub fn one_line(msg: &str) -> String {
    let mut first = msg.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid document");
    // Some messages start with "error: line X column Y: "; the prefix already carries it.
    if let Some(rest) = first.strip_prefix("error: line ")
        && let Some(i) = rest.find(": ")
    {
        first = &rest[i + 2..];
    }
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}
