//! The workspace as the offline planner sees it: its top-level entries, the
//! few project files it reads, and which entries are task inputs.
//!
//! Guarantees: reads the top-level listing, the first bytes of top-level
//! regular files (to recognise compiled objects), and files named by the
//! caller, each capped at [`MAX_READ`]; never follows a name out of the
//! workspace on purpose and never writes. Inputs are a pure function of the
//! entries' names and kinds *as sources*: build outputs (compiled binaries
//! and objects, well-known output directories, what the top-level
//! `.gitignore` ignores, compiled TypeScript next to its source) are never
//! inputs, and a file the build writes once and then reads (a lockfile,
//! [`Listing::input_to_be`]) is an input before it exists, so a run that
//! builds does not change the next run's plan.

use crate::planner::PlanError;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest project file the planner reads.
pub const MAX_READ: u64 = 1 << 20;

/// Top-level entries that are build output, dependencies or run records, never task inputs.
const NOT_INPUTS: &[&str] = &[
    "target",
    "build",
    "node_modules",
    "dist",
    "out",
    "_build",
    "runs",
    "reports",
    "__pycache__",
    "venv",
    "env",
    "coverage",
    "htmlcov",
    "CMakeFiles",
    "CMakeCache.txt",
    "cmake_install.cmake",
    "CTestTestfile.cmake",
    "Testing",
];

/// File name endings of compiled or generated files.
const OUTPUT_SUFFIXES: &[&str] = &[".o", ".obj", ".a", ".so", ".dylib", ".dll", ".exe", ".pyc", ".class", ".egg-info"];

/// Hidden top-level entries that do change a build (all other dot-entries are skipped).
const HIDDEN_INPUTS: &[&str] = &[".cargo", ".npmrc"];

/// The workspace's top level.
#[derive(Debug)]
pub struct Listing {
    /// The workspace.
    pub root: PathBuf,
    /// Regular files (symlinks followed).
    pub files: BTreeSet<String>,
    /// Directories (symlinks followed).
    pub dirs: BTreeSet<String>,
    /// Entries that are task inputs, sorted.
    pub inputs: Vec<String>,
    /// The top-level `.gitignore`.
    ignore: Ignore,
}

impl Listing {
    /// Whether `name` is a regular file at the top level.
    pub fn has(&self, name: &str) -> bool {
        self.files.contains(name)
    }

    /// Whether `name` is a directory at the top level.
    pub fn has_dir(&self, name: &str) -> bool {
        self.dirs.contains(name)
    }

    /// Read a top-level file as text (lossy), capped.
    pub fn text(&self, name: &str) -> Result<String, PlanError> {
        Ok(String::from_utf8_lossy(&read_small(&self.root.join(name))?).into_owned())
    }

    /// Drop `names` from the inputs (outputs the caller recognised).
    pub fn not_inputs(&mut self, names: &[String]) {
        self.inputs.retain(|i| !names.contains(i));
    }

    /// Make the top-level file `name` an input before it exists: a file the
    /// tasks write on the first run and read on every later one (Cargo.lock),
    /// so the plan does not change once it is there. The same rules as for
    /// present entries apply (a `.gitignore`d lockfile stays out); absent, it
    /// is fingerprinted as absent.
    pub fn input_to_be(&mut self, name: &str) {
        if self.files.contains(name) || self.dirs.contains(name) {
            return; // judged by what it is
        }
        if is_input(name, false, false, &self.ignore) && !self.inputs.iter().any(|i| i == name) {
            self.inputs.push(name.to_string());
            self.inputs.sort();
        }
    }
}

/// Whether a top-level entry is a task input: not hidden (but for
/// [`HIDDEN_INPUTS`]), and not a build output — a well-known output name or
/// suffix, what the `.gitignore` ignores, or (`compiled`) an object file.
fn is_input(name: &str, is_dir: bool, compiled: bool, ignore: &Ignore) -> bool {
    let hidden = name.starts_with('.') && !HIDDEN_INPUTS.contains(&name);
    let output = NOT_INPUTS.contains(&name)
        || OUTPUT_SUFFIXES.iter().any(|s| name.ends_with(s))
        || ignore.ignores(name, is_dir)
        || compiled;
    !hidden && !output
}

