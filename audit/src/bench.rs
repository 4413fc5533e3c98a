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
    /// Merkle proofs over a large tree, when asked for.
    pub merkle: Option<MerkleBench>,
}

/// Merkle proof figures: a subtree store ([`crate::tiles`]) of `leaves` leaf
/// hashes, and the time to produce proofs from it (median and worst of
/// `samples` random queries, each verified).
#[derive(Debug, Clone, Serialize)]
pub struct MerkleBench {
    /// Leaves in the tree.
    pub leaves: u64,
    /// Leaves added to the store per second (leaf hash + store append).
    pub build_per_s: f64,
    /// Queries measured per kind.
    pub samples: u64,
    /// Inclusion proof generation, median microseconds.
    pub inclusion_median_us: f64,
    /// Inclusion proof generation, slowest microseconds.
    pub inclusion_max_us: f64,
    /// Consistency proof generation, median microseconds.
    pub consistency_median_us: f64,
    /// Consistency proof generation, slowest microseconds.
    pub consistency_max_us: f64,
}

/// Build a store of `leaves` leaves in `dir` and time proofs from it.
pub fn merkle(dir: &Path, leaves: u64, samples: u64) -> Result<MerkleBench, AuditError> {
    use crate::merkle::{consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion};
    let corrupt = |reason: String| AuditError::Corrupt { dir: dir.to_path_buf(), reason };
    let tiles_err = |e: crate::tiles::TilesError| corrupt(e.to_string());
    let mut t = crate::tiles::Tiles::open(dir).map_err(tiles_err)?;
    let leaf = |i: u64| leaf_hash(&i.to_be_bytes());
    let start = Instant::now();
    for i in 0..leaves {
        t.push(leaf(i)).map_err(tiles_err)?;
    }
    let build_per_s = rate(leaves, start.elapsed());
    // Deterministic pseudo-random queries (xorshift), so runs compare.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |below: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below.max(1)
    };
    let (mut inc, mut con) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let n = 1 + next(leaves);
        let m = next(n);
        let head = root(&t, n).map_err(tiles_err)?;
        let q = Instant::now();
        let p = inclusion_proof(&t, m, n).map_err(tiles_err)?.unwrap_or_default();
        inc.push(q.elapsed().as_secs_f64() * 1e6);
        if !verify_inclusion(&leaf(m), m, n, &p, &head) {
            return Err(corrupt(format!("inclusion proof of {m} in {n} does not verify")));
        }
        let old = 1 + next(n);
        let old_head = root(&t, old).map_err(tiles_err)?;
        let q = Instant::now();
        let c = consistency_proof(&t, old, n).map_err(tiles_err)?.unwrap_or_default();
        con.push(q.elapsed().as_secs_f64() * 1e6);
        if !verify_consistency(old, n, &old_head, &head, &c) {
            return Err(corrupt(format!("consistency proof {old} -> {n} does not verify")));
        }
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v.get(v.len() / 2).copied().unwrap_or(0.0), v.last().copied().unwrap_or(0.0))
    };
    let (im, ix) = stat(&mut inc);
    let (cm, cx) = stat(&mut con);
    Ok(MerkleBench {
        leaves,
        build_per_s,
        samples,
        inclusion_median_us: im,
        inclusion_max_us: ix,
        consistency_median_us: cm,
        consistency_max_us: cx,
    })
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
        merkle: None,
    })
}
