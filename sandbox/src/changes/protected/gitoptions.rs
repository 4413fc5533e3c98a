//! The settings git's own global options give the command they start
//! (review 82, F4), for [`super::hostconfig`]'s command reader: `git -c
//! core.fsmonitor=tools/fsmon.sh status`, `git --config-env=KEY=VAR`, and
//! an alias without `!` whose expansion starts with them (`st = -c
//! core.fsmonitor=tools/fsmon.sh status`: git reads those words as its
//! own options). [`global_options`] answers what they set, as
//! `(section, key, value)` in the form the config files give, and where the
//! subcommand starts: the caller reads each setting as a config file's
//! ([`super::hostconfig::program_paths`]' one list of command keys), so a
//! command a key names is protected whichever way it was set.
//!
//! `--config-env`'s value is the variable's as this process sees it (the
//! host's environment when the task starts); an unset one sets nothing.
//!
//! [`subcommand_runs`] answers what the subcommand after them runs as a
//! command of its own: `rebase -x`/`--exec`'s and `difftool
//! -x`/`--extcmd`'s command lines, `filter-branch`'s filters, the
//! `--upload-pack`/`--receive-pack`/`--exec` programs of the transport
//! commands (run through the shell for a local repository), `submodule
//! foreach`'s command and `bisect run`'s; the caller reads each as any
//! command line or command is read.

use super::wrappers::{Spec, Wrapped, getopt};

/// git's global options that take the next word as their value (or, but
/// for `-c`/`-C`, the rest after `=`).
const VALUED: &[&str] = &["-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--attr-source"];

/// What git's global options at the start of `args` set.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct GlobalOptions {
    /// The settings `-c` and `--config-env` give: `(section, key, value)`,
    /// section and key lowercase (the key's last part, as config files
    /// give it: `diff.x.textconv` is `("diff", "textconv")`).
    pub(super) settings: Vec<(String, String, String)>,
    /// The index in `args` where the subcommand starts (past the options).
    pub(super) rest: usize,
    /// The indexes of the words that are `-c`'s or `--config-env`'s values
    /// (read as settings, not as words given to git).
    pub(super) values: Vec<usize>,
}

/// What git's global options at the start of `args` (the words after
/// `git`, or an alias's expansion) set, and where they end; `var` gives
/// an environment variable's value (`--config-env`).
pub(super) fn global_options(args: &[String], var: &dyn Fn(&str) -> Option<String>) -> GlobalOptions {
    let mut out = GlobalOptions::default();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        let given = match a.as_str() {
            "-c" => {
                out.values.push(i);
                i += 1;
                args.get(i - 1).and_then(|kv| setting(kv))
            }
            "--config-env" => {
                out.values.push(i);
                i += 1;
                args.get(i - 1).and_then(|kv| from_env(kv, var))
            }
            _ if a.starts_with("--config-env=") => from_env(a.trim_start_matches("--config-env="), var),
            "--" => break,
            _ if VALUED.contains(&a.as_str()) => {
                i += 1;
                None
            }
            _ if a.starts_with('-') => None,
            _ => {
                i -= 1;
                break;
            }
        };
        out.settings.extend(given);
    }
    out.rest = i.min(args.len());
    out
}

/// `KEY=VALUE` (`-c`) as a setting; `-c KEY` alone is `KEY = true`, no
/// command.
fn setting(kv: &str) -> Option<(String, String, String)> {
    let (k, v) = kv.split_once('=')?;
    split_key(k).map(|(s, k)| (s, k, v.to_string()))
}

