//! Distributed runs (issue 18), what a fleet refuses: unsigned, forged,
//! replayed and misrouted task messages on the queue, results signed by a
//! worker key the run does not pin, a signed message whose policy is not the
//! one its hash names, and bad settings before anything starts. Each test
//! asserts the effect (the task's side effect in the workspace did not
//! happen, or happened exactly once) and what is recorded (the worker's own
//! audit log, `orchestra workers status --json`, the `orchestra:refused`
//! stream, the run's audit log and report), and the exit codes.

use crate::harness::fleet::Fleet;
use crate::harness::{Out, World, plan, sh, state, task};
use orchestra_distributed::keys::SigningKey;
use orchestra_distributed::message::{Envelope, Kind, TaskMessage, nonce, now_ms};
use orchestra_distributed::redis;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Wait for `cond`, at most `within`.
#[track_caller]
fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn con(f: &Fleet) -> redis::Connection {
    redis::Client::open(f.redis.url()).unwrap().get_connection().unwrap()
}

/// XADD `stream * FIELD VALUE`.
fn xadd(f: &Fleet, stream: &str, field: &str, value: &str) -> String {
    redis::cmd("XADD").arg(stream).arg("*").arg(field).arg(value).query(&mut con(f)).unwrap()
}

/// The entries of a stream: (id, field → value).
fn xrange(f: &Fleet, stream: &str) -> Vec<(String, std::collections::HashMap<String, String>)> {
    redis::cmd("XRANGE").arg(stream).arg("-").arg("+").query(&mut con(f)).unwrap()
}

/// The records of `orchestra:refused`, parsed.
fn refused_stream(f: &Fleet) -> Vec<Value> {
    xrange(f, "orchestra:refused")
        .into_iter()
        .map(|(_, m)| {
            assert_eq!(m.get("worker").map(String::as_str), Some("w1"), "{m:?}");
            serde_json::from_str(&m["record"]).unwrap()
        })
        .collect()
}

