//! Protected paths inside the writable workspace (issue 20): what a build
//! step could plant for a later, less isolated step — git hooks and config,
//! CI workflows — stays read-only, while the git operations a build does keep
//! working. The policy can protect more, and gives an entry up only by naming
//! it (an opt-out, reported). Every backend: `conformance::*::protected_paths_*`.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    git_cmd(dir, args).output().expect("git is required")
}

/// The host's `git ARGS` in `dir`, as [`git`] runs it.
fn git_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(["-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir);
    c
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

/// A task rewriting the existing `file` with `plant`: `fs.protected`
/// (exit 4), the file as it was, and once `host` has run the host's git
/// again, nothing planted ran (it would make `marker`).
fn rewrite_is_refused_and_runs_nothing(e: &Env, file: &str, plant: &str, marker: &Path, host: impl Fn()) {
    let before = std::fs::read(e.ws.join(file)).unwrap();
    let o = e.sh("default", plant);
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read(e.ws.join(file)).unwrap(), before, "{file}: the task's write stayed\n{}", o.all());
    host();
    assert!(!marker.exists(), "{file}: the host's git ran the task's code\n{}", o.all());
}

/// `tools/<s>.sh` for each of `scripts` in `e`'s workspace, each printing
/// `ok`, committed with whatever else the workspace holds.
fn commit_ok_scripts(e: &Env, scripts: &[&str]) {
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    for s in scripts {
        std::fs::write(e.ws.join(format!("tools/{s}.sh")), "#!/bin/sh\necho ok\n").unwrap();
        chmod_x(&e.ws.join(format!("tools/{s}.sh")));
    }
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
}

/// The host's `git <alias>` in `e`'s workspace, with `e`'s HOME: what it printed.
fn host_alias(e: &Env, alias: &str) -> String {
    let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).stdin(std::process::Stdio::null()).output();
    String::from_utf8_lossy(&o.expect("git is required").stdout).into_owned()
}

/// A task's plant for `file`: a script that makes `marker`.
fn touch_script(file: &str, marker: &Path) -> String {
    format!("printf '#!/bin/sh\\ntouch {}\\n' > {file}", marker.display())
}

/// The host's next `git status` and `git commit` in `e`'s workspace; whether
/// anything planted ran (it would touch `marker`).
fn host_git_runs_nothing(e: &Env, marker: &Path) {
    let _ = git(&e.ws, &["status"]);
    std::fs::write(e.ws.join("README"), "changed on the host\n").unwrap();
    let _ = git(&e.ws, &["commit", "-qam", "host"]);
    assert!(!marker.exists(), "a planted command ran at the host's git");
}

/// Review of the protected paths, F1/F4: what git reads code from besides
/// `.git/config` and `.git/hooks` — a `commondir` redirect, a submodule's
/// config, a `gitdir:` pointer, a hook behind a link, `core.hooksPath`, an
/// included config — cannot be planted either.
#[test]
fn what_git_reads_code_from_elsewhere_cannot_be_planted() {
    let cases: [(&str, &str); 6] = [
        (
            "",
            "mkdir -p .git/c/hooks && cp -r .git/objects .git/refs .git/HEAD .git/c/ && cp .git/config .git/c/config && printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' >> .git/c/config && echo c > .git/commondir",
        ),
        (
            "mkdir -p .git/modules/sub && printf '[core]\\n' > .git/modules/sub/config",
            "printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' >> .git/modules/sub/config",
        ),
        (
            "mkdir -p scripts && printf '#!/bin/sh\\n' > scripts/pre-commit && chmod +x scripts/pre-commit && ln -s ../../scripts/pre-commit .git/hooks/pre-commit",
            "printf 'touch MARK\\n' >> scripts/pre-commit",
        ),
        (
            "git config core.hooksPath .husky && mkdir -p .husky",
            "printf '#!/bin/sh\\ntouch MARK\\n' > .husky/pre-commit && chmod +x .husky/pre-commit",
        ),
        (
            "git config include.path ../.gitconfig-shared && printf '[user]\\n' > .gitconfig-shared",
            "printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' >> .gitconfig-shared",
        ),
        (
            "",
            "mkdir -p .evil && cp -r .git/objects .git/refs .git/HEAD .evil/ && cp .git/config .evil/ && printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' >> .evil/config && mv .git .git-away && echo 'gitdir: .evil' > .git",
        ),
    ];
    for (setup, plant) in cases {
        let e = repo_env();
        let marker = e.root.join("planted-ran");
        if !setup.is_empty() {
            let st = Command::new("sh").args(["-c", setup]).current_dir(&e.ws).status().unwrap();
            assert!(st.success(), "{setup}");
        }
        let o = e.sh("default", &plant.replace("MARK", &marker.display().to_string()));
        o.assert_violation("fs.protected");
        host_git_runs_nothing(&e, &marker);
    }
}

/// F3: `.git` as a link to a directory in the workspace is protected where it
/// points, and such a checkout runs in the jail.
#[test]
fn a_git_directory_behind_a_link_is_protected_where_it_is() {
    let e = repo_env();
    std::fs::rename(e.ws.join(".git"), e.ws.join("realgit")).unwrap();
    std::os::unix::fs::symlink("realgit", e.ws.join(".git")).unwrap();
    e.sh("default", &format!("{GIT} status --short >/dev/null")).assert_ok();
    let marker = e.root.join("planted-ran");
    let o = e.sh(
        "default",
        &format!("printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' >> realgit/config", marker.display()),
    );
    o.assert_violation("fs.protected");
    e.sh("default", "mv realgit old").assert_violation("fs.protected");
    host_git_runs_nothing(&e, &marker);
}

/// F5: a protected file with another hard link in the workspace would be
/// writable through it: refused before anything runs.
#[test]
fn a_protected_file_with_another_hard_link_is_refused() {
    let e = repo_env();
    std::fs::hard_link(e.ws.join(".git/config"), e.ws.join("cfg-copy")).unwrap();
    let o = e.sh("default", "touch ran");
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("hard links"), "{}", o.stderr);
    assert!(!e.ws.join("ran").exists());
}

/// F6: git commands a build runs are not called attacks.
#[test]
fn stash_gc_repack_and_worktrees_are_no_violation() {
    let e = repo_env();
    let script = format!(
        "set -e; echo x >> README; {GIT} stash -q; {GIT} stash pop -q; {GIT} gc -q; {GIT} repack -a -d -q; \
         {GIT} worktree add -q wt-side; {GIT} worktree remove wt-side; {GIT} rev-parse HEAD >/dev/null"
    );
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
}

/// Review 31, finding 3: `git init` in a fresh workspace is `fs.protected`
/// (`mkdir .git/hooks`). Issue 20's rule, kept: a protected path absent at the
/// start is protected against creation too (SECURITY.md §5.3). The detail says
/// so and names both ways out: the repository made before the task, or the
/// opt-out, which git init needs for its hooks, config and info/exclude.
#[test]
fn review31_git_init_in_a_fresh_workspace_is_protected_and_says_what_allows_it() {
    let e = env();
    let script = format!("{GIT} init -q . && {GIT} commit -q --allow-empty -m x");
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/hooks").exists(), "the hooks directory was created");
    let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains(".git/hooks, a protected path"), "{detail}");
    assert!(detail.contains("`git init` outside the jail"), "{detail}");
    assert!(detail.contains("`filesystem.unprotected: [.git/hooks]`"), "{detail}");
    // Made before the task, the repository is no violation.
    let _ = std::fs::remove_dir_all(e.ws.join(".git"));
    assert!(git(&e.ws, &["init", "-q", "."]).status.success());
    e.sh("default", &format!("{GIT} commit -q --allow-empty -m x")).assert_ok();
    // Or with the opt-out (reported as such).
    std::fs::remove_dir_all(e.ws.join(".git")).unwrap();
    let p = e.policy("git-init", "filesystem:\n  unprotected: [.git/hooks, .git/config, .git/info/exclude]\n");
    let o = e.sh(&p, &script);
    o.assert_ok();
    assert!(e.ws.join(".git/hooks").is_dir());
}

/// SECURITY.md §5.3: where the workspace has no `.git`, a `.git` file
/// pointing git at a directory the task filled (`gitdir: evil`, with hooks)
/// passes the supervisor (neither name is protected), but the host's check
/// after the task resolves `.git/hooks` as git does: exit 4, `fs.protected`,
/// the pointer removed, and the host's git never takes `evil` for the
/// repository. The violation is in the verified audit log like any other.
#[test]
fn a_gitdir_pointer_planted_where_git_was_absent_is_removed_and_reported() {
    let e = env();
    let marker = e.root.join("planted-ran");
    let plant = format!(
        "set -e; mkdir -p evil/hooks evil/objects evil/refs/heads && echo 'ref: refs/heads/main' > evil/HEAD \
         && printf '#!/bin/sh\\ntouch {}\\n' > evil/hooks/pre-commit && chmod +x evil/hooks/pre-commit \
         && echo 'gitdir: evil' > .git",
        marker.display()
    );
    let o = e.sh("default", &plant);
    o.assert_violation("fs.protected");
    assert!(std::fs::symlink_metadata(e.ws.join(".git")).is_err(), "the pointer is left");
    assert!(e.ws.join("evil/hooks/pre-commit").is_file(), "only the pointer is the offending entry");
    let git_dir = git(&e.ws, &["rev-parse", "--absolute-git-dir"]);
    assert!(!String::from_utf8_lossy(&git_dir.stdout).contains("/evil"), "host git uses the planted repository");
    let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        detail.contains("was created during the task as a file: git takes it for a pointer")
            && detail.ends_with("; removed"),
        "{detail}"
    );
    // Recorded like every violation: in the signed log, which verifies.
    assert_eq!(e.verify_audit().status.code(), Some(0));
    let shown = Command::new(orchestra())
        .args(["audit", "show", "--json", "--kind", "violation"])
        .arg(e.ws.join(".orchestra/audit"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("absent when the task started, was created during the task")
    );
}

/// The host's check honours the policy's opt-outs: a path given up with
/// `filesystem.unprotected` may be created, and stays.
#[test]
fn an_unprotected_path_created_by_a_task_is_no_violation_and_stays() {
    let e = env();
    let p = e.policy("ci", "filesystem:\n  unprotected: [.gitlab-ci.yml, .github/workflows]\n");
    let o = e.sh(
        &p,
        "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml && echo 'test: ok' > .gitlab-ci.yml",
    );
    o.assert_ok();
    assert_eq!(std::fs::read_to_string(e.ws.join(".gitlab-ci.yml")).unwrap(), "test: ok\n");
    assert!(e.ws.join(".github/workflows/ci.yml").is_file());
    // The others are still watched.
    e.sh(&p, "mkdir -p elsewhere/hooks && echo 'gitdir: elsewhere' > .git").assert_violation("fs.protected");
}

