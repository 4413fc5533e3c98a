//! Canary secrets (issue 20 item 3): every backend plants fake credentials
//! unique to each task — `~/.aws/credentials`, `~/.ssh/id_ed25519`, and
//! `AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`, `NPM_TOKEN` where the policy
//! neither passes nor sets them. Reading a canary file is `canary.read`; a
//! canary value in the task's output (replaced by `[canary]` before it
//! reaches ours) or in a payload it sends (not sent, also when split over
//! sends on one socket) is `canary.leak`. The audit log keeps the values'
//! SHA-256, never the values. The jail's cases come first; the containers'
//! (Docker and Podman, whose in-container supervisor is the jail and plants
//! the same canaries in the container's home) follow, per engine.
//!
//! The values are random per task; a test learns one by having the task
//! write it into its workspace first (itself a `canary.leak`: an artifact
//! carrying the value).

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

/// A client and a server on the task's loopback: the client sends the canary
/// in two `send` calls on one connection (`tok[:15]`, then the rest); the
/// server prints whether the whole value arrived.
const SPLIT_EXFIL: &str = r#"
import os, socket, threading, time
tok = open("tok").read()
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
got = []
def serve():
    c, _ = srv.accept(); c.settimeout(2)
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            got.append(b)
    except Exception:
        pass
threading.Thread(target=serve, daemon=True).start()
cli = socket.create_connection(("127.0.0.1", srv.getsockname()[1]))
try:
    cli.send(("POST /collect HTTP/1.1\r\n\r\n" + tok[:15]).encode())
    time.sleep(0.2)
    cli.send(tok[15:].encode())
    print("sent", flush=True)
except OSError as e:
    print("send refused:", e, flush=True)
time.sleep(1)
print("ARRIVED" if tok.encode() in b"".join(got) else "nothing arrived", flush=True)
"#;

#[test]
fn a_canary_split_over_two_sends_on_one_socket_does_not_arrive() {
    let e = env();
    std::fs::write(e.ws.join("exfil.py"), SPLIT_EXFIL).unwrap();
    let p = default_with(&e, "deny", |y| y.replace("on_violation: kill", "on_violation: deny"));
    let o = e.sh(&p, "printf %s \"$NPM_TOKEN\" > tok; exec python3 exfil.py");
    let tok = planted(&e, "tok");
    o.assert_violation("canary.leak");
    assert!(o.stdout.contains("send refused") && o.stdout.contains("nothing arrived"), "{}", o.all());
    assert!(!o.stdout.contains("ARRIVED"), "{}", o.all());
    assert!(!o.all_output().contains(&tok), "{}", o.all());
    let details = o.report["violations"].to_string();
    assert!(details.contains("completes the canary planted as $NPM_TOKEN"), "{details}");
}

/// What the task writes so the test learns the three values it then hides
/// elsewhere (each file is a content leak of its own).
const LEARN: &str = "printf %s \"$GITHUB_TOKEN\" > t-gh; printf %s \"$NPM_TOKEN\" > t-npm; \
                     printf %s \"$AWS_SECRET_ACCESS_KEY\" > t-aws; ";

/// Review F3: a value left as a file name, a symbolic link's target or an
/// extended attribute (its value, or its name).
const HIDE_IN_NAMES: &str = "touch \"n-$GITHUB_TOKEN\"; ln -s \"$NPM_TOKEN\" lnk; echo x > xa; echo y > xb; \
     python3 -c 'import os; os.setxattr(\"xa\", \"user.k\", os.environ[\"AWS_SECRET_ACCESS_KEY\"].encode()); \
     os.setxattr(\"xb\", \"user.\" + os.environ[\"NPM_TOKEN\"], b\"v\")'; echo done";

/// The three values the task wrote with [`LEARN`].
fn learned(e: &Env) -> [String; 3] {
    [planted(e, "t-gh"), planted(e, "t-npm"), planted(e, "t-aws")]
}

