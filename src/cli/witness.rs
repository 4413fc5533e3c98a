//! `orchestra audit witness ...` and the witness side of `exec`, `run` and
//! `audit verify`: a C2SP `tlog-witness` server (`serve`), its key
//! (`keygen`), pushing a log's latest checkpoint to witnesses (`push`, and
//! `ORCHESTRA_AUDIT_WITNESS` after every exec and run), and checking the
//! cosignatures kept in the log directory (`verify --witness-key`).
//!
//! Cosigned notes are kept in `<log>/cosigned/<size, 20 digits>.note`: the
//! log's checkpoint note with every witness's cosignature line appended,
//! written all or nothing under `<log>/cosigned/lock` (FORMAT.md §10.6).
//! Guarantees: a push never changes the log; a witness that refuses or
//! cannot be reached is one warning line after exec/run, never a changed
//! verdict; `verify --witness-key` passes only if the latest cosigned note
//! is signed by a key of the log, cosigned by the quorum of the given
//! witness keys, and its size and root are the log's.

use crate::audit::keys::VerifierKey;
use crate::audit::merkle::{Frontier, Hash, leaf_hash};
use crate::audit::verify::{Failure, VerifyReport};
use crate::audit::witness::note::Signed;
use crate::audit::witness::{CosigError, Note, TreeHead, Witness, WitnessKey, WitnessVerifier, client};
use crate::audit::{AuditError, AuditLog, VerifyOptions, format, verify_dir};
use crate::exit::Exit;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable naming the witnesses writers push to (comma-separated URLs).
pub const ENV: &str = "ORCHESTRA_AUDIT_WITNESS";

/// `orchestra audit witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Run a witness: cosign checkpoints of the given logs, only when each is
    /// consistent with the last one cosigned (C2SP tlog-witness, HTTP
    /// `POST /add-checkpoint`). It protects a log only when it runs on
    /// another machine than the log, under other administrators.
    Serve {
        /// Address to listen on (`127.0.0.1:0` picks a free port; the address
        /// is printed). Any address may be used: a witness is meant to be remote.
        #[arg(long, value_name = "ADDR")]
        bind: String,
        /// The witness's private key file (`audit witness keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Directory for the witness's state (the latest cosigned checkpoint per log).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// A log to witness, as its checkpoint key string (`<origin>+<key id>+<base64>`,
        /// or a file holding it); repeatable, one per log (or per key of a log).
        #[arg(long = "log", value_name = "KEY", required = true)]
        logs: Vec<String>,
    },
    /// Create a witness key: the private key file (mode 0600) and `<FILE>.pub`.
    Keygen {
        /// The witness's name (a schema-less URL such as `witness.example/w1`).
        #[arg(long)]
        name: String,
        /// The private key file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Push the log's latest checkpoint to witnesses and keep the cosigned note
    /// in `<log>/cosigned/<size>.note`.
    Push {
        /// Witness URL (the submission prefix; repeatable; default `$ORCHESTRA_AUDIT_WITNESS`).
        #[arg(long, value_name = "URL")]
        to: Vec<String>,
        /// Log directory (default `.orchestra/audit`).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
    },
    /// Print the key string a witness needs for this log (`serve --log`): the
    /// key in force, named after the log's origin.
    LogKey {
        /// Log directory (default `.orchestra/audit`).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
    },
}

/// Run a witness subcommand.
pub fn run(cmd: WitnessCommand) -> Exit {
    match cmd {
        WitnessCommand::Serve { bind, key, state, logs } => serve(&bind, &key, &state, &logs),
        WitnessCommand::Keygen { name, out } => keygen(&name, &out),
        WitnessCommand::Push { to, log } => {
            let dir = log.unwrap_or_else(|| PathBuf::from(crate::audit::DEFAULT_DIR));
            push_cmd(&dir, &to)
        }
        WitnessCommand::LogKey { log } => log_key_cmd(&log.unwrap_or_else(|| PathBuf::from(crate::audit::DEFAULT_DIR))),
    }
}

