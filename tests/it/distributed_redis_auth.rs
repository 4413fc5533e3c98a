//! Distributed runs against a Redis that wants TLS or an ACL user (issue 18:
//! "Redis credentials come from the environment, `rediss://` works"). Each
//! test starts its own `redis-server` (TLS-only port, certificates made with
//! `openssl` for 127.0.0.1 by a private CA, [`crate::harness::pki`]; or an ACL file), runs a plan
//! through a worker, and asserts the effect in the workspace, the report and
//! the exit code; a refused setup is one line, exit 1, and nothing started
//! (no run directory, no effect).

use crate::harness::fleet::Fleet;
use crate::harness::out::Out;
use crate::harness::pki::{Pki, pki};
use crate::harness::redis::Redis;
use crate::harness::{plan, sh, state, task};
use std::path::Path;
use std::process::Command;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A fleet whose Redis listens with TLS only (`auth_clients`: `no` or `yes`,
/// the latter asks for a client certificate); the world's commands get
/// `ORCHESTRA_REDIS_CA` (and the client certificate when asked for).
fn tls_fleet(prefix: &str, auth_clients: &str) -> (Fleet, Pki) {
    let mut f = Fleet::new(prefix);
    let pki = pki(&f.world.root.join("pki"));
    let server: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        &s(&pki.server_crt),
        "--tls-key-file",
        &s(&pki.server_key),
        "--tls-ca-cert-file",
        &s(&pki.ca),
        "--tls-auth-clients",
        auth_clients,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut cli = vec!["--tls".to_string(), "--cacert".into(), s(&pki.ca)];
    if auth_clients == "yes" {
        cli.extend(["--cert".into(), s(&pki.client_crt), "--key".into(), s(&pki.client_key)]);
    }
    // The plain server Fleet::new started is replaced (and stopped).
    f.redis = Redis::start_with(&f.world.root.join("tls"), &server, &cli, true);
    assert!(f.redis.url().starts_with("rediss://127.0.0.1:"), "{}", f.redis.url());
    f.world.env.push(("ORCHESTRA_REDIS_CA".into(), s(&pki.ca)));
    if auth_clients == "yes" {
        f.world.env.push(("ORCHESTRA_REDIS_CLIENT_CERT".into(), s(&pki.client_crt)));
        f.world.env.push(("ORCHESTRA_REDIS_CLIENT_KEY".into(), s(&pki.client_key)));
    }
    (f, pki)
}

/// The one task of these tests: appends its id to `effects` in the workspace.
fn one_task() -> String {
    plan(&[sh("t1", "echo t1 >> effects", "")])
}

fn effects(f: &Fleet) -> Vec<String> {
    std::fs::read_to_string(f.world.ws.join("effects")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Changes to a command's environment (`None` removes the variable).
type Env<'a> = Vec<(&'a str, Option<&'a str>)>;

/// `orchestra run` through the fleet with the world's environment changed by
/// `env` (`None` removes a variable), and `url` instead of the fleet's.
fn run_with(f: &Fleet, url: &str, env: &[(&str, Option<&str>)]) -> Out {
    let mut args = f.run_args(&one_task(), &[]);
    let at = args.iter().position(|a| a == "--queue").unwrap();
    args[at + 1] = url.to_string();
    let mut c = f.world.command();
    c.args(&args);
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    Out::from(c.output().expect("orchestra run"))
}

/// `orchestra worker --queue URL --name NAME …` (a new key), as the fleet starts its workers.
fn worker_cmd(f: &Fleet, url: &str, name: &str) -> Command {
    let key = s(&f.world.root.join(format!("keys/{name}.key")));
    if !Path::new(&key).exists() {
        let o = f.world.orchestra(&["workers", "keygen", &key]);
        assert_eq!(o.code, 0, "{}", o.all());
    }
    let state = s(&f.world.root.join(format!("workers/{name}")));
    let mut c = f.world.command();
    c.args(["worker", "--queue", url, "--name", name, "--key", &key, "--trust-orchestrator", &f.orch_public]);
    c.args(["--state-dir", &state]);
    c
}

/// The run went through the worker: exit 0, the task's effect once, its report says succeeded.
#[track_caller]
fn assert_ran_once(f: &Fleet, o: &Out) {
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert_eq!(effects(f), ["t1"], "the task ran exactly once");
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "t1"), "succeeded", "{}", task(&report, "t1"));
}

/// Refused before anything started: exit 1, one line on stderr naming `want`, no run, no effect.
#[track_caller]
fn assert_refused(f: &Fleet, o: &Out, want: &[&str]) {
    assert_eq!(o.code, 1, "{}", o.all());
    let err = o.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("orchestra: error: "), "{err}");
    for w in want {
        assert!(err.contains(w), "{err:?} lacks {w:?}");
    }
    assert!(f.world.run_ids().is_empty(), "nothing started: {:?}", f.world.run_ids());
    assert!(effects(f).is_empty(), "nothing ran: {:?}", effects(f));
}

