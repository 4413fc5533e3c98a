//! The witness itself, without HTTP: what it answers to an `add-checkpoint`
//! request, and the state it keeps (C2SP `tlog-witness`).
//!
//! State directory layout:
//!
//! | name | what |
//! |---|---|
//! | `lock` | the file every request `flock`s exclusively while it checks and advances the state |
//! | `logs/<hex of SHA-256(origin), 32 digits>.note` | the latest checkpoint cosigned for that origin: the submitted note with the witness's cosignature line appended |
//! | `refused/<origin hash>-<microseconds>-<status>.req` | the body of a request the log validly signed but that was refused (rollback, fork, bad proof): evidence of misbehaviour |
//!
//! Guarantees: a checkpoint is cosigned only if a trusted key of its origin
//! signed it and it is consistent with the last one cosigned for the origin
//! (same size: same root; larger: a valid RFC 6962 consistency proof from
//! it; smaller: refused). Checking the old size and persisting the new
//! state happen under one exclusive lock, and the state file is replaced
//! all or nothing (temporary file, fsync, rename, directory fsync) before
//! the cosignature is returned, so two requests cannot both advance from one
//! size and a crash never loses a cosigned size. Refusals of validly signed
//! checkpoints are logged (`tracing`, warn) and kept under `refused/`.

use super::cosig::WitnessKey;
use super::note::{Note, Signed, TreeHead};
use super::request::{AddCheckpoint, SIZE_CONTENT_TYPE};
use crate::AuditError;
use crate::keyring::{Replace, write_file};
use crate::keys::{VerifierKey, hex};
use crate::merkle::{Hash, verify_consistency};
use sha2::{Digest, Sha256};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// A witness: its key, the logs it witnesses, its state directory.
#[derive(Debug)]
pub struct Witness {
    key: WitnessKey,
    logs: Vec<VerifierKey>,
    state: PathBuf,
}

/// The answer to an `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: cosigned; the body is the cosignature line.
    Cosigned {
        /// The cosignature line(s), each ending in a newline.
        lines: String,
        /// The size now cosigned.
        size: u64,
    },
    /// 400: malformed request, or an old size above the checkpoint's.
    BadRequest(String),
    /// 403: no trusted key of the origin signed the checkpoint.
    Forbidden(String),
    /// 404: the witness does not know the origin.
    UnknownOrigin(String),
    /// 409: the old size is not the size the witness cosigned last (body: that size).
    Conflict {
        /// The size of the latest checkpoint cosigned for the origin.
        size: u64,
    },
    /// 409: the same size as the last cosigned checkpoint, another root (a fork).
    Fork {
        /// The size both checkpoints claim.
        size: u64,
    },
    /// 422: the consistency proof does not verify.
    BadProof(String),
}

impl Verdict {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Verdict::Cosigned { .. } => 200,
            Verdict::BadRequest(_) => 400,
            Verdict::Forbidden(_) => 403,
            Verdict::UnknownOrigin(_) => 404,
            Verdict::Conflict { .. } | Verdict::Fork { .. } => 409,
            Verdict::BadProof(_) => 422,
        }
    }

    /// The response's content type.
    pub fn content_type(&self) -> &'static str {
        match self {
            Verdict::Conflict { .. } => SIZE_CONTENT_TYPE,
            _ => "text/plain; charset=utf-8",
        }
    }

    /// The response body.
    pub fn body(&self) -> String {
        match self {
            Verdict::Cosigned { lines, .. } => lines.clone(),
            Verdict::Conflict { size } => format!("{size}\n"),
            Verdict::Fork { size } => format!(
                "a different checkpoint of size {size} was cosigned for this origin: the log forked or was rewritten\n"
            ),
            Verdict::BadRequest(r) | Verdict::Forbidden(r) | Verdict::UnknownOrigin(r) | Verdict::BadProof(r) => {
                format!("{r}\n")
            }
        }
    }
}

/// The latest cosigned checkpoint of an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The stored note (the log's signatures and the witness's cosignature).
    pub note: String,
}

