//! Secret redaction: the one set of rules for everything orchestra stores or
//! sends — audit records (FORMAT.md §5.4) and the planner's prompts.
//!
//! Guarantees: [`Redactor::redact`] replaces with [`REDACTED`]
//! - text shaped like a well-known credential ([`SECRET_PATTERNS`]: OpenAI
//!   `sk-…`, GitHub `ghp_…`/`github_pat_…`, GitLab `glpat-…`, Slack `xox?-…`,
//!   AWS `AKIA…`/`ASIA…`, `Bearer …`, PEM private keys);
//! - the password of a URL's user info (`https://user:[REDACTED]@host`);
//! - the value of an assignment whose name sounds secret ([`is_secret_name`]):
//!   `AWS_SECRET_ACCESS_KEY=…`, `--token=…`, `?api_key=…`;
//! - every exact secret value it was given (at least 4 characters).
//!
//! [`Redactor::redact_argv`] applies the same rules to each argument and
//! also the argument after a secret-sounding flag (`--password VALUE`,
//! `-token VALUE`) and the password of `-u`/`--user USER:PASSWORD`; it says how
//! many arguments it changed. Redaction is best effort over known shapes: an
//! unlabelled secret (`mysql -phunter2`) is not recognised.

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
const SECRET_WORDS: &[&str] = &["KEY", "PASS", "AUTH", "COOKIE", "SESSION", "PRIVATE", "PAT"];

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
/// without case) is `KEY`, `PASS`, `AUTH`, `COOKIE`, `SESSION`, `PRIVATE` or
/// `PAT`, or ends with `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`,
/// `PASSPHRASE`, `CREDENTIAL(S)`, `APIKEY` or `AUTHORIZATION`.
pub fn is_secret_name(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).any(|w| {
        let w = w.to_ascii_uppercase();
        SECRET_WORDS.contains(&w.as_str()) || SECRET_SUFFIXES.iter().any(|s| w.ends_with(s))
    })
}

struct Rules {
    patterns: Vec<Regex>,
    url_userinfo: Option<Regex>,
    assignment: Option<Regex>,
}

/// The compiled rules (constants; `every_rule_compiles` checks each one).
fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        patterns: SECRET_PATTERNS.iter().filter_map(|p| Regex::new(p).ok()).collect(),
        url_userinfo: Regex::new(r"\b([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):([^/\s@]+)@").ok(),
        assignment: Regex::new(r"([A-Za-z0-9_.\-]+)=([^\s&;,]+)").ok(),
    })
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
            // Absolute paths (CARGO_HOME=/root/.cargo) are not secrets and appear in text legitimately.
            let path = v.starts_with('/') && !v.contains(char::is_whitespace);
            let long =
                long_values && v.len() >= MIN_SECRET_LEN && !path && !NOT_SECRET.contains(&k) && !k.starts_with("LC_");
            if (named && v.len() >= 4 && !path) || long {
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
        let r = rules();
        let mut out = text.to_string();
        for re in &r.patterns {
            if re.is_match(&out) {
                out = re.replace_all(&out, REDACTED).into_owned();
            }
        }
        if let Some(re) = &r.url_userinfo
            && re.is_match(&out)
        {
            out = re.replace_all(&out, format!("${{1}}:{REDACTED}@").as_str()).into_owned();
        }
        if let Some(re) = &r.assignment
            && out.contains('=')
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
                    Some((user, pass)) if !pass.is_empty() => format!("{}:{REDACTED}", self.redact(user)),
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
                if a == "-u" || a == "--user" || is_secret_name(name) {
                    after = Some(a.as_str());
                }
            }
        }
        (out, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_rule_compiles() {
        assert_eq!(rules().patterns.len(), SECRET_PATTERNS.len());
        assert!(rules().url_userinfo.as_ref().is_some_and(|r| r.is_match("https://u:p@h")));
        assert!(rules().assignment.as_ref().is_some_and(|r| r.is_match("A=b")));
    }

    #[test]
    fn secrets_and_credential_shapes_are_redacted() {
        let r = Redactor::new(vec!["hunter2-very-secret".into(), "abc".into()]);
        assert_eq!(r.redact("abc"), "abc", "too short to be treated as a secret");
        let t = r.redact("key=hunter2-very-secret and sk-ABCDEFGHIJKLMNOPQRSTUV, ghp_abcdefghijklmnopqrstuvwx");
        assert_eq!(t, format!("key={REDACTED} and {REDACTED}, {REDACTED}"));
        let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(r.redact(pem), format!("x\n{REDACTED}\ny"));
        assert_eq!(r.redact("Authorization: Bearer abcdefghijklmnop"), format!("Authorization: {REDACTED}"));
        for shape in [
            "glpat-abcdefghij0123456789",
            "xoxb-1234567890-abcdef",
            "AKIAIOSFODNN7EXAMPLE",
            "github_pat_11ABCDEFG0123456789_abcdefghij",
        ] {
            assert_eq!(r.redact(&format!("x {shape} y")), format!("x {REDACTED} y"), "{shape}");
        }
    }

    #[test]
    fn assignments_and_url_passwords_are_redacted() {
        let r = Redactor::default();
        assert_eq!(r.redact("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"), format!("AWS_SECRET_ACCESS_KEY={REDACTED}"));
        assert_eq!(r.redact("--token=abc"), format!("--token={REDACTED}"));
        assert_eq!(r.redact("https://u:s3cret@host/x"), format!("https://u:{REDACTED}@host/x"));
        assert_eq!(r.redact("https://h/p?api_key=zz&page=2"), format!("https://h/p?api_key={REDACTED}&page=2"));
        // Names that only contain a secret word inside another word stay.
        for keep in ["--author=me", "monkey=banana", "--jobs=4", "https://host/path", "PWD=x"] {
            assert_eq!(r.redact(keep), keep);
        }
    }

    #[test]
    fn argv_values_after_secret_flags_are_redacted_and_counted() {
        let r = Redactor::default();
        let (out, n) = r.redact_argv(&argv(&[
            "deploy",
            "--password",
            "hunter2",
            "--url",
            "https://u:s3cret@host",
            "-u",
            "bob:pw",
            "--verbose",
            "x",
        ]));
        assert_eq!(
            out,
            argv(&[
                "deploy",
                "--password",
                REDACTED,
                "--url",
                &format!("https://u:{REDACTED}@host"),
                "-u",
                &format!("bob:{REDACTED}"),
                "--verbose",
                "x"
            ])
        );
        assert_eq!(n, 3);
        let (out, n) = r.redact_argv(&argv(&["make", "-j", "4", "test"]));
        assert_eq!((out, n), (argv(&["make", "-j", "4", "test"]), 0));
    }

    #[test]
    fn secret_names() {
        for n in ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "db-password", "API_KEY", "apikey", "x.auth", "NPM_TOKEN"] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in ["author", "MONKEY", "PATH", "keyboard", "jobs", "GITHUB_REPOSITORY"] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn environment_values_are_redacted_but_harmless_names_kept() {
        let r = Redactor::new(vec![]).with(["token-value-123".to_string()]);
        assert_eq!(r.redact("a token-value-123 b"), format!("a {REDACTED} b"));
        let from_env = Redactor::from_env(&["SOME_KEY_VAR".to_string()]);
        if let Ok(path) = std::env::var("PATH") {
            assert_eq!(from_env.redact(&path), path, "PATH is not a secret");
        }
    }
}
