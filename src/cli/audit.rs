//! `orchestra audit ...`: verify, show and manage the audit log.
//!
//! Exit codes: 0 when the command did what it says (for `verify`: the log is
//! intact), 4 when verification fails, 1 for usage and configuration errors.

use crate::audit::anchor::Anchor;
use crate::audit::checkpoint::SignedCheckpoint;
use crate::audit::keys::{self, AuditKey, VerifierKey, hex};
use crate::audit::verify::{RecordStatus, SeenRecord, VerifyReport, verify_dir_with};
use crate::audit::{AuditError, AuditLog, DEFAULT_DIR, KeyRing, VerifyOptions, bench, default_key_path, verify_dir};
use crate::exit::Exit;
use clap::Subcommand;
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log (exit 0 intact, 4 failed, 1 usage error).
    ///
    /// Checks framing, the hash chain, every checkpoint signature and every
    /// key rotation. Without `--trusted-key` a passing log proves only that it
    /// is self-consistent, not who wrote it. Without `--since-checkpoint` a
    /// log cut short at the end cannot be told from a shorter log. With
    /// `--trusted-key`, records no trusted checkpoint signs fail
    /// (`unsigned_tail`) unless `--allow-unsigned-tail`. After a failure the
    /// rest of the log (and a `continued/` log a writer started because of
    /// the damage) is still read and reported.
    Verify {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// The public key file (`audit.key.pub`) the reviewer pinned.
        #[arg(long, value_name = "FILE")]
        trusted_key: Option<PathBuf>,
        /// A checkpoint exported earlier (`audit checkpoint --export`): the log
        /// must extend it, which detects truncation, rollback and forks.
        #[arg(long, value_name = "FILE")]
        since_checkpoint: Option<PathBuf>,
        /// Accept records after the last trusted checkpoint (reported, not a
        /// failure): for checking a log while a writer is live, or after a
        /// crash before the next writer adopted and signed them.
        #[arg(long, requires = "trusted_key")]
        allow_unsigned_tail: bool,
        /// An anchor the log's checkpoints are pushed to (`file:///dir` or
        /// `s3://BUCKET/PREFIX?endpoint=URL&region=R`, repeatable): the log
        /// must extend the largest checkpoint anchored there (truncation,
        /// rollback and forks are detected from the anchor alone), and there
        /// must be one. An anchor that cannot be read is exit 1.
        #[arg(long, value_name = "URL")]
        anchor: Vec<String>,
        /// With `--anchor`: fail (`anchor_stale`) when the newest anchored
        /// checkpoint was signed longer ago than this (humantime: 15m, 1h): a
        /// writer or heartbeat that stopped anchoring shows.
        #[arg(long, value_name = "AGE", requires = "anchor", value_parser = humantime::parse_duration)]
        max_age: Option<Duration>,
        /// PEM certificate(s) of the TSA or of the CA that issued it: every
        /// RFC 3161 timestamp stored beside the segments must verify under it
        /// and be of a checkpoint the log holds (`timestamp_bad`), and there
        /// must be one (`timestamp_missing`). The latest is reported with its
        /// genTime.
        #[arg(long, value_name = "PEM")]
        tsa_cert: Option<PathBuf>,
        /// A witness's public key (`<name>+<key id>+<base64>`, or a file
        /// holding it; repeatable): the latest cosigned checkpoint kept in
        /// `<dir>/cosigned/` must carry its valid cosignature, be signed by a
        /// key of the log, and its size and Merkle root must be the log's
        /// (`witness_missing`, `witness_bad`, `witness_inconsistent`).
        #[arg(long, value_name = "KEY")]
        witness_key: Vec<String>,
        /// With `--witness-key`: how many of the witnesses must have cosigned
        /// (default: all given).
        #[arg(long, value_name = "N", requires = "witness_key")]
        witness_quorum: Option<usize>,
        /// A worker's audit log directory (or its state directory, holding
        /// `audit/`; repeatable), for a distributed run's log: every
        /// authenticated `remote_result` record must name a worker log found
        /// among them by its id (`fleet_missing`) that verifies
        /// (`fleet_unverified`), and the checkpoint it carries must be signed
        /// by that log's key in force, be the log's history at that size and
        /// cover the task's `delivery_ended` record (`fleet_bad`).
        #[arg(long, value_name = "DIR")]
        fleet: Vec<PathBuf>,
        /// With `--fleet`: a worker host's audit public key (a key string, or
        /// the `.pub` file; repeatable): each worker log must be signed by one
        /// of them (as `--trusted-key` for a log), not only by the keys it
        /// declares itself.
        #[arg(long, value_name = "KEY", requires = "fleet")]
        fleet_key: Vec<String>,
        /// With `--fleet`: a `remote_result` that names no worker log fails
        /// (`fleet_unlinked`) instead of being a warning.
        #[arg(long, requires = "fleet")]
        fleet_strict: bool,
        /// Print the evidence as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print records (JSON Lines with `--json`, for a SIEM), each with its status.
    ///
    /// A record is authenticated (`signed`) when a checkpoint covers it: with
    /// `--trusted-key`, one by the trusted key or its successors; without, any
    /// valid one (self-consistency only). Others are marked: `unsigned` (after
    /// the last such checkpoint), `adopted` (found unsigned by a later writer),
    /// `after_damage` (after the first failure, which does not stop the
    /// listing). Records of a `continued/` log follow. Exit 4 if the log fails
    /// verification.
    Show {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// The public key file the reviewer pinned (see `verify`).
        #[arg(long, value_name = "FILE")]
        trusted_key: Option<PathBuf>,
        /// Only records whose body has this `run_id`.
        #[arg(long, value_name = "ID")]
        run: Option<String>,
        /// Only records of this invocation (the `invocation` id every record
        /// an `orchestra` process writes carries).
        #[arg(long, value_name = "ID")]
        invocation: Option<String>,
        /// Only records of this kind (e.g. `violation`).
        #[arg(long, value_name = "K")]
        kind: Option<String>,
        /// Only records at or after TIME: RFC 3339 (`2026-11-24T14:30:00Z`) or
        /// a duration ago (`2h`).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// With `--json`: also one line per checkpoint (size, head, time,
        /// signature lines, the log key that verified it) and per stored RFC
        /// 3161 timestamp (genTime, TSA), after the records (`"type"`:
        /// `"record"`, `"checkpoint"`, `"timestamp"`).
        #[arg(long, requires = "json")]
        checkpoints: bool,
        /// Keep printing records as writers append them (every half second,
        /// until interrupted).
        #[arg(long, short = 'f')]
        follow: bool,
        /// One OCSF event per line (schema 1.8.0: violations as Detection
        /// Findings, task starts and ends as Process Activity, the rest as
        /// Base Events, each with the record under `unmapped`).
        #[arg(long, conflicts_with = "json")]
        ocsf: bool,
    },
    /// Create the signing key (refuses to overwrite one without `--force`).
    Keygen {
        /// Overwrite an existing key.
        #[arg(long)]
        force: bool,
        /// Key file (default `$ORCHESTRA_AUDIT_KEY`, else `~/.config/orchestra/audit.key`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Replace the signing key; the rotation is a record signed by the old key.
    ///
    /// With `--forward-secure EPOCH` the log gets a key of its own that every
    /// writer replaces when the epoch is over, destroying the old private key:
    /// whoever steals the key in force cannot re-sign earlier epochs.
    Rotate {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// Key file (default `$ORCHESTRA_AUDIT_KEY`, else `~/.config/orchestra/audit.key`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Forward-secure epochs of this length (humantime: 1h, 1d; at least 1s).
        #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
        forward_secure: Option<u64>,
    },
    /// Write the latest signed checkpoint to a file for a reviewer to keep.
    ///
    /// If the signing key is available a fresh checkpoint is signed first.
    /// Later, `audit verify --since-checkpoint FILE` proves the log still
    /// extends it.
    Checkpoint {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// Where to write the checkpoint note.
        #[arg(long, value_name = "FILE")]
        export: PathBuf,
        /// Key file (default `$ORCHESTRA_AUDIT_KEY`, else `~/.config/orchestra/audit.key`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Push the log's latest checkpoint to anchors (after a `heartbeat`
    /// record, so an idle log still gets a fresh one), and to the witnesses
    /// and the TSA that `ORCHESTRA_AUDIT_WITNESS` / `ORCHESTRA_AUDIT_TSA`
    /// name; with `--every`, again and again (run it as a service: a stopped
    /// heartbeat shows as `verify --anchor --max-age`).
    Anchor {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// Anchor URL (`file:///dir` or `s3://BUCKET/PREFIX?endpoint=URL&region=R&lock=MODE&retain=DAYS`;
        /// repeatable; default `$ORCHESTRA_AUDIT_ANCHOR`).
        #[arg(long, value_name = "URL")]
        to: Vec<String>,
        /// Repeat every AGE (humantime: 5m) until interrupted.
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        every: Option<Duration>,
        /// Key file (default `$ORCHESTRA_AUDIT_KEY`, else `~/.config/orchestra/audit.key`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Prove to a third party that a record is in the log, or that the log
    /// extends an older checkpoint (format-2 logs; checked by
    /// `audit/verify.py` or any C2SP tlog tool, without the log).
    #[command(subcommand)]
    Prove(super::prove::ProveCommand),
    /// Timestamp the log's latest checkpoint at an RFC 3161 TSA and store
    /// the reply beside the segments (`timestamps/`); `verify --tsa-cert`
    /// checks it. Writers do this after each exec and run when
    /// `ORCHESTRA_AUDIT_TSA` names a TSA.
    Timestamp {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// The TSA's URL (http:// or https://; default `$ORCHESTRA_AUDIT_TSA`).
        #[arg(long, value_name = "URL")]
        tsa: Option<String>,
    },
    /// C2SP witnesses: run one (`serve`), make its key (`keygen`), get a log's
    /// checkpoint cosigned (`push`).
    #[command(subcommand)]
    Witness(super::witness::WitnessCommand),
    /// Retention: remove the records before a segment boundary, copied to
    /// `--archive DIR` first (or `--delete`d). The pruning is recorded in a
    /// signed `log_pruned` record; `verify` then starts from the checkpoint
    /// the first remaining segment begins with (the prune marker `pruned`),
    /// and the archive verifies as a log of its own.
    Prune {
        /// Log directory (default `.orchestra/audit`).
        dir: Option<PathBuf>,
        /// Remove the records before this sequence number (rounded down to a
        /// segment boundary).
        #[arg(long, value_name = "SEQ", required_unless_present = "older_than", conflicts_with = "older_than")]
        before: Option<u64>,
        /// Remove the segments whose records are all older than AGE
        /// (humantime: 90d).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,
        /// Copy the removed segments here first (never overwriting a file).
        #[arg(long, value_name = "DIR", required_unless_present = "delete")]
        archive: Option<PathBuf>,
        /// Delete them without a copy.
        #[arg(long, conflicts_with = "archive")]
        delete: bool,
        /// Key file (default `$ORCHESTRA_AUDIT_KEY`, else `~/.config/orchestra/audit.key`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Measure append and verify throughput next to raw SHA-256 and ed25519.
    Bench {
        /// Records to append.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// Also build a Merkle subtree store of N leaves and time inclusion and
        /// consistency proofs from it (the targets are for 10,000,000: about
        /// 330 MB of scratch space).
        #[arg(long, value_name = "N")]
        merkle_leaves: Option<u64>,
        /// Scratch directory to write in (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run an audit subcommand.
pub fn run(cmd: AuditCommand) -> Exit {
    match cmd {
        AuditCommand::Verify {
            dir,
            trusted_key,
            since_checkpoint,
            allow_unsigned_tail,
            anchor,
            max_age,
            tsa_cert,
            witness_key,
            witness_quorum,
            fleet,
            fleet_key,
            fleet_strict,
            json,
        } => {
            let outside = Outside {
                anchors: Anchors { urls: anchor, max_age },
                tsa_cert,
                witnesses: super::witness::WitnessCheck { keys: witness_key, quorum: witness_quorum },
                fleet: super::fleet_verify::FleetArgs { dirs: fleet, keys: fleet_key, strict: fleet_strict },
            };
            verify(
                &log_dir(dir),
                trusted_key.as_deref(),
                since_checkpoint.as_deref(),
                allow_unsigned_tail,
                &outside,
                json,
            )
        }
        AuditCommand::Timestamp { dir, tsa } => timestamp(&log_dir(dir), tsa),
        AuditCommand::Witness(cmd) => super::witness::run(cmd),
        AuditCommand::Anchor { dir, to, every, key } => {
            anchor(&log_dir(dir), &to, every, &key.unwrap_or_else(default_key_path))
        }
        AuditCommand::Show { dir, trusted_key, run, invocation, kind, since, json, checkpoints, follow, ocsf } => {
            let format = if ocsf {
                ShowFormat::Ocsf
            } else if json {
                ShowFormat::Json
            } else {
                ShowFormat::Text
            };
            let filter = ShowFilter { run, invocation, kind, since, checkpoints };
            show(&log_dir(dir), trusted_key.as_deref(), filter, format, follow)
        }
        AuditCommand::Keygen { force, key } => keygen(&key.unwrap_or_else(default_key_path), force),
        AuditCommand::Rotate { dir, key, forward_secure } => {
            rotate(&log_dir(dir), &key.unwrap_or_else(default_key_path), forward_secure)
        }
        AuditCommand::Checkpoint { dir, export, key } => {
            checkpoint(&log_dir(dir), &export, &key.unwrap_or_else(default_key_path))
        }
        AuditCommand::Prove(p) => super::prove::run(p),
        AuditCommand::Prune { dir, before, older_than, archive, delete: _, key } => {
            let before = match (before, older_than) {
                (Some(s), _) => super::retention::Before::Seq(s),
                (None, Some(age)) => super::retention::Before::Age(age),
                (None, None) => return super::config_error("audit prune: give --before SEQ or --older-than AGE"),
            };
            super::retention::prune(&log_dir(dir), &key.unwrap_or_else(default_key_path), before, archive.as_deref())
        }
        AuditCommand::Bench { records, merkle_leaves, dir, json } => run_bench(records, merkle_leaves, dir, json),
    }
}

/// Why a `--forward-secure` epoch is refused.
#[derive(Debug, thiserror::Error)]
enum EpochError {
    #[error("{0} (want e.g. 1h, 30m, 1d)")]
    Syntax(humantime::DurationError),
    #[error("an epoch is at least 1s")]
    TooShort,
}

/// `--forward-secure EPOCH`: whole seconds, at least one.
fn parse_epoch(s: &str) -> Result<u64, EpochError> {
    let d = humantime::parse_duration(s).map_err(EpochError::Syntax)?;
    match d.as_secs() {
        0 => Err(EpochError::TooShort),
        n => Ok(n),
    }
}

fn log_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Why an argument of `orchestra audit` cannot be used.
#[derive(Debug, thiserror::Error)]
enum ArgError {
    #[error("{flag} {}: {source}", path.display())]
    Read { flag: &'static str, path: PathBuf, source: std::io::Error },
    #[error(
        "--trusted-key {} is a private key; pass the public key file (`.pub`) and keep the private key secret",
        .0.display()
    )]
    PrivateKey(PathBuf),
    #[error("--trusted-key {}: {error}", path.display())]
    TrustedKey { path: PathBuf, error: crate::audit::keys::KeyParseError },
    #[error("--since-checkpoint {}: {error}", path.display())]
    Checkpoint { path: PathBuf, error: crate::audit::checkpoint::NoteError },
    #[error(transparent)]
    Clock(#[from] std::time::SystemTimeError),
    #[error("--since {0:?}: want an RFC 3339 time or a duration such as 2h")]
    Since(String),
}

fn read_trusted(path: &Path) -> Result<VerifierKey, ArgError> {
    let read = |source| ArgError::Read { flag: "--trusted-key", path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(read)?;
    if text.starts_with("PRIVATE+KEY+") {
        return Err(ArgError::PrivateKey(path.to_path_buf()));
    }
    VerifierKey::parse(text.trim()).map_err(|error| ArgError::TrustedKey { path: path.to_path_buf(), error })
}

fn read_checkpoint(path: &Path) -> Result<SignedCheckpoint, ArgError> {
    let read = |source| ArgError::Read { flag: "--since-checkpoint", path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(read)?;
    SignedCheckpoint::parse(&text).map_err(|error| ArgError::Checkpoint { path: path.to_path_buf(), error })
}

/// `audit verify --anchor ... [--max-age]`.
struct Anchors {
    urls: Vec<String>,
    max_age: Option<Duration>,
}

/// What `audit verify` checks the log against outside it: anchors, RFC 3161
/// timestamps (`--tsa-cert`), witness cosignatures (`--witness-key`).
struct Outside {
    anchors: Anchors,
    tsa_cert: Option<PathBuf>,
    witnesses: super::witness::WitnessCheck,
    /// `--fleet`: the workers' logs behind the run's `remote_result` records.
    fleet: super::fleet_verify::FleetArgs,
}

fn verify(
    dir: &Path,
    trusted: Option<&Path>,
    since: Option<&Path>,
    allow_unsigned_tail: bool,
    outside: &Outside,
    json: bool,
) -> Exit {
    let Outside { anchors, tsa_cert, witnesses, fleet } = outside;
    if let Err(e) = fleet.validate() {
        return super::config_error(e);
    }
    let tsa_trusted = match tsa_cert.as_deref().map(|p| {
        std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|pem| crate::audit::timestamp::load_trusted(&pem).map_err(|e| e.to_string()))
            .map_err(|e| format!("--tsa-cert {}: {e}", p.display()))
    }) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return super::config_error(e),
    };
    let trusted_key = match trusted.map(read_trusted).transpose() {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    let witness_keys = match witnesses.parse() {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    let mut since_cp = match since.map(read_checkpoint).transpose() {
        Ok(c) => c,
        Err(e) => return super::config_error(e),
    };
    let parsed: Result<Vec<_>, _> = anchors.urls.iter().map(|u| Anchor::parse(u)).collect();
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return super::config_error(format!("--anchor {e}")),
    };
    // The largest anchored checkpoint is what the log must extend (with an
    // exported one too, the larger of the two).
    let found = super::anchor::log_id(dir).ok().map(|id| super::anchor::anchored(&parsed, &id));
    // An anchor that cannot be read says nothing about the log (a network,
    // server or credentials problem): not a verdict (4) but an unusable
    // setting (1), and never a pass.
    if let Some(u) = found.as_ref().and_then(|f| f.unreadable.first()) {
        return super::config_error(format!("{u}; the log was not verified against it"));
    }
    let latest = found.as_ref().and_then(|f| f.latest.clone());
    if let Some((_, c)) = &latest
        && since_cp.as_ref().is_none_or(|s| c.checkpoint.size > s.checkpoint.size)
    {
        since_cp = Some(c.clone());
    }
    let opts = VerifyOptions { trusted_key, since: since_cp, allow_unsigned_tail };
    let (mut report, remote) = if fleet.wanted() {
        match crate::audit::fleet::verify_collecting(dir, &opts) {
            Ok(r) => r,
            Err(e) => return super::config_error(e),
        }
    } else {
        match verify_dir(dir, &opts) {
            Ok(r) => (r, Vec::new()),
            Err(e) => return super::config_error(e),
        }
    };
    if !parsed.is_empty() {
        judge_anchors(&mut report, &parsed, found.as_ref(), latest.as_ref(), anchors.max_age);
    }
    if !witness_keys.is_empty() {
        super::witness::judge(&mut report, dir, &witness_keys, witnesses.quorum);
    }
    let fleet_report = match fleet.wanted().then(|| fleet.judge(&mut report, &remote, allow_unsigned_tail)).transpose()
    {
        Ok(f) => f,
        Err(e) => return super::config_error(e),
    };
    if opts.trusted_key.is_none() {
        report.warnings.insert(
            0,
            "UNAUTHENTICATED: no --trusted-key was given, so this proves only that the log is self-consistent and NOTHING about who wrote it; anyone can write a consistent log under their own key".into(),
        );
    }
    if opts.since.is_none() && parsed.is_empty() {
        report.warnings.push(
            "truncation of the tail (records and checkpoints removed from the end, or a rollback to an older copy) cannot be detected without an exported checkpoint; keep one with `orchestra audit checkpoint --export FILE` and pass it with --since-checkpoint".into(),
        );
    }
    let timestamps = match tsa_trusted.map(|t| super::timestamp::judge(&mut report, dir, &t)).transpose() {
        Ok(t) => t,
        Err(e) => return super::config_error(e),
    };
    if !report.ok() {
        report.verdict = "fail";
    }
    if json {
        // The timestamps' summary is added to the report's object (additive).
        let mut v = match serde_json::to_value(&report) {
            Ok(v) => v,
            Err(e) => return super::config_error(e),
        };
        if let Some(t) = timestamps {
            v["timestamps"] = t;
        }
        if let Some(f) = &fleet_report {
            v["fleet"] = match serde_json::to_value(f) {
                Ok(f) => f,
                Err(e) => return super::config_error(e),
            };
        }
        match serde_json::to_string_pretty(&v) {
            Ok(s) => outln!("{s}"),
            Err(e) => return super::config_error(e),
        }
    } else {
        print_report(dir, &report, trusted);
        if let Some(f) = &fleet_report {
            out!("{}", super::fleet_verify::summary(f));
        }
    }
    if report.ok() { Exit::Ok } else { Exit::Violation }
}

fn print_report(dir: &Path, r: &VerifyReport, trusted: Option<&Path>) {
    let mut out = String::new();
    let log = r.log_id.as_deref().unwrap_or("?");
    match &r.first_error {
        None => out.push_str(&format!("audit log {} (log {log}): INTACT\n", dir.display())),
        Some(f) => {
            out.push_str(&format!("audit log {} (log {log}): VERIFICATION FAILED [{}]\n", dir.display(), f.code));
            let mut at = Vec::new();
            if let Some(s) = &f.segment {
                at.push(format!("segment {s}"));
            }
            if let Some(o) = f.offset {
                at.push(format!("offset {o}"));
            }
            if let Some(q) = f.seq {
                at.push(format!("sequence {q}"));
            }
            if at.is_empty() {
                out.push_str(&format!("  failed: {}\n", f.reason));
            } else {
                out.push_str(&format!("  first bad record: {}: {}\n", at.join(", "), f.reason));
            }
            out.push_str(&format!("  verified before it: {} records, {} checkpoints\n", r.records, r.checkpoints));
        }
    }
    if r.first_error.is_none() {
        out.push_str(&format!("  {} segment(s), {} records, {} checkpoints", r.segments, r.records, r.checkpoints));
        if let Some(c) = &r.last_checkpoint {
            out.push_str(&format!(
                "; last checkpoint covers {} records (head {}, key {})",
                c.size,
                &c.head[..16],
                c.key_id
            ));
        }
        out.push('\n');
    }
    for k in &r.keys {
        out.push_str(&format!("  key {} signs from record {} ({} checkpoints)\n", k.key_id, k.from_seq, k.checkpoints));
    }
    if let (Some(id), Some(p)) = (&r.trusted_key, trusted) {
        if r.first_error.is_none() {
            out.push_str(&format!(
                "  trusted key {id} (from {}): {} records authenticated\n",
                p.display(),
                r.authenticated_records
            ));
        } else {
            out.push_str(&format!("  trusted key {id} (from {})\n", p.display()));
        }
    }
    if let Some(n) = r.since_checkpoint
        && r.first_error.is_none()
    {
        out.push_str(&format!("  extends the exported checkpoint of {n} records\n"));
    }
    if r.unsigned_tail > 0 {
        out.push_str(&format!("  {} record(s) after the last checkpoint: UNSIGNED\n", r.unsigned_tail));
    }
    // Adopted records and what follows a failure are in the report's
    // warnings (printed below), which the verifier words once for both outputs.
    out!("{out}");
    let _ = std::io::stdout().flush();
    for w in &r.warnings {
        crate::sandbox::say!("orchestra: warning: {w}");
    }
    if let Some(c) = &r.continued {
        let sub = dir.join(crate::audit::writer::CONTINUED);
        outln!("continued in {} (a writer found the log above damaged):", sub.display());
        print_report(&sub, c, trusted);
    }
}

fn parse_since(s: &str) -> Result<u64, ArgError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64)?);
    }
    let d: Duration = humantime::parse_duration(s).map_err(|_| ArgError::Since(s.to_string()))?;
    let t = SystemTime::now().checked_sub(d).unwrap_or(UNIX_EPOCH);
    Ok(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64))
}

fn time_text(us: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_micros(us);
    humantime::format_rfc3339_micros(t).to_string()
}

/// Which records `show` prints.
struct ShowFilter {
    run: Option<String>,
    invocation: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    /// `--checkpoints`: checkpoint and timestamp lines too.
    checkpoints: bool,
}

/// The report of the log a record is in: `top`, or the `continued/` one below it.
fn report_for<'r>(top: &'r VerifyReport, top_dir: &Path, log: &Path) -> &'r VerifyReport {
    let mut r = top;
    let mut d = top_dir.to_path_buf();
    while d != log {
        match &r.continued {
            Some(c) => {
                r = c;
                d = d.join(crate::audit::writer::CONTINUED);
            }
            None => break,
        }
    }
    r
}

