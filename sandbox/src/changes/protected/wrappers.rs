//! What a wrapper program runs: the one reading of "this program runs the
//! rest of its words as a command" for [`super::hostconfig`]'s command
//! reader (review 81 F3, and the wrappers it left as plain programs).
//!
//! [`wrapped`] answers, for a program's last name and its words, what it
//! runs: a command (its program and words), a Python interpreter's words
//! (`uv run -m tools.conv`, `uv run conv.py`), or a command line a shell
//! reads (`flock .lock -c '…'`, `npx -c '…'`, `pnpm exec -c …`, `su -c
//! '…'`, `script -c '…'`, `sg group '…'`, `watch`'s words), or a command
//! run from a directory (`sudo -D DIR`: its relative words from there, as
//! `env -C`). Options are read as getopt reads them ([`getopt`], also for
//! git's subcommands: [`super::gitoptions`]). It skips
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
    /// A command run from the directory `dir` (`sudo -D DIR cmd`): its
    /// relative words are read from there ([`from_dir`]).
    InDir(&'a str, &'a [String]),
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
        "sudo" => Some(sudo(args)),
        "doas" => plain(&["-u", "-C", "-a"], 0),
        "flock" => Some(flock(args)),
        // A shell string given with `-c` (`su -c '…'`, `script -c '…'`),
        // `watch`'s words through `sh -c`, `sg group '…'` (review 82's
        // residual wrappers).
        "su" => Some(line_of(args, &SU, &["c", "command", "session-command"])),
        "script" => Some(line_of(args, &SCRIPT, &["c", "command"])),
        "watch" => Some(watch(args)),
        "sg" => Some(sg(args)),
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
/// than none); one read through [`super::expansion::at_top`] (`$PWD/tools`,
/// `$D/tools`) gives both readings.
pub(super) fn from_dir(dir: &str, found: Vec<Named>) -> Vec<Named> {
    use std::path::{Component, PathBuf};
    let read = super::expansion::at_top(dir);
    let expanded = read != dir;
    let dir = &*read;
    let base = match dir {
        d if d.is_empty() || d.contains(['$', '`', '%']) => return found,
        "~" => std::env::var_os("HOME").map(PathBuf::from),
        d => match d.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)),
            None => (!d.starts_with('~')).then(|| PathBuf::from(d)),
        },
    };
    let Some(base) = base else { return found };
    let joined = found.iter().cloned().map(|n| {
        // A pattern below any directory is so below this one too.
        if n.path.is_absolute() || matches!(n.kind, super::hostconfig::Kind::Pattern { anchored: false, .. }) {
            return n;
        }
        let rel: PathBuf = n.path.components().filter(|c| *c != Component::CurDir).collect();
        Named { path: base.join(rel), ..n }
    });
    match expanded {
        true => found.iter().cloned().chain(joined).collect(),
        false => joined.collect(),
    }
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

/// `sudo`'s options: those that take a value (`-h` alone is its help);
/// it stops at its first operand.
const SUDO: Spec = Spec {
    // `-a` (auth type) and `-c` (login class) take a value too where sudo
    // is built with them (review 85, F5).
    valued: "acugCDpRrtTU",
    optional: "",
    long: &[
        "auth-type",
        "login-class",
        "user",
        "group",
        "close-from",
        "chdir",
        "prompt",
        "chroot",
        "role",
        "type",
        "command-timeout",
        "other-user",
        "host",
    ],
    long_optional: &[],
    permute: false,
    perl: false,
};

/// `su`'s options that take a value (util-linux; it reads options among
/// its operands, `su bob -c '…'`).
const SU: Spec = Spec {
    valued: "cgGsw",
    optional: "",
    long: &["command", "session-command", "group", "supp-group", "shell", "whitelist-environment"],
    long_optional: &[],
    permute: true,
    perl: false,
};

/// `script`'s options that take a value (util-linux; `-t[FILE]`'s only
/// attached). Its operand is the file it writes, no code.
const SCRIPT: Spec = Spec {
    valued: "cEIOBTmo",
    optional: "t",
    long: &["command", "echo", "log-in", "log-out", "log-io", "log-timing", "logging-format", "output-limit"],
    long_optional: &["timing"],
    permute: true,
    perl: false,
};

/// `watch`'s options that take a value (procps; `-d[permanent]`'s only
/// attached); it stops at its first operand.
const WATCH: Spec = Spec {
    valued: "nqs",
    optional: "d",
    long: &["interval", "equexit", "shotsdir"],
    long_optional: &["differences"],
    permute: false,
    perl: false,
};

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

