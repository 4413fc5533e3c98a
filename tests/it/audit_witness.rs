//! C2SP witnesses (issue 17, item 9): `orchestra audit witness serve` cosigns
//! only checkpoints consistent with what it cosigned before; writers push to
//! `$ORCHESTRA_AUDIT_WITNESS` after every exec; `audit verify --witness-key`
//! checks the cosigned note kept beside the log. Real binary, real HTTP on
//! 127.0.0.1, logs written by `orchestra exec`.

use crate::harness::out::Out;
use crate::harness::world::World;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running witness (killed on drop).
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

fn exec(w: &World, cmd: &str) -> Out {
    w.orchestra(&["exec", "--audit-dir", &log(w), "--", "sh", "-c", cmd])
}

fn exec_pushing(w: &World, s: &Served, dir: &str, cmd: &str) -> Out {
    let mut c = w.command();
    c.env("ORCHESTRA_AUDIT_WITNESS", &s.url).args(["exec", "--audit-dir", dir, "--", "sh", "-c", cmd]);
    w.run_with(c)
}

/// A witness key `witness.example/<name>` in the world; returns the key file.
fn witness_key(w: &World, name: &str) -> PathBuf {
    let key = w.root.join(format!("witness-{name}.key"));
    let o = w.orchestra(&[
        "audit",
        "witness",
        "keygen",
        "--name",
        &format!("witness.example/{name}"),
        "--out",
        &key.display().to_string(),
    ]);
    assert_eq!(o.code, 0, "{}", o.all());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    key
}

fn pub_of(key: &Path) -> String {
    format!("{}.pub", key.display())
}

/// `audit witness log-key` of the world's log.
fn log_key(w: &World) -> String {
    let o = w.orchestra(&["audit", "witness", "log-key", "--log", &log(w)]);
    assert_eq!(o.code, 0, "{}", o.all());
    o.stdout.trim().to_string()
}

