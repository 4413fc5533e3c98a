//! `orchestra audit prove`: inclusion and consistency proofs over a format-2
//! audit log, printed for a third party to check with `audit/verify.py`
//! (FORMAT.md §7.5) or any C2SP tlog tool, without the log.
//!
//! Exit codes: 0 a proof was printed; 1 the arguments or the log do not allow
//! one (format-1 log, no such checkpoint, a size out of range); 4 the records
//! do not match their signed checkpoint (the log was changed: no proof).

use crate::audit::DEFAULT_DIR;
use crate::audit::checkpoint::SignedCheckpoint;
use crate::audit::prove::{self, ProveError};
use crate::exit::Exit;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `orchestra audit prove ...`
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// Prove that record SEQ is in the log: prints a C2SP tlog-proof holding
    /// the record, the path to the tree root and the signed checkpoint.
    Inclusion {
        /// The record's sequence number.
        seq: u64,
        /// Prove against the checkpoint of this size (default: the log's last).
        #[arg(long, value_name = "SIZE")]
        checkpoint: Option<u64>,
        /// Log directory (default `.orchestra/audit`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Prove that the log extends an older tree: OLD is a size or a
    /// checkpoint file a reviewer kept (`audit checkpoint --export`), NEW the
    /// size of a later checkpoint (default: the log's last). Prints `old N`,
    /// the proof and the newer checkpoint.
    Consistency {
        /// The older tree: a size, or a checkpoint file.
        old: String,
        /// The newer checkpoint's size (default: the log's last).
        new: Option<u64>,
        /// Log directory (default `.orchestra/audit`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Run a prove subcommand.
pub fn run(cmd: ProveCommand) -> Exit {
    let out = match cmd {
        ProveCommand::Inclusion { seq, checkpoint, dir } => {
            prove::inclusion(&log_dir(dir), seq, checkpoint).map(|p| p.encode())
        }
        ProveCommand::Consistency { old, new, dir } => {
            let old = match old_size(&old) {
                Ok(n) => n,
                Err(e) => return super::config_error(e),
            };
            prove::consistency(&log_dir(dir), old, new).map(|p| p.encode())
        }
    };
    match out {
        Ok(text) => {
            out!("{text}");
            Exit::Ok
        }
        Err(e @ ProveError::Mismatch(_)) => {
            crate::sandbox::say!("orchestra: audit prove: {e}");
            Exit::Violation
        }
        Err(e) => super::config_error(format!("audit prove: {e}")),
    }
}

fn log_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Why OLD names no tree size.
#[derive(Debug, thiserror::Error)]
enum OldError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Note { path: PathBuf, source: crate::audit::checkpoint::NoteError },
}

/// OLD: a decimal size, else a checkpoint file's size.
fn old_size(old: &str) -> Result<u64, OldError> {
    if let Ok(n) = old.parse::<u64>() {
        return Ok(n);
    }
    let path = Path::new(old);
    let text = std::fs::read_to_string(path).map_err(|source| OldError::Read { path: path.into(), source })?;
    let c = SignedCheckpoint::parse(&text).map_err(|source| OldError::Note { path: path.into(), source })?;
    Ok(c.checkpoint.size)
}
