//! Secret redaction: the one set of rules for everything orchestra stores or
//! sends — audit records (FORMAT.md §5.4) and the planner's prompts.
//!
//! Guarantees: [`Redactor::redact`] replaces with [`REDACTED`]
//! - text shaped like a well-known credential ([`SECRET_PATTERNS`]: OpenAI
//!   `sk-…`, GitHub `ghp_…`/`github_pat_…`, GitLab `glpat-…`, Slack `xox?-…`,
//!   AWS `AKIA…`/`ASIA…`, `Bearer …`, PEM private keys);
//! - the password of a URL's user info, `/` and `@` in it included
//!   (`https://user:[REDACTED]@host`, [`url`]);
//! - the password of `-u`/`--user USER:PASS` in every spelling (`-uU:P`,
//!   `--user=U:P`), header and YAML fields (`Authorization: Basic …` keeps
//!   its scheme, `X-Api-Key: …`, `password: …`) and JSON members
//!   (`"password":"…"`) whose name sounds secret ([`fields`]);
//! - the value of an assignment whose name sounds secret ([`is_secret_name`]):
//!   `AWS_SECRET_ACCESS_KEY=…`, `--token=…`, `?api_key=…`, `MYSQL_PWD=…`,
//!   `SENTRY_DSN=…`;
//! - every exact secret value it was given (at least 4 characters).
//!
//! [`Redactor::redact_argv`] applies the same rules to each argument and
//! also the argument after a secret-sounding flag (`--password VALUE`,
//! `-token VALUE`) and the password of `-u`/`--user USER:PASSWORD`; it says how
//! many arguments it changed. Redaction is best effort over known shapes: an
//! unlabelled secret (`mysql -phunter2`, `-P VALUE`, `token VALUE`) is not
//! recognised.

mod fields;
mod url;

use regex::{Captures, Regex};
use std::sync::OnceLock;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest environment value treated as a possible secret whatever its name.
const MIN_SECRET_LEN: usize = 8;

/// Environment variables whose values are not secrets (and are often short
/// words or paths that would otherwise mangle the text).
const NOT_SECRET: &[&str] = &[
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "SHELL",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TMPDIR",
    "HOSTNAME",
    "CI",
    "SHLVL",
    "_",
    "COLORTERM",
    "TZ",
    "EDITOR",
    "PAGER",
    "DISPLAY",
    "CARGO_TARGET_DIR",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "NO_COLOR",
];

/// Words of a name that mark it secret when a word equals one of them.
/// (`PWD` marks `MYSQL_PWD`, not the variable named exactly `PWD`: see [`is_secret_name`].)
const SECRET_WORDS: &[&str] = &["KEY", "PASS", "PWD", "AUTH", "COOKIE", "SESSION", "PRIVATE", "PAT"];

/// Words of a name that mark it secret when a word ends with one of them
/// (`GHTOKEN`, `APIKEY`, `DB_PASSWORD`).
const SECRET_SUFFIXES: &[&str] = &[
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
    "AUTHORIZATION",
    "DSN",
];

/// Shapes of well-known credentials.
pub const SECRET_PATTERNS: &[&str] = &[
    r"sk-[A-Za-z0-9_\-]{16,}",
    r"gh[pousr]_[A-Za-z0-9]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_\-]{20,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",
    r"xox[a-z]-[A-Za-z0-9\-]{10,}",
    r"(?i)bearer\s+[A-Za-z0-9._~+/\-]{12,}=*",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
];

/// Whether a variable, flag or parameter name marks its value as a secret:
/// one of its words (split at anything but ASCII letters and digits, compared
/// without case) is `KEY`, `PASS`, `PWD`, `AUTH`, `COOKIE`, `SESSION`,
/// `PRIVATE` or `PAT`, or ends with `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`,
/// `PASSPHRASE`, `CREDENTIAL(S)`, `APIKEY`, `AUTHORIZATION` or `DSN`. The
/// name `PWD` alone (the shell's working directory, any case, any leading
/// dashes) is not secret.
pub fn is_secret_name(name: &str) -> bool {
    if name.trim_start_matches('-').eq_ignore_ascii_case("PWD") {
        return false;
    }
    name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).any(|w| {
        let w = w.to_ascii_uppercase();
        SECRET_WORDS.contains(&w.as_str()) || SECRET_SUFFIXES.iter().any(|s| w.ends_with(s))
    })
}

