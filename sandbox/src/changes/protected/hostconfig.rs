//! What the host's own git configuration makes code in *every* work tree
//! (review 76, F2). Git resolves a relative `core.hooksPath` from the work
//! tree it runs in, and runs a command whose program is a relative path
//! (`core.fsmonitor = tools/watch`, `[diff "x"] textconv = ./bin/conv`, an
//! alias `!scripts/x`) from there too — whichever file set it: the
//! repository's config, or the user's global or system one. In a workspace
//! those are files a task can write, so they are protected like hooks.
//!
//! - [`program_paths`] answers, for one setting, the paths it makes code (a
//!   hooks directory, or a command's program and the words it is given,
//!   through `sh -c`, `env -S`, `python -m` and wrappers
//!   ([`super::wrappers`]: `sudo` (`-D` too), `flock`, `su -c`, `script
//!   -c`, `watch`, `sg`, `uv run`, `npx`…, `eval`, `env -C`) and git's own
//!   `-c` and its subcommands' command lines (`rebase -x`, `submodule
//!   foreach`, `bisect run`…: [`super::gitoptions`]) too, and
//!   the files an interpreter runs for its script besides it (a directory's
//!   `__main__.py` or `index.js`, a module's bytecode:
//!   [`super::interpreted`]); relative ones from the work tree; a
//!   command's word is code only where it is no directory, and one
//!   without a `/` ([`Kind::Bare`]), absent, only when it is named like a
//!   file; a file the command writes — an output option's value, `tee`'s
//!   operand, an output redirection's target — is none: review 82, FP1).
//!   Where an absent word would be code, only a directory may be there
//!   ([`Named::is_dir_only_at`], review 82, F2).
//! - [`with_mains`] adds the `main` file a Node package's `package.json`
//!   names, as it is in one work tree, and what a config an alias makes
//!   git read ([`Kind::Config`]: `GIT_CONFIG_GLOBAL=FILE`, `HOME=DIR`…,
//!   review 87) makes code there.
//! - [`read_with_includes`] is the one reading of a config's includes, for
//!   the host's files and a repository's alike (review 78, F4):
//!   `include.path` and every `includeIf.*.path` whatever its condition (a
//!   wider reading only protects more), relative ones from the including
//!   file's directory as git joins them, at most [`MAX_DEPTH`] deep.
//! - [`host`] reads the host's system and global files once per process
//!   (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_SYSTEM`, `GIT_CONFIG_GLOBAL`,
//!   `XDG_CONFIG_HOME` and `HOME` as git honours them) with their includes,
//!   and the settings the environment gives (`GIT_CONFIG_COUNT`/`_KEY_<n>`/
//!   `_VALUE_<n>`, `GIT_CONFIG_PARAMETERS`: review 78, T8). It returns those
//!   paths and the files read or included (an included file inside the
//!   workspace is itself protected).
//!
//! The host's files are the user's own, not a task's: they are read as
//! git writes them, not adversarially. Every word is read as a path after
//! the one normaliser of shell expansions ([`super::expansion::at_top`]:
//! `$PWD/x`, `$(pwd)/x`, `~+/x` are `./x`; review 88, F3). Residual
//! (SECURITY.md §5.3): a workspace file a command reaches through other
//! shell code (a function, `cd tools && ./x`), through a directory it names
//! (`pytest tests/`: but for an interpreter's script, see
//! [`super::interpreted`]), or through Python's own search (`PYTHONPATH`,
//! `-c` code, a module's imports and their bytecode) is not recognised.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Includes followed, at most (git's own limit is 10).
const MAX_DEPTH: usize = 10;

/// A config file is read up to this size.
const MAX_FILE: u64 = 1 << 20;

/// Config files read from one set of given files, at most (a file that
/// includes itself under other spellings must not multiply).
const MAX_FILES: usize = 256;

/// A path a setting makes code: relative ones from a work tree's top.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Named {
    /// The path as the setting names it.
    pub path: PathBuf,
    /// What kind of word named it ([`Named::is_code_at`]).
    pub kind: Kind,
}

/// What kind of word named a [`Named`] path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A hooks directory (`core.hooksPath`) or a template directory
    /// (`init.templateDir`, `GIT_TEMPLATE_DIR`): code, whatever is there.
    HooksDir,
    /// A command's program or a word given to it, with a `/`
    /// (`tools/conv.py`), or a file of a module `python -m` runs.
    Path,
    /// A word given to a program, without a `/` (`python3 conv.py`).
    Bare,
    /// A config file git reads, named by an alias's assignment
    /// (`GIT_CONFIG_GLOBAL=FILE`, `HOME=DIR`'s `.gitconfig`: review 87, F2,
    /// F3) or a `-c include.path=$PWD/FILE` (any spelling of the top,
    /// review 88, F3): code as a [`Kind::Path`] is
    /// (absent too), and read at a work tree's top ([`with_mains`]) for
    /// what its settings make code.
    Config,
    /// Every path of the work tree a word names where its directory or
    /// its name cannot be read exactly ([`super::expansion::pattern`]:
    /// review 89, F1): `path` is the pattern's text ([`Named::pattern`]);
    /// `dir`: a hooks or template directory's (what lies below a match is
    /// code too); `anchored`: matched from the top, else below any
    /// directory. Code as a [`Kind::Path`] is, at every match
    /// ([`crate::jail::protect`] finds those there at the start, the check
    /// after the task those made).
    Pattern {
        /// A directory whose content is code, not a command's word.
        dir: bool,
        /// Matched from the top, not below any directory.
        anchored: bool,
    },
}

impl Named {
    /// Whether the path, found at `at`, is code. A hooks directory always
    /// is. A command's word is none where it is a directory (review 79,
    /// F5: `!python3 -m pytest tests/x`, `!make -C src/lib`: a build
    /// writes there, reading it as code would make it exit 4, and git
    /// cannot run a directory as a program); a word with a `/` is code
    /// anywhere else, absent too. A bare word (review 78, F2) is code where
    /// it is anything but a directory, or, absent, when it is named like a
    /// file (`conv.py`): an absent word without a dot (`make test`) is
    /// none.
    pub fn is_code_at(&self, at: &Path) -> bool {
        match (self.kind, std::fs::metadata(at)) {
            (Kind::HooksDir, _) => true,
            (_, Ok(m)) => !m.is_dir(),
            (Kind::Path | Kind::Config | Kind::Pattern { .. }, Err(_)) => true,
            (Kind::Bare, Err(_)) => self.absent_is_code(),
        }
    }

    /// Whether only a directory may be at `at` (review 82, F2): a
    /// command's word that is absent or a directory there (a link to one
    /// too), where an absent one would be code ([`Named::is_code_at`]).
    /// Judged so at every task's start, a directory one task made there
    /// guards the name for the next as its absence did: a directory may be
    /// made, removed or written below, any other file there is code. A
    /// hooks directory is code whatever is there, never this.
    pub fn is_dir_only_at(&self, at: &Path) -> bool {
        let dir_or_absent = match std::fs::metadata(at) {
            Ok(m) => m.is_dir(),
            Err(_) => std::fs::symlink_metadata(at).is_err(),
        };
        self.kind != Kind::HooksDir && dir_or_absent && self.absent_is_code()
    }

    /// The pattern a [`Kind::Pattern`] stands for, and whether what lies
    /// below a match is code too; `None` for another kind.
    pub fn pattern(&self) -> Option<(super::expansion::Pattern, bool)> {
        match self.kind {
            Kind::Pattern { dir, anchored } => Some((super::expansion::Pattern::new(&self.path, anchored), dir)),
            _ => None,
        }
    }

    /// Whether the word, absent, is code: one with a `/` always, a bare one
    /// when it is named like a file (`conv.py`, not `test`).
    fn absent_is_code(&self) -> bool {
        match self.kind {
            Kind::HooksDir | Kind::Path | Kind::Config | Kind::Pattern { .. } => true,
            Kind::Bare => self.path.to_str().is_some_and(|w| w.trim_start_matches('.').contains('.')),
        }
    }
}

/// `paths` (relative ones from the work tree `top`) and after them what
/// they lead to as they are at `top`: for each Node package manifest among
/// them (a `package.json`, which [`program_paths`] names in a directory
/// `node` is given), the `main` file it names and the names Node tries for
/// it (review 81, residual R2: the manifest is protected, so the file it
/// chooses is the one there now); for each [`Kind::Config`], what the file
/// and its includes make code ([`config_file_paths`]: review 87, F2, F3),
/// and so on for what those name, each once.
pub fn with_mains(paths: Vec<Named>, top: &Path) -> Vec<Named> {
    let mut seen: std::collections::HashSet<Named> = paths.iter().cloned().collect();
    let mut out = paths;
    let (mut next, mut configs) = (0, 0);
    while let Some(n) = out.get(next).cloned() {
        next += 1;
        let mut found = Vec::new();
        match n.kind {
            // A config file names no end of configs in turn: a bound.
            Kind::Config if configs < MAX_FILES => {
                configs += 1;
                config_file_paths(&top.join(&n.path), 0, &mut found);
            }
            Kind::Path | Kind::Bare if n.path.file_name() == Some("package.json".as_ref()) => {
                let mains = super::interpreted::node_main(&n.path, &top.join(&n.path));
                found.extend(mains.into_iter().map(|path| Named { path, kind: Kind::Path }));
            }
            _ => {}
        }
        out.extend(found.into_iter().filter(|f| seen.insert(f.clone())));
    }
    out
}

/// What the host's git configuration makes code in every work tree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostCode {
    /// Hooks directories and programs: relative ones from a work tree's
    /// top, absolute ones where they are.
    pub paths: Vec<Named>,
    /// The config files read or named by an include (absolute, as named).
    pub files: Vec<PathBuf>,
}

/// The host's git configuration's [`HostCode`], read once.
pub fn host() -> &'static HostCode {
    static HOST: OnceLock<HostCode> = OnceLock::new();
    HOST.get_or_init(|| host_code(&|k| std::env::var_os(k)))
}

