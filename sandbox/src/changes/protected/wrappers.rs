//! What a wrapper program runs: the one reading of "this program runs the
//! rest of its words as a command" for [`super::hostconfig`]'s command
//! reader (review 81 F3, and the wrappers it left as plain programs).
//!
//! [`wrapped`] answers, for a program's last name and its words, what it
//! runs: a command (its program and words), a Python interpreter's words
//! (`uv run -m tools.conv`, `uv run conv.py`), or a command line a shell
//! reads (`flock .lock -c '…'`, `npx -c '…'`, `pnpm exec -c …`). It skips
//! the wrapper's own options (those that take a value skip it too) and
//! leading operands (`timeout`'s duration, `flock`'s lock file); a runner
//! with a subcommand (`uv run`, `poetry run`, `pipenv run`, `npm exec`,
//! `pnpm exec`) is a wrapper only with that subcommand (`npm run build`
//! stays a plain program and its words). Reading more programs as wrappers
//! only protects more: what a wrapper runs is read as any command is.
//!
//! Not read: what a package runner finds by name (`npx eslint` runs
//! `node_modules/.bin/eslint`, `uv run pytest` a virtual environment's
//! script): installed packages are the task's to write (SECURITY.md §5.3).

use super::hostconfig::Named;

/// What a wrapper runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Wrapped<'a> {
    /// A command: its program and the words given to it (assignments
    /// before the program are read as such: `sudo A=x cmd`).
    Command(&'a [String]),
    /// The words a Python interpreter is given (`uv run -m a.b`, `uv run
    /// x.py`).
    Python(Vec<String>),
    /// A command line a shell reads.
    Line(String),
}

/// Options that take a value, and leading operands, of a wrapper.
struct Shape {
    /// Options whose value is the next word.
    valued: &'static [&'static str],
    /// Operands before the command (`timeout 60`).
    operands: usize,
}

/// What the program `name` (its last name) runs with `args`, if it is a
/// wrapper (see the module doc); `None` for any other program, and for a
/// runner without its subcommand.
pub(super) fn wrapped<'a>(name: &str, args: &'a [String]) -> Option<Wrapped<'a>> {
    let plain = |valued, operands| Some(Wrapped::Command(command_at(args, &Shape { valued, operands })));
    match name {
        "exec" => plain(&["-a"], 0),
        "command" | "builtin" | "nohup" | "setsid" => plain(&[], 0),
        "time" => plain(&["-o", "-f", "--output", "--format"], 0),
        "nice" => plain(&["-n", "--adjustment"], 0),
        "timeout" => plain(&["-s", "-k", "--signal", "--kill-after"], 1),
        "stdbuf" => plain(&["-i", "-o", "-e", "--input", "--output", "--error"], 0),
        "ionice" => plain(&["-c", "-n", "-p", "-P", "-u", "--class", "--classdata", "--pid", "--pgid", "--uid"], 0),
        "chrt" => plain(&["-T", "-P", "-D", "--sched-runtime", "--sched-period", "--sched-deadline"], 1),
        "taskset" => plain(&[], 1),
        "xargs" => plain(XARGS, 0),
        "sudo" => plain(SUDO, 0),
        "doas" => plain(&["-u", "-C", "-a"], 0),
        "flock" => Some(flock(args)),
        // `eval` joins its words with blanks and reads them as a command
        // line (review 82, F7).
        "eval" => Some(Wrapped::Line(args.join(" "))),
        "npx" => Some(node_exec(args, 0, NPM_EXEC, false)),
        "uv" => subcommand(args, &["--directory", "--project", "--cache-dir", "--config-file", "--color"], "run")
            .map(|i| uv_run(&args[i..])),
        "poetry" => subcommand(args, &["-C", "--directory", "-P", "--project"], "run")
            .map(|i| Wrapped::Command(command_at(&args[i..], &Shape { valued: &[], operands: 0 }))),
        "pipenv" => subcommand(args, &["--python", "--pypi-mirror"], "run")
            .map(|i| Wrapped::Command(command_at(&args[i..], &Shape { valued: &[], operands: 0 }))),
        "npm" => subcommand(args, &["--prefix", "-w", "--workspace"], "exec")
            .or_else(|| subcommand(args, &["--prefix", "-w", "--workspace"], "x"))
            .map(|i| node_exec(args, i, NPM_EXEC, false)),
        "pnpm" => subcommand(args, PNPM, "exec").map(|i| node_exec(args, i, PNPM, true)),
        _ => None,
    }
}