impl Witness {
    /// A witness signing with `key` for the logs whose note keys are `logs`
    /// (each key's name is its log's origin; several keys may share an
    /// origin), keeping its state in `state` (created, mode 0700).
    pub fn open(key: WitnessKey, logs: Vec<VerifierKey>, state: &Path) -> Result<Witness, AuditError> {
        for sub in [state.to_path_buf(), state.join("logs"), state.join("refused")] {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&sub).map_err(|e| AuditError::io(&sub, e))?;
        }
        Ok(Witness { key, logs, state: state.to_path_buf() })
    }

    /// The witness's key.
    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        let h = Sha256::digest(origin.as_bytes());
        self.state.join("logs").join(format!("{}.note", hex(&h[..16])))
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Cosigned>, AuditError> {
        let path = self.state_path(origin);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io(&path, e)),
        };
        let corrupt = |reason: String| AuditError::Corrupt { dir: self.state.clone(), reason };
        let note = Note::parse(&text).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        let head = TreeHead::parse(&note.body).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        if head.origin != origin {
            return Err(corrupt(format!("{} holds origin {:?}, not {origin:?}", path.display(), head.origin)));
        }
        Ok(Some(Cosigned { size: head.size, root: head.root, note: text }))
    }

    /// Answer an `add-checkpoint` request body at POSIX time `now` (seconds).
    /// `Err` only when the state cannot be read or written (a 500: nothing
    /// was cosigned).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<Verdict, AuditError> {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => return Ok(Verdict::BadRequest(e.to_string())),
        };
        let note = match Note::parse(&req.note) {
            Ok(n) => n,
            Err(e) => return Ok(Verdict::BadRequest(format!("checkpoint note: {e}"))),
        };
        let head = match TreeHead::parse(&note.body) {
            Ok(h) => h,
            Err(e) => return Ok(Verdict::BadRequest(format!("checkpoint: {e}"))),
        };
        let keys: Vec<&VerifierKey> = self.logs.iter().filter(|k| k.name == head.origin).collect();
        if keys.is_empty() {
            return Ok(Verdict::UnknownOrigin(format!("unknown log origin {:?}", head.origin)));
        }
        let signed: Vec<Signed> = keys.iter().map(|k| note.signed_by(k)).collect();
        if signed.contains(&Signed::Bad) || !signed.contains(&Signed::Yes) {
            return Ok(Verdict::Forbidden(format!(
                "the checkpoint carries no valid signature by a trusted key of {:?}",
                head.origin
            )));
        }
        let _lock = self.lock()?;
        let latest = self.latest(&head.origin)?;
        let have = latest.as_ref().map_or(0, |c| c.size);
        let refuse = |v: Verdict, what: &str| -> Result<Verdict, AuditError> {
            tracing::warn!(
                target: "orchestra::audit::witness",
                "refused a checkpoint of {} at size {} (cosigned: {have}): {what}",
                head.origin, head.size
            );
            self.keep_refused(&head.origin, v.status(), body);
            Ok(v)
        };
        if req.old > head.size {
            let v = Verdict::BadRequest(format!("old size {} is above the checkpoint's size {}", req.old, head.size));
            return refuse(v, "old size above the checkpoint's (a rollback?)");
        }
        if req.old != have {
            let v = Verdict::Conflict { size: have };
            if head.size < have {
                return refuse(v, "smaller than the cosigned checkpoint (a rollback?)");
            }
            return Ok(v);
        }
        match &latest {
            None => {
                if !req.proof.is_empty() {
                    return refuse(Verdict::BadProof("the proof from size 0 must be empty".into()), "proof from 0");
                }
            }
            Some(c) if c.size == head.size => {
                if c.root != head.root {
                    return refuse(Verdict::Fork { size: c.size }, "same size, another root (a fork)");
                }
                if !req.proof.is_empty() {
                    return refuse(Verdict::BadProof("the proof between equal sizes must be empty".into()), "proof");
                }
            }
            Some(c) => {
                if !verify_consistency(c.size, head.size, &c.root, &head.root, &req.proof) {
                    return refuse(
                        Verdict::BadProof(format!(
                            "the consistency proof from {} to {} does not verify",
                            c.size, head.size
                        )),
                        "the consistency proof does not verify (a fork or a rewritten log?)",
                    );
                }
            }
        }
        let line = self.key.cosign(&note.body, now);
        let stored = format!("{}{line}", note.text());
        write_file(&self.state_path(&head.origin), stored.as_bytes(), 0o600, Replace::Yes)?;
        tracing::info!(target: "orchestra::audit::witness", "cosigned {} at size {}", head.origin, head.size);
        Ok(Verdict::Cosigned { lines: line, size: head.size })
    }

    fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>, AuditError> {
        let path = self.state.join("lock");
        crate::private::lock_file(&path, nix::fcntl::FlockArg::LockExclusive)?
            .ok_or_else(|| AuditError::io(&path, std::io::Error::from(nix::errno::Errno::EWOULDBLOCK)))
    }

    /// Keep a refused, validly signed request as evidence (best effort: a
    /// failure is logged, the refusal stands).
    fn keep_refused(&self, origin: &str, status: u16, body: &[u8]) {
        // Evidence, bounded: anyone can replay a public checkpoint at a
        // witness, so at most MAX_REFUSED requests are kept (the rest are
        // only logged).
        let kept = std::fs::read_dir(self.state.join("refused")).map_or(0, |d| d.count());
        if kept >= MAX_REFUSED {
            tracing::warn!(target: "orchestra::audit::witness", "{MAX_REFUSED} refused requests kept already; this one ({status}, {origin}) is only logged");
            return;
        }
        let h = Sha256::digest(origin.as_bytes());
        let us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
        let path = self.state.join("refused").join(format!("{}-{us}-{status}.req", hex(&h[..16])));
        if let Err(e) = write_file(&path, body, 0o600, Replace::No) {
            tracing::warn!(target: "orchestra::audit::witness", "cannot keep the refused request: {e}");
        }
    }
}