/// The [`HostCode`] of the environment `var`.
fn host_code(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> HostCode {
    let given = env_settings(var);
    let mut files = host_files(var);
    // An include given on the command line must be absolute (or `~/`).
    files.extend(given.iter().filter(|(s, k, _)| is_include(s, k)).filter_map(|(_, _, v)| include_target(v, None)));
    let read = read_with_includes(&files);
    let mut out = HostCode {
        files: files.iter().filter(|f| read.configs.iter().any(|c| &c.file == *f)).cloned().collect(),
        ..HostCode::default()
    };
    out.files.extend(read.included.iter().cloned());
    // `GIT_TEMPLATE_DIR` is read before `init.templateDir` (review 82, F3).
    let template = var("GIT_TEMPLATE_DIR")
        .map(|d| ("init".to_string(), "templatedir".to_string(), d.to_string_lossy().into_owned()));
    let settings = read.configs.iter().flat_map(|c| c.settings.iter()).chain(given.iter()).chain(template.iter());
    let mut seen = std::collections::HashSet::new();
    for (section, key, value) in settings {
        for p in program_paths(section, key, value) {
            if seen.insert(p.clone()) {
                out.paths.push(p);
            }
        }
    }
    out
}

/// The system and global config files git reads, by the environment `var`.
fn host_files(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let set = |k: &str| var(k).filter(|s| !s.is_empty());
    let truthy = |k: &str| {
        var(k).is_some_and(|s| matches!(s.to_string_lossy().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
    };
    if !truthy("GIT_CONFIG_NOSYSTEM") {
        v.push(set("GIT_CONFIG_SYSTEM").map_or_else(|| PathBuf::from("/etc/gitconfig"), PathBuf::from));
    }
    if let Some(g) = set("GIT_CONFIG_GLOBAL") {
        v.push(PathBuf::from(g));
    } else {
        let home = set("HOME").map(PathBuf::from);
        match set("XDG_CONFIG_HOME") {
            Some(x) => v.push(PathBuf::from(x).join("git/config")),
            None => v.extend(home.as_ref().map(|h| h.join(".config/git/config"))),
        }
        v.extend(home.map(|h| h.join(".gitconfig")));
    }
    v
}

/// The settings the environment gives git as its command line does
/// (review 78, T8): `GIT_CONFIG_COUNT` with `GIT_CONFIG_KEY_<n>` and
/// `GIT_CONFIG_VALUE_<n>`, and `GIT_CONFIG_PARAMETERS` (what `git -c`
/// hands down to the git it runs), as `(section, key, value)`, section and
/// key lowercase.
fn env_settings(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<(String, String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let text = |k: &str| var(k).map(|v| v.to_string_lossy().into_owned());
    if let Some(params) = text("GIT_CONFIG_PARAMETERS") {
        pairs.extend(parameters(&params));
    }
    // A bound keeps a stray huge count from costing anything.
    let count = text("GIT_CONFIG_COUNT").and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(0).min(10_000);
    for i in 0..count {
        if let (Some(k), Some(v)) = (text(&format!("GIT_CONFIG_KEY_{i}")), text(&format!("GIT_CONFIG_VALUE_{i}"))) {
            pairs.push((k, v));
        }
    }
    pairs
        .into_iter()
        .filter_map(|(k, v)| super::gitoptions::split_key(&k).map(|(section, key)| (section, key, v)))
        .collect()
}

/// The `key=value` pairs of `GIT_CONFIG_PARAMETERS`: single-quoted words
/// (`'\''` for a quote) separated by blanks, each `'key=value'` or, as
/// newer git writes them, `'key'='value'`.
fn parameters(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = params.chars().peekable();
    // One word: quoted parts and backslash-escaped characters run together.
    let word = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            match c {
                '\'' => {
                    chars.next();
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        w.push(q);
                    }
                }
                '\\' => {
                    chars.next();
                    w.extend(chars.next());
                }
                _ => break,
            }
        }
        w
    };
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let first = word(&mut chars);
        if chars.next_if_eq(&'=').is_some() {
            out.push((first, word(&mut chars)));
        } else if let Some((k, v)) = first.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        } else if first.is_empty() {
            // Not git's format: stop rather than loop.
            break;
        } else {
            out.push((first, String::new()));
        }
    }
    out
}

/// One config file read, as named, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file, as named (its include path joined to the including file's
    /// directory, as git joins it; links not resolved).
    pub file: PathBuf,
    /// Its settings, `(section, key, value)`, section and key lowercase.
    pub settings: Vec<(String, String, String)>,
}

/// Configs read from some files and what they include.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Included {
    /// Every file read (the given ones first among them), includes followed.
    pub configs: Vec<Config>,
    /// Every file an include named (read or not), but for the given ones.
    pub included: Vec<PathBuf>,
}

/// Whether `section.key` is an include (`include.path`, `includeIf.*.path`).
fn is_include(section: &str, key: &str) -> bool {
    (section == "include" || section == "includeif") && key == "path"
}

/// The file the include `value` names from a file in `dir` (`None`: from
/// the command line, where it must be absolute), as git joins it: `~/`
/// from `HOME`, a relative path from the including file's directory.
fn include_target(value: &str, dir: Option<&Path>) -> Option<PathBuf> {
    if value.is_empty() {
        return None;
    }
    if let Some(rest) = value.strip_prefix("~/") {
        return std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(rest));
    }
    let p = Path::new(value);
    match dir {
        _ if p.is_absolute() => Some(p.to_path_buf()),
        Some(d) => Some(d.join(p)),
        None => None,
    }
}

/// Read `files` and, as git does, what they include: `include.path` and
/// every `includeIf.*.path` whatever its condition (a wider reading only
/// protects more), relative ones from the including file's directory as
/// named, at most [`MAX_DEPTH`] deep, each file once. The one reading of
/// includes for the host's files, the root repository's
/// (`jail::protect`) and a nested one's ([`super::codepaths`]): review
/// 78, F4.
pub fn read_with_includes(files: &[PathBuf]) -> Included {
    let mut out = Included::default();
    let mut seen: Vec<PathBuf> = files.to_vec();
    let mut todo: Vec<(PathBuf, usize)> = files.iter().rev().map(|f| (f.clone(), 0)).collect();
    while let Some((file, depth)) = todo.pop() {
        let Some(text) = read_followed(&file) else { continue };
        let settings = super::submodules::settings(&text);
        let dir = file.parent().unwrap_or(Path::new("/"));
        let mut next = Vec::new();
        for (section, key, value) in &settings {
            if is_include(section, key)
                && let Some(p) = include_target(value, Some(dir))
                && !seen.contains(&p)
            {
                seen.push(p.clone());
                out.included.push(p.clone());
                if depth < MAX_DEPTH {
                    next.push((p, depth + 1));
                }
            }
        }
        // Depth first, in the order the file names them.
        todo.extend(next.into_iter().rev());
        out.configs.push(Config { file, settings });
        if out.configs.len() >= MAX_FILES {
            break;
        }
    }
    out
}

/// At most [`MAX_FILE`] bytes of the regular file at `path`, links
/// followed as git follows them (a dotfile manager links `~/.gitconfig`),
/// never blocking on a FIFO; `None` if it is no regular file.
fn read_followed(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut v = Vec::new();
    f.take(MAX_FILE).read_to_end(&mut v).ok()?;
    Some(v)
}

/// The paths that the setting `section.key = value` (section and key
/// lowercase, subsection dropped) makes code: its `core.hooksPath` or `init.templateDir`
/// ([`Kind::HooksDir`]), or, for a setting git runs as a command, what
/// each command in it names (`command_paths`): its program when it has
/// a `/` (a bare name is looked up in `PATH`) and every word given to a
/// program (split as the shell splits it): with a `/` it is a
/// [`Kind::Path`] (`python3 tools/conv.py`); without one a [`Kind::Bare`]
/// path (`python3 conv.py`, `!sh lint.sh`: review 78, F2), except after
/// `git` or a `git-*` program (subcommands, not files: `git lfs
/// filter-process`). The value of an assignment (`CC=tools/cc`, before the
/// program or given to it) and of an option (`--config=lint.cfg`) is such
/// a word; a shell's `-c` string and `env -S`'s are command lines in turn,
/// and `python3 -m a.b` names the module's files (review 79, F3, F4). An
/// option (`-x`), `.`/`..`, a word ending in `/` (a directory: review 79,
/// F5), or a word the shell expands (`$`, `` ` ``, `%` placeholders git
/// fills) once read by [`super::expansion::at_top`] is none. A relative path is from the work tree's top; a `~/`
/// path from the host user's `HOME` (review 81, F2: a workspace may lie
/// below it).
pub fn program_paths(section: &str, key: &str, value: &str) -> Vec<Named> {
    let mut found = Vec::new();
    setting_paths(section, key, value, 0, &mut found);
    // Each once (by hash: a `python3 -m` names thousands of stand-ins).
    let mut seen = std::collections::HashSet::new();
    found.retain(|n: &Named| seen.insert(n.clone()));
    found
}

/// Push onto `out` what the setting `section.key = value` makes code
/// ([`program_paths`]); `depth`: how deep the setting is nested in a
/// command line (`git -c key=value` in an alias: review 82, F4).
fn setting_paths(section: &str, key: &str, value: &str, depth: usize, out: &mut Vec<Named>) {
    let value = value.trim();
    // A hooks directory, or a template directory: everything in it is
    // copied into each repository `git init` or `git clone` makes, its
    // hooks and config too (review 82, F3).
    if (section == "core" && key == "hookspath") || (section == "init" && key == "templatedir") {
        code_dir(value, out);
        return;
    }
    let command = match (section, key) {
        // A boolean, or the hook's program.
        ("core", "fsmonitor") if is_bool(value) => return,
        ("core", "fsmonitor" | "sshcommand" | "pager" | "editor" | "askpass" | "alternaterefscommand" | "gitproxy")
        | ("sequence", "editor")
        | ("gpg", "program" | "defaultkeycommand")
        | ("credential", "helper")
        | ("filter", "clean" | "smudge" | "process")
        | ("diff", "textconv" | "command" | "external")
        | ("merge", "driver")
        | ("difftool" | "mergetool" | "browser" | "man" | "guitool", "cmd" | "path")
        | ("remote", "uploadpack" | "receivepack")
        | ("trailer", "cmd" | "command")
        | ("sendemail", "smtpserver" | "sendmailcmd" | "tocmd" | "cccmd" | "headercmd")
        | ("imap", "tunnel")
        | ("tar", "command")
        | ("instaweb", "httpd")
        | ("interactive", "difffilter")
        | ("uploadpack", "packobjectshook")
        | ("pager", _) => value.strip_prefix('!').unwrap_or(value),
        // Shell commands only with a `!`.
        ("alias", _) | ("submodule", "update") => match value.strip_prefix('!') {
            Some(c) => c,
            // An alias without `!` is git's words: its global options
            // (`-c core.fsmonitor=…`) are read (review 82, F4).
            None if section == "alias" => {
                let words: Vec<String> =
                    shell_words(value).into_iter().flat_map(|c| c.assigned.into_iter().chain(c.words)).collect();
                let given = git_option_paths(&words, depth, out);
                for (_, a) in words.iter().enumerate().take(given.rest).filter(|(i, _)| !given.values.contains(i)) {
                    argument_path(a, true, out);
                }
                return;
            }
            None => return,
        },
        _ => return,
    };
    command_line_paths(command, depth, out);
}