/// `orchestra workers status --queue URL --json`: worker statuses and refused records.
fn status(f: &Fleet) -> (Vec<Value>, Vec<Value>) {
    let o = f.world.orchestra(&["workers", "status", "--queue", &f.redis.url(), "--json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let workers = lines.iter().filter(|l| l["type"] == "worker").cloned().collect();
    let refused = lines
        .iter()
        .filter(|l| l["type"] == "refused")
        .map(|l| {
            assert_eq!(l["worker"], "w1", "{l}");
            serde_json::from_str(l["record"].as_str().unwrap()).unwrap()
        })
        .collect();
    (workers, refused)
}

/// Worker `w1`'s `refused` count as its status says.
fn refused_count(f: &Fleet) -> u64 {
    status(f).0.iter().find(|w| w["name"] == "w1").and_then(|w| w["status"]["refused"].as_u64()).unwrap_or(0)
}

/// The bodies of worker 0's `message_refused` audit records.
fn refused_records(f: &Fleet) -> Vec<Value> {
    f.worker_records(0).into_iter().filter(|r| r["kind"] == "message_refused").map(|r| r["body"].clone()).collect()
}

/// Wait until worker w1 counts `n` refusals, then check that the three places
/// that record refusals each hold exactly `reasons` (in order), and that the
/// task streams hold nothing (refused entries are acknowledged and deleted).
#[track_caller]
fn assert_refused(f: &Fleet, reasons: &[&str]) -> Vec<Value> {
    let n = reasons.len() as u64;
    wait_for(&format!("{n} refusals\n{}", f.worker_log("w1")), Duration::from_secs(15), || refused_count(f) >= n);
    assert_eq!(refused_count(f), n, "{}", f.worker_log("w1"));
    let audit = refused_records(f);
    let got: Vec<&str> = audit.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(got, reasons, "worker audit log: {audit:#?}");
    let stream = refused_stream(f);
    let got: Vec<&str> = stream.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(got, reasons, "orchestra:refused: {stream:#?}");
    // `workers status` shows the latest first.
    let (_, shown) = status(f);
    let mut got: Vec<&str> = shown.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    got.reverse();
    assert_eq!(got, reasons, "workers status: {shown:#?}");
    for r in &audit {
        assert_eq!(r["stream"], "orchestra:tasks", "{r}");
        assert!(r["detail"].as_str().is_some_and(|d| !d.is_empty()), "{r}");
    }
    let pending: u64 = redis::cmd("XLEN").arg("orchestra:tasks").query(&mut con(f)).unwrap();
    assert_eq!(pending, 0, "refused entries are acknowledged and deleted");
    audit
}

/// The worker is still alive after what it refused, and drains cleanly on SIGTERM.
fn assert_worker_survives(f: &mut Fleet) {
    assert!(f.workers[0].child.try_wait().unwrap().is_none(), "the worker died: {}", f.worker_log("w1"));
    f.signal(0, libc::SIGTERM);
    assert_eq!(f.wait(0, Duration::from_secs(15)), Some(0), "{}", f.worker_log("w1"));
}

/// A plan whose one task appends a line to `effects` in the workspace.
fn effect_plan() -> String {
    plan(&[sh("t", "echo ran >> effects", "")])
}

fn effects(w: &World) -> usize {
    w.lines("effects").len()
}

/// Make worker `name`'s key (before the worker exists); its public key.
fn keygen(f: &Fleet, name: &str) -> String {
    let key = f.world.root.join(format!("keys/{name}.key"));
    let o = f.world.orchestra(&["workers", "keygen", key.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.all());
    o.stdout.trim().to_string()
}

/// Start worker `name` whose key [`keygen`] made (its public key `_public`).
fn spawn_worker(f: &mut Fleet, name: &str, _public: &str, extra: &[&str]) {
    f.spawn_worker(name, extra);
}

/// Start `orchestra run` of `plan_yaml` on the fleet's queue, trusting `trusted` worker keys.
fn spawn_run(f: &Fleet, plan_yaml: &str, trusted: &[&str]) -> std::process::Child {
    std::fs::write(f.world.ws.join("plan.yaml"), plan_yaml).unwrap();
    let url = f.redis.url();
    let mut extra = vec!["--queue", url.as_str()];
    for k in trusted {
        extra.extend(["--trust-worker", k]);
    }
    let args = f.world.run_args("plan.yaml", &extra);
    let mut c = f.world.command();
    c.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.spawn().expect("orchestra run")
}

/// The `m` value of the first entry of `orchestra:tasks`, once there is one.
fn first_task_message(f: &Fleet) -> String {
    let mut m = String::new();
    wait_for("a task message in orchestra:tasks", Duration::from_secs(20), || {
        if let Some((_, e)) = xrange(f, "orchestra:tasks").into_iter().next() {
            m = e["m"].clone();
        }
        !m.is_empty()
    });
    m
}

/// Run the effect plan through the fleet, copying its genuine signed task
/// message before any worker exists; then start worker w1 (trusted by the
/// run), which runs it once. Returns the message's `m` value.
fn run_genuine(f: &mut Fleet) -> String {
    let public = keygen(f, "w1");
    let run = spawn_run(f, &effect_plan(), &[&public]);
    let m = first_task_message(f);
    spawn_worker(f, "w1", &public, &[]);
    let o = Out::from(run.wait_with_output().unwrap());
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "t"), "succeeded", "{}", task(&report, "t"));
    assert_eq!(effects(&f.world), 1, "the genuine message ran once");
    m
}

/// An envelope's parts, as JSON.
fn envelope(m: &str) -> Value {
    serde_json::from_str(m).unwrap()
}

/// `m` with its body changed by `edit` (the signature kept).
fn alter(m: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut env = envelope(m);
    let mut body: Value = serde_json::from_str(env["body"].as_str().unwrap()).unwrap();
    edit(&mut body);
    env["body"] = Value::String(body.to_string());
    env.to_string()
}

/// The genuine message's body.
fn body(m: &str) -> TaskMessage {
    serde_json::from_str(envelope(m)["body"].as_str().unwrap()).unwrap()
}

/// Sign `msg` as a task message with the key file `key`.
fn seal(msg: &TaskMessage, key: &Path) -> String {
    Envelope::seal(Kind::Task, msg, &SigningKey::load(key).unwrap()).unwrap().to_json()
}

/// A task message as the orchestrator would build it: `sh -c SCRIPT` in the
/// world's workspace under the genuine message's policy, fresh id, valid now.
fn like(genuine: &TaskMessage, script: &str, results: &str) -> TaskMessage {
    let mut m = genuine.clone();
    m.id = nonce();
    m.argv = vec!["/bin/sh".into(), "-c".into(), script.into()];
    m.issued_ms = now_ms();
    m.take_by_ms = now_ms() + 600_000;
    m.expires_ms = now_ms() + 600_000;
    m.results = results.into();
    m
}

/// The run started last (run ids sort by time).
fn last_run(w: &World) -> String {
    w.run_ids().pop().expect("a run")
}

/// Run `plan_yaml` through the fleet, but replace its task message (before
/// any worker saw it) by `edit`ed copy signed with the orchestrator's own key
/// (same id, results stream and attempt: the run takes its result). Worker w1
/// (trusted by the run, its state kept) is started once the message is in place.
fn run_substituted(f: &mut Fleet, plan_yaml: &str, edit: impl FnOnce(&mut TaskMessage)) -> Out {
    let key = f.world.root.join("keys/w1.key");
    let public = if key.exists() { f.workers[0].public.clone() } else { keygen(f, "w1") };
    // No worker may take the genuine message first: drain a running one.
    if !f.workers.is_empty() {
        f.signal(0, libc::SIGTERM);
        assert_eq!(f.wait(0, Duration::from_secs(15)), Some(0), "{}", f.worker_log("w1"));
        f.workers.clear();
    }
    let run = spawn_run(f, plan_yaml, &[&public]);
    let m = first_task_message(f);
    let (entry, _) = xrange(f, "orchestra:tasks").into_iter().next().unwrap();
    let deleted: u64 = redis::cmd("XDEL").arg("orchestra:tasks").arg(&entry).query(&mut con(f)).unwrap();
    assert_eq!(deleted, 1, "the genuine entry was still waiting");
    let mut msg = body(&m);
    edit(&mut msg);
    xadd(f, "orchestra:tasks", "m", &seal(&msg, &f.orch_key));
    spawn_worker(f, "w1", &public, &[]);
    Out::from(run.wait_with_output().unwrap())
}

/// A task message body as an attacker without any key would write it: its
/// task creates `pwned` in the workspace.
fn unsigned_body(f: &Fleet) -> Value {
    json!({
        "id": nonce(), "run_id": "r", "task": "t", "attempt": 1, "issued_ms": now_ms(),
        "take_by_ms": now_ms() + 600_000, "expires_ms": now_ms() + 600_000, "argv": ["/bin/sh", "-c", "touch pwned"],
        "policy_yaml": "", "policy_sha256": "", "env": {}, "timeout": null,
        "workdir": f.world.ws, "outputs": [], "runs_on": [], "results": "orchestra:results:x",
        "storage": f.world.root.join("blobs"), "lease_ms": 2000, "max_deliveries": 3,
    })
}

#[test]
fn unsigned_or_garbage_task_messages_are_refused_and_never_run() {
    let mut f = Fleet::new("unsigned");
    f.spawn_worker("w1", &[]);
    let body = unsigned_body(&f).to_string();
    // Not JSON; a bare task message (no envelope); an envelope without key or
    // signature; one naming the trusted orchestrator key with no signature;
    // one with a signature of the wrong size; an entry without the `m` field.
    xadd(&f, "orchestra:tasks", "m", "touch pwned");
    xadd(&f, "orchestra:tasks", "m", &body);
    xadd(&f, "orchestra:tasks", "m", &json!({"kind": "task", "key": "", "sig": "", "body": body}).to_string());
    let orch = &f.orch_public;
    xadd(&f, "orchestra:tasks", "m", &json!({"kind": "task", "key": orch, "sig": "", "body": body}).to_string());
    xadd(&f, "orchestra:tasks", "m", &json!({"kind": "task", "key": orch, "sig": "AAAA", "body": body}).to_string());
    xadd(&f, "orchestra:tasks", "cmd", "touch pwned");
    let refused =
        assert_refused(&f, &["malformed", "malformed", "untrusted_key", "bad_signature", "bad_signature", "malformed"]);
    assert_eq!(refused[5]["detail"], "no `m` field", "{:#?}", refused[5]);
    assert!(!f.world.ws.join("pwned").exists(), "an unsigned message ran");
    // Nothing reached a results stream.
    let results: Vec<String> = redis::cmd("KEYS").arg("orchestra:results:*").query(&mut con(&f)).unwrap();
    assert!(results.is_empty(), "{results:?}");
    let delivered = f.worker_records(0).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 0);
    assert_worker_survives(&mut f);
}