/// Why a witness operation from the command line cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WitnessCliError {
    /// The log.
    #[error(transparent)]
    Log(#[from] AuditError),
    /// The log has no checkpoint to push.
    #[error("the audit log in {0} has no checkpoint yet")]
    NoCheckpoint(String),
    /// The log's latest checkpoint is not a checkpoint note.
    #[error("the latest checkpoint of {dir}: {reason}")]
    Note {
        /// The log.
        dir: String,
        /// Why.
        reason: String,
    },
    /// A witness refused or could not be reached.
    #[error(transparent)]
    Witness(#[from] client::ClientError),
    /// The records do not cover the size asked for.
    #[error("the log holds {have} records, not {want}")]
    Short {
        /// Records read.
        have: u64,
        /// Records needed.
        want: u64,
    },
}

/// The witness URLs `ORCHESTRA_AUDIT_WITNESS` names (none when unset or empty).
pub fn from_env() -> Vec<String> {
    std::env::var(ENV).map(|v| split_urls(&[v])).unwrap_or_default()
}

fn split_urls(v: &[String]) -> Vec<String> {
    v.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Push the latest checkpoint of `log` to every witness; returns one line per
/// witness that failed (the caller prints them as warnings).
pub fn push_latest(log: &AuditLog, urls: &[String]) -> Vec<String> {
    let Some(note) = log.latest_checkpoint() else { return Vec::new() };
    urls.iter()
        .filter_map(|u| push_one(log.dir(), note, u).err().map(|e| format!("cannot get a witness cosignature: {e}")))
        .collect()
}

/// Push `note` (a checkpoint of the log in `dir`) to the witness at `url`
/// and keep the cosigned note; returns the cosignature lines and where the
/// note was kept.
fn push_one(dir: &Path, note: &str, url: &str) -> Result<(String, PathBuf), WitnessCliError> {
    let bad = |reason: String| WitnessCliError::Note { dir: dir.display().to_string(), reason };
    let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
    let head = TreeHead::parse(&parsed.body).map_err(|e| bad(e.to_string()))?;
    let pushed = client::push(url, note, head.size, 0, |old| -> Result<Vec<Hash>, WitnessCliError> {
        let p = crate::audit::prove::consistency(dir, old, Some(head.size))
            .map_err(|e| WitnessCliError::Note { dir: dir.display().to_string(), reason: e.to_string() })?;
        Ok(p.path)
    })?;
    let kept = crate::audit::witness::store::keep(dir, &parsed, head.size, &pushed.lines)?;
    Ok((pushed.lines, kept))
}

/// The Merkle root over records `0..n` of the log in `dir`, computed from
/// the records themselves (never from the tile store: this is a check).
fn root_from_records(dir: &Path, n: u64) -> Result<Hash, WitnessCliError> {
    let segs = format::list_segments(dir)?;
    let mut f = Frontier::new();
    crate::audit::tree::for_each_record(dir, &segs, 0, n, &mut |_, payload| f.push(leaf_hash(payload)))?;
    Ok(f.root())
}

/// The log's keys as the verifier found them (`log_opened`, rotations).
fn log_keys(report: &VerifyReport) -> Vec<VerifierKey> {
    report.keys.iter().filter_map(|e| VerifierKey::parse(&e.key).ok()).collect()
}

fn push_cmd(dir: &Path, to: &[String]) -> Exit {
    let urls = if to.is_empty() { from_env() } else { split_urls(to) };
    if urls.is_empty() {
        return super::config_error(format!("no witness: pass --to URL or set {ENV}"));
    }
    let report = match verify_dir(dir, &VerifyOptions { trusted_key: None, since: None, allow_unsigned_tail: true }) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    if let Some(f) = &report.first_error {
        crate::sandbox::say!(
            "orchestra: error: the audit log fails verification ({}: {}); not pushing its checkpoint",
            f.code,
            f.reason
        );
        return Exit::Violation;
    }
    let Some(c) = report.last_checkpoint else {
        return super::config_error(WitnessCliError::NoCheckpoint(dir.display().to_string()));
    };
    // A refusal is a verdict on the log (4); a witness out of reach says nothing about it (1).
    let mut exit = Exit::Ok;
    for u in &urls {
        match push_one(dir, &c.note, u) {
            Ok((lines, kept)) => {
                outln!("cosigned by {u}: the checkpoint of {} records, kept in {}", c.size, kept.display());
                out!("{lines}");
            }
            Err(e @ WitnessCliError::Witness(client::ClientError::Unreachable { .. })) => {
                exit = exit.worst(super::config_error(e));
            }
            Err(e) => {
                crate::sandbox::say!("orchestra: error: {e}; nothing was cosigned");
                exit = exit.worst(Exit::Violation);
            }
        }
    }
    exit
}

/// `audit witness log-key`: the key string a witness is configured with for
/// this log (`serve --log`): the log's key in force, named after the origin
/// of its latest checkpoint.
fn log_key_cmd(dir: &Path) -> Exit {
    let report = match verify_dir(dir, &VerifyOptions { trusted_key: None, since: None, allow_unsigned_tail: true }) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    let Some(c) = report.last_checkpoint.clone() else {
        return super::config_error(WitnessCliError::NoCheckpoint(dir.display().to_string()));
    };
    let origin = c.note.split('\n').next().unwrap_or_default().to_string();
    if c.root.is_none() {
        return super::config_error(format!(
            "the audit log in {} is of format 1: its checkpoints commit to no Merkle tree, so no witness can check them",
            dir.display()
        ));
    }
    let Some(k) = log_keys(&report).into_iter().find(|k| k.id_hex() == c.key_id) else {
        return super::config_error(format!("the key {} of the latest checkpoint is not named in the log", c.key_id));
    };
    outln!("{}", crate::audit::checkpoint::note_key(&k, &origin).encode());
    Exit::Ok
}

fn keygen(name: &str, out: &Path) -> Exit {
    let key = match WitnessKey::generate(name) {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    if let Err(e) = key.write(out) {
        return super::config_error(e);
    }
    let v = key.verifier();
    outln!("wrote witness key {} ({}) to {} (mode 0600)", v.name, v.id_hex(), out.display());
    outln!("public key ({}):\n  {}", crate::audit::keys::public_path(out).display(), v.encode());
    outln!("verifiers pass it to `orchestra audit verify --witness-key`");
    Exit::Ok
}

/// Why a key argument (`--log`, `--witness-key`, `--witness-quorum`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyArgError {
    /// Neither a key string nor a readable file.
    #[error("{arg}: {source}")]
    Read {
        /// The argument as given.
        arg: String,
        /// Why it could not be read as a file.
        source: std::io::Error,
    },
    /// The text is not a key of the kind the flag wants.
    #[error("{flag} {arg}: {reason}")]
    Parse {
        /// The flag it was given to.
        flag: &'static str,
        /// The argument as given.
        arg: String,
        /// Why its text is not such a key.
        reason: String,
    },
    /// A quorum of none, or of more keys than were given.
    #[error("--witness-quorum {quorum}: want 1 to {keys} (the witness keys given)")]
    Quorum {
        /// The quorum asked for.
        quorum: usize,
        /// How many witness keys were given.
        keys: usize,
    },
}

/// A key string, or a file holding one.
fn key_arg(s: &str) -> Result<String, KeyArgError> {
    let p = Path::new(s);
    if s.contains('+') && !p.exists() {
        return Ok(s.to_string());
    }
    std::fs::read_to_string(p)
        .map(|t| t.trim().to_string())
        .map_err(|source| KeyArgError::Read { arg: s.to_string(), source })
}

/// The key `arg` (a key string or a file holding one) for `flag`, parsed by `parse`.
fn parsed_key<K, E: std::fmt::Display>(
    flag: &'static str,
    arg: &str,
    parse: impl Fn(&str) -> Result<K, E>,
) -> Result<K, KeyArgError> {
    let text = key_arg(arg)?;
    parse(&text).map_err(|e| KeyArgError::Parse { flag, arg: arg.to_string(), reason: e.to_string() })
}

fn serve(bind: &str, key: &Path, state: &Path, logs: &[String]) -> Exit {
    let key = match WitnessKey::load(key) {
        Ok(k) => k,
        Err(e) => return super::config_error(format!("--key: {e}")),
    };
    let mut keys = Vec::new();
    for l in logs {
        match parsed_key("--log", l, VerifierKey::parse) {
            Ok(k) => keys.push(k),
            Err(e) => return super::config_error(e),
        }
    }
    let origins: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    let witness = match Witness::open(key, keys, state) {
        Ok(w) => Arc::new(w),
        Err(e) => return super::config_error(format!("--state: {e}")),
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return super::config_error(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(bind).await {
            Ok(l) => l,
            Err(e) => return super::config_error(format!("--bind {bind}: {e}")),
        };
        let addr = listener.local_addr().map_or_else(|_| bind.to_string(), |a| a.to_string());
        let v = witness.key().verifier();
        outln!("witness {} ({}) listening on http://{addr} for {}", v.name, v.id_hex(), origins.join(", "));
        outln!("public key: {}", v.encode());
        let app = axum::Router::new()
            .route(crate::audit::witness::request::PATH, axum::routing::post(add_checkpoint))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
            .with_state(witness);
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        };
        match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            Ok(()) => Exit::Ok,
            Err(e) => super::config_error(format!("witness server: {e}")),
        }
    })
}