/// How `audit show` prints a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShowFormat {
    Text,
    Json,
    Ocsf,
}

fn show(dir: &Path, trusted: Option<&Path>, filter: ShowFilter, format: ShowFormat, follow: bool) -> Exit {
    let since_us = match filter.since.as_deref().map(parse_since).transpose() {
        Ok(s) => s,
        Err(e) => return super::config_error(e),
    };
    let trusted_key = match trusted.map(read_trusted).transpose() {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    let opts = VerifyOptions { trusted_key, since: None, allow_unsigned_tail: true };
    // With --follow: the next sequence to print, per log (the log and its
    // continuation), and the segments' sizes when last read.
    let mut next: std::collections::HashMap<PathBuf, u64> = std::collections::HashMap::new();
    let mut extras = ShownExtras::default();
    let mut seen_sizes = Vec::new();
    loop {
        let exit = show_pass(dir, &opts, &filter, since_us, format, &mut next);
        if format == ShowFormat::Json && filter.checkpoints && exit != Exit::Config {
            show_extras(dir, &filter, since_us, &mut extras);
        }
        if !follow || exit == Exit::Config {
            return exit;
        }
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let sizes = segment_sizes(dir);
            if sizes != seen_sizes {
                seen_sizes = sizes;
                break;
            }
        }
    }
}