#[test]
fn a_forged_task_message_is_refused_bad_signature_or_untrusted_key_and_never_run() {
    let mut f = Fleet::new("forged");
    let m = run_genuine(&mut f);
    let genuine = body(&m);
    let pwn = json!(["/bin/sh", "-c", "touch pwned"]);
    // The genuine message's argv altered, as is and under a fresh id.
    let argv = alter(&m, |b| b["argv"] = pwn.clone());
    let argv_fresh = alter(&m, |b| {
        b["argv"] = pwn.clone();
        b["id"] = json!(nonce());
    });
    // Its policy altered (the hash it claims kept).
    let policy = alter(&m, |b| {
        let p = b["policy_yaml"].as_str().unwrap().to_string();
        b["policy_yaml"] = json!(format!("{p}\n# weakened\n"));
    });
    // Its workspace moved, its expiry extended.
    let moved = alter(&m, |b| {
        b["id"] = json!(nonce());
        b["workdir"] = json!(f.world.home);
        b["expires_ms"] = json!(u64::MAX);
    });
    // A new message signed by a key nobody trusts (made with `workers keygen`),
    // as is, and claiming to be the orchestrator's.
    let mallory = keygen(&f, "mallory");
    let forged = like(&genuine, "touch pwned", &genuine.results);
    let by_mallory = seal(&forged, &f.world.root.join("keys/mallory.key"));
    assert_eq!(envelope(&by_mallory)["key"], mallory);
    let mut claims_orch = envelope(&by_mallory);
    claims_orch["key"] = json!(f.orch_public);
    // Signed by a worker's key (trusted for results, never for tasks).
    let by_worker = seal(&forged, &f.world.root.join("keys/w1.key"));
    // The orchestrator's signature over the same body as a worker event.
    let as_event = Envelope::seal(Kind::Event, &forged, &SigningKey::load(&f.orch_key).unwrap()).unwrap().to_json();
    // Signed by the orchestrator itself, but expired, or on a stream its labels do not name.
    let orch = f.orch_key.clone();
    let mut expired = like(&genuine, "touch pwned", &genuine.results);
    expired.expires_ms = now_ms() - 1000;
    let mut stale = like(&genuine, "touch pwned", &genuine.results);
    stale.take_by_ms = now_ms() - 1000;
    let mut misrouted = like(&genuine, "touch pwned", &genuine.results);
    misrouted.runs_on = vec!["gpu".into()];
    let (expired, stale, misrouted) = (seal(&expired, &orch), seal(&stale, &orch), seal(&misrouted, &orch));
    for x in [
        argv,
        argv_fresh,
        policy,
        moved,
        by_mallory,
        claims_orch.to_string(),
        by_worker,
        as_event,
        expired,
        stale,
        misrouted,
    ] {
        xadd(&f, "orchestra:tasks", "m", &x);
    }
    let refused = assert_refused(
        &f,
        &[
            "bad_signature",
            "bad_signature",
            "bad_signature",
            "bad_signature",
            "untrusted_key",
            "bad_signature",
            "untrusted_key",
            "wrong_kind",
            "expired",
            "expired",
            "misrouted",
        ],
    );
    assert!(refused[4]["detail"].as_str().unwrap().contains(&mallory), "{:#?}", refused[4]);
    assert!(!f.world.ws.join("pwned").exists(), "a forged message ran");
    assert!(!f.world.home.join("effects").exists(), "a forged message ran in another directory");
    assert_eq!(effects(&f.world), 1, "only the genuine message ran");
    let delivered = f.worker_records(0).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 1, "one delivery: the genuine one");
    assert_worker_survives(&mut f);
}

#[test]
fn a_replayed_task_message_is_refused_and_its_effect_happens_once() {
    let mut f = Fleet::new("replay");
    let m = run_genuine(&mut f);
    let id = body(&m).id;
    xadd(&f, "orchestra:tasks", "m", &m);
    let refused = assert_refused(&f, &["replayed"]);
    assert_eq!(refused[0]["msg"], id.as_str());
    assert!(refused[0]["detail"].as_str().unwrap().contains("first seen as orchestra:tasks "), "{:#?}", refused[0]);
    assert_eq!(effects(&f.world), 1, "the replay ran");
    // Redis' memory of the id erased (by someone who can write to Redis): the
    // worker's own journal still knows it.
    let n: u64 = redis::cmd("DEL").arg(format!("orchestra:seen:{id}")).query(&mut con(&f)).unwrap();
    assert_eq!(n, 1);
    xadd(&f, "orchestra:tasks", "m", &m);
    let refused = assert_refused(&f, &["replayed", "replayed"]);
    assert_eq!(refused[1]["msg"], id.as_str());
    assert_eq!(effects(&f.world), 1, "the replay ran once Redis forgot the id");
    let delivered = f.worker_records(0).iter().filter(|r| r["kind"] == "delivery_ended").count();
    assert_eq!(delivered, 1);
    assert_worker_survives(&mut f);
}