/// Push onto `out` what the settings git's global options at the start of
/// `args` give make code ([`super::gitoptions`]), nested one deeper, and
/// what the subcommand after them runs as a command of its own (`rebase
/// -x '…'`, `submodule foreach '…'`, `bisect run …`:
/// [`super::gitoptions::subcommand_runs`]), and what the settings its
/// options give make code (`clone --template=DIR`); return what the options are
/// ([`super::gitoptions::GlobalOptions`]), with the indexes of the words
/// read so (not as words given to git) in its `values`.
fn git_option_paths(args: &[String], depth: usize, out: &mut Vec<Named>) -> super::gitoptions::GlobalOptions {
    let var = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
    let mut given = super::gitoptions::global_options(args, &var);
    given_settings_paths(&given.settings, depth, out);
    for d in &given.code_dirs {
        code_dir(d, out);
    }
    let sub = super::gitoptions::subcommand_runs(args.get(given.rest..).unwrap_or(&[]));
    given_settings_paths(&sub.settings, depth, out);
    for w in sub.runs {
        wrapped_paths(w, depth, out);
    }
    given.values.extend(sub.used.into_iter().map(|i| i + given.rest));
    given
}

/// Push onto `out` what the settings git's command line gives (`-c`,
/// `clone --config`…) make code, nested one deeper than `depth`: each as a
/// config file's, and an include (`-c include.path=FILE`, absolute or
/// `~/` as git takes it there: review 86, F8) as `.git/config`'s are: the
/// file itself and what it includes (configs git reads: code), and what
/// their settings make code, read by the one reader of includes
/// ([`read_with_includes`]).
fn given_settings_paths(settings: &[(String, String, String)], depth: usize, out: &mut Vec<Named>) {
    if depth >= MAX_NESTING {
        return;
    }
    for (section, key, value) in settings {
        if !is_include(section, key) {
            setting_paths(section, key, value, depth + 1, out);
            continue;
        }
        // A file named from the work tree's top (`$PWD/FILE` in a `!`
        // alias: review 87, F3; review 88, F3): read there ([`with_mains`]).
        // A relative one as written git refuses.
        let read = super::expansion::at_top(value.trim());
        let Some(file) = include_target(&read, None) else {
            if read != value.trim() {
                config_file(&read, out);
            }
            continue;
        };
        out.push(Named { path: file.clone(), kind: Kind::Path });
        config_file_paths(&file, depth, out);
    }
}

/// Push onto `out` what the config `file` makes code, nested one deeper
/// than `depth`: the files it includes (configs git reads: code) and what
/// their settings and its own make code, read by the one reader of
/// includes ([`read_with_includes`]). The one reading of a config a
/// command line names: `-c include.path=FILE` (review 86, F8) and a
/// [`Kind::Config`] (review 87, F2, F3).
fn config_file_paths(file: &Path, depth: usize, out: &mut Vec<Named>) {
    if depth >= MAX_NESTING {
        return;
    }
    let read = read_with_includes(&[file.to_path_buf()]);
    out.extend(read.included.into_iter().map(|path| Named { path, kind: Kind::Path }));
    for (s, k, v) in read.configs.iter().flat_map(|c| c.settings.iter()).filter(|(s, k, _)| !is_include(s, k)) {
        setting_paths(s, k, v, depth + 1, out);
    }
}

/// Push onto `out` the config file `value` names ([`Kind::Config`]), if
/// it names one (not a word the shell expands).
fn config_file(value: &str, out: &mut Vec<Named>) {
    pattern_path(value.trim(), false, out);
    let value = super::expansion::at_top(value.trim());
    if value.contains(['$', '`']) {
        return;
    }
    out.extend(path_of(&value).map(|path| Named { path, kind: Kind::Config }));
}

/// Command lines read inside a command line (`sh -c '…'`, `env -S '…'`,
/// a command substitution), at most this deep.
const MAX_NESTING: usize = 4;

/// Push onto `out` what each command of the command line `line` names
/// ([`command_paths`]); `depth`: how deep `line` is nested.
fn command_line_paths(line: &str, depth: usize, out: &mut Vec<Named>) {
    for c in shell_words(line) {
        for a in &c.assigned {
            assignment_paths(a, depth, out);
        }
        if let Some((program, args)) = c.words.split_first() {
            command_paths(program, args, depth, out);
        }
    }
    // A command substitution's inside is a command line too (review 81, F3).
    if depth < MAX_NESTING {
        for inner in substitutions(line) {
            command_line_paths(&inner, depth + 1, out);
        }
    }
}

/// Push onto `out` what the command `program args…` names: its program
/// (with a `/`), and each word given to it ([`argument_path`]), read as
/// the program reads them for `env` ([`env_paths`]), a shell
/// ([`shell_paths`]) and Python ([`python_paths`]).
fn command_paths(program: &str, args: &[String], depth: usize, out: &mut Vec<Named>) {
    word_path(program, Word::Program, out);
    let name = program.rsplit('/').next().unwrap_or(program);
    let rest = match name {
        "env" => return env_paths(args, None, depth, out),
        n if is_shell(n) => shell_paths(args, depth, out),
        n if is_python(n) => python_paths(args, out),
        n if is_node(n) => node_paths(args, out),
        n => match super::wrappers::wrapped(n, args) {
            Some(w) => return wrapped_paths(w, depth, out),
            None => args,
        },
    };
    let git = name == "git" || name.starts_with("git-");
    // `git -c key=value`: the setting is read, not the word (review 82, F4).
    let settings = if name == "git" { git_option_paths(rest, depth, out).values } else { Vec::new() };
    let mut words = rest.iter().enumerate().filter(|(i, _)| !settings.contains(i)).map(|(_, a)| a);
    while let Some(a) = words.next() {
        match output_word(name, a) {
            Output::No => argument_path(a, git, out),
            Output::Itself => {}
            Output::Next => {
                words.next();
            }
        }
    }
}

/// Whether a word given to a program names a file the program writes
/// (review 82, FP1), for [`output_word`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// No: judged as any word.
    No,
    /// The word itself names an output (`--junitxml=reports/j.xml`, a
    /// `tee` operand).
    Itself,
    /// The word is an option whose value, the next word, names one (`-o
    /// build/hello`).
    Next,
}

/// Options whose value names a file the program writes, not one it runs
/// (review 82, FP1): `-o`/`--output`/`--out` (a compiler's, `sort`'s,
/// `curl`'s), pytest's `--junitxml`/`--junit-xml`/`--html`/`--log-file`,
/// pytest-cov's `--cov-report` (`xml:PATH`). `-O` is none (`gcc -O`,
/// `perl -O` take no value: the next word may be a script).
const OUTPUT_OPTIONS: &[&str] =
    &["-o", "--output", "--out", "--junitxml", "--junit-xml", "--html", "--log-file", "--cov-report"];

/// Whether the word `a` given to the program `name` names an output
/// ([`Output`]): an [`OUTPUT_OPTIONS`] option (its `=` value, or the next
/// word), or any operand of `tee`. An output is written by the command the
/// host runs, never run by it, so it is no code; the same path named
/// elsewhere as a program or script still is.
fn output_word(name: &str, a: &str) -> Output {
    if name == "tee" && !a.starts_with('-') {
        return Output::Itself;
    }
    let option = a.split_once('=').map_or(a, |(o, _)| o);
    match OUTPUT_OPTIONS.contains(&option) {
        true if option.len() < a.len() => Output::Itself,
        true => Output::Next,
        false => Output::No,
    }
}

/// The command lines inside `line`'s command substitutions (`$(…)`, and
/// `` `…` `` with its `\``, `\\`, `\$` unescaped), outside single quotes,
/// inside double quotes too (review 81, F3: `git commit -m "$(tools/x)"`).
/// An arithmetic `$((…))` is none.
fn substitutions(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut single, mut double) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => single = !single,
            _ if single => {}
            '"' => double = !double,
            '\\' => {
                chars.next();
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                let arithmetic = chars.peek() == Some(&'(');
                let mut inner = String::new();
                let mut open = 1;
                for q in chars.by_ref() {
                    open += match q {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if open == 0 {
                        break;
                    }
                    inner.push(q);
                }
                if !arithmetic {
                    out.push(inner);
                }
            }
            '`' => {
                let mut inner = String::new();
                while let Some(q) = chars.next() {
                    match q {
                        '`' => break,
                        '\\' if chars.peek().is_some_and(|n| matches!(n, '`' | '\\' | '$')) => {
                            inner.extend(chars.next())
                        }
                        q => inner.push(q),
                    }
                }
                out.push(inner);
            }
            _ => {}
        }
    }
    out
}

/// Where a word stands in its command, for [`word_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    /// The command's program: a path only with a `/`.
    Program,
    /// Given to a program.
    Argument,
    /// Given to `git` or a `git-*` program: a path only with a `/`.
    GitArgument,
}

/// Push onto `out` what the command a wrapper runs names
/// ([`super::wrappers`]): a command (its assignments first), a Python
/// interpreter's words, or a command line (nested, at most
/// [`MAX_NESTING`] deep).
fn wrapped_paths(w: super::wrappers::Wrapped<'_>, depth: usize, out: &mut Vec<Named>) {
    use super::wrappers::Wrapped;
    match w {
        Wrapped::Command(words) => {
            let at = words.iter().position(|a| !is_assignment(a)).unwrap_or(words.len());
            for a in &words[..at] {
                assignment_paths(a, depth, out);
            }
            if let Some((program, rest)) = words[at..].split_first() {
                command_paths(program, rest, depth, out);
            }
        }
        Wrapped::Python(words) => {
            for a in python_paths(&words, out) {
                argument_path(a, false, out);
            }
        }
        Wrapped::Line(line) if depth < MAX_NESTING => command_line_paths(&line, depth + 1, out),
        Wrapped::Line(_) => {}
        Wrapped::InDir(dir, words) => {
            let mut found = Vec::new();
            wrapped_paths(Wrapped::Command(words), depth, &mut found);
            out.extend(super::wrappers::from_dir(dir, found));
        }
    }
}

/// Push onto `out` the directory `value` names, as code whatever is there
/// ([`Kind::HooksDir`]): a hooks or template directory, git's exec path.
///
/// Git reads such a value from a config without a shell (as written, `~/`
/// from `HOME`): `core.hooksPath = $PWD/.githooks` is the work tree's
/// `./$PWD/.githooks` (review 89, F4). The same value in a command line
/// the shell expands first. Both readings are taken (a wider reading only
/// protects more): the value as written, and as [`super::expansion::at_top`]
/// reads it, with the pattern it names where that cannot be read exactly
/// ([`super::expansion::pattern`]).
fn code_dir(value: &str, out: &mut Vec<Named>) {
    let value = value.trim();
    out.extend(path_of(value).map(|path| Named { path, kind: Kind::HooksDir }));
    pattern_path(value, true, out);
    let read = super::expansion::at_top(value);
    if read != value && !read.contains(['$', '`']) {
        out.extend(path_of(&read).map(|path| Named { path, kind: Kind::HooksDir }));
    }
}

/// Push onto `out` the [`Kind::Pattern`] the word `w` names, if it names
/// one ([`super::expansion::pattern`]); `dir`: a hooks or template
/// directory's.
fn pattern_path(w: &str, dir: bool, out: &mut Vec<Named>) {
    if let Some(p) = super::expansion::pattern(w) {
        out.push(Named { path: PathBuf::from(p.text()), kind: Kind::Pattern { dir, anchored: p.anchored() } });
    }
}

