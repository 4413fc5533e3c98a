//! The files an interpreter runs for a word it is given besides the word
//! itself, for [`super::hostconfig`]'s command reader:
//!
//! - [`node_script`]: `node scripts/release` runs the first of
//!   `scripts/release`, `scripts/release.js` (`.json`, `.node`, `.cjs`,
//!   `.mjs`), or, a directory, its `package.json`'s `main` or its
//!   `index.js` (and the same extensions): all of them but the `main`
//!   (which the protected `package.json` chooses, [`node_main`]) are named.
//! - [`python_script`]: `python3 tools/app` runs, a directory (or a zip,
//!   the word itself), its `__main__.py`, or `__main__.pyc`, or the
//!   cached bytecode of `__main__.py`.
//! - [`bytecode`]: a module file `a/b.py` is run in place of its source
//!   from `a/__pycache__/b.<tag>.pyc` when the cache's header names the
//!   source's mtime and size (a task can write one), and from `a/b.pyc`
//!   where the source is absent: both stand for the module.
//!
//! - [`extension_modules`]: a module file `a/__init__.py` (or `a/b.py`)
//!   that Python imports is found first as an extension module under any
//!   of the suffixes its `FileFinder` tries on Linux (`a/__init__.so`,
//!   `.abi3.so`, `.cpython-3X-<triplet>.so`: review 82, F5): each stands
//!   for the module, and a package's init runs before the module named.
//!
//! - [`runner_imports`]: `python -m mod` and `python DIR` put the work
//!   tree (or `DIR`) first on `sys.path` and only then import the runner
//!   (`runpy`, `importlib`, `pkgutil` and what they import): a module of
//!   one of those names there runs before the module (review 84, F3).
//!   [`RUNNER_IMPORTS`] are the names measured so (CPython 3.10 to 3.13),
//!   each as a module and as a package's init, with some stand-ins.
//!
//! Bounds (SECURITY.md §5.3): the bytecode tags are CPython 3.6 to 3.15's
//! (`cpython-3X`), unoptimised (no `.opt-1`/`.opt-2`: a command run with
//! `-O`), and PyPy's are not named; an extension module is named for the
//! modules `python -m` imports, with CPython 3.6 to 3.15's ABI tags (`m`,
//! `d`, `t`) for this machine's own triplet only (the host runs its own
//! Python), not for a script an interpreter is given (run as a file, not
//! imported); `main` is read as Node's `require` reads it, not with a
//! package's `exports`.

use std::path::{Path, PathBuf};

/// The CPython minor versions whose bytecode tags [`bytecode`] names.
const PYTHON_MINORS: std::ops::RangeInclusive<u32> = 6..=15;

/// The top-level modules CPython 3.10 to 3.13 import from the first
/// entry of `sys.path` after setting it, for `-m` and a directory script
/// (see the module doc): found by planting each of
/// `sys.stdlib_module_names` there in turn and noting which ran (a plain
/// file script imports none). Not named (SECURITY.md §5.3): the further
/// names 3.6 to 3.9 import (`pkgutil`, `heapq`, `weakref`, `re`,
/// `enum`, `typing`…) and those `-S` adds on 3.10 (`os`, `stat`…).
pub(super) const RUNNER_IMPORTS: [&str; 10] = [
    "collections",
    "contextlib",
    "functools",
    "importlib",
    "keyword",
    "operator",
    "reprlib",
    "runpy",
    "types",
    "warnings",
];

/// The files in the directory `dir` (`""` for the work tree, else ending
/// in `/`) that stand for a module [`RUNNER_IMPORTS`] names: `name.py`
/// and `name/__init__.py`, each with its sourceless `.pyc` and the
/// untagged extension names (`.so`, `.abi3.so`). Not the cache in
/// `__pycache__` (used only beside a source, and an absent one is
/// protected against creation) nor the `cpython-3X` tagged extension
/// names: every path named costs each task's start, so the list is kept
/// short (SECURITY.md §5.3).
pub(super) fn runner_imports(dir: &str) -> Vec<String> {
    let mut v = Vec::new();
    for name in RUNNER_IMPORTS {
        for stem in [format!("{dir}{name}"), format!("{dir}{name}/__init__")] {
            v.extend(["py", "pyc", "so", "abi3.so"].map(|e| format!("{stem}.{e}")));
        }
    }
    v
}

