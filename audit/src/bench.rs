//! Throughput measurement for `orchestra audit bench`.
//!
//! Appends records of about 300 bytes through the real writer (in batches of
//! 1000, each closed by a checkpoint and fsynced), verifies them with the real verifier,
//! and measures raw SHA-256 and ed25519 throughput in the same run so the
//! figures can be compared on the machine at hand.

use super::keys::AuditKey;
use super::record::{Record, record_hash};
use super::verify::{VerifyOptions, verify_dir};
use super::writer::{AuditLog, OpenOptions};
use super::{AuditError, record};
use ed25519_dalek::Signer as _;
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Figures from one bench run (all rates per second).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Records appended and verified.
    pub records: u64,
    /// Average encoded record size in bytes (payload).
    pub record_bytes: u64,
    /// Appends per second (checkpoint + fsync every 1000).
    pub append_per_s: f64,
    /// Records verified per second (including checkpoint signatures).
    pub verify_per_s: f64,
    /// Raw SHA-256 of a record-sized message, per second.
    pub sha256_per_s: f64,
    /// Raw ed25519 signatures per second.
    pub ed25519_sign_per_s: f64,
    /// Raw ed25519 `verify_strict` per second.
    pub ed25519_verify_per_s: f64,
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Run the benchmark in `dir` (an empty scratch directory).
pub fn run(dir: &Path, records: u64) -> Result<BenchReport, AuditError> {
    let key = AuditKey::generate()?;
    let opts = OpenOptions { checkpoint_interval: Duration::from_secs(3600), ..OpenOptions::default() };
    let filler = "x".repeat(150);
    let mut log = AuditLog::open_with(dir, &key, opts)?;
    let t = Instant::now();
    // Batches of 1000: a producer of many records signs once per batch (each
    // single append carries its own checkpoint, FORMAT.md §9).
    let mut i = 0;
    while i < records {
        let n = (records - i).min(1000);
        log.append_batch((i..i + n).map(|i| {
            (
                crate::Kind::TaskOutput.as_str().to_string(),
                json!({"run_id": "20261124T143025Z-7f3a", "task": "build", "i": i, "line": filler, "stream": "stdout"}),
            )
        }))?;
        i += n;
    }
    log.sync()?;
    let append = t.elapsed();
    drop(log);

    let sample = Record {
        seq: 1,
        time_us: 1,
        prev: [0; 32],
        kind: "task_output".into(),
        body: record::canonical_json(
            &json!({"run_id": "20261124T143025Z-7f3a", "task": "build", "i": 1u64, "line": filler, "stream": "stdout"}),
        )?,
    }
    .encode();

    let t = Instant::now();
    let report = verify_dir(dir, &VerifyOptions { trusted_key: Some(key.verifier()), ..VerifyOptions::default() })?;
    let verify = t.elapsed();
    if let Some(f) = report.first_error {
        return Err(AuditError::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!("bench log failed verification: {}", f.reason),
        });
    }

    let n = records.clamp(10_000, 200_000);
    let t = Instant::now();
    let mut acc = 0u8;
    for _ in 0..n {
        acc ^= record_hash(std::hint::black_box(&sample))[0];
    }
    std::hint::black_box(acc);
    let sha = rate(n, t.elapsed());

    let ns = (records / 40).clamp(200, 5_000);
    let msg = b"orchestra.audit/v1/00000000000000000000000000000000\n1000\nAAAA\ntime 1\n";
    let t = Instant::now();
    let mut sig = key.signing.sign(msg);
    for _ in 0..ns {
        sig = key.signing.sign(std::hint::black_box(msg));
    }
    let sign = rate(ns, t.elapsed());
    let vk = key.signing.verifying_key();
    let t = Instant::now();
    for _ in 0..ns {
        let _ = std::hint::black_box(vk.verify_strict(msg, &sig));
    }
    let ver = rate(ns, t.elapsed());

    Ok(BenchReport {
        records,
        record_bytes: sample.len() as u64,
        append_per_s: rate(records, append),
        verify_per_s: rate(report.records, verify),
        sha256_per_s: sha,
        ed25519_sign_per_s: sign,
        ed25519_verify_per_s: ver,
    })
}