#[test]
fn a_worker_key_the_run_does_not_pin_gets_no_go_ahead_its_events_are_refused_and_the_task_fails_worker_lost() {
    let mut f = Fleet::new("untrusted-worker");
    let cfg = std::fs::read_to_string(&f.world.config).unwrap().replace("unserved: 20s", "unserved: 3s");
    std::fs::write(&f.world.config, cfg).unwrap();
    f.spawn_worker("w1", &[]);
    // The run pins a key no running worker has.
    let other = keygen(&f, "other");
    let o = Out::from(spawn_run(&f, &effect_plan(), &[&other]).wait_with_output().unwrap());
    assert_eq!(o.code, 2, "{}\n{}", o.all(), f.worker_log("w1"));
    let id = f.world.only_run();
    let report = f.world.report(&id);
    let t = task(&report, "t");
    assert_eq!(state(&report, "t"), "failed", "{t}");
    assert_eq!(t["cause"], "worker_lost", "{t}");
    // The worker took it (it trusts the orchestrator) but never ran it: the run
    // refused its `started` event, so no go-ahead came.
    assert_eq!(effects(&f.world), 0, "a delivery the run did not accept ran");
    assert!(t["note"].as_str().unwrap_or("").contains(f.workers[0].public.as_str()), "the note names the key: {t}");
    assert!(o.stderr.contains("a worker key this run does not trust"), "{}", o.all());
    let records = f.world.audit_records(&f.world.audit);
    let refused: Vec<&Value> = records.iter().filter(|r| r["kind"] == "result_refused").collect();
    assert!(!refused.is_empty(), "its started event: {records:#?}");
    for r in &refused {
        assert_eq!(r["body"]["reason"], "untrusted_key", "{r}");
        assert_eq!(r["body"]["worker_key"], f.workers[0].public.as_str(), "{r}");
    }
    assert!(!records.iter().any(|r| r["kind"] == "remote_result"), "{records:#?}");
    // The run withdrew the attempt: the worker lets the delivery go within
    // moments (it used to keep the slot for its 60 s go-ahead wait).
    let running = || {
        let status = f.redis.raw(&["HGET", "orchestra:workers", "w1"]);
        serde_json::from_str::<Value>(status.trim()).map(|v| v["running"].as_u64()).ok().flatten()
    };
    assert!(
        crate::harness::wait_until(std::time::Duration::from_secs(5), || running() == Some(0)),
        "the worker still holds the withdrawn delivery: {:?}\n{}",
        running(),
        f.worker_log("w1")
    );
}

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Exit 1 with one stderr line containing `want`; nothing on stdout.
#[track_caller]
fn assert_one_line_error(o: &Out, want: &str) {
    assert_eq!(o.code, 1, "{}", o.all());
    assert_eq!(o.stdout, "", "{}", o.all());
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {}", o.all());
    assert!(lines[0].contains(want), "{want:?} not in {:?}", lines[0]);
}

#[test]
fn bad_queue_storage_or_worker_settings_are_one_line_exit_1_and_nothing_starts() {
    let f = Fleet::new("bad-input");
    let trusted = keygen(&f, "w1");
    std::fs::write(f.world.ws.join("plan.yaml"), effect_plan()).unwrap();
    let port = closed_port();
    let url = f.redis.url();
    let s3 = format!("s3://missing-bucket?endpoint=http://127.0.0.1:{port}");
    let closed = format!("redis://127.0.0.1:{port}");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--queue", "http://x"], "queue http://x: expected redis://".into()),
        (vec!["--queue", "redis://u@127.0.0.1:1"], "credentials in the URL are refused".into()),
        (vec!["--queue", &closed], format!("queue {closed}")),
        (vec!["--queue", &url, "--storage", &s3], "s3://missing-bucket at http://127.0.0.1".into()),
        (vec!["--queue", &url, "--storage", "relative/dir"], "relative/dir".into()),
    ];
    for (flags, want) in &cases {
        let mut extra = flags.clone();
        extra.extend(["--trust-worker", &trusted]);
        let started = Instant::now();
        let o =
            f.world.orchestra(&f.world.run_args("plan.yaml", &extra).iter().map(String::as_str).collect::<Vec<_>>());
        assert_one_line_error(&o, want);
        assert!(o.stderr.contains("nothing ran"), "{}", o.all());
        assert!(started.elapsed() < Duration::from_secs(30), "{flags:?} took {:?}", started.elapsed());
        assert!(f.world.run_ids().is_empty(), "{flags:?} created a run: {:?}", f.world.run_ids());
        assert_eq!(effects(&f.world), 0, "{flags:?}");
    }
    // With credentials the bucket is looked for: its endpoint does not answer.
    let args = f.world.run_args("plan.yaml", &["--queue", &url, "--storage", &s3, "--trust-worker", &trusted]);
    let mut c = f.world.command();
    c.args(&args).env("AWS_ACCESS_KEY_ID", "id").env("AWS_SECRET_ACCESS_KEY", "secret");
    let started = Instant::now();
    let o = f.world.run_with(c);
    assert_one_line_error(&o, &format!("s3://missing-bucket at http://127.0.0.1:{port}"));
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(!o.stderr.contains("secret"), "{}", o.all());
    assert!(f.world.run_ids().is_empty() && effects(&f.world) == 0);
    // A run that pins no worker key is refused too.
    let o = f
        .world
        .orchestra(&f.world.run_args("plan.yaml", &["--queue", &url]).iter().map(String::as_str).collect::<Vec<_>>());
    assert_one_line_error(&o, "no trusted worker key");
    assert!(f.world.run_ids().is_empty());
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con(&f)).unwrap();
    assert!(keys.is_empty(), "nothing was queued: {keys:?}");

    // `orchestra worker` with a bad key file, a key others can read, capacity 0, a bad label, a bad orchestrator key.
    use std::os::unix::fs::PermissionsExt as _;
    let key = f.world.root.join("keys/w1.key");
    let garbage = f.world.root.join("keys/garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    let open = f.world.root.join("keys/open.key");
    assert_eq!(f.world.orchestra(&["workers", "keygen", open.to_str().unwrap()]).code, 0);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = f.world.root.join("keys/missing.key");
    let k = key.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--key", garbage.to_str().unwrap()], "not an orchestra fleet key"),
        (vec!["--key", open.to_str().unwrap()], "readable by group or others (mode 644)"),
        (vec!["--key", missing.to_str().unwrap()], "missing.key"),
        (vec!["--key", k, "--capacity", "0"], "--capacity must be at least 1"),
        (vec!["--key", k, "--labels", "GPU"], "label \"GPU\""),
        (vec!["--key", k, "--labels", "a:b"], "label \"a:b\""),
        (vec!["--key", k, "--name", "no spaces"], "--name"),
        (vec!["--key", k, "--trust-orchestrator", "ed25519:AAAA"], "ed25519:AAAA"),
        (vec!["--key", k, "--queue", &closed], &closed),
    ];
    for (flags, want) in &cases {
        let state = f.world.root.join("workers/bad");
        let mut args = vec!["worker", "--state-dir", state.to_str().unwrap()];
        if !flags.contains(&"--queue") {
            args.extend(["--queue", &url]);
        }
        if !flags.contains(&"--name") {
            args.extend(["--name", "bad"]);
        }
        if !flags.contains(&"--trust-orchestrator") {
            args.extend(["--trust-orchestrator", &f.orch_public]);
        }
        args.extend(flags);
        let o = f.world.orchestra(&args);
        assert_one_line_error(&o, want);
        assert!(!state.exists(), "{flags:?}: the worker made its state directory");
        let n: u64 = redis::cmd("HLEN").arg("orchestra:workers").query(&mut con(&f)).unwrap();
        assert_eq!(n, 0, "{flags:?}: the worker registered");
    }
}