/// List the workspace's top level.
pub fn list(workspace: &Path) -> Result<Listing, PlanError> {
    let io = |source| PlanError::Io { path: workspace.to_path_buf(), source };
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(workspace).map_err(io)? {
        let entry = entry.map_err(io)?;
        // A name that is not UTF-8 cannot be a project file, nor written as an input.
        let Ok(name) = entry.file_name().into_string() else { continue };
        match std::fs::metadata(entry.path()) {
            Ok(m) if m.is_file() => {
                files.insert(name.clone());
            }
            Ok(m) if m.is_dir() => {
                dirs.insert(name.clone());
            }
            _ => {}
        }
        names.push(name);
    }
    let ignore = files.contains(".gitignore").then(|| read_small(&workspace.join(".gitignore")).ok()).flatten();
    let ignore = Ignore::parse(&String::from_utf8_lossy(ignore.as_deref().unwrap_or_default()));
    let mut inputs = Vec::new();
    for name in names {
        let is_dir = dirs.contains(&name);
        let compiled = files.contains(&name) && compiled(&workspace.join(&name));
        if is_input(&name, is_dir, compiled, &ignore) {
            inputs.push(name);
        }
    }
    // Compiled TypeScript next to its source (`tsc` without an outDir).
    let ts: Vec<&str> = files.iter().filter_map(|f| f.strip_suffix(".ts")).filter(|s| !s.ends_with(".d")).collect();
    let emitted: Vec<String> =
        ts.iter().flat_map(|s| [format!("{s}.js"), format!("{s}.js.map"), format!("{s}.d.ts")]).collect();
    inputs.retain(|i| !emitted.contains(i));
    inputs.sort();
    Ok(Listing { root: workspace.to_path_buf(), files, dirs, inputs, ignore })
}

/// Whether a file starts like a compiled object: ELF, or an `ar` archive.
fn compiled(path: &Path) -> bool {
    let mut head = [0u8; 8];
    let Ok(f) = std::fs::File::open(path) else { return false };
    let n = f.take(8).read(&mut head).unwrap_or(0);
    head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"!<arch>\n")
}

/// Read a small file, refusing anything over [`MAX_READ`].
pub fn read_small(path: &Path) -> Result<Vec<u8>, PlanError> {
    let io = |source| PlanError::Io { path: path.to_path_buf(), source };
    let mut buf = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(MAX_READ + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > MAX_READ {
        return Err(PlanError::Manifest { path: path.to_path_buf(), why: "larger than 1 MiB, not read".into() });
    }
    Ok(buf)
}

/// The top-level `.gitignore` patterns that can match a top-level name
/// (`name`, `/name`, `name/`, `*` and `?` globs, `!` negations; the last match wins).
#[derive(Debug)]
struct Ignore {
    rules: Vec<(bool, bool, String)>,
}

impl Ignore {
    fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            let pat = pat.strip_prefix('/').unwrap_or(pat).strip_prefix("**/").unwrap_or(pat);
            let pat = pat.strip_prefix('/').unwrap_or(pat);
            let (dir_only, pat) = match pat.strip_suffix('/') {
                Some(p) => (true, p),
                None => (false, pat),
            };
            // A pattern with a slash inside names something below the top level.
            if pat.is_empty() || pat.contains('/') || pat.contains('[') || pat.contains('\\') {
                continue;
            }
            rules.push((negate, dir_only, pat.to_string()));
        }
        Ignore { rules }
    }

    fn ignores(&self, name: &str, is_dir: bool) -> bool {
        let mut ignored = false;
        for (negate, dir_only, pat) in &self.rules {
            if (!dir_only || is_dir) && glob(pat.as_bytes(), name.as_bytes()) {
                ignored = !negate;
            }
        }
        ignored
    }
}

/// `*` (any run) and `?` (one byte) matching of a whole name.
fn glob(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_patterns_match_top_level_names() {
        let i = Ignore::parse("# c\n/hello\n*.log\nbuild-*/\n!keep.log\nsrc/gen.rs\n**/tmp\n");
        assert!(i.ignores("hello", false));
        assert!(i.ignores("x.log", false) && !i.ignores("keep.log", false));
        assert!(i.ignores("build-x", true) && !i.ignores("build-x", false));
        assert!(!i.ignores("src", true));
        assert!(i.ignores("tmp", true));
        assert!(!i.ignores("hello.c", false));
    }

    #[test]
    fn outputs_are_not_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let w = |n: &str, b: &[u8]| std::fs::write(dir.path().join(n), b).unwrap();
        w("hello.c", b"int main(){}");
        w("hello", b"\x7fELF\x02\x01\x01");
        w("lib.a", b"!<arch>\n");
        w("index.ts", b"");
        w("index.js", b"");
        w("index.d.ts", b"");
        w("tool.js", b"");
        w("gen.txt", b"");
        w(".gitignore", b"gen.txt\n");
        std::fs::create_dir(dir.path().join("CMakeFiles")).unwrap();
        std::fs::create_dir(dir.path().join("x.egg-info")).unwrap();
        let l = list(dir.path()).unwrap();
        assert_eq!(l.inputs, ["hello.c", "index.ts", "tool.js"]);
        assert!(l.has("hello") && l.has_dir("CMakeFiles"));
    }

    #[test]
    fn a_file_to_be_written_is_an_input_unless_ignored_or_an_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.c"), "").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "Alpha.lock\n").unwrap();
        let mut l = list(dir.path()).unwrap();
        l.input_to_be("Cargo.lock");
        l.input_to_be("Alpha.lock");
        l.input_to_be("x.o");
        l.input_to_be(".hidden");
        l.input_to_be("Cargo.lock");
        assert_eq!(l.inputs, ["Cargo.lock", "a.c"]);
    }
}