/// The report's violation details of `rule`.
fn details_of(o: &Out, rule: &str) -> Vec<String> {
    o.report["violations"]
        .as_array()
        .map(|a| {
            a.iter().filter(|v| v["rule"] == rule).filter_map(|v| v["detail"].as_str().map(String::from)).collect()
        })
        .unwrap_or_default()
}

/// Exit 4 with a `rule` violation whose detail holds `needle`.
#[track_caller]
fn assert_detail(o: &Out, rule: &str, needle: &str) {
    o.assert_violation(rule);
    let d = details_of(o, rule);
    assert!(d.iter().any(|x| x.contains(needle)), "no {rule} saying {needle:?}: {d:#?}");
}

/// The names, link targets and xattrs `HIDE_IN_NAMES` left are each a leak,
/// and no value is in the report, the audit log or the output.
#[track_caller]
fn hidden_in_names_is_reported(e: &Env, o: &Out) {
    assert_detail(
        o,
        "canary.leak",
        "left n-[canary] in the workspace: its path holds the canary planted as $GITHUB_TOKEN",
    );
    assert_detail(o, "canary.leak", "symbolic link lnk whose target holds the canary planted as $NPM_TOKEN");
    assert_detail(
        o,
        "canary.leak",
        "left xa with the extended attribute user.k whose value holds the canary planted as $AWS_SECRET_ACCESS_KEY",
    );
    assert_detail(
        o,
        "canary.leak",
        "left xb with an extended attribute whose name holds the canary planted as $NPM_TOKEN",
    );
    // The report lists them scrubbed: the path and the target say [canary].
    let entries = o.report["workspace_changes"]["entries"].as_array().cloned().unwrap_or_default();
    assert!(entries.iter().any(|x| x["path"] == "n-[canary]"), "{entries:?}");
    assert!(entries.iter().any(|x| x["path"] == "lnk" && x["target"] == "[canary]"), "{entries:?}");
    for v in learned(e) {
        named_nowhere(e, o, &v);
    }
}

#[test]
fn a_canary_in_a_workspace_name_link_target_or_xattr_is_a_leak_and_named_nowhere() {
    let e = env();
    let o = e.sh("default", &format!("{LEARN}{HIDE_IN_NAMES}"));
    hidden_in_names_is_reported(&e, &o);
    // The entries are left as the task made them: the verdict is what stops them.
    assert!(std::fs::read_link(e.ws.join("lnk")).is_ok());
}

/// A value named past the 1,000 changes the report lists is judged all the same.
#[test]
fn a_canary_name_past_the_listed_changes_is_still_a_leak() {
    let e = env();
    let script = format!(
        "{LEARN}python3 -c 'import os\nfor i in range(1100): open(\"f%04d\" % i, \"w\").close()' && ln -s \"x$GITHUB_TOKEN\" zz-link && mkdir zz-d && touch \"zz-d/$NPM_TOKEN\""
    );
    let o = e.sh("default", &script);
    assert_detail(&o, "canary.leak", "symbolic link zz-link whose target holds the canary planted as $GITHUB_TOKEN");
    assert_detail(&o, "canary.leak", "left zz-d/[canary] in the workspace");
    assert_eq!(o.report["workspace_changes"]["truncated"], true, "{}", o.report["workspace_changes"]["added"]);
    for v in learned(&e) {
        named_nowhere(&e, &o, &v);
    }
}