/// For each of [`SECRET_PATTERNS`], literals one of which every match
/// contains (`true`: compared without case). A text holding none cannot
/// match, so the pattern is neither compiled nor run for it: compiling all of
/// them took a few milliseconds of every `orchestra exec`, whose command line
/// (`/bin/true`) holds none.
const NEEDLES: [(&[&str], bool); 8] = [
    (&["sk-"], false),
    (&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], false),
    (&["github_pat_"], false),
    (&["glpat-"], false),
    (&["AKIA", "ASIA"], false),
    (&["xox"], false),
    (&["bearer"], true),
    (&["-----BEGIN "], false),
];

/// Whether `text` holds one of `needles` (without case: `fold`).
fn holds(text: &str, needles: &[&str], fold: bool) -> bool {
    needles.iter().any(|n| match fold {
        false => text.contains(n),
        true => text.as_bytes().windows(n.len()).any(|w| w.eq_ignore_ascii_case(n.as_bytes())),
    })
}

/// Pattern `i` of [`SECRET_PATTERNS`], compiled at its first use
/// (`every_rule_compiles` checks each one).
fn pattern(i: usize) -> Option<&'static Regex> {
    static COMPILED: [OnceLock<Option<Regex>>; SECRET_PATTERNS.len()] =
        [const { OnceLock::new() }; SECRET_PATTERNS.len()];
    let p = SECRET_PATTERNS.get(i)?;
    COMPILED.get(i)?.get_or_init(|| Regex::new(p).ok()).as_ref()
}

/// `NAME=value`, compiled at its first use.
fn assignment() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"([A-Za-z0-9_.\-]+)=([^\s&;,]+)").ok()).as_ref()
}

/// Which of the rules that replace a labelled value run on a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// Those that can change it: a text in which no label is a secret name
    /// ([`names_a_secret_before`], [`fields`]) is left alone without
    /// compiling or running them (compiling them took ~0.5 ms of every
    /// `orchestra exec`, whose records all hold a `:` and a `=`).
    Needed,
    /// All of them (tests: the same result either way).
    #[cfg_attr(not(test), allow(dead_code))]
    All,
}

/// Whether some `sep` (`=` or `:`) in `text` ends a name that
/// [`is_secret_name`] accepts, the name being the longest run of
/// `[A-Za-z0-9_.-]` right before it. The assignment rule (`NAME=value`) and
/// the header rule (`Name: value`) replace a value only after such a name:
/// the name they match is always that whole run (nothing in the run can
/// start a match in its middle, and no earlier match ends inside it), so a
/// text without one is one they cannot change.
fn names_a_secret_before(text: &str, sep: u8) -> bool {
    let bytes = text.as_bytes();
    let in_name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    bytes.iter().enumerate().filter(|(_, b)| **b == sep).any(|(end, _)| {
        let start = bytes[..end].iter().rposition(|b| !in_name(*b)).map_or(0, |p| p + 1);
        // Both ends are ASCII bytes: `start..end` is a str boundary.
        start < end && text.get(start..end).is_some_and(is_secret_name)
    })
}

/// Whether `v` is an absolute path to something that exists on this host
/// (not followed if a link).
fn is_existing_path(v: &str) -> bool {
    v.starts_with('/') && !v.contains(char::is_whitespace) && std::fs::symlink_metadata(v).is_ok()
}

