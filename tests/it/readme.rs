//! README.md as written: every command in its fenced blocks is executed (or,
//! for the two that build and test this repository, checked against what CI
//! runs), and every `$ command` transcript is run and its output compared,
//! timings aside. A command added to the README without a case here fails.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

/// The README's fenced blocks: (info string, lines).
fn blocks() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (line.strip_prefix("```"), current.take()) {
            (Some(_), Some(block)) => out.push(block),
            (Some(info), None) => current = Some((info.trim().to_string(), Vec::new())),
            (None, Some(mut block)) => {
                block.1.push(line.to_string());
                current = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "README.md has an unclosed fence");
    out
}

/// The commands of a `sh` block: comments and blank lines dropped, a
/// trailing `# comment` cut.
fn commands(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split(" #").next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A shell in `e`'s workspace whose PATH finds the `orchestra` under test.
fn shell(e: &Env, line: &str) -> Out {
    let bin = e.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("orchestra");
    if !link.exists() {
        std::os::unix::fs::symlink(orchestra(), &link).unwrap();
    }
    let mut c = Command::new("/bin/sh");
    c.env_clear()
        .envs(e.command().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
        .current_dir(&e.ws)
        .args(["-c", line]);
    Out::from(c.output().expect("run /bin/sh"))
}

/// Run one README command as a user would, or check it against what CI does.
fn run_command(e: &Env, cmd: &str) {
    if cmd == "cargo install --locked --path ." {
        // Building a release binary inside the test run would take minutes; what
        // the command needs is a root package with the `orchestra` binary and a
        // lock file.
        let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"orchestra\""), "the root package is orchestra");
        assert!(repo().join("src/main.rs").exists() && repo().join("Cargo.lock").exists());
    } else if cmd == "cargo test --locked --no-fail-fast" {
        let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
        assert!(ci.lines().any(|l| l.starts_with(cmd)), ".ci/run must run the README's test command as written");
    } else if let Some(args) = cmd.strip_prefix("cargo run --release -- ") {
        let o = shell(e, &format!("orchestra {args}"));
        o.assert_code(0);
    } else if cmd.starts_with("orchestra ") {
        shell(e, cmd).assert_code(0);
    } else {
        panic!("README.md runs {cmd:?}, which tests/it/readme.rs does not cover: add it");
    }
}

/// `$ command` then its output; numbers after `wall=` and `signal=` may differ.
fn run_transcript(e: &Env, lines: &[String]) {
    let cmd = lines[0].strip_prefix("$ ").unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let o = shell(e, cmd);
    let normal = |s: &str| {
        let s = s.trim();
        match s.rfind(" wall=") {
            Some(i) => s[..i].to_string(),
            None => s.to_string(),
        }
    };
    let got: Vec<String> = o.all_output().lines().map(normal).collect();
    for want in &lines[1..] {
        assert!(got.contains(&normal(want)), "README transcript `{cmd}`: {want:?} not printed\n{}", o.all());
    }
    if lines.iter().any(|l| l.contains(" violation ")) {
        o.assert_code(4);
    }
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "the README's example changed /etc/passwd");
}

#[test]
fn every_command_in_the_readme_works_as_written() {
    let e = env();
    copy_tree(&repo().join("examples/hello-c"), &e.ws.join("examples/hello-c"));
    let _ = std::fs::remove_file(e.ws.join("examples/hello-c/hello"));
    let mut ran = 0;
    for (info, lines) in blocks() {
        if info == "sh" {
            for cmd in commands(&lines) {
                run_command(&e, &cmd);
                ran += 1;
            }
        } else if lines.first().is_some_and(|l| l.starts_with("$ ")) {
            run_transcript(&e, &lines);
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} README commands found");
    assert!(Path::new(&e.ws.join("runs")).is_dir(), "the main job left its run directory");
}
