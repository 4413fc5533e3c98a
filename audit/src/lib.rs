//! The tamper-evident audit log (byte-level spec: `audit/FORMAT.md`).
//!
//! Every action Orchestra takes is appended as a *record* to a hash chain:
//! each record commits to the hash of its predecessor, the first one to a
//! genesis value naming the log. Periodically (every 1000 records, every
//! second, and before the writer goes away) the writer appends a *checkpoint*:
//! a C2SP signed note (`tlog-checkpoint` text) over the record count and the
//! head hash, signed with ed25519. A verifier that trusts the public key can
//! then tell whether any record covered by a checkpoint was changed, removed,
//! inserted or reordered.
//!
//! Modules, one job each:
//! - [`format`]: segment files, frame framing (length + CRC, torn-write rules).
//! - [`record`]: the record encoding, canonical JSON bodies, record hashes.
//! - [`keys`]: key files, key ids, the default key location.
//! - [`keyring`]: which private key extends which log; keys are never lost.
//! - [`merkle`]: RFC 6962 tree heads, inclusion and consistency proofs.
//! - [`tiles`]: the stored subtree hashes that make heads and proofs cheap.
//! - [`checkpoint`]: the signed checkpoint note (encode, parse, sign, verify).
//! - [`writer`]: [`AuditLog`], the locked appender with torn-tail recovery.
//! - [`verify`]: the verifier and its evidence report.
//! - [`events`]: the bodies `orchestra exec` writes (`task_started`, ...).
//! - `private`: the log directory is 0700 and its segments 0600.
//! - [`redact`]: the secret redaction rules records and the planner share.
//! - [`invocation`]: who wrote a record (invocation id, host, user, CI job).
//! - [`ocsf`]: OCSF events from records, for a SIEM.
//! - [`anchor`]: copies of signed checkpoints kept off the host (truncation, rollback, gaps).
//! - [`timestamp`]: RFC 3161 trusted timestamps on checkpoint notes.
//! - [`witness`]: C2SP witnesses: cosignatures, the `tlog-witness` server core and client.
//! - [`fleet`]: a distributed run's `remote_result` records against its workers' logs.
//! - [`bench`]: throughput measurement behind `orchestra audit bench`.
//!
//! Guarantees to callers: [`AuditLog::append`] returns only after the record
//! was written with a single `O_APPEND` write under an exclusive `flock`, so two
//! processes never interleave or fork the chain; it is durable (fsynced) and
//! signed at the next checkpoint, at the latest when [`AuditLog::sync`] returns
//! or the log is dropped.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod anchor;
pub mod bench;
pub mod bound;
pub mod checkpoint;
mod error;
pub mod events;
pub mod fleet;
pub mod format;
pub mod invocation;
pub mod keyring;
pub mod keys;
pub mod kind;
pub mod merkle;
pub mod ocsf;
mod private;
pub mod prove;
pub mod pruned;
pub mod record;
pub mod redact;
pub mod tiles;
pub mod timestamp;
pub mod tree;
pub mod verify;
pub mod witness;
pub mod writer;

pub use error::{AuditError, Damage};
pub use keyring::KeyRing;
pub use keys::{AuditKey, VerifierKey, created_notice, default_key_path, load_key, load_or_create_key};
pub use kind::Kind;
pub use verify::{VerifyOptions, VerifyReport, verify_dir};
pub use writer::{AuditLog, OpenOptions};

/// Disk space a writer reserves ([`AuditLog::reserve`]) before it runs a
/// task: the task's later records (violations, attestation, workspace diff,
/// end, checkpoints) must not meet a full disk. Those records are bounded
/// ([`bound`]): at most [`bound::END_RECORDS_WORST_CASE`], half of this.
/// `orchestra exec` reserves this much more than its `task_started` record.
pub const TASK_RESERVE_BYTES: u64 = 1 << 20;

/// The default audit log directory, relative to the working directory.
pub const DEFAULT_DIR: &str = ".orchestra/audit";