/// `KEY=VARIABLE` (`--config-env`) as a setting, with the variable's value.
fn from_env(kv: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<(String, String, String)> {
    let (k, name) = kv.split_once('=')?;
    let v = var(name)?;
    split_key(k).map(|(s, k)| (s, k, v))
}

/// A config key `section[.subsection].key` as `(section, key)`,
/// lowercase, as the config files give them.
pub(super) fn split_key(k: &str) -> Option<(String, String)> {
    let (section, rest) = k.split_once('.')?;
    let key = rest.rsplit('.').next().unwrap_or(rest);
    (!section.is_empty() && !key.is_empty()).then(|| (section.to_ascii_lowercase(), key.to_ascii_lowercase()))
}

/// The options, by subcommand, whose value is a command line git runs
/// (long names; the short letter that is one too), and the subcommand's
/// other short options that take a value.
const RUNS: &[(&str, &[&str], &str, &str)] = &[
    ("rebase", &["exec"], "x", "sXCx"),
    ("difftool", &["extcmd"], "x", "tx"),
    (
        "filter-branch",
        &[
            "setup",
            "env-filter",
            "tree-filter",
            "index-filter",
            "parent-filter",
            "msg-filter",
            "commit-filter",
            "tag-name-filter",
        ],
        "",
        "d",
    ),
    ("fetch", &["upload-pack"], "", ""),
    ("pull", &["upload-pack"], "", ""),
    ("clone", &["upload-pack"], "u", "uobc"),
    ("ls-remote", &["upload-pack"], "", ""),
    ("fetch-pack", &["upload-pack", "exec"], "", ""),
    ("archive", &["exec"], "", "o"),
    ("push", &["receive-pack", "exec"], "", "o"),
    ("send-pack", &["receive-pack", "exec"], "", ""),
];

/// What the git subcommand `args[0]` (with its words `args[1..]`) runs
/// as a command of its own (see the module doc), and the indexes in `args`
/// of the words that give it (read so, not as words given to git).
pub(super) fn subcommand_runs(args: &[String]) -> (Vec<Wrapped<'_>>, Vec<usize>) {
    let mut runs = Vec::new();
    let mut used = Vec::new();
    let Some(sub) = args.first() else { return (runs, used) };
    match sub.as_str() {
        // `git submodule [options] foreach [--recursive] [-q] command…`:
        // one word is a command line, more a command.
        "submodule" => {
            let Some(f) = args.iter().position(|a| a == "foreach") else { return (runs, used) };
            let mut i = f + 1;
            while args.get(i).is_some_and(|a| matches!(a.as_str(), "--recursive" | "--quiet" | "-q" | "--")) {
                i += 1;
            }
            let rest = args.get(i..).unwrap_or(&[]);
            match rest {
                [line] => runs.push(Wrapped::Line(line.clone())),
                _ => runs.push(Wrapped::Command(rest)),
            }
            used.extend(i..args.len());
        }
        // `git bisect run command…`.
        "bisect" if args.get(1).is_some_and(|a| a == "run") => {
            runs.push(Wrapped::Command(args.get(2..).unwrap_or(&[])));
            used.extend(2..args.len());
        }
        name => {
            let Some((_, long, short, valued)) = RUNS.iter().find(|(n, ..)| *n == name) else { return (runs, used) };
            let spec = Spec { valued, optional: "S", long, long_optional: &[], permute: true };
            let (opts, _) = getopt(args, 1, &spec);
            for o in opts {
                let ours = long.contains(&o.name.as_str()) || (o.name.len() == 1 && short.contains(o.name.as_str()));
                if let (true, Some(v)) = (ours, o.value) {
                    runs.push(Wrapped::Line(v.to_string()));
                    used.push(o.at);
                    used.extend(o.value_at);
                }
            }
        }
    }
    (runs, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn set(s: &str, k: &str, v: &str) -> (String, String, String) {
        (s.into(), k.into(), v.into())
    }

    #[test]
    fn c_and_config_env_set_what_a_config_file_would() {
        let none = |_: &str| None;
        let o = global_options(&words("-c core.fsmonitor=tools/fsmon.sh status"), &none);
        assert_eq!(o.settings, vec![set("core", "fsmonitor", "tools/fsmon.sh")]);
        assert_eq!(o.rest, 2);
        assert_eq!(o.values, vec![1]);
        let o = global_options(&words("--no-pager -C sub -c Diff.X.textConv=bin/conv -c color.ui log -p"), &none);
        assert_eq!(o.settings, vec![set("diff", "textconv", "bin/conv")]);
        assert_eq!(o.rest, 7);
        let env = |k: &str| (k == "MON").then(|| "tools/m.sh".to_string());
        let o = global_options(&words("--config-env=core.fsmonitor=MON --config-env core.pager=UNSET st"), &env);
        assert_eq!(o.settings, vec![set("core", "fsmonitor", "tools/m.sh")]);
        assert_eq!(o.rest, 3);
        // Options after the subcommand are the subcommand's.
        let o = global_options(&words("log -c x.y=z"), &none);
        assert!(o.settings.is_empty());
        assert_eq!(o.rest, 0);
        assert_eq!(global_options(&words("-c"), &none).rest, 1);
        assert_eq!(split_key("nodot"), None);
    }

    use super::super::hostconfig::alias_path_strings as paths;

    #[test]
    fn a_command_git_s_options_set_in_an_alias_is_code() {
        // Review 82, F4: without `!`, and given to git inside a `!` alias.
        assert_eq!(paths("-c core.fsmonitor=tools/fsmon.sh status"), vec!["tools/fsmon.sh"]);
        let p = paths("!git -c core.fsmonitor=tools/fsmon.sh status");
        assert!(p.contains(&"tools/fsmon.sh".to_string()), "{p:?}");
        assert!(!p.iter().any(|x| x.contains('=')), "{p:?}");
        let p = paths("!git -c 'diff.x.textconv=sh tools/conv.sh' -c \"alias.y=!tools/y.sh\" y");
        for f in ["tools/conv.sh", "tools/y.sh"] {
            assert!(p.contains(&f.to_string()), "{f}: {p:?}");
        }
        let p = paths("-c core.hooksPath=.myhooks commit");
        assert_eq!(p, vec![".myhooks"]);
        // Benign: other settings, and an alias's own words, are no code.
        assert!(paths("-c color.ui=always log --oneline -- src/main.rs").is_empty());
        assert!(paths("log -c x.y=tools/z -- src/main.rs").is_empty());
        assert!(paths("-c core.fsmonitor=false status").is_empty());
    }

    #[test]
    fn a_command_line_a_git_subcommand_runs_is_read() {
        let ok = |alias: &str, want: &[&str]| {
            let p = paths(alias);
            for w in want {
                assert!(p.contains(&w.to_string()), "{alias}: {w} not in {p:?}");
            }
            assert!(!p.iter().any(|x| x.contains(' ')), "{alias}: a command line taken for a path: {p:?}");
        };
        for a in [
            "!git rebase -x 'tools/check.sh --quick' main",
            "!git rebase -i --exec='tools/check.sh --quick' main",
            "!git rebase --exec \"sh -c 'tools/check.sh'\" @~3",
            "!git rebase -ix tools/check.sh main",
            "!git rebase --ex=tools/check.sh",
            "rebase -x 'tools/check.sh --quick' main",
            "-c color.ui=always rebase --onto main -x tools/check.sh",
            "!git difftool -y -x 'tools/check.sh --quick'",
            "!git difftool --extcmd=tools/check.sh",
            "!git submodule foreach 'tools/check.sh --quick'",
            "!git submodule --quiet foreach --recursive tools/check.sh --quick",
            "submodule foreach 'tools/check.sh --quick || :'",
            "!git bisect run tools/check.sh --quick",
            "bisect run sh -c 'tools/check.sh --quick'",
            "!git filter-branch --tree-filter 'tools/check.sh --quick' HEAD",
            "!git fetch --upload-pack='tools/check.sh --quick' ../x",
            "!git clone -u tools/check.sh ../x y",
            "!git push --receive-pack=tools/check.sh ../x",
            "!git -c x.y=z rebase -x 'tools/check.sh --quick'",
            "!sh -c \"git rebase -x 'tools/check.sh --quick'\"",
        ] {
            ok(a, &["tools/check.sh"]);
        }
        // Benign: a subcommand's other words are none.
        assert!(paths("rebase -i main").is_empty());
        assert!(paths("bisect start HEAD v1").is_empty());
        assert!(paths("submodule update --init").is_empty());
        assert!(paths("difftool -t meld").is_empty());
        assert!(paths("log -x").is_empty());
    }
}
