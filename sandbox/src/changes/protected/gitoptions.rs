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
//! `--exec-path=DIR` makes DIR code whole, as `core.hooksPath` does
//! (review 86, F2).
//!
//! `--config-env`'s value is the variable's as this process sees it (the
//! host's environment when the task starts); an unset one sets nothing.
//!
//! [`subcommand_runs`] answers what the subcommand after them runs as a
//! command of its own: `rebase -x`/`--exec`'s and `difftool
//! -x`/`--extcmd`'s command lines, `filter-branch`'s filters, the
//! `--upload-pack`/`--receive-pack`/`--exec` programs of the transport
//! commands (run through the shell for a local repository), `submodule
//! foreach`'s command, `bisect run`'s, `grep -O`'s pager and
//! `send-email`'s `--*-cmd` commands (review 85, F1); the caller reads
//! each as any command line or command is read. It also answers the
//! settings a subcommand's options give: `init`/`clone --template=DIR` is
//! `init.templateDir = DIR` (review 85, F2), and `clone -c`/`--config
//! KEY=VALUE` is read as `-c`'s (review 86, F1).

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
    /// The indexes of the words that are `-c`'s or `--config-env`'s values,
    /// or `--exec-path=DIR` (read as settings, not as words given to git).
    pub(super) values: Vec<usize>,
    /// The directories `--exec-path=DIR` names: git finds its `git-*`
    /// programs there first (a fetch's `git-remote-https`, a commit's
    /// `git maintenance`), so every file there is code (review 86, F2).
    pub(super) code_dirs: Vec<String>,
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
            _ if a.starts_with("--exec-path=") => {
                out.values.push(i - 1);
                out.code_dirs.push(a.trim_start_matches("--exec-path=").to_string());
                None
            }
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

/// How a subcommand's options are read: which of them give a command
/// line git runs, and which a setting.
struct Row {
    /// The subcommand.
    name: &'static str,
    /// Its options, as [`getopt`] reads them (every valued long option
    /// that a command option's name begins with is among them, so that
    /// `send-email --to x` is no abbreviation of `--to-cmd`).
    spec: Spec,
    /// The long options whose value is a command line git runs.
    runs: &'static [&'static str],
    /// The short options that are one too.
    runs_short: &'static str,
    /// Long options whose value is a setting's, `(option, section, key)`
    /// (`--template=DIR` is `init.templateDir`'s: review 85, F2).
    sets: &'static [(&'static str, &'static str, &'static str)],
    /// Options whose value is a setting `KEY=VALUE`, read as `-c`'s
    /// ([`setting`]): a short option's letter or a long one's name
    /// (`clone -c`/`--config`: review 86, F1).
    config: &'static [&'static str],
}