/// git's environment variables whose value is a command line git runs, and
/// the setting that gives the same, `(variable, section, key)` (review 86,
/// F10: `GIT_SSH_COMMAND='sh tools/ssh.sh' git fetch` is
/// `core.sshCommand`'s); `GIT_TEMPLATE_DIR` is `init.templateDir`'s.
const COMMAND_VARIABLES: &[(&str, &str, &str)] = &[
    ("GIT_SSH_COMMAND", "core", "sshcommand"),
    ("GIT_SSH", "core", "sshcommand"),
    ("GIT_PROXY_COMMAND", "core", "gitproxy"),
    ("GIT_EDITOR", "core", "editor"),
    ("VISUAL", "core", "editor"),
    ("EDITOR", "core", "editor"),
    ("GIT_SEQUENCE_EDITOR", "sequence", "editor"),
    ("GIT_PAGER", "core", "pager"),
    ("PAGER", "core", "pager"),
    ("GIT_ASKPASS", "core", "askpass"),
    ("SSH_ASKPASS", "core", "askpass"),
    ("GIT_EXTERNAL_DIFF", "diff", "external"),
    ("GIT_TEMPLATE_DIR", "init", "templatedir"),
];

/// Push onto `out` what the assignment `a` (`NAME=value`, before a
/// program or given to `env`) makes code: for one of git's
/// [`COMMAND_VARIABLES`], what its setting would (nested one deeper than
/// `depth`); `GIT_EXEC_PATH`'s directory, where git finds its programs
/// first (review 86, F2), whole ([`code_dir`]); else the path its value
/// names ([`argument_path`]). A config git reads by it (review 87: F2,
/// `GIT_CONFIG_GLOBAL=FILE`, `GIT_CONFIG_SYSTEM=FILE`; F3, `HOME=DIR`'s
/// `.gitconfig` and `.config/git/config`, `XDG_CONFIG_HOME=DIR`'s
/// `git/config`) is a [`Kind::Config`], read at the work tree's top.
fn assignment_paths(a: &str, depth: usize, out: &mut Vec<Named>) {
    let Some((name, value)) = a.split_once('=') else { return argument_path(a, false, out) };
    let dir = super::expansion::at_top(value.trim());
    let under = |rest: &str| {
        (!dir.is_empty() && !dir.contains(['$', '`'])).then(|| format!("{}/{rest}", dir.trim_end_matches('/')))
    };
    match name {
        "GIT_EXEC_PATH" => return code_dir(value, out),
        "GIT_CONFIG_GLOBAL" | "GIT_CONFIG_SYSTEM" => return config_file(value, out),
        "HOME" | "XDG_CONFIG_HOME" => {
            let files: &[&str] = if name == "HOME" { &[".gitconfig", ".config/git/config"] } else { &["git/config"] };
            for f in files.iter().filter_map(|r| under(r)) {
                config_file(&f, out);
            }
        }
        _ => {}
    }
    match COMMAND_VARIABLES.iter().find(|(n, ..)| *n == name) {
        Some((_, section, key)) if depth < MAX_NESTING => setting_paths(section, key, value, depth + 1, out),
        _ => argument_path(a, false, out),
    }
}

/// Push onto `out` the path the argument `a` names: the value of an
/// option (`--config=lint.cfg`) or an assignment (`CC=tools/cc`), or the
/// word itself; `git`: given to git (see [`Word::GitArgument`]).
fn argument_path(a: &str, git: bool, out: &mut Vec<Named>) {
    let word = match a.split_once('=') {
        Some((_, value)) if a.starts_with('-') || is_assignment(a) => value,
        _ if a.starts_with('-') => return,
        _ => a,
    };
    word_path(word, if git { Word::GitArgument } else { Word::Argument }, out);
}

/// Push onto `out` the path the word `w` names as `role`: none for an
/// option, `.`/`..`, a word ending in `/`, or one the shell or git
/// expands; a [`Kind::Bare`] one only as a [`Word::Argument`].
///
/// A word with an expansion is also read as the program would get it
/// literally (single-quoted `'$PWD/x'` and double-quoted `"~+/x"` reach it
/// as written: paths from the top, review 89, F4), and, where its
/// directory or name cannot be read exactly (an unknown expansion before
/// its literal rest, a glob the shell expands), as the pattern of every
/// path it may name ([`Kind::Pattern`], review 89, F1): orchestra does
/// not keep which parts were quoted, so both readings are taken (a wider
/// reading only protects more).
fn word_path(w: &str, role: Word, out: &mut Vec<Named>) {
    if w.is_empty() || w.starts_with('-') || w.ends_with('/') {
        return;
    }
    let bare = !w.contains('/');
    if let Some(p) = super::expansion::pattern(w)
        && (!bare || role == Word::Argument || !p.anchored())
    {
        out.push(Named { path: PathBuf::from(p.text()), kind: Kind::Pattern { dir: false, anchored: p.anchored() } });
    }
    let literal = w.starts_with('~') && !w.starts_with("~/") || super::expansion::at_top(w) != w;
    if literal && !bare {
        out.push(Named { path: PathBuf::from(w), kind: Kind::Path });
    }
    let w = &*super::expansion::at_top(w);
    if w.is_empty() || w.starts_with('-') || w.contains(['$', '`', '%']) || w == "." || w == ".." || w.ends_with('/') {
        return;
    }
    let bare = !w.contains('/');
    if bare && role != Word::Argument {
        return;
    }
    if let Some(path) = path_of(w) {
        out.push(Named { path, kind: if bare { Kind::Bare } else { Kind::Path } });
    }
}

/// `env`'s options (GNU coreutils; it stops at its first operand):
/// `-u`/`--unset` take a variable's name, `-C`/`--chdir` a directory,
/// `-S`/`--split-string` a string split into words, `-a`/`--argv0` a name.
const ENV: super::wrappers::Spec = super::wrappers::Spec {
    valued: "uCSa",
    optional: "",
    long: &["unset", "chdir", "split-string", "argv0"],
    long_optional: &[],
    permute: false,
    perl: false,
};

/// Push onto `out` what `env args…` names: the values of its assignments,
/// `-S`'s string split into words that `env` reads before the rest
/// (nested, at most [`MAX_NESTING`] deep), and the command it runs, from
/// the directory `-C` names (`dir`, given to the `-S` words too). Its
/// options are read by the one getopt ([`super::wrappers::getopt`]:
/// clusters, `--ch=DIR` abbreviations: review 84 F5, review 85 F4).
fn env_paths<'a>(args: &'a [String], mut dir: Option<&'a str>, depth: usize, out: &mut Vec<Named>) {
    let (opts, mut at) = super::wrappers::getopt(args, 0, &ENV);
    for o in opts {
        match o.name.as_str() {
            "C" | "chdir" => dir = o.value,
            "S" | "split-string" => {
                if let (Some(s), true) = (o.value, depth < MAX_NESTING) {
                    let mut words: Vec<String> =
                        shell_words(s).into_iter().flat_map(|c| c.assigned.into_iter().chain(c.words)).collect();
                    words.extend(args.iter().skip(o.value_at.unwrap_or(o.at) + 1).cloned());
                    env_paths(&words, dir, depth + 1, out);
                }
                return;
            }
            _ => {}
        }
    }
    // A lone `-` after the options is `-i`.
    if args.get(at).is_some_and(|a| a == "-") {
        at += 1;
    }
    let rest = args.get(at..).unwrap_or(&[]);
    let program = rest.iter().position(|a| !is_assignment(a)).unwrap_or(rest.len());
    for a in &rest[..program] {
        assignment_paths(a, depth, out);
    }
    let Some((program, words)) = rest[program..].split_first() else { return };
    match dir {
        Some(d) => {
            let mut found = Vec::new();
            command_paths(program, words, depth, &mut found);
            out.extend(super::wrappers::from_dir(d, found));
        }
        None => command_paths(program, words, depth, out),
    }
}

/// Whether `name` is a shell's that reads a `-c` string as a command line.
fn is_shell(name: &str) -> bool {
    matches!(name, "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash")
}

/// Push onto `out` what a shell's options name (`--rcfile`'s file) and,
/// with `c` among them (`-c`, `-lc`, `-ec`), what its first other word
/// names as a command line (nested, at most [`MAX_NESTING`] deep);
/// return the words left to judge as any command's (a script and its
/// arguments, or `-c`'s `$0` and arguments).
fn shell_paths<'a>(args: &'a [String], depth: usize, out: &mut Vec<Named>) -> &'a [String] {
    let mut string = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" || a == "-" {
            break;
        }
        if a == "--rcfile" || a == "--init-file" {
            if let Some(f) = args.get(i) {
                word_path(f, Word::Argument, out);
            }
            i += 1;
            continue;
        }
        let Some(flags) = a.strip_prefix('-').or_else(|| a.strip_prefix('+')) else {
            i -= 1;
            break;
        };
        if flags.starts_with('-') {
            continue;
        }
        string |= a.starts_with('-') && flags.contains('c');
        // `-o name`, `-O name` take a word.
        if flags.ends_with(['o', 'O']) {
            i += 1;
        }
    }
    let rest = args.get(i..).unwrap_or(&[]);
    match rest.split_first() {
        Some((line, after)) if string => {
            if depth < MAX_NESTING {
                command_line_paths(line, depth + 1, out);
            }
            after
        }
        _ => rest,
    }
}

/// Whether `name` is a Python interpreter's (`python`, `python3`,
/// `python3.12`, `pypy3`).
fn is_python(name: &str) -> bool {
    name.strip_prefix("python")
        .or_else(|| name.strip_prefix("pypy"))
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Push onto `out` the files of the module `-m` names ([`module_paths`]);
/// return the words left to judge as any command's (a script and its
/// arguments, or the module's). Code given with `-c` is not read
/// (SECURITY.md §5.3).
fn python_paths<'a>(args: &'a [String], out: &mut Vec<Named>) -> &'a [String] {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "-" {
            // The program from its input: the words are its arguments.
            return args.get(i..).unwrap_or(&[]);
        }
        if a == "--" {
            break;
        }
        let Some(flags) = a.strip_prefix('-') else {
            i -= 1;
            break;
        };
        if flags.starts_with('-') {
            continue;
        }
        // A cluster (`-Bm mod`, `-mmod`): an option that takes a word takes
        // the rest of the cluster, or else the next word.
        for (j, f) in flags.char_indices() {
            if !matches!(f, 'm' | 'c' | 'W' | 'X') {
                continue;
            }
            let attached = &flags[j + f.len_utf8()..];
            let value = if attached.is_empty() {
                i += 1;
                args.get(i - 1).map(String::as_str)
            } else {
                Some(attached)
            };
            match (f, value) {
                ('m', Some(module)) => {
                    module_paths(module, out);
                    return args.get(i..).unwrap_or(&[]);
                }
                ('m' | 'c', _) => return args.get(i..).unwrap_or(&[]),
                _ => break,
            }
        }
    }
    let rest = args.get(i..).unwrap_or(&[]);
    if let Some(script) = rest.first() {
        script_paths(script, super::interpreted::python_script, out);
        script_paths(script, super::interpreted::bytecode, out);
    }
    rest
}

