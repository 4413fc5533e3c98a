//! What the host's own git configuration makes code in *every* work tree
//! (review 76, F2). Git resolves a relative `core.hooksPath` from the work
//! tree it runs in, and runs a command whose program is a relative path
//! (`core.fsmonitor = tools/watch`, `[diff "x"] textconv = ./bin/conv`, an
//! alias `!scripts/x`) from there too — whichever file set it: the
//! repository's config, or the user's global or system one. In a workspace
//! those are files a task can write, so they are protected like hooks.
//!
//! - [`program_paths`] answers, for one setting, the paths it makes code (a
//!   hooks directory, or a command's program and the words it is given;
//!   relative ones from the work tree; a word without a `/` is a
//!   [`Named::bare`] path, code only where it is no directory).
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
//! git writes them, not adversarially. Residual (SECURITY.md §5.3): a
//! workspace file a command reaches through shell code (`$VAR/x`, a
//! function, `cd tools && ./x`) is not recognised.

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The path as the setting names it.
    pub path: PathBuf,
    /// A command's argument without a `/` (`python3 conv.py`): code only
    /// where it is no directory ([`Named::is_code_at`]).
    pub bare: bool,
}

impl Named {
    /// Whether the path, found at `at`, is code: always, unless it is a
    /// bare argument (review 78, F2), which is code where it is a file (or
    /// anything but a directory), or, absent, when it is named like a file
    /// (`conv.py`). A bare word naming a directory (`npm run build`, `make
    /// -C src`) or an absent word without a dot (`make test`) is none: a
    /// build writes there, and reading it as code would make it exit 4.
    pub fn is_code_at(&self, at: &Path) -> bool {
        if !self.bare {
            return true;
        }
        match std::fs::metadata(at) {
            Ok(m) => !m.is_dir(),
            Err(_) => self.path.to_str().is_some_and(|w| w.trim_start_matches('.').contains('.')),
        }
    }
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
    let settings = read.configs.iter().flat_map(|c| c.settings.iter()).chain(given.iter());
    for (section, key, value) in settings {
        for p in program_paths(section, key, value) {
            if !out.paths.contains(&p) {
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
        .filter_map(|(k, v)| {
            let (section, rest) = k.split_once('.')?;
            let key = rest.rsplit('.').next().unwrap_or(rest);
            Some((section.to_ascii_lowercase(), key.to_ascii_lowercase(), v))
        })
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
/// lowercase, subsection dropped) makes code: its `core.hooksPath`, or,
/// for a setting git runs as a command, the program of each command in it
/// when it has a `/` (a bare name is looked up in `PATH`) and every word
/// given to a program (split as the shell splits it): with a `/` it is a
/// path (`python3 tools/conv.py`); without one it is a [`Named::bare`]
/// path (`python3 conv.py`, `!sh lint.sh`: review 78, F2), except after
/// `git` or a `git-*` program (subcommands, not files: `git lfs
/// filter-process`). An option (`-x`), an assignment before the program
/// (`LC_ALL=C`), `.`/`..`, or a word the shell expands (`$`, `` ` ``, `%`
/// placeholders git fills) is none. A relative path is from the work
/// tree's top; `~` paths are left out (never in a workspace a task is
/// given by them).
pub fn program_paths(section: &str, key: &str, value: &str) -> Vec<Named> {
    let value = value.trim();
    if section == "core" && key == "hookspath" {
        return path_of(value).map(|path| Named { path, bare: false }).into_iter().collect();
    }
    let command = match (section, key) {
        // A boolean, or the hook's program.
        ("core", "fsmonitor") if is_bool(value) => return Vec::new(),
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
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    // Per command: whether its program is git's (its words are no files).
    let mut git_program = false;
    for (w, role) in shell_words(command) {
        if w.starts_with('-') || w.contains(['$', '`', '%']) || w == "." || w == ".." {
            continue;
        }
        let bare = !w.contains('/');
        match role {
            Role::Program => {
                let name = w.rsplit('/').next().unwrap_or(&w);
                git_program = name == "git" || name.starts_with("git-");
                if bare {
                    continue;
                }
            }
            Role::Argument if bare && git_program => continue,
            Role::Argument => {}
        }
        if let Some(path) = path_of(&w) {
            out.push(Named { path, bare });
        }
    }
    out
}

/// Where a word stands in its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The command's program.
    Program,
    /// Given to the program (or a redirection's file).
    Argument,
}

/// `command` split into words as the shell splits it, each with its
/// [`Role`]: blanks separate words; single quotes keep everything; double
/// quotes keep all but `\` before `"`, `\\`, `$` and `` ` ``; a backslash
/// outside quotes keeps the next character. Operators (`;`, `|`, `&`,
/// `(`…) end a word too, and all but redirections (`<`, `>`) start a new
/// command. Reserved words (`{`, `if`, `then`…) and assignments
/// (`NAME=value`) before a program are left out.
fn shell_words(command: &str) -> Vec<(String, Role)> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut program_next = true;
    let end = |word: &mut Option<String>, program_next: &mut bool, words: &mut Vec<(String, Role)>| {
        let Some(w) = word.take() else { return };
        if !*program_next {
            words.push((w, Role::Argument));
        } else if !is_reserved(&w) && !is_assignment(&w) {
            words.push((w, Role::Program));
            *program_next = false;
        }
    };
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '<' | '>' => end(&mut word, &mut program_next, &mut words),
            ';' | '|' | '&' | '(' | ')' => {
                end(&mut word, &mut program_next, &mut words);
                program_next = true;
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
                        q => w.push(q),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end(&mut word, &mut program_next, &mut words);
    words
}

/// Whether the shell reads `w` before a program as a reserved word.
fn is_reserved(w: &str) -> bool {
    matches!(w, "{" | "}" | "!" | "if" | "then" | "else" | "elif" | "fi" | "do" | "done" | "while" | "until" | "time")
}

/// Whether `w` is an assignment (`NAME=value`) before a program.
fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(n, _)| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `value` as a path (not `~`), if it is one.
fn path_of(value: &str) -> Option<PathBuf> {
    (!value.is_empty() && !value.starts_with('~')).then(|| PathBuf::from(value))
}

/// Whether git reads `value` as a boolean.
fn is_bool(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "" | "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_hooks_paths_and_programs_are_code_and_the_rest_is_not() {
        let p = |s: &str, k: &str, v: &str| program_paths(s, k, v).into_iter().map(|n| n.path).collect::<Vec<_>>();
        let v = |paths: &[&str]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(p("core", "hookspath", ".githooks"), v(&[".githooks"]));
        assert_eq!(p("core", "hookspath", "/etc/hooks"), v(&["/etc/hooks"]));
        assert_eq!(p("core", "hookspath", "~/hooks"), v(&[]));
        assert_eq!(p("core", "fsmonitor", "true"), v(&[]));
        assert_eq!(p("core", "fsmonitor", "tools/watch --fast"), v(&["tools/watch"]));
        assert_eq!(p("diff", "textconv", "./bin/conv"), v(&["./bin/conv"]));
        assert_eq!(p("filter", "clean", "LC_ALL=C \"scripts/clean\" %f"), v(&["scripts/clean"]));
        assert_eq!(p("alias", "t", "!scripts/t.sh"), v(&["scripts/t.sh"]));
        assert_eq!(p("alias", "st", "status"), v(&[]));
        assert_eq!(p("core", "pager", "less -R"), v(&[]));
        assert_eq!(p("gpg", "program", "/usr/bin/gpg2"), v(&["/usr/bin/gpg2"]));
        assert_eq!(p("gpg", "program", "gpg2"), v(&[]));
        assert_eq!(p("user", "name", "a/b"), v(&[]));
        // Review 77, B2: more keys that run programs, arguments, quoting.
        assert_eq!(p("difftool", "cmd", "tools/dt \"$LOCAL\" \"$REMOTE\""), v(&["tools/dt"]));
        assert_eq!(p("diff", "textconv", "python3 tools/conv.py --x=1"), v(&["tools/conv.py"]));
        assert_eq!(p("diff", "textconv", "'my tools/conv' -v"), v(&["my tools/conv"]));
        assert_eq!(p("diff", "textconv", "my\\ tools/conv"), v(&["my tools/conv"]));
        assert_eq!(p("remote", "uploadpack", "./up"), v(&["./up"]));
        assert_eq!(p("submodule", "update", "!./upd.sh"), v(&["./upd.sh"]));
        assert_eq!(p("submodule", "update", "checkout"), v(&[]));
        assert_eq!(p("trailer", "cmd", "bin/t;x/y"), v(&["bin/t", "x/y"]));
        assert_eq!(p("gpg", "defaultkeycommand", "k/cmd"), v(&["k/cmd"]));
        assert_eq!(p("difftool", "cmd", "$HOME/x/dt"), v(&[]));
        // Review 78, F2: a program's words without a `/` are (bare) paths too.
        assert_eq!(p("diff", "textconv", "python3 conv.py"), v(&["conv.py"]));
        assert_eq!(p("alias", "lint", "!sh lint.sh && f() { cd .; sh -e x; }; f"), v(&["lint.sh", "x"]));
        assert_eq!(p("filter", "clean", "LC_ALL=C sort -u %f > out.txt"), v(&["out.txt"]));
        assert_eq!(p("core", "sshcommand", "ssh -i ~/.ssh/k"), v(&[]));
        assert_eq!(p("filter", "process", "git-lfs filter-process"), v(&[]));
        assert_eq!(p("alias", "l", "!git log --oneline && git -C sub/x status"), v(&["sub/x"]));
        assert_eq!(p("credential", "helper", "cache --timeout=3600"), v(&[]));
        let bare = program_paths("diff", "textconv", "python3 conv.py ./x");
        assert_eq!(bare.iter().map(|n| n.bare).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn a_bare_argument_is_code_where_it_is_no_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("build")).unwrap();
        std::fs::write(d.path().join("lint"), "x").unwrap();
        let bare = |w: &str| Named { path: PathBuf::from(w), bare: true };
        assert!(!bare("build").is_code_at(&d.path().join("build")), "a directory a build writes to");
        assert!(bare("lint").is_code_at(&d.path().join("lint")));
        assert!(bare("conv.py").is_code_at(&d.path().join("conv.py")), "absent, named like a file");
        assert!(!bare("test").is_code_at(&d.path().join("test")), "absent, no file's name (make test)");
        let path = Named { path: PathBuf::from("build"), bare: false };
        assert!(path.is_code_at(&d.path().join("build")));
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
        assert_eq!(h.paths, [Named { path: PathBuf::from(".githooks"), bare: false }]);
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
}