/// A row whose options other than `runs` are read as unknown (no value;
/// `-S[keyid]`, git's signing option, takes only an attached one).
const fn row(name: &'static str, runs: &'static [&'static str], runs_short: &'static str, valued: &'static str) -> Row {
    Row {
        name,
        spec: Spec { valued, optional: "S", long: runs, long_optional: &[], permute: true, perl: false },
        runs,
        runs_short,
        sets: &[],
        config: &[],
    }
}

/// The template option of `init` and `clone`, read as the setting.
const TEMPLATE: &[(&str, &str, &str)] = &[("template", "init", "templatedir")];

/// The subcommands whose options git reads as a command line or a
/// setting (see [`Row`]).
const RUNS: &[Row] = &[
    row("rebase", &["exec"], "x", "sXCx"),
    row("difftool", &["extcmd"], "x", "tx"),
    row(
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
    row("fetch", &["upload-pack"], "", ""),
    row("pull", &["upload-pack"], "", ""),
    Row {
        name: "clone",
        spec: Spec {
            valued: "uobcj",
            optional: "",
            long: &[
                "upload-pack",
                "template",
                "origin",
                "branch",
                "reference",
                "reference-if-able",
                "depth",
                "separate-git-dir",
                "config",
                "jobs",
            ],
            long_optional: &[],
            permute: true,
            perl: false,
        },
        runs: &["upload-pack"],
        runs_short: "u",
        sets: TEMPLATE,
        // Clone writes these into the new repository's config before it
        // fetches, and its transport runs `core.sshCommand`,
        // `core.gitProxy`, `credential.helper`… from here (review 86, F1).
        config: &["c", "config"],
    },
    Row {
        name: "init",
        spec: Spec {
            valued: "b",
            optional: "",
            long: &["template", "separate-git-dir", "object-format", "ref-format", "initial-branch"],
            long_optional: &["shared"],
            permute: true,
            perl: false,
        },
        runs: &[],
        runs_short: "",
        sets: TEMPLATE,
        config: &[],
    },
    row("ls-remote", &["upload-pack"], "", ""),
    row("fetch-pack", &["upload-pack", "exec"], "", ""),
    row("archive", &["exec"], "", "o"),
    row("push", &["receive-pack", "exec"], "", "o"),
    row("send-pack", &["receive-pack", "exec"], "", ""),
    // `grep -O[pager]`/`--open-files-in-pager[=pager]`: the value only
    // attached (review 85, F1).
    Row {
        name: "grep",
        spec: Spec {
            valued: "efABCm",
            optional: "O",
            long: &["max-depth", "context", "after-context", "before-context", "max-count", "threads"],
            long_optional: &["open-files-in-pager"],
            permute: true,
            perl: false,
        },
        runs: &["open-files-in-pager"],
        runs_short: "O",
        sets: &[],
        config: &[],
    },
    // The command-line forms of the `sendemail.*cmd` keys (review 85, F1);
    // an `--smtp-server` that is a host name names no path.
    Row {
        name: "send-email",
        spec: Spec {
            valued: "",
            optional: "",
            long: &[
                "cc-cmd",
                "to-cmd",
                "header-cmd",
                "sendmail-cmd",
                "smtp-server",
                "to",
                "cc",
                "bcc",
                "from",
                "subject",
                "in-reply-to",
                "reply-to",
                "sender",
                "envelope-sender",
                "smtp-server-port",
                "smtp-server-option",
                "smtp-user",
                "smtp-pass",
                "smtp-domain",
                "smtp-encryption",
                "smtp-auth",
                "smtp-ssl-cert-path",
                "identity",
                "suppress-cc",
                "confirm",
                "reroll-count",
                "v",
            ],
            long_optional: &[],
            permute: true,
            // Getopt::Long (review 86, F9): `-cc-cmd=x`, `--CC-Cmd=x`.
            perl: true,
        },
        runs: &["cc-cmd", "to-cmd", "header-cmd", "sendmail-cmd", "smtp-server"],
        runs_short: "",
        sets: &[],
        config: &[],
    },
];

/// What a git subcommand's words give ([`subcommand_runs`]).
#[derive(Debug, Default)]
pub(super) struct Subcommand<'a> {
    /// What it runs as a command of its own.
    pub(super) runs: Vec<Wrapped<'a>>,
    /// The settings its options give, `(section, key, value)` as
    /// [`GlobalOptions::settings`].
    pub(super) settings: Vec<(String, String, String)>,
    /// The indexes in its `args` of the words that give them (read so, not
    /// as words given to git).
    pub(super) used: Vec<usize>,
}

/// What the git subcommand `args[0]` (with its words `args[1..]`) runs
/// as a command of its own (see the module doc) and the settings its
/// options give (`init`/`clone --template=DIR`, `clone -c KEY=VALUE`).
pub(super) fn subcommand_runs(args: &[String]) -> Subcommand<'_> {
    let mut out = Subcommand::default();
    let Some(sub) = args.first() else { return out };
    match sub.as_str() {
        // `git submodule [options] foreach [--recursive] [-q] command…`:
        // one word is a command line, more a command.
        "submodule" => {
            let Some(f) = args.iter().position(|a| a == "foreach") else { return out };
            let mut i = f + 1;
            while args.get(i).is_some_and(|a| matches!(a.as_str(), "--recursive" | "--quiet" | "-q" | "--")) {
                i += 1;
            }
            let rest = args.get(i..).unwrap_or(&[]);
            match rest {
                [line] => out.runs.push(Wrapped::Line(line.clone())),
                _ => out.runs.push(Wrapped::Command(rest)),
            }
            out.used.extend(i..args.len());
        }
        // `git bisect run command…`.
        "bisect" if args.get(1).is_some_and(|a| a == "run") => {
            out.runs.push(Wrapped::Command(args.get(2..).unwrap_or(&[])));
            out.used.extend(2..args.len());
        }
        name => {
            let Some(row) = RUNS.iter().find(|r| r.name == name) else { return out };
            let (opts, _) = getopt(args, 1, &row.spec);
            for o in opts {
                let Some(v) = o.value else { continue };
                let short = o.name.len() == 1 && row.runs_short.contains(o.name.as_str());
                if row.runs.contains(&o.name.as_str()) || short {
                    out.runs.push(Wrapped::Line(v.to_string()));
                } else if let Some((_, section, key)) = row.sets.iter().find(|(n, ..)| *n == o.name) {
                    out.settings.push((section.to_string(), key.to_string(), v.to_string()));
                } else if let Some(given) = row.config.contains(&o.name.as_str()).then(|| setting(v)).flatten() {
                    out.settings.push(given);
                } else {
                    continue;
                }
                out.used.push(o.at);
                out.used.extend(o.value_at);
            }
        }
    }
    out
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
    fn a_template_on_an_alias_s_clone_or_init_is_a_template_directory() {
        // Review 85, F2: read as `init.templateDir` (a directory, all of it).
        use super::super::hostconfig::{Kind, program_paths};
        for a in [
            "!git clone -q --template=tools/tmpl \"$(pwd)\" ../copy",
            "!git clone --template tools/tmpl ../x y",
            "init -q --template=tools/tmpl",
            "init --templ tools/tmpl",
            "-c color.ui=never init --template=tools/tmpl",
        ] {
            let p = program_paths("alias", "a", a);
            assert!(p.iter().any(|n| n.path.ends_with("tools/tmpl") && n.kind == Kind::HooksDir), "{a}: {p:?}");
        }
        assert!(paths("init -b main").is_empty());
        assert!(paths("clone -o up --depth 1 upstream y").is_empty());
    }

    #[test]
    fn clone_s_own_config_options_are_read_as_git_s_c() {
        // Review 86, F1: written into the new clone before its fetch, whose
        // transport runs them from here.
        for a in [
            "!git clone -q -c core.sshCommand=tools/ssh.sh ssh://h.invalid/x ../copy",
            "clone -q --config=core.sshCommand=tools/ssh.sh ssh://h.invalid/x ../copy",
            "!git clone -q --config 'core.sshCommand=sh tools/ssh.sh' ssh://h.invalid/x ../copy",
            "!git clone -qc core.gitProxy=tools/ssh.sh git://h.invalid/x",
            "clone --conf=credential.helper=tools/ssh.sh https://h.invalid/x",
            "-c color.ui=never clone --depth 1 -c Core.SshCommand='tools/ssh.sh -v' ssh://h.invalid/x",
        ] {
            let p = paths(a);
            assert!(p.contains(&"tools/ssh.sh".to_string()), "{a}: {p:?}");
            assert!(!p.iter().any(|x| x.contains(['=', ' '])), "{a}: a setting taken for a path: {p:?}");
        }
        // Benign: other settings, and a setting without a value, are none.
        assert!(paths("clone -c color.ui=never -c core.autocrlf ../x y").is_empty());
        assert!(paths("!git clone --config=http.sslVerify=false upstream y").is_empty());
    }

    #[test]
    fn git_s_command_variables_and_exec_path_in_an_alias_are_read() {
        use super::super::hostconfig::{Kind, program_paths};
        // Review 86, F10: an assignment to one of git's command variables
        // is read as its setting, a command line.
        for a in [
            "!GIT_SSH_COMMAND='sh tools/ssh.sh' git fetch -q origin",
            "!GIT_SSH_COMMAND='ssh -F tools/ssh.sh' git fetch",
            "!GIT_SSH=tools/ssh.sh git fetch",
            "!env GIT_EDITOR='tools/ssh.sh --wait' git commit",
            "!GIT_PAGER='tools/ssh.sh -R' git log",
            "!sudo GIT_EXTERNAL_DIFF='sh -c tools/ssh.sh' git diff",
            "!A=1 GIT_SEQUENCE_EDITOR=\"tools/ssh.sh -i\" git rebase -i @~2",
            "!GIT_PROXY_COMMAND='tools/ssh.sh' git fetch",
        ] {
            let p = paths(a);
            assert!(p.contains(&"tools/ssh.sh".to_string()), "{a}: {p:?}");
            assert!(!p.iter().any(|x| x.contains(' ')), "{a}: a command line taken for a path: {p:?}");
        }
        assert!(paths("!PAGER=less EDITOR=vim git log").is_empty());
        assert!(paths("!GIT_PAGER=cat git -p log").is_empty());
        // Review 86, F2: git's exec path is code whole.
        for a in [
            "!git --exec-path=tools/libexec fetch -q origin",
            "--exec-path=tools/libexec fetch origin",
            "!GIT_EXEC_PATH=tools/libexec git fetch",
            "!env GIT_EXEC_PATH=tools/libexec git fetch",
        ] {
            let p = program_paths("alias", "a", a);
            assert!(p.iter().any(|n| n.path.ends_with("tools/libexec") && n.kind == Kind::HooksDir), "{a}: {p:?}");
        }
        assert!(paths("!git --exec-path").is_empty());
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
            // Review 85, F1: grep's pager, send-email's commands.
            "!git grep -Otools/check.sh -e TODO",
            "grep -e TODO -Otools/check.sh",
            "grep --open-files-in-pager='tools/check.sh --quick' -e TODO",
            "grep --open='tools/check.sh --quick' TODO",
            "send-email --dry-run --cc-cmd='tools/check.sh --nogit' -1",
            "!git send-email --to-cmd=tools/check.sh --to a@b.c HEAD~1",
            "send-email --header-cmd 'tools/check.sh -x' HEAD~1",
            "send-email --sendmail-cmd=tools/check.sh HEAD~1",
            "send-email --smtp-server tools/check.sh HEAD~1",
            "send-email --cc-c tools/check.sh HEAD~1",
            // Review 86, F9: send-email is Perl's Getopt::Long's.
            "send-email --dry-run -cc-cmd=tools/check.sh -1",
            "send-email --dry-run --CC-Cmd=tools/check.sh -1",
            "!git send-email -v 2 -cc-cmd='tools/check.sh --quick' -1",
            "send-email +to-cmd=tools/check.sh -1",
            "send-email -TO-CMD tools/check.sh -1",
            "send-email -sendmail-c='tools/check.sh -i' -1",
            "send-email -Smtp-Server tools/check.sh HEAD~1",
        ] {
            ok(a, &["tools/check.sh"]);
        }
        // Their other options, and a pager left to the default, are none.
        assert!(paths("grep -O -e TODO -- src").is_empty());
        assert!(paths("grep --open-files-in-pager TODO").is_empty());
        assert!(paths("send-email --to=a@b.c --cc x@y.z --smtp-server smtp.example.com HEAD~1").is_empty());
        assert!(paths("send-email -to a@b.c -CC x@y.z -v 2 -smtp-server-port 587 -1").is_empty());
        // Other commands keep getopt's reading: one dash is a cluster.
        assert!(paths("grep -Ev -e TODO").is_empty());
        // Benign: a subcommand's other words are none.
        assert!(paths("rebase -i main").is_empty());
        assert!(paths("bisect start HEAD v1").is_empty());
        assert!(paths("submodule update --init").is_empty());
        assert!(paths("difftool -t meld").is_empty());
        assert!(paths("log -x").is_empty());
    }
}
