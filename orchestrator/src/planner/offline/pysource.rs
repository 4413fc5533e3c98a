//! Which Python code the offline planner byte-compiles, and whether a
//! package carries its own tests (`pkg/tests/test_*.py`).
//!
//! Guarantees: reads directory listings only (no file contents, nothing
//! written), at most [`MAX_ENTRIES`] entries per source tree, so a huge or
//! looping tree costs a bounded walk. Importable code is the `.py` files
//! directly in a source directory and in the package directories (with an
//! `__init__.py` and a name Python can import) reachable from it through
//! packages only; `.py` files anywhere else below (lexer samples, templates,
//! fixtures: Pygments' `tests/examplefiles/`) are data, and the compile
//! arguments [`compile_args`] returns never byte-compile them, so a valid
//! project's build step does not fail on files nothing imports.

use std::path::Path;

/// How many directory entries one source tree's walk reads at most.
const MAX_ENTRIES: usize = 50_000;
/// How many directories a `-l` (no recursion) argument list names at most.
const MAX_LISTED: usize = 512;
/// How many entries of a package's tests directory are looked at.
const MAX_TEST_ENTRIES: usize = 10_000;

/// What byte-compiling one source directory means.
#[derive(Debug)]
struct Tree {
    /// The directory, and the package directories below it, reached through packages only.
    code: Vec<String>,
    /// Whether a recursive compile of the directory would reach `.py` files outside `code`.
    has_data: bool,
}

/// Whether a directory name can be imported as a package.
fn importable(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The subdirectories of `dir` and whether it directly holds a `.py` file;
/// `None` when `budget` runs out. `__pycache__` is skipped (compileall does too).
fn entries(dir: &Path, budget: &mut usize) -> Option<(Vec<String>, bool)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Some((Vec::new(), false)) };
    let mut dirs = Vec::new();
    let mut py = false;
    for e in rd.flatten() {
        *budget = budget.checked_sub(1)?;
        let Ok(name) = e.file_name().into_string() else { continue };
        let path = e.path();
        if path.is_dir() {
            if name != "__pycache__" {
                dirs.push(name);
            }
        } else if name.ends_with(".py") {
            py = true;
        }
    }
    dirs.sort();
    Some((dirs, py))
}

/// Whether any `.py` file lies in or below `dir`; `None` when `budget` runs out.
fn holds_python(dir: &Path, budget: &mut usize) -> Option<bool> {
    let (dirs, py) = entries(dir, budget)?;
    if py {
        return Some(true);
    }
    for d in dirs {
        if holds_python(&dir.join(d), budget)? {
            return Some(true);
        }
    }
    Some(false)
}

/// Walk the source directory `rel` (relative to `root`); `None` when the tree
/// is too large to tell.
fn tree(root: &Path, rel: &str) -> Option<Tree> {
    let mut budget = MAX_ENTRIES;
    let mut t = Tree { code: Vec::new(), has_data: false };
    let mut todo = vec![rel.to_string()];
    while let Some(dir) = todo.pop() {
        let (subdirs, _) = entries(&root.join(&dir), &mut budget)?;
        for sub in subdirs.into_iter().rev() {
            let path = format!("{dir}/{sub}");
            if importable(&sub) && root.join(&path).join("__init__.py").is_file() {
                todo.push(path);
            } else if !t.has_data {
                t.has_data = holds_python(&root.join(&path), &mut budget)?;
            }
        }
        t.code.push(dir);
    }
    Some(t)
}

/// The compileall arguments (after `-m compileall -q`) for the source
/// directories `dirs` and top-level files `files`: the directories as they
/// are (compiled recursively) when none holds Python data below its
/// packages; else `-l` (no recursion) and every importable directory, so
/// only imported code is compiled. A tree too large to walk is compiled
/// recursively as before; when the listing would exceed [`MAX_LISTED`]
/// directories, the trees holding data are left out instead (pytest
/// compiles what it imports).
pub fn compile_args(root: &Path, dirs: &[String], files: &[String]) -> Vec<String> {
    let trees: Vec<(&String, Option<Tree>)> = dirs.iter().map(|d| (d, tree(root, d))).collect();
    let with_data = trees.iter().any(|(_, t)| t.as_ref().is_some_and(|t| t.has_data));
    let listed = trees
        .iter()
        .map(|(_, t)| t.as_ref().map_or(MAX_LISTED + 1, |t| t.code.len()))
        .fold(0usize, usize::saturating_add);
    let mut args: Vec<String> = Vec::new();
    if !with_data {
        args.extend(dirs.iter().cloned());
    } else if listed <= MAX_LISTED {
        args.push("-l".into());
        for (_, t) in &trees {
            args.extend(t.iter().flat_map(|t| t.code.iter().cloned()));
        }
    } else {
        let clean = trees.iter().filter(|(_, t)| !t.as_ref().is_some_and(|t| t.has_data));
        args.extend(clean.map(|(d, _)| (*d).clone()));
    }
    args.extend(files.iter().cloned());
    args
}

/// Whether one of the package directories `packages` (relative to `root`)
/// holds a `tests/` or `test/` directory with a `test_*.py` or `*_test.py`
/// file directly in it (simplejson's `simplejson/tests/`, psutil's).
pub fn package_tests(root: &Path, packages: &[String]) -> bool {
    packages.iter().any(|pkg| {
        ["tests", "test"].iter().any(|t| {
            let Ok(rd) = std::fs::read_dir(root.join(pkg).join(t)) else { return false };
            rd.flatten().take(MAX_TEST_ENTRIES).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_must_be_importable() {
        assert!(importable("pkg_1") && importable("_x"));
        assert!(!importable("1x") && !importable("my-pkg") && !importable("") && !importable("a.b"));
    }

    #[test]
    fn more_packages_than_a_listing_holds_compile_recursively_without_the_data_trees() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("big/__init__.py", "");
        for i in 0..MAX_LISTED {
            write(&format!("big/p{i}/__init__.py"), "");
        }
        write("tests/test_x.py", "");
        write("tests/examplefiles/bad.py", "return 1\n");
        let dirs = ["big".to_string(), "tests".to_string()];
        let files = ["setup.py".to_string()];
        assert_eq!(compile_args(dir.path(), &dirs, &files), ["big", "setup.py"]);
        // Without the data, both trees are compiled as they are.
        std::fs::remove_dir_all(dir.path().join("tests/examplefiles")).unwrap();
        assert_eq!(compile_args(dir.path(), &dirs, &files), ["big", "tests", "setup.py"]);
    }
}