async fn add_checkpoint(
    axum::extract::State(w): axum::extract::State<Arc<Witness>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let verdict = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now)).await;
    let (status, ctype, text) = match verdict {
        Ok(Ok(v)) => (v.status(), v.content_type(), v.body()),
        Ok(Err(e)) => {
            tracing::error!(target: "orchestra::audit::witness", "{e}");
            (
                500,
                "text/plain; charset=utf-8",
                "the witness cannot read or write its state; nothing was cosigned\n".into(),
            )
        }
        Err(e) => {
            tracing::error!(target: "orchestra::audit::witness", "{e}");
            (500, "text/plain; charset=utf-8", "internal error; nothing was cosigned\n".into())
        }
    };
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(axum::http::header::CONTENT_TYPE, ctype)], text).into_response()
}

/// `audit verify --witness-key ... [--witness-quorum N]`.
#[derive(Debug, Default)]
pub struct WitnessCheck {
    /// The witness keys (key strings or files).
    pub keys: Vec<String>,
    /// How many must have cosigned (default: all).
    pub quorum: Option<usize>,
}

impl WitnessCheck {
    /// Parse the keys; `Err` is a usage error.
    pub fn parse(&self) -> Result<Vec<WitnessVerifier>, KeyArgError> {
        let keys: Vec<WitnessVerifier> = self
            .keys
            .iter()
            .map(|k| parsed_key("--witness-key", k, WitnessVerifier::parse))
            .collect::<Result<_, _>>()?;
        if let Some(q) = self.quorum
            && (q == 0 || q > keys.len())
        {
            return Err(KeyArgError::Quorum { quorum: q, keys: keys.len() });
        }
        Ok(keys)
    }
}