/// Start `audit witness serve` on a free port for the given log keys.
fn serve(w: &World, key: &Path, state: &Path, logs: &[&str]) -> Served {
    let mut c = w.command();
    c.args(["audit", "witness", "serve", "--bind", "127.0.0.1:0", "--key"]).arg(key).arg("--state").arg(state);
    for l in logs {
        c.args(["--log", l]);
    }
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start the witness");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("witness banner");
    let url = first
        .split_whitespace()
        .find(|t| t.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    Served { child, url }
}

/// `audit verify --witness-key ... --json`: (exit, failure code, all output).
fn verify(w: &World, dir: &str, keys: &[String], extra: &[&str]) -> (i32, String, String) {
    let pin = pub_of(&w.key);
    let mut args = vec!["audit", "verify", dir, "--trusted-key", &pin, "--json"];
    for k in keys {
        args.extend_from_slice(&["--witness-key", k]);
    }
    args.extend_from_slice(extra);
    let o = w.orchestra(&args);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    (o.code, v["first_error"]["code"].as_str().unwrap_or("").to_string(), o.all())
}

/// The cosigned notes kept in the log directory, by size.
fn cosigned(dir: &str) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(Path::new(dir).join("cosigned"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".note")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The size the witness cosigned last (its state file's second line).
fn witness_size(state: &Path) -> u64 {
    let e = std::fs::read_dir(state.join("logs")).expect("state").next().expect("one log").expect("entry");
    std::fs::read_to_string(e.path()).unwrap().lines().nth(1).unwrap().parse().unwrap()
}

/// The latest checkpoint note of the log (its last checkpoint frame).
fn latest_note(w: &World) -> String {
    let o = w.orchestra(&["audit", "verify", &log(w), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("verify json");
    v["last_checkpoint"]["note"].as_str().expect("a checkpoint").to_string()
}

/// POST a raw body to `<url>/add-checkpoint`: (status, content type, body).
fn post(url: &str, body: &str) -> (u16, String, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the witness");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    let (head, text) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, ctype, text.to_string())
}

/// A world with one exec in its log, a witness key, and the witness serving the log.
fn setup(name: &str) -> (World, PathBuf, PathBuf, Served) {
    let w = World::create("audit-witness", name, "");
    assert_eq!(exec(&w, "true").code, 0);
    let key = witness_key(&w, "w1");
    let state = w.root.join("witness-state");
    let s = serve(&w, &key, &state, &[&log_key(&w)]);
    (w, key, state, s)
}

#[test]
fn a_witness_cosigns_a_consistent_series_and_verify_checks_the_cosignature() {
    let (w, key, state, s) = setup("series");
    let wk = pub_of(&key);
    // Before any push: nothing cosigned is a failure when a witness key is required.
    let (code, failure, all) = verify(&w, &log(&w), std::slice::from_ref(&wk), &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_missing"), "{all}");
    let mut sizes = Vec::new();
    for i in 0..3 {
        let o = exec_pushing(&w, &s, &log(&w), &format!("echo {i}"));
        assert_eq!(o.code, 0, "{}", o.all());
        assert!(!o.stderr.contains("warning"), "{}", o.all());
        sizes.push(witness_size(&state));
    }
    assert!(sizes.windows(2).all(|p| p[0] < p[1]), "the witness advanced: {sizes:?}");
    assert_eq!(cosigned(&log(&w)), sizes, "one cosigned note per push");
    let (code, failure, all) = verify(&w, &log(&w), std::slice::from_ref(&wk), &[]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");
    assert!(all.contains("witnessed"), "{all}");
    // `push` by hand: old 0 first, the witness's 409 tells its size, a proof from there.
    let o = w.orchestra(&["audit", "witness", "push", "--to", &s.url, "--log", &log(&w)]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("\u{2014} witness.example/w1 "), "{}", o.all());

    // Another witness's key: its cosignature is missing (also as one of a quorum of two).
    let other = pub_of(&witness_key(&w, "w2"));
    let (code, failure, all) = verify(&w, &log(&w), std::slice::from_ref(&other), &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_missing"), "{all}");
    let both = [wk.clone(), other.clone()];
    let (code, failure, all) = verify(&w, &log(&w), &both, &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_missing"), "{all}");
    let (code, failure, all) = verify(&w, &log(&w), &both, &["--witness-quorum", "1"]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");

    // An edited cosigned note (its size line, or one byte of the cosignature).
    let last = *sizes.last().unwrap();
    let path = Path::new(&log(&w)).join(format!("cosigned/{last:020}.note"));
    let good = std::fs::read_to_string(&path).unwrap();
    let cut = good.replacen(&format!("\n{last}\n"), &format!("\n{}\n", last - 1), 1);
    std::fs::write(&path, &cut).unwrap();
    let (code, failure, all) = verify(&w, &log(&w), std::slice::from_ref(&wk), &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_bad"), "{all}");
    let line = good.lines().find(|l| l.starts_with("\u{2014} witness.example/w1 ")).unwrap();
    let mut flipped = line.to_string();
    let at = flipped.len() - 6;
    let c = if &flipped[at..at + 1] == "A" { "B" } else { "A" };
    flipped.replace_range(at..at + 1, c);
    std::fs::write(&path, good.replace(line, &flipped)).unwrap();
    let (code, failure, all) = verify(&w, &log(&w), std::slice::from_ref(&wk), &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_bad"), "{all}");
    std::fs::write(&path, &good).unwrap();
    let (code, _, all) = verify(&w, &log(&w), std::slice::from_ref(&wk), &[]);
    assert_eq!(code, 0, "{all}");
}

#[test]
fn a_truncated_log_is_refused_and_fails_verify() {
    let (w, key, state, s) = setup("rollback");
    let seg = w.root.join("log/00000000000000000000.seg");
    let o = exec_pushing(&w, &s, &log(&w), "true");
    assert_eq!(o.code, 0, "{}", o.all());
    let first_len = std::fs::metadata(&seg).unwrap().len();
    let o = exec_pushing(&w, &s, &log(&w), "echo more");
    assert_eq!(o.code, 0, "{}", o.all());
    let had = witness_size(&state);
    // Cut the log back to the first push: the log alone still verifies.
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..first_len as usize]).unwrap();
    let pin = pub_of(&w.key);
    assert_eq!(w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]).code, 0);
    let o = w.orchestra(&["audit", "witness", "push", "--to", &s.url, "--log", &log(&w)]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.stderr.contains("truncated or rolled back"), "{}", o.all());
    assert_eq!(witness_size(&state), had, "nothing was cosigned");
    let (code, failure, all) = verify(&w, &log(&w), &[pub_of(&key)], &[]);
    assert_eq!((code, failure.as_str()), (4, "witness_inconsistent"), "{all}");
    // An exec on the cut log: one warning, the verdict unchanged.
    let o = exec_pushing(&w, &s, &log(&w), "true");
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(o.stderr.matches("cannot get a witness cosignature").count(), 1, "{}", o.all());
    assert_eq!(witness_size(&state), had, "nothing was cosigned");
}

#[test]
fn a_forked_log_is_refused_at_the_same_size_and_beyond() {
    let (w, _key, state, s) = setup("fork");
    let o = exec_pushing(&w, &s, &log(&w), "true");
    assert_eq!(o.code, 0, "{}", o.all());
    // A copy of the log, extended differently by the real writer with the same key.
    let fork = w.root.join("fork");
    copy_tree(&w.root.join("log"), &fork);
    let o = exec_pushing(&w, &s, &log(&w), "echo one");
    assert_eq!(o.code, 0, "{}", o.all());
    let had = witness_size(&state);
    let fork_dir = fork.display().to_string();
    let mut c = w.command();
    c.args(["exec", "--audit-dir", &fork_dir, "--", "sh", "-c", "echo two"]);
    assert_eq!(w.run_with(c).code, 0);
    // Same size, another root: 409, refused.
    let o = w.orchestra(&["audit", "witness", "push", "--to", &s.url, "--log", &fork_dir]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.stderr.contains("409"), "{}", o.all());
    assert_eq!(witness_size(&state), had);
    // Grown past it: the consistency proof fails, 422.
    let mut c = w.command();
    c.args(["exec", "--audit-dir", &fork_dir, "--", "true"]);
    assert_eq!(w.run_with(c).code, 0);
    let o = w.orchestra(&["audit", "witness", "push", "--to", &s.url, "--log", &fork_dir]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.stderr.contains("422"), "{}", o.all());
    assert_eq!(witness_size(&state), had);
    let refused = std::fs::read_dir(state.join("refused")).unwrap().count();
    assert!(refused >= 2, "refused requests kept as evidence: {refused}");
}

#[test]
fn bad_signature_unknown_origin_bad_proof_and_garbage_get_the_spec_codes() {
    let (w, _key, state, s) = setup("codes");
    let note = latest_note(&w);
    let (st, _, body) = post(&s.url, &format!("old 0\n\n{note}"));
    assert_eq!(st, 200, "{body}");
    assert!(body.starts_with("\u{2014} witness.example/w1 "), "{body}");
    let size = witness_size(&state);
    // Old 0 again: 409 with the witness's size as text/x.tlog.size.
    let (st, ctype, body) = post(&s.url, &format!("old 0\n\n{note}"));
    assert_eq!((st, ctype.as_str(), body.as_str()), (409, "text/x.tlog.size", format!("{size}\n").as_str()));
    // The log's signature under the origin's name (the line a witness
    // checks; the `orchestra-audit` line is another key name to it) edited: 403.
    let first_sig = note.find("\n\n\u{2014} ").unwrap() + 2;
    let sig_at = first_sig + note[first_sig..].find('\n').unwrap();
    let sig_at = note[..sig_at].rfind(' ').unwrap() + 3;
    let mut forged = note.clone();
    let c = if &note[sig_at..sig_at + 1] == "A" { "B" } else { "A" };
    forged.replace_range(sig_at..sig_at + 1, c);
    let (st, _, body) = post(&s.url, &format!("old {size}\n\n{forged}"));
    assert_eq!(st, 403, "{body}");
    // A witness that does not know this log: 404.
    let other = World::create("audit-witness", "codes-other", "");
    assert_eq!(exec(&other, "true").code, 0);
    let s2 = serve(&w, &witness_key(&w, "w3"), &w.root.join("state2"), &[&log_key(&other)]);
    let (st, _, body) = post(&s2.url, &format!("old 0\n\n{note}"));
    assert_eq!(st, 404, "{body}");
    // A grown log with a wrong proof: 422; without the proof lines: 422.
    assert_eq!(exec(&w, "echo grow").code, 0);
    let grown = latest_note(&w);
    let junk = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let (st, _, body) = post(&s.url, &format!("old {size}\n{junk}{junk}\n{grown}"));
    assert_eq!(st, 422, "{body}");
    let (st, _, body) = post(&s.url, &format!("old {size}\n\n{grown}"));
    assert_eq!(st, 422, "{body}");
    // Malformed: 400.
    for bad in ["", "old\n\n", "old 1\nnot base64\n\nx", &format!("old 0\n\n{}", note.replace('\u{2014}', "-"))] {
        let (st, _, body) = post(&s.url, bad);
        assert_eq!(st, 400, "{bad:?}: {body}");
    }
    assert_eq!(witness_size(&state), size, "nothing refused advanced the witness");
}

#[test]
fn the_witness_state_survives_a_restart() {
    let (w, key, state, s) = setup("restart");
    let o = exec_pushing(&w, &s, &log(&w), "true");
    assert_eq!(o.code, 0, "{}", o.all());
    let had = witness_size(&state);
    drop(s);
    let s = serve(&w, &key, &state, &[&log_key(&w)]);
    assert_eq!(witness_size(&state), had);
    // The restarted witness still knows the size: old 0 is a 409, the retry from it cosigns.
    let o = exec_pushing(&w, &s, &log(&w), "echo after");
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!o.stderr.contains("warning"), "{}", o.all());
    assert!(witness_size(&state) > had);
    let note = latest_note(&w);
    let (st, ctype, _) = post(&s.url, &format!("old 0\n\n{note}"));
    assert_eq!((st, ctype.as_str()), (409, "text/x.tlog.size"));
    let (code, failure, all) = verify(&w, &log(&w), &[pub_of(&key)], &[]);
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The protocol against the real server, with checkpoints this test signs
/// itself (a log key named after its origin, RFC 6962 roots over synthetic
/// leaves): the client's 409 retry, rollback and fork refusals, and the
/// cosignature verifying under the witness's public key.
#[test]
fn the_client_and_the_server_speak_tlog_witness_over_http() {
    use orchestra::audit::keys::AuditKey;
    use orchestra::audit::merkle::{Frontier, Hash, Subtrees, consistency_proof, leaf_hash};
    use orchestra::audit::witness::{Note, WitnessVerifier, client};

    struct Mem(Vec<Hash>);
    impl Subtrees for Mem {
        type Error = std::convert::Infallible;
        fn perfect(&self, h: u32, i: u64) -> Result<Hash, Self::Error> {
            let n = 1usize << h;
            let mut f = Frontier::new();
            self.0[i as usize * n..(i as usize + 1) * n].iter().for_each(|x| f.push(*x));
            Ok(f.root())
        }
    }
    let origin = "example.com/synthetic";
    let mut log_key = AuditKey::from_seed([7; 32]);
    log_key.name = origin.into();
    let sign = |leaves: &[Hash]| -> String {
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let root = orchestra::audit::merkle::root(&Mem(leaves.to_vec()), leaves.len() as u64).unwrap();
        let body = format!("{origin}\n{}\n{}\n", leaves.len(), b64.encode(root));
        let v = log_key.verifier();
        let mut raw = v.id.to_vec();
        raw.extend_from_slice(&log_key.signing.sign(body.as_bytes()).to_bytes());
        format!("{body}\n\u{2014} {} {}\n", v.name, b64.encode(raw))
    };
    let leaves: Vec<Hash> = (0..60u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let forked: Vec<Hash> = (0..60u32).map(|i| leaf_hash(&(i + u32::from(i >= 10)).to_be_bytes())).collect();
    let prove = |l: &[Hash], n: usize| {
        let l = l.to_vec();
        move |old: u64| -> Result<Vec<Hash>, std::convert::Infallible> {
            Ok(consistency_proof(&Mem(l.clone()), old, n as u64)?.unwrap_or_default())
        }
    };

    let w = World::create("audit-witness", "proto", "");
    let key = witness_key(&w, "w1");
    let wv = WitnessVerifier::parse(std::fs::read_to_string(pub_of(&key)).unwrap().trim()).unwrap();
    let state = w.root.join("state");
    let s = serve(&w, &key, &state, &[&log_key.verifier().encode()]);
    let mut old = 0;
    for n in [3usize, 8, 8, 21, 32, 33] {
        let note = sign(&leaves[..n]);
        // Always start from 0: the client learns the witness's size from the 409.
        let p = client::push(&s.url, &note, n as u64, 0, prove(&leaves, n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(p.old, old, "size {n}");
        let cosigned = Note::parse(&format!("{note}{}", p.lines)).unwrap();
        assert!(wv.verify(&cosigned).is_ok(), "size {n}");
        old = n as u64;
    }
    // Rollback: the witness is ahead of the log.
    let e = client::push(&s.url, &sign(&leaves[..20]), 20, 0, prove(&leaves, 20)).unwrap_err();
    assert!(matches!(e, client::ClientError::Rollback { witness: 33, log: 20, .. }), "{e}");
    // Fork at the same size, and beyond it.
    let e = client::push(&s.url, &sign(&forked[..33]), 33, 0, prove(&forked, 33)).unwrap_err();
    assert!(matches!(e, client::ClientError::Refused { status: 409, .. }), "{e}");
    let e = client::push(&s.url, &sign(&forked[..40]), 40, 0, prove(&forked, 40)).unwrap_err();
    assert!(matches!(e, client::ClientError::Refused { status: 422, .. }), "{e}");
    assert_eq!(witness_size(&state), 33);
    // An unreachable witness is its own error.
    drop(s);
    let e = client::push("http://127.0.0.1:9", &sign(&leaves[..40]), 40, 0, prove(&leaves, 40)).unwrap_err();
    assert!(matches!(e, client::ClientError::Unreachable { .. }), "{e}");
}

/// The periodic heartbeat (`audit anchor`, issue 17 item 9) gets its fresh
/// checkpoint cosigned too: an idle log's witness stays current.
#[test]
fn the_heartbeat_pushes_to_the_witnesses() {
    let (w, _key, state, s) = setup("beat");
    assert_eq!(exec_pushing(&w, &s, &log(&w), "true").code, 0);
    let before = witness_size(&state);
    let mut c = w.command();
    c.env("ORCHESTRA_AUDIT_WITNESS", &s.url).args(["audit", "anchor", &log(&w)]);
    let o = w.run_with(c);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!o.stderr.contains("warning"), "{}", o.all());
    let after = witness_size(&state);
    assert!(after > before, "the heartbeat's checkpoint was cosigned: {before} -> {after}");
    assert_eq!(cosigned(&log(&w)).last().copied(), Some(after));
}
