//! RFC 3161 timestamps on checkpoints (issue 17, item 12): with
//! `ORCHESTRA_AUDIT_TSA` every exec timestamps its closing checkpoint at a
//! TSA; `audit verify --tsa-cert` checks every stored token against the log
//! and the given CA. The TSA is `openssl ts -reply` behind a tiny HTTP server
//! on 127.0.0.1 in this process, with a CA and TSA certificates (critical EKU
//! timeStamping) made by `openssl` in a temporary directory: one ECDSA P-256
//! and one RSA-2048 TSA under the CA, and a rogue TSA under another CA. On
//! logs the real binary wrote.

use crate::harness::pki::openssl;
use crate::harness::world::World;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const EXTENSIONS: &str = "\
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_tsa]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// The TSAs' files, made once per test process.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn key(dir: &Path, name: &str, rsa: bool) {
    if rsa {
        openssl(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", name]);
    } else {
        openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name]);
    }
}

fn ca(dir: &Path, name: &str, cn: &str) {
    key(dir, &format!("{name}.key"), false);
    let subj = format!("/CN={cn}");
    let (k, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            &k,
            "-subj",
            &subj,
            "-days",
            "30",
            "-config",
            "ext.cnf",
            "-extensions",
            "v3_ca",
            "-out",
            &pem,
        ],
    );
}

fn tsa_cert(dir: &Path, name: &str, cn: &str, ca: &str, rsa: bool, ext: &str) {
    key(dir, &format!("{name}.key"), rsa);
    let (k, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
    let subj = format!("/CN={cn}");
    openssl(dir, &["req", "-new", "-key", &k, "-subj", &subj, "-config", "ext.cnf", "-out", &csr]);
    let (cap, cak) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &cap,
            "-CAkey",
            &cak,
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            ext,
            "-out",
            &pem,
        ],
    );
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("orchestra-tsa-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pki dir");
        std::fs::write(dir.join("ext.cnf"), EXTENSIONS).expect("ext.cnf");
        ca(&dir, "ca", "Orchestra Test CA");
        ca(&dir, "rogue-ca", "Rogue CA");
        tsa_cert(&dir, "ec", "Test TSA ECDSA", "ca", false, "v3_tsa");
        tsa_cert(&dir, "rsa", "Test TSA RSA", "ca", true, "v3_tsa");
        tsa_cert(&dir, "rogue", "Rogue TSA", "rogue-ca", false, "v3_tsa");
        let mut cnf = String::from("[tsa]\ndefault_tsa = ec\n");
        for s in ["ec", "rsa", "rogue"] {
            std::fs::write(dir.join(format!("{s}.serial")), "01\n").expect("serial");
            cnf.push_str(&format!(
                "[{s}]\nserial = {d}/{s}.serial\nsigner_cert = {d}/{s}.pem\nsigner_key = {d}/{s}.key\n\
                 signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\n\
                 ess_cert_id_alg = sha256\ness_cert_id_chain = no\n",
                d = dir.display()
            ));
        }
        std::fs::write(dir.join("tsa.cnf"), cnf).expect("tsa.cnf");
        Pki { dir }
    })
}

/// A TSA on 127.0.0.1: each POSTed query is answered by `openssl ts -reply`
/// with the config section `section`. Serves at most 64 requests (the
/// thread ends with the test process).
fn serve(section: &'static str) -> String {
    let p = pki();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/tsa", listener.local_addr().expect("addr"));
    let dir = p.dir.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().take(64).enumerate() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            let (q, a) = (dir.join(format!("{section}-{n}.tsq")), dir.join(format!("{section}-{n}.tsr")));
            std::fs::write(&q, &body).expect("query");
            let cnf = dir.join("tsa.cnf");
            let ok = Command::new("openssl")
                .args(["ts", "-reply", "-config"])
                .arg(&cnf)
                .args(["-section", section, "-queryfile"])
                .arg(&q)
                .arg("-out")
                .arg(&a)
                .output()
                .is_ok_and(|o| o.status.success());
            let reply = if ok { std::fs::read(&a).unwrap_or_default() } else { Vec::new() };
            let head = if ok { "200 OK" } else { "500 Internal Server Error" };
            let _ = write!(
                conn,
                "HTTP/1.1 {head}\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reply.len()
            );
            let _ = conn.write_all(&reply);
        }
    });
    url
}

