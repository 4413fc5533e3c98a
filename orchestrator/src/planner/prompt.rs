//! What a planner backend is told, and what it is never told.
//!
//! Guarantees: every message sent to a backend goes through a [`Redactor`]
//! first: the values of the API-key variables named in the config, every
//! environment value that could be a secret, plan `env` values, and text
//! shaped like well-known credentials are replaced by [`REDACTED`]. The
//! prompt carries the tool whitelist (names, programs, subcommands, argument
//! patterns), the plan schema and the names of the workspace's top-level
//! entries — never file contents, never environment values.

use crate::plan::tools::Whitelist;
use regex::Regex;
use std::path::Path;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest environment value treated as a possible secret.
const MIN_SECRET_LEN: usize = 8;

/// Environment variables whose values are not secrets (and are often short
/// words or paths that would otherwise mangle the prompt).
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

/// Names that mark a secret whatever the length of its value.
const SECRET_NAMES: &[&str] =
    &["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION", "PRIVATE"];

/// Shapes of well-known credentials.
const SECRET_PATTERNS: &[&str] = &[
    r"sk-[A-Za-z0-9_\-]{16,}",
    r"gh[pousr]_[A-Za-z0-9]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AKIA[0-9A-Z]{16}",
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",
    r"(?i)bearer\s+[A-Za-z0-9._~+/\-]{12,}=*",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
];

/// Removes secrets from text before it leaves the process or is stored.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    patterns: Vec<Regex>,
}

impl Redactor {
    /// A redactor for these exact secret values (plus the credential shapes).
    pub fn new(mut secrets: Vec<String>) -> Redactor {
        // Shorter values would redact ordinary words.
        secrets.retain(|s| s.trim().len() >= 4);
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let patterns = SECRET_PATTERNS.iter().filter_map(|p| Regex::new(p).ok()).collect();
        Redactor { secrets, patterns }
    }

    /// A redactor for this process's environment: the values of `key_envs`
    /// (the configured API-key variables) and every other environment value
    /// that could be a secret (a secret-sounding name, or any value of at least
    /// 8 characters outside a short list of well-known harmless variables).
    pub fn from_env(key_envs: &[String]) -> Redactor {
        let mut secrets = Vec::new();
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else { continue };
            let upper = k.to_ascii_uppercase();
            let named = key_envs.iter().any(|e| e == k) || SECRET_NAMES.iter().any(|s| upper.contains(s));
            // Absolute paths (CARGO_HOME=/root/.cargo) are not secrets and appear in prompts legitimately.
            let path = v.starts_with('/') && !v.contains(char::is_whitespace);
            let long = v.len() >= MIN_SECRET_LEN && !path && !NOT_SECRET.contains(&k) && !k.starts_with("LC_");
            if (named && v.len() >= 4) || long {
                secrets.push(v.to_string());
            }
        }
        Redactor::new(secrets)
    }

    /// Add more secret values (e.g. a plan's `env` values).
    pub fn with(mut self, more: impl IntoIterator<Item = String>) -> Redactor {
        let mut all = std::mem::take(&mut self.secrets);
        all.extend(more);
        let fresh = Redactor::new(all);
        self.secrets = fresh.secrets;
        self
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for re in &self.patterns {
            if re.is_match(&out) {
                out = re.replace_all(&out, REDACTED).into_owned();
            }
        }
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Us.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// `user` / `assistant`, as both APIs spell them.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation with a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said (already redacted).
    pub content: String,
}

/// A conversation: a system prompt and the messages so far (all redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Instructions: the format, the whitelist, the rules.
    pub system: String,
    /// The exchange.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The whole conversation as one text (for command backends, which read stdin).
    pub fn as_text(&self) -> String {
        let mut s = self.system.clone();
        for m in &self.messages {
            s.push_str(&format!("\n\n### {}\n\n{}", m.role.as_str(), m.content));
        }
        s.push('\n');
        s
    }
}

/// The failure a replan is asked to work around.
#[derive(Debug, Clone)]
pub struct FailureContext {
    /// The task that failed.
    pub task: String,
    /// The sandbox's cause (`child_exit`, `signal`, ...).
    pub cause: String,
    /// Its exit status.
    pub exit_status: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// What the failure analysis concluded.
    pub analysis: String,
    /// The end of its log (redacted before it is sent).
    pub log_tail: String,
}

/// What a replan request adds to the prompt.
#[derive(Debug, Clone)]
pub struct ReplanContext {
    /// The plan that was running (YAML; env values redacted before sending).
    pub current_plan: String,
    /// Tasks that already succeeded: kept as they are; the new plan may need them.
    pub kept: Vec<String>,
    /// The failure.
    pub failure: FailureContext,
}

/// Names of the workspace's top-level entries (no contents), sorted, at most 200.
pub fn workspace_summary(workspace: &Path) -> String {
    let mut names: Vec<String> = match std::fs::read_dir(workspace) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let hidden = matches!(name.as_str(), ".orchestra" | ".git" | "runs") || name.starts_with(".env");
                if hidden {
                    return None;
                }
                let dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                Some(if dir { format!("{name}/") } else { name })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let more = names.len().saturating_sub(200);
    names.truncate(200);
    let mut s = names.join("\n");
    if more > 0 {
        s.push_str(&format!("\n(and {more} more)"));
    }
    if s.is_empty() { "(empty)".to_string() } else { s }
}

