//! The key ring: which private key extends which log (FORMAT.md §8, "Key
//! files"; SECURITY.md §4).
//!
//! A user has one *default key* (`audit.key`, the key a new log starts with)
//! and any number of logs, each signed by the key in force in it. Every key a
//! log may need is kept in the ring directory beside the default key,
//! `<default key file>.ring/<key id>.key`, so rotating one log never orphans
//! another and a replaced default key stays usable for the logs it signs.
//!
//! Guarantees:
//! - a key is in the ring, durably (file and directory fsynced), before any log
//!   names it ([`crate::AuditLog::rotate_key`] keeps the new key first), so a
//!   crash at any instruction leaves every log extendable;
//! - nothing here removes a key from the ring or overwrites one with another;
//! - the default key file and its `.pub` are only ever replaced by renaming a
//!   complete, fsynced file over them; a `.pub` left stale by a crash between
//!   the two renames is rewritten on the next use;
//! - temporary files of a killed writer are removed by the next write in the
//!   same directory (their process id is no longer alive).
//!
//! **Forward-secure epochs** are the one exception to "nothing is removed": a
//! key made for one log's epoch ([`EpochKey`], `<id>.epoch` beside `<id>.key`)
//! belongs to that log alone, so once the log has durably rotated past it, its
//! private key is destroyed ([`KeyRing::destroy_epoch_key`]). Its `.epoch` file
//! stays, saying when it was destroyed.

use crate::AuditError;
use crate::keys::{AuditKey, hex, load_key, public_path};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The default key file and the ring directory beside it.
#[derive(Debug, Clone)]
pub struct KeyRing {
    default: PathBuf,
    dir: PathBuf,
}

impl KeyRing {
    /// The ring of the default key file `default` (`<default>.ring/`).
    pub fn at(default: &Path) -> KeyRing {
        let mut dir = default.as_os_str().to_os_string();
        dir.push(".ring");
        KeyRing { default: default.to_path_buf(), dir: PathBuf::from(dir) }
    }

    /// The ring of [`crate::default_key_path`].
    pub fn default_location() -> KeyRing {
        KeyRing::at(&crate::default_key_path())
    }

    /// The default key file.
    pub fn default_path(&self) -> &Path {
        &self.default
    }

    /// The ring directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the ring keeps the key with id `id`.
    pub fn path_of(&self, id: [u8; 4]) -> PathBuf {
        self.dir.join(format!("{}.key", hex(&id)))
    }

    /// The default key, created (with its `.pub`) if there is none; returns
    /// whether it was created now. The key is kept in the ring and a stale or
    /// missing `.pub` is rewritten.
    pub fn default_key(&self) -> Result<(AuditKey, bool), AuditError> {
        // Creating it is replacing what a running task's decoy covers: not
        // while a task runs ([`KeyRing::in_use`]).
        let _no_task_runs = if self.default.exists() { None } else { self.exclusive(true)? };
        let (key, created) = crate::keys::load_or_create_key(&self.default)?;
        self.keep(&key)?;
        repair_public(&self.default, &key)?;
        Ok((key, created))
    }

    /// The private key with id `id`: the default key if it is that one, else
    /// the ring's copy.
    pub fn get(&self, id: [u8; 4]) -> Result<AuditKey, AuditError> {
        if let Ok(k) = load_key(&self.default)
            && k.verifier().id == id
        {
            self.keep(&k)?;
            return Ok(k);
        }
        let path = self.path_of(id);
        if !path.exists() {
            return Err(AuditError::KeyNotInRing {
                id: hex(&id),
                ring: self.dir.clone(),
                default: self.default.clone(),
            });
        }
        let k = load_key(&path)?;
        if k.verifier().id != id {
            return Err(AuditError::KeyFile {
                path,
                reason: format!("holds key {}, not {}", k.verifier().id_hex(), hex(&id)),
            });
        }
        Ok(k)
    }

    /// Put `key` in the ring durably. A no-op when it is there already; an
    /// error if another key sits under its id (never overwritten).
    pub fn keep(&self, key: &AuditKey) -> Result<(), AuditError> {
        self.keep_once(key, true)
    }