/// How many refused requests a witness keeps as evidence.
pub const MAX_REFUSED: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuditKey;
    use crate::merkle::{Frontier, Subtrees, consistency_proof, leaf_hash};
    use crate::witness::cosig::WitnessVerifier;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use ed25519_dalek::Signer as _;

    const ORIGIN: &str = "example.com/log";

    struct Mem(Vec<Hash>);
    impl Subtrees for Mem {
        type Error = std::convert::Infallible;
        fn perfect(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
            let n = 1usize << height;
            let mut f = Frontier::new();
            for h in &self.0[index as usize * n..(index as usize + 1) * n] {
                f.push(*h);
            }
            Ok(f.root())
        }
    }

    fn log_key() -> AuditKey {
        let mut k = AuditKey::from_seed([3; 32]);
        k.name = ORIGIN.into();
        k
    }

    fn leaves(n: usize, fork_at: Option<usize>) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("r{i}{}", if Some(i) == fork_at { "x" } else { "" }).as_bytes())).collect()
    }

    fn note(key: &AuditKey, leaves: &[Hash]) -> String {
        let root = crate::merkle::root(&Mem(leaves.to_vec()), leaves.len() as u64).unwrap();
        let body = format!("{}\n{}\n{}\n", key.name, leaves.len(), B64.encode(root));
        let v = key.verifier();
        let mut raw = v.id.to_vec();
        raw.extend_from_slice(&key.signing.sign(body.as_bytes()).to_bytes());
        format!("{body}\n\u{2014} {} {}\n", v.name, B64.encode(raw))
    }

    fn req(old: u64, leaves: &[Hash], key: &AuditKey) -> Vec<u8> {
        let proof = consistency_proof(&Mem(leaves.to_vec()), old, leaves.len() as u64).unwrap().unwrap_or_default();
        AddCheckpoint { old, proof, note: note(key, leaves) }.encode().into_bytes()
    }

    #[test]
    fn cosigns_only_consistent_checkpoints_and_keeps_its_state() {
        let d = tempfile::tempdir().unwrap();
        let wk = WitnessKey::from_seed("witness.example/w1", [9; 32]);
        let w = Witness::open(wk.clone(), vec![log_key().verifier()], d.path()).unwrap();
        let k = log_key();
        let l = leaves(40, None);
        let v = w.add_checkpoint(&req(0, &l[..5], &k), 100).unwrap();
        let Verdict::Cosigned { lines, size: 5 } = &v else { panic!("{v:?}") };
        let n = Note::parse(&format!("{}{lines}", note(&k, &l[..5]))).unwrap();
        assert_eq!(wk.verifier().verify(&n), Ok(100));
        // Old size 0 again: 409 with the witness's size, as text/x.tlog.size.
        let v = w.add_checkpoint(&req(0, &l[..9], &k), 101).unwrap();
        assert_eq!((v.status(), v.content_type(), v.body()), (409, SIZE_CONTENT_TYPE, "5\n".to_string()));
        for n in [5, 9, 16, 17, 40] {
            let v = w.add_checkpoint(&req(w.latest(ORIGIN).unwrap().unwrap().size, &l[..n], &k), 102).unwrap();
            assert_eq!(v.status(), 200, "{n}: {v:?}");
        }
        // A restart reads the state back.
        let w = Witness::open(wk.clone(), vec![log_key().verifier()], d.path()).unwrap();
        assert_eq!(w.latest(ORIGIN).unwrap().unwrap().size, 40);
        // Rollback: smaller than 40.
        assert_eq!(w.add_checkpoint(&req(0, &l[..30], &k), 103).unwrap(), Verdict::Conflict { size: 40 });
        assert_eq!(w.add_checkpoint(&req(40, &l[..30], &k), 103).unwrap().status(), 400);
        // Fork at the same size, and a fork that grows (its proof fails).
        let f = leaves(50, Some(20));
        assert_eq!(w.add_checkpoint(&req(40, &f[..40], &k), 104).unwrap(), Verdict::Fork { size: 40 });
        assert_eq!(w.add_checkpoint(&req(40, &f[..50], &k), 104).unwrap().status(), 422);
        // A tampered proof.
        let mut bad = AddCheckpoint::parse(&req(40, &leaves(45, None), &k)).unwrap();
        bad.proof[0][0] ^= 1;
        assert_eq!(w.add_checkpoint(bad.encode().as_bytes(), 105).unwrap().status(), 422);
        // Unknown origin, another key, an edited note, garbage.
        let mut other = AuditKey::from_seed([4; 32]);
        other.name = "example.com/other".into();
        assert_eq!(w.add_checkpoint(&req(40, &leaves(45, None), &other), 106).unwrap().status(), 404);
        other.name = ORIGIN.into();
        assert_eq!(w.add_checkpoint(&req(40, &leaves(45, None), &other), 106).unwrap().status(), 403);
        let edited = String::from_utf8(req(40, &leaves(45, None), &k)).unwrap().replace("\n45\n", "\n46\n");
        assert_eq!(w.add_checkpoint(edited.as_bytes(), 106).unwrap().status(), 403);
        assert_eq!(w.add_checkpoint(b"old x\n\n", 106).unwrap().status(), 400);
        assert_eq!(w.latest(ORIGIN).unwrap().unwrap().size, 40, "nothing refused advanced the state");
        assert!(std::fs::read_dir(d.path().join("refused")).unwrap().count() >= 5);
        let _: WitnessVerifier = wk.verifier();
    }

    /// Two witnesses on one state directory (two processes, or two requests)
    /// both asked to advance from the same size: exactly one does.
    #[test]
    fn two_requests_from_one_old_size_advance_once() {
        let d = tempfile::tempdir().unwrap();
        let k = log_key();
        let l = leaves(30, None);
        let open = || Witness::open(WitnessKey::from_seed("w", [9; 32]), vec![k.verifier()], d.path()).unwrap();
        assert_eq!(open().add_checkpoint(&req(0, &l[..5], &k), 1).unwrap().status(), 200);
        for round in 0..20 {
            let from = open().latest(ORIGIN).unwrap().unwrap().size;
            let (a, b) = (from as usize + 1, from as usize + 1 + (round % 3));
            let statuses: Vec<u16> = std::thread::scope(|s| {
                let ha = s.spawn(|| open().add_checkpoint(&req(from, &l[..a], &k), 2).unwrap().status());
                let hb = s.spawn(|| open().add_checkpoint(&req(from, &l[..b], &k), 2).unwrap().status());
                vec![ha.join().unwrap(), hb.join().unwrap()]
            });
            if a == b {
                // The same checkpoint twice: the second finds it cosigned at that size (409: old differs).
                assert!(statuses.contains(&200), "{statuses:?}");
            } else {
                assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
                assert!(statuses.contains(&409), "{statuses:?}");
            }
            if open().latest(ORIGIN).unwrap().unwrap().size >= 25 {
                break;
            }
        }
    }
}