/// Review 59, F5: an extended attribute set on a directory that was there
/// before the task (its ctime moves, nothing else) is judged too.
#[test]
fn a_canary_in_an_xattr_of_an_existing_directory_is_a_leak() {
    let e = env();
    std::fs::create_dir(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/main.c"), "int main(void){return 0;}\n").unwrap();
    let script = format!(
        "{LEARN}python3 -c 'import os; os.setxattr(\"src\", \"user.build\", os.environ[\"AWS_SECRET_ACCESS_KEY\"].encode())'"
    );
    let o = e.sh("default", &script);
    assert_detail(
        &o,
        "canary.leak",
        "left src with the extended attribute user.build whose value holds the canary planted as $AWS_SECRET_ACCESS_KEY",
    );
    for v in learned(&e) {
        named_nowhere(&e, &o, &v);
    }
}

#[test]
fn ordinary_names_links_and_xattrs_pass() {
    let e = env();
    let script = "mkdir -p dist/ghp_ npm_ && echo built > dist/app && ln -s app dist/latest && \
                  python3 -c 'import os; os.setxattr(\"dist/app\", \"user.mime_type\", b\"text/plain\"); \
                  os.setxattr(\"dist\", \"user.origin\", b\"https://example.invalid/ghp_\")' && \
                  touch 'dist/AKIA report.txt' && chmod 600 dist/app && echo done";
    let o = e.sh("default", script);
    o.assert_ok();
    assert_eq!(o.stdout, "done\n");
    let entries = o.report["workspace_changes"]["entries"].to_string();
    assert!(entries.contains("\"target\":\"app\"") && entries.contains("dist/ghp_"), "{entries}");
}

/// Review F3, unprivileged: orchestra (not root) reads a file the task left
/// mode 0 through its owner's rights, and puts the mode back.
#[test]
fn unprivileged_a_canary_in_a_file_left_unreadable_is_still_a_leak() {
    let e = env_as(65534);
    let o = e.sh("default", "printf %s \"$GITHUB_TOKEN\" > leak.txt; chmod 000 leak.txt; echo done");
    assert_detail(&o, "canary.leak", "the canary planted as $GITHUB_TOKEN into leak.txt");
    let tok = std::fs::read_to_string(e.ws.join("leak.txt")).unwrap_or_default();
    assert!(tok.starts_with("ghp_"), "{tok:?}");
    named_nowhere(&e, &o, &tok);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(e.ws.join("leak.txt")).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0, "the mode the task left is put back");
}

/// A directory the task leaves unreadable to its owner is read through the
/// owner's rights (review 76: `u+rx` while the diff reads it, its mode put
/// back): a canary in it is a leak, never a silent pass.
#[test]
fn unprivileged_a_canary_in_a_directory_left_unreadable_is_still_a_leak() {
    let e = env_as(65534);
    let o = e.sh("default", "mkdir d && printf %s \"$NPM_TOKEN\" > d/f && chmod 000 d && echo done");
    assert_detail(&o, "canary.leak", "into d/f");
    assert_eq!(o.stdout, "done\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(e.ws.join("d")).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0, "the mode the task left is put back");
    // An ordinary build as the same user passes.
    e.sh("default", "mkdir -p out && echo x > out/a && chmod 444 out/a").assert_ok();
}

/// tests/support/canary_send.c, compiled once.
fn canary_send() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| compile_c("canary_send"))
}

/// tests/support/canary_send.c, static (for the containers), compiled once.
fn canary_send_static() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| compile_c_static("canary_send"))
}

/// `send` (the canary_send program) under `on_violation: deny`, so it goes on
/// to say what its listener received.
fn send_in_jail(e: &Env, args: &[&str]) -> Out {
    std::fs::copy(canary_send(), e.ws.join("canary_send")).unwrap();
    let p = default_with(e, "deny", |y| y.replace("on_violation: kill", "on_violation: deny"));
    let mut argv = vec!["./canary_send"];
    argv.extend_from_slice(args);
    e.run(&p, &argv)
}

/// The send was refused (EACCES) and nothing of the value arrived.
#[track_caller]
fn not_received(o: &Out) {
    assert!(o.stdout.contains("send -> -1 (errno 13)"), "{}", o.all());
    assert!(o.stdout.contains("listener: got 0 bytes; canary absent"), "{}", o.all());
    assert!(!o.stdout.contains("ARRIVED"), "{}", o.all());
}

#[test]
fn a_canary_split_over_the_messages_of_one_sendmmsg_does_not_arrive() {
    let e = env();
    let o = send_in_jail(&e, &["mmsg-split"]);
    assert_detail(
        &o,
        "canary.leak",
        "sendmmsg: the payload holds the canary planted as $GITHUB_TOKEN; it was not sent",
    );
    not_received(&o);
}