#[test]
fn a_password_in_the_queue_url_is_not_echoed_back() {
    let f = Fleet::new("bad-url-secret");
    let trusted = keygen(&f, "w1");
    std::fs::write(f.world.ws.join("plan.yaml"), effect_plan()).unwrap();
    let args =
        f.world.run_args("plan.yaml", &["--queue", "redis://u:s3cretpw@127.0.0.1:1", "--trust-worker", &trusted]);
    let o = f.world.orchestra(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_one_line_error(&o, "credentials in the URL are refused");
    assert!(!o.all_output().contains("s3cretpw"), "the password was printed: {}", o.all());
    assert!(f.world.run_ids().is_empty());
    let o = f.world.orchestra(&["workers", "status", "--queue", "redis://:s3cretpw@127.0.0.1:1"]);
    assert_one_line_error(&o, "credentials in the URL are refused");
    assert!(!o.all_output().contains("s3cretpw"), "the password was printed: {}", o.all());
}

#[test]
fn a_signed_message_whose_policy_is_not_the_one_its_hash_names_does_not_run() {
    let mut f = Fleet::new("policy-hash");
    // Control: the orchestrator's key over an edited argv (the policy and its
    // hash intact) runs, and the run takes its result.
    let o = run_substituted(&mut f, &effect_plan(), |m| {
        m.argv = vec!["/bin/sh".into(), "-c".into(), "touch control".into()];
    });
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert!(f.world.ws.join("control").exists(), "the substituted message ran");
    assert_eq!(effects(&f.world), 0);
    // The policy changed, its hash kept: exec refuses to run it.
    let mut seen_policy = String::new();
    let o = run_substituted(&mut f, &effect_plan(), |m| {
        seen_policy = m.policy_yaml.clone();
        m.argv = vec!["/bin/sh".into(), "-c".into(), "touch pwned".into()];
        m.policy_yaml = weaken(&m.policy_yaml);
    });
    assert!(!f.world.ws.join("pwned").exists(), "a task ran under a policy its hash does not name");
    // As locally: the sandbox refused to start, exit 1, cause setup_failed.
    assert_eq!(o.code, 1, "{}\n{}", o.all(), f.worker_log("w1"));
    let id = last_run(&f.world);
    let report = f.world.report(&id);
    let t = task(&report, "t");
    assert_eq!(state(&report, "t"), "failed", "{t}");
    assert_eq!(t["cause"], "setup_failed", "{t}");
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/t.log")).unwrap_or_default();
    let said = format!("{t}\n{log}");
    assert!(said.contains("changed after the run checked it"), "the run says why: {said}\n{}", o.all());
    // The worker's own log records the delivery and exec's refusal.
    let ended: Vec<Value> =
        f.worker_records(0).into_iter().filter(|r| r["kind"] == "delivery_ended").map(|r| r["body"].clone()).collect();
    assert_eq!(ended.len(), 2, "{ended:#?}");
    assert_eq!(ended[0]["exec_status"], 0, "{ended:#?}");
    assert_eq!(ended[1]["exec_status"], 1, "{ended:#?}");
    assert!(ended[1]["report_sha256"].is_null(), "exec wrote no report: {ended:#?}");
    assert!(!seen_policy.is_empty());
}

#[test]
fn a_remote_attempt_that_failed_to_start_points_at_a_log_the_run_has() {
    let mut f = Fleet::new("remote-note");
    let o = run_substituted(&mut f, &effect_plan(), |m| m.policy_sha256 = format!("sha256:{}", "0".repeat(64)));
    assert_eq!(o.code, 1, "{}\n{}", o.all(), f.worker_log("w1"));
    let id = f.world.only_run();
    let t = task(&f.world.report(&id), "t").clone();
    let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/t.log")).unwrap();
    assert!(log.contains("changed after the run checked it"), "the run has the worker's log: {log}");
    // The note names where to look: the run's own log, not a scratch path on
    // the worker (removed when the delivery ended, and on another machine).
    let worker_dir = f.workers[0].state.display().to_string();
    let note = t["note"].as_str().unwrap_or_default();
    assert!(!note.contains(&worker_dir), "the report points at the worker's scratch directory: {note}");
    assert!(!o.stderr.contains(&format!("see {worker_dir}")), "{}", o.all());
}

/// The policy with the host's network instead of a private loopback.
fn weaken(policy_yaml: &str) -> String {
    let weaker = policy_yaml.replace("mode: loopback", "mode: host");
    assert_ne!(weaker, policy_yaml, "the policy names no loopback network:\n{policy_yaml}");
    weaker
}

/// Review 40, F2: a genuine message replayed after its run ended, on a worker
/// that never saw it, with Redis' memory of its id erased, gets no go-ahead
/// (the run that signed it is gone) and never runs.
#[test]
fn a_message_replayed_after_its_run_ended_on_a_fresh_worker_never_runs() {
    let mut f = Fleet::new("replay-fresh");
    let m = run_genuine(&mut f);
    let id = body(&m).id;
    f.signal(0, libc::SIGTERM);
    assert_eq!(f.wait(0, Duration::from_secs(15)), Some(0));
    let public = keygen(&f, "w2");
    spawn_worker(&mut f, "w2", &public, &["--go-wait", "2s"]);
    let n: u64 = redis::cmd("DEL").arg(format!("orchestra:seen:{id}")).query(&mut con(&f)).unwrap();
    assert_eq!(n, 1);
    xadd(&f, "orchestra:tasks", "m", &m);
    wait_for("the replay to be refused", Duration::from_secs(20), || {
        f.redis.raw(&["XLEN", "orchestra:refused"]).trim() != "0"
    });
    let records = f.world.audit_records(&f.workers[1].state.join("audit"));
    let r = records.iter().find(|r| r["kind"] == "message_refused").unwrap();
    assert_eq!(r["body"]["reason"], "no_go_ahead", "{r}");
    assert_eq!(r["body"]["msg"], id.as_str(), "{r}");
    assert!(!records.iter().any(|r| r["kind"] == "delivery_ended"), "{records:#?}");
    assert_eq!(effects(&f.world), 1, "the replay ran");
    assert!(xrange(&f, "orchestra:tasks").is_empty(), "the replay is acknowledged and deleted");
}

/// Review 40, F3: whatever a Redis writer puts in a run's result stream, the
/// run's audit log keeps at most 100 refusals, each with a bounded key.
#[test]
fn junk_in_a_result_stream_cannot_flood_the_runs_audit_log() {
    let mut f = Fleet::new("flood");
    let public = keygen(&f, "w1");
    let run = spawn_run(&f, &plan(&[sh("t", "sleep 3; echo ran >> effects", "")]), &[&public]);
    let m = first_task_message(&f);
    let results = body(&m).results;
    let huge =
        serde_json::json!({"kind": "event", "key": format!("ed25519:{}", "A".repeat(2 << 20)), "sig": "", "body": ""});
    for _ in 0..3 {
        xadd(&f, &results, "m", &huge.to_string());
    }
    let mut c = con(&f);
    let mut p = redis::pipe();
    for i in 0..400 {
        p.cmd("XADD").arg(&results).arg("*").arg("m").arg(format!("junk {i}")).ignore();
    }
    p.query::<()>(&mut c).unwrap();
    spawn_worker(&mut f, "w1", &public, &[]);
    let o = Out::from(run.wait_with_output().unwrap());
    assert_eq!(o.code, 0, "{}\n{}", o.all(), f.worker_log("w1"));
    assert_eq!(effects(&f.world), 1);
    let records = f.world.audit_records(&f.world.audit);
    let refused: Vec<&Value> = records.iter().filter(|r| r["kind"] == "result_refused").collect();
    assert!(refused.len() <= 100, "{} refusals recorded", refused.len());
    assert!(refused.len() >= 50, "{} refusals recorded", refused.len());
    for r in &refused {
        assert!(r["body"]["worker_key"].as_str().unwrap().chars().count() <= 61, "{}", &r.to_string()[..200]);
    }
    let size: u64 = std::fs::read_dir(&f.world.audit).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    assert!(size < 2 << 20, "the audit log grew to {size} bytes");
    assert!(o.stderr.contains("further refusals in this session are not recorded"), "{}", o.all());
}

/// Review 40, F1: a task on a worker of the orchestrator's own host cannot
/// reach the runs directory or the blob store in it (they are hidden as for a
/// local run), so it can neither rewrite other runs nor plant a link that the
/// worker would follow outside any sandbox.
#[test]
fn a_task_on_a_worker_cannot_reach_the_runs_directory_or_the_blob_store() {
    let mut f = Fleet::new("reach");
    let public = keygen(&f, "w1");
    spawn_worker(&mut f, "w1", &public, &[]);
    let runs = f.world.ws.join("runs");
    let escape = f.world.root.join("escape");
    std::fs::create_dir_all(&escape).unwrap();
    let script = format!(
        "ls runs > seen.txt 2>&1; echo x > runs/tamper.txt; mkdir -p runs/.blobs/sha256 && ln -s {} runs/.blobs/sha256/aa; mkdir -p out; echo y > out/f",
        escape.display()
    );
    std::fs::write(f.world.ws.join("plan.yaml"), plan(&[sh("t", &script, ", outputs: [out]")])).unwrap();
    let url = f.redis.url();
    let o = f.world.orchestra(&[
        "run",
        "plan.yaml",
        "--config",
        f.world.config.to_str().unwrap(),
        "--runs-dir",
        runs.to_str().unwrap(),
        "--audit-dir",
        f.world.audit.to_str().unwrap(),
        "--queue",
        &url,
        "--trust-worker",
        &public,
    ]);
    assert_eq!(o.code, 4, "{}\n{}", o.all(), f.worker_log("w1"));
    assert!(!runs.join("tamper.txt").exists());
    assert!(std::fs::symlink_metadata(runs.join(".blobs/sha256/aa")).is_err(), "a link was planted in the blob store");
    assert_eq!(std::fs::read_dir(&escape).unwrap().count(), 0, "the worker wrote outside the store");
    let seen = std::fs::read_to_string(f.world.ws.join("seen.txt")).unwrap_or_default();
    assert!(!seen.contains(".blobs") && !seen.contains("index"), "the task saw the runs directory: {seen}");
}

#[test]
fn a_result_signed_by_another_pinned_worker_under_the_granted_workers_name_does_not_count() {
    use orchestra_distributed::keys::PublicKey;
    use orchestra_distributed::message::WorkerEvent;
    use orchestra_distributed::storage::Blob;
    let mut f = Fleet::new("wrong-signer");
    f.spawn_worker("w1", &["--labels", "a"]);
    f.spawn_worker("w2", &["--labels", "b"]);
    let script = "echo t start >> effects; sleep 4; echo t end >> effects";
    let child = f.spawn_run(&plan(&[sh("t", script, ", runs_on: [a]")]), &[]);
    assert!(
        crate::harness::wait_until(Duration::from_secs(20), || f.world.lines("effects").contains(&"t start".into())),
        "the task never started\n{}",
        f.worker_log("w1")
    );
    // The message as Redis holds it, its delivery's token, the run's results stream.
    let orch: PublicKey = f.orch_public.parse().unwrap();
    let (_, fields) = xrange(&f, "orchestra:tasks:a").pop().expect("the task's entry");
    let (msg, _) = Envelope::open::<TaskMessage>(fields["m"].as_bytes(), Kind::Task, &[orch]).unwrap();
    let token: u64 = redis::cmd("GET").arg(format!("orchestra:fence:{}", msg.id)).query(&mut con(&f)).unwrap();
    // w2 (pinned too) posts a failing result under w1's name for w1's delivery.
    let forged = WorkerEvent::Finished {
        msg: msg.id.clone(),
        task: "t".into(),
        attempt: msg.attempt,
        token,
        worker: "w1".into(),
        exec_status: 1,
        report: None,
        error: Some("forged".into()),
        log: Blob::of(b"forged\n"),
        outputs: Vec::new(),
        process_ms: 0,
        audit: None,
        stopped: false,
    };
    let w2 = SigningKey::load(&f.world.root.join("keys/w2.key")).unwrap();
    xadd(&f, &msg.results, "m", &Envelope::seal(Kind::Event, &forged, &w2).unwrap().to_json());
    let o = Out::from(child.wait_with_output().unwrap());
    assert_eq!(o.code, 0, "the genuine result counts\n{}\n{}", o.all(), f.worker_log("w1"));
    assert_eq!(f.world.lines("effects"), ["t start", "t end"]);
    let records = f.world.audit_records(&f.world.audit);
    let refused: Vec<&Value> = records.iter().filter(|r| r["kind"] == "result_refused").collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["body"]["reason"], "fenced");
    assert_eq!(refused[0]["body"]["worker_key"], f.workers[1].public.as_str());
    let counted: Vec<&Value> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0]["body"]["worker_key"], f.workers[0].public.as_str());
}