    fn keep_once(&self, key: &AuditKey, retry: bool) -> Result<(), AuditError> {
        let v = key.verifier();
        let path = self.path_of(v.id);
        // Never through a link: the ring holds regular files only.
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            if !m.file_type().is_file() {
                return Err(AuditError::KeyFile {
                    path,
                    reason: "not a regular file (a link or directory in the key ring); remove it".into(),
                });
            }
            let there = load_key(&path)?;
            if there.verifier() != v {
                return Err(AuditError::KeyFile {
                    path,
                    reason: "holds a different key with the same key id; not replacing it".into(),
                });
            }
            return Ok(());
        }
        make_private_dir(&self.dir)?;
        match write_file(&path, format!("{}\n", key.encode_private()).as_bytes(), 0o600, Replace::No) {
            // Another process kept it first: check it is the same key (once).
            Err(AuditError::KeyExists { .. }) if retry => self.keep_once(key, false),
            other => other,
        }
    }

    /// Make `key` the default key (for new logs): it is kept in the ring first,
    /// and so is the key it replaces, so no log loses the key it needs.
    ///
    /// Takes the ring's lock exclusively first: it waits until no task runs
    /// (see [`KeyRing::in_use`]).
    pub fn set_default(&self, key: &AuditKey) -> Result<(), AuditError> {
        let _no_task_runs = self.exclusive(true)?;
        self.keep(key)?;
        // The key it replaces, whatever its file's mode (a key others could
        // read is still the key its logs need).
        if let Some(old) = std::fs::read_to_string(&self.default).ok().and_then(|t| AuditKey::parse_private(&t).ok()) {
            self.keep(&old)?;
        }
        if let Some(parent) = self.default.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
        }
        write_file(&self.default, format!("{}\n", key.encode_private()).as_bytes(), 0o600, Replace::Yes)?;
        write_file(
            &public_path(&self.default),
            format!("{}\n", key.verifier().encode()).as_bytes(),
            0o644,
            Replace::Yes,
        )
    }

    /// Hold the keys in use: a shared lock (`<ring>/lock`) that every `exec`
    /// holds while its task runs. Replacing the default key file takes the
    /// lock exclusively ([`KeyRing::exclusive`]), so the file is never renamed
    /// over while a task runs: a jail hides the key by mounting a decoy on
    /// its path, and a file renamed over that path on the host would show
    /// through.
    pub fn in_use(&self) -> Result<KeysLock, AuditError> {
        let path = self.dir.join("lock");
        self.lock(nix::fcntl::FlockArg::LockShared)?
            .ok_or_else(|| AuditError::io(&path, std::io::Error::from(std::io::ErrorKind::WouldBlock)))
    }

    /// The exclusive lock [`KeyRing::set_default`] and key creation take;
    /// `None` with `wait == false` when tasks hold the keys in use.
    pub fn exclusive(&self, wait: bool) -> Result<Option<KeysLock>, AuditError> {
        let arg = if wait { nix::fcntl::FlockArg::LockExclusive } else { nix::fcntl::FlockArg::LockExclusiveNonblock };
        self.lock(arg)
    }

    fn lock(&self, arg: nix::fcntl::FlockArg) -> Result<Option<KeysLock>, AuditError> {
        make_private_dir(&self.dir)?;
        let path = self.dir.join("lock");
        Ok(crate::private::lock_file(&path, arg)?.map(KeysLock))
    }

    /// The ids of the keys in the ring, sorted.
    pub fn ids(&self) -> Result<Vec<String>, AuditError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AuditError::io(&self.dir, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".key")).map(str::to_string))
            .filter(|n| n.len() == 8 && !n.starts_with('.'))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// A lock on the key ring, released when dropped.
#[derive(Debug)]
pub struct KeysLock(nix::fcntl::Flock<std::fs::File>);

impl KeysLock {
    /// The locked file.
    pub fn file(&self) -> &std::fs::File {
        &self.0
    }
}

