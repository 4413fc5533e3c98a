//! `orchestra dashboard` against real runs: the API contract, the live feed
//! (reconnect without gaps or duplicates), pause/continue/cancel from the API
//! and the CLI (with their effect on the run), and the attacks a dashboard
//! must survive: task output with markup, artifact paths leaving the run,
//! requests without a token off loopback, cross-site state changes, DNS
//! rebinding, and a run directory damaged or deleted while watched.

use crate::harness::dashboard::Dashboard;
use crate::harness::*;
use std::time::{Duration, Instant};

fn plan(tasks: &[&str]) -> String {
    format!("version: 1\nname: dash\ntasks:\n{}", tasks.iter().map(|t| format!("  - {t}\n")).collect::<String>())
}

/// Wait until `f` holds (panics after `limit`).
fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The task states `orchestra runs show --json` reports.
fn states(w: &World, id: &str) -> std::collections::BTreeMap<String, String> {
    let runs = w.runs.display().to_string();
    let o = w.orchestra(&["runs", "show", id, "--runs-dir", &runs, "--json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["task_id"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect()
}

fn wait_run_id(w: &World) -> String {
    wait_for(Duration::from_secs(30), "the run directory", || !w.run_ids().is_empty());
    w.only_run()
}

#[test]
fn every_route_of_the_reference_answers_on_a_real_run() {
    let w = World::new();
    let o = w.run_plan(
        &plan(&[
            "{id: build, tool: sh, args: ['-c', 'mkdir -p out && echo built > out/bin.txt && echo building'], outputs: [out/bin.txt]}",
            "{id: test, tool: sh, args: ['-c', 'echo testing; exit 3'], needs: [build]}",
        ]),
        &["--keep-going"],
    );
    assert_eq!(o.code, 2, "{}", o.all());
    let id = w.only_run();
    let d = Dashboard::start(&w.runs, &[]);

    // The reference lists exactly the router's routes.
    let doc = std::fs::read_to_string(repo().join("docs/dashboard.md")).unwrap();
    for (method, route) in orchestra_dashboard::ROUTES {
        assert!(doc.contains(&format!("`{method} {route}`")), "docs/dashboard.md lacks `{method} {route}`");
    }
    let documented = doc.lines().filter(|l| l.starts_with("| `GET /") || l.starts_with("| `POST /")).count();
    assert_eq!(documented, orchestra_dashboard::ROUTES.len(), "the reference lists routes the router lacks");

    let list = d.get("/api/runs?limit=10").json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["runs"][0]["run_id"], id.as_str());
    assert_eq!(list["runs"][0]["status"], "failed");
    assert_eq!(d.get("/api/runs?status=succeeded").json()["total"], 0);
    assert_eq!(d.get(&format!("/api/runs?q={}", &id[..8])).json()["total"], 1);

    let run = d.get(&format!("/api/runs/{id}")).json();
    assert_eq!(run["live"], false);
    assert!(run["journal_seq"].as_u64().unwrap() >= 5, "{run}");
    let tasks: Vec<&str> = run["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(tasks.len(), 2);

    let plan = d.get(&format!("/api/runs/{id}/plan")).json();
    assert_eq!(plan["layout"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(plan["layout"]["edges"], serde_json::json!([[0, 1]]));
    assert_eq!(plan["states"], serde_json::json!(["succeeded", "failed"]));

    let log = d.get(&format!("/api/runs/{id}/tasks/build/log?offset=0&limit=5")).json();
    assert_eq!(log["text"], "build");
    assert_eq!(log["next"], 5);
    let rest = d.get(&format!("/api/runs/{id}/tasks/build/log?offset=5")).json();
    let file = std::fs::read_to_string(w.runs.join(&id).join("logs/build.log")).unwrap();
    assert_eq!(format!("build{}", rest["text"].as_str().unwrap()), file);

    assert_eq!(d.get(&format!("/api/runs/{id}/tasks/test/report")).json()["exit_status"], 3);
    assert_eq!(d.get(&format!("/api/runs/{id}/report")).json()["run_id"], id.as_str());
    assert_eq!(d.get(&format!("/api/runs/{id}/violations")).json()["violations"], serde_json::json!([]));
    let audit = d.get(&format!("/api/runs/{id}/audit")).json();
    assert_eq!(audit["ok"], true, "{audit}");
    assert!(audit["records"].as_u64().unwrap() > 4);
    let arts = d.get(&format!("/api/runs/{id}/artifacts")).json();
    assert_eq!(arts["artifacts"], serde_json::json!([{"path": "build/out/bin.txt", "size": 6}]));
    let a = d.get(&format!("/api/runs/{id}/artifacts/build/out/bin.txt"));
    assert_eq!((a.status, a.body.as_str()), (200, "built\n"));
    assert!(a.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let events = d.get(&format!("/api/runs/{id}/events?since=0")).json();
    let seqs: Vec<u64> = events["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(d.get(&format!("/api/compare?a={id}&b={id}")).json()["tasks"].as_array().unwrap().len(), 2);

    for page in
        ["/".to_string(), format!("/runs/{id}"), format!("/runs/{id}/tasks/test"), format!("/runs/{id}/artifacts")]
    {
        let p = d.get(&page);
        assert_eq!(p.status, 200, "{page}: {}", p.body);
        assert!(p.body.contains(&id) || page == "/", "{page}");
    }
    let m = d.get("/metrics");
    assert_eq!(m.status, 200);
    // Errors are one JSON object with a status.
    for (path, status) in [
        ("/api/runs/not-a-run".to_string(), 400),
        ("/api/runs/20991231T000000Z-0000".to_string(), 404),
        (format!("/api/runs/{id}/tasks/nope/log"), 404),
        (format!("/api/runs/{id}/artifacts/nope.txt"), 404),
        ("/no/such/page".to_string(), 404),
        ("/api/runs?bogus=1".to_string(), 400),
        (format!("/api/runs/{id}/live"), 400),
    ] {
        let a = d.get(&path);
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.json()["error"].is_string(), "{path}");
    }
}

#[test]
fn the_live_feed_resumes_after_a_reconnect_without_gaps_or_duplicates() {
    let w = World::new();
    let mut run = w.spawn_plan(
        &plan(&[
            "{id: talk, tool: sh, args: ['-c', 'for i in $(seq 1 30); do echo line-$i; sleep 0.1; done']}",
            "{id: after, tool: sh, args: ['-c', 'echo done'], needs: [talk]}",
        ]),
        &[],
    );
    let id = wait_run_id(&w);
    let d = Dashboard::start(&w.runs, &[]);
    wait_for(Duration::from_secs(30), "the task to start", || {
        std::fs::read_to_string(w.runs.join(&id).join("logs/talk.log")).is_ok_and(|l| l.contains("line-3"))
    });
    // First connection: some events and some log, then drop it mid-run.
    let mut feed = d.live(&format!("/api/runs/{id}/live?since=0&log=talk&offset=0"));
    let mut seqs = Vec::new();
    let mut log = String::new();
    let mut offset = 0u64;
    let take = |m: &serde_json::Value, seqs: &mut Vec<u64>, log: &mut String, offset: &mut u64| match m["type"].as_str()
    {
        Some("events") => seqs.extend(m["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap())),
        Some("log") => {
            assert_eq!(m["offset"].as_u64().unwrap(), *offset, "log chunks are contiguous");
            *offset = m["next"].as_u64().unwrap();
            log.push_str(m["text"].as_str().unwrap());
        }
        other => panic!("unexpected message {other:?}: {m}"),
    };
    for m in
        feed.until(Duration::from_secs(20), |m| m["type"] == "log" && m["text"].as_str().unwrap().contains("line-5"))
    {
        take(&m, &mut seqs, &mut log, &mut offset);
    }
    feed.close();
    std::thread::sleep(Duration::from_millis(700));
    // Reconnect from the last seq and offset: everything after, once.
    let last = *seqs.last().unwrap();
    let mut feed = d.live(&format!("/api/runs/{id}/live?since={last}&log=talk&offset={offset}"));
    for m in feed.until(Duration::from_secs(60), |m| {
        m["type"] == "events" && m["entries"].as_array().unwrap().iter().any(|e| e["type"] == "run_finished")
    }) {
        take(&m, &mut seqs, &mut log, &mut offset);
    }
    // The log's last bytes may follow the run's end: drain briefly.
    let file = || std::fs::read_to_string(w.runs.join(&id).join("logs/talk.log")).unwrap();
    if log.len() < file().len() {
        for m in feed
            .until(Duration::from_secs(10), |m| m["type"] == "log" && m["next"].as_u64() == Some(file().len() as u64))
        {
            take(&m, &mut seqs, &mut log, &mut offset);
        }
    }
    assert!(run.wait().unwrap().success());
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "every entry once, in order");
    assert_eq!(log, file(), "the log as the file holds it: no gap, no duplicate");
    let journal = std::fs::read_to_string(w.runs.join(&id).join("events.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), seqs.len());
}

#[test]
fn task_output_with_markup_is_shown_as_text_under_a_strict_csp() {
    let w = World::new();
    let evil = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let o = w.run_plan(
        &plan(&[&format!("{{id: xss, tool: sh, args: ['-c', 'echo \"{}\"; exit 1']}}", evil.replace('"', "\\\""))]),
        &[],
    );
    assert_eq!(o.code, 2, "{}", o.all());
    let id = w.only_run();
    let d = Dashboard::start(&w.runs, &[]);
    let handler = regex::Regex::new(r"<[^>]*\son[a-z]+\s*=").unwrap();
    for page in [format!("/runs/{id}/tasks/xss"), format!("/runs/{id}")] {
        let p = d.get(&page);
        assert_eq!(p.status, 200);
        assert!(!p.body.contains("<script>alert"), "{page}: raw script in the page");
        assert!(!p.body.contains("<img src=x"), "{page}: raw markup in the page");
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(p.headers["x-content-type-options"], "nosniff");
        assert_eq!(p.headers["x-frame-options"], "DENY");
        // No inline script or handler anywhere in our own markup.
        assert_eq!(p.body.matches("<script").count(), 1, "only the app.js tag");
        assert!(!handler.is_match(&p.body), "{page}: an event handler attribute in a tag");
    }
    assert!(d.get(&format!("/runs/{id}/tasks/xss")).body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn artifact_paths_cannot_leave_the_run_directory() {
    let w = World::new();
    let o = w.run_plan(&plan(&["{id: t, tool: sh, args: ['-c', 'echo ok > a.txt'], outputs: [a.txt]}"]), &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    let id = w.only_run();
    // A link planted in the artifacts (as a task or a careless user could), and a secret beside the run.
    let arts = w.runs.join(&id).join("artifacts/t");
    std::os::unix::fs::symlink("/etc/passwd", arts.join("passwd")).unwrap();
    std::os::unix::fs::symlink(w.runs.join(&id), arts.join("up")).unwrap();
    std::fs::write(w.runs.join("secret.txt"), "TOP-SECRET").unwrap();
    let d = Dashboard::start(&w.runs, &[]);
    assert_eq!(d.get(&format!("/api/runs/{id}/artifacts/t/a.txt")).body, "ok\n");
    for path in [
        "t/passwd",
        "t/up/checkpoint.json",
        "../checkpoint.json",
        "..%2f..%2fsecret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "t/..%2F..%2F..%2Fsecret.txt",
        "%2fetc%2fpasswd",
        "t//a.txt",
    ] {
        let a = d.get(&format!("/api/runs/{id}/artifacts/{path}"));
        assert!(a.status == 400 || a.status == 404, "{path}: {} {}", a.status, a.body);
        assert!(!a.body.contains("root:") && !a.body.contains("TOP-SECRET") && !a.body.contains("run_id"), "{path}");
    }
    // Task names are checked against the run too (no traversal through the log route).
    for task in ["..%2F..%2Fsecret.txt", "%2e%2e"] {
        let a = d.get(&format!("/api/runs/{id}/tasks/{task}/log"));
        assert_eq!(a.status, 404, "{task}: {}", a.body);
    }
    let listed = d.get(&format!("/api/runs/{id}/artifacts")).json();
    assert_eq!(listed["artifacts"], serde_json::json!([{"path": "t/a.txt", "size": 3}]), "links are not listed");
    assert_eq!(listed["omitted"], 0);
    // A name no URL can carry is not hidden silently: the page says so.
    use std::os::unix::ffi::OsStrExt;
    std::fs::write(arts.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), "hidden?").unwrap();
    assert_eq!(d.get(&format!("/api/runs/{id}/artifacts")).json()["omitted"], 1);
    assert!(d.get(&format!("/runs/{id}/artifacts")).body.contains("1 entries not shown"));
}

#[test]
fn off_loopback_the_dashboard_needs_a_token_and_checks_it() {
    let w = World::new();
    // No token: refused before binding, one line, exit 1.
    let o = w.orchestra(&["dashboard", "--bind", "0.0.0.0:0", "--runs-dir", &w.runs.display().to_string()]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("without a token"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    let short = w.root.join("short-token");
    std::fs::write(&short, "abc\n").unwrap();
    let o = w.orchestra(&[
        "dashboard",
        "--bind",
        "0.0.0.0:0",
        "--token-file",
        &short.display().to_string(),
        "--runs-dir",
        &w.runs.display().to_string(),
    ]);
    assert_eq!(o.code, 1, "{}", o.all());

    std::fs::create_dir_all(&w.runs).unwrap();
    let token = "s3cret-token-0123456789";
    let d = Dashboard::start_env(&w.runs, &[], &[("ORCHESTRA_DASHBOARD_TOKEN", token)]);
    for path in ["/api/runs", "/metrics", "/"] {
        let a = d.get(path);
        assert_eq!(a.status, 401, "{path}");
        assert!(!a.body.contains("\"runs\""));
    }
    let c = Dashboard::client();
    let wrong = d.request(c.get(format!("{}/api/runs", d.base)).bearer_auth("s3cret-token-012345678X"));
    assert_eq!(wrong.status, 401);
    let ok = d.request(c.get(format!("{}/api/runs", d.base)).bearer_auth(token));
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The login link sets an HttpOnly, SameSite=Strict cookie that then works alone.
    let login = d.get(&format!("/login?token={token}"));
    assert_eq!(login.status, 303);
    let cookie = login.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = d.request(c.get(format!("{}/api/runs", d.base)).header("cookie", pair));
    assert_eq!(with_cookie.status, 200);
    assert_eq!(d.get("/login?token=nope").status, 401);
    // The assets need no token (the login page uses them) and say nothing about runs.
    assert_eq!(d.get("/assets/app.css").status, 200);
}

#[test]
fn a_loopback_dashboard_refuses_foreign_host_names_and_cross_site_websockets() {
    let w = World::new();
    std::fs::create_dir_all(&w.runs).unwrap();
    let d = Dashboard::start(&w.runs, &[]);
    let c = Dashboard::client();
    let rebound = d.request(c.get(format!("{}/api/runs", d.base)).header("host", "attacker.example:7878"));
    assert_eq!(rebound.status, 421, "{}", rebound.body);
    assert!(!rebound.body.contains("\"runs\""));
    let ok = d.request(c.get(format!("{}/api/runs", d.base)).header("host", "localhost"));
    assert_eq!(ok.status, 200);
    // A page elsewhere cannot open the live feed (the browser sends its Origin).
    let ws = d.request(
        c.get(format!("{}/api/runs/20261206T000000Z-0000/live", d.base))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("origin", "http://attacker.example"),
    );
    assert_eq!(ws.status, 403, "{}", ws.body);
}

/// A chain of three tasks; the first sleeps long enough to pause during it
/// (`pause` makes its command line unique, to look for it among processes).
fn chain(pause: &str) -> String {
    plan(&[
        &format!("{{id: one, tool: sh, args: ['-c', 'echo one; sleep {pause}']}}"),
        "{id: two, tool: sh, args: ['-c', 'echo two'], needs: [one]}",
        "{id: three, tool: sh, args: ['-c', 'echo three'], needs: [two]}",
    ])
}

#[test]
fn pause_from_the_dashboard_stops_new_starts_until_continue_and_is_audited() {
    let w = World::new();
    let run = w.spawn_plan(&chain("2.0117"), &[]);
    let id = wait_run_id(&w);
    let ro = Dashboard::start(&w.runs, &[]);
    let d = Dashboard::start(&w.runs, &["--operator"]);
    wait_for(Duration::from_secs(30), "task one to run", || {
        states(&w, &id).get("one").map(String::as_str) == Some("running")
    });
    let c = Dashboard::client();
    let url = format!("{}/api/runs/{id}/control", d.base);
    let body = r#"{"action":"pause"}"#;
    // Read-only dashboard, missing CSRF token, cross-site origin: refused, and nothing changes.
    let csrf = d.csrf();
    let refused = [
        ro.request(
            c.post(format!("{}/api/runs/{id}/control", ro.base)).header("x-orchestra-csrf", ro.csrf()).body(body),
        ),
        d.request(c.post(&url).header("content-type", "application/json").body(body)),
        d.request(
            c.post(&url)
                .header("content-type", "application/json")
                .header("x-orchestra-csrf", &csrf)
                .header("origin", "http://attacker.example")
                .body(body),
        ),
    ];
    for r in &refused {
        assert_eq!(r.status, 403, "{}", r.body);
    }
    // Operator rights need the token it showed, even on loopback (a local
    // process, or a task with host networking, is not the operator).
    let token = d.token.clone().expect("an operator dashboard shows its token");
    let anonymous = c
        .post(&url)
        .header("content-type", "application/json")
        .header("x-orchestra-csrf", &csrf)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(c.get(format!("{}/api/runs", d.base)).send().unwrap().status().as_u16(), 401);
    assert_eq!(c.get(format!("{}/api/runs", d.base)).bearer_auth(&token).send().unwrap().status().as_u16(), 200);
    assert!(!w.runs.join(&id).join("control.json").exists(), "a refused request writes nothing");
    let ok =
        d.request(c.post(&url).header("content-type", "application/json").header("x-orchestra-csrf", &csrf).body(body));
    assert_eq!(ok.status, 202, "{}", ok.body);
    // Task one finishes; two does not start while paused.
    wait_for(Duration::from_secs(30), "task one to end", || states(&w, &id)["one"] == "succeeded");
    std::thread::sleep(Duration::from_secs(3));
    let s = states(&w, &id);
    assert_eq!((s["two"].as_str(), s["three"].as_str()), ("pending", "pending"), "nothing starts while paused");
    assert_eq!(d.get(&format!("/api/runs/{id}")).json()["paused"], true);
    assert!(d.get(&format!("/runs/{id}")).body.contains(">paused<"));
    // Continue from the CLI: the run goes on and succeeds.
    let runs = w.runs.display().to_string();
    let o = w.orchestra(&["runs", "control", &id, "continue", "--runs-dir", &runs]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("continued"), "{}", o.stdout);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("paused by dashboard:127.0.0.1:"));
    // Both requests are in the signed audit log.
    let log = w.orchestra(&["audit", "show", "--json", &w.audit.display().to_string()]);
    let controls: Vec<serde_json::Value> = log
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == "run_control")
        .collect();
    assert_eq!(controls.len(), 2, "{}", log.stdout);
    assert_eq!(controls[0]["body"]["action"], "pause");
    assert!(controls[0]["body"]["by"].as_str().unwrap().starts_with("dashboard:127.0.0.1:"));
    assert_eq!(controls[1]["body"]["action"], "continue");
    assert_eq!(controls[1]["body"]["by"].as_str().unwrap().split(':').next(), Some("cli"));
    // Controlling a run nobody drives any more is refused.
    let late =
        d.request(c.post(&url).header("content-type", "application/json").header("x-orchestra-csrf", &csrf).body(body));
    assert_eq!(late.status, 409, "{}", late.body);
    let o = w.orchestra(&["runs", "control", &id, "pause", "--runs-dir", &runs]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
}

#[test]
fn cancel_from_the_cli_stops_the_run_and_leaves_it_resumable() {
    let w = World::new();
    let run = w.spawn_plan(&chain("2.0373"), &[]);
    let id = wait_run_id(&w);
    wait_for(Duration::from_secs(30), "task one to run", || {
        states(&w, &id).get("one").map(String::as_str) == Some("running")
    });
    let runs = w.runs.display().to_string();
    let o = w.orchestra(&["runs", "control", &id, "cancel", "--runs-dir", &runs]);
    assert_eq!(o.code, 0, "{}", o.all());
    let out = run.wait_with_output().unwrap();
    let s = states(&w, &id);
    assert_eq!(s["one"], "cancelled", "the running task is stopped");
    // What needed the stopped task is skipped, as after Ctrl-C: never started.
    assert_eq!((s["two"].as_str(), s["three"].as_str()), ("skipped", "skipped"));
    for t in ["two", "three"] {
        assert!(!w.runs.join(&id).join(format!("logs/{t}.log")).exists(), "{t} never ran");
    }
    assert_ne!(out.status.code(), Some(0));
    assert!(!process_alive_named("sleep 2.0373"), "no task process left");
    let o = w.resume(&id, &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(states(&w, &id).values().all(|s| s == "succeeded"));
}

/// Whether a process whose command line contains `needle` runs.
fn process_alive_named(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

#[test]
fn a_run_damaged_or_deleted_while_watched_is_an_error_and_the_server_stays_up() {
    let w = World::new();
    let mut run = w.spawn_plan(
        &plan(&["{id: slow, tool: sh, args: ['-c', 'for i in $(seq 1 100); do echo $i; sleep 0.1; done']}"]),
        &[],
    );
    let id = wait_run_id(&w);
    let mut d = Dashboard::start(&w.runs, &[]);
    let mut feed = d.live(&format!("/api/runs/{id}/live?since=0&log=slow&offset=0"));
    feed.until(Duration::from_secs(30), |m| m["type"] == "log");
    let _ = run.kill();
    let _ = run.wait();
    // Damaged checkpoint: one JSON error, the server answers the next request.
    let cp = w.runs.join(&id).join("checkpoint.json");
    std::fs::write(&cp, "{ not json").unwrap();
    let a = d.get(&format!("/api/runs/{id}"));
    assert_eq!(a.status, 500, "{}", a.body);
    assert!(a.json()["error"].as_str().unwrap().contains("checkpoint"), "{}", a.body);
    assert_eq!(d.get(&format!("/runs/{id}")).status, 500);
    assert_eq!(d.get("/api/runs").status, 200, "one damaged run does not hide the others");
    // Deleted: the feed says so and ends; the server stays up.
    std::fs::remove_dir_all(w.runs.join(&id)).unwrap();
    let end = feed.until(Duration::from_secs(10), |m| m["type"] == "error");
    assert!(end.last().unwrap()["message"].as_str().unwrap().contains("deleted"), "{end:?}");
    assert_eq!(d.get(&format!("/api/runs/{id}")).status, 404);
    assert_eq!(d.get("/api/runs").status, 200);
    assert!(d.alive());
}

#[test]
fn a_distributed_run_is_watched_through_the_same_journal_and_the_fleet_is_measured() {
    let mut f = crate::harness::fleet::Fleet::new("dash");
    std::fs::create_dir_all(&f.world.runs).unwrap();
    let url = f.redis.url();
    let d = Dashboard::start(&f.world.runs, &["--queue", &url]);
    f.spawn_worker("w1", &[]);
    wait_for(Duration::from_secs(30), "one live worker", || d.get("/api/fleet").json()["fleet"]["workers"] == 1);
    let tasks: Vec<String> = (0..3).map(|i| format!("{{id: q{i}, tool: sh, args: ['-c', 'echo q{i}']}}")).collect();
    let tasks: Vec<&str> = tasks.iter().map(String::as_str).collect();
    let o = f.run(&plan(&tasks), &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    let id = crate::harness::World::run_ids_in(&f.world.runs).pop().unwrap();
    // The distributed run's journal is the same stream a local run writes.
    let events = d.get(&format!("/api/runs/{id}/events?since=0")).json();
    let kinds: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "task_finished").count(), 3, "{kinds:?}");
    assert!(kinds.contains(&"remote"), "remote results are in the journal: {kinds:?}");
    let log = d.get(&format!("/api/runs/{id}/tasks/q1/log")).json();
    assert_eq!(log["text"].as_str().unwrap().lines().next(), Some("q1"), "{log}");
    // Tasks no worker can serve wait in the queue: the depth shows them.
    let mut run = f.spawn_run(
        &plan(&[
            "{id: g0, tool: sh, args: ['-c', 'true'], runs_on: [gpu]}",
            "{id: g1, tool: sh, args: ['-c', 'true'], runs_on: [gpu]}",
        ]),
        &[],
    );
    wait_for(Duration::from_secs(30), "two queued tasks in the fleet gauge", || {
        d.get("/api/fleet").json()["fleet"]["depth"] == 2
    });
    let _ = run.kill();
    let _ = run.wait();
    assert!(d.get("/metrics").status == 200);
}

#[test]
fn slow_clients_are_cut_off_and_cannot_take_every_connection() {
    use std::io::{Read, Write};
    let w = World::new();
    std::fs::create_dir_all(&w.runs).unwrap();
    let d = Dashboard::start(&w.runs, &[]);
    // Half-sent requests (a slowloris) hold a connection each, then lose it.
    let mut slow: Vec<std::net::TcpStream> = (0..200)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
            s.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            s
        })
        .collect();
    // Meanwhile a whole request is answered.
    assert_eq!(d.get("/api/runs").status, 200);
    std::thread::sleep(Duration::from_secs(12));
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        // Closed by the server (0 bytes, or an error answer then the close), never left open.
        let n = s.read(&mut buf).unwrap_or(0);
        if n > 0 {
            assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed after its answer");
        }
    }
    assert_eq!(d.get("/api/runs").status, 200);
}
