//! Where a log's timestamps live (FORMAT.md §13): `<log>/timestamps/`, one
//! pair of files per timestamped checkpoint, named
//! `<size, 20 digits>-<first 16 hex digits of SHA-256(note)>`: `.note` holds
//! the exact note text, `.tsr` the DER `TimeStampResp` the TSA sent.
//!
//! Guarantees: [`save`] writes the note, then the response, each to a
//! temporary file that is fsynced and renamed into place (mode 0600), then
//! fsyncs the directory: a `.tsr` is never visible without its complete
//! `.note`. [`list`] returns every pair in name order and reports files that
//! do not form one (never silently skipped, never trusted).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The largest timestamp or note file read.
const MAX_FILE: u64 = 1 << 20;

/// The directory below a log that holds its timestamps.
pub const DIR: &str = "timestamps";

/// Why the store cannot be written or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StoreError {
    /// The file or directory.
    pub path: PathBuf,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError { path: path.to_path_buf(), source }
}

/// The file stem of a note's pair.
pub fn stem(size: u64, note: &[u8]) -> String {
    let h = super::imprint(note);
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{size:020}-{hex}")
}

fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::private::FILE_MODE)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let done = f.write_all(bytes).and_then(|()| f.sync_all()).and_then(|()| std::fs::rename(&tmp, &path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done.map_err(io(&path))
}

/// Store the response `tsr` for the checkpoint `note` of `size` records;
/// returns the `.tsr` path.
pub fn save(log: &Path, size: u64, note: &str, tsr: &[u8]) -> Result<PathBuf, StoreError> {
    let dir = log.join(DIR);
    match std::fs::DirBuilder::new().mode(crate::private::DIR_MODE).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(&dir)(e)),
    }
    let s = stem(size, note.as_bytes());
    write_atomic(&dir, &format!("{s}.note"), note.as_bytes())?;
    write_atomic(&dir, &format!("{s}.tsr"), tsr)?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io(&dir))?;
    Ok(dir.join(format!("{s}.tsr")))
}

/// One stored timestamp.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The `.tsr` file.
    pub path: PathBuf,
    /// The size its name gives.
    pub size: u64,
    /// The note text (`None`: the `.note` file is missing or not UTF-8).
    pub note: Option<String>,
    /// The stored response.
    pub tsr: Vec<u8>,
    /// The name's hash part matches SHA-256 of the note.
    pub name_matches: bool,
}

/// Every stored timestamp of the log in `log`, by name, and the files in
/// the directory that are not part of a pair (one line each).
pub fn list(log: &Path) -> Result<(Vec<Stored>, Vec<String>), StoreError> {
    let dir = log.join(DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(io(&dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let (mut out, mut odd) = (Vec::new(), Vec::new());
    for name in &names {
        if name.starts_with('.') {
            continue;
        }
        if let Some(s) = name.strip_suffix(".note") {
            if !names.iter().any(|n| n.strip_suffix(".tsr") == Some(s)) {
                odd.push(format!("{}: a note without its .tsr", dir.join(name).display()));
            }
            continue;
        }
        let Some(s) = name.strip_suffix(".tsr") else {
            odd.push(format!("{}: not a timestamp file", dir.join(name).display()));
            continue;
        };
        let size = s.split_once('-').and_then(|(n, h)| (n.len() == 20 && h.len() == 16).then_some(n));
        let Some(size) = size.and_then(|n| n.parse::<u64>().ok()) else {
            odd.push(format!("{}: not named <size, 20 digits>-<16 hex>.tsr", dir.join(name).display()));
            continue;
        };
        let path = dir.join(name);
        let note_path = dir.join(format!("{s}.note"));
        // Only small regular files are read (a FIFO, a device or a huge file
        // planted here must not hang or exhaust the verifier).
        let plain = |p: &Path| std::fs::symlink_metadata(p).map_or(true, |m| m.is_file() && m.len() <= MAX_FILE);
        if !plain(&path) || !plain(&note_path) {
            odd.push(format!("{}: not a regular file of at most {MAX_FILE} bytes", path.display()));
            continue;
        }
        let tsr = std::fs::read(&path).map_err(io(&path))?;
        let note = match std::fs::read(&note_path) {
            Ok(b) => String::from_utf8(b).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&note_path)(e)),
        };
        let name_matches = note.as_ref().is_some_and(|n| stem(size, n.as_bytes()) == s);
        out.push(Stored { path, size, note, tsr, name_matches });
    }
    Ok((out, odd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_pairs_are_listed_and_strays_reported() -> Result<(), Box<dyn std::error::Error>> {
        let d = tempfile::tempdir()?;
        let p = save(d.path(), 7, "note\n", b"\x30\x00")?;
        assert!(p.ends_with(format!("{}.tsr", stem(7, b"note\n"))));
        std::fs::write(d.path().join(DIR).join("stray"), b"")?;
        let (l, odd) = list(d.path())?;
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].size, l[0].note.as_deref(), l[0].name_matches), (7, Some("note\n"), true));
        assert_eq!(odd.len(), 1, "{odd:?}");
        Ok(())
    }
}