/// How a program reads its options, for [`getopt`].
pub(super) struct Spec {
    /// Short options that take a value: the rest of their word, or the
    /// next word.
    pub(super) valued: &'static str,
    /// Short options whose value is only the rest of their word.
    pub(super) optional: &'static str,
    /// Long options that take a value (`--name=v`, `--name v`; an
    /// abbreviation of one too).
    pub(super) long: &'static [&'static str],
    /// Long options whose value is only the rest of their word
    /// (`--name=v`; `--name` alone has none).
    pub(super) long_optional: &'static [&'static str],
    /// Options are read among the operands too (GNU getopt's default,
    /// git's), not only before the first.
    pub(super) permute: bool,
    /// Options are read as Perl's Getopt::Long reads them (git's Perl
    /// commands: `send-email`; review 86, F9): one dash, or `+`, takes a
    /// long name as two do (`-cc-cmd=x`), a name matches whatever its case
    /// (`--CC-Cmd`), a unique abbreviation counts, and there are no
    /// clusters (a single letter is a name among [`Spec::long`]).
    pub(super) perl: bool,
}

/// An option [`getopt`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Opt<'a> {
    /// A short option's letter or a long one's name (a valued one's in
    /// full when abbreviated).
    pub(super) name: String,
    /// Its value, if it takes one.
    pub(super) value: Option<&'a str>,
    /// The index of its word in `args`.
    pub(super) at: usize,
    /// The index of its value's word, when that is the next word.
    pub(super) value_at: Option<usize>,
}

/// The options of `args` from `from` on, read as getopt reads them:
/// clusters (`-lc CMD`), a short option's value attached (`-xCMD`) or the
/// next word, `--name=value` or `--name value` (`--name=value` only for
/// [`Spec::long_optional`]), an abbreviation of a long name the Spec
/// knows, of any length (`--ex` for `--exec`, `--c` for `--command`, as
/// getopt_long takes any unique prefix: review 85, F5; of two, a valued
/// one: a wider reading only protects more), `--` ending them; or as
/// Getopt::Long reads them ([`Spec::perl`]). Returns them and where
/// the operands start (past a `--`; without `permute` the first word that
/// is no option).
pub(super) fn getopt<'a>(args: &'a [String], from: usize, spec: &Spec) -> (Vec<Opt<'a>>, usize) {
    let mut opts = Vec::new();
    let mut i = from;
    while let Some(a) = args.get(i) {
        let at = i;
        i += 1;
        let mut take_next = |name: String, opts: &mut Vec<Opt<'a>>| {
            let value = args.get(i).map(String::as_str);
            opts.push(Opt { name, value, at, value_at: value.map(|_| i) });
            i += 1;
        };
        if a == "--" {
            return (opts, i);
        }
        let long = match a.strip_prefix("--") {
            Some(l) => Some(l),
            None if spec.perl => a.strip_prefix(['-', '+']).filter(|l| !l.is_empty()),
            None => None,
        };
        if let Some(long) = long {
            let (name, attached) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
            match (long_name(spec, name), attached) {
                (Some(f), None) if spec.long.contains(&f) => take_next(f.to_string(), &mut opts),
                (f, value) => opts.push(Opt { name: f.unwrap_or(name).to_string(), value, at, value_at: None }),
            }
        } else if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (k, c) in cluster.char_indices() {
                let rest = &cluster[k + c.len_utf8()..];
                let name = c.to_string();
                if spec.valued.contains(c) {
                    match rest {
                        "" => take_next(name, &mut opts),
                        r => opts.push(Opt { name, value: Some(r), at, value_at: None }),
                    }
                    break;
                }
                let value = (spec.optional.contains(c) && !rest.is_empty()).then_some(rest);
                opts.push(Opt { name, value, at, value_at: None });
                if value.is_some() {
                    break;
                }
            }
        } else if !spec.permute {
            return (opts, at);
        }
    }
    (opts, i.min(args.len()))
}

/// The long option of `spec` that `name` names: itself, or else the
/// first it abbreviates; whatever the case for [`Spec::perl`].
fn long_name(spec: &Spec, name: &str) -> Option<&'static str> {
    let same = |l: &str, n: &str| if spec.perl { l.eq_ignore_ascii_case(n) } else { l == n };
    let known = || spec.long.iter().chain(spec.long_optional).copied();
    known()
        .find(|l| same(l, name))
        .or_else(|| known().find(|l| !name.is_empty() && l.get(..name.len()).is_some_and(|p| same(p, name))))
}

/// What a program that runs the shell string its option `names` gives
/// runs (`su -c '…'`, `script -c '…'`): that string, read as a command
/// line; without one, nothing readable (an interactive shell).
fn line_of<'a>(args: &'a [String], spec: &Spec, names: &[&str]) -> Wrapped<'a> {
    let (opts, _) = getopt(args, 0, spec);
    match opts.iter().rev().find(|o| names.contains(&o.name.as_str())).and_then(|o| o.value) {
        Some(line) => Wrapped::Line(line.to_string()),
        None => Wrapped::Command(&[]),
    }
}