/// Removes secrets from text before it leaves the process or is stored.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these exact secret values (plus the shared rules).
    pub fn new(mut secrets: Vec<String>) -> Redactor {
        // Shorter values would redact ordinary words.
        secrets.retain(|s| s.trim().len() >= 4);
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// A redactor for this process's environment: the values of `key_envs`
    /// (e.g. the configured API-key variables) and every other environment
    /// value that could be a secret (a secret-sounding name, or any value of
    /// at least 8 characters outside a short list of well-known harmless
    /// variables). For text sent away (the planner's prompts).
    pub fn from_env(key_envs: &[String]) -> Redactor {
        Self::from_env_where(key_envs, true)
    }

    /// A redactor for the values of this process's secret-named environment
    /// variables only ([`is_secret_name`]): for records kept locally, where
    /// long harmless values (`GITHUB_REPOSITORY`) must stay readable.
    pub fn from_named_env() -> Redactor {
        Self::from_env_where(&[], false)
    }

    fn from_env_where(key_envs: &[String], long_values: bool) -> Redactor {
        let mut secrets = Vec::new();
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else { continue };
            let named = key_envs.iter().any(|e| e == k) || (is_secret_name(k) && !NOT_SECRET.contains(&k));
            // A path that exists here (SSH_AUTH_SOCK=/tmp/ssh-…/agent.1,
            // GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp.json, CARGO_HOME=/root/.cargo)
            // names where a secret is, and appears in text legitimately. A value
            // that merely starts with `/` (DB_PASSWORD=/Sx9-…) is no such path.
            // (Asked only of a value that could be kept: a `stat` per variable
            // otherwise.)
            let path = || is_existing_path(v);
            let long = long_values
                && v.len() >= MIN_SECRET_LEN
                && !NOT_SECRET.contains(&k)
                && !k.starts_with("LC_")
                && !path();
            if (named && v.len() >= 4 && !path()) || long {
                secrets.push(v.to_string());
            }
        }
        Redactor::new(secrets)
    }

    /// Add more secret values (e.g. a plan's `env` values).
    pub fn with(mut self, more: impl IntoIterator<Item = String>) -> Redactor {
        let mut all = std::mem::take(&mut self.secrets);
        all.extend(more);
        Redactor::new(all)
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        self.redact_with(text, Rules::Needed)
    }

    fn redact_with(&self, text: &str, rules: Rules) -> String {
        let mut out = text.to_string();
        for (i, (needles, fold)) in NEEDLES.iter().enumerate() {
            if holds(&out, needles, *fold)
                && let Some(re) = pattern(i)
                && re.is_match(&out)
            {
                out = re.replace_all(&out, REDACTED).into_owned();
            }
        }
        if out.contains("://") {
            out = url::redact(&out);
        }
        out = fields::redact(&out, rules);
        if (rules == Rules::All || names_a_secret_before(&out, b'='))
            && let Some(re) = assignment()
        {
            out = re
                .replace_all(&out, |c: &Captures<'_>| {
                    if is_secret_name(&c[1]) && &c[2] != REDACTED {
                        format!("{}={REDACTED}", &c[1])
                    } else {
                        c[0].to_string()
                    }
                })
                .into_owned();
        }
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// A command line with its secrets replaced, and how many arguments
    /// changed: each argument as [`Redactor::redact`] does, the argument
    /// after a flag whose name is secret (`--password X`, `-token X`; not
    /// after `--password=X`, already covered), and the password part of the
    /// argument after `-u`/`--user` (`user:[REDACTED]`). The program (`argv[0]`)
    /// is only redacted as text.
    pub fn redact_argv(&self, argv: &[String]) -> (Vec<String>, usize) {
        let mut out = Vec::with_capacity(argv.len());
        let mut changed = 0;
        let mut after: Option<&str> = None;
        for (i, a) in argv.iter().enumerate() {
            let red = match after {
                Some("-u" | "--user") => match a.split_once(':') {
                    // `-u https://host/` is a URL (kept but for its own password).
                    Some((user, pass)) if !pass.is_empty() && !pass.starts_with("//") => {
                        format!("{}:{REDACTED}", self.redact(user))
                    }
                    _ => self.redact(a),
                },
                Some(_) => REDACTED.to_string(),
                None => self.redact(a),
            };
            if red != *a {
                changed += 1;
            }
            out.push(red);
            after = None;
            if i > 0 && a.starts_with('-') && !a.contains('=') && a != "-" && a != "--" {
                let name = a.trim_start_matches('-');
                // Only a flag name (`-uU:P` with its value attached is not one).
                let flag = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                if a == "-u" || a == "--user" || (flag && is_secret_name(name)) {
                    after = Some(a.as_str());
                }
            }
        }
        (out, changed)
    }
}

#[cfg(test)]
mod tests;
