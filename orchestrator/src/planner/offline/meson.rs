//! Meson projects (`meson.build`): `meson setup`, `meson compile` and
//! `meson test` in `build/`.
//!
//! Guarantees: reads the top-level `meson.build` and the `meson.build` files of
//! the directories it descends into with `subdir('…')` (plain relative paths
//! inside the workspace, no links, at most [`MAX_FILES`] files
//! [`MAX_DEPTH`] levels deep), each capped like every project file, to tell
//! whether the project defines a test; runs nothing and writes nothing. The
//! plan never downloads a subproject (`--wrap-mode=nodownload`), and plans
//! `meson test` only when a `test(…)` call exists (meson passes with "No
//! tests defined", which would be a no-op step).

use super::listing::{self, Listing};
use super::{Eco, Project, Step, Want};
use crate::planner::PlanError;
use std::path::Path;

/// How many `meson.build` files are read at most.
const MAX_FILES: usize = 64;
/// How many `subdir()` levels below the top are followed.
const MAX_DEPTH: usize = 4;

/// The Meson project of the workspace (it has a top-level `meson.build`).
pub(super) fn meson(ls: &Listing) -> Result<Project, PlanError> {
    let top = ls.text("meson.build")?;
    let mut p = Project::new(Eco::Meson, "meson");
    p.step(Step::new(
        "configure",
        None,
        "meson",
        &["setup", "build", "--wrap-mode=nodownload"],
        "Configure with Meson into build/ (no subproject downloads).".into(),
    ));
    p.step(
        Step::new("build", Some(Want::Build), "meson", &["compile", "-C", "build"], "Build build/ with Meson.".into())
            .needs(&[("configure", true)]),
    );
    if defines_tests(&ls.root, &top) {
        p.step(
            Step::new(
                "test",
                Some(Want::Test),
                "meson",
                &["test", "-C", "build", "--print-errorlogs"],
                "Run the Meson tests in build/ (failing tests' logs are printed).".into(),
            )
            .needs(&[("build", true)]),
        );
    } else {
        p.lack(Want::Test, "meson.build (and the subdir()s it names) defines no test()");
    }
    p.lack(Want::Lint, "Meson has no standard linter the offline planner can run");
    Ok(p)
}

/// Whether the project defines a test: a `test(` call in the top-level `meson.build`
/// or in one its `subdir()`s reach; past the bounds, a test is assumed rather than
/// a step dropped.
fn defines_tests(root: &Path, top: &str) -> bool {
    let mut queue: Vec<(String, usize)> = vec![(top.to_string(), 0)];
    let mut read = 1usize;
    let mut seen: Vec<String> = Vec::new();
    while let Some((text, depth)) = queue.pop() {
        let text = without_comments(&text);
        if calls(&text, "test").next().is_some() {
            return true;
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        for dir in subdirs(&text) {
            if seen.contains(&dir) {
                continue;
            }
            seen.push(dir.clone());
            let Some(file) = plain_file(root, &dir) else { continue };
            read += 1;
            if read > MAX_FILES {
                return true;
            }
            // An unreadable file is passed over: meson setup will say what is wrong with it.
            if let Ok(bytes) = listing::read_small(&file) {
                queue.push((String::from_utf8_lossy(&bytes).into_owned(), depth + 1));
            }
        }
    }
    false
}

/// Each line up to its `#` (Meson's comments).
fn without_comments(text: &str) -> String {
    text.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The text after each call of `name` (`name(` or `name (`, not part of a longer name).
fn calls<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(name).filter_map(move |(i, _)| {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return None;
        }
        text[i + name.len()..].trim_start_matches([' ', '\t']).strip_prefix('(')
    })
}

/// The directories `subdir('x')` names (the first argument, a plain string).
fn subdirs(text: &str) -> Vec<String> {
    calls(text, "subdir")
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('\'')?;
            let name = &rest[..rest.find('\'')?];
            let safe = !name.is_empty()
                && !name.starts_with('/')
                && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            safe.then(|| name.to_string())
        })
        .collect()
}

/// `root/dir/meson.build`, when every step to it is a real directory (no link) and it is a file.
fn plain_file(root: &Path, dir: &str) -> Option<std::path::PathBuf> {
    let mut path = root.to_path_buf();
    for c in dir.split('/') {
        path.push(c);
        if !std::fs::symlink_metadata(&path).ok()?.file_type().is_dir() {
            return None;
        }
    }
    path.push("meson.build");
    std::fs::symlink_metadata(&path).ok()?.file_type().is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_calls_are_told_from_longer_names_and_comments() {
        assert!(calls("test('a', exe)", "test").next().is_some());
        assert!(calls("x = 1\n  test ('a', exe)", "test").next().is_some());
        assert!(calls("unittest('a')\nmy_test(1)\nx.test()\ntest = 1", "test").next().is_none());
        assert!(calls(&without_comments("# test('a', exe)\n"), "test").next().is_none());
        assert_eq!(subdirs("subdir('src')\nsubdir ( 'tests' )\nsubdir('../x')\nsubdir(d)"), ["src", "tests"]);
    }
}