/// `found`, the paths a command run from the directory `dir` names
/// (`env -C tools ./lint.sh`: review 82, F7), as from where `dir` is
/// named: a relative one joined to `dir` (a leading `./` dropped), an
/// absolute one as it is. A `dir` the shell or git expands (`$D`) or that
/// is no path leaves them as they are (read from the top: a wider reading
/// than none).
pub(super) fn from_dir(dir: &str, found: Vec<Named>) -> Vec<Named> {
    use std::path::{Component, PathBuf};
    let base = match dir {
        d if d.is_empty() || d.contains(['$', '`', '%']) => return found,
        "~" => std::env::var_os("HOME").map(PathBuf::from),
        d => match d.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)),
            None => (!d.starts_with('~')).then(|| PathBuf::from(d)),
        },
    };
    let Some(base) = base else { return found };
    found
        .into_iter()
        .map(|n| {
            if n.path.is_absolute() {
                return n;
            }
            let rel: PathBuf = n.path.components().filter(|c| *c != Component::CurDir).collect();
            Named { path: base.join(rel), ..n }
        })
        .collect()
}

/// `xargs`'s options that take a value.
const XARGS: &[&str] = &[
    "-a",
    "-d",
    "-E",
    "-I",
    "-L",
    "-n",
    "-P",
    "-s",
    "--arg-file",
    "--delimiter",
    "--max-args",
    "--max-procs",
    "--max-chars",
    "--max-lines",
    "--process-slot-var",
];

/// `sudo`'s options that take a value (`-h` alone is its help).
const SUDO: &[&str] = &[
    "-u",
    "-g",
    "-C",
    "-D",
    "-p",
    "-R",
    "-r",
    "-t",
    "-T",
    "-U",
    "--user",
    "--group",
    "--close-from",
    "--chdir",
    "--prompt",
    "--chroot",
    "--role",
    "--type",
    "--command-timeout",
    "--other-user",
    "--host",
];

/// `npx`'s and `npm exec`'s options that take a value.
const NPM_EXEC: &[&str] = &["-p", "--package", "-w", "--workspace", "--prefix"];

/// `pnpm`'s (and `pnpm exec`'s) options that take a value.
const PNPM: &[&str] =
    &["-C", "--dir", "-F", "--filter", "--workspace-concurrency", "--resume-from", "--reporter", "--report-summary"];

/// `uv run`'s options that take a value.
const UV_RUN: &[&str] = &[
    "--with",
    "--with-editable",
    "--with-requirements",
    "--extra",
    "--group",
    "--only-group",
    "--no-group",
    "--no-extra",
    "--package",
    "--python",
    "-p",
    "--directory",
    "--project",
    "--env-file",
    "--index",
    "--default-index",
    "-i",
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "-f",
    "--index-strategy",
    "--keyring-provider",
    "--resolution",
    "--prerelease",
    "--exclude-newer",
    "--link-mode",
    "--refresh-package",
    "--reinstall-package",
    "--upgrade-package",
    "-P",
    "--no-binary-package",
    "--no-build-package",
    "--config-setting",
    "-C",
    "--cache-dir",
    "--config-file",
    "--color",
    "--python-preference",
];

/// Where the command starts in `args`: past the options of `shape`
/// (`--` ends them) and its operands.
fn command_at<'a>(args: &'a [String], shape: &Shape) -> &'a [String] {
    let i = past_options(args, 0, shape.valued);
    args.get(i + shape.operands..).unwrap_or(&[])
}

/// The index of the first word at or after `i` that is no option of a
/// program whose options `valued` take a value (past a `--`).
fn past_options(args: &[String], mut i: usize, valued: &[&str]) -> usize {
    while let Some(a) = args.get(i) {
        if a == "--" {
            return i + 1;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        if valued.contains(&a.as_str()) {
            i += 1;
        }
    }
    i
}

/// The index just past `sub` when it is the first word after the
/// runner's own options (`valued` take a value): `uv --quiet run`.
fn subcommand(args: &[String], valued: &[&str], sub: &str) -> Option<usize> {
    let i = past_options(args, 0, valued);
    (args.get(i).map(String::as_str) == Some(sub)).then_some(i + 1)
}

/// What `flock [options] file` runs: the command after the lock file, or
/// the string `-c`/`--command` gives a shell (`flock fd` runs nothing).
fn flock(args: &[String]) -> Wrapped<'_> {
    let i = past_options(args, 0, &["-w", "--wait", "--timeout", "-E", "--conflict-exit-code"]) + 1;
    match args.get(i).map(String::as_str) {
        Some("-c" | "--command") => Wrapped::Line(args.get(i + 1).cloned().unwrap_or_default()),
        _ => Wrapped::Command(args.get(i..).unwrap_or(&[])),
    }
}

