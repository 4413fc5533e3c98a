//! The audit module's error type.

use std::path::PathBuf;

/// Everything that can go wrong while writing or reading the audit log.
///
/// Verification *findings* (a tampered record, a bad signature) are not
/// errors: they are reported in [`crate::VerifyReport`]. An
/// `AuditError` means the operation itself could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key file is missing, unreadable or malformed.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `keygen` would overwrite an existing key.
    #[error(
        "key file {path} already exists; to give a log a new key, run `orchestra audit rotate` (the hand-over is signed by this key); --force makes a new default key for new logs, and this one stays in the key ring for the logs it signs"
    )]
    KeyExists {
        /// The existing key file.
        path: PathBuf,
    },
    /// The log is signed by a different key than the one configured. Only the
    /// log's own key extends it, rotations included (they are signed by it).
    #[error(
        "the audit log in {dir} is signed by key {log_key}, but the configured key is {our_key}; point ORCHESTRA_AUDIT_KEY (or `audit rotate --key`) at the file of key {log_key}: appending and rotating both need it; if that key is lost (`audit keygen --force` replaces it), this log cannot be extended: move {dir} aside (`orchestra audit verify` still checks it) and a new log starts there"
    )]
    KeyMismatch {
        /// The log directory.
        dir: PathBuf,
        /// Key id currently in force in the log.
        log_key: String,
        /// Key id of the key we were given.
        our_key: String,
    },
    /// The log is signed by a key that neither the default key file nor the
    /// key ring holds.
    #[error(
        "the audit log is signed by key {id}, which is neither the default key ({}) nor in the key ring {}; restore {}/{id}.key (mode 0600) from a backup of the ring; if that key is lost, this log cannot be extended: move the log aside (`orchestra audit verify` still checks it) and a new log starts there",
        default.display(), ring.display(), ring.display()
    )]
    KeyNotInRing {
        /// Key id (8 hex digits) in force in the log.
        id: String,
        /// The ring directory.
        ring: PathBuf,
        /// The default key file.
        default: PathBuf,
    },
    /// The log is damaged in a way the writer must not paper over.
    #[error("the audit log in {dir} is damaged: {reason}; run `orchestra audit verify {dir}` for details")]
    Corrupt {
        /// The log directory.
        dir: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The writer found the log damaged at a place (FORMAT.md §9.2); it does
    /// not extend a damaged chain but continues in a linked log
    /// (`<dir>/continued/`). Seen by callers only if that fails too.
    #[error("{0}")]
    Damaged(Box<Damage>),
    /// A record the caller asked to append is not acceptable.
    #[error("invalid audit record: {0}")]
    InvalidRecord(String),
    /// A record body has no canonical encoding.
    #[error("invalid audit record: {0}")]
    Body(#[from] super::record::RecordError),
    /// A checkpoint note could not be parsed.
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// The random number generator failed.
    #[error("cannot get random bytes: {0}")]
    Random(String),
}

/// Where and how a log is damaged ([`AuditError::Damaged`]).
#[derive(Debug, thiserror::Error)]
#[error("the audit log in {} is damaged at {segment} offset {offset}: {reason}", dir.display())]
pub struct Damage {
    /// The log directory.
    pub dir: PathBuf,
    /// The segment file holding the damage.
    pub segment: String,
    /// Byte offset of the first bad frame (0 for a bad header or segment seam).
    pub offset: u64,
    /// What was found.
    pub reason: String,
    /// The text of the last checkpoint the writer read intact before the damage.
    pub last_checkpoint: Option<String>,
}

impl AuditError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuditError::Io { path: path.into(), source }
    }
}
