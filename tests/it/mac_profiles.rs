//! The AppArmor profiles generated from policies (`orchestra policy
//! apparmor`) compile with the real `apparmor_parser` (compile only: this
//! host's kernel has no AppArmor, so nothing is loaded or enforced here — see
//! SECURITY.md §7), and a policy's paths cannot widen or break them.

use crate::harness::*;
use std::process::{Command, Stdio};

fn parser() -> &'static str {
    let p = "/usr/sbin/apparmor_parser";
    assert!(std::path::Path::new(p).exists(), "apparmor_parser is required (Debian package apparmor)");
    p
}

/// Compile `profile` without loading it; the parser's verdict.
fn compiles(profile: &str) -> Result<(), String> {
    let mut c = Command::new(parser())
        .args(["--skip-kernel-load", "--skip-cache"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(profile.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
}

fn profile_of(e: &Env, policy: &str) -> Out {
    let mut c = e.command();
    c.args(["policy", "apparmor", policy]);
    Out::from(c.output().unwrap())
}

#[test]
fn the_profile_of_every_preset_compiles() {
    let e = env();
    for preset in ["default", "strict", "build-offline", "container"] {
        let o = profile_of(&e, preset);
        o.assert_code(0);
        compiles(&o.stdout).unwrap_or_else(|err| panic!("{preset}: {err}\n{}", o.stdout));
        assert!(o.stdout.contains("deny mount,") && o.stdout.contains("deny capability,"), "{preset}");
        assert!(o.stdout.contains("deny \"/work/.orchestra/**\" wl,"), "{preset}");
    }
}

#[test]
fn a_policys_paths_match_themselves_only_or_are_refused() {
    let e = env();
    let p = e.policy(
        "globs",
        "filesystem:\n  protected: [\"build/*\", \"a{b,c}\"]\ncontainer:\n  volumes: [\"/srv/da ta:/cache/x*y:rw\"]\n",
    );
    let o = profile_of(&e, &p);
    o.assert_code(0);
    compiles(&o.stdout).unwrap_or_else(|err| panic!("{err}\n{}", o.stdout));
    assert!(o.stdout.contains("\"/work/build/\\*\""), "{}", o.stdout);
    assert!(o.stdout.contains("\"/cache/x\\*y/**\" rwlk,"), "{}", o.stdout);
    assert!(!o.stdout.contains("build/*\""), "an unescaped pattern: {}", o.stdout);
    let bad = e.policy("at", "filesystem:\n  protected: [\"x@{HOME}\"]\n");
    let o = profile_of(&e, &bad);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("AppArmor"), "{}", o.stderr);
}

#[test]
fn a_writable_workspace_keeps_its_protected_paths_out_of_the_profiles_writes() {
    let e = env();
    let o = profile_of(&e, "default");
    for p in [".git/hooks", ".git/config", ".github/workflows", ".gitlab-ci.yml"] {
        assert!(o.stdout.contains(&format!("deny \"/work/{p}/**\" wl,")), "{p}\n{}", o.stdout);
    }
}

// ---- The jail's profile (`mac.apparmor`, change_onexec at the task's exec) ----

/// Whether this host's kernel has AppArmor, enabled (this one has not: then
/// no profile can be loaded, and `required` must refuse every task).
fn host_has_apparmor() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

fn jail_profile_of(e: &Env, policy: &str, extra: &[&str]) -> Out {
    let mut c = e.command();
    c.args(["policy", "apparmor", "--jail"]).args(extra).arg(policy);
    Out::from(c.output().unwrap())
}

/// The `profile NAME flags=…` line's name.
fn name_in(profile: &str) -> String {
    let line = profile.lines().find(|l| l.starts_with("profile ")).expect("a profile line");
    line.split(' ').nth(1).unwrap().to_string()
}

#[test]
fn the_jail_profile_of_every_shipped_preset_compiles() {
    let e = env();
    let list = Out::from(e.command().args(["policy", "list"]).output().unwrap());
    list.assert_code(0);
    let presets: Vec<String> =
        list.stdout.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect();
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
        .unwrap()
        .filter_map(|d| d.ok()?.file_name().to_str()?.strip_suffix(".yaml").map(String::from))
        // The tool whitelist of `orchestra run`, not a policy.
        .filter(|n| n != "tools")
        .collect::<Vec<_>>();
    for s in &shipped {
        assert!(presets.contains(s), "policies/{s}.yaml is not a preset: {presets:?}");
    }
    let ws = e.ws.to_str().unwrap();
    for preset in &presets {
        let o = jail_profile_of(&e, preset, &[]);
        o.assert_code(0);
        compiles(&o.stdout).unwrap_or_else(|err| panic!("{preset}: {err}\n{}", o.stdout));
        assert!(name_in(&o.stdout).starts_with("orchestra-jail-"), "{preset}");
        for rule in ["deny mount,", "deny capability,", "deny change_profile,", "deny network packet,"] {
            assert!(o.stdout.contains(rule), "{preset}: {rule}\n{}", o.stdout);
        }
        let (p, _) = orchestra::policy::load_policy(preset).unwrap();
        if p.filesystem.workdir == orchestra::policy::WorkdirAccess::ReadWrite {
            assert!(o.stdout.contains(&format!("  \"{ws}/**\" rwlkmix,")), "{preset}\n{}", o.stdout);
            assert!(o.stdout.contains(&format!("  deny \"{ws}/.orchestra/**\" wl,")), "{preset}\n{}", o.stdout);
        } else {
            assert!(!o.stdout.contains(&format!("\"{ws}/**\" rw")), "{preset}: a read-only workspace\n{}", o.stdout);
        }
        let ip = o.stdout.contains("network inet stream,");
        assert_eq!(ip, p.network.mode != orchestra::policy::NetworkMode::None, "{preset}\n{}", o.stdout);
    }
}

#[test]
fn hostile_names_in_a_jail_profile_are_escaped_or_refused() {
    let e = env();
    // Pattern characters in a policy path and in the workspace's name match themselves only.
    let globs = e.ws.join("ws*[x]{a,b}?");
    std::fs::create_dir(&globs).unwrap();
    let p = e.policy(
        "globs",
        "filesystem:\n  hidden: [\"/srv/a*b\", \"~/.x{y,z}\"]\n  read_only: [\"/usr\", \"/opt/^[!]\"]\n",
    );
    let o = jail_profile_of(&e, &p, &["--workdir", globs.to_str().unwrap()]);
    o.assert_code(0);
    compiles(&o.stdout).unwrap_or_else(|err| panic!("{err}\n{}", o.stdout));
    let ws = e.ws.to_str().unwrap();
    assert!(o.stdout.contains(&format!("  \"{ws}/ws\\*\\[x\\]\\{{a\\,b\\}}\\?/**\" rwlkmix,")), "{}", o.stdout);
    assert!(o.stdout.contains("deny \"/srv/a\\*b/**\""), "{}", o.stdout);
    assert!(o.stdout.contains("\"/opt/\\^\\[!\\]/**\" mrix,"), "{}", o.stdout);
    assert!(!o.stdout.contains("ws*[x]") && !o.stdout.contains("/srv/a*b"), "an unescaped pattern: {}", o.stdout);
    // A quote or a newline in the workspace's name, `@` in a policy path: refused, one line.
    for bad in ["we\"ird", "new\nline"] {
        let dir = e.ws.join(bad);
        std::fs::create_dir(&dir).unwrap();
        let o = jail_profile_of(&e, "default", &["--workdir", dir.to_str().unwrap()]);
        assert_eq!(o.code, 1, "{bad:?}: {}", o.all());
        assert!(o.stdout.is_empty(), "no profile at all: {}", o.stdout);
        assert!(o.stderr.contains("AppArmor profile literally"), "{}", o.stderr);
    }
    let at = e.policy("at", "filesystem:\n  hidden: [\"~/@{HOME}\"]\n");
    let o = jail_profile_of(&e, &at, &[]);
    assert_eq!(o.code, 1, "{}", o.all());
    // `exec` under such a workspace: required refuses (nothing runs), if_available says why.
    let dir = e.ws.join("we\"ird");
    let required = e.policy("required", "mac: {apparmor: required}\n");
    let o = e.run_cmd(e.cmd(&required, &["--workdir", dir.to_str().unwrap()], &["/bin/sh", "-c", "echo x > ran"]));
    o.assert_code(1);
    assert!(!dir.join("ran").exists(), "the task ran");
    assert!(
        o.stderr.contains("mac.apparmor: required, but the policy's AppArmor profile cannot be written"),
        "{}",
        o.stderr
    );
    let optional = e.policy("optional", "mac: {apparmor: if_available}\n");
    let o = e.run_cmd(e.cmd(&optional, &["--workdir", dir.to_str().unwrap()], &["/bin/sh", "-c", "echo x > ran"]));
    o.assert_ok();
    assert!(dir.join("ran").exists());
    assert_eq!(o.report["mac"]["apparmor"], "not_applied", "{}", o.report);
    assert!(o.report["mac"]["detail"].as_str().unwrap().contains("cannot be written"), "{}", o.report);
}

#[test]
fn required_apparmor_refuses_the_task_where_the_profile_cannot_apply() {
    let e = env();
    let p = e.policy("required", "mac:\n  apparmor: required\n");
    let o = e.sh(&p, "echo ran > ran.txt");
    o.assert_code(1);
    assert!(!e.ws.join("ran.txt").exists(), "the task ran");
    assert!(o.report.is_null(), "a refused task has no report: {}", o.report);
    // One clear line, naming the cause on this host.
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(
        lines[0].starts_with("orchestra: error: cannot enforce AppArmor: mac.apparmor: required, but "),
        "{}",
        lines[0]
    );
    if host_has_apparmor() {
        // No administrator loaded this workspace's profile: how to load it is said.
        assert!(lines[0].contains("is not loaded (load it: orchestra policy apparmor --jail"), "{}", lines[0]);
    } else {
        assert!(lines[0].ends_with("this host's kernel has no AppArmor (or it is disabled)"), "{}", lines[0]);
    }
    // The refusal is in the audit log: started, then refused; never attested or ended.
    let recs = e.audit_records();
    let kinds: Vec<&str> = recs.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert!(kinds.contains(&"task_refused") && !kinds.contains(&"task_ended"), "{kinds:?}");
}

#[test]
fn if_available_runs_the_task_and_says_why_the_profile_did_not_apply() {
    let e = env();
    let p = e.policy("optional", "mac:\n  apparmor: if_available\n");
    let o = e.sh(&p, "echo ran > ran.txt");
    o.assert_ok();
    assert_eq!(std::fs::read_to_string(e.ws.join("ran.txt")).unwrap(), "ran\n");
    let mac = &o.report["mac"];
    assert_eq!(mac["mode"], "if_available", "{}", o.report);
    // The profile named is the one `policy apparmor --jail` prints for this workspace.
    let printed = jail_profile_of(&e, &p, &[]);
    printed.assert_code(0);
    assert_eq!(mac["profile"], name_in(&printed.stdout).as_str(), "{}", o.report);
    if !host_has_apparmor() {
        assert_eq!(mac["apparmor"], "not_applied", "{}", o.report);
        assert_eq!(mac["detail"], "this host's kernel has no AppArmor (or it is disabled)", "{}", o.report);
        assert!(!o.report["enforced"].to_string().contains("\"mac\""), "nothing attested: {}", o.report);
    }
    // The audit log's attestation says the same.
    let recs = e.audit_records();
    let attested = recs.iter().rev().find(|r| r["kind"] == "task_attested").expect("task_attested");
    let text = attested["body"]["mac"].as_str().expect("a mac member").to_string();
    assert!(
        text.starts_with(&format!(
            "apparmor {} (mac.apparmor: if_available) orchestra-jail-",
            mac["apparmor"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(text.ends_with(mac["detail"].as_str().unwrap()), "{text}");
}

#[test]
fn the_default_is_if_available_and_off_applies_nothing() {
    let e = env();
    let o = e.sh("default", "true");
    o.assert_ok();
    assert_eq!(o.report["mac"]["mode"], "if_available", "{}", o.report);
    let off = e.policy("off", "mac:\n  apparmor: off\nnetwork: {mode: loopback}\n");
    let o = e.sh(&off, "true");
    o.assert_ok();
    assert_eq!(o.report["mac"]["apparmor"], "off", "{}", o.report);
    assert!(o.report["mac"].get("profile").is_none(), "{}", o.report);
    // An unknown setting is a policy error, not a silent default.
    let typo = e.policy("typo", "mac:\n  apparmor: yes_please\n");
    let o = e.sh(&typo, "echo ran > ran.txt");
    o.assert_code(1);
    assert!(!e.ws.join("ran.txt").exists());
}

#[test]
fn the_probe_says_whether_a_jail_task_could_enter_a_profile() {
    let o = Out::from(Command::new(orchestra()).args(["sandbox", "probe", "--json"]).output().unwrap());
    o.assert_code(0);
    let p: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let a = &p["apparmor_exec"];
    assert_eq!(a["enabled"], host_has_apparmor(), "{a}");
    if !host_has_apparmor() {
        assert_eq!(a["change_onexec"], false, "{a}");
        assert!(a["detail"].as_str().unwrap().contains("no AppArmor"), "{a}");
    }
    let text = Out::from(Command::new(orchestra()).args(["sandbox", "probe"]).output().unwrap());
    assert!(text.stdout.contains("  AppArmor exec   "), "{}", text.stdout);
}

#[test]
fn a_container_task_honours_mac_apparmor_too() {
    let e = env();
    // Refused before any engine is asked (nothing created, nothing ran).
    let required = e.policy("required", "sandbox_mode: docker\nmac: {apparmor: required}\n");
    let mut c = e.cmd(&required, &[], &["/bin/sh", "-c", "echo ran > ran.txt"]);
    c.env("DOCKER_HOST", "unix:///nonexistent/orchestra-mac.sock");
    let o = e.run_cmd(c);
    o.assert_code(1);
    assert!(!e.ws.join("ran.txt").exists());
    assert!(o.stderr.contains("cannot enforce AppArmor: mac.apparmor: required, but "), "{}", o.stderr);
    // Where it may run without, it runs, and its report says why.
    container_setup();
    chown_tree(&e.ws, 1000);
    let optional = e.policy("optional", "sandbox_mode: docker\nmac: {apparmor: if_available}\n");
    let name = format!("mac-optional-{}", std::process::id());
    let o = e.run_cmd(e.cmd(&optional, &["--name", &name], &["/bin/sh", "-c", "echo ran > ran.txt"]));
    o.assert_ok();
    assert!(e.ws.join("ran.txt").exists());
    let left = containers_left("docker", &format!("orchestra.task={name}"));
    assert!(left.is_empty(), "left containers behind: {left:?}");
    if !host_has_apparmor() {
        assert_eq!(o.report["mac"]["apparmor"], "not_applied", "{}", o.report);
        assert!(o.report["mac"]["profile"].as_str().unwrap().starts_with("orchestra-"), "{}", o.report);
    }
}