/// What `npx`, `npm exec` or `pnpm exec` runs from `args[i..]`: the
/// command after its options (`valued` take a value), or the string
/// `-c`/`--call` gives a shell; `pnpm`: `-c`/`--shell-mode` has the
/// command's words read as a command line.
fn node_exec<'a>(args: &'a [String], mut i: usize, valued: &[&str], pnpm: bool) -> Wrapped<'a> {
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-c" | "--shell-mode" if pnpm => {
                let rest = args.get(past_options(args, i + 1, valued)..).unwrap_or(&[]);
                return Wrapped::Line(rest.join(" "));
            }
            "-c" | "--call" if !pnpm => return Wrapped::Line(args.get(i + 1).cloned().unwrap_or_default()),
            _ if !pnpm && a.starts_with("--call=") => {
                return Wrapped::Line(a.trim_start_matches("--call=").to_string());
            }
            "--" => return Wrapped::Command(args.get(i + 1..).unwrap_or(&[])),
            _ if !a.starts_with('-') || a == "-" => break,
            _ => i += if valued.contains(&a.as_str()) { 2 } else { 1 },
        }
    }
    Wrapped::Command(args.get(i..).unwrap_or(&[]))
}

/// What `uv run` runs with `args` (its words after `run`): a module
/// (`-m`, `--module`), a script (`--script`/`-s`, or a command that is a
/// `.py` file, which uv gives Python), or else the command.
fn uv_run(args: &[String]) -> Wrapped<'_> {
    let mut i = 0;
    let mut script = false;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-m" | "--module" => {
                let mut words = vec!["-m".to_string()];
                words.extend(args.get(i + 1..).unwrap_or(&[]).iter().cloned());
                return Wrapped::Python(words);
            }
            "--script" | "-s" => script = true,
            "--" => {
                i += 1;
                break;
            }
            _ if !a.starts_with('-') || a == "-" => break,
            _ if UV_RUN.contains(&a.as_str()) => i += 1,
            _ => {}
        }
        i += 1;
    }
    let rest = args.get(i..).unwrap_or(&[]);
    let python = rest.first().is_some_and(|w| w.ends_with(".py") || w.ends_with(".pyw"));
    if script || python { Wrapped::Python(rest.to_vec()) } else { Wrapped::Command(rest) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn runners_are_wrappers_only_with_their_subcommand() {
        let w = words("run build");
        assert_eq!(wrapped("npm", &w), None, "npm run is a plain program");
        assert_eq!(wrapped("uv", &words("pip install x")), None);
        let w = words("--quiet run --with rich python3 -m x");
        assert_eq!(wrapped("uv", &w), Some(Wrapped::Command(&w[4..])));
        let w = words("run -m a.b c");
        assert_eq!(wrapped("uv", &w), Some(Wrapped::Python(words("-m a.b c"))));
        let w = words("run --python 3.12 conv.py x");
        assert_eq!(wrapped("uv", &w), Some(Wrapped::Python(words("conv.py x"))));
        let w = words("-C . run tool a");
        assert_eq!(wrapped("poetry", &w), Some(Wrapped::Command(&w[3..])));
        let w = words("--yes -p pkg eslint src/");
        assert_eq!(wrapped("npx", &w), Some(Wrapped::Command(&w[3..])));
        let w = words("exec -w a -- eslint x");
        assert_eq!(wrapped("npm", &w), Some(Wrapped::Command(&w[4..])));
        assert_eq!(wrapped("npx", &words("--call=a/b.sh")), Some(Wrapped::Line("a/b.sh".into())));
        let w = words("--dir . exec -c a/b.sh && c");
        assert_eq!(wrapped("pnpm", &w), Some(Wrapped::Line("a/b.sh && c".into())));
        let w = words("-n -w 5 .lock -c x/y");
        assert_eq!(wrapped("flock", &w), Some(Wrapped::Line("x/y".into())));
        let w = words("-u bob -E -- A=1 sh");
        assert_eq!(wrapped("sudo", &w), Some(Wrapped::Command(&w[4..])));
        assert_eq!(wrapped("eval", &words("a/b.sh --quick")), Some(Wrapped::Line("a/b.sh --quick".into())));
    }

    use super::super::hostconfig::alias_path_strings as paths;

    #[test]
    fn eval_s_line_and_env_s_directory_are_read() {
        // Review 82, F7.
        assert_eq!(paths("!eval \"tools/lint.sh --quick\""), vec!["tools/lint.sh"]);
        assert_eq!(paths("!env -C tools ./lint.sh"), vec!["tools/lint.sh"]);
        assert_eq!(paths("!env --chdir=tools sh lint.sh"), vec!["tools/lint.sh"]);
        assert_eq!(paths("!env -Ctools A=x/y ./lint.sh"), vec!["x/y", "tools/lint.sh"]);
        assert_eq!(paths("!env -C /opt/t bin/x"), vec!["/opt/t/bin/x"]);
        assert_eq!(paths("!env -C $D ./x"), vec!["./x"]);
        assert_eq!(paths("!env -C tools /usr/bin/true"), vec!["/usr/bin/true"]);
    }
}