#[test]
fn a_canary_past_the_first_mebibyte_of_one_send_does_not_arrive() {
    let e = env();
    let o = send_in_jail(&e, &["past-1mib"]);
    assert_detail(&o, "canary.leak", "sendto: the payload holds the canary planted as $GITHUB_TOKEN; it was not sent");
    not_received(&o);
}

#[test]
fn a_send_past_the_judged_bound_is_refused_as_unverifiable() {
    let e = env();
    let o = send_in_jail(&e, &["over-bound"]);
    assert_detail(
        &o,
        "canary.unverifiable",
        "a payload of 4362076160 bytes in one call is more than the 4294967296 bytes",
    );
    not_received(&o);
}

#[test]
fn a_large_upload_without_a_canary_passes() {
    let e = env();
    // 300 MiB in one send, as Python's `sendall` of a bytes body does (review 59, F6).
    let o = send_in_jail(&e, &["upload", "300"]);
    o.assert_ok();
    assert!(o.stdout.contains("send -> 314572800 (errno 0)"), "{}", o.all());
    assert!(o.stdout.contains("listener: got 314572800 bytes; canary absent"), "{}", o.all());
    assert!(o.stdout.contains("sendmmsg -> 2") && o.stdout.contains("listener: 2 datagrams"), "{}", o.all());
}

// ---- The container backends --------------------------------------------------

/// `sh -c SCRIPT` under `policy` on `engine`, in a workspace given to uid 1000
/// (a container's task never runs as root); no container of it may be left.
fn contained(e: &Env, engine: &str, case: &str, policy: &str, script: &str) -> Out {
    container_setup();
    chown_tree(&e.ws, 1000);
    let name = format!("canary-{case}-{engine}-{}", std::process::id());
    let o = e.run_cmd(e.cmd(policy, &["--backend", engine, "--name", &name], &["/bin/sh", "-c", script]));
    let left = containers_left(engine, &format!("orchestra.task={name}"));
    assert!(left.is_empty(), "{engine} left containers behind: {left:?}");
    o
}

/// A container build's policy: the build image with the host's `/usr` (cc,
/// python3) read-only, then `extra`.
fn build_policy(e: &Env, name: &str, extra: &str) -> String {
    e.policy(name, &format!("version: 1\ncontainer:\n  image: orchestra-build:2\n  volumes: ['/usr:/usr']\n{extra}"))
}

/// The report's control `supervisor.canaries` (what the in-container supervisor planted).
fn planted_control(o: &Out) -> Option<String> {
    o.report["enforced"]
        .as_array()?
        .iter()
        .find(|c| c["control"] == "supervisor.canaries")
        .map(|c| c["detail"].as_str().unwrap_or_default().to_string())
}

/// The `canaries` of the last `task_started` record of `e`'s audit log.
fn started_canaries(e: &Env) -> Vec<serde_json::Value> {
    let show = std::process::Command::new(orchestra())
        .args(["audit", "show"])
        .arg(e.ws.join(".orchestra/audit"))
        .arg("--json")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout).into_owned();
    let started = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["kind"] == "task_started")
        .expect("a task_started record");
    started["body"]["canaries"].as_array().cloned().unwrap_or_default()
}

/// `value` is in none of: the task's output as orchestra relayed it, the
/// report, the audit log (as `audit show` prints it and in its raw files);
/// and the log verifies.
#[track_caller]
fn named_nowhere(e: &Env, o: &Out, value: &str) {
    assert!(!o.all_output().contains(value), "the value reached orchestra's output\n{}", o.all());
    assert!(!o.report.to_string().contains(value), "the report holds the value");
    let show = std::process::Command::new(orchestra())
        .args(["audit", "show"])
        .arg(e.ws.join(".orchestra/audit"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&show.stdout).contains(value), "audit show prints the value");
    for f in std::fs::read_dir(e.ws.join(".orchestra/audit")).unwrap().flatten() {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{} holds the value", f.path().display());
    }
    assert_eq!(e.verify_audit().status.code(), Some(0));
}

