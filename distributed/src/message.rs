//! What travels through Redis, and how it is authenticated.
//!
//! Every entry is an [`Envelope`]: a JSON body kept as the exact string that
//! was signed, the signer's public key, and an ed25519 signature over
//! `orchestra-fleet/v1\n<kind>\n<body>` (the kind is bound in, so a worker
//! event can never pass as a task message). [`Envelope::open`] returns the
//! body only when the signer is one of the keys the reader pins and the
//! signature holds; the reader then parses the body with unknown fields
//! refused.
//!
//! A [`TaskMessage`] carries everything its worker needs and nothing it may
//! choose: the program, the effective policy (YAML) and its hash, the task's
//! variables, where results and blobs go. Its `id` is a fresh random nonce:
//! workers refuse an id seen with another stream entry (a replay), and a
//! message past `expires_ms`.

use crate::keys::{PublicKey, SigningKey};
use crate::storage::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

const DOMAIN: &str = "orchestra-fleet/v1";

/// The largest stream entry either side parses (a task message with its
/// policy, or a worker event; log chunks are 32 KiB).
pub const MAX_ENTRY: usize = 1 << 20;

/// A key as shown in refusals: at most 60 characters of it (a claimed "key"
/// is attacker-chosen text of any size).
pub fn shown_key(key: &str) -> String {
    let mut k: String = key.chars().take(60).collect();
    if k.len() < key.len() {
        k.push('…');
    }
    k
}

/// What an envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A [`TaskMessage`], signed by the orchestrator.
    Task,
    /// A [`WorkerEvent`], signed by a worker.
    Event,
    /// A [`GoAhead`], signed by the orchestrator.
    Go,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Event => "event",
            Kind::Go => "go",
        }
    }
}

/// Why a message is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Not an envelope at all.
    #[error("not a signed orchestra message: {0}")]
    Malformed(String),
    /// Larger than any genuine message.
    #[error("{0} bytes, more than the {MAX_ENTRY} a message may have")]
    TooLarge(usize),
    /// Another kind than expected.
    #[error("a {got} message where a {want} message was expected")]
    WrongKind {
        /// Expected.
        want: &'static str,
        /// Found.
        got: &'static str,
    },
    /// Signed by a key the reader does not pin.
    #[error("signed by {0}, which is not a trusted key")]
    Untrusted(String),
    /// The signature does not hold.
    #[error("bad signature (forged or altered)")]
    BadSignature,
    /// The body is not the expected message.
    #[error("unreadable body: {0}")]
    Body(String),
}

impl MessageError {
    /// The short reason name used in records and `workers status`.
    pub fn reason(&self) -> &'static str {
        match self {
            MessageError::Malformed(_) => "malformed",
            MessageError::TooLarge(_) => "too_large",
            MessageError::WrongKind { .. } => "wrong_kind",
            MessageError::Untrusted(_) => "untrusted_key",
            MessageError::BadSignature => "bad_signature",
            MessageError::Body(_) => "bad_body",
        }
    }
}

/// A signed message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// What the body is.
    pub kind: Kind,
    /// The signer's public key.
    pub key: String,
    /// The signature, base64.
    pub sig: String,
    /// The body, JSON, exactly as signed.
    pub body: String,
}

fn signed_bytes(kind: Kind, body: &str) -> Vec<u8> {
    format!("{DOMAIN}\n{}\n{body}", kind.as_str()).into_bytes()
}

impl Envelope {
    /// Sign `body` (serialized to JSON) as `kind`.
    pub fn seal<T: Serialize>(kind: Kind, body: &T, key: &SigningKey) -> Result<Envelope, MessageError> {
        let body = serde_json::to_string(body).map_err(|e| MessageError::Body(e.to_string()))?;
        let sig = B64.encode(key.sign(&signed_bytes(kind, &body)));
        Ok(Envelope { kind, key: key.public().to_string(), sig, body })
    }