/// What makes a key a forward-secure epoch key: it belongs to one log and
/// signs it for at most one epoch, then the log rotates to the next epoch key
/// and this one's private key is destroyed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochKey {
    /// The log (32 hex digits) the key belongs to.
    pub log_id: String,
    /// Epoch length in seconds.
    pub epoch_s: u64,
    /// When the key was made (microseconds since the epoch).
    pub created_us: u64,
    /// The epoch key it replaced (8 hex digits), destroyed once this one is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// When its private key was destroyed (microseconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed_us: Option<u64>,
}

impl EpochKey {
    /// Whether the epoch is over at `now_us`.
    pub fn expired(&self, now_us: u64) -> bool {
        now_us.saturating_sub(self.created_us) >= self.epoch_s.saturating_mul(1_000_000)
    }
}

impl KeyRing {
    /// Where the ring keeps the epoch facts of key `id`.
    pub fn epoch_path(&self, id: [u8; 4]) -> PathBuf {
        self.dir.join(format!("{}.epoch", hex(&id)))
    }

    /// The epoch facts of key `id`, if it is a forward-secure epoch key.
    pub fn epoch_of(&self, id: [u8; 4]) -> Result<Option<EpochKey>, AuditError> {
        let path = self.epoch_path(id);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| AuditError::KeyFile { path, reason: format!("not an epoch record: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io(&path, e)),
        }
    }

    /// Keep `key` as the epoch key `epoch` describes: its facts first, then
    /// the key, both fsynced (a crash leaves at worst facts without a key,
    /// which nothing uses).
    pub fn keep_epoch_key(&self, key: &AuditKey, epoch: &EpochKey) -> Result<(), AuditError> {
        make_private_dir(&self.dir)?;
        let id = key.verifier().id;
        let text = serde_json::to_vec(epoch).map_err(|e| AuditError::InvalidRecord(e.to_string()))?;
        write_file(&self.epoch_path(id), &text, 0o600, Replace::Yes)?;
        self.keep(key)
    }

    /// Destroy the private key of epoch key `id` (only an epoch key: a shared
    /// key may sign other logs) and record when. The caller has made the
    /// rotation past it durable. Removing a missing key is not an error.
    pub fn destroy_epoch_key(&self, id: [u8; 4], now_us: u64) -> Result<(), AuditError> {
        let Some(mut e) = self.epoch_of(id)? else {
            return Err(AuditError::KeyFile {
                path: self.path_of(id),
                reason: "not a forward-secure epoch key; refusing to destroy it".into(),
            });
        };
        let path = self.path_of(id);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(AuditError::io(&path, err)),
        }
        if e.destroyed_us.is_none() {
            e.destroyed_us = Some(now_us);
            let text = serde_json::to_vec(&e).map_err(|err| AuditError::InvalidRecord(err.to_string()))?;
            write_file(&self.epoch_path(id), &text, 0o600, Replace::Yes)?;
        }
        Ok(())
    }
}

/// Write the public key `key` to `path` (all or nothing, mode 0644).
pub fn write_public(path: &Path, key: &crate::keys::VerifierKey) -> Result<(), AuditError> {
    write_file(path, format!("{}\n", key.encode()).as_bytes(), 0o644, Replace::Yes)
}

/// Rewrite `<default>.pub` when it is missing or names another key.
fn repair_public(default: &Path, key: &AuditKey) -> Result<(), AuditError> {
    let pubp = public_path(default);
    let want = format!("{}\n", key.verifier().encode());
    match std::fs::read_to_string(&pubp) {
        Ok(s) if s == want => Ok(()),
        _ => write_file(&pubp, want.as_bytes(), 0o644, Replace::Yes),
    }
}

fn make_private_dir(dir: &Path) -> Result<(), AuditError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| AuditError::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| AuditError::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Whether [`write_file`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    Yes,
    No,
}