#[test]
fn rediss_with_a_private_ca_runs_a_plan_through_a_worker_over_tls() {
    let (mut f, _pki) = tls_fleet("tls-ca", "no");
    f.spawn_worker("w1", &[]);
    let o = f.run(&one_task(), &[]);
    assert_ran_once(&f, &o);
    // w1, which went through the same TLS server, ran it; `workers status` reads the queue too.
    let delivered = f.worker_records(0).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 1, "{}", f.worker_log("w1"));
    let st = f.world.orchestra(&["workers", "status", "--queue", &f.redis.url()]);
    assert_eq!(st.code, 0, "{}", st.all());
    // Its line names the binary it runs tasks with (as `workers up` compares them).
    let sum = Command::new("sha256sum").arg(crate::harness::audit::bin()).output().unwrap();
    let sha = String::from_utf8_lossy(&sum.stdout)[..12].to_string();
    let line = st.stdout.lines().find(|l| l.starts_with("w1 ")).unwrap_or_else(|| panic!("{}", st.stdout));
    assert!(line.split_whitespace().any(|w| w == sha), "binary {sha} not in {line:?}");
    assert!(st.stdout.lines().next().is_some_and(|h| h.contains("binary")), "{}", st.stdout);
}

#[test]
fn a_server_certificate_that_does_not_verify_is_one_line_and_nothing_starts() {
    let (mut f, pki) = tls_fleet("tls-verify", "no");
    // A worker that can serve: a run that got through would leave an effect.
    f.spawn_worker("w1", &[]);
    let url = f.redis.url();
    // The web PKI roots only: the private CA is unknown.
    let o = run_with(&f, &url, &[("ORCHESTRA_REDIS_CA", None)]);
    assert_refused(&f, &o, &[&url, "invalid peer certificate: UnknownIssuer", "set ORCHESTRA_REDIS_CA"]);
    // Another CA.
    let other = s(&pki.other_ca);
    let o = run_with(&f, &url, &[("ORCHESTRA_REDIS_CA", Some(&other))]);
    assert_refused(&f, &o, &[&url, "invalid peer certificate: UnknownIssuer"]);
    // The right CA, another host name than the certificate's (127.0.0.1 only).
    let by_name = url.replace("127.0.0.1", "localhost");
    let o = run_with(&f, &by_name, &[]);
    assert_refused(&f, &o, &[&by_name, "certificate not valid for name \"localhost\""]);
    // A worker without the CA does not start either.
    let mut c = worker_cmd(&f, &url, "w2");
    c.env_remove("ORCHESTRA_REDIS_CA");
    let o = Out::from(c.output().unwrap());
    assert_refused(&f, &o, &[&url, "certificate"]);
    assert_eq!(f.redis.raw(&["HEXISTS", "orchestra:workers", "w2"]).trim(), "0");
}