/// Whether `name` is Node's (`node`, `nodejs`).
fn is_node(name: &str) -> bool {
    matches!(name, "node" | "nodejs")
}

/// Push onto `out` what Node's options name (`-r ./hook.js`,
/// `--import=./x.mjs`) and the files it may run for its script
/// ([`super::interpreted::node_script`]); return the words left to judge
/// as any command's (the script and its arguments). Code given with `-e`
/// or `-p` is not read.
fn node_paths<'a>(args: &'a [String], out: &mut Vec<Named>) -> &'a [String] {
    const VALUED: &[&str] = &[
        "-r",
        "--require",
        "--import",
        "--loader",
        "--experimental-loader",
        "-C",
        "--conditions",
        "--input-type",
        "--env-file",
        "--title",
    ];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "--" => {
                i += 1;
                break;
            }
            "-" => return args.get(i + 1..).unwrap_or(&[]),
            "-e" | "--eval" | "-p" | "--print" => return args.get(i + 2..).unwrap_or(&[]),
            _ if a.starts_with("--eval=") || a.starts_with("--print=") => return args.get(i + 1..).unwrap_or(&[]),
            _ if !a.starts_with('-') => break,
            _ if VALUED.contains(&a.as_str()) => {
                if let Some(v) = args.get(i + 1) {
                    argument_path(v, false, out);
                }
                i += 2;
            }
            _ => {
                argument_path(a, false, out);
                i += 1;
            }
        }
    }
    let rest = args.get(i..).unwrap_or(&[]);
    if let Some(script) = rest.first() {
        script_paths(script, super::interpreted::node_script, out);
    }
    rest
}

/// Push onto `out`, as [`Kind::Path`] words, the files `derive` says an
/// interpreter may run for its script word `w` besides `w` itself (which
/// is judged as any word): none for an option or a word the shell or git
/// expands; a trailing `/` is dropped (`python3 tools/app/` runs
/// `tools/app/__main__.py` too).
fn script_paths(w: &str, derive: fn(&str) -> Vec<String>, out: &mut Vec<Named>) {
    let w = super::expansion::at_top(w);
    let w = w.trim_end_matches('/');
    if w.is_empty() || w.starts_with('-') || w.contains(['$', '`', '%']) {
        return;
    }
    for d in derive(w) {
        if let Some(path) = path_of(&d) {
            out.push(Named { path, kind: Kind::Path });
        }
    }
}

/// Push onto `out` the files `python -m module` finds the module, and
/// the runner its own modules ([`super::interpreted::runner_imports`]), as
/// from the work tree (the first entry of its search path): `a.b` is
/// `a/b.py`, `a/b/__main__.py` or `a/b/__init__.py`, and the package
/// `a` above it runs `a/__init__.py` (review 79, F4) or, a directory
/// without an init (a namespace portion), the module `a.py` Python's
/// finder tries after it (review 84, F2). A name with anything but
/// letters, digits and `_` between its dots names none.
fn module_paths(module: &str, out: &mut Vec<Named>) {
    let parts: Vec<&str> = module.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_')) {
        return;
    }
    let mut files: Vec<String> = (1..parts.len())
        .flat_map(|n| {
            let prefix = parts[..n].join("/");
            [format!("{prefix}/__init__.py"), format!("{prefix}.py")]
        })
        .collect();
    let full = parts.join("/");
    files.extend([format!("{full}.py"), format!("{full}/__main__.py"), format!("{full}/__init__.py")]);
    // What the runner imports from the work tree before the module (review 84, F3).
    files.extend(super::interpreted::runner_imports(""));
    // What stands for each file: its bytecode, an extension module (review 82, F5).
    let stand_ins: Vec<String> = files
        .iter()
        .flat_map(|f| super::interpreted::bytecode(f).into_iter().chain(super::interpreted::extension_modules(f)))
        .collect();
    files.extend(stand_ins);
    out.extend(files.into_iter().map(|f| Named { path: PathBuf::from(f), kind: Kind::Path }));
}

/// One simple command of a command line, as the shell splits it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Command {
    /// Its assignments before the program (`NAME=value`).
    assigned: Vec<String>,
    /// Its program and the words given to it (a redirection's file too).
    words: Vec<String>,
}