/// A fleet whose worker w1 runs task `t` (`secs` long, one retry allowed: an
/// attempt wrongly ended would run again) while a second pinned worker, w2
/// (`--go-wait go_wait`), is handed a replay of its message: the entry w1
/// holds, read from Redis and added again with Redis' memory of its id
/// erased, as anyone who can write to Redis could. The fleet, the run, the
/// message's id and w1's public key.
fn replay_while_running(name: &str, secs: u32, go_wait: &str) -> (Fleet, std::process::Child, String, String) {
    let mut f = Fleet::new(name);
    let w1 = keygen(&f, "w1");
    let w2 = keygen(&f, "w2");
    spawn_worker(&mut f, "w1", &w1, &[]);
    let script = format!("echo t start >> effects; sleep {secs}; echo t end >> effects");
    let run = spawn_run(&f, &plan(&[sh("t", &script, ", retries: 1")]), &[&w1, &w2]);
    wait_for("the task to start", Duration::from_secs(20), || f.world.lines("effects").contains(&"t start".into()));
    let (_, fields) = xrange(&f, "orchestra:tasks").pop().expect("the task's entry");
    let m = fields["m"].clone();
    let id = body(&m).id;
    spawn_worker(&mut f, "w2", &w2, &["--go-wait", go_wait]);
    let n: u64 = redis::cmd("DEL").arg(format!("orchestra:seen:{id}")).query(&mut con(&f)).unwrap();
    assert_eq!(n, 1);
    xadd(&f, "orchestra:tasks", "m", &m);
    (f, run, id, w1)
}

