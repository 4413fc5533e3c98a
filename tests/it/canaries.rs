//! Canary secrets (issue 20 item 3): the jail plants fake credentials unique
//! to each task — `~/.aws/credentials`, `~/.ssh/id_ed25519`, and
//! `AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`, `NPM_TOKEN` where the policy
//! neither passes nor sets them. Reading a canary file is `canary.read`; a
//! canary value in the task's output (replaced by `[canary]` before it
//! reaches ours) or in a payload it sends (not sent) is `canary.leak`. The
//! audit log keeps the values' SHA-256, never the values.
//!
//! The values are random per task; a test learns one by having the task
//! write it into its workspace first (an artifact orchestra does not scan).

use crate::harness::*;
use sha2::{Digest, Sha256};
use std::io::Read;

/// The `default` preset's text with `edit` applied (a policy file starts from
/// nothing, not from the preset).
fn default_with(e: &Env, name: &str, edit: impl Fn(String) -> String) -> String {
    let preset = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.yaml")).unwrap();
    e.policy(name, &edit(preset))
}

/// The canary the task wrote to `file` in its workspace.
fn planted(e: &Env, file: &str) -> String {
    let v = std::fs::read_to_string(e.ws.join(file)).unwrap_or_default();
    assert!(v.len() >= 36, "the task did not see a canary in {file}: {v:?}");
    v
}

fn sha256(v: &str) -> String {
    let d = Sha256::digest(v.as_bytes());
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[test]
fn reading_the_aws_credentials_canary_is_canary_read() {
    let e = env();
    let o = e.sh("default", "cat ~/.aws/credentials > /dev/null; echo done");
    o.assert_violation("canary.read");
    assert!(!o.rules().contains(&"fs.hidden".to_string()), "a canary read is not also fs.hidden: {:?}", o.rules());
}

#[test]
fn reading_the_ssh_key_canary_is_canary_read_and_the_real_key_stays_a_decoy() {
    let e = env();
    // The host's ~/.ssh holds id_rsa (the harness's secret): still an empty decoy.
    let o = e.sh("default", "head -c 40 ~/.ssh/id_ed25519 > seen; cat ~/.ssh/id_rsa; true");
    o.assert_violation("canary.read");
    o.assert_violation("fs.hidden");
    assert!(!o.all_output().contains(SSH_CANARY), "{}", o.all());
    let seen = std::fs::read_to_string(e.ws.join("seen")).unwrap_or_default();
    assert!(seen.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"), "{seen:?}");
}

#[test]
fn a_canary_in_the_output_is_canary_leak_and_never_reaches_ours() {
    let e = env();
    let o = e.sh("default", "printf %s \"$AWS_SECRET_ACCESS_KEY\" > key; echo \"key=$AWS_SECRET_ACCESS_KEY\"");
    let key = planted(&e, "key");
    o.assert_violation("canary.leak");
    assert!(!o.all_output().contains(&key), "{}", o.all());
    assert!(o.stdout.contains("key=[canary]"), "{}", o.all());
    let v = &o.report["violations"][0];
    assert!(v["detail"].as_str().unwrap_or_default().contains("$AWS_SECRET_ACCESS_KEY"), "{v}");
    assert!(!o.report.to_string().contains(&key), "the report holds the value");
}

#[test]
fn a_canary_split_across_writes_on_stderr_is_still_replaced() {
    let e = env();
    let script = "printf %s \"$GITHUB_TOKEN\" > tok; t=$GITHUB_TOKEN; \
                  printf %s \"$(printf %s \"$t\" | cut -c1-12)\" >&2; sleep 0.3; \
                  printf '%s\\n' \"$(printf %s \"$t\" | cut -c13-)\" >&2";
    let o = e.sh("default", script);
    let tok = planted(&e, "tok");
    o.assert_violation("canary.leak");
    assert!(!o.all_output().contains(&tok), "{}", o.all());
    assert!(!o.all_output().contains(&tok[..20]), "the held-back beginning leaked: {}", o.all());
    assert!(o.stderr.contains("[canary]"), "{}", o.all());
}

/// A client and a server inside the jail, on its private loopback: the
/// client sends an HTTP-like request holding the canary; the server prints
/// what arrives.
const LOOPBACK_EXFIL: &str = r#"
import socket, sys, threading
tok = open("tok").read()
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
got = []
def serve():
    c, _ = srv.accept(); c.settimeout(2)
    try:
        got.append(c.recv(4096))
    except Exception:
        pass
threading.Thread(target=serve, daemon=True).start()
cli = socket.create_connection(("127.0.0.1", port))
try:
    cli.sendall(("POST /collect HTTP/1.1\r\n\r\n" + tok).encode())
    print("sent", flush=True)
except OSError as e:
    print("send refused:", e, flush=True)
import time; time.sleep(1)
print("ARRIVED" if got and tok.encode() in got[0] else "nothing arrived", flush=True)
"#;

#[test]
fn a_canary_sent_over_the_private_loopback_does_not_arrive() {
    let e = env();
    std::fs::write(e.ws.join("exfil.py"), LOOPBACK_EXFIL).unwrap();
    let o = e.sh("default", "printf %s \"$NPM_TOKEN\" > tok; exec python3 exfil.py");
    let tok = planted(&e, "tok");
    o.assert_violation("canary.leak");
    assert!(!o.stdout.contains("ARRIVED") && !o.stdout.contains("sent\n"), "{}", o.all());
    assert!(!o.all_output().contains(&tok), "{}", o.all());
    let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("sendto") && detail.contains("$NPM_TOKEN"), "{detail}");
}

#[test]
fn a_canary_sent_to_a_host_listener_under_host_network_is_not_sent() {
    let e = env();
    let (l, _, port) = host_listener();
    let p = default_with(&e, "hostnet", |y| y.replace("  mode: loopback", "  mode: host"));
    let script = format!(
        "printf %s \"$GITHUB_TOKEN\" > tok; exec python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", {port})); s.sendall(b\"token=\" + open(\"tok\", \"rb\").read()); print(\"sent\")'"
    );
    let o = e.sh(&p, &script);
    let tok = planted(&e, "tok");
    o.assert_violation("canary.leak");
    assert!(!o.stdout.contains("sent"), "{}", o.all());
    // The connection itself is allowed (host network); its payload never came.
    let mut received = Vec::new();
    if let Ok((mut c, _)) = l.accept() {
        let _ = c.set_nonblocking(false);
        let _ = c.set_read_timeout(Some(std::time::Duration::from_millis(500)));
        let _ = c.read_to_end(&mut received);
    }
    assert!(!String::from_utf8_lossy(&received).contains(&tok), "the canary reached the host listener");
}

