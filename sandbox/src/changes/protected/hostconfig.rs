//! What the host's own git configuration makes code in *every* work tree
//! (review 76, F2). Git resolves a relative `core.hooksPath` from the work
//! tree it runs in, and runs a command whose program is a relative path
//! (`core.fsmonitor = tools/watch`, `[diff "x"] textconv = ./bin/conv`, an
//! alias `!scripts/x`) from there too — whichever file set it: the
//! repository's config, or the user's global or system one. In a workspace
//! those are files a task can write, so they are protected like hooks.
//!
//! - [`program_paths`] answers, for one setting, the path it makes code (a
//!   hooks directory, or a command's program and the files it is given;
//!   relative ones from the work tree).
//! - [`host`] reads the host's system and global files once per process
//!   (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_SYSTEM`, `GIT_CONFIG_GLOBAL`,
//!   `XDG_CONFIG_HOME` and `HOME` as git honours them), following
//!   `include.path` and every `includeIf.*.path` whatever its condition (a
//!   wider reading only protects more), at most [`MAX_DEPTH`] deep. It
//!   returns those paths and the files read (an included file inside the
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

/// What the host's git configuration makes code in every work tree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostCode {
    /// Hooks directories and programs: relative ones from a work tree's
    /// top, absolute ones where they are.
    pub paths: Vec<PathBuf>,
    /// The config files read (absolute, as named).
    pub files: Vec<PathBuf>,
}

/// The host's git configuration's [`HostCode`], read once.
pub fn host() -> &'static HostCode {
    static HOST: OnceLock<HostCode> = OnceLock::new();
    HOST.get_or_init(|| read_files(&host_files(&|k| std::env::var_os(k))))
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

/// Read `files` and what they include.
fn read_files(files: &[PathBuf]) -> HostCode {
    let mut out = HostCode::default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut todo: Vec<(PathBuf, usize)> = files.iter().rev().map(|f| (f.clone(), 0)).collect();
    while let Some((file, depth)) = todo.pop() {
        if depth > MAX_DEPTH || out.files.contains(&file) {
            continue;
        }
        let Some(text) = read_followed(&file) else { continue };
        out.files.push(file.clone());
        let dir = file.parent().unwrap_or(Path::new("/"));
        for (section, key, value) in super::submodules::settings(&text) {
            if (section == "include" || section == "includeif") && key == "path" && !value.is_empty() {
                let p = match (value.strip_prefix("~/"), &home) {
                    (Some(rest), Some(h)) => h.join(rest),
                    (Some(_), None) => continue,
                    (None, _) => dir.join(&value),
                };
                todo.push((p, depth + 1));
            } else {
                for p in program_paths(&section, &key, &value) {
                    if !out.paths.contains(&p) {
                        out.paths.push(p);
                    }
                }
            }
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
/// for a setting git runs as a command, every word of it (split as the
/// shell splits it) that is a path with a `/` in it, the program and the
/// files it is given alike (`python3 tools/conv.py`); a bare name is
/// looked up in `PATH`, an option (`-x`) or a word the shell expands (`$`,
/// `` ` ``, `%` placeholders git fills) is none. A relative path is from
/// the work tree's top; `~` paths are left out (never in a workspace a task
/// is given by them).
pub fn program_paths(section: &str, key: &str, value: &str) -> Vec<PathBuf> {
    let value = value.trim();
    if section == "core" && key == "hookspath" {
        return path_of(value).into_iter().collect();
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
    shell_words(command)
        .into_iter()
        .filter(|w| w.contains('/') && !w.starts_with('-') && !w.contains(['$', '`', '%']))
        .filter_map(|w| path_of(&w))
        .collect()
}

/// `command` split into words as the shell splits it: blanks separate
/// words; single quotes keep everything; double quotes keep all but `\`
/// before `"`, `\\`, `$` and `` ` ``; a backslash outside quotes keeps the
/// next character. Operators (`;`, `|`, `&`, `(`…) end a word too.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | ';' | '|' | '&' | '(' | ')' | '<' | '>' => words.extend(word.take()),
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
    words.extend(word);
    words
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
        let p = |s: &str, k: &str, v: &str| program_paths(s, k, v);
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
        let h = read_files(std::slice::from_ref(&a));
        assert_eq!(h.paths, [".githooks", "tools/conv"].map(PathBuf::from));
        assert_eq!(h.files, [a.clone(), d.path().join("b.cfg")]);
        // A linked `~/.gitconfig` (a dotfile manager's) is read through its link.
        std::os::unix::fs::symlink(&a, d.path().join("linked")).unwrap();
        assert_eq!(read_files(&[d.path().join("linked")]).paths, [".githooks", "tools/conv"].map(PathBuf::from));
    }
}