/// What `sudo [options] command…` runs: the command, from the directory
/// `-D`/`--chdir` names when it does (as `env -C`).
fn sudo(args: &[String]) -> Wrapped<'_> {
    let (opts, at) = getopt(args, 0, &SUDO);
    let command = args.get(at..).unwrap_or(&[]);
    match opts.iter().rev().find(|o| o.name == "D" || o.name == "chdir").and_then(|o| o.value) {
        Some(dir) => Wrapped::InDir(dir, command),
        None => Wrapped::Command(command),
    }
}

/// What `watch [options] command…` runs: its words joined with blanks as
/// a command line (`sh -c`), or with `-x`/`--exec` the command itself.
fn watch(args: &[String]) -> Wrapped<'_> {
    let (opts, at) = getopt(args, 0, &WATCH);
    let command = args.get(at..).unwrap_or(&[]);
    if opts.iter().any(|o| o.name == "x" || o.name == "exec") {
        Wrapped::Command(command)
    } else {
        Wrapped::Line(command.join(" "))
    }
}

/// What `sg [-] group [-c] command` runs: the command string, read as a
/// command line (`sg` gives it `sh -c`; more words are joined).
fn sg(args: &[String]) -> Wrapped<'_> {
    let mut i = usize::from(args.first().is_some_and(|a| a == "-")) + 1;
    if args.get(i).is_some_and(|a| a == "-c") {
        i += 1;
    }
    Wrapped::Line(args.get(i..).unwrap_or(&[]).join(" "))
}

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
        // Review 85, F4: getopt_long's abbreviations, and `-S`'s words run
        // from `-C`'s directory.
        for a in [
            "!env --ch=tools ./lint.sh",
            "!env --chd tools ./lint.sh",
            "!env --c tools ./lint.sh",
            "!env --u FOO -C tools ./lint.sh",
            "!env -C tools -S './lint.sh --fix'",
            "!env -iCtools -S'./lint.sh --fix'",
            "!env --chdir=tools --split-string='./lint.sh --fix'",
            "!env -S'-C tools ./lint.sh'",
            "!env -u X --argv0 y -C tools ./lint.sh",
        ] {
            assert_eq!(paths(a), vec!["tools/lint.sh"], "{a}");
        }
        assert_eq!(paths("!env - A=x/y ./lint.sh"), vec!["x/y", "./lint.sh"]);
        assert!(paths("!env --unset=FOO -i true").is_empty());
    }

    #[test]
    fn su_script_watch_sg_and_sudo_s_directory_are_read() {
        for a in [
            "!su -c 'tools/lint.sh --quick'",
            "!su - bob -c 'tools/lint.sh --quick'",
            "!su bob -lc tools/lint.sh",
            "!su --command='tools/lint.sh --quick' bob",
            "!su -s /bin/sh --session-command 'tools/lint.sh' bob",
            "!script -qc 'tools/lint.sh --quick' /dev/null",
            "!script -q -e --command='tools/lint.sh --quick' log.txt",
            "!watch tools/lint.sh --quick",
            "!watch -n 5 -d 'tools/lint.sh --quick'",
            "!watch -tn1 tools/lint.sh",
            "!watch --interval=5 -x tools/lint.sh --quick",
            "!sg dev -c 'tools/lint.sh --quick'",
            "!sg - dev 'tools/lint.sh --quick'",
            "!sudo -D tools ./lint.sh",
            "!sudo --chdir=tools sh lint.sh",
            "!sudo -u bob --chdir tools ./lint.sh --quick",
            "!sudo -Dtools ./lint.sh",
            // Review 85, F5: a one-letter abbreviation, and sudo's `-a`/`-c`.
            "!su --c 'tools/lint.sh --quick' root",
            "!script -q --c tools/lint.sh /dev/null",
            "!sudo -c staff -D tools ./lint.sh",
            "!sudo -a pam -Dtools ./lint.sh",
        ] {
            assert_eq!(paths(a), vec!["tools/lint.sh"], "{a}");
        }
        // Their own operands and option values are none: `script`'s log
        // file is written, `su`'s user and `sg`'s group are names.
        assert!(paths("!script -c true log.txt").is_empty());
        assert!(paths("!su bob").is_empty());
        assert!(paths("!watch -n 5 date").is_empty());
        assert!(paths("!sudo -D /opt/t true").is_empty());
        assert_eq!(paths("!sudo -D /opt/t bin/x"), vec!["/opt/t/bin/x"]);
    }
}