#[test]
fn the_audit_log_holds_canary_digests_never_values() {
    let e = env();
    let o = e.sh("default", "printf %s \"$GITHUB_TOKEN\" > tok; cat ~/.aws/credentials > /dev/null 2>&1; true");
    o.assert_violation("canary.read");
    let tok = planted(&e, "tok");
    let show = std::process::Command::new(orchestra())
        .args(["audit", "show"])
        .arg(e.ws.join(".orchestra/audit"))
        .arg("--json")
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&show.stdout).into_owned();
    let started: serde_json::Value = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["kind"] == "task_started")
        .expect("a task_started record");
    let canaries = started["body"]["canaries"].as_array().cloned().unwrap_or_default();
    let sources: Vec<&str> = canaries.iter().filter_map(|c| c["source"].as_str()).collect();
    for s in ["~/.aws/credentials", "~/.ssh/id_ed25519", "$AWS_SECRET_ACCESS_KEY", "$GITHUB_TOKEN", "$NPM_TOKEN"] {
        assert!(sources.contains(&s), "{s} not in {started}");
    }
    assert!(canaries.iter().any(|c| c["source"] == "$GITHUB_TOKEN" && c["sha256"] == sha256(&tok)), "{started}");
    assert!(!lines.contains(&tok), "a canary value is in the audit log");
    // Nor in the raw segments.
    for f in std::fs::read_dir(e.ws.join(".orchestra/audit")).unwrap().flatten() {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        assert!(!bytes.windows(tok.len()).any(|w| w == tok.as_bytes()), "{} holds the value", f.path().display());
    }
    assert_eq!(e.verify_audit().status.code(), Some(0));
}