fn container_reading_the_aws_credentials_canary_is_canary_read(engine: &str) {
    let e = env();
    let o = contained(
        &e,
        engine,
        "read",
        "default",
        "cat ~/.aws/credentials > /dev/null; sleep 5; echo survived > after; echo survived",
    );
    o.assert_violation("canary.read");
    assert_eq!(o.report["backend"], engine);
    let detail = o.report["violations"].to_string();
    assert!(detail.contains("/.aws/credentials") && detail.contains("a canary"), "{detail}");
    assert!(!o.rules().contains(&"fs.hidden".to_string()), "{:?}", o.rules());
    // The read ended the task (on_violation: kill): it never got further.
    assert!(!e.ws.join("after").exists() && !o.stdout.contains("survived"), "{}", o.all());
    let planted = planted_control(&o).unwrap_or_default();
    assert!(planted.contains("~/.aws/credentials") && planted.contains("~/.ssh/id_ed25519"), "{}", o.report);
}

fn container_a_canary_variable_printed_is_replaced_and_named_nowhere(engine: &str) {
    let e = env();
    let o = contained(
        &e,
        engine,
        "print",
        "default",
        "printf %s \"$AWS_SECRET_ACCESS_KEY\" > key; echo \"key=$AWS_SECRET_ACCESS_KEY\"",
    );
    let key = planted(&e, "key");
    o.assert_violation("canary.leak");
    assert!(o.stdout.contains("key=[canary]"), "{}", o.all());
    let details = o.report["violations"].to_string();
    assert!(details.contains("$AWS_SECRET_ACCESS_KEY") && details.contains("stdout"), "{details}");
    // The file the task wrote carries it too: an artifact leak.
    assert!(details.contains("into key"), "{details}");
    named_nowhere(&e, &o, &key);
    // The audit log has the value's digest, recorded before the task ran.
    let digests = started_canaries(&e);
    assert!(
        digests.iter().any(|c| c["source"] == "$AWS_SECRET_ACCESS_KEY" && c["sha256"] == sha256(&key)),
        "{digests:?}"
    );
}

/// With reads allowed to go on (`on_violation: deny`), the task prints the
/// canary file: the read is `canary.read`, each value in it `canary.leak`,
/// replaced in the output, and named nowhere.
fn container_a_canary_file_printed_is_replaced_and_named_nowhere(engine: &str) {
    let e = env();
    let p = e.policy("deny", "version: 1\non_violation: deny\n");
    let o = contained(&e, engine, "file", &p, "cp ~/.aws/credentials creds; cat ~/.aws/credentials; echo done");
    o.assert_violation("canary.leak");
    assert!(o.rules().contains(&"canary.read".to_string()), "{:?}", o.rules());
    let creds = std::fs::read_to_string(e.ws.join("creds")).unwrap_or_default();
    let secret = creds
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .unwrap_or_else(|| panic!("no canary file content: {creds:?}"))
        .to_string();
    assert_eq!(secret.len(), 40, "{creds}");
    assert!(o.stdout.contains("aws_secret_access_key = [canary]\n") && o.stdout.contains("done"), "{}", o.all());
    named_nowhere(&e, &o, &secret);
}

fn container_a_canary_split_over_two_sends_does_not_arrive(engine: &str) {
    let e = env();
    std::fs::write(e.ws.join("exfil.py"), SPLIT_EXFIL).unwrap();
    let p = build_policy(&e, "split", "network:\n  mode: loopback\non_violation: deny\n");
    let o = contained(&e, engine, "split", &p, "printf %s \"$NPM_TOKEN\" > tok; exec python3 exfil.py");
    let tok = planted(&e, "tok");
    o.assert_violation("canary.leak");
    assert!(o.stdout.contains("send refused") && o.stdout.contains("nothing arrived"), "{}", o.all());
    assert!(!o.stdout.contains("ARRIVED"), "{}", o.all());
    let details = o.report["violations"].to_string();
    assert!(details.contains("completes the canary planted as $NPM_TOKEN"), "{details}");
    named_nowhere(&e, &o, &tok);
}