/// What `show --json` printed besides records: checkpoints per log, and
/// timestamp files.
#[derive(Default)]
struct ShownExtras {
    checkpoints: std::collections::HashMap<PathBuf, usize>,
    timestamps: std::collections::HashSet<String>,
}

/// `show --json`, after the records: one line per checkpoint frame (of the
/// log and its continuations) and per stored timestamp not printed yet
/// (`"type": "checkpoint"` / `"timestamp"`; records are `"type": "record"`).
/// Only without `--run`/`--invocation`, and with `--kind` only for that type.
fn show_extras(dir: &Path, filter: &ShowFilter, since_us: Option<u64>, shown: &mut ShownExtras) {
    if filter.run.is_some() || filter.invocation.is_some() {
        return;
    }
    let wants = |k: &str| filter.kind.as_deref().is_none_or(|f| f == k);
    let mut out = String::new();
    let mut d = dir.to_path_buf();
    while let Ok(segs) = crate::audit::format::list_segments(&d) {
        if segs.is_empty() {
            break;
        }
        let log = d.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default();
        let keys: Vec<VerifierKey> = verify_dir(&d, &VerifyOptions { allow_unsigned_tail: true, ..Default::default() })
            .map(|r| r.keys.iter().filter_map(|k| VerifierKey::parse(&k.key).ok()).collect())
            .unwrap_or_default();
        let mut n = 0usize;
        let done = shown.checkpoints.entry(d.clone()).or_insert(0);
        for seg in &segs {
            let Ok((mut stream, _)) = crate::audit::format::FrameStream::open(&seg.path) else { break };
            while let Ok(crate::audit::format::Streamed::Frame { ty, at }) = stream.next_frame() {
                if ty != crate::audit::format::FRAME_CHECKPOINT {
                    continue;
                }
                n += 1;
                if n <= *done || !wants("checkpoint") {
                    continue;
                }
                let text = String::from_utf8_lossy(stream.payload()).into_owned();
                let mut v = json!({"type": "checkpoint", "segment": seg.name, "offset": at, "note": text});
                match SignedCheckpoint::parse(&text) {
                    Ok(c) => {
                        if since_us.is_some_and(|t| c.checkpoint.time_us < t) {
                            continue;
                        }
                        let verified_by = keys.iter().find(|k| c.verify(k).is_ok()).map(VerifierKey::id_hex);
                        v["size"] = json!(c.checkpoint.size);
                        v["head"] = json!(hex(&c.checkpoint.head));
                        v["root"] = json!(c.checkpoint.root.map(|r| hex(&r)));
                        v["format"] = json!(c.checkpoint.version());
                        v["time"] = json!(time_text(c.checkpoint.time_us));
                        v["time_us"] = json!(c.checkpoint.time_us);
                        v["signatures"] = c
                            .signatures
                            .iter()
                            .map(|s| json!({"name": s.name, "key_id": hex(&s.id)}))
                            .collect::<Vec<_>>()
                            .into();
                        v["verified_by"] = json!(verified_by);
                    }
                    Err(e) => v["error"] = json!(e.to_string()),
                }
                if !log.is_empty() {
                    v["log"] = json!(log);
                }
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
        *done = n;
        d = d.join(crate::audit::writer::CONTINUED);
    }
    if wants("timestamp") {
        for v in super::timestamp::show_lines(dir) {
            let file = v["file"].as_str().unwrap_or_default().to_string();
            if shown.timestamps.insert(file) {
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
    }
    out!("{out}");
}

/// Every segment file's size in `dir` and the logs continuing it (what
/// `show --follow` watches).
fn segment_sizes(dir: &Path) -> Vec<u64> {
    let mut v = Vec::new();
    let mut d = dir.to_path_buf();
    while let Ok(segs) = crate::audit::format::list_segments(&d) {
        if segs.is_empty() {
            break;
        }
        v.extend(segs.iter().map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len())));
        d = d.join(crate::audit::writer::CONTINUED);
    }
    v
}

/// One pass of `audit show`: print the records from `next` on (per log) and
/// advance it.
fn show_pass(
    dir: &Path,
    opts: &VerifyOptions,
    filter: &ShowFilter,
    since_us: Option<u64>,
    format: ShowFormat,
    next: &mut std::collections::HashMap<PathBuf, u64>,
) -> Exit {
    // What counts as authenticated is known only at the end of the log: a
    // first pass verifies, the second prints each record with its status.
    let first = match verify_dir(dir, opts) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    // Lines are gathered and handed to stdout 64 KiB at a time.
    let mut out = String::new();
    let mut print = |s: &SeenRecord<'_>| {
        let r = &s.record;
        let from = next.entry(s.log.to_path_buf()).or_insert(0);
        if r.seq < *from {
            return;
        }
        *from = r.seq + 1;
        if filter.kind.as_deref().is_some_and(|k| k != r.kind) || since_us.is_some_and(|t| r.time_us < t) {
            return;
        }
        let body = r.body_json();
        let differs = |field: &str, want: &Option<String>| {
            want.as_ref().is_some_and(|w| body.get(field).and_then(|v| v.as_str()) != Some(w.as_str()))
        };
        if differs("run_id", &filter.run) || differs("invocation", &filter.invocation) {
            return;
        }
        let of_log = report_for(&first, dir, s.log);
        let status = s.status(of_log);
        let log = s.log.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default();
        let line = if format == ShowFormat::Ocsf {
            let view = crate::audit::ocsf::RecordView {
                log_id: of_log.log_id.as_deref().unwrap_or(""),
                seq: r.seq,
                hash: &hex(&s.hash),
                time_us: r.time_us,
                kind: r.kind,
                body: &body,
                status: status.as_str(),
                authenticated: status.authenticated(),
            };
            crate::audit::ocsf::event(&view, env!("CARGO_PKG_VERSION")).to_string()
        } else if format == ShowFormat::Json {
            let mut v = json!({
                "type": "record", "seq": r.seq, "time": time_text(r.time_us), "time_us": r.time_us, "kind": r.kind,
                "body": body, "hash": hex(&s.hash), "prev": hex(&r.prev), "segment": s.segment, "offset": s.offset,
                "status": status.as_str(), "authenticated": status.authenticated(),
            });
            if !log.is_empty() {
                v["log"] = json!(log);
            }
            v.to_string()
        } else {
            let mark = match status {
                RecordStatus::Signed => String::new(),
                other => format!(" [{}]", other.as_str().to_uppercase()),
            };
            let log = if log.is_empty() { String::new() } else { format!("{log}/ ") };
            format!(
                "{log}{:>8} {} {:<14} {}{mark}",
                r.seq,
                time_text(r.time_us),
                r.kind,
                String::from_utf8_lossy(r.body)
            )
        };
        out.push_str(&line);
        out.push('\n');
        if out.len() >= 64 << 10 {
            out!("{out}");
            out.clear();
        }
    };
    let report = verify_dir_with(dir, opts, &mut print);
    out!("{out}");
    match report {
        Err(e) => super::config_error(e),
        Ok(r) => match r.first_error {
            None => {
                if r.unsigned_tail > 0 || !r.adopted.is_empty() {
                    crate::sandbox::say!(
                        "orchestra: warning: records marked UNSIGNED or ADOPTED are not authenticated; see `orchestra audit verify`"
                    );
                }
                Exit::Ok
            }
            Some(f) => {
                crate::sandbox::say!(
                    "orchestra: audit log damaged at {} offset {}: {} [{}]; records after it are marked AFTER_DAMAGE; run `orchestra audit verify`",
                    f.segment.as_deref().unwrap_or("?"),
                    f.offset.unwrap_or(0),
                    f.reason,
                    f.code
                );
                Exit::Violation
            }
        },
    }
}

fn keygen(path: &Path, force: bool) -> Exit {
    let key = match AuditKey::generate() {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    let ring = KeyRing::at(path);
    wait_for_tasks(&ring);
    // With --force the key it replaces stays in the ring: the logs it signs
    // still extend and rotate with it. Neither happens while a task runs.
    let written = if force && path.exists() {
        ring.set_default(&key)
    } else {
        ring.exclusive(true).and_then(|_no_task_runs| key.write(path, false))
    };
    if let Err(e) = written.and_then(|()| ring.keep(&key)) {
        return super::config_error(e);
    }
    let v = key.verifier();
    let pubp = keys::public_path(path);
    outln!("wrote audit signing key {} to {} (mode 0600)", v.id_hex(), path.display());
    outln!("public key ({}):\n  {}", pubp.display(), v.encode());
    outln!(
        "give reviewers the public key to pin; they verify with `orchestra audit verify --trusted-key {}`",
        pubp.display()
    );
    Exit::Ok
}

/// Say so when replacing the default key must wait for running tasks.
fn wait_for_tasks(ring: &KeyRing) {
    if let Ok(None) = ring.exclusive(false) {
        crate::sandbox::say!(
            "orchestra: waiting for the running tasks to end before replacing the default key ({} is in use)",
            ring.default_path().display()
        );
    }
}

/// Rotate the key of the log in `dir`. Crash-safe at every instruction: the
/// new key is in the ring (fsynced) before the log names it, the old key stays
/// there, and the default key file is replaced last by a rename.
fn rotate(dir: &Path, path: &Path, forward_secure: Option<u64>) -> Exit {
    match crate::audit::format::list_segments(dir) {
        Ok(s) if !s.is_empty() => {}
        Ok(_) => return super::config_error(format!("no audit log in {}", dir.display())),
        Err(e) => return super::config_error(e),
    }
    let ring = KeyRing::at(path);
    if let Some(epoch) = forward_secure {
        return rotate_forward_secure(dir, &ring, epoch);
    }
    let new = match AuditKey::generate() {
        Ok(k) => k,
        Err(e) => return super::config_error(e),
    };
    let (old, seq) = match AuditLog::open_ring(dir, &ring).and_then(|mut log| {
        // The key actually replaced: another writer may rotate first.
        let (seq, replaced) = log.rotate_key_replacing(&new)?;
        log.sync()?;
        // A forward-secure log leaving its epochs: its last epoch key goes too.
        if ring.epoch_of(replaced)?.is_some() {
            ring.destroy_epoch_key(replaced, now_us())?;
        }
        Ok((hex(&replaced), seq))
    }) {
        Ok(s) => s,
        Err(e) => return super::config_error(e),
    };
    wait_for_tasks(&ring);
    if let Err(e) = ring.set_default(&new) {
        return super::config_error(format!(
            "{e}; the log was rotated and its new key {} is in {}",
            new.verifier().id_hex(),
            ring.path_of(new.verifier().id).display()
        ));
    }
    let (o, n) = (old, new.verifier());
    outln!("rotated the audit key of {}: {o} -> {} (rotation record {seq}, signed by {o})", dir.display(), n.id_hex(),);
    outln!("new public key ({}):\n  {}", keys::public_path(path).display(), n.encode());
    outln!("reviewers who pinned {o} can keep it: the rotation is signed by it");
    if ring.path_of(keys::unhex::<4>(&o).unwrap_or_default()).exists() {
        outln!(
            "key {o} stays in the key ring {} for the other logs it signs (rotate each with `orchestra audit rotate DIR`)",
            ring.dir().display()
        );
    } else {
        outln!("the private key of epoch key {o} was destroyed");
    }
    Exit::Ok
}

/// What the anchors say about the log: nothing anchored (`anchor_empty`) or
/// the newest anchored checkpoint too old (`anchor_stale`) fails, unusable
/// anchored files are warnings; the log's extension of the newest one was
/// checked as `--since-checkpoint`.
fn judge_anchors(
    report: &mut VerifyReport,
    anchors: &[Anchor],
    found: Option<&super::anchor::Anchored>,
    latest: Option<&(String, SignedCheckpoint)>,
    max_age: Option<Duration>,
) {
    use crate::audit::verify::Failure;
    let fail = |code: &'static str, reason: String| Failure { code, segment: None, offset: None, seq: None, reason };
    let urls: Vec<String> = anchors.iter().map(Anchor::url).collect();
    if let Some(f) = found {
        report.warnings.extend(f.problems.iter().map(|p| format!("anchor: {p}")));
    }
    let Some((url, c)) = latest else {
        if report.first_error.is_none() {
            report.first_error =
                Some(fail("anchor_empty", format!("no checkpoint of this log is anchored at {}", urls.join(", "))));
        }
        return;
    };
    let age = super::anchor::age(c, SystemTime::now());
    report.warnings.push(format!(
        "anchored: {} note(s); the newest covers {} records, signed {} ago, at {url}",
        found.map_or(0, |f| f.notes),
        c.checkpoint.size,
        humantime::format_duration(Duration::from_secs(age.as_secs()))
    ));
    if let Some(max) = max_age
        && age > max
        && report.first_error.is_none()
    {
        report.first_error = Some(fail(
            "anchor_stale",
            format!(
                "the newest anchored checkpoint was signed {} ago, more than --max-age {}: no writer or heartbeat has anchored since",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(max)
            ),
        ));
    }
}

/// `orchestra audit anchor`.
fn anchor(dir: &Path, to: &[String], every: Option<Duration>, key_path: &Path) -> Exit {
    let anchors = if to.is_empty() {
        super::anchor::from_env()
    } else {
        Anchor::parse_list(&to.join(","))
            .map_err(|source| super::anchor::AnchorCliError::Config { what: "--to".into(), source })
    };
    let others = !super::witness::from_env().is_empty() || matches!(super::timestamp::from_env(), Ok(Some(_)));
    let anchors = match anchors {
        Ok(a) if !a.is_empty() || others => a,
        Ok(_) => {
            return super::config_error(format!(
                "no anchor: pass --to URL or set {} (or {} / {})",
                super::anchor::ENV,
                super::witness::ENV,
                super::timestamp::ENV
            ));
        }
        Err(e) => return super::config_error(e),
    };
    match crate::audit::format::list_segments(dir) {
        Ok(s) if !s.is_empty() => {}
        Ok(_) => return super::config_error(format!("no audit log in {}", dir.display())),
        Err(e) => return super::config_error(e),
    }
    let ring = KeyRing::at(key_path);
    loop {
        match super::anchor::heartbeat(dir, &ring, &anchors) {
            Ok(beat) => {
                outln!(
                    "anchored the checkpoint of {} records of {} at {} ({} new)",
                    beat.size,
                    dir.display(),
                    anchors.iter().map(Anchor::url).collect::<Vec<_>>().join(", "),
                    beat.new
                );
                for w in beat.warnings {
                    crate::sandbox::say!("orchestra: warning: {w}");
                }
            }
            Err(e) => return super::config_error(e),
        }
        match every {
            Some(d) => std::thread::sleep(d),
            None => return Exit::Ok,
        }
    }
}

/// `orchestra audit timestamp`.
fn timestamp(dir: &Path, tsa: Option<String>) -> Exit {
    let url = match tsa {
        Some(u) => u,
        None => match super::timestamp::from_env() {
            Ok(Some(u)) => u,
            Ok(None) => {
                return super::config_error(format!("no TSA: pass --tsa URL or set {}", super::timestamp::ENV));
            }
            Err(e) => return super::config_error(format!("{}: {e}", super::timestamp::ENV)),
        },
    };
    if let Err(e) = crate::audit::timestamp::client::check_url(&url) {
        return super::config_error(e);
    }
    let report = match verify_dir(dir, &VerifyOptions { trusted_key: None, since: None, allow_unsigned_tail: true }) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    let Some(c) = report.last_checkpoint else {
        return super::config_error(format!("the audit log in {} has no checkpoint to timestamp", dir.display()));
    };
    match crate::audit::timestamp::client::stamp(dir, c.size, &c.note, &url) {
        Ok((path, info)) => {
            outln!(
                "timestamped the checkpoint of {} records of {}: genTime {} by TSA {} ({})",
                c.size,
                dir.display(),
                info.gen_time,
                info.tsa_subject.as_deref().unwrap_or("?"),
                path.display()
            );
            Exit::Ok
        }
        Err(e) => super::config_error(e),
    }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Give the log in `dir` a forward-secure epoch key of its own.
fn rotate_forward_secure(dir: &Path, ring: &KeyRing, epoch: u64) -> Exit {
    let done = AuditLog::open_ring(dir, ring).and_then(|mut log| {
        let (seq, replaced) = log.start_epoch(ring, epoch)?;
        let was_epoch = ring.epoch_of(replaced)?.is_some();
        if was_epoch {
            ring.destroy_epoch_key(replaced, now_us())?;
        }
        Ok((hex(&replaced), was_epoch, log.key_in_force(), seq))
    });
    let (old, was_epoch, new, seq) = match done {
        Ok(d) => d,
        Err(e) => return super::config_error(e),
    };
    outln!(
        "rotated the audit key of {}: {old} -> {} (rotation record {seq}, signed by {old}); forward-secure epochs of {}",
        dir.display(),
        new.id_hex(),
        humantime::format_duration(Duration::from_secs(epoch))
    );
    outln!("every writer now replaces the key when its epoch is over and destroys the old private key");
    if was_epoch {
        outln!("the private key of epoch key {old} was destroyed; reviewers keep the epoch key they pinned");
        return Exit::Ok;
    }
    // The shared key stays on disk: whoever steals it can fork the log at this
    // rotation. Reviewers pin the first epoch key, which is destroyed after its epoch.
    let pin = ring.dir().join(format!("{}.pub", new.id_hex()));
    if let Err(e) = crate::audit::keyring::write_public(&pin, &new) {
        return super::config_error(e);
    }
    outln!("reviewers pin the first epoch key {} ({}):\n  {}", new.id_hex(), pin.display(), new.encode());
    outln!(
        "key {old} is shared (the default key, or another log's) and stays on disk: a pin on {old} does not protect the epochs, because whoever steals {old} can fork the log at this rotation"
    );
    Exit::Ok
}

fn checkpoint(dir: &Path, export: &Path, key_path: &Path) -> Exit {
    match crate::audit::format::list_segments(dir) {
        Ok(s) if !s.is_empty() => {}
        Ok(_) => return super::config_error(format!("no audit log in {}", dir.display())),
        Err(e) => return super::config_error(e),
    }
    // Signing a fresh checkpoint would adopt records nobody signed: a
    // reviewer's export must not launder them (found by an outside review).
    match verify_dir(dir, &VerifyOptions { trusted_key: None, since: None, allow_unsigned_tail: true }) {
        Ok(r) if r.unsigned_tail > 0 => {
            crate::sandbox::say!(
                "orchestra: error: the audit log ends with {} record(s) no checkpoint signs; not signing over them (see `orchestra audit show` and `verify`)",
                r.unsigned_tail
            );
            return Exit::Violation;
        }
        Ok(_) => {}
        Err(e) => return super::config_error(e),
    }
    if key_path.exists() {
        match AuditLog::open_ring(dir, &KeyRing::at(key_path)).and_then(|mut l| l.sync()) {
            Ok(()) => {}
            Err(e @ (AuditError::KeyNotInRing { .. } | AuditError::KeyFile { .. })) => {
                crate::sandbox::say!("orchestra: warning: not signing a fresh checkpoint: {e}");
            }
            Err(e) => return super::config_error(e),
        }
    }
    let report = match verify_dir(dir, &VerifyOptions::default()) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    if let Some(f) = &report.first_error {
        crate::sandbox::say!(
            "orchestra: error: the audit log fails verification ({}: {}); not exporting a checkpoint of it",
            f.code,
            f.reason
        );
        return Exit::Violation;
    }
    let Some(c) = report.last_checkpoint else {
        crate::sandbox::say!("orchestra: error: the audit log has no checkpoint yet");
        return Exit::Violation;
    };
    if let Err(e) = std::fs::write(export, &c.note) {
        return super::config_error(format!("{}: {e}", export.display()));
    }
    outln!(
        "exported the checkpoint of {} records (head {}, key {}) to {}",
        c.size,
        &c.head[..16],
        c.key_id,
        export.display()
    );
    outln!(
        "later: orchestra audit verify {} --since-checkpoint {} --trusted-key <pinned .pub>",
        dir.display(),
        export.display()
    );
    Exit::Ok
}

fn run_bench(records: u64, merkle_leaves: Option<u64>, dir: Option<PathBuf>, json_out: bool) -> Exit {
    let tmp = match &dir {
        Some(d) => tempfile::Builder::new().prefix("orchestra-audit-bench").tempdir_in(d),
        None => tempfile::Builder::new().prefix("orchestra-audit-bench").tempdir(),
    };
    let tmp = match tmp {
        Ok(t) => t,
        Err(e) => return super::config_error(format!("cannot create a scratch directory: {e}")),
    };
    let mut r = match bench::run(&tmp.path().join("log"), records.max(1)) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    if let Some(n) = merkle_leaves {
        match bench::merkle(&tmp.path().join("merkle"), n.max(1), 1000) {
            Ok(m) => r.merkle = Some(m),
            Err(e) => return super::config_error(e),
        }
    }
    if json_out {
        outln!("{}", json!(r));
        return Exit::Ok;
    }
    outln!(
        "audit bench in {} ({} records of {} bytes, checkpoint + fsync every 1000)",
        tmp.path().display(),
        r.records,
        r.record_bytes
    );
    outln!("  append              {:>12.0} records/s", r.append_per_s);
    outln!("  verify              {:>12.0} records/s", r.verify_per_s);
    outln!("  raw sha256          {:>12.0} hashes/s ({}-byte messages)", r.sha256_per_s, r.record_bytes);
    outln!("  raw ed25519 sign    {:>12.0} signatures/s", r.ed25519_sign_per_s);
    outln!("  raw ed25519 verify  {:>12.0} verifications/s", r.ed25519_verify_per_s);
    outln!(
        "  ratios: append/sha256 {:.3}, verify/sha256 {:.3}, append/ed25519-sign {:.1}, verify/ed25519-verify {:.1}",
        r.append_per_s / r.sha256_per_s,
        r.verify_per_s / r.sha256_per_s,
        r.append_per_s / r.ed25519_sign_per_s,
        r.verify_per_s / r.ed25519_verify_per_s
    );
    outln!(
        "  targets: append >= 100000/s {}, verify >= 500000/s {}",
        if r.append_per_s >= 100_000.0 { "met" } else { "MISSED" },
        if r.verify_per_s >= 500_000.0 { "met" } else { "MISSED" }
    );
    if let Some(m) = &r.merkle {
        outln!("  merkle store        {:>12.0} leaves/s ({} leaves)", m.build_per_s, m.leaves);
        outln!(
            "  inclusion proof     {:>12.1} us median, {:.1} us slowest of {}",
            m.inclusion_median_us,
            m.inclusion_max_us,
            m.samples
        );
        outln!(
            "  consistency proof   {:>12.1} us median, {:.1} us slowest of {}",
            m.consistency_median_us,
            m.consistency_max_us,
            m.samples
        );
        let scale = if m.leaves >= 10_000_000 { "" } else { " (at fewer than 10,000,000 leaves)" };
        outln!(
            "  targets{scale}: inclusion <= 1 ms {}, consistency <= 10 ms {}",
            if m.inclusion_max_us <= 1000.0 { "met" } else { "MISSED" },
            if m.consistency_max_us <= 10_000.0 { "met" } else { "MISSED" }
        );
    }
    Exit::Ok
}