    /// The envelope as stored in a stream entry.
    pub fn to_json(&self) -> String {
        // A struct of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse an entry, check kind, signer and signature, parse the body.
    /// Returns the body and the key that signed it.
    pub fn open<T: for<'de> Deserialize<'de>>(
        entry: &[u8],
        kind: Kind,
        trusted: &[PublicKey],
    ) -> Result<(T, PublicKey), MessageError> {
        if entry.len() > MAX_ENTRY {
            return Err(MessageError::TooLarge(entry.len()));
        }
        let env: Envelope = serde_json::from_slice(entry).map_err(|e| MessageError::Malformed(e.to_string()))?;
        if env.kind != kind {
            return Err(MessageError::WrongKind { want: kind.as_str(), got: env.kind.as_str() });
        }
        let key = *PublicKey::find_in(&env.key, trusted).ok_or_else(|| MessageError::Untrusted(shown_key(&env.key)))?;
        let sig = B64.decode(&env.sig).map_err(|_| MessageError::BadSignature)?;
        if !key.verify(&signed_bytes(kind, &env.body), &sig) {
            return Err(MessageError::BadSignature);
        }
        let body = serde_json::from_str(&env.body).map_err(|e| MessageError::Body(e.to_string()))?;
        Ok((body, key))
    }
}

/// One attempt of one task, as the orchestrator hands it to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskMessage {
    /// A fresh random nonce (128 bits, hex): the message's identity.
    pub id: String,
    /// The run.
    pub run_id: String,
    /// The task id.
    pub task: String,
    /// The orchestrator's attempt number.
    pub attempt: u32,
    /// When it was signed (ms since the epoch).
    pub issued_ms: u64,
    /// A worker takes it from the stream for the first time only before this
    /// (ms since the epoch): it bounds when a captured message can be replayed.
    pub take_by_ms: u64,
    /// Workers refuse it after this, even when taking it over from a worker
    /// that died (ms since the epoch).
    pub expires_ms: u64,
    /// Program (absolute) and arguments.
    pub argv: Vec<String>,
    /// The effective policy, YAML (before the task's variables and timeout apply).
    pub policy_yaml: String,
    /// The hash the effective policy must have once the task's variables and
    /// timeout apply (`exec --expect-policy`).
    pub policy_sha256: String,
    /// The task's variables.
    pub env: BTreeMap<String, String>,
    /// Wall-clock timeout override.
    pub timeout: Option<String>,
    /// The workspace, as the orchestrator names it (a worker may map it).
    pub workdir: PathBuf,
    /// Declared outputs (workspace-relative), uploaded by the worker.
    pub outputs: Vec<String>,
    /// Labels the worker must have.
    pub runs_on: Vec<String>,
    /// The stream the worker's events go to.
    pub results: String,
    /// Where blobs go (a storage URL, no credentials).
    pub storage: String,
    /// Paths the task must not see besides the worker's own (the
    /// orchestrator's runs directory and blob store, where they exist on the
    /// worker's host too: a worker on the orchestrator's machine).
    pub protect: Vec<PathBuf>,
    /// The lease: a worker silent for this long loses the task.
    pub lease_ms: u64,
    /// A task delivered more often than this ends `worker_lost`.
    pub max_deliveries: u32,
}

/// A declared output a worker uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Path relative to the task's `artifacts/<task>/`.
    pub path: String,
    /// Its content.
    pub blob: Blob,
}

/// Where a worker's own audit log stood after a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRef {
    /// The worker log's id.
    pub log_id: String,
    /// Records in it.
    pub size: u64,
    /// Its latest signed checkpoint note.
    pub checkpoint: Option<String>,
}

/// What a worker says about a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkerEvent {
    /// The worker took the task under fencing token `token`.
    Started {
        /// The task message's id.
        msg: String,
        /// Task id.
        task: String,
        /// Attempt number.
        attempt: u32,
        /// The fencing token of this delivery.
        token: u64,
        /// The worker's name.
        worker: String,
        /// A fresh nonce of this delivery: the go-ahead must name it.
        nonce: String,
    },
    /// The delivery is running (sent with every heartbeat): while these
    /// come, the orchestrator gives no other delivery of the message a
    /// go-ahead, so nobody who can write to Redis can start a second copy of
    /// a live attempt by handing its entry to another worker.
    Alive {
        /// The task message's id.
        msg: String,
        /// The fencing token of this delivery.
        token: u64,
    },
    /// Output of the task (its log), from byte `offset` of this delivery's log.
    Log {
        /// The task message's id.
        msg: String,
        /// The fencing token.
        token: u64,
        /// Offset in this delivery's log.
        offset: u64,
        /// The bytes, base64.
        data: String,
    },
    /// The attempt ended; its blobs are stored.
    Finished {
        /// The task message's id.
        msg: String,
        /// Task id.
        task: String,
        /// Attempt number.
        attempt: u32,
        /// The fencing token.
        token: u64,
        /// The worker's name.
        worker: String,
        /// `orchestra exec`'s exit status (negative: a signal).
        exec_status: i32,
        /// The sandbox report (JSON), if it wrote one.
        report: Option<Blob>,
        /// Why there is no report.
        error: Option<String>,
        /// The delivery's whole log.
        log: Blob,
        /// The declared outputs.
        outputs: Vec<Output>,
        /// exec's process time, ms.
        process_ms: u64,
        /// The worker's audit log after the task.
        audit: Option<AuditRef>,
        /// The worker stopped the task because another delivery took its
        /// entry over: an interrupted run, which never counts (fenced).
        #[serde(default)]
        stopped: bool,
    },
    /// The task was delivered more often than allowed: not run again.
    Lost {
        /// The task message's id.
        msg: String,
        /// Task id.
        task: String,
        /// Attempt number.
        attempt: u32,
        /// Deliveries counted by Redis.
        deliveries: u64,
        /// The worker that gave up on it.
        worker: String,
        /// What went wrong on the last delivery, if a worker said (e.g. the
        /// storage was unreachable, so it could not store the results).
        #[serde(default)]
        error: Option<String>,
    },
}

