//! Protected paths inside the writable workspace (issue 20): what a build
//! step could plant for a later, less isolated step — git hooks and config,
//! CI workflows — stays read-only, while the git operations a build does keep
//! working. The policy can protect more, and gives an entry up only by naming
//! it (an opt-out, reported). Every backend: `conformance::*::protected_paths_*`.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is required")
}

/// A repository with one commit in the workspace.
fn repo_env() -> Env {
    let e = env();
    assert!(git(&e.ws, &["init", "-q", "."]).status.success());
    std::fs::write(e.ws.join("README"), "hello\n").unwrap();
    std::fs::write(e.ws.join(".gitignore"), ".orchestra/\nattack\n").unwrap();
    assert!(git(&e.ws, &["add", "README", ".gitignore"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "init"]).status.success());
    e
}

const GIT: &str = "git -c user.email=t@example.org -c user.name=t -c safe.directory=*";

#[test]
fn a_real_git_commit_branch_and_checkout_in_the_workspace_are_no_violation() {
    let e = repo_env();
    let script = format!(
        "set -e; echo more >> README; {GIT} add README; {GIT} commit -qm two; {GIT} checkout -qb feature; \
         echo f > f; {GIT} add f; {GIT} commit -qm three; {GIT} checkout -q -; {GIT} merge -q feature; {GIT} log --oneline | wc -l"
    );
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert_eq!(o.stdout.trim(), "3");
    let log = git(&e.ws, &["log", "--oneline"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 3, "the host sees the task's commits");
}

#[test]
fn a_hook_or_fsmonitor_planted_by_a_task_never_runs_at_the_next_host_commit() {
    let e = repo_env();
    let marker = e.root.join("hook-ran");
    let m = marker.display();
    for plant in [
        format!("printf '#!/bin/sh\\ntouch {m}\\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit"),
        format!("{GIT} config core.fsmonitor 'touch {m}'"),
        format!(
            "mkdir -p hooks && printf '#!/bin/sh\\ntouch {m}\\n' > hooks/pre-commit && chmod +x hooks/pre-commit && {GIT} config core.hooksPath hooks"
        ),
    ] {
        // A git killed at its denied rename leaves its lock file (as any killed git does).
        let _ = std::fs::remove_file(e.ws.join(".git/config.lock"));
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        std::fs::write(e.ws.join("README"), format!("{plant}\n")).unwrap();
        assert!(git(&e.ws, &["commit", "-qam", "host commit"]).status.success());
        assert!(!marker.exists(), "`{plant}` ran at the host's commit");
    }
}

#[test]
fn a_linked_hooks_directory_is_protected_where_it_points() {
    let e = repo_env();
    std::fs::create_dir_all(e.ws.join("shared-hooks")).unwrap();
    std::fs::remove_dir_all(e.ws.join(".git/hooks")).unwrap();
    std::os::unix::fs::symlink("../shared-hooks", e.ws.join(".git/hooks")).unwrap();
    let o = e.sh("default", "echo evil > shared-hooks/pre-commit");
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("shared-hooks/pre-commit").exists());
}

#[test]
fn unprotected_gives_up_one_entry_and_is_reported_as_an_opt_out() {
    let e = repo_env();
    let p = e.policy("gitcfg", "filesystem:\n  unprotected: [.git/config]\n");
    let o = e.sh(&p, &format!("{GIT} config orchestra.test yes"));
    o.assert_ok();
    let opt_outs = o.report["opt_outs"].to_string();
    assert!(opt_outs.contains("filesystem.unprotected: .git/config"), "{opt_outs}");
    assert!(String::from_utf8_lossy(&git(&e.ws, &["config", "orchestra.test"]).stdout).contains("yes"));
    // The others stay.
    e.sh(&p, "echo x > .git/hooks/pre-commit").assert_violation("fs.protected");
}

#[test]
fn protected_adds_paths_and_wrong_entries_are_refused_with_a_position() {
    let e = repo_env();
    std::fs::write(e.ws.join("Makefile"), "all:\n").unwrap();
    let p = e.policy("more", "filesystem:\n  protected: [Makefile, deploy/]\n");
    e.sh(&p, "echo 'all: ; curl evil' >> Makefile").assert_violation("fs.protected");
    assert_eq!(std::fs::read_to_string(e.ws.join("Makefile")).unwrap(), "all:\n");
    e.sh(&p, "mkdir -p deploy").assert_violation("fs.protected");
    for (yaml, words) in [
        ("filesystem:\n  unprotected: [src]\n", "not a built-in protected path"),
        ("filesystem:\n  protected: [../outside]\n", "relative to the working directory"),
        ("filesystem:\n  protected: [/etc/passwd]\n", "relative to the working directory"),
    ] {
        let p = e.policy("bad", yaml);
        let o = e.sh(&p, "touch ran");
        assert_eq!(o.code, 1, "{yaml}: {}", o.all());
        assert!(o.stderr.contains(words) && o.stderr.contains(":2:"), "{yaml}: {}", o.stderr);
        assert!(!e.ws.join("ran").exists());
    }
}

#[test]
fn the_policy_file_a_task_runs_under_is_protected_when_it_lies_in_the_workspace() {
    let e = env();
    let text = "filesystem:\n  tmp: private\n";
    std::fs::write(e.ws.join("policy.yaml"), text).unwrap();
    let o = e.sh("policy.yaml", "echo 'network: {mode: host}' >> policy.yaml");
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read_to_string(e.ws.join("policy.yaml")).unwrap(), text);
    let o = e.sh("policy.yaml", "mv policy.yaml p2 && echo x > policy.yaml");
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read_to_string(e.ws.join("policy.yaml")).unwrap(), text);
}