/// Review 59, F1 and F2: the host's `git status` recurses into every gitlink
/// of the index and runs there with that submodule's own config. A task that
/// registers a repository it made (with `core.fsmonitor`) as a gitlink, or
/// redirects an existing submodule's `.git` to a copy with one, is
/// `fs.protected`, exit 4, and the host's next `git status` runs nothing.
#[test]
fn a_submodule_registered_or_redirected_by_a_task_runs_nothing_at_the_host_git_status() {
    let e = repo_env();
    let marker = e.root.join("fsmonitor-ran");
    let m = marker.display();
    let script = format!(
        "set -e; mkdir sub && cd sub && {GIT} init -q . && echo x > f && {GIT} add f && {GIT} commit -qm s && \
         {GIT} config core.fsmonitor 'touch {m}; false #' && cd .. && \
         {GIT} update-index --add --cacheinfo 160000,$({GIT} -C sub rev-parse HEAD),sub"
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("the git directory of sub (") && detail.ends_with("; removed"), "{detail}");
    assert!(std::fs::symlink_metadata(e.ws.join("sub/.git")).is_err() && e.ws.join("sub/f").is_file());
    let _ = git(&e.ws, &["status"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status");

    // An existing submodule whose `.git` is pointed at a copy with a planted config.
    let e = repo_env();
    let up = e.root.join("upstream");
    std::fs::create_dir_all(&up).unwrap();
    for args in [&["init", "-q", "."][..], &["commit", "-q", "--allow-empty", "-m", "l"]] {
        let o = git(&up, args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let add = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "add", up.to_str().unwrap(), "lib"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    assert!(git(&e.ws, &["commit", "-qm", "sub"]).status.success());
    let script = format!(
        "set -e; cp -a .git/modules/lib build-cache && {GIT} config --file build-cache/config core.worktree ../lib && \
         {GIT} config --file build-cache/config core.fsmonitor 'touch {m}; false #' && printf 'gitdir: ../build-cache\\n' > lib/.git"
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let detail = o.report["violations"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("the git directory of lib (") && detail.contains("put aside as"), "{detail}");
    assert!(std::fs::symlink_metadata(e.ws.join("lib/.git")).is_err());
    let _ = git(&e.ws, &["status"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status");
}

/// Repositories a build makes that no gitlink names, and a submodule it
/// leaves alone, are no violation: `git init` and `git clone` into
/// subdirectories (a `pip install -e git+…` clone, test fixtures), `git
/// worktree add`, and `git status` over an existing submodule.
#[test]
fn nested_repositories_no_gitlink_names_and_untouched_submodules_are_no_violation() {
    let e = repo_env();
    let up = e.root.join("upstream");
    std::fs::create_dir_all(&up).unwrap();
    assert!(git(&up, &["init", "-q", "."]).status.success());
    assert!(git(&up, &["commit", "-q", "--allow-empty", "-m", "l"]).status.success());
    let add = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "add", up.to_str().unwrap(), "lib"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    assert!(git(&e.ws, &["commit", "-qm", "sub"]).status.success());
    let script = format!(
        "set -e; mkdir -p src && cd src && {GIT} init -q fixture && {GIT} clone -q .. clone1 && cd .. && \
         {GIT} worktree add -q wt && {GIT} status --short > /dev/null && echo built > out.txt"
    );
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert!(e.ws.join("src/fixture/.git").is_dir() && e.ws.join("src/clone1/.git").is_dir());
    assert!(e.ws.join("lib/.git").is_file(), "the submodule is left as it was");
}

/// A checkout with a real, absorbed submodule `lib` (its repository in
/// `.git/modules/lib`), from an upstream beside the workspace.
fn submodule_env() -> Env {
    let e = repo_env();
    let up = e.root.join("upstream");
    std::fs::create_dir_all(&up).unwrap();
    assert!(git(&up, &["init", "-q", "."]).status.success());
    std::fs::write(up.join("lib.txt"), "lib\n").unwrap();
    assert!(git(&up, &["add", "."]).status.success());
    assert!(git(&up, &["commit", "-qm", "l"]).status.success());
    let add = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "add", up.to_str().unwrap(), "lib"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    assert!(git(&e.ws, &["commit", "-qm", "sub"]).status.success());
    e
}

/// The script of a repository at `dir` (made) whose `core.fsmonitor`
/// touches `marker`: what runs at the host's next `git status` there.
fn fsmonitor_repo(dir: &str, marker: &str) -> String {
    format!(
        "mkdir -p {dir} && {GIT} -C {dir} init -q . && {GIT} -C {dir} commit -q --allow-empty -m x && \
         {GIT} -C {dir} config core.fsmonitor 'touch {marker}; false #'"
    )
}

/// Run `script` as a task (default policy): `fs.protected`, exit 4; then
/// the host's git commands `host` (directory, arguments) run nothing planted.
#[track_caller]
fn plant_runs_nothing(e: &Env, case: &str, script: &str, host: &[(&str, Vec<&str>)], marker: &Path) {
    let o = e.sh("default", &format!("set -e; {script}"));
    o.assert_violation("fs.protected");
    for (dir, args) in host {
        let _ = git(&e.ws.join(dir), args);
    }
    assert!(!marker.exists(), "{case}: the planted code ran at the host's git\n{}", o.all());
}

/// The script of a commit on branch `dev` that names the repository at
/// `dir` as a gitlink, the index untouched (what the host's `git checkout
/// dev` then makes a submodule).
fn gitlink_on_dev(dir: &str) -> String {
    format!(
        "sub=$({GIT} -C {dir} rev-parse HEAD) && export GIT_INDEX_FILE=$PWD/.git/tmpidx && {GIT} read-tree dev && \
         {GIT} update-index --add --cacheinfo 160000,$sub,{dir} && c=$({GIT} commit-tree -p dev -m bump $({GIT} write-tree)) && \
         {GIT} update-ref refs/heads/dev $c && rm -f .git/tmpidx"
    )
}

/// A task makes a repository at `dir` with a planted `core.fsmonitor` and
/// names it on `dev` ([`gitlink_on_dev`]): `fs.protected`, its `.git` gone,
/// and the host's `git checkout dev` and `git status` run nothing.
#[track_caller]
fn planted_repo_on_dev_runs_nothing(case: &str, dir: &str) {
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join(format!("{}-ran", case.replace(' ', "-")));
    let script = format!("{} && {}", fsmonitor_repo(dir, &marker.display().to_string()), gitlink_on_dev(dir));
    plant_runs_nothing(
        &e,
        case,
        &script,
        &[(".", vec!["checkout", "-q", "dev"]), (".", vec!["status", "--short"])],
        &marker,
    );
    assert!(!e.ws.join(dir).join(".git").exists(), "{case}: the planted repository's .git is left");
}

/// Review 61: the ways a task made the host's git run its code through
/// submodules and work trees while orchestra exited 0. Each is now
/// `fs.protected` (exit 4) and the host's git command afterwards runs
/// nothing: a gitlink hidden in a split index (F1), in the submodule's own
/// index (F2), a repository planted in `.git/modules` for `git submodule
/// update` (F3), an index made a link (F4), a linked work tree's `.git`
/// redirected (F5), a gitlink past 10,000 dummies (F7), hooks planted where
/// a submodule's relative `core.hooksPath` points (F8).
#[test]
fn submodule_and_work_tree_plants_of_review_61_run_nothing_at_the_host_git() {
    let repo_with_fsmonitor = fsmonitor_repo;
    let hook = |path: &str, m: &str| format!("printf '#!/bin/sh\\ntouch {m}\\n' > {path} && chmod +x {path}");
    for case in ["F1", "F2", "F3", "F4", "F5", "F7", "F8"] {
        let e = submodule_env();
        let marker = e.root.join(format!("{case}-ran"));
        let m = marker.display().to_string();
        // What the host user does afterwards.
        let mut host: Vec<(&str, Vec<&str>)> = vec![(".", vec!["status", "--short"])];
        let script = match case {
            "F1" => format!(
                "{} && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil && \
                 {GIT} update-index --split-index",
                repo_with_fsmonitor("evil", &m)
            ),
            "F2" => format!(
                "{} && cd lib && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil",
                repo_with_fsmonitor("lib/evil", &m)
            ),
            "F3" => {
                host = vec![(".", vec!["-c", "protocol.file.allow=always", "submodule", "-q", "update", "--init"])];
                format!(
                    "{GIT} clone -q --bare .git/modules/lib .git/modules/evil && \
                     {GIT} -C .git/modules/evil config core.bare false && {} && \
                     {GIT} config -f .gitmodules submodule.evil.path evil && \
                     {GIT} config -f .gitmodules submodule.evil.url ../upstream && \
                     {GIT} update-index --add --cacheinfo 160000,$({GIT} -C lib rev-parse HEAD),evil && {GIT} add .gitmodules",
                    hook(".git/modules/evil/hooks/post-checkout", &m)
                )
            }
            "F4" => format!(
                "{} && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil && \
                 mv .git/index .git/index.real && ln -s index.real .git/index",
                repo_with_fsmonitor("evil", &m)
            ),
            "F5" => {
                assert!(git(&e.ws, &["worktree", "add", "-q", "wt"]).status.success());
                host = vec![("wt", vec!["status", "--short"])];
                format!(
                    "mkdir .cache-x && cp -r .git/objects .git/refs .git/HEAD .cache-x/ && \
                     printf '[core]\\n\\tfsmonitor = \"touch {m}; false #\"\\n' > .cache-x/config && \
                     printf 'gitdir: ../.cache-x\\n' > wt/.git"
                )
            }
            "F7" => format!(
                "{} && oid=$({GIT} -C zz-evil rev-parse HEAD) && i=0; while [ $i -lt 10001 ]; do \
                 printf '160000 commit %s\\tdummy/%05d\\n' $oid $i; i=$((i+1)); done | {GIT} update-index --index-info && \
                 {GIT} update-index --add --cacheinfo 160000,$oid,zz-evil",
                repo_with_fsmonitor("zz-evil", &m)
            ),
            "F8" => {
                assert!(git(&e.ws.join("lib"), &["config", "core.hooksPath", ".husky/_"]).status.success());
                std::fs::create_dir_all(e.ws.join("lib/.husky/_")).unwrap();
                host = vec![("lib", vec!["commit", "-q", "--allow-empty", "-m", "host"])];
                hook("lib/.husky/_/pre-commit", &m)
            }
            _ => unreachable!(),
        };
        plant_runs_nothing(&e, case, &script, &host, &marker);
    }
}

/// Benign git work around submodules and work trees stays exit 0: a split
/// index, index version 4, a work tree added and committed in, a commit in
/// the submodule and its bump, `submodule foreach`, a submodule removed.
#[test]
fn benign_git_work_around_submodules_and_work_trees_is_no_violation() {
    for script in [
        format!(
            "{GIT} update-index --index-version 4 && {GIT} update-index --split-index && {GIT} commit -q --allow-empty -m s"
        ),
        format!("{GIT} worktree add -q wt2 && {GIT} -C wt2 commit -q --allow-empty -m w"),
        format!("{GIT} -C lib commit -q --allow-empty -m insub && {GIT} add lib && {GIT} commit -qm bump"),
        format!("{GIT} submodule foreach -q true && {GIT} status --short >/dev/null"),
        format!("{GIT} rm -q -r --cached lib && rm -rf lib && {GIT} commit -qm rmsub"),
    ] {
        let e = submodule_env();
        let o = e.sh("default", &format!("set -e; {script}"));
        o.assert_ok();
        assert!(o.rules().is_empty(), "{script}: {:?}", o.rules());
    }
}

/// Review 61, F6: a workspace with no `.git` at the start (a tarball, a CI
/// artifact); the task makes a repository there without a config (`HEAD`,
/// `objects`, `refs`, an index) whose gitlink names a repository of its own
/// with `core.fsmonitor`. `fs.protected`, and the host's `git status` there
/// runs nothing (the gitlink's `.git` put aside).
#[test]
fn a_repository_made_where_there_was_none_with_a_gitlink_runs_nothing_at_the_host_git() {
    let e = env();
    let marker = e.root.join("f6-ran");
    let m = marker.display();
    let script = format!(
        "set -e; mkdir evil && {GIT} -C evil init -q . && {GIT} -C evil commit -q --allow-empty -m x && \
         {GIT} -C evil config core.fsmonitor 'touch {m}; false #' && oid=$({GIT} -C evil rev-parse HEAD) && \
         {GIT} init -q --bare spare && mkdir .git && cp -r spare/HEAD spare/objects spare/refs .git/ && rm -rf spare && \
         GIT_DIR=.git GIT_WORK_TREE=. {GIT} update-index --add --cacheinfo 160000,$oid,evil && rm -f .git/config"
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status\n{}", o.all());
}

/// Review 61, finding 2 (a false exit 4): `git submodule update --init
/// --recursive` on a populated checkout (a common CI step) rewrites each
/// submodule's `.git/modules/<name>/config`, nested ones included, with the
/// `core.worktree` it already holds. A rename of the same bytes onto a
/// protected file changes nothing, so under the default list the update does
/// its job (exit 0, no violation, the configs untouched); a rewrite that
/// changes a byte stays `fs.protected`. A policy that gives up `.git/config`
/// gives the submodules' configs up with it (the same trust: both run git's
/// code), while their hooks stay protected.
#[test]
fn submodule_update_of_a_populated_checkout_is_no_violation_and_changes_no_config() {
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let e = repo_env();
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = ["-c", "protocol.file.allow=always"];
    // vendor/lib, itself with a submodule `deep`; both inside the workspace (the task sees nothing else).
    let (lib, deep) = (e.ws.join("vendor/lib"), e.ws.join("vendor/deep"));
    for d in [&lib, &deep] {
        std::fs::create_dir_all(d).unwrap();
        ok(git(d, &["init", "-q", "."]));
        ok(git(d, &["commit", "-q", "--allow-empty", "-m", "one"]));
    }
    ok(git(&lib, &[&file[..], &["submodule", "-q", "add", deep.to_str().unwrap(), "deep"]].concat()));
    ok(git(&lib, &["commit", "-qm", "deep"]));
    ok(git(&e.ws, &[&file[..], &["submodule", "-q", "add", "./vendor/lib", "lib"]].concat()));
    ok(git(&e.ws, &["commit", "-qm", "lib"]));
    ok(git(&e.ws, &[&file[..], &["submodule", "-q", "update", "--init", "--recursive"]].concat()));
    let configs = [e.ws.join(".git/modules/lib/config"), e.ws.join(".git/modules/lib/modules/deep/config")];
    assert!(configs.iter().all(|c| c.is_file()), "the checkout is not populated");
    // The submodule is moved off its recorded commit, so the update has work to do.
    let recorded = String::from_utf8_lossy(&git(&e.ws.join("lib"), &["rev-parse", "HEAD"]).stdout).into_owned();
    ok(git(&e.ws.join("lib"), &["checkout", "-q", "--detach", "HEAD~1"]));
    let status = || String::from_utf8_lossy(&git(&e.ws, &["submodule", "status", "--recursive"]).stdout).into_owned();
    assert!(status().starts_with('+'), "{}", status());
    let update = format!("{GIT} -c protocol.file.allow=always submodule update --init --recursive");

    // The default list: git rewrites each submodule's config with the bytes
    // it holds, which changes nothing: exit 0, no violation, the configs
    // untouched (same inode), no lock file left, the submodules back at the
    // recorded commits.
    let before: Vec<(u64, Vec<u8>)> = configs.iter().map(|c| (inode(c), std::fs::read(c).unwrap())).collect();
    let o = e.sh("default", &update);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert_eq!(configs.iter().map(|c| (inode(c), std::fs::read(c).unwrap())).collect::<Vec<_>>(), before);
    assert!(configs.iter().all(|c| !c.with_extension("lock").exists()), "a lock file is left");
    assert_eq!(String::from_utf8_lossy(&git(&e.ws.join("lib"), &["rev-parse", "HEAD"]).stdout), recorded);
    // A rewrite that changes a byte stays refused, the config unchanged.
    let o = e.sh(
        "default",
        "cp .git/modules/lib/config c.lock && echo '\tfsmonitor = touch /tmp/x' >> c.lock && mv c.lock .git/modules/lib/config",
    );
    o.assert_violation("fs.protected");
    assert_eq!((inode(&configs[0]), std::fs::read(&configs[0]).unwrap()), before[0]);
    ok(git(&e.ws.join("lib"), &["checkout", "-q", "--detach", "HEAD~1"]));

    // `unprotected: [.git/config]`: the update does its job.
    let p = e.policy("submodules", "filesystem:\n  unprotected: [.git/config]\n");
    let o = e.sh(&p, &update);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert!(o.report["opt_outs"].to_string().contains("filesystem.unprotected: .git/config"), "{}", o.report);
    let now = status();
    assert!(now.lines().count() == 2 && now.lines().all(|l| l.starts_with(' ')), "{now}");
    assert_eq!(String::from_utf8_lossy(&git(&e.ws.join("lib"), &["rev-parse", "HEAD"]).stdout), recorded);
    for c in &configs {
        assert!(std::fs::read_to_string(c).unwrap().contains("worktree = "), "{}", c.display());
    }
    // The submodules' hooks are still protected.
    let o = e.sh(&p, "echo 'touch /tmp/x' > .git/modules/lib/hooks/post-checkout");
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/modules/lib/hooks/post-checkout").exists());
}

/// Review 62: what review 61's fixes still let through. Each is now
/// `fs.protected` (exit 4) and the host's git afterwards runs nothing: a
/// gitlink added to a linked work tree's own index (F1), a submodule named
/// with a slash whose git directory (`.git/modules/libs/foo`) the task
/// reconfigured (F2), gitlinks past the bound in one index hiding one in
/// another (F3), a workspace whose `.git` points at a repository inside it
/// (F5), and a repository made in a directory the checkout tracks (F6).
#[test]
fn submodule_and_work_tree_plants_of_review_62_run_nothing_at_the_host_git() {
    let evil = fsmonitor_repo;
    for case in ["F1", "F2", "F3", "F5", "F6"] {
        let e = submodule_env();
        let marker = e.root.join(format!("{case}-ran"));
        let m = marker.display().to_string();
        let mut host: Vec<(&str, Vec<&str>)> = vec![(".", vec!["status", "--short"])];
        let up = e.root.join("upstream").display().to_string();
        let script = match case {
            "F1" => {
                assert!(git(&e.ws, &["worktree", "add", "-q", "wt"]).status.success());
                host = vec![("wt", vec!["status", "--short"])];
                format!(
                    "{} && cd wt && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil",
                    evil("wt/evil", &m)
                )
            }
            "F2" => {
                let add = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "add", &up, "libs/foo"]);
                assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
                assert!(git(&e.ws, &["commit", "-qm", "foo"]).status.success());
                host.push((".", vec!["-c", "protocol.file.allow=always", "submodule", "-q", "update"]));
                format!(
                    "printf '#!/bin/sh\\ntouch {m}\\n' > .git/modules/libs/foo/hooks/post-checkout; \
                     chmod +x .git/modules/libs/foo/hooks/post-checkout; \
                     {GIT} config -f .git/modules/libs/foo/config core.fsmonitor 'touch {m}; false #'; rm -f libs/foo/.git; true"
                )
            }
            "F3" => {
                let add = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "add", &up, "zz"]);
                assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
                assert!(git(&e.ws, &["commit", "-qm", "zz"]).status.success());
                format!(
                    "o=$({GIT} -C lib rev-parse HEAD); i=0; while [ $i -lt 10000 ]; do printf '160000 commit %s\\tg/%s\\n' $o $i; \
                     i=$((i+1)); done | {GIT} -C lib update-index --index-info && {} && \
                     cd zz && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil",
                    evil("zz/evil", &m)
                )
            }
            "F5" => {
                std::fs::rename(e.ws.join(".git"), e.ws.join(".gitreal")).unwrap();
                std::fs::write(e.ws.join(".git"), "gitdir: .gitreal\n").unwrap();
                std::fs::write(e.ws.join("lib/.git"), "gitdir: ../.gitreal/modules/lib\n").unwrap();
                format!(
                    "{} && {GIT} update-index --add --cacheinfo 160000,$({GIT} -C evil rev-parse HEAD),evil",
                    evil("evil", &m)
                )
            }
            "F6" => {
                std::fs::create_dir_all(e.ws.join("src")).unwrap();
                std::fs::write(e.ws.join("src/main.c"), "int main;\n").unwrap();
                assert!(git(&e.ws, &["add", "src"]).status.success());
                assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
                host = vec![("src", vec!["status", "--short"])];
                format!("cd src && {GIT} init -q && {GIT} config core.fsmonitor 'touch {m}; false #'")
            }
            _ => unreachable!(),
        };
        plant_runs_nothing(&e, case, &script, &host, &marker);
    }
}

/// Review 62's benign cases stay exit 0: a workspace whose `.git` is a link
/// to the repository beside it (B1), a plain `git submodule update` of a
/// submodule the host initialised but did not clone (B2: the clone below
/// `.git/modules` and the submodule's `.git` pointer are what git makes),
/// and a plain `git init` in a tracked directory.
#[test]
fn benign_git_layouts_and_submodule_clones_of_review_62_are_no_violation() {
    // B1
    let e = submodule_env();
    std::fs::rename(e.ws.join(".git"), e.ws.join(".realgit")).unwrap();
    std::os::unix::fs::symlink(".realgit", e.ws.join(".git")).unwrap();
    std::fs::write(e.ws.join("lib/.git"), "gitdir: ../.realgit/modules/lib\n").unwrap();
    let o = e.sh("default", "echo built > out.txt");
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert!(e.ws.join("lib/.git").is_file());
    // B2: the upstream inside the workspace (the jail sees it there).
    let e = submodule_env();
    let up = e.ws.join("up.git");
    let o = Command::new("git").args(["clone", "-q", "--bare"]).arg(e.root.join("upstream")).arg(&up).output().unwrap();
    assert!(o.status.success());
    for args in [&["submodule", "deinit", "-q", "-f", "lib"][..], &["submodule", "init", "-q"]] {
        assert!(git(&e.ws, args).status.success());
    }
    std::fs::remove_dir_all(e.ws.join(".git/modules/lib")).unwrap();
    assert!(git(&e.ws, &["config", "submodule.lib.url", up.to_str().unwrap()]).status.success());
    let o = e.sh("default", &format!("set -e; {GIT} -c protocol.file.allow=always submodule -q update"));
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert!(e.ws.join("lib/lib.txt").is_file() && e.ws.join(".git/modules/lib/HEAD").is_file());
    // A plain `git init` in a tracked directory.
    let e = submodule_env();
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/main.c"), "int main;\n").unwrap();
    assert!(git(&e.ws, &["add", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let o = e.sh("default", &format!("set -e; {GIT} -C src init -q . && {GIT} -C lib status --short"));
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
}

/// Review 63: a repository accepted as a plain `git init` in a tracked
/// directory and given a `core.fsmonitor` by the next task (F3); a plain
/// repository registered as a gitlink whose `core.worktree` leads where a
/// repository of the task's waits (F4). Both `fs.protected` (exit 4), and
/// the host's git runs nothing. And a git refused a protected file leaves
/// no `.lock` behind that would break the host's next git (B1).
#[test]
fn plants_of_review_63_run_nothing_and_refused_writes_leave_no_lock() {
    // F3
    let e = submodule_env();
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/main.c"), "int main;\n").unwrap();
    assert!(git(&e.ws, &["add", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let marker = e.root.join("f3-ran");
    let m = marker.display();
    e.sh("default", &format!("{GIT} -C src init -q .")).assert_ok();
    let o = e.sh("default", &format!("{GIT} -C src config core.fsmonitor 'touch {m}; false #'"));
    o.assert_violation("fs.protected");
    let _ = git(&e.ws.join("src"), &["status", "--short"]);
    assert!(!marker.exists(), "F3: the planted fsmonitor ran\n{}", o.all());
    // F4
    let e = submodule_env();
    let marker = e.root.join("f4-ran");
    let m = marker.display();
    let script = format!(
        "set -e; mkdir -p src2/x && {GIT} -C src2/x init -q . && {GIT} -C src2/x commit -q --allow-empty -m x && \
         {GIT} -C src2/x config core.fsmonitor 'touch {m}; false #' && oid=$({GIT} -C src2/x rev-parse HEAD) && \
         mkdir evil && {GIT} -C evil init -q . && {GIT} -C evil commit -q --allow-empty -m e && \
         {GIT} -C evil update-index --add --cacheinfo 160000,$oid,x && {GIT} -C evil config core.worktree ../../src2 && \
         {GIT} update-index --add --cacheinfo 160000,$oid,evil"
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "F4: the planted fsmonitor ran\n{}", o.all());
    // B1: no lock left by a refused config write.
    let e = submodule_env();
    let o = e.sh("default", &format!("{GIT} config user.name someone"));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/config.lock").exists(), "a stale .git/config.lock was left");
    assert!(git(&e.ws, &["config", "x.y", "z"]).status.success(), "the host's git config fails after the task");
}

/// Review 65: a plain-looking repository registered as a gitlink whose
/// config hides an `includeIf` behind a `\"` escape in a section header
/// (F1); a plain repository made in a tracked directory that names a
/// gitlink of its own, to a repository with `core.fsmonitor` (F2). Both
/// `fs.protected` (exit 4), and the host's git runs nothing.
#[test]
fn plants_of_review_65_run_nothing_at_the_host_git() {
    for case in ["F1", "F2"] {
        let e = submodule_env();
        let marker = e.root.join(format!("{case}-ran"));
        let m = marker.display().to_string();
        let mut host: Vec<(&str, Vec<&str>)> = vec![(".", vec!["status", "--short"])];
        let script = match case {
            "F1" => format!(
                "mkdir x && {GIT} -C x init -q . && {GIT} -C x commit -q --allow-empty -m x && \
                 printf '[remote \"o\"]\\n\\turl = \"a\\\\\"b\"\\n[includeIf \"hasconfig:remote.*.url:*\\\\\"*\"] path = evil.cfg\\n' >> x/.git/config && \
                 printf '[core]\\n\\tfsmonitor = \"touch {m}; false\"\\n' > x/.git/evil.cfg && {GIT} add x"
            ),
            "F2" => {
                std::fs::create_dir_all(e.ws.join("src")).unwrap();
                std::fs::write(e.ws.join("src/m.c"), "int m;\n").unwrap();
                assert!(git(&e.ws, &["add", "src"]).status.success());
                assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
                host = vec![("src", vec!["status", "--short"])];
                format!("{GIT} -C src init -q . && {} && cd src && {GIT} add y m.c", fsmonitor_repo("src/y", &m))
            }
            _ => unreachable!(),
        };
        plant_runs_nothing(&e, case, &script, &host, &marker);
    }
}

/// Review 66: one plain git directory behind two nested places names a
/// gitlink below the second, to a repository with `core.fsmonitor` (F1);
/// a tracked directory untracked by one task, made a repository and
/// tracked again by the next (F2). `fs.protected` (exit 4), and the host's
/// git runs nothing.
#[test]
fn plants_of_review_66_run_nothing_at_the_host_git() {
    // F1
    let e = submodule_env();
    let marker = e.root.join("f1-ran");
    let m = marker.display().to_string();
    let oid = "0123456789abcdef0123456789abcdef01234567";
    let script = format!(
        "{GIT} init -q store && {GIT} -C store update-index --add --cacheinfo 160000,{oid},x --cacheinfo 160000,{oid},e && \
         mkdir -p a/x && echo \"gitdir: $PWD/store/.git\" > a/.git && cp a/.git a/x/.git && \
         {GIT} update-index --add --cacheinfo 160000,{oid},a && {} && \
         mkdir -p a/x/e && echo \"gitdir: $PWD/evil/.git\" > a/x/e/.git",
        fsmonitor_repo("evil", &m)
    );
    plant_runs_nothing(&e, "F1", &script, &[(".", vec!["status", "--short"])], &marker);
    // F2
    let e = submodule_env();
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/m.c"), "int m;\n").unwrap();
    assert!(git(&e.ws, &["add", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let marker = e.root.join("f2-ran");
    let m = marker.display().to_string();
    e.sh("default", &format!("{GIT} rm -rq --cached src")).assert_ok();
    let script = format!(
        "{GIT} -C src init -q . && {GIT} -C src config core.fsmonitor 'touch {m}; false #' && \
         {GIT} update-index --add --cacheinfo 100644,$({GIT} rev-parse HEAD:src/m.c),src/m.c"
    );
    plant_runs_nothing(&e, "F2", &script, &[("src", vec!["status", "--short"])], &marker);
}

/// Review 67: a task makes plain git directories four `modules` levels deep
/// (past what the jail pins); the next task gives the deepest one a
/// `core.fsmonitor` and points a new gitlink at it. The second task is
/// `fs.protected` (exit 4): a module directory is judged by its content, not
/// trusted as pinned; and the host's git runs nothing.
#[test]
fn plants_of_review_67_run_nothing_at_the_host_git() {
    let e = submodule_env();
    let marker = e.root.join("f1-ran");
    let m = marker.display().to_string();
    let first = format!(
        "set -e; p=.git/modules/a; for n in a b c d; do [ $n = a ] || p=$p/modules/$n; mkdir -p $(dirname $p); \
         {GIT} init -q wt$n --separate-git-dir=$p; rm -rf wt$n; done"
    );
    e.sh("default", &first).assert_ok();
    let second = format!(
        "G=$PWD/.git/modules/a/modules/b/modules/c/modules/d && \
         printf '[core]\\n\\tfsmonitor = \"touch {m}; false\"\\n' >> $G/config && mkdir x && echo \"gitdir: $G\" > x/.git && \
         {GIT} update-index --add --cacheinfo 160000,0123456789abcdef0123456789abcdef01234567,x"
    );
    plant_runs_nothing(&e, "F1", &second, &[(".", vec!["status", "--short"])], &marker);
}

/// Review 68: a module git directory ten name levels down `.git/modules`
/// (past the walk's old depth) with a gitlink to reuse it (F1); a gitlink
/// hidden in a tree that a sparse index's directory entry names, which git
/// expands from `.git/objects` (F2); repositories made in directories a
/// submodule's index and a linked work tree's index track (F3). Each is
/// `fs.protected` (exit 4) and the host's git runs nothing.
#[test]
fn plants_of_review_68_run_nothing_at_the_host_git() {
    // F1
    let e = submodule_env();
    let marker = e.root.join("f1-ran");
    let m = marker.display().to_string();
    let script = format!(
        "N=a/b/c/d/e/f/g/h/i/evil; G=$PWD/.git/modules/$N; mkdir -p $(dirname $G) && \
         {GIT} init -q /tmp/src --separate-git-dir=$G && {GIT} -C /tmp/src commit -q --allow-empty -m x && \
         printf '#!/bin/sh\\ntouch {m}\\n' > $G/hooks/post-checkout && chmod +x $G/hooks/post-checkout && \
         {GIT} config -f $G/config --unset core.worktree || true; \
         {GIT} config -f .gitmodules submodule.$N.path evil && {GIT} config -f .gitmodules submodule.$N.url ./nowhere && \
         {GIT} update-index --add --cacheinfo 160000,$({GIT} --git-dir=$G rev-parse HEAD),evil && {GIT} add .gitmodules"
    );
    plant_runs_nothing(&e, "F1", &script, &[(".", vec!["submodule", "update", "--init"])], &marker);
    // F2
    let e = submodule_env();
    let marker = e.root.join("f2-ran");
    let m = marker.display().to_string();
    std::fs::write(
        e.ws.join("patch.py"),
        "import sys, hashlib\np, old, new = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])\n\
         d = open(p, 'rb').read()[:-20]\nassert old in d\nd = d.replace(old, new)\n\
         open(p, 'wb').write(d + hashlib.sha1(d).digest())\n",
    )
    .unwrap();
    let script = format!(
        "mkdir -p d/evil && {GIT} -C d/evil init -q . && {GIT} -C d/evil commit -q --allow-empty -m x && \
         {GIT} -C d/evil commit -q --allow-empty -m y && OID=$({GIT} -C d/evil rev-parse HEAD~1) && \
         {GIT} -C d/evil config core.fsmonitor 'touch {m}; false #' && \
         echo x > d/x.txt && {GIT} add d/x.txt && BLOB=$({GIT} rev-parse :d/x.txt) && T1=$({GIT} write-tree --prefix=d/) && \
         T2=$(printf '100644 blob %s\\tx.txt\\n160000 commit %s\\tevil\\n' $BLOB $OID | {GIT} mktree) && \
         {GIT} config -f .gitmodules submodule.evil.path d/evil && {GIT} config -f .gitmodules submodule.evil.url ./nowhere && \
         {GIT} add .gitmodules patch.py && {GIT} commit -qm wip && cp -a .git /tmp/g2 && \
         printf '/*\\n!/*/\\n/lib/\\n' > /tmp/g2/info/sparse-checkout && G2=\"{GIT} --git-dir=/tmp/g2 --work-tree=.\" && \
         $G2 config core.sparseCheckout true && $G2 config core.sparseCheckoutCone true && $G2 config index.sparse true && \
         mv d /tmp/dsave && $G2 sparse-checkout reapply && mv /tmp/dsave d && cp /tmp/g2/index .git/index && \
         python3 patch.py .git/index $T1 $T2 && rm d/x.txt"
    );
    plant_runs_nothing(
        &e,
        "F2",
        &script,
        &[(".", vec!["submodule", "foreach", "git status --short"]), (".", vec!["submodule", "update", "--init"])],
        &marker,
    );
    // F3
    let e = submodule_env();
    let up = e.root.join("upstream");
    std::fs::create_dir_all(up.join("sub")).unwrap();
    std::fs::write(up.join("sub/f.txt"), "f\n").unwrap();
    assert!(git(&up, &["add", "."]).status.success());
    assert!(git(&up, &["commit", "-qm", "s"]).status.success());
    assert!(git(&e.ws.join("lib"), &["pull", "-q"]).status.success());
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/m.c"), "int m;\n").unwrap();
    assert!(git(&e.ws, &["add", "lib", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "bump"]).status.success());
    assert!(git(&e.ws, &["worktree", "add", "-q", "wt"]).status.success());
    let marker = e.root.join("f3-ran");
    let m = marker.display().to_string();
    let script = format!(
        "for d in lib/sub wt/src; do {GIT} -C $d init -q . && {GIT} -C $d config core.fsmonitor 'touch {m}; false #'; done"
    );
    let o = e.sh("default", &format!("set -e; {script}"));
    o.assert_violation("fs.protected");
    for d in ["lib/sub", "wt/src"] {
        assert!(!e.ws.join(d).join(".git").exists(), "{d}/.git, made in a tracked directory, is left:\n{}", o.all());
        let _ = git(&e.ws.join(d), &["status", "--short"]);
    }
    assert!(!marker.exists(), "F3: the planted code ran at the host's git\n{}", o.all());
}

/// Review 69: a `.git/HEAD` that git refuses but a lenient reading took for
/// valid, with the root made a repository git falls back to (F3, three
/// ways); a rebase's todo planted with an `exec` step that the host's `git
/// rebase --continue` runs (F2). Each is `fs.protected` (exit 4) and the
/// host's git runs nothing.
#[test]
fn plants_of_review_69_run_nothing_at_the_host_git() {
    for (case, head) in [
        ("F3 form feed", "printf 'ref:\\f%s\\n' $(git symbolic-ref HEAD) > .git/HEAD"),
        ("F3 link", "rm .git/HEAD && ln -s refs .git/HEAD"),
        ("F3 long", "printf 'ref:%300s%s\\n' '' $(git symbolic-ref HEAD) > .git/HEAD"),
    ] {
        let e = repo_env();
        let marker = e.root.join("f3-ran");
        let m = marker.display();
        let script = format!(
            "b=$(git symbolic-ref HEAD) && {head} && printf 'ref: %s\\n' $b > HEAD && mkdir objects refs && \
             printf '[core]\\n\\tworktree = .\\n\\tfsmonitor = \"touch {m}; false\"\\n' > config"
        );
        plant_runs_nothing(&e, case, &script, &[(".", vec!["status", "--short"]), (".", vec!["diff"])], &marker);
        assert!(!e.ws.join("HEAD").exists(), "{case}: the root's HEAD is left");
    }
    // F2
    let e = repo_env();
    let marker = e.root.join("f2-ran");
    let m = marker.display();
    let script = format!(
        "g=.git/rebase-merge && mkdir $g && git rev-parse HEAD > $g/orig-head && git rev-parse HEAD > $g/onto && \
         git symbolic-ref HEAD > $g/head-name && touch $g/interactive && : > $g/done && echo 1 > $g/msgnum && \
         echo 2 > $g/end && printf 'exec touch {m}\\n' > $g/git-rebase-todo"
    );
    plant_runs_nothing(&e, "F2", &script, &[(".", vec!["rebase", "--continue"])], &marker);
    assert!(!e.ws.join(".git/rebase-merge").exists(), "the rebase state is left where git finds it");
    // F1: an untracked repository with code, and a branch whose commit names
    // it as a gitlink (the index untouched): the host's `git checkout dev`.
    planted_repo_on_dev_runs_nothing("F1", "evil");
    // F4: the same through a submodule's commit that the root's gitlink is
    // moved to: the host's `git submodule update`, then `git status`.
    let e = submodule_env();
    let marker = e.root.join("f4-ran");
    let script = format!(
        "cd lib && {repo} && sub=$({GIT} -C evil rev-parse HEAD) && gd=$({GIT} rev-parse --absolute-git-dir) && \
         export GIT_INDEX_FILE=$gd/tmpidx && {GIT} read-tree HEAD && {GIT} update-index --add --cacheinfo 160000,$sub,evil && \
         c=$({GIT} commit-tree -p HEAD -m bump $({GIT} write-tree)) && rm $gd/tmpidx && unset GIT_INDEX_FILE && \
         {GIT} update-ref refs/tags/v2 $c && cd .. && {GIT} update-index --cacheinfo 160000,$c,lib && {GIT} commit -qm bump",
        repo = fsmonitor_repo("evil", &marker.display().to_string())
    );
    plant_runs_nothing(
        &e,
        "F4",
        &script,
        &[(".", vec!["-c", "protocol.file.allow=always", "submodule", "update"]), (".", vec!["status", "--short"])],
        &marker,
    );
}

/// Review 70: a repository planted in `runs/` at the root (a directory the
/// workspace diff leaves out) that a branch's commit names as a gitlink,
/// for the host's `git checkout` (F1); a rebase todo with an `exec` step
/// and `.git/HEAD` made a FIFO, which hung orchestra's check after the task
/// so that the todo was never judged (F2). Each is `fs.protected` (exit 4),
/// orchestra ends, and the host's git runs nothing.
#[test]
fn plants_of_review_70_run_nothing_at_the_host_git() {
    // F1
    planted_repo_on_dev_runs_nothing("F1", "runs/evil");
    // F2
    let e = repo_env();
    let head = std::fs::read(e.ws.join(".git/HEAD")).unwrap();
    let marker = e.root.join("f2-ran");
    let m = marker.display();
    let script = format!(
        "set -e; g=.git/rebase-merge && mkdir $g && git rev-parse HEAD > $g/orig-head && git rev-parse HEAD > $g/onto && \
         git symbolic-ref HEAD > $g/head-name && touch $g/interactive && : > $g/done && echo 1 > $g/msgnum && \
         echo 2 > $g/end && printf 'exec touch {m}\\n' > $g/git-rebase-todo && rm .git/HEAD && mkfifo .git/HEAD"
    );
    let mut c = e.cmd("default", &[], &["/bin/sh", "-c", &script]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().expect("run orchestra");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(Ok(output)) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("F2: orchestra did not end within 120 s of a task that made .git/HEAD a FIFO");
    };
    let o = crate::harness::Out::with_report(output, Some(&e.root.join("report.json")));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/rebase-merge").exists(), "F2: the rebase state is left where git finds it");
    // The host's user mends HEAD and goes on with the rebase.
    std::fs::remove_file(e.ws.join(".git/HEAD")).unwrap();
    std::fs::write(e.ws.join(".git/HEAD"), head).unwrap();
    let _ = git(&e.ws, &["rebase", "--continue"]);
    assert!(!marker.exists(), "F2: the planted exec step ran at the host's git\n{}", o.all());
}

/// Review 70, F3: a repository one task made plain (exit 0) is given code by
/// a later task, which also writes a branch's commit naming it as a
/// submodule: by its config (a), or by its separate git directory replaced
/// with a copy prepared earlier (on the host here: a task preparing it is
/// caught itself), whose files keep their old ctimes (b). The later task is `fs.protected` (exit 4) and the host's git
/// runs nothing. A repository the user had, with settings a clone does not
/// make, that a build works in with git (status, commit, describe) is left,
/// no violation (c).
#[test]
fn code_given_to_a_repository_an_earlier_task_made_is_fs_protected_and_the_user_s_own_is_left() {
    for case in ["a", "b"] {
        let e = repo_env();
        assert!(git(&e.ws, &["branch", "dev"]).status.success());
        let marker = e.root.join(format!("f3{case}-ran"));
        let m = marker.display();
        let first = match case {
            "a" => {
                format!("mkdir -p t/evil && {GIT} -C t/evil init -q . && {GIT} -C t/evil commit -q --allow-empty -m x")
            }
            _ => format!(
                "mkdir -p t/evil store && {GIT} init -q --separate-git-dir store/gd t/evil && \
                 {GIT} -C t/evil commit -q --allow-empty -m x && cp -a store/gd store/gd2 && \
                 {GIT} --git-dir=store/gd2 config core.fsmonitor 'touch {m}; false #'"
            ),
        };
        if case == "a" {
            let o = e.sh("default", &format!("set -e; {first}"));
            o.assert_ok();
            assert!(o.rules().is_empty(), "{case}: {:?}", o.rules());
        } else {
            // A task preparing a git directory with code is fs.protected
            // itself now (review 71): the copy is prepared on the host.
            host_sh(&e.ws, &first);
        }
        // Older than the next task's start by more than the check's margin.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let second = match case {
            "a" => {
                format!("{GIT} -C t/evil config core.fsmonitor 'touch {m}; false #' && {}", gitlink_on_dev("t/evil"))
            }
            _ => format!("rm -rf store/gd && mv store/gd2 store/gd && {}", gitlink_on_dev("t/evil")),
        };
        plant_runs_nothing(
            &e,
            &format!("F3 {case}"),
            &second,
            &[(".", vec!["checkout", "-q", "dev"]), (".", vec!["status", "--short"])],
            &marker,
        );
        assert!(!e.ws.join("t/evil/.git").exists(), "F3 {case}: the repository's .git is where git finds it");
    }
    // (c)
    let e = repo_env();
    let x = e.ws.join("tools/x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(git(&x, &["init", "-q", "."]).status.success());
    for (k, v) in [("pull.rebase", "true"), ("core.editor", "vi"), ("alias.st", "status")] {
        assert!(git(&x, &["config", k, v]).status.success());
    }
    std::fs::write(x.join("p.txt"), "mine\n").unwrap();
    assert!(git(&x, &["add", "."]).status.success());
    assert!(git(&x, &["commit", "-qm", "mine"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh(
        "default",
        &format!(
            "set -e; cd tools/x && echo more >> p.txt && {GIT} status --short && {GIT} commit -qam build && \
             {GIT} describe --always --dirty && {GIT} gc -q"
        ),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "(c): {:?}", o.rules());
    assert!(x.join(".git/config").is_file(), "(c): the user's repository was moved:\n{}", o.all());
    let log = git(&x, &["log", "--oneline"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 2, "(c): the build's commit is gone");
}

/// `script` run by `sh` on the host in `dir` (what an earlier task left
/// where nothing judged it, e.g. with the workspace diff turned off).
#[track_caller]
fn host_sh(dir: &Path, script: &str) {
    let o = Command::new("sh").arg("-c").arg(format!("set -e; {script}")).current_dir(dir).output().expect("sh");
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Review 76, F2: a hooks directory or a program that the host's own git
/// configuration names relative to the work tree (the user's global
/// `core.hooksPath = .githooks`, a repository's `[diff "conv"] textconv =
/// ./tools/conv`) is code the host's git runs from the workspace. A task
/// writing there is `fs.protected` (exit 4), what it wrote is undone, and
/// the host's `git commit` / `git diff` run nothing; a repository the task
/// makes with such hooks in its work tree is judged the same way. A build
/// that writes elsewhere, or makes a plain repository, is no violation.
#[test]
fn code_the_host_s_own_git_config_names_in_the_work_tree_is_protected() {
    // The host user's git, with the global config of the test's home.
    let host_git =
        |e: &Env, dir: &Path, args: &[&str]| git_cmd(dir, args).env("HOME", &e.home).output().expect("git is required");
    let hook = |path: &str, m: &Path| {
        format!(
            "mkdir -p $(dirname {path}) && printf '#!/bin/sh\\ntouch {}\\n' > {path} && chmod +x {path}",
            m.display()
        )
    };
    // (a) The user's global hooks directory, relative: in the workspace.
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[core]\n\thooksPath = .githooks\n").unwrap();
    let marker = e.root.join("a-ran");
    let o = e.sh("default", &hook(".githooks/pre-commit", &marker));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".githooks/pre-commit").exists(), "(a): the planted hook is left\n{}", o.all());
    let c = host_git(&e, &e.ws, &["commit", "-q", "--allow-empty", "-m", "host"]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    assert!(!marker.exists(), "(a): the host's git commit ran the task's hook\n{}", o.all());
    // (b) The repository's own textconv program, relative.
    let e = repo_env();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/conv"), "#!/bin/sh\ncat \"$1\"\n").unwrap();
    std::fs::set_permissions(e.ws.join("tools/conv"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(e.ws.join(".gitattributes"), "*.bin diff=conv\n").unwrap();
    std::fs::write(e.ws.join("data.bin"), "one\n").unwrap();
    assert!(git(&e.ws, &["add", "."]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "conv"]).status.success());
    assert!(git(&e.ws, &["config", "diff.conv.textconv", "./tools/conv"]).status.success());
    let before = std::fs::read(e.ws.join("tools/conv")).unwrap();
    let marker = e.root.join("b-ran");
    let o = e.sh("default", &format!("echo two >> data.bin && {}", hook("tools/conv", &marker)));
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read(e.ws.join("tools/conv")).unwrap(), before, "(b): the program was changed\n{}", o.all());
    let _ = host_git(&e, &e.ws, &["diff"]);
    assert!(!marker.exists(), "(b): the host's git diff ran the task's program\n{}", o.all());
    // (c) A repository the task makes with hooks where the global setting
    // points, named on `dev`.
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[core]\n\thooksPath = .githooks\n").unwrap();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("c-ran");
    let script = format!(
        "mkdir -p sub && {GIT} -C sub init -q . && {GIT} -C sub commit -q --allow-empty -m x && {} && {}",
        hook("sub/.githooks/post-checkout", &marker),
        gitlink_on_dev("sub")
    );
    let o = e.sh("default", &format!("set -e; {script}"));
    o.assert_violation("fs.protected");
    for args in [vec!["checkout", "-q", "dev"], vec!["submodule", "update", "--init"]] {
        let _ = host_git(&e, &e.ws, &args);
    }
    let _ = host_git(&e, &e.ws.join("sub"), &["checkout", "-q", "HEAD"]);
    assert!(!marker.exists(), "(c): the host's git ran the made repository's hook\n{}", o.all());
    // (d) Review 77, B2: a global difftool's command and a textconv run
    // through an interpreter, each naming a workspace file.
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[difftool \"x\"]\n\tcmd = tools/dt \"$LOCAL\" \"$REMOTE\"\n[diff \"py\"]\n\ttextconv = sh 'tools/conv.sh'\n",
    )
    .unwrap();
    std::fs::write(e.ws.join(".gitattributes"), "README diff=py\n").unwrap();
    assert!(git(&e.ws, &["add", ".gitattributes"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "attrs"]).status.success());
    for (i, file) in ["tools/dt", "tools/conv.sh"].into_iter().enumerate() {
        let marker = e.root.join(format!("d{i}-ran"));
        let o = e.sh("default", &format!("echo more >> README && {}", hook(file, &marker)));
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(file).exists(), "(d): {file} is left\n{}", o.all());
        std::fs::write(e.ws.join("README"), "changed on the host\n").unwrap();
        let _ = host_git(&e, &e.ws, &["difftool", "-y", "-t", "x"]);
        let _ = host_git(&e, &e.ws, &["diff"]);
        assert!(!marker.exists(), "(d): the host's git ran the task's {file}\n{}", o.all());
    }
    // Benign, with the global setting: a build's output and a plain repository.
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[core]\n\thooksPath = .githooks\n").unwrap();
    let o = e.sh(
        "default",
        &format!("set -e; echo built > out; mkdir fixture && {GIT} -C fixture init -q . && {GIT} -C fixture commit -q --allow-empty -m x"),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "benign: {:?}\n{}", o.rules(), o.all());
    assert!(e.ws.join("fixture/.git/HEAD").exists() && e.ws.join("out").exists());
}

/// Review 71: what an earlier step prepared (here on the host) is armed by
/// a task that keeps every time old: a link on the way to a plain
/// repository's git directory retargeted to a copy with code (F1); a
/// repository's hooks directory, a link to the workspace, replaced by a
/// prepared one (F2); a separate git directory's parent, or a `.git`
/// itself, replaced by a copy whose `config` is a hard link to the
/// original and whose hooks hold code (F3); a rebase todo with an `exec`
/// step in a submodule whose `.git` is a directory (F4); a tracked
/// directory made a git directory, which git run there takes for one
/// (F5). Each is `fs.protected` (exit 4) and the host's git runs nothing.
#[test]
fn plants_of_review_71_run_nothing_at_the_host_git() {
    let post_checkout = |dir: &str, m: &Path| {
        format!("printf '#!/bin/sh\\ntouch {}\\n' > {dir}/post-checkout && chmod +x {dir}/post-checkout", m.display())
    };
    let gitlink_with_gitmodules = format!(
        "sub=$({GIT} -C t/evil rev-parse HEAD~1) && export GIT_INDEX_FILE=$PWD/.git/tmpidx && {GIT} read-tree dev && \
         printf '[submodule \"t/evil\"]\\n\\tpath = t/evil\\n\\turl = ./t/evil\\n' > gm && b=$({GIT} hash-object -w gm) && rm gm && \
         {GIT} update-index --add --cacheinfo 100644,$b,.gitmodules --cacheinfo 160000,$sub,t/evil && \
         c=$({GIT} commit-tree -p dev -m bump $({GIT} write-tree)) && {GIT} update-ref refs/heads/dev $c && rm -f .git/tmpidx"
    );
    let host_after = [
        (".", vec!["checkout", "-q", "dev"]),
        (".", vec!["-c", "protocol.file.allow=always", "submodule", "-q", "update", "--init"]),
        (".", vec!["status", "--short"]),
    ];
    let two_commits =
        format!("{GIT} -C t/evil commit -q --allow-empty -m one && {GIT} -C t/evil commit -q --allow-empty -m two");
    for case in ["F1", "F2", "F3", "F3b"] {
        let e = repo_env();
        assert!(git(&e.ws, &["branch", "dev"]).status.success());
        let marker = e.root.join(format!("{case}-ran"));
        let m = marker.display();
        let prepared = match case {
            "F1" => format!(
                "mkdir -p storeA t/evil && ln -s storeA lnk && {GIT} init -q --separate-git-dir $PWD/storeA/gd t/evil && \
                 printf 'gitdir: ../../lnk/gd\\n' > t/evil/.git && {two_commits} && cp -a storeA storeB && \
                 {GIT} --git-dir=storeB/gd config core.fsmonitor 'touch {m}; false #'"
            ),
            "F2" => format!(
                "mkdir -p t/evil hk hk2 && {GIT} -C t/evil init -q . && mv t/evil/.git/hooks/* hk/ && rmdir t/evil/.git/hooks && \
                 ln -s ../../../hk t/evil/.git/hooks && {two_commits} && {}",
                post_checkout("hk2", &marker)
            ),
            "F3" => format!(
                "mkdir -p store t/evil prep && {GIT} init -q --separate-git-dir $PWD/store/gd t/evil && {two_commits} && \
                 cp -a store/gd prep/gd && rm prep/gd/config && ln store/gd/config prep/gd/config && {}",
                post_checkout("prep/gd/hooks", &marker)
            ),
            _ => format!(
                "mkdir -p t/evil prep && {GIT} -C t/evil init -q . && {two_commits} && cp -a t/evil/.git prep/gd && \
                 rm prep/gd/config && ln t/evil/.git/config prep/gd/config && {}",
                post_checkout("prep/gd/hooks", &marker)
            ),
        };
        host_sh(&e.ws, &prepared);
        // Older than the task's start by more than any margin.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let arm = match case {
            "F1" => "ln -sfn storeB lnk",
            "F2" => "mv hk hk.old && mv hk2 hk",
            "F3" => "mv store store.old && mv prep store",
            _ => "mv t/evil/.git old.git && mv prep/gd t/evil/.git",
        };
        plant_runs_nothing(&e, case, &format!("{arm} && {gitlink_with_gitmodules}"), &host_after, &marker);
    }
    // F4
    let e = repo_env();
    let sub = e.ws.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    assert!(git(&sub, &["init", "-q", "."]).status.success());
    assert!(git(&sub, &["commit", "-q", "--allow-empty", "-m", "one"]).status.success());
    assert!(git(&sub, &["commit", "-q", "--allow-empty", "-m", "two"]).status.success());
    assert!(git(&e.ws, &["add", "sub"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "sub"]).status.success());
    let marker = e.root.join("F4-ran");
    let script = format!(
        "cd sub && GIT_SEQUENCE_EDITOR='printf \"break\\nexec touch {}\\n\" >' {GIT} rebase -q -i HEAD~1 2>/dev/null; \
         grep -q exec .git/rebase-merge/git-rebase-todo",
        marker.display()
    );
    plant_runs_nothing(&e, "F4", &script, &[("sub", vec!["rebase", "--continue"])], &marker);
    assert!(!sub.join(".git/rebase-merge").exists(), "F4: the rebase state is where git finds it");
    // F5
    let e = repo_env();
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/m.c"), "int m;\n").unwrap();
    assert!(git(&e.ws, &["add", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let marker = e.root.join("F5-ran");
    let script = format!(
        "cd src && mkdir -p objects refs/heads && echo 'ref: refs/heads/main' > HEAD && \
         printf '[core]\\n\\tbare = false\\n\\tworktree = .\\n\\tfsmonitor = touch {}; false #\\n' > config",
        marker.display()
    );
    plant_runs_nothing(&e, "F5", &script, &[("src", vec!["status", "--short"])], &marker);
    assert!(!e.ws.join("src/HEAD").exists(), "F5: src is still a git directory");
    assert!(e.ws.join("src/m.c").exists(), "F5: the tracked file is gone");
}

/// Review 72: a tracked directory made a plain bare-form git directory by
/// one task (left: nothing planted) and given a hook by the next, which
/// the host's `git commit` there runs (F1); a plain repository whose
/// `.git/modules/sub` holds a hook, named on `dev` (F2); a `gitdir:` that
/// climbs above the workspace root and comes back in, its git directory
/// swapped by a rename (F3). Each is `fs.protected` and the host's git
/// runs nothing.
#[test]
fn plants_of_review_72_run_nothing_at_the_host_git() {
    let hook =
        |path: &str, m: &Path| format!("printf '#!/bin/sh\\ntouch {}\\n' > {path} && chmod +x {path}", m.display());
    // F1
    let e = repo_env();
    std::fs::create_dir_all(e.ws.join("docs")).unwrap();
    std::fs::write(e.ws.join("docs/guide.md"), "guide\n").unwrap();
    assert!(git(&e.ws, &["add", "docs"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "docs"]).status.success());
    let o = e.sh(
        "default",
        "cd docs && printf 'ref: refs/heads/main\\n' > HEAD && mkdir objects refs && \
         printf '[core]\\n\\trepositoryformatversion = 0\\n\\tworktree = .\\n' > config",
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "F1, a plain one: {:?}", o.rules());
    let marker = e.root.join("F1-ran");
    std::fs::write(e.ws.join("docs/guide.md"), "guide, edited\n").unwrap();
    plant_runs_nothing(
        &e,
        "F1",
        &format!("mkdir -p docs/hooks && {}", hook("docs/hooks/pre-commit", &marker)),
        &[("docs", vec!["commit", "-qam", "edit docs"])],
        &marker,
    );
    assert!(!e.ws.join("docs/HEAD").exists(), "F1: docs is still a git directory");
    // F2
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F2-ran");
    let script = format!(
        "{GIT} init -q /tmp/s && echo s > /tmp/s/f && {GIT} -C /tmp/s add f && {GIT} -C /tmp/s commit -qm s && \
         {GIT} init -q X && cd X && echo x > x && {GIT} add x && {GIT} -c protocol.file.allow=always submodule add -q /tmp/s sub && \
         {GIT} commit -qm x && {GIT} submodule absorbgitdirs 2>/dev/null && {} && rm -rf sub && cd .. && {}",
        hook(".git/modules/sub/hooks/post-checkout", &marker),
        gitlink_on_dev("X")
    );
    plant_runs_nothing(
        &e,
        "F2",
        &script,
        &[
            (".", vec!["checkout", "-q", "dev"]),
            (".", vec!["-c", "protocol.file.allow=always", "submodule", "-q", "update", "--init", "--recursive"]),
        ],
        &marker,
    );
    // F3: prepared on the host (a task preparing it is caught itself).
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F3-ran");
    let name = e.ws.canonicalize().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    host_sh(
        &e.ws,
        &format!(
            "{GIT} init -q store && {GIT} init -q --separate-git-dir=$PWD/store/.git/p W && echo w > W/w && \
             {GIT} -C W add w && {GIT} -C W commit -qm w && printf 'gitdir: ../../{name}/store/.git/p\\n' > W/.git && \
             cp -a store/.git/p store/.git/y && rm -f store/.git/y/hooks/* && \
             printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = \"touch {}; false\"\\n' > store/.git/y/config && {}",
            marker.display(),
            gitlink_on_dev("W")
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    plant_runs_nothing(
        &e,
        "F3",
        "cd store/.git && mv p p.old && mv y p",
        &[(".", vec!["checkout", "-q", "dev"]), (".", vec!["status", "--short"])],
        &marker,
    );
}

/// Review 73: a repository made with `protocol.allow` and an `ext::` URL,
/// which the host's `git submodule update` fetches from (F1); a rebase
/// stopped with a merge strategy holding a `/`, which the host's `git
/// rebase --continue` runs from the work tree (F2); a plain repository's
/// hooks directory a link into `runs/`, which the diff leaves out, given a
/// hook by a later task (F3); a nested repository's `rebase-merge` a link
/// to a todo with an `exec` step (F4). Each is `fs.protected` and the
/// host's git runs nothing.
#[test]
fn plants_of_review_73_run_nothing_at_the_host_git() {
    // F1
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F1-ran");
    let script = format!(
        "{GIT} init -q sub && {GIT} -C sub commit -q --allow-empty -m s && {GIT} -C sub config protocol.allow always && \
         {GIT} -C sub config remote.origin.url 'ext::sh -c touch% {}' && \
         {GIT} -C sub config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*' && \
         printf '[submodule \"sub\"]\\n\\tpath = sub\\n\\turl = ./sub\\n' > gm && b=$({GIT} hash-object -w gm) && rm gm && \
         export GIT_INDEX_FILE=$PWD/.git/tmpidx && {GIT} read-tree dev && {GIT} update-index --add --cacheinfo 100644,$b,.gitmodules && \
         {GIT} update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,sub && \
         c=$({GIT} commit-tree -p dev -m bump $({GIT} write-tree)) && {GIT} update-ref refs/heads/dev $c && rm -f .git/tmpidx",
        marker.display()
    );
    plant_runs_nothing(
        &e,
        "F1",
        &script,
        &[(".", vec!["checkout", "-q", "dev"]), (".", vec!["submodule", "-q", "update", "--init", "--recursive"])],
        &marker,
    );
    // F2
    let e = repo_env();
    let marker = e.root.join("F2-ran");
    let script = format!(
        "echo a > a && {GIT} add a && {GIT} commit -qm a && echo b > b && {GIT} add b && {GIT} commit -qm b && \
         GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' {GIT} rebase -q -i HEAD~2 && {GIT} commit -q --amend -m a2 && \
         mkdir git-merge-x && printf '#!/bin/sh\\ntouch {}\\nexit 1\\n' > evil && chmod +x evil && \
         echo 'x/../evil' > .git/rebase-merge/strategy",
        marker.display()
    );
    plant_runs_nothing(&e, "F2", &script, &[(".", vec!["rebase", "--continue"])], &marker);
    // F3
    let e = repo_env();
    let marker = e.root.join("F3-ran");
    let o = e.sh(
        "default",
        &format!(
            "set -e; {GIT} init -q sub && mkdir -p runs/h && mv sub/.git/hooks/pre-commit.sample runs/h/ && \
             rm -rf sub/.git/hooks && ln -s ../../runs/h sub/.git/hooks"
        ),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "F3, a plain repository: {:?}", o.rules());
    plant_runs_nothing(
        &e,
        "F3",
        &format!(
            "printf '#!/bin/sh\\ntouch {}\\n' > runs/h/pre-commit && chmod +x runs/h/pre-commit",
            marker.display()
        ),
        &[("sub", vec!["commit", "-q", "--allow-empty", "-m", "x"])],
        &marker,
    );
    // F4
    let e = repo_env();
    let marker = e.root.join("F4-ran");
    let script = format!(
        "{GIT} init -q sub && cd sub && echo a > a && {GIT} add a && {GIT} commit -qm a && echo b > b && {GIT} add b && \
         {GIT} commit -qm b && GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' {GIT} rebase -q -i HEAD~1 && \
         mv .git/rebase-merge ../state && ln -s ../../state .git/rebase-merge && printf 'exec touch {}\\n' > ../state/git-rebase-todo",
        marker.display()
    );
    plant_runs_nothing(&e, "F4", &script, &[("sub", vec!["rebase", "--continue"])], &marker);
}

/// Review 74: a remote the task adds to a config with none, which the
/// host's bare `git fetch`/`push` would pick (F1); a legacy
/// `.git/remotes/origin`, which git reads as a remote (F2); a bare
/// repository with a hook made below the root's `.git`, reached by a bare
/// `git push` through such a file (F3) or through a remote the task added
/// (F4). Each is `fs.protected`; the config is as it was and the host's
/// push runs nothing.
#[test]
fn plants_of_review_74_run_nothing_at_the_host_git() {
    let hook = |dir: &str, m: &Path| {
        format!(
            "printf '#!/bin/sh\\ntouch {}\\n' > {dir}/hooks/pre-receive && chmod +x {dir}/hooks/pre-receive",
            m.display()
        )
    };
    // F1
    let e = repo_env();
    let config = std::fs::read(e.ws.join(".git/config")).unwrap();
    let elsewhere = e.root.join("elsewhere.git");
    assert!(git(&e.root, &["init", "-q", "--bare", elsewhere.to_str().unwrap()]).status.success());
    let o = e.sh("default", &format!("{GIT} remote add up {}", elsewhere.display()));
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read(e.ws.join(".git/config")).unwrap(), config, "F1: the config changed");
    for name in ["origin", "up"] {
        let o = e.sh("default", &format!("{GIT} remote add {name} {}", elsewhere.display()));
        o.assert_violation("fs.protected");
    }
    // With a remote it had, a second one is added (the bare commands keep going where they went).
    assert!(git(&e.ws, &["remote", "add", "origin", elsewhere.to_str().unwrap()]).status.success());
    let o = e.sh("default", &format!("{GIT} remote add up {}", elsewhere.display()));
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    let o = e.sh("default", &format!("{GIT} remote add origin2 {} && {GIT} remote remove origin", elsewhere.display()));
    o.assert_violation("fs.protected");
    // F2
    let e = repo_env();
    let o = e.sh(
        "default",
        &format!("mkdir -p .git/remotes && printf 'URL: {}\\nPush: refs/heads/master:refs/heads/stolen\\n' > .git/remotes/origin", elsewhere.display()),
    );
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/remotes/origin").exists(), "F2: the legacy remote file is left");
    let o = e.sh("default", &format!("mkdir -p .git/branches && echo {} > .git/branches/origin", elsewhere.display()));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".git/branches/origin").exists(), "F2: the legacy branches file is left");
    // F3
    let e = repo_env();
    let marker = e.root.join("F3-ran");
    let script = format!(
        "{GIT} init -q --bare .git/x.git && {} && mkdir -p .git/remotes && \
         printf 'URL: %s/.git/x.git\\nPush: refs/heads/master:refs/heads/master\\n' $PWD > .git/remotes/origin",
        hook(".git/x.git", &marker)
    );
    plant_runs_nothing(&e, "F3", &script, &[(".", vec!["push"])], &marker);
    // F4
    let e = repo_env();
    assert!(git(&e.ws, &["remote", "add", "origin", elsewhere.to_str().unwrap()]).status.success());
    let marker = e.root.join("F4-ran");
    let script = format!(
        "{GIT} init -q --bare .git/refs/x.git && {} && {GIT} remote add evil $PWD/.git/refs/x.git",
        hook(".git/refs/x.git", &marker)
    );
    plant_runs_nothing(&e, "F4", &script, &[(".", vec!["push", "evil", "HEAD:refs/heads/x"])], &marker);
}

/// Review 75: a second section header on a config line, which git reads
/// and the plain-config reader did not: `[advice] [core] fsmonitor = …` in
/// a repository named on `dev` (F1), `[x] [options] strategy = …` in a
/// cherry-pick's `sequencer/opts` (F2); a rebase's strategy file read as
/// config because it began with `[` (F3). Each is `fs.protected` and the
/// host's git runs nothing.
#[test]
fn plants_of_review_75_run_nothing_at_the_host_git() {
    let evil = |m: &Path| format!("printf '#!/bin/sh\\ntouch {}\\n' > evil && chmod +x evil", m.display());
    // F1
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F1-ran");
    let script = format!(
        "{GIT} init -q evil && {GIT} -C evil commit -q --allow-empty -m x && \
         printf '[advice] [core] fsmonitor = \"touch {}; false\"\\n' >> evil/.git/config && {}",
        marker.display(),
        gitlink_on_dev("evil")
    );
    plant_runs_nothing(
        &e,
        "F1",
        &script,
        &[(".", vec!["checkout", "-q", "dev"]), (".", vec!["status", "--short"])],
        &marker,
    );
    // F2
    let e = repo_env();
    let marker = e.root.join("F2-ran");
    let script = format!(
        "mkdir git-merge-x && {} && echo a >> README && {GIT} commit -qam c2 && c2=$({GIT} rev-parse HEAD) && \
         {GIT} reset -q --hard HEAD~1 && h=$({GIT} rev-parse HEAD) && mkdir .git/sequencer && echo $h > .git/sequencer/head && \
         echo $h > .git/sequencer/abort-safety && printf 'pick %s c2\\npick %s c2\\n' $c2 $c2 > .git/sequencer/todo && \
         printf '[x] [options] strategy = x/../evil\\n' > .git/sequencer/opts",
        evil(&marker)
    );
    plant_runs_nothing(&e, "F2", &script, &[(".", vec!["cherry-pick", "--continue"])], &marker);
    // F3
    let e = repo_env();
    let marker = e.root.join("F3-ran");
    let script = format!(
        "mkdir 'git-merge-[a]' && {} && base=$({GIT} rev-parse HEAD) && echo a >> README && {GIT} commit -qam c1 && \
         echo b > B && {GIT} add B && {GIT} commit -qm c2 && c2=$({GIT} rev-parse HEAD) && \
         GIT_SEQUENCE_EDITOR=\"printf 'break\\npick $c2 c2\\n' >\" {GIT} rebase -q -i $base >/dev/null 2>&1; \
         printf '[a]/../evil\\n' > .git/rebase-merge/strategy",
        evil(&marker)
    );
    plant_runs_nothing(&e, "F3", &script, &[(".", vec!["rebase", "--continue"])], &marker);
}

/// Git directories a build or a test fixture makes, with nothing planted,
/// are no violation: a bare repository to push to, a mirror clone, a
/// fixture with the settings tests set, a work tree of a repository the
/// build made, partial, sparse and tagless clones, shared repositories
/// (false exit 4s reviews 71 and 72 found).
#[test]
fn git_directories_builds_make_with_nothing_planted_are_no_violation() {
    let e = repo_env();
    let script = format!(
        "set -e; {GIT} init -q --bare fixtures/remote.git && {GIT} push -q fixtures/remote.git HEAD:refs/heads/main && \
         {GIT} clone -q --mirror fixtures/remote.git fixtures/mirror.git && \
         {GIT} init -q t/fx && for kv in 'commit.gpgsign false' 'pull.rebase true' 'gc.auto 0' 'init.defaultBranch main' \
         'core.autocrlf false' 'submodule.recurse true' 'core.untrackedCache true' 'index.version 4' \
         'uploadpack.allowFilter true' 'http.receivepack true' 'merge.conflictStyle diff3' 'rerere.enabled true' \
         'blame.ignoreRevsFile .git-blame-ignore-revs' 'diff.renames copies' 'remote.origin.url ../up' \
         'remote.origin.pushurl ../up-push'; do \
         {GIT} -C t/fx config $kv; done && {GIT} -C t/fx commit -q --allow-empty -m x && {GIT} -C t/fx worktree add -q ../fx-wt && \
         {GIT} commit -q --allow-empty -m y && {GIT} clone -q --filter=blob:none file://$PWD vendor/partial && \
         {GIT} clone -q --sparse file://$PWD vendor/sparse && {GIT} clone -q --no-tags file://$PWD vendor/notags && \
         {GIT} init -q --shared=group fixtures/shared && {GIT} init -q --bare --shared fixtures/shared.git"
    );
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    for d in [
        "fixtures/remote.git/HEAD",
        "fixtures/mirror.git/HEAD",
        "t/fx/.git",
        "t/fx-wt/.git",
        "vendor/partial/.git",
        "vendor/sparse/.git",
        "vendor/notags/.git",
        "fixtures/shared/.git",
        "fixtures/shared.git/HEAD",
    ] {
        assert!(e.ws.join(d).exists(), "{d} is gone:\n{}", o.all());
    }
}

/// Repositories a build makes outside any index, with nothing planted, are
/// no violation: a test fixture's `git init` with a user name, a clone with
/// its submodules into a subdirectory, a submodule added in a nested
/// repository, a linked work tree in a tracked directory.
#[test]
fn repositories_a_build_makes_with_nothing_planted_are_no_violation() {
    let e = repo_env();
    std::fs::create_dir_all(e.ws.join("src")).unwrap();
    std::fs::write(e.ws.join("src/m.c"), "int m;\n").unwrap();
    assert!(git(&e.ws, &["add", "src"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let file = "-c protocol.file.allow=always";
    let script = format!(
        "mkdir -p fixture/repo && cd fixture/repo && git init -q . && git config user.email t@example.org && \
         git config user.name t && git commit -q --allow-empty -m x && cd ../.. && \
         mkdir -p t && {GIT} init -q t/B && {GIT} -C t/B commit -q --allow-empty -m b && {GIT} init -q t/A && \
         {GIT} -C t/A {file} submodule -q add $PWD/t/B bsub && {GIT} -C t/A commit -qm a && \
         {GIT} {file} clone -q --recurse-submodules $PWD/t/A vendor/copy && {GIT} worktree add -q src/wt"
    );
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    for d in ["fixture/repo", "t/A", "vendor/copy", "vendor/copy/bsub", "src/wt"] {
        assert!(e.ws.join(d).join(".git").exists(), "{d}/.git is gone");
    }
}

/// Review 69, B1 (a false exit 4 that deleted a clone the user had): a
/// build's `git add -A` registers an untracked clone that was in the
/// workspace before the task (its own config, an unpushed commit) as a
/// gitlink. Its code is the user's own, untouched during the task: exit 0,
/// no violation, the clone and its commit kept. A rebase run to its end
/// with `--exec` is no violation either.
#[test]
fn a_clone_the_user_had_that_a_build_adds_as_a_gitlink_is_kept_and_no_violation() {
    let e = repo_env();
    let x = e.ws.join("tools/x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(git(&x, &["init", "-q", "."]).status.success());
    assert!(git(&x, &["config", "user.email", "me@example.org"]).status.success());
    std::fs::write(x.join("p.txt"), "precious\n").unwrap();
    assert!(git(&x, &["add", "."]).status.success());
    assert!(git(&x, &["commit", "-qm", "unpushed work"]).status.success());
    let head = git(&x, &["rev-parse", "HEAD"]).stdout;
    // Older than the task's start by more than the check's margin.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh("default", &format!("echo v2 > README && {GIT} add -A 2>/dev/null && {GIT} commit -qm build"));
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
    assert!(x.join(".git").is_dir(), "the clone's .git is gone:\n{}", o.all());
    assert_eq!(git(&x, &["rev-parse", "HEAD"]).stdout, head);
    // The same with code planted in a clone the user had: fs.protected, and
    // its .git put aside (its commits kept), not removed.
    let y = e.ws.join("tools/y");
    std::fs::create_dir_all(&y).unwrap();
    assert!(git(&y, &["init", "-q", "."]).status.success());
    assert!(git(&y, &["commit", "-q", "--allow-empty", "-m", "unpushed"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let marker = e.root.join("y-ran");
    let o = e.sh(
        "default",
        &format!(
            "{GIT} -C tools/y config core.fsmonitor 'touch {}; false #' && {GIT} add tools/y 2>/dev/null",
            marker.display()
        ),
    );
    o.assert_violation("fs.protected");
    assert!(!y.join(".git").exists(), "the planted .git is where git finds it");
    let aside: Vec<_> = std::fs::read_dir(&y).unwrap().flatten().filter(|d| d.file_name() != "p.txt").collect();
    assert!(
        aside.iter().any(|d| d.file_name().to_string_lossy().starts_with(".git.removed-by-orchestra")),
        "{aside:?}"
    );
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "the planted fsmonitor ran at the host's git status");
    let o = e.sh(
        "default",
        &format!("echo a > a && {GIT} add a && {GIT} commit -qm a && GIT_SEQUENCE_EDITOR=true {GIT} rebase -q -i --exec true HEAD~1"),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}", o.rules());
}

/// A repository in the workspace with a remote `origin` (branches `main`
/// and `feat`), fetched: what a clone an agent works in looks like.
fn remote_env() -> Env {
    let e = repo_env();
    let up = e.root.join("up");
    std::fs::create_dir_all(&up).unwrap();
    assert!(git(&up, &["init", "-q", "-b", "main", "."]).status.success());
    assert!(git(&up, &["commit", "-q", "--allow-empty", "-m", "u"]).status.success());
    assert!(git(&up, &["branch", "feat"]).status.success());
    assert!(git(&e.ws, &["remote", "add", "origin", up.to_str().unwrap()]).status.success());
    assert!(git(&e.ws, &["fetch", "-q", "origin"]).status.success());
    e
}

/// The host's `git config --get name` in `e`'s workspace.
fn host_config(e: &Env, name: &str) -> String {
    String::from_utf8_lossy(&git(&e.ws, &["config", "--get", name]).stdout).trim().to_string()
}

/// Git's changes of `.git/config` that only name branches' upstreams and
/// remotes (`git checkout -b x origin/x`, `git branch -u`, `git remote
/// add`, `git switch -c --track`) are made for the task by the supervisor:
/// exit 0, no violation, and the host's git sees them.
#[test]
fn branch_upstreams_and_new_remotes_written_by_git_are_no_violation_and_stay() {
    let e = remote_env();
    for script in [
        format!("{GIT} checkout -q -b feat origin/feat"),
        format!("{GIT} branch -q -u origin/main"),
        format!("{GIT} remote add up2 /some/path"),
        format!("{GIT} switch -q -c y --track origin/feat"),
        format!("{GIT} branch -q --track loc master"),
    ] {
        let o = e.sh("default", &script);
        o.assert_ok();
        assert!(o.rules().is_empty(), "`{script}`: {:?}\n{}", o.rules(), o.all());
        assert!(!e.ws.join(".git/config.lock").exists(), "`{script}` left its lock");
    }
    assert_eq!(host_config(&e, "branch.feat.remote"), "origin");
    assert_eq!(host_config(&e, "branch.feat.merge"), "refs/heads/main", "git branch -u");
    assert_eq!(host_config(&e, "remote.up2.url"), "/some/path");
    assert_eq!(host_config(&e, "remote.up2.fetch"), "+refs/heads/*:refs/remotes/up2/*");
    assert_eq!(host_config(&e, "branch.y.merge"), "refs/heads/feat");
    assert_eq!(host_config(&e, "branch.loc.remote"), ".", "the repository itself");
    let head = git(&e.ws, &["rev-parse", "--abbrev-ref", "HEAD"]);
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), "y");
}

/// A change of `.git/config` that adds anything but branch upstreams and
/// remotes' places, written by hand as git writes (`config.lock`, then a
/// rename), is `fs.protected` (exit 4): the config stays byte for byte as
/// it was and nothing planted runs at the host's next git.
#[test]
fn a_config_change_carrying_anything_else_is_refused_whole_and_runs_nothing() {
    let cases = [
        (
            "fsmonitor",
            "[branch \"feat\"]\n\tremote = origin\n\tmerge = refs/heads/feat\n[core]\n\tfsmonitor = touch {m}\n",
        ),
        ("uploadpack", "[remote \"x\"]\n\turl = /tmp\n\tuploadpack = touch {m}; git-upload-pack\n"),
        ("ext url", "[remote \"x\"]\n\turl = ext::sh -c touch% {m}\n"),
        ("include", "[include]\n\tpath = ../attack.cfg\n"),
        ("continued line", "[branch \"feat\"]\n\tremote = origin \\\n\n[core]\n\tfsmonitor = touch {m}\n"),
        ("escaped header", "[branch \"a\\\"] [core\"]\n\tfsmonitor = touch {m}\n"),
        ("deprecated form", "[branch.feat]\n\tremote = origin\n"),
        ("alias", "[branch \"feat\"]\n\tremote = origin\n[alias]\n\tst = !touch {m}\n"),
    ];
    for (case, text) in cases {
        let e = remote_env();
        let marker = e.root.join("planted-ran");
        let m = marker.display().to_string();
        std::fs::write(e.ws.join("attack"), text.replace("{m}", &m)).unwrap();
        std::fs::write(e.ws.join("attack.cfg"), format!("[core]\n\tfsmonitor = touch {m}\n")).unwrap();
        let before = std::fs::read(e.ws.join(".git/config")).unwrap();
        let o = e.sh(
            "default",
            "cp .git/config .git/config.lock && cat attack >> .git/config.lock && \
             perl -e 'rename q(.git/config.lock), q(.git/config) or die qq($!\\n)'",
        );
        o.assert_violation("fs.protected");
        assert!(o.all().contains("a change of a git config a task may not make"), "{case}: {}", o.all());
        assert_eq!(std::fs::read(e.ws.join(".git/config")).unwrap(), before, "{case}: .git/config changed");
        let _ = git(&e.ws, &["status"]);
        let _ = git(&e.ws, &["fetch", "-q", "--all"]);
        host_git_runs_nothing(&e, &marker);
        assert!(!marker.exists(), "{case}: the planted command ran");
    }
}

/// The supervisor replaces a protected config whole, by a rename of a new
/// file it wrote and synced, never truncating the old one in place (a
/// supervisor killed mid-write left the user's remotes lost); where the jail
/// binds the config read-only, it binds the new file again: later git
/// commands of the same task see the change, and the config stays read-only
/// to the task.
#[test]
fn a_config_change_replaces_the_file_whole_and_the_task_sees_it_read_only() {
    use std::os::unix::fs::MetadataExt as _;
    let e = remote_env();
    let cfg = e.ws.join(".git/config");
    let before = std::fs::metadata(&cfg).unwrap();
    // Held open, the old file keeps its inode (no reuse) and shows whether it was written.
    let held = std::fs::File::open(&cfg).unwrap();
    let old = std::fs::read(&cfg).unwrap();
    let o = e.sh(
        "default",
        &format!(
            "{GIT} checkout -q -b feat origin/feat && {GIT} config --get branch.feat.remote && \
             {GIT} remote add up2 /some/path && {GIT} config --get branch.feat.merge && \
             {GIT} config --get remote.up2.url && if test -w .git/config; then echo WRITABLE; fi"
        ),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.all());
    assert_eq!(o.stdout.trim(), "origin\nrefs/heads/feat\n/some/path", "{}", o.all());
    let after = std::fs::metadata(&cfg).unwrap();
    assert_ne!(after.ino(), before.ino(), "the config was written in place");
    assert_eq!(std::io::read_to_string(held).unwrap().as_bytes(), old, "the old file was written");
    assert_eq!(after.mode(), before.mode());
    assert_eq!(host_config(&e, "branch.feat.merge"), "refs/heads/feat");
    assert_eq!(host_config(&e, "remote.up2.url"), "/some/path");
    let stray: Vec<_> = std::fs::read_dir(e.ws.join(".git"))
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("config.") || n.contains("orchestra"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// No task redirects where the host's later `git fetch`, `pull` or `push`
/// go (around its own network policy): the URLs of a remote the config had
/// are never changed, added to or removed, and a branch may track only a
/// remote the config had, never one the task added, even in two steps.
/// Each is `fs.protected` (exit 4), and the host's config still names the
/// places it named.
#[test]
fn a_task_cannot_redirect_an_existing_remote_or_track_a_remote_it_added() {
    let cases = [
        ("set-url", format!("{GIT} remote set-url origin /elsewhere"), "remote.origin.url may not be changed"),
        (
            "set-url --add",
            format!("{GIT} remote set-url --add origin /elsewhere"),
            "remote.origin.url may not be changed",
        ),
        (
            "pushurl",
            format!("{GIT} remote set-url --push origin /elsewhere"),
            "remote.origin.pushurl may not be changed",
        ),
        ("remove", format!("{GIT} remote remove origin"), "remote.origin.url may not be changed"),
        (
            "track an added remote",
            format!(
                "{GIT} remote add evil /elsewhere && {GIT} update-ref refs/remotes/evil/main HEAD && \
                 {GIT} branch -u evil/main"
            ),
            "branch.master.remote: names no remote the config had",
        ),
        (
            "by hand",
            format!("{GIT} remote add evil /elsewhere && {GIT} config branch.master.remote evil"),
            "branch.master.remote: names no remote the config had",
        ),
        (
            "a URL",
            format!("{GIT} config branch.master.remote /elsewhere"),
            "branch.master.remote: names no remote the config had",
        ),
    ];
    for (case, script, why) in cases {
        let e = remote_env();
        let origin = host_config(&e, "remote.origin.url");
        let before = std::fs::read(e.ws.join(".git/config")).unwrap();
        let o = e.sh("default", &script);
        o.assert_violation("fs.protected");
        assert!(o.all().contains(why), "{case}: {}", o.all());
        let all = |name: &str| String::from_utf8_lossy(&git(&e.ws, &["config", "--get-all", name]).stdout).into_owned();
        assert_eq!(all("remote.origin.url").trim(), origin, "{case}");
        assert_eq!(all("remote.origin.pushurl"), "", "{case}");
        assert_eq!(all("branch.master.remote"), "", "{case}");
        if !script.contains("remote add") {
            assert_eq!(std::fs::read(e.ws.join(".git/config")).unwrap(), before, "{case}: .git/config changed");
        }
        assert!(!e.ws.join(".git/config.lock").exists() || case != "set-url", "{case}");
    }
}

/// A submodule's config changed as the supervisor allows (`git -C lib
/// checkout -b feat origin/<default>`, `git -C lib remote add`) is no
/// violation after the task either: the survey of submodules judges a
/// module config's change as the supervisor does, and leaves the
/// submodule's `.git` where it is.
#[test]
fn a_submodule_config_changed_as_allowed_is_no_violation_and_the_submodule_stays() {
    let e = submodule_env();
    let lib = e.ws.join("lib");
    let up = git(&lib, &["rev-parse", "--abbrev-ref", "origin/HEAD"]);
    let up = String::from_utf8_lossy(&up.stdout).trim().to_string();
    assert!(up.starts_with("origin/"), "{up}");
    let pointer = std::fs::read(lib.join(".git")).unwrap();
    let o = e.sh(
        "default",
        &format!(
            "{GIT} -C lib checkout -q -b feat {up} && {GIT} -C lib remote add up2 /some/path && {GIT} status --short"
        ),
    );
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.all());
    assert_eq!(std::fs::read(lib.join(".git")).unwrap(), pointer, "the submodule's .git was put aside");
    let get = |name: &str| String::from_utf8_lossy(&git(&lib, &["config", "--get", name]).stdout).trim().to_string();
    assert_eq!(get("branch.feat.remote"), "origin");
    assert_eq!(get("remote.up2.url"), "/some/path");
    let head = git(&lib, &["rev-parse", "--abbrev-ref", "HEAD"]);
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), "feat");
}

/// A user the tests run the task and the host's git as: only a user meets
/// the modes of its own directories (root lists any).
const NOBODY: u32 = 65534;

/// [`repo_env`] whose files belong to [`NOBODY`], orchestra run as it.
fn repo_env_as_nobody() -> Env {
    let mut e = repo_env();
    chown_tree(&e.root, NOBODY);
    e.run_as = Some(NOBODY);
    e
}

/// The host's git as [`NOBODY`] in `dir` (its own home: no config of root's).
fn git_as_nobody(e: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt as _;
    Command::new("git")
        .args(["-c", "user.email=h@example.org", "-c", "user.name=h", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .env("HOME", &e.home)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("git is required")
}

/// The permission bits of `p`.
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Review 76: a directory the task leaves unlistable to its owner (mode
/// `0300`; root ignores modes, so this runs as a user) hid the repository
/// below it from the check, while the host's git, which needs search alone,
/// used it: made in it and named on `dev` (F1, canaries on and off), made
/// in a directory an earlier task left unlistable (F1b), a user's clone
/// whose `.git` an earlier task left unlistable armed in place (F1c); a
/// directory of another owner's orchestra cannot list but git can search
/// (F1d). And 11,000 `.git` entries filling the bound before an armed
/// repository (F3: empty `.git` files are no repositories; directories are
/// counted, and the one past the bound is disarmed unjudged). Each is
/// `fs.protected` (exit 4) and the host's git runs nothing.
#[test]
fn plants_of_review_76_run_nothing_at_the_host_git() {
    let on_dev = |e: &Env, marker: &Path| {
        let _ = git_as_nobody(e, &e.ws, &["checkout", "-q", "dev"]);
        let _ = git_as_nobody(e, &e.ws, &["status", "--short"]);
        assert!(!marker.exists(), "the planted code ran at the host's git");
    };
    // F1, with canaries (the default) and without.
    for policy in ["default", "nocanary"] {
        let e = repo_env_as_nobody();
        assert!(git(&e.ws, &["branch", "dev"]).status.success());
        let policy = if policy == "default" { policy.to_string() } else { e.policy(policy, "canaries: false\n") };
        let marker = e.root.join("F1-ran");
        chown_tree(&e.root, NOBODY);
        let script = format!(
            "set -e; {} && {} && chmod 0300 d",
            fsmonitor_repo("d/evil", &marker.display().to_string()),
            gitlink_on_dev("d/evil")
        );
        let o = e.sh(&policy, &script);
        o.assert_violation("fs.protected");
        on_dev(&e, &marker);
        assert_eq!(mode_of(&e.ws.join("d")), 0o300, "F1: the mode the task left is put back");
    }
    // F1b
    let e = repo_env_as_nobody();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    chown_tree(&e.root, NOBODY);
    let marker = e.root.join("F1b-ran");
    e.sh("default", "mkdir -p d/x && chmod 0300 d").assert_ok();
    let script = format!(
        "set -e; cd d/x && {} && cd ../.. && {}",
        fsmonitor_repo("evil", &marker.display().to_string()),
        gitlink_on_dev("d/x/evil")
    );
    e.sh("default", &script).assert_violation("fs.protected");
    on_dev(&e, &marker);
    // F1c
    let e = repo_env_as_nobody();
    let clone = e.ws.join("tools/x");
    std::fs::create_dir_all(&clone).unwrap();
    assert!(git(&clone, &["init", "-q", "."]).status.success());
    assert!(git(&clone, &["commit", "-q", "--allow-empty", "-m", "mine"]).status.success());
    chown_tree(&e.root, NOBODY);
    let marker = e.root.join("F1c-ran");
    e.sh("default", "chmod 0300 tools/x/.git").assert_ok();
    let o = e.sh(
        "default",
        &format!("printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' >> tools/x/.git/config", marker.display()),
    );
    o.assert_violation("fs.protected");
    let _ = git_as_nobody(&e, &clone, &["status", "--short"]);
    assert!(!marker.exists(), "F1c: the planted code ran at the host's git");
    // F1d: root's directory, searchable by all, listable by none but root,
    // that the task writes in (mode 0733): what is below cannot be judged,
    // and it is put aside. (One the task does not change is left in place:
    // `a_foreign_unlistable_directory_the_task_leaves_alone_stays_in_place`.)
    let e = repo_env_as_nobody();
    let marker = e.root.join("F1d-ran");
    let theirs = e.ws.join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::os::unix::fs::PermissionsExt::from_mode(0o733)).unwrap();
    let o = e.sh("default", &format!("set -e; {}", fsmonitor_repo("theirs/evil", &marker.display().to_string())));
    o.assert_violation("fs.protected");
    assert!(!theirs.exists(), "F1d: the directory orchestra cannot list is left where git reaches below it");
    let _ = git_as_nobody(&e, &e.ws, &["-C", "theirs/evil", "status", "--short"]);
    assert!(!marker.exists(), "F1d: the planted code ran at the host's git");
    // F3: 11,000 `.git` directories (each counted), then the armed repository.
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F3-ran");
    let script = format!(
        "mkdir a && (cd a && i=0; while [ $i -lt 11000 ]; do mkdir -p $i/.git; i=$((i+1)); done) && \
         for i in 0 1 2 3 4 5 6 7 8 9; do mkdir -p j$i && : > j$i/.git; done && {} && {}",
        fsmonitor_repo("zzz/evil", &marker.display().to_string()),
        gitlink_on_dev("zzz/evil")
    );
    let o = e.sh("default", &format!("set -e; {script}"));
    o.assert_violation("fs.protected");
    let detail = o.report["violations"].to_string();
    assert!(
        detail.contains("those past the bound were not judged but disarmed: 1 made during the task removed"),
        "F3: {}",
        &detail[detail.len().saturating_sub(2000)..]
    );
    assert!(!e.ws.join("zzz/evil/.git").exists(), "F3: the armed repository past the bound is left");
    on_dev(&e, &marker);
}

/// Review 77: the checks after the task met the workspace before anything
/// was opened up to the supervisor. A task (as a user) that plants an
/// armed repository named on `dev` and leaves the workspace root itself
/// unlistable (A1: `0300`, `0600`), or makes the workspace deeper than the
/// diff's bound (A1b: the walk by name disarms it), or leaves the directory
/// in `runs/` that holds it unlistable (A2); a task that appends an `exec`
/// step to a stopped rebase's todo and leaves `.git`, `.git/worktrees` or
/// `.git/worktrees/<id>` at `0300` (D). Each is `fs.protected` (exit 4),
/// the host's git runs nothing, and the modes the task left are put back.
#[test]
fn plants_of_review_77_run_nothing_at_the_host_git() {
    let on_dev = |e: &Env, marker: &Path, case: &str| {
        let _ = git_as_nobody(e, &e.ws, &["checkout", "-q", "dev"]);
        let _ = git_as_nobody(e, &e.ws, &["status", "--short"]);
        assert!(!marker.exists(), "{case}: the planted code ran at the host's git");
    };
    let planted = |dir: &str, marker: &Path| {
        format!("set -e; {} && {}", fsmonitor_repo(dir, &marker.display().to_string()), gitlink_on_dev(dir))
    };
    // A1: the root unlistable, the mode left as the task left it.
    for mode in ["0300", "0600"] {
        let e = repo_env_as_nobody();
        assert!(git(&e.ws, &["branch", "dev"]).status.success());
        chown_tree(&e.root, NOBODY);
        let marker = e.root.join("A1-ran");
        let o = e.sh("default", &format!("{} && chmod {mode} .", planted("d/evil", &marker)));
        o.assert_violation("fs.protected");
        assert_eq!(format!("0{:o}", mode_of(&e.ws)), mode, "A1: the root's mode the task left is put back");
        assert!(!e.ws.join("d/evil/.git").exists(), "A1 {mode}: the planted repository is left\n{}", o.all());
        std::fs::set_permissions(&e.ws, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        on_dev(&e, &marker, "A1");
    }
    // A1b: 300 levels below the plant, past the diff's depth bound.
    let e = repo_env_as_nobody();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    chown_tree(&e.root, NOBODY);
    let marker = e.root.join("A1b-ran");
    let o = e.sh(
        "default",
        &format!(
            "{} && mkdir deep && cd deep && i=0; while [ $i -lt 300 ]; do mkdir a && cd a; i=$((i+1)); done",
            planted("d/evil", &marker)
        ),
    );
    o.assert_violation("fs.protected");
    assert!(o.all().contains("a walk by name disarmed every nested `.git`"), "A1b: {}", o.all());
    assert!(o.all().contains("1 made during the task removed"), "A1b: {}", o.all());
    assert!(!e.ws.join("d/evil/.git").exists(), "A1b: the planted repository is left");
    on_dev(&e, &marker, "A1b");
    // A2: the directory in `runs/` that holds the plant unlistable.
    let e = repo_env_as_nobody();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    chown_tree(&e.root, NOBODY);
    let marker = e.root.join("A2-ran");
    let o = e.sh("default", &format!("{} && chmod 0300 runs/x", planted("runs/x/evil", &marker)));
    o.assert_violation("fs.protected");
    assert_eq!(mode_of(&e.ws.join("runs/x")), 0o300, "A2: the mode the task left is put back");
    assert!(!e.ws.join("runs/x/evil/.git").exists(), "A2: the planted repository is left\n{}", o.all());
    on_dev(&e, &marker, "A2");
    // D: a stopped rebase, the root's (`.git` at 0300) or an outside linked
    // work tree's (`.git/worktrees`, `.git/worktrees/feature` at 0300).
    for dir in [".git", ".git/worktrees", ".git/worktrees/feature"] {
        let e = repo_env_as_nobody();
        let linked = dir != ".git";
        let (work, todo) = if linked {
            assert!(git(&e.ws, &["worktree", "add", "-q", "../feature"]).status.success());
            (e.root.join("feature"), ".git/worktrees/feature/rebase-merge/git-rebase-todo")
        } else {
            (e.ws.clone(), ".git/rebase-merge/git-rebase-todo")
        };
        host_sh(
            &work,
            &format!(
                "for f in a b; do echo $f > $f && {GIT} add $f && {GIT} commit -qm $f; done && \
                 GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' {GIT} rebase -q -i HEAD~2 >/dev/null 2>&1"
            ),
        );
        assert!(e.ws.join(todo).exists(), "D: no stopped rebase");
        chown_tree(&e.root, NOBODY);
        let marker = e.root.join("D-ran");
        let o = e.sh("default", &format!("printf 'exec touch {}\\n' >> {todo}; chmod 0300 {dir}", marker.display()));
        o.assert_violation("fs.protected");
        let all = o.all();
        assert!(all.contains("git-rebase-todo"), "D {dir}: the todo is not reported\n{all}");
        assert!(!all.contains("NOT restored") && !all.contains("could NOT"), "D {dir}: {all}");
        assert_eq!(mode_of(&e.ws.join(dir)), 0o300, "D {dir}: the mode the task left is put back");
        let _ = git_as_nobody(&e, &work, &["-c", "core.editor=true", "rebase", "--continue"]);
        assert!(!marker.exists(), "D {dir}: the planted code ran at the host's git");
    }
}

/// Review 77, FP-c: a directory of another owner's (root's, mode `0711`:
/// searchable, not listable; what a container build leaves) in the
/// checkout, there before the task, which the task leaves alone: what is
/// below it cannot be judged (exit 4, `fs.protected`, the detail says how
/// to fix it), but it stays where it is, unrenamed, run after run.
#[test]
fn a_foreign_unlistable_directory_the_task_leaves_alone_stays_in_place() {
    let e = repo_env_as_nobody();
    let cache = e.ws.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("f"), "x\n").unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    for run in 0..2 {
        let o = e.sh("default", "true");
        o.assert_violation("fs.protected");
        assert!(o.all().contains("it was left in place"), "run {run}: {}", o.all());
        assert!(cache.join("f").is_file(), "run {run}: the directory was moved");
        assert_eq!(mode_of(&cache), 0o711);
        let aside = std::fs::read_dir(&e.ws)
            .unwrap()
            .flatten()
            .any(|d| d.file_name().to_string_lossy().contains("removed-by-orchestra"));
        assert!(!aside, "run {run}: something was renamed aside");
    }
}

/// A build (as a user) that makes directories it cannot list or that only
/// it can read, with ordinary files in them, and a plain repository below
/// one, is no violation, canaries on or off; the modes it left stay.
#[test]
fn unlistable_directories_a_build_makes_are_no_violation() {
    let e = repo_env_as_nobody();
    let nocanary = e.policy("nocanary", "canaries: false\n");
    chown_tree(&e.root, NOBODY);
    let script = format!(
        "set -e; mkdir -p out/private t/locked g/sub && echo x > out/private/a && chmod 0700 out/private && \
         echo y > t/locked/f && chmod 0300 t/locked && {GIT} init -q g/sub/repo && \
         {GIT} -C g/sub/repo commit -q --allow-empty -m x && chmod 0300 g && chmod 0100 g/sub"
    );
    e.sh(&nocanary, &script).assert_ok();
    for (p, m) in [("out/private", 0o700), ("t/locked", 0o300), ("g", 0o300)] {
        assert_eq!(mode_of(&e.ws.join(p)), m, "{p}: the mode the build left is put back");
    }
    // Again, with canaries: what is below is read through the owner's rights.
    e.sh("default", "set -e; chmod 0300 out/private && echo z > t/locked/g && touch out/private/b").assert_ok();
    assert_eq!(mode_of(&e.ws.join("out/private")), 0o300);
    assert_eq!(mode_of(&e.ws.join("g/sub")), 0o100);
}

/// `script` run by the host's own git in a copy of `e`'s workspace made
/// now (beside it): what git itself writes, to compare with the task's.
#[track_caller]
fn twin(e: &Env, script: &str) -> std::path::PathBuf {
    let copy = e.root.join("twin");
    host_sh(&e.root, &format!("rm -rf twin && cp -a {} twin", e.ws.display()));
    host_sh(&copy, script);
    copy
}

/// The bytes of `rel` in the workspace `ws` and in its `copy` are the same.
#[track_caller]
fn same_as_git_writes(ws: &Path, copy: &Path, rel: &str) {
    let read = |d: &Path| std::fs::read(d.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", d.join(rel).display()));
    assert_eq!(String::from_utf8_lossy(&read(ws)), String::from_utf8_lossy(&read(copy)), "{rel}");
}

/// The host's `git config -l` of the repository's own settings in `dir`
/// (its `config`, then its `config.worktree` when git reads one).
fn config_list(dir: &Path) -> String {
    let list = |scope: &str| String::from_utf8_lossy(&git(dir, &["config", "-l", scope]).stdout).into_owned();
    list("--local") + &list("--worktree")
}

/// A false exit 4: `git push -u` and `git branch -u` of a branch whose
/// name git quotes or escapes in the config (non-ASCII letters, `#`, `;`,
/// `,`, `"`) are no violation, and the host's config is what git itself
/// writes for them.
#[test]
fn push_u_of_branch_names_git_quotes_in_its_config_is_no_violation() {
    let e = remote_env();
    // A remote the task can push to: a bare repository in the workspace.
    host_sh(&e.ws, "git init -q --bare pub.git && echo pub.git >> .git/info/exclude");
    assert!(git(&e.ws, &["remote", "add", "pub", e.ws.join("pub.git").to_str().unwrap()]).status.success());
    let names = ["naïve", "修正", "a#b", "a,b", "a;b", "q\"uote"];
    let script = names
        .iter()
        .map(|n| {
            let n = n.replace('"', "\\\"");
            format!(
                "{GIT} checkout -q -b \"{n}\" && {GIT} push -q -u pub \"{n}\" && {GIT} branch -q -u origin/main \"{n}\""
            )
        })
        .collect::<Vec<_>>()
        .join(" && ");
    let copy = twin(&e, &script.replace(&e.ws.join("pub.git").display().to_string(), "pub.git"));
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.all());
    same_as_git_writes(&e.ws, &copy, ".git/config");
    let list = config_list(&e.ws);
    assert_eq!(list, config_list(&copy));
    for n in names {
        assert!(list.contains(&format!("branch.{n}.remote=origin\n")), "{n}: {list}");
        assert!(list.contains(&format!("branch.{n}.merge=refs/heads/main\n")), "{n}: {list}");
    }
    assert!(
        String::from_utf8_lossy(&std::fs::read(e.ws.join(".git/config")).unwrap()).contains("[branch \"q\\\"uote\"]")
    );
}

/// Neighbours of what `git push -u` writes for such names that smuggle a
/// setting that names code (a header hidden in an escaped subsection, a
/// quoted value running over lines, a subsection escape git refuses) are
/// `fs.protected`: the config stays byte for byte, nothing planted runs.
#[test]
fn quoting_tricks_in_branch_sections_are_refused_whole_and_run_nothing() {
    let cases = [
        ("escaped quote, then a header", "[branch \"a\\\"]\"] [core]\n\tfsmonitor = touch {m}\n"),
        ("header in a subsection", "[branch \"x\\\"]\n[core\"]\n\tfsmonitor = touch {m}\n"),
        ("quote left open", "[branch \"a#b\"]\n\tmerge = \"refs/heads/a#b\n[core]\n\tfsmonitor = touch {m}\"\n"),
        ("unknown escape", "[branch \"a\\b\"]\n\tremote = origin\n[core]\n\tfsmonitor = touch {m}\n"),
        ("a branch's code key", "[branch \"a;b\"]\n\tmerge = refs/heads/a;b\n\tfsmonitor = touch {m}\n"),
        ("escaped newline", "[branch \"naïve\"]\n\tmerge = \"refs/heads/x\\n[core]\\nfsmonitor = touch {m}\"\n"),
    ];
    for (case, text) in cases {
        let e = remote_env();
        let marker = e.root.join("planted-ran");
        std::fs::write(e.ws.join("attack"), text.replace("{m}", &marker.display().to_string())).unwrap();
        let before = std::fs::read(e.ws.join(".git/config")).unwrap();
        let o = e.sh(
            "default",
            "cp .git/config .git/config.lock && cat attack >> .git/config.lock && \
             perl -e 'rename q(.git/config.lock), q(.git/config) or die qq($!\\n)'",
        );
        o.assert_violation("fs.protected");
        assert!(o.all().contains("a change of a git config a task may not make"), "{case}: {}", o.all());
        assert_eq!(std::fs::read(e.ws.join(".git/config")).unwrap(), before, "{case}: .git/config changed");
        host_git_runs_nothing(&e, &marker);
    }
}

/// A false exit 4: `git submodule deinit -f lib` of an absorbed submodule
/// removes its section from `.git/config` and `core.worktree` from its own
/// config, and empties `lib`: no violation, and what git itself writes.
#[test]
fn submodule_deinit_is_no_violation_and_leaves_what_git_writes() {
    let e = submodule_env();
    let script = format!("{GIT} submodule deinit -q -f lib");
    let copy = twin(&e, &script);
    let o = e.sh("default", &script);
    o.assert_ok();
    assert!(o.rules().is_empty(), "{:?}\n{}", o.rules(), o.all());
    same_as_git_writes(&e.ws, &copy, ".git/config");
    same_as_git_writes(&e.ws, &copy, ".git/modules/lib/config");
    assert_eq!(config_list(&e.ws), config_list(&copy));
    assert!(!config_list(&e.ws).contains("submodule.lib"), "{}", config_list(&e.ws));
    assert!(e.ws.join(".git/modules/lib/HEAD").exists(), "the submodule's git directory is kept");
    assert_eq!(std::fs::read_dir(e.ws.join("lib")).unwrap().count(), 0, "lib is emptied");
    let status = |d: &Path| String::from_utf8_lossy(&git(d, &["status", "--short"]).stdout).into_owned();
    assert_eq!(status(&e.ws).replace("?? .orchestra/\n", ""), status(&copy));
}

/// Neighbours of a deinit that also add something — a code-bearing key in
/// the submodule's section or the root's, a key of its own config — or
/// drop a root setting are `fs.protected`: the configs stay byte for byte
/// and nothing planted runs at the host's git.
#[test]
fn a_deinit_like_removal_that_adds_anything_is_refused_and_runs_nothing() {
    let cases = [
        ("update command", ".git/config", "s|\tactive = true|\tupdate = !touch {m}|"),
        ("fsmonitor beside", ".git/config", "/^\\[submodule/,$c [core]\\n\\tfsmonitor = touch {m}"),
        ("a root setting", ".git/config", "/^\\[submodule/,$d; /logallrefupdates/d"),
        ("module fsmonitor", ".git/modules/lib/config", "s|\tworktree = .*|\tfsmonitor = touch {m}|"),
    ];
    for (case, file, sed) in cases {
        let e = submodule_env();
        let marker = e.root.join("planted-ran");
        let sed = sed.replace("{m}", &marker.display().to_string());
        let (root_before, module_before) = (
            std::fs::read(e.ws.join(".git/config")).unwrap(),
            std::fs::read(e.ws.join(".git/modules/lib/config")).unwrap(),
        );
        let o = e.sh(
            "default",
            &format!("sed '{sed}' {file} > {file}.lock && perl -e 'rename q({file}.lock), q({file}) or die qq($!\\n)'"),
        );
        assert_eq!(o.code, 4, "{case}: {}", o.all());
        o.assert_violation("fs.protected");
        assert_eq!(std::fs::read(e.ws.join(".git/config")).unwrap(), root_before, "{case}");
        assert_eq!(std::fs::read(e.ws.join(".git/modules/lib/config")).unwrap(), module_before, "{case}");
        let _ = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "update", "--init"]);
        let _ = git(&e.ws.join("lib"), &["status"]);
        host_git_runs_nothing(&e, &marker);
    }
}

/// A false exit 4: `git sparse-checkout set`, `disable` and `init --cone`
/// turn on `extensions.worktreeConfig` and write `core.sparseCheckout*`
/// (and `index.sparse = false`) into `.git/config.worktree`: no violation,
/// the supervisor makes the file, and the configs are what git writes; a
/// `git worktree add` then (which copies them for the new work tree) is no
/// violation either.
#[test]
fn sparse_checkout_is_no_violation_and_leaves_what_git_writes() {
    let e = repo_env();
    host_sh(&e.ws, &format!("mkdir d1 d2 d3 && touch d1/a d2/b d3/c && {GIT} add . && {GIT} commit -qm dirs"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    for script in [
        format!("{GIT} sparse-checkout set d1 d2"),
        format!("{GIT} sparse-checkout disable && {GIT} sparse-checkout init --cone && {GIT} sparse-checkout set d3"),
        // A linked work tree gets a copy of the sparse settings.
        format!("{GIT} worktree add -q wt"),
    ] {
        // The jail runs git as another user: the index's stat data differ, so
        // both refresh it first (git leaves files it takes for changed).
        let script = format!("{GIT} update-index -q --refresh; {script}");
        let copy = twin(&e, &script);
        let o = e.sh("default", &script);
        o.assert_ok();
        assert!(o.rules().is_empty(), "`{script}`: {:?}\n{}", o.rules(), o.all());
        for rel in [".git/config", ".git/config.worktree", ".git/info/sparse-checkout"] {
            same_as_git_writes(&e.ws, &copy, rel);
        }
        assert_eq!(config_list(&e.ws), config_list(&copy));
        assert!(!e.ws.join(".git/config.worktree.lock").exists());
    }
    let list = config_list(&e.ws);
    assert!(list.contains("extensions.worktreeconfig=true\n") && list.contains("core.sparsecheckout=true\n"), "{list}");
    assert!(e.ws.join("d3/c").exists() && !e.ws.join("d1").exists(), "the sparse checkout is d3");
    assert!(e.ws.join("wt/.git").exists() && e.ws.join(".git/worktrees/wt/config.worktree").exists());
}

/// With `extensions.worktreeConfig` on, `config.worktree` files are config:
/// a task that turns it on and plants code there — `git config --worktree`,
/// a write to the file past the lock, a linked work tree's own
/// `config.worktree` — is `fs.protected`, and nothing planted runs at the
/// host's git (in the root or the linked work tree).
#[test]
fn code_planted_in_a_config_worktree_is_refused_and_runs_nothing() {
    let cases = [
        ("git config --worktree", "{GIT} config --worktree core.fsmonitor 'touch {m}; false #'"),
        (
            "by hand",
            "cp .git/config.worktree .git/cw && printf '\\thooksPath = hooks-x\\n\\tfsmonitor = touch {m}\\n' >> .git/cw && \
             perl -e 'rename q(.git/cw), q(.git/config.worktree) or die qq($!\\n)'",
        ),
        ("past the lock", "printf '[core]\\n\\tfsmonitor = touch {m}\\n' >> .git/config.worktree"),
        (
            "linked work tree",
            "{GIT} worktree add -q wt && {GIT} -C wt config --worktree core.fsmonitor 'touch {m}; false #'",
        ),
        (
            "made with code",
            "printf '[core]\\n\\tfsmonitor = touch {m}\\n' > .git/config.worktree.lock && \
             perl -e 'rename q(.git/config.worktree.lock), q(.git/config.worktree) or die qq($!\\n)'",
        ),
    ];
    for (case, plant) in cases {
        let e = repo_env();
        let marker = e.root.join("planted-ran");
        let plant = plant.replace("{GIT}", GIT).replace("{m}", &marker.display().to_string());
        let first = if case == "made with code" {
            format!("{GIT} config extensions.worktreeConfig true")
        } else {
            format!("{GIT} sparse-checkout set --no-cone README .gitignore")
        };
        let o = e.sh("default", &format!("{first} && {plant}"));
        o.assert_violation("fs.protected");
        let worktree_config = std::fs::read_to_string(e.ws.join(".git/config.worktree")).unwrap_or_default();
        assert!(
            !worktree_config.contains("fsmonitor") && !worktree_config.contains("hooksPath"),
            "{case}: {worktree_config}"
        );
        let _ = git(&e.ws, &["status"]);
        if e.ws.join("wt/.git").exists() {
            let _ = git(&e.ws.join("wt"), &["status"]);
        }
        host_git_runs_nothing(&e, &marker);
    }
}

/// Review 78, F3: a workspace the diff's walk before the task cannot list
/// (deeper than its 256 levels: what one earlier task can leave) has no
/// diff, yet its repositories are still judged, found by name and told
/// changed by their ctimes: one the task made, or a user's whose code the
/// task changed, is `fs.protected` and disarmed; a user's own, with its own
/// hook, that the task left alone is no violation and stays.
#[test]
fn a_workspace_the_diff_cannot_walk_before_the_task_still_has_its_repositories_judged() {
    let e = repo_env_as_nobody();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    host_sh(&e.ws, "mkdir deep && cd deep && i=0; while [ $i -lt 300 ]; do mkdir a && cd a; i=$((i+1)); done");
    // The user's own nested clone, with a hook of theirs.
    let user_marker = e.root.join("user-hook-ran");
    host_sh(
        &e.ws,
        &format!(
            "mkdir lib && {GIT} -C lib init -q . && {GIT} -C lib commit -q --allow-empty -m x && \
             printf '#!/bin/sh\\ntouch {}\\n' > lib/.git/hooks/post-checkout && chmod +x lib/.git/hooks/post-checkout",
            user_marker.display()
        ),
    );
    chown_tree(&e.root, NOBODY);
    // The chown set every ctime: let the task start later than the
    // judge's margin (a coarse clock's tick).
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Benign: a build step that writes files and runs git.
    let o = e.sh(
        "default",
        &format!("echo built > out.txt && {GIT} status --short >/dev/null && {GIT} -C lib log -1 >/dev/null"),
    );
    o.assert_ok();
    assert!(o.all().contains("the workspace diff did not run"), "the skipped diff is said: {}", o.all());
    assert!(e.ws.join("lib/.git/hooks/post-checkout").exists(), "the user's repository is left");
    // A repository made during the task, named on `dev`.
    let marker = e.root.join("F3-ran");
    let o = e.sh(
        "default",
        &format!("set -e; {} && {}", fsmonitor_repo("d/evil", &marker.display().to_string()), gitlink_on_dev("d/evil")),
    );
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("d/evil/.git").exists(), "F3: the planted repository is left\n{}", o.all());
    let _ = git_as_nobody(&e, &e.ws, &["checkout", "-q", "dev"]);
    let _ = git_as_nobody(&e, &e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "F3: the planted code ran at the host's git");
    // The user's repository's code changed during the task.
    let o = e.sh("default", &format!("{GIT} -C lib config core.fsmonitor 'touch {}; false #'", marker.display()));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("lib/.git").exists(), "F3: the changed repository is left armed\n{}", o.all());
    let _ = git_as_nobody(&e, &e.ws.join("lib"), &["status", "--short"]);
    assert!(!marker.exists(), "F3: the planted code ran at the host's git in lib");
    // A git directory prepared in one task (no `HEAD` yet: git takes it for
    // none, nothing to judge) and renamed into place in the next: its
    // entries keep their old ctimes, its own moves. (The `.git` put aside
    // just now is a git directory too, renamed at the end of the last
    // task: wait past the judge's margin.)
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh(
        "default",
        &format!(
            "mkdir -p stash/g/objects stash/g/refs/heads && printf '[core]\n\tfsmonitor = touch {}; false #\n' > stash/g/config",
            marker.display()
        ),
    );
    o.assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh("default", "echo 'ref: refs/heads/main' > stash/g/HEAD && mkdir lib2 && mv stash/g lib2/.git");
    o.assert_violation("fs.protected");
    assert!(
        !e.ws.join("lib2/.git").exists(),
        "F3: the git directory renamed into place is left
{}",
        o.all()
    );
    let _ = git_as_nobody(&e, &e.ws.join("lib2"), &["status", "--short"]);
    assert!(!marker.exists(), "F3: the planted code ran at the host's git in lib2");
    assert!(!user_marker.exists(), "the user's own hook never ran");
}

/// Review 78, F4/F4b: what a config *included* by a repository's config
/// names (`include.path = ../.gitconfig`, a tracked shared config setting
/// `core.hooksPath = .githooks` and a textconv program) is protected as
/// what the config names itself: in the root repository (the task's
/// writes are refused) and in a nested repository the user has (judged
/// after the task); the included file itself too. Each is `fs.protected`
/// (exit 4) and the host's git runs nothing. A build in such a
/// repository, committing through the user's own hook, is no violation.
#[test]
fn what_an_included_config_names_is_protected_like_what_the_config_names() {
    let shared = |dir: &Path| {
        std::fs::create_dir_all(dir.join(".githooks")).unwrap();
        std::fs::create_dir_all(dir.join("tools")).unwrap();
        std::fs::write(
            dir.join(".gitconfig"),
            "[core]\n\thooksPath = .githooks\n[diff \"x\"]\n\ttextconv = tools/conv.sh\n",
        )
        .unwrap();
        std::fs::write(dir.join(".githooks/pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::write(dir.join("tools/conv.sh"), "#!/bin/sh\ncat \"$1\"\n").unwrap();
        for f in [".githooks/pre-commit", "tools/conv.sh"] {
            std::fs::set_permissions(dir.join(f), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join(".gitattributes"), "*.dat diff=x\n").unwrap();
        std::fs::write(dir.join("f.dat"), "a\n").unwrap();
        assert!(git(dir, &["add", "-A"]).status.success());
        assert!(git(dir, &["commit", "-qm", "shared"]).status.success());
        assert!(git(dir, &["config", "include.path", "../.gitconfig"]).status.success());
    };
    let plant = |m: &Path, dir: &str| {
        format!(
            "printf '#!/bin/sh\\ntouch {m}\\n' > {dir}.githooks/pre-commit; printf '#!/bin/sh\\ntouch {m}\\n' > {dir}tools/conv.sh; echo b > {dir}f.dat",
            m = m.display()
        )
    };
    // (F4) The root repository: the writes are refused.
    let e = repo_env();
    shared(&e.ws);
    let marker = e.root.join("f4-ran");
    let o = e.sh("default", &plant(&marker, ""));
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read_to_string(e.ws.join("tools/conv.sh")).unwrap(), "#!/bin/sh\ncat \"$1\"\n", "{}", o.all());
    let _ = git(&e.ws, &["diff", "f.dat"]);
    host_git_runs_nothing(&e, &marker);
    // The included file itself: a task pointing the hooks elsewhere.
    let e = repo_env();
    shared(&e.ws);
    let marker = e.root.join("f4-inc-ran");
    let o = e.sh(
        "default",
        &format!(
            "mkdir -p evil && printf '#!/bin/sh\\ntouch {}\\n' > evil/pre-commit && chmod +x evil/pre-commit && \
             printf '[core]\\n\\thooksPath = evil\\n' > .gitconfig",
            marker.display()
        ),
    );
    o.assert_violation("fs.protected");
    assert!(std::fs::read_to_string(e.ws.join(".gitconfig")).unwrap().contains(".githooks"), "{}", o.all());
    host_git_runs_nothing(&e, &marker);
    // (F4b) A nested repository the user has: judged after the task.
    let e = repo_env();
    std::fs::write(e.ws.join(".gitignore"), ".orchestra/\nattack\nvendor/\n").unwrap();
    assert!(git(&e.ws, &["commit", "-qam", "ignore vendor"]).status.success());
    let x = e.ws.join("vendor/x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(git(&x, &["init", "-q", "."]).status.success());
    shared(&x);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let marker = e.root.join("f4b-ran");
    let o = e.sh("default", &plant(&marker, "vendor/x/"));
    o.assert_violation("fs.protected");
    let _ = git(&x, &["diff", "f.dat"]);
    let _ = git(&x, &["commit", "-q", "--allow-empty", "-m", "host"]);
    assert!(!marker.exists(), "(F4b): the host's git ran the task's code\n{}", o.all());
    // Benign: a build and a commit (through the user's own hook) there.
    let e = repo_env();
    shared(&e.ws);
    let o = e.sh(
        "default",
        &format!("set -e; echo built > out.txt; echo c > f.dat; {GIT} commit -qam build; {GIT} diff HEAD~1 --stat"),
    );
    o.assert_ok();
    assert!(e.ws.join("out.txt").exists());
}

/// Review 78, F2: a workspace file a command setting names without a `/`
/// (`textconv = sh conv.sh`, `alias.lint = !sh lint.sh` in the host's
/// global config, `core.fsmonitor = sh watch.sh` in the repository's) is
/// protected like one named `./conv.sh`: the task's writes are
/// `fs.protected` (exit 4) and the host's git runs nothing. Words that are
/// no such file — git's subcommands (`git-lfs filter-process`), a directory
/// a build writes to (`!npm run build`), an absent word with no file's name
/// (`!make test`) — stay free: a build there is no violation.
#[test]
fn a_workspace_file_a_command_names_without_a_slash_is_protected() {
    let host_git =
        |e: &Env, dir: &Path, args: &[&str]| git_cmd(dir, args).env("HOME", &e.home).output().expect("git is required");
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[diff \"sh\"]\n\ttextconv = sh conv.sh\n[alias]\n\tlint = !sh lint.sh\n",
    )
    .unwrap();
    std::fs::write(e.ws.join("conv.sh"), "cat \"$1\"\n").unwrap();
    std::fs::write(e.ws.join("lint.sh"), "echo lint ok\n").unwrap();
    std::fs::write(e.ws.join(".gitattributes"), "*.txt diff=sh\n").unwrap();
    std::fs::write(e.ws.join("f.txt"), "a\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "base"]).status.success());
    let marker = e.root.join("f2-ran");
    for file in ["conv.sh", "lint.sh"] {
        let o = e.sh("default", &format!("echo 'touch {}' > {file}; echo b > f.txt", marker.display()));
        o.assert_violation("fs.protected");
        let _ = host_git(&e, &e.ws, &["diff", "f.txt"]);
        let _ = host_git(&e, &e.ws, &["lint"]);
        assert!(!marker.exists(), "{file}: the host's git ran the task's file\n{}", o.all());
    }
    // The repository's own config, a bare word after an interpreter.
    let e = repo_env();
    std::fs::write(e.ws.join("watch.sh"), "exit 1\n").unwrap();
    assert!(git(&e.ws, &["add", "watch.sh"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "watch"]).status.success());
    assert!(git(&e.ws, &["config", "core.fsmonitor", "sh watch.sh"]).status.success());
    let marker = e.root.join("f2-fsmonitor-ran");
    let o = e.sh("default", &format!("echo 'touch {}; exit 1' > watch.sh", marker.display()));
    o.assert_violation("fs.protected");
    host_git_runs_nothing(&e, &marker);
    // Benign: commands whose words are no workspace files.
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[filter \"lfs\"]\n\tprocess = git-lfs filter-process\n\tclean = git-lfs clean -- %f\n[alias]\n\tb = !npm run build\n\
         \tt = !make test\n\tl = !git log --oneline lib\n[gpg]\n\tprogram = gpg\n[core]\n\tpager = less -R\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("build")).unwrap();
    let o = e.sh(
        "default",
        &format!(
            "set -e; echo x > build/out.js; mkdir -p test lib && echo t > test/a; echo l > lib/l; \
             mkdir fixture && {GIT} -C fixture init -q . && {GIT} -C fixture commit -q --allow-empty -m x"
        ),
    );
    o.assert_ok();
    assert!(e.ws.join("build/out.js").exists() && e.ws.join("fixture/.git/HEAD").exists());
}

/// Review 79, F3, F4: a script a shell's `-c` string names (`!sh -c
/// 'tools/lint.sh --quick'`, `bash -lc`, through `env -S`), a file an
/// option's value names (`--rcfile=…`-style `--opt=path`), and the files of
/// a module `python3 -m tools.conv` runs (`tools/conv.py`, the package's
/// `tools/__init__.py`, and `tools/conv/__init__.py`/`__main__.py` absent)
/// are protected: the task's writes are `fs.protected` (exit 4), the files
/// stay as they were and the host's `git lint`/`git diff` run nothing.
#[test]
fn a_script_a_shell_string_or_a_python_module_names_is_protected() {
    let host_git =
        |e: &Env, args: &[&str]| git_cmd(&e.ws, args).env("HOME", &e.home).output().expect("git is required");
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tlint = !sh -c 'tools/lint.sh --quick'\n\tchk = !env -S \"bash -lc 'tools/chk.sh'\"\n\
         \tfmt = !sh tools/fmt.sh --config=tools/fmt.cfg\n[diff \"hex\"]\n\ttextconv = python3 -m tools.conv\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    for f in ["lint.sh", "chk.sh", "fmt.sh"] {
        std::fs::write(e.ws.join("tools").join(f), "echo ok\n").unwrap();
    }
    std::fs::write(e.ws.join("tools/fmt.cfg"), ": config\n").unwrap();
    std::fs::write(e.ws.join("tools/__init__.py"), "").unwrap();
    let conv = "import sys\nprint('hex:' + open(sys.argv[1], 'rb').read().hex())\n";
    std::fs::write(e.ws.join("tools/conv.py"), conv).unwrap();
    std::fs::write(e.ws.join(".gitattributes"), "*.bin diff=hex\n").unwrap();
    std::fs::write(e.ws.join("x.bin"), "a").unwrap();
    for f in ["tools/lint.sh", "tools/chk.sh", "tools/fmt.sh"] {
        let mut p = std::fs::metadata(e.ws.join(f)).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
        std::fs::set_permissions(e.ws.join(f), p).unwrap();
    }
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    // The host's textconv really runs the module (python3 is required).
    std::fs::write(e.ws.join("x.bin"), "b").unwrap();
    let d = host_git(&e, &["diff", "x.bin"]);
    assert!(String::from_utf8_lossy(&d.stdout).contains("+hex:62"), "python3 -m tools.conv is required: {d:?}");
    assert!(git(&e.ws, &["checkout", "x.bin"]).status.success());
    let marker = e.root.join("r79-ran");
    let touch = format!("touch {}", marker.display());
    let py = format!("import pathlib; pathlib.Path('{}').touch()", marker.display());
    let cases = [
        ("tools/lint.sh", format!("printf '%s\\n' '{touch}' > tools/lint.sh")),
        ("tools/chk.sh", format!("printf '%s\\n' '{touch}' > tools/chk.sh")),
        ("tools/fmt.cfg", format!("printf '%s\\n' '{touch}' > tools/fmt.cfg")),
        ("tools/conv.py", format!("printf \"%s\" \"{py}\" > tools/conv.py")),
        ("tools/__init__.py", format!("printf \"%s\" \"{py}\" > tools/__init__.py")),
        ("tools/conv/__init__.py", format!("mkdir -p tools/conv; printf \"%s\" \"{py}\" > tools/conv/__init__.py")),
    ];
    for (file, plant) in &cases {
        let before = std::fs::read(e.ws.join(file)).ok();
        let o = e.sh("default", &format!("{plant}; echo b > x.bin"));
        o.assert_violation("fs.protected");
        assert_eq!(std::fs::read(e.ws.join(file)).ok(), before, "{file}: the task's write stayed\n{}", o.all());
        for args in [&["lint"][..], &["chk"], &["fmt"], &["diff", "x.bin"]] {
            let _ = host_git(&e, args);
        }
        assert!(!marker.exists(), "{file}: the host's git ran the task's code\n{}", o.all());
        assert!(git(&e.ws, &["checkout", "x.bin"]).status.success());
    }
}

/// Review 79, F5: a directory a command in the host's global config names
/// with a `/` (`!python3 -m pytest tests/`, `!npx eslint src/`, `!make -C
/// lib/c`) is no code: a build writing below it (a generated source,
/// snapshots, bytecode) is no violation (exit 0) and its files are written.
#[test]
fn a_directory_a_command_names_with_a_slash_is_no_code() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tt = !python3 -m pytest tests/\n\tlint = !npx eslint src/\n\tm = !make -C lib/c\n",
    )
    .unwrap();
    for d in ["src", "tests", "lib/c"] {
        std::fs::create_dir_all(e.ws.join(d)).unwrap();
    }
    std::fs::write(e.ws.join("src/a.c"), "int x;\n").unwrap();
    std::fs::write(e.ws.join("tests/test_a.py"), "def test_a():\n    assert True\n").unwrap();
    std::fs::write(e.ws.join("lib/c/Makefile"), "all:\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "src"]).status.success());
    let o = e.sh(
        "default",
        "set -e; echo 'int y;' > src/gen.c; mkdir -p tests/__snapshots__ tests/__pycache__; \
         echo snap > tests/__snapshots__/a.snap; echo pyc > tests/__pycache__/x.pyc; echo o > lib/c/out.o",
    );
    o.assert_ok();
    for f in ["src/gen.c", "tests/__snapshots__/a.snap", "tests/__pycache__/x.pyc", "lib/c/out.o"] {
        assert!(e.ws.join(f).exists(), "{f} not written\n{}", o.all());
    }
}

/// Review 81, F2: the host's own git config reaching the workspace through
/// a link (a dotfile manager's `~/.gitconfig -> <ws>/gitconfig`, an include
/// `~/proj/team.gitconfig` where `~/proj` links to the workspace) or named
/// with `~/` (`core.hooksPath = ~/ws/githooks`, the workspace below HOME)
/// is protected: the task's write is `fs.protected` (exit 4), the file
/// stays as it was and the host's git runs nothing.
#[test]
fn the_host_s_config_in_the_workspace_through_a_link_or_tilde_is_protected() {
    for case in ["dotlink", "inclink", "tilde"] {
        let e = repo_env();
        // `tilde`: HOME is the directory above the workspace.
        let home = if case == "tilde" { e.root.clone() } else { e.home.clone() };
        let marker = e.root.join(format!("r81-{case}-ran"));
        let target = match case {
            "dotlink" => {
                std::fs::write(e.ws.join("gitconfig"), "[color]\n\tui = auto\n").unwrap();
                std::os::unix::fs::symlink(e.ws.join("gitconfig"), home.join(".gitconfig")).unwrap();
                "gitconfig"
            }
            "inclink" => {
                std::os::unix::fs::symlink(&e.ws, home.join("proj")).unwrap();
                std::fs::write(home.join(".gitconfig"), "[include]\n\tpath = ~/proj/team.gitconfig\n").unwrap();
                std::fs::write(e.ws.join("team.gitconfig"), "[color]\n\tui = auto\n").unwrap();
                "team.gitconfig"
            }
            _ => {
                std::fs::write(home.join(".gitconfig"), "[core]\n\thooksPath = ~/ws/githooks\n").unwrap();
                "githooks/pre-commit"
            }
        };
        assert!(git(&e.ws, &["add", "-A"]).status.success());
        assert!(git(&e.ws, &["commit", "-q", "--allow-empty", "-m", "cfg"]).status.success());
        let plant = if case == "tilde" {
            format!(
                "mkdir -p githooks && printf '#!/bin/sh\\ntouch {}\\n' > {target} && chmod +x {target}",
                marker.display()
            )
        } else {
            format!("printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' >> {target}", marker.display())
        };
        let before = std::fs::read(e.ws.join(target)).ok();
        let mut c = e.cmd("default", &[], &["/bin/sh", "-c", &plant]);
        c.env("HOME", &home);
        let o = e.run_cmd(c);
        o.assert_violation("fs.protected");
        assert_eq!(std::fs::read(e.ws.join(target)).ok(), before, "{case}: the task's write stayed\n{}", o.all());
        let host = |args: &[&str]| git_cmd(&e.ws, args).env("HOME", &home).output().expect("git is required");
        let _ = host(&["status"]);
        let _ = host(&["commit", "-q", "--allow-empty", "-m", "host"]);
        assert!(!marker.exists(), "{case}: the host's git ran the task's code\n{}", o.all());
    }
}

/// Review 81, F5: a build directory a host alias names, absent before the
/// build (`!ninja -C build.debug`, `!cmake --build build/release`,
/// `!python3 -m pytest --basetemp=tmp/pytest`), is no code: a build making
/// it and writing below it (and removing it) is no violation (exit 0), its
/// files stay. A file made where such a word is absent (`build.debug`, the
/// program `tools/gen`) is still `fs.protected` (exit 4), absent after the
/// task, and the host's alias runs nothing.
#[test]
fn a_build_directory_an_alias_names_may_be_made_and_a_file_there_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tb = !ninja -C build.debug\n\tr = !cmake --build build/release\n\
         \tt = !python3 -m pytest --basetemp=tmp/pytest\n\tg = !tools/gen\n",
    )
    .unwrap();
    let o = e.sh(
        "default",
        "set -e; mkdir build.debug && echo 'rule cc' > build.debug/build.ninja; \
         mkdir -p build/release && echo x > build/release/CMakeCache.txt; \
         mkdir -p tmp/pytest/x && echo 1 > tmp/pytest/x/log; mkdir -p tmp/pytest/gone && rmdir tmp/pytest/gone",
    );
    o.assert_ok();
    for f in ["build.debug/build.ninja", "build/release/CMakeCache.txt", "tmp/pytest/x/log"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
    // A clean step removes the directory: no violation either.
    e.sh("default", "rm -rf build.debug").assert_ok();
    assert!(!e.ws.join("build.debug").exists());
    // The attack neighbours: a file where the word is absent.
    let marker = e.root.join("r81-f5-ran");
    for (path, plant) in [
        ("build.debug", format!("printf '#!/bin/sh\\ntouch {}\\n' > build.debug", marker.display())),
        (
            "tools/gen",
            format!(
                "mkdir -p tools && printf '#!/bin/sh\\ntouch {}\\n' > tools/gen && chmod +x tools/gen",
                marker.display()
            ),
        ),
    ] {
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        assert!(std::fs::symlink_metadata(e.ws.join(path)).is_err(), "{path}: the task's file stayed\n{}", o.all());
        let _ = git_cmd(&e.ws, &["g"]).env("HOME", &e.home).output().expect("git is required");
        assert!(!marker.exists(), "{path}: the host's alias ran the task's file\n{}", o.all());
    }
}

/// Review 82, F2: a program an alias runs (`!tools/gen`) that one task made
/// a directory (allowed, exit 0) stays guarded for the next task as its
/// absence did: replacing the directory with a script is `fs.protected`
/// (exit 4), no file is left there and the host's `git g` runs nothing,
/// whether the script is written there or renamed onto it. A build may
/// still write below that directory, remove it, or move a directory onto
/// it or away (exit 0, no violation); a file moved there is protected.
#[test]
fn a_directory_at_an_alias_program_stays_guarded_across_tasks() {
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[alias]\n\tg = !tools/gen\n\tb = !ninja -C build.debug\n").unwrap();
    e.sh("default", "mkdir -p tools/gen").assert_ok();
    assert!(e.ws.join("tools/gen").is_dir());
    let marker = e.root.join("r82-f2-ran");
    let script = format!("printf '#!/bin/sh\\ntouch {}\\n'", marker.display());
    for (case, plant) in [
        ("write", format!("rmdir tools/gen && {script} > tools/gen && chmod +x tools/gen")),
        ("rename", format!("{script} > gen.new && chmod +x gen.new && rmdir tools/gen && mv gen.new tools/gen")),
        ("rm-rf", format!("rm -rf tools/gen && {script} > tools/gen")),
    ] {
        std::fs::create_dir_all(e.ws.join("tools/gen")).unwrap();
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        let left = std::fs::symlink_metadata(e.ws.join("tools/gen"));
        assert!(left.as_ref().map_or(true, |m| m.is_dir()), "{case}: a file stayed at tools/gen\n{}", o.all());
        let _ = git_cmd(&e.ws, &["g"]).env("HOME", &e.home).output().expect("git is required");
        assert!(!marker.exists(), "{case}: the host's alias ran the task's file\n{}", o.all());
    }
    // Benign: write below the directory, remove it, make it again by a rename.
    std::fs::create_dir_all(e.ws.join("tools/gen")).unwrap();
    e.sh("default", "echo x > tools/gen/out && rm -rf tools/gen && mkdir s && echo y > s/f && mv s tools/gen")
        .assert_ok();
    assert!(e.ws.join("tools/gen/f").is_file());
    // Review 82, minor: an allowed build directory made by a rename, and moved away.
    let o = e.sh("default", "mkdir staging && echo 'rule cc' > staging/build.ninja && mv staging build.debug");
    o.assert_ok();
    assert!(e.ws.join("build.debug/build.ninja").is_file(), "{}", o.all());
    e.sh("default", "mv build.debug build.old").assert_ok();
    assert!(!e.ws.join("build.debug").exists() && e.ws.join("build.old/build.ninja").is_file());
    let o = e.sh("default", &format!("{script} > f && chmod +x f && mv f build.debug"));
    o.assert_violation("fs.protected");
    assert!(std::fs::symlink_metadata(e.ws.join("build.debug")).is_err(), "a file moved there stayed\n{}", o.all());
}

/// Review 82, FP1: a file an alias's command writes — the value of `-o`,
/// `--output=`, pytest's `--junitxml=`, a `tee` operand, an output
/// redirection's target — is no code: a task doing the same build or test
/// run and writing those files is exit 0 with no violation, and so is the
/// next one (the outputs then exist). What such a command reads or runs
/// stays code: `node --require ./hook.js`, `make -f mk/x.mk`, `sh <
/// tools/in.sh` written by a task are `fs.protected` (exit 4) and stay as
/// they were.
#[test]
fn files_an_alias_s_command_writes_are_no_code_and_what_it_runs_still_is() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tt = !python3 -m pytest --junitxml=reports/junit.xml --cov-report=xml:reports/cov.xml\n\
         \tb = !cc -o build/hello hello.c && pandoc README --output=docs/readme.html\n\
         \td = !sh -c 'cat README > docs/out.md 2>logs/err.log' && make lint 2>&1 | tee logs/lint.log >>logs/all.log\n\
         \tn = !node --require ./hook.js app.js && make -f mk/x.mk && sh < tools/in.sh\n",
    )
    .unwrap();
    let outputs = [
        "reports/junit.xml",
        "reports/cov.xml",
        "build/hello",
        "docs/readme.html",
        "docs/out.md",
        "logs/err.log",
        "logs/lint.log",
        "logs/all.log",
    ];
    let write = outputs.iter().map(|f| format!("echo x > {f}")).collect::<Vec<_>>().join(" && ");
    let build = format!("mkdir -p reports build docs logs && {write}");
    for round in ["absent", "present"] {
        let o = e.sh("default", &build);
        o.assert_ok();
        for f in outputs {
            assert!(e.ws.join(f).is_file(), "{round}: {f} not written\n{}", o.all());
        }
    }
    for (f, plant) in [
        ("hook.js", "echo 'require(\"child_process\")' > hook.js"),
        ("mk/x.mk", "mkdir -p mk && echo 'lint:' > mk/x.mk"),
        ("tools/in.sh", "mkdir -p tools && echo 'touch x' > tools/in.sh"),
    ] {
        let o = e.sh("default", plant);
        o.assert_violation("fs.protected");
        assert!(std::fs::symlink_metadata(e.ws.join(f)).is_err(), "{f}: the task's file stayed\n{}", o.all());
    }
}

/// Review 81, F3: a wrapper before the command (`!timeout 60 sh -c '…'`,
/// `!nice -n 5 sh -c '…'`, `!exec python3 -m …`) and a command
/// substitution in double quotes or backticks hide nothing: the script they
/// run is protected, the task's rewrite is `fs.protected` (exit 4), the
/// file stays and the host's aliases run nothing.
#[test]
fn a_script_a_wrapper_or_a_command_substitution_runs_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\ta = !timeout 60 sh -c 'tools/lint.sh --quick'\n\tb = !nice -n 5 sh -c 'tools/lint.sh'\n\
         \tc = !git commit --allow-empty -m \\\"$(tools/lint.sh)\\\"\n\td = !echo `tools/lint.sh`\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/lint.sh"), "#!/bin/sh\necho ok\n").unwrap();
    let mut perm = std::fs::metadata(e.ws.join("tools/lint.sh")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(e.ws.join("tools/lint.sh"), perm).unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let marker = e.root.join("r81-f3-ran");
    let before = std::fs::read(e.ws.join("tools/lint.sh")).unwrap();
    let o = e.sh("default", &format!("printf '#!/bin/sh\\ntouch {}\\n' > tools/lint.sh", marker.display()));
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read(e.ws.join("tools/lint.sh")).unwrap(), before, "the task's write stayed\n{}", o.all());
    for alias in ["a", "b", "c", "d"] {
        let _ = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
    }
    assert!(!marker.exists(), "the host's alias ran the task's script\n{}", o.all());
}

/// Review 78, T8: settings the environment gives git (`GIT_CONFIG_COUNT`
/// with `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`, `GIT_CONFIG_PARAMETERS`
/// as `git -c` hands it down) in orchestra's environment, as in the host's
/// git after it, are read like the host's config: a task planting the hook
/// they name is `fs.protected` (exit 4) and the host's git runs nothing; a
/// build under the same environment is no violation.
#[test]
fn settings_the_environment_gives_git_are_read_like_the_host_s_config() {
    let by_count =
        [("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "core.hooksPath"), ("GIT_CONFIG_VALUE_0", ".githooks")];
    let by_params = [("GIT_CONFIG_PARAMETERS", "'core.hookspath'='.githooks'")];
    for (case, vars) in [("count", &by_count[..]), ("parameters", &by_params[..])] {
        let e = repo_env();
        let marker = e.root.join(format!("t8-{case}-ran"));
        let mut c = e.cmd(
            "default",
            &[],
            &[
                "/bin/sh",
                "-c",
                &format!(
                    "mkdir -p .githooks && printf '#!/bin/sh\\ntouch {}\\n' > .githooks/pre-commit && chmod +x .githooks/pre-commit",
                    marker.display()
                ),
            ],
        );
        c.envs(vars.iter().copied());
        let o = e.run_cmd(c);
        o.assert_violation("fs.protected");
        let h = git_cmd(&e.ws, &["commit", "-q", "--allow-empty", "-m", "host"])
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(h.status.success(), "{case}: {}", String::from_utf8_lossy(&h.stderr));
        assert!(!marker.exists(), "{case}: the host's git ran the task's hook\n{}", o.all());
        // Benign: a build under the same environment.
        let mut c = e.cmd("default", &[], &["/bin/sh", "-c", "echo built > out.txt"]);
        c.envs(vars.iter().copied());
        e.run_cmd(c).assert_ok();
    }
}

/// Review 78, F7: a hook of a nested repository that is a symbolic link to
/// a workspace file (the classic `ln -s ../../scripts/pre-commit
/// .git/hooks/pre-commit`), in a clone the user has below the root, through
/// a chain of links, and in a submodule whose `.git` is a directory (not
/// absorbed): the link's target is the repository's code. A task rewriting
/// it is `fs.protected` (exit 4), the repository is put aside, and the
/// host's `git commit` there runs nothing. A task that edits another file
/// of the clone is no violation.
#[test]
fn a_hook_linked_to_a_workspace_file_in_a_nested_repository_is_its_code() {
    let hook = "#!/bin/sh\nexit 0\n";
    let clone_with_links = |e: &Env| {
        host_sh(
            &e.ws,
            &format!(
                "echo vendor/ >> .gitignore && {GIT} commit -qam ign && {GIT} init -q vendor/x && cd vendor/x && \
                 mkdir scripts && printf '{hook}' > scripts/pre-commit && printf '{hook}' > scripts/real && \
                 chmod +x scripts/pre-commit scripts/real && ln -s real scripts/step && {GIT} add -A && {GIT} commit -qm v && \
                 ln -s ../../scripts/pre-commit .git/hooks/pre-commit && ln -s ../../scripts/step .git/hooks/pre-push"
            ),
        );
    };
    for (case, target) in [("direct", "scripts/pre-commit"), ("chain", "scripts/real")] {
        let e = repo_env();
        clone_with_links(&e);
        let marker = e.root.join(format!("F7-{case}-ran"));
        // A chain: run at the host's `git push`; check it by running the
        // hook as git would (the link followed).
        let o = e.sh("default", &format!("printf '#!/bin/sh\\ntouch {}\\n' > vendor/x/{target}", marker.display()));
        o.assert_violation("fs.protected");
        assert!(o.all().contains("vendor/x"), "F7 {case}: {}", o.all());
        let x = e.ws.join("vendor/x");
        let _ = git(&x, &["commit", "-q", "--allow-empty", "-m", "next"]);
        let _ = git(&x, &["hook", "run", "--ignore-missing", "pre-push"]);
        assert!(!marker.exists(), "F7 {case}: the planted hook ran at the host's git");
    }
    // Old-style submodule: `lib/.git` a directory.
    let e = repo_env();
    let src = e.root.join("libsrc");
    std::fs::create_dir_all(&src).unwrap();
    host_sh(
        &src,
        &format!(
            "{GIT} init -q . && mkdir scripts && printf '{hook}' > scripts/hook && chmod +x scripts/hook && \
             {GIT} add -A && {GIT} commit -qm l"
        ),
    );
    host_sh(
        &e.ws,
        &format!(
            "{GIT} -c protocol.file.allow=always submodule add -q {} lib && {GIT} commit -qm sub && rm lib/.git && \
             mv .git/modules/lib lib/.git && git config -f lib/.git/config --unset core.worktree && \
             ln -s ../../scripts/hook lib/.git/hooks/pre-commit",
            src.display()
        ),
    );
    let marker = e.root.join("F7-submodule-ran");
    let o = e.sh("default", &format!("printf '#!/bin/sh\\ntouch {}\\n' > lib/scripts/hook", marker.display()));
    o.assert_violation("fs.protected");
    let _ = git(&e.ws.join("lib"), &["commit", "-q", "--allow-empty", "-m", "next"]);
    assert!(!marker.exists(), "F7 old-style submodule: the planted hook ran at the host's git");
    // Benign: another file of the clone.
    let e = repo_env();
    clone_with_links(&e);
    e.sh("default", "echo more >> vendor/x/scripts/notes.txt").assert_ok();
    assert!(e.ws.join("vendor/x/.git/hooks/pre-commit").exists(), "benign: the clone was put aside");
}

/// Review 78, F1b: `runs/` (which the diff leaves out) was walked by path
/// and gave up at the first directory it could not list, e.g. one whose
/// path passes `PATH_MAX` (20 `mkdir`s of 250-character names), leaving a
/// repository the task armed and named on `dev` unjudged. Walked by
/// descriptors, it goes on: the plant is disarmed, the deep directory is
/// renamed aside (`fs.protected`, exit 4), and the host's git runs nothing.
/// Ordinary nested directories in `runs/` are no violation.
#[test]
fn the_runs_walk_goes_on_past_a_path_longer_than_path_max() {
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F1b-ran");
    let long = "n".repeat(250);
    let script = format!(
        "set -e; {} && {} && mkdir -p runs/p3 && cd runs/p3 && i=0; while [ $i -lt 20 ]; do mkdir {long} && cd {long}; i=$((i+1)); done",
        fsmonitor_repo("runs/q/evil", &marker.display().to_string()),
        gitlink_on_dev("runs/q/evil")
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let all = o.all();
    assert!(all.contains("could not reach") && all.contains("renamed to"), "F1b: {all}");
    assert!(!e.ws.join("runs/q/evil/.git").exists(), "F1b: the planted repository is left\n{all}");
    assert!(all.contains("a path longer than") && all.contains(".removed-by-orchestra-"), "F1b: {all}");
    let _ = git(&e.ws, &["checkout", "-q", "dev"]);
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "F1b: the planted code ran at the host's git");
    // Benign: a run's ordinary output.
    let e = repo_env();
    e.sh("default", "set -e; mkdir -p runs/r1/out/a/b && echo x > runs/r1/out/a/b/f && mkdir -p runs/r2/logs")
        .assert_ok();
}

/// Review 78, F1: the walk by name (the diff's walk after the task past its
/// bounds) counted `.git` files that lead nowhere and `HEAD`s of
/// directories git cannot take for git directories towards a bound of
/// 100,000 finds, and left everything past it armed. Now it disarms as it
/// finds (no such bound) and leaves those decoys alone: a task that makes
/// 2,000 of them beside an armed repository named on `dev` and then grows
/// the workspace 300 levels deep is `fs.protected` (exit 4), only the
/// plant is disarmed, and the host's git runs nothing.
#[test]
fn the_walk_by_name_disarms_as_it_finds_and_leaves_decoys_alone() {
    let e = repo_env();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    let marker = e.root.join("F1-ran");
    let script = format!(
        "set -e; {} && {} && mkdir bulk && cd bulk && i=0; while [ $i -lt 2000 ]; do mkdir $i && : > $i/.git && : > $i/HEAD && \
         : > $i/objects && : > $i/refs; i=$((i+1)); done; cd .. && mkdir deep && cd deep && \
         i=0; while [ $i -lt 300 ]; do mkdir a && cd a; i=$((i+1)); done",
        fsmonitor_repo("q/evil", &marker.display().to_string()),
        gitlink_on_dev("q/evil")
    );
    let o = e.sh("default", &script);
    o.assert_violation("fs.protected");
    let all = o.all();
    assert!(all.contains("a walk by name disarmed every nested `.git`"), "F1: {all}");
    assert!(all.contains("1 made during the task removed, 0 renamed aside"), "F1: {all}");
    assert!(!all.contains("LEFT"), "F1: {all}");
    assert!(!e.ws.join("q/evil/.git").exists(), "F1: the planted repository is left");
    assert!(e.ws.join("bulk/7/HEAD").exists(), "F1: a decoy was disarmed");
    let _ = git(&e.ws, &["checkout", "-q", "dev"]);
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "F1: the planted code ran at the host's git");
}

/// Review 78, F8: a directory of another owner's (root's, `0711`: not
/// listable, searchable) the task leaves unchanged itself but writes below
/// (a subdirectory of the user's): an armed repository planted there and
/// named on `dev` was reported "unchanged, left in place". The task changed
/// the root's git directory, so it is put aside (`fs.protected`, exit 4)
/// and the host's git runs nothing. One the task writes below without
/// touching the root's git directory stays (still exit 4), the detail
/// saying what is below may have been changed.
#[test]
fn a_foreign_unlistable_directory_a_task_plants_below_is_put_aside() {
    let setup = || {
        let e = repo_env_as_nobody();
        assert!(git(&e.ws, &["branch", "dev"]).status.success());
        chown_tree(&e.root, NOBODY);
        let cache = e.ws.join("cache");
        std::fs::create_dir_all(cache.join("sub")).unwrap();
        std::os::unix::fs::chown(cache.join("sub"), Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        e
    };
    let e = setup();
    let marker = e.root.join("F8-ran");
    let o = e.sh(
        "default",
        &format!(
            "set -e; {} && {}",
            fsmonitor_repo("cache/sub/evil", &marker.display().to_string()),
            gitlink_on_dev("cache/sub/evil")
        ),
    );
    o.assert_violation("fs.protected");
    let all = o.all();
    assert!(all.contains("may have been changed by the task") && all.contains("put aside as"), "F8: {all}");
    assert!(!e.ws.join("cache").exists(), "F8: the directory is left where git reaches below it");
    let _ = git_as_nobody(&e, &e.ws, &["checkout", "-q", "dev"]);
    let _ = git_as_nobody(&e, &e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "F8: the planted code ran at the host's git");
    // Written below, the root's git directory untouched: left, said so.
    let e = setup();
    let o = e.sh("default", "echo x > cache/sub/f");
    o.assert_violation("fs.protected");
    let all = o.all();
    assert!(all.contains("may have been changed by the task") && all.contains("it was left in place"), "{all}");
    assert!(e.ws.join("cache/sub/f").exists(), "the directory was moved");
}

/// Review 79, F1 (the diff runs): a tracked directory given `HEAD`,
/// `objects` and an armed `config` (`core.worktree = ..`, an fsmonitor) but
/// no `refs` in one task (git takes it for no git directory), and its
/// `refs` (or, the other way round, its `objects`) in the next: the marker
/// that makes git take it counts as making it, so the second task is
/// `fs.protected` (exit 4), its `HEAD` goes, and the host's git run in it or
/// below it runs nothing.
#[test]
fn a_git_directory_completed_by_its_last_marker_in_a_later_task_is_judged_as_made() {
    for last in ["refs", "objects"] {
        let e = repo_env();
        host_sh(
            &e.ws,
            &format!("mkdir -p src/pkg/inner && echo 'int x;' > src/a.c && {GIT} add src && {GIT} commit -qm c"),
        );
        let marker = e.root.join(format!("F1-{last}-ran"));
        let o = e.sh(
            "default",
            &format!(
                "set -e; {GIT} init -q --bare /tmp/b && {GIT} --git-dir=/tmp/b --work-tree=src commit -q --allow-empty -m x && \
                 cp -r /tmp/b/objects /tmp/b/refs /tmp/b/HEAD src/ && mv src/{last} .cache-{last} && \
                 printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tworktree = ..\\n\\tfsmonitor = touch {}; false #\\n' > src/config",
                marker.display()
            ),
        );
        o.assert_ok();
        let o = e.sh("default", &format!("mv .cache-{last} src/{last}"));
        o.assert_violation("fs.protected");
        assert!(o.all().contains("a directory made a git directory"), "F1 {last}: {}", o.all());
        assert!(!e.ws.join("src/HEAD").exists(), "F1 {last}: the git directory is left\n{}", o.all());
        let _ = git(&e.ws.join("src"), &["status", "--short"]);
        let _ = git(&e.ws.join("src/pkg/inner"), &["describe", "--always", "--dirty"]);
        assert!(!marker.exists(), "F1 {last}: the planted code ran at the host's git");
    }
}

/// A workspace the diff cannot walk before the task (300 levels deep), as
/// [`NOBODY`] (modes matter), with a `dev` branch.
fn deep_env_as_nobody() -> Env {
    let e = repo_env_as_nobody();
    assert!(git(&e.ws, &["branch", "dev"]).status.success());
    host_sh(&e.ws, "mkdir deep && cd deep && i=0; while [ $i -lt 300 ]; do mkdir a && cd a; i=$((i+1)); done");
    chown_tree(&e.root, NOBODY);
    // The chown set every ctime: start past the judge's margin.
    std::thread::sleep(std::time::Duration::from_millis(300));
    e
}

/// Review 79, F2 (no diff: the walk by name): `sub/.git` points to `store`,
/// which one task gives a `config` (no `HEAD`: leads nowhere) and the next
/// its `objects`, `refs` and a `HEAD` of an object name followed by ` x`,
/// which git takes (it reads the first 40 hex digits), naming `sub` on
/// `dev`. The `HEAD` is found and judged: `fs.protected` (exit 4), and the
/// host's `git checkout dev`, `git status` and `git -C sub status` run
/// nothing.
#[test]
fn a_head_git_takes_with_text_after_its_object_name_is_found_without_a_diff() {
    let e = deep_env_as_nobody();
    let marker = e.root.join("F2-ran");
    let o = e.sh(
        "default",
        &format!(
            "mkdir -p sub store && printf 'gitdir: ../store\\n' > sub/.git && \
             printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tfsmonitor = touch {}; false #\\n' > store/config",
            marker.display()
        ),
    );
    o.assert_ok();
    assert!(o.all().contains("the workspace diff did not run"), "{}", o.all());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh(
        "default",
        &format!(
            "set -e; mkdir -p store/objects store/refs/heads; echo 'ref: refs/heads/main' > store/HEAD; \
             G='{GIT} -c core.fsmonitor=false'; $G --git-dir=store --work-tree=sub commit -q --allow-empty -m x; \
             s=$($G --git-dir=store rev-parse HEAD); echo \"$s x\" > store/HEAD; \
             export GIT_INDEX_FILE=$PWD/.git/tmpidx; $G read-tree dev; \
             $G update-index --add --cacheinfo 160000,$s,sub; c=$($G commit-tree -p dev -m bump $($G write-tree)); \
             $G update-ref refs/heads/dev $c; rm -f .git/tmpidx"
        ),
    );
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("store/HEAD").exists(), "F2: the git directory is left\n{}", o.all());
    let _ = git_as_nobody(&e, &e.ws, &["checkout", "-q", "dev"]);
    let _ = git_as_nobody(&e, &e.ws, &["status", "--short"]);
    let _ = git_as_nobody(&e, &e.ws.join("sub"), &["status", "--short"]);
    assert!(!marker.exists(), "F2: the planted code ran at the host's git");
}

/// Review 79, F2b (no diff): a tracked directory given `HEAD`, `refs`, an
/// armed `config` and `objects` of mode 000 (git cannot search it: no git
/// directory yet), then opened by `chmod 755 src/objects` in the next
/// task. `objects` one `chmod` from a git directory counts: the first task
/// is `fs.protected` (exit 4) and its `HEAD` goes; the `chmod` after it
/// makes nothing git runs, and the host's git in `src` runs nothing.
#[test]
fn a_git_directory_a_chmod_would_open_is_judged_without_a_diff() {
    let e = deep_env_as_nobody();
    host_sh(&e.ws, &format!("mkdir src && echo 'int x;' > src/a.c && {GIT} add src && {GIT} commit -qm c"));
    chown_tree(&e.root, NOBODY);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let marker = e.root.join("F2b-ran");
    let o = e.sh(
        "default",
        &format!(
            "set -e; G='{GIT} -c core.fsmonitor=false'; $G init -q --bare /tmp/b && $G --git-dir=/tmp/b --work-tree=src commit -q --allow-empty -m x && \
             cp -r /tmp/b/objects /tmp/b/refs /tmp/b/HEAD src/ && \
             printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tworktree = ..\\n\\tfsmonitor = touch {}; false #\\n' > src/config && \
             chmod 000 src/objects",
            marker.display()
        ),
    );
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("src/HEAD").exists(), "F2b: the git directory is left\n{}", o.all());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = e.sh("default", "chmod 755 src/objects");
    let _ = git_as_nobody(&e, &e.ws.join("src"), &["status", "--short"]);
    assert!(!marker.exists(), "F2b: the planted code ran at the host's git");
}

/// Benign neighbours of review 79: a bare clone a build made, fetched into
/// and opened to its group (`chmod -R g+w`: `objects` and `refs` change
/// mode) in a later task, with and without a diff, and a user's own bare
/// clone in a workspace past the diff's bounds fetched into: plain, no
/// violation, each left.
#[test]
fn a_plain_bare_clone_fetched_into_and_opened_to_its_group_later_is_no_violation() {
    let e = repo_env();
    let o = e.sh("default", &format!("{GIT} clone -q --bare file://$PWD vendor/up.git"));
    o.assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh(
        "default",
        &format!("set -e; {GIT} commit -q --allow-empty -m more && {GIT} -C vendor/up.git fetch -q origin && chmod -R g+w vendor/up.git"),
    );
    o.assert_ok();
    assert!(e.ws.join("vendor/up.git/HEAD").exists(), "{}", o.all());
    let e = deep_env_as_nobody();
    let url = format!("file://{}", e.ws.display());
    assert!(git_as_nobody(&e, &e.ws, &["clone", "-q", "--bare", &url, "mirror.git"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = e.sh(
        "default",
        &format!("set -e; {GIT} commit -q --allow-empty -m more && {GIT} -C mirror.git fetch -q origin && chmod -R g+w mirror.git"),
    );
    o.assert_ok();
    assert!(e.ws.join("mirror.git/HEAD").exists(), "{}", o.all());
}

/// Review 81, F1: a submodule's git directory planted in the root's
/// `.git/modules/evil` whose `refs` is an empty executable regular file
/// (git's `access(X_OK)` passes it; a detached `HEAD` needs no refs), its
/// objects the root's by `alternates`, its config `core.worktree` and
/// `core.fsmonitor`, registered in `.gitmodules` with a gitlink: exit 4,
/// `fs.protected` naming it, and the host's `git submodule update --init`
/// and `git status` run nothing.
#[test]
fn a_submodule_git_directory_whose_refs_is_an_executable_file_runs_nothing_at_the_host_git() {
    let e = repo_env();
    let marker = e.root.join("R81-F1-ran");
    let script = format!(
        "S=$({GIT} rev-parse HEAD) && G=.git/modules/evil && mkdir -p $G/objects/info && : > $G/refs && chmod 755 $G/refs && \
         echo ../../../objects > $G/objects/info/alternates && echo $S > $G/HEAD && \
         printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tworktree = ../../../evil\\n\\tfsmonitor = \"touch {}; false\"\\n' > $G/config && \
         printf '[submodule \"evil\"]\\n\\tpath = evil\\n\\turl = ./evil\\n' > .gitmodules && \
         {GIT} update-index --add --cacheinfo 160000,$S,evil && {GIT} add .gitmodules && {GIT} commit -qm sub",
        marker.display()
    );
    let o = e.sh("default", &format!("set -e; {script}"));
    o.assert_violation("fs.protected");
    assert!(o.all().contains("modules/evil"), "R81 F1: the planted git directory is not named\n{}", o.all());
    let _ = git(&e.ws, &["-c", "protocol.file.allow=always", "submodule", "-q", "update", "--init"]);
    let _ = git(&e.ws, &["status", "--short"]);
    assert!(!marker.exists(), "R81 F1: the planted code ran at the host's git\n{}", o.all());
}

/// Make `f` (in `dir`) executable.
fn chmod_x(f: &Path) {
    let mut p = std::fs::metadata(f).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
    std::fs::set_permissions(f, p).unwrap();
}

/// Stand-ins, in `dir`, for the runners this machine may lack, that run
/// what the real ones run (`sudo`/`doas`: the command after their options;
/// `uv run`, `poetry run`, `pipenv run`: the command; `pnpm exec -c`: the
/// words as a shell line), so that the host's aliases do run.
fn runner_stand_ins(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let skip =
        "while [ $# -gt 0 ]; do case \"$1\" in --) shift; break;; -u|-g) shift 2;; -*) shift;; *) break;; esac; done";
    for (name, body) in [
        ("sudo", format!("{skip}\nexec \"$@\"\n")),
        ("doas", format!("{skip}\nexec \"$@\"\n")),
        (
            "uv",
            "shift\nwhile [ $# -gt 0 ]; do case \"$1\" in --with) shift 2;; *) break;; esac; done\nexec \"$@\"\n"
                .into(),
        ),
        ("poetry", "shift\nexec \"$@\"\n".into()),
        ("pipenv", "shift\nexec \"$@\"\n".into()),
        ("pnpm", "shift 2\nexec sh -c \"$*\"\n".into()),
    ] {
        std::fs::write(dir.join(name), format!("#!/bin/sh\n{body}")).unwrap();
        chmod_x(&dir.join(name));
    }
}

/// Review 81, residual R1: a script or module a wrapper runs — `sudo`,
/// `doas`, `flock … -c`, `npx -c`, `pnpm exec -c`, `uv run`, `poetry
/// run`, `pipenv run` — is protected like one the alias runs itself (each
/// its own file, none of them protected before): the task's rewrite is
/// `fs.protected` (exit 4), the file stays as it was, and the host's
/// aliases (which do run the files: "ok") run nothing of the task's.
/// Benign beside it: installing a package `npx eslint` finds by name
/// (`node_modules/.bin/eslint`) and writing an unnamed script are exit 0
/// and stay.
#[test]
fn a_script_or_module_a_runner_or_wrapper_runs_is_protected() {
    let e = repo_env();
    let bin = e.root.join("bin");
    runner_stand_ins(&bin);
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\ta = !sudo -u root -- sh -c 'tools/a.sh --quick'\n\tb = !flock -w 5 .git/lint.lock -c 'tools/b.sh --quick'\n\
         \td = !npx -c 'cd . && tools/d.sh --quick'\n\te = !pnpm exec -c 'cd . && tools/e.sh'\n\
         \tf = !doas -u root sh -c 'tools/f.sh --quick'\n\tg = !uv run --with rich python3 -m tools.g\n\
         \th = !poetry run python3 -m tools.h\n\ti = !pipenv run python3 -m tools.i\n\tl = !npx eslint src/\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/__init__.py"), "").unwrap();
    for m in ["g", "h", "i"] {
        std::fs::write(e.ws.join(format!("tools/{m}.py")), "print('ok')\n").unwrap();
    }
    commit_ok_scripts(&e, &["a", "b", "d", "e", "f"]);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let host = |alias: &str| {
        let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).env("PATH", &path).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let aliases = ["a", "b", "d", "e", "f", "g", "h", "i"];
    for alias in aliases {
        assert!(host(alias).contains("ok"), "the host's `git {alias}` does not run its file: the test proves nothing");
    }
    let marker = e.root.join("r82-wrapper-ran");
    let m = marker.display();
    let mut cases: Vec<(String, String)> = ["a", "b", "d", "e", "f"]
        .iter()
        .map(|s| (format!("tools/{s}.sh"), format!("printf '#!/bin/sh\\ntouch {m}\\n' > tools/{s}.sh")))
        .collect();
    cases.extend(
        ["g", "h", "i"].iter().map(|s| (format!("tools/{s}.py"), format!("echo \"open('{m}', 'w')\" > tools/{s}.py"))),
    );
    for (file, plant) in &cases {
        rewrite_is_refused_and_runs_nothing(&e, file, plant, &marker, || {
            for alias in aliases {
                let _ = host(alias);
            }
        });
    }
    // Benign: what a package runner finds by name is the task's to install.
    let o = e.sh(
        "default",
        "set -e; mkdir -p node_modules/eslint/bin node_modules/.bin src; echo 'console.log(1)' > node_modules/eslint/bin/eslint.js; \
         ln -s ../eslint/bin/eslint.js node_modules/.bin/eslint; echo 'echo other' > tools/other.sh; echo x > src/a.js",
    );
    o.assert_ok();
    for f in ["node_modules/.bin/eslint", "tools/other.sh", "src/a.js"] {
        assert!(std::fs::symlink_metadata(e.ws.join(f)).is_ok(), "{f} not written\n{}", o.all());
    }
}

/// Review 81, residual R2: a directory given to an interpreter runs a file in
/// it — `node scripts/release` its `index.js`, `node pkg` its
/// `package.json`'s `main`, `python3 tools/app` its `__main__.py` — so
/// rewriting that file, or, where the directory is absent, making it with
/// such a file (`node build/gen`, `python3 out/tool`), is `fs.protected`
/// (exit 4): the file is as it was (absent), and the host's aliases run
/// nothing of the task's. Benign: making those directories with other
/// files, and writing data beside the entry files, is exit 0 and stays.
#[test]
fn a_directory_an_interpreter_runs_is_code_by_its_entry_files() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\trel = !node scripts/release\n\tpkg = !node pkg --x\n\tapp = !python3 tools/app\n\
         \tgen = !node build/gen\n\ttool = !python3 out/tool\n",
    )
    .unwrap();
    for d in ["scripts/release", "pkg/lib", "tools/app"] {
        std::fs::create_dir_all(e.ws.join(d)).unwrap();
    }
    std::fs::write(e.ws.join("scripts/release/index.js"), "console.log('ok')\n").unwrap();
    std::fs::write(e.ws.join("pkg/package.json"), "{\"name\": \"pkg\", \"main\": \"lib/cli.js\"}\n").unwrap();
    std::fs::write(e.ws.join("pkg/lib/cli.js"), "console.log('ok')\n").unwrap();
    std::fs::write(e.ws.join("tools/app/__main__.py"), "print('ok')\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "entry points"]).status.success());
    let host = |alias: &str| {
        let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for alias in ["rel", "pkg", "app"] {
        assert!(
            host(alias).contains("ok"),
            "`git {alias}` does not run the entry file (node and python3 are required)"
        );
    }
    let marker = e.root.join("r82-dir-ran");
    let m = marker.display();
    let js = format!("require('fs').writeFileSync('{m}', '')");
    let py = format!("open('{m}', 'w')");
    for (file, plant) in [
        ("scripts/release/index.js", format!("echo \"{js}\" > scripts/release/index.js")),
        ("pkg/lib/cli.js", format!("echo \"{js}\" > pkg/lib/cli.js")),
        ("pkg/package.json", "echo '{\"main\": \"evil.js\"}' > pkg/package.json".to_string()),
        ("tools/app/__main__.py", format!("echo \"{py}\" > tools/app/__main__.py")),
        ("build/gen/index.js", format!("mkdir -p build/gen && echo \"{js}\" > build/gen/index.js")),
        ("build/gen.js", format!("mkdir -p build && echo \"{js}\" > build/gen.js")),
        ("out/tool/__main__.py", format!("mkdir -p out/tool && echo \"{py}\" > out/tool/__main__.py")),
    ] {
        let before = std::fs::read(e.ws.join(file)).ok();
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        assert_eq!(std::fs::read(e.ws.join(file)).ok(), before, "{file}: the task's write stayed\n{}", o.all());
        for alias in ["rel", "pkg", "app", "gen", "tool"] {
            let _ = host(alias);
        }
        assert!(!marker.exists(), "{file}: the host's alias ran the task's code\n{}", o.all());
    }
    // Benign: the directories made with other files, data beside entry files.
    let o = e.sh(
        "default",
        "set -e; mkdir -p build/gen/assets out/tool/static; echo a > build/gen/assets/a.txt; echo s > out/tool/static/s.css; \
         echo '{}' > tools/app/data.json; echo n > scripts/release/NOTES.md",
    );
    o.assert_ok();
    for f in ["build/gen/assets/a.txt", "out/tool/static/s.css", "tools/app/data.json", "scripts/release/NOTES.md"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Python code for `/usr/bin/python3` that writes, at `tools/__pycache__`,
/// the bytecode of `open(marker)` with a header naming `tools/conv.py`'s
/// mtime and size: what Python then runs in its place.
fn forged_pyc(marker: &Path) -> String {
    format!(
        "import importlib.util, marshal, os, sys\n\
         st = os.stat('tools/conv.py')\n\
         code = compile(\"open('{}', 'w')\", 'tools/conv.py', 'exec')\n\
         head = importlib.util.MAGIC_NUMBER + bytes(4) + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, 'little') + (st.st_size & 0xFFFFFFFF).to_bytes(4, 'little')\n\
         os.makedirs('tools/__pycache__', exist_ok=True)\n\
         open('tools/__pycache__/conv.' + sys.implementation.cache_tag + '.pyc', 'wb').write(head + marshal.dumps(code))\n",
        marker.display()
    )
}

/// Review 79, residual R3: the cached bytecode of a module a host alias runs
/// (`!/usr/bin/python3 -m tools.conv`) stands for the module: Python runs
/// `tools/__pycache__/conv.cpython-3X.pyc` in place of the protected
/// `tools/conv.py` when its header names the source's mtime and size (shown
/// first outside any task). A task forging one is `fs.protected` (exit 4),
/// the cache is absent afterwards and the host's alias runs nothing. Benign:
/// bytecode of other modules and the task running the module itself (the
/// policy keeps its caches in `/tmp`) are exit 0.
#[test]
fn bytecode_standing_for_a_protected_module_is_protected() {
    let python = Path::new("/usr/bin/python3");
    assert!(python.exists(), "/usr/bin/python3 is required");
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[alias]\n\tconv = !/usr/bin/python3 -m tools.conv\n").unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/__init__.py"), "").unwrap();
    std::fs::write(e.ws.join("tools/conv.py"), "print('ok')\n").unwrap();
    std::fs::write(e.ws.join(".gitignore"), ".orchestra/\n__pycache__/\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = || git_cmd(&e.ws, &["conv"]).env("HOME", &e.home).env_remove("PYTHONPYCACHEPREFIX").output().unwrap();
    // The attack is real: a forged cache in a copy runs in place of the source.
    let copy = e.root.join("copy");
    std::fs::create_dir_all(copy.join("tools")).unwrap();
    for f in ["tools/__init__.py", "tools/conv.py"] {
        std::fs::copy(e.ws.join(f), copy.join(f)).unwrap();
    }
    let probe = e.root.join("r82-probe-ran");
    let s = Command::new(python).arg("-c").arg(forged_pyc(&probe)).current_dir(&copy).status().unwrap();
    assert!(s.success());
    let s =
        Command::new(python).args(["-m", "tools.conv"]).env_remove("PYTHONPYCACHEPREFIX").current_dir(&copy).status();
    assert!(s.unwrap().success() && probe.exists(), "a forged cache is not run in place of the source here");
    assert!(String::from_utf8_lossy(&host().stdout).contains("ok"));
    // Absent at the start, as after a clone (the host's run above made it).
    let _ = std::fs::remove_dir_all(e.ws.join("tools/__pycache__"));
    let marker = e.root.join("r82-pyc-ran");
    let o = e.sh(
        "default",
        &format!("cat > /tmp/forge.py <<'PY'\n{}PY\n/usr/bin/python3 /tmp/forge.py", forged_pyc(&marker)),
    );
    o.assert_violation("fs.protected");
    let cached: Vec<_> = std::fs::read_dir(e.ws.join("tools/__pycache__"))
        .map(|d| d.flatten().map(|f| f.file_name()).filter(|n| n.to_string_lossy().starts_with("conv.")).collect())
        .unwrap_or_default();
    assert!(cached.is_empty(), "the task's bytecode stayed: {cached:?}\n{}", o.all());
    let _ = host();
    assert!(!marker.exists(), "the host's alias ran the task's bytecode\n{}", o.all());
    // Benign: other modules' bytecode, the module run in the task.
    let o = e.sh(
        "default",
        "set -e; mkdir -p tools/__pycache__ tests/__pycache__; echo x > tools/__pycache__/other.cpython-311.pyc; \
         echo y > tests/__pycache__/test_a.cpython-311.pyc; /usr/bin/python3 -m tools.conv",
    );
    o.assert_ok();
    assert!(o.stdout.contains("ok"), "{}", o.all());
    assert!(e.ws.join("tools/__pycache__/other.cpython-311.pyc").is_file(), "{}", o.all());
}

/// Where `p` is a link, what it says; `None` where it is anything else.
fn link_text(p: &Path) -> Option<std::path::PathBuf> {
    std::fs::symlink_metadata(p).ok().filter(|m| m.file_type().is_symlink()).and_then(|_| std::fs::read_link(p).ok())
}

/// Review 82, F1: in the root repository's config, a program, a hooks
/// directory or an included file named through a link (`alias.lint =
/// !bin/lint` with `bin/lint -> ../scripts/lint.sh`, `core.hooksPath =
/// .githooks` with `.githooks -> hooks-real`, `include.path =
/// ../shared/team.gitconfig` with `shared -> conf`) is protected by its
/// name and each link on the way, not only where it leads: a task
/// replacing the link with its own file or directory is `fs.protected`
/// (exit 4), the link stays and the host's git runs nothing. A task
/// working beside them (a file next to the link, next to its target, a
/// commit through the hook) is no violation.
#[test]
fn review82_f1_a_path_the_repository_config_names_through_a_link_is_protected_by_its_links() {
    let layout = |e: &Env| {
        host_sh(
            &e.ws,
            "mkdir -p scripts bin hooks-real conf && printf '#!/bin/sh\\necho lint ok\\n' > scripts/lint.sh && \
             chmod +x scripts/lint.sh && ln -s ../scripts/lint.sh bin/lint && ln -s hooks-real .githooks && \
             touch hooks-real/.keep && printf '[user]\\n\\tname = team\\n' > conf/team.gitconfig && ln -s conf shared",
        );
        assert!(git(&e.ws, &["add", "-A"]).status.success());
        assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
        for (k, v) in
            [("alias.lint", "!bin/lint"), ("core.hooksPath", ".githooks"), ("include.path", "../shared/team.gitconfig")]
        {
            assert!(git(&e.ws, &["config", k, v]).status.success());
        }
    };
    for (case, link, plant) in [
        ("alias", "bin/lint", "rm bin/lint && printf '#!/bin/sh\\ntouch MARK\\n' > bin/lint && chmod +x bin/lint"),
        (
            "hooks",
            ".githooks",
            "rm .githooks && mkdir .githooks && printf '#!/bin/sh\\ntouch MARK\\n' > .githooks/pre-commit && chmod +x .githooks/pre-commit",
        ),
        (
            "include",
            "shared",
            "rm shared && mkdir shared && printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' > shared/team.gitconfig",
        ),
        (
            "retarget",
            "shared",
            "mkdir evil && printf '[core]\\n\\tfsmonitor = \"touch MARK; false\"\\n' > evil/team.gitconfig && ln -s evil s2 && mv -T s2 shared",
        ),
    ] {
        let e = repo_env();
        layout(&e);
        let marker = e.root.join(format!("r82-f1-{case}-ran"));
        let before = link_text(&e.ws.join(link));
        assert!(before.is_some(), "{case}: {link} is a link before the task");
        let o = e.sh("default", &plant.replace("MARK", &marker.display().to_string()));
        o.assert_violation("fs.protected");
        assert_eq!(link_text(&e.ws.join(link)), before, "{case}: the link {link} was replaced\n{}", o.all());
        let _ = git(&e.ws, &["lint"]);
        host_git_runs_nothing(&e, &marker);
    }
    // Benign: the same layout, a task writing beside the links and their
    // targets, running the alias and committing through the hook.
    let e = repo_env();
    layout(&e);
    let o = e.sh(
        "default",
        &format!(
            "set -e; echo x > bin/other; echo y > scripts/other.sh; echo z > conf/notes.txt; mkdir -p out; \
             echo built > out/a; {GIT} lint; echo c >> README; {GIT} commit -qam build"
        ),
    );
    o.assert_ok();
    for f in ["bin/other", "scripts/other.sh", "conf/notes.txt", "out/a"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 82, F10: the host's git config reached through a chain of links
/// (`~/.gitconfig -> <ws>/gitconfig -> git/config`) is protected at each
/// link of the chain in the workspace, not only at its end: a task
/// replacing the link `gitconfig` with its own file is `fs.protected` (exit
/// 4), the link stays, and the host's next `git status` runs nothing. A
/// task writing elsewhere in the same dotfiles workspace is no violation.
#[test]
fn review82_f10_a_host_config_reached_through_a_chain_of_links_is_protected_at_each_link() {
    let e = repo_env();
    host_sh(&e.ws, "mkdir -p git && printf '[user]\\n\\tname = h\\n' > git/config && ln -s git/config gitconfig");
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "dotfiles"]).status.success());
    std::os::unix::fs::symlink(e.ws.join("gitconfig"), e.home.join(".gitconfig")).unwrap();
    let marker = e.root.join("r82-f10-ran");
    let o = e.sh(
        "default",
        &format!(
            "rm gitconfig && printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' > gitconfig",
            marker.display()
        ),
    );
    o.assert_violation("fs.protected");
    assert_eq!(link_text(&e.ws.join("gitconfig")), Some("git/config".into()), "the link was replaced\n{}", o.all());
    let _ = git_cmd(&e.ws, &["status"]).env("HOME", &e.home).output().expect("git is required");
    assert!(!marker.exists(), "the host's git status ran the task's fsmonitor\n{}", o.all());
    // Benign: other dotfiles and the work tree.
    let o = e.sh("default", "set -e; echo 'set number' > vimrc; echo '*.swp' > git/ignore; echo b >> README");
    o.assert_ok();
    assert!(e.ws.join("git/ignore").is_file() && e.ws.join("vimrc").is_file(), "{}", o.all());
}

/// Review 82, F3: a template directory in the workspace that the host's
/// git copies into every repository it makes (`init.templateDir` in the
/// host's config, `GIT_TEMPLATE_DIR` in its environment) is protected
/// whole: a task planting a hook (or a config) there is `fs.protected`
/// (exit 4), the planted file is gone, and the host's next `git clone`
/// elsewhere runs nothing. A task writing beside it is no violation.
#[test]
fn review82_f3_a_template_directory_the_host_names_in_the_workspace_is_protected() {
    for case in ["config", "env"] {
        let e = repo_env();
        host_sh(&e.ws, "mkdir -p git-template/hooks && echo '# ctags hook' > git-template/hooks/README");
        assert!(git(&e.ws, &["add", "-A"]).status.success());
        assert!(git(&e.ws, &["commit", "-qm", "template"]).status.success());
        let template = e.ws.join("git-template");
        if case == "config" {
            std::fs::write(e.home.join(".gitconfig"), format!("[init]\n\ttemplateDir = {}\n", template.display()))
                .unwrap();
        }
        let with_env = |mut c: Command| {
            if case == "env" {
                c.env("GIT_TEMPLATE_DIR", &template);
            }
            c
        };
        let marker = e.root.join(format!("r82-f3-{case}-ran"));
        for (planted, plant) in [
            (
                "hooks/post-checkout",
                format!(
                    "printf '#!/bin/sh\\ntouch {}\\n' > git-template/hooks/post-checkout && chmod +x git-template/hooks/post-checkout",
                    marker.display()
                ),
            ),
            (
                "config",
                format!(
                    "printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' > git-template/config",
                    marker.display()
                ),
            ),
        ] {
            let o = e.run_cmd(with_env(e.cmd("default", &[], &["/bin/sh", "-c", &plant])));
            o.assert_violation("fs.protected");
            assert!(
                std::fs::symlink_metadata(template.join(planted)).is_err(),
                "{case}: {planted} stayed\n{}",
                o.all()
            );
        }
        let elsewhere = e.root.join(format!("elsewhere-{case}"));
        let clone =
            with_env(git_cmd(&e.root, &["clone", "-q", &e.ws.display().to_string(), &elsewhere.display().to_string()]))
                .env("HOME", &e.home)
                .output()
                .expect("git is required");
        assert!(clone.status.success(), "{}", String::from_utf8_lossy(&clone.stderr));
        let _ = git_cmd(&elsewhere, &["status"]).env("HOME", &e.home).output().expect("git is required");
        assert!(!marker.exists(), "{case}: the host's git clone ran the task's hook");
        // Benign: beside the template directory.
        let o = e.run_cmd(with_env(e.cmd(
            "default",
            &[],
            &["/bin/sh", "-c", "set -e; echo notes > git-template.md; mkdir -p build && echo o > build/a"],
        )));
        o.assert_ok();
        assert!(e.ws.join("build/a").is_file(), "{}", o.all());
    }
}

/// Review 82, F4: git's own `-c key=program` in an alias — an alias
/// without `!` whose expansion starts with it (`st = -c
/// core.fsmonitor=tools/fsmon.sh status`) and `-c` given to git inside a
/// `!` alias (`gs = !git -c …`) — makes the program code like a config
/// file's setting (the host's aliases do run it, shown first). The task's
/// rewrite is `fs.protected` (exit 4), the file stays as it was and the
/// host's aliases run nothing of the task's. Benign: an alias setting no
/// command (`-c color.ui=always log`) makes nothing code: writing the
/// files it names and other scripts is exit 0 and stays.
#[test]
fn a_program_git_s_own_c_option_names_in_an_alias_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tst = -c core.fsmonitor=tools/fsmon.sh status\n\tgs = !git -c core.fsmonitor=tools/fsmon2.sh status\n\
         \tlg = -c color.ui=always log --oneline -- src/main.rs\n",
    )
    .unwrap();
    let probe = e.root.join("r82-fsmon-probe");
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    for s in ["fsmon", "fsmon2"] {
        let f = e.ws.join(format!("tools/{s}.sh"));
        std::fs::write(&f, format!("#!/bin/sh\ntouch {}\nexit 1\n", probe.display())).unwrap();
        chmod_x(&f);
    }
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = |alias: &str| {
        let _ = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
    };
    for alias in ["st", "gs"] {
        let _ = std::fs::remove_file(&probe);
        host(alias);
        assert!(probe.exists(), "the host's `git {alias}` does not run its fsmonitor: the test proves nothing");
    }
    let marker = e.root.join("r82-fsmon-ran");
    for s in ["fsmon", "fsmon2"] {
        let file = format!("tools/{s}.sh");
        let plant = format!("printf '#!/bin/sh\\ntouch {}\\nexit 1\\n' > {file}", marker.display());
        rewrite_is_refused_and_runs_nothing(&e, &file, &plant, &marker, || {
            for alias in ["st", "gs"] {
                host(alias);
            }
        });
    }
    // Benign: what an alias without a command setting names is no code.
    let o = e.sh("default", "set -e; mkdir -p src; echo 'fn main() {}' > src/main.rs; echo 'echo x' > tools/other.sh");
    o.assert_ok();
    for f in ["src/main.rs", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 82, F5: for `!/usr/bin/python3 -m tools.lint`, a package
/// `__init__` under another loader suffix — sourceless `tools/__init__.pyc`,
/// an extension `tools/__init__.so` or `tools/__init__<EXTENSION_SUFFIX>`
/// — makes `tools` a regular package whose init runs before the module
/// (shown first outside any task). The task planting one is `fs.protected`
/// (exit 4), the file is absent afterwards and the host's alias runs
/// nothing of the task's. Benign: another extension module and another
/// module beside it, and the task running the module, are exit 0.
#[test]
fn a_package_init_under_another_loader_suffix_is_protected() {
    let python = Path::new("/usr/bin/python3");
    assert!(python.exists(), "/usr/bin/python3 is required");
    assert!(Path::new("/usr/bin/cc").exists(), "/usr/bin/cc is required");
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[alias]\n\tlint = !/usr/bin/python3 -m tools.lint\n").unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/lint.py"), "print('lint ok')\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = || {
        let o = git_cmd(&e.ws, &["lint"]).env("HOME", &e.home).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(host().contains("lint ok"), "the host's alias does not run the module: the test proves nothing");
    let suffix = Command::new(python)
        .args(["-c", "import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])"])
        .output()
        .unwrap();
    let suffix = String::from_utf8_lossy(&suffix.stdout).trim().to_string();
    assert!(suffix.starts_with(".cpython-"), "{suffix}");
    let marker = e.root.join("r82-init-ran");
    let m = marker.display();
    let c = format!(
        "printf '#include <stdlib.h>\\n__attribute__((constructor)) static void c(void){{system(\"touch {m}\");}}\\n' > /tmp/i.c"
    );
    // The attack is real: the extension init runs before the module, here.
    let copy = e.root.join("copy");
    std::fs::create_dir_all(copy.join("tools")).unwrap();
    std::fs::copy(e.ws.join("tools/lint.py"), copy.join("tools/lint.py")).unwrap();
    let probe = e.root.join("r82-init-probe");
    let s = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} && cc -shared -fPIC -o tools/__init__{suffix} /tmp/i.c && /usr/bin/python3 -m tools.lint",
            c.replace(&m.to_string(), &probe.display().to_string())
        ))
        .current_dir(&copy)
        .output()
        .unwrap();
    assert!(probe.exists(), "an extension package init does not run here: {s:?}");
    for (file, plant) in [
        (
            "tools/__init__.pyc".to_string(),
            format!(
                "echo 'open(\"{m}\", \"w\")' > /tmp/i.py && /usr/bin/python3 -c 'import py_compile; py_compile.compile(\"/tmp/i.py\", cfile=\"tools/__init__.pyc\")'"
            ),
        ),
        ("tools/__init__.so".to_string(), format!("{c} && cc -shared -fPIC -o tools/__init__.so /tmp/i.c")),
        (format!("tools/__init__{suffix}"), format!("{c} && cc -shared -fPIC -o tools/__init__{suffix} /tmp/i.c")),
    ] {
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(&file).exists(), "{file}: the task's plant stayed\n{}", o.all());
        assert!(host().contains("lint ok"), "{}", o.all());
        assert!(!marker.exists(), "{file}: the host's alias ran the task's code\n{}", o.all());
    }
    // Benign: other extension modules and modules, the module run in the task.
    let o = e.sh(
        "default",
        &format!(
            "set -e; {c} && cc -shared -fPIC -o tools/fast{suffix} /tmp/i.c; echo 'X = 1' > tools/helpers.py; \
             /usr/bin/python3 -m tools.lint"
        ),
    );
    o.assert_ok();
    assert!(o.stdout.contains("lint ok"), "{}", o.all());
    for f in [format!("tools/fast{suffix}"), "tools/helpers.py".to_string()] {
        assert!(e.ws.join(&f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 84, F2: for `!/usr/bin/python3 -m tools.conv` with `tools/` a
/// namespace package (no `__init__.py`), Python's finder takes a module
/// `tools.py` (or sourceless `tools.pyc`) beside the directory for
/// `tools` and runs it (shown first outside any task). The task planting
/// one is `fs.protected` (exit 4), the file is absent afterwards and the
/// host's alias runs nothing of the task's. Benign: another module beside
/// the package and the task running the module are exit 0.
#[test]
fn a_namespace_package_s_module_file_beside_it_is_protected() {
    let python = Path::new("/usr/bin/python3");
    assert!(python.exists(), "/usr/bin/python3 is required");
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[alias]\n\tconv = !/usr/bin/python3 -m tools.conv\n").unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/conv.py"), "print('conv ok')\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = || {
        let o = git_cmd(&e.ws, &["conv"]).env("HOME", &e.home).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(host().contains("conv ok"), "the host's alias does not run the module: the test proves nothing");
    let plant = |marker: &Path| format!("open('{}', 'w')\n__path__ = ['tools']\n", marker.display());
    // The attack is real: `tools.py` runs in place of the namespace package, here.
    let copy = e.root.join("copy");
    std::fs::create_dir_all(copy.join("tools")).unwrap();
    std::fs::copy(e.ws.join("tools/conv.py"), copy.join("tools/conv.py")).unwrap();
    let probe = e.root.join("r84-ns-probe");
    std::fs::write(copy.join("tools.py"), plant(&probe)).unwrap();
    let s = Command::new(python).args(["-m", "tools.conv"]).current_dir(&copy).output().unwrap();
    assert!(
        probe.exists() && String::from_utf8_lossy(&s.stdout).contains("conv ok"),
        "tools.py is not run here: {s:?}"
    );
    let marker = e.root.join("r84-ns-ran");
    let source = plant(&marker);
    for (file, cmd) in [
        ("tools.py", format!("cat > tools.py <<'PY'\n{source}PY")),
        (
            "tools.pyc",
            format!(
                "cat > /tmp/t.py <<'PY'\n{source}PY\n/usr/bin/python3 -c 'import py_compile; py_compile.compile(\"/tmp/t.py\", cfile=\"tools.pyc\")'"
            ),
        ),
    ] {
        let o = e.sh("default", &cmd);
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(file).exists(), "{file}: the task's plant stayed\n{}", o.all());
        assert!(host().contains("conv ok"), "{}", o.all());
        assert!(!marker.exists(), "{file}: the host's alias ran the task's code\n{}", o.all());
    }
    // Benign: another module beside the package, the module run in the task.
    let o = e.sh(
        "default",
        "set -e; echo 'X = 1' > helpers.py; echo 'Y = 2' > tools/util.py; /usr/bin/python3 -m tools.conv",
    );
    o.assert_ok();
    assert!(o.stdout.contains("conv ok"), "{}", o.all());
    for f in ["helpers.py", "tools/util.py"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 84, F3: `!/usr/bin/python3 -m tools.conv` and `!/usr/bin/python3
/// tools/app` put the work tree (or `tools/app`) first on `sys.path`, then
/// the runner imports `importlib`, `contextlib`… from there: a planted
/// `importlib.py` runs (shown first outside any task). The task planting
/// one there (`importlib.py`, `contextlib.py`, `importlib/__init__.py`,
/// `tools/app/importlib.py`) is `fs.protected` (exit 4), the file is
/// absent afterwards and the host's aliases run nothing of the task's.
/// Benign: other modules at the top and beside `__main__.py`, and the
/// task running both, are exit 0.
#[test]
fn a_module_the_python_runner_imports_from_the_work_tree_is_protected() {
    let python = Path::new("/usr/bin/python3");
    assert!(python.exists(), "/usr/bin/python3 is required");
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tconv = !/usr/bin/python3 -m tools.conv\n\tapp = !/usr/bin/python3 tools/app\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools/app")).unwrap();
    std::fs::write(e.ws.join("tools/__init__.py"), "").unwrap();
    std::fs::write(e.ws.join("tools/conv.py"), "print('conv ok')\n").unwrap();
    std::fs::write(e.ws.join("tools/app/__main__.py"), "print('app ok')\n").unwrap();
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = |alias: &str| {
        let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(host("conv").contains("conv ok") && host("app").contains("app ok"), "the aliases do not run: no proof");
    // The attack is real: the runner imports a planted `importlib.py`, here.
    let copy = e.root.join("copy");
    std::fs::create_dir_all(copy.join("tools/app")).unwrap();
    for f in ["tools/__init__.py", "tools/conv.py", "tools/app/__main__.py"] {
        std::fs::copy(e.ws.join(f), copy.join(f)).unwrap();
    }
    for (dir, args) in [("", &["-m", "tools.conv"][..]), ("tools/app/", &["tools/app"])] {
        let probe = e.root.join("r84-runner-probe");
        std::fs::write(copy.join(format!("{dir}importlib.py")), format!("open('{}', 'w')\n", probe.display())).unwrap();
        let s = Command::new(python).args(args).current_dir(&copy).output().unwrap();
        assert!(probe.exists(), "{dir}importlib.py is not imported here: {s:?}");
        std::fs::remove_file(&probe).unwrap();
    }
    let marker = e.root.join("r84-runner-ran");
    let source = format!("open('{}', 'w')", marker.display());
    for file in ["importlib.py", "contextlib.py", "importlib/__init__.py", "tools/app/importlib.py"] {
        let o = e.sh("default", &format!("mkdir -p $(dirname {file}) && echo \"{source}\" > {file}"));
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(file).exists(), "{file}: the task's plant stayed\n{}", o.all());
        assert!(host("conv").contains("conv ok") && host("app").contains("app ok"), "{}", o.all());
        assert!(!marker.exists(), "{file}: the host's alias ran the task's code\n{}", o.all());
    }
    // Benign: other modules at the top and beside the app, both run in the task.
    let o = e.sh(
        "default",
        "set -e; echo 'X = 1' > helpers.py; echo 'Y = 2' > tools/app/util.py; \
         /usr/bin/python3 -m tools.conv; /usr/bin/python3 tools/app",
    );
    o.assert_ok();
    assert!(o.stdout.contains("conv ok") && o.stdout.contains("app ok"), "{}", o.all());
    for f in ["helpers.py", "tools/app/util.py"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 84, F5: `env`'s `-C` inside an option cluster or glued
/// (`!env -iC tools ./lint.sh`, `-Ctools`, `--chdir tools`) runs
/// `tools/lint.sh` (the host's aliases do, shown first). The task's
/// rewrite of it is `fs.protected` (exit 4), the file stays as it was and
/// the host's aliases run nothing of the task's. Benign: a top-level
/// `lint.sh` (which these do not run) is exit 0.
#[test]
fn env_s_directory_in_an_option_cluster_is_read() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\ta = !env -iC tools ./lint.sh\n\tb = !env -Ctools ./lint.sh\n\tc = !env --chdir tools ./lint.sh\n",
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/lint.sh"), "#!/bin/sh\necho ok\n").unwrap();
    chmod_x(&e.ws.join("tools/lint.sh"));
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
    let host = |alias: &str| {
        let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for alias in ["a", "b", "c"] {
        assert!(host(alias).contains("ok"), "the host's `git {alias}` does not run its file: the test proves nothing");
    }
    let marker = e.root.join("r84-env-ran");
    let before = std::fs::read(e.ws.join("tools/lint.sh")).unwrap();
    let o = e.sh("default", &format!("printf '#!/bin/sh\\ntouch {}\\n' > tools/lint.sh", marker.display()));
    o.assert_violation("fs.protected");
    assert_eq!(std::fs::read(e.ws.join("tools/lint.sh")).unwrap(), before, "the task's write stayed\n{}", o.all());
    for alias in ["a", "b", "c"] {
        let _ = host(alias);
    }
    assert!(!marker.exists(), "the host's alias ran the task's code\n{}", o.all());
    let o = e.sh("default", "set -e; printf '#!/bin/sh\\necho top\\n' > lint.sh; chmod +x lint.sh");
    o.assert_ok();
    assert!(e.ws.join("lint.sh").is_file(), "{}", o.all());
}

/// Review 82, F7: `!eval "tools/e.sh --quick"` runs its words as a command
/// line, and `!env -C tools ./c.sh` runs `./c.sh` from `tools` (the host's
/// aliases do run them, shown first). The task's rewrite of either script
/// is `fs.protected` (exit 4), the file stays as it was and the host's
/// aliases run nothing of the task's. Benign: a top-level `c.sh` (which
/// `env -C tools ./c.sh` does not run) and other scripts are exit 0.
#[test]
fn eval_s_command_line_and_env_s_directory_are_read() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\te = !eval \\\"tools/e.sh --quick\\\"\n\tc = !env -C tools ./c.sh\n",
    )
    .unwrap();
    commit_ok_scripts(&e, &["e", "c"]);
    let host = |alias: &str| host_alias(&e, alias);
    for alias in ["e", "c"] {
        assert!(host(alias).contains("ok"), "the host's `git {alias}` does not run its file: the test proves nothing");
    }
    let marker = e.root.join("r82-eval-ran");
    for s in ["e", "c"] {
        let file = format!("tools/{s}.sh");
        rewrite_is_refused_and_runs_nothing(&e, &file, &touch_script(&file, &marker), &marker, || {
            for alias in ["e", "c"] {
                let _ = host(alias);
            }
        });
    }
    let o = e.sh(
        "default",
        "set -e; printf '#!/bin/sh\\necho top\\n' > c.sh; chmod +x c.sh; echo 'echo x' > tools/other.sh",
    );
    o.assert_ok();
    for f in ["c.sh", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 82's residual wrappers: `su -c '…'`, `script -c '…'`, `watch
/// cmd…` (its words through `sh -c`), `sg group -c '…'` and `sudo -D DIR`
/// (relative words from `DIR`, as `env -C`) run what they are given: the
/// script named there is code (the host's `script` alias does run it,
/// shown first). The task's rewrite is `fs.protected` (exit 4), the file
/// stays as it was and the host's alias runs nothing of the task's.
/// Benign: `script`'s log file, the name `sudo -D` is given at the top,
/// and another script are exit 0 and stay.
#[test]
fn what_su_script_watch_sg_and_sudo_in_a_directory_run_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tsu = !su -c 'tools/su.sh --quick'\n\
         \tsc = !script -qc 'tools/sc.sh --quick' sc.log </dev/null\n\
         \twa = !watch -t -n 5 'tools/wa.sh --quick'\n\
         \tsg = !sg dev -c 'tools/sg.sh --quick'\n\
         \tsd = !sudo -u root -D tools ./sd.sh\n",
    )
    .unwrap();
    let scripts = ["su", "sc", "wa", "sg", "sd"];
    commit_ok_scripts(&e, &scripts);
    let host = || host_alias(&e, "sc");
    assert!(host().contains("ok"), "the host's `git sc` does not run its file: the test proves nothing");
    let marker = e.root.join("r82-wrapper-ran");
    for s in scripts {
        let file = format!("tools/{s}.sh");
        rewrite_is_refused_and_runs_nothing(&e, &file, &touch_script(&file, &marker), &marker, || {
            let _ = host();
        });
    }
    let o = e.sh("default", "set -e; echo log > sc.log; echo x > sd.sh; echo 'echo x' > tools/other.sh");
    o.assert_ok();
    for f in ["sc.log", "sd.sh", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 82's residual: a git subcommand that runs a command line
/// (`rebase -x '…'`, `difftool -x '…'`, `submodule foreach '…'`,
/// `bisect run …`), in a `!` alias and in one without `!`, makes the script
/// that line names code like a config's program (the host's aliases do run
/// it, shown first where the repository lets them). The task's rewrite is
/// `fs.protected` (exit 4), the file stays as it was and the host's
/// aliases run nothing of the task's. Benign: a script beside them, and
/// one at the top named like their words, are exit 0 and stay.
#[test]
fn a_command_line_a_git_subcommand_runs_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\trb = !git rebase -q -x 'tools/rb.sh --quick' HEAD~1\n\
         \trx = rebase -q --exec='tools/rx.sh --quick' HEAD~1\n\
         \tdt = !git difftool -y -x 'tools/dt.sh --quick' HEAD~1\n\
         \tsf = !git submodule foreach 'tools/sf.sh --quick'\n\
         \tbs = bisect run tools/bs.sh --quick\n",
    )
    .unwrap();
    let scripts = ["rb", "rx", "dt", "sf", "bs"];
    commit_ok_scripts(&e, &scripts);
    let host = |alias: &str| host_alias(&e, alias);
    for alias in ["rb", "rx", "dt"] {
        assert!(host(alias).contains("ok"), "the host's `git {alias}` does not run its file: the test proves nothing");
    }
    let marker = e.root.join("r82-subcommand-ran");
    for s in scripts {
        let file = format!("tools/{s}.sh");
        rewrite_is_refused_and_runs_nothing(&e, &file, &touch_script(&file, &marker), &marker, || {
            for alias in ["rb", "rx", "dt"] {
                let _ = host(alias);
            }
        });
    }
    let o = e.sh("default", "set -e; echo 'echo x' > tools/other.sh; echo x > HEAD~1.txt; echo x > main");
    o.assert_ok();
    for f in ["tools/other.sh", "HEAD~1.txt", "main"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 82's residual: a link inside the repository's `core.hooksPath`
/// directory, and inside a template directory's `hooks/` the host names,
/// runs its target as `.git/hooks`' links do: the target in the workspace
/// is code (the host's commit and clone do run it, shown first). The
/// task's rewrite of the target is `fs.protected` (exit 4), it stays as it
/// was and the host's commit and clone run nothing of the task's. Benign:
/// a script beside the targets is exit 0 and stays.
#[test]
fn a_link_in_a_hooks_path_or_template_hooks_directory_protects_its_target() {
    let e = repo_env();
    let template = e.ws.join("git-template");
    host_sh(
        &e.ws,
        &format!(
            "mkdir -p tools .githooks git-template/hooks; \
             printf '#!/bin/sh\\necho ok >> {root}/pc-ran\\n' > tools/pc.sh; \
             printf '#!/bin/sh\\necho ok >> {root}/co-ran\\n' > tools/co.sh; chmod +x tools/pc.sh tools/co.sh; \
             ln -s ../tools/pc.sh .githooks/pre-commit; ln -s {ws}/tools/co.sh git-template/hooks/post-checkout",
            root = e.root.display(),
            ws = e.ws.display()
        ),
    );
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "hooks"]).status.success());
    assert!(git(&e.ws, &["config", "core.hooksPath", ".githooks"]).status.success());
    std::fs::write(e.home.join(".gitconfig"), format!("[init]\n\ttemplateDir = {}\n", template.display())).unwrap();
    let elsewhere = |n: &str| {
        let to = e.root.join(format!("elsewhere-{n}"));
        let o = git_cmd(&e.root, &["clone", "-q", &e.ws.display().to_string(), &to.display().to_string()])
            .env("HOME", &e.home)
            .output()
            .expect("git is required");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let commit = || {
        let o = git_cmd(&e.ws, &["commit", "-q", "--allow-empty", "-m", "host"])
            .env("HOME", &e.home)
            .output()
            .expect("git is required");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    commit();
    elsewhere("proof");
    for f in ["pc-ran", "co-ran"] {
        assert!(e.root.join(f).is_file(), "{f}: the host's git does not run the linked hook: the test proves nothing");
    }
    let marker = e.root.join("r82-hook-link-ran");
    for (i, file) in ["tools/pc.sh", "tools/co.sh"].into_iter().enumerate() {
        rewrite_is_refused_and_runs_nothing(&e, file, &touch_script(file, &marker), &marker, || {
            commit();
            elsewhere(&i.to_string());
        });
    }
    let o = e.sh("default", "set -e; echo 'echo x' > tools/other.sh; mkdir -p build && echo o > build/a");
    o.assert_ok();
    for f in ["tools/other.sh", "build/a"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 85, F1, F4, F5: what `grep -O<pager>` and `send-email
/// --cc-cmd=…` run (their command-line forms of `sendemail.cccmd`), and
/// what `env --ch=DIR`, `env -C DIR -S '…'` and `script --c …` (getopt_long
/// abbreviations, `-S`'s words from `-C`'s directory) run, is code (the
/// host's aliases do run it, shown first). The task's rewrite is
/// `fs.protected` (exit 4), the file stays as it was and the host's
/// aliases run nothing of the task's. Benign: a top-level `ech.sh` (which
/// `env --ch=tools ./ech.sh` does not run) and another script are exit 0
/// and stay.
#[test]
fn a_pager_a_mail_command_and_abbreviated_options_in_an_alias_are_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tmail = send-email --dry-run --confirm=never --quiet --from=a@b.c --to=l@b.c --cc-cmd=./tools/ml.sh -1\n\
         \ttodo = grep -Otools/gr.sh -e TODO\n\
         \tech = !env --ch=tools ./ech.sh\n\
         \tecs = !env -C tools -S './ecs.sh --fix'\n\
         \tsc = !script -q --c 'tools/sc.sh --quick' sc.log </dev/null\n",
    )
    .unwrap();
    let scripts = ["ml", "gr", "ech", "ecs", "sc"];
    std::fs::write(e.ws.join("notes.txt"), "TODO: more\n").unwrap();
    commit_ok_scripts(&e, &scripts);
    let host = |alias: &str| host_alias(&e, alias);
    for alias in ["todo", "ech", "ecs", "sc"] {
        assert!(host(alias).contains("ok"), "the host's `git {alias}` does not run its file: the test proves nothing");
    }
    let marker = e.root.join("r85-alias-ran");
    for s in scripts {
        let file = format!("tools/{s}.sh");
        rewrite_is_refused_and_runs_nothing(&e, &file, &touch_script(&file, &marker), &marker, || {
            for alias in ["mail", "todo", "ech", "ecs", "sc"] {
                let _ = host(alias);
            }
        });
    }
    let o = e.sh("default", "set -e; printf '#!/bin/sh\\necho top\\n' > ech.sh; echo 'echo x' > tools/other.sh");
    o.assert_ok();
    for f in ["ech.sh", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 85, F2: `--template=DIR` on an alias's `git clone` (a `!`
/// alias) or `git init` (a re-init, without `!`) is read as
/// `init.templateDir`: its `hooks/` become the new or re-inited
/// repository's (the host's aliases do run its hook, shown first). The
/// task's rewrite of the template's hook is `fs.protected` (exit 4), it
/// stays as it was and neither the host's clone nor its next checkout after
/// the re-init runs anything of the task's. Benign: a file beside the
/// template is exit 0 and stays.
#[test]
fn a_template_an_alias_gives_clone_or_init_is_protected() {
    let e = repo_env();
    let copy = e.root.join("copy");
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\tcp = !git clone -q --template=tools/tmpl \\\"$(pwd)\\\" {}\n\tri = init -q --template tools/tmpl\n",
            copy.display()
        ),
    )
    .unwrap();
    let hook = "tools/tmpl/hooks/post-checkout";
    host_sh(
        &e.ws,
        &format!(
            "mkdir -p tools/tmpl/hooks; printf '#!/bin/sh\\necho ok >> {}/hook-ran\\n' > {hook}; chmod +x {hook}",
            e.root.display()
        ),
    );
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "template"]).status.success());
    let host = |alias: &str| {
        let _ = std::fs::remove_dir_all(&copy);
        let _ = std::fs::remove_file(e.ws.join(".git/hooks/post-checkout"));
        let o = git_cmd(&e.ws, &[alias]).env("HOME", &e.home).output().expect("git is required");
        assert!(o.status.success(), "git {alias}: {}", String::from_utf8_lossy(&o.stderr));
        if alias == "ri" {
            let _ = git_cmd(&e.ws, &["checkout", "-q", "-B", "r85"]).env("HOME", &e.home).output();
        }
    };
    for alias in ["cp", "ri"] {
        let _ = std::fs::remove_file(e.root.join("hook-ran"));
        host(alias);
        assert!(
            e.root.join("hook-ran").is_file(),
            "the host's `git {alias}` does not run the template's hook: the test proves nothing"
        );
    }
    let _ = std::fs::remove_file(e.ws.join(".git/hooks/post-checkout"));
    let marker = e.root.join("r85-template-ran");
    rewrite_is_refused_and_runs_nothing(&e, hook, &touch_script(hook, &marker), &marker, || {
        host("cp");
        host("ri");
    });
    let o = e.sh("default", "set -e; echo notes > tools/tmpl.md; mkdir -p build && echo o > build/a");
    o.assert_ok();
    for f in ["tools/tmpl.md", "build/a"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// `tools/<s>.sh` for each of `scripts` in `e`'s workspace, each making
/// `probe` and failing (a transport's or hook's stand-in), committed with
/// whatever else the workspace holds.
fn commit_probe_scripts(e: &Env, scripts: &[&str], probe: &Path) {
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    for s in scripts {
        let f = e.ws.join(format!("tools/{s}.sh"));
        std::fs::write(&f, format!("#!/bin/sh\ntouch {}\nexit 1\n", probe.display())).unwrap();
        chmod_x(&f);
    }
    assert!(git(&e.ws, &["add", "-A"]).status.success());
    assert!(git(&e.ws, &["commit", "-qm", "tools"]).status.success());
}

/// Whether the host's `git <alias>` in `e`'s workspace makes `probe`.
fn host_alias_makes(e: &Env, alias: &str, probe: &Path) -> bool {
    let _ = std::fs::remove_file(probe);
    let _ = host_alias(e, alias);
    probe.exists()
}

/// The host's aliases `scripts` each run `tools/<s>.sh` (committed, making
/// a probe: shown first, else the test proves nothing; `hint` says what to
/// check then); then each script's rewrite by a task is `fs.protected`
/// (exit 4), stays as it was, and the aliases run nothing of the task's.
/// `reset` runs before each host alias (a clone's destination removed).
fn aliases_run_their_scripts_and_rewrites_are_refused(
    e: &Env,
    scripts: &[&str],
    tag: &str,
    hint: &str,
    reset: &dyn Fn(),
) {
    let probe = e.root.join(format!("r86-{tag}-probe"));
    commit_probe_scripts(e, scripts, &probe);
    for alias in scripts {
        reset();
        assert!(
            host_alias_makes(e, alias, &probe),
            "the host's `git {alias}` does not run its file{hint}: the test proves nothing"
        );
    }
    let marker = e.root.join(format!("r86-{tag}-ran"));
    for s in scripts {
        let file = format!("tools/{s}.sh");
        rewrite_is_refused_and_runs_nothing(e, &file, &touch_script(&file, &marker), &marker, || {
            for alias in scripts {
                reset();
                let _ = host_alias(e, alias);
            }
        });
    }
}

/// Benign neighbours: a task writing another script and a file named
/// `name` (like an option's word) is exit 0 and both stay.
fn another_script_and_a_file_named_like_a_word_stay(e: &Env, name: &str) {
    let o = e.sh("default", &format!("set -e; echo 'echo x' > tools/other.sh; echo x > {name}"));
    o.assert_ok();
    for f in ["tools/other.sh", name] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 86, F1: `git clone -c`/`--config KEY=VALUE` in an alias (with
/// and without `!`) writes the setting into the new clone before its
/// fetch, whose transport runs `core.sshCommand` from here (the host's
/// aliases do run it, shown first). The task's rewrite is `fs.protected`
/// (exit 4), the file stays as it was and the host's aliases run nothing of
/// the task's. Benign: another script and a file named like the clone's
/// destination are exit 0 and stay.
#[test]
fn a_command_clone_s_own_config_option_sets_in_an_alias_is_protected() {
    let e = repo_env();
    let copy = e.root.join("copy");
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\tcl = !git clone -q -c core.sshCommand=tools/cl.sh ssh://h.invalid/x {c}\n\
             \tcc = clone -q --config=core.sshCommand=tools/cc.sh ssh://h.invalid/x {c}\n\
             \tcs = !git clone -q --config 'core.sshCommand=sh tools/cs.sh' ssh://h.invalid/x {c}\n",
            c = copy.display()
        ),
    )
    .unwrap();
    let reset = || {
        let _ = std::fs::remove_dir_all(&copy);
    };
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &["cl", "cc", "cs"], "clone", "", &reset);
    another_script_and_a_file_named_like_a_word_stay(&e, "x");
}

/// Review 87, F2: `GIT_CONFIG_GLOBAL=FILE` and `GIT_CONFIG_SYSTEM=FILE` in
/// an alias make git read FILE (and what it includes), whose
/// `core.sshCommand` runs a workspace script (the host's aliases do run
/// it, shown first). The task's rewrite of each script is `fs.protected`
/// (exit 4), it stays as it was and the aliases run nothing of the
/// task's. Benign: another script and a file named like a word are exit 0.
#[test]
fn a_config_file_an_alias_s_assignment_names_is_read() {
    let e = repo_env();
    let copy = e.root.join("copy");
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\tgg = !GIT_CONFIG_GLOBAL=tools/gg.cfg git clone -q ssh://h.invalid/x {c}\n\
             \tgs = !GIT_CONFIG_SYSTEM=tools/gs.cfg git clone -q ssh://h.invalid/x {c}\n",
            c = copy.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::write(e.ws.join("tools/gg.cfg"), "[core]\n\tsshCommand = tools/gg.sh\n").unwrap();
    // Through an include, relative to the file.
    std::fs::write(e.ws.join("tools/gs.cfg"), "[include]\n\tpath = gs-more.cfg\n").unwrap();
    std::fs::write(e.ws.join("tools/gs-more.cfg"), "[core]\n\tsshCommand = tools/gs.sh\n").unwrap();
    let reset = || {
        let _ = std::fs::remove_dir_all(&copy);
    };
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &["gg", "gs"], "config-file", "", &reset);
    another_script_and_a_file_named_like_a_word_stay(&e, "x");
}

/// Review 87, F3: `HOME=DIR` and `XDG_CONFIG_HOME=DIR` in an alias make git
/// read `DIR/.gitconfig` and `DIR/git/config`, and `git -c
/// include.path=$PWD/FILE` reads FILE from the work tree's top: what they
/// name runs (shown first). The task's rewrite of each script is
/// `fs.protected` (exit 4), it stays and the aliases run nothing of the
/// task's; so is its creation of such a config where there is none
/// (`HOME=home2`), and none is made. Benign: another script and a file
/// named like a word are exit 0.
#[test]
fn a_config_an_alias_s_home_or_pwd_include_names_is_read() {
    let e = repo_env();
    let copy = e.root.join("copy");
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\thm = !HOME=tools git clone -q ssh://h.invalid/x {c}\n\
             \txd = !XDG_CONFIG_HOME=cfg git clone -q ssh://h.invalid/x {c}\n\
             \tpw = !git -c include.path=$PWD/tools/pw.cfg clone -q ssh://h.invalid/x {c}\n\
             \th2 = !HOME=home2 git clone -q ssh://h.invalid/x {c}\n",
            c = copy.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(e.ws.join("tools")).unwrap();
    std::fs::create_dir_all(e.ws.join("cfg/git")).unwrap();
    std::fs::write(e.ws.join("tools/.gitconfig"), "[core]\n\tsshCommand = tools/hm.sh\n").unwrap();
    std::fs::write(e.ws.join("cfg/git/config"), "[core]\n\tsshCommand = tools/xd.sh\n").unwrap();
    std::fs::write(e.ws.join("tools/pw.cfg"), "[core]\n\tsshCommand = tools/pw.sh\n").unwrap();
    let reset = || {
        let _ = std::fs::remove_dir_all(&copy);
    };
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &["hm", "xd", "pw"], "home", "", &reset);
    let marker = e.root.join("r87-home2-ran");
    let o = e.sh(
        "default",
        &format!(
            "{}; chmod +x x.sh; mkdir home2; printf '[core]\\n\\tsshCommand = ./x.sh\\n' > home2/.gitconfig",
            touch_script("x.sh", &marker)
        ),
    );
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("home2/.gitconfig").exists(), "home2/.gitconfig: the task's config stayed\n{}", o.all());
    reset();
    let _ = host_alias(&e, "h2");
    assert!(!marker.exists(), "the host's git ran the task's code\n{}", o.all());
    another_script_and_a_file_named_like_a_word_stay(&e, "x");
}

/// Review 86, F9: `git send-email` reads its options with Perl's
/// Getopt::Long, so `-cc-cmd=…` (one dash) and `--CC-Cmd=…` (any case)
/// are `--cc-cmd`, in an alias with and without `!` (the host's aliases do
/// run it, shown first: git-send-email is required). The task's rewrite is
/// `fs.protected` (exit 4), the file stays as it was and the host's
/// aliases run nothing of the task's. Benign: another script and a file
/// named like an option's word are exit 0 and stay.
#[test]
fn a_mail_command_given_as_perl_s_getopt_long_reads_it_is_protected() {
    let e = repo_env();
    let mail = "send-email --dry-run --confirm=never --quiet --from=a@b.c --to=l@b.c";
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\tm1 = {mail} -cc-cmd=./tools/m1.sh -1\n\tm2 = {mail} --CC-Cmd=./tools/m2.sh -1\n\
             \tm3 = !git {mail} -cc-cmd='sh tools/m3.sh' -1\n"
        ),
    )
    .unwrap();
    let hint = " (is git-send-email installed?)";
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &["m1", "m2", "m3"], "mail", hint, &|| ());
    another_script_and_a_file_named_like_a_word_stay(&e, "cc-cmd");
}

/// Review 86, F8: `git -c include.path=FILE` in an alias (`~/` through a
/// link to the workspace, with `!`; absolute, without) has git read FILE as
/// config: FILE is protected as `.git/config`'s includes are, and the
/// command it names is code (the host's aliases do run it, shown first).
/// The task's append of an fsmonitor to FILE, and its rewrite of that
/// command, are `fs.protected` (exit 4), the file stays as it was and the
/// host's aliases run nothing of the task's. Benign: another config and
/// another script are exit 0 and stay.
#[test]
fn a_config_git_s_c_includes_in_an_alias_is_protected() {
    let e = repo_env();
    std::os::unix::fs::symlink(&e.ws, e.home.join("proj")).unwrap();
    std::fs::write(
        e.home.join(".gitconfig"),
        format!(
            "[alias]\n\tlg = !git -c include.path=~/proj/extra.cfg status --short\n\
             \tla = -c include.path={} status --short\n",
            e.ws.join("extra2.cfg").display()
        ),
    )
    .unwrap();
    for f in ["extra.cfg", "extra2.cfg"] {
        std::fs::write(e.ws.join(f), "[core]\n\tfsmonitor = tools/fm.sh\n").unwrap();
    }
    let probe = e.root.join("r86-include-probe");
    commit_probe_scripts(&e, &["fm"], &probe);
    for alias in ["lg", "la"] {
        assert!(
            host_alias_makes(&e, alias, &probe),
            "the host's `git {alias}` does not run its fsmonitor: the test proves nothing"
        );
    }
    let marker = e.root.join("r86-include-ran");
    let host = || {
        for alias in ["lg", "la"] {
            let _ = host_alias(&e, alias);
        }
    };
    for f in ["extra.cfg", "extra2.cfg"] {
        let plant = format!("printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' >> {f}", marker.display());
        rewrite_is_refused_and_runs_nothing(&e, f, &plant, &marker, host);
    }
    rewrite_is_refused_and_runs_nothing(&e, "tools/fm.sh", &touch_script("tools/fm.sh", &marker), &marker, host);
    let o = e.sh("default", "set -e; echo '[log]' > other.cfg; echo 'echo x' > tools/other.sh");
    o.assert_ok();
    for f in ["other.cfg", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 86, F10: an assignment to one of git's command variables before
/// git in an alias (`GIT_SSH_COMMAND='sh tools/x.sh'`, `GIT_SSH=…`) is read
/// as its setting, a command line (the host's aliases do run it, shown
/// first). The task's rewrite is `fs.protected` (exit 4), the file stays as
/// it was and the host's aliases run nothing of the task's. Benign:
/// another script and a file named like the variable are exit 0 and stay.
#[test]
fn a_command_git_s_command_variable_gives_in_an_alias_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tsf = !GIT_SSH_COMMAND='sh tools/sf.sh' git fetch -q ssh://h.invalid/x\n\
         \tsp = !env GIT_SSH=tools/sp.sh git fetch -q ssh://h.invalid/x\n",
    )
    .unwrap();
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &["sf", "sp"], "ssh", "", &|| ());
    another_script_and_a_file_named_like_a_word_stay(&e, "GIT_SSH_COMMAND");
}

/// Review 86, F2: `git --exec-path=DIR` and `GIT_EXEC_PATH=DIR` in an alias
/// have git run its programs from DIR first (a fetch's
/// `git-remote-https`: the host's aliases do run it, shown first), so DIR is
/// code whole. The task's rewrite of a program there is `fs.protected`
/// (exit 4) and stays as it was, a new one is refused and absent, and the
/// host's aliases run nothing of the task's. Benign: a file beside DIR and
/// another script are exit 0 and stay.
#[test]
fn git_s_exec_path_an_alias_names_is_protected_whole() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tsy = !git --exec-path=tools/libexec fetch -q https://h.invalid/x\n\
         \tsz = !GIT_EXEC_PATH=tools/libexec git fetch -q https://h.invalid/x\n",
    )
    .unwrap();
    let probe = e.root.join("r86-exec-path-probe");
    let helper = "tools/libexec/git-remote-https";
    std::fs::create_dir_all(e.ws.join("tools/libexec")).unwrap();
    std::fs::write(e.ws.join(helper), format!("#!/bin/sh\ntouch {}\nexit 1\n", probe.display())).unwrap();
    chmod_x(&e.ws.join(helper));
    commit_probe_scripts(&e, &[], &probe);
    for alias in ["sy", "sz"] {
        assert!(
            host_alias_makes(&e, alias, &probe),
            "the host's `git {alias}` does not run {helper}: the test proves nothing"
        );
    }
    let marker = e.root.join("r86-exec-path-ran");
    let host = || {
        for alias in ["sy", "sz"] {
            let _ = host_alias(&e, alias);
        }
    };
    rewrite_is_refused_and_runs_nothing(&e, helper, &touch_script(helper, &marker), &marker, host);
    let added = "tools/libexec/git-remote-http";
    let o = e.sh("default", &format!("{}; chmod +x {added}", touch_script(added, &marker)));
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(added).exists(), "{added}: the task's file stayed\n{}", o.all());
    host();
    assert!(!marker.exists(), "the host's git ran the task's code\n{}", o.all());
    let o = e.sh("default", "set -e; echo notes > tools/libexec.md; echo 'echo x' > tools/other.sh");
    o.assert_ok();
    for f in ["tools/libexec.md", "tools/other.sh"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
}

/// Review 88, F3: git runs a `!` alias from the work tree's top, so the
/// shell's spellings of the current directory there (`$PWD`, `${PWD}`,
/// `~+`, `$(pwd)`, `` `pwd` ``, `$(git rev-parse --show-toplevel)`) name
/// the top, and another expansion before a `/` (`$X/tools/x.sh`) is read
/// from the top too (fail closed): each alias runs its workspace script
/// (shown first), the task's rewrite is `fs.protected` (exit 4), the
/// script stays as it was and the aliases run nothing of the task's (the
/// plain `!sh tools/pl.sh` is the control). Benign: `!echo $PWD`, a
/// `--format=$X` word and a `$HOME/…` script name no workspace file, so
/// writing `bin/hb.sh`, another script and files named like the words is
/// exit 0 and they stay.
#[test]
fn a_script_an_alias_names_through_the_shell_s_spelling_of_the_top_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tpl = !sh tools/pl.sh\n\tpw = !sh $PWD/tools/pw.sh\n\tpb = !${PWD}/tools/pb.sh\n\
         \ttp = !bash -c \\\"~+/tools/tp.sh\\\"\n\
         \ttl = !sh \\\"$(git rev-parse --show-toplevel)/tools/tl.sh\\\"\n\
         \tdp = !sh $(pwd)/tools/dp.sh\n\tbt = !sh `pwd`/tools/bt.sh\n\
         \tfx = !X=$PWD && sh $X/tools/fx.sh\n\
         \tec = !echo $PWD\n\tlf = log -1 --format=$X\n\tlx = !git log -1 --format=$X\n\thb = !sh $HOME/bin/hb.sh\n",
    )
    .unwrap();
    let aliases = ["pl", "pw", "pb", "tp", "tl", "dp", "bt", "fx"];
    aliases_run_their_scripts_and_rewrites_are_refused(&e, &aliases, "r88-top", "", &|| ());
    let o = e.sh("default", "set -e; mkdir -p bin; echo 'echo x' > bin/hb.sh; echo x > PWD; echo x > X");
    o.assert_ok();
    assert!(o.rules().is_empty(), "benign: {:?}\n{}", o.rules(), o.all());
    for f in ["bin/hb.sh", "PWD", "X"] {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
    another_script_and_a_file_named_like_a_word_stay(&e, "format");
}

/// Review 88, F3: a hooks directory (`git -c core.hooksPath=$PWD/.githooks`)
/// and a config git reads (`HOME=$PWD`'s `.gitconfig`,
/// `GIT_CONFIG_GLOBAL=$PWD/.gitcfg`; `HOME=.` is the control) named through
/// `$PWD` in an alias are the work tree's top: the task's making of a hook
/// or a config there with code is `fs.protected` (exit 4), none is made
/// and the host's aliases run nothing of the task's; what the host puts
/// there itself does run (shown after, else the test proves nothing).
#[test]
fn a_hooks_directory_or_config_an_alias_names_through_pwd_is_protected() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\thk = !git -c core.hooksPath=$PWD/.githooks commit -q --allow-empty -m x\n\
         \thd = !HOME=. git status --short\n\thh = !HOME=$PWD git status --short\n\
         \thg = !GIT_CONFIG_GLOBAL=$PWD/.gitcfg git status --short\n",
    )
    .unwrap();
    let run = |alias: &str, marker: &Path| {
        let _ = std::fs::remove_file(marker);
        let _ = host_alias(&e, alias);
        marker.exists()
    };
    let marker = e.root.join("r88-hooks-ran");
    let hook = format!("printf '#!/bin/sh\\ntouch {}\\n' > .githooks/pre-commit", marker.display());
    let plant = format!("mkdir -p .githooks && {hook} && chmod +x .githooks/pre-commit");
    let o = e.sh("default", &plant);
    o.assert_violation("fs.protected");
    assert!(!e.ws.join(".githooks/pre-commit").exists(), "the task's hook stayed\n{}", o.all());
    assert!(!run("hk", &marker), "the host's `git hk` ran the task's hook\n{}", o.all());
    host_sh(&e.ws, &plant);
    assert!(run("hk", &marker), "the host's `git hk` does not run .githooks: the test proves nothing");
    std::fs::remove_dir_all(e.ws.join(".githooks")).unwrap();
    for (alias, file) in [("hd", ".gitconfig"), ("hh", ".gitconfig"), ("hg", ".gitcfg")] {
        let marker = e.root.join(format!("r88-{alias}-ran"));
        let plant = format!("printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' > {file}", marker.display());
        let o = e.sh("default", &plant);
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(file).exists(), "{alias}: the task's {file} stayed\n{}", o.all());
        assert!(!run(alias, &marker), "{alias}: the host's git ran the task's code\n{}", o.all());
        host_sh(&e.ws, &plant);
        assert!(run(alias, &marker), "the host's `git {alias}` does not read {file}: the test proves nothing");
        std::fs::remove_file(e.ws.join(file)).unwrap();
    }
}

/// The host's git with `e`'s HOME (its `.gitconfig`) in `e`'s workspace,
/// `args` after [`git_cmd`]'s; `diff` changes the README first (so `git
/// diff` has something to show).
fn host_git_with_home(e: &Env, args: &[&str]) {
    if args == ["diff"] {
        std::fs::write(e.ws.join("README"), "changed on the host\n").unwrap();
    }
    let _ = git_cmd(&e.ws, args).env("HOME", &e.home).stdin(std::process::Stdio::null()).output();
    if args == ["diff"] {
        std::fs::write(e.ws.join("README"), "hello\n").unwrap();
    }
}

/// A shell command writing `file` (taken literally: `$PWD/…`, `~+/…`) as
/// an executable that makes `marker`, its directories first.
fn plant_literally(file: &str, marker: &Path) -> String {
    format!(
        "mkdir -p \"$(dirname '{file}')\" && printf '#!/bin/sh\\ntouch {}\\n' > '{file}' && chmod +x '{file}'",
        marker.display()
    )
}

/// Review 89, F1 and F4: the spellings of a script's path in the host's
/// git config that orchestra cannot read exactly — an expansion before
/// the literal rest (`$(git rev-parse --git-dir)/../`, `--show-cdup`,
/// `$GIT_PREFIX`, a variable set earlier in the command), a glob the
/// shell expands (`ci/checks/*.sh`), and words git or the shell take
/// literally (`core.hooksPath = $PWD/.githooks`, a single-quoted `$PWD`, a
/// double-quoted `~+`). For each row the host's git runs the file when the
/// host puts it there (shown first, else the row proves nothing); the
/// task's planting of it is `fs.protected` (exit 4), the file is gone and
/// the host's git runs nothing of the task's.
#[test]
fn a_script_git_settings_name_through_words_orchestra_cannot_read_is_protected() {
    let commit: &[&str] = &["commit", "-q", "--allow-empty", "-m", "x"];
    let rows: &[(&str, &str, &str, &[&str])] = &[
        ("gitdir", "[alias]\n\tlint = !$(git rev-parse --git-dir)/../tools/lint.sh\n", "tools/lint.sh", &["lint"]),
        (
            "commondir",
            "[alias]\n\tlint = !\\\"$(git rev-parse --git-common-dir)/../tools/lint.sh\\\"\n",
            "tools/lint.sh",
            &["lint"],
        ),
        (
            "cdup",
            "[alias]\n\tlint = !sh \\\"$(git rev-parse --show-cdup)tools/lint.sh\\\"\n",
            "tools/lint.sh",
            &["lint"],
        ),
        (
            "fsmonitor cdup",
            "[core]\n\tfsmonitor = \\\"$(git rev-parse --show-cdup)tools/fsmon.sh\\\"\n",
            "tools/fsmon.sh",
            &["status"],
        ),
        (
            "fsmonitor gitdir",
            "[core]\n\tfsmonitor = $(git rev-parse --git-dir)/../tools/fsmon.sh\n",
            "tools/fsmon.sh",
            &["status"],
        ),
        (
            "diff external",
            "[diff]\n\texternal = $(git rev-parse --show-cdup)tools/diff.sh\n",
            "tools/diff.sh",
            &["diff"],
        ),
        ("prefix", "[alias]\n\tlint = !${GIT_PREFIX:+$GIT_PREFIX/}tools/lint.sh\n", "tools/lint.sh", &["lint"]),
        (
            "glob",
            "[alias]\n\tchecks = \"!for f in ci/checks/*.sh; do sh \\\"$f\\\" || exit 1; done\"\n",
            "ci/checks/evil.sh",
            &["checks"],
        ),
        ("variable", "[alias]\n\tlint = !d=tools && $d/lint.sh\n", "tools/lint.sh", &["lint"]),
        ("hooksPath $PWD", "[core]\n\thooksPath = $PWD/.githooks\n", "$PWD/.githooks/pre-commit", commit),
        ("hooksPath $HOME", "[core]\n\thooksPath = $HOME/.githooks\n", "$HOME/.githooks/pre-commit", commit),
        ("quoted ~+", "[alias]\n\tlint = !sh \\\"~+/tools/lint.sh\\\"\n", "~+/tools/lint.sh", &["lint"]),
        ("quoted $PWD", "[alias]\n\tlint = !sh '$PWD/tools/lint.sh'\n", "$PWD/tools/lint.sh", &["lint"]),
        // Review 90, H2: a word that ends in an expansion names every path
        // below its literal directory and stem.
        ("ends $EXT", "[alias]\n\tlint = !sh ./tools/lint$EXT\n", "tools/lint", &["lint"]),
        ("ends $(uname)", "[alias]\n\tlint = !sh ./tools/lint.$(uname)\n", "tools/lint.Linux", &["lint"]),
        ("ends $(echo)", "[alias]\n\tlint = !sh tools/$(echo lint.sh)\n", "tools/lint.sh", &["lint"]),
        ("fsmonitor ends $EXT", "[core]\n\tfsmonitor = sh ./tools/fsm$EXT\n", "tools/fsm", &["status"]),
        ("fsmonitor ends $(echo)", "[core]\n\tfsmonitor = sh tools/$(echo fsm.sh)\n", "tools/fsm.sh", &["status"]),
    ];
    for (row, config, file, host) in rows {
        let e = repo_env();
        std::fs::write(e.home.join(".gitconfig"), config).unwrap();
        let marker = e.root.join("r89-ran");
        let top = file.split('/').next().unwrap();
        host_sh(&e.ws, &plant_literally(file, &marker));
        host_git_with_home(&e, host);
        assert!(marker.exists(), "{row}: the host's git does not run {file}: the row proves nothing");
        std::fs::remove_dir_all(e.ws.join(top)).unwrap();
        std::fs::remove_file(&marker).unwrap();
        let o = e.sh("default", &plant_literally(file, &marker));
        o.assert_violation("fs.protected");
        assert!(!e.ws.join(file).exists(), "{row}: the task's {file} stayed\n{}", o.all());
        host_git_with_home(&e, host);
        assert!(!marker.exists(), "{row}: the host's git ran the task's {file}\n{}", o.all());
    }
}

/// Review 89, F1: with those spellings in the host's config (every row
/// above at once), a build writing files that merely share a name's part
/// or a directory with what they name (`build/lint.sh.o`, `docs/tools.md`,
/// `ci/checks/README.md`, `ci/x.sh`, `tools/other.sh`) is exit 0, no
/// violation, and the files stay; so is one that leaves a script the user
/// had there (matched at the start) as it was.
#[test]
fn files_that_only_share_a_part_with_what_unreadable_words_name_are_no_violation() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tl1 = !$(git rev-parse --git-dir)/../tools/lint.sh\n\
         \tl2 = !sh \\\"$(git rev-parse --show-cdup)tools/lint.sh\\\"\n\
         \tl3 = !d=tools && $d/lint.sh\n\
         \tchecks = \"!for f in ci/checks/*.sh; do sh \\\"$f\\\" || exit 1; done\"\n\
         [core]\n\thooksPath = $PWD/.githooks\n",
    )
    .unwrap();
    host_sh(&e.ws, "mkdir -p ci/checks && echo 'exit 0' > ci/checks/ok.sh");
    let files = ["build/lint.sh.o", "docs/tools.md", "ci/checks/README.md", "ci/x.sh", "tools/other.sh", "lint.shx"];
    let o = e.sh("default", "set -e; mkdir -p build docs tools; for f in build/lint.sh.o docs/tools.md ci/checks/README.md ci/x.sh tools/other.sh lint.shx; do echo x > $f; done");
    o.assert_ok();
    for f in files {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
    assert_eq!(std::fs::read_to_string(e.ws.join("ci/checks/ok.sh")).unwrap(), "exit 0\n");
}

/// Review 90, H2: with words that end in an expansion in the host's config
/// (`!sh ./tools/lint.$(uname)`, `core.fsmonitor = sh ./tools/fsm$EXT`), a
/// build writing files beside what they name (`tools/other.txt`,
/// `tools/lint-report/`, which does not start with the stem `lint.`,
/// `src/`) is exit 0, no violation, and the files stay. A name that does
/// start with the stem is protected (the expansion may be any text):
/// `tools/lint-report/x` under `!sh ./tools/lint$EXT` is `fs.protected`,
/// the over-protection SECURITY.md §5.3 names.
#[test]
fn files_beside_the_stem_a_word_ending_in_an_expansion_names_are_no_violation() {
    let e = repo_env();
    std::fs::write(
        e.home.join(".gitconfig"),
        "[alias]\n\tl1 = !sh ./tools/lint.$(uname)\n[core]\n\tfsmonitor = sh ./tools/fsm$EXT\n",
    )
    .unwrap();
    let files = ["tools/other.txt", "tools/lint-report/out.txt", "tools/fs.txt", "src/main.rs", "src/lint.rs"];
    let o = e.sh(
        "default",
        &format!("set -e; mkdir -p tools/lint-report src; for f in {}; do echo x > $f; done", files.join(" ")),
    );
    o.assert_ok();
    for f in files {
        assert!(e.ws.join(f).is_file(), "{f} not written\n{}", o.all());
    }
    let e = repo_env();
    std::fs::write(e.home.join(".gitconfig"), "[alias]\n\tl1 = !sh ./tools/lint$EXT\n").unwrap();
    let o = e.sh("default", "mkdir -p tools/lint-report && echo x > tools/lint-report/out.txt");
    o.assert_violation("fs.protected");
    assert!(!e.ws.join("tools/lint-report/out.txt").exists(), "tools/lint-report/out.txt stayed\n{}", o.all());
}