fn world(name: &str, tsa: &str) -> World {
    World::create("audit-timestamp", name, "").with_env("ORCHESTRA_AUDIT_TSA", tsa)
}

fn log(w: &World) -> String {
    w.root.join("log").display().to_string()
}

fn exec(w: &World) -> crate::harness::out::Out {
    w.orchestra(&["exec", "--audit-dir", &log(w), "--", "true"])
}

/// `audit verify LOG --trusted-key PIN --tsa-cert PEM --json`: (exit, failure code, JSON, all output).
fn verify(w: &World, pem: &str) -> (i32, String, serde_json::Value, String) {
    let (pin, l) = (format!("{}.pub", w.key.display()), log(w));
    let o = w.orchestra(&["audit", "verify", &l, "--trusted-key", &pin, "--tsa-cert", pem, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    let code = v["first_error"]["code"].as_str().unwrap_or("").to_string();
    (o.code, code, v, o.all())
}

fn tokens(w: &World) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(w.root.join("log/timestamps"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "tsr"));
    v.sort();
    v
}

fn stamped_world(name: &str, section: &'static str, execs: usize) -> World {
    let w = world(name, &serve(section));
    for _ in 0..execs {
        let o = exec(&w);
        assert_eq!(o.code, 0, "{}", o.all());
        assert!(!o.stderr.contains("cannot timestamp"), "{}", o.all());
    }
    assert_eq!(tokens(&w).len(), execs, "one token per exec");
    w
}

fn tokens_verify(section: &'static str, subject: &str) {
    let w = stamped_world(section, section, 2);
    let p = pki();
    for pem in [p.path("ca.pem"), p.path(&format!("{section}.pem"))] {
        let (code, failure, v, all) = verify(&w, &pem);
        assert_eq!((code, failure.as_str()), (0, ""), "{all}");
        assert_eq!(v["timestamps"]["verified"], 2, "{all}");
        assert!(v["timestamps"]["latest"]["tsa"].as_str().is_some_and(|s| s.contains(subject)), "{all}");
        assert!(all.contains("genTime"), "{all}");
    }
    // By hand too (the latest checkpoint again: its pair is replaced by a
    // fresh token), and the text report names the latest.
    let o = w.orchestra(&["audit", "timestamp", &log(&w)]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("genTime") && o.stdout.contains(subject), "{}", o.all());
    let pin = format!("{}.pub", w.key.display());
    let o = w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin, "--tsa-cert", &p.path("ca.pem")]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stderr.contains("timestamped: 2 checkpoint(s)"), "{}", o.all());
    // `show --json --checkpoints`: records, then checkpoints (which key verified each)
    // and the stored timestamps, one object per line.
    let o = w.orchestra(&["audit", "show", &log(&w), "--json", "--checkpoints"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<serde_json::Value> =
        o.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let of = |t: &str| lines.iter().filter(|v| v["type"] == t).collect::<Vec<_>>();
    assert!(!of("record").is_empty() && of("record").iter().all(|r| r["authenticated"] == true), "{}", o.stdout);
    let cps = of("checkpoint");
    assert!(!cps.is_empty(), "{}", o.stdout);
    let key = std::fs::read_to_string(format!("{}.pub", w.key.display())).expect("pub");
    for c in &cps {
        let id = c["verified_by"].as_str().expect("verified by a log key");
        assert!(key.contains(&format!("+{id}+")), "{c}");
        // Format 2: the line under the origin's name, then orchestra-audit's.
        assert_eq!(c["signatures"][0]["name"], c["note"].as_str().and_then(|n| n.lines().next()).unwrap_or(""), "{c}");
        assert_eq!(c["signatures"][1]["key_id"], id, "{c}");
        assert!(c["root"].is_string() && c["format"] == 2, "{c}");
        assert!(c["size"].as_u64().is_some_and(|n| n > 0) && c["head"].is_string() && c["time"].is_string(), "{c}");
    }
    let ts = of("timestamp");
    assert_eq!(ts.len(), 2, "{}", o.stdout);
    for t in &ts {
        assert!(t["tsa"].as_str().is_some_and(|s| s.contains(subject)) && t["gen_time"].is_string(), "{t}");
        assert_eq!(t["note_matches"], true, "{t}");
        assert!(cps.iter().any(|c| c["size"] == t["size"]), "a timestamp of a shown checkpoint: {t}");
    }
    // `openssl ts -verify` agrees on what is stored.
    for t in tokens(&w) {
        let note = t.with_extension("note");
        let o = Command::new("openssl")
            .args(["ts", "-verify", "-in"])
            .arg(&t)
            .arg("-data")
            .arg(&note)
            .args(["-CAfile", &p.path("ca.pem")])
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl ts -verify {}: {}", t.display(), String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn ecdsa_tsa_tokens_are_stored_and_verify() {
    tokens_verify("ec", "Test TSA ECDSA");
}

#[test]
fn rsa_tsa_tokens_are_stored_and_verify() {
    tokens_verify("rsa", "Test TSA RSA");
}

/// Verify with the CA; expect `timestamp_bad`, exit 4, and `why` in the output.
fn assert_bad(w: &World, why: &str) {
    let (code, failure, v, all) = verify(w, &pki().path("ca.pem"));
    assert_eq!((code, failure.as_str()), (4, "timestamp_bad"), "{all}");
    assert_eq!(v["verdict"], "fail", "{all}");
    assert!(all.contains(why), "{why:?} not in: {all}");
}

#[test]
fn an_edited_note_a_token_for_another_note_and_a_truncated_token_are_bad() {
    let w = stamped_world("tamper", "ec", 2);
    let t = tokens(&w);
    let (a, b) = (t[0].clone(), t[1].clone());
    let keep_a = std::fs::read(&a).expect("token");
    let keep_note = std::fs::read_to_string(a.with_extension("note")).expect("note");

    // An edited checkpoint note (one digit of its time changed).
    let edited = keep_note.replacen("time 1", "time 2", 1);
    assert_ne!(edited, keep_note);
    std::fs::write(a.with_extension("note"), &edited).expect("edit");
    assert_bad(&w, "does not match its name");
    // ... and renamed to fit: the token's imprint is of the real note.
    let stem = |size: &str, note: &str| {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(note.as_bytes());
        format!("{size}-{}", h[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    let size = a.file_stem().and_then(|s| s.to_str()).and_then(|s| s.split('-').next()).expect("size").to_string();
    let renamed = a.with_file_name(stem(&size, &edited));
    std::fs::remove_file(a.with_extension("note")).expect("rm");
    std::fs::write(renamed.with_extension("note"), &edited).expect("note");
    std::fs::rename(&a, renamed.with_extension("tsr")).expect("rename");
    assert_bad(&w, "message imprint");
    std::fs::remove_file(renamed.with_extension("note")).expect("rm");
    std::fs::remove_file(renamed.with_extension("tsr")).expect("rm");
    std::fs::write(a.with_extension("note"), &keep_note).expect("restore");
    std::fs::write(&a, &keep_a).expect("restore");
    let (code, failure, _, all) = verify(&w, &pki().path("ca.pem"));
    assert_eq!((code, failure.as_str()), (0, ""), "restored: {all}");

    // A token for another note: b's token beside a's note.
    std::fs::copy(&b, &a).expect("copy");
    assert_bad(&w, "message imprint");
    std::fs::write(&a, &keep_a).expect("restore");

    // A truncated token.
    std::fs::write(&a, &keep_a[..keep_a.len() - 40]).expect("truncate");
    assert_bad(&w, "does not decode");
    std::fs::write(&a, &keep_a).expect("restore");
    let (code, failure, _, all) = verify(&w, &pki().path("ca.pem"));
    assert_eq!((code, failure.as_str()), (0, ""), "restored: {all}");
}

#[test]
fn a_token_of_a_note_the_log_does_not_hold_is_bad() {
    // A valid token of another log's checkpoint, stored in this log.
    let mine = stamped_world("mine", "ec", 1);
    let other = stamped_world("other", "ec", 1);
    let t = &tokens(&other)[0];
    let dest = mine.root.join("log/timestamps").join(t.file_name().expect("name"));
    std::fs::copy(t, &dest).expect("copy");
    std::fs::copy(t.with_extension("note"), dest.with_extension("note")).expect("copy");
    assert_bad(&mine, "does not contain");
}

#[test]
fn a_token_by_a_tsa_not_under_the_given_ca_is_bad() {
    let w = stamped_world("rogue", "rogue", 1);
    assert_bad(&w, "neither a trusted certificate nor issued by one");
    // Under its own CA it verifies: the failure was the trust, not the token.
    let (code, failure, _, all) = verify(&w, &pki().path("rogue-ca.pem"));
    assert_eq!((code, failure.as_str()), (0, ""), "{all}");
}

#[test]
fn no_timestamp_with_tsa_cert_is_missing() {
    let w = World::create("audit-timestamp", "none", "");
    assert_eq!(exec(&w).code, 0);
    let (code, failure, _, all) = verify(&w, &pki().path("ca.pem"));
    assert_eq!((code, failure.as_str()), (4, "timestamp_missing"), "{all}");
    // Without --tsa-cert nothing is asked of timestamps.
    let pin = format!("{}.pub", w.key.display());
    assert_eq!(w.orchestra(&["audit", "verify", &log(&w), "--trusted-key", &pin]).code, 0);
    // A file that is not a certificate is a usage error.
    let (code, _, _, all) = verify(&w, &pki().path("ext.cnf"));
    assert_eq!(code, 1, "{all}");
}

#[test]
fn a_tsa_that_is_down_costs_one_warning_and_not_the_verdict() {
    // A port nobody listens on (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let w = world("down", &format!("http://127.0.0.1:{port}/tsa"));
    let o = exec(&w);
    assert_eq!(o.code, 0, "{}", o.all());
    let warnings: Vec<&str> = o.stderr.lines().filter(|l| l.contains("cannot timestamp")).collect();
    assert_eq!(warnings.len(), 1, "{}", o.all());
    assert!(warnings[0].starts_with("orchestra: warning:") && warnings[0].contains("unreachable"), "{}", o.all());
    assert!(tokens(&w).is_empty());
    // A violation stays a violation (exit 4), still with one warning.
    let outside = w.root.join("outside.txt");
    let o =
        w.orchestra(&["exec", "--audit-dir", &log(&w), "--", "sh", "-c", &format!("echo x > '{}'", outside.display())]);
    assert_eq!(o.code, 4, "{}", o.all());
    assert_eq!(o.stderr.lines().filter(|l| l.contains("cannot timestamp")).count(), 1, "{}", o.all());
    // `audit timestamp` by hand says so and exits 1.
    let o = w.orchestra(&["audit", "timestamp", &log(&w)]);
    assert_eq!(o.code, 1, "{}", o.all());
}

#[test]
fn a_bad_tsa_setting_runs_nothing() {
    let w = world("badurl", "ftp://example.invalid/");
    let marker = w.ws.join("marker");
    let o = w.orchestra(&["exec", "--audit-dir", &log(&w), "--", "sh", "-c", "echo ran > marker"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("ORCHESTRA_AUDIT_TSA") && o.stderr.contains("nothing ran"), "{}", o.all());
    assert!(!marker.exists());
}