/// The extensions Node tries after a script's name (and `index`'s).
const NODE_EXTENSIONS: [&str; 5] = ["js", "json", "node", "cjs", "mjs"];

/// The files besides `script` itself that `node script` may run (see the
/// module doc): relative like `script`.
pub(super) fn node_script(script: &str) -> Vec<String> {
    let mut v: Vec<String> = NODE_EXTENSIONS.iter().map(|e| format!("{script}.{e}")).collect();
    v.push(format!("{script}/package.json"));
    v.extend(NODE_EXTENSIONS.iter().map(|e| format!("{script}/index.{e}")));
    v
}

/// The files besides `script` itself that `python script` may run (see
/// the module doc).
pub(super) fn python_script(script: &str) -> Vec<String> {
    let main = format!("{script}/__main__.py");
    let mut v = vec![main.clone()];
    v.extend(bytecode(&main));
    v.extend(runner_imports(&format!("{script}/")));
    v
}

/// What stands for the module file `file` (`a/b.py`): its cached
/// bytecode for each tag, and its sourceless `a/b.pyc` (see the module
/// doc). None for a name not ending in `.py`.
pub(super) fn bytecode(file: &str) -> Vec<String> {
    let Some(stem) = file.strip_suffix(".py") else { return Vec::new() };
    let (dir, name) = match stem.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), stem),
    };
    if name.is_empty() {
        return Vec::new();
    }
    let mut v = vec![format!("{stem}.pyc")];
    v.extend(PYTHON_MINORS.map(|m| format!("{dir}__pycache__/{name}.cpython-3{m}.pyc")));
    v
}

/// What stands for the module file `file` (`a/b.py`) as an extension
/// module: `a/b.so`, `a/b.abi3.so` and `a/b.cpython-3X<flags>-<triplet>.so`
/// for this machine's triplet (see the module doc). None for a name not
/// ending in `.py`.
pub(super) fn extension_modules(file: &str) -> Vec<String> {
    let Some(stem) = file.strip_suffix(".py") else { return Vec::new() };
    if stem.is_empty() || stem.ends_with('/') {
        return Vec::new();
    }
    let mut v = vec![format!("{stem}.so"), format!("{stem}.abi3.so")];
    if let Some(triplet) = triplet() {
        for m in PYTHON_MINORS {
            // ABI flags: `m` up to 3.7, free-threaded `t` from 3.13, debug `d`.
            let flags: &[&str] = match m {
                ..=7 => &["m", "dm"],
                13.. => &["", "d", "t", "td"],
                _ => &["", "d"],
            };
            v.extend(flags.iter().map(|f| format!("{stem}.cpython-3{m}{f}-{triplet}.so")));
        }
    }
    v
}

/// The multiarch triplet CPython's extension suffixes name on this
/// machine (`x86_64-linux-gnu`), if it is one of the common ones.
fn triplet() -> Option<&'static str> {
    let musl = cfg!(target_env = "musl");
    Some(match std::env::consts::ARCH {
        "x86_64" if musl => "x86_64-linux-musl",
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" if musl => "aarch64-linux-musl",
        "aarch64" => "aarch64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => return None,
    })
}

/// Package manifests read, at most this size.
const MAX_MANIFEST: u64 = 1 << 20;

/// Where the `package.json` at `manifest` says its directory's `main` is
/// (relative to that directory's parent, as the manifest's path names
/// it): the file and the names Node tries for it, if it names one that
/// stays inside the directory. A reading of the `main` string only: an
/// unreadable or odd manifest names none (Node then runs `index.js`,
/// which is named).
pub(super) fn node_main(manifest: &Path, text_at: &Path) -> Vec<PathBuf> {
    use std::io::Read as _;
    let Some(dir) = manifest.parent() else { return Vec::new() };
    let Ok(f) = std::fs::File::open(text_at) else { return Vec::new() };
    let mut text = String::new();
    if f.take(MAX_MANIFEST).read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    let Some(main) = main_of(&text) else { return Vec::new() };
    let main = Path::new(&main);
    let inside = main.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !inside || main.as_os_str().is_empty() {
        return Vec::new();
    }
    let at = dir.join(main);
    let mut v = vec![at.clone()];
    v.extend(
        node_script(&at.to_string_lossy()).into_iter().filter(|p| !p.ends_with("/package.json")).map(PathBuf::from),
    );
    v
}