impl WorkerEvent {
    /// The task message this event is about.
    pub fn msg(&self) -> &str {
        match self {
            WorkerEvent::Started { msg, .. }
            | WorkerEvent::Alive { msg, .. }
            | WorkerEvent::Log { msg, .. }
            | WorkerEvent::Finished { msg, .. }
            | WorkerEvent::Lost { msg, .. } => msg,
        }
    }
}

/// The orchestrator's answer to a `started` event: this delivery may run.
/// Bound to the message, the delivery's token, the worker and the nonce the
/// worker chose, so a captured go-ahead is worth nothing for another delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoAhead {
    /// The task message's id.
    pub msg: String,
    /// The delivery's fencing token.
    pub token: u64,
    /// The worker.
    pub worker: String,
    /// The worker's nonce from its `started` event.
    pub nonce: String,
}

/// A fresh 128-bit nonce, hex.
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    // getrandom fails only without any entropy source; the nonce then still
    // differs by time, and the signature still binds it.
    if getrandom::getrandom(&mut b).is_err() {
        b[..16].copy_from_slice(&now_ms().to_le_bytes().repeat(2)[..16]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let d = tempfile::tempdir().unwrap();
        SigningKey::generate(&d.path().join("k")).unwrap()
    }

    #[test]
    fn a_sealed_message_opens_only_with_its_kind_and_a_trusted_key() {
        let k = key();
        let other = key();
        let ev = WorkerEvent::Lost {
            msg: "m".into(),
            task: "t".into(),
            attempt: 1,
            deliveries: 4,
            worker: "w".into(),
            error: None,
        };
        let env = Envelope::seal(Kind::Event, &ev, &k).unwrap().to_json();
        let (back, signer) = Envelope::open::<WorkerEvent>(env.as_bytes(), Kind::Event, &[k.public()]).unwrap();
        assert_eq!(back, ev);
        assert_eq!(signer, k.public());
        let e = Envelope::open::<WorkerEvent>(env.as_bytes(), Kind::Task, &[k.public()]).unwrap_err();
        assert_eq!(e.reason(), "wrong_kind");
        let e = Envelope::open::<WorkerEvent>(env.as_bytes(), Kind::Event, &[other.public()]).unwrap_err();
        assert_eq!(e.reason(), "untrusted_key");
        // The body altered after signing.
        let forged = env.replace("\\\"deliveries\\\":4", "\\\"deliveries\\\":1");
        assert_ne!(forged, env);
        let e = Envelope::open::<WorkerEvent>(forged.as_bytes(), Kind::Event, &[k.public()]).unwrap_err();
        assert_eq!(e, MessageError::BadSignature);
        // Re-signed by another key that claims to be the trusted one.
        let mut env2: Envelope = serde_json::from_str(&env).unwrap();
        env2.sig = Envelope::seal(Kind::Event, &ev, &other).unwrap().sig;
        let e = Envelope::open::<WorkerEvent>(env2.to_json().as_bytes(), Kind::Event, &[k.public()]).unwrap_err();
        assert_eq!(e, MessageError::BadSignature);
        assert_eq!(Envelope::open::<WorkerEvent>(b"{}", Kind::Event, &[k.public()]).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