/// `command` split into simple commands as the shell splits it: blanks
/// separate words; single quotes keep everything; double quotes keep all
/// but `\` before `"`, `\\`, `$` and `` ` ``; a backslash outside quotes
/// keeps the next character. Operators (`;`, `|`, `&`, `(`…) end a word
/// too, and all but redirections (`<`, `>`) start a new command. The word
/// an output redirection writes to (`>`, `>>`, `2>`, `&>`, `>|`, `>&`) is
/// dropped (review 82, FP1: the shell writes it, nothing runs it); an
/// input's (`<`) is kept as a word of the command (`sh < x.sh`). Reserved
/// words (`{`, `if`, `then`…) before a program are left out; assignments
/// before it (`NAME=value`) are kept apart. The one splitting of words:
/// a nested command line (`sh -c '…'`) is split by it again.
fn shell_words(command: &str) -> Vec<Command> {
    let mut commands = vec![Command::default()];
    let mut word: Option<String> = None;
    // The next word is an output redirection's target.
    let mut output = false;
    let end = |word: &mut Option<String>, commands: &mut Vec<Command>, output: &mut bool| {
        let (Some(w), Some(c)) = (word.take(), commands.last_mut()) else { return };
        if std::mem::take(output) {
            return;
        }
        if !c.words.is_empty() {
            c.words.push(w);
        } else if is_assignment(&w) {
            c.assigned.push(w);
        } else if !is_reserved(&w) {
            c.words.push(w);
        }
    };
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => end(&mut word, &mut commands, &mut output),
            // A descriptor's number just before a redirection (`2>`) is no word.
            '<' | '>' if word.as_ref().is_some_and(|w| !w.is_empty() && w.chars().all(|d| d.is_ascii_digit())) => {
                word = None;
                output = c == '>';
                if output {
                    while chars.next_if(|n| matches!(n, '>' | '|' | '&')).is_some() {}
                }
            }
            '<' => {
                end(&mut word, &mut commands, &mut output);
                output = false;
            }
            '>' => {
                end(&mut word, &mut commands, &mut output);
                // `>>`, `>|`, `>&` (a descriptor, or both outputs to a file).
                while chars.next_if(|n| matches!(n, '>' | '|' | '&')).is_some() {}
                output = true;
            }
            // `&>`, `&>>`: both outputs to a file, not `&` then a command.
            '&' if chars.peek() == Some(&'>') => end(&mut word, &mut commands, &mut output),
            ';' | '|' | '&' | '(' | ')' => {
                end(&mut word, &mut commands, &mut output);
                output = false;
                commands.push(Command::default());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if chars.peek().is_some_and(|n| matches!(n, '"' | '\\' | '$' | '`')) => {
                            w.extend(chars.next());
                        }
                        '$' | '`' => raw_expansion(q, &mut chars, w),
                        q => w.push(q),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '$' | '`' => raw_expansion(c, &mut chars, word.get_or_insert_with(String::new)),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end(&mut word, &mut commands, &mut output);
    commands.retain(|c| !c.words.is_empty() || !c.assigned.is_empty());
    commands
}

/// Push onto `w` a command substitution or a `${…}` expansion whole, as
/// written (`$(git rev-parse --show-toplevel)` is one word's part, not
/// words and operators: review 88, F3), `first` (`$` or `` ` ``) already
/// taken from `chars`; a `$` before anything else is pushed alone. Its
/// inside is read as a command line by [`substitutions`].
fn raw_expansion(first: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>, w: &mut String) {
    w.push(first);
    if first == '`' {
        while let Some(q) = chars.next() {
            w.push(q);
            match q {
                '`' => break,
                '\\' => w.extend(chars.next()),
                _ => {}
            }
        }
        return;
    }
    let Some(close) = chars.peek().and_then(|c| match c {
        '(' => Some(')'),
        '{' => Some('}'),
        _ => None,
    }) else {
        return;
    };
    let open = if close == ')' { '(' } else { '{' };
    let mut depth = 0usize;
    for q in chars.by_ref() {
        w.push(q);
        if q == open {
            depth += 1;
        } else if q == close {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
    }
}

/// Whether the shell reads `w` before a program as a reserved word.
fn is_reserved(w: &str) -> bool {
    matches!(w, "{" | "}" | "!" | "if" | "then" | "else" | "elif" | "fi" | "do" | "done" | "while" | "until")
}

/// Whether `w` is an assignment (`NAME=value`).
fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(n, _)| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `value` as a path, if it is one: `~` and `~/…` from the host user's
/// `HOME`, as git expands them (review 81, F2: a workspace below HOME is
/// named so); `~user/…` and a `~` without a `HOME` name none.
fn path_of(value: &str) -> Option<PathBuf> {
    let home = || std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    match value {
        "" => None,
        "~" => home(),
        v => match v.strip_prefix("~/") {
            Some(rest) => home().map(|h| h.join(rest)),
            None => (!v.starts_with('~')).then(|| PathBuf::from(v)),
        },
    }
}

/// Whether git reads `value` as a boolean.
fn is_bool(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "" | "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0")
}

/// What an alias `value` makes code, as text: for the tests of the modules
/// that read its words (`gitoptions`, `wrappers`).
#[cfg(test)]
pub(super) fn alias_path_strings(value: &str) -> Vec<String> {
    program_paths("alias", "a", value).into_iter().map(|n| n.path.to_string_lossy().into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_hooks_paths_and_programs_are_code_and_the_rest_is_not() {
        // Bytecode and extension stand-ins (`interpreted`) are tested apart.
        let p = |s: &str, k: &str, v: &str| {
            program_paths(s, k, v).into_iter().map(|n| n.path).filter(|p| !is_stand_in(p)).collect::<Vec<_>>()
        };
        let v = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(p("core", "hookspath", ".githooks"), v(&[".githooks"]));
        assert_eq!(p("core", "hookspath", "/etc/hooks"), v(&["/etc/hooks"]));
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(p("core", "hookspath", "~/hooks"), [home.join("hooks")]);
        assert_eq!(p("core", "hookspath", "~other/hooks"), v(&[]));
        assert_eq!(p("core", "fsmonitor", "true"), v(&[]));
        assert_eq!(p("core", "fsmonitor", "tools/watch --fast"), v(&["tools/watch"]));
        assert_eq!(p("diff", "textconv", "./bin/conv"), v(&["./bin/conv"]));
        assert_eq!(p("filter", "clean", "LC_ALL=C \"scripts/clean\" %f"), v(&["C", "scripts/clean"]));
        assert_eq!(p("alias", "t", "!scripts/t.sh"), v(&["scripts/t.sh"]));
        assert_eq!(p("alias", "st", "status"), v(&[]));
        assert_eq!(p("core", "pager", "less -R"), v(&[]));
        assert_eq!(p("gpg", "program", "/usr/bin/gpg2"), v(&["/usr/bin/gpg2"]));
        assert_eq!(p("gpg", "program", "gpg2"), v(&[]));
        assert_eq!(p("user", "name", "a/b"), v(&[]));
        // Review 77, B2: more keys that run programs, arguments, quoting.
        assert_eq!(p("difftool", "cmd", "tools/dt \"$LOCAL\" \"$REMOTE\""), v(&["tools/dt"]));
        assert_eq!(
            p("diff", "textconv", "python3 tools/conv.py --x=1"),
            v(&["tools/conv.py/__main__.py", "tools/conv.py", "1"])
        );
        assert_eq!(p("diff", "textconv", "'my tools/conv' -v"), v(&["my tools/conv"]));
        assert_eq!(p("diff", "textconv", "my\\ tools/conv"), v(&["my tools/conv"]));
        assert_eq!(p("remote", "uploadpack", "./up"), v(&["./up"]));
        assert_eq!(p("submodule", "update", "!./upd.sh"), v(&["./upd.sh"]));
        assert_eq!(p("submodule", "update", "checkout"), v(&[]));
        assert_eq!(p("trailer", "cmd", "bin/t;x/y"), v(&["bin/t", "x/y"]));
        assert_eq!(p("gpg", "defaultkeycommand", "k/cmd"), v(&["k/cmd"]));
        // Review 88, F3: `$HOME/` is `~/` (and, as a quoted word would
        // give it, a path from the top: review 89, F4).
        assert_eq!(p("difftool", "cmd", "$HOME/x/dt"), [PathBuf::from("$HOME/x/dt"), home.join("x/dt")]);
        // Review 78, F2: a program's words without a `/` are (bare) paths too.
        assert_eq!(p("diff", "textconv", "python3 conv.py"), v(&["conv.py/__main__.py", "conv.py"]));
        assert_eq!(p("alias", "lint", "!sh lint.sh && f() { cd .; sh -e x; }; f"), v(&["lint.sh", "x"]));
        assert_eq!(p("filter", "clean", "LC_ALL=C sort -u %f > out.txt"), v(&["C"]));
        assert_eq!(p("core", "sshcommand", "ssh -i ~/.ssh/k"), [home.join(".ssh/k")]);
        assert_eq!(p("filter", "process", "git-lfs filter-process"), v(&[]));
        assert_eq!(p("alias", "l", "!git log --oneline && git -C sub/x status"), v(&["sub/x"]));
        assert_eq!(p("credential", "helper", "cache --timeout=3600"), v(&["3600"]));
        let bare = program_paths("diff", "textconv", "sh conv.sh ./x");
        assert_eq!(bare.iter().map(|n| n.kind).collect::<Vec<_>>(), [Kind::Bare, Kind::Path]);
    }

    #[test]
    fn shell_strings_env_assignments_options_and_python_modules_are_read_as_commands() {
        // Bytecode and extension stand-ins (`interpreted`) are tested apart.
        let p = |s: &str, k: &str, v: &str| {
            program_paths(s, k, v).into_iter().map(|n| n.path).filter(|p| !is_stand_in(p)).collect::<Vec<_>>()
        };
        let v = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
        // Review 79, F3: a shell's `-c` string is a command line.
        assert_eq!(p("alias", "lint", "!sh -c 'tools/lint.sh --quick'"), v(&["tools/lint.sh"]));
        assert_eq!(p("alias", "l", "!bash -lc \"cd . && ./x.sh a/b\" name arg"), v(&["./x.sh", "a/b", "name", "arg"]));
        assert_eq!(p("alias", "l", "!/bin/dash -e -c 'make -f mk/rules'"), v(&["/bin/dash", "mk/rules"]));
        assert_eq!(p("alias", "l", "!zsh -o errexit -ec 'sh -c \"t/y.sh\"'"), v(&["t/y.sh"]));
        assert_eq!(p("alias", "l", "!sh scripts/run.sh -c x"), v(&["scripts/run.sh", "x"]));
        assert_eq!(p("alias", "l", "!bash --rcfile rc/init -c true"), v(&["rc/init"]));
        // Nested past the bound: the innermost line is not read.
        let deep = "!sh -c \"sh -c 'sh -c \\\"sh -c \\\\\\\"sh -c a/b\\\\\\\"\\\"'\"";
        assert_eq!(p("alias", "d", deep), v(&[]));
        // `env`: assignments, options, `-S`, then the program (a shell too).
        assert_eq!(p("alias", "e", "!env -i -u X A=tools/a sh -c 'b/run'"), v(&["tools/a", "b/run"]));
        assert_eq!(
            p("diff", "textconv", "env -S 'PYTHONUTF8=1 python3 tools/c.py' --x"),
            v(&["1", "tools/c.py/__main__.py", "tools/c.py"])
        );
        assert_eq!(p("diff", "textconv", "/usr/bin/env -S\"sh -c 'c/d'\""), v(&["/usr/bin/env", "c/d"]));
        // Review 84, F5: `env`'s short options as a cluster, `-C` inside one too.
        for e in ["env -iC tools", "env -C tools", "env -Ctools", "env --chdir tools", "env -vi -u X -C tools"] {
            assert_eq!(p("alias", "l", &format!("!{e} ./lint.sh")), v(&["tools/lint.sh"]), "{e}");
        }
        assert_eq!(p("alias", "l", "!env -vS'sh -c tools/x.sh'"), v(&["tools/x.sh"]));
        assert_eq!(p("alias", "l", "!env -iu X ./lint.sh"), v(&["./lint.sh"]));
        // `--opt=path` and `VAR=path`, before the program and given to it.
        assert_eq!(
            p("alias", "l", "!CFG=lint/cfg.toml npx eslint --config=lint/rc.js --fix"),
            v(&["lint/cfg.toml", "lint/rc.js"])
        );
        assert_eq!(p("alias", "m", "!make CC=tools/cc -j4"), v(&["tools/cc"]));
        assert_eq!(p("alias", "g", "!git --git-dir=sub/.git -c core.x=y status"), v(&["sub/.git"]));
        // Review 79, F5: a word ending in `/` names a directory.
        assert_eq!(
            p("alias", "t", "!python3 -m pytest tests/ && npx eslint src/"),
            v(&["pytest.py", "pytest/__main__.py", "pytest/__init__.py"])
        );
        // Review 79, F4: `-m` names the module's files and its packages' inits.
        assert_eq!(
            p("diff", "textconv", "python3 -m tools.conv"),
            v(&["tools/__init__.py", "tools.py", "tools/conv.py", "tools/conv/__main__.py", "tools/conv/__init__.py"])
        );
        assert_eq!(
            p("alias", "x", "!python3.12 -Bm a.b.c data.bin"),
            v(&[
                "a/__init__.py",
                "a.py",
                "a/b/__init__.py",
                "a/b.py",
                "a/b/c.py",
                "a/b/c/__main__.py",
                "a/b/c/__init__.py",
                "data.bin"
            ])
        );
        assert_eq!(p("alias", "x", "!pypy3 -mconv"), v(&["conv.py", "conv/__main__.py", "conv/__init__.py"]));
        assert_eq!(p("alias", "x", "!python -W ignore -c 'import x' a/b"), v(&["a/b"]));
        assert_eq!(
            p("alias", "x", "!python3 -u tools/run.py -m y"),
            v(&["tools/run.py/__main__.py", "tools/run.py", "y"])
        );
        assert_eq!(p("alias", "x", "!python3 -m 'a/b'"), v(&[]));
        assert!(program_paths("diff", "textconv", "python3 -m m").iter().all(|n| n.kind == Kind::Path));
    }

    #[test]
    fn wrappers_and_command_substitutions_are_read_as_the_commands_they_run() {
        let p = alias_paths_without_stand_ins;
        let v = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
        let lint = v(&["tools/lint.sh"]);
        // Review 81, F3: a wrapper runs the rest as a command, past its options.
        for w in [
            "exec",
            "command",
            "nohup",
            "setsid",
            "time -p",
            "nice -n 5",
            "nice -5",
            "timeout 60",
            "timeout -s KILL -k 5 60",
            "timeout --foreground 1m",
            "stdbuf -oL -e 0",
            "ionice -c 3",
            "chrt -f 10",
            "taskset -c 0-3",
            "xargs -0 -n 1",
            "nice -n 5 timeout 60 exec",
            // Review 81, residual R1: more wrappers, runners with their subcommand.
            "sudo",
            "sudo -u bob -E --",
            "sudo --user=bob -H",
            "sudo -n -u bob",
            "doas -u bob",
            "doas -n",
            "builtin",
            "command -p",
            "nohup nice",
            "stdbuf -oL",
            "chrt --fifo 10",
            "ionice -c3 -n 7",
            "setsid -w",
            "time",
            "flock .lock",
            "flock -w 5 -x /tmp/lock",
            "uv run",
            "uv --quiet run --with rich -p 3.12",
            "poetry run",
            "poetry -C . run",
            "pipenv run",
            "npx",
            "npx --yes -p pkg",
            "npm exec --",
            "npm exec -y -w a --",
            "npm x",
            "pnpm exec",
            "pnpm --dir . exec",
        ] {
            assert_eq!(p(&format!("!{w} sh -c 'tools/lint.sh --quick'")), lint, "{w}");
        }
        let conv =
            v(&["tools/__init__.py", "tools.py", "tools/conv.py", "tools/conv/__main__.py", "tools/conv/__init__.py"]);
        assert_eq!(p("!exec python3 -m tools.conv"), conv);
        assert_eq!(p("!timeout 60 python3 -m tools.conv"), conv);
        assert_eq!(p("!nice ./run.sh a/b"), v(&["./run.sh", "a/b"]));
        // A command substitution, in double quotes and backticks too.
        assert_eq!(p("!git commit -m \"$(tools/lint.sh)\""), lint);
        assert_eq!(p("!echo `tools/lint.sh`"), lint);
        assert_eq!(p("!echo \"x `sh -c 'tools/lint.sh'` y\""), lint);
        assert_eq!(p("!echo \"$(cat \"$(tools/lint.sh)\")\""), lint);
        assert_eq!(p("!echo '$(tools/lint.sh)' $((1+2))"), v(&[]));
        // R1: a shell string given to the wrapper itself.
        for w in [
            "flock .lock -c 'tools/lint.sh --quick'",
            "flock -n /tmp/l --command 'tools/lint.sh'",
            "npx -c 'tools/lint.sh --quick'",
            "npm exec --call='tools/lint.sh'",
            "pnpm exec -c tools/lint.sh --quick",
            "sudo -u bob sh -c 'tools/lint.sh'",
        ] {
            assert_eq!(p(&format!("!{w}")), lint, "{w}");
        }
        // A module or a `.py` script the runner gives Python.
        for w in [
            "uv run -m tools.conv",
            "uv run --module tools.conv",
            "uv run python3 -m tools.conv",
            "poetry run python -m tools.conv",
            "pipenv run python3 -m tools.conv",
            "sudo -u bob python3 -m tools.conv",
            "doas python3 -m tools.conv",
        ] {
            let got = p(&format!("!{w}"));
            assert!(conv.iter().all(|c| got.contains(c)), "{w}: {got:?}");
        }
        assert!(p("!uv run conv.py").contains(&PathBuf::from("conv.py")));
        assert!(p("!uv run --script tools/x a").contains(&PathBuf::from("tools/x")));
        // Runners without their subcommand, and what a package runner finds
        // by name (`node_modules/.bin/eslint`), are plain words.
        assert_eq!(p("!npm run build"), v(&["run", "build"]), "plain words, code only where files");
        assert_eq!(p("!npx eslint --config=lint/rc.js src/"), v(&["lint/rc.js"]));
        assert_eq!(p("!sudo A=tools/a true"), v(&["tools/a"]));
    }

    #[test]
    fn an_interpreter_s_script_names_what_it_runs_for_a_directory_and_bytecode() {
        let p = |v: &str| program_paths("alias", "x", v).into_iter().map(|n| n.path).collect::<Vec<_>>();
        let has = |got: &[PathBuf], want: &[&str]| {
            for w in want {
                assert!(got.contains(&PathBuf::from(w)), "{w}: {got:?}");
            }
        };
        // Review 81, residual R2: a directory given to Node or Python runs a file in it.
        has(
            &p("!node scripts/release --dry"),
            &["scripts/release", "scripts/release.js", "scripts/release/index.js", "scripts/release/package.json"],
        );
        has(&p("!node --require ./hook.js -- tools/x"), &["./hook.js", "tools/x/index.js"]);
        has(&p("!nodejs --import=./loader.mjs s.js"), &["./loader.mjs", "s.js", "s.js/index.js"]);
        assert_eq!(p("!node -e 'require(1)' a/b"), v_of(&["a/b"]));
        has(
            &p("!python3 tools/app"),
            &["tools/app", "tools/app/__main__.py", "tools/app/__pycache__/__main__.cpython-312.pyc"],
        );
        has(&p("!python3 -B tools/app/ x"), &["tools/app/__main__.py"]);
        has(&p("!python3 app.zip"), &["app.zip", "app.zip/__main__.py"]);
        has(&p("!python3 ."), &["./__main__.py"]);
        assert_eq!(p("!python3 - a/b"), v_of(&["a/b"]));
        // The bytecode standing for a module `-m` runs, or the script.
        has(
            &p("!python3 -m tools.conv"),
            &[
                "tools/__pycache__/conv.cpython-312.pyc",
                "tools/__pycache__/__init__.cpython-38.pyc",
                "tools/conv.pyc",
                "tools/conv/__pycache__/__main__.cpython-313.pyc",
                // Review 84, F2: what stands for the namespace parent's module `tools.py`.
                "tools.pyc",
                "__pycache__/tools.cpython-311.pyc",
                "tools.so",
                "tools.abi3.so",
            ],
        );
        has(&p("!python3 tools/run.py"), &["tools/__pycache__/run.cpython-312.pyc", "tools/run.pyc"]);
        // A word of another program is no interpreter's script.
        assert_eq!(p("!cat tools/app"), v_of(&["tools/app"]));
        let kinds = program_paths("alias", "x", "!python3 app");
        assert!(kinds.iter().any(|n| n.path == Path::new("app") && n.kind == Kind::Bare), "{kinds:?}");
        assert!(kinds.iter().filter(|n| n.path != Path::new("app")).all(|n| n.kind == Kind::Path), "{kinds:?}");
    }

    /// What an alias `v` makes code, without the bytecode and extension
    /// stand-ins `interpreted` adds (tested apart).
    fn alias_paths_without_stand_ins(v: &str) -> Vec<PathBuf> {
        let paths = program_paths("alias", "x", v).into_iter().map(|n| n.path);
        paths.filter(|p| !is_stand_in(p)).collect()
    }

    /// Whether `p` is a bytecode or extension stand-in, or a module the
    /// Python runner imports itself (`interpreted`, tested apart).
    fn is_stand_in(p: &Path) -> bool {
        use super::super::interpreted::RUNNER_IMPORTS;
        let runner = |c: &std::ffi::OsStr| {
            c.to_str().is_some_and(|c| RUNNER_IMPORTS.iter().any(|n| c == *n || c.strip_suffix(".py") == Some(n)))
        };
        matches!(p.extension().and_then(|e| e.to_str()), Some("pyc" | "so")) || p.iter().any(runner)
    }

    fn v_of(paths: &[&str]) -> Vec<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn files_a_command_writes_are_no_code_and_what_it_reads_is() {
        // Bytecode and extension stand-ins (`interpreted`) are tested apart.
        let p = alias_paths_without_stand_ins;
        let v = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
        // Review 82, FP1: an output option's value, `tee`'s operands, an
        // output redirection's target.
        assert_eq!(
            p("!python3 -m pytest --junitxml=reports/j.xml --junit-xml r/k.xml"),
            v(&["pytest.py", "pytest/__main__.py", "pytest/__init__.py"])
        );
        assert_eq!(p("!cc -o build/hello hello.c"), v(&["hello.c"]));
        assert_eq!(
            p("!cc --output build/a --out=b/c --html=h/i.html --log-file=l/x --cov-report=xml:c/x.xml x/y.c"),
            v(&["x/y.c"])
        );
        assert_eq!(p("!make 2>&1 | tee -a logs/a.log logs/b.log"), v(&[]));
        assert_eq!(p("!sh tools/r.sh > docs/out.md 2>e/err.log"), v(&["tools/r.sh"]));
        assert_eq!(p("!sh tools/r.sh >>d/o &>d/p >|d/q >& d/r 2>&1 x/y"), v(&["tools/r.sh", "x/y"]));
        assert_eq!(p("!sh -c 'tools/a.sh >o/x' && tools/b.sh>o/y"), v(&["tools/a.sh", "tools/b.sh"]));
        // What the command reads or runs stays code: `<`'s file, a process
        // substitution's command, other options' values, `-O`'s next word.
        assert_eq!(p("!sh < tools/in.sh"), v(&["tools/in.sh"]));
        assert_eq!(p("!diff a/x >(tools/f)"), v(&["a/x", "tools/f"]));
        // (Node's script with the names it tries for it: `super::interpreted`.)
        let node = p("!node --require ./hook.js app.js");
        assert!(node.contains(&PathBuf::from("./hook.js")) && node.contains(&PathBuf::from("app.js")), "{node:?}");
        assert_eq!(p("!make -f mk/x.mk"), v(&["mk/x.mk"]));
        assert_eq!(p("!perl -O tools/x.pl"), v(&["tools/x.pl"]));
        assert_eq!(p("!cc -o build/x tools/gen.c && build/x"), v(&["tools/gen.c", "build/x"]));
    }

    #[test]
    fn only_a_directory_may_be_where_a_word_absent_would_be_code() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("tools/gen")).unwrap();
        std::fs::create_dir_all(d.path().join("build")).unwrap();
        std::fs::write(d.path().join("tools/x.sh"), "x").unwrap();
        std::os::unix::fs::symlink("gen", d.path().join("tools/link")).unwrap();
        let named = |w: &str, kind| Named { path: PathBuf::from(w), kind };
        let only_dir = |w: &str, kind| named(w, kind).is_dir_only_at(&d.path().join(w));
        // Review 82, F2: a directory where the word, absent, would be code.
        assert!(only_dir("tools/gen", Kind::Path), "a directory an earlier task made");
        assert!(only_dir("tools/link", Kind::Path), "a link to a directory");
        assert!(only_dir("tools/new", Kind::Path), "absent");
        assert!(!only_dir("tools/x.sh", Kind::Path), "a file is code");
        assert!(!only_dir("build", Kind::Bare), "absent or a directory, `make -C build` is none");
        assert!(only_dir("conv.py", Kind::Bare));
        assert!(!only_dir("tools/gen", Kind::HooksDir), "a hooks directory is code whatever is there");
    }

    #[test]
    fn a_bare_argument_is_code_where_it_is_no_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("build")).unwrap();
        std::fs::write(d.path().join("lint"), "x").unwrap();
        let bare = |w: &str| Named { path: PathBuf::from(w), kind: Kind::Bare };
        assert!(!bare("build").is_code_at(&d.path().join("build")), "a directory a build writes to");
        assert!(bare("lint").is_code_at(&d.path().join("lint")));
        assert!(bare("conv.py").is_code_at(&d.path().join("conv.py")), "absent, named like a file");
        assert!(!bare("test").is_code_at(&d.path().join("test")), "absent, no file's name (make test)");
        // Review 79, F5: a word with a `/` is none where it is a directory;
        // a hooks directory is code whatever is there.
        std::fs::create_dir_all(d.path().join("src/lib")).unwrap();
        std::fs::write(d.path().join("src/x.sh"), "x").unwrap();
        let path = |w: &str| Named { path: PathBuf::from(w), kind: Kind::Path };
        assert!(!path("src/lib").is_code_at(&d.path().join("src/lib")), "a directory given to a program");
        assert!(path("src/x.sh").is_code_at(&d.path().join("src/x.sh")));
        assert!(path("src/gen").is_code_at(&d.path().join("src/gen")), "absent, with a `/`");
        let hooks = Named { path: PathBuf::from("build"), kind: Kind::HooksDir };
        assert!(hooks.is_code_at(&d.path().join("build")));
    }

    #[test]
    fn settings_the_environment_gives_are_read_like_the_host_s_files() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| std::ffi::OsString::from(v))
        };
        let s = env_settings(&env(&[
            ("GIT_CONFIG_COUNT", "2"),
            ("GIT_CONFIG_KEY_0", "core.hooksPath"),
            ("GIT_CONFIG_VALUE_0", ".githooks"),
            ("GIT_CONFIG_KEY_1", "diff.Py.textconv"),
            ("GIT_CONFIG_VALUE_1", "python3 conv.py"),
            ("GIT_CONFIG_PARAMETERS", "'alias.x=!sh a.sh' 'core.fsmonitor'='tools/w'\\''x' 'x.y'"),
        ]));
        let want = [
            ("alias", "x", "!sh a.sh"),
            ("core", "fsmonitor", "tools/w'x"),
            ("x", "y", ""),
            ("core", "hookspath", ".githooks"),
            ("diff", "textconv", "python3 conv.py"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(s, want);
        let h = host_code(&env(&[
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/nonexistent/g"),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "core.hooksPath"),
            ("GIT_CONFIG_VALUE_0", ".githooks"),
        ]));
        assert_eq!(h.paths, [Named { path: PathBuf::from(".githooks"), kind: Kind::HooksDir }]);
    }

    #[test]
    fn host_files_follow_git_s_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| std::ffi::OsString::from(v))
        };
        let v = host_files(&env(&[("HOME", "/h")]));
        assert_eq!(v, ["/etc/gitconfig", "/h/.config/git/config", "/h/.gitconfig"].map(PathBuf::from));
        let v = host_files(&env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x"), ("GIT_CONFIG_NOSYSTEM", "1")]));
        assert_eq!(v, ["/x/git/config", "/h/.gitconfig"].map(PathBuf::from));
        let v = host_files(&env(&[("HOME", "/h"), ("GIT_CONFIG_GLOBAL", "/g"), ("GIT_CONFIG_SYSTEM", "/s")]));
        assert_eq!(v, ["/s", "/g"].map(PathBuf::from));
    }

    #[test]
    fn includes_are_followed_and_loops_end() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.cfg");
        std::fs::write(&a, "[include]\n\tpath = b.cfg\n[core]\n\thooksPath = .githooks\n").unwrap();
        std::fs::write(
            d.path().join("b.cfg"),
            "[includeIf \"gitdir:/nowhere/\"]\n\tpath = a.cfg\n[diff \"x\"]\n\ttextconv = tools/conv\n",
        )
        .unwrap();
        let paths = |r: &Included| {
            let s = r.configs.iter().flat_map(|c| c.settings.iter());
            let mut v = Vec::new();
            for p in s.flat_map(|(s, k, v)| program_paths(s, k, v)).map(|n| n.path) {
                if !v.contains(&p) {
                    v.push(p);
                }
            }
            v
        };
        let r = read_with_includes(std::slice::from_ref(&a));
        assert_eq!(paths(&r), [".githooks", "tools/conv"].map(PathBuf::from));
        assert_eq!(r.configs.iter().map(|c| c.file.clone()).collect::<Vec<_>>(), [a.clone(), d.path().join("b.cfg")]);
        assert_eq!(r.included, [d.path().join("b.cfg")]);
        // A linked `~/.gitconfig` (a dotfile manager's) is read through its link.
        std::os::unix::fs::symlink(&a, d.path().join("linked")).unwrap();
        assert_eq!(
            paths(&read_with_includes(&[d.path().join("linked")])),
            [".githooks", "tools/conv"].map(PathBuf::from)
        );
        // Relative to the including file as named (git joins, the kernel resolves).
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/c.cfg"), "[include]\n\tpath = ../b.cfg\n").unwrap();
        std::fs::write(d.path().join("top.cfg"), "[include]\n\tpath = sub/c.cfg\n").unwrap();
        let r = read_with_includes(&[d.path().join("top.cfg")]);
        assert_eq!(r.included, ["sub/c.cfg", "sub/../b.cfg", "sub/../a.cfg"].map(|f| d.path().join(f)));
        assert_eq!(paths(&r), ["tools/conv", ".githooks"].map(PathBuf::from));
    }

    #[test]
    fn an_include_git_s_c_gives_is_a_config_and_what_it_names_is_code() {
        // Review 86, F8: the file, what it includes, and their commands.
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.cfg"), d.path().join("b.cfg"));
        std::fs::write(
            &a,
            "[include]
	path = b.cfg
[core]
	fsmonitor = tools/fsmon.sh
",
        )
        .unwrap();
        std::fs::write(
            &b,
            "[log]
	decorate = short
",
        )
        .unwrap();
        for alias in [
            format!("!git -c include.path={} status", a.display()),
            format!("-c includeIf.onbranch:main.path={} status", a.display()),
            format!("!git clone -c include.path={} ../x y", a.display()),
        ] {
            let p = program_paths("alias", "a", &alias);
            for want in [a.clone(), b.clone(), PathBuf::from("tools/fsmon.sh")] {
                assert!(p.iter().any(|n| n.path == want && n.kind == Kind::Path), "{alias}: {want:?} not in {p:?}");
            }
        }
        // A relative include on the command line is none (git refuses it),
        // and other settings name no file.
        assert!(program_paths("alias", "a", "-c include.path=a.cfg -c color.ui=auto status").is_empty());
    }

    #[test]
    fn a_word_naming_the_top_through_the_shell_is_read_from_the_top() {
        // Review 88, F3: every word, through the one normaliser
        // (`expansion::at_top`); the same file, spelled any way.
        let p = alias_paths_without_stand_ins;
        for alias in [
            "!sh $PWD/tools/lint.sh",
            "!${PWD}/tools/lint.sh",
            "!bash -c \"~+/tools/lint.sh\"",
            "!sh \"$(git rev-parse --show-toplevel)/tools/lint.sh\"",
            "!sh $(pwd)/tools/lint.sh",
            "!sh `pwd`/tools/lint.sh",
            "!sh `git rev-parse --show-toplevel`/tools/lint.sh",
            "!X=$PWD && sh $X/tools/lint.sh",
            "!env -C $PWD/tools ./lint.sh",
            "!python3 $PWD/tools/lint.sh",
            "!make -f $PWD/tools/lint.sh",
        ] {
            let got = p(alias);
            assert!(got.contains(&PathBuf::from("./tools/lint.sh")), "{alias}: {got:?}");
        }
        let kinds = program_paths("alias", "x", "!git -c core.hooksPath=$PWD/.githooks commit");
        // Read as the shell gives it, and as written (git reads a config's
        // value so; review 89, F4).
        assert_eq!(
            kinds,
            [
                Named { path: PathBuf::from("$PWD/.githooks"), kind: Kind::HooksDir },
                Named { path: PathBuf::from("./.githooks"), kind: Kind::HooksDir }
            ]
        );
        // Bare after the top is a path (`$PWD/lint.sh`), not a name from PATH.
        assert_eq!(p("!$PWD/lint.sh"), v_of(&["$PWD/lint.sh", "./lint.sh"]));
        // Words that name no file.
        for alias in ["!echo $PWD", "!git log -1 --format=$X", "log --format=$X", "!cd $PWD && make", "!echo `pwd`"] {
            assert_eq!(p(alias), v_of(&[]), "{alias}");
        }
    }

    #[test]
    fn a_word_ending_in_an_unknown_expansion_names_its_stem_open() {
        // Review 90, H2: the directory and stem before the expansion name,
        // open, every path below them (`expansion::pattern`).
        let pat = |p: &str| Named { path: PathBuf::from(p), kind: Kind::Pattern { dir: false, anchored: true } };
        for (setting, key, value, want) in [
            ("alias", "x", "!sh ./tools/lint$EXT", "tools/lint*/**"),
            ("alias", "x", "!sh ./tools/lint.$(uname)", "tools/lint.*/**"),
            ("alias", "x", "!sh tools/$(echo lint.sh)", "tools/*/**"),
            ("alias", "x", "!./tools/lint$EXT", "tools/lint*/**"),
            ("core", "fsmonitor", "sh ./tools/fsm$EXT", "tools/fsm*/**"),
            // A word read as a path without a `/`: a script given to `sh`.
            ("alias", "x", "!sh lint$EXT", "lint*/**"),
        ] {
            let named = program_paths(setting, key, value);
            assert!(named.contains(&pat(want)), "{value}: {want} not in {named:?}");
        }
        // A program found on PATH, an option's bare expansion: none.
        for alias in ["!lint$EXT", "!git lint$X", "!sh $X", "!make --jobs=$N"] {
            let named = program_paths("alias", "x", alias);
            assert!(named.iter().all(|n| !matches!(n.kind, Kind::Pattern { .. })), "{alias}: {named:?}");
        }
    }

    #[test]
    fn a_config_an_alias_s_assignment_or_pwd_include_names_is_read_at_the_top() {
        // Review 87, F2, F3: the file (absent too) is code, and what it and
        // its includes name, read where the work tree is.
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(top.path().join("tools")).unwrap();
        std::fs::write(
            top.path().join("tools/g.cfg"),
            "[include]\n\tpath = b.cfg\n[core]\n\tsshCommand = tools/ssh.sh\n",
        )
        .unwrap();
        std::fs::write(top.path().join("tools/b.cfg"), "[core]\n\thooksPath = .hooks\n").unwrap();
        let config = |p: &str| Named { path: PathBuf::from(p), kind: Kind::Config };
        for (alias, file) in [
            ("!GIT_CONFIG_GLOBAL=tools/g.cfg git fetch", "tools/g.cfg"),
            ("!env GIT_CONFIG_SYSTEM=tools/g.cfg git fetch", "tools/g.cfg"),
            ("!git -c include.path=$PWD/tools/g.cfg fetch", "./tools/g.cfg"),
            ("!git -c include.path=${PWD}/tools/g.cfg fetch", "./tools/g.cfg"),
            // Review 88, F3: every spelling of the top, in every place.
            ("!git -c include.path=\"$(pwd)\"/tools/g.cfg fetch", "./tools/g.cfg"),
            ("!GIT_CONFIG_GLOBAL=$PWD/tools/g.cfg git fetch", "./tools/g.cfg"),
            ("!env GIT_CONFIG_SYSTEM=~+/tools/g.cfg git fetch", "./tools/g.cfg"),
            ("!HOME=$PWD git fetch", "./.gitconfig"),
            ("!HOME=`pwd`/tools git fetch", "./tools/.gitconfig"),
            ("!XDG_CONFIG_HOME=$(git rev-parse --show-toplevel)/cfg git fetch", "./cfg/git/config"),
            // Another expansion before a `/`: from the top (fail closed).
            ("!git -c include.path=$X/tools/g.cfg fetch", "./tools/g.cfg"),
            ("!HOME=tools git fetch", "tools/.gitconfig"),
            ("!HOME=tools/ git fetch", "tools/.config/git/config"),
            ("!XDG_CONFIG_HOME=cfg git fetch", "cfg/git/config"),
        ] {
            let named = program_paths("alias", "a", alias);
            assert!(named.contains(&config(file)), "{alias}: {file} not in {named:?}");
            let all = with_mains(named, top.path());
            if file.ends_with("tools/g.cfg") {
                for want in [
                    Named { path: PathBuf::from("tools/ssh.sh"), kind: Kind::Path },
                    Named { path: top.path().join("tools/b.cfg"), kind: Kind::Path },
                    Named { path: PathBuf::from(".hooks"), kind: Kind::HooksDir },
                ] {
                    assert!(all.contains(&want), "{alias}: {want:?} not in {all:?}");
                }
            }
        }
        // Absent, it is code (against its creation); a directory there is not.
        assert!(config("tools/none.cfg").is_code_at(&top.path().join("tools/none.cfg")));
        assert!(!config("tools").is_code_at(&top.path().join("tools")));
        // A value the shell expands names none.
        for alias in ["!HOME=$X git fetch", "!GIT_CONFIG_GLOBAL=$F git fetch", "!git -c include.path=$X fetch"] {
            assert!(program_paths("alias", "a", alias).iter().all(|n| n.kind != Kind::Config), "{alias}");
        }
    }
}
