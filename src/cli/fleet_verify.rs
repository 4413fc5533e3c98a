//! `orchestra audit verify --fleet DIR [--fleet-key KEY] [--fleet-strict]`:
//! the run's `remote_result` records against the workers' own audit logs.
//!
//! The checks are [`crate::audit::fleet`]'s; this module parses the flags,
//! puts the first fleet failure into the run's verdict (so the exit code is
//! the one every verification failure has: 4) and prints the summary. A
//! `--fleet` directory that holds no log, or a key that does not parse, is a
//! usage error (1), never a pass.

use crate::audit::fleet::{self, FleetError, FleetOptions, FleetReport, RemoteResult};
use crate::audit::keys::{KeyParseError, VerifierKey};
use crate::audit::verify::VerifyReport;
use std::path::PathBuf;

/// What `audit verify` was given for the fleet check.
#[derive(Debug, Default)]
pub struct FleetArgs {
    /// `--fleet DIR`, in order.
    pub dirs: Vec<PathBuf>,
    /// `--fleet-key KEY` (a key string, or a file holding one).
    pub keys: Vec<String>,
    /// `--fleet-strict`.
    pub strict: bool,
}

/// Why the fleet flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetArgError {
    /// A `--fleet-key` file could not be read.
    #[error("--fleet-key {arg}: {source}")]
    Read {
        /// The argument.
        arg: String,
        /// Why.
        source: std::io::Error,
    },
    /// A private key was given.
    #[error(
        "--fleet-key {0} is a private key; pass the worker host's public key (`.pub`) and keep the private key secret"
    )]
    Private(String),
    /// Not a key string.
    #[error("--fleet-key {arg}: {error}")]
    Key {
        /// The argument.
        arg: String,
        /// Why.
        error: KeyParseError,
    },
    /// The check could not be carried out (a directory without a log, I/O).
    #[error("--fleet {0}")]
    Fleet(#[from] FleetError),
}

impl FleetArgs {
    /// Whether the fleet check was asked for.
    pub fn wanted(&self) -> bool {
        !self.dirs.is_empty()
    }

    /// The pinned keys: a key string, or a file whose (trimmed) text is one.
    fn parse_keys(&self) -> Result<Vec<VerifierKey>, FleetArgError> {
        self.keys
            .iter()
            .map(|arg| {
                let text = if std::path::Path::new(arg).is_file() {
                    std::fs::read_to_string(arg).map_err(|source| FleetArgError::Read { arg: arg.clone(), source })?
                } else {
                    arg.clone()
                };
                if text.starts_with("PRIVATE+KEY+") {
                    return Err(FleetArgError::Private(arg.clone()));
                }
                VerifierKey::parse(text.trim()).map_err(|error| FleetArgError::Key { arg: arg.clone(), error })
            })
            .collect()
    }

    /// Check `results` (the run log's authenticated `remote_result` records)
    /// and put the verdict into `report`.
    pub fn judge(
        &self,
        report: &mut VerifyReport,
        results: &[RemoteResult],
        allow_unsigned_tail: bool,
    ) -> Result<FleetReport, FleetArgError> {
        let opts = FleetOptions {
            dirs: self.dirs.clone(),
            keys: self.parse_keys()?,
            strict: self.strict,
            allow_unsigned_tail,
        };
        let fleet = fleet::check(results, &opts)?;
        fleet.judge(report);
        Ok(fleet)
    }

    /// Check the flags before anything is verified (a usage error first).
    pub fn validate(&self) -> Result<(), FleetArgError> {
        self.parse_keys()?;
        fleet::index(&self.dirs)?;
        Ok(())
    }
}

/// The summary `audit verify --fleet` prints after the run log's report.
pub fn summary(f: &FleetReport) -> String {
    let mut out = format!(
        "fleet: {} remote result(s), {} confirmed by {} worker log(s){}\n",
        f.results,
        f.confirmed,
        f.logs.len(),
        match f.unlinked {
            0 => String::new(),
            n => format!(", {n} naming no worker log"),
        }
    );
    for l in &f.logs {
        let key = l.trusted_key.as_deref().map(|k| format!(", pinned key {k}")).unwrap_or_default();
        let verdict = match &l.first_error {
            None if l.verdict == "ok" => "INTACT".to_string(),
            None => "NOT SIGNED BY A PINNED KEY".to_string(),
            Some(e) => format!("VERIFICATION FAILED [{}]", e.code),
        };
        out.push_str(&format!(
            "  worker log {} (log {}): {verdict}, {} records{key}, {} result(s)\n",
            l.dir.display(),
            l.log_id,
            l.records,
            l.results
        ));
    }
    for x in &f.failures {
        let log = if x.log.is_empty() { String::new() } else { format!("{}/ ", x.log) };
        out.push_str(&format!(
            "  FAILED [{}] {log}record {} (task {}, worker {}): {}\n",
            x.code, x.seq, x.task, x.worker, x.reason
        ));
    }
    out
}