#[test]
fn a_plain_redis_url_against_the_tls_port_is_one_line() {
    let (mut f, pki) = tls_fleet("tls-plain", "no");
    f.spawn_worker("w1", &[]);
    let plain = f.redis.url().replace("rediss://", "redis://");
    // With the CA variable set, a plain URL is refused before any connection.
    let o = run_with(&f, &plain, &[]);
    assert_refused(&f, &o, &[&plain, "ORCHESTRA_REDIS_CA is set but the URL is plain redis://"]);
    // Without it, the TLS port does not speak plain Redis.
    let o = run_with(&f, &plain, &[("ORCHESTRA_REDIS_CA", None)]);
    assert_refused(&f, &o, &[&plain, "use rediss://"]);
    drop(pki);
}

#[test]
fn an_unreadable_or_invalid_pem_is_one_line_for_run_and_worker_and_nothing_starts() {
    let (mut f, pki) = tls_fleet("tls-pem", "no");
    f.spawn_worker("w1", &[]);
    let url = f.redis.url();
    let dir = f.world.root.join("pki");
    std::fs::write(dir.join("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
        .unwrap();
    std::fs::write(dir.join("text.pem"), "hello\n").unwrap();
    let (missing, garbage, text) = (s(&dir.join("missing.pem")), s(&dir.join("garbage.pem")), s(&dir.join("text.pem")));
    let (crt, key) = (s(&pki.client_crt), s(&pki.client_key));
    let cases: Vec<(Env, String)> = vec![
        (vec![("ORCHESTRA_REDIS_CA", Some(&missing))], format!("ORCHESTRA_REDIS_CA={missing}: cannot read it")),
        (vec![("ORCHESTRA_REDIS_CA", Some(&text))], format!("ORCHESTRA_REDIS_CA={text}: no PEM certificate in it")),
        (vec![("ORCHESTRA_REDIS_CA", Some(&garbage))], format!("ORCHESTRA_REDIS_CA={garbage}: ")),
        (
            vec![("ORCHESTRA_REDIS_CLIENT_CERT", Some(&crt))],
            "ORCHESTRA_REDIS_CLIENT_CERT is set without ORCHESTRA_REDIS_CLIENT_KEY".to_string(),
        ),
        (
            vec![("ORCHESTRA_REDIS_CLIENT_CERT", Some(&crt)), ("ORCHESTRA_REDIS_CLIENT_KEY", Some(&crt))],
            format!("ORCHESTRA_REDIS_CLIENT_KEY={crt}: no PEM private key in it"),
        ),
        (
            vec![("ORCHESTRA_REDIS_CLIENT_CERT", Some(&key)), ("ORCHESTRA_REDIS_CLIENT_KEY", Some(&key))],
            format!("ORCHESTRA_REDIS_CLIENT_CERT={key}: no PEM certificate in it"),
        ),
    ];
    for (env, want) in &cases {
        let o = run_with(&f, &url, env);
        assert_refused(&f, &o, &[want]);
        let mut c = worker_cmd(&f, &url, "w2");
        for (k, v) in env {
            c.env(k, v.unwrap());
        }
        let o = Out::from(c.output().unwrap());
        assert_refused(&f, &o, &[want]);
    }
    assert_eq!(f.redis.raw(&["HEXISTS", "orchestra:workers", "w2"]).trim(), "0", "no worker w2 started");
}

#[test]
fn mutual_tls_with_a_client_certificate_runs_and_without_one_is_refused() {
    let (mut f, _pki) = tls_fleet("tls-mutual", "yes");
    f.spawn_worker("w1", &[]);
    let url = f.redis.url();
    let o = run_with(&f, &url, &[("ORCHESTRA_REDIS_CLIENT_CERT", None), ("ORCHESTRA_REDIS_CLIENT_KEY", None)]);
    assert_refused(&f, &o, &[&url, "CertificateRequired", "set ORCHESTRA_REDIS_CLIENT_CERT"]);
    let o = f.run(&one_task(), &[]);
    assert_ran_once(&f, &o);
}

/// A plain Redis whose only user is `orchestra`, limited to the keys
/// `orchestra:*` and without the dangerous commands (the line docs/distributed.md gives).
fn acl_fleet(prefix: &str) -> Fleet {
    let mut f = Fleet::new(prefix);
    let acl = f.world.root.join("users.acl");
    // `admin` only reads the server's ACL log at the end.
    let users = "user default off\nuser orchestra on >s3cret-Pw ~orchestra:* +@all -@dangerous\nuser admin on >admin-Pw ~* &* +@all\n";
    std::fs::write(&acl, users).unwrap();
    let cli: Vec<String> =
        ["--user", "orchestra", "--pass", "s3cret-Pw", "--no-auth-warning"].iter().map(|a| a.to_string()).collect();
    f.redis = Redis::start_with(&f.world.root.join("acl"), &["--aclfile".to_string(), s(&acl)], &cli, false);
    // The server does refuse the default user and keys outside orchestra:*.
    let plain = Command::new("redis-cli").args(["-p", &f.redis.port.to_string(), "PING"]).output().unwrap();
    assert!(String::from_utf8_lossy(&plain.stdout).contains("NOAUTH"), "{plain:?}");
    assert!(f.redis.cli(&["SET", "other", "1"]).contains("NOPERM"));
    assert_eq!(admin(&f.redis, &["ACL", "LOG", "RESET"]).trim(), "OK");
    f.world.env.push(("ORCHESTRA_REDIS_USERNAME".into(), "orchestra".into()));
    f.world.env.push(("ORCHESTRA_REDIS_PASSWORD".into(), "s3cret-Pw".into()));
    f
}

/// `redis-cli --raw` as the ACL file's `admin`.
fn admin(r: &Redis, args: &[&str]) -> String {
    let o = Command::new("redis-cli")
        .args(["-p", &r.port.to_string(), "--user", "admin", "--pass", "admin-Pw", "--no-auth-warning", "--raw"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_acl_user_limited_to_orchestra_keys_runs_a_plan_and_bad_credentials_are_one_line() {
    let mut f = acl_fleet("acl");
    f.spawn_worker("w1", &[]);
    let url = f.redis.url();
    // A wrong password: one line, without the password.
    let o = run_with(&f, &url, &[("ORCHESTRA_REDIS_PASSWORD", Some("wrong-Pw-123"))]);
    assert_refused(&f, &o, &[&url, "WRONGPASS", "check ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD"]);
    assert!(!o.all().contains("wrong-Pw-123") && !o.all().contains("s3cret-Pw"), "{}", o.all());
    // No credentials at all.
    let o = run_with(&f, &url, &[("ORCHESTRA_REDIS_USERNAME", None), ("ORCHESTRA_REDIS_PASSWORD", None)]);
    assert_refused(&f, &o, &[&url, "NOAUTH", "set ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD"]);
    // The right ones (for the run and the worker): the plan runs, through keys under orchestra:* only.
    let o = f.run(&one_task(), &[]);
    assert_ran_once(&f, &o);
    assert!(!o.all().contains("s3cret-Pw"), "{}", o.all());
    let st = f.world.orchestra(&["workers", "status", "--queue", &url]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert!(st.stdout.contains("w1"), "{}", st.stdout);
    // SCAN lists every key whatever the user's key patterns: all are orchestra's.
    let keys = f.redis.raw(&["--scan"]);
    assert!(keys.lines().any(|k| k == "orchestra:workers"), "{keys}");
    for k in keys.lines() {
        assert!(k.starts_with("orchestra:"), "a key outside orchestra:*: {k}");
    }
    // The server's ACL log holds the two refused logins and no refused command or key.
    let log = admin(&f.redis, &["ACL", "LOG"]);
    let lines: Vec<&str> = log.lines().collect();
    let reasons: Vec<&str> = lines.windows(2).filter(|w| w[0] == "reason").map(|w| w[1]).collect();
    assert!(!reasons.is_empty() && reasons.iter().all(|r| *r == "auth"), "{log}");
}
