//! Cosigned checkpoints kept beside a log: `<log>/cosigned/<size, 20
//! digits>.note` holds the log's checkpoint note with the cosignature lines of
//! every witness that cosigned it (FORMAT.md §10.6; verifiers of the log
//! format ignore the directory, FORMAT.md §3).
//!
//! Guarantees: [`keep`] only adds lines (a note for another body at that size
//! is replaced by this one: the witness just cosigned it), writes all or
//! nothing (temporary file, fsync, rename, directory fsync) under an
//! exclusive `flock` on `<log>/cosigned/lock`, so concurrent pushes lose no
//! line.

use super::note::Note;
use crate::AuditError;
use crate::keyring::{Replace, write_file};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// The directory below a log that holds cosigned notes.
pub const DIR: &str = "cosigned";

/// Add `lines` (cosignature lines, each ending in a newline) to the cosigned
/// note of `note`'s size; returns its path.
pub fn keep(log: &Path, note: &Note, size: u64, lines: &str) -> Result<PathBuf, AuditError> {
    let dir = log.join(DIR);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| AuditError::io(&dir, e))?;
    let _lock = crate::private::lock_file(&dir.join("lock"), nix::fcntl::FlockArg::LockExclusive)?;
    let path = dir.join(format!("{size:020}.note"));
    let mut text = match std::fs::read_to_string(&path) {
        Ok(t) if Note::parse(&t).is_ok_and(|n| n.body == note.body) => t,
        Ok(_) => note.text(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => note.text(),
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    for l in lines.lines() {
        if !text.lines().any(|have| have == l) {
            text.push_str(l);
            text.push('\n');
        }
    }
    write_file(&path, text.as_bytes(), 0o600, Replace::Yes)?;
    Ok(path)
}

/// The cosigned note with the largest size, as (size from its name, path).
pub fn latest(log: &Path) -> Option<(u64, PathBuf)> {
    let rd = std::fs::read_dir(log.join(DIR)).ok()?;
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let digits =
                name.strip_suffix(".note").filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))?;
            Some((digits.parse::<u64>().ok()?, e.path()))
        })
        .max_by_key(|(s, _)| *s)
}
