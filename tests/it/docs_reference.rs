//! The documentation stays true to the binary and to itself:
//! - `docs/cli.md` is generated from `orchestra … --help` of every
//!   subcommand; the test fails when the committed file differs from what the
//!   binary prints now. To regenerate after a change to the command line:
//!   `ORCHESTRA_REGEN_DOCS=1 cargo test --test it docs_reference::`.
//! - Every relative link in README.md, SECURITY.md, BENCH.md and docs/*.md
//!   leads to a file of the repository, and every `#anchor` into a markdown
//!   file to one of its headings (GitHub's anchor rules).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLI_MD: &str = "docs/cli.md";
const REGEN_ENV: &str = "ORCHESTRA_REGEN_DOCS";
/// Help is rendered at this width, whatever the terminal of the test run.
const WIDTH: &str = "100";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `orchestra <path…> --help`, in a clean environment (no `ORCHESTRA_*`
/// variable can show up in the text) and at a fixed width.
fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orchestra"))
        .args(path)
        .arg("--help")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("COLUMNS", WIDTH)
        .output()
        .expect("run orchestra --help");
    assert!(
        out.status.success(),
        "orchestra {} --help failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under `Commands:` (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" {
            in_commands = true;
            continue;
        }
        if !in_commands {
            continue;
        }
        if line.is_empty() || !line.starts_with(' ') {
            break;
        }
        // A command line is indented by two spaces; a wrapped description by more.
        let Some(rest) = line.strip_prefix("  ") else { continue };
        if rest.starts_with(' ') {
            continue;
        }
        let name = rest.split_whitespace().next().unwrap_or_default();
        if name != "help" && !name.is_empty() {
            names.push(name.to_string());
        }
    }
    names
}

/// Every command path, depth first, in the order `--help` lists them.
fn walk(path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let text = help(&path);
    let subs = subcommands(&text);
    out.push((path.clone(), text));
    for sub in subs {
        let mut p = path.clone();
        p.push(sub);
        walk(p, out);
    }
}

/// The reference as committed in docs/cli.md.
fn render() -> String {
    let mut pages = Vec::new();
    walk(Vec::new(), &mut pages);
    let title = |p: &[String]| {
        if p.is_empty() { "orchestra".to_string() } else { format!("orchestra {}", p.join(" ")) }
    };
    let mut md = String::new();
    md.push_str("# Command-line reference\n\n");
    md.push_str(&format!(
        "<!-- Generated from `orchestra … --help` by tests/it/docs_reference.rs; do not edit.\n     \
         Regenerate: {REGEN_ENV}=1 cargo test --test it docs_reference:: -->\n\n"
    ));
    md.push_str(
        "Every subcommand's `--help`, as the binary prints it. Exit codes, the verdict and the\n\
         report are described in [exec.md](exec.md); man pages: `orchestra man --out-dir DIR`;\n\
         shell completions: `orchestra completions SHELL`. Flags marked internal in the code\n\
         (set by `orchestra run` for its workers) are hidden and not listed.\n\n",
    );
    for (path, _) in &pages {
        let t = title(path);
        let indent = "  ".repeat(path.len().saturating_sub(1));
        md.push_str(&format!("{indent}- [{t}](#{})\n", slug(&t)));
    }
    for (path, text) in &pages {
        md.push_str(&format!("\n## {}\n\n```text\n{}\n```\n", title(path), text.trim_end()));
    }
    md
}

#[test]
fn the_cli_reference_is_what_the_binary_prints() {
    let want = render();
    let file = repo().join(CLI_MD);
    if std::env::var_os(REGEN_ENV).is_some() {
        std::fs::write(&file, &want).expect("write docs/cli.md");
        return;
    }
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "{CLI_MD} is stale (first difference at line {}): regenerate it with `{REGEN_ENV}=1 cargo test --test it docs_reference::`\n\
             committed: {:?}\n\
             generated: {:?}",
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn every_subcommand_is_in_the_reference() {
    let mut pages = Vec::new();
    walk(Vec::new(), &mut pages);
    let names: BTreeSet<String> = pages.iter().map(|(p, _)| p.join(" ")).collect();
    for expected in [
        "exec",
        "run",
        "resume",
        "plan",
        "runs list",
        "policy check",
        "sandbox probe",
        "audit verify",
        "pool drain",
        "man",
    ] {
        assert!(names.contains(expected), "`orchestra {expected}` missing from the walk: {names:?}");
    }
    // Internal flags stay out of the reference.
    let exec = &pages.iter().find(|(p, _)| p == &["exec"]).expect("exec").1;
    for hidden in ["--run-parent", "--expect-policy", "--bench-unobserved", "--protect"] {
        assert!(!exec.contains(hidden), "{hidden} is internal but shows in `exec --help`");
    }
}

// ---- links ------------------------------------------------------------------

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_`
/// kept, spaces turned into `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Lines of a markdown file outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = if t.starts_with("```") {
            Some("```")
        } else if t.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// The anchors of a markdown file's headings, numbered as GitHub numbers repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        // Link targets in a heading do not count, only their text.
        let text = strip_link_targets(&line[hashes..]);
        let base = slug(&text);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// `[text](target)` → `text`.
fn strip_link_targets(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        match rest[i..].find(')') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace('[', "")
}

/// Text without inline code spans (a link shown as code is not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The `(target)` of every inline link `[text](target)` in a line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        out.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
        rest = &after[end..];
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut docs: Vec<PathBuf> = ["README.md", "SECURITY.md", "BENCH.md"].iter().map(|f| root.join(f)).collect();
    let mut dir: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    dir.sort();
    docs.extend(dir);
    docs
}

fn broken_links(doc: &Path) -> Vec<String> {
    let root = repo();
    let text = std::fs::read_to_string(doc).expect("read document");
    let name = doc.strip_prefix(&root).unwrap_or(doc).display().to_string();
    let mut broken = Vec::new();
    for (n, line) in prose_lines(&text) {
        for target in link_targets(line) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() { doc.to_path_buf() } else { doc.parent().unwrap_or(&root).join(file) };
            let Ok(path) = path.canonicalize() else {
                broken.push(format!("{name}:{n}: {target}: no such file"));
                continue;
            };
            if !path.starts_with(&root) {
                broken.push(format!("{name}:{n}: {target}: outside the repository"));
                continue;
            }
            if let Some(anchor) = anchor
                && path.extension().is_some_and(|x| x == "md")
            {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{name}:{n}: {target}: no heading with anchor #{anchor}"));
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let docs = documents();
    assert!(docs.len() >= 8, "README, SECURITY, BENCH and the docs/ guide: {docs:?}");
    let broken: Vec<String> = docs.iter().flat_map(|d| broken_links(d)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_finds_what_it_should() {
    assert_eq!(slug("2.6 Seccomp"), "26-seccomp");
    assert_eq!(
        slug(&strip_link_targets(" 5.2 Namespace-less mode (`jail.namespaces: off`)")),
        "52-namespace-less-mode-jailnamespaces-off"
    );
    assert_eq!(slug("orchestra audit verify"), "orchestra-audit-verify");
    let a = anchors("# A\n\n```\n# not a heading\n```\n## A\n### [B](x.md) c\n");
    assert_eq!(a, ["a", "a-1", "b-c"].iter().map(|s| s.to_string()).collect());
    assert_eq!(link_targets("see [x](a.md#b) and `[y](not.md)` and [z](c.md \"title\")"), ["a.md#b", "c.md"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = dir.path().join("d.md");
    std::fs::write(&doc, "[gone](missing.md)\n").expect("write");
    assert_eq!(broken_links(&doc).len(), 1);
}