/// Write `bytes` to `path` all or nothing: a temporary file beside it,
/// fsynced, then renamed over it (`Replace::Yes`) or hard-linked to it
/// (`Replace::No`: fails with [`AuditError::KeyExists`] if the name exists,
/// even in a race); then the directory is fsynced.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32, replace: Replace) -> Result<(), AuditError> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    remove_stray_temporaries(&dir);
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| AuditError::io(&tmp, e))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| AuditError::io(&tmp, e));
    drop(f);
    let placed = written.and_then(|()| match replace {
        Replace::Yes => std::fs::rename(&tmp, path).map_err(|e| AuditError::io(path, e)),
        Replace::No => std::fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                AuditError::KeyExists { path: path.to_path_buf() }
            } else {
                AuditError::io(path, e)
            }
        }),
    });
    let _ = std::fs::remove_file(&tmp);
    placed?;
    sync_dir(&dir)
}

/// Remove `.<name>.tmp.<pid>` files in `dir` whose process is gone (a
/// writer killed between creating and placing its file).
pub(crate) fn remove_stray_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.rsplit_once(".tmp."))
            .and_then(|(_, p)| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH);
        if gone && pid != std::process::id() as i32 {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| AuditError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn keys_are_found_by_id_after_the_default_changes() -> R {
        let d = tempfile::tempdir()?;
        let ring = KeyRing::at(&d.path().join("cfg/audit.key"));
        let (first, created) = ring.default_key()?;
        assert!(created);
        let second = AuditKey::from_seed([7; 32]);
        ring.set_default(&second)?;
        assert_eq!(ring.get(first.verifier().id)?.verifier(), first.verifier());
        assert_eq!(ring.get(second.verifier().id)?.verifier(), second.verifier());
        assert_eq!(ring.ids()?.len(), 2);
        let pubp = public_path(ring.default_path());
        assert_eq!(std::fs::read_to_string(pubp)?, format!("{}\n", second.verifier().encode()));
        Ok(())
    }

    #[test]
    fn an_unknown_id_names_the_ring() -> R {
        let d = tempfile::tempdir()?;
        let ring = KeyRing::at(&d.path().join("audit.key"));
        ring.default_key()?;
        let e = ring.get([1, 2, 3, 4]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("01020304") && e.contains(".ring"), "{e}");
        Ok(())
    }

    #[test]
    fn a_stale_public_key_and_stray_temporaries_are_repaired() -> R {
        let d = tempfile::tempdir()?;
        let ring = KeyRing::at(&d.path().join("audit.key"));
        let (k, _) = ring.default_key()?;
        std::fs::write(public_path(ring.default_path()), "stale\n")?;
        // A temporary of a process that no longer exists (pid_max is far below this).
        let stray = d.path().join(".audit.key.tmp.2147483646");
        std::fs::write(&stray, "x")?;
        let (k2, created) = ring.default_key()?;
        assert!(!created);
        assert_eq!(k.verifier(), k2.verifier());
        assert_eq!(std::fs::read_to_string(public_path(ring.default_path()))?, format!("{}\n", k.verifier().encode()));
        assert!(!stray.exists(), "stray temporary left");
        Ok(())
    }

    #[test]
    fn a_link_in_the_ring_is_refused_not_followed() -> R {
        let d = tempfile::tempdir()?;
        let ring = KeyRing::at(&d.path().join("audit.key"));
        let k = AuditKey::from_seed([5; 32]);
        std::fs::create_dir_all(ring.dir())?;
        std::os::unix::fs::symlink("/nonexistent/x", ring.path_of(k.verifier().id))?;
        let e = ring.keep(&k).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("not a regular file"), "{e}");
        Ok(())
    }

    #[test]
    fn keep_never_replaces_a_key() -> R {
        let d = tempfile::tempdir()?;
        let ring = KeyRing::at(&d.path().join("audit.key"));
        let k = AuditKey::from_seed([5; 32]);
        ring.keep(&k)?;
        ring.keep(&k)?;
        let path = ring.path_of(k.verifier().id);
        std::fs::write(&path, format!("{}\n", AuditKey::from_seed([6; 32]).encode_private()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        assert!(ring.keep(&k).is_err());
        Ok(())
    }
}