fn container_a_benign_build_with_canaries_planted_is_ok(engine: &str) {
    let e = env();
    std::fs::write(e.ws.join("hello.c"), "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n")
        .unwrap();
    std::fs::write(e.ws.join("sum.py"), "print(sum(range(10)))\n").unwrap();
    let p = build_policy(&e, "benign", "");
    let o = contained(
        &e,
        engine,
        "benign",
        &p,
        "cc -o hello hello.c && ./hello && python3 sum.py && ls -a ~ ~/.ssh >/dev/null && test -s ~/.aws/credentials && env | grep -c _TOKEN= >/dev/null",
    );
    o.assert_ok();
    assert_eq!(o.stdout, "hello\n45\n", "{}", o.all());
    assert!(e.ws.join("hello").is_file(), "the build's output is in the workspace");
    let planted = planted_control(&o).unwrap_or_default();
    for source in ["~/.aws/credentials", "~/.ssh/id_ed25519", "$GITHUB_TOKEN", "$NPM_TOKEN", "$AWS_SECRET_ACCESS_KEY"] {
        assert!(planted.contains(source), "{source} not planted: {planted}");
    }
    assert_eq!(started_canaries(&e).len(), 7, "every value's digest is in the audit log");
}

fn container_canaries_false_plants_nothing_and_is_reported_as_an_opt_out(engine: &str) {
    let e = env();
    let p = e.policy("nocanary", "version: 1\ncanaries: false\n");
    let o = contained(
        &e,
        engine,
        "off",
        &p,
        "env | sort; test ! -e ~/.aws/credentials && test ! -e ~/.ssh/id_ed25519 && echo no-files",
    );
    o.assert_ok();
    assert!(o.stdout.contains("no-files") && o.stdout.contains("HOME="), "{}", o.all());
    for name in ["GITHUB_TOKEN", "NPM_TOKEN", "AWS_SECRET_ACCESS_KEY"] {
        assert!(!o.stdout.contains(name), "{name} planted\n{}", o.all());
    }
    assert!(o.report["opt_outs"].as_array().unwrap().iter().any(|x| x == "canaries: off"), "{}", o.report);
    assert_eq!(planted_control(&o), None, "{}", o.report);
    assert!(started_canaries(&e).is_empty());
}

/// `orchestra run` of a plan whose task prints a canary in a container: the
/// run's log of the task, its report and the audit log hold `[canary]`, never
/// the value; the run exits 4.
fn container_a_runs_logs_never_hold_a_canary(engine: &str) {
    let e = env();
    container_setup();
    let policy = e.policy("run", &format!("version: 1\nsandbox_mode: {engine}\n"));
    let config = e.policy("run-config", "tools:\n  sh: {program: /bin/sh, shell: true, args: ['-c', '.*']}\n");
    let id = format!("leak-{engine}-{}", std::process::id());
    let plan = e.root.join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "tasks:\n- {{id: {id}, tool: sh, args: ['-c', 'printf %s \"$GITHUB_TOKEN\" > tok; echo \"token=$GITHUB_TOKEN\"']}}\n"
        ),
    )
    .unwrap();
    chown_tree(&e.ws, 1000);
    let runs = e.root.join("runs");
    let o = e
        .command()
        .env("CI", "true")
        .arg("run")
        .arg(&plan)
        .arg("--config")
        .arg(&config)
        .arg("--policy")
        .arg(&policy)
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .expect("orchestra run");
    let out = Out::from(o);
    assert_eq!(out.code, 4, "{}", out.all());
    let tok = planted(&e, "tok");
    assert!(!out.all_output().contains(&tok), "{}", out.all());
    let run_dir = std::fs::read_dir(&runs).unwrap().flatten().map(|d| d.path()).find(|p| p.is_dir()).unwrap();
    let log = std::fs::read_to_string(run_dir.join(format!("logs/{id}.log"))).unwrap();
    assert!(log.contains("token=[canary]") && !log.contains(&tok), "{log}");
    for f in walk(&run_dir).into_iter().filter(|(_, t)| t.is_file()) {
        let bytes = std::fs::read(&f.0).unwrap_or_default();
        assert!(!bytes.windows(tok.len()).any(|w| w == tok.as_bytes()), "{} holds the value", f.0.display());
    }
    let report = std::fs::read_to_string(run_dir.join("report.json")).unwrap();
    assert!(report.contains("canary.leak"), "{report}");
    for f in std::fs::read_dir(e.ws.join(".orchestra/audit")).unwrap().flatten() {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        assert!(!bytes.windows(tok.len()).any(|w| w == tok.as_bytes()), "{} holds the value", f.path().display());
    }
    let left = containers_left(engine, &format!("orchestra.task={id}"));
    assert!(left.is_empty(), "{engine} left containers behind: {left:?}");
}