/// Review 60, F2: a replay of a live attempt's message (Redis' memory of its
/// id erased, so the second worker does not refuse it as `replayed` at once)
/// gets no go-ahead while the attempt's worker lives; the `lost` event its
/// worker then posts neither ends the attempt nor starts a retry beside it:
/// the task runs once, its genuine result counts, the run exits 0, and the
/// refusal is on the record (the worker's audit log, `orchestra:refused`,
/// `workers status`, the run's log).
#[test]
fn a_replay_of_a_live_attempt_posts_lost_and_the_attempt_runs_on_once() {
    // w2 waits one second for a go-ahead.
    let (f, run, id, w1) = replay_while_running("replay-live", 5, "1s");
    let ran = |f: &Fleet| f.world.lines("effects");
    // w2 takes the copy, asks to run it, gets no go-ahead, posts `lost` and refuses it.
    wait_for(&format!("w2 to give up the replay\n{}", f.worker_log("w2")), Duration::from_secs(20), || {
        f.redis.raw(&["XLEN", "orchestra:refused"]).trim() != "0"
    });
    assert!(
        !ran(&f).contains(&"t end".into()),
        "the test is void: the task ended before the replay's `lost` was posted ({:?})",
        ran(&f)
    );
    let mut run = run;
    if !crate::harness::wait_until(Duration::from_secs(60), || run.try_wait().ok().flatten().is_some()) {
        let _ = run.kill();
        let o = Out::from(run.wait_with_output().unwrap());
        let id = f.world.only_run();
        let log = std::fs::read_to_string(f.world.run_dir(&id).join("logs/t.log")).unwrap_or_default();
        let refused: Vec<Value> =
            f.world.audit_records(&f.world.audit).into_iter().filter(|r| r["kind"] == "result_refused").collect();
        panic!(
            "the run did not end within 60 s\n{}\n--- run log:\n{log}\n--- refused: {refused:#?}\n--- w1:\n{}\n--- w2:\n{}",
            o.all(),
            f.worker_log("w1"),
            f.worker_log("w2")
        );
    }
    let o = Out::from(run.wait_with_output().unwrap());
    assert_eq!(o.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ran(&f), ["t start", "t end"], "the task ran once, neither ended early nor retried");
    let id_run = f.world.only_run();
    let report = f.world.report(&id_run);
    let t = task(&report, "t");
    assert_eq!(state(&report, "t"), "succeeded", "{t}");
    assert_eq!(t["attempts"], 1, "{t}");
    // The genuine result counted; nothing was refused on the run's side.
    let records = f.world.audit_records(&f.world.audit);
    let counted: Vec<&Value> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(counted.len(), 1, "{records:#?}");
    assert_eq!(counted[0]["body"]["worker"], "w1");
    assert_eq!(counted[0]["body"]["worker_key"], w1.as_str());
    assert!(!records.iter().any(|r| r["kind"] == "result_refused"), "{records:#?}");
    // The run's log is w1's stored log (what the replay's request wrote in
    // it meanwhile is replaced by it): nothing was taken over.
    let log = std::fs::read_to_string(f.world.run_dir(&id_run).join("logs/t.log")).unwrap();
    assert!(!log.contains("taken over") && !log.contains("take over"), "{log}");
    // w2 never ran it, and recorded why: its audit log, orchestra:refused, workers status.
    let w2_records = f.worker_records(1);
    assert!(!w2_records.iter().any(|r| r["kind"] == "delivery_ended"), "{w2_records:#?}");
    let refusals: Vec<&Value> = w2_records.iter().filter(|r| r["kind"] == "message_refused").collect();
    assert_eq!(refusals.len(), 1, "{w2_records:#?}");
    assert_eq!(refusals[0]["body"]["reason"], "no_go_ahead", "{}", refusals[0]);
    assert_eq!(refusals[0]["body"]["msg"], id.as_str(), "{}", refusals[0]);
    let stream = xrange(&f, "orchestra:refused");
    assert_eq!(stream.len(), 1, "{stream:?}");
    assert_eq!(stream[0].1["worker"], "w2");
    let record: Value = serde_json::from_str(&stream[0].1["record"]).unwrap();
    assert_eq!(record["reason"], "no_go_ahead", "{record}");
    let o = f.world.orchestra(&["workers", "status", "--queue", &f.redis.url(), "--json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let w2_status = lines.iter().find(|l| l["type"] == "worker" && l["name"] == "w2").expect("w2 in workers status");
    assert_eq!(w2_status["status"]["refused"], 1, "{w2_status}");
    let shown: Vec<&Value> = lines.iter().filter(|l| l["type"] == "refused").collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["worker"], "w2", "{}", shown[0]);
    // w1's entry was settled by w1; the copy by w2: nothing is left to run.
    assert!(xrange(&f, "orchestra:tasks").is_empty(), "{:?}", xrange(&f, "orchestra:tasks"));
}

/// A replay of a live attempt that is still waiting for its go-ahead when the
/// attempt ends (w2's go-ahead wait longer than the task): the genuine result
/// counts (it was fenced while a takeover waited, and the replay was then
/// granted and ran the task a second time), the waiting delivery is
/// cancelled and runs nothing, the run exits 0 with the task run once.
#[test]
fn a_replay_still_waiting_when_the_attempt_ends_never_runs_and_the_result_counts() {
    // w2 waits far longer than the task lasts.
    let (f, run, _id, _w1) = replay_while_running("replay-waiting", 3, "60s");
    let ran = |f: &Fleet| f.world.lines("effects");
    let mut run = run;
    if !crate::harness::wait_until(Duration::from_secs(40), || run.try_wait().ok().flatten().is_some()) {
        let _ = run.kill();
        let o = Out::from(run.wait_with_output().unwrap());
        panic!("the run did not end\n{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    }
    let o = Out::from(run.wait_with_output().unwrap());
    assert_eq!(o.code, 0, "{}\n--- w1:\n{}\n--- w2:\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    // Long enough for a granted replay to have started and ended.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ran(&f), ["t start", "t end"], "the task ran once\n--- w2:\n{}", f.worker_log("w2"));
    let report = f.world.report(&f.world.only_run());
    assert_eq!(state(&report, "t"), "succeeded");
    assert_eq!(task(&report, "t")["attempts"], 1);
    let records = f.world.audit_records(&f.world.audit);
    let counted: Vec<&Value> = records.iter().filter(|r| r["kind"] == "remote_result").collect();
    assert_eq!(counted.len(), 1, "{records:#?}");
    assert_eq!(counted[0]["body"]["worker"], "w1");
    assert!(!records.iter().any(|r| r["kind"] == "result_refused"), "{records:#?}");
    // w2 ran nothing: it was cancelled while it waited, and wrote no record at all.
    assert!(!f.workers[1].state.join("audit").exists(), "w2 recorded a delivery:\n{}", f.worker_log("w2"));
}