/// The top-level `"main"` string of a `package.json`'s text, read simply:
/// the first `"main"` key followed by a string (escapes `\"` and `\\`).
fn main_of(text: &str) -> Option<String> {
    let at = text.find("\"main\"")?;
    let rest = text[at + 6..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_run_more_than_the_word_they_are_given() {
        let n = node_script("scripts/release");
        for f in ["scripts/release.js", "scripts/release/index.js", "scripts/release/package.json"] {
            assert!(n.iter().any(|p| p == f), "{f}: {n:?}");
        }
        let p = python_script("tools/app");
        for f in ["tools/app/__main__.py", "tools/app/__main__.pyc", "tools/app/__pycache__/__main__.cpython-312.pyc"] {
            assert!(p.iter().any(|x| x == f), "{f}: {p:?}");
        }
        let b = bytecode("conv.py");
        assert_eq!(b.first().map(String::as_str), Some("conv.pyc"));
        assert!(b.iter().any(|x| x == "__pycache__/conv.cpython-36.pyc"));
        assert!(b.iter().any(|x| x == "__pycache__/conv.cpython-315.pyc"));
        assert_eq!(bytecode("run.sh"), Vec::<String>::new());
        assert_eq!(bytecode("a/.py"), Vec::<String>::new());
    }

    #[test]
    fn the_runner_s_own_imports_are_named_in_the_directory_it_searches_first() {
        let r = runner_imports("");
        for f in ["importlib.py", "importlib/__init__.py", "contextlib.pyc", "types/__init__.abi3.so"] {
            assert!(r.iter().any(|x| x == f), "{f}: {r:?}");
        }
        assert!(r.iter().any(|x| x == "runpy.so"), "{r:?}");
        let p = python_script("tools/app");
        for f in ["tools/app/importlib.py", "tools/app/importlib/__init__.py", "tools/app/warnings.pyc"] {
            assert!(p.iter().any(|x| x == f), "{f}: {p:?}");
        }
    }

    #[test]
    fn a_module_s_extension_suffixes_are_named_for_this_machine() {
        let e = extension_modules("tools/__init__.py");
        for f in ["tools/__init__.so", "tools/__init__.abi3.so"] {
            assert!(e.iter().any(|x| x == f), "{f}: {e:?}");
        }
        if std::env::consts::ARCH == "x86_64" && cfg!(target_env = "gnu") {
            for f in [
                "tools/__init__.cpython-311-x86_64-linux-gnu.so",
                "tools/__init__.cpython-36m-x86_64-linux-gnu.so",
                "tools/__init__.cpython-313t-x86_64-linux-gnu.so",
            ] {
                assert!(e.iter().any(|x| x == f), "{f}: {e:?}");
            }
        }
        assert!(extension_modules("run.sh").is_empty());
        assert!(extension_modules("a/.py").is_empty());
    }

    #[test]
    fn a_manifest_s_main_is_read_when_it_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("package.json");
        std::fs::write(&f, "{\n  \"name\": \"x\",\n  \"main\" : \"lib/cli.js\"\n}\n").unwrap();
        let m = node_main(Path::new("s/r/package.json"), &f);
        assert_eq!(m.first(), Some(&PathBuf::from("s/r/lib/cli.js")));
        assert!(m.contains(&PathBuf::from("s/r/lib/cli.js/index.js")), "{m:?}");
        std::fs::write(&f, "{\"main\": \"../../etc/x.js\"}").unwrap();
        assert!(node_main(Path::new("s/r/package.json"), &f).is_empty());
        std::fs::write(&f, "{\"name\": \"no main\"}").unwrap();
        assert!(node_main(Path::new("s/r/package.json"), &f).is_empty());
    }
}