/// The whitelist as the prompt shows it: one block per tool.
pub fn whitelist_text(whitelist: &Whitelist) -> String {
    let mut s = String::new();
    for (name, spec) in whitelist.iter() {
        s.push_str(&format!("- tool: {name}\n  program: {}\n", spec.program));
        if !spec.subcommands.is_empty() {
            s.push_str(&format!("  first argument must be one of: {}\n", spec.subcommands.join(", ")));
        }
        if spec.args.is_empty() {
            s.push_str("  further arguments: none allowed\n");
        } else {
            let pats: Vec<String> = spec.args.iter().map(|p| format!("^{p}$")).collect();
            s.push_str(&format!("  every further argument must fully match one of: {}\n", pats.join("  |  ")));
        }
        if spec.shell {
            s.push_str("  this is a shell: `args: ['-c', 'SCRIPT']` runs SCRIPT\n");
        }
        if let Some(d) = &spec.description {
            s.push_str(&format!("  purpose: {d}\n"));
        }
    }
    s
}

/// The system prompt: the task, the format, the whitelist, the rules.
pub fn system_prompt(whitelist: &Whitelist, allowed_policies: &[String]) -> String {
    let policies = if allowed_policies.is_empty() {
        "Do not set `policy` anywhere (plan or task level).".to_string()
    } else {
        format!("`policy`, if set at all, must be one of: {}.", allowed_policies.join(", "))
    };
    format!(
        "You are the planner of Orchestra, which runs build steps in sandboxes. Turn the user's intent into a plan: \
         a DAG of tasks. Answer with exactly one fenced code block (```yaml ... ```) holding the plan and nothing \
         else of substance.\n\n\
         Plan format (YAML; JSON Schema below): `version: 1`, optional `name`, and `tasks`, a list of tasks with \
         `id` (letters, digits, '_', '-', '.'; unique), `intent` (a few words), `tool` (one of the whitelisted tools \
         below, never a program path), `args` (one list element per argument; there is no shell unless the tool is \
         a declared shell), `needs` (ids of tasks that must succeed first). Optional per task: `env`, `timeout` \
         (e.g. 10m), `retries`, `inputs`, `outputs` (relative workspace paths).\n\n\
         Rules: use only the tools listed; every argument must match the tool's patterns exactly; tasks run \
         without network access. {policies}\n\n\
         Whitelisted tools:\n{}\n\
         JSON Schema of a plan:\n```json\n{}```\n",
        whitelist_text(whitelist),
        crate::plan::schema()
    )
}

/// The first user message for an intent (and, for a replan, the failure).
pub fn user_prompt(intent: &str, workspace: &Path, replan: Option<&ReplanContext>) -> String {
    let mut s = format!(
        "Intent: {intent}\n\nTop-level entries of the workspace (names only):\n{}\n",
        workspace_summary(workspace)
    );
    if let Some(r) = replan {
        let f = &r.failure;
        s.push_str(&format!(
            "\nThis is a REPLAN. The plan below was running and task {:?} failed permanently.\n\
             cause: {}\nexit status: {}\nsignal: {}\nanalysis: {}\nlast lines of its log:\n```\n{}\n```\n\n\
             Plan that was running:\n```yaml\n{}```\n\n\
             These tasks already succeeded and are kept as they are: [{}]. Return ONLY the tasks for the remaining \
             work (do not repeat the kept tasks; your tasks may list kept tasks in `needs`). Propose a different way \
             to reach the intent that avoids the failure; do not simply repeat the failed task.\n",
            f.task,
            f.cause,
            f.exit_status.map(|x| x.to_string()).unwrap_or_else(|| "none".into()),
            f.signal.map(|x| x.to_string()).unwrap_or_else(|| "none".into()),
            f.analysis,
            f.log_tail,
            r.current_plan,
            r.kept.join(", "),
        ));
    }
    s
}

/// The repair message: the validation errors of the previous answer.
pub fn repair_prompt(errors: &str) -> String {
    format!(
        "Your answer was refused: {errors}\n\nAnswer again with one fenced ```yaml block holding a corrected plan \
         that follows the format and uses only the whitelisted tools and arguments."
    )
}

/// The plan text in an answer: the first fenced block (```yaml, ```yml, ```json
/// or bare), else the whole answer.
pub fn extract_plan_text(answer: &str) -> &str {
    let Some(start) = answer.find("```") else { return answer.trim() };
    let after = &answer[start + 3..];
    let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
    let body = &after[body_start..];
    match body.find("```") {
        Some(end) => &body[..end],
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_credential_shapes_are_redacted() {
        let r = Redactor::new(vec!["hunter2-very-secret".into(), "abc".into()]);
        assert_eq!(r.redact("abc"), "abc", "too short to be treated as a secret");
        let t = r.redact("key=hunter2-very-secret and sk-ABCDEFGHIJKLMNOPQRSTUV, ghp_abcdefghijklmnopqrstuvwx");
        assert_eq!(t, format!("key={REDACTED} and {REDACTED}, {REDACTED}"));
        let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(r.redact(pem), format!("x\n{REDACTED}\ny"));
        assert_eq!(r.redact("Authorization: Bearer abcdefghijklmnop"), format!("Authorization: {REDACTED}"));
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

    #[test]
    fn fenced_blocks_are_extracted() {
        assert_eq!(extract_plan_text("Here:\n```yaml\ntasks: []\n```\nbye"), "tasks: []\n");
        assert_eq!(extract_plan_text("```\n{\"tasks\": []}\n```"), "{\"tasks\": []}\n");
        assert_eq!(extract_plan_text("  tasks: []  "), "tasks: []");
    }
}
