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
use std::path::Path;

/// The redaction rules are shared with the audit log's records.
pub use orchestra_audit::redact::{REDACTED, Redactor};

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
    fn fenced_blocks_are_extracted() {
        assert_eq!(extract_plan_text("Here:\n```yaml\ntasks: []\n```\nbye"), "tasks: []\n");
        assert_eq!(extract_plan_text("```\n{\"tasks\": []}\n```"), "{\"tasks\": []}\n");
        assert_eq!(extract_plan_text("  tasks: []  "), "tasks: []");
    }
}