#[test]
fn a_benign_build_with_canaries_planted_is_ok() {
    let e = env();
    std::fs::write(e.ws.join("hello.c"), "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n")
        .unwrap();
    std::fs::write(e.ws.join("Makefile"), "hello: hello.c\n\tcc -o hello hello.c\n").unwrap();
    let o = e.sh("default", "make && ./hello && ls -a ~ ~/.ssh >/dev/null && env | grep -c _TOKEN= >/dev/null");
    o.assert_code(0);
    assert!(o.stdout.contains("hello"), "{}", o.all());
    assert_eq!(o.rules(), Vec::<String>::new());
    let enforced = o.report["enforced"].to_string();
    assert!(enforced.contains("\"canaries\"") && enforced.contains("~/.aws/credentials"), "{enforced}");
}

#[test]
fn printing_the_whole_environment_is_a_leak() {
    // By definition: the canary variables are in it. `canaries: false` is the opt-out.
    let e = env();
    let o = e.sh("default", "env | sort");
    o.assert_violation("canary.leak");
    assert!(o.stdout.contains("GITHUB_TOKEN=[canary]"), "{}", o.all());
}

#[test]
fn canaries_false_plants_nothing_and_is_reported_as_an_opt_out() {
    let e = env();
    let p = default_with(&e, "nocanary", |y| y + "canaries: false\n");
    let o = e.sh(&p, "env | sort; test ! -e ~/.aws/credentials && test ! -e ~/.ssh/id_ed25519 && echo no-files");
    o.assert_code(0);
    assert!(!o.stdout.contains("GITHUB_TOKEN") && o.stdout.contains("no-files"), "{}", o.all());
    assert!(o.report["opt_outs"].to_string().contains("canaries: off"), "{}", o.report);
}

#[test]
fn a_variable_the_policy_sets_is_never_replaced_by_a_canary() {
    let e = env();
    let o =
        e.run_cmd(e.cmd("default", &["--env", "GITHUB_TOKEN=mine"], &["/bin/sh", "-c", "echo \"t=$GITHUB_TOKEN\""]));
    o.assert_code(0);
    assert!(o.stdout.contains("t=mine"), "{}", o.all());
}

/// Review F2: a denied call whose path carries a canary (`touch /etc/$TOKEN`)
/// is `canary.leak` too, and the value reaches neither the verdict line, the
/// report nor the audit log.
#[test]
fn a_canary_in_a_denied_path_is_a_leak_and_named_nowhere() {
    let e = env();
    let o = e.sh("default", "printf %s \"$GITHUB_TOKEN\" > tok; touch /etc/$GITHUB_TOKEN 2>/dev/null; exit 0");
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.rules().iter().any(|r| r == "canary.leak"), "{:?}", o.rules());
    let tok = planted(&e, "tok");
    assert!(!o.all_output().contains(&tok), "{}", o.all());
    assert!(!o.report.to_string().contains(&tok));
    for f in std::fs::read_dir(e.ws.join(".orchestra/audit")).unwrap().flatten() {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        assert!(!bytes.windows(tok.len()).any(|w| w == tok.as_bytes()), "{} holds the value", f.path().display());
    }
}

/// A canary written into a file of the workspace (an artifact a later step
/// would upload) is `canary.leak`, found by scanning what the task wrote.
#[test]
fn a_canary_written_into_a_workspace_file_is_a_leak() {
    let e = env();
    let o = e.sh("default", "mkdir -p dist && printf 'token=%s\\n' \"$NPM_TOKEN\" > dist/config.txt; echo built");
    assert_eq!(o.code, 4, "{}", o.all());
    assert!(o.rules().iter().any(|r| r == "canary.leak"), "{:?}", o.rules());
    let detail = o.report["violations"].to_string();
    assert!(detail.contains("$NPM_TOKEN") && detail.contains("dist/config.txt"), "{detail}");
    // A build that writes no canary stays ok.
    e.sh("default", "mkdir -p dist && echo plain > dist/other.txt").assert_ok();
}