/// Check the latest cosigned note against the witness keys and the log;
/// the first failure (if nothing failed before) is `witness_missing`,
/// `witness_bad` or `witness_inconsistent`.
pub fn judge(report: &mut VerifyReport, dir: &Path, keys: &[WitnessVerifier], quorum: Option<usize>) {
    let need = quorum.unwrap_or(keys.len());
    match check(dir, &log_keys(report), report.records, keys, need) {
        Ok(msg) => report.warnings.push(msg),
        Err((code, reason)) => {
            if report.first_error.is_none() {
                report.first_error = Some(Failure { code, segment: None, offset: None, seq: None, reason });
            }
        }
    }
}

fn check(
    dir: &Path,
    log_keys: &[VerifierKey],
    records: u64,
    keys: &[WitnessVerifier],
    need: usize,
) -> Result<String, (&'static str, String)> {
    let Some((size, path)) = crate::audit::witness::store::latest(dir) else {
        return Err(("witness_missing", format!("no cosigned checkpoint in {}", dir.join("cosigned").display())));
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|e| ("witness_bad", format!("{shown}: {e}")))?;
    let note = Note::parse(&text).map_err(|e| ("witness_bad", format!("{shown}: {e}")))?;
    let head = TreeHead::parse(&note.body).map_err(|e| ("witness_bad", format!("{shown}: {e}")))?;
    if head.size != size {
        return Err(("witness_bad", format!("{shown} holds a checkpoint of {} records", head.size)));
    }
    let signed: Vec<Signed> = log_keys.iter().map(|k| note.signed_by(k)).collect();
    if signed.contains(&Signed::Bad) || !signed.contains(&Signed::Yes) {
        return Err(("witness_bad", format!("{shown} is not validly signed by a key of this log")));
    }
    let mut ok = Vec::new();
    let mut missing = Vec::new();
    for k in keys {
        match k.verify(&note) {
            Ok(t) => ok.push(format!("{} at {}", k.name, t)),
            Err(CosigError::Missing(_)) => missing.push(k.name.clone()),
            Err(e @ CosigError::Bad(_)) => return Err(("witness_bad", format!("{shown}: {e}"))),
        }
    }
    if ok.len() < need {
        return Err((
            "witness_missing",
            format!(
                "{shown} carries {} of the {need} cosignatures required (missing: {})",
                ok.len(),
                missing.join(", ")
            ),
        ));
    }
    if head.size > records {
        return Err((
            "witness_inconsistent",
            format!(
                "witnesses cosigned {} records but the log has {}: it was truncated or rolled back",
                head.size, records
            ),
        ));
    }
    let root = root_from_records(dir, head.size).map_err(|e| ("witness_inconsistent", e.to_string()))?;
    if root != head.root {
        return Err((
            "witness_inconsistent",
            format!(
                "the log's first {} records are not the ones witnesses cosigned (another Merkle root): it was rewritten or forked",
                head.size
            ),
        ));
    }
    Ok(format!("witnessed: the checkpoint of {} records is cosigned by {}", head.size, ok.join(", ")))
}