fn container_a_canary_in_a_workspace_name_link_target_or_xattr_is_a_leak(engine: &str) {
    let e = env();
    let p = build_policy(&e, "names", "");
    let o = contained(&e, engine, "names", &p, &format!("{LEARN}{HIDE_IN_NAMES}"));
    assert!(o.stdout.contains("done"), "{}", o.all());
    hidden_in_names_is_reported(&e, &o);
}

/// `canary_send ARGS` in a container on its own loopback, under `on_violation: deny`.
fn send_contained(e: &Env, engine: &str, case: &str, args: &str) -> Out {
    std::fs::copy(canary_send_static(), e.ws.join("canary_send")).unwrap();
    let p = e.policy("send", "version: 1\nnetwork:\n  mode: loopback\non_violation: deny\n");
    contained(e, engine, case, &p, &format!("./canary_send {args}"))
}

fn container_a_canary_in_one_sendmmsg_or_past_a_mebibyte_does_not_arrive(engine: &str) {
    let e = env();
    let o = send_contained(&e, engine, "mmsg", "mmsg-split");
    assert_detail(
        &o,
        "canary.leak",
        "sendmmsg: the payload holds the canary planted as $GITHUB_TOKEN; it was not sent",
    );
    not_received(&o);
    let o = send_contained(&e, engine, "past", "past-1mib");
    assert_detail(&o, "canary.leak", "sendto: the payload holds the canary planted as $GITHUB_TOKEN; it was not sent");
    not_received(&o);
}

fn container_a_large_upload_without_a_canary_passes(engine: &str) {
    let e = env();
    let o = send_contained(&e, engine, "upload", "upload 64");
    o.assert_ok();
    assert!(o.stdout.contains("listener: got 67108864 bytes; canary absent"), "{}", o.all());
    assert!(o.stdout.contains("listener: 2 datagrams"), "{}", o.all());
}

macro_rules! per_engine {
    ($($case:ident),* $(,)?) => {
        mod docker { $( #[test] fn $case() { super::$case("docker") } )* }
        mod podman { $( #[test] fn $case() { super::$case("podman") } )* }
    };
}

per_engine!(
    container_reading_the_aws_credentials_canary_is_canary_read,
    container_a_canary_variable_printed_is_replaced_and_named_nowhere,
    container_a_canary_file_printed_is_replaced_and_named_nowhere,
    container_a_canary_split_over_two_sends_does_not_arrive,
    container_a_benign_build_with_canaries_planted_is_ok,
    container_canaries_false_plants_nothing_and_is_reported_as_an_opt_out,
    container_a_runs_logs_never_hold_a_canary,
    container_a_canary_in_a_workspace_name_link_target_or_xattr_is_a_leak,
    container_a_canary_in_one_sendmmsg_or_past_a_mebibyte_does_not_arrive,
    container_a_large_upload_without_a_canary_passes,
);
